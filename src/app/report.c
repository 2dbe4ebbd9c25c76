// SPDX-License-Identifier: MIT
/* report: a run's report as human text, the JSON document and metrics; its log lines. */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "backend.h"

const char *report_source_status_name(enum source_status s)
{
	switch (s) {
	case SRC_OK:
		return "ok";
	case SRC_NOT_MODIFIED:
		return "not_modified";
	case SRC_FALLBACK:
		return "fallback";
	case SRC_FAILED:
		return "failed";
	case SRC_CACHED:
		return "cached";
	}
	return "unknown";
}

const char *report_target_status_name(enum target_status s)
{
	switch (s) {
	case TGT_UNCHANGED:
		return "unchanged";
	case TGT_CHANGED:
		return "changed";
	case TGT_WOULD_CHANGE:
		return "would_change";
	case TGT_REFUSED:
		return "refused";
	case TGT_FAILED:
		return "failed";
	case TGT_SKIPPED:
		return "skipped";
	}
	return "unknown";
}

static const char *source_words(enum source_status s)
{
	switch (s) {
	case SRC_OK:
		return "fetched";
	case SRC_NOT_MODIFIED:
		return "not modified, last good list reused";
	case SRC_FALLBACK:
		return "FAILED, using its last known good list";
	case SRC_FAILED:
		return "FAILED, no last known good list";
	case SRC_CACHED:
		return "last known good list (no network)";
	}
	return "?";
}

/* The first source whose list holds c (NULL: none), as backend_source_of tells it. */
static const char *source_of(const struct report_changes *ch, const struct cidr *c)
{
	for (size_t i = 0; i < ch->n_srcs; i++)
		if (ch->srcs[i].list != NULL &&
		    ranges_contains(ch->srcs[i].list, c->family, c->addr))
			return ch->srcs[i].name;
	return NULL;
}

static int print_changes(FILE *out, char sign, const struct report_changes *ch)
{
	char buf[CIDR_STRLEN];
	struct cidr_iter it;
	struct cidr c;

	if (ch->r == NULL)
		return 0;
	ranges_cover_begin(&it, ch->r);
	while (ranges_cover_next(&it, &c)) {
		const char *source = source_of(ch, &c);
		size_t len = strlen(cidr_format(&c, buf));

		/* "  + %-43s (source)": by hand, a 1M-prefix diff is printed per line */
		fputc(' ', out);
		fputc(' ', out);
		fputc(sign, out);
		fputc(' ', out);
		fwrite(buf, 1, len, out);
		if (source != NULL) {
			for (; len < 43; len++)
				fputc(' ', out);
			fputs(" (", out);
			fputs(source, out);
			fputc(')', out);
		}
		fputc('\n', out);
	}
	return 0;
}

