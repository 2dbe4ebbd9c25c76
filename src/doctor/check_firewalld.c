// SPDX-License-Identifier: MIT
/* firewalld: is it running, do its zones open the origin ports to the CDN, are our ipsets used. */
#include "checks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cda_error.h"
#include "config.h"
#include "fwd_dbus.h"
#include "fwd_entries.h"
#include "ranges.h"

/*
 * Asked over firewalld's own D-Bus API (the runtime, what it enforces now): the default zone
 * and the zones bound to interfaces, and for each what admits a new TCP connection from the
 * CDN to each port: the zone's target ACCEPT, a service or port, or a rich rule (with its
 * source address or ipset, whose entries are fetched). What none of them admits meets the
 * zone's reject. Zones bound only to sources apply to those sources: not judged here.
 */

#define BUS_TIMEOUT 5 /* seconds per call: doctor must not hang on a stuck firewalld */

static const int fams[2] = {CDA_AF_INET, CDA_AF_INET6};

/* Our firewalld target, if one is selected. */
struct fwd_ours {
	const char *target;
	const char *zone; /* NULL: the default zone */
	const char *ipset[2];
	const char *ports;
};

/* One zone and port, one family: what admits the CDN. */
struct admit {
	struct ranges *ok;  /* sources admitted */
	char how[200];      /* the first way found */
	bool ours;          /* by a rich rule on our ipset */
	const char *doubt;  /* an accepting rich rule not understood */
};

/* Whether a firewalld port spec ("443", "8000-8080", with or without "/tcp") covers port. */
static bool port_in(const char *spec, const char *proto, uint16_t port)
{
	unsigned long lo, hi;
	char *end;

	lo = hi = strtoul(spec, &end, 10);
	if (*end == '-')
		hi = strtoul(end + 1, &end, 10);
	if (*end == '/' && strcmp(end + 1, "tcp") != 0)
		return false;
	if (*end != '/' && *end != '\0' && *end != '"')
		return false;
	if (proto != NULL && strcmp(proto, "tcp") != 0)
		return false;
	return port >= lo && port <= hi;
}

/* Whether service (and the services it includes, one level) opens port/tcp. */
static bool service_opens(struct fwd_bus *b, const char *service, uint16_t port, int depth)
{
	struct cda_error e = {0};
	char **ports = NULL, **inc = NULL;
	bool hit = false;

	if (fwd_service_ports(b, service, &ports, &inc, &e) != 0)
		return false;
	for (size_t i = 0; ports[i] != NULL && !hit; i++)
		hit = port_in(ports[i], NULL, port);
	for (size_t i = 0; inc[i] != NULL && !hit && depth < 2; i++)
		hit = service_opens(b, inc[i], port, depth + 1);
	fwd_strv_free(ports);
	fwd_strv_free(inc);
	return hit;
}

/* The value of key="..." in a rich rule (after the text at), or "" when absent. */
static void rich_attr(const char *rule, const char *at, char *out, size_t size)
{
	const char *p = strstr(rule, at), *q;

	out[0] = '\0';
	if (p == NULL)
		return;
	p += strlen(at);
	if ((q = strchr(p, '"')) != NULL)
		snprintf(out, size, "%.*s", (int)(q - p), p);
}

static bool all_of(struct admit *a, int af)
{
	return fam_add(a->ok, af, 0, fam_max(af)) == 0;
}

/* Sources an ipset holds (runtime entries), added to a->ok. */
static int ipset_sources(struct fwd_bus *b, const char *name, int af, struct admit *a)
{
	struct cda_error e = {0};
	char **v = NULL;
	size_t bad = 0;
	int rc;

	if (fwd_ipset_entries(b, FWD_RUNTIME, name, &v, &e) != 0)
		return 0;
	rc = fwd_entries_to_ranges(v, af, a->ok, &bad) == -1 ? -1 : 0;
	fwd_strv_free(v);
	return rc;
}

