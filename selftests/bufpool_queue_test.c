// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool selftests of queues and addressed handoff.  They run on
 * whatever bufpool_open(NULL) gives: the module's pool in the VM, a
 * module-free memfd pool on a host without the module.
 *
 * - FIFO order, full (ENOBUFS, the caller still holds the buffer),
 *   empty (EAGAIN), roles (EPERM), buffers not held (EINVAL), every
 *   open error, bulk forms, exact statistics;
 * - producer and consumer in different processes, contents checked; a
 *   new consumer continues where the last one stopped; four producers
 *   and a consumer, every buffer once and in each producer's order;
 * - no system call and no allocation on enqueue and dequeue;
 * - addressed handoff: only the receiver adopts, ESRCH to a client that
 *   is gone;
 * - the last close of a queue gives what it holds back to the pool.
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <bufpool.h>
#include <kselftest_harness.h>

#include "bufpool_pool_helpers.h"
#include "bufpool_selftest.h"

/* ---- allocation counter (not under TSan, which has its own malloc) */
#ifndef BUFPOOL_NO_MALLOC_COUNTER
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);

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

#define HAVE_MALLOC_COUNTER 1
#else
static _Atomic int counting;
static _Atomic long allocations;
#define HAVE_MALLOC_COUNTER 0
#endif

#define RW	(BUFPOOL_QUEUE_CREATE | BUFPOOL_QUEUE_PRODUCE | \
		 BUFPOOL_QUEUE_CONSUME)

FIXTURE(queue) {
	struct bufpool *pool;
	struct bufpool_info info;
	void **held;
	int memfd;
};

FIXTURE_SETUP(queue)
{
	ASSERT_EQ(0, bp_pool_open(&self->pool, &self->info, &self->held));
	self->memfd = !!(self->info.flags & BUFPOOL_INFO_F_MEMFD);
	if (!self->info.nr_queues)
		SKIP(return, "the pool has no queues (queues=0)");
	TH_LOG("%s pool: %u buffers, %u queues of up to %u",
	       self->memfd ? "memfd" : "device", self->info.buf_count,
	       self->info.nr_queues, self->info.queue_len);
}

FIXTURE_TEARDOWN(queue)
{
	bp_pool_close(self->pool, self->held);
}

/*
 * Another client of the same pool: a new open of the device, or on a
 * memfd pool a new handle over its fd (a new client id).
 */
static struct bufpool *other_client(FIXTURE_DATA(queue) *self)
{
	if (self->memfd)
		return bufpool_open_fd(bufpool_fd(self->pool));
	return bufpool_open(NULL);
}

static uint64_t pool_in_use(struct bufpool *pool)
{
	struct bufpool_stats st;

	if (bufpool_stats(pool, &st))
		return UINT64_MAX;
	return st.in_use;
}

TEST_F(queue, fifo_order)
{
	struct bufpool_queue *q = bufpool_queue_open(self->pool, "t_fifo", RW, 16);
	uint32_t i, idx[10], got;
	char *p;

	ASSERT_NE(NULL, q);
	for (i = 0; i < 10; i++) {
		ASSERT_EQ(0, bufpool_acquire_index(self->pool, &idx[i]));
		snprintf(bufpool_addr(self->pool, idx[i]), 32, "item %u", i);
		ASSERT_EQ(0, bufpool_enqueue_index(q, idx[i]));
		/* Queued: no longer this handle's to release. */
		EXPECT_EQ(-1, bufpool_release_index(self->pool, idx[i]));
		EXPECT_EQ(EINVAL, errno);
	}
	for (i = 0; i < 10; i++) {
		p = bufpool_dequeue(q);
		ASSERT_NE(NULL, p);
		EXPECT_EQ(idx[i], (uint32_t)bufpool_index(self->pool, p));
		EXPECT_EQ(i, (uint32_t)strtoul(p + 5, NULL, 10));
		EXPECT_EQ(0, bufpool_release(self->pool, p));
	}
	errno = 0;
	EXPECT_EQ(NULL, bufpool_dequeue(q));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, bufpool_dequeue_index(q, &got));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, bufpool_queue_close(q));
	EXPECT_EQ(0, pool_in_use(self->pool));
}

