// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cda_error.h"
#include "ranges.h"
#include "snapshot.h"
#include "textbuf.h"

/* A valid snapshot, one line per entry (line numbers are 1-based: good[0] is line 1). */
static const char *const good[] = {
	"cdnallow-snapshot 1",	  /* 1 */
	"serial 1700000123",	  /* 2 */
	"time 1700000100",	  /* 3 */
	"publisher pub-1",	  /* 4 */
	"source cf",		  /* 5 */
	"token 2026-01-01",	  /* 6 */
	"fetched 1700000000",	  /* 7 */
	"v4 104.16.0.0/13",	  /* 8 */
	"v4 104.24.0.0/14",	  /* 9 */
	"v6 2400:cb00::/32",	  /* 10 */
	"source fastly",	  /* 11 */
	"fetched 1700000001",	  /* 12 */
	"v4 151.101.0.0/16",	  /* 13 */
	"end",			  /* 14 */
};
#define NGOOD (sizeof(good) / sizeof(good[0]))

/*
 * The good document with line `at` (1-based) replaced by `with` (NULL: the line left out;
 * at 0: nothing replaced), then `append` added after the last line when not NULL. Each
 * line ends in '\n'. Malloc'd, its length in *len.
 */
static char *doc(unsigned int at, const char *with, const char *append, size_t *len)
{
	struct textbuf tb = {0};

	for (size_t i = 0; i < NGOOD; i++) {
		if (i + 1 == at) {
			if (with != NULL)
				textbuf_printf(&tb, "%s\n", with);
			continue;
		}
		textbuf_printf(&tb, "%s\n", good[i]);
	}
	if (append != NULL)
		textbuf_printf(&tb, "%s\n", append);
	assert_false(tb.oom);
	*len = tb.len;
	return tb.p;
}

static void the_good_document_parses(void **state)
{
	struct snapshot s;
	struct cda_error err = {0};
	const struct snapshot_source *cf, *fa;
	size_t len;
	char *text = doc(0, NULL, NULL, &len);

	(void)state;
	assert_int_equal(snapshot_parse(text, len, &s, &err), 0);
	assert_true(s.serial == 1700000123);
	assert_true(s.time == 1700000100);
	assert_string_equal(s.publisher, "pub-1");
	assert_int_equal(s.n, 2);
	cf = snapshot_find(&s, "cf");
	fa = snapshot_find(&s, "fastly");
	assert_non_null(cf);
	assert_non_null(fa);
	assert_null(snapshot_find(&s, "CF"));
	assert_string_equal(cf->token, "2026-01-01");
	assert_string_equal(fa->token, "");
	assert_true(cf->fetched == 1700000000);
	assert_int_equal(ranges_cidr_count(cf->list, CDA_AF_INET), 2);
	assert_int_equal(ranges_cidr_count(cf->list, CDA_AF_INET6), 1);
	assert_int_equal(ranges_cidr_count(fa->list, CDA_AF_INET), 1);
	assert_int_equal(ranges_cidr_count(fa->list, CDA_AF_INET6), 0);
	assert_true(ranges_contains(cf->list, CDA_AF_INET, 0x681b0001));
	assert_false(ranges_contains(cf->list, CDA_AF_INET, 0x681c0000));
	snapshot_finish(&s);
	snapshot_finish(&s); /* idempotent */
	free(text);
}

/* The document with line `at` replaced (or left out) is refused at line `line`, saying what. */
static void refused_at(unsigned int at, const char *with, const char *append, unsigned int line,
		       const char *what)
{
	struct snapshot s;
	struct cda_error err = {0};
	size_t len;
	char *text = doc(at, with, append, &len);

	if (snapshot_parse(text, len, &s, &err) == 0)
		fail_msg("line %u '%s': accepted", at, with != NULL ? with : "(left out)");
	if (err.code != CDA_EDATA || err.line != line || strstr(err.msg, what) == NULL)
		fail_msg("line %u '%s': code %d line %u '%s', want line %u '%s'", at,
			 with != NULL ? with : "(left out)", (int)err.code, err.line, err.msg, line,
			 what);
	assert_int_equal(s.n, 0); /* emptied */
	assert_null(s.v);
	free(text);
}

