// SPDX-License-Identifier: MIT
#include "parse.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cda_error.h"
#include "ranges.h"

/* Quoted tokens in messages are cut here so a whole HTML line never fills the message. */
#define QUOTE_MAX 60
#define PATH_MAX_LEN 160

struct ctx {
	const char *buf;
	size_t len;
	const struct parse_opts *o;
	struct ranges *out;
	struct parse_info *info;
	struct cda_error *err;
};

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

static bool is_space(char ch)
{
	return is_blank(ch) || ch == '\n';
}

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

static unsigned int line_of(const struct ctx *c, size_t off)
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
static unsigned int json_string_line(const struct ctx *c, const char *s, size_t len)
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
	return hit != NULL ? line_of(c, (size_t)(hit - c->buf)) : 0;
}

static int data_error(struct ctx *c, unsigned int line, const char *fmt, ...) CDA_PRINTF(3, 4);

static int data_error(struct ctx *c, unsigned int line, const char *fmt, ...)
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
static int add_token(struct ctx *c, const char *s, size_t len, int fam, unsigned int line,
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
		return data_error(c, line, "%s%s\"%s\" is not an IP address or prefix", pre, sep,
				  quote(q, sizeof(q), s, len));
	}
	if (fam != 0 && cd.family != fam) {
		if (path != NULL)
			line = json_string_line(c, s, len);
		return data_error(c, line, "%s%s\"%s\" is IPv%d in a list of IPv%d prefixes", pre,
				  sep, quote(q, sizeof(q), s, len), cd.family, fam);
	}
	if (cd.family == CDA_AF_INET ? (c->o->broadest_v4 != 0 && cd.plen < c->o->broadest_v4)
				     : (c->o->broadest_v6 != 0 && cd.plen < c->o->broadest_v6)) {
		if (path != NULL)
			line = json_string_line(c, s, len);
		return data_error(c, line,
				  "%s%s\"%s\" is broader than /%u, the broadest prefix "
				  "this source may publish",
				  pre, sep, quote(q, sizeof(q), s, len),
				  cd.family == CDA_AF_INET ? c->o->broadest_v4 : c->o->broadest_v6);
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
static size_t skip_lead(const struct ctx *c)
{
	size_t i = 0;

	if (c->len >= 3 && memcmp(c->buf, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < c->len && is_space(c->buf[i]))
		i++;
	return i;
}

static int check_html(struct ctx *c, size_t first)
{
	if (first < c->len && c->buf[first] == '<')
		return data_error(c, line_of(c, first), "looks like an HTML page, not a list");
	return 0;
}

/*
 * Text: one token per line. Lines are split on '\n' only; spaces, tabs and '\r' around a
 * token are dropped, '#' starts a comment at the start of a line or after a blank. The
 * loop touches each byte a constant number of times and allocates nothing per line.
 */
static int parse_text(struct ctx *c)
{
	size_t first = skip_lead(c);
	const char *p = c->buf + first, *end = c->buf + c->len;
	unsigned int line;

	if (check_html(c, first) < 0)
		return -1;
	/* Counting restarts at the first token's line; the loop adds one per line. */
	line = first < c->len ? line_of(c, first) - 1 : 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *s = p, *e = nl != NULL ? nl : end, *h;

		line++;
		p = nl != NULL ? nl + 1 : end;
		while (s < e && is_blank(*s))
			s++;
		if (s == e || *s == '#')
			continue;
		h = memchr(s, '#', (size_t)(e - s));
		if (h != NULL && is_blank(h[-1]))
			e = h;
		while (e > s && is_blank(e[-1]))
			e--;
		if (add_token(c, s, (size_t)(e - s), 0, line, NULL) < 0)
			return -1;
	}
	if (c->info->entries == 0)
		return data_error(c, 0, "empty list");
	return 0;
}

/* JSON helpers. */

static const char *type_name(const json_object *v)
{
	return json_type_to_name(json_object_get_type(v));
}

/* Member key of obj with type t; missing is an error when required, else *out = NULL. */
static int member(struct ctx *c, json_object *obj, const char *path, const char *key,
		  enum json_type t, bool required, json_object **out)
{
	const char *dot = path[0] != '\0' ? "." : "";
	json_object *v;

	*out = NULL;
	/* A null member counts as absent when optional and as the wrong type when required. */
	if (!json_object_object_get_ex(obj, key, &v) || (v == NULL && !required)) {
		if (required)
			return data_error(c, 0, "%s%s%s: missing", path, dot, key);
		return 0;
	}
	if (json_object_get_type(v) != t)
		return data_error(c, 0, "%s%s%s: expected %s, got %s", path, dot, key,
				  json_type_to_name(t), type_name(v));
	*out = v;
	return 0;
}

static int add_json_string(struct ctx *c, json_object *v, int fam, const char *path)
{
	if (!json_object_is_type(v, json_type_string))
		return data_error(c, 0, "%s: expected string, got %s", path, type_name(v));
	return add_token(c, json_object_get_string(v), (size_t)json_object_get_string_len(v), fam,
			 0, path);
}

/* Every element of arr (named path) must be an address or prefix of family fam. */
static int add_string_array(struct ctx *c, json_object *arr, const char *path, int fam)
{
	size_t i, n = json_object_array_length(arr);
	char p[PATH_MAX_LEN + 24];

	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (add_json_string(c, json_object_array_get_idx(arr, i), fam, p) < 0)
			return -1;
	}
	return 0;
}

