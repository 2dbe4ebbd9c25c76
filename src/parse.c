// SPDX-License-Identifier: MIT
/* stub: to be written */
typedef int parse_stub_unused;
