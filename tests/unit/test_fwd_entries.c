// SPDX-License-Identifier: MIT
/* Unit tests of fwd_entries: firewalld ipset entry lists to ranges and back, and the order
 * of a runtime delta. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fwd_entries.h"
#include "ranges.h"

/* "a b c" -> {"a", "b", "c", NULL}, allocated */
static char **words(const char *s)
{
	char **v = calloc(64, sizeof(*v)), *copy = strdup(s), *save = NULL;
	size_t n = 0;

	assert_non_null(v);
	for (char *w = strtok_r(copy, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save))
		v[n++] = strdup(w);
	free(copy);
	return v;
}

/* The ops as "-a +b ..." */
static char *ops_text(const struct fwd_op *ops, size_t n)
{
	char *out = calloc(1, 4096);

	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strcat(out, " ");
		strcat(out, ops[i].add ? "+" : "-");
		strcat(out, ops[i].entry);
	}
	return out;
}

static void delta_is(const char *have, const char *want, const char *expect)
{
	char **h = words(have), **w = words(want), *got;
	struct fwd_op *ops = NULL;
	size_t n = 99;

	assert_int_equal(fwd_entries_delta(h, w, &ops, &n), 0);
	got = ops_text(ops, n);
	assert_string_equal(got, expect);
	free(got);
	free(ops);
	fwd_strv_free(h);
	fwd_strv_free(w);
}

static void identical_lists_need_no_call(void **state)
{
	(void)state;
	delta_is("1.0.0.0/24 2.0.0.0/24", "2.0.0.0/24 1.0.0.0/24", "");
	delta_is("", "", "");
}

static void a_split_prefix_is_removed_just_before_its_parts_are_added(void **state)
{
	(void)state;
	/* Cloudflare 2015 -> 2021 (IPv4 part): the /12 became a /13 and a /14 */
	delta_is("103.21.244.0/22 104.16.0.0/12 199.27.128.0/21",
		 "103.21.244.0/22 104.16.0.0/13 104.24.0.0/14 131.0.72.0/22",
		 "-104.16.0.0/12 +104.16.0.0/13 +104.24.0.0/14 +131.0.72.0/22 -199.27.128.0/21");
}

static void merged_prefixes_are_all_removed_before_the_wider_one_comes(void **state)
{
	(void)state;
	delta_is("10.0.0.0/9 10.128.0.0/9 11.0.0.0/8", "10.0.0.0/8 11.0.0.0/8",
		 "-10.0.0.0/9 -10.128.0.0/9 +10.0.0.0/8");
}

static void ipv6_and_ranges_order_by_address(void **state)
{
	(void)state;
	delta_is("2400:cb00::/32 2606:4700::/32", "2606:4700::/32 2a06:98c0::/29 2400:cb00::/32",
		 "+2a06:98c0::/29");
	/* an admin's range entry overlapping a new prefix goes first */
	delta_is("192.0.2.10-192.0.2.20", "192.0.2.0/24", "-192.0.2.10-192.0.2.20 +192.0.2.0/24");
}

static void an_unreadable_entry_fails_the_delta(void **state)
{
	char **h = words("1.0.0.0/24 bogus"), **w = words("1.0.0.0/24");
	struct fwd_op *ops = NULL;
	size_t n = 5;

	(void)state;
	assert_int_equal(fwd_entries_delta(h, w, &ops, &n), -2);
	assert_null(ops);
	assert_int_equal(n, 0);
	fwd_strv_free(h);
	fwd_strv_free(w);
}

static void ranges_give_canonical_prefixes_per_family(void **state)
{
	struct ranges *r = ranges_new();
	const char *in[] = {"2400:CB00:0::/32", "104.24.0.0/14", "104.16.0.0/13", "1.2.3.4"};
	char **v4 = NULL, **v6 = NULL;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		struct cidr c;

		assert_int_not_equal(cidr_parse(in[i], strlen(in[i]), &c, NULL), CIDR_INVALID);
		assert_int_equal(ranges_add_cidr(r, &c), 0);
	}
	ranges_normalize(r);
	assert_int_equal(fwd_entries_from_ranges(r, 4, &v4), 0);
	assert_int_equal(fwd_entries_from_ranges(r, 6, &v6), 0);
	/* 104.16/13 + 104.24/14 are adjacent: one interval, still two prefixes */
	assert_int_equal(fwd_strv_len(v4), 3);
	assert_string_equal(v4[0], "1.2.3.4/32");
	assert_string_equal(v4[1], "104.16.0.0/13");
	assert_string_equal(v4[2], "104.24.0.0/14");
	assert_int_equal(fwd_strv_len(v6), 1);
	assert_string_equal(v6[0], "2400:cb00::/32");
	fwd_strv_free(v4);
	fwd_strv_free(v6);
	ranges_free(r);
}

