// SPDX-License-Identifier: MIT
/* A target's cache of what its backend applied, and the ranges kept after withdrawal. */
#include "state.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cda_error.h"
#include "ranges.h"
#include "state_priv.h"

#define APPLIED_MAGIC "# cdnallow applied v1"
#define WITHDRAWN_MAGIC "# cdnallow withdrawn v1"

static cda_u128 in6_to_u128(const struct in6_addr *a)
{
	cda_u128 v = 0;

	for (int i = 0; i < 16; i++)
		v = (v << 8) | a->s6_addr[i];
	return v;
}

/* One applied item: "lo-hi" (either family) or a CIDR. */
static int parse_item(char *s, size_t len, struct ranges *r)
{
	char *dash = strchr(s, '-');
	struct cidr c;

	if (dash == NULL) {
		if (cidr_parse(s, len, &c, NULL) != CIDR_OK)
			return -1;
		return ranges_add_cidr(r, &c) < 0 ? -2 : 0;
	}
	*dash = '\0';
	if (strchr(s, ':') == NULL) {
		struct in_addr a, b;

		if (inet_pton(AF_INET, s, &a) != 1 || inet_pton(AF_INET, dash + 1, &b) != 1)
			return -1;
		if (ntohl(a.s_addr) > ntohl(b.s_addr))
			return -1;
		return ranges_add4(r, ntohl(a.s_addr), ntohl(b.s_addr)) < 0 ? -2 : 0;
	} else {
		struct in6_addr a, b;

		if (inet_pton(AF_INET6, s, &a) != 1 || inet_pton(AF_INET6, dash + 1, &b) != 1)
			return -1;
		if (in6_to_u128(&a) > in6_to_u128(&b))
			return -1;
		return ranges_add6(r, in6_to_u128(&a), in6_to_u128(&b)) < 0 ? -2 : 0;
	}
}

/* Line 2, "genid N"; later lines, one applied item each. */
static int applied_line(const struct state_reader *rd, struct ranges *r, uint32_t *genid,
			struct cda_error *err)
{
	char *end;
	unsigned long v;
	int pr;

	if (rd->lineno == 2) {
		if (strncmp(rd->line, "genid ", 6) != 0 || !isdigit((unsigned char)rd->line[6]))
			return state_corrupt(err, rd->path, rd->lineno, "expected 'genid N'");
		errno = 0;
		v = strtoul(rd->line + 6, &end, 10);
		if (errno != 0 || *end != '\0' || v > UINT32_MAX)
			return state_corrupt(err, rd->path, rd->lineno, "bad genid");
		*genid = (uint32_t)v;
		return 0;
	}
	pr = parse_item(rd->line, (size_t)rd->len, r);
	if (pr == -1)
		return state_corrupt(err, rd->path, rd->lineno, "not an address range");
	if (pr < 0)
		return cda_error_sys(err, CDA_ESYS, "loading %s", rd->path);
	return 0;
}

int state_load_applied(struct state *st, const char *key, struct ranges **list, uint32_t *genid,
		       struct cda_error *err)
{
	struct state_reader rd = {0};
	struct ranges *r = NULL;
	int rc, got;

	*list = NULL;
	*genid = 0;
	if ((rc = state_reader_open(&rd, st, "applied", key, APPLIED_MAGIC, err)) <= 0)
		goto out;
	rc = -1;
	if ((r = ranges_new()) == NULL) {
		cda_error_sys(err, CDA_ESYS, "loading %s", rd.path);
		goto out;
	}
	while ((got = state_read_line(&rd, err)) > 0)
		if (applied_line(&rd, r, genid, err) < 0)
			goto out;
	if (got < 0)
		goto out;
	if (rd.lineno < 2) { /* line 2 holds the genid */
		state_corrupt(err, rd.path, rd.lineno + 1, "truncated header");
		goto out;
	}
	*list = r;
	r = NULL;
	rc = 1;
out:
	if (rc < 0)
		*genid = 0;
	state_reader_close(&rd);
	ranges_free(r);
	return rc;
}

int state_save_applied(struct state *st, const char *key, const struct ranges *list, uint32_t genid,
		       struct cda_error *err)
{
	const struct range4 *v4 = ranges_v4(list);
	const struct range6 *v6 = ranges_v6(list);
	size_t n4 = ranges_count4(list), n6 = ranges_count6(list);
	struct atomicfile af = {0};
	char *path, a[2 * INET6_ADDRSTRLEN + 2];
	int rc = -1;

