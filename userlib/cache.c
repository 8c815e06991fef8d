// SPDX-License-Identifier: MIT
/*
 * libbufpool-user: thread caches, and what the fast path does when the
 * cache misses.
 *
 * A thread's cache for one pool is a struct bp_thread_cache, taken from
 * a static arena (so that a stale pointer to one is never a pointer to
 * freed memory) and bound to a shared cache (struct bufpool_cache) in
 * the pool's control area, where the kernel can see which magazines the
 * thread holds.  A cache serves the pool whose open-serial it carries;
 * other threads change that serial only with a CAS (bufpool_close, the
 * thread-exit destructor), so that exactly one of them flushes a cache.
 *
 * A thread that has no cache for a pool (every shared cache is taken,
 * or the thread uses more pools than BP_CACHES_PER_THREAD, or the
 * process has BP_CACHE_ARENA thread caches already) works on the shared
 * path: the free list and the depot directly, counted in flight in its
 * client's inflight[] word where a cache would announce what it takes
 * (docs/DESIGN.md, "The shared path").  It claims a cache as soon as the
 * control area's caches_free hint says one is free.
 *
 * Here, in order: claiming a cache on a thread's first use of a pool;
 * the misses (refill: swap in the second magazine, else trade the empty
 * one for a full one from the depot, else fill it from the free list;
 * spill: the mirror image; a thread without magazines takes from and
 * gives to the free list); flushing a cache back to the depot
 * (bufpool_flush_cache, thread exit, bufpool_close); thread exit and
 * fork.  Nothing here takes a lock, makes a system call or allocates,
 * except the first cache of a thread, which arms its exit destructor
 * (pthread_setspecific; no allocation for the library's one key).
 *
 * The ownership rules (docs/DESIGN.md, section 4): what a thread takes
 * from a shared stack is announced in its shared cache before the CAS
 * (pending for a magazine, pend_buf for a buffer) and stays there until
 * the thread has recorded it for good; what it gives stays named until
 * the give's CAS is done.  So when the kernel stops the pool after a
 * client died, every buffer is on a list or named by a live record, or
 * was the dead one's.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "fastpath.h"

#define BP_CACHE_ARENA		1024	/* thread caches in the process */
#define BP_CACHES_PER_THREAD	16	/* pools one thread caches at once */

static struct bp_thread_cache bp_cache_arena[BP_CACHE_ARENA];
/* Arena entries no thread owns: a hint, so that a full arena costs no scan. */
static _Atomic int bp_arena_free = BP_CACHE_ARENA;
BP_TLS struct bp_thread_cache *bp_cache_last;
/* This thread's caches, one per pool it uses; NULL past the last. */
static BP_TLS struct bp_thread_cache *bp_thread_caches[BP_CACHES_PER_THREAD];
static BP_TLS char bp_thread_marker;
static pthread_key_t bp_exit_key;
static int bp_exit_key_ok;
static pthread_once_t bp_once = PTHREAD_ONCE_INIT;
/* What a cache without magazines points at: never written. */
static struct bufpool_mag bp_no_mag;
/*
 * Where the shared path's takes are announced: words of this thread only
 * (the kernel cannot see them; the client's in-flight count tells it
 * instead), so that one pop routine serves both paths.
 */
static BP_TLS __u32 bp_shared_pend_buf;
static BP_TLS __u32 bp_shared_pending;

static inline void bp_unannounce(__u32 *word)
{
	bp_store_release_u32(word, BUFPOOL_IDX_NIL);
}

/* ------------------------------------------------------------------ */
/* Claiming a cache                                                   */

/* This thread's cache for pool, or NULL if it has none yet. */
static struct bp_thread_cache *bp_thread_cache_mine(const struct bufpool *pool)
{
	struct bp_thread_cache *cache;
	int i;

	for (i = 0; i < BP_CACHES_PER_THREAD; i++) {
		cache = bp_thread_caches[i];
		if (cache && atomic_load_explicit(&cache->serial,
				memory_order_relaxed) == pool->serial)
			return cache;
	}
	return NULL;
}

/*
 * A cache this thread owns and may bind to a pool: one of its own whose
 * pool was closed, else a free one of the arena.  NULL when the thread
 * has as many caches as it may, or the arena is used up.
 */
static struct bp_thread_cache *bp_thread_cache_take(void)
{
	struct bp_thread_cache *cache;
	void *expect;
	int i, mine;

	for (i = 0; i < BP_CACHES_PER_THREAD; i++) {
		cache = bp_thread_caches[i];
		if (cache && atomic_load_explicit(&cache->serial,
				memory_order_relaxed) == BP_SERIAL_NONE)
			return cache;	/* ours, its pool was closed */
	}
	for (mine = 0; mine < BP_CACHES_PER_THREAD && bp_thread_caches[mine];
	     mine++)
		;
	if (mine == BP_CACHES_PER_THREAD ||
	    atomic_load_explicit(&bp_arena_free, memory_order_relaxed) <= 0)
		return NULL;
	for (i = 0; i < BP_CACHE_ARENA; i++) {
		cache = &bp_cache_arena[i];
		expect = NULL;
		if (atomic_load_explicit(&cache->thread,
					 memory_order_relaxed) == NULL &&
		    atomic_compare_exchange_strong_explicit(&cache->thread,
				&expect, &bp_thread_marker,
				memory_order_acquire, memory_order_relaxed)) {
			atomic_fetch_sub_explicit(&bp_arena_free, 1,
						  memory_order_relaxed);
			bp_thread_caches[mine] = cache;
			/* A thread's first cache arms its exit destructor. */
			if (pthread_getspecific(bp_exit_key) == NULL)
				pthread_setspecific(bp_exit_key, &bp_thread_marker);
			return cache;
		}
	}
	return NULL;
}

