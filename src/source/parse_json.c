// SPDX-License-Identifier: MIT
/* JSON payloads: the document, the providers' shapes, and the helpers they share. */
#include "parse_priv.h"

#include <inttypes.h>
#include <limits.h>
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

/* obj.key must be an array of prefixes of family fam; non-empty when need. */
static int family_list(struct parse_ctx *c, json_object *obj, const char *path, const char *key,
		       int fam, bool need)
{
	char p[PATH_MAX_LEN];
	json_object *arr;

	snprintf(p, sizeof(p), "%s%s%s", path, path[0] != '\0' ? "." : "", key);
	if (member(c, obj, path, key, json_type_array, true, &arr) < 0)
		return -1;
	if (need && json_object_array_length(arr) == 0)
		return parse_error(c, 0, "%s: empty list", p);
	return parse_add_string_array(c, arr, p, fam);
}

/* {"<v4key>":[...],"<v6key>":[...]}: both required and non-empty (Fastly, Gcore). */
static int two_lists(struct parse_ctx *c, json_object *root, const char *v4key, const char *v6key)
{
	if (family_list(c, root, "", v4key, CDA_AF_INET, true) < 0 ||
	    family_list(c, root, "", v6key, CDA_AF_INET6, true) < 0)
		return -1;
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

static int parse_cloudflare(struct parse_ctx *c, json_object *root)
{
	json_object *ok, *res, *errs, *e0, *v;
	const char *nets = c->o->networks;
	bool jd = false;

	if (!list_empty(nets)) {
		size_t a = strspn(nets, " \t,"), n = strcspn(nets + a, " \t,");

		jd = n == 7 && memcmp(nets + a, "jdcloud", 7) == 0 &&
		     nets[a + n + strspn(nets + a + n, " \t,")] == '\0';
		if (!jd)
			return cda_error_set(c->err, CDA_ECONFIG,
					     "networks: only \"jdcloud\" is known");
	}
	if (member(c, root, "", "success", json_type_boolean, true, &ok) < 0)
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
	if (need_object(c, res, "result") < 0)
		return -1;
	if (family_list(c, res, "result", "ipv4_cidrs", CDA_AF_INET, true) < 0 ||
	    family_list(c, res, "result", "ipv6_cidrs", CDA_AF_INET6, true) < 0)
		return -1;
	if (jd && family_list(c, res, "result", "jdcloud_cidrs", 0, true) < 0)
		return -1;
	if (member(c, res, "result", "etag", json_type_string, false, &v) < 0)
		return -1;
	set_token(c, v);
	return 0;
}

static int parse_aws_list(struct parse_ctx *c, json_object *root, const char *key, const char *pkey,
			  int fam, const char *services)
{
	char p[PATH_MAX_LEN];
	json_object *arr, *rec, *svc, *pfx;
	size_t i, n;

	if (member(c, root, "", key, json_type_array, true, &arr) < 0)
		return -1;
	n = json_object_array_length(arr);
	for (i = 0; i < n; i++) {
		rec = json_object_array_get_idx(arr, i);
		snprintf(p, sizeof(p), "%s[%zu]", key, i);
		if (need_object(c, rec, p) < 0 ||
		    member(c, rec, p, "service", json_type_string, true, &svc) < 0)
			return -1;
		if (!in_list(services, json_object_get_string(svc),
			     (size_t)json_object_get_string_len(svc)))
			continue;
		if (member(c, rec, p, pkey, json_type_string, true, &pfx) < 0)
			return -1;
		snprintf(p, sizeof(p), "%s[%zu].%s", key, i, pkey);
		if (parse_add_json_string(c, pfx, fam, p) < 0)
			return -1;
	}
	return 0;
}

static int parse_aws(struct parse_ctx *c, json_object *root)
{
	const char *services =
		list_empty(c->o->services) ? "CLOUDFRONT_ORIGIN_FACING" : c->o->services;

	if (parse_aws_list(c, root, "prefixes", "ip_prefix", CDA_AF_INET, services) < 0 ||
	    parse_aws_list(c, root, "ipv6_prefixes", "ipv6_prefix", CDA_AF_INET6, services) < 0 ||
	    token_member(c, root, "syncToken") < 0)
		return -1;
	if (c->info->entries == 0)
		return parse_error(c, 0, "no prefixes for services \"%.100s\"", services);
	return 0;
}

static int parse_google(struct parse_ctx *c, json_object *root)
{
	char p[PATH_MAX_LEN];
	json_object *arr, *rec, *v;
	size_t i, n;

	if (member(c, root, "", "prefixes", json_type_array, true, &arr) < 0)
		return -1;
	n = json_object_array_length(arr);
	for (i = 0; i < n; i++) {
		rec = json_object_array_get_idx(arr, i);
		snprintf(p, sizeof(p), "prefixes[%zu]", i);
		if (need_object(c, rec, p) < 0)
			return -1;
		if (json_object_object_get_ex(rec, "ipv4Prefix", &v)) {
			snprintf(p, sizeof(p), "prefixes[%zu].ipv4Prefix", i);
			if (parse_add_json_string(c, v, CDA_AF_INET, p) < 0)
				return -1;
		} else if (json_object_object_get_ex(rec, "ipv6Prefix", &v)) {
			snprintf(p, sizeof(p), "prefixes[%zu].ipv6Prefix", i);
			if (parse_add_json_string(c, v, CDA_AF_INET6, p) < 0)
				return -1;
		} else {
			return parse_error(c, 0, "%s: neither ipv4Prefix nor ipv6Prefix", p);
		}
	}
	if (c->info->entries_v4 == 0)
		return parse_error(c, 0, "prefixes: no ipv4Prefix entries");
	if (c->info->entries_v6 == 0)
		return parse_error(c, 0, "prefixes: no ipv6Prefix entries");
	return token_member(c, root, "syncToken");
}

static int parse_imperva(struct parse_ctx *c, json_object *root)
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
	if (family_list(c, root, "", "ipRanges", CDA_AF_INET, true) < 0 ||
	    family_list(c, root, "", "ipv6Ranges", CDA_AF_INET6, true) < 0)
		return -1;
	return 0;
}

