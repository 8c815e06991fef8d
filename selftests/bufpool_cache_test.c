// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool selftests of the fast path: per-thread caches over the depot.
 * They run on whatever bufpool_open(NULL) gives: the module's pool in
 * the VM, a module-free memfd pool on a host without the module.
 *
 * - no system call and no allocation once the pool is open, cache
 *   misses and depot traffic included (seccomp, malloc interposer);
 * - a thread's cache comes back when it exits or flushes;
 * - exhaustion is ENOBUFS at once; idle caches hold at most half a pool;
 * - bulk calls; several threads with per-buffer owner markers;
 * - statistics; a pool shared with another process through its fd.
 *
 * Timed waits are bufpool_wait_test's, debug mode bufpool_debug_test's.
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <bufpool.h>
#include <kselftest_harness.h>

#include "bufpool_pool_helpers.h"
#include "bufpool_selftest.h"

/*
 * ---- allocation counter: this program's malloc family -------------
 * Not under ThreadSanitizer, which intercepts malloc itself.
 */
#ifndef BUFPOOL_NO_MALLOC_COUNTER
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t a, size_t n);

static _Atomic int counting;
static _Atomic long allocations;

static void count(void)
{
	if (atomic_load_explicit(&counting, memory_order_relaxed))
		atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
}

void *malloc(size_t n)
{
	count();
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	count();
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	count();
	return __libc_realloc(p, n);
}

void *memalign(size_t a, size_t n)
{
	count();
	return __libc_memalign(a, n);
}

int posix_memalign(void **p, size_t a, size_t n)
{
	count();
	*p = __libc_memalign(a, n);
	return *p ? 0 : ENOMEM;
}

void *aligned_alloc(size_t a, size_t n)
{
	count();
	return __libc_memalign(a, n);
}

#define HAVE_MALLOC_COUNTER 1
#else
static _Atomic int counting;
static _Atomic long allocations;
#define HAVE_MALLOC_COUNTER 0
#endif

/* ------------------------------------------------------------------ */

FIXTURE(cache) {
	struct bufpool *pool;
	struct bufpool_info info;
	void **held;
};

FIXTURE_SETUP(cache)
{
	ASSERT_EQ(0, bp_pool_open(&self->pool, &self->info, &self->held));
	TH_LOG("%s pool: %u x %u B, %u caches, magazines of %u",
	       self->info.flags & BUFPOOL_INFO_F_MEMFD ? "memfd" : "device",
	       self->info.buf_count, self->info.buf_size,
	       self->info.nr_caches, self->info.mag_fill);
}

FIXTURE_TEARDOWN(cache)
{
	bp_pool_close(self->pool, self->held);
}

/* A round of traffic that misses the cache and crosses the depot. */
static int churn(struct bufpool *pool, void **held, uint32_t burst, int rounds)
{
	void *bulk[BUFPOOL_MAG_CAP];
	unsigned int got;
	uint32_t n, i;
	int r;

	for (r = 0; r < rounds; r++) {
		for (n = 0; n < burst; n++) {
			held[n] = bufpool_acquire(pool);
			if (!held[n])
				return -1;
		}
		for (i = 0; i < n; i++)
			if (bufpool_release(pool, held[i]))
				return -1;
		got = bufpool_acquire_bulk(pool, bulk, BUFPOOL_MAG_CAP);
		if (!got || bufpool_release_bulk(pool, bulk, got))
			return -1;
	}
	return 0;
}

static uint32_t big_burst(const struct bufpool_info *info)
{
	/* Five magazines' worth, and never more than the pool. */
	uint32_t b = 5 * (info->mag_fill ? info->mag_fill : 16);

	return b < info->buf_count / 2 ? b : info->buf_count / 2;
}

TEST_F(cache, no_syscalls_in_steady_state)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	};
	struct sock_fprog prog = {
		.len = sizeof(filter) / sizeof(filter[0]),
		.filter = filter,
	};
	uint32_t burst = big_burst(&self->info);
	int status;
	pid_t pid;

#ifdef __SANITIZE_THREAD__
	SKIP(return, "the TSan runtime makes system calls of its own");
