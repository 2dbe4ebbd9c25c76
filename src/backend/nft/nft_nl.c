// SPDX-License-Identifier: MIT
/* Netlink for the nftables backend: requests, a batch sent whole, the kernel's verdict. */
#include "nft_backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "cda_error.h"
#include "nft_batch.h"
#include "ranges.h"

#define RECV_BUF (64u << 10)
/* Netlink attribute bytes of one element (src/nft/batch.c writes exactly these). */
#define ELEM4_START 16u
#define ELEM4_END 24u
#define ELEM6_START 28u
#define ELEM6_END 36u

int nft_nl_ready(struct nft_backend *nb, struct cda_error *err)
{
	int one = 1;

	if (nb->nl != NULL)
		return 0;
	if ((nb->buf = malloc(RECV_BUF)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the netlink buffer");
	/* not inherited by the reload and check commands other targets run */
	nb->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (nb->nl == NULL || mnl_socket_bind(nb->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		cda_error_sys(err, CDA_EAPPLY, "opening a netfilter netlink socket");
		if (nb->nl != NULL)
			mnl_socket_close(nb->nl);
		nb->nl = NULL;
		return -1;
	}
	/* Errors without the echoed request, with the kernel's reason and offset. */
	mnl_socket_setsockopt(nb->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nb->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	nb->portid = mnl_socket_get_portid(nb->nl);
	nb->seq = (uint32_t)time(NULL);
	return 0;
}

/* Whether buf holds the end of the answer to seq: NLMSG_DONE or the final NLMSG_ERROR. */
static bool answer_ends(const void *buf, size_t n, uint32_t seq)
{
	const struct nlmsghdr *nlh = buf;
	int len = (int)n;

	for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len))
		if (nlh->nlmsg_seq == seq &&
		    (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR))
			return true;
	return false;
}

/*
 * Send one request and run cb over the replies until the ack or DONE; errno on failure.
 * A dump that a commit interrupted (NLM_F_DUMP_INTR: libmnl says EINTR) is read to its end,
 * so that the next request does not meet its rest, and fails with EINTR: dump again.
 */
int nft_nl_talk(struct nft_backend *nb, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	uint32_t seq = nlh->nlmsg_seq; /* nlh lives in buf, which the replies overwrite */
	bool intr = false;
	int ret;

	if (mnl_socket_sendto(nb->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	do {
		ssize_t n = mnl_socket_recvfrom(nb->nl, nb->buf, RECV_BUF);

		if (n < 0)
			return -1;
		if (!intr) {
			ret = mnl_cb_run(nb->buf, (size_t)n, seq, nb->portid, cb, data);
			if (ret >= 0 || errno != EINTR)
				continue;
			intr = true;
		}
		ret = answer_ends(nb->buf, (size_t)n, seq) ? 0 : 1;
	} while (ret > 0);
	if (intr)
		errno = EINTR;
	return ret < 0 || intr ? -1 : 0;
}

struct nlmsghdr *nft_nl_req(struct nft_backend *nb, int type, uint16_t family, uint16_t flags)
{
	return nftnl_nlmsg_build_hdr(nb->buf, (uint16_t)type, family, flags, nb->seq++);
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *a;

	mnl_attr_for_each (a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == NFTA_GEN_ID &&
		    mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
			*(uint32_t *)data = ntohl(mnl_attr_get_u32(a));
			return MNL_CB_OK;
		}
	return MNL_CB_OK;
}

int nft_nl_genid(struct nft_backend *nb, uint32_t *genid, struct cda_error *err)
{
	struct nlmsghdr *nlh = nft_nl_req(nb, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK);

	*genid = 0;
	if (nft_nl_talk(nb, nlh, gen_cb, genid) < 0)
		return cda_error_sys(err, CDA_EAPPLY, "reading the nftables generation id");
	return 0;
}

static void set_bufs(int fd, int opt_force, int opt, size_t want)
{
	int v = want > (size_t)(1 << 30) ? 1 << 30 : (int)want;

	if (setsockopt(fd, SOL_SOCKET, opt_force, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v));
}

/*
 * Whether the kernel acks a batch's END, which it does only after a commit (Linux 6.10+),
 * so that a missing END ack means "not committed". An END ack answers it; without one, asked
 * once per socket: a BEGIN with NLM_F_ACK alone, a batch without END, which the kernel
 * aborts, changing nothing; those kernels ack the BEGIN, older ones ack neither. The probe
 * is asked only then: its abort costs ~15 ms of wall time (half a 1k-prefix apply).
 */
static void probe_end_acks(struct nft_backend *nb)
{
	int fd = mnl_socket_get_fd(nb->nl);
	char req[64] = {0};
	struct nlmsghdr *nlh = nftnl_batch_begin(req, nb->seq);
	uint32_t seq = nb->seq++;

	nb->acks_probed = true;
	nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nb->nl, nlh, nlh->nlmsg_len) < 0)
		return;
	for (;;) {
		ssize_t n = recv(fd, nb->buf, RECV_BUF, MSG_DONTWAIT);
		const struct nlmsghdr *r = (const struct nlmsghdr *)nb->buf;
		int len = (int)n;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (; mnl_nlmsg_ok(r, len); r = mnl_nlmsg_next(r, &len)) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(r);

			if (r->nlmsg_type == NLMSG_ERROR &&
			    r->nlmsg_len >= mnl_nlmsg_size(sizeof(*e)) && e->error == 0 &&
			    e->msg.nlmsg_seq == seq)
				nb->acks_end = true;
		}
	}
}

int nft_nl_send(struct nft_backend *nb, const struct nft_batch *b, struct nft_outcome *o,
		struct cda_error *err)
{
	int fd = mnl_socket_get_fd(nb->nl);
	struct sockaddr_nl snl = {.nl_family = AF_NETLINK};
	size_t n_iov, total, msgs = nft_batch_msg_count(b);
	const struct iovec *iov = nft_batch_iov(b, &n_iov, &total);
	struct msghdr mh = {.msg_name = &snl,
			    .msg_namelen = sizeof(snl),
			    .msg_iov = (struct iovec *)(uintptr_t)iov,
			    .msg_iovlen = n_iov};

	memset(o, 0, sizeof(*o));
	set_bufs(fd, SO_SNDBUFFORCE, SO_SNDBUF, total + (64u << 10));
	/* ~1 KiB per message: only failing messages and END are acked, without echo. */
	set_bufs(fd, SO_RCVBUFFORCE, SO_RCVBUF, msgs > 256 ? msgs * 1024 : 256u << 10);
	if (sendmsg(fd, &mh, 0) < 0)
		return cda_error_sys(err, CDA_EAPPLY,
				     "sending the nft batch (%zu bytes, %zu messages)", total,
				     msgs);
	/* The kernel processed the whole batch inside sendmsg(): every ack is queued now. */
	for (;;) {
		ssize_t n = recv(fd, nb->buf, RECV_BUF, MSG_DONTWAIT);
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)nb->buf;
		int len = (int)n;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				o->lost = true;
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return cda_error_sys(err, CDA_EAPPLY, "reading nft batch acks");
		}
		while (mnl_nlmsg_ok(nlh, len)) {
			nft_batch_ack(b, nlh, o);
			nlh = mnl_nlmsg_next(nlh, &len);
		}
	}
	if (o->end_acked) {
		nb->acks_probed = true;
		nb->acks_end = true;
	} else if (!nb->acks_probed) {
		probe_end_acks(nb);
	}
	return 0;
}