/* A rich rule that accepts port (family f): what it admits. -1 ENOMEM. */
static int rich_admits(struct fwd_bus *b, const char *rule, int f, uint16_t port,
		       const struct fwd_ours *w, struct admit *a)
{
	char fam[16], addr[64], set[64], svc[64], prt[32], proto[16];
	const char *acc = strstr(rule, " accept");
	struct cidr cd;

	rich_attr(rule, "family=\"", fam, sizeof(fam));
	rich_attr(rule, " port port=\"", prt, sizeof(prt));
	rich_attr(rule, " protocol=\"", proto, sizeof(proto));
	rich_attr(rule, "service name=\"", svc, sizeof(svc));
	rich_attr(rule, "source address=\"", addr, sizeof(addr));
	rich_attr(rule, "source ipset=\"", set, sizeof(set));
	if (acc == NULL || (acc[7] != '\0' && acc[7] != ' ') ||
	    (fam[0] != '\0' && strcmp(fam, f ? "ipv6" : "ipv4") != 0))
		return 0;
	if (!(prt[0] != '\0' && port_in(prt, proto, port)) &&
	    !(svc[0] != '\0' && service_opens(b, svc, port, 0)))
		return 0;
	if (strstr(rule, "source NOT") != NULL || strstr(rule, "destination") != NULL ||
	    strstr(rule, "source mac") != NULL) {
		a->doubt = a->doubt ? a->doubt : rule;
		return 0;
	}
	if (a->how[0] == '\0')
		snprintf(a->how, sizeof(a->how), "rich rule '%s'", rule);
	if (set[0] != '\0') {
		a->ours |= w->target != NULL && strcmp(set, w->ipset[f]) == 0;
		return ipset_sources(b, set, fams[f], a);
	}
	if (addr[0] == '\0')
		return all_of(a, fams[f]) ? 0 : -1;
	if (cidr_parse(addr, strlen(addr), &cd, NULL) != CIDR_OK || cd.family != fams[f])
		return 0;
	return ranges_add_cidr(a->ok, &cd) < 0 ? -1 : 0;
}

/* What zone z admits to port (family f) into a. -1 ENOMEM. */
static int zone_admits(struct fwd_bus *b, const struct fwd_zone *z, int f, uint16_t port,
		       const struct fwd_ours *w, struct admit *a)
{
	if (strcmp(z->target, "ACCEPT") == 0) {
		snprintf(a->how, sizeof(a->how), "the zone's target is ACCEPT");
		return all_of(a, fams[f]) ? 0 : -1;
	}
	for (size_t i = 0; z->services[i] != NULL; i++)
		if (service_opens(b, z->services[i], port, 0)) {
			snprintf(a->how, sizeof(a->how), "service %s", z->services[i]);
			return all_of(a, fams[f]) ? 0 : -1;
		}
	for (size_t i = 0; z->ports[i] != NULL; i++)
		if (port_in(z->ports[i], NULL, port)) {
			snprintf(a->how, sizeof(a->how), "port %s", z->ports[i]);
			return all_of(a, fams[f]) ? 0 : -1;
		}
	for (size_t i = 0; z->rich_rules[i] != NULL; i++)
		if (rich_admits(b, z->rich_rules[i], f, port, w, a) < 0)
			return -1;
	ranges_normalize(a->ok);
	return 0;
}

static void ours_of(const struct ctx *c, struct fwd_ours *w)
{
	memset(w, 0, sizeof(*w));
	for (size_t i = 0; i < c->cfg->n_targets; i++) {
		const struct target_config *tc = &c->cfg->targets[i];
		const char *v4 = target_get(tc, "ipset_v4"), *v6 = target_get(tc, "ipset_v6");

		if (strcmp(tc->backend, "firewalld") != 0 || !doctor_selected(c->o, tc->name))
			continue;
		w->target = tc->name;
		w->zone = target_get(tc, "zone");
		w->ipset[0] = v4 ? v4 : "cdnallow4";
		w->ipset[1] = v6 ? v6 : "cdnallow6";
		w->ports = target_get(tc, "ports");
		return;
	}
}

