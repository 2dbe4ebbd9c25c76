// SPDX-License-Identifier: MIT
/* sandbox: give up descriptors, uid, capabilities and system calls before network input. */
#include "sandbox.h"

#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <linux/capability.h>
#include <seccomp.h>
#ifdef HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include "cda_error.h"

/* open flags that could change a file: refused by the filter */
#define WRITE_FLAGS ((scmp_datum_t)(O_WRONLY | O_RDWR | O_CREAT | O_TRUNC))

/*
 * Allowed without condition: memory, threads and their locks, time, reading files and
 * directories, talking on sockets the filter let us create, poll/epoll, identity queries.
 * Nothing here creates, changes or removes a file, starts a process or changes credentials.
 */
static const char *const allowed[] = {
	"read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "close",
	"close_range", "lseek", "fstat", "newfstatat", "stat", "lstat", "statx", "fstatfs",
	"statfs", "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents64",
	"getdents", "fcntl", "dup", "dup2", "dup3", "pipe", "pipe2", "eventfd2", "getcwd",
	"fadvise64", "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "futex",
	"set_robust_list", "get_robust_list", "rseq", "set_tid_address", "sched_yield",
	"sched_getaffinity", "membarrier", "gettid", "getpid", "getppid", "getuid", "geteuid",
	"getgid", "getegid", "getresuid", "getresgid", "getgroups", "capget", "getrlimit",
	"getrusage", "uname", "sysinfo", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
	"sigaltstack", "exit", "exit_group", "restart_syscall", "clock_gettime",
	"clock_getres", "gettimeofday", "time", "nanosleep", "clock_nanosleep", "getrandom",
	"poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
	"epoll_wait", "epoll_pwait", "epoll_pwait2", "connect", "getsockname", "getpeername",
	"getsockopt", "setsockopt", "sendto", "sendmsg", "sendmmsg", "recvfrom", "recvmsg",
	"recvmmsg", "shutdown",
};

/* Calls that could widen the sandbox or reach other processes: kill at once. */
static const char *const fatal[] = {
	"execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "bpf", "mount",
	"umount2", "pivot_root", "chroot", "setns", "unshare", "kexec_load", "kexec_file_load",
	"init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff",
	"perf_event_open", "userfaultfd", "add_key", "request_key", "keyctl", "io_uring_setup",
	"io_uring_enter", "io_uring_register", "open_by_handle_at", "fsopen", "fsmount",
	"move_mount", "open_tree",
};

/* Close every descriptor from `from` on except those in keep[]. */
static void close_others(const int *keep, size_t n_keep)
{
	unsigned int fd = 3;

	for (;;) {
		unsigned int next = ~0U;

		for (size_t i = 0; i < n_keep; i++)
			if (keep[i] >= (int)fd && (unsigned int)keep[i] < next)
				next = (unsigned int)keep[i];
		if (next > fd && close_range(fd, next - 1, 0) < 0) {
			long max = sysconf(_SC_OPEN_MAX);

			/* close_range() missing (before Linux 5.9): one by one */
			for (long k = fd; k < (next == ~0U ? max : (long)next) && k < 1L << 20; k++)
				close((int)k);
		}
		if (next == ~0U)
			return;
		fd = next + 1;
	}
}

/* 0 and 1 on /dev/null, 2 and keep[] as they are, nothing else. */
static int tidy_fds(const int *keep, size_t n_keep, struct cda_error *err)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0)
		return cda_error_sys(err, CDA_ESYS, "/dev/null");
	close_others(keep, n_keep);
	return 0;
}

/* The account to become as root: SANDBOX_USER, nobody, else SANDBOX_NOBODY. */
static void sandbox_account(uid_t *uid, gid_t *gid)
{
	const struct passwd *pw = getpwnam(SANDBOX_USER);

	if (pw == NULL)
		pw = getpwnam("nobody");
	*uid = pw != NULL ? pw->pw_uid : SANDBOX_NOBODY;
	*gid = pw != NULL ? pw->pw_gid : SANDBOX_NOBODY;
}

/* As root: no bounding set (when CAP_SETPCAP allows), no groups, another uid and gid. */
static int drop_identity(struct cda_error *err)
{
	uid_t r, e, s, uid;
	gid_t rg, eg, sg, gid;

	if (getresuid(&r, &e, &s) < 0)
		return cda_error_sys(err, CDA_ESYS, "getresuid");
	if (r != 0 && e != 0 && s != 0)
		return 0; /* not root: the uid we have is the one we keep */
	sandbox_account(&uid, &gid);
	if (uid == 0 || gid == 0)
		return cda_error_set(err, CDA_ESYS, "the account to run as has uid or gid 0");
	for (unsigned long c = 0; c < 64; c++) {
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0)
			break; /* past the last capability */
		(void)prctl(PR_CAPBSET_DROP, c, 0, 0, 0); /* EPERM without CAP_SETPCAP */
	}
	if (setgroups(0, NULL) < 0)
		return cda_error_sys(err, CDA_ESYS, "setgroups");
	if (setresgid(gid, gid, gid) < 0)
		return cda_error_sys(err, CDA_ESYS, "setresgid(%u)", (unsigned int)gid);
	if (setresuid(uid, uid, uid) < 0)
		return cda_error_sys(err, CDA_ESYS, "setresuid(%u)", (unsigned int)uid);
	if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0 || r != uid || e != uid ||
	    s != uid || rg != gid || eg != gid || sg != gid || getgroups(0, NULL) != 0)
		return cda_error_set(err, CDA_ESYS, "uid or gid did not change");
	return 0;
}

