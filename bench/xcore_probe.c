// SPDX-License-Identifier: MIT
/*
 * xcore_probe: the time one cache line takes to go from the first CPU
 * this process may use to the second and back (a ping-pong of two
 * threads, each pinned as bench/matrix pins a cell's two threads), so
 * that a benchmark run can say in which state the machine's cross-core
 * transfers were.  On the 2-vCPU machine of bench/RESULTS.md the
 * round trip is about 100 ns at times and 200-250 ns at others (the
 * hypervisor moves the vCPUs), and every cell whose threads hand
 * memory to each other (handoff, pipeline, queue, procs) moves with it.
 *
 * Prints one line: "xcore_probe: P50 ns round trip (min MIN, max MAX
 * over R samples of N)", or says why it cannot (one CPU).
 *
 * usage: xcore_probe [samples]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_common.h"

#define TRIPS	5000		/* round trips per sample */
#define MAX_SAMPLES	99

struct line {
	_Atomic uint64_t v __attribute__((aligned(64)));
};

static struct line ping, pong;
static cpu_set_t all;
static int samples = 9;

/* The second thread: answer every ping, samples * TRIPS of them. */
static void *answer(void *arg)
{
	uint64_t i, n = (uint64_t)samples * TRIPS;

	(void)arg;
	bench_pin(&all, 1);
	for (i = 1; i <= n; i++) {
		while (atomic_load_explicit(&ping.v, memory_order_acquire) != i)
			;
		atomic_store_explicit(&pong.v, i, memory_order_release);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double ns[MAX_SAMPLES];
	uint64_t i = 0;
	pthread_t t;
	int s;

	if (argc > 1) {
		char *end;
		long v = strtol(argv[1], &end, 10);

		if (*end || v < 1 || v > MAX_SAMPLES) {
			fprintf(stderr, "usage: %s [samples: 1..%d]\n",
				argv[0], MAX_SAMPLES);
			return 2;
		}
		samples = (int)v;
	}
	if (bench_cpus(&all) < 2) {
		printf("xcore_probe: one CPU, nothing to measure\n");
		return 0;
	}
	bench_pin(&all, 0);
	if (pthread_create(&t, NULL, answer, NULL)) {
		perror("xcore_probe: pthread_create");
		return 1;
	}
	for (s = 0; s < samples; s++) {
		uint64_t t0 = now_ns(), end = i + TRIPS;

		while (i < end) {
			i++;
			atomic_store_explicit(&ping.v, i, memory_order_release);
			while (atomic_load_explicit(&pong.v,
						    memory_order_acquire) != i)
				;
		}
		ns[s] = (double)(now_ns() - t0) / TRIPS;
	}
	pthread_join(t, NULL);
	qsort(ns, (size_t)samples, sizeof(ns[0]), cmp_double);
	printf("xcore_probe: %.0f ns round trip (min %.0f, max %.0f over %d samples of %d)\n",
	       pct(ns, samples, 0.5), ns[0], ns[samples - 1], samples, TRIPS);
	return 0;
}