TEST_F(queue, full_is_enobufs)
{
	struct bufpool_queue *q = bufpool_queue_open(self->pool, "t_full", RW, 3);
	struct bufpool_queue_stats st;
	uint32_t i, idx[5], got;

	ASSERT_NE(NULL, q);
	ASSERT_EQ(0, bufpool_queue_stats(q, &st));
	EXPECT_EQ(4, st.capacity);	/* rounded up */
	for (i = 0; i < 5; i++)
		ASSERT_EQ(0, bufpool_acquire_index(self->pool, &idx[i]));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, bufpool_enqueue_index(q, idx[i]));
	errno = 0;
	EXPECT_EQ(-1, bufpool_enqueue_index(q, idx[4]));
	EXPECT_EQ(ENOBUFS, errno);
	EXPECT_EQ(-1, bufpool_enqueue(q, bufpool_addr(self->pool, idx[4])));
	EXPECT_EQ(ENOBUFS, errno);
	ASSERT_EQ(0, bufpool_queue_stats(q, &st));
	EXPECT_EQ(4, st.depth);
	EXPECT_EQ(4, st.enqueued);
	EXPECT_EQ(2, st.full);
	/* Nothing changed: the refused buffer is still ours to hand off. */
	EXPECT_EQ(0, bufpool_handoff(self->pool, idx[4]));
	EXPECT_EQ(0, bufpool_adopt(self->pool, idx[4]));
	EXPECT_EQ(0, bufpool_release_index(self->pool, idx[4]));
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, bufpool_dequeue_index(q, &got));
		EXPECT_EQ(idx[i], got);
		EXPECT_EQ(0, bufpool_release_index(self->pool, got));
	}
	EXPECT_EQ(0, bufpool_queue_close(q));
}

TEST_F(queue, roles_eperm)
{
	struct bufpool *other = other_client(self);
	struct bufpool_queue *prod, *cons;
	uint32_t idx, got;

	ASSERT_NE(NULL, other);
	prod = bufpool_queue_open(self->pool, "t_roles",
				  BUFPOOL_QUEUE_CREATE | BUFPOOL_QUEUE_PRODUCE, 8);
	ASSERT_NE(NULL, prod);
	cons = bufpool_queue_open(other, "t_roles", BUFPOOL_QUEUE_CONSUME, 0);
	ASSERT_NE(NULL, cons);
	errno = 0;
	EXPECT_EQ(NULL, bufpool_dequeue(prod));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, bufpool_dequeue_index(prod, &got));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, bufpool_acquire_index(other, &idx));
	EXPECT_EQ(-1, bufpool_enqueue_index(cons, idx));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(0, bufpool_release_index(other, idx));
	/* The role holder does take it. */
	ASSERT_EQ(0, bufpool_acquire_index(self->pool, &idx));
	ASSERT_EQ(0, bufpool_enqueue_index(prod, idx));
	ASSERT_EQ(0, bufpool_dequeue_index(cons, &got));
	EXPECT_EQ(idx, got);
	EXPECT_EQ(0, bufpool_release_index(other, got));
	EXPECT_EQ(0, bufpool_queue_close(cons));
	EXPECT_EQ(0, bufpool_queue_close(prod));
	EXPECT_EQ(0, bufpool_close(other));
}

TEST_F(queue, buffers_not_held_are_einval)
{
	struct bufpool_queue *q = bufpool_queue_open(self->pool, "t_notheld", RW, 8);
	struct bufpool_queue_stats st;
	uint32_t idx;
	char *p;

	ASSERT_NE(NULL, q);
	ASSERT_EQ(0, bufpool_acquire_index(self->pool, &idx));
	p = bufpool_addr(self->pool, idx);
	EXPECT_EQ(-1, bufpool_enqueue(q, p + 1));	/* not a start */
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_enqueue(q, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_enqueue_index(q, self->info.buf_count));
	EXPECT_EQ(EINVAL, errno);
	/* Handed off: no longer ours. */
	ASSERT_EQ(0, bufpool_handoff(self->pool, idx));
	EXPECT_EQ(-1, bufpool_enqueue_index(q, idx));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, bufpool_adopt(self->pool, idx));
	/* Released: not ours either, nor twice queued. */
	ASSERT_EQ(0, bufpool_enqueue_index(q, idx));
	EXPECT_EQ(-1, bufpool_enqueue_index(q, idx));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, bufpool_queue_stats(q, &st));
	EXPECT_EQ(1, st.depth);
	ASSERT_EQ(0, bufpool_dequeue_index(q, &idx));
	ASSERT_EQ(0, bufpool_release_index(self->pool, idx));
	EXPECT_EQ(-1, bufpool_enqueue_index(q, idx));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, bufpool_queue_close(q));
}

#define EXPECT_OPEN_FAILS(err, pool, name, flags, cap) do {		\
		errno = 0;						\
		EXPECT_EQ(NULL, bufpool_queue_open(pool, name, flags, cap)); \
		EXPECT_EQ(err, errno);					\
	} while (0)

