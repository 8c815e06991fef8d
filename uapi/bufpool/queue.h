/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * bufpool: queues of buffer indices in a pool's control area, the one
 * implementation that bufpool.ko and libbufpool-user both compile.
 *
 * A queue is a bounded FIFO of `size` slots (a power of two), a
 * producers' counter `tail` and a consumer's counter `head`, all in
 * shared memory (struct bufpool_qdesc, <linux/bufpool.h>).  Position p
 * (0, 1, 2, ...) of the queue lives in slot p % size, and a slot says
 * which position it holds: it is one 64-bit word {lap:40, idx:24} with
 * lap = p / size (mod 2^40).
 *
 *   {lap(p), EMPTY}      position p may be filled (it is free)
 *   {lap(p), x}          position p holds buffer x
 *   {lap(p), SKIP}       position p was voided by the kernel's repair
 *   {lap(p) + 1, EMPTY}  position p was consumed; p + size may be filled
 *
 * Enqueue claims the slot of position tail with one compare-and-swap
 * from {lap, EMPTY} to {lap, x}, then moves tail on (another CAS, which
 * anyone may do: a producer that finds the slot at tail filled moves the
 * tail itself, "helping").  The slot's lap is the ABA guard: a producer
 * that read an old tail and stalled finds the slot at a later lap, and
 * its CAS fails.  The queue is full when the slot at tail still holds
 * the previous lap's buffer.  Dequeue (one consumer) reads the slot at
 * head; when it holds buffer x it records x as its own, marks the slot
 * consumed and moves head on.
 *
 * Lock-free and crash-safe: every change is one store or CAS to one
 * word, and the state between two of them is one that every other party
 * handles.  A producer that dies after its slot CAS and before its tail
 * CAS has enqueued (the next producer moves the tail); a consumer that
 * dies after marking the slot consumed and before moving head is
 * overtaken by the next consumer (a slot one lap ahead at head means
 * "consumed": move head).  No one ever waits for anyone.
 *
 * Ownership (docs/DESIGN.md, "Queues"): a producer names the buffer in
 * its cache's pend_buf and clears own[x] before its CAS, and clears
 * pend_buf after it; the consumer writes own[x] = itself before it marks
 * the slot consumed.  So at every instruction the buffer is queued (a
 * slot names it, which wins over every record) or named by a record of
 * the client that holds it, and the kernel's reconciliation can tell.
 *
 * Every value read from shared memory may be garbage: slot contents are
 * masked and bounds-checked, the tail is trusted only as a hint, and no
 * call loops more than a bound (BP_Q_TRIES): a call that meets what no
 * correct client could have written reports corruption, one that keeps
 * losing races gives up and reports that nothing happened.
 */
#ifndef _BUFPOOL_QUEUE_H
#define _BUFPOOL_QUEUE_H

#include <linux/bufpool.h>
#include <bufpool/atomic.h>

/*
 * How the loops that handle every state of a slot are declared: inline
 * by default; the library makes them out of line and cold, so that the
 * common case inlined around them is laid out without them.
 */
#ifndef BP_Q_SLOW
#define BP_Q_SLOW	inline
#endif

#define BP_Q_LAP_BITS		(64 - BUFPOOL_IDX_BITS)
#define BP_Q_LAP_MASK		((1ULL << BP_Q_LAP_BITS) - 1)

/* What bp_q_put() returns besides 0. */
#define BP_Q_FULL		1	/* the queue is full */
#define BP_Q_BUSY		2	/* gave up after BP_Q_TRIES races */
#define BP_Q_CORRUPT		3	/* shared words no client could write */

/*
 * What bp_q_get() returns besides a buffer index: BUFPOOL_IDX_NIL when
 * the queue is empty (or held only voided positions), BP_FL_CORRUPT.
 */

/*
 * A queue as one process sees it: the shared descriptor and slots, and
 * its geometry from a trusted source (the kernel's answer to
 * BUFPOOL_IOC_QUEUE, or the module-free pool's creator), never read
 * back from the shared descriptor.
 */
struct bp_q {
	struct bufpool_qdesc *d;
	__u64 *slots;
	__u64 mask;		/* size - 1 */
	__u32 shift;		/* log2(size) */
	__u32 buf_count;	/* indices below this are buffers */
};

