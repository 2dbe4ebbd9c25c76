// SPDX-License-Identifier: MIT
/* The fail2ban backend: each jail's ignoreip, live and in a jail.d drop-in. */
/* Over 600 lines as one file: every part serves only its apply (a split would add a header). */
#include "backend.h"

#include <assert.h>
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cda_error.h"
#include "config.h"
#include "ranges.h"
#include "subproc.h"
#include "textbuf.h"

/*
 * Fail2Ban 1.0.2 has no "ignoreip = file:..." (1.1 added it), so the list goes two ways:
 * - live: `set JAIL addignoreip` for what a jail lacks, `delignoreip` for what we added before
 *   and is withdrawn now (never the admin's own entries);
 * - persistent: a jail.d drop-in, read last, with one section per jail:
 *       [JAIL]
 *       ignoreip = %(known/ignoreip)s <ranges>
 *   because a jail's own ignoreip replaces [DEFAULT]'s: "known/" extends whatever the jail
 *   had before our file (its own value, else [DEFAULT]'s). When no file sets a [DEFAULT]
 *   ignoreip, "known/" cannot resolve, so the drop-in then sets an empty one itself.
 * The drop-in is checked with `fail2ban-client -d` (parses the whole configuration) before the
 * live change; a failure puts the old drop-in back. The drop-in also records what we added,
 * and to which jails: a jail it names that is no longer managed loses, live, what we gave it.
 *
 * Which jails: `jails =`, else the running web jails, those whose name holds one of
 * web_words. Ignoring a CDN address is right where the CDN proxies visitors (a web jail would
 * otherwise ban the proxy, and with it every visitor behind it) and wrong everywhere else:
 * the CDN's ranges also carry anyone who runs code on its network, and sshd or a mail jail
 * must keep banning them. No web jail and no `jails =` is a configuration error.
 */

/* A jail whose name holds one of these (any case) is a web jail, managed by default. */
static const char *const web_words[] = {
	"apache",  "nginx", "lighttpd", "litespeed", "caddy",  "traefik",
	"haproxy", "http",  "php",      "wordpress", "drupal", NULL,
};

static const char *const fail2ban_keys[] = {
	"jails", "client", "socket", "conf_dir", "dropin", "command_timeout", NULL,
};

#define ADD_CHUNK 256 /* prefixes per addignoreip call */

struct fail2ban_backend {
	struct backend base;
	char *name;
	char *client;
	unsigned int cmd_timeout; /* seconds each client call may take */
	char *socket;	/* NULL: the client's default */
	char *conf_dir;
	char *dropin;
	char **jails;	/* NULL: the running web jails */
	size_t n_jails;
	char *config_path; /* for the error when no web jail runs */
	unsigned int line;
};

static struct fail2ban_backend *fail2ban_from_base(struct backend *be)
{
	assert(be != NULL && be->ops == &fail2ban_backend_ops);
	return (struct fail2ban_backend *)be;
}

/* ---- config ---- */

static bool jail_name_ok(const char *s)
{
	if (*s == '\0' || *s == '-')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("_-.@", *s) != NULL))
			return false;
	return true;
}

static void fail2ban_close(struct backend *be)
{
	struct fail2ban_backend *fb;

	if (be == NULL)
		return;
	fb = fail2ban_from_base(be);
	free(fb->name);
	free(fb->client);
	free(fb->socket);
	free(fb->conf_dir);
	free(fb->dropin);
	free(fb->config_path);
	config_free_words(fb->jails);
	free(fb);
}

