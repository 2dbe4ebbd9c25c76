/* SPDX-License-Identifier: MIT */
/* fetch_msg: what the unprivileged fetch child hands back, and its checked wire format. */
#ifndef CDNALLOW_FETCH_MSG_H
#define CDNALLOW_FETCH_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "cda_error.h"
#include "ranges.h"
#include "state.h"

#define FETCH_MSG_VERSION 1

/* How the child's run as a whole went. */
enum fetch_outcome {
	FETCH_MSG_RESULTS = 0, /* one result per source follows */
	FETCH_MSG_FAILED,      /* the fetch machinery failed (err): the run cannot go on */
	FETCH_MSG_SANDBOX,     /* the child could not enter its sandbox (err): nothing fetched */
};

/* How one source went. */
enum fetch_result_kind {
	FETCH_RES_NEW = 0,	  /* a new list (list, hostbits, dropped) */
	FETCH_RES_NOT_MODIFIED, /* every URL answered 304: the last good list stands */
	FETCH_RES_FAILED,	  /* err says why */
};

/* One source's outcome. */
struct fetch_result {
	enum fetch_result_kind kind;
	struct cda_error err;	  /* FAILED: class, errno, origin, line, message; else zero */
	struct ranges *list;	  /* NEW: normal (sorted, merged); NULL otherwise */
	struct source_meta meta;  /* n_urls, each URL's validators, the token; times unused */
	unsigned int hostbits;	  /* NEW: entries whose host bits were cleared */
	struct cidr_list dropped; /* NEW: special-purpose prefixes dropped */
};

/* The child's whole answer: outcome, and for FETCH_MSG_RESULTS one result per source. */
struct fetch_answer {
	enum fetch_outcome outcome;
	struct cda_error err; /* FETCH_MSG_FAILED, FETCH_MSG_SANDBOX */
	struct fetch_result *res;
	size_t n;
};

/*
 * Encode a into *out (malloc'd, *len bytes): a header (magic, version, outcome, total
 * length, count), the outcome's error record, one length-prefixed record per result, and
 * a CRC-32 of all that. Integers little-endian of fixed width, strings length-prefixed, no
 * pointers. -1 with errno ENOMEM (or EINVAL for a value the format cannot hold).
 */
int fetch_msg_encode(const struct fetch_answer *a, char **out, size_t *len);

/*
 * Decode buf[0..len) into *a, trusting nothing: magic, checksum (against accidents: a
 * hostile child computes it too), version and total length; outcome,
 * kinds and error classes in range; n results, result i with n_urls[i] URLs; every count
 * bounded by the bytes left, every string shorter than its field and free of NUL bytes;
 * each family's intervals valid (lo <= hi), sorted, disjoint and not adjacent; no list,
 * hostbits or dropped prefix but in a new list; dropped prefixes valid with no host bits;
 * each record used up exactly and nothing after the last. -1 (CDA_EFETCH "malformed
 * answer: ...", or CDA_ESYS when memory runs out) with *a empty; 0 with *a the caller's to
 * fetch_answer_finish(). Pure.
 */
int fetch_msg_decode(const char *buf, size_t len, const unsigned int *n_urls, size_t n,
		     struct fetch_answer *a, struct cda_error *err);

/* CRC-32 (IEEE 802.3) of data[0..n): the answer's trailer. Pure. */
uint32_t fetch_msg_crc32(const void *data, size_t n);

/* Free the results (lists, dropped) and zero *a. NULL-safe, idempotent. */
void fetch_answer_finish(struct fetch_answer *a);

#endif
