// SPDX-License-Identifier: MIT
/*
 * cdnallow doctor: read-only checks answering "why does the origin refuse the CDN?". This
 * file runs them; each check lives in a check_*.c beside it, the nftables model and its
 * evaluator in nft_*.c.
 */
#include "doctor.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cda_error.h"
#include "checks.h"
#include "config.h"
#include "ranges.h"
#include "state.h"

#ifdef HAVE_NFTABLES
#include "nft_model.h"
#endif

int doctor_note(struct ctx *c, enum doctor_severity sev, const char *check, const char *subject,
		const char *fix, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (doctor_add(c->rep, sev, check, subject, fix, "%s", msg) < 0) {
		c->oom = true;
		return -1;
	}
	return 0;
}

bool doctor_selected(const struct doctor_opts *o, const char *name)
{
	if (o->n_targets == 0)
		return true;
	for (size_t i = 0; i < o->n_targets; i++)
		if (strcmp(o->targets[i], name) == 0)
			return true;
	return false;
}

bool doctor_is_own(const struct ctx *c, uint32_t family, const char *table, const char *set)
{
	for (size_t i = 0; i < c->n_own; i++)
		if (c->own[i].nfproto == family && strcmp(c->own[i].table, table) == 0 &&
		    strcmp(c->own[i].name, set) == 0)
			return true;
	return false;
}

static int own_sets_from(struct ctx *c)
{
	for (size_t i = 0; i < c->cfg->n_targets; i++) {
		const struct target_config *tc = &c->cfg->targets[i];
		const char *fam = target_get(tc, "family"), *table = target_get(tc, "table");
		uint32_t nfproto = 1; /* NFPROTO_INET */
		const char *keys[2] = {"set_v4", "set_v6"}, *defs[2] = {"allow_v4", "allow_v6"};

		if (strcmp(tc->backend, "nftables") != 0 || !doctor_selected(c->o, tc->name))
			continue;
		if (fam != NULL && strcmp(fam, "ip") == 0) {
			nfproto = 2;
			defs[1] = "none";
		} else if (fam != NULL && strcmp(fam, "ip6") == 0) {
			nfproto = 10;
			defs[0] = "none";
		}
		for (int f = 0; f < 2; f++) {
			const char *name = target_get(tc, keys[f]);
			struct own_set *v;

			if (name == NULL)
				name = defs[f];
			if (strcmp(name, "none") == 0)
				continue;
			v = reallocarray(c->own, c->n_own + 1, sizeof(*v));
			if (v == NULL)
				return -1;
			c->own = v;
			v = &c->own[c->n_own++];
			v->target = tc->name;
			snprintf(v->table, sizeof(v->table), "%s", table ? table : "cdnallow");
			snprintf(v->name, sizeof(v->name), "%s", name);
			v->fam = f ? CDA_AF_INET6 : CDA_AF_INET;
			v->nfproto = nfproto;
		}
	}
	return 0;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void add_port(struct ctx *c, unsigned long p)
{
	for (size_t i = 0; i < c->n_ports; i++)
		if (c->ports[i] == p)
			return;
	if (p != 0 && p <= 65535 && c->n_ports < sizeof(c->ports) / sizeof(c->ports[0]))
		c->ports[c->n_ports++] = (uint16_t)p;
}

/* The single ports the selected targets name (ports, lock_ports); ranges are not listed. */
static void config_ports(struct ctx *c)
{
	static const char *const keys[] = {"ports", "lock_ports"};

	for (size_t i = 0; i < c->cfg->n_targets; i++) {
		const struct target_config *tc = &c->cfg->targets[i];

		if (!doctor_selected(c->o, tc->name))
			continue;
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			const char *v = target_get(tc, keys[k]);

			while (v != NULL && *v != '\0') {
				size_t n = strcspn(v, " \t,");
				char *end;
				unsigned long p = strtoul(v, &end, 10);

				if (n > 0 && end == v + n)
					add_port(c, p);
				v += n;
				v += strspn(v, " \t,");
			}
		}
	}
}