static int fail2ban_open(struct backend **out, const struct target_config *tc,
			 const struct backend_env *env, struct cda_error *err)
{
	const char *client = target_get(tc, "client"), *sock = target_get(tc, "socket");
	const char *conf = target_get(tc, "conf_dir"), *dropin = target_get(tc, "dropin");
	const char *jails = target_get(tc, "jails");
	struct fail2ban_backend *fb;

	if ((fb = calloc(1, sizeof(*fb))) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the fail2ban backend");
	fb->base.ops = &fail2ban_backend_ops;
	if (client != NULL && !backend_command_ok(client)) {
		backend_bad_value(err, tc, "client", "expected a command name or path");
		goto fail;
	}
	if (backend_command_timeout(tc, SUBPROC_TIMEOUT, &fb->cmd_timeout, err) < 0)
		goto fail;
	if (sock != NULL && sock[0] != '/') {
		backend_bad_value(err, tc, "socket", "expected an absolute path");
		goto fail;
	}
	if (conf != NULL && conf[0] != '/') {
		backend_bad_value(err, tc, "conf_dir", "expected an absolute path");
		goto fail;
	}
	if (dropin != NULL && (dropin[0] != '/' || strlen(dropin) < 7 ||
			       strcmp(dropin + strlen(dropin) - 6, ".local") != 0)) {
		backend_bad_value(err, tc, "dropin", "expected an absolute path ending in .local");
		goto fail;
	}
	if ((fb->name = strdup(tc->name != NULL ? tc->name : "fail2ban")) == NULL ||
	    (fb->client = strdup(client != NULL ? client : "fail2ban-client")) == NULL ||
	    (sock != NULL && (fb->socket = strdup(sock)) == NULL) ||
	    (fb->conf_dir = strdup(conf != NULL ? conf : "/etc/fail2ban")) == NULL ||
	    (tc->config_path != NULL && (fb->config_path = strdup(tc->config_path)) == NULL))
		goto oom;
	fb->line = tc->line;
	if (dropin != NULL)
		fb->dropin = strdup(dropin);
	else if (asprintf(&fb->dropin, "%s/jail.d/zz-cdnallow.local", fb->conf_dir) < 0)
		fb->dropin = NULL;
	if (fb->dropin == NULL)
		goto oom;
	if (jails != NULL) {
		if ((fb->jails = config_split_words(jails, &fb->n_jails)) == NULL)
			goto oom;
		for (size_t i = 0; i < fb->n_jails; i++) {
			if (!jail_name_ok(fb->jails[i])) {
				backend_bad_value(err, tc, "jails", "expected jail names");
				goto fail;
			}
		}
		if (fb->n_jails == 0) {
			backend_bad_value(err, tc, "jails", "expected at least one jail");
			goto fail;
		}
	}
	*out = &fb->base;
	return 0;
oom:
	cda_error_sys(err, CDA_ESYS, "allocating the fail2ban backend");
fail:
	fail2ban_close(&fb->base);
	return -1;
}

/* ---- the client ---- */

/* fail2ban-client -c CONF [-s SOCK] args...; stdout in r on exit 0. */
static int client(struct fail2ban_backend *fb, const char *const *args, size_t n,
		  struct subproc_out *r, struct cda_error *err)
{
	char **argv = calloc(n + 6, sizeof(*argv));
	size_t k = 0;
	int ret;

	if (argv == NULL) {
		cda_error_sys(err, CDA_ESYS, "running %s", fb->client);
		return -1; /* r untouched: callers only read it on 0 */
	}
	argv[k++] = fb->client;
	argv[k++] = "-c";
	argv[k++] = fb->conf_dir;
	if (fb->socket != NULL) {
		argv[k++] = "-s";
		argv[k++] = fb->socket;
	}
	for (size_t i = 0; i < n; i++)
		argv[k++] = (char *)args[i];
	argv[k] = NULL;
	ret = subproc_run_ok(argv, NULL, 0, fb->cmd_timeout, r, err);
	free(argv);
	return ret;
}

static bool web_jail(const char *name)
{
	for (const char *const *w = web_words; *w != NULL; w++)
		if (strcasestr(name, *w) != NULL)
			return true;
	return false;
}

/* Keep the web jails of v (n of them), in place. -1: none, CDA_ECONFIG at the target. */
static int keep_web_jails(struct fail2ban_backend *fb, char **v, size_t *n, struct cda_error *err)
{
	size_t k = 0;

	for (size_t i = 0; i < *n; i++) {
		if (web_jail(v[i]))
			v[k++] = v[i];
		else
			free(v[i]);
	}
	v[k] = NULL;
	*n = k;
	if (k > 0)
		return 0;
	cda_error_set(err, CDA_ECONFIG,
		      "jails: fail2ban runs no web jail (a name with apache, nginx, http, php, "
		      "wordpress...); name the jails to give the ranges to with jails =");
	return cda_error_at(err, fb->config_path, fb->line);
}

/* Jails to manage: the configured ones, else the running web jails. NULL-terminated copy. */
static char **jail_list(struct fail2ban_backend *fb, size_t *n, struct cda_error *err)
{
	const char *args[] = {"status"};
	struct subproc_out r;
	char **v, *list;

	if (fb->jails != NULL) {
		if ((v = calloc(fb->n_jails + 1, sizeof(*v))) == NULL)
			goto oom;
		for (size_t i = 0; i < fb->n_jails; i++)
			if ((v[i] = strdup(fb->jails[i])) == NULL) {
				config_free_words(v);
				goto oom;
			}
		*n = fb->n_jails;
		return v;
	}
	if (client(fb, args, 1, &r, err) < 0)
		return NULL;
	list = strstr(r.out, "Jail list:");
	if (list == NULL) {
		subproc_out_finish(&r);
		cda_error_set(err, CDA_EAPPLY, "`%s status`: no jail list in its output", fb->client);
		return NULL;
	}
	list += strlen("Jail list:");
	list[strcspn(list, "\n")] = '\0';
	for (char *p = list; *p; p++)
		if (*p == '\t')
			*p = ' ';
	v = config_split_words(list, n);
	subproc_out_finish(&r);
	if (v == NULL)
		goto oom;
	if (keep_web_jails(fb, v, n, err) < 0) {
		config_free_words(v);
		return NULL;
	}
	return v;
oom:
	cda_error_sys(err, CDA_ESYS, "listing fail2ban jails");
	return NULL;
}

/* `get JAIL ignoreip`: the prefixes (DNS names skipped) into l. */
static int live_ignores(struct fail2ban_backend *fb, const char *jail, struct cidr_list *l,
			struct cda_error *err)
{
	const char *args[] = {"get", jail, "ignoreip"};
	struct subproc_out r;
	char *pos, *line;

	if (client(fb, args, 3, &r, err) < 0)
		return -1;
	pos = r.out;
	while ((line = textbuf_next_line(&pos)) != NULL) {
		struct cidr c;
		size_t n;

		/* "|- 192.0.2.0/24" and "`- ::1" */
		if ((line[0] != '|' && line[0] != '`') || line[1] != '-')
			continue;
		line += 2;
		line += strspn(line, " \t");
		n = strcspn(line, " \t\r");
		if (n == 0 || cidr_parse(line, n, &c, NULL) == CIDR_INVALID)
			continue;
		if (cidr_list_push(l, &c) < 0) {
			subproc_out_finish(&r);
			return cda_error_sys(err, CDA_ESYS, "reading the ignoreip of %s", jail);
		}
	}
	subproc_out_finish(&r);
	return 0;
}

/* ---- the drop-in ---- */

/* The jail named by a "[NAME]" line into b (space-separated), [DEFAULT] skipped. */
static void add_section(struct textbuf *b, const char *line)
{
	size_t n = strcspn(line + 1, "]");

	if (line[1 + n] == ']' && n > 0 && !(n == 7 && strncmp(line + 1, "DEFAULT", 7) == 0))
		textbuf_printf(b, "%.*s ", (int)n, line + 1);
}

/*
 * What we applied last time: the prefixes on the drop-in's continuation lines into l, and
 * the jails it has a section for into *jails (NULL-terminated, *n of them; empty when there
 * is no drop-in).
 */
static int dropin_read(struct fail2ban_backend *fb, struct cidr_list *l, char ***jails,
		       size_t *n_jails, struct cda_error *err)
{
	struct textbuf names = {0};
	char *text = NULL, *pos, *line;
	size_t len;
	int ret = -1;

	if (subproc_slurp(fb->dropin, &text, &len, err) < 0)
		return -1;
	pos = text;
	while ((line = textbuf_next_line(&pos)) != NULL) {
		struct cidr c;
		size_t n;

		if (line[0] == '[')
			add_section(&names, line);
		if (line[0] != '\t' && line[0] != ' ')
			continue;
		line += strspn(line, " \t");
		n = strcspn(line, " \t\r");
		if (n == 0 || cidr_parse(line, n, &c, NULL) == CIDR_INVALID)
			continue;
		if (cidr_list_push(l, &c) < 0)
			goto oom;
	}
	if (names.oom ||
	    (*jails = config_split_words(names.p != NULL ? names.p : "", n_jails)) == NULL)
		goto oom;
	ret = 0;
	goto out;
oom:
	cda_error_sys(err, CDA_ESYS, "reading %s", fb->dropin);
out:
	free(names.p);
	free(text);
	return ret;
}

static bool has_word(char *const *v, size_t n, const char *w)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], w) == 0)
			return true;
	return false;
}

