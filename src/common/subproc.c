// SPDX-License-Identifier: MIT
/* Run a command without a shell and collect its output; split command lines; read files. */
#include "subproc.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

#define GRACE_MS 2000 /* from SIGTERM to SIGKILL */

/* One running command: our ends of its streams (-1 once closed), what it gets and gives. */
struct child {
	pid_t pid;
	int in, out, err;
	const char *data; /* stdin */
	size_t len, done;
	struct textbuf o, e;
	long long deadline; /* CLOCK_MONOTONIC, ms */
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Sleep ms (at most until the deadline), doubling the next step up to 50 ms. */
static void nap(int *ms, long long until)
{
	long long left = until - now_ms();

	poll(NULL, 0, (int)(left < *ms ? (left > 0 ? left : 0) : *ms));
	*ms = *ms < 25 ? *ms * 2 : 50;
}

/* The command's words on one line, cut to fit size. */
static void cmd_words(char *const argv[], char *cmd, size_t size)
{
	size_t n = 0;

	cmd[0] = '\0';
	for (size_t i = 0; argv[i] != NULL && n < size - 1; i++)
		n += (size_t)snprintf(cmd + n, size - n, "%s%s", i ? " " : "", argv[i]);
}

/*
 * Where exec finds name: itself when it holds a '/', else the first regular executable file
 * of that name in SUBPROC_PATH, then in our PATH (absolute directories only: "" and "." mean
 * the current directory, not a place to take programs from when running as root).
 */
static int find_program(const char *name, char *buf, size_t size)
{
	const char *dirs[2] = {SUBPROC_PATH, getenv("PATH")};
	int why = ENOENT;

	if (strchr(name, '/') != NULL) {
		if (snprintf(buf, size, "%s", name) < (int)size)
			return 0;
		errno = ENAMETOOLONG;
		return -1;
	}
	for (int k = 0; k < 2 && *name != '\0'; k++) {
		for (const char *p = dirs[k]; p != NULL && *p != '\0'; p += *p == ':') {
			size_t n = strcspn(p, ":");
			struct stat st;

			if (p[0] == '/' &&
			    snprintf(buf, size, "%.*s/%s", (int)n, p, name) < (int)size &&
			    stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
				if (access(buf, X_OK) == 0)
					return 0;
				why = EACCES;
			}
			p += n;
		}
	}
	errno = why;
	return -1;
}

/* PATH and LANG (unless extra names them), then extra: NULL-terminated, free() the array. */
static char **make_env(const char *const *extra)
{
	static const char *const defaults[] = {"PATH=" SUBPROC_PATH, "LANG=C"};
	size_t n = 0, k = 0;
	char **env;

	while (extra != NULL && extra[n] != NULL)
		n++;
	if ((env = calloc(n + 3, sizeof(*env))) == NULL)
		return NULL;
	for (size_t d = 0; d < 2; d++) {
		size_t len = strcspn(defaults[d], "=") + 1;
		bool replaced = false;

		for (size_t i = 0; i < n; i++)
			replaced |= strncmp(extra[i], defaults[d], len) == 0;
		if (!replaced)
			env[k++] = (char *)defaults[d];
	}
	for (size_t i = 0; i < n; i++)
		env[k++] = (char *)extra[i];
	return env;
}

/*
 * The child's stdin (sv1, or /dev/null when in is NULL), stdout and stderr, no other fd; its
 * own process group; no blocked signals, and the default action for those we might ignore.
 */
static int child_setup(posix_spawn_file_actions_t *fa, posix_spawnattr_t *at, const char *in,
		       int sv1, int po1, int pe1)
{
	static const int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGALRM};
	sigset_t none, dfl;
	int rc = in != NULL ? posix_spawn_file_actions_adddup2(fa, sv1, 0)
			    : posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);

	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(fa, po1, 1);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(fa, pe1, 2);
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(fa, 3);
	sigemptyset(&none);
	sigemptyset(&dfl);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&dfl, sigs[i]);
	if (rc == 0)
		rc = posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
							  POSIX_SPAWN_SETSIGDEF);
	if (rc == 0)
		rc = posix_spawnattr_setpgroup(at, 0);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(at, &none);
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(at, &dfl);
	return rc;
}

