// SPDX-License-Identifier: MIT
/* stub: to be written */
typedef int state_stub_unused;
