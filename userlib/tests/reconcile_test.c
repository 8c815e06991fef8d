// SPDX-License-Identifier: GPL-2.0
/*
 * Host tests of bp_reconcile(), the code the kernel runs over the shared
 * control area after a client is gone: exact for the records of correct
 * clients, and safe on anything at all (run under AddressSanitizer and
 * UndefinedBehaviorSanitizer in reconcile_test_asan).
 */
#include <stdlib.h>
#include <string.h>

#define BP_HOST_TEST 1
#include <bufpool/reconcile.h>
#include <bufpool/stats.h>
#include <kselftest_harness.h>

#define COUNT	1000
#define SHIFT	11
#define SLOTS	8
#define NQ	2	/* queues */
#define QLEN	16	/* slots per queue */
#define QCAP	8	/* queue 0's capacity; queue 1 has QLEN */

FIXTURE(rc) {
	struct bp_layout l;
	struct bp_shm s;
	struct bp_recon r;
	struct bp_recon_queue rq[NQ];
	void *ctrl;
	__u64 *bits;
	__u64 live[(BUFPOOL_CLIENT_MAX + 1) / 64];
};

#define BM_WORDS(self) (4 * ((COUNT + 63) / 64) +			\
			  2 * (((self)->l.nr_mags + 63) / 64) + 1)

static void recon_reset(FIXTURE_DATA(rc) *self)
{
	size_t b = (COUNT + 63) / 64, m = (self->l.nr_mags + 63) / 64;

	memset(self->bits, 0, BM_WORDS(self) * sizeof(__u64));
	memset(&self->r, 0, sizeof(self->r));
	self->r.free_bm = self->bits;
	self->r.held_bm = self->bits + b;
	self->r.mfree_bm = self->bits + 2 * b;
	self->r.mheld_bm = self->bits + 2 * b + m;
	self->r.queued_bm = self->bits + 2 * b + 2 * m;
	self->r.dead_bm = self->bits + 3 * b + 2 * m;
	self->r.live = self->live;
	self->r.queues = self->rq;
	self->r.nr_queues = NQ;
}

/* Queue k as the kernel knows it: size, consumer, kept or drained. */
static void queue_setup(FIXTURE_DATA(rc) *self, int k, __u32 size,
			__u32 consumer, int count)
{
	struct bp_recon_queue *rq = &self->rq[k];

	rq->q.d = &self->s.queues[k];
	rq->q.slots = self->s.qslots + (__u64)k * QLEN;
	rq->q.mask = size - 1;
	rq->q.shift = __builtin_ctz(size);
	rq->q.buf_count = COUNT;
	rq->consumer = consumer;
	rq->count = count;
	bp_q_reset(rq->q.d);
	bp_q_slots_init(rq->q.slots, size);
}

FIXTURE_SETUP(rc)
{
	bp_layout_compute(&self->l, COUNT, SHIFT, 1u << SHIFT, SLOTS, 0, NQ, QLEN,
			  4096);
	self->ctrl = calloc(1, self->l.ctrl_size);
	self->bits = calloc(BM_WORDS(self), 8);
	ASSERT_NE(NULL, self->ctrl);
	ASSERT_NE(NULL, self->bits);
	bp_shm_init(self->ctrl, &self->l, 1);
	bp_shm_bind(&self->s, self->ctrl, &self->l);
	memset(self->live, 0, sizeof(self->live));
	queue_setup(self, 0, QCAP, 0, 1);
	queue_setup(self, 1, QLEN, 0, 1);
	recon_reset(self);
}

FIXTURE_TEARDOWN(rc)
{
	free(self->ctrl);
	free(self->bits);
}

static void set_live(FIXTURE_DATA(rc) *self, __u32 id)
{
	self->live[id / 64] |= 1ULL << (id % 64);
}

#define RECONCILE(self) do {						\
	recon_reset(self);						\
	bp_reconcile(&(self)->s, &(self)->r);				\
} while (0)

#define EXPECT_WHOLE(self) EXPECT_EQ(COUNT, (self)->r.free +		\
	(self)->r.cached + (self)->r.held + (self)->r.transit +		\
	(self)->r.queued)

/* One repair makes the pool whole and free; the next finds nothing. */
#define REPAIRED_ONCE(self) do {					\
	RECONCILE(self);						\
	EXPECT_EQ(1, (self)->r.repaired);				\
	EXPECT_WHOLE(self);						\
	EXPECT_EQ(COUNT, (self)->r.free);				\
	RECONCILE(self);						\
	EXPECT_EQ(0, (self)->r.repaired);				\
	EXPECT_EQ(COUNT, (self)->r.free);				\
} while (0)

TEST_F(rc, fresh_pool_is_whole)
{
	RECONCILE(self);
	EXPECT_EQ(COUNT, self->r.free);
	EXPECT_EQ(0, self->r.reclaimed);
	EXPECT_EQ(0, self->r.repaired);
}

/*
 * A client's records, as the library leaves them mid-flight: a cache
 * with two magazines (one part full), buffers named by own[], one
 * announced in pend_buf, one handed off.  Live, they are counted exactly;
 * gone, all but the handoff come back.
 */
TEST_F(rc, client_records_counted_then_reclaimed)
{
	struct bp_shm *s = &self->s;
	struct bufpool_cache *c = &s->caches[3];
	__u32 a, b, x, i;

	ASSERT_LT(4, s->mag_fill);
	c->owner = 7;
	a = bp_fl_pop_rec(s->empty_head, s->mag_next, s->nr_mags, &c->pending);
	c->loaded = a;
	b = bp_fl_pop_rec(s->empty_head, s->mag_next, s->nr_mags, &c->pending);
	c->prev = b;
	c->pending = BUFPOOL_IDX_NIL;
	for (i = 0; i < 4; i++) {
		x = bp_fl_pop(s->free_head, s->next, s->buf_count);
		bp_mag_at(s, a)->idx[i] = x;
		bp_mag_at(s, a)->count = i + 1;
	}
	for (i = 0; i < 10; i++) {
		x = bp_fl_pop(s->free_head, s->next, s->buf_count);
		s->own[x] = 7;
	}
	x = bp_fl_pop(s->free_head, s->next, s->buf_count);
	s->own[x] = BUFPOOL_OWN_TRANSIT | 7;
	x = bp_fl_pop(s->free_head, s->next, s->buf_count);
	s->own[x] = BUFPOOL_OWN_QUARANTINE | 7;	/* debug mode's */
	/* Taken off the list, not recorded yet: only announced. */
	x = bp_fl_pop_rec(s->free_head, s->next, s->buf_count, &c->pend_buf);
	ASSERT_GT(COUNT, x);

	set_live(self, 7);
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(4, self->r.cached);
	EXPECT_EQ(12, self->r.held);	/* 11 in own[], 1 announced */
	EXPECT_EQ(1, self->r.transit);
	EXPECT_EQ(0, self->r.reclaimed);
	EXPECT_EQ(0, self->r.repaired);

	memset(self->live, 0, sizeof(self->live));
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(COUNT - 1, self->r.free);
	EXPECT_EQ(1, self->r.transit);	/* a handoff outlives its giver */
	EXPECT_EQ(16, self->r.reclaimed);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(0, c->owner);
	EXPECT_EQ(BUFPOOL_IDX_NIL, c->loaded);
	RECONCILE(self);
	EXPECT_EQ(0, self->r.reclaimed);
	EXPECT_EQ(COUNT - 1, self->r.free);
}

/* What is on a list and also announced is free: the list wins. */
TEST_F(rc, list_wins_over_announcements)
{
	struct bp_shm *s = &self->s;
	__u32 x = bp_fl_idx(*s->free_head);

	s->caches[0].owner = 9;
	s->caches[0].pend_buf = x + 1;	/* a take or give in flight */
	set_live(self, 9);
	RECONCILE(self);
	EXPECT_EQ(COUNT, self->r.free);
	EXPECT_EQ(0, self->r.held);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(x + 1, s->caches[0].pend_buf);
}

/* The free list's entries in order, into out[]; how many. */
static __u32 free_list(FIXTURE_DATA(rc) *self, __u32 *out)
{
	__u32 idx, n = 0;

	for (idx = bp_fl_idx(*self->s.free_head); idx < COUNT && n <= COUNT;
	     idx = self->s.next[idx])
		out[n++] = idx;
	return n;
}

static int on_free_list(FIXTURE_DATA(rc) *self, __u32 x)
{
	__u32 idx, n = 0;

	for (idx = bp_fl_idx(*self->s.free_head); idx < COUNT && n++ <= COUNT;
	     idx = self->s.next[idx])
		if (idx == x)
			return 1;
	return 0;
}

/*
 * ABI 1.4: a live hold in own[] wins over the free list.  Held buffers
 * linked in at the head and in the middle are unlinked (the list goes on
 * past them), counted held and repaired; their records stay.
 */
