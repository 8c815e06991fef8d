// SPDX-License-Identifier: MIT
/*
 * libbufpool-user: the per-buffer calls.  Acquire and release, by
 * pointer and by index, are the fast path of fastpath.h; the bulk forms
 * run it over the loaded magazine a run at a time; a release diverted
 * from the fast path goes to debug mode's quarantine or to a sleeper;
 * handoff, addressed handoff and adopt pass a buffer between processes
 * (queues, queue.c, are the other way); the rest converts
 * between indices and addresses.
 */
#include <errno.h>

#include "fastpath.h"

/*
 * Every call refuses a NULL handle with EINVAL.  On the fast path the
 * test is one compare and a branch predicted not taken, which costs
 * nothing measurable (bench/RESULTS.md, "A NULL handle").
 */
#define BP_NULL_POOL(pool)	__builtin_expect((pool) == NULL, 0)

void *bufpool_acquire(struct bufpool *pool)
{
	uint32_t idx;

	if (BP_NULL_POOL(pool)) {
		errno = EINVAL;
		return NULL;
	}
	idx = bp_acquire(pool);
	if (idx == BP_NONE)
		return NULL;
	return bp_buf_addr(pool, idx);
}

int bufpool_release(struct bufpool *pool, void *buf)
{
	uint32_t idx;

	if (BP_NULL_POOL(pool) || bp_ptr_to_idx(pool, buf, &idx)) {
		errno = EINVAL;
		return -1;
	}
	return bp_release_if_ours(pool, idx);
}

int bufpool_acquire_index(struct bufpool *pool, uint32_t *idx)
{
	if (BP_NULL_POOL(pool) || __builtin_expect(idx == NULL, 0)) {
		errno = EINVAL;
		return -1;
	}
	return bp_acquire_index(pool, idx);
}

int bufpool_release_index(struct bufpool *pool, uint32_t idx)
{
	if (BP_NULL_POOL(pool) || __builtin_expect(idx >= pool->buf_count, 0)) {
		errno = EINVAL;
		return -1;
	}
	return bp_release_if_ours(pool, idx);
}

/*
 * A release that pool->divert_releases sent off the fast path: to debug
 * mode's quarantine, else to a sleeper if one still sleeps.
 */
int bp_release_diverted(struct bufpool *pool, uint32_t idx)
{
	if (pool->debug)
		return bp_quarantine_release(pool, idx);
	return bp_release_to_sleeper_or_cache(pool, idx);
}

/*
 * Give back idx, which the caller holds: to the sleepers (through the
 * free list, with a wake-up) when someone sleeps, else to this thread's
 * cache.
 */
int bp_release_to_sleeper_or_cache(struct bufpool *pool, uint32_t idx)
{
	if (atomic_load_explicit(bp_waiters(pool), memory_order_relaxed))
		return bp_release_to_sleeper(pool, idx);
	return bp_release_to_cache(pool, idx);
}

/*
 * The bulk forms work on the loaded magazine directly: the count stays
 * in a register between buffers (it is still stored after each one, so
 * that the magazine and own[] follow the same order as for one buffer
 * and a crash between two buffers leaves nothing unnamed), and the
 * thread's cache is looked up and the statistics counted once per
 * magazine rather than per buffer.  The single-buffer paths take over
 * for refills, spills, garbage, sleepers and debug mode.
 *
 * What the loops read of the handle and the cache is copied into
 * locals first (struct bp_bulk): the stores into the control area are
 * atomic stores of __u32, which the compiler must assume may alias the
 * handle's fields, so it would load every field again for every buffer
 * (ten loads a buffer: a third of what a bulk call cost per buffer).
 */
struct bp_bulk {
	char *bufs;
	uint64_t len;
	__u32 *own;
	struct bufpool_mag *m;
	struct bp_bufmap map;
	uint32_t count, me, mark, fill;
};

static BP_ALWAYS_INLINE struct bp_bulk bp_bulk_of(struct bufpool *pool,
						  struct bp_thread_cache *cache)
{
	return (struct bp_bulk){
		.bufs = pool->bufs, .len = pool->bufs_len,
		.own = pool->own, .m = cache->loaded, .map = pool->map,
		.count = pool->buf_count, .me = pool->client_id,
		.mark = cache->mark, .fill = cache->mag_fill,
	};
}

unsigned int bufpool_acquire_bulk(struct bufpool *pool, void **bufs,
				  unsigned int n)
{
	struct bp_thread_cache *cache;
	unsigned int i = 0, k;
	uint32_t c, idx;

	if (BP_NULL_POOL(pool) || __builtin_expect(bufs == NULL, 0)) {
		errno = EINVAL;
		return 0;
	}
	while (i < n) {
		cache = bp_thread_cache_current(pool);
		/*
		 * The count is read once: another client can write it, and
		 * only the value checked may index the magazine.
		 */
		c = cache ? bp_load_relaxed_u32(&cache->loaded->count) : 0;
		if (cache && c - 1 < cache->mag_fill) {
			struct bp_bulk b = bp_bulk_of(pool, cache);

			for (k = 0; c && i < n; k++, i++) {
				idx = bp_load_relaxed_u32(&b.m->idx[c - 1]);
				if (!bp_own_take(b.own, b.count, idx, b.mark,
						 b.me))
					break;
				/* Named by own[] before the magazine lets go. */
				bp_store_release_u32(&b.m->count, --c);
				bufs[i] = b.bufs + bp_bufmap_off(&b.map, idx);
			}
			bp_count_n(&cache->shared->acquires, k);
			if (i == n)
				break;
		}
		idx = bp_acquire(pool);	/* refill, garbage, no cache */
		if (idx == BP_NONE)
			break;
		bufs[i++] = bp_buf_addr(pool, idx);
	}
	return i;
}

