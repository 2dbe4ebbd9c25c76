// SPDX-License-Identifier: MIT
/* The nftables backend: its ops, open and close, apply in one transaction, the cache. */
#include "nft_backend.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>

#include "cda_error.h"
#include "config.h"
#include "nft_batch.h"
#include "nft_script.h"
#include "ranges.h"
#include "state.h"
#include "textbuf.h"

static const char *const nft_keys[] = {"table",        "family",     "set_v4",     "set_v6",
				       "create",       "verify",     "lock_ports", "lock_udp",
				       "lock_forward", "lock_allow", "nft_file",   NULL};

static void nft_close(struct backend *be)
{
	struct nft_backend *nb;

	if (be == NULL)
		return;
	nb = nft_from_base(be);
	if (nb->nl != NULL)
		mnl_socket_close(nb->nl);
	ranges_free(nb->last);
	free(nb->lock_allow);
	free(nb->buf);
	free(nb->name);
	free(nb->cache_key);
	free(nb->config_path);
	free(nb->script_path);
	free(nb);
}

/*
 * The ruleset generation id restarts at every boot and is per network namespace: a cache
 * is trusted only in the boot and namespace that wrote it, so its key names both.
 */
static void boot_tag(char *tag, size_t size)
{
	char id[64] = "";
	struct stat st;
	FILE *fp = fopen("/proc/sys/kernel/random/boot_id", "re");
	size_t o = 0;

	if (fp != NULL) {
		if (fgets(id, sizeof(id), fp) == NULL)
			id[0] = '\0';
		fclose(fp);
	}
	for (size_t i = 0; id[i] != '\0' && o < 12 && o + 1 < size; i++)
		if (isxdigit((unsigned char)id[i]))
			tag[o++] = (char)tolower((unsigned char)id[i]);
	tag[o] = '\0';
	/* always one '-': own_cache() tells our files from a longer target name's by it */
	snprintf(tag + o, size - o, "-%lx",
		 stat("/proc/self/ns/net", &st) == 0 ? (unsigned long)st.st_ino : 0ul);
}

/* 64-bit FNV-1a. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/*
 * The cache holds the items of these sets: its key names the target, the boot and netns
 * (the tag) and a digest of the family, table and set names and handles. A cache of other
 * sets is never read as theirs, even at the same genid (a configuration that switches sets,
 * tables or family commits nothing). "nft-NAME-TAG.DIGEST": TAG is hex-hex.
 */
void nft_cache_bind(struct nft_backend *nb)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = fnv(h, &nb->family, sizeof(nb->family));
	h = fnv(h, nb->table, strlen(nb->table) + 1);
	h = fnv(h, &nb->table_handle, sizeof(nb->table_handle));
	for (int i = 0; i < 2; i++) {
		h = fnv(h, nb->set[i], strlen(nb->set[i]) + 1);
		h = fnv(h, &nb->set_handle[i], sizeof(nb->set_handle[i]));
	}
	free(nb->cache_key);
	if (asprintf(&nb->cache_key, "nft-%s-%s.%016" PRIx64, nb->name, nb->tag, h) < 0)
		nb->cache_key = NULL;
}

/* Whether a state file named applied-nft-NAME-REST.list is one of this target's: REST is a
 * tag and digest (one '-'), not the tail of a longer target name (edge-2 for edge). */
static bool own_cache(const char *rest)
{
	const char *dash = strchr(rest, '-');

	return dash != NULL && strchr(dash + 1, '-') == NULL;
}

/* Remove this target's other caches: earlier boots, namespaces, sets (best effort). */
static void drop_stale_caches(const struct nft_backend *nb)
{
	char *pattern = NULL, *prefix = NULL, *ours = NULL;
	glob_t g;

	if (asprintf(&prefix, "%s/applied-nft-%s-", state_dir(nb->env.state), nb->name) < 0)
		return;
	if (asprintf(&pattern, "%s*.list", prefix) < 0 ||
	    asprintf(&ours, "%s/applied-%s.list", state_dir(nb->env.state), nb->cache_key) < 0)
		goto out;
	if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			if (strcmp(g.gl_pathv[i], ours) != 0 &&
			    own_cache(g.gl_pathv[i] + strlen(prefix)))
				unlink(g.gl_pathv[i]);
		globfree(&g);
	}
