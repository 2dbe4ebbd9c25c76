/* SPDX-License-Identifier: MIT */
#ifndef CDNALLOW_STRMAP_H
#define CDNALLOW_STRMAP_H

#include <stddef.h>
#include <stdint.h>

/*
 * A hash map from (tag, byte string) to a pointer, for lookups that must stay linear in the
 * input (a config's sections and keys, names that must be unique). Keys are borrowed: they
 * must outlive the map. The tag keeps namespaces apart in one map (a section's index for
 * its keys, say). Zero-initialise it ({0}); strmap_finish() frees it.
 */
struct strmap_slot {
	const char *key; /* NULL: empty slot */
	size_t len;
	size_t tag;
	uint64_t hash;
	void *val;
};

struct strmap {
	struct strmap_slot *v;
	size_t cap, n; /* cap a power of two, or 0 */
};

/* Insert (tag, key[0..len)) -> val: 0 inserted; 1 present already (*old = its value, the
 * map unchanged; old may be NULL); -1 out of memory (errno ENOMEM, the map unchanged). */
int strmap_put(struct strmap *m, size_t tag, const char *key, size_t len, void *val,
	       void **old);
/* The value of (tag, key[0..len)), NULL when absent. */
void *strmap_get(const struct strmap *m, size_t tag, const char *key, size_t len);
void strmap_finish(struct strmap *m); /* frees and zeroes; idempotent */

#endif