/* The control area's count of free caches: a hint (any client writes it). */
static inline _Atomic __u32 *bp_caches_free(const struct bufpool *pool)
{
	return (_Atomic __u32 *)&pool->ctrl->caches_free;
}

/* This handle gives a shared cache up (its owner word is 0 now). */
static void bp_shared_cache_free(struct bufpool *pool,
				 struct bufpool_cache *shared)
{
	atomic_store_explicit((_Atomic __u32 *)&shared->owner, 0,
			      memory_order_release);
	atomic_fetch_add_explicit(bp_caches_free(pool), 1,
				  memory_order_relaxed);
}

/*
 * A free shared cache of pool, claimed for this handle, or NULL with
 * errno EUSERS (the thread then works on the shared path).  Caches whose
 * owner is no client that has the pool open (garbage, or a client the
 * kernel has not reconciled yet) are reported: the repair asked for
 * frees them.
 */
static struct bufpool_cache *bp_shared_cache_claim(struct bufpool *pool)
{
	struct bp_shm *s = &pool->shm;
	uint32_t i, j, o;
	int garbage = 0;
	__u32 hint = atomic_load_explicit(bp_caches_free(pool),
					  memory_order_relaxed);

	/*
	 * Even-numbered caches first, then the odd ones: the first threads
	 * get records 128 bytes apart, so that the counters each writes on
	 * every operation are not in the pair of lines that the other
	 * core's adjacent-line prefetcher pulls with its own.
	 */
	for (j = 0; j < s->nr_caches; j++) {
		i = 2 * j < s->nr_caches ? 2 * j :
					   2 * (j - (s->nr_caches + 1) / 2) + 1;
		_Atomic __u32 *owner = (_Atomic __u32 *)&s->caches[i].owner;
		__u32 expect = 0;

		o = atomic_load_explicit(owner, memory_order_relaxed);
		if (o && (o > BUFPOOL_CLIENT_MAX ||
			  !(bp_load_relaxed_u64(&s->live[o / 64]) &
			    (1ULL << (o % 64)))))
			garbage = 1;

		/*
		 * Look before the CAS: a failed CAS still takes the shared
		 * cache's line exclusive, and a thread that finds none free
		 * scans again on every operation.
		 */
		if (atomic_load_explicit(owner, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_strong_explicit(owner, &expect,
				pool->client_id, memory_order_acquire,
				memory_order_relaxed)) {
			atomic_fetch_sub_explicit(bp_caches_free(pool), 1,
						  memory_order_relaxed);
			return &s->caches[i];
		}
	}
	if (garbage)
		bp_report_corruption(pool);
	/*
	 * None free: the hint was stale (or garbage).  Say so, so that the
	 * threads on the shared path stop scanning, unless it moved during
	 * the scan (a cache freed meanwhile has added itself).
	 */
	if (hint)
		atomic_compare_exchange_strong_explicit(bp_caches_free(pool),
				&hint, 0, memory_order_relaxed,
				memory_order_relaxed);
	errno = EUSERS;
	return NULL;
}

/* Take an empty magazine from the depot for a shared cache's word. */
static uint32_t bp_take_empty_mag(struct bp_shm *s,
				  struct bufpool_cache *shared, __u32 *word)
{
	uint32_t id = bp_fl_pop_rec(s->empty_head, s->mag_next, s->nr_mags,
				    &shared->pending);

	if (id >= s->nr_mags) {
		bp_unannounce(&shared->pending);
		return BUFPOOL_IDX_NIL;
	}
	bp_store_relaxed_u32(&bp_mag_at(s, id)->count, 0);
	bp_store_release_u32(word, id);
	bp_unannounce(&shared->pending);
	return id;
}

/*
 * Bind cache to pool through its shared cache, with two empty magazines
 * from the depot, or none (then the thread works on the free list).
 */
static void bp_thread_cache_bind(struct bp_thread_cache *cache,
				 struct bufpool *pool,
				 struct bufpool_cache *shared)
{
	struct bp_shm *s = &pool->shm;
	uint32_t loaded, prev;

