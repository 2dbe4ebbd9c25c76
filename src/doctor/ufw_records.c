// SPDX-License-Identifier: MIT
/* UFW's own records (/etc/ufw/user.rules tuples, /etc/default/ufw), and a verdict from them alone. */
#include "checks.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "origin_lock.h"

/* Whether port lies in a UFW port spec: "any", "443", "80,443", "8000:8100,9000". */
static bool port_in(const char *spec, uint16_t port)
{
	char buf[256], *save = NULL;

	if (strcmp(spec, "any") == 0)
		return true;
	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(t, ':');
		unsigned long lo = strtoul(t, NULL, 10);
		unsigned long hi = colon ? strtoul(colon + 1, NULL, 10) : lo;

		if (port >= lo && port <= hi)
			return true;
	}
	return false;
}

/* How much of cdn (one family, normal) the source src ("0.0.0.0/0", a CIDR) covers:
 * 2 all, 1 some, 0 none, -1 out of memory. */
static int src_covers(const char *src, int fam, const struct ranges *cdn)
{
	struct ranges *s = ranges_new(), *left = NULL;
	struct cidr cd;
	int rc = -1;

	if (s == NULL)
		return -1;
	if (cidr_parse(src, strlen(src), &cd, NULL) == CIDR_INVALID || cd.family != fam) {
		rc = 0;
		goto out;
	}
	if (ranges_add_cidr(s, &cd) < 0 || ranges_subtract(cdn, s, &left) < 0)
		goto out;
	rc = fam_none(left) ? 2 : ranges_addresses(left, fam) < ranges_addresses(cdn, fam) ? 1 : 0;
out:
	ranges_free(s);
	ranges_free(left);
	return rc;
}

/* One "### tuple ### ACTION PROTO DPORT DST SPORT SRC DIR [comment=...]" line: the fate it
 * gives the CDN's TCP packets to port (UFW_NONE: it does not concern them). */
static enum ufw_fate tuple_fate(char *line, int fam, uint16_t port, const struct ranges *cdn,
				bool *oom)
{
	char act[32], proto[16], dport[256], dst[64], sport[256], src[64], *cm, *last;
	int cov;

	if (sscanf(line, "%31s %15s %255s %63s %255s %63s", act, proto, dport, dst, sport, src) != 6)
		return UFW_NONE;
	/* the direction ("in", "in_eth0") is the last word before an optional comment= */
	if ((cm = strstr(line, " comment=")) != NULL)
		*cm = '\0';
	last = strrchr(line, ' ');
	if (last == NULL || strcmp(last + 1, "in") != 0 || strchr(act, ':') != NULL ||
	    (strcmp(proto, "tcp") != 0 && strcmp(proto, "any") != 0) || !port_in(dport, port) ||
	    strcmp(sport, "any") != 0 || (strcmp(dst, "0.0.0.0/0") != 0 && strcmp(dst, "::/0") != 0))
		return UFW_NONE;
	if ((cov = src_covers(src, fam, cdn)) <= 0) {
		*oom |= cov < 0;
		return UFW_NONE;
	}
	if (strncmp(act, "allow", 5) == 0)
		return cov == 2 ? UFW_ALLOW : UFW_PARTLY;
	if (strncmp(act, "limit", 5) == 0)
		return cov == 2 ? UFW_LIMIT : UFW_PARTLY;
	return UFW_DENY;
}

enum ufw_fate ufw_record(struct ctx *c, int fam, uint16_t port, const struct ranges *cdn,
			 char *rule, size_t size, bool *readable)
{
	static const char tag[] = "### tuple ### ";
	char line[1024], path[PATH_MAX + 16];
	enum ufw_fate fate = UFW_NONE;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", c->mgr.ufw_dir,
		 fam == CDA_AF_INET ? "user.rules" : "user6.rules");
	*readable = (fp = fopen(path, "re")) != NULL;
	if (fp == NULL)
		return UFW_NONE;
	while (fate == UFW_NONE && fgets(line, sizeof(line), fp) != NULL) {
		if (strncmp(line, tag, sizeof(tag) - 1) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(rule, size, "%s", line + sizeof(tag) - 1);
		fate = tuple_fate(line + sizeof(tag) - 1, fam, port, cdn, &c->oom);
	}
	fclose(fp);
	if (fate == UFW_NONE && size > 0)
		rule[0] = '\0';
	return fate;
}

bool ufw_record_anyone(const char *rule)
{
	char src[64] = "";

	/* ACTION PROTO DPORT DST SPORT SRC ...: the sixth word */
	return sscanf(rule, "%*s %*s %*s %*s %*s %63s", src) == 1 &&
	       (strcmp(src, "0.0.0.0/0") == 0 || strcmp(src, "::/0") == 0);
}

