// SPDX-License-Identifier: MIT
/* The nftables backend's origin lock: its chains as found, the plan, drift, unlock. */
#include "nft_backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "cda_error.h"
#include "nft_batch.h"
#include "origin_lock.h"
#include "ranges.h"

/* A dump a concurrent commit interrupts is read again, up to this many times in all. */
#define DUMP_TRIES 10

/* The plan fields the lock's rules depend on (table, family, sets). */
void nft_plan_base(const struct nft_backend *nb, struct nft_plan *p)
{
	memset(p, 0, sizeof(*p));
	p->table = nb->table;
	p->family = nb->family;
	p->create = nb->create;
	p->set_v4 = nft_has_set(nb, 0) ? nb->set[0] : NULL;
	p->set_v6 = nft_has_set(nb, 1) ? nb->set[1] : NULL;
}

/* Which synced family has an empty set in r (0 v4, 1 v6), -1 when none. */
static int empty_family(const struct nft_backend *nb, const struct ranges *r)
{
	if (nft_has_set(nb, 0) && (r == NULL || ranges_count4(r) == 0))
		return 0;
	if (nft_has_set(nb, 1) && (r == NULL || ranges_count6(r) == 0))
		return 1;
	return -1;
}

/* Whether chain h belongs in the table when the sets hold r: never with an empty set. */
bool nft_lock_wanted(const struct nft_backend *nb, const struct ranges *r, int h)
{
	return nb->create && nb->lock_on && empty_family(nb, r) < 0 &&
	       (h == NFT_LOCK_INPUT || nb->fwd_on);
}

struct chain_seen {
	bool exists, hook;
	uint32_t hooknum, policy;
	int32_t prio;
	char type[16];
};

struct chain_dump {
	const struct nft_backend *nb;
	bool docker, forward; /* Docker's chains, a forward base chain (not ours) */
	struct chain_seen c[2];
};

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct chain_dump *d = data;
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *b;
	const char *table = NULL, *name = NULL, *type = "";
	struct chain_seen c = {.exists = true, .policy = NF_ACCEPT};

	mnl_attr_for_each (a, nlh, sizeof(*g)) {
		switch (mnl_attr_get_type(a)) {
		case NFTA_CHAIN_TABLE:
		case NFTA_CHAIN_NAME:
		case NFTA_CHAIN_TYPE:
			if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
				break;
			if (mnl_attr_get_type(a) == NFTA_CHAIN_TABLE)
				table = mnl_attr_get_str(a);
			else if (mnl_attr_get_type(a) == NFTA_CHAIN_NAME)
				name = mnl_attr_get_str(a);
			else
				type = mnl_attr_get_str(a);
			break;
		case NFTA_CHAIN_POLICY:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				c.policy = ntohl(mnl_attr_get_u32(a));
			break;
		case NFTA_CHAIN_HOOK:
			mnl_attr_for_each_nested (b, a) {
				if (mnl_attr_validate(b, MNL_TYPE_U32) < 0)
					continue;
				if (mnl_attr_get_type(b) == NFTA_HOOK_HOOKNUM) {
					c.hook = true;
					c.hooknum = ntohl(mnl_attr_get_u32(b));
				} else if (mnl_attr_get_type(b) == NFTA_HOOK_PRIORITY) {
					c.prio = (int32_t)ntohl(mnl_attr_get_u32(b));
				}
			}
			break;
		default:
			break;
		}
	}
	if (table == NULL || name == NULL)
		return MNL_CB_OK;
	snprintf(c.type, sizeof(c.type), "%s", type);
	if (g->nfgen_family == d->nb->family && strcmp(table, d->nb->table) == 0) {
		for (int h = 0; h < 2; h++)
			if (strcmp(name, nft_lock_chain[h]) == 0)
				d->c[h] = c;
		return MNL_CB_OK; /* our own chains never count as someone else's */
	}
	if (g->nfgen_family != NFPROTO_IPV4 && g->nfgen_family != NFPROTO_IPV6 &&
	    g->nfgen_family != NFPROTO_INET)
		return MNL_CB_OK;
	/* Docker: iptables(-nft) DOCKER/DOCKER-USER chains, or its own nft tables */
	if (strncmp(table, "docker", 6) == 0 ||
	    (strcmp(table, "filter") == 0 &&
	     (strcmp(name, "DOCKER") == 0 || strcmp(name, "DOCKER-USER") == 0)))
		d->docker = true;
	if (c.hook && c.hooknum == NF_INET_FORWARD)
		d->forward = true;
	return MNL_CB_OK;
}

struct rule_dump {
	const struct nft_backend *nb;
	struct nft_plan p;
	size_t count[2];
	bool bad[2];
};

