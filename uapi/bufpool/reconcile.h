/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * bufpool: reconciliation, for the module (and its host unit test) only.
 * The library never reconciles: it cannot stop the other clients.
 */
#ifndef _BUFPOOL_RECONCILE_H
#define _BUFPOOL_RECONCILE_H

#if !defined(__KERNEL__) && !defined(BP_HOST_TEST)
#error "<bufpool/reconcile.h> is the kernel's; host tests define BP_HOST_TEST"
#endif

#include <bufpool/magazine.h>
#include <bufpool/queue.h>

/*
 * Reconciliation: what the kernel runs when a client is gone, with every
 * mapping of the control area stopped (no client can store meanwhile;
 * see docs/DESIGN.md, "Ownership and recovery").  It trusts nothing it
 * reads: every index is bounds-checked, every walk is bounded by the
 * number of entries and stops at the first entry seen twice, so that a
 * cycle cannot hang it.
 *
 * The rules that make it exact for correct clients, at every instruction:
 *  - A buffer is free when it is on the free list or in a magazine on
 *    a full stack (two in a rotating depot, 1.9); held when own[] names
 *    a live client (perhaps in its debug quarantine) or a handoff,
 *    when it is in a magazine a live cache names, or when a live cache's
 *    pend_buf announces it.  A buffer on a free structure that a live
 *    cache also names (pend_buf, a magazine) is free ("the list wins"):
 *    a client announces what it gives until the give's CAS is done, and
 *    what it takes before the take's CAS.
 *  - ABI 1.4: but a live hold in own[] wins over the free structures (a
 *    live client's id, BUFPOOL_OWN_QUARANTINE | a live client,
 *    BUFPOOL_OWN_TRANSIT | a valid id, BUFPOOL_OWN_TO | a live
 *    receiver): such an entry of the free list is unlinked (the walk
 *    goes on past it), an entry of a magazine on the full stack is
 *    dropped, each counted in ->repaired, and the buffer is counted held
 *    (or in transit) as step 3 would.  Correct clients never leave a
 *    buffer both on a free structure and recorded so in own[]: the
 *    library clears own[x] before every give (to the free list:
 *    bp_release_to_free_list(), pend_buf naming x meanwhile; to a
 *    magazine: bp_mag_put(), and only a magazine whose puts are done
 *    goes to the full stack; to a queue: before the slot CAS), and
 *    records own[x] only after a take left the list (bp_fl_pop_rec()
 *    announces x in pend_buf, the CAS takes it, then own[x] = me; from a
 *    magazine, only from one its cache holds, off the depot).  A handoff
 *    or quarantine record is made from a buffer the client holds, never
 *    one on a list.  So the rule changes only what corruption does: a
 *    client that links a held buffer into the free list (or a depot
 *    magazine) cannot make a repair take it from its holder.
 *  - What no live record names and no list holds is lost (its holder
 *    died) and goes back to the free list.  Magazines likewise, to the
 *    empty stack.
 *  - ABI 1.5: unless a live client has shared-path operations in flight
 *    (its inflight[] word is not 0): a thread without a cache names
 *    nothing between its take's CAS and its own[] record, or between
 *    clearing own[] and its give's CAS, so what nobody names may be
 *    such a thread's.  Then nothing unnamed goes back: each buffer is
 *    counted held and in ->unsettled, each magazine in ->unsettled too,
 *    and the caller reconciles again later (docs/DESIGN.md, "The shared
 *    path"), until a pass finds no live client busy (->busy 0).
 *    But a buffer that own[] says a gone client holds (its id, or
 *    BUFPOOL_OWN_QUARANTINE | its id) goes back all the same (marked in
 *    dead_bm by step 3): a correct client clears own[x] before any give
 *    of x and records it only after its take, so x was on no list since
 *    and no thread can be taking it.  A gone cache's words are not
 *    trusted so: loaded and prev still name a magazine its thread has
 *    pushed to the full stack (bp_thread_cache_spill(), bp_cache_flush()
 *    push before the word changes), and a magazine still names the
 *    buffers bp_mag_drain() pushed to the free list until its count is
 *    cleared; a thread without a cache may have taken those since
 *    (breaking up the magazine, or popping the buffer), naming nothing.
 *    Nor is its pend_buf or pending (an announcement, stale once its
 *    thread is gone: a live thread may have won the race).
 *  - Records of clients that are gone are cleared.  Heads get a new tag,
 *    so that a CAS prepared before the stop fails and is retried.
 *  - What no correct client could have written (an index out of range, a
 *    link to an entry already seen, a magazine count above its fill) is
 *    cut or dropped and counted in ->repaired.
 *
 *  - ABI 1.3 queues: what a valid slot of a live queue names is queued,
 *    and a queue wins over every record (a producer clears own[x]
 *    before its slot CAS and names x in pend_buf until after it), but
 *    for own[x] naming the queue's live consumer: a dequeue in flight,
 *    left alone.  A queue being drained (its last user is gone) is not
 *    walked: what it held, named by nothing else, goes back.
 *  - An addressed handoff (BUFPOOL_OWN_TO | receiver) is held while its
 *    receiver lives and goes back when the receiver is gone.
 *  - ABI 1.7 cache marks: BUFPOOL_OWN_CACHED | c is a free buffer in a
 *    magazine of cache c, never a hold (bp_recon_own_hold() sees a value
 *    above BUFPOOL_CLIENT_MAX in every branch and returns 0), never a
 *    client's release (not counted in ->dropped: the give into the
 *    magazine was the release).  Its thread marks x after the magazine
 *    names it (idx[count] = x, count + 1, then own[x]) and takes it back
 *    before count - 1, and clears its marks before a magazine leaves the
 *    cache (to the full stack, the free list, or a stash), so a correct
 *    client's mark is always on a buffer a magazine of live cache c
 *    names.  A free structure or a queue slot wins over a mark (set
 *    FREE, silently on a free structure).  In a magazine of live cache
 *    i, FREE (a 1.2-1.6 client, a magazine off the depot) and CACHED | i
 *    are both cached; CACHED | j, j != i, is another cache's: rewritten
 *    FREE (its thread's take falls back to the CAS) and counted in
 *    ->repaired; but not in a magazine only a pending word names (a
 *    stale announcement: another thread took it first, marks and all),
 *    and the pending words are walked after every loaded and prev word,
 *    so that a magazine is checked against its own cache.  Step 3
 *    keeps CACHED | c only when live cache c's magazine was found
 *    naming the buffer (held_bm), and clears every other mark: one of
 *    a gone cache on a buffer nothing else names goes back even while a
 *    live client is busy (in dead_bm: marked by a thread now gone, it
 *    was on no free structure since), one of a live cache that names
 *    nothing goes back as lost, and one with c >= nr_caches or stray
 *    bits is garbage (->repaired).
 *
 * The caller provides zeroed bitmaps: free, held, queued and dead,
 * buf_count bits each; mfree and mheld, nr_mags bits each; and live, the client
 * ids (1..BUFPOOL_CLIENT_MAX) whose records stand; and the live queues,
 * with their geometry from a trusted source (never the shared
 * descriptor).
 */
