// SPDX-License-Identifier: MIT
/* publish: keygen, and a run's validated lists written as a signed snapshot for a fleet. */
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cda_error.h"
#include "config.h"
#include "minisign.h"
#include "ranges.h"
#include "run.h"
#include "snapshot.h"
#include "state.h"
#include "textbuf.h"

#include "cli.h"

#define KEY_FILE_MAX 4096

/* A small file into buf (NUL-terminated), at most size - 1 bytes. -1 (CDA_ECONFIG). */
static int read_small(const char *path, char *buf, size_t size, struct cda_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return cda_error_sys(err, CDA_ECONFIG, "%s", path);
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return cda_error_sys(err, CDA_ECONFIG, "%s", path);
	if ((size_t)n == size - 1)
		return cda_error_set(err, CDA_ECONFIG, "%s: over %zu bytes", path, size - 1);
	buf[n] = '\0';
	return 0;
}

/* A new file that must not exist yet, written whole. -1 (CDA_ESYS). */
static int write_new(const char *path, mode_t mode, const char *text, struct cda_error *err)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);

	if (fd < 0)
		return cda_error_sys(err, CDA_ESYS, "%s", path);
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
		cda_error_sys(err, CDA_ESYS, "writing %s", path);
		close(fd);
		unlink(path);
		return -1;
	}
	if (close(fd) < 0)
		return cda_error_sys(err, CDA_ESYS, "writing %s", path);
	return 0;
}

/* The public key file's path: the secret key's with ".key" replaced by ".pub" (or added). */
static void pub_path(const char *sec, char *buf, size_t size)
{
	size_t n = strlen(sec);

	if (n > 4 && strcmp(sec + n - 4, ".key") == 0)
		n -= 4;
	snprintf(buf, size, "%.*s.pub", (int)n, sec);
}

int cli_keygen(const struct options *o)
{
	const char *sec = o->arg != NULL ? o->arg : CONFIG_DEFAULT_PUBLISH_KEY;
	struct minisign_pk pk;
	struct minisign_sk sk;
	struct cda_error err = {0};
	char pub[PATH_MAX], line[64], buf[600];
	char *skf = NULL, *pkf = NULL;
	int status = 0;

	pub_path(sec, pub, sizeof(pub));
	if (minisign_keygen(&pk, &sk, &err) < 0)
		goto fail;
	skf = minisign_sk_file(&sk);
	pkf = minisign_pk_file(&pk);
	memset(&sk, 0, sizeof(sk));
	if (skf == NULL || pkf == NULL) {
		cda_error_set(&err, CDA_ESYS, "out of memory");
		goto fail;
	}
	if (write_new(sec, 0600, skf, &err) < 0)
		goto fail;
	if (write_new(pub, 0644, pkf, &err) < 0) {
		unlink(sec);
		goto fail;
	}
	minisign_pk_base64(&pk, line, sizeof(line));
	if (o->verbosity >= 0)
		fprintf(stderr, "cdnallow: secret key %s, public key %s\n", sec, pub);
	printf("%s\n", line);
	goto out;
fail:
	fprintf(stderr, "cdnallow: keygen: %s\n", cda_error_str(&err, buf, sizeof(buf)));
	status = err.sys_errno == EEXIST ? 73 : cda_error_exit_status(&err);
out:
	free(skf);
	free(pkf);
	return status;
}

