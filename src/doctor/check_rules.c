// SPDX-License-Identifier: MIT
/* Checks on the rules: CDN traffic to each origin port, each --ip, legacy iptables tables. */
#include "checks.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "legacy.h"
#include "nft_eval.h"
#include "nft_model.h"
#include "ranges.h"
#include "cda_error.h"
#include "subproc.h"

static void event_text(const struct event *e, char *buf, size_t size)
{
	if (e->desc[0] != '\0')
		snprintf(buf, size, "%s: \"%s\"", e->where, e->desc);
	else
		snprintf(buf, size, "%s", e->where);
}

/* " unless one of these accepts them (not modelled): WHERE, WHERE" for the maybe-accepts before
 * event i; "" when none. */
static void unsure_before(const struct eval *ev, size_t i, char *buf, size_t size)
{
	size_t off = 0, n = 0;

	buf[0] = '\0';
	for (size_t j = 0; j < i && off + 1 < size; j++) {
		const struct event *a = &ev->ev[j];
		int w;

		if (!a->maybe || (a->kind != EV_ACCEPT && !a->unknown))
			continue;
		w = snprintf(buf + off, size - off, "%s%s: \"%s\"",
			     n++ ? "; " : " unless one of these rules accepts them (not modelled): ",
			     a->where, a->desc);
		off += w > 0 ? (size_t)w : 0;
	}
	if (off >= size && size > 4)
		snprintf(buf + size - 4, 4, "...");
}

/* A finding for a rule or policy that drops (or may drop) some of the CDN's packets to port;
 * the fix in the words of the manager that owns the chain. A drop behind unsure rules only
 * is an error naming them: nothing modelled accepts the CDN before it. */
static void note_drop(struct ctx *c, const char *subj, uint16_t port, const struct eval *ev,
		      size_t i)
{
	const struct event *e = &ev->ev[i];
	enum doctor_severity sev = e->maybe && !e->behind ? DOCTOR_WARNING : DOCTOR_ERROR;
	char unless[900];
	enum owner own = mgr_owner(c, e->where);
	char txt[700], sm[400], fix[700], by[32] = "";

	fam_samples(e->s, sm, sizeof(sm));
	event_text(e, txt, sizeof(txt));
	unless[0] = '\0';
	if (e->behind)
		unsure_before(ev, i, unless, sizeof(unless));
	if (ev->l4 == 17) /* the managers' fixes are for TCP ports */
		snprintf(fix, sizeof(fix), "accept the CDN on UDP port %u before that %s", port,
			 e->kind == EV_POLICY ? "policy" : "rule");
	else
		mgr_fix(c, own, e->kind == EV_POLICY, port, fix, sizeof(fix));
	if (own != OWNER_ADMIN && own != OWNER_CDNALLOW)
		snprintf(by, sizeof(by), " (%s's)", mgr_name(own));
	if (e->kind == EV_POLICY)
		doctor_note(c, sev, "rules", subj, fix,
			    "%sCDN ranges reach the drop policy of %s%s: %s%s",
			    e->maybe && !e->behind ? "some " : "", e->where, by, sm, unless);
	else
		doctor_note(c, sev, "rules", subj, fix, "%s%s %s CDN ranges: %s%s", txt, by,
			    e->maybe && !e->behind ? "may drop" : "drops", sm, unless);
}

