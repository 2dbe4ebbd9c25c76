// SPDX-License-Identifier: MIT
/* Sets of address intervals: append, sort, merge, compare, subtract, and their CIDR cover. */
/* Over 600 lines as one module: the interval set, its set operations and its CIDR cover share
 * one representation (two sorted arrays) that nothing else may see. */
#include "ranges.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ranges {
	struct range4 *v4;
	size_t n4, cap4;
	struct range6 *v6;
	size_t n6, cap6;
	bool normal;
};

#define U128_MAX (~(cda_u128)0)

struct ranges *ranges_new(void)
{
	struct ranges *r = calloc(1, sizeof(*r));

	if (r != NULL)
		r->normal = true;
	return r;
}

void ranges_free(struct ranges *r)
{
	if (r == NULL)
		return;
	free(r->v4);
	free(r->v6);
	free(r);
}

struct ranges *ranges_dup(const struct ranges *r)
{
	struct ranges *d = ranges_new();

	if (d == NULL || ranges_add_all(d, r) < 0) {
		ranges_free(d);
		return NULL;
	}
	d->normal = r->normal;
	return d;
}

void ranges_clear(struct ranges *r)
{
	r->n4 = 0;
	r->n6 = 0;
	r->normal = true;
}

/* Room for need items of size bytes in a typed array (range4, range6, cidr); textbuf is for
 * bytes. */
static int grow(void **v, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap != 0 ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2) {
			errno = ENOMEM;
			return -1;
		}
		ncap *= 2;
	}
	p = reallocarray(*v, ncap, size);
	if (p == NULL)
		return -1;
	*v = p;
	*cap = ncap;
	return 0;
}

int ranges_reserve(struct ranges *r, size_t n4, size_t n6)
{
	if (grow((void **)&r->v4, &r->cap4, r->n4 + n4, sizeof(*r->v4)) < 0 ||
	    grow((void **)&r->v6, &r->cap6, r->n6 + n6, sizeof(*r->v6)) < 0)
		return -1;
	return 0;
}

int ranges_add4(struct ranges *r, uint32_t lo, uint32_t hi)
{
	if (lo > hi) {
		errno = EINVAL;
		return -1;
	}
	if (r->n4 == r->cap4 && grow((void **)&r->v4, &r->cap4, r->n4 + 1, sizeof(*r->v4)) < 0)
		return -1;
	r->v4[r->n4].lo = lo;
	r->v4[r->n4].hi = hi;
	r->n4++;
	r->normal = false;
	return 0;
}

int ranges_add6(struct ranges *r, cda_u128 lo, cda_u128 hi)
{
	if (lo > hi) {
		errno = EINVAL;
		return -1;
	}
	if (r->n6 == r->cap6 && grow((void **)&r->v6, &r->cap6, r->n6 + 1, sizeof(*r->v6)) < 0)
		return -1;
	r->v6[r->n6].lo = lo;
	r->v6[r->n6].hi = hi;
	r->n6++;
	r->normal = false;
	return 0;
}

int ranges_add_cidr(struct ranges *r, const struct cidr *c)
{
	cda_u128 lo, hi;

	cidr_bounds(c, &lo, &hi);
	if (c->family == CDA_AF_INET)
		return ranges_add4(r, (uint32_t)lo, (uint32_t)hi);
	return ranges_add6(r, lo, hi);
}

int ranges_add_all(struct ranges *r, const struct ranges *src)
{
	if (ranges_reserve(r, src->n4, src->n6) < 0)
		return -1;
	if (src->n4 != 0)
		memcpy(r->v4 + r->n4, src->v4, src->n4 * sizeof(*r->v4));
	if (src->n6 != 0)
		memcpy(r->v6 + r->n6, src->v6, src->n6 * sizeof(*r->v6));
	r->n4 += src->n4;
	r->n6 += src->n6;
	if (src->n4 + src->n6 != 0)
		r->normal = false;
	return 0;
}

static int cmp4(const void *a, const void *b)
{
	const struct range4 *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return 0;
}

