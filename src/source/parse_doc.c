// SPDX-License-Identifier: MIT
/* The JSON document as bytes: one strict document, no NUL, no key with a NUL or given twice. */
#include "parse_priv.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cda_error.h"
#include "parse.h"

/*
 * json-c keeps an object's keys as C strings and lets a later member replace an earlier one
 * of the same name, silently: "addresses\u0000_staging" becomes "addresses", and of two
 * "addresses" the last wins. So once json-c has accepted a document (it is well-formed),
 * its raw text is read again: every key is checked for an escaped NUL, and the members
 * written in each object are counted. json-c's objects, walked in the same order (it keeps
 * members in the order written), must hold as many: fewer means two members had one name.
 * json-c also takes single-quoted strings, so both quotes delimit one.
 */

#define MAX_DEPTH 64 /* json-c refuses documents nested deeper than 32 */

struct raw_objs {
	uint32_t *members; /* per object, in the order its '{' appears */
	size_t n, cap;
};

/* Past the string that opens at s[i] (a quote); *nul when it holds the escape \u0000. */
static size_t skip_string(const char *s, size_t len, size_t i, bool *nul)
{
	char q = s[i];

	*nul = false;
	for (i++; i < len && s[i] != q; i++) {
		if (s[i] != '\\')
			continue;
		i++;
		if (i + 4 < len && s[i] == 'u' && memcmp(s + i + 1, "0000", 4) == 0)
			*nul = true;
	}
	return i + 1;
}

/* Whether the string ending before s[i] is a key: the next non-blank byte is ':'. */
static bool is_key(const char *s, size_t len, size_t i)
{
	while (i < len && parse_is_space(s[i]))
		i++;
	return i < len && s[i] == ':';
}

static int push_object(struct parse_ctx *c, struct raw_objs *ro)
{
	if (ro->n == ro->cap) {
		size_t cap = ro->cap != 0 ? 2 * ro->cap : 64;
		uint32_t *v = reallocarray(ro->members, cap, sizeof(*v));

		if (v == NULL)
			return cda_error_sys(c->err, CDA_ESYS, "parse: checking the keys");
		ro->members = v;
		ro->cap = cap;
	}
	ro->members[ro->n++] = 0;
	return 0;
}

/* Count the members of every object of buf[first..len); refuse a key holding a NUL. */
static int count_members(struct parse_ctx *c, size_t first, struct raw_objs *ro)
{
	size_t open[MAX_DEPTH]; /* per open container: its object's index, SIZE_MAX an array */
	size_t depth = 0, i = first;
	const char *s = c->buf;

	while (i < c->len) {
		size_t start = i;
		bool nul;

		switch (s[i]) {
		case '"':
		case '\'':
			i = skip_string(s, c->len, i, &nul);
			if (!is_key(s, c->len, i))
				continue;
			if (nul)
				return parse_error(c, parse_line_of(c, start),
						   "invalid JSON: a key holds a NUL character "
						   "(\\u0000) at offset %zu", start);
			if (depth > 0 && open[depth - 1] != SIZE_MAX)
				ro->members[open[depth - 1]]++;
			continue;
		case '{':
		case '[':
			if (depth == MAX_DEPTH)
				return parse_error(c, parse_line_of(c, i),
						   "invalid JSON: nested too deeply");
			if (s[i] == '{' && push_object(c, ro) < 0)
				return -1;
			open[depth++] = s[i] == '{' ? ro->n - 1 : SIZE_MAX;
			break;
		case '}':
		case ']':
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
		i++;
	}
	return 0;
}

/* Offset of the '{' of object k (in the order they appear). */
static size_t object_offset(const struct parse_ctx *c, size_t first, size_t k)
{
	bool nul;

	for (size_t i = first; i < c->len; i++) {
		if (c->buf[i] == '"' || c->buf[i] == '\'')
			i = skip_string(c->buf, c->len, i, &nul) - 1;
		else if (c->buf[i] == '{' && k-- == 0)
			return i;
	}
	return c->len;
}

struct raw_key {
	const char *s;
	size_t len;
};

static int key_cmp(const void *a, const void *b)
{
	const struct raw_key *x = a, *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->s, y->s, x->len);
}

/* The object opening at buf[off] has two members of one name: named when they are written
 * alike (an escape can spell one name two ways). */