/* No capability in any set but the bounding one (which NO_NEW_PRIVS makes moot). */
static int drop_caps(struct cda_error *err)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return cda_error_sys(err, CDA_ESYS, "clearing ambient capabilities");
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) < 0)
		return cda_error_sys(err, CDA_ESYS, "capset");
	memset(d, 0xff, sizeof(d));
	if (syscall(SYS_capget, &h, d) < 0)
		return cda_error_sys(err, CDA_ESYS, "capget");
	for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (d[i].effective != 0 || d[i].permitted != 0 || d[i].inheritable != 0)
			return cda_error_set(err, CDA_ESYS, "capabilities left");
	return 0;
}

/* Not dumpable, no core file, SIGKILL with the parent, no privilege gained by exec. */
static int lock_process(struct cda_error *err)
{
	struct rlimit no = {0, 0};

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || setrlimit(RLIMIT_CORE, &no) < 0 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return cda_error_sys(err, CDA_ESYS, "prctl");
	return 0;
}

/* One rule; a call this architecture does not have is skipped. */
static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned int n,
		const struct scmp_arg_cmp *cmp)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr < 0)
		return 0;
	return seccomp_rule_add_array(ctx, action, nr, n, cmp);
}

/* Argument n against a and b as libseccomp's SCMP_An() has it: datum_b 0 when unused. */
static struct scmp_arg_cmp arg(unsigned int n, enum scmp_compare op, scmp_datum_t a,
			       scmp_datum_t b)
{
	struct scmp_arg_cmp c = {.arg = n, .op = op, .datum_a = a, .datum_b = b};

	return c;
}

/* The calls allowed only with some arguments. */
static int conditional_rules(scmp_filter_ctx ctx)
{
	const struct scmp_arg_cmp ro2 = arg(2, SCMP_CMP_MASKED_EQ, WRITE_FLAGS, 0);
	const struct scmp_arg_cmp ro1 = arg(1, SCMP_CMP_MASKED_EQ, WRITE_FLAGS, 0);
	const struct scmp_arg_cmp thread = arg(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
	const struct scmp_arg_cmp self = arg(0, SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0);
	const struct scmp_arg_cmp query = arg(2, SCMP_CMP_EQ, 0, 0);
	const struct scmp_arg_cmp unix_only = arg(0, SCMP_CMP_EQ, AF_UNIX, 0);
	static const int families[] = {AF_INET, AF_INET6, AF_UNIX};
	static const unsigned long ioctls[] = {FIONREAD, FIONBIO, TCGETS};
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < sizeof(families) / sizeof(families[0]); i++) {
		const struct scmp_arg_cmp fam = arg(0, SCMP_CMP_EQ, (scmp_datum_t)families[i], 0);

		rc = rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &fam);
	}
	for (size_t i = 0; rc == 0 && i < sizeof(ioctls) / sizeof(ioctls[0]); i++) {
		const struct scmp_arg_cmp req = arg(1, SCMP_CMP_EQ, (scmp_datum_t)ioctls[i], 0);

		rc = rule(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &req);
	}
	if (rc == 0)
		rc = rule(ctx, SCMP_ACT_ALLOW, "socketpair", 1, &unix_only);
	if (rc == 0)
		rc = rule(ctx, SCMP_ACT_ALLOW, "openat", 1, &ro2);
	if (rc == 0)
		rc = rule(ctx, SCMP_ACT_ALLOW, "open", 1, &ro1);
	/* threads (libcurl's resolver); clone3 hides its flags: ENOSYS sends glibc to clone */
	if (rc == 0)
		rc = rule(ctx, SCMP_ACT_ALLOW, "clone", 1, &thread);
	if (rc == 0)
		rc = rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
	if (rc == 0) /* its flags are in a struct too */
		rc = rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "openat2", 0, NULL);
	if (rc == 0) /* raise() and abort() */
		rc = rule(ctx, SCMP_ACT_ALLOW, "tgkill", 1, &self);
	if (rc == 0) /* getrlimit() through prlimit64: a query, never a new limit */
		rc = rule(ctx, SCMP_ACT_ALLOW, "prlimit64", 1, &query);
	return rc;
}

/*
 * Valgrind refuses any seccomp filter (it would apply to valgrind's own calls), so under
 * memcheck the child keeps the rest of its sandbox but no filter. Natively the client
 * request is a no-op that reads 0: nothing outside valgrind can make this true.
 */
static bool under_valgrind(void)
{
#ifdef HAVE_VALGRIND_H
	return RUNNING_ON_VALGRIND != 0;
#else
	return false;
#endif
}

static int load_filter(struct cda_error *err)
{
	scmp_filter_ctx ctx;
	int rc;

	if (under_valgrind())
		return 0;
	ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	rc = ctx == NULL ? -ENOMEM : 0;

	for (size_t i = 0; rc == 0 && i < sizeof(allowed) / sizeof(allowed[0]); i++)
		rc = rule(ctx, SCMP_ACT_ALLOW, allowed[i], 0, NULL);
	for (size_t i = 0; rc == 0 && i < sizeof(fatal) / sizeof(fatal[0]); i++)
		rc = rule(ctx, SCMP_ACT_KILL_PROCESS, fatal[i], 0, NULL);
	if (rc == 0)
		rc = conditional_rules(ctx);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0) {
		errno = -rc;
		return cda_error_sys(err, CDA_ESYS, "seccomp filter");
	}
	return 0;
}

int sandbox_enter(const int *keep, size_t n_keep, struct cda_error *err)
{
	if (tidy_fds(keep, n_keep, err) < 0 || drop_identity(err) < 0 || drop_caps(err) < 0 ||
	    lock_process(err) < 0 || load_filter(err) < 0)
		return -1;
	return 0;
}
