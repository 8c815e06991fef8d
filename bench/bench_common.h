/* SPDX-License-Identifier: MIT */
/*
 * What the benchmark programs share: percentiles of batch timings, and
 * the message a pipeline writes and reads back.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

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

#endif /* BENCH_COMMON_H */
