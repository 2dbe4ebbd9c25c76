// SPDX-License-Identifier: MIT
/* Fetch every source URL in parallel (curl multi) under one policy, and judge each answer. */
#include "fetch.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "textbuf.h"

#define MAX_REDIRS 5L
#define DEFAULT_ACCEPT "text/plain, application/json;q=0.9, */*;q=0.1"
#define DEFAULT_UA "cdnallow/" CDNALLOW_VERSION

/* One transfer in flight: the request plus what only the callbacks and cleanup need. */
struct xfer {
	struct fetch_req *req;
	CURL *easy;
	struct curl_slist *headers;
	size_t cap;       /* bytes allocated for req->body */
	bool too_large;   /* the write callback hit max_bytes */
	bool oom;         /* the write callback could not grow the buffer */
	bool conditional; /* we sent If-None-Match or If-Modified-Since */
	bool added;       /* attached to the multi handle */
	char errbuf[CURL_ERROR_SIZE];
	char location[256]; /* the last response's Location header, printable, maybe cut */
};

static bool is_file_url(const char *url)
{
	return strncasecmp(url, "file:", 5) == 0;
}

static bool printable(const char *s)
{
	for (; *s != '\0'; s++)
		if (!isprint((unsigned char)*s))
			return false;
	return true;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct xfer *x = userp;
	struct fetch_req *r = x->req;
	size_t n = size * nmemb;

	if (r->max_bytes > 0 && n > r->max_bytes - r->len) {
		x->too_large = true;
		return 0;
	}
	if (textbuf_append(&r->body, &r->len, &x->cap, data, n) < 0) {
		x->oom = true;
		return 0;
	}
	return n;
}

/* Header value without surrounding blanks, or NULL when the line is not "name: value". */
static const char *header_value(const char *line, size_t len, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	size_t b, e;

	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return NULL;
	b = nl + 1;
	e = len;
	while (b < e && (line[b] == ' ' || line[b] == '\t'))
		b++;
	while (e > b && isspace((unsigned char)line[e - 1]))
		e--;
	*vlen = e - b;
	return line + b;
}

static long parse_retry_after(const char *v, size_t n)
{
	char buf[64];
	char *end;
	long secs;
	time_t when;

	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, v, n);
	buf[n] = '\0';
	if (isdigit((unsigned char)buf[0])) {
		errno = 0;
		secs = strtol(buf, &end, 10);
		return (errno == 0 && *end == '\0' && secs > 0) ? secs : 0;
	}
	/* An HTTP date: seconds from now. */
	when = curl_getdate(buf, NULL);
	if (when == (time_t)-1)
		return 0;
	when -= time(NULL);
	return when > 0 ? (long)when : 0;
}

static size_t header_cb(char *line, size_t size, size_t nmemb, void *userp)
{
	struct xfer *x = userp;
	struct fetch_req *r = x->req;
	size_t n = size * nmemb;
	const char *v;
	size_t vlen;
	size_t i;

	/* A new status line starts a new response (after a redirect): forget the old one. */
	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		r->new_etag[0] = '\0';
		r->retry_after = 0;
		x->location[0] = '\0';
	} else if ((v = header_value(line, n, "Location", &vlen)) != NULL) {
		for (i = 0; i < vlen && i + 1 < sizeof(x->location); i++)
			x->location[i] = isprint((unsigned char)v[i]) ? v[i] : '?';
		x->location[i] = '\0';
	} else if ((v = header_value(line, n, "ETag", &vlen)) != NULL) {
		r->new_etag[0] = '\0';
		/* Kept only when it can be sent back verbatim as a header value. */
		for (i = 0; i < vlen; i++)
			if (!isprint((unsigned char)v[i]))
				return n;
		if (vlen < sizeof(r->new_etag)) {
			memcpy(r->new_etag, v, vlen);
			r->new_etag[vlen] = '\0';
		}
	} else if ((v = header_value(line, n, "Retry-After", &vlen)) != NULL) {
		r->retry_after = parse_retry_after(v, vlen);
	}
	return n;
}