	cache->pool = pool;
	cache->shared = shared;
	cache->mag_fill = 0;
	cache->mark = BUFPOOL_OWN_CACHED | (uint32_t)(shared - s->caches);
	cache->loaded = cache->prev = &bp_no_mag;
	cache->loaded_id = cache->prev_id = BUFPOOL_IDX_NIL;
	cache->loaded_word = &shared->loaded;
	cache->prev_word = &shared->prev;
	if (pool->mag_fill) {
		loaded = bp_take_empty_mag(s, shared, &shared->loaded);
		prev = loaded < s->nr_mags ?
		       bp_take_empty_mag(s, shared, &shared->prev) :
		       BUFPOOL_IDX_NIL;
		if (prev < s->nr_mags && prev == loaded) {
			/* The empty stack gave one magazine twice: garbage. */
			bp_unannounce(&shared->prev);
			bp_unannounce(&shared->loaded);
			bp_report_corruption(pool);
		} else if (prev < s->nr_mags) {
			cache->mag_fill = pool->mag_fill;
			cache->loaded_id = loaded;
			cache->prev_id = prev;
			cache->loaded = bp_mag_at(s, loaded);
			cache->prev = bp_mag_at(s, prev);
		} else if (loaded < s->nr_mags) {
			/* The depot is short (corrupted): go without. */
			bp_fl_push(s->empty_head, s->mag_next, loaded);
			bp_unannounce(&shared->loaded);
		}
	}
	atomic_store_explicit(&cache->serial, pool->serial,
			      memory_order_release);
}

/*
 * bp_thread_cache_get - this thread's cache for pool, claimed on first
 * use, or NULL (errno EUSERS) when it has none and cannot claim one now:
 * the caller then works on the shared path.  A thread without a cache
 * looks for one only when the caches_free hint says one is free, so the
 * shared path costs one read of a line that changes only when a cache
 * is claimed or freed.
 */
struct bp_thread_cache *bp_thread_cache_get(struct bufpool *pool)
{
	struct bp_thread_cache *cache = bp_thread_cache_mine(pool);
	struct bufpool_cache *shared;

	if (cache) {
		bp_cache_last = cache;
		return cache;
	}
	/* No cache without a way to give it back at thread exit. */
	if (!bp_exit_key_ok ||
	    !atomic_load_explicit(bp_caches_free(pool), memory_order_relaxed))
		goto none;
	cache = bp_thread_cache_take();
	if (!cache)
		goto none;
	shared = bp_shared_cache_claim(pool);
	if (!shared)
		return NULL;	/* EUSERS; the arena entry stays this thread's */
	bp_thread_cache_bind(cache, pool, shared);
	bp_cache_last = cache;
	return cache;

none:
	errno = EUSERS;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Corruption                                                         */

/*
 * bp_report_corruption - this thread found in the control area what no
 * correct client writes (docs/DESIGN.md, "Trust"): count it in the
 * pool's detected counter and ask the kernel to repair the pool, at most
 * once a millisecond per handle (the kernel coalesces requests and
 * spaces repairs).  What was found is already out of this thread's way:
 * a garbage entry dropped, a held buffer left to its holder.
 */
void bp_report_corruption(struct bufpool *pool)
{
	struct timespec ts;
	uint64_t now, last;
	int saved = errno;

	atomic_fetch_add_explicit((_Atomic __u64 *)&pool->ctrl->detected, 1,
				  memory_order_relaxed);
	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts))
		return;
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + 1;
	last = atomic_load_explicit(&pool->repair_asked, memory_order_relaxed);
	if (now - last >= 1000000 &&
	    atomic_compare_exchange_strong_explicit(&pool->repair_asked, &last,
			now, memory_order_relaxed, memory_order_relaxed))
		pool->backend->repair(pool, BUFPOOL_REPAIR_ASYNC);
	errno = saved;
}

/* Report corruption and fail the call with EUCLEAN. */
uint32_t bp_corrupt(struct bufpool *pool)
{
	bp_report_corruption(pool);
	errno = EUCLEAN;
	return BP_NONE;
}

/*
 * The thread stops using cache (its magazines are forgotten, not
 * pushed anywhere: the kernel's repair gives back what nobody names); it
 * claims a cache afresh on its next call.  Unless bufpool_close is
 * flushing it right now (the serial is no longer the pool's).
 */
static void bp_thread_cache_unbind(struct bufpool *pool,
				   struct bp_thread_cache *cache)
{
	uint64_t s = pool->serial;

	if (bp_cache_last == cache)
		bp_cache_last = NULL;
	if (!atomic_compare_exchange_strong_explicit(&cache->serial, &s,
			BP_SERIAL_BUSY, memory_order_acq_rel,
			memory_order_relaxed))
		return;
	cache->shared = NULL;
	cache->pool = NULL;
	cache->mag_fill = 0;
	cache->loaded = cache->prev = &bp_no_mag;
	atomic_store_explicit(&cache->serial, BP_SERIAL_NONE,
			      memory_order_release);
}

/*
 * Whether the shared cache still says what the thread's cache holds:
 * its owner this handle, its words the thread's two magazines.  The
 * kernel's repair resets a cache whose owner is garbage, and another
 * client can write any of it; a thread that went on with its magazines
 * would share them with whoever the depot gives them to next.  When it
 * no longer does, the thread lets the shared cache go (reset, if its
 * owner still says this handle) and forgets the magazines: -1.
 */
