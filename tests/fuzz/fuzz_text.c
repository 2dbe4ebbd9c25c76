// SPDX-License-Identifier: MIT
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cda_error.h"
#include "parse.h"
#include "ranges.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The same payload for a provider that publishes prefixes only: it passes exactly when the
 * plain parse passed (plain is NULL when it did not) with no bare address, and then with
 * the same counts; a refusal of a payload the plain parse took names the bare address.
 */
static void prefixes_only_agrees(const uint8_t *data, size_t size,
				 const struct parse_opts *plain_o,
				 const struct parse_info *plain)
{
	struct parse_opts o = *plain_o;
	struct ranges *r = ranges_new();
	struct parse_info info;
	struct cda_error err = {0};

	if (r == NULL)
		return;
	o.prefixes_only = true;
	if (parse_list((const char *)data, size, &o, r, &info, &err) == 0) {
		if (plain == NULL || info.entries != plain->entries ||
		    info.entries_v4 != plain->entries_v4)
			__builtin_trap();
	} else if (plain != NULL && err.code == CDA_EDATA &&
		   strstr(err.msg, "has no prefix length") == NULL) {
		__builtin_trap();
	}
	ranges_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct parse_opts o = {.format = FMT_TEXT, .broadest_v4 = 8, .broadest_v6 = 20};
	struct ranges *r = ranges_new();
	struct parse_info info;
	struct cda_error err = {0};
	struct cidr_list l = {0};

	if (r == NULL)
		return 0;
	if (parse_list((const char *)data, size, &o, r, &info, &err) == 0) {
		if (info.entries == 0 || info.entries != info.entries_v4 + info.entries_v6 ||
		    ranges_count4(r) != info.entries_v4 || ranges_count6(r) != info.entries_v6 ||
		    info.hostbits > info.entries)
			__builtin_trap();
		if (info.hostbits != 0 &&
		    (info.hostbits_line == 0 || info.hostbits_example[0] == 0))
			__builtin_trap();
		ranges_normalize(r);
		if (ranges_to_cidrs(r, &l) < 0)
			__builtin_trap();
		cidr_list_finish(&l);
	} else {
		/* Rejected: a data error with a message, and nothing left behind. */
		if ((err.code != CDA_EDATA && err.code != CDA_ESYS) || err.msg[0] == '\0' ||
		    memchr(err.msg, '\0', sizeof(err.msg)) == NULL ||
		    ranges_count4(r) + ranges_count6(r) != 0)
			__builtin_trap();
	}
	ranges_free(r);
	prefixes_only_agrees(data, size, &o, err.code == CDA_OK ? &info : NULL);
	return 0;
}
