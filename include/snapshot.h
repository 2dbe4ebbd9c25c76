/* SPDX-License-Identifier: MIT */
/* snapshot: a publisher's validated lists as one signed text document (format, parser). */
#ifndef CDNALLOW_SNAPSHOT_H
#define CDNALLOW_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct cda_error;
struct ranges;
struct textbuf;

#define SNAPSHOT_NAME_MAX 64
#define SNAPSHOT_TOKEN_MAX 128

/* One source of a snapshot: its name, change token, when the publisher fetched it. */
struct snapshot_source {
	char name[SNAPSHOT_NAME_MAX];
	char token[SNAPSHOT_TOKEN_MAX]; /* "" when the provider has none */
	time_t fetched;
	struct ranges *list; /* normal */
};

/* A whole snapshot. snapshot_finish() frees it. */
struct snapshot {
	uint64_t serial; /* only grows from one publication to the next */
	time_t time;	 /* when it was published */
	char publisher[SNAPSHOT_NAME_MAX];
	struct snapshot_source *v;
	size_t n;
};

/*
 * The document (cdnallow.conf(5), SNAPSHOTS):
 *   cdnallow-snapshot 1
 *   serial N
 *   time UNIX-SECONDS
 *   publisher NAME
 *   then per source: "source NAME", "token TEXT" (optional), "fetched UNIX-SECONDS",
 *   "v4 CIDR" and "v6 CIDR" lines (the minimal cover, sorted)
 *   end
 * Appended to tb; sources in the order given, each list normal. tb->oom on failure.
 */
void snapshot_format(const struct snapshot *s, struct textbuf *tb);

/*
 * Parse text[0..len) strictly: the header in order, names of [A-Za-z0-9_.-] unique, every
 * CIDR canonical (no host bits), each family's prefixes sorted and disjoint, "end" last and
 * nothing after it. -1 (CDA_EDATA with the line, or CDA_ESYS when memory runs out) with *s
 * empty. Pure.
 */
int snapshot_parse(const char *text, size_t len, struct snapshot *s, struct cda_error *err);

/* The source called name, or NULL. */
const struct snapshot_source *snapshot_find(const struct snapshot *s, const char *name);

void snapshot_finish(struct snapshot *s); /* NULL-safe, idempotent */

/* "snapshot-<serial>.txt", the versioned name a publication is written under, into buf. */
void snapshot_file_name(uint64_t serial, char *buf, size_t size);
/* The serial in such a name, or 0 when name is not one. */
uint64_t snapshot_name_serial(const char *name, size_t len);

#endif
