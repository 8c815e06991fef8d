// SPDX-License-Identifier: GPL-2.0
/*
 * ABI 1.9, the rotating depot, through the library's calls (memfd
 * backend): BUFPOOL_F_ROTATE asks for it and the pool's info, its
 * control area and a second handle say it; a producer thread and a
 * consumer thread that pass every buffer from one cache to the other
 * (the traffic the rotation is for) lose none, take none twice, and
 * use both full stacks; a pool without the flag never touches the
 * second one.  The order of the magazines is reconcile_test's
 * rotating_depot_order; the order within one (library 1.9.3: a rotating
 * pool's thread takes a magazine off the depot oldest first) is
 * oldest_first's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/bufpool.h>

#include <bufpool.h>
#include <kselftest_harness.h>

#define COUNT		1024
#define MESSAGES	200000
#define RING		256	/* a power of two, below COUNT */

static struct bufpool *make(uint32_t flags)
{
	struct bufpool_params p = {
		.buf_size = 2048, .buf_count = COUNT, .caches = 4,
		.flags = BUFPOOL_F_NO_HUGETLB | BUFPOOL_F_MAG_SIZE | flags,
		.mag_size = 16,
	};

	return bufpool_create(&p);
}

TEST(flag_reported)
{
	struct bufpool_params p = { .flags = 1u << 5 };
	struct bufpool_info info;
	struct bufpool *pool, *again;
	uint32_t rot;

	for (rot = 0; rot < 2; rot++) {
		pool = make(rot ? BUFPOOL_F_ROTATE : 0);
		ASSERT_NE(NULL, pool);
		ASSERT_EQ(0, bufpool_get_info(pool, &info));
		EXPECT_EQ(rot ? BUFPOOL_DEPOT_ROTATE : 0, info.depot_flags);
		/* A second handle reads it from the control area. */
		again = bufpool_open_fd(bufpool_fd(pool));
		ASSERT_NE(NULL, again);
		ASSERT_EQ(0, bufpool_get_info(again, &info));
		EXPECT_EQ(rot ? BUFPOOL_DEPOT_ROTATE : 0, info.depot_flags);
		bufpool_close(again);
		bufpool_close(pool);
	}
	errno = 0;
	EXPECT_EQ(NULL, bufpool_create(&p));	/* a flag nobody defined */
	EXPECT_EQ(EINVAL, errno);
}

/* A single-producer single-consumer ring of buffer pointers. */
struct pc {
	struct bufpool *pool;
	void *ring[RING];
	_Atomic uint64_t head, tail;	/* consumer's, producer's */
	_Atomic uint32_t seen[COUNT];	/* buffers held between the two */
	uint64_t bad;
};

