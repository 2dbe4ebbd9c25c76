// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "catalog.h"

/* Entries without a fixed URL: the operator must give url. */
static bool url_required(const char *name)
{
	static const char *const names[] = {"azure-frontdoor", "akamai", "text", "json",
						   "snapshot"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(names[i], name) == 0)
			return true;
	}
	return false;
}

static void every_entry_has_name_format_and_urls_or_requires_url(void **state)
{
	size_t n, i, j;
	const struct catalog_entry *all = catalog_all(&n);

	assert_non_null(all);
	assert_true(n >= 15);
	for (i = 0; i < n; i++) {
		const struct catalog_entry *e = &all[i];

		assert_non_null(e->name);
		assert_true(strlen(e->name) > 0);
		assert_non_null(e->description);
		assert_string_not_equal(catalog_format_name(e->format), "unknown");
		assert_non_null(e->urls);
		assert_non_null(e->keys);
		if (url_required(e->name)) {
			assert_null(e->urls[0]);
		} else {
			assert_non_null(e->urls[0]);
		}
		for (j = 0; e->urls[j] != NULL; j++)
			assert_int_equal(strncmp(e->urls[j], "https://", 8), 0);
		assert_true(e->broadest_v4 >= 1 && e->broadest_v4 <= 32);
		assert_true(e->broadest_v6 >= 1 && e->broadest_v6 <= 128);
		/* A needed family has a floor; an unneeded one has none. */
		if (e->need_v4)
			assert_true(e->min_v4 >= 1);
		if (!e->need_v6)
			assert_int_equal(e->min_v6, 0);
	}
}

static void names_are_unique(void **state)
{
	size_t n, i, j;
	const struct catalog_entry *all = catalog_all(&n);

	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n; j++)
			assert_string_not_equal(all[i].name, all[j].name);
	}
}

static void find_returns_each_entry_by_name(void **state)
{
	size_t n, i;
	const struct catalog_entry *all = catalog_all(&n);

	for (i = 0; i < n; i++)
		assert_ptr_equal(catalog_find(all[i].name), &all[i]);
}

static void unknown_or_null_names_are_not_found(void **state)
{
	assert_null(catalog_find("nosuchcdn"));
	assert_null(catalog_find(""));
	assert_null(catalog_find("Cloudflare"));
	assert_null(catalog_find(NULL));
}

static void cloudflare_needs_both_text_lists(void **state)
{
	const struct catalog_entry *e = catalog_find("cloudflare");

	assert_non_null(e);
	assert_int_equal(e->format, FMT_TEXT);
	assert_string_equal(e->urls[0], "https://www.cloudflare.com/ips-v4");
	assert_string_equal(e->urls[1], "https://www.cloudflare.com/ips-v6");
	assert_null(e->urls[2]);
	assert_true(e->need_v4 && e->need_v6);
	assert_int_equal(e->min_v4, 10);
	assert_int_equal(e->min_v6, 5);
	/* Real lists: broadest /12 (2015) and /29; the bounds leave a margin. */
	assert_true(e->broadest_v4 <= 12 && e->broadest_v6 <= 29);
}

static void json_entries_name_their_tokens_and_keys(void **state)
{
	static const struct {
		const char *name, *token, *key;
		enum list_format fmt;
	} want[] = {
		{"cloudflare-api", "etag", "networks", FMT_CLOUDFLARE_API},
		{"aws-cloudfront", "syncToken", "services", FMT_AWS},
		{"google", "syncToken", NULL, FMT_GOOGLE},
		{"cdn77", "updated_at", NULL, FMT_CDN77},
		{"azure-frontdoor", "changeNumber", "tag", FMT_AZURE},
		{"github", NULL, "groups", FMT_GITHUB},
		{"oracle", "last_updated_timestamp", "tags", FMT_ORACLE},
		{"json", NULL, "where", FMT_JSON_SELECT},
		{"fastly", NULL, NULL, FMT_FASTLY},
		{"gcore", NULL, NULL, FMT_GCORE},
		{"imperva", NULL, NULL, FMT_IMPERVA},
	};
	size_t i, j;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct catalog_entry *e = catalog_find(want[i].name);
		bool found = want[i].key == NULL;

		assert_non_null(e);
		assert_int_equal(e->format, want[i].fmt);
		if (want[i].token == NULL)
			assert_null(e->token_name);
		else
			assert_string_equal(e->token_name, want[i].token);
		for (j = 0; want[i].key != NULL && e->keys[j] != NULL; j++)
			found = found || strcmp(e->keys[j], want[i].key) == 0;
		assert_true(found);
	}
}

static void bunny_asks_for_json_from_both_urls(void **state)
{
	const struct catalog_entry *e = catalog_find("bunny");

	assert_non_null(e);
	assert_int_equal(e->format, FMT_BUNNY);
	assert_non_null(e->urls[1]);
	assert_null(e->urls[2]);
	assert_string_equal(e->accept, "application/json");
}

static void format_names_are_distinct(void **state)
{
	enum list_format f, g;

	for (f = FMT_TEXT; f <= FMT_JSON_SELECT; f++) {
		assert_string_not_equal(catalog_format_name(f), "unknown");
		for (g = f + 1; g <= FMT_JSON_SELECT; g++)
			assert_string_not_equal(catalog_format_name(f), catalog_format_name(g));
	}
	assert_string_equal(catalog_format_name(FMT_TEXT), "text");
	assert_string_equal(catalog_format_name((enum list_format)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_entry_has_name_format_and_urls_or_requires_url),
		cmocka_unit_test(names_are_unique),
		cmocka_unit_test(find_returns_each_entry_by_name),
		cmocka_unit_test(unknown_or_null_names_are_not_found),
		cmocka_unit_test(cloudflare_needs_both_text_lists),
		cmocka_unit_test(json_entries_name_their_tokens_and_keys),
		cmocka_unit_test(bunny_asks_for_json_from_both_urls),
		cmocka_unit_test(format_names_are_distinct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