static int cmp6(const void *a, const void *b)
{
	const struct range6 *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return 0;
}

static bool sorted4(const struct range4 *v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (cmp4(&v[i - 1], &v[i]) > 0)
			return false;
	return true;
}

static bool sorted6(const struct range6 *v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (cmp6(&v[i - 1], &v[i]) > 0)
			return false;
	return true;
}

/*
 * LSD radix sort of IPv4 items by (lo, hi) as one 64-bit key, 16 bits a pass: linear in n,
 * and an order of magnitude faster than qsort's callback per comparison on 1M items.
 */
static int radix4(struct range4 *v, size_t n)
{
	struct range4 *tmp = reallocarray(NULL, n, sizeof(*tmp));
	size_t *count;
	struct range4 *src = v, *dst = tmp;

	if (tmp == NULL)
		return -1;
	count = malloc(65536 * sizeof(*count));
	if (count == NULL) {
		free(tmp);
		return -1;
	}
	for (unsigned int pass = 0; pass < 4; pass++) {
		unsigned int shift = (pass & 1) * 16;
		bool on_hi = pass < 2;
		size_t sum = 0;

		memset(count, 0, 65536 * sizeof(*count));
		for (size_t i = 0; i < n; i++)
			count[((on_hi ? src[i].hi : src[i].lo) >> shift) & 0xffff]++;
		for (size_t k = 0; k < 65536; k++) {
			size_t c = count[k];

			count[k] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[count[((on_hi ? src[i].hi : src[i].lo) >> shift) & 0xffff]++] = src[i];
		struct range4 *t = src;
		src = dst;
		dst = t;
	}
	/* four passes: the result is back in v */
	free(count);
	free(tmp);
	return 0;
}

static bool less6(const struct range6 *x, const struct range6 *y)
{
	return x->lo != y->lo ? x->lo < y->lo : x->hi < y->hi;
}

/*
 * Merge sort of IPv6 items with the comparison inline (qsort's callback per comparison was
 * 5% of a 100k IPv6 apply): runs of 16 by insertion, then bottom-up merges between v and tmp.
 */
static int msort6(struct range6 *v, size_t n)
{
	struct range6 *tmp = reallocarray(NULL, n, sizeof(*tmp)), *src = v, *dst = tmp;

	if (tmp == NULL)
		return -1;
	for (size_t b = 0; b < n; b += 16) {
		size_t e = b + 16 < n ? b + 16 : n;

		for (size_t i = b + 1; i < e; i++) {
			struct range6 x = v[i];
			size_t j = i;

			for (; j > b && less6(&x, &v[j - 1]); j--)
				v[j] = v[j - 1];
			v[j] = x;
		}
	}
	for (size_t w = 16; w < n; w *= 2) {
		for (size_t b = 0; b < n; b += 2 * w) {
			size_t m = b + w < n ? b + w : n, e = b + 2 * w < n ? b + 2 * w : n;
			size_t i = b, j = m, o = b;

			while (i < m && j < e)
				dst[o++] = less6(&src[j], &src[i]) ? src[j++] : src[i++];
			while (i < m)
				dst[o++] = src[i++];
			while (j < e)
				dst[o++] = src[j++];
		}
		struct range6 *t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
	free(tmp);
	return 0;
}

void ranges_sort(struct ranges *r)
{
	if (r->n4 > 1 && !sorted4(r->v4, r->n4)) {
		if (r->n4 < 4096 || radix4(r->v4, r->n4) < 0)
			qsort(r->v4, r->n4, sizeof(*r->v4), cmp4);
	}
	if (r->n6 > 1 && !sorted6(r->v6, r->n6) && msort6(r->v6, r->n6) < 0)
		qsort(r->v6, r->n6, sizeof(*r->v6), cmp6);
}

void ranges_normalize(struct ranges *r)
{
	size_t o;

	if (r->normal)
		return;
	ranges_sort(r);
	/* merge overlapping and adjacent items; hi + 1 cannot overflow when hi < max */
	o = 0;
	for (size_t i = 0; i < r->n4; i++) {
		if (o > 0 && (r->v4[o - 1].hi == UINT32_MAX || r->v4[i].lo <= r->v4[o - 1].hi + 1)) {
			if (r->v4[i].hi > r->v4[o - 1].hi)
				r->v4[o - 1].hi = r->v4[i].hi;
		} else {
			r->v4[o++] = r->v4[i];
		}
	}
	r->n4 = o;
	o = 0;
	for (size_t i = 0; i < r->n6; i++) {
		if (o > 0 && (r->v6[o - 1].hi == U128_MAX || r->v6[i].lo <= r->v6[o - 1].hi + 1)) {
			if (r->v6[i].hi > r->v6[o - 1].hi)
				r->v6[o - 1].hi = r->v6[i].hi;
		} else {
			r->v6[o++] = r->v6[i];
		}
	}
	r->n6 = o;
	r->normal = true;
}

bool ranges_is_normal(const struct ranges *r)
{
	return r->normal;
}

bool ranges_already_normal(const struct ranges *r)
{
	for (size_t i = 1; i < r->n4; i++) {
		const struct range4 *a = &r->v4[i - 1], *b = &r->v4[i];

		if (a->lo >= b->lo || a->hi == UINT32_MAX || b->lo <= a->hi + 1)
			return false;
	}
	for (size_t i = 1; i < r->n6; i++) {
		const struct range6 *a = &r->v6[i - 1], *b = &r->v6[i];

		if (a->lo >= b->lo || a->hi == U128_MAX || b->lo <= a->hi + 1)
			return false;
	}
	return true;
}

size_t ranges_count4(const struct ranges *r)
{
	return r->n4;
}

size_t ranges_count6(const struct ranges *r)
{
	return r->n6;
}

const struct range4 *ranges_v4(const struct ranges *r)
{
	return r->n4 != 0 ? r->v4 : NULL;
}

const struct range6 *ranges_v6(const struct ranges *r)
{
	return r->n6 != 0 ? r->v6 : NULL;
}

bool ranges_equal(const struct ranges *a, const struct ranges *b)
{
	return a->n4 == b->n4 && a->n6 == b->n6 &&
	       (a->n4 == 0 || memcmp(a->v4, b->v4, a->n4 * sizeof(*a->v4)) == 0) &&
	       (a->n6 == 0 || memcmp(a->v6, b->v6, a->n6 * sizeof(*a->v6)) == 0);
}

int ranges_same_cover(const struct ranges *a, const struct ranges *b, bool *same)
{
	struct ranges *x = NULL, *y = NULL;

	if (a->normal && b->normal) {
		*same = ranges_equal(a, b);
		return 0;
	}
	x = ranges_dup(a);
	y = ranges_dup(b);
	if (x == NULL || y == NULL) {
		ranges_free(x);
		ranges_free(y);
		return -1;
	}
	ranges_normalize(x);
	ranges_normalize(y);
	*same = ranges_equal(x, y);
	ranges_free(x);
	ranges_free(y);
	return 0;
}

int ranges_diff_items(const struct ranges *a, const struct ranges *b, struct ranges **only_a,
		      struct ranges **only_b)
{
	struct ranges *oa = ranges_new(), *ob = ranges_new();
	size_t i, j;

	if (oa == NULL || ob == NULL)
		goto fail;
	for (i = 0, j = 0; i < a->n4 || j < b->n4;) {
		int c = i == a->n4 ? 1 : j == b->n4 ? -1 : cmp4(&a->v4[i], &b->v4[j]);

		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			if (ranges_add4(oa, a->v4[i].lo, a->v4[i].hi) < 0)
				goto fail;
			i++;
		} else {
			if (ranges_add4(ob, b->v4[j].lo, b->v4[j].hi) < 0)
				goto fail;
			j++;
		}
	}
	for (i = 0, j = 0; i < a->n6 || j < b->n6;) {
		int c = i == a->n6 ? 1 : j == b->n6 ? -1 : cmp6(&a->v6[i], &b->v6[j]);

		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			if (ranges_add6(oa, a->v6[i].lo, a->v6[i].hi) < 0)
				goto fail;
			i++;
		} else {
			if (ranges_add6(ob, b->v6[j].lo, b->v6[j].hi) < 0)
				goto fail;
			j++;
		}
	}
	/* outputs of a merge-walk over sorted inputs are sorted */
	oa->normal = a->normal;
	ob->normal = b->normal;
	*only_a = oa;
	*only_b = ob;
	return 0;
fail:
	ranges_free(oa);
	ranges_free(ob);
	return -1;
}

