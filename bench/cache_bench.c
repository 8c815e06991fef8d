// SPDX-License-Identifier: MIT
/*
 * cache_bench: acquire+release pairs, bufpool against DPDK's mempool,
 * measured in one run on the same machine.
 *
 *   bufpool          libbufpool-user, per-thread caches (memfd backend)
 *   bufpool-nocache  the same pool, caches off: the shared lists alone
 *   dpdk-c256        rte_mempool, 256-object cache, ring_mp_mc
 *   dpdk-c256-lfs    rte_mempool, 256-object cache, lf_stack
 *   dpdk-c0          rte_mempool, no cache, ring_mp_mc
 *
 * 4096 objects of 2048 bytes in every pool.  Each thread times batches
 * of pairs with CLOCK_MONOTONIC (the clock read costs little against a
 * batch); the figures are ns per pair: median and p99.9 over batches,
 * and the worst batch.  Threads 1 and 2 are pinned one per core; 8
 * threads share the 2 cores (oversubscribed: threads are preempted in
 * the middle of operations) and run for a fixed time.
 *
 * usage: cache_bench [--quick]
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bufpool.h>

#ifdef HAVE_DPDK
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#endif

#define NOBJ		4096
#define OBJ_SIZE	2048
#define MAX_THREADS	8

static int quick;

struct peer {
	const char *name;
	void *ctx;
	/* n pairs through the peer's own API, called directly; failures */
	long (*pairs)(void *ctx, int n);
	void (*thread_init)(void *ctx);
	void (*thread_exit)(void *ctx);
};

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/*
 * Each pair takes an object, writes a byte of it (as a user would) and
 * gives it back.
 */
/* ---- bufpool ------------------------------------------------------ */
static long bp_pairs(void *ctx, int n)
{
	struct bufpool *pool = ctx;
	long failed = 0;
	char *obj;
	int i;

	for (i = 0; i < n; i++) {
		obj = bufpool_acquire(pool);
		if (!obj) {
			failed++;
			continue;
		}
		*(volatile char *)obj = (char)i;
		bufpool_release(pool, obj);
	}
	return failed;
}

static void bp_thread_exit(void *ctx)
{
	bufpool_flush_cache(ctx);
}

/* ---- DPDK --------------------------------------------------------- */
#ifdef HAVE_DPDK
static long dp_pairs(void *ctx, int n)
{
	struct rte_mempool *mp = ctx;
	long failed = 0;
	void *obj;
	int i;

	for (i = 0; i < n; i++) {
		if (rte_mempool_get(mp, &obj)) {
			failed++;
			continue;
		}
		*(volatile char *)obj = (char)i;
		rte_mempool_put(mp, obj);
	}
	return failed;
}

static void dp_thread_init(void *ctx)
{
	(void)ctx;
	/* A non-EAL thread has no lcore id, hence no mempool cache. */
	if (rte_lcore_id() == LCORE_ID_ANY)
		rte_thread_register();
}

static void dp_thread_exit(void *ctx)
{
	rte_mempool_cache_flush(rte_mempool_default_cache(ctx, rte_lcore_id()),
				ctx);
	rte_thread_unregister();
}

static struct rte_mempool *dp_pool(const char *name, unsigned int cache,
				   const char *ops)
{
	struct rte_mempool *mp;

	mp = rte_mempool_create_empty(name, NOBJ, OBJ_SIZE, cache, 0,
				      SOCKET_ID_ANY, 0);
	if (!mp)
		return NULL;
	if (rte_mempool_set_ops_byname(mp, ops, NULL) ||
	    rte_mempool_populate_default(mp) < 0) {
		rte_mempool_free(mp);
		return NULL;
	}
	return mp;
}
#endif

/* ---- the run ------------------------------------------------------ */
struct run {
	const struct peer *p;
	int threads;
	int pin;
	long batches;		/* per thread, when not timed */
	uint64_t deadline;	/* 0: run all batches */
	int batch;
	pthread_barrier_t start;
};

struct thread_result {
	double *ns;		/* ns per pair, per batch */
	long n;
	long pairs;
	int failed;
	uint64_t t_start, t_end;
};

struct targ {
	struct run *run;
	int id;
	struct thread_result r;
};

