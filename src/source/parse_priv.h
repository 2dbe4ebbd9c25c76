/* SPDX-License-Identifier: MIT */
/* What the parsers of src/source share: one parse's context and adding what it finds. */
#ifndef CDNALLOW_PARSE_PRIV_H
#define CDNALLOW_PARSE_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "cda_error.h"

struct parse_info;
struct parse_opts;
struct ranges;

/* Quoted tokens in messages are cut here so a whole HTML line never fills the message. */
#define QUOTE_MAX 60
#define PATH_MAX_LEN 160

struct parse_ctx {
	const char *buf;
	size_t len;
	const struct parse_opts *o;
	struct ranges *out;
	struct parse_info *info;
	struct cda_error *err;
};

static inline bool parse_is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

static inline bool parse_is_space(char ch)
{
	return parse_is_blank(ch) || ch == '\n';
}

/* parse.c */
/* CDA_EDATA with line (0: unknown) and a message; returns -1. */
int parse_error(struct parse_ctx *c, unsigned int line, const char *fmt, ...) CDA_PRINTF(3, 4);
unsigned int parse_line_of(const struct parse_ctx *c, size_t off); /* 1-based line of buf[off] */
/* One address or prefix; path is NULL for text (line known) or the JSON path of the element;
 * fam 0 accepts both families. */
int parse_add_token(struct parse_ctx *c, const char *s, size_t len, int fam, unsigned int line,
		    const char *path);
size_t parse_skip_lead(const struct parse_ctx *c); /* offset past a BOM and whitespace */
int parse_check_html(struct parse_ctx *c, size_t first);

/* parse_json.c */
int parse_json(struct parse_ctx *c);
const char *parse_type_name(const json_object *v);
/* v must be a string holding an address or prefix of family fam (0: either). */
int parse_add_json_string(struct parse_ctx *c, json_object *v, int fam, const char *path);
/* Every element of arr (named path) must be an address or prefix of family fam. */
int parse_add_string_array(struct parse_ctx *c, json_object *arr, const char *path, int fam);

/* parse_doc.c: the document from first as one strict JSON value into *root (the caller
 * puts it, also on failure): not HTML, no NUL byte, nothing after it, and no key holding a
 * NUL or given twice in one object (json-c would cut or merge them). */
int parse_json_doc(struct parse_ctx *c, size_t first, json_object **root);

/* parse_select.c */
int parse_select(struct parse_ctx *c, json_object *root);
/* select and where of o are well-formed (CDA_ECONFIG "select: ..." or "where: ..."). */
int parse_select_check(const struct parse_opts *o, struct cda_error *err);

#endif
