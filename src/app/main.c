// SPDX-License-Identifier: MIT
/* main: options, commands, printing and logging, the exit status (the pipeline is run.c). */
#include <sys/stat.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "atomicfile.h"
#include "backend.h"
#include "catalog.h"
#include "cda_error.h"
#include "config.h"
#include "doctor.h"
#include "minisign.h"
#include "ranges.h"
#include "report.h"
#include "run.h"
#include "state.h"

#include "cli.h"

#define EXIT_CHANGED 2
/* parse_option() and parse_args(): carry on (any other value is an exit status) */
#define GO_ON (-1)

static const struct option long_opts[] = {
	{"config", required_argument, NULL, 'c'},
	{"dry-run", no_argument, NULL, 'n'},
	{"json", no_argument, NULL, 'j'},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{"target", required_argument, NULL, 't'},
	{"force", no_argument, NULL, 'f'},
	{"detailed-exitcode", no_argument, NULL, 'd'},
	{"verify-full", no_argument, NULL, 'V'},
	{"list-providers", no_argument, NULL, 'L'},
	{"port", required_argument, NULL, 'P'},
	{"ip", required_argument, NULL, 'I'},
	{"tls", required_argument, NULL, 'T'},
	{"splay", required_argument, NULL, 'S'},
	{"version", no_argument, NULL, 'R'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: cdnallow [-c FILE] [-n|--dry-run] [--json] [-q|-v] [--target NAME]\n"
		"                [--force] [--detailed-exitcode] [--verify-full]\n"
		"                [--splay SECONDS] [sync|diff|show|fetch|restore|check|unlock]\n"
		"       cdnallow [-c FILE] [--json] [--splay SECONDS] publish DIR\n"
		"       cdnallow keygen [SECKEY]\n"
		"       cdnallow [-c FILE] [--json] [-v] [--target NAME] doctor [--port N ...]\n"
		"                [--ip ADDR ...] [--tls NAME]\n"
		"       cdnallow --list-providers | --version | --help\n"
		"\n"
		"  sync     fetch, guard, diff, apply and verify (default)\n"
		"  diff     what sync would do; changes nothing anywhere\n"
		"  show     what each target holds now\n"
		"  fetch    refresh the cached lists only\n"
		"  restore  apply the last known good lists, no network access\n"
		"  check    validate the configuration\n"
		"  unlock   remove the origin lock at once (the next sync puts it back)\n"
		"  doctor   diagnose why the CDN is refused (read-only)\n"
		"  publish  fetch and validate every source, write a signed snapshot into DIR\n"
		"  keygen   a new key pair for publish (minisign format)\n"
		"\nconfig: %s\n",
		CONFIG_DEFAULT_PATH);
}

