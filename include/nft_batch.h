/* SPDX-License-Identifier: MIT */
/* nft transactions as netlink bytes (pure), and the decoding of dumped set elements. */
#ifndef CDNALLOW_NFT_BATCH_H
#define CDNALLOW_NFT_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "origin_lock.h"

struct cda_error;
struct cidr;
struct nlmsghdr;
struct ranges;

/*
 * Origin lock: base chains in the plan's own table that drop new connections to the locked
 * ports from every source outside the sets. Rules, in order: iif lo accept; ct state
 * established,related accept; ip saddr @set_v4 accept; ip6 saddr @set_v6 accept; one accept
 * per extra allowed prefix; one drop per TCP and per UDP port (range). On input the drop
 * matches th dport; on forward it matches connections this host DNATed (ct status dnat) by
 * their original destination port (ct original proto-dst): published container ports, never
 * forwarded traffic of clients going out. Each rule carries a comment
 * "cdnallow lock HASH #N" (HASH covers the plan's table, sets and spec and the hook).
 */
#define NFT_LOCK_CHAIN_INPUT "lock_input"
#define NFT_LOCK_CHAIN_FORWARD "lock_forward"
#define NFT_LOCK_CHAIN_COMMENT "cdnallow origin lock (cdnallow unlock removes it)"
#define NFT_LOCK_PRIORITY (-1) /* filter - 1: before the usual filter chains */
#define NFT_LOCK_MAX_PORTS 32  /* per protocol */
#define NFT_LOCK_MAX_ALLOW ORIGIN_LOCK_MAX_ALLOW

enum nft_lock_hook { NFT_LOCK_INPUT = 0, NFT_LOCK_FORWARD = 1 };
enum nft_lock_op {
	NFT_LOCK_KEEP = 0, /* send nothing for this chain */
	NFT_LOCK_SET,      /* create the chain if missing, replace its rules */
	NFT_LOCK_REMOVE,   /* delete the chain (when it exists) */
};

struct nft_lock_spec {
	struct origin_lock_port tcp[NFT_LOCK_MAX_PORTS], udp[NFT_LOCK_MAX_PORTS];
	size_t n_tcp, n_udp;
	const struct cidr *allow; /* extra sources always allowed (borrowed) */
	size_t n_allow;
};

struct nft_lock_plan {
	const struct nft_lock_spec *spec; /* needed for NFT_LOCK_SET */
	enum nft_lock_op op[2];           /* [NFT_LOCK_INPUT], [NFT_LOCK_FORWARD] */
	bool exists[2];                   /* the chain exists now: flush before refilling */
	bool recreate[2];                 /* exists with another hook/type/priority */
};

/* What one nft transaction must do to the sets of one table. Borrowed pointers. */
struct nft_plan {
	const char *table;  /* e.g. "cdnallow" */
	uint16_t family;    /* NFPROTO_INET (default), NFPROTO_IPV4, NFPROTO_IPV6 */
	bool create;        /* add table and sets if missing (NLM_F_CREATE, no EXCL) */
	const char *set_v4; /* NULL: no IPv4 set in this plan */
	const char *set_v6;
	bool flush;               /* flush the sets first instead of deleting del's items */
	const struct ranges *del; /* items to delete (exactly as the kernel holds them) */
	const struct ranges *add; /* items to add */
	uint32_t genid;           /* NFNL_BATCH_GENID when has_genid */
	bool has_genid;
	const struct nft_lock_plan *lock; /* NULL: the lock chains are left alone */
};

/* What one message of the batch carries, to map a kernel error back to it. */
struct nft_msg_info {
	uint32_t seq;
	int kind;             /* NFT_MSG_NEWTABLE, NFT_MSG_NEWSET, NFT_MSG_DELSETELEM, ... */
	int fam;              /* CDA_AF_INET/6 for element messages, 0 otherwise */
	size_t first, count;  /* items [first, first+count) of add or del; for the lock's
			       * NEWCHAIN/DELCHAIN/NEWRULE/DELRULE: first = the hook
			       * (enum nft_lock_hook), count = the rule's index */
	uint32_t elem_offset; /* byte offset of the element list nest in the message */
};

/* A built batch: one kernel transaction. Opaque. */
struct nft_batch;

/*
 * Build BEGIN[GENID], NEWTABLE, NEWSET x2 (when create), DELSETELEM (flush or items),
 * NEWSETELEM items, then the lock's chain and rule messages (plan->lock), END(ACK). Element lists
 * are split over messages so no nest exceeds 64 KiB; deletes come before adds. Pure: bytes only.
 * seq numbers start at seq0.
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

/* What the kernel answered to one batch: nft_batch_ack reads each ack into it. */
struct nft_outcome {
	int error; /* first kernel errno, 0 when none */
	uint32_t seq; /* the message it refused */
	bool has_offs;
	uint32_t offs;
	char kmsg[96];
	unsigned int n_errors;
	bool end_acked;
	bool lost; /* ENOBUFS: acks were dropped */
};

enum nft_verdict {
	NFT_COMMITTED,   /* no error (and the END ack, from a kernel that sends it) */
	NFT_REFUSED,     /* the kernel refused a message: nothing was changed */
	NFT_UNCONFIRMED, /* the acks do not say: read the kernel to find out */
};

/* Record one reply to batch b (an NLMSG_ERROR; others are ignored) into o. */
void nft_batch_ack(const struct nft_batch *b, const struct nlmsghdr *nlh, struct nft_outcome *o);
/* What o means. acks_end: the kernel acks END once it has committed (Linux 6.10+). */
enum nft_verdict nft_outcome_verdict(const struct nft_outcome *o, bool acks_end);

/* The lock: its chains' names by enum nft_lock_hook, the number of rules of one chain, and
 * the comment of rule i (buf >= 48 bytes). */
extern const char *const nft_lock_chain[2];
size_t nft_lock_rule_count(const struct nft_plan *p, const struct nft_lock_spec *s, int hook);
void nft_lock_comment(const struct nft_plan *p, const struct nft_lock_spec *s, int hook, size_t i,
		      char *buf, size_t size);

/* Decode interval-set elements as a dump returns them (any order; END flags) into out:
 * keys are network order, key_len 4 or 16. Accumulate with nft_elems_add, then finish. */
struct nft_elems;
struct nft_elems *nft_elems_new(int fam);
int nft_elems_add(struct nft_elems *e, const void *key, size_t key_len, bool interval_end);
/* Add the elements of one message of a set element dump (NFTA_SET_ELEM_LIST_ELEMENTS).
 * 0 done; NFT_ELEMS_TIMED: an element carries a timeout or an expiry (cdnallow cannot track
 * elements that go by themselves); -1 a malformed element (EINVAL) or out of memory. */
#define NFT_ELEMS_TIMED 1
int nft_elems_add_msg(struct nft_elems *e, const struct nlmsghdr *nlh);
/* Why a set with these NFT_SET_* flags cannot be kept in step ("timeout": its elements
 * expire, "dynamic": the packet path adds them, "constant": they cannot change), each
 * without a ruleset generation cdnallow could see; NULL when none applies. *flag gets the
 * flag's name as nft(8) prints it. */
const char *nft_set_untrackable(uint32_t flags, const char **flag);
int nft_elems_finish(struct nft_elems *e, struct ranges *out); /* frees e */
void nft_elems_free(struct nft_elems *e);

#endif