static int parse_cdn77(struct parse_ctx *c, json_object *root)
{
	char p[PATH_MAX_LEN];
	json_object *arr, *rec, *v;
	size_t i, n;

	if (member(c, root, "", "prefixes", json_type_array, true, &arr) < 0)
		return -1;
	n = json_object_array_length(arr);
	for (i = 0; i < n; i++) {
		rec = json_object_array_get_idx(arr, i);
		snprintf(p, sizeof(p), "prefixes[%zu]", i);
		if (need_object(c, rec, p) < 0 ||
		    member(c, rec, p, "prefix", json_type_string, true, &v) < 0)
			return -1;
		snprintf(p, sizeof(p), "prefixes[%zu].prefix", i);
		if (parse_add_json_string(c, v, 0, p) < 0)
			return -1;
	}
	return token_member(c, root, "updated_at");
}

/* Calls fn for each word of list (as a NUL-terminated copy, words over 127 bytes refused). */
static int each_word(struct parse_ctx *c, const char *list, const char *what,
		     int (*fn)(struct parse_ctx *c, json_object *root, const char *word),
		     json_object *root)
{
	const char *p = list;
	char w[128];

	while (*p != '\0') {
		size_t n;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		n = strcspn(p, " \t,");
		if (n == 0)
			break;
		if (n >= sizeof(w))
			return cda_error_set(c->err, CDA_ECONFIG, "%s: a name is too long", what);
		memcpy(w, p, n);
		w[n] = '\0';
		if (fn(c, root, w) < 0)
			return -1;
		p += n;
	}
	return 0;
}

static int github_group(struct parse_ctx *c, json_object *root, const char *group)
{
	json_object *arr;

	if (member(c, root, "", group, json_type_array, true, &arr) < 0)
		return -1;
	return parse_add_string_array(c, arr, group, 0);
}

static int parse_github(struct parse_ctx *c, json_object *root)
{
	const char *groups = list_empty(c->o->services) ? "hooks" : c->o->services;

	return each_word(c, groups, "groups", github_group, root);
}

static int azure_tag(struct parse_ctx *c, json_object *root, const char *tag)
{
	char p[PATH_MAX_LEN];
	json_object *arr, *rec, *name, *props, *pfx;
	size_t i, n;

	if (member(c, root, "", "values", json_type_array, true, &arr) < 0)
		return -1;
	n = json_object_array_length(arr);
	for (i = 0; i < n; i++) {
		rec = json_object_array_get_idx(arr, i);
		snprintf(p, sizeof(p), "values[%zu]", i);
		if (need_object(c, rec, p) < 0 ||
		    member(c, rec, p, "name", json_type_string, true, &name) < 0)
			return -1;
		if (strcmp(json_object_get_string(name), tag) != 0)
			continue;
		if (member(c, rec, p, "properties", json_type_object, true, &props) < 0)
			return -1;
		snprintf(p, sizeof(p), "values[%zu].properties", i);
		if (member(c, props, p, "addressPrefixes", json_type_array, true, &pfx) < 0)
			return -1;
		snprintf(p, sizeof(p), "values[%zu].properties.addressPrefixes", i);
		return parse_add_string_array(c, pfx, p, 0);
	}
	return parse_error(c, 0, "values: no service tag named \"%.100s\"", tag);
}

static int parse_azure(struct parse_ctx *c, json_object *root)
{
	const char *tags = list_empty(c->o->services) ? "AzureFrontDoor.Backend" : c->o->services;

	if (each_word(c, tags, "tag", azure_tag, root) < 0)
		return -1;
	return token_member(c, root, "changeNumber");
}