/* obj.key must be an array of prefixes of family fam; non-empty when need. */
static int family_list(struct ctx *c, json_object *obj, const char *path, const char *key, int fam,
		       bool need)
{
	char p[PATH_MAX_LEN];
	json_object *arr;

	snprintf(p, sizeof(p), "%s%s%s", path, path[0] != '\0' ? "." : "", key);
	if (member(c, obj, path, key, json_type_array, true, &arr) < 0)
		return -1;
	if (need && json_object_array_length(arr) == 0)
		return data_error(c, 0, "%s: empty list", p);
	return add_string_array(c, arr, p, fam);
}

/* {"<v4key>":[...],"<v6key>":[...]}: both required and non-empty (Fastly, Gcore). */
static int two_lists(struct ctx *c, json_object *root, const char *v4key, const char *v6key)
{
	if (family_list(c, root, "", v4key, CDA_AF_INET, true) < 0 ||
	    family_list(c, root, "", v6key, CDA_AF_INET6, true) < 0)
		return -1;
	return 0;
}

static void set_token(struct ctx *c, json_object *v)
{
	if (v == NULL)
		return;
	if (json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int))
		snprintf(c->info->token, sizeof(c->info->token), "%s", json_object_get_string(v));
}

/* Optional top-level change token: a string or an integer (Azure's changeNumber). */
static int token_member(struct ctx *c, json_object *obj, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string) && !json_object_is_type(v, json_type_int))
		return data_error(c, 0, "%s: expected string, got %s", key, type_name(v));
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

static int need_object(struct ctx *c, json_object *v, const char *path)
{
	if (!json_object_is_type(v, json_type_object))
		return data_error(c, 0, "%s: expected object, got %s",
				  path[0] != '\0' ? path : "top level", type_name(v));
	return 0;
}

static int parse_cloudflare(struct ctx *c, json_object *root)
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
		return data_error(c, 0, "API reported failure (success false): %" PRId64 " %.120s",
				  code, msg);
	}
	if (!json_object_object_get_ex(root, "result", &res) || res == NULL)
		return data_error(c, 0, "result: missing or null");
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

static int parse_aws_list(struct ctx *c, json_object *root, const char *key, const char *pkey,
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
		if (add_json_string(c, pfx, fam, p) < 0)
			return -1;
	}
	return 0;
}

