// SPDX-License-Identifier: MIT
/* stub: to be written */
typedef int backend_fail2ban_stub_unused;
