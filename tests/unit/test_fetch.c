// SPDX-License-Identifier: MIT
/*
 * fetch against a real HTTPS server on loopback (tests/integration/httpsd.py) with a CA made
 * for the run. Loopback only: nothing here touches a firewall or leaves the host.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include <curl/curl.h>

#include "fetch.h"

#define HTTPSD "integration/httpsd.py"
#define MTIME ((time_t)1700000000)
#define LIST "173.245.48.0/20\n103.21.244.0/22\n2400:cb00::/32\n"

struct server {
	pid_t pid;
	int port;
};

struct env {
	char dir[64];
	char www[128];
	char ca[160];
	char log[160];
	struct server tls;       /* certificate from our CA */
	struct server untrusted; /* self-signed certificate */
	struct server plain;     /* plain HTTP */
};

static void put_file(const struct env *e, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", e->www, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* The fault directive applies to /name; see httpsd.py for the syntax. */
static void put_fault(const struct env *e, const char *name, const char *directive)
{
	char fn[160];

	snprintf(fn, sizeof(fn), "%s.fault", name);
	put_file(e, fn, directive);
}

static int start_server(const struct env *e, struct server *s, const char *tag, const char *cert,
			const char *key, int plain)
{
	char portfile[192], certp[192], keyp[192];
	FILE *f;
	int i;

	snprintf(portfile, sizeof(portfile), "%s/port-%s", e->dir, tag);
	snprintf(certp, sizeof(certp), "%s/ca/%s", e->dir, cert);
	snprintf(keyp, sizeof(keyp), "%s/ca/%s", e->dir, key);
	s->pid = fork();
	if (s->pid < 0)
		return -1;
	if (s->pid == 0) {
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		if (plain)
			execlp("python3", "python3", HTTPSD, "--dir", e->www, "--port-file",
			       portfile, "--log", e->log, "--http", (char *)NULL);
		else
			execlp("python3", "python3", HTTPSD, "--dir", e->www, "--port-file",
			       portfile, "--log", e->log, "--cert", certp, "--key", keyp,
			       (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200; i++) { /* up to 10 s */
		int status;

		if ((f = fopen(portfile, "r")) != NULL) {
			int ok = fscanf(f, "%d", &s->port) == 1;

			fclose(f);
			if (ok)
				return 0;
		}
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			return -1;
		}
		usleep(50000);
	}
	return -1;
}

static void stop_server(struct server *s)
{
	int i, status;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	for (i = 0; i < 100; i++) { /* up to 5 s, then SIGKILL */
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			return;
		}
		usleep(50000);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &status, 0);
	s->pid = 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int group_teardown(void **state)
{
	struct env *e = *state;

	if (e == NULL)
		return 0;
	stop_server(&e->tls);
	stop_server(&e->untrusted);
	stop_server(&e->plain);
	if (e->dir[0] != '\0')
		nftw(e->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(e);
	curl_global_cleanup();
	return 0;
}

static int setup_env(struct env *e)
{
	char cmd[256];
	struct utimbuf ut = {MTIME, MTIME};
	char path[256];

	if (access(HTTPSD, R_OK) != 0) {
		fprintf(stderr, "# %s not found (workdir must be tests/)\n", HTTPSD);
		return -1;
	}
	snprintf(e->dir, sizeof(e->dir), "/tmp/cda-fetch-XXXXXX");
	if (mkdtemp(e->dir) == NULL) {
		e->dir[0] = '\0';
		return -1;
	}
	snprintf(e->www, sizeof(e->www), "%s/www", e->dir);
	snprintf(e->ca, sizeof(e->ca), "%s/ca/ca.pem", e->dir);
	snprintf(e->log, sizeof(e->log), "%s/requests.log", e->dir);
	if (mkdir(e->www, 0755) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "python3 %s --mkca %s/ca", HTTPSD, e->dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "# making the test CA failed (openssl?)\n");
		return -1;
	}
	put_file(e, "ips-v4", LIST);
	snprintf(path, sizeof(path), "%s/ips-v4", e->www);
	if (utime(path, &ut) != 0)
		return -1;
	if (start_server(e, &e->tls, "tls", "server.pem", "server.key", 0) < 0 ||
	    start_server(e, &e->untrusted, "untrusted", "untrusted.pem", "untrusted.key", 0) < 0 ||
	    start_server(e, &e->plain, "plain", "", "", 1) < 0) {
		fprintf(stderr, "# httpsd.py did not start\n");
		return -1;
	}
	return 0;
}

static int group_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	*state = e;
	if (e == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	if (setup_env(e) < 0) {
		/* cmocka skips the group teardown when the setup fails. */
		group_teardown(state);
		*state = NULL;
		return -1;
	}
	return 0;
}

static void req_init(struct fetch_req *r, const struct env *e, const char *url)
{
	memset(r, 0, sizeof(*r));
	r->url = url;
	r->ca_file = e->ca;
	r->connect_timeout = 5;
	r->timeout = 10;
	r->max_bytes = 1 << 20;
}

static const char *url_of(char *buf, size_t size, const struct server *s, const char *path)
{
	snprintf(buf, size, "https://127.0.0.1:%d%s", s->port, path);
	return buf;
}

/* Lines in the request log for "GET path " (path without query). */
static int count_requests(const struct env *e, const char *path)
{
	char needle[192], line[1024];
	FILE *f = fopen(e->log, "r");
	int n = 0;

	if (f == NULL)
		return 0;
	snprintf(needle, sizeof(needle), "GET %s ", path);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, needle, strlen(needle)) == 0)
			n++;
	fclose(f);
	return n;
}