/* Tries of one call: enough for every position to be helped twice. */
static inline __u64 bp_q_tries(const struct bp_q *q)
{
	return 2 * (q->mask + 1) + 64;
}

static inline __u64 bp_q_slot(__u64 lap, __u32 idx)
{
	return ((lap & BP_Q_LAP_MASK) << BUFPOOL_IDX_BITS) |
	       (idx & BUFPOOL_IDX_MASK);
}

static inline __u64 bp_q_slot_lap(__u64 s)
{
	return s >> BUFPOOL_IDX_BITS;
}

static inline __u32 bp_q_slot_idx(__u64 s)
{
	return (__u32)s & BUFPOOL_IDX_MASK;
}

static inline __u64 bp_q_lap(const struct bp_q *q, __u64 pos)
{
	return (pos >> q->shift) & BP_Q_LAP_MASK;
}

/* The lap of slot s relative to position pos's, mod 2^40. */
static inline __u64 bp_q_dlap(const struct bp_q *q, __u64 s, __u64 pos)
{
	return (bp_q_slot_lap(s) - bp_q_lap(q, pos)) & BP_Q_LAP_MASK;
}

/* Slots of a queue nobody uses yet: positions 0..n-1, free. */
static inline void bp_q_slots_init(__u64 *slots, __u32 n)
{
	__u32 i;

	for (i = 0; i < n; i++)
		bp_store_relaxed_u64(&slots[i],
				     bp_q_slot(0, BUFPOOL_QUEUE_EMPTY));
}

/* A descriptor's counters, for a queue nobody uses yet. */
static inline void bp_q_reset(struct bufpool_qdesc *d)
{
	bp_store_relaxed_u64(&d->tail, 0);
	bp_store_relaxed_u64(&d->head, 0);
	bp_store_relaxed_u64(&d->full, 0);
	bp_store_relaxed_u64(&d->high_watermark, 0);
}

/* Raise a shared maximum to v; a bounded number of tries. */
static inline void bp_q_raise(__u64 *max, __u64 v)
{
	__u64 cur = bp_load_relaxed_u64(max);
	int n;

	for (n = 0; n < 64 && v > cur; n++)
		if (bp_cas_acqrel_u64(max, &cur, v))
			return;
}

/* Count one event in a shared counter; a bounded number of tries. */
static inline void bp_q_count(__u64 *ctr)
{
	__u64 cur = bp_load_relaxed_u64(ctr);
	int n;

	for (n = 0; n < 64; n++)
		if (bp_cas_acqrel_u64(ctr, &cur, cur + 1))
			return;
}

/*
 * After an enqueue of position t: the depth then was at least
 * t + 1 - head (head only grows, and no position after t was filled
 * before t), so the high watermark is raised to a depth that happened.
 * Once it is the capacity it can rise no more, and the consumer's line
 * (head) is not read at all: a producer that keeps a queue full pays
 * nothing for it.
 */
static inline void bp_q_note_depth(struct bp_q *q, __u64 t)
{
	__u64 hw = bp_load_relaxed_u64(&q->d->high_watermark), depth;

	if (hw > q->mask)
		return;
	depth = t + 1 - bp_load_relaxed_u64(&q->d->head);
	if (depth <= q->mask + 1 && depth > hw)
		bp_q_raise(&q->d->high_watermark, depth);
}

/*
 * bp_q_put_slow - bp_q_put_from()'s loop: every state of the slot at the
 * tail, from *tp on.  Out of line in the library (BP_Q_SLOW).
 */
