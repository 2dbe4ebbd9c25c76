/* SPDX-License-Identifier: MIT */
/* report: what one run did (sources, targets, log lines) and its human, JSON and metrics forms. */
#ifndef CDNALLOW_REPORT_H
#define CDNALLOW_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "cda_error.h"
#include "ranges.h"

enum source_status {
	SRC_OK,		  /* fetched and parsed */
	SRC_NOT_MODIFIED, /* 304 or same token: last good list reused */
	SRC_FALLBACK,	  /* failed; last known good list stands in (err says why) */
	SRC_FAILED,	  /* failed and no last known good list */
	SRC_CACHED,	  /* restore: last good list, no network */
};

enum target_status {
	TGT_UNCHANGED,	/* already equal */
	TGT_CHANGED,	/* applied and verified */
	TGT_WOULD_CHANGE, /* dry run: would apply */
	TGT_REFUSED,	/* a guard refused; nothing applied */
	TGT_FAILED,	/* backend failed; left as it was */
	TGT_SKIPPED,	/* a source has no list: not touched */
};

struct source_report {
	const char *name;
	const char *provider;
	enum source_status status;
	size_t v4, v6; /* prefixes in its (normal) list */
	char token[128];
	char prev_token[128];
	unsigned int hostbits;	     /* entries normalised */
	struct cidr_list dropped;    /* special-purpose prefixes dropped */
	struct cda_error err;	     /* the failure, for FALLBACK/FAILED */
};

/* A source's list, to tell which source a changed prefix comes from. */
struct report_source {
	const char *name;
	struct ranges *list; /* a holder of the list (ranges_ref), freed by report_finish */
};

/*
 * The added or removed prefixes: the minimal CIDR cover of r, in its order, each with the
 * first of srcs whose list holds it (none: no source). Held as intervals and formatted only
 * when printed: a 1M-prefix change costs its intervals (often the target's list itself,
 * shared), not 48 bytes a prefix.
 */
struct report_changes {
	struct ranges *r; /* NULL: none */
	struct report_source *srcs;
	size_t n_srcs;
};

/* A range withdrawn upstream but still allowed until a time (keep_withdrawn). */
struct report_pending {
	struct cidr c;
	time_t until;
};

struct target_report {
	const char *name;
	const char *backend;
	enum target_status status;
	struct report_changes added, removed;
	size_t n_added, n_removed; /* prefixes in each */
	struct report_pending *pending; /* withdrawn upstream, removal pending */
	size_t n_pending;
	size_t v4, v6;	/* prefixes the target holds after the run (or would) */
	size_t elem_msgs; /* backend messages sent (nft) */
	bool drift;	  /* objects besides the sets (the origin lock) were put right */
	bool unverified; /* failed after the backend sent the change: it may hold the new list */
	char lock[128];	  /* the origin lock as found, "" when none */
	struct cda_error err;
};

/* A log line the run leaves for main.c to print: a syslog priority (LOG_ERR, ...) and text. */
struct report_note {
	int prio;
	char *msg;
};

struct run_report {
	const char *command;
	bool dry_run;
	bool changed;
	time_t started;
	double seconds;
	struct source_report *sources;
	size_t n_sources;
	struct target_report *targets;
	size_t n_targets;
	struct cda_error state_err; /* a last known good list could not be saved */
	struct report_note *notes;  /* log lines, in the order the run met them */
	size_t n_notes;
};

const char *report_source_status_name(enum source_status s);
const char *report_target_status_name(enum target_status s);

/* Human diff per target ("+ 104.24.0.0/14"), with source notes; verbose adds unchanged. */
int report_human(FILE *out, const struct run_report *r, bool verbose);
/* The documented JSON document (one object, newline-terminated). */
int report_json(FILE *out, const struct run_report *r);
/* `check --json`: {"config","ok","sources","targets"} or {"config","ok":false,"error"}. */
int report_check_json(FILE *out, const char *config, size_t n_sources, size_t n_targets,
		      const struct cda_error *err);
/* node_exporter textfile format. */
int report_metrics(FILE *out, const struct run_report *r, time_t last_success,
		   time_t last_change);
/*
 * Append a log line to r->notes (the modules of a run do not print; main.c logs the notes
 * once the run returns). Out of memory drops the line.
 */
void report_note(struct run_report *r, int prio, const char *fmt, ...) CDA_PRINTF(3, 4);
/*
 * Frees what the report owns: the sources and targets arrays, their lists (dropped, added,
 * removed, pending) and the notes; not the names, which are borrowed. Idempotent.
 */
void report_finish(struct run_report *r);
/* Drops what one report_changes holds (its intervals, the sources' lists); zeroes it. */
void report_changes_finish(struct report_changes *ch);

#endif