#endif
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* The pool is open (inherited); from here on, no syscall. */
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
			_exit(3);
		if (churn(self->pool, self->held, burst, 2000))
			_exit(1);
		/* What this process cached goes back to the shared pool. */
		bufpool_flush_cache(self->pool);
		_exit(0);	/* exit_group, the one call allowed */
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	if (WIFSIGNALED(status))
		TH_LOG("child killed by signal %d (SIGSYS: it made a system call)",
		       WTERMSIG(status));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
}

static void *churn_thread(void *arg)
{
	FIXTURE_DATA(cache) *self = arg;
	void *held[BUFPOOL_MAG_CAP * 5];
	uint32_t burst = big_burst(&self->info);

	if (burst > BUFPOOL_MAG_CAP * 5)
		burst = BUFPOOL_MAG_CAP * 5;
	return (void *)(intptr_t)churn(self->pool, held, burst, 500);
}

TEST_F(cache, no_allocation_after_open)
{
	uint32_t burst = big_burst(&self->info);
	pthread_t t;
	void *ret;

	if (!HAVE_MALLOC_COUNTER)
		SKIP(return, "no allocation counter in this build");
	atomic_store(&allocations, 0);
	atomic_store(&counting, 1);
	/* This thread's first use, misses, depot traffic and bulk calls. */
	ASSERT_EQ(0, churn(self->pool, self->held, burst, 200));
	atomic_store(&counting, 0);
	EXPECT_EQ(0, atomic_load(&allocations));

	/* A new thread: its first use and its exit allocate nothing either. */
	ASSERT_EQ(0, pthread_create(&t, NULL, churn_thread, self));
	ASSERT_EQ(0, pthread_join(t, &ret));
	EXPECT_EQ(0, (intptr_t)ret);
}

struct parked {
	FIXTURE_DATA(cache) *self;
	pthread_barrier_t *filled, *go;
	int flush;
};

/* Fill both magazines of this thread's cache, then wait. */
static void *fill_then_park(void *arg)
{
	struct parked *p = arg;
	struct bufpool *pool = p->self->pool;
	uint32_t n = 2 * p->self->info.mag_fill, i;
	void *held[2 * BUFPOOL_MAG_CAP];

	for (i = 0; i < n; i++)
		held[i] = bufpool_acquire(pool);
	for (i = 0; i < n; i++)
		if (held[i])
			bufpool_release(pool, held[i]);
	pthread_barrier_wait(p->filled);
	pthread_barrier_wait(p->go);
	if (p->flush)
		bufpool_flush_cache(pool);
	pthread_barrier_wait(p->filled);
	return NULL;
}

/*
 * Idle threads' caches hold at most half the pool: with every cache
 * taken, full and parked, the rest can still be taken.  After the
 * threads flush their caches, all of it can.
 */
TEST_F(cache, idle_caches_hold_at_most_half)
{
	/* Every cache but this thread's own. */
	uint32_t nthreads = self->info.nr_caches - 1 < 64 ?
			    self->info.nr_caches - 1 : 64;
	pthread_barrier_t filled, go;
	struct parked p[64];
	pthread_t t[64];
	uint32_t i, got, cached_max;
	int dup;

	if (!self->info.mag_fill)
		SKIP(return, "this pool has no caches");
	/*
	 * The hard case: the free buffers sit in full magazines in the
	 * depot (everything taken and given back through this thread's
	 * cache), and every other cache is taken by an idle thread.
	 */
	got = bp_take_all(self->pool, self->held, &dup);
	bp_give_back(self->pool, self->held, got);
	bufpool_flush_cache(self->pool);
	ASSERT_EQ(0, pthread_barrier_init(&filled, NULL, nthreads + 1));
	ASSERT_EQ(0, pthread_barrier_init(&go, NULL, nthreads + 1));
	for (i = 0; i < nthreads; i++) {
		p[i] = (struct parked){ self, &filled, &go, 1 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, fill_then_park, &p[i]));
	}
	pthread_barrier_wait(&filled);

	cached_max = nthreads * 2 * self->info.mag_fill;
	got = bp_take_all(self->pool, self->held, &dup);
	TH_LOG("%u threads caching up to %u; took %u of %u", nthreads,
	       cached_max, got, self->info.buf_count);
	EXPECT_FALSE(dup);
	EXPECT_LE(self->info.buf_count - cached_max, got);
	EXPECT_LE(self->info.buf_count / 2, got);
	EXPECT_EQ(ENOBUFS, errno);
	bp_give_back(self->pool, self->held, got);

	pthread_barrier_wait(&go);	/* they flush */
	pthread_barrier_wait(&filled);
	got = bp_take_all(self->pool, self->held, &dup);
	EXPECT_FALSE(dup);
	EXPECT_EQ(self->info.buf_count, got);
	bp_give_back(self->pool, self->held, got);
	for (i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
}

