// SPDX-License-Identifier: MIT
/* The nftables backend against the real kernel, in a private netns; over 600 lines: one
 * fixture (state dir, clean ruleset, config) shared by every case. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "backend.h"
#include "cda_error.h"
#include "config.h"
#include "ranges.h"
#include "state.h"

#define NETNS_MARK "CDNALLOW_KTEST_NETNS"
#define V4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define P6(hi32) ((cda_u128)(hi32) << 96)

/* Per test: a fresh state dir and a clean (private) ruleset. */
struct fx {
	char dir[64];
	struct state *st;
	struct backend_env env;
	struct config_kv kv[8];
	struct target_config tc;
};

static void sh(const char *cmd)
{
	int rc = system(cmd);

	if (rc != 0)
		fail_msg("command failed (%d): %s", rc, cmd);
}

/* stdout of cmd, malloc'd. */
static char *capture(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	assert_non_null(p);
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		n = fread(buf + len, 1, cap - len - 1, p);
		len += n;
	} while (n > 0);
	buf[len] = '\0';
	assert_int_equal(pclose(p), 0);
	return buf;
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == NFTA_GEN_ID)
			*(uint32_t *)data = ntohl(mnl_attr_get_u32(a));
	return MNL_CB_OK;
}

/* The ruleset generation id, read directly. */
static uint32_t genid(void)
{
	char buf[8192];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct nlmsghdr *nlh;
	uint32_t g = 0;
	ssize_t n;

	assert_non_null(nl);
	assert_int_equal(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK, 1);
	assert_true(mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) > 0);
	do {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		assert_true(n > 0);
	} while (mnl_cb_run(buf, (size_t)n, 1, mnl_socket_get_portid(nl), gen_cb, &g) > 0);
	mnl_socket_close(nl);
	assert_int_not_equal(g, 0);
	return g;
}

