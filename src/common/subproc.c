// SPDX-License-Identifier: MIT
/* subproc: commands run without a shell (optionally confined, with a timeout), command lines
 * split into words, whole files read. */
#include "subproc.h"

#include <sys/socket.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cda_error.h"

/* A growing byte string, NUL-terminated once anything was added. */
struct grow {
	char *p;
	size_t len, cap;
};

static int grow_add(struct grow *g, const char *data, size_t n)
{
	if (n > SIZE_MAX / 2 - g->len) {
		errno = ENOMEM;
		return -1;
	}
	if (g->len + n + 1 > g->cap) {
		size_t cap = g->cap ? g->cap : 4096;
		char *p;

		while (cap < g->len + n + 1)
			cap *= 2;
		if ((p = realloc(g->p, cap)) == NULL)
			return -1;
		g->p = p;
		g->cap = cap;
	}
	memcpy(g->p + g->len, data, n);
	g->len += n;
	g->p[g->len] = '\0';
	return 0;
}

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

/* The child's stdin, stdout and stderr, in the order the file actions are built; a confined
 * child keeps no other descriptor. */
static int child_fds(posix_spawn_file_actions_t *fa, const char *in, int sv1, int po1, int pe1,
		     bool confined)
{
	int rc = in != NULL ? posix_spawn_file_actions_adddup2(fa, sv1, 0)
			    : posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);

	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(fa, po1, 1);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(fa, pe1, 2);
	if (rc == 0 && confined)
		rc = posix_spawn_file_actions_addclosefrom_np(fa, 3);
	return rc;
}

/* A name without '/' in SUBPROC_PATH, then in the absolute directories of our PATH. NULL with
 * errno ENOENT (or ENOMEM); the result is the caller's to free(). */
static char *find_program(const char *name)
{
	const char *lists[2] = {SUBPROC_PATH, getenv("PATH")};

	if (strchr(name, '/') != NULL)
		return strdup(name);
	for (int l = 0; l < 2; l++) {
		for (const char *p = lists[l]; p != NULL && *p != '\0';) {
			size_t n = strcspn(p, ":");
			char *c;

			if (n > 0 && p[0] == '/') {
				if (asprintf(&c, "%.*s/%s", (int)n, p, name) < 0)
					return NULL;
				if (access(c, X_OK) == 0)
					return c;
				free(c);
			}
			p += n + (p[n] == ':');
		}
	}
	errno = ENOENT;
	return NULL;
}

