// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cda_error.h"
#include "privsep.h"

/* What each job's child does. */
enum how { ANSWER, ANSWER_BIG, NO_ANSWER, CRASH, EXIT_NONZERO, HANG, EXEC, REPORT_SANDBOX };

static int work(void *ctx, const struct cda_error *sandbox_err, char **out, size_t *len)
{
	enum how how = *(const enum how *)ctx;
	static char *const argv[] = {"/bin/true", NULL};

	switch (how) {
	case ANSWER:
	case ANSWER_BIG:
		*len = how == ANSWER ? 6 : 1 << 20;
		if ((*out = calloc(1, *len)) == NULL)
			return -1;
		memcpy(*out, "hello", 6);
		return 0;
	case REPORT_SANDBOX:
		*len = strlen(sandbox_err ? sandbox_err->msg : "in") + 1;
		*out = strdup(sandbox_err ? sandbox_err->msg : "in");
		return *out ? 0 : -1;
	case NO_ANSWER:
		return -1;
	case CRASH:
		abort();
	case EXIT_NONZERO:
		_exit(5);
	case HANG:
		for (;;)
			pause();
	case EXEC:
		execv(argv[0], argv);
		return -1;
	}
	return -1;
}

static int run(enum how how, unsigned int timeout, size_t max, char **out, size_t *len,
	       struct cda_error *e)
{
	struct privsep_job j = {.work = work, .ctx = &how, .name = "the test child",
				.timeout = timeout, .max_len = max};

	return privsep_run(&j, out, len, e);
}

static void an_answer_comes_back_whole(void **state)
{
	struct cda_error e = {0};
	char *out;
	size_t len;

	(void)state;
	assert_int_equal(run(ANSWER, 10, 100, &out, &len, &e), 0);
	assert_int_equal(len, 6);
	assert_string_equal(out, "hello");
	free(out);
	assert_int_equal(run(ANSWER_BIG, 10, 1 << 21, &out, &len, &e), 0);
	assert_int_equal(len, 1 << 20);
	assert_string_equal(out, "hello");
	free(out);
}

static void the_child_is_in_its_sandbox_when_work_runs(void **state)
{
	struct cda_error e = {0};
	char *out;
	size_t len;

	(void)state;
	assert_int_equal(run(REPORT_SANDBOX, 10, 1000, &out, &len, &e), 0);
	assert_string_equal(out, "in");
	free(out);
}

static void a_crash_is_an_error_naming_the_signal(void **state)
{
	struct cda_error e = {0};
	char want[64];
	char *out;
	size_t len;

	(void)state;
	assert_int_equal(run(CRASH, 10, 100, &out, &len, &e), -1);
	assert_int_equal(e.code, CDA_EFETCH);
	snprintf(want, sizeof(want), "the test child was killed by signal %d", SIGABRT);
	assert_non_null(strstr(e.msg, want));
	assert_null(out);
}

static void a_forbidden_call_kills_and_says_so(void **state)
{
	struct cda_error e = {0};
	char want[64];
	char *out;
	size_t len;

	(void)state;
	assert_int_equal(run(EXEC, 10, 100, &out, &len, &e), -1);
	assert_int_equal(e.code, CDA_EFETCH);
	snprintf(want, sizeof(want), "killed by signal %d", SIGSYS);
	assert_non_null(strstr(e.msg, want));
	assert_non_null(strstr(e.msg, "a system call its sandbox forbids"));
}

static void a_nonzero_exit_or_no_answer_is_an_error(void **state)
{
	struct cda_error e = {0};
	char *out;
	size_t len;

	(void)state;
	assert_int_equal(run(EXIT_NONZERO, 10, 100, &out, &len, &e), -1);
	assert_non_null(strstr(e.msg, "exited with status 5"));
	assert_int_equal(run(NO_ANSWER, 10, 100, &out, &len, &e), -1);
	assert_non_null(strstr(e.msg, "exited with status 1"));
}

static void a_hang_is_killed_at_the_deadline(void **state)
{
	struct cda_error e = {0};
	time_t t0 = time(NULL);
	char *out;
	size_t len;

	(void)state;
	assert_int_equal(run(HANG, 1, 100, &out, &len, &e), -1);
	assert_int_equal(e.code, CDA_EFETCH);
	assert_non_null(strstr(e.msg, "did not finish within 1 s (killed)"));
	assert_true(time(NULL) - t0 <= 3);
}

static void an_answer_over_the_limit_is_refused(void **state)
{
	struct cda_error e = {0};
	char *out;
	size_t len;

	(void)state;
	assert_int_equal(run(ANSWER_BIG, 10, 1000, &out, &len, &e), -1);
	assert_non_null(strstr(e.msg, "answered more than 1000 bytes"));
	assert_null(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_answer_comes_back_whole),
		cmocka_unit_test(the_child_is_in_its_sandbox_when_work_runs),
		cmocka_unit_test(a_crash_is_an_error_naming_the_signal),
		cmocka_unit_test(a_forbidden_call_kills_and_says_so),
		cmocka_unit_test(a_nonzero_exit_or_no_answer_is_an_error),
		cmocka_unit_test(a_hang_is_killed_at_the_deadline),
		cmocka_unit_test(an_answer_over_the_limit_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
