// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of the shared free list (uapi/linux/bufpool_freelist.h)
 * through the library's C11 shims, over plain memory: no module needed.
 * Built twice: plain, and with -fsanitize=thread.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bufpool/magazine.h>
#include <bufpool/stats.h>
#include <kselftest_harness.h>

#define N	1024

FIXTURE(fl) {
	__u64 head;
	__u32 next[N];
};

FIXTURE_SETUP(fl)
{
	bp_fl_init(&self->head, self->next, N);
}

FIXTURE_TEARDOWN(fl)
{
}

TEST_F(fl, init_links_every_buffer_once)
{
	unsigned char seen[N] = { 0 };
	__u32 i, idx;

	for (i = 0; i < N; i++) {
		idx = bp_fl_pop(&self->head, self->next, N);
		ASSERT_GT(N, idx);
		ASSERT_EQ(0, seen[idx]);
		seen[idx] = 1;
	}
	EXPECT_EQ(BUFPOOL_IDX_NIL, bp_fl_pop(&self->head, self->next, N));
	EXPECT_EQ(BUFPOOL_IDX_NIL, bp_fl_pop(&self->head, self->next, N));
}

TEST_F(fl, lifo_reuse)
{
	__u32 a, b;

	a = bp_fl_pop(&self->head, self->next, N);
	b = bp_fl_pop(&self->head, self->next, N);
	ASSERT_NE(a, b);
	bp_fl_push(&self->head, self->next, a);
	bp_fl_push(&self->head, self->next, b);
	EXPECT_EQ(b, bp_fl_pop(&self->head, self->next, N));
	EXPECT_EQ(a, bp_fl_pop(&self->head, self->next, N));
}

TEST_F(fl, push_chain)
{
	__u32 a, b, c;

	a = bp_fl_pop(&self->head, self->next, N);
	b = bp_fl_pop(&self->head, self->next, N);
	c = bp_fl_pop(&self->head, self->next, N);
	self->next[a] = b;
	self->next[b] = c;
	bp_fl_push_chain(&self->head, self->next, a, c);
	EXPECT_EQ(a, bp_fl_pop(&self->head, self->next, N));
	EXPECT_EQ(b, bp_fl_pop(&self->head, self->next, N));
	EXPECT_EQ(c, bp_fl_pop(&self->head, self->next, N));
}

/* Every successful update moves the tag; wrapping keeps the index. */
TEST_F(fl, tag_moves_and_wraps)
{
	__u64 before = self->head;
	__u32 idx;

	idx = bp_fl_pop(&self->head, self->next, N);
	EXPECT_EQ((before >> BP_FL_TAG_SHIFT) + 1, self->head >> BP_FL_TAG_SHIFT);
	self->head = bp_fl_pack(bp_fl_idx(self->head), (1ull << 40) - 1);
	bp_fl_push(&self->head, self->next, idx);
	EXPECT_EQ(0, self->head >> BP_FL_TAG_SHIFT);
	EXPECT_EQ(idx, bp_fl_pop(&self->head, self->next, N));
}

/*
 * ABA: a thread reads head {A, t}, stalls; others pop A, pop B, push A.
 * The head holds A again, but with another tag: the stale CAS fails.
 */
TEST_F(fl, stale_cas_fails_after_aba)
{
	__u64 stale = self->head;
	__u32 a, b;

	a = bp_fl_pop(&self->head, self->next, N);
	b = bp_fl_pop(&self->head, self->next, N);
	bp_fl_push(&self->head, self->next, a);
	EXPECT_EQ(a, bp_fl_idx(self->head));
	EXPECT_EQ(a, bp_fl_idx(stale));
	EXPECT_FALSE(bp_cas_acqrel_u64(&self->head, &stale,
					bp_fl_pack(self->next[a], 0)));
	EXPECT_EQ(a, bp_fl_pop(&self->head, self->next, N));
	EXPECT_NE(b, bp_fl_idx(self->head));
}

TEST_F(fl, corrupt_head_reported)
{
	self->head = bp_fl_pack(N + 5, 9);
	EXPECT_EQ(BP_FL_CORRUPT, bp_fl_pop(&self->head, self->next, N));
	/* Nothing was changed. */
	EXPECT_EQ(bp_fl_pack(N + 5, 9), self->head);
}

TEST_F(fl, corrupt_link_reported)
{
	__u64 head = self->head;

	self->next[bp_fl_idx(head)] = N + 77;
	EXPECT_EQ(BP_FL_CORRUPT, bp_fl_pop(&self->head, self->next, N));
	EXPECT_EQ(head, self->head);
}

