// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

static void put_finds_duplicates_per_tag(void **state)
{
	struct strmap m = {0};
	void *old = NULL;
	int a = 1, b = 2;

	(void)state;
	assert_null(strmap_get(&m, 0, "x", 1));
	assert_int_equal(strmap_put(&m, 0, "name", 4, &a, &old), 0);
	assert_int_equal(strmap_put(&m, 0, "name", 4, &b, &old), 1);
	assert_ptr_equal(old, &a);
	assert_ptr_equal(strmap_get(&m, 0, "name", 4), &a);
	/* another tag, another namespace; a prefix is another key */
	assert_int_equal(strmap_put(&m, 7, "name", 4, &b, NULL), 0);
	assert_ptr_equal(strmap_get(&m, 7, "name", 4), &b);
	assert_null(strmap_get(&m, 0, "nam", 3));
	/* bytes, not C strings: a NUL inside counts */
	assert_int_equal(strmap_put(&m, 0, "a\0b", 3, &a, NULL), 0);
	assert_null(strmap_get(&m, 0, "a", 1));
	assert_int_equal(m.n, 3);
	strmap_finish(&m);
	strmap_finish(&m); /* idempotent */
	assert_null(strmap_get(&m, 0, "name", 4));
}

static void many_keys_survive_growth(void **state)
{
	enum { N = 100000 };
	struct strmap m = {0};
	char(*keys)[16] = calloc(N, sizeof(*keys));

	(void)state;
	assert_non_null(keys);
	for (size_t i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		assert_int_equal(strmap_put(&m, i % 3, keys[i], strlen(keys[i]), keys[i], NULL), 0);
	}
	for (size_t i = 0; i < N; i++) {
		assert_ptr_equal(strmap_get(&m, i % 3, keys[i], strlen(keys[i])), keys[i]);
		assert_null(strmap_get(&m, i % 3 + 1, keys[i], strlen(keys[i])));
	}
	assert_int_equal(m.n, N);
	assert_true(m.cap >= 2 * N);
	strmap_finish(&m);
	free(keys);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(put_finds_duplicates_per_tag),
		cmocka_unit_test(many_keys_survive_growth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
