// SPDX-License-Identifier: MIT
/*
 * iptables backend against the real kernel. The program re-executes itself under
 * `unshare -n`, and every case starts in a fresh network namespace of its own (unshare(2)),
 * so no command ever reaches the host's firewall.
 */
#include <sys/stat.h>
#include <sys/wait.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend.h"
#include "cda_error.h"
#include "config.h"
#include "ranges.h"

#define MARK "CDNALLOW_IN_NETNS"

struct flavour {
	const char *v4, *v6; /* iptables_cmd, ip6tables_cmd */
};

static const struct flavour flavours[] = {
	{"iptables-nft", "ip6tables-nft"},
	{"iptables-legacy", "ip6tables-legacy"},
};

struct tcfg {
	struct config_kv kv[10];
	struct target_config tc;
};

static void set(struct tcfg *t, const char *key, const char *value)
{
	assert_true(t->tc.n_kv < 10);
	t->kv[t->tc.n_kv].key = (char *)key;
	t->kv[t->tc.n_kv].value = (char *)value;
	t->kv[t->tc.n_kv].line = 40 + (unsigned int)t->tc.n_kv;
	t->tc.n_kv++;
}

static void init_cfg(struct tcfg *t, const struct flavour *fl, const char *mode)
{
	memset(t, 0, sizeof(*t));
	t->tc.name = "edge";
	t->tc.backend = "iptables";
	t->tc.config_path = "/etc/cdnallow/test.conf";
	t->tc.kv = t->kv;
	set(t, "mode", mode);
	set(t, "iptables_cmd", fl->v4);
	set(t, "ip6tables_cmd", fl->v6);
}

static struct ranges *parse_list(const char *s)
{
	struct ranges *r = ranges_new();
	char *copy = strdup(s), *save = NULL;

	assert_non_null(r);
	for (char *w = strtok_r(copy, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
		struct cidr c;

		assert_int_equal(cidr_parse(w, strlen(w), &c, NULL), CIDR_OK);
		assert_int_equal(ranges_add_cidr(r, &c), 0);
	}
	free(copy);
	ranges_normalize(r);
	return r;
}

/* Output of a shell command (tests may use one; the backend never does). */
static char *sh(const char *fmt, ...)
{
	char cmd[1024], *buf = NULL;
	size_t len = 0;
	va_list ap;
	FILE *fp, *mem = open_memstream(&buf, &len);
	int c;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fp = popen(cmd, "r");
	assert_non_null(fp);
	while ((c = fgetc(fp)) != EOF)
		fputc(c, mem);
	pclose(fp);
	fclose(mem);
	return buf;
}

static int sh_status(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool legacy_ok(void)
{
	return sh_status("iptables-legacy -L -n >/dev/null 2>&1 && "
			 "ip6tables-legacy -L -n >/dev/null 2>&1") == 0;
}

static void fresh_netns(void)
{
	assert_int_equal(unshare(CLONE_NEWNET), 0);
}

static int apply(struct tcfg *t, const char *list, struct cda_error *err)
{
	struct backend_env env = {0};
	struct backend *be = NULL;
	struct ranges *want = parse_list(list);
	struct backend_input in = {.want = want};
	int rc;

	memset(err, 0, sizeof(*err));
	assert_int_equal(backend_open(&iptables_backend_ops, &be, &t->tc, &env, err), 0);
	rc = backend_apply(be, &in, err);
	if (rc == 0)
		assert_int_equal(backend_verify(be, want, err), 0);
	backend_close(be);
	ranges_free(want);
	return rc;
}

static void assert_holds(struct tcfg *t, const char *list)
{
	struct cda_error err = {0};
	struct backend_env env = {0};
	struct backend *be = NULL;
	struct ranges *cur = ranges_new(), *want = parse_list(list);

	assert_int_equal(backend_open(&iptables_backend_ops, &be, &t->tc, &env, &err), 0);
	assert_int_equal(backend_read(be, cur, &err), 0);
	if (!ranges_equal(cur, want))
		fail_msg("target does not hold %s", list);
	backend_close(be);
	ranges_free(cur);
	ranges_free(want);
}

/* iptables-save of both families without comments and counters. */
static char *saved(const struct flavour *fl)
{
	return sh("(%s-save; %s-save) | grep -v '^#' | sed 's/ \\[[0-9]*:[0-9]*\\]$//'", fl->v4,
		  fl->v6);
}

/* The admin's own rules: some in INPUT, a chain of theirs, a set of theirs. */
static void admin_rules(const struct flavour *fl)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "printf '*filter\\n:ADMIN - [0:0]\\n-A INPUT -i lo -j ACCEPT\\n"
		 "-A INPUT -p tcp --dport 22 -j ADMIN\\n-A ADMIN -s 10.1.0.0/16 -j ACCEPT\\n"
		 "-A ADMIN -j DROP\\nCOMMIT\\n' | %s-restore --noflush && "
		 "printf '*filter\\n:ADMIN - [0:0]\\n-A INPUT -p tcp --dport 22 -j ADMIN\\n"
		 "-A ADMIN -s fd00::/8 -j ACCEPT\\nCOMMIT\\n' | %s-restore --noflush",
		 fl->v4, fl->v6);
	assert_int_equal(sh_status(cmd), 0);
}

