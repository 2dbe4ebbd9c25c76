// SPDX-License-Identifier: MIT
/* Run a command without a shell and collect its output; split command lines; read files. */
#include "subproc.h"

#include <sys/socket.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cda_error.h"
#include "textbuf.h"

void subproc_out_finish(struct subproc_out *out)
{
	if (out == NULL)
		return;
	free(out->out);
	free(out->err);
	memset(out, 0, sizeof(*out));
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* The child's stdin, stdout and stderr, in the order the file actions are built. */
static int child_fds(posix_spawn_file_actions_t *fa, const char *in, int sv1, int po1, int pe1)
{
	int rc = in != NULL ? posix_spawn_file_actions_adddup2(fa, sv1, 0)
			    : posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);

	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(fa, po1, 1);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(fa, pe1, 2);
	return rc;
}

/*
 * Stdin is a socket, not a pipe, so that send(MSG_NOSIGNAL) turns a child that exits without
 * reading into EPIPE instead of a SIGPIPE for us. All three streams are served by one poll()
 * loop until each is closed: a child writing much while reading much never waits for us.
 */
int subproc_run(char *const argv[], const char *in, size_t in_len, struct subproc_out *out,
		struct cda_error *err)
{
	posix_spawn_file_actions_t fa;
	int sv[2] = {-1, -1}, po[2] = {-1, -1}, pe[2] = {-1, -1};
	struct textbuf o = {0}, e = {0};
	size_t done = 0;
	int rc, st, poll_errno = 0, ret = -1;
	pid_t pid;

	memset(out, 0, sizeof(*out));
	if ((rc = posix_spawn_file_actions_init(&fa)) != 0) {
		errno = rc;
		return cda_error_sys(err, CDA_ESYS, "running %s", argv[0]);
	}
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0 ||
	    (in != NULL && (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
			    fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0))) {
		cda_error_sys(err, CDA_ESYS, "running %s", argv[0]);
		goto out;
	}
	if ((rc = child_fds(&fa, in, sv[1], po[1], pe[1])) != 0) {
		errno = rc;
		cda_error_sys(err, CDA_ESYS, "running %s", argv[0]);
		goto out;
	}
	if ((rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ)) != 0) {
		errno = rc;
		cda_error_sys(err, CDA_EAPPLY, "cannot run %s", argv[0]);
		goto out;
	}
	close_fd(&po[1]);
	close_fd(&pe[1]);
	close_fd(&sv[1]);
	if (in_len == 0)
		close_fd(&sv[0]); /* nothing to send: EOF at once */
	while (po[0] >= 0 || pe[0] >= 0 || sv[0] >= 0) {
		struct pollfd p[3] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}, {sv[0], POLLOUT, 0}};
		char buf[8192];
		ssize_t n;

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			poll_errno = errno;
			break;
		}
		for (int i = 0; i < 2; i++) {
			int *fd = i == 0 ? &po[0] : &pe[0];

			if (*fd < 0 || p[i].revents == 0)
				continue;
			n = read(*fd, buf, sizeof(buf));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				close_fd(fd);
			else /* on ENOMEM keep draining, so the child still runs to its end */
				textbuf_add(i == 0 ? &o : &e, buf, (size_t)n);
		}
		if (sv[0] >= 0 && p[2].revents != 0) {
			n = send(sv[0], in + done, in_len - done, MSG_NOSIGNAL);
			if (n > 0)
				done += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) || done == in_len)
				close_fd(&sv[0]); /* EOF for the child (or it stopped reading) */
		}
	}
	/* Only after a poll() failure is anything still open: closing it ends the child. */
	close_fd(&sv[0]);
	close_fd(&po[0]);
	close_fd(&pe[0]);
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			cda_error_sys(err, CDA_ESYS, "waiting for %s", argv[0]);
			goto out;
		}
	}
	if (poll_errno != 0) {
		errno = poll_errno;
		cda_error_sys(err, CDA_ESYS, "running %s", argv[0]);
		goto out;
	}
	textbuf_add(&o, "", 0); /* "" rather than NULL when nothing came */
	textbuf_add(&e, "", 0);
	if (o.oom || e.oom) {
		errno = ENOMEM;
		cda_error_sys(err, CDA_ESYS, "running %s", argv[0]);
		goto out;
	}
	out->out = o.p;
	out->out_len = o.len;
	out->err = e.p;
	out->err_len = e.len;
	out->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	o.p = e.p = NULL;
	ret = 0;
