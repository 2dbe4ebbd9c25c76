// SPDX-License-Identifier: MIT
/* The file backend: any list-shaped file, checked and its consumer reloaded. */
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
 * Any list-shaped file: header, one line per prefix from a template, footer; written
 * atomically, checked, then the consumer reloaded. The check sees either the temporary
 * ("{path}" in the command: nothing is renamed unless it passes) or, for checks that read the
 * real configuration (`nginx -t`), the new file in place with the old one kept as a hard link
 * and renamed back when the check or the reload fails. Either way a failure leaves the old
 * file, byte for byte, and the next run tries again.
 *
 * Reading takes the file only in the form apply writes: the header, then lines that match
 * the template, then the footer. Anything else reads as empty, so the next run rewrites it.
 * Matching is one pass: open() refuses templates whose placeholders could run into each
 * other or into the text after them, so each placeholder ends where its characters end.
 */

static const char *const file_keys[] = {
	"path", "line", "header", "footer", "mode", "check", "reload", "command_timeout", NULL,
};

struct file_backend {
	struct backend base;
	char *path;
	char *line;            /* template */
	char *header, *footer; /* unescaped, NULL: none */
	mode_t mode;
	bool mode_set; /* else an existing file keeps its mode (a new one: 0644) */
	char *check;   /* command lines, NULL: none */
	char *reload;
	unsigned int cmd_timeout; /* seconds each may take */
};

static struct file_backend *file_from_base(struct backend *be)
{
	assert(be != NULL && be->ops == &file_backend_ops);
	return (struct file_backend *)be;
}

/* ---- template ---- */

enum placeholder { PH_NONE, PH_CIDR, PH_SOURCE, PH_FAMILY };

#define CIDR_CHARS "0123456789abcdefABCDEF.:/"
#define SOURCE_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_-" /* source names */

/* The placeholder t starts with, and its length in *len. */
static enum placeholder placeholder_at(const char *t, size_t *len)
{
	static const struct {
		const char *text;
		enum placeholder ph;
	} phs[] = {{"{cidr}", PH_CIDR}, {"{source}", PH_SOURCE}, {"{family}", PH_FAMILY}};

	for (size_t i = 0; i < sizeof(phs) / sizeof(phs[0]); i++) {
		*len = strlen(phs[i].text);
		if (strncmp(t, phs[i].text, *len) == 0)
			return phs[i].ph;
	}
	*len = 1;
	return PH_NONE;
}

/* Why the template cannot be read back one way only, or NULL when it can. */
static const char *template_problem(const char *t)
{
	bool cidr = false;

	if (strchr(t, '\n') != NULL)
		return "expected a one-line template with {cidr}";
	while (*t) {
		size_t len, next_len;
		enum placeholder ph = placeholder_at(t, &len), next;

		t += len;
		if (ph == PH_NONE)
			continue;
		cidr = cidr || ph == PH_CIDR;
		next = *t != '\0' ? placeholder_at(t, &next_len) : PH_NONE;
		if (next != PH_NONE)
			return "placeholders need text between them, or the line cannot be read "
			       "back";
		if (ph == PH_CIDR && *t != '\0' && strchr(CIDR_CHARS, *t) != NULL)
			return "{cidr} must not be followed by a hex digit, '.', ':' or '/'";
		if (ph == PH_SOURCE && *t != '\0' && strchr(SOURCE_CHARS, *t) != NULL)
			return "{source} must not be followed by a-z, 0-9, '_' or '-'";
	}
	return cidr ? NULL : "expected a one-line template with {cidr}";
}

/*
 * Match line s against template t; the {cidr} text goes to *cs, *cl (every {cidr} the
 * same). One pass: each placeholder takes the longest run of its characters, which
 * template_problem() made the only possible one.
 */
