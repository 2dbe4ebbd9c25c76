// SPDX-License-Identifier: MIT
/*
 * cdnallow: options, commands and the orchestration of one run. The only place that
 * prints to the user, logs, or chooses the exit status.
 */
#include <sys/stat.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "atomicfile.h"
#include "backend.h"
#include "catalog.h"
#include "cda_error.h"
#include "config.h"
#include "doctor.h"
#include "fetch.h"
#include "guard.h"
#include "parse.h"
#include "ranges.h"
#include "report.h"
#include "state.h"

#define EXIT_CHANGED 2
/* max_shrink of a target with an origin lock, unless the target sets its own */
#define LOCKED_MAX_SHRINK 0.05

enum command {
	CMD_SYNC,
	CMD_DIFF,
	CMD_SHOW,
	CMD_FETCH,
	CMD_RESTORE,
	CMD_CHECK,
	CMD_UNLOCK,
	CMD_DOCTOR,
};

struct options {
	const char *config;
	enum command cmd;
	bool dry_run, json, force, detailed, verify_full;
	int verbosity; /* -1 quiet, 0 normal, 1 verbose */
	const char **targets;
	size_t n_targets;
	bool use_syslog;
	/* doctor */
	uint16_t *ports;
	size_t n_ports;
	const char **ips;
	size_t n_ips;
	const char *tls_name;
};

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

static const struct option long_opts[] = {
	{"config", required_argument, NULL, 'c'},
	{"dry-run", no_argument, NULL, 'n'},
	{"json", no_argument, NULL, 'j'},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{"target", required_argument, NULL, 't'},
	{"force", no_argument, NULL, 'f'},
	{"detailed-exitcode", no_argument, NULL, 'd'},
	{"verify-full", no_argument, NULL, 'V'},
	{"list-providers", no_argument, NULL, 'L'},
	{"port", required_argument, NULL, 'P'},
	{"ip", required_argument, NULL, 'I'},
	{"tls", required_argument, NULL, 'T'},
	{"version", no_argument, NULL, 'R'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: cdnallow [-c FILE] [-n|--dry-run] [--json] [-q|-v] [--target NAME]\n"
		"                [--force] [--detailed-exitcode] [--verify-full]\n"
		"                [sync|diff|show|fetch|restore|check|unlock]\n"
		"       cdnallow [-c FILE] [--json] [-v] [--target NAME] doctor [--port N ...]\n"
		"                [--ip ADDR ...] [--tls NAME]\n"
		"       cdnallow --list-providers | --version | --help\n"
		"\n"
		"  sync     fetch, guard, diff, apply and verify (default)\n"
		"  diff     what sync would do; changes nothing anywhere\n"
		"  show     what each target holds now\n"
		"  fetch    refresh the cached lists only\n"
		"  restore  apply the last known good lists, no network access\n"
		"  check    validate the configuration\n"
		"  unlock   remove the origin lock at once (the next sync puts it back)\n"
		"  doctor   diagnose why the CDN is refused (read-only)\n"
		"\nconfig: %s\n",
		CONFIG_DEFAULT_PATH);
}

static void logmsg(const struct options *o, int prio, const char *fmt, ...) CDA_PRINTF(3, 4);

