// SPDX-License-Identifier: MIT
/* Payloads into ranges: the entry point, the text parser, and adding one address or prefix. */
#include "parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cda_error.h"
#include "parse_priv.h"
#include "ranges.h"

/* s[0..len) for a message: escaped, cut after QUOTE_MAX bytes with "...". */
static const char *quote(char *dst, size_t size, const char *s, size_t len)
{
	size_t o = 0, i;

	for (i = 0; i < len && o + 8 < size; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (o >= QUOTE_MAX) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '"' || ch == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			o += (size_t)snprintf(dst + o, size - o, "\\x%02x", ch);
		} else {
			dst[o++] = (char)ch;
		}
	}
	dst[o] = '\0';
	return dst;
}

unsigned int parse_line_of(const struct parse_ctx *c, size_t off)
{
	unsigned int line = 1;
	const char *p = c->buf, *end = c->buf + (off < c->len ? off : c->len);

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		line++;
		p++;
	}
	return line;
}

/*
 * Line of a JSON string value, found by searching the raw payload for it between quotes.
 * Only trusted when it occurs exactly once (the same prefix often appears under several
 * keys); otherwise 0. Runs on error paths only.
 */
static unsigned int json_string_line(const struct parse_ctx *c, const char *s, size_t len)
{
	const char *p = c->buf, *end = c->buf + c->len, *hit = NULL;
	unsigned int n = 0;

	if (len == 0)
		return 0;
	while (p < end && (p = memmem(p, (size_t)(end - p), s, len)) != NULL) {
		if (p > c->buf && p[-1] == '"' && p + len < end && p[len] == '"') {
			if (++n > 1)
				return 0;
			hit = p;
		}
		p++;
	}
	return hit != NULL ? parse_line_of(c, (size_t)(hit - c->buf)) : 0;
}

int parse_error(struct parse_ctx *c, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	if (c->err == NULL)
		return -1;
	cda_error_set(c->err, CDA_EDATA, "%s", "");
	va_start(ap, fmt);
	vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
	va_end(ap);
	c->err->line = line;
	return -1;
}

/*
 * One address or prefix. path is NULL for text (line known) or the JSON path of the
 * element; fam 0 accepts both families.
 */
int parse_add_token(struct parse_ctx *c, const char *s, size_t len, int fam, unsigned int line,
		    const char *path)
{
	char q[QUOTE_MAX * 4 + 8];
	const char *pre = path != NULL ? path : "";
	const char *sep = path != NULL ? ": " : "";
	struct parse_info *info = c->info;
	struct cidr cd;
	bool bare;
	enum cidr_parse_result r = cidr_parse(s, len, &cd, &bare);

	if (r == CIDR_INVALID) {
		if (path != NULL)
			line = json_string_line(c, s, len);
		return parse_error(c, line, "%s%s\"%s\" is not an IP address or prefix", pre, sep,
				   quote(q, sizeof(q), s, len));
	}
	if (fam != 0 && cd.family != fam) {
		if (path != NULL)
			line = json_string_line(c, s, len);
		return parse_error(c, line, "%s%s\"%s\" is IPv%d in a list of IPv%d prefixes", pre,
				   sep, quote(q, sizeof(q), s, len), cd.family, fam);
	}
	if (bare && c->o->prefixes_only) {
		if (path != NULL)
			line = json_string_line(c, s, len);
		return parse_error(c, line,
				   "%s%s\"%s\" has no prefix length; this provider publishes "
				   "only prefixes (a body cut short?)",
				   pre, sep, quote(q, sizeof(q), s, len));
	}
	if (cd.family == CDA_AF_INET ? (c->o->broadest_v4 != 0 && cd.plen < c->o->broadest_v4)
				     : (c->o->broadest_v6 != 0 && cd.plen < c->o->broadest_v6)) {
		if (path != NULL)
			line = json_string_line(c, s, len);
		return parse_error(c, line,
				   "%s%s\"%s\" is broader than /%u, the broadest prefix "
				   "this source may publish",
				   pre, sep, quote(q, sizeof(q), s, len),
				   cd.family == CDA_AF_INET ? c->o->broadest_v4
							    : c->o->broadest_v6);
	}
	if (r == CIDR_HOSTBITS) {
		if (info->hostbits++ == 0) {
			size_t n = len < sizeof(info->hostbits_example) - 1
					   ? len
					   : sizeof(info->hostbits_example) - 1;

			info->hostbits_line = path != NULL ? (unsigned int)info->entries + 1 : line;
			memcpy(info->hostbits_example, s, n);
			info->hostbits_example[n] = '\0';
		}
	}
	if (ranges_add_cidr(c->out, &cd) < 0)
		return cda_error_sys(c->err, CDA_ESYS, "out of memory");
	info->entries++;
	if (cd.family == CDA_AF_INET)
		info->entries_v4++;
	else
		info->entries_v6++;
	return 0;
}

