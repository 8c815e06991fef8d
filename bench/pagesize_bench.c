// SPDX-License-Identifier: MIT
/*
 * pagesize_bench: what 2 MiB pages buy a pool.  Random 64-byte accesses
 * over a large region, mapped once with 2 MiB pages (hugetlbfs, or THP
 * when no hugetlb pages are reserved) and once with 4 KiB pages, the
 * same access sequence on both.
 *
 * Each access is a dependent load: the cache line holds the address of
 * the next, along one random cycle through every line, so the processor
 * cannot overlap them and each pays its full cost (cache miss plus, with
 * 4 KiB pages, a page walk that misses the TLB).
 *
 * usage: pagesize_bench [MiB] [accesses]     (default 1024, 20000000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define LINE	64
#define RUNS	3

struct line {
	struct line *next;
	char pad[LINE - sizeof(struct line *)];
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* xorshift64*: a fixed sequence, the same for both page sizes. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* Link every line into one random cycle (Sattolo's shuffle). */
static void build_cycle(struct line *l, size_t n, uint32_t *perm)
{
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	size_t i, j;
	uint32_t t;

	for (i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	for (i = n - 1; i > 0; i--) {
		j = rnd(&seed) % i;
		t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (i = 0; i < n; i++)
		l[perm[i]].next = &l[perm[(i + 1) % n]];
}

static double chase(struct line *start, long accesses)
{
	struct line *p = start;
	double t0 = now();
	long i;

	for (i = 0; i < accesses; i++)
		p = p->next;
	/* Keep the chain live. */
	if (p == NULL)
		puts("");
	return (now() - t0) * 1e9 / accesses;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median_ns(struct line *l, long accesses)
{
	double ns[RUNS];
	int r;

	for (r = 0; r < RUNS; r++)
		ns[r] = chase(l, accesses);
	qsort(ns, RUNS, sizeof(ns[0]), cmp);
	return ns[RUNS / 2];
}

/* The page size smaps reports for the mapping at p, in KiB. */
static long kernel_page_kib(void *p)
{
	char line[256], want[32];
	long kib = -1, thp = 0;
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)p);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, want, strlen(want)))
			in = 1;
		else if (in && !strncmp(line, "KernelPageSize:", 15))
			kib = strtol(line + 15, NULL, 10);
		else if (in && !strncmp(line, "AnonHugePages:", 14))
			thp = strtol(line + 14, NULL, 10);
		else if (in && !strncmp(line, "VmFlags:", 8))
			break;
	}
	fclose(f);
	return thp > 0 ? 2048 : kib;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 1024;
	long accesses = argc > 2 ? atol(argv[2]) : 20000000;
	size_t len = mib << 20, n = len / LINE;
	const char *huge_how = "hugetlbfs";
	struct line *big, *small;
	double ns_big, ns_small;
	uint32_t *perm;

	if (mib < 2 || accesses < 1) {
		fprintf(stderr, "usage: %s [MiB >= 2] [accesses]\n", argv[0]);
		return 2;
	}
	big = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	if (big == MAP_FAILED) {
		/* No hugetlb pages reserved: transparent huge pages instead. */
		huge_how = "THP (no hugetlb pages reserved)";
		big = mmap(NULL, len + (2UL << 20), PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (big == MAP_FAILED)
			return perror("mmap"), 1;
		big = (struct line *)(((uintptr_t)big + (2UL << 20) - 1) &
				      ~((2UL << 20) - 1));
		madvise(big, len, MADV_HUGEPAGE);
	}
	small = mmap(NULL, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	perm = malloc(n * sizeof(*perm));
	if (!perm || small == MAP_FAILED)
		return perror("alloc"), 1;
	madvise(small, len, MADV_NOHUGEPAGE);

	build_cycle(big, n, perm);
	build_cycle(small, n, perm);
	free(perm);

	printf("# %zu MiB, %ld dependent random 64 B loads, median of %d\n",
	       mib, accesses, RUNS);
	printf("# 2 MiB pages from %s; page size seen in smaps: %ld KiB and %ld KiB\n",
	       huge_how, kernel_page_kib(big), kernel_page_kib(small));
	ns_big = median_ns(big, accesses);
	ns_small = median_ns(small, accesses);
	printf("%-10s %12s\n", "pages", "ns/access");
	printf("%-10s %12.1f\n", "2 MiB", ns_big);
	printf("%-10s %12.1f\n", "4 KiB", ns_small);
	printf("4 KiB / 2 MiB = %.2fx\n", ns_small / ns_big);
	return 0;
}
