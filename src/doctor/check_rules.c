// SPDX-License-Identifier: MIT
/* Checks on the rules: CDN traffic to each origin port, each --ip, legacy iptables tables. */
#include "checks.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "nft_eval.h"
#include "nft_model.h"
#include "ranges.h"

static void event_text(const struct event *e, char *buf, size_t size)
{
	if (e->desc[0] != '\0')
		snprintf(buf, size, "%s: \"%s\"", e->where, e->desc);
	else
		snprintf(buf, size, "%s", e->where);
}

/*
 * A drop in a table a firewall manager owns: the fix in that manager's words (an nft rule
 * added to its table would be gone at its next reload). True when the finding was made.
 */
static bool manager_fix(struct ctx *c, const struct event *e, enum doctor_severity sev,
			const char *subj, const char *sm, const char *txt)
{
	bool ufw = c->ufw && (strstr(e->where, " filter chain ufw") != NULL ||
			      strstr(e->where, " filter chain INPUT") != NULL);
	bool fwd = strstr(e->where, "table inet firewalld ") != NULL;

	if (!ufw && !fwd)
		return false;
	doctor_note(c, sev, "rules", subj,
		    ufw ? "UFW owns that chain: add a target with `backend = ufw` (cdnallow.conf(5)), "
			  "or `ufw allow PORT/tcp` to open the port to everyone"
			: "firewalld owns that table: add a target with `backend = firewalld` "
			  "(cdnallow.conf(5)), or `firewall-cmd --permanent --add-service=https` "
			  "then `firewall-cmd --reload` to open the port to everyone",
		    "%s %s CDN ranges: %s", txt,
		    e->kind == EV_POLICY ? (e->maybe ? "may be reached by" : "is reached by")
		    : e->maybe	       ? "may drop"
				       : "drops",
		    sm);
	return true;
}

/* A finding for a rule or policy that drops (or may drop) some of the CDN's packets. */
static void note_drop(struct ctx *c, const char *subj, const struct event *e)
{
	enum doctor_severity sev = e->maybe ? DOCTOR_WARNING : DOCTOR_ERROR;
	char txt[700], sm[400];

	fam_samples(e->s, sm, sizeof(sm));
	event_text(e, txt, sizeof(txt));
	if (manager_fix(c, e, sev, subj, sm, txt))
		return;
	if (e->kind == EV_POLICY)
		doctor_note(c, sev, "rules", subj,
			    "accept the CDN sets before the policy applies: in this chain add "
			    "`tcp dport { 80, 443 } ip saddr @SET accept` (the sets must be in the "
			    "same table: `table = ` with `create = no`)",
			    "%sCDN ranges reach the drop policy of %s: %s", e->maybe ? "some " : "",
			    e->where, sm);
	else
		doctor_note(
			c, sev, "rules", subj,
			"remove the CDN addresses from that rule, or accept the CDN sets before "
			"it (`nft -a list ruleset` shows handles)",
			"%s %s CDN ranges: %s", txt, e->maybe ? "may drop" : "drops", sm);
}

/* The CDN's packets (from, family fam) to port: what drops them, or that they pass. */
static int cdn_path(struct ctx *c, int fam, uint16_t port, const char *subj,
		    const struct ranges *from)
{
	struct eval ev = {.c = c, .n = c->nft, .fam = fam, .port = port};
	struct ranges *alive = NULL;
	size_t nproblems = 0;
	bool ours = false;

	if (nft_eval_path(&ev, from, &alive) < 0) {
		nft_eval_finish(&ev);
		return -1;
	}
	for (size_t i = 0; i < ev.n_ev; i++) {
		if (strstr(ev.ev[i].desc, "dport") != NULL)
			for (size_t pi = 0; pi < c->n_ports; pi++)
				c->port_ruled[pi] |= c->ports[pi] == port;
		if (ev.ev[i].kind == EV_ACCEPT) {
			ours |= ev.ev[i].ours;
			continue;
		}
		nproblems++;
		note_drop(c, subj, &ev.ev[i]);
	}
	if (nproblems == 0 && !fam_none(alive))
		doctor_note(c, DOCTOR_OK, "rules", subj, NULL,
			    "CDN connections pass every prerouting and input chain%s",
			    ours ? " (accepted through cdnallow's set)" : "");
	ranges_free(alive);
	nft_eval_finish(&ev);
	return 0;
}

/* Everyone else's packets to port: is the origin locked to the CDN? */
static int lock_path(struct ctx *c, int fam, uint16_t port, const char *subj,
		     const struct ranges *from)
{
	struct eval ev = {.c = c, .n = c->nft, .fam = fam, .port = port};
	struct ranges *all = ranges_new(), *rest = NULL, *alive = NULL;
	int rc = -1;

	if (all == NULL || fam_add(all, fam, 0, fam_max(fam)) < 0 ||
	    ranges_subtract(all, from, &rest) < 0 || nft_eval_path(&ev, rest, &alive) < 0)
		goto out;
	/* only what is accepted for sure: a maybe-drop may be the lock */
	for (size_t i = 0; i < ev.n_ev; i++)
		if (ev.ev[i].kind != EV_ACCEPT && fam_minus(&alive, ev.ev[i].s) < 0)
			goto out;
	if (!fam_none(alive))
		doctor_note(c, DOCTOR_INFO, "rules", subj,
			    "drop other sources on the origin ports after accepting the CDN sets "
			    "(an origin lock)",
			    "non-CDN addresses can reach the origin directly, bypassing the CDN");
	rc = 0;
out:
	ranges_free(all);
	ranges_free(rest);
	ranges_free(alive);
	nft_eval_finish(&ev);
	return rc;
}

