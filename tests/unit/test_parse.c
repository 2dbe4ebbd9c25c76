// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cda_error.h"
#include "parse.h"
#include "ranges.h"

#define CF "data/cloudflare/"
#define CF_NOW CF "cloud-ip-ranges-crawler_2025-10-30_57cc637/"
#define CF_API CF "api-recording_2026-10-02/"
#define AWS26 "data/aws/vendor-ip-ranges-history_2026-08-22_adcc618d/aws.json"
#define AWS21 "data/aws/vendor-ip-ranges-history_2021-12-19_ec86d728/aws.json"
#define AZURE "data/azure/ip-fetcher_2023-04-30_4c789fb/ServiceTags_Public_20221212.json"

struct result {
	struct ranges *r;
	struct parse_info info;
	struct cda_error err;
	int rc;
};

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void parse_buf(struct result *res, const char *buf, size_t len, const struct parse_opts *o)
{
	if (res->r == NULL)
		res->r = ranges_new();
	assert_non_null(res->r);
	cda_error_clear(&res->err);
	res->rc = parse_list(buf, len, o, res->r, &res->info, &res->err);
}

static void parse_str(struct result *res, const char *s, const struct parse_opts *o)
{
	parse_buf(res, s, strlen(s), o);
}

static void parse_path(struct result *res, const char *path, const struct parse_opts *o)
{
	size_t len;
	char *buf = slurp(path, &len);

	parse_buf(res, buf, len, o);
	free(buf);
}

static void result_done(struct result *res)
{
	ranges_free(res->r);
	res->r = NULL;
}

static void expect_ok(const struct result *res)
{
	if (res->rc != 0)
		fail_msg("parse failed: line %u: %s", res->err.line, res->err.msg);
}

static void expect_fail(const struct result *res, enum cda_errc code, unsigned int line,
			const char *needle)
{
	assert_int_equal(res->rc, -1);
	assert_int_equal(res->err.code, code);
	assert_int_equal(res->err.line, line);
	if (strstr(res->err.msg, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", res->err.msg, needle);
}

/* Canonical minimal cover of r, as text, compared with want[0..n). */
static void expect_cidrs(struct ranges *r, const char *const *want, size_t n)
{
	struct cidr_list l = {0};
	char buf[CIDR_STRLEN];
	size_t i;

	ranges_normalize(r);
	assert_int_equal(ranges_to_cidrs(r, &l), 0);
	for (i = 0; i < l.n && i < n; i++)
		assert_string_equal(cidr_format(&l.v[i], buf), want[i]);
	assert_int_equal(l.n, n);
	cidr_list_finish(&l);
}

static void cover_strings(struct ranges *r, struct cidr_list *l)
{
	ranges_normalize(r);
	assert_int_equal(ranges_to_cidrs(r, l), 0);
}

static const struct parse_opts text_opts = {.format = FMT_TEXT};
static const struct parse_opts cf_bounds = {
	.format = FMT_TEXT, .broadest_v4 = 8, .broadest_v6 = 20};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const cf_current[] = {
	"103.21.244.0/22", "103.22.200.0/22",  "103.31.4.0/22",   "104.16.0.0/13",
	"104.24.0.0/14",   "108.162.192.0/18", "131.0.72.0/22",   "141.101.64.0/18",
	"162.158.0.0/15",  "172.64.0.0/13",    "173.245.48.0/20", "188.114.96.0/20",
	"190.93.240.0/20", "197.234.240.0/22", "198.41.128.0/17", "2400:cb00::/32",
	"2405:8100::/32",  "2405:b500::/32",   "2606:4700::/32",  "2803:f800::/32",
	"2a06:98c0::/29",  "2c0f:f248::/32",
};

static void cloudflare_text_lists_without_final_newline_parse_completely(void **state)
{
	struct result res = {0};

	parse_path(&res, CF_NOW "cloudflare_0.raw", &cf_bounds);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 15);
	assert_int_equal(res.info.entries_v6, 0);
	parse_path(&res, CF_NOW "cloudflare_1.raw", &cf_bounds);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v6, 7);
	assert_int_equal(res.info.hostbits, 0);
	assert_string_equal(res.info.token, "");
	assert_int_equal(ranges_count4(res.r), 15);
	assert_int_equal(ranges_count6(res.r), 7);
	expect_cidrs(res.r, cf_current, N(cf_current));
	result_done(&res);
}

static void cloudflare_v4_then_v6_joined_by_a_newline_parse_as_one_list(void **state)
{
	struct result res = {0};

	parse_path(&res, CF "vendor-ip-ranges-history_2026-05-12_15886c80/cloudflare.txt",
		   &cf_bounds);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 15);
	assert_int_equal(res.info.entries_v6, 7);
	expect_cidrs(res.r, cf_current, N(cf_current));
	result_done(&res);
}

static void load_pair(struct ranges *r, const char *dir)
{
	char path[256];
	struct result res = {.r = r};

	snprintf(path, sizeof(path), CF "%s/ips-v4", dir);
	parse_path(&res, path, &cf_bounds);
	expect_ok(&res);
	snprintf(path, sizeof(path), CF "%s/ips-v6", dir);
	parse_path(&res, path, &cf_bounds);
	expect_ok(&res);
}

static void format_list(const struct cidr_list *l, char *out, size_t size)
{
	char buf[CIDR_STRLEN];
	size_t i;

	out[0] = '\0';
	for (i = 0; i < l->n; i++) {
		strncat(out, cidr_format(&l->v[i], buf), size - strlen(out) - 1);
		strncat(out, " ", size - strlen(out) - 1);
	}
}

static void cloudflare_2015_to_2021_diff_matches_the_recorded_history(void **state)
{
	struct ranges *old = ranges_new(), *cur = ranges_new();
	struct cidr_list a = {0}, b = {0}, added = {0}, removed = {0};
	char text[1024];

	assert_non_null(old);
	assert_non_null(cur);
	load_pair(old, "plug_cloudflare_2015-05-10_a48ec64");
	load_pair(cur, "plug_cloudflare_2021-11-18_522639f");
	cover_strings(old, &a);
	cover_strings(cur, &b);
	assert_int_equal(cidr_list_diff(&a, &b, &added, &removed), 0);
	format_list(&added, text, sizeof(text));
	assert_string_equal(text, "104.16.0.0/13 104.24.0.0/14 131.0.72.0/22 "
				  "2a06:98c0::/29 2c0f:f248::/32 ");
	format_list(&removed, text, sizeof(text));
	assert_string_equal(text, "104.16.0.0/12 199.27.128.0/21 ");
	cidr_list_finish(&a);
	cidr_list_finish(&b);
	cidr_list_finish(&added);
	cidr_list_finish(&removed);
	ranges_free(old);
	ranges_free(cur);
}

