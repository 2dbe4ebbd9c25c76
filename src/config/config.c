// SPDX-License-Identifier: MIT
/* Load the configuration: sections into struct config, their checks, and the lookups. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "catalog.h"
#include "cda_error.h"
#include "config_priv.h"

static const struct config_kv *kv_find(const struct config_kv *kv, size_t n, const char *key)
{
	if (key == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return &kv[i];
	return NULL;
}

static const char *kv_value(const struct config_kv *kv, size_t n, const char *key)
{
	const struct config_kv *k = kv_find(kv, n, key);

	return k != NULL ? k->value : NULL;
}

static unsigned int kv_line(const struct config_kv *kv, size_t n, const char *key)
{
	const struct config_kv *k = kv_find(kv, n, key);

	return k != NULL ? k->line : 0;
}

const char *target_get(const struct target_config *tc, const char *key)
{
	return tc != NULL ? kv_value(tc->kv, tc->n_kv, key) : NULL;
}

unsigned int target_line(const struct target_config *tc, const char *key)
{
	return tc != NULL ? kv_line(tc->kv, tc->n_kv, key) : 0;
}

const char *source_get(const struct source_config *sc, const char *key)
{
	return sc != NULL ? kv_value(sc->kv, sc->n_kv, key) : NULL;
}

unsigned int source_line(const struct source_config *sc, const char *key)
{
	return sc != NULL ? kv_line(sc->kv, sc->n_kv, key) : 0;
}

const struct source_config *config_find_source(const struct config *c, const char *name)
{
	if (c == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < c->n_sources; i++)
		if (strcmp(c->sources[i].name, name) == 0)
			return &c->sources[i];
	return NULL;
}

const struct target_config *config_find_target(const struct config *c, const char *name)
{
	if (c == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < c->n_targets; i++)
		if (strcmp(c->targets[i].name, name) == 0)
			return &c->targets[i];
	return NULL;
}

int config_err(struct cda_error *err, const char *path, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	cda_error_clear(err);
	err->code = CDA_ECONFIG;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return cda_error_at(err, path, line);
}

int config_oom(struct cda_error *err, const char *path)
{
	errno = ENOMEM;
	cda_error_sys(err, CDA_ESYS, "loading the configuration");
	return cda_error_at(err, path, 0);
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MAX_NAME)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* NAME of [KIND.NAME], copied into *out and checked: it ends up in state file names. */
static int section_name(struct loader *ld, const struct scan_sec *sec, const char *kind, char **out)
{
	if ((*out = strdup(sec->name + strlen(kind) + 1)) == NULL)
		return config_oom(ld->err, ld->path);
	if (!valid_name(*out))
		return config_err(ld->err, ld->path, sec->line,
				  "[%s]: %s name must be 1..%d of [a-z0-9_-]", sec->name, kind,
				  MAX_NAME);
	return 0;
}

static int bad_value(struct loader *ld, const struct config_kv *kv, const char *expect)
{
	return config_err(ld->err, ld->path, kv->line, "%s: expected %s, got '%s'", kv->key, expect,
			  kv->value);
}

/* Numeric/boolean keys shared by [cdnallow] and [source.*]. 1 handled, 0 not ours, -1 bad. */
static int common_key(struct loader *ld, const struct config_kv *kv, long *connect_timeout,
		      long *timeout, unsigned long *max_bytes)
{
	if (strcmp(kv->key, "connect_timeout") == 0 || strcmp(kv->key, "timeout") == 0) {
		long v;

		if (config_parse_duration(kv->value, &v) < 0 || v <= 0 || v > 86400)
			return bad_value(ld, kv, "a duration of 1s..1d (\"30\", \"30s\", \"2m\")");
		*(kv->key[0] == 'c' ? connect_timeout : timeout) = v;
		return 1;
	}
	if (strcmp(kv->key, "max_bytes") == 0) {
		unsigned long v;

		if (config_parse_size(kv->value, &v) < 0 || v == 0 || v > (1UL << 30))
			return bad_value(ld, kv, "a size of 1..1G (\"8M\", \"512K\")");
		*max_bytes = v;
		return 1;
	}
	return 0;
}

static int dup_str(struct loader *ld, char **dst, const char *s)
{
	free(*dst);
	if ((*dst = strdup(s)) == NULL)
		return config_oom(ld->err, ld->path);
	return 0;
}

