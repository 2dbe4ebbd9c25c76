// SPDX-License-Identifier: MIT
/* stub: to be written */
typedef int nft_batch_stub_unused;
