// SPDX-License-Identifier: MIT
#include "nft_batch.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
#include <linux/netfilter/nfnetlink.h>

#include "cda_error.h"
#include "ranges.h"

#define BATCH_PAGE (2u << 20)
#define BATCH_OVERRUN (UINT16_MAX + 4096u)
/* Largest interval in bytes: IPv6 start (28) + end with flags (36). */
#define MAX_RANGE_BYTES 64u
/* nft's datatype numbers (nftables include/datatype.h) and byte order (BYTEORDER_BIG_ENDIAN) */
#define TYPE_IPADDR 7u
#define TYPE_IP6ADDR 8u
#define BYTEORDER_BIG 2u

struct nft_batch {
	struct nftnl_batch *nb;
	struct iovec *iov;
	size_t n_iov, total;
	struct nft_msg_info *msgs;
	size_t n_msgs, cap;
	uint32_t seq0, seq, end_seq;
	size_t elem_msgs;
};

static struct nft_msg_info *new_info(struct nft_batch *b, int kind, int fam)
{
	struct nft_msg_info *mi;

	if (b->n_msgs == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct nft_msg_info *v = reallocarray(b->msgs, cap, sizeof(*v));

		if (v == NULL)
			return NULL;
		b->msgs = v;
		b->cap = cap;
	}
	mi = &b->msgs[b->n_msgs++];
	memset(mi, 0, sizeof(*mi));
	/* The message about to be built starts here; at least BATCH_OVERRUN bytes are free.
	 * Zero them: libmnl 1.0.4 leaves attribute padding unwritten (valgrind sees it sent). */
	memset(nftnl_batch_buffer(b->nb), 0, BATCH_OVERRUN);
	mi->seq = b->seq++;
	mi->kind = kind;
	mi->fam = fam;
	return mi;
}

static void key4(uint32_t a, uint8_t *out)
{
	uint32_t be = htonl(a);

	memcpy(out, &be, 4);
}

static void key6(cda_u128 a, uint8_t *out)
{
	for (int i = 15; i >= 0; i--) {
		out[i] = (uint8_t)a;
		a >>= 8;
	}
}

static void put_elem(struct nlmsghdr *nlh, const uint8_t *key, size_t len, bool end)
{
	struct nlattr *el = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	struct nlattr *k = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);

	mnl_attr_put(nlh, NFTA_DATA_VALUE, len, key);
	mnl_attr_nest_end(nlh, k);
	if (end)
		mnl_attr_put_u32(nlh, NFTA_SET_ELEM_FLAGS, htonl(NFT_SET_ELEM_INTERVAL_END));
	mnl_attr_nest_end(nlh, el);
}

/* Put one interval: start key lo, end key hi+1 unless hi is the top address. */
static void put_range(struct nlmsghdr *nlh, int fam, size_t i, const struct ranges *r)
{
	uint8_t k[16];

	if (fam == CDA_AF_INET) {
		const struct range4 *v = &ranges_v4(r)[i];

		key4(v->lo, k);
		put_elem(nlh, k, 4, false);
		if (v->hi != UINT32_MAX) {
			key4(v->hi + 1, k);
			put_elem(nlh, k, 4, true);
		}
	} else {
		const struct range6 *v = &ranges_v6(r)[i];

		key6(v->lo, k);
		put_elem(nlh, k, 16, false);
		if (v->hi != ~(cda_u128)0) {
			key6(v->hi + 1, k);
			put_elem(nlh, k, 16, true);
		}
	}
}

static struct nlmsghdr *elem_hdr(struct nft_batch *b, const struct nft_plan *p, int kind,
				 const char *set, struct nft_msg_info *mi)
{
	struct nlmsghdr *nlh;

	nlh = nftnl_nlmsg_build_hdr(nftnl_batch_buffer(b->nb), (uint16_t)kind, p->family,
				    kind == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0, mi->seq);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, p->table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	return nlh;
}