/* The publisher's keys (cdnallow publish) and splay. 1 handled, 0 not ours, -1 bad. */
static int publish_key(struct loader *ld, const struct config_kv *k, struct config *c)
{
	unsigned long u;
	long v;

	if (strcmp(k->key, "publish_key") == 0 || strcmp(k->key, "publish_password_file") == 0) {
		if (k->value[0] != '/')
			return bad_value(ld, k, "an absolute path");
		return dup_str(ld, k->key[8] == 'k' ? &c->publish_key : &c->publish_password_file,
			       k->value) < 0 ? -1 : 1;
	}
	if (strcmp(k->key, "publisher") == 0) {
		size_t n = strspn(k->value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "0123456789_.-");

		if (n == 0 || n > 63 || k->value[n] != '\0')
			return bad_value(ld, k, "a name of 1..63 letters, digits, '_', '.', '-'");
		return dup_str(ld, &c->publisher, k->value) < 0 ? -1 : 1;
	}
	if (strcmp(k->key, "publish_plain") == 0) {
		if (config_parse_bool(k->value, &c->publish_plain) < 0)
			return bad_value(ld, k, "yes or no");
		return 1;
	}
	if (strcmp(k->key, "publish_keep") == 0) {
		if (config_parse_ulong(k->value, 2, 1000, &u) < 0)
			return bad_value(ld, k, "a number of 2..1000");
		c->publish_keep = (unsigned int)u;
		return 1;
	}
	if (strcmp(k->key, "splay") == 0) {
		if (config_parse_duration(k->value, &v) < 0 || v > 86400)
			return bad_value(ld, k, "a duration of 0..1d (\"0\", \"5m\")");
		c->splay = v;
		return 1;
	}
	return 0;
}

static int load_global(struct loader *ld, struct config *c, const struct scan_sec *sec)
{
	struct config_kv *kv = NULL;
	size_t n = 0;
	int rc = -1;

	if (scan_copy_kv(ld, sec, &kv, &n) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct config_kv *k = &kv[i];
		unsigned long u;
		int r;

		if (!keys_in_list(k->key, config_global_keys)) {
			keys_unknown(ld, sec, &sec->keys[i], config_global_keys, NULL);
			goto out;
		}
		r = common_key(ld, k, &c->connect_timeout, &c->timeout, &c->max_bytes);
		if (r == 0)
			r = publish_key(ld, k, c);
		if (r < 0)
			goto out;
		if (r > 0)
			continue;
		if (strcmp(k->key, "state_dir") == 0 || strcmp(k->key, "metrics_file") == 0) {
			if (k->value[0] != '/') {
				bad_value(ld, k, "an absolute path");
				goto out;
			}
			if (dup_str(ld, k->key[0] == 's' ? &c->state_dir : &c->metrics_file,
				    k->value) < 0)
				goto out;
		} else if (strcmp(k->key, "max_shrink") == 0) {
			if (config_parse_percent(k->value, &c->max_shrink) < 0) {
				bad_value(ld, k, "0..100% (\"10%\" or \"0.1\")");
				goto out;
			}
		} else if (strcmp(k->key, "lock_timeout") == 0) {
			long v;

			if (config_parse_duration(k->value, &v) < 0 || v > 86400) {
				bad_value(ld, k, "a duration of 0..1d (\"60\", \"2m\")");
				goto out;
			}
			c->lock_timeout = (unsigned int)v;
		} else if (strcmp(k->key, "broadest_v4") == 0) {
			if (config_parse_ulong(k->value, 0, 32, &u) < 0) {
				bad_value(ld, k, "a prefix length 0..32");
				goto out;
			}
			c->broadest_v4 = (unsigned int)u;
		} else if (strcmp(k->key, "broadest_v6") == 0) {
			if (config_parse_ulong(k->value, 0, 128, &u) < 0) {
				bad_value(ld, k, "a prefix length 0..128");
				goto out;
			}
			c->broadest_v6 = (unsigned int)u;
		} else if (strcmp(k->key, "verify_max") == 0) {
			if (config_parse_ulong(k->value, 0, ULONG_MAX, &c->verify_max) < 0) {
				bad_value(ld, k, "a number");
				goto out;
			}
		} else if (strcmp(k->key, "keep_withdrawn") == 0) {
			if (config_parse_duration(k->value, &c->keep_withdrawn) < 0) {
				bad_value(ld, k, "a duration (\"0\", \"12h\", \"7d\")");
				goto out;
			}
		}
	}
	rc = 0;
out:
	scan_free_kv(kv, n);
	return rc;
}

