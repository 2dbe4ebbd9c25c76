// SPDX-License-Identifier: MIT
/* guard: the safety policy (special-purpose space, list floors, shrink and empty-family limits). */
#include "guard.h"

#include <string.h>

#include "catalog.h"
#include "cda_error.h"
#include "config.h"
#include "ranges.h"

/*
 * Special-purpose space (IANA IPv4/IPv6 special-purpose registries, RFC 6890 and later):
 * never a CDN's origin-facing address, so never allowed in, whatever --force says.
 */
static const char *const special_prefixes[] = {
	"0.0.0.0/8",	   /* "this network" */
	"10.0.0.0/8",	   /* RFC 1918 */
	"100.64.0.0/10",   /* shared address space (CGNAT) */
	"127.0.0.0/8",	   /* loopback */
	"169.254.0.0/16",  /* link-local */
	"172.16.0.0/12",   /* RFC 1918 */
	"192.0.0.0/24",	   /* IETF protocol assignments */
	"192.0.2.0/24",	   /* TEST-NET-1 */
	"192.88.99.0/24",  /* 6to4 relay anycast (deprecated) */
	"192.168.0.0/16",  /* RFC 1918 */
	"198.18.0.0/15",   /* benchmarking */
	"198.51.100.0/24", /* TEST-NET-2 */
	"203.0.113.0/24",  /* TEST-NET-3 */
	"224.0.0.0/4",	   /* multicast */
	"240.0.0.0/4",	   /* reserved, limited broadcast */
	"::/96",	   /* unspecified, loopback, IPv4-compatible */
	"::ffff:0:0/96",   /* IPv4-mapped */
	"64:ff9b::/96",	   /* NAT64 well-known prefix */
	"64:ff9b:1::/48",  /* NAT64 local use */
	"100::/64",	   /* discard-only */
	"2001::/23",	   /* IETF protocol assignments (Teredo, benchmarking, ORCHID) */
	"2001:db8::/32",   /* documentation */
	"2002::/16",	   /* 6to4 */
	"3fff::/20",	   /* documentation (RFC 9637) */
	"5f00::/16",	   /* SRv6 SIDs (RFC 9602) */
	"fc00::/7",	   /* unique local */
	"fe80::/10",	   /* link-local */
	"ff00::/8",	   /* multicast */
};

static struct ranges *special_ranges(void)
{
	struct ranges *r = ranges_new();

	if (r == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(special_prefixes) / sizeof(special_prefixes[0]); i++) {
		struct cidr c;

		if (cidr_parse(special_prefixes[i], strlen(special_prefixes[i]), &c, NULL) !=
			    CIDR_OK ||
		    ranges_add_cidr(r, &c) < 0) {
			ranges_free(r);
			return NULL;
		}
	}
	ranges_normalize(r);
	return r;
}

int guard_drop_special(struct ranges *r, struct cidr_list *dropped)
{
	struct ranges *sp = special_ranges(), *hit = NULL, *rest = NULL;
	int rc = -1;

	if (sp == NULL)
		return -1;
	ranges_normalize(r);
	if (ranges_intersect(r, sp, &hit) < 0)
		goto out;
	if (ranges_count4(hit) + ranges_count6(hit) == 0) {
		rc = 0;
		goto out;
	}
	if (dropped != NULL && ranges_to_cidrs(hit, dropped) < 0)
		goto out;
	if (ranges_subtract(r, sp, &rest) < 0)
		goto out;
	ranges_clear(r);
	if (ranges_add_all(r, rest) < 0)
		goto out;
	ranges_normalize(r);
	rc = 0;
out:
	ranges_free(sp);
	ranges_free(hit);
	ranges_free(rest);
	return rc;
}

void guard_policy_for(const struct target_config *tc, bool force, struct guard_policy *out)
{
	out->max_shrink = tc->max_shrink;
	out->force = force;
	out->locked = false;
	if (target_get(tc, "lock_ports") != NULL || target_get(tc, "lock_udp") != NULL) {
		/* a lock turns a wrong list into refused traffic: stricter defaults */
		if (target_get(tc, "max_shrink") == NULL &&
		    out->max_shrink > GUARD_LOCKED_MAX_SHRINK)
			out->max_shrink = GUARD_LOCKED_MAX_SHRINK;
		out->locked = true;
	}
}

