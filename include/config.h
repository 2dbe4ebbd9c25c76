/* SPDX-License-Identifier: MIT */
/* config: the INI file into a validated struct config. */
#ifndef CDNALLOW_CONFIG_H
#define CDNALLOW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct cda_error;

#define CONFIG_DEFAULT_PATH "/etc/cdnallow/cdnallow.conf"
#define CONFIG_DEFAULT_STATE_DIR "/var/lib/cdnallow"
#define CONFIG_DEFAULT_PUBLISH_KEY "/etc/cdnallow/publish.key"

/* One "key = value" of a section, with its line in the file. */
struct config_kv {
	char *key;   /* lowercase */
	char *value; /* unquoted */
	unsigned int line;
};

/* [source.NAME] */
struct source_config {
	char *name;
	char *provider; /* catalog entry name ("cloudflare", "text", "json", ...) */
	char **urls;	/* from "url =" (space separated), else the catalog's; n_urls >= 1 */
	size_t n_urls;
	char *ca_file;		 /* NULL: system store */
	bool allow_http;	 /* plain http:// allowed */
	long connect_timeout;	 /* seconds */
	long timeout;		 /* seconds, whole transfer */
	unsigned long max_bytes; /* body cap per URL */
	unsigned int line;	 /* line of the section header */
	struct config_kv *kv;	 /* every key of the section, including the ones above */
	size_t n_kv;
};

/* [target.NAME] */
struct target_config {
	char *name;
	char *backend; /* "nftables", "iptables", "firewalld", "csf", "fail2ban", "file", "null" */
	char **sources;
	size_t n_sources;
	double max_shrink; /* 0..1; the global value unless the target sets its own */
	unsigned int line;
	const char *config_path; /* borrowed from struct config, for error locations */
	struct config_kv *kv;	 /* every key of the section */
	size_t n_kv;
};

/* [cdnallow] plus every section. Transparent; config_finish() frees it. */
struct config {
	char *path;
	char *state_dir;
	char *metrics_file;	    /* NULL: none */
	double max_shrink;	    /* 0..1, default 0.10 */
	unsigned int lock_timeout;  /* seconds to wait for a concurrent run, default 60 */
	long connect_timeout;	    /* default 10 */
	long timeout;		    /* default 30 */
	unsigned long max_bytes;    /* default 8 MiB */
	unsigned int broadest_v4;   /* shortest prefix length allowed in, default 8 */
	unsigned int broadest_v6;   /* default 16 */
	unsigned long verify_max;   /* full read-back up to this many ranges, default 10000 */
	long keep_withdrawn;	    /* seconds a withdrawn range stays allowed, default 0 */
	char *publish_key;	    /* publish: secret key file, NULL: CONFIG_DEFAULT_PUBLISH_KEY */
	char *publish_password_file; /* publish: the encrypted secret key's password, or NULL */
	char *publisher;	    /* publish: name in the snapshot, NULL: the host name */
	bool publish_plain;	    /* publish: plain per-family lists beside the snapshot */
	unsigned int publish_keep;  /* publish: versioned snapshots kept, default 5 */
	long splay;		    /* seconds: a random sleep of 0..splay before a run, default 0 */
	struct source_config *sources;
	size_t n_sources;
	struct target_config *targets;
	size_t n_targets;
};

/*
 * Load and validate path. Unknown sections or keys, bad values and references to missing
 * sources or unknown backends/providers are CDA_ECONFIG with origin = path and line set.
 * With check_owner, the file must be owned by root and not writable by group or others.
 * On failure c is left empty (config_finish() still safe).
 */
int config_load(struct config *c, const char *path, bool check_owner, struct cda_error *err);
void config_finish(struct config *c); /* frees and zeroes; idempotent */

/* Value of key in a target or source section; NULL when not set. Borrowed. */
const char *target_get(const struct target_config *tc, const char *key);
unsigned int target_line(const struct target_config *tc, const char *key); /* 0: unset */
const char *source_get(const struct source_config *sc, const char *key);
unsigned int source_line(const struct source_config *sc, const char *key);
const struct source_config *config_find_source(const struct config *c, const char *name);
const struct target_config *config_find_target(const struct config *c, const char *name);

/*
 * A fingerprint of everything in c that shapes sc's list (provider, URLs, the provider's
 * selection keys, the broadest prefix lengths in force) as 16 hex digits: a cached list
 * stored under another one is not reused through a 304.
 */
#define CONFIG_FP_LEN 17
void config_source_fingerprint(const struct config *c, const struct source_config *sc,
			       char out[CONFIG_FP_LEN]);

/* Helpers shared by config and backends: strict value parsers, 0 ok / -1 bad. */
int config_parse_bool(const char *s, bool *out);			/* yes/no/true/false/1/0/on/off */
int config_parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out);
int config_parse_percent(const char *s, double *out);			/* "10%" or "0.1" -> 0.10 */
int config_parse_duration(const char *s, long *seconds);		/* "90", "30s", "15m", "2h", "7d" */
int config_parse_size(const char *s, unsigned long *bytes);		/* "8M", "512K", "1048576" */
/* Split a space- or comma-separated list into a NULL-terminated array of copies. */
char **config_split_words(const char *s, size_t *n);
void config_free_words(char **w);

/* Keys accepted in [cdnallow], in every [source.*], in every [target.*] (NULL-terminated);
 * for the man page test. Provider- and backend-specific keys come from catalog and backend. */
extern const char *const config_global_keys[];
extern const char *const config_source_keys[];
extern const char *const config_target_keys[];

struct catalog_entry;
struct parse_opts;
/* The options a source's payloads are parsed with, as far as its keys and its provider
 * decide them (bounds left 0): used by the check at load and by the run alike. */
void config_parse_opts(const struct source_config *sc, const struct catalog_entry *ce,
		       struct parse_opts *po);

#endif
