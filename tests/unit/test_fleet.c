// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cda_error.h"
#include "fleet.h"
#include "minisign.h"
#include "ranges.h"

#define NOW 1700000000L
#define SERIAL 1699999000ULL

static struct minisign_pk pk, other_pk;
static struct minisign_sk sk;

static int setup(void **state)
{
	struct minisign_sk unused;
	struct cda_error err = {0};

	(void)state;
	if (minisign_init(&err) < 0 || minisign_keygen(&pk, &sk, &err) < 0 ||
	    minisign_keygen(&other_pk, &unused, &err) < 0)
		return -1;
	return 0;
}

/* A snapshot of serial published at `published` (two sources), into body[size]. */
static size_t body_of(unsigned long long serial, long published, char *body, size_t size)
{
	int n = snprintf(body, size,
			 "cdnallow-snapshot 1\nserial %llu\ntime %ld\npublisher p\n"
			 "source cf\nfetched %ld\nv4 104.16.0.0/13\nv6 2400:cb00::/32\n"
			 "source fastly\nfetched %ld\nv4 151.101.0.0/16\nend\n",
			 serial, published, published, published);

	assert_true(n > 0 && (size_t)n < size);
	return (size_t)n;
}

/* body signed with trusted as its trusted comment (malloc'd signature file). */
static char *sign(const char *body, size_t len, const char *trusted)
{
	struct cda_error err = {0};
	char *sig = NULL;

	assert_int_equal(minisign_sign(&sk, body, len, trusted, &sig, &err), 0);
	return sig;
}

struct outcome {
	int rc;
	struct cda_error err;
	char token[64];
	size_t v4, v6; /* prefixes taken */
};

/* fleet_accept of a snapshot (serial, published, trusted) after pointer `named`. */
static struct outcome accept_one(const struct fleet_opts *o, unsigned long long serial,
				 long published, const char *trusted, uint64_t named,
				 uint64_t last)
{
	struct outcome r = {0};
	struct ranges *out = ranges_new();
	char body[512], *sig;
	size_t len = body_of(serial, published, body, sizeof(body));

	assert_non_null(out);
	sig = sign(body, len, trusted);
	r.rc = fleet_accept(o, body, len, sig, strlen(sig), named, last, NOW, out, r.token,
			    sizeof(r.token), &r.err);
	r.v4 = ranges_cidr_count(out, CDA_AF_INET);
	r.v6 = ranges_cidr_count(out, CDA_AF_INET6);
	ranges_free(out);
	free(sig);
	return r;
}

static void opts(struct fleet_opts *o, const struct minisign_pk *k, size_t n)
{
	memset(o, 0, sizeof(*o));
	memcpy(o->keys, k, n * sizeof(*k));
	o->n_keys = n;
	o->max_age = FLEET_DEFAULT_MAX_AGE;
}

static void refused(struct outcome r, const char *what)
{
	if (r.rc == 0 || strstr(r.err.msg, what) == NULL)
		fail_msg("rc %d '%s', want '%s'", r.rc, r.err.msg, what);
	assert_int_equal(r.err.code, CDA_EDATA);
	assert_int_equal(r.v4 + r.v6, 0); /* nothing taken */
}

static void a_good_snapshot_is_taken_whole_or_in_part(void **state)
{
	struct fleet_opts o;
	struct outcome r;
	char want[64];
	char *names[] = {"fastly", NULL};

	(void)state;
	opts(&o, &pk, 1);
	r = accept_one(&o, SERIAL, NOW - 60, "serial:1699999000", SERIAL, 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.v4, 2);
	assert_int_equal(r.v6, 1);
	snprintf(want, sizeof(want), "%llu@%ld", SERIAL, NOW - 60);
	assert_string_equal(r.token, want);
	o.sources = names;
	o.n_sources = 1;
	r = accept_one(&o, SERIAL, NOW - 60, "", SERIAL, SERIAL); /* the same serial again */
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.v4, 1);
	assert_int_equal(r.v6, 0);
	names[0] = "nosuch";
	refused(accept_one(&o, SERIAL, NOW, "", SERIAL, 0), "nosuch is not in the snapshot");
}

static void rollback_freeze_and_pointer_mismatch_are_refused(void **state)
{
	struct fleet_opts o;

	(void)state;
	opts(&o, &pk, 1);
	refused(accept_one(&o, SERIAL, NOW, "", SERIAL, SERIAL + 1), "rollback refused");
	refused(accept_one(&o, SERIAL, NOW - FLEET_DEFAULT_MAX_AGE - 1, "", SERIAL, 0),
		"stale snapshot");
	assert_int_equal(accept_one(&o, SERIAL, NOW - FLEET_DEFAULT_MAX_AGE, "", SERIAL, 0).rc, 0);
	o.max_age = 3600;
	refused(accept_one(&o, SERIAL, NOW - 3601, "", SERIAL, 0), "stale snapshot");
	refused(accept_one(&o, SERIAL, NOW, "", SERIAL + 1, 0), "the pointer names serial");
}

