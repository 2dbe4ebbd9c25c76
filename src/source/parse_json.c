// SPDX-License-Identifier: MIT
/* JSON payloads: the document, the providers' shapes, and the helpers they share. */
#include "parse_priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cda_error.h"
#include "parse.h"
#include "ranges.h"

/* JSON helpers. */

const char *parse_type_name(const json_object *v)
{
	return json_type_to_name(json_object_get_type(v));
}

/* Member key of obj with type t; missing is an error when required, else *out = NULL. */
static int member(struct parse_ctx *c, json_object *obj, const char *path, const char *key,
		  enum json_type t, bool required, json_object **out)
{
	const char *dot = path[0] != '\0' ? "." : "";
	json_object *v;

	*out = NULL;
	/* A null member counts as absent when optional and as the wrong type when required. */
	if (!json_object_object_get_ex(obj, key, &v) || (v == NULL && !required)) {
		if (required)
			return parse_error(c, 0, "%s%s%s: missing", path, dot, key);
		return 0;
	}
	if (json_object_get_type(v) != t)
		return parse_error(c, 0, "%s%s%s: expected %s, got %s", path, dot, key,
				   json_type_to_name(t), parse_type_name(v));
	*out = v;
	return 0;
}

int parse_add_json_string(struct parse_ctx *c, json_object *v, int fam, const char *path)
{
	if (!json_object_is_type(v, json_type_string))
		return parse_error(c, 0, "%s: expected string, got %s", path, parse_type_name(v));
	return parse_add_token(c, json_object_get_string(v), (size_t)json_object_get_string_len(v),
			       fam, 0, path);
}

/* Every element of arr (named path) must be an address or prefix of family fam. */
int parse_add_string_array(struct parse_ctx *c, json_object *arr, const char *path, int fam)
{
	size_t i, n = json_object_array_length(arr);
	char p[PATH_MAX_LEN + 24];

	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (parse_add_json_string(c, json_object_array_get_idx(arr, i), fam, p) < 0)
			return -1;
	}
	return 0;
}

static void set_token(struct parse_ctx *c, json_object *v)
{
	if (v == NULL)
		return;
	if (json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int))
		snprintf(c->info->token, sizeof(c->info->token), "%s", json_object_get_string(v));
}

/* Optional top-level change token: a string or an integer (Azure's changeNumber). */
static int token_member(struct parse_ctx *c, json_object *obj, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string) && !json_object_is_type(v, json_type_int))
		return parse_error(c, 0, "%s: expected string, got %s", key, parse_type_name(v));
	set_token(c, v);
	return 0;
}

/* Is s[0..len) one of the words of list (separated by spaces, tabs or commas)? */
static bool in_list(const char *list, const char *s, size_t len)
{
	const char *p = list;

	while (*p != '\0') {
		size_t n;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		n = strcspn(p, " \t,");
		if (n != 0 && n == len && memcmp(p, s, len) == 0)
			return true;
		p += n;
	}
	return false;
}

static bool list_empty(const char *list)
{
	return list == NULL || list[strspn(list, " \t,")] == '\0';
}

static int need_object(struct parse_ctx *c, json_object *v, const char *path)
{
	if (!json_object_is_type(v, json_type_object))
		return parse_error(c, 0, "%s: expected object, got %s",
				   path[0] != '\0' ? path : "top level", parse_type_name(v));
	return 0;
}

/*
 * The providers' JSON, as data. Most payloads are one or two arrays of prefixes, reached by
 * a path from the top, either holding the prefixes themselves or holding objects ("records")
 * that each hold one prefix (or a list of them) under a field, some of which count
 * (picked by a member against the words of "services"). What is unique to a provider (an
 * envelope reporting failure, an extra list) is a hook.
 */
enum pick {
	PICK_ALL,    /* every record */
	PICK_IN,     /* member key, a required string, is one of the words (AWS service) */
	PICK_FIRST,  /* the first record whose member key, a required string, is the word
			(Azure, one tag at a time); later ones are not read */
	PICK_TAGGED, /* member key, an optional array, holds one of the words (Oracle) */
};

