// SPDX-License-Identifier: MIT
/* Check on the origin's TLS certificate, as the CDN would see it (one handshake on loopback). */
#include "checks.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

static size_t discard_cb(char *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

/* One TLS handshake to the loopback origin; returns the curl code; *expires and *issuer
 * filled from the certificate when available. */
static CURLcode tls_probe(struct ctx *c, bool verify, char *errbuf, time_t *expires, char *issuer,
			  size_t isz)
{
	const char *conn = c->o->tls_connect ? c->o->tls_connect : "127.0.0.1:443";
	char url[512], resolve[600], host[256] = "127.0.0.1";
	unsigned int port = 443;
	struct curl_slist *rl = NULL;
	struct curl_certinfo *ci = NULL;
	CURL *h = curl_easy_init();
	CURLcode rc;

	*expires = 0;
	issuer[0] = '\0';
	errbuf[0] = '\0'; /* the caller prints it, also when curl never ran */
	if (h == NULL)
		return CURLE_OUT_OF_MEMORY;
	if (sscanf(conn, "%255[^:]:%u", host, &port) < 1)
		port = 443;
	snprintf(url, sizeof(url), "https://%s:%u/", c->o->tls_name, port);
	snprintf(resolve, sizeof(resolve), "%s:%u:%s", c->o->tls_name, port, host);
	rl = curl_slist_append(NULL, resolve);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_RESOLVE, rl);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_cb);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
	rc = curl_easy_perform(h);
	/* an HTTP-level failure after the handshake is not a TLS problem */
	if (rc == CURLE_HTTP_RETURNED_ERROR || rc == CURLE_GOT_NOTHING ||
	    rc == CURLE_WEIRD_SERVER_REPLY || rc == CURLE_RECV_ERROR)
		rc = CURLE_OK;
	if (curl_easy_getinfo(h, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci != NULL &&
	    ci->num_of_certs > 0) {
		for (struct curl_slist *s = ci->certinfo[0]; s != NULL; s = s->next) {
			struct tm tm = {0};

			if (strncmp(s->data, "Expire date:", 12) == 0 &&
			    strptime(s->data + 12, "%b %d %H:%M:%S %Y GMT", &tm) != NULL)
				*expires = timegm(&tm);
			if (strncmp(s->data, "Issuer:", 7) == 0)
				snprintf(issuer, isz, "%s", s->data + 7);
		}
	}
	curl_slist_free_all(rl);
	curl_easy_cleanup(h);
	return rc;
}

/* The certificate does not verify (eb says why): what Cloudflare makes of it. */
static void tls_unverified(struct ctx *c, const char *subj, const char *eb, time_t now)
{
	const char *name = c->o->tls_name;
	char eb2[CURL_ERROR_SIZE + 1], issuer[512];
	time_t e2;

	tls_probe(c, false, eb2, &e2, issuer, sizeof(issuer));
	if (strstr(issuer, "CloudFlare Origin") != NULL ||
	    strstr(issuer, "Cloudflare Origin") != NULL) {
		if (e2 != 0 && e2 < now)
			doctor_note(c, DOCTOR_ERROR, "tls", subj,
				    "issue a new Origin CA certificate in the Cloudflare dashboard",
				    "Cloudflare Origin CA certificate has expired (error 526)");
		else
			doctor_note(
				c, DOCTOR_OK, "tls", subj, NULL,
				"Cloudflare Origin CA certificate (trusted by Cloudflare only): "
				"%s",
				eb);
	} else if (strstr(eb, "expired") != NULL) {
		doctor_note(c, DOCTOR_ERROR, "tls", subj, "renew the certificate",
			    "certificate has expired: Cloudflare shows error 526 with SSL mode "
			    "Full (strict) (%s)",
			    eb);
	} else if (strstr(eb, "self-signed") != NULL || strstr(eb, "self signed") != NULL) {
		doctor_note(c, DOCTOR_ERROR, "tls", subj,
			    "use a certificate from a public CA or a Cloudflare Origin CA "
			    "certificate",
			    "self-signed certificate: Cloudflare shows error 526 with SSL mode "
			    "Full (strict) (%s)",
			    eb);
	} else if (strstr(eb, "local issuer") != NULL) {
		doctor_note(c, DOCTOR_ERROR, "tls", subj,
			    "serve the full chain (nginx: ssl_certificate fullchain.pem)",
			    "the chain does not verify (intermediate certificate missing?): "
			    "Cloudflare error 526 under Full (strict) (%s)",
			    eb);
	} else if (strstr(eb, "match") != NULL || strstr(eb, "name") != NULL) {
		doctor_note(c, DOCTOR_ERROR, "tls", subj,
			    "install a certificate whose names include the host name",
			    "certificate not valid for %s: Cloudflare error 526 under Full "
			    "(strict) (%s)",
			    name, eb);
	} else {
		doctor_note(c, DOCTOR_ERROR, "tls", subj, NULL,
			    "certificate does not verify: %s (Cloudflare error 526)", eb);
	}
}

int check_tls(struct ctx *c)
{
	char eb[CURL_ERROR_SIZE + 1], issuer[512], subj[300];
	const char *name = c->o->tls_name;
	const char *conn = c->o->tls_connect ? c->o->tls_connect : "127.0.0.1:443";
	time_t exp = 0, now = time(NULL);
	long days;
	CURLcode rc;

	if (name == NULL)
		return 0; /* no --tls */
	rc = tls_probe(c, true, eb, &exp, issuer, sizeof(issuer));
	snprintf(subj, sizeof(subj), "%s via %s", name, conn);
	switch (rc) {
	case CURLE_OK:
		days = exp ? (long)((exp - now) / 86400) : -1;
		if (exp != 0 && days < 14)
			doctor_note(c, DOCTOR_WARNING, "tls", subj, "renew the certificate",
				    "certificate for %s expires in %ld days", name, days);
		else
			doctor_note(c, DOCTOR_OK, "tls", subj, NULL,
				    "certificate valid for %s with a complete chain%s", name,
				    exp ? "" : " (expiry unknown)");
		break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
		doctor_note(c, DOCTOR_ERROR, "tls", subj, "start the web server's TLS listener",
			    "cannot connect to %s: %s (Cloudflare error 521/522)", conn, eb);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
		tls_unverified(c, subj, eb, now);
		break;
	case CURLE_SSL_CONNECT_ERROR:
		doctor_note(c, DOCTOR_ERROR, "tls", subj,
			    "check the server's TLS configuration for this name (SNI), protocols "
			    "and ciphers",
			    "TLS handshake failed: %s (Cloudflare error 525)", eb);
		break;
	default:
		doctor_note(c, DOCTOR_ERROR, "tls", subj, NULL, "TLS check failed: %s (%s)",
			    eb[0] ? eb : curl_easy_strerror(rc), curl_easy_strerror(rc));
		break;
	}
	return 0;
}
