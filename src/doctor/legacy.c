// SPDX-License-Identifier: MIT
/*
 * iptables-legacy's filter table (`iptables-legacy-save -t filter` text) evaluated for one
 * new TCP or UDP connection from one address to one port: INPUT's rules in order, user chains
 * followed. The common options are understood (-s, -p, -i lo, --dport, --dports, --state,
 * --ctstate, --syn, --tcp-flags, --src-range, addrtype, comment); any other makes the rule
 * "maybe", which makes what it could decide unsure.
 */
#include "legacy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LG_MAX_TOK 64
#define LG_DEPTH 16

struct lg_rule {
	char *buf; /* the tokens' storage */
	const char *chain;
	char *tok[LG_MAX_TOK];
	int n;
	const char *line;
};

struct lg {
	const struct legacy_probe *p;
	struct lg_rule *r;
	size_t n;
	char *text;
	bool unsure;
	struct legacy_verdict *out;
};

/* Split one saved rule line into tokens in place ("quoted strings" kept whole). */
static int tokenize(char *l, char **tok)
{
	int n = 0;

	while (*l != '\0' && n < LG_MAX_TOK) {
		while (*l == ' ')
			l++;
		if (*l == '\0')
			break;
		if (*l == '"') {
			tok[n++] = ++l;
			while (*l != '\0' && *l != '"')
				l += (*l == '\\' && l[1] != '\0') ? 2 : 1;
		} else {
			tok[n++] = l;
			while (*l != '\0' && *l != ' ')
				l++;
		}
		if (*l != '\0')
			*l++ = '\0';
	}
	return *l == '\0' ? n : -1;
}

static bool port_in(const char *spec, uint16_t port)
{
	char *end;
	unsigned long a = strtoul(spec, &end, 10), b = a;

	if (*end == ':')
		b = strtoul(end + 1, &end, 10);
	return port >= a && port <= b;
}

static bool ports_in(const char *list, uint16_t port)
{
	for (const char *s = list; s != NULL && *s != '\0'; s = strchr(s, ',') ? strchr(s, ',') + 1 : NULL)
		if (port_in(s, port))
			return true;
	return false;
}

static bool word_in(const char *list, const char *w)
{
	size_t n = strlen(w);

	for (const char *s = list; s != NULL; s = strchr(s, ',') ? strchr(s, ',') + 1 : NULL)
		if (strncmp(s, w, n) == 0 && (s[n] == ',' || s[n] == '\0'))
			return true;
	return false;
}

static unsigned int tcp_flags(const char *list)
{
	static const char *const names[] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG"};
	unsigned int v = 0;

	if (strcmp(list, "ALL") == 0)
		return 0x3f;
	for (unsigned int i = 0; i < 6; i++)
		if (word_in(list, names[i]))
			v |= 1u << i;
	return v;
}

static bool addr_in(const struct legacy_probe *p, const char *spec)
{
	struct cidr c;
	cda_u128 lo, hi;
	bool bare;

	if (cidr_parse(spec, strlen(spec), &c, &bare) == CIDR_INVALID || c.family != p->fam)
		return false;
	cidr_bounds(&c, &lo, &hi);
	return p->addr >= lo && p->addr <= hi;
}

static bool range_in(const struct legacy_probe *p, const char *spec)
{
	const char *dash = strchr(spec, '-');
	struct cidr a, b;
	bool bare;

	if (dash == NULL || cidr_parse(spec, (size_t)(dash - spec), &a, &bare) != CIDR_OK ||
	    cidr_parse(dash + 1, strlen(dash + 1), &b, &bare) != CIDR_OK || a.family != p->fam)
		return false;
	return p->addr >= a.addr && p->addr <= b.addr;
}

enum m_res { M_YES, M_NO, M_MAYBE };

/* One option and its value at tok[*i]; *i moves past them. */
static enum m_res opt(const struct legacy_probe *p, char *const *tok, int n, int *i)
{
	bool has_v = *i + 1 < n && tok[*i + 1][0] != '-' && strcmp(tok[*i + 1], "!") != 0;
	const char *o = tok[*i], *v = has_v ? tok[*i + 1] : "";