/* The trusted comment's serial:N, when there, must be the snapshot's; the key must be known. */
static void trusted_comment_and_keys(void **state)
{
	struct fleet_opts o;
	struct minisign_pk two[2] = {other_pk, pk};

	(void)state;
	opts(&o, &pk, 1);
	refused(accept_one(&o, SERIAL, NOW, "timestamp:1\tserial:1699999001", SERIAL, 0),
		"names another serial");
	refused(accept_one(&o, SERIAL, NOW, "serial:x", SERIAL, 0), "names another serial");
	assert_int_equal(accept_one(&o, SERIAL, NOW, "timestamp:1\tfile:snapshot-1699999000.txt"
				    "\tserial:1699999000\tpublisher:p", SERIAL, 0).rc, 0);
	/* "serial:" only counts at the start or after a tab */
	assert_int_equal(accept_one(&o, SERIAL, NOW, "note:xserial:5", SERIAL, 0).rc, 0);
	opts(&o, &other_pk, 1);
	refused(accept_one(&o, SERIAL, NOW, "", SERIAL, 0), "unknown key");
	opts(&o, two, 2); /* a rotation */
	assert_int_equal(accept_one(&o, SERIAL, NOW, "", SERIAL, 0).rc, 0);
}

/* A signed body that is not a snapshot, and a good body under another body's signature. */
static void signature_before_parse(void **state)
{
	struct fleet_opts o;
	struct ranges *out = ranges_new();
	struct cda_error err = {0};
	char body[512], token[64], *sig;
	size_t len;

	(void)state;
	assert_non_null(out);
	opts(&o, &pk, 1);
	sig = sign("<html>", 6, "");
	assert_int_equal(fleet_accept(&o, "<html>", 6, sig, strlen(sig), 1, 0, NOW, out, token,
				      sizeof(token), &err), -1);
	assert_non_null(strstr(err.msg, "not a cdnallow snapshot"));
	len = body_of(SERIAL, NOW, body, sizeof(body));
	assert_int_equal(fleet_accept(&o, body, len, sig, strlen(sig), SERIAL, 0, NOW, out,
				      token, sizeof(token), &err), -1);
	assert_non_null(strstr(err.msg, "bad signature"));
	assert_int_equal(fleet_accept(&o, body, len, "", 0, SERIAL, 0, NOW, out, token,
				      sizeof(token), &err), -1);
	assert_int_equal(ranges_count4(out) + ranges_count6(out), 0);
	free(sig);
	ranges_free(out);
}

static void pointer_and_token(void **state)
{
	struct cda_error err = {0};
	char name[64], tok[64];
	uint64_t serial;
	time_t when;

	(void)state;
	assert_true(fleet_pointer("snapshot-7.txt\n", 15, name, sizeof(name), &err) == 7);
	assert_string_equal(name, "snapshot-7.txt");
	assert_true(fleet_pointer("snapshot-7.txt", 14, name, sizeof(name), &err) == 7);
	assert_true(fleet_pointer("snapshot-7.txt\n\n", 16, name, sizeof(name), &err) == 0);
	assert_true(fleet_pointer("<html>maintenance</html>\n", 25, name, sizeof(name), &err) ==
		    0);
	assert_non_null(strstr(err.msg, "does not name a snapshot"));
	assert_true(fleet_pointer("", 0, name, sizeof(name), &err) == 0);
	assert_true(fleet_pointer("../snapshot-7.txt", 17, name, sizeof(name), &err) == 0);
	assert_true(fleet_pointer("snapshot-7.txt", 14, name, 10, &err) == 0); /* no room */
	fleet_token(UINT64_MAX, NOW, tok, sizeof(tok));
	assert_int_equal(fleet_token_parse(tok, &serial, &when), 1);
	assert_true(serial == UINT64_MAX && when == NOW);
	assert_int_equal(fleet_token_parse("", &serial, &when), 0);
	assert_int_equal(fleet_token_parse("7@", &serial, &when), 0);
	assert_int_equal(fleet_token_parse("7@100x", &serial, &when), 0);
	assert_int_equal(fleet_token_parse("\"etag\"", &serial, &when), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_good_snapshot_is_taken_whole_or_in_part),
		cmocka_unit_test(rollback_freeze_and_pointer_mismatch_are_refused),
		cmocka_unit_test(trusted_comment_and_keys),
		cmocka_unit_test(signature_before_parse),
		cmocka_unit_test(pointer_and_token),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
