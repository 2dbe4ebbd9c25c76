// SPDX-License-Identifier: MIT
/* firewalld's D-Bus API over sd-bus: method calls, their timeouts and their errors. */
#include "fwd_dbus.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#include "cda_error.h"
#include "fwd_call.h"
#include "fwd_entries.h"

/*
 * Interfaces and objects, as firewalld 1.x publishes them (doc/xml/firewalld.dbus.xml):
 * runtime calls go to FWD_PATH, permanent ones to an object under FWD_PATH/config that
 * config.getIPSetByName / getZoneByName name. Every message has auto-start off: a stopped
 * firewalld is an error, never something a sync starts.
 */
#define FWD_CONFIG_PATH FWD_PATH "/config"
#define IF_MAIN FWD_NAME
#define IF_ZONE FWD_NAME ".zone"
#define IF_IPSET FWD_NAME ".ipset"
#define IF_CONFIG FWD_NAME ".config"
#define IF_CONFIG_ZONE FWD_NAME ".config.zone"
#define IF_CONFIG_IPSET FWD_NAME ".config.ipset"

struct fwd_bus {
	sd_bus *bus;
	unsigned long timeout_s;
	bool timed_out; /* a call got no answer in time */
};

static const char *scope_name(enum fwd_scope s)
{
	return s == FWD_RUNTIME ? "runtime" : "permanent";
}

/* firewalld's errors read "CODE: detail" (FirewallError): whether e is that code. */
static bool fw_error_is(const sd_bus_error *e, const char *code)
{
	size_t n = strlen(code);

	return sd_bus_error_is_set(e) && e->message != NULL && strncmp(e->message, code, n) == 0 &&
	       (e->message[n] == ':' || e->message[n] == '\0');
}

/* firewalld's message on one line: up to its first blank line (after which a failing
 * nft call appends its whole JSON input), newlines and tabs as spaces. */
static const char *one_line(const char *msg, char *buf, size_t size)
{
	size_t k = 0;

	for (const char *p = msg; *p != '\0' && k + 1 < size; p++) {
		if (p[0] == '\n' && p[1] == '\n')
			break;
		if (*p == '\n' || *p == '\t')
			buf[k++] = ' ';
		else
			buf[k++] = *p;
	}
	while (k > 0 && buf[k - 1] == ' ')
		k--;
	buf[k] = '\0';
	return buf;
}

static int bus_fail(struct fwd_bus *b, const char *what, int r, const sd_bus_error *e,
		    struct cda_error *err)
{
	char msg[200];

	if (r == -ETIMEDOUT || sd_bus_error_has_name(e, SD_BUS_ERROR_TIMEOUT)) {
		b->timed_out = true;
		return cda_error_set(err, CDA_EAPPLY,
				     "firewalld did not answer %s within %lu s (dbus_timeout)",
				     what, b->timeout_s);
	}
	if (sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
	    sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
		return cda_error_set(err, CDA_EAPPLY,
				     "firewalld is not running (no %s on the system bus)",
				     FWD_NAME);
	if (sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED))
		return cda_error_set(err, CDA_EAPPLY, "firewalld denied %s: %s (run as root)", what,
				     e->message != NULL ? e->message : "access denied");
	if (sd_bus_error_is_set(e))
		return cda_error_set(err, CDA_EAPPLY, "firewalld: %s: %s", what,
				     one_line(e->message != NULL ? e->message : e->name, msg,
					      sizeof(msg)));
	errno = -r;
	return cda_error_sys(err, CDA_EAPPLY, "firewalld: %s", what);
}

int fwd_call_new(struct fwd_bus *b, const char *dest, const char *path, const char *iface,
		 const char *member, sd_bus_message **m, struct cda_error *err)
{
	int r = sd_bus_message_new_method_call(b->bus, m, dest ? dest : FWD_NAME, path, iface,
					       member);

	if (r >= 0)
		r = sd_bus_message_set_auto_start(*m, 0);
	if (r < 0) {
		*m = sd_bus_message_unref(*m);
		errno = -r;
		return cda_error_sys(err, CDA_ESYS, "firewalld: building the %s call", member);
	}
	return 0;
}