static int cidr_qcmp(const void *a, const void *b)
{
	return cidr_cmp(a, b);
}

static void sort_unique(struct cidr_list *l)
{
	size_t k = 0;

	if (l->n == 0)
		return;
	qsort(l->v, l->n, sizeof(*l->v), cidr_qcmp);
	for (size_t i = 1; i < l->n; i++)
		if (cidr_cmp(&l->v[k], &l->v[i]) != 0)
			l->v[++k] = l->v[i];
	l->n = k + 1;
}

static bool in_list(const struct cidr_list *l, const struct cidr *c)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = cidr_cmp(&l->v[mid], c);

		if (d == 0)
			return true;
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Whether some jail configuration file before our drop-in sets ignoreip in [DEFAULT]. */
static bool default_has_ignoreip(struct fail2ban_backend *fb)
{
	static const char *const pats[] = {"jail.conf", "jail.d/*.conf", "jail.local",
					   "jail.d/*.local"};
	bool found = false;

	for (size_t p = 0; p < 4 && !found; p++) {
		char pat[4096];
		glob_t g;

		if (snprintf(pat, sizeof(pat), "%s/%s", fb->conf_dir, pats[p]) >= (int)sizeof(pat) ||
		    glob(pat, 0, NULL, &g) != 0)
			continue;
		for (size_t i = 0; i < g.gl_pathc && !found; i++) {
			char *text, *pos, *line;
			bool in_default = false;
			size_t len;

			if (strcmp(g.gl_pathv[i], fb->dropin) == 0 ||
			    subproc_slurp(g.gl_pathv[i], &text, &len, NULL) != 0)
				continue;
			pos = text;
			while (!found && (line = textbuf_next_line(&pos)) != NULL) {
				if (line[0] == '[')
					in_default = strncmp(line, "[DEFAULT]", 9) == 0;
				else if (in_default && strncmp(line, "ignoreip", 8) == 0 &&
					 strchr(" \t=:", line[8]) != NULL)
					found = true;
			}
			free(text);
		}
		globfree(&g);
	}
	return found;
}

