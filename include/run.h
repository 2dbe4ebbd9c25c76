/* SPDX-License-Identifier: MIT */
/* run: the sync pipeline (sources, each selected target, the caches) filling a run report. */
#ifndef CDNALLOW_RUN_H
#define CDNALLOW_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct cda_error;
struct config;
struct ranges;
struct run_report;
struct state;

/* What a run does with its sources and targets. */
enum run_mode {
	RUN_SYNC,    /* fetch, then bring each selected target in step (diff: with dry_run) */
	RUN_FETCH,   /* fetch every source and refresh its cache; no target */
	RUN_RESTORE, /* the last known good lists, no network; then as RUN_SYNC */
};

/* A source's list as a run left it (publish): moved out of the run, the caller's to free. */
struct run_list {
	const char *name;     /* the source's, borrowed from the config */
	struct ranges *list;  /* NULL: the source has no list (failed, no fallback) */
	char token[128];      /* its provider's change token, "" when none */
	time_t fetched;	      /* when the list was fetched */
};

struct run_opts {
	enum run_mode mode;
	bool dry_run;		    /* read the targets; apply nothing, write no state */
	bool force;		    /* --force: past the shrink and empty-family guards */
	bool verify_full;	    /* --verify-full */
	const char *const *targets; /* --target names, borrowed; none: every target */
	size_t n_targets;
	struct run_list *lists;	    /* RUN_FETCH: when set, one slot per configured source */
};

/* Whether the --target names select name (every name when there are none). */
bool run_selects(const char *const *targets, size_t n_targets, const char *name);

/*
 * One run, with the state dir st open (and locked unless dry run): load the caches, fetch
 * (or restore) the needed sources, bring each selected target in step, then save the cache
 * of each fresh source whose targets are all in step (not on a dry run). Prints nothing:
 * fills rep's sources, targets, changed, state_err and notes (the log lines, in order);
 * rep->command, dry_run and started are the caller's (started dates the caches).
 * A source or target that fails is in rep, not a -1. Returns -1 when the run cannot go
 * on: the fetch as a whole failed (err says why), or memory for the run itself ran out
 * (err->code CDA_ESYS, empty message: exit 71 without a line, as it always was). rep may
 * hold sources and notes either way; report_finish() frees it.
 */
int run_sync(const struct run_opts *ro, const struct config *cfg, struct state *st,
	     struct run_report *rep, struct cda_error *err);

#endif