static int new_call(struct fwd_bus *b, const char *path, const char *iface, const char *member,
		    sd_bus_message **m, struct cda_error *err)
{
	return fwd_call_new(b, NULL, path, iface, member, m, err);
}

/*
 * Send m (consumed) and wait for the answer. absent: a firewalld error code meaning "no such
 * object" (INVALID_IPSET, INVALID_ZONE), for which 1 is returned without an error; NULL
 * when every error is one.
 */
int fwd_call_send(struct fwd_bus *b, sd_bus_message *m, sd_bus_message **reply, const char *what,
		  const char *absent, struct cda_error *err)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_call(b->bus, m, (uint64_t)b->timeout_s * 1000000u, &e, reply);
	int ret = 0;

	sd_bus_message_unref(m);
	if (r < 0)
		ret = absent != NULL && fw_error_is(&e, absent) ? 1 : bus_fail(b, what, r, &e, err);
	sd_bus_error_free(&e);
	return ret;
}

static int call(struct fwd_bus *b, sd_bus_message *m, sd_bus_message **reply, const char *what,
		const char *absent, struct cda_error *err)
{
	return fwd_call_send(b, m, reply, what, absent, err);
}

int fwd_call_bad_answer(const char *what, int r, struct cda_error *err)
{
	errno = -r;
	return cda_error_sys(err, CDA_EAPPLY, "firewalld: unexpected answer to %s", what);
}

static int bad_answer(const char *what, int r, struct cda_error *err)
{
	return fwd_call_bad_answer(what, r, err);
}

/* A call with one optional string argument and no answer worth reading. */
static int call_s(struct fwd_bus *b, const char *path, const char *iface, const char *member,
		  const char *arg, const char *what, struct cda_error *err)
{
	sd_bus_message *m = NULL, *reply = NULL;
	int r;

	if (new_call(b, path, iface, member, &m, err) < 0)
		return -1;
	if (arg != NULL && (r = sd_bus_message_append(m, "s", arg)) < 0) {
		sd_bus_message_unref(m);
		return bad_answer(what, r, err);
	}
	r = call(b, m, &reply, what, NULL, err);
	sd_bus_message_unref(reply);
	return r;
}

int fwd_connect(struct fwd_bus **out, unsigned long timeout_s, struct cda_error *err)
{
	struct fwd_bus *b = calloc(1, sizeof(*b));
	int r;

	*out = NULL;
	if (b == NULL)
		return cda_error_sys(err, CDA_ESYS, "allocating the firewalld connection");
	b->timeout_s = timeout_s;
	if ((r = sd_bus_open_system(&b->bus)) < 0) {
		free(b);
		errno = -r;
		return cda_error_sys(err, CDA_EAPPLY,
				     "firewalld: cannot connect to the D-Bus system bus (is dbus "
				     "running?)");
	}
	*out = b;
	return 0;
}

bool fwd_timed_out(const struct fwd_bus *b)
{
	return b != NULL && b->timed_out;
}

void fwd_disconnect(struct fwd_bus *b)
{
	if (b == NULL)
		return;
	sd_bus_flush_close_unref(b->bus);
	free(b);
}

int fwd_default_zone(struct fwd_bus *b, char **zone, struct cda_error *err)
{
	sd_bus_message *m = NULL, *reply = NULL;
	const char *z = NULL;
	int r;

	*zone = NULL;
	if (new_call(b, FWD_PATH, IF_MAIN, "getDefaultZone", &m, err) < 0 ||
	    call(b, m, &reply, "getDefaultZone", NULL, err) < 0)
		return -1;
	r = sd_bus_message_read(reply, "s", &z);
	if (r >= 0 && (*zone = strdup(z)) == NULL)
		r = -ENOMEM;
	sd_bus_message_unref(reply);
	return r < 0 ? bad_answer("getDefaultZone", r, err) : 0;
}

/* Object path of a permanent ipset or zone (config.getIPSetByName / getZoneByName):
 * 0 found, 1 none of that name. */