struct bp_recon_queue {
	struct bp_q q;		/* geometry from the kernel's own copy */
	__u32 consumer;		/* the consumer role's client, 0 none */
	__u32 count;		/* 1: kept (walked, repaired, marked) */
				/* 0: being drained (nothing marked) */
};

struct bp_recon {
	__u64 *free_bm;
	__u64 *held_bm;
	__u64 *mfree_bm;
	__u64 *mheld_bm;
	__u64 *queued_bm;
	__u64 *dead_bm;		/* ABI 1.5: own[] names a gone client */
	const __u64 *live;
	struct bp_recon_queue *queues;
	__u32 nr_queues;	/* entries of queues[] */
	__u32 free;
	__u32 cached;
	__u32 held;
	__u32 transit;
	__u32 queued;		/* named by a valid slot of a kept queue */
	__u32 reclaimed;
	__u32 repaired;
	__u32 dropped;		/* own[] records of gone clients dropped */
	__u32 busy;		/* live clients with operations in flight */
	__u32 unsettled;	/* unnamed, left for a later pass (busy) */
	__u32 caches_free;	/* caches whose owner is 0 after the pass */
};

/*
 * ABI 1.5: the most operations a client can have in flight: one per
 * thread of the processes that share its file, and no system has more
 * tasks than PID_MAX_LIMIT (4 Mi, pids being below it).  A larger count
 * no correct client could have written.
 */
#define BP_RECON_INFLIGHT_MAX	0x400000U	/* 1 << 22 */

/*
 * ABI 1.5: how many live clients have shared-path operations in flight;
 * each word is read once.  Any value from 1 to BP_RECON_INFLIGHT_MAX
 * counts (it may be garbage, which only defers what goes back); a
 * larger one is garbage for sure: it is reset to 0 as a repair, so that
 * a pattern written over the control area cannot keep the pool from
 * being repaired.
 */
static inline __u32 bp_recon_busy(struct bp_shm *s, struct bp_recon *r)
{
	__u32 w, v, busy = 0;
	__u64 bits;

	for (w = 0; w < BUFPOOL_LIVE_WORDS; w++) {
		bits = r->live[w];
		while (bits) {
			__u32 id = w * 64 + (__u32)__builtin_ctzll(bits);

			bits &= bits - 1;
			if (!id)
				continue;
			v = bp_load_relaxed_u32(&s->inflight[id]);
			if (v > BP_RECON_INFLIGHT_MAX) {
				bp_store_relaxed_u32(&s->inflight[id], 0);
				r->repaired++;
			} else if (v) {
				busy++;
			}
		}
	}
	return busy;
}

