// SPDX-License-Identifier: MIT
/* fetch_msg: encode the fetch child's answer; decode it in the parent, checking everything. */
#include "fetch_msg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "textbuf.h"

static const unsigned char magic[4] = {'C', 'D', 'A', 'F'};

/* Fixed sizes on the wire. */
#define HEADER_LEN 16 /* magic, version u16, outcome u16, total u32, count u32 */
#define V4_LEN 8      /* lo, hi */
#define V6_LEN 32
#define DROPPED_LEN 18 /* family u8, plen u8, address (16 bytes) */
#define CRC_LEN 4      /* the trailer: CRC-32 of every byte before it */

uint32_t fetch_msg_crc32(const void *data, size_t n)
{
	const unsigned char *p = data;
	uint32_t table[8][256], crc = 0xffffffffU;
	size_t i = 0;

	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320U ^ (c >> 1) : c >> 1;
		table[0][b] = c;
	}
	/* slicing by 8: table[t][b] is b's CRC followed by t zero bytes */
	for (uint32_t b = 0; b < 256; b++)
		for (int t = 1; t < 8; t++)
			table[t][b] = table[0][table[t - 1][b] & 0xff] ^ (table[t - 1][b] >> 8);
	for (; i + 8 <= n; i += 8) {
		uint32_t lo = crc ^ ((uint32_t)p[i] | (uint32_t)p[i + 1] << 8 |
				     (uint32_t)p[i + 2] << 16 | (uint32_t)p[i + 3] << 24);

		crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
		      table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^ table[3][p[i + 4]] ^
		      table[2][p[i + 5]] ^ table[1][p[i + 6]] ^ table[0][p[i + 7]];
	}
	for (; i < n; i++)
		crc = table[0][(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffffU;
}

static void put(struct textbuf *b, uint64_t v, unsigned int bytes)
{
	unsigned char le[8];

	for (unsigned int i = 0; i < bytes; i++)
		le[i] = (unsigned char)(v >> (8 * i));
	textbuf_add(b, (const char *)le, bytes);
}

static void put_u128(struct textbuf *b, cda_u128 v)
{
	unsigned char be[16];

	for (int i = 15; i >= 0; i--, v >>= 8)
		be[i] = (unsigned char)v;
	textbuf_add(b, (const char *)be, 16);
}

/* A string of at most max - 1 bytes (its field's size, NUL included), u16 length first. */
static bool put_str(struct textbuf *b, const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (n >= max)
		return false;
	put(b, n, 2);
	textbuf_add(b, s, n);
	return true;
}

static bool put_error(struct textbuf *b, const struct cda_error *e)
{
	put(b, (uint32_t)e->code, 4);
	put(b, (uint32_t)e->sys_errno, 4);
	put(b, e->line, 4);
	return put_str(b, e->origin, sizeof(e->origin)) && put_str(b, e->msg, sizeof(e->msg));
}

static bool put_result(struct textbuf *b, const struct fetch_result *r, size_t index)
{
	size_t start = b->len, n4 = 0, n6 = 0;
	const struct range4 *v4 = NULL;
	const struct range6 *v6 = NULL;
	bool ok;

	if (r->list != NULL) {
		n4 = ranges_count4(r->list);
		n6 = ranges_count6(r->list);
		v4 = ranges_v4(r->list);
		v6 = ranges_v6(r->list);
	}
	if (r->meta.n_urls > 8 || n4 > UINT32_MAX || n6 > UINT32_MAX ||
	    r->dropped.n > UINT32_MAX || index > UINT32_MAX)
		return false;
	put(b, 0, 4); /* the record's length, filled in below */
	put(b, index, 4);
	put(b, (uint16_t)r->kind, 2);
	put(b, r->meta.n_urls, 2);
	ok = put_error(b, &r->err);
	put(b, r->hostbits, 4);
	ok = ok && put_str(b, r->meta.token, sizeof(r->meta.token));
	for (unsigned int u = 0; ok && u < r->meta.n_urls; u++) {
		ok = put_str(b, r->meta.url[u].etag, sizeof(r->meta.url[u].etag));
		put(b, (uint64_t)(int64_t)r->meta.url[u].last_modified, 8);
	}
	put(b, n4, 4);
	for (size_t i = 0; i < n4; i++) {
		put(b, v4[i].lo, 4);
		put(b, v4[i].hi, 4);
	}
	put(b, n6, 4);
	for (size_t i = 0; i < n6; i++) {
		put_u128(b, v6[i].lo);
		put_u128(b, v6[i].hi);
	}
	put(b, r->dropped.n, 4);
	for (size_t i = 0; i < r->dropped.n; i++) {
		put(b, r->dropped.v[i].family, 1);
		put(b, r->dropped.v[i].plen, 1);
		put_u128(b, r->dropped.v[i].addr);
	}
	if (!ok || b->oom || b->len - start > UINT32_MAX)
		return false;
	for (unsigned int i = 0; i < 4; i++)
		b->p[start + i] = (char)((b->len - start) >> (8 * i));
	return true;
}

int fetch_msg_encode(const struct fetch_answer *a, char **out, size_t *len)
{
	struct textbuf b = {0};
	bool ok;

	*out = NULL;
	*len = 0;
	textbuf_add(&b, (const char *)magic, sizeof(magic));
	put(&b, FETCH_MSG_VERSION, 2);
	put(&b, (uint16_t)a->outcome, 2);
	put(&b, 0, 4); /* total length, filled in below */
	put(&b, a->n, 4);
	ok = a->n <= UINT32_MAX && put_error(&b, &a->err);
	for (size_t i = 0; ok && i < a->n; i++)
		ok = put_result(&b, &a->res[i], i);
	if (!b.oom && ok && b.len <= UINT32_MAX - CRC_LEN) {
		for (unsigned int i = 0; i < 4; i++)
			b.p[8 + i] = (char)((b.len + CRC_LEN) >> (8 * i));
		put(&b, fetch_msg_crc32(b.p, b.len), CRC_LEN);
	}
	if (b.oom || !ok || b.len > UINT32_MAX) {
		free(b.p);
		errno = b.oom ? ENOMEM : EINVAL;
		return -1;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

/* A cursor over untrusted bytes: every read is bounded by end; the first failure sticks. */
struct reader {
	const unsigned char *p;
	size_t pos, end;
	const char *bad; /* what was wrong, NULL while all is well */
	size_t bad_at;
};

static bool fail(struct reader *r, const char *what)
{
	if (r->bad == NULL) {
		r->bad = what;
		r->bad_at = r->pos;
	}
	return false;
}

static uint64_t get(struct reader *r, unsigned int bytes)
{
	uint64_t v = 0;

	if (r->bad != NULL || r->end - r->pos < bytes) {
		fail(r, "cut short");
		return 0;
	}
	for (unsigned int i = 0; i < bytes; i++)
		v |= (uint64_t)r->p[r->pos + i] << (8 * i);
	r->pos += bytes;
	return v;
}

static cda_u128 get_u128(struct reader *r)
{
	cda_u128 v = 0;

	if (r->bad != NULL || r->end - r->pos < 16) {
		fail(r, "cut short");
		return 0;
	}
	for (unsigned int i = 0; i < 16; i++)
		v = v << 8 | r->p[r->pos + i];
	r->pos += 16;
	return v;
}

/* A string into dst[max]: shorter than max, no NUL byte. */
static bool get_str(struct reader *r, char *dst, size_t max)
{
	size_t n = (size_t)get(r, 2);

	if (r->bad != NULL)
		return false;
	if (n >= max)
		return fail(r, "string too long");
	if (r->end - r->pos < n)
		return fail(r, "cut short");
	if (memchr(r->p + r->pos, '\0', n) != NULL)
		return fail(r, "NUL byte in a string");
	memcpy(dst, r->p + r->pos, n);
	dst[n] = '\0';
	r->pos += n;
	return true;
}

/* A count of items of size bytes each: no more than the bytes left can hold. */
static size_t get_count(struct reader *r, size_t size)
{
	size_t n = (size_t)get(r, 4);

	if (r->bad == NULL && n > (r->end - r->pos) / size) {
		fail(r, "count larger than the record");
		return 0;
	}
	return n;
}

/* An error record; required: whether it must say something (class set) or be all zero. */
static bool get_error(struct reader *r, struct cda_error *e, bool required)
{
	uint64_t code = get(r, 4), sys = get(r, 4);

	e->line = (unsigned int)get(r, 4);
	if (!get_str(r, e->origin, sizeof(e->origin)) || !get_str(r, e->msg, sizeof(e->msg)))
		return false;
	if (code > CDA_ESYS)
		return fail(r, "error class out of range");
	if (sys > 4095)
		return fail(r, "errno out of range");
	e->code = (enum cda_errc)code;
	e->sys_errno = (int)sys;
	if (required && e->code == CDA_OK)
		return fail(r, "failure without an error class");
	/* a result that did not fail may carry a warning: a message, no class */
	if (!required && (e->code != CDA_OK || e->sys_errno != 0 || e->line != 0))
		return fail(r, "an error record where none belongs");
	return true;
}

/* Each family's intervals: valid, sorted, disjoint, not adjacent (the normal form). */
static bool get_list(struct reader *r, struct ranges *list)
{
	size_t n4 = get_count(r, V4_LEN), n6;

	for (size_t i = 0; i < n4 && r->bad == NULL; i++) {
		uint32_t lo = (uint32_t)get(r, 4), hi = (uint32_t)get(r, 4);
		const struct range4 *prev = i > 0 ? &ranges_v4(list)[i - 1] : NULL;

		if (lo > hi)
			return fail(r, "IPv4 interval with lo > hi");
		if (prev != NULL && (uint64_t)prev->hi + 1 >= lo)
			return fail(r, "IPv4 intervals not sorted, disjoint and apart");
		if (r->bad == NULL && ranges_add4(list, lo, hi) < 0)
			return fail(r, "out of memory");
	}
	n6 = get_count(r, V6_LEN);
	for (size_t i = 0; i < n6 && r->bad == NULL; i++) {
		cda_u128 lo = get_u128(r), hi = get_u128(r);
		const struct range6 *prev = i > 0 ? &ranges_v6(list)[i - 1] : NULL;

		if (lo > hi)
			return fail(r, "IPv6 interval with lo > hi");
		if (prev != NULL && (prev->hi == ~(cda_u128)0 || prev->hi + 1 >= lo))
			return fail(r, "IPv6 intervals not sorted, disjoint and apart");
		if (r->bad == NULL && ranges_add6(list, lo, hi) < 0)
			return fail(r, "out of memory");
	}
	return r->bad == NULL;
}

static bool get_dropped(struct reader *r, struct cidr_list *l)
{
	size_t n = get_count(r, DROPPED_LEN);

	for (size_t i = 0; i < n && r->bad == NULL; i++) {
		struct cidr c = {0};
		unsigned int bits;
		cda_u128 host;

		c.family = (uint8_t)get(r, 1);
		c.plen = (uint8_t)get(r, 1);
		c.addr = get_u128(r);
		if (r->bad != NULL)
			break;
		if (c.family != CDA_AF_INET && c.family != CDA_AF_INET6)
			return fail(r, "dropped prefix of no family");
		bits = c.family == CDA_AF_INET ? 32 : 128;
		if (c.plen > bits || (bits == 32 && c.addr > UINT32_MAX))
			return fail(r, "dropped prefix out of range");
		host = bits - c.plen == 128 ? ~(cda_u128)0 : ((cda_u128)1 << (bits - c.plen)) - 1;
		if ((c.addr & host) != 0)
			return fail(r, "dropped prefix with host bits");
		if (cidr_list_push(l, &c) < 0)
			return fail(r, "out of memory");
	}
	return r->bad == NULL;
}

/* The validators and token: as many URLs as the source has. */
static bool get_meta(struct reader *r, struct source_meta *m, unsigned int n_urls)
{
	if (!get_str(r, m->token, sizeof(m->token)))
		return false;
	for (unsigned int u = 0; u < n_urls; u++) {
		int64_t lm;

		if (!get_str(r, m->url[u].etag, sizeof(m->url[u].etag)))
			return false;
		lm = (int64_t)get(r, 8);
		if (lm < 0)
			return fail(r, "negative Last-Modified");
		m->url[u].last_modified = (time_t)lm;
	}
	m->n_urls = n_urls;
	return r->bad == NULL;
}

/* Result i, expected with n_urls URLs: one whole record. */
static bool get_result(struct reader *r, struct fetch_result *res, size_t i, unsigned int n_urls)
{
	size_t start = r->pos, outer = r->end, rlen = (size_t)get(r, 4);
	uint64_t kind;
	bool ok;

	if (r->bad != NULL || rlen < 4 || rlen - 4 > outer - r->pos)
		return fail(r, "record length out of range");
	r->end = start + rlen;
	if (get(r, 4) != i)
		return fail(r, "record out of order");
	kind = get(r, 2);
	if (r->bad == NULL && kind > FETCH_RES_FAILED)
		return fail(r, "result kind out of range");
	res->kind = (enum fetch_result_kind)kind;
	if (r->bad == NULL && (n_urls > 8 || get(r, 2) != n_urls))
		return fail(r, "URL count differs from the source's");
	ok = get_error(r, &res->err, res->kind == FETCH_RES_FAILED);
	res->hostbits = (unsigned int)get(r, 4);
	ok = ok && get_meta(r, &res->meta, n_urls);
	if (ok && (res->list = ranges_new()) == NULL)
		return fail(r, "out of memory");
	ok = ok && get_list(r, res->list) && get_dropped(r, &res->dropped);
	if (!ok)
		return false;
	if (res->kind != FETCH_RES_NEW &&
	    (res->hostbits != 0 || ranges_count4(res->list) + ranges_count6(res->list) != 0 ||
	     res->dropped.n != 0))
		return fail(r, "a list where none belongs");
	if (r->pos != r->end)
		return fail(r, "bytes left in a record");
	r->end = outer;
	if (res->kind != FETCH_RES_NEW) {
		ranges_free(res->list);
		res->list = NULL;
	} else {
		ranges_normalize(res->list); /* already normal: marks it so */
	}
	return true;
}

static bool get_header(struct reader *r, struct fetch_answer *a, size_t len, size_t n)
{
	uint64_t version, outcome, total, count;

	if (len < HEADER_LEN + CRC_LEN || memcmp(r->p, magic, sizeof(magic)) != 0)
		return fail(r, "no fetch answer (magic)");
	r->pos = len - CRC_LEN;
	if (fetch_msg_crc32(r->p, len - CRC_LEN) != (uint32_t)get(r, CRC_LEN))
		return fail(r, "checksum differs");
	r->end = len - CRC_LEN;
	r->pos = sizeof(magic);
	version = get(r, 2);
	outcome = get(r, 2);
	total = get(r, 4);
	count = get(r, 4);
	if (version != FETCH_MSG_VERSION)
		return fail(r, "version differs");
	if (outcome > FETCH_MSG_SANDBOX)
		return fail(r, "outcome out of range");
	if (total != len)
		return fail(r, "length differs from the bytes received");
	a->outcome = (enum fetch_outcome)outcome;
	if (count != (a->outcome == FETCH_MSG_RESULTS ? n : 0))
		return fail(r, "result count differs from the sources fetched");
	return get_error(r, &a->err, a->outcome != FETCH_MSG_RESULTS);
}

int fetch_msg_decode(const char *buf, size_t len, const unsigned int *n_urls, size_t n,
		     struct fetch_answer *a, struct cda_error *err)
{
	struct reader r = {.p = (const unsigned char *)buf, .end = len};

	memset(a, 0, sizeof(*a));
	if (get_header(&r, a, len, n) && a->outcome == FETCH_MSG_RESULTS && n > 0) {
		if ((a->res = calloc(n, sizeof(*a->res))) == NULL) {
			fail(&r, "out of memory");
		} else {
			a->n = n;
			for (size_t i = 0; i < n && get_result(&r, &a->res[i], i, n_urls[i]); i++)
				;
		}
	}
	if (r.bad == NULL && r.pos != r.end)
		fail(&r, "bytes after the last record");
	if (r.bad == NULL)
		return 0;
	fetch_answer_finish(a);
	if (strcmp(r.bad, "out of memory") == 0) {
		errno = ENOMEM;
		return cda_error_sys(err, CDA_ESYS, "decoding the fetch answer");
	}
	return cda_error_set(err, CDA_EFETCH, "malformed answer: %s at byte %zu", r.bad,
			     r.bad_at);
}

void fetch_answer_finish(struct fetch_answer *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; a->res != NULL && i < a->n; i++) {
		ranges_free(a->res[i].list);
		cidr_list_finish(&a->res[i].dropped);
	}
	free(a->res);
	memset(a, 0, sizeof(*a));
}
