// SPDX-License-Identifier: MIT
/* UFW: is it running, does its default policy refuse the CDN, and what admits the CDN. */
#include "checks.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_state.h>

#include "cda_error.h"
#include "config.h"
#include "nft_eval.h"
#include "nft_expr.h"
#include "nft_model.h"
#include "subproc.h"

/*
 * UFW on iptables-nft keeps its rules in `table ip filter` and `table ip6 filter`: INPUT
 * (policy drop with `default deny incoming`) jumps to ufw-before-input, which ends with a
 * jump to the user rules (`ufw allow ...`). A packet nothing accepts there meets the
 * policy, and no accept in any other table can undo that drop. So the verdict for the CDN
 * on a port is the evaluator's (every chain, every table), read with UFW's structure in
 * mind: cdnallow's ufw target (its block in before.rules and its ipsets) admits the CDN,
 * a rule that only matches established connections cannot, and with nothing else that may
 * accept a new connection a CDN range that reaches the policy is refused for sure.
 */

#define NEW_BIT (1u << 3) /* XT_CONNTRACK_STATE_BIT(IP_CT_NEW), XT_STATE_BIT(IP_CT_NEW) */

/* The ufw target that feeds UFW its sets, as far as doctor can see it. */
struct ours {
	const char *target;	   /* NULL: no selected ufw target */
	char set[2][32];	   /* set_v4, set_v6 */
	bool block[2];     /* our block in before.rules / before6.rules */
	bool readable[2];  /* the file could be read */
	long entries[2];   /* members of each ipset; -1: no such set (or not listable) */
	bool rule[2];      /* an accept on an ipset in ufw-before-input (ufw6-) */
	uint64_t handle[2]; /* that rule when it is the only one with our block: ours */
};

static const char *const fam_tag[2] = {"ip", "ip6"};
static const uint32_t nfproto[2] = {NFPROTO_IPV4, NFPROTO_IPV6};

/* Whether path holds our block's first line. */
static bool has_block(const char *path, bool *readable)
{
	FILE *fp = fopen(path, "r");
	char line[512];
	bool found = false;

	*readable = fp != NULL;
	if (fp == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), fp) != NULL)
		found = strcmp(line, "# BEGIN cdnallow\n") == 0;
	fclose(fp);
	return found;
}

/* Members of an ipset (`ipset list -t`), -1 when it does not exist or cannot be listed. */
static long ipset_entries(const struct ctx *c, const char *name)
{
	const char *cmd = c->o->ipset_cmd ? c->o->ipset_cmd : "ipset";
	char *argv[] = {(char *)cmd, "list", "-t", (char *)name, NULL};
	struct subproc_out out = {0};
	struct cda_error e = {0};
	const char *p;
	long n = -1;

	if (subproc_run(argv, NULL, 0, 0, &out, &e) < 0)
		return -1;
	if (out.status == 0 && (p = strstr(out.out, "Number of entries: ")) != NULL)
		n = strtol(p + 19, NULL, 10);
	subproc_out_finish(&out);
	return n;
}

/* How many rules of chain accept what an xt set match (-m set) matches; *handle gets the
 * last one's handle. */
static size_t set_accept(struct nft_model *n, uint32_t family, const char *chain,
			 uint64_t *handle)
{
	struct nchain *ch = nft_model_chain(n, family, "filter", chain);
	size_t found = 0;

	*handle = 0;
	for (size_t i = 0; ch != NULL && i < ch->n_rules; i++) {
		struct nftnl_expr_iter *it = nftnl_expr_iter_create(n->rules[ch->rules[i]]);
		struct nftnl_expr *e;
		bool set = false, acc = false;

		if (it == NULL)
			return found;
		while ((e = nftnl_expr_iter_next(it)) != NULL) {
			const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

			if (strcmp(name, "match") == 0 &&
			    strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_MT_NAME), "set") == 0)
				set = true;
			else if (strcmp(name, "immediate") == 0 &&
				 nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG) == NFT_REG_VERDICT &&
				 (int)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT) == NF_ACCEPT)
				acc = true;
		}
		nftnl_expr_iter_destroy(it);
		if (set && acc) {
			found++;
			*handle = nftnl_rule_get_u64(n->rules[ch->rules[i]], NFTNL_RULE_HANDLE);
		}
	}
	return found;
}

