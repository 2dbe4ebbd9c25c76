// SPDX-License-Identifier: MIT
/*
 * Prints every configuration name the code accepts, one per line, tab-separated, for the
 * docs-vs-code check (check_docs.py):
 *   global KEY | source KEY | target KEY | provider NAME [KEY] | backend NAME [KEY]
 * Backends are those built in (backend_all()).
 */
#include <stdio.h>

#include "backend.h"
#include "catalog.h"
#include "config.h"

static void keys(const char *kind, const char *const *list)
{
	for (; list != NULL && *list != NULL; list++)
		printf("%s\t%s\n", kind, *list);
}

int main(void)
{
	const struct catalog_entry *ce;
	const struct backend_ops *const *be;
	size_t n;

	keys("global", config_global_keys);
	keys("source", config_source_keys);
	keys("target", config_target_keys);
	ce = catalog_all(&n);
	for (size_t i = 0; i < n; i++) {
		printf("provider\t%s\n", ce[i].name);
		for (const char *const *k = ce[i].keys; k != NULL && *k != NULL; k++)
			printf("provider\t%s\t%s\n", ce[i].name, *k);
	}
	be = backend_all(&n);
	for (size_t i = 0; i < n; i++) {
		printf("backend\t%s\n", be[i]->name);
		for (const char *const *k = be[i]->keys; k != NULL && *k != NULL; k++)
			printf("backend\t%s\t%s\n", be[i]->name, *k);
	}
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
