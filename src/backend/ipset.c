// SPDX-License-Identifier: MIT
/* ipset(8): read a hash:net set, replace two of them in one restore (swap, never partial). */
#include "ipset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cda_error.h"
#include "ranges.h"
#include "subproc.h"
#include "textbuf.h"

static int family_of(int f)
{
	return f ? CDA_AF_INET6 : CDA_AF_INET;
}

int ipset_read(const char *ipset, unsigned int timeout, int f, const char *name,
	       struct ranges *cur, bool *exists, struct cda_error *err)
{
	char *argv[] = {(char *)ipset, "list", "-o", "save", (char *)name, NULL};
	char create[64], add[64];
	struct subproc_out r;
	char *pos, *l;
	size_t alen;

	*exists = false;
	if (subproc_run(argv, NULL, 0, timeout, &r, err) < 0)
		return -1;
	if (r.status != 0) {
		int ret = 0;

		if (strstr(r.err, "does not exist") == NULL)
			ret = subproc_fail(argv, &r, err);
		subproc_out_finish(&r);
		return ret;
	}
	*exists = true;
	snprintf(create, sizeof(create), "create %s ", name);
	alen = (size_t)snprintf(add, sizeof(add), "add %s ", name);
	pos = r.out;
	while ((l = textbuf_next_line(&pos)) != NULL) {
		if (strncmp(l, create, strlen(create)) == 0) {
			char want[128];

			snprintf(want, sizeof(want), "%shash:net family %s ", create,
				 f ? "inet6" : "inet");
			if (strncmp(l, want, strlen(want)) != 0) {
				cda_error_set(err, CDA_EAPPLY,
					      "ipset %s exists but is not hash:net family %s", name,
					      f ? "inet6" : "inet");
				goto fail;
			}
		} else if (cur != NULL && strncmp(l, add, alen) == 0) {
			const char *s = l + alen;

			if (strstr(s, " nomatch") != NULL)
				continue; /* an exception someone else put there: not allowed */
			if (backend_add_cidr_text(cur, family_of(f), s, strcspn(s, " ")) < 0) {
				cda_error_sys(err, CDA_ESYS, "reading ipset %s", name);
				goto fail;
			}
		}
	}
	subproc_out_finish(&r);
	return 0;
fail:
	subproc_out_finish(&r);
	return -1;
}

static size_t count_fam(const struct cidr_list *l, int fam)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		n += l->v[i].family == fam;
	return n;
}

/* Whether each live set exists; a temporary left by an interrupted run is destroyed (it
 * would keep its members under -exist). */
static int prepare(const char *ipset, unsigned int timeout, char *const sets[2],
		   char tmp[2][IPSET_MAXNAME + 1], bool exists[2], struct cda_error *err)
{
	struct subproc_out r;

	for (int f = 0; f < 2; f++) {
		char *dargv[] = {(char *)ipset, "destroy", tmp[f], NULL};
		struct cda_error probe = {0};
		bool t;

		snprintf(tmp[f], IPSET_MAXNAME + 1, "%s%s", sets[f], IPSET_TMP_SUFFIX);
		if (ipset_read(ipset, timeout, f, sets[f], NULL, &exists[f], err) < 0)
			return -1;
		if (ipset_read(ipset, timeout, f, tmp[f], NULL, &t, &probe) < 0) {
			if (probe.code != CDA_EAPPLY) {
				*err = probe;
				return -1;
			}
			t = true; /* of another type: let destroy decide */
		}
		if (t && subproc_run_ok(dargv, NULL, 0, timeout, &r, err) < 0)
			return -1;
		if (t)
			subproc_out_finish(&r);
	}
	return 0;
}

/* A create line for set name of family f sized for n prefixes (hashsize and maxelem). */
static void create_line(struct textbuf *b, const char *name, int f, size_t n)
{
	size_t hs = 1024, max = 65536;

	while (hs < n && hs < ((size_t)1 << 20))
		hs <<= 1;
	if (max < 2 * n)
		max = 2 * n;
	textbuf_printf(b, "create %s hash:net family %s hashsize %zu maxelem %zu\n", name,
		       f ? "inet6" : "inet", hs, max);
}

static void add_lines(struct textbuf *b, const char *name, int f, const struct cidr_list *cl)
{
	for (size_t i = 0; i < cl->n; i++) {
		char c[CIDR_STRLEN];

		if (cl->v[i].family == family_of(f))
			textbuf_printf(b, "add %s %s\n", name, cidr_format(&cl->v[i], c));
	}
}

/* The restore input: fill both temporaries, create missing live sets, swap, destroy. */
static void restore_input(char *const sets[2], char tmp[2][IPSET_MAXNAME + 1], const bool exists[2],
			  const struct cidr_list *cl, struct textbuf *b)
{
	for (int f = 0; f < 2; f++) {
		size_t n = count_fam(cl, family_of(f));

		create_line(b, tmp[f], f, n);
		add_lines(b, tmp[f], f, cl);
		if (!exists[f])
			create_line(b, sets[f], f, n);
	}
	for (int f = 0; f < 2; f++)
		textbuf_printf(b, "swap %s %s\n", tmp[f], sets[f]);
	for (int f = 0; f < 2; f++)
		textbuf_printf(b, "destroy %s\n", tmp[f]);
}

void ipset_save_text(char *const sets[2], const struct cidr_list *cl, struct textbuf *b)
{
	for (int f = 0; f < 2; f++) {
		create_line(b, sets[f], f, count_fam(cl, family_of(f)));
		add_lines(b, sets[f], f, cl);
	}
}

int ipset_replace(const char *ipset, unsigned int timeout, char *const sets[2],
		  const struct cidr_list *cl, struct cda_error *err)
{
	char *argv[] = {(char *)ipset, "-exist", "restore", NULL};
	char tmp[2][IPSET_MAXNAME + 1];
	bool exists[2];
	struct textbuf b = {0};
	struct subproc_out r;
	int ret = -1;

	if (prepare(ipset, timeout, sets, tmp, exists, err) < 0)
		return -1;
	restore_input(sets, tmp, exists, cl, &b);
	if (b.oom) {
		errno = ENOMEM;
		cda_error_sys(err, CDA_ESYS, "building the ipset restore input");
		goto out;
	}
	if (subproc_run_ok(argv, b.p, b.len, timeout, &r, err) == 0) {
		subproc_out_finish(&r);
		ret = 0;
	}
	if (ret < 0) {
		/* ipset restore stops at the first bad line: the swaps were not reached (or
		 * both were). Drop what is left of the temporaries, keeping err. */
		struct cda_error ignored = {0};

		for (int f = 0; f < 2; f++) {
			char *dargv[] = {(char *)ipset, "destroy", tmp[f], NULL};

			if (subproc_run(dargv, NULL, 0, timeout, &r, &ignored) == 0)
				subproc_out_finish(&r);
		}
	}
out:
	free(b.p);
	return ret;
}
