// SPDX-License-Identifier: MIT
/* The iptables backend: ipsets or a chain of our own, and the jump to it. */
#include "iptables_backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cda_error.h"
#include "config.h"
#include "ipset.h"
#include "origin_lock.h"
#include "ranges.h"
#include "subproc.h"
#include "textbuf.h"

/*
 * Two ways to hold the list, both replaced in one step:
 * - ipset: sets SET_V4/SET_V6 (hash:net); a temporary set is filled and swapped with the live
 *   one by one `ipset restore`, so rules using `-m set --match-set` never see a partial set.
 * - chain: our own chain of `-s CIDR -j ACCEPT` rules, rebuilt by one
 *   `iptables-restore --noflush` commit per family (nothing else is flushed).
 * With `ports`, INPUT gets one jump to our chain for those TCP ports (added only when absent);
 * in ipset mode the chain then holds the two match-set rules. The origin lock: iptables_lock.c.
 * In ipset mode boot_file keeps the sets in `ipset save` form: netfilter-persistent's plugin
 * (contrib/netfilter-persistent) recreates them from it before rules.v4, which may match
 * them, is loaded at boot (iptables-restore refuses a whole file naming a missing set).
 */

#define CHAIN_MAXNAME 28 /* XT_EXTENSION_MAXNAMELEN - 1 */
#define LOCK_SUFFIX "-LOCK"
#define LOCKFWD_SUFFIX "-LOCKFWD"

static const char *const iptables_keys[] = {
	"mode",         "chain",         "set_v4",    "set_v6",     "ports",
	"iptables_cmd", "ip6tables_cmd", "ipset_cmd", "lock_ports", "lock_udp",
	"lock_forward", "lock_allow",    "boot_file",
	"command_timeout", NULL,
};

/* ---- config ---- */

static bool name_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || s[0] == '-')
		return false;
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || strchr(extra, *s)))
			return false;
	}
	return true;
}

static bool in_path(const char *cmd)
{
	const char *path = getenv("PATH"), *p, *e;
	char buf[4096];

	if (strchr(cmd, '/') != NULL)
		return access(cmd, X_OK) == 0;
	if (path == NULL)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (p = path; *p; p = *e ? e + 1 : e) {
		e = strchrnul(p, ':');
		if (snprintf(buf, sizeof(buf), "%.*s/%s", (int)(e - p), e == p ? "." : p, cmd) <
			    (int)sizeof(buf) &&
		    access(buf, X_OK) == 0)
			return true;
	}
	return false;
}

static void iptables_close(struct backend *be)
{
	struct iptables_backend *ib;

	if (be == NULL)
		return;
	ib = iptables_from_base(be);
	free(ib->chain);
	free(ib->ports);
	free(ib->ipset);
	free(ib->boot);
	ranges_free(ib->last);
	free(ib->lock_tcp);
	free(ib->lock_udp);
	free(ib->lock_allow);
	for (int k = 0; k < 2; k++) {
		free(ib->lchain[k]);
		free(ib->lv[0].rules[k]);
		free(ib->lv[1].rules[k]);
	}
	for (int f = 0; f < 2; f++) {
		free(ib->set[f]);
		free(ib->ipt[f]);
		free(ib->restore[f]);
		free(ib->save[f]);
	}
	free(ib);
}

static char *dup_or(const char *v, const char *def)
{
	return strdup(v != NULL ? v : def);
}

static char *suffixed(const char *cmd, const char *suffix)
{
	char *s;

	return asprintf(&s, "%s%s", cmd, suffix) < 0 ? NULL : s;
}

static int parse_lock(struct iptables_backend *ib, const struct target_config *tc,
		      struct cda_error *err)
{
	const char *tcp = target_get(tc, "lock_ports"), *udp = target_get(tc, "lock_udp");
	const char *key = origin_lock_first_key(tc);