TEST_F(queue, open_errors)
{
	struct bufpool *other = other_client(self);
	struct bufpool_queue *q, *q2, *more[BUFPOOL_MAX_QUEUES + 1];
	char name[40];
	unsigned int i, n;

	ASSERT_NE(NULL, other);
	EXPECT_OPEN_FAILS(EINVAL, self->pool, "", RW, 8);
	EXPECT_OPEN_FAILS(EINVAL, self->pool, NULL, RW, 8);
	EXPECT_OPEN_FAILS(EINVAL, self->pool, "a/b", RW, 8);
	EXPECT_OPEN_FAILS(EINVAL, self->pool, "with space", RW, 8);
	EXPECT_OPEN_FAILS(EINVAL, self->pool,
			  "abcdefghijklmnopqrstuvwxyz012345", RW, 8); /* 32 */
	EXPECT_OPEN_FAILS(EINVAL, self->pool, "t_open", RW, 0);
	EXPECT_OPEN_FAILS(EINVAL, self->pool, "t_open", RW,
			  self->info.queue_len + 1);
	EXPECT_OPEN_FAILS(EINVAL, self->pool, "t_open", RW | 0x100, 8);
	EXPECT_OPEN_FAILS(EINVAL, self->pool, "t_open",
			  BUFPOOL_QUEUE_EXCL | BUFPOOL_QUEUE_PRODUCE, 8);
	EXPECT_OPEN_FAILS(EINVAL, NULL, "t_open", RW, 8);
	EXPECT_OPEN_FAILS(ENOENT, self->pool, "t_open", BUFPOOL_QUEUE_PRODUCE, 0);

	/* 31 characters and every kind allowed: fine. */
	q = bufpool_queue_open(self->pool, "Az09_.-abcdefghijklmnopqrstuvwx",
			       RW | BUFPOOL_QUEUE_EXCL, self->info.queue_len);
	ASSERT_NE(NULL, q);
	EXPECT_OPEN_FAILS(EALREADY, self->pool,
			  "Az09_.-abcdefghijklmnopqrstuvwx", BUFPOOL_QUEUE_PRODUCE, 0);
	EXPECT_OPEN_FAILS(EEXIST, other, "Az09_.-abcdefghijklmnopqrstuvwx",
			  BUFPOOL_QUEUE_CREATE | BUFPOOL_QUEUE_EXCL, 8);
	EXPECT_OPEN_FAILS(EBUSY, other, "Az09_.-abcdefghijklmnopqrstuvwx",
			  BUFPOOL_QUEUE_CONSUME, 0);
	/* Opened without CREATE, capacity is ignored. */
	q2 = bufpool_queue_open(other, "Az09_.-abcdefghijklmnopqrstuvwx",
				BUFPOOL_QUEUE_PRODUCE, 12345);
	ASSERT_NE(NULL, q2);
	EXPECT_EQ(0, bufpool_queue_close(q2));

	/* Single producer: the role is taken like the consumer's. */
	q2 = bufpool_queue_open(self->pool, "t_sp",
				BUFPOOL_QUEUE_CREATE | BUFPOOL_QUEUE_PRODUCE |
				BUFPOOL_QUEUE_SINGLE_PRODUCER, 8);
	ASSERT_NE(NULL, q2);
	EXPECT_OPEN_FAILS(EBUSY, other, "t_sp", BUFPOOL_QUEUE_PRODUCE, 0);
	EXPECT_EQ(0, bufpool_queue_close(q2));

	/* Every descriptor taken: ENOSPC (some may be declared ones). */
	for (n = 0; n <= self->info.nr_queues; n++) {
		snprintf(name, sizeof(name), "t_fill%u", n);
		more[n] = bufpool_queue_open(self->pool, name, RW, 2);
		if (!more[n])
			break;
	}
	EXPECT_GE(self->info.nr_queues, n);
	EXPECT_EQ(ENOSPC, errno);
	for (i = 0; i < n; i++)
		EXPECT_EQ(0, bufpool_queue_close(more[i]));
	EXPECT_EQ(0, bufpool_queue_close(q));
	/* The last user gone, it is gone. */
	EXPECT_OPEN_FAILS(ENOENT, other, "Az09_.-abcdefghijklmnopqrstuvwx",
			  BUFPOOL_QUEUE_PRODUCE, 0);
	EXPECT_EQ(0, bufpool_close(other));
}

TEST_F(queue, bulk_forms)
{
	struct bufpool_queue *q = bufpool_queue_open(self->pool, "t_bulk", RW, 8);
	void *in[12], *out[12];
	unsigned int i, n;

	ASSERT_NE(NULL, q);
	ASSERT_EQ(12, bufpool_acquire_bulk(self->pool, in, 12));
	EXPECT_EQ(5, bufpool_enqueue_bulk(q, in, 5));
	EXPECT_EQ(3, bufpool_dequeue_bulk(q, out, 3));
	for (i = 0; i < 3; i++)
		EXPECT_EQ(in[i], out[i]);
	/* Room for 6: stops at the first that cannot go. */
	errno = 0;
	EXPECT_EQ(6, bufpool_enqueue_bulk(q, in + 5, 7));
	EXPECT_EQ(ENOBUFS, errno);
	n = bufpool_dequeue_bulk(q, out + 3, 9);
	EXPECT_EQ(8, n);
	for (i = 0; i < 11; i++)
		EXPECT_EQ(in[i], out[i]);
	errno = 0;
	EXPECT_EQ(0, bufpool_dequeue_bulk(q, out, 4));
	EXPECT_EQ(EAGAIN, errno);
	/* A pointer not held stops enqueue_bulk there. */
	EXPECT_EQ(0, bufpool_release_bulk(self->pool, out, 11));
	EXPECT_EQ(1, bufpool_enqueue_bulk(q, in + 11, 1));
	EXPECT_EQ(0, bufpool_enqueue_bulk(q, in, 2));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(1, bufpool_dequeue_bulk(q, out, 12));
	EXPECT_EQ(in[11], out[0]);
	EXPECT_EQ(0, bufpool_release(self->pool, out[0]));
	EXPECT_EQ(0, bufpool_queue_close(q));
	EXPECT_EQ(0, pool_in_use(self->pool));
}

