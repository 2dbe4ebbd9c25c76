/* SPDX-License-Identifier: MIT */
/* One rule's expressions evaluated symbolically: which source addresses it matches, and how. */
#ifndef CDNALLOW_DOCTOR_NFT_EXPR_H
#define CDNALLOW_DOCTOR_NFT_EXPR_H

#include <stdbool.h>

struct eval;
struct nchain;
struct nftnl_rule;
struct ranges;

#define V_NONE 1000
#define V_UNKNOWN 1001 /* a verdict not evaluated (a verdict map on the source address) */

/* What one rule does to the packets reaching it. */
struct match {
	struct ranges *s; /* source addresses that match */
	bool maybe, ours, none;
	bool rate; /* maybe because of a rate or history match (limit, recent, ...) */
	int verdict; /* NF_ACCEPT, NF_DROP, NFT_JUMP, NFT_GOTO, NFT_RETURN, V_NONE */
	bool reject; /* the drop is a reject (already in desc) */
	const char *target;
	char desc[300];
};

/*
 * Narrow m->s (the addresses reaching rule r of chain ch, set by the caller along with
 * m->verdict = V_NONE) to those r matches, and fill the rest of *m. Sets whose elements are
 * needed are loaded on ev->n's socket. 0, or -1 on ENOMEM.
 */
int nft_expr_match(struct eval *ev, const struct nchain *ch, struct nftnl_rule *r, struct match *m);

/* Append " text" to m->desc (cut to fit). */
void nft_expr_dcat(struct match *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
