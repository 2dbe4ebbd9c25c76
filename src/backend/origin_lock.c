// SPDX-License-Identifier: MIT
/* The origin lock's configuration and its one line, shared by nftables and iptables. */
#include "origin_lock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"
#include "cda_error.h"
#include "config.h"
#include "ranges.h"

const char *origin_lock_first_key(const struct target_config *tc)
{
	static const char *const keys[] = {"lock_ports", "lock_udp", "lock_forward", "lock_allow"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (target_get(tc, keys[i]) != NULL)
			return keys[i];
	return NULL;
}

int origin_lock_parse_ports(const char *v, bool dash, struct origin_lock_port *out, size_t max,
			    size_t *n)
{
	size_t nw = 0;
	char **w = config_split_words(v, &nw);
	int rc = -1;

	if (w == NULL || nw == 0 || nw > max)
		goto out;
	for (size_t i = 0; i < nw; i++) {
		unsigned long lo, hi;
		char *end;

		if (w[i][0] < '0' || w[i][0] > '9')
			goto out;
		lo = hi = strtoul(w[i], &end, 10);
		if (*end == ':' || (dash && *end == '-')) {
			if (end[1] < '0' || end[1] > '9')
				goto out;
			hi = strtoul(end + 1, &end, 10);
		}
		if (*end != '\0' || lo < 1 || hi > 65535 || lo > hi)
			goto out;
		out[i].lo = (uint16_t)lo;
		out[i].hi = (uint16_t)hi;
	}
	*n = nw;
	rc = 0;
out:
	config_free_words(w);
	return rc;
}

/* Append to buf[*k..size) like snprintf; once full, nothing more (the text is a prefix). */
static void add(char *buf, size_t size, size_t *k, const char *fmt, ...) CDA_PRINTF(4, 5);
static void add(char *buf, size_t size, size_t *k, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*k >= size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *k, size - *k, fmt, ap);
	va_end(ap);
	if (n > 0)
		*k += (size_t)n;
}

void origin_lock_ports_text(char *buf, size_t size, const struct origin_lock_port *p, size_t n,
			    char sep)
{
	size_t k = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (p[i].lo == p[i].hi)
			add(buf, size, &k, "%s%u", i ? "," : "", p[i].lo);
		else
			add(buf, size, &k, "%s%u%c%u", i ? "," : "", p[i].lo, sep, p[i].hi);
	}
}

int origin_lock_parse_forward(const struct target_config *tc, enum origin_lock_fwd *out,
			      struct cda_error *err)
{
	const char *v = target_get(tc, "lock_forward");
	bool b;

	if (v == NULL || strcmp(v, "auto") == 0) {
		*out = ORIGIN_LOCK_FWD_AUTO;
		return 0;
	}
	if (config_parse_bool(v, &b) < 0)
		return backend_bad_value(err, tc, "lock_forward", "expected yes, no or auto");
	*out = b ? ORIGIN_LOCK_FWD_YES : ORIGIN_LOCK_FWD_NO;
	return 0;
}

int origin_lock_parse_allow(const struct target_config *tc, bool v4, bool v6, struct cidr **out,
			    size_t *n, struct cda_error *err)
{
	const char *v = target_get(tc, "lock_allow");
	const char *bad = NULL;
	size_t nw = 0;
	char **w;

	if (v == NULL)
		return 0;
	if ((w = config_split_words(v, &nw)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "reading lock_allow");
	if (nw == 0 || nw > ORIGIN_LOCK_MAX_ALLOW) {
		config_free_words(w);
		return backend_bad_value(err, tc, "lock_allow",
					 "expected 1 to 64 addresses or prefixes");
	}
	if ((*out = calloc(nw, sizeof(**out))) == NULL) {
		config_free_words(w);
		return cda_error_sys(err, CDA_ESYS, "reading lock_allow");
	}
	for (size_t i = 0; i < nw && bad == NULL; i++) {
		struct cidr *c = &(*out)[i];

		if (cidr_parse(w[i], strlen(w[i]), c, NULL) != CIDR_OK)
			bad = "expected addresses or prefixes without host bits "
			      "(192.0.2.7 2001:db8::/64)";
		else if ((c->family == CDA_AF_INET && !v4) || (c->family == CDA_AF_INET6 && !v6))
			bad = "an address of a family this target does not sync";
	}
	config_free_words(w);
	if (bad != NULL)
		return backend_bad_value(err, tc, "lock_allow", bad);
	*n = nw;
	return 0;
}

void origin_lock_describe(char *buf, size_t size, const struct origin_lock_state *s)
{
	size_t k = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	if (!s->configured) {
		if (s->present)
			add(buf, size, &k, "lock chains present but not configured");
		return;
	}
	if (s->tcp != NULL)
		add(buf, size, &k, "tcp %s", s->tcp);
	if (s->udp != NULL)
		add(buf, size, &k, "%sudp %s", s->tcp != NULL ? " " : "", s->udp);
	add(buf, size, &k, " on input%s", s->forward ? "+forward" : "");
	if (s->empty_set != NULL)
		add(buf, size, &k, ": withheld while %s %s is empty", s->set_kind, s->empty_set);
	else if (s->missing || s->differs)
		add(buf, size, &k, ": %s",
		    s->missing ? "missing" : "differs from the configuration");
}

#define MULTIPORT_MAX 15 /* the multiport match's limit; a range counts twice */

int origin_lock_multiport(const char *s, bool dash, char **out)
{
	struct origin_lock_port p[MULTIPORT_MAX];
	char text[MULTIPORT_MAX * 12];
	size_t n = 0, used = 0;

	if (origin_lock_parse_ports(s, dash, p, MULTIPORT_MAX, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		used += p[i].lo == p[i].hi ? 1 : 2;
	if (used > MULTIPORT_MAX)
		return -1;
	origin_lock_ports_text(text, sizeof(text), p, n, ':');
	return (*out = strdup(text)) == NULL ? -1 : 0;
}