/* Zone zn (what, e.g. "default zone") for the CDN of family f on port. -1 ENOMEM. */
static int judge(struct ctx *c, struct fwd_bus *b, const char *zn, const char *what,
		 const struct fwd_zone *z, uint16_t port, int f, const struct fwd_ours *w)
{
	struct admit a = {0};
	struct ranges *from = fam_only(c->cdn, fams[f]), *left = NULL;
	char subj[160], sm[400], fix[800];
	int rc = -1;

	if (from == NULL || (a.ok = ranges_new()) == NULL ||
	    zone_admits(b, z, f, port, w, &a) < 0 || ranges_subtract(from, a.ok, &left) < 0)
		goto out;
	rc = 0;
	if (fam_none(from))
		goto out;
	snprintf(subj, sizeof(subj), "zone %s port %u %s", zn, port, fam_name(fams[f]));
	if (fam_none(left)) {
		doctor_note(c, DOCTOR_OK, "firewalld", subj, NULL,
			    "firewalld's %s %s admits the CDN on port %u: %s%s", what, zn, port,
			    a.how, a.ours ? " (cdnallow's ipset)" : "");
		goto out;
	}
	fam_samples(left, sm, sizeof(sm));
	if (w->target != NULL && strcmp(w->zone ? w->zone : c->mgr.fwd_zone, zn) == 0)
		snprintf(fix, sizeof(fix),
			 "run `cdnallow sync --target %s`: its rich rules admit cdnallow's ipsets "
			 "in zone %s (`ports =` must name %u)",
			 w->target, zn, port);
	else
		mgr_fwd_fix(zn, port, fix, sizeof(fix));
	doctor_note(c, a.doubt ? DOCTOR_WARNING : DOCTOR_ERROR, "firewalld", subj, fix,
		    "firewalld's %s %s does not open port %u to the CDN: no service, port or rich "
		    "rule admits %s%s%s%s",
		    what, zn, port, sm, a.doubt ? " (unless '" : "", a.doubt ? a.doubt : "",
		    a.doubt ? "' does: not fully understood)" : "");
out:
	ranges_free(from);
	ranges_free(left);
	ranges_free(a.ok);
	return rc;
}

/* Is our ipset there, filled, and used by a rich rule or as a zone's source? */
static void ours_used(struct ctx *c, struct fwd_bus *b, const struct fwd_zone *z, const char *zn,
		      const struct fwd_ours *w)
{
	for (int f = 0; f < 2; f++) {
		struct fwd_ipset_info info;
		struct cda_error e = {0};
		char **ent = NULL, src[80], ref[96];
		bool used = false;
		int r = fwd_ipset_get(b, FWD_RUNTIME, w->ipset[f], &info, &ent, &e);

		snprintf(src, sizeof(src), "ipset:%s", w->ipset[f]);
		snprintf(ref, sizeof(ref), "source ipset=\"%s\"", w->ipset[f]);
		for (size_t i = 0; z->rich_rules[i] != NULL; i++)
			used |= strstr(z->rich_rules[i], ref) != NULL;
		for (size_t i = 0; z->sources[i] != NULL; i++)
			used |= strcmp(z->sources[i], src) == 0;
		if (r != 0)
			doctor_note(c, DOCTOR_WARNING, "firewalld", w->ipset[f],
				    "run `cdnallow sync` (it creates the ipset)",
				    "firewalld has no ipset %s (target %s)%s%s", w->ipset[f],
				    w->target, r < 0 ? ": " : "", r < 0 ? e.msg : "");
		else if (!used)
			doctor_note(c, DOCTOR_WARNING, "firewalld", w->ipset[f],
				    w->ports != NULL && strcmp(w->ports, "none") == 0
					    ? "with `ports = none` the rules are yours: e.g. "
					      "`firewall-cmd --permanent --zone=ZONE --add-rich-rule="
					      "'rule source ipset=\"NAME\" service name=\"https\" "
					      "accept'`"
					    : "run `cdnallow sync` (it adds its rich rules)",
				    "no rich rule or source of zone %s uses ipset %s: it admits "
				    "nothing",
				    zn, w->ipset[f]);
		else
			doctor_note(c, fwd_strv_len(ent) > 0 ? DOCTOR_OK : DOCTOR_WARNING,
				    "firewalld", w->ipset[f],
				    fwd_strv_len(ent) > 0 ? NULL : "run `cdnallow sync`",
				    "ipset %s holds %zu entries and zone %s uses it", w->ipset[f],
				    fwd_strv_len(ent), zn);
		fwd_strv_free(ent);
	}
}

