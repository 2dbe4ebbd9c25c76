// SPDX-License-Identifier: MIT
/* state: the state dir and its lock, last good lists, applied caches, withdrawn ranges and
 * backend tokens (over 600 lines: one file per kind of state file is the next split). */
#include "state.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cda_error.h"
#include "ranges.h"

#define SOURCE_MAGIC "# cdnallow state v1"
#define APPLIED_MAGIC "# cdnallow applied v1"
#define LOCK_POLL_MS 100

struct state {
	char *dir;
	int lock_fd;   /* -1 when readonly */
	bool readonly;
	bool missing;  /* readonly and the directory does not exist: nothing stored */
};

const char *state_dir(const struct state *st)
{
	return st != NULL ? st->dir : NULL;
}

void state_close(struct state *st)
{
	if (st == NULL)
		return;
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* drops the flock */
	free(st->dir);
	free(st);
}

static int check_dir(const char *dir, struct cda_error *err)
{
	struct stat sb;

	if (stat(dir, &sb) < 0) {
		cda_error_sys(err, CDA_ESYS, "state directory %s", dir);
		return -1;
	}
	if (!S_ISDIR(sb.st_mode))
		return cda_error_set(err, CDA_ESYS, "state directory %s is not a directory", dir);
	if ((sb.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return cda_error_set(err, CDA_ESYS,
				     "state directory %s refused: writable by group or others "
				     "(mode %04o)",
				     dir, (unsigned int)(sb.st_mode & 07777));
	if (geteuid() == 0 && sb.st_uid != 0)
		return cda_error_set(err, CDA_ESYS,
				     "state directory %s refused: owned by uid %u, not root", dir,
				     (unsigned int)sb.st_uid);
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int take_lock(struct state *st, unsigned int wait_seconds, struct cda_error *err)
{
	char *path = NULL, buf[32];
	unsigned long tries = (unsigned long)wait_seconds * (1000 / LOCK_POLL_MS);
	long pid = 0;
	ssize_t n;
	int fd;

	if (asprintf(&path, "%s/lock", st->dir) < 0) {
		cda_error_sys(err, CDA_ESYS, "state lock");
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0) {
		cda_error_sys(err, CDA_ESYS, "cannot open %s", path);
		goto fail;
	}
	for (unsigned long i = 0;; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			cda_error_sys(err, CDA_ESYS, "cannot lock %s", path);
			goto fail;
		}
		if (i >= tries) {
			n = pread(fd, buf, sizeof(buf) - 1, 0);
			buf[n > 0 ? n : 0] = '\0';
			pid = strtol(buf, NULL, 10);
			if (pid > 0)
				snprintf(buf, sizeof(buf), " (pid %ld)", pid);
			else
				buf[0] = '\0';
			cda_error_set(err, CDA_ESYS, "another cdnallow run%s holds %s; waited %u s",
				      buf, path, wait_seconds);
			goto fail;
		}
		sleep_ms(LOCK_POLL_MS);
	}
	/* for the message a concurrent run prints; the flock is what counts */
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		cda_error_sys(err, CDA_ESYS, "cannot write %s", path);
		goto fail;
	}
	st->lock_fd = fd;
	free(path);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(path);
	return -1;
}

int state_open(struct state **out, const char *dir, unsigned int wait_seconds, bool readonly,
	       struct cda_error *err)
{
	struct state *st;

	*out = NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL || (st->dir = strdup(dir)) == NULL) {
		cda_error_sys(err, CDA_ESYS, "state directory %s", dir);
		free(st);
		return -1;
	}
	st->lock_fd = -1;
	st->readonly = readonly;
	if (readonly) {
		if (access(dir, F_OK) < 0 && errno == ENOENT) {
			st->missing = true;
			*out = st;
			return 0;
		}
	} else if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		cda_error_sys(err, CDA_ESYS, "cannot create state directory %s", dir);
		goto fail;
	}
	if (check_dir(dir, err) < 0)
		goto fail;
	if (!readonly && take_lock(st, wait_seconds, err) < 0)
		goto fail;
	*out = st;
	return 0;
