// SPDX-License-Identifier: MIT
/* nft batches as bytes, their acks and dumped elements, without a kernel. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "cda_error.h"
#include "nft_batch.h"
#include "ranges.h"

#define V4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define ALL6 (~(cda_u128)0)

/* Every message of a built batch, in order. */
struct walk {
	const struct nlmsghdr *m[4096];
	size_t n;
};

static void walk_batch(const struct nft_batch *b, struct walk *w)
{
	size_t n_iov, total, sum = 0;
	const struct iovec *iov = nft_batch_iov(b, &n_iov, &total);

	w->n = 0;
	for (size_t i = 0; i < n_iov; i++) {
		const struct nlmsghdr *nlh = iov[i].iov_base;
		int len = (int)iov[i].iov_len;

		sum += iov[i].iov_len;
		while (mnl_nlmsg_ok(nlh, len)) {
			assert_true(w->n < 4096);
			w->m[w->n++] = nlh;
			nlh = mnl_nlmsg_next(nlh, &len);
		}
		assert_int_equal(len, 0);
	}
	assert_int_equal(sum, total);
	assert_int_equal(w->n, nft_batch_msg_count(b));
}

static int msg_type(const struct nlmsghdr *nlh)
{
	return nlh->nlmsg_type & 0xff;
}

static const struct nlattr *find_attr(const struct nlmsghdr *nlh, uint16_t type)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == type)
			return a;
	return NULL;
}

/* One decoded element. */
struct el {
	uint8_t key[16];
	size_t len;
	bool end;
};

static size_t elems_of(const struct nlmsghdr *nlh, struct el *out, size_t max)
{
	const struct nlattr *list = find_attr(nlh, NFTA_SET_ELEM_LIST_ELEMENTS), *e, *a, *k;
	size_t n = 0;

	if (list == NULL)
		return 0;
	assert_true(mnl_attr_get_len(list) <= UINT16_MAX);
	mnl_attr_for_each_nested(e, list) {
		struct el x = {.len = 0};

		mnl_attr_for_each_nested(a, e) {
			if (mnl_attr_get_type(a) == NFTA_SET_ELEM_KEY) {
				mnl_attr_for_each_nested(k, a) {
					assert_int_equal(mnl_attr_get_type(k), NFTA_DATA_VALUE);
					x.len = mnl_attr_get_payload_len(k);
					memcpy(x.key, mnl_attr_get_payload(k), x.len);
				}
			} else if (mnl_attr_get_type(a) == NFTA_SET_ELEM_FLAGS) {
				x.end = ntohl(mnl_attr_get_u32(a)) & NFT_SET_ELEM_INTERVAL_END;
			}
		}
		assert_true(x.len == 4 || x.len == 16);
		if (out != NULL && n < max)
			out[n] = x;
		n++;
	}
	return n;
}

static uint32_t key4(const struct el *e)
{
	uint32_t be;

	memcpy(&be, e->key, 4);
	return ntohl(be);
}

static cda_u128 key6(const struct el *e)
{
	cda_u128 a = 0;

	for (int i = 0; i < 16; i++)
		a = a << 8 | e->key[i];
	return a;
}

static struct nft_batch *build(const struct nft_plan *p, uint32_t seq0)
{
	struct cda_error err = {0};
	struct nft_batch *b = NULL;

	assert_int_equal(nft_batch_build(p, seq0, &b, &err), 0);
	assert_non_null(b);
	return b;
}

static void begin_carries_genid_only_when_asked(void **state)
{
	struct nft_plan p = {.table = "cdnallow", .family = NFPROTO_INET, .set_v4 = "allow_v4",
			     .genid = 0x01020304, .has_genid = true};
	struct nft_batch *b = build(&p, 100);
	struct walk w;
	const struct nlattr *a;
	const struct nfgenmsg *g;

	walk_batch(b, &w);
	assert_int_equal(w.m[0]->nlmsg_type, NFNL_MSG_BATCH_BEGIN);
	assert_int_equal(w.m[0]->nlmsg_seq, 100);
	g = mnl_nlmsg_get_payload(w.m[0]);
	assert_int_equal(ntohs(g->res_id), NFNL_SUBSYS_NFTABLES);
	a = find_attr(w.m[0], NFNL_BATCH_GENID);
	assert_non_null(a);
	assert_int_equal(ntohl(mnl_attr_get_u32(a)), 0x01020304);
	assert_false(w.m[0]->nlmsg_flags & NLM_F_ACK);
	nft_batch_free(b);

	p.has_genid = false;
	b = build(&p, 1);
	walk_batch(b, &w);
	assert_null(find_attr(w.m[0], NFNL_BATCH_GENID));
	nft_batch_free(b);
}

