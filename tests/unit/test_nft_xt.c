// SPDX-License-Identifier: MIT
/* Unit tests for nft_xt (xt match blobs built from the kernel's uapi structs) and ipsets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

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

#include "../../src/doctor/ipsets.h"
#include "../../src/doctor/nft_xt.h"

static const struct xt_pkt syn443 = {.fam = CDA_AF_INET, .l4 = IPPROTO_TCP, .dport = 443};
static const struct xt_pkt syn443v6 = {.fam = CDA_AF_INET6, .l4 = IPPROTO_TCP, .dport = 443};

static enum xt_res run(const char *name, uint32_t rev, const void *info, size_t len,
		       const struct xt_pkt *p, struct xt_out *o)
{
	nft_xt_match(name, rev, info, len, p, o);
	return o->res;
}

#define ST(x) (1u << ((x) + 1)) /* XT_CONNTRACK_STATE_BIT */

static void conntrack_state_new_is_the_probe(void **unused)
{
	struct xt_conntrack_mtinfo3 c = {0};
	struct xt_out o;

	(void)unused;
	c.match_flags = XT_CONNTRACK_STATE;
	c.state_mask = XT_CONNTRACK_STATE_INVALID; /* ct state invalid drop: never a new SYN */
	assert_int_equal(run("conntrack", 3, &c, sizeof(c), &syn443, &o), XT_NO);
	assert_non_null(strstr(o.desc, "--ctstate INVALID"));
	c.state_mask = ST(IP_CT_ESTABLISHED) | ST(IP_CT_RELATED);
	assert_int_equal(run("conntrack", 3, &c, sizeof(c), &syn443, &o), XT_NO);
	c.state_mask = ST(IP_CT_NEW);
	assert_int_equal(run("conntrack", 3, &c, sizeof(c), &syn443, &o), XT_YES);
	c.invert_flags = XT_CONNTRACK_STATE; /* ! --ctstate NEW */
	assert_int_equal(run("conntrack", 3, &c, sizeof(c), &syn443, &o), XT_NO);
	c.invert_flags = 0;
	c.match_flags |= XT_CONNTRACK_ORIGSRC; /* not modelled */
	assert_int_equal(run("conntrack", 3, &c, sizeof(c), &syn443, &o), XT_MAYBE);
	/* a blob cut short is not read */
	assert_int_equal(run("conntrack", 3, &c, sizeof(c) - 4, &syn443, &o), XT_MAYBE);
}

static void conntrack_rev1_and_state(void **unused)
{
	struct xt_conntrack_mtinfo1 c1 = {0};
	struct xt_state_info s = {0};
	struct xt_out o;

	(void)unused;
	c1.match_flags = XT_CONNTRACK_STATE | XT_CONNTRACK_PROTO;
	c1.state_mask = (uint8_t)ST(IP_CT_NEW);
	c1.l4proto = IPPROTO_UDP;
	assert_int_equal(run("conntrack", 1, &c1, sizeof(c1), &syn443, &o), XT_NO);
	c1.l4proto = IPPROTO_TCP;
	assert_int_equal(run("conntrack", 1, &c1, sizeof(c1), &syn443, &o), XT_YES);
	s.statemask = ST(IP_CT_RELATED) | ST(IP_CT_ESTABLISHED);
	assert_int_equal(run("state", 0, &s, sizeof(s), &syn443, &o), XT_NO);
	s.statemask |= ST(IP_CT_NEW);
	assert_int_equal(run("state", 0, &s, sizeof(s), &syn443, &o), XT_YES);
}

static void multiport_lists_and_ranges(void **unused)
{
	struct xt_multiport_v1 m = {0};
	struct xt_out o;

	(void)unused;
	m.flags = XT_MULTIPORT_DESTINATION;
	m.count = 2;
	m.ports[0] = 80;
	m.ports[1] = 8443;
	assert_int_equal(run("multiport", 1, &m, sizeof(m), &syn443, &o), XT_NO);
	m.ports[1] = 443;
	assert_int_equal(run("multiport", 1, &m, sizeof(m), &syn443, &o), XT_YES);
	assert_string_equal(o.desc, "-m multiport --dports 80,443");
	m.invert = 1;
	assert_int_equal(run("multiport", 1, &m, sizeof(m), &syn443, &o), XT_NO);
	m.invert = 0;
	m.ports[0] = 400; /* 400:500 */
	m.pflags[0] = 1;
	m.ports[1] = 500;
	assert_int_equal(run("multiport", 1, &m, sizeof(m), &syn443, &o), XT_YES);
	assert_string_equal(o.desc, "-m multiport --dports 400:500");
	m.flags = XT_MULTIPORT_SOURCE; /* the client's port */
	assert_int_equal(run("multiport", 1, &m, sizeof(m), &syn443, &o), XT_MAYBE);
}

