// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "catalog.h"
#include "cda_error.h"
#include "guard.h"
#include "ranges.h"

static struct ranges *from(const char *const *cidrs)
{
	struct ranges *r = ranges_new();

	for (; *cidrs != NULL; cidrs++) {
		struct cidr c;

		assert_int_not_equal(cidr_parse(*cidrs, strlen(*cidrs), &c, NULL), CIDR_INVALID);
		assert_int_equal(ranges_add_cidr(r, &c), 0);
	}
	ranges_normalize(r);
	return r;
}

static void special_purpose_space_is_dropped_and_listed(void **state)
{
	static const char *const in[] = {"104.16.0.0/13", "172.31.0.7/32", "10.0.0.0/8",
		"100.64.0.0/10", "192.0.2.0/24", "::ffff:1.2.3.4/128", "2001:db8::/32",
		"2400:cb00::/32", "fe80::/64", "224.0.0.1", "0.0.0.0/8", NULL};
	struct ranges *r = from(in);
	struct cidr_list dropped = {0};
	char buf[CIDR_STRLEN];

	(void)state;
	assert_int_equal(guard_drop_special(r, &dropped), 0);
	assert_int_equal(ranges_count4(r), 1);
	assert_int_equal(ranges_count6(r), 1);
	assert_int_equal(dropped.n, 9);
	assert_string_equal(cidr_format(&dropped.v[0], buf), "0.0.0.0/8");
	/* what is left holds nothing special: a second pass drops nothing */
	cidr_list_finish(&dropped);
	assert_int_equal(guard_drop_special(r, &dropped), 0);
	assert_int_equal(dropped.n, 0);
	cidr_list_finish(&dropped);
	ranges_free(r);
}

static void srv6_sid_space_is_special(void **state)
{
	static const char *const in[] = {"5f00:1::/32", "2400:cb00::/32", NULL};
	struct ranges *r = from(in);
	struct cidr_list dropped = {0};
	char buf[CIDR_STRLEN];

	(void)state;
	assert_int_equal(guard_drop_special(r, &dropped), 0);
	assert_int_equal(ranges_count6(r), 1);
	assert_int_equal(dropped.n, 1);
	assert_string_equal(cidr_format(&dropped.v[0], buf), "5f00:1::/32");
	cidr_list_finish(&dropped);
	ranges_free(r);
}

static void partly_special_prefix_keeps_its_public_part(void **state)
{
	static const char *const in[] = {"100.0.0.0/8", NULL};
	struct ranges *r = from(in);
	struct cidr_list dropped = {0};
	char buf[CIDR_STRLEN];

	(void)state;

	assert_int_equal(guard_drop_special(r, &dropped), 0);
	assert_int_equal(dropped.n, 1);
	assert_string_equal(cidr_format(&dropped.v[0], buf), "100.64.0.0/10");
	cidr_list_finish(&dropped);
	/* 100.0.0.0-100.63.255.255 and 100.128.0.0-100.255.255.255 stay */
	assert_int_equal(ranges_count4(r), 2);
	assert_true(ranges_v4(r)[0].hi == 0x643fffffu);
	assert_true(ranges_v4(r)[1].lo == 0x64800000u);
	ranges_free(r);
}

static void shrink_past_the_limit_is_refused(void **state)
{
	/* the real Cloudflare change 2015 -> 2021: 2 of 14 IPv4 entries removed */
	struct guard_counts c = {.have = {14, 5}, .want = {15, 7}, .removed = {2, 0}};
	struct guard_policy p = {.max_shrink = 0.10};
	struct cda_error err = {0};

	(void)state;
	assert_int_equal(guard_check_change(&c, &p, &err), -1);
	assert_int_equal(err.code, CDA_EGUARD);
	assert_non_null(strstr(err.msg, "2 of 14 IPv4"));
	p.force = true;
	assert_int_equal(guard_check_change(&c, &p, &err), 0);
	p.force = false;
	p.max_shrink = 0.15;
	assert_int_equal(guard_check_change(&c, &p, &err), 0);
}

/*
 * Cloudflare's 2021 change split 104.16.0.0/12 into a /13 and a /14: one entry of fourteen
 * removed (7%, under 10%), but 104.28.0.0/14 lost, a quarter of the /12 and 15% of the
 * IPv4 addresses. The address measure refuses it; --force applies it.
 */
static void losing_addresses_past_the_limit_is_refused(void **state)
{
	static const char *const was[] = {"104.16.0.0/12", "172.64.0.0/13", "162.158.0.0/15",
					  "198.41.128.0/17", NULL};
	static const char *const now[] = {"104.16.0.0/13", "104.24.0.0/14", "172.64.0.0/13",
					  "162.158.0.0/15", "198.41.128.0/17", NULL};
	static const char *const all6[] = {"::/0", NULL};
	struct ranges *a = from(was), *b = from(now), *lost = NULL, *w = from(all6);
	struct guard_counts c = {.have = {14, 0}, .want = {15, 0}, .removed = {1, 0}};
	struct guard_policy p = {.max_shrink = 0.10};
	struct cda_error err = {0};

	(void)state;
	assert_int_equal(ranges_subtract(a, b, &lost), 0);
	assert_true(ranges_addresses(lost, CDA_AF_INET) == 262144.0);
	assert_true(ranges_addresses(a, CDA_AF_INET) == 1048576.0 + 524288 + 131072 + 32768);
	assert_true(ranges_addresses(w, CDA_AF_INET6) == 0x1p128);
	assert_true(ranges_addresses(w, CDA_AF_INET) == 0.0);
	/* the whole real 2020-11 list held 1,786,880 addresses (tests/integration/guards.sh) */
	c.have_addrs[0] = 1786880;
	c.lost_addrs[0] = ranges_addresses(lost, CDA_AF_INET);
	assert_int_equal(guard_check_change(&c, &p, &err), -1);
	assert_int_equal(err.code, CDA_EGUARD);
	if (strstr(err.msg, "IPv4 addresses (15%") == NULL)
		fail_msg("%s", err.msg);
	p.force = true;
	assert_int_equal(guard_check_change(&c, &p, &err), 0);
	p.force = false;
	p.max_shrink = 0.15;
	assert_int_equal(guard_check_change(&c, &p, &err), 0);
	ranges_free(a);
	ranges_free(b);
	ranges_free(lost);
	ranges_free(w);
}

