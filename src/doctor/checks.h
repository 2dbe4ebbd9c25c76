/* SPDX-License-Identifier: MIT */
/* What doctor's checks share: the run's context, findings, range helpers, each check's entry. */
#ifndef CDNALLOW_DOCTOR_CHECKS_H
#define CDNALLOW_DOCTOR_CHECKS_H

#include <limits.h>
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

/* Who owns a chain the CDN's packets meet: whose words a fix must use. */
enum owner {
	OWNER_ADMIN,     /* a table of the admin's own (nft, /etc/nftables.conf) */
	OWNER_CDNALLOW,  /* a table of one of our nftables targets */
	OWNER_UFW,       /* UFW's chains in iptables-nft's filter tables */
	OWNER_FIREWALLD, /* table inet firewalld */
	OWNER_DOCKER,    /* Docker's chains (DOCKER, DOCKER-USER, ...) */
	OWNER_CSF,       /* CSF's chains (LOCALINPUT, ALLOWIN, DENYIN, ...) */
	OWNER_IPTABLES,  /* any other iptables-nft table (ip/ip6 filter with INPUT) */
};

/* The firewall managers found on the host (managers.c fills it first). */
struct managers {
	bool ufw;          /* UFW's chains are in the ruleset */
	bool ufw_enabled;  /* /etc/ufw/ufw.conf says ENABLED=yes */
	bool ufw_disabled; /* it says something else (`ufw disable`: ENABLED=no) */
	bool firewalld;    /* table inet firewalld is in the ruleset */
	bool csf, docker;  /* their chains are in the ruleset */
	char fwd_zone[64]; /* firewalld's default zone once check_firewalld asked ("" before) */
	char ufw_dir[PATH_MAX]; /* a ufw target's ufw_dir, else /etc/ufw (under etc_root) */
	/* check_ufw (IPv4, IPv6) and check_firewalld judged the ports: the drops in those
	 * managers' chains are theirs to report (one finding per cause), not the rules check's */
	bool ufw_judged[2], fwd_judged;
};

/* A port's listening sockets, as /proc/net/tcp{,6} show them. */
struct listener {
	bool v4_any, v4_lo, v6_any, v6_lo;
};

/* One doctor run; doctor_run() owns everything in it. */
struct ctx {
	const struct doctor_opts *o;
	const struct config *cfg;
	struct doctor_report *rep;
	struct cda_error *err;
	struct state *st; /* NULL when the state dir could not be opened */
	uint16_t ports[64]; /* --port and the targets' ports and lock_ports, else 80 443 */
	size_t n_ports;
	uint16_t udp_ports[32]; /* the selected targets' lock_udp: evaluated through the chains */
	size_t n_udp;
	bool ports_default; /* nothing named a port: 80 and 443 */
	uint16_t idle[2];   /* default ports nobody serves or mentions: out of ports[] */
	size_t n_idle;
	struct managers mgr;
	struct cidr *ips; /* o->ips parsed, n_ips of them */
	size_t n_ips;
	struct ranges *cdn; /* union of every selected target's lists (normal) */
	bool have_cdn;
	struct own_set *own;
	size_t n_own;
	struct ban *bans;
	size_t n_bans;
	bool oom;
	struct nft_model *nft; /* NULL when the ruleset could not be read (or no nftables) */
	char *legacy[2];       /* iptables-/ip6tables-legacy-save -t filter; NULL: none loaded */
	bool legacy_tried;
};