static void ours_read(struct ctx *c, struct ours *w)
{
	static const char *const files[2] = {"before.rules", "before6.rules"};
	static const char *const keys[2] = {"set_v4", "set_v6"};
	static const char *const defs[2] = {"cdnallow4", "cdnallow6"};
	static const char *const chains[2] = {"ufw-before-input", "ufw6-before-input"};
	const struct target_config *tc = ufw_target(c, 0);

	memset(w, 0, sizeof(*w));
	if (tc == NULL)
		return;
	w->target = tc->name;
	for (int f = 0; f < 2; f++) {
		const char *s = target_get(tc, keys[f]);
		char path[PATH_MAX + 16];
		size_t n;

		snprintf(w->set[f], sizeof(w->set[f]), "%s", s ? s : defs[f]);
		snprintf(path, sizeof(path), "%s/%s", c->mgr.ufw_dir, files[f]);
		w->block[f] = has_block(path, &w->readable[f]);
		w->entries[f] = ipset_entries(c, w->set[f]);
		n = set_accept(c->nft, nfproto[f], chains[f], &w->handle[f]);
		w->rule[f] = n > 0;
		if (!w->block[f] || n != 1)
			w->handle[f] = 0;
	}
}

/* What is missing of our wiring for family f, or NULL when it is all in place. */
static const char *ours_missing(const struct ours *w, int f, char *buf, size_t size)
{
	if (w->readable[f] && !w->block[f])
		snprintf(buf, size, "its block is not in %s", f ? "before6.rules" : "before.rules");
	else if (w->entries[f] < 0)
		snprintf(buf, size, "ipset %s does not exist", w->set[f]);
	else if (w->entries[f] == 0)
		snprintf(buf, size, "ipset %s is empty", w->set[f]);
	else if (!w->rule[f])
		snprintf(buf, size, "its rule is not loaded in %s", f ? "ufw6-before-input"
								     : "ufw-before-input");
	else
		return NULL;
	return buf;
}

/* Whether a rule only matches packets of existing connections (-m conntrack/state without
 * NEW), so that it cannot accept the CDN's first packet. */
static bool only_established(struct nftnl_rule *r)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;
	bool only = false;

	while (it != NULL && (e = nftnl_expr_iter_next(it)) != NULL) {
		const char *mt;
		uint32_t len = 0, rev;
		const uint8_t *info;

		if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "match") != 0)
			continue;
		mt = nftnl_expr_get_str(e, NFTNL_EXPR_MT_NAME);
		rev = nftnl_expr_get_u32(e, NFTNL_EXPR_MT_REV);
		info = nftnl_expr_get(e, NFTNL_EXPR_MT_INFO, &len);
		if (info == NULL)
			continue;
		if (strcmp(mt, "state") == 0 && len >= sizeof(struct xt_state_info)) {
			struct xt_state_info si;

			memcpy(&si, info, sizeof(si));
			only |= !(si.statemask & NEW_BIT);
		} else if (strcmp(mt, "conntrack") == 0 && rev >= 1 &&
			   len >= sizeof(struct xt_conntrack_mtinfo1)) {
			uint16_t flags, inv, mask = 0;
			size_t o = offsetof(struct xt_conntrack_mtinfo1, match_flags);

			memcpy(&flags, info + o, 2);
			memcpy(&inv, info + o + 2, 2);
			if (rev == 1)
				mask = info[offsetof(struct xt_conntrack_mtinfo1, state_mask)];
			else if (len >= sizeof(struct xt_conntrack_mtinfo2))
				memcpy(&mask, info + offsetof(struct xt_conntrack_mtinfo2, state_mask),
				       2);
			else
				continue;
			only |= (flags & XT_CONNTRACK_STATE) && !(inv & XT_CONNTRACK_STATE) &&
				!(mask & NEW_BIT);
		}
	}
	nftnl_expr_iter_destroy(it);
	return only;
}

/* The rule an evaluator's "table F T chain C handle H" text names, or NULL. */
static struct nftnl_rule *rule_at(struct nft_model *n, const char *where)
{
	char fam[16], table[256], chain[256];
	unsigned long long h;

	if (sscanf(where, "table %15s %255s chain %255s handle %llu", fam, table, chain, &h) != 4)
		return NULL;
	for (size_t i = 0; i < n->n_rules; i++) {
		struct nftnl_rule *r = n->rules[i];

		if (nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE) == h &&
		    strcmp(nftnl_rule_get_str(r, NFTNL_RULE_TABLE), table) == 0 &&
		    strcmp(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), chain) == 0 &&
		    strcmp(nft_model_family(nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY)), fam) == 0)
			return r;
	}
	return NULL;
}

