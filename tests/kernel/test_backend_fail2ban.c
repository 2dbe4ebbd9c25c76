// SPDX-License-Identifier: MIT
/*
 * fail2ban backend against a real fail2ban-server with a private configuration, socket and
 * pid file (absolute paths: the daemon chdirs to /), inside a network namespace of its own.
 * The jails have no actions: nothing is ever banned in any firewall.
 */
#include <sys/stat.h>
#include <sys/wait.h>
#include <limits.h>
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

#define MARK "CDNALLOW_IN_NETNS"

struct fx {
	char dir[64];
	char sock[128], pid[128], dropin[160];
	struct config_kv kv[4];
	struct target_config tc;
};

static void spit(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static int sh_status(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *sh(const char *fmt, ...)
{
	char cmd[1024], *buf = NULL;
	size_t len = 0;
	va_list ap;
	FILE *fp, *mem = open_memstream(&buf, &len);
	int c;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fp = popen(cmd, "r");
	assert_non_null(fp);
	while ((c = fgetc(fp)) != EOF)
		fputc(c, mem);
	pclose(fp);
	fclose(mem);
	return buf;
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

static int start_server(struct fx *f)
{
	return sh_status("fail2ban-client -c %s -s %s -p %s start >%s/start.log 2>&1", f->dir,
			 f->sock, f->pid, f->dir);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[192], text[1024];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/cdnallow-f2b-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/f2b.sock", f->dir);
	snprintf(f->pid, sizeof(f->pid), "%s/f2b.pid", f->dir);
	snprintf(f->dropin, sizeof(f->dropin), "%s/jail.d/zz-cdnallow.local", f->dir);
	assert_int_equal(sh_status("mkdir %s/jail.d %s/filter.d && touch %s/app.log", f->dir,
				   f->dir, f->dir),
			 0);
	snprintf(path, sizeof(path), "%s/fail2ban.conf", f->dir);
	snprintf(text, sizeof(text),
		 "[Definition]\nloglevel = INFO\nlogtarget = %s/f2b.log\nsocket = %s\n"
		 "pidfile = %s\ndbfile = :memory:\n",
		 f->dir, f->sock, f->pid);
	spit(path, text);
	snprintf(path, sizeof(path), "%s/filter.d/dummy.conf", f->dir);
	spit(path, "[Definition]\nfailregex = ^FAIL <HOST>$\n");
	snprintf(path, sizeof(path), "%s/jail.conf", f->dir);
	snprintf(text, sizeof(text),
		 "[DEFAULT]\nbackend = polling\nbanaction =\naction =\n\n"
		 "[one]\nenabled = true\nfilter = dummy\nlogpath = %s/app.log\n\n"
		 "[two]\nenabled = true\nfilter = dummy\nlogpath = %s/app.log\n\n"
		 "[sshd]\nenabled = true\nfilter = dummy\nlogpath = %s/app.log\n\n"
		 "[nginx-http-auth]\nenabled = true\nfilter = dummy\nlogpath = %s/app.log\n",
		 f->dir, f->dir, f->dir, f->dir);
	spit(path, text);
	/* the admin's own entry, replacing [DEFAULT]'s for jail two */
	snprintf(path, sizeof(path), "%s/jail.local", f->dir);
	spit(path, "[two]\nignoreip = 10.9.9.9\n");
	f->tc.name = "f2b";
	f->tc.backend = "fail2ban";
	f->tc.config_path = "/etc/cdnallow/test.conf";
	f->tc.kv = f->kv;
	f->kv[0] = (struct config_kv){"conf_dir", f->dir, 30};
	f->kv[1] = (struct config_kv){"socket", f->sock, 31};
	/* the cases below were written for these two; the default (web jails) has its own */
	f->kv[2] = (struct config_kv){"jails", "one two", 32};
	f->tc.n_kv = 3;
	assert_int_equal(start_server(f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	sh_status("fail2ban-client -c %s -s %s stop >/dev/null 2>&1", f->dir, f->sock);
	assert_int_not_equal(access(f->pid, F_OK), 0); /* the server is gone */
	assert_int_equal(sh_status("rm -rf %s", f->dir), 0);
	free(f);
	return 0;
}

static int apply(struct fx *f, const char *list, struct cda_error *err)
{
	struct backend_env env = {0};
	struct backend *be = NULL;
	struct ranges *want = parse_list(list);
	struct backend_input in = {.want = want};
	int rc;

	memset(err, 0, sizeof(*err));
	assert_int_equal(backend_open(&fail2ban_backend_ops, &be, &f->tc, &env, err), 0);
	rc = backend_apply(be, &in, err);
	if (rc == 0 && backend_verify(be, want, err) < 0)
		fail_msg("verify: %s", err->msg);
	backend_close(be);
	ranges_free(want);
	return rc;
}

static void assert_reads(struct fx *f, const char *list)
{
	struct cda_error err = {0};
	struct backend_env env = {0};
	struct backend *be = NULL;
	struct ranges *cur = ranges_new(), *want = parse_list(list);

	assert_int_equal(backend_open(&fail2ban_backend_ops, &be, &f->tc, &env, &err), 0);
	assert_int_equal(backend_read(be, cur, &err), 0);
	if (!ranges_equal(cur, want))
		fail_msg("read() does not give %s", list);
	backend_close(be);
	ranges_free(cur);
	ranges_free(want);
}

/* A jail's live ignoreip, sorted, one entry a line. */
static char *ignores(struct fx *f, const char *jail)
{
	return sh("fail2ban-client -c %s -s %s get %s ignoreip 2>/dev/null | "
		  "sed -n 's/^[|`]- //p' | sort",
		  f->dir, f->sock, jail);
}

static void assert_ignores(struct fx *f, const char *jail, const char *want)
{
	char *got = ignores(f, jail);

	assert_string_equal(got, want);
	free(got);
}

static void apply_adds_ranges_to_every_jail_and_keeps_the_admins(void **state)
{
	struct fx *f = *state;
	struct cda_error err;

	assert_reads(f, "");
	assert_int_equal(apply(f, "192.0.2.0/24 2001:db8::/32", &err), 0);
	assert_ignores(f, "one", "192.0.2.0/24\n2001:db8::/32\n");
	assert_ignores(f, "two", "10.9.9.9\n192.0.2.0/24\n2001:db8::/32\n");
	assert_reads(f, "192.0.2.0/24 2001:db8::/32");
}

static void withdrawn_range_goes_and_the_admins_entry_stays(void **state)
{
	struct fx *f = *state;
	struct cda_error err;

	assert_int_equal(apply(f, "192.0.2.0/24 2001:db8::/32 10.9.9.9/32", &err), 0);
	if (apply(f, "192.0.2.0/24 198.51.100.0/24", &err) < 0)
		fail_msg("apply: %s", err.msg);
	assert_ignores(f, "one", "192.0.2.0/24\n198.51.100.0/24\n");
	/* 10.9.9.9 was ours too, but it is the admin's own in jail two: a reload restores it */
	assert_int_equal(sh_status("fail2ban-client -c %s -s %s reload >/dev/null 2>&1", f->dir,
				   f->sock),
			 0);
	assert_ignores(f, "two", "10.9.9.9\n192.0.2.0/24\n198.51.100.0/24\n");
	assert_reads(f, "192.0.2.0/24 198.51.100.0/24");
}

static void ranges_survive_reload_and_restart(void **state)
{
	struct fx *f = *state;
	struct cda_error err;

	assert_int_equal(apply(f, "192.0.2.0/24 2001:db8::/32", &err), 0);
	assert_int_equal(sh_status("fail2ban-client -c %s -s %s reload >/dev/null 2>&1", f->dir,
				   f->sock),
			 0);
	assert_ignores(f, "one", "192.0.2.0/24\n2001:db8::/32\n");
	assert_ignores(f, "two", "10.9.9.9\n192.0.2.0/24\n2001:db8::/32\n");
	assert_int_equal(sh_status("fail2ban-client -c %s -s %s stop >/dev/null 2>&1", f->dir,
				   f->sock),
			 0);
	assert_int_equal(start_server(f), 0);
	assert_ignores(f, "two", "10.9.9.9\n192.0.2.0/24\n2001:db8::/32\n");
	assert_reads(f, "192.0.2.0/24 2001:db8::/32");
}

static void second_apply_leaves_the_dropin_alone(void **state)
{
	struct fx *f = *state;
	struct cda_error err;
	struct stat a, b;

	assert_int_equal(apply(f, "192.0.2.0/24", &err), 0);
	assert_int_equal(stat(f->dropin, &a), 0);
	assert_int_equal(apply(f, "192.0.2.0/24", &err), 0);
	assert_int_equal(stat(f->dropin, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
}

static void admins_default_ignoreip_is_extended_not_replaced(void **state)
{
	struct fx *f = *state;
	struct cda_error err;
	char path[192];

	snprintf(path, sizeof(path), "%s/jail.d/admin.local", f->dir);
	spit(path, "[DEFAULT]\nignoreip = 127.0.0.1/8\n");
	assert_int_equal(apply(f, "192.0.2.0/24", &err), 0);
	assert_int_equal(sh_status("fail2ban-client -c %s -s %s reload >/dev/null 2>&1", f->dir,
				   f->sock),
			 0);
	assert_ignores(f, "one", "127.0.0.0/8\n192.0.2.0/24\n");
	assert_ignores(f, "two", "10.9.9.9\n192.0.2.0/24\n");
}

static void unknown_jail_is_an_apply_error_and_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct cda_error err;

	f->kv[2] = (struct config_kv){"jails", "one nosuchjail", 32};
	f->tc.n_kv = 3;
	assert_int_equal(apply(f, "192.0.2.0/24", &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_non_null(strstr(err.msg, "fail2ban-client"));
	assert_int_not_equal(access(f->dropin, F_OK), 0);
	assert_ignores(f, "one", "");
}

/* Without jails =, only the web jails: sshd (and one, two) never ignore the CDN. */
static void default_is_the_web_jails_only(void **state)
{
	struct fx *f = *state;
	struct cda_error err;

	f->tc.n_kv = 2;
	if (apply(f, "192.0.2.0/24 2001:db8::/32", &err) < 0)
		fail_msg("apply: %s", err.msg);
	assert_ignores(f, "nginx-http-auth", "192.0.2.0/24\n2001:db8::/32\n");
	assert_ignores(f, "sshd", "");
	assert_ignores(f, "one", "");
	assert_ignores(f, "two", "10.9.9.9\n");
	assert_reads(f, "192.0.2.0/24 2001:db8::/32");
}

/* No running web jail and no jails =: a configuration error that changes nothing. */
static void no_web_jail_is_a_config_error(void **state)
{
	struct fx *f = *state;
	struct cda_error err;

	assert_int_equal(sh_status("fail2ban-client -c %s -s %s stop nginx-http-auth >/dev/null "
				   "2>&1",
				   f->dir, f->sock),
			 0);
	f->tc.n_kv = 2;
	assert_int_equal(apply(f, "192.0.2.0/24", &err), -1);
	assert_int_equal(err.code, CDA_ECONFIG);
	assert_non_null(strstr(err.msg, "jails"));
	assert_string_equal(err.origin, f->tc.config_path);
	assert_int_not_equal(access(f->dropin, F_OK), 0);
	assert_ignores(f, "sshd", "");
	assert_ignores(f, "one", "");
}

/* A jail dropped from the list (an earlier default took every jail, sshd included) loses
 * what we gave it, live and in the drop-in, on the next run. */
static void dropped_jail_loses_our_ranges(void **state)
{
	struct fx *f = *state;
	struct cda_error err;

	f->kv[2].value = "sshd nginx-http-auth";
	if (apply(f, "192.0.2.0/24", &err) < 0)
		fail_msg("apply: %s", err.msg);
	assert_ignores(f, "sshd", "192.0.2.0/24\n");
	f->tc.n_kv = 2; /* the default now */
	assert_reads(f, ""); /* the drop-in is for other jails: not in our form */
	if (apply(f, "192.0.2.0/24", &err) < 0)
		fail_msg("apply: %s", err.msg);
	assert_ignores(f, "sshd", "");
	assert_ignores(f, "nginx-http-auth", "192.0.2.0/24\n");
	assert_int_equal(sh_status("fail2ban-client -c %s -s %s reload >/dev/null 2>&1", f->dir,
				   f->sock),
			 0);
	assert_ignores(f, "sshd", "");
	assert_ignores(f, "nginx-http-auth", "192.0.2.0/24\n");
	assert_reads(f, "192.0.2.0/24");
}

static int missing(const char *what)
{
	bool ci = getenv("CI") != NULL && strcmp(getenv("CI"), "true") == 0;

	printf("1..0 # SKIP %s\n", what);
	if (ci)
		fprintf(stderr, "CI=true: a missing prerequisite is a failure (%s)\n", what);
	return ci ? 1 : 77;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			apply_adds_ranges_to_every_jail_and_keeps_the_admins, setup, teardown),
		cmocka_unit_test_setup_teardown(withdrawn_range_goes_and_the_admins_entry_stays,
						setup, teardown),
		cmocka_unit_test_setup_teardown(ranges_survive_reload_and_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(second_apply_leaves_the_dropin_alone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(admins_default_ignoreip_is_extended_not_replaced,
						setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_jail_is_an_apply_error_and_changes_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(default_is_the_web_jails_only, setup, teardown),
		cmocka_unit_test_setup_teardown(no_web_jail_is_a_config_error, setup, teardown),
		cmocka_unit_test_setup_teardown(dropped_jail_loses_our_ranges, setup, teardown),
	};

	if (getenv(MARK) == NULL) {
		char **nargv = calloc((size_t)argc + 4, sizeof(*nargv)), self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (geteuid() != 0)
			return missing("needs root (network namespace)");
		if (sh_status("command -v unshare fail2ban-client fail2ban-server >/dev/null") != 0)
			return missing("unshare or fail2ban not installed");
		if (n <= 0)
			return missing("cannot find the test binary");
		self[n] = '\0';
		setenv(MARK, "1", 1);
		nargv[0] = "unshare";
		nargv[1] = "-n";
		nargv[2] = "--";
		nargv[3] = self;
		for (int i = 1; i < argc; i++)
			nargv[3 + i] = argv[i];
		execvp("unshare", nargv);
		return missing("cannot run unshare -n");
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
