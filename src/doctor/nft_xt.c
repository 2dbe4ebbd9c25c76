// SPDX-License-Identifier: MIT
/*
 * The xtables matches iptables-nft keeps as `xt match` expressions, decoded from their info
 * blobs (layouts from the kernel's uapi headers) for one packet: the first packet of a new
 * connection from a remote unicast address to a local one. Conntrack state is NEW, addrtype
 * is UNICAST to LOCAL, ports are known, there is no routing header; sources become intervals
 * or ipset lookups; rate and history matches (limit, recent, hashlimit, connlimit) "may".
 */
#include "nft_xt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/xt_addrtype.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_iprange.h>
#include <linux/netfilter/xt_multiport.h>
#include <linux/netfilter/xt_recent.h>
#include <linux/netfilter/xt_set.h>
#include <linux/netfilter/xt_state.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <linux/netfilter_ipv6/ip6t_rt.h>

#define NEW_BIT (1u << (IP_CT_NEW + 1)) /* XT_CONNTRACK_STATE_BIT(IP_CT_NEW) */
#define TCP_SYN 0x02

static void say(struct xt_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct xt_out *o, const char *fmt, ...)
{
	size_t off = strlen(o->desc);
	va_list ap;

	if (off + 1 >= sizeof(o->desc))
		return;
	va_start(ap, fmt);
	vsnprintf(o->desc + off, sizeof(o->desc) - off, fmt, ap);
	va_end(ap);
}

static void states_text(struct xt_out *o, uint32_t mask)
{
	static const char *const names[] = {"INVALID", "ESTABLISHED", "RELATED", "NEW"};
	const char *sep = "";

	for (unsigned int i = 0; i < 4; i++)
		if (mask & (1u << i)) {
			say(o, "%s%s", sep, names[i]);
			sep = ",";
		}
	if (mask & ~0xfu)
		say(o, "%sUNTRACKED/SNAT/DNAT", sep);
}

/* -m state --state: a new connection's first packet is NEW (no NAT: not SNAT or DNAT). */
static void state_mt(const void *info, size_t len, struct xt_out *o)
{
	struct xt_state_info s;

	if (len < sizeof(s)) {
		o->res = XT_MAYBE;
		return;
	}
	memcpy(&s, info, sizeof(s));
	say(o, "-m state --state ");
	states_text(o, s.statemask);
	o->res = (s.statemask & NEW_BIT) ? XT_YES : XT_NO;
}

/* The common head of xt_conntrack_mtinfo1/2/3 up to the flags; the masks differ in width. */
static void conntrack_mt(uint32_t rev, const void *info, size_t len, const struct xt_pkt *p,
			 struct xt_out *o)
{
	struct xt_conntrack_mtinfo3 c3 = {0};
	struct xt_conntrack_mtinfo1 c1;
	uint16_t flags, inv, state;
	size_t need = rev == 1 ? sizeof(c1) : rev == 2 ? sizeof(struct xt_conntrack_mtinfo2)
						       : sizeof(c3);

	o->res = XT_MAYBE;
	if (rev < 1 || rev > 3 || len < need)
		return;
	if (rev == 1) {
		memcpy(&c1, info, sizeof(c1));
		flags = c1.match_flags;
		inv = c1.invert_flags;
		state = c1.state_mask;
		c3.l4proto = c1.l4proto;
	} else {
		/* mtinfo2 and mtinfo3 agree up to status_mask */
		memcpy(&c3, info, need);
		flags = c3.match_flags;
		inv = c3.invert_flags;
		state = c3.state_mask;
	}
	o->res = XT_YES;
	if (flags & (XT_CONNTRACK_STATE | XT_CONNTRACK_STATE_ALIAS)) {
		bool m = (state & NEW_BIT) != 0;

		say(o, "-m conntrack %s--ctstate ", (inv & XT_CONNTRACK_STATE) ? "! " : "");
		states_text(o, state);
		if (m == ((inv & XT_CONNTRACK_STATE) != 0))
			o->res = XT_NO;
	}
	if (flags & XT_CONNTRACK_PROTO) {
		bool m = c3.l4proto == p->l4;

		say(o, "%s--ctproto %u", o->desc[0] ? " " : "-m conntrack ", c3.l4proto);
		if (m == ((inv & XT_CONNTRACK_PROTO) != 0))
			o->res = XT_NO;
	}
	if (flags & XT_CONNTRACK_DIRECTION) {
		/* --ctdir ORIGINAL sets the invert bit off; the first packet is ORIGINAL */
		if (inv & XT_CONNTRACK_DIRECTION)
			o->res = XT_NO;
	}
	if (o->res == XT_YES &&
	    (flags & ~(XT_CONNTRACK_STATE | XT_CONNTRACK_STATE_ALIAS | XT_CONNTRACK_PROTO |
		       XT_CONNTRACK_DIRECTION))) {
		o->res = XT_MAYBE; /* addresses, ports, status, expiry of the conntrack entry */
		say(o, "%s...", o->desc[0] ? " " : "-m conntrack ");
	}
}

