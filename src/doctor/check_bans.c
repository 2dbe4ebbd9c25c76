// SPDX-License-Identifier: MIT
/* Bans outside the nft rules: Fail2Ban jails, CSF deny lists, ban-style ipsets. */
#include "checks.h"

#include <sys/stat.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cda_error.h"
#include "config.h"
#include "ranges.h"
#include "subproc.h"

static const char *const ban_words[] = {"block", "deny",     "ban",   "black", "drop", "reject",
					"f2b",   "crowdsec", "abuse", "bad",   NULL};

bool check_bans_named(const char *name)
{
	char low[256];
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < sizeof(low); i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[i] = '\0';
	for (const char *const *w = ban_words; *w != NULL; w++)
		if (strstr(low, *w) != NULL)
			return true;
	return false;
}

#define CMD_TIMEOUT 3 /* seconds: a hung fail2ban-client or ipset must not hang the doctor */

/* argv's stdout (free() it) when it ran and exited 0; NULL otherwise, *missing telling
 * whether the program is not there (or not executable). */
static char *run_cmd(char *const argv[], bool *missing)
{
	struct subproc_opts o = {.argv = argv, .timeout = CMD_TIMEOUT};
	struct cda_error e = {0};
	struct subproc_out r;
	char *out = NULL;

	*missing = false;
	if (subproc_exec(&o, &r, &e) < 0) {
		*missing = e.code == CDA_EAPPLY && (e.sys_errno == ENOENT || e.sys_errno == EACCES);
		return NULL;
	}
	if (r.status == 0) {
		out = r.out;
		r.out = NULL;
	}
	subproc_out_finish(&r);
	return out;
}

static int push_ban(struct ctx *c, const char *where, const char *tok, size_t len)
{
	struct cidr ci;
	struct ban *v;

	if (len == 0 || cidr_parse(tok, len, &ci, NULL) == CIDR_INVALID)
		return 0;
	v = reallocarray(c->bans, c->n_bans + 1, sizeof(*v));
	if (v == NULL)
		return -1;
	c->bans = v;
	snprintf(v[c->n_bans].where, sizeof(v[c->n_bans].where), "%s", where);
	v[c->n_bans++].c = ci;
	return 0;
}

static bool cidr_hits(const struct ranges *r, const struct cidr *ci)
{
	cda_u128 lo, hi;
	struct ranges *one, *o = NULL;
	bool hit;

	cidr_bounds(ci, &lo, &hi);
	if (ranges_contains(r, ci->family, lo) || ranges_contains(r, ci->family, hi))
		return true;
	/* a wide ban may cover a CDN range without its ends being in one */
	if ((one = ranges_new()) == NULL || fam_add(one, ci->family, lo, hi) < 0) {
		ranges_free(one);
		return true;
	}
	ranges_normalize(one);
	if (ranges_intersect(one, r, &o) < 0) {
		ranges_free(one);
		return true;
	}
	hit = !fam_none(o);
	ranges_free(one);
	ranges_free(o);
	return hit;
}

static void fail2ban_bans(struct ctx *c)
{
	const char *sock =
		c->o->fail2ban_socket ? c->o->fail2ban_socket : "/var/run/fail2ban/fail2ban.sock";
	const char *cli = c->o->fail2ban_client ? c->o->fail2ban_client : "fail2ban-client";
	char *argv[8], *out, *jl, *save = NULL;
	struct stat sb;
	bool missing;

	if (stat(sock, &sb) < 0) {
		doctor_note(c, DOCTOR_OK, "bans", "Fail2Ban", NULL,
			    "Fail2Ban is not running (no %s)", sock);
		return;
	}
	if (access(sock, R_OK | W_OK) < 0) {
		doctor_note(c, DOCTOR_INFO, "bans", "Fail2Ban", "run it as root",
			    "Fail2Ban's socket %s is not accessible: its bans were not checked",
			    sock);
		return;
	}
	argv[0] = (char *)cli;
	argv[1] = "-s";
	argv[2] = (char *)sock;
	argv[3] = "status";
	argv[4] = NULL;
	out = run_cmd(argv, &missing);
	if (missing) {
		doctor_note(c, DOCTOR_INFO, "bans", "Fail2Ban", NULL,
			    "%s not found: Fail2Ban's bans were not checked", cli);
		return;
	}
	if (out == NULL || (jl = strstr(out, "Jail list:")) == NULL) {
		doctor_note(c, DOCTOR_WARNING, "bans", "Fail2Ban", NULL,
			    "`%s -s %s status` failed: bans were not checked", cli, sock);
		free(out);
		return;
	}
	jl += strlen("Jail list:");
	jl[strcspn(jl, "\n")] = '\0';
	for (char *j = strtok_r(jl, ", \t", &save); j != NULL; j = strtok_r(NULL, ", \t", &save)) {
		char *bo, where[300], *s2 = NULL;

		argv[3] = "get";
		argv[4] = j;
		argv[5] = "banip";
		argv[6] = NULL;
		if ((bo = run_cmd(argv, &missing)) == NULL) {
			doctor_note(c, DOCTOR_WARNING, "bans", j, NULL,
				    "could not list the bans of Fail2Ban jail %s", j);
			continue;
		}
		snprintf(where, sizeof(where), "Fail2Ban jail %s", j);
		for (char *t = strtok_r(bo, " \t\r\n,", &s2); t != NULL;
		     t = strtok_r(NULL, " \t\r\n,", &s2))
			if (push_ban(c, where, t, strlen(t)) < 0)
				c->oom = true;
		free(bo);
	}
	free(out);
}

