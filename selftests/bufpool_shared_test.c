// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool selftests of the shared path on device pools (issue 17): a
 * thread without a cache slot, or without room for another pool in its
 * thread state, still acquires and releases, and a process killed
 * anywhere in it is reclaimed exactly.
 *
 * - a thousand threads hold buffers at once on the 64-slot pool;
 * - threads start and exit in a loop while workers go on: slots
 *   reused, nothing lost, statistics exact at quiet checkpoints;
 * - a thread's first acquire takes no page fault, with a slot or not;
 * - a crash storm whose workers are mostly threads without a slot:
 *   never a buffer held twice, every audit whole with nothing
 *   repaired, and at the end everything back;
 * - one thread, all 16 size classes (the module reloaded with 16 class
 *   pools, then as it was).
 *
 * BUFPOOL_SHARED_SECS sets the loop's and the storm's length; else a
 * third of BUFPOOL_STORM_SECS (10 s in make check), at least 3.  The
 * host's userlib/tests/shared_test covers memfd pools.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <bufpool.h>
#include <kselftest_harness.h>

#include "bufpool_selftest.h"
#include "bufpool_shared_helpers.h"

static int shared_secs(void)
{
	const char *storm = getenv("BUFPOOL_STORM_SECS");
	int dflt = storm && atoi(storm) > 0 ? atoi(storm) / 3 : 10;

	return bps_secs("BUFPOOL_SHARED_SECS", dflt < 3 ? 3 : dflt);
}

#define EXPECT_NO_ERR(e) do {						\
	EXPECT_EQ(0, atomic_load(&(e).count)) {				\
		TH_LOG("%ld failed, the first: %s, errno %d (%s)",	\
		       atomic_load(&(e).count), atomic_load(&(e).first_what), \
		       atomic_load(&(e).first_errno),			\
		       strerror(atomic_load(&(e).first_errno)));	\
	}								\
} while (0)

/* The invariant of every audit, with nothing repaired. */
#define EXPECT_WHOLE(a) do {						\
	EXPECT_EQ((a).buf_count, (a).free + (a).cached + (a).held +	\
		  (a).transit + (a).queued);				\
	EXPECT_EQ(0, (a).repaired);					\
} while (0)

/* Quiet: nothing in use (stats, sysfs), the audit finds all free. */
#define EXPECT_ALL_FREE(pool) do {					\
	struct bufpool_audit _a;					\
	struct bufpool_stats _st;					\
									\
	ASSERT_EQ(0, bufpool_stats(pool, &_st));			\
	EXPECT_EQ(0, _st.in_use);					\
	EXPECT_EQ(_st.total, _st.free);					\
	EXPECT_EQ(0, bp_stat("in_use"));				\
	memset(&_a, 0, sizeof(_a));					\
	ASSERT_EQ(0, bufpool_audit(pool, &_a));				\
	EXPECT_WHOLE(_a);						\
	EXPECT_EQ(_a.buf_count, _a.free);				\
} while (0)

FIXTURE(dev) {
	struct bufpool *pool;
	struct bufpool_info info;
};

FIXTURE_SETUP(dev)
{
	self->pool = bufpool_open(NULL);
	ASSERT_NE(NULL, self->pool);
	ASSERT_EQ(0, bufpool_get_info(self->pool, &self->info));
	if (self->info.flags & BUFPOOL_INFO_F_MEMFD)
		SKIP(return, "no module: the host's shared_test covers memfd pools");
	TH_LOG("device pool: %u x %u B, %u caches, magazines of %u",
	       self->info.buf_count, self->info.buf_size,
	       self->info.nr_caches, self->info.mag_fill);
}

FIXTURE_TEARDOWN(dev)
{
	if (self->pool)
		bufpool_close(self->pool);
}

/*
 * A thousand threads each take one buffer (every 10th three, every 50th
 * four) and hold it until all do, then check their pattern and give
 * back: no call fails, no buffer twice, all of it back at the end.
 */
