/* SPDX-License-Identifier: MIT */
/* What the files of src/config share: the pre-scan's result, the loader, error helpers. */
#ifndef CDNALLOW_CONFIG_PRIV_H
#define CDNALLOW_CONFIG_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "cda_error.h"
#include "strmap.h"

struct config;
struct config_kv;

#define MAX_FILE_BYTES (1024 * 1024)
#define MAX_LINE 1000	  /* iniparser 4.1, which read values before, took 1023 bytes */
#define MAX_NAME 64	  /* source and target names end up in state file names */
#define MAX_URLS 8	  /* struct source_meta keeps validators for 8 URLs */

/* What the pre-scan saw: sections and keys in file order, with line numbers. */
struct scan_key {
	char *key;   /* lowercased */
	char *value; /* as iniparser 4.1 read it: unquoted, or cut at ';' '#' and trimmed */
	unsigned int line;
};

struct scan_sec {
	char *name; /* lowercased */
	unsigned int line;
	struct scan_key *keys;
	size_t n_keys, cap_keys;
};

struct scan {
	struct scan_sec *secs;
	size_t n, cap;
	struct strmap seen; /* tag 0: section names -> index + 1; tag i + 1: keys of section i
			       -> their line (duplicates found in constant time) */
};

struct loader {
	const char *path;
	struct cda_error *err;
	struct strmap sources; /* source name -> its struct source_config, once all are read */
};

/* config.c: a CDA_ECONFIG at path:line (always -1); out of memory while loading path. */
int config_err(struct cda_error *err, const char *path, unsigned int line, const char *fmt, ...)
	CDA_PRINTF(4, 5);
int config_oom(struct cda_error *err, const char *path);

/* scan.c: read path (refusing unsafe files) into text[0..size], NUL-terminated; split text
 * into sections and keys with their lines and values (strict syntax, linear time). */
int scan_read(const char *path, bool check_owner, char **text, size_t *size,
	      struct cda_error *err);
int scan_text(struct scan *s, const char *text, size_t size, const char *path,
	      struct cda_error *err);
void scan_free(struct scan *s);
/* Copy a section's keys with their values. */
int scan_copy_kv(struct loader *ld, const struct scan_sec *sec, struct config_kv **out,
		 size_t *n_out);
void scan_free_kv(struct config_kv *kv, size_t n);

/* check.c: each source's provider keys as its parser will take them; each target's keys as
 * its backend's open() takes them (nothing on the system changes), and no object managed
 * by two targets. CDA_ECONFIG at the key's line. */
int check_sources(struct loader *ld, const struct config *c);
int check_targets(struct loader *ld, const struct config *c);

/* keys.c: is key in the NULL-terminated list; the "unknown key" error with a suggestion
 * from l1 and l2; the nearest built-in provider or backend name to a misspelt one (any
 * case, or a part of it: "cloudfront" -> "aws-cloudfront"), NULL when none is near. */
bool keys_in_list(const char *key, const char *const *list);
int keys_unknown(struct loader *ld, const struct scan_sec *sec, const struct scan_key *k,
		 const char *const *l1, const char *const *l2);
void keys_suggest_provider(const char *name, const char **best);
void keys_suggest_backend(const char *name, const char **best);

#endif
