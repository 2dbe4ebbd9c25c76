// SPDX-License-Identifier: MIT
/* One nft transaction as netlink bytes: BEGIN, table, sets, elements, (lock), END. */
#include "nft_batch.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/common.h>
#include <libnftnl/udata.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "batch_priv.h"
#include "cda_error.h"
#include "ranges.h"

#define BATCH_PAGE (2u << 20)
#define BATCH_OVERRUN (UINT16_MAX + 4096u)
/* Largest interval in bytes: IPv6 start (28) + end with flags (36). */
#define MAX_RANGE_BYTES 64u
/* nft's datatype numbers (nftables include/datatype.h) and byte order (BYTEORDER_BIG_ENDIAN) */
#define TYPE_IPADDR 7u
#define TYPE_IP6ADDR 8u
#define BYTEORDER_BIG 2u

struct nft_msg_info *nft_batch_new_info(struct nft_batch *b, int kind, int fam)
{
	struct nft_msg_info *mi;

	if (b->n_msgs == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct nft_msg_info *v = reallocarray(b->msgs, cap, sizeof(*v));

		if (v == NULL)
			return NULL;
		b->msgs = v;
		b->cap = cap;
	}
	mi = &b->msgs[b->n_msgs++];
	memset(mi, 0, sizeof(*mi));
	/* The message about to be built starts here; at least BATCH_OVERRUN bytes are free.
	 * Zero them: libmnl 1.0.4 leaves attribute padding unwritten (valgrind sees it sent). */
	memset(nftnl_batch_buffer(b->nb), 0, BATCH_OVERRUN);
	mi->seq = b->seq++;
	mi->kind = kind;
	mi->fam = fam;
	return mi;
}

static void put_elem(struct nlmsghdr *nlh, const uint8_t *key, size_t len, bool end)
{
	struct nlattr *el = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	struct nlattr *k = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);

	mnl_attr_put(nlh, NFTA_DATA_VALUE, len, key);
	mnl_attr_nest_end(nlh, k);
	if (end)
		mnl_attr_put_u32(nlh, NFTA_SET_ELEM_FLAGS, htonl(NFT_SET_ELEM_INTERVAL_END));
	mnl_attr_nest_end(nlh, el);
}

/* Put one interval: start key lo, end key hi+1 unless hi is the top address. */
static void put_range(struct nlmsghdr *nlh, int fam, size_t i, const struct ranges *r)
{
	uint8_t k[16];

	if (fam == CDA_AF_INET) {
		const struct range4 *v = &ranges_v4(r)[i];

		nft_batch_key4(v->lo, k);
		put_elem(nlh, k, 4, false);
		if (v->hi != UINT32_MAX) {
			nft_batch_key4(v->hi + 1, k);
			put_elem(nlh, k, 4, true);
		}
	} else {
		const struct range6 *v = &ranges_v6(r)[i];

		nft_batch_key6(v->lo, k);
		put_elem(nlh, k, 16, false);
		if (v->hi != ~(cda_u128)0) {
			nft_batch_key6(v->hi + 1, k);
			put_elem(nlh, k, 16, true);
		}
	}
}

static struct nlmsghdr *elem_hdr(struct nft_batch *b, const struct nft_plan *p, int kind,
				 const char *set, struct nft_msg_info *mi)
{
	struct nlmsghdr *nlh;

	nlh = nftnl_nlmsg_build_hdr(nftnl_batch_buffer(b->nb), (uint16_t)kind, p->family,
				    kind == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0, mi->seq);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, p->table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	return nlh;
}

/* All items of one family of r as DELSETELEM/NEWSETELEM messages, each nest <= 64 KiB. */
static int put_elems(struct nft_batch *b, const struct nft_plan *p, int kind, int fam,
		     const struct ranges *r)
{
	const char *set = fam == CDA_AF_INET ? p->set_v4 : p->set_v6;
	size_t n = fam == CDA_AF_INET ? ranges_count4(r) : ranges_count6(r);
	size_t i = 0;

	while (i < n) {
		struct nft_msg_info *mi = nft_batch_new_info(b, kind, fam);
		struct nlmsghdr *nlh;
		struct nlattr *list;

		if (mi == NULL)
			return -1;
		nlh = elem_hdr(b, p, kind, set, mi);
		list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
		mi->elem_offset = (uint32_t)((char *)list - (char *)nlh);
		mi->first = i;
		while (i < n && (size_t)((char *)mnl_nlmsg_get_payload_tail(nlh) - (char *)list) +
						MAX_RANGE_BYTES <=
					UINT16_MAX) {
			put_range(nlh, fam, i, r);
			i++;
		}
		mi->count = i - mi->first;
		mnl_attr_nest_end(nlh, list);
		b->elem_msgs++;
		if (nftnl_batch_update(b->nb) < 0)
			return -1;
	}
	return 0;
}

