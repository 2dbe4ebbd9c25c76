// SPDX-License-Identifier: MIT
/* state_token: a backend's opaque token (the exec backend's), DIR/token-KEY.tok. */
#include "state.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"
#include "cda_error.h"
#include "state_priv.h"

#define TOKEN_MAGIC "# cdnallow token v1"

/* DIR/token-KEY.tok */
static char *token_path(const struct state *st, const char *key)
{
	char *p = state_file_path(st, "token", key);

	if (p != NULL)
		memcpy(p + strlen(p) - 5, ".tok", 5); /* in place of ".list" */
	return p;
}

static bool token_ok(const char *s, size_t len)
{
	if (len > STATE_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

int state_load_token(struct state *st, const char *key, char *buf, size_t size,
		     struct cda_error *err)
{
	char *path, *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *fp = NULL;
	int rc;

	buf[0] = '\0';
	if ((path = token_path(st, key)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "state file for %s", key);
	if ((rc = state_open_file(st, path, &fp, err)) <= 0)
		goto out;
	rc = -1;
	if ((len = getline(&line, &cap, fp)) >= 0)
		state_chomp(line, &len);
	if (len < 0 || strcmp(line, TOKEN_MAGIC) != 0) {
		state_corrupt(err, path, 1, "not a cdnallow token v1 file");
		goto out;
	}
	if ((len = getline(&line, &cap, fp)) >= 0)
		state_chomp(line, &len);
	if (len < 0 || !token_ok(line, (size_t)len) || (size_t)len >= size ||
	    getline(&line, &cap, fp) >= 0) {
		state_corrupt(err, path, 2, "expected one line of printable ASCII");
		goto out;
	}
	memcpy(buf, line, (size_t)len + 1);
	rc = 1;
out:
	if (fp != NULL)
		fclose(fp);
	free(line);
	free(path);
	return rc;
}

int state_save_token(struct state *st, const char *key, const char *token,
		     struct cda_error *err)
{
	struct atomicfile af = {0};
	char *path;
	int rc = -1;

	if (state_writable(st, err) < 0)
		return -1;
	if (!token_ok(token, strlen(token))) {
		errno = EINVAL;
		return cda_error_sys(err, CDA_ESYS, "token for %s", key);
	}
	if ((path = token_path(st, key)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "state file for %s", key);
	if (atomicfile_open(&af, path, 0600, err) < 0)
		goto out;
	fprintf(af.fp, "%s\n%s\n", TOKEN_MAGIC, token);
	rc = atomicfile_commit(&af, err);
out:
	atomicfile_abort(&af);
	free(path);
	return rc;
}