static int render_dropin(struct fail2ban_backend *fb, char **jails, size_t n_jails,
			 const struct cidr_list *want, struct textbuf *b, struct cda_error *err)
{
	textbuf_printf(
		b,
		"# Generated by cdnallow (target %.100s). Do not edit: it is rewritten.\n"
		"# Each jail keeps its own ignoreip (or [DEFAULT]'s) and gets the CDN ranges.\n",
		fb->name);
	if (!default_has_ignoreip(fb))
		textbuf_printf(b,
			       "\n[DEFAULT]\n# No other file sets one; \"known/\" below needs it.\n"
			       "ignoreip =\n");
	for (size_t j = 0; j < n_jails; j++) {
		textbuf_printf(b, "\n[%.100s]\nignoreip = %%(known/ignoreip)s\n", jails[j]);
		for (size_t i = 0; i < want->n; i++) {
			char c[CIDR_STRLEN];

			textbuf_printf(b, "\t%s\n", cidr_format(&want->v[i], c));
		}
	}
	if (b->oom) {
		errno = ENOMEM;
		return cda_error_sys(err, CDA_ESYS, "building %s", fb->dropin);
	}
	return 0;
}

/* ---- reading ---- */

/* Whether the drop-in's jails are the managed ones (in any order). */
static bool same_jails(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!has_word(b, nb, a[i]))
			return false;
	return true;
}

