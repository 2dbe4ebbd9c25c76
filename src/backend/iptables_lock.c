// SPDX-License-Identifier: MIT
/* The iptables backend's origin lock: its rules, as found, restore and rollback lines, unlock. */
#include "iptables_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cda_error.h"
#include "origin_lock.h"
#include "ranges.h"
#include "textbuf.h"

/*
 * Origin lock (lock_ports/lock_udp, ipset mode): chain CHAIN-LOCK, jumped to first from INPUT,
 * RETURNs loopback, established/related, the set's members and lock_allow, then DROPs the
 * locked ports; CHAIN-LOCKFWD, jumped to first from DOCKER-USER (FORWARD without Docker), does
 * the same for connections this host DNATed, by their original port. Never ACCEPT: the admin's
 * later rules still see everything the lock lets through. Each lock rule carries a comment
 * "cdnallow lock HASH #N" so that a changed or partial lock shows as drift.
 */

#define TAG "-m comment --comment \"" ORIGIN_LOCK_COMMENT "\""

static uint32_t lock_hash(const struct iptables_backend *ib, int f, int k)
{
	const char *parts[] = {"cdnallow iptables lock v1", ib->lchain[k], ib->set[f],
			       ib->lock_tcp != NULL ? ib->lock_tcp : "-",
			       ib->lock_udp != NULL ? ib->lock_udp : "-"};
	uint32_t h = ORIGIN_LOCK_HASH_INIT;

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		h = origin_lock_hash_str(h, parts[i]);
	h = origin_lock_hash(h, &f, sizeof(f));
	h = origin_lock_hash(h, &k, sizeof(k));
	for (size_t i = 0; i < ib->n_allow; i++) {
		char c[CIDR_STRLEN];

		if (ib->lock_allow[i].family != iptables_fam(f))
			continue;
		cidr_format(&ib->lock_allow[i], c);
		h = origin_lock_hash_str(h, c);
	}
	return h;
}

/* The rules of lock chain k for family f; *n: how many. */
static void lock_rules(const struct iptables_backend *ib, int f, int k, struct textbuf *b,
		       size_t *n)
{
	const char *lc = ib->lchain[k];
	const char *lists[2] = {ib->lock_tcp, ib->lock_udp}, *proto[2] = {"tcp", "udp"};
	uint32_t h = lock_hash(ib, f, k);
	size_t i = 0;

	if (k == 0)
		textbuf_printf(b, "-A %s -i lo " TAG " -j RETURN\n", lc, h, ++i);
	textbuf_printf(b, "-A %s -m conntrack --ctstate RELATED,ESTABLISHED " TAG " -j RETURN\n",
		       lc, h, ++i);
	textbuf_printf(b, "-A %s -m set --match-set %s src " TAG " -j RETURN\n", lc, ib->set[f], h,
		       ++i);
	for (size_t a = 0; a < ib->n_allow; a++) {
		char c[CIDR_STRLEN];

		if (ib->lock_allow[a].family == iptables_fam(f))
			textbuf_printf(b, "-A %s -s %s " TAG " -j RETURN\n", lc,
				       cidr_format(&ib->lock_allow[a], c), h, ++i);
	}
	for (int p = 0; p < 2; p++) {
		const char *s = lists[p];

		if (s == NULL)
			continue;
		if (k == 0) {
			textbuf_printf(b, "-A %s -p %s -m multiport --dports %s " TAG " -j DROP\n",
				       lc, proto[p], s, h, ++i);
			continue;
		}
		/* conntrack matches one port or range per rule */
		while (*s) {
			size_t len = strcspn(s, ",");

			textbuf_printf(
				b,
				"-A %s -p %s -m conntrack --ctstate DNAT --ctorigdstport %.*s "
				"--ctdir ORIGINAL " TAG " -j DROP\n",
				lc, proto[p], (int)len, s, h, ++i);
			s += len + (s[len] == ',');
		}
	}
	if (n != NULL)
		*n = i;
}

static size_t lock_rule_count(const struct iptables_backend *ib, int f, int k)
{
	struct textbuf b = {0};
	size_t n = 0;

	lock_rules(ib, f, k, &b, &n);
	free(b.p);
	return n;
}

static bool fwd_on(const struct iptables_backend *ib, const struct lock_view *v)
{
	return ib->lock_fwd == ORIGIN_LOCK_FWD_YES ||
	       (ib->lock_fwd == ORIGIN_LOCK_FWD_AUTO && v->docker_user);
}

/* Whether chain k belongs in family f's table, given whether both sets are non-empty. */
bool iptables_lock_wanted(const struct iptables_backend *ib, const struct lock_view *v, bool sets,
			  int k)
{
	return ib->lock_on && sets && (k == 0 || fwd_on(ib, v));
}

