// SPDX-License-Identifier: MIT
/* Unit tests of the firewalld backend that need no firewalld: its keys, and the errors when
 * there is no system bus or nothing on it answers as firewalld (a private dbus-daemon). */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend.h"
#include "cda_error.h"
#include "config.h"
#include "ranges.h"

#define CONF "/etc/cdnallow/test.conf"

struct fx {
	struct config_kv kv[8];
	struct target_config tc;
};

static void set(struct fx *f, const char *key, const char *value)
{
	assert_true(f->tc.n_kv < 8);
	f->kv[f->tc.n_kv].key = (char *)key;
	f->kv[f->tc.n_kv].value = (char *)value;
	f->kv[f->tc.n_kv].line = 40 + (unsigned int)f->tc.n_kv;
	f->tc.n_kv++;
}

static void init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->tc.name = "fw";
	f->tc.backend = "firewalld";
	f->tc.config_path = CONF;
	f->tc.kv = f->kv;
}

static int try_open(struct fx *f, struct cda_error *err)
{
	struct backend_env env = {0};
	struct backend *be = NULL;
	int rc;

	cda_error_clear(err);
	rc = backend_open(&firewalld_backend_ops, &be, &f->tc, &env, err);
	backend_close(be);
	return rc;
}

/* One key with a bad value: CDA_ECONFIG naming the key at its line. */
static void refused(const char *key, const char *value, const char *why)
{
	struct cda_error err;
	struct fx f;

	init(&f);
	set(&f, key, value);
	assert_int_equal(try_open(&f, &err), -1);
	assert_int_equal(err.code, CDA_ECONFIG);
	assert_string_equal(err.origin, CONF);
	assert_int_equal(err.line, 40);
	assert_non_null(strstr(err.msg, key));
	assert_non_null(strstr(err.msg, why));
}

static void defaults_and_good_values_open(void **state)
{
	struct cda_error err;
	struct fx f;

	(void)state;
	init(&f);
	assert_int_equal(try_open(&f, &err), 0);
	set(&f, "ipset_v4", "cdn-allow.v4");
	set(&f, "ipset_v6", "cdn_allow:v6");
	set(&f, "zone", "public");
	set(&f, "ports", "443 8000-8080, 80");
	set(&f, "dbus_timeout", "1m");
	set(&f, "reload", "no");
	assert_int_equal(try_open(&f, &err), 0);
	init(&f);
	set(&f, "ports", "none");
	assert_int_equal(try_open(&f, &err), 0);
}

static void bad_values_name_their_key_and_line(void **state)
{
	(void)state;
	refused("ipset_v4", "no spaces", "letters, digits");
	refused("ipset_v6", "abcdefghijklmnopqrstuvwxyz0123456", "1 to 31");
	refused("ipset_v6", "cdnallow4", "must differ from ipset_v4");
	refused("zone", "pub.lic", "zone name");
	refused("ports", "0", "TCP ports");
	refused("ports", "443-80", "TCP ports");
	refused("ports", "65536", "TCP ports");
	refused("ports", "http", "TCP ports");
	refused("ports",
		"1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 "
		"27 28 29 30 31 32 33",
		"TCP ports");
	refused("dbus_timeout", "0", "1s to 10m");
	refused("dbus_timeout", "11m", "1s to 10m");
	refused("reload", "sometimes", "yes or no");
}

static int read_now(struct cda_error *err)
{
	struct backend_env env = {0};
	struct backend *be = NULL;
	struct ranges *cur = ranges_new();
	struct fx f;
	int rc;

	init(&f);
	set(&f, "dbus_timeout", "5s");
	assert_int_equal(backend_open(&firewalld_backend_ops, &be, &f.tc, &env, err), 0);
	rc = backend_read(be, cur, err);
	backend_close(be);
	ranges_free(cur);
	return rc;
}

static void no_system_bus_is_an_apply_error_naming_firewalld(void **state)
{
	struct cda_error err;

	(void)state;
	setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/cdnallow-test-bus", 1);
	assert_int_equal(read_now(&err), -1);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_int_equal(cda_error_exit_status(&err), 69);
	assert_non_null(strstr(err.msg, "firewalld"));
	assert_non_null(strstr(err.msg, "system bus"));
}

/* A private dbus-daemon on a socket of our own, without firewalld on it. */
static void a_bus_without_firewalld_says_it_is_not_running(void **state)
{
	char dir[] = "/tmp/cda-fwd-XXXXXX", sock[64], cmd[512], addr[300] = "", pid[32] = "";
	struct cda_error err;
	FILE *p;

	(void)state;
	if (system("command -v dbus-daemon >/dev/null 2>&1") != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd),
		 "dbus-daemon --session --fork --print-address=1 --print-pid=1 "
		 "--address=unix:path=%s/bus",
		 dir);
	assert_non_null(p = popen(cmd, "r"));
	assert_non_null(fgets(addr, sizeof(addr), p));
	assert_non_null(fgets(pid, sizeof(pid), p));
	pclose(p);
	addr[strcspn(addr, "\n")] = '\0';
	setenv("DBUS_SYSTEM_BUS_ADDRESS", addr, 1);
	assert_int_equal(read_now(&err), -1);
	kill((pid_t)atol(pid), SIGTERM);
	snprintf(sock, sizeof(sock), "%s/bus", dir);
	unlink(sock);
	rmdir(dir);
	assert_int_equal(err.code, CDA_EAPPLY);
	assert_non_null(strstr(err.msg, "firewalld is not running"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_and_good_values_open),
		cmocka_unit_test(bad_values_name_their_key_and_line),
		cmocka_unit_test(no_system_bus_is_an_apply_error_naming_firewalld),
		cmocka_unit_test(a_bus_without_firewalld_says_it_is_not_running),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
