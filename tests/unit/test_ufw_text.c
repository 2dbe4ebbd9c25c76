// SPDX-License-Identifier: MIT
/* Unit tests for ufw_text: our block in and out of UFW's files, every other byte kept. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "textbuf.h"
#include "ufw_text.h"

#define BLOCK UFW_BLOCK_BEGIN "\n-A ufw-before-input -j ACCEPT\n" UFW_BLOCK_END "\n"

/* The start of Debian's before.rules, shortened; the admin added a *nat section on top. */
static const char admin_rules[] = "# admin: port forward\n"
				  "*nat\n"
				  ":PREROUTING ACCEPT [0:0]\n"
				  "COMMIT\n"
				  "*filter\n"
				  ":ufw-before-input - [0:0]\n"
				  ":ufw-not-local - [0:0]\n"
				  "-A ufw-before-input -i lo -j ACCEPT\n"
				  "-A ufw-before-input -j ufw-logging-deny\n"
				  "\n"
				  "# don't delete the 'COMMIT' line or these rules won't be processed\n"
				  "COMMIT\n"
				  "*raw\n"
				  "COMMIT\n";

static char *place(const char *admin)
{
	struct textbuf out = {0};

	assert_int_equal(ufw_text_place_rules(admin, strlen(admin), BLOCK, &out), UFW_TEXT_OK);
	return out.p;
}

static void rules_block_goes_above_the_comment_over_filters_commit(void **state)
{
	char *got = place(admin_rules);
	const char *block = strstr(got, BLOCK);

	(void)state;
	assert_non_null(block);
	/* after the admin's last rule and the blank line, before "# don't delete" and COMMIT */
	assert_int_equal(block - got, strstr(admin_rules, "\n\n# don't") + 2 - admin_rules);
	assert_string_equal(block + strlen(BLOCK),
			    "# don't delete the 'COMMIT' line or these rules won't be processed\n"
			    "COMMIT\n*raw\nCOMMIT\n");
	/* not in the *nat section, which has its own COMMIT first */
	assert_true(block > strstr(got, "*filter"));
	free(got);
}

static void strip_gives_back_every_byte_of_the_admins_file(void **state)
{
	char *got = place(admin_rules);
	struct textbuf out = {0};
	size_t n = 9;
	unsigned int line = 0;

	(void)state;
	assert_int_equal(ufw_text_strip(got, strlen(got), &out, &n, &line), UFW_TEXT_OK);
	assert_int_equal(n, 1);
	assert_string_equal(out.p, admin_rules);
	free(got);
	free(out.p);
}

static void placing_again_after_a_strip_is_byte_identical(void **state)
{
	char *once = place(admin_rules), *twice;
	struct textbuf out = {0};
	size_t n;
	unsigned int line;

	(void)state;
	assert_int_equal(ufw_text_strip(once, strlen(once), &out, &n, &line), UFW_TEXT_OK);
	twice = place(out.p);
	assert_string_equal(once, twice);
	free(once);
	free(twice);
	free(out.p);
}

static void strip_removes_every_copy_and_counts_them(void **state)
{
	const char text[] = "a\n" BLOCK "b\n" BLOCK "c";
	struct textbuf out = {0};
	size_t n = 0;
	unsigned int line = 0;

	(void)state;
	assert_int_equal(ufw_text_strip(text, strlen(text), &out, &n, &line), UFW_TEXT_OK);
	assert_int_equal(n, 2);
	assert_string_equal(out.p, "a\nb\nc");
	free(out.p);
}

static void strip_of_an_empty_text_is_an_empty_string(void **state)
{
	struct textbuf out = {0};
	size_t n = 1;
	unsigned int line = 0;

	(void)state;
	assert_int_equal(ufw_text_strip("", 0, &out, &n, &line), UFW_TEXT_OK);
	assert_int_equal(n, 0);
	assert_non_null(out.p);
	assert_string_equal(out.p, "");
	free(out.p);
}

static void a_begin_marker_without_end_is_refused_with_its_line(void **state)
{
	const char text[] = "a\nb\n" UFW_BLOCK_BEGIN "\n-A x\nCOMMIT\n";
	struct textbuf out = {0};
	size_t n;
	unsigned int line = 0;

	(void)state;
	assert_int_equal(ufw_text_strip(text, strlen(text), &out, &n, &line), UFW_TEXT_UNCLOSED);
	assert_int_equal(line, 3);
	free(out.p);
}

static void markers_must_be_whole_lines(void **state)
{
	/* a marker inside a longer line is the admin's text, kept */
	const char text[] = "x " UFW_BLOCK_BEGIN "\n" UFW_BLOCK_BEGIN " more\nend\n";
	struct textbuf out = {0};
	size_t n = 9;
	unsigned int line;

	(void)state;
	assert_int_equal(ufw_text_strip(text, strlen(text), &out, &n, &line), UFW_TEXT_OK);
	assert_int_equal(n, 0);
	assert_string_equal(out.p, text);
	free(out.p);
}

static void rules_without_filter_commit_are_refused(void **state)
{
	struct textbuf out = {0};
	const char *bad[] = {"", "*nat\nCOMMIT\n", "*filter\n-A x\n", "# *filter\nCOMMIT\n"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ufw_text_place_rules(bad[i], strlen(bad[i]), BLOCK, &out),
				 UFW_TEXT_NO_FILTER);
		free(out.p);
		memset(&out, 0, sizeof(out));
	}
}