static int config_object(struct fwd_bus *b, const char *member, const char *name,
			 const char *absent, char **path, struct cda_error *err)
{
	sd_bus_message *m = NULL, *reply = NULL;
	const char *p = NULL;
	char what[128];
	int r;

	*path = NULL;
	snprintf(what, sizeof(what), "%s %s", member, name);
	if (new_call(b, FWD_CONFIG_PATH, IF_CONFIG, member, &m, err) < 0)
		return -1;
	if ((r = sd_bus_message_append(m, "s", name)) < 0) {
		sd_bus_message_unref(m);
		return bad_answer(what, r, err);
	}
	if ((r = call(b, m, &reply, what, absent, err)) != 0)
		return r;
	r = sd_bus_message_read(reply, "o", &p);
	if (r >= 0 && (*path = strdup(p)) == NULL)
		r = -ENOMEM;
	sd_bus_message_unref(reply);
	return r < 0 ? bad_answer(what, r, err) : 0;
}

int fwd_zone_exists(struct fwd_bus *b, const char *zone, struct cda_error *err)
{
	char *path = NULL;
	int r = config_object(b, "getZoneByName", zone, "INVALID_ZONE", &path, err);

	free(path);
	return r;
}

/* The (ssssa{ss}as) settings structure: type, family, timeout option and entries. */
static int read_settings(sd_bus_message *reply, struct fwd_ipset_info *info, char ***entries)
{
	const char *version, *shrt, *desc, *type;
	int r;

	memset(info, 0, sizeof(*info));
	snprintf(info->family, sizeof(info->family), "inet");
	if ((r = sd_bus_message_enter_container(reply, 'r', "ssssa{ss}as")) < 0 ||
	    (r = sd_bus_message_read(reply, "ssss", &version, &shrt, &desc, &type)) < 0 ||
	    (r = sd_bus_message_enter_container(reply, 'a', "{ss}")) < 0)
		return r;
	snprintf(info->type, sizeof(info->type), "%s", type);
	while ((r = sd_bus_message_enter_container(reply, 'e', "ss")) > 0) {
		const char *k, *v;

		if ((r = sd_bus_message_read(reply, "ss", &k, &v)) < 0 ||
		    (r = sd_bus_message_exit_container(reply)) < 0)
			return r;
		if (strcmp(k, "family") == 0)
			snprintf(info->family, sizeof(info->family), "%s", v);
		else if (strcmp(k, "timeout") == 0 && strcmp(v, "0") != 0)
			info->has_timeout = true;
	}
	if (r < 0 || (r = sd_bus_message_exit_container(reply)) < 0 ||
	    (r = sd_bus_message_read_strv(reply, entries)) < 0)
		return r;
	return sd_bus_message_exit_container(reply);
}

/* Start a call on an ipset: runtime methods take the name, permanent ones live on the
 * ipset's own object. 1: no such ipset. */
static int ipset_call(struct fwd_bus *b, enum fwd_scope s, const char *name, const char *member,
		      sd_bus_message **m, struct cda_error *err)
{
	char *path = NULL;
	int r;

	*m = NULL;
	if (s == FWD_RUNTIME) {
		if (new_call(b, FWD_PATH, IF_IPSET, member, m, err) < 0)
			return -1;
		if ((r = sd_bus_message_append(*m, "s", name)) < 0) {
			*m = sd_bus_message_unref(*m);
			return bad_answer(member, r, err);
		}
		return 0;
	}
	if ((r = config_object(b, "getIPSetByName", name, "INVALID_IPSET", &path, err)) != 0)
		return r;
	r = new_call(b, path, IF_CONFIG_IPSET, member, m, err);
	free(path);
	return r;
}

int fwd_ipset_get(struct fwd_bus *b, enum fwd_scope s, const char *name,
		  struct fwd_ipset_info *info, char ***entries, struct cda_error *err)
{
	const char *member = s == FWD_RUNTIME ? "getIPSetSettings" : "getSettings";
	sd_bus_message *m = NULL, *reply = NULL;
	char what[128];
	int r;

