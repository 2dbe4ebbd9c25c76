// SPDX-License-Identifier: MIT
/* Strict value parsers shared by config and backends (bool, number, percent, duration, size). */
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int config_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"yes", "true", "1", "on"};
	static const char *const no[] = {"no", "false", "0", "off"};

	if (s == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* Leading decimal digits of s into *v (no sign, no space); *end after them. -1 if none or
 * overflow. strtoul() would accept " -1" as ULONG_MAX. */
static int digits(const char *s, unsigned long *v, const char **end)
{
	unsigned long x = 0;
	const char *p = s;

	if (s == NULL || !isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (x > (ULONG_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*v = x;
	*end = p;
	return 0;
}

int config_parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v;
	const char *end;

	if (digits(s, &v, &end) < 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int config_parse_percent(const char *s, double *out)
{
	unsigned long ip, fp = 0, scale = 1;
	const char *p;
	double v;

	if (digits(s, &ip, &p) < 0)
		return -1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		/* up to 9 fractional digits are plenty; more is refused, not rounded */
		for (; isdigit((unsigned char)*p); p++) {
			if (scale >= 1000000000UL)
				return -1;
			fp = fp * 10 + (unsigned long)(*p - '0');
			scale *= 10;
		}
	}
	if (ip > 1000)
		return -1;
	v = (double)ip + (double)fp / (double)scale;
	if (*p == '%' && p[1] == '\0')
		v /= 100.0;
	else if (*p != '\0')
		return -1;
	if (v < 0.0 || v > 1.0)
		return -1;
	*out = v;
	return 0;
}

int config_parse_duration(const char *s, long *seconds)
{
	unsigned long v, mul = 1;
	const char *p;

	if (digits(s, &v, &p) < 0)
		return -1;
	switch (*p) {
	case '\0':
		break;
	case 's':
		mul = 1;
		p++;
		break;
	case 'm':
		mul = 60;
		p++;
		break;
	case 'h':
		mul = 3600;
		p++;
		break;
	case 'd':
		mul = 86400;
		p++;
		break;
	default:
		return -1;
	}
	if (*p != '\0' || v > (unsigned long)LONG_MAX / mul)
		return -1;
	*seconds = (long)(v * mul);
	return 0;
}

int config_parse_size(const char *s, unsigned long *bytes)
{
	unsigned long v, mul = 1;
	const char *p;

	if (digits(s, &v, &p) < 0)
		return -1;
	switch (*p) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mul = 1024UL;
		p++;
		break;
	case 'm':
	case 'M':
		mul = 1024UL * 1024;
		p++;
		break;
	case 'g':
	case 'G':
		mul = 1024UL * 1024 * 1024;
		p++;
		break;
	default:
		return -1;
	}
	/* "8M", "8MB" and "8MiB" all mean 8 * 2^20 */
	if (mul > 1 && (strcmp(p, "B") == 0 || strcmp(p, "iB") == 0))
		p += strlen(p);
	if (*p != '\0' || v > ULONG_MAX / mul)
		return -1;
	*bytes = v * mul;
	return 0;
}

static bool is_sep(char ch)
{
	return ch == ' ' || ch == '\t' || ch == ',' || ch == '\n' || ch == '\r';
}

char **config_split_words(const char *s, size_t *n)
{
	char **w = NULL;
	size_t cnt = 0;
	const char *p = s != NULL ? s : "";

	for (;;) {
		const char *start;
		char **nw;

		while (is_sep(*p))
			p++;
		start = p;
		while (*p != '\0' && !is_sep(*p))
			p++;
		nw = reallocarray(w, cnt + 2, sizeof(*w));
		if (nw == NULL)
			goto fail;
		w = nw;
		w[cnt] = NULL;
		if (p == start)
			break;
		if ((w[cnt] = strndup(start, (size_t)(p - start))) == NULL)
			goto fail;
		w[++cnt] = NULL;
	}
	if (n != NULL)
		*n = cnt;
	return w;
fail:
	config_free_words(w);
	return NULL;
}

void config_free_words(char **w)
{
	if (w == NULL)
		return;
	for (char **p = w; *p != NULL; p++)
		free(*p);
	free(w);
}
