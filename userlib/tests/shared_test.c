// SPDX-License-Identifier: GPL-2.0
/*
 * Any number of threads and pools on a module-free (memfd) pool (issue
 * 17): a thread without a cache slot, or without room for another pool
 * in its thread state, takes the shared path and never fails for it.
 *
 * - a thousand threads hold buffers at once on a 64-slot pool;
 * - one thread uses 16 pools (and 24), and all 16 size classes;
 * - threads start and exit in a loop while workers go on: slots
 *   reused, nothing lost, statistics exact at every quiet checkpoint
 *   (BUFPOOL_SHARED_SECS seconds, default 30; 3 under TSan);
 * - a thread's first acquire takes no page fault;
 * - a thread without a cache: bulk calls, enqueue, exhaustion, double
 *   release, each counted exactly in the shared-path counters.
 *
 * shared_test_tsan is this under ThreadSanitizer, scaled down.  The
 * device's side, crash storm included, is selftests/bufpool_shared_test.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"

#include <bufpool.h>

#include "bufpool_shared_helpers.h"

#ifdef __SANITIZE_THREAD__
#define MANY_THREADS	200
#define CHURN_SECS	3
#else
#define MANY_THREADS	1000
#define CHURN_SECS	30
#endif

static struct bufpool *create(size_t size, uint32_t count, uint32_t caches)
{
	struct bufpool_params p = {
		.buf_size = size, .buf_count = count, .caches = caches,
		.flags = BUFPOOL_F_NO_HUGETLB,
	};

	return bufpool_create(&p);
}

#define EXPECT_NO_ERR(e) do {						\
	EXPECT_EQ(0, atomic_load(&(e).count)) {				\
		TH_LOG("%ld failed, the first: %s, errno %d (%s)",	\
		       atomic_load(&(e).count), atomic_load(&(e).first_what), \
		       atomic_load(&(e).first_errno),			\
		       strerror(atomic_load(&(e).first_errno)));	\
	}								\
} while (0)

/* The pool is quiet and whole: nothing in use, every buffer free. */
#define EXPECT_QUIET(pool) do {						\
	struct bufpool_stats _st;					\
									\
	ASSERT_EQ(0, bufpool_stats(pool, &_st));			\
	EXPECT_EQ(0, _st.in_use);					\
	EXPECT_EQ(_st.total, _st.free);					\
	EXPECT_EQ(_st.acquires, _st.releases);				\
} while (0)

/* The harness's TEST has no timeout of its own: a fixture for those. */
FIXTURE(shared) {
	int unused;
};

FIXTURE_SETUP(shared)
{
}

FIXTURE_TEARDOWN(shared)
{
}

/*
 * A thousand threads on a pool of the default geometry (64 cache
 * slots, 4096 buffers) each take one buffer (every 10th three, every
 * 50th four) and hold it until all do; then each checks its pattern and
 * gives back.  Before the shared path, 936 of them got EUSERS.
 */
TEST_F_TIMEOUT(shared, thousand_threads_hold_at_once, 300)
{
	struct bufpool *pool = create(0, 0, 0);
	struct bufpool_info info;
	struct bufpool_stats st;
	struct bps_ctrl k0, k;
	struct bps_many m;
	uint64_t want = bps_many_expected(MANY_THREADS);

	ASSERT_NE(NULL, pool);
	ASSERT_EQ(0, bufpool_get_info(pool, &info));
	ASSERT_EQ(64, info.nr_caches);
	ASSERT_EQ(0, bps_ctrl_read(pool, &k0));
	ASSERT_EQ(0, bps_many_run(&m, pool, MANY_THREADS));
	EXPECT_NO_ERR(m.err);
	EXPECT_NO_ERR(m.dup);
	EXPECT_NO_ERR(m.bad);
	EXPECT_EQ(want, (uint64_t)atomic_load(&m.taken));

	ASSERT_EQ(0, bufpool_stats(pool, &st));
	EXPECT_EQ(0, st.in_use);
	EXPECT_EQ(info.buf_count, st.free);
	EXPECT_EQ(want, st.acquires);
	EXPECT_EQ(want, st.releases);
	ASSERT_EQ(0, bps_ctrl_read(pool, &k));
	/*
	 * All but 64 held at once without a slot.  Their releases may all
	 * find a slot given back by a thread that exited first: the shared
	 * releases are counted exactly in slotless_thread_calls.
	 */
	EXPECT_LE(k0.shared_acquires + MANY_THREADS - 64, k.shared_acquires);
	EXPECT_EQ(0, k.caches_owned);	/* every thread gave its cache back */
	/* bufpool_stats reports the control area's counters (1.5). */
	EXPECT_EQ(k.shared_acquires, st.shared_acquires);
	EXPECT_EQ(k.shared_releases, st.shared_releases);
	TH_LOG("%d threads held %llu buffers at once; %llu acquires on the shared path",
	       MANY_THREADS, (unsigned long long)want,
	       (unsigned long long)(k.shared_acquires - k0.shared_acquires));
	EXPECT_EQ(0, bufpool_close(pool));
}