static void exactly_the_limit_passes(void **state)
{
	struct guard_counts c = {.have = {10, 0}, .want = {9, 0}, .removed = {1, 0}};
	struct guard_policy p = {.max_shrink = 0.10};
	struct cda_error err = {0};

	(void)state;
	assert_int_equal(guard_check_change(&c, &p, &err), 0);
	c.removed[0] = 2;
	assert_int_equal(guard_check_change(&c, &p, &err), -1);
}

static void emptying_a_family_is_refused_unless_forced(void **state)
{
	struct guard_counts c = {.have = {15, 7}, .want = {15, 0}, .removed = {0, 7}};
	struct guard_policy p = {.max_shrink = 1.0};
	struct cda_error err = {0};

	(void)state;
	assert_int_equal(guard_check_change(&c, &p, &err), -1);
	assert_non_null(strstr(err.msg, "empty the IPv6"));
	p.force = true;
	assert_int_equal(guard_check_change(&c, &p, &err), 0);
}

static void a_locked_target_is_never_emptied_even_with_force(void **state)
{
	struct guard_counts c = {.have = {15, 7}, .want = {0, 7}, .removed = {15, 0}};
	struct guard_policy p = {.max_shrink = 1.0, .force = true, .locked = true};
	struct cda_error err = {0};

	(void)state;
	assert_int_equal(guard_check_change(&c, &p, &err), -1);
	assert_non_null(strstr(err.msg, "origin lock"));
	p.locked = false;
	assert_int_equal(guard_check_change(&c, &p, &err), 0);
}

static void first_run_always_passes(void **state)
{
	struct guard_counts c = {.have = {0, 0}, .want = {15, 7}, .removed = {0, 0}};
	struct guard_policy p = {.max_shrink = 0.0};
	struct cda_error err = {0};

	(void)state;
	assert_int_equal(guard_check_change(&c, &p, &err), 0);
}

static const struct catalog_entry cf_like = {
	.name = "cf", .need_v4 = true, .need_v6 = true, .min_v4 = 3, .min_v6 = 1,
};

static void copies_and_overlaps_count_once_after_merging(void **state)
{
	static const char *const in[] = {"104.16.0.0/13", "104.16.0.0/13", "104.16.0.0/14",
		"104.16.0.0/13", "2400:cb00::/32", NULL};
	struct ranges *r = from(in);
	struct cda_error err = {0};

	(void)state;
	assert_int_equal(guard_check_list(4, 1, &cf_like, &err), 0); /* four lines read */
	assert_int_equal(guard_check_merged(r, &cf_like, &err), -1); /* one prefix left */
	assert_int_equal(err.code, CDA_EDATA);
	assert_non_null(strstr(err.msg, "below the floor"));
	ranges_free(r);
}

static void a_family_of_only_private_space_is_missing(void **state)
{
	static const char *const in[] = {"10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16",
		"2400:cb00::/32", NULL};
	struct ranges *r = from(in);
	struct cda_error err = {0};

	(void)state;
	assert_int_equal(guard_drop_special(r, NULL), 0);
	assert_int_equal(guard_check_merged(r, &cf_like, &err), -1);
	assert_non_null(strstr(err.msg, "no IPv4 entries"));
	ranges_free(r);
}

static void a_cached_list_meets_todays_bounds_or_is_refused(void **state)
{
	static const char *const good[] = {"104.16.0.0/13", "104.24.0.0/14", "131.0.72.0/22",
		"2400:cb00::/32", NULL};
	static const char *const broad[] = {"0.0.0.0/1", "131.0.72.0/22", "172.64.0.0/13",
		"2400:cb00::/32", NULL};
	struct ranges *g = from(good), *b = from(broad);
	struct cda_error err = {0};

	(void)state;
	assert_int_equal(guard_check_cached(g, 8, 20, &cf_like, &err), 0);
	assert_int_equal(guard_check_cached(g, 14, 20, &cf_like, &err), -1);
	assert_non_null(strstr(err.msg, "104.16.0.0/13 is broader than /14"));
	assert_int_equal(guard_check_cached(b, 8, 20, &cf_like, &err), -1);
	assert_non_null(strstr(err.msg, "0.0.0.0/1"));
	ranges_free(g);
	ranges_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(special_purpose_space_is_dropped_and_listed),
		cmocka_unit_test(srv6_sid_space_is_special),
		cmocka_unit_test(partly_special_prefix_keeps_its_public_part),
		cmocka_unit_test(shrink_past_the_limit_is_refused),
		cmocka_unit_test(losing_addresses_past_the_limit_is_refused),
		cmocka_unit_test(exactly_the_limit_passes),
		cmocka_unit_test(emptying_a_family_is_refused_unless_forced),
		cmocka_unit_test(a_locked_target_is_never_emptied_even_with_force),
		cmocka_unit_test(first_run_always_passes),
		cmocka_unit_test(copies_and_overlaps_count_once_after_merging),
		cmocka_unit_test(a_family_of_only_private_space_is_missing),
		cmocka_unit_test(a_cached_list_meets_todays_bounds_or_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
