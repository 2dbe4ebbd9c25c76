// SPDX-License-Identifier: MIT
/* Address families and sets of addresses (struct ranges): the small helpers every check uses. */
#include <stdio.h>

#include "checks.h"
#include "ranges.h"

bool fam_none(const struct ranges *r)
{
	return ranges_count4(r) + ranges_count6(r) == 0;
}

int fam_add(struct ranges *r, int fam, cda_u128 lo, cda_u128 hi)
{
	if (fam == CDA_AF_INET)
		return ranges_add4(r, (uint32_t)lo, (uint32_t)hi);
	return ranges_add6(r, lo, hi);
}

const char *fam_name(int fam)
{
	return fam == CDA_AF_INET ? "IPv4" : "IPv6";
}

cda_u128 fam_max(int fam)
{
	return fam == CDA_AF_INET ? (cda_u128)UINT32_MAX : ~(cda_u128)0;
}

size_t fam_count(const struct ranges *r, int fam)
{
	return fam == CDA_AF_INET ? ranges_count4(r) : ranges_count6(r);
}

struct ranges *fam_only(const struct ranges *r, int fam)
{
	struct ranges *o = ranges_new();

	if (o == NULL)
		return NULL;
	if (fam == CDA_AF_INET) {
		const struct range4 *v = ranges_v4(r);

		for (size_t i = 0; i < ranges_count4(r); i++)
			if (ranges_add4(o, v[i].lo, v[i].hi) < 0)
				goto fail;
	} else {
		const struct range6 *v = ranges_v6(r);

		for (size_t i = 0; i < ranges_count6(r); i++)
			if (ranges_add6(o, v[i].lo, v[i].hi) < 0)
				goto fail;
	}
	ranges_normalize(o);
	return o;
fail:
	ranges_free(o);
	return NULL;
}

void fam_samples(const struct ranges *r, char *buf, size_t size)
{
	struct cidr_list l = {0};
	size_t off = 0;

	buf[0] = '\0';
	if (ranges_to_cidrs(r, &l) < 0) {
		snprintf(buf, size, "(out of memory)");
		return;
	}
	for (size_t i = 0; i < l.n && i < SAMPLES; i++) {
		char cb[CIDR_STRLEN];

		off += (size_t)snprintf(buf + off, off < size ? size - off : 0, "%s%s",
					i ? ", " : "", cidr_format(&l.v[i], cb));
	}
	if (l.n > SAMPLES && off < size)
		snprintf(buf + off, size - off, " and %zu more", l.n - SAMPLES);
	cidr_list_finish(&l);
}

int fam_union(struct ranges **dst, const struct ranges *add)
{
	if (ranges_add_all(*dst, add) < 0)
		return -1;
	ranges_normalize(*dst);
	return 0;
}

int fam_minus(struct ranges **dst, const struct ranges *sub)
{
	struct ranges *o = NULL;

	if (ranges_subtract(*dst, sub, &o) < 0)
		return -1;
	ranges_free(*dst);
	*dst = o;
	return 0;
}
