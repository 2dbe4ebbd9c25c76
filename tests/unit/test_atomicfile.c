// SPDX-License-Identifier: MIT
/* atomicfile: replacing a file atomically, keeping the previous one during a trial. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cda_error.h"

struct tmpdir {
	char dir[64];
	char path[96];
};

static void mk(struct tmpdir *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/cda-atomic-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/file", t->dir);
}

static void put(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

/* Whole content of path (static buffer), or NULL if it cannot be read. */
static const char *get(const char *path)
{
	static char buf[4096];
	FILE *fp = fopen(path, "r");
	size_t n;

	if (fp == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void cleanup(struct tmpdir *t)
{
	DIR *d = opendir(t->dir);
	struct dirent *e;
	char p[512];

	if (d != NULL) {
		while ((e = readdir(d)) != NULL) {
			snprintf(p, sizeof(p), "%s/%s", t->dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(t->dir);
}

static void commit_replaces_the_old_file(void **state)
{
	struct tmpdir t;
	struct atomicfile af;
	struct cda_error err = {0};

	(void)state;
	mk(&t);
	put(t.path, "old\n");
	assert_int_equal(atomicfile_open(&af, t.path, 0644, &err), 0);
	assert_non_null(af.fp);
	assert_non_null(af.tmp_path);
	assert_int_equal(strncmp(af.tmp_path, t.dir, strlen(t.dir)), 0);
	fputs("new\n", af.fp);
	assert_string_equal(get(t.path), "old\n"); /* nothing visible before commit */
	assert_int_equal(atomicfile_commit(&af, &err), 0);
	assert_null(af.tmp_path);
	assert_null(af.path);
	assert_string_equal(get(t.path), "new\n");
	assert_int_equal(entries(t.dir), 1);
	atomicfile_abort(&af); /* safe after commit */
	assert_string_equal(get(t.path), "new\n");
	cleanup(&t);
}

static void abort_leaves_the_old_file_and_no_temporary(void **state)
{
	struct tmpdir t;
	struct atomicfile af;
	struct cda_error err = {0};

	(void)state;
	mk(&t);
	put(t.path, "old\n");
	assert_int_equal(atomicfile_open(&af, t.path, 0600, &err), 0);
	fputs("half-written", af.fp);
	assert_int_equal(entries(t.dir), 2);
	atomicfile_abort(&af);
	assert_int_equal(entries(t.dir), 1);
	assert_string_equal(get(t.path), "old\n");
	atomicfile_abort(&af);
	atomicfile_abort(NULL);
	cleanup(&t);
}

static void mode_is_applied_whatever_the_umask(void **state)
{
	struct tmpdir t;
	struct cda_error err = {0};
	struct stat sb;
	mode_t old = umask(077);

	(void)state;
	mk(&t);
	assert_int_equal(atomicfile_write(t.path, 0644, "x\n", 2, &err), 0);
	assert_int_equal(stat(t.path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0644);
	assert_int_equal(atomicfile_write(t.path, 0600, "y\n", 2, &err), 0);
	assert_int_equal(stat(t.path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_string_equal(get(t.path), "y\n");
	umask(old);
	cleanup(&t);
}

static void write_creates_a_missing_file(void **state)
{
	struct tmpdir t;
	struct cda_error err = {0};

	(void)state;
	mk(&t);
	assert_int_equal(atomicfile_write(t.path, 0644, "", 0, &err), 0);
	assert_string_equal(get(t.path), "");
	cleanup(&t);
}

/* Root ignores directory permissions: drop to nobody in a child to meet a real EACCES. */
static void unwritable_directory_fails_and_keeps_the_old_file(void **state)
{
	struct tmpdir t;
	struct cda_error err = {0};
	pid_t pid;
	int status;

	(void)state;
	mk(&t);
	put(t.path, "old\n");
	assert_int_equal(chmod(t.path, 0644), 0);
	assert_int_equal(chmod(t.dir, 0555), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(10);
		if (atomicfile_write(t.path, 0644, "new\n", 4, &err) != -1)
			_exit(11);
		if (err.code != CDA_ESYS || strstr(err.msg, t.path) == NULL ||
		    err.sys_errno != EACCES)
			_exit(12);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(get(t.path), "old\n");
	assert_int_equal(entries(t.dir), 1);
	assert_int_equal(chmod(t.dir, 0700), 0);
	cleanup(&t);
}

static void missing_directory_fails_naming_the_path(void **state)
{
	struct cda_error err = {0};

	(void)state;
	assert_int_equal(atomicfile_write("/nonexistent-cda/dir/file", 0644, "x", 1, &err), -1);
	assert_int_equal(err.code, CDA_ESYS);
	assert_int_equal(err.sys_errno, ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent-cda/dir/file"));
}

/*
 * A full disk for real: a 16 KiB tmpfs, mounted in a child's private mount namespace so it
 * can never escape. Needs root (or CAP_SYS_ADMIN); skipped otherwise.
 */
static void full_disk_fails_and_keeps_the_old_file(void **state)
{
	struct tmpdir t;
	pid_t pid;
	int status;

	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	mk(&t);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cda_error err = {0};
		static char big[64 * 1024];

		if (unshare(CLONE_NEWNS) < 0)
			_exit(77);
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(77);
		if (mount("cda-full", t.dir, "tmpfs", 0, "size=16k,mode=0700") < 0)
			_exit(77);
		put(t.path, "old\n");
		memset(big, 'x', sizeof(big));
		if (atomicfile_write(t.path, 0644, big, sizeof(big), &err) != -1)
			_exit(11);
		if (err.code != CDA_ESYS || err.sys_errno != ENOSPC)
			_exit(12);
		if (strcmp(get(t.path), "old\n") != 0)
			_exit(13);
		if (entries(t.dir) != 1)
			_exit(14);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		cleanup(&t);
		skip();
		return;
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the mount stayed in the child's namespace */
	assert_int_equal(entries(t.dir), 0);
	cleanup(&t);
}

static ino_t inode(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_ino;
}

/*
 * The state writers print line by line without checking each call (issue 13: a full disk
 * was reported as "Input/output error"): the first write's errno reaches commit.
 */
static void full_disk_in_unchecked_writes_is_named_at_commit(void **state)
{
	struct tmpdir t;
	pid_t pid;
	int status;

	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	mk(&t);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cda_error err = {0};
		struct atomicfile af;

		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("cda-full", t.dir, "tmpfs", 0, "size=16k,mode=0700") < 0)
			_exit(77);
		put(t.path, "old\n");
		if (atomicfile_open(&af, t.path, 0600, &err) < 0)
			_exit(10);
		for (int i = 0; i < 8192; i++) /* 8192 lines of 16 bytes: past 16k on the way */
			fprintf(af.fp, "10.%d.%d.0/24 x\n", i / 256 % 100 + 10, i % 256);
		if (atomicfile_commit(&af, &err) != -1)
			_exit(11);
		if (err.code != CDA_ESYS || err.sys_errno != ENOSPC)
			_exit(12);
		if (strcmp(get(t.path), "old\n") != 0 || entries(t.dir) != 1)
			_exit(13);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		cleanup(&t);
		skip();
		return;
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	cleanup(&t);
}

static void failed_trial_puts_the_kept_file_back(void **state)
{
	struct tmpdir t;
	struct atomicfile_prev prev = {0};
	struct cda_error err = {0};
	char kept[128];
	ino_t ino;

	(void)state;
	mk(&t);
	put(t.path, "old\n");
	ino = inode(t.path);
	assert_int_equal(atomicfile_keep(&prev, t.path, true, &err), 0);
	snprintf(kept, sizeof(kept), "%s%s", t.path, ATOMICFILE_KEPT_SUFFIX);
	assert_string_equal(prev.kept, kept);
	assert_int_equal(atomicfile_write(t.path, 0644, "new\n", 4, &err), 0);
	assert_string_equal(get(t.path), "new\n");
	assert_string_equal(get(kept), "old\n");
	atomicfile_put_back(&prev);
	atomicfile_prev_finish(&prev);
	assert_string_equal(get(t.path), "old\n");
	assert_true(inode(t.path) == ino); /* the same file, not a copy */
	assert_int_equal(entries(t.dir), 1);
	atomicfile_prev_finish(&prev);
	atomicfile_prev_finish(NULL);
	cleanup(&t);
}

static void accepted_trial_drops_the_kept_file(void **state)
{
	struct tmpdir t;
	struct atomicfile_prev prev = {0};
	struct cda_error err = {0};

	(void)state;
	mk(&t);
	put(t.path, "old\n");
	assert_int_equal(atomicfile_keep(&prev, t.path, true, &err), 0);
	assert_int_equal(entries(t.dir), 2);
	assert_int_equal(atomicfile_write(t.path, 0644, "new\n", 4, &err), 0);
	atomicfile_prev_finish(&prev);
	assert_string_equal(get(t.path), "new\n");
	assert_int_equal(entries(t.dir), 1);
	cleanup(&t);
}

static void failed_trial_of_a_new_file_removes_it(void **state)
{
	struct tmpdir t;
	struct atomicfile_prev prev = {0};
	struct cda_error err = {0};

	(void)state;
	mk(&t);
	assert_int_equal(atomicfile_keep(&prev, t.path, false, &err), 0);
	assert_null(prev.kept);
	assert_int_equal(entries(t.dir), 0);
	assert_int_equal(atomicfile_write(t.path, 0644, "new\n", 4, &err), 0);
	atomicfile_put_back(&prev);
	atomicfile_prev_finish(&prev);
	assert_null(get(t.path));
	assert_int_equal(entries(t.dir), 0);
	cleanup(&t);
}

static void stale_kept_file_is_replaced(void **state)
{
	struct tmpdir t;
	struct atomicfile_prev prev = {0};
	struct cda_error err = {0};
	char kept[128];

	(void)state;
	mk(&t);
	snprintf(kept, sizeof(kept), "%s%s", t.path, ATOMICFILE_KEPT_SUFFIX);
	put(kept, "left by a crash\n");
	put(t.path, "old\n");
	assert_int_equal(atomicfile_keep(&prev, t.path, true, &err), 0);
	assert_string_equal(get(kept), "old\n");
	assert_int_equal(atomicfile_write(t.path, 0644, "new\n", 4, &err), 0);
	atomicfile_put_back(&prev);
	atomicfile_prev_finish(&prev);
	assert_string_equal(get(t.path), "old\n");
	assert_int_equal(entries(t.dir), 1);
	cleanup(&t);
}

/* A directory cannot be hard-linked (EPERM, even for root). */
static void keep_that_cannot_link_fails_naming_both_paths(void **state)
{
	struct tmpdir t;
	struct atomicfile_prev prev = {0};
	struct cda_error err = {0};

	(void)state;
	mk(&t);
	assert_int_equal(mkdir(t.path, 0700), 0);
	assert_int_equal(atomicfile_keep(&prev, t.path, true, &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_int_equal(err.sys_errno, EPERM);
	assert_non_null(strstr(err.msg, t.path));
	assert_non_null(strstr(err.msg, ATOMICFILE_KEPT_SUFFIX));
	assert_null(prev.path);
	assert_null(prev.kept);
	assert_int_equal(entries(t.dir), 1);
	assert_int_equal(rmdir(t.path), 0);
	cleanup(&t);
}

/* A root-run replace keeps the owner and group of the file it replaces (root:haproxy 0640). */
static void owner_and_group_are_kept(void **state)
{
	struct tmpdir t;
	struct cda_error err = {0};
	struct stat sb;

	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	mk(&t);
	put(t.path, "old\n");
	assert_int_equal(chown(t.path, 1234, 5678), 0);
	assert_int_equal(chmod(t.path, 0640), 0);
	assert_int_equal(atomicfile_write(t.path, 0640, "new\n", 4, &err), 0);
	assert_int_equal(stat(t.path, &sb), 0);
	assert_int_equal(sb.st_uid, 1234);
	assert_int_equal(sb.st_gid, 5678);
	assert_int_equal(sb.st_mode & 07777, 0640);
	assert_string_equal(get(t.path), "new\n");
	cleanup(&t);
}

/* The replace itself, in the child: 0 when the xattr came along, else a code for the parent. */
static int xattr_child(const char *path)
{
	struct cda_error err = {0};
	char val[16] = {0};

	put(path, "old\n");
	if (setxattr(path, "user.cdnallow", "kept", 4, 0) < 0)
		return errno == ENOTSUP ? 77 : 10;
	if (atomicfile_write(path, 0644, "new\n", 4, &err) < 0)
		return 11;
	if (getxattr(path, "user.cdnallow", val, sizeof(val) - 1) != 4)
		return 12;
	if (strcmp(val, "kept") != 0)
		return 13;
	return strcmp(get(path), "new\n") == 0 ? 0 : 14;
}

/* Extended attributes (user.*, and so security.selinux and ACLs) survive the replace. Where
 * the file system of /tmp has no user xattrs, a tmpfs in a private mount namespace has. */
static void extended_attributes_are_kept(void **state)
{
	struct tmpdir t;
	pid_t pid;
	int status;

	(void)state;
	mk(&t);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int rc = xattr_child(t.path);

		if (rc != 77)
			_exit(rc);
		unlink(t.path);
		if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("cda-xattr", t.dir, "tmpfs", 0, "size=64k,mode=0700") < 0)
			_exit(20);
		_exit(xattr_child(t.path));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	cleanup(&t);
}

/* A directory on the way that is a symbolic link (swapped in by someone who can write its
 * parent) is refused: nothing is written where it points. */
static void symlinked_directory_component_is_refused(void **state)
{
	struct tmpdir t;
	struct cda_error err = {0};
	char real[128], link[128], through[192], target[192];

	(void)state;
	mk(&t);
	snprintf(real, sizeof(real), "%s/real", t.dir);
	snprintf(link, sizeof(link), "%s/link", t.dir);
	snprintf(through, sizeof(through), "%s/file", link);
	snprintf(target, sizeof(target), "%s/file", real);
	assert_int_equal(mkdir(real, 0700), 0);
	assert_int_equal(symlink(real, link), 0);
	assert_int_equal(atomicfile_write(through, 0644, "new\n", 4, &err), -1);
	assert_int_equal(err.code, CDA_ESYS);
	assert_int_equal(err.sys_errno, ELOOP);
	assert_non_null(strstr(err.msg, through));
	assert_null(get(target));
	assert_int_equal(entries(real), 0);
	/* the same for the kept copy of a trial */
	{
		struct atomicfile_prev prev = {0};

		put(target, "old\n");
		assert_int_equal(atomicfile_keep(&prev, through, true, &err), -1);
		assert_int_equal(entries(real), 1);
	}
	unlink(target);
	rmdir(real);
	unlink(link);
	cleanup(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(commit_replaces_the_old_file),
		cmocka_unit_test(abort_leaves_the_old_file_and_no_temporary),
		cmocka_unit_test(mode_is_applied_whatever_the_umask),
		cmocka_unit_test(write_creates_a_missing_file),
		cmocka_unit_test(unwritable_directory_fails_and_keeps_the_old_file),
		cmocka_unit_test(missing_directory_fails_naming_the_path),
		cmocka_unit_test(full_disk_fails_and_keeps_the_old_file),
		cmocka_unit_test(full_disk_in_unchecked_writes_is_named_at_commit),
		cmocka_unit_test(failed_trial_puts_the_kept_file_back),
		cmocka_unit_test(accepted_trial_drops_the_kept_file),
		cmocka_unit_test(failed_trial_of_a_new_file_removes_it),
		cmocka_unit_test(stale_kept_file_is_replaced),
		cmocka_unit_test(keep_that_cannot_link_fails_naming_both_paths),
		cmocka_unit_test(owner_and_group_are_kept),
		cmocka_unit_test(extended_attributes_are_kept),
		cmocka_unit_test(symlinked_directory_component_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
