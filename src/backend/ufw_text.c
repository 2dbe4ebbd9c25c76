// SPDX-License-Identifier: MIT
/* Our marked block in UFW's before.rules, before6.rules and before.init: strip, place, test. */
#include "ufw_text.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "textbuf.h"

/* The chains ufw-init creates besides those before.rules declares (ufw-init-functions'
 * chains_command() list, without the "ufw-" / "ufw6-" prefix). */
static const char *const ufw_chains[] = {
	"logging-deny",		"logging-allow",	   "not-local",
	"user-logging-input",	"user-limit-accept",	   "user-limit",
	"skip-to-policy-input", "reject-input",		   "after-logging-input",
	"after-input",		"user-input",		   "before-input",
	"before-logging-input", "skip-to-policy-forward", "reject-forward",
	"after-logging-forward", "after-forward",	   "user-logging-forward",
	"user-forward",		"before-forward",	   "before-logging-forward",
	"track-forward",	"track-output",		   "track-input",
	"skip-to-policy-output", "reject-output",	   "after-logging-output",
	"after-output",		"user-logging-output",	   "user-output",
	"before-output",	"before-logging-output",
};

/* The next line of text[0..len) from *pos: *l, its length without '\n'; *pos moves past it. */
static bool next_line(const char *text, size_t len, size_t *pos, const char **l, size_t *ll)
{
	const char *nl;

	if (*pos >= len)
		return false;
	*l = text + *pos;
	nl = memchr(*l, '\n', len - *pos);
	*ll = nl != NULL ? (size_t)(nl - *l) : len - *pos;
	*pos += *ll + (nl != NULL);
	return true;
}

/* Whether the line is word, give or take trailing blanks (and a '\r'). */
static bool line_is(const char *l, size_t ll, const char *word)
{
	size_t n = strlen(word);

	if (ll < n || memcmp(l, word, n) != 0)
		return false;
	for (size_t i = n; i < ll; i++)
		if (l[i] != ' ' && l[i] != '\t' && l[i] != '\r')
			return false;
	return true;
}

/* "*filter", as iptables-restore reads a table line ('*', then the name up to a blank). */
static bool is_filter(const char *l, size_t ll)
{
	return ll > 0 && l[0] == '*' && line_is(l + 1, ll - 1, "filter");
}

static enum ufw_text_result done(const struct textbuf *out)
{
	if (out->oom) {
		errno = ENOMEM;
		return UFW_TEXT_OOM;
	}
	return UFW_TEXT_OK;
}

enum ufw_text_result ufw_text_strip(const char *text, size_t len, struct textbuf *out,
				    size_t *n_blocks, unsigned int *line)
{
	size_t pos = 0, ll, start;
	unsigned int lineno = 0, begin = 0;
	const char *l;
	bool in = false;

	*n_blocks = 0;
	textbuf_add(out, "", 0);
	while (start = pos, next_line(text, len, &pos, &l, &ll)) {
		lineno++;
		if (!in && line_is(l, ll, UFW_BLOCK_BEGIN)) {
			in = true;
			begin = lineno;
			(*n_blocks)++;
		} else if (in) {
			in = !line_is(l, ll, UFW_BLOCK_END);
		} else {
			textbuf_add(out, text + start, pos - start);
		}
	}
	if (in) {
		*line = begin;
		return UFW_TEXT_UNCLOSED;
	}
	return done(out);
}

static enum ufw_text_result insert(const char *text, size_t len, size_t at, const char *sep,
				   const char *block, struct textbuf *out)
{
	textbuf_add(out, text, at);
	textbuf_add(out, sep, strlen(sep));
	textbuf_add(out, block, strlen(block));
	textbuf_add(out, text + at, len - at);
	return done(out);
}

enum ufw_text_result ufw_text_place_rules(const char *admin, size_t len, const char *block,
					  struct textbuf *out)
{
	size_t pos = 0, ll, start, run = SIZE_MAX;
	const char *l;
	bool filter = false;

	while (start = pos, next_line(admin, len, &pos, &l, &ll)) {
		if (!filter) {
			filter = is_filter(l, ll);
			continue;
		}
		if (line_is(l, ll, "COMMIT"))
			return insert(admin, len, run != SIZE_MAX ? run : start, "", block, out);
		/* the start of the comment lines right above the line to come */
		if (ll > 0 && l[0] == '#') {
			if (run == SIZE_MAX)
				run = start;
		} else {
			run = SIZE_MAX;
		}
	}
	return UFW_TEXT_NO_FILTER;
}

enum ufw_text_result ufw_text_place_init(const char *admin, size_t len, const char *block,
					 struct textbuf *out)
{
	const char *nl;

	if (len == 0)
		return insert("#!/bin/sh\n", 10, 10, "", block, out);
	if (len < 2 || admin[0] != '#' || admin[1] != '!')
		return insert(admin, len, 0, "", block, out);
	nl = memchr(admin, '\n', len);
	if (nl == NULL)
		return insert(admin, len, len, "\n", block, out);
	return insert(admin, len, (size_t)(nl - admin) + 1, "", block, out);
}

/* Whether the *filter section from pos on declares chain pfx-name (":pfx-name ..."). */
static bool declared(const char *text, size_t len, size_t pos, const char *pfx, const char *name)
{
	size_t pl = strlen(pfx), nl = strlen(name), ll;
	const char *l;

	while (next_line(text, len, &pos, &l, &ll)) {
		if (line_is(l, ll, "COMMIT"))
			break;
		if (ll > 1 + pl + nl && l[0] == ':' && memcmp(l + 1, pfx, pl) == 0 &&
		    memcmp(l + 1 + pl, name, nl) == 0 && (l[1 + pl + nl] == ' ' || l[1 + pl + nl] == '\t'))
			return true;
	}
	return false;
}

enum ufw_text_result ufw_text_test_input(const char *text, size_t len, bool v6,
					 struct textbuf *out, unsigned int *after,
					 unsigned int *added)
{
	const char *pfx = v6 ? "ufw6-" : "ufw-", *l;
	size_t pos = 0, ll;
	unsigned int lineno = 0;

	*after = 0;
	*added = 0;
	textbuf_add(out, "", 0);
	while (lineno++, next_line(text, len, &pos, &l, &ll)) {
		if (!is_filter(l, ll))
			continue;
		textbuf_add(out, text, pos);
		if (text[pos - 1] != '\n')
			textbuf_add(out, "\n", 1);
		for (size_t i = 0; i < sizeof(ufw_chains) / sizeof(ufw_chains[0]); i++) {
			if (!declared(text, len, pos, pfx, ufw_chains[i])) {
				textbuf_printf(out, ":%s%s - [0:0]\n", pfx, ufw_chains[i]);
				(*added)++;
			}
		}
		*after = lineno;
		textbuf_add(out, text + pos, len - pos);
		return done(out);
	}
	textbuf_add(out, text, len);
	return done(out);
}

enum ufw_text_result ufw_text_block_rules(const char *text, size_t len, struct textbuf *out)
{
	size_t pos = 0, ll;
	const char *l;
	bool in = false;

	textbuf_add(out, "", 0);
	while (next_line(text, len, &pos, &l, &ll)) {
		if (!in) {
			in = line_is(l, ll, UFW_BLOCK_BEGIN);
		} else if (line_is(l, ll, UFW_BLOCK_END)) {
			in = false;
		} else if (ll > 3 && memcmp(l, "-A ", 3) == 0) {
			textbuf_add(out, l, ll);
			textbuf_add(out, "\n", 1);
		}
	}
	return done(out);
}
