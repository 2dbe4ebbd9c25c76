// SPDX-License-Identifier: MIT
/* A source's fingerprint: everything in the configuration that shapes its list, hashed. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"

/*
 * What a cached list was fetched with is stored with it (state_source.c); a run whose
 * configuration of the source differs sends no validators, so a 304 cannot keep a list
 * selected by other keys. It covers the provider, the URLs in order (validators are per
 * URL), every key the provider adds (services, groups, tag, tags, networks: a set of
 * words, so sorted and without repeats; select and where: as written) and the broadest
 * prefix lengths in force. Timeouts, size caps and TLS settings decide whether a body is
 * fetched, not what it yields, and are left out. Not a security measure: FNV-1a, 64 bits.
 */

struct fnv {
	uint64_t h;
};

static void feed(struct fnv *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		f->h ^= (unsigned char)s[i];
		f->h *= 1099511628211ULL;
	}
}

/* A field: its length first, so that "ab" + "c" and "a" + "bc" differ. */
static void field(struct fnv *f, const char *s)
{
	char len[24];
	size_t n = s != NULL ? strlen(s) : 0;

	snprintf(len, sizeof(len), "%zu:", n);
	feed(f, len, strlen(len));
	if (s != NULL)
		feed(f, s, n);
	else
		feed(f, "-", 1); /* unset differs from empty */
}

static int word_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A list of words, sorted and without repeats; as written when it cannot be split. */
static void words(struct fnv *f, const char *s)
{
	size_t n = 0;
	char **w = s != NULL ? config_split_words(s, &n) : NULL;

	if (w == NULL) {
		field(f, s);
		return;
	}
	qsort(w, n, sizeof(*w), word_cmp);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(w[i], w[i - 1]) != 0)
			field(f, w[i]);
	field(f, "");
	config_free_words(w);
}

void config_source_fingerprint(const struct config *c, const struct source_config *sc,
			       char out[CONFIG_FP_LEN])
{
	const struct catalog_entry *ce = catalog_find(sc->provider);
	struct fnv f = {14695981039346656037ULL};
	unsigned int b4 = c->broadest_v4, b6 = c->broadest_v6;
	char bounds[32];

	field(&f, sc->provider);
	for (size_t i = 0; i < sc->n_urls; i++)
		field(&f, sc->urls[i]);
	field(&f, "");
	for (const char *const *k = ce != NULL ? ce->keys : NULL; k != NULL && *k != NULL; k++) {
		field(&f, *k);
		if (strcmp(*k, "select") == 0 || strcmp(*k, "where") == 0)
			field(&f, source_get(sc, *k));
		else
			words(&f, source_get(sc, *k));
	}
	/* the stricter of the configuration's and the provider's, as sources_bounds() */
	if (ce != NULL && ce->broadest_v4 > b4)
		b4 = ce->broadest_v4;
	if (ce != NULL && ce->broadest_v6 > b6)
		b6 = ce->broadest_v6;
	snprintf(bounds, sizeof(bounds), "/%u /%u", b4, b6);
	field(&f, bounds);
	snprintf(out, CONFIG_FP_LEN, "%016llx", (unsigned long long)f.h);
}