/* Accept, and If-None-Match or else If-Modified-Since when we hold a validator. */
static int add_headers(struct xfer *x, struct cda_error *err)
{
	struct fetch_req *r = x->req;
	char hdr[512];
	CURLcode rc;

	snprintf(hdr, sizeof(hdr), "Accept: %s",
		 r->accept && printable(r->accept) ? r->accept : DEFAULT_ACCEPT);
	if ((x->headers = curl_slist_append(NULL, hdr)) == NULL)
		return cda_error_set(err, CDA_ESYS, "curl_slist_append failed");
	if (r->etag != NULL && r->etag[0] != '\0' && printable(r->etag) &&
	    strlen(r->etag) < sizeof(hdr) - 32) {
		struct curl_slist *l;

		snprintf(hdr, sizeof(hdr), "If-None-Match: %s", r->etag);
		if ((l = curl_slist_append(x->headers, hdr)) == NULL)
			return cda_error_set(err, CDA_ESYS, "curl_slist_append failed");
		x->headers = l;
		x->conditional = true;
	} else if (r->last_modified > 0) {
		/*
		 * A plain header, not CURLOPT_TIMECONDITION: curl would also judge a 200 by its
		 * Last-Modified and drop a body changed within the same second. Only the
		 * server's own 304 means "not modified". With an ETag, If-None-Match alone
		 * decides (RFC 9110 13.1.3), so If-Modified-Since is not sent at all.
		 */
		struct curl_slist *l;
		struct tm tm;
		char date[64];

		if (gmtime_r(&r->last_modified, &tm) != NULL &&
		    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0) {
			snprintf(hdr, sizeof(hdr), "If-Modified-Since: %s", date);
			if ((l = curl_slist_append(x->headers, hdr)) == NULL)
				return cda_error_set(err, CDA_ESYS, "curl_slist_append failed");
			x->headers = l;
			x->conditional = !is_file_url(r->url);
		}
	}
	if ((rc = curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers)) != CURLE_OK)
		return cda_error_set(err, CDA_ESYS, "curl_easy_setopt: %s", curl_easy_strerror(rc));
	return 0;
}

/* Every option of every handle is set here, so all fetches share one policy. */
static int setup(struct xfer *x, struct cda_error *err)
{
	struct fetch_req *r = x->req;
	char protos[32];
	CURL *c;
	CURLcode rc = CURLE_OK;

	if ((x->easy = c = curl_easy_init()) == NULL)
		return cda_error_set(err, CDA_ESYS, "curl_easy_init failed");
	snprintf(protos, sizeof(protos), "https%s%s", r->allow_file ? ",file" : "",
		 r->allow_http ? ",http" : "");

	x->errbuf[0] = '\0';
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(c, opt, val);                                        \
	} while (0)
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_PRIVATE, x);
	SET(CURLOPT_URL, r->url);
	SET(CURLOPT_PROTOCOLS_STR, protos);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, protos);
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, MAX_REDIRS);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT, r->connect_timeout);
	SET(CURLOPT_TIMEOUT, r->timeout);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	/* FAILONERROR would hide the status and Retry-After: statuses are judged in finish(). */
	SET(CURLOPT_FAILONERROR, 0L);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_FILETIME, 1L);
	SET(CURLOPT_USERAGENT,
	    r->user_agent && printable(r->user_agent) ? r->user_agent : DEFAULT_UA);
	if (r->max_bytes > 0 && r->max_bytes <= (unsigned long)INT64_MAX)
		SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_bytes);
	if (r->ca_blob != NULL) {
		/* The same, from memory: read before the fetch process gave up its rights. */
		struct curl_blob blob = {(void *)r->ca_blob, r->ca_blob_len, CURL_BLOB_COPY};

		SET(CURLOPT_CAINFO_BLOB, &blob);
		if (rc == CURLE_OK)
			curl_easy_setopt(c, CURLOPT_CAINFO, NULL);
		if (rc == CURLE_OK)
			curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	} else if (r->ca_file != NULL) {
		/* A configured CA is the only trust anchor for this source. */
		SET(CURLOPT_CAINFO, r->ca_file);
		if (rc == CURLE_OK)
			curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	}
#undef SET
	if (rc != CURLE_OK)
		return cda_error_set(err, CDA_ESYS, "curl_easy_setopt: %s", curl_easy_strerror(rc));
	return add_headers(x, err);
}

/* "http" out of "http://host/...", "?" when there is no scheme. */
static void scheme_of(const char *url, char *out, size_t size)
{
	const char *p = url ? strstr(url, "://") : NULL;
	size_t n = p ? (size_t)(p - url) : 0;

	if (n == 0 || n >= size) {
		snprintf(out, size, "?");
		return;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)url[i]);
	out[n] = '\0';
}

/* A scheme refused: the URL's own, or one a redirect led to. */
static void fail_protocol(struct xfer *x, const char *eb)
{
	struct fetch_req *r = x->req;
	char *eff = NULL;
	long redirs = 0;
	char scheme[16];

	curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_COUNT, &redirs);
	curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &eff);
	if (redirs > 0) {
		scheme_of(eff, scheme, sizeof(scheme));
		cda_error_set(&r->err, CDA_EFETCH, "redirect to %s:// refused (%s)", scheme,
			      eff ? eff : "?");
	} else {
		scheme_of(r->url, scheme, sizeof(scheme));
		cda_error_set(&r->err, CDA_EFETCH, "%s:// not allowed for this source (%s)", scheme,
			      eb);
	}
}

