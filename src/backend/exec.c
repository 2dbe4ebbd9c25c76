// SPDX-License-Identifier: MIT
/* exec backend: any firewall a command can change, handed the desired state as JSON. */
#include "backend.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cda_error.h"
#include "config.h"
#include "exec_doc.h"
#include "ranges.h"
#include "state.h"
#include "subproc.h"
#include "textbuf.h"

/*
 * The contract with the command (cdnallow.conf(5)): it runs once per change with the
 * document on stdin; exit 0 means everything was applied and stdout holds the new state
 * token; any other exit means nothing was applied. cdnallow records the list and the token
 * only after an exit 0 with a usable token (and a matching read-back when read_command is
 * set), so a failure is simply tried again by the next run, with the old token.
 */

#define EXEC_TIMEOUT 300 /* seconds; at most SUBPROC_TIMEOUT_MAX, an hour: cdnallow holds
			    its run lock meanwhile */

/* timeout is command_timeout's older name, still taken (one of the two) */
static const char *const exec_keys[] = {"command", "read_command", "command_timeout", "timeout",
					NULL};

struct exec_backend {
	struct backend base;
	struct state *state;
	bool dry_run;
	bool restore; /* at boot: no command runs, the last applied list stands in */
	char *name;
	char **cmd, **read_cmd; /* read_cmd NULL: none */
	unsigned int timeout;
	char key[160];				 /* names the state files */
	char token[STATE_TOKEN_MAX + 1];	 /* from the last apply, "" before the first */
	char new_token[STATE_TOKEN_MAX + 1]; /* from this run's apply */
	struct ranges *held;			 /* what read() returned, normal */
	struct ranges *applied;			 /* want, once applied: what save() records */
};

static struct exec_backend *exec_from_base(struct backend *be)
{
	assert(be != NULL && be->ops == &exec_backend_ops);
	return (struct exec_backend *)be;
}

static void exec_close(struct backend *be)
{
	struct exec_backend *eb;

	if (be == NULL)
		return;
	eb = exec_from_base(be);
	subproc_free_argv(eb->cmd);
	subproc_free_argv(eb->read_cmd);
	ranges_free(eb->held);
	ranges_free(eb->applied);
	free(eb->name);
	free(eb);
}

/* A command line key into an argv (NULL when the key is not set). */
static int argv_of(const struct target_config *tc, const char *key, char ***out,
		   struct cda_error *err)
{
	const char *v = target_get(tc, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	if ((*out = subproc_split(v, NULL)) == NULL) {
		if (errno == ENOMEM)
			return cda_error_sys(err, CDA_ESYS, "reading %s", key);
		return backend_bad_value(err, tc, key, "expected a command (unbalanced quote?)");
	}
	return 0;
}

static int exec_open(struct backend **out, const struct target_config *tc,
		     const struct backend_env *env, struct cda_error *err)
{
	const char *to = target_get(tc, "timeout");
	struct exec_backend *eb;
	long secs = EXEC_TIMEOUT;

	if (target_get(tc, "command") == NULL) {
		cda_error_set(err, CDA_ECONFIG, "command: missing in [target.%s] (backend exec)",
			      tc->name != NULL ? tc->name : "?");
		return cda_error_at(err, tc->config_path, tc->line);
	}
	if ((eb = calloc(1, sizeof(*eb))) == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the exec backend");
	eb->base.ops = &exec_backend_ops;
	eb->state = env->state;
	eb->dry_run = env->dry_run;
	eb->restore = env->restore;
	if (to != NULL && target_get(tc, "command_timeout") != NULL) {
		backend_bad_value(err, tc, "timeout",
				  "the older name of command_timeout: set one of the two");
		goto fail;
	}
	if (to != NULL && (config_parse_duration(to, &secs) < 0 || secs < 1 ||
			   secs > SUBPROC_TIMEOUT_MAX)) {
		backend_bad_value(err, tc, "timeout", "a duration of 1s..1h (\"300\", \"90s\", \"10m\")");
		goto fail;
	}
	eb->timeout = (unsigned int)secs;
	if (to == NULL && backend_command_timeout(tc, EXEC_TIMEOUT, &eb->timeout, err) < 0)
		goto fail;
	if (argv_of(tc, "command", &eb->cmd, err) < 0 ||
	    argv_of(tc, "read_command", &eb->read_cmd, err) < 0)
		goto fail;
	if ((eb->name = strdup(tc->name)) == NULL) {
		cda_error_sys(err, CDA_ESYS, "allocating the exec backend");
		goto fail;
	}
	snprintf(eb->key, sizeof(eb->key), "exec-%s", tc->name);
	if (eb->state != NULL &&
	    state_load_token(eb->state, eb->key, eb->token, sizeof(eb->token), err) < 0)
		goto fail;
	*out = &eb->base;
	return 0;
fail:
	exec_close(&eb->base);
	return -1;
}

/* CDA_EAPPLY "`WORDS` failed (exit N): the end of its stderr (or stdout)". */
static int cmd_failed(char *const argv[], const struct subproc_out *r, struct cda_error *err)
{
	char cmd[64] = "", tail[160];
	size_t n = 0;

	for (size_t i = 0; argv[i] != NULL && n < sizeof(cmd) - 1; i++)
		n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, "%s%s", i ? " " : "", argv[i]);
	exec_tail(r->err_len > 0 ? r->err : r->out, tail, sizeof(tail));
	return cda_error_set(err, CDA_EAPPLY, "`%s` failed (exit %d)%s%s", cmd, r->status,
			     tail[0] ? ": " : "", tail);
}

/* Run argv with the document on stdin; 0 with *r when it exited 0, else -1 (r finished). */
static int run_doc(struct exec_backend *eb, char **argv, const struct exec_doc *d,
		   struct subproc_out *r, struct cda_error *err)
{
	struct textbuf doc = {0};
	struct subproc_opts o = {.argv = argv, .timeout = eb->timeout};
	int rc = -1;