/* The comment TLV of a rule's userdata, or NULL. */
static const char *rule_comment(const struct nlattr *ud, size_t *len)
{
	const uint8_t *v = mnl_attr_get_payload(ud);
	size_t n = mnl_attr_get_payload_len(ud);

	for (size_t i = 0; i + 2 <= n && i + 2 + v[i + 1] <= n; i += 2 + v[i + 1]) {
		if (v[i] == NFTNL_UDATA_RULE_COMMENT) {
			*len = v[i + 1];
			return (const char *)v + i + 2;
		}
	}
	return NULL;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rule_dump *d = data;
	const struct nlattr *a, *ud = NULL;
	const char *chain = NULL, *com = NULL;
	size_t clen = 0;
	int h;
	char want[64];

	mnl_attr_for_each (a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) == NFTA_RULE_CHAIN &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			chain = mnl_attr_get_str(a);
		else if (mnl_attr_get_type(a) == NFTA_RULE_USERDATA)
			ud = a;
	}
	if (chain == NULL)
		return MNL_CB_OK;
	for (h = 0; h < 2 && strcmp(chain, nft_lock_chain[h]) != 0; h++)
		;
	if (h == 2)
		return MNL_CB_OK;
	if (ud != NULL)
		com = rule_comment(ud, &clen);
	nft_lock_comment(&d->p, &d->nb->lock, h, d->count[h], want, sizeof(want));
	if (com == NULL || clen != strlen(want) + 1 || memcmp(com, want, clen) != 0)
		d->bad[h] = true;
	d->count[h]++;
	return MNL_CB_OK;
}

void nft_lock_describe(struct nft_backend *nb, const struct ranges *r)
{
	char tcp[NFT_LOCK_MAX_PORTS * 12], udp[NFT_LOCK_MAX_PORTS * 12];
	struct origin_lock_state s = {
		.configured = nb->lock_on,
		.present = nb->seen[0].exists || nb->seen[1].exists,
		.tcp = nb->lock.n_tcp > 0 ? tcp : NULL,
		.udp = nb->lock.n_udp > 0 ? udp : NULL,
		.forward = nb->fwd_on,
		.set_kind = "set",
	};
	int f = empty_family(nb, r);

	origin_lock_ports_text(tcp, sizeof(tcp), nb->lock.tcp, nb->lock.n_tcp, '-');
	origin_lock_ports_text(udp, sizeof(udp), nb->lock.udp, nb->lock.n_udp, '-');
	if (f >= 0)
		s.empty_set = nb->set[f];
	for (int h = 0; h < 2; h++) {
		if (nft_lock_wanted(nb, r, h)) {
			s.missing |= !nb->seen[h].exists;
			s.differs |= nb->seen[h].exists && !nb->seen[h].ok;
		} else {
			s.differs |= nb->seen[h].exists;
		}
	}
	origin_lock_describe(nb->lock_text, sizeof(nb->lock_text), &s);
}

/* Every chain (into cd), again while a commit interrupts the dump. */
static int dump_chains(struct nft_backend *nb, struct chain_dump *cd)
{
	for (int attempt = 1;; attempt++) {
		struct nlmsghdr *nlh = nft_nl_req(nb, NFT_MSG_GETCHAIN, NFPROTO_UNSPEC, NLM_F_DUMP);

		*cd = (struct chain_dump){.nb = nb};
		if (nft_nl_talk(nb, nlh, chain_cb, cd) == 0)
			return 0;
		if (errno != EINTR || attempt == DUMP_TRIES)
			return -1;
	}
}

/* Our table's rules (into rd), again while a commit interrupts the dump. */
static int dump_rules(struct nft_backend *nb, struct rule_dump *rd)
{
	for (int attempt = 1;; attempt++) {
		struct nlmsghdr *nlh = nft_nl_req(nb, NFT_MSG_GETRULE, nb->family, NLM_F_DUMP);

		mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, nb->table);
		*rd = (struct rule_dump){.nb = nb};
		nft_plan_base(nb, &rd->p);
		if (nft_nl_talk(nb, nlh, rule_cb, rd) == 0)
			return 0;
		if (errno != EINTR || attempt == DUMP_TRIES)
			return -1;
	}
}

/* Read the lock chains of our own table (and, for lock_forward = auto, look for Docker). */
int nft_lock_read(struct nft_backend *nb, struct cda_error *err)
{
	struct chain_dump cd;
	struct rule_dump rd;

	memset(nb->seen, 0, sizeof(nb->seen));
	if (!nb->create || (!nb->lock_on && !nb->table_exists))
		goto done;
	if (dump_chains(nb, &cd) < 0)
		return cda_error_sys(err, CDA_EAPPLY, "listing the nftables chains");
	if (nb->lock_on && nb->lock_fwd == ORIGIN_LOCK_FWD_AUTO)
		nb->fwd_on = cd.docker || cd.forward;
	for (int h = 0; h < 2; h++) {
		const struct chain_seen *c = &cd.c[h];
		uint32_t hooknum = h == NFT_LOCK_INPUT ? NF_INET_LOCAL_IN : NF_INET_FORWARD;

		nb->seen[h].exists = c->exists;
		nb->seen[h].recreate = c->exists && (!c->hook || c->hooknum != hooknum ||
						     c->prio != NFT_LOCK_PRIORITY ||
						     strcmp(c->type, "filter") != 0);
	}
	if (nb->seen[0].exists || nb->seen[1].exists) {
		if (dump_rules(nb, &rd) < 0)
			return cda_error_sys(err, CDA_EAPPLY, "listing the rules of %s %s",
					     nb->family_name, nb->table);
		for (int h = 0; h < 2; h++)
			nb->seen[h].ok = nb->lock_on && nb->seen[h].exists &&
					 !nb->seen[h].recreate && cd.c[h].policy == NF_ACCEPT &&
					 !rd.bad[h] &&
					 rd.count[h] == nft_lock_rule_count(&rd.p, &nb->lock, h);
	}
done:
	nft_lock_describe(nb, nb->last);
	return 0;
}