TEST_F(rc, live_record_wins_over_free_list)
{
	struct bp_shm *s = &self->s;
	__u32 a = bp_fl_pop(s->free_head, s->next, s->buf_count);
	__u32 b = bp_fl_pop(s->free_head, s->next, s->buf_count);
	__u32 *list = malloc(COUNT * sizeof(*list));
	__u32 mid;

	ASSERT_NE(NULL, list);
	s->own[a] = 9;
	s->own[b] = BUFPOOL_OWN_QUARANTINE | 9;
	set_live(self, 9);
	/* b in the middle: after the 100th entry; a at the head. */
	mid = list[free_list(self, list) ? 100 : 0];
	s->next[b] = s->next[mid];
	s->next[mid] = b;
	s->next[a] = bp_fl_idx(*s->free_head);
	*s->free_head = bp_fl_pack(a, 5);
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(COUNT - 2, self->r.free);
	EXPECT_EQ(2, self->r.held);
	EXPECT_EQ(2, self->r.repaired);
	EXPECT_EQ(0, self->r.reclaimed);
	EXPECT_EQ(9, s->own[a]);
	EXPECT_EQ(BUFPOOL_OWN_QUARANTINE | 9, s->own[b]);
	EXPECT_EQ(0, on_free_list(self, a));
	EXPECT_EQ(0, on_free_list(self, b));
	EXPECT_EQ(COUNT - 2, free_list(self, list));
	/* Settled: nothing more to repair. */
	RECONCILE(self);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(2, self->r.held);
	EXPECT_EQ(COUNT - 2, self->r.free);
	free(list);
}

/* A held buffer linked to itself at the head: unlinked, then cut. */
TEST_F(rc, live_record_self_loop)
{
	struct bp_shm *s = &self->s;
	__u32 a = bp_fl_pop(s->free_head, s->next, s->buf_count);

	s->own[a] = 9;
	set_live(self, 9);
	s->next[a] = a;
	*s->free_head = bp_fl_pack(a, 5);
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(1, self->r.held);
	EXPECT_EQ(2, self->r.repaired);	/* unlinked, then the cycle cut */
	EXPECT_EQ(COUNT - 1, self->r.free);
	EXPECT_EQ(COUNT - 1, self->r.reclaimed);
	EXPECT_EQ(9, s->own[a]);
	EXPECT_EQ(0, on_free_list(self, a));
}

/* Held buffers in a magazine on the full stack are dropped from it. */
TEST_F(rc, live_record_wins_over_depot)
{
	struct bp_shm *s = &self->s;
	__u32 id = bp_fl_pop(s->empty_head, s->mag_next, s->nr_mags);
	__u32 x[4], i;

	ASSERT_LT(4, s->mag_fill);
	for (i = 0; i < 4; i++) {
		x[i] = bp_fl_pop(s->free_head, s->next, s->buf_count);
		bp_mag_at(s, id)->idx[i] = x[i];
	}
	bp_mag_at(s, id)->count = 4;
	bp_fl_push(s->full_head, s->mag_next, id);
	s->own[x[1]] = 9;			/* live */
	s->own[x[3]] = BUFPOOL_OWN_TRANSIT | 12;	/* a handoff */
	set_live(self, 9);
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(COUNT - 2, self->r.free);
	EXPECT_EQ(1, self->r.held);
	EXPECT_EQ(1, self->r.transit);
	EXPECT_EQ(2, self->r.repaired);
	EXPECT_EQ(0, self->r.reclaimed);
	EXPECT_EQ(2, bp_mag_at(s, id)->count);
	EXPECT_EQ(x[0], bp_mag_at(s, id)->idx[0]);
	EXPECT_EQ(x[2], bp_mag_at(s, id)->idx[1]);
	EXPECT_EQ(9, s->own[x[1]]);
	RECONCILE(self);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(COUNT - 2, self->r.free);
}

/*
 * On the free list: a handoff (held in transit, even with its giver
 * gone), one addressed to a live receiver (held), one to a dead
 * receiver and a dead client's record (both free, records cleared).
 */
TEST_F(rc, records_on_free_list_by_kind)
{
	struct bp_shm *s = &self->s;
	__u32 *list = malloc(COUNT * sizeof(*list));
	__u32 t, to, dto, dead;

	ASSERT_NE(NULL, list);
	ASSERT_EQ(COUNT, free_list(self, list));
	t = list[10];
	to = list[20];
	dto = list[30];
	dead = list[0];				/* the head */
	s->own[t] = BUFPOOL_OWN_TRANSIT | 12;	/* 12 is gone */
	s->own[to] = BUFPOOL_OWN_TO | 9;
	s->own[dto] = BUFPOOL_OWN_TO | 13;	/* 13 is gone */
	s->own[dead] = 14;			/* 14 is gone */
	set_live(self, 9);
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(COUNT - 2, self->r.free);
	EXPECT_EQ(2, self->r.transit);
	EXPECT_EQ(0, self->r.held);
	EXPECT_EQ(2, self->r.repaired);
	EXPECT_EQ(0, self->r.reclaimed);
	EXPECT_EQ(0, self->r.dropped);
	EXPECT_EQ(BUFPOOL_OWN_TRANSIT | 12, s->own[t]);
	EXPECT_EQ(BUFPOOL_OWN_TO | 9, s->own[to]);
	EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[dto]);
	EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[dead]);
	EXPECT_EQ(0, on_free_list(self, t));
	EXPECT_EQ(0, on_free_list(self, to));
	EXPECT_EQ(1, on_free_list(self, dto));
	EXPECT_EQ(1, on_free_list(self, dead));
	free(list);
}

/* A held buffer on the free list and in a queue: the holder keeps it. */
TEST_F(rc, live_record_on_list_and_queue)
{
	struct bp_shm *s = &self->s;
	__u32 a = bp_fl_idx(*s->free_head);

	s->own[a] = 9;
	set_live(self, 9);
	self->rq[0].q.slots[0] = bp_q_slot(0, a);
	self->rq[0].q.d->tail = 1;
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(1, self->r.held);
	EXPECT_EQ(0, self->r.queued);
	EXPECT_EQ(2, self->r.repaired);	/* unlinked; slot voided */
	EXPECT_EQ(9, s->own[a]);
}

/* A cycle and a duplicate are cut, and nothing is lost for it. */
/*
 * ABI 1.4: a live cache's loaded or prev word that names a magazine on a
 * depot stack (a give in flight, or another client's doing) is cleared:
 * the list wins, and the thread's library sees its word gone.  Silent:
 * correct clients leave that state too.
 */
TEST_F(rc, stacked_mag_clears_live_word)
{
	struct bp_shm *s = &self->s;
	struct bufpool_cache *c = &s->caches[1];
	__u32 a, b, x, i;

	c->owner = 7;
	a = bp_fl_pop(s->empty_head, s->mag_next, s->nr_mags);
	b = bp_fl_pop(s->empty_head, s->mag_next, s->nr_mags);
	c->loaded = a;
	c->prev = b;
	for (i = 0; i < 3; i++) {
		x = bp_fl_pop(s->free_head, s->next, s->buf_count);
		bp_mag_at(s, a)->idx[i] = x;
		bp_mag_at(s, a)->count = i + 1;
	}
	set_live(self, 7);
	bp_fl_push(s->full_head, s->mag_next, a);	/* a give in flight */
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(0, self->r.cached);
	EXPECT_EQ(COUNT, self->r.free);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(BUFPOOL_IDX_NIL, c->loaded);
	EXPECT_EQ(b, c->prev);
	RECONCILE(self);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(COUNT, self->r.free);
}

/*
 * A live cache's magazine naming a buffer that own[] says a live client
 * holds (a take or give in flight, or another client's entry): held,
 * not cached, and nothing is given back.
 */
TEST_F(rc, live_mag_entry_with_a_live_record_is_held)
{
	struct bp_shm *s = &self->s;
	struct bufpool_cache *c = &s->caches[1];
	__u32 a, x, y;

	c->owner = 7;
	a = bp_fl_pop(s->empty_head, s->mag_next, s->nr_mags);
	c->loaded = a;
	x = bp_fl_pop(s->free_head, s->next, s->buf_count);
	y = bp_fl_pop(s->free_head, s->next, s->buf_count);
	bp_mag_at(s, a)->idx[0] = x;
	bp_mag_at(s, a)->idx[1] = y;
	bp_mag_at(s, a)->count = 2;
	s->own[y] = 8;			/* held by another live client */
	set_live(self, 7);
	set_live(self, 8);
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(1, self->r.cached);
	EXPECT_EQ(1, self->r.held);
	EXPECT_EQ(0, self->r.reclaimed);
	EXPECT_EQ(8, s->own[y]);
}

TEST_F(rc, cycles_and_duplicates_are_cut)
{
	struct bp_shm *s = &self->s;

	s->next[10] = 3;		/* 0..3 -> ... -> 10 -> 3: a cycle */
	REPAIRED_ONCE(self);
}

/*
 * What a producer does, as the library does it: take a buffer off the
 * free list, then own[x] = 0 and the slot CAS.  Returns the buffer.
 */
