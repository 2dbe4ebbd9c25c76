// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include "ranges.h"

static struct ranges *from(const char *const *cidrs)
{
	struct ranges *r = ranges_new();

	assert_non_null(r);
	for (; *cidrs != NULL; cidrs++) {
		struct cidr c;

		assert_int_not_equal(cidr_parse(*cidrs, strlen(*cidrs), &c, NULL), CIDR_INVALID);
		assert_int_equal(ranges_add_cidr(r, &c), 0);
	}
	return r;
}

/* The minimal cover of r as "a b c" for compact assertions. */
static char *cover_str(const struct ranges *r)
{
	struct cidr_list l = {0};
	static char buf[4096];
	char one[CIDR_STRLEN];

	buf[0] = '\0';
	assert_int_equal(ranges_to_cidrs(r, &l), 0);
	for (size_t i = 0; i < l.n; i++) {
		if (i > 0)
			strcat(buf, " ");
		strcat(buf, cidr_format(&l.v[i], one));
	}
	cidr_list_finish(&l);
	return buf;
}

static void ipv4_prefixes_parse_strictly(void **state)
{
	struct cidr c;
	bool bare;
	static const char *const bad[] = {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4",
		"1.2.3.4/33", "1.2.3.4/", "1.2.3.4/08", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4/24x",
		"1..2.3", "a.b.c.d", "1.2.3.4/-1", "<!DOCTYPE", NULL};

	(void)state;
	assert_int_equal(cidr_parse("104.16.0.0/13", 13, &c, &bare), CIDR_OK);
	assert_int_equal(c.family, CDA_AF_INET);
	assert_int_equal(c.plen, 13);
	assert_false(bare);
	assert_true(c.addr == 0x68100000u);
	assert_int_equal(cidr_parse("1.2.3.4", 7, &c, &bare), CIDR_OK);
	assert_true(bare);
	assert_int_equal(c.plen, 32);
	assert_int_equal(cidr_parse("0.0.0.0/0", 9, &c, NULL), CIDR_OK);
	for (const char *const *p = bad; *p != NULL; p++)
		assert_int_equal(cidr_parse(*p, strlen(*p), &c, NULL), CIDR_INVALID);
}

static void host_bits_are_cleared_and_reported(void **state)
{
	struct cidr c;
	char buf[CIDR_STRLEN];

	(void)state;
	assert_int_equal(cidr_parse("198.51.100.2/24", 15, &c, NULL), CIDR_HOSTBITS);
	assert_string_equal(cidr_format(&c, buf), "198.51.100.0/24");
	assert_int_equal(cidr_parse("2400:cb00::1/32", 15, &c, NULL), CIDR_HOSTBITS);
	assert_string_equal(cidr_format(&c, buf), "2400:cb00::/32");
}

static void ipv6_prefixes_parse_and_format_canonically(void **state)
{
	struct cidr c;
	char buf[CIDR_STRLEN];
	static const char *const bad[] = {"2400:cb00::/129", "2400:::1", "fe80::1%eth0",
		"2400:cb00::/32/1", "::g", "2400:cb00:: ", NULL};

	(void)state;
	assert_int_equal(cidr_parse("2400:CB00:0:0::/32", 18, &c, NULL), CIDR_OK);
	assert_string_equal(cidr_format(&c, buf), "2400:cb00::/32");
	assert_int_equal(cidr_parse("2001:1670::130:0:0:107/128", 26, &c, NULL), CIDR_OK);
	assert_string_equal(cidr_format(&c, buf), "2001:1670::130:0:0:107/128");
	assert_int_equal(cidr_parse("::/0", 4, &c, NULL), CIDR_OK);
	assert_string_equal(cidr_format(&c, buf), "::/0");
	for (const char *const *p = bad; *p != NULL; p++)
		assert_int_equal(cidr_parse(*p, strlen(*p), &c, NULL), CIDR_INVALID);
}

