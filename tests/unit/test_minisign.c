// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cda_error.h"
#include "minisign.h"
#include "textbuf.h"

static const char msg[] = "cdnallow-snapshot 1\nserial 7\ntime 1700000000\npublisher p\n"
			  "source cf\nfetched 1700000000\nv4 104.16.0.0/13\nend\n";
#define MSG_LEN (sizeof(msg) - 1)
#define TRUSTED "timestamp:1700000000\tfile:snapshot-7.txt\tserial:7\tpublisher:p"

struct pair {
	struct minisign_pk pk;
	struct minisign_sk sk;
};

static int setup(void **state)
{
	struct cda_error err = {0};

	(void)state;
	return minisign_init(&err);
}

static void keypair(struct pair *p)
{
	struct cda_error err = {0};

	assert_int_equal(minisign_keygen(&p->pk, &p->sk, &err), 0);
}

/* A signature file of msg by p, parsed back into *sig. Returns the text (malloc'd). */
static char *signed_text(const struct pair *p, struct minisign_sig *sig)
{
	struct cda_error err = {0};
	char *text = NULL;

	assert_int_equal(minisign_sign(&p->sk, msg, MSG_LEN, TRUSTED, &text, &err), 0);
	assert_non_null(text);
	assert_int_equal(minisign_sig_parse(text, strlen(text), sig, &err), 0);
	return text;
}

/* 0 when text parses and verifies for msg[0..len) with keys; else -1 with err. */
static int check(const struct minisign_pk *keys, size_t n, const char *text, size_t tlen,
		 const void *m, size_t len, struct cda_error *err)
{
	struct minisign_sig sig;

	memset(err, 0, sizeof(*err));
	if (minisign_sig_parse(text, tlen, &sig, err) < 0)
		return -1;
	return minisign_verify(keys, n, &sig, m, len, err);
}

static void keys_round_trip_through_their_files(void **state)
{
	struct pair p;
	struct minisign_pk pk;
	struct minisign_sk sk;
	struct cda_error err = {0};
	char line[64], id[17], *pkf, *skf;

	(void)state;
	keypair(&p);
	pkf = minisign_pk_file(&p.pk);
	skf = minisign_sk_file(&p.sk);
	assert_non_null(pkf);
	assert_non_null(skf);
	minisign_id_hex(p.pk.id, id);
	assert_int_equal(strlen(id), 16);
	assert_non_null(strstr(pkf, id)); /* the comment names the key id as minisign does */
	assert_int_equal(minisign_pk_parse(pkf, strlen(pkf), &pk, &err), 0);
	assert_memory_equal(&pk, &p.pk, sizeof(pk));
	minisign_pk_base64(&p.pk, line, sizeof(line));
	assert_int_equal(strlen(line), 56);
	assert_memory_equal(line, "RW", 2); /* base64 of "Ed" */
	memset(&pk, 0, sizeof(pk));
	assert_int_equal(minisign_pk_parse(line, strlen(line), &pk, &err), 0);
	assert_memory_equal(&pk, &p.pk, sizeof(pk));
	assert_int_equal(minisign_sk_parse(skf, strlen(skf), NULL, &sk, &err), 0);
	assert_memory_equal(&sk, &p.sk, sizeof(sk));
	minisign_pk_base64(&p.pk, line, 10); /* too small: empty, not cut */
	assert_string_equal(line, "");
	free(pkf);
	free(skf);
}

