/* SPDX-License-Identifier: MIT */
/* What doctor's checks share: the run's context, findings, range helpers, each check's entry. */
#ifndef CDNALLOW_DOCTOR_CHECKS_H
#define CDNALLOW_DOCTOR_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "doctor.h"
#include "ranges.h"

struct config;
struct nft_model;
struct state;
struct target_config;

#define SAMPLES 3    /* addresses quoted per finding */
#define MAX_DEPTH 16 /* jump nesting followed */

/* One of our nftables sets, from a target's config. */
struct own_set {
	const char *target;
	char table[256], name[256];
	int fam;          /* CDA_AF_INET or CDA_AF_INET6 */
	uint32_t nfproto; /* table family */
};

/* A ban list entry found outside the firewall's rules. */
struct ban {
	char where[300]; /* "Fail2Ban jail sshd", "/etc/csf/csf.deny", "ipset blocklist" */
	struct cidr c;
};

/* One doctor run; doctor_run() owns everything in it. */
struct ctx {
	const struct doctor_opts *o;
	const struct config *cfg;
	struct doctor_report *rep;
	struct cda_error *err;
	struct state *st; /* NULL when the state dir could not be opened */
	uint16_t ports[64]; /* --port, else the targets' ports and lock_ports, else 80 443 */
	size_t n_ports;
	bool ports_default; /* nothing named a port: 80 and 443 */
	bool port_ruled[64]; /* a rule matching the port's dport decided some CDN packets */
	struct cidr *ips; /* o->ips parsed, n_ips of them */
	size_t n_ips;
	struct ranges *cdn; /* union of every selected target's lists (normal) */
	bool have_cdn;
	struct own_set *own;
	size_t n_own;
	struct ban *bans;
	size_t n_bans;
	bool oom;
	bool ufw; /* UFW is enabled (its advice is given in UFW's words) */
	struct nft_model *nft; /* NULL when the ruleset could not be read (or no nftables) */
};

/* doctor.c */
/* Append a finding to c->rep; on ENOMEM sets c->oom and returns -1 (callers go on). */
int doctor_note(struct ctx *c, enum doctor_severity sev, const char *check, const char *subject,
		const char *fix, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Whether --target selects the target called name (no --target: all). */
bool doctor_selected(const struct doctor_opts *o, const char *name);
/* Whether (family, table, set) is one of our sets (c->own). */
bool doctor_is_own(const struct ctx *c, uint32_t family, const char *table, const char *set);

/* fam.c: address families and struct ranges */
bool fam_none(const struct ranges *r); /* no address of either family */
int fam_add(struct ranges *r, int fam, cda_u128 lo, cda_u128 hi);
const char *fam_name(int fam); /* "IPv4", "IPv6" */
cda_u128 fam_max(int fam);
size_t fam_count(const struct ranges *r, int fam);
/* A new ranges (ranges_free()) holding only family fam of r (normal); NULL on ENOMEM. */
struct ranges *fam_only(const struct ranges *r, int fam);
/* "104.16.0.0/13, 2400:cb00::/32 and 5 more" for the first prefixes of r (normal). */
void fam_samples(const struct ranges *r, char *buf, size_t size);
/* *dst = *dst + add, normalised; *dst = *dst - sub (replaced). 0, or -1 on ENOMEM. */
int fam_union(struct ranges **dst, const struct ranges *add);
int fam_minus(struct ranges **dst, const struct ranges *sub);

/*
 * The checks; the checks[] table in doctor.c runs them in order. Each returns 0 whatever it
 * found (the findings go to c->rep), -1 only when out of memory. Those that evaluate the
 * ruleset do nothing when c->nft is NULL.
 */
int check_lists(struct ctx *c);          /* freshness; fills c->cdn; our sets per target */
int check_bans(struct ctx *c);           /* Fail2Ban, CSF, ipset; fills c->bans */
int check_bans_ips(struct ctx *c);       /* --ip addresses in c->bans */
bool check_bans_named(const char *name); /* a name that sounds like a ban list */
int check_host_listen(struct ctx *c);
int check_host_conntrack(struct ctx *c);
int check_tls(struct ctx *c); /* only with o->tls_name */
int check_ufw(struct ctx *c); /* UFW's policy and rules for the CDN; sets c->ufw */

#ifdef HAVE_NFTABLES
int check_nft_load(struct ctx *c);    /* fills c->nft, or says why not */
int check_nft_preload(struct ctx *c); /* the sets the checks will need, in parallel */
/* Target tc's own sets against want (its lists; want_known false: none cached). */
int check_sets_target(struct ctx *c, const struct target_config *tc, const struct ranges *want,
		      bool want_known);
int check_sets_use(struct ctx *c);     /* a rule on the input path uses each own set */
int check_sets_bans(struct ctx *c);    /* ban-style nft sets holding CDN addresses */
int check_rules(struct ctx *c);        /* CDN traffic to each port through the chains */
int check_rules_ips(struct ctx *c);    /* each --ip through the chains */
int check_rules_legacy(struct ctx *c); /* iptables-legacy tables loaded */
int check_nftconf(struct ctx *c);      /* /etc/nftables.conf flushes without our include */
#endif

#endif
