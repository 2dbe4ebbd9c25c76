/* SPDX-License-Identifier: MIT */
/* The kernel's ipsets as `-m set` matches need them: kernel index, name, family, members. */
#ifndef CDNALLOW_DOCTOR_IPSETS_H
#define CDNALLOW_DOCTOR_IPSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ranges.h"

#define IPSETS_NO_INDEX UINT32_MAX

struct ipset_info {
	char name[32];
	uint32_t index; /* the kernel's, IPSETS_NO_INDEX until resolved */
	int fam;        /* CDA_AF_INET or CDA_AF_INET6 */
	bool broken;    /* a type or option not modelled (ports, interfaces, nomatch, netmask) */
	struct ranges *elems; /* members as intervals (normal once parsed) */
};

struct ipsets {
	struct ipset_info *v;
	size_t n;
};

/* Parse `ipset save` output. 0, or -1 on ENOMEM. *out is freed with ipsets_free(). */
int ipsets_parse(const char *save, struct ipsets **out);

/* Each set's kernel index, asked by name over SO_IP_SET (needs CAP_NET_ADMIN); a set not
 * found keeps IPSETS_NO_INDEX. */
void ipsets_resolve(struct ipsets *s);

/* `ipset save` run now, parsed and resolved: 0, or -1 when ipset cannot be run (*out NULL)
 * or on ENOMEM. */
int ipsets_load(const char *ipset_cmd, struct ipsets **out);

const struct ipset_info *ipsets_by_index(const struct ipsets *s, uint32_t index);
void ipsets_free(struct ipsets *s);

#endif
