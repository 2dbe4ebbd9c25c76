// SPDX-License-Identifier: MIT
/* catalog: the built-in providers, one table row each (URLs, format, families, bounds). */
#include "catalog.h"

#include <string.h>

/*
 * Bounds come from the saved real lists (tests/data/SOURCES.md) with a wide margin: the
 * broadest prefix any provider has published is a /10 (Google) and a /28 (Google v6), so
 * /8 and /20 never refuse a real list but do refuse 0.0.0.0/0, ::/0 and similar poison.
 * Floors are about a third to a half of today's per-family count: far below normal churn,
 * far above an empty or truncated body.
 */

static const char *const none[] = {NULL};

static const char *const cloudflare_urls[] = {
	"https://www.cloudflare.com/ips-v4",
	"https://www.cloudflare.com/ips-v6",
	NULL,
};
static const char *const cloudflare_api_urls[] = {
	"https://api.cloudflare.com/client/v4/ips",
	NULL,
};
static const char *const cloudflare_api_keys[] = {"networks", NULL};

static const char *const aws_urls[] = {
	"https://ip-ranges.amazonaws.com/ip-ranges.json",
	NULL,
};
static const char *const aws_keys[] = {"services", NULL};

static const char *const fastly_urls[] = {
	"https://api.fastly.com/public-ip-list",
	NULL,
};
static const char *const bunny_urls[] = {
	"https://bunnycdn.com/api/system/edgeserverlist",
	"https://bunnycdn.com/api/system/edgeserverlist/IPv6",
	NULL,
};
static const char *const gcore_urls[] = {
	"https://api.gcore.com/cdn/public-ip-list",
	NULL,
};
static const char *const imperva_urls[] = {
	"https://my.imperva.com/api/integration/v1/ips",
	NULL,
};
static const char *const cdn77_urls[] = {
	"https://prefixlists.tools.cdn77.com/public_lmax_prefixes.json",
	NULL,
};
static const char *const github_urls[] = {
	"https://api.github.com/meta",
	NULL,
};
static const char *const github_keys[] = {"groups", NULL};
static const char *const google_urls[] = {
	"https://www.gstatic.com/ipranges/goog.json",
	NULL,
};
static const char *const azure_keys[] = {"tag", NULL};
static const char *const oracle_urls[] = {
	"https://docs.oracle.com/en-us/iaas/tools/public_ip_ranges.json",
	NULL,
};
static const char *const oracle_keys[] = {"tags", NULL};
static const char *const json_keys[] = {"select", "where", NULL};
static const char *const snapshot_keys[] = {"public_key", "max_age", "sources", NULL};

#define JSON_ACCEPT "application/json"

