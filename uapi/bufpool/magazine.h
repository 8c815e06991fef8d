/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * bufpool: magazines (Bonwick), moved whole between a thread's cache and
 * the depot, which is two tagged stacks of magazine ids: full_head for
 * magazines holding mag_fill buffers, empty_head for empty ones.  A
 * thread's cache (struct bufpool_cache) names the two magazines it holds,
 * loaded and prev, and the one it is moving (pending).
 */
#ifndef _BUFPOOL_MAGAZINE_H
#define _BUFPOOL_MAGAZINE_H

#include <bufpool/layout.h>

/*
 * bp_mag_drain - give a magazine's buffers back to the free list, with
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
			bp_fl_chain_add(s->next, &first, &last, idx);
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
 * bp_cache_flush - return everything a cache holds to the depot.  Only
 * for a cache nobody uses meanwhile (its thread exited, or its client is
 * gone).  Every id read from the cache is bounds-checked.  A magazine is
 * pushed before the cache stops naming it.
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

#endif /* _BUFPOOL_MAGAZINE_H */