static int log_has(const struct env *e, const char *text)
{
	char line[1024];
	FILE *f = fopen(e->log, "r");
	int found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, text) != NULL;
	fclose(f);
	return found;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One request, fetched alone; asserts the call itself worked. */
static void fetch_one(struct fetch_req *r)
{
	struct cda_error err = {0};

	assert_int_equal(fetch_all(r, 1, &err), 0);
	assert_int_equal(err.code, CDA_OK);
	assert_int_not_equal(r->status, FETCH_PENDING);
}

static void assert_failed(const struct fetch_req *r, const char *needle)
{
	if (r->status != FETCH_FAILED || strstr(r->err.msg, needle) == NULL)
		fail_msg("status %d, msg \"%s\", expected a failure saying \"%s\"", r->status,
			 r->err.msg, needle);
	if (getenv("FETCH_TEST_VERBOSE") != NULL)
		print_message("# %s: %s\n", r->err.origin, r->err.msg);
	assert_int_equal(r->err.code, CDA_EFETCH);
	assert_string_equal(r->err.origin, r->url);
	assert_null(r->body);
	assert_int_equal(r->len, 0);
}

static void ok_answer_captures_body_etag_and_last_modified(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/ips-v4"));
	fetch_one(&r);
	assert_int_equal(r.status, FETCH_OK);
	assert_int_equal(r.http_code, 200);
	assert_int_equal(r.len, strlen(LIST));
	assert_memory_equal(r.body, LIST, r.len);
	assert_int_equal(r.body[r.len], '\0');
	assert_int_equal(r.new_etag[0], '"');
	assert_true(strlen(r.new_etag) > 2);
	assert_int_equal(r.new_last_modified, MTIME);
	assert_string_equal(r.content_type, "text/plain; charset=utf-8");
	assert_int_equal(r.retry_after, 0);
	assert_true(r.seconds > 0 && r.seconds < 10);
	assert_int_equal(r.err.code, CDA_OK);
	assert_true(log_has(e, "GET /ips-v4 200 inm=- ims=- ua=cdnallow/" CDNALLOW_VERSION "\n"));
	fetch_req_finish(&r);
	assert_null(r.body);
	assert_int_equal(r.len, 0);
}