static void entries_read_as_prefixes_addresses_and_ranges(void **state)
{
	char **v = words("198.51.100.0/24 192.0.2.7 192.0.2.10-192.0.2.20");
	struct ranges *r = ranges_new();
	size_t bad = 99;

	(void)state;
	assert_int_equal(fwd_entries_to_ranges(v, 4, r, &bad), 0);
	ranges_sort(r);
	assert_int_equal(ranges_count4(r), 3);
	assert_int_equal(ranges_v4(r)[0].lo, 0xc0000207u);
	assert_int_equal(ranges_v4(r)[1].lo, 0xc000020au);
	assert_int_equal(ranges_v4(r)[1].hi, 0xc0000214u);
	assert_int_equal(ranges_v4(r)[2].hi, 0xc63364ffu);
	fwd_strv_free(v);
	ranges_free(r);
}

static void a_wrong_family_or_garbage_entry_is_named_by_index(void **state)
{
	char **v = words("198.51.100.0/24 2001:db8::/32"),
	     **g = words("1.2.3.0/24 1.2.3.9-1.2.3.1");
	struct ranges *r = ranges_new();
	size_t bad = 99;

	(void)state;
	assert_int_equal(fwd_entries_to_ranges(v, 4, r, &bad), -2);
	assert_int_equal(bad, 1);
	bad = 99;
	assert_int_equal(fwd_entries_to_ranges(g, 4, r, &bad), -2); /* range backwards */
	assert_int_equal(bad, 1);
	fwd_strv_free(v);
	fwd_strv_free(g);
	ranges_free(r);
}

static void same_ignores_order_but_not_content(void **state)
{
	char **a = words("1.0.0.0/24 2.0.0.0/24"), **b = words("2.0.0.0/24 1.0.0.0/24");
	char **c = words("1.0.0.0/24"), **empty = words("");

	(void)state;
	assert_int_equal(fwd_entries_same(a, b), 1);
	assert_int_equal(fwd_entries_same(a, c), 0);
	assert_int_equal(fwd_entries_same(empty, NULL), 1);
	assert_int_equal(fwd_entries_same(c, NULL), 0);
	fwd_strv_free(a);
	fwd_strv_free(b);
	fwd_strv_free(c);
	fwd_strv_free(empty);
}

static void rich_rules_are_in_firewalld_spelling(void **state)
{
	char *r = NULL;

	(void)state;
	assert_int_equal(fwd_rich_rule(&r, 4, "cdnallow4", "443"), 0);
	assert_string_equal(r, "rule family=\"ipv4\" source ipset=\"cdnallow4\" port port=\"443\" "
			       "protocol=\"tcp\" accept");
	free(r);
	assert_int_equal(fwd_rich_rule(&r, 6, "v6", "8000-8080"), 0);
	assert_string_equal(r, "rule family=\"ipv6\" source ipset=\"v6\" port port=\"8000-8080\" "
			       "protocol=\"tcp\" accept");
	free(r);
}

static void bad_ports_make_no_rule(void **state)
{
	const char *bad[] = {"0", "65536", "080", "443-80", "1-", "-5", "http", "44 3", "", "1-2-3"};
	char *r = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_int_equal(fwd_rich_rule(&r, 4, "s", bad[i]), -1);
		assert_int_equal(errno, EINVAL);
		assert_null(r);
	}
	assert_int_equal(fwd_rich_rule(&r, 4, "s", "65535"), 0);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(identical_lists_need_no_call),
		cmocka_unit_test(a_split_prefix_is_removed_just_before_its_parts_are_added),
		cmocka_unit_test(merged_prefixes_are_all_removed_before_the_wider_one_comes),
		cmocka_unit_test(ipv6_and_ranges_order_by_address),
		cmocka_unit_test(an_unreadable_entry_fails_the_delta),
		cmocka_unit_test(ranges_give_canonical_prefixes_per_family),
		cmocka_unit_test(entries_read_as_prefixes_addresses_and_ranges),
		cmocka_unit_test(a_wrong_family_or_garbage_entry_is_named_by_index),
		cmocka_unit_test(same_ignores_order_but_not_content),
		cmocka_unit_test(rich_rules_are_in_firewalld_spelling),
		cmocka_unit_test(bad_ports_make_no_rule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