/*
 * The bulk enqueue of single-producer and multi-producer queues (two
 * copies of one loop, library 1.9.2): entries cross a lap in order, a
 * full queue stops the call with ENOBUFS, and a buffer named twice in
 * one call goes in once: the second time it is no longer the caller's
 * (EINVAL), and nothing after it goes in.
 */
TEST_F(queue, bulk_enqueue_both_modes)
{
	static const unsigned int modes[2] = {
		RW, RW | BUFPOOL_QUEUE_SINGLE_PRODUCER
	};
	void *in[9], *out[8], *twice[4];
	struct bufpool_queue *q;
	unsigned int m, i;
	char name[16];

	ASSERT_EQ(9, bufpool_acquire_bulk(self->pool, in, 9));
	for (m = 0; m < 2; m++) {
		snprintf(name, sizeof(name), "t_bmode%u", m);
		q = bufpool_queue_open(self->pool, name, modes[m], 8);
		ASSERT_NE(NULL, q);
		/* Positions 5 to 12: across the end of the first lap. */
		ASSERT_EQ(5, bufpool_enqueue_bulk(q, in, 5));
		ASSERT_EQ(5, bufpool_dequeue_bulk(q, out, 8));
		EXPECT_EQ(8, bufpool_enqueue_bulk(q, in, 8));
		EXPECT_EQ(8, bufpool_dequeue_bulk(q, out, 8));
		for (i = 0; i < 8; i++)
			EXPECT_EQ(in[i], out[i]);
		/* Full after 8: the ninth stays ours (released below). */
		ASSERT_EQ(8, bufpool_enqueue_bulk(q, in, 8));
		errno = 0;
		EXPECT_EQ(0, bufpool_enqueue_bulk(q, in + 8, 1));
		EXPECT_EQ(ENOBUFS, errno);
		/* A queued buffer is not the caller's to send again. */
		errno = 0;
		EXPECT_EQ(0, bufpool_enqueue_bulk(q, in, 1));
		EXPECT_EQ(EINVAL, errno);
		ASSERT_EQ(8, bufpool_dequeue_bulk(q, out, 8));
		/* A buffer named twice: the first goes in, the call stops. */
		twice[0] = in[0];
		twice[1] = in[1];
		twice[2] = in[0];
		twice[3] = in[2];
		errno = 0;
		EXPECT_EQ(2, bufpool_enqueue_bulk(q, twice, 4));
		EXPECT_EQ(EINVAL, errno);
		errno = 0;
		EXPECT_EQ(2, bufpool_dequeue_bulk(q, out, 8));
		EXPECT_EQ(EAGAIN, errno);
		EXPECT_EQ(in[0], out[0]);
		EXPECT_EQ(in[1], out[1]);
		EXPECT_EQ(0, bufpool_queue_close(q));
	}
	EXPECT_EQ(0, bufpool_release_bulk(self->pool, in, 9));
	EXPECT_EQ(0, pool_in_use(self->pool));
}

/*
 * Bulk calls of every size over many laps of a small queue, mixed with
 * single calls: the order, the counters and the high watermark are those
 * of the same entries sent one by one (a bulk call reads the tail or
 * head once and continues from its own last position).
 */
TEST_F(queue, bulk_over_laps)
{
	struct bufpool_queue *q = bufpool_queue_open(self->pool, "t_blaps", RW, 8);
	struct bufpool_queue_stats st;
	unsigned int i, k, round, sent = 0, got = 0, hw = 0;
	void *in[8], *out[8];
	uint32_t idx;

	ASSERT_NE(NULL, q);
	ASSERT_EQ(8, bufpool_acquire_bulk(self->pool, in, 8));
	for (round = 0; round < 40; round++) {
		k = round % 8 + 1;
		if (round % 5 == 4) {
			/* One by one this time, the rest in bulk. */
			ASSERT_EQ(0, bufpool_enqueue(q, in[0]));
			ASSERT_EQ(k - 1, bufpool_enqueue_bulk(q, in + 1, k - 1));
		} else {
			ASSERT_EQ(k, bufpool_enqueue_bulk(q, in, k));
		}
		sent += k;
		hw = k > hw ? k : hw;
		ASSERT_EQ(0, bufpool_queue_stats(q, &st));
		EXPECT_EQ(sent, st.enqueued);
		EXPECT_EQ(k, st.depth);
		EXPECT_EQ(hw, st.high_watermark);
		if (round % 3 == 2) {
			ASSERT_EQ(0, bufpool_dequeue_index(q, &idx));
			EXPECT_EQ(bufpool_addr(self->pool, idx), in[0]);
			out[0] = in[0];
			ASSERT_EQ(k - 1, bufpool_dequeue_bulk(q, out + 1, 8));
		} else {
			ASSERT_EQ(k, bufpool_dequeue_bulk(q, out, 8));
		}
		got += k;
		for (i = 0; i < k; i++)
			EXPECT_EQ(in[i], out[i]);
		EXPECT_EQ(0, bufpool_dequeue_bulk(q, out, 1));
		EXPECT_EQ(EAGAIN, errno);
	}
	ASSERT_EQ(0, bufpool_queue_stats(q, &st));
	EXPECT_EQ(got, st.dequeued);
	EXPECT_EQ(0, st.depth);
	EXPECT_EQ(0, st.full);
	EXPECT_EQ(0, bufpool_release_bulk(self->pool, in, 8));
	EXPECT_EQ(0, bufpool_queue_close(q));
	EXPECT_EQ(0, pool_in_use(self->pool));
}