/*
 * One family's subtraction or intersection over normal arrays, in 128-bit arithmetic
 * (IPv4 values fit). keep_overlap selects intersection.
 */
static int sweep(struct ranges *out, int fam, size_t na, size_t nb,
		 void (*get)(const struct ranges *, int, size_t, cda_u128 *, cda_u128 *),
		 const struct ranges *a, const struct ranges *b, bool keep_overlap)
{
	size_t j = 0;

	for (size_t i = 0; i < na; i++) {
		cda_u128 lo, hi, blo, bhi;
		bool open = true;

		get(a, fam, i, &lo, &hi);
		while (j < nb) {
			get(b, fam, j, &blo, &bhi);
			if (bhi < lo) {
				j++;
				continue;
			}
			break;
		}
		for (size_t k = j; k < nb && open; k++) {
			get(b, fam, k, &blo, &bhi);
			if (blo > hi)
				break;
			if (keep_overlap) {
				cda_u128 l = blo > lo ? blo : lo, h = bhi < hi ? bhi : hi;

				if ((fam == CDA_AF_INET ? ranges_add4(out, (uint32_t)l, (uint32_t)h)
							: ranges_add6(out, l, h)) < 0)
					return -1;
				if (bhi >= hi)
					open = false;
			} else {
				if (blo > lo &&
				    (fam == CDA_AF_INET ? ranges_add4(out, (uint32_t)lo, (uint32_t)(blo - 1))
							: ranges_add6(out, lo, blo - 1)) < 0)
					return -1;
				if (bhi >= hi)
					open = false;
				else
					lo = bhi + 1;
			}
		}
		if (open && !keep_overlap &&
		    (fam == CDA_AF_INET ? ranges_add4(out, (uint32_t)lo, (uint32_t)hi)
					: ranges_add6(out, lo, hi)) < 0)
			return -1;
	}
	return 0;
}