TEST_F_TIMEOUT(dev, thousand_threads_hold_at_once, 300)
{
	uint64_t want = bps_many_expected(1000);
	struct bufpool_stats st0, st;
	struct bps_many m;

	if (!self->pool || self->info.flags & BUFPOOL_INFO_F_MEMFD)
		return;
	ASSERT_EQ(0, bufpool_stats(self->pool, &st0));
	ASSERT_EQ(0, bps_many_run(&m, self->pool, 1000));
	EXPECT_NO_ERR(m.err);
	EXPECT_NO_ERR(m.dup);
	EXPECT_NO_ERR(m.bad);
	EXPECT_EQ(want, (uint64_t)atomic_load(&m.taken));
	ASSERT_EQ(0, bufpool_stats(self->pool, &st));
	EXPECT_EQ(want, st.acquires - st0.acquires);
	EXPECT_EQ(want, st.releases - st0.releases);
	/*
	 * All but nr_caches held at once without a slot.  Their releases may
	 * all find a slot given back by a thread that exited first: the
	 * shared releases are counted exactly in first_acquire's check.
	 */
	EXPECT_LE(st0.shared_acquires + 1000 - self->info.nr_caches,
		  st.shared_acquires);
	EXPECT_ALL_FREE(self->pool);
	TH_LOG("1000 threads held %llu buffers at once; %llu acquires on the shared path",
	       (unsigned long long)want,
	       (unsigned long long)(st.shared_acquires - st0.shared_acquires));
}

/*
 * Batches of 40 threads more than the pool has slots start, all hold at
 * once, and exit, while four workers acquire and release; at every
 * fourth batch everything quiesces and acquires - releases must be what
 * the workers hold.
 */
TEST_F_TIMEOUT(dev, threads_come_and_go, 600)
{
	int secs = shared_secs();
	struct bps_churn_result r;
	struct bps_churn c;

	if (!self->pool || self->info.flags & BUFPOOL_INFO_F_MEMFD)
		return;
	ASSERT_EQ(0, bps_churn_run(&c, &r, self->pool, secs,
				   self->info.nr_caches + 40));
	EXPECT_NO_ERR(c.err);
	EXPECT_NO_ERR(c.dup);
	EXPECT_LT(0, r.checkpoints);
	EXPECT_EQ(0, r.mismatches) {
		TH_LOG("acquires - releases - held: %lld at the first",
		       r.first_diff);
	}
	EXPECT_GE(BPS_WORKERS, r.owned_max);
	EXPECT_EQ(0, r.owned_end);
	EXPECT_EQ(r.acquires, r.releases);
	EXPECT_LT(0, r.shared_acquires);
	EXPECT_LT(r.shared_acquires, r.acquires);
	EXPECT_ALL_FREE(self->pool);
	TH_LOG("%d s: %ld threads in %ld batches, %ld checkpoints; %llu acquires, %llu of them shared",
	       secs, r.threads, r.batches, r.checkpoints,
	       (unsigned long long)r.acquires,
	       (unsigned long long)r.shared_acquires);
}

/*
 * NUMA balancing (the VM has two nodes) unmaps pages of a process now
 * and then to see who touches them: those minor faults are the
 * kernel's, not the library's.  A page it marked stays marked after it
 * is switched off, so it is off for this whole program, from before its
 * first test forks and the first pool is opened, and as it was after;
 * the fault tests log the hinting faults that happen anyway.
 */
#define NUMA_SYSCTL	"/proc/sys/kernel/numa_balancing"

static char numa_saved[16];
static pid_t numa_pid;

static void __attribute__((constructor)) numa_balancing_off(void)
{
	int fd;

	numa_saved[0] = '\0';
	if (bp_read_file(NUMA_SYSCTL, numa_saved, sizeof(numa_saved)) <= 0)
		return;
	fd = open(NUMA_SYSCTL, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1)
		numa_saved[0] = '\0';
	if (fd >= 0)
		close(fd);
	numa_pid = getpid();
}

