/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * The bufpool free list: the one implementation that bufpool.ko and
 * libbufpool-user both compile.
 *
 * A Treiber stack of 32-bit buffer indices in shared memory.  The head is
 * one 64-bit word holding {tag:40, index:24}; every successful update
 * increments the tag, so a thread that read the head, was descheduled
 * and retries its compare-and-swap cannot succeed against a head that
 * went A -> B -> A meanwhile (ABA).  A 40-bit tag at one update per
 * nanosecond wraps after 18 minutes of continuous operations between one
 * thread's load and its CAS; a 32-bit tag would wrap in 4 seconds.
 *
 * Links live in next[], one word per buffer, outside the buffers, so a
 * client scribbling over a buffer it holds cannot corrupt the list.
 *
 * Progress: lock-free.  A CAS fails only because another operation
 * succeeded.  A thread that stops or dies anywhere in an operation
 * leaves the list consistent: before its CAS nothing shared was changed
 * except next[] of a buffer it owns; after it, the operation is complete.
 * At worst the buffer it was taking or giving is lost to the free list,
 * and that buffer was attributable to it.
 *
 * The includer defines these shims before including this file:
 *   __u64 bp_load_acquire_u64(__u64 *p)
 *   __u64 bp_load_relaxed_u64(__u64 *p)
 *   __u32 bp_load_relaxed_u32(__u32 *p)
 *   void  bp_store_relaxed_u32(__u32 *p, __u32 v)
 *   void  bp_store_relaxed_u64(__u64 *p, __u64 v)
 *   void  bp_store_release_u32(__u32 *p, __u32 v)
 *   bool  bp_cas_acqrel_u64(__u64 *p, __u64 *old, __u64 new)
 *   bool  bp_cas_release_u64(__u64 *p, __u64 *old, __u64 new)
 *   void  bp_cpu_relax(void)
 * The CAS shims update *old with the current value when they fail, and
 * their failure ordering is at least acquire for bp_cas_acqrel_u64.
 * Memory ordering: a pusher writes next[i] (relaxed), then publishes i
 * with a release CAS; a popper loads the head with acquire before
 * reading next[head].  Every change of the head is a read-modify-write,
 * so each push heads a release sequence that all later updates continue.
 *
 * Every value read from shared memory may be garbage (another client may
 * be buggy or hostile): indices are masked and bounds-checked, and no
 * function loops over list contents.
 */
#ifndef _UAPI_LINUX_BUFPOOL_FREELIST_H
#define _UAPI_LINUX_BUFPOOL_FREELIST_H

#include <linux/bufpool.h>

/*
 * A test can stop a thread between its read of a head and its CAS, to
 * show that nobody else waits for it.  Empty everywhere else.
 */
#ifndef BP_FL_TEST_HOOK
#define BP_FL_TEST_HOOK(head)	do { } while (0)
#endif

#define BP_FL_TAG_SHIFT		BUFPOOL_IDX_BITS
#define BP_FL_CORRUPT		0xffffffffu	/* not a valid index */

static inline __u64 bp_fl_pack(__u32 idx, __u64 tag)
{
	return (tag << BP_FL_TAG_SHIFT) | (idx & BUFPOOL_IDX_MASK);
}

static inline __u32 bp_fl_idx(__u64 head)
{
	return (__u32)head & BUFPOOL_IDX_MASK;
}

static inline __u64 bp_fl_next_tag(__u64 head)
{
	return (head >> BP_FL_TAG_SHIFT) + 1;
}

/*
 * bp_fl_init - link buffers 0..count-1 in order; count > 0.
 * Only for a list nobody else can see yet.
 */
static inline void bp_fl_init(__u64 *head, __u32 *next, __u32 count)
{
	__u32 i;

	for (i = 0; i + 1 < count; i++)
		bp_store_relaxed_u32(&next[i], i + 1);
	bp_store_relaxed_u32(&next[count - 1], BUFPOOL_IDX_NIL);
	bp_store_relaxed_u64(head, bp_fl_pack(0, 0));
}

