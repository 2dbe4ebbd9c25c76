// SPDX-License-Identifier: MIT
/* stub: to be written */
typedef int atomicfile_stub_unused;