static void deletes_come_before_adds_and_end_asks_for_ack(void **state)
{
	struct ranges *add = ranges_new(), *del = ranges_new();
	struct nft_plan p = {.table = "cdnallow", .family = NFPROTO_INET, .create = true,
			     .set_v4 = "allow_v4", .set_v6 = "allow_v6", .add = add, .del = del};
	static const int want[] = {NFNL_MSG_BATCH_BEGIN, NFT_MSG_NEWTABLE, NFT_MSG_NEWSET,
				   NFT_MSG_NEWSET, NFT_MSG_DELSETELEM, NFT_MSG_DELSETELEM,
				   NFT_MSG_NEWSETELEM, NFT_MSG_NEWSETELEM, NFNL_MSG_BATCH_END};
	struct nft_batch *b;
	struct walk w;

	assert_int_equal(ranges_add4(add, V4(10, 0, 0, 0), V4(10, 0, 1, 255)), 0);
	assert_int_equal(ranges_add6(add, (cda_u128)0x2001 << 112, (cda_u128)0x2002 << 112), 0);
	assert_int_equal(ranges_add4(del, V4(10, 0, 0, 0), V4(10, 0, 0, 255)), 0);
	assert_int_equal(ranges_add6(del, (cda_u128)0x2001 << 112, (cda_u128)0x2001 << 112), 0);
	b = build(&p, 7);
	walk_batch(b, &w);
	assert_int_equal(w.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < w.n; i++) {
		const struct nft_msg_info *mi = nft_batch_msg(b, 7 + (uint32_t)i);

		assert_int_equal(w.m[i]->nlmsg_seq, 7 + i);
		assert_non_null(mi);
		assert_int_equal(mi->seq, 7 + i);
		assert_int_equal(mi->kind, want[i]);
		if (i == 0 || i == w.n - 1)
			assert_int_equal(w.m[i]->nlmsg_type, want[i]);
		else
			assert_int_equal(msg_type(w.m[i]), want[i]);
	}
	/* table and sets: create, never exclusive */
	for (size_t i = 1; i <= 3; i++) {
		assert_true(w.m[i]->nlmsg_flags & NLM_F_CREATE);
		assert_false(w.m[i]->nlmsg_flags & NLM_F_EXCL);
	}
	assert_int_equal(nft_batch_msg(b, 11)->fam, CDA_AF_INET);
	assert_int_equal(nft_batch_msg(b, 12)->fam, CDA_AF_INET6);
	assert_int_equal(nft_batch_msg(b, 13)->fam, CDA_AF_INET);
	assert_true(w.m[w.n - 1]->nlmsg_flags & NLM_F_ACK);
	assert_int_equal(nft_batch_end_seq(b), 7 + w.n - 1);
	assert_int_equal(nft_batch_elem_msgs(b), 4);
	assert_null(nft_batch_msg(b, 7 + (uint32_t)w.n));
	assert_null(nft_batch_msg(b, 6));
	nft_batch_free(b);
	ranges_free(add);
	ranges_free(del);
}

