/* SPDX-License-Identifier: MIT */
/* The ufw backend's parts (ufw.c, ufw_wiring.c): its state and what UFW runs. */
#ifndef CDNALLOW_UFW_WIRING_H
#define CDNALLOW_UFW_WIRING_H

#include <sys/stat.h>
#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "cda_error.h"
#include "textbuf.h"

struct ufw_backend {
	struct backend base;
	char *target;
	char *path[3]; /* before.rules, before6.rules, before.init */
	char *boot;    /* boot_file */
	char *lock;    /* UFW's lock file */
	char *set[2];
	char *ports; /* "80,443" */
	char *ipset;
	char *ipt[2], *restore[2], *save[2];
	unsigned int cmd_timeout; /* seconds each command may take */
};

/* One of UFW's files: as it is, without our block, and as we want it. */
struct ufw_file {
	char *now; /* NULL: no such file */
	size_t now_len;
	struct stat st; /* of now */
	struct textbuf admin, want;
	bool same;    /* want is what the file holds (before.init: and it is executable) */
	bool written; /* replaced by this apply */
};

struct ufw_plan {
	struct ufw_file file[3];
	char *boot_now; /* boot_file as it was, NULL: none */
	size_t boot_len;
	bool boot_written;
	bool inserted[2]; /* our rule inserted live by this apply */
};

/* What UFW runs now of one family's ufw[6]-before-input chain. */
struct ufw_live {
	bool active;	    /* UFW's jump to its user rules is there (UFW started) */
	size_t anchor;	    /* that jump's index among the chain's rules */
	size_t ours_before; /* copies of our rule before it */
	size_t del_before;  /* rules to delete that come before it */
	struct textbuf del; /* "-D ..." lines: rules of our previous block, not wanted now */
};

/* Put "UFW: " (once), then the printf text (fmt may be NULL), before err's message; a
 * failure other than memory becomes a backend failure (69). Returns -1. */
CDA_PRINTF(2, 3) int ufw_fail(struct cda_error *err, const char *fmt, ...);

/* Read before.rules, before6.rules, before.init into p (zeroed first) with what each should
 * hold: CDA_EAPPLY naming UFW when a rules file is missing (ufw not installed), a block of
 * ours has no end, or a rules file has no *filter section. ufw_plan_free() either way. */
int ufw_plan_load(const struct ufw_backend *ub, struct ufw_plan *p, struct cda_error *err);
void ufw_plan_free(struct ufw_plan *p);

/* `ipset save` of the sets that exist, in one text: what boot_file should hold. */
int ufw_sets_save(const struct ufw_backend *ub, const bool exists[2], struct textbuf *b,
		  struct cda_error *err);

/* Family f's ufw[6]-before-input as UFW runs it now (iptables-save); old: the rules file as
 * it was, whose block's rules are ours to delete. ufw_live_reset() after. */
int ufw_live_read(const struct ufw_backend *ub, int f, const struct ufw_file *old,
		  struct ufw_live *lv, struct cda_error *err);
bool ufw_live_fine(const struct ufw_live *lv);
void ufw_live_reset(struct ufw_live *lv);

/* UFW's lock (the ufw command holds it while it changes the firewall), read-locked: the fd
 * to close(), -2 when there is none to take (missing and cannot be created), -1 with err
 * (held for more than 30 s). */
int ufw_lock_take(const struct ufw_backend *ub, struct cda_error *err);

/* `iptables-restore --test` of each rules file about to change: as the admin left it (admin),
 * else with our block. */
int ufw_check_rules(const struct ufw_backend *ub, const struct ufw_plan *p, bool admin,
		    struct cda_error *err);

/* Write the files that differ from p (mode and owner kept, before.init made executable),
 * then boot_file from the sets named in exists. */
int ufw_write_all(const struct ufw_backend *ub, struct ufw_plan *p, const bool exists[2],
		  struct cda_error *err);

/* Where UFW runs: our rule in before its jump to the user rules, our previous block's out. */
int ufw_live_all(const struct ufw_backend *ub, struct ufw_plan *p, struct cda_error *err);

/* After a failed apply: back to p's files, the inserted rule out, created sets destroyed
 * (created: NULL when none were). */
void ufw_undo(const struct ufw_backend *ub, struct ufw_plan *p, const bool *created);

#endif
