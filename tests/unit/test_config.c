// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "catalog.h"
#include "cda_error.h"
#include "config.h"

/* A config file in a fresh temporary directory. */
struct tmpconf {
	char dir[64];
	char path[96];
};

static const char *write_conf(struct tmpconf *t, const char *text, mode_t mode)
{
	FILE *fp;

	snprintf(t->dir, sizeof(t->dir), "/tmp/cda-config-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/cdnallow.conf", t->dir);
	fp = fopen(t->path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(t->path, mode), 0);
	return t->path;
}

static void rm_conf(struct tmpconf *t)
{
	unlink(t->path);
	rmdir(t->dir);
}

/* Load text; expect failure with CDA_ECONFIG at line, msg containing want. */
static void expect_error(const char *text, unsigned int line, const char *want)
{
	struct tmpconf t;
	struct config c;
	struct cda_error err = {0};
	const char *path = write_conf(&t, text, 0644);

	assert_int_equal(config_load(&c, path, false, &err), -1);
	if (strstr(err.msg, want) == NULL || err.line != line)
		fail_msg("got %s:%u: %s; want line %u and '%s'", err.origin, err.line, err.msg,
			 line, want);
	assert_int_equal(err.code, CDA_ECONFIG);
	assert_string_equal(err.origin, path);
	assert_null(c.sources);
	assert_int_equal(c.n_targets, 0);
	config_finish(&c);
	rm_conf(&t);
}

