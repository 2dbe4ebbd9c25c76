// SPDX-License-Identifier: MIT
/* stub: to be written */
typedef int fetch_stub_unused;
