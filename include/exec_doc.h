/* SPDX-License-Identifier: MIT */
/* exec_doc: what the exec backend hands its commands and takes back from them (pure). */
#ifndef CDNALLOW_EXEC_DOC_H
#define CDNALLOW_EXEC_DOC_H

#include <stdbool.h>
#include <stddef.h>

struct cidr_list;
struct ranges;
struct source_attr;
struct textbuf;

/* Version of the document on the commands' stdin; a new field does not change it, a changed
 * or removed one does. */
#define EXEC_DOC_VERSION 1

/*
 * The document. Every command gets version, target, dry_run and state (the token the
 * command printed after the last successful apply, "" before the first); the apply command
 * also gets want, added and removed ({"ipv4": [CIDR...], "ipv6": [...]}, canonical CIDRs,
 * sorted) and sources_of (CIDR of want -> the first configured source whose list holds its
 * first address).
 */
struct exec_doc {
	const char *target;
	const char *state;
	bool dry_run;
	const struct cidr_list *want; /* NULL: the read_command document, without lists */
	const struct cidr_list *added, *removed;
	const struct source_attr *srcs;
	size_t n_srcs;
};

/* Append the document as one line of JSON and a newline to b (b->oom when out of memory). */
void exec_doc_json(const struct exec_doc *d, struct textbuf *b);

/*
 * The state token a command printed on stdout (out[0..len)): one trailing newline is
 * dropped, then it must be at most STATE_TOKEN_MAX bytes of printable ASCII (0x20-0x7e) on
 * one line; empty is allowed. 0 with the token in tok[size] (size > STATE_TOKEN_MAX), or -1
 * with *why saying what is wrong with it.
 */
int exec_token(const char *out, size_t len, char *tok, size_t size, const char **why);

/*
 * What a read_command printed: one CIDR or address a line; surrounding blanks, empty lines
 * and lines starting with '#' are skipped. Items are appended to cur (not normalised).
 * 0; -1 with *bad_line (1-based) for a line that is not a CIDR or has host bits set; -2 with
 * errno ENOMEM. text is modified (lines are cut in place).
 */
int exec_parse_held(char *text, struct ranges *cur, unsigned int *bad_line);

/*
 * The end of what a failed command said, on one line, into buf[size]: its non-empty lines
 * joined by "; ", and when that is longer, "..." and the last size - 4 bytes.
 */
void exec_tail(const char *text, char *buf, size_t size);

#endif
