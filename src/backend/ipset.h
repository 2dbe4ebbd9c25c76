/* SPDX-License-Identifier: MIT */
/* ipset(8) for backends that keep the list in two hash:net sets (iptables; private header). */
#ifndef CDNALLOW_IPSET_H
#define CDNALLOW_IPSET_H

#include <stdbool.h>

struct cda_error;
struct cidr_list;
struct ranges;
struct textbuf;

#define IPSET_MAXNAME 31        /* IPSET_MAXNAMELEN - 1 */
#define IPSET_TMP_SUFFIX "-tmp" /* temporary set: live name plus this */

/*
 * `IPSET list -o save NAME`: whether the set exists, and its members (nomatch entries
 * skipped) into cur, which may be NULL. f: 0 family inet, 1 inet6. A set that is not
 * hash:net of that family is CDA_EAPPLY. Every ipset command here has timeout seconds
 * (0: SUBPROC_TIMEOUT).
 */
int ipset_read(const char *ipset, unsigned int timeout, int f, const char *name,
	       struct ranges *cur, bool *exists, struct cda_error *err);
/*
 * One `IPSET -exist restore`: sets[0] (inet) and sets[1] (inet6) get the prefixes of cl of
 * their family, each filled as NAME-tmp, created when missing, swapped in, the temporary
 * destroyed. A rule matching a set never sees it partly filled.
 */
int ipset_replace(const char *ipset, unsigned int timeout, char *const sets[2],
		  const struct cidr_list *cl, struct cda_error *err);
/*
 * Append sets[0] and sets[1] holding the prefixes of cl of their family in `ipset save` form
 * (create lines sized as ipset_replace() sizes them, then add lines): what a boot-time
 * `ipset -exist restore` needs to recreate them. Pure; check b->oom.
 */
void ipset_save_text(char *const sets[2], const struct cidr_list *cl, struct textbuf *b);

#endif
