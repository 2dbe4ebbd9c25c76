// SPDX-License-Identifier: MIT
/* UFW: enabled? its default incoming policy, and whether its rules let the CDN reach a port. */
#include "checks.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#ifdef HAVE_NFTABLES
#include "nft_model.h"
#endif

#define UFW_CONF "/etc/ufw/ufw.conf"
#define UFW_DEFAULTS "/etc/default/ufw"

/* A manager's file under the --etc override of tests ("" normally). */
static void etc_path(const struct ctx *c, const char *path, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", c->o->etc_root ? c->o->etc_root : "", path);
}

/* What UFW's own records say (user.rules "### tuple ###" lines), for one family and port. */
enum ufw_fate { UFW_NONE, UFW_ALLOW, UFW_LIMIT, UFW_DENY, UFW_PARTLY };

/* The value of KEY= in a shell-style file, quotes removed; false when absent. */
static bool shell_value(const char *path, const char *key, char *val, size_t size)
{
	char line[512];
	size_t kl = strlen(key);
	bool found = false;
	FILE *fp = fopen(path, "re");

	if (fp == NULL)
		return false;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *v = line + kl + 1;

		if (strncmp(line, key, kl) != 0 || line[kl] != '=')
			continue;
		v[strcspn(v, "\r\n")] = '\0';
		if (*v == '"' || *v == '\'') {
			const char q[2] = {*v++, '\0'};

			v[strcspn(v, q)] = '\0';
		}
		snprintf(val, size, "%s", v);
		found = true;
	}
	fclose(fp);
	return found;
}

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

/* The first of UFW's incoming rules (in order, first match wins) that takes the CDN's TCP
 * packets to port; *rule gets its words. */
static enum ufw_fate user_rules(const char *path, int fam, uint16_t port, const struct ranges *cdn,
				char *rule, size_t size)
{
	static const char tag[] = "### tuple ### ";
	char line[1024];
	enum ufw_fate fate = UFW_NONE;
	FILE *fp = fopen(path, "re");

	if (fp == NULL)
		return UFW_NONE;
	while (fate == UFW_NONE && fgets(line, sizeof(line), fp) != NULL) {
		char act[32], proto[16], dport[256], dst[64], sport[256], src[64], last[128];
		int cov, n;

		if (strncmp(line, tag, sizeof(tag) - 1) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		n = sscanf(line + sizeof(tag) - 1, "%31s %15s %255s %63s %255s %63s", act, proto,
			   dport, dst, sport, src);
		/* the direction ("in", "in_eth0") is the last word before an optional comment= */
		if (strstr(line, " comment=") != NULL)
			*strstr(line, " comment=") = '\0';
		snprintf(last, sizeof(last), "%s", strrchr(line, ' ') + 1);
		if (n != 6 || strcmp(last, "in") != 0 || strchr(act, ':') != NULL ||
		    (strcmp(proto, "tcp") != 0 && strcmp(proto, "any") != 0) ||
		    !port_in(dport, port) || strcmp(sport, "any") != 0 ||
		    (strcmp(dst, "0.0.0.0/0") != 0 && strcmp(dst, "::/0") != 0))
			continue;
		if ((cov = src_covers(src, fam, cdn)) <= 0)
			continue;
		snprintf(rule, size, "%s", line + sizeof(tag) - 1);
		if (strncmp(act, "allow", 5) == 0)
			fate = cov == 2 ? UFW_ALLOW : UFW_PARTLY;
		else if (strncmp(act, "limit", 5) == 0)
			fate = cov == 2 ? UFW_LIMIT : UFW_PARTLY;
		else
			fate = UFW_DENY;
	}
	fclose(fp);
	return fate;
}

/* A target of ours with backend = ufw whose ports include port. */
static const char *ufw_target(const struct ctx *c, uint16_t port)
{
	for (size_t i = 0; i < c->cfg->n_targets; i++) {
		const struct target_config *tc = &c->cfg->targets[i];
		const char *ports = target_get(tc, "ports");
		char spec[256];

		if (strcmp(tc->backend, "ufw") != 0 || !doctor_selected(c->o, tc->name))
			continue;
		snprintf(spec, sizeof(spec), "%s", ports ? ports : "80 443");
		for (char *p = spec; *p; p++)
			if (*p == ' ' || *p == '\t')
				*p = ',';
		if (port_in(spec, port))
			return tc->name;
	}
	return NULL;
}

static void one_port(struct ctx *c, int fam, uint16_t port, const char *policy)
{
	char rules[PATH_MAX];
	struct ranges *cdn = fam_only(c->cdn, fam);
	const char *tgt = ufw_target(c, port);
	char subj[64], rule[1024] = "";
	enum ufw_fate fate;

	if (cdn == NULL) {
		c->oom = true;
		return;
	}
	snprintf(subj, sizeof(subj), "port %u %s", port, fam_name(fam));
	etc_path(c, fam == CDA_AF_INET ? "/etc/ufw/user.rules" : "/etc/ufw/user6.rules", rules,
		 sizeof(rules));
	fate = fam_none(cdn) ? UFW_ALLOW : user_rules(rules, fam, port, cdn, rule, sizeof(rule));
	ranges_free(cdn);
	if (tgt != NULL && fate != UFW_DENY)
		doctor_note(c, DOCTOR_OK, "ufw", subj, NULL,
			    "UFW lets the CDN in: target %s (backend = ufw) accepts its lists "
			    "before UFW's own rules",
			    tgt);
	else if (fate == UFW_ALLOW || fate == UFW_LIMIT)
		doctor_note(c, fate == UFW_LIMIT ? DOCTOR_WARNING : DOCTOR_OK, "ufw", subj,
			    fate == UFW_LIMIT ? "`ufw delete limit ...` and use `backend = ufw`, "
					       "which accepts the CDN lists without a rate limit"
					     : NULL,
			    "UFW allows it to everyone (rule `%s`)%s", rule,
			    fate == UFW_LIMIT ? ": rate-limited, a CDN edge opens many connections "
						"and is refused past 6 in 30 s"
					      : "");
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

int check_ufw(struct ctx *c)
{
	static const int fams[] = {CDA_AF_INET, CDA_AF_INET6};
	char enabled[16] = "", policy[16] = "DROP", ipv6[8] = "yes", conf[PATH_MAX], defs[PATH_MAX];

	etc_path(c, UFW_CONF, conf, sizeof(conf));
	etc_path(c, UFW_DEFAULTS, defs, sizeof(defs));
	if (!shell_value(conf, "ENABLED", enabled, sizeof(enabled)) ||
	    strcmp(enabled, "yes") != 0)
		return 0;
	c->ufw = true;
	shell_value(defs, "DEFAULT_INPUT_POLICY", policy, sizeof(policy));
	shell_value(defs, "IPV6", ipv6, sizeof(ipv6));
#ifdef HAVE_NFTABLES
	if (c->nft != NULL && nft_model_chain(c->nft, 2, "filter", "ufw-user-input") == NULL) {
		doctor_note(c, DOCTOR_WARNING, "ufw", NULL, "`ufw reload` (or `ufw enable`)",
			    "UFW is enabled in %s but its rules are not loaded", UFW_CONF);
		return 0;
	}
#endif
	if (!c->have_cdn)
		return 0;
	for (size_t pi = 0; pi < c->n_ports; pi++)
		for (int fi = 0; fi < 2; fi++)
			if (fi == 0 || strcmp(ipv6, "yes") == 0)
				one_port(c, fams[fi], c->ports[pi], policy);
	return c->oom ? -1 : 0;
}
