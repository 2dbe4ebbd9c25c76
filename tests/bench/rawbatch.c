// SPDX-License-Identifier: MIT
/*
 * rawbatch: the floor for cdnallow's nftables benchmarks. The least a program can do to put a
 * list of prefixes into an nftables interval set: read the file, turn each prefix into a start
 * and an end element, and send table + set + elements as one batch (one transaction) with
 * libnftnl/libmnl. No sorting, no merging, no validation beyond parsing, no state, no
 * read-back. Independent of cdnallow's modules on purpose.
 *
 *   rawbatch [-6] [-f] [-t TABLE] [-s SET] [-d DELFILE] [FILE]
 *   rawbatch -G          print the ruleset generation id (commits since boot of the netns)
 *
 * Table "inet TABLE" (default "bench") and set SET (default "s", ipv4_addr or, with -6,
 * ipv6_addr; flags interval) are created if missing. -f flushes the set in the same batch
 * first; -d deletes the prefixes of DELFILE (exactly as they were added) before the adds.
 * Prefixes must not overlap. Prints "msgs=N bytes=N" to stderr. Exit 0 on commit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/common.h>
#include <libnftnl/gen.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

/* One element: big-endian key, end flag. */
struct elem {
	uint8_t key[16];
	bool end;
};

struct elems {
	struct elem *v;
	size_t n, cap;
};

struct ctx {
	struct nftnl_batch *b;
	uint32_t seq;
	const char *table, *set;
	size_t klen;
	size_t msgs;
};

static int push(struct elems *e, const uint8_t *key, size_t klen, bool end)
{
	if (e->n == e->cap) {
		size_t nc = e->cap ? e->cap * 2 : 4096;
		struct elem *v = reallocarray(e->v, nc, sizeof(*v));

		if (v == NULL)
			return -1;
		e->v = v;
		e->cap = nc;
	}
	memcpy(e->v[e->n].key, key, klen);
	e->v[e->n].end = end;
	e->n++;
	return 0;
}

/* Big-endian increment; false when it wrapped (the prefix reaches the top of the space). */
static bool incr(uint8_t *k, size_t len)
{
	for (size_t i = len; i-- > 0;)
		if (++k[i] != 0)
			return true;
	return false;
}

static int load(const char *path, bool v6, struct elems *out)
{
	FILE *fp = path != NULL && strcmp(path, "-") != 0 ? fopen(path, "r") : stdin;
	size_t klen = v6 ? 16 : 4, lineno = 0;
	char line[256];
	int rc = -1;

	if (fp == NULL) {
		perror(path);
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		uint8_t a[16], hi[16];
		char *slash, *nl = strpbrk(line, "\r\n");
		unsigned long plen;

		lineno++;
		if (nl != NULL)
			*nl = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		slash = strchr(line, '/');
		if (slash != NULL)
			*slash++ = '\0';
		plen = slash != NULL ? strtoul(slash, NULL, 10) : klen * 8;
		if (inet_pton(v6 ? AF_INET6 : AF_INET, line, a) != 1 || plen > klen * 8) {
			fprintf(stderr, "rawbatch: %s:%zu: bad prefix\n", path, lineno);
			goto out;
		}
		memcpy(hi, a, klen);
		for (size_t bit = plen; bit < klen * 8; bit++) {
			a[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
			hi[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
		}
		if (push(out, a, klen, false) < 0)
			goto out;
		if (incr(hi, klen) && push(out, hi, klen, true) < 0)
			goto out;
	}
	rc = 0;
out:
	if (fp != stdin)
		fclose(fp);
	return rc;
}

/* Element messages: a new one whenever the element list nest could pass 64 KiB. */
static void put_elems(struct ctx *c, int type, const struct elems *e)
{
	struct nlmsghdr *nlh = NULL;
	struct nlattr *list = NULL;

	for (size_t i = 0; i < e->n; i++) {
		struct nlattr *le, *key;

		if (nlh != NULL && (char *)mnl_nlmsg_get_payload_tail(nlh) - (char *)list + 64 >
					   UINT16_MAX) {
			mnl_attr_nest_end(nlh, list);
			nftnl_batch_update(c->b);
			nlh = NULL;
		}
		if (nlh == NULL) {
			nlh = nftnl_nlmsg_build_hdr(nftnl_batch_buffer(c->b), (uint16_t)type,
						    NFPROTO_INET,
						    type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0,
						    c->seq++);
			mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, c->table);
			mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, c->set);
			list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
			c->msgs++;
		}
		le = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
		key = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
		mnl_attr_put(nlh, NFTA_DATA_VALUE, c->klen, e->v[i].key);
		mnl_attr_nest_end(nlh, key);
		if (e->v[i].end)
			mnl_attr_put_u32(nlh, NFTA_SET_ELEM_FLAGS, htonl(NFT_SET_ELEM_INTERVAL_END));
		mnl_attr_nest_end(nlh, le);
	}
	if (nlh != NULL) {
		mnl_attr_nest_end(nlh, list);
		nftnl_batch_update(c->b);
	}
}

static void put_table_set(struct ctx *c, bool v6)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(64);
	struct nlmsghdr *nlh;

	if (t == NULL || s == NULL || ud == NULL) {
		fprintf(stderr, "rawbatch: out of memory\n");
		exit(1);
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, c->table);
	nlh = nftnl_nlmsg_build_hdr(nftnl_batch_buffer(c->b), NFT_MSG_NEWTABLE, NFPROTO_INET,
				    NLM_F_CREATE, c->seq++);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_batch_update(c->b);

	nftnl_set_set_str(s, NFTNL_SET_TABLE, c->table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, c->set);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, v6 ? 8 : 7); /* nft: ipv6_addr / ipv4_addr */
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, (uint32_t)c->klen);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL);
	nftnl_set_set_u32(s, NFTNL_SET_ID, 1);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, 2); /* big endian, for nft(8) */
	nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
			   nftnl_udata_buf_len(ud));
	nlh = nftnl_nlmsg_build_hdr(nftnl_batch_buffer(c->b), NFT_MSG_NEWSET, NFPROTO_INET,
				    NLM_F_CREATE, c->seq++);
	nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_batch_update(c->b);
	nftnl_udata_buf_free(ud);
	nftnl_set_free(s);
	nftnl_table_free(t);
}