static void every_dated_cloudflare_capture_parses_with_its_counts(void **state)
{
	static const struct {
		const char *dir;
		size_t v4, v6;
	} caps[] = {
		{"plug_cloudflare_2015-05-10_a48ec64", 14, 5},
		{"plug_cloudflare_2016-02-24_6b54e0f", 15, 5},
		{"plug_cloudflare_2016-09-04_e026247", 15, 7},
		{"plug_cloudflare_2017-06-26_fd0a4bd", 14, 7},
		{"plug_cloudflare_2018-09-30_731abed", 14, 6},
		{"plug_cloudflare_2020-11-22_89fa91f", 14, 7},
		{"plug_cloudflare_2021-04-08_3696708", 15, 7},
		{"plug_cloudflare_2021-11-18_522639f", 15, 7},
	};
	size_t i;

	for (i = 0; i < N(caps); i++) {
		struct ranges *r = ranges_new();

		assert_non_null(r);
		load_pair(r, caps[i].dir);
		assert_int_equal(ranges_count4(r), caps[i].v4);
		assert_int_equal(ranges_count6(r), caps[i].v6);
		ranges_free(r);
	}
}

static void cloudflare_jdcloud_lists_parse_with_mixed_prefix_lengths(void **state)
{
	struct result res = {0};

	parse_path(&res, CF "fire-av_jdcloud_0eeb6d01/cloudflare-jd-cloud-ips-ipv4.txt",
		   &cf_bounds);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 88);
	parse_path(&res, CF "fire-av_jdcloud_0eeb6d01/cloudflare-jd-cloud-ips-ipv6.txt",
		   &cf_bounds);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v6, 43);
	ranges_normalize(res.r);
	/* Adjacent pairs merge: 45 intervals, whose minimal CIDR cover is 46 prefixes. */
	assert_int_equal(ranges_count4(res.r), 45);
	assert_int_equal(ranges_cidr_count(res.r, CDA_AF_INET), 46);
	result_done(&res);
}

static void cloudflare_api_recording_gives_lists_and_etag(void **state)
{
	struct parse_opts o = {.format = FMT_CLOUDFLARE_API, .broadest_v4 = 8, .broadest_v6 = 20};
	struct result res = {0};

	parse_path(&res, CF_API "ips.json", &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 15);
	assert_int_equal(res.info.entries_v6, 7);
	assert_string_equal(res.info.token, "38f79d050aa027e3be3865e495dcc9bc");
	expect_cidrs(res.r, cf_current, N(cf_current));
	result_done(&res);
}

static void cloudflare_api_auth_error_is_rejected_with_its_message(void **state)
{
	struct parse_opts o = {.format = FMT_CLOUDFLARE_API};
	struct result res = {0};

	parse_path(&res, CF_API "auth-error.json", &o);
	expect_fail(&res, CDA_EDATA, 0, "10000 Authentication error");
	assert_int_equal(ranges_count4(res.r) + ranges_count6(res.r), 0);
	result_done(&res);
}

static const char cf_jd[] =
	"{\"result\":{\"ipv4_cidrs\":[\"173.245.48.0/20\"],\"ipv6_cidrs\":[\"2400:cb00::/32\"],"
	"\"jdcloud_cidrs\":[\"14.204.96.192/27\",\"2408:8719:64:50:1000::/68\"],"
	"\"etag\":\"e\"},\"success\":true,\"errors\":[],\"messages\":[]}";

static void cloudflare_api_jdcloud_adds_mixed_family_list_only_when_asked(void **state)
{
	struct parse_opts o = {.format = FMT_CLOUDFLARE_API};
	struct result res = {0};

	parse_str(&res, cf_jd, &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries, 2);
	result_done(&res);
	o.networks = "jdcloud";
	parse_str(&res, cf_jd, &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 2);
	assert_int_equal(res.info.entries_v6, 2);
	assert_string_equal(res.info.token, "e");
	result_done(&res);
	o.networks = "china";
	parse_str(&res, cf_jd, &o);
	expect_fail(&res, CDA_ECONFIG, 0, "jdcloud");
	result_done(&res);
}

static void cloudflare_api_envelope_errors_are_rejected(void **state)
{
	static const struct {
		const char *json, *needle;
		unsigned int line;
	} cases[] = {
		{"{\"success\":true,\"result\":null}", "result: missing or null", 0},
		{"{\"success\":true}", "result: missing or null", 0},
		{"{\"result\":{\"ipv4_cidrs\":[],\"ipv6_cidrs\":[]}}", "success: missing", 0},
		{"{\"success\":\"true\",\"result\":{}}", "success: expected boolean, got string",
		 0},
		{"{\"success\":true,\"result\":[]}", "result: expected object, got array", 0},
		{"{\"success\":true,\"result\":{\"ipv4_cidrs\":[\"1.0.0.0/24\"]}}",
		 "result.ipv6_cidrs: missing", 0},
		{"{\"success\":true,\"result\":{\"ipv4_cidrs\":\"1.0.0.0/24\",\"ipv6_cidrs\":[]}}",
		 "result.ipv4_cidrs: expected array, got string", 0},
		{"{\"success\":true,\"result\":{\"ipv4_cidrs\":[\"1.0.0.0/"
		 "24\"],\"ipv6_cidrs\":[]}}",
		 "result.ipv6_cidrs: empty list", 0},
		{"{\"success\":true,\"result\":{\"ipv4_cidrs\":[\"1.0.0.0/24\",\"1.0.1.0/24\","
		 "\"1.0.2.0/24\",7],\"ipv6_cidrs\":[\"2400:cb00::/32\"]}}",
		 "result.ipv4_cidrs[3]: expected string, got int", 0},
		{"{\"success\":true,\"result\":{\"ipv4_cidrs\":[\"1.0.0.0/24\"],\n"
		 "\"ipv6_cidrs\":[\"2400:cb00::/32\",\n\"1.0.9.0/24\"]}}",
		 "result.ipv6_cidrs[1]: \"1.0.9.0/24\" is IPv4 in a list of IPv6 prefixes", 3},
		{"{\"success\":true,\"result\":{\"ipv4_cidrs\":[\"1.0.0.0/24\"],"
		 "\"ipv6_cidrs\":[\"2400:cb00::/32\"],\"etag\":5}}",
		 "result.etag: expected string, got int", 0},
		{"[]", "top level: expected object, got array", 0},
	};
	struct parse_opts o = {.format = FMT_CLOUDFLARE_API};
	size_t i;

	for (i = 0; i < N(cases); i++) {
		struct result res = {0};

		parse_str(&res, cases[i].json, &o);
		expect_fail(&res, CDA_EDATA, cases[i].line, cases[i].needle);
		result_done(&res);
	}
}

