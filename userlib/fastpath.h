/* SPDX-License-Identifier: MIT */
/*
 * libbufpool-user's fast path, always inline: a thread takes from and
 * gives to the loaded magazine of its own cache, a few plain loads and
 * stores in memory no other thread touches, with no lock, no system
 * call and no allocation.  Anything else leaves it through one call: a
 * cache miss (bp_acquire_miss, bp_release_miss: cache.c), or a release
 * diverted to a sleeper or to debug mode's quarantine
 * (bp_release_diverted: buffer.c).
 *
 * Every value read from the magazine is checked (its count against the
 * cache's mag_fill, an index against the pool), since it sits in
 * writable shared memory.  The ownership record own[] follows each
 * buffer: named ours before the magazine lets go of it on a take, and
 * marked the cache's only after the magazine names it on a give
 * (docs/DESIGN.md, section 4).  No atomic read-modify-write on either
 * path (ABI 1.7: the cache's mark).
 *
 * Included by the files that take and give single buffers: buffer.c,
 * cache.c (the misses finish the take or the give) and wait.c (a timed
 * acquire tries the fast path first).
 */
#ifndef BUFPOOL_FASTPATH_H
#define BUFPOOL_FASTPATH_H

#include <errno.h>

#include "internal.h"

/* This thread's cache for pool, if it is the one it used last. */
static BP_ALWAYS_INLINE struct bp_thread_cache *
bp_thread_cache_current(const struct bufpool *pool)
{
	struct bp_thread_cache *cache = bp_cache_last;

	if (__builtin_expect(cache != NULL &&
			     atomic_load_explicit(&cache->serial,
				memory_order_relaxed) == pool->serial, 1))
		return cache;
	return NULL;
}

/* The address of buffer idx (< buf_count). */
static BP_ALWAYS_INLINE void *bp_buf_addr(const struct bufpool *pool,
					  uint32_t idx)
{
	return pool->bufs + bp_bufmap_off(&pool->map, idx);
}

/*
 * A buffer's start to its index, given the pool's buffer area (bufs,
 * len bytes to the end of the last buffer, laid out as map says); its
 * bounds check covers buf_count.
 */
static BP_ALWAYS_INLINE int bp_addr_to_idx(const char *bufs, uint64_t len,
					   const struct bp_bufmap *map,
					   const void *buf, uint32_t *idx)
{
	uint64_t off = (uintptr_t)buf - (uintptr_t)bufs;

	/* One unsigned compare catches pointers below and above the pool. */
	if (__builtin_expect(off >= len, 0))
		return -1;
	return bp_bufmap_idx(map, off, idx);
}

static BP_ALWAYS_INLINE int bp_ptr_to_idx(const struct bufpool *pool,
					  const void *buf, uint32_t *idx)
{
	return bp_addr_to_idx(pool->bufs, pool->bufs_len, &pool->map, buf,
			      idx);
}

/*
 * The record half of a take (bp_mag_take): idx, read from a magazine of
 * the cache whose mark is mark, becomes client me's in own[]; 0 when it
 * is out of range or not a free buffer of that cache.  The pool's fields
 * come as arguments, so that a loop (the bulk calls) keeps them in
 * registers.
 */
static BP_ALWAYS_INLINE int bp_own_take(__u32 *own, uint32_t buf_count,
					uint32_t idx, uint32_t mark,
					uint32_t me)
{
	__u32 o;

	if (__builtin_expect(idx >= buf_count, 0))
		return 0;
	o = bp_load_relaxed_u32(&own[idx]);
	if (__builtin_expect(o == mark, 1)) {
		bp_store_relaxed_u32(&own[idx], me);
		return 1;
	}
	return o == BUFPOOL_OWN_FREE && bp_cas_relaxed_u32(&own[idx], &o, me);
}

/*
 * Take the last buffer of the loaded magazine m (c > 0 buffers) of a
 * cache whose mark is mark, recording it as ours; BP_NONE when the
 * magazine held garbage: an index out of range, or a buffer own[] says
 * is not a free one of this cache.  A buffer this thread gave to the
 * cache carries the cache's mark (ABI 1.7, BUFPOOL_OWN_CACHED | c), and
 * so does one of a magazine the cache loaded from the depot (library
 * 1.9.1: bp_mag_mark, at the refill): only this thread writes or clears
 * that mark, so a plain store names the buffer ours, and a thread that
 * finds the same index in its own magazine (another client wrote it
 * there) sees another cache's mark and refuses it.  A free buffer
 * without a mark (a magazine filled from the free list, one a client
 * older than 1.7 filled, an entry the refill could not mark) is taken
 * with a compare-and-swap from free to ours, so that two threads taking
 * it at once from two places cannot both have it.
 */