static void *producer(void *arg)
{
	struct pc *pc = arg;
	uint64_t t;
	int64_t idx;
	void *b;

	for (t = 0; t < MESSAGES; t++) {
		while (t - atomic_load_explicit(&pc->head,
						memory_order_acquire) >= RING)
			;
		while (!(b = bufpool_acquire(pc->pool)))
			;
		idx = bufpool_index(pc->pool, b);
		if (idx < 0 || idx >= COUNT ||
		    atomic_fetch_add_explicit(&pc->seen[idx], 1,
					      memory_order_relaxed))
			pc->bad++;	/* taken while somebody held it */
		*(volatile uint32_t *)b = (uint32_t)t;
		pc->ring[t % RING] = b;
		atomic_store_explicit(&pc->tail, t + 1, memory_order_release);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct pc *pc = arg;
	uint64_t h;
	int64_t idx;
	void *b;

	for (h = 0; h < MESSAGES; h++) {
		while (atomic_load_explicit(&pc->tail,
					    memory_order_acquire) == h)
			;
		b = pc->ring[h % RING];
		idx = bufpool_index(pc->pool, b);
		if (*(volatile uint32_t *)b != (uint32_t)h || idx < 0 ||
		    atomic_exchange_explicit(&pc->seen[idx], 0,
					     memory_order_relaxed) != 1 ||
		    bufpool_release(pc->pool, b))
			pc->bad++;
		atomic_store_explicit(&pc->head, h + 1, memory_order_release);
	}
	return NULL;
}

TEST(producer_to_consumer)
{
	struct bufpool_info info;
	const struct bufpool_ctrl *c;
	struct pc *pc;
	pthread_t t[2];
	uint32_t rot, n;
	void **all;

	pc = calloc(1, sizeof(*pc));
	all = calloc(COUNT + 1, sizeof(*all));
	ASSERT_NE(NULL, pc);
	ASSERT_NE(NULL, all);
	for (rot = 0; rot < 2; rot++) {
		memset(pc, 0, sizeof(*pc));
		pc->pool = make(rot ? BUFPOOL_F_ROTATE : 0);
		ASSERT_NE(NULL, pc->pool);
		ASSERT_EQ(0, bufpool_get_info(pc->pool, &info));
		c = mmap(NULL, info.ctrl_size, PROT_READ, MAP_SHARED,
			 bufpool_fd(pc->pool), (off_t)info.ctrl_offset);
		ASSERT_NE(MAP_FAILED, c);
		ASSERT_EQ(0, pthread_create(&t[0], NULL, producer, pc));
		ASSERT_EQ(0, pthread_create(&t[1], NULL, consumer, pc));
		ASSERT_EQ(0, pthread_join(t[0], NULL));
		ASSERT_EQ(0, pthread_join(t[1], NULL));
		EXPECT_EQ(0, pc->bad);
		if (rot) {
			EXPECT_NE(0, c->full2_head >> 24);
			EXPECT_NE(0, c->depot_turn);
		} else {
			EXPECT_EQ(BUFPOOL_IDX_NIL, c->full2_head);
			EXPECT_EQ(0, c->depot_turn);
		}
		munmap((void *)c, info.ctrl_size);
		/* Both threads' caches went back at their exit: all here. */
		for (n = 0; n <= COUNT; n++) {
			all[n] = bufpool_acquire(pc->pool);
			if (!all[n])
				break;
		}
		EXPECT_EQ(COUNT, n);
		while (n--)
			EXPECT_EQ(0, bufpool_release(pc->pool, all[n]));
		bufpool_close(pc->pool);
	}
	free(all);
	free(pc);
}

/* The releases of one thread, in the order given, for another to take. */
struct give {
	struct bufpool *pool;
	void **bufs;
	unsigned int n;
	int failed;
};

static void *giver(void *arg)
{
	struct give *g = arg;
	unsigned int i;

	for (i = 0; i < g->n; i++)
		g->failed |= bufpool_release(g->pool, g->bufs[i]);
	return NULL;	/* its exit flushes its cache into the depot */
}

static void *taker(void *arg)
{
	struct give *g = arg;
	unsigned int i;

	for (i = 0; i < g->n; i++)
		if (!(g->bufs[i] = bufpool_acquire(g->pool)))
			g->failed = 1;
	return NULL;
}

/*
 * One thread gives 4 magazines' worth of buffers in a shuffled order;
 * another, whose cache is new, takes a magazine's worth: they are the
 * buffers of one magazine, in the order they were given where the pool
 * rotates (the first given, whose lines the giver's core let go of
 * first, is the first taken), in the reverse order where it does not
 * (a magazine is a stack: the last given is the first taken, still in
 * the cache of a thread that takes back its own).
 */
TEST(oldest_first)
{
	enum { MAG = 16, N = 4 * MAG };
	void *held[N], *order[N], *got[MAG];
	struct give g = { 0 }, t = { 0 };
	unsigned int i, p, rot;
	pthread_t th;

	for (rot = 0; rot < 2; rot++) {
		g.pool = t.pool = make(rot ? BUFPOOL_F_ROTATE : 0);
		ASSERT_NE(NULL, g.pool);
		for (i = 0; i < N; i++) {
			held[i] = bufpool_acquire(g.pool);
			ASSERT_NE(NULL, held[i]);
		}
		/* 0, 37, 10, 47, ...: 37 is prime to N, so all of them. */
		for (i = 0; i < N; i++)
			order[i] = held[(i * 37) % N];
		g.bufs = order;
		g.n = N;
		ASSERT_EQ(0, pthread_create(&th, NULL, giver, &g));
		ASSERT_EQ(0, pthread_join(th, NULL));
		ASSERT_EQ(0, g.failed);
		t.bufs = got;
		t.n = MAG;
		ASSERT_EQ(0, pthread_create(&th, NULL, taker, &t));
		ASSERT_EQ(0, pthread_join(th, NULL));
		ASSERT_EQ(0, t.failed);
		/* Where the first one taken was in the order given. */
		for (p = 0; p < N && order[p] != got[0]; p++)
			;
		ASSERT_LT(p, N);
		if (rot) {
			/* The first of a magazine, then the others after it. */
			ASSERT_EQ(0, p % MAG);
			for (i = 0; i < MAG; i++)
				EXPECT_EQ(order[p + i], got[i]);
		} else {
			ASSERT_EQ(MAG - 1, p % MAG);
			for (i = 0; i < MAG; i++)
				EXPECT_EQ(order[p - i], got[i]);
		}
		bufpool_close(g.pool);
	}
}

TEST_HARNESS_MAIN
