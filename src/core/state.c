// SPDX-License-Identifier: MIT
/* The state dir: open, check and lock it; name, open and check the files in it. */
#include "state.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cda_error.h"
#include "state_priv.h"

#define LOCK_POLL_MS 100

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
char *state_file_path(const struct state *st, const char *prefix, const char *name)
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

int state_writable(const struct state *st, struct cda_error *err)
{
	if (st->readonly) {
		errno = EROFS;
		return cda_error_sys(err, CDA_ESYS, "state directory %s opened read-only", st->dir);
	}
	return 0;
}

/* Open a state file for reading: 1 open, 0 absent, -1 error. */
int state_open_file(const struct state *st, const char *path, FILE **fp, struct cda_error *err)
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

int state_corrupt(struct cda_error *err, const char *path, unsigned int line, const char *what)
{
	cda_error_set(err, CDA_EDATA, "corrupt state file: %s", what);
	return cda_error_at(err, path, line);
}

bool state_parse_time(const char *s, time_t *out)
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

void state_chomp(char *line, ssize_t *len)
{
	while (*len > 0 && (line[*len - 1] == '\n' || line[*len - 1] == '\r'))
		line[--*len] = '\0';
}

int state_reader_open(struct state_reader *rd, const struct state *st, const char *prefix,
		      const char *name, const char *magic, struct cda_error *err)
{
	rd->magic = magic;
	if ((rd->path = state_file_path(st, prefix, name)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "state file for %s", name);
	return state_open_file(st, rd->path, &rd->fp, err);
}

int state_read_line(struct state_reader *rd, struct cda_error *err)
{
	char what[64];

	do {
		rd->len = getline(&rd->line, &rd->cap, rd->fp);
		if (rd->len < 0) {
			if (ferror(rd->fp))
				return cda_error_sys(err, CDA_ESYS, "cannot read %s", rd->path);
			return 0;
		}
		rd->lineno++;
		if ((size_t)rd->len != strlen(rd->line))
			return state_corrupt(err, rd->path, rd->lineno, "NUL byte");
		state_chomp(rd->line, &rd->len);
		if (rd->lineno == 1 && strcmp(rd->line, rd->magic) != 0) {
			snprintf(what, sizeof(what), "not a %s file", rd->magic + strlen("# "));
			return state_corrupt(err, rd->path, 1, what);
		}
	} while (rd->lineno == 1);
	return 1;
}

void state_reader_close(struct state_reader *rd)
{
	if (rd->fp != NULL)
		fclose(rd->fp);
	rd->fp = NULL;
	free(rd->line);
	rd->line = NULL;
	free(rd->path);
	rd->path = NULL;
}
