// SPDX-License-Identifier: MIT
/* stub: to be written */
typedef int config_stub_unused;
