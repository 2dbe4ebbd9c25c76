/* SPDX-License-Identifier: MIT */
/* The iptables backend's state, shared by iptables.c and iptables_lock.c (private header). */
#ifndef CDNALLOW_IPTABLES_BACKEND_H
#define CDNALLOW_IPTABLES_BACKEND_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "origin_lock.h"
#include "ranges.h"
#include "textbuf.h"

struct cda_error;
struct cidr_list;
struct target_config;

/* The lock as iptables-save shows it for one family. [k]: 0 CHAIN-LOCK, 1 CHAIN-LOCKFWD. */
struct lock_view {
	bool chain[2];      /* declared */
	bool docker_user;   /* ":DOCKER-USER" declared */
	size_t jumps[2][2]; /* [k][0] from INPUT (k 0) or FORWARD (k 1), [k][1] from DOCKER-USER */
	bool first[2][2];   /* that jump is the first rule of the hook chain */
	size_t nrules[2];
	bool tags_ok[2]; /* every rule carries the comment we would give it */
	char *rules[2];  /* "-A CHAIN-LOCK..." lines verbatim (rollback) */
};

/* What iptables-save shows of us for one family. */
struct chain_view {
	bool has_chain;       /* ":CHAIN" declared */
	bool has_jump;        /* INPUT jumps to CHAIN for our ports */
	bool has_setrule;     /* CHAIN holds the match-set rule (ipset mode) */
	struct textbuf rules; /* our chain's "-A CHAIN ..." lines, verbatim, '\n'-terminated */
};

struct iptables_backend {
	struct backend base;
	bool use_ipset;
	char *chain;
	char *set[2];     /* [0] IPv4, [1] IPv6 */
	char *ports;      /* "80,443", NULL: no jump rule */
	char *ipt[2];     /* iptables, ip6tables */
	char *restore[2]; /* <ipt>-restore */
	char *save[2];    /* <ipt>-save */
	char *ipset;
	char *boot;	     /* boot_file (ipset mode), NULL: none */
	struct ranges *last; /* what the last read found (ipset mode), for boot_file */
	unsigned int cmd_timeout; /* seconds each command may take */
	/* origin lock */
	bool lock_on;
	enum origin_lock_fwd lock_fwd;
	char *lock_tcp, *lock_udp; /* multiport lists, NULL: none */
	struct cidr *lock_allow;
	size_t n_allow;
	char *lchain[2];        /* CHAIN-LOCK, CHAIN-LOCKFWD */
	struct lock_view lv[2]; /* per family, from the last read */
	bool lv_known;
	bool have[2]; /* the family's list was non-empty at the last read */
	char lock_text[128];
};

static inline struct iptables_backend *iptables_from_base(struct backend *be)
{
	assert(be != NULL && be->ops == &iptables_backend_ops);
	return (struct iptables_backend *)be;
}

/* Family index f (0, 1) as CDA_AF_INET or CDA_AF_INET6. */
static inline int iptables_fam(int f)
{
	return f ? CDA_AF_INET6 : CDA_AF_INET;
}

/* iptables.c */
/* `<ipt>-save -t filter` of family f: our chain into v (and its "-s CIDR -j ACCEPT" prefixes
 * into cur unless NULL), the lock into lv unless NULL. v->rules is the caller's to free. */
int iptables_read_chain(struct iptables_backend *ib, int f, struct ranges *cur,
			struct chain_view *v, struct lock_view *lv, struct cda_error *err);
/* One `<ipt>-restore --noflush` commit for family f: our chain rebuilt from rules (main),
 * the jump added or deleted, and the lock's lines. */
int iptables_restore(struct iptables_backend *ib, int f, bool main, const char *rules,
		     bool add_jump, bool del_jump, const char *lock, struct cda_error *err);

/* Minimal CIDR cover of want, per family; /0 becomes two /1s (hash:net cannot hold /0). */
int iptables_want_cidrs(const struct ranges *want, struct cidr_list *out, struct cda_error *err);

/* iptables_boot.c */
/* ib->boot from boot_file (ipset mode only; default STATE_DIR/iptables-TARGET.ipset). */
int iptables_boot_path(struct iptables_backend *ib, const struct target_config *tc,
		       const struct backend_env *env, struct cda_error *err);
/* The snapshot op: boot_file from the last read, when it differs. */
int iptables_snapshot(struct backend *be, bool *written, struct cda_error *err);

/* iptables_lock.c */
/* Whether chain k belongs in family f's table, given whether both sets are non-empty. */
bool iptables_lock_wanted(const struct iptables_backend *ib, const struct lock_view *v, bool sets,
			  int k);
/* Whether chain k of family f is as wanted: present and right, or absent with no jump. */
bool iptables_lock_as_wanted(const struct iptables_backend *ib, int f, const struct lock_view *v,
			     bool sets, int k);
/* One line of iptables-save output: the lock's part of it (ours: our own jump rule). */
void iptables_lock_line(const struct iptables_backend *ib, int f, const char *l, const char *ours,
			struct lock_view *v, bool seen_first[3]);
void iptables_lock_view_reset(struct lock_view *v);
/* iptables-restore lines that take family f's lock from v to what is wanted. */
void iptables_lock_restore(const struct iptables_backend *ib, int f, const struct lock_view *v,
			   bool sets, struct textbuf *b);
/* Undo iptables_lock_restore(v, sets) after it was committed: back to v. */
void iptables_lock_rollback(const struct iptables_backend *ib, const struct lock_view *v, bool sets,
			    struct textbuf *b);
/* ib->lock_text from the last read. */
void iptables_lock_describe(struct iptables_backend *ib);
int iptables_unlock(struct backend *be, struct cda_error *err);
int iptables_drift(struct backend *be, bool *drift, struct cda_error *err);
const char *iptables_lock_info(struct backend *be);

#endif