static int duplicate(struct parse_ctx *c, size_t off, size_t members)
{
	struct raw_key *keys = calloc(members != 0 ? members : 1, sizeof(*keys));
	size_t n = 0, depth = 0, i = off;
	unsigned int line = parse_line_of(c, off);
	bool nul;
	int rc;

	for (; keys != NULL && i < c->len && n < members; i++) {
		char ch = c->buf[i];
		size_t end;

		if (ch == '{' || ch == '[')
			depth++;
		else if (ch == '}' || ch == ']')
			depth--;
		if (ch != '"' && ch != '\'')
			continue;
		end = skip_string(c->buf, c->len, i, &nul);
		if (depth == 1 && is_key(c->buf, c->len, end))
			keys[n++] = (struct raw_key){c->buf + i + 1, end - i - 2};
		i = end - 1;
	}
	if (keys != NULL)
		qsort(keys, n, sizeof(*keys), key_cmp);
	for (size_t k = 1; keys != NULL && k < n; k++) {
		if (key_cmp(&keys[k - 1], &keys[k]) == 0) {
			rc = parse_error(c, line,
					 "invalid JSON: duplicate key \"%.*s\" in the object at "
					 "offset %zu",
					 keys[k].len > QUOTE_MAX ? QUOTE_MAX : (int)keys[k].len,
					 keys[k].s, off);
			free(keys);
			return rc;
		}
	}
	free(keys);
	return parse_error(c, line,
			   "invalid JSON: duplicate key (one name written two ways) in the object "
			   "at offset %zu", off);
}

/* Walk v's objects in document order against the counts; *k is the next object's index. */
static int walk(json_object *v, const struct raw_objs *ro, size_t *k, size_t *bad)
{
	if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (walk(json_object_array_get_idx(v, i), ro, k, bad) < 0)
				return -1;
		return 0;
	}
	if (!json_object_is_type(v, json_type_object))
		return 0;
	if (*k >= ro->n || (size_t)json_object_object_length(v) != ro->members[*k]) {
		*bad = *k;
		return -1;
	}
	++*k;
	json_object_object_foreach(v, key, val) {
		(void)key;
		if (walk(val, ro, k, bad) < 0)
			return -1;
	}
	return 0;
}

static int check_keys(struct parse_ctx *c, size_t first, json_object *root)
{
	struct raw_objs ro = {0};
	size_t k = 0, bad = SIZE_MAX;
	int rc = -1;

	if (count_members(c, first, &ro) < 0)
		goto out;
	if (walk(root, &ro, &k, &bad) == 0 && k == ro.n) {
		rc = 0;
		goto out;
	}
	if (bad == SIZE_MAX)
		bad = k; /* json-c holds fewer objects: one was replaced by a later member */
	duplicate(c, object_offset(c, first, bad), bad < ro.n ? ro.members[bad] : 0);
out:
	free(ro.members);
	return rc;
}

/* Before json-c sees the bytes: not HTML, not empty, not too large, no NUL byte. */
static int check_raw(struct parse_ctx *c, size_t first)
{
	const char *z;

	if (parse_check_html(c, first) < 0)
		return -1;
	if (first == c->len)
		return parse_error(c, 0, "empty list");
	if (c->len - first > INT_MAX)
		return parse_error(c, 0, "JSON document too large");
	/* json-c stops at a NUL byte inside a string; real JSON never holds one raw. */
	if ((z = memchr(c->buf + first, '\0', c->len - first)) != NULL)
		return parse_error(c, parse_line_of(c, (size_t)(z - c->buf)),
				   "invalid JSON: NUL byte at offset %zu", (size_t)(z - c->buf));
	return 0;
}

/* One strict JSON document from first to the end (whitespace may follow) into *root. */
static int tokenize(struct parse_ctx *c, size_t first, json_object **root)
{
	struct json_tokener *tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
	enum json_tokener_error jerr;
	size_t end;
	int rc = -1;

	*root = NULL;
	if (tok == NULL)
		return cda_error_sys(c->err, CDA_ESYS, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	*root = json_tokener_parse_ex(tok, c->buf + first, (int)(c->len - first));
	jerr = json_tokener_get_error(tok);
	end = first + json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue) {
		parse_error(c, parse_line_of(c, c->len),
			    "invalid JSON: unexpected end of document (truncated?)");
		goto out;
	}
	if (jerr != json_tokener_success || *root == NULL) {
		parse_error(c, parse_line_of(c, end), "invalid JSON at offset %zu: %s", end,
			    json_tokener_error_desc(jerr));
		goto out;
	}
	while (end < c->len && parse_is_space(c->buf[end]))
		end++;
	if (end < c->len) {
		parse_error(c, parse_line_of(c, end), "invalid JSON: trailing data at offset %zu",
			    end);
		goto out;
	}
	rc = 0;
out:
	json_tokener_free(tok);
	return rc;
}

int parse_json_doc(struct parse_ctx *c, size_t first, json_object **root)
{
	if (check_raw(c, first) < 0 || tokenize(c, first, root) < 0)
		return -1;
	return check_keys(c, first, *root);
}