static int bp_thread_cache_check(struct bufpool *pool,
				 struct bp_thread_cache *cache)
{
	struct bufpool_cache *shared = cache->shared;
	uint32_t owner = bp_load_relaxed_u32(&shared->owner);

	if (owner == pool->client_id &&
	    bp_load_relaxed_u32(cache->loaded_word) == cache->loaded_id &&
	    bp_load_relaxed_u32(cache->prev_word) == cache->prev_id)
		return 0;
	if (owner == pool->client_id) {
		bp_cache_reset(shared);
		bp_shared_cache_free(pool, shared);
	}
	bp_thread_cache_unbind(pool, cache);
	bp_report_corruption(pool);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Misses                                                             */

/* A magazine's count, or 0 if it is not one a correct client wrote. */
static uint32_t bp_mag_count(const struct bp_thread_cache *cache,
			     const struct bufpool_mag *m)
{
	uint32_t c = bp_load_relaxed_u32((__u32 *)&m->count);

	return c <= cache->mag_fill ? c : 0;
}

/* Whether a magazine's count is one no correct client writes. */
static int bp_mag_garbage(const struct bp_thread_cache *cache,
			  const struct bufpool_mag *m)
{
	return bp_load_relaxed_u32((__u32 *)&m->count) > cache->mag_fill;
}

static void bp_thread_cache_swap(struct bp_thread_cache *cache)
{
	struct bufpool_mag *m = cache->loaded;
	uint32_t id = cache->loaded_id;
	__u32 *word = cache->loaded_word;

	cache->loaded = cache->prev;
	cache->loaded_id = cache->prev_id;
	cache->loaded_word = cache->prev_word;
	cache->prev = m;
	cache->prev_id = id;
	cache->prev_word = word;
}

/* The prev word names id now, in place of a magazine given away. */
static void bp_thread_cache_set_prev(struct bp_thread_cache *cache,
				     uint32_t id)
{
	cache->prev_id = id;
	cache->prev = bp_mag_at(&cache->pool->shm, id);
	bp_store_release_u32(cache->prev_word, id);
	bp_unannounce(&cache->shared->pending);
}

/*
 * What a pop from a depot stack gave: a magazine to use, or why not.
 * A magazine this cache holds already is one no correct client pushed
 * (it is ours: left alone, not pushed anywhere).  A thread without a
 * cache (cache NULL) takes any magazine in range.
 */
static int bp_depot_pop_ok(const struct bp_thread_cache *cache,
			   const struct bp_shm *s, uint32_t id, int *err)
{
	if (id < s->nr_mags &&
	    (!cache || (id != cache->loaded_id && id != cache->prev_id)))
		return 1;
	if (id == BP_FL_BUSY)
		*err = EAGAIN;
	else if (id != BUFPOOL_IDX_NIL)
		*err = EUCLEAN;
	return 0;
}

/*
 * Take a buffer off the free list for this thread: announced in pend_buf
 * (still announced on success: the caller records it, then clears it).
 * A buffer that own[] says somebody holds is not taken: it was on the
 * list only because another client wrote it there, and it stays its
 * holder's.  Returns the index, or BP_NONE with *err set (0: the list is
 * empty).
 */
static uint32_t bp_free_list_take(struct bufpool *pool, __u32 *pend_buf,
				  int *err)
{
	struct bp_shm *s = &pool->shm;
	uint32_t idx = bp_fl_pop_rec(s->free_head, s->next, s->buf_count,
				     pend_buf);

	if (idx < s->buf_count) {
		if (bp_load_relaxed_u32(&s->own[idx]) == BUFPOOL_OWN_FREE)
			return idx;
		*err = EUCLEAN;
	} else if (idx == BP_FL_BUSY) {
		*err = EAGAIN;
	} else if (idx != BUFPOOL_IDX_NIL) {
		*err = EUCLEAN;
	}
	bp_unannounce(pend_buf);
	return BP_NONE;
}

/*
 * A rotating pool's refill (library 1.9.3): move the n buffers of the
 * full magazine prev, just off the depot and named by the cache, into
 * the empty loaded magazine, last first, each with the fast path's own
 * take (bp_mag_take: own[] names it ours before prev lets go of it) and
 * give (bp_mag_put: the cache's mark once loaded names it).  So every
 * state between two steps is one a take or a give makes, which the
 * kernel's reconciliation handles at every instruction, and the loaded
 * magazine ends in the reverse order: the thread takes first the buffer
 * that was given first.  The pool's magazines go from a consumer's
 * cache, through the depot, to a producer's; taken in the order given,
 * each buffer the producer writes is the one the consumer let go of
 * longest ago, whose lines the consumer's core has evicted, where the
 * last one given is the one its core read last (bench/RESULTS.md, "Oldest
 * first").  The cost is four stores per buffer (the two counts, the
 * entry, own[]) beside the compare-and-swap that bp_mag_mark would make.
 * Returns 0, or EUCLEAN at an entry no correct client wrote: what was
 * moved stays loaded, the rest of prev is dropped (named by nothing, for
 * the repair that the caller asks for).
 */
static int bp_thread_cache_load_reversed(struct bufpool *pool,
					 struct bp_thread_cache *cache,
					 uint32_t n)
{
	struct bufpool_mag *from = cache->prev, *to = cache->loaded;
	uint32_t k, idx;

	for (k = 0; k < n; k++) {
		idx = bp_mag_take(pool, from, n - k, cache->mark);
		if (idx == BP_NONE) {
			bp_store_release_u32(&from->count, 0);
			return EUCLEAN;
		}
		bp_mag_put(pool, to, k, idx, cache->mark);
	}
	return 0;
}

/*
 * Make the loaded magazine non-empty: swap in the previous one, or trade
 * the empty previous one for a full magazine from the depot (whose
 * buffers, once the cache names it, take the cache's mark: bp_mag_mark;
 * in a rotating pool, moved into the loaded one oldest first:
 * bp_thread_cache_load_reversed), or fill it from the free list.
 * Returns 0, or ENOBUFS when nothing is free, EAGAIN after too many lost
 * races, EUCLEAN when it met garbage (what it could fill stays in the
 * magazine for the next call).
 */
static int bp_thread_cache_refill(struct bufpool *pool,
				  struct bp_thread_cache *cache)
{
	struct bufpool_cache *shared = cache->shared;
	struct bp_shm *s = &pool->shm;
	struct bufpool_mag *m;
	uint32_t full, n, idx;
	int tries, err = 0;

