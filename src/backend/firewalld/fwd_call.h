/* SPDX-License-Identifier: MIT */
/* fwd_dbus.c's call helpers, for the read-only queries in fwd_query.c. Private to this folder. */
#ifndef CDNALLOW_FWD_CALL_H
#define CDNALLOW_FWD_CALL_H

#include <systemd/sd-bus.h>

struct cda_error;
struct fwd_bus;

#define FWD_NAME "org.fedoraproject.FirewallD1"
#define FWD_PATH "/org/fedoraproject/FirewallD1"

/* A method call to dest (NULL: firewalld) at path, auto-start off. */
int fwd_call_new(struct fwd_bus *b, const char *dest, const char *path, const char *iface,
		 const char *member, sd_bus_message **m, struct cda_error *err);
/* Send m (consumed), wait up to the bus's timeout; errors name firewalld and the cause.
 * absent: a firewalld error code answered with 1 and no error (NULL: none). */
int fwd_call_send(struct fwd_bus *b, sd_bus_message *m, sd_bus_message **reply, const char *what,
		  const char *absent, struct cda_error *err);
/* CDA_EAPPLY "firewalld: unexpected answer to WHAT" (errno -r); returns -1. */
int fwd_call_bad_answer(const char *what, int r, struct cda_error *err);

#endif