static void fmt_addr(int fam, cda_u128 a, char *buf)
{
	struct cidr c = {.addr = a, .family = (uint8_t)fam, .plen = fam == CDA_AF_INET ? 32 : 128};
	char *slash;

	cidr_format(&c, buf);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
}

/* A prefix when [lo, hi] is one, else "lo-hi". */
static void fmt_range(int fam, cda_u128 lo, cda_u128 hi, char *buf, size_t size)
{
	int bits = fam == CDA_AF_INET ? 32 : 128;
	cda_u128 span = hi - lo; /* size - 1, no overflow */
	struct cidr c = {.addr = lo, .family = (uint8_t)fam};
	char a[CIDR_STRLEN], b[CIDR_STRLEN];

	if ((span & (span + 1)) == 0 && (lo & span) == 0) {
		int host = 0;

		while (host < bits && ((span >> host) & 1))
			host++;
		c.plen = (uint8_t)(bits - host);
		cidr_format(&c, a);
		snprintf(buf, size, "%s", a);
		return;
	}
	fmt_addr(fam, lo, a);
	fmt_addr(fam, hi, b);
	snprintf(buf, size, "%s-%s", a, b);
}

/* Which item of the message the kernel's attribute offset points into. */
static size_t locate(const struct nft_msg_info *mi, const struct ranges *r, uint32_t offs)
{
	size_t pos, at = 0;

	if (offs < mi->elem_offset + 4)
		return mi->first;
	pos = offs - mi->elem_offset - 4;
	for (size_t i = mi->first; i < mi->first + mi->count; i++) {
		size_t sz;

		if (mi->fam == CDA_AF_INET)
			sz = ELEM4_START + (ranges_v4(r)[i].hi != UINT32_MAX ? ELEM4_END : 0);
		else
			sz = ELEM6_START + (ranges_v6(r)[i].hi != ~(cda_u128)0 ? ELEM6_END : 0);
		if (pos < at + sz)
			return i;
		at += sz;
	}
	return mi->first;
}

