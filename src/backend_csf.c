// SPDX-License-Identifier: MIT
/* stub: to be written */
typedef int backend_csf_stub_unused;