out:
	free(prefix);
	free(pattern);
	free(ours);
}

static int nft_open(struct backend **out, const struct target_config *tc,
		    const struct backend_env *env, struct cda_error *err)
{
	struct nft_backend *nb = calloc(1, sizeof(*nb));
	const char *name = tc->name != NULL ? tc->name : "nftables";

	if (nb == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the nftables backend");
	nb->base.ops = &nft_backend_ops;
	if (env != NULL)
		nb->env = *env;
	else
		nb->env.verify_max = 10000;
	if ((nb->name = strdup(name)) == NULL ||
	    (tc->config_path != NULL && (nb->config_path = strdup(tc->config_path)) == NULL)) {
		cda_error_sys(err, CDA_ESYS, "allocating the nftables backend");
		goto fail;
	}
	boot_tag(nb->tag, sizeof(nb->tag));
	if (nft_parse_config(nb, tc, err) < 0)
		goto fail;
	if (nft_script_path(target_get(tc, "nft_file"),
			    nb->env.state != NULL ? state_dir(nb->env.state) : NULL, name,
			    &nb->script_path, err) < 0) {
		cda_error_at(err, tc->config_path, target_line(tc, "nft_file"));
		goto fail;
	}
	*out = &nb->base;
	return 0;
fail:
	nft_close(&nb->base);
	return -1;
}

static bool delta_empty(const struct nft_backend *nb, const struct ranges *r)
{
	return r == NULL || ((!nft_has_set(nb, 0) || ranges_count4(r) == 0) &&
			     (!nft_has_set(nb, 1) || ranges_count6(r) == 0));
}

/* One apply: the wanted sets, and the delta against what the kernel holds. */
struct apply {
	struct ranges *w;                 /* want, the synced families only */
	struct ranges *add, *del;         /* from a fresh dump (owned) */
	const struct ranges *padd, *pdel; /* the delta in use: the caller's or add/del */
	struct nft_batch *b;              /* the last batch sent */
	bool dumped;                      /* nb->last comes from a dump after the commit */
};

/* No read() before, or a commit since: the delta comes from a fresh dump. */
static int fresh_delta(struct nft_backend *nb, struct apply *a, struct cda_error *err)
{
	ranges_free(a->add);
	ranges_free(a->del);
	a->add = a->del = NULL;
	if (nft_read_kernel(nb, false, err) < 0)
		return -1;
	if (ranges_diff_items(a->w, nb->last, &a->add, &a->del) < 0)
		return cda_error_sys(err, CDA_ESYS, "computing the nft delta");
	a->padd = a->add;
	a->pdel = a->del;
	return 0;
}

/* No element to add or delete, no lock chain to change, every set there. */
static bool nothing_to_send(const struct nft_backend *nb, const struct apply *a, bool lock_change)
{
	return delta_empty(nb, a->padd) && delta_empty(nb, a->pdel) && !lock_change &&
	       (!nb->create || ((!nft_has_set(nb, 0) || nb->set_exists[0]) &&
				(!nft_has_set(nb, 1) || nb->set_exists[1])));
}

static int build_and_send(struct nft_backend *nb, struct apply *a, const struct nft_plan *p,
			  struct nft_outcome *o, struct cda_error *err)
{
	nft_batch_free(a->b);
	a->b = NULL;
	if (nft_batch_build(p, nb->seq, &a->b, err) < 0)
		return -1;
	nb->seq += (uint32_t)nft_batch_msg_count(a->b);
	nb->base.msgs_sent = nft_batch_elem_msgs(a->b);
	return nft_nl_send(nb, a->b, o, err);
}

/* The acks did not say whether the batch was committed: look (the sets must equal want). */
static int look(struct nft_backend *nb, struct apply *a, const struct nft_outcome *o,
		struct cda_error *err)
{
	int rc = nft_read_compare(nb, a->w, err);

	if (rc < 0) {
		/* sets unlike want: the batch was not committed (it is all or nothing); a dump
		 * that failed says nothing either way */
		nb->base.outcome_unknown = rc == -1;
		if (!o->lost && rc == -2) {
			char msg[sizeof(err->msg)];

			snprintf(msg, sizeof(msg), "%s", err->msg);
			cda_error_set(err, CDA_EAPPLY, "the kernel did not confirm the commit (no "
						       "ack for the end of the batch); %s",
				      msg);
		}
		return -1;
	}
	a->dumped = true;
	return 0;
}

/* What the kernel's answer means: a refusal, no confirmation (then look), or a commit. */
static int settle(struct nft_backend *nb, struct apply *a, const struct nft_plan *p,
		  const struct nft_lock_plan *lp, const struct nft_outcome *o,
		  struct cda_error *err)
{
	if (o->error == ERESTART) {
		cda_error_set(err, CDA_EAPPLY,
			      "the nftables ruleset changed twice while applying to %s %s; "
			      "nothing was changed",
			      nb->family_name, nb->table);
		err->sys_errno = ERESTART;
		return -1;
	}
	switch (nft_outcome_verdict(o, nb->acks_end)) {
	case NFT_REFUSED:
		return nft_nl_refused(nb, a->b, p, o, err);
	case NFT_UNCONFIRMED:
		return look(nb, a, o, err);
	case NFT_COMMITTED:
		break;
	}
	nb->genid++; /* a successful commit bumps the genid by exactly one */
	nft_lock_committed(nb, lp);
	return 0;
}

/*
 * The kernel refused to delete an element that is not there (ENOENT) or to add one that
 * overlaps one that is (EEXIST). When a dump shows the sets differ from what the delta was
 * computed against (a cache that was wrong), drop the cache: the caller redoes the delta
 * from a dump, once. Otherwise the refusal stands (the delta itself was wrong).
 */
static bool wrong_belief(struct nft_backend *nb, const struct apply *a,
			 const struct nft_outcome *o)
{
	const struct nft_msg_info *mi = nft_batch_msg(a->b, o->seq);
	struct cda_error scratch = {0};
	struct ranges *believed;
	bool wrong;

	if ((o->error != ENOENT && o->error != EEXIST) || mi == NULL ||
	    (mi->kind != NFT_MSG_DELSETELEM && mi->kind != NFT_MSG_NEWSETELEM) ||
	    (believed = ranges_dup(nb->last)) == NULL)
		return false;
	wrong = nft_read_kernel(nb, false, &scratch) == 0 && !ranges_equal(believed, nb->last);
	ranges_free(believed);
	if (wrong && nb->env.state != NULL && nb->cache_key != NULL)
		state_drop_applied(nb->env.state, nb->cache_key, &scratch);
	return wrong;
}

static int nft_apply(struct backend *be, const struct backend_input *in, struct cda_error *err)
{
	struct nft_backend *nb = nft_from_base(be);
	struct apply a = {.padd = in->add, .pdel = in->del};
	int rc = -1;

	if (nft_nl_ready(nb, err) < 0)
		return -1;
	if ((a.w = nft_only_synced(nb, in->want)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "preparing the nft batch");
	for (int attempt = 0;; attempt++) {
		struct nft_plan p;
		struct nft_lock_plan lp;
		struct nft_outcome o;
		bool lock_change;

		nft_plan_base(nb, &p);
		if ((!nb->known || attempt > 0) && fresh_delta(nb, &a, err) < 0)
			goto out;
		lock_change = nft_lock_plan_for(nb, a.w, &lp);
		if (nothing_to_send(nb, &a, lock_change))
			break; /* the genid stays */
		if (lock_change)
			p.lock = &lp;
		p.add = a.padd;
		p.del = a.pdel;
		p.genid = nb->genid;
		p.has_genid = true;
		if (build_and_send(nb, &a, &p, &o, err) < 0)
			goto out;
		/* someone committed since we read, or what we read was wrong: recompute once */
		if (attempt == 0 && (o.error == ERESTART || wrong_belief(nb, &a, &o)))
			continue;
		if (settle(nb, &a, &p, &lp, &o, err) < 0)
			goto out;
		break;
	}
	if (!a.dumped) {
		/* The sets now hold exactly want's items (element-exact delta). */
		ranges_free(nb->last);
		nb->last = a.w;
		a.w = NULL;
	}
	nft_lock_describe(nb, nb->last);
	rc = 0;
out:
	nb->known = rc == 0;
	nft_batch_free(a.b);
	ranges_free(a.add);
	ranges_free(a.del);
	ranges_free(a.w);
	return rc;
}

/* After our commit: look the objects up again (the handles of sets created just now) and
 * bind the cache to them, only while the genid is still ours (nothing committed since). */
static bool rebind(struct nft_backend *nb)
{
	struct cda_error scratch = {0};
	uint32_t now;

	return nft_read_objects(nb, &scratch) == 0 && nft_nl_genid(nb, &now, &scratch) == 0 &&
	       now == nb->genid && nb->cache_key != NULL;
}

static int nft_save(struct backend *be, struct cda_error *err)
{
	struct nft_backend *nb = nft_from_base(be);

	if (nb->env.state == NULL || !nb->known || nb->last == NULL)
		return 0;
	if (!rebind(nb))
		return 0; /* the next run dumps */
	/* The cache must hold the kernel's items exactly; keep only a canonical list. */
	if (!ranges_already_normal(nb->last))
		return state_drop_applied(nb->env.state, nb->cache_key, err);
	if (state_save_applied(nb->env.state, nb->cache_key, nb->last, nb->genid, err) < 0)
		return -1;
	drop_stale_caches(nb);
	return 0;
}

/* The nft_file script: the sets and lock as the last verified apply (or read) left them. */
static int nft_snapshot(struct backend *be, bool *written, struct cda_error *err)
{
	struct nft_backend *nb = nft_from_base(be);
	struct nft_plan p;
	struct nft_script s = {.target = nb->name, .plan = &p, .lock = &nb->lock};

	if (nb->script_path == NULL || !nb->known || nb->last == NULL)
		return 0;
	nft_plan_base(nb, &p);
	s.have = nb->last;
	for (int h = 0; h < 2; h++)
		s.lock_on[h] = nb->seen[h].ok && nft_lock_wanted(nb, nb->last, h);
	return nft_script_save(nb->script_path, &s, written, err);
}

/* Its sets, and the lock's chains in its table (their names are fixed). */
static void nft_claims(struct backend *be, struct textbuf *out)
{
	struct nft_backend *nb = nft_from_base(be);

	for (int i = 0; i < 2; i++)
		if (nft_has_set(nb, i))
			textbuf_printf(out, "nftables set %s %s %s\n", nb->family_name, nb->table,
				       nb->set[i]);
	if (nb->lock_on)
		textbuf_printf(out, "nftables origin lock in table %s %s\n", nb->family_name,
			       nb->table);
}

const struct backend_ops nft_backend_ops = {
	.name = "nftables",
	.keys = nft_keys,
	.open = nft_open,
	.read = nft_read,
	.apply = nft_apply,
	.verify = nft_verify,
	.save = nft_save,
	.unlock = nft_unlock,
	.drift = nft_drift,
	.lock_info = nft_lock_info,
	.snapshot = nft_snapshot,
	.claims = nft_claims,
	.close = nft_close,
};
