// SPDX-License-Identifier: MIT
/* The nftables backend's table and sets as the kernel has them: kind, flags, handles. */
#include "nft_backend.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "cda_error.h"
#include "nft_batch.h"

/* nft's datatype numbers (nftables include/datatype.h) */
#define TYPE_IPADDR 7u
#define TYPE_IP6ADDR 8u

struct set_desc {
	uint32_t key_type, key_len, flags;
	uint64_t handle;
	char expr[32]; /* the first per-element expression (counter, quota, ...), "" when none */
};

/* The NFTA_EXPR_NAME of one expression nest, "?" when it has none. */
static void expr_name(const struct nlattr *expr, struct set_desc *d)
{
	const struct nlattr *a;

	snprintf(d->expr, sizeof(d->expr), "?");
	mnl_attr_for_each_nested (a, expr)
		if (mnl_attr_get_type(a) == NFTA_EXPR_NAME &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			snprintf(d->expr, sizeof(d->expr), "%s", mnl_attr_get_str(a));
}

/* NFTA_SET_EXPR is one expression; NFTA_SET_EXPRESSIONS a list of them: the first. */
static void set_expr(const struct nlattr *a, struct set_desc *d)
{
	const struct nlattr *e;

	if (mnl_attr_get_type(a) == NFTA_SET_EXPR) {
		expr_name(a, d);
		return;
	}
	mnl_attr_for_each_nested (e, a)
		if (mnl_attr_get_type(e) == NFTA_LIST_ELEM) {
			expr_name(e, d);
			return;
		}
}

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct set_desc *d = data;
	const struct nlattr *a;

	mnl_attr_for_each (a, nlh, sizeof(struct nfgenmsg)) {
		uint16_t type = mnl_attr_get_type(a);

		if (type == NFTA_SET_HANDLE && mnl_attr_validate(a, MNL_TYPE_U64) == 0)
			d->handle = be64toh(mnl_attr_get_u64(a));
		else if ((type == NFTA_SET_EXPR || type == NFTA_SET_EXPRESSIONS) &&
			 d->expr[0] == '\0')
			set_expr(a, d);
		else if (type == NFTA_SET_TIMEOUT)
			d->flags |= NFT_SET_TIMEOUT; /* implied by a default timeout */
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			continue;
		if (type == NFTA_SET_KEY_TYPE)
			d->key_type = ntohl(mnl_attr_get_u32(a));
		else if (type == NFTA_SET_KEY_LEN)
			d->key_len = ntohl(mnl_attr_get_u32(a));
		else if (type == NFTA_SET_FLAGS)
			d->flags |= ntohl(mnl_attr_get_u32(a));
	}
	return MNL_CB_OK;
}

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *a;

	mnl_attr_for_each (a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == NFTA_TABLE_HANDLE &&
		    mnl_attr_validate(a, MNL_TYPE_U64) == 0)
			*(uint64_t *)data = be64toh(mnl_attr_get_u64(a));
	return MNL_CB_OK;
}

/* The set's flags as nft(8) lists them: "interval,timeout". */
static void flags_text(uint32_t flags, char *buf, size_t size)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {{NFT_SET_CONSTANT, "constant"}, {NFT_SET_INTERVAL, "interval"},
		     {NFT_SET_TIMEOUT, "timeout"},   {NFT_SET_EVAL, "dynamic"},
		     {NFT_SET_MAP, "map"},	     {NFT_SET_OBJECT, "object"},
		     {NFT_SET_CONCAT, "concat"}};
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && o < size; i++)
		if (flags & names[i].bit)
			o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? "," : "",
					      names[i].name);
}

static void describe_set(const struct set_desc *d, char *buf, size_t size)
{
	const char *t = d->key_type == TYPE_IPADDR    ? "ipv4_addr"
			: d->key_type == TYPE_IP6ADDR ? "ipv6_addr"
						      : NULL;
	int n;

	if (t != NULL)
		n = snprintf(buf, size, "type %s", t);
	else
		n = snprintf(buf, size, "key type %u (%u bytes)", d->key_type, d->key_len);
	snprintf(buf + n, size - (size_t)n, "%s%s%s",
		 d->flags & NFT_SET_INTERVAL ? ", flags interval" : ", without flags interval",
		 d->flags & (NFT_SET_MAP | NFT_SET_OBJECT) ? ", a map" : "",
		 d->flags & NFT_SET_CONCAT ? ", concatenated" : "");
}

/* What to do about a set cdnallow cannot use: for our own table, have it recreated. */
static void remedy(const struct nft_backend *nb, int i, char *buf, size_t size)
{
	if (nb->create)
		snprintf(buf, size,
			 ": delete it (nft delete set %s %s %s; cdnallow unlock first if locked) "
			 "and the next run recreates it",
			 nb->family_name, nb->table, nb->set[i]);
	else
		snprintf(buf, size,
			 "; cdnallow needs type %s; flags interval, without timeout, dynamic or "
			 "constant",
			 i ? "ipv6_addr" : "ipv4_addr");
}