static const struct catalog_entry entries[] = {
	{
		.name = "cloudflare",
		.description = "Cloudflare edge ranges, text lists ips-v4 and ips-v6 "
			       "(no trailing newline; sometimes a challenge page)",
		.urls = cloudflare_urls,
		.format = FMT_TEXT,
		.need_v4 = true,
		.need_v6 = true,
		.min_v4 = 10,
		.min_v6 = 5,
		.broadest_v4 = 8,
		.broadest_v6 = 20,
		.keys = none,
		.prefixes_only = true,
	},
	{
		.name = "cloudflare-api",
		.description = "Cloudflare edge ranges from the v4 API (JSON envelope, etag); "
			       "networks = jdcloud adds the China Network ranges",
		.urls = cloudflare_api_urls,
		.format = FMT_CLOUDFLARE_API,
		.need_v4 = true,
		.need_v6 = true,
		.min_v4 = 10,
		.min_v6 = 5,
		.broadest_v4 = 8,
		.broadest_v6 = 20,
		.token_name = "etag",
		.keys = cloudflare_api_keys,
		.accept = JSON_ACCEPT,
		.prefixes_only = true,
	},
	{
		.name = "aws-cloudfront",
		.description = "Amazon CloudFront from ip-ranges.json; services (space-separated) "
			       "default CLOUDFRONT_ORIGIN_FACING",
		.urls = aws_urls,
		.format = FMT_AWS,
		/* CLOUDFRONT_ORIGIN_FACING had no IPv6 prefix before 2022. */
		.need_v4 = true,
		.need_v6 = false,
		.min_v4 = 20,
		.min_v6 = 0,
		.broadest_v4 = 8,
		.broadest_v6 = 20,
		.token_name = "syncToken",
		.keys = aws_keys,
		.accept = JSON_ACCEPT,
		.prefixes_only = true,
	},
	{
		.name = "fastly",
		.description = "Fastly public-ip-list (addresses, ipv6_addresses)",
		.urls = fastly_urls,
		.format = FMT_FASTLY,
		.need_v4 = true,
		.need_v6 = true,
		.min_v4 = 10,
		.min_v6 = 1,
		.broadest_v4 = 8,
		.broadest_v6 = 20,
		.keys = none,
		.accept = JSON_ACCEPT,
		.prefixes_only = true,
	},
	{
		.name = "bunny",
		.description = "Bunny CDN edge servers, JSON arrays of single addresses, one URL "
			       "per family (changes daily)",
		.urls = bunny_urls,
		.format = FMT_BUNNY,
		.need_v4 = true,
		.need_v6 = true,
		.min_v4 = 200,
		.min_v6 = 100,
		.broadest_v4 = 8,
		.broadest_v6 = 20,
		.keys = none,
		/* Without it the endpoint is reported to answer XML. */
		.accept = JSON_ACCEPT,
	},
	{
		.name = "gcore",
		.description = "Gcore CDN public-ip-list (edge host addresses; public-net-list "
			       "with subnets can be set as url, same format)",
		.urls = gcore_urls,
		.format = FMT_GCORE,
		.need_v4 = true,
		.need_v6 = true,
		.min_v4 = 100,
		.min_v6 = 100,
		.broadest_v4 = 8,
		.broadest_v6 = 20,
		.keys = none,
		.accept = JSON_ACCEPT,
		.prefixes_only = true,
	},
	{
		.name = "imperva",
		.description = "Imperva (Incapsula) ranges (ipRanges, ipv6Ranges, res == 0); "
			       "documented as POST resp_format=json, a GET returns the same JSON",
		.urls = imperva_urls,
		.format = FMT_IMPERVA,
		.need_v4 = true,
		.need_v6 = true,
		.min_v4 = 5,
		.min_v6 = 1,
		.broadest_v4 = 8,
		.broadest_v6 = 20,
		.keys = none,
		.accept = JSON_ACCEPT,
		.prefixes_only = true,
	},
	{
		.name = "cdn77",
		.description = "CDN77 prefix list (prefixes[].prefix, IPv4 only today)",
		.urls = cdn77_urls,
		.format = FMT_CDN77,
		.need_v4 = true,
		.need_v6 = false,
		.min_v4 = 10,
		.min_v6 = 0,
		.broadest_v4 = 8,
		.broadest_v6 = 20,
		.token_name = "updated_at",
		.keys = none,
		.accept = JSON_ACCEPT,
		.prefixes_only = true,
	},
	{
		.name = "github",
		.description = "GitHub meta API; groups (space-separated) default hooks "
			       "(webhook sources); 60 unauthenticated requests per hour",
		.urls = github_urls,
		.format = FMT_GITHUB,
		.need_v4 = true,
		.need_v6 = false,
		.min_v4 = 2,
		.min_v6 = 0,
		.broadest_v4 = 8,
		.broadest_v6 = 20,
		.keys = github_keys,
		.accept = JSON_ACCEPT,
		.prefixes_only = true,
	},
	{
		.name = "google",
		.description = "Google (all services) goog.json",
		.urls = google_urls,
		.format = FMT_GOOGLE,
		.need_v4 = true,
		.need_v6 = true,
		.min_v4 = 30,
		.min_v6 = 5,
		.broadest_v4 = 8,
		.broadest_v6 = 20,
		.token_name = "syncToken",
		.keys = none,
		.accept = JSON_ACCEPT,
		.prefixes_only = true,
	},
	{
		.name = "azure-frontdoor",
		.description = "Azure Front Door from a ServiceTags_Public JSON; url required "
			       "(the download link changes weekly); tag default "
			       "AzureFrontDoor.Backend",
		.urls = none,
		.format = FMT_AZURE,
		.need_v4 = true,
		.need_v6 = true,
		.min_v4 = 20,
		.min_v6 = 20,
		.broadest_v4 = 8,
		.broadest_v6 = 20,
		.token_name = "changeNumber",
		.keys = azure_keys,
		.accept = JSON_ACCEPT,
		.prefixes_only = true,
	},
	{
		.name = "akamai",
		.description = "Akamai origin ACL CIDRs as text; url required: Akamai publishes "
			       "them only inside a ZIP (akamai_ipv4_ipv6_CIDRs-txt.zip), which "
			       "cannot be fetched as a list; point url at unpacked copies",
		.urls = none,
		.format = FMT_TEXT,
		.need_v4 = true,
		.need_v6 = true,
		.min_v4 = 3,
		.min_v6 = 1,
		.broadest_v4 = 8,
		.broadest_v6 = 20,
		.keys = none,
		.prefixes_only = true,
	},
	{
		.name = "oracle",
		.description =
			"Oracle Cloud public_ip_ranges.json (regions[].cidrs[].cidr); "
			"tags (space-separated: OCI OSN OBJECT_STORAGE) filters, default all",
		.urls = oracle_urls,
		.format = FMT_ORACLE,
		.need_v4 = true,
		.need_v6 = false,
		.min_v4 = 100,
		.min_v6 = 0,
		.broadest_v4 = 8,
		.broadest_v6 = 20,
		.token_name = "last_updated_timestamp",
		.keys = oracle_keys,
		.accept = JSON_ACCEPT,
		.prefixes_only = true,
	},
	{
		.name = "text",
		.description = "any text list, one address or prefix per line, # comments; "
			       "url required",
		.urls = none,
		.format = FMT_TEXT,
		.min_v4 = 0,
		.min_v6 = 0,
		.broadest_v4 = 8,
		.broadest_v6 = 16,
		.keys = none,
	},
	{
		.name = "json",
		.description = "any JSON document; url and select required "
			       "(select = a.b[].c, where = key=value)",
		.urls = none,
		.format = FMT_JSON_SELECT,
		.min_v4 = 0,
		.min_v6 = 0,
		.broadest_v4 = 8,
		.broadest_v6 = 16,
		.keys = json_keys,
		.accept = JSON_ACCEPT,
	},
	{
		.name = "snapshot",
		.description = "a fleet publisher's signed snapshot (cdnallow publish); url "
			       "(its mirrors' pointer files, tried in order) and public_key required",
		.urls = none,
		.format = FMT_SNAPSHOT,
		.min_v4 = 0,
		.min_v6 = 0,
		.broadest_v4 = 8,
		.broadest_v6 = 16,
		.keys = snapshot_keys,
	},
};

#define N_ENTRIES (sizeof(entries) / sizeof(entries[0]))

const struct catalog_entry *catalog_find(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < N_ENTRIES; i++) {
		if (strcmp(entries[i].name, name) == 0)
			return &entries[i];
	}
	return NULL;
}

const struct catalog_entry *catalog_all(size_t *n)
{
	if (n != NULL)
		*n = N_ENTRIES;
	return entries;
}

const char *catalog_format_name(enum list_format f)
{
	switch (f) {
	case FMT_TEXT:
		return "text";
	case FMT_CLOUDFLARE_API:
		return "cloudflare-api";
	case FMT_AWS:
		return "aws";
	case FMT_FASTLY:
		return "fastly";
	case FMT_GOOGLE:
		return "google";
	case FMT_BUNNY:
		return "bunny";
	case FMT_GCORE:
		return "gcore";
	case FMT_IMPERVA:
		return "imperva";
	case FMT_CDN77:
		return "cdn77";
	case FMT_GITHUB:
		return "github";
	case FMT_AZURE:
		return "azure";
	case FMT_ORACLE:
		return "oracle";
	case FMT_JSON_SELECT:
		return "json";
	case FMT_SNAPSHOT:
		return "snapshot";
	}
	return "unknown";
}