/* Ports and --ip addresses into c; -1 with CDA_EUSAGE (or CDA_ESYS) when they are bad. */
static int parse_opts(struct ctx *c, struct cda_error *err)
{
	const struct doctor_opts *o = c->o;

	if (o->n_ports > sizeof(c->ports) / sizeof(c->ports[0]))
		return cda_error_set(err, CDA_EUSAGE, "at most 64 --port options");
	for (size_t i = 0; i < o->n_ports; i++) {
		if (o->ports[i] == 0)
			return cda_error_set(err, CDA_EUSAGE, "--port: 0 is not a port");
		c->ports[c->n_ports++] = o->ports[i];
	}
	if (c->n_ports == 0)
		config_ports(c);
	if (c->n_ports == 0) {
		c->ports[c->n_ports++] = 80;
		c->ports[c->n_ports++] = 443;
		c->ports_default = true;
	}
	if (o->n_ips > 0 && (c->ips = calloc(o->n_ips, sizeof(*c->ips))) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating");
	c->n_ips = o->n_ips; /* ips[] has this many, whatever the checks do */
	for (size_t i = 0; i < c->n_ips; i++) {
		bool bare = false;

		if (cidr_parse(o->ips[i], strlen(o->ips[i]), &c->ips[i], &bare) != CIDR_OK ||
		    !bare) {
			free(c->ips);
			c->ips = NULL;
			return cda_error_set(err, CDA_EUSAGE,
					     "--ip %s: expected one IPv4 or IPv6 address",
					     o->ips[i]);
		}
	}
	return 0;
}

/* The state dir, read-only; a warning (and c->st NULL) when it cannot be opened. */
static void open_state(struct ctx *c)
{
	struct cda_error se = {0};
	char buf[600];

	if (state_open(&c->st, c->cfg->state_dir, 0, true, &se) == 0)
		return;
	doctor_note(c, DOCTOR_WARNING, "freshness", c->cfg->state_dir,
		    se.sys_errno == EACCES ? "run it as root" : "run `cdnallow sync` once",
		    "cannot open the state dir: %s", cda_error_str(&se, buf, sizeof(buf)));
	c->st = NULL;
}

#ifndef HAVE_NFTABLES
static int check_no_nft(struct ctx *c)
{
	doctor_note(c, DOCTOR_INFO, "rules", NULL, NULL,
		    "built without nftables support: sets and rules not checked");
	return 0;
}
#endif

/* A step of the run, and what it was doing should it fail (only out of memory can). */
struct check {
	int (*run)(struct ctx *c);
	const char *doing;
};

/*
 * In this order: the ruleset is read and its sets loaded before the lists are compared with
 * our sets; the lists are known before the rules are evaluated for CDN traffic and before the
 * bans are searched for CDN addresses; the bans before --ip is looked up in them.
 */
static const struct check checks[] = {
#ifdef HAVE_NFTABLES
	{check_nft_load, "reading the ruleset"},
	{check_nft_preload, "reading sets"},
	{check_lists, "allocating"},
	{check_ufw, "reading UFW's rules"},
	{check_rules, "evaluating the ruleset"},
	{check_sets_use, "evaluating the ruleset"},
	{check_sets_bans, "evaluating the ruleset"},
	{check_rules_ips, "evaluating the ruleset"},
	{check_rules_legacy, "reading legacy tables"},
	{check_nftconf, "reading /etc/nftables.conf"},
#else
	{check_no_nft, "allocating"},
	{check_lists, "allocating"},
	{check_ufw, "reading UFW's rules"},
#endif
	{check_bans, "reading ban lists"},
	{check_bans_ips, "allocating"},
	{check_host_listen, "reading listening sockets"},
	{check_host_conntrack, "reading conntrack counters"},
	{check_tls, "checking TLS"},
};

int doctor_run(const struct doctor_opts *o, const struct config *cfg, struct doctor_report *out,
	       struct cda_error *err)
{
	struct ctx c = {.o = o, .cfg = cfg, .rep = out, .err = err};
	double t0 = mono();
	int rc = -1;

	if (parse_opts(&c, err) < 0)
		return -1;
	if ((c.cdn = ranges_new()) == NULL || own_sets_from(&c) < 0) {
		cda_error_sys(err, CDA_ESYS, "allocating");
		goto out;
	}
	open_state(&c);
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		if (checks[i].run(&c) < 0) {
			cda_error_sys(err, CDA_ESYS, "%s", checks[i].doing);
			goto out;
		}
	}
	if (c.oom) {
		cda_error_sys(err, CDA_ESYS, "allocating findings");
		goto out;
	}
	rc = 0;
out:
	out->seconds = mono() - t0;
#ifdef HAVE_NFTABLES
	nft_model_free(c.nft);
#endif
	state_close(c.st);
	ranges_free(c.cdn);
	free(c.own);
	free(c.bans);
	free(c.ips);
	return rc;
}