/*
 * Whether set i is an interval set of addresses whose elements change only by commits and,
 * in our own table, exactly the set our NEWSET asks for (the kernel refuses a NEWSET that
 * differs from an existing set: EEXIST on every run). Admin-owned sets are configuration
 * errors at the set_v4/set_v6 line; those of our own table, apply errors.
 */
static int check_set(struct nft_backend *nb, int i, const struct set_desc *d,
		     struct cda_error *err)
{
	uint32_t want_type = i ? TYPE_IP6ADDR : TYPE_IPADDR, want_len = i ? 16 : 4;
	enum cda_errc code = nb->create ? CDA_EAPPLY : CDA_ECONFIG;
	const char *why, *flag, *type = i ? "ipv6_addr" : "ipv4_addr";
	char what[128], fix[640];

	remedy(nb, i, fix, sizeof(fix));
	if (d->key_type != want_type || d->key_len != want_len || !(d->flags & NFT_SET_INTERVAL) ||
	    (d->flags & (NFT_SET_MAP | NFT_SET_OBJECT | NFT_SET_CONCAT))) {
		describe_set(d, what, sizeof(what));
		cda_error_set(err, code, "set %s %s %s has %s; cdnallow needs type %s; flags interval",
			      nb->family_name, nb->table, nb->set[i], what, type);
	} else if ((why = nft_set_untrackable(d->flags, &flag)) != NULL) {
		cda_error_set(err, code,
			      "set %s %s %s has flags %s (%s without a ruleset change cdnallow "
			      "could see)%s",
			      nb->family_name, nb->table, nb->set[i], flag, why, fix);
	} else if (nb->create && (d->flags != NFT_SET_INTERVAL || d->expr[0] != '\0')) {
		if (d->expr[0] != '\0')
			snprintf(what, sizeof(what), "a per-element %s", d->expr);
		else
			flags_text(d->flags, what + snprintf(what, sizeof(what), "flags "),
				   sizeof(what) - 6);
		cda_error_set(err, code, "set %s %s %s has %s, unlike the type %s; flags interval "
					 "cdnallow creates%s",
			      nb->family_name, nb->table, nb->set[i], what, type, fix);
	} else {
		return 0;
	}
	return cda_error_at(err, nb->config_path, nb->set_line[i]);
}

/* Does the table exist, do the sets exist with the right type, and their handles (the
 * cache's key names them). Missing objects are an error only for an admin-owned table; a
 * set of the wrong kind always is. */
int nft_read_objects(struct nft_backend *nb, struct cda_error *err)
{
	struct nlmsghdr *nlh = nft_nl_req(nb, NFT_MSG_GETTABLE, nb->family, NLM_F_ACK);

	nb->set_exists[0] = nb->set_exists[1] = false;
	nb->table_handle = nb->set_handle[0] = nb->set_handle[1] = 0;
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, nb->table);
	nb->table_exists = nft_nl_talk(nb, nlh, table_cb, &nb->table_handle) == 0;
	if (!nb->table_exists) {
		if (errno != ENOENT)
			return cda_error_sys(err, CDA_EAPPLY, "looking up table %s %s",
					     nb->family_name, nb->table);
		if (nb->create) {
			nft_cache_bind(nb);
			return 0;
		}
		return cda_error_set(err, CDA_EAPPLY,
				     "table %s %s does not exist (create = no: the admin's "
				     "ruleset must define it and its sets)",
				     nb->family_name, nb->table);
	}
	for (int i = 0; i < 2; i++) {
		struct set_desc d = {0};

		if (!nft_has_set(nb, i))
			continue;
		nlh = nft_nl_req(nb, NFT_MSG_GETSET, nb->family, NLM_F_ACK);
		mnl_attr_put_strz(nlh, NFTA_SET_TABLE, nb->table);
		mnl_attr_put_strz(nlh, NFTA_SET_NAME, nb->set[i]);
		if (nft_nl_talk(nb, nlh, set_cb, &d) < 0) {
			if (errno != ENOENT)
				return cda_error_sys(err, CDA_EAPPLY, "looking up set %s %s %s",
						     nb->family_name, nb->table, nb->set[i]);
			if (nb->create)
				continue;
			return cda_error_set(err, CDA_EAPPLY,
					     "set %s %s %s does not exist (create = no: define it "
					     "as type %s; flags interval)",
					     nb->family_name, nb->table, nb->set[i],
					     i ? "ipv6_addr" : "ipv4_addr");
		}
		if (check_set(nb, i, &d, err) < 0)
			return -1;
		nb->set_exists[i] = true;
		nb->set_handle[i] = d.handle;
	}
	nft_cache_bind(nb);
	return 0;
}