struct json_list {
	const char *path;     /* from the top: "a.b" through objects, "a[].b" through each
				 element of a (an object); NULL ends the lists */
	bool by_word;         /* the array is the member the word names (GitHub groups) */
	const char *field[2]; /* member of each record holding its prefix; "a.b" through
				 objects; with two, each present one counts (Google); NULL:
				 the array holds the prefixes */
	int fam[2];           /* family of field[i] (or of the array's prefixes), 0 either */
	bool field_list;      /* the field holds an array of prefixes, not one (Azure) */
	bool need;            /* an empty array, or no prefix of a field's family, is an error */
	enum pick pick;       /* which records count, when there are words */
	const char *key;      /* the member pick looks at */
	const char *none;     /* with words, no record picked: this error (%s: the words) */
};

struct json_shape {
	enum list_format format;
	bool top_any; /* the top level need not be an object (Bunny, select) */
	int (*envelope)(struct parse_ctx *c, json_object *root); /* before the lists */
	const char *words;    /* "services" when not set; NULL: no picking */
	const char *per_word; /* read the lists once per word (their name in messages) */
	struct json_list lists[2];
	int (*after)(struct parse_ctx *c, json_object *root, const char *words);
	const char *token; /* optional top-level change token, read last */
	int (*walk)(struct parse_ctx *c, json_object *root); /* a shape of its own */
};

/* Does networks ask for jdcloud: 1 yes, 0 not set, -1 something else (CDA_ECONFIG). */
static int want_jdcloud(struct parse_ctx *c)
{
	const char *nets = c->o->networks;
	size_t a, n;

	if (list_empty(nets))
		return 0;
	a = strspn(nets, " \t,");
	n = strcspn(nets + a, " \t,");
	if (n == 7 && memcmp(nets + a, "jdcloud", 7) == 0 &&
	    nets[a + n + strspn(nets + a + n, " \t,")] == '\0')
		return 1;
	return cda_error_set(c->err, CDA_ECONFIG, "networks: only \"jdcloud\" is known");
}

/* {"success":false,"errors":[{"code":N,"message":"..."}]} is a failure; "result" an object. */
static int cloudflare_envelope(struct parse_ctx *c, json_object *root)
{
	json_object *ok, *res, *errs, *e0, *v;

	if (want_jdcloud(c) < 0 || member(c, root, "", "success", json_type_boolean, true, &ok) < 0)
		return -1;
	if (!json_object_get_boolean(ok)) {
		const char *msg = "no message";
		int64_t code = 0;

		if (json_object_object_get_ex(root, "errors", &errs) &&
		    json_object_is_type(errs, json_type_array) &&
		    json_object_array_length(errs) > 0 &&
		    (e0 = json_object_array_get_idx(errs, 0)) != NULL &&
		    json_object_is_type(e0, json_type_object)) {
			if (json_object_object_get_ex(e0, "message", &v) &&
			    json_object_is_type(v, json_type_string))
				msg = json_object_get_string(v);
			if (json_object_object_get_ex(e0, "code", &v) &&
			    json_object_is_type(v, json_type_int))
				code = json_object_get_int64(v);
		}
		return parse_error(c, 0, "API reported failure (success false): %" PRId64 " %.120s",
				   code, msg);
	}
	if (!json_object_object_get_ex(root, "result", &res) || res == NULL)
		return parse_error(c, 0, "result: missing or null");
	return need_object(c, res, "result");
}

static int walk_list(struct parse_ctx *c, const struct json_list *l, json_object *root,
		     const char *words);

/* networks = jdcloud adds result.jdcloud_cidrs; result.etag is the token. */
static int cloudflare_after(struct parse_ctx *c, json_object *root, const char *words)
{
	static const struct json_list jdcloud = {"result.jdcloud_cidrs", .need = true};
	json_object *res = json_object_object_get(root, "result"), *v;

	if (want_jdcloud(c) > 0 && walk_list(c, &jdcloud, root, NULL) < 0)
		return -1;
	if (member(c, res, "result", "etag", json_type_string, false, &v) < 0)
		return -1;
	set_token(c, v);
	return 0;
}

/* {"res":0,...}; anything else is a failure, with res_message. */
static int imperva_envelope(struct parse_ctx *c, json_object *root)
{
	json_object *res, *m;

	if (member(c, root, "", "res", json_type_int, true, &res) < 0)
		return -1;
	if (json_object_get_int64(res) != 0) {
		const char *msg = "no message";

		if (json_object_object_get_ex(root, "res_message", &m) &&
		    json_object_is_type(m, json_type_string))
			msg = json_object_get_string(m);
		return parse_error(c, 0, "API reported failure: res %" PRId64 ": %.120s",
				   json_object_get_int64(res), msg);
	}
	return 0;
}