static void tcp_ports_and_flags(void **unused)
{
	struct xt_tcp t = {.spts = {0, 0xffff}, .dpts = {443, 443}};
	struct xt_udp u = {.spts = {0, 0xffff}, .dpts = {443, 443}};
	struct xt_out o;

	(void)unused;
	assert_int_equal(run("tcp", 0, &t, sizeof(t), &syn443, &o), XT_YES);
	t.flg_mask = 0x17; /* --syn: SYN,RST,ACK,FIN SYN */
	t.flg_cmp = 0x02;
	assert_int_equal(run("tcp", 0, &t, sizeof(t), &syn443, &o), XT_YES);
	t.invflags = XT_TCP_INV_FLAGS; /* ! --syn */
	assert_int_equal(run("tcp", 0, &t, sizeof(t), &syn443, &o), XT_NO);
	t.invflags = 0;
	t.dpts[0] = t.dpts[1] = 80;
	assert_int_equal(run("tcp", 0, &t, sizeof(t), &syn443, &o), XT_NO);
	assert_int_equal(run("udp", 0, &u, sizeof(u), &syn443, &o), XT_NO); /* a TCP probe */
}

static void set_by_source_names_the_index(void **unused)
{
	struct xt_set_info_match_v4 s = {0};
	struct xt_set_info_match_v1 s1 = {0};
	struct xt_out o;

	(void)unused;
	s.match_set.index = 7;
	s.match_set.dim = 1;
	s.match_set.flags = IPSET_DIM_ONE_SRC;
	assert_int_equal(run("set", 4, &s, sizeof(s), &syn443, &o), XT_SET);
	assert_int_equal(o.set_index, 7);
	assert_false(o.inv);
	s.match_set.flags |= IPSET_INV_MATCH;
	assert_int_equal(run("set", 4, &s, sizeof(s), &syn443, &o), XT_SET);
	assert_true(o.inv);
	s.packets.op = IPSET_COUNTER_GT; /* --packets-gt: not modelled */
	assert_int_equal(run("set", 4, &s, sizeof(s), &syn443, &o), XT_MAYBE);
	s1.match_set = s.match_set;
	s1.match_set.flags = 0; /* dst */
	assert_int_equal(run("set", 1, &s1, sizeof(s1), &syn443, &o), XT_MAYBE);
}

static void iprange_source(void **unused)
{
	struct xt_iprange_mtinfo r = {0};
	struct xt_out o;

	(void)unused;
	r.flags = IPRANGE_SRC;
	inet_pton(AF_INET, "45.0.0.5", &r.src_min.in);
	inet_pton(AF_INET, "45.0.0.20", &r.src_max.in);
	assert_int_equal(run("iprange", 1, &r, sizeof(r), &syn443, &o), XT_SRC);
	assert_true(o.lo == ((cda_u128)0x2d000005) && o.hi == ((cda_u128)0x2d000014));
	r.flags |= IPRANGE_SRC_INV;
	assert_int_equal(run("iprange", 1, &r, sizeof(r), &syn443, &o), XT_SRC);
	assert_true(o.inv);
	r.flags = IPRANGE_DST; /* which local address: not known */
	assert_int_equal(run("iprange", 1, &r, sizeof(r), &syn443, &o), XT_MAYBE);
}

