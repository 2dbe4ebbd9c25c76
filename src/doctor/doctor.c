// SPDX-License-Identifier: MIT
/*
 * cdnallow doctor: read-only checks answering "why does the origin refuse the CDN?".
 *
 * The firewall part reads the kernel's own ruleset over netlink (libnftnl dumps, never nft
 * text) and evaluates it symbolically for "a new TCP connection from some CDN address to
 * port P": payload/meta/ct loads become either known bytes (port, protocol, family, ct
 * state NEW) or the source address; cmp, range, bitwise and lookup narrow the set of source
 * addresses that reach a verdict. Anything not modelled (interfaces, marks, xt matches,
 * limits, maps, concatenations) makes a rule "maybe": a maybe-drop is a warning, never an
 * error, and a maybe-accept does not remove packets from later drops (they become maybe).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "backend.h"
#include "cda_error.h"
#include "config.h"
#include "doctor.h"
#include "ranges.h"
#include "state.h"

#ifdef HAVE_NFTABLES
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#endif

#define DEFAULT_MAX_AGE (2 * 86400L)
#define SAMPLES 3    /* addresses quoted per finding */
#define MAX_DEPTH 16 /* jump nesting followed */
#define CMD_TIMEOUT_MS 3000
#define CMD_MAX_OUT (16u << 20)
#define DUMP_BUF 32768 /* MNL_SOCKET_DUMP_SIZE, which libmnl 1.0.4 lacks */

/* One of our nftables sets, from a target's config. */
struct own_set {
	const char *target;
	char table[256], name[256];
	int fam;          /* CDA_AF_INET or CDA_AF_INET6 */
	uint32_t nfproto; /* table family */
};

/* A ban list entry found outside the firewall's rules. */
struct ban {
	char where[300]; /* "Fail2Ban jail sshd", "/etc/csf/csf.deny", "ipset blocklist" */
	struct cidr c;
};

struct ctx {
	const struct doctor_opts *o;
	const struct config *cfg;
	struct doctor_report *rep;
	struct cda_error *err;
	uint16_t ports[64];
	size_t n_ports;
	struct ranges *cdn; /* union of every selected target's lists (normal) */
	bool have_cdn;
	struct own_set *own;
	size_t n_own;
	struct ban *bans;
	size_t n_bans;
	bool oom;
#ifdef HAVE_NFTABLES
	struct nft *nft; /* NULL when the ruleset could not be read */
#endif
};

static int add(struct ctx *c, enum doctor_severity sev, const char *check, const char *subject,
	       const char *fix, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int add(struct ctx *c, enum doctor_severity sev, const char *check, const char *subject,
	       const char *fix, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (doctor_add(c->rep, sev, check, subject, fix, "%s", msg) < 0) {
		c->oom = true;
		return -1;
	}
	return 0;
}

static bool empty(const struct ranges *r)
{
	return ranges_count4(r) + ranges_count6(r) == 0;
}

static int add_iv(struct ranges *r, int fam, cda_u128 lo, cda_u128 hi)
{
	if (fam == CDA_AF_INET)
		return ranges_add4(r, (uint32_t)lo, (uint32_t)hi);
	return ranges_add6(r, lo, hi);
}

/* "104.16.0.0/13, 2400:cb00::/32 and 5 more" for the first prefixes of r (normal). */
#ifdef HAVE_NFTABLES
static const char *fam_name(int fam)
{
	return fam == CDA_AF_INET ? "IPv4" : "IPv6";
}

static cda_u128 fam_max(int fam)
{
	return fam == CDA_AF_INET ? (cda_u128)UINT32_MAX : ~(cda_u128)0;
}

static size_t count_fam(const struct ranges *r, int fam)
{
	return fam == CDA_AF_INET ? ranges_count4(r) : ranges_count6(r);
}

/* A new ranges holding only family fam of r (r normal). */
static struct ranges *only_fam(const struct ranges *r, int fam)
{
	struct ranges *o = ranges_new();

	if (o == NULL)
		return NULL;
	if (fam == CDA_AF_INET) {
		const struct range4 *v = ranges_v4(r);

		for (size_t i = 0; i < ranges_count4(r); i++)
			if (ranges_add4(o, v[i].lo, v[i].hi) < 0)
				goto fail;
	} else {
		const struct range6 *v = ranges_v6(r);

		for (size_t i = 0; i < ranges_count6(r); i++)
			if (ranges_add6(o, v[i].lo, v[i].hi) < 0)
				goto fail;
	}
	ranges_normalize(o);
	return o;
fail:
	ranges_free(o);
	return NULL;
}

static void samples(const struct ranges *r, char *buf, size_t size)
{
	struct cidr_list l = {0};
	size_t off = 0;

	buf[0] = '\0';
	if (ranges_to_cidrs(r, &l) < 0) {
		snprintf(buf, size, "(out of memory)");
		return;
	}
	for (size_t i = 0; i < l.n && i < SAMPLES; i++) {
		char cb[CIDR_STRLEN];

		off += (size_t)snprintf(buf + off, off < size ? size - off : 0, "%s%s",
					i ? ", " : "", cidr_format(&l.v[i], cb));
	}
	if (l.n > SAMPLES && off < size)
		snprintf(buf + off, size - off, " and %zu more", l.n - SAMPLES);
	cidr_list_finish(&l);
}

#endif

static const char *const ban_words[] = {"block", "deny",     "ban",   "black", "drop", "reject",
					"f2b",   "crowdsec", "abuse", "bad",   NULL};

static bool ban_named(const char *name)
{
	char low[256];
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < sizeof(low); i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[i] = '\0';
	for (const char *const *w = ban_words; *w != NULL; w++)
		if (strstr(low, *w) != NULL)
			return true;
	return false;
}

static bool target_selected(const struct doctor_opts *o, const char *name)
{
	if (o->n_targets == 0)
		return true;
	for (size_t i = 0; i < o->n_targets; i++)
		if (strcmp(o->targets[i], name) == 0)
			return true;
	return false;
}

/* ---- subprocesses (fail2ban-client, ipset): argv only, no shell, bounded time ---- */

/* Run argv with stdout captured into *out (NUL-terminated). Returns the exit status, or -1
 * when it could not run or timed out. stderr is discarded. */
static int run_cmd(char *const argv[], char **out)
{
	int pfd[2], status = -1;
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	struct timespec t0, t1;
	pid_t pid;

	*out = NULL;
	if (buf == NULL)
		return -1;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		free(buf);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		free(buf);
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(pfd[1], STDOUT_FILENO);
		if (devnull >= 0) {
			dup2(devnull, STDERR_FILENO);
			dup2(devnull, STDIN_FILENO);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = CMD_TIMEOUT_MS -
		       ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			kill(pid, SIGKILL);
			status = -2;
			break;
		}
		if (len + 1 >= cap) {
			char *nb = cap < CMD_MAX_OUT ? realloc(buf, cap * 2) : NULL;

			if (nb == NULL) {
				kill(pid, SIGKILL);
				status = -2;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(pfd[0], buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(pfd[0]);
	{
		int ws;

		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;
		if (status != -2)
			status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
		else
			status = -1;
	}
	buf[len] = '\0';
	*out = buf;
	return status;
}

static bool in_path(const char *cmd)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(cmd, '/') != NULL)
		return access(cmd, X_OK) == 0;
	if (path == NULL)
		path = "/usr/sbin:/usr/bin:/sbin:/bin";
	while (*path != '\0') {
		size_t n = strcspn(path, ":");

		if (snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, cmd) < (int)sizeof(buf) &&
		    access(buf, X_OK) == 0)
			return true;
		path += n;
		if (*path == ':')
			path++;
	}
	return false;
}

/* ---- the CDN lists and our sets, from the config and the state dir ---- */

static int load_lists(struct ctx *c, struct state *st, const struct target_config *tc,
		      struct ranges *want, time_t *oldest, bool *complete, bool *denied)
{
	*complete = true;
	*denied = false;
	*oldest = 0;
	for (size_t i = 0; i < tc->n_sources; i++) {
		struct ranges *l = NULL;
		struct source_meta meta = {0};
		struct cda_error e = {0};
		char buf[600];
		int found = st != NULL ? state_load_source(st, tc->sources[i], &l, &meta, &e) : 0;

		if (found < 0 && (e.sys_errno == EACCES || e.sys_errno == EPERM)) {
			*complete = false;
			*denied = true;
			add(c, DOCTOR_INFO, "freshness", tc->sources[i], "run it as root",
			    "the cached list cannot be read without privileges: the lists and sets "
			    "were not compared");
			continue;
		}
		if (found < 0) {
			*complete = false;
			add(c, DOCTOR_ERROR, "freshness", tc->sources[i],
			    "run `cdnallow sync` to fetch it anew",
			    "the cached list is unreadable: %s",
			    cda_error_str(&e, buf, sizeof(buf)));
			continue;
		}
		if (found == 0) {
			*complete = false;
			continue;
		}
		if (ranges_add_all(want, l) < 0) {
			ranges_free(l);
			return -1;
		}
		if (*oldest == 0 || meta.fetched < *oldest)
			*oldest = meta.fetched;
		ranges_free(l);
	}
	ranges_normalize(want);
	return 0;
}

/* ---- nftables: dumps and the evaluator ---- */

#ifdef HAVE_NFTABLES

struct nset {
	struct nftnl_set *s;
	uint32_t family, flags, klen, ktype;
	const char *table, *name;
	bool loaded, broken, wanted;
	struct ranges *elems; /* keys as intervals: v4 items for keys <= 4 bytes, v6 for 16 */
};

struct nchain {
	struct nftnl_chain *ch;
	uint32_t family, hook, policy;
	int32_t prio;
	bool base, reachable;
	const char *table, *name;
	size_t *rules; /* indices into nft->rules, in order */
	size_t n_rules;
};

struct nlconn {
	struct mnl_socket *nl;
	uint32_t portid, seq;
};

struct nft {
	struct nlconn conn;
	struct nftnl_rule **rules;
	size_t n_rules;
	struct nchain *chains;
	size_t n_chains;
	struct nset *sets;
	size_t n_sets;
};

/* Accumulates parsed objects of one dump. */
struct dump_acc {
	int type;
	void **v;
	size_t n, cap;
	struct nftnl_set *elems_into;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_acc *a = data;
	void *obj = NULL;

	if (a->type == NFT_MSG_GETSETELEM)
		return nftnl_set_elems_nlmsg_parse(nlh, a->elems_into) < 0 ? MNL_CB_ERROR
									   : MNL_CB_OK;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		void **v = reallocarray(a->v, cap, sizeof(*v));

		if (v == NULL)
			return MNL_CB_ERROR;
		a->v = v;
		a->cap = cap;
	}
	switch (a->type) {
	case NFT_MSG_GETCHAIN:
		obj = nftnl_chain_alloc();
		if (obj != NULL && nftnl_chain_nlmsg_parse(nlh, obj) < 0) {
			nftnl_chain_free(obj);
			obj = NULL;
		}
		break;
	case NFT_MSG_GETRULE:
		obj = nftnl_rule_alloc();
		if (obj != NULL && nftnl_rule_nlmsg_parse(nlh, obj) < 0) {
			nftnl_rule_free(obj);
			obj = NULL;
		}
		break;
	case NFT_MSG_GETSET:
		obj = nftnl_set_alloc();
		if (obj != NULL && nftnl_set_nlmsg_parse(nlh, obj) < 0) {
			nftnl_set_free(obj);
			obj = NULL;
		}
		break;
	}
	if (obj == NULL)
		return MNL_CB_ERROR;
	a->v[a->n++] = obj;
	return MNL_CB_OK;
}

/* One dump request; errno is kept from a kernel error (EPERM without CAP_NET_ADMIN). */
static int nl_dump(struct nlconn *n, int type, uint16_t family, struct nftnl_set *filter,
		   struct dump_acc *a)
{
	char *buf = malloc(DUMP_BUF);
	struct nlmsghdr *nlh;
	uint32_t seq = ++n->seq;
	int ret;

	if (buf == NULL)
		return -1;
	nlh = nftnl_nlmsg_build_hdr(buf, (uint16_t)type, family, NLM_F_DUMP, seq);
	if (filter != NULL)
		nftnl_set_elems_nlmsg_build_payload(nlh, filter);
	a->type = type;
	if (mnl_socket_sendto(n->nl, nlh, nlh->nlmsg_len) < 0) {
		free(buf);
		return -1;
	}
	do {
		ret = (int)mnl_socket_recvfrom(n->nl, buf, DUMP_BUF);
		if (ret <= 0)
			break;
		ret = mnl_cb_run(buf, (size_t)ret, seq, n->portid, dump_cb, a);
	} while (ret > MNL_CB_STOP);
	free(buf);
	return ret < 0 ? -1 : 0;
}

