// SPDX-License-Identifier: MIT
/* exec_doc: the exec backend's JSON document, its commands' state token and read-back. */
#include "exec_doc.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "ranges.h"
#include "state.h"
#include "textbuf.h"

/* A JSON string: quotes, backslashes and control bytes escaped; other bytes as they are. */
static void json_str(struct textbuf *b, const char *s)
{
	textbuf_add(b, "\"", 1);
	while (*s != '\0') {
		size_t n = 0;

		while (s[n] != '\0' && s[n] != '"' && s[n] != '\\' && (unsigned char)s[n] >= 0x20)
			n++;
		textbuf_add(b, s, n);
		s += n;
		if (*s == '"' || *s == '\\') {
			textbuf_add(b, "\\", 1);
			textbuf_add(b, s++, 1);
		} else if (*s != '\0') {
			textbuf_printf(b, "\\u%04x", (unsigned int)(unsigned char)*s++);
		}
	}
	textbuf_add(b, "\"", 1);
}

/* {"ipv4":[...],"ipv6":[...]} of a sorted list (IPv4 first). */
static void families(struct textbuf *b, const struct cidr_list *l)
{
	char buf[CIDR_STRLEN];
	size_t i = 0;

	for (int f = 0; f < 2; f++) {
		int fam = f == 0 ? CDA_AF_INET : CDA_AF_INET6;
		bool first = true;

		textbuf_add(b, f == 0 ? "{\"ipv4\":[" : "],\"ipv6\":[", f == 0 ? 9 : 10);
		for (; l != NULL && i < l->n && l->v[i].family == fam; i++) {
			size_t n = strlen(cidr_format(&l->v[i], buf));

			if (!first)
				textbuf_add(b, ",", 1);
			first = false;
			textbuf_add(b, "\"", 1);
			textbuf_add(b, buf, n);
			textbuf_add(b, "\"", 1);
		}
	}
	textbuf_add(b, "]}", 2);
}

void exec_doc_json(const struct exec_doc *d, struct textbuf *b)
{
	char buf[CIDR_STRLEN];
	bool first = true;

	textbuf_printf(b, "{\"version\":%d,\"target\":", EXEC_DOC_VERSION);
	json_str(b, d->target);
	textbuf_printf(b, ",\"dry_run\":%s,\"state\":", d->dry_run ? "true" : "false");
	json_str(b, d->state);
	if (d->want != NULL) {
		textbuf_add(b, ",\"want\":", 8);
		families(b, d->want);
		textbuf_add(b, ",\"added\":", 9);
		families(b, d->added);
		textbuf_add(b, ",\"removed\":", 11);
		families(b, d->removed);
		textbuf_add(b, ",\"sources_of\":{", 15);
		for (size_t i = 0; i < d->want->n; i++) {
			const char *src = backend_source_of(d->srcs, d->n_srcs, &d->want->v[i]);

			if (src == NULL)
				continue;
			textbuf_printf(b, "%s\"%s\":", first ? "" : ",",
				       cidr_format(&d->want->v[i], buf));
			json_str(b, src);
			first = false;
		}
		textbuf_add(b, "}", 1);
	}
	textbuf_add(b, "}\n", 2);
}

int exec_token(const char *out, size_t len, char *tok, size_t size, const char **why)
{
	if (len > 0 && out[len - 1] == '\n')
		len--;
	if (len > 0 && out[len - 1] == '\r')
		len--;
	*why = NULL;
	if (memchr(out, '\n', len) != NULL)
		*why = "more than one line";
	else if (len > STATE_TOKEN_MAX || len >= size)
		*why = "longer than 1024 bytes";
	for (size_t i = 0; *why == NULL && i < len; i++)
		if (out[i] < 0x20 || out[i] > 0x7e)
			*why = "a control or non-ASCII byte";
	if (*why != NULL)
		return -1;
	memcpy(tok, out, len);
	tok[len] = '\0';
	return 0;
}

int exec_parse_held(char *text, struct ranges *cur, unsigned int *bad_line)
{
	char *pos = text, *l;
	unsigned int n = 0;

	*bad_line = 0;
	while ((l = textbuf_next_line(&pos)) != NULL) {
		size_t len;
		struct cidr c;

		n++;
		while (*l == ' ' || *l == '\t')
			l++;
		len = strlen(l);
		while (len > 0 && (l[len - 1] == ' ' || l[len - 1] == '\t' || l[len - 1] == '\r'))
			len--;
		if (len == 0 || l[0] == '#')
			continue;
		if (cidr_parse(l, len, &c, NULL) != CIDR_OK) {
			*bad_line = n;
			return -1;
		}
		if (ranges_add_cidr(cur, &c) < 0) {
			errno = ENOMEM;
			return -2;
		}
	}
	return 0;
}

void exec_tail(const char *text, char *buf, size_t size)
{
	struct textbuf b = {0};
	const char *s = text != NULL ? text : "";

	if (size == 0)
		return;
	buf[0] = '\0';
	while (*s != '\0') {
		size_t len = strcspn(s, "\n"), n = len;

		while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (n > 0) {
			if (b.len > 0)
				textbuf_add(&b, "; ", 2);
			textbuf_add(&b, s, n);
		}
		s += len + (s[len] == '\n');
	}
	if (b.oom || b.p == NULL) {
		free(b.p);
		return;
	}
	if (b.len < size)
		memcpy(buf, b.p, b.len + 1);
	else if (size > 4)
		snprintf(buf, size, "...%s", b.p + b.len - (size - 4));
	free(b.p);
}