void cli_log(const struct options *o, int prio, const char *fmt, ...)
{
	va_list ap;

	if (o->use_syslog) {
		va_start(ap, fmt);
		vsyslog(prio, fmt, ap);
		va_end(ap);
	}
	if (prio >= LOG_INFO && o->verbosity < 0)
		return;
	if (prio >= LOG_DEBUG && o->verbosity < 1)
		return;
	va_start(ap, fmt);
	fputs("cdnallow: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* The run's log lines, in the order it met them. */
static void print_notes(const struct options *o, const struct run_report *r)
{
	for (size_t i = 0; i < r->n_notes; i++)
		cli_log(o, r->notes[i].prio, "%s", r->notes[i].msg);
}

static int parse_command(const char *s, enum command *out)
{
	static const struct {
		const char *name;
		enum command cmd;
	} cmds[] = {
		{"sync", CMD_SYNC},	  {"diff", CMD_DIFF},	{"show", CMD_SHOW},
		{"fetch", CMD_FETCH},	  {"restore", CMD_RESTORE}, {"check", CMD_CHECK},
		{"unlock", CMD_UNLOCK},	  {"doctor", CMD_DOCTOR}, {"publish", CMD_PUBLISH},
		{"keygen", CMD_KEYGEN},
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(s, cmds[i].name) == 0) {
			*out = cmds[i].cmd;
			return 0;
		}
	}
	return -1;
}

const char *command_name(enum command c)
{
	static const char *const names[] = {"sync",  "diff",   "show",  "fetch",
					    "restore", "check", "unlock", "doctor",
					    "publish", "keygen"};
	return names[c];
}

bool cli_selected(const struct options *o, const char *name)
{
	return run_selects(o->targets, o->n_targets, name);
}

static int exit_status(const struct options *o, const struct run_report *r)
{
	bool failed = false, refused = false, data = false, fetch = false, sys = false;
	bool config = false;

	for (size_t i = 0; i < r->n_targets; i++) {
		const struct target_report *t = &r->targets[i];

		if (t->status == TGT_FAILED) {
			failed = true;
			sys |= t->err.code == CDA_ESYS;
			config |= t->err.code == CDA_ECONFIG;
		}
		if ((t->status == TGT_CHANGED || t->status == TGT_UNCHANGED) &&
		    t->err.code == CDA_ESYS)
			sys = true; /* in step, but the state dir failed */
		refused |= t->status == TGT_REFUSED;
		if (t->status == TGT_SKIPPED) {
			data |= t->err.code == CDA_EDATA;
			fetch |= t->err.code != CDA_EDATA;
		}
	}
	for (size_t i = 0; i < r->n_sources; i++) {
		if (r->sources[i].status == SRC_FALLBACK)
			fetch = true;
		if (r->sources[i].status == SRC_FAILED) {
			if (r->sources[i].err.code == CDA_EDATA)
				data = true;
			else
				fetch = true;
		}
	}
	if (sys || r->state_err.code != CDA_OK)
		return 71;
	if (config)
		return 78;
	if (failed)
		return 69;
	if (refused)
		return 3;
	if (data)
		return 65;
	if (fetch)
		return 75;
	if (o->detailed && r->changed)
		return EXIT_CHANGED;
	return 0;
}

static void write_metrics(const struct options *o, const struct config *cfg,
			  const struct run_report *r, int status)
{
	struct atomicfile af = {0};
	struct cda_error err = {0};
	struct stat sb;
	time_t last_success = 0, last_change = 0;
	char buf[600];

	if (cfg->metrics_file == NULL || o->dry_run)
		return;
	/* carry the previous timestamps over: the file itself is their store */
	if (stat(cfg->metrics_file, &sb) == 0) {
		FILE *fp = fopen(cfg->metrics_file, "r");
		char line[512];
		long long v;

		while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
			if (sscanf(line, "cdnallow_last_success_timestamp_seconds %lld", &v) == 1)
				last_success = (time_t)v;
			if (sscanf(line, "cdnallow_last_change_timestamp_seconds %lld", &v) == 1)
				last_change = (time_t)v;
		}
		if (fp != NULL)
			fclose(fp);
	}
	if (status == 0 || status == EXIT_CHANGED)
		last_success = r->started;
	if (r->changed)
		last_change = r->started;
	if (atomicfile_open(&af, cfg->metrics_file, 0644, &err) < 0 ||
	    report_metrics(af.fp, r, last_success, last_change) < 0 ||
	    atomicfile_commit(&af, &err) < 0) {
		atomicfile_abort(&af);
		cli_log(o, LOG_WARNING, "metrics: %s", cda_error_str(&err, buf, sizeof(buf)));
	}
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --splay or the splay key: a random sleep of 0..N s before a run from cron (not a dry run). */
static void splay(const struct options *o, const struct config *cfg)
{
	long n = o->splay >= 0 ? o->splay : cfg->splay;
	uint32_t secs;

	if (n <= 0 || o->dry_run ||
	    (o->cmd != CMD_SYNC && o->cmd != CMD_FETCH && o->cmd != CMD_PUBLISH))
		return;
	secs = randombytes_uniform((uint32_t)n + 1);
	cli_log(o, LOG_INFO, "splay: waiting %u s of at most %ld", secs, n);
	sleep(secs);
}

/* publish: the secret key (before anything is fetched) and a slot per source. */
static int publish_prepare(const struct options *o, const struct config *cfg,
			   struct minisign_sk *sk, struct run_list **lists)
{
	struct cda_error err = {0};
	char buf[600];

	if (cli_publish_key(cfg, sk, &err) < 0) {
		cli_log(o, LOG_ERR, "publish: %s", cda_error_str(&err, buf, sizeof(buf)));
		return cda_error_exit_status(&err);
	}
	*lists = calloc(cfg->n_sources + 1, sizeof(**lists));
	return *lists == NULL ? 71 : 0;
}

static void free_lists(const struct config *cfg, struct run_list *lists)
{
	for (size_t i = 0; lists != NULL && i < cfg->n_sources; i++)
		ranges_free(lists[i].list);
	free(lists);
}

static int run(const struct options *o, const struct config *cfg)
{
	struct run_report rep = {0};
	struct run_opts ro = {.dry_run = o->dry_run, .force = o->force,
			      .verify_full = o->verify_full, .targets = o->targets,
			      .n_targets = o->n_targets};
	struct state *st = NULL;
	struct cda_error err = {0};
	bool readonly = o->dry_run || o->cmd == CMD_SHOW;
	double t0 = now_seconds();
	char buf[600];
	int status;

	struct minisign_sk sk = {0};

	ro.mode = o->cmd == CMD_FETCH || o->cmd == CMD_PUBLISH ? RUN_FETCH :
		  o->cmd == CMD_RESTORE ? RUN_RESTORE : RUN_SYNC;
	if (o->cmd == CMD_PUBLISH && (status = publish_prepare(o, cfg, &sk, &ro.lists)) != 0)
		return status;
	splay(o, cfg);
	rep.command = command_name(o->cmd);
	rep.dry_run = o->dry_run;
	rep.started = time(NULL);
	if (state_open(&st, cfg->state_dir, cfg->lock_timeout, readonly, &err) < 0) {
		cli_log(o, LOG_ERR, "%s", cda_error_str(&err, buf, sizeof(buf)));
		free_lists(cfg, ro.lists);
		return cda_error_exit_status(&err);
	}
	if (o->cmd == CMD_SHOW) {
		status = cli_show(o, cfg, st);
		state_close(st);
		return status;
	}
	if (run_sync(&ro, cfg, st, &rep, &err) < 0) {
		print_notes(o, &rep);
		if (err.msg[0] != '\0')
			cli_log(o, LOG_ERR, "%s", cda_error_str(&err, buf, sizeof(buf)));
		status = cda_error_exit_status(&err);
		goto out;
	}
	rep.seconds = now_seconds() - t0;
	print_notes(o, &rep);
	status = exit_status(o, &rep);
	if (o->json) {
		report_json(stdout, &rep);
	} else if (o->verbosity >= 0 || rep.changed || status != 0) {
		report_human(stdout, &rep, o->verbosity > 0);
	}
	write_metrics(o, cfg, &rep, status);
	if (ro.lists != NULL && (status == 0 || status == 75 || status == EXIT_CHANGED)) {
		int ps = cli_publish(o, cfg, st, ro.lists, &sk, rep.started);

		status = ps != 0 ? ps : status;
	}
out:
	explicit_bzero(&sk, sizeof(sk));
	free_lists(cfg, ro.lists);
	report_finish(&rep);
	state_close(st);
	return status;
}

/* Append s to a growing array of borrowed strings; -1 when out of memory. */
static int push_str(const char ***v, size_t *n, const char *s)
{
	const char **t = reallocarray(*v, *n + 1, sizeof(*t));

	if (t == NULL)
		return -1;
	*v = t;
	t[(*n)++] = s;
	return 0;
}

/* One option into o: GO_ON, or the exit status to end with (--help, a usage error...). */
static int parse_option(int ch, const char *arg, struct options *o)
{
	switch (ch) {
	case 'c':
		o->config = arg;
		return GO_ON;
	case 'n':
		o->dry_run = true;
		return GO_ON;
	case 'j':
		o->json = true;
		return GO_ON;
	case 'q':
		o->verbosity = -1;
		return GO_ON;
	case 'v':
		o->verbosity = 1;
		return GO_ON;
	case 't':
		return push_str(&o->targets, &o->n_targets, arg) < 0 ? 71 : GO_ON;
	case 'f':
		o->force = true;
		return GO_ON;
	case 'd':
		o->detailed = true;
		return GO_ON;
	case 'V':
		o->verify_full = true;
		return GO_ON;
	case 'L':
		cli_list_providers();
		return 0;
	case 'P': {
		unsigned long port;
		uint16_t *p = reallocarray(o->ports, o->n_ports + 1, sizeof(*p));

		if (p == NULL)
			return 71;
		o->ports = p;
		if (config_parse_ulong(arg, 1, 65535, &port) < 0) {
			fprintf(stderr, "cdnallow: --port %s: expected 1..65535\n", arg);
			return 64;
		}
		o->ports[o->n_ports++] = (uint16_t)port;
		return GO_ON;
	}
	case 'I':
		return push_str(&o->ips, &o->n_ips, arg) < 0 ? 71 : GO_ON;
	case 'T':
		o->tls_name = arg;
		return GO_ON;
	case 'S': {
		unsigned long v;

		if (config_parse_ulong(arg, 0, 86400, &v) < 0) {
			fprintf(stderr, "cdnallow: --splay %s: expected 0..86400 seconds\n", arg);
			return 64;
		}
		o->splay = (long)v;
		return GO_ON;
	}
	case 'R':
		printf("cdnallow %s\n", CDNALLOW_VERSION);
		return 0;
	case 'h':
		usage(stdout);
		return 0;
	default:
		usage(stderr);
		return 64;
	}
}

/* getopt's complaint about ARG ('?' unknown, ':' argument missing), with our name. */
static void bad_option(int ch, const char *arg)
{
	const char *eq = strchr(arg, '=');
	int len = eq != NULL && strncmp(arg, "--", 2) == 0 ? (int)(eq - arg) : (int)strlen(arg);

	if (ch == ':')
		fprintf(stderr, "cdnallow: option '%.*s' needs an argument\n", len, arg);
	else if (strncmp(arg, "--", 2) == 0 || optopt == 0)
		fprintf(stderr, "cdnallow: unknown option '%.*s'\n", len, arg);
	else
		fprintf(stderr, "cdnallow: unknown option '-%c'\n", optopt);
}

/* Options that some commands do not take, with the commands that do (by letter). */
static const struct {
	const char *name;
	int ch;
	unsigned int cmds; /* 1 << enum command */
} option_scope[] = {
#define RUNS ((1U << CMD_SYNC) | (1U << CMD_DIFF) | (1U << CMD_FETCH) | (1U << CMD_RESTORE))
#define SPLAYS ((1U << CMD_SYNC) | (1U << CMD_FETCH) | (1U << CMD_PUBLISH))
	{"--dry-run", 'n', RUNS},
	{"--force", 'f', RUNS},
	{"--detailed-exitcode", 'd', RUNS},
	{"--verify-full", 'V', RUNS},
	{"--port", 'P', 1U << CMD_DOCTOR},
	{"--ip", 'I', 1U << CMD_DOCTOR},
	{"--tls", 'T', 1U << CMD_DOCTOR},
	{"--splay", 'S', SPLAYS},
#undef SPLAYS
#undef RUNS
};

static void note_given(int ch, struct options *o)
{
	for (size_t i = 0; i < sizeof(option_scope) / sizeof(option_scope[0]); i++)
		if (option_scope[i].ch == ch && o->n_given < sizeof(o->given) / sizeof(o->given[0]))
			o->given[o->n_given++] = option_scope[i].name;
}

/* 0, or 64 with a message when an option given is not one the command takes. */
static int check_scope(const struct options *o)
{
	for (size_t g = 0; g < o->n_given; g++) {
		for (size_t i = 0; i < sizeof(option_scope) / sizeof(option_scope[0]); i++) {
			if (strcmp(option_scope[i].name, o->given[g]) != 0 ||
			    (option_scope[i].cmds & (1U << o->cmd)) != 0)
				continue;
			fprintf(stderr, "cdnallow: %s does not take %s\n", command_name(o->cmd),
				o->given[g]);
			return 64;
		}
	}
	return 0;
}

/* The command line into o: GO_ON, or the exit status to end with. */
static int parse_args(int argc, char **argv, struct options *o)
{
	int ch, status;

	opterr = 0; /* getopt would name argv[0] (a path); say it our way */
	while ((ch = getopt_long(argc, argv, ":c:nqvt:fh", long_opts, NULL)) != -1) {
		if (ch == '?' || ch == ':') {
			bad_option(ch, argv[optind - 1]);
			usage(stderr);
			return 64;
		}
		note_given(ch, o);
		status = parse_option(ch, optarg, o);
		if (status != GO_ON)
			return status;
	}
	if (optind < argc && parse_command(argv[optind++], &o->cmd) < 0) {
		fprintf(stderr, "cdnallow: unknown command '%s'\n", argv[optind - 1]);
		usage(stderr);
		return 64;
	}
	if (optind < argc && (o->cmd == CMD_PUBLISH || o->cmd == CMD_KEYGEN))
		o->arg = argv[optind++];
	if (o->cmd == CMD_PUBLISH && o->arg == NULL) {
		fprintf(stderr, "cdnallow: publish needs a directory: publish DIR\n");
		return 64;
	}
	if (optind < argc) {
		fprintf(stderr, "cdnallow: unexpected argument '%s'\n", argv[optind]);
		return 64;
	}
	if (check_scope(o) != 0)
		return 64;
	if (o->cmd == CMD_DIFF)
		o->dry_run = true;
	return GO_ON;
}

/* `check`: each target's backend opened, which checks its keys' values, then closed. */
static int check_backends(const struct options *o, const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_targets; i++) {
		const struct backend_ops *ops = backend_find(cfg->targets[i].backend);
		struct backend_env env = {.verify_max = cfg->verify_max, .dry_run = true};
		struct cda_error err = {0};
		struct backend *be = NULL;
		char buf[600];

		if (ops == NULL || backend_open(ops, &be, &cfg->targets[i], &env, &err) == 0) {
			backend_close(be);
			continue;
		}
		fprintf(stderr, "cdnallow: %s\n", cda_error_str(&err, buf, sizeof(buf)));
		if (o->json)
			report_check_json(stdout, cfg->path, 0, 0, &err);
		return cda_error_exit_status(&err);
	}
	return 0;
}

