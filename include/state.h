/* SPDX-License-Identifier: MIT */
/* state: the state dir (run lock, last known good lists, validators, applied cache). */
#ifndef CDNALLOW_STATE_H
#define CDNALLOW_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "ranges.h"

struct cda_error;
struct ranges;

/* The state dir, opened and locked for one run. Opaque. */
struct state;

/* What we keep per source besides its list. */
struct source_meta {
	time_t fetched;	    /* when the list was last fetched with a 200 */
	time_t changed;	    /* when its content last changed */
	char token[128];    /* provider change token */
	char config[24];    /* fingerprint of the source's configuration the list was
			       fetched with (config_source_fingerprint()), "" unknown */
	/* HTTP validators, one per URL of the source, in URL order */
	unsigned int n_urls;
	struct {
		char etag[256];
		time_t last_modified;
	} url[8];
};

/*
 * Open dir (created 0700 if missing; refused if group/other-writable or, as root, not
 * owned by root) and take the run lock (flock on dir/lock), waiting at most wait_seconds;
 * past that CDA_ESYS "another cdnallow run holds the lock (pid N)". readonly: no lock
 * file created, no directory created (for diff/show as non-root); reads only.
 */
int state_open(struct state **out, const char *dir, unsigned int wait_seconds, bool readonly,
	       struct cda_error *err);
void state_close(struct state *st); /* releases the lock; NULL-safe */
const char *state_dir(const struct state *st);

/* Last known good list of a source: 1 found, 0 none, -1 error (corrupt file is an error
 * naming the file and line). *list is new and normal; meta filled. */
int state_load_source(struct state *st, const char *name, struct ranges **list,
		      struct source_meta *meta, struct cda_error *err);
/* Replace it atomically. */
int state_save_source(struct state *st, const char *name, const struct ranges *list,
		      const struct source_meta *meta, struct cda_error *err);

/* A backend's cache of what it last applied, with the nft ruleset generation id.
 * key names the target. 1 found, 0 none, -1 error. */
int state_load_applied(struct state *st, const char *key, struct ranges **list, uint32_t *genid,
		       struct cda_error *err);
int state_save_applied(struct state *st, const char *key, const struct ranges *list,
		       uint32_t genid, struct cda_error *err);
int state_drop_applied(struct state *st, const char *key, struct cda_error *err);

/* A backend's opaque token (the exec backend's command prints one on every apply): one line
 * of printable ASCII (0x20-0x7e), at most STATE_TOKEN_MAX bytes. key names the target. */
#define STATE_TOKEN_MAX 1024
/* Into buf[size] ("" when none): 1 found, 0 none, -1 error (a corrupt file is CDA_EDATA
 * naming file:line). */
int state_load_token(struct state *st, const char *key, char *buf, size_t size,
		     struct cda_error *err);
/* Replace it atomically; a token that is not one printable line is refused (CDA_ESYS,
 * EINVAL). */
int state_save_token(struct state *st, const char *key, const char *token,
		     struct cda_error *err);

/* Ranges withdrawn upstream but still allowed (keep_withdrawn), with when each was first
 * seen withdrawn. */
struct withdrawn {
	struct cidr c;
	time_t since;
};
struct withdrawn_list {
	struct withdrawn *v;
	size_t n;
};
/* 1 found, 0 none, -1 error (corrupt file names file:line). */
int state_load_withdrawn(struct state *st, const char *key, struct withdrawn_list *out,
			 struct cda_error *err);
/* Replace atomically; an empty list removes the file. */
int state_save_withdrawn(struct state *st, const char *key, const struct withdrawn_list *l,
			 struct cda_error *err);
void withdrawn_list_finish(struct withdrawn_list *l); /* NULL-safe, idempotent */

#endif
