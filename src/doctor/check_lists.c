// SPDX-License-Identifier: MIT
/* Check on the lists: each target's last known good lists are there and fresh; our sets hold them.
 */
#include "checks.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "cda_error.h"
#include "config.h"
#include "ranges.h"
#include "state.h"

#define DEFAULT_MAX_AGE (2 * 86400L)

static int load_lists(struct ctx *c, struct state *st, const struct target_config *tc,
		      struct ranges *want, time_t *oldest, bool *complete, bool *denied)
{
	*complete = true;
	*denied = false;
	*oldest = 0;
	for (size_t i = 0; i < tc->n_sources; i++) {
		struct ranges *l = NULL;
		struct source_meta meta = {0};
		struct cda_error e = {0};
		char buf[600];
		int found = st != NULL ? state_load_source(st, tc->sources[i], &l, &meta, &e) : 0;

		if (found < 0 && (e.sys_errno == EACCES || e.sys_errno == EPERM)) {
			*complete = false;
			*denied = true;
			doctor_note(c, DOCTOR_INFO, "freshness", tc->sources[i], "run it as root",
				    "the cached list cannot be read without privileges: the lists "
				    "and sets "
				    "were not compared");
			continue;
		}
		if (found < 0) {
			*complete = false;
			doctor_note(c, DOCTOR_ERROR, "freshness", tc->sources[i],
				    "run `cdnallow sync` to fetch it anew",
				    "the cached list is unreadable: %s",
				    cda_error_str(&e, buf, sizeof(buf)));
			continue;
		}
		if (found == 0) {
			*complete = false;
			continue;
		}
		if (ranges_add_all(want, l) < 0) {
			ranges_free(l);
			return -1;
		}
		if (*oldest == 0 || meta.fetched < *oldest)
			*oldest = meta.fetched;
		ranges_free(l);
	}
	ranges_normalize(want);
	return 0;
}

int check_lists(struct ctx *c)
{
	long max_age = c->o->max_age > 0 ? c->o->max_age : DEFAULT_MAX_AGE;
	time_t now = time(NULL);

	for (size_t i = 0; i < c->cfg->n_targets; i++) {
		const struct target_config *tc = &c->cfg->targets[i];
		struct ranges *want = ranges_new();
		time_t oldest = 0;
		bool complete, denied;

		if (!doctor_selected(c->o, tc->name)) {
			ranges_free(want);
			continue;
		}
		if (want == NULL ||
		    load_lists(c, c->st, tc, want, &oldest, &complete, &denied) < 0) {
			ranges_free(want);
			return -1;
		}
		if (denied) {
			/* said above */
		} else if (!complete) {
			doctor_note(c, DOCTOR_ERROR, "freshness", tc->name,
				    "run `cdnallow sync` (check its output for fetch errors)",
				    "target %s: a source has no last known good list in %s: "
				    "cdnallow has "
				    "never completed a sync for it",
				    tc->name, c->cfg->state_dir);
		} else if (oldest != 0 && now - oldest > max_age) {
			doctor_note(
				c, DOCTOR_WARNING, "freshness", tc->name,
				"check the timer (`systemctl status cdnallow.timer`) and the last "
				"run's "
				"log (`journalctl -t cdnallow`)",
				"target %s: lists last fetched %.1f days ago", tc->name,
				(double)(now - oldest) / 86400.0);
		} else if (oldest != 0) {
			doctor_note(c, DOCTOR_OK, "freshness", tc->name, NULL,
				    "lists fetched %.1f hours ago",
				    (double)(now - oldest) / 3600.0);
		}
		if (ranges_add_all(c->cdn, want) < 0) {
			ranges_free(want);
			return -1;
		}
#ifdef HAVE_NFTABLES
		if (c->nft != NULL && strcmp(tc->backend, "nftables") == 0 &&
		    check_sets_target(c, tc, want, !fam_none(want)) < 0) {
			ranges_free(want);
			return -1;
		}
#endif
		ranges_free(want);
	}
	ranges_normalize(c->cdn);
	c->have_cdn = ranges_count4(c->cdn) + ranges_count6(c->cdn) > 0;
	return 0;
}
