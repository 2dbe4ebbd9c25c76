// SPDX-License-Identifier: MIT
/* What only providers and backends can judge, at load: their keys, and no shared objects. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "catalog.h"
#include "config_priv.h"
#include "fleet.h"
#include "parse.h"
#include "strmap.h"
#include "textbuf.h"

/*
 * A run refuses a bad provider key (select, where, networks) only once a download came in,
 * and then a last known good list hides it; it refuses a bad backend key only when it gets
 * to the target. Loading runs the same checks on every source and target instead, so that
 * `check` passes exactly the files a run takes and every command refuses the others with a
 * configuration error before it does anything.
 */

void config_parse_opts(const struct source_config *sc, const struct catalog_entry *ce,
		       struct parse_opts *po)
{
	static const char *const word_keys[] = {"services", "groups", "tag", "tags"};

	memset(po, 0, sizeof(*po));
	po->format = ce->format;
	po->prefixes_only = ce->prefixes_only;
	for (size_t i = 0; i < sizeof(word_keys) / sizeof(word_keys[0]); i++)
		if (po->services == NULL)
			po->services = source_get(sc, word_keys[i]);
	po->networks = source_get(sc, "networks");
	po->select = source_get(sc, "select");
	po->where = source_get(sc, "where");
}

/* provider = snapshot: its keys load, its mirrors are fetched over the network. */
static int check_snapshot(struct loader *ld, const struct source_config *sc)
{
	struct fleet_opts fo;
	const char *key = NULL;
	unsigned int line;
	int rc = fleet_opts_load(sc, &fo, &key, ld->err);

	fleet_opts_finish(&fo);
	for (size_t u = 0; rc == 0 && u < sc->n_urls; u++)
		if (strncmp(sc->urls[u], "file:", 5) == 0) {
			rc = cda_error_set(ld->err, CDA_ECONFIG, "url: a snapshot's mirrors are "
					   "fetched over https (not file://)");
			key = "url";
		}
	if (rc == 0)
		return 0;
	line = key != NULL ? source_line(sc, key) : 0;
	return cda_error_at(ld->err, ld->path, line != 0 ? line : sc->line);
}

int check_sources(struct loader *ld, const struct config *c)
{
	for (size_t i = 0; i < c->n_sources; i++) {
		const struct source_config *sc = &c->sources[i];
		const struct catalog_entry *ce = catalog_find(sc->provider);
		struct parse_opts po;
		const char *key = NULL;
		unsigned int line;

		if (ce == NULL) /* load_source() made sure it is known */
			continue;
		if (ce->format == FMT_SNAPSHOT) {
			if (check_snapshot(ld, sc) < 0)
				return -1;
			continue;
		}
		config_parse_opts(sc, ce, &po);
		if (parse_check_opts(&po, &key, ld->err) == 0)
			continue;
		if (ld->err->code != CDA_ECONFIG)
			return cda_error_at(ld->err, ld->path, sc->line);
		line = source_line(sc, key);
		return cda_error_at(ld->err, ld->path, line != 0 ? line : sc->line);
	}
	return 0;
}

/* Target i's claims (one per line of its buffer) into owners: a claim another target made
 * already is a configuration error naming both. */
static int own(struct loader *ld, const struct config *c, size_t i, const struct textbuf *b,
	       struct strmap *owners)
{
	const struct target_config *tc = &c->targets[i];

	for (const char *p = b->p; p != NULL && *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		void *first = NULL;
		int r = strmap_put(owners, 0, p, n, (void *)tc, &first);
		const struct target_config *other = first;

		if (r < 0)
			return config_oom(ld->err, ld->path);
		if (r > 0 && other != tc)
			return config_err(ld->err, ld->path, tc->line,
					  "[target.%s]: manages %.*s, as [target.%s] (line %u) does: "
					  "the two would undo each other's work every run",
					  tc->name, (int)n, p, other->name, other->line);
		p += n + (nl != NULL);
	}
	return 0;
}

int check_targets(struct loader *ld, const struct config *c)
{
	struct backend_env env = {.verify_max = c->verify_max, .dry_run = true};
	struct textbuf *claims = calloc(c->n_targets != 0 ? c->n_targets : 1, sizeof(*claims));
	struct strmap owners = {0};
	int rc = -1;

	if (claims == NULL)
		return config_oom(ld->err, ld->path);
	for (size_t i = 0; i < c->n_targets; i++) {
		const struct target_config *tc = &c->targets[i];
		const struct backend_ops *ops = backend_find(tc->backend);
		struct backend *be = NULL;

		if (ops == NULL) /* load_target() made sure it is known */
			continue;
		/* open validates the keys and changes nothing on the system */
		if (backend_open(ops, &be, tc, &env, ld->err) < 0) {
			cda_error_at(ld->err, ld->path, tc->line);
			goto out;
		}
		backend_claims(be, &claims[i]);
		backend_close(be);
		if (claims[i].oom) {
			config_oom(ld->err, ld->path);
			goto out;
		}
		if (own(ld, c, i, &claims[i], &owners) < 0)
			goto out;
	}
	rc = 0;
out:
	strmap_finish(&owners);
	for (size_t i = 0; i < c->n_targets; i++)
		free(claims[i].p);
	free(claims);
	return rc;
}
