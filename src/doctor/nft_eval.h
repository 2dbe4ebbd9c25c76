/* SPDX-License-Identifier: MIT */
/* The evaluator: "a new TCP connection from these addresses to port P" through the chains. */
#ifndef CDNALLOW_DOCTOR_NFT_EVAL_H
#define CDNALLOW_DOCTOR_NFT_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctx;
struct nft_model;
struct ranges;

enum ev_kind { EV_ACCEPT, EV_DROP, EV_POLICY };

/* A rule or a policy that decides the fate of some of the packets. */
struct event {
	enum ev_kind kind;
	bool maybe, ours;
	bool rate;   /* a drop that only a rate or history match makes uncertain */
	bool behind; /* certain itself, uncertain only behind earlier maybe-accepts */
	bool unknown; /* a verdict not evaluated (V_UNKNOWN): it may accept as well */
	char where[300]; /* "table inet filter chain input handle 7" */
	char desc[300];  /* what the rule says, as far as understood */
	struct ranges *s;
};

/* One evaluation; zero it, set c, n, fam, port (and l4 for UDP), run nft_eval_path(), then
 * nft_eval_finish(). */
struct eval {
	struct ctx *c; /* which sets are ours */
	struct nft_model *n;
	int fam; /* CDA_AF_INET or CDA_AF_INET6 */
	uint16_t port;
	uint8_t l4; /* IPPROTO_UDP, or TCP (IPPROTO_TCP or 0) */
	bool uncertain; /* a maybe-accept happened earlier in this base chain */
	bool via_maybe, via_rate; /* in a chain reached by a maybe-jump (by a rate match) */
	struct ranges *dropped;
	struct event *ev; /* in the order met */
	size_t n_ev;
	bool oom;
};

/*
 * Run the packets from `from` (family ev->fam, normal) to ev->port through every prerouting
 * and input base chain in order. Fills ev->ev and returns in *alive (ranges_free()) the
 * addresses that get through. 0, or -1 on ENOMEM (ev still to be finished).
 */
int nft_eval_path(struct eval *ev, const struct ranges *from, struct ranges **alive);

/* Free the events; ev can be filled again. */
void nft_eval_finish(struct eval *ev);

#endif