int report_human(FILE *out, const struct run_report *r, bool verbose)
{
	char ebuf[600], cbuf[CIDR_STRLEN];

	for (size_t i = 0; i < r->n_sources; i++) {
		const struct source_report *s = &r->sources[i];
		bool bad = s->status == SRC_FALLBACK || s->status == SRC_FAILED;

		if (!verbose && !bad && s->dropped.n == 0 && s->hostbits == 0)
			continue;
		fprintf(out, "source %s (%s): %s", s->name, s->provider, source_words(s->status));
		if (s->status != SRC_FAILED)
			fprintf(out, ", %zu IPv4 + %zu IPv6", s->v4, s->v6);
		if (s->token[0] != '\0')
			fprintf(out, ", token %s", s->token);
		fputc('\n', out);
		if (bad)
			fprintf(out, "  error: %s\n", cda_error_str(&s->err, ebuf, sizeof(ebuf)));
		if (s->hostbits != 0)
			fprintf(out, "  warning: %u entries had host bits set and were normalised\n",
				s->hostbits);
		for (size_t k = 0; k < s->dropped.n; k++)
			fprintf(out, "  warning: special-purpose %s dropped\n",
				cidr_format(&s->dropped.v[k], cbuf));
	}
	for (size_t i = 0; i < r->n_targets; i++) {
		const struct target_report *t = &r->targets[i];

		fprintf(out, "target %s (%s): ", t->name, t->backend);
		switch (t->status) {
		case TGT_UNCHANGED:
			fprintf(out, "unchanged, %zu IPv4 + %zu IPv6\n", t->v4, t->v6);
			break;
		case TGT_CHANGED:
		case TGT_WOULD_CHANGE:
			fprintf(out, "%s +%zu -%zu, %zu IPv4 + %zu IPv6\n",
				t->status == TGT_CHANGED ? "applied" : "would apply (dry run)",
				t->n_added, t->n_removed, t->v4, t->v6);
			if (t->err.code != CDA_OK)
				fprintf(out, "  error: state not saved: %s\n",
					cda_error_str(&t->err, ebuf, sizeof(ebuf)));
			break;
		case TGT_REFUSED:
			fprintf(out, "REFUSED +%zu -%zu: %s\n", t->n_added, t->n_removed,
				cda_error_str(&t->err, ebuf, sizeof(ebuf)));
			break;
		case TGT_FAILED:
			fprintf(out, "FAILED, %s: %s\n",
				t->unverified ? "sent but not verified" : "left as it was",
				cda_error_str(&t->err, ebuf, sizeof(ebuf)));
			break;
		case TGT_SKIPPED:
			fprintf(out, "SKIPPED, left as it was: %s\n",
				cda_error_str(&t->err, ebuf, sizeof(ebuf)));
			break;
		}
		if (t->lock[0] != '\0')
			fprintf(out, "  origin lock: %s\n", t->lock);
		if (t->drift)
			fprintf(out, "  %s %s as configured\n", backend_drift_what(t->backend),
				t->status == TGT_CHANGED ? "put back" : "not");
		print_changes(out, '-', &t->removed);
		print_changes(out, '+', &t->added);
		for (size_t k = 0; k < t->n_pending; k++) {
			struct tm tm;
			char when[32] = "?";

			if (gmtime_r(&t->pending[k].until, &tm) != NULL)
				strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
			fprintf(out, "  ~ %-43s (withdrawn upstream, kept until %s)\n",
				cidr_format(&t->pending[k].c, cbuf), when);
		}
	}
	return ferror(out) ? -1 : 0;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong form, no surrogate,
 * nothing past U+10FFFF), 0 when s does not start one. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned int c = s[0], n, min, cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, min = 0x80, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, min = 0x800, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	for (unsigned int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* a NUL ends it too */
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * A JSON string of s, which may quote anything a server sent (a Latin-1 or UTF-16 body, a
 * multi-byte sequence cut by a message's size): json-c copies bytes as they are, so each
 * byte that is not part of valid UTF-8 becomes the text \xHH and the document stays UTF-8.
 */
static json_object *jstr(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), o = 0, k;
	json_object *v;
	char *t;

	for (k = 0; k < n && utf8_len(p + k) != 0; k += utf8_len(p + k))
		;
	if (k == n)
		return json_object_new_string(s);
	if ((t = malloc(4 * n + 1)) == NULL)
		return NULL;
	for (k = 0; k < n;) {
		size_t l = utf8_len(p + k);

		if (l == 0) {
			o += (size_t)snprintf(t + o, 5, "\\x%02x", p[k]);
			k++;
		} else {
			memcpy(t + o, p + k, l);
			o += l;
			k += l;
		}
	}
	t[o] = '\0';
	v = json_object_new_string(t);
	free(t);
	return v;
}

static json_object *error_json(const struct cda_error *e)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "class", jstr(cda_errc_name(e->code)));
	json_object_object_add(o, "message", jstr(e->msg));
	if (e->origin[0] != '\0')
		json_object_object_add(o, "origin", jstr(e->origin));
	if (e->line != 0)
		json_object_object_add(o, "line", json_object_new_int64(e->line));
	return o;
}

