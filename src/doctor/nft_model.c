// SPDX-License-Identifier: MIT
/* The ruleset model: libnftnl dumps of chains, rules and sets (never nft text), and lookups. */
/* Over 600 lines as one file: the dumps, the element decoding and the lookups share one model. */
#include "nft_model.h"

#include <sys/socket.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "checks.h"
#include "ipsets.h"

#define DUMP_BUF 32768 /* MNL_SOCKET_DUMP_SIZE, which libmnl 1.0.4 lacks */

/* Accumulates parsed objects of one dump. */
struct dump_acc {
	int type;
	void **v;
	size_t n, cap;
	struct nftnl_set *elems_into;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_acc *a = data;
	void *obj = NULL;

	if (a->type == NFT_MSG_GETSETELEM)
		return nftnl_set_elems_nlmsg_parse(nlh, a->elems_into) < 0 ? MNL_CB_ERROR
									   : MNL_CB_OK;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		void **v = reallocarray(a->v, cap, sizeof(*v));

		if (v == NULL)
			return MNL_CB_ERROR;
		a->v = v;
		a->cap = cap;
	}
	switch (a->type) {
	case NFT_MSG_GETCHAIN:
		obj = nftnl_chain_alloc();
		if (obj != NULL && nftnl_chain_nlmsg_parse(nlh, obj) < 0) {
			nftnl_chain_free(obj);
			obj = NULL;
		}
		break;
	case NFT_MSG_GETRULE:
		obj = nftnl_rule_alloc();
		if (obj != NULL && nftnl_rule_nlmsg_parse(nlh, obj) < 0) {
			nftnl_rule_free(obj);
			obj = NULL;
		}
		break;
	case NFT_MSG_GETSET:
		obj = nftnl_set_alloc();
		if (obj != NULL && nftnl_set_nlmsg_parse(nlh, obj) < 0) {
			nftnl_set_free(obj);
			obj = NULL;
		}
		break;
	}
	if (obj == NULL)
		return MNL_CB_ERROR;
	a->v[a->n++] = obj;
	return MNL_CB_OK;
}

/* One dump request; errno is kept from a kernel error (EPERM without CAP_NET_ADMIN). */
static int nl_dump(struct nlconn *n, int type, uint16_t family, struct nftnl_set *filter,
		   struct dump_acc *a)
{
	/* zeroed: the request's padding and unset header fields go to the kernel as they are */
	char *buf = calloc(1, DUMP_BUF);
	struct nlmsghdr *nlh;
	uint32_t seq = ++n->seq;
	int ret;

	if (buf == NULL)
		return -1;
	nlh = nftnl_nlmsg_build_hdr(buf, (uint16_t)type, family, NLM_F_DUMP, seq);
	if (filter != NULL)
		nftnl_set_elems_nlmsg_build_payload(nlh, filter);
	a->type = type;
	if (mnl_socket_sendto(n->nl, nlh, nlh->nlmsg_len) < 0) {
		free(buf);
		return -1;
	}
	do {
		ret = (int)mnl_socket_recvfrom(n->nl, buf, DUMP_BUF);
		if (ret <= 0)
			break;
		ret = mnl_cb_run(buf, (size_t)ret, seq, n->portid, dump_cb, a);
	} while (ret > MNL_CB_STOP);
	free(buf);
	return ret < 0 ? -1 : 0;
}

