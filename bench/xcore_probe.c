// SPDX-License-Identifier: MIT
/*
 * xcore_probe: the time one cache line takes to go from the first CPU
 * this process may use to the second and back (a ping-pong of two
 * threads, each pinned as bench/matrix pins a cell's two threads), so
 * that a benchmark run can say in which state the machine's cross-core
 * transfers were.  On the 2-vCPU machine of bench/RESULTS.md the
 * round trip is about 60 ns at times, 90-110 ns at others and 200-500 ns
 * at others again (the hypervisor moves the vCPUs), and every cell whose
 * threads hand memory to each other (handoff, pipeline, queue, procs)
 * moves with it.
 *
 * Prints one line: "xcore_probe: P50 ns round trip (min MIN, max MAX
 * over R samples of N)", or says why it cannot (one CPU).
 *
 * usage: xcore_probe [samples]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>

#include "bench_common.h"

#define TRIPS	5000		/* round trips per sample */
#define MAX_SAMPLES	99

int main(int argc, char **argv)
{
	double ns[MAX_SAMPLES];
	cpu_set_t all;
	int s, samples = 9;

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
	for (s = 0; s < samples; s++) {
		ns[s] = bench_xcore_rt(&all, TRIPS);
		if (ns[s] <= 0) {
			fprintf(stderr, "xcore_probe: no second thread\n");
			return 1;
		}
	}
	qsort(ns, (size_t)samples, sizeof(ns[0]), cmp_double);
	printf("xcore_probe: %.0f ns round trip (min %.0f, max %.0f over %d samples of %d)\n",
	       pct(ns, samples, 0.5), ns[0], ns[samples - 1], samples, TRIPS);
	return 0;
}