/*
 * bp_fl_pop_rec - take one entry, announcing it first.
 * Returns its index, BUFPOOL_IDX_NIL when the list is empty, or
 * BP_FL_CORRUPT when the shared words hold something no correct client
 * could have written.
 *
 * rec, when not NULL, is the caller's in-flight record (a thread slot's
 * pend_buf or pending word): the index about to be taken is stored there
 * before the CAS that takes it, and stays there on success, so that at
 * every instruction what a client took is named by a record of its own.
 * The caller moves it to its final record and then clears rec.  An
 * announced index still on the list is not taken (the list wins).
 */
static inline __u32 bp_fl_pop_rec(__u64 *head, __u32 *next, __u32 count,
				  __u32 *rec)
{
	__u64 old = bp_load_acquire_u64(head);
	__u64 again;
	__u32 idx, nxt;

	for (;;) {
		idx = bp_fl_idx(old);
		if (idx == BUFPOOL_IDX_NIL)
			return BUFPOOL_IDX_NIL;
		if (idx >= count)
			return BP_FL_CORRUPT;
		/*
		 * next[idx] may change under us if another thread pops idx
		 * and pushes it back; then the head's tag has moved and the
		 * CAS below fails.  A bad link with an unchanged head is
		 * corruption, not a race.
		 */
		nxt = bp_load_relaxed_u32(&next[idx]) & BUFPOOL_IDX_MASK;
		if (nxt >= count && nxt != BUFPOOL_IDX_NIL) {
			again = bp_load_acquire_u64(head);
			if (again == old)
				return BP_FL_CORRUPT;
			old = again;
			continue;
		}
		if (rec)
			bp_store_relaxed_u32(rec, idx);
		BP_FL_TEST_HOOK(head);
		/* acq_rel: the announcement is visible before the take. */
		if (bp_cas_acqrel_u64(head, &old,
				      bp_fl_pack(nxt, bp_fl_next_tag(old))))
			return idx;
		bp_cpu_relax();
	}
}

static inline __u32 bp_fl_pop(__u64 *head, __u32 *next, __u32 count)
{
	return bp_fl_pop_rec(head, next, count, (__u32 *)0);
}

/*
 * bp_fl_push_chain - give back buffers already linked first -> ... -> last
 * through next[].  The caller owns them and has checked both indices.
 */
static inline void bp_fl_push_chain(__u64 *head, __u32 *next,
				    __u32 first, __u32 last)
{
	__u64 old = bp_load_relaxed_u64(head);

	for (;;) {
		bp_store_relaxed_u32(&next[last], bp_fl_idx(old));
		BP_FL_TEST_HOOK(head);
		if (bp_cas_release_u64(head, &old,
				       bp_fl_pack(first, bp_fl_next_tag(old))))
			return;
		bp_cpu_relax();
	}
}

static inline void bp_fl_push(__u64 *head, __u32 *next, __u32 idx)
{
	bp_fl_push_chain(head, next, idx, idx);
}

/*
 * Layout of a pool's control area and mmap space, computed the same way
 * by the module and by the library's memfd backend.
 *
 * Caches are bounded so that idle threads cannot starve a pool: each
 * thread holds at most two magazines of mag_fill buffers, and mag_fill
 * is chosen so that all nr_caches caches together hold at most half the
 * pool.  A pool too small for that, or asked for none (nr_caches 0),
 * has no magazines (mag_fill 0); it still has thread slots, because a
 * slot is also where a thread announces what it is taking, and every
 * thread that takes buffers needs one: BP_DEFAULT_SLOTS when none were
 * asked for.
 */
