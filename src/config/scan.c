// SPDX-License-Identifier: MIT
/* The file: read safely, split into sections and keys with their lines and values. */
#include "config_priv.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

/* open() + fstat() before reading: a real errno, and the OpenDoas checks. */
int scan_read(const char *path, bool check_owner, char **text, size_t *size,
	      struct cda_error *err)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		cda_error_sys(err, CDA_ECONFIG, "cannot open");
		cda_error_at(err, path, 0);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		cda_error_sys(err, CDA_ECONFIG, "cannot stat");
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		cda_error_set(err, CDA_ECONFIG, "refused: not a regular file");
		goto fail;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		cda_error_set(err, CDA_ECONFIG, "refused: writable by %s (mode %04o)",
			      (st.st_mode & S_IWOTH) != 0 ? "others" : "group",
			      (unsigned int)(st.st_mode & 07777));
		goto fail;
	}
	if (check_owner && st.st_uid != 0) {
		cda_error_set(err, CDA_ECONFIG, "refused: owned by uid %u, not root",
			      (unsigned int)st.st_uid);
		goto fail;
	}
	if (st.st_size > MAX_FILE_BYTES) {
		cda_error_set(err, CDA_ECONFIG, "refused: larger than %d bytes", MAX_FILE_BYTES);
		goto fail;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		cda_error_sys(err, CDA_ESYS, "reading");
		goto fail;
	}
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cda_error_sys(err, CDA_ECONFIG, "cannot read");
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	*text = buf;
	*size = len;
	close(fd);
	return 0;
fail:
	free(buf);
	close(fd);
	cda_error_at(err, path, 0);
	return -1;
}

void scan_free(struct scan *s)
{
	for (size_t i = 0; i < s->n; i++) {
		for (size_t k = 0; k < s->secs[i].n_keys; k++) {
			free(s->secs[i].keys[k].key);
			free(s->secs[i].keys[k].value);
		}
		free(s->secs[i].keys);
		free(s->secs[i].name);
	}
	free(s->secs);
	strmap_finish(&s->seen);
	memset(s, 0, sizeof(*s));
}

/* Room for one more of n items of size sz in *v (capacity *cap, doubled when full). */
static int room(void **v, size_t n, size_t *cap, size_t sz)
{
	void *nv;
	size_t nc;

	if (n < *cap)
		return 0;
	nc = *cap != 0 ? 2 * *cap : 8;
	if ((nv = reallocarray(*v, nc, sz)) == NULL)
		return -1;
	*v = nv;
	*cap = nc;
	return 0;
}

/* Trim in place: returns the first non-space char, cuts trailing space. */
static char *trim(char *s, size_t *len)
{
	size_t n = *len;

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	s[n] = '\0';
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	*len = n;
	return s;
}

static void lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int scan_add_section(struct scan *s, char *name, unsigned int line, const char *path,
			    struct cda_error *err)
{
	void *first = NULL, *secs = s->secs;
	int r;

	if (room(&secs, s->n, &s->cap, sizeof(*s->secs)) < 0) {
		free(name);
		return config_oom(err, path);
	}
	s->secs = secs;
	r = strmap_put(&s->seen, 0, name, strlen(name), (void *)(uintptr_t)(s->n + 1), &first);
	if (r != 0) {
		if (r > 0)
			config_err(err, path, line, "[%s]: duplicate section (first on line %u)",
				   name, s->secs[(uintptr_t)first - 1].line);
		else
			config_oom(err, path);
		free(name);
		return -1;
	}
	s->secs[s->n++] = (struct scan_sec){.name = name, .line = line};
	return 0;
}

static int scan_add_key(struct scan *s, char *key, char *value, unsigned int line,
			const char *path, struct cda_error *err)
{
	struct scan_sec *sec;
	void *first = NULL, *keys;
	int r;

	if (s->n == 0) {
		config_err(err, path, line, "%s: key outside any section", key);
		free(key);
		free(value);
		return -1;
	}
	sec = &s->secs[s->n - 1];
	keys = sec->keys;
	if (room(&keys, sec->n_keys, &sec->cap_keys, sizeof(*sec->keys)) < 0) {
		free(key);
		free(value);
		return config_oom(err, path);
	}
	sec->keys = keys;
	r = strmap_put(&s->seen, s->n, key, strlen(key), (void *)(uintptr_t)line, &first);
	if (r != 0) {
		if (r > 0)
			config_err(err, path, line, "%s: set twice in [%s] (first on line %u)", key,
				   sec->name, (unsigned int)(uintptr_t)first);
		else
			config_oom(err, path);
		free(key);
		free(value);
		return -1;
	}
	sec->keys[sec->n_keys++] = (struct scan_key){.key = key, .value = value, .line = line};
	return 0;
}

/* iniparser keeps only what lies between the quotes of a quoted value and silently drops
 * the rest ("a#b" c -> a#b): refuse anything but a comment after the closing quote. */
static int check_quotes(const char *v)
{
	const char *close;

	while (isspace((unsigned char)*v))
		v++;
	if (*v != '"' && *v != '\'')
		return 0;
	if ((close = strchr(v + 1, *v)) == NULL)
		return -1;
	for (close++; isspace((unsigned char)*close); close++)
		;
	return *close == '\0' || *close == ';' || *close == '#' ? 0 : -1;
}