static void bad_public_keys_are_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"   \n",
		"untrusted comment: only a comment\n",
		"RWQYOiWMt++2AqS/dbIio/Qz2x6kK/2egmRdp3iiestRoEF/79lpkFV", /* one short */
		"RWQYOiWMt++2AqS/dbIio/Qz2x6kK/2egmRdp3iiestRoEF/79lpkFV5A",
		"RWQYOiWMt++2AqS/dbIio/Qz2x6kK/2egmRdp3iiestRoEF/79lpkFV5\nRWQ\n",
		"RUQYOiWMt++2AqS/dbIio/Qz2x6kK/2egmRdp3iiestRoEF/79lpkFV5", /* "EE": not Ed */
		"RWQYOiWMt++2AqS_dbIio_Qz2x6kK_2egmRdp3iiestRoEF_79lpkFV5", /* URL-safe */
	};
	static const char good[] = "  untrusted comment: minisign public key\r\n"
				   "RWQYOiWMt++2AqS/dbIio/Qz2x6kK/2egmRdp3iiestRoEF/79lpkFV5\r\n\n";
	struct minisign_pk pk;
	struct cda_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		if (minisign_pk_parse(bad[i], strlen(bad[i]), &pk, &err) == 0)
			fail_msg("public key %zu accepted: %s", i, bad[i]);
		assert_int_equal(err.code, CDA_ECONFIG);
	}
	assert_int_equal(minisign_pk_parse(good, strlen(good), &pk, &err), 0);
}

static void a_signature_verifies_and_carries_its_trusted_comment(void **state)
{
	struct pair p;
	struct minisign_sig sig;
	struct cda_error err = {0};
	char *text;

	(void)state;
	keypair(&p);
	text = signed_text(&p, &sig);
	assert_true(sig.prehashed);
	assert_memory_equal(sig.id, p.pk.id, MINISIGN_ID_LEN);
	assert_string_equal(sig.trusted, TRUSTED);
	assert_int_equal(minisign_verify(&p.pk, 1, &sig, msg, MSG_LEN, &err), 0);
	/* four lines: untrusted comment, signature, trusted comment, global signature */
	assert_memory_equal(text, "untrusted comment: ", 19);
	assert_non_null(strstr(text, "\ntrusted comment: " TRUSTED "\n"));
	free(text);
}

/*
 * Every byte of the signature file flipped (bit 0, then bit 5): refused, except in the
 * untrusted comment's text, which nothing signs. The untrusted comment's prefix, the line
 * ends, the base64 (also its unused trailing bits) and the trusted comment all count.
 */
static void every_flipped_byte_of_the_signature_file_is_refused(void **state)
{
	struct pair p;
	struct minisign_sig sig;
	struct cda_error err;
	char *text, *copy;
	size_t len, comment_end;

	(void)state;
	keypair(&p);
	text = signed_text(&p, &sig);
	len = strlen(text);
	comment_end = (size_t)(strchr(text, '\n') - text);
	copy = malloc(len);
	assert_non_null(copy);
	for (int bit = 0; bit < 8; bit += 5) {
		for (size_t i = 0; i < len; i++) {
			int rc;

			memcpy(copy, text, len);
			copy[i] = (char)(copy[i] ^ (1 << bit));
			rc = check(&p.pk, 1, copy, len, msg, MSG_LEN, &err);
			if (i >= 19 && i < comment_end) {
				if (rc != 0)
					fail_msg("untrusted comment byte %zu: %s", i, err.msg);
			} else if (rc == 0) {
				fail_msg("byte %zu of %zu flipped (bit %d) accepted", i, len, bit);
			} else {
				assert_int_equal(err.code, CDA_EDATA);
			}
		}
	}
	free(copy);
	free(text);
}

/* Each byte of both signatures and of the trusted comment, as decoded: refused, named. */
static void every_flipped_byte_of_the_decoded_signature_is_refused(void **state)
{
	struct pair p;
	struct minisign_sig sig, bad;
	struct cda_error err;
	char *text;

	(void)state;
	keypair(&p);
	text = signed_text(&p, &sig);
	for (size_t i = 0; i < 64; i++) {
		bad = sig;
		bad.sig[i] ^= 0x01;
		assert_int_equal(minisign_verify(&p.pk, 1, &bad, msg, MSG_LEN, &err), -1);
		assert_non_null(strstr(err.msg, "the snapshot does not match its signature"));
		bad = sig;
		bad.global[i] ^= 0x80;
		assert_int_equal(minisign_verify(&p.pk, 1, &bad, msg, MSG_LEN, &err), -1);
		assert_non_null(strstr(err.msg, "the trusted comment does not match"));
	}
	for (size_t i = 0; i < strlen(sig.trusted); i++) {
		bad = sig;
		bad.trusted[i] ^= 0x01;
		assert_int_equal(minisign_verify(&p.pk, 1, &bad, msg, MSG_LEN, &err), -1);
		assert_non_null(strstr(err.msg, "the trusted comment does not match"));
	}
	bad = sig;
	bad.trusted[strlen(bad.trusted) - 1] = '\0'; /* one byte shorter */
	assert_int_equal(minisign_verify(&p.pk, 1, &bad, msg, MSG_LEN, &err), -1);
	free(text);
}