static int conn_open(struct nlconn *c)
{
	c->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (c->nl == NULL || mnl_socket_bind(c->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -1;
	c->portid = mnl_socket_get_portid(c->nl);
	c->seq = (uint32_t)time(NULL);
	return 0;
}

static void nft_free(struct nft *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->n_rules; i++)
		nftnl_rule_free(n->rules[i]);
	for (size_t i = 0; i < n->n_chains; i++) {
		nftnl_chain_free(n->chains[i].ch);
		free(n->chains[i].rules);
	}
	for (size_t i = 0; i < n->n_sets; i++) {
		nftnl_set_free(n->sets[i].s);
		ranges_free(n->sets[i].elems);
	}
	free(n->rules);
	free(n->chains);
	free(n->sets);
	if (n->conn.nl != NULL)
		mnl_socket_close(n->conn.nl);
	free(n);
}

static void acc_free(struct dump_acc *a, void (*fr)(void *))
{
	for (size_t i = 0; i < a->n; i++)
		fr(a->v[i]);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

static void chain_free_cb(void *p)
{
	nftnl_chain_free(p);
}

static void rule_free_cb(void *p)
{
	nftnl_rule_free(p);
}

static void set_free_cb(void *p)
{
	nftnl_set_free(p);
}

/* Dump with a retry when the ruleset changed mid-dump (EINTR). */
static int dump_retry(struct nft *n, int type, struct dump_acc *a, void (*fr)(void *))
{
	for (int i = 0; i < 5; i++) {
		if (nl_dump(&n->conn, type, NFPROTO_UNSPEC, NULL, a) == 0)
			return 0;
		if (errno != EINTR)
			return -1;
		acc_free(a, fr);
	}
	return -1;
}

static struct nchain *find_chain(struct nft *n, uint32_t family, const char *table,
				 const char *name)
{
	for (size_t i = 0; i < n->n_chains; i++) {
		struct nchain *ch = &n->chains[i];

		if (ch->family == family && strcmp(ch->table, table) == 0 &&
		    strcmp(ch->name, name) == 0)
			return ch;
	}
	return NULL;
}

static struct nset *find_set(struct nft *n, uint32_t family, const char *table, const char *name)
{
	for (size_t i = 0; i < n->n_sets; i++) {
		struct nset *s = &n->sets[i];

		if (s->family == family && strcmp(s->table, table) == 0 &&
		    strcmp(s->name, name) == 0)
			return s;
	}
	return NULL;
}

/* Read chains, rules and sets. 0 ok; -1 with errno (EPERM: not privileged). */
static int nft_load(struct nft **out)
{
	struct nft *n = calloc(1, sizeof(*n));
	struct dump_acc ac = {0}, ar = {0}, as = {0};
	int saved;

	if (n == NULL)
		return -1;
	if (conn_open(&n->conn) < 0)
		goto fail;
	if (dump_retry(n, NFT_MSG_GETCHAIN, &ac, chain_free_cb) < 0 ||
	    dump_retry(n, NFT_MSG_GETRULE, &ar, rule_free_cb) < 0 ||
	    dump_retry(n, NFT_MSG_GETSET, &as, set_free_cb) < 0)
		goto fail;
	n->chains = calloc(ac.n ? ac.n : 1, sizeof(*n->chains));
	n->sets = calloc(as.n ? as.n : 1, sizeof(*n->sets));
	if (n->chains == NULL || n->sets == NULL)
		goto fail;
	for (size_t i = 0; i < ac.n; i++) {
		struct nchain *ch = &n->chains[n->n_chains++];

		ch->ch = ac.v[i];
		ch->family = nftnl_chain_get_u32(ch->ch, NFTNL_CHAIN_FAMILY);
		ch->table = nftnl_chain_get_str(ch->ch, NFTNL_CHAIN_TABLE);
		ch->name = nftnl_chain_get_str(ch->ch, NFTNL_CHAIN_NAME);
		ch->base = nftnl_chain_is_set(ch->ch, NFTNL_CHAIN_HOOKNUM);
		if (ch->base) {
			ch->hook = nftnl_chain_get_u32(ch->ch, NFTNL_CHAIN_HOOKNUM);
			ch->prio = nftnl_chain_get_s32(ch->ch, NFTNL_CHAIN_PRIO);
			ch->policy = nftnl_chain_is_set(ch->ch, NFTNL_CHAIN_POLICY)
					     ? nftnl_chain_get_u32(ch->ch, NFTNL_CHAIN_POLICY)
					     : NF_ACCEPT;
		}
	}
	ac.n = 0;
	for (size_t i = 0; i < as.n; i++) {
		struct nset *s = &n->sets[n->n_sets++];

		s->s = as.v[i];
		s->family = nftnl_set_get_u32(s->s, NFTNL_SET_FAMILY);
		s->table = nftnl_set_get_str(s->s, NFTNL_SET_TABLE);
		s->name = nftnl_set_get_str(s->s, NFTNL_SET_NAME);
		s->flags = nftnl_set_is_set(s->s, NFTNL_SET_FLAGS)
				   ? nftnl_set_get_u32(s->s, NFTNL_SET_FLAGS)
				   : 0;
		s->klen = nftnl_set_get_u32(s->s, NFTNL_SET_KEY_LEN);
		s->ktype = nftnl_set_get_u32(s->s, NFTNL_SET_KEY_TYPE);
	}
	as.n = 0;
	n->rules = (struct nftnl_rule **)ar.v;
	n->n_rules = ar.n;
	ar.v = NULL;
	ar.n = 0;
	for (size_t i = 0; i < n->n_rules; i++) {
		struct nftnl_rule *r = n->rules[i];
		struct nchain *ch = find_chain(n, nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY),
					       nftnl_rule_get_str(r, NFTNL_RULE_TABLE),
					       nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
		size_t *v;

		if (ch == NULL)
			continue;
		v = reallocarray(ch->rules, ch->n_rules + 1, sizeof(*v));
		if (v == NULL)
			goto fail;
		ch->rules = v;
		ch->rules[ch->n_rules++] = i;
	}
	acc_free(&ac, chain_free_cb);
	acc_free(&as, set_free_cb);
	*out = n;
	return 0;
fail:
	saved = errno;
	acc_free(&ac, chain_free_cb);
	acc_free(&ar, rule_free_cb);
	acc_free(&as, set_free_cb);
	nft_free(n);
	errno = saved;
	return -1;
}

static cda_u128 key_value(const uint8_t *k, uint32_t len)
{
	cda_u128 v = 0;

	for (uint32_t i = 0; i < len; i++)
		v = (v << 8) | k[i];
	return v;
}

struct ekey {
	cda_u128 k;
	bool end;
};

static int ekey_cmp(const void *a, const void *b)
{
	const struct ekey *x = a, *y = b;

	if (x->k != y->k)
		return x->k < y->k ? -1 : 1;
	return (int)y->end - (int)x->end; /* END before START on equal keys */
}

/* Fetch a set's elements once: 0 ok (elems set or broken marked), -1 ENOMEM. */
static int set_load(struct nlconn *n, struct nset *s)
{
	struct dump_acc a = {0};
	struct nftnl_set *tmp;
	struct nftnl_set_elems_iter *it = NULL;
	struct nftnl_set_elem *e;
	struct ekey *keys = NULL;
	size_t nk = 0, capk = 0;
	int fam = s->klen == 16 ? CDA_AF_INET6 : CDA_AF_INET;
	cda_u128 kmax;
	int rc = -1;

	if (s->loaded)
		return 0;
	s->loaded = true;
	if ((s->klen > 4 && s->klen != 16) || s->klen == 0) {
		s->broken = true; /* concatenations and odd keys are not modelled */
		return 0;
	}
	kmax = s->klen == 16 ? ~(cda_u128)0 : (((cda_u128)1 << (8 * s->klen)) - 1);
	tmp = nftnl_set_alloc();
	if (tmp == NULL)
		return -1;
	nftnl_set_set_str(tmp, NFTNL_SET_TABLE, s->table);
	nftnl_set_set_str(tmp, NFTNL_SET_NAME, s->name);
	nftnl_set_set_u32(tmp, NFTNL_SET_FAMILY, s->family);
	a.elems_into = tmp;
	if (nl_dump(n, NFT_MSG_GETSETELEM, (uint16_t)s->family, tmp, &a) < 0) {
		s->broken = true;
		rc = 0;
		goto out;
	}
	if ((s->elems = ranges_new()) == NULL || (it = nftnl_set_elems_iter_create(tmp)) == NULL)
		goto out;
	for (e = nftnl_set_elems_iter_next(it); e != NULL; e = nftnl_set_elems_iter_next(it)) {
		uint32_t len = 0, fl = 0;
		const uint8_t *k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);

		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS))
			fl = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS);
		if (k == NULL || len != s->klen)
			continue;
		if (nk == capk) {
			size_t cap = capk ? capk * 2 : 256;
			struct ekey *v = reallocarray(keys, cap, sizeof(*v));

			if (v == NULL)
				goto out;
			keys = v;
			capk = cap;
		}
		keys[nk].k = key_value(k, len);
		keys[nk++].end = (fl & NFT_SET_ELEM_INTERVAL_END) != 0;
	}
	if (nk > 0)
		qsort(keys, nk, sizeof(*keys), ekey_cmp);
	if (s->flags & NFT_SET_INTERVAL) {
		bool open = false;
		cda_u128 start = 0;

		for (size_t i = 0; i < nk; i++) {
			if (!keys[i].end) {
				if (open && add_iv(s->elems, fam, start, keys[i].k - 1) < 0)
					goto out;
				start = keys[i].k;
				open = true;
			} else if (open) {
				if (keys[i].k > start &&
				    add_iv(s->elems, fam, start, keys[i].k - 1) < 0)
					goto out;
				open = false;
			}
		}
		if (open && add_iv(s->elems, fam, start, kmax) < 0)
			goto out;
	} else {
		for (size_t i = 0; i < nk; i++)
			if (add_iv(s->elems, fam, keys[i].k, keys[i].k) < 0)
				goto out;
	}
	ranges_normalize(s->elems);
	rc = 0;
out:
	if (it != NULL)
		nftnl_set_elems_iter_destroy(it);
	nftnl_set_free(tmp);
	free(keys);
	return rc;
}

/* ---- symbolic evaluation ---- */

enum reg_kind { R_UNKNOWN = 0, R_KNOWN, R_SADDR, R_IIFNAME, R_IIF, R_FIB };

struct reg {
	enum reg_kind kind;
	uint32_t len;
	uint8_t v[16];  /* R_KNOWN bytes */
	uint32_t off;   /* R_SADDR: first address byte loaded */
	uint32_t mbits; /* R_SADDR: prefix bits kept by a mask; 0: none */
	bool dport;     /* R_KNOWN: the TCP destination port */
};

#define NREGS 20

enum ev_kind { EV_ACCEPT, EV_DROP, EV_POLICY };

struct event {
	enum ev_kind kind;
	bool maybe, ours;
	char where[300]; /* "table inet filter chain input handle 7" */
	char desc[300];  /* what the rule says, as far as understood */
	struct ranges *s;
};

struct eval {
	struct ctx *c;
	struct nft *n;
	int fam;
	uint16_t port;
	bool uncertain; /* a maybe-accept happened earlier in this base chain */
	struct ranges *dropped;
	struct event *ev;
	size_t n_ev;
	bool oom;
};

/* What one rule does to the packets reaching it. */
struct match {
	struct ranges *s; /* source addresses that match */
	bool maybe, ours, none;
	int verdict; /* NF_ACCEPT, NF_DROP, NFT_JUMP, NFT_GOTO, NFT_RETURN, 1000 = none */
	bool reject; /* the drop is a reject (already in desc) */
	const char *target;
	char desc[300];
};

#define V_NONE 1000

