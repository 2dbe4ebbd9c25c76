/* SPDX-License-Identifier: MIT */
/* firewalld's D-Bus API (org.fedoraproject.FirewallD1) over sd-bus: the calls the firewalld
 * backend makes, and the read-only ones doctor makes, each bounded by a timeout. */
#ifndef CDNALLOW_FWD_DBUS_H
#define CDNALLOW_FWD_DBUS_H

#include <stdbool.h>
#include <stddef.h>

struct cda_error;
struct fwd_bus;

/* Runtime (what firewalld enforces now) or permanent (its configuration in /etc/firewalld). */
enum fwd_scope { FWD_RUNTIME, FWD_PERMANENT };

/* An ipset's settings as firewalld reports them. */
struct fwd_ipset_info {
	char type[32];    /* "hash:net", "hash:ip", ... */
	char family[16];  /* "inet" or "inet6" (firewalld's default when unset: inet) */
	bool has_timeout; /* a timeout option: firewalld lists no entries for such sets */
};

/*
 * Every call below fails with CDA_EAPPLY and a message that names firewalld and the cause:
 * no system bus, firewalld not running (calls never start it), no answer within the timeout,
 * access denied, or firewalld's own error text ("INVALID_ENTRY: ..."). String vectors are
 * NULL-terminated, allocated, freed with fwd_strv_free() (fwd_entries.h).
 */

/* Connect to the system bus ($DBUS_SYSTEM_BUS_ADDRESS or /run/dbus/system_bus_socket).
 * timeout_s bounds every later call. */
int fwd_connect(struct fwd_bus **out, unsigned long timeout_s, struct cda_error *err);
void fwd_disconnect(struct fwd_bus *b); /* NULL-safe */
/* Whether a call got no answer within the timeout (a hung firewalld: stop calling it). */
bool fwd_timed_out(const struct fwd_bus *b);

int fwd_default_zone(struct fwd_bus *b, char **zone, struct cda_error *err);
/* Whether zone exists in the permanent configuration: 0 yes, 1 no. */
int fwd_zone_exists(struct fwd_bus *b, const char *zone, struct cda_error *err);

/* Settings and entries of an ipset: 0 found, 1 no such ipset (*entries NULL). */
int fwd_ipset_get(struct fwd_bus *b, enum fwd_scope s, const char *name,
		  struct fwd_ipset_info *info, char ***entries, struct cda_error *err);
/* Only the entries (getEntries): the read-back after a change. */
int fwd_ipset_entries(struct fwd_bus *b, enum fwd_scope s, const char *name, char ***entries,
		      struct cda_error *err);
/* Replace every entry in one call (setEntries); entries NULL: none. */
int fwd_ipset_set_entries(struct fwd_bus *b, enum fwd_scope s, const char *name,
			  char *const *entries, struct cda_error *err);
/* One runtime entry. */
int fwd_ipset_add_entry(struct fwd_bus *b, const char *name, const char *entry,
			struct cda_error *err);
int fwd_ipset_remove_entry(struct fwd_bus *b, const char *name, const char *entry,
			   struct cda_error *err);
/* A new permanent hash:net ipset of family ("inet"/"inet6") holding entries. */
int fwd_ipset_create(struct fwd_bus *b, const char *name, const char *family,
		     const char *description, char *const *entries, struct cda_error *err);
/* Delete a permanent ipset. */
int fwd_ipset_delete(struct fwd_bus *b, const char *name, struct cda_error *err);

int fwd_rich_query(struct fwd_bus *b, enum fwd_scope s, const char *zone, const char *rule,
		   bool *has, struct cda_error *err);
int fwd_rich_add(struct fwd_bus *b, enum fwd_scope s, const char *zone, const char *rule,
		 struct cda_error *err);
int fwd_rich_remove(struct fwd_bus *b, enum fwd_scope s, const char *zone, const char *rule,
		    struct cda_error *err);

/* Reload the permanent configuration into the runtime (firewall-cmd --reload). */
int fwd_reload(struct fwd_bus *b, struct cda_error *err);

/* ---- read-only queries (fwd_query.c), for doctor ---- */

/* Whether firewalld holds its name on the bus (NameHasOwner). */
int fwd_running(struct fwd_bus *b, bool *running, struct cda_error *err);

/* What a runtime zone admits (getZoneSettings2); every vector non-NULL after a 0. */
struct fwd_zone {
	char target[32];   /* "default", "ACCEPT", "DROP", "%%REJECT%%" */
	char **services;   /* "https" */
	char **ports;      /* "443/tcp", "8000-8080/tcp" */
	char **rich_rules; /* as --list-rich-rules shows them */
	char **interfaces;
	char **sources;    /* "192.0.2.0/24", "ipset:NAME" */
};
/* 0, or 1 when firewalld has no such zone. */
int fwd_zone_get(struct fwd_bus *b, const char *zone, struct fwd_zone *z, struct cda_error *err);
void fwd_zone_free(struct fwd_zone *z); /* frees the vectors, zeroes; idempotent */
/* Zones bound to an interface or a source (getActiveZones): a vector of names. */
int fwd_active_zones(struct fwd_bus *b, char ***zones, struct cda_error *err);
/* A runtime service's ports ("443/tcp") and the services it includes
 * (getServiceSettings2): 0, or 1 when firewalld has no such service. */
int fwd_service_ports(struct fwd_bus *b, const char *service, char ***ports, char ***includes,
		      struct cda_error *err);

#endif