/* Bits above the index width are ignored, not followed. */
TEST_F(fl, link_high_bits_masked)
{
	__u32 first = bp_fl_idx(self->head);

	self->next[first] = 0xab000000u | 7;
	EXPECT_EQ(first, bp_fl_pop(&self->head, self->next, N));
	EXPECT_EQ(7, bp_fl_pop(&self->head, self->next, N));
}

/*
 * An entry linked to itself is reported, not taken: taking it would leave
 * it at the head for the next taker.
 */
TEST_F(fl, self_link_reported)
{
	__u64 head = self->head;

	self->next[bp_fl_idx(head)] = bp_fl_idx(head);
	EXPECT_EQ(BP_FL_CORRUPT, bp_fl_pop(&self->head, self->next, N));
	EXPECT_EQ(head, self->head);
	/* The high bits are masked before the comparison. */
	self->next[bp_fl_idx(head)] = 0xab000000u | bp_fl_idx(head);
	EXPECT_EQ(BP_FL_CORRUPT, bp_fl_pop(&self->head, self->next, N));
	EXPECT_EQ(head, self->head);
}

/*
 * A longer cycle written by a buggy client cannot hang a pop either:
 * each is O(1), and the two entries come round in turn.
 */
TEST_F(fl, cycle_does_not_hang)
{
	__u32 first = bp_fl_idx(self->head);
	__u32 second = self->next[first];
	int i;

	self->next[second] = first;
	for (i = 0; i < 1000; i++)
		EXPECT_EQ(i & 1 ? second : first,
			  bp_fl_pop(&self->head, self->next, N));
}

/* Threads pop and push with a per-buffer owner marker. */
#define NTHREADS	4
#define ITERS		200000

struct shared {
	__u64 head;
	__u32 next[N];
	_Atomic uint32_t owner[N];
};

struct worker {
	struct shared *s;
	uint32_t id;
	uint64_t double_held;
	uint64_t errors;
	uint64_t busy;		/* BP_FL_BUSY among the errors */
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	struct shared *s = w->s;
	__u32 held[8];
	int it, n, k;

	for (it = 0; it < ITERS; it++) {
		int burst = 1 + (it + w->id) % 8;

		for (n = 0; n < burst; n++) {
			uint32_t expect = 0;

			held[n] = bp_fl_pop(&s->head, s->next, N);
			if (held[n] >= N) {
				if (held[n] != BUFPOOL_IDX_NIL)
					w->errors++;
				if (held[n] == BP_FL_BUSY)
					w->busy++;
				break;
			}
			if (!atomic_compare_exchange_strong_explicit(
					&s->owner[held[n]], &expect, w->id,
					memory_order_relaxed, memory_order_relaxed))
				w->double_held++;
		}
		for (k = 0; k < n; k++) {
			atomic_store_explicit(&s->owner[held[k]], 0,
					      memory_order_relaxed);
			bp_fl_push(&s->head, s->next, held[k]);
		}
	}
	return NULL;
}

TEST(concurrent_pop_push)
{
	struct shared *s = calloc(1, sizeof(*s));
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	unsigned char seen[N] = { 0 };
	__u32 idx;
	int i;

	ASSERT_NE(NULL, s);
	bp_fl_init(&s->head, s->next, N);
	for (i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .s = s, .id = i + 1 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, worker_fn, &w[i]));
	}
	for (i = 0; i < NTHREADS; i++) {
		ASSERT_EQ(0, pthread_join(t[i], NULL));
		EXPECT_EQ(0, w[i].double_held) {
			TH_LOG("worker %d: %llu buffers taken while held", i,
			       (unsigned long long)w[i].double_held);
		}
		EXPECT_EQ(0, w[i].errors) {
			TH_LOG("worker %d: %llu errors, %llu of them BP_FL_BUSY",
			       i, (unsigned long long)w[i].errors,
			       (unsigned long long)w[i].busy);
		}
	}
	/* All N came back, each once. */
	for (i = 0; i < N; i++) {
		idx = bp_fl_pop(&s->head, s->next, N);
		ASSERT_GT(N, idx) {
			TH_LOG("%d of %d buffers back, then %#x", i, N, idx);
		}
		ASSERT_EQ(0, seen[idx]) TH_LOG("buffer %u back twice", idx);
		seen[idx] = 1;
	}
	EXPECT_EQ(BUFPOOL_IDX_NIL, bp_fl_pop(&s->head, s->next, N));
	free(s);
}

TEST_HARNESS_MAIN
