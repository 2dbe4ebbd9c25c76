// SPDX-License-Identifier: MIT
/* stub: to be written */
typedef int catalog_stub_unused;