int nft_model_connect(struct nlconn *c)
{
	c->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (c->nl == NULL || mnl_socket_bind(c->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -1;
	c->portid = mnl_socket_get_portid(c->nl);
	c->seq = (uint32_t)time(NULL);
	return 0;
}

struct ipsets *nft_model_ipsets(struct nft_model *n)
{
	if (!n->ipsets_tried) {
		n->ipsets_tried = true;
		if (ipsets_load(n->ipset_cmd, &n->ipsets) < 0)
			n->ipsets = NULL;
	}
	return n->ipsets;
}

void nft_model_free(struct nft_model *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->n_rules; i++)
		nftnl_rule_free(n->rules[i]);
	for (size_t i = 0; i < n->n_chains; i++) {
		nftnl_chain_free(n->chains[i].ch);
		free(n->chains[i].rules);
	}
	for (size_t i = 0; i < n->n_sets; i++) {
		nftnl_set_free(n->sets[i].s);
		ranges_free(n->sets[i].elems);
		free(n->sets[i].vm);
		free(n->sets[i].cc);
	}
	free(n->rules);
	free(n->chains);
	free(n->sets);
	ipsets_free(n->ipsets);
	if (n->conn.nl != NULL)
		mnl_socket_close(n->conn.nl);
	free(n);
}

static void acc_free(struct dump_acc *a, void (*fr)(void *))
{
	for (size_t i = 0; i < a->n; i++)
		fr(a->v[i]);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

static void chain_free_cb(void *p)
{
	nftnl_chain_free(p);
}

static void rule_free_cb(void *p)
{
	nftnl_rule_free(p);
}

static void set_free_cb(void *p)
{
	nftnl_set_free(p);
}

/* Dump with a retry when the ruleset changed mid-dump (EINTR). */
static int dump_retry(struct nft_model *n, int type, struct dump_acc *a, void (*fr)(void *))
{
	for (int i = 0; i < 5; i++) {
		if (nl_dump(&n->conn, type, NFPROTO_UNSPEC, NULL, a) == 0)
			return 0;
		if (errno != EINTR)
			return -1;
		acc_free(a, fr);
	}
	return -1;
}

struct nchain *nft_model_chain(struct nft_model *n, uint32_t family, const char *table,
			       const char *name)
{
	for (size_t i = 0; i < n->n_chains; i++) {
		struct nchain *ch = &n->chains[i];

		if (ch->family == family && strcmp(ch->table, table) == 0 &&
		    strcmp(ch->name, name) == 0)
			return ch;
	}
	return NULL;
}

struct nset *nft_model_set(struct nft_model *n, uint32_t family, const char *table,
			   const char *name)
{
	for (size_t i = 0; i < n->n_sets; i++) {
		struct nset *s = &n->sets[i];

		if (s->family == family && strcmp(s->table, table) == 0 &&
		    strcmp(s->name, name) == 0)
			return s;
	}
	return NULL;
}

/* Read chains, rules and sets. 0 ok; -1 with errno (EPERM: not privileged). */
static void fill_chain(struct nchain *ch, struct nftnl_chain *obj)
{
	ch->ch = obj;
	ch->family = nftnl_chain_get_u32(obj, NFTNL_CHAIN_FAMILY);
	ch->table = nftnl_chain_get_str(obj, NFTNL_CHAIN_TABLE);
	ch->name = nftnl_chain_get_str(obj, NFTNL_CHAIN_NAME);
	ch->base = nftnl_chain_is_set(obj, NFTNL_CHAIN_HOOKNUM);
	if (ch->base) {
		ch->hook = nftnl_chain_get_u32(obj, NFTNL_CHAIN_HOOKNUM);
		ch->prio = nftnl_chain_get_s32(obj, NFTNL_CHAIN_PRIO);
		ch->policy = nftnl_chain_is_set(obj, NFTNL_CHAIN_POLICY)
				     ? nftnl_chain_get_u32(obj, NFTNL_CHAIN_POLICY)
				     : NF_ACCEPT;
	}
}

static void fill_set(struct nset *s, struct nftnl_set *obj)
{
	s->s = obj;
	s->family = nftnl_set_get_u32(obj, NFTNL_SET_FAMILY);
	s->table = nftnl_set_get_str(obj, NFTNL_SET_TABLE);
	s->name = nftnl_set_get_str(obj, NFTNL_SET_NAME);
	s->flags = nftnl_set_is_set(obj, NFTNL_SET_FLAGS) ? nftnl_set_get_u32(obj, NFTNL_SET_FLAGS)
							  : 0;
	s->klen = nftnl_set_get_u32(obj, NFTNL_SET_KEY_LEN);
	s->ktype = nftnl_set_get_u32(obj, NFTNL_SET_KEY_TYPE);
}

/* Each rule's index into its chain's list, in dump order (the chain's order). */
static int attach_rules(struct nft_model *n)
{
	for (size_t i = 0; i < n->n_rules; i++) {
		struct nftnl_rule *r = n->rules[i];
		struct nchain *ch = nft_model_chain(n, nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY),
						    nftnl_rule_get_str(r, NFTNL_RULE_TABLE),
						    nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
		size_t *v;

		if (ch == NULL)
			continue;
		v = reallocarray(ch->rules, ch->n_rules + 1, sizeof(*v));
		if (v == NULL)
			return -1;
		ch->rules = v;
		ch->rules[ch->n_rules++] = i;
	}
	return 0;
}

int nft_model_load(struct nft_model **out)
{
	struct nft_model *n = calloc(1, sizeof(*n));
	struct dump_acc ac = {0}, ar = {0}, as = {0};
	int saved;

	if (n == NULL)
		return -1;
	if (nft_model_connect(&n->conn) < 0)
		goto fail;
	if (dump_retry(n, NFT_MSG_GETCHAIN, &ac, chain_free_cb) < 0 ||
	    dump_retry(n, NFT_MSG_GETRULE, &ar, rule_free_cb) < 0 ||
	    dump_retry(n, NFT_MSG_GETSET, &as, set_free_cb) < 0)
		goto fail;
	n->chains = calloc(ac.n ? ac.n : 1, sizeof(*n->chains));
	n->sets = calloc(as.n ? as.n : 1, sizeof(*n->sets));
	if (n->chains == NULL || n->sets == NULL)
		goto fail;
	for (size_t i = 0; i < ac.n; i++)
		fill_chain(&n->chains[n->n_chains++], ac.v[i]);
	ac.n = 0; /* n owns them now */
	for (size_t i = 0; i < as.n; i++)
		fill_set(&n->sets[n->n_sets++], as.v[i]);
	as.n = 0;
	n->rules = (struct nftnl_rule **)ar.v;
	n->n_rules = ar.n;
	ar.v = NULL;
	ar.n = 0;
	if (attach_rules(n) < 0)
		goto fail;
	acc_free(&ac, chain_free_cb);
	acc_free(&as, set_free_cb);
	*out = n;
	return 0;
fail:
	saved = errno;
	acc_free(&ac, chain_free_cb);
	acc_free(&ar, rule_free_cb);
	acc_free(&as, set_free_cb);
	nft_model_free(n);
	errno = saved;
	return -1;
}

cda_u128 nft_model_key(const uint8_t *k, uint32_t len)
{
	cda_u128 v = 0;

	for (uint32_t i = 0; i < len; i++)
		v = (v << 8) | k[i];
	return v;
}

struct ekey {
	cda_u128 k;
	bool end;
	bool has_v; /* a verdict map element */
	int verdict;
	char chain[64];
};

static int ekey_cmp(const void *a, const void *b)
{
	const struct ekey *x = a, *y = b;

	if (x->k != y->k)
		return x->k < y->k ? -1 : 1;
	return (int)y->end - (int)x->end; /* END before START on equal keys */
}

/* Fetch a set's elements once: 0 ok (elems set or broken marked), -1 ENOMEM. */
/* The elements' keys (len klen) of tmp into *keys (n of them, free()). 0, or -1 on ENOMEM. */
static int read_keys(struct nftnl_set *tmp, uint32_t klen, struct ekey **keys, size_t *n)
{
	struct nftnl_set_elems_iter *it = nftnl_set_elems_iter_create(tmp);
	struct nftnl_set_elem *e;
	size_t cap = 0;
	int rc = -1;

	*keys = NULL;
	*n = 0;
	if (it == NULL)
		return -1;
	for (e = nftnl_set_elems_iter_next(it); e != NULL; e = nftnl_set_elems_iter_next(it)) {
		uint32_t len = 0, fl = 0;
		const uint8_t *k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);

		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS))
			fl = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS);
		if (k == NULL || len != klen)
			continue;
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct ekey *v = reallocarray(*keys, ncap, sizeof(*v));

			if (v == NULL)
				goto out;
			*keys = v;
			cap = ncap;
		}
		memset(&(*keys)[*n], 0, sizeof(**keys));
		(*keys)[*n].k = nft_model_key(k, len);
		(*keys)[*n].end = (fl & NFT_SET_ELEM_INTERVAL_END) != 0;
		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT)) {
			(*keys)[*n].has_v = true;
			(*keys)[*n].verdict = (int)nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT);
			if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN))
				snprintf((*keys)[*n].chain, sizeof((*keys)[*n].chain), "%s",
					 nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN));
		}
		(*n)++;
	}
	rc = 0;
