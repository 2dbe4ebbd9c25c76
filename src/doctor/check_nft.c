// SPDX-License-Identifier: MIT
/* The ruleset for the nft checks: read it (or say why not), then preload the sets they need. */
#include "checks.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter/nf_tables.h>

#include "backend.h"
#include "cda_error.h"
#include "config.h"
#include "nft_model.h"
#include "ranges.h"

struct prefetch {
	struct nset **v;
	size_t n, next;
	pthread_mutex_t mu;
	bool oom;
};

static void *prefetch_run(void *arg)
{
	struct prefetch *p = arg;
	struct nlconn conn = {0};

	if (nft_model_connect(&conn) < 0) {
		if (conn.nl != NULL)
			mnl_socket_close(conn.nl);
		return NULL; /* the sets left are loaded lazily on the main socket */
	}
	for (;;) {
		size_t i;

		pthread_mutex_lock(&p->mu);
		i = p->next++;
		pthread_mutex_unlock(&p->mu);
		if (i >= p->n)
			break;
		if (nft_model_set_load(&conn, p->v[i]) < 0) {
			pthread_mutex_lock(&p->mu);
			p->oom = true;
			pthread_mutex_unlock(&p->mu);
		}
	}
	mnl_socket_close(conn.nl);
	return NULL;
}

static int want_cb(struct nftnl_expr *e, void *data)
{
	void **d = data;
	struct nft_model *n = d[0];
	const struct nchain *ch = d[1];
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
	struct nset *s;

	if (name == NULL || strcmp(name, "lookup") != 0 ||
	    !nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_SET))
		return 0;
	s = nft_model_set(n, ch->family, ch->table, nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET));
	if (s != NULL)
		s->wanted = true;
	return 0;
}

/* The sets a reachable rule looks up, and ban-style address sets, into p->v; not ours. */
static int to_prefetch(struct ctx *c, struct prefetch *p)
{
	struct nft_model *n = c->nft;

	nft_model_reach(n);
	for (size_t i = 0; i < n->n_chains; i++) {
		void *d[2] = {n, &n->chains[i]};

		if (!n->chains[i].reachable)
			continue;
		for (size_t k = 0; k < n->chains[i].n_rules; k++)
			nftnl_expr_foreach(n->rules[n->chains[i].rules[k]], want_cb, d);
	}
	if ((p->v = calloc(n->n_sets ? n->n_sets : 1, sizeof(struct nset *))) == NULL)
		return -1;
	for (size_t i = 0; i < n->n_sets; i++) {
		struct nset *s = &n->sets[i];
		bool addr = s->ktype == 7 || s->ktype == 8;

		if (s->loaded)
			continue;
		if (doctor_is_own(c, s->family, s->table, s->name))
			continue; /* read through the backend, meanwhile */
		if (s->wanted ||
		    (addr && !(s->flags & NFT_SET_ANONYMOUS) && check_bans_named(s->name)))
			p->v[p->n++] = s;
	}
	return 0;
}

/* Target tc's own sets through the nftables backend's read; those it cannot read stay
 * unloaded (dumped when needed). -1 only on ENOMEM. */
static int own_through_backend(struct ctx *c, const struct target_config *tc)
{
	struct backend_env env = {
		.state = c->st, .verify_max = c->cfg->verify_max, .dry_run = true};
	struct backend *be = NULL;
	struct ranges *cur;
	struct cda_error e = {0};
	int rc = 0;

	if (strcmp(tc->backend, "nftables") != 0 || !doctor_selected(c->o, tc->name))
		return 0;
	if ((cur = ranges_new()) == NULL)
		return -1;
	if (backend_open(&nft_backend_ops, &be, tc, &env, &e) < 0 ||
	    backend_read(be, cur, &e) < 0) {
		backend_close(be);
		ranges_free(cur);
		return 0;
	}
	backend_close(be);
	ranges_normalize(cur);
	for (size_t i = 0; i < c->n_own && rc == 0; i++) {
		struct own_set *o = &c->own[i];
		struct nset *s = nft_model_set(c->nft, o->nfproto, o->table, o->name);

		if (s == NULL || s->loaded || strcmp(o->target, tc->name) != 0 ||
		    s->klen != (o->fam == CDA_AF_INET ? 4u : 16u))
			continue;
		if ((s->elems = fam_only(cur, o->fam)) == NULL)
			rc = -1;
		else
			s->loaded = true;
	}
	ranges_free(cur);
	return rc;
}

/*
 * Our sets through the nftables backend's read (its state cache when the ruleset
 * generation is unchanged: no dump at all), then every other set the checks will need,
 * dumped in parallel: a set dump is quadratic in the kernel (~0.5 s at 100k ranges).
 */
int check_nft_preload(struct ctx *c)
{
	struct prefetch p = {0};
	pthread_t th[4];
	size_t nth = 0;
	bool oom = false; /* the main thread's, apart from the workers' p.oom */
	int rc;

	if (c->nft == NULL)
		return 0;
	if (to_prefetch(c, &p) < 0)
		return -1;
	pthread_mutex_init(&p.mu, NULL);
	while (nth < p.n && nth < sizeof(th) / sizeof(th[0]) &&
	       pthread_create(&th[nth], NULL, prefetch_run, &p) == 0)
		nth++;
	for (size_t t = 0; t < c->cfg->n_targets && !oom; t++)
		oom = own_through_backend(c, &c->cfg->targets[t]) < 0;
	for (size_t i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&p.mu);
	rc = p.oom || oom ? -1 : 0;
	free(p.v);
	return rc;
}

int check_nft_load(struct ctx *c)
{
	struct nft_model *n = NULL;

	if (nft_model_load(&n) < 0) {
		if (errno == EPERM || errno == EACCES) {
			c->rep->privileged = false;
			doctor_note(
				c, DOCTOR_INFO, "privileges", NULL,
				"run it as root: sudo cdnallow doctor",
				"the nftables ruleset cannot be read without CAP_NET_ADMIN: sets, "
				"rules, "
				"nft ban sets and --ip were not checked");
			return 0;
		}
		if (errno == ENOMEM)
			return -1;
		doctor_note(c, DOCTOR_WARNING, "rules", NULL, NULL,
			    "could not read the nftables ruleset: %s", strerror(errno));
		return 0;
	}
	c->rep->privileged = true;
	n->ipset_cmd = c->o->ipset_cmd;
	c->nft = n;
	return 0;
}
