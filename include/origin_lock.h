/* SPDX-License-Identifier: MIT */
/* The origin lock's parts both firewall backends share: keys, port lists, hash, one line. */
#ifndef CDNALLOW_ORIGIN_LOCK_H
#define CDNALLOW_ORIGIN_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct cda_error;
struct cidr;
struct target_config;

/*
 * The origin lock drops new connections to the locked ports from every source outside the
 * synced sets (nftables: base chains in cdnallow's table; iptables: chains jumped to first).
 * Each of its rules carries this comment: HASH covers what the rules depend on, N is the
 * rule's number from 1, so a changed or partial lock shows as drift.
 */
#define ORIGIN_LOCK_COMMENT "cdnallow lock %08x #%zu"
#define ORIGIN_LOCK_MAX_ALLOW 64 /* lock_allow entries */

enum origin_lock_fwd { ORIGIN_LOCK_FWD_AUTO, ORIGIN_LOCK_FWD_YES, ORIGIN_LOCK_FWD_NO };

struct origin_lock_port {
	uint16_t lo, hi; /* host order, lo <= hi */
};

/* The first of lock_ports, lock_udp, lock_forward and lock_allow the target sets, or NULL. */
const char *origin_lock_first_key(const struct target_config *tc);
/* "80 443,8000:8080": ports 1..65535 and ranges (also "8000-8080" when dash) separated by
 * blanks or commas, into out in the order given. -1 when bad, empty or over max items. */
int origin_lock_parse_ports(const char *v, bool dash, struct origin_lock_port *out, size_t max,
			    size_t *n);
/* "80,443,8000-8080" (sep between a range's ends) into buf, truncated to size. */
void origin_lock_ports_text(char *buf, size_t size, const struct origin_lock_port *p, size_t n,
			    char sep);
/* For iptables' multiport match: "80 443,8000:8080" -> "80,443,8000:8080" (re-printed
 * canonically; dash: 8000-8080 too), at most 15 with a range counting twice, malloc'd into
 * *out. -1 when bad or too many. */
int origin_lock_multiport(const char *s, bool dash, char **out);
/* lock_forward: auto (also when unset), yes or no. -1: CDA_ECONFIG at the key. */
int origin_lock_parse_forward(const struct target_config *tc, enum origin_lock_fwd *out,
			      struct cda_error *err);
/* lock_allow: 1 to ORIGIN_LOCK_MAX_ALLOW addresses or prefixes into *out (the caller frees
 * it, on failure too); *n stays 0 when unset. v4, v6: the target syncs that family (an entry
 * of another is refused). -1: CDA_ECONFIG at the key, or CDA_ESYS. */
int origin_lock_parse_allow(const struct target_config *tc, bool v4, bool v6, struct cidr **out,
			    size_t *n, struct cda_error *err);

/* How the lock stands, for its one line. */
struct origin_lock_state {
	bool configured;       /* lock_ports or lock_udp set */
	bool present;          /* some lock chain exists (said when not configured) */
	const char *tcp, *udp; /* the port lists as text, NULL: none */
	bool forward;          /* also on forward */
	const char *set_kind;  /* "set", "ipset" */
	const char *empty_set; /* a synced set that is empty, which withholds the lock; NULL */
	bool missing, differs; /* a wanted chain or jump missing; something not as configured */
};
/* "tcp 80,443 udp 443 on input+forward", then ": withheld while set NAME is empty",
 * ": missing" or ": differs from the configuration"; unconfigured: "lock chains present but
 * not configured" or "". Truncated to size. */
void origin_lock_describe(char *buf, size_t size, const struct origin_lock_state *s);

/* FNV-1a, for the hash in ORIGIN_LOCK_COMMENT. */
#define ORIGIN_LOCK_HASH_INIT 2166136261u
static inline uint32_t origin_lock_hash(uint32_t h, const void *data, size_t len)
{
	const uint8_t *c = data;

	for (size_t i = 0; i < len; i++)
		h = (h ^ c[i]) * 16777619u;
	return h;
}

/* A string with its NUL; NULL hashes as "". */
static inline uint32_t origin_lock_hash_str(uint32_t h, const char *s)
{
	return origin_lock_hash(h, s != NULL ? s : "", s != NULL ? strlen(s) + 1 : 1);
}

#endif
