// SPDX-License-Identifier: MIT
/* minisign: minisign's key and signature formats over libsodium's Ed25519 and BLAKE2b. */
#include "minisign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cda_error.h"
#include "textbuf.h"

#define UNTRUSTED "untrusted comment: "
#define TRUSTED "trusted comment: "
/* decoded sizes: public key, signature line, secret key */
#define PK_BIN (2 + MINISIGN_ID_LEN + 32)
#define SIG_BIN (2 + MINISIGN_ID_LEN + 64)
#define KEYNUM_SK (MINISIGN_ID_LEN + 64 + 32)
#define SK_BIN (2 + 2 + 2 + 32 + 8 + 8 + KEYNUM_SK)
/* offsets in the secret key: algorithms, salt, limits, then key id, key, checksum */
#define SK_SALT 6
#define SK_OPS 38
#define SK_MEM 46
#define SK_KEYNUM 54
/* an encrypted key asking for more than this much memory is refused */
#define SCRYPT_MEM_MAX (2ULL << 30)

/* A two-letter tag (algorithm, key derivation, checksum) into p: bytes, no NUL. */
static void put_tag(uint8_t *p, const char tag[2])
{
	p[0] = (uint8_t)tag[0];
	p[1] = (uint8_t)tag[1];
}

int minisign_init(struct cda_error *err)
{
	if (sodium_init() < 0)
		return cda_error_set(err, CDA_ESYS, "libsodium failed to initialise");
	return 0;
}

/* One line of text[*pos..len) (without '\n' or a '\r' before it) into *line, *n. */
static bool next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *n)
{
	const char *nl;

	if (*pos >= len)
		return false;
	*line = text + *pos;
	nl = memchr(*line, '\n', len - *pos);
	*n = nl != NULL ? (size_t)(nl - *line) : len - *pos;
	*pos += *n + (nl != NULL);
	if (*n > 0 && (*line)[*n - 1] == '\r')
		(*n)--;
	return true;
}

