/* SPDX-License-Identifier: MIT */
/* privsep: run a job in a forked child that enters the sandbox first; take its answer back. */
#ifndef CDNALLOW_PRIVSEP_H
#define CDNALLOW_PRIVSEP_H

#include <stddef.h>

struct cda_error;

/* What the child does, and the limits the parent holds it to. */
struct privsep_job {
	/*
	 * Runs in the child. sandbox_err is NULL once the child is in its sandbox; otherwise
	 * the child could not enter it, and work must only put that into its answer, reading
	 * no input. The answer's bytes go into *out (malloc'd), *len; -1: no answer.
	 */
	int (*work)(void *ctx, const struct cda_error *sandbox_err, char **out, size_t *len);
	void *ctx;
	const char *name;     /* "the fetch process": for messages */
	unsigned int timeout; /* seconds from the fork to the child's exit */
	size_t max_len;	      /* the longest answer taken */
};

/*
 * Fork. The child calls sandbox_enter() first (keeping only the channel and stderr), then
 * job->work, sends the answer and leaves with _exit(): no atexit handler, no stdio flush.
 * The parent reads the answer until EOF, then waits for the child. 0 with the answer in
 * *out (malloc'd, *len bytes; NULL and 0 when none came) only when the child exited 0.
 * Otherwise -1 with err, CDA_EFETCH: the child was killed by a signal (SIGSYS: a call its
 * sandbox forbids), exited non-zero, was still running after job->timeout seconds or sent
 * more than job->max_len bytes (then it is killed); CDA_ESYS when fork or the channel
 * failed. The child is always reaped.
 */
int privsep_run(const struct privsep_job *job, char **out, size_t *len, struct cda_error *err);

#endif
