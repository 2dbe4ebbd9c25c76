// SPDX-License-Identifier: MIT
// Unit tests for cda_error: classes to exit statuses, context, formatting.
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cda_error.h"

static void every_class_has_its_documented_exit_status(void **state)
{
	static const struct {
		enum cda_errc c;
		int status;
		const char *name;
	} want[] = {
		{CDA_OK, 0, NULL},	  {CDA_EUSAGE, 64, "usage"}, {CDA_EDATA, 65, "data"},
		{CDA_EGUARD, 3, "guard"}, {CDA_EAPPLY, 69, "apply"}, {CDA_EFETCH, 75, "fetch"},
		{CDA_ECONFIG, 78, "config"}, {CDA_ESYS, 71, "system"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct cda_error e = {.code = want[i].c};

		assert_int_equal(cda_errc_exit_status(want[i].c), want[i].status);
		assert_int_equal(cda_error_exit_status(&e), want[i].status);
		if (want[i].name != NULL)
			assert_string_equal(cda_errc_name(want[i].c), want[i].name);
	}
	/* an out-of-range class is a system error, never success */
	assert_int_equal(cda_errc_exit_status((enum cda_errc)99), 71);
}

static void set_returns_minus_one_and_formats(void **state)
{
	struct cda_error e = {0};
	char buf[600];

	(void)state;
	assert_int_equal(cda_error_set(&e, CDA_EDATA, "bad line %d", 7), -1);
	assert_int_equal(e.code, CDA_EDATA);
	assert_string_equal(cda_error_str(&e, buf, sizeof(buf)), "bad line 7");
}

static void innermost_origin_and_first_line_win(void **state)
{
	struct cda_error e = {0};
	char buf[600];

	(void)state;
	cda_error_set(&e, CDA_EDATA, "not a prefix");
	assert_int_equal(cda_error_at(&e, "source cf (https://x/ips-v4)", 4), -1);
	cda_error_at(&e, "outer", 9);
	assert_string_equal(e.origin, "source cf (https://x/ips-v4)");
	assert_int_equal(e.line, 4);
	assert_string_equal(cda_error_str(&e, buf, sizeof(buf)),
			    "source cf (https://x/ips-v4):4: not a prefix");
}

static void sys_keeps_errno_and_appends_its_text(void **state)
{
	struct cda_error e = {0};

	(void)state;
	errno = ENOSPC;
	cda_error_sys(&e, CDA_ESYS, "write %s", "state");
	assert_int_equal(e.sys_errno, ENOSPC);
	assert_non_null(strstr(e.msg, "write state"));
	assert_non_null(strstr(e.msg, strerror(ENOSPC)));
}

static void clear_resets_everything(void **state)
{
	struct cda_error e = {0};

	(void)state;
	cda_error_set(&e, CDA_EAPPLY, "x");
	cda_error_at(&e, "o", 1);
	cda_error_clear(&e);
	assert_int_equal(e.code, CDA_OK);
	assert_int_equal(e.line, 0);
	assert_string_equal(e.origin, "");
	assert_string_equal(e.msg, "");
}

static void a_long_message_is_cut_not_overflowed(void **state)
{
	struct cda_error e = {0};
	char big[1000], small[16];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cda_error_set(&e, CDA_EDATA, "%s", big);
	assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
	assert_int_equal(strlen(cda_error_str(&e, small, sizeof(small))), sizeof(small) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_class_has_its_documented_exit_status),
		cmocka_unit_test(set_returns_minus_one_and_formats),
		cmocka_unit_test(innermost_origin_and_first_line_win),
		cmocka_unit_test(sys_keeps_errno_and_appends_its_text),
		cmocka_unit_test(clear_resets_everything),
		cmocka_unit_test(a_long_message_is_cut_not_overflowed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