static void get_item(const struct ranges *r, int fam, size_t i, cda_u128 *lo, cda_u128 *hi)
{
	if (fam == CDA_AF_INET) {
		*lo = r->v4[i].lo;
		*hi = r->v4[i].hi;
	} else {
		*lo = r->v6[i].lo;
		*hi = r->v6[i].hi;
	}
}

static int setop(const struct ranges *a, const struct ranges *b, struct ranges **out, bool inter)
{
	struct ranges *o = ranges_new();

	if (o == NULL)
		return -1;
	if (sweep(o, CDA_AF_INET, a->n4, b->n4, get_item, a, b, inter) < 0 ||
	    sweep(o, CDA_AF_INET6, a->n6, b->n6, get_item, a, b, inter) < 0) {
		ranges_free(o);
		return -1;
	}
	/* pieces come out sorted and disjoint, but may touch: normalize merges them */
	o->normal = false;
	ranges_normalize(o);
	*out = o;
	return 0;
}

int ranges_subtract(const struct ranges *a, const struct ranges *b, struct ranges **out)
{
	return setop(a, b, out, false);
}

int ranges_intersect(const struct ranges *a, const struct ranges *b, struct ranges **out)
{
	return setop(a, b, out, true);
}

bool ranges_contains(const struct ranges *r, int fam, cda_u128 addr)
{
	size_t lo = 0, hi = fam == CDA_AF_INET ? r->n4 : r->n6;

	if (fam == CDA_AF_INET && addr > UINT32_MAX)
		return false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		cda_u128 l, h;

		get_item(r, fam, mid, &l, &h);
		if (addr < l)
			hi = mid;
		else if (addr > h)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

int cidr_list_push(struct cidr_list *l, const struct cidr *c)
{
	if (l->n == l->cap && grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)) < 0)
		return -1;
	l->v[l->n++] = *c;
	return 0;
}

