// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cda_error.h"
#include "subproc.h"

#define BIG (3u << 20) /* well past any pipe or socket buffer */

/* /bin/sh -c script, with in on stdin (NULL: none). */
static int sh(const char *script, const char *in, size_t in_len, struct subproc_out *r,
	      struct cda_error *err)
{
	char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};

	return subproc_run(argv, in, in_len, 0, r, err);
}

static char *pattern(size_t n)
{
	char *p = malloc(n);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + (i * 7 + i / 4096) % 26);
	return p;
}

static void stdout_and_stderr_are_captured_apart(void **state)
{
	struct cda_error err = {0};
	struct subproc_out r;

	assert_int_equal(sh("printf 'one\\ntwo'; printf oops >&2", NULL, 0, &r, &err), 0);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "one\ntwo");
	assert_int_equal(r.out_len, 7);
	assert_string_equal(r.err, "oops");
	assert_int_equal(r.err_len, 4);
	assert_int_equal(err.code, CDA_OK);
	subproc_out_finish(&r);
	assert_null(r.out);
	assert_null(r.err);
}

static void silent_command_gives_empty_strings(void **state)
{
	struct cda_error err = {0};
	struct subproc_out r;

	assert_int_equal(sh("true", NULL, 0, &r, &err), 0);
	assert_non_null(r.out);
	assert_non_null(r.err);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, "");
	assert_int_equal(r.out_len + r.err_len, 0);
	subproc_out_finish(&r);
}

static void exit_status_and_signal_are_reported(void **state)
{
	struct cda_error err = {0};
	struct subproc_out r;

	assert_int_equal(sh("exit 7", NULL, 0, &r, &err), 0);
	assert_int_equal(r.status, 7);
	subproc_out_finish(&r);
	assert_int_equal(sh("kill -TERM $$", NULL, 0, &r, &err), 0);
	assert_int_equal(r.status, 128 + 15);
	subproc_out_finish(&r);
	assert_int_equal(err.code, CDA_OK);
}

static void stdin_is_fed_and_closed(void **state)
{
	struct cda_error err = {0};
	struct subproc_out r;

	assert_int_equal(sh("cat; echo end", "hello\n", 6, &r, &err), 0);
	assert_string_equal(r.out, "hello\nend\n");
	subproc_out_finish(&r);
	/* empty input: EOF at once */
	assert_int_equal(sh("cat; echo end", "", 0, &r, &err), 0);
	assert_string_equal(r.out, "end\n");
	subproc_out_finish(&r);
	/* no input: /dev/null, not our stdin */
	assert_int_equal(sh("cat; ls -l /proc/self/fd/0", NULL, 0, &r, &err), 0);
	assert_non_null(strstr(r.out, "/dev/null"));
	subproc_out_finish(&r);
}

static void large_input_and_output_do_not_deadlock(void **state)
{
	struct cda_error err = {0};
	struct subproc_out r;
	char *in = pattern(BIG);

	/* The child writes all it reads to both streams while we are still sending. */
	assert_int_equal(sh("tee /dev/stderr", in, BIG, &r, &err), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.out_len, BIG);
	assert_int_equal(r.err_len, BIG);
	assert_memory_equal(r.out, in, BIG);
	assert_memory_equal(r.err, in, BIG);
	assert_int_equal(r.out[BIG], '\0');
	subproc_out_finish(&r);
	free(in);
}

static void child_ignoring_its_input_does_not_kill_us(void **state)
{
	struct cda_error err = {0};
	struct subproc_out r;
	char *in = pattern(BIG);

	/* SIGPIPE would end this test program; MSG_NOSIGNAL makes it EPIPE. */
	assert_int_equal(sh("exit 3", in, BIG, &r, &err), 0);
	assert_int_equal(r.status, 3);
	subproc_out_finish(&r);
	assert_int_equal(sh("head -c 5", in, BIG, &r, &err), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.out_len, 5);
	assert_memory_equal(r.out, in, 5);
	subproc_out_finish(&r);
	free(in);
}