static void every_flipped_byte_of_the_message_is_refused(void **state)
{
	struct pair p;
	struct minisign_sig sig;
	struct cda_error err;
	char copy[MSG_LEN + 1];
	char *text;

	(void)state;
	keypair(&p);
	text = signed_text(&p, &sig);
	for (size_t i = 0; i < MSG_LEN; i++) {
		memcpy(copy, msg, MSG_LEN);
		copy[i] ^= 0x01;
		assert_int_equal(minisign_verify(&p.pk, 1, &sig, copy, MSG_LEN, &err), -1);
		assert_non_null(strstr(err.msg, "the snapshot does not match its signature"));
	}
	/* cut short by one byte, one byte longer */
	assert_int_equal(minisign_verify(&p.pk, 1, &sig, msg, MSG_LEN - 1, &err), -1);
	memcpy(copy, msg, MSG_LEN);
	copy[MSG_LEN] = '\n';
	assert_int_equal(minisign_verify(&p.pk, 1, &sig, copy, MSG_LEN + 1, &err), -1);
	free(text);
}

/* An unknown key id is named; the right id with another key is a bad signature. */
static void keys_are_matched_by_id(void **state)
{
	struct pair p, other;
	struct minisign_pk keys[2], impostor;
	struct minisign_sig sig;
	struct cda_error err;
	char id[17], *text;

	(void)state;
	keypair(&p);
	keypair(&other);
	text = signed_text(&p, &sig);
	assert_int_equal(minisign_verify(&other.pk, 1, &sig, msg, MSG_LEN, &err), -1);
	minisign_id_hex(p.pk.id, id);
	assert_non_null(strstr(err.msg, "unknown key"));
	assert_non_null(strstr(err.msg, id));
	assert_int_equal(minisign_verify(&p.pk, 0, &sig, msg, MSG_LEN, &err), -1);
	assert_non_null(strstr(err.msg, "unknown key"));
	impostor = other.pk;
	memcpy(impostor.id, p.pk.id, MINISIGN_ID_LEN);
	assert_int_equal(minisign_verify(&impostor, 1, &sig, msg, MSG_LEN, &err), -1);
	assert_non_null(strstr(err.msg, "bad signature"));
	/* a rotation: the old key and the new one, in either order */
	keys[0] = other.pk;
	keys[1] = p.pk;
	assert_int_equal(minisign_verify(keys, 2, &sig, msg, MSG_LEN, &err), 0);
	keys[0] = p.pk;
	keys[1] = other.pk;
	assert_int_equal(minisign_verify(keys, 2, &sig, msg, MSG_LEN, &err), 0);
	free(text);
}