static bool oracle_tag_match(json_object *rec, const char *tags)
{
	json_object *arr, *t;
	size_t i, n;

	if (!json_object_object_get_ex(rec, "tags", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return false;
	n = json_object_array_length(arr);
	for (i = 0; i < n; i++) {
		t = json_object_array_get_idx(arr, i);
		if (json_object_is_type(t, json_type_string) &&
		    in_list(tags, json_object_get_string(t), (size_t)json_object_get_string_len(t)))
			return true;
	}
	return false;
}

static int parse_oracle(struct parse_ctx *c, json_object *root)
{
	const char *tags = list_empty(c->o->services) ? NULL : c->o->services;
	char p[PATH_MAX_LEN];
	json_object *regions, *reg, *cidrs, *rec, *v;
	size_t i, j, n, m;

	if (member(c, root, "", "regions", json_type_array, true, &regions) < 0)
		return -1;
	n = json_object_array_length(regions);
	for (i = 0; i < n; i++) {
		reg = json_object_array_get_idx(regions, i);
		snprintf(p, sizeof(p), "regions[%zu]", i);
		if (need_object(c, reg, p) < 0 ||
		    member(c, reg, p, "cidrs", json_type_array, true, &cidrs) < 0)
			return -1;
		m = json_object_array_length(cidrs);
		for (j = 0; j < m; j++) {
			rec = json_object_array_get_idx(cidrs, j);
			snprintf(p, sizeof(p), "regions[%zu].cidrs[%zu]", i, j);
			if (need_object(c, rec, p) < 0)
				return -1;
			if (tags != NULL && !oracle_tag_match(rec, tags))
				continue;
			if (member(c, rec, p, "cidr", json_type_string, true, &v) < 0)
				return -1;
			snprintf(p, sizeof(p), "regions[%zu].cidrs[%zu].cidr", i, j);
			if (parse_add_json_string(c, v, 0, p) < 0)
				return -1;
		}
	}
	if (c->info->entries == 0 && tags != NULL)
		return parse_error(c, 0, "no cidrs with tags \"%.100s\"", tags);
	return token_member(c, root, "last_updated_timestamp");
}

int parse_json(struct parse_ctx *c)
{
	size_t first = parse_skip_lead(c), end;
	struct json_tokener *tok = NULL;
	enum json_tokener_error jerr;
	json_object *root = NULL;
	int rc = -1;

	if (parse_check_html(c, first) < 0)
		return -1;
	if (first == c->len)
		return parse_error(c, 0, "empty list");
	if (c->len - first > INT_MAX)
		return parse_error(c, 0, "JSON document too large");
	/* json-c stops at a NUL byte inside a string; real JSON never holds one raw. */
	if (memchr(c->buf + first, '\0', c->len - first) != NULL) {
		const char *z = memchr(c->buf + first, '\0', c->len - first);

		return parse_error(c, parse_line_of(c, (size_t)(z - c->buf)),
				   "invalid JSON: NUL byte at offset %zu", (size_t)(z - c->buf));
	}
	tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
	if (tok == NULL)
		return cda_error_sys(c->err, CDA_ESYS, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, c->buf + first, (int)(c->len - first));
	jerr = json_tokener_get_error(tok);
	end = first + json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue) {
		parse_error(c, parse_line_of(c, c->len),
			    "invalid JSON: unexpected end of document "
			    "(truncated?)");
		goto out;
	}
	if (jerr != json_tokener_success || root == NULL) {
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
	if (c->o->format != FMT_BUNNY && c->o->format != FMT_JSON_SELECT &&
	    need_object(c, root, "") < 0)
		goto out;

	switch (c->o->format) {
	case FMT_CLOUDFLARE_API:
		rc = parse_cloudflare(c, root);
		break;
	case FMT_AWS:
		rc = parse_aws(c, root);
		break;
	case FMT_FASTLY:
		rc = two_lists(c, root, "addresses", "ipv6_addresses");
		break;
	case FMT_GOOGLE:
		rc = parse_google(c, root);
		break;
	case FMT_BUNNY:
		if (!json_object_is_type(root, json_type_array)) {
			parse_error(c, 0, "top level: expected array, got %s",
				    parse_type_name(root));
			goto out;
		}
		rc = parse_add_string_array(c, root, "", 0);
		break;
	case FMT_GCORE:
		rc = two_lists(c, root, "addresses", "addresses_v6");
		break;
	case FMT_IMPERVA:
		rc = parse_imperva(c, root);
		break;
	case FMT_CDN77:
		rc = parse_cdn77(c, root);
		break;
	case FMT_GITHUB:
		rc = parse_github(c, root);
		break;
	case FMT_AZURE:
		rc = parse_azure(c, root);
		break;
	case FMT_ORACLE:
		rc = parse_oracle(c, root);
		break;
	case FMT_JSON_SELECT:
		rc = parse_select(c, root);
		break;
	case FMT_TEXT:
		break;
	}
	if (rc == 0 && c->info->entries == 0)
		rc = parse_error(c, 0, "empty list");
out:
	json_object_put(root);
	json_tokener_free(tok);
	return rc;
}