/* The command, with the configuration loaded: its exit status. */
static int dispatch(const struct options *o, const struct config *cfg)
{
	struct cda_error err = {0};
	char buf[600];
	int status;

	for (size_t i = 0; i < o->n_targets; i++) {
		if (config_find_target(cfg, o->targets[i]) == NULL) {
			fprintf(stderr, "cdnallow: --target %s: no [target.%s] in %s\n",
				o->targets[i], o->targets[i], cfg->path);
			return 64;
		}
	}
	if (o->cmd == CMD_CHECK) {
		if ((status = check_backends(o, cfg)) != 0)
			return status;
		if (o->json)
			report_check_json(stdout, cfg->path, cfg->n_sources, cfg->n_targets, NULL);
		else if (o->verbosity >= 0)
			printf("%s: OK, %zu sources, %zu targets\n", cfg->path, cfg->n_sources,
			       cfg->n_targets);
		return 0;
	}
	if (o->cmd == CMD_UNLOCK)
		return cli_unlock(o, cfg);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "cdnallow: libcurl initialisation failed\n");
		return 71;
	}
	if (minisign_init(&err) < 0) { /* before the fetch child: it verifies snapshots */
		fprintf(stderr, "cdnallow: %s\n", cda_error_str(&err, buf, sizeof(buf)));
		curl_global_cleanup();
		return 71;
	}
	status = o->cmd == CMD_DOCTOR ? cli_doctor(o, cfg) : run(o, cfg);
	curl_global_cleanup();
	return status;
}

