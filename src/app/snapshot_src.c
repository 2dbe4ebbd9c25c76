// SPDX-License-Identifier: MIT
/* snapshot_src: a provider = snapshot source in the fetch child: mirrors in order, verified. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "cda_error.h"
#include "config.h"
#include "fetch.h"
#include "fetch_msg.h"
#include "fleet.h"
#include "pipeline.h"
#include "ranges.h"

#define SIG_MAX_BYTES 4096

/* Why the mirrors failed, one after the other, into e (the first sets class and origin). */
static void add_failure(struct cda_error *e, const char *url, const struct cda_error *why)
{
	size_t n = strlen(e->msg);

	if (e->code == CDA_OK) {
		*e = *why;
		e->origin[0] = '\0';
		e->line = 0;
		snprintf(e->msg, sizeof(e->msg), "mirror %.80s: %.160s", url, why->msg);
		return;
	}
	snprintf(e->msg + n, sizeof(e->msg) - n, "; mirror %.60s: %s", url, why->msg);
}

/* The snapshot and its signature beside the pointer at ptr->url, fetched like it. */
static int fetch_pair(const struct fetch_req *ptr, const char *name, struct fetch_req two[2],
		      char urls[2][1200], struct cda_error *err)
{
	const char *slash = strrchr(ptr->url, '/');
	int base = slash != NULL ? (int)(slash - ptr->url) + 1 : 0;

	snprintf(urls[0], sizeof(urls[0]), "%.*s%s", base, ptr->url, name);
	snprintf(urls[1], sizeof(urls[1]), "%.*s%s.minisig", base, ptr->url, name);
	for (int i = 0; i < 2; i++) {
		memset(&two[i], 0, sizeof(two[i]));
		two[i].url = urls[i];
		two[i].ca_file = ptr->ca_file;
		two[i].ca_blob = ptr->ca_blob;
		two[i].ca_blob_len = ptr->ca_blob_len;
		two[i].allow_http = ptr->allow_http;
		two[i].connect_timeout = ptr->connect_timeout;
		two[i].timeout = ptr->timeout;
		two[i].max_bytes = i == 0 ? ptr->max_bytes : SIG_MAX_BYTES;
		two[i].user_agent = ptr->user_agent;
	}
	if (fetch_all(two, 2, err) < 0)
		return -1;
	for (int i = 0; i < 2; i++)
		if (two[i].status != FETCH_OK) {
			*err = two[i].err;
			return -1;
		}
	return 0;
}

/* One mirror whose pointer came (200): the pair it names, verified and parsed into res. */
static int from_mirror(const struct fleet_opts *fo,
		       const struct fetch_req *ptr, uint64_t last_serial, time_t now,
		       struct fetch_result *res, struct cda_error *why)
{
	struct fetch_req two[2] = {0};
	char name[64], urls[2][1200];
	uint64_t named = fleet_pointer(ptr->body, ptr->len, name, sizeof(name), why);
	int rc = -1;

	if (named == 0)
		return -1;
	if (fetch_pair(ptr, name, two, urls, why) < 0)
		goto out;
	if ((res->list = ranges_new()) == NULL) {
		cda_error_set(why, CDA_ESYS, "allocating");
		goto out;
	}
	if (fleet_accept(fo, two[0].body, two[0].len, two[1].body, two[1].len, named,
			 last_serial, now, res->list, res->meta.token, sizeof(res->meta.token),
			 why) < 0) {
		ranges_free(res->list);
		res->list = NULL;
		goto out;
	}
	rc = 0;
out:
	fetch_req_finish(&two[0]);
	fetch_req_finish(&two[1]);
	return rc;
}

void snapshot_source_work(const struct source_run *sr, const struct fleet_opts *fo,
			  const struct fetch_req *reqs, struct fetch_result *res)
{
	struct cda_error failed = {0}, why;
	uint64_t last = 0;
	time_t published = 0, now = time(NULL);
	char origin[256];
	size_t nu = sr->sc->n_urls;

	fleet_token_parse(sr->meta.token, &last, &published);
	res->meta.n_urls = (unsigned int)nu;
	for (size_t u = 0; u < nu; u++) {
		const struct fetch_req *r = &reqs[u];

		memset(&why, 0, sizeof(why));
		if (r->status == FETCH_FAILED) {
			add_failure(&failed, r->url, &r->err);
			continue;
		}
		if (r->status == FETCH_NOT_MODIFIED) {
			/* the pointer we accepted from this mirror last time: still fresh? */
			if (fleet_check_age(fo, published, now, &why) < 0) {
				add_failure(&failed, r->url, &why);
				continue;
			}
			res->kind = FETCH_RES_NOT_MODIFIED;
			snprintf(res->meta.token, sizeof(res->meta.token), "%s", sr->meta.token);
			res->meta.url[u] = sr->meta.url[u];
		} else if (from_mirror(fo, r, last, now, res, &why) == 0) {
			res->kind = FETCH_RES_NEW;
			/* only the mirror used keeps validators: its 304 means "what we took" */
			snprintf(res->meta.url[u].etag, sizeof(res->meta.url[u].etag), "%s",
				 r->new_etag);
			res->meta.url[u].last_modified = r->new_last_modified;
		} else {
			add_failure(&failed, r->url, &why);
			continue;
		}
		if (failed.code != CDA_OK) { /* a warning: mirrors before it failed */
			snprintf(res->err.msg, sizeof(res->err.msg), "%s", failed.msg);
			snprintf(res->err.origin, sizeof(res->err.origin), "source %s",
				 sr->sc->name);
		}
		return;
	}
	res->kind = FETCH_RES_FAILED;
	res->err = failed;
	if (res->err.code == CDA_OK)
		cda_error_set(&res->err, CDA_EFETCH, "no mirror");
	snprintf(origin, sizeof(origin), "source %s", sr->sc->name);
	cda_error_at(&res->err, origin, 0);
}
