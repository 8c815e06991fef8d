/* SPDX-License-Identifier: MIT */
/*
 * What the benchmark programs share: percentiles of batch timings, the
 * message a pipeline writes and reads back, and --peers/--scenarios
 * lists.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* CLOCK_MONOTONIC in ns. */
static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* qsort's order for doubles. */
static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The p-th fraction of v[0..n) sorted, 0 for none. */
static inline double pct(const double *v, long n, double p)
{
	long i = (long)(n * p);

	return n ? v[i < n ? i : n - 1] : 0;
}

/* Write a message into buf: its header, or all of it. */
static inline void fill(void *buf, size_t len, uint64_t seq)
{
	uint64_t *w = buf;
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = seq + i;
}

/* Read it back; returns a checksum so the reads are not optimised out. */
static inline uint64_t drain_msg(const void *buf, size_t len)
{
	const uint64_t *w = buf;
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < len / 8; i++)
		sum += w[i];
	return sum;
}

/* Whether name is one of the comma-separated list (NULL: all are). */
static inline int listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	if (!list)
		return 1;
	while ((p = strstr(p, name))) {
		if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return 1;
		p += n;
	}
	return 0;
}

#endif /* BENCH_COMMON_H */