int main(int argc, char **argv)
{
	struct options o = {.config = CONFIG_DEFAULT_PATH, .cmd = CMD_SYNC, .splay = -1};
	struct config cfg = {0};
	struct cda_error err = {0};
	char buf[600];
	int status = parse_args(argc, argv, &o);

	if (status != GO_ON)
		goto out;
	if (o.cmd == CMD_KEYGEN) { /* needs no configuration */
		status = cli_keygen(&o);
		goto out;
	}
	o.use_syslog = !isatty(STDERR_FILENO) && getenv("CDNALLOW_NO_SYSLOG") == NULL;
	if (o.use_syslog)
		openlog("cdnallow", LOG_PID, LOG_DAEMON);
	if (config_load(&cfg, o.config, geteuid() == 0, &err) < 0) {
		fprintf(stderr, "cdnallow: %s\n", cda_error_str(&err, buf, sizeof(buf)));
		status = cda_error_exit_status(&err);
		if (o.json && o.cmd == CMD_CHECK)
			report_check_json(stdout, o.config, 0, 0, &err);
	} else {
		status = dispatch(&o, &cfg);
	}
	config_finish(&cfg);
out:
	free(o.targets);
	free(o.ports);
	free(o.ips);
	if (o.use_syslog)
		closelog();
	return status;
}