/* The evaluator's answer for the CDN (from) to port, read the UFW way. */
struct verdict {
	struct ranges *refused;       /* by UFW's policy or a UFW rule that drops for sure */
	const struct event *deny;     /* such a rule, if any */
	const struct event *doubt;    /* an accept that may admit a new connection */
	const struct event *admitted; /* the first rule that accepts for sure */
	const struct event *limited;  /* a reject of UFW's rate limit (`ufw limit`) */
	enum ufw_fate rec;            /* what UFW's records say (user.rules) */
	char rule[512];               /* the record's words */
};

/* A rule of UFW's rate-limit chain: it rejects past 6 connections in 30 s from one source,
 * which the evaluator cannot tell from a drop; not a refusal of the CDN as such. */
static bool limit_chain(const char *where)
{
	return strstr(where, " chain ufw-user-limit ") != NULL ||
	       strstr(where, " chain ufw6-user-limit ") != NULL;
}

/* Whether e is our own rule (see struct ours), whose ipset is missing or empty: then the
 * rule admits nothing, whatever the evaluator could not tell. */
static bool ours_empty(const struct ours *w, int f, const struct event *e)
{
	char at[96];

	if (w->handle[f] == 0 || w->entries[f] > 0)
		return false;
	snprintf(at, sizeof(at), "table %s filter chain ufw%s-before-input handle %llu",
		 fam_tag[f], f ? "6" : "", (unsigned long long)w->handle[f]);
	return strncmp(e->where, at, strlen(at)) == 0 &&
	       (e->where[strlen(at)] == '\0' || e->where[strlen(at)] == ' ');
}

/*
 * With no doubt about what accepts, a drop of a user rule (`ufw deny 443/tcp`) that the
 * evaluator called "maybe" only because an earlier accept was (UFW's RELATED,ESTABLISHED
 * one) is certain when its own match is: evaluated again alone, it joins v->refused.
 */
