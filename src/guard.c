// SPDX-License-Identifier: MIT
/* stub: to be written */
typedef int guard_stub_unused;
