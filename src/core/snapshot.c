// SPDX-License-Identifier: MIT
/* snapshot: the fleet snapshot document: format and strict parser (pure). */
#include "snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cda_error.h"
#include "ranges.h"
#include "textbuf.h"

#define MAGIC "cdnallow-snapshot 1"

void snapshot_format(const struct snapshot *s, struct textbuf *tb)
{
	char buf[CIDR_STRLEN];

	textbuf_printf(tb, "%s\nserial %" PRIu64 "\ntime %lld\npublisher %s\n", MAGIC, s->serial,
		       (long long)s->time, s->publisher);
	for (size_t i = 0; i < s->n; i++) {
		const struct snapshot_source *src = &s->v[i];
		struct cidr_list cl = {0};

		textbuf_printf(tb, "source %s\n", src->name);
		if (src->token[0] != '\0')
			textbuf_printf(tb, "token %s\n", src->token);
		textbuf_printf(tb, "fetched %lld\n", (long long)src->fetched);
		if (src->list != NULL && ranges_to_cidrs(src->list, &cl) < 0)
			tb->oom = true;
		for (size_t k = 0; k < cl.n; k++)
			textbuf_printf(tb, "%s %s\n", cl.v[k].family == CDA_AF_INET ? "v4" : "v6",
				       cidr_format(&cl.v[k], buf));
		cidr_list_finish(&cl);
	}
	textbuf_printf(tb, "end\n");
}

/* The parser's position and what it has built so far. */
struct reader {
	const char *text;
	size_t len, pos;
	unsigned int lineno;
	struct snapshot *s;
	struct snapshot_source *cur;
	struct cidr last; /* the previous prefix of cur, for order (plen 255: none) */
	bool ended;
};

static int bad(struct reader *r, struct cda_error *err, const char *what)
{
	cda_error_set(err, CDA_EDATA, "snapshot: %s", what);
	err->line = r->lineno;
	return -1;
}

/* The next line into line (NUL-terminated copy), false at the end. */
static bool next(struct reader *r, char *line, size_t size, bool *too_long)
{
	const char *p = r->text + r->pos, *nl;
	size_t n;

	if (r->pos >= r->len)
		return false;
	nl = memchr(p, '\n', r->len - r->pos);
	n = nl != NULL ? (size_t)(nl - p) : r->len - r->pos;
	r->pos += n + (nl != NULL);
	r->lineno++;
	*too_long = n >= size || memchr(p, '\0', n) != NULL;
	if (*too_long)
		n = 0;
	memcpy(line, p, n);
	line[n] = '\0';
	return true;
}

static bool valid_name(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");

	return n > 0 && s[n] == '\0' && n < SNAPSHOT_NAME_MAX;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] != '\0'))
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

/* One header line "key value": the value, or NULL when the line is not that key. */
static const char *header(const char *line, const char *key)
{
	size_t k = strlen(key);

	return strncmp(line, key, k) == 0 && line[k] == ' ' ? line + k + 1 : NULL;
}

/* The next header line; false at the end or when too long (then it is not that header). */
static bool next_header(struct reader *r, char *line, size_t size)
{
	bool too_long;

	return next(r, line, size, &too_long) && !too_long;
}

static int header_lines(struct reader *r, struct cda_error *err)
{
	char line[128];
	const char *v;
	uint64_t t;

	if (!next_header(r, line, sizeof(line)) || strcmp(line, MAGIC) != 0)
		return bad(r, err, "not a cdnallow snapshot (no \"" MAGIC "\" line first)");
	if (!next_header(r, line, sizeof(line)) || (v = header(line, "serial")) == NULL ||
	    !parse_u64(v, &r->s->serial) || r->s->serial == 0)
		return bad(r, err, "line 2 is not \"serial N\" (N > 0)");
	if (!next_header(r, line, sizeof(line)) || (v = header(line, "time")) == NULL ||
	    !parse_u64(v, &t) || t > INT64_MAX / 2)
		return bad(r, err, "line 3 is not \"time UNIX-SECONDS\"");
	r->s->time = (time_t)t;
	if (!next_header(r, line, sizeof(line)) || (v = header(line, "publisher")) == NULL ||
	    !valid_name(v))
		return bad(r, err, "line 4 is not \"publisher NAME\"");
	memcpy(r->s->publisher, v, strlen(v) + 1); /* valid_name(): it fits */
	return 0;
}