TEST_F(queue, statistics_exact)
{
	struct bufpool_queue *q = bufpool_queue_open(self->pool, "t_stats", RW, 8);
	struct bufpool_queue_stats st;
	uint32_t i, idx[11], got;

	ASSERT_NE(NULL, q);
	for (i = 0; i < 11; i++)
		ASSERT_EQ(0, bufpool_acquire_index(self->pool, &idx[i]));
	for (i = 0; i < 5; i++)
		ASSERT_EQ(0, bufpool_enqueue_index(q, idx[i]));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, bufpool_dequeue_index(q, &got));
		ASSERT_EQ(0, bufpool_release_index(self->pool, got));
	}
	for (i = 5; i < 10; i++)
		ASSERT_EQ(0, bufpool_enqueue_index(q, idx[i]));
	EXPECT_EQ(-1, bufpool_enqueue_index(q, idx[10]));
	ASSERT_EQ(0, bufpool_queue_stats(q, &st));
	EXPECT_EQ(8, st.capacity);
	EXPECT_EQ(8, st.depth);
	EXPECT_EQ(10, st.enqueued);
	EXPECT_EQ(2, st.dequeued);
	EXPECT_EQ(1, st.full);
	EXPECT_EQ(8, st.high_watermark);
	EXPECT_EQ(bufpool_client_id(self->pool), st.consumer);
	EXPECT_EQ(-1, bufpool_queue_stats(q, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_queue_stats(NULL, &st));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, bufpool_release_index(self->pool, idx[10]));
	EXPECT_EQ(0, bufpool_queue_close(q));
	/* The queue's 8 went back with its last close. */
	EXPECT_EQ(0, pool_in_use(self->pool));
}

/* A child process produces through its own handle; we consume. */
TEST_F(queue, across_processes)
{
	struct bufpool_queue *q;
	int status, i;
	char *p, want[32];
	pid_t pid;

	q = bufpool_queue_open(self->pool, "t_xproc",
			       BUFPOOL_QUEUE_CREATE | BUFPOOL_QUEUE_CONSUME, 64);
	ASSERT_NE(NULL, q);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct bufpool *pool = other_client(self);
		struct bufpool_queue *pq;

		if (!pool)
			_exit(1);
		pq = bufpool_queue_open(pool, "t_xproc", BUFPOOL_QUEUE_PRODUCE, 0);
		if (!pq)
			_exit(2);
		for (i = 0; i < 50; i++) {
			p = bufpool_acquire(pool);
			if (!p)
				_exit(3);
			snprintf(p, 32, "from %d: %d", (int)getpid(), i);
			if (bufpool_enqueue(pq, p))
				_exit(4);
		}
		bufpool_close(pool);	/* closes pq: we keep it open */
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, status);
	for (i = 0; i < 50; i++) {
		p = bufpool_dequeue(q);
		ASSERT_NE(NULL, p);
		snprintf(want, sizeof(want), "from %d: %d", (int)pid, i);
		EXPECT_STREQ(want, p);
		EXPECT_EQ(0, bufpool_release(self->pool, p));
	}
	EXPECT_EQ(NULL, bufpool_dequeue(q));
	EXPECT_EQ(0, bufpool_queue_close(q));
}

