// SPDX-License-Identifier: MIT
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <iniparser.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "catalog.h"
#include "cda_error.h"

const char *const config_global_keys[] = {
	"state_dir",   "max_shrink",  "lock_timeout", "connect_timeout", "timeout",
	"max_bytes",   "metrics_file", "broadest_v4", "broadest_v6", "verify_max",
	"keep_withdrawn", NULL,
};

const char *const config_source_keys[] = {
	"provider", "url", "ca_file", "allow_http", "connect_timeout", "timeout", "max_bytes", NULL,
};

const char *const config_target_keys[] = {
	"backend", "sources", "max_shrink", NULL,
};

static const struct config_kv *kv_find(const struct config_kv *kv, size_t n, const char *key)
{
	if (key == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return &kv[i];
	return NULL;
}

const char *target_get(const struct target_config *tc, const char *key)
{
	const struct config_kv *kv = tc != NULL ? kv_find(tc->kv, tc->n_kv, key) : NULL;

	return kv != NULL ? kv->value : NULL;
}

unsigned int target_line(const struct target_config *tc, const char *key)
{
	const struct config_kv *kv = tc != NULL ? kv_find(tc->kv, tc->n_kv, key) : NULL;

	return kv != NULL ? kv->line : 0;
}

const char *source_get(const struct source_config *sc, const char *key)
{
	const struct config_kv *kv = sc != NULL ? kv_find(sc->kv, sc->n_kv, key) : NULL;

	return kv != NULL ? kv->value : NULL;
}

unsigned int source_line(const struct source_config *sc, const char *key)
{
	const struct config_kv *kv = sc != NULL ? kv_find(sc->kv, sc->n_kv, key) : NULL;

	return kv != NULL ? kv->line : 0;
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

int config_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"yes", "true", "1", "on"};
	static const char *const no[] = {"no", "false", "0", "off"};

	if (s == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* Leading decimal digits of s into *v (no sign, no space); *end after them. -1 if none or
 * overflow. strtoul() would accept " -1" as ULONG_MAX. */
static int digits(const char *s, unsigned long *v, const char **end)
{
	unsigned long x = 0;
	const char *p = s;

	if (s == NULL || !isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (x > (ULONG_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*v = x;
	*end = p;
	return 0;
}

int config_parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v;
	const char *end;

	if (digits(s, &v, &end) < 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int config_parse_percent(const char *s, double *out)
{
	unsigned long ip, fp = 0, scale = 1;
	const char *p;
	double v;

	if (digits(s, &ip, &p) < 0)
		return -1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		/* up to 9 fractional digits are plenty; more is refused, not rounded */
		for (; isdigit((unsigned char)*p); p++) {
			if (scale >= 1000000000UL)
				return -1;
			fp = fp * 10 + (unsigned long)(*p - '0');
			scale *= 10;
		}
	}
	if (ip > 1000)
		return -1;
	v = (double)ip + (double)fp / (double)scale;
	if (*p == '%' && p[1] == '\0')
		v /= 100.0;
	else if (*p != '\0')
		return -1;
	if (v < 0.0 || v > 1.0)
		return -1;
	*out = v;
	return 0;
}

int config_parse_duration(const char *s, long *seconds)
{
	unsigned long v, mul = 1;
	const char *p;

	if (digits(s, &v, &p) < 0)
		return -1;
	switch (*p) {
	case '\0':
		break;
	case 's':
		mul = 1;
		p++;
		break;
	case 'm':
		mul = 60;
		p++;
		break;
	case 'h':
		mul = 3600;
		p++;
		break;
	case 'd':
		mul = 86400;
		p++;
		break;
	default:
		return -1;
	}
	if (*p != '\0' || v > (unsigned long)LONG_MAX / mul)
		return -1;
	*seconds = (long)(v * mul);
	return 0;
}

int config_parse_size(const char *s, unsigned long *bytes)
{
	unsigned long v, mul = 1;
	const char *p;

	if (digits(s, &v, &p) < 0)
		return -1;
	switch (*p) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mul = 1024UL;
		p++;
		break;
	case 'm':
	case 'M':
		mul = 1024UL * 1024;
		p++;
		break;
	case 'g':
	case 'G':
		mul = 1024UL * 1024 * 1024;
		p++;
		break;
	default:
		return -1;
	}
	/* "8M", "8MB" and "8MiB" all mean 8 * 2^20 */
	if (mul > 1 && (strcmp(p, "B") == 0 || strcmp(p, "iB") == 0))
		p += strlen(p);
	if (*p != '\0' || v > ULONG_MAX / mul)
		return -1;
	*bytes = v * mul;
	return 0;
}

static bool is_sep(char ch)
{
	return ch == ' ' || ch == '\t' || ch == ',' || ch == '\n' || ch == '\r';
}

char **config_split_words(const char *s, size_t *n)
{
	char **w = NULL;
	size_t cnt = 0;
	const char *p = s != NULL ? s : "";

	for (;;) {
		const char *start;
		char **nw;

		while (is_sep(*p))
			p++;
		start = p;
		while (*p != '\0' && !is_sep(*p))
			p++;
		nw = reallocarray(w, cnt + 2, sizeof(*w));
		if (nw == NULL)
			goto fail;
		w = nw;
		w[cnt] = NULL;
		if (p == start)
			break;
		if ((w[cnt] = strndup(start, (size_t)(p - start))) == NULL)
			goto fail;
		w[++cnt] = NULL;
	}
	if (n != NULL)
		*n = cnt;
	return w;
fail:
	config_free_words(w);
	return NULL;
}

void config_free_words(char **w)
{
	if (w == NULL)
		return;
	for (char **p = w; *p != NULL; p++)
		free(*p);
	free(w);
}



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

static void scan_free(struct scan *s)
{
	for (size_t i = 0; i < s->n; i++) {
		for (size_t k = 0; k < s->secs[i].n_keys; k++)
			free(s->secs[i].keys[k].key);
		free(s->secs[i].keys);
		free(s->secs[i].name);
	}
	free(s->secs);
	memset(s, 0, sizeof(*s));
}

static int cfg_err(struct cda_error *err, const char *path, unsigned int line, const char *fmt,
		   ...) CDA_PRINTF(4, 5);

static int cfg_err(struct cda_error *err, const char *path, unsigned int line, const char *fmt,
		   ...)
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

static int oom(struct cda_error *err, const char *path)
{
	errno = ENOMEM;
	cda_error_sys(err, CDA_ESYS, "loading the configuration");
	return cda_error_at(err, path, 0);
}

/* Trim in place: returns the first non-space char, cuts trailing space. */
static char *trim(char *s, size_t *len)
{
	size_t n = *len;

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	s[n] = '\0';
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	*len = n;
	return s;
}

static void lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int scan_add_section(struct scan *s, char *name, unsigned int line, const char *path,
			    struct cda_error *err)
{
	struct scan_sec *ns;

	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->secs[i].name, name) == 0) {
			cfg_err(err, path, line, "[%s]: duplicate section (first on line %u)", name,
				s->secs[i].line);
			free(name);
			return -1;
		}
	}
	ns = reallocarray(s->secs, s->n + 1, sizeof(*ns));
	if (ns == NULL) {
		free(name);
		return oom(err, path);
	}
	s->secs = ns;
	s->secs[s->n++] = (struct scan_sec){.name = name, .line = line};
	return 0;
}

static int scan_add_key(struct scan *s, char *key, unsigned int line, const char *path,
			struct cda_error *err)
{
	struct scan_sec *sec;
	struct scan_key *nk;

	if (s->n == 0) {
		cfg_err(err, path, line, "%s: key outside any section", key);
		free(key);
		return -1;
	}
	sec = &s->secs[s->n - 1];
	for (size_t i = 0; i < sec->n_keys; i++) {
		if (strcmp(sec->keys[i].key, key) == 0) {
			cfg_err(err, path, line, "%s: set twice in [%s] (first on line %u)", key,
				sec->name, sec->keys[i].line);
			free(key);
			return -1;
		}
	}
	nk = reallocarray(sec->keys, sec->n_keys + 1, sizeof(*nk));
	if (nk == NULL) {
		free(key);
		return oom(err, path);
	}
	sec->keys = nk;
	sec->keys[sec->n_keys++] = (struct scan_key){.key = key, .line = line};
	return 0;
}

/* iniparser keeps only what lies between the quotes of a quoted value and silently drops
 * the rest ("a#b" c -> a#b): refuse anything but a comment after the closing quote. */
static int check_quotes(const char *v)
{
	const char *close;

	while (isspace((unsigned char)*v))
		v++;
	if (*v != '"' && *v != '\'')
		return 0;
	if ((close = strchr(v + 1, *v)) == NULL)
		return -1;
	for (close++; isspace((unsigned char)*close); close++)
		;
	return *close == '\0' || *close == ';' || *close == '#' ? 0 : -1;
}

/*
 * Classify one logical line the way iniparser 4.1 does (strip; '#'/';' comment; "[...]"
 * section; "key = value"), stricter where iniparser would silently guess.
 */
static int scan_line(struct scan *s, char *buf, size_t len, unsigned int line, const char *path,
		     struct cda_error *err)
{
	char *l = trim(buf, &len), *eq, *name;

	if (len == 0 || l[0] == '#' || l[0] == ';')
		return 0;
	if (l[0] == '[' && l[len - 1] == ']') {
		size_t n;
		char *close = strchr(l, ']');

		if (close != l + len - 1)
			return cfg_err(err, path, line, "bad section header '%s'", l);
		*close = '\0';
		n = (size_t)(close - (l + 1));
		name = trim(l + 1, &n);
		if (n == 0)
			return cfg_err(err, path, line, "empty section name");
		if ((name = strdup(name)) == NULL)
			return oom(err, path);
		lower(name);
		return scan_add_section(s, name, line, path, err);
	}
	eq = strchr(l, '=');
	if (eq == NULL || eq == l)
		return cfg_err(err, path, line, "syntax error: expected 'key = value'");
	if (check_quotes(eq + 1) < 0)
		return cfg_err(err, path, line,
			       "syntax error: nothing may follow a closing quote");
	*eq = '\0';
	len = (size_t)(eq - l);
	l = trim(l, &len);
	if ((name = strdup(l)) == NULL)
		return oom(err, path);
	lower(name);
	return scan_add_key(s, name, line, path, err);
}

static int prescan(struct scan *s, const char *text, size_t size, const char *path,
		   struct cda_error *err)
{
	char buf[2 * MAX_LINE + 2];
	size_t blen = 0;
	unsigned int lineno = 0, first = 0;
	const char *p = text, *end = text + size;

	/* text[size] is the terminating NUL: a shorter string means a NUL byte inside */
	if (strlen(text) < size) {
		const char *z = text + strlen(text);
		unsigned int ln = 1;

		for (const char *q = text; q < z; q++)
			ln += *q == '\n';
		return cfg_err(err, path, ln, "NUL byte in the file");
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		lineno++;
		if (blen == 0)
			first = lineno;
		if (n > MAX_LINE || blen + n > MAX_LINE)
			return cfg_err(err, path, first, "line too long (at most %d bytes)",
				       MAX_LINE);
		memcpy(buf + blen, p, n);
		blen += n;
		p = nl != NULL ? nl + 1 : end;
		while (blen > 0 && isspace((unsigned char)buf[blen - 1]))
			blen--;
		/* a trailing backslash continues the value on the next line */
		if (blen > 0 && buf[blen - 1] == '\\' && p < end) {
			blen--;
			continue;
		}
		buf[blen] = '\0';
		if (scan_line(s, buf, blen, first, path, err) < 0)
			return -1;
		blen = 0;
	}
	return 0;
}

/* Levenshtein distance, capped: short config keys only. */
static unsigned int edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned int row[64];

	if (la >= 63 || lb >= 63)
		return 100;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned int)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned int diag = row[0];

		row[0] = (unsigned int)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned int up = row[j];
			unsigned int best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static void suggest(const char *key, const char *const *list, const char **best,
		    unsigned int *dist)
{
	for (; list != NULL && *list != NULL; list++) {
		unsigned int d = edit_distance(key, *list);

		if (d < *dist) {
			*dist = d;
			*best = *list;
		}
	}
}

