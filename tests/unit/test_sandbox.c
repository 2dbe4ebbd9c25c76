// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/netlink.h>

#include "cda_error.h"
#include "sandbox.h"

/* A check inside the sandbox: on failure, say which on stderr (kept) and exit 1. */
#define EXPECT(cond)                                                                               \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			dprintf(2, "test_sandbox:%d: %s (errno %d)\n", __LINE__, #cond, errno);    \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)
/* A call that the sandbox must refuse with EPERM (or, for files, EACCES). */
#define REFUSED(call) EXPECT((call) < 0 && (errno == EPERM || errno == EACCES))

static char scratch[64]; /* a world-writable file in /tmp, made before the fork */
static int stray = -1;	 /* a descriptor the sandbox must close */
static uid_t uid0;	 /* our uid before the fork */

/* Fork, enter the sandbox, run probe; the child's wait status. */
static int in_sandbox(int (*probe)(void))
{
	pid_t pid = fork();
	int st = -1;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct cda_error e = {0};

		if (sandbox_enter(NULL, 0, &e) < 0) {
			dprintf(2, "sandbox_enter: %s\n", e.msg);
			_exit(100);
		}
		_exit(probe());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void assert_passes(int (*probe)(void))
{
	int st = in_sandbox(probe);

	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void assert_killed(int (*probe)(void))
{
	int st = in_sandbox(probe);

	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

static int no_new_file(void)
{
	char path[80];

	snprintf(path, sizeof(path), "/tmp/cdnallow-sandbox-%d", (int)getpid());
	REFUSED(open(path, O_WRONLY | O_CREAT | O_EXCL, 0600));
	REFUSED(open(path, O_RDWR | O_CREAT, 0600));
	REFUSED(openat(AT_FDCWD, path, O_CREAT | O_RDONLY, 0600));
	REFUSED(creat(path, 0600));
	REFUSED(open("/tmp", O_TMPFILE | O_RDWR, 0600));
	EXPECT(access(path, F_OK) < 0 && errno == ENOENT);
	return 0;
}

static void cannot_create_a_file(void **state)
{
	(void)state;
	assert_passes(no_new_file);
}

static int no_write_to_existing(void)
{
	REFUSED(open(scratch, O_WRONLY));
	REFUSED(open(scratch, O_RDWR));
	REFUSED(open(scratch, O_WRONLY | O_APPEND));
	REFUSED(open(scratch, O_RDONLY | O_TRUNC));
	REFUSED(truncate(scratch, 0));
	REFUSED(chmod(scratch, 0600));
	REFUSED(chown(scratch, 0, 0));
	REFUSED(unlink(scratch));
	REFUSED(rename(scratch, "/tmp/cdnallow-sandbox-renamed"));
	REFUSED(link(scratch, "/tmp/cdnallow-sandbox-link"));
	REFUSED(symlink(scratch, "/tmp/cdnallow-sandbox-symlink"));
	REFUSED(mkdir("/tmp/cdnallow-sandbox-dir", 0700));
	REFUSED(rmdir("/tmp"));
	REFUSED(mknod("/tmp/cdnallow-sandbox-fifo", S_IFIFO | 0600, 0));
	return 0;
}

static void cannot_write_change_or_remove_a_file(void **state)
{
	struct stat st;

	(void)state;
	assert_passes(no_write_to_existing);
	assert_int_equal(stat(scratch, &st), 0);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(st.st_mode & 07777, 0666);
}

static int no_netlink(void)
{
	REFUSED(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
	REFUSED(socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER));
	REFUSED(socket(AF_PACKET, SOCK_RAW, 0));
	REFUSED(socketpair(AF_NETLINK, SOCK_RAW, 0, (int[2]){0, 0}));
	return 0;
}

static void cannot_open_a_netlink_socket(void **state)
{
	(void)state;
	assert_passes(no_netlink);
}

static void *thread_main(void *arg)
{
	return arg;
}

/* What a fetch needs still works: reading files, inet sockets, threads, the resolver. */
static int fetch_needs(void)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int sv[2], fd, s4, s6;
	pthread_t t;
	void *ret = NULL;
	char buf[16];

	EXPECT((fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC)) >= 0);
	EXPECT(read(fd, buf, sizeof(buf)) >= 0);
	EXPECT(close(fd) == 0);
	EXPECT((s4 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) >= 0);
	s6 = socket(AF_INET6, SOCK_DGRAM, 0);
	EXPECT(s6 >= 0 || errno == EAFNOSUPPORT);
	EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	EXPECT(pthread_create(&t, NULL, thread_main, (void *)buf) == 0);
	EXPECT(pthread_join(t, &ret) == 0 && ret == buf);
	EXPECT(getaddrinfo("localhost", "443", &hints, &ai) == 0);
	freeaddrinfo(ai);
	return 0;
}

static void reads_files_and_opens_inet_sockets_and_threads(void **state)
{
	(void)state;
	assert_passes(fetch_needs);
}

/* No privilege left: another uid when started as root, no capability, no new privileges. */
static int unprivileged(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	char status[4096], *p;
	ssize_t n;
	int fd;

	if (uid0 == 0) {
		EXPECT(getuid() != 0 && geteuid() != 0 && getgid() != 0 && getegid() != 0);
		EXPECT(getgroups(0, NULL) == 0);
	} else {
		EXPECT(getuid() == uid0);
	}
	EXPECT(syscall(SYS_capget, &h, d) == 0);
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		EXPECT(d[i].effective == 0 && d[i].permitted == 0 && d[i].inheritable == 0);
	EXPECT((fd = open("/proc/self/status", O_RDONLY)) >= 0);
	EXPECT((n = read(fd, status, sizeof(status) - 1)) > 0);
	status[n] = '\0';
	EXPECT((p = strstr(status, "CapEff:")) != NULL && strncmp(p, "CapEff:\t0000000000000000", 24) == 0);
	EXPECT(strstr(status, "NoNewPrivs:\t1") != NULL);
	EXPECT(strstr(status, "Seccomp:\t2") != NULL);
	REFUSED(setresuid(0, 0, 0));
	REFUSED(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
	return 0;
}

static void runs_without_privileges(void **state)
{
	(void)state;
	assert_passes(unprivileged);
}

/* 0 and 1 on /dev/null, 2 kept, every other descriptor closed. */
static int descriptors(void)
{
	struct stat st;

	EXPECT(fcntl(stray, F_GETFD) < 0 && errno == EBADF);
	EXPECT(fstat(1, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	EXPECT(fstat(0, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	EXPECT(fcntl(2, F_GETFD) >= 0);
	return 0;
}

static void closes_every_other_descriptor(void **state)
{
	(void)state;
	assert_passes(descriptors);
}

static int no_fork(void)
{
	REFUSED(fork());
	REFUSED(kill(1, 0));
	return 0;
}

static int try_exec(void)
{
	static char *const argv[] = {"/bin/true", NULL};

	execv(argv[0], argv);
	return 1;
}

static int try_ptrace(void)
{
	syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
	return 1;
}

static int try_unshare(void)
{
	syscall(SYS_unshare, 0);
	return 1;
}

static void no_new_process_and_exec_kills(void **state)
{
	(void)state;
	assert_passes(no_fork);
	assert_killed(try_exec);
	assert_killed(try_ptrace);
	assert_killed(try_unshare);
}

static int setup(void **state)
{
	int fd;

	(void)state;
	uid0 = getuid();
	snprintf(scratch, sizeof(scratch), "/tmp/cdnallow-sandbox-file-%d", (int)getpid());
	fd = open(scratch, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	if (fd < 0 || write(fd, "hello", 5) != 5 || fchmod(fd, 0666) < 0 || close(fd) < 0)
		return -1;
	stray = open("/dev/null", O_RDONLY); /* no O_CLOEXEC: only the sandbox closes it */
	return stray < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(scratch);
	close(stray);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cannot_create_a_file),
		cmocka_unit_test(cannot_write_change_or_remove_a_file),
		cmocka_unit_test(cannot_open_a_netlink_socket),
		cmocka_unit_test(reads_files_and_opens_inet_sockets_and_threads),
		cmocka_unit_test(runs_without_privileges),
		cmocka_unit_test(closes_every_other_descriptor),
		cmocka_unit_test(no_new_process_and_exec_kills),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
