// SPDX-License-Identifier: MIT
/* The iptables backend's boot_file: its sets in `ipset save` form, for a restore at boot. */
#include "iptables_backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"
#include "cda_error.h"
#include "config.h"
#include "ipset.h"
#include "ranges.h"
#include "state.h"
#include "subproc.h"
#include "textbuf.h"

/*
 * After iptables-restore of a saved ruleset (netfilter-persistent's rules.v4) the sets are
 * still there but our chain and jump may not be: `cdnallow restore` puts those back. At boot
 * the sets are gone too, and iptables-restore refuses a whole file whose rules name a missing
 * set: contrib/netfilter-persistent's plugin 14-cdnallow-sets recreates them from this file
 * before netfilter-persistent's 15-ip4tables and 25-ip6tables load the rules.
 */

/* boot_file: an absolute path, none, or by default STATE_DIR/iptables-TARGET.ipset (no state
 * dir, as in unit tests: none); ipset mode only. */
int iptables_boot_path(struct iptables_backend *ib, const struct target_config *tc,
		       const struct backend_env *env, struct cda_error *err)
{
	const char *v = target_get(tc, "boot_file");
	const char *sd = env != NULL && env->state != NULL ? state_dir(env->state) : NULL;

	if (v != NULL && strcmp(v, "none") == 0)
		return 0;
	if (v != NULL && v[0] != '/')
		return backend_bad_value(err, tc, "boot_file", "expected an absolute path or none");
	if (v != NULL && !ib->use_ipset)
		return backend_bad_value(err, tc, "boot_file", "needs mode = ipset");
	if (!ib->use_ipset || (v == NULL && sd == NULL))
		return 0;
	if (v != NULL)
		ib->boot = strdup(v);
	else if (asprintf(&ib->boot, "%s/iptables-%s.ipset", sd, tc->name) < 0)
		ib->boot = NULL;
	if (ib->boot == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the iptables backend");
	return 0;
}

/*
 * boot_file: the sets as the last verified apply (or a read that found the target in step)
 * left them, in `ipset save` form, rewritten atomically (0600) only when it differs. At boot
 * the plugin restores a set from it only when that set is missing: it never empties one.
 */
int iptables_snapshot(struct backend *be, bool *written, struct cda_error *err)
{
	struct iptables_backend *ib = iptables_from_base(be);
	struct cidr_list cl = {0};
	struct textbuf b = {0};
	char *old = NULL;
	size_t olen = 0;
	int rc = -1;

	*written = false;
	if (ib->boot == NULL || ib->last == NULL)
		return 0;
	if (iptables_want_cidrs(ib->last, &cl, err) < 0)
		return -1;
	ipset_save_text(ib->set, &cl, &b);
	if (b.oom) {
		errno = ENOMEM;
		cda_error_sys(err, CDA_ESYS, "building %s", ib->boot);
		goto out;
	}
	if (subproc_slurp(ib->boot, &old, &olen, NULL) == 0 && olen == b.len &&
	    memcmp(old, b.p, olen) == 0) {
		rc = 0;
		goto out;
	}
	if (atomicfile_write(ib->boot, 0600, b.p, b.len, err) < 0)
		goto out;
	*written = true;
	rc = 0;
out:
	free(old);
	free(b.p);
	cidr_list_finish(&cl);
	return rc;
}
