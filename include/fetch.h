/* SPDX-License-Identifier: MIT */
/* fetch: parallel, conditional HTTPS downloads with size caps and timeouts. */
#ifndef CDNALLOW_FETCH_H
#define CDNALLOW_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "cda_error.h"

enum fetch_status {
	FETCH_PENDING = 0,
	FETCH_OK,	    /* 2xx with a body in body/len */
	FETCH_NOT_MODIFIED, /* 304 to our conditional request: reuse the last good list */
	FETCH_FAILED,	    /* see err (CDA_EFETCH: network, TLS, HTTP status, size, redirect) */
};

/* One URL to fetch. Inputs are borrowed; outputs are owned by the request. */
struct fetch_req {
	/* in */
	const char *url;
	const char *ca_file;	   /* NULL: system CA store */
	const void *ca_blob;	   /* ca_file's content, read beforehand: used instead of */
	size_t ca_blob_len;	   /* ca_file (a sandboxed fetch may not be able to open it) */
	bool skip;		   /* fetched already: fetch_all() leaves it as it is */
	bool allow_http;	   /* permit http:// (and redirects to it) */
	bool allow_file;	   /* permit file:// (local mirrors); default on in config */
	const char *etag;	   /* sent as If-None-Match when set */
	time_t last_modified;	   /* sent as If-Modified-Since when > 0 */
	long connect_timeout;	   /* seconds */
	long timeout;		   /* seconds, whole transfer */
	unsigned long max_bytes;   /* body cap */
	const char *accept;	   /* Accept header, NULL for a default */
	const char *user_agent;	   /* NULL: "cdnallow/VERSION" */
	/* out */
	enum fetch_status status;
	long http_code;
	char *body; /* NUL-terminated for convenience; len excludes the NUL */
	size_t len;
	char content_type[128];
	char new_etag[256];	    /* ETag of this answer, "" if none */
	time_t new_last_modified;   /* Last-Modified of this answer, 0 if none */
	long retry_after;	    /* seconds from a 429/503 Retry-After, 0 if none */
	double seconds;		    /* total transfer time */
	struct cda_error err;	    /* origin = url */
};

/*
 * Fetch every request but those marked skip in parallel (curl multi), each with its own
 * limits. Returns 0 when
 * all were attempted (each req's status says how it went), -1 only when the machinery
 * itself failed (err, CDA_ESYS). curl_global_init() is the caller's (main.c).
 * https:// always; file:// when allow_file; http:// when allow_http; redirects only to
 * allowed protocols, at most 5. A body over max_bytes fails. A 304 without a conditional
 * request fails.
 */
int fetch_all(struct fetch_req *reqs, size_t n, struct cda_error *err);
/* Free outputs (body); keeps inputs. NULL-safe, idempotent. */
void fetch_req_finish(struct fetch_req *r);

#endif
