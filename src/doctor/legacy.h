/* SPDX-License-Identifier: MIT */
/* iptables-legacy's filter table, from its saved text, evaluated for one address and port. */
#ifndef CDNALLOW_DOCTOR_LEGACY_H
#define CDNALLOW_DOCTOR_LEGACY_H

#include <stdint.h>

#include "ranges.h"

/* A new connection from addr (family fam) to port, TCP (l4 0 or 6) or UDP (17). */
struct legacy_probe {
	int fam;
	cda_u128 addr;
	uint16_t port;
	uint8_t l4;
};

enum legacy_res { LEGACY_PASS, LEGACY_DROP, LEGACY_MAYBE };

struct legacy_verdict {
	enum legacy_res res;
	char rule[300]; /* the deciding rule as saved, ":INPUT DROP (the policy)", or "" */
};

/* Evaluate the *filter table of save (iptables-legacy-save output) for p. 0, or -1 on
 * ENOMEM. */
int legacy_eval(const char *save, const struct legacy_probe *p, struct legacy_verdict *out);

#endif
