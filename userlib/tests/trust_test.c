// SPDX-License-Identifier: GPL-2.0
/*
 * The library never trusts the shared control area, on a module-free
 * (memfd) pool: another client of the pool (here a second mapping of
 * the memfd) writes a pattern over its lists, magazines or records, and
 * a well-behaved handle then takes buffers until a call fails.  It must
 * never be handed a buffer that own[] says another handle holds, never
 * one buffer twice, and every call must come back within a bound; what
 * it found is counted (bufpool_stats' detected).  Nobody can stop a
 * memfd pool's clients, so nothing repairs it (bufpool_repair: ENOTTY);
 * the VM's bufpool_trust_test covers the device, where the kernel does.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "kselftest_harness.h"

#include <bufpool.h>
#include <bufpool/freelist.h>

#define COUNT		512
#define HELD		32	/* buffers the holder keeps */
#define CALL_NS		(2 * 1000000000LL)	/* the bound per call */

FIXTURE(trust) {
	struct bufpool *holder;	/* holds held[] */
	struct bufpool *victim;	/* well-behaved, takes after the damage */
	struct bufpool_info info;
	unsigned char *ctrl;	/* the corrupting client's mapping */
	uint32_t held[HELD];
	unsigned char is_held[COUNT];
};

FIXTURE_VARIANT(trust) {
	unsigned int flags;	/* BUFPOOL_F_NO_CACHE: the free list only */
};
FIXTURE_VARIANT_ADD(trust, caches) { .flags = 0 };
FIXTURE_VARIANT_ADD(trust, no_caches) { .flags = BUFPOOL_F_NO_CACHE };

FIXTURE_SETUP(trust)
{
	struct bufpool_params p = {
		.buf_size = 256, .buf_count = COUNT, .caches = 8,
		.flags = BUFPOOL_F_NO_HUGETLB | variant->flags,
	};
	int i;

	self->holder = bufpool_create(&p);
	ASSERT_NE(NULL, self->holder);
	self->victim = bufpool_open_fd(bufpool_fd(self->holder));
	ASSERT_NE(NULL, self->victim);
	ASSERT_EQ(0, bufpool_get_info(self->holder, &self->info));
	self->ctrl = mmap(NULL, self->info.ctrl_size, PROT_READ | PROT_WRITE,
			  MAP_SHARED, bufpool_fd(self->holder),
			  (off_t)self->info.ctrl_offset);
	ASSERT_NE(MAP_FAILED, self->ctrl);
	/* The holder takes some, gives a few back: magazines in use. */
	for (i = 0; i < HELD; i++) {
		ASSERT_EQ(0, bufpool_acquire_index(self->holder,
						   &self->held[i]));
		self->is_held[self->held[i]] = 1;
	}
}

FIXTURE_TEARDOWN(trust)
{
	if (self->ctrl && self->ctrl != MAP_FAILED)
		munmap(self->ctrl, self->info.ctrl_size);
	if (self->victim)
		bufpool_close(self->victim);
	if (self->holder)
		bufpool_close(self->holder);
}

static void *at(FIXTURE_DATA(trust) *self, uint64_t off)
{
	return self->ctrl + off;
}

#define CTRL(self)	((struct bufpool_ctrl *)(self)->ctrl)
#define NEXT(self)	((uint32_t *)at(self, (self)->info.next_offset))
#define OWN(self)	((uint32_t *)at(self, (self)->info.own_offset))
#define MAG_NEXT(self)	((uint32_t *)at(self, (self)->info.mag_next_offset))
#define MAG(self, i)	((struct bufpool_mag *)at(self, (self)->info.mags_offset + \
		(uint64_t)(i) * BUFPOOL_MAG_STRIDE((self)->info.mag_fill)))

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The victim takes until a call fails with ENOBUFS, or 4 x COUNT calls:
 * never a held buffer, never one twice, each call within the bound,
 * every failure one of the documented errors.  Returns how many calls
 * failed with EUCLEAN.  check_held: own[] still names the holder's
 * buffers (not after a pattern that wipes the records themselves).
 */