static inline int bp_bm_test(const __u64 *bm, __u32 i)
{
	return (int)((bm[i >> 6] >> (i & 63)) & 1);
}

static inline int bp_bm_test_set(__u64 *bm, __u32 i)
{
	__u64 m = 1ULL << (i & 63);
	int was = (bm[i >> 6] & m) != 0;

	bm[i >> 6] |= m;
	return was;
}

static inline int bp_recon_live(const struct bp_recon *r, __u32 id)
{
	return id && id <= BUFPOOL_CLIENT_MAX && bp_bm_test(r->live, id);
}

/*
 * ABI 1.4: is own[] record o of buffer idx a live hold (see the top of
 * this file)?  Then count it held or in transit, as step 3 would, and
 * mark it in held_bm (step 3 then leaves the count alone); return 1.
 * A buffer marked already is not counted again.  ABI 1.7: a cache mark
 * (BUFPOOL_OWN_CACHED set, with any other bits) is never a hold: each
 * branch below sees an id above BUFPOOL_CLIENT_MAX and returns 0.
 */
static inline int bp_recon_own_hold(struct bp_recon *r, __u32 idx, __u32 o)
{
	__u32 *count = &r->held;
	int live;

	if (o == BUFPOOL_OWN_FREE)
		return 0;
	if ((o & BUFPOOL_OWN_KIND) == BUFPOOL_OWN_TO) {
		live = bp_recon_live(r, o & ~BUFPOOL_OWN_KIND);
		count = &r->transit;
	} else if (o & BUFPOOL_OWN_TRANSIT) {
		live = (o & ~BUFPOOL_OWN_TRANSIT) - 1 < BUFPOOL_CLIENT_MAX;
		count = &r->transit;
	} else {
		live = bp_recon_live(r, o & ~BUFPOOL_OWN_QUARANTINE);
	}
	if (!live)
		return 0;
	if (!bp_bm_test_set(r->held_bm, idx))
		(*count)++;
	return 1;
}

/*
 * Walk one list from *head through link[], marking what is on it in bm;
 * cut it at the first entry out of range or seen before.  With own (the
 * free list of buffers), an entry that own[] says a live client holds is
 * unlinked instead (the walk goes on after it) and marked held, so that
 * it counts as seen if the list comes back to it.  Returns the number
 * of entries left on the list, at most n.  A list of n entries takes at
 * most n steps: the walk cuts the list at step n, whatever it meets.
 */
static inline __u32 bp_recon_walk(struct bp_recon *r, __u64 *head,
				  __u32 *link, __u32 n, __u64 *bm,
				  __u32 *own)
{
	__u64 h = bp_load_relaxed_u64(head), tag = bp_fl_next_tag(h);
	__u64 cut = bp_fl_pack(BUFPOOL_IDX_NIL, tag);
	__u32 idx = bp_fl_idx(h), prev = BUFPOOL_IDX_NIL, len = 0, nxt;
	__u32 steps;

	for (steps = 0; idx != BUFPOOL_IDX_NIL; steps++) {
		if (idx >= n || steps >= n || bp_bm_test(bm, idx) ||
		    (own && bp_bm_test(r->held_bm, idx))) {
			if (prev == BUFPOOL_IDX_NIL)
				bp_store_relaxed_u64(head, cut);
			else
				bp_store_relaxed_u32(&link[prev],
						     BUFPOOL_IDX_NIL);
			r->repaired++;
			break;
		}
		nxt = bp_load_relaxed_u32(&link[idx]);
		if (own && bp_recon_own_hold(r, idx,
					     bp_load_relaxed_u32(&own[idx]))) {
			/* Its holder keeps it; a bad nxt is cut next step. */
			if (prev == BUFPOOL_IDX_NIL)
				bp_store_relaxed_u64(head, bp_fl_pack(nxt, tag));
			else
				bp_store_relaxed_u32(&link[prev], nxt);
			r->repaired++;
			idx = nxt;
			continue;
		}
		bp_bm_test_set(bm, idx);
		len++;
		prev = idx;
		idx = nxt;
	}
	return len;
}

/*
 * Keep the valid entries of a free magazine not seen free yet; entries
 * past a bad count are dropped (and reclaimed if nobody holds them), and
 * so are entries own[] says a live client holds (counted held).
 */
static inline __u32 bp_recon_free_mag(struct bp_shm *s, struct bp_recon *r,
				      struct bufpool_mag *m)
{
	__u32 n = bp_load_relaxed_u32(&m->count), i, idx, kept = 0;

