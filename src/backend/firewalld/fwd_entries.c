// SPDX-License-Identifier: MIT
/* Entry lists of firewalld ipsets (parsing, comparing, the ordered runtime delta), rule text. */
#include "fwd_entries.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ranges.h"

void fwd_strv_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

size_t fwd_strv_len(char *const *v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

int fwd_entries_from_ranges(const struct ranges *r, int af, char ***out)
{
	struct cidr_list cl = {0};
	size_t k = 0;
	char **v = NULL;

	*out = NULL;
	if (ranges_to_cidrs(r, &cl) < 0)
		goto oom;
	if ((v = calloc(ranges_cidr_count(r, af) + 1, sizeof(*v))) == NULL)
		goto oom;
	for (size_t i = 0; i < cl.n; i++) {
		char buf[CIDR_STRLEN];

		if (cl.v[i].family != af)
			continue;
		if ((v[k++] = strdup(cidr_format(&cl.v[i], buf))) == NULL)
			goto oom;
	}
	cidr_list_finish(&cl);
	*out = v;
	return 0;
oom:
	cidr_list_finish(&cl);
	fwd_strv_free(v);
	errno = ENOMEM;
	return -1;
}

/* Bounds of one entry of family af: a prefix, an address, or "a-b". -1: not one. */
static int entry_bounds(const char *s, int af, cda_u128 *lo, cda_u128 *hi)
{
	const char *dash = strchr(s, '-');
	struct cidr a, b;
	cda_u128 x;

	if (dash == NULL) {
		if (cidr_parse(s, strlen(s), &a, NULL) == CIDR_INVALID || a.family != af)
			return -1;
		cidr_bounds(&a, lo, hi);
		return 0;
	}
	if (cidr_parse(s, (size_t)(dash - s), &a, NULL) != CIDR_OK || a.family != af ||
	    cidr_parse(dash + 1, strlen(dash + 1), &b, NULL) == CIDR_INVALID || b.family != af)
		return -1;
	cidr_bounds(&a, lo, &x);
	cidr_bounds(&b, &x, hi);
	return *lo <= *hi ? 0 : -1;
}

int fwd_entries_to_ranges(char *const *v, int af, struct ranges *r, size_t *bad)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
		cda_u128 lo, hi;
		int rc;

		if (entry_bounds(v[i], af, &lo, &hi) < 0) {
			*bad = i;
			return -2;
		}
		if (af == CDA_AF_INET)
			rc = ranges_add4(r, (uint32_t)lo, (uint32_t)hi);
		else
			rc = ranges_add6(r, lo, hi);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted copy of the pointers of v (the strings stay v's); NULL on ENOMEM. */
static char **sorted_view(char *const *v, size_t *n)
{
	char **s;

	*n = fwd_strv_len(v);
	if ((s = calloc(*n + 1, sizeof(*s))) == NULL)
		return NULL;
	if (*n > 0) {
		memcpy(s, v, *n * sizeof(*s));
		qsort(s, *n, sizeof(*s), cmp_str);
	}
	return s;
}

static bool sorted_has(char *const *sorted, size_t n, const char *s)
{
	return n > 0 && bsearch(&s, sorted, n, sizeof(*sorted), cmp_str) != NULL;
}

int fwd_entries_same(char *const *a, char *const *b)
{
	size_t na, nb;
	char **sa = sorted_view(a, &na), **sb = sorted_view(b, &nb);
	int same = sa != NULL && sb != NULL ? na == nb : -1;

	for (size_t i = 0; same == 1 && i < na; i++)
		same = strcmp(sa[i], sb[i]) == 0;
	free(sa);
	free(sb);
	if (same < 0)
		errno = ENOMEM;
	return same;
}

struct change {
	cda_u128 lo, hi;
	struct fwd_op op;
};

static int cmp_change(const void *a, const void *b)
{
	const struct change *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->op.add == y->op.add ? 0 : (x->op.add ? 1 : -1);
}

/* The entries of `from` missing in `other` (sorted) into c, as removals or additions. */
static int collect(char *const *from, char *const *other, size_t n_other, bool add,
		   struct change *c, size_t *n)
{
	for (size_t i = 0; from != NULL && from[i] != NULL; i++) {
		struct change *x = &c[*n];
		int af = strchr(from[i], ':') != NULL ? CDA_AF_INET6 : CDA_AF_INET;

		if (sorted_has(other, n_other, from[i]))
			continue;
		if (entry_bounds(from[i], af, &x->lo, &x->hi) < 0)
			return -2;
		x->op = (struct fwd_op){.entry = from[i], .add = add};
		(*n)++;
	}
	return 0;
}

/* c sorted by address; per group of overlapping changes, removals then additions. */
static void order_groups(struct change *c, size_t n, struct fwd_op *ops)
{
	size_t k = 0;

	for (size_t g = 0, end; g < n; g = end) {
		cda_u128 hi = c[g].hi;

		for (end = g + 1; end < n && c[end].lo <= hi; end++)
			if (c[end].hi > hi)
				hi = c[end].hi;
		for (int pass = 0; pass < 2; pass++)
			for (size_t i = g; i < end; i++)
				if (c[i].op.add == (pass == 1))
					ops[k++] = c[i].op;
	}
}

int fwd_entries_delta(char *const *have, char *const *want, struct fwd_op **ops, size_t *n)
{
	size_t nh, nw;
	char **sh = sorted_view(have, &nh), **sw = sorted_view(want, &nw);
	struct change *c = calloc(nh + nw + 1, sizeof(*c));
	int ret = -1;

	*ops = NULL;
	*n = 0;
	if (sh == NULL || sw == NULL || c == NULL)
		goto out;
	if ((ret = collect(have, sw, nw, false, c, n)) < 0 ||
	    (ret = collect(want, sh, nh, true, c, n)) < 0)
		goto out;
	ret = -1;
	if ((*ops = calloc(*n + 1, sizeof(**ops))) == NULL)
		goto out;
	if (*n > 0)
		qsort(c, *n, sizeof(*c), cmp_change);
	order_groups(c, *n, *ops);
	ret = 0;
out:
	if (ret == -1)
		errno = ENOMEM;
	if (ret < 0)
		*n = 0;
	free(sh);
	free(sw);
	free(c);
	return ret;
}

/* A port 1..65535, digits only, whole string: its value, else 0. */
static unsigned long port_value(const char *s, size_t len)
{
	unsigned long v = 0;

	if (len == 0 || len > 5 || s[0] == '0')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v <= 65535 ? v : 0;
}

int fwd_rich_rule(char **out, int af, const char *ipset, const char *port)
{
	const char *dash = strchr(port, '-');
	size_t n = dash != NULL ? (size_t)(dash - port) : strlen(port);
	unsigned long lo = port_value(port, n),
		      hi = dash != NULL ? port_value(dash + 1, strlen(dash + 1)) : lo;
	char p[48];

	*out = NULL;
	if (lo == 0 || hi == 0 || lo > hi) {
		errno = EINVAL;
		return -1;
	}
	if (lo == hi)
		snprintf(p, sizeof(p), "%lu", lo);
	else
		snprintf(p, sizeof(p), "%lu-%lu", lo, hi);
	if (asprintf(out,
		     "rule family=\"%s\" source ipset=\"%s\" port port=\"%s\" protocol=\"tcp\" "
		     "accept",
		     af == CDA_AF_INET ? "ipv4" : "ipv6", ipset, p) < 0) {
		*out = NULL;
		errno = ENOMEM;
		return -1;
	}
	return 0;
}