int cli_publish_key(const struct config *cfg, struct minisign_sk *sk, struct cda_error *err)
{
	const char *path = cfg->publish_key != NULL ? cfg->publish_key : CONFIG_DEFAULT_PUBLISH_KEY;
	char text[KEY_FILE_MAX], pw[1024];
	const char *password = NULL;
	int rc = -1;

	if (minisign_init(err) < 0 || read_small(path, text, sizeof(text), err) < 0)
		return -1;
	if (cfg->publish_password_file != NULL) {
		if (read_small(cfg->publish_password_file, pw, sizeof(pw), err) < 0)
			goto out;
		pw[strcspn(pw, "\r\n")] = '\0';
		password = pw;
	}
	rc = minisign_sk_parse(text, strlen(text), password, sk, err);
	if (rc < 0)
		cda_error_at(err, path, 0);
out:
	explicit_bzero(text, sizeof(text));
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

/* The next serial: max(last + 1, now), the last one kept in the state dir. */
static int next_serial(struct state *st, time_t now, uint64_t *serial, char *path, size_t size,
		       struct cda_error *err)
{
	char buf[64];
	uint64_t last = 0;
	FILE *fp;

	snprintf(path, size, "%s/publish.serial", state_dir(st));
	fp = fopen(path, "re");
	if (fp != NULL) {
		if (fgets(buf, sizeof(buf), fp) == NULL || sscanf(buf, "%" SCNu64, &last) != 1) {
			fclose(fp);
			return cda_error_set(err, CDA_ESYS, "%s: not a serial", path);
		}
		fclose(fp);
	} else if (errno != ENOENT) {
		return cda_error_sys(err, CDA_ESYS, "%s", path);
	}
	*serial = last + 1 > (uint64_t)now ? last + 1 : (uint64_t)now;
	return 0;
}

/* One plain list: one CIDR a line, one family of list. */
static int write_plain(const char *dir, const char *name, const struct ranges *list, int fam,
		       struct cda_error *err)
{
	struct cidr_list cl = {0};
	struct textbuf tb = {0};
	char path[PATH_MAX], buf[CIDR_STRLEN];
	int rc = -1;

	snprintf(path, sizeof(path), "%s/%s-v%d.txt", dir, name, fam == CDA_AF_INET ? 4 : 6);
	if (ranges_to_cidrs(list, &cl) < 0) {
		cda_error_sys(err, CDA_ESYS, "allocating");
		goto out;
	}
	for (size_t i = 0; i < cl.n; i++)
		if (cl.v[i].family == fam)
			textbuf_printf(&tb, "%s\n", cidr_format(&cl.v[i], buf));
	if (tb.oom) {
		cda_error_set(err, CDA_ESYS, "out of memory");
		goto out;
	}
	rc = atomicfile_write(path, 0644, tb.p != NULL ? tb.p : "", tb.len, err);
out:
	cidr_list_finish(&cl);
	free(tb.p);
	return rc;
}

/* Every source's plain lists, and all of them together ("all-v4.txt", "all-v6.txt"). */
static int write_plains(const char *dir, const struct snapshot *s, struct cda_error *err)
{
	struct ranges *all = ranges_new();
	int rc = -1;

	if (all == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating");
	for (size_t i = 0; i < s->n; i++) {
		if (write_plain(dir, s->v[i].name, s->v[i].list, CDA_AF_INET, err) < 0 ||
		    write_plain(dir, s->v[i].name, s->v[i].list, CDA_AF_INET6, err) < 0)
			goto out;
		if (ranges_add_all(all, s->v[i].list) < 0) {
			cda_error_sys(err, CDA_ESYS, "allocating");
			goto out;
		}
	}
	ranges_normalize(all);
	if (write_plain(dir, "all", all, CDA_AF_INET, err) < 0 ||
	    write_plain(dir, "all", all, CDA_AF_INET6, err) < 0)
		goto out;
	rc = 0;
out:
	ranges_free(all);
	return rc;
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Remove versioned snapshots beyond the keep newest (never the one just written). */
static void prune(const char *dir, unsigned int keep, uint64_t current)
{
	DIR *d = opendir(dir);
	uint64_t *v = NULL, *t;
	size_t n = 0;
	struct dirent *de;
	char name[80], path[PATH_MAX];

	while (d != NULL && (de = readdir(d)) != NULL) {
		uint64_t s = snapshot_name_serial(de->d_name, strlen(de->d_name));

		if (s == 0 || (t = reallocarray(v, n + 1, sizeof(*v))) == NULL)
			continue;
		v = t;
		v[n++] = s;
	}
	if (d != NULL)
		closedir(d);
	if (v != NULL)
		qsort(v, n, sizeof(*v), cmp_desc);
	for (size_t i = keep; i < n; i++) {
		if (v[i] == current)
			continue;
		snapshot_file_name(v[i], name, sizeof(name));
		snprintf(path, sizeof(path), "%s/%s.minisig", dir, name);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		unlink(path);
	}
	free(v);
}

/* The snapshot's bytes, signed: versioned file and signature, then the pointer "latest". */
static int write_files(const char *dir, const struct config *cfg, const struct snapshot *s,
		       const struct minisign_sk *sk, struct cda_error *err)
{
	struct textbuf tb = {0};
	char name[80], line[82], path[PATH_MAX], trusted[256], *sig = NULL;
	int rc = -1;

	snapshot_format(s, &tb);
	snapshot_file_name(s->serial, name, sizeof(name));
	snprintf(trusted, sizeof(trusted), "timestamp:%lld\tfile:%s\tserial:%" PRIu64
		 "\tpublisher:%s", (long long)s->time, name, s->serial, s->publisher);
	if (tb.oom) {
		cda_error_set(err, CDA_ESYS, "out of memory");
		goto out;
	}
	if (minisign_sign(sk, tb.p, tb.len, trusted, &sig, err) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (atomicfile_write(path, 0644, tb.p, tb.len, err) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s.minisig", dir, name);
	if (atomicfile_write(path, 0644, sig, strlen(sig), err) < 0)
		goto out;
	if (cfg->publish_plain && write_plains(dir, s, err) < 0)
		goto out;
	/* last: a reader that sees the new name finds both of its files complete */
	snprintf(path, sizeof(path), "%s/latest", dir);
	snprintf(line, sizeof(line), "%s\n", name);
	if (atomicfile_write(path, 0644, line, strlen(line), err) < 0)
		goto out;
	prune(dir, cfg->publish_keep, s->serial);
	rc = 0;
out:
	free(tb.p);
	free(sig);
	return rc;
}

int cli_publish(const struct options *o, const struct config *cfg, struct state *st,
		struct run_list *lists, const struct minisign_sk *sk, time_t now)
{
	struct snapshot s = {.time = now};
	struct cda_error err = {0};
	char serial_path[PATH_MAX], buf[600], line[32];
	int status = 0;

	if (cfg->publisher != NULL)
		snprintf(s.publisher, sizeof(s.publisher), "%s", cfg->publisher);
	else if (gethostname(s.publisher, sizeof(s.publisher) - 1) < 0 || s.publisher[0] == '\0')
		snprintf(s.publisher, sizeof(s.publisher), "cdnallow");
	s.publisher[strspn(s.publisher, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			   "0123456789_.-")] = '\0';
	s.v = calloc(cfg->n_sources, sizeof(*s.v));
	if (s.v == NULL)
		return 71;
	for (size_t i = 0; i < cfg->n_sources; i++) {
		if (lists[i].list == NULL) {
			cli_log(o, LOG_ERR, "publish: source %s has no list: nothing published",
				lists[i].name);
			status = 75;
			goto out;
		}
		snprintf(s.v[i].name, sizeof(s.v[i].name), "%s", lists[i].name);
		snprintf(s.v[i].token, sizeof(s.v[i].token), "%s", lists[i].token);
		s.v[i].fetched = lists[i].fetched;
		s.v[i].list = lists[i].list;
		s.n++;
	}
	if (cfg->publish_plain && snapshot_find(&s, "all") != NULL) {
		cda_error_set(&err, CDA_ECONFIG, "publish_plain: a source named 'all' would write "
			      "the union's plain lists (all-v4.txt): rename it");
		goto fail;
	}
	if (mkdir(o->arg, 0755) < 0 && errno != EEXIST) {
		cda_error_sys(&err, CDA_ESYS, "%s", o->arg);
		goto fail;
	}
	if (next_serial(st, now, &s.serial, serial_path, sizeof(serial_path), &err) < 0)
		goto fail;
	/* the serial is kept first: a publication cut short never hands its serial out again */
	snprintf(line, sizeof(line), "%" PRIu64 "\n", s.serial);
	if (atomicfile_write(serial_path, 0600, line, strlen(line), &err) < 0 ||
	    write_files(o->arg, cfg, &s, sk, &err) < 0)
		goto fail;
	if (o->verbosity >= 0 && !o->json)
		printf("published snapshot-%" PRIu64 ".txt: %zu sources, publisher %s, in %s\n",
		       s.serial, s.n, s.publisher, o->arg);
	goto out;
fail:
	cli_log(o, LOG_ERR, "publish: %s", cda_error_str(&err, buf, sizeof(buf)));
	status = cda_error_exit_status(&err);
out:
	free(s.v); /* the lists are the caller's */
	return status;
}
