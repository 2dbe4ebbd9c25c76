// SPDX-License-Identifier: MIT
#include <sys/stat.h>
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend.h"
#include "cda_error.h"
#include "config.h"
#include "ranges.h"

#define CONF "/etc/cdnallow/test.conf"

struct fx {
	char dir[64];
	char path[128];
	char marker[128]; /* created by the reload command */
	struct config_kv kv[10];
	struct target_config tc;
	struct ranges *cf, *other; /* per-source lists */
	struct source_attr srcs[2];
};

static void set(struct fx *f, const char *key, const char *value)
{
	for (size_t i = 0; i < f->tc.n_kv; i++) {
		if (strcmp(f->kv[i].key, key) == 0) {
			free(f->kv[i].value);
			f->kv[i].value = strdup(value);
			return;
		}
	}
	assert_true(f->tc.n_kv < 10);
	f->kv[f->tc.n_kv].key = strdup(key);
	f->kv[f->tc.n_kv].value = strdup(value);
	f->kv[f->tc.n_kv].line = 20 + (unsigned int)f->tc.n_kv;
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

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/cdnallow-file-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/realip.conf", f->dir);
	snprintf(f->marker, sizeof(f->marker), "%s/reloaded", f->dir);
	f->tc.name = "nginx";
	f->tc.backend = "file";
	f->tc.config_path = CONF;
	f->tc.line = 12;
	f->tc.kv = f->kv;
	set(f, "path", f->path);
	f->cf = parse_list("192.0.2.0/24 198.51.100.0/24 2001:db8::/32");
	f->other = parse_list("203.0.113.0/24");
	f->srcs[0] = (struct source_attr){"cloudflare", f->cf};
	f->srcs[1] = (struct source_attr){"other", f->other};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	for (size_t i = 0; i < f->tc.n_kv; i++) {
		free(f->kv[i].key);
		free(f->kv[i].value);
	}
	ranges_free(f->cf);
	ranges_free(f->other);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Open, apply want (with the two sources), close; returns apply's result. */
static int apply_list(struct fx *f, const char *list, struct cda_error *err)
{
	struct backend_env env = {0};
	struct backend *be = NULL;
	struct ranges *want = parse_list(list);
	struct backend_input in = {.want = want, .srcs = f->srcs, .n_srcs = 2};
	int rc;

	assert_int_equal(backend_open(&file_backend_ops, &be, &f->tc, &env, err), 0);
	rc = backend_apply(be, &in, err);
	backend_close(be);
	ranges_free(want);
	return rc;
}

static void nginx_conf(struct fx *f, char *conf, size_t size)
{
	char text[512];

	snprintf(conf, size, "%s/nginx.conf", f->dir);
	snprintf(text, sizeof(text),
		 "pid %s/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n\tinclude %s;\n}\n",
		 f->dir, f->path);
	spit(conf, text);
}

static void writes_header_lines_and_footer_in_order(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	char *text;
	struct stat st;

	set(f, "line", "set_real_ip_from {cidr}; # {source} {family}");
	set(f, "header", "# generated\\n# by cdnallow");
	set(f, "footer", "real_ip_header CF-Connecting-IP;");
	set(f, "mode", "0640");
	assert_int_equal(apply_list(f, "192.0.2.0/24 198.51.100.0/24 203.0.113.0/24 2001:db8::/32",
				    &err),
			 0);
	text = slurp(f->path);
	assert_non_null(text);
	assert_string_equal(text, "# generated\n# by cdnallow\n"
				  "set_real_ip_from 192.0.2.0/24; # cloudflare ipv4\n"
				  "set_real_ip_from 198.51.100.0/24; # cloudflare ipv4\n"
				  "set_real_ip_from 203.0.113.0/24; # other ipv4\n"
				  "set_real_ip_from 2001:db8::/32; # cloudflare ipv6\n"
				  "real_ip_header CF-Connecting-IP;\n");
	free(text);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
}

static void read_returns_what_apply_wrote(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	struct backend_env env = {0};
	struct backend *be = NULL;
	struct ranges *cur = ranges_new(), *want = parse_list("192.0.2.0/24 2001:db8::/32");
	bool same = false;

	set(f, "line", "set_real_ip_from {cidr}; # {source}");
	set(f, "header", "# header 10.0.0.0/8");
	assert_int_equal(apply_list(f, "192.0.2.0/24 2001:db8::/32", &err), 0);
	assert_int_equal(backend_open(&file_backend_ops, &be, &f->tc, &env, &err), 0);
	assert_int_equal(backend_read(be, cur, &err), 0);
	assert_int_equal(ranges_same_cover(cur, want, &same), 0);
	assert_true(same);
	assert_int_equal(backend_verify(be, want, &err), 0);
	backend_close(be);
	ranges_free(cur);
	ranges_free(want);
}

static void read_of_a_missing_file_is_empty(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	struct backend_env env = {0};
	struct backend *be = NULL;
	struct ranges *cur = ranges_new();

	assert_int_equal(backend_open(&file_backend_ops, &be, &f->tc, &env, &err), 0);
	assert_int_equal(backend_read(be, cur, &err), 0);
	assert_int_equal(ranges_count4(cur) + ranges_count6(cur), 0);
	backend_close(be);
	ranges_free(cur);
}

static void same_list_again_writes_nothing_and_does_not_reload(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	char cmd[160];
	struct stat a, b;

	snprintf(cmd, sizeof(cmd), "touch %s", f->marker);
	set(f, "reload", cmd);
	assert_int_equal(apply_list(f, "192.0.2.0/24", &err), 0);
	assert_int_equal(access(f->marker, F_OK), 0);
	assert_int_equal(unlink(f->marker), 0);
	assert_int_equal(stat(f->path, &a), 0);
	assert_int_equal(apply_list(f, "192.0.2.0/24", &err), 0);
	assert_int_equal(stat(f->path, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_not_equal(access(f->marker, F_OK), 0);
}

static void nginx_check_passes_and_the_file_is_replaced(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	char conf[128], cmd[256], *text;

	nginx_conf(f, conf, sizeof(conf));
	spit(f->path, "set_real_ip_from 203.0.113.0/24;\n");
	snprintf(cmd, sizeof(cmd), "nginx -t -q -c %s -p %s -e stderr", conf, f->dir);
	set(f, "line", "set_real_ip_from {cidr};");
	set(f, "check", cmd);
	assert_int_equal(apply_list(f, "192.0.2.0/24 2001:db8::/32", &err), 0);
	text = slurp(f->path);
	assert_string_equal(text, "set_real_ip_from 192.0.2.0/24;\n"
				  "set_real_ip_from 2001:db8::/32;\n");
	free(text);
	/* nginx.conf, nginx.pid, realip.conf: no copy or temporary left */
	assert_true(count_entries(f->dir) <= 3);
}

static void failing_nginx_check_leaves_the_old_file(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	char conf[128], cmd[256], *text;
	const char *old = "set_real_ip_from 203.0.113.0/24;\n";

	nginx_conf(f, conf, sizeof(conf));
	spit(f->path, old);
	snprintf(cmd, sizeof(cmd), "nginx -t -q -c %s -p %s -e stderr", conf, f->dir);
	set(f, "line", "set_real_ip_from {cidr} nonsense;");
	set(f, "check", cmd);
	set(f, "reload", "touch /nonexistent/never-run");
	assert_int_equal(apply_list(f, "192.0.2.0/24", &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_non_null(strstr(err.msg, "nginx"));
	assert_non_null(strstr(err.msg, "invalid number of arguments"));
	assert_string_equal(err.origin, f->path);
	text = slurp(f->path);
	assert_string_equal(text, old);
	free(text);
	assert_true(count_entries(f->dir) <= 3);
}

static void failing_check_of_the_temporary_leaves_the_old_file(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	char *text;
	const char *old = "198.51.100.0/24\n";

	spit(f->path, old);
	set(f, "check", "grep -q 10.0.0.0 '{path}'");
	assert_int_equal(apply_list(f, "192.0.2.0/24", &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_non_null(strstr(err.msg, "grep"));
	text = slurp(f->path);
	assert_string_equal(text, old);
	free(text);
	assert_int_equal(count_entries(f->dir), 1);
	/* the same check passes when the temporary holds what it looks for */
	assert_int_equal(apply_list(f, "10.0.0.0/24", &err), 0);
	text = slurp(f->path);
	assert_string_equal(text, "10.0.0.0/24\n");
	free(text);
}

static void failing_reload_puts_the_old_file_back(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	char *text;
	const char *old = "198.51.100.0/24\n";

	spit(f->path, old);
	set(f, "reload", "false");
	assert_int_equal(apply_list(f, "192.0.2.0/24", &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_non_null(strstr(err.msg, "`false` failed"));
	text = slurp(f->path);
	assert_string_equal(text, old);
	free(text);
	assert_int_equal(count_entries(f->dir), 1);
}

static void missing_reload_command_is_an_apply_error(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};

	set(f, "reload", "/nonexistent/reload-it now");
	assert_int_equal(apply_list(f, "192.0.2.0/24", &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_non_null(strstr(err.msg, "/nonexistent/reload-it"));
	assert_int_not_equal(access(f->path, F_OK), 0); /* there was no file before */
}

static void bad_values_are_config_errors_with_their_line(void **state)
{
	static const char *const bad[][2] = {
		{"mode", "999"},     {"mode", "0644x"},	  {"line", "set_real_ip_from;"},
		{"path", "relative"}, {"check", "sh -c 'x"},	  {"mode", "6777"},
		{"mode", "4755"},     {"mode", "1777"},	  {"mode", "01000"},
	};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cda_error err = {0};
		struct backend_env env = {0};
		struct backend *be = NULL;

		set(f, bad[i][0], bad[i][1]);
		assert_int_equal(backend_open(&file_backend_ops, &be, &f->tc, &env, &err), -1);
		assert_null(be);
		assert_int_equal(err.code, CDA_ECONFIG);
		assert_string_equal(err.origin, CONF);
		assert_int_equal(err.line, target_line(&f->tc, bad[i][0]));
		assert_non_null(strstr(err.msg, bad[i][0]));
		teardown(state);
		setup(state);
		f = *state;
	}
}

static void missing_path_is_a_config_error(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	struct backend_env env = {0};
	struct backend *be = NULL;

	free(f->kv[0].key);
	free(f->kv[0].value);
	f->tc.n_kv = 0;
	assert_int_equal(backend_open(&file_backend_ops, &be, &f->tc, &env, &err), -1);
	assert_int_equal(err.code, CDA_ECONFIG);
	assert_int_equal(err.line, 12);
}

/* Open, apply, verify, close: what a run does. */
static int apply_and_verify(struct fx *f, const char *list, struct cda_error *err)
{
	struct backend_env env = {0};
	struct backend *be = NULL;
	struct ranges *want = parse_list(list);
	struct backend_input in = {.want = want, .srcs = f->srcs, .n_srcs = 2};
	int rc;

	assert_int_equal(backend_open(&file_backend_ops, &be, &f->tc, &env, err), 0);
	rc = backend_apply(be, &in, err);
	if (rc == 0)
		rc = backend_verify(be, want, err);
	backend_close(be);
	ranges_free(want);
	return rc;
}

/* A header or footer line that the template would match is not a prefix we hold. */
static void header_and_footer_lines_that_match_the_template_are_not_read(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};

	set(f, "header", "10.0.0.0/8");
	set(f, "footer", "# end\\n172.16.0.0/12");
	if (apply_and_verify(f, "192.0.2.0/24 2001:db8::/32", &err) < 0)
		fail_msg("%s", err.msg);
	if (apply_and_verify(f, "192.0.2.0/24 2001:db8::/32", &err) < 0)
		fail_msg("second run: %s", err.msg);
}

/* Placeholders with nothing between them cannot be read back: refused when opening. */
static void adjacent_placeholders_are_a_config_error(void **state)
{
	static const char *const bad[] = {"{cidr}{source}", "{source}{cidr}", "x {family}{cidr}",
					  "{cidr}a", "{source}-{cidr}"};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cda_error err = {0};
		struct backend_env env = {0};
		struct backend *be = NULL;

		set(f, "line", bad[i]);
		if (backend_open(&file_backend_ops, &be, &f->tc, &env, &err) == 0) {
			backend_close(be);
			fail_msg("template %s was accepted", bad[i]);
		}
		assert_int_equal(err.code, CDA_ECONFIG);
		assert_int_equal(err.line, target_line(&f->tc, "line"));
		assert_non_null(strstr(err.msg, "line"));
	}
}

/* Reading is linear in the line: six {source} and a long line that almost matches. */
static void reading_is_fast_whatever_the_template(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	struct backend_env env = {0};
	struct backend *be = NULL;
	struct ranges *cur = ranges_new();
	char text[512] = "";
	struct timespec a, b;
	double s;

	set(f, "line", "{source} {source} {source} {source} {source} {source} {cidr};");
	for (int i = 0; i < 60; i++)
		strcat(text, "a ");
	strcat(text, "\n");
	spit(f->path, text);
	assert_int_equal(backend_open(&file_backend_ops, &be, &f->tc, &env, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(backend_read(be, cur, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	/* no timed assertion: an exponential match would end in the test's timeout */
	s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	print_message("# reading one line took %.4f s\n", s);
	assert_int_equal(ranges_count4(cur) + ranges_count6(cur), 0);
	backend_close(be);
	ranges_free(cur);
	/* and what it writes with that template reads back */
	if (apply_and_verify(f, "192.0.2.0/24 203.0.113.0/24", &err) < 0)
		fail_msg("%s", err.msg);
}

/* Without mode, the replaced file keeps its mode; owner and group are kept either way. */
static void unset_mode_keeps_the_files_mode_owner_and_group(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	struct stat st;

	if (geteuid() != 0) {
		skip();
		return;
	}
	spit(f->path, "198.51.100.0/24\n");
	assert_int_equal(chown(f->path, 0, 5678), 0);
	assert_int_equal(chmod(f->path, 0640), 0);
	assert_int_equal(apply_list(f, "192.0.2.0/24", &err), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_gid, 5678);
	assert_int_equal(st.st_uid, 0);
	/* a new file: 0644 */
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(apply_list(f, "192.0.2.0/24", &err), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(writes_header_lines_and_footer_in_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(read_returns_what_apply_wrote, setup, teardown),
		cmocka_unit_test_setup_teardown(read_of_a_missing_file_is_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(same_list_again_writes_nothing_and_does_not_reload,
						setup, teardown),
		cmocka_unit_test_setup_teardown(nginx_check_passes_and_the_file_is_replaced, setup,
						teardown),
		cmocka_unit_test_setup_teardown(failing_nginx_check_leaves_the_old_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(failing_check_of_the_temporary_leaves_the_old_file,
						setup, teardown),
		cmocka_unit_test_setup_teardown(failing_reload_puts_the_old_file_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(missing_reload_command_is_an_apply_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(bad_values_are_config_errors_with_their_line, setup,
						teardown),
		cmocka_unit_test_setup_teardown(missing_path_is_a_config_error, setup, teardown),
		cmocka_unit_test_setup_teardown(
			header_and_footer_lines_that_match_the_template_are_not_read, setup,
			teardown),
		cmocka_unit_test_setup_teardown(adjacent_placeholders_are_a_config_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(reading_is_fast_whatever_the_template, setup,
						teardown),
		cmocka_unit_test_setup_teardown(unset_mode_keeps_the_files_mode_owner_and_group,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
