// SPDX-License-Identifier: MIT
/* One nft rule's expressions evaluated for the packets of one probe: which sources match. */
/* Over 600 lines as one file: one walker, a handler per expression kind, one register model. */
/*
 * One rule, evaluated symbolically for "a new TCP connection from some CDN address to port
 * P": payload/meta/ct loads become either known bytes (port, protocol, family, ct state NEW)
 * or the source address; cmp, range, bitwise and lookup narrow the set of source addresses
 * that reach the verdict. Anything not modelled (interfaces, marks, xt matches, limits,
 * maps, concatenations) makes the rule "maybe". iptables-nft's `xt match` blobs are decoded
 * by nft_xt.c; `-m set` reads the ipsets.
 */
#include "nft_expr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "checks.h"
#include "ipsets.h"
#include "nft_eval.h"
#include "nft_model.h"
#include "nft_xt.h"

enum reg_kind { R_UNKNOWN = 0, R_KNOWN, R_SADDR, R_IIFNAME, R_IIF, R_FIB };

struct reg {
	enum reg_kind kind;
	uint32_t len;
	uint8_t v[16];  /* R_KNOWN bytes */
	uint32_t off;   /* R_SADDR: first address byte loaded */
	uint32_t mbits; /* R_SADDR: prefix bits kept by a mask; 0: none */
	bool dport;     /* R_KNOWN: the TCP destination port */
};

#define NREGS 20

void nft_expr_dcat(struct match *m, const char *fmt, ...)
{
	size_t off = strlen(m->desc);
	va_list ap;

	if (off + 1 >= sizeof(m->desc))
		return;
	if (off > 0)
		m->desc[off++] = ' ';
	va_start(ap, fmt);
	vsnprintf(m->desc + off, sizeof(m->desc) - off, fmt, ap);
	va_end(ap);
}

static int reg_index(uint32_t r)
{
	if (r >= NFT_REG_1 && r <= NFT_REG_4)
		return (int)(r - NFT_REG_1) * 4;
	if (r >= NFT_REG32_00 && r <= NFT_REG32_15)
		return (int)(r - NFT_REG32_00);
	return -1;
}

static struct reg *get_reg(struct reg *regs, struct nftnl_expr *e, uint16_t attr)
{
	int i;

	if (!nftnl_expr_is_set(e, attr))
		return NULL;
	i = reg_index(nftnl_expr_get_u32(e, attr));
	return i < 0 ? NULL : &regs[i];
}

static void set_reg(struct reg *regs, struct nftnl_expr *e, uint16_t attr, const struct reg *v)
{
	struct reg *r = get_reg(regs, e, attr);

	if (r != NULL)
		*r = *v;
}

/* The probe's transport protocol: UDP, or TCP. */
static uint8_t l4_of(const struct eval *ev)
{
	return ev->l4 == 17 ? 17 : 6;
}

static uint32_t alen(int fam)
{
	return fam == CDA_AF_INET ? 4 : 16;
}

/* Interval of addresses whose loaded prefix (len bytes, mask bits) equals data. */
static void prefix_iv(int fam, const struct reg *r, const uint8_t *data, cda_u128 *lo, cda_u128 *hi)
{
	uint32_t bits = alen(fam) * 8, pbits = r->mbits ? r->mbits : r->len * 8;
	cda_u128 v = nft_model_key(data, r->len) << (bits - r->len * 8);
	cda_u128 hostmask = pbits >= bits ? 0 : (((cda_u128)1 << (bits - pbits)) - 1);

	*lo = v & ~hostmask & fam_max(fam);
	*hi = (*lo | hostmask) & fam_max(fam);
}

/* Narrow m->s to (in ? s AND cond : s MINUS cond). */
static int narrow(struct match *m, const struct ranges *cond, bool in)
{
	struct ranges *o = NULL;
	int rc = in ? ranges_intersect(m->s, cond, &o) : ranges_subtract(m->s, cond, &o);

	if (rc < 0)
		return -1;
	ranges_free(m->s);
	m->s = o;
	if (fam_count(m->s, CDA_AF_INET) + fam_count(m->s, CDA_AF_INET6) == 0)
		m->none = true;
	return 0;
}