static void dcat(struct match *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void dcat(struct match *m, const char *fmt, ...)
{
	size_t off = strlen(m->desc);
	va_list ap;

	if (off + 1 >= sizeof(m->desc))
		return;
	if (off > 0)
		m->desc[off++] = ' ';
	va_start(ap, fmt);
	vsnprintf(m->desc + off, sizeof(m->desc) - off, fmt, ap);
	va_end(ap);
}

static bool is_own(struct ctx *c, uint32_t family, const char *table, const char *set)
{
	for (size_t i = 0; i < c->n_own; i++)
		if (c->own[i].nfproto == family && strcmp(c->own[i].table, table) == 0 &&
		    strcmp(c->own[i].name, set) == 0)
			return true;
	return false;
}

static int reg_index(uint32_t r)
{
	if (r >= NFT_REG_1 && r <= NFT_REG_4)
		return (int)(r - NFT_REG_1) * 4;
	if (r >= NFT_REG32_00 && r <= NFT_REG32_15)
		return (int)(r - NFT_REG32_00);
	return -1;
}

static struct reg *get_reg(struct reg *regs, struct nftnl_expr *e, uint16_t attr)
{
	int i;

	if (!nftnl_expr_is_set(e, attr))
		return NULL;
	i = reg_index(nftnl_expr_get_u32(e, attr));
	return i < 0 ? NULL : &regs[i];
}

static void set_reg(struct reg *regs, struct nftnl_expr *e, uint16_t attr, const struct reg *v)
{
	struct reg *r = get_reg(regs, e, attr);

	if (r != NULL)
		*r = *v;
}

static uint32_t alen(int fam)
{
	return fam == CDA_AF_INET ? 4 : 16;
}

/* Interval of addresses whose loaded prefix (len bytes, mask bits) equals data. */
static void prefix_iv(int fam, const struct reg *r, const uint8_t *data, cda_u128 *lo, cda_u128 *hi)
{
	uint32_t bits = alen(fam) * 8, pbits = r->mbits ? r->mbits : r->len * 8;
	cda_u128 v = key_value(data, r->len) << (bits - r->len * 8);
	cda_u128 hostmask = pbits >= bits ? 0 : (((cda_u128)1 << (bits - pbits)) - 1);

	*lo = v & ~hostmask & fam_max(fam);
	*hi = (*lo | hostmask) & fam_max(fam);
}

/* Narrow m->s to (in ? s AND cond : s MINUS cond). */
static int narrow(struct match *m, const struct ranges *cond, bool in)
{
	struct ranges *o = NULL;
	int rc = in ? ranges_intersect(m->s, cond, &o) : ranges_subtract(m->s, cond, &o);

	if (rc < 0)
		return -1;
	ranges_free(m->s);
	m->s = o;
	if (count_fam(m->s, CDA_AF_INET) + count_fam(m->s, CDA_AF_INET6) == 0)
		m->none = true;
	return 0;
}

static int narrow_iv(struct match *m, int fam, cda_u128 lo, cda_u128 hi, bool in)
{
	struct ranges *cond = ranges_new();
	int rc;

	if (cond == NULL || (lo <= hi && add_iv(cond, fam, lo, hi) < 0)) {
		ranges_free(cond);
		return -1;
	}
	ranges_normalize(cond);
	rc = narrow(m, cond, in);
	ranges_free(cond);
	return rc;
}

static void iv_text(int fam, cda_u128 lo, cda_u128 hi, char *buf)
{
	struct cidr c = {.addr = lo, .family = (uint8_t)fam, .plen = (uint8_t)(alen(fam) * 8)};
	cda_u128 span = hi - lo;

	while (c.plen > 0 && (span & 1)) {
		span >>= 1;
		c.plen--;
	}
	cidr_format(&c, buf);
}

static const char *saddr_word(int fam)
{
	return fam == CDA_AF_INET ? "ip saddr" : "ip6 saddr";
}

static bool known_cmp(int op, const uint8_t *a, const uint8_t *b, uint32_t len)
{
	int d = memcmp(a, b, len);

	switch (op) {
	case NFT_CMP_EQ:
		return d == 0;
	case NFT_CMP_NEQ:
		return d != 0;
	case NFT_CMP_LT:
		return d < 0;
	case NFT_CMP_LTE:
		return d <= 0;
	case NFT_CMP_GT:
		return d > 0;
	case NFT_CMP_GTE:
		return d >= 0;
	}
	return true;
}

static int do_cmp(struct eval *ev, struct match *m, struct reg *regs, struct nftnl_expr *e)
{
	struct reg *r = get_reg(regs, e, NFTNL_EXPR_CMP_SREG);
	uint32_t len = 0;
	const uint8_t *d = nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len);
	int op = (int)nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP);
	static const uint8_t zero[16];
	cda_u128 lo, hi, mx = fam_max(ev->fam);
	char t[CIDR_STRLEN];

	if (r == NULL || d == NULL || len == 0 || len > 16) {
		m->maybe = true;
		return 0;
	}
	switch (r->kind) {
	case R_KNOWN:
		if (r->dport && len == 2)
			dcat(m, "tcp dport %s%u",
			     op == NFT_CMP_EQ    ? ""
			     : op == NFT_CMP_NEQ ? "!= "
						 : "~",
			     (unsigned int)(d[0] << 8 | d[1]));
		if (len > r->len || !known_cmp(op, r->v, d, len))
			m->none = true;
		return 0;
	case R_IIF:
		if (len == 4 && (op == NFT_CMP_EQ || op == NFT_CMP_NEQ)) {
			uint32_t idx;

			memcpy(&idx, d, 4);
			if (idx == 1) { /* the loopback device */
				m->none = op == NFT_CMP_EQ;
				return 0;
			}
		}
		m->maybe = true;
		dcat(m, "iif ...");
		return 0;
	case R_IIFNAME:
		if ((op == NFT_CMP_EQ || op == NFT_CMP_NEQ) && len >= 3 &&
		    memcmp(d, "lo\0", 3) == 0) {
			m->none = op == NFT_CMP_EQ;
			return 0;
		}
		m->maybe = true;
		dcat(m, "iifname %s\"%.*s\"", op == NFT_CMP_NEQ ? "!= " : "",
		     (int)strnlen((const char *)d, len), (const char *)d);
		return 0;
	case R_FIB:
		if (memcmp(d, zero, len) == 0 && (op == NFT_CMP_EQ || op == NFT_CMP_NEQ)) {
			/* "fib ... missing": a CDN address is routable */
			m->none = op == NFT_CMP_EQ;
			return 0;
		}
		m->maybe = true;
		return 0;
	case R_SADDR:
		if (r->off != 0 || len != r->len) {
			m->maybe = true;
			dcat(m, "%s ...", saddr_word(ev->fam));
			return 0;
		}
		prefix_iv(ev->fam, r, d, &lo, &hi);
		iv_text(ev->fam, lo, hi, t);
		switch (op) {
		case NFT_CMP_EQ:
			dcat(m, "%s %s", saddr_word(ev->fam), t);
			return narrow_iv(m, ev->fam, lo, hi, true);
		case NFT_CMP_NEQ:
			dcat(m, "%s != %s", saddr_word(ev->fam), t);
			return narrow_iv(m, ev->fam, lo, hi, false);
		case NFT_CMP_LT:
			dcat(m, "%s < %s", saddr_word(ev->fam), t);
			return lo == 0 ? (m->none = true, 0)
				       : narrow_iv(m, ev->fam, 0, lo - 1, true);
		case NFT_CMP_LTE:
			dcat(m, "%s <= %s", saddr_word(ev->fam), t);
			return narrow_iv(m, ev->fam, 0, hi, true);
		case NFT_CMP_GT:
			dcat(m, "%s > %s", saddr_word(ev->fam), t);
			return hi == mx ? (m->none = true, 0)
					: narrow_iv(m, ev->fam, hi + 1, mx, true);
		case NFT_CMP_GTE:
			dcat(m, "%s >= %s", saddr_word(ev->fam), t);
			return narrow_iv(m, ev->fam, lo, mx, true);
		}
		m->maybe = true;
		return 0;
	default:
		m->maybe = true;
		return 0;
	}
}

static int do_range(struct eval *ev, struct match *m, struct reg *regs, struct nftnl_expr *e)
{
	struct reg *r = get_reg(regs, e, NFTNL_EXPR_RANGE_SREG);
	uint32_t lf = 0, lt = 0;
	const uint8_t *from = nftnl_expr_get(e, NFTNL_EXPR_RANGE_FROM_DATA, &lf);
	const uint8_t *to = nftnl_expr_get(e, NFTNL_EXPR_RANGE_TO_DATA, &lt);
	bool neq = nftnl_expr_get_u32(e, NFTNL_EXPR_RANGE_OP) == NFT_RANGE_NEQ;

	if (r == NULL || from == NULL || to == NULL || lf != lt || lf == 0 || lf > 16) {
		m->maybe = true;
		return 0;
	}
	if (r->kind == R_KNOWN && lf <= r->len) {
		bool in = memcmp(r->v, from, lf) >= 0 && memcmp(r->v, to, lf) <= 0;

		if (in == neq)
			m->none = true;
		return 0;
	}
	if (r->kind == R_SADDR && r->off == 0 && r->len == alen(ev->fam) && lf == r->len &&
	    r->mbits == 0) {
		char a[CIDR_STRLEN], b[CIDR_STRLEN];
		struct cidr ca = {.addr = key_value(from, lf),
				  .family = (uint8_t)ev->fam,
				  .plen = (uint8_t)(lf * 8)};
		struct cidr cb = ca;

		cb.addr = key_value(to, lf);
		dcat(m, "%s %s%s-%s", saddr_word(ev->fam), neq ? "!= " : "", cidr_format(&ca, a),
		     cidr_format(&cb, b));
		return narrow_iv(m, ev->fam, ca.addr, cb.addr, !neq);
	}
	m->maybe = true;
	return 0;
}

static int do_lookup(struct eval *ev, struct match *m, struct reg *regs, struct nftnl_expr *e,
		     uint32_t family, const char *table)
{
	struct reg *r = get_reg(regs, e, NFTNL_EXPR_LOOKUP_SREG);
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);
	bool inv = nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_FLAGS) &&
		   (nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS) & NFT_LOOKUP_F_INV);
	struct nset *s = name != NULL ? find_set(ev->n, family, table, name) : NULL;
	bool anon = s != NULL && (s->flags & NFT_SET_ANONYMOUS);
	const char *shown = anon ? "{...}" : name;

	if (nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_DREG)) {
		m->maybe = true; /* a map: its verdicts are not evaluated */
		dcat(m, "map @%s", name != NULL ? name : "?");
		return 0;
	}
	if (r == NULL || s == NULL || set_load(&ev->n->conn, s) < 0) {
		if (s != NULL && s->elems == NULL && !s->broken)
			return -1;
		m->maybe = true;
		return 0;
	}
	if (s->broken) {
		m->maybe = true;
		dcat(m, "... @%s", shown);
		return 0;
	}
	if (r->kind == R_KNOWN && r->len >= s->klen) {
		bool in = ranges_contains(s->elems, s->klen == 16 ? CDA_AF_INET6 : CDA_AF_INET,
					  key_value(r->v, s->klen));

		if (s->klen == 2)
			dcat(m, "tcp dport %s%s%s", inv ? "!= " : "", anon ? "" : "@", shown);
		if (in == inv)
			m->none = true;
		return 0;
	}
	if (r->kind == R_SADDR && r->off == 0 && r->len == alen(ev->fam) && r->mbits == 0 &&
	    s->klen == r->len) {
		struct ranges *cond = only_fam(s->elems, ev->fam);
		int rc;

		if (cond == NULL)
			return -1;
		dcat(m, "%s %s@%s", saddr_word(ev->fam), inv ? "!= " : "", shown);
		if (is_own(ev->c, family, table, name))
			m->ours = true;
		rc = narrow(m, cond, !inv);
		ranges_free(cond);
		return rc;
	}
	m->maybe = true;
	dcat(m, "... @%s", shown);
	return 0;
}

static void do_payload(struct eval *ev, struct reg *regs, struct nftnl_expr *e)
{
	struct reg v = {0};
	uint32_t base, off, len;

	if (!nftnl_expr_is_set(e, NFTNL_EXPR_PAYLOAD_DREG))
		return; /* a payload write */
	base = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE);
	off = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET);
	len = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN);
	v.len = len;
	if (base == NFT_PAYLOAD_NETWORK_HEADER) {
		uint32_t so = ev->fam == CDA_AF_INET ? 12 : 8, po = ev->fam == CDA_AF_INET ? 9 : 6;

		if (off >= so && off + len <= so + alen(ev->fam) && len > 0) {
			v.kind = R_SADDR;
			v.off = off - so;
		} else if (off == po && len == 1) {
			v.kind = R_KNOWN;
			v.v[0] = 6; /* TCP */
		}
	} else if (base == NFT_PAYLOAD_TRANSPORT_HEADER && off == 2 && len == 2) {
		v.kind = R_KNOWN;
		v.dport = true;
		v.v[0] = (uint8_t)(ev->port >> 8);
		v.v[1] = (uint8_t)ev->port;
	}
	set_reg(regs, e, NFTNL_EXPR_PAYLOAD_DREG, &v);
}

static void do_meta(struct eval *ev, struct reg *regs, struct nftnl_expr *e)
{
	struct reg v = {0};

	if (!nftnl_expr_is_set(e, NFTNL_EXPR_META_DREG))
		return; /* meta set */
	switch (nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY)) {
	case NFT_META_NFPROTO:
		v.kind = R_KNOWN;
		v.len = 1;
		v.v[0] = ev->fam == CDA_AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
		break;
	case NFT_META_L4PROTO:
		v.kind = R_KNOWN;
		v.len = 1;
		v.v[0] = 6;
		break;
	case NFT_META_PROTOCOL:
		v.kind = R_KNOWN;
		v.len = 2;
		v.v[0] = ev->fam == CDA_AF_INET ? 0x08 : 0x86;
		v.v[1] = ev->fam == CDA_AF_INET ? 0x00 : 0xdd;
		break;
	case NFT_META_IIFNAME:
		v.kind = R_IIFNAME;
		break;
	case NFT_META_IIF:
		v.kind = R_IIF;
		break;
	default:
		break;
	}
	set_reg(regs, e, NFTNL_EXPR_META_DREG, &v);
}

static void do_ct(struct reg *regs, struct nftnl_expr *e)
{
	struct reg v = {0};
	uint32_t st = 1u << 3; /* IP_CT_NEW's bit: the first packet of the connection */

	if (!nftnl_expr_is_set(e, NFTNL_EXPR_CT_DREG))
		return;
	switch (nftnl_expr_get_u32(e, NFTNL_EXPR_CT_KEY)) {
	case NFT_CT_STATE:
		v.kind = R_KNOWN;
		v.len = 4;
		memcpy(v.v, &st, 4);
		break;
	case NFT_CT_DIRECTION:
		v.kind = R_KNOWN;
		v.len = 1; /* original */
		break;
	default:
		break;
	}
	set_reg(regs, e, NFTNL_EXPR_CT_DREG, &v);
}

