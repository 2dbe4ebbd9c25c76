// SPDX-License-Identifier: MIT
/* doctor_report: doctor findings into words for people (human) and programs (JSON). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "doctor.h"

int doctor_add(struct doctor_report *r, enum doctor_severity sev, const char *check,
	       const char *subject, const char *fix, const char *fmt, ...)
{
	struct doctor_finding f = {.severity = sev};
	va_list ap;
	int n;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct doctor_finding *v = reallocarray(r->v, cap, sizeof(*v));

		if (v == NULL)
			return -1;
		r->v = v;
		r->cap = cap;
	}
	va_start(ap, fmt);
	n = vasprintf(&f.msg, fmt, ap);
	va_end(ap);
	if (n < 0) {
		f.msg = NULL;
		goto fail;
	}
	if ((f.check = strdup(check)) == NULL ||
	    (subject != NULL && (f.subject = strdup(subject)) == NULL) ||
	    (fix != NULL && (f.fix = strdup(fix)) == NULL))
		goto fail;
	r->v[r->n++] = f;
	return 0;
fail:
	free(f.msg);
	free(f.check);
	free(f.subject);
	free(f.fix);
	return -1;
}

enum doctor_severity doctor_report_worst(const struct doctor_report *r)
{
	enum doctor_severity w = DOCTOR_OK;

	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].severity > w)
			w = r->v[i].severity;
	return w;
}

size_t doctor_report_count(const struct doctor_report *r, enum doctor_severity sev)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		n += r->v[i].severity == sev;
	return n;
}

const char *doctor_severity_name(enum doctor_severity s)
{
	static const char *const names[] = {"ok", "info", "warning", "error"};

	return (unsigned int)s < 4 ? names[s] : "?";
}

int doctor_report_human(FILE *fp, const struct doctor_report *r, bool verbose)
{
	static const char *const tags[] = {"ok", "info", "WARNING", "ERROR"};
	size_t ne = doctor_report_count(r, DOCTOR_ERROR);
	size_t nw = doctor_report_count(r, DOCTOR_WARNING);

	for (int sev = DOCTOR_ERROR; sev >= DOCTOR_OK; sev--) {
		for (size_t i = 0; i < r->n; i++) {
			const struct doctor_finding *f = &r->v[i];

			if ((int)f->severity != sev || (sev == DOCTOR_OK && !verbose))
				continue;
			fprintf(fp, "%-7s %s", tags[sev], f->check);
			if (f->subject != NULL)
				fprintf(fp, " [%s]", f->subject);
			fprintf(fp, ": %s\n", f->msg);
			if (f->fix != NULL)
				fprintf(fp, "        fix: %s\n", f->fix);
		}
	}
	fprintf(fp, "doctor: %zu error%s, %zu warning%s, %zu ok (%.2f s)%s\n", ne,
		ne == 1 ? "" : "s", nw, nw == 1 ? "" : "s", doctor_report_count(r, DOCTOR_OK),
		r->seconds, r->privileged ? "" : "; not root: some checks were skipped");
	return ferror(fp) ? -1 : 0;
}

static json_object *str_or_null(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

int doctor_report_json(FILE *fp, const struct doctor_report *r)
{
	json_object *doc = json_object_new_object(), *arr = json_object_new_array();
	int rc = -1;

	if (doc == NULL || arr == NULL) {
		json_object_put(doc);
		json_object_put(arr);
		return -1;
	}
	json_object_object_add(doc, "ok",
			       json_object_new_boolean(doctor_report_worst(r) != DOCTOR_ERROR));
	json_object_object_add(
		doc, "errors",
		json_object_new_int64((int64_t)doctor_report_count(r, DOCTOR_ERROR)));
	json_object_object_add(
		doc, "warnings",
		json_object_new_int64((int64_t)doctor_report_count(r, DOCTOR_WARNING)));
	json_object_object_add(doc, "privileged", json_object_new_boolean(r->privileged));
	json_object_object_add(doc, "seconds", json_object_new_double(r->seconds));
	for (size_t i = 0; i < r->n; i++) {
		const struct doctor_finding *f = &r->v[i];
		json_object *o = json_object_new_object();

		if (o == NULL)
			goto out;
		json_object_object_add(o, "check", json_object_new_string(f->check));
		json_object_object_add(o, "severity",
				       json_object_new_string(doctor_severity_name(f->severity)));
		json_object_object_add(o, "subject", str_or_null(f->subject));
		json_object_object_add(o, "message", json_object_new_string(f->msg));
		json_object_object_add(o, "fix", str_or_null(f->fix));
		json_object_array_add(arr, o);
	}
	json_object_object_add(doc, "findings", arr);
	arr = NULL;
	fprintf(fp, "%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN));
	rc = ferror(fp) ? -1 : 0;
out:
	json_object_put(arr);
	json_object_put(doc);
	return rc;
}

void doctor_report_finish(struct doctor_report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].check);
		free(r->v[i].subject);
		free(r->v[i].msg);
		free(r->v[i].fix);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}
