// SPDX-License-Identifier: MIT
/* The origin ports doctor checks: named ones, the 80/443 default, and who listens on them. */
#include "checks.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cda_error.h"
#include "config.h"
#include "origin_lock.h"

#ifdef HAVE_NFTABLES
#include "nft_eval.h"
#endif

#define REF_PORT 9 /* discard: the port a rule about port P is compared with */

static void add_port(struct ctx *c, uint16_t p)
{
	for (size_t i = 0; i < c->n_ports; i++)
		if (c->ports[i] == p)
			return;
	if (c->n_ports < sizeof(c->ports) / sizeof(c->ports[0]))
		c->ports[c->n_ports++] = p;
}

/* The single ports of a target's port list (ranges are not probed one by one). */
static void add_named(struct ctx *c, const char *v)
{
	struct origin_lock_port p[64];
	size_t n = 0;

	if (v == NULL || origin_lock_parse_ports(v, true, p, 64, &n) < 0)
		return; /* "all", "none" or bad (sync says so) */
	for (size_t i = 0; i < n; i++)
		if (p[i].lo == p[i].hi)
			add_port(c, p[i].lo);
}

/* The single UDP ports of the selected targets' lock_udp. */
static void udp_plan(struct ctx *c)
{
	for (size_t i = 0; i < c->cfg->n_targets; i++) {
		const struct target_config *tc = &c->cfg->targets[i];
		const char *v = target_get(tc, "lock_udp");
		struct origin_lock_port p[32];
		size_t n = 0;

		if (!doctor_selected(c->o, tc->name) || v == NULL ||
		    origin_lock_parse_ports(v, true, p, 32, &n) < 0)
			continue;
		for (size_t k = 0; k < n; k++) {
			bool dup = false;

			for (size_t j = 0; j < c->n_udp; j++)
				dup |= c->udp_ports[j] == p[k].lo;
			if (p[k].lo == p[k].hi && !dup &&
			    c->n_udp < sizeof(c->udp_ports) / sizeof(c->udp_ports[0]))
				c->udp_ports[c->n_udp++] = p[k].lo;
		}
	}
}

int ports_plan(struct ctx *c, struct cda_error *err)
{
	const struct doctor_opts *o = c->o;

	if (o->n_ports > sizeof(c->ports) / sizeof(c->ports[0]))
		return cda_error_set(err, CDA_EUSAGE, "at most 64 --port options");
	for (size_t i = 0; i < o->n_ports; i++) {
		if (o->ports[i] == 0)
			return cda_error_set(err, CDA_EUSAGE, "--port: 0 is not a port");
		add_port(c, o->ports[i]);
	}
	for (size_t i = 0; i < c->cfg->n_targets; i++) {
		const struct target_config *tc = &c->cfg->targets[i];

		if (!doctor_selected(o, tc->name))
			continue;
		add_named(c, target_get(tc, "lock_ports"));
		add_named(c, target_get(tc, "ports"));
	}
	udp_plan(c);
	if (c->n_ports == 0) {
		c->ports_default = true;
		c->ports[c->n_ports++] = 80;
		c->ports[c->n_ports++] = 443;
	}
	return 0;
}

static bool is_loopback(const char *addr, bool v6, bool *v4mapped)
{
	*v4mapped = v6 && strncasecmp(addr, "0000000000000000FFFF0000", 24) == 0;
	if (*v4mapped)
		return strncasecmp(addr + 30, "7F", 2) == 0;
	if (!v6)
		return strncasecmp(addr + 6, "7F", 2) == 0; /* 127/8, little endian */
	return strcasecmp(addr, "00000000000000000000000001000000") == 0;
}

static void scan_tcp(const char *path, bool v6, const uint16_t *ports, size_t np,
		     struct listener *l, bool *readable)
{
	FILE *fp = fopen(path, "r");
	char line[512];

	if (fp == NULL)
		return;
	*readable = true;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char addr[64];
		unsigned int port, st;
		bool lo, v4;

		if (sscanf(line, " %*u: %63[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", addr, &port,
			   &st) != 3 ||
		    st != 0x0A)
			continue;
		lo = is_loopback(addr, v6, &v4);
		v4 |= !v6; /* a v4-mapped address counts as IPv4 */
		for (size_t i = 0; i < np; i++) {
			if (port != ports[i])
				continue;
			if (v4)
				*(lo ? &l[i].v4_lo : &l[i].v4_any) = true;
			else
				*(lo ? &l[i].v6_lo : &l[i].v6_any) = true;
		}
	}
	fclose(fp);
}