static void __attribute__((destructor)) numa_balancing_restore(void)
{
	int fd;

	if (!numa_saved[0] || getpid() != numa_pid)
		return;
	fd = open(NUMA_SYSCTL, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, numa_saved, strlen(numa_saved)) < 0)
		perror(NUMA_SYSCTL);
	close(fd);
}

/* A /proc/vmstat counter, or -1. */
static long long vmstat(const char *name)
{
	char buf[16384], *p;
	size_t n = strlen(name);

	if (bp_read_file("/proc/vmstat", buf, sizeof(buf)) < 0)
		return -1;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, n) && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
	return -1;
}

#define EXPECT_NO_FAULT(f) do {						\
	EXPECT_EQ(0, (f).failed) {					\
		TH_LOG("%ld first acquires failed: %s", (f).failed,	\
		       strerror((f).first_errno));			\
	}								\
	EXPECT_EQ(0, (f).faults) {					\
		TH_LOG("%ld minor faults; the most, %ld, thread %u's first acquire from its pool %u", \
		       (f).faults, (f).worst, (f).worst_thread + 1,	\
		       (f).worst_pool + 1);				\
		TH_LOG("NUMA hinting faults meanwhile, system-wide: %lld", \
		       vmstat("numa_hint_faults") - hint0);		\
	}								\
} while (0)

/*
 * 48 fresh threads, one after the other and each kept alive, take their
 * first buffer without a page fault; then 8 more while parked threads
 * hold every slot of the pool (the shared path).
 */
TEST_F_TIMEOUT(dev, first_acquire_takes_no_fault, 120)
{
	struct bufpool_stats st0, st;
	struct bps_parking park;
	struct bps_fault f;
	long long hint0;

	if (!self->pool || self->info.flags & BUFPOOL_INFO_F_MEMFD)
		return;
	hint0 = vmstat("numa_hint_faults");
	memset(&f, 0, sizeof(f));
	f.n = 1;
	f.threads = 48;
	f.pools[0] = self->pool;
	ASSERT_EQ(0, bps_fault_run(&f));
	EXPECT_NO_FAULT(f);

	ASSERT_EQ(0, bps_park(&park, self->pool, self->info.nr_caches));
	ASSERT_EQ(0, bufpool_stats(self->pool, &st0));
	f.threads = 8;
	ASSERT_EQ(0, bps_fault_run(&f));
	EXPECT_NO_FAULT(f);
	ASSERT_EQ(0, bufpool_stats(self->pool, &st));
	/* Every slot parked: each first acquire and its release shared. */
	EXPECT_EQ(8, st.shared_acquires - st0.shared_acquires);
	EXPECT_EQ(8, st.shared_releases - st0.shared_releases);
	bps_unpark(&park);
	EXPECT_NO_ERR(park.err);
}

/*
 * The crash storm with slot-less workers: WORKERS processes of THREADS
 * threads each (three times as many threads as slots) acquire, mark,
 * hold a few, unmark and release; now and then a thread flushes its
 * cache, so that slots change hands.  A driver SIGKILLs a random worker
 * every 20-220 ms and starts it again; after each kill the kernel's
 * audit must add up with nothing repaired.  Each buffer carries its
 * holder's mark (incarnation and thread); finding a live other's mark
 * is a buffer held twice.  At the end, every worker dead: every buffer
 * free, nothing in use, the dead ones' buffers reclaimed.
 */
#define WORKERS		6
#define THREADS		32
#define HOLD		8
#define GEN_MASK	((1ULL << 48) - 1)

struct storm {
	_Atomic uint64_t gen[WORKERS];	/* live incarnation, 0: dead */
	_Atomic uint64_t ops;
	_Atomic int errors;
	char why[128];
};

