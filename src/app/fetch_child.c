// SPDX-License-Identifier: MIT
/* fetch_child: the sources' fetch, parse and guards in a sandboxed child; its answer checked. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cda_error.h"
#include "config.h"
#include "fetch.h"
#include "fetch_msg.h"
#include "pipeline.h"
#include "privsep.h"
#include "subproc.h"

#define MARGIN 30		/* seconds for parsing and the rest, besides the transfers */
#define MAX_TIMEOUT (7 * 86400) /* seconds: the cap on the child's deadline */
#define ANSWER_PER_SOURCE 65536 /* bytes of a result besides its list */
#define MAX_ANSWER (1UL << 30)

/* What the child's side needs: the caller's work and how many results it fills. */
struct job {
	int (*work)(void *ctx, struct fetch_answer *ans, struct cda_error *err);
	void *ctx;
	size_t n_needed;
};

/* In the child: the work's answer, encoded; or why there is none. */
static int child_side(void *p, const struct cda_error *sandbox_err, char **out, size_t *len)
{
	struct job *j = p;
	struct fetch_answer a = {0};
	struct cda_error e = {0};
	int rc;

	if (sandbox_err != NULL) {
		a.outcome = FETCH_MSG_SANDBOX;
		a.err = *sandbox_err;
	} else if ((a.res = calloc(j->n_needed, sizeof(*a.res))) == NULL && j->n_needed > 0) {
		a.outcome = FETCH_MSG_FAILED;
		cda_error_sys(&a.err, CDA_ESYS, "allocating the fetch results");
	} else {
		a.n = j->n_needed;
		if (j->work(j->ctx, &a, &e) < 0) {
			fetch_answer_finish(&a);
			a.outcome = FETCH_MSG_FAILED;
			a.err = e;
		}
	}
	rc = fetch_msg_encode(&a, out, len);
	fetch_answer_finish(&a);
	return rc;
}

static bool is_file(const struct fetch_req *r)
{
	return strncasecmp(r->url, "file:", 5) == 0;
}

/*
 * What the child, another uid, may not be able to open is read here: each ca_file into its
 * request's ca_blob (blobs[] owns them; an unreadable one is left for the child to report)
 * and each file:// URL fetched, then marked skip. These are the root-owned configuration's
 * own files; their bytes are still parsed in the child only.
 */
static int read_local(struct fetch_req *reqs, size_t total, char **blobs, struct cda_error *err)
{
	bool any_file = false;

	for (size_t i = 0; i < total; i++) {
		struct fetch_req *r = &reqs[i];

		for (size_t k = 0; r->ca_file != NULL && r->ca_blob == NULL && k < i; k++)
			if (reqs[k].ca_file != NULL && strcmp(reqs[k].ca_file, r->ca_file) == 0) {
				r->ca_blob = reqs[k].ca_blob;
				r->ca_blob_len = reqs[k].ca_blob_len;
			}
		if (r->ca_file != NULL && r->ca_blob == NULL) {
			struct cda_error ignored = {0};

			if (subproc_slurp(r->ca_file, &blobs[i], &r->ca_blob_len, &ignored) == 0)
				r->ca_blob = blobs[i];
		}
		r->skip = !is_file(r);
		any_file |= is_file(r);
	}
	if (any_file && fetch_all(reqs, total, err) < 0)
		return -1;
	for (size_t i = 0; i < total; i++)
		reqs[i].skip = is_file(&reqs[i]);
	return 0;
}

/*
 * How long the child may take: twice the network requests' timeouts added up (all of them
 * at once, then again one by one for a source partly not modified), and a margin.
 */
static unsigned int deadline_of(const struct fetch_req *reqs, size_t total)
{
	unsigned long long secs = MARGIN;

	for (size_t i = 0; i < total; i++)
		if (!reqs[i].skip && reqs[i].timeout > 0)
			secs += 2ULL * (unsigned long long)reqs[i].timeout;
	return secs > MAX_TIMEOUT ? MAX_TIMEOUT : (unsigned int)secs;
}

/* The longest answer the sources could make: 16 bytes per byte of body, and some. */
static size_t max_answer(const struct fetch_req *reqs, size_t total, size_t n_needed)
{
	unsigned long long b = ANSWER_PER_SOURCE * (unsigned long long)(n_needed + 1);

	for (size_t i = 0; i < total; i++)
		b += 16ULL * (reqs[i].max_bytes ? reqs[i].max_bytes : MAX_ANSWER);
	return b > MAX_ANSWER ? MAX_ANSWER : (size_t)b;
}