static __u32 enqueue(FIXTURE_DATA(rc) *self, int k)
{
	struct bp_shm *s = &self->s;
	__u32 x = bp_fl_pop(s->free_head, s->next, s->buf_count);

	if (x >= COUNT)
		return BUFPOOL_IDX_NIL;
	s->own[x] = BUFPOOL_OWN_FREE;
	if (bp_q_put(&self->rq[k].q, x, 0, NULL))
		return BUFPOOL_IDX_NIL;
	return x;
}

/* The buffer a slot of queue k names at position p, as is. */
static __u64 *qslot(FIXTURE_DATA(rc) *self, int k, __u64 p)
{
	return &self->rq[k].q.slots[p & self->rq[k].q.mask];
}

/* Queued buffers are counted as such, neither free nor reclaimed. */
TEST_F(rc, queued_counted)
{
	int i;

	for (i = 0; i < 5; i++)
		ASSERT_GT(COUNT, enqueue(self, 0));
	ASSERT_GT(COUNT, enqueue(self, 1));
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(6, self->r.queued);
	EXPECT_EQ(COUNT - 6, self->r.free);
	EXPECT_EQ(0, self->r.reclaimed);
	EXPECT_EQ(0, self->r.repaired);
	/* A full queue too, and once more: nothing moves. */
	for (i = 0; i < 3; i++)
		ASSERT_GT(COUNT, enqueue(self, 0));
	/* Full: the buffer refused, named by nothing, comes back. */
	EXPECT_EQ(BUFPOOL_IDX_NIL, enqueue(self, 0));
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(9, self->r.queued);
	EXPECT_EQ(1, self->r.reclaimed);
	EXPECT_EQ(0, self->r.repaired);
}

/*
 * A dequeue in flight: own[x] = consumer, the slot still names x.  A
 * live consumer's record is left (x counted queued, not held); a dead
 * one's is cleared and x stays queued for the next consumer.
 */
TEST_F(rc, dequeue_in_flight)
{
	struct bp_shm *s = &self->s;
	__u32 x, i;

	self->rq[0].consumer = 5;
	for (i = 0; i < 3; i++)
		ASSERT_GT(COUNT, enqueue(self, 0));
	x = bp_q_slot_idx(*qslot(self, 0, 0));
	s->own[x] = 5;
	set_live(self, 5);
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(3, self->r.queued);
	EXPECT_EQ(0, self->r.held);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(5, s->own[x]);
	/* The consumer finishes (slot consumed, head moved): x is its own. */
	*qslot(self, 0, 0) = bp_q_slot(1, BUFPOOL_QUEUE_EMPTY);
	self->rq[0].q.d->head++;
	RECONCILE(self);
	EXPECT_EQ(2, self->r.queued);
	EXPECT_EQ(1, self->r.held);

	/* Another in flight, and the consumer dies. */
	x = bp_q_slot_idx(*qslot(self, 0, 1));
	s->own[x] = 5;
	memset(self->live, 0, sizeof(self->live));
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(2, self->r.queued);
	EXPECT_EQ(1, self->r.reclaimed);	/* the one it had taken */
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[x]);
	EXPECT_EQ(x, bp_q_get(&self->rq[0].q, s->own, 6));
}

/*
 * The queue wins over an announcement (an enqueue in flight) and over a
 * dead client's record; a live hold of a queued buffer (no correct
 * client writes it: a producer clears own[x] before queuing x) wins over
 * the slot, which is voided (ABI 1.4).
 */
TEST_F(rc, queue_wins_over_records)
{
	struct bp_shm *s = &self->s;
	struct bufpool_cache *c = &s->caches[2];
	__u32 x, y, z;

	x = enqueue(self, 1);
	y = enqueue(self, 1);
	z = enqueue(self, 1);
	ASSERT_GT(COUNT, z);
	s->own[x] = 9;			/* no correct client writes this */
	s->own[z] = 11;			/* a client now gone */
	c->owner = 7;
	c->pend_buf = y;		/* an enqueue not finished: fine */
	set_live(self, 7);
	set_live(self, 9);
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(2, self->r.queued);
	EXPECT_EQ(1, self->r.held);
	EXPECT_EQ(1, self->r.repaired);		/* x's slot voided */
	EXPECT_EQ(9, s->own[x]);
	EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[z]);
	EXPECT_EQ(BUFPOOL_QUEUE_SKIP, bp_q_slot_idx(*qslot(self, 1, 0)));
	RECONCILE(self);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(1, self->r.held);
}

/* A queue being drained: what it held goes back. */
TEST_F(rc, drain_gives_back)
{
	int i;

	for (i = 0; i < 7; i++)
		ASSERT_GT(COUNT, enqueue(self, 0));
	self->rq[0].count = 0;
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(0, self->r.queued);
	EXPECT_EQ(7, self->r.reclaimed);
	/* Acquired by producers, released by nobody: the kernel's release. */
	EXPECT_EQ(7, self->r.dropped);
	EXPECT_EQ(COUNT, self->r.free);
	EXPECT_EQ(0, self->r.repaired);
}

/* Garbage in slots and the tail: voided, and the queue works again. */
TEST_F(rc, garbage_slots_repaired)
{
	struct bp_shm *s = &self->s;
	struct bp_q *q = &self->rq[0].q;
	__u32 a, b, x;

	a = enqueue(self, 0);
	b = enqueue(self, 0);
	ASSERT_GT(COUNT, b);
	*qslot(self, 0, 2) = bp_q_slot(7, 3);		/* a wrong lap */
	*qslot(self, 0, 3) = bp_q_slot(0, COUNT + 5);	/* out of range */
	*qslot(self, 0, 4) = bp_q_slot(0, bp_fl_idx(*s->free_head));
	q->d->tail = 1234567;				/* way off */
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(4, self->r.repaired);
	EXPECT_EQ(2, self->r.queued);
	EXPECT_EQ(COUNT - 2, self->r.free);
	RECONCILE(self);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(2, self->r.queued);
	/* What is left works: the two buffers come out, then new ones. */
	EXPECT_EQ(a, bp_q_get(q, s->own, 3));
	EXPECT_EQ(b, bp_q_get(q, s->own, 3));
	EXPECT_EQ(BUFPOOL_IDX_NIL, bp_q_get(q, s->own, 3));
	x = enqueue(self, 0);
	ASSERT_GT(COUNT, x);
	EXPECT_EQ(x, bp_q_get(q, s->own, 3));
}

/*
 * A hole below a filled position, the same buffer queued twice, and a
 * tail past what is filled.
 */
TEST_F(rc, holes_and_duplicates_voided)
{
	struct bp_shm *s = &self->s;
	struct bp_q *q = &self->rq[1].q;
	__u32 a, b;

	a = enqueue(self, 1);
	b = bp_fl_pop(s->free_head, s->next, s->buf_count);
	ASSERT_GT(COUNT, a);
	ASSERT_GT(COUNT, b);
	*qslot(self, 1, 1) = bp_q_slot(0, a);		/* a again */
	*qslot(self, 1, 3) = bp_q_slot(0, b);		/* 2: a hole */
	q->d->tail = 4;
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(2, self->r.repaired);
	EXPECT_EQ(2, self->r.queued);
	EXPECT_EQ(BUFPOOL_QUEUE_SKIP, bp_q_slot_idx(*qslot(self, 1, 1)));
	EXPECT_EQ(BUFPOOL_QUEUE_SKIP, bp_q_slot_idx(*qslot(self, 1, 2)));
	q->d->tail = 9;				/* nothing there */
	RECONCILE(self);
	EXPECT_EQ(1, self->r.repaired);
	EXPECT_EQ(4, q->d->tail);
	RECONCILE(self);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(a, bp_q_get(q, s->own, 3));
	EXPECT_EQ(b, bp_q_get(q, s->own, 3));
	EXPECT_EQ(BUFPOOL_IDX_NIL, bp_q_get(q, s->own, 3));
	EXPECT_EQ(4, q->d->head);
}

/*
 * What dead clients leave mid-operation is no repair: a producer dead
 * between its slot CAS and its tail CAS (the tail one behind, even
 * behind the head once the consumer took it), a consumer dead between
 * marking a slot consumed and moving head.
 */
TEST_F(rc, half_done_operations_are_fine)
{
	struct bp_shm *s = &self->s;
	struct bp_q *q = &self->rq[0].q;
	__u32 a, b;

	a = enqueue(self, 0);
	ASSERT_GT(COUNT, a);
	q->d->tail = 0;				/* the tail CAS never came */
	RECONCILE(self);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(1, self->r.queued);
	EXPECT_EQ(a, bp_q_get(q, s->own, 3));	/* head 1, tail 0 */
	s->own[a] = BUFPOOL_OWN_FREE;
	RECONCILE(self);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(1, q->d->tail);
	b = enqueue(self, 0);
	ASSERT_GT(COUNT, b);
	/* Consumed, head not moved on. */
	*qslot(self, 0, 1) = bp_q_slot(1, BUFPOOL_QUEUE_EMPTY);
	s->own[b] = 3;
	set_live(self, 3);
	RECONCILE(self);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(0, self->r.queued);
	EXPECT_EQ(1, self->r.held);
	EXPECT_EQ(BUFPOOL_IDX_NIL, bp_q_get(q, s->own, 3));
	EXPECT_EQ(2, q->d->head);
}