	if (bp_mag_count(cache, cache->prev)) {
		bp_thread_cache_swap(cache);
		return 0;
	}
	if (bp_mag_garbage(cache, cache->prev)) {
		bp_store_relaxed_u32(&cache->prev->count, 0);
		return EUCLEAN;
	}
	for (tries = 0; tries < 4 && !err; tries++) {
		full = bp_depot_take_full(s, &shared->pending);
		if (!bp_depot_pop_ok(cache, s, full, &err))
			break;
		n = bp_load_relaxed_u32(&bp_mag_at(s, full)->count);
		if (n - 1 >= cache->mag_fill) {
			/* An empty or corrupted magazine on the full stack. */
			if (bp_mag_stash(s, full))
				err = EUCLEAN;
			bp_unannounce(&shared->pending);
			continue;
		}
		bp_store_relaxed_u32(&cache->prev->count, 0);
		bp_fl_push(s->empty_head, s->mag_next, cache->prev_id);
		bp_thread_cache_set_prev(cache, full);
		if (s->rotate)
			return bp_thread_cache_load_reversed(pool, cache, n);
		bp_thread_cache_swap(cache);
		/* Named by the cache now: its buffers take its mark. */
		bp_mag_mark(s, cache->loaded, n, cache->mark);
		return 0;
	}
	bp_unannounce(&shared->pending);
	if (err)
		return err;
	m = cache->loaded;
	for (n = 0; n < cache->mag_fill; n++) {
		idx = bp_free_list_take(pool, &shared->pend_buf, &err);
		if (idx == BP_NONE)
			break;
		m->idx[n] = idx;
		bp_store_release_u32(&m->count, n + 1);
	}
	bp_unannounce(&shared->pend_buf);
	if (err)
		return err;
	return n ? 0 : ENOBUFS;
}

/*
 * Make room in the loaded magazine: swap in the empty previous one, or
 * send the full previous one to the depot for an empty magazine, or give
 * the loaded magazine's buffers to the free list.  Returns 0, or
 * EUCLEAN when it met garbage (dropped: the room is made all the same).
 */
static int bp_thread_cache_spill(struct bufpool *pool,
				 struct bp_thread_cache *cache)
{
	struct bp_shm *s = &pool->shm;
	uint32_t empty;
	int err = 0;

