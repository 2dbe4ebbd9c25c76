// SPDX-License-Identifier: MIT
#include "backend.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "cda_error.h"
#include "config.h"
#include "nft_batch.h"
#include "nft_script.h"
#include "ranges.h"
#include "state.h"

#define RECV_BUF (64u << 10)
#define READ_TRIES 5
#define TYPE_IPADDR 7u
#define TYPE_IP6ADDR 8u
/* Netlink attribute bytes of one element (nft_batch.c writes exactly these). */
#define ELEM4_START 16u
#define ELEM4_END 24u
#define ELEM6_START 28u
#define ELEM6_END 36u

enum verify_mode { VERIFY_AUTO, VERIFY_FULL, VERIFY_GENID };
enum lock_fwd { FWD_AUTO, FWD_YES, FWD_NO };

/* The origin lock's chains as read() found them. */
struct lock_seen {
	bool exists, ok, recreate; /* ok: hook, policy and every rule as configured */
};

struct nft_backend {
	struct backend base;
	struct backend_env env;
	char *name, *cache_key, *config_path;
	char table[256];
	char set[2][256]; /* [0] v4, [1] v6; "" when the family is not synced */
	uint16_t family;
	const char *family_name;
	bool create;
	enum verify_mode verify;
	unsigned int set_line[2];
	struct mnl_socket *nl;
	uint32_t portid, seq;
	char *buf;
	/* What the kernel holds as far as we know, and the genid that goes with it. */
	bool known;
	uint32_t genid;
	struct ranges *last;
	bool table_exists, set_exists[2];
	/* Origin lock (own table only): the configuration, and what the kernel holds. */
	bool lock_on;
	enum lock_fwd lock_fwd;
	struct nft_lock_spec lock;
	struct cidr *lock_allow;
	bool fwd_on;              /* lock_forward resolved (auto: Docker or a forward chain seen) */
	struct lock_seen seen[2]; /* [NFT_LOCK_INPUT], [NFT_LOCK_FORWARD] */
	char lock_text[128];
	char *script_path; /* nft_file: the script a reload of the host's ruleset includes */
};

static const char *const nft_keys[] = {"table",        "family",     "set_v4",     "set_v6",
				       "create",       "verify",     "lock_ports", "lock_udp",
				       "lock_forward", "lock_allow", "nft_file",   NULL};

static struct nft_backend *nft_from_base(struct backend *be)
{
	assert(be->ops == &nft_backend_ops);
	return (struct nft_backend *)be;
}

static bool has_set(const struct nft_backend *nb, int i)
{
	return nb->set[i][0] != '\0';
}

static int bad_value(struct cda_error *err, const struct target_config *tc, const char *key,
		     const char *what)
{
	cda_error_set(err, CDA_ECONFIG, "%s: %s", key, what);
	return cda_error_at(err, tc->config_path, target_line(tc, key));
}

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
		return bad_value(err, tc, key,
				 "expected an nftables name (letters, digits, _ . / -; 1..255)");
	snprintf(out, 256, "%s", v);
	return 0;
}

static int port_cmp(const void *a, const void *b)
{
	const struct nft_port_range *x = a, *y = b;

	return x->lo != y->lo ? (x->lo > y->lo) - (x->lo < y->lo)
			      : (x->hi > y->hi) - (x->hi < y->hi);
}

/* "80 443 8000-8080" (or 8000:8080) -> sorted, merged ranges. */
static int parse_lock_ports(const char *v, struct nft_port_range *out, size_t *n)
{
	size_t nw = 0, k = 0;
	char **w = config_split_words(v, &nw);
	int rc = -1;

	if (w == NULL || nw == 0 || nw > NFT_LOCK_MAX_PORTS)
		goto out;
	for (size_t i = 0; i < nw; i++) {
		unsigned long lo, hi;
		char *end;

		if (w[i][0] < '0' || w[i][0] > '9')
			goto out;
		lo = hi = strtoul(w[i], &end, 10);
		if (*end == '-' || *end == ':') {
			if (end[1] < '0' || end[1] > '9')
				goto out;
			hi = strtoul(end + 1, &end, 10);
		}
		if (*end != '\0' || lo < 1 || hi > 65535 || lo > hi)
			goto out;
		out[i].lo = (uint16_t)lo;
		out[i].hi = (uint16_t)hi;
	}
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
	rc = 0;
out:
	config_free_words(w);
	return rc;
}

static int parse_lock_allow(struct nft_backend *nb, const struct target_config *tc,
			    struct cda_error *err)
{
	const char *v = target_get(tc, "lock_allow");
	size_t nw = 0;
	char **w;

