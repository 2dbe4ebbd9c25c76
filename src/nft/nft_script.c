// SPDX-License-Identifier: MIT
/* The nft(8) script that puts back what cdnallow owns in a target (build: pure; save: the file). */
#include "nft_script.h"

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/netfilter.h>

#include "atomicfile.h"
#include "cda_error.h"
#include "nft_batch.h"
#include "ranges.h"
#include "textbuf.h"

#define ELEMS_PER_LINE 4

static const char *family_name(uint16_t family)
{
	switch (family) {
	case NFPROTO_INET:
		return "inet";
	case NFPROTO_IPV4:
		return "ip";
	case NFPROTO_IPV6:
		return "ip6";
	default:
		return NULL;
	}
}

/* An interval as nft writes it: a prefix when it is one, else "lo-hi". */
static void put_range(struct textbuf *out, int fam, cda_u128 lo, cda_u128 hi)
{
	int bits = fam == CDA_AF_INET ? 32 : 128;
	cda_u128 span = hi - lo;
	char a[CIDR_STRLEN], b[CIDR_STRLEN];

	if ((span & (span + 1)) == 0 && (lo & span) == 0) {
		struct cidr c = {.addr = lo, .family = (uint8_t)fam, .plen = (uint8_t)bits};

		while (c.plen > 0 && ((span >> (bits - c.plen)) & 1))
			c.plen--;
		cidr_format(&c, a);
		textbuf_add(out, a, strlen(a));
		return;
	}
	if (fam == CDA_AF_INET) {
		ipv4_format((uint32_t)lo, a);
		ipv4_format((uint32_t)hi, b);
	} else {
		ipv6_format(lo, a);
		ipv6_format(hi, b);
	}
	textbuf_printf(out, "%s-%s", a, b);
}

/* "{ a, b,\n<indent>c }": the elements of one family, a few per line. */
static void put_elements(struct textbuf *out, const struct ranges *r, int fam, const char *indent)
{
	size_t n = fam == CDA_AF_INET ? ranges_count4(r) : ranges_count6(r), ilen = strlen(indent);

	textbuf_add(out, "{ ", 2);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && i % ELEMS_PER_LINE != 0) {
			textbuf_add(out, ", ", 2);
		} else if (i > 0) {
			textbuf_add(out, ",\n", 2);
			textbuf_add(out, indent, ilen);
		}
		if (fam == CDA_AF_INET)
			put_range(out, fam, ranges_v4(r)[i].lo, ranges_v4(r)[i].hi);
		else
			put_range(out, fam, ranges_v6(r)[i].lo, ranges_v6(r)[i].hi);
	}
	textbuf_add(out, " }", 2);
}

static size_t count(const struct ranges *r, int fam)
{
	return r == NULL ? 0 : fam == CDA_AF_INET ? ranges_count4(r) : ranges_count6(r);
}

/* One set of our own table, with its elements when it has any. */
static void put_set(struct textbuf *out, const char *name, int fam, const struct ranges *r)
{
	textbuf_printf(out,
		       "\tset %s {\n"
		       "\t\ttype %s\n"
		       "\t\tflags interval\n"
		       "\t\tauto-merge\n",
		       name, fam == CDA_AF_INET ? "ipv4_addr" : "ipv6_addr");
	if (count(r, fam) > 0) {
		textbuf_add(out, "\t\telements = ", 13);
		put_elements(out, r, fam, "\t\t\t     ");
		textbuf_add(out, "\n", 1);
	}
	textbuf_add(out, "\t}\n", 3);
}

/* An accept for one lock_allow entry. */
static void put_addr_accept(struct textbuf *out, const struct cidr *c)
{
	char a[CIDR_STRLEN];

	cidr_format(c, a);
	if (c->plen == (c->family == CDA_AF_INET ? 32 : 128))
		*strchr(a, '/') = '\0';
	textbuf_printf(out, "\t\t%s saddr %s accept", c->family == CDA_AF_INET ? "ip" : "ip6", a);
}

/* A drop for one port range: the same matches as nft_batch.c's match_port(). */
static void put_port_drop(struct textbuf *out, const struct nft_plan *p, int hook,
			  const char *proto, const struct origin_lock_port *pr)
{
	textbuf_add(out, "\t\t", 2);
	if (p->family == NFPROTO_INET && (p->set_v4 == NULL) != (p->set_v6 == NULL))
		textbuf_printf(out, "meta nfproto %s ", p->set_v4 != NULL ? "ipv4" : "ipv6");
	textbuf_printf(out, "meta l4proto %s %s ", proto,
		       hook == NFT_LOCK_FORWARD ? "ct status dnat ct original proto-dst"
						: "th dport");
	if (pr->lo == pr->hi)
		textbuf_printf(out, "%u drop", pr->lo);
	else
		textbuf_printf(out, "%u-%u drop", pr->lo, pr->hi);
}