/* Whether port is in multiport's list (ranges marked by pflags in v1). */
static bool mp_has(const uint16_t *ports, const uint8_t *pflags, unsigned int count, uint16_t port,
		   struct xt_out *o)
{
	bool hit = false;

	for (unsigned int i = 0; i < count && i < XT_MULTI_PORTS; i++) {
		uint16_t s = ports[i], e = s;

		if (pflags != NULL && pflags[i] && i + 1 < count) {
			e = ports[++i];
			say(o, "%s%u:%u", o->desc[strlen(o->desc) - 1] == ' ' ? "" : ",", s, e);
		} else {
			say(o, "%s%u", o->desc[strlen(o->desc) - 1] == ' ' ? "" : ",", s);
		}
		hit |= port >= s && port <= e;
	}
	return hit;
}

static void multiport_mt(uint32_t rev, const void *info, size_t len, const struct xt_pkt *p,
			 struct xt_out *o)
{
	struct xt_multiport_v1 m = {0};
	bool hit;

	o->res = XT_MAYBE;
	if (rev > 1 || len < (rev == 0 ? sizeof(struct xt_multiport) : sizeof(m)))
		return;
	memcpy(&m, info, rev == 0 ? sizeof(struct xt_multiport) : sizeof(m));
	say(o, "-m multiport %s--%s ", m.invert ? "! " : "",
	    m.flags == XT_MULTIPORT_SOURCE	  ? "sports"
	    : m.flags == XT_MULTIPORT_DESTINATION ? "dports"
						  : "ports");
	hit = mp_has(m.ports, rev == 0 ? NULL : m.pflags, m.count, p->dport, o);
	if (m.flags == XT_MULTIPORT_SOURCE)
		return; /* the client's port: any */
	if (m.flags == XT_MULTIPORT_EITHER && !hit)
		return;
	o->res = hit != (m.invert != 0) ? XT_YES : XT_NO;
}

/* -m tcp / -m udp: ports in host order; a SYN's flags are SYN alone. */
static void tcpudp_mt(bool tcp, const void *info, size_t len, const struct xt_pkt *p,
		      struct xt_out *o)
{
	struct xt_tcp t = {0};
	struct xt_udp u;
	uint8_t invs, invd;

	o->res = XT_MAYBE;
	if (len < (tcp ? sizeof(t) : sizeof(u)))
		return;
	if (tcp) {
		memcpy(&t, info, sizeof(t));
	} else {
		memcpy(&u, info, sizeof(u));
		memcpy(t.spts, u.spts, sizeof(t.spts));
		memcpy(t.dpts, u.dpts, sizeof(t.dpts));
		t.invflags = u.invflags;
	}
	invs = XT_TCP_INV_SRCPT; /* the same bits as XT_UDP_INV_SRCPT and _DSTPT */
	invd = XT_TCP_INV_DSTPT;
	say(o, "-p %s --dport %s%u:%u", tcp ? "tcp" : "udp", (t.invflags & invd) ? "! " : "",
	    t.dpts[0], t.dpts[1]);
	if (p->l4 != (tcp ? IPPROTO_TCP : IPPROTO_UDP)) {
		o->res = XT_NO;
		return;
	}
	if (((p->dport >= t.dpts[0] && p->dport <= t.dpts[1]) == ((t.invflags & invd) != 0))) {
		o->res = XT_NO;
		return;
	}
	if (tcp && t.flg_mask != 0 &&
	    (((TCP_SYN & t.flg_mask) == t.flg_cmp) == ((t.invflags & XT_TCP_INV_FLAGS) != 0))) {
		o->res = XT_NO;
		return;
	}
	/* a source port range other than "any", or a TCP option: the client decides */
	if ((t.spts[0] != 0 || t.spts[1] != 0xffff || (t.invflags & invs)) || (tcp && t.option))
		return;
	o->res = XT_YES;
}

