// SPDX-License-Identifier: MIT
/* What makes UFW use the ufw backend's sets: blocks in its files, the live rule, its lock. */
#include "ufw_wiring.h"

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cda_error.h"
#include "subproc.h"
#include "textbuf.h"
#include "ufw_text.h"

#define LOCK_WAIT_MS 30000

static const char *const fam_pfx[2] = {"ufw", "ufw6"};

int ufw_fail(struct cda_error *err, const char *fmt, ...)
{
	char pre[sizeof(err->msg)], old[sizeof(err->msg)];
	size_t n = 0;
	va_list ap;

	memcpy(old, err->msg, sizeof(old));
	if (strncmp(old, "UFW: ", 5) == 0)
		memmove(old, old + 5, sizeof(old) - 5);
	pre[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(pre, sizeof(pre), fmt, ap);
		va_end(ap);
	}
	n = (size_t)snprintf(err->msg, sizeof(err->msg), "UFW: %s", pre);
	if (n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, "%s", old);
	if (err->code == CDA_ESYS && err->sys_errno != ENOMEM)
		err->code = CDA_EAPPLY;
	return -1;
}

/* ---- the blocks ---- */

/* Our rule of family f without "-A CHAIN " (what -D and -I take after the chain). */
static void rule_body(const struct ufw_backend *ub, int f, struct textbuf *b)
{
	textbuf_printf(b, "-p tcp -m multiport --dports %s -m set --match-set %s src -j ACCEPT",
		       ub->ports, ub->set[f]);
}

static void block_rules(const struct ufw_backend *ub, int f, struct textbuf *b)
{
	textbuf_printf(b,
		       UFW_BLOCK_BEGIN "\n"
		       "# Managed by cdnallow (target %s): the CDN's addresses in ipset %s may\n"
		       "# reach TCP ports %s before UFW's own rules are consulted. Edits between\n"
		       "# these markers are overwritten.\n"
		       "-A %s-before-input ",
		       ub->target, ub->set[f], ub->ports, fam_pfx[f]);
	rule_body(ub, f, b);
	textbuf_printf(b, "\n" UFW_BLOCK_END "\n");
}

static void block_init(const struct ufw_backend *ub, struct textbuf *b)
{
	const char *ip = ub->ipset, *s4 = ub->set[0], *s6 = ub->set[1];

	textbuf_printf(
		b,
		UFW_BLOCK_BEGIN "\n"
		"# Managed by cdnallow (target %s): before UFW loads before.rules and\n"
		"# before6.rules, create the ipsets they use from the lists last applied (empty\n"
		"# when that fails, so that UFW still starts). Edits between these markers are\n"
		"# overwritten.\n"
		"if [ \"$1\" = start ]; then\n"
		"\tif ! %s list -n %s >/dev/null 2>&1 || ! %s list -n %s >/dev/null 2>&1; then\n"
		"\t\t%s -exist restore -file '%s' || {\n"
		"\t\t\techo \"cdnallow: cannot restore the ipsets from %s; created empty\" >&2\n"
		"\t\t\t%s -exist create %s hash:net family inet\n"
		"\t\t\t%s -exist create %s hash:net family inet6\n"
		"\t\t}\n"
		"\tfi\n"
		"fi\n" UFW_BLOCK_END "\n",
		ub->target, ip, s4, ip, s6, ip, ub->boot, ub->boot, ip, s4, ip, s6);
}

/* ---- what UFW loads and runs ---- */

void ufw_plan_free(struct ufw_plan *p)
{
	for (int i = 0; i < 3; i++) {
		free(p->file[i].now);
		free(p->file[i].admin.p);
		free(p->file[i].want.p);
	}
	free(p->boot_now);
	memset(p, 0, sizeof(*p));
}

/* Read file i and work out what it should hold. */
static int plan_file(const struct ufw_backend *ub, int i, struct ufw_file *uf,
		     struct cda_error *err)
{
	struct textbuf block = {0};
	enum ufw_text_result r;
	unsigned int line = 0;
	size_t n;
	int rc = subproc_slurp(ub->path[i], &uf->now, &uf->now_len, err);

