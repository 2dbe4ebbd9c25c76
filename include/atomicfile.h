/* SPDX-License-Identifier: MIT */
#ifndef CDNALLOW_ATOMICFILE_H
#define CDNALLOW_ATOMICFILE_H

#include <stdio.h>
#include <sys/types.h>

struct cda_error;

/* A file being replaced: written to a temporary in the same directory, then renamed. */
struct atomicfile {
	FILE *fp;	/* write here between open and commit */
	char *path;	/* final path */
	char *tmp_path; /* temporary, NULL once committed or aborted */
	mode_t mode;
};

/* mkstemp() next to path (O_EXCL), mode applied before rename. -1: CDA_ESYS with path. */
int atomicfile_open(struct atomicfile *af, const char *path, mode_t mode, struct cda_error *err);
/* fflush, fsync, fclose (checked), fchmod, rename, fsync the directory. On failure the
 * temporary is removed and the old file stays. Frees af's strings either way. */
int atomicfile_commit(struct atomicfile *af, struct cda_error *err);
/* Remove the temporary; NULL-safe and safe after commit. */
void atomicfile_abort(struct atomicfile *af);
/* Whole-buffer convenience: write data to path atomically. */
int atomicfile_write(const char *path, mode_t mode, const void *data, size_t len,
		     struct cda_error *err);

#endif