	*entries = NULL;
	snprintf(what, sizeof(what), "%s %s (%s)", member, name, scope_name(s));
	if ((r = ipset_call(b, s, name, member, &m, err)) != 0)
		return r;
	if ((r = call(b, m, &reply, what, "INVALID_IPSET", err)) != 0)
		return r;
	r = read_settings(reply, info, entries);
	sd_bus_message_unref(reply);
	if (r < 0) {
		fwd_strv_free(*entries);
		*entries = NULL;
		return bad_answer(what, r, err);
	}
	return 0;
}

int fwd_ipset_entries(struct fwd_bus *b, enum fwd_scope s, const char *name, char ***entries,
		      struct cda_error *err)
{
	sd_bus_message *m = NULL, *reply = NULL;
	char what[128];
	int r;

	*entries = NULL;
	snprintf(what, sizeof(what), "getEntries %s (%s)", name, scope_name(s));
	if ((r = ipset_call(b, s, name, "getEntries", &m, err)) != 0 ||
	    (r = call(b, m, &reply, what, NULL, err)) != 0)
		return r > 0 ? cda_error_set(err, CDA_EAPPLY, "firewalld has no %s ipset %s",
					     scope_name(s), name)
			     : -1;
	r = sd_bus_message_read_strv(reply, entries);
	sd_bus_message_unref(reply);
	return r < 0 ? bad_answer(what, r, err) : 0;
}

int fwd_ipset_set_entries(struct fwd_bus *b, enum fwd_scope s, const char *name,
			  char *const *entries, struct cda_error *err)
{
	sd_bus_message *m = NULL, *reply = NULL;
	char what[128];
	int r;

	snprintf(what, sizeof(what), "setEntries %s (%s, %zu entries)", name, scope_name(s),
		 fwd_strv_len(entries));
	if ((r = ipset_call(b, s, name, "setEntries", &m, err)) != 0)
		return r > 0 ? cda_error_set(err, CDA_EAPPLY, "firewalld has no %s ipset %s",
					     scope_name(s), name)
			     : -1;
	if ((r = sd_bus_message_append_strv(m, (char **)entries)) < 0) {
		sd_bus_message_unref(m);
		return bad_answer(what, r, err);
	}
	r = call(b, m, &reply, what, NULL, err);
	sd_bus_message_unref(reply);
	return r;
}

static int entry_call(struct fwd_bus *b, const char *member, const char *name, const char *entry,
		      struct cda_error *err)
{
	sd_bus_message *m = NULL, *reply = NULL;
	char what[160];
	int r;

	snprintf(what, sizeof(what), "%s %s %s (runtime)", member, name, entry);
	if (new_call(b, FWD_PATH, IF_IPSET, member, &m, err) < 0)
		return -1;
	if ((r = sd_bus_message_append(m, "ss", name, entry)) < 0) {
		sd_bus_message_unref(m);
		return bad_answer(what, r, err);
	}
	r = call(b, m, &reply, what, NULL, err);
	sd_bus_message_unref(reply);
	return r;
}

int fwd_ipset_add_entry(struct fwd_bus *b, const char *name, const char *entry,
			struct cda_error *err)
{
	return entry_call(b, "addEntry", name, entry, err);
}

int fwd_ipset_remove_entry(struct fwd_bus *b, const char *name, const char *entry,
			   struct cda_error *err)
{
	return entry_call(b, "removeEntry", name, entry, err);
}

int fwd_ipset_create(struct fwd_bus *b, const char *name, const char *family,
		     const char *description, char *const *entries, struct cda_error *err)
{
	sd_bus_message *m = NULL, *reply = NULL;
	char what[128];
	int r;

	snprintf(what, sizeof(what), "addIPSet %s (permanent, %zu entries)", name,
		 fwd_strv_len(entries));
	if (new_call(b, FWD_CONFIG_PATH, IF_CONFIG, "addIPSet", &m, err) < 0)
		return -1;
	/* (version, short, description, type, options, entries) */
	if ((r = sd_bus_message_append(m, "s", name)) < 0 ||
	    (r = sd_bus_message_open_container(m, 'r', "ssssa{ss}as")) < 0 ||
	    (r = sd_bus_message_append(m, "ssssa{ss}", "", "cdnallow", description, "hash:net", 1,
				       "family", family)) < 0 ||
	    (r = sd_bus_message_append_strv(m, (char **)entries)) < 0 ||
	    (r = sd_bus_message_close_container(m)) < 0) {
		sd_bus_message_unref(m);
		return bad_answer(what, r, err);
	}
	r = call(b, m, &reply, what, NULL, err);
	sd_bus_message_unref(reply);
	return r;
}