int guard_check_list(size_t entries_v4, size_t entries_v6, const struct catalog_entry *ce,
		     struct cda_error *err)
{
	if (ce->need_v4 && entries_v4 == 0)
		return cda_error_set(err, CDA_EDATA,
				     "the list has no IPv4 entries (a family is missing)");
	if (ce->need_v6 && entries_v6 == 0)
		return cda_error_set(err, CDA_EDATA,
				     "the list has no IPv6 entries (a family is missing)");
	if (entries_v4 + entries_v6 == 0)
		return cda_error_set(err, CDA_EDATA, "empty list");
	if (entries_v4 < ce->min_v4 || entries_v6 < ce->min_v6)
		return cda_error_set(err, CDA_EDATA,
				     "only %zu IPv4 and %zu IPv6 entries, below the floor of %u "
				     "and %u for %s (truncated?)",
				     entries_v4, entries_v6, ce->min_v4, ce->min_v6, ce->name);
	return 0;
}

int guard_check_merged(const struct ranges *r, const struct catalog_entry *ce,
		       struct cda_error *err)
{
	return guard_check_list(ranges_cidr_count(r, CDA_AF_INET),
				ranges_cidr_count(r, CDA_AF_INET6), ce, err);
}

int guard_check_cached(const struct ranges *r, unsigned int broadest_v4,
		       unsigned int broadest_v6, const struct catalog_entry *ce,
		       struct cda_error *err)
{
	struct ranges *copy = ranges_dup(r);
	struct cidr_list dropped = {0}, all = {0};
	char buf[CIDR_STRLEN];
	int rc = -1;

	if (copy == NULL || guard_drop_special(copy, &dropped) < 0 ||
	    ranges_to_cidrs(r, &all) < 0) {
		cda_error_sys(err, CDA_ESYS, "checking a cached list");
		goto out;
	}
	for (size_t i = 0; i < all.n; i++) {
		unsigned int bound = all.v[i].family == CDA_AF_INET ? broadest_v4 : broadest_v6;

		if (bound != 0 && all.v[i].plen < bound) {
			cda_error_set(err, CDA_EDATA, "%s is broader than /%u, the broadest prefix "
				      "allowed now", cidr_format(&all.v[i], buf), bound);
			goto out;
		}
	}
	if (dropped.n != 0) {
		cda_error_set(err, CDA_EDATA, "it holds special-purpose space (%s)",
			      cidr_format(&dropped.v[0], buf));
		goto out;
	}
	rc = guard_check_merged(r, ce, err);
out:
	cidr_list_finish(&all);
	cidr_list_finish(&dropped);
	ranges_free(copy);
	return rc;
}

int guard_check_change(const struct guard_counts *c, const struct guard_policy *p,
		       struct cda_error *err)
{
	static const char *const fam[2] = {"IPv4", "IPv6"};

	for (int f = 0; f < 2; f++) {
		if (p->locked && c->have[f] != 0 && c->want[f] == 0)
			return cda_error_set(err, CDA_EGUARD,
					     "refusing to empty the %s list of a target with an "
					     "origin lock, even with --force: run 'cdnallow unlock' "
					     "first if this is really wanted",
					     fam[f]);
	}
	if (p->force)
		return 0;
	for (int f = 0; f < 2; f++) {
		if (c->have[f] == 0)
			continue; /* first run, or a family that never had entries */
		if (c->want[f] == 0)
			return cda_error_set(err, CDA_EGUARD,
					     "refusing to empty the %s list (%zu entries now); "
					     "use --force if this is really wanted",
					     fam[f], c->have[f]);
		/* removed/have > max_shrink, in integers-and-doubles without rounding surprises */
		if ((double)c->removed[f] > p->max_shrink * (double)c->have[f] + 1e-9)
			return cda_error_set(err, CDA_EGUARD,
					     "refusing to remove %zu of %zu %s entries (%.0f%%, "
					     "max_shrink is %.0f%%); use --force to apply",
					     c->removed[f], c->have[f], fam[f],
					     100.0 * (double)c->removed[f] / (double)c->have[f],
					     100.0 * p->max_shrink);
		if (c->lost_addrs[f] > p->max_shrink * c->have_addrs[f] * (1 + 1e-12))
			return cda_error_set(err, CDA_EGUARD,
					     "refusing to remove %.4g of %.4g %s addresses (%.0f%%, "
					     "max_shrink is %.0f%%); use --force to apply",
					     c->lost_addrs[f], c->have_addrs[f], fam[f],
					     100.0 * c->lost_addrs[f] / c->have_addrs[f],
					     100.0 * p->max_shrink);
	}
	return 0;
}