static void fail_transfer(struct xfer *x, CURLcode rc)
{
	struct fetch_req *r = x->req;
	struct cda_error *e = &r->err;
	const char *eb = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);

	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		if (strstr(eb, "Connection timed out") || strstr(eb, "Resolving timed out"))
			cda_error_set(e, CDA_EFETCH, "connect timed out after %ld s (%s)",
				      r->connect_timeout, eb);
		else
			cda_error_set(e, CDA_EFETCH, "timed out after %ld s (%s)", r->timeout, eb);
		break;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (x->oom) {
			errno = ENOMEM;
			cda_error_sys(e, CDA_ESYS, "body buffer");
		} else if (x->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
			cda_error_set(e, CDA_EFETCH, "body larger than %lu bytes", r->max_bytes);
		} else {
			cda_error_set(e, CDA_EFETCH, "write: %s", eb);
		}
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		fail_protocol(x, eb);
		break;
	case CURLE_TOO_MANY_REDIRECTS:
		cda_error_set(e, CDA_EFETCH, "too many redirects (%s)", eb);
		break;
	case CURLE_PARTIAL_FILE:
		cda_error_set(e, CDA_EFETCH, "body cut short (%s)", eb);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		cda_error_set(e, CDA_EFETCH, "resolve: %s", eb);
		break;
	case CURLE_COULDNT_CONNECT:
		cda_error_set(e, CDA_EFETCH, "connect: %s", eb);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_USE_SSL_FAILED:
		cda_error_set(e, CDA_EFETCH, "TLS: %s", eb);
		break;
	case CURLE_OUT_OF_MEMORY:
		errno = ENOMEM;
		cda_error_sys(e, CDA_ESYS, "curl");
		break;
	case CURLE_FILE_COULDNT_READ_FILE:
		cda_error_set(e, CDA_EFETCH, "file: %s", eb);
		break;
	default:
		cda_error_set(e, CDA_EFETCH, "%s (%s)", curl_easy_strerror(rc), eb);
		break;
	}
}

/* A 3xx left unfollowed because its Location has a scheme this source may not use. */
static bool redirect_refused(struct xfer *x)
{
	char scheme[16];

	if (x->location[0] == '\0' || strstr(x->location, "://") == NULL)
		return false;
	scheme_of(x->location, scheme, sizeof(scheme));
	cda_error_set(&x->req->err, CDA_EFETCH, "HTTP %ld: redirect to %s:// refused (%s)",
		      x->req->http_code, scheme, x->location);
	return true;
}

/* Judge a finished transfer: status, body and validators into the request. */
static void finish(struct xfer *x, CURLcode rc)
{
	struct fetch_req *r = x->req;
	curl_off_t filetime = -1;
	double secs = 0;
	char *ctype = NULL;
	long unmet = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r->http_code);
	if (curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &secs) == CURLE_OK)
		r->seconds = secs;
	if (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ctype) == CURLE_OK && ctype)
		snprintf(r->content_type, sizeof(r->content_type), "%s", ctype);
	if (curl_easy_getinfo(x->easy, CURLINFO_FILETIME_T, &filetime) == CURLE_OK && filetime > 0)
		r->new_last_modified = (time_t)filetime;
	curl_easy_getinfo(x->easy, CURLINFO_CONDITION_UNMET, &unmet);
	if (r->http_code != 429 && r->http_code != 503)
		r->retry_after = 0;

	if (rc != CURLE_OK) {
		fail_transfer(x, rc);
	} else if (r->http_code == 304 || (unmet && x->conditional)) {
		if (x->conditional)
			r->status = FETCH_NOT_MODIFIED;
		else
			cda_error_set(&r->err, CDA_EFETCH, "HTTP 304 to an unconditional request");
	} else if (r->http_code == 0 || r->http_code == 200) {
		/* 0: file://, which has no status. Any other 2xx (206 Partial Content above all)
		 * is not the whole list: it is judged below like any other refusal. */
		if (r->body == NULL && (r->body = calloc(1, 1)) == NULL) {
			cda_error_sys(&r->err, CDA_ESYS, "body buffer");
		} else {
			r->status = FETCH_OK;
		}
	} else if (r->retry_after > 0) {
		cda_error_set(&r->err, CDA_EFETCH, "HTTP %ld (retry after %ld s)", r->http_code,
			      r->retry_after);
	} else if (r->http_code >= 300 && r->http_code < 400 && redirect_refused(x)) {
		/* a Location curl would not follow (file://, another scheme): say where */
	} else if (r->http_code > 200 && r->http_code < 300) {
		cda_error_set(&r->err, CDA_EFETCH, "HTTP %ld: not a whole list (only 200 is accepted)",
			      r->http_code);
	} else {
		cda_error_set(&r->err, CDA_EFETCH, "HTTP %ld", r->http_code);
	}

	if (r->status != FETCH_OK) {
		free(r->body);
		r->body = NULL;
		r->len = 0;
		x->cap = 0;
	}
	if (r->status == FETCH_PENDING) {
		r->status = FETCH_FAILED;
		cda_error_at(&r->err, r->url, 0);
	}
}