	if (n > s->mag_fill) {
		n = s->mag_fill;
		r->repaired++;
	}
	for (i = 0; i < n; i++) {
		idx = bp_load_relaxed_u32(&m->idx[i]);
		if (idx >= s->buf_count || bp_bm_test(r->free_bm, idx) ||
		    bp_bm_test(r->held_bm, idx) ||
		    bp_recon_own_hold(r, idx,
				      bp_load_relaxed_u32(&s->own[idx]))) {
			r->repaired++;
			continue;
		}
		bp_bm_test_set(r->free_bm, idx);
		bp_store_relaxed_u32(&m->idx[kept++], idx);
	}
	bp_store_relaxed_u32(&m->count, kept);
	return kept;
}

/*
 * Push a chain first -> ... -> last: with the pool stopped nobody else
 * writes the head, so two stores do what bp_fl_push_chain()'s CAS loop
 * does, and no loop runs on a shared word.
 */
static inline void bp_recon_push_chain(__u64 *head, __u32 *next,
				       __u32 first, __u32 last)
{
	__u64 h = bp_load_relaxed_u64(head);

	bp_store_relaxed_u32(&next[last], bp_fl_idx(h));
	bp_store_relaxed_u64(head, bp_fl_pack(first, bp_fl_next_tag(h)));
}

static inline void bp_recon_mag_contents(struct bp_shm *s,
					 struct bp_recon *r, __u32 id,
					 __u32 ci);

#define BP_RECON_ANY_CACHE	0xffffffffU	/* a pending word's magazine */

/*
 * A magazine a live cache's word names: held, with what it holds,
 * unless a depot stack has it: then the list wins (a give in flight:
 * the thread pushed it and has not yet stored the word that replaces
 * it, or a take in flight: pending announces it before the CAS).
 * ABI 1.4: a loaded or prev word that names a magazine on a stack is
 * also cleared, silently (word set): the thread is done with that
 * magazine if it is correct (it overwrites the word next), and if the
 * magazine got there by another client's doing, the thread's library
 * sees its word gone and stops using the magazine, which someone else
 * may take from the stack next.  ci: the live cache whose word it is,
 * or BP_RECON_ANY_CACHE for its pending word (see below).
 */
static inline void bp_recon_live_mag(struct bp_shm *s, struct bp_recon *r,
				     __u32 *field, int word, __u32 ci)
{
	__u32 id = bp_load_relaxed_u32(field);

	if (id == BUFPOOL_IDX_NIL)
		return;
	if (id >= s->nr_mags) {
		bp_store_relaxed_u32(field, BUFPOOL_IDX_NIL);
		r->repaired++;
		return;
	}
	if (bp_bm_test(r->mfree_bm, id)) {
		if (word)
			bp_store_relaxed_u32(field, BUFPOOL_IDX_NIL);
		return;
	}
	if (bp_bm_test_set(r->mheld_bm, id))
		return;
	bp_recon_mag_contents(s, r, id, ci);
}

/*
 * Whether mark o is that of a cache whose loaded, prev or pending word
 * names magazine id too.  Then it is no garbage: two caches' words name
 * one magazine for a moment when a thread has pushed its magazine to
 * the depot (its marks cleared) and not yet stored the word that
 * replaces it, and another thread has taken the magazine and marked
 * what it gave to it since, or (library 1.9.1) all it holds; whichever
 * cache step 2 visits first, the marks stay (the words of gone caches
 * are cleared only after, in 2c), and step 3 keeps those of a live
 * cache.
 */
static inline int bp_recon_mark_names(struct bp_shm *s, __u32 o, __u32 id)
{
	__u32 c = o & BUFPOOL_OWN_CACHE_MASK;
	struct bufpool_cache *k;

	if ((o & ~(BUFPOOL_OWN_CACHED | BUFPOOL_OWN_CACHE_MASK)) ||
	    c >= s->nr_caches)
		return 0;
	k = &s->caches[c];
	return bp_load_relaxed_u32(&k->loaded) == id ||
	       bp_load_relaxed_u32(&k->prev) == id ||
	       bp_load_relaxed_u32(&k->pending) == id;
}

/*
 * What a magazine live cache ci holds names is cached.  ABI 1.7: its
 * own[] is FREE or BUFPOOL_OWN_CACHED | ci (its thread's mark); any
 * other mark (another cache's, or garbage) is rewritten FREE as a
 * repair, so that the thread's take falls back to the CAS, unless that
 * other cache's words name the magazine too (bp_recon_mark_names).  A
 * magazine that only a pending word names (ci BP_RECON_ANY_CACHE) may
 * be another cache's, marks and all: the thread announced the full
 * stack's head and another thread took it before the CAS, which will
 * fail; its marks are left to step 3.
 */
