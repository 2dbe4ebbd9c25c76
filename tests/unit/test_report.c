// SPDX-License-Identifier: MIT
// Unit tests for report: the human diff, the JSON document and the metrics file.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "cda_error.h"
#include "ranges.h"
#include "report.h"

static struct cidr cidr_of(const char *s)
{
	struct cidr c;

	assert_int_equal(cidr_parse(s, strlen(s), &c, NULL), CIDR_OK);
	return c;
}

/* One source that fell back, one target that applied +1 -1: owned by the caller's stack. */
struct fixture {
	struct source_report src;
	struct target_report tgt;
	struct report_source add_src;
	struct run_report run;
};

/* The fixture's lists, dropped by the next fill() and at the end (the report borrows them). */
static struct ranges *held[3];

static int drop_held(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		ranges_free(held[i]);
		held[i] = NULL;
	}
	return 0;
}

static struct ranges *list_of(size_t slot, const char *s)
{
	struct cidr c = cidr_of(s);

	held[slot] = ranges_new();
	assert_non_null(held[slot]);
	assert_int_equal(ranges_add_cidr(held[slot], &c), 0);
	ranges_normalize(held[slot]);
	return held[slot];
}

static void fill(struct fixture *f)
{
	drop_held(NULL);
	memset(f, 0, sizeof(*f));
	f->src.name = "cf";
	f->src.provider = "cloudflare";
	f->src.status = SRC_FALLBACK;
	f->src.v4 = 15;
	f->src.v6 = 7;
	cda_error_set(&f->src.err, CDA_EFETCH, "HTTP 500");
	cda_error_at(&f->src.err, "source cf (https://x/ips-v4)", 0);
	f->add_src.name = "cf";
	f->add_src.list = list_of(0, "104.16.0.0/12");
	f->tgt.name = "edge";
	f->tgt.backend = "nftables";
	f->tgt.status = TGT_CHANGED;
	f->tgt.added.r = list_of(1, "104.16.0.0/13");
	f->tgt.added.srcs = &f->add_src;
	f->tgt.added.n_srcs = 1;
	f->tgt.n_added = 1;
	f->tgt.removed.r = list_of(2, "2400:cb00::/32");
	f->tgt.n_removed = 1;
	f->tgt.v4 = 15;
	f->tgt.v6 = 6;
	f->run.command = "sync";
	f->run.changed = true;
	f->run.started = 1700000000;
	f->run.sources = &f->src;
	f->run.n_sources = 1;
	f->run.targets = &f->tgt;
	f->run.n_targets = 1;
}

static char *render(int (*fn)(FILE *, const struct run_report *), const struct run_report *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	assert_int_equal(fn(out, r), 0);
	assert_int_equal(fclose(out), 0);
	return text;
}

static int human_quiet(FILE *out, const struct run_report *r)
{
	return report_human(out, r, false);
}

static void human_names_the_fallback_and_each_change_with_its_source(void **state)
{
	struct fixture f;
	char *text;

	(void)state;
	fill(&f);
	text = render(human_quiet, &f.run);
	assert_non_null(strstr(text, "source cf (cloudflare): FAILED, using its last known good list"));
	assert_non_null(strstr(text, "error: source cf (https://x/ips-v4): HTTP 500"));
	assert_non_null(strstr(text, "target edge (nftables): applied +1 -1, 15 IPv4 + 6 IPv6"));
	assert_non_null(strstr(text, "+ 104.16.0.0/13"));
	assert_non_null(strstr(text, "(cf)"));
	assert_non_null(strstr(text, "- 2400:cb00::/32"));
	free(text);
}

/* A failed target says whether the change was sent before the failure (issue 13: a failed
 * read-back after the commit was reported as "left as it was" with the new list live). */
static void a_failure_after_sending_says_so_in_text_and_json(void **state)
{
	struct fixture f;
	char *text;
	json_object *doc, *t, *v;

	(void)state;
	for (int unverified = 0; unverified < 2; unverified++) {
		fill(&f);
		f.tgt.status = TGT_FAILED;
		f.tgt.unverified = unverified;
		cda_error_set(&f.tgt.err, CDA_EAPPLY, "reading set inet t s");
		text = render(human_quiet, &f.run);
		assert_non_null(strstr(text, unverified ? "FAILED, sent but not verified: reading set"
							: "FAILED, left as it was: reading set"));
		free(text);
		text = render(report_json, &f.run);
		doc = json_tokener_parse(text);
		assert_non_null(doc);
		t = json_object_array_get_idx(json_object_object_get(doc, "targets"), 0);
		assert_true(json_object_object_get_ex(t, "unverified", &v));
		assert_int_equal(json_object_get_boolean(v), unverified);
		json_object_put(doc);
		free(text);
	}
}