static void reset_outputs(struct fetch_req *r)
{
	fetch_req_finish(r);
	r->status = FETCH_PENDING;
	r->http_code = 0;
	r->content_type[0] = '\0';
	r->new_etag[0] = '\0';
	r->new_last_modified = 0;
	r->retry_after = 0;
	r->seconds = 0;
	cda_error_clear(&r->err);
}

/* Transfers until none is running, each judged by finish() as it ends. */
static CURLMcode run(CURLM *multi)
{
	CURLMcode mc;
	CURLMsg *msg;
	int running = 0, left;

	do {
		if ((mc = curl_multi_perform(multi, &running)) != CURLM_OK)
			break;
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			char *priv = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			finish((struct xfer *)priv, msg->data.result);
		}
		if (running > 0 && (mc = curl_multi_poll(multi, NULL, 0, 1000, NULL)) != CURLM_OK)
			break;
	} while (running > 0);
	return mc;
}

/* Free the transfers; a request still pending (the machinery failed) gets err. */
static void release(struct fetch_req *reqs, size_t n, struct xfer *xs, CURLM *multi,
		    const struct cda_error *err)
{
	for (size_t i = 0; xs != NULL && i < n; i++) {
		struct fetch_req *r = &reqs[i];

		if (r->status == FETCH_PENDING && !r->skip) {
			/* Never leave a request looking undecided. */
			fetch_req_finish(r);
			r->status = FETCH_FAILED;
			r->err = *err;
			cda_error_at(&r->err, r->url, 0);
		}
		if (xs[i].added)
			curl_multi_remove_handle(multi, xs[i].easy);
		curl_easy_cleanup(xs[i].easy);
		curl_slist_free_all(xs[i].headers);
	}
	if (xs == NULL) {
		for (size_t i = 0; i < n; i++) {
			if (reqs[i].skip)
				continue;
			reqs[i].status = FETCH_FAILED;
			reqs[i].err = *err;
			cda_error_at(&reqs[i].err, reqs[i].url, 0);
		}
	}
	curl_multi_cleanup(multi);
	free(xs);
}

int fetch_all(struct fetch_req *reqs, size_t n, struct cda_error *err)
{
	struct cda_error local = {0};
	struct xfer *xs = NULL;
	CURLM *multi = NULL;
	CURLMcode mc;
	int ret = -1;
	size_t i;

	if (err == NULL)
		err = &local;
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!reqs[i].skip)
			reset_outputs(&reqs[i]);
	if ((xs = calloc(n, sizeof(*xs))) == NULL) {
		cda_error_sys(err, CDA_ESYS, "fetch: allocating transfers");
		goto out;
	}
	if ((multi = curl_multi_init()) == NULL) {
		cda_error_set(err, CDA_ESYS, "fetch: curl_multi_init failed");
		goto out;
	}
	for (i = 0; i < n; i++) {
		xs[i].req = &reqs[i];
		if (reqs[i].skip)
			continue;
		if (reqs[i].url == NULL) {
			cda_error_set(err, CDA_ESYS, "fetch: request %zu has no URL", i);
			goto out;
		}
		if (setup(&xs[i], err) < 0)
			goto out;
		if ((mc = curl_multi_add_handle(multi, xs[i].easy)) != CURLM_OK) {
			cda_error_set(err, CDA_ESYS, "fetch: curl_multi_add_handle: %s",
				      curl_multi_strerror(mc));
			goto out;
		}
		xs[i].added = true;
	}

	if ((mc = run(multi)) != CURLM_OK) {
		cda_error_set(err, CDA_ESYS, "fetch: %s", curl_multi_strerror(mc));
		goto out;
	}
	ret = 0;
out:
	release(reqs, n, xs, multi, err);
	return ret;
}

void fetch_req_finish(struct fetch_req *r)
{
	if (r == NULL)
		return;
	free(r->body);
	r->body = NULL;
	r->len = 0;
}
