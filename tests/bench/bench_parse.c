// SPDX-License-Identifier: MIT
/*
 * bench_parse: time cdnallow's own parse + aggregate path on one text list, the work a sync
 * does between the download and the diff: parse_list (FMT_TEXT), ranges_normalize,
 * ranges_to_cidrs.
 *
 *   bench_parse [-r REPEAT] [-o OUT] FILE
 *
 * Prints to stderr one line "lines=N entries=N ranges4=N ranges6=N cidrs=N read=S parse=S
 * normalize=S cidrs=S total=S" (seconds, best of REPEAT runs, default 1; "total" excludes
 * reading the file). With -o, writes the minimal CIDR cover, one prefix a line (to compare
 * with iprange --optimize). Exit 0 on success, 1 when the list is rejected.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "cda_error.h"
#include "parse.h"
#include "ranges.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	long sz;

	if (fp == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (sz = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)sz + 1);
		if (buf != NULL && fread(buf, 1, (size_t)sz, fp) != (size_t)sz) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)sz;
	}
	fclose(fp);
	return buf;
}

static size_t count_lines(const char *b, size_t len)
{
	size_t n = 0;

	for (const char *p = b; (p = memchr(p, '\n', len - (size_t)(p - b))) != NULL; p++)
		n++;
	return n + (len > 0 && b[len - 1] != '\n');
}

int main(int argc, char **argv)
{
	struct parse_opts po = {.format = FMT_TEXT};
	double t_read, best[3] = {1e9, 1e9, 1e9};
	const char *out = NULL;
	struct cidr_list cl = {0};
	struct parse_info info = {0};
	struct ranges *r = NULL;
	unsigned long repeat = 1;
	size_t len = 0, r4 = 0, r6 = 0;
	char *buf, line[CIDR_STRLEN + 1];
	int opt;

	while ((opt = getopt(argc, argv, "r:o:")) != -1) {
		switch (opt) {
		case 'r':
			repeat = strtoul(optarg, NULL, 10);
			if (repeat == 0)
				repeat = 1;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			fprintf(stderr, "usage: bench_parse [-r REPEAT] [-o OUT] FILE\n");
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: bench_parse [-r REPEAT] [-o OUT] FILE\n");
		return 2;
	}
	t_read = now();
	buf = slurp(argv[optind], &len);
	if (buf == NULL) {
		fprintf(stderr, "bench_parse: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	t_read = now() - t_read;
	for (unsigned long i = 0; i < repeat; i++) {
		struct cda_error err = {0};
		double t0, t1, t2, t3;
		char ebuf[600];

		cidr_list_finish(&cl);
		ranges_free(r);
		memset(&info, 0, sizeof(info));
		r = ranges_new();
		if (r == NULL)
			return 1;
		t0 = now();
		if (parse_list(buf, len, &po, r, &info, &err) < 0) {
			fprintf(stderr, "bench_parse: %s\n", cda_error_str(&err, ebuf, sizeof(ebuf)));
			return 1;
		}
		t1 = now();
		ranges_normalize(r);
		t2 = now();
		if (ranges_to_cidrs(r, &cl) < 0) {
			fprintf(stderr, "bench_parse: out of memory\n");
			return 1;
		}
		t3 = now();
		if (t1 - t0 + t2 - t1 + t3 - t2 < best[0] + best[1] + best[2]) {
			best[0] = t1 - t0;
			best[1] = t2 - t1;
			best[2] = t3 - t2;
		}
	}
	r4 = ranges_count4(r);
	r6 = ranges_count6(r);
	fprintf(stderr,
		"lines=%zu entries=%zu ranges4=%zu ranges6=%zu cidrs=%zu read=%.6f parse=%.6f "
		"normalize=%.6f cidrs=%.6f total=%.6f\n",
		count_lines(buf, len), info.entries, r4, r6, cl.n, t_read, best[0], best[1],
		best[2], best[0] + best[1] + best[2]);
	if (out != NULL) {
		FILE *fp = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");

		if (fp == NULL) {
			fprintf(stderr, "bench_parse: %s: %s\n", out, strerror(errno));
			return 1;
		}
		for (size_t i = 0; i < cl.n; i++) {
			fputs(cidr_format(&cl.v[i], line), fp);
			fputc('\n', fp);
		}
		if (fp != stdout && fclose(fp) != 0)
			return 1;
	}
	cidr_list_finish(&cl);
	ranges_free(r);
	free(buf);
	return 0;
}