out:
	nftnl_set_elems_iter_destroy(it);
	return rc;
}

/* Sorted keys into s->elems: each start paired with the next end in an interval set. */
static int keys_to_ranges(struct nset *s, const struct ekey *keys, size_t nk)
{
	int fam = s->klen == 16 ? CDA_AF_INET6 : CDA_AF_INET;
	cda_u128 kmax = s->klen == 16 ? ~(cda_u128)0 : (((cda_u128)1 << (8 * s->klen)) - 1);
	cda_u128 start = 0;
	bool open = false;

	if (!(s->flags & NFT_SET_INTERVAL)) {
		for (size_t i = 0; i < nk; i++)
			if (fam_add(s->elems, fam, keys[i].k, keys[i].k) < 0)
				return -1;
		return 0;
	}
	for (size_t i = 0; i < nk; i++) {
		if (!keys[i].end) {
			if (open && fam_add(s->elems, fam, start, keys[i].k - 1) < 0)
				return -1;
			start = keys[i].k;
			open = true;
		} else if (open) {
			if (keys[i].k > start && fam_add(s->elems, fam, start, keys[i].k - 1) < 0)
				return -1;
			open = false;
		}
	}
	if (open && fam_add(s->elems, fam, start, kmax) < 0)
		return -1;
	return 0;
}

