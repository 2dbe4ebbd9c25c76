// SPDX-License-Identifier: MIT
/* /etc/nftables.conf: does its `flush ruleset` take our sets away at every reload? */
#include "checks.h"

#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cda_error.h"
#include "config.h"
#include "nft_script.h"

#define NFTABLES_CONF "/etc/nftables.conf"

/* Where `flush ruleset` is (0: nowhere) and where the last include matching path is. */
struct conf_lines {
	unsigned int flush, include;
};

static void scan_conf(FILE *fp, const char *path, struct conf_lines *cl)
{
	char line[4096];
	unsigned int n = 0;

	while (fgets(line, sizeof(line), fp) != NULL) {
		char *p = line + strspn(line, " \t"), *q, *end;

		n++;
		if (strncmp(p, "flush ruleset", 13) == 0 && cl->flush == 0)
			cl->flush = n;
		if (strncmp(p, "include", 7) != 0 || (q = strchr(p + 7, '"')) == NULL ||
		    (end = strchr(q + 1, '"')) == NULL)
			continue;
		*end = '\0';
		if (fnmatch(q + 1, path, FNM_PATHNAME) == 0)
			cl->include = n;
	}
}

static void one_target(struct ctx *c, const struct target_config *tc, FILE *fp)
{
	struct cda_error e = {0};
	struct conf_lines cl = {0};
	char *path = NULL, fix[700];

	if (nft_script_path(target_get(tc, "nft_file"), c->cfg->state_dir, tc->name, &path, &e) <
		    0 ||
	    path == NULL)
		goto out;
	rewind(fp);
	scan_conf(fp, path, &cl);
	if (cl.flush == 0)
		goto out;
	if (cl.include != 0)
		snprintf(fix, sizeof(fix), "move line %u to the end of %s", cl.include,
			 NFTABLES_CONF);
	else
		snprintf(fix, sizeof(fix), "make `include \"%.*s/*.nft\"` the last line of %s",
			 (int)(strrchr(path, '/') - path), path, NFTABLES_CONF);
	if (cl.include > cl.flush)
		doctor_note(c, DOCTOR_OK, "nftables.conf", tc->name, NULL,
			    "%s:%u includes %s after its `flush ruleset`: a reload of "
			    "nftables.service puts the last applied lists back in its own "
			    "transaction",
			    NFTABLES_CONF, cl.include, path);
	else
		doctor_note(c, DOCTOR_WARNING, "nftables.conf", tc->name, fix,
			    "%s:%u flushes the ruleset%s: every `systemctl reload nftables` takes "
			    "away the sets and lock until cdnallow-restore.service puts them back "
			    "(about 50 ms later)",
			    NFTABLES_CONF, cl.flush,
			    cl.include ? ", after the line that includes cdnallow's file"
				       : " and does not include cdnallow's file");
out:
	free(path);
}

int check_nftconf(struct ctx *c)
{
	FILE *fp = NULL;
	char conf[PATH_MAX];

	for (size_t i = 0; i < c->cfg->n_targets; i++) {
		const struct target_config *tc = &c->cfg->targets[i];

		if (strcmp(tc->backend, "nftables") != 0 || !doctor_selected(c->o, tc->name))
			continue;
		snprintf(conf, sizeof(conf), "%s%s", c->o->etc_root ? c->o->etc_root : "",
			 NFTABLES_CONF);
		if (fp == NULL && (fp = fopen(conf, "re")) == NULL)
			return 0; /* no nftables.service file: nothing flushes at a reload */
		one_target(c, tc, fp);
	}
	if (fp != NULL)
		fclose(fp);
	return c->oom ? -1 : 0;
}
