// SPDX-License-Identifier: MIT
#include "backend.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cda_error.h"
#include "config.h"
#include "iptables_ipset.h"
#include "ranges.h"
#include "subproc.h"
#include "textbuf.h"

/*
 * Two ways to hold the list, both replaced in one step:
 * - ipset: sets SET_V4/SET_V6 (hash:net); a temporary set is filled and swapped with the live
 *   one by one `ipset restore`, so rules using `-m set --match-set` never see a partial set.
 * - chain: our own chain of `-s CIDR -j ACCEPT` rules, rebuilt by one
 *   `iptables-restore --noflush` commit per family (nothing else is flushed).
 * With `ports`, INPUT gets one jump to our chain for those TCP ports (added only when absent);
 * in ipset mode the chain then holds the two match-set rules.
 *
 * Origin lock (lock_ports/lock_udp, ipset mode): chain CHAIN-LOCK, jumped to first from INPUT,
 * RETURNs loopback, established/related, the set's members and lock_allow, then DROPs the
 * locked ports; CHAIN-LOCKFWD, jumped to first from DOCKER-USER (FORWARD without Docker), does
 * the same for connections this host DNATed, by their original port. Never ACCEPT: the admin's
 * later rules still see everything the lock lets through. Each lock rule carries a comment
 * "cdnallow lock HASH #N" so that a changed or partial lock shows as drift.
 */

#define IPSET_MAXNAME 31  /* IPSET_MAXNAMELEN - 1 */
#define CHAIN_MAXNAME 28  /* XT_EXTENSION_MAXNAMELEN - 1 */
#define TMP_SUFFIX "-tmp" /* temporary set: live name plus this */
#define MAX_PORTS 15      /* multiport limit (a range counts twice) */
#define LOCK_SUFFIX "-LOCK"
#define LOCKFWD_SUFFIX "-LOCKFWD"
#define MAX_LOCK_ALLOW 64

static const char *const iptables_keys[] = {
	"mode",         "chain",         "set_v4",    "set_v6",     "ports",
	"iptables_cmd", "ip6tables_cmd", "ipset_cmd", "lock_ports", "lock_udp",
	"lock_forward", "lock_allow",    NULL,
};

enum lock_fwd { LFWD_AUTO, LFWD_YES, LFWD_NO };

/* The lock as iptables-save shows it for one family. [k]: 0 CHAIN-LOCK, 1 CHAIN-LOCKFWD. */
struct lock_view {
	bool chain[2];      /* declared */
	bool docker_user;   /* ":DOCKER-USER" declared */
	size_t jumps[2][2]; /* [k][0] from INPUT (k 0) or FORWARD (k 1), [k][1] from DOCKER-USER */
	bool first[2][2];   /* that jump is the first rule of the hook chain */
	size_t nrules[2];
	bool tags_ok[2]; /* every rule carries the comment we would give it */
	char *rules[2];  /* "-A CHAIN-LOCK..." lines verbatim (rollback) */
};

struct iptables_backend {
	struct backend base;
	bool use_ipset;
	char *chain;
	char *set[2];     /* [0] IPv4, [1] IPv6 */
	char *ports;      /* "80,443", NULL: no jump rule */
	char *ipt[2];     /* iptables, ip6tables */
	char *restore[2]; /* <ipt>-restore */
	char *save[2];    /* <ipt>-save */
	char *ipset;
	/* origin lock */
	bool lock_on;
	enum lock_fwd lock_fwd;
	char *lock_tcp, *lock_udp; /* multiport lists, NULL: none */
	struct cidr *lock_allow;
	size_t n_allow;
	char *lchain[2];        /* CHAIN-LOCK, CHAIN-LOCKFWD */
	struct lock_view lv[2]; /* per family, from the last read */
	bool lv_known;
	bool have[2]; /* the family's list was non-empty at the last read */
	char lock_text[128];
};

static struct iptables_backend *iptables_from_base(struct backend *be)
{
	assert(be != NULL && be->ops == &iptables_backend_ops);
	return (struct iptables_backend *)be;
}

static const int fams[2] = {CDA_AF_INET, CDA_AF_INET6};

/* ---- config ---- */

static int bad_value(struct cda_error *err, const struct target_config *tc, const char *key,
		     const char *why)
{
	cda_error_set(err, CDA_ECONFIG, "%s: %s", key, why);
	return cda_error_at(err, tc->config_path, target_line(tc, key));
}

static bool name_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || s[0] == '-')
		return false;
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || strchr(extra, *s)))
			return false;
	}
	return true;
}

static bool cmd_name_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\n')
			return false;
	}
	return true;
}

static bool in_path(const char *cmd)
{
	const char *path = getenv("PATH"), *p, *e;
	char buf[4096];

	if (strchr(cmd, '/') != NULL)
		return access(cmd, X_OK) == 0;
	if (path == NULL)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (p = path; *p; p = *e ? e + 1 : e) {
		e = strchrnul(p, ':');
		if (snprintf(buf, sizeof(buf), "%.*s/%s", (int)(e - p), e == p ? "." : p, cmd) <
			    (int)sizeof(buf) &&
		    access(buf, X_OK) == 0)
			return true;
	}
	return false;
}

/* "80 443,8000:8080" -> "80,443,8000:8080" (numbers re-printed canonically). */
static int parse_ports(const char *s, char **out)
{
	struct textbuf b = {0};
	unsigned int used = 0;
	const char *p = s;

	while (*p) {
		unsigned long lo, hi;
		char *end;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (*p < '0' || *p > '9')
			goto bad;
		lo = strtoul(p, &end, 10);
		hi = lo;
		if (*end == ':') {
			if (end[1] < '0' || end[1] > '9')
				goto bad;
			hi = strtoul(end + 1, &end, 10);
		}
		if (lo < 1 || lo > 65535 || hi < lo || hi > 65535 ||
		    (*end != '\0' && *end != ' ' && *end != '\t' && *end != ','))
			goto bad;
		used += lo == hi ? 1 : 2;
		if (lo == hi)
			textbuf_printf(&b, "%s%lu", b.len ? "," : "", lo);
		else
			textbuf_printf(&b, "%s%lu:%lu", b.len ? "," : "", lo, hi);
		p = end;
	}
	if (used == 0 || used > MAX_PORTS || b.oom)
		goto bad;
	*out = b.p;
	return 0;
bad:
	free(b.p);
	return -1;
}

