// SPDX-License-Identifier: MIT
/* Replacing a file atomically (temporary, fsync, rename), and keeping the previous one. */
#include "atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "cda_error.h"

/*
 * Every step goes through a descriptor of the file's directory, opened one component at a
 * time without following symbolic links: a component swapped for a link by someone who can
 * write its parent cannot send a root write elsewhere (the open refuses it; after that the
 * descriptor holds the directory whatever happens to its name). The temporary is created in
 * that directory with O_EXCL, takes the replaced file's owner, group and extended attributes
 * (SELinux label, ACLs), is renamed over it, and the directory is synced.
 */

#define TMP_TRIES 100

/* Directory part of path ("." when there is none), as a new string. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* Whether name in dirfd is a symbolic link (for the error's wording). */
static bool is_link(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

/*
 * The directory holding path, opened component by component with O_NOFOLLOW; *base: path's
 * last component. -1: code with "WHAT PATH" (ELOOP, naming the link, when one is on the way).
 */
static int open_parent(const char *path, const char **base, enum cda_errc code, const char *what,
		       struct cda_error *err)
{
	const char *slash = strrchr(path, '/'), *p = path;
	char comp[NAME_MAX + 1];
	int fd, nfd;

	*base = slash != NULL ? slash + 1 : path;
	if (**base == '\0' || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0) {
		errno = EISDIR;
		cda_error_sys(err, code, "%s %s", what, path);
		return -1;
	}
	if ((fd = open(path[0] == '/' ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		cda_error_sys(err, code, "%s %s", what, path);
		return -1;
	}
	while (slash != NULL && (p += strspn(p, "/")) < slash) {
		size_t n = strcspn(p, "/");

		if (n > NAME_MAX) {
			errno = ENAMETOOLONG;
			goto fail;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && (errno == ELOOP || (errno == ENOTDIR && is_link(fd, comp)))) {
			close(fd);
			errno = ELOOP;
			cda_error_sys(err, code, "%s %s (%.*s is a symbolic link)", what, path,
				      (int)(p + n - path), path);
			return -1;
		}
		if (nfd < 0)
			goto fail;
		close(fd);
		fd = nfd;
		p += n;
	}
	return fd;
fail:
	cda_error_sys(err, code, "%s %s", what, path);
	close(fd);
	return -1;
}

/* Six random name characters into s (an O_EXCL create settles any collision). */
static void random_chars(char *s)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	static unsigned int counter;
	unsigned char r[6];

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		struct timespec ts = {0};
		unsigned long x;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = (unsigned long)ts.tv_nsec ^ ((unsigned long)getpid() << 16) ^ counter++;
		for (size_t i = 0; i < sizeof(r); i++, x /= 62)
			r[i] = (unsigned char)(x % 62);
	}
	for (size_t i = 0; i < sizeof(r); i++)
		s[i] = set[r[i] % (sizeof(set) - 1)];
}

/* name's extended attribute list (name NULL) or one value into *buf; its size, -1 on error. */
static ssize_t get_sized(int fd, const char *name, char **buf)
{
	for (int tries = 0; tries < 8; tries++) {
		ssize_t n = name != NULL ? fgetxattr(fd, name, NULL, 0) : flistxattr(fd, NULL, 0);

		if (n <= 0)
			return n;
		free(*buf);
		if ((*buf = malloc((size_t)n)) == NULL)
			return -1;
		n = name != NULL ? fgetxattr(fd, name, *buf, (size_t)n)
				 : flistxattr(fd, *buf, (size_t)n);
		if (n >= 0 || errno != ERANGE)
			return n;
	}
	errno = ERANGE;
	return -1;
}

/* Every extended attribute of from onto to. A file system without them is not an error. */
static int copy_xattrs(int from, int to, const char *path, struct cda_error *err)
{
	char *names = NULL, *val = NULL;
	ssize_t n = get_sized(from, NULL, &names), v;
	int ret = -1;

	if (n < 0 && errno != ENOTSUP) {
		cda_error_sys(err, CDA_ESYS, "cannot list the extended attributes of %s", path);
		goto out;
	}
	for (char *k = names; n > 0 && k < names + n; k += strlen(k) + 1) {
		if ((v = get_sized(from, k, &val)) < 0) {
			if (errno == ENODATA) /* gone meanwhile */
				continue;
			cda_error_sys(err, CDA_ESYS, "cannot read the attribute %s of %s", k, path);
			goto out;
		}
		if (fsetxattr(to, k, val, (size_t)v, 0) < 0 && errno != ENOTSUP) {
			cda_error_sys(err, CDA_ESYS, "cannot keep the attribute %s of %s", k, path);
			goto out;
		}
	}
	ret = 0;
out:
	free(names);
	free(val);
	return ret;
}

/* The replaced file's owner, group and extended attributes onto fd (none: a new file). */
static int copy_meta(struct atomicfile *af, int fd, struct cda_error *err)
{
	struct stat old, tmp;
	int ofd, ret;

	ofd = openat(af->dirfd, af->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (ofd < 0 && (errno == ENOENT || errno == ELOOP))
		return 0; /* a new file, or a link that the rename replaces */
	if (ofd < 0)
		return cda_error_sys(err, CDA_ESYS, "cannot read the owner of %s", af->path);
	if (fstat(ofd, &old) < 0 || fstat(fd, &tmp) < 0) {
		cda_error_sys(err, CDA_ESYS, "cannot read the owner of %s", af->path);
		close(ofd);
		return -1;
	}
	ret = 0;
	if (!S_ISREG(old.st_mode)) {
		close(ofd);
		return 0;
	}
	if ((old.st_uid != tmp.st_uid || old.st_gid != tmp.st_gid) &&
	    fchown(fd, old.st_uid, old.st_gid) < 0)
		ret = cda_error_sys(err, CDA_ESYS, "cannot keep the owner %u:%u of %s",
				    (unsigned int)old.st_uid, (unsigned int)old.st_gid, af->path);
	if (ret == 0)
		ret = copy_xattrs(ofd, fd, af->path, err);
	close(ofd);
	return ret;
}

static void release(struct atomicfile *af)
{
	if (af->path != NULL && af->dirfd >= 0)
		close(af->dirfd);
	free(af->path);
	free(af->tmp_path);
	af->path = NULL;
	af->tmp_path = NULL;
	af->name = NULL;
	af->tmp_name = NULL;
	af->dirfd = -1;
	af->fp = NULL;
	af->fd = -1;
}

/*
 * The temporary's stream writes through these: stdio keeps only an error flag, and a caller's
 * unchecked fprintf() that hit a full disk would leave commit nothing but EIO to report. The
 * first write error's errno is kept for commit.
 */
static ssize_t tmp_write(void *cookie, const char *buf, size_t len)
{
	struct atomicfile *af = cookie;
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(af->fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (af->werr == 0)
				af->werr = n < 0 ? errno : EIO;
			break;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int tmp_close(void *cookie)
{
	struct atomicfile *af = cookie;
	int fd = af->fd;

	af->fd = -1;
	return close(fd);
}

static const cookie_io_functions_t tmp_io = {.write = tmp_write, .close = tmp_close};

/* The temporary next to path (name in dirfd), O_EXCL; its path into *tmp (NULL on failure). */
static int create_tmp(int dirfd, const char *path, const char *name, char **tmp,
		      struct cda_error *err)
{
	char *dir = dir_of(path);
	size_t dl;
	int fd = -1;

	if (dir == NULL || asprintf(tmp, "%s/.%s.XXXXXX", dir, name) < 0) {
		*tmp = NULL;
		free(dir);
		cda_error_sys(err, CDA_ESYS, "cannot write %s", path);
		return -1;
	}
	dl = strlen(dir) + 1;
	free(dir);
	for (int i = 0; i < TMP_TRIES && fd < 0; i++) {
		random_chars(*tmp + strlen(*tmp) - 6);
		fd = openat(dirfd, *tmp + dl, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		cda_error_sys(err, CDA_ESYS, "cannot create a temporary file next to %s", path);
		free(*tmp);
		*tmp = NULL;
	}
	return fd;
}

int atomicfile_open(struct atomicfile *af, const char *path, mode_t mode, struct cda_error *err)
{
	char *p = strdup(path), *tmp = NULL;
	const char *name = NULL;
	int dirfd = -1, fd = -1;

	memset(af, 0, sizeof(*af));
	af->dirfd = -1;
	af->fd = -1;
	if (p == NULL) {
		cda_error_sys(err, CDA_ESYS, "cannot write %s", path);
		return -1;
	}
	/* same directory: rename(2) must not cross filesystems */
	if ((dirfd = open_parent(p, &name, CDA_ESYS, "cannot write", err)) < 0 ||
	    (fd = create_tmp(dirfd, p, name, &tmp, err)) < 0) {
		if (dirfd >= 0)
			close(dirfd);
		free(p);
		return -1;
	}
	af->path = p;
	af->name = name;
	af->tmp_path = tmp;
	af->tmp_name = strrchr(tmp, '/') + 1;
	af->dirfd = dirfd;
	/* owner first (a chown may clear set-id bits and capabilities), the mode last */
	if (copy_meta(af, fd, err) < 0)
		goto fail;
	if (fchmod(fd, mode) < 0) {
		cda_error_sys(err, CDA_ESYS, "cannot set the mode of %s", af->tmp_path);
		goto fail;
	}
	af->fd = fd;
	if ((af->fp = fopencookie(af, "w", tmp_io)) == NULL) {
		cda_error_sys(err, CDA_ESYS, "cannot write %s", af->tmp_path);
		goto fail;
	}
	af->mode = mode;
	return 0;
fail:
	close(fd);
	unlinkat(af->dirfd, af->tmp_name, 0);
	release(af);
	return -1;
}

static int fsync_dir(int dirfd)
{
	int rc = fsync(dirfd);

	if (rc < 0 && errno == EINVAL) /* some filesystems cannot sync a directory */
		rc = 0;
	return rc;
}

int atomicfile_commit(struct atomicfile *af, struct cda_error *err)
{
	FILE *fp = af->fp;
	int saved;

	if (fp == NULL || af->tmp_path == NULL) {
		errno = EBADF;
		cda_error_sys(err, CDA_ESYS, "cannot commit %s", af->path ? af->path : "(closed)");
		atomicfile_abort(af);
		return -1;
	}
	af->fp = NULL;
	errno = 0;
	if (ferror(fp) || fflush(fp) != 0 || fsync(af->fd) < 0) {
		if (af->werr != 0)
			errno = af->werr;
		else if (errno == 0)
			errno = EIO;
		saved = errno;
		fclose(fp);
		errno = saved;
		cda_error_sys(err, CDA_ESYS, "cannot write %s", af->path);
		goto fail;
	}
	if (fclose(fp) != 0) {
		cda_error_sys(err, CDA_ESYS, "cannot write %s", af->path);
		goto fail;
	}
	if (renameat(af->dirfd, af->tmp_name, af->dirfd, af->name) < 0) {
		cda_error_sys(err, CDA_ESYS, "cannot replace %s", af->path);
		goto fail;
	}
	/* the rename itself is durable only once the directory is synced */
	if (fsync_dir(af->dirfd) < 0) {
		cda_error_sys(err, CDA_ESYS, "cannot sync the directory of %s", af->path);
		release(af);
		return -1;
	}
	release(af);
	return 0;
fail:
	saved = errno;
	unlinkat(af->dirfd, af->tmp_name, 0);
	release(af);
	errno = saved;
	return -1;
}

void atomicfile_abort(struct atomicfile *af)
{
	if (af == NULL)
		return;
	if (af->fp != NULL)
		fclose(af->fp);
	if (af->tmp_path != NULL && af->path != NULL)
		unlinkat(af->dirfd, af->tmp_name, 0);
	release(af);
}

int atomicfile_write(const char *path, mode_t mode, const void *data, size_t len,
		     struct cda_error *err)
{
	struct atomicfile af;

	if (atomicfile_open(&af, path, mode, err) < 0)
		return -1;
	if (len > 0 && fwrite(data, 1, len, af.fp) != len) {
		cda_error_sys(err, CDA_ESYS, "cannot write %s", path);
		atomicfile_abort(&af);
		return -1;
	}
	return atomicfile_commit(&af, err);
}

int atomicfile_keep(struct atomicfile_prev *prev, const char *path, bool exists,
		    struct cda_error *err)
{
	memset(prev, 0, sizeof(*prev));
	prev->dirfd = -1;
	if ((prev->path = strdup(path)) == NULL ||
	    (exists && asprintf(&prev->kept, "%s%s", path, ATOMICFILE_KEPT_SUFFIX) < 0)) {
		prev->kept = NULL;
		cda_error_sys(err, CDA_ESYS, "cannot keep a copy of %s", path);
		atomicfile_prev_finish(prev);
		return -1;
	}
	prev->dirfd =
		open_parent(prev->path, &prev->name, CDA_EAPPLY, "cannot keep a copy of", err);
	if (prev->dirfd < 0) {
		free(prev->kept);
		prev->kept = NULL;
		atomicfile_prev_finish(prev);
		return -1;
	}
	if (prev->kept != NULL)
		prev->kept_name = prev->kept + (prev->name - prev->path);
	if (exists && ((unlinkat(prev->dirfd, prev->kept_name, 0) < 0 && errno != ENOENT) ||
		       linkat(prev->dirfd, prev->name, prev->dirfd, prev->kept_name, 0) < 0)) {
		cda_error_sys(err, CDA_EAPPLY, "cannot keep a copy of %s as %s", path, prev->kept);
		free(prev->kept);
		prev->kept = NULL;
		atomicfile_prev_finish(prev);
		return -1;
	}
	return 0;
}

void atomicfile_put_back(struct atomicfile_prev *prev)
{
	if (prev->path == NULL)
		return;
	if (prev->kept != NULL)
		renameat(prev->dirfd, prev->kept_name, prev->dirfd, prev->name);
	else
		unlinkat(prev->dirfd, prev->name, 0);
}

void atomicfile_prev_finish(struct atomicfile_prev *prev)
{
	if (prev == NULL)
		return;
	if (prev->kept != NULL && prev->path != NULL)
		unlinkat(prev->dirfd, prev->kept_name, 0); /* gone already when put back */
	if (prev->path != NULL && prev->dirfd >= 0)
		close(prev->dirfd);
	free(prev->kept);
	free(prev->path);
	prev->kept = NULL;
	prev->path = NULL;
	prev->name = NULL;
	prev->kept_name = NULL;
	prev->dirfd = -1;
}