/* An addressed handoff: held while its receiver lives, else back. */
TEST_F(rc, addressed_handoff)
{
	struct bp_shm *s = &self->s;
	__u32 x = bp_fl_pop(s->free_head, s->next, s->buf_count);
	__u32 y = bp_fl_pop(s->free_head, s->next, s->buf_count);

	s->own[x] = BUFPOOL_OWN_TO | 8;
	s->own[y] = BUFPOOL_OWN_TRANSIT | 8;	/* unaddressed, for contrast */
	set_live(self, 8);
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(2, self->r.transit);
	EXPECT_EQ(0, self->r.reclaimed);
	EXPECT_EQ(BUFPOOL_OWN_TO | 8, s->own[x]);
	memset(self->live, 0, sizeof(self->live));
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(1, self->r.transit);
	EXPECT_EQ(1, self->r.reclaimed);
	EXPECT_EQ(1, self->r.dropped);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[x]);
	/* A receiver id out of range is garbage. */
	s->own[y] = BUFPOOL_OWN_TO;
	RECONCILE(self);
	EXPECT_EQ(1, self->r.repaired);
	EXPECT_EQ(COUNT, self->r.free);
}

/*
 * A state correct clients could leave: full magazines in the depot,
 * caches of clients 1..16 holding magazines, buffers named in own[].
 */
/* ABI 1.5: is magazine id on the stack at head? */
static int on_stack(FIXTURE_DATA(rc) *self, __u64 *head, __u32 id)
{
	__u32 m, n = 0;

	for (m = bp_fl_idx(*head); m < self->s.nr_mags &&
	     n++ <= self->s.nr_mags; m = self->s.mag_next[m])
		if (m == id)
			return 1;
	return 0;
}

/*
 * ABI 1.5: a buffer and a magazine taken off the depot and not yet
 * named (a thread without a cache, between its CAS and its record).
 * While its client's inflight word is not 0, both stay where they are,
 * counted held and unsettled; nothing is pushed.
 */
TEST_F(rc, busy_client_defers_unnamed)
{
	struct bp_shm *s = &self->s;
	__u64 free_head, empty_head;
	__u32 x, m;

	ASSERT_LT(0, s->nr_mags);
	set_live(self, 5);
	set_live(self, 6);
	s->inflight[5] = 1;
	s->inflight[7] = 3;	/* not live: makes nothing busy */
	x = bp_fl_pop(s->free_head, s->next, s->buf_count);
	m = bp_fl_pop(s->empty_head, s->mag_next, s->nr_mags);
	free_head = *s->free_head;
	empty_head = *s->empty_head;
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(1, self->r.busy);
	EXPECT_EQ(2, self->r.unsettled);
	EXPECT_EQ(1, self->r.held);
	EXPECT_EQ(0, self->r.reclaimed);
	EXPECT_EQ(COUNT - 1, self->r.free);
	EXPECT_FALSE(on_free_list(self, x));
	EXPECT_FALSE(on_stack(self, s->empty_head, m));
	/* Only the tags changed. */
	EXPECT_EQ(bp_fl_idx(free_head), bp_fl_idx(*s->free_head));
	EXPECT_EQ(bp_fl_idx(empty_head), bp_fl_idx(*s->empty_head));
	EXPECT_EQ(1, s->inflight[5]);	/* the kernel's to clear, not this */

	/* Its operation done (no record made: it gave up), all comes back. */
	s->inflight[5] = 0;
	RECONCILE(self);
	EXPECT_EQ(0, self->r.busy);
	EXPECT_EQ(0, self->r.unsettled);
	EXPECT_EQ(1, self->r.reclaimed);
	EXPECT_EQ(COUNT, self->r.free);
	EXPECT_TRUE(on_free_list(self, x));
	EXPECT_TRUE(on_stack(self, s->empty_head, m));
}

/* The same, nobody busy: what nobody names goes back at once. */
TEST_F(rc, idle_clients_unnamed_goes_back)
{
	struct bp_shm *s = &self->s;
	__u32 x, m;

	set_live(self, 5);
	s->inflight[5] = 0;
	x = bp_fl_pop(s->free_head, s->next, s->buf_count);
	m = bp_fl_pop(s->empty_head, s->mag_next, s->nr_mags);
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(0, self->r.busy);
	EXPECT_EQ(0, self->r.unsettled);
	EXPECT_EQ(0, self->r.held);
	EXPECT_EQ(1, self->r.reclaimed);
	EXPECT_EQ(COUNT, self->r.free);
	EXPECT_TRUE(on_free_list(self, x));
	EXPECT_TRUE(on_stack(self, s->empty_head, m));
}

/*
 * ABI 1.5, busy: what a gone client's own[] records name (its id, or
 * quarantined by it) goes back all the same; a correct client records
 * only what it took, so no live thread can be taking it.  Its cache's
 * words are not trusted so (a magazine its thread pushed to the depot
 * is still named until the word changes, and a drained magazine still
 * names what it pushed until the count is cleared: a thread without a
 * cache may be taking those), nor its pend_buf: they stay until nobody
 * is busy.  Garbage in own[] is no client's record: it stays too.
 */
TEST_F(rc, busy_gone_records_own_wins_cache_waits)
{
	struct bp_shm *s = &self->s;
	struct bufpool_cache *c = &s->caches[2];
	__u32 y, z, g, w, a, b0, b1, i;

	ASSERT_LT(2, s->mag_fill);
	set_live(self, 5);
	s->inflight[5] = 1;
	/* Client 9 is gone: records in own[], a cache with a magazine. */
	y = bp_fl_pop(s->free_head, s->next, s->buf_count);
	s->own[y] = 9;
	z = bp_fl_pop(s->free_head, s->next, s->buf_count);
	s->own[z] = BUFPOOL_OWN_QUARANTINE | 9;
	g = bp_fl_pop(s->free_head, s->next, s->buf_count);
	s->own[g] = 0x123456;		/* garbage: no client's id */
	c->owner = 9;
	a = bp_fl_pop(s->empty_head, s->mag_next, s->nr_mags);
	c->loaded = a;
	b0 = bp_fl_pop(s->free_head, s->next, s->buf_count);
	b1 = bp_fl_pop(s->free_head, s->next, s->buf_count);
	bp_mag_at(s, a)->idx[0] = b0;
	bp_mag_at(s, a)->idx[1] = b1;
	bp_mag_at(s, a)->count = 2;
	w = bp_fl_pop(s->free_head, s->next, s->buf_count);
	c->pend_buf = w;		/* a stale announcement */

	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(1, self->r.busy);
	EXPECT_EQ(2, self->r.reclaimed);	/* y and z */
	EXPECT_EQ(3, self->r.dropped);		/* and g's record */
	EXPECT_EQ(4, self->r.held);		/* g, b0, b1, w */
	EXPECT_EQ(5, self->r.unsettled);	/* and the magazine */
	EXPECT_EQ(COUNT - 4, self->r.free);
	EXPECT_TRUE(on_free_list(self, y));
	EXPECT_TRUE(on_free_list(self, z));
	EXPECT_FALSE(on_free_list(self, g));
	EXPECT_FALSE(on_free_list(self, b0));
	EXPECT_FALSE(on_free_list(self, b1));
	EXPECT_FALSE(on_free_list(self, w));
	EXPECT_FALSE(on_stack(self, s->empty_head, a));
	EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[y]);
	EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[z]);
	EXPECT_EQ(0, c->owner);			/* the cache is reset */
	EXPECT_EQ(BUFPOOL_IDX_NIL, c->loaded);

	/* Nobody busy: the rest comes back, nothing twice. */
	s->inflight[5] = 0;
	RECONCILE(self);
	EXPECT_EQ(0, self->r.unsettled);
	EXPECT_EQ(4, self->r.reclaimed);
	EXPECT_EQ(0, self->r.dropped);
	EXPECT_EQ(COUNT, self->r.free);
	EXPECT_TRUE(on_stack(self, s->empty_head, a));
	for (i = 0; i < COUNT; i++)
		EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[i]);
	RECONCILE(self);
	EXPECT_EQ(COUNT, self->r.free);
	EXPECT_EQ(0, self->r.reclaimed);
	EXPECT_EQ(0, self->r.repaired);
}

/* A gone client's record of a buffer a live cache names: held, not given. */
TEST_F(rc, busy_gone_record_of_a_live_hold)
{
	struct bp_shm *s = &self->s;
	__u32 x;

	set_live(self, 5);
	s->inflight[5] = 1;
	s->caches[0].owner = 5;
	x = bp_fl_pop(s->free_head, s->next, s->buf_count);
	s->caches[0].pend_buf = x;	/* 5's take in flight */
	s->own[x] = 9;			/* and a record of gone 9 */
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(1, self->r.held);
	EXPECT_EQ(0, self->r.reclaimed);
	EXPECT_EQ(0, self->r.unsettled);
	EXPECT_FALSE(on_free_list(self, x));
}

