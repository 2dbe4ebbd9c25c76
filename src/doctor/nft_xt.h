/* SPDX-License-Identifier: MIT */
/* The xtables matches iptables-nft leaves in nft rules (`xt match NAME`), decoded from their blobs. */
#ifndef CDNALLOW_DOCTOR_NFT_XT_H
#define CDNALLOW_DOCTOR_NFT_XT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ranges.h"

/* The packet asked about: the first packet (a SYN for TCP) of a new connection from a remote
 * unicast address to a local address of this host. */
struct xt_pkt {
	int fam;     /* CDA_AF_INET or CDA_AF_INET6 */
	uint8_t l4;  /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t dport;
};

enum xt_res {
	XT_YES,   /* matches every such packet */
	XT_NO,    /* matches none */
	XT_MAYBE, /* depends on what is not modelled (history, rates, interfaces, ...) */
	XT_SRC,   /* matches the sources in [lo, hi] (or outside, inv) */
	XT_SET,   /* matches the sources in ipset number set_index (or outside, inv) */
};

struct xt_out {
	enum xt_res res;
	bool inv;
	bool rate; /* XT_MAYBE because of earlier connections' rate (limit, recent, ...) */
	cda_u128 lo, hi;
	uint32_t set_index;
	char desc[128]; /* in iptables' words: "-m conntrack --ctstate INVALID" */
};

/*
 * What match `name` revision rev with info[0..len) does to packet p. A name, revision or
 * length not known gives XT_MAYBE with desc "-m NAME".
 */
void nft_xt_match(const char *name, uint32_t rev, const void *info, size_t len,
		  const struct xt_pkt *p, struct xt_out *o);

#endif