static BP_ALWAYS_INLINE uint32_t bp_mag_take(struct bufpool *pool,
					     struct bufpool_mag *m, uint32_t c,
					     uint32_t mark)
{
	uint32_t idx = bp_load_relaxed_u32(&m->idx[c - 1]);

	if (__builtin_expect(!bp_own_take(pool->own, pool->buf_count, idx,
					  mark, pool->client_id), 0))
		return BP_NONE;
	/* Named by own[] before the magazine lets go of it. */
	bp_store_release_u32(&m->count, c - 1);
	return idx;
}

/*
 * Put idx into the loaded magazine m (c buffers), then mark own[idx]
 * as a free buffer of the cache whose mark is mark (own: the pool's, as
 * an argument for the bulk loops).
 */
static BP_ALWAYS_INLINE void bp_mag_put_own(__u32 *own, struct bufpool_mag *m,
					    uint32_t c, uint32_t idx,
					    uint32_t mark)
{
	bp_store_relaxed_u32(&m->idx[c], idx);
	bp_store_release_u32(&m->count, c + 1);
	bp_store_release_u32(&own[idx], mark);
}

static BP_ALWAYS_INLINE void bp_mag_put(struct bufpool *pool,
					struct bufpool_mag *m, uint32_t c,
					uint32_t idx, uint32_t mark)
{
	bp_mag_put_own(pool->own, m, c, idx, mark);
}

/* Take a buffer: its index, or BP_NONE with errno set. */
static BP_ALWAYS_INLINE uint32_t bp_acquire(struct bufpool *pool)
{
	struct bp_thread_cache *cache = bp_thread_cache_current(pool);

	if (__builtin_expect(cache != NULL, 1)) {
		struct bufpool_mag *m = cache->loaded;
		/* Read once: only the value checked indexes the magazine. */
		uint32_t c = bp_load_relaxed_u32(&m->count);

		if (__builtin_expect(c - 1 < cache->mag_fill, 1)) {
			uint32_t idx = bp_mag_take(pool, m, c,
						   cache->mark);

			if (__builtin_expect(idx != BP_NONE, 1)) {
				bp_count(&cache->shared->acquires);
				return idx;
			}
		}
	}
	return bp_acquire_miss(pool);
}

/* bp_acquire for the callers that want 0 or -1, the index in *idx. */
static inline int bp_acquire_index(struct bufpool *pool, uint32_t *idx)
{
	uint32_t taken = bp_acquire(pool);

	if (taken == BP_NONE)
		return -1;
	*idx = taken;
	return 0;
}

/* Give back idx, which the caller holds, to this thread's cache. */
static BP_ALWAYS_INLINE int bp_release_to_cache(struct bufpool *pool,
						uint32_t idx)
{
	struct bp_thread_cache *cache = bp_thread_cache_current(pool);

	if (__builtin_expect(cache != NULL, 1)) {
		struct bufpool_mag *m = cache->loaded;
		uint32_t c = bp_load_relaxed_u32(&m->count);

		if (__builtin_expect(c < cache->mag_fill, 1)) {
			bp_mag_put(pool, m, c, idx, cache->mark);
			bp_count(&cache->shared->releases);
			return 0;
		}
	}
	return bp_release_miss(pool, idx);
}

/*
 * Give idx (< buf_count) back if it is ours (own[] says so), which
 * catches a double release, a buffer of another client and a buffer
 * handed off: EINVAL otherwise.  One load decides between the cache and
 * the rest (a sleeper to wake, debug mode).
 */
static BP_ALWAYS_INLINE int bp_release_if_ours(struct bufpool *pool,
					       uint32_t idx)
{
	if (__builtin_expect(bp_load_relaxed_u32(&pool->own[idx]) !=
			     pool->client_id, 0)) {
		errno = EINVAL;
		return -1;
	}
	if (__builtin_expect(atomic_load_explicit(pool->divert_releases,
						  memory_order_relaxed) != 0, 0))
		return bp_release_diverted(pool, idx);
	return bp_release_to_cache(pool, idx);
}

#endif /* BUFPOOL_FASTPATH_H */
