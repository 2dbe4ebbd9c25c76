// SPDX-License-Identifier: MIT
/* Checks on the host: something listens on the origin ports; conntrack has headroom. */
#include "checks.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* A default port left out (check_ports_idle): fine unless the CDN is meant to use it. */
static void note_idle(struct ctx *c, uint16_t port)
{
	char subj[32];

	snprintf(subj, sizeof(subj), "port %u", port);
	doctor_note(c, DOCTOR_INFO, "listen", subj,
		    "if the CDN should reach this port too, start a listener on it (or name it: "
		    "`--port`, or `ports =` in the target)",
		    "nothing listens on port %u and no rule mentions it, while port %u serves: "
		    "not checked further (fine when the CDN connects only to %u, e.g. "
		    "Cloudflare's SSL/TLS mode Full or Full (strict); in Flexible mode it "
		    "connects to port 80 and gets error 521)",
		    port, port == 80 ? 443 : 80, port == 80 ? 443 : 80);
}

int check_host_listen(struct ctx *c)
{
	struct listener l[64];
	char p4[PATH_MAX], subj[32];

	if (!ports_listeners(c, c->ports, c->n_ports, l, p4, sizeof(p4))) {
		doctor_note(c, DOCTOR_INFO, "listen", NULL, NULL, "cannot read %s: not checked",
			    p4);
		return 0;
	}
	for (size_t i = 0; i < c->n_idle; i++)
		note_idle(c, c->idle[i]);
	for (size_t i = 0; i < c->n_ports; i++) {
		snprintf(subj, sizeof(subj), "port %u", c->ports[i]);
		if (!l[i].v4_any && !l[i].v6_any) {
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
