// SPDX-License-Identifier: MIT
/* The ufw backend: the list in two ipsets that one rule per family in UFW's before rules uses. */
#include "backend.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cda_error.h"
#include "config.h"
#include "ipset.h"
#include "origin_lock.h"
#include "ranges.h"
#include "state.h"
#include "subproc.h"
#include "textbuf.h"
#include "ufw_wiring.h"

/*
 * With `ufw default deny incoming`, UFW's drop is final: an accept in a table of ours does
 * not let the CDN in. So the list lives inside UFW's own ruleset:
 * - two ipsets (hash:net), replaced by the iptables backend's temporary + restore + swap;
 * - in before.rules and before6.rules, one block of ours in the *filter section after the
 *   admin's rules there, whose rule accepts the set's members on `ports`; UFW jumps to the
 *   user rules ("ufw allow ...") only after the whole before chain, so ours comes first;
 * - in before.init, which ufw-init runs before it loads before.rules ("start"), a block that
 *   creates the sets from boot_file (what the last apply left, `ipset save`) when they are
 *   missing, at boot; empty when that fails, so that UFW still starts with its default deny.
 * A changed rule goes live at once, in one iptables-restore commit that inserts it before
 * UFW's jump to its user rules and deletes what our previous block had, holding UFW's own
 * lock: never `ufw reload`, which stops the firewall (policy ACCEPT) before it starts it.
 * Every other byte of the admin's files is kept; other rules are never touched.
 */

#define SET_MAXNAME 27 /* IPSET_MAXNAMELEN - 1 - strlen("-tmp") */

static const char *const ufw_keys[] = {
	"ufw_dir",  "set_v4",	 "set_v6",	 "ports",	 "boot_file",
	"ufw_lock", "ipset_cmd", "iptables_cmd", "ip6tables_cmd", "command_timeout", NULL,
};

static struct ufw_backend *ufw_from_base(struct backend *be)
{
	assert(be != NULL && be->ops == &ufw_backend_ops);
	return (struct ufw_backend *)be;
}

/* ---- config ---- */

/* Letters, digits and extra only (and not a leading '-'): safe in a shell line as it is. */
static bool word_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || s[0] == '-')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr(extra, *s) != NULL))
			return false;
	return true;
}

static void ufw_close(struct backend *be)
{
	struct ufw_backend *ub;

	if (be == NULL)
		return;
	ub = ufw_from_base(be);
	free(ub->target);
	for (int i = 0; i < 3; i++)
		free(ub->path[i]);
	free(ub->boot);
	free(ub->lock);
	free(ub->ports);
	free(ub->ipset);
	for (int f = 0; f < 2; f++) {
		free(ub->set[f]);
		free(ub->ipt[f]);
		free(ub->restore[f]);
		free(ub->save[f]);
	}
	free(ub);
}

static char *cat(const char *a, const char *b)
{
	char *s;

	return asprintf(&s, "%s%s", a, b) < 0 ? NULL : s;
}

