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
 *   bool  bp_cas_acquire_u64(__u64 *p, __u64 *old, __u64 new)
 *   bool  bp_cas_release_u64(__u64 *p, __u64 *old, __u64 new)
 *   void  bp_cpu_relax(void)
 * The CAS shims update *old with the current value when they fail, and
 * their failure ordering is at least acquire for bp_cas_acquire_u64.
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
 * bp_fl_pop - take one buffer.
 * Returns its index, BUFPOOL_IDX_NIL when the list is empty, or
 * BP_FL_CORRUPT when the shared words hold something no correct client
 * could have written.
 */
static inline __u32 bp_fl_pop(__u64 *head, __u32 *next, __u32 count)
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
		BP_FL_TEST_HOOK(head);
		if (bp_cas_acquire_u64(head, &old,
				       bp_fl_pack(nxt, bp_fl_next_tag(old))))
			return idx;
		bp_cpu_relax();
	}
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
 * pool.  A pool too small for that (mag_fill 0) has no caches.
 */
struct bp_layout {
	__u32 buf_count;
	__u32 buf_shift;
	__u32 nr_caches;
	__u32 mag_fill;
	__u32 nr_mags;
	__u64 next_offset;	/* offsets within the control area */
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
	l->nr_caches = l->mag_fill ? nr_caches : 0;
	/* Two per cache, enough to hold every buffer, and one spare. */
	l->nr_mags = l->mag_fill ? 2 * l->nr_caches +
			(count + l->mag_fill - 1) / l->mag_fill + 1 : 0;

	l->next_offset = BUFPOOL_CTRL_NEXT_OFFSET;
	l->mag_next_offset = bp_align(l->next_offset + 4ULL * count,
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
	}
}

/*
 * bp_mag_drain - give a magazine's buffers back to the loose list, with
 * one CAS.  The caller owns the magazine.  Indices out of range (a
 * corrupted magazine) are dropped, never followed.
 */
static inline void bp_mag_drain(struct bp_shm *s, struct bufpool_mag *m)
{
	__u32 n = bp_load_relaxed_u32(&m->count);
	__u32 first = BUFPOOL_IDX_NIL, last = BUFPOOL_IDX_NIL, i, idx;

	if (n > BUFPOOL_MAG_CAP)
		n = BUFPOOL_MAG_CAP;
	for (i = 0; i < n; i++) {
		idx = bp_load_relaxed_u32(&m->idx[i]);
		if (idx >= s->buf_count)
			continue;
		if (first == BUFPOOL_IDX_NIL)
			first = idx;
		else
			bp_store_relaxed_u32(&s->next[last], idx);
		last = idx;
	}
	bp_store_relaxed_u32(&m->count, 0);
	if (first != BUFPOOL_IDX_NIL)
		bp_fl_push_chain(s->free_head, s->next, first, last);
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
 * client is gone).  Every id read from the slot is bounds-checked.
 */
static inline void bp_cache_flush(struct bp_shm *s, struct bufpool_cache *c)
{
	__u32 loaded = bp_load_relaxed_u32(&c->loaded);
	__u32 prev = bp_load_relaxed_u32(&c->prev);

	bp_store_relaxed_u32(&c->loaded, BUFPOOL_IDX_NIL);
	bp_store_relaxed_u32(&c->prev, BUFPOOL_IDX_NIL);
	if (loaded < s->nr_mags)
		bp_mag_stash(s, loaded);
	if (prev < s->nr_mags && prev != loaded)
		bp_mag_stash(s, prev);
}

#endif /* _UAPI_LINUX_BUFPOOL_FREELIST_H */