static void iptables_close(struct backend *be)
{
	struct iptables_backend *ib;

	if (be == NULL)
		return;
	ib = iptables_from_base(be);
	free(ib->chain);
	free(ib->ports);
	free(ib->ipset);
	free(ib->lock_tcp);
	free(ib->lock_udp);
	free(ib->lock_allow);
	for (int k = 0; k < 2; k++) {
		free(ib->lchain[k]);
		free(ib->lv[0].rules[k]);
		free(ib->lv[1].rules[k]);
	}
	for (int f = 0; f < 2; f++) {
		free(ib->set[f]);
		free(ib->ipt[f]);
		free(ib->restore[f]);
		free(ib->save[f]);
	}
	free(ib);
}

static char *dup_or(const char *v, const char *def)
{
	return strdup(v != NULL ? v : def);
}

static char *suffixed(const char *cmd, const char *suffix)
{
	char *s;

	return asprintf(&s, "%s%s", cmd, suffix) < 0 ? NULL : s;
}

static int parse_lock_ports(const char *v, char **out)
{
	char *tmp = strdup(v);
	int rc;

	if (tmp == NULL)
		return -1;
	for (char *c = tmp; *c; c++)
		if (*c == '-')
			*c = ':';
	rc = parse_ports(tmp, out);
	free(tmp);
	return rc;
}

static int parse_lock(struct iptables_backend *ib, const struct target_config *tc,
		      struct cda_error *err)
{
	static const char *const keys[] = {"lock_ports", "lock_udp", "lock_forward", "lock_allow"};
	const char *tcp = target_get(tc, "lock_ports"), *udp = target_get(tc, "lock_udp");
	const char *fwd = target_get(tc, "lock_forward"), *allow = target_get(tc, "lock_allow");
	char **w = NULL;
	size_t nw = 0;

