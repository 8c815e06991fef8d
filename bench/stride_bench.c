// SPDX-License-Identifier: MIT
/*
 * stride_bench: what a power-of-two buffer stride costs a burst (issue
 * 18).  A packet-processing thread takes a burst of B buffers and writes
 * the first bytes of each (a header); bufpool lays its buffers out at a
 * stride of exactly their size, 2^k, so the first line of every buffer
 * of 2 KiB or more falls in the same few cache sets, and a burst evicts
 * itself.  DPDK's mempool puts a header before each object and pads the
 * stride to an odd number of lines (unless MEMPOOL_F_NO_SPREAD), which
 * spreads them over every set.
 *
 * Here: B buffers of S bytes at stride S (bufpool's layout) and at
 * stride S + 64 (one line more: a spread layout), in one mapping of
 * 2 MiB pages (hugetlb, else THP, else 4 KiB pages: printed), a byte
 * written at the start of each, round after round; ns per write, the
 * best of RUNS.  The same number of distinct lines is touched in both
 * layouts: only their placement differs.
 *
 * usage: stride_bench [rounds]      (default 20000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define RUNS	5
#define LINE	64
#define HUGE	(2UL << 20)
#define MAXB	256

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* len bytes in 2 MiB pages if the system gives them; *how says which. */
static char *map(size_t len, const char **how)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);

	*how = "hugetlb";
	if (p != MAP_FAILED)
		return p;
	p = mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	p = (char *)(((uintptr_t)p + HUGE - 1) & ~(HUGE - 1));
	*how = madvise(p, len, MADV_HUGEPAGE) ? "4k" : "thp";
	return p;
}

static double touch(char **o, int b, long rounds)
{
	double best = 1e30, t0, t;
	long r;
	int run, i;

	for (run = 0; run < RUNS; run++) {
		t0 = now();
		for (r = 0; r < rounds; r++)
			for (i = 0; i < b; i++)
				*(volatile char *)o[i] = (char)r;
		t = (now() - t0) / ((double)rounds * b);
		if (t < best)
			best = t;
	}
	return best;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 64, 2048, 65536 };
	static const int bursts[] = { 32, 256 };
	long rounds = argc > 1 ? atol(argv[1]) : 20000;
	char *o[MAXB];
	const char *how;
	size_t si, len, stride, k;
	double packed, spread;
	int bi, i;
	char *p;

	if (rounds <= 0) {
		fprintf(stderr, "usage: stride_bench [rounds > 0]\n");
		return 2;
	}
	printf("# stride_bench: ns per write to the first byte of each buffer of a burst\n");
	printf("size,burst,pages,stride_2k_ns,stride_plus_line_ns,ratio\n");
	for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		len = (sizes[si] + LINE) * MAXB;
		len = (len + HUGE - 1) & ~(HUGE - 1);
		p = map(len, &how);
		if (!p) {
			perror("mmap");
			return 1;
		}
		for (k = 0; k < len; k += 4096)
			p[k] = 1;
		for (bi = 0; bi < 2; bi++) {
			stride = sizes[si];
			for (i = 0; i < bursts[bi]; i++)
				o[i] = p + (size_t)i * stride;
			packed = touch(o, bursts[bi], rounds);
			stride = sizes[si] + LINE;
			for (i = 0; i < bursts[bi]; i++)
				o[i] = p + (size_t)i * stride;
			spread = touch(o, bursts[bi], rounds);
			printf("%zu,%d,%s,%.2f,%.2f,%.1f\n", sizes[si],
			       bursts[bi], how, packed, spread, packed / spread);
		}
		munmap(p, len);
	}
	return 0;
}
