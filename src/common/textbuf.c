// SPDX-License-Identifier: MIT
/* textbuf: one growable byte/text buffer for every module that builds output. */
#include "textbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for n more bytes plus the NUL; 0, or -1 with errno ENOMEM and nothing changed. */
static int reserve(char **buf, size_t len, size_t *cap, size_t n)
{
	size_t need, ncap;
	char *p;

	if (n >= SIZE_MAX - len) { /* len + n + 1 would wrap */
		errno = ENOMEM;
		return -1;
	}
	need = len + n + 1;
	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 4096;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2) {
			ncap = need;
			break;
		}
		ncap *= 2;
	}
	if ((p = realloc(*buf, ncap)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	*buf = p;
	*cap = ncap;
	return 0;
}

int textbuf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
	if (reserve(buf, *len, cap, n) < 0)
		return -1;
	if (n > 0)
		memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

void textbuf_add(struct textbuf *b, const char *data, size_t n)
{
	if (textbuf_append(&b->p, &b->len, &b->cap, data, n) < 0)
		b->oom = true;
}

void textbuf_printf(struct textbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	room = b->cap > b->len ? b->cap - b->len : 0;
	va_start(ap, fmt);
	n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		goto fail;
	if ((size_t)n >= room) {
		if (reserve(&b->p, b->len, &b->cap, (size_t)n) < 0)
			goto fail;
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0 || (size_t)n >= b->cap - b->len)
			goto fail;
	}
	b->len += (size_t)n;
	return;
fail:
	if (b->p != NULL && b->cap > b->len)
		b->p[b->len] = '\0'; /* drop any partial output */
	b->oom = true;
}

char *textbuf_next_line(char **pos)
{
	char *s = *pos, *nl;

	if (s == NULL || *s == '\0')
		return NULL;
	nl = strchr(s, '\n');
	if (nl != NULL) {
		*nl = '\0';
		*pos = nl + 1;
	} else {
		*pos = s + strlen(s);
	}
	return s;
}