/* Whether the flavour can run here; legacy needs the x_tables legacy modules. */
static bool usable(const struct flavour *fl)
{
	return strstr(fl->v4, "legacy") == NULL || legacy_ok();
}

static void ipset_mode_applies_deltas_and_reads_back(void **state)
{
	for (size_t i = 0; i < 2; i++) {
		const struct flavour *fl = &flavours[i];
		struct cda_error err;
		struct tcfg t;
		char *out;

		if (!usable(fl))
			continue;
		fresh_netns();
		init_cfg(&t, fl, "ipset");
		assert_holds(&t, "");
		assert_int_equal(apply(&t, "192.0.2.0/24 198.51.100.0/25 2001:db8::/32", &err), 0);
		assert_holds(&t, "192.0.2.0/24 198.51.100.0/25 2001:db8::/32");
		assert_int_equal(apply(&t, "192.0.2.0/24 203.0.113.0/24 2001:db8:1::/48 2001:db8:2::/48",
				       &err),
				 0);
		assert_holds(&t, "192.0.2.0/24 203.0.113.0/24 2001:db8:1::/48 2001:db8:2::/48");
		out = sh("ipset list -n");
		assert_string_equal(out, "cdnallow4\ncdnallow6\n"); /* no temporary left */
		free(out);
		out = sh("ipset list cdnallow6 | grep -c '^2001:db8:'");
		assert_string_equal(out, "2\n");
		free(out);
	}
}

static void zero_prefix_is_stored_as_two_halves(void **state)
{
	struct cda_error err;
	struct tcfg t;
	char *out;

	fresh_netns();
	init_cfg(&t, &flavours[0], "ipset");
	assert_int_equal(apply(&t, "0.0.0.0/0 ::/0", &err), 0);
	assert_holds(&t, "0.0.0.0/0 ::/0");
	out = sh("ipset list cdnallow4 | grep /1 | sort");
	assert_string_equal(out, "0.0.0.0/1\n128.0.0.0/1\n");
	free(out);
}

static void chain_mode_applies_deltas_and_reads_back(void **state)
{
	for (size_t i = 0; i < 2; i++) {
		const struct flavour *fl = &flavours[i];
		struct cda_error err;
		struct tcfg t;
		char *out;

		if (!usable(fl))
			continue;
		fresh_netns();
		init_cfg(&t, fl, "chain");
		set(&t, "ports", "80 443");
		assert_holds(&t, "");
		assert_int_equal(apply(&t, "192.0.2.0/24 2001:db8::/32", &err), 0);
		assert_holds(&t, "192.0.2.0/24 2001:db8::/32");
		assert_int_equal(apply(&t, "192.0.2.0/25 198.51.100.7/32 2001:db8::/33", &err), 0);
		assert_holds(&t, "192.0.2.0/25 198.51.100.7/32 2001:db8::/33");
		out = sh("%s-save | grep -c -- '-j CDNALLOW'; %s-save | grep -c -- '-j CDNALLOW'",
			 fl->v4, fl->v6);
		assert_string_equal(out, "1\n1\n"); /* the jump exists once per family */
		free(out);
	}
}

/* Lines of save output that are not ours. */
static char *foreign(const char *save)
{
	char *copy = strdup(save), *out = NULL, *pos = copy, *l;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);

	while ((l = strsep(&pos, "\n")) != NULL) {
		if (strstr(l, "CDNALLOW") != NULL)
			continue;
		fprintf(mem, "%s\n", l);
	}
	fclose(mem);
	free(copy);
	return out;
}