static int narrow_iv(struct match *m, int fam, cda_u128 lo, cda_u128 hi, bool in)
{
	struct ranges *cond = ranges_new();
	int rc;

	if (cond == NULL || (lo <= hi && fam_add(cond, fam, lo, hi) < 0)) {
		ranges_free(cond);
		return -1;
	}
	ranges_normalize(cond);
	rc = narrow(m, cond, in);
	ranges_free(cond);
	return rc;
}

static void iv_text(int fam, cda_u128 lo, cda_u128 hi, char *buf)
{
	struct cidr c = {.addr = lo, .family = (uint8_t)fam, .plen = (uint8_t)(alen(fam) * 8)};
	cda_u128 span = hi - lo;

	while (c.plen > 0 && (span & 1)) {
		span >>= 1;
		c.plen--;
	}
	cidr_format(&c, buf);
}

static const char *saddr_word(int fam)
{
	return fam == CDA_AF_INET ? "ip saddr" : "ip6 saddr";
}

static bool known_cmp(int op, const uint8_t *a, const uint8_t *b, uint32_t len)
{
	int d = memcmp(a, b, len);

	switch (op) {
	case NFT_CMP_EQ:
		return d == 0;
	case NFT_CMP_NEQ:
		return d != 0;
	case NFT_CMP_LT:
		return d < 0;
	case NFT_CMP_LTE:
		return d <= 0;
	case NFT_CMP_GT:
		return d > 0;
	case NFT_CMP_GTE:
		return d >= 0;
	}
	return true;
}

/* cmp on the source address r holds (with d: len bytes) narrows m->s. */
static int cmp_saddr(struct eval *ev, struct match *m, const struct reg *r, const uint8_t *d,
		     uint32_t len, int op)
{
	cda_u128 lo, hi, mx = fam_max(ev->fam);
	char t[CIDR_STRLEN];

	if (r->off != 0 || len != r->len) {
		m->maybe = true;
		nft_expr_dcat(m, "%s ...", saddr_word(ev->fam));
		return 0;
	}
	prefix_iv(ev->fam, r, d, &lo, &hi);
	iv_text(ev->fam, lo, hi, t);
	switch (op) {
	case NFT_CMP_EQ:
		nft_expr_dcat(m, "%s %s", saddr_word(ev->fam), t);
		return narrow_iv(m, ev->fam, lo, hi, true);
	case NFT_CMP_NEQ:
		nft_expr_dcat(m, "%s != %s", saddr_word(ev->fam), t);
		return narrow_iv(m, ev->fam, lo, hi, false);
	case NFT_CMP_LT:
		nft_expr_dcat(m, "%s < %s", saddr_word(ev->fam), t);
		return lo == 0 ? (m->none = true, 0) : narrow_iv(m, ev->fam, 0, lo - 1, true);
	case NFT_CMP_LTE:
		nft_expr_dcat(m, "%s <= %s", saddr_word(ev->fam), t);
		return narrow_iv(m, ev->fam, 0, hi, true);
	case NFT_CMP_GT:
		nft_expr_dcat(m, "%s > %s", saddr_word(ev->fam), t);
		return hi == mx ? (m->none = true, 0) : narrow_iv(m, ev->fam, hi + 1, mx, true);
	case NFT_CMP_GTE:
		nft_expr_dcat(m, "%s >= %s", saddr_word(ev->fam), t);
		return narrow_iv(m, ev->fam, lo, mx, true);
	}
	m->maybe = true;
	return 0;
}

/* cmp on the input interface (index or name): only loopback is known (CDN traffic is not). */
static void cmp_iface(struct match *m, const struct reg *r, const uint8_t *d, uint32_t len, int op)
{
	bool eq_ne = op == NFT_CMP_EQ || op == NFT_CMP_NEQ;

	if (r->kind == R_IIF) {
		uint32_t idx = 0;

		if (len == 4)
			memcpy(&idx, d, 4);
		if (len == 4 && eq_ne && idx == 1) { /* the loopback device */
			m->none = op == NFT_CMP_EQ;
			return;
		}
		m->maybe = true;
		nft_expr_dcat(m, "iif ...");
		return;
	}
	if (eq_ne && len >= 3 && memcmp(d, "lo\0", 3) == 0) {
		m->none = op == NFT_CMP_EQ;
		return;
	}
	m->maybe = true;
	nft_expr_dcat(m, "iifname %s\"%.*s\"", op == NFT_CMP_NEQ ? "!= " : "",
		      (int)strnlen((const char *)d, len), (const char *)d);
}

