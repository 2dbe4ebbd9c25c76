// SPDX-License-Identifier: MIT
/* stub: to be written */
typedef int backend_iptables_stub_unused;