static void set_mt(uint32_t rev, const void *info, size_t len, struct xt_out *o)
{
	struct xt_set_info s;
	size_t need = rev == 3   ? sizeof(struct xt_set_info_match_v3)
		      : rev == 4 ? sizeof(struct xt_set_info_match_v4)
				 : sizeof(struct xt_set_info_match_v1);

	o->res = XT_MAYBE;
	say(o, "-m set");
	if (rev < 1 || rev > 4 || len < need)
		return;
	memcpy(&s, info, sizeof(s)); /* match_set leads every revision from 1 */
	if (rev >= 3) {
		struct xt_set_info_match_v3 v3;
		struct xt_set_info_match_v4 v4;
		bool counters;

		if (rev == 3) {
			memcpy(&v3, info, sizeof(v3));
			counters = v3.packets.op != IPSET_COUNTER_NONE ||
				   v3.bytes.op != IPSET_COUNTER_NONE;
		} else {
			memcpy(&v4, info, sizeof(v4));
			counters = v4.packets.op != IPSET_COUNTER_NONE ||
				   v4.bytes.op != IPSET_COUNTER_NONE;
		}
		if (counters) {
			say(o, " --packets/--bytes ...");
			return;
		}
	}
	/* one dimension, the source address: an ipset of addresses or networks */
	if (s.dim != 1 || !(s.flags & IPSET_DIM_ONE_SRC)) {
		say(o, " ... (not by source address alone)");
		return;
	}
	o->res = XT_SET;
	o->inv = (s.flags & IPSET_INV_MATCH) != 0;
	o->set_index = s.index;
}

static cda_u128 inet_key(const union nf_inet_addr *a, int fam)
{
	const uint8_t *b = fam == CDA_AF_INET ? (const uint8_t *)&a->in : (const uint8_t *)&a->in6;
	cda_u128 v = 0;

	for (int i = 0; i < (fam == CDA_AF_INET ? 4 : 16); i++)
		v = v << 8 | b[i];
	return v;
}

static void iprange_mt(uint32_t rev, const void *info, size_t len, const struct xt_pkt *p,
		       struct xt_out *o)
{
	struct xt_iprange_mtinfo r;

	o->res = XT_MAYBE;
	if (rev != 1 || len < sizeof(r)) {
		say(o, "-m iprange");
		return;
	}
	memcpy(&r, info, sizeof(r));
	if (r.flags & IPRANGE_DST) {
		say(o, "-m iprange --dst-range ...");
		return; /* which local address the client chose is not known */
	}
	if (!(r.flags & IPRANGE_SRC)) {
		o->res = XT_YES;
		return;
	}
	o->res = XT_SRC;
	o->inv = (r.flags & IPRANGE_SRC_INV) != 0;
	o->lo = inet_key(&r.src_min, p->fam);
	o->hi = inet_key(&r.src_max, p->fam);
	say(o, "-m iprange %s--src-range", o->inv ? "! " : "");
	if (o->lo > o->hi) /* an empty range matches nothing */
		o->res = o->inv ? XT_YES : XT_NO;
}

