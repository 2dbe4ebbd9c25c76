// SPDX-License-Identifier: MIT
/* Checks on nft sets: ours hold the lists and a rule uses them; ban-style sets hold no CDN. */
#include "checks.h"

#include <stdio.h>
#include <string.h>

#include <linux/netfilter/nf_tables.h>

#include "config.h"
#include "nft_model.h"
#include "ranges.h"

/* Our set o of target tc is not in the ruleset. */
static void note_missing(struct ctx *c, const struct target_config *tc, const struct own_set *o,
			 const char *subj)
{
	const char *cv = target_get(tc, "create");
	bool create = true;
	char fix[700];

	if (cv != NULL)
		config_parse_bool(cv, &create);
	if (create)
		snprintf(
			fix, sizeof(fix),
			"run `cdnallow sync --target %s` (or `cdnallow restore` offline); at boot, "
			"restore before the web server starts",
			tc->name);
	else
		snprintf(fix, sizeof(fix),
			 "define the set in table %s %s (type %s; flags interval;) and run "
			 "`cdnallow sync --target %s`",
			 nft_model_family(o->nfproto), o->table,
			 o->fam == CDA_AF_INET ? "ipv4_addr" : "ipv6_addr", tc->name);
	doctor_note(c, DOCTOR_ERROR, "sets", subj, fix,
		    "set does not exist (target %s): nothing allows the CDN's %s ranges", tc->name,
		    fam_name(o->fam));
}

/* What set o holds (have, non-empty) against the lists (want, both families). */
static int compare(struct ctx *c, const struct target_config *tc, const struct own_set *o,
		   const char *subj, const struct ranges *have, const struct ranges *want)
{
	struct ranges *wf = NULL, *miss = NULL, *extra = NULL;
	char fix[700], sm[400];
	int rc = -1;

	if ((wf = fam_only(want, o->fam)) == NULL || ranges_subtract(wf, have, &miss) < 0 ||
	    ranges_subtract(have, wf, &extra) < 0)
		goto out;
	if (!fam_none(miss)) {
		fam_samples(miss, sm, sizeof(sm));
		snprintf(fix, sizeof(fix), "run `cdnallow sync --target %s`", tc->name);
		doctor_note(c, DOCTOR_ERROR, "sets", subj, fix,
			    "set lacks %zu %s ranges of the last known good lists: %s",
			    ranges_cidr_count(miss, o->fam), fam_name(o->fam), sm);
	}
	if (!fam_none(extra)) {
		fam_samples(extra, sm, sizeof(sm));
		doctor_note(c, c->cfg->keep_withdrawn > 0 ? DOCTOR_INFO : DOCTOR_WARNING, "sets",
			    subj,
			    "run `cdnallow sync` (addresses no longer published may belong to "
			    "someone else now)",
			    "set holds %zu %s ranges that are not in the current lists: %s",
			    ranges_cidr_count(extra, o->fam), fam_name(o->fam), sm);
	}
	if (fam_none(miss) && fam_none(extra))
		doctor_note(c, DOCTOR_OK, "sets", subj, NULL,
			    "set holds the current list (%zu %s prefixes)",
			    ranges_cidr_count(have, o->fam), fam_name(o->fam));
	rc = 0;
out:
	ranges_free(wf);
	ranges_free(miss);
	ranges_free(extra);
	return rc;
}

/* One of our sets: there, of the right type, not empty, holding the lists. */
static int check_one(struct ctx *c, const struct target_config *tc, const struct own_set *o,
		     const struct ranges *want, bool want_known)
{
	struct nset *s = nft_model_set(c->nft, o->nfproto, o->table, o->name);
	uint32_t ktype = o->fam == CDA_AF_INET ? 7 : 8;
	struct ranges *have;
	char subj[600];
	int rc = 0;

	snprintf(subj, sizeof(subj), "%s %s %s", nft_model_family(o->nfproto), o->table, o->name);
	if (s == NULL) {
		note_missing(c, tc, o, subj);
		return 0;
	}
	if (s->ktype != ktype || !(s->flags & NFT_SET_INTERVAL)) {
		doctor_note(c, DOCTOR_ERROR, "sets", subj,
			    "recreate it as `type ipv4_addr; flags interval;` (or ipv6_addr)",
			    "set has the wrong type or lacks `flags interval` (key type %u)",
			    s->ktype);
		return 0;
	}
	if (nft_model_set_load(&c->nft->conn, s) < 0)
		return -1;
	if (s->broken || s->elems == NULL) {
		doctor_note(c, DOCTOR_WARNING, "sets", subj, NULL,
			    "could not read the set's elements");
		return 0;
	}
	if ((have = fam_only(s->elems, o->fam)) == NULL)
		return -1;
	if (fam_none(have))
		doctor_note(c, DOCTOR_ERROR, "sets", subj,
			    "run `cdnallow sync` (or `cdnallow restore` offline)",
			    "set is empty: every rule using it refuses the CDN");
	else if (!want_known)
		doctor_note(c, DOCTOR_INFO, "sets", subj, NULL,
			    "set holds %zu %s ranges; no last known good list to compare with",
			    fam_count(have, o->fam), fam_name(o->fam));
	else
		rc = compare(c, tc, o, subj, have, want);
	ranges_free(have);
	return rc;
}