static bool in_list(const char *key, const char *const *list)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(key, *list) == 0)
			return true;
	return false;
}

static int unknown_key(struct loader *ld, const struct scan_sec *sec, const struct scan_key *k,
		       const char *const *l1, const char *const *l2)
{
	const char *best = NULL;
	unsigned int dist = 3;

	suggest(k->key, l1, &best, &dist);
	suggest(k->key, l2, &best, &dist);
	if (best != NULL)
		return cfg_err(ld->err, ld->path, k->line,
			       "%s: unknown key '%s' in [%s] (did you mean '%s'?)", k->key, k->key,
			       sec->name, best);
	return cfg_err(ld->err, ld->path, k->line, "%s: unknown key '%s' in [%s]", k->key, k->key,
		       sec->name);
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MAX_NAME)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* Copy every key of a section with its iniparser value into a kv array. */
static int copy_kv(struct loader *ld, const struct scan_sec *sec, struct config_kv **out,
		   size_t *n_out)
{
	struct config_kv *kv;
	char lookup[2 * MAX_LINE + 4];

	kv = calloc(sec->n_keys > 0 ? sec->n_keys : 1, sizeof(*kv));
	if (kv == NULL)
		return oom(ld->err, ld->path);
	*out = kv;
	*n_out = 0;
	for (size_t i = 0; i < sec->n_keys; i++) {
		const char *v;

		snprintf(lookup, sizeof(lookup), "%s:%s", sec->name, sec->keys[i].key);
		v = iniparser_getstring(ld->dict, lookup, NULL);
		if (v == NULL)
			return cfg_err(ld->err, ld->path, sec->keys[i].line,
				       "%s: value could not be read", sec->keys[i].key);
		kv[i].key = strdup(sec->keys[i].key);
		kv[i].value = strdup(v);
		kv[i].line = sec->keys[i].line;
		*n_out = i + 1;
		if (kv[i].key == NULL || kv[i].value == NULL)
			return oom(ld->err, ld->path);
	}
	return 0;
}

