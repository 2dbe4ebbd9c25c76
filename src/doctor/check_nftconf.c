// SPDX-License-Identifier: MIT
/* /etc/nftables.conf: a `flush ruleset` that a reload runs must include our nft_file after it. */
#include "checks.h"

#include <fnmatch.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cda_error.h"
#include "config.h"
#include "nft_script.h"

#define MAX_DEPTH_INC 3 /* include levels followed */

/* What the file says about one nft_file. */
struct conf_scan {
	int flush;   /* line of the first `flush ruleset`, 0: none */
	int inc;     /* line of the first include that reaches the file (after flush if any) */
	int inc_pre; /* an include that reaches it, but before the flush */
	bool literal_missing; /* that include names the file itself, which does not exist */
};

static bool file_reaches(const char *path, const char *file, int depth);

/* Whether the include pattern pat (relative to dir) names file, or a file that includes it. */
static bool pattern_reaches(const char *pat, const char *dir, const char *file, int depth)
{
	char full[PATH_MAX];
	glob_t g;
	bool hit = false;

	if (pat[0] == '/')
		snprintf(full, sizeof(full), "%s", pat);
	else
		snprintf(full, sizeof(full), "%s/%s", dir, pat);
	if (fnmatch(full, file, FNM_PATHNAME) == 0)
		return true;
	if (depth >= MAX_DEPTH_INC || glob(full, 0, NULL, &g) != 0)
		return false;
	for (size_t i = 0; i < g.gl_pathc && !hit; i++)
		hit = strcmp(g.gl_pathv[i], file) != 0 && file_reaches(g.gl_pathv[i], file, depth + 1);
	globfree(&g);
	return hit;
}

/* The quoted path of an `include "..."` line (trimmed), or NULL. */
static char *include_of(char *t)
{
	char *q;

	if (strncmp(t, "include", 7) != 0 || (t[7] != ' ' && t[7] != '\t'))
		return NULL;
	t += 7 + strspn(t + 7, " \t");
	if (*t != '"' || (q = strchr(t + 1, '"')) == NULL)
		return NULL;
	*q = '\0';
	return t + 1;
}

/* Scan path for `flush ruleset` and includes that reach file. */
static bool scan(const char *path, const char *file, int depth, struct conf_scan *s)
{
	FILE *fp = fopen(path, "r");
	char line[1024], dirbuf[PATH_MAX], *dir;
	int no = 0;

	if (fp == NULL)
		return false;
	snprintf(dirbuf, sizeof(dirbuf), "%s", path);
	dir = dirname(dirbuf);
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *t = line + strspn(line, " \t"), *pat;

		no++;
		t[strcspn(t, "\r\n")] = '\0';
		if (strncmp(t, "flush ruleset", 13) == 0 && s->flush == 0)
			s->flush = no;
		if ((pat = include_of(t)) == NULL || !pattern_reaches(pat, dir, file, depth))
			continue;
		if (s->flush == 0 && s->inc_pre == 0)
			s->inc_pre = no;
		else if (s->flush != 0 && s->inc == 0) {
			s->inc = no;
			s->literal_missing = strcmp(pat, file) == 0 && access(file, F_OK) != 0;
		}
	}
	fclose(fp);
	return true;
}

static bool file_reaches(const char *path, const char *file, int depth)
{
	struct conf_scan s = {0};

	return scan(path, file, depth, &s) && (s.inc != 0 || s.inc_pre != 0);
}

/* The line to add: a glob over the state dir for the default file, else the file itself. */
static void include_line(const struct ctx *c, const char *file, char *buf, size_t size)
{
	size_t n = strlen(c->cfg->state_dir);

	if (strncmp(file, c->cfg->state_dir, n) == 0 && file[n] == '/' &&
	    strchr(file + n + 1, '/') == NULL)
		snprintf(buf, size, "include \"%s/*.nft\"", c->cfg->state_dir);
	else
		snprintf(buf, size, "include \"%s\"", file);
}

static void judge(struct ctx *c, const char *conf, const char *target, const char *file)
{
	struct conf_scan s = {0};
	char inc[PATH_MAX + 16], fix[2 * PATH_MAX + 300];

	if (!scan(conf, file, 0, &s) || s.flush == 0)
		return; /* no file, or nothing in it empties our sets */
	include_line(c, file, inc, sizeof(inc));
	snprintf(fix, sizeof(fix),
		 "add `%s` as the last line of %s: a reload then restores the lists in its own "
		 "transaction (see \"Living with nftables.service\" in the README)",
		 inc, conf);
	if (s.inc != 0 && s.literal_missing)
		doctor_note(c, DOCTOR_WARNING, "nftables.conf", target,
			    "run `cdnallow sync` (it writes the file), or include a glob "
			    "(`*.nft`), which may match nothing",
			    "%s line %d includes %s, which does not exist: `nft -f %s` fails and "
			    "nftables.service does not start",
			    conf, s.inc, file, conf);
	else if (s.inc != 0)
		doctor_note(c, DOCTOR_OK, "nftables.conf", target, NULL,
			    "%s flushes the ruleset (line %d) and includes %s after it (line %d)",
			    conf, s.flush, file, s.inc);
	else if (s.inc_pre != 0)
		doctor_note(c, DOCTOR_WARNING, "nftables.conf", target, fix,
			    "%s includes %s on line %d, before its `flush ruleset` on line %d, "
			    "which empties what the include restored",
			    conf, file, s.inc_pre, s.flush);
	else
		doctor_note(c, DOCTOR_WARNING, "nftables.conf", target, fix,
			    "%s line %d flushes the whole ruleset and does not include %s: every "
			    "`systemctl reload nftables` removes cdnallow's sets or their "
			    "elements, and only cdnallow-restore.service puts them back (about "
			    "50 ms after the reload, up to 150 ms on a busy machine: CDN "
			    "connections are refused meanwhile)",
			    conf, s.flush, file);
}

int check_nftconf(struct ctx *c)
{
	char conf[PATH_MAX];

	mgr_etc_path(c, "/etc/nftables.conf", conf, sizeof(conf));

	if (access(conf, F_OK) != 0)
		return 0;
	for (size_t i = 0; i < c->cfg->n_targets; i++) {
		const struct target_config *tc = &c->cfg->targets[i];
		struct cda_error e = {0};
		char *file = NULL;

		if (strcmp(tc->backend, "nftables") != 0 || !doctor_selected(c->o, tc->name))
			continue;
		if (nft_script_path(target_get(tc, "nft_file"), c->cfg->state_dir, tc->name, &file,
				    &e) < 0) {
			if (e.code == CDA_ESYS)
				return -1;
			continue; /* a bad nft_file: sync says so */
		}
		if (file != NULL)
			judge(c, conf, tc->name, file);
		free(file);
	}
	return 0;
}