int fwd_ipset_delete(struct fwd_bus *b, const char *name, struct cda_error *err)
{
	sd_bus_message *m = NULL, *reply = NULL;
	char what[128];
	int r;

	snprintf(what, sizeof(what), "remove ipset %s (permanent)", name);
	if ((r = ipset_call(b, FWD_PERMANENT, name, "remove", &m, err)) != 0)
		return r > 0 ? 0 : -1;
	r = call(b, m, &reply, what, NULL, err);
	sd_bus_message_unref(reply);
	return r;
}

/* A rich rule call: runtime ones take the zone, permanent ones live on the zone's object. */
static int rich_call(struct fwd_bus *b, enum fwd_scope s, const char *zone, const char *member,
		     const char *rule, sd_bus_message **reply, struct cda_error *err)
{
	sd_bus_message *m = NULL;
	char *path = NULL, what[384];
	int r;

	snprintf(what, sizeof(what), "%s in zone %s (%s): %s", member, zone, scope_name(s), rule);
	if (s == FWD_RUNTIME) {
		if (new_call(b, FWD_PATH, IF_ZONE, member, &m, err) < 0)
			return -1;
		r = sd_bus_message_append(m, "ss", zone, rule);
		/* addRichRule's third argument: a timeout in seconds, 0 for none */
		if (r >= 0 && strcmp(member, "addRichRule") == 0)
			r = sd_bus_message_append(m, "i", 0);
	} else {
		r = config_object(b, "getZoneByName", zone, "INVALID_ZONE", &path, err);
		if (r != 0)
			return r > 0 ? cda_error_set(err, CDA_EAPPLY, "firewalld has no zone %s",
						     zone)
				     : -1;
		r = new_call(b, path, IF_CONFIG_ZONE, member, &m, err);
		free(path);
		if (r < 0)
			return -1;
		r = sd_bus_message_append(m, "s", rule);
	}
	if (r < 0) {
		sd_bus_message_unref(m);
		return bad_answer(what, r, err);
	}
	return call(b, m, reply, what, NULL, err);
}

int fwd_rich_query(struct fwd_bus *b, enum fwd_scope s, const char *zone, const char *rule,
		   bool *has, struct cda_error *err)
{
	sd_bus_message *reply = NULL;
	int r, v = 0;

	*has = false;
	if (rich_call(b, s, zone, "queryRichRule", rule, &reply, err) < 0)
		return -1;
	r = sd_bus_message_read(reply, "b", &v);
	sd_bus_message_unref(reply);
	if (r < 0)
		return bad_answer("queryRichRule", r, err);
	*has = v != 0;
	return 0;
}

int fwd_rich_add(struct fwd_bus *b, enum fwd_scope s, const char *zone, const char *rule,
		 struct cda_error *err)
{
	sd_bus_message *reply = NULL;
	int r = rich_call(b, s, zone, "addRichRule", rule, &reply, err);

	sd_bus_message_unref(reply);
	return r;
}

int fwd_rich_remove(struct fwd_bus *b, enum fwd_scope s, const char *zone, const char *rule,
		    struct cda_error *err)
{
	sd_bus_message *reply = NULL;
	int r = rich_call(b, s, zone, "removeRichRule", rule, &reply, err);

	sd_bus_message_unref(reply);
	return r;
}

int fwd_reload(struct fwd_bus *b, struct cda_error *err)
{
	return call_s(b, FWD_PATH, IF_MAIN, "reload", NULL, "reload", err);
}
