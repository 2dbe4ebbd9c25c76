/* SPDX-License-Identifier: MIT */
#ifndef CDNALLOW_NFT_BATCH_H
#define CDNALLOW_NFT_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct cda_error;
struct ranges;

/* What one nft transaction must do to the sets of one table. Borrowed pointers. */
struct nft_plan {
	const char *table;   /* e.g. "cdnallow" */
	uint16_t family;     /* NFPROTO_INET (default), NFPROTO_IPV4, NFPROTO_IPV6 */
	bool create;	     /* add table and sets if missing (NLM_F_CREATE, no EXCL) */
	const char *set_v4;  /* NULL: no IPv4 set in this plan */
	const char *set_v6;
	bool flush;	     /* flush the sets first instead of deleting del's items */
	const struct ranges *del; /* items to delete (exactly as the kernel holds them) */
	const struct ranges *add; /* items to add */
	uint32_t genid;	     /* NFNL_BATCH_GENID when has_genid */
	bool has_genid;
};

/* What one message of the batch carries, to map a kernel error back to it. */
struct nft_msg_info {
	uint32_t seq;
	int kind;	      /* NFT_MSG_NEWTABLE, NFT_MSG_NEWSET, NFT_MSG_DELSETELEM, ... */
	int fam;	      /* CDA_AF_INET/6 for element messages, 0 otherwise */
	size_t first, count;  /* items [first, first+count) of add or del */
	uint32_t elem_offset; /* byte offset of the element list nest in the message */
};

/* A built batch: one kernel transaction. Opaque. */
struct nft_batch;

/*
 * Build BEGIN[GENID], NEWTABLE, NEWSET x2 (when create), DELSETELEM (flush or items),
 * NEWSETELEM items, END(ACK) for plan. Element lists are split over messages so no nest
 * exceeds 64 KiB; deletes come before adds. Pure: bytes only. seq numbers start at seq0.
 */
int nft_batch_build(const struct nft_plan *plan, uint32_t seq0, struct nft_batch **out,
		    struct cda_error *err);
void nft_batch_free(struct nft_batch *b); /* NULL-safe */
/* iovecs for one sendmsg(); borrowed. */
const struct iovec *nft_batch_iov(const struct nft_batch *b, size_t *n_iov, size_t *total);
size_t nft_batch_msg_count(const struct nft_batch *b);
const struct nft_msg_info *nft_batch_msg(const struct nft_batch *b, uint32_t seq);
uint32_t nft_batch_end_seq(const struct nft_batch *b);
/* Element messages in this batch (for the benchmark's message counts). */
size_t nft_batch_elem_msgs(const struct nft_batch *b);

/* Decode interval-set elements as a dump returns them (any order; END flags) into out:
 * keys are network order, key_len 4 or 16. Accumulate with nft_elems_add, then finish. */
struct nft_elems;
struct nft_elems *nft_elems_new(int fam);
int nft_elems_add(struct nft_elems *e, const void *key, size_t key_len, bool interval_end);
int nft_elems_finish(struct nft_elems *e, struct ranges *out); /* frees e */
void nft_elems_free(struct nft_elems *e);

#endif
