// SPDX-License-Identifier: MIT
/* The origin lock's chains and rules as netlink messages of a batch, and their comments. */
#include "nft_batch.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>

#include "batch_priv.h"
#include "origin_lock.h"
#include "ranges.h"

#define LOOPBACK_IFINDEX 1u
#define CT_ESTABLISHED_RELATED 0x06u /* NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | ..(RELATED) */
#define MAX_LOCK_RULES (4 + NFT_LOCK_MAX_ALLOW + 2 * NFT_LOCK_MAX_PORTS)

enum rule_kind { R_LO, R_CT, R_SET4, R_SET6, R_ALLOW, R_TCP, R_UDP };

struct rule_desc {
	enum rule_kind kind;
	size_t idx; /* allow entry or port range */
};

const char *const nft_lock_chain[2] = {NFT_LOCK_CHAIN_INPUT, NFT_LOCK_CHAIN_FORWARD};

/* The rules of one lock chain, in order. */
static size_t rule_list(const struct nft_plan *p, const struct nft_lock_spec *s, int hook,
			struct rule_desc *out)
{
	size_t n = 0;

	if (hook == NFT_LOCK_INPUT)
		out[n++] = (struct rule_desc){R_LO, 0};
	out[n++] = (struct rule_desc){R_CT, 0};
	if (p->set_v4 != NULL)
		out[n++] = (struct rule_desc){R_SET4, 0};
	if (p->set_v6 != NULL)
		out[n++] = (struct rule_desc){R_SET6, 0};
	for (size_t i = 0; i < s->n_allow && i < NFT_LOCK_MAX_ALLOW; i++)
		out[n++] = (struct rule_desc){R_ALLOW, i};
	for (size_t i = 0; i < s->n_tcp && i < NFT_LOCK_MAX_PORTS; i++)
		out[n++] = (struct rule_desc){R_TCP, i};
	for (size_t i = 0; i < s->n_udp && i < NFT_LOCK_MAX_PORTS; i++)
		out[n++] = (struct rule_desc){R_UDP, i};
	return n;
}

size_t nft_lock_rule_count(const struct nft_plan *p, const struct nft_lock_spec *s, int hook)
{
	struct rule_desc d[MAX_LOCK_RULES];

	return rule_list(p, s, hook, d);
}

/* What the rules of one chain depend on: their layout version, table, sets, spec, hook. */
static uint32_t lock_hash(const struct nft_plan *p, const struct nft_lock_spec *s, int hook)
{
	uint32_t h = ORIGIN_LOCK_HASH_INIT;
	int32_t prio = NFT_LOCK_PRIORITY;

	h = origin_lock_hash_str(h, "cdnallow lock v1");
	h = origin_lock_hash(h, &p->family, sizeof(p->family));
	h = origin_lock_hash_str(h, p->table);
	h = origin_lock_hash_str(h, p->set_v4);
	h = origin_lock_hash_str(h, p->set_v6);
	h = origin_lock_hash(h, &hook, sizeof(hook));
	h = origin_lock_hash(h, &prio, sizeof(prio));
	h = origin_lock_hash(h, &s->n_tcp, sizeof(s->n_tcp));
	h = origin_lock_hash(h, s->tcp, s->n_tcp * sizeof(s->tcp[0]));
	h = origin_lock_hash(h, &s->n_udp, sizeof(s->n_udp));
	h = origin_lock_hash(h, s->udp, s->n_udp * sizeof(s->udp[0]));
	for (size_t i = 0; i < s->n_allow; i++) {
		uint8_t a[18];

		nft_batch_key6(s->allow[i].addr, a);
		a[16] = s->allow[i].family;
		a[17] = s->allow[i].plen;
		h = origin_lock_hash(h, a, sizeof(a));
	}
	return h;
}

void nft_lock_comment(const struct nft_plan *p, const struct nft_lock_spec *s, int hook, size_t i,
		      char *buf, size_t size)
{
	snprintf(buf, size, ORIGIN_LOCK_COMMENT, lock_hash(p, s, hook), i + 1);
}