static void aws_default_is_cloudfront_origin_facing_with_sync_token(void **state)
{
	struct parse_opts o = {.format = FMT_AWS, .broadest_v4 = 8, .broadest_v6 = 20};
	struct result res = {0};

	parse_path(&res, AWS26, &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 46);
	assert_int_equal(res.info.entries_v6, 3);
	assert_string_equal(res.info.token, "1787416625");
	result_done(&res);
	o.services = "CLOUDFRONT";
	parse_path(&res, AWS26, &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 211);
	assert_int_equal(res.info.entries_v6, 32);
	result_done(&res);
	o.services = "CLOUDFRONT CLOUDFRONT_ORIGIN_FACING";
	parse_path(&res, AWS26, &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 257);
	assert_int_equal(res.info.entries_v6, 35);
	result_done(&res);
}

static void aws_2021_origin_facing_had_no_ipv6(void **state)
{
	struct parse_opts o = {.format = FMT_AWS};
	struct result res = {0};

	parse_path(&res, AWS21, &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 44);
	assert_int_equal(res.info.entries_v6, 0);
	assert_string_equal(res.info.token, "1639779801");
	result_done(&res);
	o.services = "CLOUDFRONT";
	parse_path(&res, AWS21, &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 125);
	assert_int_equal(res.info.entries_v6, 24);
	result_done(&res);
}

static void aws_unknown_service_and_bad_records_are_rejected(void **state)
{
	struct parse_opts o = {.format = FMT_AWS, .services = "NO_SUCH_SERVICE"};
	struct result res = {0};

	parse_path(&res, AWS26, &o);
	expect_fail(&res, CDA_EDATA, 0, "no prefixes for services \"NO_SUCH_SERVICE\"");
	result_done(&res);
	o.services = NULL;
	parse_str(&res,
		  "{\"prefixes\":[{\"service\":\"CLOUDFRONT_ORIGIN_FACING\"}],"
		  "\"ipv6_prefixes\":[]}",
		  &o);
	expect_fail(&res, CDA_EDATA, 0, "prefixes[0].ip_prefix: missing");
	result_done(&res);
	parse_str(&res, "{\"prefixes\":[]}", &o);
	expect_fail(&res, CDA_EDATA, 0, "ipv6_prefixes: missing");
	result_done(&res);
	parse_str(&res,
		  "{\"prefixes\":[{\"ip_prefix\":\"2600:9000::/28\",\"service\":"
		  "\"CLOUDFRONT_ORIGIN_FACING\"}],\"ipv6_prefixes\":[]}",
		  &o);
	expect_fail(&res, CDA_EDATA, 1, "is IPv6 in a list of IPv4 prefixes");
	result_done(&res);
}

static void aws_full_file_parses_fast(void **state)
{
	struct parse_opts o = {.format = FMT_AWS, .services = "AMAZON"};
	struct result res = {0};
	struct timespec t0, t1;
	size_t len;
	char *buf = slurp(AWS26, &len);
	double ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	parse_buf(&res, buf, len, &o);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	expect_ok(&res);
	assert_true(res.info.entries > 5000);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	/* the figure is for the record; speed is measured by tests/bench, not asserted here */
	print_message("# aws 2.6 MB parsed in %.1f ms\n", ms);
	free(buf);
	result_done(&res);
}

static void fastly_lists_parse_in_both_captures(void **state)
{
	static const char *const files[] = {
		"data/fastly/cloud-ips_2024-03-01_ad7518c8/fastly.json",
		"data/fastly/cloud-ip-ranges-crawler_2025-10-30_57cc637/fastly_0.raw",
	};
	struct parse_opts o = {.format = FMT_FASTLY, .broadest_v4 = 8, .broadest_v6 = 20};
	size_t i;

	for (i = 0; i < N(files); i++) {
		struct result res = {0};

		parse_path(&res, files[i], &o);
		expect_ok(&res);
		assert_int_equal(res.info.entries_v4, 19);
		assert_int_equal(res.info.entries_v6, 2);
		result_done(&res);
	}
}

static void empty_fastly_body_is_rejected(void **state)
{
	struct parse_opts o = {.format = FMT_FASTLY};
	struct result res = {0};

	parse_path(&res, "data/errors/fastly/cloud-ips_2024-10-08_1d2d42df/fastly.json", &o);
	expect_fail(&res, CDA_EDATA, 0, "empty list");
	result_done(&res);
}

static void bunny_arrays_of_bare_addresses_parse_per_family(void **state)
{
	static const struct {
		const char *dir;
		size_t v4, v6;
	} days[] = {
		{"data/bunny/cloud-ips_2026-06-30_a2a761f3/", 617, 344},
		{"data/bunny/cloud-ips_2026-08-21_847261c2/", 590, 323},
	};
	struct parse_opts o = {.format = FMT_BUNNY, .broadest_v4 = 8, .broadest_v6 = 20};
	char path[256];
	size_t i;

	for (i = 0; i < N(days); i++) {
		struct result res = {0};

		snprintf(path, sizeof(path), "%sedgeserverlist.json", days[i].dir);
		parse_path(&res, path, &o);
		expect_ok(&res);
		snprintf(path, sizeof(path), "%sedgeserverlist-IPv6.json", days[i].dir);
		parse_path(&res, path, &o);
		expect_ok(&res);
		assert_int_equal(ranges_count4(res.r), days[i].v4);
		assert_int_equal(ranges_count6(res.r), days[i].v6);
		/* Bare addresses are single hosts. */
		assert_true(ranges_v4(res.r)[0].lo == ranges_v4(res.r)[0].hi);
		assert_true(ranges_v6(res.r)[0].lo == ranges_v6(res.r)[0].hi);
		result_done(&res);
	}
}