const struct target_config *ufw_target(const struct ctx *c, uint16_t port)
{
	for (size_t i = 0; i < c->cfg->n_targets; i++) {
		const struct target_config *tc = &c->cfg->targets[i];
		const char *ports = target_get(tc, "ports");
		struct origin_lock_port p[64];
		size_t n = 0;

		if (strcmp(tc->backend, "ufw") != 0 || !doctor_selected(c->o, tc->name))
			continue;
		if (port == 0)
			return tc;
		if (origin_lock_parse_ports(ports ? ports : "80 443", true, p, 64, &n) < 0)
			continue;
		for (size_t k = 0; k < n; k++)
			if (port >= p[k].lo && port <= p[k].hi)
				return tc;
	}
	return NULL;
}

void ufw_defaults(const struct ctx *c, char *policy, size_t psize, bool *ipv6)
{
	char path[PATH_MAX], v[8] = "yes";

	mgr_etc_path(c, "/etc/default/ufw", path, sizeof(path));
	mgr_conf_value(path, "DEFAULT_INPUT_POLICY", policy, psize);
	mgr_conf_value(path, "IPV6", v, sizeof(v));
	*ipv6 = strcmp(v, "yes") == 0;
}

/* One port and family judged from the files alone. */
static void files_port(struct ctx *c, int fam, uint16_t port, const char *policy)
{
	struct ranges *cdn = fam_only(c->cdn, fam);
	const struct target_config *tc = ufw_target(c, port);
	char subj[64], rule[1024] = "";
	enum ufw_fate fate;
	bool readable = true;

	if (cdn == NULL) {
		c->oom = true;
		return;
	}
	snprintf(subj, sizeof(subj), "port %u %s", port, fam_name(fam));
	fate = fam_none(cdn) ? UFW_ALLOW
			     : ufw_record(c, fam, port, cdn, rule, sizeof(rule), &readable);
	ranges_free(cdn);
	if (!readable && tc == NULL)
		doctor_note(c, DOCTOR_INFO, "ufw", subj, "run it as root",
			    "neither the ruleset nor %s/user%s.rules could be read: UFW not "
			    "checked",
			    c->mgr.ufw_dir, fam == CDA_AF_INET ? "" : "6");
	else if (tc != NULL && fate != UFW_DENY)
		doctor_note(c, DOCTOR_OK, "ufw", subj, NULL,
			    "UFW lets the CDN in: target %s (backend = ufw) accepts its lists "
			    "before UFW's own rules (from UFW's files: the ruleset could not be read)",
			    tc->name);
	else if (fate == UFW_ALLOW || fate == UFW_LIMIT)
		doctor_note(c, fate == UFW_LIMIT ? DOCTOR_WARNING : DOCTOR_OK, "ufw", subj,
			    fate == UFW_LIMIT ? UFW_LIMIT_FIX : NULL,
			    "UFW allows it%s (rule `%s`)%s", ufw_record_anyone(rule) ? " to everyone" : "",
			    rule, fate == UFW_LIMIT ? UFW_LIMIT_WHY : "");
	else if (strcmp(policy, "ACCEPT") != 0 || fate == UFW_DENY || fate == UFW_PARTLY)
		doctor_note(c, DOCTOR_ERROR, "ufw", subj,
			    "add a target with `backend = ufw` to cdnallow.conf (see "
			    "cdnallow.conf(5)): it allows the CDN lists on `ports` inside UFW; "
			    "`ufw allow PORT/tcp` would open the port to everyone",
			    "UFW refuses the CDN: %s%s%s", fate == UFW_NONE ? "default " : "",
			    fate == UFW_NONE ? policy : "rule ",
			    fate == UFW_NONE ? " incoming, and no UFW rule allows the port"
			    : fate == UFW_DENY ? rule
					       : "allows only part of the CDN ranges");
}

int ufw_files_verdict(struct ctx *c)
{
	char policy[16] = "DROP";
	bool ipv6;

	ufw_defaults(c, policy, sizeof(policy), &ipv6);
	if (!c->have_cdn)
		return 0;
	for (size_t pi = 0; pi < c->n_ports; pi++) {
		files_port(c, CDA_AF_INET, c->ports[pi], policy);
		if (ipv6)
			files_port(c, CDA_AF_INET6, c->ports[pi], policy);
	}
	return c->oom ? -1 : 0;
}

#ifndef HAVE_NFTABLES
int check_ufw(struct ctx *c)
{
	return c->mgr.ufw_enabled ? ufw_files_verdict(c) : 0;
}
#endif