	exec_doc_json(d, &doc);
	if (doc.oom) {
		errno = ENOMEM;
		cda_error_sys(err, CDA_ESYS, "building the document for %s", argv[0]);
		goto out;
	}
	o.in = doc.p;
	o.in_len = doc.len;
	if (subproc_exec(&o, r, err) < 0)
		goto out;
	if (r->status != 0) {
		cmd_failed(argv, r, err);
		subproc_out_finish(r);
		goto out;
	}
	rc = 0;
out:
	free(doc.p);
	return rc;
}

/* What read_command prints, into cur. */
static int run_read(struct exec_backend *eb, struct ranges *cur, struct cda_error *err)
{
	struct exec_doc d = {.target = eb->name, .state = eb->token, .dry_run = eb->dry_run};
	struct subproc_out r;
	unsigned int bad = 0;
	int rc;

	if (run_doc(eb, eb->read_cmd, &d, &r, err) < 0)
		return cda_error_at(err, "read_command", 0);
	rc = exec_parse_held(r.out, cur, &bad);
	subproc_out_finish(&r);
	if (rc == -2)
		return cda_error_sys(err, CDA_ESYS, "reading what %s printed", eb->read_cmd[0]);
	if (rc < 0) {
		cda_error_set(err, CDA_EAPPLY, "`%s` printed something that is not a CIDR on line %u",
			      eb->read_cmd[0], bad);
		return cda_error_at(err, "read_command", 0);
	}
	return 0;
}

static int exec_read(struct backend *be, struct ranges *cur, struct cda_error *err)
{
	struct exec_backend *eb = exec_from_base(be);
	struct ranges *last = NULL;
	uint32_t genid;

	if (eb->read_cmd != NULL && !eb->restore) {
		if (run_read(eb, cur, err) < 0)
			return -1;
	} else if (eb->state != NULL) {
		/* no way to ask the firewall: the last applied list stands in */
		if (state_load_applied(eb->state, eb->key, &last, &genid, err) < 0)
			return -1;
		if (last != NULL && ranges_add_all(cur, last) < 0) {
			ranges_free(last);
			return cda_error_sys(err, CDA_ESYS, "reading the exec target");
		}
		ranges_free(last);
	}
	ranges_free(eb->held);
	if ((eb->held = ranges_dup(cur)) == NULL)
		return cda_error_sys(err, CDA_ESYS, "reading the exec target");
	ranges_normalize(eb->held);
	return 0;
}

/* The prefix lists of the document: want, and what it adds to and removes from held. */
static int prefix_lists(struct exec_backend *eb, const struct ranges *want,
			struct cidr_list *w, struct cidr_list *add, struct cidr_list *del)
{
	struct cidr_list h = {0};
	int rc = -1;