out:
	posix_spawn_file_actions_destroy(&fa);
	for (int i = 0; i < 2; i++) {
		close_fd(&sv[i]);
		close_fd(&po[i]);
		close_fd(&pe[i]);
	}
	free(o.p);
	free(e.p);
	return ret;
}

int subproc_run_ok(char *const argv[], const char *in, size_t in_len, struct subproc_out *out,
		   struct cda_error *err)
{
	if (subproc_run(argv, in, in_len, out, err) < 0)
		return -1;
	if (out->status != 0) {
		subproc_fail(argv, out, err);
		subproc_out_finish(out);
		return -1;
	}
	return 0;
}

int subproc_fail(char *const argv[], const struct subproc_out *out, struct cda_error *err)
{
	const char *s = out->err != NULL && out->err[0] != '\0' ? out->err : out->out;
	char cmd[96] = "", msg[160];
	size_t n = 0, m = 0;

	for (size_t i = 0; argv[i] != NULL && n < sizeof(cmd) - 1; i++)
		n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, "%s%s", i ? " " : "", argv[i]);
	while (s != NULL && *s != '\0' && m < sizeof(msg) - 1) {
		size_t len = strcspn(s, "\n");

		/* Log-style warnings hide the line that says what went wrong. */
		if (len > 0 && memmem(s, len, " WARNING ", 9) == NULL) {
			if (m > 0)
				msg[m++] = ';';
			for (size_t i = 0; i < len && m < sizeof(msg) - 1; i++)
				msg[m++] = s[i];
		}
		s += len + (s[len] == '\n');
	}
	msg[m] = '\0';
	return cda_error_set(err, CDA_EAPPLY, "`%s` failed (exit %d)%s%s", cmd, out->status,
			     m ? ": " : "", msg);
}

void subproc_free_argv(char **argv)
{
	if (argv == NULL)
		return;
	for (size_t i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

char **subproc_split(const char *s, const char *path)
{
	char **argv = NULL, **nv;
	size_t n = 0;

	for (;;) {
		struct textbuf w = {0};
		char q = 0;

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		for (; *s != '\0' && (q || (*s != ' ' && *s != '\t')); s++) {
			const char *add = s;
			size_t len = 1;

			if (q == 0 && (*s == '\'' || *s == '"')) {
				q = *s;
				continue;
			}
			if (q != 0 && *s == q) {
				q = 0;
				continue;
			}
			if (q == '"' && *s == '\\' && (s[1] == '"' || s[1] == '\\')) {
				add = ++s;
			} else if (path != NULL && strncmp(s, "{path}", 6) == 0) {
				add = path;
				len = strlen(path);
				s += 5;
			}
			textbuf_add(&w, add, len);
		}
		textbuf_add(&w, "", 0);
		if (q != 0 || w.oom || (nv = reallocarray(argv, n + 2, sizeof(*argv))) == NULL) {
			free(w.p);
			subproc_free_argv(argv); /* NULL-terminated after every word */
			errno = q != 0 ? EINVAL : ENOMEM;
			return NULL;
		}
		argv = nv;
		argv[n++] = w.p;
		argv[n] = NULL;
	}
	if (argv == NULL)
		errno = EINVAL;
	return argv;
}

int subproc_slurp(const char *path, char **data, size_t *len, struct cda_error *err)
{
	struct textbuf g = {0};
	char tmp[8192];
	size_t n;
	FILE *fp = fopen(path, "re");

	*data = NULL;
	*len = 0;
	if (fp == NULL) {
		if (errno == ENOENT)
			return 1;
		cda_error_sys(err, CDA_EAPPLY, "cannot read %s", path);
		return cda_error_at(err, path, 0);
	}
	while (!g.oom && (n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
		textbuf_add(&g, tmp, n);
	textbuf_add(&g, "", 0);
	if (g.oom || ferror(fp)) {
		if (g.oom)
			errno = ENOMEM;
		cda_error_sys(err, g.oom ? CDA_ESYS : CDA_EAPPLY, "cannot read %s", path);
		fclose(fp);
		free(g.p);
		return cda_error_at(err, path, 0);
	}
	fclose(fp);
	*data = g.p;
	*len = g.len;
	return 0;
}
