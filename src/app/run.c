// SPDX-License-Identifier: MIT
/* run: one run of the sync pipeline (caches, sources, targets, caches again) into a report. */
#include "run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "catalog.h"
#include "cda_error.h"
#include "config.h"
#include "guard.h"
#include "pipeline.h"
#include "ranges.h"
#include "report.h"
#include "state.h"

bool run_selects(const char *const *targets, size_t n_targets, const char *name)
{
	if (n_targets == 0)
		return true;
	for (size_t i = 0; i < n_targets; i++)
		if (strcmp(targets[i], name) == 0)
			return true;
	return false;
}

static bool uses_source(const struct target_config *tc, const char *name)
{
	for (size_t i = 0; i < tc->n_sources; i++)
		if (strcmp(tc->sources[i], name) == 0)
			return true;
	return false;
}

/*
 * A last known good list meets today's policy (bounds, special-purpose space, floors) or
 * is not used at all: no 304 keeps it (its validators go with it), no fallback or restore
 * applies it.
 */
static void recheck_cached(const struct config *cfg, struct source_run *sr,
			   struct run_report *rep)
{
	struct cda_error e = {0};
	unsigned int b4, b6;
	char buf[600];

	if (sr->old == NULL)
		return;
	sources_bounds(cfg, sr, &b4, &b6);
	if (guard_check_cached(sr->old, b4, b6, sr->ce, &e) == 0)
		return;
	/* out of memory is not a verdict on the list: say which it was */
	report_note(rep, LOG_ERR, "source %s: its last known good list %s (%s); not used",
		    sr->sc->name,
		    e.code == CDA_ESYS ? "could not be checked against today's policy"
				       : "fails today's policy",
		    cda_error_str(&e, buf, sizeof(buf)));
	ranges_free(sr->old);
	sr->old = NULL;
	memset(&sr->meta, 0, sizeof(sr->meta));
}

/*
 * A cached list fetched under another configuration of its source (other services, URLs,
 * select...) is not reused through a 304: its validators are dropped, so the fetch is
 * unconditional. It may still stand in when that fetch fails, as any last known good list
 * (held to today's policy by recheck_cached()), and restore still applies it.
 */
static void recheck_config(const struct run_opts *ro, const struct config *cfg,
			   struct source_run *sr, struct run_report *rep)
{
	config_source_fingerprint(cfg, sr->sc, sr->new_meta.config);
	if (sr->old == NULL || strcmp(sr->meta.config, sr->new_meta.config) == 0)
		return;
	if (ro->mode == RUN_RESTORE) {
		report_note(rep, LOG_NOTICE, "source %s: its last known good list was fetched "
			    "under another configuration of the source", sr->sc->name);
		return;
	}
	if (sr->meta.config[0] != '\0')
		report_note(rep, LOG_NOTICE, "source %s: its configuration changed since the "
			    "cached list was fetched: fetching it anew", sr->sc->name);
	sr->meta.n_urls = 0;
	memset(sr->meta.url, 0, sizeof(sr->meta.url));
}

/* Which sources the run needs, and their last known good lists from the state dir. */
static void load_sources(const struct run_opts *ro, const struct config *cfg,
			 struct source_run *srs, struct state *st, struct run_report *rep,
			 struct cda_error *err)
{
	char buf[600];

	for (size_t i = 0; i < cfg->n_sources; i++) {
		struct source_run *sr = &srs[i];
		int found;

		sr->sc = &cfg->sources[i];
		sr->ce = catalog_find(sr->sc->provider);
		sr->all_applied = true;
		for (size_t t = 0; t < cfg->n_targets; t++)
			if (run_selects(ro->targets, ro->n_targets, cfg->targets[t].name) &&
			    uses_source(&cfg->targets[t], sr->sc->name))
				sr->needed = true;
		if (ro->mode == RUN_FETCH)
			sr->needed = true;
		if (!sr->needed)
			continue;
		sr->rep = &rep->sources[rep->n_sources++];
		sr->rep->name = sr->sc->name;
		sr->rep->provider = sr->sc->provider;
		found = state_load_source(st, sr->sc->name, &sr->old, &sr->meta, err);
		if (found < 0) {
			/* a corrupt cache is not a reason to stop: fetch anew, say so */
			report_note(rep, LOG_WARNING, "%s; ignoring the cached list",
				    cda_error_str(err, buf, sizeof(buf)));
			cda_error_clear(err);
			sr->old = NULL;
		}
		recheck_cached(cfg, sr, rep);
		recheck_config(ro, cfg, sr, rep);
	}
}