static int do_cmp(struct eval *ev, struct match *m, struct reg *regs, struct nftnl_expr *e)
{
	struct reg *r = get_reg(regs, e, NFTNL_EXPR_CMP_SREG);
	uint32_t len = 0;
	const uint8_t *d = nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len);
	int op = (int)nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP);
	static const uint8_t zero[16];

	if (r == NULL || d == NULL || len == 0 || len > 16) {
		m->maybe = true;
		return 0;
	}
	switch (r->kind) {
	case R_KNOWN:
		if (r->dport && len == 2)
			nft_expr_dcat(m, "%s dport %s%u", l4_of(ev) == 17 ? "udp" : "tcp",
				      op == NFT_CMP_EQ    ? ""
				      : op == NFT_CMP_NEQ ? "!= "
							  : "~",
				      (unsigned int)(d[0] << 8 | d[1]));
		if (len > r->len || !known_cmp(op, r->v, d, len))
			m->none = true;
		return 0;
	case R_IIF:
	case R_IIFNAME:
		cmp_iface(m, r, d, len, op);
		return 0;
	case R_FIB:
		if (memcmp(d, zero, len) == 0 && (op == NFT_CMP_EQ || op == NFT_CMP_NEQ))
			m->none =
				op == NFT_CMP_EQ; /* "fib ... missing": a CDN address is routable */
		else
			m->maybe = true;
		return 0;
	case R_SADDR:
		return cmp_saddr(ev, m, r, d, len, op);
	default:
		m->maybe = true;
		return 0;
	}
}

static int do_range(struct eval *ev, struct match *m, struct reg *regs, struct nftnl_expr *e)
{
	struct reg *r = get_reg(regs, e, NFTNL_EXPR_RANGE_SREG);
	uint32_t lf = 0, lt = 0;
	const uint8_t *from = nftnl_expr_get(e, NFTNL_EXPR_RANGE_FROM_DATA, &lf);
	const uint8_t *to = nftnl_expr_get(e, NFTNL_EXPR_RANGE_TO_DATA, &lt);
	bool neq = nftnl_expr_get_u32(e, NFTNL_EXPR_RANGE_OP) == NFT_RANGE_NEQ;

	if (r == NULL || from == NULL || to == NULL || lf != lt || lf == 0 || lf > 16) {
		m->maybe = true;
		return 0;
	}
	if (r->kind == R_KNOWN && lf <= r->len) {
		bool in = memcmp(r->v, from, lf) >= 0 && memcmp(r->v, to, lf) <= 0;

		if (in == neq)
			m->none = true;
		return 0;
	}
	if (r->kind == R_SADDR && r->off == 0 && r->len == alen(ev->fam) && lf == r->len &&
	    r->mbits == 0) {
		char a[CIDR_STRLEN], b[CIDR_STRLEN];
		struct cidr ca = {.addr = nft_model_key(from, lf),
				  .family = (uint8_t)ev->fam,
				  .plen = (uint8_t)(lf * 8)};
		struct cidr cb = ca;

		cb.addr = nft_model_key(to, lf);
		nft_expr_dcat(m, "%s %s%s-%s", saddr_word(ev->fam), neq ? "!= " : "",
			      cidr_format(&ca, a), cidr_format(&cb, b));
		return narrow_iv(m, ev->fam, ca.addr, cb.addr, !neq);
	}
	m->maybe = true;
	return 0;
}

/* A map lookup: a verdict map on a known key (port, protocol, ct state) gives its element's
 * verdict, or no match; a data map, or a verdict map on the source address, is not
 * evaluated: maybe, and for a verdict map any verdict (V_UNKNOWN). */
static int map_lookup(struct eval *ev, struct match *m, const struct reg *r, struct nftnl_expr *e,
		      struct nset *s, const char *shown)
{
	bool vmap = nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_DREG) == NFT_REG_VERDICT;

	nft_expr_dcat(m, "%s @%s", vmap ? "vmap" : "map", shown ? shown : "?");
	if (vmap && s != NULL && nft_model_set_load(&ev->n->conn, s) < 0)
		return -1;
	if (vmap && s != NULL && !s->broken && r != NULL && r->kind == R_KNOWN &&
	    r->len >= s->klen && s->klen > 0) {
		cda_u128 k = nft_model_key(r->v, s->klen);

		for (size_t i = 0; i < s->n_vm; i++) {
			if (k < s->vm[i].lo || k > s->vm[i].hi)
				continue;
			m->verdict = s->vm[i].verdict;
			m->target = s->vm[i].chain[0] ? s->vm[i].chain : NULL;
			if (m->target != NULL)
				nft_expr_dcat(m, "(%s %s)",
					      m->verdict == NFT_GOTO ? "goto" : "jump", m->target);
			return 0;
		}
		m->none = true; /* no element: the rule does not match */
		return 0;
	}
	m->maybe = true;
	if (vmap)
		m->verdict = V_UNKNOWN;
	return 0;
}