struct storm_thread {
	struct storm *st;
	struct bufpool *pool;
	uint64_t mark;			/* (thread + 1) << 48 | incarnation */
};

static void storm_fail(struct storm *st, const char *what, uint32_t idx)
{
	if (atomic_fetch_add(&st->errors, 1) == 0)
		snprintf(st->why, sizeof(st->why), "%s (buffer %u, errno %d)",
			 what, idx, errno);
}

static int storm_alive(struct storm *st, uint64_t mark)
{
	uint64_t g = mark & GEN_MASK;

	return atomic_load(&st->gen[g & 0xff]) == g;
}

static void *storm_thread_fn(void *arg)
{
	struct storm_thread *t = arg;
	struct storm *st = t->st;
	unsigned int seed = (unsigned int)t->mark ^ (unsigned int)(t->mark >> 48);
	uint32_t held[HOLD];
	unsigned int n, k, round;
	uint64_t old;

	for (round = 1;; round++) {
		n = 1 + rand_r(&seed) % HOLD;
		for (k = 0; k < n; k++) {
			if (bufpool_acquire_index(t->pool, &held[k])) {
				if (errno != ENOBUFS)
					storm_fail(st, "acquire", 0);
				break;
			}
			old = atomic_exchange((_Atomic uint64_t *)
					      bufpool_addr(t->pool, held[k]),
					      t->mark);
			if (old && old != t->mark && storm_alive(st, old))
				storm_fail(st, "a buffer held by two live threads",
					   held[k]);
		}
		n = k;
		if (rand_r(&seed) % 4 == 0)
			usleep(rand_r(&seed) % 200);	/* hold a while */
		for (k = 0; k < n; k++) {
			old = t->mark;
			if (!atomic_compare_exchange_strong((_Atomic uint64_t *)
					bufpool_addr(t->pool, held[k]), &old, 0))
				storm_fail(st, "a held buffer marked by another",
					   held[k]);
			if (bufpool_release_index(t->pool, held[k]))
				storm_fail(st, "release", held[k]);
		}
		if (round % 32 == 0)
			bufpool_flush_cache(t->pool);	/* a slot changes hands */
		atomic_fetch_add_explicit(&st->ops, 1, memory_order_relaxed);
	}
	return NULL;
}

static void storm_worker(struct storm *st, uint64_t g)
{
	static struct storm_thread th[THREADS];
	struct bufpool *p = bufpool_open(NULL);
	pthread_t t;
	unsigned int i;

	if (!p) {
		storm_fail(st, "open", 0);
		_exit(1);
	}
	for (i = 0; i < THREADS; i++) {
		th[i] = (struct storm_thread){ st, p,
			((uint64_t)(i + 1) << 48) | g };
		if (bps_spawn(&t, storm_thread_fn, &th[i])) {
			storm_fail(st, "pthread_create", 0);
			_exit(1);
		}
	}
	for (;;)
		pause();
}

static pid_t storm_spawn(struct storm *st, unsigned int w, uint64_t *inc)
{
	uint64_t g = (++*inc << 8) | w;
	pid_t pid;

	atomic_store(&st->gen[w], g);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		storm_worker(st, g);
	}
	return pid;
}