static int user_denies(struct ctx *c, int f, struct eval *ev, struct verdict *v)
{
	for (size_t i = 0; i < ev->n_ev; i++) {
		const struct event *e = &ev->ev[i];
		char fam[16], table[64], chain[64];
		struct nftnl_rule *r;
		struct nchain *ch;
		struct match m = {.verdict = V_NONE};
		int rc = 0;

		if (e->kind != EV_DROP || !e->maybe || limit_chain(e->where) ||
		    sscanf(e->where, "table %15s %63s chain %63s", fam, table, chain) != 3 ||
		    (strncmp(chain, "ufw-user-", 9) != 0 && strncmp(chain, "ufw6-user-", 10) != 0) ||
		    (r = rule_at(c->nft, e->where)) == NULL ||
		    (ch = nft_model_chain(c->nft, nfproto[f], table, chain)) == NULL)
			continue;
		if ((m.s = ranges_dup(e->s)) == NULL || nft_expr_match(ev, ch, r, &m) < 0)
			rc = -1;
		else if (!m.maybe && !m.none && m.verdict == NF_DROP && !fam_none(m.s)) {
			if (v->deny == NULL)
				v->deny = e;
			rc = fam_union(&v->refused, m.s);
		}
		ranges_free(m.s);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int read_events(struct ctx *c, int f, struct eval *ev, const struct ours *w,
		       struct verdict *v)
{
	char policy[64];

	snprintf(policy, sizeof(policy), "table %s filter chain INPUT (policy drop)", fam_tag[f]);
	for (size_t i = 0; i < ev->n_ev; i++) {
		const struct event *e = &ev->ev[i];
		struct nftnl_rule *r;

		if (limit_chain(e->where)) {
			if (e->kind == EV_DROP && v->limited == NULL)
				v->limited = e;
			continue;
		}
		if (e->kind == EV_ACCEPT && !e->maybe && v->admitted == NULL)
			v->admitted = e;
		if (e->kind == EV_ACCEPT && e->maybe && v->doubt == NULL && !ours_empty(w, f, e) &&
		    ((r = rule_at(c->nft, e->where)) == NULL || !only_established(r)))
			v->doubt = e;
		if (e->kind == EV_POLICY && strcmp(e->where, policy) == 0 &&
		    fam_union(&v->refused, e->s) < 0)
			return -1;
		if (e->kind == EV_DROP && !e->maybe && mgr_owner(c, e->where) == OWNER_UFW) {
			/* a user rule (`ufw deny`); UFW's own drops (default reject) are its policy */
			if (v->deny == NULL && (strstr(e->where, " chain ufw-user-") != NULL ||
						strstr(e->where, " chain ufw6-user-") != NULL))
				v->deny = e;
			if (fam_union(&v->refused, e->s) < 0)
				return -1;
		}
	}
	if (v->doubt == NULL && user_denies(c, f, ev, v) < 0)
		return -1;
	/* a sure accept of what still reaches the policy sat behind a jump that may not be
	 * taken: a doubt too */
	for (size_t i = 0; i < ev->n_ev && v->doubt == NULL; i++) {
		const struct event *e = &ev->ev[i];
		struct ranges *both = NULL;

		if (e->kind != EV_ACCEPT || e->maybe)
			continue;
		if (ranges_intersect(e->s, v->refused, &both) < 0)
			return -1;
		if (!fam_none(both))
			v->doubt = e;
		ranges_free(both);
	}
	return 0;
}

static void note_refused(struct ctx *c, const char *subj, uint16_t port, const struct verdict *v,
			 const struct ours *w, const char *missing, const char *dflt)
{
	char sm[400], fix[800], txt[1400] = "";

	fam_samples(v->refused, sm, sizeof(sm));
	if (missing != NULL)
		snprintf(fix, sizeof(fix),
			 "run `cdnallow sync --target %s` (cdnallow's ufw target: %s); until then "
			 "`ufw allow %u/tcp` opens it to everyone",
			 w->target, missing, port);
	else
		mgr_fix(c, OWNER_UFW, v->deny == NULL, port, fix, sizeof(fix));
	if (v->deny != NULL)
		snprintf(txt, sizeof(txt), "a UFW rule drops it (%s: \"%s\"%s%s%s)", v->deny->where,
			 v->deny->desc, v->rec == UFW_DENY ? "; UFW rule `" : "",
			 v->rec == UFW_DENY ? v->rule : "", v->rec == UFW_DENY ? "`" : "");
	else
		snprintf(txt, sizeof(txt), "UFW's default policy drops it (%s incoming%s%s%s)",
			 strcmp(dflt, "REJECT") == 0 ? "reject" : "deny",
			 dflt[0] ? ": DEFAULT_INPUT_POLICY=\"" : "", dflt, dflt[0] ? "\"" : "");
	if (v->doubt != NULL)
		doctor_note(c, DOCTOR_WARNING, "ufw", subj, fix,
			    "CDN connections to port %u may be refused: %s unless %s: \"%s\" "
			    "admits them (not fully understood); CDN ranges: %s",
			    port, txt, v->doubt->where, v->doubt->desc, sm);
	else
		doctor_note(c, DOCTOR_ERROR, "ufw", subj, fix,
			    "UFW refuses CDN connections to port %u: %s, and %s; CDN ranges "
			    "refused: %s",
			    port, txt,
			    v->admitted != NULL ? "only part of the CDN is accepted before it"
			    : w->target != NULL ? "cdnallow's ufw target does not admit them"
						: "no UFW rule accepts them (no cdnallow ufw target)",
			    sm);
}

/* Only UFW's rate limit may refuse the CDN: a warning, in the words of its record. */
static void note_limited(struct ctx *c, const char *subj, const struct verdict *v)
{
	char what[700];

	if (v->rec == UFW_LIMIT)
		snprintf(what, sizeof(what), "rule `%s`", v->rule);
	else
		snprintf(what, sizeof(what), "%s: \"%s\"", v->limited->where, v->limited->desc);
	doctor_note(c, DOCTOR_WARNING, "ufw", subj, UFW_LIMIT_FIX, "UFW allows it%s (%s)%s",
		    v->rec == UFW_LIMIT && ufw_record_anyone(v->rule) ? " to everyone" : "", what,
		    UFW_LIMIT_WHY);
}

static int ufw_port(struct ctx *c, int f, uint16_t port, const struct ranges *from,
		    const struct ours *w, const char *dflt)
{
	struct eval ev = {.c = c, .n = c->nft, .fam = f ? CDA_AF_INET6 : CDA_AF_INET, .port = port};
	struct verdict v = {0};
	struct ranges *alive = NULL;
	char subj[64], why[256];
	const char *missing = NULL;
	bool readable;
	int rc = -1;

	snprintf(subj, sizeof(subj), "port %u %s", port, f ? "IPv6" : "IPv4");
	if (w->target != NULL && ufw_target(c, port) != NULL) {
		missing = ours_missing(w, f, why, sizeof(why));
		if (missing == NULL)
			return doctor_note(c, DOCTOR_OK, "ufw", subj, NULL,
					   "UFW admits the CDN through cdnallow's ipset %s (%ld "
					   "entries, target %s, rule in ufw%s-before-input)",
					   w->set[f], w->entries[f], w->target, f ? "6" : "");
	}
	if ((v.refused = ranges_new()) == NULL || nft_eval_path(&ev, from, &alive) < 0 ||
	    read_events(c, f, &ev, w, &v) < 0)
		goto out;
	v.rec = ufw_record(c, ev.fam, port, from, v.rule, sizeof(v.rule), &readable);
	if (!fam_none(v.refused))
		note_refused(c, subj, port, &v, w, missing, dflt);
	else if (v.limited != NULL || v.rec == UFW_LIMIT)
		note_limited(c, subj, &v);
	else if (v.admitted != NULL) {
		if (v.rec == UFW_ALLOW)
			snprintf(why, sizeof(why), "; UFW allows it%s (rule `%.80s`)",
				 ufw_record_anyone(v.rule) ? " to everyone" : "", v.rule);
		else
			why[0] = '\0';
		doctor_note(c, DOCTOR_OK, "ufw", subj, NULL, "UFW admits the CDN: %s: \"%s\"%s",
			    v.admitted->where, v.admitted->desc, why);
	}
	rc = c->oom ? -1 : 0;
out:
	ranges_free(v.refused);
	ranges_free(alive);
	nft_eval_finish(&ev);
	return rc;
}

/* One family: UFW's chains there, its policy, then each port. */
static int ufw_family(struct ctx *c, int f, const struct ours *w, const char *dflt)
{
	struct nchain *input = nft_model_chain(c->nft, nfproto[f], "filter", "INPUT");
	struct ranges *from;
	int rc = 0;

	if (nft_model_chain(c->nft, nfproto[f], "filter", f ? "ufw6-before-input"
							     : "ufw-before-input") == NULL ||
	    input == NULL || !c->have_cdn)
		return 0;
	/* `ufw disable` leaves its chains, emptied, behind an accept policy: nothing of UFW's */
	if (input->policy == NF_ACCEPT && c->mgr.ufw_disabled)
		return 0;
	if (input->policy == NF_ACCEPT)
		return doctor_note(c, DOCTOR_OK, "ufw", f ? "IPv6" : "IPv4", NULL,
				   "UFW allows incoming connections by default (INPUT policy "
				   "accept)");
	if ((from = fam_only(c->cdn, f ? CDA_AF_INET6 : CDA_AF_INET)) == NULL)
		return -1;
	c->mgr.ufw_judged[f] = true;
	for (size_t i = 0; i < c->n_ports && !fam_none(from) && rc == 0; i++)
		rc = ufw_port(c, f, c->ports[i], from, w, dflt);
	ranges_free(from);
	return rc;
}

int check_ufw(struct ctx *c)
{
	char dflt[32] = "";
	struct ours w;
	bool ipv6;

	if (!c->mgr.ufw) {
		if (c->mgr.ufw_enabled && c->nft == NULL)
			return ufw_files_verdict(c);
		if (c->mgr.ufw_enabled)
			doctor_note(c, DOCTOR_WARNING, "ufw", NULL,
				    "`ufw reload` (or `ufw enable`); `ufw status verbose` shows "
				    "what UFW thinks",
				    "%s/ufw.conf says ENABLED=yes but UFW's chains are not in the "
				    "nftables ruleset (not started, or on iptables-legacy)",
				    c->mgr.ufw_dir);
		return 0;
	}
	ufw_defaults(c, dflt, sizeof(dflt), &ipv6);
	ours_read(c, &w);
	for (int f = 0; f < (ipv6 ? 2 : 1); f++)
		if (ufw_family(c, f, &w, dflt) < 0)
			return -1;
	return 0;
}
