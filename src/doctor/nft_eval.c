// SPDX-License-Identifier: MIT
/*
 * The evaluator: packets through the prerouting and input base chains, rule by rule, with
 * jumps followed. A maybe-drop is a warning, never an error, and a maybe-accept does not
 * remove packets from later drops (they become maybe).
 */
#include "nft_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnftnl/rule.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "checks.h"
#include "nft_expr.h"
#include "nft_model.h"

static int rule_comment_cb(const struct nftnl_udata *attr, void *data)
{
	if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT)
		*(const char **)data = nftnl_udata_get(attr);
	return 0;
}

static void rule_where(struct nftnl_rule *r, char *buf, size_t size)
{
	static const char *const fams[] = {
		[NFPROTO_INET] = "inet",     [NFPROTO_IPV4] = "ip",       [NFPROTO_IPV6] = "ip6",
		[NFPROTO_BRIDGE] = "bridge", [NFPROTO_NETDEV] = "netdev", [NFPROTO_ARP] = "arp"};
	uint32_t f = nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY);
	const char *comment = NULL;
	uint32_t ulen = 0;
	const void *ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &ulen);

	if (ud != NULL)
		nftnl_udata_parse(ud, ulen, rule_comment_cb, &comment);
	snprintf(buf, size, "table %s %s chain %s handle %llu%s%.60s%s",
		 f < sizeof(fams) / sizeof(fams[0]) && fams[f] ? fams[f] : "?",
		 nftnl_rule_get_str(r, NFTNL_RULE_TABLE), nftnl_rule_get_str(r, NFTNL_RULE_CHAIN),
		 (unsigned long long)nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE),
		 comment ? " (comment \"" : "", comment ? comment : "", comment ? "\")" : "");
}

/* Append an event; NULL on ENOMEM. */
static struct event *push_event(struct eval *ev, enum ev_kind k, bool maybe, bool ours,
				const char *where, const char *desc, const struct ranges *s)
{
	struct event *v = reallocarray(ev->ev, ev->n_ev + 1, sizeof(*v));
	struct event *e;

	if (v == NULL)
		return NULL;
	ev->ev = v;
	e = &v[ev->n_ev];
	memset(e, 0, sizeof(*e));
	e->kind = k;
	e->maybe = maybe;
	e->ours = ours;
	snprintf(e->where, sizeof(e->where), "%s", where);
	snprintf(e->desc, sizeof(e->desc), "%s", desc);
	if ((e->s = ranges_dup(s)) == NULL)
		return NULL;
	ev->n_ev++;
	return e;
}

static int eval_chain(struct eval *ev, struct nchain *ch, const struct ranges *in,
		      struct ranges **ft, int depth);

/* A jump or goto to m->target: what returns goes on in *cur (jump) or leaves by *out (goto). */
static int follow(struct eval *ev, struct nchain *ch, struct match *m, struct ranges **cur,
		  struct ranges **out, int depth)
{
	struct nchain *to =
		m->target ? nft_model_chain(ev->n, ch->family, ch->table, m->target) : NULL;
	struct ranges *back = NULL;
	int rc = 0;
	bool vm = ev->via_maybe, vr = ev->via_rate;

	if (to == NULL || depth >= MAX_DEPTH)
		return 0;
	/* what a maybe-jump's chain decides is maybe too */
	ev->via_maybe |= m->maybe;
	ev->via_rate |= m->maybe && m->rate;
	rc = eval_chain(ev, to, m->s, &back, depth + 1);
	ev->via_maybe = vm;
	ev->via_rate = vr;
	if (rc < 0)
		return -1;
	if (m->maybe) {
		/* a goto's packets may leave by the caller's caller, past this chain's drops */
		if (m->verdict == NFT_GOTO)
			ev->uncertain = true;
	} else if (fam_minus(cur, m->s) < 0 ||
		 fam_union(m->verdict == NFT_JUMP ? cur : out, back) < 0)
		rc = -1;
	ranges_free(back);
	return rc;
}

/* Rule r of chain ch decides the packets m->s: record that, and take them out of *cur. */
static int take_verdict(struct eval *ev, struct nchain *ch, struct nftnl_rule *r, struct match *m,
			struct ranges **cur, struct ranges **out, int depth)
{
	bool maybe = m->maybe || ev->via_maybe;
	char where[300];

	m->rate |= ev->via_rate;