static void json_is_one_document_with_the_documented_fields(void **state)
{
	struct fixture f;
	char *text;
	json_object *doc, *t, *v;

	(void)state;
	fill(&f);
	text = render(report_json, &f.run);
	doc = json_tokener_parse(text);
	assert_non_null(doc);
	assert_true(json_object_object_get_ex(doc, "changed", &v));
	assert_true(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(doc, "targets", &v));
	assert_int_equal(json_object_array_length(v), 1);
	t = json_object_array_get_idx(v, 0);
	assert_true(json_object_object_get_ex(t, "status", &v));
	assert_string_equal(json_object_get_string(v), "changed");
	assert_true(json_object_object_get_ex(t, "added", &v));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)),
			    "104.16.0.0/13");
	assert_true(json_object_object_get_ex(t, "sources_of", &v));
	assert_true(json_object_object_get_ex(v, "added", &v));
	assert_true(json_object_object_get_ex(v, "104.16.0.0/13", &v));
	assert_string_equal(json_object_get_string(v), "cf");
	assert_true(json_object_object_get_ex(doc, "sources", &v));
	v = json_object_array_get_idx(v, 0);
	assert_true(json_object_object_get_ex(v, "status", &t));
	assert_string_equal(json_object_get_string(t), "fallback");
	assert_true(json_object_object_get_ex(v, "error", &t));
	assert_true(json_object_object_get_ex(t, "class", &t));
	assert_string_equal(json_object_get_string(t), "fetch");
	json_object_put(doc);
	free(text);
}

/* Parse text as strict JSON that must be valid UTF-8. */
static json_object *parse_utf8(const char *text)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *doc;

	assert_non_null(tok);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	doc = json_tokener_parse_ex(tok, text, (int)strlen(text));
	if (doc == NULL)
		fail_msg("not valid UTF-8 JSON (%s): %s",
			 json_tokener_error_desc(json_tokener_get_error(tok)), text);
	json_tokener_free(tok);
	return doc;
}

static int check_bad_path(FILE *out, const struct run_report *r)
{
	struct cda_error e = {0};

	(void)r;
	cda_error_set(&e, CDA_ECONFIG, "caf\xc3\xa9 \xe9t\xe9");
	cda_error_at(&e, "/etc/\xff\xfe.conf", 3);
	return report_check_json(out, "/etc/\xff\xfe.conf", 0, 0, &e);
}

static void json_is_valid_utf8_whatever_the_messages_hold(void **state)
{
	struct fixture f;
	char *text;
	json_object *doc, *v;

	(void)state;
	fill(&f);
	/* a Latin-1 body, a UTF-16 one (BOM), a sequence cut by the message's size, a
	 * surrogate and an overlong form; "é" itself is fine */
	cda_error_set(&f.src.err, CDA_EDATA,
		      "line 1: \"caf\xe9\" \xff\xfe<\\x00 \xed\xa0\x80 \xc0\xaf caf\xc3\xa9 \xe2\x82");
	f.src.status = SRC_FAILED;
	text = render(report_json, &f.run);
	doc = parse_utf8(text);
	assert_true(json_object_object_get_ex(doc, "sources", &v));
	v = json_object_array_get_idx(v, 0);
	assert_true(json_object_object_get_ex(v, "error", &v));
	assert_true(json_object_object_get_ex(v, "message", &v));
	assert_string_equal(json_object_get_string(v),
			    "line 1: \"caf\\xe9\" \\xff\\xfe<\\x00 \\xed\\xa0\\x80 \\xc0\\xaf "
			    "caf\xc3\xa9 \\xe2\\x82");
	json_object_put(doc);
	free(text);
	text = render(check_bad_path, NULL);
	doc = parse_utf8(text);
	assert_true(json_object_object_get_ex(doc, "config", &v));
	assert_string_equal(json_object_get_string(v), "/etc/\\xff\\xfe.conf");
	assert_true(json_object_object_get_ex(doc, "error", &v));
	assert_true(json_object_object_get_ex(v, "message", &v));
	assert_string_equal(json_object_get_string(v), "caf\xc3\xa9 \\xe9t\\xe9");
	json_object_put(doc);
	free(text);
}

static void metrics_escape_labels_and_count_failures(void **state)
{
	struct fixture f;
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	(void)state;
	fill(&f);
	f.tgt.name = "we\"ird";
	out = open_memstream(&text, &len);
	assert_non_null(out);
	assert_int_equal(report_metrics(out, &f.run, 1690000000, 1680000000), 0);
	fclose(out);
	assert_non_null(strstr(text, "cdnallow_last_run_timestamp_seconds 1700000000\n"));
	assert_non_null(strstr(text, "cdnallow_last_success_timestamp_seconds 1690000000\n"));
	assert_non_null(strstr(text,
			       "cdnallow_target_entries{target=\"we\\\"ird\",family=\"ipv6\"} 6\n"));
	assert_non_null(strstr(text, "cdnallow_source_failed{source=\"cf\"} 1\n"));
	free(text);
}

static void every_status_has_a_name(void **state)
{
	(void)state;
	assert_string_equal(report_source_status_name(SRC_NOT_MODIFIED), "not_modified");
	assert_string_equal(report_source_status_name(SRC_CACHED), "cached");
	assert_string_equal(report_target_status_name(TGT_WOULD_CHANGE), "would_change");
	assert_string_equal(report_target_status_name(TGT_REFUSED), "refused");
	assert_string_equal(report_target_status_name(TGT_SKIPPED), "skipped");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(human_names_the_fallback_and_each_change_with_its_source),
		cmocka_unit_test(json_is_one_document_with_the_documented_fields),
		cmocka_unit_test(json_is_valid_utf8_whatever_the_messages_hold),
		cmocka_unit_test(metrics_escape_labels_and_count_failures),
		cmocka_unit_test(every_status_has_a_name),
		cmocka_unit_test(a_failure_after_sending_says_so_in_text_and_json),
	};

	return cmocka_run_group_tests(tests, NULL, drop_held);
}