static void free_kv(struct config_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static int bad_value(struct loader *ld, const struct config_kv *kv, const char *expect)
{
	return cfg_err(ld->err, ld->path, kv->line, "%s: expected %s, got '%s'", kv->key, expect,
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
		return oom(ld->err, ld->path);
	return 0;
}

static int load_global(struct loader *ld, struct config *c, const struct scan_sec *sec)
{
	struct config_kv *kv = NULL;
	size_t n = 0;
	int rc = -1;

	if (copy_kv(ld, sec, &kv, &n) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct config_kv *k = &kv[i];
		unsigned long u;
		int r;

		if (!in_list(k->key, config_global_keys)) {
			unknown_key(ld, sec, &sec->keys[i], config_global_keys, NULL);
			goto out;
		}
		r = common_key(ld, k, &c->connect_timeout, &c->timeout, &c->max_bytes);
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
	free_kv(kv, n);
	return rc;
}

static void provider_suggest(const char *name, const char **best)
{
	size_t n = 0;
	const struct catalog_entry *all = catalog_all(&n);
	unsigned int dist = 3;

	for (size_t i = 0; all != NULL && i < n; i++) {
		unsigned int d = edit_distance(name, all[i].name);

		if (d < dist) {
			dist = d;
			*best = all[i].name;
		}
	}
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
		return cfg_err(ld->err, ld->path, line,
			       "url: plain http '%s' needs allow_http = yes", url);
	}
	return cfg_err(ld->err, ld->path, line, "url: '%s' is not an https:// or file:/// URL",
		       url);
}

static int load_source(struct loader *ld, const struct config *c, const struct scan_sec *sec,
		       struct source_config *sc)
{
	const struct catalog_entry *ce;
	const struct config_kv *pk, *uk;

	sc->line = sec->line;
	sc->connect_timeout = c->connect_timeout;
	sc->timeout = c->timeout;
	sc->max_bytes = c->max_bytes;
	if ((sc->name = strdup(sec->name + strlen("source."))) == NULL)
		return oom(ld->err, ld->path);
	if (!valid_name(sc->name))
		return cfg_err(ld->err, ld->path, sec->line,
			       "[%s]: source name must be 1..%d of [a-z0-9_-]", sec->name,
			       MAX_NAME);
	if (copy_kv(ld, sec, &sc->kv, &sc->n_kv) < 0)
		return -1;
	pk = kv_find(sc->kv, sc->n_kv, "provider");
	/* a typo of "provider" itself is reported as the typo, not as a missing key */
	for (size_t i = 0; pk == NULL && i < sc->n_kv; i++)
		if (!in_list(sc->kv[i].key, config_source_keys))
			return unknown_key(ld, sec, &sec->keys[i], config_source_keys, NULL);
	if (pk == NULL)
		return cfg_err(ld->err, ld->path, sec->line, "provider: missing in [%s]",
			       sec->name);
	if ((ce = catalog_find(pk->value)) == NULL) {
		const char *best = NULL;

		provider_suggest(pk->value, &best);
		if (best != NULL)
			return cfg_err(ld->err, ld->path, pk->line,
				       "provider: unknown provider '%s' (did you mean '%s'?)",
				       pk->value, best);
		return cfg_err(ld->err, ld->path, pk->line,
			       "provider: unknown provider '%s' (see --list-providers)", pk->value);
	}
	if (dup_str(ld, &sc->provider, pk->value) < 0)
		return -1;
	for (size_t i = 0; i < sc->n_kv; i++) {
		const struct config_kv *k = &sc->kv[i];
		int r;

		if (!in_list(k->key, config_source_keys) && !in_list(k->key, ce->keys))
			return unknown_key(ld, sec, &sec->keys[i], config_source_keys, ce->keys);
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
	uk = kv_find(sc->kv, sc->n_kv, "url");
	if (uk != NULL) {
		if ((sc->urls = config_split_words(uk->value, &sc->n_urls)) == NULL)
			return oom(ld->err, ld->path);
		if (sc->n_urls == 0)
			return cfg_err(ld->err, ld->path, uk->line, "url: empty");
	} else {
		size_t n = 0;

		while (ce->urls != NULL && ce->urls[n] != NULL)
			n++;
		if (n == 0)
			return cfg_err(ld->err, ld->path, sec->line,
				       "url: missing in [%s] (provider '%s' has no built-in URL)",
				       sec->name, ce->name);
		if ((sc->urls = calloc(n + 1, sizeof(*sc->urls))) == NULL)
			return oom(ld->err, ld->path);
		for (size_t i = 0; i < n; i++) {
			if ((sc->urls[i] = strdup(ce->urls[i])) == NULL)
				return oom(ld->err, ld->path);
			sc->n_urls = i + 1;
		}
	}
	if (sc->n_urls > MAX_URLS)
		return cfg_err(ld->err, ld->path, uk != NULL ? uk->line : sec->line,
			       "url: at most %d URLs per source, got %zu", MAX_URLS, sc->n_urls);
	for (size_t i = 0; i < sc->n_urls; i++)
		if (check_url(ld, sc, sc->urls[i], uk != NULL ? uk->line : sec->line) < 0)
			return -1;
	return 0;
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
	if ((tc->name = strdup(sec->name + strlen("target."))) == NULL)
		return oom(ld->err, ld->path);
	if (!valid_name(tc->name))
		return cfg_err(ld->err, ld->path, sec->line,
			       "[%s]: target name must be 1..%d of [a-z0-9_-]", sec->name,
			       MAX_NAME);
	if (copy_kv(ld, sec, &tc->kv, &tc->n_kv) < 0)
		return -1;
	bk = kv_find(tc->kv, tc->n_kv, "backend");
	for (size_t i = 0; bk == NULL && i < tc->n_kv; i++)
		if (!in_list(tc->kv[i].key, config_target_keys))
			return unknown_key(ld, sec, &sec->keys[i], config_target_keys, NULL);
	if (bk == NULL)
		return cfg_err(ld->err, ld->path, sec->line, "backend: missing in [%s]", sec->name);
	if ((ops = backend_find(bk->value)) == NULL)
		return cfg_err(ld->err, ld->path, bk->line,
			       "backend: unknown backend '%s' (or not built in)", bk->value);
	if (dup_str(ld, &tc->backend, bk->value) < 0)
		return -1;
	for (size_t i = 0; i < tc->n_kv; i++)
		if (!in_list(tc->kv[i].key, config_target_keys) &&
		    !backend_accepts_key(ops, tc->kv[i].key))
			return unknown_key(ld, sec, &sec->keys[i], config_target_keys, ops->keys);
	mk = kv_find(tc->kv, tc->n_kv, "max_shrink");
	if (mk != NULL && config_parse_percent(mk->value, &tc->max_shrink) < 0)
		return bad_value(ld, mk, "0..100% (\"10%\" or \"0.1\")");
	sk = kv_find(tc->kv, tc->n_kv, "sources");
	if (sk == NULL)
		return cfg_err(ld->err, ld->path, sec->line, "sources: missing in [%s]", sec->name);
	if ((words = config_split_words(sk->value, &n)) == NULL)
		return oom(ld->err, ld->path);
	if (n == 0) {
		cfg_err(ld->err, ld->path, sk->line, "sources: empty");
		goto out;
	}
	if ((tc->sources = calloc(n + 1, sizeof(*tc->sources))) == NULL) {
		oom(ld->err, ld->path);
		goto out;
	}
	tc->n_sources = 0; /* already 0 (calloc'd target); the loop below relies on it */
	for (size_t i = 0; i < n; i++) {
		bool seen = false;

		if (config_find_source(c, words[i]) == NULL) {
			cfg_err(ld->err, ld->path, sk->line,
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
	free_kv(sc->kv, sc->n_kv);
}

static void free_target(struct target_config *tc)
{
	free(tc->name);
	free(tc->backend);
	config_free_words(tc->sources);
	free_kv(tc->kv, tc->n_kv);
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
	memset(c, 0, sizeof(*c));
}

static int quiet(const char *fmt, ...)
{
	(void)fmt;
	return 0;
}

/* open() + fstat() before iniparser sees the file: a real errno, and the OpenDoas checks. */
static int read_checked(const char *path, bool check_owner, char **text, size_t *size, int *fdp,
			struct cda_error *err)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		cda_error_sys(err, CDA_ECONFIG, "cannot open");
		cda_error_at(err, path, 0);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		cda_error_sys(err, CDA_ECONFIG, "cannot stat");
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		cda_error_set(err, CDA_ECONFIG, "refused: not a regular file");
		goto fail;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		cda_error_set(err, CDA_ECONFIG, "refused: writable by %s (mode %04o)",
			      (st.st_mode & S_IWOTH) != 0 ? "others" : "group",
			      (unsigned int)(st.st_mode & 07777));
		goto fail;
	}
	if (check_owner && st.st_uid != 0) {
		cda_error_set(err, CDA_ECONFIG, "refused: owned by uid %u, not root",
			      (unsigned int)st.st_uid);
		goto fail;
	}
	if (st.st_size > MAX_FILE_BYTES) {
		cda_error_set(err, CDA_ECONFIG, "refused: larger than %d bytes", MAX_FILE_BYTES);
		goto fail;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		cda_error_sys(err, CDA_ESYS, "reading");
		goto fail;
	}
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cda_error_sys(err, CDA_ECONFIG, "cannot read");
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	*text = buf;
	*size = len;
	*fdp = fd;
	return 0;
fail:
	free(buf);
	close(fd);
	cda_error_at(err, path, 0);
	return -1;
}

int config_load(struct config *c, const char *path, bool check_owner, struct cda_error *err)
{
	struct config t = {0};
	struct scan s = {0};
	struct loader ld = {.path = path, .err = err};
	const struct scan_sec *global = NULL;
	char *text = NULL, fdpath[64];
	size_t size = 0, ns = 0, nt = 0;
	int fd = -1, rc = -1;

	memset(c, 0, sizeof(*c));
	if (read_checked(path, check_owner, &text, &size, &fd, err) < 0)
		return -1;
	if (prescan(&s, text, size, path, err) < 0)
		goto out;

	/* iniparser reads the same open file, not whatever the path names by now */
	iniparser_set_error_callback(quiet);
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	ld.dict = iniparser_load(fdpath);
	if (ld.dict == NULL && access(fdpath, F_OK) != 0)
		ld.dict = iniparser_load(path);
	if (ld.dict == NULL) {
		cfg_err(err, path, 0, "iniparser could not read the file");
		goto out;
	}

	t.max_shrink = 0.10;
	t.lock_timeout = 60;
	t.connect_timeout = 10;
	t.timeout = 30;
	t.max_bytes = 8UL * 1024 * 1024;
	t.broadest_v4 = 8;
	t.broadest_v6 = 16;
	t.verify_max = 10000;
	t.keep_withdrawn = 0;
	if ((t.path = strdup(path)) == NULL || (t.state_dir = strdup(CONFIG_DEFAULT_STATE_DIR)) ==
							   NULL) {
		oom(err, path);
		goto out;
	}

	for (size_t i = 0; i < s.n; i++) {
		const char *name = s.secs[i].name;

		if (strcmp(name, "cdnallow") == 0)
			global = &s.secs[i];
		else if (strncmp(name, "source.", 7) == 0)
			ns++;
		else if (strncmp(name, "target.", 7) == 0)
			nt++;
		else {
			cfg_err(err, path, s.secs[i].line,
				"[%s]: unknown section (expected [cdnallow], [source.NAME] or "
				"[target.NAME])",
				name);
			goto out;
		}
	}
	if (global != NULL && load_global(&ld, &t, global) < 0)
		goto out;
	if (ns == 0 || nt == 0) {
		cfg_err(err, path, 0, "no %s section: at least one is needed",
			ns == 0 ? "[source.NAME]" : "[target.NAME]");
		goto out;
	}
	if ((t.sources = calloc(ns, sizeof(*t.sources))) == NULL ||
	    (t.targets = calloc(nt, sizeof(*t.targets))) == NULL) {
		oom(err, path);
		goto out;
	}
	/* sources first: targets refer to them, whatever the order in the file */
	for (size_t i = 0; i < s.n; i++) {
		if (strncmp(s.secs[i].name, "source.", 7) != 0)
			continue;
		t.n_sources++;
		if (load_source(&ld, &t, &s.secs[i], &t.sources[t.n_sources - 1]) < 0)
			goto out;
	}
	for (size_t i = 0; i < s.n; i++) {
		if (strncmp(s.secs[i].name, "target.", 7) != 0)
			continue;
		t.n_targets++;
		if (load_target(&ld, &t, &s.secs[i], &t.targets[t.n_targets - 1]) < 0)
			goto out;
	}
	*c = t;
	memset(&t, 0, sizeof(t));
	rc = 0;
out:
	config_finish(&t);
	scan_free(&s);
	if (ld.dict != NULL)
		iniparser_freedict(ld.dict);
	free(text);
	if (fd >= 0)
		close(fd);
	return rc;
}