static void admin_rules_stay_byte_identical(void **state)
{
	static const char *const modes[] = {"ipset", "chain"};

	for (size_t i = 0; i < 2; i++) {
		for (size_t m = 0; m < 2; m++) {
			const struct flavour *fl = &flavours[i];
			struct cda_error err;
			struct tcfg t;
			char *before, *after, *fb, *fa;

			if (!usable(fl))
				continue;
			fresh_netns();
			admin_rules(fl);
			before = saved(fl);
			init_cfg(&t, fl, modes[m]);
			set(&t, "ports", "443");
			assert_int_equal(apply(&t, "192.0.2.0/24 2001:db8::/32", &err), 0);
			assert_int_equal(apply(&t, "198.51.100.0/24 2001:db8::/48", &err), 0);
			after = saved(fl);
			assert_string_not_equal(before, after);
			fb = foreign(before);
			fa = foreign(after);
			assert_string_equal(fb, fa);
			/* our jump went first, the admin's order is unchanged */
			free(after);
			after = sh("%s-save | grep -- '^-A INPUT' | head -1", fl->v4);
			assert_string_equal(after,
					    "-A INPUT -p tcp -m multiport --dports 443 -j CDNALLOW\n");
			free(before);
			free(after);
			free(fb);
			free(fa);
		}
	}
}

static void ipset_failure_leaves_the_previous_set(void **state)
{
	for (size_t i = 0; i < 2; i++) {
		const struct flavour *fl = &flavours[i];
		struct cda_error err;
		struct tcfg t;
		char cmd[256], *out;

		if (!usable(fl))
			continue;
		fresh_netns();
		init_cfg(&t, fl, "ipset");
		assert_int_equal(apply(&t, "192.0.2.0/24 2001:db8::/32", &err), 0);
		/* Someone else's set under our temporary's name, in use by a rule: it can be
		 * neither destroyed nor reused. */
		snprintf(cmd, sizeof(cmd),
			 "ipset create cdnallow6-tmp hash:ip family inet6 && "
			 "%s -A INPUT -m set --match-set cdnallow6-tmp src -j ACCEPT",
			 fl->v6);
		assert_int_equal(sh_status(cmd), 0);
		assert_int_equal(apply(&t, "203.0.113.0/24 2001:db8:1::/48", &err), -1);
		assert_int_equal(err.code, CDA_EAPPLY);
		assert_non_null(strstr(err.msg, "ipset"));
		assert_holds(&t, "192.0.2.0/24 2001:db8::/32");
		out = sh("ipset list -n | sort");
		assert_string_equal(out, "cdnallow4\ncdnallow6\ncdnallow6-tmp\n");
		free(out);
	}
}