/* The fields of a concatenated key in the registers from index at: known bytes, or the
 * whole source address (at most one). Whether each is modelled. */
struct field {
	uint32_t off, len; /* in the key */
	const struct reg *r;
};

static bool concat_fields(const struct eval *ev, const struct reg *regs, size_t at,
			  uint32_t klen, struct field *f, size_t *nf, int *saddr)
{
	uint32_t off = 0;

	*nf = 0;
	*saddr = -1;
	while (off < klen && *nf < CONCAT_MAX / 4) {
		const struct reg *r = at + off / 4 < NREGS ? &regs[at + off / 4] : NULL;

		if (r == NULL || r->len == 0 || off + r->len > klen)
			return false;
		if (r->kind == R_SADDR) {
			if (*saddr >= 0 || r->off != 0 || r->len != alen(ev->fam) || r->mbits != 0)
				return false;
			*saddr = (int)*nf;
		} else if (r->kind != R_KNOWN) {
			return false;
		}
		f[(*nf)++] = (struct field){.off = off, .len = r->len, .r = r};
		off += (r->len + 3) & ~3u; /* each field takes whole 32-bit registers */
	}
	return off == klen;
}

/* A lookup in a set with a concatenated key (`ip saddr . tcp dport @pairs`): the elements
 * whose known fields hold the packet's values give the source addresses that match. */
static int concat_lookup(struct eval *ev, struct match *m, const struct reg *regs, size_t at,
			 const struct nset *s, bool inv, const char *shown)
{
	struct field f[CONCAT_MAX / 4];
	struct ranges *cond = ranges_new();
	size_t nf = 0;
	int sa = -1, rc = 0;
	bool any = false;

	nft_expr_dcat(m, "%s... @%s", inv ? "!= " : "", shown);
	if (cond == NULL)
		return -1;
	if (!concat_fields(ev, regs, at, s->klen, f, &nf, &sa)) {
		m->maybe = true;
		goto out;
	}
	for (size_t i = 0; i < s->n_cc && rc == 0; i++) {
		const struct celem *c = &s->cc[i];
		bool hit = true;

		for (size_t j = 0; j < nf && hit; j++)
			if ((int)j != sa)
				hit = memcmp(f[j].r->v, c->key + f[j].off, f[j].len) >= 0 &&
				      memcmp(f[j].r->v, c->end + f[j].off, f[j].len) <= 0;
		if (!hit)
			continue;
		any = true;
		if (sa >= 0)
			rc = fam_add(cond, ev->fam, nft_model_key(c->key + f[sa].off, f[sa].len),
				     nft_model_key(c->end + f[sa].off, f[sa].len));
	}
	if (rc < 0)
		goto out;
	if (sa < 0) { /* no source field: the packet's values are in the set, or not */
		m->none = any == inv;
		goto out;
	}
	ranges_normalize(cond);
	rc = narrow(m, cond, !inv);
out:
	ranges_free(cond);
	return rc;
}