	if (v == NULL)
		return 0;
	if ((w = config_split_words(v, &nw)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "reading lock_allow");
	if (nw == 0 || nw > NFT_LOCK_MAX_ALLOW) {
		config_free_words(w);
		return bad_value(err, tc, "lock_allow", "expected 1 to 64 addresses or prefixes");
	}
	if ((nb->lock_allow = calloc(nw, sizeof(*nb->lock_allow))) == NULL) {
		config_free_words(w);
		return cda_error_sys(err, CDA_ESYS, "reading lock_allow");
	}
	for (size_t i = 0; i < nw; i++) {
		struct cidr *c = &nb->lock_allow[i];

		if (cidr_parse(w[i], strlen(w[i]), c, NULL) != CIDR_OK) {
			config_free_words(w);
			return bad_value(err, tc, "lock_allow",
					 "expected addresses or prefixes without host bits "
					 "(192.0.2.7 2001:db8::/64)");
		}
		if ((c->family == CDA_AF_INET && !has_set(nb, 0)) ||
		    (c->family == CDA_AF_INET6 && !has_set(nb, 1))) {
			config_free_words(w);
			return bad_value(err, tc, "lock_allow",
					 "an address of a family this target does not sync");
		}
	}
	config_free_words(w);
	nb->lock.allow = nb->lock_allow;
	nb->lock.n_allow = nw;
	return 0;
}

static int parse_lock(struct nft_backend *nb, const struct target_config *tc, struct cda_error *err)
{
	static const char *const keys[] = {"lock_ports", "lock_udp", "lock_forward", "lock_allow"};
	const char *tcp = target_get(tc, "lock_ports"), *udp = target_get(tc, "lock_udp");
	const char *fwd = target_get(tc, "lock_forward");

	for (size_t i = 0; i < 4; i++) {
		if (target_get(tc, keys[i]) == NULL)
			continue;
		if (!nb->create)
			return bad_value(
				err, tc, keys[i],
				"the origin lock needs cdnallow's own table (create = yes): "
				"with create = no the table is yours, so drop non-CDN "
				"sources in your own rules (see cdnallow.conf(5))");
		if (tcp == NULL && udp == NULL)
			return bad_value(err, tc, keys[i], "needs lock_ports or lock_udp");
	}
	if (tcp == NULL && udp == NULL)
		return 0;
	nb->lock_on = true;
	if (tcp != NULL && parse_lock_ports(tcp, nb->lock.tcp, &nb->lock.n_tcp) < 0)
		return bad_value(err, tc, "lock_ports",
				 "expected 1 to 32 TCP ports or ranges (80 443 8000-8080)");
	if (udp != NULL && parse_lock_ports(udp, nb->lock.udp, &nb->lock.n_udp) < 0)
		return bad_value(err, tc, "lock_udp", "expected 1 to 32 UDP ports or ranges (443)");
	if (fwd == NULL || strcmp(fwd, "auto") == 0) {
		nb->lock_fwd = FWD_AUTO;
	} else {
		bool b;

		if (config_parse_bool(fwd, &b) < 0)
			return bad_value(err, tc, "lock_forward", "expected yes, no or auto");
		nb->lock_fwd = b ? FWD_YES : FWD_NO;
	}
	nb->fwd_on = nb->lock_fwd == FWD_YES;
	return parse_lock_allow(nb, tc, err);
}

static int parse_config(struct nft_backend *nb, const struct target_config *tc,
			struct cda_error *err)
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
		return bad_value(err, tc, "family", "expected inet, ip or ip6");
	}
	if (get_name(tc, "table", "cdnallow", false, nb->table, err) < 0 ||
	    get_name(tc, "set_v4", nb->family == NFPROTO_IPV6 ? "none" : "allow_v4", true,
		     nb->set[0], err) < 0 ||
	    get_name(tc, "set_v6", nb->family == NFPROTO_IPV4 ? "none" : "allow_v6", true,
		     nb->set[1], err) < 0)
		return -1;
	if (!has_set(nb, 0) && !has_set(nb, 1))
		return bad_value(err, tc, target_line(tc, "set_v4") ? "set_v4" : "set_v6",
				 "no set left to sync (both set_v4 and set_v6 are none)");
	if (has_set(nb, 0) && strcmp(nb->set[0], nb->set[1]) == 0)
		return bad_value(err, tc, "set_v6", "must differ from set_v4");
	nb->set_line[0] = target_line(tc, "set_v4");
	nb->set_line[1] = target_line(tc, "set_v6");
	nb->create = true;
	v = target_get(tc, "create");
	if (v != NULL && config_parse_bool(v, &nb->create) < 0)
		return bad_value(err, tc, "create", "expected yes or no");
	v = target_get(tc, "verify");
	if (v == NULL || strcmp(v, "auto") == 0)
		nb->verify = VERIFY_AUTO;
	else if (strcmp(v, "full") == 0)
		nb->verify = VERIFY_FULL;
	else if (strcmp(v, "genid") == 0)
		nb->verify = VERIFY_GENID;
	else
		return bad_value(err, tc, "verify", "expected auto, full or genid");
	return parse_lock(nb, tc, err);
}

static void nft_close(struct backend *be)
{
	struct nft_backend *nb;

	if (be == NULL)
		return;
	nb = nft_from_base(be);
	if (nb->nl != NULL)
		mnl_socket_close(nb->nl);
	ranges_free(nb->last);
	free(nb->lock_allow);
	free(nb->buf);
	free(nb->name);
	free(nb->cache_key);
	free(nb->config_path);
	free(nb->script_path);
	free(nb);
}

/*
 * The ruleset generation id restarts at every boot and is per network namespace: a cache
 * is trusted only in the boot and namespace that wrote it, so its key names both.
 */
static const char *boot_tag(char *tag, size_t size)
{
	char id[64] = "";
	struct stat st;
	FILE *fp = fopen("/proc/sys/kernel/random/boot_id", "re");
	size_t o = 0;

	if (fp != NULL) {
		if (fgets(id, sizeof(id), fp) == NULL)
			id[0] = '\0';
		fclose(fp);
	}
	for (size_t i = 0; id[i] != '\0' && o < 12 && o + 1 < size; i++)
		if (isxdigit((unsigned char)id[i]))
			tag[o++] = (char)tolower((unsigned char)id[i]);
	tag[o] = '\0';
	if (stat("/proc/self/ns/net", &st) == 0)
		snprintf(tag + o, size - o, "-%lx", (unsigned long)st.st_ino);
	return tag;
}

/* Remove the caches of earlier boots or namespaces for this target (best effort). */
static void drop_stale_caches(const struct nft_backend *nb)
{
	char *pattern = NULL, *ours = NULL;
	glob_t g;

	if (asprintf(&pattern, "%s/applied-nft-%s-*.list", state_dir(nb->env.state), nb->name) <
		    0 ||
	    asprintf(&ours, "%s/applied-%s.list", state_dir(nb->env.state), nb->cache_key) < 0) {
		free(pattern);
		return;
	}
	if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			if (strcmp(g.gl_pathv[i], ours) != 0)
				unlink(g.gl_pathv[i]);
		globfree(&g);
	}
	free(pattern);
	free(ours);
}

