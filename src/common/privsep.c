// SPDX-License-Identifier: MIT
/* privsep: fork a sandboxed child for a job, read its answer under a deadline, reap it. */
#include "privsep.h"

#include <sys/socket.h>
#include <sys/wait.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cda_error.h"
#include "sandbox.h"
#include "textbuf.h"

/* The child's exit status when its parent was gone before it could be told to die with it. */
#define EXIT_ORPHAN 3

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* The child: sandbox first, then the job, then the answer. Never returns. */
static _Noreturn void child(const struct privsep_job *job, int fd, pid_t parent)
{
	struct cda_error e = {0};
	char *out = NULL;
	size_t len = 0;
	bool boxed = sandbox_enter(&fd, 1, &e) == 0;

	if (boxed && getppid() != parent)
		_exit(EXIT_ORPHAN);
	if (job->work(job->ctx, boxed ? NULL : &e, &out, &len) < 0)
		_exit(1);
	_exit(send_all(fd, out, len) ? 0 : 1);
}

/*
 * The answer until EOF, before the deadline and within max bytes: 0; 1 past the deadline;
 * 2 over max; -1 (errno) when reading failed.
 */
static int collect(int fd, long long deadline, size_t max, struct textbuf *b)
{
	char buf[65536];

	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		long long left = deadline - now_ms();
		ssize_t n;
		int ready;

		if (left <= 0)
			return 1;
		ready = poll(&p, 1, left > 60000 ? 60000 : (int)left);

		if (ready < 0 && errno != EINTR)
			return -1;
		if (ready <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return n < 0 ? -1 : 0;
		if ((size_t)n > max - b->len)
			return 2;
		textbuf_add(b, buf, (size_t)n);
		if (b->oom) {
			errno = ENOMEM;
			return -1;
		}
	}
}

/* Wait for the child until the deadline (then kill it): its wait status. */
static int reap(pid_t pid, long long deadline, bool *killed)
{
	struct timespec nap = {0, 1000000};
	int st = 0;

	*killed = false;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			return st;
		if (r == 0 && now_ms() >= deadline)
			break;
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < 64000000)
			nap.tv_nsec *= 2;
	}
	kill(pid, SIGKILL);
	*killed = true;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

/* How the child ended, as an error: 0 when it exited 0. */
static int judge(const struct privsep_job *job, int st, struct cda_error *err)
{
	int sig;

	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st))
		return cda_error_set(err, CDA_EFETCH, "%s exited with status %d", job->name,
				     WEXITSTATUS(st));
	sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	return cda_error_set(err, CDA_EFETCH, "%s was killed by signal %d (%s)%s", job->name, sig,
			     strsignal(sig),
			     sig == SIGSYS ? ": a system call its sandbox forbids" : "");
}

int privsep_run(const struct privsep_job *job, char **out, size_t *len, struct cda_error *err)
{
	long long deadline = now_ms() + (long long)job->timeout * 1000;
	struct textbuf b = {0};
	pid_t parent = getpid(), pid;
	int sv[2], rc, st;
	bool killed;

	*out = NULL;
	*len = 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return cda_error_sys(err, CDA_ESYS, "%s: socketpair", job->name);
	if ((pid = fork()) < 0) {
		cda_error_sys(err, CDA_ESYS, "%s: fork", job->name);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		child(job, sv[1], parent);
	}
	close(sv[1]);
	rc = collect(sv[0], deadline, job->max_len, &b);
	if (rc < 0)
		cda_error_sys(err, CDA_ESYS, "%s: reading its answer", job->name);
	close(sv[0]); /* a child still sending gets EPIPE */
	st = reap(pid, rc == 0 ? deadline : 0, &killed);
	if (rc == 1 || (rc == 0 && killed))
		cda_error_set(err, CDA_EFETCH, "%s did not finish within %u s (killed)", job->name,
			      job->timeout);
	else if (rc == 2)
		cda_error_set(err, CDA_EFETCH, "%s answered more than %zu bytes (killed)",
			      job->name, job->max_len);
	else if (rc == 0 && judge(job, st, err) == 0) {
		*out = b.p;
		*len = b.len;
		return 0;
	}
	free(b.p);
	return -1;
}
