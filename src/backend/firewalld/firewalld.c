// SPDX-License-Identifier: MIT
/* The firewalld backend: permanent and runtime ipsets plus their rich rules, over D-Bus. */
#include "backend.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cda_error.h"
#include "config.h"
#include "fwd_dbus.h"
#include "fwd_entries.h"
#include "ranges.h"

/*
 * We own one firewalld ipset per family (hash:net, in firewalld's permanent configuration and
 * its runtime twin) and the rich rules that accept those sources on `ports` in `zone`; the
 * admin's zones, services and rules are never changed. Rules are added only when missing.
 *
 * Order of an apply, so that a failure leaves both as they were (every step that succeeded
 * is undone, best effort) or at worst lets the next run converge (drift() compares the
 * permanent ipsets and the rules with the runtime): permanent ipsets, permanent rules, then
 * the runtime. firewalld cannot create an ipset at runtime, so when one is missing there
 * (the first run) it is reloaded once, which loads the new ipsets and rules together.
 *
 * Runtime entries change one call per changed entry (removeEntry/addEntry), so an address
 * in an unchanged entry is never out of the set: firewalld's setEntries is a flush followed
 * by a refill, two kernel transactions. setEntries is used only to fill an empty set, and for
 * changes larger than DELTA_MAX entries, where per-entry calls would take too long.
 */

#define DELTA_MAX 256 /* per family; beyond that one setEntries call */
#define MAX_PORTS 32
#define DEFAULT_TIMEOUT 25 /* seconds per D-Bus call */

static const char *const fwd_keys[] = {
	"ipset_v4", "ipset_v6", "zone", "ports", "dbus_timeout", "reload", NULL,
};

static const char *const fam_name[2] = {"inet", "inet6"};
static const char *const fam_label[2] = {"IPv4", "IPv6"};
static const int fam_af[2] = {CDA_AF_INET, CDA_AF_INET6};

struct fwd_fam {
	char *ipset;
	bool rt_has, perm_has; /* as read() found them */
	char **rt_old;         /* runtime entries as read() found them (NULL: none) */
	char **perm_old;       /* permanent entries */
};

struct fwd_rule {
	char *text;
	int f; /* family */
	bool rt_has, perm_has;
};

struct fwd_backend {
	struct backend base;
	struct fwd_bus *bus; /* connected by read() */
	char *zone_cfg;      /* NULL: firewalld's default zone */
	char *zone;          /* resolved by read() */
	struct fwd_fam fam[2];
	struct fwd_rule *rules; /* per family, per port */
	size_t n_rules;
	unsigned long timeout_s;
	bool may_reload;
};

static struct fwd_backend *fwd_from_base(struct backend *be)
{
	assert(be != NULL && be->ops == &firewalld_backend_ops);
	return (struct fwd_backend *)be;
}

/* ---- config ---- */

/* firewalld's names: letters, digits and "_-:." for ipsets ("_-" for zones). */
static bool valid_name(const char *s, const char *extra, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(extra, *p) != NULL))
			return false;
	return true;
}