static int hook_of(int k, const struct lock_view *v)
{
	return k == 1 && v->docker_user ? 1 : 0;
}

static const char *hook_name(int k, int hc)
{
	return k == 0 ? "INPUT" : hc ? "DOCKER-USER" : "FORWARD";
}

static bool chain_ok(const struct iptables_backend *ib, int f, const struct lock_view *v, int k)
{
	return v->chain[k] && v->tags_ok[k] && v->nrules[k] == lock_rule_count(ib, f, k);
}

static bool jump_ok(const struct lock_view *v, int k)
{
	int hc = hook_of(k, v);

	return v->jumps[k][0] + v->jumps[k][1] == 1 && v->jumps[k][hc] == 1 && v->first[k][hc];
}

bool iptables_lock_as_wanted(const struct iptables_backend *ib, int f, const struct lock_view *v,
			     bool sets, int k)
{
	if (iptables_lock_wanted(ib, v, sets, k))
		return chain_ok(ib, f, v, k) && jump_ok(v, k);
	return !v->chain[k] && v->jumps[k][0] + v->jumps[k][1] == 0;
}

static void del_jumps(const struct iptables_backend *ib, int k, const struct lock_view *v,
		      struct textbuf *b)
{
	for (int hc = 0; hc < 2; hc++)
		for (size_t j = 0; j < v->jumps[k][hc]; j++)
			textbuf_printf(b, "-D %s -j %s\n", hook_name(k, hc), ib->lchain[k]);
}

/* iptables-restore lines that take family f's lock from v to what is wanted. */
void iptables_lock_restore(const struct iptables_backend *ib, int f, const struct lock_view *v,
			   bool sets, struct textbuf *b)
{
	for (int k = 0; k < 2; k++) {
		if (iptables_lock_wanted(ib, v, sets, k)) {
			if (!chain_ok(ib, f, v, k)) {
				textbuf_printf(b, ":%s - [0:0]\n", ib->lchain[k]);
				lock_rules(ib, f, k, b, NULL);
			}
			if (!jump_ok(v, k)) {
				del_jumps(ib, k, v, b);
				textbuf_printf(b, "-I %s 1 -j %s\n", hook_name(k, hook_of(k, v)),
					       ib->lchain[k]);
			}
		} else if (v->chain[k] || v->jumps[k][0] + v->jumps[k][1] > 0) {
			del_jumps(ib, k, v, b);
			if (v->chain[k])
				textbuf_printf(b, "-F %s\n-X %s\n", ib->lchain[k], ib->lchain[k]);
		}
	}
}

/* Undo iptables_lock_restore(v, sets) after it was committed: back to v (jump positions aside). */
void iptables_lock_rollback(const struct iptables_backend *ib, const struct lock_view *v, bool sets,
			    struct textbuf *b)
{
	for (int k = 0; k < 2; k++) {
		bool now = iptables_lock_wanted(ib, v, sets, k);
		size_t had = v->jumps[k][0] + v->jumps[k][1];

		if (v->chain[k]) {
			textbuf_printf(b, ":%s - [0:0]\n", ib->lchain[k]);
			if (v->rules[k] != NULL)
				textbuf_add(b, v->rules[k], strlen(v->rules[k]));
			if (now && had == 0)
				textbuf_printf(b, "-D %s -j %s\n", hook_name(k, hook_of(k, v)),
					       ib->lchain[k]);
			else if (!now && had > 0)
				textbuf_printf(b, "-I %s 1 -j %s\n", hook_name(k, hook_of(k, v)),
					       ib->lchain[k]);
		} else if (now) {
			textbuf_printf(b, "-D %s -j %s\n-F %s\n-X %s\n",
				       hook_name(k, hook_of(k, v)), ib->lchain[k], ib->lchain[k],
				       ib->lchain[k]);
		}
	}
}

void iptables_lock_view_reset(struct lock_view *v)
{
	free(v->rules[0]);
	free(v->rules[1]);
	memset(v, 0, sizeof(*v));
}

/* One line of iptables-save output: the lock's part of it. */
void iptables_lock_line(const struct iptables_backend *ib, int f, const char *l, const char *ours,
			struct lock_view *v, bool seen_first[3])
{
	static const char *const hooks[3] = {"-A INPUT ", "-A FORWARD ", "-A DOCKER-USER "};

