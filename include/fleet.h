/* SPDX-License-Identifier: MIT */
/* fleet: a snapshot source's keys and options, and the checks a fetched snapshot must pass. */
#ifndef CDNALLOW_FLEET_H
#define CDNALLOW_FLEET_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "minisign.h"

struct cda_error;
struct ranges;
struct source_config;

#define FLEET_KEYS_MAX 4
#define FLEET_DEFAULT_MAX_AGE (7L * 86400)

/* [source.NAME] provider = snapshot: its keys, as loaded. */
struct fleet_opts {
	struct minisign_pk keys[FLEET_KEYS_MAX]; /* public_key: one, or two during a rotation */
	size_t n_keys;
	long max_age;  /* seconds; a snapshot published longer ago is refused */
	char **sources; /* the snapshot's sources to take; NULL: every one */
	size_t n_sources;
};

/*
 * sc's keys into o: public_key (each value a minisign public key's base64 line, or an
 * absolute path to a .pub file), max_age (default 7d), sources. -1 (CDA_ECONFIG) with *key
 * the key at fault. fleet_opts_finish() either way.
 */
int fleet_opts_load(const struct source_config *sc, struct fleet_opts *o, const char **key,
		    struct cda_error *err);
void fleet_opts_finish(struct fleet_opts *o); /* idempotent */

/* What a consumer keeps of the last snapshot it accepted: "<serial>@<unix time>". */
void fleet_token(uint64_t serial, time_t published, char *buf, size_t size);
/* 1 parsed, 0 not such a token (nothing accepted yet). */
int fleet_token_parse(const char *token, uint64_t *serial, time_t *published);

/*
 * The pointer file ("latest"): one line naming the versioned snapshot ("snapshot-N.txt").
 * Its serial (> 0) and the name into name[size], or 0 (CDA_EDATA in err) when it is not.
 */
uint64_t fleet_pointer(const char *body, size_t len, char *name, size_t size,
		       struct cda_error *err);

/*
 * A fetched snapshot body[0..len) and its signature sig[0..siglen), for the source of o,
 * after its pointer named serial `named`: the signature verified with o's keys before a
 * byte of the body is parsed, then parsed; refused (-1, CDA_EDATA saying why) when signed
 * by an unknown key, not matching its signature, its trusted comment naming another serial,
 * its serial not `named`, lower than last_serial (rollback), published more than max_age
 * before now (stale), or lacking a source o takes. Otherwise 0, the union of the taken
 * sources' lists into out (normal), the new token into token[size]. Pure (now is given).
 */
int fleet_accept(const struct fleet_opts *o, const char *body, size_t len, const char *sig,
		 size_t siglen, uint64_t named, uint64_t last_serial, time_t now,
		 struct ranges *out, char *token, size_t size, struct cda_error *err);

/* A snapshot last published at `published`: -1 (CDA_EDATA "stale") when older than max_age. */
int fleet_check_age(const struct fleet_opts *o, time_t published, time_t now,
		    struct cda_error *err);

#endif
