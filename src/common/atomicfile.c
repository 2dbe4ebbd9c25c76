// SPDX-License-Identifier: MIT
/* Replacing a file atomically (temporary, fsync, rename), and keeping the previous one. */
#include "atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cda_error.h"

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

static void release(struct atomicfile *af)
{
	free(af->path);
	free(af->tmp_path);
	af->path = NULL;
	af->tmp_path = NULL;
	af->fp = NULL;
}

int atomicfile_open(struct atomicfile *af, const char *path, mode_t mode, struct cda_error *err)
{
	const char *base = strrchr(path, '/');
	char *dir = NULL;
	int fd = -1;

	memset(af, 0, sizeof(*af));
	base = base != NULL ? base + 1 : path;
	if (*base == '\0') {
		errno = EISDIR;
		cda_error_sys(err, CDA_ESYS, "cannot write %s", path);
		return -1;
	}
	if ((dir = dir_of(path)) == NULL || (af->path = strdup(path)) == NULL ||
	    asprintf(&af->tmp_path, "%s/.%s.XXXXXX", dir, base) < 0) {
		af->tmp_path = NULL;
		cda_error_sys(err, CDA_ESYS, "cannot write %s", path);
		goto fail;
	}
	/* same directory: rename(2) must not cross filesystems */
	fd = mkostemp(af->tmp_path, O_CLOEXEC);
	if (fd < 0) {
		cda_error_sys(err, CDA_ESYS, "cannot create a temporary file next to %s", path);
		free(af->tmp_path);
		af->tmp_path = NULL;
		goto fail;
	}
	if (fchmod(fd, mode) < 0) {
		cda_error_sys(err, CDA_ESYS, "cannot set the mode of %s", af->tmp_path);
		goto fail;
	}
	if ((af->fp = fdopen(fd, "w")) == NULL) {
		cda_error_sys(err, CDA_ESYS, "cannot write %s", af->tmp_path);
		goto fail;
	}
	af->mode = mode;
	free(dir);
	return 0;
fail:
	if (fd >= 0) {
		close(fd);
		unlink(af->tmp_path);
	}
	free(dir);
	release(af);
	return -1;
}

static int fsync_dir(const char *path)
{
	char *dir = dir_of(path);
	int fd, rc;

	if (dir == NULL)
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	if (rc < 0 && errno == EINVAL) /* some filesystems cannot sync a directory */
		rc = 0;
	close(fd);
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
	if (ferror(fp) || fflush(fp) != 0 || fsync(fileno(fp)) < 0) {
		if (errno == 0)
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
	if (rename(af->tmp_path, af->path) < 0) {
		cda_error_sys(err, CDA_ESYS, "cannot replace %s", af->path);
		goto fail;
	}
	free(af->tmp_path);
	af->tmp_path = NULL;
	/* the rename itself is durable only once the directory is synced */
	if (fsync_dir(af->path) < 0) {
		cda_error_sys(err, CDA_ESYS, "cannot sync the directory of %s", af->path);
		release(af);
		return -1;
	}
	release(af);
	return 0;
fail:
	saved = errno;
	unlink(af->tmp_path);
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
	if (af->tmp_path != NULL)
		unlink(af->tmp_path);
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
	if ((prev->path = strdup(path)) == NULL ||
	    (exists && asprintf(&prev->kept, "%s%s", path, ATOMICFILE_KEPT_SUFFIX) < 0)) {
		prev->kept = NULL;
		cda_error_sys(err, CDA_ESYS, "cannot keep a copy of %s", path);
		atomicfile_prev_finish(prev);
		return -1;
	}
	if (exists && ((unlink(prev->kept) < 0 && errno != ENOENT) || link(path, prev->kept) < 0)) {
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
		rename(prev->kept, prev->path);
	else
		unlink(prev->path);
}

void atomicfile_prev_finish(struct atomicfile_prev *prev)
{
	if (prev == NULL)
		return;
	if (prev->kept != NULL)
		unlink(prev->kept); /* gone already when put back */
	free(prev->kept);
	free(prev->path);
	prev->kept = NULL;
	prev->path = NULL;
}