static void bunny_wrapper_object_is_not_the_upstream_format(void **state)
{
	struct parse_opts o = {.format = FMT_BUNNY};
	struct result res = {0};

	parse_str(&res, "{\"ipv4\":[\"89.187.188.227\"],\"ipv6\":[]}", &o);
	expect_fail(&res, CDA_EDATA, 0, "top level: expected array, got object");
	result_done(&res);
	parse_str(&res, "<?xml version=\"1.0\"?><ArrayOfString/>", &o);
	expect_fail(&res, CDA_EDATA, 1, "looks like an HTML page");
	result_done(&res);
}

static void gcore_public_ip_list_parses(void **state)
{
	struct parse_opts o = {.format = FMT_GCORE, .broadest_v4 = 8, .broadest_v6 = 20};
	struct result res = {0};

	parse_path(&res, "data/gcore/add-gcore-vmess_2023-02-08_1406450/public-ip-list.json", &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 493);
	assert_int_equal(res.info.entries_v6, 465);
	result_done(&res);
	parse_str(&res, "{\"addresses\":[\"172.31.0.7/32\"]}", &o);
	expect_fail(&res, CDA_EDATA, 0, "addresses_v6: missing");
	result_done(&res);
	parse_str(&res, "{\"addresses\":null,\"addresses_v6\":[]}", &o);
	expect_fail(&res, CDA_EDATA, 0, "addresses: expected array, got null");
	result_done(&res);
}

static void imperva_list_parses_and_failure_code_rejects(void **state)
{
	static const char *const want[] = {
		"45.60.0.0/16",    "45.64.64.0/22",    "45.223.0.0/16",   "103.28.248.0/22",
		"107.154.0.0/16",  "131.125.128.0/17", "149.126.72.0/21", "185.11.124.0/22",
		"192.230.64.0/18", "198.143.32.0/19",  "199.83.128.0/21", "2a02:e980::/29",
	};
	struct parse_opts o = {.format = FMT_IMPERVA, .broadest_v4 = 8, .broadest_v6 = 20};
	struct result res = {0};

	parse_path(&res, "data/imperva/cloud-ips_2026-06-30_4a524fd6/imperva.json", &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 11);
	assert_int_equal(res.info.entries_v6, 1);
	expect_cidrs(res.r, want, N(want));
	result_done(&res);
	parse_str(&res, "{\"res\":2,\"res_message\":\"Invalid input\",\"ipRanges\":[]}", &o);
	expect_fail(&res, CDA_EDATA, 0, "res 2: Invalid input");
	result_done(&res);
	parse_str(&res, "{\"res\":\"0\",\"ipRanges\":[],\"ipv6Ranges\":[]}", &o);
	expect_fail(&res, CDA_EDATA, 0, "res: expected int, got string");
	result_done(&res);
}

static void cdn77_lists_parse_with_updated_at_token(void **state)
{
	struct parse_opts o = {.format = FMT_CDN77, .broadest_v4 = 8, .broadest_v6 = 20};
	struct result res = {0};

	parse_path(&res, "data/cdn77/cloud-ips_2026-06-30_fe1447cb/cdn77.json", &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 35);
	assert_string_equal(res.info.token, "2026-03-25T16:00:03.987537+00:00");
	result_done(&res);
	parse_path(&res, "data/cdn77/cloud-ips_2026-07-28_3d3d0673/cdn77.json", &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 36);
	assert_string_equal(res.info.token, "2026-07-27T14:00:04.173594+00:00");
	result_done(&res);
}

#define GITHUB "data/github/cloud-ip-ranges-crawler_2026-01-29_c43db1a/github_0.raw"

static void github_hooks_are_the_default_group(void **state)
{
	static const char *const want[] = {
		"140.82.112.0/20", "143.55.64.0/20", "185.199.108.0/22",
		"192.30.252.0/22", "2606:50c0::/32", "2a0a:a440::/29",
	};
	struct parse_opts o = {.format = FMT_GITHUB, .broadest_v4 = 8, .broadest_v6 = 20};
	struct result res = {0};

	parse_path(&res, GITHUB, &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries, 6);
	expect_cidrs(res.r, want, N(want));
	result_done(&res);
	o.services = "hooks web";
	parse_path(&res, GITHUB, &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries, 28);
	result_done(&res);
}

static void github_unknown_or_non_ip_groups_are_rejected(void **state)
{
	struct parse_opts o = {.format = FMT_GITHUB, .services = "hooks nope"};
	struct result res = {0};

	parse_path(&res, GITHUB, &o);
	expect_fail(&res, CDA_EDATA, 0, "nope: missing");
	result_done(&res);
	o.services = "domains";
	parse_path(&res, GITHUB, &o);
	expect_fail(&res, CDA_EDATA, 0, "domains: expected array, got object");
	result_done(&res);
	o.services = "ssh_keys";
	parse_path(&res, GITHUB, &o);
	expect_fail(&res, CDA_EDATA, 1, "ssh_keys[0]: \"ssh-ed25519");
	result_done(&res);
}

static void google_lists_parse_with_millisecond_sync_token(void **state)
{
	struct parse_opts o = {.format = FMT_GOOGLE, .broadest_v4 = 8, .broadest_v6 = 20};
	struct result res = {0};

	parse_path(&res, "data/google/vendor-ip-ranges-history_2021-12-19_ec86d728/google.json",
		   &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 61);
	assert_int_equal(res.info.entries_v6, 11);
	assert_string_equal(res.info.token, "1639936968122");
	result_done(&res);
	parse_path(&res, "data/google/vendor-ip-ranges-history_2025-09-11_153f27db/google.json",
		   &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 88);
	assert_int_equal(res.info.entries_v6, 15);
	assert_string_equal(res.info.token, "1757621127565");
	result_done(&res);
	parse_str(&res, "{\"prefixes\":[{\"ipv4Prefix\":\"8.8.8.0/24\"},{\"x\":1}]}", &o);
	expect_fail(&res, CDA_EDATA, 0, "prefixes[1]: neither ipv4Prefix nor ipv6Prefix");
	result_done(&res);
	parse_str(&res, "{\"prefixes\":[{\"ipv4Prefix\":\"8.8.8.0/24\"}]}", &o);
	expect_fail(&res, CDA_EDATA, 0, "no ipv6Prefix entries");
	result_done(&res);
}