/* The remote source is UNICAST, this host's address LOCAL. */
static void addrtype_mt(uint32_t rev, const void *info, size_t len, struct xt_out *o)
{
	uint16_t src, dst;
	bool isrc, idst;

	o->res = XT_MAYBE;
	if (rev == 0 && len >= sizeof(struct xt_addrtype_info)) {
		struct xt_addrtype_info a;

		memcpy(&a, info, sizeof(a));
		src = a.source;
		dst = a.dest;
		isrc = a.invert_source != 0;
		idst = a.invert_dest != 0;
	} else if (rev == 1 && len >= sizeof(struct xt_addrtype_info_v1)) {
		struct xt_addrtype_info_v1 a;

		memcpy(&a, info, sizeof(a));
		src = a.source;
		dst = a.dest;
		isrc = (a.flags & XT_ADDRTYPE_INVERT_SOURCE) != 0;
		idst = (a.flags & XT_ADDRTYPE_INVERT_DEST) != 0;
	} else {
		say(o, "-m addrtype");
		return;
	}
	say(o, "-m addrtype");
	if (src)
		say(o, " %s--src-type 0x%x", isrc ? "! " : "", src);
	if (dst)
		say(o, " %s--dst-type 0x%x", idst ? "! " : "", dst);
	o->res = XT_YES;
	if (src && ((src & XT_ADDRTYPE_UNICAST) != 0) == isrc)
		o->res = XT_NO;
	if (dst && ((dst & XT_ADDRTYPE_LOCAL) != 0) == idst)
		o->res = XT_NO;
}

/* --set always matches (and records the source); --rcheck/--update/--remove depend on
 * what the source did before. */
static void recent_mt(uint32_t rev, const void *info, size_t len, struct xt_out *o)
{
	struct xt_recent_mtinfo r;

	o->res = XT_MAYBE;
	if (rev > 1 || len < sizeof(r)) {
		say(o, "-m recent");
		return;
	}
	memcpy(&r, info, sizeof(r));
	r.name[sizeof(r.name) - 1] = '\0';
	if (r.check_set & XT_RECENT_SET) {
		say(o, "-m recent --set --name %.40s", r.name);
		o->res = r.invert ? XT_NO : XT_YES;
		return;
	}
	o->rate = true;
	say(o, "-m recent %s--%s --name %.40s", r.invert ? "! " : "",
	    (r.check_set & XT_RECENT_UPDATE)   ? "update"
	    : (r.check_set & XT_RECENT_REMOVE) ? "remove"
					       : "rcheck",
	    r.name);
	if (r.seconds)
		say(o, " --seconds %u", r.seconds);
	if (r.hit_count)
		say(o, " --hitcount %u", r.hit_count);
}

/* ip6tables -m rt: a TCP or UDP packet from a CDN carries no routing header; without one
 * the match fails whatever its inversions. */
static void rt_mt(const struct xt_pkt *p, struct xt_out *o)
{
	say(o, "-m rt");
	o->res = p->fam == CDA_AF_INET6 ? XT_NO : XT_MAYBE;
}

void nft_xt_match(const char *name, uint32_t rev, const void *info, size_t len,
		  const struct xt_pkt *p, struct xt_out *o)
{
	memset(o, 0, sizeof(*o));
	o->res = XT_MAYBE;
	if (name == NULL || info == NULL) {
		say(o, "-m %s", name ? name : "?");
		return;
	}
	if (strcmp(name, "conntrack") == 0)
		conntrack_mt(rev, info, len, p, o);
	else if (strcmp(name, "state") == 0)
		state_mt(info, len, o);
	else if (strcmp(name, "multiport") == 0)
		multiport_mt(rev, info, len, p, o);
	else if (strcmp(name, "tcp") == 0 || strcmp(name, "udp") == 0)
		tcpudp_mt(name[0] == 't', info, len, p, o);
	else if (strcmp(name, "set") == 0)
		set_mt(rev, info, len, o);
	else if (strcmp(name, "iprange") == 0)
		iprange_mt(rev, info, len, p, o);
	else if (strcmp(name, "addrtype") == 0)
		addrtype_mt(rev, info, len, o);
	else if (strcmp(name, "recent") == 0)
		recent_mt(rev, info, len, o);
	else if (strcmp(name, "rt") == 0)
		rt_mt(p, o);
	else if (strcmp(name, "comment") == 0)
		o->res = XT_YES;
	else if (strcmp(name, "limit") == 0 || strcmp(name, "hashlimit") == 0 ||
		 strcmp(name, "connlimit") == 0) {
		o->rate = true;
		say(o, "-m %s", name);
	} else {
		say(o, "-m %s", name);
	}
	if (o->res == XT_MAYBE && o->desc[0] == '\0')
		say(o, "-m %s", name);
}
