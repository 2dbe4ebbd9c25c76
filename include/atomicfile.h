/* SPDX-License-Identifier: MIT */
/* Replacing a file atomically, and keeping the previous one while the new one is tried. */
#ifndef CDNALLOW_ATOMICFILE_H
#define CDNALLOW_ATOMICFILE_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

struct cda_error;

/*
 * A file being replaced: written to a temporary in the same directory, then renamed. The
 * directory is opened one component at a time without following symbolic links (a link on
 * the way is refused, ELOOP) and every later step goes through that descriptor.
 */
struct atomicfile {
	FILE *fp;             /* write here between open and commit */
	char *path;           /* final path */
	char *tmp_path;       /* temporary, NULL once committed or aborted */
	const char *name;     /* path's last component, in dirfd */
	const char *tmp_name; /* tmp_path's last component, in dirfd */
	int dirfd;            /* path's directory; open while path is set */
	int fd;               /* the temporary, under fp (fstat, fchown); -1 once closed */
	int werr;             /* the first write error's errno, 0 when none */
	mode_t mode;
};

/* A temporary next to path (O_EXCL); when path is a regular file, the temporary takes its
 * owner, group and extended attributes (SELinux label, ACLs; a file system without them is
 * fine), then mode, whatever the umask. -1: CDA_ESYS with path. af must stay where it is
 * until commit or abort (its stream refers to it). */
int atomicfile_open(struct atomicfile *af, const char *path, mode_t mode, struct cda_error *err);
/* fflush, fsync, fclose (checked), rename, fsync the directory. On failure the temporary is
 * removed and the old file stays; a write that failed earlier (an unchecked fprintf) is
 * reported with its own errno. Frees af's strings and closes its directory either way. */
int atomicfile_commit(struct atomicfile *af, struct cda_error *err);
/* Remove the temporary; NULL-safe and safe after commit. */
void atomicfile_abort(struct atomicfile *af);
/* Whole-buffer convenience: write data to path atomically. */
int atomicfile_write(const char *path, mode_t mode, const void *data, size_t len,
		     struct cda_error *err);

/*
 * The previous version of a file a trial replaces: kept as a hard link, path plus
 * ATOMICFILE_KEPT_SUFFIX, until the new one is accepted, so that a failed check or reload
 * puts back the old file byte for byte (same inode, owner and mode). Zero it before use.
 */
#define ATOMICFILE_KEPT_SUFFIX ".cdnallow-old"
struct atomicfile_prev {
	char *path;                   /* the file on trial */
	char *kept;                   /* the link, NULL when path did not exist */
	const char *name, *kept_name; /* their last components, in dirfd */
	int dirfd;                    /* their directory (opened as for atomicfile_open) */
};
/* Keep path aside (a link left by an earlier run is replaced). exists: path is there now, as
 * the caller just read it. -1: CDA_EAPPLY "cannot keep a copy of PATH as LINK", or CDA_ESYS. */
int atomicfile_keep(struct atomicfile_prev *prev, const char *path, bool exists,
		    struct cda_error *err);
/* The trial failed: the kept file back at path, or path removed when there was none. */
void atomicfile_put_back(struct atomicfile_prev *prev);
/* Drop the link (what path holds now stays) and free; after put_back too. NULL-safe. */
void atomicfile_prev_finish(struct atomicfile_prev *prev);

#endif
