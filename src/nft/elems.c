// SPDX-License-Identifier: MIT
/* Interval-set elements as a dump returns them, back into ranges; set flags we cannot track. */
#include "nft_batch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "ranges.h"

/* IPv4 elements are packed as key << 1 | is_start, so END sorts first on ties. */
struct elem6 {
	cda_u128 key;
	bool start;
};

struct nft_elems {
	int fam;
	uint64_t *v4;
	struct elem6 *v6;
	size_t n, cap;
};

struct nft_elems *nft_elems_new(int fam)
{
	struct nft_elems *e;

	if (fam != CDA_AF_INET && fam != CDA_AF_INET6) {
		errno = EINVAL;
		return NULL;
	}
	if ((e = calloc(1, sizeof(*e))) != NULL)
		e->fam = fam;
	return e;
}

void nft_elems_free(struct nft_elems *e)
{
	if (e == NULL)
		return;
	free(e->v4);
	free(e->v6);
	free(e);
}

int nft_elems_add(struct nft_elems *e, const void *key, size_t key_len, bool interval_end)
{
	const uint8_t *k = key;

	if (key_len != (e->fam == CDA_AF_INET ? 4u : 16u)) {
		errno = EINVAL;
		return -1;
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 256;
		void *v = e->fam == CDA_AF_INET ? reallocarray(e->v4, cap, sizeof(*e->v4))
						: reallocarray(e->v6, cap, sizeof(*e->v6));

		if (v == NULL)
			return -1;
		if (e->fam == CDA_AF_INET)
			e->v4 = v;
		else
			e->v6 = v;
		e->cap = cap;
	}
	if (e->fam == CDA_AF_INET) {
		uint32_t be;

		memcpy(&be, k, 4);
		e->v4[e->n++] = (uint64_t)ntohl(be) << 1 | (interval_end ? 0 : 1);
	} else {
		cda_u128 a = 0;

		for (int i = 0; i < 16; i++)
			a = a << 8 | k[i];
		e->v6[e->n].key = a;
		e->v6[e->n++].start = !interval_end;
	}
	return 0;
}

/* One NFTA_LIST_ELEM: its key and flags. */
static int add_attr(struct nft_elems *e, const struct nlattr *el)
{
	const struct nlattr *b, *k;
	const void *key = NULL;
	size_t len = 0;
	bool end = false;

	mnl_attr_for_each_nested (b, el) {
		if (mnl_attr_get_type(b) == NFTA_SET_ELEM_KEY) {
			mnl_attr_for_each_nested (k, b)
				if (mnl_attr_get_type(k) == NFTA_DATA_VALUE) {
					key = mnl_attr_get_payload(k);
					len = mnl_attr_get_payload_len(k);
				}
		} else if (mnl_attr_get_type(b) == NFTA_SET_ELEM_FLAGS &&
			   mnl_attr_validate(b, MNL_TYPE_U32) == 0) {
			end = ntohl(mnl_attr_get_u32(b)) & NFT_SET_ELEM_INTERVAL_END;
		} else if (mnl_attr_get_type(b) == NFTA_SET_ELEM_TIMEOUT ||
			   mnl_attr_get_type(b) == NFTA_SET_ELEM_EXPIRATION) {
			return NFT_ELEMS_TIMED;
		}
	}
	if (key == NULL) {
		errno = EINVAL;
		return -1;
	}
	return nft_elems_add(e, key, len, end);
}

int nft_elems_add_msg(struct nft_elems *e, const struct nlmsghdr *nlh)
{
	const struct nlattr *a, *list = NULL;

	mnl_attr_for_each (a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_ELEMENTS)
			list = a;
	if (list == NULL)
		return 0;
	mnl_attr_for_each_nested (a, list) {
		int rc = add_attr(e, a);

		if (rc != 0)
			return rc;
	}
	return 0;
}

const char *nft_set_untrackable(uint32_t flags, const char **flag)
{
	if (flags & NFT_SET_TIMEOUT) {
		*flag = "timeout";
		return "its elements expire";
	}
	if (flags & NFT_SET_EVAL) {
		*flag = "dynamic";
		return "the packet path adds elements";
	}
	if (flags & NFT_SET_CONSTANT) {
		*flag = "constant";
		return "its elements cannot change";
	}
	*flag = NULL;
	return NULL;
}

static int cmp64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int cmp6(const void *a, const void *b)
{
	const struct elem6 *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (int)x->start - (int)y->start;
}

/* Dumps come in descending order: reverse them, sort only when that was not enough. */
static void order(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	char *v = base, tmp[sizeof(struct elem6)];
	size_t i;

	if (n < 2)
		return;
	for (i = 1; i < n && cmp(v + (i - 1) * size, v + i * size) >= 0; i++)
		;
	if (i == n) {
		for (size_t a = 0, b = n - 1; a < b; a++, b--) {
			memcpy(tmp, v + a * size, size);
			memcpy(v + a * size, v + b * size, size);
			memcpy(v + b * size, tmp, size);
		}
	}
	for (i = 1; i < n && cmp(v + (i - 1) * size, v + i * size) <= 0; i++)
		;
	if (i < n)
		qsort(v, n, size, cmp);
}

static int finish4(struct nft_elems *e, struct ranges *out)
{
	bool open = false;
	uint32_t lo = 0;

	order(e->v4, e->n, sizeof(*e->v4), cmp64);
	for (size_t i = 0; i < e->n; i++) {
		uint32_t key = (uint32_t)(e->v4[i] >> 1);

		if (e->v4[i] & 1) {
			/* A start while one is open: the open one ends just below it. */
			if (open && key > lo && ranges_add4(out, lo, key - 1) < 0)
				return -1;
			open = true;
			lo = key;
		} else if (open) {
			open = false;
			if (key > lo && ranges_add4(out, lo, key - 1) < 0)
				return -1;
		}
	}
	if (open && ranges_add4(out, lo, UINT32_MAX) < 0)
		return -1;
	return 0;
}

static int finish6(struct nft_elems *e, struct ranges *out)
{
	bool open = false;
	cda_u128 lo = 0;

	order(e->v6, e->n, sizeof(*e->v6), cmp6);
	for (size_t i = 0; i < e->n; i++) {
		cda_u128 key = e->v6[i].key;

		if (e->v6[i].start) {
			if (open && key > lo && ranges_add6(out, lo, key - 1) < 0)
				return -1;
			open = true;
			lo = key;
		} else if (open) {
			open = false;
			if (key > lo && ranges_add6(out, lo, key - 1) < 0)
				return -1;
		}
	}
	if (open && ranges_add6(out, lo, ~(cda_u128)0) < 0)
		return -1;
	return 0;
}

int nft_elems_finish(struct nft_elems *e, struct ranges *out)
{
	int rc;

	if (e == NULL)
		return -1;
	rc = e->fam == CDA_AF_INET ? finish4(e, out) : finish6(e, out);
	if (rc == 0)
		ranges_sort(out);
	nft_elems_free(e);
	return rc;
}