/* A consumer closes; the next one continues in order. */
TEST_F(queue, next_consumer_continues)
{
	struct bufpool *other = other_client(self);
	struct bufpool_queue *prod, *c1, *c2;
	struct bufpool_queue_stats st;
	uint32_t i, idx[10], got;

	ASSERT_NE(NULL, other);
	prod = bufpool_queue_open(self->pool, "t_next",
				  BUFPOOL_QUEUE_CREATE | BUFPOOL_QUEUE_PRODUCE, 16);
	ASSERT_NE(NULL, prod);
	c1 = bufpool_queue_open(other, "t_next", BUFPOOL_QUEUE_CONSUME, 0);
	ASSERT_NE(NULL, c1);
	for (i = 0; i < 10; i++) {
		ASSERT_EQ(0, bufpool_acquire_index(self->pool, &idx[i]));
		ASSERT_EQ(0, bufpool_enqueue_index(prod, idx[i]));
	}
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, bufpool_dequeue_index(c1, &got));
		EXPECT_EQ(idx[i], got);
		EXPECT_EQ(0, bufpool_release_index(other, got));
	}
	EXPECT_EQ(0, bufpool_queue_close(c1));
	ASSERT_EQ(0, bufpool_queue_stats(prod, &st));
	EXPECT_EQ(0, st.consumer);
	EXPECT_EQ(7, st.depth);
	c2 = bufpool_queue_open(other, "t_next", BUFPOOL_QUEUE_CONSUME, 0);
	ASSERT_NE(NULL, c2);
	for (i = 3; i < 10; i++) {
		ASSERT_EQ(0, bufpool_dequeue_index(c2, &got));
		EXPECT_EQ(idx[i], got);
		EXPECT_EQ(0, bufpool_release_index(other, got));
	}
	EXPECT_EQ(0, bufpool_queue_close(c2));
	EXPECT_EQ(0, bufpool_queue_close(prod));
	EXPECT_EQ(0, bufpool_close(other));
}

/* ---- four producers, one consumer --------------------------------- */
#define MPSC_PRODUCERS	4
#ifdef __SANITIZE_THREAD__
#define MPSC_ITEMS	1000
#else
#define MPSC_ITEMS	20000
#endif

struct mpsc {
	struct bufpool *pool;
	struct bufpool_queue *q;
	int id;
	int fail;
};

struct item {
	uint32_t producer;
	uint32_t seq;
};

static void *mpsc_producer(void *arg)
{
	struct mpsc *m = arg;
	struct item *it;
	uint32_t seq;

	for (seq = 0; seq < MPSC_ITEMS; seq++) {
		while (!(it = bufpool_acquire(m->pool))) {
			if (errno != ENOBUFS) {
				m->fail = 1;
				return NULL;
			}
			sched_yield();
		}
		it->producer = (uint32_t)m->id;
		it->seq = seq;
		while (bufpool_enqueue(m->q, it)) {
			if (errno != ENOBUFS && errno != EAGAIN) {
				m->fail = 2;
				return NULL;
			}
			sched_yield();
		}
	}
	return NULL;
}

static void *mpsc_consumer(void *arg)
{
	struct mpsc *m = arg;
	uint32_t next[MPSC_PRODUCERS] = { 0 }, got = 0;
	struct item *it;

	while (got < MPSC_PRODUCERS * MPSC_ITEMS) {
		it = bufpool_dequeue(m->q);
		if (!it) {
			if (errno != EAGAIN) {
				m->fail = 3;
				return NULL;
			}
			sched_yield();
			continue;
		}
		if (it->producer >= MPSC_PRODUCERS ||
		    it->seq != next[it->producer]) {
			m->fail = 4;	/* lost, twice, or out of order */
			return NULL;
		}
		next[it->producer]++;
		got++;
		it->producer = UINT32_MAX;
		if (bufpool_release(m->pool, it)) {
			m->fail = 5;
			return NULL;
		}
	}
	return NULL;
}

TEST_F_TIMEOUT(queue, mpsc_every_buffer_once_in_order, 240)
{
	struct mpsc m[MPSC_PRODUCERS + 1];
	pthread_t t[MPSC_PRODUCERS + 1];
	struct bufpool_queue_stats st;
	struct bufpool_queue *q;
	int i;

	q = bufpool_queue_open(self->pool, "t_mpsc", RW, 256);
	ASSERT_NE(NULL, q);
	for (i = 0; i <= MPSC_PRODUCERS; i++) {
		m[i] = (struct mpsc){ .pool = self->pool, .q = q, .id = i };
		ASSERT_EQ(0, pthread_create(&t[i], NULL,
					    i < MPSC_PRODUCERS ? mpsc_producer :
					    mpsc_consumer, &m[i]));
	}
	for (i = 0; i <= MPSC_PRODUCERS; i++) {
		ASSERT_EQ(0, pthread_join(t[i], NULL));
		EXPECT_EQ(0, m[i].fail);
	}
	ASSERT_EQ(0, bufpool_queue_stats(q, &st));
	EXPECT_EQ(MPSC_PRODUCERS * MPSC_ITEMS, st.enqueued);
	EXPECT_EQ(MPSC_PRODUCERS * MPSC_ITEMS, st.dequeued);
	EXPECT_EQ(0, st.depth);
	EXPECT_GE(256, st.high_watermark);
	EXPECT_EQ(0, bufpool_queue_close(q));
	EXPECT_EQ(0, pool_in_use(self->pool));
}

/* ---- no system call, no allocation -------------------------------- */
static int queue_rounds(struct bufpool *pool, struct bufpool_queue *q,
			int rounds)
{
	void *b[16];
	int r, i;

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < 16; i++) {
			b[i] = bufpool_acquire(pool);
			if (!b[i] || bufpool_enqueue(q, b[i]))
				return -1;
		}
		if (bufpool_dequeue_bulk(q, b, 8) != 8 ||
		    bufpool_enqueue_bulk(q, b, 8) != 8)
			return -1;
		for (i = 0; i < 16; i++) {
			b[i] = bufpool_dequeue(q);
			if (!b[i] || bufpool_release(pool, b[i]))
				return -1;
		}
	}
	return 0;
}