static BP_Q_SLOW int bp_q_put_slow(struct bp_q *q, __u32 idx, int sp, __u64 *tp)
{
	__u64 t = *tp, s, d, lap, again, n;
	__u64 *slot;

	for (n = bp_q_tries(q); n; n--) {
		slot = &q->slots[t & q->mask];
		s = bp_load_acquire_u64(slot);
		d = bp_q_dlap(q, s, t);
		if (d == 0 && bp_q_slot_idx(s) == BUFPOOL_QUEUE_EMPTY) {
			lap = bp_q_lap(q, t);
			if (sp) {
				/* Publishes the buffer's contents with it. */
				bp_store_release_u64(slot, bp_q_slot(lap, idx));
				bp_store_release_u64(&q->d->tail, t + 1);
			} else {
				if (!bp_cas_release_u64(slot, &s,
							bp_q_slot(lap, idx)))
					continue;	/* s is the new value */
				again = t;
				bp_cas_release_u64(&q->d->tail, &again, t + 1);
			}
			*tp = t;
			return 0;
		}
		if (d == 0) {
			/* Filled, the tail not moved on yet: move it. */
			if (sp) {
				bp_store_release_u64(&q->d->tail, ++t);
			} else {
				again = t;
				if (bp_cas_acqrel_u64(&q->d->tail, &again,
						      t + 1))
					t++;
				else
					t = again;
			}
			continue;
		}
		if (d == BP_Q_LAP_MASK) {
			/* The previous lap's position, not consumed yet. */
			if (bp_q_slot_idx(s) == BUFPOOL_QUEUE_EMPTY)
				return BP_Q_CORRUPT;
			bp_q_count(&q->d->full);
			return BP_Q_FULL;
		}
		/* The slot is ahead: our tail is stale, or garbage. */
		again = bp_load_acquire_u64(&q->d->tail);
		if (again != t) {
			t = again;
			continue;
		}
		if (d != 1)
			return BP_Q_CORRUPT;
		/*
		 * Position t was filled and already consumed before its
		 * producer moved the tail on (or it died first): move it.
		 * Found by selftests/model/queue.pml.
		 */
		if (sp)
			bp_store_release_u64(&q->d->tail, ++t);
		else if (bp_cas_acqrel_u64(&q->d->tail, &again, t + 1))
			t++;
		else
			t = again;
	}
	return BP_Q_BUSY;
}

/*
 * bp_q_put_from - enqueue buffer idx (< buf_count) at the tail, starting
 * from *tp, a tail this caller read or its own last put's position + 1
 * (a hint: a stale one is corrected on the way).  On 0, *tp is the
 * position filled.  The steps on shared words are bp_q_put()'s, one by
 * one: a bulk caller that puts k buffers with k calls of this leaves the
 * queue in no state that k calls of bp_q_put() could not (the tail
 * still moves once per position, so it lags the filled positions by at
 * most one, as the kernel's repair expects).  Notes no depth.
 */
static inline int bp_q_put_from(struct bp_q *q, __u32 idx, int sp, __u64 *tp)
{
	__u64 t = *tp, lap = bp_q_lap(q, t), s, again;
	__u64 *slot = &q->slots[t & q->mask];

	/*
	 * The common case first, the same steps as the loop's first round:
	 * the slot at the tail is free at this lap (one compare of the
	 * whole word: {lap(t), EMPTY}).  Anything else, the loop.
	 */
	s = bp_load_acquire_u64(slot);
	if (__builtin_expect(s == bp_q_slot(lap, BUFPOOL_QUEUE_EMPTY), 1)) {
		if (sp) {
			/* Publishes the buffer's contents with it. */
			bp_store_release_u64(slot, bp_q_slot(lap, idx));
			bp_store_release_u64(&q->d->tail, t + 1);
			return 0;
		}
		if (bp_cas_release_u64(slot, &s, bp_q_slot(lap, idx))) {
			again = t;
			bp_cas_release_u64(&q->d->tail, &again, t + 1);
			return 0;
		}
	}
	return bp_q_put_slow(q, idx, sp, tp);
}

/*
 * bp_q_put - enqueue buffer idx (< buf_count) at the tail.
 * sp: the caller holds the queue's producer role (a single-producer
 * queue), so nobody else fills slots: plain release stores do.
 * Returns 0, BP_Q_FULL, BP_Q_BUSY or BP_Q_CORRUPT; on every return but
 * 0 no slot names idx.  *pos, when not NULL, gets the position filled.
 */
static inline int bp_q_put(struct bp_q *q, __u32 idx, int sp, __u64 *pos)
{
	__u64 t = bp_load_acquire_u64(&q->d->tail);
	int r = bp_q_put_from(q, idx, sp, &t);

	if (r)
		return r;
	if (pos)
		*pos = t;
	bp_q_note_depth(q, t);
	return 0;
}

/*
 * bp_q_get_slow - bp_q_get_from()'s loop: every state of the slot at the
 * head, from *hp on.  Out of line in the library.
 */