static int nft_open(struct backend **out, const struct target_config *tc,
		    const struct backend_env *env, struct cda_error *err)
{
	struct nft_backend *nb = calloc(1, sizeof(*nb));
	const char *name = tc->name != NULL ? tc->name : "nftables";
	char tag[48];

	if (nb == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the nftables backend");
	nb->base.ops = &nft_backend_ops;
	if (env != NULL)
		nb->env = *env;
	else
		nb->env.verify_max = 10000;
	if ((nb->name = strdup(name)) == NULL ||
	    (tc->config_path != NULL && (nb->config_path = strdup(tc->config_path)) == NULL) ||
	    asprintf(&nb->cache_key, "nft-%s-%s", name, boot_tag(tag, sizeof(tag))) < 0) {
		nb->cache_key = NULL;
		cda_error_sys(err, CDA_ESYS, "allocating the nftables backend");
		goto fail;
	}
	if (parse_config(nb, tc, err) < 0)
		goto fail;
	if (nft_script_path(target_get(tc, "nft_file"),
			    nb->env.state != NULL ? state_dir(nb->env.state) : NULL, name,
			    &nb->script_path, err) < 0) {
		cda_error_at(err, tc->config_path, target_line(tc, "nft_file"));
		goto fail;
	}
	*out = &nb->base;
	return 0;
fail:
	nft_close(&nb->base);
	return -1;
}

/* Netlink plumbing. */

static int nl_ready(struct nft_backend *nb, struct cda_error *err)
{
	int one = 1;

	if (nb->nl != NULL)
		return 0;
	if ((nb->buf = malloc(RECV_BUF)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the netlink buffer");
	nb->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (nb->nl == NULL || mnl_socket_bind(nb->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		cda_error_sys(err, CDA_EAPPLY, "opening a netfilter netlink socket");
		if (nb->nl != NULL)
			mnl_socket_close(nb->nl);
		nb->nl = NULL;
		return -1;
	}
	/* Errors without the echoed request, with the kernel's reason and offset. */
	mnl_socket_setsockopt(nb->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nb->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	nb->portid = mnl_socket_get_portid(nb->nl);
	nb->seq = (uint32_t)time(NULL);
	return 0;
}

/* Send one request and run cb over the replies until the ack or DONE; errno on failure. */
static int talk(struct nft_backend *nb, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	uint32_t seq = nlh->nlmsg_seq; /* nlh lives in buf, which the replies overwrite */
	int ret;

	if (mnl_socket_sendto(nb->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	do {
		ssize_t n = mnl_socket_recvfrom(nb->nl, nb->buf, RECV_BUF);

		if (n < 0)
			return -1;
		ret = mnl_cb_run(nb->buf, (size_t)n, seq, nb->portid, cb, data);
	} while (ret > 0);
	return ret < 0 ? -1 : 0;
}

static struct nlmsghdr *req(struct nft_backend *nb, int type, uint16_t family, uint16_t flags)
{
	return nftnl_nlmsg_build_hdr(nb->buf, (uint16_t)type, family, flags, nb->seq++);
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == NFTA_GEN_ID &&
		    mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
			*(uint32_t *)data = ntohl(mnl_attr_get_u32(a));
			return MNL_CB_OK;
		}
	return MNL_CB_OK;
}

static int get_genid(struct nft_backend *nb, uint32_t *genid, struct cda_error *err)
{
	struct nlmsghdr *nlh = req(nb, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK);

	*genid = 0;
	if (talk(nb, nlh, gen_cb, genid) < 0)
		return cda_error_sys(err, CDA_EAPPLY, "reading the nftables generation id");
	return 0;
}

struct set_desc {
	bool seen;
	uint32_t key_type, key_len, flags;
};

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct set_desc *d = data;
	const struct nlattr *a;

	d->seen = true;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		uint32_t v;

		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			continue;
		v = ntohl(mnl_attr_get_u32(a));
		switch (mnl_attr_get_type(a)) {
		case NFTA_SET_KEY_TYPE:
			d->key_type = v;
			break;
		case NFTA_SET_KEY_LEN:
			d->key_len = v;
			break;
		case NFTA_SET_FLAGS:
			d->flags = v;
			break;
		default:
			break;
		}
	}
	return MNL_CB_OK;
}

static int null_cb(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_OK;
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

/* Does the table exist, do the sets exist with the right type? Missing objects are an error
 * only for an admin-owned table; a set of the wrong kind always is. */
static int check_objects(struct nft_backend *nb, struct cda_error *err)
{
	struct nlmsghdr *nlh = req(nb, NFT_MSG_GETTABLE, nb->family, NLM_F_ACK);

	nb->set_exists[0] = nb->set_exists[1] = false;
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, nb->table);
	nb->table_exists = talk(nb, nlh, null_cb, NULL) == 0;
	if (!nb->table_exists) {
		if (errno != ENOENT)
			return cda_error_sys(err, CDA_EAPPLY, "looking up table %s %s",
					     nb->family_name, nb->table);
		if (nb->create)
			return 0;
		return cda_error_set(err, CDA_EAPPLY,
				     "table %s %s does not exist (create = no: the admin's "
				     "ruleset must define it and its sets)",
				     nb->family_name, nb->table);
	}
	for (int i = 0; i < 2; i++) {
		struct set_desc d = {0};
		uint32_t want_type = i ? TYPE_IP6ADDR : TYPE_IPADDR, want_len = i ? 16 : 4;
		char what[128];

		if (!has_set(nb, i))
			continue;
		nlh = req(nb, NFT_MSG_GETSET, nb->family, NLM_F_ACK);
		mnl_attr_put_strz(nlh, NFTA_SET_TABLE, nb->table);
		mnl_attr_put_strz(nlh, NFTA_SET_NAME, nb->set[i]);
		if (talk(nb, nlh, set_cb, &d) < 0) {
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
		if (d.key_type == want_type && d.key_len == want_len &&
		    (d.flags & NFT_SET_INTERVAL) &&
		    !(d.flags & (NFT_SET_MAP | NFT_SET_OBJECT | NFT_SET_CONCAT))) {
			nb->set_exists[i] = true;
			continue;
		}
		describe_set(&d, what, sizeof(what));
		cda_error_set(err, nb->create ? CDA_EAPPLY : CDA_ECONFIG,
			      "set %s %s %s has %s; cdnallow needs type %s; flags interval",
			      nb->family_name, nb->table, nb->set[i], what,
			      i ? "ipv6_addr" : "ipv4_addr");
		return cda_error_at(err, nb->config_path, nb->set_line[i]);
	}
	return 0;
}

struct dump_ctx {
	struct nft_elems *e;
	bool first;
	uint16_t res_id;
	bool changed; /* the ruleset generation moved during the dump */
	bool bad;
};

static int elem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *c = data;
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *list = NULL;

	if (c->first) {
		c->first = false;
		c->res_id = g->res_id;
	} else if (g->res_id != c->res_id) {
		c->changed = true;
	}
	mnl_attr_for_each(a, nlh, sizeof(*g))
		if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_ELEMENTS)
			list = a;
	if (list == NULL)
		return MNL_CB_OK;
	mnl_attr_for_each_nested(a, list) {
		const struct nlattr *b, *k;
		const void *key = NULL;
		size_t len = 0;
		bool end = false;

		mnl_attr_for_each_nested(b, a) {
			if (mnl_attr_get_type(b) == NFTA_SET_ELEM_KEY) {
				mnl_attr_for_each_nested(k, b)
					if (mnl_attr_get_type(k) == NFTA_DATA_VALUE) {
						key = mnl_attr_get_payload(k);
						len = mnl_attr_get_payload_len(k);
					}
			} else if (mnl_attr_get_type(b) == NFTA_SET_ELEM_FLAGS &&
				   mnl_attr_validate(b, MNL_TYPE_U32) == 0) {
				end = ntohl(mnl_attr_get_u32(b)) & NFT_SET_ELEM_INTERVAL_END;
			}
		}
		if (key == NULL || nft_elems_add(c->e, key, len, end) < 0)
			c->bad = true;
	}
	return MNL_CB_OK;
}

/* Dump one set into out. 1: the generation changed meanwhile (or differs from genid). */
static int dump_set(struct nft_backend *nb, int i, uint32_t genid, struct ranges *out,
		    struct cda_error *err)
{
	struct dump_ctx c = {.first = true};
	struct nlmsghdr *nlh;
	int rc;

	if ((c.e = nft_elems_new(i ? CDA_AF_INET6 : CDA_AF_INET)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "reading set %s", nb->set[i]);
	nlh = req(nb, NFT_MSG_GETSETELEM, nb->family, NLM_F_DUMP);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, nb->table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, nb->set[i]);
	if (talk(nb, nlh, elem_cb, &c) < 0) {
		cda_error_sys(err, CDA_EAPPLY, "reading set %s %s %s", nb->family_name, nb->table,
			      nb->set[i]);
		nft_elems_free(c.e);
		return -1;
	}
	if (c.bad) {
		nft_elems_free(c.e);
		return cda_error_set(err, CDA_EAPPLY, "set %s %s %s: unexpected element in dump",
				     nb->family_name, nb->table, nb->set[i]);
	}
	rc = nft_elems_finish(c.e, out);
	if (rc < 0)
		return cda_error_sys(err, CDA_ESYS, "decoding set %s", nb->set[i]);
	if (c.changed || (!c.first && ntohs(c.res_id) != (genid & 0xffff)))
		return 1;
	return 0;
}

/* ---- origin lock: what the kernel holds ---- */

static const char *const lock_chain_name[2] = {NFT_LOCK_CHAIN_INPUT, NFT_LOCK_CHAIN_FORWARD};

/* The plan fields the lock's rules depend on (table, family, sets). */
static void plan_base(const struct nft_backend *nb, struct nft_plan *p)
{
	memset(p, 0, sizeof(*p));
	p->table = nb->table;
	p->family = nb->family;
	p->create = nb->create;
	p->set_v4 = has_set(nb, 0) ? nb->set[0] : NULL;
	p->set_v6 = has_set(nb, 1) ? nb->set[1] : NULL;
}

/* Which synced family has an empty set in r (0 v4, 1 v6), -1 when none. */
static int empty_family(const struct nft_backend *nb, const struct ranges *r)
{
	if (has_set(nb, 0) && (r == NULL || ranges_count4(r) == 0))
		return 0;
	if (has_set(nb, 1) && (r == NULL || ranges_count6(r) == 0))
		return 1;
	return -1;
}

/* Whether chain h belongs in the table when the sets hold r: never with an empty set. */
static bool lock_wanted(const struct nft_backend *nb, const struct ranges *r, int h)
{
	return nb->create && nb->lock_on && empty_family(nb, r) < 0 &&
	       (h == NFT_LOCK_INPUT || nb->fwd_on);
}

struct chain_seen {
	bool exists, hook;
	uint32_t hooknum, policy;
	int32_t prio;
	char type[16];
};

struct chain_dump {
	const struct nft_backend *nb;
	bool docker, forward; /* Docker's chains, a forward base chain (not ours) */
	struct chain_seen c[2];
};

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct chain_dump *d = data;
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *b;
	const char *table = NULL, *name = NULL, *type = "";
	struct chain_seen c = {.exists = true, .policy = NF_ACCEPT};

	mnl_attr_for_each(a, nlh, sizeof(*g)) {
		switch (mnl_attr_get_type(a)) {
		case NFTA_CHAIN_TABLE:
		case NFTA_CHAIN_NAME:
		case NFTA_CHAIN_TYPE:
			if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
				break;
			if (mnl_attr_get_type(a) == NFTA_CHAIN_TABLE)
				table = mnl_attr_get_str(a);
			else if (mnl_attr_get_type(a) == NFTA_CHAIN_NAME)
				name = mnl_attr_get_str(a);
			else
				type = mnl_attr_get_str(a);
			break;
		case NFTA_CHAIN_POLICY:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				c.policy = ntohl(mnl_attr_get_u32(a));
			break;
		case NFTA_CHAIN_HOOK:
			mnl_attr_for_each_nested(b, a) {
				if (mnl_attr_validate(b, MNL_TYPE_U32) < 0)
					continue;
				if (mnl_attr_get_type(b) == NFTA_HOOK_HOOKNUM) {
					c.hook = true;
					c.hooknum = ntohl(mnl_attr_get_u32(b));
				} else if (mnl_attr_get_type(b) == NFTA_HOOK_PRIORITY) {
					c.prio = (int32_t)ntohl(mnl_attr_get_u32(b));
				}
			}
			break;
		default:
			break;
		}
	}
	if (table == NULL || name == NULL)
		return MNL_CB_OK;
	snprintf(c.type, sizeof(c.type), "%s", type);
	if (g->nfgen_family == d->nb->family && strcmp(table, d->nb->table) == 0) {
		for (int h = 0; h < 2; h++)
			if (strcmp(name, lock_chain_name[h]) == 0)
				d->c[h] = c;
		return MNL_CB_OK; /* our own chains never count as someone else's */
	}
	if (g->nfgen_family != NFPROTO_IPV4 && g->nfgen_family != NFPROTO_IPV6 &&
	    g->nfgen_family != NFPROTO_INET)
		return MNL_CB_OK;
	/* Docker: iptables(-nft) DOCKER/DOCKER-USER chains, or its own nft tables */
	if (strncmp(table, "docker", 6) == 0 ||
	    (strcmp(table, "filter") == 0 &&
	     (strcmp(name, "DOCKER") == 0 || strcmp(name, "DOCKER-USER") == 0)))
		d->docker = true;
	if (c.hook && c.hooknum == NF_INET_FORWARD)
		d->forward = true;
	return MNL_CB_OK;
}

struct rule_dump {
	const struct nft_backend *nb;
	struct nft_plan p;
	size_t count[2];
	bool bad[2];
};

/* The comment TLV of a rule's userdata, or NULL. */
static const char *rule_comment(const struct nlattr *ud, size_t *len)
{
	const uint8_t *v = mnl_attr_get_payload(ud);
	size_t n = mnl_attr_get_payload_len(ud);

	for (size_t i = 0; i + 2 <= n && i + 2 + v[i + 1] <= n; i += 2 + v[i + 1]) {
		if (v[i] == NFTNL_UDATA_RULE_COMMENT) {
			*len = v[i + 1];
			return (const char *)v + i + 2;
		}
	}
	return NULL;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rule_dump *d = data;
	const struct nlattr *a, *ud = NULL;
	const char *chain = NULL, *com = NULL;
	size_t clen = 0;
	int h;
	char want[64];

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) == NFTA_RULE_CHAIN &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			chain = mnl_attr_get_str(a);
		else if (mnl_attr_get_type(a) == NFTA_RULE_USERDATA)
			ud = a;
	}
	if (chain == NULL)
		return MNL_CB_OK;
	for (h = 0; h < 2 && strcmp(chain, lock_chain_name[h]) != 0; h++)
		;
	if (h == 2)
		return MNL_CB_OK;
	if (ud != NULL)
		com = rule_comment(ud, &clen);
	nft_lock_comment(&d->p, &d->nb->lock, h, d->count[h], want, sizeof(want));
	if (com == NULL || clen != strlen(want) + 1 || memcmp(com, want, clen) != 0)
		d->bad[h] = true;
	d->count[h]++;
	return MNL_CB_OK;
}

