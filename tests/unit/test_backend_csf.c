// SPDX-License-Identifier: MIT
#include <sys/stat.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend.h"
#include "cda_error.h"
#include "config.h"
#include "ranges.h"

#define CONF "/etc/cdnallow/test.conf"
#define ADMIN_ALLOW "# admin's own\n198.51.100.7 # office\ntcp|in|d=22|s=203.0.113.9"
#define ADMIN_IGNORE "127.0.0.1"

struct fx {
	char dir[64];
	char p[6][160]; /* csf.allow csf.ignore our.allow our.ignore calls script */
	char *old_path;
	struct config_kv kv[8];
	struct target_config tc;
	struct ranges *cf;
	struct source_attr srcs[1];
};

enum { CSF_ALLOW, CSF_IGNORE, OWN_ALLOW, OWN_IGNORE, CALLS, SCRIPT };

static void set(struct fx *f, const char *key, const char *value)
{
	for (size_t i = 0; i < f->tc.n_kv; i++) {
		if (strcmp(f->kv[i].key, key) == 0) {
			free(f->kv[i].value);
			f->kv[i].value = strdup(value);
			return;
		}
	}
	assert_true(f->tc.n_kv < 8);
	f->kv[f->tc.n_kv].key = strdup(key);
	f->kv[f->tc.n_kv].value = strdup(value);
	f->kv[f->tc.n_kv].line = 30 + (unsigned int)f->tc.n_kv;
	f->tc.n_kv++;
}

static struct ranges *parse_list(const char *s)
{
	struct ranges *r = ranges_new();
	char *copy = strdup(s), *save = NULL;