/* All items of one family of r as DELSETELEM/NEWSETELEM messages, each nest <= 64 KiB. */
static int put_elems(struct nft_batch *b, const struct nft_plan *p, int kind, int fam,
		     const struct ranges *r)
{
	const char *set = fam == CDA_AF_INET ? p->set_v4 : p->set_v6;
	size_t n = fam == CDA_AF_INET ? ranges_count4(r) : ranges_count6(r);
	size_t i = 0;

	while (i < n) {
		struct nft_msg_info *mi = new_info(b, kind, fam);
		struct nlmsghdr *nlh;
		struct nlattr *list;

		if (mi == NULL)
			return -1;
		nlh = elem_hdr(b, p, kind, set, mi);
		list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
		mi->elem_offset = (uint32_t)((char *)list - (char *)nlh);
		mi->first = i;
		while (i < n && (size_t)((char *)mnl_nlmsg_get_payload_tail(nlh) - (char *)list) +
						MAX_RANGE_BYTES <=
					UINT16_MAX) {
			put_range(nlh, fam, i, r);
			i++;
		}
		mi->count = i - mi->first;
		mnl_attr_nest_end(nlh, list);
		b->elem_msgs++;
		if (nftnl_batch_update(b->nb) < 0)
			return -1;
	}
	return 0;
}

static int put_flush(struct nft_batch *b, const struct nft_plan *p, int fam)
{
	struct nft_msg_info *mi = new_info(b, NFT_MSG_DELSETELEM, fam);

	if (mi == NULL)
		return -1;
	elem_hdr(b, p, NFT_MSG_DELSETELEM, fam == CDA_AF_INET ? p->set_v4 : p->set_v6, mi);
	return nftnl_batch_update(b->nb);
}

static int put_table(struct nft_batch *b, const struct nft_plan *p)
{
	struct nft_msg_info *mi = new_info(b, NFT_MSG_NEWTABLE, 0);
	struct nlmsghdr *nlh;

	if (mi == NULL)
		return -1;
	nlh = nftnl_nlmsg_build_hdr(nftnl_batch_buffer(b->nb), NFT_MSG_NEWTABLE, p->family,
				    NLM_F_CREATE, mi->seq);
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, p->table);
	return nftnl_batch_update(b->nb);
}

static int put_set(struct nft_batch *b, const struct nft_plan *p, int fam, uint32_t id)
{
	struct nft_msg_info *mi = new_info(b, NFT_MSG_NEWSET, fam);
	struct nftnl_udata_buf *ud;
	struct nlmsghdr *nlh;

	if (mi == NULL || (ud = nftnl_udata_buf_alloc(64)) == NULL)
		return -1;
	/* Read only by nft(8): print keys as addresses, merge when nft itself adds. */
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, BYTEORDER_BIG);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_MERGE_ELEMENTS, 1);
	nlh = nftnl_nlmsg_build_hdr(nftnl_batch_buffer(b->nb), NFT_MSG_NEWSET, p->family,
				    NLM_F_CREATE, mi->seq);
	mnl_attr_put_strz(nlh, NFTA_SET_TABLE, p->table);
	mnl_attr_put_strz(nlh, NFTA_SET_NAME, fam == CDA_AF_INET ? p->set_v4 : p->set_v6);
	mnl_attr_put_u32(nlh, NFTA_SET_FLAGS, htonl(NFT_SET_INTERVAL));
	mnl_attr_put_u32(nlh, NFTA_SET_KEY_TYPE,
			 htonl(fam == CDA_AF_INET ? TYPE_IPADDR : TYPE_IP6ADDR));
	mnl_attr_put_u32(nlh, NFTA_SET_KEY_LEN, htonl(fam == CDA_AF_INET ? 4 : 16));
	mnl_attr_put_u32(nlh, NFTA_SET_ID, htonl(id));
	mnl_attr_put(nlh, NFTA_SET_USERDATA, nftnl_udata_buf_len(ud), nftnl_udata_buf_data(ud));
	nftnl_udata_buf_free(ud);
	return nftnl_batch_update(b->nb);
}

/* ---- origin lock ---- */

#define LOOPBACK_IFINDEX 1u
#define CT_ESTABLISHED_RELATED 0x06u /* NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | ..(RELATED) */
#define MAX_LOCK_RULES (4 + NFT_LOCK_MAX_ALLOW + 2 * NFT_LOCK_MAX_PORTS)