static void *cache_and_exit(void *arg)
{
	FIXTURE_DATA(cache) *self = arg;
	void *held[2 * BUFPOOL_MAG_CAP];
	uint32_t n = 2 * self->info.mag_fill + 1, i;

	for (i = 0; i < n; i++)
		held[i] = bufpool_acquire(self->pool);
	for (i = 0; i < n; i++)
		if (held[i])
			bufpool_release(self->pool, held[i]);
	return NULL;	/* the exit destructor gives the cache back */
}

TEST_F(cache, thread_exit_returns_cache)
{
	pthread_t t[8];
	uint32_t got;
	int i, dup;

	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, cache_and_exit, self));
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, pthread_join(t[i], NULL));
	got = bp_take_all(self->pool, self->held, &dup);
	EXPECT_FALSE(dup);
	EXPECT_EQ(self->info.buf_count, got);
	bp_give_back(self->pool, self->held, got);
}

TEST_F(cache, exhaustion_is_enobufs)
{
	uint32_t got;
	int dup;

	got = bp_take_all(self->pool, self->held, &dup);
	EXPECT_EQ(self->info.buf_count, got);
	errno = 0;
	EXPECT_EQ(NULL, bufpool_acquire(self->pool));
	EXPECT_EQ(ENOBUFS, errno);
	EXPECT_EQ(0, bufpool_acquire_bulk(self->pool, self->held + got, 4));
	EXPECT_EQ(ENOBUFS, errno);
	bp_give_back(self->pool, self->held, got);
}

TEST_F(cache, bulk_calls)
{
	void *bufs[BUFPOOL_MAG_CAP], *bad[3];
	unsigned int got;
	int local;

	got = bufpool_acquire_bulk(self->pool, bufs, BUFPOOL_MAG_CAP);
	EXPECT_EQ(BUFPOOL_MAG_CAP < self->info.buf_count ? BUFPOOL_MAG_CAP :
		  self->info.buf_count, got);
	EXPECT_EQ(0, bufpool_release_bulk(self->pool, bufs, got));
	/* A bad pointer stops the bulk release there: EINVAL. */
	bad[0] = bufpool_acquire(self->pool);
	bad[1] = &local;
	bad[2] = bufpool_acquire(self->pool);
	EXPECT_EQ(-1, bufpool_release_bulk(self->pool, bad, 3));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, bufpool_release(self->pool, bad[2]));
}

/*
 * The bulk calls work on the loaded magazine a run at a time: bursts of
 * several magazines cross refills and spills, each buffer comes once,
 * the statistics count every one, and a pointer given twice in one call
 * is refused the second time with those before it given back.
 */