/* Close a lock rule with the comment that drift detection reads back. */
static void rule_end(struct textbuf *out, const struct nft_plan *p, const struct nft_lock_spec *s,
		     int hook, size_t *i)
{
	char comment[64];

	nft_lock_comment(p, s, hook, (*i)++, comment, sizeof(comment));
	textbuf_printf(out, " comment \"%s\"\n", comment);
}

/* One lock chain: the rules in the order nft_batch.h describes (and nft_batch.c builds). */
static void put_lock_chain(struct textbuf *out, const struct nft_plan *p,
			   const struct nft_lock_spec *s, int hook)
{
	const char *name = hook == NFT_LOCK_INPUT ? NFT_LOCK_CHAIN_INPUT : NFT_LOCK_CHAIN_FORWARD;
	size_t i = 0;

	textbuf_printf(out,
		       "\n\tchain %s {\n"
		       "\t\tcomment \"%s\"\n"
		       "\t\ttype filter hook %s priority %d; policy accept;\n",
		       name, NFT_LOCK_CHAIN_COMMENT, hook == NFT_LOCK_INPUT ? "input" : "forward",
		       NFT_LOCK_PRIORITY);
	if (hook == NFT_LOCK_INPUT) {
		textbuf_printf(out, "\t\tiif \"lo\" accept");
		rule_end(out, p, s, hook, &i);
	}
	textbuf_printf(out, "\t\tct state established,related accept");
	rule_end(out, p, s, hook, &i);
	if (p->set_v4 != NULL) {
		textbuf_printf(out, "\t\tip saddr @%s accept", p->set_v4);
		rule_end(out, p, s, hook, &i);
	}
	if (p->set_v6 != NULL) {
		textbuf_printf(out, "\t\tip6 saddr @%s accept", p->set_v6);
		rule_end(out, p, s, hook, &i);
	}
	for (size_t k = 0; k < s->n_allow && k < NFT_LOCK_MAX_ALLOW; k++) {
		put_addr_accept(out, &s->allow[k]);
		rule_end(out, p, s, hook, &i);
	}
	for (size_t k = 0; k < s->n_tcp && k < NFT_LOCK_MAX_PORTS; k++) {
		put_port_drop(out, p, hook, "tcp", &s->tcp[k]);
		rule_end(out, p, s, hook, &i);
	}
	for (size_t k = 0; k < s->n_udp && k < NFT_LOCK_MAX_PORTS; k++) {
		put_port_drop(out, p, hook, "udp", &s->udp[k]);
		rule_end(out, p, s, hook, &i);
	}
	textbuf_add(out, "\t}\n", 3);
}

/*
 * nft parses a table's family into what `ip saddr` and `ip6 saddr` may match: an ip table
 * cannot hold an IPv6 match and the reverse, so such a target has no script form.
 */
static bool expressible(const struct nft_script *s)
{
	const struct nft_plan *p = s->plan;
	bool lock = s->lock_on[0] || s->lock_on[1];

	if (!lock)
		return true;
	if (p->family == NFPROTO_IPV4 && p->set_v6 != NULL)
		return false;
	if (p->family == NFPROTO_IPV6 && p->set_v4 != NULL)
		return false;
	for (size_t k = 0; k < s->lock->n_allow; k++)
		if ((p->family == NFPROTO_IPV4 && s->lock->allow[k].family != CDA_AF_INET) ||
		    (p->family == NFPROTO_IPV6 && s->lock->allow[k].family != CDA_AF_INET6))
			return false;
	return true;
}

static void put_own_table(struct textbuf *out, const struct nft_script *s, const char *fam)
{
	const struct nft_plan *p = s->plan;

	/* exists for the delete whether or not a flush came first; one transaction */
	textbuf_printf(out, "table %s %s {}\ndelete table %s %s\ntable %s %s {\n", fam, p->table,
		       fam, p->table, fam, p->table);
	if (p->set_v4 != NULL)
		put_set(out, p->set_v4, CDA_AF_INET, s->have);
	if (p->set_v4 != NULL && p->set_v6 != NULL)
		textbuf_add(out, "\n", 1);
	if (p->set_v6 != NULL)
		put_set(out, p->set_v6, CDA_AF_INET6, s->have);
	for (int h = 0; h < 2; h++)
		if (s->lock_on[h])
			put_lock_chain(out, p, s->lock, h);
	textbuf_add(out, "}\n", 2);
}