	rule_where(r, where, sizeof(where));
	switch (m->verdict) {
	case NF_ACCEPT:
		nft_expr_dcat(m, "accept");
		if (push_event(ev, EV_ACCEPT, maybe, m->ours, where, m->desc, m->s) == NULL)
			return -1;
		if (maybe)
			ev->uncertain = true;
		else if (fam_minus(cur, m->s) < 0)
			return -1;
		return 0;
	case NF_DROP: {
		struct event *e;

		if (!m->reject)
			nft_expr_dcat(m, "drop");
		e = push_event(ev, EV_DROP, maybe || ev->uncertain, false, where, m->desc, m->s);
		if (e == NULL)
			return -1;
		e->rate = maybe && m->rate;
		e->behind = !maybe && ev->uncertain;
		maybe = e->maybe;
		if (!maybe && (fam_minus(cur, m->s) < 0 || fam_union(&ev->dropped, m->s) < 0))
			return -1;
		return 0;
	}
	case V_UNKNOWN: /* any verdict: it may drop, and may accept what comes later */
	{
		struct event *e;

		nft_expr_dcat(m, "(verdict not evaluated)");
		if ((e = push_event(ev, EV_DROP, true, false, where, m->desc, m->s)) == NULL)
			return -1;
		e->unknown = true;
		ev->uncertain = true;
		return 0;
	}
	case NFT_JUMP:
	case NFT_GOTO:
		return follow(ev, ch, m, cur, out, depth);
	case NFT_RETURN:
		if (!maybe && (fam_minus(cur, m->s) < 0 || fam_union(out, m->s) < 0))
			return -1;
		return 0;
	default:
		return 0;
	}
}

/* Evaluate chain ch for the packets in in; *ft gets those that fall off its end or return. */
static int eval_chain(struct eval *ev, struct nchain *ch, const struct ranges *in,
		      struct ranges **ft, int depth)
{
	struct ranges *cur = ranges_dup(in), *out = ranges_new();
	int rc = -1;

	if (cur == NULL || out == NULL)
		goto done;
	for (size_t i = 0; i < ch->n_rules && !fam_none(cur); i++) {
		struct nftnl_rule *r = ev->n->rules[ch->rules[i]];
		struct match m = {.verdict = V_NONE};
		int mrc = 0;

		if ((m.s = ranges_dup(cur)) == NULL)
			goto done;
		if (nft_expr_match(ev, ch, r, &m) < 0)
			mrc = -1;
		else if (!m.none && m.verdict != V_NONE && m.verdict != NFT_CONTINUE &&
			 m.verdict != NFT_BREAK && !fam_none(m.s))
			mrc = take_verdict(ev, ch, r, &m, &cur, &out, depth);
		ranges_free(m.s);
		if (mrc < 0)
			goto done;
	}
	if (fam_union(&out, cur) < 0)
		goto done;
	*ft = out;
	out = NULL;
	rc = 0;
done:
	ranges_free(cur);
	ranges_free(out);
	return rc;
}

static int base_cmp(const void *a, const void *b)
{
	const struct nchain *x = *(const struct nchain *const *)a;
	const struct nchain *y = *(const struct nchain *const *)b;

	if (x->hook != y->hook)
		return x->hook < y->hook ? -1 : 1;
	if (x->prio != y->prio)
		return x->prio < y->prio ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* Base chains a packet of fam meets on its way in (prerouting then input), in order. */
static struct nchain **base_chains(struct nft_model *n, int fam, size_t *count)
{
	struct nchain **v = calloc(n->n_chains ? n->n_chains : 1, sizeof(struct nchain *));
	uint32_t own = fam == CDA_AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;

	*count = 0;
	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < n->n_chains; i++) {
		struct nchain *ch = &n->chains[i];

		if (!ch->base || (ch->family != own && ch->family != NFPROTO_INET) ||
		    (ch->hook != NF_INET_PRE_ROUTING && ch->hook != NF_INET_LOCAL_IN))
			continue;
		v[(*count)++] = ch;
	}
	if (*count > 1)
		qsort(v, *count, sizeof(struct nchain *), base_cmp);
	return v;
}

int nft_eval_path(struct eval *ev, const struct ranges *from, struct ranges **alive)
{
	size_t nb = 0;
	struct nchain **bases = base_chains(ev->n, ev->fam, &nb);
	struct ranges *a = ranges_dup(from);
	int rc = -1;

	if (bases == NULL || a == NULL || (ev->dropped = ranges_new()) == NULL)
		goto out;
	for (size_t i = 0; i < nb && !fam_none(a); i++) {
		struct ranges *ft = NULL;
		char where[300];

		ev->uncertain = false;
		ranges_clear(ev->dropped);
		if (eval_chain(ev, bases[i], a, &ft, 0) < 0)
			goto out;
		if (bases[i]->policy == NF_DROP && !fam_none(ft)) {
			snprintf(where, sizeof(where), "table %s %s chain %s (policy drop)",
				 nft_model_family(bases[i]->family), bases[i]->table,
				 bases[i]->name);
			struct event *e = push_event(ev, EV_POLICY, ev->uncertain, false, where,
						     "policy drop", ft);

			if (e != NULL)
				e->behind = ev->uncertain;
			if (e == NULL || (!ev->uncertain && fam_union(&ev->dropped, ft) < 0)) {
				ranges_free(ft);
				goto out;
			}
		}
		ranges_free(ft);
		if (fam_minus(&a, ev->dropped) < 0)
			goto out;
	}
	*alive = a;
	a = NULL;
	rc = 0;
out:
	free(bases);
	ranges_free(a);
	return rc;
}

void nft_eval_finish(struct eval *ev)
{
	for (size_t i = 0; i < ev->n_ev; i++)
		ranges_free(ev->ev[i].s);
	free(ev->ev);
	ranges_free(ev->dropped);
	ev->ev = NULL;
	ev->n_ev = 0;
	ev->dropped = NULL;
}
