/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * bufpool: magazines (Bonwick), moved whole between a thread's cache and
 * the depot, which is two tagged stacks of magazine ids: full_head for
 * magazines holding mag_fill buffers, empty_head for empty ones.  A
 * thread's cache (struct bufpool_cache) names the two magazines it holds,
 * loaded and prev, and the one it is moving (pending).
 *
 * ABI 1.9: a rotating depot (BUFPOOL_DEPOT_ROTATE) keeps full magazines
 * on two stacks, full_head and full2_head, that take turns: the turn's
 * stack takes the full magazines given, the other gives them, and a
 * taker that finds the giving stack empty moves the turn on (one CAS)
 * and takes from the stack that was taking.  So the magazines given
 * while the depot handed out one batch are handed out as the next
 * batch, about a round of the depot after they were given.  Each stack
 * is the tagged stack of <bufpool/freelist.h>, so that everything said
 * there of progress and of a thread that dies holds for both; the turn
 * only chooses a stack, and a magazine on either is found by every
 * taker, which tries both.
 */
#ifndef _BUFPOOL_MAGAZINE_H
#define _BUFPOOL_MAGAZINE_H

#include <bufpool/layout.h>

/* The stack a full magazine goes to: the turn's, in a rotating depot. */
static inline __u64 *bp_depot_full_in(const struct bp_shm *s)
{
	if (s->rotate && (bp_load_relaxed_u32(s->depot_turn) & 1))
		return s->full2_head;
	return s->full_head;
}

/*
 * bp_depot_take_full - take a full magazine from the depot, announced in
 * rec as bp_fl_pop_rec() does.  A rotating depot gives from the stack
 * that is not the turn's; when that one is empty, the taker moves the
 * turn on (a lost race means another taker did) and takes from the
 * other.  Returns what bp_fl_pop_rec() returns.
 */
static inline __u32 bp_depot_take_full(struct bp_shm *s, __u32 *rec)
{
	__u32 turn, id;
	__u64 *out;

	if (!s->rotate)
		return bp_fl_pop_rec(s->full_head, s->mag_next, s->nr_mags,
				     rec);
	turn = bp_load_relaxed_u32(s->depot_turn);
	out = (turn & 1) ? s->full_head : s->full2_head;
	id = bp_fl_pop_rec(out, s->mag_next, s->nr_mags, rec);
	if (id != BUFPOOL_IDX_NIL)
		return id;
	bp_cas_relaxed_u32(s->depot_turn, &turn, turn + 1);
	out = out == s->full_head ? s->full2_head : s->full_head;
	return bp_fl_pop_rec(out, s->mag_next, s->nr_mags, rec);
}

/*
 * bp_mag_unmark - ABI 1.7: clear the marks a cache's thread left on the
 * buffers of magazine m (mark: BUFPOOL_OWN_CACHED | the cache's index),
 * before the magazine leaves the cache (to the depot's full stack, to the
 * free list, at a flush), so that the depot and the free list hold only
 * BUFPOOL_OWN_FREE buffers and any thread may take them with its CAS.
 * Only the thread of that cache calls it (it alone writes those marks);
 * the push that follows, a release CAS, publishes the stores.  A record
 * other than the mark is left alone (what takes and the kernel make of
 * it is theirs), and so is everything when the count is above the cap.
 */
static inline void bp_mag_unmark(struct bp_shm *s, struct bufpool_mag *m,
				 __u32 mark)
{
	__u32 n = bp_load_relaxed_u32(&m->count), i, idx;

	if (n > s->mag_cap)
		return;
	for (i = 0; i < n; i++) {
		idx = bp_load_relaxed_u32(&m->idx[i]);
		if (idx < s->buf_count &&
		    bp_load_relaxed_u32(&s->own[idx]) == mark)
			bp_store_relaxed_u32(&s->own[idx], BUFPOOL_OWN_FREE);
	}
}

/*
 * bp_mag_mark - library 1.9.1: the other half of bp_mag_unmark.  A cache
 * that loads a full magazine m from the depot (its count n checked, and
 * m named by the cache's record first) marks its free buffers its own in
 * one pass, each with a compare-and-swap from BUFPOOL_OWN_FREE to mark
 * (BUFPOOL_OWN_CACHED | the cache's index), so that every take from the
 * magazine after that is the plain store of a marked buffer.  The state
 * is the one a give makes: a free buffer in a magazine of cache c, which
 * only c's thread takes or unmarks, and which the kernel keeps marked
 * while a live cache's magazine names it.  An entry out of range, or one
 * whose record is anything but free (another client wrote it there), is
 * left alone: its take is refused as before, and of two entries naming
 * one buffer only the first is marked.  Only the thread of that cache
 * calls it.  The point is where the atomic operations happen: in one
 * tight loop per magazine, not one per take between the caller's own
 * stores to the buffers, which a locked instruction would wait for.
 * (Library 1.9.3: a cache of a rotating pool moves such a magazine into
 * its loaded one instead, a take and a give per buffer, which leave the
 * same marks: userlib/cache.c, bp_thread_cache_load_reversed().)
 */