/* Our rules, one per port and family. -2: a bad `ports` value (no error set). */
static int add_rules(struct fwd_backend *fb, const char *ports, struct cda_error *err)
{
	struct fwd_rule *rules = NULL;
	char **w;
	size_t n = 0;
	int ret = -2;

	if ((w = config_split_words(ports, &n)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the firewalld backend");
	if (n == 1 && strcmp(w[0], "none") == 0)
		n = 0;
	else if (n == 0 || n > MAX_PORTS)
		goto out;
	if ((rules = calloc(2 * n + 1, sizeof(*rules))) == NULL) {
		ret = cda_error_sys(err, CDA_ESYS, "allocating the firewalld backend");
		goto out;
	}
	fb->rules = rules;
	for (size_t i = 0; i < 2 * n; i++, fb->n_rules++) {
		rules[i].f = (int)(i % 2);
		if (fwd_rich_rule(&rules[i].text, fam_af[i % 2], fb->fam[i % 2].ipset, w[i / 2]) <
		    0) {
			if (errno == ENOMEM)
				ret = cda_error_sys(err, CDA_ESYS,
						    "allocating the firewalld backend");
			goto out;
		}
	}
	ret = 0;
out:
	config_free_words(w);
	return ret;
}

static void fwd_close(struct backend *be)
{
	struct fwd_backend *fb;

	if (be == NULL)
		return;
	fb = fwd_from_base(be);
	fwd_disconnect(fb->bus);
	free(fb->zone_cfg);
	free(fb->zone);
	for (int f = 0; f < 2; f++) {
		free(fb->fam[f].ipset);
		fwd_strv_free(fb->fam[f].rt_old);
		fwd_strv_free(fb->fam[f].perm_old);
	}
	for (size_t i = 0; i < fb->n_rules; i++)
		free(fb->rules[i].text);
	free(fb->rules);
	free(fb);
}

static int open_keys(struct fwd_backend *fb, const struct target_config *tc, struct cda_error *err)
{
	static const char *const set_keys[2] = {"ipset_v4", "ipset_v6"};
	static const char *const set_defs[2] = {"cdnallow4", "cdnallow6"};
	const char *zone = target_get(tc, "zone"), *ports = target_get(tc, "ports");
	const char *tmo = target_get(tc, "dbus_timeout"), *reload = target_get(tc, "reload");
	long secs = DEFAULT_TIMEOUT;
	int rc;

	for (int f = 0; f < 2; f++) {
		const char *v = target_get(tc, set_keys[f]);

		if (v == NULL)
			v = set_defs[f];
		if (!valid_name(v, "_-:.", 31))
			return backend_bad_value(err, tc, set_keys[f],
					 "expected 1 to 31 letters, digits or _-:.");
		if ((fb->fam[f].ipset = strdup(v)) == NULL)
			return cda_error_sys(err, CDA_ESYS, "allocating the firewalld backend");
	}
	if (strcmp(fb->fam[0].ipset, fb->fam[1].ipset) == 0)
		return backend_bad_value(err, tc, "ipset_v6", "must differ from ipset_v4");
	if (zone != NULL && !valid_name(zone, "_-", 32))
		return backend_bad_value(err, tc, "zone", "expected a firewalld zone name");
	if (zone != NULL && (fb->zone_cfg = strdup(zone)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the firewalld backend");
	if (tmo != NULL && (config_parse_duration(tmo, &secs) < 0 || secs < 1 || secs > 600))
		return backend_bad_value(err, tc, "dbus_timeout", "expected 1s to 10m");
	fb->timeout_s = (unsigned long)secs;
	fb->may_reload = true;
	if (reload != NULL && config_parse_bool(reload, &fb->may_reload) < 0)
		return backend_bad_value(err, tc, "reload", "expected yes or no");
	rc = add_rules(fb, ports != NULL ? ports : "80 443", err);
	if (rc == -2)
		return backend_bad_value(err, tc, "ports",
				 "expected 1 to 32 TCP ports or ranges (80 443 8000-8080), or none");
	if (rc < 0)
		return -1;
	return 0;
}

static int fwd_open(struct backend **out, const struct target_config *tc,
		    const struct backend_env *env, struct cda_error *err)
{
	struct fwd_backend *fb = calloc(1, sizeof(*fb));

	if (fb == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the firewalld backend");
	fb->base.ops = &firewalld_backend_ops;
	if (open_keys(fb, tc, err) < 0) {
		fwd_close(&fb->base);
		return -1;
	}
	*out = &fb->base;
	return 0;
}

/* ---- reading ---- */

static int parse_entries(char *const *v, int f, const char *ipset, struct ranges *r,
			 struct cda_error *err)
{
	size_t bad = 0;
	int rc = fwd_entries_to_ranges(v, fam_af[f], r, &bad);

	if (rc == -1)
		return cda_error_sys(err, CDA_ESYS, "reading firewalld ipset %s", ipset);
	if (rc < 0)
		return cda_error_set(
			err, CDA_EAPPLY,
			"firewalld ipset %s holds an entry that is not an %s prefix or "
			"range: '%.60s'",
			ipset, fam_label[f], v[bad]);
	return 0;
}

/* An ipset of ours must be hash:net of the family, without a timeout. */
static int check_type(const struct fwd_ipset_info *info, int f, const char *ipset,
		      const char *scope, struct cda_error *err)
{
	if (strcmp(info->type, "hash:net") == 0 && strcmp(info->family, fam_name[f]) == 0 &&
	    !info->has_timeout)
		return 0;
	return cda_error_set(err, CDA_EAPPLY,
			     "firewalld already has a %s ipset %s of type %s, family %s%s; "
			     "cdnallow needs hash:net, family %s, no timeout: choose another "
			     "ipset_v%c",
			     scope, ipset, info->type, info->family,
			     info->has_timeout ? ", with a timeout" : "", fam_name[f],
			     f == 0 ? '4' : '6');
}

/* The runtime and permanent state of one family's ipset into fb->fam[f]. */
static int read_fam(struct fwd_backend *fb, int f, struct ranges *cur, struct cda_error *err)
{
	struct fwd_fam *fm = &fb->fam[f];
	struct fwd_ipset_info info;
	int rc;

	fwd_strv_free(fm->rt_old);
	fwd_strv_free(fm->perm_old);
	fm->rt_old = fm->perm_old = NULL;
	rc = fwd_ipset_get(fb->bus, FWD_RUNTIME, fm->ipset, &info, &fm->rt_old, err);
	if (rc < 0 || (rc == 0 && check_type(&info, f, fm->ipset, "runtime", err) < 0))
		return -1;
	fm->rt_has = rc == 0;
	if (cur != NULL && parse_entries(fm->rt_old, f, fm->ipset, cur, err) < 0)
		return -1;
	rc = fwd_ipset_get(fb->bus, FWD_PERMANENT, fm->ipset, &info, &fm->perm_old, err);
	if (rc < 0 || (rc == 0 && check_type(&info, f, fm->ipset, "permanent", err) < 0))
		return -1;
	fm->perm_has = rc == 0;
	return 0;
}

static int read_rules(struct fwd_backend *fb, struct cda_error *err)
{
	for (size_t i = 0; i < fb->n_rules; i++) {
		struct fwd_rule *r = &fb->rules[i];

		if (fwd_rich_query(fb->bus, FWD_PERMANENT, fb->zone, r->text, &r->perm_has, err) <
			    0 ||
		    fwd_rich_query(fb->bus, FWD_RUNTIME, fb->zone, r->text, &r->rt_has, err) < 0)
			return -1;
	}
	return 0;
}

static int fwd_read(struct backend *be, struct ranges *cur, struct cda_error *err)
{
	struct fwd_backend *fb = fwd_from_base(be);
	int rc;

	if (fb->bus == NULL && fwd_connect(&fb->bus, fb->timeout_s, err) < 0)
		return -1;
	if (fb->zone == NULL) {
		if (fb->zone_cfg == NULL) {
			if (fwd_default_zone(fb->bus, &fb->zone, err) < 0)
				return -1;
		} else if ((fb->zone = strdup(fb->zone_cfg)) == NULL) {
			return cda_error_sys(err, CDA_ESYS, "allocating");
		}
	}
	if ((rc = fwd_zone_exists(fb->bus, fb->zone, err)) != 0)
		return rc < 0 ? -1
			      : cda_error_set(err, CDA_EAPPLY, "firewalld has no zone %s (zone =)",
					      fb->zone);
	for (int f = 0; f < 2; f++)
		if (read_fam(fb, f, cur, err) < 0)
			return -1;
	return read_rules(fb, err);
}

/*
 * Anything besides the runtime entries not as configured, for a family whose runtime ipset
 * exists: its permanent ipset missing or holding other entries, a rule missing. (A missing
 * runtime ipset is no drift: its entries are missing too, so the delta applies anyway, and
 * the first run is not reported as something put back.)
 */
static int fwd_drift(struct backend *be, bool *drift, struct cda_error *err)
{
	struct fwd_backend *fb = fwd_from_base(be);

	for (int f = 0; f < 2 && !*drift; f++) {
		int same;

		if (!fb->fam[f].rt_has)
			continue;
		if ((same = fwd_entries_same(fb->fam[f].rt_old, fb->fam[f].perm_old)) < 0)
			return cda_error_sys(err, CDA_ESYS, "comparing firewalld ipsets");
		*drift = !fb->fam[f].perm_has || !same;
	}
	for (size_t i = 0; i < fb->n_rules && !*drift; i++)
		if (fb->fam[fb->rules[i].f].rt_has)
			*drift = !fb->rules[i].rt_has || !fb->rules[i].perm_has;
	return 0;
}

/* ---- applying ---- */

enum undo_kind {
	UNDO_PERM_CREATED, /* the permanent ipset did not exist */
	UNDO_PERM_ENTRIES, /* put perm_old back */
	UNDO_PERM_RULE,
	UNDO_RT_RULE,
	UNDO_RT_ENTRIES, /* put rt_old back */
	UNDO_RT_ADDED,
	UNDO_RT_REMOVED,
};

struct undo {
	enum undo_kind kind;
	int f;           /* family, for entries */
	const char *arg; /* the entry or rule text (borrowed) */
};

/* What an apply changed so far, undone in reverse on failure. Sized up front. */
struct undo_log {
	struct undo *v;
	size_t n, cap;
};

static void undo_push(struct undo_log *u, enum undo_kind kind, int f, const char *arg)
{
	assert(u->n < u->cap);
	u->v[u->n++] = (struct undo){.kind = kind, .f = f, .arg = arg};
}

/* Best effort; a hung firewalld gets no more calls (each would wait the full timeout), and
 * the next run converges through read() and drift(). */
static void undo_all(struct fwd_backend *fb, struct undo_log *u)
{
	while (u->n > 0 && !fwd_timed_out(fb->bus)) {
		const struct undo *x = &u->v[--u->n];
		const char *set = fb->fam[x->f].ipset;
		struct cda_error ignored = {0};

		switch (x->kind) {
		case UNDO_PERM_CREATED:
			fwd_ipset_delete(fb->bus, set, &ignored);
			break;
		case UNDO_PERM_ENTRIES:
			fwd_ipset_set_entries(fb->bus, FWD_PERMANENT, set, fb->fam[x->f].perm_old,
					      &ignored);
			break;
		case UNDO_PERM_RULE:
		case UNDO_RT_RULE:
			fwd_rich_remove(fb->bus,
					x->kind == UNDO_PERM_RULE ? FWD_PERMANENT : FWD_RUNTIME,
					fb->zone, x->arg, &ignored);
			break;
		case UNDO_RT_ENTRIES:
			fwd_ipset_set_entries(fb->bus, FWD_RUNTIME, set, fb->fam[x->f].rt_old,
					      &ignored);
			break;
		case UNDO_RT_ADDED:
			fwd_ipset_remove_entry(fb->bus, set, x->arg, &ignored);
			break;
		case UNDO_RT_REMOVED:
			fwd_ipset_add_entry(fb->bus, set, x->arg, &ignored);
			break;
		}
	}
}

/* Permanent ipsets and rules. */
static int apply_permanent(struct fwd_backend *fb, char **want[2], struct undo_log *u,
			   struct cda_error *err)
{
	for (int f = 0; f < 2; f++) {
		struct fwd_fam *fm = &fb->fam[f];
		int same = fm->perm_has ? fwd_entries_same(fm->perm_old, want[f]) : 0;

		if (same < 0)
			return cda_error_sys(err, CDA_ESYS, "comparing firewalld ipsets");
		if (!fm->perm_has) {
			if (fwd_ipset_create(fb->bus, fm->ipset, fam_name[f],
					     "CDN ranges kept up to date by cdnallow", want[f],
					     err) < 0)
				return -1;
			undo_push(u, UNDO_PERM_CREATED, f, NULL);
		} else if (!same) {
			if (fwd_ipset_set_entries(fb->bus, FWD_PERMANENT, fm->ipset, want[f], err) <
			    0)
				return -1;
			undo_push(u, UNDO_PERM_ENTRIES, f, NULL);
		}
	}
	for (size_t i = 0; i < fb->n_rules; i++) {
		if (fb->rules[i].perm_has)
			continue;
		if (fwd_rich_add(fb->bus, FWD_PERMANENT, fb->zone, fb->rules[i].text, err) < 0)
			return -1;
		undo_push(u, UNDO_PERM_RULE, 0, fb->rules[i].text);
	}
	return 0;
}

/* A runtime ipset is missing: reload, which loads the permanent ipsets and rules. */
static int reload_runtime(struct fwd_backend *fb, struct undo_log *u, struct cda_error *err)
{
	int f = fb->fam[0].rt_has ? 1 : 0;

	/* Past this point the permanent ipsets and rules stay: after a reload they are the
	 * runtime's too; without one, the admin's reload is what they wait for. */
	u->n = 0;
	if (!fb->may_reload)
		return cda_error_set(err, CDA_EAPPLY,
				     "firewalld's runtime has no ipset %s and reload = no: the "
				     "permanent ipsets and rules are in place, run firewall-cmd "
				     "--reload",
				     fb->fam[f].ipset);
	if (fwd_reload(fb->bus, err) < 0)
		return -1;
	for (f = 0; f < 2; f++) {
		if (read_fam(fb, f, NULL, err) < 0)
			return -1;
		if (!fb->fam[f].rt_has)
			return cda_error_set(err, CDA_EAPPLY,
					     "firewalld reloaded, yet has no runtime ipset %s",
					     fb->fam[f].ipset);
	}
	return read_rules(fb, err);
}

/* The runtime entries of one family: per-entry delta, or one setEntries. */
static int apply_runtime_set(struct fwd_backend *fb, int f, char **want, struct undo_log *u,
			     struct cda_error *err)
{
	struct fwd_fam *fm = &fb->fam[f];
	struct fwd_op *ops = NULL;
	size_t n = 0;
	int rc = fwd_entries_delta(fm->rt_old, want, &ops, &n);

	if (rc == -1)
		return cda_error_sys(err, CDA_ESYS, "comparing firewalld ipsets");
	if (rc < 0)
		return cda_error_set(err, CDA_EAPPLY,
				     "firewalld ipset %s holds an entry cdnallow cannot read",
				     fm->ipset);
	if (n > 0 && (fwd_strv_len(fm->rt_old) == 0 || n > DELTA_MAX)) {
		rc = fwd_ipset_set_entries(fb->bus, FWD_RUNTIME, fm->ipset, want, err);
		if (rc == 0)
			undo_push(u, UNDO_RT_ENTRIES, f, NULL);
		n = 0;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const char *e = ops[i].entry;

		rc = ops[i].add ? fwd_ipset_add_entry(fb->bus, fm->ipset, e, err)
				: fwd_ipset_remove_entry(fb->bus, fm->ipset, e, err);
		if (rc == 0)
			undo_push(u, ops[i].add ? UNDO_RT_ADDED : UNDO_RT_REMOVED, f, e);
	}
	free(ops);
	return rc;
}

static int fwd_apply(struct backend *be, const struct backend_input *in, struct cda_error *err)
{
	struct fwd_backend *fb = fwd_from_base(be);
	struct undo_log u = {0};
	char **want[2] = {NULL, NULL};
	int ret = -1;

	u.cap = 4 + 2 * fb->n_rules + 2 * (DELTA_MAX + 1);
	if ((u.v = calloc(u.cap, sizeof(*u.v))) == NULL) {
		cda_error_sys(err, CDA_ESYS, "allocating");
		goto out;
	}
	for (int f = 0; f < 2; f++) {
		if (fwd_entries_from_ranges(in->want, fam_af[f], &want[f]) < 0) {
			cda_error_sys(err, CDA_ESYS, "building the firewalld entries");
			goto out;
		}
	}
	if (apply_permanent(fb, want, &u, err) < 0)
		goto undo;
	if ((!fb->fam[0].rt_has || !fb->fam[1].rt_has) && reload_runtime(fb, &u, err) < 0)
		goto undo;
	for (size_t i = 0; i < fb->n_rules; i++) {
		if (fb->rules[i].rt_has)
			continue;
		if (fwd_rich_add(fb->bus, FWD_RUNTIME, fb->zone, fb->rules[i].text, err) < 0)
			goto undo;
		undo_push(&u, UNDO_RT_RULE, 0, fb->rules[i].text);
	}
	for (int f = 0; f < 2; f++)
		if (apply_runtime_set(fb, f, want[f], &u, err) < 0)
			goto undo;
	ret = 0;
	goto out;
undo:
	undo_all(fb, &u);
out:
	free(u.v);
	fwd_strv_free(want[0]);
	fwd_strv_free(want[1]);
	return ret;
}

/* Read back both scopes with getEntries: each must cover exactly want. */
static int fwd_verify(struct backend *be, const struct ranges *want, struct cda_error *err)
{
	struct fwd_backend *fb = fwd_from_base(be);
	static const enum fwd_scope scopes[2] = {FWD_RUNTIME, FWD_PERMANENT};

	for (int s = 0; s < 2; s++) {
		struct ranges *got = ranges_new();
		bool same = false;
		int rc = got == NULL ? cda_error_sys(err, CDA_ESYS, "verifying") : 0;

		for (int f = 0; rc == 0 && f < 2; f++) {
			char **v = NULL;

			rc = fwd_ipset_entries(fb->bus, scopes[s], fb->fam[f].ipset, &v, err);
			if (rc == 0)
				rc = parse_entries(v, f, fb->fam[f].ipset, got, err);
			fwd_strv_free(v);
		}
		if (rc == 0 && ranges_same_cover(got, want, &same) < 0)
			rc = cda_error_sys(err, CDA_ESYS, "verifying");
		if (rc == 0 && !same)
			rc = cda_error_set(
				err, CDA_EAPPLY,
				"firewalld's %s ipsets %s/%s differ from what was applied "
				"(%zu/%zu ranges held, %zu/%zu wanted)",
				s == 0 ? "runtime" : "permanent", fb->fam[0].ipset,
				fb->fam[1].ipset, ranges_count4(got), ranges_count6(got),
				ranges_count4(want), ranges_count6(want));
		ranges_free(got);
		if (rc < 0)
			return -1;
	}
	return 0;
}

const struct backend_ops firewalld_backend_ops = {
	.name = "firewalld",
	.keys = fwd_keys,
	.open = fwd_open,
	.read = fwd_read,
	.apply = fwd_apply,
	.verify = fwd_verify,
	.drift = fwd_drift,
	.close = fwd_close,
	.drift_what = "firewalld permanent ipsets and rich rules",
};