static void new_set_is_an_interval_set_of_addresses(void **state)
{
	struct nft_plan p = {.table = "t", .family = NFPROTO_INET, .create = true,
			     .set_v4 = "a4", .set_v6 = "a6"};
	struct nft_batch *b = build(&p, 1);
	struct walk w;
	uint32_t ids[2];

	walk_batch(b, &w);
	assert_int_equal(w.n, 5);
	assert_string_equal(mnl_attr_get_str(find_attr(w.m[1], NFTA_TABLE_NAME)), "t");
	for (int i = 0; i < 2; i++) {
		const struct nlmsghdr *m = w.m[2 + i];
		const struct nlattr *ud = find_attr(m, NFTA_SET_USERDATA);
		const uint8_t *u;
		uint32_t v;

		assert_int_equal(((const struct nfgenmsg *)mnl_nlmsg_get_payload(m))->nfgen_family,
				 NFPROTO_INET);
		assert_string_equal(mnl_attr_get_str(find_attr(m, NFTA_SET_TABLE)), "t");
		assert_string_equal(mnl_attr_get_str(find_attr(m, NFTA_SET_NAME)),
				    i ? "a6" : "a4");
		assert_int_equal(ntohl(mnl_attr_get_u32(find_attr(m, NFTA_SET_KEY_TYPE))),
				 i ? 8 : 7);
		assert_int_equal(ntohl(mnl_attr_get_u32(find_attr(m, NFTA_SET_KEY_LEN))),
				 i ? 16 : 4);
		assert_int_equal(ntohl(mnl_attr_get_u32(find_attr(m, NFTA_SET_FLAGS))),
				 NFT_SET_INTERVAL);
		ids[i] = ntohl(mnl_attr_get_u32(find_attr(m, NFTA_SET_ID)));
		/* TLVs: key byte order (0) = big endian (2), auto-merge (2) = 1 */
		assert_non_null(ud);
		assert_int_equal(mnl_attr_get_payload_len(ud), 12);
		u = mnl_attr_get_payload(ud);
		assert_int_equal(u[0], 0);
		assert_int_equal(u[1], 4);
		memcpy(&v, u + 2, 4);
		assert_int_equal(v, 2);
		assert_int_equal(u[6], 2);
		assert_int_equal(u[7], 4);
		memcpy(&v, u + 8, 4);
		assert_int_equal(v, 1);
	}
	assert_int_not_equal(ids[0], ids[1]);
	nft_batch_free(b);
}

static void no_create_means_no_table_or_set_messages(void **state)
{
	struct ranges *add = ranges_new();
	struct nft_plan p = {.table = "filter", .family = NFPROTO_IPV4, .set_v4 = "cdn",
			     .add = add};
	struct nft_batch *b;
	struct walk w;

	assert_int_equal(ranges_add4(add, 1, 2), 0);
	assert_int_equal(ranges_add6(add, 1, 2), 0); /* no v6 set in the plan: ignored */
	b = build(&p, 1);
	walk_batch(b, &w);
	assert_int_equal(w.n, 3);
	assert_int_equal(msg_type(w.m[1]), NFT_MSG_NEWSETELEM);
	assert_int_equal(((const struct nfgenmsg *)mnl_nlmsg_get_payload(w.m[1]))->nfgen_family,
			 NFPROTO_IPV4);
	assert_string_equal(mnl_attr_get_str(find_attr(w.m[1], NFTA_SET_ELEM_LIST_SET)), "cdn");
	assert_true(w.m[1]->nlmsg_flags & NLM_F_CREATE);
	nft_batch_free(b);
	ranges_free(add);
}

static void flush_sends_a_delete_without_elements(void **state)
{
	struct ranges *add = ranges_new(), *del = ranges_new();
	struct nft_plan p = {.table = "cdnallow", .family = NFPROTO_INET, .set_v4 = "allow_v4",
			     .set_v6 = "allow_v6", .flush = true, .add = add, .del = del};
	struct nft_batch *b;
	struct walk w;

	assert_int_equal(ranges_add4(del, 5, 9), 0); /* ignored with flush */
	assert_int_equal(ranges_add4(add, 1, 2), 0);
	b = build(&p, 1);
	walk_batch(b, &w);
	assert_int_equal(w.n, 5);
	assert_int_equal(msg_type(w.m[1]), NFT_MSG_DELSETELEM);
	assert_int_equal(msg_type(w.m[2]), NFT_MSG_DELSETELEM);
	assert_null(find_attr(w.m[1], NFTA_SET_ELEM_LIST_ELEMENTS));
	assert_string_equal(mnl_attr_get_str(find_attr(w.m[1], NFTA_SET_ELEM_LIST_SET)),
			    "allow_v4");
	assert_string_equal(mnl_attr_get_str(find_attr(w.m[2], NFTA_SET_ELEM_LIST_SET)),
			    "allow_v6");
	assert_int_equal(msg_type(w.m[3]), NFT_MSG_NEWSETELEM);
	nft_batch_free(b);
	ranges_free(add);
	ranges_free(del);
}

