// SPDX-License-Identifier: MIT
/* The csf backend: our allow and ignore files, the Include lines, the reload. */
#include "backend.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cda_error.h"
#include "config.h"
#include "origin_lock.h"
#include "ranges.h"
#include "subproc.h"
#include "textbuf.h"

/*
 * CSF reads csf.allow (firewall accepts) and csf.ignore (lfd never blocks) and expands
 * "Include /path" lines in both. We own two files of our own, written atomically, add one
 * Include line to csf.allow (and to csf.ignore when asked; every other byte kept), then
 * reload.
 *
 * A bare address in csf.allow opens every port, in and out, and in csf.ignore exempts it
 * from lfd: for a CDN that is anyone who rents compute on its network reaching SSH, cPanel or
 * MySQL. So the allow file holds advanced filters, one per port (or range) and prefix,
 * "tcp|in|d=PORT|s=CIDR", for `ports` (default 80 443; "all" writes bare lines), and the lfd
 * ignore list is opt-in (`lfd_ignore = yes`); when it is off our ignore file is emptied if it
 * exists (an earlier version's Include may name it) and never created.
 *
 * Reading takes our files only in the form this configuration writes: a file of another form
 * (an earlier version's bare lines, another port list, an ignore list that should be empty)
 * reads as empty, so the next run rewrites it.
 *
 * Reload: the default is `csf -ra`. Every csf reload of csf.allow is a full restart (`csf -r`
 * flushes all chains with ACCEPT policies, then rebuilds; `csf -q` only asks lfd to do the same
 * later, unchecked), and lfd reads csf.ignore only when it starts, so `csf -r` alone would
 * leave lfd free to block a CDN address it was told to ignore: an outage, where the restart's
 * short window is fail-open. So: restart both, synchronously, with its exit status checked,
 * and only when our files really changed (a few times a year). Big lists belong in the
 * nftables or iptables backends.
 */

static const char *const csf_keys[] = {
	"allow_file", "ignore_file", "csf_allow",  "csf_ignore", "csf",
	"reload",     "ports",       "lfd_ignore", "command_timeout", NULL,
};

#define MAX_PORTS 15
#define PORT_TEXT 12 /* "65535_65535" */

enum { ALLOW, IGNORE };

struct csf_backend {
	struct backend base;
	char *name;                      /* target name, for the file header */
	char *own[2];                    /* our allow and ignore files */
	char *csf_file[2];               /* csf.allow, csf.ignore */
	char **reload;                   /* argv */
	unsigned int cmd_timeout;        /* seconds the reload may take */
	size_t n_ports;                  /* 0: every port (bare lines) */
	char port[MAX_PORTS][PORT_TEXT]; /* as csf writes them: "443", "2052_2053" */
	bool lfd_ignore;
};

static struct csf_backend *csf_from_base(struct backend *be)
{
	assert(be != NULL && be->ops == &csf_backend_ops);
	return (struct csf_backend *)be;
}

/* ---- config ---- */

static void csf_close(struct backend *be)
{
	struct csf_backend *cb;

	if (be == NULL)
		return;
	cb = csf_from_base(be);
	free(cb->name);
	for (int i = 0; i < 2; i++) {
		free(cb->own[i]);
		free(cb->csf_file[i]);
	}
	subproc_free_argv(cb->reload);
	free(cb);
}

/* ports (default 80 443, or all) and lfd_ignore (default no). */
static int open_scope(struct csf_backend *cb, const struct target_config *tc, struct cda_error *err)
{
	const char *ports = target_get(tc, "ports"), *lfd = target_get(tc, "lfd_ignore");
	struct origin_lock_port p[MAX_PORTS];

	if (lfd != NULL && config_parse_bool(lfd, &cb->lfd_ignore) < 0)
		return backend_bad_value(err, tc, "lfd_ignore", "expected yes or no");
	if (ports != NULL && strcmp(ports, "all") == 0)
		return 0;
	if (origin_lock_parse_ports(ports != NULL ? ports : "80 443", true, p, MAX_PORTS,
				    &cb->n_ports) < 0)
		return backend_bad_value(
			err, tc, "ports",
			"expected up to 15 TCP ports or ranges (80 443 8000-8080), or all");
	for (size_t i = 0; i < cb->n_ports; i++) {
		if (p[i].lo == p[i].hi)
			snprintf(cb->port[i], PORT_TEXT, "%u", (unsigned int)p[i].lo);
		else
			snprintf(cb->port[i], PORT_TEXT, "%u_%u", (unsigned int)p[i].lo,
				 (unsigned int)p[i].hi);
	}
	return 0;
}

