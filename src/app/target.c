// SPDX-License-Identifier: MIT
/* target: bring one target in step with its sources (want, diff, guard, apply, verify, save). */
#include <stdio.h>
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

static int changes_from(const struct cidr_list *l, const struct source_attr *srcs, size_t n,
			struct report_change **out, size_t *count)
{
	struct report_change *v = NULL;

	*count = 0;
	if (l->n == 0) {
		*out = NULL;
		return 0;
	}
	v = calloc(l->n, sizeof(*v));
	if (v == NULL)
		return -1;
	for (size_t i = 0; i < l->n; i++) {
		v[i].c = l->v[i];
		v[i].source = backend_source_of(srcs, n, &l->v[i]);
	}
	*out = v;
	*count = l->n;
	return 0;
}

/*
 * keep_withdrawn: ranges the target holds that its sources no longer list stay allowed for
 * a grace period counted from when a run first saw them withdrawn. They go back into want;
 * *keep gets the list to store once the run has applied (or found the target in step).
 */
static int keep_withdrawn(const struct config *cfg, struct state *st, const char *key,
			  const struct ranges *have, struct ranges *want, struct withdrawn_list *keep,
			  struct target_report *tr, struct cda_error *err)
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
		if (now - since >= cfg->keep_withdrawn)
			continue; /* grace period over: the removal goes ahead */
		keep->v[keep->n].c = g.v[i];
		keep->v[keep->n++].since = since;
		tr->pending[tr->n_pending].c = g.v[i];
		tr->pending[tr->n_pending++].until = since + cfg->keep_withdrawn;
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

/* One target: read, diff, guard, apply, verify, save. Fills its report. */
void target_run(const struct run_opts *ro, const struct config *cfg,
		const struct target_config *tc, struct source_run *srs, size_t n_srs,
		struct state *st, struct run_report *rep, struct target_report *tr)
{
	const struct backend_ops *ops = backend_find(tc->backend);
	struct backend_env env = {.state = st, .verify_max = cfg->verify_max,
				  .verify_full = ro->verify_full, .dry_run = ro->dry_run};
	struct backend *be = NULL;
	struct ranges *want = NULL, *cur = NULL, *have = NULL, *add = NULL, *del = NULL;
	struct ranges *only_have = NULL, *only_want = NULL;
	struct cidr_list lh = {0}, lw = {0}, ladd = {0}, ldel = {0};
	struct source_attr *now = NULL, *before = NULL;
	struct guard_counts gc = {0};
	struct guard_policy gp;
	struct withdrawn_list keep = {0};
	struct cda_error *err = &tr->err;
	size_t na = 0;
	char buf[600], wkey[160] = "";