static void ipv6_loopback_and_localhost_names_verify(void **state)
{
	struct env *e = *state;
	struct fetch_req r[2];
	struct cda_error err = {0};
	char u6[128], uh[128];

	snprintf(u6, sizeof(u6), "https://[::1]:%d/ips-v4", e->tls.port);
	snprintf(uh, sizeof(uh), "https://localhost:%d/ips-v4", e->tls.port);
	req_init(&r[0], e, u6);
	req_init(&r[1], e, uh);
	assert_int_equal(fetch_all(r, 2, &err), 0);
	if (r[0].status != FETCH_OK && strstr(r[0].err.msg, "connect") != NULL)
		print_message("# no ::1 on this host: %s\n", r[0].err.msg);
	else
		assert_int_equal(r[0].status, FETCH_OK);
	assert_int_equal(r[1].status, FETCH_OK);
	fetch_req_finish(&r[0]);
	fetch_req_finish(&r[1]);
}

static void matching_etag_gives_not_modified(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128], etag[256], seen[300];

	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/ips-v4"));
	fetch_one(&r);
	assert_int_equal(r.status, FETCH_OK);
	snprintf(etag, sizeof(etag), "%s", r.new_etag);

	r.etag = etag;
	fetch_one(&r);
	assert_int_equal(r.status, FETCH_NOT_MODIFIED);
	assert_int_equal(r.http_code, 304);
	assert_null(r.body);
	assert_int_equal(r.err.code, CDA_OK);
	snprintf(seen, sizeof(seen), "GET /ips-v4 304 inm=%s ims=-", etag);
	assert_true(log_has(e, seen));
	fetch_req_finish(&r);
}

/* A list replaced within the same second keeps its Last-Modified: the new ETag must win. */
static void changed_body_with_the_same_last_modified_is_fetched(void **state)
{
	struct env *e = *state;
	struct utimbuf ut = {MTIME, MTIME};
	struct fetch_req r;
	char url[128], etag[256], path[256];

	put_file(e, "same-second", "192.0.2.0/24\n");
	snprintf(path, sizeof(path), "%s/same-second", e->www);
	assert_int_equal(utime(path, &ut), 0);
	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/same-second"));
	fetch_one(&r);
	assert_int_equal(r.status, FETCH_OK);
	snprintf(etag, sizeof(etag), "%s", r.new_etag);
	put_file(e, "same-second", "198.51.100.0/24\n");
	assert_int_equal(utime(path, &ut), 0);
	r.etag = etag;
	r.last_modified = MTIME;
	fetch_one(&r);
	assert_int_equal(r.status, FETCH_OK);
	assert_string_equal(r.body, "198.51.100.0/24\n");
	fetch_req_finish(&r);
}

static void stale_etag_fetches_the_new_body(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/ips-v4"));
	r.etag = "\"0000-old\"";
	fetch_one(&r);
	assert_int_equal(r.status, FETCH_OK);
	assert_int_equal(r.len, strlen(LIST));
	assert_string_not_equal(r.new_etag, "\"0000-old\"");
	fetch_req_finish(&r);
}

static void last_modified_gives_not_modified_until_the_file_changes(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/ips-v4"));
	r.last_modified = MTIME;
	fetch_one(&r);
	assert_int_equal(r.status, FETCH_NOT_MODIFIED);
	assert_true(log_has(e, "GET /ips-v4 304 inm=- ims=Tue,_14_Nov_2023_22:13:20_GMT"));

	r.last_modified = MTIME - 3600;
	fetch_one(&r);
	assert_int_equal(r.status, FETCH_OK);
	assert_int_equal(r.new_last_modified, MTIME);
	fetch_req_finish(&r);
}

static void not_modified_without_a_condition_fails(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	put_fault(e, "e304", "status 304");
	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/e304"));
	fetch_one(&r);
	assert_failed(&r, "304");
	assert_int_equal(r.http_code, 304);
}

static void four_urls_are_fetched_in_parallel(void **state)
{
	struct env *e = *state;
	static const char *const names[] = {"p1", "p2", "p3", "p4"};
	struct fetch_req r[4];
	char urls[4][128], path[16];
	struct cda_error err = {0};
	double t0, took;
	int i;

	for (i = 0; i < 4; i++) {
		put_file(e, names[i], names[i]);
		put_fault(e, names[i], "delay 1.5");
		snprintf(path, sizeof(path), "/%s", names[i]);
		req_init(&r[i], e, url_of(urls[i], sizeof(urls[i]), &e->tls, path));
	}
	t0 = now();
	assert_int_equal(fetch_all(r, 4, &err), 0);
	took = now() - t0;
	for (i = 0; i < 4; i++) {
		assert_int_equal(r[i].status, FETCH_OK);
		assert_string_equal(r[i].body, names[i]);
		fetch_req_finish(&r[i]);
	}
	/* One after the other would take 6 s. */
	if (took > 3.5)
		fail_msg("4 requests of 1.5 s each took %.1f s: not parallel", took);
}