/* Every needed source failed, with e (its origin the source's name). */
static int all_failed(const struct source_run *srs, size_t n, size_t n_needed,
		      const struct cda_error *e, struct fetch_answer *ans, struct cda_error *err)
{
	size_t j = 0;

	fetch_answer_finish(ans);
	if ((ans->res = calloc(n_needed ? n_needed : 1, sizeof(*ans->res))) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the fetch results");
	ans->n = n_needed;
	for (size_t i = 0; i < n; i++) {
		struct fetch_result *r;
		char origin[256];

		if (!srs[i].needed)
			continue;
		r = &ans->res[j++];
		r->kind = FETCH_RES_FAILED;
		r->err = *e;
		r->err.origin[0] = '\0';
		r->err.line = 0;
		snprintf(origin, sizeof(origin), "source %s", srs[i].sc->name);
		cda_error_at(&r->err, origin, 0);
		r->meta.n_urls = (unsigned int)srs[i].sc->n_urls;
	}
	return 0;
}

/* The child's bytes into ans: checked, and what each outcome means for the sources. */
static int take_answer(const struct source_run *srs, size_t n, size_t n_needed,
		       const char *buf, size_t len, struct fetch_answer *ans,
		       struct cda_error *err)
{
	unsigned int *n_urls = calloc(n_needed ? n_needed : 1, sizeof(*n_urls));
	struct cda_error e = {0};
	size_t j = 0;
	int rc;

	if (n_urls == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the fetch results");
	for (size_t i = 0; i < n; i++)
		if (srs[i].needed)
			n_urls[j++] = (unsigned int)srs[i].sc->n_urls;
	rc = fetch_msg_decode(buf, len, n_urls, n_needed, ans, &e);
	free(n_urls);
	if (rc < 0 && e.code == CDA_ESYS) {
		*err = e;
		return -1;
	}
	if (rc < 0) {
		char why[sizeof(e.msg)];

		snprintf(why, sizeof(why), "%s", e.msg);
		cda_error_set(&e, CDA_EFETCH, "the fetch process sent a %.200s", why);
		return all_failed(srs, n, n_needed, &e, ans, err);
	}
	if (ans->outcome == FETCH_MSG_FAILED) {
		*err = ans->err;
		fetch_answer_finish(ans);
		return -1;
	}
	if (ans->outcome == FETCH_MSG_SANDBOX) {
		e = ans->err;
		snprintf(e.msg, sizeof(e.msg), "the fetch process could not enter its sandbox "
			 "(%.180s)", ans->err.msg);
		return all_failed(srs, n, n_needed, &e, ans, err);
	}
	return 0;
}

int fetch_child_run(const struct source_run *srs, size_t n, struct fetch_req *reqs,
		    size_t total,
		    int (*work)(void *ctx, struct fetch_answer *ans, struct cda_error *err),
		    void *ctx, struct fetch_answer *ans, struct cda_error *err)
{
	struct job j = {.work = work, .ctx = ctx};
	struct privsep_job pj = {.work = child_side, .ctx = &j, .name = "the fetch process"};
	char **blobs = calloc(total, sizeof(*blobs)), *buf = NULL;
	struct cda_error e = {0};
	size_t len = 0;
	int rc = -1;

	memset(ans, 0, sizeof(*ans));
	if (blobs == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating");
	for (size_t i = 0; i < n; i++)
		j.n_needed += srs[i].needed;
	if (read_local(reqs, total, blobs, err) < 0)
		goto out;
	pj.timeout = deadline_of(reqs, total);
	pj.max_len = max_answer(reqs, total, j.n_needed);
	if (privsep_run(&pj, &buf, &len, &e) == 0)
		rc = take_answer(srs, n, j.n_needed, buf, len, ans, err);
	else if (e.code != CDA_ESYS) /* it died, hung or said too much */
		rc = all_failed(srs, n, j.n_needed, &e, ans, err);
	else
		*err = e;
out:
	for (size_t i = 0; i < total; i++) {
		free(blobs[i]);
		reqs[i].ca_blob = NULL;
	}
	free(blobs);
	free(buf);
	return rc;
}