enum rule_kind { R_LO, R_CT, R_SET4, R_SET6, R_ALLOW, R_TCP, R_UDP };

struct rule_desc {
	enum rule_kind kind;
	size_t idx; /* allow entry or port range */
};

static const char *const lock_chain[2] = {NFT_LOCK_CHAIN_INPUT, NFT_LOCK_CHAIN_FORWARD};

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

static uint32_t fnv(uint32_t h, const void *data, size_t len)
{
	const uint8_t *c = data;

	for (size_t i = 0; i < len; i++)
		h = (h ^ c[i]) * 16777619u;
	return h;
}

static uint32_t fnv_str(uint32_t h, const char *s)
{
	return fnv(h, s != NULL ? s : "", s != NULL ? strlen(s) + 1 : 1);
}

/* What the rules of one chain depend on: their layout version, table, sets, spec, hook. */
static uint32_t lock_hash(const struct nft_plan *p, const struct nft_lock_spec *s, int hook)
{
	uint32_t h = 2166136261u;
	int32_t prio = NFT_LOCK_PRIORITY;

	h = fnv_str(h, "cdnallow lock v1");
	h = fnv(h, &p->family, sizeof(p->family));
	h = fnv_str(h, p->table);
	h = fnv_str(h, p->set_v4);
	h = fnv_str(h, p->set_v6);
	h = fnv(h, &hook, sizeof(hook));
	h = fnv(h, &prio, sizeof(prio));
	h = fnv(h, &s->n_tcp, sizeof(s->n_tcp));
	h = fnv(h, s->tcp, s->n_tcp * sizeof(s->tcp[0]));
	h = fnv(h, &s->n_udp, sizeof(s->n_udp));
	h = fnv(h, s->udp, s->n_udp * sizeof(s->udp[0]));
	for (size_t i = 0; i < s->n_allow; i++) {
		uint8_t a[18];

		key6(s->allow[i].addr, a);
		a[16] = s->allow[i].family;
		a[17] = s->allow[i].plen;
		h = fnv(h, a, sizeof(a));
	}
	return h;
}

void nft_lock_comment(const struct nft_plan *p, const struct nft_lock_spec *s, int hook, size_t i,
		      char *buf, size_t size)
{
	snprintf(buf, size, "cdnallow lock %08x #%zu", lock_hash(p, s, hook), i + 1);
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
		key4((uint32_t)c->addr, addr);
	else
		key6(c->addr, addr);
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
		       const struct nft_port_range *pr)
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
	nftnl_rule_set_str(rb.r, NFTNL_RULE_CHAIN, lock_chain[hook]);
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
	struct nft_msg_info *mi = new_info(b, kind, 0);

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
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, lock_chain[hook]);
	return nftnl_batch_update(b->nb);
}

static int put_del_chain(struct nft_batch *b, const struct nft_plan *p, int hook)
{
	struct nlmsghdr *nlh;

	if (put_flush_chain(b, p, hook) < 0 ||
	    (nlh = lock_hdr(b, p, NFT_MSG_DELCHAIN, 0, hook, 0)) == NULL)
		return -1;
	mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, p->table);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, lock_chain[hook]);
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
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, lock_chain[hook]);
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

static int put_lock_chain(struct nft_batch *b, const struct nft_plan *p, int hook)
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

