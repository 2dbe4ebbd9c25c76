/* SPDX-License-Identifier: MIT */
/* The kernel's nftables ruleset as doctor reads it: chains, rules and sets from netlink dumps. */
#ifndef CDNALLOW_DOCTOR_NFT_MODEL_H
#define CDNALLOW_DOCTOR_NFT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ranges.h"

struct ipsets;
struct mnl_socket;
struct nftnl_chain;
struct nftnl_rule;
struct nftnl_set;

/* One element of a verdict map: keys lo..hi (as nft_model_key()) map to verdict (chain). */
struct vmelem {
	cda_u128 lo, hi;
	int verdict;
	char chain[64];
};

#define CONCAT_MAX 64 /* bytes of a concatenated key modelled */

/* One element of a set with a concatenated key: each field between key and key_end. */
struct celem {
	uint8_t key[CONCAT_MAX], end[CONCAT_MAX];
};

struct nset {
	struct nftnl_set *s;
	struct celem *cc; /* a concatenated key's elements (ktype >= 64), n_cc of them */
	size_t n_cc;
	struct vmelem *vm; /* a verdict map's elements (NFT_DATA_VERDICT), n_vm of them */
	size_t n_vm;
	uint32_t family, flags, klen, ktype;
	const char *table, *name;
	bool loaded, broken, wanted;
	struct ranges *elems; /* keys as intervals: v4 items for keys <= 4 bytes, v6 for 16 */
};

struct nchain {
	struct nftnl_chain *ch;
	uint32_t family, hook, policy;
	int32_t prio;
	bool base, reachable;
	const char *table, *name;
	size_t *rules; /* indices into nft->rules, in order */
	size_t n_rules;
};

struct nlconn {
	struct mnl_socket *nl;
	uint32_t portid, seq;
};

struct nft_model {
	struct nlconn conn;
	struct nftnl_rule **rules;
	size_t n_rules;
	struct nchain *chains;
	size_t n_chains;
	struct nset *sets;
	size_t n_sets;
	struct ipsets *ipsets; /* for `-m set`: read on first use (ipsets_tried) */
	bool ipsets_tried;
	const char *ipset_cmd; /* NULL: "ipset" */
};

/* Read chains, rules and sets (not the sets' elements). 0 ok; -1 with errno (EPERM: not
 * privileged, ENOMEM). *out is freed with nft_model_free() (NULL-safe). */
int nft_model_load(struct nft_model **out);
void nft_model_free(struct nft_model *n);

/* A netlink socket of our own (for another thread); 0, or -1 (close c->nl if not NULL). */
int nft_model_connect(struct nlconn *c);

/* Fetch a set's elements once over n: 0 ok (s->elems filled, or s->broken marked when they
 * cannot be read or modelled), -1 ENOMEM. */
int nft_model_set_load(struct nlconn *n, struct nset *s);

/* The kernel's ipsets, read once (`ipset save`) on first use; NULL when unreadable. */
struct ipsets *nft_model_ipsets(struct nft_model *n);

/* Lookups; NULL when absent. */
struct nchain *nft_model_chain(struct nft_model *n, uint32_t family, const char *table,
			       const char *name);
struct nset *nft_model_set(struct nft_model *n, uint32_t family, const char *table,
			   const char *name);

/* A set key or compared datum of len bytes (network order) as a number. */
cda_u128 nft_model_key(const uint8_t *k, uint32_t len);

/* "inet", "ip", "ip6" or "?" for a table family (NFPROTO_*). */
const char *nft_model_family(uint32_t f);

/* Mark the chains reachable from the prerouting and input base chains (idempotent). */
void nft_model_reach(struct nft_model *n);

/* Whether a rule in a reachable chain of (family, table) looks set up; whether such a rule
 * also drops. Needs nft_model_reach() first. */
void nft_model_set_refs(struct nft_model *n, uint32_t family, const char *table, const char *set,
			bool *used, bool *in_drop);

#endif