static void lock_describe(struct nft_backend *nb, const struct ranges *r)
{
	char *t = nb->lock_text;
	size_t size = sizeof(nb->lock_text), k = 0;
	bool missing = false, differs = false;
	int f;

	t[0] = '\0';
	if (!nb->lock_on) {
		if (nb->seen[0].exists || nb->seen[1].exists)
			snprintf(t, size, "lock chains present but not configured");
		return;
	}
	for (int proto = 0; proto < 2; proto++) {
		const struct nft_port_range *pr = proto ? nb->lock.udp : nb->lock.tcp;
		size_t n = proto ? nb->lock.n_udp : nb->lock.n_tcp;

		for (size_t i = 0; i < n && k < size; i++) {
			k += (size_t)snprintf(t + k, size - k, "%s", i ? "," : k ? " " : "");
			if (k < size && pr[i].lo == pr[i].hi)
				k += (size_t)snprintf(t + k, size - k, "%s%u",
						      i       ? ""
						      : proto ? "udp "
							      : "tcp ",
						      pr[i].lo);
			else if (k < size)
				k += (size_t)snprintf(t + k, size - k, "%s%u-%u",
						      i       ? ""
						      : proto ? "udp "
							      : "tcp ",
						      pr[i].lo, pr[i].hi);
		}
	}
	if (k < size)
		k += (size_t)snprintf(t + k, size - k, " on input%s", nb->fwd_on ? "+forward" : "");
	if ((f = empty_family(nb, r)) >= 0) {
		if (k < size)
			snprintf(t + k, size - k, ": withheld while set %s is empty", nb->set[f]);
		return;
	}
	for (int h = 0; h < 2; h++) {
		if (lock_wanted(nb, r, h)) {
			missing |= !nb->seen[h].exists;
			differs |= nb->seen[h].exists && !nb->seen[h].ok;
		} else {
			differs |= nb->seen[h].exists;
		}
	}
	if (k < size && (missing || differs))
		snprintf(t + k, size - k, ": %s",
			 missing ? "missing" : "differs from the configuration");
}

