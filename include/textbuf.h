/* SPDX-License-Identifier: MIT */
/* textbuf: a growable buffer of bytes (text or not). */
#ifndef CDNALLOW_TEXTBUF_H
#define CDNALLOW_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "cda_error.h" /* CDA_PRINTF */

/*
 * A growable NUL-terminated text buffer. Zero-initialise it ({0}); p stays NULL until the
 * first byte is added, and is the caller's to free(). Appends after a failure keep going
 * (each may still fit) but oom stays set: check it once at the end.
 */
struct textbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

/*
 * Append data[0..n) to *buf (length *len, allocated size *cap; all three zero/NULL for an
 * empty buffer) and keep it NUL-terminated. The bytes are copied as they are, NUL bytes
 * included (*len counts them): fetch keeps response bodies in it. Grows to 4096 bytes first,
 * then doubling. Returns 0, or -1 with errno ENOMEM (also when *len + n + 1 would not fit a
 * size_t); the buffer is then unchanged.
 */
int textbuf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n);

/* textbuf_append() on a struct textbuf; sets b->oom on failure. */
void textbuf_add(struct textbuf *b, const char *data, size_t n);

/* Append printf output, however long; sets b->oom on failure (nothing appended then). */
CDA_PRINTF(2, 3) void textbuf_printf(struct textbuf *b, const char *fmt, ...);

/*
 * The next line of the text at *pos, its '\n' replaced by a NUL; *pos moves past it. NULL at
 * the end of the text (or when *pos is NULL). A last line without '\n' is returned too.
 */
char *textbuf_next_line(char **pos);

#endif