static void one_failure_leaves_the_other_requests_alone(void **state)
{
	struct env *e = *state;
	struct fetch_req r[3];
	char u0[128], u1[128], u2[128];
	struct cda_error err = {0};

	req_init(&r[0], e, url_of(u0, sizeof(u0), &e->tls, "/ips-v4"));
	req_init(&r[1], e, url_of(u1, sizeof(u1), &e->tls, "/ips-v4?fault=status+500"));
	req_init(&r[2], e, url_of(u2, sizeof(u2), &e->untrusted, "/ips-v4"));
	assert_int_equal(fetch_all(r, 3, &err), 0);
	assert_int_equal(err.code, CDA_OK);
	assert_int_equal(r[0].status, FETCH_OK);
	assert_int_equal(r[0].err.code, CDA_OK);
	assert_failed(&r[1], "HTTP 500");
	assert_failed(&r[2], "TLS: ");
	fetch_req_finish(&r[0]);
}

static void server_error_500_fails_naming_the_status(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	put_fault(e, "e500", "status 500");
	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/e500"));
	fetch_one(&r);
	assert_failed(&r, "HTTP 500");
	assert_string_equal(r.err.msg, "HTTP 500");
	assert_int_equal(r.http_code, 500);
}

static void missing_file_404_fails_naming_the_status(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/no-such-list"));
	fetch_one(&r);
	assert_failed(&r, "HTTP 404");
	assert_int_equal(r.http_code, 404);
}

static void rate_limit_429_reports_retry_after(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	put_fault(e, "e429", "# rate limited\nstatus 429 120\n");
	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/e429"));
	fetch_one(&r);
	assert_failed(&r, "HTTP 429 (retry after 120 s)");
	assert_int_equal(r.retry_after, 120);
	assert_int_equal(r.http_code, 429);
}

static void unavailable_503_reads_a_retry_after_date(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128], directive[96];
	time_t when = time(NULL) + 300;
	struct tm tm;

	gmtime_r(&when, &tm);
	strftime(directive, sizeof(directive), "status 503 %a, %d %b %Y %H:%M:%S GMT\n", &tm);
	put_fault(e, "e503", directive);
	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/e503"));
	fetch_one(&r);
	assert_failed(&r, "HTTP 503 (retry after ");
	assert_true(r.retry_after >= 240 && r.retry_after <= 300);
}

static void redirect_to_https_is_followed(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	put_fault(e, "moved", "redirect /ips-v4");
	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/moved"));
	fetch_one(&r);
	assert_int_equal(r.status, FETCH_OK);
	assert_int_equal(r.len, strlen(LIST));
	assert_int_equal(r.new_last_modified, MTIME);
	fetch_req_finish(&r);
}

static void redirect_to_http_is_refused(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	put_fault(e, "downgrade", "redirect-http");
	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/downgrade"));
	fetch_one(&r);
	assert_failed(&r, "redirect to http:// refused");
}

static void redirect_loop_stops_after_five(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	put_fault(e, "loop", "redirect-loop");
	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/loop"));
	fetch_one(&r);
	assert_failed(&r, "too many redirects");
	assert_int_equal(count_requests(e, "/loop"), 6); /* the first + 5 redirects */
}

static void body_over_the_cap_fails(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	/* Content-Length announces it: refused from the header. */
	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/ips-v4?fault=big+100000"));
	r.max_bytes = 50000;
	fetch_one(&r);
	assert_failed(&r, "body larger than 50000 bytes");

	/* No Content-Length: the write callback stops it. */
	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/ips-v4?fault=big+100000+nolength"));
	r.max_bytes = 50000;
	fetch_one(&r);
	assert_failed(&r, "body larger than 50000 bytes");
}

