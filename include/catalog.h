/* SPDX-License-Identifier: MIT */
/* catalog: built-in providers and the formats their lists come in. */
#ifndef CDNALLOW_CATALOG_H
#define CDNALLOW_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

/* Payload formats that parse_list() understands. */
enum list_format {
	FMT_TEXT,	    /* one address or prefix per line, '#' comments */
	FMT_CLOUDFLARE_API, /* {"result":{"ipv4_cidrs":[],"ipv6_cidrs":[],"etag"},"success"} */
	FMT_AWS,	    /* ip-ranges.json, filtered by service */
	FMT_FASTLY,	    /* {"addresses":[],"ipv6_addresses":[]} */
	FMT_GOOGLE,	    /* goog.json / cloud.json: prefixes[].ipv4Prefix|ipv6Prefix */
	FMT_BUNNY,	    /* JSON array of bare addresses */
	FMT_GCORE,	    /* {"addresses":[],"addresses_v6":[]} */
	FMT_IMPERVA,	    /* {"ipRanges":[],"ipv6Ranges":[],"res":0} */
	FMT_CDN77,	    /* {"updated_at","prefixes":[{"prefix"}]} */
	FMT_GITHUB,	    /* api.github.com/meta, arrays chosen by groups */
	FMT_AZURE,	    /* ServiceTags_Public: values[name==tag].properties.addressPrefixes */
	FMT_ORACLE,	    /* regions[].cidrs[].cidr */
	FMT_JSON_SELECT,    /* generic: select/where */
	FMT_SNAPSHOT,	    /* a fleet publisher's signed snapshot (fleet.h); not parse_list's */
};

/* A built-in provider. */
struct catalog_entry {
	const char *name;
	const char *description;
	const char *const *urls; /* NULL-terminated; empty for generic entries (url required) */
	enum list_format format;
	bool need_v4, need_v6;	 /* a missing expected family rejects the source */
	unsigned int min_v4, min_v6;	  /* floor of entries per family (before merging) */
	unsigned int broadest_v4, broadest_v6; /* shortest prefix length a sane list holds */
	const char *token_name;	 /* provider's change token ("etag", "syncToken", ...) or NULL */
	const char *const *keys; /* extra [source.*] keys it accepts (NULL-terminated) */
	const char *accept;	 /* Accept header to send, or NULL */
	bool prefixes_only;	 /* publishes prefixes only: a bare address (no /len) is a
				    damaged body (cut after an address) and rejects the source */
};

const struct catalog_entry *catalog_find(const char *name); /* NULL: unknown */
const struct catalog_entry *catalog_all(size_t *n);
const char *catalog_format_name(enum list_format f);

#endif
