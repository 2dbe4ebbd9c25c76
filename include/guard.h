/* SPDX-License-Identifier: MIT */
#ifndef CDNALLOW_GUARD_H
#define CDNALLOW_GUARD_H

#include <stdbool.h>
#include <stddef.h>

struct cda_error;
struct cidr_list;
struct ranges;

/* Safety policy for one target. */
struct guard_policy {
	double max_shrink; /* 0..1: share of a family's entries one change may remove */
	bool force;	   /* --force: skip the shrink and empty-family guards only */
	bool locked;	   /* the target has an origin lock: emptying a family is refused
			      even with --force (the lock would refuse everyone) */
};

/* Entry (CIDR) counts of one change, per family: [0] IPv4, [1] IPv6. */
struct guard_counts {
	size_t have[2];	   /* entries the target holds now */
	size_t want[2];	   /* entries it would hold */
	size_t removed[2]; /* entries of have not in want */
};

/*
 * Drop special-purpose space (RFC 1918, loopback, link-local, CGNAT, multicast,
 * documentation, benchmarking, reserved, unspecified, IPv4-mapped/translated IPv6, ULA,
 * ...) from r (normal, stays normal). What was dropped is appended to dropped (may be
 * NULL). Never overridable by --force. Pure.
 */
int guard_drop_special(struct ranges *r, struct cidr_list *dropped);

/*
 * The change guards: refuse (-1, CDA_EGUARD, message with the figures) when a family that
 * has entries would become empty, or when more than max_shrink of a family's entries
 * would be removed; both skipped with force. A first run (have empty) always passes.
 */
int guard_check_change(const struct guard_counts *c, const struct guard_policy *p,
		       struct cda_error *err);

#endif
