// SPDX-License-Identifier: GPL-2.0
/*
 * Lock-freedom, shown: one thread is stopped in the middle of an
 * operation on a shared stack (after it read the head, before its CAS),
 * and the other threads keep acquiring and releasing, misses and depot
 * traffic included.  When the stopped thread resumes, its CAS fails (the
 * head's tag moved), it retries, and the pool is whole.
 *
 * The program links the library's test build (-DBP_TEST_HOOK), whose
 * shared free list calls bp_test_hook() below between its read of a
 * head and its CAS; nothing else differs from libbufpool-user.
 */
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdatomic.h>
#include <linux/types.h>

#include <bufpool.h>
#include <kselftest_harness.h>

void bp_test_hook(__u64 *head);

/*
 * The head to stop on, as its offset in struct bufpool_ctrl: the control
 * area is mapped at a page boundary with its header first, so a head's
 * offset within its page says which head it is.
 */
static uintptr_t stop_at, page_size;
static __thread int is_victim;
static _Atomic int armed, inside, resume;

void bp_test_hook(__u64 *head)
{
	if (!is_victim || (uintptr_t)head % page_size != stop_at ||
	    !atomic_load(&armed))
		return;
	atomic_store(&armed, 0);
	atomic_store(&inside, 1);
	while (!atomic_load(&resume))
		sched_yield();
}

struct ctx {
	struct bufpool *pool;
	uint32_t burst;
	int rounds;
	int failed;
};

/* Bursts past the cache: every round misses and crosses the depot. */
static int churn(struct ctx *c)
{
	void *held[5 * BUFPOOL_MAG_CAP];
	uint32_t n, i;
	int r;

	for (r = 0; r < c->rounds; r++) {
		for (n = 0; n < c->burst; n++) {
			held[n] = bufpool_acquire(c->pool);
			if (!held[n])
				break;
		}
		for (i = 0; i < n; i++)
			if (bufpool_release(c->pool, held[i]))
				return -1;
		if (atomic_load(&inside) && is_victim)
			break;
	}
	return 0;
}

static void *victim_fn(void *arg)
{
	struct ctx *c = arg;

	is_victim = 1;
	/* Runs until the hook stops it inside an operation... */
	while (!atomic_load(&resume))
		c->failed |= churn(c);
	/* ...and, resumed, finishes that operation and a few more. */
	c->rounds = 10;
	c->failed |= churn(c);
	return NULL;
}

static void *worker_fn(void *arg)
{
	struct ctx *c = arg;

	c->failed = churn(c);
	return NULL;
}

FIXTURE(lockfree) {
	struct bufpool *pool;
	struct bufpool_info info;
};

FIXTURE_VARIANT(lockfree) {
	int free_list;	/* stop on the free list, not the depot */
};

FIXTURE_VARIANT_ADD(lockfree, depot) { .free_list = 0 };
FIXTURE_VARIANT_ADD(lockfree, free_list) { .free_list = 1 };

FIXTURE_SETUP(lockfree)
{
	/*
	 * On the free list: a pool without caches, where every operation
	 * is a free-list operation.  On the depot: the default pool.
	 */
	struct bufpool_params no_cache = { .flags = BUFPOOL_F_NO_CACHE };

	self->pool = variant->free_list ? bufpool_create(&no_cache) :
					  bufpool_open(NULL);
	ASSERT_NE(NULL, self->pool);
	ASSERT_EQ(0, bufpool_get_info(self->pool, &self->info));
	if (!variant->free_list && !self->info.mag_fill)
		SKIP(return, "this pool has no depot (no caches)");
	page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
	stop_at = variant->free_list ?
		  offsetof(struct bufpool_ctrl, free_head) :
		  offsetof(struct bufpool_ctrl, full_head);
}

FIXTURE_TEARDOWN(lockfree)
{
	if (self->pool)
		bufpool_close(self->pool);
}

TEST_F_TIMEOUT(lockfree, others_progress_while_one_is_stopped, 240)
{
	uint32_t burst = 5 * (self->info.mag_fill ? self->info.mag_fill : 8);
	struct ctx v, w[2];
	pthread_t vt, wt[2];
	unsigned char *seen;
	uint32_t got = 0, i;
	void **held;
	int64_t idx;

	if (!self->pool)
		return;
	if (burst > self->info.buf_count / 4)
		burst = self->info.buf_count / 4;
	atomic_store(&inside, 0);
	atomic_store(&resume, 0);
	atomic_store(&armed, 1);
	v = (struct ctx){ self->pool, burst, 1000000, 0 };
	ASSERT_EQ(0, pthread_create(&vt, NULL, victim_fn, &v));
	for (i = 0; i < 60000 && !atomic_load(&inside); i++)
		usleep(1000);
	if (!atomic_load(&inside)) {
		atomic_store(&resume, 1);
		pthread_join(vt, NULL);
		ASSERT_TRUE(atomic_load(&inside)) {
			TH_LOG("the victim never reached the stop point");
		}
	}

	/* The victim sits between its read of the head and its CAS. */
	for (i = 0; i < 2; i++) {
		w[i] = (struct ctx){ self->pool, burst, 2000, 0 };
		ASSERT_EQ(0, pthread_create(&wt[i], NULL, worker_fn, &w[i]));
	}
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, pthread_join(wt[i], NULL));
		EXPECT_EQ(0, w[i].failed);
	}
	EXPECT_EQ(1, atomic_load(&inside));	/* still stopped all along */
	TH_LOG("2 threads did %d rounds of %u while the third was stopped",
	       2000, burst);

	atomic_store(&resume, 1);
	ASSERT_EQ(0, pthread_join(vt, NULL));
	EXPECT_EQ(0, v.failed);

	/* Nothing lost, nothing twice. */
	held = calloc(self->info.buf_count, sizeof(*held));
	seen = calloc(self->info.buf_count, 1);
	ASSERT_NE(NULL, held);
	ASSERT_NE(NULL, seen);
	while (got < self->info.buf_count &&
	       (held[got] = bufpool_acquire(self->pool))) {
		idx = bufpool_index(self->pool, held[got]);
		ASSERT_LE(0, idx);
		ASSERT_EQ(0, seen[idx]);
		seen[idx] = 1;
		got++;
	}
	EXPECT_EQ(self->info.buf_count, got);
	while (got--)
		bufpool_release(self->pool, held[got]);
	free(seen);
	free(held);
}

TEST_HARNESS_MAIN