static unsigned int take_all(struct __test_metadata *_metadata,
			     FIXTURE_DATA(trust) *self, int check_held)
{
	unsigned char seen[COUNT] = { 0 };
	unsigned int calls, got = 0, unclean = 0;
	int64_t t;
	uint32_t idx;
	int r;

	for (calls = 0; calls < 4 * COUNT; calls++) {
		t = now_ns();
		r = bufpool_acquire_index(self->victim, &idx);
		EXPECT_GT(CALL_NS, now_ns() - t);
		if (r) {
			/* EUSERS: every cache claimed (garbage owners). */
			EXPECT_TRUE(errno == ENOBUFS || errno == EUCLEAN ||
				    errno == EAGAIN || errno == EUSERS) {
				TH_LOG("errno %d", errno);
			}
			if (errno == EUCLEAN)
				unclean++;
			if (errno == ENOBUFS)
				break;
			continue;
		}
		ASSERT_GT(COUNT, idx);
		if (check_held)
			ASSERT_EQ(0, self->is_held[idx]) {
				TH_LOG("handed buffer %u, held by the holder",
				       idx);
			}
		ASSERT_EQ(0, seen[idx]) {
			TH_LOG("handed buffer %u twice", idx);
		}
		seen[idx] = 1;
		got++;
	}
	EXPECT_GE(COUNT - (check_held ? HELD : 0), got);
	TH_LOG("%u buffers, %u EUCLEAN in %u calls", got, unclean, calls);
	return unclean;
}

static uint64_t detected(FIXTURE_DATA(trust) *self)
{
	struct bufpool_stats st;

	if (bufpool_stats(self->victim, &st))
		return 0;
	return st.detected;
}

/* What the holder holds is still its own: it gives it back. */
static void holder_gives_back(struct __test_metadata *_metadata,
			      FIXTURE_DATA(trust) *self)
{
	int i;

	for (i = 0; i < HELD; i++)
		EXPECT_EQ(0, bufpool_release_index(self->holder,
						   self->held[i]));
}

/* The free list goes round in a circle. */
TEST_F(trust, free_list_cycle)
{
	uint32_t a, b;

	a = bp_fl_idx(CTRL(self)->free_head);
	ASSERT_GT(COUNT, a);
	b = NEXT(self)[a];
	ASSERT_GT(COUNT, b);
	NEXT(self)[b] = a;
	/* Magazines hold nothing: the free list is all there is. */
	CTRL(self)->full_head = bp_fl_pack(BUFPOOL_IDX_NIL, 1);
	EXPECT_LT(0, take_all(_metadata, self, 1));
	EXPECT_LT(0, detected(self));
	EXPECT_EQ(-1, bufpool_repair(self->victim));
	EXPECT_EQ(ENOTTY, errno);
	holder_gives_back(_metadata, self);
}

/* The list's head, and a link, name buffers the holder holds. */
TEST_F(trust, free_list_names_held_buffers)
{
	uint64_t h = CTRL(self)->free_head;

	NEXT(self)[self->held[1]] = bp_fl_idx(h);
	NEXT(self)[self->held[0]] = self->held[1];
	CTRL(self)->free_head = bp_fl_pack(self->held[0],
					   bp_fl_next_tag(h));
	CTRL(self)->full_head = bp_fl_pack(BUFPOOL_IDX_NIL, 1);
	EXPECT_LT(0, take_all(_metadata, self, 1));
	EXPECT_LT(0, detected(self));
	holder_gives_back(_metadata, self);
}