static void put_flush(struct ctx *c)
{
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(nftnl_batch_buffer(c->b), NFT_MSG_DELSETELEM,
						     NFPROTO_INET, 0, c->seq++);

	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, c->table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, c->set);
	nftnl_batch_update(c->b);
}

/* Send the batch in one sendmsg(); wait for the END ack (kernel >= 6.10: after commit). */
static int send_batch(struct ctx *c, uint32_t end_seq)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	int n_iov = nftnl_batch_iovec_len(c->b), one = 1, fd, rc = -1;
	struct iovec *iov = calloc((size_t)n_iov, sizeof(*iov));
	struct sockaddr_nl snl = {.nl_family = AF_NETLINK};
	struct msghdr msg = {0};
	size_t total = 0;
	char buf[65536];

	if (nl == NULL || iov == NULL || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("rawbatch: netlink");
		goto out;
	}
	fd = mnl_socket_get_fd(nl);
	nftnl_batch_iovec(c->b, iov, (uint32_t)n_iov);
	for (int i = 0; i < n_iov; i++)
		total += iov[i].iov_len;
	{
		int sz = (int)(total + 65536), rsz = 1 << 20;

		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rsz, sizeof(rsz)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rsz, sizeof(rsz));
	}
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	msg.msg_name = &snl;
	msg.msg_namelen = sizeof(snl);
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)n_iov;
	if (sendmsg(fd, &msg, 0) < 0) {
		perror("rawbatch: sendmsg");
		goto out;
	}
	fprintf(stderr, "msgs=%zu bytes=%zu\n", c->msgs, total);
	for (;;) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
		int left = (int)len;

		if (len < 0) {
			perror("rawbatch: recv");
			goto out;
		}
		for (; mnl_nlmsg_ok(h, left); h = mnl_nlmsg_next(h, &left)) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);

			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			if (e->error != 0) {
				fprintf(stderr, "rawbatch: kernel: %s (seq %u)\n",
					strerror(-e->error), h->nlmsg_seq);
				goto out;
			}
			if (h->nlmsg_seq == end_seq) {
				rc = 0;
				goto out;
			}
		}
	}
out:
	free(iov);
	if (nl != NULL)
		mnl_socket_close(nl);
	return rc;
}

/* NFT_MSG_GETGEN: one commit bumps the id by exactly one, so before/after counts commits. */
static int print_genid(void)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	char buf[8192];
	struct nftnl_gen *g = nftnl_gen_alloc();
	struct nlmsghdr *nlh;
	int rc = -1;
	ssize_t len;

	if (nl == NULL || g == NULL || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto out;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, 0, 1);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		goto out;
	len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (len <= 0 || ((struct nlmsghdr *)buf)->nlmsg_type == NLMSG_ERROR ||
	    nftnl_gen_nlmsg_parse((struct nlmsghdr *)buf, g) < 0)
		goto out;
	printf("%u\n", nftnl_gen_get_u32(g, NFTNL_GEN_ID));
	rc = 0;
out:
	if (rc < 0)
		perror("rawbatch: getgen");
	if (g != NULL)
		nftnl_gen_free(g);
	if (nl != NULL)
		mnl_socket_close(nl);
	return rc;
}

int main(int argc, char **argv)
{
	struct ctx c = {.table = "bench", .set = "s", .seq = 1, .klen = 4};
	struct elems add = {0}, del = {0};
	const char *delfile = NULL;
	bool v6 = false, flush = false;
	struct nlmsghdr *nlh;
	uint32_t end_seq;
	int opt, rc;

	while ((opt = getopt(argc, argv, "6ft:s:d:G")) != -1) {
		switch (opt) {
		case 'G':
			return print_genid() == 0 ? 0 : 1;
		case '6':
			v6 = true;
			c.klen = 16;
			break;
		case 'f':
			flush = true;
			break;
		case 't':
			c.table = optarg;
			break;
		case 's':
			c.set = optarg;
			break;
		case 'd':
			delfile = optarg;
			break;
		default:
			fprintf(stderr, "usage: rawbatch [-6] [-f] [-t TABLE] [-s SET] "
					"[-d DELFILE] [FILE]\n");
			return 2;
		}
	}
	if (load(optind < argc ? argv[optind] : NULL, v6, &add) < 0 ||
	    (delfile != NULL && load(delfile, v6, &del) < 0))
		return 1;
	c.b = nftnl_batch_alloc(2u << 20, UINT16_MAX + 4096);
	if (c.b == NULL)
		return 1;
	nftnl_batch_begin(nftnl_batch_buffer(c.b), c.seq++);
	nftnl_batch_update(c.b);
	put_table_set(&c, v6);
	if (flush)
		put_flush(&c);
	put_elems(&c, NFT_MSG_DELSETELEM, &del);
	put_elems(&c, NFT_MSG_NEWSETELEM, &add);
	end_seq = c.seq;
	nlh = nftnl_batch_end(nftnl_batch_buffer(c.b), c.seq++);
	nlh->nlmsg_flags |= NLM_F_ACK;
	nftnl_batch_update(c.b);
	rc = send_batch(&c, end_seq);
	nftnl_batch_free(c.b);
	free(add.v);
	free(del.v);
	return rc == 0 ? 0 : 1;
}
