// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cda_error.h"
#include "minisign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A throwaway key (minisign -G -W) and the message the corpus's signatures are over. */
static const char pk_line[] = "RWT+QUdm56CamWPISZw6Phx4hUhyYZOxa5bOXsAyogoph6/l2e1mXwBH";
static const char message[] = "cdnallow fuzz\n";

/* As a signature file: refused as data, or verified (or not) against the throwaway key; a
 * signature that verifies names the key and does not verify another message. */
static void as_signature(const char *text, size_t size, const struct minisign_pk *pk)
{
	struct minisign_sig sig;
	struct cda_error err = {0};

	if (minisign_sig_parse(text, size, &sig, &err) < 0) {
		if (err.code != CDA_EDATA)
			__builtin_trap();
		return;
	}
	if (memchr(sig.trusted, '\0', sizeof(sig.trusted)) == NULL ||
	    strlen(sig.trusted) > MINISIGN_TRUSTED_MAX)
		__builtin_trap();
	if (minisign_verify(pk, 1, &sig, message, sizeof(message) - 1, &err) < 0) {
		if (err.code != CDA_EDATA)
			__builtin_trap();
		return;
	}
	if (memcmp(sig.id, pk->id, MINISIGN_ID_LEN) != 0 ||
	    minisign_verify(pk, 1, &sig, message, sizeof(message) - 2, &err) == 0)
		__builtin_trap();
}

/* As a public key: one that parses prints as a line that parses to the same key. */
static void as_public_key(const char *text, size_t size)
{
	struct minisign_pk pk, back;
	struct cda_error err = {0};
	char line[64];

	if (minisign_pk_parse(text, size, &pk, &err) < 0) {
		if (err.code != CDA_ECONFIG)
			__builtin_trap();
		return;
	}
	minisign_pk_base64(&pk, line, sizeof(line));
	if (minisign_pk_parse(line, strlen(line), &back, &err) < 0 ||
	    memcmp(&pk, &back, sizeof(pk)) != 0)
		__builtin_trap();
}

/* As a secret key, without a password (so no scrypt): one that parses writes a file that
 * parses to the same key. */
static void as_secret_key(const char *text, size_t size)
{
	struct minisign_sk sk, back;
	struct cda_error err = {0};
	char *file;

	if (minisign_sk_parse(text, size, NULL, &sk, &err) < 0) {
		if (err.code != CDA_ECONFIG)
			__builtin_trap();
		return;
	}
	file = minisign_sk_file(&sk);
	if (file == NULL)
		return;
	if (minisign_sk_parse(file, strlen(file), NULL, &back, &err) < 0 ||
	    memcmp(&sk, &back, sizeof(sk)) != 0)
		__builtin_trap();
	free(file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct minisign_pk pk;
	static bool ready;
	struct cda_error err = {0};

	if (!ready) {
		if (minisign_init(&err) < 0 ||
		    minisign_pk_parse(pk_line, sizeof(pk_line) - 1, &pk, &err) < 0)
			__builtin_trap();
		ready = true;
	}
	as_signature((const char *)data, size, &pk);
	as_public_key((const char *)data, size);
	as_secret_key((const char *)data, size);
	return 0;
}