/* Every magazine claims more than it can hold. */
TEST_F(trust, magazine_counts_beyond_capacity)
{
	uint32_t i, dummy;

	if (!self->info.nr_mags)
		SKIP(return, "no magazines");
	/* The victim's thread has a cache with magazines first. */
	ASSERT_EQ(0, bufpool_acquire_index(self->victim, &dummy));
	ASSERT_EQ(0, bufpool_release_index(self->victim, dummy));
	for (i = 0; i < self->info.nr_mags; i++)
		MAG(self, i)->count = i & 1 ? 1000 : self->info.mag_fill + 1;
	EXPECT_LT(0, take_all(_metadata, self, 1));
	EXPECT_LT(0, detected(self));
	holder_gives_back(_metadata, self);
}

/* Every magazine, the victim's own included, names held buffers. */
TEST_F(trust, magazines_name_held_buffers)
{
	uint32_t i, k, dummy;

	if (!self->info.nr_mags)
		SKIP(return, "no magazines");
	ASSERT_EQ(0, bufpool_acquire_index(self->victim, &dummy));
	ASSERT_EQ(0, bufpool_release_index(self->victim, dummy));
	for (i = 0; i < self->info.nr_mags; i++) {
		for (k = 0; k < self->info.mag_fill; k++)
			MAG(self, i)->idx[k] = self->held[(i + k) % HELD];
		MAG(self, i)->count = self->info.mag_fill;
	}
	EXPECT_LT(0, take_all(_metadata, self, 1));
	EXPECT_LT(0, detected(self));
	holder_gives_back(_metadata, self);
}

/* The depot's full stack is one magazine that links to itself. */
TEST_F(trust, depot_points_at_itself)
{
	uint32_t m, k;

	if (!self->info.nr_mags)
		SKIP(return, "no magazines");
	m = self->info.nr_mags - 1;
	for (k = 0; k < self->info.mag_fill; k++)
		MAG(self, m)->idx[k] = k & 1 ? self->held[k % HELD] :
					       COUNT - 1 - k;
	MAG(self, m)->count = self->info.mag_fill;
	MAG_NEXT(self)[m] = m;
	CTRL(self)->full_head = bp_fl_pack(m, 7);
	CTRL(self)->free_head = bp_fl_pack(BUFPOOL_IDX_NIL, 7);
	EXPECT_LT(0, take_all(_metadata, self, 1));
	EXPECT_LT(0, detected(self));
	holder_gives_back(_metadata, self);
}

/*
 * ABI 1.7: the record of a buffer in a cache is the cache's mark, from
 * the give to the take; a second release of it is refused; a flush
 * clears the marks, so the depot holds unmarked buffers only.
 */
TEST_F(trust, cache_marks_follow_buffers)
{
	uint32_t x = self->held[HELD - 1], y, i, mark, marked;

	if (!self->info.nr_mags)
		SKIP(return, "no magazines");
	ASSERT_EQ(0, bufpool_release_index(self->holder, x));
	mark = OWN(self)[x];
	EXPECT_EQ(BUFPOOL_OWN_CACHED,
		  mark & ~(uint32_t)BUFPOOL_OWN_CACHE_MASK);
	EXPECT_GT(self->info.nr_caches, mark & BUFPOOL_OWN_CACHE_MASK);
	/* A second release: the buffer is the cache's, not the holder's. */
	EXPECT_EQ(-1, bufpool_release_index(self->holder, x));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(mark, OWN(self)[x]);
	/* Nor can it be handed off or queued as the holder's. */
	EXPECT_EQ(-1, bufpool_handoff(self->holder, x));
	ASSERT_EQ(0, bufpool_acquire_index(self->holder, &y));
	EXPECT_EQ(x, y);
	EXPECT_EQ(bufpool_client_id(self->holder), OWN(self)[x]);
	ASSERT_EQ(0, bufpool_release_index(self->holder, x));
	EXPECT_EQ(mark, OWN(self)[x]);
	/* The victim's cache has another mark. */
	ASSERT_EQ(0, bufpool_acquire_index(self->victim, &y));
	ASSERT_EQ(0, bufpool_release_index(self->victim, y));
	EXPECT_EQ(BUFPOOL_OWN_CACHED, OWN(self)[y] & ~BUFPOOL_OWN_CACHE_MASK);
	EXPECT_NE(mark, OWN(self)[y]);
	bufpool_flush_cache(self->holder);
	bufpool_flush_cache(self->victim);
	for (i = 0, marked = 0; i < COUNT; i++) {
		if (self->is_held[i] && i != x)
			continue;
		if (OWN(self)[i] != BUFPOOL_OWN_FREE && !marked++)
			TH_LOG("buffer %u: record %#x after the flush", i,
			       OWN(self)[i]);
	}
	EXPECT_EQ(0, marked);
	self->is_held[x] = 0;
	self->held[HELD - 1] = self->held[0];
}