#define BP_DEFAULT_SLOTS	64
struct bp_layout {
	__u32 buf_count;
	__u32 buf_shift;
	__u32 nr_caches;	/* thread slots */
	__u32 mag_fill;
	__u32 nr_mags;
	__u64 next_offset;	/* offsets within the control area */
	__u64 own_offset;
	__u64 mag_next_offset;
	__u64 mags_offset;
	__u64 caches_offset;
	__u64 ctrl_size;
	__u64 bufs_offset;	/* offsets within the mmap space */
	__u64 bufs_size;
};

static inline __u64 bp_align(__u64 v, __u64 a)	/* a: a power of two */
{
	return (v + a - 1) & ~(a - 1);
}

static inline void bp_layout_compute(struct bp_layout *l, __u32 count,
				     __u32 shift, __u32 nr_caches,
				     __u64 page_size)
{
	__u64 end;

	l->buf_count = count;
	l->buf_shift = shift;
	l->mag_fill = nr_caches ? count / (4 * nr_caches) : 0;
	if (l->mag_fill > BUFPOOL_MAG_CAP)
		l->mag_fill = BUFPOOL_MAG_CAP;
	l->nr_caches = nr_caches ? nr_caches : BP_DEFAULT_SLOTS;
	/* Two per cache, enough to hold every buffer, and one spare. */
	l->nr_mags = l->mag_fill ? 2 * l->nr_caches +
			(count + l->mag_fill - 1) / l->mag_fill + 1 : 0;

	l->next_offset = BUFPOOL_CTRL_NEXT_OFFSET;
	l->own_offset = bp_align(l->next_offset + 4ULL * count,
				 BUFPOOL_CACHELINE);
	l->mag_next_offset = bp_align(l->own_offset + 4ULL * count,
				      BUFPOOL_CACHELINE);
	l->mags_offset = bp_align(l->mag_next_offset + 4ULL * l->nr_mags,
				  BUFPOOL_CACHELINE);
	l->caches_offset = bp_align(l->mags_offset + (__u64)l->nr_mags *
				    sizeof(struct bufpool_mag),
				    BUFPOOL_CACHELINE);
	end = l->caches_offset + (__u64)l->nr_caches *
	      sizeof(struct bufpool_cache);
	l->ctrl_size = bp_align(end, page_size);
	l->bufs_offset = bp_align(l->ctrl_size, BUFPOOL_CHUNK_SIZE);
	l->bufs_size = bp_align((__u64)count << shift, BUFPOOL_CHUNK_SIZE);
}

/* Pointers into one mapping of a control area, and its geometry. */
struct bp_shm {
	__u64 *free_head;
	__u64 *full_head;
	__u64 *empty_head;
	__u32 *next;
	__u32 *own;
	__u32 *mag_next;
	struct bufpool_mag *mags;
	struct bufpool_cache *caches;
	__u32 buf_count;
	__u32 nr_mags;
	__u32 nr_caches;
	__u32 mag_fill;
};

static inline void bp_shm_bind(struct bp_shm *s, void *ctrl,
			       const struct bp_layout *l)
{
	struct bufpool_ctrl *c = (struct bufpool_ctrl *)ctrl;

	s->free_head = &c->free_head;
	s->full_head = &c->full_head;
	s->empty_head = &c->empty_head;
	s->next = (__u32 *)((char *)ctrl + l->next_offset);
	s->own = (__u32 *)((char *)ctrl + l->own_offset);
	s->mag_next = (__u32 *)((char *)ctrl + l->mag_next_offset);
	s->mags = (struct bufpool_mag *)((char *)ctrl + l->mags_offset);
	s->caches = (struct bufpool_cache *)((char *)ctrl + l->caches_offset);
	s->buf_count = l->buf_count;
	s->nr_mags = l->nr_mags;
	s->nr_caches = l->nr_caches;
	s->mag_fill = l->mag_fill;
}

/*
 * bp_shm_init - build a pool's control area in zeroed memory nobody else
 * sees yet: every buffer on the loose list (so that an ABI 1.0 client,
 * which knows only that list, finds them all), every magazine empty in
 * the depot, every cache slot free.
 */