static void intervals_become_start_and_end_keys(void **state)
{
	struct ranges *add = ranges_new();
	struct nft_plan p = {.table = "t", .family = NFPROTO_INET, .set_v4 = "a4",
			     .set_v6 = "a6", .add = add};
	struct nft_batch *b;
	struct walk w;
	struct el e[8];

	assert_int_equal(ranges_add4(add, V4(10, 0, 0, 0), V4(10, 255, 255, 255)), 0);
	assert_int_equal(ranges_add4(add, V4(255, 255, 255, 0), V4(255, 255, 255, 255)), 0);
	assert_int_equal(ranges_add6(add, (cda_u128)0x2400cb00 << 96,
				     ((cda_u128)0x2400cb01 << 96) - 1), 0);
	assert_int_equal(ranges_add6(add, ALL6 - 255, ALL6), 0);
	b = build(&p, 1);
	walk_batch(b, &w);
	assert_int_equal(w.n, 4);
	assert_int_equal(elems_of(w.m[1], e, 8), 3);
	assert_int_equal(key4(&e[0]), V4(10, 0, 0, 0));
	assert_false(e[0].end);
	assert_int_equal(key4(&e[1]), V4(11, 0, 0, 0));
	assert_true(e[1].end);
	assert_int_equal(key4(&e[2]), V4(255, 255, 255, 0)); /* top: no end element */
	assert_false(e[2].end);
	assert_int_equal(nft_batch_msg(b, 2)->count, 2);
	assert_int_equal(elems_of(w.m[2], e, 8), 3);
	assert_true(key6(&e[0]) == (cda_u128)0x2400cb00 << 96);
	assert_int_equal(e[0].len, 16);
	assert_true(key6(&e[1]) == (cda_u128)0x2400cb01 << 96);
	assert_true(e[1].end);
	assert_true(key6(&e[2]) == ALL6 - 255);
	assert_false(e[2].end);
	nft_batch_free(b);
	ranges_free(add);
}

static void whole_space_is_one_start_element(void **state)
{
	struct ranges *add = ranges_new();
	struct nft_plan p = {.table = "t", .family = NFPROTO_INET, .set_v4 = "a4",
			     .set_v6 = "a6", .add = add};
	struct nft_batch *b;
	struct walk w;
	struct el e[4];

	assert_int_equal(ranges_add4(add, 0, UINT32_MAX), 0);
	assert_int_equal(ranges_add6(add, 0, ALL6), 0);
	b = build(&p, 1);
	walk_batch(b, &w);
	assert_int_equal(elems_of(w.m[1], e, 4), 1);
	assert_int_equal(key4(&e[0]), 0);
	assert_false(e[0].end);
	assert_int_equal(elems_of(w.m[2], e, 4), 1);
	assert_true(key6(&e[0]) == 0);
	assert_false(e[0].end);
	nft_batch_free(b);
	ranges_free(add);
}

/* Seeded, non-overlapping, non-adjacent /24../28 blocks. */
static struct ranges *gen4(size_t n, uint32_t seed)
{
	struct ranges *r = ranges_new();
	uint32_t a = V4(1, 0, 0, 0);

	for (size_t i = 0; i < n; i++) {
		uint32_t plen = 24 + (seed = seed * 1103515245u + 12345u) % 5;
		uint32_t size = 1u << (32 - plen);

		a = (a + size - 1) & ~(size - 1);
		assert_int_equal(ranges_add4(r, a, a + size - 1), 0);
		a += size * (2 + (seed >> 16) % 3);
	}
	return r;
}