/* A verdict map's sorted keys into s->vm: each element, or each interval's start up to the
 * next key. 0, or -1 on ENOMEM. */
static int keys_to_vmap(struct nset *s, const struct ekey *keys, size_t nk)
{
	cda_u128 kmax = s->klen == 16 ? ~(cda_u128)0 : (((cda_u128)1 << (8 * s->klen)) - 1);

	if (nk == 0 || (s->vm = calloc(nk, sizeof(*s->vm))) == NULL)
		return nk == 0 ? 0 : -1;
	for (size_t i = 0; i < nk; i++) {
		struct vmelem *v = &s->vm[s->n_vm];

		if (keys[i].end || !keys[i].has_v)
			continue;
		v->lo = v->hi = keys[i].k;
		if (s->flags & NFT_SET_INTERVAL)
			v->hi = i + 1 < nk ? keys[i + 1].k - 1 : kmax;
		v->verdict = keys[i].verdict;
		snprintf(v->chain, sizeof(v->chain), "%s", keys[i].chain);
		s->n_vm++;
	}
	return 0;
}

/* A concatenated key's elements of tmp into s->cc (key_end = key without one). 0, or -1 on
 * ENOMEM. */
static int read_concat(struct nftnl_set *tmp, struct nset *s)
{
	struct nftnl_set_elems_iter *it = nftnl_set_elems_iter_create(tmp);
	struct nftnl_set_elem *e;
	size_t cap = 0;
	int rc = -1;

	if (it == NULL)
		return -1;
	for (e = nftnl_set_elems_iter_next(it); e != NULL; e = nftnl_set_elems_iter_next(it)) {
		uint32_t len = 0, elen = 0;
		const uint8_t *k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
		const uint8_t *ke = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY_END, &elen);

		if (k == NULL || len != s->klen)
			continue;
		if (s->n_cc == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct celem *v = reallocarray(s->cc, ncap, sizeof(*v));

			if (v == NULL)
				goto out;
			s->cc = v;
			cap = ncap;
		}
		memcpy(s->cc[s->n_cc].key, k, len);
		memcpy(s->cc[s->n_cc].end, ke != NULL && elen == len ? ke : k, len);
		s->n_cc++;
	}
	rc = 0;
out:
	nftnl_set_elems_iter_destroy(it);
	return rc;
}