static int open_reload(struct csf_backend *cb, const struct target_config *tc,
		       struct cda_error *err)
{
	const char *csf = target_get(tc, "csf"), *reload = target_get(tc, "reload");

	if (csf != NULL && !backend_command_ok(csf))
		return backend_bad_value(err, tc, "csf", "expected a command name or path");
	if (reload != NULL) {
		if ((cb->reload = subproc_split(reload, NULL)) != NULL)
			return 0;
		if (errno == ENOMEM)
			return cda_error_sys(err, CDA_ESYS, "allocating the csf backend");
		return backend_bad_value(err, tc, "reload",
					 "expected a command (unbalanced quote?)");
	}
	if ((cb->reload = calloc(3, sizeof(*cb->reload))) == NULL ||
	    (cb->reload[0] = strdup(csf != NULL ? csf : "csf")) == NULL ||
	    (cb->reload[1] = strdup("-ra")) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the csf backend");
	return 0;
}

static int open_paths(struct csf_backend *cb, const struct target_config *tc, struct cda_error *err)
{
	static const char *const keys[4] = {"allow_file", "ignore_file", "csf_allow", "csf_ignore"};
	static const char *const defs[4] = {"/etc/csf/cdnallow.allow", "/etc/csf/cdnallow.ignore",
					    "/etc/csf/csf.allow", "/etc/csf/csf.ignore"};
	char **slot[4] = {&cb->own[ALLOW], &cb->own[IGNORE], &cb->csf_file[ALLOW],
			  &cb->csf_file[IGNORE]};

	for (int i = 0; i < 4; i++) {
		const char *v = target_get(tc, keys[i]);

		if (v == NULL)
			v = defs[i];
		if (v[0] != '/' || strchr(v, '\n') != NULL)
			return backend_bad_value(err, tc, keys[i], "expected an absolute path");
		if ((*slot[i] = strdup(v)) == NULL)
			return cda_error_sys(err, CDA_ESYS, "allocating the csf backend");
	}
	if (strcmp(cb->own[ALLOW], cb->own[IGNORE]) == 0)
		return backend_bad_value(err, tc, "ignore_file", "must differ from allow_file");
	for (int i = 0; i < 2; i++)
		if (strcmp(cb->own[i], cb->csf_file[ALLOW]) == 0 ||
		    strcmp(cb->own[i], cb->csf_file[IGNORE]) == 0)
			return backend_bad_value(err, tc, keys[i], "must not be csf's own file");
	return 0;
}

static int csf_open(struct backend **out, const struct target_config *tc,
		    const struct backend_env *env, struct cda_error *err)
{
	struct csf_backend *cb;

	if ((cb = calloc(1, sizeof(*cb))) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the csf backend");
	cb->base.ops = &csf_backend_ops;
	if ((cb->name = strdup(tc->name != NULL ? tc->name : "csf")) == NULL) {
		cda_error_sys(err, CDA_ESYS, "allocating the csf backend");
		goto fail;
	}
	if (open_paths(cb, tc, err) < 0 || open_scope(cb, tc, err) < 0 ||
	    open_reload(cb, tc, err) < 0 ||
	    backend_command_timeout(tc, SUBPROC_TIMEOUT, &cb->cmd_timeout, err) < 0)
		goto fail;
	*out = &cb->base;
	return 0;
fail:
	csf_close(&cb->base);
	return -1;
}

/* ---- reading ---- */

/* Whether text holds the line "Include PATH" (csf: /^Include\s*(.*)$/). */
static bool has_include(const char *text, const char *path)
{
	size_t plen = strlen(path);

	for (const char *l = text; l != NULL && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		const char *s = l;

		if (strncmp(s, "Include", 7) != 0)
			continue;
		s += 7;
		while (*s == ' ' || *s == '\t')
			s++;
		if (strncmp(s, path, plen) != 0)
			continue;
		s += plen;
		while (*s == ' ' || *s == '\t' || *s == '\r')
			s++;
		if (*s == '\n' || *s == '\0')
			return true;
	}
	return false;
}

/*
 * What the first word of a line of our allow file gives: the index of the port it opens,
 * n_ports for a bare prefix (every port), or -1 when it is no line we write.
 */
static int allow_word(const struct csf_backend *cb, const char *w, size_t n, struct cidr *c)
{
	static const char pre[] = "tcp|in|d=";
	const size_t pl = sizeof(pre) - 1;
	const char *bar;
	size_t plen;

	if (n < pl || strncmp(w, pre, pl) != 0)
		return cidr_parse(w, n, c, NULL) == CIDR_INVALID ? -1 : (int)cb->n_ports;
	w += pl;
	n -= pl;
	if ((bar = memchr(w, '|', n)) == NULL || (plen = (size_t)(bar - w)) + 3 > n ||
	    strncmp(bar, "|s=", 3) != 0)
		return -1;
	for (size_t i = 0; i < cb->n_ports; i++)
		if (strlen(cb->port[i]) == plen && memcmp(cb->port[i], w, plen) == 0)
			return cidr_parse(bar + 3, n - plen - 3, c, NULL) == CIDR_INVALID ? -1
											  : (int)i;
	return -1;
}

/*
 * The prefixes of one of our files into sets: the allow file's per port (sets[0] alone when
 * every port), the ignore file's into sets[0]. *bad: a line this configuration does not
 * write (the file then reads as empty and is rewritten).
 */
static int parse_own(const struct csf_backend *cb, int which, char *text, struct ranges **sets,
		     bool *bad, struct cda_error *err)
{
	char *pos = text, *l;

	while ((l = textbuf_next_line(&pos)) != NULL) {
		struct cidr c;
		size_t n;
		int k;

		l += strspn(l, " \t");
		n = strcspn(l, " \t#\r");
		if (n == 0)
			continue; /* blank or comment */
		if (which == ALLOW)
			k = allow_word(cb, l, n, &c);
		else
			k = cidr_parse(l, n, &c, NULL) == CIDR_INVALID || !cb->lfd_ignore ? -1 : 0;
		if (k < 0 || (k == (int)cb->n_ports && cb->n_ports > 0)) {
			*bad = true;
			continue;
		}
		if (ranges_add_cidr(sets[k == (int)cb->n_ports ? 0 : k], &c) < 0)
			return cda_error_sys(err, CDA_ESYS, "reading the csf list");
	}
	return 0;
}

/* What one of our files gives csf: its prefixes when csf includes it, else nothing. */
static int read_one(struct csf_backend *cb, int i, struct ranges **sets, size_t n_sets, bool *bad,
		    struct cda_error *err)
{
	char *csf = NULL, *own = NULL;
	size_t len;
	int rc, ret = -1;

	if ((rc = subproc_slurp(cb->csf_file[i], &csf, &len, err)) < 0)
		goto out;
	if (rc == 0 && has_include(csf, cb->own[i])) {
		if ((rc = subproc_slurp(cb->own[i], &own, &len, err)) < 0)
			goto out;
		if (rc == 0 && parse_own(cb, i, own, sets, bad, err) < 0)
			goto out;
	}
	for (size_t k = 0; k < n_sets; k++)
		ranges_normalize(sets[k]);
	ret = 0;
out:
	free(csf);
	free(own);
	return ret;
}

/* *acc = *acc and b (address level); *acc replaced. */
static int narrow(struct ranges **acc, const struct ranges *b)
{
	struct ranges *t = NULL;

	if (ranges_intersect(*acc, b, &t) < 0)
		return -1;
	ranges_free(*acc);
	*acc = t;
	return 0;
}

/* What csf accepts on every configured port (and, with lfd_ignore, lfd ignores too). */
static int csf_read(struct backend *be, struct ranges *cur, struct cda_error *err)
{
	struct csf_backend *cb = csf_from_base(be);
	size_t n = cb->n_ports > 0 ? cb->n_ports : 1;
	struct ranges *sets[MAX_PORTS + 1] = {NULL}, *acc = NULL;
	bool bad = false;
	int ret = -1;

	for (size_t k = 0; k <= n; k++)
		if ((sets[k] = ranges_new()) == NULL)
			goto oom;
	if (read_one(cb, ALLOW, sets, n, &bad, err) < 0 ||
	    read_one(cb, IGNORE, sets + n, 1, &bad, err) < 0)
		goto out;
	ret = 0;
	if (bad)
		goto out; /* not in our form: empty, so the next apply rewrites it */
	acc = sets[0];
	sets[0] = NULL;
	for (size_t k = 1; k < n; k++)
		if (narrow(&acc, sets[k]) < 0)
			goto oom;
	if ((cb->lfd_ignore && narrow(&acc, sets[n]) < 0) || ranges_add_all(cur, acc) < 0)
		goto oom;
	ranges_normalize(cur);
	goto out;
oom:
	ret = cda_error_sys(err, CDA_ESYS, "reading the csf lists");
out:
	for (size_t k = 0; k <= n; k++)
		ranges_free(sets[k]);
	ranges_free(acc);
	return ret;
}

/* ---- applying ---- */

/* One of our files and the csf file that may include it: as found, and as wanted. */
struct csf_pair {
	struct textbuf want; /* what our file should hold */
	char *own, *csf;     /* our file and csf's, as read (NULL: missing) */
	size_t own_len, csf_len;
	bool inc;      /* csf's file names ours */
	bool need_inc; /* and must */
	bool manage;   /* we write ours (else it is left alone, absent) */
	bool written;
};

static void render_line(struct textbuf *b, const char *port, const char *cidr, const char *src)
{
	if (port != NULL)
		textbuf_printf(b, "tcp|in|d=%s|s=", port);
	textbuf_printf(b, "%s # cdnallow%s%.100s\n", cidr, src != NULL ? " source " : "",
		       src != NULL ? src : "");
}

/* Both files' wanted text. */
static int render(struct csf_backend *cb, const struct backend_input *in, struct csf_pair *p,
		  struct cda_error *err)
{
	struct textbuf *a = &p[ALLOW].want, *g = &p[IGNORE].want;
	struct cidr_list cl = {0};

	for (int i = 0; i < 2; i++)
		textbuf_printf(&p[i].want,
			       "# Generated by cdnallow (target %.100s). Do not edit: it is "
			       "rewritten.\n",
			       cb->name);
	if (cb->n_ports > 0) {
		textbuf_printf(a, "# Only TCP ports ");
		for (size_t k = 0; k < cb->n_ports; k++) {
			char shown[PORT_TEXT], *u;

			snprintf(shown, sizeof(shown), "%s", cb->port[k]);
			if ((u = strchr(shown, '_')) != NULL)
				*u = '-';
			textbuf_printf(a, "%s%s", k > 0 ? ", " : "", shown);
		}
		textbuf_printf(a, " (ports =).\n");
	}
	if (!cb->lfd_ignore)
		textbuf_printf(g, "# lfd_ignore = no: nothing here.\n");
	if (ranges_to_cidrs(in->want, &cl) < 0)
		a->oom = true;
	for (size_t i = 0; i < cl.n; i++) {
		const char *src = backend_source_of(in->srcs, in->n_srcs, &cl.v[i]);
		char c[CIDR_STRLEN];

		cidr_format(&cl.v[i], c);
		for (size_t k = 0; k < cb->n_ports; k++)
			render_line(a, cb->port[k], c, src);
		if (cb->n_ports == 0)
			render_line(a, NULL, c, src);
		if (cb->lfd_ignore)
			render_line(g, NULL, c, src);
	}
	cidr_list_finish(&cl);
	if (a->oom || g->oom) {
		errno = ENOMEM;
		return cda_error_sys(err, CDA_ESYS, "building the csf list");
	}
	return 0;
}

static mode_t mode_of(const char *path, mode_t def)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_mode & 07777 : def;
}

/* Append "Include own" to csf's file, keeping every byte it has. */
static int add_include(const char *csf_path, const char *csf_text, size_t len, const char *own,
		       struct cda_error *err)
{
	struct textbuf b = {0};
	int ret;

