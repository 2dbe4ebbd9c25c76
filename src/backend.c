// SPDX-License-Identifier: MIT
/* stub: to be written */
typedef int backend_stub_unused;
