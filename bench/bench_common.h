/* SPDX-License-Identifier: MIT */
/*
 * What the benchmark programs share: percentiles of batch timings, the
 * message a pipeline writes and reads back, --peers/--scenarios lists,
 * and the CPUs they pin themselves to.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
 * The flag bufpool's pool between a producer and a consumer (mp_bench's
 * procs; matrix's handoff, pipeline and procs) is made with: from ABI
 * 1.9 its depot rotates (BUFPOOL_F_ROTATE), so that the producer takes
 * back the magazines the consumer gave a round of the depot ago, not the
 * one it gave last, whose buffers the consumer's core has just read
 * (bench/RESULTS.md, "The rotating depot"); from library 1.9.3 it takes
 * each magazine's buffers oldest first ("Oldest first").
 * BENCH_ROTATE=0: one stack.
 */
static inline unsigned int bench_rotate_flag(unsigned int flag)
{
	const char *env = getenv("BENCH_ROTATE");

	return env && *env == '0' ? 0 : flag;
}

/*
 * The CPUs this process may use (its affinity; every online CPU when
 * that cannot be read) into *all, and how many: what bench_pin() picks
 * from, so that a run under taskset or in a cpuset pins inside it.
 */
static inline int bench_cpus(cpu_set_t *all)
{
	long n, i;

	if (sched_getaffinity(0, sizeof(*all), all) || !CPU_COUNT(all)) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		CPU_ZERO(all);
		for (i = 0; i < (n > 0 ? n : 1) && i < CPU_SETSIZE; i++)
			CPU_SET(i, all);
	}
	return CPU_COUNT(all);
}

/* The n-th CPU of *all (modulo their count); 0 when *all is empty. */
static inline int bench_nth_cpu(const cpu_set_t *all, int n)
{
	int cpu, seen = 0, count = CPU_COUNT(all);

	n %= count > 0 ? count : 1;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, all) && seen++ == n)
			return cpu;
	return 0;
}