static void do_bitwise(struct reg *regs, struct nftnl_expr *e)
{
	struct reg *src = get_reg(regs, e, NFTNL_EXPR_BITWISE_SREG), v = {0};
	uint32_t lm = 0, lx = 0, len = nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_LEN);
	const uint8_t *mask = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_MASK, &lm);
	const uint8_t *xr = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_XOR, &lx);
	bool boolop = !nftnl_expr_is_set(e, NFTNL_EXPR_BITWISE_OP) ||
		      nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_OP) == NFT_BITWISE_BOOL;

	if (src != NULL && boolop && mask != NULL && xr != NULL && lm == len && lx == len &&
	    len <= 16) {
		if (src->kind == R_KNOWN && src->len >= len) {
			v.kind = R_KNOWN;
			v.len = len;
			for (uint32_t i = 0; i < len; i++)
				v.v[i] = (uint8_t)((src->v[i] & mask[i]) ^ xr[i]);
		} else if (src->kind == R_SADDR && src->len == len) {
			uint32_t bits = 0;
			bool prefix = true, zero = true;

			for (uint32_t i = 0; i < len * 8; i++) {
				bool b = mask[i / 8] & (0x80 >> (i % 8));

				if (b && bits != i)
					prefix = false;
				bits += b;
			}
			for (uint32_t i = 0; i < len; i++)
				zero &= xr[i] == 0;
			if (prefix && zero && src->mbits == 0) {
				v = *src;
				v.mbits = bits ? bits : 1;
				if (bits == 0)
					v.kind = R_UNKNOWN;
			}
		}
	}
	set_reg(regs, e, NFTNL_EXPR_BITWISE_DREG, &v);
}

struct walk {
	struct eval *ev;
	struct match *m;
	struct reg regs[NREGS];
	uint32_t family;
	const char *table;
	int rc;
};

static int expr_cb(struct nftnl_expr *e, void *data)
{
	struct walk *w = data;
	struct match *m = w->m;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
	int rc = 0;

	if (m->none || name == NULL)
		return m->none ? -1 : 0; /* stop: this rule cannot match */
	if (strcmp(name, "payload") == 0) {
		do_payload(w->ev, w->regs, e);
	} else if (strcmp(name, "meta") == 0) {
		do_meta(w->ev, w->regs, e);
	} else if (strcmp(name, "ct") == 0) {
		do_ct(w->regs, e);
	} else if (strcmp(name, "bitwise") == 0) {
		do_bitwise(w->regs, e);
	} else if (strcmp(name, "cmp") == 0) {
		rc = do_cmp(w->ev, m, w->regs, e);
	} else if (strcmp(name, "range") == 0) {
		rc = do_range(w->ev, m, w->regs, e);
	} else if (strcmp(name, "lookup") == 0) {
		rc = do_lookup(w->ev, m, w->regs, e, w->family, w->table);
	} else if (strcmp(name, "fib") == 0) {
		struct reg v = {.kind = R_FIB};

		set_reg(w->regs, e, NFTNL_EXPR_FIB_DREG, &v);
	} else if (strcmp(name, "immediate") == 0) {
		if (nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG) == NFT_REG_VERDICT) {
			m->verdict = (int)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT);
			if (nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN))
				m->target = nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN);
		} else {
			struct reg v = {.kind = R_KNOWN};
			uint32_t len = 0;
			const void *d = nftnl_expr_get(e, NFTNL_EXPR_IMM_DATA, &len);

			if (d != NULL && len <= 16) {
				v.len = len;
				memcpy(v.v, d, len);
			} else {
				v.kind = R_UNKNOWN;
			}
			set_reg(w->regs, e, NFTNL_EXPR_IMM_DREG, &v);
		}
	} else if (strcmp(name, "reject") == 0) {
		m->verdict = NF_DROP;
		m->reject = true;
		dcat(m, "reject");
	} else if (strcmp(name, "target") == 0) {
		const char *t = nftnl_expr_get_str(e, NFTNL_EXPR_TG_NAME);

		if (t != NULL && strcmp(t, "REJECT") == 0) {
			m->verdict = NF_DROP;
			m->reject = true;
			dcat(m, "-j REJECT");
		}
	} else if (strcmp(name, "match") == 0) {
		m->maybe = true;
		dcat(m, "-m %s", nftnl_expr_get_str(e, NFTNL_EXPR_MT_NAME));
	} else if (strcmp(name, "counter") == 0 || strcmp(name, "log") == 0 ||
		   strcmp(name, "last") == 0 || strcmp(name, "dynset") == 0 ||
		   strcmp(name, "notrack") == 0 || strcmp(name, "objref") == 0) {
		/* statements that never decide whether a rule matches */
	} else {
		/* limit, quota, connlimit, exthdr, socket, ...: not modelled */
		m->maybe = true;
		for (int i = 0; i < NREGS; i++)
			w->regs[i].kind = R_UNKNOWN;
		dcat(m, "%s ...", name);
	}
	if (rc < 0) {
		w->rc = -1;
		return -1;
	}
	return m->none ? -1 : 0;
}

static int rule_comment_cb(const struct nftnl_udata *attr, void *data)
{
	if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT)
		*(const char **)data = nftnl_udata_get(attr);
	return 0;
}

static void rule_where(struct nftnl_rule *r, char *buf, size_t size)
{
	static const char *const fams[] = {
		[NFPROTO_INET] = "inet",     [NFPROTO_IPV4] = "ip",       [NFPROTO_IPV6] = "ip6",
		[NFPROTO_BRIDGE] = "bridge", [NFPROTO_NETDEV] = "netdev", [NFPROTO_ARP] = "arp"};
	uint32_t f = nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY);
	const char *comment = NULL;
	uint32_t ulen = 0;
	const void *ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &ulen);

	if (ud != NULL)
		nftnl_udata_parse(ud, ulen, rule_comment_cb, &comment);
	snprintf(buf, size, "table %s %s chain %s handle %llu%s%.60s%s",
		 f < sizeof(fams) / sizeof(fams[0]) && fams[f] ? fams[f] : "?",
		 nftnl_rule_get_str(r, NFTNL_RULE_TABLE), nftnl_rule_get_str(r, NFTNL_RULE_CHAIN),
		 (unsigned long long)nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE),
		 comment ? " (comment \"" : "", comment ? comment : "", comment ? "\")" : "");
}

static const char *fam_word(uint32_t f)
{
	return f == NFPROTO_INET   ? "inet"
	       : f == NFPROTO_IPV4 ? "ip"
	       : f == NFPROTO_IPV6 ? "ip6"
				   : "?";
}

static int push_event(struct eval *ev, enum ev_kind k, bool maybe, bool ours, const char *where,
		      const char *desc, const struct ranges *s)
{
	struct event *v = reallocarray(ev->ev, ev->n_ev + 1, sizeof(*v));
	struct event *e;

	if (v == NULL)
		return -1;
	ev->ev = v;
	e = &v[ev->n_ev];
	memset(e, 0, sizeof(*e));
	e->kind = k;
	e->maybe = maybe;
	e->ours = ours;
	snprintf(e->where, sizeof(e->where), "%s", where);
	snprintf(e->desc, sizeof(e->desc), "%s", desc);
	if ((e->s = ranges_dup(s)) == NULL)
		return -1;
	ev->n_ev++;
	return 0;
}

static int union_into(struct ranges **dst, const struct ranges *add)
{
	if (ranges_add_all(*dst, add) < 0)
		return -1;
	ranges_normalize(*dst);
	return 0;
}

static int minus_into(struct ranges **dst, const struct ranges *sub)
{
	struct ranges *o = NULL;

	if (ranges_subtract(*dst, sub, &o) < 0)
		return -1;
	ranges_free(*dst);
	*dst = o;
	return 0;
}

/* Evaluate chain ch for the packets in in; *ft gets those that fall off its end or return. */
static int eval_chain(struct eval *ev, struct nchain *ch, const struct ranges *in,
		      struct ranges **ft, int depth)
{
	struct ranges *cur = ranges_dup(in), *out = ranges_new();
	int rc = -1;

	if (cur == NULL || out == NULL)
		goto done;
	for (size_t i = 0; i < ch->n_rules && !empty(cur); i++) {
		struct nftnl_rule *r = ev->n->rules[ch->rules[i]];
		struct match m = {.verdict = V_NONE};
		struct walk w = {.ev = ev, .m = &m, .family = ch->family, .table = ch->table};
		char where[300];
		bool maybe;

		if ((m.s = ranges_dup(cur)) == NULL)
			goto done;
		nftnl_expr_foreach(r, expr_cb, &w);
		if (w.rc < 0) {
			ranges_free(m.s);
			goto done;
		}
		if (m.none || m.verdict == V_NONE || m.verdict == NFT_CONTINUE ||
		    m.verdict == NFT_BREAK || empty(m.s)) {
			ranges_free(m.s);
			continue;
		}
		maybe = m.maybe;
		rule_where(r, where, sizeof(where));
		switch (m.verdict) {
		case NF_ACCEPT:
			dcat(&m, "accept");
			if (push_event(ev, EV_ACCEPT, maybe, m.ours, where, m.desc, m.s) < 0)
				goto fail_m;
			if (maybe)
				ev->uncertain = true;
			else if (minus_into(&cur, m.s) < 0)
				goto fail_m;
			break;
		case NF_DROP:
			if (!m.reject)
				dcat(&m, "drop");
			maybe |= ev->uncertain;
			if (push_event(ev, EV_DROP, maybe, false, where, m.desc, m.s) < 0)
				goto fail_m;
			if (!maybe &&
			    (minus_into(&cur, m.s) < 0 || union_into(&ev->dropped, m.s) < 0))
				goto fail_m;
			break;
		case NFT_JUMP:
		case NFT_GOTO: {
			struct nchain *to =
				m.target ? find_chain(ev->n, ch->family, ch->table, m.target)
					 : NULL;
			struct ranges *back = NULL;

			if (to == NULL || depth >= MAX_DEPTH)
				break;
			if (eval_chain(ev, to, m.s, &back, depth + 1) < 0)
				goto fail_m;
			if (maybe) {
				ev->uncertain = true;
			} else if (minus_into(&cur, m.s) < 0 ||
				   (m.verdict == NFT_JUMP ? union_into(&cur, back)
							  : union_into(&out, back)) < 0) {
				ranges_free(back);
				goto fail_m;
			}
			ranges_free(back);
			break;
		}
		case NFT_RETURN:
			if (!maybe && (minus_into(&cur, m.s) < 0 || union_into(&out, m.s) < 0))
				goto fail_m;
			break;
		default:
			break;
		}
		ranges_free(m.s);
		continue;
	fail_m:
		ranges_free(m.s);
		goto done;
	}
	if (union_into(&out, cur) < 0)
		goto done;
	*ft = out;
	out = NULL;
	rc = 0;
done:
	ranges_free(cur);
	ranges_free(out);
	return rc;
}

static int base_cmp(const void *a, const void *b)
{
	const struct nchain *x = *(const struct nchain *const *)a;
	const struct nchain *y = *(const struct nchain *const *)b;

	if (x->hook != y->hook)
		return x->hook < y->hook ? -1 : 1;
	if (x->prio != y->prio)
		return x->prio < y->prio ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* Base chains a packet of fam meets on its way in (prerouting then input), in order. */
static struct nchain **base_chains(struct nft *n, int fam, size_t *count)
{
	struct nchain **v = calloc(n->n_chains ? n->n_chains : 1, sizeof(struct nchain *));
	uint32_t own = fam == CDA_AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;

	*count = 0;
	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < n->n_chains; i++) {
		struct nchain *ch = &n->chains[i];

		if (!ch->base || (ch->family != own && ch->family != NFPROTO_INET) ||
		    (ch->hook != NF_INET_PRE_ROUTING && ch->hook != NF_INET_LOCAL_IN))
			continue;
		v[(*count)++] = ch;
	}
	if (*count > 1)
		qsort(v, *count, sizeof(struct nchain *), base_cmp);
	return v;
}

/* Run the packets from `from` (family fam) to port through every base chain in order.
 * Fills ev->ev (events) and returns the addresses that get through in *alive. */
static int eval_path(struct eval *ev, const struct ranges *from, struct ranges **alive)
{
	size_t nb = 0;
	struct nchain **bases = base_chains(ev->n, ev->fam, &nb);
	struct ranges *a = ranges_dup(from);
	int rc = -1;

	if (bases == NULL || a == NULL || (ev->dropped = ranges_new()) == NULL)
		goto out;
	for (size_t i = 0; i < nb && !empty(a); i++) {
		struct ranges *ft = NULL;
		char where[300];

		ev->uncertain = false;
		ranges_clear(ev->dropped);
		if (eval_chain(ev, bases[i], a, &ft, 0) < 0)
			goto out;
		if (bases[i]->policy == NF_DROP && !empty(ft)) {
			snprintf(where, sizeof(where), "table %s %s chain %s (policy drop)",
				 fam_word(bases[i]->family), bases[i]->table, bases[i]->name);
			if (push_event(ev, EV_POLICY, ev->uncertain, false, where, "policy drop",
				       ft) < 0 ||
			    (!ev->uncertain && union_into(&ev->dropped, ft) < 0)) {
				ranges_free(ft);
				goto out;
			}
		}
		ranges_free(ft);
		if (minus_into(&a, ev->dropped) < 0)
			goto out;
	}
	*alive = a;
	a = NULL;
	rc = 0;
out:
	free(bases);
	ranges_free(a);
	return rc;
}

