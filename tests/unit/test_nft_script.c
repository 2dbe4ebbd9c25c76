// SPDX-License-Identifier: MIT
/* Unit tests of nft_script: the script text for each table shape, its path and its file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/netfilter.h>

#include "cda_error.h"
#include "nft_batch.h"
#include "nft_script.h"
#include "ranges.h"
#include "textbuf.h"

#define V4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

static struct ranges *cf(bool v4, bool v6)
{
	struct ranges *r = ranges_new();
	struct cidr c;

	assert_non_null(r);
	if (v4) {
		assert_int_equal(cidr_parse("173.245.48.0/20", 15, &c, NULL), CIDR_OK);
		assert_int_equal(ranges_add_cidr(r, &c), 0);
		/* 104.16.0.0/13 + 104.24.0.0/14: one interval, not a prefix */
		assert_int_equal(ranges_add4(r, V4(104, 16, 0, 0), V4(104, 27, 255, 255)), 0);
		assert_int_equal(ranges_add4(r, V4(192, 0, 2, 7), V4(192, 0, 2, 7)), 0);
	}
	if (v6) {
		assert_int_equal(cidr_parse("2400:cb00::/32", 14, &c, NULL), CIDR_OK);
		assert_int_equal(ranges_add_cidr(r, &c), 0);
	}
	ranges_sort(r);
	return r;
}

static char *build(const struct nft_script *s)
{
	struct textbuf t = {0};
	struct cda_error err = {0};

	assert_int_equal(nft_script_build(s, &t, &err), 0);
	return t.p; /* NULL when empty */
}

