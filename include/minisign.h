/* SPDX-License-Identifier: MIT */
/* minisign: keys and detached signatures in minisign's formats (Ed25519, libsodium). */
#ifndef CDNALLOW_MINISIGN_H
#define CDNALLOW_MINISIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cda_error;

#define MINISIGN_ID_LEN 8
#define MINISIGN_TRUSTED_MAX 1024 /* bytes of a trusted comment we accept */

/* A public key: its 8-byte key id and the Ed25519 key. */
struct minisign_pk {
	uint8_t id[MINISIGN_ID_LEN];
	uint8_t pk[32];
};

/* A secret key, decrypted: key id and libsodium's 64-byte Ed25519 secret (seed || pk). */
struct minisign_sk {
	uint8_t id[MINISIGN_ID_LEN];
	uint8_t sk[64];
};

/* A signature file, decoded (nothing verified yet). */
struct minisign_sig {
	bool prehashed; /* "ED": the signature is over BLAKE2b-512(message); "Ed": the message */
	uint8_t id[MINISIGN_ID_LEN];
	uint8_t sig[64];
	char trusted[MINISIGN_TRUSTED_MAX + 1]; /* the trusted comment, without its prefix */
	uint8_t global[64];			/* over sig || trusted */
};

/* libsodium's initialisation; call once before any other function (and before a fork whose
 * child verifies inside its sandbox). -1 (CDA_ESYS) when it fails. */
int minisign_init(struct cda_error *err);

/*
 * A public key from text: the base64 line alone ("RW..."), or a minisign .pub file (an
 * "untrusted comment:" line, then the base64 line). Surrounding blanks ignored. -1
 * (CDA_ECONFIG) saying what is wrong.
 */
int minisign_pk_parse(const char *text, size_t len, struct minisign_pk *pk,
		      struct cda_error *err);
/* The base64 line of pk into buf (at least 57 bytes). */
void minisign_pk_base64(const struct minisign_pk *pk, char *buf, size_t size);
/* The key id as minisign prints it (16 upper-case hex digits, little-endian) into buf[17]. */
void minisign_id_hex(const uint8_t id[MINISIGN_ID_LEN], char buf[17]);

/*
 * A secret key file (minisign -G, or cdnallow keygen). An encrypted key ("Sc": scrypt) needs
 * password (NULL: refused, saying so); an unencrypted one (minisign -G -W) takes none. The
 * checksum is checked. -1 (CDA_ECONFIG) saying why.
 */
int minisign_sk_parse(const char *text, size_t len, const char *password,
		      struct minisign_sk *sk, struct cda_error *err);

/* A new key pair with a random key id. -1 (CDA_ESYS) when libsodium fails. */
int minisign_keygen(struct minisign_pk *pk, struct minisign_sk *sk, struct cda_error *err);
/* The files' text (malloc'd, NUL-terminated): an unencrypted secret key, a public key.
 * NULL when out of memory. */
char *minisign_sk_file(const struct minisign_sk *sk);
char *minisign_pk_file(const struct minisign_pk *pk);

/*
 * A signature file's four lines: "untrusted comment: ...", base64 of the algorithm ("Ed"
 * or "ED"), key id and signature, "trusted comment: ...", base64 of the global signature.
 * A final newline is optional; nothing else may follow. -1 (CDA_EDATA) saying what is
 * wrong. Pure: nothing is verified.
 */
int minisign_sig_parse(const char *text, size_t len, struct minisign_sig *sig,
		       struct cda_error *err);

/*
 * Verify sig over msg[0..len) with the one of keys[0..n) whose id it names: the global
 * signature (over the trusted comment) and the message's. -1 (CDA_EDATA): no key with that
 * id ("unknown key"), or a signature that does not verify (which of the two).
 */
int minisign_verify(const struct minisign_pk *keys, size_t n, const struct minisign_sig *sig,
		    const void *msg, size_t len, struct cda_error *err);

/*
 * Sign msg[0..len) (prehashed, "ED", as minisign 0.11 does) with trusted as the trusted
 * comment (one line, at most MINISIGN_TRUSTED_MAX bytes): the signature file's text
 * (malloc'd) into *out. -1 (CDA_ESYS, or CDA_EUSAGE for a bad trusted comment).
 */
int minisign_sign(const struct minisign_sk *sk, const void *msg, size_t len,
		  const char *trusted, char **out, struct cda_error *err);

#endif
