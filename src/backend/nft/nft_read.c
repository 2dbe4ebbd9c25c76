// SPDX-License-Identifier: MIT
/* What the nftables backend's sets hold: set dumps, the cache; verify. */
#include "nft_backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "cda_error.h"
#include "nft_batch.h"
#include "ranges.h"
#include "state.h"

#define READ_TRIES 5

struct dump_ctx {
	struct nft_elems *e;
	bool first;
	uint16_t res_id;
	bool changed; /* the ruleset generation moved during the dump */
	int bad;      /* nft_elems_add_msg's first non-zero answer */
};

static int elem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *c = data;
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);

	if (c->first) {
		c->first = false;
		c->res_id = g->res_id;
	} else if (g->res_id != c->res_id) {
		c->changed = true;
	}
	if (c->bad == 0)
		c->bad = nft_elems_add_msg(c->e, nlh);
	return MNL_CB_OK;
}

/* Dump one set into out. 1: the generation changed meanwhile (or differs from genid). */
static int dump_set(struct nft_backend *nb, int i, uint32_t genid, struct ranges *out,
		    struct cda_error *err)
{
	struct dump_ctx c = {.first = true};
	struct nlmsghdr *nlh;
	int rc;

	if ((c.e = nft_elems_new(i ? CDA_AF_INET6 : CDA_AF_INET)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "reading set %s", nb->set[i]);
	nlh = nft_nl_req(nb, NFT_MSG_GETSETELEM, nb->family, NLM_F_DUMP);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, nb->table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, nb->set[i]);
	if (nft_nl_talk(nb, nlh, elem_cb, &c) < 0) {
		int e = errno;

		nft_elems_free(c.e);
		errno = e;
		if (errno == EINTR)
			return 1; /* a commit interrupted the dump: read again */
		return cda_error_sys(err, CDA_EAPPLY, "reading set %s %s %s", nb->family_name,
				     nb->table, nb->set[i]);
	}
	if (c.bad != 0) {
		nft_elems_free(c.e);
		if (c.bad == NFT_ELEMS_TIMED) {
			cda_error_set(err, nb->create ? CDA_EAPPLY : CDA_ECONFIG,
				      "set %s %s %s holds elements with a timeout (they expire "
				      "without a ruleset change cdnallow could see); cdnallow needs "
				      "sets without timeouts",
				      nb->family_name, nb->table, nb->set[i]);
			return cda_error_at(err, nb->config_path, nb->set_line[i]);
		}
		return cda_error_set(err, CDA_EAPPLY, "set %s %s %s: unexpected element in dump",
				     nb->family_name, nb->table, nb->set[i]);
	}
	rc = nft_elems_finish(c.e, out);
	if (rc < 0)
		return cda_error_sys(err, CDA_ESYS, "decoding set %s", nb->set[i]);
	if (c.changed || (!c.first && ntohs(c.res_id) != (genid & 0xffff)))
		return 1;
	return 0;
}

struct ranges *nft_only_synced(const struct nft_backend *nb, const struct ranges *r)
{
	struct ranges *o = ranges_new();

	if (o == NULL)
		return NULL;
	if (r == NULL)
		return o;
	/* want's families all have a set here: want itself, held, not copied */
	if (ranges_is_normal(r) && (nft_has_set(nb, 0) || ranges_count4(r) == 0) &&
	    (nft_has_set(nb, 1) || ranges_count6(r) == 0)) {
		ranges_free(o);
		return ranges_ref(r);
	}
	if ((nft_has_set(nb, 0) && ranges_reserve(o, ranges_count4(r), 0) < 0) ||
	    (nft_has_set(nb, 1) && ranges_reserve(o, 0, ranges_count6(r)) < 0))
		goto fail;
	for (size_t i = 0; nft_has_set(nb, 0) && i < ranges_count4(r); i++)
		if (ranges_add4(o, ranges_v4(r)[i].lo, ranges_v4(r)[i].hi) < 0)
			goto fail;
	for (size_t i = 0; nft_has_set(nb, 1) && i < ranges_count6(r); i++)
		if (ranges_add6(o, ranges_v6(r)[i].lo, ranges_v6(r)[i].hi) < 0)
			goto fail;
	ranges_sort(o);
	return o;
fail:
	ranges_free(o);
	return NULL;
}

/* The cache of exactly these sets, when its genid is the current one: 1 taken (into *got),
 * 0 none. Only when every set exists: a reboot resets the genid but not the cache. */
static int from_cache(struct nft_backend *nb, uint32_t genid, struct ranges **got,
		      struct cda_error *err)
{
	struct cda_error scratch = {0};
	struct ranges *cached = NULL;
	uint32_t cgen = 0;

	if (nb->env.state == NULL || nb->cache_key == NULL ||
	    (nft_has_set(nb, 0) && !nb->set_exists[0]) ||
	    (nft_has_set(nb, 1) && !nb->set_exists[1]))
		return 0;
	if (state_load_applied(nb->env.state, nb->cache_key, &cached, &cgen, &scratch) != 1 ||
	    cgen != genid) {
		ranges_free(cached);
		return 0;
	}
	ranges_free(*got);
	*got = nft_only_synced(nb, cached);
	ranges_free(cached);
	if (*got == NULL)
		return cda_error_sys(err, CDA_ESYS, "reading the cache");
	nb->genid = genid;
	return 1;
}