static int build(struct nft_batch *b, const struct nft_plan *p)
{
	const char *sets[2] = {p->set_v4, p->set_v6};
	const int fams[2] = {CDA_AF_INET, CDA_AF_INET6};
	struct nft_msg_info *mi;
	struct nlmsghdr *nlh;

	if ((mi = new_info(b, NFNL_MSG_BATCH_BEGIN, 0)) == NULL)
		return -1;
	nlh = nftnl_batch_begin(nftnl_batch_buffer(b->nb), mi->seq);
	if (p->has_genid)
		mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(p->genid));
	if (nftnl_batch_update(b->nb) < 0)
		return -1;
	if (p->create) {
		if (put_table(b, p) < 0)
			return -1;
		for (int i = 0; i < 2; i++)
			if (sets[i] != NULL && put_set(b, p, fams[i], (uint32_t)i + 1) < 0)
				return -1;
	}
	/* Deletes first: the kernel checks overlaps against the next generation. */
	for (int i = 0; i < 2; i++) {
		if (sets[i] == NULL)
			continue;
		if (p->flush) {
			if (put_flush(b, p, fams[i]) < 0)
				return -1;
		} else if (p->del != NULL &&
			   put_elems(b, p, NFT_MSG_DELSETELEM, fams[i], p->del) < 0) {
			return -1;
		}
	}
	for (int i = 0; i < 2; i++)
		if (sets[i] != NULL && p->add != NULL &&
		    put_elems(b, p, NFT_MSG_NEWSETELEM, fams[i], p->add) < 0)
			return -1;
	/* The lock after the elements: same transaction, so it never sees a partial set. */
	for (int h = 0; p->lock != NULL && h < 2; h++)
		if (put_lock_chain(b, p, h) < 0)
			return -1;
	if ((mi = new_info(b, NFNL_MSG_BATCH_END, 0)) == NULL)
		return -1;
	b->end_seq = mi->seq;
	nlh = nftnl_batch_end(nftnl_batch_buffer(b->nb), mi->seq);
	/* Since 6.10 this ack is sent only after a successful commit. */
	nlh->nlmsg_flags |= NLM_F_ACK;
	return nftnl_batch_update(b->nb);
}

int nft_batch_build(const struct nft_plan *plan, uint32_t seq0, struct nft_batch **out,
		    struct cda_error *err)
{
	struct nft_batch *b;
	int n;

	if (plan == NULL || plan->table == NULL)
		return cda_error_set(err, CDA_ESYS, "nft batch: no table in the plan");
	if ((b = calloc(1, sizeof(*b))) == NULL)
		goto nomem;
	b->seq0 = b->seq = seq0;
	if ((b->nb = nftnl_batch_alloc(BATCH_PAGE, BATCH_OVERRUN)) == NULL || build(b, plan) < 0)
		goto nomem;
	n = nftnl_batch_iovec_len(b->nb);
	if (n <= 0 || (b->iov = reallocarray(NULL, (size_t)n, sizeof(*b->iov))) == NULL)
		goto nomem;
	nftnl_batch_iovec(b->nb, b->iov, (uint32_t)n);
	b->n_iov = (size_t)n;
	for (size_t i = 0; i < b->n_iov; i++)
		b->total += b->iov[i].iov_len;
	*out = b;
	return 0;
nomem:
	if (errno == 0)
		errno = ENOMEM;
	cda_error_sys(err, CDA_ESYS, "building the nft batch");
	nft_batch_free(b);
	return -1;
}

void nft_batch_free(struct nft_batch *b)
{
	if (b == NULL)
		return;
	if (b->nb != NULL)
		nftnl_batch_free(b->nb);
	free(b->iov);
	free(b->msgs);
	free(b);
}

const struct iovec *nft_batch_iov(const struct nft_batch *b, size_t *n_iov, size_t *total)
{
	if (n_iov != NULL)
		*n_iov = b->n_iov;
	if (total != NULL)
		*total = b->total;
	return b->iov;
}

size_t nft_batch_msg_count(const struct nft_batch *b)
{
	return b->n_msgs;
}

const struct nft_msg_info *nft_batch_msg(const struct nft_batch *b, uint32_t seq)
{
	uint32_t i = seq - b->seq0;

	return i < b->n_msgs ? &b->msgs[i] : NULL;
}

uint32_t nft_batch_end_seq(const struct nft_batch *b)
{
	return b->end_seq;
}

size_t nft_batch_elem_msgs(const struct nft_batch *b)
{
	return b->elem_msgs;
}

/* Decoding. IPv4 elements are packed as key << 1 | is_start, so END sorts first on ties. */
struct elem6 {
	cda_u128 key;
	bool start;
};

struct nft_elems {
	int fam;
	uint64_t *v4;
	struct elem6 *v6;
	size_t n, cap;
};

struct nft_elems *nft_elems_new(int fam)
{
	struct nft_elems *e;