static void eval_finish(struct eval *ev)
{
	for (size_t i = 0; i < ev->n_ev; i++)
		ranges_free(ev->ev[i].s);
	free(ev->ev);
	ranges_free(ev->dropped);
	ev->ev = NULL;
	ev->n_ev = 0;
	ev->dropped = NULL;
}

/* Chains reachable from the prerouting/input base chains. */
static void mark_reachable(struct nft *n, struct nchain *ch, int depth);

static int jump_cb(struct nftnl_expr *e, void *data)
{
	void **d = data;
	struct nft *n = d[0];
	struct nchain *from = d[1];
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (name != NULL && strcmp(name, "immediate") == 0 &&
	    nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN)) {
		struct nchain *to = find_chain(n, from->family, from->table,
					       nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN));

		if (to != NULL)
			mark_reachable(n, to, *(int *)d[2] + 1);
	}
	return 0;
}

static void mark_reachable(struct nft *n, struct nchain *ch, int depth)
{
	if (ch->reachable || depth > MAX_DEPTH)
		return;
	ch->reachable = true;
	for (size_t i = 0; i < ch->n_rules; i++) {
		void *d[3] = {n, ch, &depth};

		nftnl_expr_foreach(n->rules[ch->rules[i]], jump_cb, d);
	}
}

struct ref_scan {
	const char *set;
	bool found;
	bool has_verdict_drop;
};

static int ref_cb(struct nftnl_expr *e, void *data)
{
	struct ref_scan *s = data;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (name == NULL)
		return 0;
	if (strcmp(name, "lookup") == 0) {
		const char *set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);

		if (set != NULL && strcmp(set, s->set) == 0)
			s->found = true;
	}
	if ((strcmp(name, "immediate") == 0 &&
	     nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG) == NFT_REG_VERDICT &&
	     nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT) == NF_DROP) ||
	    strcmp(name, "reject") == 0)
		s->has_verdict_drop = true;
	return 0;
}

/* Whether a rule in a reachable chain of table (family, table) looks set up; whether such a
 * rule also drops. */
static void set_refs(struct nft *n, uint32_t family, const char *table, const char *set, bool *used,
		     bool *in_drop)
{
	*used = *in_drop = false;
	for (size_t i = 0; i < n->n_chains; i++) {
		struct nchain *ch = &n->chains[i];

		if (!ch->reachable || ch->family != family || strcmp(ch->table, table) != 0)
			continue;
		for (size_t k = 0; k < ch->n_rules; k++) {
			struct ref_scan s = {.set = set};

			nftnl_expr_foreach(n->rules[ch->rules[k]], ref_cb, &s);
			if (s.found) {
				*used = true;
				*in_drop |= s.has_verdict_drop;
			}
		}
	}
}

/* ---- check 1: our sets ---- */

static int check_own_sets(struct ctx *c, struct nft *n, const struct target_config *tc,
			  const struct ranges *want, bool want_known)
{
	for (size_t i = 0; i < c->n_own; i++) {
		struct own_set *o = &c->own[i];
		struct nset *s;
		char subj[600], fix[700], sm[400];
		struct ranges *wf = NULL, *have = NULL, *miss = NULL, *extra = NULL;
		uint32_t ktype = o->fam == CDA_AF_INET ? 7 : 8;
		bool create = true;
		const char *cv = target_get(tc, "create");

		if (strcmp(o->target, tc->name) != 0)
			continue;
		if (cv != NULL)
			config_parse_bool(cv, &create);
		snprintf(subj, sizeof(subj), "%s %s %s", fam_word(o->nfproto), o->table, o->name);
		s = find_set(n, o->nfproto, o->table, o->name);
		if (s == NULL) {
			if (create)
				snprintf(fix, sizeof(fix),
					 "run `cdnallow sync --target %s` (or `cdnallow restore` "
					 "offline); at boot, restore before the web server starts",
					 tc->name);
			else
				snprintf(fix, sizeof(fix),
					 "define the set in table %s %s (type %s; flags interval;) "
					 "and run `cdnallow sync --target %s`",
					 fam_word(o->nfproto), o->table,
					 o->fam == CDA_AF_INET ? "ipv4_addr" : "ipv6_addr",
					 tc->name);
			add(c, DOCTOR_ERROR, "sets", subj, fix,
			    "set does not exist (target %s): nothing allows the CDN's %s ranges",
			    tc->name, fam_name(o->fam));
			continue;
		}
		if (s->ktype != ktype || !(s->flags & NFT_SET_INTERVAL)) {
			add(c, DOCTOR_ERROR, "sets", subj,
			    "recreate it as `type ipv4_addr; flags interval;` (or ipv6_addr)",
			    "set has the wrong type or lacks `flags interval` (key type %u)",
			    s->ktype);
			continue;
		}
		if (set_load(&n->conn, s) < 0)
			return -1;
		if (s->broken || s->elems == NULL) {
			add(c, DOCTOR_WARNING, "sets", subj, NULL,
			    "could not read the set's elements");
			continue;
		}
		have = only_fam(s->elems, o->fam);
		if (have == NULL)
			return -1;
		if (empty(have)) {
			add(c, DOCTOR_ERROR, "sets", subj,
			    "run `cdnallow sync` (or `cdnallow restore` offline)",
			    "set is empty: every rule using it refuses the CDN");
			ranges_free(have);
			continue;
		}
		if (!want_known) {
			add(c, DOCTOR_INFO, "sets", subj, NULL,
			    "set holds %zu %s ranges; no last known good list to compare with",
			    count_fam(have, o->fam), fam_name(o->fam));
			ranges_free(have);
			continue;
		}
		if ((wf = only_fam(want, o->fam)) == NULL || ranges_subtract(wf, have, &miss) < 0 ||
		    ranges_subtract(have, wf, &extra) < 0) {
			ranges_free(wf);
			ranges_free(have);
			ranges_free(miss);
			return -1;
		}
		if (!empty(miss)) {
			samples(miss, sm, sizeof(sm));
			snprintf(fix, sizeof(fix), "run `cdnallow sync --target %s`", tc->name);
			add(c, DOCTOR_ERROR, "sets", subj, fix,
			    "set lacks %zu %s ranges of the last known good lists: %s",
			    ranges_cidr_count(miss, o->fam), fam_name(o->fam), sm);
		}
		if (!empty(extra)) {
			samples(extra, sm, sizeof(sm));
			add(c, c->cfg->keep_withdrawn > 0 ? DOCTOR_INFO : DOCTOR_WARNING, "sets",
			    subj,
			    "run `cdnallow sync` (addresses no longer published may belong to "
			    "someone else now)",
			    "set holds %zu %s ranges that are not in the current lists: %s",
			    ranges_cidr_count(extra, o->fam), fam_name(o->fam), sm);
		}
		if (empty(miss) && empty(extra))
			add(c, DOCTOR_OK, "sets", subj, NULL,
			    "set holds the current list (%zu %s prefixes)",
			    ranges_cidr_count(have, o->fam), fam_name(o->fam));
		ranges_free(wf);
		ranges_free(have);
		ranges_free(miss);
		ranges_free(extra);
	}
	return 0;
}

/* ---- check 2: rules ---- */

static void event_text(const struct event *e, char *buf, size_t size)
{
	if (e->desc[0] != '\0')
		snprintf(buf, size, "%s: \"%s\"", e->where, e->desc);
	else
		snprintf(buf, size, "%s", e->where);
}

static int check_rules(struct ctx *c, struct nft *n)
{
	static const int fams[] = {CDA_AF_INET, CDA_AF_INET6};

	for (size_t pi = 0; pi < c->n_ports; pi++) {
		for (int fi = 0; fi < 2; fi++) {
			struct eval ev = {.c = c, .n = n, .fam = fams[fi], .port = c->ports[pi]};
			struct ranges *from = only_fam(c->cdn, fams[fi]), *alive = NULL;
			char subj[64], txt[700], sm[400];
			size_t nproblems = 0;
			bool ours = false;

			if (from == NULL)
				return -1;
			snprintf(subj, sizeof(subj), "port %u %s", c->ports[pi],
				 fam_name(fams[fi]));
			if (empty(from)) {
				ranges_free(from);
				continue;
			}
			if (eval_path(&ev, from, &alive) < 0) {
				ranges_free(from);
				eval_finish(&ev);
				return -1;
			}
			for (size_t i = 0; i < ev.n_ev; i++) {
				struct event *e = &ev.ev[i];

				if (e->kind == EV_ACCEPT) {
					ours |= e->ours;
					continue;
				}
				nproblems++;
				samples(e->s, sm, sizeof(sm));
				event_text(e, txt, sizeof(txt));
				if (e->kind == EV_POLICY)
					add(c, e->maybe ? DOCTOR_WARNING : DOCTOR_ERROR, "rules",
					    subj,
					    "accept the CDN sets before the policy applies: in "
					    "this "
					    "chain add `tcp dport { 80, 443 } ip saddr @SET "
					    "accept` "
					    "(the sets must be in the same table: `table = ` with "
					    "`create = no`)",
					    "%sCDN ranges reach the drop policy of %s: %s",
					    e->maybe ? "some " : "", e->where, sm);
				else
					add(c, e->maybe ? DOCTOR_WARNING : DOCTOR_ERROR, "rules",
					    subj,
					    "remove the CDN addresses from that rule, or accept "
					    "the "
					    "CDN sets before it (`nft -a list ruleset` shows "
					    "handles)",
					    "%s %s CDN ranges: %s", txt,
					    e->maybe ? "may drop" : "drops", sm);
			}
			if (nproblems == 0 && !empty(alive))
				add(c, DOCTOR_OK, "rules", subj, NULL,
				    "CDN connections pass every prerouting and input chain%s",
				    ours ? " (accepted through cdnallow's set)" : "");
			ranges_free(alive);
			alive = NULL;
			eval_finish(&ev);
			/* is the origin locked to the CDN? */
			{
				struct ranges *all = ranges_new(), *rest = NULL;

				if (all == NULL ||
				    add_iv(all, fams[fi], 0, fam_max(fams[fi])) < 0 ||
				    ranges_subtract(all, from, &rest) < 0) {
					ranges_free(all);
					ranges_free(from);
					return -1;
				}
				ranges_free(all);
				ev = (struct eval){
					.c = c, .n = n, .fam = fams[fi], .port = c->ports[pi]};
				if (eval_path(&ev, rest, &alive) < 0) {
					ranges_free(rest);
					ranges_free(from);
					eval_finish(&ev);
					return -1;
				}
				/* only what is accepted for sure: a maybe-drop may be the lock */
				for (size_t i = 0; i < ev.n_ev; i++) {
					if (ev.ev[i].kind != EV_ACCEPT &&
					    minus_into(&alive, ev.ev[i].s) < 0) {
						ranges_free(rest);
						ranges_free(from);
						eval_finish(&ev);
						return -1;
					}
				}
				if (!empty(alive))
					add(c, DOCTOR_INFO, "rules", subj,
					    "drop other sources on the origin ports after "
					    "accepting "
					    "the CDN sets (an origin lock)",
					    "non-CDN addresses can reach the origin directly, "
					    "bypassing the CDN");
				ranges_free(rest);
				ranges_free(alive);
				eval_finish(&ev);
			}
			ranges_free(from);
		}
	}
	return 0;
}

static int check_set_use(struct ctx *c, struct nft *n)
{
	for (size_t i = 0; i < n->n_chains; i++) {
		struct nchain *ch = &n->chains[i];

		if (ch->base && (ch->hook == NF_INET_PRE_ROUTING || ch->hook == NF_INET_LOCAL_IN))
			mark_reachable(n, ch, 0);
	}
	for (size_t i = 0; i < c->n_own; i++) {
		struct own_set *o = &c->own[i];
		char subj[600];
		bool used, in_drop;

		if (find_set(n, o->nfproto, o->table, o->name) == NULL)
			continue;
		snprintf(subj, sizeof(subj), "%s %s %s", fam_word(o->nfproto), o->table, o->name);
		set_refs(n, o->nfproto, o->table, o->name, &used, &in_drop);
		if (!used)
			add(c, DOCTOR_WARNING, "rules", subj,
			    "reference it from the table that holds your input policy, e.g. "
			    "`tcp dport { 80, 443 } ip saddr @allow_v4 accept` before any drop "
			    "(an accept in another table does not override a drop)",
			    "no rule on the prerouting or input hook uses this set: cdnallow keeps "
			    "it current but it allows nothing");
		else
			add(c, DOCTOR_OK, "rules", subj, NULL,
			    "set is used by a rule on the input path");
	}
	return 0;
}