static json_object *source_json(const struct source_report *s)
{
	json_object *o = json_object_new_object(), *d = json_object_new_array();
	char buf[CIDR_STRLEN];

	json_object_object_add(o, "name", jstr(s->name));
	json_object_object_add(o, "provider", jstr(s->provider));
	json_object_object_add(o, "status",
			       jstr(report_source_status_name(s->status)));
	json_object_object_add(o, "v4", json_object_new_int64((int64_t)s->v4));
	json_object_object_add(o, "v6", json_object_new_int64((int64_t)s->v6));
	if (s->token[0] != '\0')
		json_object_object_add(o, "token", jstr(s->token));
	if (s->prev_token[0] != '\0')
		json_object_object_add(o, "previous_token", jstr(s->prev_token));
	json_object_object_add(o, "hostbits_normalised", json_object_new_int64(s->hostbits));
	for (size_t k = 0; k < s->dropped.n; k++)
		json_object_array_add(d,
				      jstr(cidr_format(&s->dropped.v[k], buf)));
	json_object_object_add(o, "dropped_special", d);
	if (s->status == SRC_FALLBACK || s->status == SRC_FAILED)
		json_object_object_add(o, "error", error_json(&s->err));
	return o;
}

static json_object *pending_json(const struct target_report *t)
{
	json_object *pend = json_object_new_array();
	char buf[CIDR_STRLEN];

	for (size_t k = 0; k < t->n_pending; k++) {
		json_object *po = json_object_new_object();

		json_object_object_add(po, "cidr",
				       jstr(cidr_format(&t->pending[k].c, buf)));
		json_object_object_add(po, "until",
				       json_object_new_int64((int64_t)t->pending[k].until));
		json_object_array_add(pend, po);
	}
	return pend;
}

#define JFLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Print one small value as json-c prints it (the same escapes and numbers), then drop it. */
static void emit(FILE *out, json_object *v)
{
	fputs(v != NULL ? json_object_to_json_string_ext(v, JFLAGS) : "null", out);
	json_object_put(v);
}

static void emit_key(FILE *out, const char *key, json_object *v)
{
	fprintf(out, ",\"%s\":", key);
	emit(out, v);
}

/*
 * The added or removed list and its sources, streamed: a 1M-prefix change is written as it
 * is formatted, never held as a JSON tree. A CIDR's text needs no escaping.
 */
static void emit_changes(FILE *out, const struct report_changes *ch, bool sources)
{
	const char *last = NULL;
	char buf[CIDR_STRLEN], *ls = NULL;
	struct cidr_iter it;
	struct cidr c;
	bool first = true;

	fputc(sources ? '{' : '[', out);
	if (ch->r != NULL)
		ranges_cover_begin(&it, ch->r);
	while (ch->r != NULL && ranges_cover_next(&it, &c)) {
		const char *source = sources ? source_of(ch, &c) : NULL;

		if (sources && source == NULL)
			continue;
		if (!first)
			fputc(',', out);
		first = false;
		fputc('"', out);
		fputs(cidr_format(&c, buf), out);
		fputc('"', out);
		if (!sources)
			continue;
		if (source != last) {
			json_object *j = jstr(source);

			free(ls);
			ls = j != NULL ? strdup(json_object_to_json_string_ext(j, JFLAGS)) : NULL;
			json_object_put(j);
			last = source;
		}
		fputc(':', out);
		fputs(ls != NULL ? ls : "null", out);
	}
	free(ls);
	fputc(sources ? '}' : ']', out);
}

/* One target, in the order (and so the text) the JSON tree used to print it in. */
static void emit_target(FILE *out, const struct target_report *t)
{
	fputs("{\"name\":", out);
	emit(out, jstr(t->name));
	emit_key(out, "backend", jstr(t->backend));
	emit_key(out, "status", jstr(report_target_status_name(t->status)));
	fputs(",\"added\":", out);
	emit_changes(out, &t->added, false);
	fputs(",\"removed\":", out);
	emit_changes(out, &t->removed, false);
	fputs(",\"sources_of\":{\"added\":", out);
	emit_changes(out, &t->added, true);
	fputs(",\"removed\":", out);
	emit_changes(out, &t->removed, true);
	fputc('}', out);
	emit_key(out, "pending_removal", pending_json(t));
	emit_key(out, "v4", json_object_new_int64((int64_t)t->v4));
	emit_key(out, "v6", json_object_new_int64((int64_t)t->v6));
	emit_key(out, "lock", t->lock[0] != '\0' ? jstr(t->lock) : NULL);
	emit_key(out, "lock_drift", json_object_new_boolean(t->drift));
	emit_key(out, "elem_msgs", json_object_new_int64((int64_t)t->elem_msgs));
	if (t->status == TGT_REFUSED || t->status == TGT_FAILED || t->status == TGT_SKIPPED ||
	    t->err.code != CDA_OK)
		emit_key(out, "error", error_json(&t->err));
	if (t->status == TGT_FAILED)
		emit_key(out, "unverified", json_object_new_boolean(t->unverified));
	fputc('}', out);
}

