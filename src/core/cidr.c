// SPDX-License-Identifier: MIT
/* One prefix: strict text parsing, canonical formatting, bounds, order; two lists' delta. */
#include "ranges.h"

#include <arpa/inet.h>
#include <string.h>

#define U128_MAX (~(cda_u128)0)

static unsigned int fam_bits(int fam)
{
	return fam == CDA_AF_INET ? 32 : 128;
}

/* Mask of the host part for a prefix length (all ones below the prefix). */
static cda_u128 host_mask(int fam, unsigned int plen)
{
	unsigned int host = fam_bits(fam) - plen;

	if (host == 0)
		return 0;
	if (host >= 128)
		return U128_MAX;
	return ((cda_u128)1 << host) - 1;
}

static int parse_plen(const char *s, size_t len, unsigned int max, unsigned int *out)
{
	unsigned int v = 0;

	if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* Fast strict dotted quad: exactly four decimal octets, no leading zeros. */
static int parse_v4(const char *s, size_t len, uint32_t *out)
{
	uint32_t addr = 0;
	unsigned int octets = 0, val = 0, digits = 0;

	for (size_t i = 0; i <= len; i++) {
		char ch = i < len ? s[i] : '.';

		if (ch >= '0' && ch <= '9') {
			if (digits == 1 && val == 0)
				return -1; /* leading zero */
			val = val * 10 + (unsigned int)(ch - '0');
			if (++digits > 3 || val > 255)
				return -1;
		} else if (ch == '.') {
			if (digits == 0 || octets == 4)
				return -1;
			addr = addr << 8 | val;
			octets++;
			val = 0;
			digits = 0;
		} else {
			return -1;
		}
	}
	if (octets != 4)
		return -1;
	*out = addr;
	return 0;
}

static int parse_v6(const char *s, size_t len, cda_u128 *out)
{
	char buf[INET6_ADDRSTRLEN + 1];
	unsigned char b[16];
	cda_u128 v = 0;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		/* inet_pton takes no zone ids or spaces, but be explicit about the alphabet */
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
		      (ch >= 'A' && ch <= 'F') || ch == ':' || ch == '.'))
			return -1;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET6, buf, b) != 1)
		return -1;
	for (int i = 0; i < 16; i++)
		v = v << 8 | b[i];
	*out = v;
	return 0;
}

enum cidr_parse_result cidr_parse(const char *s, size_t len, struct cidr *out, bool *bare)
{
	const char *slash;
	size_t alen;
	unsigned int plen;
	cda_u128 addr, mask;
	int fam;

	if (s == NULL || len == 0)
		return CIDR_INVALID;
	slash = memchr(s, '/', len);
	alen = slash != NULL ? (size_t)(slash - s) : len;
	if (memchr(s, ':', alen) != NULL) {
		fam = CDA_AF_INET6;
		if (parse_v6(s, alen, &addr) < 0)
			return CIDR_INVALID;
	} else {
		uint32_t a4;

		fam = CDA_AF_INET;
		if (parse_v4(s, alen, &a4) < 0)
			return CIDR_INVALID;
		addr = a4;
	}
	if (slash != NULL) {
		if (parse_plen(slash + 1, len - alen - 1, fam_bits(fam), &plen) < 0)
			return CIDR_INVALID;
	} else {
		plen = fam_bits(fam);
	}
	if (bare != NULL)
		*bare = slash == NULL;
	mask = host_mask(fam, plen);
	out->family = (uint8_t)fam;
	out->plen = (uint8_t)plen;
	out->addr = addr & ~mask;
	return (addr & mask) != 0 ? CIDR_HOSTBITS : CIDR_OK;
}

size_t ipv4_format(uint32_t a, char *buf)
{
	char *p = buf;

	for (int shift = 24; shift >= 0; shift -= 8) {
		unsigned int o = (a >> shift) & 255u;

		if (o >= 100)
			*p++ = (char)('0' + o / 100);
		if (o >= 10)
			*p++ = (char)('0' + o / 10 % 10);
		*p++ = (char)('0' + o % 10);
		if (shift != 0)
			*p++ = '.';
	}
	*p = '\0';
	return (size_t)(p - buf);
}

/* The same text as inet_ntop (RFC 5952) without its sprintf per group. */
size_t ipv6_format(cda_u128 a, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	unsigned int w[8], best = 8, best_len = 0;
	char *p = buf;

	for (int i = 0; i < 8; i++)
		w[i] = (unsigned int)(a >> (16 * (7 - i))) & 0xffffu;
	/* five leading zero groups: inet_ntop may print an embedded IPv4 address; let it */
	if ((w[0] | w[1] | w[2] | w[3] | w[4]) == 0) {
		unsigned char b[16];

		for (int i = 0; i < 16; i++)
			b[i] = (unsigned char)(a >> (8 * (15 - i)));
		if (inet_ntop(AF_INET6, b, buf, INET6_ADDRSTRLEN) == NULL) {
			buf[0] = '\0';
			return 0;
		}
		return strlen(buf);
	}
	/* the first longest run of two or more zero groups becomes "::" */
	for (unsigned int i = 0; i < 8;) {
		unsigned int j = i;

		while (j < 8 && w[j] == 0)
			j++;
		if (j - i > best_len && j - i >= 2) {
			best = i;
			best_len = j - i;
		}
		i = j > i ? j : i + 1;
	}
	for (unsigned int i = 0; i < 8; i++) {
		if (i == best) {
			*p++ = ':';
			*p++ = ':';
			i += best_len - 1;
			continue;
		}
		if (i != 0 && i != best + best_len)
			*p++ = ':';
		for (int sh = 12; sh >= 0; sh -= 4)
			if ((w[i] >> sh) != 0 || sh == 0)
				*p++ = hex[(w[i] >> sh) & 15u];
	}
	*p = '\0';
	return (size_t)(p - buf);
}

char *cidr_format(const struct cidr *c, char *buf)
{
	size_t n = c->family == CDA_AF_INET ? ipv4_format((uint32_t)c->addr, buf)
					    : ipv6_format(c->addr, buf);
	unsigned int plen = c->plen;

	buf[n++] = '/';
	if (plen >= 100)
		buf[n++] = (char)('0' + plen / 100);
	if (plen >= 10)
		buf[n++] = (char)('0' + plen / 10 % 10);
	buf[n++] = (char)('0' + plen % 10);
	buf[n] = '\0';
	return buf;
}

void cidr_bounds(const struct cidr *c, cda_u128 *lo, cda_u128 *hi)
{
	cda_u128 m = host_mask(c->family, c->plen);

	*lo = c->addr & ~m;
	*hi = *lo | m;
}

int cidr_cmp(const struct cidr *a, const struct cidr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	if (a->plen != b->plen)
		return a->plen < b->plen ? -1 : 1;
	return 0;
}

int cidr_list_diff(const struct cidr_list *a, const struct cidr_list *b, struct cidr_list *added,
		   struct cidr_list *removed)
{
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		int c = i == a->n ? 1 : j == b->n ? -1 : cidr_cmp(&a->v[i], &b->v[j]);

		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			if (removed != NULL && cidr_list_push(removed, &a->v[i]) < 0)
				return -1;
			i++;
		} else {
			if (added != NULL && cidr_list_push(added, &b->v[j]) < 0)
				return -1;
			j++;
		}
	}
	return 0;
}