/* A signature file built here: algorithm alg over m (hashed first when prehash). */
static char *build_sig(const struct pair *p, const char alg[2], bool prehash, const void *m,
		       size_t len, const char *trusted)
{
	uint8_t bin[2 + MINISIGN_ID_LEN + 64], sig[64], global[64], hash[64], gm[64 + 256];
	char l2[sodium_base64_ENCODED_LEN(sizeof(bin), sodium_base64_VARIANT_ORIGINAL)];
	char l4[sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)];
	struct textbuf tb = {0};
	size_t tl = strlen(trusted);

	assert_true(tl <= 256);
	if (prehash) {
		crypto_generichash(hash, sizeof(hash), m, len, NULL, 0);
		crypto_sign_detached(sig, NULL, hash, sizeof(hash), p->sk.sk);
	} else {
		crypto_sign_detached(sig, NULL, m, len, p->sk.sk);
	}
	memcpy(gm, sig, 64);
	memcpy(gm + 64, trusted, tl);
	crypto_sign_detached(global, NULL, gm, 64 + tl, p->sk.sk);
	bin[0] = (uint8_t)alg[0];
	bin[1] = (uint8_t)alg[1];
	memcpy(bin + 2, p->sk.id, MINISIGN_ID_LEN);
	memcpy(bin + 2 + MINISIGN_ID_LEN, sig, 64);
	sodium_bin2base64(l2, sizeof(l2), bin, sizeof(bin), sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(l4, sizeof(l4), global, 64, sodium_base64_VARIANT_ORIGINAL);
	textbuf_printf(&tb, "untrusted comment: built\n%s\ntrusted comment: %s\n%s\n", l2,
		       trusted, l4);
	assert_false(tb.oom);
	return tb.p;
}

/* "Ed" signs the message itself (legacy), "ED" its BLAKE2b-512: each only as labelled. */
static void prehashed_and_legacy_signatures(void **state)
{
	struct pair p;
	struct cda_error err;
	char *legacy, *pre, *legacy_as_pre, *pre_as_legacy, *unknown;

	(void)state;
	keypair(&p);
	legacy = build_sig(&p, "Ed", false, msg, MSG_LEN, "legacy");
	pre = build_sig(&p, "ED", true, msg, MSG_LEN, "prehashed");
	legacy_as_pre = build_sig(&p, "ED", false, msg, MSG_LEN, "x");
	pre_as_legacy = build_sig(&p, "Ed", true, msg, MSG_LEN, "x");
	unknown = build_sig(&p, "EE", true, msg, MSG_LEN, "x");
	assert_int_equal(check(&p.pk, 1, legacy, strlen(legacy), msg, MSG_LEN, &err), 0);
	assert_int_equal(check(&p.pk, 1, pre, strlen(pre), msg, MSG_LEN, &err), 0);
	assert_int_equal(check(&p.pk, 1, legacy_as_pre, strlen(legacy_as_pre), msg, MSG_LEN,
			       &err), -1);
	assert_non_null(strstr(err.msg, "bad signature"));
	assert_int_equal(check(&p.pk, 1, pre_as_legacy, strlen(pre_as_legacy), msg, MSG_LEN,
			       &err), -1);
	assert_non_null(strstr(err.msg, "bad signature"));
	assert_int_equal(check(&p.pk, 1, unknown, strlen(unknown), msg, MSG_LEN, &err), -1);
	assert_non_null(strstr(err.msg, "unknown algorithm"));
	free(legacy);
	free(pre);
	free(legacy_as_pre);
	free(pre_as_legacy);
	free(unknown);
}

/* The length of text's first n lines, their newlines included. */
static size_t line_end(const char *text, int n)
{
	const char *p = text;

	for (int i = 0; i < n; i++) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	return (size_t)(p - text);
}