	if (fam != CDA_AF_INET && fam != CDA_AF_INET6) {
		errno = EINVAL;
		return NULL;
	}
	if ((e = calloc(1, sizeof(*e))) != NULL)
		e->fam = fam;
	return e;
}

void nft_elems_free(struct nft_elems *e)
{
	if (e == NULL)
		return;
	free(e->v4);
	free(e->v6);
	free(e);
}

int nft_elems_add(struct nft_elems *e, const void *key, size_t key_len, bool interval_end)
{
	const uint8_t *k = key;

	if (key_len != (e->fam == CDA_AF_INET ? 4u : 16u)) {
		errno = EINVAL;
		return -1;
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 256;
		void *v = e->fam == CDA_AF_INET ? reallocarray(e->v4, cap, sizeof(*e->v4))
						: reallocarray(e->v6, cap, sizeof(*e->v6));

		if (v == NULL)
			return -1;
		if (e->fam == CDA_AF_INET)
			e->v4 = v;
		else
			e->v6 = v;
		e->cap = cap;
	}
	if (e->fam == CDA_AF_INET) {
		uint32_t be;

		memcpy(&be, k, 4);
		e->v4[e->n++] = (uint64_t)ntohl(be) << 1 | (interval_end ? 0 : 1);
	} else {
		cda_u128 a = 0;

		for (int i = 0; i < 16; i++)
			a = a << 8 | k[i];
		e->v6[e->n].key = a;
		e->v6[e->n++].start = !interval_end;
	}
	return 0;
}

static int cmp64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int cmp6(const void *a, const void *b)
{
	const struct elem6 *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (int)x->start - (int)y->start;
}

/* Dumps come in descending order: reverse them, sort only when that was not enough. */
static void order(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	char *v = base, tmp[sizeof(struct elem6)];
	size_t i;

	if (n < 2)
		return;
	for (i = 1; i < n && cmp(v + (i - 1) * size, v + i * size) >= 0; i++)
		;
	if (i == n) {
		for (size_t a = 0, b = n - 1; a < b; a++, b--) {
			memcpy(tmp, v + a * size, size);
			memcpy(v + a * size, v + b * size, size);
			memcpy(v + b * size, tmp, size);
		}
	}
	for (i = 1; i < n && cmp(v + (i - 1) * size, v + i * size) <= 0; i++)
		;
	if (i < n)
		qsort(v, n, size, cmp);
}

static int finish4(struct nft_elems *e, struct ranges *out)
{
	bool open = false;
	uint32_t lo = 0;

	order(e->v4, e->n, sizeof(*e->v4), cmp64);
	for (size_t i = 0; i < e->n; i++) {
		uint32_t key = (uint32_t)(e->v4[i] >> 1);

		if (e->v4[i] & 1) {
			/* A start while one is open: the open one ends just below it. */
			if (open && key > lo && ranges_add4(out, lo, key - 1) < 0)
				return -1;
			open = true;
			lo = key;
		} else if (open) {
			open = false;
			if (key > lo && ranges_add4(out, lo, key - 1) < 0)
				return -1;
		}
	}
	if (open && ranges_add4(out, lo, UINT32_MAX) < 0)
		return -1;
	return 0;
}

static int finish6(struct nft_elems *e, struct ranges *out)
{
	bool open = false;
	cda_u128 lo = 0;

	order(e->v6, e->n, sizeof(*e->v6), cmp6);
	for (size_t i = 0; i < e->n; i++) {
		cda_u128 key = e->v6[i].key;

		if (e->v6[i].start) {
			if (open && key > lo && ranges_add6(out, lo, key - 1) < 0)
				return -1;
			open = true;
			lo = key;
		} else if (open) {
			open = false;
			if (key > lo && ranges_add6(out, lo, key - 1) < 0)
				return -1;
		}
	}
	if (open && ranges_add6(out, lo, ~(cda_u128)0) < 0)
		return -1;
	return 0;
}

int nft_elems_finish(struct nft_elems *e, struct ranges *out)
{
	int rc;

	if (e == NULL)
		return -1;
	rc = e->fam == CDA_AF_INET ? finish4(e, out) : finish6(e, out);
	if (rc == 0)
		ranges_sort(out);
	nft_elems_free(e);
	return rc;
}