static inline void bp_shm_init(void *ctrl, const struct bp_layout *l,
			       __u64 generation)
{
	struct bufpool_ctrl *c = (struct bufpool_ctrl *)ctrl;
	struct bp_shm s;
	__u32 i;

	c->magic = BUFPOOL_CTRL_MAGIC;
	c->abi_version = BUFPOOL_ABI_VERSION;
	c->buf_shift = l->buf_shift;
	c->buf_count = l->buf_count;
	c->next_offset = l->next_offset;
	c->own_offset = l->own_offset;
	c->generation = generation;
	c->mag_fill = l->mag_fill;
	c->nr_mags = l->nr_mags;
	c->nr_caches = l->nr_caches;
	c->mag_next_offset = l->mag_next_offset;
	c->mags_offset = l->mags_offset;
	c->caches_offset = l->caches_offset;

	bp_shm_bind(&s, ctrl, l);
	bp_fl_init(s.free_head, s.next, l->buf_count);
	bp_store_relaxed_u64(s.full_head, bp_fl_pack(BUFPOOL_IDX_NIL, 0));
	if (l->nr_mags)
		bp_fl_init(s.empty_head, s.mag_next, l->nr_mags);
	else
		bp_store_relaxed_u64(s.empty_head,
				     bp_fl_pack(BUFPOOL_IDX_NIL, 0));
	for (i = 0; i < l->nr_caches; i++) {
		bp_store_relaxed_u32(&s.caches[i].loaded, BUFPOOL_IDX_NIL);
		bp_store_relaxed_u32(&s.caches[i].prev, BUFPOOL_IDX_NIL);
		bp_store_relaxed_u32(&s.caches[i].pending, BUFPOOL_IDX_NIL);
		bp_store_relaxed_u32(&s.caches[i].pend_buf, BUFPOOL_IDX_NIL);
	}
}

/*
 * Statistics, summed over the thread slots; racy but each word is read
 * once and is monotonic, so a reader sees each counter at some recent
 * value.  in_use counts what clients took and have not given back, less
 * what the kernel gave back for clients that died holding it; buffers
 * in thread caches are not in use.
 */
struct bp_stats {
	__u64 acquires;
	__u64 releases;
	__u64 exhausted;
	__u64 in_use;
};

static inline void bp_stats_sum(struct bp_shm *s, struct bufpool_ctrl *c,
				struct bp_stats *st)
{
	__u64 acq = 0, rel = 0, exh = 0, freed;
	__u32 i;

	for (i = 0; i < s->nr_caches; i++) {
		acq += bp_load_relaxed_u64(&s->caches[i].acquires);
		rel += bp_load_relaxed_u64(&s->caches[i].releases);
		exh += bp_load_relaxed_u32(&s->caches[i].exhausted);
	}
	freed = bp_load_relaxed_u64(&c->kernel_released);
	st->acquires = acq;
	st->releases = rel;
	st->exhausted = exh;
	/* Garbage or a reader racing the counters: clamp to the pool. */
	st->in_use = acq > rel + freed ? acq - rel - freed : 0;
	if (st->in_use > s->buf_count)
		st->in_use = s->buf_count;
}

/* Append idx to a chain first -> ... -> last being built through next[]. */
static inline void bp_chain_add(struct bp_shm *s, __u32 *first, __u32 *last,
				__u32 idx)
{
	if (*first == BUFPOOL_IDX_NIL)
		*first = idx;
	else
		bp_store_relaxed_u32(&s->next[*last], idx);
	*last = idx;
}

/*
 * bp_mag_drain - give a magazine's buffers back to the loose list, with
 * one CAS.  The caller owns the magazine.  Indices out of range (a
 * corrupted magazine) are dropped, never followed.  The count is cleared
 * after the push, so that the buffers are named by the magazine until
 * they are on the list.
 */
