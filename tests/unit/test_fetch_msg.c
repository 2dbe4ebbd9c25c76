// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fetch_msg.h"

static const unsigned int three_urls[3] = {2, 1, 1};

/* Three results: a new list (both families, dropped space), not modified, failed. */
static void sample(struct fetch_answer *a)
{
	struct fetch_result *r;
	struct cidr d = {.addr = (cda_u128)0x0a000000, .family = CDA_AF_INET, .plen = 8};

	memset(a, 0, sizeof(*a));
	a->res = calloc(3, sizeof(*a->res));
	assert_non_null(a->res);
	a->n = 3;
	r = &a->res[0];
	r->kind = FETCH_RES_NEW;
	r->list = ranges_new();
	assert_non_null(r->list);
	assert_int_equal(ranges_add4(r->list, 0x68100000, 0x681fffff), 0);
	assert_int_equal(ranges_add4(r->list, 0x01000000, 0x010000ff), 0);
	assert_int_equal(ranges_add4(r->list, 0xfffffff0, 0xffffffff), 0);
	assert_int_equal(ranges_add6(r->list, (cda_u128)0x24000cb0 << 96,
				     ((cda_u128)0x24000cb0 << 96) | ~((cda_u128)0xffffffff << 96)),
			 0);
	assert_int_equal(ranges_add6(r->list, ~(cda_u128)0 - 7, ~(cda_u128)0), 0);
	ranges_normalize(r->list);
	assert_int_equal(cidr_list_push(&r->dropped, &d), 0);
	r->hostbits = 3;
	r->meta.n_urls = 2;
	strcpy(r->meta.token, "1700000000");
	strcpy(r->meta.url[0].etag, "\"abc\"");
	r->meta.url[1].last_modified = 1600000000;
	r = &a->res[1];
	r->kind = FETCH_RES_NOT_MODIFIED;
	r->meta.n_urls = 1;
	strcpy(r->meta.url[0].etag, "W/\"x\"");
	r = &a->res[2];
	r->kind = FETCH_RES_FAILED;
	r->meta.n_urls = 1;
	cda_error_set(&r->err, CDA_EDATA, "line 3: 'x' is not an address");
	cda_error_at(&r->err, "source b (https://b.example/list)", 3);
	r->err.sys_errno = 2;
}

static void encode(const struct fetch_answer *a, char **buf, size_t *len)
{
	assert_int_equal(fetch_msg_encode(a, buf, len), 0);
	assert_non_null(*buf);
}

/* The checksum made right again after a deliberate change. */
static void recrc(char *buf, size_t len)
{
	uint32_t c = fetch_msg_crc32(buf, len - 4);

	for (int i = 0; i < 4; i++)
		buf[len - 4 + i] = (char)(c >> (8 * i));
}

static void put32(char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (char)(v >> (8 * i));
}

