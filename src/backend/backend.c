// SPDX-License-Identifier: MIT
/* The backend registry, the dispatchers and the helpers the backends share. */
#include "backend.h"

#include <assert.h>
#include <string.h>

#include "cda_error.h"
#include "config.h"
#include "ranges.h"
#include "subproc.h"

static const struct backend_ops *const registry[] = {
#ifdef HAVE_NFTABLES
	&nft_backend_ops,
#endif
#ifdef HAVE_FIREWALLD
	&firewalld_backend_ops,
#endif
	&iptables_backend_ops,
	&ufw_backend_ops,
	&csf_backend_ops,
	&fail2ban_backend_ops,
	&file_backend_ops,
	&exec_backend_ops,
	&null_backend_ops,
};

const struct backend_ops *const *backend_all(size_t *n)
{
	*n = sizeof(registry) / sizeof(registry[0]);
	return registry;
}

const struct backend_ops *backend_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++)
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}

const char *backend_source_of(const struct source_attr *srcs, size_t n, const struct cidr *c)
{
	for (size_t i = 0; i < n; i++)
		if (srcs[i].list != NULL && ranges_contains(srcs[i].list, c->family, c->addr))
			return srcs[i].name;
	return NULL;
}

int backend_add_cidr_text(struct ranges *r, int fam, const char *s, size_t len)
{
	struct cidr c;
	enum cidr_parse_result pr = cidr_parse(s, len, &c, NULL);

	if (pr == CIDR_INVALID || c.family != fam)
		return 1;
	return ranges_add_cidr(r, &c);
}

bool backend_accepts_key(const struct backend_ops *ops, const char *key)
{
	if (ops == NULL || ops->keys == NULL)
		return false;
	for (const char *const *k = ops->keys; *k != NULL; k++)
		if (strcmp(*k, key) == 0)
			return true;
	return false;
}

int backend_bad_value(struct cda_error *err, const struct target_config *tc, const char *key,
		      const char *why)
{
	cda_error_set(err, CDA_ECONFIG, "%s: %s", key, why);
	return cda_error_at(err, tc->config_path, target_line(tc, key));
}

bool backend_command_ok(const char *s)
{
	return s[0] != '\0' && strpbrk(s, " \t\n") == NULL;
}

int backend_command_timeout(const struct target_config *tc, unsigned int def,
			    unsigned int *secs, struct cda_error *err)
{
	const char *v = target_get(tc, "command_timeout");
	long n = def;

	if (v != NULL && (config_parse_duration(v, &n) < 0 || n < 1 || n > SUBPROC_TIMEOUT_MAX))
		return backend_bad_value(err, tc, "command_timeout",
					 "a duration of 1s..1h (\"60\", \"90s\", \"10m\")");
	*secs = (unsigned int)n;
	return 0;
}

int backend_open(const struct backend_ops *ops, struct backend **out,
		 const struct target_config *tc, const struct backend_env *env,
		 struct cda_error *err)
{
	assert(ops != NULL && ops->open != NULL);
	*out = NULL;
	if (ops->open(out, tc, env, err) < 0)
		return -1;
	assert(*out != NULL && (*out)->ops == ops);
	return 0;
}

int backend_read(struct backend *be, struct ranges *cur, struct cda_error *err)
{
	ranges_clear(cur);
	if (be->ops->read(be, cur, err) < 0)
		return -1;
	ranges_sort(cur);
	return 0;
}

int backend_apply(struct backend *be, const struct backend_input *in, struct cda_error *err)
{
	return be->ops->apply(be, in, err);
}

int backend_verify(struct backend *be, const struct ranges *want, struct cda_error *err)
{
	struct ranges *cur;
	bool same = false;
	int rc;

	if (be->ops->verify != NULL)
		return be->ops->verify(be, want, err);
	/* default: read back and compare address coverage */
	cur = ranges_new();
	if (cur == NULL)
		return cda_error_sys(err, CDA_ESYS, "verifying");
	rc = backend_read(be, cur, err);
	if (rc == 0 && ranges_same_cover(cur, want, &same) < 0)
		rc = cda_error_sys(err, CDA_ESYS, "verifying");
	if (rc == 0 && !same)
		rc = cda_error_set(err, CDA_EAPPLY,
				   "read-back differs from what was applied (%zu/%zu ranges held, "
				   "%zu/%zu wanted)",
				   ranges_count4(cur), ranges_count6(cur), ranges_count4(want),
				   ranges_count6(want));
	ranges_free(cur);
	return rc;
}

int backend_verify_cover(struct backend *be, const struct ranges *want, const char *what,
			 const char *mismatch, const char *origin, struct cda_error *err)
{
	struct ranges *cur = ranges_new();
	bool same = false;
	int ret = -1;

	if (cur == NULL)
		return cda_error_sys(err, CDA_ESYS, "verifying %s", what);
	if (be->ops->read(be, cur, err) < 0)
		goto out;
	if (ranges_same_cover(cur, want, &same) < 0) {
		cda_error_sys(err, CDA_ESYS, "verifying %s", what);
		goto out;
	}
	if (!same) {
		cda_error_set(err, CDA_EAPPLY, "%s", mismatch);
		cda_error_at(err, origin, 0);
		goto out;
	}
	ret = 0;
out:
	ranges_free(cur);
	return ret;
}

int backend_save(struct backend *be, struct cda_error *err)
{
	return be->ops->save != NULL ? be->ops->save(be, err) : 0;
}

int backend_unlock(struct backend *be, struct cda_error *err)
{
	if (be->ops->unlock == NULL)
		return cda_error_set(err, CDA_EUSAGE, "backend %s has no origin lock",
				     be->ops->name);
	return be->ops->unlock(be, err);
}

int backend_drift(struct backend *be, bool *drift, struct cda_error *err)
{
	*drift = false;
	return be->ops->drift != NULL ? be->ops->drift(be, drift, err) : 0;
}

const char *backend_lock_info(struct backend *be)
{
	return be->ops->lock_info != NULL ? be->ops->lock_info(be) : NULL;
}

const char *backend_held_note(struct backend *be)
{
	return be->ops->held_note != NULL ? be->ops->held_note(be) : NULL;
}

int backend_snapshot(struct backend *be, bool *written, struct cda_error *err)
{
	*written = false;
	return be->ops->snapshot != NULL ? be->ops->snapshot(be, written, err) : 0;
}

void backend_claims(struct backend *be, struct textbuf *out)
{
	if (be->ops->claims != NULL)
		be->ops->claims(be, out);
}

const char *backend_drift_what(const char *backend)
{
	const struct backend_ops *ops = backend_find(backend);

	return ops != NULL && ops->drift_what != NULL ? ops->drift_what : "origin lock";
}

void backend_close(struct backend *be)
{
	if (be != NULL)
		be->ops->close(be);
}
