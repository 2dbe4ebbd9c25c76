/* SPDX-License-Identifier: MIT */
/* The nftables backend's state and the functions its files share (private to src/backend/nft). */
#ifndef CDNALLOW_NFT_BACKEND_H
#define CDNALLOW_NFT_BACKEND_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

#include "backend.h"
#include "nft_batch.h"
#include "origin_lock.h"

struct cda_error;
struct cidr;
struct ranges;
struct target_config;

enum verify_mode { VERIFY_AUTO, VERIFY_FULL, VERIFY_GENID };

/* The origin lock's chains as read() found them. */
struct lock_seen {
	bool exists, ok, recreate; /* ok: hook, policy and every rule as configured */
};

struct nft_backend {
	struct backend base;
	struct backend_env env;
	char *name, *config_path;
	char tag[48];	 /* this boot and network namespace (nft.c boot_tag) */
	char *cache_key; /* names the target, tag and the objects below; NULL: none yet */
	char table[256];
	char set[2][256]; /* [0] v4, [1] v6; "" when the family is not synced */
	uint16_t family;
	const char *family_name;
	bool create;
	enum verify_mode verify;
	unsigned int set_line[2];
	struct mnl_socket *nl;
	uint32_t portid, seq;
	char *buf;
	/* What the kernel holds as far as we know, and the genid that goes with it. */
	bool known;
	uint32_t genid;
	struct ranges *last;
	bool table_exists, set_exists[2];
	uint64_t table_handle, set_handle[2]; /* as nft_read_objects found them, 0: none */
	bool acks_probed, acks_end;	      /* whether the kernel acks a batch's END */
	/* Origin lock (own table only): the configuration, and what the kernel holds. */
	bool lock_on;
	enum origin_lock_fwd lock_fwd;
	struct nft_lock_spec lock;
	struct cidr *lock_allow;
	bool fwd_on;              /* lock_forward resolved (auto: Docker or a forward chain seen) */
	struct lock_seen seen[2]; /* [NFT_LOCK_INPUT], [NFT_LOCK_FORWARD] */
	char lock_text[128];
	char *script_path; /* nft_file: the script a reload of the host's ruleset includes */
};

static inline struct nft_backend *nft_from_base(struct backend *be)
{
	assert(be->ops == &nft_backend_ops);
	return (struct nft_backend *)be;
}

/* Whether family i (0 v4, 1 v6) is synced. */
static inline bool nft_has_set(const struct nft_backend *nb, int i)
{
	return nb->set[i][0] != '\0';
}

/* nft.c: the cache's key for the objects nft_read_objects just found (cache_key). */
void nft_cache_bind(struct nft_backend *nb);

/* nft_config.c: the target's keys into nb (CDA_ECONFIG with file:line). */
int nft_parse_config(struct nft_backend *nb, const struct target_config *tc, struct cda_error *err);

/* nft_nl.c */
/* Open the socket (once). */
int nft_nl_ready(struct nft_backend *nb, struct cda_error *err);
/* A request header in nb->buf with the next seq. */
struct nlmsghdr *nft_nl_req(struct nft_backend *nb, int type, uint16_t family, uint16_t flags);
/* Send one request and run cb over the replies until the ack or DONE; errno on failure. */
int nft_nl_talk(struct nft_backend *nb, struct nlmsghdr *nlh, mnl_cb_t cb, void *data);
int nft_nl_genid(struct nft_backend *nb, uint32_t *genid, struct cda_error *err);
/* Send the batch in one sendmsg() and read every ack into o; -1 only when that fails. */
int nft_nl_send(struct nft_backend *nb, const struct nft_batch *b, struct nft_outcome *o,
		struct cda_error *err);
/* The kernel's refusal (o->error) as CDA_EAPPLY naming the message it refused. Returns -1. */
int nft_nl_refused(struct nft_backend *nb, const struct nft_batch *b, const struct nft_plan *p,
		   const struct nft_outcome *o, struct cda_error *err);

/* nft_objects.c */
/* Does the table exist, do the sets exist with a type and flags cdnallow can keep in step
 * (nb->*_exists, *_handle); then binds the cache key to them. */
int nft_read_objects(struct nft_backend *nb, struct cda_error *err);

/* nft_read.c */
/* r with only the synced families, sorted: r itself (ranges_ref) when it is normal and has no
 * other family, else a copy; NULL when out of memory. */
struct ranges *nft_only_synced(const struct nft_backend *nb, const struct ranges *r);
/* What the kernel holds now, with its genid (nb->last, nb->genid, and the lock chains).
 * use_cache: take the state cache when its genid is the current one (no dump). */
int nft_read_kernel(struct nft_backend *nb, bool use_cache, struct cda_error *err);
/* Compare the kernel's sets (and lock) with want by a fresh dump; then nb->last is exact.
 * -1: the dump failed; -2: the kernel differs from want (err says how). */
int nft_read_compare(struct nft_backend *nb, const struct ranges *want, struct cda_error *err);
int nft_read(struct backend *be, struct ranges *cur, struct cda_error *err);
int nft_verify(struct backend *be, const struct ranges *want, struct cda_error *err);

/* nft_lock.c */
/* The plan fields the lock's rules depend on (table, family, sets). */
void nft_plan_base(const struct nft_backend *nb, struct nft_plan *p);
/* Whether chain h belongs in the table when the sets hold r: never with an empty set. */
bool nft_lock_wanted(const struct nft_backend *nb, const struct ranges *r, int h);
/* Read the lock chains of our own table into nb->seen (and look for Docker). */
int nft_lock_read(struct nft_backend *nb, struct cda_error *err);
/* nb->lock_text for the sets holding r. */
void nft_lock_describe(struct nft_backend *nb, const struct ranges *r);
/* What the chains need to match w (the sets after the transaction); false: nothing. */
bool nft_lock_plan_for(const struct nft_backend *nb, const struct ranges *w,
		       struct nft_lock_plan *lp);
/* After a commit of lp: the chains are as planned. */
void nft_lock_committed(struct nft_backend *nb, const struct nft_lock_plan *lp);
int nft_unlock(struct backend *be, struct cda_error *err);
int nft_drift(struct backend *be, bool *drift, struct cda_error *err);
const char *nft_lock_info(struct backend *be);

#endif
