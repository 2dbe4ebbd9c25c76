// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "exec_doc.h"
#include "ranges.h"
#include "state.h"
#include "textbuf.h"

static void add(struct ranges *r, const char *s)
{
	struct cidr c;

	assert_int_equal(cidr_parse(s, strlen(s), &c, NULL), CIDR_OK);
	assert_int_equal(ranges_add_cidr(r, &c), 0);
}

static void push(struct cidr_list *l, const char *s)
{
	struct cidr c;

	assert_int_equal(cidr_parse(s, strlen(s), &c, NULL), CIDR_OK);
	assert_int_equal(cidr_list_push(l, &c), 0);
}

static const char *str_at(json_object *o, const char *key, int i)
{
	json_object *a = json_object_object_get(o, key);

	return json_object_get_string(json_object_array_get_idx(a, (size_t)i));
}

static void document_has_every_field(void **state)
{
	struct ranges *cf = ranges_new(), *fa = ranges_new();
	struct cidr_list want = {0}, added = {0}, removed = {0};
	struct source_attr srcs[] = {{"cloudflare", cf}, {"fastly", fa}};
	struct exec_doc d = {.target = "edge", .state = "pl-1:7", .want = &want, .added = &added,
			     .removed = &removed, .srcs = srcs, .n_srcs = 2};
	struct textbuf b = {0};
	json_object *doc, *o;

	add(cf, "104.16.0.0/13");
	add(cf, "2400:cb00::/32");
	add(fa, "151.101.0.0/16");
	ranges_normalize(cf);
	ranges_normalize(fa);
	push(&want, "104.16.0.0/13");
	push(&want, "151.101.0.0/16");
	push(&want, "192.0.2.0/24"); /* in no source: no sources_of entry */
	push(&want, "2400:cb00::/32");
	push(&added, "151.101.0.0/16");
	push(&removed, "2a06:98c0::/29");
	exec_doc_json(&d, &b);
	assert_false(b.oom);
	assert_int_equal(b.p[b.len - 1], '\n');
	assert_null(memchr(b.p, '\n', b.len - 1)); /* one line */
	assert_non_null(doc = json_tokener_parse(b.p));
	assert_int_equal(json_object_get_int(json_object_object_get(doc, "version")), 1);
	assert_string_equal(json_object_get_string(json_object_object_get(doc, "target")), "edge");
	assert_string_equal(json_object_get_string(json_object_object_get(doc, "state")), "pl-1:7");
	assert_false(json_object_get_boolean(json_object_object_get(doc, "dry_run")));
	o = json_object_object_get(doc, "want");
	assert_int_equal(json_object_array_length(json_object_object_get(o, "ipv4")), 3);
	assert_string_equal(str_at(o, "ipv4", 2), "192.0.2.0/24");
	assert_string_equal(str_at(o, "ipv6", 0), "2400:cb00::/32");
	o = json_object_object_get(doc, "added");
	assert_string_equal(str_at(o, "ipv4", 0), "151.101.0.0/16");
	assert_int_equal(json_object_array_length(json_object_object_get(o, "ipv6")), 0);
	o = json_object_object_get(doc, "removed");
	assert_int_equal(json_object_array_length(json_object_object_get(o, "ipv4")), 0);
	assert_string_equal(str_at(o, "ipv6", 0), "2a06:98c0::/29");
	o = json_object_object_get(doc, "sources_of");
	assert_int_equal(json_object_object_length(o), 3);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "104.16.0.0/13")),
			    "cloudflare");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "151.101.0.0/16")),
			    "fastly");
	assert_null(json_object_object_get(o, "192.0.2.0/24"));
	json_object_put(doc);
	free(b.p);
	cidr_list_finish(&want);
	cidr_list_finish(&added);
	cidr_list_finish(&removed);
	ranges_free(cf);
	ranges_free(fa);
}