static size_t lines_with(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void own_table_recreates_sets_in_one_go(void **state)
{
	struct nft_plan p = {.table = "cdnallow", .family = NFPROTO_INET, .create = true,
			     .set_v4 = "allow_v4", .set_v6 = "allow_v6"};
	struct ranges *r = cf(true, true);
	struct nft_script s = {.target = "edge", .plan = &p, .have = r};
	char *t = build(&s);
	const char *del = strstr(t, "delete table inet cdnallow\n");

	assert_non_null(del);
	/* the table exists for the delete, with or without a flush before */
	assert_non_null(strstr(t, "table inet cdnallow {}\ndelete table inet cdnallow\n"
				  "table inet cdnallow {\n"));
	assert_non_null(strstr(t, "\tset allow_v4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n"
				  "\t\tauto-merge\n\t\telements = { 104.16.0.0-104.27.255.255, "
				  "173.245.48.0/20, 192.0.2.7/32 }\n"));
	assert_non_null(strstr(t, "elements = { 2400:cb00::/32 }"));
	assert_null(strstr(t, "chain"));
	assert_null(strstr(t, "flush"));
	free(t);
	ranges_free(r);
}

static void own_table_empty_family_is_declared_without_elements(void **state)
{
	struct nft_plan p = {.table = "cdnallow", .family = NFPROTO_INET, .create = true,
			     .set_v4 = "allow_v4", .set_v6 = "allow_v6"};
	struct ranges *r = cf(true, false);
	struct nft_script s = {.target = "edge", .plan = &p, .have = r};
	char *t = build(&s);

	assert_non_null(strstr(t, "\tset allow_v6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n"
				  "\t\tauto-merge\n\t}\n"));
	assert_int_equal(lines_with(t, "elements"), 1);
	free(t);
	ranges_free(r);
}

static void nothing_to_restore_gives_no_script(void **state)
{
	struct nft_plan own = {.table = "cdnallow", .family = NFPROTO_INET, .create = true,
			       .set_v4 = "allow_v4", .set_v6 = "allow_v6"};
	struct nft_plan admin = {.table = "filter", .family = NFPROTO_INET, .set_v4 = "cdn_v4"};
	struct ranges *empty = ranges_new(), *only6 = cf(false, true);
	struct nft_script s = {.target = "edge", .plan = &own, .have = empty};

	assert_null(build(&s));
	s.have = NULL;
	assert_null(build(&s));
	/* the only synced family is empty: the IPv6 elements are not ours to write */
	s.plan = &admin;
	s.have = only6;
	assert_null(build(&s));
	ranges_free(empty);
	ranges_free(only6);
}

static void admin_table_gets_flush_and_add_per_filled_set(void **state)
{
	struct nft_plan p = {.table = "filter", .family = NFPROTO_INET, .create = false,
			     .set_v4 = "cdn_v4", .set_v6 = "cdn_v6"};
	struct ranges *r = cf(true, false);
	struct nft_script s = {.target = "edge", .plan = &p, .have = r};
	char *t = build(&s);

	assert_non_null(strstr(t, "flush set inet filter cdn_v4\nadd element inet filter cdn_v4 "
				  "{ 104.16.0.0-104.27.255.255, 173.245.48.0/20, 192.0.2.7/32 }\n"));
	/* IPv6 is empty: neither flushed nor filled */
	assert_null(strstr(t, "cdn_v6"));
	/* the admin's file declares the table: we never create or delete it */
	assert_null(strstr(t, "\ntable"));
	assert_null(strstr(t, "delete"));
	free(t);
	ranges_free(r);
}

static void lock_chains_match_the_batch_rules(void **state)
{
	struct nft_plan p = {.table = "cdnallow", .family = NFPROTO_INET, .create = true,
			     .set_v4 = "allow_v4", .set_v6 = "allow_v6"};
	struct cidr allow[2];
	struct nft_lock_spec spec = {.tcp = {{443, 443}, {8000, 8080}}, .n_tcp = 2,
				     .udp = {{443, 443}}, .n_udp = 1, .allow = allow, .n_allow = 2};
	struct ranges *r = cf(true, true);
	struct nft_script s = {.target = "edge", .plan = &p, .have = r, .lock = &spec,
			       .lock_on = {true, true}};
	char *t, want[160], comment[64];

	assert_int_equal(cidr_parse("198.51.100.9", 12, &allow[0], NULL), CIDR_OK);
	assert_int_equal(cidr_parse("2001:db8::/64", 13, &allow[1], NULL), CIDR_OK);
	t = build(&s);
	assert_non_null(strstr(t, "\tchain lock_input {\n\t\tcomment \"" NFT_LOCK_CHAIN_COMMENT
				  "\"\n\t\ttype filter hook input priority -1; policy accept;\n"));
	assert_non_null(strstr(t, "type filter hook forward priority -1; policy accept;\n"));
	/* every rule carries the comment nft_batch gives rule i of its chain, in order */
	for (int h = 0; h < 2; h++) {
		size_t n = nft_lock_rule_count(&p, &spec, h);

		for (size_t i = 0; i < n; i++) {
			nft_lock_comment(&p, &spec, h, i, comment, sizeof(comment));
			snprintf(want, sizeof(want), " comment \"%s\"\n", comment);
			assert_int_equal(lines_with(t, want), 1);
		}
		nft_lock_comment(&p, &spec, h, n, comment, sizeof(comment));
		assert_null(strstr(t, comment));
	}
	assert_non_null(strstr(t, "\t\tiif \"lo\" accept comment"));
	assert_int_equal(lines_with(t, "\t\tiif "), 1); /* input only */
	assert_int_equal(lines_with(t, "ct state established,related accept comment"), 2);
	assert_int_equal(lines_with(t, "ip saddr @allow_v4 accept comment"), 2);
	assert_int_equal(lines_with(t, "ip6 saddr @allow_v6 accept comment"), 2);
	assert_int_equal(lines_with(t, "ip saddr 198.51.100.9 accept comment"), 2);
	assert_int_equal(lines_with(t, "ip6 saddr 2001:db8::/64 accept comment"), 2);
	assert_int_equal(lines_with(t, "\t\tmeta l4proto tcp th dport 8000-8080 drop comment"), 1);
	assert_int_equal(lines_with(t, "\t\tmeta l4proto udp th dport 443 drop comment"), 1);
	assert_int_equal(lines_with(t, "\t\tmeta l4proto tcp ct status dnat ct original "
				       "proto-dst 443 drop comment"),
			 1);
	/* the sets come before the chains that use them */
	assert_true(strstr(t, "set allow_v6") < strstr(t, "chain lock_input"));
	free(t);
	/* the forward chain only when it is on */
	s.lock_on[1] = false;
	t = build(&s);
	assert_null(strstr(t, "lock_forward"));
	free(t);
	ranges_free(r);
}

static void one_family_lock_drops_only_that_family(void **state)
{
	struct nft_plan p = {.table = "cdnallow", .family = NFPROTO_INET, .create = true,
			     .set_v4 = "allow_v4"};
	struct nft_lock_spec spec = {.tcp = {{443, 443}}, .n_tcp = 1};
	struct ranges *r = cf(true, false);
	struct nft_script s = {.target = "edge", .plan = &p, .have = r, .lock = &spec,
			       .lock_on = {true, false}};
	char *t = build(&s);

	assert_non_null(strstr(t, "\t\tmeta nfproto ipv4 meta l4proto tcp th dport 443 drop"));
	assert_null(strstr(t, "allow_v6"));
	assert_int_equal(lines_with(t, " comment \"cdnallow lock"),
			 nft_lock_rule_count(&p, &spec, NFT_LOCK_INPUT));
	free(t);
	ranges_free(r);
}

static void ranges_edges_are_written_as_nft_reads_them(void **state)
{
	struct nft_plan p = {.table = "t", .family = NFPROTO_INET, .create = false,
			     .set_v4 = "a", .set_v6 = "b"};
	struct ranges *r = ranges_new();
	struct nft_script s = {.target = "x", .plan = &p, .have = r};
	char *t;

	assert_int_equal(ranges_add4(r, 0, UINT32_MAX), 0);
	assert_int_equal(ranges_add6(r, (cda_u128)1 << 120, ~(cda_u128)0), 0);
	ranges_sort(r);
	t = build(&s);
	assert_non_null(strstr(t, "add element inet t a { 0.0.0.0/0 }\n"));
	assert_non_null(strstr(t, "add element inet t b { 100::-ffff:ffff:ffff:ffff:ffff:ffff:"
				  "ffff:ffff }\n"));
	free(t);
	ranges_free(r);
}

static void many_elements_are_split_over_lines(void **state)
{
	struct nft_plan p = {.table = "t", .family = NFPROTO_IPV4, .create = false, .set_v4 = "a"};
	struct ranges *r = ranges_new();
	struct nft_script s = {.target = "x", .plan = &p, .have = r};
	char *t;

	for (uint32_t i = 0; i < 1000; i++)
		assert_int_equal(ranges_add4(r, V4(10, 0, 0, 0) + i * 256,
					     V4(10, 0, 0, 0) + i * 256 + 127),
				 0);
	ranges_sort(r);
	t = build(&s);
	assert_int_equal(lines_with(t, "/25"), 1000);
	assert_true(lines_with(t, "\n") > 100);
	assert_non_null(strstr(t, "add element ip t a { 10.0.0.0/25, "));
	assert_non_null(strstr(t, "10.3.231.0/25 }\n"));
	free(t);
	ranges_free(r);
}

static void a_lock_nft_cannot_parse_is_an_error(void **state)
{
	struct nft_plan p = {.table = "t", .family = NFPROTO_IPV6, .create = true,
			     .set_v4 = "a", .set_v6 = "b"};
	struct nft_lock_spec spec = {.tcp = {{443, 443}}, .n_tcp = 1};
	struct ranges *r = cf(true, true);
	struct nft_script s = {.target = "x", .plan = &p, .have = r, .lock = &spec,
			       .lock_on = {true, false}};
	struct textbuf t = {0};
	struct cda_error err = {0};

	/* `ip saddr` in an ip6 table */
	assert_int_equal(nft_script_build(&s, &t, &err), -1);
	assert_int_equal(err.code, CDA_ECONFIG);
	assert_int_equal(t.len, 0);
	free(t.p);
	ranges_free(r);
}

static void path_defaults_to_the_state_dir(void **state)
{
	struct cda_error err = {0};
	char *p = NULL;

	assert_int_equal(nft_script_path(NULL, "/var/lib/cdnallow", "edge", &p, &err), 0);
	assert_string_equal(p, "/var/lib/cdnallow/edge.nft");
	free(p);
	assert_int_equal(nft_script_path("/etc/nftables.d/cdn.nft", "/x", "edge", &p, &err), 0);
	assert_string_equal(p, "/etc/nftables.d/cdn.nft");
	free(p);
	assert_int_equal(nft_script_path("none", "/x", "edge", &p, &err), 0);
	assert_null(p);
	assert_int_equal(nft_script_path(NULL, NULL, "edge", &p, &err), 0);
	assert_null(p);
	assert_int_equal(nft_script_path("edge.nft", "/x", "edge", &p, &err), -1);
	assert_int_equal(err.code, CDA_ECONFIG);
	assert_null(p);
}

static void save_writes_0600_rewrites_when_stale_and_removes_when_empty(void **state)
{
	char dir[] = "/tmp/cda-nftscript-XXXXXX", path[64], tmp[96];
	struct nft_plan p = {.table = "cdnallow", .family = NFPROTO_INET, .create = true,
			     .set_v4 = "allow_v4", .set_v6 = "allow_v6"};
	struct ranges *r = cf(true, true), *empty = ranges_new();
	struct nft_script s = {.target = "edge", .plan = &p, .have = r};
	struct cda_error err = {0};
	struct stat st, st2;
	bool written;
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/edge.nft", dir);
	assert_int_equal(nft_script_save(path, &s, &written, &err), 0);
	assert_true(written);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* the same content again: left alone */
	assert_int_equal(nft_script_save(path, &s, &written, &err), 0);
	assert_false(written);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st.st_ino, st2.st_ino);
	/* edited or chmod'ed: rewritten */
	fp = fopen(path, "a");
	assert_non_null(fp);
	fputs("# edited\n", fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(nft_script_save(path, &s, &written, &err), 0);
	assert_true(written);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(nft_script_save(path, &s, &written, &err), 0);
	assert_true(written);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* nothing left to restore: the old script goes, so a reload cannot empty anything */
	s.have = empty;
	assert_int_equal(nft_script_save(path, &s, &written, &err), 0);
	assert_true(written);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(nft_script_save(path, &s, &written, &err), 0);
	assert_false(written);
	/* a missing directory is an error naming the path */
	snprintf(tmp, sizeof(tmp), "%s/missing/edge.nft", dir);
	s.have = r;
	assert_int_equal(nft_script_save(tmp, &s, &written, &err), -1);
	assert_int_equal(err.code, CDA_ESYS);
	assert_non_null(strstr(err.msg, tmp));
	assert_int_equal(rmdir(dir), 0);
	ranges_free(r);
	ranges_free(empty);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(own_table_recreates_sets_in_one_go),
		cmocka_unit_test(own_table_empty_family_is_declared_without_elements),
		cmocka_unit_test(nothing_to_restore_gives_no_script),
		cmocka_unit_test(admin_table_gets_flush_and_add_per_filled_set),
		cmocka_unit_test(lock_chains_match_the_batch_rules),
		cmocka_unit_test(one_family_lock_drops_only_that_family),
		cmocka_unit_test(ranges_edges_are_written_as_nft_reads_them),
		cmocka_unit_test(many_elements_are_split_over_lines),
		cmocka_unit_test(a_lock_nft_cannot_parse_is_an_error),
		cmocka_unit_test(path_defaults_to_the_state_dir),
		cmocka_unit_test(save_writes_0600_rewrites_when_stale_and_removes_when_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