/* base64 (the original alphabet, padded) of line[0..n) into exactly want bytes of out. */
static bool unbase64(const char *line, size_t n, uint8_t *out, size_t want)
{
	size_t got = 0;
	const char *end = NULL;

	if (sodium_base642bin(out, want, line, n, NULL, &got, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		return false;
	return got == want && end == line + n;
}

static uint64_t get_u64le(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void minisign_id_hex(const uint8_t id[MINISIGN_ID_LEN], char buf[17])
{
	snprintf(buf, 17, "%016llX", (unsigned long long)get_u64le(id));
}

int minisign_pk_parse(const char *text, size_t len, struct minisign_pk *pk,
		      struct cda_error *err)
{
	uint8_t bin[PK_BIN];
	const char *line = NULL;
	size_t pos = 0, n = 0;

	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ' || text[len - 1] == '\r'))
		len--;
	while (len > 0 && (*text == ' ' || *text == '\t')) {
		text++;
		len--;
	}
	if (!next_line(text, len, &pos, &line, &n))
		return cda_error_set(err, CDA_ECONFIG, "empty public key");
	if (n >= sizeof(UNTRUSTED) - 1 && memcmp(line, UNTRUSTED, sizeof(UNTRUSTED) - 1) == 0 &&
	    !next_line(text, len, &pos, &line, &n))
		return cda_error_set(err, CDA_ECONFIG, "public key file without its key line");
	if (pos < len)
		return cda_error_set(err, CDA_ECONFIG, "public key: text after the key line");
	if (!unbase64(line, n, bin, sizeof(bin)))
		return cda_error_set(err, CDA_ECONFIG, "public key: not the base64 of a minisign "
				     "public key (%zu characters)", n);
	if (memcmp(bin, "Ed", 2) != 0)
		return cda_error_set(err, CDA_ECONFIG, "public key: algorithm is not Ed25519");
	memcpy(pk->id, bin + 2, MINISIGN_ID_LEN);
	memcpy(pk->pk, bin + 2 + MINISIGN_ID_LEN, 32);
	return 0;
}

void minisign_pk_base64(const struct minisign_pk *pk, char *buf, size_t size)
{
	uint8_t bin[PK_BIN];

	put_tag(bin, "Ed");
	memcpy(bin + 2, pk->id, MINISIGN_ID_LEN);
	memcpy(bin + 2 + MINISIGN_ID_LEN, pk->pk, 32);
	if (size < sodium_base64_ENCODED_LEN(PK_BIN, sodium_base64_VARIANT_ORIGINAL)) {
		if (size > 0)
			buf[0] = '\0';
		return;
	}
	sodium_bin2base64(buf, size, bin, sizeof(bin), sodium_base64_VARIANT_ORIGINAL);
}

/* BLAKE2b-256 over sig_alg, key id and secret key: the secret key file's checksum. */
static void sk_checksum(const uint8_t *alg, const uint8_t *keynum, uint8_t out[32])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, alg, 2);
	crypto_generichash_update(&st, keynum, MINISIGN_ID_LEN + 64);
	crypto_generichash_final(&st, out, 32);
}

/* Undo the scrypt stream XOR'd over the key id, key and checksum. */
static int sk_decrypt(uint8_t *bin, const char *password, struct cda_error *err)
{
	uint8_t stream[KEYNUM_SK];
	uint64_t ops = get_u64le(bin + SK_OPS), mem = get_u64le(bin + SK_MEM);

	if (password == NULL)
		return cda_error_set(err, CDA_ECONFIG, "secret key is encrypted and no password "
				     "was given (publish_password_file), or use an unencrypted "
				     "key (minisign -G -W)");
	if (mem > SCRYPT_MEM_MAX || ops > (1ULL << 40))
		return cda_error_set(err, CDA_ECONFIG, "secret key: scrypt limits out of range");
	if (crypto_pwhash_scryptsalsa208sha256(stream, sizeof(stream), password,
					       strlen(password), bin + SK_SALT,
					       (unsigned long long)ops, (size_t)mem) != 0)
		return cda_error_set(err, CDA_ESYS, "secret key: scrypt failed (memory?)");
	for (size_t i = 0; i < KEYNUM_SK; i++)
		bin[SK_KEYNUM + i] ^= stream[i];
	sodium_memzero(stream, sizeof(stream));
	return 0;
}

int minisign_sk_parse(const char *text, size_t len, const char *password,
		      struct minisign_sk *sk, struct cda_error *err)
{
	uint8_t bin[SK_BIN], chk[32];
	const char *line = NULL;
	size_t pos = 0, n = 0;
	int rc = -1;

	if (!next_line(text, len, &pos, &line, &n) || n < sizeof(UNTRUSTED) - 1 ||
	    memcmp(line, UNTRUSTED, sizeof(UNTRUSTED) - 1) != 0)
		return cda_error_set(err, CDA_ECONFIG, "secret key: no \"untrusted comment:\" "
				     "line first");
	if (!next_line(text, len, &pos, &line, &n) || !unbase64(line, n, bin, sizeof(bin)))
		return cda_error_set(err, CDA_ECONFIG, "secret key: not the base64 of a minisign "
				     "secret key");
	if (memcmp(bin, "Ed", 2) != 0 || memcmp(bin + 4, "B2", 2) != 0) {
		cda_error_set(err, CDA_ECONFIG, "secret key: not Ed25519 with a BLAKE2b checksum");
		goto out;
	}
	if (memcmp(bin + 2, "Sc", 2) == 0) {
		if (sk_decrypt(bin, password, err) < 0)
			goto out;
	} else if (bin[2] != 0 || bin[3] != 0) {
		cda_error_set(err, CDA_ECONFIG, "secret key: unknown key derivation");
		goto out;
	}
	sk_checksum(bin, bin + SK_KEYNUM, chk);
	if (sodium_memcmp(chk, bin + SK_KEYNUM + MINISIGN_ID_LEN + 64, 32) != 0) {
		cda_error_set(err, CDA_ECONFIG, "secret key: checksum mismatch (wrong password?)");
		goto out;
	}
	memcpy(sk->id, bin + SK_KEYNUM, MINISIGN_ID_LEN);
	memcpy(sk->sk, bin + SK_KEYNUM + MINISIGN_ID_LEN, 64);
	rc = 0;
out:
	sodium_memzero(bin, sizeof(bin));
	return rc;
}

int minisign_keygen(struct minisign_pk *pk, struct minisign_sk *sk, struct cda_error *err)
{
	if (minisign_init(err) < 0)
		return -1;
	if (crypto_sign_keypair(pk->pk, sk->sk) != 0)
		return cda_error_set(err, CDA_ESYS, "libsodium: key generation failed");
	randombytes_buf(pk->id, MINISIGN_ID_LEN);
	memcpy(sk->id, pk->id, MINISIGN_ID_LEN);
	return 0;
}

/* "untrusted comment: <comment>\n<base64 of bin>\n", malloc'd. */
static char *two_lines(const char *comment, const uint8_t *bin, size_t n)
{
	size_t b64 = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	struct textbuf tb = {0};
	char *line = malloc(b64);

	if (line == NULL)
		return NULL;
	sodium_bin2base64(line, b64, bin, n, sodium_base64_VARIANT_ORIGINAL);
	textbuf_printf(&tb, "%s%s\n%s\n", UNTRUSTED, comment, line);
	sodium_memzero(line, b64);
	free(line);
	if (tb.oom) {
		free(tb.p);
		return NULL;
	}
	return tb.p;
}

char *minisign_sk_file(const struct minisign_sk *sk)
{
	uint8_t bin[SK_BIN] = {0};
	char *out;

	put_tag(bin, "Ed"); /* kdf "\0\0": not encrypted, as minisign -G -W */
	put_tag(bin + 4, "B2");
	randombytes_buf(bin + SK_SALT, 32);
	memcpy(bin + SK_KEYNUM, sk->id, MINISIGN_ID_LEN);
	memcpy(bin + SK_KEYNUM + MINISIGN_ID_LEN, sk->sk, 64);
	sk_checksum(bin, bin + SK_KEYNUM, bin + SK_KEYNUM + MINISIGN_ID_LEN + 64);
	out = two_lines("cdnallow secret key (unencrypted)", bin, sizeof(bin));
	sodium_memzero(bin, sizeof(bin));
	return out;
}

char *minisign_pk_file(const struct minisign_pk *pk)
{
	uint8_t bin[PK_BIN];
	char id[17], comment[64];

	put_tag(bin, "Ed");
	memcpy(bin + 2, pk->id, MINISIGN_ID_LEN);
	memcpy(bin + 2 + MINISIGN_ID_LEN, pk->pk, 32);
	minisign_id_hex(pk->id, id);
	snprintf(comment, sizeof(comment), "minisign public key %s", id);
	return two_lines(comment, bin, sizeof(bin));
}

int minisign_sig_parse(const char *text, size_t len, struct minisign_sig *sig,
		       struct cda_error *err)
{
	uint8_t bin[SIG_BIN];
	const char *line = NULL;
	size_t pos = 0, n = 0;

	memset(sig, 0, sizeof(*sig));
	if (!next_line(text, len, &pos, &line, &n) || n < sizeof(UNTRUSTED) - 1 ||
	    memcmp(line, UNTRUSTED, sizeof(UNTRUSTED) - 1) != 0)
		return cda_error_set(err, CDA_EDATA, "signature: no \"untrusted comment:\" line "
				     "first");
	if (!next_line(text, len, &pos, &line, &n) || !unbase64(line, n, bin, sizeof(bin)))
		return cda_error_set(err, CDA_EDATA, "signature: line 2 is not the base64 of a "
				     "minisign signature");
	if (memcmp(bin, "ED", 2) != 0 && memcmp(bin, "Ed", 2) != 0)
		return cda_error_set(err, CDA_EDATA, "signature: unknown algorithm");
	sig->prehashed = bin[1] == 'D';
	memcpy(sig->id, bin + 2, MINISIGN_ID_LEN);
	memcpy(sig->sig, bin + 2 + MINISIGN_ID_LEN, 64);
	if (!next_line(text, len, &pos, &line, &n) || n < sizeof(TRUSTED) - 1 ||
	    memcmp(line, TRUSTED, sizeof(TRUSTED) - 1) != 0)
		return cda_error_set(err, CDA_EDATA, "signature: no \"trusted comment:\" line 3");
	n -= sizeof(TRUSTED) - 1;
	line += sizeof(TRUSTED) - 1;
	if (n > MINISIGN_TRUSTED_MAX || memchr(line, '\0', n) != NULL)
		return cda_error_set(err, CDA_EDATA, "signature: trusted comment too long or "
				     "holding a NUL byte");
	memcpy(sig->trusted, line, n);
	sig->trusted[n] = '\0';
	if (!next_line(text, len, &pos, &line, &n) ||
	    !unbase64(line, n, sig->global, sizeof(sig->global)))
		return cda_error_set(err, CDA_EDATA, "signature: line 4 is not the base64 of a "
				     "global signature");
	if (pos < len)
		return cda_error_set(err, CDA_EDATA, "signature: text after line 4");
	return 0;
}

/* What the message signature is over: the message, or its BLAKE2b-512 (prehashed). */
static void global_msg(const struct minisign_sig *sig, uint8_t *buf, size_t *n)
{
	size_t tl = strlen(sig->trusted);

	memcpy(buf, sig->sig, 64);
	memcpy(buf + 64, sig->trusted, tl);
	*n = 64 + tl;
}

int minisign_verify(const struct minisign_pk *keys, size_t n, const struct minisign_sig *sig,
		    const void *msg, size_t len, struct cda_error *err)
{
	uint8_t gm[64 + MINISIGN_TRUSTED_MAX], hash[64];
	const struct minisign_pk *pk = NULL;
	char id[17];
	size_t gn;
	int ok;

	for (size_t i = 0; i < n && pk == NULL; i++)
		if (memcmp(keys[i].id, sig->id, MINISIGN_ID_LEN) == 0)
			pk = &keys[i];
	if (pk == NULL) {
		minisign_id_hex(sig->id, id);
		return cda_error_set(err, CDA_EDATA, "signed by an unknown key (key id %s)", id);
	}
	if (sig->prehashed) {
		crypto_generichash(hash, sizeof(hash), msg, len, NULL, 0);
		ok = crypto_sign_verify_detached(sig->sig, hash, sizeof(hash), pk->pk) == 0;
	} else {
		ok = crypto_sign_verify_detached(sig->sig, msg, len, pk->pk) == 0;
	}
	if (!ok)
		return cda_error_set(err, CDA_EDATA, "bad signature: the snapshot does not match "
				     "its signature");
	global_msg(sig, gm, &gn);
	if (crypto_sign_verify_detached(sig->global, gm, gn, pk->pk) != 0)
		return cda_error_set(err, CDA_EDATA, "bad signature: the trusted comment does not "
				     "match its signature");
	return 0;
}

int minisign_sign(const struct minisign_sk *sk, const void *msg, size_t len,
		  const char *trusted, char **out, struct cda_error *err)
{
	struct minisign_sig s = {.prehashed = true};
	uint8_t bin[SIG_BIN], gm[64 + MINISIGN_TRUSTED_MAX], hash[64];
	char l2[sodium_base64_ENCODED_LEN(SIG_BIN, sodium_base64_VARIANT_ORIGINAL)];
	char l4[sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)];
	struct textbuf tb = {0};
	size_t tl = strlen(trusted), gn;

	*out = NULL;
	if (tl > MINISIGN_TRUSTED_MAX || strpbrk(trusted, "\r\n") != NULL)
		return cda_error_set(err, CDA_EUSAGE, "trusted comment: one line of at most %d "
				     "bytes", MINISIGN_TRUSTED_MAX);
	crypto_generichash(hash, sizeof(hash), msg, len, NULL, 0);
	crypto_sign_detached(s.sig, NULL, hash, sizeof(hash), sk->sk);
	memcpy(s.trusted, trusted, tl + 1);
	global_msg(&s, gm, &gn);
	crypto_sign_detached(s.global, NULL, gm, gn, sk->sk);
	put_tag(bin, "ED");
	memcpy(bin + 2, sk->id, MINISIGN_ID_LEN);
	memcpy(bin + 2 + MINISIGN_ID_LEN, s.sig, 64);
	sodium_bin2base64(l2, sizeof(l2), bin, sizeof(bin), sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(l4, sizeof(l4), s.global, 64, sodium_base64_VARIANT_ORIGINAL);
	textbuf_printf(&tb, "%ssignature from cdnallow secret key\n%s\n%s%s\n%s\n", UNTRUSTED,
		       l2, TRUSTED, trusted, l4);
	if (tb.oom) {
		free(tb.p);
		return cda_error_set(err, CDA_ESYS, "out of memory");
	}
	*out = tb.p;
	return 0;
}
