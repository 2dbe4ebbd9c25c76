// SPDX-License-Identifier: MIT
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cda_error.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The config reader takes a path: hand it the input as an anonymous file. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	struct cda_error err = {0};
	char path[64];
	size_t off = 0;
	int fd = memfd_create("fuzz_config", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	/* a memfd is 0777: make it what a sane config file is, or it is refused up front */
	if (fchmod(fd, 0600) < 0)
		goto out;
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);

		if (n <= 0)
			goto out;
		off += (size_t)n;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (config_load(&c, path, false, &err) == 0) {
		/* walk what was loaded so ASan sees every string */
		for (size_t i = 0; i < c.n_targets; i++)
			for (size_t j = 0; j < c.targets[i].n_sources; j++)
				if (config_find_source(&c, c.targets[i].sources[j]) == NULL)
					__builtin_trap();
		for (size_t i = 0; i < c.n_sources; i++)
			if (c.sources[i].n_urls == 0 || c.sources[i].urls[0] == NULL)
				__builtin_trap();
	} else if (err.code != CDA_ECONFIG && err.code != CDA_ESYS) {
		__builtin_trap();
	}
	config_finish(&c);
out:
	close(fd);
	return 0;
}
