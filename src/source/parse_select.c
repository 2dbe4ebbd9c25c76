// SPDX-License-Identifier: MIT
/* FMT_JSON_SELECT: the select/where path language over any JSON document. */
#include "parse_priv.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cda_error.h"
#include "parse.h"

/*
 * FMT_JSON_SELECT: a tiny selector language.
 *
 *   select := step ( '.' step )*
 *   step   := name ( '[]' )*  |  ( '[]' )+
 *   name   := one or more bytes other than '.', '[', ']'
 *   where  := key '=' value ( '|' value )*
 *
 * Each name looks up an object member; each '[]' iterates the elements of an array. The
 * selected value must be a string or an array of strings, each an address or prefix (both
 * families). "where" keeps only the elements iterated by the LAST '[]' that are objects
 * whose member key is a scalar spelled exactly like one of the values; a member missing
 * inside an iterated element skips that element; a type mismatch is an error. Examples:
 *   select = prefixes[].ip_prefix    where = service=CLOUDFRONT|CLOUDFRONT_ORIGIN_FACING
 *   select = values[].properties.addressPrefixes    where = name=AzureFrontDoor.Backend
 *   select = []                      (a top-level array of addresses)
 *   select = regions[].cidrs[].cidr
 */
struct selector {
	const char *sel;
	const char *last_iter;   /* position of the last "[]" in sel, or NULL */
	const char *wkey, *wval; /* where: key (wkeylen bytes), values (NUL-terminated) */
	size_t wkeylen;
};

static int sel_check(struct parse_ctx *c, struct selector *s)
{
	const char *p = s->sel, *eq;
	bool empty_step = true;

	if (p == NULL || *p == '\0')
		return cda_error_set(c->err, CDA_ECONFIG, "select: missing (e.g. a.b[].c)");
	for (; *p != '\0'; p++) {
		if (*p == '[') {
			if (p[1] != ']')
				return cda_error_set(c->err, CDA_ECONFIG,
						     "select: '[' must be followed by ']'");
			s->last_iter = p++;
			empty_step = false;
		} else if (*p == ']') {
			return cda_error_set(c->err, CDA_ECONFIG, "select: stray ']'");
		} else if (*p == '.') {
			if (empty_step)
				return cda_error_set(c->err, CDA_ECONFIG, "select: empty step");
			empty_step = true;
		} else {
			if (p > s->sel && p[-1] == ']')
				return cda_error_set(c->err, CDA_ECONFIG,
						     "select: a name after '[]' needs a '.'");
			empty_step = false;
		}
	}
	if (empty_step)
		return cda_error_set(c->err, CDA_ECONFIG, "select: empty step");
	if (c->o->where != NULL && c->o->where[0] != '\0') {
		eq = strchr(c->o->where, '=');
		if (eq == NULL || eq == c->o->where)
			return cda_error_set(c->err, CDA_ECONFIG, "where: expected key=value");
		if (s->last_iter == NULL)
			return cda_error_set(c->err, CDA_ECONFIG, "where: select has no []");
		s->wkey = c->o->where;
		s->wkeylen = (size_t)(eq - c->o->where);
		s->wval = eq + 1;
	}
	return 0;
}

static bool sel_where(const struct selector *s, json_object *el)
{
	char key[128];
	json_object *v;
	const char *txt, *p;
	size_t n;

	if (!json_object_is_type(el, json_type_object) || s->wkeylen >= sizeof(key))
		return false;
	memcpy(key, s->wkey, s->wkeylen);
	key[s->wkeylen] = '\0';
	if (!json_object_object_get_ex(el, key, &v) || v == NULL ||
	    json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array))
		return false;
	txt = json_object_get_string(v);
	/* a string by its length: "A\u0000B" is not "A" */
	n = json_object_is_type(v, json_type_string) ? (size_t)json_object_get_string_len(v)
						     : strlen(txt);
	for (p = s->wval;; p++) {
		size_t l = strcspn(p, "|");

		if (l == n && memcmp(p, txt, n) == 0)
			return true;
		p += l;
		if (*p == '\0')
			return false;
	}
}

static int sel_walk(struct parse_ctx *c, const struct selector *s, json_object *v, const char *p,
		    char *path, size_t plen, bool in_iter)
{
	size_t n, i, len;
	json_object *m;
	char name[128];

	if (*p == '.')
		p++;
	if (*p == '\0') {
		if (json_object_is_type(v, json_type_array))
			return parse_add_string_array(c, v, path, 0);
		return parse_add_json_string(c, v, 0, path);
	}
	if (p[0] == '[') {
		const char *next = p + 2;

		if (!json_object_is_type(v, json_type_array))
			return parse_error(c, 0, "%s: expected array, got %s",
					   plen != 0 ? path : "top level", parse_type_name(v));
		n = json_object_array_length(v);
		for (i = 0; i < n; i++) {
			json_object *el = json_object_array_get_idx(v, i);

			if (p == s->last_iter && s->wkey != NULL && !sel_where(s, el))
				continue;
			snprintf(path + plen, PATH_MAX_LEN - plen, "[%zu]", i);
			len = plen + strlen(path + plen);
			if (sel_walk(c, s, el, next, path, len, true) < 0)
				return -1;
			path[plen] = '\0';
		}
		return 0;
	}
	n = strcspn(p, ".[");
	if (n >= sizeof(name))
		return cda_error_set(c->err, CDA_ECONFIG, "select: a name is too long");
	memcpy(name, p, n);
	name[n] = '\0';
	if (!json_object_is_type(v, json_type_object))
		return parse_error(c, 0, "%s: expected object, got %s",
				   plen != 0 ? path : "top level", parse_type_name(v));
	if (!json_object_object_get_ex(v, name, &m)) {
		if (in_iter)
			return 0;
		return parse_error(c, 0, "%s%s%s: missing", path, plen != 0 ? "." : "", name);
	}
	snprintf(path + plen, PATH_MAX_LEN - plen, "%s%s", plen != 0 ? "." : "", name);
	len = plen + strlen(path + plen);
	if (sel_walk(c, s, m, p + n, path, len, in_iter) < 0)
		return -1;
	path[plen] = '\0';
	return 0;
}

int parse_select_check(const struct parse_opts *o, struct cda_error *err)
{
	struct parse_ctx c = {.o = o, .err = err};
	struct selector s = {.sel = o->select};

	return sel_check(&c, &s);
}

int parse_select(struct parse_ctx *c, json_object *root)
{
	struct selector s = {.sel = c->o->select};
	char path[PATH_MAX_LEN + 24] = "";

	if (sel_check(c, &s) < 0 || sel_walk(c, &s, root, s.sel, path, 0, false) < 0)
		return -1;
	if (c->info->entries == 0)
		return parse_error(c, 0, "select \"%.80s\"%s%.80s found no values", s.sel,
				   s.wkey != NULL ? " where " : "",
				   s.wkey != NULL ? c->o->where : "");
	return 0;
}