/* PATH=SUBPROC_PATH, LANG=C and the caller's extras (one named PATH or LANG replaces ours). */
static char **confined_env(const char *const *extra)
{
	size_t n = 0, k = 0;
	char **env;

	while (extra != NULL && extra[n] != NULL)
		n++;
	if ((env = calloc(n + 3, sizeof(*env))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		env[k++] = (char *)extra[i];
	for (size_t d = 0; d < 2; d++) {
		const char *def = d == 0 ? "PATH=" SUBPROC_PATH : "LANG=C";
		bool given = false;

		for (size_t i = 0; i < n; i++)
			given = given || strncmp(extra[i], def, 5) == 0;
		if (!given)
			env[k++] = (char *)def;
	}
	return env;
}

/* Spawn: a confined child leads its own process group, with default signal handling and an
 * empty signal mask. Returns 0 or an errno value. */
static int spawn(pid_t *pid, const char *prog, char *const argv[], posix_spawn_file_actions_t *fa,
		 char **env, bool confined)
{
	posix_spawnattr_t at;
	sigset_t none, all;
	int rc;

	if (!confined)
		return posix_spawnp(pid, prog, fa, NULL, argv, environ);
	if ((rc = posix_spawnattr_init(&at)) != 0)
		return rc;
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
						   POSIX_SPAWN_SETSIGDEF);
	if (rc == 0)
		rc = posix_spawnattr_setpgroup(&at, 0);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(&at, &none);
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(&at, &all);
	if (rc == 0)
		rc = posix_spawn(pid, prog, fa, &at, argv, env);
	posix_spawnattr_destroy(&at);
	return rc;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The streams of one running child: our ends, what was sent, what came back. */
struct pump {
	int sv, po, pe; /* -1 once closed */
	const char *in;
	size_t in_len, done;
	struct grow o, e;
	bool oom;
};

/*
 * Serve stdin, stdout and stderr in one poll() loop until each is closed, so a child writing
 * much while reading much never waits for us. Returns 0, 1 when deadline (ms on the monotonic
 * clock, 0: none) passed first, -1 with errno when poll() failed.
 */
static int pump_run(struct pump *pm, long long deadline)
{
	while (pm->po >= 0 || pm->pe >= 0 || pm->sv >= 0) {
		struct pollfd p[3] = {{pm->po, POLLIN, 0}, {pm->pe, POLLIN, 0}, {pm->sv, POLLOUT, 0}};
		long long left = deadline > 0 ? deadline - now_ms() : -1;
		char buf[8192];
		ssize_t n;
		int r;

		if (deadline > 0 && left <= 0)
			return 1;
		if ((r = poll(p, 3, left > INT32_MAX ? INT32_MAX : (int)left)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (int i = 0; r > 0 && i < 2; i++) {
			int *fd = i == 0 ? &pm->po : &pm->pe;

			if (*fd < 0 || p[i].revents == 0)
				continue;
			n = read(*fd, buf, sizeof(buf));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				close_fd(fd);
			else if (!pm->oom && grow_add(i == 0 ? &pm->o : &pm->e, buf, (size_t)n) < 0)
				pm->oom = true; /* keep draining, so the child still runs to its end */
		}
		if (r > 0 && pm->sv >= 0 && p[2].revents != 0) {
			n = send(pm->sv, pm->in + pm->done, pm->in_len - pm->done, MSG_NOSIGNAL);
			if (n > 0)
				pm->done += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) || pm->done == pm->in_len)
				close_fd(&pm->sv); /* EOF for the child (or it stopped reading) */
		}
	}
	return 0;
}

/* Whether pid has exited by deadline (0: wait as long as it takes); not reaped yet, so its
 * process group id cannot be reused while we signal the group. */
static bool exited_by(pid_t pid, long long deadline)
{
	for (;;) {
		siginfo_t si = {0};
		long long left = deadline - now_ms();

		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT | (deadline ? WNOHANG : 0)) < 0) {
			if (errno == EINTR)
				continue;
			return true; /* nothing to wait for: waitpid() says why */
		}
		if (si.si_pid == pid)
			return true;
		if (left <= 0)
			return false;
		nanosleep(&(struct timespec){0, (left < 20 ? left : 20) * 1000000L}, NULL);
	}
}

/* Past the timeout: SIGTERM to the group, SIGKILL once the command exited or 2 s later. */
static void kill_group(pid_t pid)
{
	kill(-pid, SIGTERM);
	exited_by(pid, now_ms() + 2000);
	kill(-pid, SIGKILL);
}

static int words_failed(char *const argv[], const char *what, struct cda_error *err,
			enum cda_errc c, int sys_errno)
{
	char cmd[96] = "";
	size_t n = 0;

	for (size_t i = 0; argv[i] != NULL && n < sizeof(cmd) - 1; i++)
		n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, "%s%s", i ? " " : "", argv[i]);
	cda_error_set(err, c, "`%s` %s", cmd, what);
	err->sys_errno = sys_errno;
	return -1;
}

/* Pipes, file actions, environment and program, then the spawn: on success *pid runs and
 * our ends of its streams are in pm (stdin only when there is something to send). */
static int start_child(const struct subproc_opts *o, bool confined, struct pump *pm,
		       pid_t *pid, struct cda_error *err)
{
	char *const *argv = o->argv;
	posix_spawn_file_actions_t fa;
	int po[2] = {-1, -1}, pe[2] = {-1, -1}, sv[2] = {-1, -1};
	char *prog = NULL, **env = NULL;
	int rc, ret = -1;

	if ((rc = posix_spawn_file_actions_init(&fa)) != 0) {
		errno = rc;
		return cda_error_sys(err, CDA_ESYS, "running %s", argv[0]);
	}
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0 ||
	    (o->in != NULL && (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
			       fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0)) ||
	    (confined && (env = confined_env(o->env)) == NULL)) {
		cda_error_sys(err, CDA_ESYS, "running %s", argv[0]);
		goto out;
	}
	if ((rc = child_fds(&fa, o->in, sv[1], po[1], pe[1], confined)) != 0) {
		errno = rc;
		cda_error_sys(err, CDA_ESYS, "running %s", argv[0]);
		goto out;
	}
	if (confined && (prog = find_program(argv[0])) == NULL) {
		cda_error_sys(err, errno == ENOMEM ? CDA_ESYS : CDA_EAPPLY, "cannot run %s", argv[0]);
		goto out;
	}
	if ((rc = spawn(pid, confined ? prog : argv[0], argv, &fa, env, confined)) != 0) {
		errno = rc;
		cda_error_sys(err, CDA_EAPPLY, "cannot run %s", argv[0]);
		goto out;
	}
	pm->po = po[0];
	pm->pe = pe[0];
	po[0] = pe[0] = -1;
	if (o->in_len > 0) { /* nothing to send: closed below, EOF at once */
		pm->sv = sv[0];
		sv[0] = -1;
	}
	ret = 0;