static void large_lists_split_into_messages_under_64k(void **state)
{
	struct ranges *add = gen4(100000, 42), *del = gen4(30000, 7), *back = ranges_new();
	struct nft_plan p = {.table = "cdnallow", .family = NFPROTO_INET, .set_v4 = "allow_v4",
			     .add = add, .del = del};
	struct nft_elems *dec = nft_elems_new(CDA_AF_INET);
	struct nft_batch *b;
	struct walk w;
	size_t next_add = 0, next_del = 0, n_iov, total;
	struct el *e = calloc(8192, sizeof(*e));

	assert_non_null(e);
	b = build(&p, 1000);
	walk_batch(b, &w);
	nft_batch_iov(b, &n_iov, &total);
	assert_true(n_iov >= 2); /* more than one 2 MiB page */
	assert_true(nft_batch_elem_msgs(b) >= 100000 * 40 / 65536);
	assert_int_equal(nft_batch_elem_msgs(b), w.n - 2);
	for (size_t i = 1; i + 1 < w.n; i++) {
		const struct nft_msg_info *mi = nft_batch_msg(b, w.m[i]->nlmsg_seq);
		size_t n = elems_of(w.m[i], e, 8192), k = 0;
		const struct range4 *v;

		assert_non_null(mi);
		assert_true(mi->count > 0);
		assert_true(n <= 8192);
		v = ranges_v4(mi->kind == NFT_MSG_DELSETELEM ? del : add);
		if (mi->kind == NFT_MSG_DELSETELEM) {
			assert_int_equal(next_add, 0);
			assert_int_equal(mi->first, next_del);
			next_del += mi->count;
		} else {
			assert_int_equal(mi->kind, NFT_MSG_NEWSETELEM);
			assert_int_equal(mi->first, next_add);
			next_add += mi->count;
		}
		/* the message holds exactly its items, both elements of each */
		assert_int_equal(n, 2 * mi->count);
		for (size_t j = mi->first; j < mi->first + mi->count; j++, k += 2) {
			assert_int_equal(key4(&e[k]), v[j].lo);
			assert_int_equal(key4(&e[k + 1]), v[j].hi + 1);
			assert_true(e[k + 1].end);
		}
		assert_int_equal(mi->elem_offset,
				 (const char *)find_attr(w.m[i], NFTA_SET_ELEM_LIST_ELEMENTS) -
					 (const char *)w.m[i]);
		if (mi->kind == NFT_MSG_NEWSETELEM)
			for (size_t j = 0; j < n; j++)
				assert_int_equal(nft_elems_add(dec, e[j].key, 4, e[j].end), 0);
	}
	assert_int_equal(next_del, 30000);
	assert_int_equal(next_add, 100000);
	assert_int_equal(nft_elems_finish(dec, back), 0);
	assert_true(ranges_equal(back, add));
	free(e);
	nft_batch_free(b);
	ranges_free(add);
	ranges_free(del);
	ranges_free(back);
}

static void add4(struct nft_elems *e, uint32_t a, bool end)
{
	uint32_t be = htonl(a);

	assert_int_equal(nft_elems_add(e, &be, 4, end), 0);
}

static void decoding_handles_descending_order_and_stray_ends(void **state)
{
	struct nft_elems *e = nft_elems_new(CDA_AF_INET);
	struct ranges *r = ranges_new();
	const struct range4 *v;

	/* as a dump returns them: descending; adjacent ranges share key 2.0.0.0 */
	add4(e, V4(2, 0, 0, 0), false);
	add4(e, V4(2, 0, 0, 0), true);
	add4(e, V4(1, 0, 0, 0), false);
	add4(e, V4(0, 0, 0, 0), true); /* nft's "first segment" END: nothing open */
	add4(e, V4(3, 0, 0, 0), true);
	add4(e, V4(200, 0, 0, 0), false); /* open start: up to 255.255.255.255 */
	assert_int_equal(nft_elems_finish(e, r), 0);
	assert_int_equal(ranges_count4(r), 3);
	v = ranges_v4(r);
	assert_int_equal(v[0].lo, V4(1, 0, 0, 0));
	assert_int_equal(v[0].hi, V4(1, 255, 255, 255));
	assert_int_equal(v[1].lo, V4(2, 0, 0, 0));
	assert_int_equal(v[1].hi, V4(2, 255, 255, 255));
	assert_int_equal(v[2].lo, V4(200, 0, 0, 0));
	assert_int_equal(v[2].hi, UINT32_MAX);
	ranges_free(r);
}