	*i += has_v ? 2 : 1; /* flags such as --syn or --rcheck have no value */
	if (strcmp(o, "-s") == 0 || strcmp(o, "--source") == 0)
		return addr_in(p, v) ? M_YES : M_NO;
	if (strcmp(o, "-d") == 0 || strcmp(o, "--destination") == 0)
		return strcmp(v, "0.0.0.0/0") == 0 || strcmp(v, "::/0") == 0 ? M_YES : M_MAYBE;
	if (strcmp(o, "-p") == 0 || strcmp(o, "--protocol") == 0) {
		bool udp = p->l4 == 17;

		return strcmp(v, udp ? "udp" : "tcp") == 0 || strcmp(v, udp ? "17" : "6") == 0 ||
			       strcmp(v, "all") == 0
			       ? M_YES
			       : M_NO;
	}
	if (strcmp(o, "-i") == 0 || strcmp(o, "--in-interface") == 0)
		return strcmp(v, "lo") == 0 ? M_NO : strcmp(v, "+") == 0 ? M_YES : M_MAYBE;
	if (strcmp(o, "-m") == 0 || strcmp(o, "--comment") == 0)
		return M_YES;
	if (strcmp(o, "--dport") == 0 || strcmp(o, "--destination-port") == 0)
		return port_in(v, p->port) ? M_YES : M_NO;
	if (strcmp(o, "--dports") == 0 || strcmp(o, "--destination-ports") == 0)
		return ports_in(v, p->port) ? M_YES : M_NO;
	if (strcmp(o, "--state") == 0 || strcmp(o, "--ctstate") == 0)
		return word_in(v, "NEW") ? M_YES : M_NO;
	if (strcmp(o, "--dst-type") == 0)
		return word_in(v, "LOCAL") ? M_YES : M_NO;
	if (strcmp(o, "--src-type") == 0)
		return word_in(v, "UNICAST") ? M_YES : M_NO;
	if (strcmp(o, "--src-range") == 0)
		return range_in(p, v) ? M_YES : M_NO;
	if (strcmp(o, "--syn") == 0)
		return M_YES;
	if (strcmp(o, "--tcp-flags") == 0 && *i < n) {
		unsigned int mask = tcp_flags(v), cmp = tcp_flags(tok[(*i)++]);

		return (0x02 & mask) == cmp ? M_YES : M_NO;
	}
	if (strcmp(o, "--sport") == 0 || strcmp(o, "--source-port") == 0)
		return strcmp(v, "0:65535") == 0 ? M_YES : M_MAYBE;
	return M_MAYBE; /* not modelled */
}

/* Whether rule r matches the probe; *target set to its -j/-g word (NULL: none). */
static enum m_res rule_match(const struct legacy_probe *p, const struct lg_rule *r,
			     const char **target, bool *go)
{
	enum m_res res = M_YES;
	int i = 2;

	*target = NULL;
	*go = false;
	while (i < r->n) {
		bool neg = strcmp(r->tok[i], "!") == 0;
		enum m_res m;

		if (neg && ++i >= r->n)
			break;
		if (strcmp(r->tok[i], "-j") == 0 || strcmp(r->tok[i], "--jump") == 0 ||
		    strcmp(r->tok[i], "-g") == 0 || strcmp(r->tok[i], "--goto") == 0) {
			*go = r->tok[i][1] == 'g' || r->tok[i][2] == 'g';
			*target = i + 1 < r->n ? r->tok[i + 1] : NULL;
			break; /* the target's own options follow */
		}
		m = opt(p, r->tok, r->n, &i);
		if (neg && m != M_MAYBE)
			m = m == M_YES ? M_NO : M_YES;
		if (m == M_NO)
			return M_NO;
		if (m == M_MAYBE)
			res = M_MAYBE;
	}
	return res;
}

enum flow { F_ON, F_ACCEPT, F_DROP, F_RETURN };

static bool has_rules(const struct lg *g, const char *chain)
{
	for (size_t k = 0; k < g->n; k++)
		if (strcmp(g->r[k].chain, chain) == 0)
			return true;
	return false;
}