static void kv_set(struct fx *f, const char *key, const char *value)
{
	size_t i;

	for (i = 0; i < f->tc.n_kv; i++)
		if (strcmp(f->kv[i].key, key) == 0)
			break;
	assert_true(i < 8);
	f->kv[i].key = (char *)key;
	f->kv[i].value = (char *)value;
	f->kv[i].line = 10 + (unsigned int)i;
	if (i == f->tc.n_kv)
		f->tc.n_kv++;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct cda_error err = {0};

	assert_non_null(f);
	sh("nft flush ruleset");
	strcpy(f->dir, "/tmp/cdnallow-ktest-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	if (state_open(&f->st, f->dir, 5, false, &err) < 0)
		fail_msg("state_open: %s", err.msg);
	f->env.state = f->st;
	f->env.verify_max = 10000;
	f->tc.name = "edge";
	f->tc.backend = "nftables";
	f->tc.config_path = "/etc/cdnallow/test.conf";
	f->tc.kv = f->kv;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	state_close(f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	sh(cmd);
	free(f);
	return 0;
}

static struct backend *open_be(struct fx *f)
{
	struct cda_error err = {0};
	struct backend *be = NULL;

	if (nft_backend_ops.open(&be, &f->tc, &f->env, &err) < 0)
		fail_msg("open: %s", err.msg);
	return be;
}

static struct ranges *read_be(struct backend *be)
{
	struct cda_error err = {0};
	struct ranges *cur = ranges_new();

	assert_non_null(cur);
	if (be->ops->read(be, cur, &err) < 0)
		fail_msg("read: %s", err.msg);
	return cur;
}

/* The main.c sequence: read, element delta, apply, verify, save. Returns apply's rc. */
static int sync_be(struct backend *be, const struct ranges *want, struct cda_error *err)
{
	struct ranges *cur = read_be(be), *add = NULL, *del = NULL;
	struct backend_input in = {.want = want};
	int rc;

	assert_int_equal(ranges_diff_items(want, cur, &add, &del), 0);
	in.add = add;
	in.del = del;
	rc = be->ops->apply(be, &in, err);
	if (rc == 0) {
		if (be->ops->verify(be, want, err) < 0)
			fail_msg("verify: %s", err->msg);
		if (be->ops->save(be, err) < 0)
			fail_msg("save: %s", err->msg);
	}
	ranges_free(cur);
	ranges_free(add);
	ranges_free(del);
	return rc;
}

static struct ranges *sample(void)
{
	struct ranges *r = ranges_new();

	assert_int_equal(ranges_add4(r, V4(10, 0, 0, 0), V4(10, 255, 255, 255)), 0);
	assert_int_equal(ranges_add4(r, V4(192, 0, 2, 0), V4(192, 0, 2, 255)), 0);
	assert_int_equal(ranges_add4(r, V4(198, 51, 100, 7), V4(198, 51, 100, 9)), 0);
	assert_int_equal(ranges_add4(r, V4(255, 255, 255, 0), UINT32_MAX), 0);
	assert_int_equal(ranges_add6(r, P6(0x2400cb00), P6(0x2400cb01) - 1), 0);
	assert_int_equal(ranges_add6(r, ~(cda_u128)0 - 255, ~(cda_u128)0), 0);
	ranges_normalize(r);
	return r;
}

static void assert_reads_back(struct fx *f, const struct ranges *want)
{
	struct fx nostate = *f;
	struct backend *be;
	struct ranges *got;

	nostate.tc.kv = nostate.kv;
	nostate.env.state = NULL; /* a real dump, no cache */
	be = open_be(&nostate);
	got = read_be(be);
	if (!ranges_equal(got, want))
		fail_msg("read back %zu+%zu ranges, want %zu+%zu", ranges_count4(got),
			 ranges_count6(got), ranges_count4(want), ranges_count6(want));
	ranges_free(got);
	nft_backend_ops.close(be);
}

static void first_apply_creates_table_and_sets_with_exactly_the_ranges(void **state)
{
	struct fx *f = *state;
	struct backend *be = open_be(f);
	struct ranges *want = sample(), *cur = read_be(be);
	struct cda_error err = {0};
	char *text;

	assert_int_equal(ranges_count4(cur) + ranges_count6(cur), 0); /* no table yet */
	ranges_free(cur);
	if (sync_be(be, want, &err) < 0)
		fail_msg("apply: %s", err.msg);
	assert_reads_back(f, want);
	text = capture("nft list set inet cdnallow allow_v4");
	assert_non_null(strstr(text, "type ipv4_addr"));
	assert_non_null(strstr(text, "flags interval"));
	assert_non_null(strstr(text, "10.0.0.0/8"));
	assert_non_null(strstr(text, "192.0.2.0/24"));
	assert_non_null(strstr(text, "198.51.100.7-198.51.100.9"));
	assert_non_null(strstr(text, "255.255.255.0/24"));
	free(text);
	text = capture("nft list set inet cdnallow allow_v6");
	assert_non_null(strstr(text, "type ipv6_addr"));
	assert_non_null(strstr(text, "2400:cb00::/32"));
	assert_non_null(strstr(text, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120"));
	free(text);
	nft_backend_ops.close(be);
	ranges_free(want);
}

/* Runs `nft monitor elements` around fn and counts the element events. */
static void count_events(void (*fn)(void *), void *arg, int *adds, int *dels)
{
	char path[] = "/tmp/cdnallow-mon-XXXXXX", cmd[128], *text, *p;
	int fd = mkstemp(path);
	pid_t pid;

	assert_true(fd >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fd, 1);
		execlp("nft", "nft", "monitor", "elements", (char *)NULL);
		_exit(127);
	}
	close(fd);
	usleep(300000);
	fn(arg);
	usleep(300000);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	snprintf(cmd, sizeof(cmd), "cat %s", path);
	text = capture(cmd);
	unlink(path);
	*adds = *dels = 0;
	for (p = text; (p = strstr(p, "add element")) != NULL; p++)
		(*adds)++;
	for (p = text; (p = strstr(p, "delete element")) != NULL; p++)
		(*dels)++;
	free(text);
}

struct sync_arg {
	struct backend *be;
	const struct ranges *want;
};

static void do_sync(void *arg)
{
	struct sync_arg *a = arg;
	struct cda_error err = {0};

	if (sync_be(a->be, a->want, &err) < 0)
		fail_msg("apply: %s", err.msg);
}

static void delta_apply_changes_exactly_the_delta(void **state)
{
	struct fx *f = *state;
	struct backend *be = open_be(f);
	struct ranges *a = sample(), *b = ranges_new();
	struct sync_arg arg = {.be = be};
	int adds, dels;
	uint32_t g;

	arg.want = a;
	do_sync(&arg);
	/* b: drop 192.0.2.0/24, widen nothing else, add two new ranges */
	assert_int_equal(ranges_add4(b, V4(10, 0, 0, 0), V4(10, 255, 255, 255)), 0);
	assert_int_equal(ranges_add4(b, V4(198, 51, 100, 7), V4(198, 51, 100, 9)), 0);
	assert_int_equal(ranges_add4(b, V4(203, 0, 113, 0), V4(203, 0, 113, 127)), 0);
	assert_int_equal(ranges_add4(b, V4(255, 255, 255, 0), UINT32_MAX), 0);
	assert_int_equal(ranges_add6(b, P6(0x2400cb00), P6(0x2400cb01) - 1), 0);
	assert_int_equal(ranges_add6(b, P6(0x2a06), P6(0x2a07) - 1), 0);
	assert_int_equal(ranges_add6(b, ~(cda_u128)0 - 255, ~(cda_u128)0), 0);
	ranges_normalize(b);
	g = genid();
	arg.want = b;
	count_events(do_sync, &arg, &adds, &dels);
	assert_int_equal(adds, 2);
	assert_int_equal(dels, 1);
	assert_int_equal(genid(), g + 1); /* one transaction */
	assert_reads_back(f, b);
	nft_backend_ops.close(be);
	ranges_free(a);
	ranges_free(b);
}

static void empty_delta_sends_nothing(void **state)
{
	struct fx *f = *state;
	struct backend *be = open_be(f), *be2;
	struct ranges *a = sample();
	struct sync_arg arg = {.be = be, .want = a};
	int adds, dels;
	uint32_t g;

	do_sync(&arg);
	g = genid();
	be2 = open_be(f); /* a later run */
	arg.be = be2;
	count_events(do_sync, &arg, &adds, &dels);
	assert_int_equal(adds + dels, 0);
	assert_int_equal(genid(), g);
	assert_reads_back(f, a);
	nft_backend_ops.close(be);
	nft_backend_ops.close(be2);
	ranges_free(a);
}

static void cache_is_used_only_while_the_genid_matches(void **state)
{
	struct fx *f = *state;
	struct backend *be = open_be(f), *be2;
	struct ranges *a = sample(), *fake = ranges_new(), *cur;
	struct sync_arg arg = {.be = be, .want = a};
	struct cda_error err = {0};
	char pattern[256], key[128];
	const char *base;
	glob_t g;

	do_sync(&arg);
	/* The sync left exactly one cache, keyed by target, boot and network namespace. */
	snprintf(pattern, sizeof(pattern), "%s/applied-nft-edge-*.list", f->dir);
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	assert_int_equal(g.gl_pathc, 1);
	base = strrchr(g.gl_pathv[0], '/') + strlen("/applied-");
	snprintf(key, sizeof(key), "%.*s", (int)(strlen(base) - strlen(".list")), base);
	globfree(&g);
	/* A cache of another boot is never read: it would carry a meaningless genid. */
	assert_int_equal(state_save_applied(f->st, "nft-edge-0000oldboot-1", fake, genid(), &err),
			 0);
	/* A cache that differs from the kernel but carries the current genid is believed
	 * (no dump): proves the cache path. */
	assert_int_equal(ranges_add4(fake, 1, 1), 0);
	assert_int_equal(state_save_applied(f->st, key, fake, genid(), &err), 0);
	be2 = open_be(f);
	cur = read_be(be2);
	assert_true(ranges_equal(cur, fake));
	ranges_free(cur);
	nft_backend_ops.close(be2);
	/* Any commit moves the genid: the cache is ignored, the sets are dumped. */
	sh("nft add table inet unrelated");
	be2 = open_be(f);
	cur = read_be(be2);
	assert_true(ranges_equal(cur, a));
	ranges_free(cur);
	nft_backend_ops.close(be2);
	/* The next saved cache removes the one of the earlier boot. */
	be2 = open_be(f);
	arg.be = be2;
	do_sync(&arg);
	snprintf(pattern, sizeof(pattern), "%s/applied-nft-edge-0000oldboot-1.list", f->dir);
	assert_int_equal(access(pattern, F_OK), -1);
	snprintf(pattern, sizeof(pattern), "%s/applied-%s.list", f->dir, key);
	assert_int_equal(access(pattern, F_OK), 0);
	nft_backend_ops.close(be2);
	nft_backend_ops.close(be);
	ranges_free(a);
	ranges_free(fake);
}

static const char admin_ruleset[] =
	"nft -f - <<'EOF'\n"
	"table inet admin {\n"
	"  set other { type ipv4_addr; elements = { 1.2.3.4, 5.6.7.8 } }\n"
	"  set cdn4 { type ipv4_addr; flags interval; }\n"
	"  set cdn6 { type ipv6_addr; flags interval; }\n"
	"  chain input {\n"
	"    type filter hook input priority 0; policy accept;\n"
	"    ip saddr @other counter drop\n"
	"    tcp dport 443 ip saddr @cdn4 accept\n"
	"    tcp dport 443 ip6 saddr @cdn6 accept\n"
	"    tcp dport 443 drop\n"
	"  }\n"
	"}\n"
	"EOF";

static void admin_mode(struct fx *f)
{
	kv_set(f, "table", "admin");
	kv_set(f, "set_v4", "cdn4");
	kv_set(f, "set_v6", "cdn6");
	kv_set(f, "create", "no");
}

static void admin_table_is_left_as_it_was_apart_from_our_sets(void **state)
{
	struct fx *f = *state;
	struct backend *be;
	struct ranges *a = sample(), *empty = ranges_new();
	struct sync_arg arg = {.want = a};
	char *before, *chain_before, *other_before, *after, *text;

	sh(admin_ruleset);
	admin_mode(f);
	before = capture("nft -a list table inet admin");
	chain_before = capture("nft -a list chain inet admin input");
	other_before = capture("nft -a list set inet admin other");
	be = open_be(f);
	arg.be = be;
	do_sync(&arg);
	assert_reads_back(f, a);
	text = capture("nft -a list chain inet admin input");
	assert_string_equal(text, chain_before);
	free(text);
	text = capture("nft -a list set inet admin other");
	assert_string_equal(text, other_before);
	free(text);
	text = capture("nft list set inet admin cdn4");
	assert_non_null(strstr(text, "10.0.0.0/8"));
	free(text);
	text = capture("nft list tables");
	assert_string_equal(text, "table inet admin\n"); /* no table of our own */
	free(text);
	/* emptying our sets gives back the admin's table byte for byte */
	arg.want = empty;
	do_sync(&arg);
	after = capture("nft -a list table inet admin");
	assert_string_equal(after, before);
	free(before);
	free(after);
	free(chain_before);
	free(other_before);
	nft_backend_ops.close(be);
	ranges_free(a);
	ranges_free(empty);
}

static void wrong_set_type_in_admin_mode_is_a_clear_error(void **state)
{
	struct fx *f = *state;
	struct backend *be;
	struct ranges *a = sample(), *cur = ranges_new();
	struct backend_input in = {.want = a, .add = a};
	struct cda_error err = {0};
	char *before, *after;

	sh("nft 'add table inet admin; add set inet admin cdn4 { type ipv4_addr; }; "
	   "add set inet admin cdn6 { type ipv6_addr; flags interval; }'");
	admin_mode(f);
	before = capture("nft -a list ruleset");
	be = open_be(f);
	assert_int_equal(be->ops->read(be, cur, &err), -1);
	assert_int_equal(err.code, CDA_ECONFIG);
	assert_string_equal(err.msg, "set inet admin cdn4 has type ipv4_addr, without flags "
				     "interval; cdnallow needs type ipv4_addr; flags interval");
	assert_string_equal(err.origin, "/etc/cdnallow/test.conf");
	assert_int_equal(err.line, 11);
	memset(&err, 0, sizeof(err));
	assert_int_equal(be->ops->apply(be, &in, &err), -1);
	assert_int_equal(err.code, CDA_ECONFIG);
	after = capture("nft -a list ruleset");
	assert_string_equal(after, before);
	nft_backend_ops.close(be);

	/* and a missing table is named as such */
	kv_set(f, "table", "nosuch");
	be = open_be(f);
	memset(&err, 0, sizeof(err));
	assert_int_equal(be->ops->read(be, cur, &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_non_null(strstr(err.msg, "table inet nosuch does not exist"));
	nft_backend_ops.close(be);
	free(before);
	free(after);
	ranges_free(a);
	ranges_free(cur);
}

static void bad_config_values_are_reported_with_their_line(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	struct backend *be = NULL;

	kv_set(f, "table", "cdnallow");
	kv_set(f, "family", "bridge");
	assert_int_equal(nft_backend_ops.open(&be, &f->tc, &f->env, &err), -1);
	assert_null(be);
	assert_int_equal(err.code, CDA_ECONFIG);
	assert_string_equal(err.msg, "family: expected inet, ip or ip6");
	assert_int_equal(err.line, 11);
	kv_set(f, "family", "inet");
	kv_set(f, "verify", "sometimes");
	memset(&err, 0, sizeof(err));
	assert_int_equal(nft_backend_ops.open(&be, &f->tc, &f->env, &err), -1);
	assert_string_equal(err.msg, "verify: expected auto, full or genid");
	assert_int_equal(err.line, 12);
}

static void refused_element_aborts_the_whole_batch(void **state)
{
	struct fx *f = *state;
	struct backend *be = open_be(f);
	struct ranges *a = sample(), *add = ranges_new(), *del = ranges_new(), *cur;
	struct sync_arg arg = {.be = be, .want = a};
	struct backend_input in = {.want = a, .add = add, .del = del};
	struct cda_error err = {0};
	uint32_t g;

	do_sync(&arg);
	cur = read_be(be);
	/* a delete and good adds, then an add overlapping 10.0.0.0/8 */
	assert_int_equal(ranges_add4(del, V4(192, 0, 2, 0), V4(192, 0, 2, 255)), 0);
	assert_int_equal(ranges_add4(add, V4(9, 0, 0, 0), V4(9, 0, 0, 255)), 0);
	assert_int_equal(ranges_add4(add, V4(10, 1, 0, 0), V4(10, 1, 255, 255)), 0);
	assert_int_equal(ranges_add6(add, P6(0x2a06), P6(0x2a07) - 1), 0);
	g = genid();
	assert_int_equal(be->ops->apply(be, &in, &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_int_equal(err.sys_errno, EEXIST);
	assert_non_null(strstr(err.msg, "kernel refused adding 10.1.0.0/16 to set inet cdnallow "
					"allow_v4: File exists"));
	fprintf(stderr, "# %s\n", err.msg);
	assert_int_equal(genid(), g); /* nothing committed */
	assert_reads_back(f, a);
	nft_backend_ops.close(be);
	ranges_free(a);
	ranges_free(add);
	ranges_free(del);
	ranges_free(cur);
}

static void stale_genid_recomputes_the_delta_and_converges(void **state)
{
	struct fx *f = *state;
	struct backend *be = open_be(f);
	struct ranges *a = sample(), *b = sample(), *cur, *add = NULL, *del = NULL;
	struct sync_arg arg = {.be = be, .want = a};
	struct backend_input in = {.want = b};
	struct cda_error err = {0};

	do_sync(&arg);
	assert_int_equal(ranges_add4(b, V4(203, 0, 113, 0), V4(203, 0, 113, 255)), 0);
	ranges_normalize(b);
	cur = read_be(be);
	assert_int_equal(ranges_diff_items(b, cur, &add, &del), 0);
	/* someone else changes our set after our read */
	sh("nft 'delete element inet cdnallow allow_v4 { 192.0.2.0/24 }; "
	   "add element inet cdnallow allow_v4 { 100.64.0.0/10 }'");
	in.add = add;
	in.del = del;
	if (be->ops->apply(be, &in, &err) < 0)
		fail_msg("apply: %s", err.msg);
	if (be->ops->verify(be, b, &err) < 0)
		fail_msg("verify: %s", err.msg);
	assert_reads_back(f, b);
	nft_backend_ops.close(be);
	ranges_free(a);
	ranges_free(b);
	ranges_free(cur);
	ranges_free(add);
	ranges_free(del);
}

/* Seeded, non-overlapping, non-adjacent prefixes /20../28. */
static struct ranges *gen(size_t n4, size_t n6, uint32_t seed)
{
	struct ranges *r = ranges_new();
	uint32_t a = V4(1, 0, 0, 0);
	cda_u128 b = P6(0x20010000);

	for (size_t i = 0; i < n4; i++) {
		uint32_t plen = 20 + (seed = seed * 1103515245u + 12345u) % 9;
		uint32_t size = 1u << (32 - plen);

		a = (a + size - 1) & ~(size - 1);
		assert_int_equal(ranges_add4(r, a, a + size - 1), 0);
		a += size * (2 + (seed >> 16) % 3);
	}
	for (size_t i = 0; i < n6; i++) {
		cda_u128 size = (cda_u128)1 << (80 + (seed = seed * 1103515245u + 12345u) % 17);

		b = (b + size - 1) & ~(size - 1);
		assert_int_equal(ranges_add6(r, b, b + size - 1), 0);
		b += size * 3;
	}
	ranges_normalize(r);
	return r;
}

static void hundred_thousand_ranges_apply_in_one_transaction(void **state)
{
	struct fx *f = *state;
	struct backend *be = open_be(f);
	struct ranges *want = gen(100000, 2000, 20240501);
	struct sync_arg arg = {.be = be, .want = want};
	struct timespec t0, t1;
	uint32_t g = genid();

	assert_int_equal(ranges_count4(want), 100000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do_sync(&arg);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "# 100k+2k ranges: read+apply+verify+save %.3f s\n",
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	assert_int_equal(genid(), g + 1);
	assert_reads_back(f, want);
	nft_backend_ops.close(be);
	ranges_free(want);
}

/* ---- origin lock ---- */

static bool has_chain(const char *name)
{
	char cmd[128], *text;
	bool found;

	snprintf(cmd, sizeof(cmd), "nft list chains inet 2>/dev/null | grep -c 'chain %s ' || true",
		 name);
	text = capture(cmd);
	found = atoi(text) > 0;
	free(text);
	return found;
}

static void assert_output_has(const char *cmd, const char *needle)
{
	char *text = capture(cmd);

	if (strstr(text, needle) == NULL)
		fail_msg("`%s` lacks \"%s\":\n%s", cmd, needle, text);
	free(text);
}

static bool drift_of(struct fx *f)
{
	struct cda_error err = {0};
	struct backend *be = open_be(f);
	struct ranges *cur = read_be(be);
	bool d = true;

	if (be->ops->drift(be, &d, &err) < 0)
		fail_msg("drift: %s", err.msg);
	ranges_free(cur);
	nft_backend_ops.close(be);
	return d;
}

static void lock_config(struct fx *f)
{
	kv_set(f, "lock_ports", "443 80");
	kv_set(f, "lock_udp", "443");
	kv_set(f, "lock_forward", "yes");
}

static void lock_is_installed_with_the_sets_in_one_transaction(void **state)
{
	struct fx *f = *state;
	struct backend *be;
	struct ranges *a = sample();
	struct sync_arg arg = {.want = a};
	char *text;
	uint32_t g;

	lock_config(f);
	be = open_be(f);
	arg.be = be;
	g = genid();
	do_sync(&arg);
	assert_int_equal(genid(), g + 1); /* table, sets, elements, chains, rules: one commit */
	assert_true(has_chain("lock_input"));
	assert_true(has_chain("lock_forward"));
	text = capture("nft list chain inet cdnallow lock_input");
	assert_non_null(strstr(text, "type filter hook input priority filter - 1; policy accept;"));
	assert_non_null(strstr(text, "iif \"lo\" accept"));
	assert_non_null(strstr(text, "ct state established,related accept"));
	assert_non_null(strstr(text, "ip saddr @allow_v4 accept"));
	assert_non_null(strstr(text, "ip6 saddr @allow_v6 accept"));
	assert_non_null(strstr(text, "tcp dport 80 drop"));
	assert_non_null(strstr(text, "tcp dport 443 drop"));
	assert_non_null(strstr(text, "udp dport 443 drop"));
	free(text);
	text = capture("nft list chain inet cdnallow lock_forward");
	assert_non_null(strstr(text, "hook forward priority filter - 1"));
	assert_non_null(strstr(text, "ct status dnat ct original proto-dst 443 drop"));
	free(text);
	assert_string_equal(be->ops->lock_info(be), "tcp 80,443 udp 443 on input+forward");
	nft_backend_ops.close(be);
	/* a later run finds it as configured: no drift, nothing sent */
	assert_false(drift_of(f));
	g = genid();
	be = open_be(f);
	arg.be = be;
	do_sync(&arg);
	assert_int_equal(genid(), g);
	nft_backend_ops.close(be);
	ranges_free(a);
}

static void lock_is_never_present_while_a_set_is_empty(void **state)
{
	struct fx *f = *state;
	struct backend *be;
	struct ranges *v4only = ranges_new(), *a = sample();
	struct sync_arg arg = {.want = v4only};
	uint32_t g;

	lock_config(f);
	assert_int_equal(ranges_add4(v4only, V4(104, 16, 0, 0), V4(104, 23, 255, 255)), 0);
	be = open_be(f);
	arg.be = be;
	do_sync(&arg); /* first apply, empty IPv6 list: sets but no lock */
	assert_false(has_chain("lock_input"));
	assert_false(has_chain("lock_forward"));
	assert_non_null(strstr(be->ops->lock_info(be), "withheld while set allow_v6 is empty"));
	nft_backend_ops.close(be);
	assert_false(drift_of(f)); /* withheld is as configured: no apply every run */
	/* the IPv6 list arrives: elements and lock in one transaction */
	g = genid();
	be = open_be(f);
	arg.be = be;
	arg.want = a;
	do_sync(&arg);
	assert_int_equal(genid(), g + 1);
	assert_true(has_chain("lock_input"));
	assert_true(has_chain("lock_forward"));
	/* a family emptied (main.c's guard refuses this; the backend still never keeps the lock
	 * over an empty set): the chains go in the same transaction */
	g = genid();
	arg.want = v4only;
	do_sync(&arg);
	assert_int_equal(genid(), g + 1);
	assert_false(has_chain("lock_input"));
	assert_false(has_chain("lock_forward"));
	assert_reads_back(f, v4only);
	nft_backend_ops.close(be);
	ranges_free(v4only);
	ranges_free(a);
}

static void unlock_removes_only_the_lock_chains(void **state)
{
	struct fx *f = *state;
	struct backend *be;
	struct ranges *a = sample();
	struct sync_arg arg = {.want = a};
	struct cda_error err = {0};
	char *sets_before, *sets_after;
	uint32_t g;

	lock_config(f);
	be = open_be(f);
	arg.be = be;
	do_sync(&arg);
	nft_backend_ops.close(be);
	sets_before = capture("nft -a list set inet cdnallow allow_v4; "
			      "nft -a list set inet cdnallow allow_v6");
	g = genid();
	be = open_be(f);
	if (be->ops->unlock(be, &err) < 0)
		fail_msg("unlock: %s", err.msg);
	assert_int_equal(genid(), g + 1); /* one transaction */
	assert_false(has_chain("lock_input"));
	assert_false(has_chain("lock_forward"));
	sets_after = capture("nft -a list set inet cdnallow allow_v4; "
			     "nft -a list set inet cdnallow allow_v6");
	assert_string_equal(sets_after, sets_before);
	/* nothing left to unlock: nothing sent */
	g = genid();
	if (be->ops->unlock(be, &err) < 0)
		fail_msg("unlock: %s", err.msg);
	assert_int_equal(genid(), g);
	nft_backend_ops.close(be);
	/* the next sync puts it back */
	assert_true(drift_of(f));
	be = open_be(f);
	arg.be = be;
	do_sync(&arg);
	assert_true(has_chain("lock_input"));
	nft_backend_ops.close(be);
	free(sets_before);
	free(sets_after);
	ranges_free(a);
}

static void drift_detects_a_missing_changed_or_unconfigured_lock(void **state)
{
	struct fx *f = *state;
	struct backend *be;
	struct ranges *a = sample();
	struct sync_arg arg = {.want = a};
	uint32_t g;

	lock_config(f);
	be = open_be(f);
	arg.be = be;
	do_sync(&arg);
	nft_backend_ops.close(be);
	assert_false(drift_of(f));
	/* a chain deleted by hand */
	sh("nft delete chain inet cdnallow lock_forward");
	assert_true(drift_of(f));
	g = genid();
	be = open_be(f);
	arg.be = be;
	do_sync(&arg); /* empty delta, drift: the lock alone is put back */
	assert_int_equal(genid(), g + 1);
	nft_backend_ops.close(be);
	assert_false(drift_of(f));
	/* a rule slipped in */
	sh("nft insert rule inet cdnallow lock_input tcp dport 443 accept");
	assert_true(drift_of(f));
	be = open_be(f);
	arg.be = be;
	do_sync(&arg);
	nft_backend_ops.close(be);
	assert_false(drift_of(f));
	/* policy turned to drop */
	sh("nft add chain inet cdnallow lock_input '{ policy drop; }'");
	assert_true(drift_of(f));
	be = open_be(f);
	arg.be = be;
	do_sync(&arg);
	nft_backend_ops.close(be);
	assert_false(drift_of(f));
	assert_output_has("nft list chain inet cdnallow lock_input", "policy accept");
	/* the configuration changes */
	kv_set(f, "lock_ports", "443 8443");
	assert_true(drift_of(f));
	be = open_be(f);
	arg.be = be;
	do_sync(&arg);
	nft_backend_ops.close(be);
	assert_false(drift_of(f));
	assert_output_has("nft list chain inet cdnallow lock_input", "tcp dport 8443 drop");
	/* no lock configured any more: chains present is drift, the sync removes them */
	f->tc.n_kv = 0;
	assert_true(drift_of(f));
	be = open_be(f);
	arg.be = be;
	do_sync(&arg);
	nft_backend_ops.close(be);
	assert_false(has_chain("lock_input"));
	assert_false(has_chain("lock_forward"));
	assert_false(drift_of(f));
	assert_reads_back(f, a);
	ranges_free(a);
}

static void lock_leaves_other_tables_byte_identical(void **state)
{
	struct fx *f = *state;
	struct backend *be;
	struct ranges *a = sample();
	struct sync_arg arg = {.want = a};
	struct cda_error err = {0};
	char *before, *after;

	sh(admin_ruleset);
	sh("nft 'add table ip filter; add chain ip filter FORWARD { type filter hook forward "
	   "priority 0; policy drop; }; add chain ip filter DOCKER-USER; "
	   "add rule ip filter FORWARD counter jump DOCKER-USER'");
	before = capture("nft -a list table inet admin; nft -a list table ip filter");
	kv_set(f, "lock_ports", "443");
	be = open_be(f); /* lock_forward = auto: Docker's chains are there */
	arg.be = be;
	do_sync(&arg);
	assert_string_equal(be->ops->lock_info(be), "tcp 443 on input+forward");
	assert_true(has_chain("lock_forward"));
	if (be->ops->unlock(be, &err) < 0)
		fail_msg("unlock: %s", err.msg);
	nft_backend_ops.close(be);
	be = open_be(f);
	arg.be = be;
	do_sync(&arg);
	nft_backend_ops.close(be);
	after = capture("nft -a list table inet admin; nft -a list table ip filter");
	assert_string_equal(after, before);
	/* without a forward chain anywhere, auto means input only */
	sh("nft delete table ip filter; nft delete table inet admin");
	be = open_be(f);
	arg.be = be;
	do_sync(&arg);
	assert_string_equal(be->ops->lock_info(be), "tcp 443 on input");
	assert_false(has_chain("lock_forward"));
	nft_backend_ops.close(be);
	free(before);
	free(after);
	ranges_free(a);
}

static void lock_keys_are_refused_for_an_admin_table(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	struct backend *be = NULL;

	admin_mode(f);
	kv_set(f, "lock_ports", "443");
	assert_int_equal(nft_backend_ops.open(&be, &f->tc, &f->env, &err), -1);
	assert_int_equal(err.code, CDA_ECONFIG);
	assert_int_equal(err.line, 14);
	assert_non_null(strstr(err.msg, "lock_ports: the origin lock needs cdnallow's own table"));
	f->tc.n_kv = 0;
	kv_set(f, "lock_allow", "192.0.2.7");
	memset(&err, 0, sizeof(err));
	assert_int_equal(nft_backend_ops.open(&be, &f->tc, &f->env, &err), -1);
	assert_string_equal(err.msg, "lock_allow: needs lock_ports or lock_udp");
	kv_set(f, "lock_ports", "443 70000");
	memset(&err, 0, sizeof(err));
	assert_int_equal(nft_backend_ops.open(&be, &f->tc, &f->env, &err), -1);
	assert_non_null(strstr(err.msg, "lock_ports: expected"));
}

/* ---- sets cdnallow cannot track, the cache's binding, netlink hygiene ---- */

/* The one cache file of target name in the state dir, as a state key ("" when none). */
static void cache_key_of(struct fx *f, const char *name, char *key, size_t size)
{
	char pattern[256];
	const char *base;
	glob_t g;

	key[0] = '\0';
	snprintf(pattern, sizeof(pattern), "%s/applied-nft-%s-*.list", f->dir, name);
	if (glob(pattern, 0, NULL, &g) != 0)
		return;
	assert_int_equal(g.gl_pathc, 1);
	base = strrchr(g.gl_pathv[0], '/') + strlen("/applied-");
	snprintf(key, size, "%.*s", (int)(strlen(base) - strlen(".list")), base);
	globfree(&g);
}

static int read_err(struct fx *f, struct cda_error *err)
{
	struct backend *be = open_be(f);
	struct ranges *cur = ranges_new();
	int rc = be->ops->read(be, cur, err);

	ranges_free(cur);
	nft_backend_ops.close(be);
	return rc;
}

static void timeout_sets_are_refused_naming_the_set_and_the_flag(void **state)
{
	struct fx *f = *state;
	struct cda_error err = {0};
	char *before, *after;

	/* elements of such sets expire without a commit: the genid and the cache never
	 * notice, and every later run would report "unchanged" */
	sh("nft 'add table inet admin; "
	   "add set inet admin cdn4 { type ipv4_addr; flags interval,timeout; }; "
	   "add set inet admin cdn6 { type ipv6_addr; flags interval; }'");
	admin_mode(f);
	before = capture("nft -a list ruleset");
	assert_int_equal(read_err(f, &err), -1);
	fprintf(stderr, "# %s\n", err.msg);
	assert_int_equal(err.code, CDA_ECONFIG);
	assert_non_null(strstr(err.msg, "set inet admin cdn4 has flags timeout"));
	assert_non_null(strstr(err.msg, "cdnallow needs type ipv4_addr; flags interval"));
	assert_int_equal(err.line, 11);
	/* a default timeout on the set is the same flag */
	sh("nft 'delete set inet admin cdn4; add set inet admin cdn4 { type ipv4_addr; "
	   "flags interval; }; delete set inet admin cdn6; add set inet admin cdn6 { type "
	   "ipv6_addr; flags interval; timeout 1h; }'");
	memset(&err, 0, sizeof(err));
	assert_int_equal(read_err(f, &err), -1);
	assert_int_equal(err.code, CDA_ECONFIG);
	assert_non_null(strstr(err.msg, "set inet admin cdn6 has flags timeout"));
	assert_int_equal(err.line, 12);
	/* the same set in our own table: refused as well, before anything is sent */
	f->tc.n_kv = 0;
	sh("nft 'add table inet cdnallow; add set inet cdnallow allow_v4 { type ipv4_addr; "
	   "flags interval,timeout; }'");
	free(before);
	before = capture("nft -a list ruleset");
	memset(&err, 0, sizeof(err));
	assert_int_equal(read_err(f, &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_non_null(strstr(err.msg, "set inet cdnallow allow_v4 has flags timeout"));
	after = capture("nft -a list ruleset");
	assert_string_equal(after, before);
	free(before);
	free(after);
}

static const char two_set_pairs[] =
	"nft -f - <<'EOF'\n"
	"table inet admin {\n"
	"  set a4 { type ipv4_addr; flags interval; }\n"
	"  set a6 { type ipv6_addr; flags interval; }\n"
	"  set b4 { type ipv4_addr; flags interval; }\n"
	"  set b6 { type ipv6_addr; flags interval; }\n"
	"}\n"
	"table inet admin2 {\n"
	"  set a4 { type ipv4_addr; flags interval; }\n"
	"  set a6 { type ipv6_addr; flags interval; }\n"
	"}\n"
	"table ip admin {\n"
	"  set a4 { type ipv4_addr; flags interval; }\n"
	"}\n"
	"EOF";

/* read() of the target as configured now: what it reports must be what the kernel holds. */
static void assert_read_equals_kernel(struct fx *f, const struct ranges *kernel)
{
	struct backend *be = open_be(f);
	struct ranges *got = read_be(be);

	if (!ranges_equal(got, kernel))
		fail_msg("read() says %zu+%zu ranges, the kernel holds %zu+%zu",
			 ranges_count4(got), ranges_count6(got), ranges_count4(kernel),
			 ranges_count6(kernel));
	ranges_free(got);
	nft_backend_ops.close(be);
}

static void switching_sets_tables_or_family_never_reads_the_old_cache(void **state)
{
	struct fx *f = *state;
	struct ranges *a = sample(), *empty = ranges_new(), *v4 = ranges_new(), *b = sample();
	struct sync_arg arg = {.want = a};
	struct cda_error err = {0};
	uint32_t g;

	sh(two_set_pairs);
	kv_set(f, "table", "admin");
	kv_set(f, "set_v4", "a4");
	kv_set(f, "set_v6", "a6");
	kv_set(f, "create", "no");
	arg.be = open_be(f);
	do_sync(&arg); /* a4/a6 hold the list; the cache says so, at the current genid */
	nft_backend_ops.close(arg.be);
	/* other sets of the same table: empty in the kernel, empty in read() */
	kv_set(f, "set_v4", "b4");
	kv_set(f, "set_v6", "b6");
	assert_read_equals_kernel(f, empty);
	/* the same set names in another table, and in another family */
	kv_set(f, "set_v4", "a4");
	kv_set(f, "set_v6", "a6");
	kv_set(f, "table", "admin2");
	assert_read_equals_kernel(f, empty);
	kv_set(f, "table", "admin");
	kv_set(f, "family", "ip");
	kv_set(f, "set_v6", "none");
	assert_read_equals_kernel(f, empty);
	/* back to a4/a6 with nothing committed since: the cache is good again */
	kv_set(f, "family", "inet");
	kv_set(f, "set_v6", "a6");
	assert_read_equals_kernel(f, a);
	/* b4 holds an admin's element; a sync to b4/b6 with another list converges in one
	 * run (it used to delete elements b4 never had: ENOENT on every run) */
	sh("nft add element inet admin b4 '{ 198.18.0.1 }'");
	arg.be = open_be(f);
	do_sync(&arg); /* a4/a6 cached at the new genid */
	nft_backend_ops.close(arg.be);
	kv_set(f, "set_v4", "b4");
	kv_set(f, "set_v6", "b6");
	assert_int_equal(ranges_add4(v4, V4(198, 18, 0, 1), V4(198, 18, 0, 1)), 0);
	assert_read_equals_kernel(f, v4);
	assert_int_equal(ranges_add4(b, V4(203, 0, 113, 0), V4(203, 0, 113, 255)), 0);
	ranges_normalize(b);
	arg.be = open_be(f);
	g = genid();
	if (sync_be(arg.be, b, &err) < 0)
		fail_msg("sync to b4/b6: %s", err.msg);
	assert_int_equal(genid(), g + 1);
	nft_backend_ops.close(arg.be);
	assert_reads_back(f, b);
	ranges_free(a);
	ranges_free(b);
	ranges_free(v4);
	ranges_free(empty);
}

static void a_wrong_cache_is_dropped_and_the_delta_redone_from_a_dump(void **state)
{
	struct fx *f = *state;
	struct ranges *a = sample(), *b = sample(), *fake, *add = NULL, *del = NULL, *cur;
	struct sync_arg arg = {.want = a};
	struct backend_input in = {.want = b};
	struct backend *be;
	struct cda_error err = {0};
	char key[256], path[512];
	uint32_t g;

	arg.be = open_be(f);
	do_sync(&arg);
	nft_backend_ops.close(arg.be);
	cache_key_of(f, "edge", key, sizeof(key));
	assert_true(key[0] != '\0');
	/* a cache at the current genid that claims an element the kernel lacks (ENOENT when
	 * deleted) and lacks one the kernel has (EEXIST when an overlapping one is added) */
	fake = sample();
	assert_int_equal(ranges_add4(fake, V4(100, 64, 0, 0), V4(100, 64, 0, 255)), 0);
	ranges_normalize(fake);
	assert_int_equal(state_save_applied(f->st, key, fake, genid(), &err), 0);
	assert_int_equal(ranges_add4(b, V4(203, 0, 113, 0), V4(203, 0, 113, 255)), 0);
	ranges_normalize(b);
	be = open_be(f);
	cur = read_be(be);
	assert_true(ranges_equal(cur, fake)); /* the cache is believed: same genid */
	assert_int_equal(ranges_diff_items(b, cur, &add, &del), 0);
	in.add = add;
	in.del = del;
	g = genid();
	if (be->ops->apply(be, &in, &err) < 0)
		fail_msg("apply with a wrong cache: %s", err.msg);
	assert_int_equal(genid(), g + 1);
	if (be->ops->verify(be, b, &err) < 0)
		fail_msg("verify: %s", err.msg);
	assert_reads_back(f, b);
	/* the wrong cache is gone (or replaced by a true one) */
	snprintf(path, sizeof(path), "%s/applied-%s.list", f->dir, key);
	if (access(path, F_OK) == 0) {
		struct ranges *c = NULL;
		uint32_t cg = 0;

		assert_int_equal(state_load_applied(f->st, key, &c, &cg, &err), 1);
		assert_false(ranges_equal(c, fake));
		ranges_free(c);
	}
	nft_backend_ops.close(be);
	ranges_free(a);
	ranges_free(b);
	ranges_free(fake);
	ranges_free(cur);
	ranges_free(add);
	ranges_free(del);
}

static void verify_full_reads_the_kernel_never_the_cache(void **state)
{
	struct fx *f = *state;
	struct ranges *a = sample(), *fake = sample();
	struct sync_arg arg = {.want = a};
	struct cda_error err = {0};
	char key[256];

	arg.be = open_be(f);
	do_sync(&arg);
	nft_backend_ops.close(arg.be);
	cache_key_of(f, "edge", key, sizeof(key));
	assert_int_equal(ranges_add4(fake, V4(100, 64, 0, 0), V4(100, 64, 0, 255)), 0);
	ranges_normalize(fake);
	assert_int_equal(state_save_applied(f->st, key, fake, genid(), &err), 0);
	f->env.verify_full = true; /* --verify-full */
	assert_read_equals_kernel(f, a);
	f->env.verify_full = false;
	kv_set(f, "verify", "full");
	assert_read_equals_kernel(f, a);
	ranges_free(a);
	ranges_free(fake);
}

/* File descriptors open without FD_CLOEXEC. */
static int inheritable_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		int fl = fcntl(fd, F_GETFD);

		if (fl >= 0 && !(fl & FD_CLOEXEC))
			n++;
	}
	return n;
}

static void netlink_sockets_are_close_on_exec(void **state)
{
	struct fx *f = *state;
	struct ranges *a = sample();
	struct sync_arg arg = {.want = a};
	int before = inheritable_fds();

	arg.be = open_be(f);
	do_sync(&arg); /* the socket is open now */
	assert_int_equal(inheritable_fds(), before);
	nft_backend_ops.close(arg.be);
	ranges_free(a);
}

static void a_target_keeps_the_cache_of_a_target_named_like_it(void **state)
{
	struct fx *f = *state, f2;
	struct ranges *a = sample();
	struct sync_arg arg = {.want = a};
	struct cda_error err = {0};
	char key2[256], path[512];
	const char *stale = "nft-edge-0000oldboot-1";

	f2 = *f;
	f2.tc.kv = f2.kv;
	f2.tc.name = "edge-2";
	kv_set(&f2, "table", "cdn2");
	arg.be = open_be(&f2);
	do_sync(&arg);
	nft_backend_ops.close(arg.be);
	cache_key_of(&f2, "edge-2", key2, sizeof(key2));
	assert_true(key2[0] != '\0');
	/* target edge saves its cache and removes its own stale ones, not edge-2's */
	assert_int_equal(state_save_applied(f->st, stale, a, 1, &err), 0);
	arg.be = open_be(f);
	do_sync(&arg);
	nft_backend_ops.close(arg.be);
	snprintf(path, sizeof(path), "%s/applied-%s.list", f->dir, key2);
	if (access(path, F_OK) != 0)
		fail_msg("target edge's save removed target edge-2's cache %s", path);
	snprintf(path, sizeof(path), "%s/applied-%s.list", f->dir, stale);
	assert_int_equal(access(path, F_OK), -1);
	ranges_free(a);
}

static void own_set_changed_by_an_admin_is_reported_clearly(void **state)
{
	struct fx *f = *state;
	struct ranges *a = sample();
	struct sync_arg arg = {.want = a};
	struct backend_input in = {.want = a, .add = a};
	struct cda_error err = {0};
	struct backend *be;
	struct ranges *cur;
	uint32_t g;

	arg.be = open_be(f);
	do_sync(&arg);
	nft_backend_ops.close(arg.be);
	/* an admin recreated our IPv4 set with per-element counters */
	sh("nft 'delete set inet cdnallow allow_v4; add set inet cdnallow allow_v4 { type "
	   "ipv4_addr; flags interval; counter; }'");
	g = genid();
	be = open_be(f);
	cur = ranges_new();
	assert_int_equal(be->ops->read(be, cur, &err), -1);
	fprintf(stderr, "# %s\n", err.msg);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_non_null(strstr(err.msg, "set inet cdnallow allow_v4"));
	assert_non_null(strstr(err.msg, "counter"));
	assert_non_null(strstr(err.msg, "nft delete set inet cdnallow allow_v4"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(be->ops->apply(be, &in, &err), -1);
	assert_non_null(strstr(err.msg, "set inet cdnallow allow_v4"));
	assert_int_equal(genid(), g); /* nothing sent */
	nft_backend_ops.close(be);
	/* two expressions come as a list; other flags are named */
	sh("nft 'delete set inet cdnallow allow_v4; add set inet cdnallow allow_v4 { type "
	   "ipv4_addr; flags interval; counter quota 100 mbytes; }'");
	memset(&err, 0, sizeof(err));
	assert_int_equal(read_err(f, &err), -1);
	assert_non_null(strstr(err.msg, "has a per-element counter"));
	sh("nft 'delete set inet cdnallow allow_v4; add set inet cdnallow allow_v4 { type "
	   "ipv4_addr; flags constant,interval; }'");
	memset(&err, 0, sizeof(err));
	assert_int_equal(read_err(f, &err), -1);
	assert_non_null(strstr(err.msg, "has flags constant"));
	/* once the admin deletes it, the next run recreates it */
	sh("nft delete set inet cdnallow allow_v4");
	arg.be = open_be(f);
	do_sync(&arg);
	nft_backend_ops.close(arg.be);
	assert_reads_back(f, a);
	ranges_free(cur);
	ranges_free(a);
}

/* A child that commits as fast as it can: add and delete table ip churn. */
static pid_t start_churn(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		execlp("sh", "sh", "-c",
		       "while :; do nft 'add table ip churn; delete table ip churn'; done",
		       (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void dumps_interrupted_by_commits_are_retried(void **state)
{
	struct fx *f = *state;
	struct ranges *a = sample();
	struct sync_arg arg = {.want = a};
	int failed = 0, rounds = 0;
	struct timespec t0, t1;
	pid_t churn;
	FILE *p;

	/* many chains elsewhere and many rules in our table: both dumps take several
	 * parts, and a commit between two parts interrupts them (NLM_F_DUMP_INTR) */
	p = popen("nft -f -", "w");
	assert_non_null(p);
	fprintf(p, "table inet other {\n");
	for (int i = 0; i < 3000; i++)
		fprintf(p, "chain c%d { }\n", i);
	fprintf(p, "}\n");
	assert_int_equal(pclose(p), 0);
	lock_config(f);
	arg.be = open_be(f);
	do_sync(&arg);
	nft_backend_ops.close(arg.be);
	p = popen("nft -f -", "w");
	assert_non_null(p);
	fprintf(p, "table inet cdnallow {\nchain extra {\n");
	for (int i = 0; i < 3000; i++)
		fprintf(p, "tcp dport %d counter accept\n", 1024 + i);
	fprintf(p, "}\n}\n");
	assert_int_equal(pclose(p), 0);
	churn = start_churn();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct backend *be = open_be(f);
		struct ranges *cur = ranges_new();
		struct cda_error err = {0};

		if (be->ops->read(be, cur, &err) < 0) {
			if (failed++ == 0)
				fprintf(stderr, "# read failed: %s\n", err.msg);
		}
		ranges_free(cur);
		nft_backend_ops.close(be);
		rounds++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while (t1.tv_sec - t0.tv_sec < 4);
	kill(churn, SIGTERM);
	waitpid(churn, NULL, 0);
	fprintf(stderr, "# %d reads under concurrent commits, %d failed\n", rounds, failed);
	assert_int_equal(failed, 0);
	ranges_free(a);
}

/* Re-exec under `unshare -n` so that no test can touch the host's firewall. */
static int enter_netns(int argc, char **argv)
{
	bool ci = getenv("CI") != NULL && strcmp(getenv("CI"), "true") == 0;
	const char *why = NULL, *mark = getenv(NETNS_MARK);
	char **args, host[32];
	struct stat self;

	if (mark != NULL) {
		/* refuse to run in the namespace we started in, whatever happened */
		if (stat("/proc/self/ns/net", &self) < 0 ||
		    strtoull(mark, NULL, 10) == (unsigned long long)self.st_ino) {
			fprintf(stderr, "not in a private network namespace\n");
			return 99;
		}
		return -1;
	}
	if (geteuid() != 0)
		why = "needs root";
	else if (system("unshare -n -- true") != 0)
		why = "unshare -n failed";
	else if (system("unshare -n -- nft list ruleset >/dev/null") != 0)
		why = "nft does not work in a new namespace";
	if (why != NULL) {
		/* with CI=true a missing prerequisite fails: a skip is never a pass */
		if (ci)
			printf("Bail out! %s\n", why);
		else
			printf("1..0 # SKIP %s\n", why);
		fprintf(stderr, "test_backend_nft: %s\n", why);
		return ci ? 1 : 77;
	}
	args = calloc((size_t)argc + 4, sizeof(*args));
	if (args == NULL)
		return 1;
	args[0] = "unshare";
	args[1] = "-n";
	args[2] = "--";
	for (int i = 0; i < argc; i++)
		args[3 + i] = argv[i];
	if (stat("/proc/self/ns/net", &self) < 0)
		return 1;
	snprintf(host, sizeof(host), "%llu", (unsigned long long)self.st_ino);
	setenv(NETNS_MARK, host, 1);
	execvp("unshare", args);
	perror("execvp unshare");
	return ci ? 1 : 77;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			first_apply_creates_table_and_sets_with_exactly_the_ranges, setup,
			teardown),
		cmocka_unit_test_setup_teardown(delta_apply_changes_exactly_the_delta, setup,
						teardown),
		cmocka_unit_test_setup_teardown(empty_delta_sends_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(cache_is_used_only_while_the_genid_matches, setup,
						teardown),
		cmocka_unit_test_setup_teardown(admin_table_is_left_as_it_was_apart_from_our_sets,
						setup, teardown),
		cmocka_unit_test_setup_teardown(wrong_set_type_in_admin_mode_is_a_clear_error,
						setup, teardown),
		cmocka_unit_test_setup_teardown(bad_config_values_are_reported_with_their_line,
						setup, teardown),
		cmocka_unit_test_setup_teardown(refused_element_aborts_the_whole_batch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(stale_genid_recomputes_the_delta_and_converges,
						setup, teardown),
		cmocka_unit_test_setup_teardown(hundred_thousand_ranges_apply_in_one_transaction,
						setup, teardown),
		cmocka_unit_test_setup_teardown(lock_is_installed_with_the_sets_in_one_transaction,
						setup, teardown),
		cmocka_unit_test_setup_teardown(lock_is_never_present_while_a_set_is_empty, setup,
						teardown),
		cmocka_unit_test_setup_teardown(unlock_removes_only_the_lock_chains, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			drift_detects_a_missing_changed_or_unconfigured_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(lock_leaves_other_tables_byte_identical, setup,
						teardown),
		cmocka_unit_test_setup_teardown(lock_keys_are_refused_for_an_admin_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(timeout_sets_are_refused_naming_the_set_and_the_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(switching_sets_tables_or_family_never_reads_the_old_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(a_wrong_cache_is_dropped_and_the_delta_redone_from_a_dump, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_full_reads_the_kernel_never_the_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(netlink_sockets_are_close_on_exec, setup, teardown),
		cmocka_unit_test_setup_teardown(a_target_keeps_the_cache_of_a_target_named_like_it, setup, teardown),
		cmocka_unit_test_setup_teardown(own_set_changed_by_an_admin_is_reported_clearly, setup, teardown),
		cmocka_unit_test_setup_teardown(dumps_interrupted_by_commits_are_retried, setup, teardown),
	};
	int rc = enter_netns(argc, argv);

	if (rc >= 0)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