/* The CDN's packets (from, family fam) to port: what drops them, or that they pass. */
static int cdn_path(struct ctx *c, int fam, uint16_t port, uint8_t l4, const char *subj,
		    const struct ranges *from)
{
	struct eval ev = {.c = c, .n = c->nft, .fam = fam, .port = port, .l4 = l4};
	struct ranges *alive = NULL;
	size_t nproblems = 0;
	bool ours = false;

	if (nft_eval_path(&ev, from, &alive) < 0) {
		nft_eval_finish(&ev);
		return -1;
	}
	for (size_t i = 0; i < ev.n_ev; i++) {
		enum owner own = mgr_owner(c, ev.ev[i].where);

		if (ev.ev[i].kind == EV_ACCEPT) {
			ours |= ev.ev[i].ours;
			continue;
		}
		nproblems++;
		/* check_ufw or check_firewalld said it in the manager's words; firewalld's
		 * rich rules that drop (its _deny chains) are not part of what it judged */
		if ((own == OWNER_UFW && c->mgr.ufw_judged[fam == CDA_AF_INET6]) ||
		    (own == OWNER_FIREWALLD && c->mgr.fwd_judged &&
		     strstr(ev.ev[i].where, "_deny handle ") == NULL))
			continue;
		note_drop(c, subj, port, &ev, i);
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
static int lock_path(struct ctx *c, int fam, uint16_t port, uint8_t l4, const char *subj,
		     const struct ranges *from)
{
	struct eval ev = {.c = c, .n = c->nft, .fam = fam, .port = port, .l4 = l4};
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
	for (size_t pi = 0; pi < c->n_ports + c->n_udp; pi++) {
		bool udp = pi >= c->n_ports;
		uint16_t port = udp ? c->udp_ports[pi - c->n_ports] : c->ports[pi];

		for (int fi = 0; fi < 2; fi++) {
			struct ranges *from = fam_only(c->cdn, fams[fi]);
			char subj[64];
			int rc = 0;

			if (from == NULL)
				return -1;
			snprintf(subj, sizeof(subj), "port %u%s %s", port, udp ? "/udp" : "",
				 fam_name(fams[fi]));
			if (!fam_none(from) &&
			    (cdn_path(c, fams[fi], port, udp ? 17 : 6, subj, from) < 0 ||
			     lock_path(c, fams[fi], port, udp ? 17 : 6, subj, from) < 0))
				rc = -1;
			ranges_free(from);
			if (rc < 0)
				return -1;
		}
	}
	return 0;
}

/* The finding for one traced address (in_cdn: in the CDN lists) from its evaluation. A drop
 * only a rate or history match makes uncertain does not decide: the connection passes until
 * the source exceeds it, which the finding says. */
static void trace_note(struct ctx *c, const struct eval *ev, const char *subj, uint16_t port,
		       bool in_cdn, const struct legacy_verdict *lv)
{
	const struct event *drop = NULL, *acc = NULL, *rate = NULL;
	const char *tail = in_cdn || !c->have_cdn ? "" : "; not in the CDN lists";
	char txt[700], fix[700], unless[900] = "", rtxt[760] = "", ltxt[340] = "";
	size_t di = 0;

	for (size_t i = 0; i < ev->n_ev; i++) {
		const struct event *e = &ev->ev[i];

		if (e->kind != EV_ACCEPT && e->rate && rate == NULL)
			rate = e;
		else if (e->kind != EV_ACCEPT && !e->rate && drop == NULL)
			drop = e, di = i;
		if (e->kind == EV_ACCEPT && !e->maybe && acc == NULL)
			acc = e;
	}
	if (rate != NULL) {
		event_text(rate, txt, sizeof(txt));
		snprintf(rtxt, sizeof(rtxt), "; a source past its rate is dropped by %s", txt);
	}
	if (lv != NULL && lv->res == LEGACY_PASS && lv->rule[0] != '\0')
		snprintf(ltxt, sizeof(ltxt), "; iptables-legacy accepts it: `%s`", lv->rule);
	if ((drop == NULL || drop->maybe) && lv != NULL && lv->res != LEGACY_PASS &&
	    (lv->res == LEGACY_DROP || drop == NULL)) {
		doctor_note(c,
			    !in_cdn			  ? DOCTOR_INFO
			    : lv->res == LEGACY_MAYBE ? DOCTOR_WARNING
						  : DOCTOR_ERROR,
			    "ip", subj, in_cdn ? "accept the CDN in iptables-legacy's INPUT chain"
					       : NULL,
			    "%s by iptables-legacy: `%s`%s",
			    lv->res == LEGACY_MAYBE ? "may be dropped" : "dropped", lv->rule,
			    in_cdn	  ? " (it is in the CDN lists)"
			    : c->have_cdn ? " (not in the CDN lists)"
					  : "");
		return;
	}
	if (drop != NULL) {
		enum owner own = mgr_owner(c, drop->where);

		event_text(drop, txt, sizeof(txt));
		if (own == OWNER_ADMIN || own == OWNER_CDNALLOW || ev->l4 == 17)
			snprintf(fix, sizeof(fix), "accept the CDN sets before that rule");
		else
			mgr_fix(c, own, drop->kind == EV_POLICY, port, fix, sizeof(fix));
		if (drop->behind)
			unsure_before(ev, di, unless, sizeof(unless));
		doctor_note(c,
			    !in_cdn			  ? DOCTOR_INFO
			    : drop->maybe && !drop->behind ? DOCTOR_WARNING
							   : DOCTOR_ERROR,
			    "ip", subj, in_cdn ? fix : NULL, "%s by %s%s%s",
			    drop->maybe ? "may be dropped" : "dropped", txt, unless,
			    in_cdn	  ? " (it is in the CDN lists)"
			    : c->have_cdn ? " (not in the CDN lists)"
					  : "");
	} else if (acc != NULL) {
		event_text(acc, txt, sizeof(txt));
		doctor_note(c, DOCTOR_OK, "ip", subj, NULL, "accepted by %s%s%s%s%s", txt,
			    acc->ours ? " (cdnallow's set)" : "", rtxt, ltxt, tail);
	} else {
		doctor_note(c, DOCTOR_OK, "ip", subj, NULL,
			    "no rule decides it: accepted by the chain policies%s%s%s", rtxt, ltxt,
			    tail);
	}
}

/* Read iptables-legacy's filter tables once, for the families that have one loaded. */
static void legacy_read(struct ctx *c)
{
	static const char *const names[] = {"ip_tables_names", "ip6_tables_names"};
	static const char *const cmds[] = {"iptables-legacy-save", "ip6tables-legacy-save"};
	const char *pn = c->o->proc_net ? c->o->proc_net : "/proc/net";

	c->legacy_tried = true;
	for (int i = 0; i < 2; i++) {
		char path[PATH_MAX], line[64];
		char *argv[] = {(char *)cmds[i], "-t", "filter", NULL};
		struct subproc_opts o = {.argv = argv, .timeout = 5};
		struct cda_error e = {0};
		struct subproc_out r;
		bool filter = false;
		FILE *fp;

		snprintf(path, sizeof(path), "%s/%s", pn, names[i]);
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), fp) != NULL)
			filter |= strcmp(line, "filter\n") == 0;
		fclose(fp);
		if (!filter || subproc_exec(&o, &r, &e) < 0)
			continue;
		if (r.status == 0) {
			c->legacy[i] = r.out;
			r.out = NULL;
		}
		subproc_out_finish(&r);
	}
}