int report_json(FILE *out, const struct run_report *r)
{
	fputs("{\"command\":", out);
	emit(out, jstr(r->command));
	emit_key(out, "dry_run", json_object_new_boolean(r->dry_run));
	emit_key(out, "changed", json_object_new_boolean(r->changed));
	emit_key(out, "started", json_object_new_int64((int64_t)r->started));
	emit_key(out, "seconds", json_object_new_double(r->seconds));
	fputs(",\"sources\":[", out);
	for (size_t i = 0; i < r->n_sources; i++) {
		if (i > 0)
			fputc(',', out);
		emit(out, source_json(&r->sources[i]));
	}
	fputs("],\"targets\":[", out);
	for (size_t i = 0; i < r->n_targets; i++) {
		if (i > 0)
			fputc(',', out);
		emit_target(out, &r->targets[i]);
	}
	fputc(']', out);
	if (r->state_err.code != CDA_OK)
		emit_key(out, "state_error", error_json(&r->state_err));
	fputs("}\n", out);
	return fflush(out) != 0 || ferror(out) ? -1 : 0;
}

int report_check_json(FILE *out, const char *config, size_t n_sources, size_t n_targets,
		      const struct cda_error *err)
{
	json_object *doc = json_object_new_object();
	int rc;

	json_object_object_add(doc, "command", jstr("check"));
	json_object_object_add(doc, "config", jstr(config));
	json_object_object_add(doc, "ok", json_object_new_boolean(err == NULL));
	if (err == NULL) {
		json_object_object_add(doc, "sources", json_object_new_int64((int64_t)n_sources));
		json_object_object_add(doc, "targets", json_object_new_int64((int64_t)n_targets));
	} else {
		json_object_object_add(doc, "error", error_json(err));
	}
	rc = fprintf(out, "%s\n",
		     json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(doc);
	return rc < 0 || ferror(out) ? -1 : 0;
}

/* Prometheus label values escape backslash, quote and newline. */
static void label(FILE *out, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', out);
		if (*v == '\n')
			fputs("\\n", out);
		else
			fputc(*v, out);
	}
}