static void storm_kill(struct storm *st, pid_t pid, unsigned int w)
{
	atomic_store(&st->gen[w], 0);	/* dead from here on */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

TEST_F_TIMEOUT(dev, crash_storm_slotless_workers, 600)
{
	long long reclaimed0 = bp_stat("reclaimed");
	long long repaired0 = bp_stat("repaired");
	unsigned int seed = (unsigned int)time(NULL), w, kills = 0;
	int secs = shared_secs();
	struct bufpool_stats st0, s;
	struct bufpool_audit a;
	pid_t pid[WORKERS];
	struct storm *st;
	uint64_t inc = 0;
	double t0;

	if (!self->pool || self->info.flags & BUFPOOL_INFO_F_MEMFD)
		return;
	ASSERT_LT(self->info.nr_caches, WORKERS * THREADS);
	ASSERT_EQ(0, bufpool_stats(self->pool, &st0));
	/*
	 * A storm of an earlier test leaves its killed workers' marks in
	 * buffers, numbered as this one's first workers will be: cleared,
	 * with every buffer free, so that only this storm's marks count.
	 */
	memset(&a, 0, sizeof(a));
	ASSERT_EQ(0, bufpool_audit(self->pool, &a));
	ASSERT_EQ(a.buf_count, a.free);
	for (w = 0; w < a.buf_count; w++)
		atomic_store((_Atomic uint64_t *)bufpool_addr(self->pool, w), 0);
	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, st);
	for (w = 0; w < WORKERS; w++) {
		pid[w] = storm_spawn(st, w, &inc);
		ASSERT_LT(0, pid[w]);
	}
	t0 = bps_now();
	do {
		usleep(20000 + rand_r(&seed) % 200000);
		w = rand_r(&seed) % WORKERS;
		storm_kill(st, pid[w], w);
		kills++;
		memset(&a, 0, sizeof(a));
		ASSERT_EQ(0, bufpool_audit(self->pool, &a));
		EXPECT_WHOLE(a);
		if (a.buf_count != a.free + a.cached + a.held + a.transit +
		    a.queued || a.repaired || atomic_load(&st->errors))
			break;
		pid[w] = storm_spawn(st, w, &inc);
		ASSERT_LT(0, pid[w]);
	} while (bps_now() - t0 < secs);

	for (w = 0; w < WORKERS; w++)
		storm_kill(st, pid[w], w);
	EXPECT_EQ(0, atomic_load(&st->errors)) {
		TH_LOG("%s", st->why);
	}
	/* Every worker dead: all of it back, nothing repaired. */
	memset(&a, 0, sizeof(a));
	ASSERT_EQ(0, bufpool_audit(self->pool, &a));
	EXPECT_WHOLE(a);
	EXPECT_EQ(0, a.held);
	EXPECT_EQ(0, a.cached);
	EXPECT_EQ(0, a.transit);
	EXPECT_EQ(a.buf_count, a.free);
	ASSERT_EQ(0, bufpool_stats(self->pool, &s));
	/*
	 * The counters are statistics: a thread killed between a buffer's
	 * record and its count leaves that count off by one (DESIGN.md,
	 * "Statistics"), so in_use is bounded by the threads killed; the
	 * audit above is what is exact.
	 */
	EXPECT_GE((kills + WORKERS) * THREADS, s.in_use);
	TH_LOG("in_use by the counters after %u threads killed: %llu",
	       (kills + WORKERS) * THREADS, (unsigned long long)s.in_use);
	EXPECT_LT(reclaimed0, bp_stat("reclaimed"));
	EXPECT_EQ(repaired0, bp_stat("repaired"));
	TH_LOG("%u kills in %d s of %d workers x %d threads (%u slots): %llu rounds, %llu shared acquires; %lld reclaimed",
	       kills, secs, WORKERS, THREADS, self->info.nr_caches,
	       (unsigned long long)atomic_load(&st->ops),
	       (unsigned long long)(s.shared_acquires - st0.shared_acquires),
	       bp_stat("reclaimed") - reclaimed0);
	munmap(st, sizeof(*st));
}

/*
 * All 16 size classes, 64 B to 2 MiB: the module is reloaded with 16
 * class pools (and restored as it was after), and one thread takes a
 * buffer of every class, holding all 16 at once, for several rounds;
 * each lands in its own class, and each class has the thread's cache.
 * Then fresh threads' first acquires from each class take no fault.
 */
FIXTURE(classes) {
	int ready;
	const char *ko;
	char saved[1024];
	int was_loaded;
	struct bufpool_classes *cls;
};