static void ipset_restore_failure_destroys_the_temporaries(void **state)
{
	struct cda_error err;
	struct tcfg t;
	char *out;

	fresh_netns();
	init_cfg(&t, &flavours[0], "ipset");
	assert_int_equal(apply(&t, "192.0.2.0/24 2001:db8::/32", &err), 0);
	/* The live v6 set replaced by one of another type: the v4 swap would go through,
	 * so apply must refuse before touching anything. */
	assert_int_equal(sh_status("ipset destroy cdnallow6 && "
				   "ipset create cdnallow6 hash:ip family inet6"),
			 0);
	assert_int_equal(apply(&t, "203.0.113.0/24 2001:db8:1::/48", &err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	out = sh("ipset list cdnallow4 | grep /");
	assert_string_equal(out, "192.0.2.0/24\n");
	free(out);
	out = sh("ipset list -n | sort");
	assert_string_equal(out, "cdnallow4\ncdnallow6\n");
	free(out);
}

static void chain_failure_in_one_family_puts_the_other_back(void **state)
{
	char dir[] = "/tmp/cdnallow-ipt-XXXXXX", path[128], cmd[512];

	for (size_t i = 0; i < 2; i++) {
		const struct flavour *fl = &flavours[i];
		struct cda_error err;
		struct tcfg t;
		char *out;

		if (!usable(fl))
			continue;
		fresh_netns();
		assert_non_null(mkdtemp(dir));
		/* ip6tables whose restore always fails, after the v4 commit went through */
		snprintf(cmd, sizeof(cmd),
			 "printf '#!/bin/sh\\nexec %s \"$@\"\\n' > %s/ip6x && "
			 "printf '#!/bin/sh\\nexec %s-save \"$@\"\\n' > %s/ip6x-save && "
			 "printf '#!/bin/sh\\ncat >/dev/null; echo broken >&2; exit 2\\n' "
			 "> %s/ip6x-restore && chmod +x %s/ip6x*",
			 fl->v6, dir, fl->v6, dir, dir, dir);
		assert_int_equal(sh_status(cmd), 0);
		init_cfg(&t, fl, "chain");
		set(&t, "ports", "80");
		assert_int_equal(apply(&t, "192.0.2.0/24", &err), 0);
		snprintf(path, sizeof(path), "%s/ip6x", dir);
		t.kv[2].value = path;
		assert_int_equal(apply(&t, "198.51.100.0/24 2001:db8::/32", &err), -1);
		assert_int_equal(err.code, CDA_EAPPLY);
		assert_non_null(strstr(err.msg, "broken"));
		t.kv[2].value = (char *)fl->v6;
		assert_holds(&t, "192.0.2.0/24");
		out = sh("%s-save | grep -c -- '-j CDNALLOW'", fl->v4);
		assert_string_equal(out, "1\n");
		free(out);
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		assert_int_equal(sh_status(cmd), 0);
		strcpy(dir, "/tmp/cdnallow-ipt-XXXXXX");
	}
}

/* A rule in our chain longer than 255 bytes (a long comment) after a short one once made
 * reading the chain fail as out of memory and free its copy of the rules twice. */
static void long_rule_in_our_chain_is_read_and_replaced(void **state)
{
	char comment[241], cmd[1024];

	memset(comment, 'x', sizeof(comment) - 1);
	comment[sizeof(comment) - 1] = '\0';
	for (size_t i = 0; i < 2; i++) {
		const struct flavour *fl = &flavours[i];
		struct cda_error err;
		struct tcfg t;
		char *out;

		if (!usable(fl))
			continue;
		fresh_netns();
		snprintf(cmd, sizeof(cmd),
			 "printf '*filter\\n:CDNALLOW - [0:0]\\n"
			 "-A CDNALLOW -s 192.0.2.1/32 -j ACCEPT\\n"
			 "-A CDNALLOW -s 192.0.2.0/24 -m comment --comment \"%s\" -j ACCEPT\\n"
			 "COMMIT\\n' | %s-restore --noflush",
			 comment, fl->v4);
		assert_int_equal(sh_status(cmd), 0);
		out = sh("%s-save | grep -c -- '%s'", fl->v4, comment);
		assert_string_equal(out, "1\n");
		free(out);
		init_cfg(&t, fl, "chain");
		set(&t, "ports", "443");
		assert_holds(&t, "");
		assert_int_equal(apply(&t, "198.51.100.0/24 2001:db8::/32", &err), 0);
		assert_holds(&t, "198.51.100.0/24 2001:db8::/32");
	}
}

/* boot_file: written after the verified apply, as `ipset save` input that recreates both sets
 * with their members; rewritten only when it changes; never in chain mode. */
static void boot_file_recreates_the_sets(void **state)
{
	char dir[] = "/tmp/cda-boot.XXXXXX", path[64], *out;
	struct cda_error err = {0};
	struct backend_env env = {0};
	struct backend *be = NULL;
	struct ranges *want = parse_list("192.0.2.0/24 198.51.100.0/25 2001:db8::/32");
	struct backend_input in = {.want = want};
	struct tcfg t;
	bool written = true;

	(void)state;
	fresh_netns();
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/edge.ipset", dir);
	init_cfg(&t, &flavours[0], "ipset");
	set(&t, "boot_file", path);
	assert_int_equal(backend_open(&iptables_backend_ops, &be, &t.tc, &env, &err), 0);
	assert_int_equal(backend_snapshot(be, &written, &err), 0);
	assert_false(written); /* nothing read yet: nothing to keep */
	assert_int_equal(backend_apply(be, &in, &err), 0);
	assert_int_equal(backend_verify(be, want, &err), 0);
	assert_int_equal(backend_snapshot(be, &written, &err), 0);
	assert_true(written);
	assert_int_equal(backend_snapshot(be, &written, &err), 0);
	assert_false(written); /* unchanged: not rewritten */
	backend_close(be);
	out = sh("stat -c %%a %s; cat %s", path, path);
	assert_string_equal(out, "600\n"
			    "create cdnallow4 hash:net family inet hashsize 1024 maxelem 65536\n"
			    "add cdnallow4 192.0.2.0/24\n"
			    "add cdnallow4 198.51.100.0/25\n"
			    "create cdnallow6 hash:net family inet6 hashsize 1024 maxelem 65536\n"
			    "add cdnallow6 2001:db8::/32\n");
	free(out);
	/* what the boot plugin does when the sets are gone */
	assert_int_equal(sh_status("ipset destroy cdnallow4 && ipset destroy cdnallow6"), 0);
	assert_holds(&t, "");
	out = sh("ipset -exist restore -file %s && echo restored", path);
	assert_string_equal(out, "restored\n");
	free(out);
	assert_holds(&t, "192.0.2.0/24 198.51.100.0/25 2001:db8::/32");
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	ranges_free(want);
}

static void bad_values_are_config_errors(void **state)
{
	static const char *const bad[][2] = {
		{"mode", "nft"},	  {"chain", "INPUT"},		  {"chain", "-x"},
		{"set_v4", "a-name-that-is-far-too-long-x"}, {"ports", "0"},
		{"ports", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"},	  {"ports", "80,http"},
		{"boot_file", "relative/path"}, {"boot_file", "/tmp/chain-mode-has-no-sets"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cda_error err = {0};
		struct backend_env env = {0};
		struct backend *be = NULL;
		struct tcfg t;

		init_cfg(&t, &flavours[0], "chain");
		set(&t, bad[i][0], bad[i][1]);
		if (strcmp(bad[i][0], "mode") == 0)
			t.kv[0].value = (char *)bad[i][1];
		assert_int_equal(backend_open(&iptables_backend_ops, &be, &t.tc, &env, &err), -1);
		assert_int_equal(err.code, CDA_ECONFIG);
		assert_string_equal(err.origin, "/etc/cdnallow/test.conf");
		assert_int_equal(err.line, target_line(&t.tc, bad[i][0]));
	}
}

static int missing(const char *what)
{
	bool ci = getenv("CI") != NULL && strcmp(getenv("CI"), "true") == 0;

	printf("1..0 # SKIP %s\n", what);
	if (ci)
		fprintf(stderr, "CI=true: a missing prerequisite is a failure (%s)\n", what);
	return ci ? 1 : 77;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ipset_mode_applies_deltas_and_reads_back),
		cmocka_unit_test(zero_prefix_is_stored_as_two_halves),
		cmocka_unit_test(chain_mode_applies_deltas_and_reads_back),
		cmocka_unit_test(admin_rules_stay_byte_identical),
		cmocka_unit_test(ipset_failure_leaves_the_previous_set),
		cmocka_unit_test(ipset_restore_failure_destroys_the_temporaries),
		cmocka_unit_test(chain_failure_in_one_family_puts_the_other_back),
		cmocka_unit_test(long_rule_in_our_chain_is_read_and_replaced),
		cmocka_unit_test(boot_file_recreates_the_sets),
		cmocka_unit_test(bad_values_are_config_errors),
	};

	if (getenv(MARK) == NULL) {
		char **nargv = calloc((size_t)argc + 4, sizeof(*nargv)), self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (geteuid() != 0)
			return missing("needs root (network namespaces, iptables)");
		if (sh_status("command -v unshare iptables-nft ip6tables-nft ipset >/dev/null") != 0)
			return missing("unshare, iptables-nft or ipset not installed");
		setenv(MARK, "1", 1);
		nargv[0] = "unshare";
		nargv[1] = "-n";
		nargv[2] = "--";
		if (n <= 0)
			return missing("cannot find the test binary");
		self[n] = '\0';
		nargv[3] = self;
		for (int i = 1; i < argc; i++)
			nargv[3 + i] = argv[i];
		execvp("unshare", nargv);
		return missing("cannot run unshare -n");
	}
	if (sh_status("iptables-nft -L -n >/dev/null 2>&1 && ipset list >/dev/null 2>&1") != 0)
		return missing("iptables-nft or ipset does not work in a network namespace");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