static inline void bp_mag_drain(struct bp_shm *s, struct bufpool_mag *m)
{
	__u32 n = bp_load_relaxed_u32(&m->count);
	__u32 first = BUFPOOL_IDX_NIL, last = BUFPOOL_IDX_NIL, i, idx;

	if (n > BUFPOOL_MAG_CAP)
		n = BUFPOOL_MAG_CAP;
	for (i = 0; i < n; i++) {
		idx = bp_load_relaxed_u32(&m->idx[i]);
		if (idx < s->buf_count)
			bp_chain_add(s, &first, &last, idx);
	}
	if (first != BUFPOOL_IDX_NIL)
		bp_fl_push_chain(s->free_head, s->next, first, last);
	bp_store_release_u32(&m->count, 0);
}

/*
 * bp_mag_stash - put a magazine the caller owns into the depot: one
 * holding buffers on the full stack, an empty one on the empty stack.
 */
static inline void bp_mag_stash(struct bp_shm *s, __u32 id)
{
	struct bufpool_mag *m = &s->mags[id];
	__u32 n = bp_load_relaxed_u32(&m->count);

	if (n > s->mag_fill) {		/* corrupted: keep what is valid */
		bp_mag_drain(s, m);
		n = 0;
	}
	bp_fl_push(n ? s->full_head : s->empty_head, s->mag_next, id);
}

/*
 * bp_cache_flush - return everything a cache slot holds to the depot.
 * Only for a slot nobody uses meanwhile (its thread exited, or its
 * client is gone).  Every id read from the slot is bounds-checked.  A
 * magazine is pushed before the slot stops naming it.
 */
static inline void bp_cache_flush(struct bp_shm *s, struct bufpool_cache *c)
{
	__u32 loaded = bp_load_relaxed_u32(&c->loaded);
	__u32 prev = bp_load_relaxed_u32(&c->prev);

	if (loaded < s->nr_mags)
		bp_mag_stash(s, loaded);
	bp_store_release_u32(&c->loaded, BUFPOOL_IDX_NIL);
	if (prev < s->nr_mags && prev != loaded)
		bp_mag_stash(s, prev);
	bp_store_release_u32(&c->prev, BUFPOOL_IDX_NIL);
}

/*
 * Reconciliation: what the kernel runs when a client is gone, with every
 * mapping of the control area stopped (no client can store meanwhile;
 * see docs/DESIGN.md, "Ownership and recovery").  It trusts nothing it
 * reads: every index is bounds-checked, every walk is bounded by the
 * number of entries and stops at the first entry seen twice, so that a
 * cycle cannot hang it.
 *
 * The rules that make it exact for correct clients, at every instruction:
 *  - A buffer is free when it is on the loose list or in a magazine on
 *    the full stack; held when own[] names a live client (perhaps in its
 *    debug quarantine) or a handoff,
 *    when it is in a magazine a live slot names, or when a live slot's
 *    pend_buf announces it.  A buffer that is both is free ("the list
 *    wins"): a client names what it gives until the give's CAS is done,
 *    and announces what it takes before the take's CAS.
 *  - What no live record names and no list holds is lost (its holder
 *    died) and goes back to the loose list.  Magazines likewise, to the
 *    empty stack.
 *  - Records of clients that are gone are cleared.  Heads get a new tag,
 *    so that a CAS prepared before the stop fails and is retried.
 *  - What no correct client could have written (an index out of range, a
 *    link to an entry already seen, a magazine count above its fill) is
 *    cut or dropped and counted in ->repaired.
 *
 * The caller provides zeroed bitmaps: free and held, buf_count bits
 * each; mfree and mheld, nr_mags bits each; and live, the client ids
 * (1..BUFPOOL_CLIENT_MAX) whose records stand.
 */
