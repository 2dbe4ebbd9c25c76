// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ranges.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whatever parses must format to canonical text that parses back to the same prefix. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cidr c, back;
	char text[CIDR_STRLEN], again[CIDR_STRLEN];
	cda_u128 lo, hi;
	bool bare, bare2;
	enum cidr_parse_result r = cidr_parse((const char *)data, size, &c, &bare);

	if (r == CIDR_INVALID)
		return 0;
	if ((c.family != CDA_AF_INET && c.family != CDA_AF_INET6) ||
	    c.plen > (c.family == CDA_AF_INET ? 32 : 128))
		__builtin_trap();
	cidr_format(&c, text);
	if (memchr(text, '\0', sizeof(text)) == NULL)
		__builtin_trap();
	if (cidr_parse(text, strlen(text), &back, &bare2) != CIDR_OK || bare2 ||
	    cidr_cmp(&c, &back) != 0 || back.addr != c.addr || back.plen != c.plen ||
	    back.family != c.family)
		__builtin_trap();
	if (strcmp(cidr_format(&back, again), text) != 0)
		__builtin_trap();
	cidr_bounds(&c, &lo, &hi);
	if (lo > hi || lo != c.addr)
		__builtin_trap();
	return 0;
}