static BP_Q_SLOW __u32 bp_q_get_slow(struct bp_q *q, __u32 *own,
				     __u32 me, __u64 *hp)
{
	__u64 h = *hp, s, d, lap, n;
	__u64 *slot;
	__u32 idx;

	for (n = bp_q_tries(q); n; n--) {
		slot = &q->slots[h & q->mask];
		s = bp_load_acquire_u64(slot);
		d = bp_q_dlap(q, s, h);
		if (d == 1) {
			/* Consumed by a consumer that died before moving head. */
			bp_store_release_u64(&q->d->head, ++h);
			*hp = h;
			continue;
		}
		if (d != 0)
			return BP_FL_CORRUPT;
		idx = bp_q_slot_idx(s);
		if (idx == BUFPOOL_QUEUE_EMPTY)
			return BUFPOOL_IDX_NIL;
		lap = bp_q_lap(q, h);
		/*
		 * A queued buffer is free by own[] (its producer cleared the
		 * record before the release CAS that queued it): one that
		 * own[] says somebody holds was written here by another
		 * client.  Its position is passed over, the buffer left to
		 * its holder, and the corruption reported.
		 */
		if (idx < q->buf_count && own) {
			__u32 o = BUFPOOL_OWN_FREE;

			/* A CAS: nobody else can take it at the same time. */
			if (!bp_cas_relaxed_u32(&own[idx], &o, me))
				idx = BP_FL_CORRUPT;
		}
		/* Orders the record before the slot lets go of the buffer. */
		bp_store_release_u64(slot, bp_q_slot(lap + 1,
						     BUFPOOL_QUEUE_EMPTY));
		bp_store_release_u64(&q->d->head, ++h);
		*hp = h;
		if (idx < q->buf_count || idx == BP_FL_CORRUPT)
			return idx;
		/* SKIP (a position the kernel voided) or garbage: pass it. */
	}
	return BUFPOOL_IDX_NIL;
}

/*
 * bp_q_get - the one consumer takes the buffer at the head.
 * own and me: the buffer is recorded as me's (own[idx] = me) before the
 * slot lets go of it; own NULL records nothing (the kernel's tests).
 * Returns the buffer's index, BUFPOOL_IDX_NIL when there is none, or
 * BP_FL_CORRUPT (with own: a position naming a buffer that own[] says
 * somebody holds, passed over).
 * bp_q_get_from starts at *hp, which must be the head as it is (the one
 * consumer is its only writer: the head it read, or what its last call
 * left in *hp), and leaves the head it stored there: a bulk caller
 * reads the head once.  The head still moves once per position.
 */
static inline __u32 bp_q_get_from(struct bp_q *q, __u32 *own, __u32 me,
				  __u64 *hp)
{
	__u64 h = *hp, lap = bp_q_lap(q, h);
	__u64 *slot = &q->slots[h & q->mask];
	__u64 s = bp_load_acquire_u64(slot);
	__u32 idx = bp_q_slot_idx(s), o = BUFPOOL_OWN_FREE;

	/*
	 * The common case first, the loop's steps: the slot at head holds
	 * a buffer at this lap, and own[] says it is free.  Anything else
	 * (empty, consumed, SKIP, garbage, a record that says otherwise),
	 * the loop, which reads the slot again.
	 */
	if (__builtin_expect(bp_q_slot_lap(s) == lap && idx < q->buf_count &&
			     own && bp_cas_relaxed_u32(&own[idx], &o, me), 1)) {
		/* Orders the record before the slot lets go of the buffer. */
		bp_store_release_u64(slot, bp_q_slot(lap + 1,
						     BUFPOOL_QUEUE_EMPTY));
		bp_store_release_u64(&q->d->head, ++h);
		*hp = h;
		return idx;
	}
	return bp_q_get_slow(q, own, me, hp);
}

static inline __u32 bp_q_get(struct bp_q *q, __u32 *own, __u32 me)
{
	__u64 h = bp_load_acquire_u64(&q->d->head);

	return bp_q_get_from(q, own, me, &h);
}

/* Buffers queued as the counters say, for statistics: 0..size. */
static inline __u64 bp_q_depth(struct bp_q *q)
{
	__u64 t = bp_load_relaxed_u64(&q->d->tail);
	__u64 h = bp_load_relaxed_u64(&q->d->head);

	return t - h <= q->mask + 1 ? t - h : 0;
}

#endif /* _BUFPOOL_QUEUE_H */
