// SPDX-License-Identifier: MIT
/* The nftables backend: its ops, open and close, apply in one transaction, the cache. */
#include "nft_backend.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

#include "cda_error.h"
#include "config.h"
#include "nft_batch.h"
#include "ranges.h"
#include "state.h"
#include "textbuf.h"

static const char *const nft_keys[] = {"table",        "family",     "set_v4",     "set_v6",
				       "create",       "verify",     "lock_ports", "lock_udp",
				       "lock_forward", "lock_allow", NULL};

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
	free(nb);
}

/*
 * The ruleset generation id restarts at every boot and is per network namespace: a cache
 * is trusted only in the boot and namespace that wrote it, so its key names both.
 */
static const char *boot_tag(char *tag, size_t size)
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
	if (stat("/proc/self/ns/net", &st) == 0)
		snprintf(tag + o, size - o, "-%lx", (unsigned long)st.st_ino);
	return tag;
}

/* Remove the caches of earlier boots or namespaces for this target (best effort). */
static void drop_stale_caches(const struct nft_backend *nb)
{
	char *pattern = NULL, *ours = NULL;
	glob_t g;

	if (asprintf(&pattern, "%s/applied-nft-%s-*.list", state_dir(nb->env.state), nb->name) <
		    0 ||
	    asprintf(&ours, "%s/applied-%s.list", state_dir(nb->env.state), nb->cache_key) < 0) {
		free(pattern);
		return;
	}
	if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			if (strcmp(g.gl_pathv[i], ours) != 0)
				unlink(g.gl_pathv[i]);
		globfree(&g);
	}
	free(pattern);
	free(ours);
}

static int nft_open(struct backend **out, const struct target_config *tc,
		    const struct backend_env *env, struct cda_error *err)
{
	struct nft_backend *nb = calloc(1, sizeof(*nb));
	const char *name = tc->name != NULL ? tc->name : "nftables";
	char tag[48];

	if (nb == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the nftables backend");
	nb->base.ops = &nft_backend_ops;
	if (env != NULL)
		nb->env = *env;
	else
		nb->env.verify_max = 10000;
	if ((nb->name = strdup(name)) == NULL ||
	    (tc->config_path != NULL && (nb->config_path = strdup(tc->config_path)) == NULL) ||
	    asprintf(&nb->cache_key, "nft-%s-%s", name, boot_tag(tag, sizeof(tag))) < 0) {
		nb->cache_key = NULL;
		cda_error_sys(err, CDA_ESYS, "allocating the nftables backend");
		goto fail;
	}
	if (nft_parse_config(nb, tc, err) < 0)
		goto fail;
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

/* What the kernel's answer means: a refusal, lost acks (then look), or a commit. */
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
	if (o->error != 0)
		return nft_nl_refused(nb, a->b, p, o, err);
	if (o->lost) {
		/* Acks were dropped; the transaction was decided either way: look. */
		if (nft_read_compare(nb, a->w, err) < 0)
			return -1;
		a->dumped = true;
		return 0;
	}
	nb->genid++; /* a successful commit bumps the genid by exactly one */
	nft_lock_committed(nb, lp);
	return 0;
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
		if (o.error == ERESTART && attempt == 0)
			continue; /* someone committed since we read: recompute once */
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

static int nft_save(struct backend *be, struct cda_error *err)
{
	struct nft_backend *nb = nft_from_base(be);
	struct ranges *norm;
	bool normal;

	if (nb->env.state == NULL || !nb->known || nb->last == NULL)
		return 0;
	/* The cache must hold the kernel's items exactly; keep only a canonical list. */
	if ((norm = ranges_dup(nb->last)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "saving the nft cache");
	ranges_normalize(norm);
	normal = ranges_equal(norm, nb->last);
	ranges_free(norm);
	if (!normal)
		return state_drop_applied(nb->env.state, nb->cache_key, err);
	if (state_save_applied(nb->env.state, nb->cache_key, nb->last, nb->genid, err) < 0)
		return -1;
	drop_stale_caches(nb);
	return 0;
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
	.claims = nft_claims,
	.close = nft_close,
};
