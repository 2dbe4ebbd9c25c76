/* SPDX-License-Identifier: MIT */
/* doctor: why is the CDN refused? read-only checks and their findings. */
#ifndef CDNALLOW_DOCTOR_H
#define CDNALLOW_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cda_error;
struct config;

/*
 * `cdnallow doctor`: why is the CDN refused at this origin? Read-only checks of the
 * firewall (the kernel's nftables ruleset read over netlink, evaluated for a CDN packet to
 * each origin port), bans on CDN addresses (Fail2Ban, CSF, ipset, nft sets), listening
 * sockets, conntrack headroom and the origin's TLS certificate. Changes nothing anywhere.
 * Works as non-root too: what needs privileges becomes an info finding saying so.
 */

enum doctor_severity {
	DOCTOR_OK = 0,
	DOCTOR_INFO,
	DOCTOR_WARNING,
	DOCTOR_ERROR,
};

struct doctor_finding {
	enum doctor_severity severity;
	char *check;   /* "sets", "freshness", "rules", "bans", "listen", "conntrack", "tls",
			* "ip", "privileges" */
	char *subject; /* target, set, port or address it concerns; NULL when general */
	char *msg;     /* what was found, one line */
	char *fix;     /* what to do about it; NULL when nothing */
};

/* Caller-owned; zero-initialise, fill with doctor_run(), free with doctor_report_finish(). */
struct doctor_report {
	struct doctor_finding *v;
	size_t n, cap;
	bool privileged; /* the ruleset could be read (CAP_NET_ADMIN) */
	double seconds;  /* wall time of the run */
};

struct doctor_opts {
	const uint16_t *ports; /* origin ports; NULL/0: 80 and 443 */
	size_t n_ports;
	const char *const *ips; /* --ip: addresses to trace through the ruleset */
	size_t n_ips;
	const char *tls_name;       /* --tls: certificate name to check; NULL: no TLS check */
	const char *const *targets; /* --target filter; n_targets 0: every target */
	size_t n_targets;
	long max_age; /* a list fetched longer ago is stale; 0: 2 days */
	/* Overrides for tests; NULL: the system's defaults. */
	const char *tls_connect;     /* "127.0.0.1:443" */
	const char *sysctl_root;     /* "/proc/sys" */
	const char *proc_net;        /* "/proc/net" */
	const char *fail2ban_socket; /* "/var/run/fail2ban/fail2ban.sock" */
	const char *fail2ban_client; /* "fail2ban-client" */
	const char *csf_deny;        /* "/etc/csf/csf.deny" */
	const char *csf_tempban;     /* "/var/lib/csf/csf.tempban" */
	const char *ipset_cmd;       /* "ipset" */
	const char *etc_root; /* prefix of the managers' files (/etc/ufw, /etc/nftables.conf): "" */
};

/*
 * Run every check and append findings to out (which may already hold some). Returns 0
 * when the checks ran, whatever they found; -1 only for bad options (CDA_EUSAGE: an --ip
 * that is not an address, a port 0) or running out of memory (CDA_ESYS). Needs
 * curl_global_init() done when tls_name is set. Never prints.
 */
int doctor_run(const struct doctor_opts *o, const struct config *cfg, struct doctor_report *out,
	       struct cda_error *err);

/* Append one finding (strings copied; subject and fix may be NULL). -1 on ENOMEM. */
int doctor_add(struct doctor_report *r, enum doctor_severity sev, const char *check,
	       const char *subject, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Worst severity in r (DOCTOR_OK when empty). Exit status: 1 if DOCTOR_ERROR, else 0. */
enum doctor_severity doctor_report_worst(const struct doctor_report *r);
size_t doctor_report_count(const struct doctor_report *r, enum doctor_severity sev);
const char *doctor_severity_name(enum doctor_severity s); /* "ok", "info", ... */

/* Formatting (pure; src/doctor_report.c). Human: one line per finding, its fix indented
 * below, a summary line; verbose false hides ok findings. JSON: {"ok":bool,"errors":N,
 * "warnings":N,"privileged":bool,"seconds":S,"findings":[{"check","severity","subject",
 * "message","fix"}]}. Both return 0, or -1 when writing failed. */
int doctor_report_human(FILE *fp, const struct doctor_report *r, bool verbose);
int doctor_report_json(FILE *fp, const struct doctor_report *r);

void doctor_report_finish(struct doctor_report *r); /* frees and zeroes; idempotent */

#endif