int nft_model_set_load(struct nlconn *n, struct nset *s)
{
	bool concat = s->ktype >= 64; /* nft's concatenated types: (type << 6) | next */
	struct dump_acc a = {0};
	struct nftnl_set *tmp;
	struct ekey *keys = NULL;
	size_t nk = 0;
	int rc = -1;

	if (s->loaded)
		return 0;
	s->loaded = true;
	if (s->klen == 0 || (!concat && s->klen > 4 && s->klen != 16) ||
	    (concat && s->klen > CONCAT_MAX)) {
		s->broken = true; /* odd keys are not modelled */
		return 0;
	}
	if ((tmp = nftnl_set_alloc()) == NULL)
		return -1;
	nftnl_set_set_str(tmp, NFTNL_SET_TABLE, s->table);
	nftnl_set_set_str(tmp, NFTNL_SET_NAME, s->name);
	nftnl_set_set_u32(tmp, NFTNL_SET_FAMILY, s->family);
	a.elems_into = tmp;
	if (nl_dump(n, NFT_MSG_GETSETELEM, (uint16_t)s->family, tmp, &a) < 0) {
		s->broken = true;
		rc = 0;
		goto out;
	}
	if (concat) {
		rc = read_concat(tmp, s);
		goto out;
	}
	if ((s->elems = ranges_new()) == NULL || read_keys(tmp, s->klen, &keys, &nk) < 0)
		goto out;
	if (nk > 0)
		qsort(keys, nk, sizeof(*keys), ekey_cmp);
	if (keys_to_ranges(s, keys, nk) < 0)
		goto out;
	if (nftnl_set_is_set(s->s, NFTNL_SET_DATA_TYPE) &&
	    nftnl_set_get_u32(s->s, NFTNL_SET_DATA_TYPE) == NFT_DATA_VERDICT &&
	    keys_to_vmap(s, keys, nk) < 0)
		goto out;
	ranges_normalize(s->elems);
	rc = 0;
out:
	nftnl_set_free(tmp);
	free(keys);
	return rc;
}

const char *nft_model_family(uint32_t f)
{
	return f == NFPROTO_INET   ? "inet"
	       : f == NFPROTO_IPV4 ? "ip"
	       : f == NFPROTO_IPV6 ? "ip6"
				   : "?";
}

static void mark_reachable(struct nft_model *n, struct nchain *ch, int depth);

static int jump_cb(struct nftnl_expr *e, void *data)
{
	void **d = data;
	struct nft_model *n = d[0];
	struct nchain *from = d[1];
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (name != NULL && strcmp(name, "immediate") == 0 &&
	    nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN)) {
		struct nchain *to = nft_model_chain(n, from->family, from->table,
						    nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN));

		if (to != NULL)
			mark_reachable(n, to, *(int *)d[2] + 1);
	}
	return 0;
}

static void mark_reachable(struct nft_model *n, struct nchain *ch, int depth)
{
	if (ch->reachable || depth > MAX_DEPTH)
		return;
	ch->reachable = true;
	for (size_t i = 0; i < ch->n_rules; i++) {
		void *d[3] = {n, ch, &depth};

		nftnl_expr_foreach(n->rules[ch->rules[i]], jump_cb, d);
	}
}

void nft_model_reach(struct nft_model *n)
{
	for (size_t i = 0; i < n->n_chains; i++) {
		struct nchain *ch = &n->chains[i];

		if (ch->base && (ch->hook == NF_INET_PRE_ROUTING || ch->hook == NF_INET_LOCAL_IN))
			mark_reachable(n, ch, 0);
	}
}

struct ref_scan {
	const char *set;
	bool found;
	bool has_verdict_drop;
};

static int ref_cb(struct nftnl_expr *e, void *data)
{
	struct ref_scan *s = data;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (name == NULL)
		return 0;
	if (strcmp(name, "lookup") == 0) {
		const char *set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);

		if (set != NULL && strcmp(set, s->set) == 0)
			s->found = true;
	}
	if ((strcmp(name, "immediate") == 0 &&
	     nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG) == NFT_REG_VERDICT &&
	     nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT) == NF_DROP) ||
	    strcmp(name, "reject") == 0)
		s->has_verdict_drop = true;
	return 0;
}

void nft_model_set_refs(struct nft_model *n, uint32_t family, const char *table, const char *set,
			bool *used, bool *in_drop)
{
	*used = *in_drop = false;
	for (size_t i = 0; i < n->n_chains; i++) {
		struct nchain *ch = &n->chains[i];

		if (!ch->reachable || ch->family != family || strcmp(ch->table, table) != 0)
			continue;
		for (size_t k = 0; k < ch->n_rules; k++) {
			struct ref_scan s = {.set = set};

			nftnl_expr_foreach(n->rules[ch->rules[k]], ref_cb, &s);
			if (s.found) {
				*used = true;
				*in_drop |= s.has_verdict_drop;
			}
		}
	}
}