	textbuf_add(&b, csf_text, len);
	if (len > 0 && csf_text[len - 1] != '\n')
		textbuf_printf(&b, "\n");
	textbuf_printf(&b, "Include %s\n", own);
	if (b.oom) {
		free(b.p);
		errno = ENOMEM;
		return cda_error_sys(err, CDA_ESYS, "adding the Include line to %s", csf_path);
	}
	ret = atomicfile_write(csf_path, mode_of(csf_path, 0600), b.p, b.len, err);
	free(b.p);
	if (ret < 0)
		cda_error_at(err, csf_path, 0);
	return ret;
}

/* Read our file i and csf's: whether we manage ours, whether csf names it. */
static int load_pair(struct csf_backend *cb, int i, struct csf_pair *p, struct cda_error *err)
{
	int rc = subproc_slurp(cb->csf_file[i], &p->csf, &p->csf_len, err);

	if (rc < 0)
		return -1;
	p->need_inc = i == ALLOW || cb->lfd_ignore;
	if (rc == 1 && p->need_inc) {
		cda_error_set(err, CDA_EAPPLY, "%s does not exist (is csf installed?)",
			      cb->csf_file[i]);
		return cda_error_at(err, cb->csf_file[i], 0);
	}
	p->inc = rc == 0 && has_include(p->csf, cb->own[i]);
	if (subproc_slurp(cb->own[i], &p->own, &p->own_len, err) < 0)
		return -1;
	/* the ignore file when lfd_ignore is off: emptied if present or named, else left out */
	p->manage = p->need_inc || p->own != NULL || p->inc;
	return 0;
}

static bool pair_in_place(const struct csf_pair *p)
{
	return !p->manage ||
	       ((p->inc || !p->need_inc) && p->own != NULL && p->own_len == p->want.len &&
		memcmp(p->own, p->want.p, p->want.len) == 0);
}

static int write_own(const char *path, const char *data, size_t len, struct cda_error *err)
{
	if (atomicfile_write(path, mode_of(path, 0600), data, len, err) < 0)
		return cda_error_at(err, path, 0);
	return 0;
}

static int csf_apply(struct backend *be, const struct backend_input *in, struct cda_error *err)
{
	struct csf_backend *cb = csf_from_base(be);
	struct csf_pair p[2] = {0};
	struct subproc_out r;
	int ret = -1;

	if (render(cb, in, p, err) < 0 || load_pair(cb, ALLOW, &p[ALLOW], err) < 0 ||
	    load_pair(cb, IGNORE, &p[IGNORE], err) < 0)
		goto out;
	if (pair_in_place(&p[ALLOW]) && pair_in_place(&p[IGNORE])) {
		ret = 0; /* already in place: no write, no reload */
		goto out;
	}
	/* Our files first, so an Include never names a missing file. */
	for (int i = 0; i < 2; i++) {
		p[i].written = p[i].manage; /* a failed write may have renamed (dir sync) */
		if (p[i].manage && write_own(cb->own[i], p[i].want.p, p[i].want.len, err) < 0)
			goto undo;
	}
	for (int i = 0; i < 2; i++)
		if (p[i].need_inc && !p[i].inc &&
		    add_include(cb->csf_file[i], p[i].csf, p[i].csf_len, cb->own[i], err) < 0)
			goto undo;
	if (subproc_run_ok(cb->reload, NULL, 0, cb->cmd_timeout, &r, err) < 0) {
		size_t n = strlen(err->msg);

		snprintf(err->msg + n, sizeof(err->msg) - n, "; our lists were put back");
		goto undo;
	}
	subproc_out_finish(&r);
	ret = 0;
	goto out;
undo:
	/* Put our files back as they were (header only when they did not exist: an Include may
	 * name them), so the next run sees the difference and tries again. */
	for (int i = 0; i < 2; i++) {
		struct cda_error ignored = {0};

		if (p[i].written)
			write_own(cb->own[i], p[i].own != NULL ? p[i].own : p[i].want.p,
				  p[i].own != NULL ? p[i].own_len : strcspn(p[i].want.p, "\n") + 1,
				  &ignored);
	}
out:
	for (int i = 0; i < 2; i++) {
		free(p[i].own);
		free(p[i].csf);
		free(p[i].want.p);
	}
	return ret;
}

static int csf_verify(struct backend *be, const struct ranges *want, struct cda_error *err)
{
	struct csf_backend *cb = csf_from_base(be);

	return backend_verify_cover(be, want, "the csf lists",
				    "read back differs from what was applied", cb->own[0], err);
}

static void csf_claims(struct backend *be, struct textbuf *out)
{
	struct csf_backend *cb = csf_from_base(be);

	textbuf_printf(out, "file %s\nfile %s\n", cb->own[0], cb->own[1]);
}

const struct backend_ops csf_backend_ops = {
	.name = "csf",
	.keys = csf_keys,
	.open = csf_open,
	.read = csf_read,
	.apply = csf_apply,
	.verify = csf_verify,
	.claims = csf_claims,
	.close = csf_close,
};
