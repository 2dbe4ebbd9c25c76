// SPDX-License-Identifier: MIT
/* The csf backend: our allow and ignore files, the Include lines, the reload. */
#include "backend.h"

#include <sys/stat.h>
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
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
 * CSF reads csf.allow (firewall accepts) and csf.ignore (lfd never blocks) and expands
 * "Include /path" lines in both. We own two files of our own, written atomically, add one
 * Include line to each of csf.allow and csf.ignore (every other byte kept), then reload.
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
	"allow_file", "ignore_file", "csf_allow", "csf_ignore", "csf", "reload", NULL,
};

struct csf_backend {
	struct backend base;
	char *name;	     /* target name, for the file header */
	char *own[2];	     /* our allow and ignore files */
	char *csf_file[2];   /* csf.allow, csf.ignore */
	char **reload;	     /* argv */
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

static int csf_open(struct backend **out, const struct target_config *tc,
		    const struct backend_env *env, struct cda_error *err)
{
	static const char *const keys[4] = {"allow_file", "ignore_file", "csf_allow", "csf_ignore"};
	static const char *const defs[4] = {"/etc/csf/cdnallow.allow", "/etc/csf/cdnallow.ignore",
					    "/etc/csf/csf.allow", "/etc/csf/csf.ignore"};
	const char *csf = target_get(tc, "csf"), *reload = target_get(tc, "reload");
	struct csf_backend *cb;
	char *paths[4] = {NULL};

	if ((cb = calloc(1, sizeof(*cb))) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the csf backend");
	cb->base.ops = &csf_backend_ops;
	if ((cb->name = strdup(tc->name != NULL ? tc->name : "csf")) == NULL)
		goto oom;
	for (int i = 0; i < 4; i++) {
		const char *v = target_get(tc, keys[i]);

		if (v == NULL)
			v = defs[i];
		if (v[0] != '/' || strchr(v, '\n') != NULL) {
			backend_bad_value(err, tc, keys[i], "expected an absolute path");
			goto fail;
		}
		if ((paths[i] = strdup(v)) == NULL)
			goto oom;
	}
	cb->own[0] = paths[0];
	cb->own[1] = paths[1];
	cb->csf_file[0] = paths[2];
	cb->csf_file[1] = paths[3];
	if (strcmp(cb->own[0], cb->own[1]) == 0) {
		backend_bad_value(err, tc, "ignore_file", "must differ from allow_file");
		goto fail;
	}
	for (int i = 0; i < 2; i++) {
		if (strcmp(cb->own[i], cb->csf_file[0]) == 0 ||
		    strcmp(cb->own[i], cb->csf_file[1]) == 0) {
			backend_bad_value(err, tc, keys[i], "must not be csf's own file");
			goto fail;
		}
	}
	if (csf != NULL && !backend_command_ok(csf)) {
		backend_bad_value(err, tc, "csf", "expected a command name or path");
		goto fail;
	}
	if (reload != NULL) {
		if ((cb->reload = subproc_split(reload, NULL)) == NULL) {
			if (errno == ENOMEM)
				goto oom;
			backend_bad_value(err, tc, "reload",
					  "expected a command (unbalanced quote?)");
			goto fail;
		}
	} else {
		if ((cb->reload = calloc(3, sizeof(*cb->reload))) == NULL ||
		    (cb->reload[0] = strdup(csf != NULL ? csf : "csf")) == NULL ||
		    (cb->reload[1] = strdup("-ra")) == NULL)
			goto oom;
	}
	*out = &cb->base;
	return 0;
oom:
	cda_error_sys(err, CDA_ESYS, "allocating the csf backend");
fail:
	for (int i = 0; i < 4; i++)
		if (cb->own[0] == NULL)
			free(paths[i]);
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

/* The CIDRs of one of our files ("CIDR # comment" lines) into r. */
static int parse_own(char *text, struct ranges *r, struct cda_error *err)
{
	char *pos = text, *l;

	while ((l = textbuf_next_line(&pos)) != NULL) {
		struct cidr c;
		size_t n;

		l += strspn(l, " \t");
		n = strcspn(l, " \t#\r");
		if (n == 0 || cidr_parse(l, n, &c, NULL) == CIDR_INVALID)
			continue; /* comments; anything else is not ours and is rewritten */
		if (ranges_add_cidr(r, &c) < 0)
			return cda_error_sys(err, CDA_ESYS, "reading the csf list");
	}
	return 0;
}

/* What one of our files gives csf: its CIDRs when csf includes it, else nothing. */
static int read_one(struct csf_backend *cb, int i, struct ranges *r, struct cda_error *err)
{
	char *csf = NULL, *own = NULL;
	size_t len;
	int rc;

	if ((rc = subproc_slurp(cb->csf_file[i], &csf, &len, err)) < 0)
		return -1;
	if (rc == 0 && has_include(csf, cb->own[i])) {
		if ((rc = subproc_slurp(cb->own[i], &own, &len, err)) < 0)
			goto fail;
		if (rc == 0 && parse_own(own, r, err) < 0)
			goto fail;
	}
	free(csf);
	free(own);
	ranges_normalize(r);
	return 0;
fail:
	free(csf);
	free(own);
	return -1;
}

/* The list both csf (allow) and lfd (ignore) apply: the intersection of the two files. */
static int csf_read(struct backend *be, struct ranges *cur, struct cda_error *err)
{
	struct csf_backend *cb = csf_from_base(be);
	struct ranges *a = ranges_new(), *b = ranges_new(), *both = NULL;
	int ret = -1;

	if (a == NULL || b == NULL) {
		cda_error_sys(err, CDA_ESYS, "reading the csf lists");
		goto out;
	}
	if (read_one(cb, 0, a, err) < 0 || read_one(cb, 1, b, err) < 0)
		goto out;
	if (ranges_intersect(a, b, &both) < 0 || ranges_add_all(cur, both) < 0) {
		cda_error_sys(err, CDA_ESYS, "reading the csf lists");
		goto out;
	}
	ranges_normalize(cur);
	ret = 0;
out:
	ranges_free(a);
	ranges_free(b);
	ranges_free(both);
	return ret;
}

/* ---- applying ---- */

static int render(struct csf_backend *cb, const struct backend_input *in, struct textbuf *b,
		  struct cda_error *err)
{
	struct cidr_list cl = {0};

	textbuf_printf(b,
		       "# Generated by cdnallow (target %.100s). Do not edit: it is rewritten.\n",
		       cb->name);
	if (ranges_to_cidrs(in->want, &cl) < 0)
		b->oom = true;
	for (size_t i = 0; i < cl.n; i++) {
		const char *src = backend_source_of(in->srcs, in->n_srcs, &cl.v[i]);
		char c[CIDR_STRLEN];

		textbuf_printf(b, "%s # cdnallow%s%.100s\n", cidr_format(&cl.v[i], c),
			       src != NULL ? " source " : "", src != NULL ? src : "");
	}
	cidr_list_finish(&cl);
	if (b->oom) {
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

static int csf_apply(struct backend *be, const struct backend_input *in, struct cda_error *err)
{
	struct csf_backend *cb = csf_from_base(be);
	char *old[2] = {NULL}, *csf[2] = {NULL};
	size_t old_len[2] = {0}, csf_len[2] = {0};
	bool had[2] = {false}, inc[2] = {false}, same = true;
	struct textbuf b = {0};
	struct subproc_out r;
	int ret = -1, rc;

	if (render(cb, in, &b, err) < 0)
		goto out;
	for (int i = 0; i < 2; i++) {
		if ((rc = subproc_slurp(cb->csf_file[i], &csf[i], &csf_len[i], err)) < 0)
			goto out;
		if (rc == 1) {
			cda_error_set(err, CDA_EAPPLY, "%s does not exist (is csf installed?)",
				      cb->csf_file[i]);
			cda_error_at(err, cb->csf_file[i], 0);
			goto out;
		}
		inc[i] = has_include(csf[i], cb->own[i]);
		if ((rc = subproc_slurp(cb->own[i], &old[i], &old_len[i], err)) < 0)
			goto out;
		had[i] = rc == 0;
		if (!inc[i] || !had[i] || old_len[i] != b.len || memcmp(old[i], b.p, b.len) != 0)
			same = false;
	}
	if (same) {
		ret = 0; /* already in place: no write, no reload */
		goto out;
	}
	/* Our files first, so an Include never names a missing file. */
	for (int i = 0; i < 2; i++) {
		if (atomicfile_write(cb->own[i], mode_of(cb->own[i], 0600), b.p, b.len, err) < 0) {
			cda_error_at(err, cb->own[i], 0);
			goto undo;
		}
	}
	for (int i = 0; i < 2; i++)
		if (!inc[i] && add_include(cb->csf_file[i], csf[i], csf_len[i], cb->own[i], err) < 0)
			goto undo;
	if (subproc_run_ok(cb->reload, NULL, 0, &r, err) < 0) {
		size_t n = strlen(err->msg);

		snprintf(err->msg + n, sizeof(err->msg) - n, "; our lists were put back");
		goto undo;
	}
	subproc_out_finish(&r);
	ret = 0;
	goto out;
undo:
	/* Put our two files back as they were (header only when they did not exist: an Include
	 * may name them), so the next run sees the difference and tries again. */
	for (int i = 0; i < 2; i++) {
		struct cda_error ignored = {0};
		size_t hl = strcspn(b.p, "\n") + 1;

		atomicfile_write(cb->own[i], mode_of(cb->own[i], 0600), had[i] ? old[i] : b.p,
				 had[i] ? old_len[i] : hl, &ignored);
	}
out:
	for (int i = 0; i < 2; i++) {
		free(old[i]);
		free(csf[i]);
	}
	free(b.p);
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