/*
 * ABI 1.5: an in-flight count no correct client could have written
 * (above BP_RECON_INFLIGHT_MAX) is reset as a repair and makes nobody
 * busy; one that could be a count defers, garbage or not.
 */
TEST_F(rc, inflight_garbage_reset)
{
	struct bp_shm *s = &self->s;
	__u32 x;

	set_live(self, 5);
	set_live(self, 6);
	s->inflight[5] = 0xffffffff;
	s->inflight[6] = BP_RECON_INFLIGHT_MAX + 1;
	x = bp_fl_pop(s->free_head, s->next, s->buf_count);
	RECONCILE(self);
	EXPECT_EQ(0, self->r.busy);
	EXPECT_EQ(2, self->r.repaired);
	EXPECT_EQ(0, s->inflight[5]);
	EXPECT_EQ(0, s->inflight[6]);
	EXPECT_EQ(1, self->r.reclaimed);
	EXPECT_TRUE(on_free_list(self, x));

	s->inflight[6] = BP_RECON_INFLIGHT_MAX;
	x = bp_fl_pop(s->free_head, s->next, s->buf_count);
	RECONCILE(self);
	EXPECT_EQ(1, self->r.busy);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(BP_RECON_INFLIGHT_MAX, s->inflight[6]);
	EXPECT_EQ(1, self->r.unsettled);
	EXPECT_FALSE(on_free_list(self, x));
}

/* ABI 1.5: the caches whose owner is 0 after a pass, the hint's value. */
TEST_F(rc, caches_free_recounted)
{
	struct bp_shm *s = &self->s;

	ASSERT_LT(3, s->nr_caches);
	RECONCILE(self);
	EXPECT_EQ(s->nr_caches, self->r.caches_free);
	set_live(self, 5);
	s->caches[0].owner = 5;
	s->caches[1].owner = 5;
	s->caches[2].owner = 9;			/* gone */
	s->caches[3].owner = 0xdeadbeef;	/* garbage */
	RECONCILE(self);
	EXPECT_EQ(s->nr_caches - 2, self->r.caches_free);
	EXPECT_EQ(0, s->caches[2].owner);
	EXPECT_EQ(0, s->caches[3].owner);
	EXPECT_EQ(5, s->caches[1].owner);
}

static void populate(FIXTURE_DATA(rc) *self, unsigned int *seed)
{
	struct bp_shm *s = &self->s;
	__u32 i, k, id, x, n = 1 + rand_r(seed) % 6;

	for (k = 0; k < n; k++) {
		struct bufpool_cache *c = &s->caches[k % SLOTS];

		id = bp_fl_pop(s->empty_head, s->mag_next, s->nr_mags);
		if (id >= s->nr_mags)
			break;
		for (i = 0; i < s->mag_fill; i++) {
			x = bp_fl_pop(s->free_head, s->next, s->buf_count);
			if (x >= COUNT)
				break;
			bp_mag_at(s, id)->idx[i] = x;
		}
		bp_mag_at(s, id)->count = i;
		if (k % 2) {
			bp_fl_push(s->full_head, s->mag_next, id);
		} else {
			c->owner = 1 + rand_r(seed) % 16;
			c->loaded = id;
		}
	}
	for (k = 0; k < 20; k++) {
		x = bp_fl_pop(s->free_head, s->next, s->buf_count);
		if (x < COUNT)
			s->own[x] = 1 + rand_r(seed) % 16;
	}
	/* Queues with consumers 1..16, some buffers, a dequeue in flight. */
	for (k = 0; k < NQ; k++) {
		queue_setup(self, k, k ? QLEN : QCAP, 1 + rand_r(seed) % 16, 1);
		n = rand_r(seed) % (QCAP + 2);
		for (i = 0; i < n; i++)
			enqueue(self, k);
		for (i = rand_r(seed) % 4; i; i--)	/* some consumed */
			bp_q_get(&self->rq[k].q, NULL, 0);
		x = bp_q_slot_idx(self->rq[k].q.slots[self->rq[k].q.d->head &
						       self->rq[k].q.mask]);
		if (x < COUNT && rand_r(seed) % 2)
			s->own[x] = self->rq[k].consumer;
	}
}

/*
 * Random garbage anywhere in the area, random live clients: the walk
 * ends, the counts add up, and a second pass finds nothing to repair
 * and nothing free twice.
 */
TEST_F(rc, garbage_anywhere)
{
	unsigned int seed = 12345, iter, n, i;
	__u32 *w = self->ctrl, words = self->l.ctrl_size / 4;
	unsigned char *seen = malloc(COUNT);
	__u32 idx, id, k;

	ASSERT_NE(NULL, seen);
	for (iter = 0; iter < 3000; iter++) {
		memset(self->ctrl, 0, self->l.ctrl_size);
		bp_shm_init(self->ctrl, &self->l, 1);
		memset(self->live, 0, sizeof(self->live));
		for (i = 0; i < 3; i++)
			set_live(self, 1 + rand_r(&seed) % 16);
		populate(self, &seed);
		n = iter % 10 == 0 ? words : 1 + (__u32)rand_r(&seed) % 64;
		for (i = 0; i < n; i++) {
			__u32 v = (__u32)rand_r(&seed) << 16 ^ (__u32)rand_r(&seed);

			/* Small values hit valid indices and ids. */
			w[rand_r(&seed) % words] = rand_r(&seed) % 2 ?
				v % (2 * COUNT) : v;
		}
		RECONCILE(self);
		EXPECT_WHOLE(self);
		if (iter % 7 == 0) {
			/* Queue 1 drained, as the kernel does it. */
			self->rq[1].count = 0;
			RECONCILE(self);
			bp_q_reset(self->rq[1].q.d);
			bp_q_slots_init(self->rq[1].q.slots, QLEN);
			self->rq[1].count = 1;
		}
		RECONCILE(self);
		EXPECT_EQ(0, self->r.repaired);
		EXPECT_EQ(0, self->r.reclaimed);
		EXPECT_WHOLE(self);

		/* Nothing on the free structures twice. */
		memset(seen, 0, COUNT);
		for (idx = bp_fl_idx(*self->s.free_head); idx < COUNT;
		     idx = self->s.next[idx]) {
			ASSERT_EQ(0, seen[idx]);
			seen[idx] = 1;
		}
		for (id = bp_fl_idx(*self->s.full_head); id < self->s.nr_mags;
		     id = self->s.mag_next[id])
			for (i = 0; i < bp_mag_at(&self->s, id)->count; i++) {
				idx = bp_mag_at(&self->s, id)->idx[i];
				ASSERT_GT(COUNT, idx);
				ASSERT_EQ(0, seen[idx]);
				seen[idx] = 1;
			}
		/* Nor free and queued, nor queued twice. */
		for (k = 0; k < NQ; k++) {
			struct bp_q *q = &self->rq[k].q;

			for (i = 0; i <= q->mask; i++) {
				idx = bp_q_slot_idx(q->slots[i]);
				if (idx >= COUNT)
					continue;
				ASSERT_EQ(0, seen[idx]);
				seen[idx] = 1;
			}
		}
		if (!_metadata->passed)	/* not 3000 times the same */
			break;
	}
	free(seen);
}

/*
 * ABI 1.7: cache ci claimed by client owner, with a magazine in its
 * loaded word (prev: 0) or prev word (prev: 1) naming n buffers off
 * the free list, x[]; own[x[i]] is BUFPOOL_OWN_CACHED | ci where bit i
 * of marks is set, BUFPOOL_OWN_FREE elsewhere (a 1.6 client, a
 * magazine off the depot).  Returns the magazine.
 */
static __u32 cache_mag(FIXTURE_DATA(rc) *self, __u32 ci, __u32 owner,
		       int prev, __u32 n, __u32 marks, __u32 *x)
{
	struct bp_shm *s = &self->s;
	struct bufpool_cache *c = &s->caches[ci];
	__u32 m = bp_fl_pop(s->empty_head, s->mag_next, s->nr_mags), i;

	c->owner = owner;
	if (prev)
		c->prev = m;
	else
		c->loaded = m;
	for (i = 0; i < n; i++) {
		x[i] = bp_fl_pop(s->free_head, s->next, s->buf_count);
		bp_mag_at(s, m)->idx[i] = x[i];
		bp_mag_at(s, m)->count = i + 1;
		if (marks & (1u << i))
			s->own[x[i]] = BUFPOOL_OWN_CACHED | ci;
	}
	return m;
}

/* (a) A live cache's marks: cached, kept, nothing dropped or repaired. */
TEST_F(rc, marks_of_a_live_cache_kept)
{
	struct bp_shm *s = &self->s;
	__u32 x[4], i, pass;

	ASSERT_LT(4, s->mag_fill);
	ASSERT_LT(5, s->nr_caches);
	cache_mag(self, 5, 7, 0, 4, 0xf, x);
	set_live(self, 7);
	for (pass = 0; pass < 2; pass++) {
		RECONCILE(self);
		EXPECT_WHOLE(self);
		EXPECT_EQ(4, self->r.cached);
		EXPECT_EQ(0, self->r.held);
		EXPECT_EQ(COUNT - 4, self->r.free);
		EXPECT_EQ(0, self->r.dropped);
		EXPECT_EQ(0, self->r.reclaimed);
		EXPECT_EQ(0, self->r.repaired);
		for (i = 0; i < 4; i++) {
			EXPECT_EQ(BUFPOOL_OWN_CACHED | 5, s->own[x[i]]);
			EXPECT_FALSE(on_free_list(self, x[i]));
		}
	}
}