void cidr_list_finish(struct cidr_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Trailing zero bits of v (v != 0) and floor(log2(v)) (v != 0), in constant time. */
static unsigned int ctz_u128(cda_u128 v)
{
	uint64_t low = (uint64_t)v;

	return low != 0 ? (unsigned int)__builtin_ctzll(low)
			: 64u + (unsigned int)__builtin_ctzll((uint64_t)(v >> 64));
}

static unsigned int log2_u128(cda_u128 v)
{
	uint64_t high = (uint64_t)(v >> 64);

	return high != 0 ? 127u - (unsigned int)__builtin_clzll(high)
			 : 63u - (unsigned int)__builtin_clzll((uint64_t)v);
}

/*
 * Largest aligned block starting at lo that fits in [lo, hi]; returns its prefix length.
 * Its host bits are the fewer of lo's trailing zeros (alignment) and floor(log2) of the
 * range's size (fit); a size of 2^128 wraps to 0 and limits nothing.
 */
static unsigned int block_plen(int fam, cda_u128 lo, cda_u128 hi)
{
	unsigned int bits = fam == CDA_AF_INET ? 32 : 128, host = bits;
	cda_u128 size = hi - lo + 1;

	if (lo != 0 && ctz_u128(lo) < host)
		host = ctz_u128(lo);
	if (size != 0 && log2_u128(size) < host)
		host = log2_u128(size);
	return bits - host;
}

/* The largest block at lo (see block_plen); *end gets its last address. */
static struct cidr block_at(int fam, cda_u128 lo, cda_u128 hi, cda_u128 *end)
{
	struct cidr c = {.addr = lo, .family = (uint8_t)fam};
	cda_u128 first;

	c.plen = (uint8_t)block_plen(fam, lo, hi);
	cidr_bounds(&c, &first, end);
	return c;
}

static int cover(int fam, cda_u128 lo, cda_u128 hi, struct cidr_list *out)
{
	for (;;) {
		cda_u128 end;
		struct cidr c = block_at(fam, lo, hi, &end);

		if (cidr_list_push(out, &c) < 0)
			return -1;
		if (end >= hi)
			return 0;
		lo = end + 1;
	}
}

static size_t cover_count(int fam, cda_u128 lo, cda_u128 hi)
{
	size_t n = 0;

	for (;;) {
		cda_u128 end;

		block_at(fam, lo, hi, &end);
		n++;
		if (end >= hi)
			return n;
		lo = end + 1;
	}
}

int ranges_to_cidrs(const struct ranges *r, struct cidr_list *out)
{
	for (size_t i = 0; i < r->n4; i++)
		if (cover(CDA_AF_INET, r->v4[i].lo, r->v4[i].hi, out) < 0)
			return -1;
	for (size_t i = 0; i < r->n6; i++)
		if (cover(CDA_AF_INET6, r->v6[i].lo, r->v6[i].hi, out) < 0)
			return -1;
	return 0;
}

double ranges_addresses(const struct ranges *r, int fam)
{
	size_t n = fam == CDA_AF_INET ? r->n4 : r->n6;
	double sum = 0;

	for (size_t i = 0; i < n; i++) {
		cda_u128 lo, hi;

		get_item(r, fam, i, &lo, &hi);
		sum += (double)(hi - lo) + 1.0; /* hi - lo + 1 would wrap for ::/0 */
	}
	return sum;
}

size_t ranges_cidr_count(const struct ranges *r, int fam)
{
	size_t n = 0;

	if (fam == CDA_AF_INET) {
		for (size_t i = 0; i < r->n4; i++)
			n += cover_count(fam, r->v4[i].lo, r->v4[i].hi);
	} else {
		for (size_t i = 0; i < r->n6; i++)
			n += cover_count(fam, r->v6[i].lo, r->v6[i].hi);
	}
	return n;
}
