// SPDX-License-Identifier: MIT
/* sources: fetch, parse and guard each needed source (in a sandboxed child), or fall back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "catalog.h"
#include "cda_error.h"
#include "config.h"
#include "fetch.h"
#include "fetch_msg.h"
#include "fleet.h"
#include "guard.h"
#include "parse.h"
#include "pipeline.h"
#include "ranges.h"
#include "report.h"
#include "state.h"

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

/* The options a source's payloads are parsed with: its provider's format and its keys. */
static void parse_opts_of(const struct config *cfg, const struct source_run *sr,
			  struct parse_opts *po)
{
	config_parse_opts(sr->sc, sr->ce, po);
	sources_bounds(cfg, sr, &po->broadest_v4, &po->broadest_v6);
}

void sources_bounds(const struct config *cfg, const struct source_run *sr, unsigned int *v4,
		    unsigned int *v6)
{
	*v4 = stricter(cfg->broadest_v4, sr->ce->broadest_v4);
	*v6 = stricter(cfg->broadest_v6, sr->ce->broadest_v6);
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
	parse_opts_of(cfg, sr, &po);
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
	if (guard_check_list(total.entries_v4, total.entries_v6, sr->ce, err) < 0) {
		cda_error_at(err, origin, 0);
		goto fail;
	}
	ranges_normalize(list);
	if (guard_drop_special(list, &sr->rep->dropped) < 0) {
		cda_error_sys(err, CDA_ESYS, "filtering special-purpose space");
		goto fail;
	}
	/* again on what is left: private space and copies are no family and no floor */
	if (guard_check_merged(list, sr->ce, err) < 0) {
		cda_error_at(err, origin, 0);
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

/*
 * Plan: one request per URL of each needed source, in source order, into *out (*total of
 * them; none and NULL when no source is needed).
 */
static int plan(const struct source_run *srs, size_t n, struct fetch_req **out, size_t *total,
		struct cda_error *err)
{
	struct fetch_req *reqs;
	size_t k = 0, nr = 0;

	*out = NULL;
	*total = 0;
	for (size_t i = 0; i < n; i++)
		if (srs[i].needed)
			nr += srs[i].sc->n_urls;
	if (nr == 0)
		return 0;
	reqs = calloc(nr, sizeof(*reqs));
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
	*out = reqs;
	*total = nr;
	return 0;
}

/* Fetch: every request in parallel, then the bodies a partly modified source still needs. */
static int fetch(const struct source_run *srs, size_t n, struct fetch_req *reqs, size_t total,
		 struct cda_error *err)
{
	size_t k = 0;

	if (fetch_all(reqs, total, err) < 0)
		return -1;
	/* a source with some URLs 304 and others 200 needs the 304 ones' bodies again */
	for (size_t i = 0; i < n; i++) {
		size_t n304 = 0, nu = srs[i].needed ? srs[i].sc->n_urls : 0;

		for (size_t u = 0; u < nu; u++)
			n304 += reqs[k + u].status == FETCH_NOT_MODIFIED;
		/* a snapshot's URLs are mirrors of one another, not parts of one list */
		if (n304 != 0 && n304 != nu && srs[i].fleet == NULL) {
			for (size_t u = 0; u < nu; u++) {
				if (reqs[k + u].status != FETCH_NOT_MODIFIED)
					continue;
				fetch_req_finish(&reqs[k + u]);
				reqs[k + u].etag = NULL;
				reqs[k + u].last_modified = 0;
				reqs[k + u].status = FETCH_PENDING;
				if (fetch_all(&reqs[k + u], 1, err) < 0)
					return -1;
			}
		}
		k += nu;
	}
	return 0;
}

/*
 * One source's fetch results (reqs: one per URL): the first failure into e (*failed),
 * whether every URL was not modified (*all304), the new validators into sr->new_meta.
 */
static void gather(struct source_run *sr, const struct fetch_req *reqs, struct cda_error *e,
		   bool *failed, bool *all304)
{
	size_t nu = sr->sc->n_urls;

	*failed = false;
	*all304 = nu != 0;
	for (size_t u = 0; u < nu; u++) {
		const struct fetch_req *r = &reqs[u];
		char origin[256];

		if (r->status == FETCH_FAILED && !*failed) {
			*e = r->err;
			e->origin[0] = '\0';
			snprintf(origin, sizeof(origin), "source %s (%s)", sr->sc->name, r->url);
			cda_error_at(e, origin, 0);
			*failed = true;
		}
		if (r->status != FETCH_NOT_MODIFIED)
			*all304 = false;
		sr->new_meta.url[u].last_modified = r->new_last_modified;
		snprintf(sr->new_meta.url[u].etag, sizeof(sr->new_meta.url[u].etag), "%s",
			 r->new_etag);
	}
	sr->new_meta.n_urls = (unsigned int)nu;
}

/* A fresh list's change token, when it moved: a note, a warning when it went backwards. */
static void note_token(struct run_report *rep, const struct source_run *sr)
{
	bool back;

	if (sr->meta.token[0] == '\0' || sr->new_meta.token[0] == '\0' ||
	    strcmp(sr->meta.token, sr->new_meta.token) == 0)
		return;
	back = token_backwards(sr->meta.token, sr->new_meta.token);
	report_note(rep, back ? LOG_WARNING : LOG_INFO, "source %s: token %s -> %s%s", sr->sc->name,
		    sr->meta.token, sr->new_meta.token,
		    back ? " (went backwards: a stale mirror or cache?)" : "");
}

/* A source that failed (e says why): its last known good list stands in, if it has one. */
static int fall_back(struct source_run *sr, const struct cda_error *e, struct run_report *rep,
		     struct cda_error *err)
{
	char buf[600];

	sr->rep->err = *e;
	if (sr->old != NULL) {
		sr->rep->status = SRC_FALLBACK;
		sr->list = ranges_dup(sr->old);
		if (sr->list == NULL)
			return cda_error_sys(err, CDA_ESYS, "allocating");
		report_note(rep, LOG_ERR, "%s; using its last known good list",
			    cda_error_str(e, buf, sizeof(buf)));
	} else {
		sr->rep->status = SRC_FAILED;
		report_note(rep, LOG_ERR, "%s; no last known good list",
			    cda_error_str(e, buf, sizeof(buf)));
	}
	return 0;
}

/*
 * The sandboxed child's side (fetch_child.c runs it): fetch, then each needed source's new
 * list, "not modified" or why not, into ans->res in source order. It runs on the child's
 * copy of srs; only ans goes back to the parent.
 */
struct child_ctx {
	const struct config *cfg;
	struct source_run *srs;
	size_t n;
	struct fetch_req *reqs;
	size_t total;
};

static int child_work(void *p, struct fetch_answer *ans, struct cda_error *err)
{
	struct child_ctx *c = p;
	size_t k = 0, j = 0;

	if (fetch(c->srs, c->n, c->reqs, c->total, err) < 0)
		return -1;
	for (size_t i = 0; i < c->n && j < ans->n; i++) {
		struct source_run *sr = &c->srs[i];
		struct fetch_result *res;
		bool failed, all304;

		if (!sr->needed)
			continue;
		res = &ans->res[j++];
		if (sr->fleet != NULL) {
			snapshot_source_work(sr, sr->fleet, &c->reqs[k], res);
			k += sr->sc->n_urls;
			continue;
		}
		gather(sr, &c->reqs[k], &res->err, &failed, &all304);
		if (!failed && all304) {
			res->kind = FETCH_RES_NOT_MODIFIED;
		} else if (!failed && build_list(c->cfg, sr, &c->reqs[k], &res->err) == 0) {
			res->kind = FETCH_RES_NEW;
			res->list = sr->list;
			sr->list = NULL;
			res->hostbits = sr->rep->hostbits;
			res->dropped = sr->rep->dropped;
			memset(&sr->rep->dropped, 0, sizeof(sr->rep->dropped));
		} else {
			res->kind = FETCH_RES_FAILED;
		}
		res->meta = sr->new_meta;
		k += sr->sc->n_urls;
	}
	return 0;
}

/*
 * What the child says is taken only when it is possible: "not modified" needs a last good
 * list, and a new list must meet the policy (bounds, no special-purpose space, families,
 * floors) as a cached one does. Otherwise res becomes a failure saying why.
 */
static void recheck(const struct config *cfg, const struct source_run *sr,
		    struct fetch_result *res)
{
	struct cda_error g = {0};
	char origin[256];
	unsigned int b4, b6;

	snprintf(origin, sizeof(origin), "source %s (%s)", sr->sc->name, sr->sc->urls[0]);
	if (res->kind == FETCH_RES_NOT_MODIFIED && sr->old == NULL) {
		cda_error_set(&res->err, CDA_EFETCH, "the fetch process said \"not modified\" "
			      "but there is no last known good list");
	} else if (res->kind == FETCH_RES_NEW) {
		sources_bounds(cfg, sr, &b4, &b6);
		if (guard_check_cached(res->list, b4, b6, sr->ce, &g) == 0)
			return;
		cda_error_set(&res->err, g.code, "the fetch process sent a list that fails the "
			      "policy: %.200s", g.msg);
	} else {
		return;
	}
	cda_error_at(&res->err, origin, 0);
	res->kind = FETCH_RES_FAILED;
}

/* Settle one needed source from the child's result: not modified, a new list, or fall back. */
static int settle(const struct config *cfg, struct source_run *sr, struct fetch_result *res,
		  struct run_report *rep, struct cda_error *err)
{
	char config[sizeof(sr->new_meta.config)];

	/* the child knows the validators; the fingerprint of the config is the parent's */
	memcpy(config, sr->new_meta.config, sizeof(config));
	sr->new_meta = res->meta;
	memcpy(sr->new_meta.config, config, sizeof(config));
	snprintf(sr->rep->prev_token, sizeof(sr->rep->prev_token), "%s", sr->meta.token);
	if (res->kind != FETCH_RES_FAILED && res->err.msg[0] != '\0') {
		char buf[600];

		report_note(rep, LOG_WARNING, "%s", cda_error_str(&res->err, buf, sizeof(buf)));
		cda_error_clear(&res->err);
	}
	recheck(cfg, sr, res);
	if (res->kind == FETCH_RES_NOT_MODIFIED) {
		sr->rep->status = SRC_NOT_MODIFIED;
		sr->list = ranges_dup(sr->old);
		if (sr->list == NULL)
			return cda_error_sys(err, CDA_ESYS, "allocating");
		snprintf(sr->rep->token, sizeof(sr->rep->token), "%s", sr->meta.token);
		report_note(rep, LOG_DEBUG, "source %s: not modified", sr->sc->name);
	} else if (res->kind == FETCH_RES_NEW) {
		sr->rep->status = SRC_OK;
		sr->fresh = true;
		sr->list = res->list;
		res->list = NULL;
		sr->rep->hostbits = res->hostbits;
		sr->rep->dropped = res->dropped;
		memset(&res->dropped, 0, sizeof(res->dropped));
		snprintf(sr->rep->token, sizeof(sr->rep->token), "%s", sr->new_meta.token);
		note_token(rep, sr);
	} else if (fall_back(sr, &res->err, rep, err) < 0) {
		return -1;
	}
	if (sr->list != NULL) {
		sr->rep->v4 = ranges_cidr_count(sr->list, CDA_AF_INET);
		sr->rep->v6 = ranges_cidr_count(sr->list, CDA_AF_INET6);
	}
	return 0;
}

/* Each needed snapshot source's keys, read here: the child may not open a key file. */
static int load_fleet(struct source_run *srs, size_t n, struct fleet_opts *fo,
		      struct run_report *rep)
{
	for (size_t i = 0; i < n; i++) {
		struct cda_error e = {0};
		const char *key = NULL;
		char buf[600];

		if (!srs[i].needed || srs[i].ce->format != FMT_SNAPSHOT)
			continue;
		if (fleet_opts_load(srs[i].sc, &fo[i], &key, &e) == 0) {
			srs[i].fleet = &fo[i];
			continue;
		}
		/* checked at load: only a key file changed since can get here */
		report_note(rep, LOG_ERR, "source %s: %s", srs[i].sc->name,
			    cda_error_str(&e, buf, sizeof(buf)));
		return -1;
	}
	return 0;
}

int sources_fetch(const struct config *cfg, struct source_run *srs, size_t n,
		  struct run_report *rep, struct cda_error *err)
{
	struct fetch_answer ans = {0};
	struct child_ctx c = {.cfg = cfg, .srs = srs, .n = n};
	struct fleet_opts *fo = calloc(n + 1, sizeof(*fo));
	struct fetch_req *reqs = NULL;
	size_t total = 0, j = 0;
	int rc = -1;

	if (fo == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating");
	if (load_fleet(srs, n, fo, rep) < 0) {
		cda_error_set(err, CDA_ECONFIG, "a snapshot source's public_key no longer loads");
		goto out;
	}
	if (plan(srs, n, &reqs, &total, err) < 0)
		goto out;
	if (total == 0) {
		rc = 0;
		goto out;
	}
	c.reqs = reqs;
	c.total = total;
	/* network bytes are read, parsed and guarded in a sandboxed child only */
	if (fetch_child_run(srs, n, reqs, total, child_work, &c, &ans, err) < 0)
		goto out;
	for (size_t i = 0; i < n && j < ans.n; i++) {
		if (!srs[i].needed)
			continue;
		if (settle(cfg, &srs[i], &ans.res[j++], rep, err) < 0)
			goto out;
	}
	rc = 0;
out:
	fetch_answer_finish(&ans);
	for (size_t i = 0; i < total; i++)
		fetch_req_finish(&reqs[i]);
	free(reqs);
	for (size_t i = 0; i < n; i++) {
		fleet_opts_finish(&fo[i]);
		srs[i].fleet = NULL;
	}
	free(fo);
	return rc;
}

