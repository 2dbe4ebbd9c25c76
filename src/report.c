// SPDX-License-Identifier: MIT
/* stub: to be written */
typedef int report_stub_unused;