/* Skips a UTF-8 byte order mark and whitespace; returns the first other byte's offset. */
size_t parse_skip_lead(const struct parse_ctx *c)
{
	size_t i = 0;

	if (c->len >= 3 && memcmp(c->buf, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < c->len && parse_is_space(c->buf[i]))
		i++;
	return i;
}

int parse_check_html(struct parse_ctx *c, size_t first)
{
	if (first < c->len && c->buf[first] == '<')
		return parse_error(c, parse_line_of(c, first),
				   "looks like an HTML page, not a list");
	return 0;
}

/*
 * Text: one token per line. Lines are split on '\n' only; spaces, tabs and '\r' around a
 * token are dropped, '#' starts a comment at the start of a line or after a blank. The
 * loop touches each byte a constant number of times and allocates nothing per line.
 */
static int parse_text(struct parse_ctx *c)
{
	size_t first = parse_skip_lead(c);
	const char *p = c->buf + first, *end = c->buf + c->len;
	unsigned int line;

	if (parse_check_html(c, first) < 0)
		return -1;
	/* Counting restarts at the first token's line; the loop adds one per line. */
	line = first < c->len ? parse_line_of(c, first) - 1 : 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *s = p, *e = nl != NULL ? nl : end, *h;

		line++;
		p = nl != NULL ? nl + 1 : end;
		while (s < e && parse_is_blank(*s))
			s++;
		if (s == e || *s == '#')
			continue;
		h = memchr(s, '#', (size_t)(e - s));
		if (h != NULL && parse_is_blank(h[-1]))
			e = h;
		while (e > s && parse_is_blank(e[-1]))
			e--;
		if (parse_add_token(c, s, (size_t)(e - s), 0, line, NULL) < 0)
			return -1;
	}
	if (c->info->entries == 0)
		return parse_error(c, 0, "empty list");
	return 0;
}

int parse_list(const char *buf, size_t len, const struct parse_opts *o, struct ranges *out,
	       struct parse_info *info, struct cda_error *err)
{
	struct parse_info scratch;
	struct ranges *tmp = NULL;
	struct parse_ctx c;
	int rc;

	if (info == NULL)
		info = &scratch;
	memset(info, 0, sizeof(*info));
	if (o == NULL || out == NULL || (buf == NULL && len != 0)) {
		errno = EINVAL;
		return cda_error_set(err, CDA_ESYS, "parse_list: invalid arguments");
	}
	if ((unsigned int)o->format > FMT_JSON_SELECT)
		return cda_error_set(err, CDA_ECONFIG, "unknown list format %d", (int)o->format);
	/* Append straight into an empty out (the usual case); else via a scratch set so a
	 * rejected payload never leaves half a list behind. */
	if (ranges_count4(out) != 0 || ranges_count6(out) != 0) {
		tmp = ranges_new();
		if (tmp == NULL)
			return cda_error_sys(err, CDA_ESYS, "out of memory");
	}
	c = (struct parse_ctx){.buf = buf != NULL ? buf : "",
			       .len = len,
			       .o = o,
			       .out = tmp != NULL ? tmp : out,
			       .info = info,
			       .err = err};
	if (o->format == FMT_TEXT)
		rc = parse_text(&c);
	else
		rc = parse_json(&c);
	if (rc == 0 && tmp != NULL && ranges_add_all(out, tmp) < 0)
		rc = cda_error_sys(err, CDA_ESYS, "out of memory");
	if (rc < 0 && tmp == NULL)
		ranges_clear(out);
	ranges_free(tmp);
	return rc;
}