/*
 * One thread, n pools of the 16 buffer sizes a set of size classes has
 * (64 B to 2 MiB; past 16, the sizes again): it takes three buffers
 * from each in turn and holds from all of them at once, for several
 * rounds.  With 16 pools (the module's pool limit), every pool has
 * this thread's cache; past that, the shared path serves the rest.
 * (Size classes proper, bufpool_classes_open, need device nodes: the
 * VM's bufpool_shared_test.)
 */
FIXTURE(pools) {
	struct bufpool *pool[24];
	unsigned int n;
};

FIXTURE_VARIANT(pools) {
	unsigned int n;
};
FIXTURE_VARIANT_ADD(pools, sixteen) { .n = 16 };
FIXTURE_VARIANT_ADD(pools, twenty_four) { .n = 24 };

FIXTURE_SETUP(pools)
{
	unsigned int i;

	for (i = 0; i < variant->n; i++) {
		size_t size = (size_t)64 << (i % 16);
		uint32_t count = size >= (128 << 10) ? 4 :
				 (uint32_t)((512 << 10) / size);

		self->pool[i] = create(size, count, 4);
		ASSERT_NE(NULL, self->pool[i]);
		self->n = i + 1;
	}
}

FIXTURE_TEARDOWN(pools)
{
	unsigned int i;

	for (i = 0; i < self->n; i++)
		bufpool_close(self->pool[i]);
}

#define ROUNDS	50
#define PER	3

TEST_F_TIMEOUT(pools, one_thread_holds_from_every_pool, 120)
{
	unsigned char *held[24][PER];
	struct bps_ctrl k[24];
	struct bufpool_stats st;
	unsigned int i, j, r, fails = 0, bad = 0, wrong = 0;
	uint64_t shared = 0;
	size_t len;

	for (i = 0; i < self->n; i++)
		ASSERT_EQ(0, bps_ctrl_read(self->pool[i], &k[i]));
	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < self->n; i++)
			for (j = 0; j < PER; j++) {
				held[i][j] = bufpool_acquire(self->pool[i]);
				if (!held[i][j]) {
					if (!fails++)
						TH_LOG("pool %u, round %u: %s", i,
						       r, strerror(errno));
					continue;
				}
				len = bufpool_buf_size(self->pool[i]);
				len = len < 256 ? len : 256;
				memset(held[i][j], (int)(i * PER + j), len);
			}
		for (i = 0; i < self->n; i++)
			for (j = 0; j < PER; j++) {
				if (!held[i][j])
					continue;
				len = bufpool_buf_size(self->pool[i]);
				len = len < 256 ? len : 256;
				bad += held[i][j][0] != (unsigned char)(i * PER + j) ||
				       held[i][j][len - 1] != (unsigned char)(i * PER + j);
				if (bufpool_release(self->pool[i], held[i][j]))
					fails++;
			}
	}
	EXPECT_EQ(0, fails);
	EXPECT_EQ(0, bad);
	for (i = 0; i < self->n; i++) {
		struct bps_ctrl now;

		ASSERT_EQ(0, bufpool_stats(self->pool[i], &st));
		wrong += st.acquires != ROUNDS * PER ||
			 st.releases != ROUNDS * PER || st.in_use;
		ASSERT_EQ(0, bps_ctrl_read(self->pool[i], &now));
		shared += now.shared_acquires - k[i].shared_acquires;
	}
	/* Each pool counted exactly its ROUNDS * PER pairs. */
	EXPECT_EQ(0, wrong);
	TH_LOG("%u pools, %llu acquires of %u on the shared path", self->n,
	       (unsigned long long)shared, self->n * ROUNDS * PER);
	if (self->n <= 16) {
		EXPECT_EQ(0, shared);	/* a cache in each pool */
	} else {
		EXPECT_LT(0, shared);	/* the pools past 16 */
	}
}

/*
 * Threads start and exit in a loop (batches of 40 more than the pool
 * has slots, all holding at once) while four workers acquire and
 * release; at every fourth batch everything quiesces and acquires -
 * releases must be what the workers hold.
 */