/*
 * Library 1.9.1: a cache that loads a full magazine from the depot marks
 * its buffers (bp_mag_mark), so that its takes are plain stores.  The
 * holder takes half the pool, gives everything back and flushes: the
 * depot holds full, unmarked magazines.  The victim's first take loads one: every buffer
 * left in it carries the victim's mark, the one its give of the taken
 * buffer writes.  Then the holder takes a buffer and every full magazine
 * in the depot is made to name it on top: the victim never marks or
 * takes it, and the rest of each such magazine, which the victim drops,
 * keeps no mark of the victim's (the kernel's reconciliation gives back
 * what nothing names).  The victim's flush leaves no mark of its own.
 */
TEST_F(trust, depot_magazines_come_marked)
{
	uint32_t x, y, i, mark, marked = 0, other = 0, held, n;
	uint32_t many[COUNT / 2];
	struct bufpool_mag *m;

	if (!self->info.nr_mags)
		SKIP(return, "no magazines");
	for (i = 0; i < HELD; i++) {
		ASSERT_EQ(0, bufpool_release_index(self->holder,
						   self->held[i]));
		self->is_held[self->held[i]] = 0;
	}
	/* Through the holder's cache, full magazines into the depot. */
	for (i = 0; i < COUNT / 2; i++)
		ASSERT_EQ(0, bufpool_acquire_index(self->holder, &many[i]));
	for (i = 0; i < COUNT / 2; i++)
		ASSERT_EQ(0, bufpool_release_index(self->holder, many[i]));
	bufpool_flush_cache(self->holder);
	for (i = 0; i < COUNT; i++)
		ASSERT_EQ(BUFPOOL_OWN_FREE, OWN(self)[i]);
	ASSERT_EQ(0, bufpool_acquire_index(self->victim, &x));
	ASSERT_EQ(0, bufpool_release_index(self->victim, x));
	mark = OWN(self)[x];
	ASSERT_EQ(BUFPOOL_OWN_CACHED,
		  mark & ~(uint32_t)BUFPOOL_OWN_CACHE_MASK);
	for (i = 0; i < COUNT; i++) {
		if (OWN(self)[i] == mark)
			marked++;
		else if (OWN(self)[i] != BUFPOOL_OWN_FREE)
			other++;
	}
	TH_LOG("%u buffers marked after one take, magazines of %u", marked,
	       self->info.mag_fill);
	EXPECT_EQ(0, other);
	EXPECT_LT(1, marked);
	EXPECT_GE(self->info.mag_fill, marked);

	ASSERT_EQ(0, bufpool_acquire_index(self->holder, &held));
	for (i = 0; i < HELD; i++)
		self->held[i] = held;
	self->is_held[held] = 1;
	for (i = 0, n = 0; i < self->info.nr_mags; i++) {
		m = MAG(self, i);
		if (m->count > 1 && m->count <= self->info.mag_fill &&
		    OWN(self)[m->idx[0]] == BUFPOOL_OWN_FREE) {
			m->idx[m->count - 1] = held;
			n++;
		}
	}
	ASSERT_LT(0, n);
	for (i = 0; i < 4 * COUNT; i++) {
		if (bufpool_acquire_index(self->victim, &y)) {
			if (errno == ENOBUFS)
				break;
			continue;
		}
		ASSERT_NE(held, y);
	}
	EXPECT_LT(0, detected(self));
	EXPECT_EQ(bufpool_client_id(self->holder), OWN(self)[held]);
	bufpool_flush_cache(self->victim);
	for (i = 0, marked = 0; i < COUNT; i++)
		if (OWN(self)[i] == mark && !marked++)
			TH_LOG("buffer %u: the victim's mark after its flush", i);
	EXPECT_EQ(0, marked);
}