/* Read the lock chains of our own table (and, for lock_forward = auto, look for Docker). */
static int read_lock(struct nft_backend *nb, struct cda_error *err)
{
	struct chain_dump cd = {.nb = nb};
	struct rule_dump rd = {.nb = nb};
	struct nlmsghdr *nlh;

	memset(nb->seen, 0, sizeof(nb->seen));
	if (!nb->create || (!nb->lock_on && !nb->table_exists))
		goto done;
	nlh = req(nb, NFT_MSG_GETCHAIN, NFPROTO_UNSPEC, NLM_F_DUMP);
	if (talk(nb, nlh, chain_cb, &cd) < 0)
		return cda_error_sys(err, CDA_EAPPLY, "listing the nftables chains");
	if (nb->lock_on && nb->lock_fwd == FWD_AUTO)
		nb->fwd_on = cd.docker || cd.forward;
	for (int h = 0; h < 2; h++) {
		const struct chain_seen *c = &cd.c[h];
		uint32_t hooknum = h == NFT_LOCK_INPUT ? NF_INET_LOCAL_IN : NF_INET_FORWARD;

		nb->seen[h].exists = c->exists;
		nb->seen[h].recreate = c->exists && (!c->hook || c->hooknum != hooknum ||
						     c->prio != NFT_LOCK_PRIORITY ||
						     strcmp(c->type, "filter") != 0);
	}
	if (nb->seen[0].exists || nb->seen[1].exists) {
		plan_base(nb, &rd.p);
		nlh = req(nb, NFT_MSG_GETRULE, nb->family, NLM_F_DUMP);
		mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, nb->table);
		if (talk(nb, nlh, rule_cb, &rd) < 0)
			return cda_error_sys(err, CDA_EAPPLY, "listing the rules of %s %s",
					     nb->family_name, nb->table);
		for (int h = 0; h < 2; h++)
			nb->seen[h].ok = nb->lock_on && nb->seen[h].exists &&
					 !nb->seen[h].recreate && cd.c[h].policy == NF_ACCEPT &&
					 !rd.bad[h] &&
					 rd.count[h] == nft_lock_rule_count(&rd.p, &nb->lock, h);
	}
done:
	lock_describe(nb, nb->last);
	return 0;
}

static struct ranges *only_synced(const struct nft_backend *nb, const struct ranges *r)
{
	struct ranges *o = ranges_new();

	if (o == NULL)
		return NULL;
	if (r == NULL)
		return o;
	if ((has_set(nb, 0) && ranges_reserve(o, ranges_count4(r), 0) < 0) ||
	    (has_set(nb, 1) && ranges_reserve(o, 0, ranges_count6(r)) < 0))
		goto fail;
	for (size_t i = 0; has_set(nb, 0) && i < ranges_count4(r); i++)
		if (ranges_add4(o, ranges_v4(r)[i].lo, ranges_v4(r)[i].hi) < 0)
			goto fail;
	for (size_t i = 0; has_set(nb, 1) && i < ranges_count6(r); i++)
		if (ranges_add6(o, ranges_v6(r)[i].lo, ranges_v6(r)[i].hi) < 0)
			goto fail;
	ranges_sort(o);
	return o;
fail:
	ranges_free(o);
	return NULL;
}

/*
 * What the kernel holds now, with the genid it belongs to (nb->last, nb->genid).
 * use_cache: take the state cache when its genid is the current one (no dump).
 */
static int read_kernel(struct nft_backend *nb, bool use_cache, struct cda_error *err)
{
	struct ranges *got = NULL;

	if (nl_ready(nb, err) < 0)
		return -1;
	nb->known = false;
	for (int attempt = 0; attempt < READ_TRIES; attempt++) {
		uint32_t genid;
		int rc = 0;

		ranges_free(got);
		if ((got = ranges_new()) == NULL)
			return cda_error_sys(err, CDA_ESYS, "reading the nft sets");
		if (get_genid(nb, &genid, err) < 0 || check_objects(nb, err) < 0)
			goto fail;
		/* Only when every set exists: a reboot resets the genid but not the cache. */
		if (use_cache && nb->env.state != NULL && (!has_set(nb, 0) || nb->set_exists[0]) &&
		    (!has_set(nb, 1) || nb->set_exists[1])) {
			struct cda_error scratch = {0};
			struct ranges *cached = NULL;
			uint32_t cgen = 0;

			if (state_load_applied(nb->env.state, nb->cache_key, &cached, &cgen,
					       &scratch) == 1 &&
			    cgen == genid) {
				ranges_free(got);
				got = only_synced(nb, cached);
				ranges_free(cached);
				if (got == NULL)
					return cda_error_sys(err, CDA_ESYS, "reading the cache");
				nb->genid = genid;
				goto done;
			}
			ranges_free(cached);
		}
		for (int i = 0; i < 2 && rc == 0; i++)
			if (nb->set_exists[i])
				rc = dump_set(nb, i, genid, got, err);
		if (rc < 0)
			goto fail;
		if (rc == 0) {
			uint32_t after;

			/* Elements of an unchanged generation: the genid still the same. */
			if (get_genid(nb, &after, err) < 0)
				goto fail;
			if (after == genid) {
				nb->genid = genid;
				goto done;
			}
		}
	}
	cda_error_set(err, CDA_EAPPLY, "the nftables ruleset kept changing while reading %s %s",
		      nb->family_name, nb->table);
fail:
	ranges_free(got);
	return -1;
done:
	ranges_sort(got);
	ranges_free(nb->last);
	nb->last = got;
	if (read_lock(nb, err) < 0)
		return -1;
	nb->known = true;
	return 0;
}