TEST_F_TIMEOUT(shared, threads_come_and_go, 600)
{
	int secs = bps_secs("BUFPOOL_SHARED_SECS", CHURN_SECS);
	struct bufpool *pool = create(0, 0, 0);
	struct bps_churn_result r;
	struct bufpool_info info;
	struct bps_churn c;

	ASSERT_NE(NULL, pool);
	ASSERT_EQ(0, bufpool_get_info(pool, &info));
	ASSERT_EQ(0, bps_churn_run(&c, &r, pool, secs, info.nr_caches + 40));
	EXPECT_NO_ERR(c.err);
	EXPECT_NO_ERR(c.dup);
	EXPECT_LT(0, r.checkpoints);
	EXPECT_EQ(0, r.mismatches) {
		TH_LOG("acquires - releases - held: %lld at the first",
		       r.first_diff);
	}
	/* The exited threads' slots were given back, and reused. */
	EXPECT_GE(BPS_WORKERS, r.owned_max);
	EXPECT_EQ(0, r.owned_end);
	EXPECT_EQ(r.acquires, r.releases);
	EXPECT_LT(0, r.shared_acquires);
	EXPECT_LT(r.shared_acquires, r.acquires);	/* cached ones too */
	EXPECT_QUIET(pool);
	TH_LOG("%d s: %ld threads in %ld batches of %u, %ld checkpoints; %llu acquires, %llu of them shared",
	       secs, r.threads, r.batches, info.nr_caches + 40,
	       r.checkpoints, (unsigned long long)r.acquires,
	       (unsigned long long)r.shared_acquires);
	EXPECT_EQ(0, bufpool_close(pool));
}

/*
 * A thread's first acquire takes no page fault of the library's making:
 * 48 fresh threads, one after the other and each kept alive, take
 * their first buffer from each of three pools (so each takes thread
 * state nobody used before); then threads that find every slot of a
 * pool taken (the shared path).
 */
#define EXPECT_NO_FAULT(f) do {						\
	EXPECT_EQ(0, (f).failed) {					\
		TH_LOG("%ld first acquires failed: %s", (f).failed,	\
		       strerror((f).first_errno));			\
	}								\
	EXPECT_EQ(0, (f).faults) {					\
		TH_LOG("%ld minor faults; the most, %ld, thread %u's first acquire from its pool %u", \
		       (f).faults, (f).worst, (f).worst_thread + 1,	\
		       (f).worst_pool + 1);				\
	}								\
} while (0)

TEST_F_TIMEOUT(shared, first_acquire_takes_no_fault, 120)
{
	struct bps_parking park;
	struct bps_fault f;
	struct bps_ctrl k0, k;
	struct bufpool *slotless;
	unsigned int i;

#ifdef __SANITIZE_THREAD__
	SKIP(return, "TSan's shadow memory faults on first use");
#endif
	memset(&f, 0, sizeof(f));
	f.n = 3;
	f.threads = 48;
	for (i = 0; i < f.n; i++) {
		f.pools[i] = create(2048, 1024, 0);
		ASSERT_NE(NULL, f.pools[i]);
	}
	ASSERT_EQ(0, bps_fault_run(&f));
	EXPECT_NO_FAULT(f);
	for (i = 0; i < f.n; i++)
		bufpool_close(f.pools[i]);

	slotless = create(2048, 1024, 2);
	ASSERT_NE(NULL, slotless);
	ASSERT_EQ(0, bps_park(&park, slotless, 2));
	ASSERT_EQ(0, bps_ctrl_read(slotless, &k0));
	memset(&f, 0, sizeof(f));
	f.n = 1;
	f.threads = 8;
	f.pools[0] = slotless;
	ASSERT_EQ(0, bps_fault_run(&f));
	EXPECT_NO_FAULT(f);
	ASSERT_EQ(0, bps_ctrl_read(slotless, &k));
	EXPECT_EQ(8, k.shared_acquires - k0.shared_acquires);
	EXPECT_EQ(8, k.shared_releases - k0.shared_releases);
	bps_unpark(&park);
	EXPECT_NO_ERR(park.err);
	bufpool_close(slotless);
}

/*
 * A thread without a cache (every slot taken by parked threads): bulk
 * calls, index calls, a double release refused, enqueue, exhaustion;
 * the shared-path counters count each call exactly.
 */
#define SL_COUNT	512

/*
 * Take buffers until none is left (or SL_COUNT), marking each in seen[]:
 * how many were taken; *twice counts those taken twice or not indexed.
 */
static unsigned int take_all(struct bufpool *pool, void **bufs,
			     unsigned char *seen,
			     unsigned int *twice)
{
	unsigned int got = 0;
	void *b;

	*twice = 0;
	while (got < SL_COUNT && (b = bufpool_acquire(pool))) {
		int64_t x = bufpool_index(pool, b);

		if (x < 0 || seen[x])
			++*twice;
		else
			seen[x] = 1;
		bufs[got++] = b;
	}
	return got;
}