struct bp_recon {
	__u64 *free_bm;
	__u64 *held_bm;
	__u64 *mfree_bm;
	__u64 *mheld_bm;
	const __u64 *live;
	__u32 free;
	__u32 cached;
	__u32 held;
	__u32 transit;
	__u32 reclaimed;
	__u32 repaired;
	__u32 dropped;		/* own[] records of gone clients dropped */
};

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
 * Walk one list from *head through link[], marking what is on it in bm;
 * cut it at the first entry out of range or seen before.  Returns the
 * number of entries on the list, at most n.
 */
static inline __u32 bp_recon_walk(struct bp_recon *r, __u64 *head,
				  __u32 *link, __u32 n, __u64 *bm)
{
	__u64 h = bp_load_relaxed_u64(head);
	__u64 cut = bp_fl_pack(BUFPOOL_IDX_NIL, bp_fl_next_tag(h));
	__u32 idx = bp_fl_idx(h), prev = BUFPOOL_IDX_NIL, len = 0;

	while (idx != BUFPOOL_IDX_NIL) {
		if (idx >= n || bp_bm_test_set(bm, idx)) {
			if (prev == BUFPOOL_IDX_NIL)
				bp_store_relaxed_u64(head, cut);
			else
				bp_store_relaxed_u32(&link[prev],
						     BUFPOOL_IDX_NIL);
			r->repaired++;
			break;
		}
		len++;
		prev = idx;
		idx = bp_load_relaxed_u32(&link[idx]);
	}
	return len;
}

/*
 * Keep the valid entries of a free magazine not seen free yet; entries
 * past a bad count are dropped (and reclaimed if nobody holds them).
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
		if (idx >= s->buf_count || bp_bm_test_set(r->free_bm, idx)) {
			r->repaired++;
			continue;
		}
		bp_store_relaxed_u32(&m->idx[kept++], idx);
	}
	bp_store_relaxed_u32(&m->count, kept);
	return kept;
}

/* A magazine id a live slot names: hold it and what it holds. */
static inline void bp_recon_live_mag(struct bp_shm *s, struct bp_recon *r,
				     __u32 *field)
{
	__u32 id = bp_load_relaxed_u32(field), n, i, idx;
	struct bufpool_mag *m;

	if (id == BUFPOOL_IDX_NIL)
		return;
	if (id >= s->nr_mags) {
		bp_store_relaxed_u32(field, BUFPOOL_IDX_NIL);
		r->repaired++;
		return;
	}
	/* On a depot stack: a give or take in flight; the list wins. */
	if (bp_bm_test(r->mfree_bm, id) || bp_bm_test_set(r->mheld_bm, id))
		return;
	m = &s->mags[id];
	n = bp_load_relaxed_u32(&m->count);
	if (n > BUFPOOL_MAG_CAP)
		n = BUFPOOL_MAG_CAP;	/* its thread resets a bad count */
	for (i = 0; i < n; i++) {
		idx = bp_load_relaxed_u32(&m->idx[i]);
		/* Free as well: a drain in flight; the list wins. */
		if (idx < s->buf_count && !bp_bm_test(r->free_bm, idx) &&
		    !bp_bm_test_set(r->held_bm, idx))
			r->cached++;
	}
}