/*
 * ABI 1.7: a buffer given to a cache carries the cache's mark; its
 * thread takes it back with a plain store, and nobody else takes it.
 * The holder gives 8 buffers to its cache (marked its own), and every
 * magazine, the victim's own included, is made to name them: the victim
 * must refuse them all, and the holder still takes exactly those.
 */
TEST_F(trust, magazines_name_another_caches_buffers)
{
	unsigned char victim_got[COUNT] = { 0 };
	uint32_t i, k, idx, dummy, mark;
	int r;

	if (!self->info.nr_mags)
		SKIP(return, "no magazines");
	ASSERT_EQ(0, bufpool_acquire_index(self->victim, &dummy));
	ASSERT_EQ(0, bufpool_release_index(self->victim, dummy));
	for (i = 0; i < 8; i++) {
		ASSERT_EQ(0, bufpool_release_index(self->holder,
						   self->held[HELD - 1 - i]));
		self->is_held[self->held[HELD - 1 - i]] = 0;
	}
	mark = OWN(self)[self->held[HELD - 1]];
	ASSERT_EQ(BUFPOOL_OWN_CACHED,
		  mark & (BUFPOOL_OWN_KIND | BUFPOOL_OWN_CACHED));
	ASSERT_GT(self->info.nr_caches, mark & BUFPOOL_OWN_CACHE_MASK);
	for (i = 0; i < self->info.nr_mags; i++) {
		for (k = 0; k < self->info.mag_fill; k++)
			MAG(self, i)->idx[k] = self->held[HELD - 1 - k % 8];
		MAG(self, i)->count = self->info.mag_fill;
	}
	for (i = 0; i < 4 * COUNT; i++) {
		r = bufpool_acquire_index(self->victim, &idx);
		if (r && errno == ENOBUFS)
			break;
		if (r)
			continue;
		ASSERT_GT(COUNT, idx);
		for (k = 0; k < 8; k++)
			ASSERT_NE(self->held[HELD - 1 - k], idx) {
				TH_LOG("the victim took %u, in the holder's cache",
				       idx);
			}
		victim_got[idx] = 1;
	}
	EXPECT_LT(0, detected(self));
	/* The holder's magazines were overwritten too: what it takes now
	 * is never what the victim holds.
	 */
	for (i = 0; i < 8; i++) {
		if (bufpool_acquire_index(self->holder, &idx))
			break;
		EXPECT_EQ(0, victim_got[idx]) {
			TH_LOG("%u taken by both handles", idx);
		}
	}
}

/*
 * Whole patterns over everything after the header, records included:
 * once own[] is overwritten, nothing says what the holder holds (its
 * releases fail with EINVAL), but no buffer is handed out twice and
 * every call ends.
 */
static void fill(FIXTURE_DATA(trust) *self, int how)
{
	uint32_t *w = (uint32_t *)self->ctrl;
	unsigned int seed = 42;
	size_t i, from = offsetof(struct bufpool_ctrl, free_head) / 4;

	for (i = from; i < self->info.ctrl_size / 4; i++)
		w[i] = how == 0 ? 0 : how == 1 ? ~0u :
		       (uint32_t)rand_r(&seed) << 16 ^ (uint32_t)rand_r(&seed);
}

TEST_F(trust, all_zero)
{
	fill(self, 0);
	take_all(_metadata, self, 0);
}

TEST_F(trust, all_ones)
{
	fill(self, 1);
	take_all(_metadata, self, 0);
}

TEST_F(trust, random_words)
{
	fill(self, 2);
	take_all(_metadata, self, 0);
}

TEST_HARNESS_MAIN
