// SPDX-License-Identifier: MIT
/* strmap: (tag, string) -> pointer, open addressing with linear probing. */
#include "strmap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a over the bytes, the tag mixed in first; not for adversarial inputs' sake but
 * spread enough for names. */
static uint64_t hash_of(size_t tag, const char *key, size_t len)
{
	uint64_t h = 14695981039346656037ULL ^ ((uint64_t)tag * 0x9e3779b97f4a7c15ULL);

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

static bool same(const struct strmap_slot *s, uint64_t h, size_t tag, const char *key,
		 size_t len)
{
	return s->hash == h && s->tag == tag && s->len == len && memcmp(s->key, key, len) == 0;
}

/* The slot holding (tag, key), or the empty one where it would go; cap must be > n. */
static struct strmap_slot *find(struct strmap_slot *v, size_t cap, uint64_t h, size_t tag,
				const char *key, size_t len)
{
	size_t i = (size_t)h & (cap - 1);

	while (v[i].key != NULL && !same(&v[i], h, tag, key, len))
		i = (i + 1) & (cap - 1);
	return &v[i];
}

static int grow(struct strmap *m)
{
	size_t cap = m->cap != 0 ? 2 * m->cap : 16;
	struct strmap_slot *v;

	if (cap < m->cap || (v = calloc(cap, sizeof(*v))) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++) {
		const struct strmap_slot *s = &m->v[i];

		if (s->key != NULL)
			*find(v, cap, s->hash, s->tag, s->key, s->len) = *s;
	}
	free(m->v);
	m->v = v;
	m->cap = cap;
	return 0;
}

int strmap_put(struct strmap *m, size_t tag, const char *key, size_t len, void *val,
	       void **old)
{
	uint64_t h = hash_of(tag, key, len);
	struct strmap_slot *s;

	if (m->cap != 0) {
		s = find(m->v, m->cap, h, tag, key, len);
		if (s->key != NULL) {
			if (old != NULL)
				*old = s->val;
			return 1;
		}
	}
	/* at most half full: probes stay short */
	if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
		return -1;
	s = find(m->v, m->cap, h, tag, key, len);
	*s = (struct strmap_slot){.key = key, .len = len, .tag = tag, .hash = h, .val = val};
	m->n++;
	return 0;
}

void *strmap_get(const struct strmap *m, size_t tag, const char *key, size_t len)
{
	const struct strmap_slot *s;

	if (m->cap == 0)
		return NULL;
	s = find(m->v, m->cap, hash_of(tag, key, len), tag, key, len);
	return s->key != NULL ? s->val : NULL;
}

void strmap_finish(struct strmap *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}