/* The token comes before the check that the services matched anything. */
static int aws_after(struct parse_ctx *c, json_object *root, const char *words)
{
	if (token_member(c, root, "syncToken") < 0)
		return -1;
	if (c->info->entries == 0)
		return parse_error(c, 0, "no prefixes for services \"%.100s\"", words);
	return 0;
}

static int bunny_walk(struct parse_ctx *c, json_object *root)
{
	if (!json_object_is_type(root, json_type_array))
		return parse_error(c, 0, "top level: expected array, got %s",
				   parse_type_name(root));
	return parse_add_string_array(c, root, "", 0);
}

#define V4 CDA_AF_INET
#define V6 CDA_AF_INET6

static const struct json_shape shapes[] = {
	{FMT_CLOUDFLARE_API, .envelope = cloudflare_envelope, .after = cloudflare_after,
	 .lists = {{"result.ipv4_cidrs", .fam = {V4}, .need = true},
		   {"result.ipv6_cidrs", .fam = {V6}, .need = true}}},
	{FMT_AWS, .words = "CLOUDFRONT_ORIGIN_FACING", .after = aws_after,
	 .lists = {{"prefixes", .field = {"ip_prefix"}, .fam = {V4}, .pick = PICK_IN,
		    .key = "service"},
		   {"ipv6_prefixes", .field = {"ipv6_prefix"}, .fam = {V6}, .pick = PICK_IN,
		    .key = "service"}}},
	{FMT_FASTLY,
	 .lists = {{"addresses", .fam = {V4}, .need = true},
		   {"ipv6_addresses", .fam = {V6}, .need = true}}},
	{FMT_GOOGLE, .token = "syncToken",
	 .lists = {{"prefixes", .field = {"ipv4Prefix", "ipv6Prefix"}, .fam = {V4, V6},
		    .need = true}}},
	{FMT_BUNNY, .top_any = true, .walk = bunny_walk},
	{FMT_GCORE,
	 .lists = {{"addresses", .fam = {V4}, .need = true},
		   {"addresses_v6", .fam = {V6}, .need = true}}},
	{FMT_IMPERVA, .envelope = imperva_envelope,
	 .lists = {{"ipRanges", .fam = {V4}, .need = true},
		   {"ipv6Ranges", .fam = {V6}, .need = true}}},
	{FMT_CDN77, .token = "updated_at", .lists = {{"prefixes", .field = {"prefix"}}}},
	{FMT_GITHUB, .words = "hooks", .per_word = "groups", .lists = {{"", .by_word = true}}},
	{FMT_AZURE, .words = "AzureFrontDoor.Backend", .per_word = "tag", .token = "changeNumber",
	 .lists = {{"values", .field = {"properties.addressPrefixes"}, .field_list = true,
		    .pick = PICK_FIRST, .key = "name",
		    .none = "values: no service tag named \"%.100s\""}}},
	{FMT_ORACLE, .token = "last_updated_timestamp",
	 .lists = {{"regions[].cidrs", .field = {"cidr"}, .pick = PICK_TAGGED, .key = "tags",
		    .none = "no cidrs with tags \"%.100s\""}}},
	{FMT_JSON_SELECT, .top_any = true, .walk = parse_select},
};

#undef V4
#undef V6

/* 1: rec counts, 0: skip it, -1: error. */
static int pick(struct parse_ctx *c, const struct json_list *l, json_object *rec, const char *p,
		const char *words)
{
	json_object *v, *t;

	if (l->pick == PICK_ALL || words == NULL)
		return 1;
	if (l->pick == PICK_TAGGED) {
		if (!json_object_object_get_ex(rec, l->key, &v) ||
		    !json_object_is_type(v, json_type_array))
			return 0;
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			t = json_object_array_get_idx(v, i);
			if (json_object_is_type(t, json_type_string) &&
			    in_list(words, json_object_get_string(t),
				    (size_t)json_object_get_string_len(t)))
				return 1;
		}
		return 0;
	}
	if (member(c, rec, p, l->key, json_type_string, true, &v) < 0)
		return -1;
	/* by length: a name holding a NUL ("Tag\u0000Staging") is not the name before it */
	if (l->pick == PICK_FIRST)
		return (size_t)json_object_get_string_len(v) == strlen(words) &&
		       memcmp(json_object_get_string(v), words, strlen(words)) == 0;
	return in_list(words, json_object_get_string(v), (size_t)json_object_get_string_len(v));
}