int bufpool_release_bulk(struct bufpool *pool, void *const *bufs,
			 unsigned int n)
{
	struct bp_thread_cache *cache;
	unsigned int i = 0, k;
	uint32_t c, idx;

	if (BP_NULL_POOL(pool) || __builtin_expect(bufs == NULL, 0)) {
		errno = EINVAL;
		return -1;
	}
	while (i < n) {
		cache = bp_thread_cache_current(pool);
		c = cache ? bp_load_relaxed_u32(&cache->loaded->count) : 0;
		if (cache && c < cache->mag_fill &&
		    !atomic_load_explicit(pool->divert_releases,
					  memory_order_relaxed)) {
			struct bp_bulk b = bp_bulk_of(pool, cache);

			for (k = 0; c < b.fill && i < n; k++, i++, c++) {
				if (bp_addr_to_idx(b.bufs, b.len, &b.map,
						   bufs[i], &idx) ||
				    bp_load_relaxed_u32(&b.own[idx]) != b.me)
					break;
				bp_mag_put_own(b.own, b.m, c, idx, b.mark);
			}
			bp_count_n(&cache->shared->releases, k);
			if (i == n)
				break;
		}
		/* A spill, a sleeper, debug mode, or a bad pointer. */
		if (bp_ptr_to_idx(pool, bufs[i], &idx)) {
			errno = EINVAL;
			return -1;
		}
		if (bp_release_if_ours(pool, idx))
			return -1;
		i++;
	}
	return 0;
}

int bufpool_handoff(struct bufpool *pool, uint32_t idx)
{
	if (!pool || idx >= pool->buf_count ||
	    bp_load_relaxed_u32(&pool->own[idx]) != pool->client_id) {
		errno = EINVAL;
		return -1;
	}
	bp_store_release_u32(&pool->own[idx],
			     BUFPOOL_OWN_TRANSIT | pool->client_id);
	return 0;
}

/*
 * An addressed handoff: own[idx] = BUFPOOL_OWN_TO | receiver.  Then the
 * receiver's bit in the live-client map: the kernel clears it (and
 * makes a full barrier) before it reconciles the pool for a departed
 * client, so either that reconciliation sees the record and gives the
 * buffer back, or this load sees the bit clear (both accesses seq_cst,
 * against the kernel's store and smp_mb()).  Clear: take the buffer
 * back, unless the kernel did first (the CAS fails: it is the pool's).
 */
int bufpool_handoff_to(struct bufpool *pool, uint32_t idx, uint32_t receiver)
{
	_Atomic __u32 *own;
	_Atomic __u64 *live;
	__u32 to;

	if (!pool || idx >= pool->buf_count || !receiver ||
	    receiver > BUFPOOL_CLIENT_MAX || receiver == pool->client_id ||
	    bp_load_relaxed_u32(&pool->own[idx]) != pool->client_id) {
		errno = EINVAL;
		return -1;
	}
	own = (_Atomic __u32 *)&pool->own[idx];
	live = (_Atomic __u64 *)&pool->shm.live[receiver / 64];
	to = BUFPOOL_OWN_TO | receiver;
	atomic_store_explicit(own, to, memory_order_seq_cst);
	if (atomic_load_explicit(live, memory_order_seq_cst) &
	    (1ULL << (receiver % 64)))
		return 0;
	if (atomic_compare_exchange_strong_explicit(own, &to, pool->client_id,
			memory_order_acquire, memory_order_relaxed)) {
		errno = ESRCH;
		return -1;
	}
	return 0;	/* the kernel gave it back to the pool already */
}

int bufpool_adopt(struct bufpool *pool, uint32_t idx)
{
	__u32 o;

	if (!pool || idx >= pool->buf_count) {
		errno = EINVAL;
		return -1;
	}
	o = bp_load_relaxed_u32(&pool->own[idx]);
	/*
	 * In transit: anyone may adopt it; addressed (BUFPOOL_OWN_TO, which
	 * has the transit bit too): only its receiver.  One adopter wins;
	 * any other finds it no longer in transit.
	 */
	if (!(o & BUFPOOL_OWN_TRANSIT) ||
	    ((o & BUFPOOL_OWN_KIND) == BUFPOOL_OWN_TO &&
	     (o & ~BUFPOOL_OWN_KIND) != pool->client_id) ||
	    !atomic_compare_exchange_strong_explicit(
			(_Atomic __u32 *)&pool->own[idx], &o, pool->client_id,
			memory_order_acquire, memory_order_relaxed)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

void *bufpool_addr(const struct bufpool *pool, uint32_t idx)
{
	if (!pool || idx >= pool->buf_count) {
		errno = EINVAL;
		return NULL;
	}
	return bp_buf_addr(pool, idx);
}

int64_t bufpool_index(const struct bufpool *pool, const void *ptr)
{
	uint64_t off;
	uint32_t idx;

	if (!pool) {
		errno = EINVAL;
		return -1;
	}
	off = (uintptr_t)ptr - (uintptr_t)pool->bufs;
	/* Not a byte of a buffer: outside them, or between two (spread). */
	if (off >= pool->bufs_len ||
	    bp_bufmap_containing(&pool->map, off, &idx)) {
		errno = EINVAL;
		return -1;
	}
	return idx;
}

/* 0, never a pool's buffer size or count, for a NULL handle. */
size_t bufpool_buf_size(const struct bufpool *pool)
{
	if (!pool) {
		errno = EINVAL;
		return 0;
	}
	return pool->map.size;
}

uint32_t bufpool_buf_count(const struct bufpool *pool)
{
	if (!pool) {
		errno = EINVAL;
		return 0;
	}
	return pool->buf_count;
}