/*
 * What the kernel holds now, with the genid it belongs to (nb->last, nb->genid).
 * use_cache: take the state cache when its genid is the current one (no dump).
 */
int nft_read_kernel(struct nft_backend *nb, bool use_cache, struct cda_error *err)
{
	struct ranges *got = NULL;

	if (nft_nl_ready(nb, err) < 0)
		return -1;
	nb->known = false;
	for (int attempt = 0; attempt < READ_TRIES; attempt++) {
		uint32_t genid;
		int rc = 0;

		ranges_free(got);
		if ((got = ranges_new()) == NULL)
			return cda_error_sys(err, CDA_ESYS, "reading the nft sets");
		if (nft_nl_genid(nb, &genid, err) < 0 || nft_read_objects(nb, err) < 0)
			goto fail;
		if (use_cache && (rc = from_cache(nb, genid, &got, err)) != 0) {
			if (rc < 0)
				goto fail;
			goto done;
		}
		for (int i = 0; i < 2 && rc == 0; i++)
			if (nb->set_exists[i])
				rc = dump_set(nb, i, genid, got, err);
		if (rc < 0)
			goto fail;
		if (rc == 0) {
			uint32_t after;

			/* Elements of an unchanged generation: the genid still the same. */
			if (nft_nl_genid(nb, &after, err) < 0)
				goto fail;
			if (after == genid) {
				nb->genid = genid;
				goto done;
			}
		}
	}
	cda_error_set(err, CDA_EAPPLY, "the nftables ruleset kept changing while reading %s %s",
		      nb->family_name, nb->table);
fail:
	ranges_free(got);
	return -1;
done:
	ranges_sort(got);
	ranges_free(nb->last);
	nb->last = got;
	if (nft_lock_read(nb, err) < 0)
		return -1;
	nb->known = true;
	return 0;
}

int nft_read(struct backend *be, struct ranges *cur, struct cda_error *err)
{
	struct nft_backend *nb = nft_from_base(be);

	/* --verify-full and verify = full: the kernel's own answer, never the cache */
	if (nft_read_kernel(nb, !nb->env.verify_full && nb->verify != VERIFY_FULL, err) < 0)
		return -1;
	ranges_clear(cur);
	if (ranges_add_all(cur, nb->last) < 0)
		return cda_error_sys(err, CDA_ESYS, "reading the nft sets");
	ranges_sort(cur);
	return 0;
}

/* Compare the kernel's sets with want by a fresh dump; on success nb->last is exact. */
int nft_read_compare(struct nft_backend *nb, const struct ranges *want, struct cda_error *err)
{
	struct ranges *w = nft_only_synced(nb, want);
	bool same = false;

	if (w == NULL)
		return cda_error_sys(err, CDA_ESYS, "verifying");
	if (nft_read_kernel(nb, false, err) < 0 || ranges_same_cover(nb->last, w, &same) < 0) {
		ranges_free(w);
		return err->code != CDA_OK ? -1 : cda_error_sys(err, CDA_ESYS, "verifying");
	}
	if (!same) {
		cda_error_set(err, CDA_EAPPLY,
			      "%s %s: the sets hold %zu+%zu ranges, not the %zu+%zu wanted "
			      "(IPv4+IPv6)",
			      nb->family_name, nb->table, ranges_count4(nb->last),
			      ranges_count6(nb->last), ranges_count4(w), ranges_count6(w));
		ranges_free(w);
		return -2;
	}
	for (int h = 0; h < 2; h++) {
		bool wanted = nft_lock_wanted(nb, w, h);

		if (wanted ? !nb->seen[h].ok : nb->seen[h].exists) {
			cda_error_set(err, CDA_EAPPLY, "%s %s: origin lock chain %s is %s",
				      nb->family_name, nb->table, nft_lock_chain[h],
				      wanted ? "missing or not as applied" : "still present");
			ranges_free(w);
			return -2;
		}
	}
	ranges_free(w);
	return 0;
}

int nft_verify(struct backend *be, const struct ranges *want, struct cda_error *err)
{
	struct nft_backend *nb = nft_from_base(be);
	size_t n = (nft_has_set(nb, 0) ? ranges_count4(want) : 0) +
		   (nft_has_set(nb, 1) ? ranges_count6(want) : 0);
	uint32_t now;

	if (nft_nl_ready(nb, err) < 0)
		return -1;
	if (nb->verify != VERIFY_GENID && nb->known &&
	    (nb->verify == VERIFY_FULL || nb->env.verify_full || n <= nb->env.verify_max))
		return nft_read_compare(nb, want, err);
	if (nb->known) {
		if (nft_nl_genid(nb, &now, err) < 0)
			return -1;
		if (now == nb->genid)
			return 0;
	}
	/* Something committed after us (or we know nothing): look at the sets. */
	return nft_read_compare(nb, want, err);
}