static int new_source(struct reader *r, const char *name, struct cda_error *err)
{
	struct snapshot_source *v;

	if (!valid_name(name))
		return bad(r, err, "bad source name");
	if (snapshot_find(r->s, name) != NULL)
		return bad(r, err, "source named twice");
	v = reallocarray(r->s->v, r->s->n + 1, sizeof(*v));
	if (v == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating");
	r->s->v = v;
	r->cur = &v[r->s->n];
	memset(r->cur, 0, sizeof(*r->cur));
	memcpy(r->cur->name, name, strlen(name) + 1); /* valid_name(): it fits */
	r->cur->fetched = -1;
	r->s->n++;
	if ((r->cur->list = ranges_new()) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating");
	r->last.plen = 255;
	return 0;
}

/* "v4 CIDR" or "v6 CIDR": canonical, of that family, after the previous one. */
static int prefix_line(struct reader *r, const char *v, int fam, struct cda_error *err)
{
	struct cidr c;
	char buf[CIDR_STRLEN];
	bool bare = false;
	cda_u128 lo, hi, plo, phi;

	if (r->cur == NULL || r->cur->fetched < 0)
		return bad(r, err, "a prefix before its source's \"fetched\" line");
	if (cidr_parse(v, strlen(v), &c, &bare) != CIDR_OK || c.family != fam || bare ||
	    strcmp(cidr_format(&c, buf), v) != 0)
		return bad(r, err, "not a canonical prefix of the line's family");
	if (r->last.plen != 255 && r->last.family == c.family) {
		cidr_bounds(&r->last, &plo, &phi);
		cidr_bounds(&c, &lo, &hi);
		if (lo <= phi)
			return bad(r, err, "prefixes out of order or overlapping");
	} else if (r->last.plen != 255 && r->last.family == CDA_AF_INET6) {
		return bad(r, err, "a v4 prefix after the v6 ones");
	}
	r->last = c;
	if (ranges_add_cidr(r->cur->list, &c) < 0)
		return cda_error_sys(err, CDA_ESYS, "allocating");
	return 0;
}

static int body_line(struct reader *r, const char *line, struct cda_error *err)
{
	const char *v;
	uint64_t t;

	if (r->ended)
		return bad(r, err, "text after \"end\"");
	if (strcmp(line, "end") == 0) {
		if (r->cur != NULL && r->cur->fetched < 0)
			return bad(r, err, "a source without its \"fetched\" line");
		r->ended = true;
	} else if ((v = header(line, "source")) != NULL) {
		if (r->cur != NULL && r->cur->fetched < 0)
			return bad(r, err, "a source without its \"fetched\" line");
		return new_source(r, v, err);
	} else if ((v = header(line, "token")) != NULL) {
		if (r->cur == NULL || r->cur->fetched >= 0 || r->cur->token[0] != '\0' ||
		    *v == '\0' || strlen(v) >= SNAPSHOT_TOKEN_MAX)
			return bad(r, err, "misplaced or bad \"token\" line");
		memcpy(r->cur->token, v, strlen(v) + 1);
	} else if ((v = header(line, "fetched")) != NULL) {
		if (r->cur == NULL || r->cur->fetched >= 0 || !parse_u64(v, &t) ||
		    t > INT64_MAX / 2)
			return bad(r, err, "misplaced or bad \"fetched\" line");
		r->cur->fetched = (time_t)t;
	} else if ((v = header(line, "v4")) != NULL) {
		return prefix_line(r, v, CDA_AF_INET, err);
	} else if ((v = header(line, "v6")) != NULL) {
		return prefix_line(r, v, CDA_AF_INET6, err);
	} else {
		return bad(r, err, "unknown line");
	}
	return 0;
}

int snapshot_parse(const char *text, size_t len, struct snapshot *s, struct cda_error *err)
{
	struct reader r = {.text = text, .len = len, .s = s};
	char line[512];
	bool too_long;

	memset(s, 0, sizeof(*s));
	if (header_lines(&r, err) < 0)
		goto fail;
	while (next(&r, line, sizeof(line), &too_long)) {
		if (too_long) {
			bad(&r, err, "line too long or holding a NUL byte");
			goto fail;
		}
		if (body_line(&r, line, err) < 0)
			goto fail;
	}
	if (!r.ended) {
		bad(&r, err, "no \"end\" line: truncated");
		goto fail;
	}
	for (size_t i = 0; i < s->n; i++)
		ranges_normalize(s->v[i].list);
	return 0;
fail:
	snapshot_finish(s);
	return -1;
}

const struct snapshot_source *snapshot_find(const struct snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, name) == 0)
			return &s->v[i];
	return NULL;
}

void snapshot_finish(struct snapshot *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		ranges_free(s->v[i].list);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

void snapshot_file_name(uint64_t serial, char *buf, size_t size)
{
	snprintf(buf, size, "snapshot-%" PRIu64 ".txt", serial);
}

uint64_t snapshot_name_serial(const char *name, size_t len)
{
	char buf[64];
	uint64_t v;

	if (len < 14 || len >= sizeof(buf) || strncmp(name, "snapshot-", 9) != 0 ||
	    strncmp(name + len - 4, ".txt", 4) != 0)
		return 0;
	memcpy(buf, name + 9, len - 13);
	buf[len - 13] = '\0';
	return parse_u64(buf, &v) ? v : 0;
}
