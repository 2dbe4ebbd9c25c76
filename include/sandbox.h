/* SPDX-License-Identifier: MIT */
/* sandbox: what a process reading network input gives up: its uid, capabilities, syscalls. */
#ifndef CDNALLOW_SANDBOX_H
#define CDNALLOW_SANDBOX_H

#include <stddef.h>

struct cda_error;

/* The account a sandbox runs as when started by root: this one when it exists... */
#define SANDBOX_USER "cdnallow"
/* ...else "nobody", else this uid and gid */
#define SANDBOX_NOBODY 65534

/*
 * Enter the sandbox, for good, as the first thing a forked child does:
 *  - file descriptors: 0 and 1 on /dev/null, 2 kept, keep[0..n_keep) kept, all others closed;
 *  - identity: as root, no supplementary groups and every uid and gid set to SANDBOX_USER's
 *    (else nobody's, else SANDBOX_NOBODY); not as root, the current uid and gid are kept;
 *  - no capability left (effective, permitted, inheritable, ambient; the bounding set too
 *    when we may drop it), no core dumps, not dumpable, PR_SET_NO_NEW_PRIVS, SIGKILL when
 *    the parent dies;
 *  - a seccomp filter: what libcurl, OpenSSL, json-c and the resolver need (sockets of
 *    AF_INET, AF_INET6 and AF_UNIX only, files opened read-only only, threads but no new
 *    process); any other system call fails with EPERM, and those that could widen the
 *    sandbox (execve, ptrace, mount, bpf, unshare, io_uring, ...) kill the process.
 * Every step is checked (getresuid, capget): -1 (CDA_ESYS, naming the step) when one fails,
 * and the process must then not go on to read network input.
 */
int sandbox_enter(const int *keep, size_t n_keep, struct cda_error *err);

#endif
