// SPDX-License-Identifier: MIT
/* The nftables backend's [target.*] keys: table, family, sets, create, verify, the lock. */
#include "nft_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>

#include "cda_error.h"
#include "config.h"
#include "nft_batch.h"
#include "origin_lock.h"
#include "ranges.h"

/* Names cdnallow accepts: what nft(8) takes unquoted. */
static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 255 ||
	    !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("_./-", s[i]) != NULL))
			return false;
	return true;
}

static int get_name(const struct target_config *tc, const char *key, const char *def, bool none_ok,
		    char *out, struct cda_error *err)
{
	const char *v = target_get(tc, key);

	if (v == NULL)
		v = def;
	if (none_ok && strcmp(v, "none") == 0)
		v = "";
	else if (!valid_name(v))
		return backend_bad_value(
			err, tc, key,
			"expected an nftables name (letters, digits, _ . / -; 1..255)");
	snprintf(out, 256, "%s", v);
	return 0;
}

static int port_cmp(const void *a, const void *b)
{
	const struct origin_lock_port *x = a, *y = b;

	return x->lo != y->lo ? (x->lo > y->lo) - (x->lo < y->lo)
			      : (x->hi > y->hi) - (x->hi < y->hi);
}

/* "80 443 8000-8080" (or 8000:8080) -> sorted, merged ranges. */
static int parse_lock_ports(const char *v, struct origin_lock_port *out, size_t *n)
{
	size_t nw = 0, k = 0;

	if (origin_lock_parse_ports(v, true, out, NFT_LOCK_MAX_PORTS, &nw) < 0)
		return -1;
	qsort(out, nw, sizeof(*out), port_cmp);
	for (size_t i = 0; i < nw; i++) {
		if (k > 0 && out[i].lo <= (uint32_t)out[k - 1].hi + 1) {
			if (out[i].hi > out[k - 1].hi)
				out[k - 1].hi = out[i].hi;
			continue;
		}
		out[k++] = out[i];
	}
	*n = k;
	return 0;
}

static int parse_lock(struct nft_backend *nb, const struct target_config *tc, struct cda_error *err)
{
	const char *tcp = target_get(tc, "lock_ports"), *udp = target_get(tc, "lock_udp");
	const char *key = origin_lock_first_key(tc);

	if (key != NULL && !nb->create)
		return backend_bad_value(
			err, tc, key,
			"the origin lock needs cdnallow's own table (create = yes): "
			"with create = no the table is yours, so drop non-CDN "
			"sources in your own rules (see cdnallow.conf(5))");
	if (key != NULL && tcp == NULL && udp == NULL)
		return backend_bad_value(err, tc, key, "needs lock_ports or lock_udp");
	if (tcp == NULL && udp == NULL)
		return 0;
	nb->lock_on = true;
	if (tcp != NULL && parse_lock_ports(tcp, nb->lock.tcp, &nb->lock.n_tcp) < 0)
		return backend_bad_value(err, tc, "lock_ports",
					 "expected 1 to 32 TCP ports or ranges (80 443 8000-8080)");
	if (udp != NULL && parse_lock_ports(udp, nb->lock.udp, &nb->lock.n_udp) < 0)
		return backend_bad_value(err, tc, "lock_udp",
					 "expected 1 to 32 UDP ports or ranges (443)");
	if (origin_lock_parse_forward(tc, &nb->lock_fwd, err) < 0)
		return -1;
	nb->fwd_on = nb->lock_fwd == ORIGIN_LOCK_FWD_YES;
	if (origin_lock_parse_allow(tc, nft_has_set(nb, 0), nft_has_set(nb, 1), &nb->lock_allow,
				    &nb->lock.n_allow, err) < 0)
		return -1;
	nb->lock.allow = nb->lock_allow;
	return 0;
}

int nft_parse_config(struct nft_backend *nb, const struct target_config *tc, struct cda_error *err)
{
	const char *v;

	v = target_get(tc, "family");
	if (v == NULL || strcmp(v, "inet") == 0) {
		nb->family = NFPROTO_INET;
		nb->family_name = "inet";
	} else if (strcmp(v, "ip") == 0) {
		nb->family = NFPROTO_IPV4;
		nb->family_name = "ip";
	} else if (strcmp(v, "ip6") == 0) {
		nb->family = NFPROTO_IPV6;
		nb->family_name = "ip6";
	} else {
		return backend_bad_value(err, tc, "family", "expected inet, ip or ip6");
	}
	if (get_name(tc, "table", "cdnallow", false, nb->table, err) < 0 ||
	    get_name(tc, "set_v4", nb->family == NFPROTO_IPV6 ? "none" : "allow_v4", true,
		     nb->set[0], err) < 0 ||
	    get_name(tc, "set_v6", nb->family == NFPROTO_IPV4 ? "none" : "allow_v6", true,
		     nb->set[1], err) < 0)
		return -1;
	if (!nft_has_set(nb, 0) && !nft_has_set(nb, 1))
		return backend_bad_value(err, tc, target_line(tc, "set_v4") ? "set_v4" : "set_v6",
					 "no set left to sync (both set_v4 and set_v6 are none)");
	if (nft_has_set(nb, 0) && strcmp(nb->set[0], nb->set[1]) == 0)
		return backend_bad_value(err, tc, "set_v6", "must differ from set_v4");
	nb->set_line[0] = target_line(tc, "set_v4");
	nb->set_line[1] = target_line(tc, "set_v6");
	nb->create = true;
	v = target_get(tc, "create");
	if (v != NULL && config_parse_bool(v, &nb->create) < 0)
		return backend_bad_value(err, tc, "create", "expected yes or no");
	v = target_get(tc, "verify");
	if (v == NULL || strcmp(v, "auto") == 0)
		nb->verify = VERIFY_AUTO;
	else if (strcmp(v, "full") == 0)
		nb->verify = VERIFY_FULL;
	else if (strcmp(v, "genid") == 0)
		nb->verify = VERIFY_GENID;
	else
		return backend_bad_value(err, tc, "verify", "expected auto, full or genid");
	return parse_lock(nb, tc, err);
}
