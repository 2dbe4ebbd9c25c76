// SPDX-License-Identifier: MIT
/* The keys each section accepts, and the "unknown key" and "did you mean" errors. */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include "backend.h"
#include "catalog.h"
#include "config_priv.h"

const char *const config_global_keys[] = {
	"state_dir",   "max_shrink",  "lock_timeout", "connect_timeout", "timeout",
	"max_bytes",   "metrics_file", "broadest_v4", "broadest_v6", "verify_max",
	"keep_withdrawn", "publish_key", "publish_password_file", "publisher", "publish_plain",
	"publish_keep", "splay", NULL,
};

const char *const config_source_keys[] = {
	"provider", "url", "ca_file", "allow_http", "connect_timeout", "timeout", "max_bytes", NULL,
};

const char *const config_target_keys[] = {
	"backend", "sources", "max_shrink", NULL,
};

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

static void suggest(const char *key, const char *const *list, const char **best, unsigned int *dist)
{
	for (; list != NULL && *list != NULL; list++) {
		unsigned int d = edit_distance(key, *list);

		if (d < *dist) {
			*dist = d;
			*best = *list;
		}
	}
}

bool keys_in_list(const char *key, const char *const *list)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(key, *list) == 0)
			return true;
	return false;
}

int keys_unknown(struct loader *ld, const struct scan_sec *sec, const struct scan_key *k,
		 const char *const *l1, const char *const *l2)
{
	const char *best = NULL;
	unsigned int dist = 3;

	suggest(k->key, l1, &best, &dist);
	suggest(k->key, l2, &best, &dist);
	if (best != NULL)
		return config_err(ld->err, ld->path, k->line,
				  "%s: unknown key '%s' in [%s] (did you mean '%s'?)", k->key,
				  k->key, sec->name, best);
	return config_err(ld->err, ld->path, k->line, "%s: unknown key '%s' in [%s]", k->key,
			  k->key, sec->name);
}

/* Whether word is one of the '-'-separated parts of name ("aws" of "aws-cloudfront"). */
static bool has_part(const char *name, const char *word, size_t n)
{
	for (const char *p = name;; p++) {
		if (strncmp(p, word, n) == 0 && (p[n] == '\0' || p[n] == '-'))
			return true;
		if ((p = strchr(p, '-')) == NULL)
			return false;
	}
}

/* How close name (lowercased) is to cand: its edit distance, or 2 when one is a part of
 * the other ("cloudfront" and "aws-cloudfront", "gcore-cdn" and "gcore"). */
static unsigned int closeness(const char *name, const char *cand)
{
	size_t n = strlen(name), c = strlen(cand);
	unsigned int d = edit_distance(name, cand);

	if (d > 2 && n > 0 && (has_part(cand, name, n) || has_part(name, cand, c)))
		d = 2;
	return d;
}

/* The nearest of names[0..n) (a stride of size bytes apart, the name first) to a misspelt
 * one, NULL when none is near. */
static const char *nearest(const char *name, const void *names, size_t n, size_t size)
{
	char low[64] = "";
	const char *best = NULL;
	unsigned int dist = 3; /* at most two edits away */
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < sizeof(low); i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[i] = '\0';
	for (i = 0; i < n; i++) {
		const char *cand = *(const char *const *)((const char *)names + i * size);
		unsigned int d = closeness(low, cand);

		if (d < dist) {
			dist = d;
			best = cand;
		}
	}
	return best;
}

void keys_suggest_provider(const char *name, const char **best)
{
	size_t n = 0;
	const struct catalog_entry *all = catalog_all(&n);

	*best = all != NULL ? nearest(name, all, n, sizeof(*all)) : NULL;
}

void keys_suggest_backend(const char *name, const char **best)
{
	size_t n = 0;
	const struct backend_ops *const *all = backend_all(&n);
	const char *names[16] = {NULL};

	for (size_t i = 0; i < n && i < 16; i++)
		names[i] = all[i]->name;
	*best = nearest(name, names, n < 16 ? n : 16, sizeof(names[0]));
}