static void logmsg(const struct options *o, int prio, const char *fmt, ...)
{
	va_list ap;

	if (o->use_syslog) {
		va_start(ap, fmt);
		vsyslog(prio, fmt, ap);
		va_end(ap);
	}
	if (prio >= LOG_INFO && o->verbosity < 0)
		return;
	if (prio >= LOG_DEBUG && o->verbosity < 1)
		return;
	va_start(ap, fmt);
	fputs("cdnallow: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int parse_command(const char *s, enum command *out)
{
	static const struct {
		const char *name;
		enum command cmd;
	} cmds[] = {
		{"sync", CMD_SYNC},	  {"diff", CMD_DIFF},	{"show", CMD_SHOW},
		{"fetch", CMD_FETCH},	  {"restore", CMD_RESTORE}, {"check", CMD_CHECK},
		{"unlock", CMD_UNLOCK},	  {"doctor", CMD_DOCTOR},
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(s, cmds[i].name) == 0) {
			*out = cmds[i].cmd;
			return 0;
		}
	}
	return -1;
}

static const char *command_name(enum command c)
{
	static const char *const names[] = {"sync",  "diff",   "show",  "fetch",
					    "restore", "check", "unlock", "doctor"};
	return names[c];
}

static void list_providers(void)
{
	size_t n;
	const struct catalog_entry *e = catalog_all(&n);

	for (size_t i = 0; i < n; i++) {
		printf("%-16s %-15s", e[i].name, catalog_format_name(e[i].format));
		if (e[i].urls == NULL || e[i].urls[0] == NULL)
			printf(" (url required)");
		for (const char *const *u = e[i].urls; u != NULL && *u != NULL; u++)
			printf(" %s", *u);
		printf("\n");
	}
}

static bool target_selected(const struct options *o, const char *name)
{
	if (o->n_targets == 0)
		return true;
	for (size_t i = 0; i < o->n_targets; i++)
		if (strcmp(o->targets[i], name) == 0)
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

static unsigned int stricter(unsigned int a, unsigned int b)
{
	return a > b ? a : b;
}

/*
 * Whether a provider's change token went backwards. Only tokens with an order are judged:
 * numbers (AWS and Google syncToken, Azure changeNumber) and ISO 8601 times (CDN77
 * updated_at); digests such as Cloudflare's etag have none.
 */
static bool token_backwards(const char *old, const char *cur)
{
	size_t lo = strspn(old, "0123456789"), lc = strspn(cur, "0123456789");

	if (old[lo] == '\0' && cur[lc] == '\0' && lo > 0 && lc > 0)
		return lo != lc ? lc < lo : strcmp(cur, old) < 0;
	if (lo == 4 && lc == 4 && old[4] == '-' && cur[4] == '-')
		return strcmp(cur, old) < 0;
	return false;
}

/* Parse every fetched body of one source into its new list. */
static int build_list(const struct config *cfg, struct source_run *sr, struct fetch_req *reqs,
		      struct cda_error *err)
{
	const struct source_config *sc = sr->sc;
	struct parse_opts po = {0};
	struct parse_info total = {0};
	struct ranges *list = ranges_new();
	char origin[256];

	if (list == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating");
	po.format = sr->ce->format;
	po.services = source_get(sc, "services");
	if (po.services == NULL)
		po.services = source_get(sc, "groups");
	if (po.services == NULL)
		po.services = source_get(sc, "tag");
	if (po.services == NULL)
		po.services = source_get(sc, "tags");
	po.networks = source_get(sc, "networks");
	po.select = source_get(sc, "select");
	po.where = source_get(sc, "where");
	po.broadest_v4 = stricter(cfg->broadest_v4, sr->ce->broadest_v4);
	po.broadest_v6 = stricter(cfg->broadest_v6, sr->ce->broadest_v6);
	for (size_t u = 0; u < sc->n_urls; u++) {
		struct parse_info info = {0};

		snprintf(origin, sizeof(origin), "source %s (%s)", sc->name, sc->urls[u]);
		/* an error or challenge page is served as HTML: never a list, whatever it holds */
		if (strncasecmp(reqs[u].content_type, "text/html", 9) == 0 ||
		    strncasecmp(reqs[u].content_type, "application/xhtml", 17) == 0) {
			cda_error_set(err, CDA_EDATA, "served as %s: an HTML page, not a list",
				      reqs[u].content_type);
			cda_error_at(err, origin, 0);
			goto fail;
		}
		if (parse_list(reqs[u].body, reqs[u].len, &po, list, &info, err) < 0) {
			cda_error_at(err, origin, 0);
			goto fail;
		}
		total.entries_v4 += info.entries_v4;
		total.entries_v6 += info.entries_v6;
		total.hostbits += info.hostbits;
		if (info.token[0] != '\0')
			snprintf(sr->new_meta.token, sizeof(sr->new_meta.token), "%s", info.token);
	}
	snprintf(origin, sizeof(origin), "source %s (%s)", sc->name, sc->urls[0]);
	if (sr->ce->need_v4 && total.entries_v4 == 0) {
		cda_error_set(err, CDA_EDATA, "the list has no IPv4 entries (a family is missing)");
		cda_error_at(err, origin, 0);
		goto fail;
	}
	if (sr->ce->need_v6 && total.entries_v6 == 0) {
		cda_error_set(err, CDA_EDATA, "the list has no IPv6 entries (a family is missing)");
		cda_error_at(err, origin, 0);
		goto fail;
	}
	if (total.entries_v4 + total.entries_v6 == 0) {
		cda_error_set(err, CDA_EDATA, "empty list");
		cda_error_at(err, origin, 0);
		goto fail;
	}
	if (total.entries_v4 < sr->ce->min_v4 || total.entries_v6 < sr->ce->min_v6) {
		cda_error_set(err, CDA_EDATA,
			      "only %zu IPv4 and %zu IPv6 entries, below the floor of %u and %u "
			      "for %s (truncated?)",
			      total.entries_v4, total.entries_v6, sr->ce->min_v4, sr->ce->min_v6,
			      sr->ce->name);
		cda_error_at(err, origin, 0);
		goto fail;
	}
	ranges_normalize(list);
	if (guard_drop_special(list, &sr->rep->dropped) < 0) {
		cda_error_sys(err, CDA_ESYS, "filtering special-purpose space");
		goto fail;
	}
	sr->rep->hostbits = total.hostbits;
	ranges_free(sr->list);
	sr->list = list;
	return 0;
fail:
	ranges_free(list);
	return -1;
}

/* Fetch all needed sources in parallel; fill each source's list or fall back. */
static int fetch_sources(const struct options *o, const struct config *cfg,
			 struct source_run *srs, size_t n, struct cda_error *err)
{
	size_t total = 0, k = 0;
	struct fetch_req *reqs;
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		if (srs[i].needed)
			total += srs[i].sc->n_urls;
	if (total == 0)
		return 0;
	reqs = calloc(total, sizeof(*reqs));
	if (reqs == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating fetches");
	for (size_t i = 0; i < n; i++) {
		const struct source_config *sc = srs[i].sc;

		if (!srs[i].needed)
			continue;
		for (size_t u = 0; u < sc->n_urls; u++, k++) {
			struct fetch_req *r = &reqs[k];

			r->url = sc->urls[u];
			r->ca_file = sc->ca_file;
			r->allow_http = sc->allow_http;
			r->allow_file = true;
			r->connect_timeout = sc->connect_timeout;
			r->timeout = sc->timeout;
			r->max_bytes = sc->max_bytes;
			r->accept = srs[i].ce->accept;
			/* conditional only when the list it would let us reuse exists */
			if (srs[i].old != NULL && srs[i].meta.n_urls == sc->n_urls) {
				if (srs[i].meta.url[u].etag[0] != '\0')
					r->etag = srs[i].meta.url[u].etag;
				r->last_modified = srs[i].meta.url[u].last_modified;
			}
		}
	}
	if (fetch_all(reqs, total, err) < 0)
		goto out;
	/* a source with some URLs 304 and others 200 needs the 304 ones' bodies again */
	k = 0;
	for (size_t i = 0; i < n; i++) {
		size_t n304 = 0, nu = srs[i].needed ? srs[i].sc->n_urls : 0;

		for (size_t u = 0; u < nu; u++)
			n304 += reqs[k + u].status == FETCH_NOT_MODIFIED;
		if (n304 != 0 && n304 != nu) {
			for (size_t u = 0; u < nu; u++) {
				if (reqs[k + u].status != FETCH_NOT_MODIFIED)
					continue;
				fetch_req_finish(&reqs[k + u]);
				reqs[k + u].etag = NULL;
				reqs[k + u].last_modified = 0;
				reqs[k + u].status = FETCH_PENDING;
				if (fetch_all(&reqs[k + u], 1, err) < 0)
					goto out;
			}
		}
		k += nu;
	}
	k = 0;
	for (size_t i = 0; i < n; i++) {
		struct source_run *sr = &srs[i];
		size_t nu = sr->needed ? sr->sc->n_urls : 0;
		bool failed = false, all304 = nu != 0;
		struct cda_error e = {0};

		if (!sr->needed)
			continue;
		for (size_t u = 0; u < nu; u++) {
			struct fetch_req *r = &reqs[k + u];
			char origin[256];

			if (r->status == FETCH_FAILED && !failed) {
				e = r->err;
				e.origin[0] = '\0';
				snprintf(origin, sizeof(origin), "source %s (%s)", sr->sc->name,
					 r->url);
				cda_error_at(&e, origin, 0);
				failed = true;
			}
			if (r->status != FETCH_NOT_MODIFIED)
				all304 = false;
			sr->new_meta.url[u].last_modified = r->new_last_modified;
			snprintf(sr->new_meta.url[u].etag, sizeof(sr->new_meta.url[u].etag), "%s",
				 r->new_etag);
		}
		sr->new_meta.n_urls = (unsigned int)nu;
		snprintf(sr->rep->prev_token, sizeof(sr->rep->prev_token), "%s", sr->meta.token);
		if (!failed && all304) {
			sr->rep->status = SRC_NOT_MODIFIED;
			sr->list = ranges_dup(sr->old);
			if (sr->list == NULL) {
				cda_error_sys(err, CDA_ESYS, "allocating");
				goto out;
			}
			snprintf(sr->rep->token, sizeof(sr->rep->token), "%s", sr->meta.token);
			logmsg(o, LOG_DEBUG, "source %s: not modified", sr->sc->name);
		} else if (!failed && build_list(cfg, sr, &reqs[k], &e) == 0) {
			sr->rep->status = SRC_OK;
			sr->fresh = true;
			snprintf(sr->rep->token, sizeof(sr->rep->token), "%s", sr->new_meta.token);
			if (sr->meta.token[0] != '\0' && sr->new_meta.token[0] != '\0' &&
			    strcmp(sr->meta.token, sr->new_meta.token) != 0)
				logmsg(o, token_backwards(sr->meta.token, sr->new_meta.token)
						  ? LOG_WARNING
						  : LOG_INFO,
				       "source %s: token %s -> %s%s", sr->sc->name, sr->meta.token,
				       sr->new_meta.token,
				       token_backwards(sr->meta.token, sr->new_meta.token)
					       ? " (went backwards: a stale mirror or cache?)"
					       : "");
		} else {
			char buf[600];

			sr->rep->err = e;
			if (sr->old != NULL) {
				sr->rep->status = SRC_FALLBACK;
				sr->list = ranges_dup(sr->old);
				if (sr->list == NULL) {
					cda_error_sys(err, CDA_ESYS, "allocating");
					goto out;
				}
				logmsg(o, LOG_ERR, "%s; using its last known good list",
				       cda_error_str(&e, buf, sizeof(buf)));
			} else {
				sr->rep->status = SRC_FAILED;
				logmsg(o, LOG_ERR, "%s; no last known good list",
				       cda_error_str(&e, buf, sizeof(buf)));
			}
		}
		if (sr->list != NULL) {
			sr->rep->v4 = ranges_cidr_count(sr->list, CDA_AF_INET);
			sr->rep->v6 = ranges_cidr_count(sr->list, CDA_AF_INET6);
		}
		k += nu;
	}
	rc = 0;
out:
	for (size_t i = 0; i < total; i++)
		fetch_req_finish(&reqs[i]);
	free(reqs);
	return rc;
}

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

/*
 * Once a target is in step (applied, restored or found unchanged; never on a dry run): the
 * backend's replayable copy for the host's own firewall loader (nftables: nft_file). A
 * failure is a state failure: loud, exit 71.
 */
static void snapshot_target(const struct options *o, const struct target_config *tc,
			    struct backend *be, struct target_report *tr)
{
	struct cda_error e = {0};
	bool written;
	char buf[600];

	if (be == NULL || o->dry_run ||
	    (tr->status != TGT_CHANGED && tr->status != TGT_UNCHANGED))
		return;
	if (backend_snapshot(be, &written, &e) < 0) {
		logmsg(o, LOG_ERR,
		       "target %s: in step, but its copy for the firewall loader was not written: %s",
		       tc->name, cda_error_str(&e, buf, sizeof(buf)));
		e.code = CDA_ESYS;
		if (tr->err.code == CDA_OK)
			tr->err = e;
	} else if (written) {
		logmsg(o, LOG_DEBUG, "target %s: copy for the firewall loader updated", tc->name);
	}
}

/* One target: read, diff, guard, apply, verify, save. Fills its report. */
static void run_target(const struct options *o, const struct config *cfg,
		       const struct target_config *tc, struct source_run *srs, size_t n_srs,
		       struct state *st, struct target_report *tr)
{
	const struct backend_ops *ops = backend_find(tc->backend);
	struct backend_env env = {.state = st, .verify_max = cfg->verify_max,
				  .verify_full = o->verify_full, .dry_run = o->dry_run};
	struct backend *be = NULL;
	struct ranges *want = NULL, *cur = NULL, *have = NULL, *add = NULL, *del = NULL;
	struct ranges *only_have = NULL, *only_want = NULL;
	struct cidr_list lh = {0}, lw = {0}, ladd = {0}, ldel = {0};
	struct source_attr *now = NULL, *before = NULL;
	struct guard_counts gc = {0};
	struct guard_policy gp = {.max_shrink = tc->max_shrink, .force = o->force};
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
	if (target_get(tc, "lock_ports") != NULL || target_get(tc, "lock_udp") != NULL) {
		/* a lock turns a wrong list into refused traffic: stricter defaults */
		if (target_get(tc, "max_shrink") == NULL && gp.max_shrink > LOCKED_MAX_SHRINK)
			gp.max_shrink = LOCKED_MAX_SHRINK;
		gp.locked = true;
	}
	if (guard_check_change(&gc, &gp, err) < 0) {
		tr->status = TGT_REFUSED;
		logmsg(o, LOG_ERR, "target %s: %s", tc->name, err->msg);
		/* the report shows what was refused; the target still holds what it had */
		tr->v4 = gc.have[0];
		tr->v6 = gc.have[1];
		goto out;
	}
	if (o->dry_run) {
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
		logmsg(o, LOG_WARNING, "target %s: origin lock %s", tc->name, tr->lock);
	if (backend_save(be, err) < 0) {
		/* applied and verified: the target is in step, only its cache is not */
		logmsg(o, LOG_ERR, "target %s: applied and verified, but its state was not saved: %s",
		       tc->name, cda_error_str(err, buf, sizeof(buf)));
		if (err->code != CDA_ESYS)
			err->code = CDA_ESYS;
	}
	logmsg(o, LOG_NOTICE, "target %s: applied +%zu -%zu, now %zu IPv4 + %zu IPv6%s", tc->name,
	       tr->n_added, tr->n_removed, tr->v4, tr->v6,
	       tr->drift ? ", origin lock put back" : "");
out:
	/* the grace clock is kept once the target is in step (never on a dry run) */
	if (cfg->keep_withdrawn > 0 && st != NULL && !o->dry_run &&
	    (tr->status == TGT_CHANGED || tr->status == TGT_UNCHANGED)) {
		struct cda_error e = {0};

		if (state_save_withdrawn(st, wkey, &keep, &e) < 0)
			logmsg(o, LOG_ERR, "target %s: %s", tc->name,
			       cda_error_str(&e, buf, sizeof(buf)));
	}
	withdrawn_list_finish(&keep);
	snapshot_target(o, tc, be, tr);
	if (tr->status == TGT_FAILED)
		logmsg(o, LOG_ERR, "target %s: %s; left as it was", tc->name,
		       cda_error_str(err, buf, sizeof(buf)));
	if (tr->status == TGT_SKIPPED)
		logmsg(o, LOG_ERR, "target %s: %s; left as it was", tc->name, err->msg);
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

/* `show`: what each selected target holds now. */
static int run_show(const struct options *o, const struct config *cfg, struct state *st)
{
	int status = 0;

	if (o->json)
		printf("{\"targets\":[");
	for (size_t i = 0, shown = 0; i < cfg->n_targets; i++) {
		const struct target_config *tc = &cfg->targets[i];
		const struct backend_ops *ops = backend_find(tc->backend);
		struct backend_env env = {.state = st, .verify_max = cfg->verify_max,
					  .dry_run = true};
		struct backend *be = NULL;
		struct ranges *cur = ranges_new();
		struct cidr_list l = {0};
		struct cda_error err = {0};
		char buf[600];

		if (!target_selected(o, tc->name) || cur == NULL) {
			ranges_free(cur);
			continue;
		}
		if (ops == NULL || backend_open(ops, &be, tc, &env, &err) < 0 ||
		    backend_read(be, cur, &err) < 0) {
			if (ops == NULL)
				cda_error_set(&err, CDA_ECONFIG, "backend %s is not built in",
					      tc->backend);
			logmsg(o, LOG_ERR, "target %s: %s", tc->name,
			       cda_error_str(&err, buf, sizeof(buf)));
			status = cda_error_exit_status(&err);
		} else {
			ranges_normalize(cur);
			ranges_to_cidrs(cur, &l);
		}
		if (o->json) {
			printf("%s{\"name\":\"%s\",\"backend\":\"%s\",\"entries\":[", shown++ ? "," : "",
			       tc->name, tc->backend);
			for (size_t k = 0; k < l.n; k++)
				printf("%s\"%s\"", k ? "," : "", cidr_format(&l.v[k], buf));
			printf("]}");
		} else {
			printf("target %s (%s): %zu IPv4 + %zu IPv6\n", tc->name, tc->backend,
			       ranges_cidr_count(cur, CDA_AF_INET),
			       ranges_cidr_count(cur, CDA_AF_INET6));
			for (size_t k = 0; k < l.n; k++)
				printf("  %s\n", cidr_format(&l.v[k], buf));
		}
		cidr_list_finish(&l);
		ranges_free(cur);
		backend_close(be);
	}
	if (o->json)
		printf("]}\n");
	return status;
}

/* `doctor`: read-only diagnosis; exit 1 when a finding is an error. */
static int run_doctor(const struct options *o, const struct config *cfg)
{
	struct doctor_opts d = {.ports = o->ports, .n_ports = o->n_ports, .ips = o->ips,
				.n_ips = o->n_ips, .tls_name = o->tls_name,
				.targets = o->targets, .n_targets = o->n_targets};
	struct doctor_report r = {0};
	struct cda_error err = {0};
	char buf[600];
	int status;

	if (doctor_run(&d, cfg, &r, &err) < 0) {
		fprintf(stderr, "cdnallow: doctor: %s\n", cda_error_str(&err, buf, sizeof(buf)));
		status = cda_error_exit_status(&err);
	} else {
		if (o->json)
			doctor_report_json(stdout, &r);
		else
			doctor_report_human(stdout, &r, o->verbosity > 0);
		status = doctor_report_worst(&r) == DOCTOR_ERROR ? 1 : 0;
	}
	doctor_report_finish(&r);
	return status;
}

/* `unlock`: remove every selected target's origin lock at once; sets stay as they are. */
static int run_unlock(const struct options *o, const struct config *cfg)
{
	struct state *st = NULL;
	struct cda_error err = {0};
	int status = 0, done = 0;
	char buf[600];

	if (state_open(&st, cfg->state_dir, cfg->lock_timeout, false, &err) < 0) {
		logmsg(o, LOG_ERR, "%s", cda_error_str(&err, buf, sizeof(buf)));
		return cda_error_exit_status(&err);
	}
	for (size_t i = 0; i < cfg->n_targets; i++) {
		const struct target_config *tc = &cfg->targets[i];
		const struct backend_ops *ops = backend_find(tc->backend);
		struct backend_env env = {.state = st, .verify_max = cfg->verify_max};
		struct backend *be = NULL;

		if (!target_selected(o, tc->name) || ops == NULL || ops->unlock == NULL)
			continue;
		cda_error_clear(&err);
		if (backend_open(ops, &be, tc, &env, &err) < 0 || backend_unlock(be, &err) < 0) {
			logmsg(o, LOG_ERR, "target %s: unlock failed: %s", tc->name,
			       cda_error_str(&err, buf, sizeof(buf)));
			status = cda_error_exit_status(&err);
		} else {
			logmsg(o, LOG_NOTICE, "target %s: origin lock removed; the next sync puts it "
					      "back", tc->name);
			done++;
		}
		backend_close(be);
	}
	state_close(st);
	if (done == 0 && status == 0) {
		fprintf(stderr, "cdnallow: unlock: no selected target has an origin lock\n");
		return 64;
	}
	return status;
}

static int exit_status(const struct options *o, const struct run_report *r)
{
	bool failed = false, refused = false, data = false, fetch = false, sys = false;
	bool config = false;

	for (size_t i = 0; i < r->n_targets; i++) {
		const struct target_report *t = &r->targets[i];

		if (t->status == TGT_FAILED) {
			failed = true;
			sys |= t->err.code == CDA_ESYS;
			config |= t->err.code == CDA_ECONFIG;
		}
		if ((t->status == TGT_CHANGED || t->status == TGT_UNCHANGED) &&
		    t->err.code == CDA_ESYS)
			sys = true; /* in step, but the state dir failed */
		refused |= t->status == TGT_REFUSED;
		if (t->status == TGT_SKIPPED) {
			data |= t->err.code == CDA_EDATA;
			fetch |= t->err.code != CDA_EDATA;
		}
	}
	for (size_t i = 0; i < r->n_sources; i++) {
		if (r->sources[i].status == SRC_FALLBACK)
			fetch = true;
		if (r->sources[i].status == SRC_FAILED) {
			if (r->sources[i].err.code == CDA_EDATA)
				data = true;
			else
				fetch = true;
		}
	}
	if (sys || r->state_err.code != CDA_OK)
		return 71;
	if (config)
		return 78;
	if (failed)
		return 69;
	if (refused)
		return 3;
	if (data)
		return 65;
	if (fetch)
		return 75;
	if (o->detailed && r->changed)
		return EXIT_CHANGED;
	return 0;
}

static void write_metrics(const struct options *o, const struct config *cfg,
			  const struct run_report *r, int status)
{
	struct atomicfile af = {0};
	struct cda_error err = {0};
	struct stat sb;
	time_t last_success = 0, last_change = 0;
	char buf[600];

	if (cfg->metrics_file == NULL || o->dry_run)
		return;
	/* carry the previous timestamps over: the file itself is their store */
	if (stat(cfg->metrics_file, &sb) == 0) {
		FILE *fp = fopen(cfg->metrics_file, "r");
		char line[512];
		long long v;

		while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
			if (sscanf(line, "cdnallow_last_success_timestamp_seconds %lld", &v) == 1)
				last_success = (time_t)v;
			if (sscanf(line, "cdnallow_last_change_timestamp_seconds %lld", &v) == 1)
				last_change = (time_t)v;
		}
		if (fp != NULL)
			fclose(fp);
	}
	if (status == 0 || status == EXIT_CHANGED)
		last_success = r->started;
	if (r->changed)
		last_change = r->started;
	if (atomicfile_open(&af, cfg->metrics_file, 0644, &err) < 0 ||
	    report_metrics(af.fp, r, last_success, last_change) < 0 ||
	    atomicfile_commit(&af, &err) < 0) {
		atomicfile_abort(&af);
		logmsg(o, LOG_WARNING, "metrics: %s", cda_error_str(&err, buf, sizeof(buf)));
	}
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(const struct options *o, const struct config *cfg)
{
	struct run_report rep = {0};
	struct source_run *srs = NULL;
	struct state *st = NULL;
	struct cda_error err = {0};
	size_t nt = 0;
	bool readonly = o->dry_run || o->cmd == CMD_SHOW;
	double t0 = now_seconds();
	char buf[600];
	int status;

	rep.command = command_name(o->cmd);
	rep.dry_run = o->dry_run;
	rep.started = time(NULL);
	for (size_t i = 0; i < o->n_targets; i++) {
		if (config_find_target(cfg, o->targets[i]) == NULL) {
			fprintf(stderr, "cdnallow: --target %s: no [target.%s] in %s\n",
				o->targets[i], o->targets[i], cfg->path);
			return 64;
		}
	}
	if (state_open(&st, cfg->state_dir, cfg->lock_timeout, readonly, &err) < 0) {
		logmsg(o, LOG_ERR, "%s", cda_error_str(&err, buf, sizeof(buf)));
		return cda_error_exit_status(&err);
	}
	if (o->cmd == CMD_SHOW) {
		status = run_show(o, cfg, st);
		state_close(st);
		return status;
	}
	srs = calloc(cfg->n_sources, sizeof(*srs));
	rep.sources = calloc(cfg->n_sources, sizeof(*rep.sources));
	rep.targets = calloc(cfg->n_targets, sizeof(*rep.targets));
	if (srs == NULL || rep.sources == NULL || rep.targets == NULL) {
		status = 71;
		goto out;
	}
	for (size_t i = 0; i < cfg->n_sources; i++) {
		struct source_run *sr = &srs[i];
		int found;

		sr->sc = &cfg->sources[i];
		sr->ce = catalog_find(sr->sc->provider);
		sr->all_applied = true;
		for (size_t t = 0; t < cfg->n_targets; t++)
			if (target_selected(o, cfg->targets[t].name) &&
			    uses_source(&cfg->targets[t], sr->sc->name))
				sr->needed = true;
		if (o->cmd == CMD_FETCH)
			sr->needed = true;
		if (!sr->needed)
			continue;
		sr->rep = &rep.sources[rep.n_sources++];
		sr->rep->name = sr->sc->name;
		sr->rep->provider = sr->sc->provider;
		found = state_load_source(st, sr->sc->name, &sr->old, &sr->meta, &err);
		if (found < 0) {
			/* a corrupt cache is not a reason to stop: fetch anew, say so */
			logmsg(o, LOG_WARNING, "%s; ignoring the cached list",
			       cda_error_str(&err, buf, sizeof(buf)));
			cda_error_clear(&err);
			sr->old = NULL;
		}
	}
	if (o->cmd == CMD_RESTORE) {
		for (size_t i = 0; i < cfg->n_sources; i++) {
			struct source_run *sr = &srs[i];

			if (!sr->needed)
				continue;
			if (sr->old != NULL) {
				sr->list = ranges_dup(sr->old);
				sr->rep->status = SRC_CACHED;
				snprintf(sr->rep->token, sizeof(sr->rep->token), "%s",
					 sr->meta.token);
				if (sr->list != NULL) {
					sr->rep->v4 = ranges_cidr_count(sr->list, CDA_AF_INET);
					sr->rep->v6 = ranges_cidr_count(sr->list, CDA_AF_INET6);
				}
			} else {
				sr->rep->status = SRC_FAILED;
				cda_error_set(&sr->rep->err, CDA_EFETCH,
					      "no last known good list in %s to restore",
					      cfg->state_dir);
				cda_error_at(&sr->rep->err, sr->sc->name, 0);
				logmsg(o, LOG_ERR, "source %s: %s", sr->sc->name,
				       sr->rep->err.msg);
			}
		}
	} else if (fetch_sources(o, cfg, srs, cfg->n_sources, &err) < 0) {
		logmsg(o, LOG_ERR, "%s", cda_error_str(&err, buf, sizeof(buf)));
		status = cda_error_exit_status(&err);
		goto out;
	}
	if (o->cmd != CMD_FETCH) {
		for (size_t t = 0; t < cfg->n_targets; t++) {
			const struct target_config *tc = &cfg->targets[t];
			struct target_report *tr;

			if (!target_selected(o, tc->name))
				continue;
			tr = &rep.targets[nt++];
			run_target(o, cfg, tc, srs, cfg->n_sources, st, tr);
			if (tr->status == TGT_CHANGED || tr->status == TGT_WOULD_CHANGE)
				rep.changed = true;
			if (tr->status != TGT_CHANGED && tr->status != TGT_UNCHANGED)
				for (size_t i = 0; i < cfg->n_sources; i++)
					if (uses_source(tc, srs[i].sc->name))
						srs[i].all_applied = false;
		}
		rep.n_targets = nt;
	}
	/* a source's cache moves only once every target using it is in step with it */
	for (size_t i = 0; i < cfg->n_sources && !o->dry_run; i++) {
		struct source_run *sr = &srs[i];

		if (!sr->needed || !sr->fresh || !sr->all_applied)
			continue;
		sr->new_meta.fetched = rep.started;
		sr->new_meta.changed = sr->meta.changed;
		if (sr->old == NULL || !ranges_equal(sr->old, sr->list))
			sr->new_meta.changed = rep.started;
		if (state_save_source(st, sr->sc->name, sr->list, &sr->new_meta, &err) < 0) {
			logmsg(o, LOG_ERR, "source %s: its last known good list was not saved: %s",
			       sr->sc->name, cda_error_str(&err, buf, sizeof(buf)));
			rep.state_err = err;
			cda_error_clear(&err);
		}
	}
	rep.seconds = now_seconds() - t0;
	status = exit_status(o, &rep);
	if (o->json) {
		report_json(stdout, &rep);
	} else if (o->verbosity >= 0 || rep.changed || status != 0) {
		report_human(stdout, &rep, o->verbosity > 0);
	}
	write_metrics(o, cfg, &rep, status);
out:
	report_finish(&rep);
	for (size_t i = 0; srs != NULL && i < cfg->n_sources; i++) {
		ranges_free(srs[i].list);
		ranges_free(srs[i].old);
	}
	free(srs);
	free(rep.sources);
	free(rep.targets);
	state_close(st);
	return status;
}

int main(int argc, char **argv)
{
	struct options o = {.config = CONFIG_DEFAULT_PATH, .cmd = CMD_SYNC};
	struct config cfg = {0};
	struct cda_error err = {0};
	char buf[600];
	int ch, status;

	while ((ch = getopt_long(argc, argv, "c:nqvt:fh", long_opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o.config = optarg;
			break;
		case 'n':
			o.dry_run = true;
			break;
		case 'j':
			o.json = true;
			break;
		case 'q':
			o.verbosity = -1;
			break;
		case 'v':
			o.verbosity = 1;
			break;
		case 't': {
			const char **t = reallocarray(o.targets, o.n_targets + 1, sizeof(*t));

			if (t == NULL)
				return 71;
			o.targets = t;
			o.targets[o.n_targets++] = optarg;
			break;
		}
		case 'f':
			o.force = true;
			break;
		case 'd':
			o.detailed = true;
			break;
		case 'V':
			o.verify_full = true;
			break;
		case 'L':
			list_providers();
			return 0;
		case 'P': {
			unsigned long port;
			uint16_t *p = reallocarray(o.ports, o.n_ports + 1, sizeof(*p));

			if (p == NULL)
				return 71;
			o.ports = p;
			if (config_parse_ulong(optarg, 1, 65535, &port) < 0) {
				fprintf(stderr, "cdnallow: --port %s: expected 1..65535\n", optarg);
				return 64;
			}
			o.ports[o.n_ports++] = (uint16_t)port;
			break;
		}
		case 'I': {
			const char **ip = reallocarray(o.ips, o.n_ips + 1, sizeof(*ip));

			if (ip == NULL)
				return 71;
			o.ips = ip;
			o.ips[o.n_ips++] = optarg;
			break;
		}
		case 'T':
			o.tls_name = optarg;
			break;
		case 'R':
			printf("cdnallow %s\n", CDNALLOW_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind < argc && parse_command(argv[optind++], &o.cmd) < 0) {
		fprintf(stderr, "cdnallow: unknown command '%s'\n", argv[optind - 1]);
		usage(stderr);
		return 64;
	}
	if (optind < argc) {
		fprintf(stderr, "cdnallow: unexpected argument '%s'\n", argv[optind]);
		return 64;
	}
	if (o.cmd == CMD_DIFF)
		o.dry_run = true;
	o.use_syslog = !isatty(STDERR_FILENO) && getenv("CDNALLOW_NO_SYSLOG") == NULL;
	if (o.use_syslog)
		openlog("cdnallow", LOG_PID, LOG_DAEMON);
	if (config_load(&cfg, o.config, geteuid() == 0, &err) < 0) {
		fprintf(stderr, "cdnallow: %s\n", cda_error_str(&err, buf, sizeof(buf)));
		free(o.targets);
		return cda_error_exit_status(&err);
	}
	if (o.cmd == CMD_CHECK) {
		if (o.verbosity >= 0)
			printf("%s: OK, %zu sources, %zu targets\n", cfg.path, cfg.n_sources,
			       cfg.n_targets);
		config_finish(&cfg);
		free(o.targets);
		return 0;
	}
	if (o.cmd == CMD_UNLOCK) {
		status = run_unlock(&o, &cfg);
		config_finish(&cfg);
		free(o.targets);
		return status;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "cdnallow: libcurl initialisation failed\n");
		config_finish(&cfg);
		free(o.targets);
		return 71;
	}
	status = o.cmd == CMD_DOCTOR ? run_doctor(&o, &cfg) : run(&o, &cfg);
	curl_global_cleanup();
	config_finish(&cfg);
	free(o.targets);
	free(o.ports);
	free(o.ips);
	if (o.use_syslog)
		closelog();
	return status;
}