int nft_nl_refused(struct nft_backend *nb, const struct nft_batch *b, const struct nft_plan *p,
		   const struct nft_outcome *o, struct cda_error *err)
{
	const struct nft_msg_info *mi = nft_batch_msg(b, o->seq);
	char what[1024], kmsg[110] = "";
	const char *set = "";

	if (o->kmsg[0] != '\0')
		snprintf(kmsg, sizeof(kmsg), " (%s)", o->kmsg);
	if (mi != NULL && mi->fam != 0)
		set = mi->fam == CDA_AF_INET ? nb->set[0] : nb->set[1];
	/* the whole batch, unless the message is one of the kinds named below */
	snprintf(what, sizeof(what), "the batch for table %s %s", nb->family_name, nb->table);
	if (mi == NULL) {
		/* the kernel named no message of ours */
	} else if (mi->kind == NFT_MSG_NEWTABLE) {
		snprintf(what, sizeof(what), "creating table %s %s", nb->family_name, nb->table);
	} else if (mi->kind == NFT_MSG_NEWSET) {
		snprintf(what, sizeof(what), "creating set %s %s %s", nb->family_name, nb->table,
			 set);
	} else if (mi->kind == NFT_MSG_NEWCHAIN || mi->kind == NFT_MSG_DELCHAIN ||
		   mi->kind == NFT_MSG_DELRULE || mi->kind == NFT_MSG_NEWRULE) {
		const char *chain = nft_lock_chain[mi->first < 2 ? mi->first : 0];

		if (mi->kind == NFT_MSG_NEWRULE)
			snprintf(what, sizeof(what),
				 "adding rule %zu of the origin lock to chain %s %s %s",
				 mi->count + 1, nb->family_name, nb->table, chain);
		else
			snprintf(what, sizeof(what), "%s chain %s %s %s (origin lock)",
				 mi->kind == NFT_MSG_NEWCHAIN   ? "creating"
				 : mi->kind == NFT_MSG_DELCHAIN ? "deleting"
								: "flushing",
				 nb->family_name, nb->table, chain);
	} else if (mi->kind == NFT_MSG_DELSETELEM && mi->count == 0) {
		snprintf(what, sizeof(what), "flushing set %s %s %s", nb->family_name, nb->table,
			 set);
	} else if (mi->kind == NFT_MSG_DELSETELEM || mi->kind == NFT_MSG_NEWSETELEM) {
		bool add = mi->kind == NFT_MSG_NEWSETELEM;
		const struct ranges *r = add ? p->add : p->del;
		size_t i = o->has_offs ? locate(mi, r, o->offs) : mi->first;
		char rng[2 * CIDR_STRLEN + 8], more[48] = "";

		if (mi->fam == CDA_AF_INET)
			fmt_range(CDA_AF_INET, ranges_v4(r)[i].lo, ranges_v4(r)[i].hi, rng,
				  sizeof(rng));
		else
			fmt_range(CDA_AF_INET6, ranges_v6(r)[i].lo, ranges_v6(r)[i].hi, rng,
				  sizeof(rng));
		if (!o->has_offs && mi->count > 1)
			snprintf(more, sizeof(more), " (or one of %zu more)", mi->count - 1);
		snprintf(what, sizeof(what), "%s %s%s %s set %s %s %s", add ? "adding" : "deleting",
			 rng, more, add ? "to" : "from", nb->family_name, nb->table, set);
	}
	cda_error_set(err, CDA_EAPPLY, "kernel refused %s: %s%s; nothing was changed", what,
		      strerror(o->error), kmsg);
	err->sys_errno = o->error;
	return -1;
}