/* nft sets that hold CDN addresses and look like ban lists (or feed drop rules). */
static int check_nft_bans(struct ctx *c, struct nft *n)
{
	for (size_t i = 0; i < n->n_sets; i++) {
		struct nset *s = &n->sets[i];
		int fam = s->ktype == 7 ? CDA_AF_INET : s->ktype == 8 ? CDA_AF_INET6 : 0;
		struct ranges *cf = NULL, *hit = NULL;
		bool used, in_drop;
		char subj[600], sm[400], fix[800];

		if (fam == 0 || (s->flags & NFT_SET_ANONYMOUS) ||
		    is_own(c, s->family, s->table, s->name))
			continue;
		set_refs(n, s->family, s->table, s->name, &used, &in_drop);
		if (!ban_named(s->name) && !in_drop)
			continue;
		if (set_load(&n->conn, s) < 0)
			return -1;
		if (s->broken || s->elems == NULL)
			continue;
		if ((cf = only_fam(c->cdn, fam)) == NULL ||
		    ranges_intersect(s->elems, cf, &hit) < 0) {
			ranges_free(cf);
			return -1;
		}
		snprintf(subj, sizeof(subj), "%s %s %s", fam_word(s->family), s->table, s->name);
		if (!empty(hit)) {
			samples(hit, sm, sizeof(sm));
			snprintf(fix, sizeof(fix),
				 "nft delete element %s %s %s { ADDRESS }, and stop the tool that "
				 "feeds it from banning CDN addresses (ban the client IP from "
				 "CF-Connecting-IP instead)",
				 fam_word(s->family), s->table, s->name);
			add(c, DOCTOR_WARNING, "bans", subj, fix,
			    "ban-style set holds CDN addresses: %s", sm);
		} else {
			add(c, DOCTOR_OK, "bans", subj, NULL, "holds no CDN address");
		}
		ranges_free(cf);
		ranges_free(hit);
	}
	return 0;
}

/* ---- check 7: one address ---- */

static int trace_ip(struct ctx *c, struct nft *n, const char *text, const struct cidr *a)
{
	int fam = a->family;
	bool in_cdn = c->have_cdn && ranges_contains(c->cdn, fam, a->addr);

	for (size_t pi = 0; pi < c->n_ports; pi++) {
		struct eval ev = {.c = c, .n = n, .fam = fam, .port = c->ports[pi]};
		struct ranges *from = ranges_new(), *alive = NULL;
		char subj[128], txt[700];
		const struct event *drop = NULL, *acc = NULL;

		if (from == NULL || add_iv(from, fam, a->addr, a->addr) < 0) {
			ranges_free(from);
			return -1;
		}
		ranges_normalize(from);
		snprintf(subj, sizeof(subj), "%s to port %u", text, c->ports[pi]);
		if (eval_path(&ev, from, &alive) < 0) {
			ranges_free(from);
			eval_finish(&ev);
			return -1;
		}
		for (size_t i = 0; i < ev.n_ev; i++) {
			if (ev.ev[i].kind != EV_ACCEPT && drop == NULL)
				drop = &ev.ev[i];
			if (ev.ev[i].kind == EV_ACCEPT && !ev.ev[i].maybe && acc == NULL)
				acc = &ev.ev[i];
		}
		if (drop != NULL) {
			event_text(drop, txt, sizeof(txt));
			add(c,
			    !in_cdn       ? DOCTOR_INFO
			    : drop->maybe ? DOCTOR_WARNING
					  : DOCTOR_ERROR,
			    "ip", subj, in_cdn ? "accept the CDN sets before that rule" : NULL,
			    "%s by %s%s", drop->maybe ? "may be dropped" : "dropped", txt,
			    in_cdn        ? " (it is in the CDN lists)"
			    : c->have_cdn ? " (not in the CDN lists)"
					  : "");
		} else if (acc != NULL) {
			event_text(acc, txt, sizeof(txt));
			add(c, DOCTOR_OK, "ip", subj, NULL, "accepted by %s%s%s", txt,
			    acc->ours ? " (cdnallow's set)" : "",
			    in_cdn || !c->have_cdn ? "" : "; not in the CDN lists");
		} else {
			add(c, DOCTOR_OK, "ip", subj, NULL,
			    "no rule decides it: accepted by the chain policies%s",
			    in_cdn || !c->have_cdn ? "" : "; not in the CDN lists");
		}
		ranges_free(from);
		ranges_free(alive);
		eval_finish(&ev);
	}
	return 0;
}

static void check_legacy(struct ctx *c)
{
	char path[PATH_MAX];
	const char *pn = c->o->proc_net ? c->o->proc_net : "/proc/net";
	const char *files[] = {"ip_tables_names", "ip6_tables_names"};

	for (int i = 0; i < 2; i++) {
		char line[64] = "";
		FILE *fp;

		snprintf(path, sizeof(path), "%s/%s", pn, files[i]);
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		if (fgets(line, sizeof(line), fp) != NULL && line[0] != '\0')
			add(c, DOCTOR_WARNING, "rules", i ? "ip6tables-legacy" : "iptables-legacy",
			    "inspect `iptables-legacy-save`/`ip6tables-legacy-save` by hand, or "
			    "move to iptables-nft",
			    "legacy %s tables are loaded (%.*s): their rules also filter traffic "
			    "and are not evaluated here",
			    i ? "ip6tables" : "iptables", (int)strcspn(line, "\n"), line);
		fclose(fp);
	}
}

static bool is_own(struct ctx *c, uint32_t family, const char *table, const char *set);

struct prefetch {
	struct nset **v;
	size_t n, next;
	pthread_mutex_t mu;
	bool oom;
};

static void *prefetch_run(void *arg)
{
	struct prefetch *p = arg;
	struct nlconn conn = {0};

	if (conn_open(&conn) < 0) {
		if (conn.nl != NULL)
			mnl_socket_close(conn.nl);
		return NULL; /* the sets left are loaded lazily on the main socket */
	}
	for (;;) {
		size_t i;

		pthread_mutex_lock(&p->mu);
		i = p->next++;
		pthread_mutex_unlock(&p->mu);
		if (i >= p->n)
			break;
		if (set_load(&conn, p->v[i]) < 0) {
			pthread_mutex_lock(&p->mu);
			p->oom = true;
			pthread_mutex_unlock(&p->mu);
		}
	}
	mnl_socket_close(conn.nl);
	return NULL;
}

static int want_cb(struct nftnl_expr *e, void *data)
{
	void **d = data;
	struct nft *n = d[0];
	const struct nchain *ch = d[1];
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
	struct nset *s;

	if (name == NULL || strcmp(name, "lookup") != 0 ||
	    !nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_SET))
		return 0;
	s = find_set(n, ch->family, ch->table, nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET));
	if (s != NULL)
		s->wanted = true;
	return 0;
}

/*
 * Our sets through the nftables backend's read (its state cache when the ruleset
 * generation is unchanged: no dump at all), then every other set the checks will need,
 * dumped in parallel: a set dump is quadratic in the kernel (~0.5 s at 100k ranges).
 */
static int preload_sets(struct ctx *c, struct nft *n, struct state *st)
{
	struct prefetch p = {0};
	pthread_t th[4];
	size_t nth = 0;
	bool oom = false; /* the main thread's, apart from the workers' p.oom */
	int rc;

	for (size_t i = 0; i < n->n_chains; i++) {
		struct nchain *ch = &n->chains[i];

		if (ch->base && (ch->hook == NF_INET_PRE_ROUTING || ch->hook == NF_INET_LOCAL_IN))
			mark_reachable(n, ch, 0);
	}
	for (size_t i = 0; i < n->n_chains; i++) {
		void *d[2] = {n, &n->chains[i]};

		if (!n->chains[i].reachable)
			continue;
		for (size_t k = 0; k < n->chains[i].n_rules; k++)
			nftnl_expr_foreach(n->rules[n->chains[i].rules[k]], want_cb, d);
	}
	if ((p.v = calloc(n->n_sets ? n->n_sets : 1, sizeof(struct nset *))) == NULL)
		return -1;
	for (size_t i = 0; i < n->n_sets; i++) {
		struct nset *s = &n->sets[i];
		bool addr = s->ktype == 7 || s->ktype == 8;

		if (s->loaded)
			continue;
		if (is_own(c, s->family, s->table, s->name))
			continue; /* read through the backend, meanwhile */
		if (s->wanted || (addr && !(s->flags & NFT_SET_ANONYMOUS) && ban_named(s->name)))
			p.v[p.n++] = s;
	}
	pthread_mutex_init(&p.mu, NULL);
	while (nth < p.n && nth < sizeof(th) / sizeof(th[0]) &&
	       pthread_create(&th[nth], NULL, prefetch_run, &p) == 0)
		nth++;
	for (size_t t = 0; t < c->cfg->n_targets; t++) {
		const struct target_config *tc = &c->cfg->targets[t];
		struct backend_env env = {
			.state = st, .verify_max = c->cfg->verify_max, .dry_run = true};
		struct backend *be = NULL;
		struct ranges *cur = ranges_new();
		struct cda_error e = {0};

		if (cur == NULL) {
			oom = true;
			break;
		}
		if (strcmp(tc->backend, "nftables") != 0 || !target_selected(c->o, tc->name) ||
		    backend_open(&nft_backend_ops, &be, tc, &env, &e) < 0 ||
		    backend_read(be, cur, &e) < 0) {
			backend_close(be);
			ranges_free(cur);
			continue; /* the sets are dumped below instead */
		}
		backend_close(be);
		ranges_normalize(cur);
		for (size_t i = 0; i < c->n_own; i++) {
			struct own_set *o = &c->own[i];
			struct nset *s = find_set(n, o->nfproto, o->table, o->name);

			if (s == NULL || s->loaded || strcmp(o->target, tc->name) != 0 ||
			    s->klen != (o->fam == CDA_AF_INET ? 4u : 16u))
				continue;
			if ((s->elems = only_fam(cur, o->fam)) == NULL) {
				oom = true;
				break;
			}
			s->loaded = true;
		}
		ranges_free(cur);
	}
	for (size_t i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&p.mu);
	rc = p.oom || oom ? -1 : 0;
	free(p.v);
	return rc;
}

static int check_nft(struct ctx *c)
{
	struct nft *n = NULL;

	if (nft_load(&n) < 0) {
		if (errno == EPERM || errno == EACCES) {
			c->rep->privileged = false;
			add(c, DOCTOR_INFO, "privileges", NULL,
			    "run it as root: sudo cdnallow doctor",
			    "the nftables ruleset cannot be read without CAP_NET_ADMIN: sets, "
			    "rules, "
			    "nft ban sets and --ip were not checked");
			return 0;
		}
		if (errno == ENOMEM)
			return -1;
		add(c, DOCTOR_WARNING, "rules", NULL, NULL,
		    "could not read the nftables ruleset: %s", strerror(errno));
		return 0;
	}
	c->rep->privileged = true;
	c->nft = n;
	return 0;
}

#endif /* HAVE_NFTABLES */

/* ---- check 3: bans outside nftables ---- */

static int push_ban(struct ctx *c, const char *where, const char *tok, size_t len)
{
	struct cidr ci;
	struct ban *v;

	if (len == 0 || cidr_parse(tok, len, &ci, NULL) == CIDR_INVALID)
		return 0;
	v = reallocarray(c->bans, c->n_bans + 1, sizeof(*v));
	if (v == NULL)
		return -1;
	c->bans = v;
	snprintf(v[c->n_bans].where, sizeof(v[c->n_bans].where), "%s", where);
	v[c->n_bans++].c = ci;
	return 0;
}

static bool cidr_hits(const struct ranges *r, const struct cidr *ci)
{
	cda_u128 lo, hi;
	struct ranges *one, *o = NULL;
	bool hit;

	cidr_bounds(ci, &lo, &hi);
	if (ranges_contains(r, ci->family, lo) || ranges_contains(r, ci->family, hi))
		return true;
	/* a wide ban may cover a CDN range without its ends being in one */
	if ((one = ranges_new()) == NULL || add_iv(one, ci->family, lo, hi) < 0) {
		ranges_free(one);
		return true;
	}
	ranges_normalize(one);
	if (ranges_intersect(one, r, &o) < 0) {
		ranges_free(one);
		return true;
	}
	hit = !empty(o);
	ranges_free(one);
	ranges_free(o);
	return hit;
}