TEST_F(cache, bulk_across_magazines)
{
	uint32_t n = big_burst(&self->info), i, round;
	struct bufpool_stats a, b;
	unsigned char *seen;
	void *twice[3];
	int64_t idx;

	seen = calloc(self->info.buf_count, 1);
	ASSERT_NE(NULL, seen);
	ASSERT_EQ(0, bufpool_stats(self->pool, &a));
	for (round = 0; round < 50; round++) {
		ASSERT_EQ(n, bufpool_acquire_bulk(self->pool, self->held, n));
		memset(seen, 0, self->info.buf_count);
		for (i = 0; i < n; i++) {
			idx = bufpool_index(self->pool, self->held[i]);
			ASSERT_LE(0, idx);
			ASSERT_EQ(0, seen[idx]);
			seen[idx] = 1;
			*(volatile char *)self->held[i] = (char)i;
		}
		/* Half back in one call, half in runs of seven. */
		ASSERT_EQ(0, bufpool_release_bulk(self->pool, self->held,
						  n / 2));
		for (i = n / 2; i < n; i += 7)
			ASSERT_EQ(0, bufpool_release_bulk(self->pool,
					self->held + i, n - i < 7 ? n - i : 7));
	}
	ASSERT_EQ(0, bufpool_stats(self->pool, &b));
	EXPECT_EQ(50 * (uint64_t)n, b.acquires - a.acquires);
	EXPECT_EQ(50 * (uint64_t)n, b.releases - a.releases);
	EXPECT_EQ(a.in_use, b.in_use);

	/*
	 * With the loaded magazine at every fill level in turn (one more
	 * buffer held each time), so that the repeat meets the magazine
	 * path as well as the single-buffer one.
	 */
	for (i = 0; i < 2 * self->info.mag_fill + 2 && i < n; i++) {
		ASSERT_EQ(2, bufpool_acquire_bulk(self->pool, twice, 2));
		twice[2] = twice[0];
		errno = 0;
		EXPECT_EQ(-1, bufpool_release_bulk(self->pool, twice, 3));
		EXPECT_EQ(EINVAL, errno);
		/* Both were given back: another release of either fails. */
		EXPECT_EQ(-1, bufpool_release(self->pool, twice[0]));
		EXPECT_EQ(-1, bufpool_release(self->pool, twice[1]));
		self->held[i] = bufpool_acquire(self->pool);
		ASSERT_NE(NULL, self->held[i]);
	}
	ASSERT_EQ(0, bufpool_release_bulk(self->pool, self->held, i));
	ASSERT_EQ(0, bufpool_stats(self->pool, &b));
	EXPECT_EQ(a.in_use, b.in_use);
	free(seen);
}

/* Several threads with bursts past their caches; owner markers. */
struct marker_worker {
	struct bufpool *pool;
	uint32_t id, burst;
	long double_held, errors;
};

static void *marker_fn(void *arg)
{
	struct marker_worker *w = arg;
	_Atomic uint32_t *held[5 * BUFPOOL_MAG_CAP];
	uint32_t n, k, expect;
	int it;

	for (it = 0; it < 3000; it++) {
		uint32_t burst = 1 + (it * 7 + w->id) % w->burst;

		for (n = 0; n < burst; n++) {
			held[n] = bufpool_acquire(w->pool);
			if (!held[n])
				break;
			expect = 0;
			if (!atomic_compare_exchange_strong(held[n], &expect, w->id))
				w->double_held++;
		}
		for (k = 0; k < n; k++) {
			expect = w->id;
			if (!atomic_compare_exchange_strong(held[k], &expect, 0))
				w->double_held++;
			if (bufpool_release(w->pool, (void *)held[k]))
				w->errors++;
		}
	}
	return NULL;
}

TEST_F_TIMEOUT(cache, threads_never_share_a_buffer, 240)
{
	struct marker_worker w[4];
	uint32_t got, i, burst = big_burst(&self->info);
	pthread_t t[4];
	int dup;

	if (burst > 5 * BUFPOOL_MAG_CAP)
		burst = 5 * BUFPOOL_MAG_CAP;
	got = bp_take_all(self->pool, self->held, &dup);
	for (i = 0; i < got; i++)
		*(_Atomic uint32_t *)self->held[i] = 0;
	bp_give_back(self->pool, self->held, got);
	for (i = 0; i < 4; i++) {
		w[i] = (struct marker_worker){ self->pool, i + 1, burst, 0, 0 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, marker_fn, &w[i]));
	}
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, pthread_join(t[i], NULL));
		EXPECT_EQ(0, w[i].double_held);
		EXPECT_EQ(0, w[i].errors);
	}
	got = bp_take_all(self->pool, self->held, &dup);
	EXPECT_FALSE(dup);
	EXPECT_EQ(self->info.buf_count, got);
	bp_give_back(self->pool, self->held, got);
}

/* Statistics: exact once the threads are done, whatever they raced. */
struct stats_worker {
	struct bufpool *pool;
	uint32_t burst;
	int rounds;
	long pairs;
};