/* Pins the calling thread to the n-th CPU of *all. */
static inline void bench_pin(const cpu_set_t *all, int n)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(bench_nth_cpu(all, n), &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/*
 * The machine's core-to-core state: one cache line's round trip between
 * the first two CPUs of *all, as a ping-pong of two threads.  On the
 * 2-vCPU machine of bench/RESULTS.md it is about 60 ns at times,
 * 90-110 ns at others and 200-500 ns at others again (the hypervisor
 * moves the vCPUs), and every cell whose threads hand memory to each
 * other moves with it.
 */
struct bench_xc {
	_Atomic uint64_t ping __attribute__((aligned(64)));
	_Atomic uint64_t pong __attribute__((aligned(64)));
	uint64_t trips;
};

/* The second CPU's side: answers every ping. */
static inline void *bench_xc_answer(void *arg)
{
	struct bench_xc *xc = arg;
	uint64_t i;

	for (i = 1; i <= xc->trips; i++) {
		while (atomic_load_explicit(&xc->ping, memory_order_acquire) != i)
			;
		atomic_store_explicit(&xc->pong, i, memory_order_release);
	}
	return NULL;
}

/*
 * ns per round trip over trips round trips, the calling thread on the
 * first CPU of *all meanwhile (its affinity given back after); 0 with
 * fewer than two CPUs, or when no thread could be made on the second.
 */
static inline double bench_xcore_rt(const cpu_set_t *all, uint64_t trips)
{
	static struct bench_xc xc;
	cpu_set_t mine, first, second;
	pthread_attr_t attr;
	pthread_t t;
	uint64_t i, t0, t1;
	int ok;

	if (CPU_COUNT(all) < 2 || !trips)
		return 0;
	if (sched_getaffinity(0, sizeof(mine), &mine))
		mine = *all;
	atomic_store(&xc.ping, 0);
	atomic_store(&xc.pong, 0);
	xc.trips = trips;
	/*
	 * This thread on the first CPU, the other born on the second, or
	 * no measurement: never both on one CPU.
	 */
	CPU_ZERO(&first);
	CPU_SET(bench_nth_cpu(all, 0), &first);
	CPU_ZERO(&second);
	CPU_SET(bench_nth_cpu(all, 1), &second);
	if (sched_setaffinity(0, sizeof(first), &first))
		return 0;
	ok = !pthread_attr_init(&attr);
	if (ok) {
		ok = !pthread_attr_setaffinity_np(&attr, sizeof(second),
						  &second) &&
		     !pthread_create(&t, &attr, bench_xc_answer, &xc);
		pthread_attr_destroy(&attr);
	}
	if (!ok) {
		sched_setaffinity(0, sizeof(mine), &mine);
		return 0;
	}
	/* The first trip waits for the thread to start: not timed. */
	atomic_store_explicit(&xc.ping, 1, memory_order_release);
	while (atomic_load_explicit(&xc.pong, memory_order_acquire) != 1)
		;
	t0 = now_ns();
	for (i = 2; i <= trips; i++) {
		atomic_store_explicit(&xc.ping, i, memory_order_release);
		while (atomic_load_explicit(&xc.pong, memory_order_acquire) != i)
			;
	}
	t1 = now_ns();
	pthread_join(t, NULL);
	sched_setaffinity(0, sizeof(mine), &mine);
	return trips > 1 ? (double)(t1 - t0) / (double)(trips - 1) : 0;
}

/*
 * The number in environment variable name (seconds, ns): one from 0 to
 * 1e9; def when it is unset, and def with a word on stderr when it is
 * set to anything else.
 */
static inline double bench_env_num(const char *name, double def)
{
	const char *env = getenv(name);
	char *end;
	double v;

	if (!env || !*env)
		return def;
	v = strtod(env, &end);
	if (*end || !(v >= 0 && v <= 1e9)) {
		fprintf(stderr, "# %s=%s: not a number from 0 to 1e9, ignored\n",
			name, env);
		return def;
	}
	return v;
}

/*
 * Before a cell whose threads hand memory across cores: waits, up to
 * cap seconds (and 120 s over the whole process), until the round trip
 * is within twice the fastest this process has seen, so that every
 * peer's cell starts in the machine's fast state when it has one, and
 * says on stderr what it found ("# xcore: ...", collected by
 * bench/run.sh into build/bench/xcore.txt).  BENCH_XCORE_WAIT=S sets the
 * cap (0: measure and say, never wait); BENCH_XCORE_FASTEST=NS what the
 * programs before this one saw (bench/run.sh passes it on), so that one
 * started in the slow state knows the fast one.
 */
static inline void bench_xcore_gate(const cpu_set_t *all, const char *what,
				    double cap)
{
	static double fastest, waited_all;
	static int env_read;
	static double env_cap;
	uint64_t t0 = now_ns();
	double rt, waited = 0;
	struct timespec ts = { 0, 20000000 };	/* 20 ms between tries */

	if (!env_read) {
		env_read = 1;
		env_cap = bench_env_num("BENCH_XCORE_WAIT", -1);
		fastest = bench_env_num("BENCH_XCORE_FASTEST", 0);
	}
	if (env_cap >= 0)
		cap = env_cap;
	for (;;) {
		rt = bench_xcore_rt(all, 2000);
		if (rt <= 0)
			return;
		if (!fastest || rt < fastest)
			fastest = rt;
		waited = (double)(now_ns() - t0) / 1e9;
		if (rt <= 2 * fastest || waited >= cap ||
		    waited_all + waited >= 120)
			break;
		nanosleep(&ts, NULL);
	}
	waited_all += waited;
	fprintf(stderr, "# xcore: %s: %.0f ns round trip (fastest seen %.0f)%s, waited %.2f s\n",
		what, rt, fastest, rt <= 2 * fastest ? "" : ", slow",
		waited);
}

#endif /* BENCH_COMMON_H */