static int check_url(struct loader *ld, const struct source_config *sc, const char *url,
		     unsigned int line)
{
	if (strncmp(url, "https://", 8) == 0 && url[8] != '\0')
		return 0;
	if (strncmp(url, "file:///", 8) == 0)
		return 0;
	if (strncmp(url, "http://", 7) == 0 && url[7] != '\0') {
		if (sc->allow_http)
			return 0;
		return config_err(ld->err, ld->path, line,
				  "url: plain http '%s' needs allow_http = yes", url);
	}
	return config_err(ld->err, ld->path, line, "url: '%s' is not an https:// or file:/// URL",
			  url);
}

/* The provider key: present, known (else a suggestion), copied; NULL on error. A typo of
 * "provider" itself is reported as the typo, not as a missing key. */
static const struct catalog_entry *source_provider(struct loader *ld, const struct scan_sec *sec,
						   struct source_config *sc)
{
	const struct config_kv *pk = kv_find(sc->kv, sc->n_kv, "provider");
	const struct catalog_entry *ce;
	const char *best = NULL;

	for (size_t i = 0; pk == NULL && i < sc->n_kv; i++)
		if (!keys_in_list(sc->kv[i].key, config_source_keys)) {
			keys_unknown(ld, sec, &sec->keys[i], config_source_keys, NULL);
			return NULL;
		}
	if (pk == NULL) {
		config_err(ld->err, ld->path, sec->line, "provider: missing in [%s]", sec->name);
		return NULL;
	}
	if ((ce = catalog_find(pk->value)) != NULL)
		return dup_str(ld, &sc->provider, pk->value) < 0 ? NULL : ce;
	keys_suggest_provider(pk->value, &best);
	if (best != NULL)
		config_err(ld->err, ld->path, pk->line,
			   "provider: unknown provider '%s' (did you mean '%s'?)", pk->value, best);
	else
		config_err(ld->err, ld->path, pk->line,
			   "provider: unknown provider '%s' (see --list-providers)", pk->value);
	return NULL;
}

/* The URLs: "url =" split into words, else copies of the provider's built-in ones. */
static int source_urls(struct loader *ld, const struct scan_sec *sec, struct source_config *sc,
		       const struct catalog_entry *ce)
{
	const struct config_kv *uk = kv_find(sc->kv, sc->n_kv, "url");
	unsigned int line = uk != NULL ? uk->line : sec->line;
	size_t n = 0;

	if (uk != NULL) {
		if ((sc->urls = config_split_words(uk->value, &sc->n_urls)) == NULL)
			return config_oom(ld->err, ld->path);
		if (sc->n_urls == 0)
			return config_err(ld->err, ld->path, uk->line, "url: empty");
	} else {
		while (ce->urls != NULL && ce->urls[n] != NULL)
			n++;
		if (n == 0)
			return config_err(
				ld->err, ld->path, sec->line,
				"url: missing in [%s] (provider '%s' has no built-in URL)",
				sec->name, ce->name);
		if ((sc->urls = calloc(n + 1, sizeof(*sc->urls))) == NULL)
			return config_oom(ld->err, ld->path);
		for (size_t i = 0; i < n; i++) {
			if ((sc->urls[i] = strdup(ce->urls[i])) == NULL)
				return config_oom(ld->err, ld->path);
			sc->n_urls = i + 1;
		}
	}
	if (sc->n_urls > MAX_URLS)
		return config_err(ld->err, ld->path, line,
				  "url: at most %d URLs per source, got %zu", MAX_URLS, sc->n_urls);
	for (size_t i = 0; i < sc->n_urls; i++)
		if (check_url(ld, sc, sc->urls[i], line) < 0)
			return -1;
	return 0;
}

static int load_source(struct loader *ld, const struct config *c, const struct scan_sec *sec,
		       struct source_config *sc)
{
	const struct catalog_entry *ce = NULL;

	sc->line = sec->line;
	sc->connect_timeout = c->connect_timeout;
	sc->timeout = c->timeout;
	sc->max_bytes = c->max_bytes;
	if (section_name(ld, sec, "source", &sc->name) < 0 ||
	    scan_copy_kv(ld, sec, &sc->kv, &sc->n_kv) < 0 ||
	    (ce = source_provider(ld, sec, sc)) == NULL)
		return -1;
	for (size_t i = 0; i < sc->n_kv; i++) {
		const struct config_kv *k = &sc->kv[i];
		int r;

		if (!keys_in_list(k->key, config_source_keys) && !keys_in_list(k->key, ce->keys))
			return keys_unknown(ld, sec, &sec->keys[i], config_source_keys, ce->keys);
		r = common_key(ld, k, &sc->connect_timeout, &sc->timeout, &sc->max_bytes);
		if (r < 0)
			return -1;
		if (r > 0)
			continue;
		if (strcmp(k->key, "allow_http") == 0) {
			if (config_parse_bool(k->value, &sc->allow_http) < 0)
				return bad_value(ld, k, "yes or no");
		} else if (strcmp(k->key, "ca_file") == 0) {
			if (k->value[0] != '/')
				return bad_value(ld, k, "an absolute path");
			if (dup_str(ld, &sc->ca_file, k->value) < 0)
				return -1;
		}
	}
	return source_urls(ld, sec, sc, ce);
}

