// SPDX-License-Identifier: MIT
/* The kernel's ipsets for `-m set` matches: `ipset save` parsed, names mapped to kernel indices. */
#include "ipsets.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>
#include <linux/netfilter/ipset/ip_set.h>

#include "cda_error.h"
#include "subproc.h"

static struct ipset_info *find(struct ipsets *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, name) == 0)
			return &s->v[i];
	return NULL;
}

/* "create NAME TYPE [family inet|inet6] [options...]" */
static int parse_create(struct ipsets *s, char *rest)
{
	char *save = NULL, *name = strtok_r(rest, " ", &save), *type = strtok_r(NULL, " ", &save);
	struct ipset_info *v, *i;

	if (name == NULL || type == NULL || strlen(name) >= sizeof(v->name))
		return 0;
	if ((v = reallocarray(s->v, s->n + 1, sizeof(*v))) == NULL)
		return -1;
	s->v = v;
	i = &v[s->n];
	memset(i, 0, sizeof(*i));
	snprintf(i->name, sizeof(i->name), "%s", name);
	i->index = IPSETS_NO_INDEX;
	i->fam = CDA_AF_INET;
	if ((i->elems = ranges_new()) == NULL)
		return -1;
	s->n++;
	i->broken = strcmp(type, "hash:ip") != 0 && strcmp(type, "hash:net") != 0 &&
		    strcmp(type, "bitmap:ip") != 0;
	for (char *t = strtok_r(NULL, " ", &save), *prev = NULL; t != NULL;
	     prev = t, t = strtok_r(NULL, " ", &save)) {
		if (prev != NULL && strcmp(prev, "family") == 0)
			i->fam = strcmp(t, "inet6") == 0 ? CDA_AF_INET6 : CDA_AF_INET;
		else if (strcmp(t, "netmask") == 0)
			i->broken = true; /* members stand for wider networks */
	}
	return 0;
}

/* "add NAME MEMBER [options...]" */
static int parse_add(struct ipsets *s, char *rest)
{
	char *save = NULL, *name = strtok_r(rest, " ", &save), *m = strtok_r(NULL, " ", &save);
	struct ipset_info *i = name != NULL ? find(s, name) : NULL;
	struct cidr lo, hi;
	bool bare;
	char *dash;

	if (i == NULL || m == NULL || i->broken)
		return 0;
	for (char *t = strtok_r(NULL, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save))
		if (strcmp(t, "nomatch") == 0)
			i->broken = true;
	dash = strchr(m, '-');
	if (cidr_parse(m, dash ? (size_t)(dash - m) : strlen(m), &lo, &bare) != CIDR_OK ||
	    lo.family != i->fam) {
		i->broken = true;
		return 0;
	}
	if (dash == NULL)
		return ranges_add_cidr(i->elems, &lo);
	if (cidr_parse(dash + 1, strlen(dash + 1), &hi, &bare) != CIDR_OK || !bare ||
	    hi.family != lo.family) {
		i->broken = true;
		return 0;
	}
	return lo.family == CDA_AF_INET ? ranges_add4(i->elems, (uint32_t)lo.addr, (uint32_t)hi.addr)
					: ranges_add6(i->elems, lo.addr, hi.addr);
}

int ipsets_parse(const char *save, struct ipsets **out)
{
	struct ipsets *s = calloc(1, sizeof(*s));
	char *text = strdup(save ? save : ""), *sv = NULL;
	int rc = -1;

	*out = NULL;
	if (s == NULL || text == NULL)
		goto out;
	for (char *l = strtok_r(text, "\n", &sv); l != NULL; l = strtok_r(NULL, "\n", &sv)) {
		int r = 0;

		if (strncmp(l, "create ", 7) == 0)
			r = parse_create(s, l + 7);
		else if (strncmp(l, "add ", 4) == 0)
			r = parse_add(s, l + 4);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < s->n; i++)
		ranges_normalize(s->v[i].elems);
	*out = s;
	s = NULL;
	rc = 0;
out:
	free(text);
	ipsets_free(s);
	return rc;
}

void ipsets_resolve(struct ipsets *s)
{
	struct ip_set_req_version ver = {.op = IP_SET_OP_VERSION};
	socklen_t len = sizeof(ver);
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_IP, SO_IP_SET, &ver, &len) < 0)
		goto out;
	for (size_t i = 0; i < s->n; i++) {
		struct ip_set_req_get_set req = {.op = IP_SET_OP_GET_BYNAME, .version = ver.version};

		len = sizeof(req);
		snprintf(req.set.name, sizeof(req.set.name), "%s", s->v[i].name);
		if (getsockopt(fd, SOL_IP, SO_IP_SET, &req, &len) == 0 &&
		    req.set.index != IPSET_INVALID_ID)
			s->v[i].index = req.set.index;
	}
out:
	close(fd);
}

int ipsets_load(const char *ipset_cmd, struct ipsets **out)
{
	char *argv[] = {(char *)(ipset_cmd ? ipset_cmd : "ipset"), "save", NULL};
	struct subproc_opts o = {.argv = argv, .timeout = 5};
	struct cda_error e = {0};
	struct subproc_out r;
	int rc;

	*out = NULL;
	if (subproc_exec(&o, &r, &e) < 0)
		return -1;
	rc = r.status == 0 ? ipsets_parse(r.out, out) : -1;
	subproc_out_finish(&r);
	if (rc == 0)
		ipsets_resolve(*out);
	return rc;
}

const struct ipset_info *ipsets_by_index(const struct ipsets *s, uint32_t index)
{
	for (size_t i = 0; s != NULL && i < s->n; i++)
		if (s->v[i].index == index)
			return &s->v[i];
	return NULL;
}

void ipsets_free(struct ipsets *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		ranges_free(s->v[i].elems);
	free(s->v);
	free(s);
}