/* Load n bytes (may hold NUL); expect failure; returns whether the message names a NUL. */
static bool load_bytes_fails(const char *bytes, size_t n, unsigned int *line)
{
	struct tmpconf t;
	struct config c;
	struct cda_error err = {0};
	const char *path = write_conf(&t, "", 0644);
	FILE *fp = fopen(path, "w");
	bool nul;

	assert_non_null(fp);
	assert_int_equal(fwrite(bytes, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(config_load(&c, path, false, &err), -1);
	assert_int_equal(err.code, CDA_ECONFIG);
	nul = strstr(err.msg, "NUL byte") != NULL;
	*line = err.line;
	config_finish(&c);
	rm_conf(&t);
	return nul;
}

static void nul_byte_is_refused_at_its_line(void **state)
{
	static const char mid[] = "[cdnallow]\nstate_dir = /tmp\n\0\n[source.a]\n";
	unsigned int line = 0;

	(void)state;
	assert_true(load_bytes_fails(mid, sizeof(mid) - 1, &line));
	assert_int_equal(line, 3);
	assert_true(load_bytes_fails("\0", 1, &line));
	assert_int_equal(line, 1);
	assert_true(load_bytes_fails("[cdnallow]\n\0", 12, &line));
	assert_int_equal(line, 2);
	/* an empty file fails for what it lacks, not for a NUL */
	assert_false(load_bytes_fails("", 0, &line));
}

static void design_example_loads(void **state)
{
	struct config c;
	struct cda_error err = {0};
	const struct catalog_entry *cf = catalog_find("cloudflare");
	const struct target_config *edge, *rep;
	const struct source_config *src;

	(void)state;
	if (config_load(&c, "data/config/example.ini", false, &err) < 0)
		fail_msg("%s:%u: %s", err.origin, err.line, err.msg);
	assert_string_equal(c.path, "data/config/example.ini");
	assert_string_equal(c.state_dir, "/var/lib/cdnallow");
	assert_true(c.max_shrink > 0.0999 && c.max_shrink < 0.1001);
	assert_int_equal(c.lock_timeout, 60);
	assert_int_equal(c.connect_timeout, 10);
	assert_int_equal(c.timeout, 30);
	assert_int_equal(c.max_bytes, 8 * 1024 * 1024);
	assert_int_equal(c.broadest_v4, 8);
	assert_int_equal(c.broadest_v6, 16);
	assert_int_equal(c.verify_max, 10000);
	assert_int_equal(c.keep_withdrawn, 0);
	assert_null(c.metrics_file);

	assert_int_equal(c.n_sources, 1);
	src = config_find_source(&c, "cloudflare");
	assert_non_null(src);
	assert_string_equal(src->provider, "cloudflare");
	assert_int_equal(src->line, 6);
	assert_int_equal(source_line(src, "provider"), 7);
	assert_string_equal(source_get(src, "provider"), "cloudflare");
	assert_null(source_get(src, "url"));
	assert_non_null(cf);
	for (size_t i = 0; cf->urls[i] != NULL; i++) {
		assert_true(i < src->n_urls);
		assert_string_equal(src->urls[i], cf->urls[i]);
	}
	assert_false(src->allow_http);
	assert_null(src->ca_file);
	assert_int_equal(src->timeout, 30);

	assert_int_equal(c.n_targets, 2);
	edge = config_find_target(&c, "edge");
	assert_non_null(edge);
	assert_string_equal(edge->backend, "nftables");
	assert_int_equal(edge->n_sources, 1);
	assert_string_equal(edge->sources[0], "cloudflare");
	assert_string_equal(target_get(edge, "table"), "cdnallow");
	assert_int_equal(target_line(edge, "table"), 14);
	assert_string_equal(target_get(edge, "set_v6"), "allow_v6");
	assert_int_equal(target_line(edge, "nope"), 0);
	assert_null(target_get(edge, "nope"));
	assert_ptr_equal(edge->config_path, c.path);
	assert_true(edge->max_shrink > 0.0999 && edge->max_shrink < 0.1001);
	rep = config_find_target(&c, "report");
	assert_non_null(rep);
	assert_string_equal(rep->backend, "null");
	assert_true(rep->max_shrink > 0.2499 && rep->max_shrink < 0.2501);
	assert_null(config_find_target(&c, "nginx"));

	config_finish(&c);
	assert_null(c.sources);
	config_finish(&c); /* idempotent */
}

static void every_global_key_is_read(void **state)
{
	struct config c;
	struct cda_error err = {0};
	const struct source_config *m;
	const struct target_config *t;

	(void)state;
	if (config_load(&c, "data/config/full.ini", false, &err) < 0)
		fail_msg("%s:%u: %s", err.origin, err.line, err.msg);
	assert_string_equal(c.state_dir, "/srv/cdnallow/state");
	assert_true(c.max_shrink > 0.1999 && c.max_shrink < 0.2001);
	assert_int_equal(c.lock_timeout, 120);
	assert_int_equal(c.connect_timeout, 5);
	assert_int_equal(c.timeout, 60);
	assert_int_equal(c.max_bytes, 512 * 1024);
	assert_string_equal(c.metrics_file, "/var/lib/node_exporter/cdnallow.prom");
	assert_int_equal(c.broadest_v4, 12);
	assert_int_equal(c.broadest_v6, 24);
	assert_int_equal(c.verify_max, 500);
	assert_int_equal(c.keep_withdrawn, 7 * 86400);
	assert_string_equal(c.publish_key, "/srv/cdnallow/publish.key");
	assert_string_equal(c.publish_password_file, "/srv/cdnallow/publish.pass");
	assert_string_equal(c.publisher, "edge-publisher.1");
	assert_true(c.publish_plain);
	assert_int_equal(c.publish_keep, 12);
	assert_int_equal(c.splay, 300);

	m = config_find_source(&c, "mirror");
	assert_non_null(m);
	assert_int_equal(m->n_urls, 2);
	/* quoted: the '#' is part of the URL */
	assert_string_equal(m->urls[0], "https://mirror.example/ips-v4#v4");
	assert_string_equal(m->urls[1], "https://mirror.example/ips-v6");
	assert_null(m->urls[2]);
	assert_string_equal(m->ca_file, "/etc/ssl/mirror-ca.pem");
	assert_int_equal(m->timeout, 10);
	assert_int_equal(m->connect_timeout, 5); /* global */
	assert_int_equal(m->max_bytes, 1024 * 1024);
	/* section names are lowercased */
	assert_non_null(config_find_source(&c, "cloudflare"));

	t = config_find_target(&c, "report");
	assert_non_null(t);
	assert_int_equal(t->n_sources, 2); /* "mirror, cloudflare mirror": duplicate dropped */
	assert_string_equal(t->sources[0], "mirror");
	assert_string_equal(t->sources[1], "cloudflare");
	config_finish(&c);
}

#define MIN_SRC "[source.cf]\nprovider = cloudflare\n"
#define MIN_TGT "[target.t]\nbackend = null\nsources = cf\n"

static void unknown_global_key_suggests_the_closest(void **state)
{
	(void)state;
	expect_error("[cdnallow]\nstate_dir = /x\nmax_shrnk = 5%\n" MIN_SRC MIN_TGT, 3,
		     "max_shrnk: unknown key 'max_shrnk' in [cdnallow] (did you mean "
		     "'max_shrink'?)");
}

static void unknown_target_key_suggests_the_closest(void **state)
{
	(void)state;
	expect_error(MIN_SRC "[target.t]\nbackend = null\nsorces = cf\n", 5,
		     "unknown key 'sorces' in [target.t] (did you mean 'sources'?)");
	expect_error(MIN_SRC "[target.t]\nbackend = null\nsources = cf\nfrobnicate = 1\n", 6,
		     "frobnicate: unknown key 'frobnicate' in [target.t]");
}

static void unknown_source_key_suggests_the_closest(void **state)
{
	(void)state;
	expect_error("[source.cf]\nprovder = cloudflare\n" MIN_TGT, 2,
		     "unknown key 'provder' in [source.cf] (did you mean 'provider'?)");
	expect_error("[source.cf]\nprovider = cloudflare\nca_fle = /x\n" MIN_TGT, 3,
		     "(did you mean 'ca_file'?)");
}

static void bad_percent_names_line_and_key(void **state)
{
	(void)state;
	expect_error("\n[cdnallow]\nmax_shrink = 10 percent\n" MIN_SRC MIN_TGT, 3,
		     "max_shrink: expected 0..100%");
	expect_error("[cdnallow]\nmax_shrink = 101%\n" MIN_SRC MIN_TGT, 2, "max_shrink:");
	expect_error(MIN_SRC MIN_TGT "max_shrink = -1%\n", 6, "max_shrink: expected");
}

static void bad_bool_names_line_and_key(void **state)
{
	(void)state;
	expect_error("[source.cf]\nprovider = cloudflare\nallow_http = yes-please\n" MIN_TGT, 3,
		     "allow_http: expected yes or no, got 'yes-please'");
}

static void bad_numbers_are_refused(void **state)
{
	(void)state;
	expect_error("[cdnallow]\nbroadest_v4 = 33\n" MIN_SRC MIN_TGT, 2, "broadest_v4:");
	expect_error("[cdnallow]\ntimeout = lots\n" MIN_SRC MIN_TGT, 2, "timeout:");
	expect_error("[cdnallow]\nmax_bytes = 8X\n" MIN_SRC MIN_TGT, 2, "max_bytes:");
	expect_error("[cdnallow]\nstate_dir = relative/dir\n" MIN_SRC MIN_TGT, 2,
		     "state_dir: expected an absolute path");
}

#define PK "RWQYOiWMt++2AqS/dbIio/Qz2x6kK/2egmRdp3iiestRoEF/79lpkFV5"
#define SNAP_TGT "[target.t]\nbackend = null\nsources = f\n"

/* The publisher's keys and splay: each bad value names its line and key. */
static void bad_publish_keys_are_refused(void **state)
{
	(void)state;
	expect_error("[cdnallow]\npublish_key = relative.key\n" MIN_SRC MIN_TGT, 2,
		     "publish_key: expected an absolute path");
	expect_error("[cdnallow]\npublish_password_file = pw\n" MIN_SRC MIN_TGT, 2,
		     "publish_password_file: expected an absolute path");
	expect_error("[cdnallow]\npublisher = two words\n" MIN_SRC MIN_TGT, 2, "publisher:");
	expect_error("[cdnallow]\npublisher = a/b\n" MIN_SRC MIN_TGT, 2, "publisher:");
	expect_error("[cdnallow]\npublish_plain = maybe\n" MIN_SRC MIN_TGT, 2, "publish_plain:");
	expect_error("[cdnallow]\npublish_keep = 1\n" MIN_SRC MIN_TGT, 2, "publish_keep:");
	expect_error("[cdnallow]\npublish_keep = 1001\n" MIN_SRC MIN_TGT, 2, "publish_keep:");
	expect_error("[cdnallow]\nsplay = 2d\n" MIN_SRC MIN_TGT, 2, "splay:");
	expect_error("[cdnallow]\nsplay = soon\n" MIN_SRC MIN_TGT, 2, "splay:");
}

/* provider = snapshot: url and public_key required, each key checked at load time. */
static void snapshot_source_keys_are_checked(void **state)
{
	(void)state;
	expect_error("[source.f]\nprovider = snapshot\npublic_key = " PK "\n" SNAP_TGT, 1,
		     "url: missing");
	expect_error("[source.f]\nprovider = snapshot\nurl = https://m.example/latest\n"
		     SNAP_TGT, 1, "needs public_key");
	expect_error("[source.f]\nprovider = snapshot\nurl = https://m.example/latest\n"
		     "public_key = RWQnotakey\n" SNAP_TGT, 4, "public key");
	expect_error("[source.f]\nprovider = snapshot\nurl = https://m.example/latest\n"
		     "public_key = /nonexistent/cdnallow-test.pub\n" SNAP_TGT, 4,
		     "/nonexistent/cdnallow-test.pub");
	expect_error("[source.f]\nprovider = snapshot\nurl = https://m.example/latest\n"
		     "public_key = " PK " " PK " " PK " " PK " " PK "\n" SNAP_TGT, 4,
		     "1 to 4 keys");
	expect_error("[source.f]\nprovider = snapshot\nurl = https://m.example/latest\n"
		     "public_key = " PK "\nmax_age = forever\n" SNAP_TGT, 5, "max_age:");
	expect_error("[source.f]\nprovider = snapshot\nurl = https://m.example/latest\n"
		     "public_key = " PK "\nsources = \"\"\n" SNAP_TGT, 5, "sources:");
	expect_error("[source.f]\nprovider = snapshot\nurl = file:///srv/fleet/latest\n"
		     "public_key = " PK "\n" SNAP_TGT, 3, "fetched over https");
}

static void a_snapshot_source_loads(void **state)
{
	struct tmpconf t;
	struct config c;
	struct cda_error err = {0};
	const char *path = write_conf(&t, "[source.f]\nprovider = snapshot\n"
				      "url = https://a.example/latest https://b.example/latest\n"
				      "public_key = " PK " " PK "\nmax_age = 2d\nsources = cf gh\n"
				      SNAP_TGT, 0600);

	(void)state;
	if (config_load(&c, path, false, &err) < 0)
		fail_msg("%s:%u: %s", err.origin, err.line, err.msg);
	assert_int_equal(config_find_source(&c, "f")->n_urls, 2);
	config_finish(&c);
	rm_conf(&t);
}

static void missing_provider_is_refused(void **state)
{
	(void)state;
	expect_error("[source.cf]\nurl = https://x.example/a\n" MIN_TGT, 1,
		     "provider: missing in [source.cf]");
}

static void unknown_provider_is_refused(void **state)
{
	(void)state;
	expect_error("[source.cf]\n\nprovider = cloudflair\n" MIN_TGT, 3,
		     "provider: unknown provider 'cloudflair' (did you mean 'cloudflare'?)");
	expect_error("[source.cf]\nprovider = zzzzzzzzzzzz\n" MIN_TGT, 2,
		     "provider: unknown provider 'zzzzzzzzzzzz'");
}

static void generic_provider_needs_url(void **state)
{
	(void)state;
	expect_error("[source.m]\nprovider = text\n[target.t]\nbackend = null\nsources = m\n", 1,
		     "url: missing in [source.m]");
	expect_error("[source.m]\nprovider = text\nurl = http://x.example/a\n"
		     "[target.t]\nbackend = null\nsources = m\n",
		     3, "url: plain http 'http://x.example/a' needs allow_http = yes");
	expect_error("[source.m]\nprovider = text\nurl = a b c d e f g h i\n"
		     "[target.t]\nbackend = null\nsources = m\n",
		     3, "url: at most 8 URLs");
}

static void unknown_backend_is_refused(void **state)
{
	(void)state;
	expect_error(MIN_SRC "[target.t]\nbackend = pf\nsources = cf\n", 4,
		     "backend: unknown backend 'pf'");
	expect_error(MIN_SRC "[target.t]\nsources = cf\n", 3, "backend: missing in [target.t]");
}

static void target_with_missing_source_is_refused(void **state)
{
	(void)state;
	expect_error(MIN_SRC "[target.t]\nbackend = null\nsources = cf, fastly\n", 5,
		     "sources: no [source.fastly] section for 'fastly'");
	expect_error(MIN_SRC "[target.t]\nbackend = null\n", 3, "sources: missing in [target.t]");
}

static void no_source_or_no_target_is_refused(void **state)
{
	(void)state;
	expect_error(MIN_SRC, 0, "no [target.NAME] section");
	expect_error("[cdnallow]\nstate_dir = /x\n", 0, "no [source.NAME] section");
}

static void duplicate_section_is_refused(void **state)
{
	(void)state;
	expect_error(MIN_SRC MIN_TGT "[source.CF]\nprovider = fastly\n", 6,
		     "[source.cf]: duplicate section (first on line 1)");
	expect_error(MIN_SRC "provider = fastly\n" MIN_TGT, 3,
		     "provider: set twice in [source.cf] (first on line 2)");
}

static void bad_sections_and_syntax_are_refused(void **state)
{
	(void)state;
	expect_error(MIN_SRC MIN_TGT "[sources.x]\n", 6, "[sources.x]: unknown section");
	expect_error(MIN_SRC MIN_TGT "[target.a b]\nbackend = null\nsources = cf\n", 6,
		     "[target.a b]: target name must be");
	expect_error(MIN_SRC "just words\n" MIN_TGT, 3, "syntax error");
	expect_error("max_shrink = 5%\n" MIN_SRC MIN_TGT, 1, "key outside any section");
	expect_error(MIN_SRC MIN_TGT "[target.x\n", 6, "syntax error");
	expect_error(MIN_SRC "url = \"https://a.example/x#y\" https://b.example/\n" MIN_TGT, 3,
		     "closing quote");
}

static void quoted_url_keeps_hash_unquoted_loses_it(void **state)
{
	struct tmpconf t;
	struct config c;
	struct cda_error err = {0};
	const char *path = write_conf(
		&t,
		"[source.a]\nprovider = text\nurl = \"https://x.example/l#v4\"\n"
		"[source.b]\nprovider = text\nurl = https://x.example/l#v4\n"
		"[target.t]\nbackend = null\nsources = a b\n",
		0600);

	(void)state;
	if (config_load(&c, path, false, &err) < 0)
		fail_msg("%s:%u: %s", err.origin, err.line, err.msg);
	assert_string_equal(config_find_source(&c, "a")->urls[0], "https://x.example/l#v4");
	assert_string_equal(config_find_source(&c, "b")->urls[0], "https://x.example/l");
	assert_string_equal(source_get(config_find_source(&c, "b"), "url"), "https://x.example/l");
	config_finish(&c);
	rm_conf(&t);
}

static void group_writable_file_is_refused(void **state)
{
	struct tmpconf t;
	struct config c;
	struct cda_error err = {0};
	const char *path = write_conf(&t, MIN_SRC MIN_TGT, 0664);

	(void)state;
	assert_int_equal(config_load(&c, path, false, &err), -1);
	assert_int_equal(err.code, CDA_ECONFIG);
	assert_string_equal(err.origin, path);
	assert_non_null(strstr(err.msg, "refused: writable by group"));
	assert_int_equal(chmod(path, 0646), 0);
	assert_int_equal(config_load(&c, path, false, &err), -1);
	assert_non_null(strstr(err.msg, "writable by others"));
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(config_load(&c, path, false, &err), 0);
	config_finish(&c);
	rm_conf(&t);
}

static void file_not_owned_by_root_is_refused_with_check_owner(void **state)
{
	struct tmpconf t;
	struct config c;
	struct cda_error err = {0};
	const char *path = write_conf(&t, MIN_SRC MIN_TGT, 0644);

	(void)state;
	if (geteuid() == 0)
		assert_int_equal(chown(path, 65534, 65534), 0); /* nobody */
	assert_int_equal(config_load(&c, path, true, &err), -1);
	assert_int_equal(err.code, CDA_ECONFIG);
	assert_string_equal(err.origin, path);
	assert_non_null(strstr(err.msg, "not root"));
	/* without the check the same file loads */
	assert_int_equal(config_load(&c, path, false, &err), 0);
	config_finish(&c);
	rm_conf(&t);
}

static void missing_file_and_directory_are_refused(void **state)
{
	struct config c;
	struct cda_error err = {0};

	(void)state;
	assert_int_equal(config_load(&c, "data/config/does-not-exist.ini", false, &err), -1);
	assert_int_equal(err.code, CDA_ECONFIG);
	assert_string_equal(err.origin, "data/config/does-not-exist.ini");
	assert_non_null(strstr(err.msg, "No such file"));
	cda_error_clear(&err);
	assert_int_equal(config_load(&c, "data/config", false, &err), -1);
	assert_non_null(strstr(err.msg, "not a regular file"));
}

static void continued_line_reports_its_first_line(void **state)
{
	struct tmpconf t;
	struct config c;
	struct cda_error err = {0};
	const char *path = write_conf(&t,
				      "[source.m]\nprovider = text\nurl = https://a.example/1 \\\n"
				      "  https://b.example/2\n"
				      "[target.t]\nbackend = null\nsources = m\n",
				      0600);

	(void)state;
	if (config_load(&c, path, false, &err) < 0)
		fail_msg("%s:%u: %s", err.origin, err.line, err.msg);
	assert_int_equal(config_find_source(&c, "m")->n_urls, 2);
	assert_int_equal(source_line(config_find_source(&c, "m"), "url"), 3);
	assert_int_equal(config_find_target(&c, "t")->line, 5);
	config_finish(&c);
	rm_conf(&t);
}

static void value_parsers_are_strict(void **state)
{
	bool b = false;
	unsigned long u = 0;
	double d = 0;
	long s = 0;

	(void)state;
	assert_int_equal(config_parse_bool("Yes", &b), 0);
	assert_true(b);
	assert_int_equal(config_parse_bool("off", &b), 0);
	assert_false(b);
	assert_int_equal(config_parse_bool("yes-please", &b), -1);
	assert_int_equal(config_parse_bool("", &b), -1);

	assert_int_equal(config_parse_ulong("42", 0, 100, &u), 0);
	assert_int_equal(u, 42);
	assert_int_equal(config_parse_ulong("101", 0, 100, &u), -1);
	assert_int_equal(config_parse_ulong("-1", 0, 100, &u), -1);
	assert_int_equal(config_parse_ulong(" 1", 0, 100, &u), -1);
	assert_int_equal(config_parse_ulong("10%", 0, 100, &u), -1);
	assert_int_equal(config_parse_ulong("99999999999999999999999", 0, ULONG_MAX, &u), -1);

	assert_int_equal(config_parse_percent("10%", &d), 0);
	assert_true(d > 0.0999 && d < 0.1001);
	assert_int_equal(config_parse_percent("0.1", &d), 0);
	assert_true(d > 0.0999 && d < 0.1001);
	assert_int_equal(config_parse_percent("12.5%", &d), 0);
	assert_true(d > 0.1249 && d < 0.1251);
	assert_int_equal(config_parse_percent("100%", &d), 0);
	assert_int_equal(config_parse_percent("10", &d), -1); /* > 1 without '%' */
	assert_int_equal(config_parse_percent("101%", &d), -1);
	assert_int_equal(config_parse_percent("lots", &d), -1);
	assert_int_equal(config_parse_percent("5.%", &d), -1);
	assert_int_equal(config_parse_percent("", &d), -1);

	assert_int_equal(config_parse_duration("90", &s), 0);
	assert_int_equal(s, 90);
	assert_int_equal(config_parse_duration("30s", &s), 0);
	assert_int_equal(s, 30);
	assert_int_equal(config_parse_duration("15m", &s), 0);
	assert_int_equal(s, 900);
	assert_int_equal(config_parse_duration("2h", &s), 0);
	assert_int_equal(s, 7200);
	assert_int_equal(config_parse_duration("7d", &s), 0);
	assert_int_equal(s, 604800);
	assert_int_equal(config_parse_duration("7w", &s), -1);
	assert_int_equal(config_parse_duration("1h30m", &s), -1);
	assert_int_equal(config_parse_duration("99999999999999999d", &s), -1);

	assert_int_equal(config_parse_size("8M", &u), 0);
	assert_int_equal(u, 8UL << 20);
	assert_int_equal(config_parse_size("512K", &u), 0);
	assert_int_equal(u, 512UL << 10);
	assert_int_equal(config_parse_size("1048576", &u), 0);
	assert_int_equal(u, 1048576);
	assert_int_equal(config_parse_size("2MiB", &u), 0);
	assert_int_equal(u, 2UL << 20);
	assert_int_equal(config_parse_size("8Q", &u), -1);
	assert_int_equal(config_parse_size("M", &u), -1);
}

static void split_words_takes_spaces_and_commas(void **state)
{
	size_t n = 99;
	char **w = config_split_words("  a, b,,c\td  ", &n);

	(void)state;
	assert_non_null(w);
	assert_int_equal(n, 4);
	assert_string_equal(w[0], "a");
	assert_string_equal(w[1], "b");
	assert_string_equal(w[2], "c");
	assert_string_equal(w[3], "d");
	assert_null(w[4]);
	config_free_words(w);
	w = config_split_words(" , ", &n);
	assert_non_null(w);
	assert_int_equal(n, 0);
	assert_null(w[0]);
	config_free_words(w);
	config_free_words(NULL);
}

/* Load text; fail the test with the error when it does not load. */
static void expect_loads(const char *text, struct config *c, struct tmpconf *t)
{
	struct cda_error err = {0};
	const char *path = write_conf(t, text, 0600);

	if (config_load(c, path, false, &err) < 0)
		fail_msg("%s:%u: %s", err.origin, err.line, err.msg);
}

static void bom_and_comment_after_section_header_are_accepted(void **state)
{
	struct tmpconf t;
	struct config c;

	(void)state;
	expect_loads("\xef\xbb\xbf[cdnallow]\nstate_dir = /x\n"
		     "[source.cf] ; the edge\nprovider = cloudflare\n"
		     "[target.t]\t# a comment\nbackend = null\nsources = cf\n",
		     &c, &t);
	assert_string_equal(c.state_dir, "/x");
	assert_non_null(config_find_source(&c, "cf"));
	assert_int_equal(config_find_target(&c, "t")->line, 5);
	config_finish(&c);
	rm_conf(&t);
	/* a BOM anywhere else is no BOM; text after a header is not a comment */
	expect_error("[cdnallow]\n\xef\xbb\xbfstate_dir = /x\n" MIN_SRC MIN_TGT, 2, "unknown key");
	expect_error(MIN_SRC MIN_TGT "[target.u] x\nbackend = null\nsources = cf\n", 6,
		     "bad section header");
}

static void source_names_match_case_insensitively(void **state)
{
	struct tmpconf t;
	struct config c;
	const struct target_config *tc;

	(void)state;
	expect_loads("[source.Cloudflare]\nprovider = cloudflare\n"
		     "[target.t]\nbackend = null\nsources = Cloudflare, CLOUDFLARE cloudflare\n",
		     &c, &t);
	tc = config_find_target(&c, "t");
	assert_int_equal(tc->n_sources, 1);
	assert_string_equal(tc->sources[0], "cloudflare");
	config_finish(&c);
	rm_conf(&t);
}

static void unknown_provider_and_backend_get_suggestions(void **state)
{
	(void)state;
	expect_error("[source.cf]\nprovider = CLOUDFLARE\n" MIN_TGT, 2,
		     "unknown provider 'CLOUDFLARE' (did you mean 'cloudflare'?)");
	expect_error("[source.cf]\nprovider = cloudfront\n" MIN_TGT, 2,
		     "(did you mean 'aws-cloudfront'?)");
	expect_error("[source.cf]\nprovider = azure\n" MIN_TGT, 2,
		     "(did you mean 'azure-frontdoor'?)");
	expect_error("[source.cf]\nprovider = gcore-cdn\n" MIN_TGT, 2, "(did you mean 'gcore'?)");
	expect_error(MIN_SRC "[target.t]\nbackend = nul\nsources = cf\n", 4,
		     "unknown backend 'nul' (did you mean 'null'?)");
}

/* Values mean what they meant when iniparser 4.1 read them. */
static void values_read_as_iniparser_did(void **state)
{
	static const struct {
		const char *line, *want;
	} cases[] = {
		{"header = a ; b", "a"},
		{"header=a#b", "a"},
		{"header = \"a;b#c\" ; comment", "a;b#c"},
		{"header = ' a '", " a "},
		{"header = \"'\"", "'"},
		{"header = \"\"", ""},
		{"header = '' ; c", ""},
		{"header = ;c", ""},
		{"header =", ""},
		{"header = a \"b\" c", "a \"b\" c"},
		{"header = k=v", "k=v"},
		{"HEADER\t=\t x  ", "x"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tmpconf t;
		struct config c;
		char text[512];

		snprintf(text, sizeof(text),
			 MIN_SRC "[target.f]\nbackend = file\nsources = cf\npath = /tmp/x\n%s\n",
			 cases[i].line);
		expect_loads(text, &c, &t);
		if (strcmp(target_get(config_find_target(&c, "f"), "header"), cases[i].want) != 0)
			fail_msg("%s: got '%s', want '%s'", cases[i].line,
				 target_get(config_find_target(&c, "f"), "header"), cases[i].want);
		config_finish(&c);
		rm_conf(&t);
	}
}

#define JSON_SRC "[source.j]\nprovider = json\nurl = https://a.example/x.json\n"
#define CF_API "[source.c]\nprovider = cloudflare-api\n"
#define J_TGT "[target.t]\nbackend = null\nsources = j\n"

/* What a run would refuse, loading refuses: each backend's keys, each provider's keys, and
 * two targets managing one object. */
static void load_runs_every_check_a_run_would(void **state)
{
	static const struct {
		const char *text;
		unsigned int line;
		const char *want;
	} cases[] = {
		{MIN_SRC "[target.f]\nbackend = file\nsources = cf\n", 3, "path: missing"},
		{MIN_SRC "[target.f]\nbackend = file\nsources = cf\npath = rel\n", 6,
		 "path: expected an absolute file path"},
		{MIN_SRC "[target.f]\nbackend = file\nsources = cf\npath = /x\nmode = 9999\n", 7,
		 "mode: expected an octal file mode"},
		{MIN_SRC "[target.f]\nbackend = file\nsources = cf\npath = /x\nmode = 6777\n", 7,
		 "mode: "},
		{MIN_SRC "[target.f]\nbackend = file\nsources = cf\npath = /x\nline = a\n", 7,
		 "line: expected a one-line template with {cidr}"},
		{MIN_SRC "[target.i]\nbackend = iptables\nsources = cf\nchain = INPUT\n", 6,
		 "chain: must be a chain of our own"},
		{JSON_SRC J_TGT, 1, "select: missing"},
		{JSON_SRC "select = a..b\n" J_TGT, 4, "select: empty step"},
		{JSON_SRC "select = a[].b\nwhere = =x\n" J_TGT, 5, "where: expected key=value"},
		{CF_API "networks = china\n[target.t]\nbackend = null\nsources = c\n", 3,
		 "networks: only \"jdcloud\" is known"},
		{MIN_SRC "[target.a]\nbackend = file\nsources = cf\npath = /x\n"
			 "[target.b]\nbackend = file\nsources = cf\npath = /x\n",
		 7, "[target.b]: manages file /x, as [target.a] (line 3) does"},
	};
	static const struct {
		const char *text;
		unsigned int line;
		const char *want;
	} nft[] = {
		{MIN_SRC "[target.n]\nbackend = nftables\nsources = cf\nfamily = bridge\n", 6,
		 "family: expected inet, ip or ip6"},
		{MIN_SRC "[target.n]\nbackend = nftables\nsources = cf\ntable = 1bad name\n", 6,
		 "table: expected an nftables name"},
		{MIN_SRC "[target.n]\nbackend = nftables\nsources = cf\nlock_ports = 99999\n", 6,
		 "lock_ports: expected"},
		{MIN_SRC "[target.n]\nbackend = nftables\nsources = cf\ncreate = maybe\n", 6,
		 "create: expected yes or no"},
		{MIN_SRC "[target.a]\nbackend = nftables\nsources = cf\n"
			 "[target.b]\nbackend = nftables\nsources = cf\nset_v4 = other\n",
		 6, "[target.b]: manages nftables set inet cdnallow allow_v6, as [target.a] "
		    "(line 3) does"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_error(cases[i].text, cases[i].line, cases[i].want);
	if (backend_find("nftables") == NULL)
		return;
	for (size_t i = 0; i < sizeof(nft) / sizeof(nft[0]); i++)
		expect_error(nft[i].text, nft[i].line, nft[i].want);
}

/* The fingerprint of a source follows what shapes its list, and only that. */
static void source_fingerprint_follows_what_shapes_the_list(void **state)
{
	static const char *const same[] = {
		"services = A B\ntimeout = 9\n",
		"services = A,  B\nmax_bytes = 1M\n",
		"services = B\tA A\nallow_http = no\n",
	};
	static const char *const other[] = {
		"services = A Bb\n",
		"services = A\n",
		"services = A B\nurl = https://b.example/ip-ranges.json\n",
		"services = A B\n[cdnallow]\nbroadest_v4 = 12\n",
		"services = A B\n[cdnallow]\nbroadest_v6 = 24\n",
	};
	char base[CONFIG_FP_LEN], fp[CONFIG_FP_LEN];
	struct tmpconf t;
	struct config c;
	char text[512];

	(void)state;
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]) + sizeof(other) / sizeof(other[0]);
	     i++) {
		const char *extra = i < 3 ? same[i] : other[i - 3];

		snprintf(text, sizeof(text),
			 "[target.t]\nbackend = null\nsources = a\n"
			 "[source.a]\nprovider = aws-cloudfront\n%s",
			 extra);
		expect_loads(text, &c, &t);
		config_source_fingerprint(&c, config_find_source(&c, "a"), i == 0 ? base : fp);
		assert_int_equal(strlen(i == 0 ? base : fp), 16);
		if (i > 0 && i < 3)
			assert_string_equal(fp, base);
		if (i >= 3 && strcmp(fp, base) == 0)
			fail_msg("same fingerprint for '%s'", extra);
		config_finish(&c);
		rm_conf(&t);
	}
	/* the provider, select and where, networks */
	expect_loads(JSON_SRC "select = a[].b\n" J_TGT, &c, &t);
	config_source_fingerprint(&c, config_find_source(&c, "j"), base);
	config_finish(&c);
	rm_conf(&t);
	expect_loads(JSON_SRC "select = a[].b\nwhere = k=v\n" J_TGT, &c, &t);
	config_source_fingerprint(&c, config_find_source(&c, "j"), fp);
	assert_string_not_equal(fp, base);
	config_finish(&c);
	rm_conf(&t);
	expect_loads("[source.j]\nprovider = text\nurl = https://a.example/x.json\n" J_TGT, &c,
		     &t);
	config_source_fingerprint(&c, config_find_source(&c, "j"), fp);
	assert_string_not_equal(fp, base);
	config_finish(&c);
	rm_conf(&t);
	expect_loads(CF_API "[target.t]\nbackend = null\nsources = c\n", &c, &t);
	config_source_fingerprint(&c, config_find_source(&c, "c"), base);
	config_finish(&c);
	rm_conf(&t);
	expect_loads(CF_API "networks = jdcloud\n[target.t]\nbackend = null\nsources = c\n", &c, &t);
	config_source_fingerprint(&c, config_find_source(&c, "c"), fp);
	assert_string_not_equal(fp, base);
	config_finish(&c);
	rm_conf(&t);
}

static double load_ms(const char *text, bool *failed)
{
	struct tmpconf t;
	struct config c;
	struct cda_error err = {0};
	struct timespec t0, t1;
	const char *path = write_conf(&t, text, 0600);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	*failed = config_load(&c, path, false, &err) < 0;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	config_finish(&c);
	rm_conf(&t);
	return (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
}

/* n short distinct keys in one section ("sections": n sections instead), under the 1 MiB
 * cap for 160000 keys or 140000 sections. */
static char *many(size_t n, bool sections)
{
	char *text = malloc(n * 8 + 64), *p = text;

	if (text == NULL)
		abort(); /* (a check gcc -fsanitize sees: no NULL reaches sprintf) */
	p += sprintf(p, "[cdnallow]\n");
	for (size_t i = 0; i < n; i++) {
		char name[8];
		size_t k = i, o = 0;

		do {
			name[o++] = (char)('a' + k % 26);
			k /= 26;
		} while (k != 0 && o < 6);
		name[o] = '\0';
		p += sprintf(p, sections ? "[%s]\n" : "%s=\n", name);
	}
	return text;
}

static void large_files_load_in_linear_time(void **state)
{
	for (int sections = 0; sections < 2; sections++) {
		size_t nbig = sections ? 140000 : 160000;
		char *small = many(nbig / 10, sections), *big = many(nbig, sections);
		bool f1, f2;
		double ms1 = load_ms(small, &f1), ms2 = load_ms(big, &f2);

		(void)state;
		print_message("# %zu %s %.1f ms, %zu %.1f ms\n", nbig / 10,
			      sections ? "sections" : "keys", ms1, nbig, ms2);
		/* unknown keys or sections: refused, but soon. No timed assertion here (speed is
		 * for benchmarks): a quadratic load of 160k keys (88 s before) ends in the test's
		 * timeout; the figures are printed for the record. */
		assert_true(f1 && f2);
		free(small);
		free(big);
	}
}

static void key_tables_are_terminated_and_known(void **state)
{
	size_t n = 0;

	(void)state;
	for (const char *const *k = config_global_keys; *k != NULL; k++)
		n++;
	assert_int_equal(n, 17);
	assert_string_equal(config_source_keys[0], "provider");
	assert_string_equal(config_target_keys[0], "backend");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(design_example_loads),
		cmocka_unit_test(every_global_key_is_read),
		cmocka_unit_test(unknown_global_key_suggests_the_closest),
		cmocka_unit_test(unknown_target_key_suggests_the_closest),
		cmocka_unit_test(unknown_source_key_suggests_the_closest),
		cmocka_unit_test(bad_percent_names_line_and_key),
		cmocka_unit_test(bad_bool_names_line_and_key),
		cmocka_unit_test(bad_numbers_are_refused),
		cmocka_unit_test(bad_publish_keys_are_refused),
		cmocka_unit_test(snapshot_source_keys_are_checked),
		cmocka_unit_test(a_snapshot_source_loads),
		cmocka_unit_test(missing_provider_is_refused),
		cmocka_unit_test(unknown_provider_is_refused),
		cmocka_unit_test(generic_provider_needs_url),
		cmocka_unit_test(unknown_backend_is_refused),
		cmocka_unit_test(target_with_missing_source_is_refused),
		cmocka_unit_test(no_source_or_no_target_is_refused),
		cmocka_unit_test(duplicate_section_is_refused),
		cmocka_unit_test(bad_sections_and_syntax_are_refused),
		cmocka_unit_test(quoted_url_keeps_hash_unquoted_loses_it),
		cmocka_unit_test(group_writable_file_is_refused),
		cmocka_unit_test(file_not_owned_by_root_is_refused_with_check_owner),
		cmocka_unit_test(missing_file_and_directory_are_refused),
		cmocka_unit_test(continued_line_reports_its_first_line),
		cmocka_unit_test(nul_byte_is_refused_at_its_line),
		cmocka_unit_test(value_parsers_are_strict),
		cmocka_unit_test(split_words_takes_spaces_and_commas),
		cmocka_unit_test(key_tables_are_terminated_and_known),
		cmocka_unit_test(bom_and_comment_after_section_header_are_accepted),
		cmocka_unit_test(source_names_match_case_insensitively),
		cmocka_unit_test(unknown_provider_and_backend_get_suggestions),
		cmocka_unit_test(values_read_as_iniparser_did),
		cmocka_unit_test(load_runs_every_check_a_run_would),
		cmocka_unit_test(source_fingerprint_follows_what_shapes_the_list),
		cmocka_unit_test(large_files_load_in_linear_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