	if (ranges_to_cidrs(want, w) < 0 ||
	    (eb->held != NULL && ranges_to_cidrs(eb->held, &h) < 0) ||
	    cidr_list_diff(&h, w, add, del) < 0)
		goto out;
	rc = 0;
out:
	cidr_list_finish(&h);
	return rc;
}

static int exec_apply(struct backend *be, const struct backend_input *in, struct cda_error *err)
{
	struct exec_backend *eb = exec_from_base(be);
	struct cidr_list w = {0}, add = {0}, del = {0};
	struct exec_doc d = {.target = eb->name, .state = eb->token, .dry_run = eb->dry_run,
			     .want = &w, .added = &add, .removed = &del, .srcs = in->srcs,
			     .n_srcs = in->n_srcs};
	struct subproc_out r = {0};
	const char *why = NULL;
	int rc = -1;

	if (eb->dry_run) /* main.c never applies on a dry run; this is the backstop */
		return cda_error_set(err, CDA_EAPPLY, "the exec command is never run on a dry run");
	/* the firewall is elsewhere and outlives this host's reboot; the network is not up */
	if (eb->restore)
		return cda_error_set(err, CDA_EAPPLY, "restore does not run exec commands: the next "
						      "sync applies the change");
	if (prefix_lists(eb, in->want, &w, &add, &del) < 0) {
		cda_error_sys(err, CDA_ESYS, "building the document for %s", eb->cmd[0]);
		goto out;
	}
	if (run_doc(eb, eb->cmd, &d, &r, err) < 0)
		goto out;
	if (exec_token(r.out, r.out_len, eb->new_token, sizeof(eb->new_token), &why) < 0) {
		cda_error_set(err, CDA_EAPPLY,
			      "`%s` exited 0 but its state token is unusable (%s); nothing is "
			      "recorded and the next run tries again",
			      eb->cmd[0], why);
		goto out;
	}
	ranges_free(eb->applied);
	if ((eb->applied = ranges_dup(in->want)) == NULL) {
		cda_error_sys(err, CDA_ESYS, "recording what %s applied", eb->cmd[0]);
		goto out;
	}
	rc = 0;
out:
	subproc_out_finish(&r);
	cidr_list_finish(&w);
	cidr_list_finish(&add);
	cidr_list_finish(&del);
	return rc;
}

/* With read_command, read back and compare; without, the exit status is the only word. */
static int exec_verify(struct backend *be, const struct ranges *want, struct cda_error *err)
{
	struct exec_backend *eb = exec_from_base(be);
	struct ranges *cur;
	bool same = false;
	int rc = -1;

	if (eb->read_cmd == NULL || eb->restore)
		return 0;
	if ((cur = ranges_new()) == NULL)
		return cda_error_sys(err, CDA_ESYS, "verifying");
	if (run_read(eb, cur, err) < 0)
		goto out;
	if (ranges_same_cover(cur, want, &same) < 0) {
		cda_error_sys(err, CDA_ESYS, "verifying");
		goto out;
	}
	if (!same) {
		ranges_normalize(cur);
		cda_error_set(err, CDA_EAPPLY,
			      "the command exited 0 but read_command then shows %zu IPv4 + %zu "
			      "IPv6 prefixes, not the %zu + %zu applied; nothing is recorded",
			      ranges_cidr_count(cur, CDA_AF_INET), ranges_cidr_count(cur, CDA_AF_INET6),
			      ranges_cidr_count(want, CDA_AF_INET),
			      ranges_cidr_count(want, CDA_AF_INET6));
		goto out;
	}
	rc = 0;
out:
	ranges_free(cur);
	return rc;
}

/* The token first: a list recorded without its token would send a stale one next time. */
static int exec_save(struct backend *be, struct cda_error *err)
{
	struct exec_backend *eb = exec_from_base(be);

	if (eb->applied == NULL || eb->state == NULL)
		return 0;
	if (state_save_token(eb->state, eb->key, eb->new_token, err) < 0 ||
	    state_save_applied(eb->state, eb->key, eb->applied, 0, err) < 0)
		return -1;
	memcpy(eb->token, eb->new_token, sizeof(eb->token));
	return 0;
}

static const char *exec_held_note(struct backend *be)
{
	return exec_from_base(be)->read_cmd == NULL ? "as last applied (no read_command)" : NULL;
}

const struct backend_ops exec_backend_ops = {
	.name = "exec",
	.keys = exec_keys,
	.open = exec_open,
	.read = exec_read,
	.apply = exec_apply,
	.verify = exec_verify,
	.save = exec_save,
	.held_note = exec_held_note,
	.close = exec_close,
};