/* Paths: ufw_dir's files, boot_file (in the state dir unless set), ufw_lock. */
static int open_paths(struct ufw_backend *ub, const struct target_config *tc,
		      const struct backend_env *env, struct cda_error *err)
{
	static const char *const names[3] = {"/before.rules", "/before6.rules", "/before.init"};
	const char *dir = target_get(tc, "ufw_dir"), *boot = target_get(tc, "boot_file");
	const char *lock = target_get(tc, "ufw_lock");
	const char *sd = env != NULL && env->state != NULL ? state_dir(env->state)
							   : CONFIG_DEFAULT_STATE_DIR;

	if (dir == NULL)
		dir = "/etc/ufw";
	if (dir[0] != '/' || strchr(dir, '\n') != NULL)
		return backend_bad_value(err, tc, "ufw_dir", "expected an absolute path");
	for (int i = 0; i < 3; i++)
		if ((ub->path[i] = cat(dir, names[i])) == NULL)
			return cda_error_sys(err, CDA_ESYS, "allocating the ufw backend");
	if (boot != NULL)
		ub->boot = strdup(boot);
	else if (asprintf(&ub->boot, "%s/ufw-%s.ipset", sd, ub->target) < 0)
		ub->boot = NULL;
	if ((ub->lock = strdup(lock != NULL ? lock : "/run/ufw.lock")) == NULL || ub->boot == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the ufw backend");
	/* boot_file is quoted in before.init: no quote, no newline */
	if (ub->boot[0] != '/' || strpbrk(ub->boot, "'\n") != NULL)
		return backend_bad_value(err, tc, boot != NULL ? "boot_file" : "state_dir",
				 "expected an absolute path without ' or a newline");
	if (ub->lock[0] != '/')
		return backend_bad_value(err, tc, "ufw_lock", "expected an absolute path");
	return 0;
}

static int open_cmds(struct ufw_backend *ub, const struct target_config *tc, struct cda_error *err)
{
	static const char *const keys[3] = {"ipset_cmd", "iptables_cmd", "ip6tables_cmd"};
	static const char *const defs[3] = {"ipset", "iptables", "ip6tables"};
	char **dst[3] = {&ub->ipset, &ub->ipt[0], &ub->ipt[1]};

	for (int i = 0; i < 3; i++) {
		const char *s = target_get(tc, keys[i]);

		if (s == NULL)
			s = defs[i];
		/* ipset_cmd goes into before.init as it is */
		if (!word_ok(s, 255, "_-./+"))
			return backend_bad_value(err, tc, keys[i], "expected a command name or path");
		if ((*dst[i] = strdup(s)) == NULL)
			return cda_error_sys(err, CDA_ESYS, "allocating the ufw backend");
	}
	for (int f = 0; f < 2; f++) {
		if ((ub->restore[f] = cat(ub->ipt[f], "-restore")) == NULL ||
		    (ub->save[f] = cat(ub->ipt[f], "-save")) == NULL)
			return cda_error_sys(err, CDA_ESYS, "allocating the ufw backend");
	}
	return 0;
}

static int ufw_open(struct backend **out, const struct target_config *tc,
		    const struct backend_env *env, struct cda_error *err)
{
	static const char *const keys[2] = {"set_v4", "set_v6"};
	static const char *const defs[2] = {"cdnallow4", "cdnallow6"};
	const char *ports = target_get(tc, "ports");
	struct ufw_backend *ub;

	if ((ub = calloc(1, sizeof(*ub))) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the ufw backend");
	ub->base.ops = &ufw_backend_ops;
	if ((ub->target = strdup(tc->name != NULL ? tc->name : "ufw")) == NULL) {
		cda_error_sys(err, CDA_ESYS, "allocating the ufw backend");
		goto fail;
	}
	if (open_paths(ub, tc, env, err) < 0 || open_cmds(ub, tc, err) < 0 ||
	    backend_command_timeout(tc, SUBPROC_TIMEOUT, &ub->cmd_timeout, err) < 0)
		goto fail;
	for (int f = 0; f < 2; f++) {
		const char *s = target_get(tc, keys[f]);

		if (s == NULL)
			s = defs[f];
		if (!word_ok(s, SET_MAXNAME, "_-.")) {
			backend_bad_value(err, tc, keys[f], "expected a set name of up to 27 characters");
			goto fail;
		}
		if ((ub->set[f] = strdup(s)) == NULL) {
			cda_error_sys(err, CDA_ESYS, "allocating the ufw backend");
			goto fail;
		}
	}
	if (strcmp(ub->set[0], ub->set[1]) == 0) {
		backend_bad_value(err, tc, "set_v6", "must differ from set_v4");
		goto fail;
	}
	if (origin_lock_multiport(ports != NULL ? ports : "80 443", false, &ub->ports) < 0) {
		backend_bad_value(err, tc, "ports",
			  "expected up to 15 TCP ports or ranges (80 443 8000:8080)");
		goto fail;
	}
	*out = &ub->base;
	return 0;
fail:
	ufw_close(&ub->base);
	return -1;
}

/*
 * The sets count as held only with everything that makes UFW use them in place: both files'
 * blocks, before.init's block (executable), boot_file equal to the sets, and, while UFW runs,
 * the rule itself. Anything missing shows as a family to fill, so the next sync puts it back.
 */
static int ufw_read(struct backend *be, struct ranges *cur, struct cda_error *err)
{
	struct ufw_backend *ub = ufw_from_base(be);
	struct ranges *tmp[2] = {ranges_new(), ranges_new()};
	struct textbuf boot = {0};
	struct ufw_plan plan;
	char *saved = NULL;
	size_t slen = 0;
	bool exists[2] = {false, false}, boot_ok, fine[2];
	int ret = -1;

	memset(&plan, 0, sizeof(plan));
	if (tmp[0] == NULL || tmp[1] == NULL) {
		cda_error_sys(err, CDA_ESYS, "UFW: reading the ipsets");
		goto out;
	}
	if (ufw_plan_load(ub, &plan, err) < 0)
		goto out;
	for (int f = 0; f < 2; f++)
		if (ipset_read(ub->ipset, ub->cmd_timeout, f, ub->set[f], tmp[f], &exists[f],
			       err) < 0) {
			ufw_fail(err, NULL);
			goto out;
		}
	if (ufw_sets_save(ub, exists, &boot, err) < 0 ||
	    subproc_slurp(ub->boot, &saved, &slen, err) < 0)
		goto out;
	boot_ok = saved != NULL && slen == boot.len && memcmp(saved, boot.p, slen) == 0;
	for (int f = 0; f < 2; f++) {
		struct ufw_live lv;

		if (ufw_live_read(ub, f, &plan.file[f], &lv, err) < 0)
			goto out;
		fine[f] = ufw_live_fine(&lv);
		ufw_live_reset(&lv);
	}
	for (int f = 0; f < 2; f++)
		if (exists[f] && plan.file[f].same && plan.file[2].same && boot_ok && fine[f] &&
		    ranges_add_all(cur, tmp[f]) < 0) {
			cda_error_sys(err, CDA_ESYS, "UFW: reading the ipsets");
			goto out;
		}
	ranges_normalize(cur);
	ret = 0;
out:
	if (ret < 0 && strncmp(err->msg, "UFW: ", 5) != 0)
		ufw_fail(err, NULL);
	ufw_plan_free(&plan);
	free(boot.p);
	free(saved);
	ranges_free(tmp[0]);
	ranges_free(tmp[1]);
	return ret;
}

/*
 * Order: the admin's files must load as they are (else nothing changes); the sets (one
 * restore, swapped); the files with our blocks must load too; the files; boot_file; the live
 * rule. All under UFW's lock, so that no `ufw reload` runs in between.
 */
static int ufw_apply(struct backend *be, const struct backend_input *in, struct cda_error *err)
{
	struct ufw_backend *ub = ufw_from_base(be);
	char *const sets[2] = {ub->set[0], ub->set[1]};
	struct cidr_list cl = {0};
	struct ufw_plan plan;
	bool existed[2] = {false, false}, created[2] = {false, false}, both[2] = {true, true};
	bool sets_done = false;
	int lock = ufw_lock_take(ub, err), ret = -1;

	memset(&plan, 0, sizeof(plan));
	if (lock == -1)
		return -1;
	if (ufw_plan_load(ub, &plan, err) < 0 || ufw_check_rules(ub, &plan, true, err) < 0)
		goto out;
	for (int f = 0; f < 2; f++) {
		if (ipset_read(ub->ipset, ub->cmd_timeout, f, ub->set[f], NULL, &existed[f],
			       err) < 0) {
			ufw_fail(err, NULL);
			goto out;
		}
		created[f] = !existed[f];
	}
	if (ranges_to_cidrs(in->want, &cl) < 0) {
		cda_error_sys(err, CDA_ESYS, "allocating the ufw backend");
		goto out;
	}
	if (ipset_replace(ub->ipset, ub->cmd_timeout, sets, &cl, err) < 0) {
		ufw_fail(err, NULL);
		goto out;
	}
	sets_done = true;
	if (ufw_check_rules(ub, &plan, false, err) < 0 || ufw_write_all(ub, &plan, both, err) < 0 ||
	    ufw_live_all(ub, &plan, err) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		ufw_undo(ub, &plan, sets_done ? created : NULL);
	if (lock >= 0)
		close(lock);
	ufw_plan_free(&plan);
	cidr_list_finish(&cl);
	return ret;
}

const struct backend_ops ufw_backend_ops = {
	.name = "ufw",
	.keys = ufw_keys,
	.open = ufw_open,
	.read = ufw_read,
	.apply = ufw_apply,
	.close = ufw_close,
};