out:
	posix_spawn_file_actions_destroy(&fa);
	for (int i = 0; i < 2; i++) {
		close_fd(&sv[i]);
		close_fd(&po[i]);
		close_fd(&pe[i]);
	}
	free(prog);
	free(env);
	return ret;
}

/* The run itself: confined (subproc_exec()) or as before (subproc_run()). */
static int run_child(const struct subproc_opts *o, bool confined, struct subproc_out *out,
		     struct cda_error *err)
{
	char *const *argv = o->argv;
	struct pump pm = {.sv = -1, .po = -1, .pe = -1, .in = o->in, .in_len = o->in_len};
	unsigned int timeout = o->timeout ? o->timeout : SUBPROC_TIMEOUT;
	long long deadline = confined ? now_ms() + 1000LL * timeout : 0;
	int st = 0, pumped, pump_errno = 0, ret = -1;
	char msg[64];
	pid_t pid = -1;

	memset(out, 0, sizeof(*out));
	if (start_child(o, confined, &pm, &pid, err) < 0)
		return -1;
	pumped = pump_run(&pm, deadline);
	if (pumped < 0)
		pump_errno = errno;
	/* Only after a poll() failure or a timeout is anything still open: closing it ends the
	 * child (or it is killed below). */
	close_fd(&pm.sv);
	close_fd(&pm.po);
	close_fd(&pm.pe);
	if (pumped > 0 || (confined && !exited_by(pid, deadline))) {
		kill_group(pid);
		pumped = 1;
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			cda_error_sys(err, CDA_ESYS, "waiting for %s", argv[0]);
			goto out;
		}
	}
	if (pumped > 0) {
		snprintf(msg, sizeof(msg), "timed out after %u s", timeout);
		words_failed(argv, msg, err, CDA_EAPPLY, ETIMEDOUT);
		goto out;
	}
	if (pump_errno != 0) {
		errno = pump_errno;
		cda_error_sys(err, CDA_ESYS, "running %s", argv[0]);
		goto out;
	}
	if (pm.oom || (pm.o.p == NULL && grow_add(&pm.o, "", 0) < 0) ||
	    (pm.e.p == NULL && grow_add(&pm.e, "", 0) < 0)) {
		errno = ENOMEM;
		cda_error_sys(err, CDA_ESYS, "running %s", argv[0]);
		goto out;
	}
	out->out = pm.o.p;
	out->out_len = pm.o.len;
	out->err = pm.e.p;
	out->err_len = pm.e.len;
	out->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	pm.o.p = pm.e.p = NULL;
	ret = 0;
out:
	free(pm.o.p);
	free(pm.e.p);
	return ret;
}

int subproc_exec(const struct subproc_opts *o, struct subproc_out *out, struct cda_error *err)
{
	return run_child(o, true, out, err);
}

/*
 * Stdin is a socket, not a pipe, so that send(MSG_NOSIGNAL) turns a child that exits without
 * reading into EPIPE instead of a SIGPIPE for us.
 */
int subproc_run(char *const argv[], const char *in, size_t in_len, struct subproc_out *out,
		struct cda_error *err)
{
	struct subproc_opts o = {.argv = argv, .in = in, .in_len = in_len};

	return run_child(&o, false, out, err);
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
		struct grow w = {0};
		bool oom = false;
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
			if (grow_add(&w, add, len) < 0)
				oom = true;
		}
		if (w.p == NULL && grow_add(&w, "", 0) < 0)
			oom = true;
		if (q != 0 || oom || (nv = reallocarray(argv, n + 2, sizeof(*argv))) == NULL) {
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
	struct grow g = {0};
	char tmp[8192];
	bool oom = false;
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
	while (!oom && (n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
		if (grow_add(&g, tmp, n) < 0)
			oom = true;
	if (!oom && g.p == NULL && grow_add(&g, "", 0) < 0)
		oom = true;
	if (oom || ferror(fp)) {
		if (oom)
			errno = ENOMEM;
		cda_error_sys(err, oom ? CDA_ESYS : CDA_EAPPLY, "cannot read %s", path);
		fclose(fp);
		free(g.p);
		return cda_error_at(err, path, 0);
	}
	fclose(fp);
	*data = g.p;
	*len = g.len;
	return 0;
}
