/* SPDX-License-Identifier: MIT */
/* The iptables backend's ipset code and port parser, shared with the ufw backend. */
#ifndef CDNALLOW_IPTABLES_IPSET_H
#define CDNALLOW_IPTABLES_IPSET_H

#include <stdbool.h>

struct cda_error;
struct ranges;

/*
 * Live set name of family f (0: hash:net family inet, 1: hash:net family inet6), read with
 * `IPSET list -o save`: *exists, and its members added to cur (NULL: only check). A set of
 * another type is CDA_EAPPLY "ipset NAME exists but is not hash:net family F"; a failing
 * command is CDA_EAPPLY with its words and stderr.
 */
int iptables_ipset_read(const char *ipset, int f, const char *name, struct ranges *cur,
			bool *exists, struct cda_error *err);

/*
 * Make set[0] (IPv4) and set[1] (IPv6) hold want's CIDR cover, in one `IPSET -exist restore`:
 * temporaries "NAME-tmp" filled, missing live sets created, swapped in, destroyed. On failure
 * the live sets are as they were and the temporaries are gone.
 */
int iptables_ipset_replace(const char *ipset, const char *const set[2], const struct ranges *want,
			   struct cda_error *err);

/* "80 443,8000:8080" -> "80,443,8000:8080" (malloc'd into *out): 1 to 15 TCP ports or ranges
 * (a range counts twice, multiport's limit). -1 when s is not that. */
int iptables_parse_ports(const char *s, char **out);

#endif