static inline void bp_recon_mag_contents(struct bp_shm *s,
					 struct bp_recon *r, __u32 id,
					 __u32 ci)
{
	struct bufpool_mag *m = bp_mag_at(s, id);
	__u32 n, i, idx, o;

	n = bp_load_relaxed_u32(&m->count);
	if (n > s->mag_cap)
		n = s->mag_cap;		/* its thread resets a bad count */
	for (i = 0; i < n; i++) {
		idx = bp_load_relaxed_u32(&m->idx[i]);
		if (idx >= s->buf_count || bp_bm_test(r->queued_bm, idx))
			continue;
		/*
		 * Free as well: the list wins.  A correct thread's magazine
		 * names a free buffer only while it drains it (the entries
		 * pushed, the count not cleared yet), and it reads them no
		 * more; otherwise another client wrote it.  So a live
		 * cache's magazine lets go of it, silently (as a word naming
		 * a stacked magazine is cleared): the entry becomes an index
		 * no take accepts, and no later refill's marks (library
		 * 1.9.1) or gives can make two free places of it.  A pending
		 * word's magazine may be another cache's: left alone.
		 */
		if (bp_bm_test(r->free_bm, idx)) {
			if (ci != BP_RECON_ANY_CACHE)
				bp_store_relaxed_u32(&m->idx[i],
						     BUFPOOL_IDX_NIL);
			continue;
		}
		/*
		 * A live hold in own[] counts as held: a take or a give in
		 * flight (the magazine still names the buffer the thread has
		 * recorded), or another client's entry naming a buffer that
		 * someone holds (the thread's CAS will refuse it).
		 */
		o = bp_load_relaxed_u32(&s->own[idx]);
		if (bp_recon_own_hold(r, idx, o))
			continue;
		if ((o & BUFPOOL_OWN_CACHED) && ci != BP_RECON_ANY_CACHE &&
		    o != (BUFPOOL_OWN_CACHED | ci) &&
		    !bp_recon_mark_names(s, o, id)) {
			bp_store_relaxed_u32(&s->own[idx], BUFPOOL_OWN_FREE);
			r->repaired++;
		}
		if (!bp_bm_test_set(r->held_bm, idx))
			r->cached++;
	}
}

/* Void a slot (keeping its position) as a repair. */
static inline void bp_recon_skip(struct bp_recon *r, __u64 *slot, __u64 lap)
{
	bp_store_relaxed_u64(slot, bp_q_slot(lap, BUFPOOL_QUEUE_SKIP));
	r->repaired++;
}

/*
 * The buffer a valid slot names: queued, unless it is free or queued
 * already (a duplicate, voided).  own[x] may name the queue's live
 * consumer (a dequeue in flight, left alone).  ABI 1.4: any other live
 * hold wins over the slot, which is voided (a correct producer clears
 * own[x] before the CAS that queues x, so only another client can have
 * put a held buffer in a slot; the library's dequeue passes over such a
 * slot too).  Any other record (a dead client's, garbage) is cleared.
 * ABI 1.7: a cache mark is not a hold either: the slot wins, and the
 * mark is cleared as garbage (a consumer records the buffer its own
 * before it consumes the slot, and marks it only when it gives it to
 * its magazine after, so no correct client leaves one in a valid slot).
 */
static inline void bp_recon_queued(struct bp_shm *s, struct bp_recon *r,
				   const struct bp_recon_queue *rq,
				   __u64 *slot, __u64 lap, __u32 idx)
{
	__u32 o;

	/* Free, or a live hold step 1 found on a free structure: void it. */
	if (bp_bm_test(r->free_bm, idx) || bp_bm_test(r->held_bm, idx) ||
	    bp_bm_test(r->queued_bm, idx)) {
		bp_recon_skip(r, slot, lap);
		return;
	}
	o = bp_load_relaxed_u32(&s->own[idx]);
	if (o != BUFPOOL_OWN_FREE &&
	    !(o == rq->consumer && bp_recon_live(r, o)) &&
	    bp_recon_own_hold(r, idx, o)) {
		bp_recon_skip(r, slot, lap);
		return;
	}
	bp_bm_test_set(r->queued_bm, idx);
	r->queued++;
	if (o == BUFPOOL_OWN_FREE ||
	    (o == rq->consumer && bp_recon_live(r, o)))
		return;
	/* A dead client's (a dequeue it left half done) goes silently. */
	if (o > BUFPOOL_CLIENT_MAX)
		r->repaired++;
	bp_store_relaxed_u32(&s->own[idx], BUFPOOL_OWN_FREE);
}

/*
 * The position slot i of a queue holds, given head h and whether the
 * slot at head is consumed: the one of [h, h + n) with p % n == i, or
 * for the slot at head when consumed, h + n (filled again, or free).
 */
static inline __u64 bp_recon_qpos(const struct bp_q *q, __u64 h, __u64 i,
				  int consumed)
{
	__u64 p = h + ((i - h) & q->mask);

	return consumed && p == h ? p + q->mask + 1 : p;
}