static int put_flush(struct nft_batch *b, const struct nft_plan *p, int fam)
{
	struct nft_msg_info *mi = nft_batch_new_info(b, NFT_MSG_DELSETELEM, fam);

	if (mi == NULL)
		return -1;
	elem_hdr(b, p, NFT_MSG_DELSETELEM, fam == CDA_AF_INET ? p->set_v4 : p->set_v6, mi);
	return nftnl_batch_update(b->nb);
}

static int put_table(struct nft_batch *b, const struct nft_plan *p)
{
	struct nft_msg_info *mi = nft_batch_new_info(b, NFT_MSG_NEWTABLE, 0);
	struct nlmsghdr *nlh;

	if (mi == NULL)
		return -1;
	nlh = nftnl_nlmsg_build_hdr(nftnl_batch_buffer(b->nb), NFT_MSG_NEWTABLE, p->family,
				    NLM_F_CREATE, mi->seq);
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, p->table);
	return nftnl_batch_update(b->nb);
}

static int put_set(struct nft_batch *b, const struct nft_plan *p, int fam, uint32_t id)
{
	struct nft_msg_info *mi = nft_batch_new_info(b, NFT_MSG_NEWSET, fam);
	struct nftnl_udata_buf *ud;
	struct nlmsghdr *nlh;

	if (mi == NULL || (ud = nftnl_udata_buf_alloc(64)) == NULL)
		return -1;
	/* Read only by nft(8): print keys as addresses, merge when nft itself adds. */
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, BYTEORDER_BIG);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_MERGE_ELEMENTS, 1);
	nlh = nftnl_nlmsg_build_hdr(nftnl_batch_buffer(b->nb), NFT_MSG_NEWSET, p->family,
				    NLM_F_CREATE, mi->seq);
	mnl_attr_put_strz(nlh, NFTA_SET_TABLE, p->table);
	mnl_attr_put_strz(nlh, NFTA_SET_NAME, fam == CDA_AF_INET ? p->set_v4 : p->set_v6);
	mnl_attr_put_u32(nlh, NFTA_SET_FLAGS, htonl(NFT_SET_INTERVAL));
	mnl_attr_put_u32(nlh, NFTA_SET_KEY_TYPE,
			 htonl(fam == CDA_AF_INET ? TYPE_IPADDR : TYPE_IP6ADDR));
	mnl_attr_put_u32(nlh, NFTA_SET_KEY_LEN, htonl(fam == CDA_AF_INET ? 4 : 16));
	mnl_attr_put_u32(nlh, NFTA_SET_ID, htonl(id));
	mnl_attr_put(nlh, NFTA_SET_USERDATA, nftnl_udata_buf_len(ud), nftnl_udata_buf_data(ud));
	nftnl_udata_buf_free(ud);
	return nftnl_batch_update(b->nb);
}

static int build(struct nft_batch *b, const struct nft_plan *p)
{
	const char *sets[2] = {p->set_v4, p->set_v6};
	const int fams[2] = {CDA_AF_INET, CDA_AF_INET6};
	struct nft_msg_info *mi;
	struct nlmsghdr *nlh;

	if ((mi = nft_batch_new_info(b, NFNL_MSG_BATCH_BEGIN, 0)) == NULL)
		return -1;
	nlh = nftnl_batch_begin(nftnl_batch_buffer(b->nb), mi->seq);
	if (p->has_genid)
		mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(p->genid));
	if (nftnl_batch_update(b->nb) < 0)
		return -1;
	if (p->create) {
		if (put_table(b, p) < 0)
			return -1;
		for (int i = 0; i < 2; i++)
			if (sets[i] != NULL && put_set(b, p, fams[i], (uint32_t)i + 1) < 0)
				return -1;
	}
	/* Deletes first: the kernel checks overlaps against the next generation. */
	for (int i = 0; i < 2; i++) {
		if (sets[i] == NULL)
			continue;
		if (p->flush) {
			if (put_flush(b, p, fams[i]) < 0)
				return -1;
		} else if (p->del != NULL &&
			   put_elems(b, p, NFT_MSG_DELSETELEM, fams[i], p->del) < 0) {
			return -1;
		}
	}
	for (int i = 0; i < 2; i++)
		if (sets[i] != NULL && p->add != NULL &&
		    put_elems(b, p, NFT_MSG_NEWSETELEM, fams[i], p->add) < 0)
			return -1;
	/* The lock after the elements: same transaction, so it never sees a partial set. */
	for (int h = 0; p->lock != NULL && h < 2; h++)
		if (nft_batch_put_lock(b, p, h) < 0)
			return -1;
	if ((mi = nft_batch_new_info(b, NFNL_MSG_BATCH_END, 0)) == NULL)
		return -1;
	b->end_seq = mi->seq;
	nlh = nftnl_batch_end(nftnl_batch_buffer(b->nb), mi->seq);
	/* Since 6.10 this ack is sent only after a successful commit. */
	nlh->nlmsg_flags |= NLM_F_ACK;
	return nftnl_batch_update(b->nb);
}

