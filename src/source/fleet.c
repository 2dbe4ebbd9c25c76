// SPDX-License-Identifier: MIT
/* fleet: a snapshot source's keys and options, and what a fetched snapshot must pass. */
#include "fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cda_error.h"
#include "config.h"
#include "ranges.h"
#include "snapshot.h"

/* One public_key value: the base64 line, or the path of a .pub file. */
static int load_key(const char *v, struct minisign_pk *pk, struct cda_error *err)
{
	char buf[1024];
	ssize_t n;
	int fd;

	if (v[0] != '/')
		return minisign_pk_parse(v, strlen(v), pk, err);
	fd = open(v, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cda_error_sys(err, CDA_ECONFIG, "public_key: %s", v);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return cda_error_sys(err, CDA_ECONFIG, "public_key: %s", v);
	buf[n] = '\0';
	if (minisign_pk_parse(buf, (size_t)n, pk, err) < 0) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		return cda_error_set(err, CDA_ECONFIG, "%.60s: %.180s", v, msg);
	}
	return 0;
}

static int load_keys(const char *value, struct fleet_opts *o, struct cda_error *err)
{
	size_t n = 0;
	char **w = config_split_words(value, &n);
	int rc = -1;

	if (w == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating");
	if (n == 0 || n > FLEET_KEYS_MAX) {
		cda_error_set(err, CDA_ECONFIG, "public_key: 1 to %d keys", FLEET_KEYS_MAX);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (load_key(w[i], &o->keys[i], err) < 0)
			goto out;
	o->n_keys = n;
	rc = 0;
out:
	config_free_words(w);
	return rc;
}

int fleet_opts_load(const struct source_config *sc, struct fleet_opts *o, const char **key,
		    struct cda_error *err)
{
	const char *v;

	memset(o, 0, sizeof(*o));
	o->max_age = FLEET_DEFAULT_MAX_AGE;
	*key = "public_key";
	if ((v = source_get(sc, "public_key")) == NULL)
		return cda_error_set(err, CDA_ECONFIG, "provider snapshot needs public_key "
				     "(the publisher's minisign public key)");
	if (load_keys(v, o, err) < 0)
		return -1;
	*key = "max_age";
	if ((v = source_get(sc, "max_age")) != NULL &&
	    (config_parse_duration(v, &o->max_age) < 0 || o->max_age <= 0))
		return cda_error_set(err, CDA_ECONFIG, "max_age: '%.100s': expected a duration "
				     "(\"7d\", \"36h\")", v);
	*key = "sources";
	if ((v = source_get(sc, "sources")) != NULL) {
		o->sources = config_split_words(v, &o->n_sources);
		if (o->sources == NULL)
			return cda_error_sys(err, CDA_ESYS, "allocating");
		if (o->n_sources == 0)
			return cda_error_set(err, CDA_ECONFIG, "sources: empty");
	}
	*key = NULL;
	return 0;
}

void fleet_opts_finish(struct fleet_opts *o)
{
	config_free_words(o->sources);
	memset(o, 0, sizeof(*o));
}

void fleet_token(uint64_t serial, time_t published, char *buf, size_t size)
{
	snprintf(buf, size, "%" PRIu64 "@%lld", serial, (long long)published);
}

int fleet_token_parse(const char *token, uint64_t *serial, time_t *published)
{
	unsigned long long s;
	long long t;
	int used = 0;

	if (sscanf(token, "%llu@%lld%n", &s, &t, &used) != 2 || token[used] != '\0')
		return 0;
	*serial = s;
	*published = (time_t)t;
	return 1;
}

uint64_t fleet_pointer(const char *body, size_t len, char *name, size_t size,
		       struct cda_error *err)
{
	uint64_t serial;

	if (len > 0 && body[len - 1] == '\n')
		len--;
	serial = snapshot_name_serial(body, len);
	if (serial == 0 || len >= size) {
		cda_error_set(err, CDA_EDATA, "the pointer file does not name a snapshot "
			      "(\"snapshot-N.txt\")");
		return 0;
	}
	memcpy(name, body, len);
	name[len] = '\0';
	return serial;
}

int fleet_check_age(const struct fleet_opts *o, time_t published, time_t now,
		    struct cda_error *err)
{
	if (now - published > o->max_age)
		return cda_error_set(err, CDA_EDATA, "stale snapshot: published %lld s ago, "
				     "max_age is %ld s (is the publisher running?)",
				     (long long)(now - published), o->max_age);
	return 0;
}

/* The trusted comment's "serial:N", when it has one, must be the snapshot's serial. */
static int check_trusted(const char *trusted, uint64_t serial, struct cda_error *err)
{
	const char *p = strstr(trusted, "serial:");
	unsigned long long v;

	if (p == NULL || (p != trusted && p[-1] != '\t'))
		return 0;
	if (sscanf(p + 7, "%llu", &v) != 1 || v != serial)
		return cda_error_set(err, CDA_EDATA, "the signed trusted comment names another "
				     "serial than the snapshot's %" PRIu64, serial);
	return 0;
}

/* The taken sources' union into out: those o names, or every one of s. */
static int take(const struct fleet_opts *o, const struct snapshot *s, struct ranges *out,
		struct cda_error *err)
{
	for (size_t i = 0; o->sources == NULL && i < s->n; i++)
		if (ranges_add_all(out, s->v[i].list) < 0)
			return cda_error_sys(err, CDA_ESYS, "allocating");
	for (size_t i = 0; o->sources != NULL && i < o->n_sources; i++) {
		const char *name = o->sources[i];
		const struct snapshot_source *src = snapshot_find(s, name);

		if (src == NULL)
			return cda_error_set(err, CDA_EDATA, "source %.64s is not in the snapshot "
					     "(publisher %s)", name, s->publisher);
		if (ranges_add_all(out, src->list) < 0)
			return cda_error_sys(err, CDA_ESYS, "allocating");
	}
	ranges_normalize(out);
	return 0;
}

int fleet_accept(const struct fleet_opts *o, const char *body, size_t len, const char *sig,
		 size_t siglen, uint64_t named, uint64_t last_serial, time_t now,
		 struct ranges *out, char *token, size_t size, struct cda_error *err)
{
	struct minisign_sig ms;
	struct snapshot s = {0};
	int rc = -1;

	/* nothing of the body is read before its signature holds */
	if (minisign_sig_parse(sig, siglen, &ms, err) < 0 ||
	    minisign_verify(o->keys, o->n_keys, &ms, body, len, err) < 0)
		return -1;
	if (snapshot_parse(body, len, &s, err) < 0)
		return -1;
	if (check_trusted(ms.trusted, s.serial, err) < 0)
		goto out;
	if (s.serial != named) {
		cda_error_set(err, CDA_EDATA, "the pointer names serial %" PRIu64 " but the "
			      "snapshot holds %" PRIu64, named, s.serial);
		goto out;
	}
	if (s.serial < last_serial) {
		cda_error_set(err, CDA_EDATA, "rollback refused: serial %" PRIu64 " is lower "
			      "than the last accepted %" PRIu64, s.serial, last_serial);
		goto out;
	}
	if (fleet_check_age(o, s.time, now, err) < 0 || take(o, &s, out, err) < 0)
		goto out;
	fleet_token(s.serial, s.time, token, size);
	rc = 0;
out:
	snapshot_finish(&s);
	return rc;
}