static void a_commit_without_comment_above_gets_the_block_right_above(void **state)
{
	const char text[] = "*filter  \n-A a\nCOMMIT";
	char *got = place(text);

	(void)state;
	assert_string_equal(got, "*filter  \n-A a\n" BLOCK "COMMIT");
	free(got);
}

static void init_block_goes_after_the_shebang(void **state)
{
	struct textbuf out = {0};
	const char text[] = "#!/bin/sh\nset -e\ncase \"$1\" in\nesac\n";

	(void)state;
	assert_int_equal(ufw_text_place_init(text, strlen(text), BLOCK, &out), UFW_TEXT_OK);
	assert_string_equal(out.p, "#!/bin/sh\n" BLOCK "set -e\ncase \"$1\" in\nesac\n");
	free(out.p);
}

static void init_without_shebang_or_newline_or_text(void **state)
{
	struct textbuf out = {0};

	(void)state;
	assert_int_equal(ufw_text_place_init("echo hi\n", 8, BLOCK, &out), UFW_TEXT_OK);
	assert_string_equal(out.p, BLOCK "echo hi\n");
	free(out.p);
	memset(&out, 0, sizeof(out));
	assert_int_equal(ufw_text_place_init("#!/bin/sh", 9, BLOCK, &out), UFW_TEXT_OK);
	assert_string_equal(out.p, "#!/bin/sh\n" BLOCK);
	free(out.p);
	memset(&out, 0, sizeof(out));
	assert_int_equal(ufw_text_place_init("", 0, BLOCK, &out), UFW_TEXT_OK);
	assert_string_equal(out.p, "#!/bin/sh\n" BLOCK);
	free(out.p);
}

static void test_input_declares_only_ufws_chains_the_file_does_not(void **state)
{
	struct textbuf out = {0};
	unsigned int after = 0, added = 0;
	const char *filter;

	(void)state;
	assert_int_equal(ufw_text_test_input(admin_rules, strlen(admin_rules), false, &out, &after,
					     &added),
			 UFW_TEXT_OK);
	assert_int_equal(after, 5); /* "*filter" is line 5 */
	assert_int_equal(added, 32 - 2);
	filter = strstr(out.p, "*filter\n");
	assert_non_null(filter);
	assert_non_null(strstr(filter, ":ufw-logging-deny - [0:0]\n"));
	assert_non_null(strstr(filter, ":ufw-user-input - [0:0]\n"));
	/* declared by the file: once only */
	assert_null(strstr(strstr(out.p, ":ufw-before-input ") + 1, ":ufw-before-input "));
	assert_null(strstr(strstr(out.p, ":ufw-not-local ") + 1, ":ufw-not-local "));
	/* the *nat section above is untouched, the text below follows whole */
	assert_memory_equal(out.p, admin_rules, (size_t)(filter - out.p) + 8);
	assert_non_null(strstr(out.p, strstr(admin_rules, ":ufw-before-input")));
	free(out.p);
}

static void test_input_for_v6_uses_ufw6_chains(void **state)
{
	const char text[] = "*filter\n:ufw6-before-input - [0:0]\nCOMMIT\n";
	struct textbuf out = {0};
	unsigned int after, added;

	(void)state;
	assert_int_equal(ufw_text_test_input(text, strlen(text), true, &out, &after, &added),
			 UFW_TEXT_OK);
	assert_int_equal(added, 31);
	assert_non_null(strstr(out.p, ":ufw6-logging-deny - [0:0]\n"));
	assert_null(strstr(out.p, ":ufw-"));
	free(out.p);
}

static void block_rules_are_the_rule_lines_inside_our_blocks(void **state)
{
	const char text[] = "-A outside\n" UFW_BLOCK_BEGIN "\n# c\n-A one\n" UFW_BLOCK_END
			    "\n-A outside2\n" UFW_BLOCK_BEGIN "\n-A two\n" UFW_BLOCK_END "\n";
	struct textbuf out = {0};

	(void)state;
	assert_int_equal(ufw_text_block_rules(text, strlen(text), &out), UFW_TEXT_OK);
	assert_string_equal(out.p, "-A one\n-A two\n");
	free(out.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rules_block_goes_above_the_comment_over_filters_commit),
		cmocka_unit_test(strip_gives_back_every_byte_of_the_admins_file),
		cmocka_unit_test(placing_again_after_a_strip_is_byte_identical),
		cmocka_unit_test(strip_removes_every_copy_and_counts_them),
		cmocka_unit_test(strip_of_an_empty_text_is_an_empty_string),
		cmocka_unit_test(a_begin_marker_without_end_is_refused_with_its_line),
		cmocka_unit_test(markers_must_be_whole_lines),
		cmocka_unit_test(rules_without_filter_commit_are_refused),
		cmocka_unit_test(a_commit_without_comment_above_gets_the_block_right_above),
		cmocka_unit_test(init_block_goes_after_the_shebang),
		cmocka_unit_test(init_without_shebang_or_newline_or_text),
		cmocka_unit_test(test_input_declares_only_ufws_chains_the_file_does_not),
		cmocka_unit_test(test_input_for_v6_uses_ufw6_chains),
		cmocka_unit_test(block_rules_are_the_rule_lines_inside_our_blocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
