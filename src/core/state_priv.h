/* SPDX-License-Identifier: MIT */
/* What the files of the state dir share: the opened dir, file names, reading helpers. */
#ifndef CDNALLOW_STATE_PRIV_H
#define CDNALLOW_STATE_PRIV_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

struct cda_error;

struct state {
	char *dir;
	int lock_fd; /* -1 when readonly */
	bool readonly;
	bool missing; /* readonly and the directory does not exist: nothing stored */
};

/* DIR/PREFIX-NAME.list, NAME reduced to [a-z0-9_.-]; NULL when out of memory. */
char *state_file_path(const struct state *st, const char *prefix, const char *name);
/* 0, or -1 (EROFS) when the dir was opened read-only. */
int state_writable(const struct state *st, struct cda_error *err);
/* Open a state file for reading: 1 open, 0 absent, -1 error. */
int state_open_file(const struct state *st, const char *path, FILE **fp, struct cda_error *err);
/* CDA_EDATA "corrupt state file: what" at path:line; returns -1. */
int state_corrupt(struct cda_error *err, const char *path, unsigned int line, const char *what);
bool state_parse_time(const char *s, time_t *out); /* decimal seconds, nothing else */
void state_chomp(char *line, ssize_t *len);        /* drop trailing '\n' and '\r' */

/* A state file read a line at a time, after its magic first line. */
struct state_reader {
	FILE *fp;
	char *path;        /* DIR/PREFIX-NAME.list, owned */
	const char *magic; /* what line 1 must be ("# cdnallow applied v1") */
	char *line;        /* the current line, chomped */
	size_t cap;
	ssize_t len;
	unsigned int lineno;
};
/* Open DIR/PREFIX-NAME.list for reading: 1 open, 0 absent, -1 error. */
int state_reader_open(struct state_reader *rd, const struct state *st, const char *prefix,
		      const char *name, const char *magic, struct cda_error *err);
/* The next line after the magic one: 1, 0 at the end, -1 on a read error (CDA_ESYS), a NUL
 * byte or a wrong magic line (corrupt). */
int state_read_line(struct state_reader *rd, struct cda_error *err);
void state_reader_close(struct state_reader *rd); /* closes, frees; idempotent */

#endif