/* CRLF line ends and a missing final newline are taken; anything after line 4 is not. */
static void signature_file_shape(void **state)
{
	struct pair p;
	struct minisign_sig sig;
	struct textbuf crlf = {0};
	struct cda_error err;
	char *text, *more;
	size_t len;

	(void)state;
	keypair(&p);
	text = signed_text(&p, &sig);
	len = strlen(text);
	assert_int_equal(check(&p.pk, 1, text, len - 1, msg, MSG_LEN, &err), 0);
	for (size_t i = 0; i < len; i++)
		textbuf_printf(&crlf, text[i] == '\n' ? "\r\n" : "%c", text[i]);
	assert_false(crlf.oom);
	assert_int_equal(check(&p.pk, 1, crlf.p, crlf.len, msg, MSG_LEN, &err), 0);
	more = malloc(len + 2);
	assert_non_null(more);
	memcpy(more, text, len);
	memcpy(more + len, "\n", 2);
	assert_int_equal(check(&p.pk, 1, more, len + 1, msg, MSG_LEN, &err), -1);
	assert_non_null(strstr(err.msg, "text after line 4"));
	/* three lines only, and an empty file */
	assert_int_equal(check(&p.pk, 1, text, line_end(text, 3), msg, MSG_LEN, &err), -1);
	assert_non_null(strstr(err.msg, "line 4"));
	assert_int_equal(check(&p.pk, 1, text, line_end(text, 1), msg, MSG_LEN, &err), -1);
	assert_non_null(strstr(err.msg, "line 2"));
	assert_int_equal(check(&p.pk, 1, "", 0, msg, MSG_LEN, &err), -1);
	free(more);
	free(crlf.p);
	free(text);
}

/* text (trusted comment "ok") with the comment made MINISIGN_TRUSTED_MAX + 1 bytes long. */
static void too_long_trusted(const struct pair *p, const char *text)
{
	struct textbuf tb = {0};
	struct cda_error err;
	const char *t = strstr(text, "trusted comment: ok") + 17;

	textbuf_printf(&tb, "%.*s", (int)(t - text), text);
	for (int i = 0; i < MINISIGN_TRUSTED_MAX + 1; i++)
		textbuf_printf(&tb, "y");
	textbuf_printf(&tb, "%s", t + 2);
	assert_false(tb.oom);
	assert_int_equal(check(&p->pk, 1, tb.p, tb.len, msg, MSG_LEN, &err), -1);
	assert_non_null(strstr(err.msg, "trusted comment too long"));
	free(tb.p);
}

/* The trusted comment: one line of at most MINISIGN_TRUSTED_MAX bytes, no NUL. */
static void trusted_comment_bounds(void **state)
{
	struct pair p;
	struct cda_error err = {0};
	char trusted[MINISIGN_TRUSTED_MAX + 2], *text = NULL;

	(void)state;
	keypair(&p);
	memset(trusted, 'x', sizeof(trusted) - 1);
	trusted[MINISIGN_TRUSTED_MAX] = '\0';
	assert_int_equal(minisign_sign(&p.sk, msg, MSG_LEN, trusted, &text, &err), 0);
	assert_int_equal(check(&p.pk, 1, text, strlen(text), msg, MSG_LEN, &err), 0);
	free(text);
	trusted[MINISIGN_TRUSTED_MAX] = 'x';
	trusted[MINISIGN_TRUSTED_MAX + 1] = '\0';
	assert_int_equal(minisign_sign(&p.sk, msg, MSG_LEN, trusted, &text, &err), -1);
	assert_null(text);
	assert_int_equal(err.code, CDA_EUSAGE);
	assert_int_equal(minisign_sign(&p.sk, msg, MSG_LEN, "a\nb", &text, &err), -1);
	assert_int_equal(minisign_sign(&p.sk, msg, MSG_LEN, "a\rb", &text, &err), -1);
	/* one built past the bound, and one holding a NUL byte, are refused by the parser */
	text = build_sig(&p, "ED", true, msg, MSG_LEN, "ok");
	too_long_trusted(&p, text);
	strstr(text, "trusted comment: ok")[18] = '\0';
	assert_int_equal(check(&p.pk, 1, text, strlen(text) + 1 + strlen(text + strlen(text) + 1),
			       msg, MSG_LEN, &err), -1);
	assert_non_null(strstr(err.msg, "NUL"));
	free(text);
}

