// SPDX-License-Identifier: MIT
/* stub: to be written */
typedef int backend_null_stub_unused;