static void *stats_fn(void *arg)
{
	struct stats_worker *w = arg;
	void *held[5 * BUFPOOL_MAG_CAP];
	uint32_t n;
	int r;

	for (r = 0; r < w->rounds; r++) {
		for (n = 0; n < w->burst; n++) {
			held[n] = bufpool_acquire(w->pool);
			if (!held[n])
				break;
		}
		w->pairs += n;
		while (n--)
			bufpool_release(w->pool, held[n]);
	}
	return NULL;
}

TEST_F(cache, statistics_add_up)
{
	struct stats_worker w[4];
	struct bufpool_stats a, b;
	pthread_t t[4];
	long pairs = 0;
	uint32_t got;
	int i, dup;

	ASSERT_EQ(0, bufpool_stats(self->pool, &a));
	EXPECT_EQ(self->info.buf_count, a.total);
	EXPECT_EQ(a.total, a.free + a.in_use);
	for (i = 0; i < 4; i++) {
		w[i] = (struct stats_worker){ self->pool, 3 + 40 * i, 2000, 0 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, stats_fn, &w[i]));
	}
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, pthread_join(t[i], NULL));
		pairs += w[i].pairs;
	}
	ASSERT_EQ(0, bufpool_stats(self->pool, &b));
	EXPECT_EQ(pairs, (long)(b.acquires - a.acquires));
	EXPECT_EQ(pairs, (long)(b.releases - a.releases));
	EXPECT_EQ(a.in_use, b.in_use);

	/* Empty the pool: in use is all of it, one exhaustion counted. */
	got = bp_take_all(self->pool, self->held, &dup);
	ASSERT_EQ(self->info.buf_count, got);
	EXPECT_EQ(NULL, bufpool_acquire(self->pool));
	ASSERT_EQ(0, bufpool_stats(self->pool, &b));
	EXPECT_EQ(self->info.buf_count, b.in_use);
	EXPECT_EQ(0, b.free);
	EXPECT_EQ(a.exhausted + 1, b.exhausted);
	EXPECT_EQ(self->info.buf_count, b.high_watermark);
	bp_give_back(self->pool, self->held, got);
	ASSERT_EQ(0, bufpool_stats(self->pool, &b));
	EXPECT_EQ(0, b.in_use);
	EXPECT_EQ(self->info.buf_count, b.high_watermark);
	TH_LOG("%ld pairs by 4 threads counted exactly; %llu acquires in all",
	       pairs, (unsigned long long)b.acquires);
}

/*
 * A second process maps the same pool through its fd; a buffer crosses
 * by handoff and adoption, and nobody else may release it.
 */
TEST_F(cache, shared_through_fd)
{
	int sv[2], status;
	uint32_t idx;
	char *p;
	pid_t pid;

	ASSERT_EQ(0, pipe(sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct bufpool *other = bufpool_open_fd(bufpool_fd(self->pool));

		if (!other || bufpool_acquire_index(other, &idx))
			_exit(1);
		strcpy(bufpool_addr(other, idx), "through the fd");
		if (bufpool_handoff(other, idx) ||
		    bufpool_release_index(other, idx) == 0 || errno != EINVAL)
			_exit(3);
		if (write(sv[1], &idx, sizeof(idx)) != sizeof(idx))
			_exit(2);
		bufpool_close(other);
		_exit(0);
	}
	ASSERT_EQ(sizeof(idx), read(sv[0], &idx, sizeof(idx)));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, status);
	p = bufpool_addr(self->pool, idx);
	ASSERT_NE(NULL, p);
	EXPECT_STREQ("through the fd", p);
	EXPECT_EQ(-1, bufpool_release_index(self->pool, idx));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, bufpool_adopt(self->pool, idx));
	EXPECT_EQ(-1, bufpool_adopt(self->pool, idx));	/* once */
	EXPECT_EQ(0, bufpool_release_index(self->pool, idx));
	EXPECT_EQ(-1, bufpool_release_index(self->pool, idx));	/* twice */
	EXPECT_EQ(EINVAL, errno);
	close(sv[0]);
	close(sv[1]);
}

TEST_HARNESS_MAIN