int report_metrics(FILE *out, const struct run_report *r, time_t last_success,
		   time_t last_change)
{
	fprintf(out, "# HELP cdnallow_last_run_timestamp_seconds Start of the last run.\n"
		     "# TYPE cdnallow_last_run_timestamp_seconds gauge\n"
		     "cdnallow_last_run_timestamp_seconds %lld\n",
		(long long)r->started);
	fprintf(out, "# HELP cdnallow_last_success_timestamp_seconds Start of the last run "
		     "that left every target in step.\n"
		     "# TYPE cdnallow_last_success_timestamp_seconds gauge\n"
		     "cdnallow_last_success_timestamp_seconds %lld\n",
		(long long)last_success);
	fprintf(out, "# HELP cdnallow_last_change_timestamp_seconds When a target last changed.\n"
		     "# TYPE cdnallow_last_change_timestamp_seconds gauge\n"
		     "cdnallow_last_change_timestamp_seconds %lld\n",
		(long long)last_change);
	fprintf(out, "# HELP cdnallow_run_duration_seconds Wall time of the last run.\n"
		     "# TYPE cdnallow_run_duration_seconds gauge\n"
		     "cdnallow_run_duration_seconds %.6f\n",
		r->seconds);
	fprintf(out, "# HELP cdnallow_target_entries Prefixes a target holds.\n"
		     "# TYPE cdnallow_target_entries gauge\n");
	for (size_t i = 0; i < r->n_targets; i++) {
		for (int f = 0; f < 2; f++) {
			fputs("cdnallow_target_entries{target=\"", out);
			label(out, r->targets[i].name);
			fprintf(out, "\",family=\"%s\"} %zu\n", f == 0 ? "ipv4" : "ipv6",
				f == 0 ? r->targets[i].v4 : r->targets[i].v6);
		}
	}
	fprintf(out, "# HELP cdnallow_target_added Prefixes added by the last run.\n"
		     "# TYPE cdnallow_target_added gauge\n");
	for (size_t i = 0; i < r->n_targets; i++) {
		fputs("cdnallow_target_added{target=\"", out);
		label(out, r->targets[i].name);
		fprintf(out, "\"} %zu\n",
			r->targets[i].status == TGT_CHANGED ? r->targets[i].n_added : 0);
	}
	fprintf(out, "# HELP cdnallow_target_removed Prefixes removed by the last run.\n"
		     "# TYPE cdnallow_target_removed gauge\n");
	for (size_t i = 0; i < r->n_targets; i++) {
		fputs("cdnallow_target_removed{target=\"", out);
		label(out, r->targets[i].name);
		fprintf(out, "\"} %zu\n",
			r->targets[i].status == TGT_CHANGED ? r->targets[i].n_removed : 0);
	}
	fprintf(out, "# HELP cdnallow_target_failed 1 when the last run failed to apply.\n"
		     "# TYPE cdnallow_target_failed gauge\n");
	for (size_t i = 0; i < r->n_targets; i++) {
		fputs("cdnallow_target_failed{target=\"", out);
		label(out, r->targets[i].name);
		fprintf(out, "\"} %d\n", r->targets[i].status == TGT_FAILED ||
						 r->targets[i].status == TGT_SKIPPED);
	}
	fprintf(out, "# HELP cdnallow_guard_refused 1 when a guard refused the last change.\n"
		     "# TYPE cdnallow_guard_refused gauge\n");
	for (size_t i = 0; i < r->n_targets; i++) {
		fputs("cdnallow_guard_refused{target=\"", out);
		label(out, r->targets[i].name);
		fprintf(out, "\"} %d\n", r->targets[i].status == TGT_REFUSED);
	}
	fprintf(out, "# HELP cdnallow_source_failed 1 when the last fetch of a source failed.\n"
		     "# TYPE cdnallow_source_failed gauge\n");
	for (size_t i = 0; i < r->n_sources; i++) {
		fputs("cdnallow_source_failed{source=\"", out);
		label(out, r->sources[i].name);
		fprintf(out, "\"} %d\n", r->sources[i].status == SRC_FALLBACK ||
						 r->sources[i].status == SRC_FAILED);
	}
	return ferror(out) ? -1 : 0;
}

void report_note(struct run_report *r, int prio, const char *fmt, ...)
{
	struct report_note *v;
	char *msg = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	v = reallocarray(r->notes, r->n_notes + 1, sizeof(*v));
	if (v == NULL) {
		free(msg);
		return;
	}
	r->notes = v;
	r->notes[r->n_notes].prio = prio;
	r->notes[r->n_notes++].msg = msg;
}

void report_changes_finish(struct report_changes *ch)
{
	ranges_free(ch->r);
	for (size_t i = 0; i < ch->n_srcs; i++)
		ranges_free(ch->srcs[i].list);
	free(ch->srcs);
	memset(ch, 0, sizeof(*ch));
}

void report_finish(struct run_report *r)
{
	for (size_t i = 0; i < r->n_sources; i++)
		cidr_list_finish(&r->sources[i].dropped);
	for (size_t i = 0; i < r->n_targets; i++) {
		report_changes_finish(&r->targets[i].added);
		report_changes_finish(&r->targets[i].removed);
		free(r->targets[i].pending);
		r->targets[i].pending = NULL;
	}
	free(r->sources);
	free(r->targets);
	r->sources = NULL;
	r->targets = NULL;
	r->n_sources = 0;
	r->n_targets = 0;
	for (size_t i = 0; i < r->n_notes; i++)
		free(r->notes[i].msg);
	free(r->notes);
	r->notes = NULL;
	r->n_notes = 0;
}