/* a's fate to port (protocol l4) in iptables-legacy's filter table: 1 (*lv filled), 0 none loaded, -1
 * ENOMEM. */
static int legacy_trace(struct ctx *c, const struct cidr *a, uint16_t port, uint8_t l4,
			struct legacy_verdict *lv)
{
	struct legacy_probe p = {.fam = a->family, .addr = a->addr, .port = port, .l4 = l4};
	const char *save;

	if (!c->legacy_tried)
		legacy_read(c);
	save = c->legacy[a->family == CDA_AF_INET ? 0 : 1];
	if (save == NULL)
		return 0;
	return legacy_eval(save, &p, lv) < 0 ? -1 : 1;
}

static int trace_ip(struct ctx *c, struct nft_model *n, const char *text, const struct cidr *a)
{
	int fam = a->family;
	bool in_cdn = c->have_cdn && ranges_contains(c->cdn, fam, a->addr);

	for (size_t pi = 0; pi < c->n_ports + c->n_udp; pi++) {
		bool udp = pi >= c->n_ports;
		uint16_t port = udp ? c->udp_ports[pi - c->n_ports] : c->ports[pi];
		struct eval ev = {.c = c, .n = n, .fam = fam, .port = port, .l4 = udp ? 17 : 6};
		struct ranges *from = ranges_new(), *alive = NULL;
		struct legacy_verdict lv;
		char subj[128];
		int lrc;

		if (from == NULL || fam_add(from, fam, a->addr, a->addr) < 0) {
			ranges_free(from);
			return -1;
		}
		ranges_normalize(from);
		snprintf(subj, sizeof(subj), "%s to port %u%s", text, port, udp ? "/udp" : "");
		if (nft_eval_path(&ev, from, &alive) < 0) {
			ranges_free(from);
			nft_eval_finish(&ev);
			return -1;
		}
		lrc = legacy_trace(c, a, port, ev.l4, &lv);
		if (lrc >= 0)
			trace_note(c, &ev, subj, port, in_cdn, lrc > 0 ? &lv : NULL);
		ranges_free(from);
		if (lrc < 0) {
			ranges_free(alive);
			nft_eval_finish(&ev);
			return -1;
		}
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