static void decoding_whole_spaces_and_ipv6(void **state)
{
	struct nft_elems *e4 = nft_elems_new(CDA_AF_INET), *e6 = nft_elems_new(CDA_AF_INET6);
	struct ranges *r = ranges_new();
	uint8_t k[16] = {0x24, 0x00, 0xcb, 0x00};
	const struct range6 *v;

	add4(e4, 0, false);
	assert_int_equal(nft_elems_finish(e4, r), 0);
	assert_int_equal(ranges_count4(r), 1);
	assert_int_equal(ranges_v4(r)[0].lo, 0);
	assert_int_equal(ranges_v4(r)[0].hi, UINT32_MAX);

	assert_int_equal(nft_elems_add(e6, k, 4, false), -1); /* wrong key length */
	k[3] = 0x01;
	assert_int_equal(nft_elems_add(e6, k, 16, true), 0);
	k[3] = 0x00;
	assert_int_equal(nft_elems_add(e6, k, 16, false), 0);
	memset(k, 0xff, 16);
	k[15] = 0x00;
	assert_int_equal(nft_elems_add(e6, k, 16, false), 0);
	assert_int_equal(nft_elems_finish(e6, r), 0);
	assert_int_equal(ranges_count6(r), 2);
	v = ranges_v6(r);
	assert_true(v[0].lo == (cda_u128)0x2400cb00 << 96);
	assert_true(v[0].hi == ((cda_u128)0x2400cb01 << 96) - 1);
	assert_true(v[1].lo == ALL6 - 255);
	assert_true(v[1].hi == ALL6);
	nft_elems_free(NULL);
	nft_batch_free(NULL);
	ranges_free(r);
}

/* An NLMSG_ERROR reply to seq: err 0 is an ack. As sent with NETLINK_CAP_ACK. */
static const struct nlmsghdr *ack_msg(char *buf, uint32_t seq, int err)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlmsgerr *e;

	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_flags = NLM_F_CAPPED;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	e->error = -err;
	e->msg.nlmsg_len = sizeof(struct nlmsghdr);
	e->msg.nlmsg_seq = seq;
	return nlh;
}

static void a_commit_counts_only_with_its_end_ack(void **state)
{
	struct ranges *add = ranges_new();
	struct nft_plan p = {.table = "cdnallow", .family = NFPROTO_INET, .set_v4 = "allow_v4",
			     .add = add};
	struct nft_batch *b;
	struct nft_outcome o;
	char buf[256];
	uint32_t end;

	assert_int_equal(ranges_add4(add, V4(10, 0, 0, 0), V4(10, 0, 0, 255)), 0);
	b = build(&p, 100);
	end = nft_batch_end_seq(b);
	/* the kernel acked END: it committed */
	memset(&o, 0, sizeof(o));
	nft_batch_ack(b, ack_msg(buf, 100, 0), &o); /* BEGIN's ack is not END's */
	assert_false(o.end_acked);
	nft_batch_ack(b, ack_msg(buf, end, 0), &o);
	assert_true(o.end_acked);
	assert_int_equal(nft_outcome_verdict(&o, true), NFT_COMMITTED);
	/* no error and no END ack from a kernel that acks END: the batch was not committed
	 * (a batch without its END is aborted without a word) */
	memset(&o, 0, sizeof(o));
	nft_batch_ack(b, ack_msg(buf, 100, 0), &o);
	assert_int_equal(nft_outcome_verdict(&o, true), NFT_UNCONFIRMED);
	/* kernels before 6.10 never ack END: nothing to check there */
	assert_int_equal(nft_outcome_verdict(&o, false), NFT_COMMITTED);
	/* acks dropped (ENOBUFS): unknown either way */
	o.lost = true;
	assert_int_equal(nft_outcome_verdict(&o, false), NFT_UNCONFIRMED);
	/* a refusal names the message; only the first error counts */
	memset(&o, 0, sizeof(o));
	nft_batch_ack(b, ack_msg(buf, 101, ENOENT), &o);
	nft_batch_ack(b, ack_msg(buf, 100, EINVAL), &o);
	assert_int_equal(nft_outcome_verdict(&o, true), NFT_REFUSED);
	assert_int_equal(o.error, ENOENT);
	assert_int_equal(o.seq, 101);
	assert_int_equal(o.n_errors, 2);
	nft_batch_free(b);
	ranges_free(add);
}