static void overlapping_and_adjacent_ranges_merge(void **state)
{
	static const char *const in[] = {"10.0.1.0/24", "10.0.0.0/24", "10.0.0.128/25",
		"10.0.2.0/23", "192.0.2.1", "192.0.2.0", "2a06:98c0::/30", "2a06:98c4::/30",
		NULL};
	struct ranges *r = from(in);

	(void)state;
	ranges_normalize(r);
	assert_int_equal(ranges_count4(r), 2);
	assert_int_equal(ranges_count6(r), 1);
	assert_string_equal(cover_str(r), "10.0.0.0/22 192.0.2.0/31 2a06:98c0::/29");
	ranges_free(r);
}

static void top_of_address_space_does_not_overflow(void **state)
{
	static const char *const in[] = {"255.255.255.255", "255.255.255.254", "0.0.0.0/1",
		"128.0.0.0/1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "::/1", NULL};
	struct ranges *r = from(in);

	(void)state;
	ranges_normalize(r);
	assert_int_equal(ranges_count4(r), 1);
	assert_true(ranges_v4(r)[0].lo == 0 && ranges_v4(r)[0].hi == UINT32_MAX);
	assert_string_equal(cover_str(r),
			    "0.0.0.0/0 ::/1 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
	ranges_free(r);
}

static void cidr_cover_is_minimal(void **state)
{
	struct ranges *r = ranges_new();

	(void)state;
	/* 0.0.0.1 - 255.255.255.254: the worst IPv4 case, 62 blocks */
	assert_int_equal(ranges_add4(r, 1, UINT32_MAX - 1), 0);
	ranges_normalize(r);
	assert_int_equal(ranges_cidr_count(r, CDA_AF_INET), 62);
	ranges_free(r);
}

static void cloudflare_split_diff_shows_removed_and_added(void **state)
{
	static const char *const old[] = {"104.16.0.0/12", "199.27.128.0/21", NULL};
	static const char *const cur[] = {"104.16.0.0/13", "104.24.0.0/14", "131.0.72.0/22", NULL};
	struct ranges *a = from(old), *b = from(cur), *oa = NULL, *ob = NULL, *sub = NULL;
	struct cidr_list la = {0}, lb = {0}, add = {0}, del = {0};
	char buf[CIDR_STRLEN];

	(void)state;
	ranges_normalize(a);
	ranges_normalize(b);
	assert_int_equal(ranges_to_cidrs(a, &la), 0);
	assert_int_equal(ranges_to_cidrs(b, &lb), 0);
	assert_int_equal(cidr_list_diff(&la, &lb, &add, &del), 0);
	assert_int_equal(add.n, 3);
	assert_int_equal(del.n, 2);
	assert_string_equal(cidr_format(&del.v[0], buf), "104.16.0.0/12");
	assert_string_equal(cidr_format(&add.v[2], buf), "131.0.72.0/22");
	/* items: the merged 104.16-104.27 differs from 104.16-104.31 as an element */
	assert_int_equal(ranges_diff_items(a, b, &oa, &ob), 0);
	assert_int_equal(ranges_count4(oa), 2);
	assert_int_equal(ranges_count4(ob), 2);
	/* addresses lost: 104.28.0.0/14 and 199.27.128.0/21 */
	assert_int_equal(ranges_subtract(a, b, &sub), 0);
	assert_string_equal(cover_str(sub), "104.28.0.0/14 199.27.128.0/21");
	cidr_list_finish(&la);
	cidr_list_finish(&lb);
	cidr_list_finish(&add);
	cidr_list_finish(&del);
	ranges_free(a);
	ranges_free(b);
	ranges_free(oa);
	ranges_free(ob);
	ranges_free(sub);
}

static void intersect_and_contains_agree(void **state)
{
	static const char *const x[] = {"10.0.0.0/8", "2400:cb00::/32", NULL};
	static const char *const y[] = {"10.1.0.0/16", "11.0.0.0/8", "2400:cb00:1::/48", NULL};
	struct ranges *a = from(x), *b = from(y), *i = NULL;

	(void)state;
	ranges_normalize(a);
	ranges_normalize(b);
	assert_int_equal(ranges_intersect(a, b, &i), 0);
	assert_string_equal(cover_str(i), "10.1.0.0/16 2400:cb00:1::/48");
	assert_true(ranges_contains(a, CDA_AF_INET, 0x0a010203));
	assert_false(ranges_contains(a, CDA_AF_INET, 0x0b000000));
	ranges_free(a);
	ranges_free(b);
	ranges_free(i);
}

static void large_random_sets_sort_and_round_trip(void **state)
{
	struct ranges *r = ranges_new(), *back = ranges_new();
	struct cidr_list l = {0};
	uint32_t x = 12345;
	bool same = false;

	(void)state;
	for (int i = 0; i < 200000; i++) {
		uint32_t lo;

		x = x * 1103515245u + 12345u;
		lo = x & 0xffffff00u;
		assert_int_equal(ranges_add4(r, lo, lo + 0xffu), 0);
	}
	ranges_normalize(r);
	for (size_t i = 1; i < ranges_count4(r); i++)
		assert_true(ranges_v4(r)[i - 1].hi + 1 < ranges_v4(r)[i].lo);
	assert_int_equal(ranges_to_cidrs(r, &l), 0);
	for (size_t i = 0; i < l.n; i++)
		assert_int_equal(ranges_add_cidr(back, &l.v[i]), 0);
	assert_int_equal(ranges_same_cover(r, back, &same), 0);
	assert_true(same);
	cidr_list_finish(&l);
	ranges_free(r);
	ranges_free(back);
}

/* The hand-written IPv6 formatter prints what inet_ntop prints, zero runs in every place. */
static void ipv6_format_matches_inet_ntop(void **state)
{
	uint64_t x = 88172645463325252ULL;

	(void)state;
	for (int i = 0; i < 200000; i++) {
		char want[INET6_ADDRSTRLEN], got[INET6_ADDRSTRLEN];
		unsigned char b[16];
		cda_u128 a = 0;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* each 16-bit group: zero, 1, 0xffff or random, picked by two bits of x */
		for (int g = 0; g < 8; g++) {
			unsigned int pick = (unsigned int)(x >> (2 * g)) & 3u;
			unsigned int v = pick == 0 ? 0 : pick == 1 ? (i & 1 ? 1u : 0xffffu)
						       : (unsigned int)(x >> (16 + 5 * g)) & 0xffffu;

			if (i % 3 == 0 && g < 5)
				v = 0; /* the embedded-IPv4 forms too */
			a = a << 16 | v;
		}
		for (int k = 0; k < 16; k++)
			b[k] = (unsigned char)(a >> (8 * (15 - k)));
		assert_non_null(inet_ntop(AF_INET6, b, want, sizeof(want)));
		assert_int_equal(ipv6_format(a, got), strlen(want));
		assert_string_equal(got, want);
	}
}

/* Every block of the cover: aligned, inside the range, and the largest such (bit by bit). */
static void cover_blocks_are_the_largest_aligned(void **state)
{
	uint64_t x = 1234567ULL;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		struct ranges *r = ranges_new();
		struct cidr_list l = {0};
		cda_u128 lo, hi, at;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		lo = (cda_u128)x << 64 | (x * 31);
		lo &= ~(((cda_u128)1 << (x % 70)) - 1);
		hi = lo + ((cda_u128)1 << (x % 67)) + x % 1000;
		if (hi < lo)
			hi = ~(cda_u128)0;
		assert_non_null(r);
		assert_int_equal(ranges_add6(r, lo, hi), 0);
		assert_int_equal(ranges_to_cidrs(r, &l), 0);
		assert_int_equal(ranges_cidr_count(r, CDA_AF_INET6), l.n);
		at = lo;
		for (size_t k = 0; k < l.n; k++) {
			unsigned int host = 0;
			cda_u128 first, last;

			cidr_bounds(&l.v[k], &first, &last);
			assert_true(first == at && last <= hi);
			while (host < 128) {
				cda_u128 m = host + 1 >= 128 ? ~(cda_u128)0
							    : ((cda_u128)1 << (host + 1)) - 1;

				if ((at & m) != 0 || (at | m) > hi)
					break;
				host++;
			}
			assert_int_equal(l.v[k].plen, 128 - host);
			at = last + 1;
		}
		assert_true(at - 1 == hi);
		cidr_list_finish(&l);
		ranges_free(r);
	}
}

static int cmp_r6(const void *a, const void *b)
{
	const struct range6 *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->hi < y->hi ? -1 : x->hi > y->hi;
}

/* ranges_sort on IPv6 items, ties on lo included, at sizes around each merge width. */
static void ipv6_sort_matches_qsort(void **state)
{
	static const size_t sizes[] = {2, 3, 15, 16, 17, 31, 33, 100, 1000, 4097, 50000};
	uint64_t x = 99991ULL;

	(void)state;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		struct range6 *want = calloc(n, sizeof(*want));
		struct ranges *r = ranges_new();

		assert_non_null(want);
		assert_non_null(r);
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			want[i].lo = (cda_u128)(x % 97) << 100 | (x >> 40);
			want[i].hi = want[i].lo + (x % 5);
			assert_int_equal(ranges_add6(r, want[i].lo, want[i].hi), 0);
		}
		qsort(want, n, sizeof(*want), cmp_r6);
		ranges_sort(r);
		assert_int_equal(ranges_count6(r), n);
		for (size_t i = 0; i < n; i++)
			assert_true(ranges_v6(r)[i].lo == want[i].lo && ranges_v6(r)[i].hi == want[i].hi);
		ranges_free(r);
		free(want);
	}
}

