// SPDX-License-Identifier: MIT
/* Checks on the host: something listens on the origin ports; conntrack has headroom. */
#include "checks.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct listener {
	bool v4_any, v4_lo, v6_any, v6_lo;
};

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

		if (sscanf(line, " %*u: %63[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", addr, &port,
			   &st) != 3 ||
		    st != 0x0A)
			continue;
		for (size_t i = 0; i < np; i++) {
			bool lo;

			if (port != ports[i])
				continue;
			if (!v6)
				lo = strncasecmp(addr + 6, "7F", 2) == 0; /* 127/8, little endian */
			else
				lo = strcasecmp(addr, "00000000000000000000000001000000") == 0;
			if (v6 && strncasecmp(addr, "0000000000000000FFFF0000", 24) == 0) {
				/* v4-mapped: counts as IPv4 */
				lo = strncasecmp(addr + 30, "7F", 2) == 0;
				if (lo)
					l[i].v4_lo = true;
				else
					l[i].v4_any = true;
				continue;
			}
			if (v6) {
				if (lo)
					l[i].v6_lo = true;
				else
					l[i].v6_any = true;
			} else {
				if (lo)
					l[i].v4_lo = true;
				else
					l[i].v4_any = true;
			}
		}
	}
	fclose(fp);
}

/* Of the two default ports, i has no socket at all (not even on loopback) and no rule that
 * decides CDN packets names it, while the other one serves: a 443-only (or 80-only) origin,
 * not a refusal. */
static bool unused_default(const struct ctx *c, const struct listener *l, size_t i)
{
	const struct listener *o = &l[1 - i];

	return c->ports_default && c->n_ports == 2 && !c->port_ruled[i] && !l[i].v4_any &&
	       !l[i].v6_any && !l[i].v4_lo && !l[i].v6_lo && (o->v4_any || o->v6_any);
}

int check_host_listen(struct ctx *c)
{
	const char *pn = c->o->proc_net ? c->o->proc_net : "/proc/net";
	struct listener l[64] = {0};
	char p4[PATH_MAX], p6[PATH_MAX], subj[32];
	bool readable = false;

	snprintf(p4, sizeof(p4), "%s/tcp", pn);
	snprintf(p6, sizeof(p6), "%s/tcp6", pn);
	scan_tcp(p4, false, c->ports, c->n_ports, l, &readable);
	scan_tcp(p6, true, c->ports, c->n_ports, l, &readable);
	if (!readable) {
		doctor_note(c, DOCTOR_INFO, "listen", NULL, NULL, "cannot read %s: not checked",
			    p4);
		return 0;
	}
	for (size_t i = 0; i < c->n_ports; i++) {
		snprintf(subj, sizeof(subj), "port %u", c->ports[i]);
		if (unused_default(c, l, i)) {
			doctor_note(c, DOCTOR_INFO, "listen", subj,
				    "name the origin ports (`--port`, or `ports`/`lock_ports` in a "
				    "target) to check exactly those",
				    "nothing listens on port %u, but port %u does: fine when the CDN "
				    "connects only there (Cloudflare's Full and Strict SSL modes use "
				    "443 only)",
				    c->ports[i], c->ports[1 - i]);
		} else if (!l[i].v4_any && !l[i].v6_any) {
			doctor_note(
				c, DOCTOR_ERROR, "listen", subj,
				"start the web server, or make it listen on this port "
				"(`ss -ltnp` shows what listens where)",
				"nothing listens on port %u%s: the CDN's connections are refused "
				"(Cloudflare error 521)",
				c->ports[i], l[i].v4_lo || l[i].v6_lo ? " except on loopback" : "");
		} else if (!l[i].v4_any) {
			doctor_note(
				c, DOCTOR_WARNING, "listen", subj,
				"listen on 0.0.0.0 too (nginx: `listen 443 ssl;` next to `listen "
				"[::]:443 ssl;`)",
				"only an IPv6 socket listens on port %u: IPv4 connections work "
				"only if "
				"it is dual-stack (nginx sets ipv6only=on)",
				c->ports[i]);
		} else {
			doctor_note(c, l[i].v6_any ? DOCTOR_OK : DOCTOR_INFO, "listen", subj, NULL,
				    "listening on IPv4%s",
				    l[i].v6_any ? " and IPv6"
						: " only (fine unless "
						  "the origin has AAAA records)");
		}
	}
	return 0;
}

static bool read_ulong(const char *path, unsigned long *v)
{
	FILE *fp = fopen(path, "r");
	bool ok;

	if (fp == NULL)
		return false;
	ok = fscanf(fp, "%lu", v) == 1;
	fclose(fp);
	return ok;
}

int check_host_conntrack(struct ctx *c)
{
	const char *root = c->o->sysctl_root ? c->o->sysctl_root : "/proc/sys";
	char pc[PATH_MAX], pm[PATH_MAX];
	unsigned long cnt, max;
	double pct;

	snprintf(pc, sizeof(pc), "%s/net/netfilter/nf_conntrack_count", root);
	snprintf(pm, sizeof(pm), "%s/net/netfilter/nf_conntrack_max", root);
	if (!read_ulong(pc, &cnt) || !read_ulong(pm, &max) || max == 0) {
		doctor_note(c, DOCTOR_INFO, "conntrack", NULL, NULL,
			    "connection tracking is not loaded (no %s)", pc);
		return 0;
	}
	pct = 100.0 * (double)cnt / (double)max;
	if (pct > 95.0)
		doctor_note(c, DOCTOR_ERROR, "conntrack", NULL,
			    "raise net.netfilter.nf_conntrack_max (sysctl -w), or shorten timeouts",
			    "conntrack table %.0f%% full (%lu of %lu): new connections are dropped "
			    "(\"nf_conntrack: table full\" in dmesg)",
			    pct, cnt, max);
	else if (pct > 80.0)
		doctor_note(c, DOCTOR_WARNING, "conntrack", NULL,
			    "raise net.netfilter.nf_conntrack_max before it fills",
			    "conntrack table %.0f%% full (%lu of %lu)", pct, cnt, max);
	else
		doctor_note(c, DOCTOR_OK, "conntrack", NULL, NULL,
			    "conntrack table %.0f%% full (%lu of %lu)", pct, cnt, max);
	return 0;
}
