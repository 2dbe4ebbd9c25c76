// SPDX-License-Identifier: MIT
/* commands: show, doctor, unlock and --list-providers (the run itself is run.c). */
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

#include "backend.h"
#include "catalog.h"
#include "cda_error.h"
#include "config.h"
#include "doctor.h"
#include "ranges.h"
#include "state.h"

#include "cli.h"

void cli_list_providers(void)
{
	size_t n;
	const struct catalog_entry *e = catalog_all(&n);

	for (size_t i = 0; i < n; i++) {
		printf("%-16s %-15s", e[i].name, catalog_format_name(e[i].format));
		if (e[i].urls == NULL || e[i].urls[0] == NULL)
			printf(" (url required)");
		for (const char *const *u = e[i].urls; u != NULL && *u != NULL; u++)
			printf(" %s", *u);
		printf("\n");
	}
}

/* `show`: what each selected target holds now. */
int cli_show(const struct options *o, const struct config *cfg, struct state *st)
{
	int status = 0;

	if (o->json)
		printf("{\"targets\":[");
	for (size_t i = 0, shown = 0; i < cfg->n_targets; i++) {
		const struct target_config *tc = &cfg->targets[i];
		const struct backend_ops *ops = backend_find(tc->backend);
		struct backend_env env = {.state = st, .verify_max = cfg->verify_max,
					  .dry_run = true};
		struct backend *be = NULL;
		struct ranges *cur = ranges_new();
		struct cidr_list l = {0};
		struct cda_error err = {0};
		const char *note = NULL; /* read() answered without asking the target */
		char buf[600];

		if (!cli_selected(o, tc->name) || cur == NULL) {
			ranges_free(cur);
			continue;
		}
		if (ops == NULL || backend_open(ops, &be, tc, &env, &err) < 0 ||
		    backend_read(be, cur, &err) < 0) {
			if (ops == NULL)
				cda_error_set(&err, CDA_ECONFIG, "backend %s is not built in",
					      tc->backend);
			cli_log(o, LOG_ERR, "target %s: %s", tc->name,
			       cda_error_str(&err, buf, sizeof(buf)));
			status = cda_error_exit_status(&err);
		} else {
			ranges_normalize(cur);
			ranges_to_cidrs(cur, &l);
			note = backend_held_note(be);
		}
		if (o->json) {
			printf("%s{\"name\":\"%s\",\"backend\":\"%s\",", shown++ ? "," : "", tc->name,
			       tc->backend);
			if (note != NULL)
				printf("\"note\":\"%s\",", note);
			printf("\"entries\":[");
			for (size_t k = 0; k < l.n; k++)
				printf("%s\"%s\"", k ? "," : "", cidr_format(&l.v[k], buf));
			printf("]}");
		} else {
			printf("target %s (%s): %zu IPv4 + %zu IPv6%s%s\n", tc->name, tc->backend,
			       ranges_cidr_count(cur, CDA_AF_INET),
			       ranges_cidr_count(cur, CDA_AF_INET6), note != NULL ? ", " : "",
			       note != NULL ? note : "");
			for (size_t k = 0; k < l.n; k++)
				printf("  %s\n", cidr_format(&l.v[k], buf));
		}
		cidr_list_finish(&l);
		ranges_free(cur);
		backend_close(be);
	}
	if (o->json)
		printf("]}\n");
	return status;
}

/* `doctor`: read-only diagnosis; exit 1 when a finding is an error. */
int cli_doctor(const struct options *o, const struct config *cfg)
{
	struct doctor_opts d = {.ports = o->ports, .n_ports = o->n_ports, .ips = o->ips,
				.n_ips = o->n_ips, .tls_name = o->tls_name,
				.targets = o->targets, .n_targets = o->n_targets};
	struct doctor_report r = {0};
	struct cda_error err = {0};
	char buf[600];
	int status;

	if (doctor_run(&d, cfg, &r, &err) < 0) {
		fprintf(stderr, "cdnallow: doctor: %s\n", cda_error_str(&err, buf, sizeof(buf)));
		status = cda_error_exit_status(&err);
	} else {
		if (o->json)
			doctor_report_json(stdout, &r);
		else
			doctor_report_human(stdout, &r, o->verbosity > 0);
		status = doctor_report_worst(&r) == DOCTOR_ERROR ? 1 : 0;
	}
	doctor_report_finish(&r);
	return status;
}

/* `unlock`: remove every selected target's origin lock at once; sets stay as they are. */
int cli_unlock(const struct options *o, const struct config *cfg)
{
	struct state *st = NULL;
	struct cda_error err = {0};
	int status = 0, done = 0;
	char buf[600];

	if (state_open(&st, cfg->state_dir, cfg->lock_timeout, false, &err) < 0) {
		cli_log(o, LOG_ERR, "%s", cda_error_str(&err, buf, sizeof(buf)));
		return cda_error_exit_status(&err);
	}
	for (size_t i = 0; i < cfg->n_targets; i++) {
		const struct target_config *tc = &cfg->targets[i];
		const struct backend_ops *ops = backend_find(tc->backend);
		struct backend_env env = {.state = st, .verify_max = cfg->verify_max};
		struct backend *be = NULL;

		if (!cli_selected(o, tc->name) || ops == NULL || ops->unlock == NULL)
			continue;
		cda_error_clear(&err);
		if (backend_open(ops, &be, tc, &env, &err) < 0 || backend_unlock(be, &err) < 0) {
			cli_log(o, LOG_ERR, "target %s: unlock failed: %s", tc->name,
			       cda_error_str(&err, buf, sizeof(buf)));
			status = cda_error_exit_status(&err);
		} else {
			cli_log(o, LOG_NOTICE, "target %s: origin lock removed; the next sync puts it "
					      "back", tc->name);
			done++;
		}
		backend_close(be);
	}
	state_close(st);
	if (done == 0 && status == 0) {
		fprintf(stderr, "cdnallow: unlock: no selected target has an origin lock\n");
		return 64;
	}
	return status;
}
