// SPDX-License-Identifier: MIT
/*
 * freelist_bench: cost of one acquire+release pair on the shared free
 * list alone (no per-thread cache), over ordinary memory, with 1..T
 * threads hammering one list.  This is the slow path that per-thread
 * magazines will put behind a cache; it needs no module.
 *
 * usage: freelist_bench [threads-max] [pairs-per-thread]
 * Prints ns per pair, median and worst of 5 runs, per thread count.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <bufpool/magazine.h>
#include <bufpool/stats.h>

#define NBUFS	4096
#define RUNS	5

static struct {
	__u64 head __attribute__((aligned(64)));
	__u32 next[NBUFS] __attribute__((aligned(64)));
} fl;

static long pairs_per_thread = 2000000;
static pthread_barrier_t start;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
	long i;
	__u32 idx;

	(void)arg;
	pthread_barrier_wait(&start);
	for (i = 0; i < pairs_per_thread; i++) {
		idx = bp_fl_pop(&fl.head, fl.next, NBUFS);
		if (idx >= NBUFS)
			abort();	/* cannot happen: NBUFS > threads */
		bp_fl_push(&fl.head, fl.next, idx);
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int tmax = argc > 1 ? atoi(argv[1]) : 2;
	pthread_t t[64];
	double ns[RUNS], t0;
	int n, r, i;

	if (argc > 2)
		pairs_per_thread = atol(argv[2]);
	if (tmax < 1 || tmax > 64 || pairs_per_thread < 1) {
		fprintf(stderr, "usage: %s [threads 1..64] [pairs-per-thread]\n", argv[0]);
		return 2;
	}
	printf("# shared free list only (no cache): ns per acquire+release pair\n");
	printf("%-8s %10s %10s %12s\n", "threads", "median", "worst", "Mpairs/s");
	for (n = 1; n <= tmax; n *= 2) {
		for (r = 0; r < RUNS; r++) {
			bp_fl_init(&fl.head, fl.next, NBUFS);
			pthread_barrier_init(&start, NULL, (unsigned int)n + 1);
			for (i = 0; i < n; i++)
				pthread_create(&t[i], NULL, worker, NULL);
			pthread_barrier_wait(&start);
			t0 = now();
			for (i = 0; i < n; i++)
				pthread_join(t[i], NULL);
			/* Wall time per pair across all threads. */
			ns[r] = (now() - t0) * 1e9 / (pairs_per_thread * (double)n);
			pthread_barrier_destroy(&start);
		}
		qsort(ns, RUNS, sizeof(ns[0]), cmp);
		printf("%-8d %10.2f %10.2f %12.1f\n", n, ns[RUNS / 2], ns[RUNS - 1],
		       1e3 / ns[RUNS / 2]);
	}
	return 0;
}