/* Keys json-c would cut at an escaped NUL, or merge (last wins), never pick a list. */
static void json_keys_with_nul_or_twice_are_rejected(void **state)
{
	struct parse_opts fo = {.format = FMT_FASTLY, .broadest_v4 = 8, .broadest_v6 = 20};
	struct parse_opts ao = {.format = FMT_AZURE, .broadest_v4 = 8, .broadest_v6 = 20};
	struct parse_opts so = {.format = FMT_JSON_SELECT, .select = "v[].p",
				.where = "name=A"};
	struct result res = {0};
	size_t len;
	char *real = slurp("data/fastly/cloud-ips_2024-03-01_ad7518c8/fastly.json", &len);
	char *doc = malloc(len + 200);
	const char *decoy = ",\"addresses\\u0000_staging\":[\"192.0.2.0/24\",\"198.51.100.0/24\","
			    "\"203.0.113.0/24\",\"100.64.0.0/24\"]}";

	assert_non_null(doc);
	/* the real document, then a decoy key that json-c would read as "addresses" */
	while (len > 0 && real[len - 1] != '}')
		len--;
	memcpy(doc, real, len - 1);
	strcpy(doc + len - 1, decoy);
	parse_str(&res, doc, &fo);
	expect_fail(&res, CDA_EDATA, 1, "NUL");
	result_done(&res);
	/* the same decoy as a plain second "addresses" */
	strcpy(doc + len - 1, ",\"addresses\":[\"192.0.2.0/24\"]}");
	parse_str(&res, doc, &fo);
	expect_fail(&res, CDA_EDATA, 1, "duplicate key \"addresses\"");
	result_done(&res);
	/* twice, once escaped: still a duplicate (named or not) */
	strcpy(doc + len - 1, ",\"addr\\u0065sses\":[\"192.0.2.0/24\"]}");
	parse_str(&res, doc, &fo);
	expect_fail(&res, CDA_EDATA, 1, "duplicate key");
	result_done(&res);
	/* a duplicate deep inside, where no reader looks, is refused too */
	strcpy(doc + len - 1, ",\"x\":[{\"a\":1,\"b\":{\"c\":1,\"c\":2}}]}");
	parse_str(&res, doc, &fo);
	expect_fail(&res, CDA_EDATA, 1, "duplicate key \"c\"");
	result_done(&res);
	/* "\\u0000" is a backslash and text, not a NUL; "\u0000" in a value is no key */
	strcpy(doc + len - 1, ",\"x\\\\u0000\":\"a\\u0000b\"}");
	parse_str(&res, doc, &fo);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 19);
	result_done(&res);
	free(doc);
	free(real);
	/* Azure: a record named "AzureFrontDoor.Backend\u0000Staging" is not the tag */
	parse_str(&res,
		  "{\"changeNumber\":1,\"values\":[{\"name\":\"AzureFrontDoor.Backend\\u0000Staging\","
		  "\"properties\":{\"addressPrefixes\":[\"192.0.2.0/24\",\"2001:db8::/32\"]}},"
		  "{\"name\":\"AzureFrontDoor.Backend\",\"properties\":{\"addressPrefixes\":"
		  "[\"13.73.248.0/29\",\"2603:1000:4::/64\"]}}]}",
		  &ao);
	expect_ok(&res);
	assert_int_equal(res.info.entries, 2);
	{
		static const char *const want[] = {"13.73.248.0/29", "2603:1000:4::/64"};

		expect_cidrs(res.r, want, N(want));
	}
	result_done(&res);
	/* select/where: a value with a NUL is not the value named in where */
	parse_str(&res, "{\"v\":[{\"name\":\"A\\u0000B\",\"p\":\"192.0.2.0/24\"},"
			"{\"name\":\"A\",\"p\":\"13.73.248.0/29\"}]}", &so);
	expect_ok(&res);
	assert_int_equal(res.info.entries, 1);
	{
		static const char *const want[] = {"13.73.248.0/29"};

		expect_cidrs(res.r, want, N(want));
	}
	result_done(&res);
}

/* A record holding both ipv4Prefix and ipv6Prefix gives both. */
static void google_records_with_both_prefixes_give_both(void **state)
{
	struct parse_opts o = {.format = FMT_GOOGLE, .broadest_v4 = 8, .broadest_v6 = 20};
	static const char *const want[] = {"8.8.8.0/24", "8.34.208.0/20", "2001:4860::/32"};
	struct result res = {0};

	parse_str(&res, "{\"prefixes\":[{\"ipv4Prefix\":\"8.8.8.0/24\",\"ipv6Prefix\":"
			"\"2001:4860::/32\"},{\"ipv4Prefix\":\"8.34.208.0/20\"}]}", &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 2);
	assert_int_equal(res.info.entries_v6, 1);
	expect_cidrs(res.r, want, N(want));
	result_done(&res);
	/* each present field must still hold its own family */
	parse_str(&res, "{\"prefixes\":[{\"ipv4Prefix\":\"8.8.8.0/24\",\"ipv6Prefix\":"
			"\"8.8.4.0/24\"}]}", &o);
	expect_fail(&res, CDA_EDATA, 1, "prefixes[0].ipv6Prefix");
	result_done(&res);
}

#define ORACLE "data/oracle/cloud-ips_2026-07-27_6d9d342d/oci.json"

static void oracle_cidrs_parse_with_optional_tag_filter(void **state)
{
	struct parse_opts o = {.format = FMT_ORACLE, .broadest_v4 = 8, .broadest_v6 = 20};
	struct result res = {0};

	parse_path(&res, ORACLE, &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 1102);
	assert_string_equal(res.info.token, "2026-07-27T06:55:33.696145");
	result_done(&res);
	o.services = "OBJECT_STORAGE";
	parse_path(&res, ORACLE, &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 68);
	result_done(&res);
	o.services = "NOPE";
	parse_path(&res, ORACLE, &o);
	expect_fail(&res, CDA_EDATA, 0, "no cidrs with tags \"NOPE\"");
	result_done(&res);
}

static void azure_front_door_backend_is_the_default_tag(void **state)
{
	struct parse_opts o = {.format = FMT_AZURE, .broadest_v4 = 8, .broadest_v6 = 20};
	struct result res = {0};

	parse_path(&res, AZURE, &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 68);
	assert_int_equal(res.info.entries_v6, 88);
	assert_string_equal(res.info.token, "232");
	result_done(&res);
	o.services = "AzureFrontDoor.Frontend AzureFrontDoor.FirstParty";
	parse_path(&res, AZURE, &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries, 173 + 48);
	result_done(&res);
	o.services = "AzureFrontDoor.Nope";
	parse_path(&res, AZURE, &o);
	expect_fail(&res, CDA_EDATA, 0, "no service tag named \"AzureFrontDoor.Nope\"");
	result_done(&res);
}