static int nft_read(struct backend *be, struct ranges *cur, struct cda_error *err)
{
	struct nft_backend *nb = nft_from_base(be);

	if (read_kernel(nb, true, err) < 0)
		return -1;
	ranges_clear(cur);
	if (ranges_add_all(cur, nb->last) < 0)
		return cda_error_sys(err, CDA_ESYS, "reading the nft sets");
	ranges_sort(cur);
	return 0;
}

/* Sending a batch and judging the outcome. */

struct outcome {
	int error; /* first kernel errno, 0 when none */
	uint32_t seq;
	bool has_offs;
	uint32_t offs;
	char kmsg[96];
	unsigned int n_errors;
	bool end_acked;
	bool lost; /* ENOBUFS: acks were dropped, the outcome is unknown */
};

static void parse_ack(const struct nlmsghdr *nlh, uint32_t end_seq, struct outcome *o)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	size_t off = sizeof(*e);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return;
	if (e->error == 0) {
		if (e->msg.nlmsg_seq == end_seq)
			o->end_acked = true;
		return;
	}
	if (o->n_errors++ > 0)
		return;
	o->error = -e->error;
	o->seq = e->msg.nlmsg_seq;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (mnl_nlmsg_size(off) > nlh->nlmsg_len)
		return;
	mnl_attr_for_each(a, nlh, off) {
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0) {
			snprintf(o->kmsg, sizeof(o->kmsg), "%s", mnl_attr_get_str(a));
		} else if (mnl_attr_get_type(a) == NLMSGERR_ATTR_OFFS &&
			   mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
			o->has_offs = true;
			o->offs = mnl_attr_get_u32(a);
		}
	}
}

static void set_bufs(int fd, int opt_force, int opt, size_t want)
{
	int v = want > (size_t)(1 << 30) ? 1 << 30 : (int)want;

	if (setsockopt(fd, SOL_SOCKET, opt_force, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v));
}

static int send_batch(struct nft_backend *nb, const struct nft_batch *b, struct outcome *o,
		      struct cda_error *err)
{
	int fd = mnl_socket_get_fd(nb->nl);
	struct sockaddr_nl snl = {.nl_family = AF_NETLINK};
	size_t n_iov, total, msgs = nft_batch_msg_count(b);
	const struct iovec *iov = nft_batch_iov(b, &n_iov, &total);
	struct msghdr mh = {.msg_name = &snl,
			    .msg_namelen = sizeof(snl),
			    .msg_iov = (struct iovec *)(uintptr_t)iov,
			    .msg_iovlen = n_iov};
	uint32_t end_seq = nft_batch_end_seq(b);

	memset(o, 0, sizeof(*o));
	set_bufs(fd, SO_SNDBUFFORCE, SO_SNDBUF, total + (64u << 10));
	/* ~1 KiB per message: only failing messages and END are acked, without echo. */
	set_bufs(fd, SO_RCVBUFFORCE, SO_RCVBUF, msgs > 256 ? msgs * 1024 : 256u << 10);
	if (sendmsg(fd, &mh, 0) < 0)
		return cda_error_sys(err, CDA_EAPPLY,
				     "sending the nft batch (%zu bytes, %zu messages)", total,
				     msgs);
	/* The kernel processed the whole batch inside sendmsg(): every ack is queued now. */
	for (;;) {
		ssize_t n = recv(fd, nb->buf, RECV_BUF, MSG_DONTWAIT);
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)nb->buf;
		int len = (int)n;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				o->lost = true;
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return cda_error_sys(err, CDA_EAPPLY, "reading nft batch acks");
		}
		while (mnl_nlmsg_ok(nlh, len)) {
			if (nlh->nlmsg_type == NLMSG_ERROR)
				parse_ack(nlh, end_seq, o);
			nlh = mnl_nlmsg_next(nlh, &len);
		}
	}
	return 0;
}

static void fmt_addr(int fam, cda_u128 a, char *buf)
{
	struct cidr c = {.addr = a, .family = (uint8_t)fam, .plen = fam == CDA_AF_INET ? 32 : 128};
	char *slash;

	cidr_format(&c, buf);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
}

/* A prefix when [lo, hi] is one, else "lo-hi". */
static void fmt_range(int fam, cda_u128 lo, cda_u128 hi, char *buf, size_t size)
{
	int bits = fam == CDA_AF_INET ? 32 : 128;
	cda_u128 span = hi - lo; /* size - 1, no overflow */
	struct cidr c = {.addr = lo, .family = (uint8_t)fam};
	char a[CIDR_STRLEN], b[CIDR_STRLEN];

	if ((span & (span + 1)) == 0 && (lo & span) == 0) {
		int host = 0;

		while (host < bits && ((span >> host) & 1))
			host++;
		c.plen = (uint8_t)(bits - host);
		cidr_format(&c, a);
		snprintf(buf, size, "%s", a);
		return;
	}
	fmt_addr(fam, lo, a);
	fmt_addr(fam, hi, b);
	snprintf(buf, size, "%s-%s", a, b);
}

/* Which item of the message the kernel's attribute offset points into. */
static size_t locate(const struct nft_msg_info *mi, const struct ranges *r, uint32_t offs)
{
	size_t pos, at = 0;

	if (offs < mi->elem_offset + 4)
		return mi->first;
	pos = offs - mi->elem_offset - 4;
	for (size_t i = mi->first; i < mi->first + mi->count; i++) {
		size_t sz;

		if (mi->fam == CDA_AF_INET)
			sz = ELEM4_START + (ranges_v4(r)[i].hi != UINT32_MAX ? ELEM4_END : 0);
		else
			sz = ELEM6_START + (ranges_v6(r)[i].hi != ~(cda_u128)0 ? ELEM6_END : 0);
		if (pos < at + sz)
			return i;
		at += sz;
	}
	return mi->first;
}