	if (rc < 0)
		return ufw_fail(err, NULL);
	if (rc == 1 && i < 2)
		return cda_error_set(err, CDA_EAPPLY, "UFW: %s not found: is ufw installed?",
				     ub->path[i]);
	if (rc == 0 && stat(ub->path[i], &uf->st) < 0)
		return cda_error_sys(err, CDA_EAPPLY, "UFW: cannot stat %s", ub->path[i]);
	r = ufw_text_strip(uf->now != NULL ? uf->now : "", uf->now_len, &uf->admin, &n, &line);
	if (r == UFW_TEXT_UNCLOSED) {
		cda_error_set(err, CDA_EAPPLY,
			      "UFW: \"" UFW_BLOCK_BEGIN "\" without \"" UFW_BLOCK_END
			      "\" after it; finish or remove that block by hand");
		return cda_error_at(err, ub->path[i], line);
	}
	if (i < 2)
		block_rules(ub, i, &block);
	else
		block_init(ub, &block);
	if (r == UFW_TEXT_OK && !block.oom)
		r = i < 2 ? ufw_text_place_rules(uf->admin.p, uf->admin.len, block.p, &uf->want)
			  : ufw_text_place_init(uf->admin.p, uf->admin.len, block.p, &uf->want);
	free(block.p);
	if (r == UFW_TEXT_NO_FILTER)
		return cda_error_set(err, CDA_EAPPLY,
				     "UFW: %s has no *filter section ending in a COMMIT line",
				     ub->path[i]);
	if (r != UFW_TEXT_OK || block.oom)
		return cda_error_sys(err, CDA_ESYS, "UFW: editing %s", ub->path[i]);
	uf->same = uf->now != NULL && uf->now_len == uf->want.len &&
		   memcmp(uf->now, uf->want.p, uf->now_len) == 0 &&
		   (i < 2 || (uf->st.st_mode & S_IXUSR) != 0);
	return 0;
}

int ufw_plan_load(const struct ufw_backend *ub, struct ufw_plan *p, struct cda_error *err)
{
	memset(p, 0, sizeof(*p));
	for (int i = 0; i < 3; i++)
		if (plan_file(ub, i, &p->file[i], err) < 0)
			return -1;
	return 0;
}

/* `ipset save` of the sets that exist, both in one text (what boot_file should hold). */
int ufw_sets_save(const struct ufw_backend *ub, const bool exists[2], struct textbuf *b,
		  struct cda_error *err)
{
	textbuf_add(b, "", 0);
	for (int f = 0; f < 2; f++) {
		char *argv[] = {ub->ipset, "save", ub->set[f], NULL};
		struct subproc_out r;

		if (!exists[f])
			continue;
		if (subproc_run_ok(argv, NULL, 0, ub->cmd_timeout, &r, err) < 0)
			return ufw_fail(err, NULL);
		textbuf_add(b, r.out, r.out_len);
		subproc_out_finish(&r);
	}
	if (b->oom) {
		errno = ENOMEM;
		return cda_error_sys(err, CDA_ESYS, "UFW: saving the ipsets");
	}
	return 0;
}

void ufw_live_reset(struct ufw_live *lv)
{
	free(lv->del.p);
	memset(lv, 0, sizeof(*lv));
}

