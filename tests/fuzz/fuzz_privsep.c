// SPDX-License-Identifier: MIT
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fetch_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The parent's decoder of the fetch child's answer, on anything. Input: one byte (low two
 * bits: how many sources the parent expects; bit 7: keep the checksum as it is), one byte
 * per source (its URL count, mod 9), then the answer, whose checksum is made right unless
 * bit 7 says not, so that the structure behind it is explored. An accepted answer must be
 * well formed and encode back to exactly the same bytes.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fetch_answer a;
	struct cda_error e = {0};
	unsigned int n_urls[3];
	size_t n, len;
	char *buf, *again = NULL;
	size_t again_len = 0;

	if (size < 1)
		return 0;
	n = data[0] & 3;
	if (n == 3 || size < 1 + n)
		return 0;
	for (size_t i = 0; i < n; i++)
		n_urls[i] = data[1 + i] % 9;
	len = size - 1 - n;
	if ((buf = malloc(len ? len : 1)) == NULL)
		return 0;
	memcpy(buf, data + 1 + n, len);
	if (len >= 4 && !(data[0] & 0x80)) {
		uint32_t c = fetch_msg_crc32(buf, len - 4);

		for (int i = 0; i < 4; i++)
			buf[len - 4 + i] = (char)(c >> (8 * i));
	}
	if (fetch_msg_decode(buf, len, n_urls, n, &a, &e) < 0) {
		if (e.code != CDA_EFETCH && e.code != CDA_ESYS)
			__builtin_trap();
		free(buf);
		return 0;
	}
	if (a.n != (a.outcome == FETCH_MSG_RESULTS ? n : 0))
		__builtin_trap();
	for (size_t i = 0; i < a.n; i++) {
		const struct fetch_result *r = &a.res[i];

		if (r->kind > FETCH_RES_FAILED || r->meta.n_urls != n_urls[i] ||
		    (r->list != NULL) != (r->kind == FETCH_RES_NEW) ||
		    (r->list != NULL && !ranges_is_normal(r->list)) ||
		    (r->err.code != CDA_OK) != (r->kind == FETCH_RES_FAILED) ||
		    r->err.code > CDA_ESYS)
			__builtin_trap();
	}
	if (fetch_msg_encode(&a, &again, &again_len) < 0 || again_len != len ||
	    memcmp(again, buf, len) != 0)
		__builtin_trap();
	free(again);
	free(buf);
	fetch_answer_finish(&a);
	return 0;
}
