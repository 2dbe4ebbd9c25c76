// SPDX-License-Identifier: MIT
/* The keys each section accepts, and the "unknown key" and "did you mean" errors. */
#include "config.h"

#include <string.h>

#include "catalog.h"
#include "config_priv.h"

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

void keys_suggest_provider(const char *name, const char **best)
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
