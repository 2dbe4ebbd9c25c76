// SPDX-License-Identifier: MIT
/* stub: to be written */
typedef int backend_nft_stub_unused;
