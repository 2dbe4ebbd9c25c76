// SPDX-License-Identifier: MIT
/* stub: to be written */
typedef int ranges_stub_unused;