/* A NEWSETELEM message as a dump returns it: one IPv4 element, with a timeout and an
 * expiry when timed. */
static const struct nlmsghdr *dumped_elem(char *buf, uint32_t key, bool timed)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	struct nlattr *list, *el, *k;
	uint32_t be = htonl(key);

	nlh->nlmsg_type = NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM;
	g->nfgen_family = NFPROTO_INET;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, "admin");
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, "cdn4");
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	el = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	k = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, 4, &be);
	mnl_attr_nest_end(nlh, k);
	if (timed) {
		mnl_attr_put_u64(nlh, NFTA_SET_ELEM_TIMEOUT, htobe64(60000));
		mnl_attr_put_u64(nlh, NFTA_SET_ELEM_EXPIRATION, htobe64(59000));
	}
	mnl_attr_nest_end(nlh, el);
	mnl_attr_nest_end(nlh, list);
	return nlh;
}

static void dumped_elements_that_expire_are_refused(void **state)
{
	struct nft_elems *e = nft_elems_new(CDA_AF_INET);
	struct ranges *r = ranges_new();
	char buf[512];

	assert_int_equal(nft_elems_add_msg(e, dumped_elem(buf, V4(192, 0, 2, 0), false)), 0);
	/* an element that goes away by itself, without a commit the genid would show */
	assert_int_equal(nft_elems_add_msg(e, dumped_elem(buf, V4(198, 51, 100, 0), true)),
			 NFT_ELEMS_TIMED);
	assert_int_equal(nft_elems_finish(e, r), 0);
	ranges_free(r);
}

static void sets_whose_elements_change_by_themselves_are_named(void **state)
{
	const char *flag = "x";

	assert_null(nft_set_untrackable(NFT_SET_INTERVAL, &flag));
	assert_null(flag);
	assert_non_null(nft_set_untrackable(NFT_SET_INTERVAL | NFT_SET_TIMEOUT, &flag));
	assert_string_equal(flag, "timeout");
	assert_non_null(nft_set_untrackable(NFT_SET_INTERVAL | NFT_SET_EVAL, &flag));
	assert_string_equal(flag, "dynamic");
	assert_non_null(nft_set_untrackable(NFT_SET_CONSTANT | NFT_SET_INTERVAL, &flag));
	assert_string_equal(flag, "constant");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(begin_carries_genid_only_when_asked),
		cmocka_unit_test(deletes_come_before_adds_and_end_asks_for_ack),
		cmocka_unit_test(new_set_is_an_interval_set_of_addresses),
		cmocka_unit_test(no_create_means_no_table_or_set_messages),
		cmocka_unit_test(flush_sends_a_delete_without_elements),
		cmocka_unit_test(intervals_become_start_and_end_keys),
		cmocka_unit_test(whole_space_is_one_start_element),
		cmocka_unit_test(large_lists_split_into_messages_under_64k),
		cmocka_unit_test(decoding_handles_descending_order_and_stray_ends),
		cmocka_unit_test(decoding_whole_spaces_and_ipv6),
		cmocka_unit_test(a_commit_counts_only_with_its_end_ack),
		cmocka_unit_test(dumped_elements_that_expire_are_refused),
		cmocka_unit_test(sets_whose_elements_change_by_themselves_are_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