/*
 * The value after "key =", read as iniparser 4.1 read it (cdnallow used iniparser for values
 * until its quadratic dictionary made large files slow, so files keep their meaning): a value
 * opening with a quote is what lies up to the closing one, verbatim (check_quotes() has made
 * sure one closes and only a comment follows); any other is cut at the first ';' or '#' and
 * trimmed, and "" or '' left alone are empty. In place.
 */
static char *value_of(char *v)
{
	size_t n;
	char *cut;

	while (isspace((unsigned char)*v))
		v++;
	if ((*v == '"' || *v == '\'') && v[1] != *v && v[1] != '\0') {
		*strchr(v + 1, *v) = '\0';
		return v + 1;
	}
	if ((cut = strpbrk(v, ";#")) != NULL)
		*cut = '\0';
	n = strlen(v);
	v = trim(v, &n);
	if (strcmp(v, "\"\"") == 0 || strcmp(v, "''") == 0)
		v[0] = '\0';
	return v;
}

/* "[name]", perhaps followed by a comment: 1 and the name in *name (lowercased copy), 0 not
 * a section header, -1 error. */
static int section_header(char *l, unsigned int line, const char *path, char **name,
			  struct cda_error *err)
{
	char *close = l[0] == '[' ? strchr(l, ']') : NULL, *rest;
	size_t n;

	if (close == NULL)
		return 0;
	for (rest = close + 1; isspace((unsigned char)*rest); rest++)
		;
	if (*rest != '\0' && *rest != ';' && *rest != '#') {
		config_err(err, path, line, "bad section header '%s'", l);
		return -1;
	}
	*close = '\0';
	n = (size_t)(close - (l + 1));
	l = trim(l + 1, &n);
	if (n == 0) {
		config_err(err, path, line, "empty section name");
		return -1;
	}
	if ((*name = strdup(l)) == NULL) {
		config_oom(err, path);
		return -1;
	}
	lower(*name);
	return 1;
}

/*
 * Classify one logical line the way iniparser 4.1 did (strip; '#'/';' comment; "[...]"
 * section; "key = value"), stricter where iniparser would silently guess, and a comment
 * allowed after a section header.
 */
static int scan_line(struct scan *s, char *buf, size_t len, unsigned int line, const char *path,
		     struct cda_error *err)
{
	char *l = trim(buf, &len), *eq, *name = NULL, *value = NULL;
	int r;

	if (len == 0 || l[0] == '#' || l[0] == ';')
		return 0;
	if ((r = section_header(l, line, path, &name, err)) != 0)
		return r < 0 ? -1 : scan_add_section(s, name, line, path, err);
	eq = strchr(l, '=');
	if (eq == NULL || eq == l)
		return config_err(err, path, line, "syntax error: expected 'key = value'");
	if (check_quotes(eq + 1) < 0)
		return config_err(err, path, line,
				  "syntax error: nothing may follow a closing quote");
	*eq = '\0';
	len = (size_t)(eq - l);
	l = trim(l, &len);
	if ((name = strdup(l)) == NULL || (value = strdup(value_of(eq + 1))) == NULL) {
		free(name);
		return config_oom(err, path);
	}
	lower(name);
	return scan_add_key(s, name, value, line, path, err);
}

int scan_text(struct scan *s, const char *text, size_t size, const char *path,
	      struct cda_error *err)
{
	char buf[2 * MAX_LINE + 2];
	size_t blen = 0;
	unsigned int lineno = 0, first = 0;
	const char *p = text, *end = text + size;

	/* text[size] is the terminating NUL: a shorter string means a NUL byte inside */
	if (strlen(text) < size) {
		const char *z = text + strlen(text);
		unsigned int ln = 1;

		for (const char *q = text; q < z; q++)
			ln += *q == '\n';
		return config_err(err, path, ln, "NUL byte in the file");
	}
	/* a UTF-8 byte order mark some editors write is no part of the first line */
	if (size >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		lineno++;
		if (blen == 0)
			first = lineno;
		if (n > MAX_LINE || blen + n > MAX_LINE)
			return config_err(err, path, first, "line too long (at most %d bytes)",
					  MAX_LINE);
		memcpy(buf + blen, p, n);
		blen += n;
		p = nl != NULL ? nl + 1 : end;
		while (blen > 0 && isspace((unsigned char)buf[blen - 1]))
			blen--;
		/* a trailing backslash continues the value on the next line */
		if (blen > 0 && buf[blen - 1] == '\\' && p < end) {
			blen--;
			continue;
		}
		buf[blen] = '\0';
		if (scan_line(s, buf, blen, first, path, err) < 0)
			return -1;
		blen = 0;
	}
	return 0;
}

/* Copy every key of a section with its value into a kv array. */
int scan_copy_kv(struct loader *ld, const struct scan_sec *sec, struct config_kv **out,
		 size_t *n_out)
{
	struct config_kv *kv;

	kv = calloc(sec->n_keys > 0 ? sec->n_keys : 1, sizeof(*kv));
	if (kv == NULL)
		return config_oom(ld->err, ld->path);
	*out = kv;
	*n_out = 0;
	for (size_t i = 0; i < sec->n_keys; i++) {
		kv[i].key = strdup(sec->keys[i].key);
		kv[i].value = strdup(sec->keys[i].value);
		kv[i].line = sec->keys[i].line;
		*n_out = i + 1;
		if (kv[i].key == NULL || kv[i].value == NULL)
			return config_oom(ld->err, ld->path);
	}
	return 0;
}

void scan_free_kv(struct config_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}