static int unknown_backend(struct loader *ld, const struct config_kv *bk)
{
	const char *best = NULL;

	keys_suggest_backend(bk->value, &best);
	if (best != NULL)
		return config_err(ld->err, ld->path, bk->line,
				  "backend: unknown backend '%s' (did you mean '%s'?)", bk->value,
				  best);
	return config_err(ld->err, ld->path, bk->line,
			  "backend: unknown backend '%s' (or not built in)", bk->value);
}

static int load_target(struct loader *ld, const struct config *c, const struct scan_sec *sec,
		       struct target_config *tc)
{
	const struct backend_ops *ops;
	const struct config_kv *bk, *sk, *mk;
	char **words = NULL;
	size_t n = 0;
	int rc = -1;

	tc->line = sec->line;
	tc->max_shrink = c->max_shrink;
	tc->config_path = c->path;
	if (section_name(ld, sec, "target", &tc->name) < 0 ||
	    scan_copy_kv(ld, sec, &tc->kv, &tc->n_kv) < 0)
		return -1;
	bk = kv_find(tc->kv, tc->n_kv, "backend");
	for (size_t i = 0; bk == NULL && i < tc->n_kv; i++)
		if (!keys_in_list(tc->kv[i].key, config_target_keys))
			return keys_unknown(ld, sec, &sec->keys[i], config_target_keys, NULL);
	if (bk == NULL)
		return config_err(ld->err, ld->path, sec->line, "backend: missing in [%s]",
				  sec->name);
	if ((ops = backend_find(bk->value)) == NULL)
		return unknown_backend(ld, bk);
	if (dup_str(ld, &tc->backend, bk->value) < 0)
		return -1;
	for (size_t i = 0; i < tc->n_kv; i++)
		if (!keys_in_list(tc->kv[i].key, config_target_keys) &&
		    !backend_accepts_key(ops, tc->kv[i].key))
			return keys_unknown(ld, sec, &sec->keys[i], config_target_keys, ops->keys);
	mk = kv_find(tc->kv, tc->n_kv, "max_shrink");
	if (mk != NULL && config_parse_percent(mk->value, &tc->max_shrink) < 0)
		return bad_value(ld, mk, "0..100% (\"10%\" or \"0.1\")");
	sk = kv_find(tc->kv, tc->n_kv, "sources");
	if (sk == NULL)
		return config_err(ld->err, ld->path, sec->line, "sources: missing in [%s]",
				  sec->name);
	if ((words = config_split_words(sk->value, &n)) == NULL)
		return config_oom(ld->err, ld->path);
	if (n == 0) {
		config_err(ld->err, ld->path, sk->line, "sources: empty");
		goto out;
	}
	if ((tc->sources = calloc(n + 1, sizeof(*tc->sources))) == NULL) {
		config_oom(ld->err, ld->path);
		goto out;
	}
	tc->n_sources = 0; /* already 0 (calloc'd target); the loop below relies on it */
	for (size_t i = 0; i < n; i++) {
		bool seen = false;

		/* section names are lowercased: so is a reference to one */
		for (char *p = words[i]; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
		if (strmap_get(&ld->sources, 0, words[i], strlen(words[i])) == NULL) {
			config_err(ld->err, ld->path, sk->line,
				   "sources: no [source.%s] section for '%s'", words[i], words[i]);
			goto out;
		}
		for (size_t j = 0; j < tc->n_sources; j++)
			seen = seen || strcmp(tc->sources[j], words[i]) == 0;
		if (seen) /* "a a" means a */
			continue;
		tc->sources[tc->n_sources++] = words[i];
		words[i] = NULL; /* moved */
	}
	rc = 0;
out:
	for (size_t i = 0; words != NULL && i < n; i++)
		free(words[i]);
	free(words);
	return rc;
}

static void free_source(struct source_config *sc)
{
	free(sc->name);
	free(sc->provider);
	config_free_words(sc->urls);
	free(sc->ca_file);
	scan_free_kv(sc->kv, sc->n_kv);
}

static void free_target(struct target_config *tc)
{
	free(tc->name);
	free(tc->backend);
	config_free_words(tc->sources);
	scan_free_kv(tc->kv, tc->n_kv);
}

void config_finish(struct config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; c->sources != NULL && i < c->n_sources; i++)
		free_source(&c->sources[i]);
	for (size_t i = 0; c->targets != NULL && i < c->n_targets; i++)
		free_target(&c->targets[i]);
	free(c->sources);
	free(c->targets);
	free(c->path);
	free(c->state_dir);
	free(c->metrics_file);
	free(c->publish_key);
	free(c->publish_password_file);
	free(c->publisher);
	memset(c, 0, sizeof(*c));
}