struct rule_build {
	struct nftnl_rule *r;
	bool ok;
};

static void add_expr(struct rule_build *rb, struct nftnl_expr *e)
{
	if (e == NULL)
		rb->ok = false;
	else
		nftnl_rule_add_expr(rb->r, e);
}

static struct nftnl_expr *e_meta(uint32_t key)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	if (e != NULL) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	}
	return e;
}

static struct nftnl_expr *e_cmp(uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	if (e != NULL) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	}
	return e;
}

static struct nftnl_expr *e_payload(uint32_t base, uint32_t offset, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	if (e != NULL) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	}
	return e;
}

/* reg1 = reg1 & mask (^ 0) over len bytes. */
static struct nftnl_expr *e_and(const void *mask, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("bitwise");
	static const uint8_t zero[16];

	if (e != NULL) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
	}
	return e;
}

static struct nftnl_expr *e_ct(uint32_t key, bool original)
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");

	if (e != NULL) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
		if (original)
			nftnl_expr_set_u8(e, NFTNL_EXPR_CT_DIR, 0); /* IP_CT_DIR_ORIGINAL */
	}
	return e;
}

static struct nftnl_expr *e_lookup(const struct nft_plan *p, int fam)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	if (e != NULL) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
		nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET,
				   fam == CDA_AF_INET ? p->set_v4 : p->set_v6);
		/* a set created in this same batch is also found by its id */
		if (p->create)
			nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, fam == CDA_AF_INET ? 1 : 2);
	}
	return e;
}

static struct nftnl_expr *e_range(uint16_t lo, uint16_t hi)
{
	struct nftnl_expr *e = nftnl_expr_alloc("range");
	uint16_t from = htons(lo), to = htons(hi);

	if (e != NULL) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_OP, NFT_RANGE_EQ);
		nftnl_expr_set(e, NFTNL_EXPR_RANGE_FROM_DATA, &from, sizeof(from));
		nftnl_expr_set(e, NFTNL_EXPR_RANGE_TO_DATA, &to, sizeof(to));
	}
	return e;
}

static struct nftnl_expr *e_verdict(int verdict)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (e != NULL) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	}
	return e;
}

/* meta nfproto ipv4/ipv6, only needed in an inet table. */
static void match_nfproto(struct rule_build *rb, const struct nft_plan *p, int fam)
{
	uint8_t v = fam == CDA_AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;

	if (p->family != NFPROTO_INET)
		return;
	add_expr(rb, e_meta(NFT_META_NFPROTO));
	add_expr(rb, e_cmp(NFT_CMP_EQ, &v, 1));
}

static void match_saddr(struct rule_build *rb, const struct nft_plan *p, int fam)
{
	match_nfproto(rb, p, fam);
	add_expr(rb, fam == CDA_AF_INET ? e_payload(NFT_PAYLOAD_NETWORK_HEADER, 12, 4)
					: e_payload(NFT_PAYLOAD_NETWORK_HEADER, 8, 16));
}

static void match_prefix(struct rule_build *rb, const struct nft_plan *p, const struct cidr *c)
{
	uint32_t len = c->family == CDA_AF_INET ? 4 : 16, bits = len * 8;
	uint8_t addr[16], mask[16];

	if (c->family == CDA_AF_INET)
		nft_batch_key4((uint32_t)c->addr, addr);
	else
		nft_batch_key6(c->addr, addr);
	for (uint32_t i = 0; i < len; i++) {
		uint32_t have = c->plen > i * 8 ? c->plen - i * 8 : 0;

		mask[i] = have >= 8 ? 0xff : (uint8_t)(0xff << (8 - have));
	}
	match_saddr(rb, p, c->family);
	if (c->plen < bits)
		add_expr(rb, e_and(mask, len));
	add_expr(rb, e_cmp(NFT_CMP_EQ, addr, len));
}