fail:
	state_close(st);
	return -1;
}

/* DIR/PREFIX-NAME.list, NAME reduced to [a-z0-9_.-]. */
static char *file_path(const struct state *st, const char *prefix, const char *name)
{
	char *p = NULL, *clean;
	size_t n = strlen(name);

	if ((clean = malloc(n + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)tolower((unsigned char)name[i]);

		clean[i] = (isdigit(ch) || (ch >= 'a' && ch <= 'z') || ch == '_' || ch == '.' ||
			    ch == '-')
				   ? (char)ch
				   : '_';
	}
	clean[n] = '\0';
	if (asprintf(&p, "%s/%s-%s.list", st->dir, prefix, n > 0 ? clean : "_") < 0)
		p = NULL;
	free(clean);
	return p;
}

static int writable(const struct state *st, struct cda_error *err)
{
	if (st->readonly) {
		errno = EROFS;
		return cda_error_sys(err, CDA_ESYS, "state directory %s opened read-only",
				     st->dir);
	}
	return 0;
}

/* Open a state file for reading: 1 open, 0 absent, -1 error. */
static int open_file(const struct state *st, const char *path, FILE **fp, struct cda_error *err)
{
	*fp = NULL;
	if (st->missing)
		return 0;
	if ((*fp = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		cda_error_sys(err, CDA_ESYS, "cannot read %s", path);
		return -1;
	}
	return 1;
}

static int corrupt(struct cda_error *err, const char *path, unsigned int line, const char *what)
{
	cda_error_set(err, CDA_EDATA, "corrupt state file: %s", what);
	return cda_error_at(err, path, line);
}

static bool parse_time(const char *s, time_t *out)
{
	char *end;
	long long v;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = (time_t)v;
	return true;
}

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
	if (!parse_time(lm + 5, &m->url[idx].last_modified))
		return false;
	m->n_urls = (unsigned int)idx + 1;
	return true;
}

static void chomp(char *line, ssize_t *len)
{
	while (*len > 0 && (line[*len - 1] == '\n' || line[*len - 1] == '\r'))
		line[--*len] = '\0';
}

int state_load_source(struct state *st, const char *name, struct ranges **list,
		      struct source_meta *meta, struct cda_error *err)
{
	struct ranges *r = NULL;
	char *path, *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned int lineno = 0;
	bool body = false;
	FILE *fp = NULL;
	int rc;

	*list = NULL;
	memset(meta, 0, sizeof(*meta));
	if ((path = file_path(st, "source", name)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "state file for %s", name);
	if ((rc = open_file(st, path, &fp, err)) <= 0)
		goto out;
	rc = -1;
	if ((r = ranges_new()) == NULL) {
		cda_error_sys(err, CDA_ESYS, "loading %s", path);
		goto out;
	}
	errno = 0;
	while ((len = getline(&line, &cap, fp)) >= 0) {
		struct cidr c;

		lineno++;
		if ((size_t)len != strlen(line)) {
			corrupt(err, path, lineno, "NUL byte");
			goto out;
		}
		chomp(line, &len);
		if (lineno == 1) {
			if (strcmp(line, SOURCE_MAGIC) != 0) {
				corrupt(err, path, lineno, "not a cdnallow state v1 file");
				goto out;
			}
			continue;
		}
		if (!body && strncmp(line, "token ", 6) == 0) {
			if ((size_t)len - 6 >= sizeof(meta->token)) {
				corrupt(err, path, lineno, "token too long");
				goto out;
			}
			memcpy(meta->token, line + 6, (size_t)len - 6 + 1);
		} else if (!body && strncmp(line, "fetched ", 8) == 0) {
			if (!parse_time(line + 8, &meta->fetched)) {
				corrupt(err, path, lineno, "bad 'fetched' time");
				goto out;
			}
		} else if (!body && strncmp(line, "changed ", 8) == 0) {
			if (!parse_time(line + 8, &meta->changed)) {
				corrupt(err, path, lineno, "bad 'changed' time");
				goto out;
			}
		} else if (!body && strncmp(line, "url ", 4) == 0) {
			if (!parse_url_line(line + 4, meta)) {
				corrupt(err, path, lineno, "bad 'url' line");
				goto out;
			}
		} else {
			body = true;
			if (cidr_parse(line, (size_t)len, &c, NULL) != CIDR_OK) {
				corrupt(err, path, lineno, "not a canonical prefix");
				goto out;
			}
			if (ranges_add_cidr(r, &c) < 0) {
				cda_error_sys(err, CDA_ESYS, "loading %s", path);
				goto out;
			}
		}
	}
	if (ferror(fp)) {
		cda_error_sys(err, CDA_ESYS, "cannot read %s", path);
		goto out;
	}
	if (lineno == 0) {
		corrupt(err, path, 1, "empty file");
		goto out;
	}
	ranges_normalize(r);
	*list = r;
	r = NULL;
	rc = 1;
out:
	if (rc < 0)
		memset(meta, 0, sizeof(*meta));
	if (fp != NULL)
		fclose(fp);
	free(line);
	ranges_free(r);
	free(path);
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

	if (writable(st, err) < 0)
		return -1;
	if ((path = file_path(st, "source", name)) == NULL)
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

int state_load_applied(struct state *st, const char *key, struct ranges **list, uint32_t *genid,
		       struct cda_error *err)
{
	struct ranges *r = NULL;
	char *path, *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned int lineno = 0;
	bool have_genid = false;
	FILE *fp = NULL;
	int rc;

	*list = NULL;
	*genid = 0;
	if ((path = file_path(st, "applied", key)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "state file for %s", key);
	if ((rc = open_file(st, path, &fp, err)) <= 0)
		goto out;
	rc = -1;
	if ((r = ranges_new()) == NULL) {
		cda_error_sys(err, CDA_ESYS, "loading %s", path);
		goto out;
	}
	while ((len = getline(&line, &cap, fp)) >= 0) {
		int pr;

		lineno++;
		if ((size_t)len != strlen(line)) {
			corrupt(err, path, lineno, "NUL byte");
			goto out;
		}
		chomp(line, &len);
		if (lineno == 1) {
			if (strcmp(line, APPLIED_MAGIC) != 0) {
				corrupt(err, path, lineno, "not a cdnallow applied v1 file");
				goto out;
			}
			continue;
		}
		if (lineno == 2) {
			char *end;
			unsigned long v;

			if (strncmp(line, "genid ", 6) != 0 || !isdigit((unsigned char)line[6])) {
				corrupt(err, path, lineno, "expected 'genid N'");
				goto out;
			}
			errno = 0;
			v = strtoul(line + 6, &end, 10);
			if (errno != 0 || *end != '\0' || v > UINT32_MAX) {
				corrupt(err, path, lineno, "bad genid");
				goto out;
			}
			*genid = (uint32_t)v;
			have_genid = true;
			continue;
		}
		pr = parse_item(line, (size_t)len, r);
		if (pr == -1) {
			corrupt(err, path, lineno, "not an address range");
			goto out;
		}
		if (pr < 0) {
			cda_error_sys(err, CDA_ESYS, "loading %s", path);
			goto out;
		}
	}
	if (ferror(fp)) {
		cda_error_sys(err, CDA_ESYS, "cannot read %s", path);
		goto out;
	}
	if (!have_genid) {
		corrupt(err, path, lineno + 1, "truncated header");
		goto out;
	}
	*list = r;
	r = NULL;
	rc = 1;
out:
	if (rc < 0)
		*genid = 0;
	if (fp != NULL)
		fclose(fp);
	free(line);
	ranges_free(r);
	free(path);
	return rc;
}

int state_save_applied(struct state *st, const char *key, const struct ranges *list,
		       uint32_t genid, struct cda_error *err)
{
	const struct range4 *v4 = ranges_v4(list);
	const struct range6 *v6 = ranges_v6(list);
	size_t n4 = ranges_count4(list), n6 = ranges_count6(list);
	struct atomicfile af = {0};
	char *path, a[2 * INET6_ADDRSTRLEN + 2];
	int rc = -1;

	if (writable(st, err) < 0)
		return -1;
	if ((path = file_path(st, "applied", key)) == NULL)
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

	if (writable(st, err) < 0)
		return -1;
	if ((path = file_path(st, "applied", key)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "state file for %s", key);
	if (unlink(path) < 0 && errno != ENOENT)
		rc = cda_error_sys(err, CDA_ESYS, "cannot remove %s", path);
	free(path);
	return rc;
}

#define WITHDRAWN_MAGIC "# cdnallow withdrawn v1"

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
	char *path = file_path(st, "withdrawn", key), *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned int lineno = 0;
	FILE *fp = NULL;
	int rc = -1, op;

	out->v = NULL;
	out->n = 0;
	if (path == NULL)
		return cda_error_sys(err, CDA_ESYS, "state file for %s", key);
	op = open_file(st, path, &fp, err);
	if (op <= 0) {
		free(path);
		return op;
	}
	while ((len = getline(&line, &cap, fp)) != -1) {
		struct withdrawn w, *v;
		char *sp;

		lineno++;
		chomp(line, &len);
		if (lineno == 1) {
			if (strcmp(line, WITHDRAWN_MAGIC) != 0) {
				corrupt(err, path, lineno, "not a cdnallow withdrawn v1 file");
				goto out;
			}
			continue;
		}
		sp = strchr(line, ' ');
		if (sp == NULL) {
			corrupt(err, path, lineno, "expected '<epoch> <cidr>'");
			goto out;
		}
		*sp = '\0';
		if (!parse_time(line, &w.since) ||
		    cidr_parse(sp + 1, strlen(sp + 1), &w.c, NULL) != CIDR_OK) {
			corrupt(err, path, lineno, "expected '<epoch> <cidr>'");
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

	if (writable(st, err) < 0)
		return -1;
	if ((path = file_path(st, "withdrawn", key)) == NULL)
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

#define TOKEN_MAGIC "# cdnallow token v1"

/* DIR/token-KEY.tok */
static char *token_path(const struct state *st, const char *key)
{
	char *p = file_path(st, "token", key);

	if (p != NULL)
		memcpy(p + strlen(p) - 5, ".tok", 5); /* in place of ".list" */
	return p;
}

static bool token_ok(const char *s, size_t len)
{
	if (len > STATE_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

int state_load_token(struct state *st, const char *key, char *buf, size_t size,
		     struct cda_error *err)
{
	char *path, *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *fp = NULL;
	int rc;

	buf[0] = '\0';
	if ((path = token_path(st, key)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "state file for %s", key);
	if ((rc = open_file(st, path, &fp, err)) <= 0)
		goto out;
	rc = -1;
	if ((len = getline(&line, &cap, fp)) >= 0)
		chomp(line, &len);
	if (len < 0 || strcmp(line, TOKEN_MAGIC) != 0) {
		corrupt(err, path, 1, "not a cdnallow token v1 file");
		goto out;
	}
	if ((len = getline(&line, &cap, fp)) >= 0)
		chomp(line, &len);
	if (len < 0 || !token_ok(line, (size_t)len) || (size_t)len >= size ||
	    getline(&line, &cap, fp) >= 0) {
		corrupt(err, path, 2, "expected one line of printable ASCII");
		goto out;
	}
	memcpy(buf, line, (size_t)len + 1);
	rc = 1;
out:
	if (fp != NULL)
		fclose(fp);
	free(line);
	free(path);
	return rc;
}

int state_save_token(struct state *st, const char *key, const char *token,
		     struct cda_error *err)
{
	struct atomicfile af = {0};
	char *path;
	int rc = -1;

	if (writable(st, err) < 0)
		return -1;
	if (!token_ok(token, strlen(token))) {
		errno = EINVAL;
		return cda_error_sys(err, CDA_ESYS, "token for %s", key);
	}
	if ((path = token_path(st, key)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "state file for %s", key);
	if (atomicfile_open(&af, path, 0600, err) < 0)
		goto out;
	fprintf(af.fp, "%s\n%s\n", TOKEN_MAGIC, token);
	rc = atomicfile_commit(&af, err);
out:
	atomicfile_abort(&af);
	free(path);
	return rc;
}