int check_rules(struct ctx *c)
{
	static const int fams[] = {CDA_AF_INET, CDA_AF_INET6};

	if (c->nft == NULL)
		return 0;
	if (!c->have_cdn) {
		doctor_note(c, DOCTOR_WARNING, "rules", NULL, "run `cdnallow sync`",
			    "no CDN list is known (empty state dir): the ruleset was not evaluated "
			    "for CDN traffic");
		return 0;
	}
	for (size_t pi = 0; pi < c->n_ports; pi++) {
		for (int fi = 0; fi < 2; fi++) {
			struct ranges *from = fam_only(c->cdn, fams[fi]);
			char subj[64];
			int rc = 0;

			if (from == NULL)
				return -1;
			snprintf(subj, sizeof(subj), "port %u %s", c->ports[pi],
				 fam_name(fams[fi]));
			if (!fam_none(from) &&
			    (cdn_path(c, fams[fi], c->ports[pi], subj, from) < 0 ||
			     lock_path(c, fams[fi], c->ports[pi], subj, from) < 0))
				rc = -1;
			ranges_free(from);
			if (rc < 0)
				return -1;
		}
	}
	return 0;
}

static int trace_ip(struct ctx *c, struct nft_model *n, const char *text, const struct cidr *a)
{
	int fam = a->family;
	bool in_cdn = c->have_cdn && ranges_contains(c->cdn, fam, a->addr);

	for (size_t pi = 0; pi < c->n_ports; pi++) {
		struct eval ev = {.c = c, .n = n, .fam = fam, .port = c->ports[pi]};
		struct ranges *from = ranges_new(), *alive = NULL;
		char subj[128], txt[700];
		const struct event *drop = NULL, *acc = NULL;

		if (from == NULL || fam_add(from, fam, a->addr, a->addr) < 0) {
			ranges_free(from);
			return -1;
		}
		ranges_normalize(from);
		snprintf(subj, sizeof(subj), "%s to port %u", text, c->ports[pi]);
		if (nft_eval_path(&ev, from, &alive) < 0) {
			ranges_free(from);
			nft_eval_finish(&ev);
			return -1;
		}
		for (size_t i = 0; i < ev.n_ev; i++) {
			if (ev.ev[i].kind != EV_ACCEPT && drop == NULL)
				drop = &ev.ev[i];
			if (ev.ev[i].kind == EV_ACCEPT && !ev.ev[i].maybe && acc == NULL)
				acc = &ev.ev[i];
		}
		if (drop != NULL) {
			event_text(drop, txt, sizeof(txt));
			doctor_note(c,
				    !in_cdn       ? DOCTOR_INFO
				    : drop->maybe ? DOCTOR_WARNING
						  : DOCTOR_ERROR,
				    "ip", subj,
				    in_cdn ? "accept the CDN sets before that rule" : NULL,
				    "%s by %s%s", drop->maybe ? "may be dropped" : "dropped", txt,
				    in_cdn        ? " (it is in the CDN lists)"
				    : c->have_cdn ? " (not in the CDN lists)"
						  : "");
		} else if (acc != NULL) {
			event_text(acc, txt, sizeof(txt));
			doctor_note(c, DOCTOR_OK, "ip", subj, NULL, "accepted by %s%s%s", txt,
				    acc->ours ? " (cdnallow's set)" : "",
				    in_cdn || !c->have_cdn ? "" : "; not in the CDN lists");
		} else {
			doctor_note(c, DOCTOR_OK, "ip", subj, NULL,
				    "no rule decides it: accepted by the chain policies%s",
				    in_cdn || !c->have_cdn ? "" : "; not in the CDN lists");
		}
		ranges_free(from);
		ranges_free(alive);
		nft_eval_finish(&ev);
	}
	return 0;
}

int check_rules_ips(struct ctx *c)
{
	for (size_t i = 0; c->nft != NULL && i < c->n_ips; i++)
		if (trace_ip(c, c->nft, c->o->ips[i], &c->ips[i]) < 0)
			return -1;
	return 0;
}

int check_rules_legacy(struct ctx *c)
{
	char path[PATH_MAX];
	const char *pn = c->o->proc_net ? c->o->proc_net : "/proc/net";
	const char *files[] = {"ip_tables_names", "ip6_tables_names"};

	for (int i = 0; i < 2; i++) {
		char line[64] = "";
		FILE *fp;

		snprintf(path, sizeof(path), "%s/%s", pn, files[i]);
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		if (fgets(line, sizeof(line), fp) != NULL && line[0] != '\0')
			doctor_note(c, DOCTOR_WARNING, "rules",
				    i ? "ip6tables-legacy" : "iptables-legacy",
				    "inspect `iptables-legacy-save`/`ip6tables-legacy-save` by "
				    "hand, or "
				    "move to iptables-nft",
				    "legacy %s tables are loaded (%.*s): their rules also filter "
				    "traffic "
				    "and are not evaluated here",
				    i ? "ip6tables" : "iptables", (int)strcspn(line, "\n"), line);
		fclose(fp);
	}
	return 0;
}
