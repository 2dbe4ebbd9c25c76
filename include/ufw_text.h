/* SPDX-License-Identifier: MIT */
/* The text of UFW's files as the ufw backend edits them: our marked block, in and out. */
#ifndef CDNALLOW_UFW_TEXT_H
#define CDNALLOW_UFW_TEXT_H

#include <stdbool.h>
#include <stddef.h>

struct textbuf;

/* Our block: whole lines from the first marker line to the second, both included. */
#define UFW_BLOCK_BEGIN "# BEGIN cdnallow"
#define UFW_BLOCK_END "# END cdnallow"

enum ufw_text_result {
	UFW_TEXT_OK = 0,
	UFW_TEXT_OOM = -1,	 /* out of memory (errno ENOMEM) */
	UFW_TEXT_UNCLOSED = -2,	 /* a begin marker without an end marker after it */
	UFW_TEXT_NO_FILTER = -3, /* no "*filter" line with a "COMMIT" line after it */
};

/*
 * text[0..len) without any block of ours (every other byte kept, in order) into out, which
 * must be empty. *n_blocks: how many were removed. UNCLOSED sets *line to the line of the
 * begin marker. Pure.
 */
enum ufw_text_result ufw_text_strip(const char *text, size_t len, struct textbuf *out,
				    size_t *n_blocks, unsigned int *line);

/*
 * A before.rules text without our block (admin) with block (whole lines) inserted inside
 * its *filter section: before that section's COMMIT line, above the comment lines directly
 * over it ("don't delete the 'COMMIT' line"), so after every rule of the admin's there.
 * Into out (empty). Pure.
 */
enum ufw_text_result ufw_text_place_rules(const char *admin, size_t len, const char *block,
					  struct textbuf *out);

/*
 * A before.init text without our block with block inserted after its first line when that is
 * a "#!" line, else at the top; an empty text becomes "#!/bin/sh\n" + block. Into out. Pure.
 */
enum ufw_text_result ufw_text_place_init(const char *admin, size_t len, const char *block,
					 struct textbuf *out);

/*
 * Input for `iptables-restore --test` that checks a before.rules (v6: before6.rules) text on
 * its own: the text with, right after its "*filter" line, a declaration of every chain UFW
 * creates around it ("ufw-logging-deny", ...; "ufw6-..." for v6) that the text does not
 * declare itself. Text without a *filter line is copied as it is. Into out (empty). Lines of
 * the text after line *after (1-based; 0: none) are *added lines further down in out. Pure.
 */
enum ufw_text_result ufw_text_test_input(const char *text, size_t len, bool v6,
					 struct textbuf *out, unsigned int *after,
					 unsigned int *added);

/* The rule lines ("-A ...") inside our blocks of text, each '\n'-terminated, into out. Pure. */
enum ufw_text_result ufw_text_block_rules(const char *text, size_t len, struct textbuf *out);

#endif