static void put_admin_sets(struct textbuf *out, const struct nft_script *s, const char *fam)
{
	const struct nft_plan *p = s->plan;
	const char *sets[2] = {p->set_v4, p->set_v6};
	const int fams[2] = {CDA_AF_INET, CDA_AF_INET6};

	for (int i = 0; i < 2; i++) {
		if (sets[i] == NULL || count(s->have, fams[i]) == 0)
			continue; /* never empty a set the admin's file may just have filled */
		textbuf_printf(out, "flush set %s %s %s\nadd element %s %s %s ", fam, p->table,
			       sets[i], fam, p->table, sets[i]);
		put_elements(out, s->have, fams[i], "\t");
		textbuf_add(out, "\n", 1);
	}
}

int nft_script_build(const struct nft_script *s, struct textbuf *out, struct cda_error *err)
{
	const struct nft_plan *p = s->plan;
	const char *fam = family_name(p->family);
	size_t before = out->len;

	if ((p->set_v4 == NULL || count(s->have, CDA_AF_INET) == 0) &&
	    (p->set_v6 == NULL || count(s->have, CDA_AF_INET6) == 0))
		return 0; /* nothing to put back */
	if (fam == NULL || p->table == NULL ||
	    ((s->lock_on[0] || s->lock_on[1]) && s->lock == NULL) || !expressible(s))
		return cda_error_set(err, CDA_ECONFIG,
				     "table %s: its objects cannot be written as an nft script",
				     p->table != NULL ? p->table : "(none)");
	textbuf_printf(out,
		       "# Written by cdnallow after each verified apply of [target.%s]: what it owns\n"
		       "# in table %s %s. Included last in /etc/nftables.conf, a reload of that file\n"
		       "# puts it back in the same transaction. Do not edit: the next run rewrites it.\n",
		       s->target != NULL ? s->target : "?", fam, p->table);
	if (p->create)
		put_own_table(out, s, fam);
	else
		put_admin_sets(out, s, fam);
	if (out->oom) {
		out->len = before;
		errno = ENOMEM;
		return cda_error_sys(err, CDA_ESYS, "building the nft script of table %s", p->table);
	}
	return 0;
}

int nft_script_path(const char *value, const char *state_dir, const char *target, char **out,
		    struct cda_error *err)
{
	*out = NULL;
	if (value != NULL && strcmp(value, "none") == 0)
		return 0;
	if (value != NULL && value[0] != '/')
		return cda_error_set(err, CDA_ECONFIG,
				     "nft_file: expected an absolute path or none");
	if (value == NULL && state_dir == NULL)
		return 0; /* no state dir (tests): no default either */
	if (value != NULL)
		*out = strdup(value);
	else if (asprintf(out, "%s/%s.nft", state_dir, target) < 0)
		*out = NULL;
	if (*out == NULL)
		return cda_error_sys(err, CDA_ESYS, "nft_file");
	return 0;
}

/* Whether path is a regular 0600 file of ours holding exactly data[0..len). */
static bool same_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	char buf[8192];
	size_t at = 0;
	bool same = false;

	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 07777) != 0600 ||
	    st.st_uid != geteuid() || (size_t)st.st_size != len)
		goto out;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (at + (size_t)n > len || memcmp(data + at, buf, (size_t)n) != 0)
			goto out;
		at += (size_t)n;
	}
	same = at == len;
out:
	close(fd);
	return same;
}

int nft_script_save(const char *path, const struct nft_script *s, bool *written,
		    struct cda_error *err)
{
	struct textbuf t = {0};
	int rc = -1;

	if (written != NULL)
		*written = false;
	if (nft_script_build(s, &t, err) < 0)
		goto out;
	if (t.len == 0) {
		if (unlink(path) == 0) {
			if (written != NULL)
				*written = true;
		} else if (errno != ENOENT) {
			cda_error_sys(err, CDA_ESYS, "removing %s", path);
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (same_file(path, t.p, t.len)) {
		rc = 0;
		goto out;
	}
	if (atomicfile_write(path, 0600, t.p, t.len, err) < 0)
		goto out;
	if (written != NULL)
		*written = true;
	rc = 0;
out:
	free(t.p);
	return rc;
}