	if (state_writable(st, err) < 0)
		return -1;
	if ((path = state_file_path(st, "applied", key)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "state file for %s", key);
	if (atomicfile_open(&af, path, 0600, err) < 0)
		goto out;
	fprintf(af.fp, "%s\ngenid %" PRIu32 "\n", APPLIED_MAGIC, genid);
	/* hand-formatted into one buffer: a 1M-range cache is written on every change */
	for (size_t i = 0; i < n4; i++) {
		size_t n = ipv4_format(v4[i].lo, a);

		a[n++] = '-';
		n += ipv4_format(v4[i].hi, a + n);
		a[n++] = '\n';
		fwrite(a, 1, n, af.fp);
	}
	for (size_t i = 0; i < n6; i++) {
		size_t n = ipv6_format(v6[i].lo, a);

		a[n++] = '-';
		n += ipv6_format(v6[i].hi, a + n);
		a[n++] = '\n';
		fwrite(a, 1, n, af.fp);
	}
	rc = atomicfile_commit(&af, err);
out:
	atomicfile_abort(&af);
	free(path);
	return rc;
}

int state_drop_applied(struct state *st, const char *key, struct cda_error *err)
{
	char *path;
	int rc = 0;

	if (state_writable(st, err) < 0)
		return -1;
	if ((path = state_file_path(st, "applied", key)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "state file for %s", key);
	if (unlink(path) < 0 && errno != ENOENT)
		rc = cda_error_sys(err, CDA_ESYS, "cannot remove %s", path);
	free(path);
	return rc;
}

void withdrawn_list_finish(struct withdrawn_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int state_load_withdrawn(struct state *st, const char *key, struct withdrawn_list *out,
			 struct cda_error *err)
{
	char *path = state_file_path(st, "withdrawn", key), *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned int lineno = 0;
	FILE *fp = NULL;
	int rc = -1, op;

	out->v = NULL;
	out->n = 0;
	if (path == NULL)
		return cda_error_sys(err, CDA_ESYS, "state file for %s", key);
	op = state_open_file(st, path, &fp, err);
	if (op <= 0) {
		free(path);
		return op;
	}
	while ((len = getline(&line, &cap, fp)) != -1) {
		struct withdrawn w, *v;
		char *sp;

		lineno++;
		state_chomp(line, &len);
		if (lineno == 1) {
			if (strcmp(line, WITHDRAWN_MAGIC) != 0) {
				state_corrupt(err, path, lineno,
					      "not a cdnallow withdrawn v1 file");
				goto out;
			}
			continue;
		}
		sp = strchr(line, ' ');
		if (sp == NULL) {
			state_corrupt(err, path, lineno, "expected '<epoch> <cidr>'");
			goto out;
		}
		*sp = '\0';
		if (!state_parse_time(line, &w.since) ||
		    cidr_parse(sp + 1, strlen(sp + 1), &w.c, NULL) != CIDR_OK) {
			state_corrupt(err, path, lineno, "expected '<epoch> <cidr>'");
			goto out;
		}
		v = reallocarray(out->v, out->n + 1, sizeof(*v));
		if (v == NULL) {
			cda_error_sys(err, CDA_ESYS, "loading %s", path);
			goto out;
		}
		out->v = v;
		out->v[out->n++] = w;
	}
	rc = 1;
out:
	if (rc < 0)
		withdrawn_list_finish(out);
	fclose(fp);
	free(line);
	free(path);
	return rc;
}

int state_save_withdrawn(struct state *st, const char *key, const struct withdrawn_list *l,
			 struct cda_error *err)
{
	struct atomicfile af = {0};
	char *path, buf[CIDR_STRLEN];
	int rc = -1;

	if (state_writable(st, err) < 0)
		return -1;
	if ((path = state_file_path(st, "withdrawn", key)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "state file for %s", key);
	if (l->n == 0) {
		rc = 0;
		if (unlink(path) < 0 && errno != ENOENT)
			rc = cda_error_sys(err, CDA_ESYS, "cannot remove %s", path);
		free(path);
		return rc;
	}
	if (atomicfile_open(&af, path, 0600, err) < 0)
		goto out;
	fprintf(af.fp, "%s\n", WITHDRAWN_MAGIC);
	for (size_t i = 0; i < l->n; i++)
		fprintf(af.fp, "%lld %s\n", (long long)l->v[i].since, cidr_format(&l->v[i].c, buf));
	rc = atomicfile_commit(&af, err);
out:
	atomicfile_abort(&af);
	free(path);
	return rc;
}
