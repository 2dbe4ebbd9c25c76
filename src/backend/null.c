// SPDX-License-Identifier: MIT
/*
 * The null backend touches no system: it keeps what it "holds" in the state dir, so a
 * run against it behaves like a run against a real target (diff, guards, idempotence).
 * The shortest example of the backend interface, and the golden tests' target.
 */
#include "backend.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "cda_error.h"
#include "config.h"
#include "ranges.h"
#include "state.h"

struct null_backend {
	struct backend base;
	struct state *state;
	char key[160];
};

static const char *const null_keys[] = {NULL};

static struct null_backend *null_from_base(struct backend *be)
{
	assert(be->ops == &null_backend_ops);
	return (struct null_backend *)be;
}

static int null_open(struct backend **out, const struct target_config *tc,
		     const struct backend_env *env, struct cda_error *err)
{
	struct null_backend *nb = calloc(1, sizeof(*nb));

	if (nb == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the null backend");
	nb->base.ops = &null_backend_ops;
	nb->state = env->state;
	snprintf(nb->key, sizeof(nb->key), "null-%s", tc->name);
	*out = &nb->base;
	return 0;
}

static int null_read(struct backend *be, struct ranges *cur, struct cda_error *err)
{
	struct null_backend *nb = null_from_base(be);
	struct ranges *held = NULL;
	uint32_t genid;
	int found;

	if (nb->state == NULL)
		return 0;
	found = state_load_applied(nb->state, nb->key, &held, &genid, err);
	if (found < 0)
		return -1;
	if (found > 0 && ranges_add_all(cur, held) < 0) {
		ranges_free(held);
		return cda_error_sys(err, CDA_ESYS, "reading the null target");
	}
	ranges_free(held);
	return 0;
}

/* The state file is this target's whole content: replacing it is the atomic apply. */
static int null_apply(struct backend *be, const struct backend_input *in, struct cda_error *err)
{
	struct null_backend *nb = null_from_base(be);

	if (nb->state == NULL)
		return cda_error_set(err, CDA_EAPPLY, "the null backend needs a state dir");
	return state_save_applied(nb->state, nb->key, in->want, 0, err);
}

static void null_close(struct backend *be)
{
	if (be != NULL)
		free(null_from_base(be));
}

const struct backend_ops null_backend_ops = {
	.name = "null",
	.keys = null_keys,
	.open = null_open,
	.read = null_read,
	.apply = null_apply,
	.close = null_close,
};