/* ranges_already_normal answers what normalize-and-compare answers, on lists near normal. */
static void already_normal_agrees_with_normalize(void **state)
{
	uint64_t x = 4242ULL;

	(void)state;
	for (int t = 0; t < 20000; t++) {
		struct ranges *r = ranges_new(), *n;
		size_t k = 1 + t % 6;

		assert_non_null(r);
		for (size_t i = 0; i < k; i++) {
			uint32_t lo, hi;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			lo = (uint32_t)(i * 16 + x % 12);
			hi = lo + (uint32_t)(x >> 8) % 6;
			if (t % 7 == 0 && i + 1 == k)
				hi = UINT32_MAX;
			if (t % 2)
				assert_int_equal(ranges_add4(r, lo, hi), 0);
			else
				assert_int_equal(ranges_add6(r, (cda_u128)lo << 96, (cda_u128)hi << 96 |
								(x % 3 == 0 ? ~(cda_u128)0 >> 32 : 0)), 0);
		}
		n = ranges_dup(r);
		assert_non_null(n);
		ranges_normalize(n);
		assert_int_equal(ranges_already_normal(r), ranges_equal(n, r));
		ranges_free(n);
		ranges_free(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ipv4_prefixes_parse_strictly),
		cmocka_unit_test(host_bits_are_cleared_and_reported),
		cmocka_unit_test(ipv6_prefixes_parse_and_format_canonically),
		cmocka_unit_test(overlapping_and_adjacent_ranges_merge),
		cmocka_unit_test(top_of_address_space_does_not_overflow),
		cmocka_unit_test(cidr_cover_is_minimal),
		cmocka_unit_test(cloudflare_split_diff_shows_removed_and_added),
		cmocka_unit_test(intersect_and_contains_agree),
		cmocka_unit_test(large_random_sets_sort_and_round_trip),
		cmocka_unit_test(ipv6_format_matches_inet_ntop),
		cmocka_unit_test(cover_blocks_are_the_largest_aligned),
		cmocka_unit_test(ipv6_sort_matches_qsort),
		cmocka_unit_test(already_normal_agrees_with_normalize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