static int set_defaults(struct loader *ld, struct config *t)
{
	t->max_shrink = 0.10;
	t->lock_timeout = 60;
	t->connect_timeout = 10;
	t->timeout = 30;
	t->max_bytes = 8UL * 1024 * 1024;
	t->broadest_v4 = 8;
	t->broadest_v6 = 16;
	t->verify_max = 10000;
	t->keep_withdrawn = 0;
	t->publish_keep = 5;
	if ((t->path = strdup(ld->path)) == NULL ||
	    (t->state_dir = strdup(CONFIG_DEFAULT_STATE_DIR)) == NULL)
		return config_oom(ld->err, ld->path);
	return 0;
}

/* Every section is [cdnallow], [source.NAME] or [target.NAME]; count the last two. */
static int sort_sections(struct loader *ld, const struct scan *s, const struct scan_sec **global,
			 size_t *ns, size_t *nt)
{
	for (size_t i = 0; i < s->n; i++) {
		const char *name = s->secs[i].name;

		if (strcmp(name, "cdnallow") == 0)
			*global = &s->secs[i];
		else if (strncmp(name, "source.", 7) == 0)
			(*ns)++;
		else if (strncmp(name, "target.", 7) == 0)
			(*nt)++;
		else
			return config_err(ld->err, ld->path, s->secs[i].line,
					  "[%s]: unknown section (expected [cdnallow], "
					  "[source.NAME] or [target.NAME])",
					  name);
	}
	return 0;
}

/* The [source.*] and [target.*] sections into t (ns and nt of them). */
static int load_sections(struct loader *ld, struct config *t, const struct scan *s, size_t ns,
			 size_t nt)
{
	if (ns == 0 || nt == 0)
		return config_err(ld->err, ld->path, 0, "no %s section: at least one is needed",
				  ns == 0 ? "[source.NAME]" : "[target.NAME]");
	if ((t->sources = calloc(ns, sizeof(*t->sources))) == NULL ||
	    (t->targets = calloc(nt, sizeof(*t->targets))) == NULL)
		return config_oom(ld->err, ld->path);
	/* sources first: targets refer to them, whatever the order in the file */
	for (size_t i = 0; i < s->n; i++) {
		if (strncmp(s->secs[i].name, "source.", 7) != 0)
			continue;
		t->n_sources++;
		if (load_source(ld, t, &s->secs[i], &t->sources[t->n_sources - 1]) < 0)
			return -1;
	}
	for (size_t i = 0; i < t->n_sources; i++) {
		const char *name = t->sources[i].name;

		if (strmap_put(&ld->sources, 0, name, strlen(name), &t->sources[i], NULL) < 0)
			return config_oom(ld->err, ld->path);
	}
	for (size_t i = 0; i < s->n; i++) {
		if (strncmp(s->secs[i].name, "target.", 7) != 0)
			continue;
		t->n_targets++;
		if (load_target(ld, t, &s->secs[i], &t->targets[t->n_targets - 1]) < 0)
			return -1;
	}
	return 0;
}

int config_load(struct config *c, const char *path, bool check_owner, struct cda_error *err)
{
	struct config t = {0};
	struct scan s = {0};
	struct loader ld = {.path = path, .err = err};
	const struct scan_sec *global = NULL;
	char *text = NULL;
	size_t size = 0, ns = 0, nt = 0;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	if (scan_read(path, check_owner, &text, &size, err) < 0)
		return -1;
	if (scan_text(&s, text, size, path, err) < 0 || set_defaults(&ld, &t) < 0 ||
	    sort_sections(&ld, &s, &global, &ns, &nt) < 0)
		goto out;
	if (global != NULL && load_global(&ld, &t, global) < 0)
		goto out;
	if (load_sections(&ld, &t, &s, ns, nt) < 0 || check_sources(&ld, &t) < 0 ||
	    check_targets(&ld, &t) < 0)
		goto out;
	*c = t;
	memset(&t, 0, sizeof(t));
	rc = 0;
out:
	config_finish(&t);
	scan_free(&s);
	strmap_finish(&ld.sources);
	free(text);
	return rc;
}