/*
 * (b) A gone client's cache, its marks on what its magazines name: all
 * back on the free list, records FREE, reclaimed and not dropped (the
 * give into the magazine was the release).  While a live client is
 * busy they go back all the same (dead_bm): marked by a thread now
 * gone, they were on no free structure since; an unmarked entry (1.6,
 * or a refill) is not trusted so and waits, like the magazine.
 */
TEST_F(rc, marks_of_a_gone_cache_go_back)
{
	struct bp_shm *s = &self->s;
	__u32 x[5], y[2], i;

	ASSERT_LT(5, s->mag_fill);
	cache_mag(self, 2, 9, 0, 5, 0xf, x);	/* x[4] unmarked */
	cache_mag(self, 2, 9, 1, 2, 0x3, y);
	set_live(self, 5);
	s->inflight[5] = 1;
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(1, self->r.busy);
	EXPECT_EQ(6, self->r.reclaimed);
	EXPECT_EQ(0, self->r.dropped);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(0, self->r.cached);
	EXPECT_EQ(3, self->r.unsettled);	/* x[4], two magazines */
	EXPECT_EQ(1, self->r.held);
	EXPECT_EQ(COUNT - 1, self->r.free);
	EXPECT_EQ(0, s->caches[2].owner);
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[x[i]]);
		EXPECT_TRUE(on_free_list(self, x[i]));
	}
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[y[i]]);
		EXPECT_TRUE(on_free_list(self, y[i]));
	}
	EXPECT_FALSE(on_free_list(self, x[4]));

	/* Nobody busy: the rest comes back, nothing twice. */
	s->inflight[5] = 0;
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(1, self->r.reclaimed);
	EXPECT_EQ(0, self->r.unsettled);
	EXPECT_EQ(0, self->r.dropped);
	EXPECT_EQ(COUNT, self->r.free);
	EXPECT_TRUE(on_free_list(self, x[4]));
}

/* (b) The same with nobody busy: all at once, counted exactly. */
TEST_F(rc, marks_of_a_gone_cache_idle)
{
	struct bp_shm *s = &self->s;
	__u32 x[4], i;

	cache_mag(self, 0, 9, 0, 4, 0xf, x);
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(COUNT, self->r.free);
	EXPECT_EQ(4, self->r.reclaimed);
	EXPECT_EQ(0, self->r.dropped);
	EXPECT_EQ(0, self->r.repaired);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[x[i]]);
}

/*
 * Library 1.9.1: the marks a refill makes (bp_mag_mark) are the marks a
 * give makes, and the reconciliation treats them so.  A live cache that
 * loaded a depot magazine and marked it: cached, kept, nothing repaired.
 * A gone client's thread killed halfway through the pass, while a live
 * client is busy: what it marked goes back at once (it has been on no
 * free structure since the mark), the rest waits like any unmarked
 * entry, and comes back once nobody is busy.  An entry naming a buffer
 * somebody holds is not marked, nor is anything when the count is
 * beyond the magazine's room.
 */
TEST_F(rc, refill_marks_are_give_marks)
{
	struct bp_shm *s = &self->s;
	__u32 x[6], y[5], i, m, held;

	ASSERT_LT(6, s->mag_fill);
	m = cache_mag(self, 3, 7, 0, 6, 0, x);
	bp_mag_mark(s, bp_mag_at(s, m), 6, BUFPOOL_OWN_CACHED | 3);
	for (i = 0; i < 6; i++)
		EXPECT_EQ(BUFPOOL_OWN_CACHED | 3, s->own[x[i]]);
	set_live(self, 7);
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(6, self->r.cached);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(0, self->r.dropped);
	for (i = 0; i < 6; i++)
		EXPECT_EQ(BUFPOOL_OWN_CACHED | 3, s->own[x[i]]);

	m = cache_mag(self, 2, 9, 0, 5, 0, y);	/* 9 is gone */
	bp_mag_mark(s, bp_mag_at(s, m), 3, BUFPOOL_OWN_CACHED | 2);
	set_live(self, 5);
	s->inflight[5] = 1;
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(3, self->r.reclaimed);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(0, self->r.dropped);
	for (i = 0; i < 5; i++)
		EXPECT_EQ(i < 3, on_free_list(self, y[i]));
	s->inflight[5] = 0;
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(2, self->r.reclaimed);
	EXPECT_EQ(0, self->r.unsettled);
	for (i = 0; i < 5; i++) {
		EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[y[i]]);
		EXPECT_TRUE(on_free_list(self, y[i]));
	}

	/* Garbage: an entry naming a buffer somebody holds. */
	held = bp_fl_pop(s->free_head, s->next, s->buf_count);
	s->own[held] = 7;
	m = cache_mag(self, 4, 7, 0, 3, 0, y);
	bp_mag_at(s, m)->idx[0] = held;
	bp_mag_mark(s, bp_mag_at(s, m), 3, BUFPOOL_OWN_CACHED | 4);
	EXPECT_EQ(7, s->own[held]);
	EXPECT_EQ(BUFPOOL_OWN_CACHED | 4, s->own[y[1]]);
	EXPECT_EQ(BUFPOOL_OWN_CACHED | 4, s->own[y[2]]);
	/* A count beyond the magazine's room: nothing is marked. */
	m = cache_mag(self, 5, 7, 0, 2, 0, x);
	bp_mag_mark(s, bp_mag_at(s, m), s->mag_cap + 1,
		    BUFPOOL_OWN_CACHED | 5);
	EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[x[0]]);
	EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[x[1]]);
}

/*
 * The stale word again, the marking cache gone: a thread of live cache
 * a pushed its prev magazine M to the depot and has not yet stored the
 * word that replaces it; a thread of cache b popped M and marked it
 * (bp_mag_mark), and its client is gone.  The marks were right when
 * made, whichever of a and b comes first: nothing repaired, M's buffers
 * cached while a's word names it, and back once the word moves on.
 * Reconciling step 2 in cache order used to clear b's words before it
 * checked a's magazine when b < a, and counted b's marks as repairs.
 */
static void gone_marker_stale_word(struct __test_metadata *_metadata,
				   FIXTURE_DATA(rc) *self, __u32 a, __u32 b)
{
	struct bp_shm *s = &self->s;
	__u32 x[4], m, i;

	m = cache_mag(self, b, 9, 0, 4, 0, x);		/* 9 is gone */
	bp_mag_mark(s, bp_mag_at(s, m), 4, BUFPOOL_OWN_CACHED | b);
	s->caches[a].owner = 7;
	s->caches[a].prev = m;
	set_live(self, 7);
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(0, self->r.dropped);
	EXPECT_EQ(4, self->r.cached);
	for (i = 0; i < 4; i++)
		EXPECT_FALSE(on_free_list(self, x[i]));
	s->caches[a].prev = BUFPOOL_IDX_NIL;	/* its word moves on */
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(COUNT, self->r.free);
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[x[i]]);
		EXPECT_TRUE(on_free_list(self, x[i]));
	}
}

TEST_F(rc, gone_marker_before_the_stale_word)
{
	gone_marker_stale_word(_metadata, self, 5, 2);
}

TEST_F(rc, gone_marker_after_the_stale_word)
{
	gone_marker_stale_word(_metadata, self, 2, 5);
}

/* A full magazine of one buffer off the free list, on the depot. */
static __u32 give_full(struct bp_shm *s)
{
	__u32 id = bp_fl_pop(s->empty_head, s->mag_next, s->nr_mags);

	bp_mag_at(s, id)->count = 1;
	bp_mag_at(s, id)->idx[0] = bp_fl_pop(s->free_head, s->next,
					     s->buf_count);
	bp_mag_stash(s, id);
	return id;
}

/*
 * A live cache's magazine naming a free buffer (a drain in flight, or
 * another client's writing) lets go of it: the entry is voided, silently
 * (nothing repaired), so that no later refill's marks or gives make two
 * free places of it; a pending word's magazine is left alone.  Here live
 * cache 3's magazine S names y[0], which a full magazine M on the depot
 * holds, and y[1], on the free list.  Then live cache 6 pops M and
 * marks it (bp_mag_mark): an audit finds nothing to repair.  Without
 * the voiding, S would name y[0] under cache 6's mark, and the audit
 * would count that as a repair of correct clients' work.
 */