	if (!bp_mag_count(cache, cache->prev)) {
		if (bp_mag_garbage(cache, cache->prev))
			err = EUCLEAN;
		bp_store_relaxed_u32(&cache->prev->count, 0);
		bp_thread_cache_swap(cache);
		return err;
	}
	empty = bp_fl_pop_rec(s->empty_head, s->mag_next, s->nr_mags,
			      &cache->shared->pending);
	if (bp_depot_pop_ok(cache, s, empty, &err)) {
		bp_mag_unmark(s, cache->prev, cache->mark);
		bp_fl_push(bp_depot_full_in(s), s->mag_next, cache->prev_id);
		bp_store_relaxed_u32(&bp_mag_at(s, empty)->count, 0);
		bp_thread_cache_set_prev(cache, empty);
		bp_thread_cache_swap(cache);
		return 0;
	}
	bp_unannounce(&cache->shared->pending);
	bp_mag_unmark(s, cache->loaded, cache->mark);
	if (bp_mag_drain(s, cache->loaded))
		err = EUCLEAN;
	return err == EUCLEAN ? err : 0;
}

/*
 * A thread without magazines takes buffers from the free list; when
 * there are none, it breaks up a magazine from the depot into the free
 * list, so that what caches gave back is never out of its reach.  The
 * take is recorded with a compare-and-swap on own[] (free to ours), so
 * that a buffer another client took meanwhile (it can be on the list
 * only by corruption) is never taken twice.  The takes are announced in
 * pend_buf and pending (a cache's words, or the shared path's private
 * ones: then the client's in-flight count covers them).  Returns the
 * index, or BP_NONE with *err set (ENOBUFS, EAGAIN, EUCLEAN); reports
 * nothing itself.
 */
static uint32_t bp_take_from_lists(struct bufpool *pool,
				   const struct bp_thread_cache *cache,
				   __u32 *pend_buf, __u32 *pending, int *err)
{
	struct bp_shm *s = &pool->shm;
	uint32_t idx, full;
	int tries;
	__u32 o;

	*err = 0;
	for (tries = 0; tries < 8; tries++) {
		idx = bp_free_list_take(pool, pend_buf, err);
		if (idx != BP_NONE) {
			o = BUFPOOL_OWN_FREE;
			if (bp_cas_relaxed_u32(&pool->own[idx], &o,
					       pool->client_id)) {
				bp_unannounce(pend_buf);
				return idx;
			}
			bp_unannounce(pend_buf);
			*err = EUCLEAN;
		}
		if (*err)
			break;
		full = s->nr_mags ? bp_depot_take_full(s, pending) :
				    BUFPOOL_IDX_NIL;
		if (!bp_depot_pop_ok(cache, s, full, err)) {
			bp_unannounce(pending);
			break;
		}
		if (bp_mag_drain(s, bp_mag_at(s, full)))
			*err = EUCLEAN;
		bp_fl_push(s->empty_head, s->mag_next, full);
		bp_unannounce(pending);
		if (*err)
			break;
	}
	if (!*err)
		*err = ENOBUFS;
	return BP_NONE;
}

static uint32_t bp_acquire_from_free_list(struct bufpool *pool,
					  struct bp_thread_cache *cache)
{
	int err;
	uint32_t idx = bp_take_from_lists(pool, cache,
					  &cache->shared->pend_buf,
					  &cache->shared->pending, &err);