/* What we applied (the drop-in) that every managed jail holds live; nothing when the
 * drop-in is for other jails (the next apply rewrites it). */
static int fail2ban_read(struct backend *be, struct ranges *cur, struct cda_error *err)
{
	struct fail2ban_backend *fb = fail2ban_from_base(be);
	struct cidr_list ours = {0};
	size_t n_jails = 0, n_old = 0;
	char **jails = NULL, **old = NULL;
	int ret = -1;

	if (dropin_read(fb, &ours, &old, &n_old, err) < 0 ||
	    (jails = jail_list(fb, &n_jails, err)) == NULL)
		goto out;
	sort_unique(&ours);
	if (!same_jails(old, n_old, jails, n_jails))
		ours.n = 0;
	for (size_t j = 0; j < n_jails && ours.n > 0; j++) {
		struct cidr_list live = {0};
		size_t k = 0;

		if (live_ignores(fb, jails[j], &live, err) < 0) {
			cidr_list_finish(&live);
			goto out;
		}
		sort_unique(&live);
		for (size_t i = 0; i < ours.n; i++)
			if (in_list(&live, &ours.v[i]))
				ours.v[k++] = ours.v[i];
		ours.n = k;
		cidr_list_finish(&live);
	}
	for (size_t i = 0; i < ours.n; i++) {
		if (ranges_add_cidr(cur, &ours.v[i]) < 0) {
			cda_error_sys(err, CDA_ESYS, "reading the fail2ban jails");
			goto out;
		}
	}
	ranges_normalize(cur);
	ret = 0;
out:
	cidr_list_finish(&ours);
	config_free_words(jails);
	config_free_words(old);
	return ret;
}

/* ---- applying ---- */

/* One jail's change: add what it lacks, delete what we added before and is withdrawn. */
struct jail_plan {
	struct cidr_list add, del;
	size_t added, deleted; /* done so far, for the undo */
};

static int set_cmd(struct fail2ban_backend *fb, const char *jail, const char *op,
		   const struct cidr *v, size_t n, struct cda_error *err)
{
	char (*txt)[CIDR_STRLEN] = calloc(n, sizeof(*txt));
	const char **args = calloc(n + 3, sizeof(*args));
	struct subproc_out r;
	int ret = -1;

	if (txt == NULL || args == NULL) {
		cda_error_sys(err, CDA_ESYS, "running %s", fb->client);
		goto out;
	}
	args[0] = "set";
	args[1] = jail;
	args[2] = op;
	for (size_t i = 0; i < n; i++) {
		/* a host goes bare: fail2ban deletes "10.9.9.9" but not "10.9.9.9/32" */
		args[3 + i] = cidr_format(&v[i], txt[i]);
		if (v[i].plen == (v[i].family == CDA_AF_INET ? 32 : 128))
			*strchr(txt[i], '/') = '\0';
	}
	if (client(fb, args, n + 3, &r, err) == 0) {
		subproc_out_finish(&r);
		ret = 0;
	}
out:
	free(txt);
	free(args);
	return ret;
}