static void file_bans(struct ctx *c, const char *path, bool tempban)
{
	FILE *fp = fopen(path, "r");
	char line[1024];

	if (fp == NULL) {
		if (errno == EACCES)
			doctor_note(c, DOCTOR_INFO, "bans", path, "run it as root",
				    "cannot read %s: CSF bans were not checked", path);
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *t = line;
		size_t len;

		if (tempban) {
			/* time|ip|port|inout|timeout|message */
			char *bar = strchr(line, '|');

			if (bar == NULL)
				continue;
			t = bar + 1;
			len = strcspn(t, "|");
		} else {
			t += strspn(t, " \t");
			if (*t == '#' || strncasecmp(t, "Include", 7) == 0)
				continue;
			len = strcspn(t, " \t\r\n#");
		}
		if (push_ban(c, path, t, len) < 0)
			c->oom = true;
	}
	fclose(fp);
}

static void ipset_bans(struct ctx *c)
{
	const char *cmd = c->o->ipset_cmd ? c->o->ipset_cmd : "ipset";
	char *argv[] = {(char *)cmd, "save", NULL}, *out, *save = NULL;
	const char *skip[2 * 8 + 1];
	size_t ns = 0;
	bool missing;

	for (size_t i = 0; i < c->cfg->n_targets && ns + 2 < sizeof(skip) / sizeof(skip[0]); i++) {
		const struct target_config *tc = &c->cfg->targets[i];
		const char *v4 = target_get(tc, "set_v4"), *v6 = target_get(tc, "set_v6");

		if (strcmp(tc->backend, "iptables") != 0)
			continue;
		skip[ns++] = v4 ? v4 : "cdnallow4";
		skip[ns++] = v6 ? v6 : "cdnallow6";
	}
	if ((out = run_cmd(argv, &missing)) == NULL) {
		if (!missing && geteuid() != 0)
			doctor_note(c, DOCTOR_INFO, "bans", "ipset", "run it as root",
				    "ipsets cannot be listed without root: not checked");
		return;
	}
	for (char *l = strtok_r(out, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
		char name[64], entry[128], where[128];
		bool own = false;

		if (sscanf(l, "add %63s %127s", name, entry) != 2)
			continue;
		for (size_t i = 0; i < ns; i++)
			own |= strcmp(skip[i], name) == 0 ||
			       (strncmp(skip[i], name, strlen(skip[i])) == 0 &&
				strcmp(name + strlen(skip[i]), "-tmp") == 0);
		if (own || !check_bans_named(name))
			continue; /* allow lists are ipsets too: only ban-style names count */
		snprintf(where, sizeof(where), "ipset %s", name);
		if (push_ban(c, where, entry, strcspn(entry, ",")) < 0)
			c->oom = true;
	}
	free(out);
}

int check_bans(struct ctx *c)
{
	const char *deny = c->o->csf_deny ? c->o->csf_deny : "/etc/csf/csf.deny";
	const char *temp = c->o->csf_tempban ? c->o->csf_tempban : "/var/lib/csf/csf.tempban";
	size_t hits = 0;

	fail2ban_bans(c);
	file_bans(c, deny, false);
	file_bans(c, temp, true);
	ipset_bans(c);
	for (size_t i = 0; i < c->n_bans && c->have_cdn; i++) {
		struct ban *b = &c->bans[i];
		char cb[CIDR_STRLEN], fix[600];
		bool f2b = strncmp(b->where, "Fail2Ban jail ", 14) == 0;
		bool ips = strncmp(b->where, "ipset ", 6) == 0;

		if (!cidr_hits(c->cdn, &b->c))
			continue;
		hits++;
		cidr_format(&b->c, cb);
		if (f2b)
			snprintf(
				fix, sizeof(fix),
				"fail2ban-client set %s unbanip %s; add the CDN ranges to ignoreip "
				"(a cdnallow fail2ban target) and make the web server log the "
				"visitor's address (CF-Connecting-IP)",
				b->where + 14, cb);
		else if (ips)
			snprintf(fix, sizeof(fix), "ipset del %s %s", b->where + 6, cb);
		else
			snprintf(fix, sizeof(fix),
				 "csf -dr %s (or csf -tr), and put the CDN ranges into csf.ignore "
				 "(a cdnallow target with `backend = csf` and `lfd_ignore = yes`)",
				 cb);
		doctor_note(c, ips ? DOCTOR_WARNING : DOCTOR_ERROR, "bans", b->where, fix,
			    "%s, a CDN address, is banned in %s", cb, b->where);
	}
	if (hits == 0 && c->have_cdn)
		doctor_note(c, DOCTOR_OK, "bans", NULL, NULL,
			    "no CDN address in Fail2Ban, CSF or ipset ban lists (%zu entries "
			    "looked at)",
			    c->n_bans);
	return 0;
}

int check_bans_ips(struct ctx *c)
{
	for (size_t i = 0; i < c->n_ips; i++) {
		for (size_t b = 0; b < c->n_bans; b++) {
			cda_u128 lo, hi;

			cidr_bounds(&c->bans[b].c, &lo, &hi);
			if (c->bans[b].c.family == c->ips[i].family && c->ips[i].addr >= lo &&
			    c->ips[i].addr <= hi)
				doctor_note(c, DOCTOR_ERROR, "ip", c->o->ips[i], NULL,
					    "%s is banned in %s", c->o->ips[i], c->bans[b].where);
		}
	}
	return 0;
}