/*
 * Step 1b for one kept queue: check every slot against the position it
 * must hold, given head (any value is accepted), void what no correct
 * client could have written, set the tail, mark what is queued.
 *
 * Correct clients fill positions in order, so the filled ones (a
 * buffer, or voided) are contiguous from head (or head + 1 when the
 * slot at head is consumed by a consumer that died before moving head)
 * up to a frontier f; the tail is f, or f - 1 when a producer died
 * between its slot CAS and its tail CAS (then the slot at f - 1 may even
 * be consumed since).  So a slot at another lap is voided (SKIP below
 * the last filled position, free above it), a free slot below it is a
 * hole and voided, and the tail is set to f: silently from f - 1, as
 * a repair from anything else.
 */
static inline void bp_recon_queue(struct bp_shm *s, struct bp_recon *r,
				  const struct bp_recon_queue *rq)
{
	const struct bp_q *q = &rq->q;
	__u64 n = q->mask + 1, h, t, p, v, lap, end, *slot, i;
	int consumed;
	__u32 idx;

	h = bp_load_relaxed_u64(&q->d->head);
	t = bp_load_relaxed_u64(&q->d->tail);
	consumed = bp_q_dlap(q, bp_load_relaxed_u64(&q->slots[h & q->mask]),
			     h) == 1;

	/* The end of the filled positions, counting valid slots only. */
	end = h + consumed;
	for (i = 0; i < n; i++) {
		p = bp_recon_qpos(q, h, i, consumed);
		v = bp_load_relaxed_u64(&q->slots[i]);
		if (bp_q_dlap(q, v, p) == 0 &&
		    bp_q_slot_idx(v) != BUFPOOL_QUEUE_EMPTY && p - h >= end - h)
			end = p + 1;
	}

	for (i = 0; i < n; i++) {
		slot = &q->slots[i];
		p = bp_recon_qpos(q, h, i, consumed);
		lap = bp_q_lap(q, p);
		v = bp_load_relaxed_u64(slot);
		if (bp_q_dlap(q, v, p) != 0) {
			bp_store_relaxed_u64(slot, bp_q_slot(lap, p - h < end - h ?
						BUFPOOL_QUEUE_SKIP :
						BUFPOOL_QUEUE_EMPTY));
			r->repaired++;
			continue;
		}
		idx = bp_q_slot_idx(v);
		if (idx == BUFPOOL_QUEUE_EMPTY) {
			if (p - h < end - h)	/* a hole */
				bp_recon_skip(r, slot, lap);
			continue;
		}
		if (idx == BUFPOOL_QUEUE_SKIP)
			continue;
		if (idx >= s->buf_count) {
			bp_recon_skip(r, slot, lap);
			continue;
		}
		bp_recon_queued(s, r, rq, slot, lap, idx);
	}

	if (t != end && t != end - 1)
		r->repaired++;
	if (t != end)
		bp_store_relaxed_u64(&q->d->tail, end);
}

/*
 * Step 3 for ABI 1.7 cache mark o (no kind bit) of buffer idx, neither
 * free nor queued: kept while live cache c's magazine names the buffer
 * (step 2 put it in held_bm, after rewriting any other cache's mark in
 * that magazine), cleared otherwise; never counted in ->dropped (see
 * the top of this file).  Step 2 has reset the owner of every cache
 * that is not live.
 */
static inline void bp_recon_mark(struct bp_shm *s, struct bp_recon *r,
				 __u32 idx, __u32 o)
{
	__u32 c = o & BUFPOOL_OWN_CACHE_MASK;

	if ((o & ~(BUFPOOL_OWN_CACHED | BUFPOOL_OWN_CACHE_MASK)) ||
	    c >= s->nr_caches) {
		r->repaired++;		/* no correct client wrote it */
	} else if (bp_recon_live(r, bp_load_relaxed_u32(&s->caches[c].owner))) {
		if (bp_bm_test(r->held_bm, idx))
			return;		/* in its magazine: cached */
		/* Named by nothing: lost, like any unnamed buffer. */
	} else if (!bp_bm_test(r->held_bm, idx)) {
		/* A gone thread's: on no free structure since it marked it. */
		bp_bm_test_set(r->dead_bm, idx);
	}
	bp_store_relaxed_u32(&s->own[idx], BUFPOOL_OWN_FREE);
}

/* A new tag on a stack's head, so that a CAS prepared before fails. */
static inline void bp_recon_retag(__u64 *head)
{
	__u64 h = bp_load_relaxed_u64(head);

	bp_store_relaxed_u64(head, bp_fl_pack(bp_fl_idx(h), bp_fl_next_tag(h)));
}