static int run_plan(struct fail2ban_backend *fb, const char *jail, struct jail_plan *p,
		    struct cda_error *err)
{
	while (p->added < p->add.n) {
		size_t n = p->add.n - p->added;

		if (n > ADD_CHUNK)
			n = ADD_CHUNK;
		if (set_cmd(fb, jail, "addignoreip", p->add.v + p->added, n, err) < 0)
			return -1;
		p->added += n;
	}
	for (; p->deleted < p->del.n; p->deleted++)
		if (set_cmd(fb, jail, "delignoreip", p->del.v + p->deleted, 1, err) < 0)
			return -1;
	return 0;
}

/* Best effort: take back what run_plan did. */
static void undo_plan(struct fail2ban_backend *fb, const char *jail, struct jail_plan *p)
{
	struct cda_error ignored = {0};

	for (size_t i = 0; i < p->added; i++)
		set_cmd(fb, jail, "delignoreip", p->add.v + i, 1, &ignored);
	if (p->deleted > 0)
		set_cmd(fb, jail, "addignoreip", p->del.v, p->deleted, &ignored);
}

/*
 * For each jail: what it lacks of want, and what we added before (prev) and withdraw now.
 * Jails from n_managed on are no longer managed: they lose all of prev they hold (none when
 * they do not run).
 */
static int plan_jails(struct fail2ban_backend *fb, char **jails, size_t n_managed, size_t n_all,
		      const struct cidr_list *want, const struct cidr_list *prev,
		      struct jail_plan *plans, struct cda_error *err)
{
	for (size_t j = 0; j < n_all; j++) {
		bool gone = j >= n_managed;
		struct cidr_list live = {0};
		struct cda_error ignored = {0};
		int rc = live_ignores(fb, jails[j], &live, gone ? &ignored : err);

		if (rc < 0 && gone)
			continue; /* not running: nothing of ours live */
		sort_unique(&live);
		for (size_t i = 0; rc == 0 && !gone && i < want->n; i++)
			if (!in_list(&live, &want->v[i]))
				rc = cidr_list_push(&plans[j].add, &want->v[i]);
		for (size_t i = 0; rc == 0 && i < prev->n; i++)
			if ((gone || !in_list(want, &prev->v[i])) && in_list(&live, &prev->v[i]))
				rc = cidr_list_push(&plans[j].del, &prev->v[i]);
		cidr_list_finish(&live);
		if (rc < 0) {
			if (err->code == CDA_OK)
				cda_error_sys(err, CDA_ESYS, "planning the fail2ban change");
			return -1;
		}
	}
	return 0;
}

