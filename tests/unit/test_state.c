// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cda_error.h"
#include "ranges.h"
#include "state.h"

struct tmp {
	char base[64];
	char dir[96]; /* base/state: state_open creates it */
};

static void mk(struct tmp *t)
{
	snprintf(t->base, sizeof(t->base), "/tmp/cda-state-XXXXXX");
	assert_non_null(mkdtemp(t->base));
	snprintf(t->dir, sizeof(t->dir), "%s/state", t->base);
}

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	if (d != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			if (unlink(p) < 0)
				rm_tree(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

static void put(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static struct cidr pfx(const char *s)
{
	struct cidr c;

	assert_int_equal(cidr_parse(s, strlen(s), &c, NULL), CIDR_OK);
	return c;
}

static void add(struct ranges *r, const char *s)
{
	struct cidr c = pfx(s);

	assert_int_equal(ranges_add_cidr(r, &c), 0);
}

static struct state *open_ok(const char *dir)
{
	struct state *st = NULL;
	struct cda_error err = {0};

	if (state_open(&st, dir, 0, false, &err) < 0)
		fail_msg("%s:%u: %s", err.origin, err.line, err.msg);
	return st;
}

static void source_round_trip_keeps_list_and_validators(void **state)
{
	struct tmp t;
	struct state *st;
	struct ranges *r = ranges_new(), *got = NULL;
	struct source_meta m = {0}, gm;
	struct cda_error err = {0};
	struct stat sb;

	(void)state;
	mk(&t);
	st = open_ok(t.dir);
	assert_int_equal(stat(t.dir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	assert_string_equal(state_dir(st), t.dir);

	add(r, "104.16.0.0/13");
	add(r, "173.245.48.0/20");
	add(r, "2400:cb00::/32");
	add(r, "10.0.0.0/24");
	add(r, "10.0.1.0/24"); /* adjacent: merged on save and load */
	ranges_normalize(r);
	m.fetched = 1700000000;
	m.changed = 1690000000;
	snprintf(m.token, sizeof(m.token), "abc-123 def");
	m.n_urls = 2;
	snprintf(m.url[0].etag, sizeof(m.url[0].etag), "W/\"5f1a\"");
	m.url[0].last_modified = 1600000000;
	m.url[1].etag[0] = '\0';
	m.url[1].last_modified = 0;

	assert_int_equal(state_load_source(st, "cloudflare", &got, &gm, &err), 0);
	assert_null(got);
	if (state_save_source(st, "cloudflare", r, &m, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(state_load_source(st, "cloudflare", &got, &gm, &err), 1);
	assert_non_null(got);
	assert_true(ranges_equal(r, got));
	assert_true(ranges_is_normal(got));
	assert_int_equal(ranges_count4(got), 3);
	assert_int_equal(gm.fetched, 1700000000);
	assert_int_equal(gm.changed, 1690000000);
	assert_string_equal(gm.token, "abc-123 def");
	assert_int_equal(gm.n_urls, 2);
	assert_string_equal(gm.url[0].etag, "W/\"5f1a\"");
	assert_int_equal(gm.url[0].last_modified, 1600000000);
	assert_string_equal(gm.url[1].etag, "");
	ranges_free(got);

	/* an empty list round-trips as empty */
	ranges_clear(r);
	ranges_normalize(r);
	assert_int_equal(state_save_source(st, "empty", r, &m, &err), 0);
	assert_int_equal(state_load_source(st, "empty", &got, &gm, &err), 1);
	assert_int_equal(ranges_count4(got) + ranges_count6(got), 0);
	ranges_free(got);

	ranges_free(r);
	state_close(st);
	state_close(NULL);
	rm_tree(t.base);
}

/* The fingerprint of the source's configuration goes with its list; an older file has none. */
static void source_config_fingerprint_round_trips(void **state)
{
	struct tmp t;
	struct state *st;
	struct ranges *r = ranges_new(), *got = NULL;
	struct source_meta m = {0}, gm;
	struct cda_error err = {0};
	char path[256];

	(void)state;
	mk(&t);
	st = open_ok(t.dir);
	add(r, "104.16.0.0/13");
	ranges_normalize(r);
	m.n_urls = 1;
	snprintf(m.url[0].etag, sizeof(m.url[0].etag), "\"e1\"");
	snprintf(m.config, sizeof(m.config), "0123456789abcdef");
	if (state_save_source(st, "cf", r, &m, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(state_load_source(st, "cf", &got, &gm, &err), 1);
	assert_string_equal(gm.config, "0123456789abcdef");
	assert_string_equal(gm.url[0].etag, "\"e1\"");
	assert_true(ranges_equal(r, got));
	ranges_free(got);
	snprintf(path, sizeof(path), "%s/source-old.list", t.dir);
	put(path, "# cdnallow state v1\nfetched 1\nchanged 1\nurl 0 etag \"\"e1\"\" lm 0\n"
		  "104.16.0.0/13\n");
	assert_int_equal(state_load_source(st, "old", &got, &gm, &err), 1);
	assert_string_equal(gm.config, "");
	assert_string_equal(gm.url[0].etag, "\"e1\"");
	ranges_free(got);
	ranges_free(r);
	state_close(st);
	rm_tree(t.base);
}

static void applied_items_round_trip_exactly(void **state)
{
	struct tmp t;
	struct state *st;
	struct ranges *r = ranges_new(), *got = NULL;
	struct cda_error err = {0};
	uint32_t genid = 0;
	cda_u128 top6 = ~(cda_u128)0, cf = (cda_u128)0x2400cb00 << 96;

	(void)state;
	mk(&t);
	st = open_ok(t.dir);
	/* adjacent items stay two items; the top addresses of both families survive */
	assert_int_equal(ranges_add4(r, 0x0a000000, 0x0a0000ff), 0);
	assert_int_equal(ranges_add4(r, 0x0a000100, 0x0a0001ff), 0);
	assert_int_equal(ranges_add4(r, 0x0a000300, 0x0a000300), 0);
	assert_int_equal(ranges_add4(r, 0xffffff00, 0xffffffff), 0);
	assert_int_equal(ranges_add6(r, 0, 0), 0);
	assert_int_equal(ranges_add6(r, cf, cf + 41), 0);
	assert_int_equal(ranges_add6(r, cf + 42, ((cda_u128)0x2400cb01 << 96) - 1), 0);
	assert_int_equal(ranges_add6(r, top6 - 5, top6), 0);

	assert_int_equal(state_load_applied(st, "nft-edge", &got, &genid, &err), 0);
	assert_int_equal(state_save_applied(st, "nft-edge", r, 4294967295u, &err), 0);
	assert_int_equal(state_load_applied(st, "nft-edge", &got, &genid, &err), 1);
	assert_int_equal(genid, 4294967295u);
	assert_true(ranges_equal(r, got));
	assert_int_equal(ranges_count4(got), 4);
	assert_int_equal(ranges_count6(got), 4);
	assert_true(ranges_v6(got)[3].hi == top6);
	ranges_free(got);

	assert_int_equal(state_drop_applied(st, "nft-edge", &err), 0);
	assert_int_equal(state_load_applied(st, "nft-edge", &got, &genid, &err), 0);
	assert_null(got);
	assert_int_equal(state_drop_applied(st, "nft-edge", &err), 0); /* already gone: fine */

	ranges_free(r);
	state_close(st);
	rm_tree(t.base);
}

static void names_are_reduced_to_safe_file_names(void **state)
{
	struct tmp t;
	struct state *st;
	struct ranges *r = ranges_new();
	struct cda_error err = {0};
	char p[256];

	(void)state;
	mk(&t);
	st = open_ok(t.dir);
	assert_int_equal(state_save_applied(st, "Edge/../x y", r, 1, &err), 0);
	snprintf(p, sizeof(p), "%s/applied-edge_.._x_y.list", t.dir);
	assert_int_equal(access(p, F_OK), 0);
	ranges_free(r);
	state_close(st);
	rm_tree(t.base);
}

static void second_run_fails_with_the_holders_pid(void **state)
{
	struct tmp t;
	struct state *st = NULL;
	struct cda_error err = {0};
	int ready[2], done[2];
	char c, want[256];
	pid_t pid;
	int status;

	(void)state;
	mk(&t);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(done), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct state *held = NULL;

		close(ready[0]);
		close(done[1]);
		if (state_open(&held, t.dir, 0, false, &err) < 0)
			_exit(1);
		if (write(ready[1], "k", 1) != 1)
			_exit(2);
		(void)!read(done[0], &c, 1); /* until the parent closes its end */
		state_close(held);
		_exit(0);
	}
	close(ready[1]);
	close(done[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);

	assert_int_equal(state_open(&st, t.dir, 1, false, &err), -1);
	assert_null(st);
	assert_int_equal(err.code, CDA_ESYS);
	snprintf(want, sizeof(want), "another cdnallow run (pid %ld) holds %s/lock; waited 1 s",
		 (long)pid, t.dir);
	assert_string_equal(err.msg, want);
	/* a readonly open takes no lock and is not refused */
	assert_int_equal(state_open(&st, t.dir, 0, true, &err), 0);
	state_close(st);

	close(done[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(ready[0]);
	/* released: the next run gets it */
	st = open_ok(t.dir);
	state_close(st);
	rm_tree(t.base);
}

static void readonly_open_of_a_missing_dir_finds_nothing(void **state)
{
	struct tmp t;
	struct state *st = NULL;
	struct ranges *got = NULL, *r = ranges_new();
	struct source_meta m = {0};
	struct cda_error err = {0};
	uint32_t genid = 7;

	(void)state;
	mk(&t);
	assert_int_equal(state_open(&st, t.dir, 0, true, &err), 0);
	assert_non_null(st);
	assert_int_equal(access(t.dir, F_OK), -1); /* not created */
	assert_int_equal(state_load_source(st, "cloudflare", &got, &m, &err), 0);
	assert_null(got);
	assert_int_equal(state_load_applied(st, "x", &got, &genid, &err), 0);
	assert_int_equal(genid, 0);
	assert_int_equal(state_save_source(st, "cloudflare", r, &m, &err), -1);
	assert_int_equal(err.code, CDA_ESYS);
	assert_int_equal(access(t.dir, F_OK), -1);
	ranges_free(r);
	state_close(st);
	rm_tree(t.base);
}

static void unsafe_directory_is_refused(void **state)
{
	struct tmp t;
	struct state *st = NULL;
	struct cda_error err = {0};

	(void)state;
	mk(&t);
	assert_int_equal(mkdir(t.dir, 0700), 0);
	assert_int_equal(chmod(t.dir, 0777), 0);
	assert_int_equal(state_open(&st, t.dir, 0, false, &err), -1);
	assert_null(st);
	assert_int_equal(err.code, CDA_ESYS);
	assert_non_null(strstr(err.msg, "writable by group or others"));
	assert_non_null(strstr(err.msg, t.dir));
	assert_int_equal(state_open(&st, t.dir, 0, true, &err), -1);

	assert_int_equal(chmod(t.dir, 0700), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(t.dir, 65534, 65534), 0);
		assert_int_equal(state_open(&st, t.dir, 0, false, &err), -1);
		assert_non_null(strstr(err.msg, "not root"));
	}
	rm_tree(t.base);
}

static void corrupt_files_name_file_and_line(void **state)
{
	struct tmp t;
	struct state *st;
	struct ranges *got = NULL;
	struct source_meta m;
	struct cda_error err = {0};
	uint32_t genid;
	char p[256];

	(void)state;
	mk(&t);
	st = open_ok(t.dir);
	snprintf(p, sizeof(p), "%s/source-cf.list", t.dir);
	put(p, "# cdnallow state v1\nfetched 1\nchanged 1\n104.16.0.0/13\n<html>\n");
	assert_int_equal(state_load_source(st, "cf", &got, &m, &err), -1);
	assert_null(got);
	assert_int_equal(err.code, CDA_EDATA);
	assert_string_equal(err.origin, p);
	assert_int_equal(err.line, 5);

	cda_error_clear(&err);
	put(p, "# cdnallow state v1\nfetched 1\n104.16.0.1/13\n");
	assert_int_equal(state_load_source(st, "cf", &got, &m, &err), -1);
	assert_int_equal(err.line, 3); /* host bits: not what we write */

	cda_error_clear(&err);
	put(p, "104.16.0.0/13\n");
	assert_int_equal(state_load_source(st, "cf", &got, &m, &err), -1);
	assert_int_equal(err.line, 1);

	cda_error_clear(&err);
	put(p, "# cdnallow state v1\nfetched soon\n");
	assert_int_equal(state_load_source(st, "cf", &got, &m, &err), -1);
	assert_int_equal(err.line, 2);

	cda_error_clear(&err);
	put(p, "# cdnallow state v1\nurl 1 etag \"x\" lm 0\n");
	assert_int_equal(state_load_source(st, "cf", &got, &m, &err), -1);
	assert_int_equal(err.line, 2); /* url 0 must come first */

	snprintf(p, sizeof(p), "%s/applied-k.list", t.dir);
	cda_error_clear(&err);
	put(p, "# cdnallow applied v1\ngenid 3\n10.0.0.9-10.0.0.1\n");
	assert_int_equal(state_load_applied(st, "k", &got, &genid, &err), -1);
	assert_int_equal(err.code, CDA_EDATA);
	assert_string_equal(err.origin, p);
	assert_int_equal(err.line, 3);
	cda_error_clear(&err);
	put(p, "# cdnallow applied v1\n");
	assert_int_equal(state_load_applied(st, "k", &got, &genid, &err), -1);
	assert_int_equal(err.line, 2);
	put(p, "# cdnallow applied v1\ngenid 3\n10.0.0.0/24\n::1-::2\n");
	assert_int_equal(state_load_applied(st, "k", &got, &genid, &err), 1);
	assert_int_equal(ranges_count4(got), 1);
	assert_int_equal(ranges_count6(got), 1);
	ranges_free(got);

	state_close(st);
	rm_tree(t.base);
}

static void lock_file_holds_our_pid(void **state)
{
	struct tmp t;
	struct state *st;
	char p[256], buf[32] = {0};
	FILE *fp;

	(void)state;
	mk(&t);
	st = open_ok(t.dir);
	snprintf(p, sizeof(p), "%s/lock", t.dir);
	fp = fopen(p, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_int_equal(strtol(buf, NULL, 10), (long)getpid());
	state_close(st);
	rm_tree(t.base);
}

static void tokens_round_trip_and_refuse_garbage(void **state)
{
	struct tmp t;
	struct state *st;
	struct cda_error err = {0};
	char buf[STATE_TOKEN_MAX + 1], p[256], big[STATE_TOKEN_MAX + 2];

	(void)state;
	mk(&t);
	st = open_ok(t.dir);
	assert_int_equal(state_load_token(st, "exec-edge", buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "");
	assert_int_equal(state_save_token(st, "exec-edge", "pl-0abc:7 v=1 \"x\"", &err), 0);
	assert_int_equal(state_load_token(st, "exec-edge", buf, sizeof(buf), &err), 1);
	assert_string_equal(buf, "pl-0abc:7 v=1 \"x\"");
	snprintf(p, sizeof(p), "%s/token-exec-edge.tok", t.dir);
	assert_int_equal(access(p, F_OK), 0);
	/* an empty token is a token */
	assert_int_equal(state_save_token(st, "exec-edge", "", &err), 0);
	assert_int_equal(state_load_token(st, "exec-edge", buf, sizeof(buf), &err), 1);
	assert_string_equal(buf, "");
	/* two lines, control bytes, too long: refused, the stored one kept */
	assert_int_equal(state_save_token(st, "exec-edge", "a\nb", &err), -1);
	assert_int_equal(state_save_token(st, "exec-edge", "a\tb", &err), -1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(state_save_token(st, "exec-edge", big, &err), -1);
	big[STATE_TOKEN_MAX] = '\0';
	assert_int_equal(state_save_token(st, "exec-edge", big, &err), 0);
	assert_int_equal(state_load_token(st, "exec-edge", buf, sizeof(buf), &err), 1);
	assert_int_equal(strlen(buf), STATE_TOKEN_MAX);
	/* a corrupt file names file and line */
	put(p, "# cdnallow token v1\nok\nmore\n");
	cda_error_clear(&err);
	assert_int_equal(state_load_token(st, "exec-edge", buf, sizeof(buf), &err), -1);
	assert_int_equal(err.code, CDA_EDATA);
	assert_string_equal(err.origin, p);
	assert_int_equal(err.line, 2);
	put(p, "garbage\n");
	assert_int_equal(state_load_token(st, "exec-edge", buf, sizeof(buf), &err), -1);
	state_close(st);
	/* read-only: loads, never saves */
	assert_int_equal(state_open(&st, t.dir, 0, true, &err), 0);
	assert_int_equal(state_save_token(st, "exec-edge", "x", &err), -1);
	state_close(st);
	rm_tree(t.base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(source_round_trip_keeps_list_and_validators),
		cmocka_unit_test(source_config_fingerprint_round_trips),
		cmocka_unit_test(applied_items_round_trip_exactly),
		cmocka_unit_test(names_are_reduced_to_safe_file_names),
		cmocka_unit_test(second_run_fails_with_the_holders_pid),
		cmocka_unit_test(readonly_open_of_a_missing_dir_finds_nothing),
		cmocka_unit_test(unsafe_directory_is_refused),
		cmocka_unit_test(corrupt_files_name_file_and_line),
		cmocka_unit_test(lock_file_holds_our_pid),
		cmocka_unit_test(tokens_round_trip_and_refuse_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
