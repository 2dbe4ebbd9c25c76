// SPDX-License-Identifier: MIT
/* stub: to be written */
typedef int backend_file_stub_unused;
