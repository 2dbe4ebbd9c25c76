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
struct fetch_answer;
struct fetch_req;
struct fetch_result;
struct fleet_opts;
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
	struct fleet_opts *fleet; /* provider = snapshot: its keys, loaded before the fork */
	struct source_report *rep;
};

/*
 * Fetch every needed source of srs[0..n) in parallel and settle each: its new list, the
 * last good one (not modified, or a fallback) or none, with its source report and notes.
 * -1 (err) only when the fetch as a whole cannot run.
 */
int sources_fetch(const struct config *cfg, struct source_run *srs, size_t n,
		  struct run_report *rep, struct cda_error *err);

/*
 * Run work(ctx, ans, err) in a child that enters its sandbox first (privsep.h): ans->res has
 * a zeroed slot per needed source of srs[0..n), which work fills in order; -1 (err) when the
 * fetch as a whole cannot run. Before the fork, what the child may be unable to open is read
 * here (each ca_file into its request's ca_blob, each file:// URL of reqs[0..total) fetched
 * and marked skip). The child's answer is checked whole (fetch_msg.h) into *ans, one result
 * per needed source: a child that dies, hangs, cannot enter its sandbox or sends malformed
 * bytes fails every needed source with why. -1 (err) when the child reported the fetch as a
 * whole failed, or on fork or memory failure; *ans is then empty. fetch_answer_finish(ans).
 */
int fetch_child_run(const struct source_run *srs, size_t n, struct fetch_req *reqs,
		    size_t total,
		    int (*work)(void *ctx, struct fetch_answer *ans, struct cda_error *err),
		    void *ctx, struct fetch_answer *ans, struct cda_error *err);

/*
 * In the fetch child, a snapshot source (snapshot_src.c): reqs[0..n_urls) are its mirrors'
 * pointer files, fetched; the first mirror whose snapshot passes (fleet_accept(), or a 304
 * still within max_age) settles res; the mirrors that failed before it are a warning in
 * res->err (class CDA_OK); when none passes, res fails with each mirror's cause.
 */
void snapshot_source_work(const struct source_run *sr, const struct fleet_opts *fo,
			  const struct fetch_req *reqs, struct fetch_result *res);

/* The broadest prefix lengths a source may hold: the config's and its provider's, stricter. */
void sources_bounds(const struct config *cfg, const struct source_run *sr, unsigned int *v4,
		    unsigned int *v6);
/* One target: read, diff, guard, apply, verify, save. Fills tr and rep's notes. */
void target_run(const struct run_opts *ro, const struct config *cfg,
		const struct target_config *tc, struct source_run *srs, size_t n_srs,
		struct state *st, struct run_report *rep, struct target_report *tr);

#endif
