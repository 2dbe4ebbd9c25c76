/* SPDX-License-Identifier: MIT */
/* The backend interface: one ops table per firewall, the registry, shared helpers. */
#ifndef CDNALLOW_BACKEND_H
#define CDNALLOW_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

struct cda_error;
struct cidr;
struct ranges;
struct state;
struct target_config;
struct textbuf;

/* Base of every backend's private struct (first member). */
struct backend {
	const struct backend_ops *ops;
	size_t msgs_sent; /* element messages the last apply sent (nft; 0 where meaningless) */
	bool outcome_unknown; /* the last apply failed, and the change may have reached the target */
};

/* What a run gives every backend besides its target section. */
struct backend_env {
	struct state *state;	  /* opened state dir (NULL in tests that need none) */
	unsigned long verify_max; /* full read-back up to this many ranges */
	bool verify_full;	  /* always read back, whatever the size */
	bool dry_run;		  /* open/read only; apply is never called */
	bool restore;		  /* cdnallow restore: at boot, no network */
};

/* Which source supplied an address, for comments and the per-source diff. */
struct source_attr {
	const char *name;
	const struct ranges *list; /* that source's normal list */
};

/* The desired state and the element-exact delta against what read() returned. */
struct backend_input {
	const struct ranges *want; /* normal */
	const struct ranges *add;  /* items of want not held now */
	const struct ranges *del;  /* items held now not in want */
	const struct source_attr *srcs;
	size_t n_srcs;
};

struct backend_ops {
	const char *name;
	const char *const *keys; /* [target.*] keys it accepts besides backend/sources */
	/* Allocate from the target's config; validates keys (CDA_ECONFIG with file:line);
	 * changes nothing on the system. */
	int (*open)(struct backend **out, const struct target_config *tc,
		    const struct backend_env *env, struct cda_error *err);
	/* Fill cur (both families) with what the target holds now, as items (sorted, not
	 * merged); empty if the target does not exist yet. */
	int (*read)(struct backend *be, struct ranges *cur, struct cda_error *err);
	/* Make the target equal in->want, all or nothing. */
	int (*apply)(struct backend *be, const struct backend_input *in, struct cda_error *err);
	/* Read back and compare with want: CDA_EAPPLY on mismatch. NULL: read() + compare. */
	int (*verify)(struct backend *be, const struct ranges *want, struct cda_error *err);
	/* Persist the backend's own cache after a verified apply (NULL: nothing). */
	int (*save)(struct backend *be, struct cda_error *err);
	/* Remove the origin lock only, at once, leaving the sets (NULL: the backend has no
	 * lock). 0 also when no lock was installed. */
	int (*unlock)(struct backend *be, struct cda_error *err);
	/* Whether objects besides the sets are not as configured (a missing or different
	 * origin lock): *drift = true makes main.c apply even when the sets already equal
	 * want (with an empty delta). Called after read(). NULL: never drifts. */
	int (*drift)(struct backend *be, bool *drift, struct cda_error *err);
	/* The origin lock as read() found it, one line ("tcp 80,443 on input+forward"), or
	 * NULL when no lock is configured or present. Borrowed until close. NULL op: none. */
	const char *(*lock_info)(struct backend *be);
	/* When read() does not ask the target itself, what its answer is instead ("as last
	 * applied (no read_command)"), for show; NULL when it does. NULL op: it does. */
	const char *(*held_note)(struct backend *be);
	/* Keep a replayable copy of what the target holds for the host's own firewall loader
	 * (nftables: the nft_file script), after a verified apply or a read that found the
	 * target in step; never on a dry run. *written: the copy changed. NULL: none. */
	int (*snapshot)(struct backend *be, bool *written, struct cda_error *err);
	/* The objects on the system the target manages, one line each appended to out
	 * ("nftables set inet cdnallow allow_v4", "file /etc/x"): two targets managing one
	 * would undo each other's work every run, a configuration error. NULL op: none. */
	void (*claims)(struct backend *be, struct textbuf *out);
	void (*close)(struct backend *be); /* NULL-safe */
	/* What drift() compares, for messages ("... put back"); NULL: "origin lock". */
	const char *drift_what;
};

/* Registry: NULL when unknown or not built. */
const struct backend_ops *backend_find(const char *name);
const struct backend_ops *const *backend_all(size_t *n);

/* Dispatchers: handle NULL optional ops in one place. */
int backend_open(const struct backend_ops *ops, struct backend **out,
		 const struct target_config *tc, const struct backend_env *env,
		 struct cda_error *err);
int backend_read(struct backend *be, struct ranges *cur, struct cda_error *err);
int backend_apply(struct backend *be, const struct backend_input *in, struct cda_error *err);
int backend_verify(struct backend *be, const struct ranges *want, struct cda_error *err);
int backend_save(struct backend *be, struct cda_error *err);
int backend_unlock(struct backend *be, struct cda_error *err);
int backend_drift(struct backend *be, bool *drift, struct cda_error *err);
const char *backend_lock_info(struct backend *be);
const char *backend_held_note(struct backend *be);
int backend_snapshot(struct backend *be, bool *written, struct cda_error *err);
void backend_claims(struct backend *be, struct textbuf *out);
/* ops->drift_what of the named backend, or "origin lock". */
const char *backend_drift_what(const char *backend);
void backend_close(struct backend *be);

/* Add the CIDR text s[0..len) of family fam to r: 0 added, 1 not a CIDR of that family,
 * -1 out of memory. */
int backend_add_cidr_text(struct ranges *r, int fam, const char *s, size_t len);
/* The first source whose list holds the prefix's first address, NULL when none. */
const char *backend_source_of(const struct source_attr *srcs, size_t n, const struct cidr *c);

/* Shared by backends: whether key is in ops->keys or a common target key. */
bool backend_accepts_key(const struct backend_ops *ops, const char *key);
/* A bad [target.*] value: CDA_ECONFIG "key: why" at the key's file:line. Returns -1. */
int backend_bad_value(struct cda_error *err, const struct target_config *tc, const char *key,
		      const char *why);
/* For verify ops: read back through be's own read() and compare the address cover with
 * want. CDA_ESYS "verifying WHAT" when out of memory; CDA_EAPPLY mismatch, at origin, when
 * the cover differs. */
int backend_verify_cover(struct backend *be, const struct ranges *want, const char *what,
			 const char *mismatch, const char *origin, struct cda_error *err);
/* Whether s can name a command to run (a name or a path): not empty, no blank or newline. */
bool backend_command_ok(const char *s);
/*
 * The target's command_timeout (a duration of 1 s to SUBPROC_TIMEOUT_MAX) into *secs, def
 * when it is not set: how long each command the backend runs may take before its process
 * group is killed and the apply fails. CDA_ECONFIG at the key's line when out of bounds.
 */
int backend_command_timeout(const struct target_config *tc, unsigned int def,
			    unsigned int *secs, struct cda_error *err);

extern const struct backend_ops null_backend_ops;
extern const struct backend_ops nft_backend_ops;
extern const struct backend_ops iptables_backend_ops;
extern const struct backend_ops ufw_backend_ops;
extern const struct backend_ops csf_backend_ops;
extern const struct backend_ops fail2ban_backend_ops;
extern const struct backend_ops file_backend_ops;
extern const struct backend_ops exec_backend_ops;
extern const struct backend_ops firewalld_backend_ops;

#endif