static void fail2ban_bans(struct ctx *c)
{
	const char *sock =
		c->o->fail2ban_socket ? c->o->fail2ban_socket : "/var/run/fail2ban/fail2ban.sock";
	const char *cli = c->o->fail2ban_client ? c->o->fail2ban_client : "fail2ban-client";
	char *argv[8], *out = NULL, *jl, *save = NULL;
	struct stat sb;
	int rc;

	if (stat(sock, &sb) < 0) {
		add(c, DOCTOR_OK, "bans", "Fail2Ban", NULL, "Fail2Ban is not running (no %s)",
		    sock);
		return;
	}
	if (access(sock, R_OK | W_OK) < 0) {
		add(c, DOCTOR_INFO, "bans", "Fail2Ban", "run it as root",
		    "Fail2Ban's socket %s is not accessible: its bans were not checked", sock);
		return;
	}
	if (!in_path(cli)) {
		add(c, DOCTOR_INFO, "bans", "Fail2Ban", NULL,
		    "%s not found: Fail2Ban's bans were not checked", cli);
		return;
	}
	argv[0] = (char *)cli;
	argv[1] = "-s";
	argv[2] = (char *)sock;
	argv[3] = "status";
	argv[4] = NULL;
	rc = run_cmd(argv, &out);
	if (rc != 0 || out == NULL || (jl = strstr(out, "Jail list:")) == NULL) {
		add(c, DOCTOR_WARNING, "bans", "Fail2Ban", NULL,
		    "`%s -s %s status` failed: bans were not checked", cli, sock);
		free(out);
		return;
	}
	jl += strlen("Jail list:");
	jl[strcspn(jl, "\n")] = '\0';
	for (char *j = strtok_r(jl, ", \t", &save); j != NULL; j = strtok_r(NULL, ", \t", &save)) {
		char *bo = NULL, where[300], *s2 = NULL;

		argv[3] = "get";
		argv[4] = j;
		argv[5] = "banip";
		argv[6] = NULL;
		if (run_cmd(argv, &bo) != 0 || bo == NULL) {
			add(c, DOCTOR_WARNING, "bans", j, NULL,
			    "could not list the bans of Fail2Ban jail %s", j);
			free(bo);
			continue;
		}
		snprintf(where, sizeof(where), "Fail2Ban jail %s", j);
		for (char *t = strtok_r(bo, " \t\r\n,", &s2); t != NULL;
		     t = strtok_r(NULL, " \t\r\n,", &s2))
			if (push_ban(c, where, t, strlen(t)) < 0)
				c->oom = true;
		free(bo);
	}
	free(out);
}

static void file_bans(struct ctx *c, const char *path, bool tempban)
{
	FILE *fp = fopen(path, "r");
	char line[1024];

	if (fp == NULL) {
		if (errno == EACCES)
			add(c, DOCTOR_INFO, "bans", path, "run it as root",
			    "cannot read %s: CSF bans were not checked", path);
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *t = line;
		size_t len;

		if (tempban) {
			/* time|ip|port|inout|timeout|message */
			char *bar = strchr(line, '|');

			if (bar == NULL)
				continue;
			t = bar + 1;
			len = strcspn(t, "|");
		} else {
			t += strspn(t, " \t");
			if (*t == '#' || strncasecmp(t, "Include", 7) == 0)
				continue;
			len = strcspn(t, " \t\r\n#");
		}
		if (push_ban(c, path, t, len) < 0)
			c->oom = true;
	}
	fclose(fp);
}

static void ipset_bans(struct ctx *c)
{
	const char *cmd = c->o->ipset_cmd ? c->o->ipset_cmd : "ipset";
	char *argv[] = {(char *)cmd, "save", NULL}, *out = NULL, *save = NULL;
	const char *skip[2 * 8 + 1];
	size_t ns = 0;

	if (!in_path(cmd))
		return;
	for (size_t i = 0; i < c->cfg->n_targets && ns + 2 < sizeof(skip) / sizeof(skip[0]); i++) {
		const struct target_config *tc = &c->cfg->targets[i];
		const char *v4 = target_get(tc, "set_v4"), *v6 = target_get(tc, "set_v6");

		if (strcmp(tc->backend, "iptables") != 0)
			continue;
		skip[ns++] = v4 ? v4 : "cdnallow4";
		skip[ns++] = v6 ? v6 : "cdnallow6";
	}
	if (run_cmd(argv, &out) != 0 || out == NULL) {
		if (geteuid() != 0)
			add(c, DOCTOR_INFO, "bans", "ipset", "run it as root",
			    "ipsets cannot be listed without root: not checked");
		free(out);
		return;
	}
	for (char *l = strtok_r(out, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
		char name[64], entry[128], where[128];
		bool own = false;

		if (sscanf(l, "add %63s %127s", name, entry) != 2)
			continue;
		for (size_t i = 0; i < ns; i++)
			own |= strcmp(skip[i], name) == 0 ||
			       (strncmp(skip[i], name, strlen(skip[i])) == 0 &&
				strcmp(name + strlen(skip[i]), "-tmp") == 0);
		if (own || !ban_named(name))
			continue; /* allow lists are ipsets too: only ban-style names count */
		snprintf(where, sizeof(where), "ipset %s", name);
		if (push_ban(c, where, entry, strcspn(entry, ",")) < 0)
			c->oom = true;
	}
	free(out);
}

static void check_bans(struct ctx *c)
{
	const char *deny = c->o->csf_deny ? c->o->csf_deny : "/etc/csf/csf.deny";
	const char *temp = c->o->csf_tempban ? c->o->csf_tempban : "/var/lib/csf/csf.tempban";
	size_t hits = 0;

	fail2ban_bans(c);
	file_bans(c, deny, false);
	file_bans(c, temp, true);
	ipset_bans(c);
	for (size_t i = 0; i < c->n_bans && c->have_cdn; i++) {
		struct ban *b = &c->bans[i];
		char cb[CIDR_STRLEN], fix[600];
		bool f2b = strncmp(b->where, "Fail2Ban jail ", 14) == 0;
		bool ips = strncmp(b->where, "ipset ", 6) == 0;

		if (!cidr_hits(c->cdn, &b->c))
			continue;
		hits++;
		cidr_format(&b->c, cb);
		if (f2b)
			snprintf(
				fix, sizeof(fix),
				"fail2ban-client set %s unbanip %s; add the CDN ranges to ignoreip "
				"(a cdnallow fail2ban target) and make the web server log the "
				"visitor's address (CF-Connecting-IP)",
				b->where + 14, cb);
		else if (ips)
			snprintf(fix, sizeof(fix), "ipset del %s %s", b->where + 6, cb);
		else
			snprintf(fix, sizeof(fix),
				 "csf -dr %s (or csf -tr), and put the CDN ranges into csf.ignore "
				 "(a cdnallow csf target)",
				 cb);
		add(c, ips ? DOCTOR_WARNING : DOCTOR_ERROR, "bans", b->where, fix,
		    "%s, a CDN address, is banned in %s", cb, b->where);
	}
	if (hits == 0 && c->have_cdn)
		add(c, DOCTOR_OK, "bans", NULL, NULL,
		    "no CDN address in Fail2Ban, CSF or ipset ban lists (%zu entries looked at)",
		    c->n_bans);
}

/* ---- check 4: listening sockets ---- */

struct listener {
	bool v4_any, v4_lo, v6_any, v6_lo;
};

static void scan_tcp(const char *path, bool v6, const uint16_t *ports, size_t np,
		     struct listener *l, bool *readable)
{
	FILE *fp = fopen(path, "r");
	char line[512];

	if (fp == NULL)
		return;
	*readable = true;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char addr[64];
		unsigned int port, st;

		if (sscanf(line, " %*u: %63[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", addr, &port,
			   &st) != 3 ||
		    st != 0x0A)
			continue;
		for (size_t i = 0; i < np; i++) {
			bool lo;

			if (port != ports[i])
				continue;
			if (!v6)
				lo = strncasecmp(addr + 6, "7F", 2) == 0; /* 127/8, little endian */
			else
				lo = strcasecmp(addr, "00000000000000000000000001000000") == 0;
			if (v6 && strncasecmp(addr, "0000000000000000FFFF0000", 24) == 0) {
				/* v4-mapped: counts as IPv4 */
				lo = strncasecmp(addr + 30, "7F", 2) == 0;
				if (lo)
					l[i].v4_lo = true;
				else
					l[i].v4_any = true;
				continue;
			}
			if (v6) {
				if (lo)
					l[i].v6_lo = true;
				else
					l[i].v6_any = true;
			} else {
				if (lo)
					l[i].v4_lo = true;
				else
					l[i].v4_any = true;
			}
		}
	}
	fclose(fp);
}

static void check_listen(struct ctx *c)
{
	const char *pn = c->o->proc_net ? c->o->proc_net : "/proc/net";
	struct listener l[64] = {0};
	char p4[PATH_MAX], p6[PATH_MAX], subj[32];
	bool readable = false;

	snprintf(p4, sizeof(p4), "%s/tcp", pn);
	snprintf(p6, sizeof(p6), "%s/tcp6", pn);
	scan_tcp(p4, false, c->ports, c->n_ports, l, &readable);
	scan_tcp(p6, true, c->ports, c->n_ports, l, &readable);
	if (!readable) {
		add(c, DOCTOR_INFO, "listen", NULL, NULL, "cannot read %s: not checked", p4);
		return;
	}
	for (size_t i = 0; i < c->n_ports; i++) {
		snprintf(subj, sizeof(subj), "port %u", c->ports[i]);
		if (!l[i].v4_any && !l[i].v6_any) {
			add(c, DOCTOR_ERROR, "listen", subj,
			    "start the web server, or make it listen on this port "
			    "(`ss -ltnp` shows what listens where)",
			    "nothing listens on port %u%s: the CDN's connections are refused "
			    "(Cloudflare error 521)",
			    c->ports[i], l[i].v4_lo || l[i].v6_lo ? " except on loopback" : "");
		} else if (!l[i].v4_any) {
			add(c, DOCTOR_WARNING, "listen", subj,
			    "listen on 0.0.0.0 too (nginx: `listen 443 ssl;` next to `listen "
			    "[::]:443 ssl;`)",
			    "only an IPv6 socket listens on port %u: IPv4 connections work only if "
			    "it is dual-stack (nginx sets ipv6only=on)",
			    c->ports[i]);
		} else {
			add(c, l[i].v6_any ? DOCTOR_OK : DOCTOR_INFO, "listen", subj, NULL,
			    "listening on IPv4%s",
			    l[i].v6_any ? " and IPv6"
					: " only (fine unless "
					  "the origin has AAAA records)");
		}
	}
}

/* ---- check 5: conntrack headroom ---- */

static bool read_ulong(const char *path, unsigned long *v)
{
	FILE *fp = fopen(path, "r");
	bool ok;

	if (fp == NULL)
		return false;
	ok = fscanf(fp, "%lu", v) == 1;
	fclose(fp);
	return ok;
}

static void check_conntrack(struct ctx *c)
{
	const char *root = c->o->sysctl_root ? c->o->sysctl_root : "/proc/sys";
	char pc[PATH_MAX], pm[PATH_MAX];
	unsigned long cnt, max;
	double pct;

	snprintf(pc, sizeof(pc), "%s/net/netfilter/nf_conntrack_count", root);
	snprintf(pm, sizeof(pm), "%s/net/netfilter/nf_conntrack_max", root);
	if (!read_ulong(pc, &cnt) || !read_ulong(pm, &max) || max == 0) {
		add(c, DOCTOR_INFO, "conntrack", NULL, NULL,
		    "connection tracking is not loaded (no %s)", pc);
		return;
	}
	pct = 100.0 * (double)cnt / (double)max;
	if (pct > 95.0)
		add(c, DOCTOR_ERROR, "conntrack", NULL,
		    "raise net.netfilter.nf_conntrack_max (sysctl -w), or shorten timeouts",
		    "conntrack table %.0f%% full (%lu of %lu): new connections are dropped "
		    "(\"nf_conntrack: table full\" in dmesg)",
		    pct, cnt, max);
	else if (pct > 80.0)
		add(c, DOCTOR_WARNING, "conntrack", NULL,
		    "raise net.netfilter.nf_conntrack_max before it fills",
		    "conntrack table %.0f%% full (%lu of %lu)", pct, cnt, max);
	else
		add(c, DOCTOR_OK, "conntrack", NULL, NULL,
		    "conntrack table %.0f%% full (%lu of %lu)", pct, cnt, max);
}

/* ---- check 6: the origin's certificate ---- */

static size_t discard_cb(char *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

/* One TLS handshake to the loopback origin; returns the curl code; *expires and *issuer
 * filled from the certificate when available. */
static CURLcode tls_probe(struct ctx *c, bool verify, char *errbuf, time_t *expires, char *issuer,
			  size_t isz)
{
	const char *conn = c->o->tls_connect ? c->o->tls_connect : "127.0.0.1:443";
	char url[512], resolve[600], host[256] = "127.0.0.1";
	unsigned int port = 443;
	struct curl_slist *rl = NULL;
	struct curl_certinfo *ci = NULL;
	CURL *h = curl_easy_init();
	CURLcode rc;

	*expires = 0;
	issuer[0] = '\0';
	errbuf[0] = '\0'; /* the caller prints it, also when curl never ran */
	if (h == NULL)
		return CURLE_OUT_OF_MEMORY;
	if (sscanf(conn, "%255[^:]:%u", host, &port) < 1)
		port = 443;
	snprintf(url, sizeof(url), "https://%s:%u/", c->o->tls_name, port);
	snprintf(resolve, sizeof(resolve), "%s:%u:%s", c->o->tls_name, port, host);
	rl = curl_slist_append(NULL, resolve);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_RESOLVE, rl);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_cb);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
	rc = curl_easy_perform(h);
	/* an HTTP-level failure after the handshake is not a TLS problem */
	if (rc == CURLE_HTTP_RETURNED_ERROR || rc == CURLE_GOT_NOTHING ||
	    rc == CURLE_WEIRD_SERVER_REPLY || rc == CURLE_RECV_ERROR)
		rc = CURLE_OK;
	if (curl_easy_getinfo(h, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci != NULL &&
	    ci->num_of_certs > 0) {
		for (struct curl_slist *s = ci->certinfo[0]; s != NULL; s = s->next) {
			struct tm tm = {0};

			if (strncmp(s->data, "Expire date:", 12) == 0 &&
			    strptime(s->data + 12, "%b %d %H:%M:%S %Y GMT", &tm) != NULL)
				*expires = timegm(&tm);
			if (strncmp(s->data, "Issuer:", 7) == 0)
				snprintf(issuer, isz, "%s", s->data + 7);
		}
	}
	curl_slist_free_all(rl);
	curl_easy_cleanup(h);
	return rc;
}