static int do_lookup(struct eval *ev, struct match *m, struct reg *regs, struct nftnl_expr *e,
		     uint32_t family, const char *table)
{
	struct reg *r = get_reg(regs, e, NFTNL_EXPR_LOOKUP_SREG);
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);
	bool inv = nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_FLAGS) &&
		   (nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS) & NFT_LOOKUP_F_INV);
	struct nset *s = name != NULL ? nft_model_set(ev->n, family, table, name) : NULL;
	bool anon = s != NULL && (s->flags & NFT_SET_ANONYMOUS);
	const char *shown = anon ? "{...}" : name;

	if (nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_DREG))
		return map_lookup(ev, m, r, e, s, shown);
	if (r == NULL || s == NULL || nft_model_set_load(&ev->n->conn, s) < 0) {
		if (s != NULL && s->elems == NULL && !s->broken)
			return -1;
		m->maybe = true;
		return 0;
	}
	if (s->broken) {
		m->maybe = true;
		nft_expr_dcat(m, "... @%s", shown);
		return 0;
	}
	if (s->ktype >= 64)
		return concat_lookup(ev, m, regs, (size_t)(r - regs), s, inv, shown);
	if (r->kind == R_KNOWN && r->len >= s->klen) {
		bool in = ranges_contains(s->elems, s->klen == 16 ? CDA_AF_INET6 : CDA_AF_INET,
					  nft_model_key(r->v, s->klen));

		if (s->klen == 2)
			nft_expr_dcat(m, "%s dport %s%s%s", l4_of(ev) == 17 ? "udp" : "tcp",
				      inv ? "!= " : "", anon ? "" : "@",
				      shown);
		if (in == inv)
			m->none = true;
		return 0;
	}
	if (r->kind == R_SADDR && r->off == 0 && r->len == alen(ev->fam) && r->mbits == 0 &&
	    s->klen == r->len) {
		struct ranges *cond = fam_only(s->elems, ev->fam);
		int rc;

		if (cond == NULL)
			return -1;
		nft_expr_dcat(m, "%s %s@%s", saddr_word(ev->fam), inv ? "!= " : "", shown);
		if (doctor_is_own(ev->c, family, table, name))
			m->ours = true;
		rc = narrow(m, cond, !inv);
		ranges_free(cond);
		return rc;
	}
	m->maybe = true;
	nft_expr_dcat(m, "... @%s", shown);
	return 0;
}

static void do_payload(struct eval *ev, struct reg *regs, struct nftnl_expr *e)
{
	struct reg v = {0};
	uint32_t base, off, len;

	if (!nftnl_expr_is_set(e, NFTNL_EXPR_PAYLOAD_DREG))
		return; /* a payload write */
	base = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE);
	off = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET);
	len = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN);
	v.len = len;
	if (base == NFT_PAYLOAD_NETWORK_HEADER) {
		uint32_t so = ev->fam == CDA_AF_INET ? 12 : 8, po = ev->fam == CDA_AF_INET ? 9 : 6;

		if (off >= so && off + len <= so + alen(ev->fam) && len > 0) {
			v.kind = R_SADDR;
			v.off = off - so;
		} else if (off == po && len == 1) {
			v.kind = R_KNOWN;
			v.v[0] = l4_of(ev);
		}
	} else if (base == NFT_PAYLOAD_TRANSPORT_HEADER && off == 2 && len == 2) {
		v.kind = R_KNOWN;
		v.dport = true;
		v.v[0] = (uint8_t)(ev->port >> 8);
		v.v[1] = (uint8_t)ev->port;
	} else if (base == NFT_PAYLOAD_TRANSPORT_HEADER && off == 13 && len == 1 &&
		   l4_of(ev) == 6) {
		v.kind = R_KNOWN; /* TCP flags: a new connection's first packet is a SYN */
		v.v[0] = 0x02;
	}
	set_reg(regs, e, NFTNL_EXPR_PAYLOAD_DREG, &v);
}

static void do_meta(struct eval *ev, struct reg *regs, struct nftnl_expr *e)
{
	struct reg v = {0};

	if (!nftnl_expr_is_set(e, NFTNL_EXPR_META_DREG))
		return; /* meta set */
	switch (nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY)) {
	case NFT_META_NFPROTO:
		v.kind = R_KNOWN;
		v.len = 1;
		v.v[0] = ev->fam == CDA_AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
		break;
	case NFT_META_L4PROTO:
		v.kind = R_KNOWN;
		v.len = 1;
		v.v[0] = l4_of(ev);
		break;
	case NFT_META_PROTOCOL:
		v.kind = R_KNOWN;
		v.len = 2;
		v.v[0] = ev->fam == CDA_AF_INET ? 0x08 : 0x86;
		v.v[1] = ev->fam == CDA_AF_INET ? 0x00 : 0xdd;
		break;
	case NFT_META_IIFNAME:
		v.kind = R_IIFNAME;
		break;
	case NFT_META_IIF:
		v.kind = R_IIF;
		break;
	default:
		break;
	}
	set_reg(regs, e, NFTNL_EXPR_META_DREG, &v);
}

