// SPDX-License-Identifier: MIT
/* target: bring one target in step with its sources (want, diff, guard, apply, verify, save). */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "backend.h"
#include "cda_error.h"
#include "config.h"
#include "guard.h"
#include "pipeline.h"
#include "ranges.h"
#include "report.h"
#include "run.h"
#include "state.h"

/*
 * The report's changes: the cover of r, which it takes; the sources' lists are held with it
 * (no copy) so that each prefix's source is told only when the report is printed.
 */
static int changes_of(struct ranges *r, const struct source_attr *srcs, size_t n,
		      struct report_changes *out, size_t *count)
{
	memset(out, 0, sizeof(*out));
	*count = ranges_cidr_count(r, CDA_AF_INET) + ranges_cidr_count(r, CDA_AF_INET6);
	if (*count == 0) {
		ranges_free(r);
		return 0;
	}
	out->r = r;
	if (n == 0)
		return 0;
	if ((out->srcs = calloc(n, sizeof(*out->srcs))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		out->srcs[i].name = srcs[i].name;
		out->srcs[i].list = srcs[i].list != NULL ? ranges_ref(srcs[i].list) : NULL;
	}
	out->n_srcs = n;
	return 0;
}

_Static_assert(sizeof(time_t) == sizeof(int64_t), "time_t is 64 bits");

/* since + secs, held at the ends of time_t instead of wrapping. */
static time_t time_add_sat(time_t since, long secs)
{
	time_t r;

	if (__builtin_add_overflow(since, secs, &r))
		return secs > 0 ? (time_t)INT64_MAX : (time_t)INT64_MIN;
	return r;
}

/* Has a range seen withdrawn at `since` waited `secs` by `now`? (a since in the future:
 * not yet; no overflow for any value the state file or the config holds) */
static bool grace_over(time_t since, time_t now, long secs)
{
	return since <= now && time_add_sat(since, secs) <= now;
}

/*
 * keep_withdrawn: ranges the target holds that its sources no longer list stay allowed for
 * a grace period counted from when a run first saw them withdrawn. They go back into want;
 * *keep gets the list to store once the run has applied (or found the target in step).
 */
static int keep_withdrawn(const struct config *cfg, struct state *st, const char *key,
			  const struct ranges *have, struct ranges *want,
			  struct withdrawn_list *keep, struct target_report *tr,
			  struct cda_error *err)
{
	struct withdrawn_list old = {0};
	struct ranges *gone = NULL;
	struct cidr_list g = {0};
	time_t now = time(NULL);
	int rc = -1;