FIXTURE_SETUP(classes)
{
	char params[1024];
	size_t len = 0;
	unsigned int i;

	self->cls = NULL;
	BP_REQUIRE_MODULE(self);
	self->was_loaded = bp_module_save_unload(self->saved,
						 sizeof(self->saved));
	ASSERT_LE(0, self->was_loaded);
	self->ready = 1;
	len = snprintf(params, sizeof(params), "pools=");
	for (i = 0; i < 16; i++) {
		unsigned long size = 64UL << i;
		unsigned long count = size >= (128 << 10) ? 4 :
				      (512UL << 10) / size;

		len += snprintf(params + len, sizeof(params) - len,
				"%sc%lu:buf_size=%lu,buf_count=%lu",
				i ? ";" : "", size, size, count);
		ASSERT_GT(sizeof(params), len);
	}
	ASSERT_EQ(0, bp_finit_module(self->ko, params)) {
		TH_LOG("load with %s: %s", params, strerror(errno));
	}
	self->cls = bufpool_classes_open(NULL, 0);
	ASSERT_NE(NULL, self->cls) {
		TH_LOG("bufpool_classes_open: %s", strerror(errno));
	}
}

FIXTURE_TEARDOWN(classes)
{
	BP_NEED_READY(self);
	bufpool_classes_close(self->cls);
	EXPECT_EQ(0, bp_module_restore(self->ko, self->was_loaded,
				       self->saved));
}

TEST_F_TIMEOUT(classes, one_thread_every_class, 120)
{
	struct bufpool_stats st;
	unsigned int i, r, fails = 0, wrong = 0;
	uint64_t shared = 0;
	void *held[16];

	BP_NEED_READY(self);
	for (i = 0; i < 16; i++) {
		ASSERT_NE(NULL, bufpool_classes_pool(self->cls, i));
		EXPECT_EQ(64UL << i,
			  bufpool_buf_size(bufpool_classes_pool(self->cls, i)));
	}
	EXPECT_EQ(NULL, bufpool_classes_pool(self->cls, 16));
	for (r = 0; r < 20; r++) {
		for (i = 0; i < 16; i++) {
			held[i] = bufpool_classes_acquire(self->cls,
							  (size_t)64 << i);
			if (!held[i]) {
				if (!fails++)
					TH_LOG("class %u, round %u: %s", i, r,
					       strerror(errno));
				continue;
			}
			wrong += bufpool_index(bufpool_classes_pool(self->cls,
								    i),
					       held[i]) < 0;
			memset(held[i], (int)i, 64);
		}
		for (i = 0; i < 16; i++) {
			if (!held[i])
				continue;
			wrong += ((unsigned char *)held[i])[63] != i;
			if (bufpool_classes_release(self->cls, held[i]))
				fails++;
		}
	}
	EXPECT_EQ(0, fails);
	EXPECT_EQ(0, wrong);
	for (i = 0; i < 16; i++) {
		ASSERT_EQ(0, bufpool_stats(bufpool_classes_pool(self->cls, i),
					   &st));
		EXPECT_EQ(20, st.acquires);
		EXPECT_EQ(20, st.releases);
		EXPECT_EQ(0, st.in_use);
		shared += st.shared_acquires;
	}
	EXPECT_EQ(0, shared);	/* 16 pools: a cache in each */
}

TEST_F_TIMEOUT(classes, first_acquire_from_each_class_takes_no_fault, 120)
{
	struct bps_fault f;
	unsigned int i;
	long long hint0;

	BP_NEED_READY(self);
	hint0 = vmstat("numa_hint_faults");
	memset(&f, 0, sizeof(f));
	f.n = 16;
	f.threads = 8;
	for (i = 0; i < 16; i++) {
		f.pools[i] = bufpool_classes_pool(self->cls, i);
		ASSERT_NE(NULL, f.pools[i]);
	}
	ASSERT_EQ(0, bps_fault_run(&f));
	EXPECT_NO_FAULT(f);
}

TEST_HARNESS_MAIN
