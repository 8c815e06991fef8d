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

FIXTURE(rc) {
	struct bp_layout l;
	struct bp_shm s;
	struct bp_recon r;
	void *ctrl;
	__u64 *bits;
	__u64 live[(BUFPOOL_CLIENT_MAX + 1) / 64];
};

static void recon_reset(FIXTURE_DATA(rc) *self)
{
	size_t b = (COUNT + 63) / 64, m = (self->l.nr_mags + 63) / 64;

	memset(self->bits, 0, (2 * (b + m) + 1) * sizeof(__u64));
	memset(&self->r, 0, sizeof(self->r));
	self->r.free_bm = self->bits;
	self->r.held_bm = self->bits + b;
	self->r.mfree_bm = self->bits + 2 * b;
	self->r.mheld_bm = self->bits + 2 * b + m;
	self->r.live = self->live;
}

FIXTURE_SETUP(rc)
{
	bp_layout_compute(&self->l, COUNT, SHIFT, SLOTS, 0, 0, 4096);
	self->ctrl = calloc(1, self->l.ctrl_size);
	self->bits = calloc(2 * ((COUNT + 63) / 64 +
				 (self->l.nr_mags + 63) / 64) + 1, 8);
	ASSERT_NE(NULL, self->ctrl);
	ASSERT_NE(NULL, self->bits);
	bp_shm_init(self->ctrl, &self->l, 1);
	bp_shm_bind(&self->s, self->ctrl, &self->l);
	memset(self->live, 0, sizeof(self->live));
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
	(self)->r.cached + (self)->r.held + (self)->r.transit)

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
		s->mags[a].idx[i] = x;
		s->mags[a].count = i + 1;
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

/* What is on a list and also named is free: the list wins. */
TEST_F(rc, list_wins_over_records)
{
	struct bp_shm *s = &self->s;
	__u32 x = bp_fl_idx(*s->free_head);

	s->own[x] = 9;		/* a give whose own[] store is late */
	s->caches[0].owner = 9;
	s->caches[0].pend_buf = x + 1;
	set_live(self, 9);
	RECONCILE(self);
	EXPECT_EQ(COUNT, self->r.free);
	EXPECT_EQ(0, self->r.held);
	EXPECT_EQ(BUFPOOL_OWN_FREE, s->own[x]);
}

/* A cycle and a duplicate are cut, and nothing is lost for it. */
TEST_F(rc, cycles_and_duplicates_are_cut)
{
	struct bp_shm *s = &self->s;

	s->next[10] = 3;		/* 0..3 -> ... -> 10 -> 3: a cycle */
	RECONCILE(self);
	EXPECT_EQ(1, self->r.repaired);
	EXPECT_WHOLE(self);
	EXPECT_EQ(COUNT, self->r.free);
	RECONCILE(self);
	EXPECT_EQ(0, self->r.repaired);
	EXPECT_EQ(COUNT, self->r.free);
}

/*
 * A state correct clients could leave: full magazines in the depot,
 * caches of clients 1..16 holding magazines, buffers named in own[].
 */
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
			s->mags[id].idx[i] = x;
		}
		s->mags[id].count = i;
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
	__u32 idx, id;

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
			for (i = 0; i < self->s.mags[id].count; i++) {
				idx = self->s.mags[id].idx[i];
				ASSERT_GT(COUNT, idx);
				ASSERT_EQ(0, seen[idx]);
				seen[idx] = 1;
			}
		if (!_metadata->passed)	/* not 3000 times the same */
			break;
	}
	free(seen);
}

TEST_HARNESS_MAIN
