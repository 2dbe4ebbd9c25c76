// SPDX-License-Identifier: MIT
/* Read-only questions to firewalld over D-Bus: running?, zones, what a zone and a service open. */
#include "fwd_dbus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#include "cda_error.h"
#include "fwd_call.h"
#include "fwd_entries.h"

#define IF_MAIN FWD_NAME
#define IF_ZONE FWD_NAME ".zone"

int fwd_running(struct fwd_bus *b, bool *running, struct cda_error *err)
{
	sd_bus_message *m = NULL, *reply = NULL;
	int r, v = 0;

	*running = false;
	if (fwd_call_new(b, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
			 "NameHasOwner", &m, err) < 0)
		return -1;
	if ((r = sd_bus_message_append(m, "s", FWD_NAME)) < 0) {
		sd_bus_message_unref(m);
		return fwd_call_bad_answer("NameHasOwner", r, err);
	}
	if (fwd_call_send(b, m, &reply, "NameHasOwner", NULL, err) < 0)
		return -1;
	r = sd_bus_message_read(reply, "b", &v);
	sd_bus_message_unref(reply);
	if (r < 0)
		return fwd_call_bad_answer("NameHasOwner", r, err);
	*running = v != 0;
	return 0;
}

/* An "a(ss)" of (port, protocol) pairs as "port/protocol" strings. */
static int read_ports(sd_bus_message *m, char ***out)
{
	char **v = NULL;
	size_t n = 0;
	int r;

	if ((r = sd_bus_message_enter_container(m, 'a', "(ss)")) < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'r', "ss")) > 0) {
		const char *port, *proto;
		char **nv;

		if ((r = sd_bus_message_read(m, "ss", &port, &proto)) < 0 ||
		    (r = sd_bus_message_exit_container(m)) < 0)
			break;
		if ((nv = realloc(v, (n + 2) * sizeof(*v))) == NULL) {
			r = -ENOMEM;
			break;
		}
		v = nv;
		v[n + 1] = NULL;
		if (asprintf(&v[n], "%s/%s", port, proto) < 0) {
			v[n] = NULL;
			r = -ENOMEM;
			break;
		}
		n++;
	}
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	if (r < 0) {
		fwd_strv_free(v);
		return r;
	}
	fwd_strv_free(*out);
	*out = v;
	return 0;
}

/* One "a{sv}" entry's value into the field its key names; other keys are skipped. */
static int read_value(sd_bus_message *m, const char *key, const char *const *keys,
		      char ***const *dst, char *target, size_t tsize)
{
	const char *s;
	int r;

	if (target != NULL && strcmp(key, "target") == 0) {
		if ((r = sd_bus_message_read(m, "v", "s", &s)) >= 0)
			snprintf(target, tsize, "%s", s);
		return r;
	}
	for (size_t i = 0; keys[i] != NULL; i++) {
		if (strcmp(key, keys[i]) != 0)
			continue;
		if (strcmp(key, "ports") == 0) {
			if ((r = sd_bus_message_enter_container(m, 'v', "a(ss)")) < 0 ||
			    (r = read_ports(m, dst[i])) < 0)
				return r;
			return sd_bus_message_exit_container(m);
		}
		if ((r = sd_bus_message_enter_container(m, 'v', "as")) < 0)
			return r;
		fwd_strv_free(*dst[i]);
		*dst[i] = NULL;
		if ((r = sd_bus_message_read_strv(m, dst[i])) < 0)
			return r;
		return sd_bus_message_exit_container(m);
	}
	return sd_bus_message_skip(m, "v");
}

/* An "a{sv}" settings dictionary: keys[i] into *dst[i], "target" into target. */
static int read_dict(sd_bus_message *m, const char *const *keys, char ***const *dst, char *target,
		     size_t tsize)
{
	int r;

	if ((r = sd_bus_message_enter_container(m, 'a', "{sv}")) < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *key;

		if ((r = sd_bus_message_read(m, "s", &key)) < 0 ||
		    (r = read_value(m, key, keys, dst, target, tsize)) < 0 ||
		    (r = sd_bus_message_exit_container(m)) < 0)
			return r;
	}
	return r < 0 ? r : sd_bus_message_exit_container(m);
}

/* Every vector in dst[] made non-NULL (an empty one when the key was absent). */
static int fill_empty(char ***const *dst, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (*dst[i] == NULL && (*dst[i] = calloc(1, sizeof(char *))) == NULL)
			return -ENOMEM;
	return 0;
}