static int parse_aws(struct ctx *c, json_object *root)
{
	const char *services =
		list_empty(c->o->services) ? "CLOUDFRONT_ORIGIN_FACING" : c->o->services;

	if (parse_aws_list(c, root, "prefixes", "ip_prefix", CDA_AF_INET, services) < 0 ||
	    parse_aws_list(c, root, "ipv6_prefixes", "ipv6_prefix", CDA_AF_INET6, services) < 0 ||
	    token_member(c, root, "syncToken") < 0)
		return -1;
	if (c->info->entries == 0)
		return data_error(c, 0, "no prefixes for services \"%.100s\"", services);
	return 0;
}

static int parse_google(struct ctx *c, json_object *root)
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
			if (add_json_string(c, v, CDA_AF_INET, p) < 0)
				return -1;
		} else if (json_object_object_get_ex(rec, "ipv6Prefix", &v)) {
			snprintf(p, sizeof(p), "prefixes[%zu].ipv6Prefix", i);
			if (add_json_string(c, v, CDA_AF_INET6, p) < 0)
				return -1;
		} else {
			return data_error(c, 0, "%s: neither ipv4Prefix nor ipv6Prefix", p);
		}
	}
	if (c->info->entries_v4 == 0)
		return data_error(c, 0, "prefixes: no ipv4Prefix entries");
	if (c->info->entries_v6 == 0)
		return data_error(c, 0, "prefixes: no ipv6Prefix entries");
	return token_member(c, root, "syncToken");
}

static int parse_imperva(struct ctx *c, json_object *root)
{
	json_object *res, *m;

	if (member(c, root, "", "res", json_type_int, true, &res) < 0)
		return -1;
	if (json_object_get_int64(res) != 0) {
		const char *msg = "no message";

		if (json_object_object_get_ex(root, "res_message", &m) &&
		    json_object_is_type(m, json_type_string))
			msg = json_object_get_string(m);
		return data_error(c, 0, "API reported failure: res %" PRId64 ": %.120s",
				  json_object_get_int64(res), msg);
	}
	if (family_list(c, root, "", "ipRanges", CDA_AF_INET, true) < 0 ||
	    family_list(c, root, "", "ipv6Ranges", CDA_AF_INET6, true) < 0)
		return -1;
	return 0;
}

static int parse_cdn77(struct ctx *c, json_object *root)
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
		if (add_json_string(c, v, 0, p) < 0)
			return -1;
	}
	return token_member(c, root, "updated_at");
}

/* Calls fn for each word of list (as a NUL-terminated copy, words over 127 bytes refused). */
static int each_word(struct ctx *c, const char *list, const char *what,
		     int (*fn)(struct ctx *c, json_object *root, const char *word),
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

static int github_group(struct ctx *c, json_object *root, const char *group)
{
	json_object *arr;

	if (member(c, root, "", group, json_type_array, true, &arr) < 0)
		return -1;
	return add_string_array(c, arr, group, 0);
}

static int parse_github(struct ctx *c, json_object *root)
{
	const char *groups = list_empty(c->o->services) ? "hooks" : c->o->services;

	return each_word(c, groups, "groups", github_group, root);
}

static int azure_tag(struct ctx *c, json_object *root, const char *tag)
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
		return add_string_array(c, pfx, p, 0);
	}
	return data_error(c, 0, "values: no service tag named \"%.100s\"", tag);
}

static int parse_azure(struct ctx *c, json_object *root)
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

static int parse_oracle(struct ctx *c, json_object *root)
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
			if (add_json_string(c, v, 0, p) < 0)
				return -1;
		}
	}
	if (c->info->entries == 0 && tags != NULL)
		return data_error(c, 0, "no cidrs with tags \"%.100s\"", tags);
	return token_member(c, root, "last_updated_timestamp");
}

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

static int sel_check(struct ctx *c, struct selector *s)
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
	n = strlen(txt);
	for (p = s->wval;; p++) {
		size_t l = strcspn(p, "|");

		if (l == n && memcmp(p, txt, n) == 0)
			return true;
		p += l;
		if (*p == '\0')
			return false;
	}
}