bool ports_listeners(const struct ctx *c, const uint16_t *ports, size_t np, struct listener *l,
		     char *p4, size_t p4size)
{
	const char *pn = c->o->proc_net ? c->o->proc_net : "/proc/net";
	char p6[PATH_MAX];
	bool readable = false;

	memset(l, 0, np * sizeof(*l));
	snprintf(p4, p4size, "%s/tcp", pn);
	snprintf(p6, sizeof(p6), "%s/tcp6", pn);
	scan_tcp(p4, false, ports, np, l, &readable);
	scan_tcp(p6, true, ports, np, l, &readable);
	return readable;
}

#ifdef HAVE_NFTABLES
static bool same_events(const struct eval *a, const struct eval *b)
{
	if (a->n_ev != b->n_ev)
		return false;
	for (size_t i = 0; i < a->n_ev; i++) {
		const struct event *x = &a->ev[i], *y = &b->ev[i];

		if (x->kind != y->kind || x->maybe != y->maybe || strcmp(x->where, y->where) != 0 ||
		    !ranges_equal(x->s, y->s))
			return false;
	}
	return true;
}

/*
 * Whether a rule treats port differently from REF_PORT, a port no origin uses, for sources
 * outside the CDN lists: those through the chains to both ports, the events compared. The
 * CDN's own addresses are left out, so that what cdnallow itself admits on its default
 * ports (a ufw or firewalld target without `ports =`) is not the admin naming the port.
 * 1 yes, 0 no, -1 ENOMEM.
 */
static int rules_mention(struct ctx *c, uint16_t port)
{
	static const int fams[] = {CDA_AF_INET, CDA_AF_INET6};
	int rc = 0;

	for (int fi = 0; fi < 2 && rc == 0; fi++) {
		struct eval a = {.c = c, .n = c->nft, .fam = fams[fi], .port = port};
		struct eval b = {.c = c, .n = c->nft, .fam = fams[fi], .port = REF_PORT};
		struct ranges *all = ranges_new(), *alive_a = NULL, *alive_b = NULL;

		if (all == NULL || fam_add(all, fams[fi], 0, fam_max(fams[fi])) < 0 ||
		    fam_minus(&all, c->cdn) < 0 || nft_eval_path(&a, all, &alive_a) < 0 ||
		    nft_eval_path(&b, all, &alive_b) < 0)
			rc = -1;
		else if (!same_events(&a, &b) || !ranges_equal(alive_a, alive_b))
			rc = 1;
		ranges_free(all);
		ranges_free(alive_a);
		ranges_free(alive_b);
		nft_eval_finish(&a);
		nft_eval_finish(&b);
	}
	return rc;
}
#else
static int rules_mention(struct ctx *c, uint16_t port)
{
	(void)c;
	(void)port;
	return 0;
}
#endif

/*
 * With no port named, 80 and 443 are both checked; one that nothing listens on (not even
 * loopback) while the other serves, and that no rule mentions, is a port the CDN is not
 * meant to use (Cloudflare's Full and Full (strict) modes never connect to 80): it leaves
 * c->ports for c->idle, and the listen check says so as info.
 */
int check_ports_idle(struct ctx *c)
{
	static const uint16_t dflt[2] = {80, 443};
	struct listener l[2];
	char p4[PATH_MAX];

	if (!c->ports_default || !ports_listeners(c, dflt, 2, l, p4, sizeof(p4)))
		return 0;
	for (int i = 0; i < 2; i++) {
		const struct listener *me = &l[i], *other = &l[1 - i];
		int m = 0;

		if (me->v4_any || me->v4_lo || me->v6_any || me->v6_lo ||
		    !(other->v4_any || other->v6_any))
			continue;
		if (c->nft != NULL && (m = rules_mention(c, dflt[i])) < 0)
			return -1;
		if (m == 1)
			continue;
		c->idle[c->n_idle++] = dflt[i];
		for (size_t k = 0; k < c->n_ports; k++)
			if (c->ports[k] == dflt[i]) {
				memmove(&c->ports[k], &c->ports[k + 1],
					(c->n_ports - k - 1) * sizeof(c->ports[0]));
				c->n_ports--;
				break;
			}
	}
	return 0;
}