static void do_ct(struct reg *regs, struct nftnl_expr *e)
{
	struct reg v = {0};
	uint32_t st = 1u << 3; /* IP_CT_NEW's bit: the first packet of the connection */

	if (!nftnl_expr_is_set(e, NFTNL_EXPR_CT_DREG))
		return;
	switch (nftnl_expr_get_u32(e, NFTNL_EXPR_CT_KEY)) {
	case NFT_CT_STATE:
		v.kind = R_KNOWN;
		v.len = 4;
		memcpy(v.v, &st, 4);
		break;
	case NFT_CT_DIRECTION:
		v.kind = R_KNOWN;
		v.len = 1; /* original */
		break;
	case NFT_CT_STATUS:
		v.kind = R_KNOWN; /* a new, unconfirmed entry to a local address: no NAT bits */
		v.len = 4;
		break;
	default:
		break;
	}
	set_reg(regs, e, NFTNL_EXPR_CT_DREG, &v);
}

static void do_bitwise(struct reg *regs, struct nftnl_expr *e)
{
	struct reg *src = get_reg(regs, e, NFTNL_EXPR_BITWISE_SREG), v = {0};
	uint32_t lm = 0, lx = 0, len = nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_LEN);
	const uint8_t *mask = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_MASK, &lm);
	const uint8_t *xr = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_XOR, &lx);
	bool boolop = !nftnl_expr_is_set(e, NFTNL_EXPR_BITWISE_OP) ||
		      nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_OP) == NFT_BITWISE_BOOL;

	if (src != NULL && boolop && mask != NULL && xr != NULL && lm == len && lx == len &&
	    len <= 16) {
		if (src->kind == R_KNOWN && src->len >= len) {
			v.kind = R_KNOWN;
			v.len = len;
			for (uint32_t i = 0; i < len; i++)
				v.v[i] = (uint8_t)((src->v[i] & mask[i]) ^ xr[i]);
		} else if (src->kind == R_SADDR && src->len == len) {
			uint32_t bits = 0;
			bool prefix = true, zero = true;

			for (uint32_t i = 0; i < len * 8; i++) {
				bool b = mask[i / 8] & (0x80 >> (i % 8));

				if (b && bits != i)
					prefix = false;
				bits += b;
			}
			for (uint32_t i = 0; i < len; i++)
				zero &= xr[i] == 0;
			if (prefix && zero && src->mbits == 0) {
				v = *src;
				v.mbits = bits ? bits : 1;
				if (bits == 0)
					v.kind = R_UNKNOWN;
			}
		}
	}
	set_reg(regs, e, NFTNL_EXPR_BITWISE_DREG, &v);
}

/* The ipset behind an `-m set` match: narrow m->s to its members (or outside them). */
static int xt_set(struct eval *ev, struct match *m, const struct xt_out *o)
{
	const struct ipset_info *s = ipsets_by_index(nft_model_ipsets(ev->n), o->set_index);
	struct ranges *cond;
	int rc;

	if (s == NULL || s->broken) {
		m->maybe = true;
		nft_expr_dcat(m, "-m set %s--match-set %s src", o->inv ? "! " : "",
			      s ? s->name : "?");
		return 0;
	}
	nft_expr_dcat(m, "-m set %s--match-set %s src", o->inv ? "! " : "", s->name);
	if (s->fam != ev->fam) { /* an ipset of the other family matches nothing */
		m->none = !o->inv;
		return 0;
	}
	if ((cond = fam_only(s->elems, ev->fam)) == NULL)
		return -1;
	rc = narrow(m, cond, !o->inv);
	ranges_free(cond);
	return rc;
}

/* An `xt match` expression (iptables-nft's -m NAME), decoded from its blob. */
static int do_xt(struct eval *ev, struct match *m, struct nftnl_expr *e)
{
	struct xt_pkt p = {.fam = ev->fam, .l4 = l4_of(ev), .dport = ev->port};
	uint32_t len = 0;
	const void *info = nftnl_expr_get(e, NFTNL_EXPR_MT_INFO, &len);
	struct xt_out o;

	nft_xt_match(nftnl_expr_get_str(e, NFTNL_EXPR_MT_NAME),
		     nftnl_expr_get_u32(e, NFTNL_EXPR_MT_REV), info, len, &p, &o);
	switch (o.res) {
	case XT_YES:
		if (o.desc[0] != '\0')
			nft_expr_dcat(m, "%s", o.desc);
		return 0;
	case XT_NO:
		m->none = true;
		return 0;
	case XT_SRC: {
		char a[CIDR_STRLEN], b[CIDR_STRLEN];

		if (ev->fam == CDA_AF_INET) {
			ipv4_format((uint32_t)o.lo, a);
			ipv4_format((uint32_t)o.hi, b);
		} else {
			ipv6_format(o.lo, a);
			ipv6_format(o.hi, b);
		}
		nft_expr_dcat(m, "%s %s-%s", o.desc, a, b);
		return narrow_iv(m, ev->fam, o.lo, o.hi, !o.inv);
	}
	case XT_SET:
		return xt_set(ev, m, &o);
	case XT_MAYBE:
		break;
	}
	m->maybe = true;
	m->rate |= o.rate;
	nft_expr_dcat(m, "%s", o.desc);
	return 0;
}

