/* SPDX-License-Identifier: MIT */
/* guard: the safety policy (special-purpose space, list floors, shrink and empty-family limits). */
#ifndef CDNALLOW_GUARD_H
#define CDNALLOW_GUARD_H

#include <stdbool.h>
#include <stddef.h>

struct catalog_entry;
struct cda_error;
struct cidr_list;
struct ranges;
struct target_config;

/* max_shrink of a target with an origin lock, unless the target sets its own */
#define GUARD_LOCKED_MAX_SHRINK 0.05

/* Safety policy for one target. */
struct guard_policy {
	double max_shrink; /* 0..1: share of a family's entries, and of its addresses, one
			      change may remove */
	bool force;	   /* --force: skip the shrink and empty-family guards only */
	bool locked;	   /* the target has an origin lock: emptying a family is refused
			      even with --force (the lock would refuse everyone) */
};

/* What one change does, per family: [0] IPv4, [1] IPv6. */
struct guard_counts {
	size_t have[2];	   /* entries (CIDRs) the target holds now */
	size_t want[2];	   /* entries it would hold */
	size_t removed[2]; /* entries of have not in want */
	double have_addrs[2]; /* addresses the target holds now */
	double lost_addrs[2]; /* of those, addresses it would no longer hold */
};

/*
 * The policy of one target: its max_shrink (the global value unless it sets its own) and
 * force. A target with an origin lock (lock_ports or lock_udp) is locked, and its max_shrink
 * is at most GUARD_LOCKED_MAX_SHRINK unless it sets max_shrink itself: a lock turns a wrong
 * list into refused traffic. Pure.
 */
void guard_policy_for(const struct target_config *tc, bool force, struct guard_policy *out);

/*
 * The list guards of one source, on the entries its payloads held (before merging), for
 * provider ce: refuse (-1, CDA_EDATA, no origin) a list missing a family ce always publishes,
 * an empty list, or one below ce's floor of entries per family (truncated?). Pure.
 */
int guard_check_list(size_t entries_v4, size_t entries_v6, const struct catalog_entry *ce,
		     struct cda_error *err);

/*
 * The same list guards on a list after special-purpose space was dropped and the rest
 * merged (normal r): its CIDRs are counted, so copies and overlaps count once and a list
 * of only private space has no family at all. Pure.
 */
int guard_check_merged(const struct ranges *r, const struct catalog_entry *ce,
		       struct cda_error *err);

/*
 * A list taken from the state dir (304, fallback, restore) against today's policy: no
 * special-purpose space, no prefix of its CIDR cover broader than broadest_v4/v6 (0: no
 * bound), and guard_check_merged. -1 (CDA_EDATA) names the first thing wrong. Pure.
 */
int guard_check_cached(const struct ranges *r, unsigned int broadest_v4,
		       unsigned int broadest_v6, const struct catalog_entry *ce,
		       struct cda_error *err);

/*
 * Drop special-purpose space (RFC 1918, loopback, link-local, CGNAT, multicast,
 * documentation, benchmarking, reserved, unspecified, IPv4-mapped/translated IPv6, ULA,
 * ...) from r (normal, stays normal). What was dropped is appended to dropped (may be
 * NULL). Never overridable by --force. Pure.
 */
int guard_drop_special(struct ranges *r, struct cidr_list *dropped);

/*
 * The change guards: refuse (-1, CDA_EGUARD, message with the figures) when a family that
 * has entries would become empty, or when more than max_shrink of a family's entries, or
 * of the addresses it covers, would be removed (a /12 split into a /13 and a /14 removes
 * one entry of fifteen but a quarter of the /12); all skipped with force. A first run
 * (have empty) always passes.
 */
int guard_check_change(const struct guard_counts *c, const struct guard_policy *p,
		       struct cda_error *err);

#endif