static void json_select_reads_aws_azure_bunny_and_oracle_shapes(void **state)
{
	struct parse_opts o = {.format = FMT_JSON_SELECT};
	struct result res = {0};

	o.select = "prefixes[].ip_prefix";
	o.where = "service=CLOUDFRONT";
	parse_path(&res, AWS26, &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 211);
	result_done(&res);
	o.where = "service=CLOUDFRONT|CLOUDFRONT_ORIGIN_FACING";
	parse_path(&res, AWS26, &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 257);
	result_done(&res);
	o.select = "values[].properties.addressPrefixes";
	o.where = "name=AzureFrontDoor.Backend";
	parse_path(&res, AZURE, &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries, 156);
	result_done(&res);
	o.select = "[]";
	o.where = NULL;
	parse_path(&res, "data/bunny/cloud-ips_2026-08-21_847261c2/edgeserverlist.json", &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 590);
	result_done(&res);
	o.select = "regions[].cidrs[].cidr";
	parse_path(&res, ORACLE, &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 1102);
	result_done(&res);
	o.select = "result.ipv4_cidrs";
	parse_path(&res, CF_API "ips.json", &o);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 15);
	result_done(&res);
}

static void json_select_errors_name_the_problem(void **state)
{
	static const struct {
		const char *sel, *where, *json;
		enum cda_errc code;
		const char *needle;
		unsigned int line;
	} cases[] = {
		{"", NULL, "{}", CDA_ECONFIG, "select: missing", 0},
		{"a[", NULL, "{}", CDA_ECONFIG, "'[' must be followed by ']'", 0},
		{"a..b", NULL, "{}", CDA_ECONFIG, "empty step", 0},
		{"a[]b", NULL, "{}", CDA_ECONFIG, "needs a '.'", 0},
		{"a.b", "k=v", "{}", CDA_ECONFIG, "where: select has no []", 0},
		{"a[].b", "kv", "{}", CDA_ECONFIG, "where: expected key=value", 0},
		{"a.b", NULL, "{\"a\":{}}", CDA_EDATA, "a.b: missing", 0},
		{"a.b", NULL, "{\"a\":[]}", CDA_EDATA, "a: expected object, got array", 0},
		{"a[].b", NULL, "{\"a\":[{\"b\":\"1.0.0.0/24\"},{\"b\":3}]}", CDA_EDATA,
		 "a[1].b: expected string, got int", 0},
		{"a[].b", NULL, "{\"a\":[{\"c\":1}]}", CDA_EDATA, "found no values", 0},
		{"a", NULL, "{\"a\":[\"1.0.0.0/24\",\"x\"]}", CDA_EDATA,
		 "a[1]: \"x\" is not an IP address or prefix", 1},
	};
	size_t i;

	for (i = 0; i < N(cases); i++) {
		struct parse_opts o = {
			.format = FMT_JSON_SELECT, .select = cases[i].sel, .where = cases[i].where};
		struct result res = {0};

		parse_str(&res, cases[i].json, &o);
		expect_fail(&res, cases[i].code, cases[i].line, cases[i].needle);
		result_done(&res);
	}
}

static void text_edge_cases_are_tolerated(void **state)
{
	static const char body[] = "\xef\xbb\xbf# Cloudflare, hand-kept\r\n"
				   "\r\n"
				   "  173.245.48.0/20\t\r\n"
				   "\t103.21.244.0/22 # Asia\n"
				   "\n"
				   "   \t\n"
				   "2400:cb00::/32\r\n"
				   "# end\n"
				   "2606:4700::/32";
	struct result res = {0};

	parse_str(&res, body, &text_opts);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 2);
	assert_int_equal(res.info.entries_v6, 2);
	assert_int_equal(res.info.hostbits, 0);
	result_done(&res);
	parse_str(&res, "1.2.3.0/24", &text_opts);
	expect_ok(&res);
	assert_int_equal(res.info.entries, 1);
	result_done(&res);
}

static void host_bits_are_cleared_and_reported(void **state)
{
	static const char *const want[] = {"1.2.3.0/24", "10.0.0.0/8"};
	struct result res = {0};

	parse_str(&res, "10.0.0.0/8\n1.2.3.4/24\n10.1.2.3/8\n", &text_opts);
	expect_ok(&res);
	assert_int_equal(res.info.hostbits, 2);
	assert_int_equal(res.info.hostbits_line, 2);
	assert_string_equal(res.info.hostbits_example, "1.2.3.4/24");
	expect_cidrs(res.r, want, N(want));
	result_done(&res);
}

static void bare_addresses_become_single_hosts(void **state)
{
	static const char *const want[] = {"89.187.188.227/32", "2400:52e0:1500::714:1/128"};
	struct result res = {0};

	parse_str(&res, "89.187.188.227\n2400:52e0:1500::714:1\n", &text_opts);
	expect_ok(&res);
	expect_cidrs(res.r, want, N(want));
	result_done(&res);
}

/*
 * Cloudflare's v4 list ends "131.0.72.0/22" with no final newline: a body cut after
 * "131.0.72.0" reads as a bare address. The catalog says Cloudflare publishes prefixes
 * only, so that body is refused at its line instead of turning a /22 into a /32.
 */
static void a_bare_address_rejects_a_prefixes_only_provider_at_its_line(void **state)
{
	const struct catalog_entry *cf = catalog_find("cloudflare");
	struct parse_opts o = cf_bounds;
	struct result res = {0};
	size_t len;
	char *buf = slurp(CF_NOW "cloudflare_0.raw", &len);
	const char *last;

	assert_non_null(cf);
	assert_true(cf->prefixes_only);
	o.prefixes_only = cf->prefixes_only;
	assert_true(len > 3 && memcmp(buf + len - 3, "/22", 3) == 0); /* slurp adds no NUL */
	last = buf + len - 3;
	parse_buf(&res, buf, (size_t)(last - buf), &o);
	expect_fail(&res, CDA_EDATA, 15, "\"131.0.72.0\" has no prefix length");
	/* the same cut of the v6 list, and a bare address in a JSON provider's array */
	parse_str(&res, "2400:cb00::/32\n2405:8100::", &o);
	expect_fail(&res, CDA_EDATA, 2, "\"2405:8100::\" has no prefix length");
	o.format = FMT_FASTLY;
	parse_str(&res, "{\"addresses\":[\"23.235.32.0/20\",\n\"43.249.72.0\"],"
			"\"ipv6_addresses\":[\"2a04:4e40::/32\"]}", &o);
	expect_fail(&res, CDA_EDATA, 2, "has no prefix length");
	/* whole, the same body parses; the generic text provider keeps bare addresses */
	o.format = FMT_TEXT;
	parse_buf(&res, buf, len, &o);
	expect_ok(&res);
	assert_false(catalog_find("text")->prefixes_only);
	assert_false(catalog_find("bunny")->prefixes_only);
	parse_buf(&res, buf, (size_t)(last - buf), &text_opts);
	expect_ok(&res);
	free(buf);
	result_done(&res);
}