int check_sets_target(struct ctx *c, const struct target_config *tc, const struct ranges *want,
		      bool want_known)
{
	for (size_t i = 0; i < c->n_own; i++)
		if (strcmp(c->own[i].target, tc->name) == 0 &&
		    check_one(c, tc, &c->own[i], want, want_known) < 0)
			return -1;
	return 0;
}

/* How to put an unused set of ours to work, in the words of the host's firewall manager. */
static const char *unused_fix(const struct ctx *c)
{
	if (c->mgr.ufw)
		return "UFW's drop is final whatever another table accepts: set `backend = ufw` "
		       "in cdnallow.conf (see cdnallow.conf(5)), which puts the lists in UFW's "
		       "own before rules";
	if (c->mgr.firewalld)
		return "firewalld's zone decides what comes in: set `backend = firewalld` in "
		       "cdnallow.conf (see cdnallow.conf(5)), which admits the lists with a rich "
		       "rule in the zone";
	return "reference it from the table that holds your input policy, e.g. "
	       "`tcp dport { 80, 443 } ip saddr @allow_v4 accept` before any drop "
	       "(an accept in another table does not override a drop)";
}

int check_sets_use(struct ctx *c)
{
	struct nft_model *n = c->nft;

	if (n == NULL)
		return 0;
	nft_model_reach(n);
	for (size_t i = 0; i < c->n_own; i++) {
		struct own_set *o = &c->own[i];
		char subj[600];
		bool used, in_drop;

		if (nft_model_set(n, o->nfproto, o->table, o->name) == NULL)
			continue;
		snprintf(subj, sizeof(subj), "%s %s %s", nft_model_family(o->nfproto), o->table,
			 o->name);
		nft_model_set_refs(n, o->nfproto, o->table, o->name, &used, &in_drop);
		if (!used)
			doctor_note(
				c, DOCTOR_WARNING, "rules", subj, unused_fix(c),
				"no rule on the prerouting or input hook uses this set: cdnallow "
				"keeps "
				"it current but it allows nothing");
		else
			doctor_note(c, DOCTOR_OK, "rules", subj, NULL,
				    "set is used by a rule on the input path");
	}
	return 0;
}

/* nft sets that hold CDN addresses and look like ban lists (or feed drop rules). */
int check_sets_bans(struct ctx *c)
{
	struct nft_model *n = c->nft;

	if (n == NULL || !c->have_cdn)
		return 0;
	for (size_t i = 0; i < n->n_sets; i++) {
		struct nset *s = &n->sets[i];
		int fam = s->ktype == 7 ? CDA_AF_INET : s->ktype == 8 ? CDA_AF_INET6 : 0;
		struct ranges *cf = NULL, *hit = NULL;
		bool used, in_drop;
		char subj[600], sm[400], fix[800];

		if (fam == 0 || (s->flags & NFT_SET_ANONYMOUS) ||
		    doctor_is_own(c, s->family, s->table, s->name))
			continue;
		nft_model_set_refs(n, s->family, s->table, s->name, &used, &in_drop);
		if (!check_bans_named(s->name) && !in_drop)
			continue;
		if (nft_model_set_load(&n->conn, s) < 0)
			return -1;
		if (s->broken || s->elems == NULL)
			continue;
		if ((cf = fam_only(c->cdn, fam)) == NULL ||
		    ranges_intersect(s->elems, cf, &hit) < 0) {
			ranges_free(cf);
			return -1;
		}
		snprintf(subj, sizeof(subj), "%s %s %s", nft_model_family(s->family), s->table,
			 s->name);
		if (!fam_none(hit)) {
			fam_samples(hit, sm, sizeof(sm));
			if (strcmp(s->table, "firewalld") == 0) /* firewalld's own ipset */
				snprintf(fix, sizeof(fix),
					 "firewall-cmd --permanent --ipset=%s --remove-entry=ADDRESS "
					 "&& firewall-cmd --reload, and stop the tool that feeds it "
					 "from banning CDN addresses (ban the client IP from "
					 "CF-Connecting-IP instead)",
					 s->name);
			else
				snprintf(fix, sizeof(fix),
					 "nft delete element %s %s %s { ADDRESS }, and stop the tool "
					 "that feeds it from banning CDN addresses (ban the client IP "
					 "from CF-Connecting-IP instead)",
					 nft_model_family(s->family), s->table, s->name);
			doctor_note(c, DOCTOR_WARNING, "bans", subj, fix,
				    "ban-style set holds CDN addresses: %s", sm);
		} else {
			doctor_note(c, DOCTOR_OK, "bans", subj, NULL, "holds no CDN address");
		}
		ranges_free(cf);
		ranges_free(hit);
	}
	return 0;
}