/*
 * Start o->argv with its streams in c. Stdin is a socket, not a pipe, so that
 * send(MSG_NOSIGNAL) turns a child that exits without reading into EPIPE instead of a SIGPIPE
 * for us. On -1 nothing is left open.
 */
static int spawn(struct child *c, const struct subproc_opts *o, struct cda_error *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int sv[2] = {-1, -1}, po[2] = {-1, -1}, pe[2] = {-1, -1}, rc;
	char path[PATH_MAX], **env = NULL;

	if (find_program(o->argv[0], path, sizeof(path)) < 0)
		return cda_error_sys(err, CDA_EAPPLY, "cannot run %s", o->argv[0]);
	if ((rc = posix_spawn_file_actions_init(&fa)) != 0) {
		errno = rc;
		return cda_error_sys(err, CDA_ESYS, "running %s", o->argv[0]);
	}
	if ((rc = posix_spawnattr_init(&at)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		errno = rc;
		return cda_error_sys(err, CDA_ESYS, "running %s", o->argv[0]);
	}
	if ((env = make_env(o->env)) == NULL || pipe2(po, O_CLOEXEC) < 0 ||
	    pipe2(pe, O_CLOEXEC) < 0 ||
	    (o->in != NULL && (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
			       fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0))) {
		cda_error_sys(err, CDA_ESYS, "running %s", o->argv[0]);
	} else if ((rc = child_setup(&fa, &at, o->in, sv[1], po[1], pe[1])) != 0) {
		errno = rc;
		cda_error_sys(err, CDA_ESYS, "running %s", o->argv[0]);
	} else if ((rc = posix_spawn(&c->pid, path, &fa, &at, o->argv, env)) != 0) {
		errno = rc;
		cda_error_sys(err, CDA_EAPPLY, "cannot run %s", o->argv[0]);
	} else {
		c->in = sv[0];
		c->out = po[0];
		c->err = pe[0];
		sv[0] = po[0] = pe[0] = -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	free(env);
	for (int i = 0; i < 2; i++) {
		close_fd(&sv[i]);
		close_fd(&po[i]);
		close_fd(&pe[i]);
	}
	if (c->out < 0)
		return -1;
	if (c->len == 0)
		close_fd(&c->in); /* nothing to send: EOF at once */
	return 0;
}

/* One poll() round's reading and writing. */
static void serve(struct child *c, const struct pollfd p[3])
{
	char buf[8192];
	ssize_t n;

	for (int i = 0; i < 2; i++) {
		int *fd = i == 0 ? &c->out : &c->err;

		if (*fd < 0 || p[i].revents == 0)
			continue;
		n = read(*fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			close_fd(fd);
		else /* on ENOMEM keep draining, so the child still runs to its end */
			textbuf_add(i == 0 ? &c->o : &c->e, buf, (size_t)n);
	}
	if (c->in >= 0 && p[2].revents != 0) {
		n = send(c->in, c->data + c->done, c->len - c->done, MSG_NOSIGNAL);
		if (n > 0)
			c->done += (size_t)n;
		if ((n < 0 && errno != EAGAIN && errno != EINTR) || c->done == c->len)
			close_fd(&c->in); /* EOF for the child (or it stopped reading) */
	}
}

/*
 * All three streams in one poll() loop until each is closed, so a child writing much while
 * reading much never waits for us. 0; 1 when the deadline passed; -1 when poll() failed.
 */
static int pump(struct child *c)
{
	while (c->out >= 0 || c->err >= 0 || c->in >= 0) {
		struct pollfd p[3] = {
			{c->out, POLLIN, 0}, {c->err, POLLIN, 0}, {c->in, POLLOUT, 0}};
		long long left = c->deadline - now_ms();
		int n;

		if (left <= 0)
			return 1;
		n = poll(p, 3, left > 60000 ? 60000 : (int)left);
		if (n < 0 && errno != EINTR)
			return -1;
		if (n > 0)
			serve(c, p);
	}
	return 0;
}

/* Wait for the child's exit until the deadline: 0 (*st set), 1 when it passed, -1 (errno). */
static int reap(struct child *c, int *st)
{
	int ms = 1;

	for (;;) {
		pid_t r = waitpid(c->pid, st, WNOHANG);

		if (r == c->pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		if (now_ms() >= c->deadline)
			return 1;
		nap(&ms, c->deadline);
	}
}

/*
 * SIGTERM to the child's group; SIGKILL to it once the child has exited or after GRACE_MS,
 * the child still unreaped (a zombie keeps the group's number from being reused); reap it.
 */
static void kill_group(struct child *c)
{
	long long until = now_ms() + GRACE_MS;
	int ms = 1, st;

	kill(-c->pid, SIGTERM);
	while (now_ms() < until) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
		    si.si_pid != 0)
			break;
		nap(&ms, until);
	}
	kill(-c->pid, SIGKILL);
	while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
		;
}

int subproc_exec(const struct subproc_opts *o, struct subproc_out *out, struct cda_error *err)
{
	struct child c = {
		.pid = -1, .in = -1, .out = -1, .err = -1, .data = o->in, .len = o->in_len};
	unsigned int secs = o->timeout ? o->timeout : SUBPROC_TIMEOUT;
	int st = 0, rc, saved;
	bool running = true;
	char cmd[96];

	memset(out, 0, sizeof(*out));
	c.deadline = now_ms() + (long long)secs * 1000;
	if (spawn(&c, o, err) < 0)
		return -1;
	if ((rc = pump(&c)) == 0 && (rc = reap(&c, &st)) < 0)
		running = false; /* waitpid() failed: nothing to wait for */
	saved = errno;
	close_fd(&c.in); /* a child still writing gets EPIPE from now on */
	close_fd(&c.out);
	close_fd(&c.err);
	if (rc != 0 && running)
		kill_group(&c);
	textbuf_add(&c.o, "", 0); /* "" rather than NULL when nothing came */
	textbuf_add(&c.e, "", 0);
	if (rc == 1) {
		cmd_words(o->argv, cmd, sizeof(cmd));
		cda_error_set(err, CDA_EAPPLY, "`%s` timed out after %u s", cmd, secs);
		if (err != NULL)
			err->sys_errno = ETIMEDOUT;
	} else if (rc < 0 || c.o.oom || c.e.oom) {
		errno = rc < 0 ? saved : ENOMEM;
		cda_error_sys(err, CDA_ESYS, "running %s", o->argv[0]);
	} else {
		out->out = c.o.p;
		out->out_len = c.o.len;
		out->err = c.e.p;
		out->err_len = c.e.len;
		out->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		return 0;
	}
	free(c.o.p);
	free(c.e.p);
	return -1;
}

int subproc_run(char *const argv[], const char *in, size_t in_len, unsigned int timeout,
		struct subproc_out *out, struct cda_error *err)
{
	struct subproc_opts o = {.argv = argv, .in = in, .in_len = in_len, .timeout = timeout};

	return subproc_exec(&o, out, err);
}

int subproc_run_ok(char *const argv[], const char *in, size_t in_len, unsigned int timeout,
		   struct subproc_out *out, struct cda_error *err)
{
	if (subproc_run(argv, in, in_len, timeout, out, err) < 0)
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
	char cmd[96], msg[160];
	size_t m = 0;

	cmd_words(argv, cmd, sizeof(cmd));
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