	tr->name = tc->name;
	tr->backend = tc->backend;
	tr->status = TGT_FAILED;
	now = calloc(tc->n_sources, sizeof(*now));
	before = calloc(tc->n_sources, sizeof(*before));
	want = ranges_new();
	cur = ranges_new();
	if (now == NULL || before == NULL || want == NULL || cur == NULL) {
		cda_error_sys(err, CDA_ESYS, "allocating");
		goto out;
	}
	for (size_t i = 0; i < tc->n_sources; i++) {
		for (size_t j = 0; j < n_srs; j++) {
			if (strcmp(srs[j].sc->name, tc->sources[i]) != 0)
				continue;
			if (srs[j].list == NULL) {
				tr->status = TGT_SKIPPED;
				cda_error_set(err, srs[j].rep->err.code == CDA_EDATA ? CDA_EDATA
										      : CDA_EFETCH,
					      "source %s has no usable list", srs[j].sc->name);
				goto out;
			}
			if (ranges_add_all(want, srs[j].list) < 0) {
				cda_error_sys(err, CDA_ESYS, "allocating");
				goto out;
			}
			now[na].name = srs[j].sc->name;
			now[na].list = srs[j].list;
			before[na].name = srs[j].sc->name;
			before[na].list = srs[j].old;
			na++;
		}
	}
	ranges_normalize(want);
	if (ops == NULL) {
		cda_error_set(err, CDA_ECONFIG, "backend %s is not built in", tc->backend);
		goto out;
	}
	if (backend_open(ops, &be, tc, &env, err) < 0 || backend_read(be, cur, err) < 0)
		goto out;
	have = ranges_dup(cur);
	if (have == NULL) {
		cda_error_sys(err, CDA_ESYS, "allocating");
		goto out;
	}
	ranges_normalize(have);
	snprintf(wkey, sizeof(wkey), "target-%s", tc->name);
	if (cfg->keep_withdrawn > 0 && st != NULL &&
	    keep_withdrawn(cfg, st, wkey, have, want, &keep, tr, err) < 0)
		goto out;
	/*
	 * The prefix diff needs only the intervals that differ: identical intervals have
	 * identical covers, and the others' addresses are disjoint from them. So a 1-range
	 * change in a 1M set covers two intervals, not two million.
	 */
	if (ranges_diff_items(have, want, &only_have, &only_want) < 0 ||
	    ranges_to_cidrs(only_have, &lh) < 0 || ranges_to_cidrs(only_want, &lw) < 0 ||
	    cidr_list_diff(&lh, &lw, &ladd, &ldel) < 0 ||
	    changes_from(&ladd, now, na, &tr->added, &tr->n_added) < 0 ||
	    changes_from(&ldel, before, na, &tr->removed, &tr->n_removed) < 0) {
		cda_error_sys(err, CDA_ESYS, "computing the diff");
		goto out;
	}
	tr->v4 = ranges_cidr_count(want, CDA_AF_INET);
	tr->v6 = ranges_cidr_count(want, CDA_AF_INET6);
	if (backend_drift(be, &tr->drift, err) < 0)
		goto out;
	if (backend_lock_info(be) != NULL)
		snprintf(tr->lock, sizeof(tr->lock), "%s", backend_lock_info(be));
	if (ladd.n == 0 && ldel.n == 0 && !tr->drift) {
		tr->status = TGT_UNCHANGED;
		cda_error_clear(err);
		goto out;
	}
	gc.have[0] = ranges_cidr_count(have, CDA_AF_INET);
	gc.have[1] = ranges_cidr_count(have, CDA_AF_INET6);
	gc.want[0] = tr->v4;
	gc.want[1] = tr->v6;
	for (size_t i = 0; i < ldel.n; i++)
		gc.removed[ldel.v[i].family == CDA_AF_INET ? 0 : 1]++;
	guard_policy_for(tc, ro->force, &gp);
	if (guard_check_change(&gc, &gp, err) < 0) {
		tr->status = TGT_REFUSED;
		report_note(rep, LOG_ERR, "target %s: %s", tc->name, err->msg);
		/* the report shows what was refused; the target still holds what it had */
		tr->v4 = gc.have[0];
		tr->v6 = gc.have[1];
		goto out;
	}
	if (ro->dry_run) {
		tr->status = TGT_WOULD_CHANGE;
		goto out;
	}
	if (ranges_diff_items(cur, want, &del, &add) < 0) {
		cda_error_sys(err, CDA_ESYS, "computing the delta");
		goto out;
	}
	{
		struct backend_input in = {.want = want, .add = add, .del = del, .srcs = now,
					   .n_srcs = na};

		if (backend_apply(be, &in, err) < 0 || backend_verify(be, want, err) < 0) {
			tr->status = TGT_FAILED;
			goto out;
		}
	}
	tr->status = TGT_CHANGED;
	tr->elem_msgs = be->msgs_sent;
	cda_error_clear(err);
	/* the lock as the apply left it */
	tr->lock[0] = '\0';
	if (backend_lock_info(be) != NULL)
		snprintf(tr->lock, sizeof(tr->lock), "%s", backend_lock_info(be));
	if (strstr(tr->lock, "withheld") != NULL)
		report_note(rep, LOG_WARNING, "target %s: origin lock %s", tc->name, tr->lock);
	if (backend_save(be, err) < 0) {
		/* applied and verified: the target is in step, only its cache is not */
		report_note(rep, LOG_ERR,
			    "target %s: applied and verified, but its state was not saved: %s",
			    tc->name, cda_error_str(err, buf, sizeof(buf)));
		if (err->code != CDA_ESYS)
			err->code = CDA_ESYS;
	}
	report_note(rep, LOG_NOTICE, "target %s: applied +%zu -%zu, now %zu IPv4 + %zu IPv6%s",
		    tc->name, tr->n_added, tr->n_removed, tr->v4, tr->v6,
		    tr->drift ? ", origin lock put back" : "");
out:
	/* the grace clock is kept once the target is in step (never on a dry run) */
	if (cfg->keep_withdrawn > 0 && st != NULL && !ro->dry_run &&
	    (tr->status == TGT_CHANGED || tr->status == TGT_UNCHANGED)) {
		struct cda_error e = {0};

		if (state_save_withdrawn(st, wkey, &keep, &e) < 0)
			report_note(rep, LOG_ERR, "target %s: %s", tc->name,
				    cda_error_str(&e, buf, sizeof(buf)));
	}
	withdrawn_list_finish(&keep);
	if (tr->status == TGT_FAILED)
		report_note(rep, LOG_ERR, "target %s: %s; left as it was", tc->name,
			    cda_error_str(err, buf, sizeof(buf)));
	if (tr->status == TGT_SKIPPED)
		report_note(rep, LOG_ERR, "target %s: %s; left as it was", tc->name, err->msg);
	backend_close(be);
	ranges_free(want);
	ranges_free(cur);
	ranges_free(have);
	ranges_free(add);
	ranges_free(del);
	cidr_list_finish(&lh);
	cidr_list_finish(&lw);
	cidr_list_finish(&ladd);
	cidr_list_finish(&ldel);
	ranges_free(only_have);
	ranges_free(only_want);
	free(now);
	free(before);
}