static void a_bad_line_rejects_the_whole_list_with_its_line(void **state)
{
	struct result res = {0};

	parse_str(&res, "1.0.0.0/24\n# ok\n1.0.1.0/24\n1.0.2.0/33\n1.0.3.0/24\n", &text_opts);
	expect_fail(&res, CDA_EDATA, 4, "\"1.0.2.0/33\" is not an IP address or prefix");
	assert_int_equal(ranges_count4(res.r), 0);
	result_done(&res);
	/* The classic concatenation bug: no newline between the v4 and the v6 list. */
	parse_str(&res, "173.245.48.0/20\n131.0.72.0/222400:cb00::/32\n2606:4700::/32", &text_opts);
	expect_fail(&res, CDA_EDATA, 2, "\"131.0.72.0/222400:cb00::/32\"");
	result_done(&res);
	parse_str(&res, "1.0.0.0/24\n1.0.1.0/24;\n", &text_opts);
	expect_fail(&res, CDA_EDATA, 2, "\"1.0.1.0/24;\"");
	result_done(&res);
	parse_str(&res, "1.0.0.0/24 1.0.1.0/24\n", &text_opts);
	expect_fail(&res, CDA_EDATA, 1, "\"1.0.0.0/24 1.0.1.0/24\"");
	result_done(&res);
	parse_str(&res, "1.0.0.0/24#x\n", &text_opts);
	expect_fail(&res, CDA_EDATA, 1, "\"1.0.0.0/24#x\"");
	result_done(&res);
}

static void long_and_binary_bad_tokens_are_quoted_safely(void **state)
{
	char body[400];
	struct result res = {0};

	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	parse_str(&res, body, &text_opts);
	expect_fail(&res, CDA_EDATA, 1, "xxx...\" is not an IP address or prefix");
	assert_true(strlen(res.err.msg) < 120);
	result_done(&res);
	parse_buf(&res, "1.0.0.0/24\n1.0.\0.0/24\n", 22, &text_opts);
	expect_fail(&res, CDA_EDATA, 2, "\"1.0.\\x00.0/24\"");
	result_done(&res);
}

static void html_page_is_recognised(void **state)
{
	struct result res = {0};

	parse_path(&res,
		   "data/errors/cloudflare/vendor-ip-ranges-history_2022-01-24_43503784/"
		   "cloudflare.txt",
		   &text_opts);
	expect_fail(&res, CDA_EDATA, 1, "looks like an HTML page, not a list");
	result_done(&res);
	parse_str(&res, "\n\n  <html><body>1.2.3.0/24</body></html>", &text_opts);
	expect_fail(&res, CDA_EDATA, 3, "looks like an HTML page");
	result_done(&res);
	parse_str(&res, "1.0.0.0/24\n<!DOCTYPE html>\n", &text_opts);
	expect_fail(&res, CDA_EDATA, 2, "\"<!DOCTYPE html>\" is not an IP address or prefix");
	result_done(&res);
	parse_str(&res, "Internal Server Error", &text_opts);
	expect_fail(&res, CDA_EDATA, 1, "\"Internal Server Error\" is not an IP address");
	result_done(&res);
	{
		struct parse_opts o = {.format = FMT_CLOUDFLARE_API};

		parse_str(&res, " <!DOCTYPE html><title>Just a moment...</title>", &o);
		expect_fail(&res, CDA_EDATA, 1, "looks like an HTML page");
		result_done(&res);
	}
}

static void empty_and_comment_only_bodies_are_rejected(void **state)
{
	static const char *const bodies[] = {"", "\n", " \r\n\t\n", "# nothing\n#\n"};
	struct result res = {0};
	size_t i;

	parse_path(&res,
		   "data/errors/cloudflare/vendor-ip-ranges-history_2022-02-23_5de99019/"
		   "cloudflare.txt",
		   &text_opts);
	expect_fail(&res, CDA_EDATA, 0, "empty list");
	result_done(&res);
	for (i = 0; i < N(bodies); i++) {
		parse_str(&res, bodies[i], &text_opts);
		expect_fail(&res, CDA_EDATA, 0, "empty list");
		result_done(&res);
	}
	parse_buf(&res, NULL, 0, &text_opts);
	expect_fail(&res, CDA_EDATA, 0, "empty list");
	result_done(&res);
}

static void too_broad_prefixes_reject_with_their_line(void **state)
{
	struct parse_opts o = {.format = FMT_CLOUDFLARE_API, .broadest_v4 = 8, .broadest_v6 = 20};
	struct result res = {0};

	parse_str(&res, "1.0.0.0/24\n\n0.0.0.0/0\n", &cf_bounds);
	expect_fail(&res, CDA_EDATA, 3, "\"0.0.0.0/0\" is broader than /8");
	result_done(&res);
	parse_str(&res, "2400:cb00::/32\n2400::/12\n", &cf_bounds);
	expect_fail(&res, CDA_EDATA, 2, "\"2400::/12\" is broader than /20");
	result_done(&res);
	parse_str(&res, "1.0.0.0/8\n2400::/20\n", &cf_bounds);
	expect_ok(&res);
	result_done(&res);
	parse_str(&res,
		  "{\"success\":true,\"result\":{\n\"ipv4_cidrs\":[\"1.0.0.0/24\"],\n"
		  "\"ipv6_cidrs\":[\n\"::/0\"]}}",
		  &o);
	expect_fail(&res, CDA_EDATA, 4, "result.ipv6_cidrs[0]: \"::/0\" is broader than /20");
	result_done(&res);
}