	if ((ib->lchain[0] = suffixed(ib->chain, LOCK_SUFFIX)) == NULL ||
	    (ib->lchain[1] = suffixed(ib->chain, LOCKFWD_SUFFIX)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the iptables backend");
	for (size_t i = 0; i < 4; i++) {
		if (target_get(tc, keys[i]) == NULL)
			continue;
		if (tcp == NULL && udp == NULL)
			return bad_value(err, tc, keys[i], "needs lock_ports or lock_udp");
		if (!ib->use_ipset)
			return bad_value(
				err, tc, keys[i],
				"the origin lock needs mode = ipset (it matches the sets)");
	}
	if (tcp == NULL && udp == NULL)
		return 0;
	if (strlen(ib->chain) + strlen(LOCKFWD_SUFFIX) > CHAIN_MAXNAME)
		return bad_value(err, tc, "chain", "at most 20 characters with an origin lock");
	ib->lock_on = true;
	if (tcp != NULL && parse_lock_ports(tcp, &ib->lock_tcp) < 0)
		return bad_value(err, tc, "lock_ports",
				 "expected up to 15 TCP ports or ranges (80 443 8000-8080)");
	if (udp != NULL && parse_lock_ports(udp, &ib->lock_udp) < 0)
		return bad_value(err, tc, "lock_udp",
				 "expected up to 15 UDP ports or ranges (443)");
	if (fwd == NULL || strcmp(fwd, "auto") == 0) {
		ib->lock_fwd = LFWD_AUTO;
	} else {
		bool b;

		if (config_parse_bool(fwd, &b) < 0)
			return bad_value(err, tc, "lock_forward", "expected yes, no or auto");
		ib->lock_fwd = b ? LFWD_YES : LFWD_NO;
	}
	if (allow == NULL)
		return 0;
	if ((w = config_split_words(allow, &nw)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "reading lock_allow");
	if (nw == 0 || nw > MAX_LOCK_ALLOW ||
	    (ib->lock_allow = calloc(nw, sizeof(*ib->lock_allow))) == NULL) {
		config_free_words(w);
		return bad_value(err, tc, "lock_allow", "expected 1 to 64 addresses or prefixes");
	}
	for (size_t i = 0; i < nw; i++) {
		if (cidr_parse(w[i], strlen(w[i]), &ib->lock_allow[i], NULL) != CIDR_OK) {
			config_free_words(w);
			return bad_value(err, tc, "lock_allow",
					 "expected addresses or prefixes without host bits "
					 "(192.0.2.7 2001:db8::/64)");
		}
	}
	ib->n_allow = nw;
	config_free_words(w);
	return 0;
}

static int iptables_open(struct backend **out, const struct target_config *tc,
			 const struct backend_env *env, struct cda_error *err)
{
	static const char *const builtin[] = {"INPUT",      "OUTPUT",      "FORWARD",
					      "PREROUTING", "POSTROUTING", NULL};
	struct iptables_backend *ib;
	const char *mode = target_get(tc, "mode"), *ports = target_get(tc, "ports");
	const char *ipt[2] = {target_get(tc, "iptables_cmd"), target_get(tc, "ip6tables_cmd")};
	const char *defs[2] = {"cdnallow4", "cdnallow6"}, *keys[2] = {"set_v4", "set_v6"};

	if ((ib = calloc(1, sizeof(*ib))) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the iptables backend");
	ib->base.ops = &iptables_backend_ops;
	if ((ib->ipset = dup_or(target_get(tc, "ipset_cmd"), "ipset")) == NULL ||
	    (ib->chain = dup_or(target_get(tc, "chain"), "CDNALLOW")) == NULL)
		goto oom;
	if (!cmd_name_ok(ib->ipset)) {
		bad_value(err, tc, "ipset_cmd", "expected a command name or path");
		goto fail;
	}
	if (mode == NULL)
		ib->use_ipset = in_path(ib->ipset);
	else if (strcmp(mode, "ipset") == 0)
		ib->use_ipset = true;
	else if (strcmp(mode, "chain") != 0) {
		bad_value(err, tc, "mode", "expected ipset or chain");
		goto fail;
	}
	if (!name_ok(ib->chain, CHAIN_MAXNAME, "")) {
		bad_value(err, tc, "chain", "expected a chain name (letters, digits, _ and -)");
		goto fail;
	}
	for (size_t i = 0; builtin[i] != NULL; i++) {
		if (strcasecmp(ib->chain, builtin[i]) == 0) {
			bad_value(err, tc, "chain",
				  "must be a chain of our own, not a built-in one");
			goto fail;
		}
	}
	for (int f = 0; f < 2; f++) {
		if ((ib->set[f] = dup_or(target_get(tc, keys[f]), defs[f])) == NULL)
			goto oom;
		if (!name_ok(ib->set[f], IPSET_MAXNAME - strlen(TMP_SUFFIX), ".")) {
			bad_value(err, tc, keys[f], "expected a set name of up to 27 characters");
			goto fail;
		}
		if ((ib->ipt[f] = dup_or(ipt[f], f ? "ip6tables" : "iptables")) == NULL ||
		    (ib->restore[f] = suffixed(ib->ipt[f], "-restore")) == NULL ||
		    (ib->save[f] = suffixed(ib->ipt[f], "-save")) == NULL)
			goto oom;
		if (!cmd_name_ok(ib->ipt[f])) {
			bad_value(err, tc, f ? "ip6tables_cmd" : "iptables_cmd",
				  "expected a command name or path");
			goto fail;
		}
	}
	if (strcmp(ib->set[0], ib->set[1]) == 0) {
		bad_value(err, tc, "set_v6", "must differ from set_v4");
		goto fail;
	}
	if (ports != NULL && parse_ports(ports, &ib->ports) < 0) {
		bad_value(err, tc, "ports",
			  "expected up to 15 TCP ports or ranges (80 443 8000:8080)");
		goto fail;
	}
	if (parse_lock(ib, tc, err) < 0)
		goto fail;
	*out = &ib->base;
	return 0;
oom:
	cda_error_sys(err, CDA_ESYS, "allocating the iptables backend");
fail:
	iptables_close(&ib->base);
	return -1;
}

/* ---- reading ---- */

/* Add the CIDR text s[0..len) of family fam to cur; 0 when added, 1 when not a CIDR. */
static int add_cidr_text(struct ranges *cur, int fam, const char *s, size_t len)
{
	struct cidr c;
	enum cidr_parse_result pr = cidr_parse(s, len, &c, NULL);

	if (pr == CIDR_INVALID || c.family != fam)
		return 1;
	return ranges_add_cidr(cur, &c);
}

/* The jump rule as iptables-save prints it. */
static int jump_rule(const struct iptables_backend *ib, char *buf, size_t size)
{
	int n = snprintf(buf, size, "-A INPUT -p tcp -m multiport --dports %s -j %s", ib->ports,
			 ib->chain);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* ---- origin lock: rules ---- */

#define TAG "-m comment --comment \"cdnallow lock %08x #%zu\""

static uint32_t fnv(uint32_t h, const void *data, size_t len)
{
	const unsigned char *c = data;

	for (size_t i = 0; i < len; i++)
		h = (h ^ c[i]) * 16777619u;
	return h;
}

static uint32_t lock_hash(const struct iptables_backend *ib, int f, int k)
{
	const char *parts[] = {"cdnallow iptables lock v1", ib->lchain[k], ib->set[f],
			       ib->lock_tcp != NULL ? ib->lock_tcp : "-",
			       ib->lock_udp != NULL ? ib->lock_udp : "-"};
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		h = fnv(h, parts[i], strlen(parts[i]) + 1);
	h = fnv(h, &f, sizeof(f));
	h = fnv(h, &k, sizeof(k));
	for (size_t i = 0; i < ib->n_allow; i++) {
		char c[CIDR_STRLEN];

		if (ib->lock_allow[i].family != fams[f])
			continue;
		cidr_format(&ib->lock_allow[i], c);
		h = fnv(h, c, strlen(c) + 1);
	}
	return h;
}

/* The rules of lock chain k for family f; *n: how many. */
static void lock_rules(const struct iptables_backend *ib, int f, int k, struct textbuf *b,
		       size_t *n)
{
	const char *lc = ib->lchain[k];
	const char *lists[2] = {ib->lock_tcp, ib->lock_udp}, *proto[2] = {"tcp", "udp"};
	uint32_t h = lock_hash(ib, f, k);
	size_t i = 0;

	if (k == 0)
		textbuf_printf(b, "-A %s -i lo " TAG " -j RETURN\n", lc, h, ++i);
	textbuf_printf(b, "-A %s -m conntrack --ctstate RELATED,ESTABLISHED " TAG " -j RETURN\n",
		       lc, h, ++i);
	textbuf_printf(b, "-A %s -m set --match-set %s src " TAG " -j RETURN\n", lc, ib->set[f], h,
		       ++i);
	for (size_t a = 0; a < ib->n_allow; a++) {
		char c[CIDR_STRLEN];

		if (ib->lock_allow[a].family == fams[f])
			textbuf_printf(b, "-A %s -s %s " TAG " -j RETURN\n", lc,
				       cidr_format(&ib->lock_allow[a], c), h, ++i);
	}
	for (int p = 0; p < 2; p++) {
		const char *s = lists[p];

		if (s == NULL)
			continue;
		if (k == 0) {
			textbuf_printf(b, "-A %s -p %s -m multiport --dports %s " TAG " -j DROP\n",
				       lc, proto[p], s, h, ++i);
			continue;
		}
		/* conntrack matches one port or range per rule */
		while (*s) {
			size_t len = strcspn(s, ",");

			textbuf_printf(
				b,
				"-A %s -p %s -m conntrack --ctstate DNAT --ctorigdstport %.*s "
				"--ctdir ORIGINAL " TAG " -j DROP\n",
				lc, proto[p], (int)len, s, h, ++i);
			s += len + (s[len] == ',');
		}
	}
	if (n != NULL)
		*n = i;
}

static size_t lock_rule_count(const struct iptables_backend *ib, int f, int k)
{
	struct textbuf b = {0};
	size_t n = 0;

	lock_rules(ib, f, k, &b, &n);
	free(b.p);
	return n;
}

static bool fwd_on(const struct iptables_backend *ib, const struct lock_view *v)
{
	return ib->lock_fwd == LFWD_YES || (ib->lock_fwd == LFWD_AUTO && v->docker_user);
}

/* Whether chain k belongs in family f's table, given whether both sets are non-empty. */
static bool lock_wanted(const struct iptables_backend *ib, const struct lock_view *v, bool sets,
			int k)
{
	return ib->lock_on && sets && (k == 0 || fwd_on(ib, v));
}

static int hook_of(int k, const struct lock_view *v)
{
	return k == 1 && v->docker_user ? 1 : 0;
}

static const char *hook_name(int k, int hc)
{
	return k == 0 ? "INPUT" : hc ? "DOCKER-USER" : "FORWARD";
}

static bool chain_ok(const struct iptables_backend *ib, int f, const struct lock_view *v, int k)
{
	return v->chain[k] && v->tags_ok[k] && v->nrules[k] == lock_rule_count(ib, f, k);
}

static bool jump_ok(const struct lock_view *v, int k)
{
	int hc = hook_of(k, v);

	return v->jumps[k][0] + v->jumps[k][1] == 1 && v->jumps[k][hc] == 1 && v->first[k][hc];
}

static void del_jumps(const struct iptables_backend *ib, int k, const struct lock_view *v,
		      struct textbuf *b)
{
	for (int hc = 0; hc < 2; hc++)
		for (size_t j = 0; j < v->jumps[k][hc]; j++)
			textbuf_printf(b, "-D %s -j %s\n", hook_name(k, hc), ib->lchain[k]);
}

/* iptables-restore lines that take family f's lock from v to what is wanted. */
static void lock_restore(const struct iptables_backend *ib, int f, const struct lock_view *v,
			 bool sets, struct textbuf *b)
{
	for (int k = 0; k < 2; k++) {
		if (lock_wanted(ib, v, sets, k)) {
			if (!chain_ok(ib, f, v, k)) {
				textbuf_printf(b, ":%s - [0:0]\n", ib->lchain[k]);
				lock_rules(ib, f, k, b, NULL);
			}
			if (!jump_ok(v, k)) {
				del_jumps(ib, k, v, b);
				textbuf_printf(b, "-I %s 1 -j %s\n", hook_name(k, hook_of(k, v)),
					       ib->lchain[k]);
			}
		} else if (v->chain[k] || v->jumps[k][0] + v->jumps[k][1] > 0) {
			del_jumps(ib, k, v, b);
			if (v->chain[k])
				textbuf_printf(b, "-F %s\n-X %s\n", ib->lchain[k], ib->lchain[k]);
		}
	}
}

/* Undo lock_restore(v, sets) after it was committed: back to v (jump positions aside). */
static void lock_rollback(const struct iptables_backend *ib, const struct lock_view *v, bool sets,
			  struct textbuf *b)
{
	for (int k = 0; k < 2; k++) {
		bool now = lock_wanted(ib, v, sets, k);
		size_t had = v->jumps[k][0] + v->jumps[k][1];

		if (v->chain[k]) {
			textbuf_printf(b, ":%s - [0:0]\n", ib->lchain[k]);
			if (v->rules[k] != NULL)
				textbuf_add(b, v->rules[k], strlen(v->rules[k]));
			if (now && had == 0)
				textbuf_printf(b, "-D %s -j %s\n", hook_name(k, hook_of(k, v)),
					       ib->lchain[k]);
			else if (!now && had > 0)
				textbuf_printf(b, "-I %s 1 -j %s\n", hook_name(k, hook_of(k, v)),
					       ib->lchain[k]);
		} else if (now) {
			textbuf_printf(b, "-D %s -j %s\n-F %s\n-X %s\n",
				       hook_name(k, hook_of(k, v)), ib->lchain[k], ib->lchain[k],
				       ib->lchain[k]);
		}
	}
}

static void lock_view_reset(struct lock_view *v)
{
	free(v->rules[0]);
	free(v->rules[1]);
	memset(v, 0, sizeof(*v));
}

/* One line of iptables-save output: the lock's part of it. */
static void lock_line(const struct iptables_backend *ib, int f, const char *l, const char *ours,
		      struct lock_view *v, bool seen_first[3])
{
	static const char *const hooks[3] = {"-A INPUT ", "-A FORWARD ", "-A DOCKER-USER "};

	if (strncmp(l, ":DOCKER-USER ", 13) == 0)
		v->docker_user = true;
	for (int k = 0; k < 2; k++) {
		size_t n = strlen(ib->lchain[k]);

		if (l[0] == ':' && strncmp(l + 1, ib->lchain[k], n) == 0 && l[1 + n] == ' ')
			v->chain[k] = true;
		if (strncmp(l, "-A ", 3) == 0 && strncmp(l + 3, ib->lchain[k], n) == 0 &&
		    l[3 + n] == ' ') {
			char tag[64];
			struct textbuf rb = {v->rules[k], v->rules[k] ? strlen(v->rules[k]) : 0, 0,
					     false};

			if (v->nrules[k] == 0)
				v->tags_ok[k] = true;
			snprintf(tag, sizeof(tag), "--comment \"cdnallow lock %08x #%zu\"",
				 lock_hash(ib, f, k), ++v->nrules[k]);
			if (strstr(l, tag) == NULL)
				v->tags_ok[k] = false;
			rb.cap = rb.len ? rb.len + 1 : 0;
			textbuf_printf(&rb, "%s\n", l);
			v->rules[k] = rb.p;
		}
	}
	for (int h = 0; h < 3; h++) {
		size_t n = strlen(hooks[h]);
		int k = h == 0 ? 0 : 1, hc = h == 2 ? 1 : 0;

		if (strncmp(l, hooks[h], n) != 0)
			continue;
		if (strncmp(l + n, "-j ", 3) == 0 && strcmp(l + n + 3, ib->lchain[k]) == 0) {
			v->jumps[k][hc]++;
			if (!seen_first[h])
				v->first[k][hc] = true;
		}
		/* our own accept-chain jump (ports) does not push the lock from first place */
		if (ours == NULL || strcmp(l, ours) != 0)
			seen_first[h] = true;
	}
}

/* What iptables-save shows of us for one family. */
struct chain_view {
	bool has_chain;   /* ":CHAIN" declared */
	bool has_jump;    /* INPUT jumps to CHAIN for our ports */
	bool has_setrule; /* CHAIN holds the match-set rule (ipset mode) */
	struct textbuf rules; /* our chain's "-A CHAIN ..." lines, verbatim, '\n'-terminated */
};

static int read_chain(struct iptables_backend *ib, int f, struct ranges *cur, struct chain_view *v,
		      struct lock_view *lv, struct cda_error *err)
{
	char *argv[] = {ib->save[f], "-t", "filter", NULL};
	char decl[64], pre[64], setrule[128], jump[160] = "";
	bool seen_first[3] = {false, false, false};
	struct subproc_out r;
	char *pos, *l;
	size_t plen;

	memset(v, 0, sizeof(*v));
	if (lv != NULL)
		lock_view_reset(lv);
	snprintf(decl, sizeof(decl), ":%s ", ib->chain);
	plen = (size_t)snprintf(pre, sizeof(pre), "-A %s ", ib->chain);
	snprintf(setrule, sizeof(setrule), "-A %s -m set --match-set %s src -j ACCEPT", ib->chain,
		 ib->set[f]);
	if (ib->ports != NULL && jump_rule(ib, jump, sizeof(jump)) < 0)
		return cda_error_set(err, CDA_ESYS, "jump rule too long");
	if (subproc_run_ok(argv, NULL, 0, &r, err) < 0)
		return -1;
	pos = r.out;
	while ((l = textbuf_next_line(&pos)) != NULL) {
		if (lv != NULL)
			lock_line(ib, f, l, jump[0] != '\0' ? jump : NULL, lv, seen_first);
		if (strncmp(l, decl, strlen(decl)) == 0) {
			v->has_chain = true;
		} else if (jump[0] != '\0' && strcmp(l, jump) == 0) {
			v->has_jump = true;
		} else if (strncmp(l, pre, plen) == 0) {
			const char *s = l + plen, *e;

			/* verbatim, whatever its length */
			textbuf_add(&v->rules, l, strlen(l));
			textbuf_add(&v->rules, "\n", 1);
			if (strcmp(l, setrule) == 0)
				v->has_setrule = true;
			if (cur == NULL || strncmp(s, "-s ", 3) != 0)
				continue;
			s += 3;
			e = strchr(s, ' ');
			if (e == NULL || strcmp(e, " -j ACCEPT") != 0)
				continue;
			if (add_cidr_text(cur, fams[f], s, (size_t)(e - s)) < 0) {
				cda_error_sys(err, CDA_ESYS, "reading chain %s", ib->chain);
				goto fail;
			}
		}
	}
	subproc_out_finish(&r);
	if (v->rules.oom) {
		errno = ENOMEM;
		cda_error_sys(err, CDA_ESYS, "reading chain %s", ib->chain);
		free(v->rules.p);
		v->rules.p = NULL; /* callers free it too */
		return -1;
	}
	return 0;
fail:
	subproc_out_finish(&r);
	free(v->rules.p);
	v->rules.p = NULL;
	return -1;
}

/* Live set of one family: whether it exists, and its members into cur (may be NULL). */
static int read_set(struct iptables_backend *ib, int f, const char *name, struct ranges *cur,
		    bool *exists, struct cda_error *err)
{
	char *argv[] = {ib->ipset, "list", "-o", "save", (char *)name, NULL};
	char create[64], add[64];
	struct subproc_out r;
	char *pos, *l;
	size_t alen;

	*exists = false;
	if (subproc_run(argv, NULL, 0, &r, err) < 0)
		return -1;
	if (r.status != 0) {
		int ret = 0;

		if (strstr(r.err, "does not exist") == NULL)
			ret = subproc_fail(argv, &r, err);
		subproc_out_finish(&r);
		return ret;
	}
	*exists = true;
	snprintf(create, sizeof(create), "create %s ", name);
	alen = (size_t)snprintf(add, sizeof(add), "add %s ", name);
	pos = r.out;
	while ((l = textbuf_next_line(&pos)) != NULL) {
		if (strncmp(l, create, strlen(create)) == 0) {
			char want[128];

			snprintf(want, sizeof(want), "%shash:net family %s ", create,
				 f ? "inet6" : "inet");
			if (strncmp(l, want, strlen(want)) != 0) {
				cda_error_set(err, CDA_EAPPLY,
					      "ipset %s exists but is not hash:net family %s", name,
					      f ? "inet6" : "inet");
				goto fail;
			}
		} else if (cur != NULL && strncmp(l, add, alen) == 0) {
			const char *s = l + alen;

			if (strstr(s, " nomatch") != NULL)
				continue; /* an exception someone else put there: not allowed */
			if (add_cidr_text(cur, fams[f], s, strcspn(s, " ")) < 0) {
				cda_error_sys(err, CDA_ESYS, "reading ipset %s", name);
				goto fail;
			}
		}
	}
	subproc_out_finish(&r);
	return 0;
fail:
	subproc_out_finish(&r);
	return -1;
}

static void lock_describe(struct iptables_backend *ib)
{
	char *t = ib->lock_text;
	size_t size = sizeof(ib->lock_text), k = 0;
	bool sets = ib->have[0] && ib->have[1], missing = false, differs = false;

	t[0] = '\0';
	if (!ib->lock_on) {
		for (int f = 0; f < 2; f++)
			for (int c = 0; c < 2; c++)
				differs |= ib->lv[f].chain[c];
		if (differs)
			snprintf(t, size, "lock chains present but not configured");
		return;
	}
	k += (size_t)snprintf(t, size, "%s%s%s%s%s on input%s", ib->lock_tcp ? "tcp " : "",
			      ib->lock_tcp ? ib->lock_tcp : "",
			      ib->lock_tcp && ib->lock_udp ? " " : "", ib->lock_udp ? "udp " : "",
			      ib->lock_udp ? ib->lock_udp : "",
			      fwd_on(ib, &ib->lv[0]) || fwd_on(ib, &ib->lv[1]) ? "+forward" : "");
	if (k >= size)
		return;
	if (!sets) {
		snprintf(t + k, size - k, ": withheld while ipset %s is empty",
			 ib->set[ib->have[0] ? 1 : 0]);
		return;
	}
	for (int f = 0; f < 2; f++) {
		for (int c = 0; c < 2; c++) {
			const struct lock_view *v = &ib->lv[f];

			if (lock_wanted(ib, v, sets, c)) {
				missing |= !v->chain[c] || v->jumps[c][0] + v->jumps[c][1] == 0;
				differs |= !chain_ok(ib, f, v, c) || !jump_ok(v, c);
			} else {
				differs |= v->chain[c];
			}
		}
	}
	if (missing || differs)
		snprintf(t + k, size - k, ": %s",
			 missing ? "missing" : "differs from the configuration");
}

/*
 * The address cover is what matters for these targets (apply rewrites the whole list), so
 * return it normalised: want is normal, and a layout difference (two /25s for a /24, CIDR
 * pieces of a merged interval) must not show as a change.
 */
static int iptables_read(struct backend *be, struct ranges *cur, struct cda_error *err)
{
	struct iptables_backend *ib = iptables_from_base(be);

	for (int f = 0; f < 2; f++) {
		struct chain_view v = {0};
		struct ranges *tmp = ranges_new();
		bool exists;
		int rc;

		if (tmp == NULL)
			return cda_error_sys(err, CDA_ESYS, "reading %s", ib->chain);
		if (ib->use_ipset) {
			rc = read_set(ib, f, ib->set[f], tmp, &exists, err);
			if (rc == 0)
				rc = read_chain(ib, f, NULL, &v, &ib->lv[f], err);
			/* Without the chain rule or jump the set protects nothing yet. */
			if (rc == 0 && ib->ports != NULL && (!v.has_jump || !v.has_setrule))
				ranges_clear(tmp);
		} else {
			rc = read_chain(ib, f, tmp, &v, &ib->lv[f], err);
			if (rc == 0 && ib->ports != NULL && !v.has_jump)
				ranges_clear(tmp);
		}
		free(v.rules.p);
		ib->have[f] = rc == 0 && (f == 0 ? ranges_count4(tmp) : ranges_count6(tmp)) > 0;
		if (rc == 0 && ranges_add_all(cur, tmp) < 0)
			rc = cda_error_sys(err, CDA_ESYS, "reading %s", ib->chain);
		ranges_free(tmp);
		if (rc < 0)
			return -1;
	}
	ranges_normalize(cur);
	ib->lv_known = true;
	lock_describe(ib);
	return 0;
}

/* ---- applying ---- */

/* Minimal CIDR cover of want, per family; /0 becomes two /1s (hash:net cannot hold /0). */
static int want_cidrs(const struct ranges *want, struct cidr_list *out, struct cda_error *err)
{
	struct cidr_list all = {0};

	if (ranges_to_cidrs(want, &all) < 0)
		goto oom;
	for (size_t i = 0; i < all.n; i++) {
		struct cidr c = all.v[i];

		if (c.plen == 0) {
			cda_u128 half =
				c.family == CDA_AF_INET ? (cda_u128)1 << 31 : (cda_u128)1 << 127;

			c.plen = 1;
			if (cidr_list_push(out, &c) < 0)
				goto oom;
			c.addr = half;
		}
		if (cidr_list_push(out, &c) < 0)
			goto oom;
	}
	cidr_list_finish(&all);
	return 0;
oom:
	cidr_list_finish(&all);
	return cda_error_sys(err, CDA_ESYS, "building the CIDR list");
}

static size_t count_fam(const struct cidr_list *l, int fam)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		n += l->v[i].family == fam;
	return n;
}

/* One `ipset restore`: fill both temporaries, create missing live sets, swap, destroy. */
static int apply_sets(struct iptables_backend *ib, const struct cidr_list *cl,
		      struct cda_error *err)
{
	char tmp[2][IPSET_MAXNAME + 1];
	bool exists[2];
	struct textbuf b = {0};
	struct subproc_out r;
	int ret = -1;

	for (int f = 0; f < 2; f++) {
		char *dargv[] = {ib->ipset, "destroy", tmp[f], NULL};
		struct cda_error probe = {0};
		bool t;

		snprintf(tmp[f], sizeof(tmp[f]), "%s%s", ib->set[f], TMP_SUFFIX);
		if (read_set(ib, f, ib->set[f], NULL, &exists[f], err) < 0)
			return -1;
		/* A temporary left by an interrupted run would keep its members under -exist. */
		if (read_set(ib, f, tmp[f], NULL, &t, &probe) < 0) {
			if (probe.code != CDA_EAPPLY) {
				*err = probe;
				return -1;
			}
			t = true; /* of another type: let destroy decide */
		}
		if (t && subproc_run_ok(dargv, NULL, 0, &r, err) < 0)
			return -1;
		if (t)
			subproc_out_finish(&r);
	}
	for (int f = 0; f < 2; f++) {
		size_t n = count_fam(cl, fams[f]), hs = 1024, max = 65536;
		const char *family = f ? "inet6" : "inet";

		while (hs < n && hs < ((size_t)1 << 20))
			hs <<= 1;
		if (max < 2 * n)
			max = 2 * n;
		textbuf_printf(&b, "create %s hash:net family %s hashsize %zu maxelem %zu\n",
			       tmp[f], family, hs, max);
		for (size_t i = 0; i < cl->n; i++) {
			char c[CIDR_STRLEN];

			if (cl->v[i].family == fams[f])
				textbuf_printf(&b, "add %s %s\n", tmp[f],
					       cidr_format(&cl->v[i], c));
		}
		if (!exists[f])
			textbuf_printf(&b,
				       "create %s hash:net family %s hashsize %zu maxelem %zu\n",
				       ib->set[f], family, hs, max);
	}
	for (int f = 0; f < 2; f++)
		textbuf_printf(&b, "swap %s %s\n", tmp[f], ib->set[f]);
	for (int f = 0; f < 2; f++)
		textbuf_printf(&b, "destroy %s\n", tmp[f]);
	if (b.oom) {
		errno = ENOMEM;
		cda_error_sys(err, CDA_ESYS, "building the ipset restore input");
		goto out;
	}
	{
		char *argv[] = {ib->ipset, "-exist", "restore", NULL};

		if (subproc_run_ok(argv, b.p, b.len, &r, err) == 0) {
			subproc_out_finish(&r);
			ret = 0;
		}
	}
	if (ret < 0) {
		/* ipset restore stops at the first bad line: the swaps were not reached (or
		 * both were). Drop what is left of the temporaries, keeping err. */
		struct cda_error ignored = {0};

		for (int f = 0; f < 2; f++) {
			char *dargv[] = {ib->ipset, "destroy", tmp[f], NULL};

			if (subproc_run(dargv, NULL, 0, &r, &ignored) == 0)
				subproc_out_finish(&r);
		}
	}
out:
	free(b.p);
	return ret;
}

/* Rebuild our chain of one family in one commit; adds the jump when absent. */
/* Rebuild our chain of one family (main) and/or change its lock (lock: restore lines), all in
 * one commit; adds the jump when absent. */
static int restore_chain(struct iptables_backend *ib, int f, bool main, const char *rules,
			 bool add_jump, bool del_jump, const char *lock, struct cda_error *err)
{
	char *argv[] = {ib->restore[f], "-w", "--noflush", NULL};
	char jump[160];
	struct textbuf b = {0};
	struct subproc_out r;
	int ret = -1;

	textbuf_printf(&b, "*filter\n");
	if (main)
		textbuf_printf(&b, ":%s - [0:0]\n", ib->chain);
	if (main && rules != NULL)
		textbuf_add(&b, rules, strlen(rules));
	if (main && (add_jump || del_jump) && jump_rule(ib, jump, sizeof(jump)) == 0) {
		jump[1] = add_jump ? 'I' : 'D'; /* "-A INPUT" -> "-I INPUT" (first) or "-D" */
		textbuf_printf(&b, "%s\n", jump);
	}
	if (lock != NULL)
		textbuf_add(&b, lock, strlen(lock));
	textbuf_printf(&b, "COMMIT\n");
	if (b.oom) {
		errno = ENOMEM;
		cda_error_sys(err, CDA_ESYS, "building the %s input", ib->restore[f]);
		goto out;
	}
	if (subproc_run_ok(argv, b.p, b.len, &r, err) == 0) {
		subproc_out_finish(&r);
		ret = 0;
	}
out:
	free(b.p);
	return ret;
}

/* Our chain's new rules for family f. */
static int chain_rules(struct iptables_backend *ib, int f, const struct cidr_list *cl,
		       struct textbuf *b, struct cda_error *err)
{
	if (ib->use_ipset) {
		textbuf_printf(b, "-A %s -m set --match-set %s src -j ACCEPT\n", ib->chain,
			       ib->set[f]);
	} else {
		for (size_t i = 0; i < cl->n; i++) {
			char c[CIDR_STRLEN];

			if (cl->v[i].family == fams[f])
				textbuf_printf(b, "-A %s -s %s -j ACCEPT\n", ib->chain,
					       cidr_format(&cl->v[i], c));
		}
	}
	if (b->oom) {
		errno = ENOMEM;
		return cda_error_sys(err, CDA_ESYS, "building the rules of %s", ib->chain);
	}
	return 0;
}

static int iptables_apply(struct backend *be, const struct backend_input *in, struct cda_error *err)
{
	struct iptables_backend *ib = iptables_from_base(be);
	struct chain_view old[2] = {{0}, {0}};
	struct lock_view olv[2];
	struct cidr_list cl = {0};
	int done = 0, ret = -1;
	bool need_chain = !ib->use_ipset || ib->ports != NULL, sets, removing = false;

	memset(olv, 0, sizeof(olv));
	if (want_cidrs(in->want, &cl, err) < 0)
		return -1;
	/* the lock only with both lists non-empty: never a lock over an empty set */
	sets = count_fam(&cl, CDA_AF_INET) > 0 && count_fam(&cl, CDA_AF_INET6) > 0;
	for (int f = 0; f < 2; f++) {
		if (read_chain(ib, f, NULL, &old[f], &olv[f], err) < 0)
			goto out;
		for (int k = 0; k < 2; k++)
			removing |= olv[f].chain[k] && !lock_wanted(ib, &olv[f], sets, k);
	}
	/* a lock that goes away goes before its set is emptied, a new one after it is filled */
	if (ib->use_ipset && !removing && apply_sets(ib, &cl, err) < 0)
		goto out;
	for (; done < 2; done++) {
		struct textbuf rules = {0}, lock = {0};
		int rc = need_chain ? chain_rules(ib, done, &cl, &rules, err) : 0;

		lock_restore(ib, done, &olv[done], sets, &lock);
		if (lock.oom)
			rc = cda_error_sys(err, CDA_ESYS, "building the lock rules");
		if (rc == 0 && (need_chain || lock.len > 0))
			rc = restore_chain(ib, done, need_chain, rules.p,
					   ib->ports != NULL && !old[done].has_jump, false, lock.p,
					   err);
		free(rules.p);
		free(lock.p);
		if (rc < 0)
			break;
	}
	if (done < 2) {
		/* Put back the families already committed: all or nothing. */
		struct cda_error ignored = {0};

		for (int f = 0; f < done; f++) {
			struct textbuf lock = {0};

			lock_rollback(ib, &olv[f], sets, &lock);
			restore_chain(ib, f, need_chain, old[f].rules.p, false,
				      ib->ports != NULL && !old[f].has_jump, lock.p, &ignored);
			free(lock.p);
		}
		goto out;
	}
	if (ib->use_ipset && removing && apply_sets(ib, &cl, err) < 0)
		goto out;
	ret = 0;
out:
	for (int f = 0; f < 2; f++) {
		free(old[f].rules.p);
		lock_view_reset(&olv[f]);
	}
	cidr_list_finish(&cl);
	return ret;
}

static int iptables_verify(struct backend *be, const struct ranges *want, struct cda_error *err)
{
	struct iptables_backend *ib = iptables_from_base(be);
	struct ranges *cur = ranges_new();
	bool same = false;
	int ret = -1;

	if (cur == NULL)
		return cda_error_sys(err, CDA_ESYS, "verifying %s", ib->chain);
	if (iptables_read(be, cur, err) < 0)
		goto out;
	if (ranges_same_cover(cur, want, &same) < 0) {
		cda_error_sys(err, CDA_ESYS, "verifying %s", ib->chain);
		goto out;
	}
	if (!same) {
		cda_error_set(err, CDA_EAPPLY, "read back from %s differs from what was applied",
			      ib->use_ipset ? "the ipsets" : "the chain");
		cda_error_at(err, ib->use_ipset ? ib->set[0] : ib->chain, 0);
		goto out;
	}
	for (int f = 0; f < 2; f++) {
		for (int k = 0; k < 2; k++) {
			const struct lock_view *v = &ib->lv[f];
			bool wanted = lock_wanted(ib, v, ib->have[0] && ib->have[1], k);

			if (wanted ? chain_ok(ib, f, v, k) && jump_ok(v, k)
				   : !v->chain[k] && v->jumps[k][0] + v->jumps[k][1] == 0)
				continue;
			cda_error_set(err, CDA_EAPPLY, "%s: origin lock chain %s is %s",
				      f ? ib->ipt[1] : ib->ipt[0], ib->lchain[k],
				      wanted ? "missing or not as applied" : "still present");
			goto out;
		}
	}
	ret = 0;
out:
	ranges_free(cur);
	return ret;
}

/* Remove the lock chains and their jumps only (one commit per family). */
static int iptables_unlock(struct backend *be, struct cda_error *err)
{
	struct iptables_backend *ib = iptables_from_base(be);

	for (int f = 0; f < 2; f++) {
		struct chain_view v = {0};
		struct lock_view lv;
		struct textbuf lock = {0};
		int rc;

		memset(&lv, 0, sizeof(lv));
		rc = read_chain(ib, f, NULL, &v, &lv, err);

		free(v.rules.p);
		if (rc == 0) {
			for (int k = 0; k < 2; k++) {
				del_jumps(ib, k, &lv, &lock);
				if (lv.chain[k])
					textbuf_printf(&lock, "-F %s\n-X %s\n", ib->lchain[k],
						       ib->lchain[k]);
			}
			if (lock.oom)
				rc = cda_error_sys(err, CDA_ESYS, "building the unlock input");
			else if (lock.len > 0)
				rc = restore_chain(ib, f, false, NULL, false, false, lock.p, err);
		}
		free(lock.p);
		lock_view_reset(&lv);
		if (rc < 0)
			return -1;
		lock_view_reset(&ib->lv[f]);
	}
	lock_describe(ib);
	return 0;
}

static int iptables_drift(struct backend *be, bool *drift, struct cda_error *err)
{
	struct iptables_backend *ib = iptables_from_base(be);
	bool sets = ib->have[0] && ib->have[1];

	*drift = false;
	for (int f = 0; ib->lv_known && f < 2; f++) {
		for (int k = 0; k < 2; k++) {
			const struct lock_view *v = &ib->lv[f];

			if (lock_wanted(ib, v, sets, k)
				    ? !chain_ok(ib, f, v, k) || !jump_ok(v, k)
				    : v->chain[k] || v->jumps[k][0] + v->jumps[k][1])
				*drift = true;
		}
	}
	return 0;
}

static const char *iptables_lock_info(struct backend *be)
{
	struct iptables_backend *ib = iptables_from_base(be);

	return ib->lock_text[0] != '\0' ? ib->lock_text : NULL;
}

const struct backend_ops iptables_backend_ops = {
	.name = "iptables",
	.keys = iptables_keys,
	.open = iptables_open,
	.read = iptables_read,
	.apply = iptables_apply,
	.verify = iptables_verify,
	.unlock = iptables_unlock,
	.drift = iptables_drift,
	.lock_info = iptables_lock_info,
	.close = iptables_close,
};

/* ---- shared with the ufw backend (iptables_ipset.h) ---- */

int iptables_ipset_read(const char *ipset, int f, const char *name, struct ranges *cur,
			bool *exists, struct cda_error *err)
{
	struct iptables_backend ib = {.ipset = (char *)ipset};

	return read_set(&ib, f, name, cur, exists, err);
}

int iptables_ipset_replace(const char *ipset, const char *const set[2], const struct ranges *want,
			   struct cda_error *err)
{
	struct iptables_backend ib = {.ipset = (char *)ipset,
				      .set = {(char *)set[0], (char *)set[1]}};
	struct cidr_list cl = {0};
	int rc = want_cidrs(want, &cl, err);

	if (rc == 0)
		rc = apply_sets(&ib, &cl, err);
	cidr_list_finish(&cl);
	return rc;
}

int iptables_parse_ports(const char *s, char **out)
{
	return parse_ports(s, out);
}