static void check_tls(struct ctx *c)
{
	char eb[CURL_ERROR_SIZE + 1], eb2[CURL_ERROR_SIZE + 1], issuer[512], subj[300];
	const char *name = c->o->tls_name;
	const char *conn = c->o->tls_connect ? c->o->tls_connect : "127.0.0.1:443";
	time_t exp = 0, now = time(NULL);
	CURLcode rc = tls_probe(c, true, eb, &exp, issuer, sizeof(issuer));

	snprintf(subj, sizeof(subj), "%s via %s", name, conn);
	if (rc == CURLE_OK) {
		long days = exp ? (long)((exp - now) / 86400) : -1;

		if (exp != 0 && days < 14)
			add(c, DOCTOR_WARNING, "tls", subj, "renew the certificate",
			    "certificate for %s expires in %ld days", name, days);
		else
			add(c, DOCTOR_OK, "tls", subj, NULL,
			    "certificate valid for %s with a complete chain%s", name,
			    exp ? "" : " (expiry unknown)");
		return;
	}
	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT) {
		add(c, DOCTOR_ERROR, "tls", subj, "start the web server's TLS listener",
		    "cannot connect to %s: %s (Cloudflare error 521/522)", conn, eb);
		return;
	}
	if (rc == CURLE_PEER_FAILED_VERIFICATION) {
		time_t e2;

		tls_probe(c, false, eb2, &e2, issuer, sizeof(issuer));
		if (strstr(issuer, "CloudFlare Origin") != NULL ||
		    strstr(issuer, "Cloudflare Origin") != NULL) {
			if (e2 != 0 && e2 < now)
				add(c, DOCTOR_ERROR, "tls", subj,
				    "issue a new Origin CA certificate in the Cloudflare dashboard",
				    "Cloudflare Origin CA certificate has expired (error 526)");
			else
				add(c, DOCTOR_OK, "tls", subj, NULL,
				    "Cloudflare Origin CA certificate (trusted by Cloudflare "
				    "only): "
				    "%s",
				    eb);
			return;
		}
		if (strstr(eb, "expired") != NULL)
			add(c, DOCTOR_ERROR, "tls", subj, "renew the certificate",
			    "certificate has expired: Cloudflare shows error 526 with SSL mode "
			    "Full (strict) (%s)",
			    eb);
		else if (strstr(eb, "self-signed") != NULL || strstr(eb, "self signed") != NULL)
			add(c, DOCTOR_ERROR, "tls", subj,
			    "use a certificate from a public CA or a Cloudflare Origin CA "
			    "certificate",
			    "self-signed certificate: Cloudflare shows error 526 with SSL mode "
			    "Full "
			    "(strict) (%s)",
			    eb);
		else if (strstr(eb, "local issuer") != NULL)
			add(c, DOCTOR_ERROR, "tls", subj,
			    "serve the full chain (nginx: ssl_certificate fullchain.pem)",
			    "the chain does not verify (intermediate certificate missing?): "
			    "Cloudflare error 526 under Full (strict) (%s)",
			    eb);
		else if (strstr(eb, "match") != NULL || strstr(eb, "name") != NULL)
			add(c, DOCTOR_ERROR, "tls", subj,
			    "install a certificate whose names include the host name",
			    "certificate not valid for %s: Cloudflare error 526 under Full "
			    "(strict) "
			    "(%s)",
			    name, eb);
		else
			add(c, DOCTOR_ERROR, "tls", subj, NULL,
			    "certificate does not verify: %s (Cloudflare error 526)", eb);
		return;
	}
	if (rc == CURLE_SSL_CONNECT_ERROR) {
		add(c, DOCTOR_ERROR, "tls", subj,
		    "check the server's TLS configuration for this name (SNI), protocols and "
		    "ciphers",
		    "TLS handshake failed: %s (Cloudflare error 525)", eb);
		return;
	}
	add(c, DOCTOR_ERROR, "tls", subj, NULL, "TLS check failed: %s (%s)",
	    eb[0] ? eb : curl_easy_strerror(rc), curl_easy_strerror(rc));
}

/* ---- orchestration of the checks ---- */

static int own_sets_from(struct ctx *c)
{
	for (size_t i = 0; i < c->cfg->n_targets; i++) {
		const struct target_config *tc = &c->cfg->targets[i];
		const char *fam = target_get(tc, "family"), *table = target_get(tc, "table");
		uint32_t nfproto = 1; /* NFPROTO_INET */
		const char *keys[2] = {"set_v4", "set_v6"}, *defs[2] = {"allow_v4", "allow_v6"};

		if (strcmp(tc->backend, "nftables") != 0 || !target_selected(c->o, tc->name))
			continue;
		if (fam != NULL && strcmp(fam, "ip") == 0) {
			nfproto = 2;
			defs[1] = "none";
		} else if (fam != NULL && strcmp(fam, "ip6") == 0) {
			nfproto = 10;
			defs[0] = "none";
		}
		for (int f = 0; f < 2; f++) {
			const char *name = target_get(tc, keys[f]);
			struct own_set *v;

			if (name == NULL)
				name = defs[f];
			if (strcmp(name, "none") == 0)
				continue;
			v = reallocarray(c->own, c->n_own + 1, sizeof(*v));
			if (v == NULL)
				return -1;
			c->own = v;
			v = &c->own[c->n_own++];
			v->target = tc->name;
			snprintf(v->table, sizeof(v->table), "%s", table ? table : "cdnallow");
			snprintf(v->name, sizeof(v->name), "%s", name);
			v->fam = f ? CDA_AF_INET6 : CDA_AF_INET;
			v->nfproto = nfproto;
		}
	}
	return 0;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int check_lists(struct ctx *c, struct state *st)
{
	long max_age = c->o->max_age > 0 ? c->o->max_age : DEFAULT_MAX_AGE;
	time_t now = time(NULL);

	for (size_t i = 0; i < c->cfg->n_targets; i++) {
		const struct target_config *tc = &c->cfg->targets[i];
		struct ranges *want = ranges_new();
		time_t oldest = 0;
		bool complete, denied;

		if (!target_selected(c->o, tc->name)) {
			ranges_free(want);
			continue;
		}
		if (want == NULL || load_lists(c, st, tc, want, &oldest, &complete, &denied) < 0) {
			ranges_free(want);
			return -1;
		}
		if (denied) {
			/* said above */
		} else if (!complete) {
			add(c, DOCTOR_ERROR, "freshness", tc->name,
			    "run `cdnallow sync` (check its output for fetch errors)",
			    "target %s: a source has no last known good list in %s: cdnallow has "
			    "never completed a sync for it",
			    tc->name, c->cfg->state_dir);
		} else if (oldest != 0 && now - oldest > max_age) {
			add(c, DOCTOR_WARNING, "freshness", tc->name,
			    "check the timer (`systemctl status cdnallow.timer`) and the last "
			    "run's "
			    "log (`journalctl -t cdnallow`)",
			    "target %s: lists last fetched %.1f days ago", tc->name,
			    (double)(now - oldest) / 86400.0);
		} else if (oldest != 0) {
			add(c, DOCTOR_OK, "freshness", tc->name, NULL,
			    "lists fetched %.1f hours ago", (double)(now - oldest) / 3600.0);
		}
		if (ranges_add_all(c->cdn, want) < 0) {
			ranges_free(want);
			return -1;
		}
#ifdef HAVE_NFTABLES
		if (c->nft != NULL && strcmp(tc->backend, "nftables") == 0 &&
		    check_own_sets(c, c->nft, tc, want, !empty(want)) < 0) {
			ranges_free(want);
			return -1;
		}
#endif
		ranges_free(want);
	}
	ranges_normalize(c->cdn);
	c->have_cdn = ranges_count4(c->cdn) + ranges_count6(c->cdn) > 0;
	return 0;
}

int doctor_run(const struct doctor_opts *o, const struct config *cfg, struct doctor_report *out,
	       struct cda_error *err)
{
	struct ctx c = {.o = o, .cfg = cfg, .rep = out, .err = err};
	const size_t n_ips = o->n_ips; /* ips[] has this many, whatever the checks do */
	struct cidr *ips = NULL;
	struct state *st = NULL;
	struct cda_error se = {0};
	double t0 = mono();
	int rc = -1;

	if (o->n_ports > sizeof(c.ports) / sizeof(c.ports[0]))
		return cda_error_set(err, CDA_EUSAGE, "at most 64 --port options");
	for (size_t i = 0; i < o->n_ports; i++) {
		if (o->ports[i] == 0)
			return cda_error_set(err, CDA_EUSAGE, "--port: 0 is not a port");
		c.ports[c.n_ports++] = o->ports[i];
	}
	if (c.n_ports == 0) {
		c.ports[c.n_ports++] = 80;
		c.ports[c.n_ports++] = 443;
	}
	if (n_ips > 0 && (ips = calloc(n_ips, sizeof(*ips))) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating");
	for (size_t i = 0; i < n_ips; i++) {
		bool bare = false;

		if (cidr_parse(o->ips[i], strlen(o->ips[i]), &ips[i], &bare) != CIDR_OK || !bare) {
			free(ips);
			return cda_error_set(err, CDA_EUSAGE,
					     "--ip %s: expected one IPv4 or IPv6 "
					     "address",
					     o->ips[i]);
		}
	}
	if ((c.cdn = ranges_new()) == NULL || own_sets_from(&c) < 0) {
		cda_error_sys(err, CDA_ESYS, "allocating");
		goto out;
	}
	if (state_open(&st, cfg->state_dir, 0, true, &se) < 0) {
		char buf[600];

		add(&c, DOCTOR_WARNING, "freshness", cfg->state_dir,
		    se.sys_errno == EACCES ? "run it as root" : "run `cdnallow sync` once",
		    "cannot open the state dir: %s", cda_error_str(&se, buf, sizeof(buf)));
		st = NULL;
	}
#ifdef HAVE_NFTABLES
	if (check_nft(&c) < 0) {
		cda_error_sys(err, CDA_ESYS, "reading the ruleset");
		goto out;
	}
#else
	add(&c, DOCTOR_INFO, "rules", NULL, NULL,
	    "built without nftables support: sets and rules not checked");
#endif
#ifdef HAVE_NFTABLES
	if (c.nft != NULL && preload_sets(&c, c.nft, st) < 0) {
		cda_error_sys(err, CDA_ESYS, "reading sets");
		goto out;
	}
#endif
	if (check_lists(&c, st) < 0) {
		cda_error_sys(err, CDA_ESYS, "allocating");
		goto out;
	}
#ifdef HAVE_NFTABLES
	if (c.nft != NULL) {
		if (!c.have_cdn)
			add(&c, DOCTOR_WARNING, "rules", NULL, "run `cdnallow sync`",
			    "no CDN list is known (empty state dir): the ruleset was not evaluated "
			    "for CDN traffic");
		if ((c.have_cdn && check_rules(&c, c.nft) < 0) || check_set_use(&c, c.nft) < 0 ||
		    (c.have_cdn && check_nft_bans(&c, c.nft) < 0)) {
			cda_error_sys(err, CDA_ESYS, "evaluating the ruleset");
			goto out;
		}
		for (size_t i = 0; i < n_ips; i++) {
			if (trace_ip(&c, c.nft, o->ips[i], &ips[i]) < 0) {
				cda_error_sys(err, CDA_ESYS, "evaluating the ruleset");
				goto out;
			}
		}
	}
	check_legacy(&c);
#endif
	check_bans(&c);
	for (size_t i = 0; i < n_ips; i++) {
		for (size_t b = 0; b < c.n_bans; b++) {
			cda_u128 lo, hi;

			cidr_bounds(&c.bans[b].c, &lo, &hi);
			if (c.bans[b].c.family == ips[i].family && ips[i].addr >= lo &&
			    ips[i].addr <= hi)
				add(&c, DOCTOR_ERROR, "ip", o->ips[i], NULL, "%s is banned in %s",
				    o->ips[i], c.bans[b].where);
		}
	}
	check_listen(&c);
	check_conntrack(&c);
	if (o->tls_name != NULL)
		check_tls(&c);
	if (c.oom) {
		cda_error_sys(err, CDA_ESYS, "allocating findings");
		goto out;
	}
	rc = 0;
out:
	out->seconds = mono() - t0;
#ifdef HAVE_NFTABLES
	nft_free(c.nft);
#endif
	state_close(st);
	ranges_free(c.cdn);
	free(c.own);
	free(c.bans);
	free(ips);
	return rc;
}
