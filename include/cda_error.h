/* SPDX-License-Identifier: MIT */
/* cda_error: one failure with its context, carried up to the CLI. */
#ifndef CDNALLOW_CDA_ERROR_H
#define CDNALLOW_CDA_ERROR_H

#define CDA_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Error classes; each maps to one exit status (cda_error_exit_status()). */
enum cda_errc {
	CDA_OK = 0,
	CDA_EUSAGE,  /* bad command line                              -> 64 */
	CDA_EDATA,   /* payload malformed, no fallback                -> 65 */
	CDA_EGUARD,  /* refused by a safety guard, nothing applied    ->  3 */
	CDA_EAPPLY,  /* backend failed, target left as it was         -> 69 */
	CDA_EFETCH,  /* network/HTTP failure (fallback may have run)  -> 75 */
	CDA_ECONFIG, /* bad, unreadable or unsafe configuration       -> 78 */
	CDA_ESYS,    /* out of memory, unexpected OS failure          -> 71 */
};

/* One failure with its context. Transparent, caller-owned, no heap. */
struct cda_error {
	enum cda_errc code;
	int sys_errno;	   /* errno at the failure, 0 if none */
	char origin[256];  /* config path, "source cloudflare (https://...)", set name */
	unsigned int line; /* 1-based line within origin, 0 if none */
	char msg[256];
};

/* Set class and message; all return -1 so a caller can "return cda_error_set(...)". */
int cda_error_set(struct cda_error *e, enum cda_errc c, const char *fmt, ...) CDA_PRINTF(3, 4);
/* Same, and keep errno (read before anything else) in sys_errno; appends strerror. */
int cda_error_sys(struct cda_error *e, enum cda_errc c, const char *fmt, ...) CDA_PRINTF(3, 4);
/* Add where it happened. An origin already set is kept (innermost wins); a line is only
 * taken when none is set yet. Returns -1. */
int cda_error_at(struct cda_error *e, const char *origin, unsigned int line);
/* Reset to CDA_OK with empty fields. */
void cda_error_clear(struct cda_error *e);
/* Exit status for a class (table in the man page's EXIT STATUS). */
int cda_error_exit_status(const struct cda_error *e);
int cda_errc_exit_status(enum cda_errc c);
/* "origin:line: msg" (origin and line omitted when empty) into buf; returns buf. */
const char *cda_error_str(const struct cda_error *e, char *buf, unsigned long size);
/* Short name of a class: "usage", "data", "guard", "apply", "fetch", "config", "system". */
const char *cda_errc_name(enum cda_errc c);

#endif