static void malformed_header_lines_are_refused_with_their_line(void **state)
{
	(void)state;
	refused_at(1, "cdnallow-snapshot 2", NULL, 1, "not a cdnallow snapshot");
	refused_at(1, "cdnallow-snapshot 1 ", NULL, 1, "not a cdnallow snapshot");
	refused_at(2, "serial 0", NULL, 2, "serial N");
	refused_at(2, "serial 01", NULL, 2, "serial N");
	refused_at(2, "serial -1", NULL, 2, "serial N");
	refused_at(2, "serial +1", NULL, 2, "serial N");
	refused_at(2, "serial 12x", NULL, 2, "serial N");
	refused_at(2, "serial 18446744073709551616", NULL, 2, "serial N"); /* 2^64 */
	refused_at(2, "serial", NULL, 2, "serial N");
	refused_at(2, "serial  1", NULL, 2, "serial N");
	refused_at(2, "time 1700000100", NULL, 2, "serial N"); /* out of order */
	refused_at(3, "time x", NULL, 3, "time UNIX-SECONDS");
	refused_at(3, "time 99999999999999999999", NULL, 3, "time UNIX-SECONDS");
	refused_at(3, "time 4611686018427387904", NULL, 3, "time UNIX-SECONDS"); /* 2^62 */
	refused_at(4, "publisher bad name", NULL, 4, "publisher NAME");
	refused_at(4, "publisher ", NULL, 4, "publisher NAME");
	refused_at(4, "publisher a/b", NULL, 4, "publisher NAME");
	refused_at(4, "publisher 1234567890123456789012345678901234567890123456789012345678901234",
		   NULL, 4, "publisher NAME"); /* 64 characters */
}

static void malformed_body_lines_are_refused_with_their_line(void **state)
{
	(void)state;
	refused_at(5, "source bad/name", NULL, 5, "bad source name");
	refused_at(5, "source ", NULL, 5, "bad source name");
	refused_at(11, "source cf", NULL, 11, "source named twice");
	refused_at(6, "token ", NULL, 6, "\"token\"");
	refused_at(8, "token again", NULL, 8, "\"token\""); /* after fetched */
	refused_at(7, "fetched x", NULL, 7, "\"fetched\"");
	refused_at(7, "fetched -5", NULL, 7, "\"fetched\"");
	refused_at(13, "fetched 1", NULL, 13, "\"fetched\""); /* twice */
	refused_at(7, "source other", NULL, 7, "without its \"fetched\"");
	refused_at(12, "v4 151.101.0.0/16", NULL, 12, "before its source's \"fetched\"");
	refused_at(8, "v4 104.16.0.1/13", NULL, 8, "canonical"); /* host bits */
	refused_at(8, "v4 2400:cb00::/32", NULL, 8, "canonical");
	refused_at(10, "v6 104.16.0.0/13", NULL, 10, "canonical");
	refused_at(8, "v4 104.16.0.0/13 ", NULL, 8, "canonical");
	refused_at(8, "v4 104.16.0.0", NULL, 8, "canonical"); /* bare address */
	refused_at(8, "v4 104.016.0.0/13", NULL, 8, "canonical");
	refused_at(10, "v6 2400:CB00::/32", NULL, 10, "canonical");
	refused_at(9, "v4 104.16.0.0/14", NULL, 9, "out of order or overlapping");
	refused_at(9, "v4 104.16.0.0/13", NULL, 9, "out of order or overlapping");
	refused_at(9, "v4 1.0.0.0/8", NULL, 9, "out of order or overlapping");
	refused_at(12, "bogus 1", NULL, 12, "unknown line");
	refused_at(12, "Fetched 1700000001", NULL, 12, "unknown line");
	refused_at(14, "en", NULL, 14, "unknown line");
	refused_at(14, "end\r", NULL, 14, "unknown line");
	refused_at(14, NULL, NULL, 13, "truncated");
	refused_at(0, NULL, "end", 15, "text after \"end\"");
	refused_at(0, NULL, "", 15, "text after \"end\"");
}