static void *bench_thread(void *arg)
{
	struct targ *t = arg;
	struct run *run = t->run;
	const struct peer *p = run->p;
	long b;

	if (run->pin) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(t->id % 2, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	if (p->thread_init)
		p->thread_init(p->ctx);
	/* Warm up: first use binds the thread's cache. */
	p->pairs(p->ctx, 1000);
	pthread_barrier_wait(&run->start);
	t->r.t_start = now_ns();
	for (b = 0; b < run->batches; b++) {
		uint64_t t0 = now_ns();

		t->r.failed += p->pairs(p->ctx, run->batch);
		t->r.ns[t->r.n++] = (double)(now_ns() - t0) / run->batch;
		t->r.pairs += run->batch;
		if (run->deadline && now_ns() > run->deadline)
			break;
	}
	t->r.t_end = now_ns();
	if (p->thread_exit)
		p->thread_exit(p->ctx);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct summary {
	double p50, p999, max, mops;
	int failed;
};

static struct summary run_peer(const struct peer *p, int threads, long batches,
			       int batch, double secs)
{
	struct targ t[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	struct summary s = { 0 };
	struct run run = {
		.p = p, .threads = threads, .pin = threads <= 2,
		.batches = batches, .batch = batch,
	};
	double *all;
	long n = 0, pairs = 0;
	uint64_t t0, first = UINT64_MAX, last = 0;
	int i;

	pthread_barrier_init(&run.start, NULL, threads + 1);
	for (i = 0; i < threads; i++) {
		t[i] = (struct targ){ .run = &run, .id = i };
		t[i].r.ns = calloc(batches, sizeof(double));
		pthread_create(&tid[i], NULL, bench_thread, &t[i]);
	}
	t0 = now_ns();
	if (secs > 0)
		run.deadline = t0 + (uint64_t)(secs * 1e9);
	pthread_barrier_wait(&run.start);
	t0 = now_ns();
	if (secs > 0)
		run.deadline = t0 + (uint64_t)(secs * 1e9);
	for (i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	all = calloc(batches * threads, sizeof(double));
	for (i = 0; i < threads; i++) {
		/* The workers' clocks: pinned, they may keep main off the CPUs. */
		if (t[i].r.t_start < first)
			first = t[i].r.t_start;
		if (t[i].r.t_end > last)
			last = t[i].r.t_end;
		memcpy(all + n, t[i].r.ns, t[i].r.n * sizeof(double));
		n += t[i].r.n;
		pairs += t[i].r.pairs;
		s.failed += t[i].r.failed;
		free(t[i].r.ns);
	}
	qsort(all, n, sizeof(double), cmp);
	s.p50 = n ? all[n / 2] : 0;
	s.p999 = n ? all[(long)(n * 0.999)] : 0;
	s.max = n ? all[n - 1] : 0;
	s.mops = pairs / ((last - first) / 1e3);
	free(all);
	pthread_barrier_destroy(&run.start);
	return s;
}

int main(int argc, char **argv)
{
	struct bufpool_params bp_params = {
		.buf_size = OBJ_SIZE, .buf_count = NOBJ, .caches = 16,
	};
	struct bufpool_params bp_nocache = {
		.buf_size = OBJ_SIZE, .buf_count = NOBJ,
		.flags = BUFPOOL_F_NO_CACHE,
	};
	struct peer peers[8];
	struct bufpool_info info;
	struct bufpool *bp, *bp0;
	int np = 0, i, threads[] = { 1, 2, 8 }, ti;

	quick = argc > 1 && !strcmp(argv[1], "--quick");
	bp = bufpool_create(&bp_params);
	bp0 = bufpool_create(&bp_nocache);
	if (!bp || !bp0) {
		perror("bufpool_create");
		return 1;
	}
	bufpool_get_info(bp, &info);
	peers[np++] = (struct peer){ "bufpool", bp, bp_pairs, NULL,
				     bp_thread_exit };
	peers[np++] = (struct peer){ "bufpool-nocache", bp0, bp_pairs,
				     NULL, NULL };
#ifdef HAVE_DPDK
	{
		char *eal[] = { argv[0], "--no-huge", "--no-pci", "-m", "256",
				"--no-shconf", "--log-level=3", "-l", "0" };
		struct rte_mempool *c256, *lfs, *c0;

		if (rte_eal_init(sizeof(eal) / sizeof(eal[0]), eal) < 0) {
			fprintf(stderr, "rte_eal_init failed\n");
			return 1;
		}
		c256 = dp_pool("c256", 256, "ring_mp_mc");
		lfs = dp_pool("lfs", 256, "lf_stack");
		c0 = dp_pool("c0", 0, "ring_mp_mc");
		if (!c256 || !lfs || !c0) {
			fprintf(stderr, "rte_mempool_create failed\n");
			return 1;
		}
		peers[np++] = (struct peer){ "dpdk-c256", c256, dp_pairs,
					     dp_thread_init, dp_thread_exit };
		peers[np++] = (struct peer){ "dpdk-c256-lfs", lfs, dp_pairs,
					     dp_thread_init, dp_thread_exit };
		peers[np++] = (struct peer){ "dpdk-c0", c0, dp_pairs,
					     dp_thread_init, dp_thread_exit };
	}
#else
	printf("# DPDK: not built in (install libdpdk-dev and rebuild)\n");
#endif

	printf("# %d objects of %d B; bufpool %s, %u cache slots, magazines of %u\n",
	       NOBJ, OBJ_SIZE, info.flags & BUFPOOL_INFO_F_HUGETLB ?
	       "memfd in hugetlb pages" : "memfd", info.nr_caches, info.mag_fill);
	printf("# ns per acquire+release pair: p50 and p99.9 over batches of "
	       "1000 (8 threads: 100), worst batch; Mpairs/s over all threads\n");
	printf("%-8s %-16s %9s %9s %11s %9s %9s\n", "threads", "peer", "p50",
	       "p99.9", "max", "Mpairs/s", "vs c256");
	for (ti = 0; ti < 3; ti++) {
		int nt = threads[ti];
		double ref = 0;
		struct summary s[8];

		for (i = 0; i < np; i++) {
			if (nt == 8)
				s[i] = run_peer(&peers[i], nt, quick ? 2000 : 100000,
						100, quick ? 0.2 : 2.0);
			else
				s[i] = run_peer(&peers[i], nt, quick ? 200 : 5000,
						1000, 0);
			if (!strcmp(peers[i].name, "dpdk-c256"))
				ref = s[i].p50;
		}
		for (i = 0; i < np; i++) {
			char ratio[16] = "-";

			if (ref > 0)
				snprintf(ratio, sizeof(ratio), "%.2fx", ref / s[i].p50);
			printf("%-8d %-16s %9.2f %9.2f %11.2f %9.1f %9s%s\n", nt,
			       peers[i].name, s[i].p50, s[i].p999, s[i].max,
			       s[i].mops, ratio, s[i].failed ? " (ENOBUFS seen)" : "");
		}
	}
	bufpool_close(bp);
	bufpool_close(bp0);
	return 0;
}
