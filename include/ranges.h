/* SPDX-License-Identifier: MIT */
/* ranges: IPv4/IPv6 prefixes and interval sets, their cover and diff. */
#ifndef CDNALLOW_RANGES_H
#define CDNALLOW_RANGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

__extension__ typedef unsigned __int128 cda_u128;

#define CDA_AF_INET 4
#define CDA_AF_INET6 6
/* Longest canonical CIDR text ("ffff:...:ffff/128") plus NUL. */
#define CIDR_STRLEN 52

/* Inclusive address intervals. IPv4 addresses are host-order uint32_t. */
struct range4 {
	uint32_t lo, hi;
};
struct range6 {
	cda_u128 lo, hi;
};

/* One prefix. For IPv4 the address is in the low 32 bits of addr. */
struct cidr {
	cda_u128 addr;
	uint8_t family; /* CDA_AF_INET or CDA_AF_INET6 */
	uint8_t plen;
};

/* Result of parsing one token. */
enum cidr_parse_result {
	CIDR_OK = 0,
	CIDR_HOSTBITS,	/* valid, but host bits were set: addr has them cleared */
	CIDR_INVALID,	/* not an address or prefix */
};

/* Parse "a.b.c.d[/n]" or an IPv6 address with optional "/n" from s[0..len). Strict: no
 * whitespace, no leading zeros in IPv4 octets, no zone ids, prefix length in range and
 * without leading zeros. A bare address is a /32 or /128. *bare is set when no "/n" was
 * given (may be NULL). Pure; never allocates. */
enum cidr_parse_result cidr_parse(const char *s, size_t len, struct cidr *out, bool *bare);
/* Canonical text (RFC 5952 for IPv6) into buf[CIDR_STRLEN]; returns buf. */
char *cidr_format(const struct cidr *c, char *buf);
/* Dotted quad of a host-order IPv4 address into buf (at least 16 bytes), NUL-terminated;
 * returns the length. No stdio: on the hot path of state files and reports. */
size_t ipv4_format(uint32_t a, char *buf);
/* IPv6 address text (RFC 5952) into buf (at least 46 bytes); returns the length. */
size_t ipv6_format(cda_u128 a, char *buf);
/* First and last address of a prefix. */
void cidr_bounds(const struct cidr *c, cda_u128 *lo, cda_u128 *hi);
/* Total order: family, then address, then prefix length. */
int cidr_cmp(const struct cidr *a, const struct cidr *b);

/*
 * A set of address intervals, IPv4 and IPv6 kept apart. Opaque.
 * Items are appended in any order; ranges_normalize() sorts and merges overlapping and
 * adjacent items (the canonical form). ranges_sort() only sorts, keeping items as given
 * (what a backend holds: nft elements must be deleted exactly as the kernel has them).
 */
struct ranges;

struct ranges *ranges_new(void);
void ranges_free(struct ranges *r); /* NULL-safe */
struct ranges *ranges_dup(const struct ranges *r); /* NULL on ENOMEM */
void ranges_clear(struct ranges *r);
/* Make room for n more items per family (avoids reallocs on a known-size load). */
int ranges_reserve(struct ranges *r, size_t n4, size_t n6);

/* Append one interval / prefix. -1 with errno ENOMEM; EINVAL if lo > hi. */
int ranges_add4(struct ranges *r, uint32_t lo, uint32_t hi);
int ranges_add6(struct ranges *r, cda_u128 lo, cda_u128 hi);
int ranges_add_cidr(struct ranges *r, const struct cidr *c);
/* Append every item of src (both families). */
int ranges_add_all(struct ranges *r, const struct ranges *src);

/* Sort by lo (then hi); keeps duplicates and overlaps. */
void ranges_sort(struct ranges *r);
/* Sort and merge overlapping and adjacent items: the canonical, minimal interval form. */
void ranges_normalize(struct ranges *r);
/* True after ranges_normalize() and no append since. */
bool ranges_is_normal(const struct ranges *r);
/* Whether ranges_normalize would leave r as it is (sorted, no overlap, no adjacency): no copy. */
bool ranges_already_normal(const struct ranges *r);

size_t ranges_count4(const struct ranges *r);
size_t ranges_count6(const struct ranges *r);
/* Borrowed arrays of count items (NULL when empty); valid until the next change. */
const struct range4 *ranges_v4(const struct ranges *r);
const struct range6 *ranges_v6(const struct ranges *r);

/* Same items in the same order (both families). */
bool ranges_equal(const struct ranges *a, const struct ranges *b);
/* Same address coverage, whatever the item layout (neither needs to be normal). */
int ranges_same_cover(const struct ranges *a, const struct ranges *b, bool *same);

/* Items of a (sorted, non-overlapping) not present as identical items in b, into *only_a
 * and vice versa: the element-exact delta of two sets of intervals. Linear merge-walk.
 * Ownership moves on success only. */
int ranges_diff_items(const struct ranges *a, const struct ranges *b, struct ranges **only_a,
		      struct ranges **only_b);
/* Address-level subtraction: out = a minus b (a, b normal). */
int ranges_subtract(const struct ranges *a, const struct ranges *b, struct ranges **out);
/* Address-level intersection: out = a and b (a, b normal). */
int ranges_intersect(const struct ranges *a, const struct ranges *b, struct ranges **out);
/* True when addr (family fam) lies in r (r sorted). Binary search. */
bool ranges_contains(const struct ranges *r, int fam, cda_u128 addr);

/* A list of prefixes (minimal CIDR cover of a normal ranges), sorted by cidr_cmp. */
struct cidr_list {
	struct cidr *v;
	size_t n, cap;
};
/* Minimal CIDR cover of r (both families, v4 first); r must be sorted and non-overlapping.
 * Appends to out. */
int ranges_to_cidrs(const struct ranges *r, struct cidr_list *out);
/* Addresses covered by one family of r (sorted, non-overlapping), as a double: IPv6 counts
 * reach 2^128. */
double ranges_addresses(const struct ranges *r, int fam);
/* Number of prefixes in the minimal cover of one family, without building it. */
size_t ranges_cidr_count(const struct ranges *r, int fam);
int cidr_list_push(struct cidr_list *l, const struct cidr *c);
void cidr_list_finish(struct cidr_list *l); /* frees, zeroes; idempotent */
/* Prefixes in b and not a (added), in a and not b (removed); both sorted. */
int cidr_list_diff(const struct cidr_list *a, const struct cidr_list *b, struct cidr_list *added,
		   struct cidr_list *removed);

#endif