	if (idx != BP_NONE)
		return idx;
	if (err == EUCLEAN)
		return bp_corrupt(pool);
	errno = err;
	return BP_NONE;
}

/*
 * Give idx to the free list.  Once pushed, it is someone else's to take
 * and record: own[] must be cleared before, so pend_buf (a cache's, or
 * the shared path's private word under the client's in-flight count)
 * names it instead until the push is done.  A push that gave up
 * (another client rewriting the head) leaves it named by nothing: the
 * repair it asks for gives it back.  Returns 0, or -1 if the push gave
 * up (the caller reports it).
 */
static int bp_give_to_free_list(struct bufpool *pool, __u32 *pend_buf,
				uint32_t idx)
{
	int r;

	bp_store_relaxed_u32(pend_buf, idx);
	bp_store_release_u32(&pool->own[idx], BUFPOOL_OWN_FREE);
	r = bp_fl_push(pool->shm.free_head, pool->shm.next, idx);
	bp_unannounce(pend_buf);
	return r;
}

void bp_release_to_free_list(struct bufpool *pool,
			     struct bp_thread_cache *cache, uint32_t idx)
{
	if (bp_give_to_free_list(pool, &cache->shared->pend_buf, idx))
		bp_report_corruption(pool);
}

/* ------------------------------------------------------------------ */
/* The shared path: a thread without a cache                          */

/* This client's count of shared-path operations in flight. */
static inline _Atomic __u32 *bp_inflight(const struct bufpool *pool)
{
	return (_Atomic __u32 *)&pool->shm.inflight[pool->client_id];
}

/*
 * bp_inflight_begin/end bracket what names nothing for an instant: the
 * take between its pop's CAS and own[] (or a magazine's drain), the give
 * between clearing own[] and its push.  The add comes before the pop's
 * CAS (acq_rel: it orders the add before it) or the release store of
 * own[]; the release subtraction comes after the last store.  While the
 * count is not 0, the kernel gives back nothing unnamed.
 */
static inline void bp_inflight_begin(const struct bufpool *pool)
{
	atomic_fetch_add_explicit(bp_inflight(pool), 1, memory_order_relaxed);
}

static inline void bp_inflight_end(const struct bufpool *pool)
{
	atomic_fetch_sub_explicit(bp_inflight(pool), 1, memory_order_release);
}

static inline void bp_shared_count(__u64 *c)
{
	atomic_fetch_add_explicit((_Atomic __u64 *)c, 1, memory_order_relaxed);
}

/*
 * bp_shared_acquire - take a buffer without a cache: from the free list,
 * else from a depot magazine broken up into it.  Lock-free (a lost race
 * means another thread's CAS won), no system call, nothing allocated;
 * a process killed at any instruction of it loses nothing: the take is
 * on the list, or in flight under the client's count (the kernel waits
 * for a pass with no live client in flight to give back what it named
 * nothing), or recorded in own[].
 */
uint32_t bp_shared_acquire(struct bufpool *pool)
{
	uint32_t idx;
	int err;

	bp_inflight_begin(pool);
	idx = bp_take_from_lists(pool, NULL, &bp_shared_pend_buf,
				 &bp_shared_pending, &err);
	bp_inflight_end(pool);
	if (idx != BP_NONE) {
		bp_shared_count(&pool->ctrl->shared_acquires);
		return idx;
	}
	if (err == ENOBUFS)
		bp_shared_count(&pool->ctrl->shared_exhausted);
	if (err == EUCLEAN)
		return bp_corrupt(pool);
	errno = err;
	return BP_NONE;
}

/* bp_shared_release - give idx, which the caller holds, to the free list. */
void bp_shared_release(struct bufpool *pool, uint32_t idx)
{
	int r;

	bp_shared_count(&pool->ctrl->shared_releases);
	bp_inflight_begin(pool);
	r = bp_give_to_free_list(pool, &bp_shared_pend_buf, idx);
	bp_inflight_end(pool);
	if (r)
		bp_report_corruption(pool);
}

/*
 * For a queue's enqueue from a thread without a cache: the word that
 * announces the buffer being enqueued (private), and the count that
 * covers it.
 */
__u32 *bp_shared_enqueue_begin(struct bufpool *pool)
{
	bp_inflight_begin(pool);
	return &bp_shared_pend_buf;
}

void bp_shared_enqueue_end(struct bufpool *pool)
{
	bp_inflight_end(pool);
}

/*
 * The fast path's acquire missed: no cache for this pool yet (or not
 * the last one used), no magazines, or an empty (or garbage) loaded
 * magazine.  Garbage in the loaded magazine (a count above its fill, an
 * entry out of range or naming a held buffer) drops the whole magazine:
 * nothing it names is trusted; the repair gives back what nobody holds.
 */
uint32_t bp_acquire_miss(struct bufpool *pool)
{
	struct bp_thread_cache *cache = bp_thread_cache_get(pool);
	uint32_t c, idx;
	int err;

	if (!cache)
		return bp_shared_acquire(pool);
	if (bp_thread_cache_check(pool, cache)) {
		errno = EUCLEAN;
		return BP_NONE;
	}
	if (!cache->mag_fill) {
		idx = bp_acquire_from_free_list(pool, cache);
		if (idx == BP_NONE)
			goto failed;
		bp_count(&cache->shared->acquires);
		return idx;
	}
	c = bp_load_relaxed_u32(&cache->loaded->count);
	if (c > cache->mag_fill)
		goto garbage;
	if (!c) {
		err = bp_thread_cache_refill(pool, cache);
		if (err == EUCLEAN)
			return bp_corrupt(pool);
		if (err) {
			errno = err;
			goto failed;
		}
		c = bp_load_relaxed_u32(&cache->loaded->count);
		if (c - 1 >= cache->mag_fill)
			goto garbage;	/* written meanwhile */
	}
	idx = bp_mag_take(pool, cache->loaded, c, cache->mark);
	if (idx != BP_NONE) {
		bp_count(&cache->shared->acquires);
		return idx;
	}
garbage:
	/* What it drops is named by nothing: no mark of ours stays on it. */
	bp_mag_unmark(&pool->shm, cache->loaded, cache->mark);
	bp_store_release_u32(&cache->loaded->count, 0);
	return bp_corrupt(pool);

failed:
	if (errno == ENOBUFS)
		bp_store_relaxed_u32(&cache->shared->exhausted,
			bp_load_relaxed_u32(&cache->shared->exhausted) + 1);
	return BP_NONE;
}

/*
 * The fast path's release missed: no cache for this pool yet (or not
 * the last one used), no magazines, or a full (or garbage) loaded
 * magazine.  The release itself always succeeds (the buffer was ours);
 * garbage met on the way is reported and dropped.
 */
int bp_release_miss(struct bufpool *pool, uint32_t idx)
{
	uint32_t c;
	struct bp_thread_cache *cache = bp_thread_cache_get(pool);

	if (cache && bp_thread_cache_check(pool, cache))
		/* A cache afresh: the release goes on (the buffer is ours). */
		cache = bp_thread_cache_get(pool);
	if (!cache) {
		bp_shared_release(pool, idx);
		return 0;
	}
	bp_count(&cache->shared->releases);
	if (!cache->mag_fill) {
		bp_release_to_free_list(pool, cache, idx);
		return 0;
	}
	/*
	 * The count is read once and checked before it indexes the
	 * magazine: another client may write it at any time.
	 */
	c = bp_load_relaxed_u32(&cache->loaded->count);
	if (c > cache->mag_fill) {
		c = 0;
		bp_store_relaxed_u32(&cache->loaded->count, 0);	/* garbage */
		bp_report_corruption(pool);
	}
	if (c == cache->mag_fill) {
		if (bp_thread_cache_spill(pool, cache))
			bp_report_corruption(pool);
		c = bp_load_relaxed_u32(&cache->loaded->count);
		if (c >= cache->mag_fill) {	/* written meanwhile */
			bp_release_to_free_list(pool, cache, idx);
			return 0;
		}
	}
	bp_mag_put(pool, cache->loaded, c, idx, cache->mark);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Flushing                                                           */

/*
 * Give a cache's magazines back to the depot and free its shared cache,
 * unless another thread does (or did) it.
 */
static void bp_thread_cache_flush(struct bp_thread_cache *cache)
{
	uint64_t s = atomic_load_explicit(&cache->serial, memory_order_acquire);

	if (s == BP_SERIAL_NONE || s == BP_SERIAL_BUSY)
		return;
	if (!atomic_compare_exchange_strong_explicit(&cache->serial, &s,
			BP_SERIAL_BUSY, memory_order_acq_rel,
			memory_order_relaxed))
		return;		/* bufpool_close took it */
	/*
	 * Only a shared cache that still names what this thread holds: one
	 * the kernel reset (its owner was garbage) may be another thread's
	 * by now.
	 */
	if (bp_load_relaxed_u32(&cache->shared->owner) !=
	    cache->pool->client_id ||
	    bp_load_relaxed_u32(cache->loaded_word) != cache->loaded_id ||
	    bp_load_relaxed_u32(cache->prev_word) != cache->prev_id) {
		bp_report_corruption(cache->pool);
	} else {
		bp_mag_unmark(&cache->pool->shm, cache->loaded, cache->mark);
		bp_mag_unmark(&cache->pool->shm, cache->prev, cache->mark);
		if (bp_cache_flush(&cache->pool->shm, cache->shared))
			bp_report_corruption(cache->pool);
		bp_shared_cache_free(cache->pool, cache->shared);
	}
	cache->shared = NULL;
	cache->pool = NULL;
	atomic_store_explicit(&cache->serial, BP_SERIAL_NONE,
			      memory_order_release);
}

void bufpool_flush_cache(struct bufpool *pool)
{
	struct bp_thread_cache *cache;

	if (!pool)
		return;
	cache = bp_thread_cache_mine(pool);
	if (cache)
		bp_thread_cache_flush(cache);
}

/*
 * For bufpool_close: every cache of this process for pool goes back to
 * the depot; one a thread is flushing at its exit right now is waited
 * for (a bounded wait).
 */
void bp_thread_caches_flush_pool(struct bufpool *pool)
{
	struct bp_thread_cache *cache;
	uint64_t s;
	int i;

	for (i = 0; i < BP_CACHE_ARENA; i++) {
		cache = &bp_cache_arena[i];
		for (;;) {
			s = atomic_load_explicit(&cache->serial,
						 memory_order_acquire);
			if (s != BP_SERIAL_BUSY)
				break;
			bp_cpu_relax();
		}
		if (s == pool->serial && pool->serial != BP_SERIAL_NONE)
			bp_thread_cache_flush(cache);
	}
}

/* ------------------------------------------------------------------ */
/* Thread exit and fork                                               */

/* This thread forgets its caches: flushed, or its parent's. */
static void bp_thread_caches_forget(void)
{
	int i;

	for (i = 0; i < BP_CACHES_PER_THREAD; i++)
		bp_thread_caches[i] = NULL;
	bp_cache_last = NULL;
}

/* The exit destructor: the thread's caches go back, and to the arena. */
static void bp_thread_exit(void *unused)
{
	struct bp_thread_cache *cache;
	int i;

	(void)unused;
	for (i = 0; i < BP_CACHES_PER_THREAD; i++) {
		cache = bp_thread_caches[i];
		if (!cache)
			continue;
		bp_thread_cache_flush(cache);
		atomic_store_explicit(&cache->thread, NULL,
				      memory_order_release);
		atomic_fetch_add_explicit(&bp_arena_free, 1,
					  memory_order_relaxed);
	}
	bp_thread_caches_forget();
}

/*
 * In a child, every cache belongs to a thread of the parent, which goes
 * on using the magazines they name: forget them all without flushing.
 * The child shares the parent's open files, so it is the same client.
 */
static void bp_atfork_child(void)
{
	int i;

	for (i = 0; i < BP_CACHE_ARENA; i++) {
		atomic_store_explicit(&bp_cache_arena[i].serial, BP_SERIAL_NONE,
				      memory_order_relaxed);
		atomic_store_explicit(&bp_cache_arena[i].thread, NULL,
				      memory_order_relaxed);
	}
	atomic_store_explicit(&bp_arena_free, BP_CACHE_ARENA,
			      memory_order_relaxed);
	bp_thread_caches_forget();
}

static void bp_cache_init_once(void)
{
	volatile char *arena = (volatile char *)bp_cache_arena;
	size_t off;

	/*
	 * Prefault the arena (no thread uses it yet, and it is all zeros
	 * still: writing 0 changes only the page tables), so that a
	 * thread's first use of a pool takes no page fault of the library's
	 * making: its TLS is allocated and cleared with the thread, and the
	 * control area is prefaulted by mmap.
	 */
	for (off = 0; off < sizeof(bp_cache_arena); off += 4096)
		arena[off] = 0;
	arena[sizeof(bp_cache_arena) - 1] = 0;
	bp_exit_key_ok = pthread_key_create(&bp_exit_key, bp_thread_exit) == 0;
	pthread_atfork(NULL, NULL, bp_atfork_child);
}

/* Once per process, before the first pool opens. */
void bp_cache_init(void)
{
	pthread_once(&bp_once, bp_cache_init_once);
}