/* restore: each needed source's last known good list stands in, no network. */
static void restore_sources(const struct config *cfg, struct source_run *srs,
			    struct run_report *rep)
{
	for (size_t i = 0; i < cfg->n_sources; i++) {
		struct source_run *sr = &srs[i];

		if (!sr->needed)
			continue;
		if (sr->old != NULL) {
			sr->list = ranges_dup(sr->old);
			sr->rep->status = SRC_CACHED;
			snprintf(sr->rep->token, sizeof(sr->rep->token), "%s", sr->meta.token);
			if (sr->list != NULL) {
				sr->rep->v4 = ranges_cidr_count(sr->list, CDA_AF_INET);
				sr->rep->v6 = ranges_cidr_count(sr->list, CDA_AF_INET6);
			}
		} else {
			sr->rep->status = SRC_FAILED;
			cda_error_set(&sr->rep->err, CDA_EFETCH,
				      "no last known good list in %s to restore", cfg->state_dir);
			cda_error_at(&sr->rep->err, sr->sc->name, 0);
			report_note(rep, LOG_ERR, "source %s: %s", sr->sc->name, sr->rep->err.msg);
		}
	}
}

/* Each selected target in config order; a source is all_applied while its targets are. */
static void sync_targets(const struct run_opts *ro, const struct config *cfg,
			 struct source_run *srs, struct state *st, struct run_report *rep)
{
	size_t nt = 0;

	for (size_t t = 0; t < cfg->n_targets; t++) {
		const struct target_config *tc = &cfg->targets[t];
		struct target_report *tr;

		if (!run_selects(ro->targets, ro->n_targets, tc->name))
			continue;
		tr = &rep->targets[nt++];
		target_run(ro, cfg, tc, srs, cfg->n_sources, st, rep, tr);
		if (tr->status == TGT_CHANGED || tr->status == TGT_WOULD_CHANGE)
			rep->changed = true;
		if (tr->status != TGT_CHANGED && tr->status != TGT_UNCHANGED)
			for (size_t i = 0; i < cfg->n_sources; i++)
				if (uses_source(tc, srs[i].sc->name))
					srs[i].all_applied = false;
	}
	rep->n_targets = nt;
}

/* A source's cache moves only once every target using it is in step with it. */
static void save_sources(const struct config *cfg, struct source_run *srs, struct state *st,
			 struct run_report *rep, struct cda_error *err)
{
	char buf[600];

	for (size_t i = 0; i < cfg->n_sources; i++) {
		struct source_run *sr = &srs[i];

		if (!sr->needed || !sr->fresh || !sr->all_applied)
			continue;
		sr->new_meta.fetched = rep->started;
		sr->new_meta.changed = sr->meta.changed;
		if (sr->old == NULL || !ranges_equal(sr->old, sr->list))
			sr->new_meta.changed = rep->started;
		if (state_save_source(st, sr->sc->name, sr->list, &sr->new_meta, err) < 0) {
			report_note(rep, LOG_ERR,
				    "source %s: its last known good list was not saved: %s",
				    sr->sc->name, cda_error_str(err, buf, sizeof(buf)));
			rep->state_err = *err;
			cda_error_clear(err);
		}
	}
}

/* publish: each source's list moved into ro->lists, with its token and fetch time. */
static void hand_lists(const struct run_opts *ro, const struct config *cfg,
		       struct source_run *srs, const struct run_report *rep)
{
	for (size_t i = 0; i < cfg->n_sources; i++) {
		struct run_list *l = &ro->lists[i];
		const struct source_run *sr = &srs[i];

		l->name = sr->sc->name;
		if (!sr->needed || sr->list == NULL)
			continue;
		l->list = srs[i].list;
		srs[i].list = NULL;
		l->fetched = sr->fresh ? rep->started : sr->meta.fetched;
		snprintf(l->token, sizeof(l->token), "%s",
			 sr->fresh ? sr->new_meta.token : sr->meta.token);
	}
}

int run_sync(const struct run_opts *ro, const struct config *cfg, struct state *st,
	     struct run_report *rep, struct cda_error *err)
{
	struct source_run *srs = calloc(cfg->n_sources, sizeof(*srs));
	int rc = -1;

	rep->sources = calloc(cfg->n_sources, sizeof(*rep->sources));
	rep->targets = calloc(cfg->n_targets, sizeof(*rep->targets));
	if (srs == NULL || rep->sources == NULL || rep->targets == NULL) {
		cda_error_sys(err, CDA_ESYS, "allocating the run's source and target tables");
		goto out;
	}
	load_sources(ro, cfg, srs, st, rep, err);
	if (ro->mode == RUN_RESTORE)
		restore_sources(cfg, srs, rep);
	else if (sources_fetch(cfg, srs, cfg->n_sources, rep, err) < 0)
		goto out;
	if (ro->mode != RUN_FETCH)
		sync_targets(ro, cfg, srs, st, rep);
	if (!ro->dry_run)
		save_sources(cfg, srs, st, rep, err);
	if (ro->lists != NULL)
		hand_lists(ro, cfg, srs, rep);
	rc = 0;
out:
	for (size_t i = 0; srs != NULL && i < cfg->n_sources; i++) {
		ranges_free(srs[i].list);
		ranges_free(srs[i].old);
	}
	free(srs);
	return rc;
}