static void json_syntax_errors_give_the_line(void **state)
{
	struct parse_opts o = {.format = FMT_FASTLY};
	struct result res = {0};

	parse_str(&res, "{\n  \"addresses\": [\"1.0.0.0/24\",\n  \"1.0.1.0/24\",,\n]}", &o);
	expect_fail(&res, CDA_EDATA, 3, "invalid JSON");
	result_done(&res);
	parse_str(&res, "{\"addresses\":[\"1.0.0.0/24\"]", &o);
	expect_fail(&res, CDA_EDATA, 1, "unexpected end of document");
	result_done(&res);
	parse_str(&res, "{\"addresses\":[\"1.0.0.0/24\"],\"ipv6_addresses\":[\"::1\"]}\n{}", &o);
	expect_fail(&res, CDA_EDATA, 2, "invalid JSON at offset 54");
	result_done(&res);
	parse_str(&res, "{\"addresses\":[\"1.0.0.0/24\",]}", &o);
	expect_fail(&res, CDA_EDATA, 1, "invalid JSON");
	result_done(&res);
	parse_str(&res, "{\"addresses\":[\"1.0.0.0/24\"],\"ipv6_addresses\":[\"::1\"]}\n", &o);
	expect_ok(&res);
	result_done(&res);
}

static void a_failed_parse_leaves_a_filled_list_untouched(void **state)
{
	struct result res = {0};

	parse_str(&res, "1.0.0.0/24\n2400:cb00::/32\n", &text_opts);
	expect_ok(&res);
	parse_str(&res, "5.0.0.0/24\nbad\n", &text_opts);
	expect_fail(&res, CDA_EDATA, 2, "\"bad\"");
	assert_int_equal(ranges_count4(res.r), 1);
	assert_int_equal(ranges_count6(res.r), 1);
	assert_true(ranges_v4(res.r)[0].lo == 0x01000000);
	parse_str(&res, "5.0.0.0/24\n", &text_opts);
	expect_ok(&res);
	assert_int_equal(ranges_count4(res.r), 2);
	result_done(&res);
}

static void large_merged_lists_parse(void **state)
{
	struct result res = {0};

	parse_path(&res, "data/large/lord-alfred-ipranges_2026-08-22_14dd971b/ipv4_merged.txt",
		   &text_opts);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v4, 7728);
	parse_path(&res, "data/large/lord-alfred-ipranges_2026-08-22_14dd971b/ipv6_merged.txt",
		   &text_opts);
	expect_ok(&res);
	assert_int_equal(res.info.entries_v6, 12872);
	result_done(&res);
}

static double text_parse_ms(size_t lines)
{
	size_t cap = lines * 20 + 1, len = 0, i;
	char *buf = malloc(cap);
	struct result res = {0};
	struct timespec t0, t1;

	assert_non_null(buf);
	for (i = 0; i < lines; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%zu.%zu.%zu.0/24\n", 1 + i / 65536,
					(i / 256) % 256, i % 256);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	parse_buf(&res, buf, len, &text_opts);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	expect_ok(&res);
	assert_int_equal(res.info.entries, lines);
	result_done(&res);
	free(buf);
	return (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
}

static void a_million_line_text_list_parses_in_linear_time(void **state)
{
	double small = text_parse_ms(100000), big = text_parse_ms(1000000);

	/* No timed assertion (speed is for tests/bench): a quadratic parse of 1M lines ends in
	 * the test's timeout; the figures are printed for the record. */
	(void)state;
	print_message("# text: 100k lines %.1f ms, 1M lines %.1f ms\n", small, big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cloudflare_text_lists_without_final_newline_parse_completely),
		cmocka_unit_test(cloudflare_v4_then_v6_joined_by_a_newline_parse_as_one_list),
		cmocka_unit_test(cloudflare_2015_to_2021_diff_matches_the_recorded_history),
		cmocka_unit_test(every_dated_cloudflare_capture_parses_with_its_counts),
		cmocka_unit_test(cloudflare_jdcloud_lists_parse_with_mixed_prefix_lengths),
		cmocka_unit_test(cloudflare_api_recording_gives_lists_and_etag),
		cmocka_unit_test(cloudflare_api_auth_error_is_rejected_with_its_message),
		cmocka_unit_test(cloudflare_api_jdcloud_adds_mixed_family_list_only_when_asked),
		cmocka_unit_test(cloudflare_api_envelope_errors_are_rejected),
		cmocka_unit_test(aws_default_is_cloudfront_origin_facing_with_sync_token),
		cmocka_unit_test(aws_2021_origin_facing_had_no_ipv6),
		cmocka_unit_test(aws_unknown_service_and_bad_records_are_rejected),
		cmocka_unit_test(aws_full_file_parses_fast),
		cmocka_unit_test(fastly_lists_parse_in_both_captures),
		cmocka_unit_test(empty_fastly_body_is_rejected),
		cmocka_unit_test(bunny_arrays_of_bare_addresses_parse_per_family),
		cmocka_unit_test(bunny_wrapper_object_is_not_the_upstream_format),
		cmocka_unit_test(gcore_public_ip_list_parses),
		cmocka_unit_test(imperva_list_parses_and_failure_code_rejects),
		cmocka_unit_test(cdn77_lists_parse_with_updated_at_token),
		cmocka_unit_test(github_hooks_are_the_default_group),
		cmocka_unit_test(github_unknown_or_non_ip_groups_are_rejected),
		cmocka_unit_test(google_lists_parse_with_millisecond_sync_token),
		cmocka_unit_test(json_keys_with_nul_or_twice_are_rejected),
		cmocka_unit_test(google_records_with_both_prefixes_give_both),
		cmocka_unit_test(oracle_cidrs_parse_with_optional_tag_filter),
		cmocka_unit_test(azure_front_door_backend_is_the_default_tag),
		cmocka_unit_test(json_select_reads_aws_azure_bunny_and_oracle_shapes),
		cmocka_unit_test(json_select_errors_name_the_problem),
		cmocka_unit_test(text_edge_cases_are_tolerated),
		cmocka_unit_test(host_bits_are_cleared_and_reported),
		cmocka_unit_test(bare_addresses_become_single_hosts),
		cmocka_unit_test(a_bare_address_rejects_a_prefixes_only_provider_at_its_line),
		cmocka_unit_test(a_bad_line_rejects_the_whole_list_with_its_line),
		cmocka_unit_test(long_and_binary_bad_tokens_are_quoted_safely),
		cmocka_unit_test(html_page_is_recognised),
		cmocka_unit_test(empty_and_comment_only_bodies_are_rejected),
		cmocka_unit_test(too_broad_prefixes_reject_with_their_line),
		cmocka_unit_test(json_syntax_errors_give_the_line),
		cmocka_unit_test(a_failed_parse_leaves_a_filled_list_untouched),
		cmocka_unit_test(large_merged_lists_parse),
		cmocka_unit_test(a_million_line_text_list_parses_in_linear_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
