// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
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

	return subproc_run(argv, in, in_len, r, err);
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

	assert_int_equal(subproc_run(abs, NULL, 0, &r, &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_int_equal(err.sys_errno, ENOENT);
	assert_non_null(strstr(err.msg, "cannot run /nonexistent/cda-no-such-program"));
	assert_null(r.out);
	assert_null(r.err);
	cda_error_clear(&err);
	assert_int_equal(subproc_run_ok(rel, "x", 1, &r, &err), -1);
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

	assert_int_equal(subproc_run_ok(argv, NULL, 0, &r, &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_non_null(strstr(err.msg, "`/bin/sh -c echo '2024"));
	/* stdout is not quoted when stderr has something; the warning line is skipped */
	assert_non_null(strstr(err.msg, "` failed (exit 3): "));
	assert_string_equal(strstr(err.msg, "` failed"), "` failed (exit 3): first;second");
	assert_null(r.out); /* finished on failure */
	cda_error_clear(&err);
	assert_int_equal(subproc_run_ok(ok, NULL, 0, &r, &err), 0);
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
	assert_int_equal(subproc_run_ok(v, NULL, 0, &r, &err), 0);
	assert_string_equal(r.out, "x|a  b|$HOME;||");
	subproc_out_finish(&r);
	subproc_out_finish(&r); /* idempotent */
	subproc_out_finish(NULL);
	subproc_free_argv(v);
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

/* subproc_exec() of /bin/sh -c script with a timeout and an optional extra environment. */
static int csh(const char *script, unsigned int timeout, const char *const *env,
	       struct subproc_out *r, struct cda_error *err)
{
	char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
	struct subproc_opts o = {.argv = argv, .timeout = timeout, .env = env};

	return subproc_exec(&o, r, err);
}

/* Whether the process whose pid is in path still runs (a zombie waiting for init does not). */
static bool pid_alive(const char *path)
{
	FILE *fp = fopen(path, "r");
	char stat[64], st = 'Z';
	long pid = 0;

	if (fp == NULL)
		return false;
	if (fscanf(fp, "%ld", &pid) != 1)
		pid = 0;
	fclose(fp);
	snprintf(stat, sizeof(stat), "/proc/%ld/stat", pid);
	if (pid <= 0 || (fp = fopen(stat, "r")) == NULL)
		return false;
	if (fscanf(fp, "%*d (%*[^)]) %c", &st) != 1)
		st = 'Z';
	fclose(fp);
	return st != 'Z' && st != 'X';
}

static void exec_timeout_kills_the_whole_group(void **state)
{
	char dir[] = "/tmp/cda-subproc-XXXXXX", script[256], pidf[64];
	struct cda_error err = {0};
	struct subproc_out r;
	time_t t0;

	assert_non_null(mkdtemp(dir));
	snprintf(pidf, sizeof(pidf), "%s/pid", dir);
	/* a grandchild that ignores SIGTERM and holds stdout, a parent that waits for it */
	snprintf(script, sizeof(script),
		 "sh -c 'trap \"\" TERM; echo $$ >%s; exec sleep 300' & wait", pidf);
	t0 = time(NULL);
	assert_int_equal(csh(script, 1, NULL, &r, &err), -1);
	assert_true(time(NULL) - t0 <= 5);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_int_equal(err.sys_errno, ETIMEDOUT);
	assert_non_null(strstr(err.msg, "timed out after 1 s"));
	assert_non_null(strstr(err.msg, "`/bin/sh -c sh -c"));
	assert_null(r.out);
	usleep(100000);
	assert_false(pid_alive(pidf));
	unlink(pidf);
	assert_int_equal(rmdir(dir), 0);
}

static void exec_sees_a_fixed_path_and_nothing_else_of_ours(void **state)
{
	const char *extra[] = {"AWS_REGION=eu-central-1", NULL};
	const char *path[] = {"PATH=/opt/x", NULL};
	struct cda_error err = {0};
	struct subproc_out r;

	setenv("CDA_SECRET", "leak", 1);
	assert_int_equal(csh("env | sort", 5, extra, &r, &err), 0);
	/* what the shell adds itself (PWD, SHLVL, _) aside, only PATH, LANG and the extras */
	for (char *l = r.out, *nl; (nl = strchr(l, '\n')) != NULL; l = nl + 1) {
		static const char *const ok[] = {"AWS_REGION=", "LANG=", "PATH=", "PWD=",
						 "OLDPWD=", "SHLVL=", "_="};
		bool known = false;

		for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++)
			known = known || strncmp(l, ok[i], strlen(ok[i])) == 0;
		if (!known)
			fail_msg("unexpected variable: %.*s", (int)(nl - l), l);
	}
	assert_null(strstr(r.out, "CDA_SECRET"));
	assert_non_null(strstr(r.out, "PATH=" SUBPROC_PATH "\n"));
	assert_non_null(strstr(r.out, "LANG=C\n"));
	assert_non_null(strstr(r.out, "AWS_REGION=eu-central-1\n"));
	subproc_out_finish(&r);
	assert_int_equal(csh("echo $PATH", 5, path, &r, &err), 0);
	assert_string_equal(r.out, "/opt/x\n");
	subproc_out_finish(&r);
	unsetenv("CDA_SECRET");
}

static void exec_inherits_no_descriptor_but_0_to_2(void **state)
{
	struct cda_error err = {0};
	struct subproc_out r;
	int fd = open("/dev/null", O_RDONLY); /* not close-on-exec */

	assert_true(fd > 2);
	/* the shell's descriptors, listed by a child of it */
	assert_int_equal(csh("ls /proc/$$/fd", 5, NULL, &r, &err), 0);
	assert_string_equal(r.out, "0\n1\n2\n");
	subproc_out_finish(&r);
	close(fd);
}

static void exec_finds_programs_in_the_fixed_path_first(void **state)
{
	char *argv[] = {"sh", "-c", "echo ok", NULL};
	char *missing[] = {"cda-no-such-program-in-path", NULL};
	struct subproc_opts o = {.argv = argv};
	struct cda_error err = {0};
	struct subproc_out r;

	assert_int_equal(subproc_exec(&o, &r, &err), 0);
	assert_string_equal(r.out, "ok\n");
	subproc_out_finish(&r);
	o.argv = missing;
	assert_int_equal(subproc_exec(&o, &r, &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_int_equal(err.sys_errno, ENOENT);
}

static void exec_feeds_input_like_run(void **state)
{
	char *argv[] = {"/bin/sh", "-c", "wc -c", NULL};
	struct cda_error err = {0};
	struct subproc_out r;
	char *in = pattern(BIG);
	struct subproc_opts o = {.argv = argv, .in = in, .in_len = BIG, .timeout = 30};

	assert_int_equal(subproc_exec(&o, &r, &err), 0);
	assert_int_equal(strtoul(r.out, NULL, 10), BIG);
	subproc_out_finish(&r);
	free(in);
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
		cmocka_unit_test(exec_timeout_kills_the_whole_group),
		cmocka_unit_test(exec_sees_a_fixed_path_and_nothing_else_of_ours),
		cmocka_unit_test(exec_inherits_no_descriptor_but_0_to_2),
		cmocka_unit_test(exec_finds_programs_in_the_fixed_path_first),
		cmocka_unit_test(exec_feeds_input_like_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