	if (strncmp(l, ":DOCKER-USER ", 13) == 0)
		v->docker_user = true;
	for (int k = 0; k < 2; k++) {
		size_t n = strlen(ib->lchain[k]);

		if (l[0] == ':' && strncmp(l + 1, ib->lchain[k], n) == 0 && l[1 + n] == ' ')
			v->chain[k] = true;
		if (strncmp(l, "-A ", 3) == 0 && strncmp(l + 3, ib->lchain[k], n) == 0 &&
		    l[3 + n] == ' ') {
			char tag[64];
			struct textbuf rb = {v->rules[k], v->rules[k] ? strlen(v->rules[k]) : 0, 0,
					     false};

			if (v->nrules[k] == 0)
				v->tags_ok[k] = true;
			snprintf(tag, sizeof(tag), "--comment \"" ORIGIN_LOCK_COMMENT "\"",
				 lock_hash(ib, f, k), ++v->nrules[k]);
			if (strstr(l, tag) == NULL)
				v->tags_ok[k] = false;
			rb.cap = rb.len ? rb.len + 1 : 0;
			textbuf_printf(&rb, "%s\n", l);
			v->rules[k] = rb.p;
		}
	}
	for (int h = 0; h < 3; h++) {
		size_t n = strlen(hooks[h]);
		int k = h == 0 ? 0 : 1, hc = h == 2 ? 1 : 0;

		if (strncmp(l, hooks[h], n) != 0)
			continue;
		if (strncmp(l + n, "-j ", 3) == 0 && strcmp(l + n + 3, ib->lchain[k]) == 0) {
			v->jumps[k][hc]++;
			if (!seen_first[h])
				v->first[k][hc] = true;
		}
		/* our own accept-chain jump (ports) does not push the lock from first place */
		if (ours == NULL || strcmp(l, ours) != 0)
			seen_first[h] = true;
	}
}

void iptables_lock_describe(struct iptables_backend *ib)
{
	bool sets = ib->have[0] && ib->have[1];
	struct origin_lock_state s = {
		.configured = ib->lock_on,
		.tcp = ib->lock_tcp,
		.udp = ib->lock_udp,
		.forward = fwd_on(ib, &ib->lv[0]) || fwd_on(ib, &ib->lv[1]),
		.set_kind = "ipset",
		.empty_set = sets ? NULL : ib->set[ib->have[0] ? 1 : 0],
	};

	for (int f = 0; f < 2; f++) {
		for (int c = 0; c < 2; c++) {
			const struct lock_view *v = &ib->lv[f];

			s.present |= v->chain[c];
			if (iptables_lock_wanted(ib, v, sets, c)) {
				s.missing |= !v->chain[c] || v->jumps[c][0] + v->jumps[c][1] == 0;
				s.differs |= !chain_ok(ib, f, v, c) || !jump_ok(v, c);
			} else {
				s.differs |= v->chain[c];
			}
		}
	}
	origin_lock_describe(ib->lock_text, sizeof(ib->lock_text), &s);
}

/* Remove the lock chains and their jumps only (one commit per family). */
int iptables_unlock(struct backend *be, struct cda_error *err)
{
	struct iptables_backend *ib = iptables_from_base(be);

	for (int f = 0; f < 2; f++) {
		struct chain_view v = {0};
		struct lock_view lv;
		struct textbuf lock = {0};
		int rc;

		memset(&lv, 0, sizeof(lv));
		rc = iptables_read_chain(ib, f, NULL, &v, &lv, err);

		free(v.rules.p);
		if (rc == 0) {
			for (int k = 0; k < 2; k++) {
				del_jumps(ib, k, &lv, &lock);
				if (lv.chain[k])
					textbuf_printf(&lock, "-F %s\n-X %s\n", ib->lchain[k],
						       ib->lchain[k]);
			}
			if (lock.oom)
				rc = cda_error_sys(err, CDA_ESYS, "building the unlock input");
			else if (lock.len > 0)
				rc = iptables_restore(ib, f, false, NULL, false, false, lock.p,
						      err);
		}
		free(lock.p);
		iptables_lock_view_reset(&lv);
		if (rc < 0)
			return -1;
		iptables_lock_view_reset(&ib->lv[f]);
	}
	iptables_lock_describe(ib);
	return 0;
}

int iptables_drift(struct backend *be, bool *drift, struct cda_error *err)
{
	struct iptables_backend *ib = iptables_from_base(be);
	bool sets = ib->have[0] && ib->have[1];

	*drift = false;
	for (int f = 0; ib->lv_known && f < 2; f++) {
		for (int k = 0; k < 2; k++) {
			const struct lock_view *v = &ib->lv[f];

			if (!iptables_lock_as_wanted(ib, f, v, sets, k))
				*drift = true;
		}
	}
	return 0;
}

const char *iptables_lock_info(struct backend *be)
{
	struct iptables_backend *ib = iptables_from_base(be);

	return ib->lock_text[0] != '\0' ? ib->lock_text : NULL;
}