static int kernel_refused(struct nft_backend *nb, const struct nft_batch *b,
			  const struct nft_plan *p, const struct outcome *o, struct cda_error *err)
{
	const struct nft_msg_info *mi = nft_batch_msg(b, o->seq);
	char what[1024], kmsg[110] = "";
	const char *set = "";

	if (o->kmsg[0] != '\0')
		snprintf(kmsg, sizeof(kmsg), " (%s)", o->kmsg);
	if (mi != NULL && mi->fam != 0)
		set = mi->fam == CDA_AF_INET ? nb->set[0] : nb->set[1];
	/* the whole batch, unless the message is one of the kinds named below */
	snprintf(what, sizeof(what), "the batch for table %s %s", nb->family_name, nb->table);
	if (mi == NULL) {
		/* the kernel named no message of ours */
	} else if (mi->kind == NFT_MSG_NEWTABLE) {
		snprintf(what, sizeof(what), "creating table %s %s", nb->family_name, nb->table);
	} else if (mi->kind == NFT_MSG_NEWSET) {
		snprintf(what, sizeof(what), "creating set %s %s %s", nb->family_name, nb->table,
			 set);
	} else if (mi->kind == NFT_MSG_NEWCHAIN || mi->kind == NFT_MSG_DELCHAIN ||
		   mi->kind == NFT_MSG_DELRULE || mi->kind == NFT_MSG_NEWRULE) {
		const char *chain = lock_chain_name[mi->first < 2 ? mi->first : 0];

		if (mi->kind == NFT_MSG_NEWRULE)
			snprintf(what, sizeof(what),
				 "adding rule %zu of the origin lock to chain %s %s %s",
				 mi->count + 1, nb->family_name, nb->table, chain);
		else
			snprintf(what, sizeof(what), "%s chain %s %s %s (origin lock)",
				 mi->kind == NFT_MSG_NEWCHAIN   ? "creating"
				 : mi->kind == NFT_MSG_DELCHAIN ? "deleting"
								: "flushing",
				 nb->family_name, nb->table, chain);
	} else if (mi->kind == NFT_MSG_DELSETELEM && mi->count == 0) {
		snprintf(what, sizeof(what), "flushing set %s %s %s", nb->family_name, nb->table,
			 set);
	} else if (mi->kind == NFT_MSG_DELSETELEM || mi->kind == NFT_MSG_NEWSETELEM) {
		bool add = mi->kind == NFT_MSG_NEWSETELEM;
		const struct ranges *r = add ? p->add : p->del;
		size_t i = o->has_offs ? locate(mi, r, o->offs) : mi->first;
		char rng[2 * CIDR_STRLEN + 8], more[48] = "";

		if (mi->fam == CDA_AF_INET)
			fmt_range(CDA_AF_INET, ranges_v4(r)[i].lo, ranges_v4(r)[i].hi, rng,
				  sizeof(rng));
		else
			fmt_range(CDA_AF_INET6, ranges_v6(r)[i].lo, ranges_v6(r)[i].hi, rng,
				  sizeof(rng));
		if (!o->has_offs && mi->count > 1)
			snprintf(more, sizeof(more), " (or one of %zu more)", mi->count - 1);
		snprintf(what, sizeof(what), "%s %s%s %s set %s %s %s", add ? "adding" : "deleting",
			 rng, more, add ? "to" : "from", nb->family_name, nb->table, set);
	}
	cda_error_set(err, CDA_EAPPLY, "kernel refused %s: %s%s; nothing was changed", what,
		      strerror(o->error), kmsg);
	err->sys_errno = o->error;
	return -1;
}

static bool delta_empty(const struct nft_backend *nb, const struct ranges *r)
{
	return r == NULL || ((!has_set(nb, 0) || ranges_count4(r) == 0) &&
			     (!has_set(nb, 1) || ranges_count6(r) == 0));
}

/* Compare the kernel's sets with want by a fresh dump; on success nb->last is exact. */
static int compare_dump(struct nft_backend *nb, const struct ranges *want, struct cda_error *err)
{
	struct ranges *w = only_synced(nb, want);
	bool same = false;

	if (w == NULL)
		return cda_error_sys(err, CDA_ESYS, "verifying");
	if (read_kernel(nb, false, err) < 0 || ranges_same_cover(nb->last, w, &same) < 0) {
		ranges_free(w);
		return err->code != CDA_OK ? -1 : cda_error_sys(err, CDA_ESYS, "verifying");
	}
	if (!same) {
		cda_error_set(err, CDA_EAPPLY,
			      "%s %s: the sets hold %zu+%zu ranges, not the %zu+%zu wanted "
			      "(IPv4+IPv6)",
			      nb->family_name, nb->table, ranges_count4(nb->last),
			      ranges_count6(nb->last), ranges_count4(w), ranges_count6(w));
		ranges_free(w);
		return -1;
	}
	for (int h = 0; h < 2; h++) {
		bool wanted = lock_wanted(nb, w, h);

		if (wanted ? !nb->seen[h].ok : nb->seen[h].exists) {
			cda_error_set(err, CDA_EAPPLY, "%s %s: origin lock chain %s is %s",
				      nb->family_name, nb->table, lock_chain_name[h],
				      wanted ? "missing or not as applied" : "still present");
			ranges_free(w);
			return -1;
		}
	}
	ranges_free(w);
	return 0;
}

/* What the lock chains need so that they match w (the sets after the transaction). */
static bool plan_lock(const struct nft_backend *nb, const struct ranges *w,
		      struct nft_lock_plan *lp)
{
	bool any = false;

	memset(lp, 0, sizeof(*lp));
	lp->spec = &nb->lock;
	for (int h = 0; h < 2; h++) {
		lp->exists[h] = nb->seen[h].exists;
		lp->recreate[h] = nb->seen[h].recreate;
		if (lock_wanted(nb, w, h) && !nb->seen[h].ok)
			lp->op[h] = NFT_LOCK_SET;
		else if (!lock_wanted(nb, w, h) && nb->seen[h].exists)
			lp->op[h] = NFT_LOCK_REMOVE;
		any |= lp->op[h] != NFT_LOCK_KEEP;
	}
	return any;
}

/* After a commit of lp: the chains are as planned. */
static void lock_committed(struct nft_backend *nb, const struct nft_lock_plan *lp)
{
	for (int h = 0; h < 2; h++) {
		if (lp->op[h] == NFT_LOCK_SET)
			nb->seen[h] = (struct lock_seen){.exists = true, .ok = true};
		else if (lp->op[h] == NFT_LOCK_REMOVE)
			nb->seen[h] = (struct lock_seen){0};
	}
}