TEST_F(queue, no_syscalls)
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
	struct bufpool_queue *q = bufpool_queue_open(self->pool, "t_nosys", RW, 64);
	int status;
	pid_t pid;

#ifdef __SANITIZE_THREAD__
	SKIP(return, "the TSan runtime makes system calls of its own");
#endif
	ASSERT_NE(NULL, q);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
			_exit(3);
		if (queue_rounds(self->pool, q, 1000))
			_exit(1);
		bufpool_flush_cache(self->pool);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	if (WIFSIGNALED(status))
		TH_LOG("child killed by signal %d (SIGSYS: a system call)",
		       WTERMSIG(status));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(0, bufpool_queue_close(q));
}

TEST_F(queue, no_allocation)
{
	struct bufpool_queue *q = bufpool_queue_open(self->pool, "t_noalloc", RW, 64);

	if (!HAVE_MALLOC_COUNTER)
		SKIP(return, "no allocation counter in this build");
	ASSERT_NE(NULL, q);
	atomic_store(&allocations, 0);
	atomic_store(&counting, 1);
	ASSERT_EQ(0, queue_rounds(self->pool, q, 200));
	atomic_store(&counting, 0);
	EXPECT_EQ(0, atomic_load(&allocations));
	EXPECT_EQ(0, bufpool_queue_close(q));
}

/* ---- addressed handoff -------------------------------------------- */
TEST_F(queue, handoff_to)
{
	struct bufpool *recv = other_client(self), *third = other_client(self);
	uint32_t me = bufpool_client_id(self->pool), idx, gone;

	ASSERT_NE(NULL, recv);
	ASSERT_NE(NULL, third);
	ASSERT_EQ(0, bufpool_acquire_index(self->pool, &idx));
	EXPECT_EQ(-1, bufpool_handoff_to(self->pool, idx, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_handoff_to(self->pool, idx, BUFPOOL_CLIENT_MAX + 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_handoff_to(self->pool, idx, me));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_handoff_to(NULL, idx, bufpool_client_id(recv)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_handoff_to(self->pool, self->info.buf_count,
					 bufpool_client_id(recv)));
	EXPECT_EQ(EINVAL, errno);

	strcpy(bufpool_addr(self->pool, idx), "for you");
	ASSERT_EQ(0, bufpool_handoff_to(self->pool, idx, bufpool_client_id(recv)));
	/* Handed: not the giver's any more, nor anyone's but recv's. */
	EXPECT_EQ(-1, bufpool_release_index(self->pool, idx));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_handoff_to(self->pool, idx, bufpool_client_id(third)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_adopt(third, idx));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_adopt(self->pool, idx));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, bufpool_adopt(recv, idx));
	EXPECT_STREQ("for you", (char *)bufpool_addr(recv, idx));
	EXPECT_EQ(-1, bufpool_adopt(recv, idx));	/* once */
	EXPECT_EQ(0, bufpool_release_index(recv, idx));

	/* A receiver that is gone: ESRCH, and the giver still holds it. */
	gone = bufpool_client_id(third);
	ASSERT_EQ(0, bufpool_close(third));
	ASSERT_EQ(0, bufpool_acquire_index(self->pool, &idx));
	errno = 0;
	EXPECT_EQ(-1, bufpool_handoff_to(self->pool, idx, gone));
	EXPECT_EQ(ESRCH, errno);
	EXPECT_EQ(0, bufpool_release_index(self->pool, idx));
	EXPECT_EQ(0, bufpool_close(recv));
}

/* ---- creators racing ---------------------------------------------- */
#define RACERS	6

struct racer {
	struct bufpool *pool;
	struct bufpool_queue *q;
	pthread_barrier_t *go;
};

static void *race_open(void *arg)
{
	struct racer *r = arg;

	int tries;

	pthread_barrier_wait(r->go);
	/* EAGAIN: lost too many races to the others (documented). */
	for (tries = 0; tries < 1000; tries++) {
		r->q = bufpool_queue_open(r->pool, "t_race",
					  BUFPOOL_QUEUE_CREATE |
					  BUFPOOL_QUEUE_PRODUCE, 16);
		if (r->q || errno != EAGAIN)
			break;
		sched_yield();
	}
	return NULL;
}