static void assert_rejected(const char *buf, size_t len, const unsigned int *n_urls, size_t n,
			    const char *why)
{
	struct fetch_answer a;
	struct cda_error e = {0};

	assert_int_equal(fetch_msg_decode(buf, len, n_urls, n, &a, &e), -1);
	assert_int_equal(e.code, CDA_EFETCH);
	assert_non_null(strstr(e.msg, "malformed answer"));
	if (why != NULL && strstr(e.msg, why) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", why, e.msg);
	assert_null(a.res);
	assert_int_equal(a.n, 0);
}

static void round_trip_keeps_every_field(void **state)
{
	struct fetch_answer a, b;
	struct cda_error e = {0};
	char *buf;
	size_t len;

	(void)state;
	sample(&a);
	encode(&a, &buf, &len);
	assert_int_equal(fetch_msg_decode(buf, len, three_urls, 3, &b, &e), 0);
	assert_int_equal(b.outcome, FETCH_MSG_RESULTS);
	assert_int_equal(b.n, 3);
	assert_int_equal(b.res[0].kind, FETCH_RES_NEW);
	assert_true(ranges_equal(a.res[0].list, b.res[0].list));
	assert_true(ranges_is_normal(b.res[0].list));
	assert_int_equal(b.res[0].dropped.n, 1);
	assert_int_equal(cidr_cmp(&b.res[0].dropped.v[0], &a.res[0].dropped.v[0]), 0);
	assert_int_equal(b.res[0].hostbits, 3);
	assert_string_equal(b.res[0].meta.token, "1700000000");
	assert_int_equal(b.res[0].meta.n_urls, 2);
	assert_string_equal(b.res[0].meta.url[0].etag, "\"abc\"");
	assert_int_equal(b.res[0].meta.url[1].last_modified, 1600000000);
	assert_int_equal(b.res[1].kind, FETCH_RES_NOT_MODIFIED);
	assert_null(b.res[1].list);
	assert_string_equal(b.res[1].meta.url[0].etag, "W/\"x\"");
	assert_int_equal(b.res[2].kind, FETCH_RES_FAILED);
	assert_int_equal(b.res[2].err.code, CDA_EDATA);
	assert_int_equal(b.res[2].err.sys_errno, 2);
	assert_int_equal(b.res[2].err.line, 3);
	assert_string_equal(b.res[2].err.origin, "source b (https://b.example/list)");
	assert_string_equal(b.res[2].err.msg, "line 3: 'x' is not an address");
	fetch_answer_finish(&a);
	fetch_answer_finish(&b);
	fetch_answer_finish(&b); /* idempotent */
	free(buf);
}

static void failure_outcomes_round_trip_without_results(void **state)
{
	for (int o = FETCH_MSG_FAILED; o <= FETCH_MSG_SANDBOX; o++) {
		struct fetch_answer a = {.outcome = (enum fetch_outcome)o}, b;
		struct cda_error e = {0};
		char *buf;
		size_t len;

		(void)state;
		errno = 1;
		cda_error_sys(&a.err, CDA_ESYS, "setresuid(65534)");
		encode(&a, &buf, &len);
		assert_int_equal(fetch_msg_decode(buf, len, three_urls, 3, &b, &e), 0);
		assert_int_equal(b.outcome, o);
		assert_int_equal(b.n, 0);
		assert_int_equal(b.err.code, CDA_ESYS);
		assert_int_equal(b.err.sys_errno, 1);
		assert_string_equal(b.err.msg, a.err.msg);
		free(buf);
		fetch_answer_finish(&b);
	}
}

static void every_truncation_is_rejected(void **state)
{
	struct fetch_answer a;
	char *buf;
	size_t len;

	(void)state;
	sample(&a);
	encode(&a, &buf, &len);
	for (size_t cut = 0; cut < len; cut++)
		assert_rejected(buf, cut, three_urls, 3, NULL);
	/* and a byte too many */
	buf = realloc(buf, len + 1);
	assert_non_null(buf);
	buf[len] = 0;
	assert_rejected(buf, len + 1, three_urls, 3, NULL);
	fetch_answer_finish(&a);
	free(buf);
}

static void every_corrupted_byte_is_rejected(void **state)
{
	static const unsigned char flips[] = {0x01, 0x10, 0x80, 0xff};
	struct fetch_answer a;
	char *buf;
	size_t len;

	(void)state;
	sample(&a);
	encode(&a, &buf, &len);
	for (size_t i = 0; i < len; i++) {
		for (size_t f = 0; f < sizeof(flips); f++) {
			buf[i] = (char)(buf[i] ^ flips[f]);
			assert_rejected(buf, len, three_urls, 3, NULL);
			buf[i] = (char)(buf[i] ^ flips[f]);
		}
	}
	fetch_answer_finish(&a);
	free(buf);
}

/*
 * With its checksum made right, a corrupted answer is rejected, or it decodes into
 * something as well-formed as any answer: results in range, lists normal. Never a crash.
 */
static void corruption_behind_a_good_checksum_never_yields_a_bad_answer(void **state)
{
	static const unsigned char flips[] = {0x01, 0x02, 0x10, 0x80, 0xff};
	struct fetch_answer a;
	char *buf;
	size_t len, accepted = 0, tried = 0;

	(void)state;
	sample(&a);
	encode(&a, &buf, &len);
	for (size_t i = 0; i + 4 < len; i++) {
		for (size_t f = 0; f < sizeof(flips); f++) {
			struct fetch_answer b;
			struct cda_error e = {0};

			buf[i] = (char)(buf[i] ^ flips[f]);
			recrc(buf, len);
			tried++;
			if (fetch_msg_decode(buf, len, three_urls, 3, &b, &e) == 0) {
				accepted++;
				assert_int_equal(b.n, b.outcome == FETCH_MSG_RESULTS ? 3 : 0);
				for (size_t k = 0; k < b.n; k++) {
					assert_true(b.res[k].kind <= FETCH_RES_FAILED);
					assert_int_equal(b.res[k].meta.n_urls, three_urls[k]);
					assert_true(b.res[k].list == NULL ||
						    ranges_is_normal(b.res[k].list));
					assert_true((b.res[k].err.code != CDA_OK) ==
						    (b.res[k].kind == FETCH_RES_FAILED));
				}
				fetch_answer_finish(&b);
			} else {
				assert_true(e.code == CDA_EFETCH);
			}
			buf[i] = (char)(buf[i] ^ flips[f]);
		}
	}
	/* only changes inside values (addresses, strings, times) can still be well formed */
	assert_true(accepted < tried / 2);
	fetch_answer_finish(&a);
	free(buf);
}

/* One new list of items as given (maybe not normal), no URL: a known layout. */
static void one_list(char **buf, size_t *len, const uint32_t (*v4)[2], size_t n4)
{
	struct fetch_result r = {.kind = FETCH_RES_NEW};
	struct fetch_answer a = {.res = &r, .n = 1};

	r.list = ranges_new();
	assert_non_null(r.list);
	for (size_t i = 0; i < n4; i++)
		assert_int_equal(ranges_add4(r.list, v4[i][0], v4[i][1]), 0);
	encode(&a, buf, len);
	ranges_free(r.list);
}

/* Offsets in one_list()'s answer: header 16, its error record 16, then the record. */
#define OFF_KIND 40
#define OFF_N4 66
#define OFF_V4 70

static void intervals_not_in_normal_form_are_rejected(void **state)
{
	static const uint32_t unsorted[2][2] = {{10, 20}, {1, 5}};
	static const uint32_t overlap[2][2] = {{1, 10}, {5, 20}};
	static const uint32_t adjacent[2][2] = {{1, 5}, {6, 20}};
	static const uint32_t good[2][2] = {{1, 5}, {7, 20}};
	static const unsigned int none[1] = {0};
	struct fetch_answer b;
	struct cda_error e = {0};
	char *buf;
	size_t len;

	(void)state;
	one_list(&buf, &len, unsorted, 2);
	assert_rejected(buf, len, none, 1, "not sorted");
	free(buf);
	one_list(&buf, &len, overlap, 2);
	assert_rejected(buf, len, none, 1, "not sorted");
	free(buf);
	one_list(&buf, &len, adjacent, 2);
	assert_rejected(buf, len, none, 1, "apart");
	free(buf);
	one_list(&buf, &len, good, 2);
	assert_int_equal(fetch_msg_decode(buf, len, none, 1, &b, &e), 0);
	assert_int_equal(ranges_count4(b.res[0].list), 2);
	fetch_answer_finish(&b);
	/* lo > hi: 7..20 made 21..20 */
	put32(buf + OFF_V4 + 8, 21);
	recrc(buf, len);
	assert_rejected(buf, len, none, 1, "lo > hi");
	free(buf);
}

static void counts_and_kinds_out_of_range_are_rejected(void **state)
{
	static const uint32_t one[1][2] = {{1, 5}};
	static const unsigned int none[1] = {0}, two[1] = {2};
	char *buf;
	size_t len;

	(void)state;
	one_list(&buf, &len, one, 1);
	assert_rejected(buf, len, none, 2, "result count");
	assert_rejected(buf, len, two, 1, "URL count");
	put32(buf + OFF_N4, 0xffffffffU); /* no allocation may follow such a count */
	recrc(buf, len);
	assert_rejected(buf, len, none, 1, "count larger");
	put32(buf + OFF_N4, 1);
	buf[OFF_KIND] = 3;
	recrc(buf, len);
	assert_rejected(buf, len, none, 1, "kind out of range");
	buf[OFF_KIND] = FETCH_RES_NOT_MODIFIED; /* not modified, yet with a list */
	recrc(buf, len);
	assert_rejected(buf, len, none, 1, "where none belongs");
	buf[OFF_KIND] = FETCH_RES_FAILED; /* failed without a class */
	recrc(buf, len);
	assert_rejected(buf, len, none, 1, "without an error class");
	free(buf);
}

static void bad_error_records_and_strings_are_rejected(void **state)
{
	struct fetch_answer a = {.outcome = FETCH_MSG_SANDBOX}, b;
	struct cda_error e = {0};
	char *buf;
	size_t len;

	(void)state;
	cda_error_set(&a.err, CDA_ESYS, "abc");
	encode(&a, &buf, &len);
	/* header 16; error record: class 16..19, errno, line, origin "" at 28, msg at 30 */
	put32(buf + 16, CDA_ESYS + 1);
	recrc(buf, len);
	assert_rejected(buf, len, NULL, 0, "class out of range");
	put32(buf + 16, CDA_ESYS);
	buf[33] = '\0'; /* "ab\0" */
	recrc(buf, len);
	assert_rejected(buf, len, NULL, 0, "NUL byte");
	buf[33] = 'b';
	buf[30] = (char)0xff; /* a length longer than the field and the message */
	recrc(buf, len);
	assert_rejected(buf, len, NULL, 0, NULL);
	buf[30] = 3;
	buf[4] = 2; /* another version */
	recrc(buf, len);
	assert_rejected(buf, len, NULL, 0, "version");
	buf[4] = 1;
	recrc(buf, len);
	assert_int_equal(fetch_msg_decode(buf, len, NULL, 0, &b, &e), 0);
	assert_string_equal(b.err.msg, "abc");
	fetch_answer_finish(&b);
	free(buf);
	assert_rejected("", 0, NULL, 0, "magic");
	assert_rejected("CDAX", 4, NULL, 0, "magic");
}

static void dropped_prefixes_with_host_bits_are_rejected(void **state)
{
	struct fetch_result r = {.kind = FETCH_RES_NEW};
	struct fetch_answer a = {.res = &r, .n = 1};
	struct cidr d = {.addr = 0x0a000001, .family = CDA_AF_INET, .plen = 8};
	static const unsigned int none[1] = {0};
	char *buf;
	size_t len;

	(void)state;
	r.list = ranges_new();
	assert_non_null(r.list);
	assert_int_equal(cidr_list_push(&r.dropped, &d), 0);
	encode(&a, &buf, &len);
	assert_rejected(buf, len, none, 1, "host bits");
	free(buf);
	r.dropped.v[0].family = 5;
	encode(&a, &buf, &len);
	assert_rejected(buf, len, none, 1, "no family");
	free(buf);
	r.dropped.v[0].family = CDA_AF_INET;
	r.dropped.v[0].plen = 33;
	encode(&a, &buf, &len);
	assert_rejected(buf, len, none, 1, "out of range");
	free(buf);
	ranges_free(r.list);
	cidr_list_finish(&r.dropped);
}

static void crc32_matches_the_standard_check_value(void **state)
{
	(void)state;
	assert_int_equal(fetch_msg_crc32("123456789", 9), 0xcbf43926U);
	assert_int_equal(fetch_msg_crc32("", 0), 0);
	{
		/* every length and alignment up to 300 bytes against the bit-by-bit definition */
		unsigned char buf[301];

		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (unsigned char)(i * 97 + 13);
		for (size_t off = 0; off < 8; off++) {
			for (size_t n = 0; n + off < sizeof(buf); n++) {
				uint32_t c = 0xffffffffU;

				for (size_t i = 0; i < n; i++) {
					c ^= buf[off + i];
					for (int k = 0; k < 8; k++)
						c = c & 1 ? 0xedb88320U ^ (c >> 1) : c >> 1;
				}
				assert_int_equal(fetch_msg_crc32(buf + off, n), c ^ 0xffffffffU);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_keeps_every_field),
		cmocka_unit_test(failure_outcomes_round_trip_without_results),
		cmocka_unit_test(every_truncation_is_rejected),
		cmocka_unit_test(every_corrupted_byte_is_rejected),
		cmocka_unit_test(corruption_behind_a_good_checksum_never_yields_a_bad_answer),
		cmocka_unit_test(intervals_not_in_normal_form_are_rejected),
		cmocka_unit_test(counts_and_kinds_out_of_range_are_rejected),
		cmocka_unit_test(bad_error_records_and_strings_are_rejected),
		cmocka_unit_test(dropped_prefixes_with_host_bits_are_rejected),
		cmocka_unit_test(crc32_matches_the_standard_check_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
