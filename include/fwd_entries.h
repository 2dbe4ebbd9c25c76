/* SPDX-License-Identifier: MIT */
/* Entry lists of firewalld hash:net ipsets (text to ranges and back, the ordered delta
 * between two lists) and the text of our rich rules. Pure: no I/O. */
#ifndef CDNALLOW_FWD_ENTRIES_H
#define CDNALLOW_FWD_ENTRIES_H

#include <stdbool.h>
#include <stddef.h>

struct ranges;

/* Entry lists are NULL-terminated string vectors (NULL means empty), as fwd_dbus.h uses. */
void fwd_strv_free(char **v); /* NULL-safe */
size_t fwd_strv_len(char *const *v);

/* The minimal CIDR cover of one family (CDA_AF_INET/CDA_AF_INET6) of r (normal), canonical
 * text, allocated into *out (free with fwd_strv_free()). -1 with errno ENOMEM. */
int fwd_entries_from_ranges(const struct ranges *r, int af, char ***out);

/* Append each entry (a prefix, an address, or a range "a-b", all of family af) to r.
 * -1 with errno ENOMEM; -2 when an entry is none of these, with *bad its index. */
int fwd_entries_to_ranges(char *const *v, int af, struct ranges *r, size_t *bad);

/* Whether a and b hold the same strings, in any order: 1 yes, 0 no, -1 ENOMEM. */
int fwd_entries_same(char *const *a, char *const *b);

/* One call of a runtime delta: remove or add one entry (borrowed from the input lists). */
struct fwd_op {
	const char *entry;
	bool add;
};

/*
 * The calls that turn have into want, ordered by address in groups of overlapping entries;
 * within a group the removals come first (firewalld refuses an entry that overlaps one it
 * holds), so only the addresses of a replaced entry are ever out of the set. Entries of
 * have and want must each be mutually disjoint. *ops is allocated (free()), *n may be 0.
 * -1 with errno ENOMEM; -2 when an entry cannot be read.
 */
int fwd_entries_delta(char *const *have, char *const *want, struct fwd_op **ops, size_t *n);

/* Our rich rule accepting the sources in ipset (family af) on one TCP port or range
 * ("443", "8000-8080"), in firewalld's canonical spelling (as --list-rich-rules shows it).
 * Allocated into *out. -1 with errno EINVAL (a bad port) or ENOMEM. */
int fwd_rich_rule(char **out, int af, const char *ipset, const char *port);

#endif