static int sel_walk(struct ctx *c, const struct selector *s, json_object *v, const char *p,
		    char *path, size_t plen, bool in_iter)
{
	size_t n, i, len;
	json_object *m;
	char name[128];

	if (*p == '.')
		p++;
	if (*p == '\0') {
		if (json_object_is_type(v, json_type_array))
			return add_string_array(c, v, path, 0);
		return add_json_string(c, v, 0, path);
	}
	if (p[0] == '[') {
		const char *next = p + 2;

		if (!json_object_is_type(v, json_type_array))
			return data_error(c, 0, "%s: expected array, got %s",
					  plen != 0 ? path : "top level", type_name(v));
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
		return data_error(c, 0, "%s: expected object, got %s",
				  plen != 0 ? path : "top level", type_name(v));
	if (!json_object_object_get_ex(v, name, &m)) {
		if (in_iter)
			return 0;
		return data_error(c, 0, "%s%s%s: missing", path, plen != 0 ? "." : "", name);
	}
	snprintf(path + plen, PATH_MAX_LEN - plen, "%s%s", plen != 0 ? "." : "", name);
	len = plen + strlen(path + plen);
	if (sel_walk(c, s, m, p + n, path, len, in_iter) < 0)
		return -1;
	path[plen] = '\0';
	return 0;
}

static int parse_select(struct ctx *c, json_object *root)
{
	struct selector s = {.sel = c->o->select};
	char path[PATH_MAX_LEN + 24] = "";

	if (sel_check(c, &s) < 0 || sel_walk(c, &s, root, s.sel, path, 0, false) < 0)
		return -1;
	if (c->info->entries == 0)
		return data_error(c, 0, "select \"%.80s\"%s%.80s found no values", s.sel,
				  s.wkey != NULL ? " where " : "",
				  s.wkey != NULL ? c->o->where : "");
	return 0;
}

static int parse_json(struct ctx *c)
{
	size_t first = skip_lead(c), end;
	struct json_tokener *tok = NULL;
	enum json_tokener_error jerr;
	json_object *root = NULL;
	int rc = -1;

	if (check_html(c, first) < 0)
		return -1;
	if (first == c->len)
		return data_error(c, 0, "empty list");
	if (c->len - first > INT_MAX)
		return data_error(c, 0, "JSON document too large");
	/* json-c stops at a NUL byte inside a string; real JSON never holds one raw. */
	if (memchr(c->buf + first, '\0', c->len - first) != NULL) {
		const char *z = memchr(c->buf + first, '\0', c->len - first);

		return data_error(c, line_of(c, (size_t)(z - c->buf)),
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
		data_error(c, line_of(c, c->len),
			   "invalid JSON: unexpected end of document "
			   "(truncated?)");
		goto out;
	}
	if (jerr != json_tokener_success || root == NULL) {
		data_error(c, line_of(c, end), "invalid JSON at offset %zu: %s", end,
			   json_tokener_error_desc(jerr));
		goto out;
	}
	while (end < c->len && is_space(c->buf[end]))
		end++;
	if (end < c->len) {
		data_error(c, line_of(c, end), "invalid JSON: trailing data at offset %zu", end);
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
			data_error(c, 0, "top level: expected array, got %s", type_name(root));
			goto out;
		}
		rc = add_string_array(c, root, "", 0);
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
		rc = data_error(c, 0, "empty list");
out:
	json_object_put(root);
	json_tokener_free(tok);
	return rc;
}

int parse_list(const char *buf, size_t len, const struct parse_opts *o, struct ranges *out,
	       struct parse_info *info, struct cda_error *err)
{
	struct parse_info scratch;
	struct ranges *tmp = NULL;
	struct ctx c;
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
	c = (struct ctx){.buf = buf != NULL ? buf : "",
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
