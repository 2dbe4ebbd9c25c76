// SPDX-License-Identifier: MIT
/* The host's firewall managers: which one owns a chain, and fixes in that manager's words. */
#include "checks.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"

#ifdef HAVE_NFTABLES
#include "nft_model.h"
#endif

#define NFPROTO_IPV4_ 2
#define NFPROTO_IPV6_ 10

bool mgr_conf_value(const char *path, const char *key, char *out, size_t size)
{
	FILE *fp = fopen(path, "r");
	char line[512];
	size_t klen = strlen(key);
	bool found = false;

	if (fp == NULL)
		return false;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *v = line + strspn(line, " \t");
		size_t n;

		if (strncmp(v, key, klen) != 0 || v[klen] != '=')
			continue;
		v += klen + 1;
		v[strcspn(v, "\r\n")] = '\0';
		n = strlen(v);
		if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
			v[n - 1] = '\0';
			v++;
		}
		snprintf(out, size, "%s", v); /* the last assignment wins, as in sh */
		found = true;
	}
	fclose(fp);
	return found;
}

#ifdef HAVE_NFTABLES
static bool csf_chain(const char *name)
{
	static const char *const names[] = {"LOCALINPUT", "ALLOWIN", "DENYIN", "LOGDROPIN"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

static void detect_chains(struct ctx *c)
{
	for (size_t i = 0; c->nft != NULL && i < c->nft->n_chains; i++) {
		const struct nchain *ch = &c->nft->chains[i];
		bool ipt = (ch->family == NFPROTO_IPV4_ || ch->family == NFPROTO_IPV6_);

		if (strcmp(ch->table, "firewalld") == 0)
			c->mgr.firewalld = true;
		if (!ipt)
			continue;
		if (strncmp(ch->name, "ufw-", 4) == 0 || strncmp(ch->name, "ufw6-", 5) == 0)
			c->mgr.ufw = true;
		else if (strncmp(ch->name, "DOCKER", 6) == 0)
			c->mgr.docker = true;
		else if (csf_chain(ch->name))
			c->mgr.csf = true;
	}
}

/* A table iptables-nft made: ip/ip6, one of its names, with one of its base chains. */
static bool iptables_table(const struct ctx *c, uint32_t family, const char *table)
{
	static const char *const tables[] = {"filter", "nat", "mangle", "raw", "security"};
	static const char *const bases[] = {"INPUT", "PREROUTING", "FORWARD", "OUTPUT",
					    "POSTROUTING"};
	bool named = false;

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		named |= strcmp(table, tables[i]) == 0;
	if (!named || (family != NFPROTO_IPV4_ && family != NFPROTO_IPV6_) || c->nft == NULL)
		return false;
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++)
		if (nft_model_chain(c->nft, family, table, bases[i]) != NULL)
			return true;
	return false;
}

enum owner mgr_owner(const struct ctx *c, const char *where)
{
	char fam[16], table[256], chain[256];
	uint32_t family;

	if (sscanf(where, "table %15s %255s chain %255s", fam, table, chain) != 3)
		return OWNER_ADMIN;
	family = strcmp(fam, "ip") == 0 ? NFPROTO_IPV4_ : strcmp(fam, "ip6") == 0 ? NFPROTO_IPV6_ : 1;
	if (strcmp(table, "firewalld") == 0)
		return OWNER_FIREWALLD;
	for (size_t i = 0; i < c->n_own; i++)
		if (c->own[i].nfproto == family && strcmp(c->own[i].table, table) == 0)
			return OWNER_CDNALLOW;
	if (!iptables_table(c, family, table))
		return OWNER_ADMIN;
	if (strncmp(chain, "ufw-", 4) == 0 || strncmp(chain, "ufw6-", 5) == 0 ||
	    (c->mgr.ufw && strcmp(table, "filter") == 0))
		return OWNER_UFW;
	if (strncmp(chain, "DOCKER", 6) == 0)
		return OWNER_DOCKER;
	if (c->mgr.csf && strcmp(table, "filter") == 0)
		return OWNER_CSF;
	return OWNER_IPTABLES;
}
#else
enum owner mgr_owner(const struct ctx *c, const char *where)
{
	(void)c;
	(void)where;
	return OWNER_ADMIN;
}
#endif

const char *mgr_name(enum owner o)
{
	static const char *const names[] = {
		[OWNER_ADMIN] = "nftables",	  [OWNER_CDNALLOW] = "cdnallow",
		[OWNER_UFW] = "UFW",		  [OWNER_FIREWALLD] = "firewalld",
		[OWNER_DOCKER] = "Docker",	  [OWNER_CSF] = "CSF",
		[OWNER_IPTABLES] = "iptables",
	};

	return (unsigned int)o < sizeof(names) / sizeof(names[0]) ? names[o] : "?";
}

void mgr_fwd_fix(const char *zone, uint16_t port, char *buf, size_t size)
{
	char open[48];

	/* firewall-cmd's way to open port: its service for 80 and 443, else the port */
	if (port == 443 || port == 80)
		snprintf(open, sizeof(open), "--add-service=%s", port == 443 ? "https" : "http");
	else
		snprintf(open, sizeof(open), "--add-port=%u/tcp", port);
	snprintf(buf, size,
		 "set `backend = firewalld` in cdnallow.conf (see cdnallow.conf(5)) and run "
		 "`cdnallow sync`: a rich rule in the zone then admits cdnallow's ipsets; or "
		 "`firewall-cmd --permanent --zone=%s %s && firewall-cmd --reload` (opens it "
		 "to everyone)",
		 zone, open);
}

/* A selected target of backend, or NULL. */
static const char *target_of(const struct ctx *c, const char *backend)
{
	for (size_t i = 0; i < c->cfg->n_targets; i++)
		if (strcmp(c->cfg->targets[i].backend, backend) == 0 &&
		    doctor_selected(c->o, c->cfg->targets[i].name))
			return c->cfg->targets[i].name;
	return NULL;
}

void mgr_fix(const struct ctx *c, enum owner o, bool policy, uint16_t port, char *buf,
	     size_t size)
{
	static const char *const backends[] = {[OWNER_UFW] = "ufw",
					       [OWNER_FIREWALLD] = "firewalld",
					       [OWNER_CSF] = "csf",
					       [OWNER_IPTABLES] = "iptables"};
	const char *zone = c->mgr.fwd_zone[0] != '\0' ? c->mgr.fwd_zone : "ZONE";
	const char *t = (size_t)o < sizeof(backends) / sizeof(backends[0]) && backends[o]
				? target_of(c, backends[o])
				: NULL;

	if (t != NULL) {
		snprintf(buf, size,
			 "target %s (backend = %s) is configured to admit the CDN here: run "
			 "`cdnallow sync --target %s` and check that its `ports =` names %u",
			 t, backends[o], t, port);
		return;
	}
	switch (o) {
	case OWNER_UFW:
		snprintf(buf, size,
			 "%sset `backend = ufw` in cdnallow.conf (see cdnallow.conf(5)) and run "
			 "`cdnallow sync`: UFW then admits the CDN's ranges in its own before "
			 "rules; or `ufw allow %u/tcp` (opens it to everyone)",
			 policy ? "" : "a UFW rule is changed with ufw, not nft (`ufw status "
				       "numbered`, `ufw delete N`); ",
			 port);
		return;
	case OWNER_FIREWALLD:
		mgr_fwd_fix(zone, port, buf, size);
		return;
	case OWNER_DOCKER:
		snprintf(buf, size,
			 "dockerd rebuilds its chains: filter published ports in DOCKER-USER "
			 "(`iptables -I DOCKER-USER ...`), or let cdnallow's origin lock guard them "
			 "(`lock_ports = %u` with `lock_forward`, see cdnallow.conf(5))",
			 port);
		return;
	case OWNER_CSF:
		snprintf(buf, size,
			 "CSF rebuilds this ruleset on every `csf -r`: set `backend = csf` in "
			 "cdnallow.conf (see cdnallow.conf(5)), which allows `tcp|in|d=%u|s=CIDR` "
			 "for each CDN range through csf.allow; or add such lines to "
			 "/etc/csf/csf.allow and run `csf -r` (%u in TCP_IN opens it to everyone)",
			 port, port);
		return;
	case OWNER_IPTABLES:
		snprintf(buf, size,
			 "this table is iptables-nft's: change it with iptables, not nft; set "
			 "`backend = iptables` (`mode = ipset`, `ports = %u`) in cdnallow.conf (see "
			 "cdnallow.conf(5)), or `iptables -I INPUT -p tcp --dport %u -m set "
			 "--match-set cdnallow4 src -j ACCEPT`%s",
			 port, port, policy ? "" : " before that rule");
		return;
	case OWNER_ADMIN:
	case OWNER_CDNALLOW:
	default:
		break;
	}
	if (policy)
		snprintf(buf, size,
			 "accept the CDN sets before the policy applies: in this chain add "
			 "`tcp dport { 80, 443 } ip saddr @SET accept` (the sets must be in the "
			 "same table: `table = ` with `create = no`)");
	else
		snprintf(buf, size,
			 "remove the CDN addresses from that rule, or accept the CDN sets before "
			 "it (`nft -a list ruleset` shows handles)");
}

void mgr_etc_path(const struct ctx *c, const char *path, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", c->o->etc_root ? c->o->etc_root : "", path);
}

/* UFW's directory: a selected ufw target's ufw_dir, else /etc/ufw (under etc_root). */
static void ufw_dir(struct ctx *c)
{
	for (size_t i = 0; i < c->cfg->n_targets; i++) {
		const struct target_config *tc = &c->cfg->targets[i];
		const char *d = target_get(tc, "ufw_dir");

		if (strcmp(tc->backend, "ufw") == 0 && doctor_selected(c->o, tc->name) &&
		    d != NULL) {
			snprintf(c->mgr.ufw_dir, sizeof(c->mgr.ufw_dir), "%s", d);
			return;
		}
	}
	mgr_etc_path(c, "/etc/ufw", c->mgr.ufw_dir, sizeof(c->mgr.ufw_dir));
}

int check_mgr_detect(struct ctx *c)
{
	char path[PATH_MAX + 16], v[64];

	ufw_dir(c);
	snprintf(path, sizeof(path), "%s/ufw.conf", c->mgr.ufw_dir);
	if (mgr_conf_value(path, "ENABLED", v, sizeof(v))) {
		c->mgr.ufw_enabled = strcasecmp(v, "yes") == 0;
		c->mgr.ufw_disabled = !c->mgr.ufw_enabled;
	}
#ifdef HAVE_NFTABLES
	detect_chains(c);
#endif
	return 0;
}