static void addrtype_unicast_to_local(void **unused)
{
	struct xt_addrtype_info_v1 a = {0};
	struct xt_out o;

	(void)unused;
	a.dest = XT_ADDRTYPE_LOCAL;
	assert_int_equal(run("addrtype", 1, &a, sizeof(a), &syn443, &o), XT_YES);
	a.dest = XT_ADDRTYPE_BROADCAST | XT_ADDRTYPE_MULTICAST; /* UFW's not-local drops */
	assert_int_equal(run("addrtype", 1, &a, sizeof(a), &syn443, &o), XT_NO);
	a.dest = XT_ADDRTYPE_LOCAL;
	a.flags = XT_ADDRTYPE_INVERT_DEST;
	assert_int_equal(run("addrtype", 1, &a, sizeof(a), &syn443, &o), XT_NO);
	a.dest = 0;
	a.flags = 0;
	a.source = XT_ADDRTYPE_UNICAST;
	assert_int_equal(run("addrtype", 1, &a, sizeof(a), &syn443, &o), XT_YES);
}

static void rate_and_history_may_pass(void **unused)
{
	struct xt_recent_mtinfo_v1 r = {0};
	struct xt_out o;
	char blob[40] = {0};

	(void)unused;
	strcpy(r.name, "ufw-limit");
	r.check_set = XT_RECENT_SET; /* --set: always matches */
	assert_int_equal(run("recent", 1, &r, sizeof(r), &syn443, &o), XT_YES);
	r.check_set = XT_RECENT_UPDATE;
	r.hit_count = 6;
	r.seconds = 30;
	assert_int_equal(run("recent", 1, &r, sizeof(r), &syn443, &o), XT_MAYBE);
	assert_true(o.rate);
	assert_non_null(strstr(o.desc, "--update --name ufw-limit --seconds 30 --hitcount 6"));
	assert_int_equal(run("limit", 0, blob, sizeof(blob), &syn443, &o), XT_MAYBE);
	assert_true(o.rate);
	assert_int_equal(run("comment", 0, blob, sizeof(blob), &syn443, &o), XT_YES);
	assert_int_equal(run("rt", 0, blob, sizeof(blob), &syn443v6, &o), XT_NO);
	assert_int_equal(run("owner", 0, blob, sizeof(blob), &syn443, &o), XT_MAYBE);
	assert_string_equal(o.desc, "-m owner");
}

static void ipset_save_is_parsed(void **unused)
{
	static const char save[] =
		"create cdn4 hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12\n"
		"add cdn4 104.16.0.0/13\n"
		"add cdn4 172.64.0.0/13\n"
		"create ban6 hash:ip family inet6 hashsize 1024 maxelem 65536\n"
		"add ban6 2a01:4f8::99\n"
		"create pairs hash:net,port family inet\n"
		"add pairs 45.0.0.0/24,tcp:80\n"
		"create ex hash:net family inet\n"
		"add ex 10.0.0.0/8\n"
		"add ex 10.1.0.0/16 nomatch\n";
	struct ipsets *s = NULL;

	(void)unused;
	assert_int_equal(ipsets_parse(save, &s), 0);
	assert_int_equal(s->n, 4);
	assert_string_equal(s->v[0].name, "cdn4");
	assert_false(s->v[0].broken);
	assert_true(ranges_contains(s->v[0].elems, CDA_AF_INET, 0x68100000 + 10));
	assert_false(ranges_contains(s->v[0].elems, CDA_AF_INET, 0x2d00000a));
	assert_int_equal(s->v[1].fam, CDA_AF_INET6);
	assert_int_equal(ranges_count6(s->v[1].elems), 1);
	assert_true(s->v[2].broken); /* ports: not by source alone */
	assert_true(s->v[3].broken); /* nomatch exceptions */
	assert_int_equal(s->v[0].index, IPSETS_NO_INDEX);
	s->v[0].index = 3;
	assert_ptr_equal(ipsets_by_index(s, 3), &s->v[0]);
	assert_null(ipsets_by_index(s, 4));
	ipsets_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(conntrack_state_new_is_the_probe),
		cmocka_unit_test(conntrack_rev1_and_state),
		cmocka_unit_test(multiport_lists_and_ranges),
		cmocka_unit_test(tcp_ports_and_flags),
		cmocka_unit_test(set_by_source_names_the_index),
		cmocka_unit_test(iprange_source),
		cmocka_unit_test(addrtype_unicast_to_local),
		cmocka_unit_test(rate_and_history_may_pass),
		cmocka_unit_test(ipset_save_is_parsed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
