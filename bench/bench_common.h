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
#include <stdlib.h>
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

/*
 * The flag a bench's bufpool pool is made with for buffers of size bytes:
 * from 1 KiB up, spread (ABI 1.8, BUFPOOL_F_SPREAD: a cache line between
 * buffers, so that a burst's first lines fall in different sets of the
 * CPU caches, as DPDK spreads its objects by default), at a cost of 3 %
 * of the memory at 2 KiB and 64 KiB; below that the buffers are packed
 * (64 B buffers fill consecutive lines anyway).  BENCH_SPREAD=0 packs
 * them all, BENCH_SPREAD=1 spreads them all.
 */
static inline unsigned int bench_spread_flag(size_t size, unsigned int flag)
{
	const char *env = getenv("BENCH_SPREAD");

	if (env && *env)
		return *env == '1' && size < (2u << 20) ? flag : 0;
	return size >= 1024 ? flag : 0;
}

/*
 * The flag bufpool's pool between a producer process and a consumer
 * process (mp_bench's procs) is made with: from ABI 1.9 its depot
 * rotates (BUFPOOL_F_ROTATE), so that the producer takes back the
 * magazines the consumer gave a round of the depot ago, not the one it
 * gave last, whose buffers the consumer's core has just read
 * (bench/RESULTS.md, "The rotating depot").  BENCH_ROTATE=0: one stack.
 */
static inline unsigned int bench_rotate_flag(unsigned int flag)
{
	const char *env = getenv("BENCH_ROTATE");

	return env && *env == '0' ? 0 : flag;
}

#endif /* BENCH_COMMON_H */