/* Drops: only the synced families when an inet table syncs one of them. */
static void match_port(struct rule_build *rb, const struct nft_plan *p, int hook, uint8_t proto,
		       const struct origin_lock_port *pr)
{
	static const uint32_t dnat = IPS_DST_NAT, zero = 0;

	if (p->family == NFPROTO_INET && (p->set_v4 == NULL) != (p->set_v6 == NULL))
		match_nfproto(rb, p, p->set_v4 != NULL ? CDA_AF_INET : CDA_AF_INET6);
	add_expr(rb, e_meta(NFT_META_L4PROTO));
	add_expr(rb, e_cmp(NFT_CMP_EQ, &proto, 1));
	if (hook == NFT_LOCK_FORWARD) {
		/* connections this host DNATed, by the port the client asked for */
		add_expr(rb, e_ct(NFT_CT_STATUS, false));
		add_expr(rb, e_and(&dnat, 4));
		add_expr(rb, e_cmp(NFT_CMP_NEQ, &zero, 4));
		add_expr(rb, e_ct(NFT_CT_PROTO_DST, true));
	} else {
		add_expr(rb, e_payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2));
	}
	if (pr->lo == pr->hi) {
		uint16_t port = htons(pr->lo);

		add_expr(rb, e_cmp(NFT_CMP_EQ, &port, 2));
	} else {
		add_expr(rb, e_range(pr->lo, pr->hi));
	}
}

static struct nftnl_rule *lock_rule(const struct nft_plan *p, const struct nft_lock_spec *s,
				    int hook, size_t i, const struct rule_desc *d)
{
	struct rule_build rb = {.r = nftnl_rule_alloc(), .ok = true};
	struct nftnl_udata_buf *ud = NULL;
	static const uint32_t lo = LOOPBACK_IFINDEX, est = CT_ESTABLISHED_RELATED, zero = 0;
	char comment[64];
	int verdict = NF_ACCEPT;

	if (rb.r == NULL)
		return NULL;
	nftnl_rule_set_u32(rb.r, NFTNL_RULE_FAMILY, p->family);
	nftnl_rule_set_str(rb.r, NFTNL_RULE_TABLE, p->table);
	nftnl_rule_set_str(rb.r, NFTNL_RULE_CHAIN, nft_lock_chain[hook]);
	switch (d->kind) {
	case R_LO:
		add_expr(&rb, e_meta(NFT_META_IIF));
		add_expr(&rb, e_cmp(NFT_CMP_EQ, &lo, 4));
		break;
	case R_CT:
		add_expr(&rb, e_ct(NFT_CT_STATE, false));
		add_expr(&rb, e_and(&est, 4));
		add_expr(&rb, e_cmp(NFT_CMP_NEQ, &zero, 4));
		break;
	case R_SET4:
	case R_SET6: {
		int fam = d->kind == R_SET4 ? CDA_AF_INET : CDA_AF_INET6;

		match_saddr(&rb, p, fam);
		add_expr(&rb, e_lookup(p, fam));
		break;
	}
	case R_ALLOW:
		match_prefix(&rb, p, &s->allow[d->idx]);
		break;
	case R_TCP:
		match_port(&rb, p, hook, IPPROTO_TCP, &s->tcp[d->idx]);
		verdict = NF_DROP;
		break;
	case R_UDP:
		match_port(&rb, p, hook, IPPROTO_UDP, &s->udp[d->idx]);
		verdict = NF_DROP;
		break;
	}
	add_expr(&rb, e_verdict(verdict));
	/* nft(8) shows this as the rule's comment; drift detection reads it back */
	nft_lock_comment(p, s, hook, i, comment, sizeof(comment));
	if ((ud = nftnl_udata_buf_alloc(128)) == NULL ||
	    !nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, comment))
		rb.ok = false;
	else
		nftnl_rule_set_data(rb.r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud),
				    nftnl_udata_buf_len(ud));
	if (ud != NULL)
		nftnl_udata_buf_free(ud);
	if (!rb.ok) {
		nftnl_rule_free(rb.r);
		return NULL;
	}
	return rb.r;
}

