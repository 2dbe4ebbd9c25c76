/* SPDX-License-Identifier: MIT */
/* cli: what main.c shares with commands.c (options, logging); private to src/app. */
#ifndef CDNALLOW_APP_CLI_H
#define CDNALLOW_APP_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cda_error.h"
#include "config.h"
#include "state.h"

enum command {
	CMD_SYNC,
	CMD_DIFF,
	CMD_SHOW,
	CMD_FETCH,
	CMD_RESTORE,
	CMD_CHECK,
	CMD_UNLOCK,
	CMD_DOCTOR,
	CMD_PUBLISH,
	CMD_KEYGEN,
};

struct options {
	const char *config;
	enum command cmd;
	bool dry_run, json, force, detailed, verify_full;
	int verbosity; /* -1 quiet, 0 normal, 1 verbose */
	const char **targets;
	size_t n_targets;
	bool use_syslog;
	/* doctor */
	uint16_t *ports;
	size_t n_ports;
	const char **ips;
	size_t n_ips;
	const char *tls_name;
	const char *arg; /* publish: DIR; keygen: the secret key file (optional) */
	long splay;	 /* --splay seconds, -1 unset: the config's splay */
	const char *given[8]; /* options that only some commands take, as typed */
	size_t n_given;
};

const char *command_name(enum command c);
/* A log line to syslog (when on) and stderr, filtered by -q/-v. */
void cli_log(const struct options *o, int prio, const char *fmt, ...) CDA_PRINTF(3, 4);
bool cli_selected(const struct options *o, const char *name);

/* The commands besides the run (commands.c); each returns its exit status. */
int cli_show(const struct options *o, const struct config *cfg, struct state *st);
int cli_doctor(const struct options *o, const struct config *cfg);
int cli_unlock(const struct options *o, const struct config *cfg);
void cli_list_providers(void);

struct minisign_sk;
struct run_list;
/* keygen (publish.c): a new minisign key pair, the public key's line on stdout. */
int cli_keygen(const struct options *o);
/* The configured secret key, decrypted (publish_key, publish_password_file). */
int cli_publish_key(const struct config *cfg, struct minisign_sk *sk, struct cda_error *err);
/* After a publish run: the lists (one per source) written and signed into o->arg. */
int cli_publish(const struct options *o, const struct config *cfg, struct state *st,
		struct run_list *lists, const struct minisign_sk *sk, time_t now);

#endif