/* The member at rel ("a" or "a.b") under obj, named base: each step required, objects on
 * the way, the last of type t; where gets its full name. */
static int lookup(struct parse_ctx *c, json_object *obj, const char *base, const char *rel,
		  enum json_type t, json_object **out, char *where)
{
	size_t n = strcspn(rel, ".");
	char name[64], at[PATH_MAX_LEN];

	if (n >= sizeof(name))
		return cda_error_set(c->err, CDA_ESYS, "parse: a field name is too long");
	memcpy(name, rel, n);
	name[n] = '\0';
	if (member(c, obj, base, name, rel[n] != '\0' ? json_type_object : t, true, out) < 0)
		return -1;
	snprintf(at, sizeof(at), "%s%s%s", base, base[0] != '\0' ? "." : "", name);
	if (rel[n] == '\0') {
		memcpy(where, at, sizeof(at));
		return 0;
	}
	return lookup(c, *out, at, rel + n + 1, t, out, where);
}

/* The prefix (or list of them) of one record named p: with two fields, each one present
 * (Google's records may hold both ipv4Prefix and ipv6Prefix), at least one. */
static int add_field(struct parse_ctx *c, const struct json_list *l, json_object *rec,
		     const char *p)
{
	enum json_type t = l->field_list ? json_type_array : json_type_string;
	char where[PATH_MAX_LEN] = "";
	json_object *v = NULL;
	int found = 0;

	for (int k = 0; k < 2 && l->field[k] != NULL; k++) {
		if (l->field[1] != NULL && !json_object_object_get_ex(rec, l->field[k], NULL))
			continue;
		found++;
		if (lookup(c, rec, p, l->field[k], t, &v, where) < 0)
			return -1;
		if ((l->field_list ? parse_add_string_array(c, v, where, l->fam[k])
				   : parse_add_json_string(c, v, l->fam[k], where)) < 0)
			return -1;
	}
	if (found == 0)
		return parse_error(c, 0, "%s: neither %s nor %s", p, l->field[0], l->field[1]);
	return 0;
}

/* The array arr, named path, of list l: its prefixes, or its records' ones. */
static int add_items(struct parse_ctx *c, const struct json_list *l, json_object *arr,
		     const char *path, const char *words, size_t *picked)
{
	size_t n = json_object_array_length(arr), had4 = c->info->entries_v4,
	       had6 = c->info->entries_v6;
	char p[PATH_MAX_LEN];

	if (l->field[0] == NULL) {
		if (l->need && n == 0)
			return parse_error(c, 0, "%s: empty list", path);
		return parse_add_string_array(c, arr, path, l->fam[0]);
	}
	for (size_t i = 0; i < n; i++) {
		json_object *rec = json_object_array_get_idx(arr, i);
		int r;

		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (need_object(c, rec, p) < 0 || (r = pick(c, l, rec, p, words)) < 0)
			return -1;
		if (r == 0)
			continue;
		++*picked;
		if (add_field(c, l, rec, p) < 0)
			return -1;
		if (l->pick == PICK_FIRST && words != NULL)
			break;
	}
	for (int k = 0; l->need && k < 2 && l->field[k] != NULL; k++)
		if ((l->fam[k] == CDA_AF_INET && c->info->entries_v4 == had4) ||
		    (l->fam[k] == CDA_AF_INET6 && c->info->entries_v6 == had6))
			return parse_error(c, 0, "%s: no %s entries", path, l->field[k]);
	return 0;
}

/* Follow rest (a part of l->path) from obj, named base, to the array it names. */
static int walk_path(struct parse_ctx *c, const struct json_list *l, json_object *obj,
		     const char *base, const char *rest, const char *words, size_t *picked)
{
	size_t n = strcspn(rest, ".[");
	bool iter = rest[n] == '[', last = rest[n] == '\0';
	char name[64], at[PATH_MAX_LEN], p[PATH_MAX_LEN + 24];
	json_object *v;

	if (n >= sizeof(name))
		return cda_error_set(c->err, CDA_ESYS, "parse: a path step is too long");
	memcpy(name, rest, n);
	name[n] = '\0';
	if (member(c, obj, base, name, last || iter ? json_type_array : json_type_object, true,
		   &v) < 0)
		return -1;
	snprintf(at, sizeof(at), "%s%s%s", base, base[0] != '\0' ? "." : "", name);
	if (last)
		return add_items(c, l, v, at, words, picked);
	if (!iter)
		return walk_path(c, l, v, at, rest + n + 1, words, picked);
	/* "a[].b": b in every element of a */
	rest += n + 2 + (rest[n + 2] == '.');
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *el = json_object_array_get_idx(v, i);

		snprintf(p, sizeof(p), "%s[%zu]", at, i);
		if (need_object(c, el, p) < 0 || walk_path(c, l, el, p, rest, words, picked) < 0)
			return -1;
	}
	return 0;
}