/* Whether line l is one of the "-A ..." lines in rules ('\n'-separated). */
static bool in_lines(const char *rules, const char *l)
{
	size_t n = strlen(l);

	for (const char *p = rules; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, l, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

/* Family f's before-input chain as UFW runs it now; old: the file as it was (its block's
 * rules are ours to delete when no longer wanted). */
int ufw_live_read(const struct ufw_backend *ub, int f, const struct ufw_file *old,
		  struct ufw_live *lv, struct cda_error *err)
{
	char *argv[] = {ub->save[f], "-t", "filter", NULL};
	struct textbuf want = {0}, mine = {0};
	struct subproc_out r;
	char pre[32], anchor[64], *pos, *l;
	size_t idx = 0, plen;

	memset(lv, 0, sizeof(*lv));
	plen = (size_t)snprintf(pre, sizeof(pre), "-A %s-before-input ", fam_pfx[f]);
	snprintf(anchor, sizeof(anchor), "%s-j %s-user-input", pre, fam_pfx[f]);
	textbuf_printf(&want, "%s", pre);
	rule_body(ub, f, &want);
	if (ufw_text_block_rules(old->now != NULL ? old->now : "", old->now_len, &mine) < 0 ||
	    want.oom) {
		free(want.p);
		free(mine.p);
		return cda_error_sys(err, CDA_ESYS, "UFW: reading %s", ub->save[f]);
	}
	if (subproc_run_ok(argv, NULL, 0, ub->cmd_timeout, &r, err) < 0) {
		free(want.p);
		free(mine.p);
		return ufw_fail(err, NULL);
	}
	pos = r.out;
	while ((l = textbuf_next_line(&pos)) != NULL) {
		if (strncmp(l, pre, plen) != 0)
			continue;
		if (!lv->active && strcmp(l, anchor) == 0) {
			lv->active = true;
			lv->anchor = idx;
		} else if (strcmp(l, want.p) == 0) {
			lv->ours_before += !lv->active;
		} else if (in_lines(mine.p, l)) {
			textbuf_printf(&lv->del, "-D%s\n", l + 2);
			lv->del_before += !lv->active;
		}
		idx++;
	}
	subproc_out_finish(&r);
	free(want.p);
	free(mine.p);
	if (lv->del.oom)
		return cda_error_sys(err, CDA_ESYS, "UFW: reading %s", ub->save[f]);
	return 0;
}

/* UFW runs our rule before its user rules and nothing of our previous block (or is off). */
bool ufw_live_fine(const struct ufw_live *lv)
{
	return !lv->active || (lv->ours_before > 0 && lv->del.len == 0);
}

/* ---- changing it ---- */

int ufw_lock_take(const struct ufw_backend *ub, struct cda_error *err)
{
	/* A read lock is enough to exclude ufw's write lock (lockf), and needs only a read-only
	 * descriptor: under ProtectSystem=strict /run is read-only, yet the file is there once
	 * any ufw command ran since boot. Missing and not creatable: no ufw command ran yet. */
	struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET};
	struct timespec ts = {0, 50 * 1000 * 1000};
	int fd = open(ub->lock, O_RDONLY | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		fd = open(ub->lock, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 && (errno == ENOENT || errno == EROFS))
		return -2;
	if (fd < 0)
		return cda_error_sys(err, CDA_EAPPLY, "UFW: cannot open its lock %s", ub->lock);
	for (int waited = 0; fcntl(fd, F_SETLK, &fl) < 0; waited += 50) {
		if (errno != EACCES && errno != EAGAIN) {
			cda_error_sys(err, CDA_EAPPLY, "UFW: cannot take its lock %s", ub->lock);
			close(fd);
			return -1;
		}
		if (waited >= LOCK_WAIT_MS) {
			cda_error_set(err, CDA_EAPPLY, "UFW: its lock %s is still held after %d s",
				      ub->lock, LOCK_WAIT_MS / 1000);
			close(fd);
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	return fd;
}

/* `iptables-restore --test` of a before[6].rules text on its own (UFW's chains declared).
 * what: how to say that it failed. */
static int test_rules(const struct ufw_backend *ub, int f, const struct textbuf *text,
		      const char *what, struct cda_error *err)
{
	char *argv[] = {ub->restore[f], "-w", "--test", NULL};
	struct textbuf in = {0};
	struct subproc_out r;
	unsigned int after = 0, added = 0, line = 0;
	const char *at;
	int ret = -1;

	if (ufw_text_test_input(text->p, text->len, f == 1, &in, &after, &added) != UFW_TEXT_OK) {
		free(in.p);
		return cda_error_sys(err, CDA_ESYS, "UFW: checking %s", ub->path[f]);
	}
	if (subproc_run(argv, in.p, in.len, ub->cmd_timeout, &r, err) < 0) {
		free(in.p);
		return ufw_fail(err, NULL);
	}
	if (r.status == 0) {
		ret = 0;
	} else {
		subproc_fail(argv, &r, err);
		/* "Error occurred at line: N", N counted in our input: back to the file's lines
		 * (and out of the message, with the usage hint after it) */
		at = strstr(r.err, "line: ");
		if (at != NULL && sscanf(at + 6, "%u", &line) == 1 && line > after)
			line = line > after + added ? line - added : after;
		if ((at = strstr(err->msg, ";Error occurred at line")) != NULL)
			err->msg[at - err->msg] = '\0';
		ufw_fail(err, "%s: ", what);
		cda_error_at(err, ub->path[f], line);
	}
	subproc_out_finish(&r);
	free(in.p);
	return ret;
}

/* Each rules file we are about to change must load as the admin left it (else it is theirs
 * to fix, and we change nothing); admin: that text, else ours in it. */
int ufw_check_rules(const struct ufw_backend *ub, const struct ufw_plan *p, bool admin,
		    struct cda_error *err)
{
	for (int f = 0; f < 2; f++) {
		char what[96];

		if (p->file[f].same)
			continue;
		snprintf(what, sizeof(what), admin ? "does not load as it is, so it is left alone"
						   : "refuses cdnallow's rule for ipset %s",
			 ub->set[f]);
		if (test_rules(ub, f, admin ? &p->file[f].admin : &p->file[f].want, what, err) < 0)
			return -1;
	}
	return 0;
}

/* Replace path with data (mode; owner of own when not NULL), atomically. */
static int put_file(const char *path, const char *data, size_t len, mode_t mode,
		    const struct stat *own, struct cda_error *err)
{
	struct atomicfile af;
	struct stat st;

	if (atomicfile_open(&af, path, mode, err) < 0)
		return -1;
	/* the owner only when it differs: the unit has no CAP_CHOWN */
	if ((len > 0 && fwrite(data, 1, len, af.fp) != len) ||
	    (own != NULL && (fstat(af.fd, &st) < 0 ||
			     ((st.st_uid != own->st_uid || st.st_gid != own->st_gid) &&
			      fchown(af.fd, own->st_uid, own->st_gid) < 0)))) {
		cda_error_sys(err, CDA_ESYS, "cannot write %s", path);
		atomicfile_abort(&af);
		return -1;
	}
	return atomicfile_commit(&af, err);
}

/* The files that differ from the plan, then boot_file from the sets as they are now. */
int ufw_write_all(const struct ufw_backend *ub, struct ufw_plan *p, const bool exists[2],
		  struct cda_error *err)
{
	struct textbuf boot = {0};
	int rc;

	for (int i = 0; i < 3; i++) {
		struct ufw_file *uf = &p->file[i];
		mode_t mode = uf->now != NULL ? uf->st.st_mode & 07777 : i == 2 ? 0750 : 0640;

		if (uf->same)
			continue;
		if (i == 2)
			mode |= S_IXUSR; /* ufw-init runs before.init only when executable */
		if (put_file(ub->path[i], uf->want.p, uf->want.len, mode,
			     uf->now != NULL ? &uf->st : NULL, err) < 0)
			return ufw_fail(err, NULL);
		uf->written = true;
	}
	if (subproc_slurp(ub->boot, &p->boot_now, &p->boot_len, err) < 0 ||
	    ufw_sets_save(ub, exists, &boot, err) < 0) {
		free(boot.p);
		return ufw_fail(err, NULL);
	}
	rc = put_file(ub->boot, boot.p, boot.len, 0600, NULL, err);
	free(boot.p);
	if (rc < 0)
		return ufw_fail(err, NULL);
	p->boot_written = true;
	return 0;
}

static int restore_noflush(const struct ufw_backend *ub, int f, const struct textbuf *b,
			   struct cda_error *err)
{
	char *argv[] = {ub->restore[f], "-w", "--noflush", NULL};
	struct subproc_out r;

	if (b->oom) {
		errno = ENOMEM;
		return cda_error_sys(err, CDA_ESYS, "UFW: building the %s input", ub->restore[f]);
	}
	if (subproc_run_ok(argv, b->p, b->len, ub->cmd_timeout, &r, err) < 0)
		return ufw_fail(err, NULL);
	subproc_out_finish(&r);
	return 0;
}

/* Where UFW runs (a family at a time): our rule in before UFW's jump to its user rules, what
 * our previous block had and the new one has not out, in one commit. */
int ufw_live_all(const struct ufw_backend *ub, struct ufw_plan *p, struct cda_error *err)
{
	for (int f = 0; f < 2; f++) {
		struct textbuf b = {0};
		struct ufw_live lv;
		int rc = ufw_live_read(ub, f, &p->file[f], &lv, err);

		if (rc == 0 && lv.active && !ufw_live_fine(&lv)) {
			textbuf_printf(&b, "*filter\n%s", lv.del.p != NULL ? lv.del.p : "");
			if (lv.ours_before == 0) {
				textbuf_printf(&b, "-I %s-before-input %zu ", fam_pfx[f],
					       lv.anchor - lv.del_before + 1);
				rule_body(ub, f, &b);
				textbuf_printf(&b, "\n");
			}
			textbuf_printf(&b, "COMMIT\n");
			rc = restore_noflush(ub, f, &b, err);
			p->inserted[f] = rc == 0 && lv.ours_before == 0;
		}
		free(b.p);
		ufw_live_reset(&lv);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/*
 * After a failure: files and boot_file back as they were, a rule this apply inserted out
 * again (rules of an old block it deleted come back with the old file at UFW's next start),
 * sets it created destroyed (created: NULL when it created none).
 */
void ufw_undo(const struct ufw_backend *ub, struct ufw_plan *p, const bool *created)
{
	struct cda_error ignored = {0};
	struct subproc_out r;

	for (int f = 0; f < 2; f++) {
		struct textbuf b = {0};

		if (!p->inserted[f])
			continue;
		textbuf_printf(&b, "*filter\n-D %s-before-input ", fam_pfx[f]);
		rule_body(ub, f, &b);
		textbuf_printf(&b, "\nCOMMIT\n");
		restore_noflush(ub, f, &b, &ignored);
		free(b.p);
	}
	for (int i = 2; i >= 0; i--) {
		const struct ufw_file *uf = &p->file[i];

		if (uf->written && uf->now != NULL)
			put_file(ub->path[i], uf->now, uf->now_len, uf->st.st_mode & 07777, &uf->st,
				 &ignored);
		else if (uf->written)
			unlink(ub->path[i]);
	}
	if (p->boot_written && p->boot_now != NULL)
		put_file(ub->boot, p->boot_now, p->boot_len, 0600, NULL, &ignored);
	else if (p->boot_written)
		unlink(ub->boot);
	for (int f = 0; created != NULL && f < 2; f++) {
		char *argv[] = {ub->ipset, "destroy", ub->set[f], NULL};

		if (created[f] && subproc_run(argv, NULL, 0, ub->cmd_timeout, &r, &ignored) == 0)
			subproc_out_finish(&r);
	}
}