int nft_batch_build(const struct nft_plan *plan, uint32_t seq0, struct nft_batch **out,
		    struct cda_error *err)
{
	struct nft_batch *b;
	int n;

	if (plan == NULL || plan->table == NULL)
		return cda_error_set(err, CDA_ESYS, "nft batch: no table in the plan");
	if ((b = calloc(1, sizeof(*b))) == NULL)
		goto nomem;
	b->seq0 = b->seq = seq0;
	if ((b->nb = nftnl_batch_alloc(BATCH_PAGE, BATCH_OVERRUN)) == NULL || build(b, plan) < 0)
		goto nomem;
	n = nftnl_batch_iovec_len(b->nb);
	if (n <= 0 || (b->iov = reallocarray(NULL, (size_t)n, sizeof(*b->iov))) == NULL)
		goto nomem;
	nftnl_batch_iovec(b->nb, b->iov, (uint32_t)n);
	b->n_iov = (size_t)n;
	for (size_t i = 0; i < b->n_iov; i++)
		b->total += b->iov[i].iov_len;
	*out = b;
	return 0;
nomem:
	if (errno == 0)
		errno = ENOMEM;
	cda_error_sys(err, CDA_ESYS, "building the nft batch");
	nft_batch_free(b);
	return -1;
}

void nft_batch_free(struct nft_batch *b)
{
	if (b == NULL)
		return;
	if (b->nb != NULL)
		nftnl_batch_free(b->nb);
	free(b->iov);
	free(b->msgs);
	free(b);
}

const struct iovec *nft_batch_iov(const struct nft_batch *b, size_t *n_iov, size_t *total)
{
	if (n_iov != NULL)
		*n_iov = b->n_iov;
	if (total != NULL)
		*total = b->total;
	return b->iov;
}

size_t nft_batch_msg_count(const struct nft_batch *b)
{
	return b->n_msgs;
}

const struct nft_msg_info *nft_batch_msg(const struct nft_batch *b, uint32_t seq)
{
	uint32_t i = seq - b->seq0;

	return i < b->n_msgs ? &b->msgs[i] : NULL;
}

uint32_t nft_batch_end_seq(const struct nft_batch *b)
{
	return b->end_seq;
}

size_t nft_batch_elem_msgs(const struct nft_batch *b)
{
	return b->elem_msgs;
}

void nft_batch_ack(const struct nft_batch *b, const struct nlmsghdr *nlh, struct nft_outcome *o)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	size_t off = sizeof(*e);

	if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return;
	if (e->error == 0) {
		if (e->msg.nlmsg_seq == b->end_seq)
			o->end_acked = true;
		return;
	}
	if (o->n_errors++ > 0)
		return;
	o->error = -e->error;
	o->seq = e->msg.nlmsg_seq;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (mnl_nlmsg_size(off) > nlh->nlmsg_len)
		return;
	mnl_attr_for_each (a, nlh, off) {
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0) {
			snprintf(o->kmsg, sizeof(o->kmsg), "%s", mnl_attr_get_str(a));
		} else if (mnl_attr_get_type(a) == NLMSGERR_ATTR_OFFS &&
			   mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
			o->has_offs = true;
			o->offs = mnl_attr_get_u32(a);
		}
	}
}

enum nft_verdict nft_outcome_verdict(const struct nft_outcome *o, bool acks_end)
{
	if (o->error != 0)
		return NFT_REFUSED;
	/* lost acks; or no END ack: a batch that lost its END is aborted without a word */
	if (o->lost || (acks_end && !o->end_acked))
		return NFT_UNCONFIRMED;
	return NFT_COMMITTED;
}