static bool match(const char *t, const char *s, const char **cs, size_t *cl)
{
	*cs = NULL;
	*cl = 0;
	while (*t) {
		size_t len, n = 0;

		switch (placeholder_at(t, &len)) {
		case PH_NONE:
			if (*t != *s)
				return false;
			n = 1;
			break;
		case PH_CIDR:
			n = strspn(s, CIDR_CHARS);
			if (n == 0 || (*cs != NULL && (n != *cl || memcmp(*cs, s, n) != 0)))
				return false;
			*cs = s;
			*cl = n;
			break;
		case PH_SOURCE:
			n = strspn(s, SOURCE_CHARS);
			break;
		case PH_FAMILY:
			if (strncmp(s, "ipv4", 4) != 0 && strncmp(s, "ipv6", 4) != 0)
				return false;
			n = 4;
			break;
		}
		t += len;
		s += n;
	}
	return *s == '\0';
}

/* ---- config ---- */

/* "\n", "\t" and "\\" escapes (the INI value is one line); ends with a newline. */
static char *unescape(const char *s)
{
	struct textbuf b = {0};

	for (; *s; s++) {
		char c = *s;

		if (c == '\\' && (s[1] == 'n' || s[1] == 't' || s[1] == '\\')) {
			s++;
			c = *s == 'n' ? '\n' : *s == 't' ? '\t' : '\\';
		}
		textbuf_add(&b, &c, 1);
	}
	if (b.len == 0 || b.p[b.len - 1] != '\n')
		textbuf_printf(&b, "\n");
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

static void file_close(struct backend *be)
{
	struct file_backend *fb;

	if (be == NULL)
		return;
	fb = file_from_base(be);
	free(fb->path);
	free(fb->line);
	free(fb->header);
	free(fb->footer);
	free(fb->check);
	free(fb->reload);
	free(fb);
}

static int check_cmd(const struct target_config *tc, const char *key, char **out,
		     struct cda_error *err)
{
	const char *v = target_get(tc, key);
	char **argv;

	*out = NULL;
	if (v == NULL)
		return 0;
	if ((argv = subproc_split(v, "x")) == NULL) {
		if (errno == ENOMEM)
			return cda_error_sys(err, CDA_ESYS, "reading %s", key);
		return backend_bad_value(err, tc, key, "expected a command (unbalanced quote?)");
	}
	subproc_free_argv(argv);
	if ((*out = strdup(v)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "reading %s", key);
	return 0;
}

static int file_open(struct backend **out, const struct target_config *tc,
		     const struct backend_env *env, struct cda_error *err)
{
	const char *path = target_get(tc, "path"), *line = target_get(tc, "line");
	const char *header = target_get(tc, "header"), *footer = target_get(tc, "footer");
	const char *mode = target_get(tc, "mode");
	struct file_backend *fb;

	if (path == NULL) {
		cda_error_set(err, CDA_ECONFIG, "path: missing in [target.%s] (backend file)",
			      tc->name != NULL ? tc->name : "?");
		return cda_error_at(err, tc->config_path, tc->line);
	}
	if ((fb = calloc(1, sizeof(*fb))) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the file backend");
	fb->base.ops = &file_backend_ops;
	fb->mode = 0644;
	if (path[0] != '/' || path[strlen(path) - 1] == '/') {
		backend_bad_value(err, tc, "path", "expected an absolute file path");
		goto fail;
	}
	if (line == NULL)
		line = "{cidr}";
	if (template_problem(line) != NULL) {
		backend_bad_value(err, tc, "line", template_problem(line));
		goto fail;
	}
	if (mode != NULL) {
		char *end;
		unsigned long m;

		errno = 0;
		m = strtoul(mode, &end, 8);
		if (mode[0] < '0' || mode[0] > '7' || *end != '\0' || errno != 0 || m > 07777) {
			backend_bad_value(err, tc, "mode",
					  "expected an octal file mode such as 0644");
			goto fail;
		}
		/* a list file is data: no setuid, setgid or sticky bit */
		if (m > 0777) {
			backend_bad_value(err, tc, "mode",
					  "at most 0777: no setuid, setgid or sticky bit");
			goto fail;
		}
		fb->mode = (mode_t)m;
		fb->mode_set = true;
	}
	if ((fb->path = strdup(path)) == NULL || (fb->line = strdup(line)) == NULL ||
	    (header != NULL && (fb->header = unescape(header)) == NULL) ||
	    (footer != NULL && (fb->footer = unescape(footer)) == NULL)) {
		cda_error_sys(err, CDA_ESYS, "allocating the file backend");
		goto fail;
	}
	if (check_cmd(tc, "check", &fb->check, err) < 0 ||
	    check_cmd(tc, "reload", &fb->reload, err) < 0 ||
	    backend_command_timeout(tc, SUBPROC_TIMEOUT, &fb->cmd_timeout, err) < 0)
		goto fail;
	*out = &fb->base;
	return 0;
fail:
	file_close(&fb->base);
	return -1;
}

static void expand(struct textbuf *b, const char *t, const char *cidr, const char *src, int fam)
{
	while (*t) {
		const char *v = NULL;
		size_t skip = 0;

		if (strncmp(t, "{cidr}", 6) == 0) {
			v = cidr;
			skip = 6;
		} else if (strncmp(t, "{source}", 8) == 0) {
			v = src;
			skip = 8;
		} else if (strncmp(t, "{family}", 8) == 0) {
			v = fam == CDA_AF_INET ? "ipv4" : "ipv6";
			skip = 8;
		}
		if (skip == 0) {
			skip = 1 + strcspn(t + 1, "{");
			v = t;
		}
		textbuf_add(b, v, v == t ? skip : strlen(v));
		t += skip;
	}
	textbuf_add(b, "\n", 1);
}

/* ---- reading ---- */

/* The body between header and footer, NUL-terminated in place; NULL when text lacks them. */
static char *body_of(struct file_backend *fb, char *text, size_t len)
{
	size_t hl = fb->header != NULL ? strlen(fb->header) : 0;
	size_t fl = fb->footer != NULL ? strlen(fb->footer) : 0;

	if (len < hl + fl || memcmp(text, fb->header != NULL ? fb->header : "", hl) != 0 ||
	    memcmp(text + len - fl, fb->footer != NULL ? fb->footer : "", fl) != 0)
		return NULL;
	text[len - fl] = '\0';
	return text + hl;
}

/* The prefixes of the file, when it has the form apply writes; else nothing. */
static int file_read(struct backend *be, struct ranges *cur, struct cda_error *err)
{
	struct file_backend *fb = file_from_base(be);
	char *text, *pos, *l;
	size_t len;
	int rc;

	if ((rc = subproc_slurp(fb->path, &text, &len, err)) != 0)
		return rc < 0 ? -1 : 0;
	pos = body_of(fb, text, len);
	while ((l = textbuf_next_line(&pos)) != NULL) {
		const char *cs;
		size_t cl;
		struct cidr c;

		if (!match(fb->line, l, &cs, &cl) || cidr_parse(cs, cl, &c, NULL) == CIDR_INVALID) {
			ranges_clear(cur); /* not in our form: the next apply rewrites it */
			break;
		}
		if (ranges_add_cidr(cur, &c) < 0) {
			free(text);
			return cda_error_sys(err, CDA_ESYS, "reading %s", fb->path);
		}
	}
	free(text);
	ranges_normalize(cur);
	return 0;
}

/* ---- applying ---- */

static int render(struct file_backend *fb, const struct backend_input *in, struct textbuf *b,
		  struct cda_error *err)
{
	struct cidr_list cl = {0};

	if (fb->header != NULL)
		textbuf_add(b, fb->header, strlen(fb->header));
	if (ranges_to_cidrs(in->want, &cl) < 0)
		b->oom = true;
	for (size_t i = 0; i < cl.n; i++) {
		const char *src = backend_source_of(in->srcs, in->n_srcs, &cl.v[i]);
		char c[CIDR_STRLEN];

		expand(b, fb->line, cidr_format(&cl.v[i], c), src != NULL ? src : "",
		       cl.v[i].family);
	}
	cidr_list_finish(&cl);
	if (fb->footer != NULL)
		textbuf_add(b, fb->footer, strlen(fb->footer));
	if (b->p == NULL)
		textbuf_add(b, "", 0);
	if (b->oom) {
		errno = ENOMEM;
		cda_error_sys(err, CDA_ESYS, "building %s", fb->path);
		return -1;
	}
	return 0;
}

/* Run a configured command ({path} replaced); CDA_EAPPLY with what/its stderr on failure. */
static int run_config_cmd(const struct file_backend *fb, const char *cmdline, const char *path,
			  const char *what, struct cda_error *err)
{
	char **argv = subproc_split(cmdline, path);
	struct subproc_out r;
	size_t n;

	if (argv == NULL)
		return cda_error_sys(err, CDA_ESYS, "running the %s command", what);
	if (subproc_run_ok(argv, NULL, 0, fb->cmd_timeout, &r, err) < 0) {
		subproc_free_argv(argv);
		n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n, " (%s)", what);
		return -1;
	}
	subproc_out_finish(&r);
	subproc_free_argv(argv);
	return 0;
}

/* The configured mode, else the replaced file's, else 0644. */
static mode_t mode_for(const struct file_backend *fb)
{
	struct stat st;

	if (fb->mode_set || lstat(fb->path, &st) < 0 || !S_ISREG(st.st_mode))
		return fb->mode;
	return st.st_mode & 07777;
}

static int file_apply(struct backend *be, const struct backend_input *in, struct cda_error *err)
{
	struct file_backend *fb = file_from_base(be);
	bool pre_check = fb->check != NULL && strstr(fb->check, "{path}") != NULL;
	struct atomicfile af = {0};
	struct atomicfile_prev prev = {0};
	struct textbuf b = {0};
	char *old = NULL;
	size_t old_len = 0;
	bool had_old = false;
	int ret = -1, rc;

	if (render(fb, in, &b, err) < 0)
		goto out;
	if ((rc = subproc_slurp(fb->path, &old, &old_len, err)) < 0)
		goto out;
	had_old = rc == 0;
	if (had_old && old_len == b.len && memcmp(old, b.p, b.len) == 0) {
		ret = 0; /* already in place: nothing to check or reload */
		goto out;
	}
	/* Keep the old file under a second name until the consumer took the new one. */
	if (atomicfile_keep(&prev, fb->path, had_old, err) < 0)
		goto out;
	if (atomicfile_open(&af, fb->path, mode_for(fb), err) < 0)
		goto fail;
	if (fwrite(b.p, 1, b.len, af.fp) != b.len || fflush(af.fp) != 0) {
		cda_error_sys(err, CDA_EAPPLY, "writing %s", af.tmp_path);
		atomicfile_abort(&af);
		goto fail;
	}
	if (pre_check &&
	    run_config_cmd(fb, fb->check, af.tmp_path, "check, old file kept", err) < 0) {
		atomicfile_abort(&af);
		goto fail;
	}
	if (atomicfile_commit(&af, err) < 0) {
		atomicfile_put_back(&prev); /* the rename may have happened (a failed dir sync) */
		goto fail;
	}
	if (fb->check != NULL && !pre_check &&
	    run_config_cmd(fb, fb->check, fb->path, "check, old file put back", err) < 0) {
		atomicfile_put_back(&prev);
		goto fail;
	}
	if (fb->reload != NULL &&
	    run_config_cmd(fb, fb->reload, fb->path, "reload, old file put back", err) < 0) {
		atomicfile_put_back(&prev);
		goto fail;
	}
	ret = 0;
	goto out;
fail:
	cda_error_at(err, fb->path, 0);
out:
	atomicfile_prev_finish(&prev); /* the kept copy goes, whichever file stays */
	free(old);
	free(b.p);
	return ret;
}

static int file_verify(struct backend *be, const struct ranges *want, struct cda_error *err)
{
	struct file_backend *fb = file_from_base(be);

	return backend_verify_cover(be, want, fb->path, "read back differs from what was applied",
				    fb->path, err);
}

static void file_claims(struct backend *be, struct textbuf *out)
{
	textbuf_printf(out, "file %s\n", file_from_base(be)->path);
}

const struct backend_ops file_backend_ops = {
	.name = "file",
	.keys = file_keys,
	.open = file_open,
	.read = file_read,
	.apply = file_apply,
	.verify = file_verify,
	.claims = file_claims,
	.close = file_close,
};