static inline void bp_reconcile(struct bp_shm *s, struct bp_recon *r)
{
	__u32 i, id, o, idx, first = BUFPOOL_IDX_NIL, last = BUFPOOL_IDX_NIL;
	struct bufpool_cache *c;
	__u64 *hp;

	/* 1. What the lists hold is free. */
	r->free = bp_recon_walk(r, s->free_head, s->next, s->buf_count,
				r->free_bm, s->own);
	if (!s->rotate &&
	    bp_fl_idx(bp_load_relaxed_u64(s->full2_head)) != BUFPOOL_IDX_NIL) {
		/* Nobody takes from it: what it names is unnamed, below. */
		bp_store_relaxed_u64(s->full2_head,
				     bp_fl_pack(BUFPOOL_IDX_NIL, 0));
		r->repaired++;
	}
	if (s->nr_mags) {
		/* 1.9: a rotating depot's second full stack, as the first. */
		for (i = 0; i < 2; i++) {
			hp = i ? s->full2_head : s->full_head;
			bp_recon_walk(r, hp, s->mag_next, s->nr_mags,
				      r->mfree_bm, (__u32 *)0);
			for (id = bp_fl_idx(bp_load_relaxed_u64(hp));
			     id < s->nr_mags;
			     id = bp_load_relaxed_u32(&s->mag_next[id]))
				r->free += bp_recon_free_mag(s, r,
							     bp_mag_at(s, id));
		}
		bp_recon_walk(r, s->empty_head, s->mag_next, s->nr_mags,
			      r->mfree_bm, (__u32 *)0);
		for (id = bp_fl_idx(bp_load_relaxed_u64(s->empty_head));
		     id < s->nr_mags;
		     id = bp_load_relaxed_u32(&s->mag_next[id]))
			bp_store_relaxed_u32(&bp_mag_at(s, id)->count, 0);
	}

	/* 1b. What the valid slots of the queues kept name is queued. */
	r->queued = 0;
	for (i = 0; i < r->nr_queues; i++)
		if (r->queues[i].count)
			bp_recon_queue(s, r, &r->queues[i]);

	/*
	 * 2. Caches: a live client's hold; the rest are cleared (2c), after
	 * every live cache's magazines are checked, so that the words of a
	 * gone cache whose marks a live cache's magazine carries are still
	 * there to vouch for them (bp_recon_mark_names), whatever the order
	 * of the two caches.
	 */
	for (i = 0; i < s->nr_caches; i++) {
		c = &s->caches[i];
		o = bp_load_relaxed_u32(&c->owner);
		if (!bp_recon_live(r, o))
			continue;
		bp_recon_live_mag(s, r, &c->loaded, 1, i);
		bp_recon_live_mag(s, r, &c->prev, 1, i);
		idx = bp_load_relaxed_u32(&c->pend_buf);
		if (idx == BUFPOOL_IDX_NIL)
			continue;
		if (idx >= s->buf_count) {
			bp_store_relaxed_u32(&c->pend_buf, BUFPOOL_IDX_NIL);
			r->repaired++;
		} else if (!bp_bm_test(r->free_bm, idx) &&
			   !bp_bm_test(r->queued_bm, idx) &&
			   !bp_bm_test_set(r->held_bm, idx)) {
			/* A queued one: an enqueue in flight; the queue wins. */
			r->held++;
		}
	}
	/*
	 * 2b. ABI 1.7: the pending words after every loaded and prev word,
	 * so that a magazine a live cache holds is checked against that
	 * cache's marks even when another cache's stale announcement also
	 * names it.
	 */
	for (i = 0; i < s->nr_caches; i++) {
		c = &s->caches[i];
		if (bp_recon_live(r, bp_load_relaxed_u32(&c->owner)))
			bp_recon_live_mag(s, r, &c->pending, 0,
					  BP_RECON_ANY_CACHE);
	}
	/* 2c. The caches of gone clients, and garbage owners, cleared. */
	r->caches_free = 0;
	for (i = 0; i < s->nr_caches; i++) {
		c = &s->caches[i];
		if (bp_recon_live(r, bp_load_relaxed_u32(&c->owner)))
			continue;
		bp_cache_reset(c);
		bp_store_relaxed_u32(&c->owner, 0);
		r->caches_free++;
	}

	/* 3. Per-buffer ownership. */
	for (idx = 0; idx < s->buf_count; idx++) {
		o = bp_load_relaxed_u32(&s->own[idx]);
		/* A queued buffer's record was settled in step 1b. */
		if (o == BUFPOOL_OWN_FREE || bp_bm_test(r->queued_bm, idx))
			continue;
		if (bp_bm_test(r->free_bm, idx)) {
			/*
			 * Free, and no live hold (step 1 unlinked those): a
			 * gone client's record, garbage or a cache mark
			 * (ABI 1.7); the list wins.
			 */
			bp_store_relaxed_u32(&s->own[idx], BUFPOOL_OWN_FREE);
		} else if ((o & (BUFPOOL_OWN_KIND | BUFPOOL_OWN_CACHED)) ==
			   BUFPOOL_OWN_CACHED) {
			/* ABI 1.7: a cache mark, not a hold nor a release. */
			bp_recon_mark(s, r, idx, o);
		} else if ((o & BUFPOOL_OWN_KIND) == BUFPOOL_OWN_TO) {
			/* Addressed: held while its receiver lives. */
			if ((o & ~BUFPOOL_OWN_KIND) - 1 >= BUFPOOL_CLIENT_MAX) {
				bp_store_relaxed_u32(&s->own[idx],
						     BUFPOOL_OWN_FREE);
				r->repaired++;
			} else if (bp_recon_live(r, o & ~BUFPOOL_OWN_KIND)) {
				if (!bp_bm_test_set(r->held_bm, idx))
					r->transit++;
			} else {
				/* Nobody can adopt it: a release, for stats. */
				if (!bp_bm_test(r->held_bm, idx))
					r->dropped++;
				bp_store_relaxed_u32(&s->own[idx],
						     BUFPOOL_OWN_FREE);
			}
		} else if (o & BUFPOOL_OWN_TRANSIT) {
			/* A handoff outlives its giver. */
			if ((o & ~BUFPOOL_OWN_TRANSIT) - 1 >= BUFPOOL_CLIENT_MAX) {
				bp_store_relaxed_u32(&s->own[idx],
						     BUFPOOL_OWN_FREE);
				r->repaired++;
			} else if (!bp_bm_test_set(r->held_bm, idx)) {
				r->transit++;
			}
		} else if (bp_recon_live(r, o & ~BUFPOOL_OWN_QUARANTINE)) {
			if (!bp_bm_test_set(r->held_bm, idx))
				r->held++;
		} else {
			/* Taken by a client now gone: its release, for stats. */
			if (!bp_bm_test(r->held_bm, idx)) {
				r->dropped++;
				/* A gone client's, not garbage: see the top. */
				if ((o & ~BUFPOOL_OWN_QUARANTINE) - 1 <
				    BUFPOOL_CLIENT_MAX)
					bp_bm_test_set(r->dead_bm, idx);
			}
			bp_store_relaxed_u32(&s->own[idx], BUFPOOL_OWN_FREE);
		}
	}

	/*
	 * 3b. What a queue being drained held goes back: its producers
	 * acquired it and nobody will release it, so it counts as a
	 * release by the kernel, like a dead client's holdings.
	 */
	for (i = 0; i < r->nr_queues; i++) {
		const struct bp_q *dq = &r->queues[i].q;
		__u64 k;

		if (r->queues[i].count)
			continue;
		for (k = 0; k <= dq->mask; k++) {
			idx = bp_q_slot_idx(bp_load_relaxed_u64(&dq->slots[k]));
			if (idx >= s->buf_count ||
			    bp_bm_test(r->held_bm, idx) ||
			    bp_bm_test(r->queued_bm, idx) ||
			    bp_bm_test_set(r->free_bm, idx))
				continue;
			bp_fl_chain_add(s->next, &first, &last, idx);
			r->reclaimed++;
			r->dropped++;
		}
	}

	/*
	 * 4. What nobody holds goes back, in one chain; while a live client
	 * has a shared-path operation in flight, only what a gone client's
	 * own[] records named does, the rest stays (see the top).
	 */
	r->busy = bp_recon_busy(s, r);
	r->unsettled = 0;
	for (idx = 0; idx < s->buf_count; idx++) {
		if (bp_bm_test(r->free_bm, idx) ||
		    bp_bm_test(r->held_bm, idx) ||
		    bp_bm_test(r->queued_bm, idx))
			continue;
		if (r->busy && !bp_bm_test(r->dead_bm, idx)) {
			r->held++;
			r->unsettled++;
			continue;
		}
		bp_fl_chain_add(s->next, &first, &last, idx);
		r->reclaimed++;
	}
	if (first != BUFPOOL_IDX_NIL)
		bp_recon_push_chain(s->free_head, s->next, first, last);
	r->free += r->reclaimed;
	for (id = 0; id < s->nr_mags; id++) {
		if (bp_bm_test(r->mfree_bm, id) || bp_bm_test(r->mheld_bm, id))
			continue;
		if (r->busy) {
			r->unsettled++;
			continue;
		}
		bp_store_relaxed_u32(&bp_mag_at(s, id)->count, 0);
		bp_recon_push_chain(s->empty_head, s->mag_next, id, id);
	}

	/* 5. New tags: a CAS prepared before the stop must fail. */
	bp_recon_retag(s->free_head);
	bp_recon_retag(s->full_head);
	bp_recon_retag(s->full2_head);
	bp_recon_retag(s->empty_head);
}

#endif /* _BUFPOOL_RECONCILE_H */