static int walk_list(struct parse_ctx *c, const struct json_list *l, json_object *root,
		     const char *words)
{
	size_t picked = 0;
	json_object *arr;

	if (l->by_word) { /* one member name, whatever characters the word holds */
		if (member(c, root, "", words, json_type_array, true, &arr) < 0)
			return -1;
		return add_items(c, l, arr, words, words, &picked);
	}
	if (walk_path(c, l, root, "", l->path, words, &picked) < 0)
		return -1;
	if (l->none != NULL && words != NULL && picked == 0)
		return parse_error(c, 0, l->none, words);
	return 0;
}

static int walk_lists(struct parse_ctx *c, const struct json_shape *s, json_object *root,
		      const char *words)
{
	for (size_t i = 0; i < 2 && s->lists[i].path != NULL; i++)
		if (walk_list(c, &s->lists[i], root, words) < 0)
			return -1;
	return 0;
}

/* The lists once per word of words (as a NUL-terminated copy; over 127 bytes refused). */
static int each_word(struct parse_ctx *c, const struct json_shape *s, json_object *root,
		     const char *words)
{
	const char *p = words;
	char w[128];

	while (*p != '\0') {
		size_t n;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		n = strcspn(p, " \t,");
		if (n == 0)
			break;
		if (n >= sizeof(w))
			return cda_error_set(c->err, CDA_ECONFIG, "%s: a name is too long",
					     s->per_word);
		memcpy(w, p, n);
		w[n] = '\0';
		if (walk_lists(c, s, root, w) < 0)
			return -1;
		p += n;
	}
	return 0;
}

static int read_shape(struct parse_ctx *c, const struct json_shape *s, json_object *root)
{
	const char *words = list_empty(c->o->services) ? s->words : c->o->services;

	if (!s->top_any && need_object(c, root, "") < 0)
		return -1;
	if (s->walk != NULL)
		return s->walk(c, root);
	if (s->envelope != NULL && s->envelope(c, root) < 0)
		return -1;
	if ((s->per_word != NULL ? each_word(c, s, root, words) : walk_lists(c, s, root, words)) <
	    0)
		return -1;
	if (s->after != NULL && s->after(c, root, words) < 0)
		return -1;
	return s->token != NULL ? token_member(c, root, s->token) : 0;
}

static const struct json_shape *shape_of(enum list_format f)
{
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		if (shapes[i].format == f)
			return &shapes[i];
	return NULL;
}

int parse_check_opts(const struct parse_opts *o, const char **key, struct cda_error *err)
{
	struct parse_ctx c = {.o = o, .err = err};
	const struct json_shape *s = shape_of(o->format);
	const char *p = o->services;

	*key = NULL;
	if (o->format == FMT_JSON_SELECT && parse_select_check(o, err) < 0) {
		*key = strncmp(err->msg, "where:", 6) == 0 ? "where" : "select";
		return -1;
	}
	if (o->format == FMT_CLOUDFLARE_API && want_jdcloud(&c) < 0) {
		*key = "networks";
		return -1;
	}
	/* each_word() takes names of up to 127 bytes */
	while (s != NULL && s->per_word != NULL && p != NULL && *p != '\0') {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n >= 128) {
			*key = s->per_word;
			return cda_error_set(err, CDA_ECONFIG, "%s: a name is too long (at most 127 "
					     "bytes)", s->per_word);
		}
		p += n;
	}
	return 0;
}

int parse_json(struct parse_ctx *c)
{
	size_t first = parse_skip_lead(c);
	const struct json_shape *s = shape_of(c->o->format);
	json_object *root = NULL;
	int rc = -1;

	if (s == NULL)
		return cda_error_set(c->err, CDA_ECONFIG, "no JSON reader for list format %d",
				     (int)c->o->format);
	if (parse_json_doc(c, first, &root) < 0)
		goto out;
	rc = read_shape(c, s, root);
	if (rc == 0 && c->info->entries == 0)
		rc = parse_error(c, 0, "empty list");
out:
	json_object_put(root);
	return rc;
}