/* A v4 prefix after the family's v6 ones, a NUL byte and an overlong line. */
static void misordered_families_nul_and_long_lines_are_refused(void **state)
{
	char long_line[700];
	struct snapshot s;
	struct cda_error err = {0};
	size_t len;
	char *text = doc(0, NULL, NULL, &len);
	char *p;

	(void)state;
	/* lines 9 and 10 swapped: the v4 prefix now follows the v6 one */
	p = strstr(text, "v4 104.24.0.0/14\nv6 2400:cb00::/32\n");
	assert_non_null(p);
	memcpy(p, "v6 2400:cb00::/32\nv4 104.24.0.0/14\n", 35);
	assert_int_equal(snapshot_parse(text, len, &s, &err), -1);
	assert_int_equal(err.line, 10);
	assert_non_null(strstr(err.msg, "a v4 prefix after the v6 ones"));
	free(text);

	text = doc(0, NULL, NULL, &len);
	p = strstr(text, "v4 151.101.0.0/16");
	assert_non_null(p);
	p[2] = '\0';
	assert_int_equal(snapshot_parse(text, len, &s, &err), -1);
	assert_int_equal(err.line, 13);
	assert_non_null(strstr(err.msg, "NUL"));
	free(text);

	memset(long_line, 'a', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	memcpy(long_line, "token ", 6);
	refused_at(6, long_line, NULL, 6, "line too long");
	long_line[SNAPSHOT_TOKEN_MAX + 6] = '\0'; /* under the line limit, over the token's */
	refused_at(6, long_line, NULL, 6, "\"token\"");
	long_line[SNAPSHOT_TOKEN_MAX + 5] = '\0'; /* the longest token taken */
	text = doc(6, long_line, NULL, &len);
	assert_int_equal(snapshot_parse(text, len, &s, &err), 0);
	assert_int_equal(strlen(snapshot_find(&s, "cf")->token), SNAPSHOT_TOKEN_MAX - 1);
	snapshot_finish(&s);
	free(text);
}

/* Every cut of the document short of its final newline is refused: truncation shows. */
static void every_truncation_is_refused(void **state)
{
	struct snapshot s;
	struct cda_error err;
	size_t len;
	char *text = doc(0, NULL, NULL, &len);

	(void)state;
	for (size_t k = 0; k < len - 1; k++) {
		char *cut = malloc(k + 1); /* exactly k bytes (ASan: no read past them) */

		assert_non_null(cut);
		memcpy(cut, text, k);
		memset(&err, 0, sizeof(err));
		if (snapshot_parse(cut, k, &s, &err) == 0)
			fail_msg("cut at %zu of %zu bytes accepted", k, len);
		assert_int_equal(err.code, CDA_EDATA);
		free(cut);
	}
	assert_int_equal(snapshot_parse(text, len - 1, &s, &err), 0); /* no final newline */
	snapshot_finish(&s);
	free(text);
}

/* Adjacent prefixes are taken (and merged); a source may have no prefix at all. */
static void adjacent_prefixes_and_empty_sources(void **state)
{
	static const char text[] = "cdnallow-snapshot 1\nserial 5\ntime 0\npublisher p\n"
				   "source a\nfetched 0\nv4 10.0.0.0/25\nv4 10.0.0.128/25\n"
				   "v6 ::/1\nv6 8000::/1\nsource empty\nfetched 3\nend\n";
	struct snapshot s;
	struct cda_error err = {0};

	(void)state;
	assert_int_equal(snapshot_parse(text, sizeof(text) - 1, &s, &err), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(ranges_cidr_count(s.v[0].list, CDA_AF_INET), 1);
	assert_int_equal(ranges_cidr_count(s.v[0].list, CDA_AF_INET6), 1);
	assert_int_equal(ranges_count4(s.v[1].list) + ranges_count6(s.v[1].list), 0);
	snapshot_finish(&s);
}

static void add_cidr(struct ranges *r, const char *text)
{
	struct cidr c;
	bool bare;

	assert_int_equal(cidr_parse(text, strlen(text), &c, &bare), CIDR_OK);
	assert_int_equal(ranges_add_cidr(r, &c), 0);
}

/* format then parse gives the same snapshot, and formatting that gives the same bytes. */
static void format_and_parse_round_trip(void **state)
{
	struct snapshot s = {.serial = UINT64_MAX, .time = 1700000000}, back;
	struct snapshot_source src[2] = {{.fetched = 1}, {.fetched = 1699999999}};
	struct textbuf t1 = {0}, t2 = {0};
	struct cda_error err = {0};

	(void)state;
	strcpy(s.publisher, "lists-1.example");
	strcpy(src[0].name, "cloudflare");
	strcpy(src[0].token, "W/\"etag with spaces\"");
	strcpy(src[1].name, "github_hooks");
	for (int i = 0; i < 2; i++)
		assert_non_null(src[i].list = ranges_new());
	add_cidr(src[0].list, "104.24.0.0/14");
	add_cidr(src[0].list, "104.16.0.0/13");
	add_cidr(src[0].list, "2400:cb00::/32");
	add_cidr(src[1].list, "192.30.252.0/22");
	add_cidr(src[1].list, "192.30.252.0/24"); /* inside the one before: merged */
	for (int i = 0; i < 2; i++)
		ranges_normalize(src[i].list);
	s.v = src;
	s.n = 2;
	snapshot_format(&s, &t1);
	assert_false(t1.oom);
	assert_int_equal(snapshot_parse(t1.p, t1.len, &back, &err), 0);
	assert_true(back.serial == UINT64_MAX);
	assert_true(back.time == s.time);
	assert_string_equal(back.publisher, s.publisher);
	assert_int_equal(back.n, 2);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(back.v[i].name, src[i].name);
		assert_string_equal(back.v[i].token, src[i].token);
		assert_true(back.v[i].fetched == src[i].fetched);
		assert_true(ranges_equal(back.v[i].list, src[i].list));
	}
	snapshot_format(&back, &t2);
	assert_int_equal(t1.len, t2.len);
	assert_memory_equal(t1.p, t2.p, t1.len);
	assert_non_null(strstr(t1.p, "\nv4 104.16.0.0/13\nv4 104.24.0.0/14\nv6 2400:cb00::/32\n"));
	snapshot_finish(&back);
	for (int i = 0; i < 2; i++)
		ranges_free(src[i].list);
	free(t1.p);
	free(t2.p);
}

static void versioned_names(void **state)
{
	char buf[64];

	(void)state;
	snapshot_file_name(42, buf, sizeof(buf));
	assert_string_equal(buf, "snapshot-42.txt");
	assert_true(snapshot_name_serial(buf, strlen(buf)) == 42);
	snapshot_file_name(UINT64_MAX, buf, sizeof(buf));
	assert_true(snapshot_name_serial(buf, strlen(buf)) == UINT64_MAX);
	assert_true(snapshot_name_serial("snapshot-18446744073709551616.txt", 33) == 0);
	assert_true(snapshot_name_serial("snapshot-.txt", 13) == 0);
	assert_true(snapshot_name_serial("snapshot-01.txt", 15) == 0);
	assert_true(snapshot_name_serial("snapshot-0.txt", 14) == 0);
	assert_true(snapshot_name_serial("snapshot-1x.txt", 15) == 0);
	assert_true(snapshot_name_serial("snapshot-1.txt.minisig", 22) == 0);
	assert_true(snapshot_name_serial("Snapshot-1.txt", 14) == 0);
	assert_true(snapshot_name_serial("snapshot-7.txt", 14) == 7);
	assert_true(snapshot_name_serial("snapshot-7.txtX", 14) == 7); /* len bounds it */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_good_document_parses),
		cmocka_unit_test(malformed_header_lines_are_refused_with_their_line),
		cmocka_unit_test(malformed_body_lines_are_refused_with_their_line),
		cmocka_unit_test(misordered_families_nul_and_long_lines_are_refused),
		cmocka_unit_test(every_truncation_is_refused),
		cmocka_unit_test(adjacent_prefixes_and_empty_sources),
		cmocka_unit_test(format_and_parse_round_trip),
		cmocka_unit_test(versioned_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