TEST_F(rc, live_magazine_lets_go_of_free_entries)
{
	struct bp_shm *s = &self->s;
	__u32 x[3], y[2], z[2], m, sm, pm;
	struct bufpool_mag *mm;

	m = give_full(s);			/* M: one buffer, y[0] */
	mm = bp_mag_at(s, m);
	y[0] = mm->idx[0];
	sm = cache_mag(self, 3, 7, 0, 3, 0, x);
	pm = cache_mag(self, 4, 7, 0, 2, 0, z);	/* named by pending only */
	s->caches[4].loaded = BUFPOOL_IDX_NIL;
	s->caches[4].pending = pm;
	y[1] = bp_fl_pop(s->free_head, s->next, s->buf_count);
	bp_fl_push(s->free_head, s->next, y[1]);
	bp_mag_at(s, sm)->idx[0] = y[0];
	bp_mag_at(s, sm)->idx[1] = y[1];
	bp_mag_at(s, pm)->idx[0] = y[1];
	set_live(self, 7);
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(BUFPOOL_IDX_NIL, bp_mag_at(s, sm)->idx[0]);
	EXPECT_EQ(BUFPOOL_IDX_NIL, bp_mag_at(s, sm)->idx[1]);
	EXPECT_EQ(x[2], bp_mag_at(s, sm)->idx[2]);
	EXPECT_EQ(y[1], bp_mag_at(s, pm)->idx[0]);
	EXPECT_TRUE(on_free_list(self, y[1]));

	/* Cache 6 of the live client pops M and marks what it holds. */
	s->caches[6].owner = 7;
	ASSERT_EQ(m, bp_depot_take_full(s, &s->caches[6].pending));
	s->caches[6].loaded = m;
	s->caches[6].pending = BUFPOOL_IDX_NIL;
	bp_mag_mark(s, mm, 1, BUFPOOL_OWN_CACHED | 6);
	EXPECT_EQ(BUFPOOL_OWN_CACHED | 6, s->own[y[0]]);
	s->caches[4].pending = BUFPOOL_IDX_NIL;
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(BUFPOOL_OWN_CACHED | 6, s->own[y[0]]);
}

/*
 * (c) A live cache's magazine naming a buffer another live cache
 * marked: the mark is rewritten FREE (its thread's take falls back to
 * the CAS), repaired, and the buffer counted cached once; the other
 * cache's marks in its own magazine stay.
 */
TEST_F(rc, foreign_mark_in_a_live_magazine)
{
	struct bp_shm *s = &self->s;
	__u32 x[3], y[2];

	cache_mag(self, 1, 7, 0, 3, 0x7, x);
	cache_mag(self, 4, 8, 0, 2, 0x3, y);
	s->own[x[1]] = BUFPOOL_OWN_CACHED | 4;
	set_live(self, 7);
	set_live(self, 8);
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(5, self->r.cached);
	EXPECT_EQ(1, self->r.repaired);
	EXPECT_EQ(0, self->r.dropped);
	EXPECT_EQ(0, self->r.reclaimed);
	EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[x[1]]);
	EXPECT_EQ(BUFPOOL_OWN_CACHED | 1, s->own[x[0]]);
	EXPECT_EQ(BUFPOOL_OWN_CACHED | 1, s->own[x[2]]);
	EXPECT_EQ(BUFPOOL_OWN_CACHED | 4, s->own[y[0]]);
	EXPECT_EQ(BUFPOOL_OWN_CACHED | 4, s->own[y[1]]);

	/* Both caches naming x[1], marked by the second: counted once. */
	bp_mag_at(s, s->caches[4].loaded)->idx[2] = x[1];
	bp_mag_at(s, s->caches[4].loaded)->count = 3;
	s->own[x[1]] = BUFPOOL_OWN_CACHED | 4;
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(5, self->r.cached);
	EXPECT_EQ(1, self->r.repaired);		/* cache 1 sees 4's mark */
	EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[x[1]]);
	RECONCILE(self);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(5, self->r.cached);
}

/*
 * (d) A mark on the free list or in a depot magazine (a thread that
 * pushed before clearing): not a hold; the structure wins, own[] is
 * set FREE, the buffer stays free, and nothing else is counted.
 */
TEST_F(rc, marks_on_free_structures_cleared)
{
	struct bp_shm *s = &self->s;
	__u32 *list = malloc(COUNT * sizeof(*list));
	__u32 x[3], y[3], m, i;

	ASSERT_NE(NULL, list);
	ASSERT_LT(3, s->mag_fill);
	cache_mag(self, 3, 7, 0, 3, 0x7, y);	/* live, with marks */
	set_live(self, 7);
	m = bp_fl_pop(s->empty_head, s->mag_next, s->nr_mags);
	for (i = 0; i < 3; i++) {
		x[i] = bp_fl_pop(s->free_head, s->next, s->buf_count);
		bp_mag_at(s, m)->idx[i] = x[i];
	}
	bp_mag_at(s, m)->count = 3;
	bp_fl_push(s->full_head, s->mag_next, m);
	s->own[x[0]] = BUFPOOL_OWN_CACHED | 3;	/* the live cache's */
	s->own[x[2]] = BUFPOOL_OWN_CACHED | 6;	/* a gone one's */
	ASSERT_EQ(COUNT - 6, free_list(self, list));
	s->own[list[0]] = BUFPOOL_OWN_CACHED | 3;
	s->own[list[50]] = BUFPOOL_OWN_CACHED | 6;
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(COUNT - 3, self->r.free);
	EXPECT_EQ(3, self->r.cached);
	EXPECT_EQ(0, self->r.held);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(0, self->r.dropped);
	EXPECT_EQ(0, self->r.reclaimed);
	EXPECT_EQ(3, bp_mag_at(s, m)->count);
	EXPECT_TRUE(on_stack(self, s->full_head, m));
	for (i = 0; i < 3; i++)
		EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[x[i]]);
	EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[list[0]]);
	EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[list[50]]);
	EXPECT_EQ(COUNT - 6, free_list(self, list));
	free(list);
}

/*
 * (e) Marks nobody's magazine names: c >= nr_caches or stray bits
 * (garbage: repaired), a live cache's (named by nothing: lost) and a
 * gone cache's; all set FREE and reclaimed, none dropped.
 */
TEST_F(rc, stray_marks_reclaimed)
{
	struct bp_shm *s = &self->s;
	__u32 x[5], i;

	for (i = 0; i < 5; i++)
		x[i] = bp_fl_pop(s->free_head, s->next, s->buf_count);
	s->caches[1].owner = 7;
	set_live(self, 7);
	s->own[x[0]] = BUFPOOL_OWN_CACHED | s->nr_caches;
	s->own[x[1]] = BUFPOOL_OWN_CACHED | 0x10000 | 1;	/* stray bit */
	s->own[x[2]] = BUFPOOL_OWN_CACHED | BUFPOOL_OWN_CACHE_MASK;
	s->own[x[3]] = BUFPOOL_OWN_CACHED | 1;	/* live cache, not named */
	s->own[x[4]] = BUFPOOL_OWN_CACHED | 2;	/* gone cache */
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(COUNT, self->r.free);
	EXPECT_EQ(5, self->r.reclaimed);
	EXPECT_EQ(3, self->r.repaired);
	EXPECT_EQ(0, self->r.dropped);
	EXPECT_EQ(0, self->r.cached);
	for (i = 0; i < 5; i++) {
		EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[x[i]]);
		EXPECT_TRUE(on_free_list(self, x[i]));
	}
	RECONCILE(self);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(0, self->r.reclaimed);
}

/*
 * (f) FREE and CACHED | i mixed in one live cache's magazines (a 1.6
 * client, a refill or a clear in progress): all cached, records kept.
 */
TEST_F(rc, mixed_marks_in_a_live_magazine)
{
	struct bp_shm *s = &self->s;
	__u32 x[6], y[3], i;

	ASSERT_LT(6, s->mag_fill);
	cache_mag(self, 6, 7, 0, 6, 0x2d, x);	/* 0, 2, 3, 5 marked */
	cache_mag(self, 6, 7, 1, 3, 0x2, y);	/* 1 marked */
	set_live(self, 7);
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(9, self->r.cached);
	EXPECT_EQ(0, self->r.held);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(0, self->r.dropped);
	EXPECT_EQ(0, self->r.reclaimed);
	for (i = 0; i < 6; i++)
		EXPECT_EQ(0x2d & (1u << i) ? BUFPOOL_OWN_CACHED | 6 :
			  BUFPOOL_OWN_FREE, s->own[x[i]]);
	for (i = 0; i < 3; i++)
		EXPECT_EQ(i == 1 ? BUFPOOL_OWN_CACHED | 6 : BUFPOOL_OWN_FREE,
			  s->own[y[i]]);
}

/*
 * A marked buffer in a valid slot of a kept queue: the queue wins,
 * the mark is cleared (no correct client leaves one there).
 */
TEST_F(rc, mark_in_a_queue_slot_cleared)
{
	struct bp_shm *s = &self->s;
	struct bp_q *q = &self->rq[1].q;
	__u32 x = bp_fl_pop(s->free_head, s->next, s->buf_count);

	s->caches[1].owner = 7;
	set_live(self, 7);
	ASSERT_EQ(0, bp_q_put(q, x, 0, NULL));
	s->own[x] = BUFPOOL_OWN_CACHED | 1;
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(1, self->r.queued);
	EXPECT_EQ(COUNT - 1, self->r.free);
	EXPECT_EQ(1, self->r.repaired);
	EXPECT_EQ(0, self->r.dropped);
	EXPECT_EQ(0, self->r.reclaimed);
	EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[x]);
}

