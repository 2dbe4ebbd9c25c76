// SPDX-License-Identifier: MIT
/* allocfail: an LD_PRELOAD shim (tests only) that counts allocations and fails the Nth. */
/*
 * Loaded into the real binary by tests/integration/alloc_faults.sh. Counting starts when main
 * is entered (the loader's and the libraries' start-up allocations are not ours to handle);
 * a process forked afterwards (the fetch child) counts its own, from the fork, its threads
 * sharing one count. malloc, calloc, realloc, reallocarray and the aligned allocators count;
 * glibc's own callers of malloc (strdup, asprintf, getline, fopen...) reach these through the
 * interposed symbol.
 *
 *   CDA_FAIL_ALLOC_AT=N      the Nth allocation returns NULL (errno ENOMEM); 0 or unset: none
 *   CDA_FAIL_ALLOC_IN=WHO    parent | child | both (default): the process(es) where N counts
 *   CDA_ALLOC_REPORT=PATH    when the parent exits: "parent P", "child C" (the largest count
 *                            of a forked process) and "failed F" (allocations failed), a line
 *                            each
 *
 * The environment's LD_PRELOAD is dropped at main, so programs the binary executes run
 * without the shim. Not for a sanitizer build: ASan and valgrind replace malloc themselves.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t align, size_t n);
void *memalign(size_t align, size_t n); /* <malloc.h>, obsolete */

typedef int (*main_fn)(int, char **, char **);
typedef int (*start_fn)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void),
			void *);
int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void),
		      void (*fini)(void), void (*rtld_fini)(void), void *stack_end);

/* Shared with forked children (one anonymous shared page): what the report says. */
struct tally {
	long parent, child, failed;
};

#define IN_PARENT 1
#define IN_CHILD 2

static struct tally *tally;
static bool active, is_child;
static long count, fail_at;
static int fail_in = IN_PARENT | IN_CHILD;
static main_fn real_main;

static void max_into(long *dst, long v)
{
	long cur = __atomic_load_n(dst, __ATOMIC_RELAXED);

	while (v > cur && !__atomic_compare_exchange_n(dst, &cur, v, false, __ATOMIC_RELAXED,
						       __ATOMIC_RELAXED))
		;
}

/* Count one allocation: true when it is the one to fail. */
static bool fail_this(void)
{
	long n;

	if (!active)
		return false;
	n = __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED);
	max_into(is_child ? &tally->child : &tally->parent, n);
	if (n != fail_at || !(fail_in & (is_child ? IN_CHILD : IN_PARENT)))
		return false;
	__atomic_add_fetch(&tally->failed, 1, __ATOMIC_RELAXED);
	errno = ENOMEM;
	return true;
}

void *malloc(size_t n)
{
	return fail_this() ? NULL : __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	return fail_this() ? NULL : __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	return fail_this() ? NULL : __libc_realloc(p, n);
}

void *reallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n * size);
}

void *memalign(size_t align, size_t n)
{
	return fail_this() ? NULL : __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	return memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	if (align < sizeof(void *) || (align & (align - 1)) != 0)
		return EINVAL;
	if ((p = memalign(align, n)) == NULL)
		return ENOMEM;
	*out = p;
	return 0;
}

void *valloc(size_t n)
{
	return memalign((size_t)sysconf(_SC_PAGESIZE), n);
}

static void forked(void)
{
	is_child = true;
	count = 0;
}

/* At the parent's exit: the report (no allocation here). */
static void report(void)
{
	const char *path = getenv("CDA_ALLOC_REPORT");
	char buf[128];
	int fd, len;

	if (!active || is_child)
		return;
	active = false;
	if (path == NULL || (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return;
	len = snprintf(buf, sizeof(buf), "parent %ld\nchild %ld\nfailed %ld\n", tally->parent,
		       tally->child, tally->failed);
	if (len > 0 && write(fd, buf, (size_t)len) != len)
		len = -1;
	close(fd);
}

static void start(void)
{
	const char *at = getenv("CDA_FAIL_ALLOC_AT"), *in = getenv("CDA_FAIL_ALLOC_IN");
	void *page = mmap(NULL, sizeof(*tally), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (page == MAP_FAILED) {
		perror("allocfail: mmap");
		abort();
	}
	tally = page;
	fail_at = at != NULL ? strtol(at, NULL, 10) : 0;
	if (in != NULL && strcmp(in, "parent") == 0)
		fail_in = IN_PARENT;
	else if (in != NULL && strcmp(in, "child") == 0)
		fail_in = IN_CHILD;
	unsetenv("LD_PRELOAD");
	if (pthread_atfork(NULL, NULL, forked) != 0 || atexit(report) != 0) {
		fputs("allocfail: cannot register its handlers\n", stderr);
		abort();
	}
	active = true;
}

static int wrapped_main(int argc, char **argv, char **envp)
{
	start();
	return real_main(argc, argv, envp);
}

int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void),
		      void (*fini)(void), void (*rtld_fini)(void), void *stack_end)
{
	void *sym = dlsym(RTLD_NEXT, "__libc_start_main");
	start_fn real;

	if (sym == NULL) {
		fputs("allocfail: no __libc_start_main\n", stderr);
		abort();
	}
	memcpy(&real, &sym, sizeof(real));
	real_main = main;
	return real(wrapped_main, argc, argv, init, fini, rtld_fini, stack_end);
}
