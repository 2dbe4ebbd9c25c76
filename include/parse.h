/* SPDX-License-Identifier: MIT */
/* parse: one payload (text list or provider JSON) into ranges. */
#ifndef CDNALLOW_PARSE_H
#define CDNALLOW_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "catalog.h"

struct cda_error;
struct ranges;

/* What to read from a payload. Strings are borrowed. */
struct parse_opts {
	enum list_format format;
	const char *services; /* AWS services / GitHub groups / Azure tag / Oracle tags:
				 space-separated; NULL = the format's default */
	const char *networks; /* Cloudflare API: "jdcloud" adds jdcloud_cidrs */
	const char *select;   /* FMT_JSON_SELECT: "prefixes[].ip_prefix" */
	const char *where;    /* FMT_JSON_SELECT: "service=CLOUDFRONT" (optional) */
	unsigned int broadest_v4; /* shorter prefixes reject the payload; 0 = no bound */
	unsigned int broadest_v6;
	bool prefixes_only; /* a bare address (no /len) rejects the payload (catalog_entry) */
};

/* What the parser saw besides the ranges. */
struct parse_info {
	size_t entries;		   /* addresses/prefixes read (before merging) */
	size_t entries_v4, entries_v6;
	unsigned int hostbits;	   /* entries whose host bits were cleared */
	unsigned int hostbits_line; /* first such line (text) or entry index + 1 (JSON) */
	char hostbits_example[64];  /* that entry as given */
	char token[128];	    /* provider change token, "" if none */
};

/*
 * Parse buf[0..len) (not NUL-terminated) into out (items appended, not normalised).
 * Strict: any line or element that is not a valid address or prefix rejects the whole
 * payload, CDA_EDATA with err->line set (text: the line; JSON: the line of the offending
 * byte when known) and a message quoting the bad token. An HTML body, an empty body, a
 * JSON envelope reporting failure or missing its lists are CDA_EDATA too. Host bits are
 * cleared and counted in info. Pure: no I/O, no logging.
 */
int parse_list(const char *buf, size_t len, const struct parse_opts *o, struct ranges *out,
	       struct parse_info *info, struct cda_error *err);

/*
 * Whether o's options are well-formed for its format, before any payload: select and where
 * (json), networks (cloudflare-api), the length of each name (groups, tag). CDA_ECONFIG
 * "key: why" with *key the source key at fault; 0 when fine. Pure.
 */
int parse_check_opts(const struct parse_opts *o, const char **key, struct cda_error *err);

#endif