static void read_document_has_no_lists_and_strings_are_escaped(void **state)
{
	struct exec_doc d = {.target = "a\"b\\c", .state = "x\ty\x01", .dry_run = true};
	struct textbuf b = {0};
	json_object *doc;

	exec_doc_json(&d, &b);
	assert_string_equal(b.p, "{\"version\":1,\"target\":\"a\\\"b\\\\c\",\"dry_run\":true,"
				 "\"state\":\"x\\u0009y\\u0001\"}\n");
	assert_non_null(doc = json_tokener_parse(b.p));
	assert_string_equal(json_object_get_string(json_object_object_get(doc, "state")),
			    "x\ty\x01");
	assert_null(json_object_object_get(doc, "want"));
	json_object_put(doc);
	free(b.p);
}

static void token_is_one_printable_line(void **state)
{
	char tok[STATE_TOKEN_MAX + 1], big[STATE_TOKEN_MAX + 2];
	const char *why;

	assert_int_equal(exec_token("pl-0ab:12\n", 10, tok, sizeof(tok), &why), 0);
	assert_string_equal(tok, "pl-0ab:12");
	assert_int_equal(exec_token("v 3\r\n", 5, tok, sizeof(tok), &why), 0);
	assert_string_equal(tok, "v 3");
	assert_int_equal(exec_token("", 0, tok, sizeof(tok), &why), 0);
	assert_string_equal(tok, "");
	assert_int_equal(exec_token("\n", 1, tok, sizeof(tok), &why), 0);
	assert_string_equal(tok, "");
	assert_int_equal(exec_token("a\nb\n", 4, tok, sizeof(tok), &why), -1);
	assert_string_equal(why, "more than one line");
	assert_int_equal(exec_token("a\0b", 3, tok, sizeof(tok), &why), -1);
	assert_string_equal(why, "a control or non-ASCII byte");
	assert_int_equal(exec_token("caf\xc3\xa9", 5, tok, sizeof(tok), &why), -1);
	assert_int_equal(exec_token("\x1b[31mred", 8, tok, sizeof(tok), &why), -1);
	memset(big, 'x', sizeof(big));
	assert_int_equal(exec_token(big, STATE_TOKEN_MAX, tok, sizeof(tok), &why), 0);
	assert_int_equal(strlen(tok), STATE_TOKEN_MAX);
	assert_int_equal(exec_token(big, STATE_TOKEN_MAX + 1, tok, sizeof(tok), &why), -1);
	assert_string_equal(why, "longer than 1024 bytes");
}

static void held_list_is_one_cidr_a_line(void **state)
{
	char ok[] = "# held now\n  104.16.0.0/13 \n\n2400:cb00::/32\r\n198.51.100.7\n";
	char bad[] = "104.16.0.0/13\n10.0.0.1/8\n";
	char junk[] = "104.16.0.0/13\nAn error occurred\n";
	struct ranges *r = ranges_new();
	unsigned int line;

	assert_int_equal(exec_parse_held(ok, r, &line), 0);
	assert_int_equal(ranges_count4(r), 2);
	assert_int_equal(ranges_count6(r), 1);
	ranges_clear(r);
	assert_int_equal(exec_parse_held(bad, r, &line), -1); /* host bits set */
	assert_int_equal(line, 2);
	assert_int_equal(exec_parse_held(junk, r, &line), -1);
	assert_int_equal(line, 2);
	ranges_free(r);
}

static void tail_keeps_the_end(void **state)
{
	char buf[32];

	exec_tail("first\n\n  \nsecond\r\n", buf, sizeof(buf));
	assert_string_equal(buf, "first; second");
	exec_tail("", buf, sizeof(buf));
	assert_string_equal(buf, "");
	exec_tail(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "");
	exec_tail("line one is long enough\nAn error occurred (RequestLimitExceeded)\n", buf,
		  sizeof(buf));
	assert_string_equal(buf, "...urred (RequestLimitExceeded)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(document_has_every_field),
		cmocka_unit_test(read_document_has_no_lists_and_strings_are_escaped),
		cmocka_unit_test(token_is_one_printable_line),
		cmocka_unit_test(held_list_is_one_cidr_a_line),
		cmocka_unit_test(tail_keeps_the_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