struct walk {
	struct eval *ev;
	struct match *m;
	struct reg regs[NREGS];
	uint32_t family;
	const char *table;
	int rc;
};

static int expr_cb(struct nftnl_expr *e, void *data)
{
	struct walk *w = data;
	struct match *m = w->m;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
	int rc = 0;

	if (m->none || name == NULL)
		return m->none ? -1 : 0; /* stop: this rule cannot match */
	if (strcmp(name, "payload") == 0) {
		do_payload(w->ev, w->regs, e);
	} else if (strcmp(name, "meta") == 0) {
		do_meta(w->ev, w->regs, e);
	} else if (strcmp(name, "ct") == 0) {
		do_ct(w->regs, e);
	} else if (strcmp(name, "bitwise") == 0) {
		do_bitwise(w->regs, e);
	} else if (strcmp(name, "cmp") == 0) {
		rc = do_cmp(w->ev, m, w->regs, e);
	} else if (strcmp(name, "range") == 0) {
		rc = do_range(w->ev, m, w->regs, e);
	} else if (strcmp(name, "lookup") == 0) {
		rc = do_lookup(w->ev, m, w->regs, e, w->family, w->table);
	} else if (strcmp(name, "fib") == 0) {
		struct reg v = {.kind = R_FIB};

		set_reg(w->regs, e, NFTNL_EXPR_FIB_DREG, &v);
	} else if (strcmp(name, "immediate") == 0) {
		if (nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG) == NFT_REG_VERDICT) {
			m->verdict = (int)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT);
			if (nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN))
				m->target = nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN);
		} else {
			struct reg v = {.kind = R_KNOWN};
			uint32_t len = 0;
			const void *d = nftnl_expr_get(e, NFTNL_EXPR_IMM_DATA, &len);

			if (d != NULL && len <= 16) {
				v.len = len;
				memcpy(v.v, d, len);
			} else {
				v.kind = R_UNKNOWN;
			}
			set_reg(w->regs, e, NFTNL_EXPR_IMM_DREG, &v);
		}
	} else if (strcmp(name, "reject") == 0) {
		m->verdict = NF_DROP;
		m->reject = true;
		nft_expr_dcat(m, "reject");
	} else if (strcmp(name, "target") == 0) {
		const char *t = nftnl_expr_get_str(e, NFTNL_EXPR_TG_NAME);

		if (t != NULL && strcmp(t, "REJECT") == 0) {
			m->verdict = NF_DROP;
			m->reject = true;
			nft_expr_dcat(m, "-j REJECT");
		}
	} else if (strcmp(name, "match") == 0) {
		rc = do_xt(w->ev, m, e);
	} else if (strcmp(name, "counter") == 0 || strcmp(name, "log") == 0 ||
		   strcmp(name, "last") == 0 || strcmp(name, "dynset") == 0 ||
		   strcmp(name, "notrack") == 0 || strcmp(name, "objref") == 0) {
		/* statements that never decide whether a rule matches */
	} else {
		/* limit, quota, connlimit, exthdr, socket, ...: not modelled */
		m->maybe = true;
		m->rate |= strcmp(name, "limit") == 0 || strcmp(name, "connlimit") == 0;
		for (int i = 0; i < NREGS; i++)
			w->regs[i].kind = R_UNKNOWN;
		nft_expr_dcat(m, "%s ...", name);
	}
	if (rc < 0) {
		w->rc = -1;
		return -1;
	}
	return m->none ? -1 : 0;
}

int nft_expr_match(struct eval *ev, const struct nchain *ch, struct nftnl_rule *r, struct match *m)
{
	struct walk w = {.ev = ev, .m = m, .family = ch->family, .table = ch->table};

	nftnl_expr_foreach(r, expr_cb, &w);
	return w.rc;
}