/*
 * A stale announcement: live cache 1's pending names the magazine live
 * cache 4 holds (another thread took the full stack's head before its
 * CAS).  Cache 4's marks are its own: kept, nothing repaired.  Named
 * so by a gone cache instead, they are cleared, silently, and the
 * buffers stay cached until the announcement is gone.
 */
/*
 * Reconcile; the 3 buffers x[] live cache 4 marked are cached (of
 * cached in all), their marks kept, nothing repaired.
 */
static void marks_kept(struct __test_metadata *_metadata,
		       FIXTURE_DATA(rc) *self, const __u32 *x, __u32 cached)
{
	__u32 i;

	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(cached, self->r.cached);
	EXPECT_EQ(0, self->r.repaired);
	for (i = 0; i < 3; i++)
		EXPECT_EQ(BUFPOOL_OWN_CACHED | 4, self->s.own[x[i]]);
}

/*
 * Live cache 4 holds a magazine of 3 buffers it marked, x[], which
 * live cache 1 names too: in its pending word (pending) or its prev
 * word.  Returns the magazine.
 */
static __u32 marked_mag_named_twice(struct __test_metadata *_metadata,
				    FIXTURE_DATA(rc) *self, int pending,
				    __u32 *x)
{
	__u32 m = cache_mag(self, 4, 8, 0, 3, 0x7, x);

	self->s.caches[1].owner = 7;
	if (pending)
		self->s.caches[1].pending = m;
	else
		self->s.caches[1].prev = m;
	set_live(self, 7);
	set_live(self, 8);
	marks_kept(_metadata, self, x, 3);
	return m;
}

TEST_F(rc, stale_pending_names_a_marked_magazine)
{
	struct bp_shm *s = &self->s;
	__u32 x[3], y[2], m, i;

	marked_mag_named_twice(_metadata, self, 1, x);
	m = cache_mag(self, 6, 9, 0, 2, 0x3, y);	/* 9 is gone */
	s->caches[2].owner = 7;
	s->caches[2].pending = m;
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(5, self->r.cached);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(0, self->r.reclaimed);
	EXPECT_EQ(0, self->r.dropped);
	for (i = 0; i < 2; i++)
		EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[y[i]]);
	s->caches[2].pending = BUFPOOL_IDX_NIL;	/* its CAS failed */
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(3, self->r.cached);
	EXPECT_EQ(2, self->r.reclaimed);
	EXPECT_EQ(0, self->r.dropped);
	EXPECT_EQ(0, self->r.repaired);
}

/*
 * A thread of cache 1 pushed its prev magazine to the depot (marks
 * cleared) and has not yet stored the word that replaces it; the thread
 * of cache 4 took the magazine and gave buffers to it since, marked its
 * own.  Both words name the magazine; cache 1's is visited first.  The
 * marks are right: kept, nothing repaired, each buffer cached once.
 */
TEST_F(rc, stale_word_names_a_marked_magazine)
{
	struct bp_shm *s = &self->s;
	__u32 x[3];

	marked_mag_named_twice(_metadata, self, 0, x);
	/* The thread of cache 1 stores its new word: the same again. */
	s->caches[1].prev = BUFPOOL_IDX_NIL;
	marks_kept(_metadata, self, x, 3);

	/* A mark of a cache that does not name it is still garbage. */
	s->own[x[0]] = BUFPOOL_OWN_CACHED | 2;
	s->caches[2].owner = 7;
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(1, self->r.repaired);
	EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[x[0]]);
}

/*
 * ABI 1.9, a rotating depot: a magazine on the second full stack is as
 * free as one on the first; the same magazine on both is cut from the
 * second (seen twice); every stack's head gets a new tag.
 */
TEST_F(rc, rotating_depot_second_stack)
{
	struct bp_shm *s = &self->s;
	__u32 id, id2, x[4], i;
	__u64 h2;

	self->l.depot_flags = BUFPOOL_DEPOT_ROTATE;
	bp_shm_bind(s, self->ctrl, &self->l);
	ASSERT_EQ(1, s->rotate);
	id = bp_fl_pop(s->empty_head, s->mag_next, s->nr_mags);
	id2 = bp_fl_pop(s->empty_head, s->mag_next, s->nr_mags);
	ASSERT_LT(4, s->mag_fill);
	for (i = 0; i < 4; i++) {
		x[i] = bp_fl_pop(s->free_head, s->next, s->buf_count);
		bp_mag_at(s, id)->idx[i] = x[i];
	}
	bp_mag_at(s, id)->count = 4;
	bp_store_relaxed_u32(s->depot_turn, 1);	/* gives go to full2 */
	ASSERT_TRUE(s->full2_head == bp_depot_full_in(s));
	ASSERT_EQ(0, bp_mag_stash(s, id));
	bp_fl_push(s->empty_head, s->mag_next, id2);
	h2 = *s->full2_head;
	RECONCILE(self);
	EXPECT_WHOLE(self);
	EXPECT_EQ(COUNT, self->r.free);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(0, self->r.reclaimed);
	EXPECT_EQ(id, bp_fl_idx(*s->full2_head));
	EXPECT_EQ(bp_fl_next_tag(h2), *s->full2_head >> 24);
	EXPECT_EQ(4, bp_mag_at(s, id)->count);

	/* The same magazine on both stacks: counted once, cut once. */
	bp_fl_push(s->full_head, s->mag_next, id);
	REPAIRED_ONCE(self);

	/* Taken back from the depot: the stack that is not the turn's. */
	i = bp_depot_take_full(s, NULL);
	EXPECT_EQ(id, i);
}

/*
 * In a pool that does not rotate nobody takes from the second stack: a
 * magazine a client left there is unnamed, its buffers go back to the
 * free list and the stack is emptied.
 */
TEST_F(rc, second_stack_of_a_pool_that_does_not_rotate)
{
	struct bp_shm *s = &self->s;
	__u32 id, x[3], i;

	ASSERT_EQ(0, s->rotate);
	id = bp_fl_pop(s->empty_head, s->mag_next, s->nr_mags);
	for (i = 0; i < 3; i++) {
		x[i] = bp_fl_pop(s->free_head, s->next, s->buf_count);
		bp_mag_at(s, id)->idx[i] = x[i];
	}
	bp_mag_at(s, id)->count = 3;
	bp_fl_push(s->full2_head, s->mag_next, id);
	RECONCILE(self);
	EXPECT_EQ(1, self->r.repaired);
	EXPECT_EQ(3, self->r.reclaimed);
	EXPECT_WHOLE(self);
	EXPECT_EQ(COUNT, self->r.free);
	EXPECT_EQ(BUFPOOL_IDX_NIL, bp_fl_idx(*s->full2_head));
	RECONCILE(self);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(COUNT, self->r.free);
}

/*
 * The order of a rotating depot, through <bufpool/magazine.h>: a batch
 * given while the depot hands out another comes out only after that one
 * is gone, so a magazine given after a turn never overtakes one given
 * before it; one stack gives back the magazine given last.
 */
TEST_F(rc, rotating_depot_order)
{
	struct bp_shm *s = &self->s;
	__u32 a[4], b[2], c, i, rot;

	for (rot = 0; rot < 2; rot++) {
		bp_shm_init(self->ctrl, &self->l, 1);
		self->l.depot_flags = rot ? BUFPOOL_DEPOT_ROTATE : 0;
		bp_shm_bind(s, self->ctrl, &self->l);
		for (i = 0; i < 4; i++)
			a[i] = give_full(s);
		EXPECT_EQ(a[3], bp_depot_take_full(s, NULL));
		b[0] = give_full(s);
		b[1] = give_full(s);
		if (!rot) {		/* one stack: last given, first taken */
			EXPECT_EQ(b[1], bp_depot_take_full(s, NULL));
			EXPECT_EQ(b[0], bp_depot_take_full(s, NULL));
			EXPECT_EQ(a[2], bp_depot_take_full(s, NULL));
			continue;
		}
		EXPECT_EQ(1, *s->depot_turn);
		EXPECT_EQ(a[2], bp_depot_take_full(s, NULL));
		EXPECT_EQ(a[1], bp_depot_take_full(s, NULL));
		EXPECT_EQ(a[0], bp_depot_take_full(s, NULL));
		EXPECT_EQ(b[1], bp_depot_take_full(s, NULL));	/* turned */
		EXPECT_EQ(2, *s->depot_turn);
		c = give_full(s);
		EXPECT_EQ(b[0], bp_depot_take_full(s, NULL));
		EXPECT_EQ(c, bp_depot_take_full(s, NULL));
		EXPECT_EQ(BUFPOOL_IDX_NIL, bp_depot_take_full(s, NULL));
	}
}

TEST_HARNESS_MAIN
