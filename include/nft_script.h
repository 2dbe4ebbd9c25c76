/* SPDX-License-Identifier: MIT */
#ifndef CDNALLOW_NFT_SCRIPT_H
#define CDNALLOW_NFT_SCRIPT_H

#include <stdbool.h>

struct cda_error;
struct nft_lock_spec;
struct nft_plan;
struct ranges;
struct textbuf;

/*
 * What cdnallow owns in one nftables target, as an nft(8) script that puts it back: meant
 * to be included at the end of /etc/nftables.conf, so that `nft -f` (a reload that starts
 * with `flush ruleset`) restores the last applied lists in the same kernel transaction.
 *
 * Own table (plan->create): `table F T {}`, `delete table F T`, then the whole table: the
 * sets with their elements and, for each chain in lock_on[], the origin lock exactly as
 * nft_batch builds it (same rules, order and comments). Idempotent with or without a flush
 * before it, and no window: it all is one transaction.
 * Admin-owned table (!plan->create): per set with elements, `flush set` and `add element`;
 * the admin's ruleset declares the table and the sets.
 *
 * A family without elements never gets a statement that would empty its set (admin-owned)
 * and a target without any element gets no script at all (an empty text): writing it would
 * empty sets that a reload had just filled from the admin's own file.
 */
struct nft_script {
	const char *target;               /* [target.NAME], for the header comment */
	const struct nft_plan *plan;      /* table, family, create, set_v4/set_v6 (NULL: not synced) */
	const struct ranges *have;        /* what the sets hold (items as applied) */
	const struct nft_lock_spec *lock; /* the lock's configuration when a chain is on */
	bool lock_on[2];                  /* [NFT_LOCK_INPUT], [NFT_LOCK_FORWARD] present */
};

/* Append the script to out (nothing when there is nothing to restore). Pure. -1: ENOMEM, or
 * CDA_ECONFIG when the target cannot be written as nft syntax. */
int nft_script_build(const struct nft_script *s, struct textbuf *out, struct cda_error *err);

/*
 * The script's path for a target: value (the nft_file key; NULL for the default
 * STATE_DIR/TARGET.nft; "none" for no file: *out = NULL). -1: CDA_ECONFIG when the value
 * is not an absolute path ending in .nft, or CDA_ESYS.
 */
int nft_script_path(const char *value, const char *state_dir, const char *target, char **out,
		    struct cda_error *err);

/*
 * Build the script and keep path equal to it: written atomically (mode 0600) when missing
 * or different, removed when the script is empty, left alone when equal. *written (may be
 * NULL) tells whether the file changed.
 */
int nft_script_save(const char *path, const struct nft_script *s, bool *written,
		    struct cda_error *err);

#endif
