// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "textbuf.h"

static void append_keeps_text_nul_terminated_across_growth(void **state)
{
	char *p = NULL, chunk[1000];
	size_t len = 0, cap = 0;

	(void)state;
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 10; i++) {
		chunk[0] = (char)('0' + i);
		assert_int_equal(textbuf_append(&p, &len, &cap, chunk, sizeof(chunk)), 0);
	}
	assert_int_equal(len, 10000);
	assert_true(cap > len);
	assert_int_equal(strlen(p), 10000);
	for (int i = 0; i < 10; i++)
		assert_int_equal(p[i * 1000], '0' + i);
	free(p);
}

static void append_copies_bytes_verbatim_nul_bytes_included(void **state)
{
	/* fetch's write callback: body chunks of any bytes, of any size, in a row */
	static const char chunk[] = {'a', '\0', 'b', '\n', '\xff', '\0'};
	char *p = NULL, want[5000 * sizeof(chunk)];
	size_t len = 0, cap = 0;

	(void)state;
	for (size_t i = 0; i < 5000; i++) {
		memcpy(want + i * sizeof(chunk), chunk, sizeof(chunk));
		assert_int_equal(textbuf_append(&p, &len, &cap, chunk, sizeof(chunk)), 0);
	}
	assert_int_equal(len, sizeof(want));
	assert_true(cap > len);
	assert_memory_equal(p, want, sizeof(want));
	assert_int_equal(p[len], '\0');
	free(p);
}

static void append_of_nothing_gives_an_empty_string(void **state)
{
	char *p = NULL;
	size_t len = 0, cap = 0;

	(void)state;
	assert_int_equal(textbuf_append(&p, &len, &cap, "", 0), 0);
	assert_non_null(p);
	assert_string_equal(p, "");
	free(p);
}

static void append_refuses_a_size_overflow_with_enomem(void **state)
{
	char *p = NULL;
	size_t len = 0, cap = 0;

	(void)state;
	assert_int_equal(textbuf_append(&p, &len, &cap, "abc", 3), 0);
	errno = 0;
	assert_int_equal(textbuf_append(&p, &len, &cap, "d", SIZE_MAX - 3), -1);
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_int_equal(textbuf_append(&p, &len, &cap, "d", SIZE_MAX), -1);
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(len, 3);
	assert_string_equal(p, "abc");
	free(p);
}

static void add_sets_oom_on_failure_and_keeps_the_text(void **state)
{
	struct textbuf b = {0};

	(void)state;
	textbuf_add(&b, "ab", 2);
	assert_false(b.oom);
	textbuf_add(&b, "c", SIZE_MAX);
	assert_true(b.oom);
	assert_int_equal(b.len, 2);
	assert_string_equal(b.p, "ab");
	free(b.p);
}

static void printf_appends_formatted_text(void **state)
{
	struct textbuf b = {0};

	(void)state;
	textbuf_printf(&b, "%s=%d", "a", 1);
	textbuf_printf(&b, ",%s", "b");
	textbuf_printf(&b, "%s", "");
	assert_false(b.oom);
	assert_string_equal(b.p, "a=1,b");
	assert_int_equal(b.len, 5);
	free(b.p);
}

static void printf_does_not_truncate_long_output(void **state)
{
	struct textbuf b = {0};
	size_t sizes[] = {255, 256, 257, 4095, 4096, 10000};
	size_t total = 0;
	char *s;

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_non_null(s = malloc(sizes[i] + 1));
		memset(s, 'a' + (int)i, sizes[i]);
		s[sizes[i]] = '\0';
		textbuf_printf(&b, "%s\n", s);
		assert_false(b.oom);
		assert_memory_equal(b.p + total, s, sizes[i]);
		total += sizes[i] + 1;
		assert_int_equal(b.len, total);
		assert_int_equal(b.p[total - 1], '\n');
		assert_int_equal(b.p[total], '\0');
		free(s);
	}
	assert_int_equal(strlen(b.p), total);
	free(b.p);
}

static void printf_grows_a_buffer_whose_cap_is_exactly_full(void **state)
{
	/* the iptables lock reader hands over a strdup'd-sized buffer: cap == len + 1 */
	struct textbuf b = {0};

	(void)state;
	assert_non_null(b.p = strdup("first\n"));
	b.len = 6;
	b.cap = 7;
	textbuf_printf(&b, "%s\n", "second line");
	assert_false(b.oom);
	assert_string_equal(b.p, "first\nsecond line\n");
	free(b.p);
}

static void next_line_splits_lines_and_keeps_an_unterminated_last_one(void **state)
{
	char text[] = "one\n\nthree\nfour";
	char *pos = text;

	(void)state;
	assert_string_equal(textbuf_next_line(&pos), "one");
	assert_string_equal(textbuf_next_line(&pos), "");
	assert_string_equal(textbuf_next_line(&pos), "three");
	assert_string_equal(textbuf_next_line(&pos), "four");
	assert_null(textbuf_next_line(&pos));
	assert_null(textbuf_next_line(&pos));
}

static void next_line_returns_null_for_empty_or_missing_text(void **state)
{
	char empty[] = "", one[] = "x\n";
	char *pos = empty;

	(void)state;
	assert_null(textbuf_next_line(&pos));
	pos = NULL;
	assert_null(textbuf_next_line(&pos));
	pos = one;
	assert_string_equal(textbuf_next_line(&pos), "x");
	assert_null(textbuf_next_line(&pos));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(append_keeps_text_nul_terminated_across_growth),
		cmocka_unit_test(append_copies_bytes_verbatim_nul_bytes_included),
		cmocka_unit_test(append_of_nothing_gives_an_empty_string),
		cmocka_unit_test(append_refuses_a_size_overflow_with_enomem),
		cmocka_unit_test(add_sets_oom_on_failure_and_keeps_the_text),
		cmocka_unit_test(printf_appends_formatted_text),
		cmocka_unit_test(printf_does_not_truncate_long_output),
		cmocka_unit_test(printf_grows_a_buffer_whose_cap_is_exactly_full),
		cmocka_unit_test(next_line_splits_lines_and_keeps_an_unterminated_last_one),
		cmocka_unit_test(next_line_returns_null_for_empty_or_missing_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