	assert_non_null(r);
	for (char *w = strtok_r(copy, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
		struct cidr c;

		assert_int_equal(cidr_parse(w, strlen(w), &c, NULL), CIDR_OK);
		assert_int_equal(ranges_add_cidr(r, &c), 0);
	}
	free(copy);
	ranges_normalize(r);
	return r;
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	long n;

	if (fp == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return buf;
}

static void spit(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static void assert_file(const char *path, const char *want)
{
	char *text = slurp(path);

	assert_non_null(text);
	assert_string_equal(text, want);
	free(text);
}

/* A stand-in csf that records its arguments and exits with status. */
static void fake_csf(struct fx *f, int status)
{
	char text[512];

	snprintf(text, sizeof(text), "#!/bin/sh\necho \"$*\" >> '%s'\nexit %d\n", f->p[CALLS],
		 status);
	spit(f->p[SCRIPT], text);
	assert_int_equal(chmod(f->p[SCRIPT], 0755), 0);
}

static int setup_defaults(void **state)
{
	static const char *const names[] = {"csf.allow", "csf.ignore", "cdnallow.allow",
					    "cdnallow.ignore", "calls", "bin/csf"};
	struct fx *f = calloc(1, sizeof(*f));
	const char *path = getenv("PATH");
	char bin[128], *np;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/cdnallow-csf-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	for (int i = 0; i < 6; i++)
		snprintf(f->p[i], sizeof(f->p[i]), "%s/%s", f->dir, names[i]);
	snprintf(bin, sizeof(bin), "%s/bin", f->dir);
	assert_int_equal(mkdir(bin, 0755), 0);
	fake_csf(f, 0);
	f->old_path = strdup(path != NULL ? path : "/usr/bin:/bin");
	assert_true(asprintf(&np, "%s:%s", bin, f->old_path) > 0);
	setenv("PATH", np, 1);
	free(np);
	spit(f->p[CSF_ALLOW], ADMIN_ALLOW);
	spit(f->p[CSF_IGNORE], ADMIN_IGNORE);
	f->tc.name = "edge";
	f->tc.backend = "csf";
	f->tc.config_path = CONF;
	f->tc.kv = f->kv;
	set(f, "csf_allow", f->p[CSF_ALLOW]);
	set(f, "csf_ignore", f->p[CSF_IGNORE]);
	set(f, "allow_file", f->p[OWN_ALLOW]);
	set(f, "ignore_file", f->p[OWN_IGNORE]);
	f->cf = parse_list("192.0.2.0/24 2001:db8::/32");
	f->srcs[0] = (struct source_attr){"cloudflare", f->cf};
	*state = f;
	return 0;
}

/* The cases written for bare lines on every port and the lfd ignore list: both asked for. */
static int setup(void **state)
{
	struct fx *f;

	setup_defaults(state);
	f = *state;
	set(f, "ports", "all");
	set(f, "lfd_ignore", "yes");
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	setenv("PATH", f->old_path, 1);
	free(f->old_path);
	for (size_t i = 0; i < f->tc.n_kv; i++) {
		free(f->kv[i].key);
		free(f->kv[i].value);
	}
	ranges_free(f->cf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int apply_list(struct fx *f, const char *list, struct cda_error *err)
{
	struct backend_env env = {0};
	struct backend *be = NULL;
	struct ranges *want = parse_list(list);
	struct backend_input in = {.want = want, .srcs = f->srcs, .n_srcs = 1};
	int rc;

	assert_int_equal(backend_open(&csf_backend_ops, &be, &f->tc, &env, err), 0);
	rc = backend_apply(be, &in, err);
	backend_close(be);
	ranges_free(want);
	return rc;
}

static struct ranges *read_now(struct fx *f)
{
	struct cda_error err = {0};
	struct backend_env env = {0};
	struct backend *be = NULL;
	struct ranges *cur = ranges_new();

	assert_int_equal(backend_open(&csf_backend_ops, &be, &f->tc, &env, &err), 0);
	assert_int_equal(backend_read(be, cur, &err), 0);
	backend_close(be);
	return cur;
}

#define OURS                                                                                     \
	"# Generated by cdnallow (target edge). Do not edit: it is rewritten.\n"                 \
	"192.0.2.0/24 # cdnallow source cloudflare\n"                                             \
	"203.0.113.0/24 # cdnallow\n"                                                             \
	"2001:db8::/32 # cdnallow source cloudflare\n"

static void apply_writes_our_files_and_includes_keeping_admin_bytes(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	char want[512];

	assert_int_equal(apply_list(f, "192.0.2.0/24 203.0.113.0/24 2001:db8::/32", &err), 0);
	assert_file(f->p[OWN_ALLOW], OURS);
	assert_file(f->p[OWN_IGNORE], OURS);
	snprintf(want, sizeof(want), "%s\nInclude %s\n", ADMIN_ALLOW, f->p[OWN_ALLOW]);
	assert_file(f->p[CSF_ALLOW], want);
	snprintf(want, sizeof(want), "%s\nInclude %s\n", ADMIN_IGNORE, f->p[OWN_IGNORE]);
	assert_file(f->p[CSF_IGNORE], want);
	assert_file(f->p[CALLS], "-ra\n");
}

static void second_apply_changes_nothing_and_does_not_reload(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	struct stat before[4], after[4];

	assert_int_equal(apply_list(f, "192.0.2.0/24 2001:db8::/32", &err), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(stat(f->p[i], &before[i]), 0);
	assert_int_equal(apply_list(f, "192.0.2.0/24 2001:db8::/32", &err), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(stat(f->p[i], &after[i]), 0);
		assert_int_equal(before[i].st_ino, after[i].st_ino);
	}
	assert_file(f->p[CALLS], "-ra\n");
}

static void include_is_added_once_after_a_final_newline(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	char want[512];

	spit(f->p[CSF_ALLOW], ADMIN_ALLOW "\n");
	assert_int_equal(apply_list(f, "192.0.2.0/24", &err), 0);
	assert_int_equal(apply_list(f, "192.0.2.0/24 198.51.100.0/24", &err), 0);
	snprintf(want, sizeof(want), "%s\nInclude %s\n", ADMIN_ALLOW, f->p[OWN_ALLOW]);
	assert_file(f->p[CSF_ALLOW], want);
	assert_file(f->p[CALLS], "-ra\n-ra\n");
}

static void read_returns_the_list_only_while_csf_includes_it(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	struct ranges *want = parse_list("192.0.2.0/24 2001:db8::/32"), *cur;

	cur = read_now(f);
	assert_int_equal(ranges_count4(cur) + ranges_count6(cur), 0);
	ranges_free(cur);
	assert_int_equal(apply_list(f, "192.0.2.0/24 2001:db8::/32", &err), 0);
	cur = read_now(f);
	assert_true(ranges_equal(cur, want));
	ranges_free(cur);
	/* the admin removed our Include from csf.ignore: lfd no longer ignores the list */
	spit(f->p[CSF_IGNORE], ADMIN_IGNORE "\n");
	cur = read_now(f);
	assert_int_equal(ranges_count4(cur) + ranges_count6(cur), 0);
	ranges_free(cur);
	/* and the next apply puts it back, with a reload */
	assert_int_equal(apply_list(f, "192.0.2.0/24 2001:db8::/32", &err), 0);
	cur = read_now(f);
	assert_true(ranges_equal(cur, want));
	ranges_free(cur);
	assert_file(f->p[CALLS], "-ra\n-ra\n");
	ranges_free(want);
}

static void missing_csf_allow_is_an_apply_error(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};

	assert_int_equal(unlink(f->p[CSF_ALLOW]), 0);
	assert_int_equal(apply_list(f, "192.0.2.0/24", &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_string_equal(err.origin, f->p[CSF_ALLOW]);
	assert_int_not_equal(access(f->p[OWN_ALLOW], F_OK), 0);
	assert_int_not_equal(access(f->p[CALLS], F_OK), 0);
}

static void failing_reload_is_reported_and_retried_next_run(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	struct ranges *cur;

	fake_csf(f, 1);
	assert_int_equal(apply_list(f, "192.0.2.0/24", &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_non_null(strstr(err.msg, "`csf -ra` failed (exit 1)"));
	cur = read_now(f); /* our lists went back (empty): the next run sees a change */
	assert_int_equal(ranges_count4(cur) + ranges_count6(cur), 0);
	ranges_free(cur);
	fake_csf(f, 0);
	assert_int_equal(apply_list(f, "192.0.2.0/24", &err), 0);
	assert_file(f->p[CALLS], "-ra\n-ra\n");
}

static void reload_key_replaces_the_default_command(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};

	set(f, "reload", "csf --restartall 'with space'");
	assert_int_equal(apply_list(f, "192.0.2.0/24", &err), 0);
	assert_file(f->p[CALLS], "--restartall with space\n");
}

static void relative_path_is_a_config_error_with_its_line(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	struct backend_env env = {0};
	struct backend *be = NULL;

	free(f->kv[2].value);
	f->kv[2].value = strdup("cdnallow.allow");
	assert_int_equal(backend_open(&csf_backend_ops, &be, &f->tc, &env, &err), -1);
	assert_int_equal(err.code, CDA_ECONFIG);
	assert_string_equal(err.origin, CONF);
	assert_int_equal(err.line, f->kv[2].line);
	assert_non_null(strstr(err.msg, "allow_file"));
}

#define HEADER "# Generated by cdnallow (target edge). Do not edit: it is rewritten.\n"
#define PORTS_80_443                                                                             \
	HEADER "# Only TCP ports 80, 443 (ports =).\n"                                         \
	       "tcp|in|d=80|s=192.0.2.0/24 # cdnallow source cloudflare\n"                      \
	       "tcp|in|d=443|s=192.0.2.0/24 # cdnallow source cloudflare\n"                     \
	       "tcp|in|d=80|s=2001:db8::/32 # cdnallow source cloudflare\n"                     \
	       "tcp|in|d=443|s=2001:db8::/32 # cdnallow source cloudflare\n"

static void assert_reads(struct fx *f, const char *list)
{
	struct ranges *cur = read_now(f), *want = parse_list(list);

	if (!ranges_equal(cur, want))
		fail_msg("read() does not give %s", list);
	ranges_free(cur);
	ranges_free(want);
}

/* By default a CDN range reaches ports 80 and 443 only, and lfd is not told to ignore it. */
static void default_allows_ports_80_and_443_only_and_leaves_lfd_alone(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	char want[512];

	if (apply_list(f, "192.0.2.0/24 2001:db8::/32", &err) < 0)
		fail_msg("%s", err.msg);
	assert_file(f->p[OWN_ALLOW], PORTS_80_443);
	snprintf(want, sizeof(want), "%s\nInclude %s\n", ADMIN_ALLOW, f->p[OWN_ALLOW]);
	assert_file(f->p[CSF_ALLOW], want);
	assert_file(f->p[CSF_IGNORE], ADMIN_IGNORE); /* untouched */
	assert_int_not_equal(access(f->p[OWN_IGNORE], F_OK), 0);
	assert_file(f->p[CALLS], "-ra\n");
	assert_reads(f, "192.0.2.0/24 2001:db8::/32");
	/* the same again: nothing written, no reload */
	assert_int_equal(apply_list(f, "192.0.2.0/24 2001:db8::/32", &err), 0);
	assert_file(f->p[CALLS], "-ra\n");
}

static void ports_key_writes_one_filter_per_port_or_range(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};

	set(f, "ports", "8443 2052-2053");
	if (apply_list(f, "192.0.2.0/24", &err) < 0)
		fail_msg("%s", err.msg);
	assert_file(f->p[OWN_ALLOW],
		    HEADER "# Only TCP ports 8443, 2052-2053 (ports =).\n"
			   "tcp|in|d=8443|s=192.0.2.0/24 # cdnallow source cloudflare\n"
			   "tcp|in|d=2052_2053|s=192.0.2.0/24 # cdnallow source cloudflare\n");
	assert_reads(f, "192.0.2.0/24");
	/* a port dropped from the list: the file no longer reads as ours, the next run rewrites */
	set(f, "ports", "8443");
	assert_reads(f, "");
	assert_int_equal(apply_list(f, "192.0.2.0/24", &err), 0);
	assert_reads(f, "192.0.2.0/24");
	assert_file(f->p[CALLS], "-ra\n-ra\n");
}

static void lfd_ignore_yes_includes_the_ignore_file(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	char want[512];

	set(f, "lfd_ignore", "yes");
	if (apply_list(f, "192.0.2.0/24", &err) < 0)
		fail_msg("%s", err.msg);
	assert_file(f->p[OWN_IGNORE], HEADER "192.0.2.0/24 # cdnallow source cloudflare\n");
	snprintf(want, sizeof(want), "%s\nInclude %s\n", ADMIN_IGNORE, f->p[OWN_IGNORE]);
	assert_file(f->p[CSF_IGNORE], want);
	assert_reads(f, "192.0.2.0/24");
	/* and back to no: the ignore file is emptied (csf.ignore may keep naming it) */
	set(f, "lfd_ignore", "no");
	assert_reads(f, "");
	assert_int_equal(apply_list(f, "192.0.2.0/24", &err), 0);
	assert_file(f->p[OWN_IGNORE], HEADER "# lfd_ignore = no: nothing here.\n");
	assert_reads(f, "192.0.2.0/24");
}

/* An install by an earlier version: bare lines (every port, in and out) in both files, both
 * included. They read as nothing, so the next run rewrites them. */
static void bare_lines_of_an_earlier_version_are_rewritten(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	char text[512];

	spit(f->p[OWN_ALLOW], OURS);
	spit(f->p[OWN_IGNORE], OURS);
	snprintf(text, sizeof(text), "%s\nInclude %s\n", ADMIN_ALLOW, f->p[OWN_ALLOW]);
	spit(f->p[CSF_ALLOW], text);
	snprintf(text, sizeof(text), "%s\nInclude %s\n", ADMIN_IGNORE, f->p[OWN_IGNORE]);
	spit(f->p[CSF_IGNORE], text);
	assert_reads(f, "");
	if (apply_list(f, "192.0.2.0/24 2001:db8::/32", &err) < 0)
		fail_msg("%s", err.msg);
	assert_file(f->p[OWN_ALLOW], PORTS_80_443);
	assert_file(f->p[OWN_IGNORE], HEADER "# lfd_ignore = no: nothing here.\n");
	assert_file(f->p[CSF_IGNORE], text); /* the Include stays, naming an empty list */
	assert_reads(f, "192.0.2.0/24 2001:db8::/32");
	assert_file(f->p[CALLS], "-ra\n");
}

static void bad_ports_and_lfd_ignore_are_config_errors(void **state)
{
	static const char *const bad[][2] = {
		{"ports", "0"}, {"ports", "http"}, {"ports", ""}, {"ports", "443-80"},
		{"lfd_ignore", "maybe"},
	};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cda_error err = {0};
		struct backend_env env = {0};
		struct backend *be = NULL;

		set(f, bad[i][0], bad[i][1]);
		if (backend_open(&csf_backend_ops, &be, &f->tc, &env, &err) == 0) {
			backend_close(be);
			fail_msg("%s = %s was accepted", bad[i][0], bad[i][1]);
		}
		assert_int_equal(err.code, CDA_ECONFIG);
		assert_int_equal(err.line, target_line(&f->tc, bad[i][0]));
		assert_non_null(strstr(err.msg, bad[i][0]));
		set(f, bad[i][0], bad[i][0][0] == 'p' ? "80 443" : "no");
	}
}

/* A csf whose reload hangs, with a grandchild; both ignore SIGTERM. */
static void hanging_csf(struct fx *f)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "#!/bin/sh\necho \"$*\" >> '%s'\ntrap '' TERM\nsleep 3600 &\n"
		 "echo $! > '%s/sleep.pid'\nwait\n",
		 f->p[CALLS], f->dir);
	spit(f->p[SCRIPT], text);
	assert_int_equal(chmod(f->p[SCRIPT], 0755), 0);
}

static void a_hanging_reload_is_ended_after_command_timeout(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	struct ranges *cur;
	char path[128], status[64], *text;
	FILE *fp;

	hanging_csf(f);
	set(f, "command_timeout", "1s");
	assert_int_equal(apply_list(f, "192.0.2.0/24", &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_non_null(strstr(err.msg, "`csf -ra` timed out after 1 s"));
	assert_non_null(strstr(err.msg, "our lists were put back"));
	cur = read_now(f);
	assert_int_equal(ranges_count4(cur) + ranges_count6(cur), 0);
	ranges_free(cur);
	/* the grandchild went with the process group: no longer running */
	snprintf(path, sizeof(path), "%s/sleep.pid", f->dir);
	text = slurp(path);
	assert_non_null(text);
	snprintf(path, sizeof(path), "/proc/%d/status", atoi(text));
	free(text);
	fp = fopen(path, "r");
	while (fp != NULL && fgets(status, sizeof(status), fp) != NULL)
		if (strncmp(status, "State:", 6) == 0)
			assert_null(strpbrk(status + 6, "RSD"));
	if (fp != NULL)
		fclose(fp);
}

static void command_timeout_is_one_second_to_an_hour(void **state)
{
	static const char *const bad[] = {"0", "2h", "3601", "soon", "-1", ""};
	struct fx *f = *state;
	struct backend_env env = {0};
	struct backend *be = NULL;
	struct cda_error err = {0};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set(f, "command_timeout", bad[i]);
		if (backend_open(&csf_backend_ops, &be, &f->tc, &env, &err) == 0) {
			backend_close(be);
			fail_msg("command_timeout = %s was accepted", bad[i]);
		}
		assert_int_equal(err.code, CDA_ECONFIG);
		assert_int_equal(err.line, target_line(&f->tc, "command_timeout"));
		assert_non_null(strstr(err.msg, "command_timeout: a duration of 1s..1h"));
	}
	set(f, "command_timeout", "1h");
	assert_int_equal(backend_open(&csf_backend_ops, &be, &f->tc, &env, &err), 0);
	backend_close(be);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			apply_writes_our_files_and_includes_keeping_admin_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(second_apply_changes_nothing_and_does_not_reload,
						setup, teardown),
		cmocka_unit_test_setup_teardown(include_is_added_once_after_a_final_newline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(read_returns_the_list_only_while_csf_includes_it,
						setup, teardown),
		cmocka_unit_test_setup_teardown(missing_csf_allow_is_an_apply_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(failing_reload_is_reported_and_retried_next_run,
						setup, teardown),
		cmocka_unit_test_setup_teardown(reload_key_replaces_the_default_command, setup,
						teardown),
		cmocka_unit_test_setup_teardown(relative_path_is_a_config_error_with_its_line,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			default_allows_ports_80_and_443_only_and_leaves_lfd_alone, setup_defaults,
			teardown),
		cmocka_unit_test_setup_teardown(ports_key_writes_one_filter_per_port_or_range,
						setup_defaults, teardown),
		cmocka_unit_test_setup_teardown(lfd_ignore_yes_includes_the_ignore_file,
						setup_defaults, teardown),
		cmocka_unit_test_setup_teardown(bare_lines_of_an_earlier_version_are_rewritten,
						setup_defaults, teardown),
		cmocka_unit_test_setup_teardown(a_hanging_reload_is_ended_after_command_timeout,
						setup, teardown),
		cmocka_unit_test_setup_teardown(command_timeout_is_one_second_to_an_hour, setup,
						teardown),
		cmocka_unit_test_setup_teardown(bad_ports_and_lfd_ignore_are_config_errors,
						setup_defaults, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