static inline void bp_reconcile(struct bp_shm *s, struct bp_recon *r)
{
	__u32 i, id, o, idx, first = BUFPOOL_IDX_NIL, last = BUFPOOL_IDX_NIL;
	struct bufpool_cache *c;
	__u64 h;

	/* 1. What the lists hold is free. */
	r->free = bp_recon_walk(r, s->free_head, s->next, s->buf_count,
				r->free_bm);
	if (s->nr_mags) {
		bp_recon_walk(r, s->full_head, s->mag_next, s->nr_mags,
			      r->mfree_bm);
		for (id = bp_fl_idx(bp_load_relaxed_u64(s->full_head));
		     id < s->nr_mags;
		     id = bp_load_relaxed_u32(&s->mag_next[id]))
			r->free += bp_recon_free_mag(s, r, &s->mags[id]);
		bp_recon_walk(r, s->empty_head, s->mag_next, s->nr_mags,
			      r->mfree_bm);
		for (id = bp_fl_idx(bp_load_relaxed_u64(s->empty_head));
		     id < s->nr_mags;
		     id = bp_load_relaxed_u32(&s->mag_next[id]))
			bp_store_relaxed_u32(&s->mags[id].count, 0);
	}

	/* 2. Thread slots: a live client's hold, the rest are cleared. */
	for (i = 0; i < s->nr_caches; i++) {
		c = &s->caches[i];
		o = bp_load_relaxed_u32(&c->owner);
		if (!bp_recon_live(r, o)) {
			bp_store_relaxed_u32(&c->loaded, BUFPOOL_IDX_NIL);
			bp_store_relaxed_u32(&c->prev, BUFPOOL_IDX_NIL);
			bp_store_relaxed_u32(&c->pending, BUFPOOL_IDX_NIL);
			bp_store_relaxed_u32(&c->pend_buf, BUFPOOL_IDX_NIL);
			bp_store_relaxed_u32(&c->owner, 0);
			continue;
		}
		bp_recon_live_mag(s, r, &c->loaded);
		bp_recon_live_mag(s, r, &c->prev);
		bp_recon_live_mag(s, r, &c->pending);
		idx = bp_load_relaxed_u32(&c->pend_buf);
		if (idx == BUFPOOL_IDX_NIL)
			continue;
		if (idx >= s->buf_count) {
			bp_store_relaxed_u32(&c->pend_buf, BUFPOOL_IDX_NIL);
			r->repaired++;
		} else if (!bp_bm_test(r->free_bm, idx) &&
			   !bp_bm_test_set(r->held_bm, idx)) {
			r->held++;
		}
	}

	/* 3. Per-buffer ownership. */
	for (idx = 0; idx < s->buf_count; idx++) {
		o = bp_load_relaxed_u32(&s->own[idx]);
		if (o == BUFPOOL_OWN_FREE)
			continue;
		if (bp_bm_test(r->free_bm, idx)) {
			/* A give in flight; the list wins. */
			bp_store_relaxed_u32(&s->own[idx], BUFPOOL_OWN_FREE);
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
			if (!bp_bm_test(r->held_bm, idx))
				r->dropped++;
			bp_store_relaxed_u32(&s->own[idx], BUFPOOL_OWN_FREE);
		}
	}

	/* 4. What nobody holds goes back, in one chain. */
	for (idx = 0; idx < s->buf_count; idx++) {
		if (bp_bm_test(r->free_bm, idx) || bp_bm_test(r->held_bm, idx))
			continue;
		bp_chain_add(s, &first, &last, idx);
		r->reclaimed++;
	}
	if (first != BUFPOOL_IDX_NIL)
		bp_fl_push_chain(s->free_head, s->next, first, last);
	r->free += r->reclaimed;
	for (id = 0; id < s->nr_mags; id++) {
		if (bp_bm_test(r->mfree_bm, id) || bp_bm_test(r->mheld_bm, id))
			continue;
		bp_store_relaxed_u32(&s->mags[id].count, 0);
		bp_fl_push(s->empty_head, s->mag_next, id);
	}

	/* 5. New tags: a CAS prepared before the stop must fail. */
	h = bp_load_relaxed_u64(s->free_head);
	bp_store_relaxed_u64(s->free_head,
			     bp_fl_pack(bp_fl_idx(h), bp_fl_next_tag(h)));
	h = bp_load_relaxed_u64(s->full_head);
	bp_store_relaxed_u64(s->full_head,
			     bp_fl_pack(bp_fl_idx(h), bp_fl_next_tag(h)));
	h = bp_load_relaxed_u64(s->empty_head);
	bp_store_relaxed_u64(s->empty_head,
			     bp_fl_pack(bp_fl_idx(h), bp_fl_next_tag(h)));
}

#endif /* _UAPI_LINUX_BUFPOOL_FREELIST_H */
