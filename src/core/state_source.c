// SPDX-License-Identifier: MIT
/* A source's last good list and its metadata (token, config fingerprint, times, validators). */
#include "state.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"
#include "cda_error.h"
#include "ranges.h"
#include "state_priv.h"

#define SOURCE_MAGIC "# cdnallow state v1"

/* "url <index> etag "<etag>" lm <epoch>"; the etag may itself hold quotes. */
static bool parse_url_line(char *s, struct source_meta *m)
{
	char *p, *lm, *end;
	unsigned long idx;
	size_t n;

	if (!isdigit((unsigned char)*s))
		return false;
	idx = strtoul(s, &end, 10);
	if (idx >= sizeof(m->url) / sizeof(m->url[0]) || idx != m->n_urls ||
	    strncmp(end, " etag \"", 7) != 0)
		return false;
	p = end + 7;
	lm = strrchr(p, '"');
	if (lm == NULL || strncmp(lm, "\" lm ", 5) != 0)
		return false;
	n = (size_t)(lm - p);
	if (n >= sizeof(m->url[0].etag))
		return false;
	memcpy(m->url[idx].etag, p, n);
	m->url[idx].etag[n] = '\0';
	if (!state_parse_time(lm + 5, &m->url[idx].last_modified))
		return false;
	m->n_urls = (unsigned int)idx + 1;
	return true;
}

/* A line after the magic: header lines ("token", "config", "fetched", "changed", "url")
 * until the first prefix, then one canonical prefix a line. */
static int source_line(const struct state_reader *rd, struct source_meta *meta, bool *body,
		       struct ranges *r, struct cda_error *err)
{
	char *line = rd->line;
	size_t len = (size_t)rd->len;
	struct cidr c;

	if (!*body && strncmp(line, "token ", 6) == 0) {
		if (len - 6 >= sizeof(meta->token))
			return state_corrupt(err, rd->path, rd->lineno, "token too long");
		memcpy(meta->token, line + 6, len - 6 + 1);
	} else if (!*body && strncmp(line, "config ", 7) == 0) {
		if (len - 7 >= sizeof(meta->config) || strspn(line + 7, "0123456789abcdef") != len - 7)
			return state_corrupt(err, rd->path, rd->lineno, "bad 'config' line");
		memcpy(meta->config, line + 7, len - 7 + 1);
	} else if (!*body && strncmp(line, "fetched ", 8) == 0) {
		if (!state_parse_time(line + 8, &meta->fetched))
			return state_corrupt(err, rd->path, rd->lineno, "bad 'fetched' time");
	} else if (!*body && strncmp(line, "changed ", 8) == 0) {
		if (!state_parse_time(line + 8, &meta->changed))
			return state_corrupt(err, rd->path, rd->lineno, "bad 'changed' time");
	} else if (!*body && strncmp(line, "url ", 4) == 0) {
		if (!parse_url_line(line + 4, meta))
			return state_corrupt(err, rd->path, rd->lineno, "bad 'url' line");
	} else {
		*body = true;
		if (cidr_parse(line, len, &c, NULL) != CIDR_OK)
			return state_corrupt(err, rd->path, rd->lineno, "not a canonical prefix");
		if (ranges_add_cidr(r, &c) < 0)
			return cda_error_sys(err, CDA_ESYS, "loading %s", rd->path);
	}
	return 0;
}

int state_load_source(struct state *st, const char *name, struct ranges **list,
		      struct source_meta *meta, struct cda_error *err)
{
	struct state_reader rd = {0};
	struct ranges *r = NULL;
	bool body = false;
	int rc, got;

	*list = NULL;
	memset(meta, 0, sizeof(*meta));
	if ((rc = state_reader_open(&rd, st, "source", name, SOURCE_MAGIC, err)) <= 0)
		goto out;
	rc = -1;
	if ((r = ranges_new()) == NULL) {
		cda_error_sys(err, CDA_ESYS, "loading %s", rd.path);
		goto out;
	}
	errno = 0;
	while ((got = state_read_line(&rd, err)) > 0)
		if (source_line(&rd, meta, &body, r, err) < 0)
			goto out;
	if (got < 0)
		goto out;
	if (rd.lineno == 0) {
		state_corrupt(err, rd.path, 1, "empty file");
		goto out;
	}
	ranges_normalize(r);
	*list = r;
	r = NULL;
	rc = 1;
out:
	if (rc < 0)
		memset(meta, 0, sizeof(*meta));
	state_reader_close(&rd);
	ranges_free(r);
	return rc;
}

static bool one_line(const char *s)
{
	return strpbrk(s, "\r\n") == NULL;
}

int state_save_source(struct state *st, const char *name, const struct ranges *list,
		      const struct source_meta *meta, struct cda_error *err)
{
	struct cidr_list cl = {0};
	struct ranges *norm = NULL;
	const struct ranges *src = list;
	struct atomicfile af = {0};
	char *path = NULL, buf[CIDR_STRLEN];
	unsigned int nu = meta->n_urls;
	int rc = -1;

	if (state_writable(st, err) < 0)
		return -1;
	if ((path = state_file_path(st, "source", name)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "state file for %s", name);
	if (!ranges_is_normal(list)) {
		if ((norm = ranges_dup(list)) == NULL) {
			cda_error_sys(err, CDA_ESYS, "saving %s", path);
			goto out;
		}
		ranges_normalize(norm);
		src = norm;
	}
	if (ranges_to_cidrs(src, &cl) < 0) {
		cda_error_sys(err, CDA_ESYS, "saving %s", path);
		goto out;
	}
	if (atomicfile_open(&af, path, 0600, err) < 0)
		goto out;
	fprintf(af.fp, "%s\n", SOURCE_MAGIC);
	if (meta->token[0] != '\0' && one_line(meta->token))
		fprintf(af.fp, "token %.*s\n", (int)sizeof(meta->token) - 1, meta->token);
	if (meta->config[0] != '\0' && strspn(meta->config, "0123456789abcdef") ==
					      strnlen(meta->config, sizeof(meta->config)))
		fprintf(af.fp, "config %.*s\n", (int)sizeof(meta->config) - 1, meta->config);
	fprintf(af.fp, "fetched %lld\nchanged %lld\n", (long long)meta->fetched,
		(long long)meta->changed);
	if (nu > sizeof(meta->url) / sizeof(meta->url[0]))
		nu = sizeof(meta->url) / sizeof(meta->url[0]);
	for (unsigned int i = 0; i < nu; i++) {
		char etag[sizeof(meta->url[0].etag)];

		snprintf(etag, sizeof(etag), "%s", meta->url[i].etag);
		/* a validator that cannot be stored is dropped: the next fetch is unconditional */
		if (!one_line(etag))
			etag[0] = '\0';
		fprintf(af.fp, "url %u etag \"%s\" lm %lld\n", i, etag,
			(long long)meta->url[i].last_modified);
	}
	for (size_t i = 0; i < cl.n; i++) {
		size_t n = strlen(cidr_format(&cl.v[i], buf));

		buf[n++] = '\n';
		fwrite(buf, 1, n, af.fp);
	}
	rc = atomicfile_commit(&af, err);
out:
	atomicfile_abort(&af);
	cidr_list_finish(&cl);
	ranges_free(norm);
	free(path);
	return rc;
}
