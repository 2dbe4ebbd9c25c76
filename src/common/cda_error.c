// SPDX-License-Identifier: MIT
/* cda_error: error records, their classes, exit statuses and text. */
#include "cda_error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void vset(struct cda_error *e, enum cda_errc c, const char *fmt, va_list ap)
{
	e->code = c;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

int cda_error_set(struct cda_error *e, enum cda_errc c, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	e->sys_errno = 0;
	va_start(ap, fmt);
	vset(e, c, fmt, ap);
	va_end(ap);
	return -1;
}

int cda_error_sys(struct cda_error *e, enum cda_errc c, const char *fmt, ...)
{
	int saved = errno;
	size_t n;
	va_list ap;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	vset(e, c, fmt, ap);
	va_end(ap);
	e->sys_errno = saved;
	n = strlen(e->msg);
	if (saved != 0 && n < sizeof(e->msg))
		snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(saved));
	errno = saved;
	return -1;
}

int cda_error_at(struct cda_error *e, const char *origin, unsigned int line)
{
	if (e == NULL)
		return -1;
	if (e->origin[0] == '\0' && origin != NULL) {
		snprintf(e->origin, sizeof(e->origin), "%s", origin);
		if (e->line == 0)
			e->line = line;
	} else if (e->line == 0 && origin != NULL && strcmp(e->origin, origin) == 0) {
		e->line = line;
	}
	return -1;
}

void cda_error_clear(struct cda_error *e)
{
	if (e != NULL)
		memset(e, 0, sizeof(*e));
}

int cda_errc_exit_status(enum cda_errc c)
{
	switch (c) {
	case CDA_OK:
		return 0;
	case CDA_EUSAGE:
		return 64;
	case CDA_EDATA:
		return 65;
	case CDA_EGUARD:
		return 3;
	case CDA_EAPPLY:
		return 69;
	case CDA_EFETCH:
		return 75;
	case CDA_ECONFIG:
		return 78;
	case CDA_ESYS:
		return 71;
	}
	return 71;
}

int cda_error_exit_status(const struct cda_error *e)
{
	return cda_errc_exit_status(e->code);
}

const char *cda_errc_name(enum cda_errc c)
{
	static const char *const names[] = {
		[CDA_OK] = "ok",	 [CDA_EUSAGE] = "usage", [CDA_EDATA] = "data",
		[CDA_EGUARD] = "guard",	 [CDA_EAPPLY] = "apply", [CDA_EFETCH] = "fetch",
		[CDA_ECONFIG] = "config", [CDA_ESYS] = "system",
	};

	if ((unsigned int)c >= sizeof(names) / sizeof(names[0]))
		return "system";
	return names[c];
}

const char *cda_error_str(const struct cda_error *e, char *buf, unsigned long size)
{
	if (e->origin[0] != '\0' && e->line != 0)
		snprintf(buf, size, "%s:%u: %s", e->origin, e->line, e->msg);
	else if (e->origin[0] != '\0')
		snprintf(buf, size, "%s: %s", e->origin, e->msg);
	else
		snprintf(buf, size, "%s", e->msg);
	return buf;
}