/* What the lock chains need so that they match w (the sets after the transaction). */
bool nft_lock_plan_for(const struct nft_backend *nb, const struct ranges *w,
		       struct nft_lock_plan *lp)
{
	bool any = false;

	memset(lp, 0, sizeof(*lp));
	lp->spec = &nb->lock;
	for (int h = 0; h < 2; h++) {
		lp->exists[h] = nb->seen[h].exists;
		lp->recreate[h] = nb->seen[h].recreate;
		if (nft_lock_wanted(nb, w, h) && !nb->seen[h].ok)
			lp->op[h] = NFT_LOCK_SET;
		else if (!nft_lock_wanted(nb, w, h) && nb->seen[h].exists)
			lp->op[h] = NFT_LOCK_REMOVE;
		any |= lp->op[h] != NFT_LOCK_KEEP;
	}
	return any;
}

/* After a commit of lp: the chains are as planned. */
void nft_lock_committed(struct nft_backend *nb, const struct nft_lock_plan *lp)
{
	for (int h = 0; h < 2; h++) {
		if (lp->op[h] == NFT_LOCK_SET)
			nb->seen[h] = (struct lock_seen){.exists = true, .ok = true};
		else if (lp->op[h] == NFT_LOCK_REMOVE)
			nb->seen[h] = (struct lock_seen){0};
	}
}

/* Remove the lock chains, and nothing else, in one transaction. */
int nft_unlock(struct backend *be, struct cda_error *err)
{
	struct nft_backend *nb = nft_from_base(be);

	if (!nb->create)
		return 0; /* an admin-owned table never has a lock of ours */
	if (nft_nl_ready(nb, err) < 0)
		return -1;
	for (int attempt = 0; attempt < 2; attempt++) {
		struct nft_lock_plan lp = {.spec = &nb->lock};
		struct nft_batch *b = NULL;
		struct nft_plan p = {.table = nb->table, .family = nb->family, .lock = &lp};
		struct nft_outcome o;
		bool any = false;

		if (nft_nl_genid(nb, &p.genid, err) < 0 || nft_read_objects(nb, err) < 0)
			return -1;
		if (!nb->table_exists)
			return 0;
		if (nft_lock_read(nb, err) < 0)
			return -1;
		for (int h = 0; h < 2; h++) {
			if (nb->seen[h].exists) {
				lp.op[h] = NFT_LOCK_REMOVE;
				lp.exists[h] = any = true;
			}
		}
		if (!any)
			return 0;
		p.has_genid = true;
		if (nft_batch_build(&p, nb->seq, &b, err) < 0)
			return -1;
		nb->seq += (uint32_t)nft_batch_msg_count(b);
		if (nft_nl_send(nb, b, &o, err) < 0) {
			nft_batch_free(b);
			return -1;
		}
		/* a commit of someone else first, or no confirmation of ours: look again */
		if (o.error == ERESTART ||
		    nft_outcome_verdict(&o, nb->acks_end) == NFT_UNCONFIRMED) {
			nft_batch_free(b);
			continue;
		}
		if (o.error != 0) {
			nft_nl_refused(nb, b, &p, &o, err);
			nft_batch_free(b);
			return -1;
		}
		nft_batch_free(b);
		nb->known = false; /* the genid moved */
		nft_lock_committed(nb, &lp);
		nft_lock_describe(nb, nb->last);
		return 0;
	}
	cda_error_set(err, CDA_EAPPLY, "the nftables ruleset kept changing while unlocking %s %s",
		      nb->family_name, nb->table);
	err->sys_errno = ERESTART;
	return -1;
}

int nft_drift(struct backend *be, bool *drift, struct cda_error *err)
{
	struct nft_backend *nb = nft_from_base(be);

	*drift = false;
	if (!nb->known)
		return 0;
	for (int h = 0; h < 2; h++) {
		if (nft_lock_wanted(nb, nb->last, h) ? !nb->seen[h].ok : nb->seen[h].exists)
			*drift = true;
	}
	return 0;
}

const char *nft_lock_info(struct backend *be)
{
	struct nft_backend *nb = nft_from_base(be);

	return nb->lock_text[0] != '\0' ? nb->lock_text : NULL;
}