/* The managed jails, then those the drop-in names and no longer managed (borrowed). */
static char **with_gone(char **jails, size_t n, char **old, size_t n_old, size_t *n_all)
{
	char **all = calloc(n + n_old + 1, sizeof(*all));
	size_t k = 0;

	if (all == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		all[k++] = jails[i];
	for (size_t i = 0; i < n_old; i++)
		if (!has_word(jails, n, old[i]))
			all[k++] = old[i];
	*n_all = k;
	return all;
}

/* Persistent part first, checked by fail2ban's own parser, the old one kept aside in kept;
 * *written: the drop-in was replaced (to be put back when a later step fails). */
static int write_dropin(struct fail2ban_backend *fb, char **jails, size_t n_jails,
			const struct cidr_list *want, struct atomicfile_prev *kept, bool *written,
			struct cda_error *err)
{
	const char *dump[] = {"-d"};
	struct textbuf b = {0};
	struct subproc_out r;
	char *old = NULL;
	size_t old_len = 0;
	int ret = -1, rc;

	if (render_dropin(fb, jails, n_jails, want, &b, err) < 0 ||
	    (rc = subproc_slurp(fb->dropin, &old, &old_len, err)) < 0)
		goto out;
	if (rc == 0 && old_len == b.len && memcmp(old, b.p, b.len) == 0) {
		ret = 0; /* already in place */
		goto out;
	}
	if (atomicfile_keep(kept, fb->dropin, rc == 0, err) < 0)
		goto out;
	*written = true; /* put back on failure: a failed write may have renamed (dir sync) */
	if (atomicfile_write(fb->dropin, 0644, b.p, b.len, err) < 0) {
		cda_error_at(err, fb->dropin, 0);
		goto out;
	}
	if (client(fb, dump, 1, &r, err) < 0) {
		size_t n = strlen(err->msg);

		snprintf(err->msg + n, sizeof(err->msg) - n, "; old drop-in put back");
		goto out;
	}
	subproc_out_finish(&r);
	ret = 0;
out:
	free(old);
	free(b.p);
	return ret;
}

static int fail2ban_apply(struct backend *be, const struct backend_input *in,
			  struct cda_error *err)
{
	struct fail2ban_backend *fb = fail2ban_from_base(be);
	struct cidr_list want = {0}, prev = {0};
	struct jail_plan *plans = NULL;
	struct atomicfile_prev kept = {0};
	char **jails = NULL, **old = NULL, **all = NULL;
	size_t n_jails = 0, n_old = 0, n_all = 0, done = 0;
	bool written = false;
	int ret = -1;

	if (ranges_to_cidrs(in->want, &want) < 0) {
		cda_error_sys(err, CDA_ESYS, "building the ignore list");
		goto out;
	}
	if (dropin_read(fb, &prev, &old, &n_old, err) < 0 ||
	    (jails = jail_list(fb, &n_jails, err)) == NULL)
		goto out;
	sort_unique(&prev);
	if ((all = with_gone(jails, n_jails, old, n_old, &n_all)) == NULL ||
	    (plans = calloc(n_all + 1, sizeof(*plans))) == NULL) {
		cda_error_sys(err, CDA_ESYS, "planning the fail2ban change");
		goto out;
	}
	if (plan_jails(fb, all, n_jails, n_all, &want, &prev, plans, err) < 0 ||
	    write_dropin(fb, jails, n_jails, &want, &kept, &written, err) < 0)
		goto out;
	for (; done < n_all; done++)
		if (run_plan(fb, all[done], &plans[done], err) < 0)
			break;
	if (done < n_all) {
		for (size_t j = 0; j <= done; j++)
			undo_plan(fb, all[j], &plans[j]);
		goto out;
	}
	written = false; /* keep it */
	ret = 0;
out:
	if (written)
		atomicfile_put_back(&kept);
	atomicfile_prev_finish(&kept);
	for (size_t j = 0; plans != NULL && j < n_all; j++) {
		cidr_list_finish(&plans[j].add);
		cidr_list_finish(&plans[j].del);
	}
	free(plans);
	free(all);
	config_free_words(jails);
	config_free_words(old);
	cidr_list_finish(&want);
	cidr_list_finish(&prev);
	return ret;
}

static int fail2ban_verify(struct backend *be, const struct ranges *want, struct cda_error *err)
{
	struct fail2ban_backend *fb = fail2ban_from_base(be);

	return backend_verify_cover(be, want, "the fail2ban jails",
				    "a jail's ignoreip lacks ranges that were applied", fb->dropin,
				    err);
}

static void fail2ban_claims(struct backend *be, struct textbuf *out)
{
	textbuf_printf(out, "file %s\n", fail2ban_from_base(be)->dropin);
}

const struct backend_ops fail2ban_backend_ops = {
	.name = "fail2ban",
	.keys = fail2ban_keys,
	.open = fail2ban_open,
	.read = fail2ban_read,
	.apply = fail2ban_apply,
	.verify = fail2ban_verify,
	.claims = fail2ban_claims,
	.close = fail2ban_close,
};
