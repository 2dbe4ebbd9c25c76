/* SPDX-License-Identifier: MIT */
/* What the files of src/config share: the pre-scan's result, the loader, error helpers. */
#ifndef CDNALLOW_CONFIG_PRIV_H
#define CDNALLOW_CONFIG_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include <iniparser.h>

#include "cda_error.h"

struct config_kv;

#define MAX_FILE_BYTES (1024 * 1024)
#define MAX_LINE 1000	  /* iniparser 4.1 reads lines of at most 1023 bytes */
#define MAX_NAME 64	  /* source and target names end up in state file names */
#define MAX_URLS 8	  /* struct source_meta keeps validators for 8 URLs */

/* What the pre-scan saw: sections and keys in file order, with line numbers. */
struct scan_key {
	char *key;
	unsigned int line;
};

struct scan_sec {
	char *name; /* lowercased, as iniparser stores it */
	unsigned int line;
	struct scan_key *keys;
	size_t n_keys;
};

struct scan {
	struct scan_sec *secs;
	size_t n;
};

struct loader {
	const char *path;
	dictionary *dict;
	struct cda_error *err;
};

/* config.c: a CDA_ECONFIG at path:line (always -1); out of memory while loading path. */
int config_err(struct cda_error *err, const char *path, unsigned int line, const char *fmt, ...)
	CDA_PRINTF(4, 5);
int config_oom(struct cda_error *err, const char *path);

/* scan.c: read path (refusing unsafe files) into text[0..size], NUL-terminated, and keep
 * it open in *fdp; split text into sections and keys with their lines (strict syntax). */
int scan_read(const char *path, bool check_owner, char **text, size_t *size, int *fdp,
	      struct cda_error *err);
int scan_text(struct scan *s, const char *text, size_t size, const char *path,
	      struct cda_error *err);
void scan_free(struct scan *s);
/* Open the same file with iniparser (ld->dict); copy a section's keys with their values. */
int scan_open_dict(struct loader *ld, int fd);
int scan_copy_kv(struct loader *ld, const struct scan_sec *sec, struct config_kv **out,
		 size_t *n_out);
void scan_free_kv(struct config_kv *kv, size_t n);

/* keys.c: is key in the NULL-terminated list; the "unknown key" error with a suggestion
 * from l1 and l2; the nearest built-in provider name to a misspelt one. */
bool keys_in_list(const char *key, const char *const *list);
int keys_unknown(struct loader *ld, const struct scan_sec *sec, const struct scan_key *k,
		 const char *const *l1, const char *const *l2);
void keys_suggest_provider(const char *name, const char **best);

#endif
