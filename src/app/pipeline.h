/* SPDX-License-Identifier: MIT */
/* pipeline: the working data run.c, sources.c and target.c share; private to src/app. */
#ifndef CDNALLOW_PIPELINE_H
#define CDNALLOW_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "state.h"

struct catalog_entry;
struct cda_error;
struct config;
struct ranges;
struct run_opts;
struct run_report;
struct source_config;
struct source_report;
struct target_config;
struct target_report;

/* Per-source working data of one run. */
struct source_run {
	const struct source_config *sc;
	const struct catalog_entry *ce;
	struct ranges *list; /* current list (fetched or last good); NULL when none */
	struct ranges *old;  /* last known good list from the state dir, NULL when none */
	struct source_meta meta, new_meta;
	bool needed, fresh;  /* used by a selected target; fetched anew this run */
	bool all_applied;    /* every selected target using it is in step */
	struct source_report *rep;
};

/*
 * Fetch every needed source of srs[0..n) in parallel and settle each: its new list, the
 * last good one (not modified, or a fallback) or none, with its source report and notes.
 * -1 (err) only when the fetch as a whole cannot run.
 */
int sources_fetch(const struct config *cfg, struct source_run *srs, size_t n,
		  struct run_report *rep, struct cda_error *err);

/* The broadest prefix lengths a source may hold: the config's and its provider's, stricter. */
void sources_bounds(const struct config *cfg, const struct source_run *sr, unsigned int *v4,
		    unsigned int *v6);
/* One target: read, diff, guard, apply, verify, save. Fills tr and rep's notes. */
void target_run(const struct run_opts *ro, const struct config *cfg,
		const struct target_config *tc, struct source_run *srs, size_t n_srs,
		struct state *st, struct run_report *rep, struct target_report *tr);

#endif