/* A secret key file encrypted as minisign -G does (scrypt, small limits), for password. */
static char *encrypted_key(const struct pair *p, const char *password, uint64_t ops, uint64_t mem)
{
	enum { KEYNUM = MINISIGN_ID_LEN + 64 + 32 };
	uint8_t bin[6 + 32 + 8 + 8 + KEYNUM], stream[KEYNUM];
	uint8_t *keynum = bin + 54;
	char b64[sodium_base64_ENCODED_LEN(sizeof(bin), sodium_base64_VARIANT_ORIGINAL)];
	crypto_generichash_state st;
	struct textbuf tb = {0};

	memcpy(bin, "EdScB2", 6);
	randombytes_buf(bin + 6, 32);
	for (int i = 0; i < 8; i++) {
		bin[38 + i] = (uint8_t)(ops >> (8 * i));
		bin[46 + i] = (uint8_t)(mem >> (8 * i));
	}
	memcpy(keynum, p->sk.id, MINISIGN_ID_LEN);
	memcpy(keynum + MINISIGN_ID_LEN, p->sk.sk, 64);
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, bin, 2);
	crypto_generichash_update(&st, keynum, MINISIGN_ID_LEN + 64);
	crypto_generichash_final(&st, keynum + MINISIGN_ID_LEN + 64, 32);
	assert_int_equal(crypto_pwhash_scryptsalsa208sha256(stream, sizeof(stream), password,
							     strlen(password), bin + 6, ops,
							     (size_t)mem), 0);
	for (size_t i = 0; i < KEYNUM; i++)
		keynum[i] ^= stream[i];
	sodium_bin2base64(b64, sizeof(b64), bin, sizeof(bin), sodium_base64_VARIANT_ORIGINAL);
	textbuf_printf(&tb, "untrusted comment: minisign encrypted secret key\n%s\n", b64);
	assert_false(tb.oom);
	return tb.p;
}

static void encrypted_secret_keys(void **state)
{
	const uint64_t ops = crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_MIN;
	const uint64_t mem = crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_MIN;
	struct pair p;
	struct minisign_sk sk;
	struct cda_error err;
	char *enc, *huge, *plain;

	(void)state;
	keypair(&p);
	enc = encrypted_key(&p, "correct horse", ops, mem);
	assert_int_equal(minisign_sk_parse(enc, strlen(enc), "correct horse", &sk, &err), 0);
	assert_memory_equal(&sk, &p.sk, sizeof(sk));
	assert_int_equal(minisign_sk_parse(enc, strlen(enc), "wrong horse", &sk, &err), -1);
	assert_non_null(strstr(err.msg, "checksum mismatch"));
	assert_int_equal(minisign_sk_parse(enc, strlen(enc), NULL, &sk, &err), -1);
	assert_non_null(strstr(err.msg, "no password"));
	/* limits beyond what we accept are refused before scrypt runs */
	huge = encrypted_key(&p, "x", ops, mem);
	memcpy(strchr(huge, '\n') + 1 + 68, "////", 4); /* bytes 51-53: the memory limit's top */
	assert_int_equal(minisign_sk_parse(huge, strlen(huge), "x", &sk, &err), -1);
	assert_non_null(strstr(err.msg, "scrypt limits out of range"));
	/* an unencrypted key whose checksum does not match */
	plain = minisign_sk_file(&p.sk);
	assert_non_null(plain);
	{
		char *c = strrchr(plain, '\n') - 6;

		*c = *c == 'A' ? 'B' : 'A';
	}
	assert_int_equal(minisign_sk_parse(plain, strlen(plain), NULL, &sk, &err), -1);
	free(enc);
	free(huge);
	free(plain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keys_round_trip_through_their_files),
		cmocka_unit_test(bad_public_keys_are_refused),
		cmocka_unit_test(a_signature_verifies_and_carries_its_trusted_comment),
		cmocka_unit_test(every_flipped_byte_of_the_signature_file_is_refused),
		cmocka_unit_test(every_flipped_byte_of_the_decoded_signature_is_refused),
		cmocka_unit_test(every_flipped_byte_of_the_message_is_refused),
		cmocka_unit_test(keys_are_matched_by_id),
		cmocka_unit_test(prehashed_and_legacy_signatures),
		cmocka_unit_test(signature_file_shape),
		cmocka_unit_test(trusted_comment_bounds),
		cmocka_unit_test(encrypted_secret_keys),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