/* Clients creating one name at once all get the one queue. */
TEST_F(queue, creators_racing_share_one_queue)
{
	struct bufpool_queue_stats st;
	struct racer r[RACERS];
	pthread_barrier_t go;
	pthread_t t[RACERS];
	uint32_t idx;
	int i, round;

	for (round = 0; round < 20; round++) {
		ASSERT_EQ(0, pthread_barrier_init(&go, NULL, RACERS));
		for (i = 0; i < RACERS; i++) {
			r[i] = (struct racer){ .pool = other_client(self),
					       .go = &go };
			ASSERT_NE(NULL, r[i].pool);
			ASSERT_EQ(0, pthread_create(&t[i], NULL, race_open, &r[i]));
		}
		for (i = 0; i < RACERS; i++) {
			ASSERT_EQ(0, pthread_join(t[i], NULL));
			ASSERT_NE(NULL, r[i].q);
		}
		ASSERT_EQ(0, bufpool_acquire_index(r[0].pool, &idx));
		ASSERT_EQ(0, bufpool_enqueue_index(r[0].q, idx));
		for (i = 0; i < RACERS; i++) {
			ASSERT_EQ(0, bufpool_queue_stats(r[i].q, &st));
			EXPECT_EQ(1, st.depth);
		}
		for (i = 0; i < RACERS; i++)
			EXPECT_EQ(0, bufpool_close(r[i].pool));
		pthread_barrier_destroy(&go);
		EXPECT_EQ(0, pool_in_use(self->pool));
	}
}

/* ---- last close --------------------------------------------------- */
TEST_F(queue, last_close_returns_buffers)
{
	struct bufpool *other = other_client(self);
	struct bufpool_queue *q, *q2;
	struct bufpool_stats st;
	uint32_t i, idx;

	ASSERT_NE(NULL, other);
	q = bufpool_queue_open(self->pool, "t_last", RW, 128);
	ASSERT_NE(NULL, q);
	for (i = 0; i < 100; i++) {
		ASSERT_EQ(0, bufpool_acquire_index(self->pool, &idx));
		ASSERT_EQ(0, bufpool_enqueue_index(q, idx));
	}
	EXPECT_EQ(100, pool_in_use(self->pool));
	EXPECT_EQ(0, bufpool_queue_close(q));
	ASSERT_EQ(0, bufpool_stats(self->pool, &st));
	EXPECT_EQ(0, st.in_use);
	EXPECT_EQ(st.total, st.free);
	/* Made again, it is a new, empty queue. */
	q = bufpool_queue_open(self->pool, "t_last",
			       RW | BUFPOOL_QUEUE_EXCL, 128);
	ASSERT_NE(NULL, q);
	EXPECT_EQ(NULL, bufpool_dequeue(q));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, bufpool_queue_close(q));

	/* bufpool_close closes a queue left open: another client's view. */
	q2 = bufpool_queue_open(other, "t_last2", RW, 64);
	ASSERT_NE(NULL, q2);
	for (i = 0; i < 40; i++) {
		ASSERT_EQ(0, bufpool_acquire_index(other, &idx));
		ASSERT_EQ(0, bufpool_enqueue_index(q2, idx));
	}
	EXPECT_EQ(40, pool_in_use(self->pool));
	ASSERT_EQ(0, bufpool_close(other));
	ASSERT_EQ(0, bufpool_stats(self->pool, &st));
	EXPECT_EQ(0, st.in_use);
	EXPECT_EQ(NULL, bufpool_queue_open(self->pool, "t_last2",
					   BUFPOOL_QUEUE_PRODUCE, 0));
	EXPECT_EQ(ENOENT, errno);
}

/* The kernel frees a dead consumer's role; contents stay queued. */
TEST_F(queue, dead_consumer_leaves_contents)
{
	struct bufpool_queue *prod, *cons;
	uint32_t i, idx[4], got;
	struct bufpool *other;
	int status;
	pid_t pid;

	if (self->memfd)
		SKIP(return, "module-free pools have no death handling");
	prod = bufpool_queue_open(self->pool, "t_dead",
				  BUFPOOL_QUEUE_CREATE | BUFPOOL_QUEUE_PRODUCE, 8);
	ASSERT_NE(NULL, prod);
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, bufpool_acquire_index(self->pool, &idx[i]));
		ASSERT_EQ(0, bufpool_enqueue_index(prod, idx[i]));
	}
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct bufpool *pool = other_client(self);
		struct bufpool_queue *c;

		c = pool ? bufpool_queue_open(pool, "t_dead",
					      BUFPOOL_QUEUE_CONSUME, 0) : NULL;
		if (!c || bufpool_dequeue_index(c, &got) || got != idx[0])
			_exit(1);
		kill(getpid(), SIGKILL);	/* holding it and the role */
		_exit(2);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status));
	/* The next consumer, another client (this one produces). */
	other = other_client(self);
	ASSERT_NE(NULL, other);
	cons = bufpool_queue_open(other, "t_dead", BUFPOOL_QUEUE_CONSUME, 0);
	ASSERT_NE(NULL, cons);
	for (i = 1; i < 4; i++) {
		ASSERT_EQ(0, bufpool_dequeue_index(cons, &got));
		EXPECT_EQ(idx[i], got);
		EXPECT_EQ(0, bufpool_release_index(other, got));
	}
	EXPECT_EQ(0, bufpool_queue_close(cons));
	EXPECT_EQ(0, bufpool_queue_close(prod));
	bufpool_close(other);
}

TEST_HARNESS_MAIN