static inline void bp_mag_mark(struct bp_shm *s, struct bufpool_mag *m,
			       __u32 n, __u32 mark)
{
	__u32 i, idx, o;

	if (n > s->mag_cap)
		return;
	for (i = 0; i < n; i++) {
		idx = bp_load_relaxed_u32(&m->idx[i]);
		o = BUFPOOL_OWN_FREE;
		if (idx < s->buf_count)
			bp_cas_relaxed_u32(&s->own[idx], &o, mark);
	}
}

/*
 * bp_mag_drain - give a magazine's buffers back to the free list, with
 * one CAS.  The caller owns the magazine.  An entry no correct client
 * could have written (an index out of range, a buffer that own[] says
 * somebody holds: a buffer in a magazine is free) is dropped, never
 * followed or pushed, and so is everything when the count is above the
 * cap.  The count is cleared after the push, so that the buffers are
 * named by the magazine until they are on the list.  Returns how many
 * entries it dropped, plus one if the push gave up (BP_FL_TRIES): what
 * it dropped is named by nothing, and the kernel's next reconciliation
 * gives back what nobody holds.
 */
static inline __u32 bp_mag_drain(struct bp_shm *s, struct bufpool_mag *m)
{
	__u32 n = bp_load_relaxed_u32(&m->count);
	__u32 first = BUFPOOL_IDX_NIL, last = BUFPOOL_IDX_NIL, i, idx, bad = 0;

	if (n > s->mag_cap) {
		bad = 1;
		n = 0;
	}
	for (i = 0; i < n; i++) {
		idx = bp_load_relaxed_u32(&m->idx[i]);
		if (idx < s->buf_count &&
		    bp_load_relaxed_u32(&s->own[idx]) == BUFPOOL_OWN_FREE)
			bp_fl_chain_add(s->next, &first, &last, idx);
		else
			bad++;
	}
	if (first != BUFPOOL_IDX_NIL &&
	    bp_fl_push_chain(s->free_head, s->next, first, last))
		bad++;
	bp_store_release_u32(&m->count, 0);
	return bad;
}

/*
 * bp_mag_stash - put a magazine the caller owns into the depot: one
 * holding buffers on the full stack, an empty one on the empty stack.
 * One whose count no correct client could have written is emptied (its
 * entries are not trusted) and goes on the empty stack.  Returns 0, or
 * non-zero when it found garbage or its push gave up.
 */
static inline __u32 bp_mag_stash(struct bp_shm *s, __u32 id)
{
	struct bufpool_mag *m = bp_mag_at(s, id);
	__u32 n = bp_load_relaxed_u32(&m->count), bad = 0;

	if (n > s->mag_fill) {
		bp_store_relaxed_u32(&m->count, 0);
		n = 0;
		bad = 1;
	}
	if (bp_fl_push(n ? bp_depot_full_in(s) : s->empty_head, s->mag_next,
		       id))
		bad++;
	return bad;
}

/*
 * bp_cache_flush - return everything a cache holds to the depot.  Only
 * for a cache nobody uses meanwhile (its thread exited, or its client is
 * gone).  Every id read from the cache is bounds-checked.  A magazine is
 * pushed before the cache stops naming it.  Returns non-zero when it
 * found garbage (bp_mag_stash).
 */
static inline __u32 bp_cache_flush(struct bp_shm *s, struct bufpool_cache *c)
{
	__u32 loaded = bp_load_relaxed_u32(&c->loaded);
	__u32 prev = bp_load_relaxed_u32(&c->prev);
	__u32 bad = 0;

	if (loaded < s->nr_mags)
		bad += bp_mag_stash(s, loaded);
	bp_store_release_u32(&c->loaded, BUFPOOL_IDX_NIL);
	if (prev < s->nr_mags && prev != loaded)
		bad += bp_mag_stash(s, prev);
	bp_store_release_u32(&c->prev, BUFPOOL_IDX_NIL);
	return bad;
}

#endif /* _BUFPOOL_MAGAZINE_H */
