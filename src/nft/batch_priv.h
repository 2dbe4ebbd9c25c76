/* SPDX-License-Identifier: MIT */
/* The batch under construction, shared by batch.c (elements, sets) and batch_lock.c. */
#ifndef CDNALLOW_NFT_BATCH_PRIV_H
#define CDNALLOW_NFT_BATCH_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include <arpa/inet.h>

#include "nft_batch.h"
#include "ranges.h"

struct nftnl_batch;

struct nft_batch {
	struct nftnl_batch *nb;
	struct iovec *iov;
	size_t n_iov, total;
	struct nft_msg_info *msgs;
	size_t n_msgs, cap;
	uint32_t seq0, seq, end_seq;
	size_t elem_msgs;
};

/* The record of the next message (kind, family), its seq taken; its buffer space zeroed.
 * NULL when out of memory. */
struct nft_msg_info *nft_batch_new_info(struct nft_batch *b, int kind, int fam);
/* The lock's chain and rule messages for one hook, as p->lock says (batch_lock.c). */
int nft_batch_put_lock(struct nft_batch *b, const struct nft_plan *p, int hook);

/* Keys in network order. */
static inline void nft_batch_key4(uint32_t a, uint8_t *out)
{
	uint32_t be = htonl(a);

	memcpy(out, &be, 4);
}

static inline void nft_batch_key6(cda_u128 a, uint8_t *out)
{
	for (int i = 15; i >= 0; i--) {
		out[i] = (uint8_t)a;
		a >>= 8;
	}
}

#endif