	if ((ib->lchain[0] = suffixed(ib->chain, LOCK_SUFFIX)) == NULL ||
	    (ib->lchain[1] = suffixed(ib->chain, LOCKFWD_SUFFIX)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the iptables backend");
	if (key != NULL && tcp == NULL && udp == NULL)
		return backend_bad_value(err, tc, key, "needs lock_ports or lock_udp");
	if (key != NULL && !ib->use_ipset)
		return backend_bad_value(
			err, tc, key, "the origin lock needs mode = ipset (it matches the sets)");
	if (tcp == NULL && udp == NULL)
		return 0;
	if (strlen(ib->chain) + strlen(LOCKFWD_SUFFIX) > CHAIN_MAXNAME)
		return backend_bad_value(err, tc, "chain",
					 "at most 20 characters with an origin lock");
	ib->lock_on = true;
	if (tcp != NULL && origin_lock_multiport(tcp, true, &ib->lock_tcp) < 0)
		return backend_bad_value(
			err, tc, "lock_ports",
			"expected up to 15 TCP ports or ranges (80 443 8000-8080)");
	if (udp != NULL && origin_lock_multiport(udp, true, &ib->lock_udp) < 0)
		return backend_bad_value(err, tc, "lock_udp",
					 "expected up to 15 UDP ports or ranges (443)");
	if (origin_lock_parse_forward(tc, &ib->lock_fwd, err) < 0)
		return -1;
	return origin_lock_parse_allow(tc, true, true, &ib->lock_allow, &ib->n_allow, err);
}

static int iptables_open(struct backend **out, const struct target_config *tc,
			 const struct backend_env *env, struct cda_error *err)
{
	static const char *const builtin[] = {"INPUT",      "OUTPUT",      "FORWARD",
					      "PREROUTING", "POSTROUTING", NULL};
	struct iptables_backend *ib;
	const char *mode = target_get(tc, "mode"), *ports = target_get(tc, "ports");
	const char *ipt[2] = {target_get(tc, "iptables_cmd"), target_get(tc, "ip6tables_cmd")};
	const char *defs[2] = {"cdnallow4", "cdnallow6"}, *keys[2] = {"set_v4", "set_v6"};

	if ((ib = calloc(1, sizeof(*ib))) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the iptables backend");
	ib->base.ops = &iptables_backend_ops;
	if ((ib->ipset = dup_or(target_get(tc, "ipset_cmd"), "ipset")) == NULL ||
	    (ib->chain = dup_or(target_get(tc, "chain"), "CDNALLOW")) == NULL)
		goto oom;
	if (!backend_command_ok(ib->ipset)) {
		backend_bad_value(err, tc, "ipset_cmd", "expected a command name or path");
		goto fail;
	}
	if (backend_command_timeout(tc, SUBPROC_TIMEOUT, &ib->cmd_timeout, err) < 0)
		goto fail;
	if (mode == NULL)
		ib->use_ipset = in_path(ib->ipset);
	else if (strcmp(mode, "ipset") == 0)
		ib->use_ipset = true;
	else if (strcmp(mode, "chain") != 0) {
		backend_bad_value(err, tc, "mode", "expected ipset or chain");
		goto fail;
	}
	if (!name_ok(ib->chain, CHAIN_MAXNAME, "")) {
		backend_bad_value(err, tc, "chain",
				  "expected a chain name (letters, digits, _ and -)");
		goto fail;
	}
	for (size_t i = 0; builtin[i] != NULL; i++) {
		if (strcasecmp(ib->chain, builtin[i]) == 0) {
			backend_bad_value(err, tc, "chain",
					  "must be a chain of our own, not a built-in one");
			goto fail;
		}
	}
	for (int f = 0; f < 2; f++) {
		if ((ib->set[f] = dup_or(target_get(tc, keys[f]), defs[f])) == NULL)
			goto oom;
		if (!name_ok(ib->set[f], IPSET_MAXNAME - strlen(IPSET_TMP_SUFFIX), ".")) {
			backend_bad_value(err, tc, keys[f],
					  "expected a set name of up to 27 characters");
			goto fail;
		}
		if ((ib->ipt[f] = dup_or(ipt[f], f ? "ip6tables" : "iptables")) == NULL ||
		    (ib->restore[f] = suffixed(ib->ipt[f], "-restore")) == NULL ||
		    (ib->save[f] = suffixed(ib->ipt[f], "-save")) == NULL)
			goto oom;
		if (!backend_command_ok(ib->ipt[f])) {
			backend_bad_value(err, tc, f ? "ip6tables_cmd" : "iptables_cmd",
					  "expected a command name or path");
			goto fail;
		}
	}
	if (strcmp(ib->set[0], ib->set[1]) == 0) {
		backend_bad_value(err, tc, "set_v6", "must differ from set_v4");
		goto fail;
	}
	if (ports != NULL && origin_lock_multiport(ports, false, &ib->ports) < 0) {
		backend_bad_value(err, tc, "ports",
				  "expected up to 15 TCP ports or ranges (80 443 8000:8080)");
		goto fail;
	}
	if (parse_lock(ib, tc, err) < 0 || iptables_boot_path(ib, tc, env, err) < 0)
		goto fail;
	*out = &ib->base;
	return 0;
oom:
	cda_error_sys(err, CDA_ESYS, "allocating the iptables backend");
fail:
	iptables_close(&ib->base);
	return -1;
}

/* ---- reading ---- */

/* The jump rule as iptables-save prints it. */
static int jump_rule(const struct iptables_backend *ib, char *buf, size_t size)
{
	int n = snprintf(buf, size, "-A INPUT -p tcp -m multiport --dports %s -j %s", ib->ports,
			 ib->chain);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int iptables_read_chain(struct iptables_backend *ib, int f, struct ranges *cur,
			struct chain_view *v, struct lock_view *lv, struct cda_error *err)
{
	char *argv[] = {ib->save[f], "-t", "filter", NULL};
	char decl[64], pre[64], setrule[128], jump[160] = "";
	bool seen_first[3] = {false, false, false};
	struct subproc_out r;
	char *pos, *l;
	size_t plen;

	memset(v, 0, sizeof(*v));
	if (lv != NULL)
		iptables_lock_view_reset(lv);
	snprintf(decl, sizeof(decl), ":%s ", ib->chain);
	plen = (size_t)snprintf(pre, sizeof(pre), "-A %s ", ib->chain);
	snprintf(setrule, sizeof(setrule), "-A %s -m set --match-set %s src -j ACCEPT", ib->chain,
		 ib->set[f]);
	if (ib->ports != NULL && jump_rule(ib, jump, sizeof(jump)) < 0)
		return cda_error_set(err, CDA_ESYS, "jump rule too long");
	if (subproc_run_ok(argv, NULL, 0, ib->cmd_timeout, &r, err) < 0)
		return -1;
	pos = r.out;
	while ((l = textbuf_next_line(&pos)) != NULL) {
		if (lv != NULL)
			iptables_lock_line(ib, f, l, jump[0] != '\0' ? jump : NULL, lv, seen_first);
		if (strncmp(l, decl, strlen(decl)) == 0) {
			v->has_chain = true;
		} else if (jump[0] != '\0' && strcmp(l, jump) == 0) {
			v->has_jump = true;
		} else if (strncmp(l, pre, plen) == 0) {
			const char *s = l + plen, *e;

			/* verbatim, whatever its length */
			textbuf_add(&v->rules, l, strlen(l));
			textbuf_add(&v->rules, "\n", 1);
			if (strcmp(l, setrule) == 0)
				v->has_setrule = true;
			if (cur == NULL || strncmp(s, "-s ", 3) != 0)
				continue;
			s += 3;
			e = strchr(s, ' ');
			if (e == NULL || strcmp(e, " -j ACCEPT") != 0)
				continue;
			if (backend_add_cidr_text(cur, iptables_fam(f), s, (size_t)(e - s)) < 0) {
				cda_error_sys(err, CDA_ESYS, "reading chain %s", ib->chain);
				goto fail;
			}
		}
	}
	subproc_out_finish(&r);
	if (v->rules.oom) {
		errno = ENOMEM;
		cda_error_sys(err, CDA_ESYS, "reading chain %s", ib->chain);
		free(v->rules.p);
		v->rules.p = NULL; /* callers free it too */
		return -1;
	}
	return 0;
fail:
	subproc_out_finish(&r);
	free(v->rules.p);
	v->rules.p = NULL;
	return -1;
}

/*
 * The address cover is what matters for these targets (apply rewrites the whole list), so
 * return it normalised: want is normal, and a layout difference (two /25s for a /24, CIDR
 * pieces of a merged interval) must not show as a change.
 */
static int iptables_read(struct backend *be, struct ranges *cur, struct cda_error *err)
{
	struct iptables_backend *ib = iptables_from_base(be);

	for (int f = 0; f < 2; f++) {
		struct chain_view v = {0};
		struct ranges *tmp = ranges_new();
		bool exists;
		int rc;

		if (tmp == NULL)
			return cda_error_sys(err, CDA_ESYS, "reading %s", ib->chain);
		if (ib->use_ipset) {
			rc = ipset_read(ib->ipset, ib->cmd_timeout, f, ib->set[f], tmp, &exists,
					err);
			if (rc == 0)
				rc = iptables_read_chain(ib, f, NULL, &v, &ib->lv[f], err);
			/* Without the chain rule or jump the set protects nothing yet. */
			if (rc == 0 && ib->ports != NULL && (!v.has_jump || !v.has_setrule))
				ranges_clear(tmp);
		} else {
			rc = iptables_read_chain(ib, f, tmp, &v, &ib->lv[f], err);
			if (rc == 0 && ib->ports != NULL && !v.has_jump)
				ranges_clear(tmp);
		}
		free(v.rules.p);
		ib->have[f] = rc == 0 && (f == 0 ? ranges_count4(tmp) : ranges_count6(tmp)) > 0;
		if (rc == 0 && ranges_add_all(cur, tmp) < 0)
			rc = cda_error_sys(err, CDA_ESYS, "reading %s", ib->chain);
		ranges_free(tmp);
		if (rc < 0)
			return -1;
	}
	ranges_normalize(cur);
	ranges_free(ib->last);
	ib->last = NULL;
	if (ib->boot != NULL && (ib->last = ranges_dup(cur)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "reading %s", ib->chain);
	ib->lv_known = true;
	iptables_lock_describe(ib);
	return 0;
}

/* ---- applying ---- */

/* Minimal CIDR cover of want, per family; /0 becomes two /1s (hash:net cannot hold /0). */
int iptables_want_cidrs(const struct ranges *want, struct cidr_list *out, struct cda_error *err)
{
	struct cidr_list all = {0};

	if (ranges_to_cidrs(want, &all) < 0)
		goto oom;
	for (size_t i = 0; i < all.n; i++) {
		struct cidr c = all.v[i];

		if (c.plen == 0) {
			cda_u128 half =
				c.family == CDA_AF_INET ? (cda_u128)1 << 31 : (cda_u128)1 << 127;

			c.plen = 1;
			if (cidr_list_push(out, &c) < 0)
				goto oom;
			c.addr = half;
		}
		if (cidr_list_push(out, &c) < 0)
			goto oom;
	}
	cidr_list_finish(&all);
	return 0;
oom:
	cidr_list_finish(&all);
	return cda_error_sys(err, CDA_ESYS, "building the CIDR list");
}

/* Rebuild our chain of one family (main) and/or change its lock (lock: restore lines), all in
 * one commit; adds the jump when absent. */
int iptables_restore(struct iptables_backend *ib, int f, bool main, const char *rules,
		     bool add_jump, bool del_jump, const char *lock, struct cda_error *err)
{
	char *argv[] = {ib->restore[f], "-w", "--noflush", NULL};
	char jump[160];
	struct textbuf b = {0};
	struct subproc_out r;
	int ret = -1;

	textbuf_printf(&b, "*filter\n");
	if (main)
		textbuf_printf(&b, ":%s - [0:0]\n", ib->chain);
	if (main && rules != NULL)
		textbuf_add(&b, rules, strlen(rules));
	if (main && (add_jump || del_jump) && jump_rule(ib, jump, sizeof(jump)) == 0) {
		jump[1] = add_jump ? 'I' : 'D'; /* "-A INPUT" -> "-I INPUT" (first) or "-D" */
		textbuf_printf(&b, "%s\n", jump);
	}
	if (lock != NULL)
		textbuf_add(&b, lock, strlen(lock));
	textbuf_printf(&b, "COMMIT\n");
	if (b.oom) {
		errno = ENOMEM;
		cda_error_sys(err, CDA_ESYS, "building the %s input", ib->restore[f]);
		goto out;
	}
	if (subproc_run_ok(argv, b.p, b.len, ib->cmd_timeout, &r, err) == 0) {
		subproc_out_finish(&r);
		ret = 0;
	}
out:
	free(b.p);
	return ret;
}

/* Our chain's new rules for family f. */
static int chain_rules(struct iptables_backend *ib, int f, const struct cidr_list *cl,
		       struct textbuf *b, struct cda_error *err)
{
	if (ib->use_ipset) {
		textbuf_printf(b, "-A %s -m set --match-set %s src -j ACCEPT\n", ib->chain,
			       ib->set[f]);
	} else {
		for (size_t i = 0; i < cl->n; i++) {
			char c[CIDR_STRLEN];

			if (cl->v[i].family == iptables_fam(f))
				textbuf_printf(b, "-A %s -s %s -j ACCEPT\n", ib->chain,
					       cidr_format(&cl->v[i], c));
		}
	}
	if (b->oom) {
		errno = ENOMEM;
		return cda_error_sys(err, CDA_ESYS, "building the rules of %s", ib->chain);
	}
	return 0;
}

static int iptables_apply(struct backend *be, const struct backend_input *in, struct cda_error *err)
{
	struct iptables_backend *ib = iptables_from_base(be);
	struct chain_view old[2] = {{0}, {0}};
	struct lock_view olv[2];
	struct cidr_list cl = {0};
	int done = 0, ret = -1;
	bool need_chain = !ib->use_ipset || ib->ports != NULL, sets, removing = false;

	memset(olv, 0, sizeof(olv));
	if (iptables_want_cidrs(in->want, &cl, err) < 0)
		return -1;
	/* the lock only with both lists non-empty: never a lock over an empty set */
	sets = ranges_count4(in->want) > 0 && ranges_count6(in->want) > 0;
	for (int f = 0; f < 2; f++) {
		if (iptables_read_chain(ib, f, NULL, &old[f], &olv[f], err) < 0)
			goto out;
		for (int k = 0; k < 2; k++)
			removing |= olv[f].chain[k] && !iptables_lock_wanted(ib, &olv[f], sets, k);
	}
	/* a lock that goes away goes before its set is emptied, a new one after it is filled */
	if (ib->use_ipset && !removing &&
	    ipset_replace(ib->ipset, ib->cmd_timeout, ib->set, &cl, err) < 0)
		goto out;
	for (; done < 2; done++) {
		struct textbuf rules = {0}, lock = {0};
		int rc = need_chain ? chain_rules(ib, done, &cl, &rules, err) : 0;

		iptables_lock_restore(ib, done, &olv[done], sets, &lock);
		if (lock.oom)
			rc = cda_error_sys(err, CDA_ESYS, "building the lock rules");
		if (rc == 0 && (need_chain || lock.len > 0))
			rc = iptables_restore(ib, done, need_chain, rules.p,
					      ib->ports != NULL && !old[done].has_jump, false,
					      lock.p, err);
		free(rules.p);
		free(lock.p);
		if (rc < 0)
			break;
	}
	if (done < 2) {
		/* Put back the families already committed: all or nothing. */
		struct cda_error ignored = {0};

		for (int f = 0; f < done; f++) {
			struct textbuf lock = {0};

			iptables_lock_rollback(ib, &olv[f], sets, &lock);
			iptables_restore(ib, f, need_chain, old[f].rules.p, false,
					 ib->ports != NULL && !old[f].has_jump, lock.p, &ignored);
			free(lock.p);
		}
		goto out;
	}
	if (ib->use_ipset && removing &&
	    ipset_replace(ib->ipset, ib->cmd_timeout, ib->set, &cl, err) < 0)
		goto out;
	ret = 0;
out:
	for (int f = 0; f < 2; f++) {
		free(old[f].rules.p);
		iptables_lock_view_reset(&olv[f]);
	}
	cidr_list_finish(&cl);
	return ret;
}

static int iptables_verify(struct backend *be, const struct ranges *want, struct cda_error *err)
{
	struct iptables_backend *ib = iptables_from_base(be);

	if (backend_verify_cover(be, want, ib->chain,
				 ib->use_ipset
					 ? "read back from the ipsets differs from what was applied"
					 : "read back from the chain differs from what was applied",
				 ib->use_ipset ? ib->set[0] : ib->chain, err) < 0)
		return -1;
	for (int f = 0; f < 2; f++) {
		for (int k = 0; k < 2; k++) {
			const struct lock_view *v = &ib->lv[f];
			bool sets = ib->have[0] && ib->have[1];
			bool wanted = iptables_lock_wanted(ib, v, sets, k);

			if (iptables_lock_as_wanted(ib, f, v, sets, k))
				continue;
			return cda_error_set(err, CDA_EAPPLY, "%s: origin lock chain %s is %s",
					     f ? ib->ipt[1] : ib->ipt[0], ib->lchain[k],
					     wanted ? "missing or not as applied"
						    : "still present");
		}
	}
	return 0;
}

/* Its chain (in both families' filter tables), the lock's chains, the sets in ipset mode. */
static void iptables_claims(struct backend *be, struct textbuf *out)
{
	struct iptables_backend *ib = iptables_from_base(be);

	textbuf_printf(out, "iptables chain %s\n", ib->chain);
	if (ib->lock_on)
		textbuf_printf(out, "iptables chain %s\niptables chain %s\n", ib->lchain[0],
			       ib->lchain[1]);
	if (ib->use_ipset)
		textbuf_printf(out, "ipset set %s\nipset set %s\n", ib->set[0], ib->set[1]);
	if (ib->boot != NULL)
		textbuf_printf(out, "file %s\n", ib->boot);
}

const struct backend_ops iptables_backend_ops = {
	.name = "iptables",
	.keys = iptables_keys,
	.open = iptables_open,
	.read = iptables_read,
	.apply = iptables_apply,
	.verify = iptables_verify,
	.unlock = iptables_unlock,
	.drift = iptables_drift,
	.lock_info = iptables_lock_info,
	.snapshot = iptables_snapshot,
	.claims = iptables_claims,
	.close = iptables_close,
};