/* doctor.c */
/* Append a finding to c->rep; on ENOMEM sets c->oom and returns -1 (callers go on). */
int doctor_note(struct ctx *c, enum doctor_severity sev, const char *check, const char *subject,
		const char *fix, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Whether --target selects the target called name (no --target: all). */
bool doctor_selected(const struct doctor_opts *o, const char *name);
/* Whether (family, table, set) is one of our sets (c->own). */
bool doctor_is_own(const struct ctx *c, uint32_t family, const char *table, const char *set);

/* check_ports.c */
/* c->ports from --port and each selected target's lock_ports and ports (80 and 443 when
 * none names one). -1 with CDA_EUSAGE when an option is bad. */
int ports_plan(struct ctx *c, struct cda_error *err);
/* Scan /proc/net/tcp{,6} (c->o->proc_net) for listeners on ports[0..np); l[np]. Whether
 * either file could be read; p4 gets the IPv4 file's path for messages. */
bool ports_listeners(const struct ctx *c, const uint16_t *ports, size_t np, struct listener *l,
		     char *p4, size_t p4size);

/* managers.c: who owns what, and fixes in that owner's words */
/* The owner of the chain named in an evaluator's "table FAM NAME chain CHAIN ..." text. */
enum owner mgr_owner(const struct ctx *c, const char *where);
const char *mgr_name(enum owner o); /* "UFW", "firewalld", ... */
/* The firewalld fix for port in zone: `backend = firewalld`, or firewall-cmd. */
void mgr_fwd_fix(const char *zone, uint16_t port, char *buf, size_t size);
/* KEY=value (quotes stripped, the last one wins) from a shell-style file such as
 * /etc/ufw/ufw.conf; false when the file or the key is missing. */
bool mgr_conf_value(const char *path, const char *key, char *out, size_t size);
/* A manager's file such as "/etc/nftables.conf" under c->o->etc_root (tests), into buf. */
void mgr_etc_path(const struct ctx *c, const char *path, char *buf, size_t size);
/* The fix for CDN packets to port that a rule (policy false) or a chain's drop policy of
 * owner o drops; written into buf. */
void mgr_fix(const struct ctx *c, enum owner o, bool policy, uint16_t port, char *buf,
	     size_t size);

/* ufw_records.c: UFW's own files */
/* What UFW's records (user.rules "### tuple ###" lines) say for one family and port. */
enum ufw_fate { UFW_NONE, UFW_ALLOW, UFW_LIMIT, UFW_DENY, UFW_PARTLY };
#define UFW_LIMIT_FIX                                                                           \
	"`ufw delete limit ...` and use `backend = ufw`, which accepts the CDN lists without a " \
	"rate limit"
#define UFW_LIMIT_WHY                                                                            \
	": rate-limited, a CDN edge opens many connections and is refused past 6 in 30 s"
/* The first of UFW's incoming rules (first match wins) that takes the CDN's (cdn: one
 * family) TCP packets to port; rule gets its words ("" when none). *readable: the file
 * (c->mgr.ufw_dir/user.rules or user6.rules) could be read. Sets c->oom on ENOMEM. */
enum ufw_fate ufw_record(struct ctx *c, int fam, uint16_t port, const struct ranges *cdn,
			 char *rule, size_t size, bool *readable);
bool ufw_record_anyone(const char *rule); /* the rule's source is anywhere */
/* A selected target with backend = ufw whose ports include port (0: any port), or NULL. */
const struct target_config *ufw_target(const struct ctx *c, uint16_t port);
/* DEFAULT_INPUT_POLICY (left as is when unset) and IPV6=yes from /etc/default/ufw. */
void ufw_defaults(const struct ctx *c, char *policy, size_t psize, bool *ipv6);
/* UFW judged from its files alone (the ruleset could not be read). -1 on ENOMEM. */
int ufw_files_verdict(struct ctx *c);

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
int check_ports_idle(struct ctx *c);   /* default ports nobody serves or mentions */
int check_mgr_detect(struct ctx *c);  /* fills c->mgr */
int check_ufw(struct ctx *c);         /* UFW: enabled, default policy, ports admitted */
int check_firewalld(struct ctx *c);   /* firewalld: running, zones, ports, our ipsets */
int check_nftconf(struct ctx *c);     /* /etc/nftables.conf flushes without our include */

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