	if (state_load_withdrawn(st, key, &old, err) < 0)
		return -1;
	if (ranges_subtract(have, want, &gone) < 0 || ranges_to_cidrs(gone, &g) < 0)
		goto nomem;
	if (g.n != 0) {
		keep->v = calloc(g.n, sizeof(*keep->v));
		tr->pending = calloc(g.n, sizeof(*tr->pending));
		if (keep->v == NULL || tr->pending == NULL)
			goto nomem;
	}
	for (size_t i = 0; i < g.n; i++) {
		time_t since = now;

		for (size_t k = 0; k < old.n; k++)
			if (cidr_cmp(&old.v[k].c, &g.v[i]) == 0)
				since = old.v[k].since;
		if (grace_over(since, now, cfg->keep_withdrawn))
			continue; /* grace period over: the removal goes ahead */
		keep->v[keep->n].c = g.v[i];
		keep->v[keep->n++].since = since;
		tr->pending[tr->n_pending].c = g.v[i];
		tr->pending[tr->n_pending++].until = time_add_sat(since, cfg->keep_withdrawn);
		if (ranges_add_cidr(want, &g.v[i]) < 0)
			goto nomem;
	}
	ranges_normalize(want);
	rc = 0;
	goto out;
nomem:
	cda_error_sys(err, CDA_ESYS, "keeping withdrawn ranges");
out:
	withdrawn_list_finish(&old);
	cidr_list_finish(&g);
	ranges_free(gone);
	return rc;
}

/* Working data of one target's sync, shared by its stages. */
struct target_work {
	const struct run_opts *ro;
	const struct config *cfg;
	const struct target_config *tc;
	struct state *st;
	struct run_report *rep;
	struct target_report *tr;
	struct backend_env env;
	struct backend *be;
	struct ranges *want;		     /* union of its sources' lists */
	struct ranges *cur;		     /* what the target holds, as read */
	struct ranges *have;		     /* cur, normal */
	struct source_attr *now, *before;    /* per source: its list, its last good list */
	size_t na;
	struct withdrawn_list keep;	     /* withdrawn ranges still allowed */
	char wkey[160];
};

/* Want: the union of the target's sources' lists (a lone normal list itself, not a copy);
 * skipped when one has no list. */
static int want_of(struct target_work *w, const struct source_run *srs, size_t n_srs)
{
	const struct target_config *tc = w->tc;
	struct cda_error *err = &w->tr->err;

	w->now = calloc(tc->n_sources, sizeof(*w->now));
	w->before = calloc(tc->n_sources, sizeof(*w->before));
	w->cur = ranges_new();
	if (w->now == NULL || w->before == NULL || w->cur == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating");
	for (size_t i = 0; i < tc->n_sources; i++) {
		for (size_t j = 0; j < n_srs; j++) {
			if (strcmp(srs[j].sc->name, tc->sources[i]) != 0)
				continue;
			if (srs[j].list == NULL) {
				enum cda_errc c = srs[j].rep->err.code == CDA_EDATA ? CDA_EDATA
										    : CDA_EFETCH;

				w->tr->status = TGT_SKIPPED;
				return cda_error_set(err, c, "source %s has no usable list",
						     srs[j].sc->name);
			}
			w->now[w->na].name = srs[j].sc->name;
			w->now[w->na].list = srs[j].list;
			w->before[w->na].name = srs[j].sc->name;
			w->before[w->na].list = srs[j].old;
			w->na++;
		}
	}
	if (w->na == 1 && ranges_is_normal(w->now[0].list)) {
		w->want = ranges_ref(w->now[0].list);
		return 0;
	}
	if ((w->want = ranges_new()) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating");
	for (size_t i = 0; i < w->na; i++)
		if (ranges_add_all(w->want, w->now[i].list) < 0)
			return cda_error_sys(err, CDA_ESYS, "allocating");
	ranges_normalize(w->want);
	return 0;
}

/* Read what the target holds; keep withdrawn ranges in want for their grace period. */
static int read_target(struct target_work *w)
{
	const struct backend_ops *ops = backend_find(w->tc->backend);
	struct cda_error *err = &w->tr->err;

	if (ops == NULL)
		return cda_error_set(err, CDA_ECONFIG, "backend %s is not built in",
				     w->tc->backend);
	if (backend_open(ops, &w->be, w->tc, &w->env, err) < 0 ||
	    backend_read(w->be, w->cur, err) < 0)
		return -1;
	w->have = ranges_dup(w->cur);
	if (w->have == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating");
	ranges_normalize(w->have);
	snprintf(w->wkey, sizeof(w->wkey), "target-%s", w->tc->name);
	if (w->cfg->keep_withdrawn > 0 && w->st != NULL && ranges_shared(w->want)) {
		/* keep_withdrawn adds to want: a list of its own, not the source's */
		struct ranges *own = ranges_dup(w->want);

		if (own == NULL)
			return cda_error_sys(err, CDA_ESYS, "allocating");
		ranges_free(w->want);
		w->want = own;
	}
	if (w->cfg->keep_withdrawn > 0 && w->st != NULL &&
	    keep_withdrawn(w->cfg, w->st, w->wkey, w->have, w->want, &w->keep, w->tr, err) < 0)
		return -1;
	return 0;
}

/*
 * The prefixes only in want (*add) and only in have (*del), as intervals whose cover they are,
 * from the intervals that differ (oh, ow: taken). When one side is empty the other is the
 * answer as it is (a full apply of 1M prefixes is not turned into prefixes at all).
 * Otherwise the covers are diffed prefix by prefix: what is left of a cover, merged again,
 * has that same cover (a run of blocks of a minimal cover is the minimal cover of its span).
 */
static int prefix_diff(struct ranges *oh, struct ranges *ow, struct ranges **add,
		       struct ranges **del)
{
	struct cidr_list lh = {0}, lw = {0}, ladd = {0}, ldel = {0};
	int rc = -1;

	*add = *del = NULL;
	if ((ranges_count4(oh) == 0 && ranges_count6(oh) == 0) ||
	    (ranges_count4(ow) == 0 && ranges_count6(ow) == 0)) {
		*add = ow;
		*del = oh;
		return 0;
	}
	if (ranges_to_cidrs(oh, &lh) < 0 || ranges_to_cidrs(ow, &lw) < 0 ||
	    cidr_list_diff(&lh, &lw, &ladd, &ldel) < 0 || (*add = ranges_new()) == NULL ||
	    (*del = ranges_new()) == NULL)
		goto out;
	for (size_t i = 0; i < ladd.n; i++)
		if (ranges_add_cidr(*add, &ladd.v[i]) < 0)
			goto out;
	for (size_t i = 0; i < ldel.n; i++)
		if (ranges_add_cidr(*del, &ldel.v[i]) < 0)
			goto out;
	ranges_normalize(*add);
	ranges_normalize(*del);
	rc = 0;
out:
	if (rc < 0) {
		ranges_free(*add);
		ranges_free(*del);
		*add = *del = NULL;
	}
	ranges_free(oh);
	ranges_free(ow);
	cidr_list_finish(&lh);
	cidr_list_finish(&lw);
	cidr_list_finish(&ladd);
	cidr_list_finish(&ldel);
	return rc;
}

static bool ranges_empty(const struct ranges *r)
{
	return ranges_count4(r) == 0 && ranges_count6(r) == 0;
}

/* Diff: the prefixes to add and remove, with their sources; the lock and its drift. */
static int diff(struct target_work *w)
{
	struct target_report *tr = w->tr;
	struct ranges *only_have = NULL, *only_want = NULL, *add = NULL, *del = NULL;

	/*
	 * The prefix diff needs only the intervals that differ: identical intervals have
	 * identical covers, and the others' addresses are disjoint from them. So a 1-range
	 * change in a 1M set covers two intervals, not two million. An empty side: the other
	 * differs whole, and is held, not copied.
	 */
	if (ranges_empty(w->have) || ranges_empty(w->want)) {
		only_have = ranges_ref(w->have);
		only_want = ranges_ref(w->want);
	} else if (ranges_diff_items(w->have, w->want, &only_have, &only_want) < 0) {
		goto nomem;
	}
	if (prefix_diff(only_have, only_want, &add, &del) < 0)
		goto nomem;
	if (changes_of(add, w->now, w->na, &tr->added, &tr->n_added) < 0) {
		ranges_free(del);
		goto nomem;
	}
	if (changes_of(del, w->before, w->na, &tr->removed, &tr->n_removed) < 0)
		goto nomem;
	tr->v4 = ranges_cidr_count(w->want, CDA_AF_INET);
	tr->v6 = ranges_cidr_count(w->want, CDA_AF_INET6);
	if (backend_drift(w->be, &tr->drift, &tr->err) < 0)
		return -1;
	if (backend_lock_info(w->be) != NULL)
		snprintf(tr->lock, sizeof(tr->lock), "%s", backend_lock_info(w->be));
	return 0;
nomem:
	return cda_error_sys(&tr->err, CDA_ESYS, "computing the diff");
}

/* Guard: the change against the target's policy; refused, it keeps what it holds. */
static int guard(struct target_work *w)
{
	struct target_report *tr = w->tr;
	static const int fams[2] = {CDA_AF_INET, CDA_AF_INET6};
	struct guard_counts gc = {0};
	struct guard_policy gp;
	struct ranges *lost = NULL;

	if (ranges_subtract(w->have, w->want, &lost) < 0)
		return cda_error_sys(&tr->err, CDA_ESYS, "computing the change");
	for (int f = 0; f < 2; f++) {
		gc.have[f] = ranges_cidr_count(w->have, fams[f]);
		gc.have_addrs[f] = ranges_addresses(w->have, fams[f]);
		gc.lost_addrs[f] = ranges_addresses(lost, fams[f]);
	}
	ranges_free(lost);
	gc.want[0] = tr->v4;
	gc.want[1] = tr->v6;
	for (int f = 0; f < 2 && tr->removed.r != NULL; f++)
		gc.removed[f] = ranges_cidr_count(tr->removed.r, fams[f]);
	guard_policy_for(w->tc, w->ro->force, &gp);
	if (guard_check_change(&gc, &gp, &tr->err) < 0) {
		tr->status = TGT_REFUSED;
		report_note(w->rep, LOG_ERR, "target %s: %s", w->tc->name, tr->err.msg);
		/* the report shows what was refused; the target still holds what it had */
		tr->v4 = gc.have[0];
		tr->v6 = gc.have[1];
		return -1;
	}
	return 0;
}

/* Apply: the delta in one transaction, verify, save the backend's state. */
static void apply(struct target_work *w)
{
	struct target_report *tr = w->tr;
	struct cda_error *err = &tr->err;
	struct ranges *add = NULL, *del = NULL;
	struct backend_input in = {.want = w->want, .srcs = w->now, .n_srcs = w->na};
	char buf[600];

	if (ranges_count4(w->cur) == 0 && ranges_count6(w->cur) == 0) {
		/* an empty target: the delta is want's items, in order; want itself, not a copy */
		if ((del = ranges_new()) == NULL) {
			cda_error_sys(err, CDA_ESYS, "computing the delta");
			goto out;
		}
		in.add = w->want;
	} else if (ranges_diff_items(w->cur, w->want, &del, &add) < 0) {
		cda_error_sys(err, CDA_ESYS, "computing the delta");
		goto out;
	} else {
		in.add = add;
	}
	in.del = del;
	if (backend_apply(w->be, &in, err) < 0) {
		tr->status = TGT_FAILED;
		tr->unverified = w->be->outcome_unknown;
		goto out;
	}
	if (backend_verify(w->be, w->want, err) < 0) {
		/* the change went out; only its read-back failed: the target may hold either */
		tr->status = TGT_FAILED;
		tr->unverified = true;
		goto out;
	}
	tr->status = TGT_CHANGED;
	tr->elem_msgs = w->be->msgs_sent;
	cda_error_clear(err);
	/* the lock as the apply left it */
	tr->lock[0] = '\0';
	if (backend_lock_info(w->be) != NULL)
		snprintf(tr->lock, sizeof(tr->lock), "%s", backend_lock_info(w->be));
	if (strstr(tr->lock, "withheld") != NULL)
		report_note(w->rep, LOG_WARNING, "target %s: origin lock %s", w->tc->name,
			    tr->lock);
	if (backend_save(w->be, err) < 0) {
		/* applied and verified: the target is in step, only its cache is not */
		report_note(w->rep, LOG_ERR,
			    "target %s: applied and verified, but its state was not saved: %s",
			    w->tc->name, cda_error_str(err, buf, sizeof(buf)));
		if (err->code != CDA_ESYS)
			err->code = CDA_ESYS;
	}
	report_note(w->rep, LOG_NOTICE,
		    "target %s: applied +%zu -%zu, now %zu IPv4 + %zu IPv6%s%s%s", w->tc->name,
		    tr->n_added, tr->n_removed, tr->v4, tr->v6, tr->drift ? ", " : "",
		    tr->drift ? backend_drift_what(w->tc->backend) : "", tr->drift ? " put back" : "");
out:
	ranges_free(add);
	ranges_free(del);
}

/* The grace clock once the target is in step, the notes of a failure, and the cleanup. */
/*
 * Once a target is in step (applied, restored or found unchanged; never on a dry run): the
 * backend's replayable copy for the host's own firewall loader (nftables: nft_file). A
 * failure is a state failure: loud, exit 71.
 */
static void snapshot(struct target_work *w)
{
	struct target_report *tr = w->tr;
	struct cda_error e = {0};
	bool written;
	char buf[600];

	if (w->be == NULL || w->ro->dry_run ||
	    (tr->status != TGT_CHANGED && tr->status != TGT_UNCHANGED))
		return;
	if (backend_snapshot(w->be, &written, &e) < 0) {
		report_note(w->rep, LOG_ERR,
			    "target %s: in step, but its copy for the firewall loader was not "
			    "written: %s",
			    w->tc->name, cda_error_str(&e, buf, sizeof(buf)));
		e.code = CDA_ESYS;
		if (tr->err.code == CDA_OK)
			tr->err = e;
	} else if (written) {
		report_note(w->rep, LOG_DEBUG, "target %s: copy for the firewall loader updated",
			    w->tc->name);
	}
}

static void finish(struct target_work *w)
{
	struct target_report *tr = w->tr;
	char buf[600];

	/* the grace clock is kept once the target is in step (never on a dry run) */
	if (w->cfg->keep_withdrawn > 0 && w->st != NULL && !w->ro->dry_run &&
	    (tr->status == TGT_CHANGED || tr->status == TGT_UNCHANGED)) {
		struct cda_error e = {0};

		if (state_save_withdrawn(w->st, w->wkey, &w->keep, &e) < 0)
			report_note(w->rep, LOG_ERR, "target %s: %s", w->tc->name,
				    cda_error_str(&e, buf, sizeof(buf)));
	}
	withdrawn_list_finish(&w->keep);
	snapshot(w);
	if (tr->status == TGT_FAILED && tr->unverified)
		report_note(w->rep, LOG_ERR,
			    "target %s: %s; the change was sent but not verified (the target may "
			    "hold the new list), its state was not updated: the next run checks it",
			    w->tc->name, cda_error_str(&tr->err, buf, sizeof(buf)));
	else if (tr->status == TGT_FAILED)
		report_note(w->rep, LOG_ERR, "target %s: %s; left as it was", w->tc->name,
			    cda_error_str(&tr->err, buf, sizeof(buf)));
	if (tr->status == TGT_SKIPPED)
		report_note(w->rep, LOG_ERR, "target %s: %s; left as it was", w->tc->name,
			    tr->err.msg);
	backend_close(w->be);
	ranges_free(w->want);
	ranges_free(w->cur);
	ranges_free(w->have);
	free(w->now);
	free(w->before);
}

void target_run(const struct run_opts *ro, const struct config *cfg,
		const struct target_config *tc, struct source_run *srs, size_t n_srs,
		struct state *st, struct run_report *rep, struct target_report *tr)
{
	struct target_work w = {.ro = ro, .cfg = cfg, .tc = tc, .st = st, .rep = rep, .tr = tr,
				.env = {.state = st, .verify_max = cfg->verify_max,
					.verify_full = ro->verify_full, .dry_run = ro->dry_run,
					.restore = ro->mode == RUN_RESTORE}};

	tr->name = tc->name;
	tr->backend = tc->backend;
	tr->status = TGT_FAILED;
	if (want_of(&w, srs, n_srs) < 0 || read_target(&w) < 0 || diff(&w) < 0)
		goto out;
	if (tr->n_added == 0 && tr->n_removed == 0 && !tr->drift) {
		tr->status = TGT_UNCHANGED;
		cda_error_clear(&tr->err);
	} else if (guard(&w) == 0) {
		if (ro->dry_run)
			tr->status = TGT_WOULD_CHANGE;
		else
			apply(&w);
	}
out:
	finish(&w);
}