/* One zone: each port and family, and our ipsets when it is our target's zone. */
static int check_zone(struct ctx *c, struct fwd_bus *b, const char *zn, const char *what,
		      const struct fwd_ours *w)
{
	struct fwd_zone z;
	struct cda_error e = {0};
	int r = fwd_zone_get(b, zn, &z, &e), rc = 0;

	if (r != 0) {
		doctor_note(c, DOCTOR_WARNING, "firewalld", zn, NULL, "cannot read zone %s: %s",
			    zn, r > 0 ? "no such zone" : e.msg);
		return 0;
	}
	for (size_t i = 0; i < c->n_ports && c->have_cdn && rc == 0; i++)
		for (int f = 0; f < 2 && rc == 0; f++)
			rc = judge(c, b, zn, what, &z, c->ports[i], f, w);
	if (rc == 0 && w->target != NULL &&
	    strcmp(w->zone ? w->zone : c->mgr.fwd_zone, zn) == 0)
		ours_used(c, b, &z, zn, w);
	fwd_zone_free(&z);
	return rc;
}

/* The default zone, then the other zones bound to an interface. */
static int check_zones(struct ctx *c, struct fwd_bus *b, const struct fwd_ours *w)
{
	struct cda_error e = {0};
	char **active = NULL;
	int rc = check_zone(c, b, c->mgr.fwd_zone, "default zone", w);

	if (rc < 0 || fwd_active_zones(b, &active, &e) < 0)
		return rc;
	for (size_t i = 0; active[i] != NULL && rc == 0; i++) {
		struct fwd_zone z;

		if (strcmp(active[i], c->mgr.fwd_zone) == 0 ||
		    fwd_zone_get(b, active[i], &z, &e) != 0)
			continue;
		if (z.interfaces[0] != NULL)
			rc = check_zone(c, b, active[i], "interface zone", w);
		fwd_zone_free(&z);
	}
	fwd_strv_free(active);
	return rc;
}

int check_firewalld(struct ctx *c)
{
	struct fwd_bus *b = NULL;
	struct cda_error e = {0};
	struct fwd_ours w;
	bool running = false;
	char *dz = NULL;
	int rc = 0;

	if (fwd_connect(&b, BUS_TIMEOUT, &e) < 0 || fwd_running(b, &running, &e) < 0 || !running) {
		if (c->mgr.firewalld)
			doctor_note(c, DOCTOR_WARNING, "firewalld", NULL,
				    "`systemctl status firewalld`",
				    "table inet firewalld is loaded but firewalld %s: its zones "
				    "were not checked",
				    running || e.msg[0] ? e.msg : "is not running");
		else
			doctor_note(c, DOCTOR_OK, "firewalld", NULL, NULL,
				    "firewalld is not running");
		goto out;
	}
	if (fwd_default_zone(b, &dz, &e) < 0) {
		bool root = geteuid() == 0;

		doctor_note(c, root ? DOCTOR_WARNING : DOCTOR_INFO, "firewalld", NULL,
			    root ? "`systemctl status firewalld`" : "run it as root",
			    "firewalld runs but its zones could not be read: %s", e.msg);
		goto out;
	}
	snprintf(c->mgr.fwd_zone, sizeof(c->mgr.fwd_zone), "%s", dz);
	ours_of(c, &w);
	if (w.target != NULL && w.zone != NULL && strcmp(w.zone, dz) != 0)
		rc = check_zone(c, b, w.zone, "zone of target", &w);
	if (rc == 0)
		rc = check_zones(c, b, &w);
	c->mgr.fwd_judged = rc == 0;
out:
	free(dz);
	fwd_disconnect(b);
	return rc;
}