static struct nlmsghdr *lock_hdr(struct nft_batch *b, const struct nft_plan *p, int kind,
				 uint16_t flags, int hook, size_t idx)
{
	struct nft_msg_info *mi = nft_batch_new_info(b, kind, 0);

	if (mi == NULL)
		return NULL;
	mi->first = (size_t)hook;
	mi->count = idx;
	return nftnl_nlmsg_build_hdr(nftnl_batch_buffer(b->nb), (uint16_t)kind, p->family, flags,
				     mi->seq);
}

/* Delete every rule of the chain (DELRULE without a handle). */
static int put_flush_chain(struct nft_batch *b, const struct nft_plan *p, int hook)
{
	struct nlmsghdr *nlh = lock_hdr(b, p, NFT_MSG_DELRULE, 0, hook, 0);

	if (nlh == NULL)
		return -1;
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, p->table);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, nft_lock_chain[hook]);
	return nftnl_batch_update(b->nb);
}

static int put_del_chain(struct nft_batch *b, const struct nft_plan *p, int hook)
{
	struct nlmsghdr *nlh;

	if (put_flush_chain(b, p, hook) < 0 ||
	    (nlh = lock_hdr(b, p, NFT_MSG_DELCHAIN, 0, hook, 0)) == NULL)
		return -1;
	mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, p->table);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, nft_lock_chain[hook]);
	return nftnl_batch_update(b->nb);
}

static int put_new_chain(struct nft_batch *b, const struct nft_plan *p, int hook)
{
	static const char comment[] = NFT_LOCK_CHAIN_COMMENT;
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(128);
	struct nlmsghdr *nlh;
	int rc = -1;

	if (c == NULL || ud == NULL ||
	    !nftnl_udata_put_strz(ud, NFTNL_UDATA_CHAIN_COMMENT, comment))
		goto out;
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, p->table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, nft_lock_chain[hook]);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM,
			    hook == NFT_LOCK_INPUT ? NF_INET_LOCAL_IN : NF_INET_FORWARD);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, NFT_LOCK_PRIORITY);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nftnl_chain_set_data(c, NFTNL_CHAIN_USERDATA, nftnl_udata_buf_data(ud),
			     nftnl_udata_buf_len(ud));
	if ((nlh = lock_hdr(b, p, NFT_MSG_NEWCHAIN, NLM_F_CREATE, hook, 0)) == NULL)
		goto out;
	nftnl_chain_nlmsg_build_payload(nlh, c);
	rc = nftnl_batch_update(b->nb);
out:
	if (c != NULL)
		nftnl_chain_free(c);
	if (ud != NULL)
		nftnl_udata_buf_free(ud);
	return rc;
}

int nft_batch_put_lock(struct nft_batch *b, const struct nft_plan *p, int hook)
{
	const struct nft_lock_plan *l = p->lock;
	struct rule_desc d[MAX_LOCK_RULES];
	size_t n;

	if (l->op[hook] == NFT_LOCK_REMOVE)
		return l->exists[hook] ? put_del_chain(b, p, hook) : 0;
	if (l->op[hook] != NFT_LOCK_SET)
		return 0;
	if (l->spec == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (l->exists[hook] && l->recreate[hook] && put_del_chain(b, p, hook) < 0)
		return -1;
	if (put_new_chain(b, p, hook) < 0)
		return -1;
	if (l->exists[hook] && !l->recreate[hook] && put_flush_chain(b, p, hook) < 0)
		return -1;
	n = rule_list(p, l->spec, hook, d);
	for (size_t i = 0; i < n; i++) {
		struct nftnl_rule *r = lock_rule(p, l->spec, hook, i, &d[i]);
		struct nlmsghdr *nlh;

		if (r == NULL)
			return -1;
		nlh = lock_hdr(b, p, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, hook, i);
		if (nlh == NULL) {
			nftnl_rule_free(r);
			return -1;
		}
		nftnl_rule_nlmsg_build_payload(nlh, r);
		nftnl_rule_free(r);
		if (nftnl_batch_update(b->nb) < 0)
			return -1;
	}
	return 0;
}