static void body_exactly_at_the_cap_is_accepted(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/ips-v4?fault=big+200000"));
	r.max_bytes = 200000;
	fetch_one(&r);
	assert_int_equal(r.status, FETCH_OK);
	assert_int_equal(r.len, 200000);
	assert_int_equal(r.body[r.len], '\0');
	assert_memory_equal(r.body, "10.0.0.0/32\n10.0.0.1/32\n", 24);
	fetch_req_finish(&r);
}

static void cut_short_body_fails(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	put_file(e, "short", LIST);
	put_fault(e, "short", "short");
	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/short"));
	fetch_one(&r);
	assert_failed(&r, "body cut short");
}

static void stalled_server_hits_the_timeout(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];
	double t0, took;

	put_fault(e, "stall", "stall");
	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/stall"));
	r.timeout = 2;
	t0 = now();
	fetch_one(&r);
	took = now() - t0;
	assert_failed(&r, "timed out after 2 s");
	assert_true(took >= 1.9 && took < 5);
}

static void trickling_server_hits_the_timeout(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	put_file(e, "trickle", LIST);
	put_fault(e, "trickle", "trickle");
	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/trickle"));
	r.timeout = 2;
	fetch_one(&r);
	assert_failed(&r, "timed out after 2 s");
	assert_int_equal(r.http_code, 200);
}

static void untrusted_certificate_fails_with_a_tls_message(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	req_init(&r, e, url_of(url, sizeof(url), &e->untrusted, "/ips-v4"));
	fetch_one(&r);
	assert_failed(&r, "TLS: ");
	assert_non_null(strstr(r.err.msg, "certificate"));

	/* Our test CA is in no system store either. */
	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/ips-v4"));
	r.ca_file = NULL;
	fetch_one(&r);
	assert_failed(&r, "TLS: ");
}

static void refused_connection_says_connect(void **state)
{
	struct env *e = *state;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	struct fetch_req r;
	char url[128];
	int fd;

	/* A port bound but not listening refuses for as long as we hold it. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/ips-v4", ntohs(sa.sin_port));
	req_init(&r, e, url);
	fetch_one(&r);
	close(fd);
	assert_failed(&r, "connect: ");
}

static void unresolvable_host_says_resolve(void **state)
{
	struct env *e = *state;
	struct fetch_req r;

	/*
	 * A 64-octet label is longer than DNS allows (63), so the resolver fails without
	 * sending a query: no traffic leaves the host even when resolv.conf points outside.
	 */
	req_init(&r, e,
		 "https://xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx."
		 "nonexistent.invalid/ips-v4");
	fetch_one(&r);
	assert_failed(&r, "resolve: ");
}

static void https_only_request_refuses_file_url(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[256];

	snprintf(url, sizeof(url), "file://%s/ips-v4", e->www);
	req_init(&r, e, url);
	fetch_one(&r);
	assert_failed(&r, "file:// not allowed");
}

static void file_url_is_read_with_allow_file(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[256];

	snprintf(url, sizeof(url), "file://%s/ips-v4", e->www);
	req_init(&r, e, url);
	r.allow_file = true;
	fetch_one(&r);
	assert_int_equal(r.status, FETCH_OK);
	assert_int_equal(r.len, strlen(LIST));
	assert_string_equal(r.body, LIST);
	assert_int_equal(r.new_last_modified, MTIME);

	/* A local file is always read whole: only a server's own 304 means "not modified". */
	r.last_modified = MTIME;
	fetch_one(&r);
	assert_int_equal(r.status, FETCH_OK);
	assert_string_equal(r.body, LIST);
	fetch_req_finish(&r);

	snprintf(url, sizeof(url), "file://%s/missing", e->www);
	req_init(&r, e, url);
	r.allow_file = true;
	fetch_one(&r);
	assert_failed(&r, "file: ");
}