static void decided(struct lg *g, const struct lg_rule *r, enum flow f)
{
	g->out->res = f == F_DROP ? (g->unsure ? LEGACY_MAYBE : LEGACY_DROP)
				  : (g->unsure ? LEGACY_MAYBE : LEGACY_PASS);
	snprintf(g->out->rule, sizeof(g->out->rule), "%s", r->line);
}

static enum flow run_chain(struct lg *g, const char *chain, int depth)
{
	for (size_t k = 0; k < g->n; k++) {
		const struct lg_rule *r = &g->r[k];
		const char *t;
		enum m_res m;
		enum flow f;
		bool go;

		if (strcmp(r->chain, chain) != 0)
			continue;
		m = rule_match(g->p, r, &t, &go);
		if (m == M_NO || t == NULL)
			continue;
		if (strcmp(t, "ACCEPT") == 0)
			f = F_ACCEPT;
		else if (strcmp(t, "DROP") == 0 || strcmp(t, "REJECT") == 0)
			f = F_DROP;
		else if (strcmp(t, "RETURN") == 0)
			f = F_RETURN;
		else if (!has_rules(g, t))
			continue; /* LOG and other targets that do not decide, or an empty chain */
		else
			f = F_ON;
		if (f == F_ON) {
			enum flow sub;

			if (m == M_MAYBE || depth >= LG_DEPTH) {
				g->unsure = true; /* what that chain decides may apply */
				continue;
			}
			sub = run_chain(g, t, depth + 1);
			if (sub == F_ACCEPT || sub == F_DROP)
				return sub;
			if (go) /* a goto's chain returns to our caller */
				return F_RETURN;
			continue;
		}
		if (m == M_MAYBE) {
			g->unsure = true; /* it may decide, or not */
			continue;
		}
		if (f == F_ACCEPT || f == F_DROP)
			decided(g, r, f);
		return f;
	}
	return F_RETURN;
}

int legacy_eval(const char *save, const struct legacy_probe *p, struct legacy_verdict *out)
{
	struct lg g = {.p = p, .out = out};
	char policy[32] = "ACCEPT", *sv = NULL;
	int rc = -1;
	bool in_filter = false;

	memset(out, 0, sizeof(*out));
	out->res = LEGACY_PASS;
	if ((g.text = strdup(save)) == NULL)
		return -1;
	for (char *l = strtok_r(g.text, "\n", &sv); l != NULL; l = strtok_r(NULL, "\n", &sv)) {
		struct lg_rule *v;
		char *copy;

		if (l[0] == '*')
			in_filter = strcmp(l, "*filter") == 0;
		if (!in_filter)
			continue;
		if (strncmp(l, ":INPUT ", 7) == 0)
			sscanf(l + 7, "%31s", policy);
		if (strncmp(l, "-A ", 3) != 0)
			continue;
		if ((v = reallocarray(g.r, g.n + 1, sizeof(*v))) == NULL ||
		    (copy = strdup(l)) == NULL) {
			g.r = v ? v : g.r;
			goto out;
		}
		g.r = v;
		v = &g.r[g.n++];
		v->buf = copy;
		v->line = l;
		v->n = tokenize(copy, v->tok);
		v->chain = v->n >= 2 ? v->tok[1] : "";
		if (v->n < 0) { /* too long to model: it may decide */
			v->n = 0;
			v->chain = "";
			g.unsure = true;
		}
	}
	if (run_chain(&g, "INPUT", 0) == F_RETURN && strcmp(policy, "DROP") == 0) {
		out->res = g.unsure ? LEGACY_MAYBE : LEGACY_DROP;
		snprintf(out->rule, sizeof(out->rule), ":INPUT DROP (the policy)");
	} else if (out->rule[0] == '\0' && g.unsure) {
		out->res = LEGACY_MAYBE;
		snprintf(out->rule, sizeof(out->rule), "rules not modelled in INPUT");
	}
	rc = 0;
out:
	for (size_t i = 0; i < g.n; i++)
		free(g.r[i].buf);
	free(g.r);
	free(g.text);
	return rc;
}