static int nft_apply(struct backend *be, const struct backend_input *in, struct cda_error *err)
{
	struct nft_backend *nb = nft_from_base(be);
	struct ranges *add = NULL, *del = NULL, *w = NULL;
	const struct ranges *padd = in->add, *pdel = in->del;
	struct nft_batch *b = NULL;
	bool dumped = false;

	if (nl_ready(nb, err) < 0)
		return -1;
	if ((w = only_synced(nb, in->want)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "preparing the nft batch");
	for (int attempt = 0;; attempt++) {
		struct nft_plan p;
		struct nft_lock_plan lp;
		bool lock_change;
		struct outcome o;

		plan_base(nb, &p);

		/* No read() before, or a commit since: the delta comes from a fresh dump. */
		if (!nb->known || attempt > 0) {
			ranges_free(add);
			ranges_free(del);
			add = del = NULL;
			if (read_kernel(nb, false, err) < 0)
				goto fail;
			if (ranges_diff_items(w, nb->last, &add, &del) < 0) {
				cda_error_sys(err, CDA_ESYS, "computing the nft delta");
				goto fail;
			}
			padd = add;
			pdel = del;
		}
		lock_change = plan_lock(nb, w, &lp);
		if (delta_empty(nb, padd) && delta_empty(nb, pdel) && !lock_change &&
		    (!nb->create || ((!has_set(nb, 0) || nb->set_exists[0]) &&
				     (!has_set(nb, 1) || nb->set_exists[1]))))
			break; /* nothing to send; the genid stays */
		if (lock_change)
			p.lock = &lp;
		p.add = padd;
		p.del = pdel;
		p.genid = nb->genid;
		p.has_genid = true;
		nft_batch_free(b);
		b = NULL;
		if (nft_batch_build(&p, nb->seq, &b, err) < 0)
			goto fail;
		nb->seq += (uint32_t)nft_batch_msg_count(b);
		nb->base.msgs_sent = nft_batch_elem_msgs(b);
		if (send_batch(nb, b, &o, err) < 0)
			goto fail;
		if (o.error == ERESTART && attempt == 0)
			continue; /* someone committed since we read: recompute once */
		if (o.error == ERESTART) {
			cda_error_set(err, CDA_EAPPLY,
				      "the nftables ruleset changed twice while applying to %s %s; "
				      "nothing was changed",
				      nb->family_name, nb->table);
			err->sys_errno = ERESTART;
			goto fail;
		}
		if (o.error != 0) {
			kernel_refused(nb, b, &p, &o, err);
			goto fail;
		}
		if (o.lost) {
			/* Acks were dropped; the transaction was decided either way: look. */
			if (compare_dump(nb, w, err) < 0)
				goto fail;
			dumped = true;
			break;
		}
		nb->genid++; /* a successful commit bumps the genid by exactly one */
		lock_committed(nb, &lp);
		break;
	}
	if (!dumped) {
		/* The sets now hold exactly want's items (element-exact delta). */
		ranges_free(nb->last);
		nb->last = w;
		w = NULL;
	}
	lock_describe(nb, nb->last);
	nb->known = true;
	nft_batch_free(b);
	ranges_free(add);
	ranges_free(del);
	ranges_free(w);
	return 0;
fail:
	nb->known = false;
	nft_batch_free(b);
	ranges_free(add);
	ranges_free(del);
	ranges_free(w);
	return -1;
}

static int nft_verify(struct backend *be, const struct ranges *want, struct cda_error *err)
{
	struct nft_backend *nb = nft_from_base(be);
	size_t n = (has_set(nb, 0) ? ranges_count4(want) : 0) +
		   (has_set(nb, 1) ? ranges_count6(want) : 0);
	uint32_t now;

	if (nl_ready(nb, err) < 0)
		return -1;
	if (nb->verify != VERIFY_GENID && nb->known &&
	    (nb->verify == VERIFY_FULL || nb->env.verify_full || n <= nb->env.verify_max))
		return compare_dump(nb, want, err);
	if (nb->known) {
		if (get_genid(nb, &now, err) < 0)
			return -1;
		if (now == nb->genid)
			return 0;
	}
	/* Something committed after us (or we know nothing): look at the sets. */
	return compare_dump(nb, want, err);
}

static int nft_save(struct backend *be, struct cda_error *err)
{
	struct nft_backend *nb = nft_from_base(be);
	struct ranges *norm;
	bool normal;

	if (nb->env.state == NULL || !nb->known || nb->last == NULL)
		return 0;
	/* The cache must hold the kernel's items exactly; keep only a canonical list. */
	if ((norm = ranges_dup(nb->last)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "saving the nft cache");
	ranges_normalize(norm);
	normal = ranges_equal(norm, nb->last);
	ranges_free(norm);
	if (!normal)
		return state_drop_applied(nb->env.state, nb->cache_key, err);
	if (state_save_applied(nb->env.state, nb->cache_key, nb->last, nb->genid, err) < 0)
		return -1;
	drop_stale_caches(nb);
	return 0;
}

/* Remove the lock chains, and nothing else, in one transaction. */
static int nft_unlock(struct backend *be, struct cda_error *err)
{
	struct nft_backend *nb = nft_from_base(be);

	if (!nb->create)
		return 0; /* an admin-owned table never has a lock of ours */
	if (nl_ready(nb, err) < 0)
		return -1;
	for (int attempt = 0; attempt < 2; attempt++) {
		struct nft_lock_plan lp = {.spec = &nb->lock};
		struct nft_batch *b = NULL;
		struct nft_plan p = {.table = nb->table, .family = nb->family, .lock = &lp};
		struct outcome o;
		bool any = false;

		if (get_genid(nb, &p.genid, err) < 0 || check_objects(nb, err) < 0)
			return -1;
		if (!nb->table_exists)
			return 0;
		if (read_lock(nb, err) < 0)
			return -1;
		for (int h = 0; h < 2; h++) {
			if (nb->seen[h].exists) {
				lp.op[h] = NFT_LOCK_REMOVE;
				lp.exists[h] = any = true;
			}
		}
		if (!any)
			return 0;
		p.has_genid = true;
		if (nft_batch_build(&p, nb->seq, &b, err) < 0)
			return -1;
		nb->seq += (uint32_t)nft_batch_msg_count(b);
		if (send_batch(nb, b, &o, err) < 0) {
			nft_batch_free(b);
			return -1;
		}
		if (o.error == ERESTART) {
			nft_batch_free(b);
			continue;
		}
		if (o.error != 0) {
			kernel_refused(nb, b, &p, &o, err);
			nft_batch_free(b);
			return -1;
		}
		nft_batch_free(b);
		nb->known = false; /* the genid moved */
		lock_committed(nb, &lp);
		lock_describe(nb, nb->last);
		return 0;
	}
	cda_error_set(err, CDA_EAPPLY, "the nftables ruleset kept changing while unlocking %s %s",
		      nb->family_name, nb->table);
	err->sys_errno = ERESTART;
	return -1;
}

static int nft_drift(struct backend *be, bool *drift, struct cda_error *err)
{
	struct nft_backend *nb = nft_from_base(be);

	*drift = false;
	if (!nb->known)
		return 0;
	for (int h = 0; h < 2; h++) {
		if (lock_wanted(nb, nb->last, h) ? !nb->seen[h].ok : nb->seen[h].exists)
			*drift = true;
	}
	return 0;
}

static const char *nft_lock_info(struct backend *be)
{
	struct nft_backend *nb = nft_from_base(be);

	return nb->lock_text[0] != '\0' ? nb->lock_text : NULL;
}

/* The nft_file script: the sets and lock as the last verified apply (or read) left them. */
static int nft_snapshot(struct backend *be, bool *written, struct cda_error *err)
{
	struct nft_backend *nb = nft_from_base(be);
	struct nft_plan p;
	struct nft_script s = {.target = nb->name, .plan = &p, .lock = &nb->lock};

	if (nb->script_path == NULL || !nb->known || nb->last == NULL)
		return 0;
	plan_base(nb, &p);
	s.have = nb->last;
	for (int h = 0; h < 2; h++)
		s.lock_on[h] = nb->seen[h].ok && lock_wanted(nb, nb->last, h);
	return nft_script_save(nb->script_path, &s, written, err);
}

const struct backend_ops nft_backend_ops = {
	.name = "nftables",
	.keys = nft_keys,
	.open = nft_open,
	.read = nft_read,
	.apply = nft_apply,
	.verify = nft_verify,
	.save = nft_save,
	.unlock = nft_unlock,
	.drift = nft_drift,
	.lock_info = nft_lock_info,
	.snapshot = nft_snapshot,
	.close = nft_close,
};