static void http_url_is_refused_unless_allow_http(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	put_file(e, "plain-list", LIST);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/plain-list", e->plain.port);
	req_init(&r, e, url);
	fetch_one(&r);
	assert_failed(&r, "http:// not allowed");
	assert_int_equal(count_requests(e, "/plain-list"), 0);

	r.allow_http = true;
	r.user_agent = "plain-test/1";
	fetch_one(&r);
	assert_int_equal(r.status, FETCH_OK);
	assert_string_equal(r.body, LIST);
	assert_int_equal(count_requests(e, "/plain-list"), 1);
	assert_true(log_has(e, "ua=plain-test/1\n"));
	fetch_req_finish(&r);
}

static void challenge_page_is_fetched_with_its_content_type(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	/* fetch only transports; rejecting HTML is the parser's job, with this type as a hint. */
	put_fault(e, "challenge", "html");
	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/challenge"));
	fetch_one(&r);
	assert_int_equal(r.status, FETCH_OK);
	assert_string_equal(r.content_type, "text/html; charset=UTF-8");
	assert_non_null(strstr(r.body, "<!DOCTYPE html>"));
	fetch_req_finish(&r);

	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/ips-v4?fault=ctype+application/x-odd"));
	fetch_one(&r);
	assert_int_equal(r.status, FETCH_OK);
	assert_string_equal(r.content_type, "application/x-odd");
	assert_string_equal(r.body, LIST);
	fetch_req_finish(&r);
}

static void empty_body_is_an_empty_string(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	put_fault(e, "empty", "empty");
	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/empty"));
	fetch_one(&r);
	assert_int_equal(r.status, FETCH_OK);
	assert_non_null(r.body);
	assert_int_equal(r.len, 0);
	assert_string_equal(r.body, "");
	fetch_req_finish(&r);
}

static void finish_is_null_safe_and_idempotent(void **state)
{
	struct env *e = *state;
	struct fetch_req r;
	char url[128];

	fetch_req_finish(NULL);
	req_init(&r, e, url_of(url, sizeof(url), &e->tls, "/ips-v4"));
	fetch_one(&r);
	assert_non_null(r.body);
	fetch_req_finish(&r);
	fetch_req_finish(&r);
	assert_null(r.body);
	assert_string_equal(r.url, url); /* inputs kept */
	assert_int_equal(fetch_all(NULL, 0, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ok_answer_captures_body_etag_and_last_modified),
		cmocka_unit_test(ipv6_loopback_and_localhost_names_verify),
		cmocka_unit_test(matching_etag_gives_not_modified),
		cmocka_unit_test(changed_body_with_the_same_last_modified_is_fetched),
		cmocka_unit_test(stale_etag_fetches_the_new_body),
		cmocka_unit_test(last_modified_gives_not_modified_until_the_file_changes),
		cmocka_unit_test(not_modified_without_a_condition_fails),
		cmocka_unit_test(four_urls_are_fetched_in_parallel),
		cmocka_unit_test(one_failure_leaves_the_other_requests_alone),
		cmocka_unit_test(server_error_500_fails_naming_the_status),
		cmocka_unit_test(missing_file_404_fails_naming_the_status),
		cmocka_unit_test(rate_limit_429_reports_retry_after),
		cmocka_unit_test(unavailable_503_reads_a_retry_after_date),
		cmocka_unit_test(redirect_to_https_is_followed),
		cmocka_unit_test(redirect_to_http_is_refused),
		cmocka_unit_test(redirect_loop_stops_after_five),
		cmocka_unit_test(body_over_the_cap_fails),
		cmocka_unit_test(body_exactly_at_the_cap_is_accepted),
		cmocka_unit_test(cut_short_body_fails),
		cmocka_unit_test(stalled_server_hits_the_timeout),
		cmocka_unit_test(trickling_server_hits_the_timeout),
		cmocka_unit_test(untrusted_certificate_fails_with_a_tls_message),
		cmocka_unit_test(refused_connection_says_connect),
		cmocka_unit_test(unresolvable_host_says_resolve),
		cmocka_unit_test(https_only_request_refuses_file_url),
		cmocka_unit_test(file_url_is_read_with_allow_file),
		cmocka_unit_test(http_url_is_refused_unless_allow_http),
		cmocka_unit_test(challenge_page_is_fetched_with_its_content_type),
		cmocka_unit_test(empty_body_is_an_empty_string),
		cmocka_unit_test(finish_is_null_safe_and_idempotent),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
