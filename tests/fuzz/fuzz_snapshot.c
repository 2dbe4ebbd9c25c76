// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cda_error.h"
#include "ranges.h"
#include "snapshot.h"
#include "textbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Two parsed snapshots hold the same things. */
static bool same(const struct snapshot *a, const struct snapshot *b)
{
	if (a->serial != b->serial || a->time != b->time || a->n != b->n ||
	    strcmp(a->publisher, b->publisher) != 0)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].name, b->v[i].name) != 0 ||
		    strcmp(a->v[i].token, b->v[i].token) != 0 ||
		    a->v[i].fetched != b->v[i].fetched ||
		    !ranges_equal(a->v[i].list, b->v[i].list))
			return false;
	return true;
}

/*
 * A refused document leaves the snapshot empty with a data error (or out of memory). One
 * taken has a serial, unique sources with normal lists, and formats to a document that
 * parses back to the same snapshot and formats to the same bytes again.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snapshot s, back = {0};
	struct cda_error err = {0};
	struct textbuf t1 = {0}, t2 = {0};

	if (snapshot_parse((const char *)data, size, &s, &err) < 0) {
		if ((err.code != CDA_EDATA && err.code != CDA_ESYS) || s.n != 0 || s.v != NULL)
			__builtin_trap();
		return 0;
	}
	if (s.serial == 0 || s.publisher[0] == '\0')
		__builtin_trap();
	for (size_t i = 0; i < s.n; i++)
		if (snapshot_find(&s, s.v[i].name) != &s.v[i] || !ranges_is_normal(s.v[i].list))
			__builtin_trap();
	snapshot_format(&s, &t1);
	if (t1.oom)
		goto out;
	if (snapshot_parse(t1.p, t1.len, &back, &err) < 0 || !same(&s, &back))
		__builtin_trap();
	snapshot_format(&back, &t2);
	if (!t2.oom && (t2.len != t1.len || memcmp(t1.p, t2.p, t1.len) != 0))
		__builtin_trap();
out:
	snapshot_finish(&s);
	snapshot_finish(&back);
	free(t1.p);
	free(t2.p);
	return 0;
}