/* A call of member on FWD_PATH/iface with one string argument: 1 when absent. */
static int call_1(struct fwd_bus *b, const char *iface, const char *member, const char *arg,
		  const char *absent, sd_bus_message **reply, struct cda_error *err)
{
	sd_bus_message *m = NULL;
	char what[128];
	int r;

	snprintf(what, sizeof(what), "%s %s", member, arg);
	if (fwd_call_new(b, NULL, FWD_PATH, iface, member, &m, err) < 0)
		return -1;
	if ((r = sd_bus_message_append(m, "s", arg)) < 0) {
		sd_bus_message_unref(m);
		return fwd_call_bad_answer(what, r, err);
	}
	return fwd_call_send(b, m, reply, what, absent, err);
}

int fwd_zone_get(struct fwd_bus *b, const char *zone, struct fwd_zone *z, struct cda_error *err)
{
	static const char *const keys[] = {"services",	 "ports",   "rules_str",
					   "interfaces", "sources", NULL};
	char ***const dst[] = {&z->services, &z->ports, &z->rich_rules, &z->interfaces,
			       &z->sources};
	sd_bus_message *reply = NULL;
	int r;

	memset(z, 0, sizeof(*z));
	if ((r = call_1(b, IF_ZONE, "getZoneSettings2", zone, "INVALID_ZONE", &reply, err)) != 0)
		return r;
	r = read_dict(reply, keys, dst, z->target, sizeof(z->target));
	if (r >= 0)
		r = fill_empty(dst, 5);
	sd_bus_message_unref(reply);
	if (r < 0) {
		fwd_zone_free(z);
		return fwd_call_bad_answer("getZoneSettings2", r, err);
	}
	return 0;
}

void fwd_zone_free(struct fwd_zone *z)
{
	if (z == NULL)
		return;
	fwd_strv_free(z->services);
	fwd_strv_free(z->ports);
	fwd_strv_free(z->rich_rules);
	fwd_strv_free(z->interfaces);
	fwd_strv_free(z->sources);
	memset(z, 0, sizeof(*z));
}

int fwd_active_zones(struct fwd_bus *b, char ***zones, struct cda_error *err)
{
	sd_bus_message *m = NULL, *reply = NULL;
	char **v = NULL;
	size_t n = 0;
	int r;

	*zones = NULL;
	if (fwd_call_new(b, NULL, FWD_PATH, IF_ZONE, "getActiveZones", &m, err) < 0 ||
	    fwd_call_send(b, m, &reply, "getActiveZones", NULL, err) < 0)
		return -1;
	r = sd_bus_message_enter_container(reply, 'a', "{sa{sas}}");
	while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sa{sas}")) > 0) {
		const char *name;
		char **nv;

		if ((r = sd_bus_message_read(reply, "s", &name)) < 0 ||
		    (r = sd_bus_message_skip(reply, "a{sas}")) < 0 ||
		    (r = sd_bus_message_exit_container(reply)) < 0)
			break;
		if ((nv = realloc(v, (n + 2) * sizeof(*v))) == NULL ||
		    (nv[n] = strdup(name)) == NULL) {
			v = nv != NULL ? nv : v;
			r = -ENOMEM;
			break;
		}
		v = nv;
		v[++n] = NULL;
	}
	if (r >= 0 && (v != NULL || (v = calloc(1, sizeof(*v))) != NULL))
		r = 0;
	else if (r >= 0)
		r = -ENOMEM;
	sd_bus_message_unref(reply);
	if (r < 0) {
		if (v != NULL)
			v[n] = NULL;
		fwd_strv_free(v);
		return fwd_call_bad_answer("getActiveZones", r, err);
	}
	*zones = v;
	return 0;
}

int fwd_service_ports(struct fwd_bus *b, const char *service, char ***ports, char ***includes,
		      struct cda_error *err)
{
	static const char *const keys[] = {"ports", "includes", NULL};
	char ***const dst[] = {ports, includes};
	sd_bus_message *reply = NULL;
	int r;

	*ports = *includes = NULL;
	if ((r = call_1(b, IF_MAIN, "getServiceSettings2", service, "INVALID_SERVICE", &reply,
			err)) != 0)
		return r;
	r = read_dict(reply, keys, dst, NULL, 0);
	if (r >= 0)
		r = fill_empty(dst, 2);
	sd_bus_message_unref(reply);
	if (r < 0) {
		fwd_strv_free(*ports);
		fwd_strv_free(*includes);
		*ports = *includes = NULL;
		return fwd_call_bad_answer("getServiceSettings2", r, err);
	}
	return 0;
}