static void child_closing_its_output_still_gets_all_input(void **state)
{
	struct cda_error err = {0};
	struct subproc_out r;
	char *in = pattern(BIG);

	/* Both output pipes reach EOF long before the input is sent: keep sending. */
	assert_int_equal(sh("exec >&- 2>&-; n=$(wc -c); test \"$n\" -eq 3145728", in, BIG, &r,
			    &err), 0);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "");
	subproc_out_finish(&r);
	free(in);
}

static void missing_program_is_an_apply_error(void **state)
{
	char *abs[] = {"/nonexistent/cda-no-such-program", "arg", NULL};
	char *rel[] = {"cda-no-such-program-in-path", NULL};
	struct cda_error err = {0};
	struct subproc_out r;

	assert_int_equal(subproc_run(abs, NULL, 0, 0, &r, &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_int_equal(err.sys_errno, ENOENT);
	assert_non_null(strstr(err.msg, "cannot run /nonexistent/cda-no-such-program"));
	assert_null(r.out);
	assert_null(r.err);
	cda_error_clear(&err);
	assert_int_equal(subproc_run_ok(rel, "x", 1, 0, &r, &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_int_equal(err.sys_errno, ENOENT);
	assert_non_null(strstr(err.msg, "cda-no-such-program-in-path"));
	assert_null(r.out);
}

static void run_ok_names_command_and_stderr(void **state)
{
	char *argv[] = {"/bin/sh", "-c",
			"echo '2024-01-01 fail2ban WARNING  noise' >&2; echo first >&2; echo; "
			"echo second >&2; echo out; exit 3",
			NULL};
	char *ok[] = {"/bin/sh", "-c", "echo fine", NULL};
	struct cda_error err = {0};
	struct subproc_out r;

	assert_int_equal(subproc_run_ok(argv, NULL, 0, 0, &r, &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_non_null(strstr(err.msg, "`/bin/sh -c echo '2024"));
	/* stdout is not quoted when stderr has something; the warning line is skipped */
	assert_non_null(strstr(err.msg, "` failed (exit 3): "));
	assert_string_equal(strstr(err.msg, "` failed"), "` failed (exit 3): first;second");
	assert_null(r.out); /* finished on failure */
	cda_error_clear(&err);
	assert_int_equal(subproc_run_ok(ok, NULL, 0, 0, &r, &err), 0);
	assert_string_equal(r.out, "fine\n");
	assert_int_equal(err.code, CDA_OK);
	subproc_out_finish(&r);
}

static void fail_quotes_stdout_when_stderr_is_empty(void **state)
{
	char *argv[] = {"false", NULL};
	struct subproc_out r = {.out = "only\nstdout\n", .err = "", .status = 1};
	struct subproc_out quiet = {.out = "", .err = "", .status = 2};
	struct cda_error err = {0};

	assert_int_equal(subproc_fail(argv, &r, &err), -1);
	assert_string_equal(err.msg, "`false` failed (exit 1): only;stdout");
	assert_int_equal(subproc_fail(argv, &quiet, &err), -1);
	assert_string_equal(err.msg, "`false` failed (exit 2)");
}

static void split_groups_quoted_words(void **state)
{
	/* a, 'b  c', "d \"e\" \\f \n", g'h i'j, '', 'x\'y (nothing is special in '...') */
	char **v = subproc_split(" a\t'b  c' \"d \\\"e\\\" \\\\f \\n\" g'h i'j '' 'x\\'y  ", NULL);

	assert_non_null(v);
	assert_string_equal(v[0], "a");
	assert_string_equal(v[1], "b  c");
	assert_string_equal(v[2], "d \"e\" \\f \\n");
	assert_string_equal(v[3], "gh ij");
	assert_string_equal(v[4], "");
	assert_string_equal(v[5], "x\\y");
	assert_null(v[6]);
	subproc_free_argv(v);
}

static void split_replaces_path_only_when_given(void **state)
{
	char **v = subproc_split("nginx -t -c {path} '--x={path}.d'", "/etc/a b.conf");

	assert_non_null(v);
	assert_string_equal(v[0], "nginx");
	assert_string_equal(v[3], "/etc/a b.conf");
	assert_string_equal(v[4], "--x=/etc/a b.conf.d");
	assert_null(v[5]);
	subproc_free_argv(v);
	v = subproc_split("check {path}", NULL);
	assert_non_null(v);
	assert_string_equal(v[1], "{path}");
	subproc_free_argv(v);
}

static void split_rejects_bad_lines(void **state)
{
	const char *bad[] = {"", "   \t ", "a \"b", "a 'b"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		errno = 0;
		assert_null(subproc_split(bad[i], "/p"));
		assert_int_equal(errno, EINVAL);
	}
	subproc_free_argv(NULL);
}

static void split_words_reach_the_program_unchanged(void **state)
{
	char **v = subproc_split("/bin/sh -c 'printf \"%s|\" \"$0\" \"$@\"' x 'a  b' '$HOME;' \"\"",
				 NULL);
	struct cda_error err = {0};
	struct subproc_out r;

	assert_non_null(v);
	assert_int_equal(subproc_run_ok(v, NULL, 0, 0, &r, &err), 0);
	assert_string_equal(r.out, "x|a  b|$HOME;||");
	subproc_out_finish(&r);
	subproc_out_finish(&r); /* idempotent */
	subproc_out_finish(NULL);
	subproc_free_argv(v);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whether a process of group pgid is still running (zombies waiting for init do not count). */
static int group_alive(long pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int alive = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char path[300], buf[512], state;
		long pgrp;
		FILE *fp;
		char *rp;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		buf[0] = '\0';
		if (fgets(buf, sizeof(buf), fp) == NULL)
			buf[0] = '\0';
		fclose(fp);
		/* pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses */
		if ((rp = strrchr(buf, ')')) == NULL ||
		    sscanf(rp + 1, " %c %*d %ld", &state, &pgrp) != 2)
			continue;
		if (pgrp == pgid && state != 'Z')
			alive = 1;
	}
	closedir(d);
	return alive;
}

static void plain_sleep_times_out(void **state)
{
	char *argv[] = {"sleep", "30", NULL};
	struct subproc_opts o = {.argv = argv, .timeout = 1};
	struct cda_error err = {0};
	struct subproc_out r;
	double t0 = now(), took;

	assert_int_equal(subproc_exec(&o, &r, &err), -1);
	took = now() - t0;
	assert_true(took >= 0.9 && took < 5);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_int_equal(err.sys_errno, ETIMEDOUT);
	assert_string_equal(err.msg, "`sleep 30` timed out after 1 s");
	assert_null(r.out);
	assert_null(r.err);
}

static void timeout_kills_the_whole_process_group(void **state)
{
	char dir[] = "/tmp/cda-subproc-XXXXXX", path[64], script[256];
	char *argv[] = {"/bin/sh", "-c", script, NULL};
	struct subproc_opts o = {.argv = argv, .timeout = 1};
	struct cda_error err = {0};
	struct subproc_out r;
	double t0, took;
	long pid = 0, pgid = 0;
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pgid", dir);
	/* SIGTERM is ignored by the shell and both its children: only SIGKILL ends them */
	snprintf(script, sizeof(script),
		 "trap '' TERM; sleep 30 & read -r _ _ _ _ g _ </proc/$$/stat; echo $$ $g >%s; "
		 "exec sleep 30",
		 path);
	t0 = now();
	assert_int_equal(subproc_exec(&o, &r, &err), -1);
	took = now() - t0;
	assert_true(took >= 0.9 && took < 6);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_non_null(strstr(err.msg, "timed out after 1 s"));
	assert_non_null(fp = fopen(path, "r"));
	assert_int_equal(fscanf(fp, "%ld %ld", &pid, &pgid), 2);
	fclose(fp);
	assert_int_equal(pgid, pid); /* the child leads a group of its own */
	for (int i = 0; i < 40 && group_alive(pgid); i++)
		usleep(50000); /* SIGKILL is delivered at once; dying takes a moment */
	assert_false(group_alive(pgid));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void fast_command_is_not_cut_short_by_its_timeout(void **state)
{
	char *argv[] = {"/bin/sh", "-c", "sleep 0.2; echo done", NULL};
	struct subproc_opts o = {.argv = argv, .timeout = 5};
	struct cda_error err = {0};
	struct subproc_out r;

	assert_int_equal(subproc_exec(&o, &r, &err), 0);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "done\n");
	subproc_out_finish(&r);
}

/* env's output, its lines sorted, joined by ' '. */
static void sorted_lines(char *text, char *buf, size_t size)
{
	char *v[64];
	size_t n = 0, off = 0;

	for (char *l = strtok(text, "\n"); l != NULL && n < 64; l = strtok(NULL, "\n"))
		v[n++] = l;
	for (size_t i = 0; i < n; i++)
		for (size_t k = i + 1; k < n; k++)
			if (strcmp(v[k], v[i]) < 0) {
				char *t = v[i];

				v[i] = v[k];
				v[k] = t;
			}
	buf[0] = '\0';
	for (size_t i = 0; i < n && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? " " : "", v[i]);
}

#define FIXED_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static void child_sees_only_path_and_lang(void **state)
{
	char *argv[] = {"env", NULL};
	const char *extra[] = {"CDA_PASSED=yes", "LANG=C.UTF-8", NULL};
	struct subproc_opts o = {.argv = argv, .env = extra};
	struct cda_error err = {0};
	struct subproc_out r;
	char buf[1024];

	assert_int_equal(setenv("CDA_INHERITED", "secret", 1), 0);
	assert_int_equal(setenv("LANG", "de_DE.UTF-8", 1), 0);
	assert_int_equal(subproc_run(argv, NULL, 0, 0, &r, &err), 0);
	sorted_lines(r.out, buf, sizeof(buf));
	assert_string_equal(buf, "LANG=C PATH=" FIXED_PATH);
	subproc_out_finish(&r);
	/* what the caller passes is added, and replaces a default of the same name */
	assert_int_equal(subproc_exec(&o, &r, &err), 0);
	sorted_lines(r.out, buf, sizeof(buf));
	assert_string_equal(buf, "CDA_PASSED=yes LANG=C.UTF-8 PATH=" FIXED_PATH);
	subproc_out_finish(&r);
	unsetenv("CDA_INHERITED");
	unsetenv("LANG");
}

static void system_programs_come_from_the_fixed_path(void **state)
{
	char dir[] = "/tmp/cda-subproc-XXXXXX", path[64], *old = getenv("PATH"), *np;
	char *env[] = {"env", NULL}, *mine[] = {"cda-only-here", NULL};
	struct cda_error err = {0};
	struct subproc_out r;
	FILE *fp;

	old = strdup(old != NULL ? old : "/usr/bin:/bin");
	assert_non_null(mkdtemp(dir));
	/* a fake env and a program found nowhere else, first in the caller's PATH */
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, i ? "cda-only-here" : "env");
		assert_non_null(fp = fopen(path, "w"));
		fputs("#!/bin/sh\necho fake\n", fp);
		assert_int_equal(fclose(fp), 0);
		assert_int_equal(chmod(path, 0755), 0);
	}
	assert_true(asprintf(&np, "%s:%s", dir, old) > 0);
	assert_int_equal(setenv("PATH", np, 1), 0);
	assert_int_equal(subproc_run(env, NULL, 0, 0, &r, &err), 0);
	assert_non_null(strstr(r.out, "PATH=" FIXED_PATH));
	subproc_out_finish(&r);
	assert_int_equal(subproc_run(mine, NULL, 0, 0, &r, &err), 0);
	assert_string_equal(r.out, "fake\n");
	subproc_out_finish(&r);
	assert_int_equal(setenv("PATH", old, 1), 0);
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, i ? "cda-only-here" : "env");
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(rmdir(dir), 0);
	free(np);
	free(old);
}

static void only_standard_fds_are_inherited(void **state)
{
	char *argv[] = {"/bin/sh", "-c", "test -e /proc/self/fd/57 && echo leaked || echo clean",
			NULL};
	struct cda_error err = {0};
	struct subproc_out r;
	int fd = open("/dev/null", O_RDONLY); /* no O_CLOEXEC, like a careless library */

	assert_true(fd >= 0);
	assert_int_equal(dup2(fd, 57), 57);
	assert_int_equal(subproc_run(argv, NULL, 0, 0, &r, &err), 0);
	assert_string_equal(r.out, "clean\n");
	subproc_out_finish(&r);
	close(57);
	close(fd);
}

static void slurp_reads_whole_files_and_tells_missing_ones(void **state)
{
	char dir[] = "/tmp/cda-subproc-XXXXXX", path[64];
	struct cda_error err = {0};
	char *data, *big = pattern(100000);
	size_t len;
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	assert_int_equal(subproc_slurp(path, &data, &len, &err), 1);
	assert_null(data);
	assert_int_equal(err.code, CDA_OK);
	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(fwrite(big, 1, 100000, fp), 100000);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(subproc_slurp(path, &data, &len, &err), 0);
	assert_int_equal(len, 100000);
	assert_memory_equal(data, big, len);
	assert_int_equal(data[len], '\0');
	free(data);
	/* an empty file is "", not NULL */
	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(subproc_slurp(path, &data, &len, &err), 0);
	assert_non_null(data);
	assert_int_equal(len, 0);
	free(data);
	/* a directory opens but does not read */
	assert_int_equal(subproc_slurp(dir, &data, &len, &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_int_equal(err.sys_errno, EISDIR);
	assert_string_equal(err.origin, dir);
	assert_null(data);
	assert_int_equal(subproc_slurp(dir, &data, &len, NULL), -1);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stdout_and_stderr_are_captured_apart),
		cmocka_unit_test(silent_command_gives_empty_strings),
		cmocka_unit_test(exit_status_and_signal_are_reported),
		cmocka_unit_test(stdin_is_fed_and_closed),
		cmocka_unit_test(large_input_and_output_do_not_deadlock),
		cmocka_unit_test(child_ignoring_its_input_does_not_kill_us),
		cmocka_unit_test(child_closing_its_output_still_gets_all_input),
		cmocka_unit_test(missing_program_is_an_apply_error),
		cmocka_unit_test(run_ok_names_command_and_stderr),
		cmocka_unit_test(fail_quotes_stdout_when_stderr_is_empty),
		cmocka_unit_test(split_groups_quoted_words),
		cmocka_unit_test(split_replaces_path_only_when_given),
		cmocka_unit_test(split_rejects_bad_lines),
		cmocka_unit_test(split_words_reach_the_program_unchanged),
		cmocka_unit_test(slurp_reads_whole_files_and_tells_missing_ones),
		cmocka_unit_test(plain_sleep_times_out),
		cmocka_unit_test(timeout_kills_the_whole_process_group),
		cmocka_unit_test(fast_command_is_not_cut_short_by_its_timeout),
		cmocka_unit_test(child_sees_only_path_and_lang),
		cmocka_unit_test(system_programs_come_from_the_fixed_path),
		cmocka_unit_test(only_standard_fds_are_inherited),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
