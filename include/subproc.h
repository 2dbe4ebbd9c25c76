/* SPDX-License-Identifier: MIT */
/* Commands run without a shell, command lines split into words, whole files read. */
#ifndef CDNALLOW_SUBPROC_H
#define CDNALLOW_SUBPROC_H

#include <stddef.h>

struct cda_error;

/* What a finished command printed, and how it ended. Caller-owned; subproc_out_finish(). */
struct subproc_out {
	char *out, *err; /* stdout, stderr: NUL-terminated, never NULL after a run returned 0 */
	size_t out_len, err_len;
	int status; /* exit status; 128 + signal number when a signal killed it */
};

/* Where a command's program is looked up first, and the only PATH the command sees. */
#define SUBPROC_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define SUBPROC_TIMEOUT 60	    /* seconds, when subproc_opts.timeout is 0 */
#define SUBPROC_TIMEOUT_MAX 3600 /* the most a target's command_timeout may say */

/* How to run a command: zero-initialise, then set argv and what else is needed. */
struct subproc_opts {
	char *const *argv; /* NULL-terminated; argv[0] a path or a name (see subproc_exec()) */
	const char *in;    /* in[0..in_len) on stdin; NULL: /dev/null */
	size_t in_len;
	unsigned int timeout; /* seconds; 0: SUBPROC_TIMEOUT */
	/* "NAME=value" strings for the child's environment, NULL-terminated (NULL: none); one
	 * named PATH or LANG replaces the default. */
	const char *const *env;
};

/*
 * Run o->argv without a shell, in a setting of its own: the child leads a new process group,
 * inherits no file descriptor but 0-2, and its environment is PATH=SUBPROC_PATH, LANG=C and
 * o->env, nothing of ours. A name without '/' is looked up in SUBPROC_PATH first, then in the
 * absolute directories of our PATH: a system program cannot be shadowed, one installed
 * elsewhere is still found. Stdin is o->in or /dev/null; stdout and stderr are collected
 * into *out (whole, however large: stdin is fed while both are read, so neither side blocks
 * the other). A child that stops reading early does not kill us with SIGPIPE.
 *
 * The command has o->timeout seconds to close its output and exit (with whatever it started
 * in its group); then the group gets SIGTERM, SIGKILL once the command has exited or 2 s
 * later, and the call fails with CDA_EAPPLY "`ARGV...` timed out after N s" (the words as in
 * subproc_fail()), sys_errno ETIMEDOUT.
 *
 * Returns 0 whatever the exit status (see out->status); -1 when the command timed out or
 * could not be run at all: CDA_EAPPLY "cannot run ARGV0" with sys_errno (ENOENT for a
 * missing program), CDA_ESYS for pipes, memory, wait. On -1 *out is zeroed and owns nothing.
 */
int subproc_exec(const struct subproc_opts *o, struct subproc_out *out, struct cda_error *err);

/* subproc_exec() of argv with in[0..in_len) on stdin (NULL: /dev/null) and timeout seconds
 * (0: SUBPROC_TIMEOUT). */
int subproc_run(char *const argv[], const char *in, size_t in_len, unsigned int timeout,
		struct subproc_out *out, struct cda_error *err);

/* subproc_run() that also requires exit status 0: otherwise subproc_fail()'s error, *out
 * finished, -1. */
int subproc_run_ok(char *const argv[], const char *in, size_t in_len, unsigned int timeout,
		   struct subproc_out *out, struct cda_error *err);

/*
 * CDA_EAPPLY "`ARGV...` failed (exit N): TEXT": the command's words (cut at 95 bytes), then
 * its stderr (stdout when stderr is empty) on one line, lines joined by ';', cut at 159 bytes.
 * Lines holding " WARNING " are skipped (fail2ban's client logs some on every call). Returns
 * -1.
 */
int subproc_fail(char *const argv[], const struct subproc_out *out, struct cda_error *err);

/* Free both buffers and zero *out; idempotent, NULL-safe. */
void subproc_out_finish(struct subproc_out *out);

/*
 * A command line from a config file as an argv, without a shell: words split at blanks
 * (space, tab); '...' and "..." group (nothing is special inside '...'; \" and \\ are escapes
 * inside "..."); quotes may join parts of one word (a'b c'd is "ab cd"); '' is an empty word.
 * When path is not NULL every "{path}" is replaced by it (a quoted or inner one too).
 * Returns a NULL-terminated array (free with subproc_free_argv()), or NULL with errno EINVAL
 * (unbalanced quote, no word at all) or ENOMEM.
 */
char **subproc_split(const char *line, const char *path);

/* Free an argv from subproc_split() (every string, then the array); NULL-safe. */
void subproc_free_argv(char **argv);

/*
 * A whole file into *data (NUL-terminated, *len bytes without the NUL; free() it).
 * 0 when read, 1 when it does not exist (*data NULL), -1 otherwise: CDA_EAPPLY "cannot read
 * PATH" with errno (CDA_ESYS when out of memory), origin PATH. err may be NULL.
 */
int subproc_slurp(const char *path, char **data, size_t *len, struct cda_error *err);

#endif