TEST_F_TIMEOUT(shared, slotless_thread_calls, 120)
{
	struct bufpool *pool = create(256, SL_COUNT, 2);
	struct bps_ctrl k0, k;
	struct bps_parking park;
	struct bufpool_queue *q;
	struct bufpool_stats st;
	void *bufs[SL_COUNT];
	unsigned char *seen;
	uint64_t acq = 0, rel = 0;
	unsigned int got, i, n, twice;
	uint32_t idx;
	void *b;

	ASSERT_NE(NULL, pool);
	seen = calloc(SL_COUNT, 1);
	ASSERT_NE(NULL, seen);
	q = bufpool_queue_open(pool, "shared.q", BUFPOOL_QUEUE_CREATE |
			       BUFPOOL_QUEUE_PRODUCE | BUFPOOL_QUEUE_CONSUME, 16);
	ASSERT_NE(NULL, q) {
		TH_LOG("queue: %s", strerror(errno));
	}
	ASSERT_EQ(0, bps_park(&park, pool, 2));
	ASSERT_EQ(0, bps_ctrl_read(pool, &k0));
	EXPECT_EQ(2, k0.caches_owned);

	/* Bulk, from the shared path. */
	got = bufpool_acquire_bulk(pool, bufs, 40);
	EXPECT_EQ(40, got) {
		TH_LOG("acquire_bulk: %s", strerror(errno));
	}
	acq += got;
	for (i = 0; i < got; i++) {
		int64_t x = bufpool_index(pool, bufs[i]);

		ASSERT_LE(0, x);
		EXPECT_EQ(0, seen[x]);
		seen[x] = 1;
	}
	EXPECT_EQ(0, bufpool_release_bulk(pool, bufs, got));
	rel += got;
	memset(seen, 0, SL_COUNT);

	/* Single and index forms; a double release is refused. */
	b = bufpool_acquire(pool);
	ASSERT_NE(NULL, b) {
		TH_LOG("acquire: %s", strerror(errno));
	}
	acq++;
	EXPECT_EQ(0, bufpool_release(pool, b));
	rel++;
	EXPECT_EQ(-1, bufpool_release(pool, b));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, bufpool_acquire_index(pool, &idx));
	acq++;
	EXPECT_EQ(0, bufpool_release_index(pool, idx));
	rel++;

	/* Enqueue what it holds; dequeue and give back. */
	got = bufpool_acquire_bulk(pool, bufs, 8);
	ASSERT_EQ(8, got);
	acq += got;
	for (i = 0; i < got; i++)
		EXPECT_EQ(0, bufpool_enqueue(q, bufs[i])) {
			TH_LOG("enqueue: %s", strerror(errno));
		}
	/* Enqueued, no longer ours to release. */
	EXPECT_EQ(-1, bufpool_release(pool, bufs[0]));
	EXPECT_EQ(EINVAL, errno);
	n = bufpool_dequeue_bulk(q, bufs, 8);
	EXPECT_EQ(8, n);
	EXPECT_EQ(0, bufpool_release_bulk(pool, bufs, n));
	rel += n;

	ASSERT_EQ(0, bps_ctrl_read(pool, &k));
	EXPECT_EQ(acq, k.shared_acquires - k0.shared_acquires);
	EXPECT_EQ(rel, k.shared_releases - k0.shared_releases);
	EXPECT_EQ(2, k.caches_owned);

	/*
	 * Everything it can take: the parked threads' caches keep theirs;
	 * the rest, depot magazines broken up included, comes once each.
	 */
	got = take_all(pool, bufs, seen, &twice);
	EXPECT_EQ(0, twice);
	EXPECT_EQ(ENOBUFS, errno);
	EXPECT_LE(SL_COUNT / 2, got);
	ASSERT_EQ(0, bps_ctrl_read(pool, &k));
	EXPECT_LE(1, k.shared_exhausted - k0.shared_exhausted);
	ASSERT_EQ(0, bufpool_stats(pool, &st));
	EXPECT_EQ(got, st.in_use);
	EXPECT_EQ(k.shared_acquires, st.shared_acquires);
	EXPECT_EQ(k.shared_releases, st.shared_releases);
	EXPECT_EQ(0, bufpool_release_bulk(pool, bufs, got));
	TH_LOG("a thread without a cache took %u of %u", got, SL_COUNT);

	bps_unpark(&park);
	EXPECT_NO_ERR(park.err);
	/* Their caches are back: all of it can be had, once each. */
	memset(seen, 0, SL_COUNT);
	got = take_all(pool, bufs, seen, &twice);
	EXPECT_EQ(0, twice);
	EXPECT_EQ(SL_COUNT, got);
	EXPECT_EQ(0, bufpool_release_bulk(pool, bufs, got));
	EXPECT_EQ(0, bufpool_queue_close(q));
	EXPECT_QUIET(pool);
	free(seen);
	EXPECT_EQ(0, bufpool_close(pool));
}

TEST_HARNESS_MAIN
