// SPDX-License-Identifier: MIT
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cda_error.h"
#include "parse.h"
#include "ranges.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every JSON format, plus option variants that reach the filters and the selector. */
static const struct parse_opts variants[] = {
	{.format = FMT_CLOUDFLARE_API},
	{.format = FMT_CLOUDFLARE_API, .networks = "jdcloud", .broadest_v4 = 8, .broadest_v6 = 20},
	{.format = FMT_AWS},
	{.format = FMT_AWS, .services = "CLOUDFRONT AMAZON"},
	{.format = FMT_FASTLY},
	{.format = FMT_GOOGLE},
	{.format = FMT_BUNNY},
	{.format = FMT_GCORE},
	{.format = FMT_IMPERVA},
	{.format = FMT_CDN77},
	{.format = FMT_GITHUB},
	{.format = FMT_GITHUB, .services = "hooks web api"},
	{.format = FMT_AZURE},
	{.format = FMT_ORACLE},
	{.format = FMT_ORACLE, .services = "OCI"},
	{.format = FMT_JSON_SELECT,
	 .select = "prefixes[].ip_prefix",
	 .where = "service=CLOUDFRONT"},
	{.format = FMT_JSON_SELECT, .select = "[]"},
	{.format = FMT_JSON_SELECT, .select = "a.b[][].c", .where = "k=v|w"},
	{.format = FMT_JSON_SELECT,
	 .select = "values[].properties.addressPrefixes",
	 .where = "name=AzureFrontDoor.Backend"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i;

	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		struct ranges *r = ranges_new();
		struct parse_info info;
		struct cda_error err = {0};

		if (r == NULL)
			return 0;
		if (parse_list((const char *)data, size, &variants[i], r, &info, &err) == 0) {
			if (info.entries == 0 ||
			    info.entries != info.entries_v4 + info.entries_v6 ||
			    ranges_count4(r) != info.entries_v4 ||
			    ranges_count6(r) != info.entries_v6 ||
			    memchr(info.token, '\0', sizeof(info.token)) == NULL)
				__builtin_trap();
		} else if ((err.code != CDA_EDATA && err.code != CDA_ESYS) || err.msg[0] == '\0' ||
			   ranges_count4(r) + ranges_count6(r) != 0) {
			__builtin_trap();
		}
		ranges_free(r);
	}
	return 0;
}
