// SPDX-License-Identifier: MIT
/*
 * libbufpool-user: mapping a pool, per-thread caches, and the fast path.
 *
 * Fast path: a thread takes from and gives to the "loaded" magazine of
 * its own cache, a few plain loads and stores in memory no other thread
 * touches.  A miss swaps in the thread's second magazine, or moves a
 * whole magazine to or from the pool's depot (one CAS on a shared
 * stack), or, when the depot has nothing, moves single buffers from or
 * to the loose free list.  Nothing on any path takes a lock, makes a
 * system call or allocates, once the pool is open.
 *
 * Process-local state: a thread's cache for one pool is a struct bp_tc,
 * taken from a static arena (so that a stale pointer to one is never a
 * pointer to freed memory) and bound to a cache slot in the pool's
 * shared control area, where the kernel can see which magazines the
 * thread holds.  A tc serves the pool whose open-serial it carries;
 * other threads change that serial only with a CAS (bufpool_close, the
 * thread-exit destructor), so that exactly one of them flushes a cache.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <urcu/futex.h>	/* futex_async(): the futex of module-free pools */

#include "bufpool.h"

/*
 * The test build of the library (-DBP_TEST_HOOK, linked only into
 * bufpool_lockfree_test): the shared free list calls bp_test_hook(),
 * which the test defines, between its read of a head and its CAS.
 */
#ifdef BP_TEST_HOOK
void bp_test_hook(__u64 *head);
#define BP_FL_TEST_HOOK(head)	bp_test_hook(head)
#endif

#include <bufpool/magazine.h>
#include <bufpool/stats.h>

#define BP_DEFAULT_BUF_SIZE	2048
#define BP_DEFAULT_BUF_COUNT	4096
#define BP_DEFAULT_CACHES	64
#define BP_HUGE			(2UL << 20)
#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC		0x958458f6
#endif

#define BP_ARENA		1024	/* thread caches in the process */
#define BP_TLS_MAX		8	/* pools one thread caches at once */
#define BP_SERIAL_NONE		0
#define BP_SERIAL_BUSY		UINT64_MAX

struct bufpool {
	/* The fast path reads only this line. */
	uint64_t serial;	/* unique per open in this process */
	char *bufs;
	uint64_t bufs_len;	/* buf_count << buf_shift */
	uint64_t buf_mask;	/* buf_size - 1 */
	__u32 *own;		/* own[buf_count] in the control area */
	/*
	 * Non-zero when a release must leave the fast path: the control
	 * area's waiters count, or, in debug mode, a word that is never 0.
	 */
	_Atomic __u32 *slow;
	uint32_t buf_shift;
	uint32_t buf_count;
	uint32_t me;		/* client id: what own[] says of ours */
	uint32_t mag_fill;
	int debug;		/* BUFPOOL_DEBUG: released buffers wait */

	struct bp_shm shm;
	/* Debug mode's quarantine: a ring of released buffers, FIFO. */
	pthread_mutex_t qlock;
	uint32_t *quar;
	uint32_t qcap;
	uint32_t qhead;
	uint32_t qlen;
	int fd;
	void *ctrl;
	size_t ctrl_map_len;
	size_t bufs_map_len;
	struct bufpool_info info;
};

/*
 * One thread's cache for one pool; see the top of this file.  The slot
 * names the thread's two magazines in its loaded and prev words; which
 * of them the thread uses as its loaded magazine is private (loaded_rec),
 * so that swapping the two is no store to shared memory and no instant
 * where a magazine is named by nothing.
 */
struct bp_tc {
	_Atomic uint64_t serial;	/* pool served; NONE; BUSY: flushing */
	_Atomic(void *) thread;		/* owner thread's marker; NULL: free */
	struct bufpool_mag *loaded;
	struct bufpool_mag *prev;
	uint32_t fill;			/* mag_fill; 0: no magazines */
	uint32_t loaded_id;
	uint32_t prev_id;
	__u32 *loaded_rec;		/* the slot word naming loaded */
	__u32 *prev_rec;
	struct bufpool_cache *slot;
	struct bufpool *pool;
} __attribute__((aligned(64)));

/*
 * Initial-exec TLS: a fixed offset from the thread pointer, one load,
 * where the default model for a shared library calls __tls_get_addr on
 * every access (that call was most of the fast path's cost).  The
 * library is linked by programs, not dlopen()ed; glibc keeps static TLS
 * room for the few bytes when it is.
 */
/* The fast path, inlined even where it has several callers. */
#define BP_ALWAYS_INLINE	inline __attribute__((always_inline))

#define BP_TLS	__thread __attribute__((tls_model("initial-exec")))

static struct bp_tc bp_arena[BP_ARENA];
static BP_TLS struct bp_tc *bp_tc_last;
static BP_TLS struct bp_tc *bp_tc_mine[BP_TLS_MAX];
static BP_TLS char bp_thread_marker;
static _Atomic uint64_t bp_serial_next = 2;
static pthread_key_t bp_exit_key;
static int bp_exit_key_ok;
static pthread_once_t bp_once = PTHREAD_ONCE_INIT;
/* What a thread without magazines points at: never written. */
static struct bufpool_mag bp_no_mag;

static void bp_tc_flush(struct bp_tc *tc);

/* ------------------------------------------------------------------ */
/* Thread exit and fork                                               */

static void bp_thread_exit(void *unused)
{
	int i;

	(void)unused;
	for (i = 0; i < BP_TLS_MAX; i++) {
		struct bp_tc *tc = bp_tc_mine[i];

		if (!tc)
			continue;
		bp_tc_flush(tc);
		bp_tc_mine[i] = NULL;
		atomic_store_explicit(&tc->thread, NULL, memory_order_release);
	}
	bp_tc_last = NULL;
}

/*
 * In a child, every cache belongs to a thread of the parent, which goes
 * on using the magazines they name: forget them all without flushing.
 * The child shares the parent's open files, so it is the same client.
 */
static void bp_atfork_child(void)
{
	int i;

	for (i = 0; i < BP_ARENA; i++) {
		atomic_store_explicit(&bp_arena[i].serial, BP_SERIAL_NONE,
				      memory_order_relaxed);
		atomic_store_explicit(&bp_arena[i].thread, NULL,
				      memory_order_relaxed);
	}
	for (i = 0; i < BP_TLS_MAX; i++)
		bp_tc_mine[i] = NULL;
	bp_tc_last = NULL;
}

static void bp_init_once(void)
{
	bp_exit_key_ok = pthread_key_create(&bp_exit_key, bp_thread_exit) == 0;
	pthread_atfork(NULL, NULL, bp_atfork_child);
}

/* ------------------------------------------------------------------ */
/* Thread caches                                                      */

/*
 * The ownership rules (bufpool_freelist.h): what a thread takes from a
 * shared stack is announced in its slot before the CAS (pending for a
 * magazine, pend_buf for a buffer) and stays there until the thread has
 * recorded it for good; what it gives stays named until the give's CAS
 * is done.  So when the kernel stops the pool after a client died, every
 * buffer is on a list or named by a live record, or was the dead one's.
 */
/* A statistics counter of the thread's own slot: one writer. */
static inline void bp_count_n(__u64 *c, uint32_t n)
{
	bp_store_relaxed_u64(c, bp_load_relaxed_u64(c) + n);
}

static inline void bp_count(__u64 *c)
{
	bp_count_n(c, 1);
}

static inline void bp_unannounce(__u32 *rec)
{
	bp_store_release_u32(rec, BUFPOOL_IDX_NIL);
}

static void bp_tc_swap(struct bp_tc *tc)
{
	struct bufpool_mag *m = tc->loaded;
	uint32_t id = tc->loaded_id;
	__u32 *rec = tc->loaded_rec;

	tc->loaded = tc->prev;
	tc->loaded_id = tc->prev_id;
	tc->loaded_rec = tc->prev_rec;
	tc->prev = m;
	tc->prev_id = id;
	tc->prev_rec = rec;
}

/* The slot's prev word names id now, in place of a magazine given away. */
static void bp_tc_set_prev(struct bp_tc *tc, uint32_t id)
{
	tc->prev_id = id;
	tc->prev = &tc->pool->shm.mags[id];
	bp_store_release_u32(tc->prev_rec, id);
	bp_unannounce(&tc->slot->pending);
}

/* Give a tc's magazines back and free its slot, if nobody else did. */
static void bp_tc_flush(struct bp_tc *tc)
{
	uint64_t s = atomic_load_explicit(&tc->serial, memory_order_acquire);

	if (s == BP_SERIAL_NONE || s == BP_SERIAL_BUSY)
		return;
	if (!atomic_compare_exchange_strong_explicit(&tc->serial, &s,
			BP_SERIAL_BUSY, memory_order_acq_rel,
			memory_order_relaxed))
		return;		/* bufpool_close took it */
	bp_cache_flush(&tc->pool->shm, tc->slot);
	atomic_store_explicit((_Atomic __u32 *)&tc->slot->owner, 0,
			      memory_order_release);
	tc->slot = NULL;
	tc->pool = NULL;
	atomic_store_explicit(&tc->serial, BP_SERIAL_NONE,
			      memory_order_release);
}

/* A tc this thread owns and may bind to a pool, or NULL. */
static struct bp_tc *bp_tc_take(int *tls)
{
	void *expect;
	int i;

	for (i = 0; i < BP_TLS_MAX; i++) {
		struct bp_tc *tc = bp_tc_mine[i];

		if (tc && atomic_load_explicit(&tc->serial,
				memory_order_relaxed) == BP_SERIAL_NONE) {
			*tls = i;
			return tc;	/* ours, its pool was closed */
		}
	}
	for (i = 0; i < BP_TLS_MAX && bp_tc_mine[i]; i++)
		;
	if (i == BP_TLS_MAX)
		return NULL;
	*tls = i;
	for (i = 0; i < BP_ARENA; i++) {
		expect = NULL;
		if (atomic_load_explicit(&bp_arena[i].thread,
					 memory_order_relaxed) == NULL &&
		    atomic_compare_exchange_strong_explicit(&bp_arena[i].thread,
				&expect, &bp_thread_marker,
				memory_order_acquire, memory_order_relaxed)) {
			bp_tc_mine[*tls] = &bp_arena[i];
			/* The first tc of a thread arms its exit destructor. */
			if (pthread_getspecific(bp_exit_key) == NULL)
				pthread_setspecific(bp_exit_key, &bp_thread_marker);
			return &bp_arena[i];
		}
	}
	return NULL;
}

/* Take an empty magazine for a slot word, announced in pending. */
static uint32_t bp_take_empty(struct bp_shm *s, struct bufpool_cache *slot,
			      __u32 *rec)
{
	uint32_t id = bp_fl_pop_rec(s->empty_head, s->mag_next, s->nr_mags,
				    &slot->pending);

	if (id >= s->nr_mags) {
		bp_unannounce(&slot->pending);
		return BUFPOOL_IDX_NIL;
	}
	bp_store_relaxed_u32(&s->mags[id].count, 0);
	bp_store_release_u32(rec, id);
	bp_unannounce(&slot->pending);
	return id;
}

/*
 * bp_tc_get - this thread's cache for pool, made on first use.  Every
 * thread that takes buffers needs a slot, where it announces what it
 * takes: NULL with errno EUSERS when the pool's slots (or this process's
 * caches) are all taken.  A thread whose slot got no magazines works on
 * the loose list.
 */
static struct bp_tc *bp_tc_get(struct bufpool *pool)
{
	struct bp_shm *s = &pool->shm;
	struct bufpool_cache *slot;
	uint32_t a, b, i;
	struct bp_tc *tc;
	int tls;

	for (i = 0; i < BP_TLS_MAX; i++) {
		tc = bp_tc_mine[i];
		if (tc && atomic_load_explicit(&tc->serial,
				memory_order_relaxed) == pool->serial) {
			bp_tc_last = tc;
			return tc;
		}
	}

	/* No slot without a way to give it back at thread exit. */
	tc = bp_exit_key_ok ? bp_tc_take(&tls) : NULL;
	if (!tc) {
		errno = EUSERS;
		return NULL;
	}
	for (i = 0; i < s->nr_caches; i++) {
		_Atomic __u32 *owner = (_Atomic __u32 *)&s->caches[i].owner;
		__u32 expect = 0;

		/*
		 * Look before the CAS: a failed CAS still takes the slot's
		 * line exclusive, and a thread that finds no free slot scans
		 * again on every operation.
		 */
		if (atomic_load_explicit(owner, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_strong_explicit(owner, &expect,
				pool->me, memory_order_acquire,
				memory_order_relaxed))
			break;
	}
	if (i == s->nr_caches) {
		errno = EUSERS;
		return NULL;
	}
	slot = &s->caches[i];
	tc->pool = pool;
	tc->slot = slot;
	tc->fill = 0;
	tc->loaded = tc->prev = &bp_no_mag;
	tc->loaded_rec = &slot->loaded;
	tc->prev_rec = &slot->prev;
	if (pool->mag_fill) {
		a = bp_take_empty(s, slot, &slot->loaded);
		b = a < s->nr_mags ? bp_take_empty(s, slot, &slot->prev) :
				     BUFPOOL_IDX_NIL;
		if (b < s->nr_mags) {
			tc->fill = pool->mag_fill;
			tc->loaded_id = a;
			tc->prev_id = b;
			tc->loaded = &s->mags[a];
			tc->prev = &s->mags[b];
		} else if (a < s->nr_mags) {
			/* The depot is short (corrupted): go without. */
			bp_fl_push(s->empty_head, s->mag_next, a);
			bp_unannounce(&slot->loaded);
		}
	}
	atomic_store_explicit(&tc->serial, pool->serial, memory_order_release);
	bp_tc_last = tc;
	return tc;
}

static BP_ALWAYS_INLINE struct bp_tc *bp_tc_fast(const struct bufpool *pool)
{
	struct bp_tc *tc = bp_tc_last;

	if (__builtin_expect(tc != NULL &&
			     atomic_load_explicit(&tc->serial,
				memory_order_relaxed) == pool->serial, 1))
		return tc;
	return NULL;
}

/* A magazine's count, or 0 if it is not one a correct client wrote. */
static uint32_t bp_mag_count(const struct bp_tc *tc,
			     const struct bufpool_mag *m)
{
	uint32_t c = m->count;

	return c <= tc->fill ? c : 0;
}

/*
 * Make tc's loaded magazine non-empty: swap in the previous one, or
 * trade the empty previous one for a full magazine from the depot, or
 * fill it from the loose list.  Returns 0, or -1 when nothing is free.
 */
static int bp_tc_refill(struct bufpool *pool, struct bp_tc *tc)
{
	struct bp_shm *s = &pool->shm;
	struct bufpool_mag *m;
	uint32_t full, n, idx;
	int tries;

	if (bp_mag_count(tc, tc->prev)) {
		bp_tc_swap(tc);
		return 0;
	}
	for (tries = 0; tries < 4; tries++) {
		full = bp_fl_pop_rec(s->full_head, s->mag_next, s->nr_mags,
				     &tc->slot->pending);
		if (full >= s->nr_mags)
			break;
		if (!bp_mag_count(tc, &s->mags[full])) {
			/* An empty or corrupted magazine on the full stack. */
			bp_mag_stash(s, full);
			bp_unannounce(&tc->slot->pending);
			continue;
		}
		bp_store_relaxed_u32(&tc->prev->count, 0);
		bp_fl_push(s->empty_head, s->mag_next, tc->prev_id);
		bp_tc_set_prev(tc, full);
		bp_tc_swap(tc);
		return 0;
	}
	bp_unannounce(&tc->slot->pending);
	m = tc->loaded;
	for (n = 0; n < tc->fill; n++) {
		idx = bp_fl_pop_rec(s->free_head, s->next, s->buf_count,
				    &tc->slot->pend_buf);
		if (idx >= s->buf_count)
			break;
		m->idx[n] = idx;
		bp_store_release_u32(&m->count, n + 1);
	}
	bp_unannounce(&tc->slot->pend_buf);
	return n ? 0 : -1;
}

/*
 * Make room in tc's loaded magazine: swap in the empty previous one, or
 * send the full previous one to the depot for an empty magazine, or give
 * the loaded magazine's buffers to the loose list.
 */
static void bp_tc_spill(struct bufpool *pool, struct bp_tc *tc)
{
	struct bp_shm *s = &pool->shm;
	uint32_t empty;

	if (!bp_mag_count(tc, tc->prev)) {
		bp_store_relaxed_u32(&tc->prev->count, 0);
		bp_tc_swap(tc);
		return;
	}
	empty = bp_fl_pop_rec(s->empty_head, s->mag_next, s->nr_mags,
			      &tc->slot->pending);
	if (empty < s->nr_mags) {
		bp_fl_push(s->full_head, s->mag_next, tc->prev_id);
		bp_store_relaxed_u32(&s->mags[empty].count, 0);
		bp_tc_set_prev(tc, empty);
		bp_tc_swap(tc);
		return;
	}
	bp_unannounce(&tc->slot->pending);
	bp_mag_drain(s, tc->loaded);
}

/* ------------------------------------------------------------------ */
/* Acquire and release                                                */

/*
 * The acquire paths return the index taken, or BP_NONE with errno set:
 * the index stays in a register on the fast path, where an out
 * parameter would make it a store and a reload on the way to the
 * buffer's address.
 */
#define BP_NONE		UINT32_MAX

/* The address of buffer idx (< buf_count). */
static inline void *bp_buf(const struct bufpool *pool, uint32_t idx)
{
	return pool->bufs + ((size_t)idx << pool->buf_shift);
}

/*
 * A thread without magazines takes loose buffers; when there are none,
 * it breaks up a magazine from the depot into the loose list, so that
 * what caches gave back is never out of its reach.
 */
static uint32_t bp_acquire_loose(struct bufpool *pool, struct bp_tc *tc)
{
	struct bp_shm *s = &pool->shm;
	uint32_t idx, full;
	int tries;

	for (tries = 0; tries < 8; tries++) {
		idx = bp_fl_pop_rec(s->free_head, s->next, s->buf_count,
				    &tc->slot->pend_buf);
		if (idx < pool->buf_count) {
			bp_store_relaxed_u32(&pool->own[idx], pool->me);
			bp_unannounce(&tc->slot->pend_buf);
			return idx;
		}
		bp_unannounce(&tc->slot->pend_buf);
		if (idx != BUFPOOL_IDX_NIL) {
			errno = EUCLEAN;
			return BP_NONE;
		}
		full = s->nr_mags ? bp_fl_pop_rec(s->full_head, s->mag_next,
						  s->nr_mags,
						  &tc->slot->pending) :
				    BUFPOOL_IDX_NIL;
		if (full >= s->nr_mags) {
			bp_unannounce(&tc->slot->pending);
			break;
		}
		bp_mag_drain(s, &s->mags[full]);
		bp_fl_push(s->empty_head, s->mag_next, full);
		bp_unannounce(&tc->slot->pending);
	}
	errno = ENOBUFS;
	return BP_NONE;
}

/*
 * Take the last buffer of the loaded magazine (c > 0 buffers), recording
 * it as ours; BP_NONE when the magazine held garbage.
 */
static BP_ALWAYS_INLINE uint32_t bp_mag_take(struct bufpool *pool,
					     struct bufpool_mag *m, uint32_t c)
{
	uint32_t idx = m->idx[c - 1];

	if (__builtin_expect(idx >= pool->buf_count, 0))
		return BP_NONE;
	/* Named by own[] before the magazine lets go of it. */
	bp_store_relaxed_u32(&pool->own[idx], pool->me);
	bp_store_release_u32(&m->count, c - 1);
	return idx;
}

static uint32_t bp_acquire_slow(struct bufpool *pool)
{
	struct bp_tc *tc = bp_tc_get(pool);
	uint32_t c, idx;

	if (!tc)
		return BP_NONE;
	if (!tc->fill) {
		idx = bp_acquire_loose(pool, tc);
		if (idx == BP_NONE)
			goto failed;
		bp_count(&tc->slot->acquires);
		return idx;
	}
	c = bp_mag_count(tc, tc->loaded);
	if (!c) {
		bp_store_relaxed_u32(&tc->loaded->count, 0);
		if (bp_tc_refill(pool, tc)) {
			errno = ENOBUFS;
			goto failed;
		}
		c = tc->loaded->count;
	}
	idx = bp_mag_take(pool, tc->loaded, c);
	if (idx != BP_NONE) {
		bp_count(&tc->slot->acquires);
		return idx;
	}
	bp_store_relaxed_u32(&tc->loaded->count, c - 1);
	errno = EUCLEAN;	/* a magazine held garbage */
	return BP_NONE;

failed:
	if (errno == ENOBUFS)
		bp_store_relaxed_u32(&tc->slot->exhausted,
				     bp_load_relaxed_u32(&tc->slot->exhausted) + 1);
	return BP_NONE;
}

static BP_ALWAYS_INLINE uint32_t bp_acquire(struct bufpool *pool)
{
	struct bp_tc *tc = bp_tc_fast(pool);

	if (__builtin_expect(tc != NULL, 1)) {
		struct bufpool_mag *m = tc->loaded;
		uint32_t c = m->count;

		if (__builtin_expect(c - 1 < tc->fill, 1)) {
			uint32_t idx = bp_mag_take(pool, m, c);

			if (__builtin_expect(idx != BP_NONE, 1)) {
				bp_count(&tc->slot->acquires);
				return idx;
			}
		}
	}
	return bp_acquire_slow(pool);
}

/* bp_acquire for the callers that want 0 or -1. */
static int bp_acquire_to(struct bufpool *pool, uint32_t *out)
{
	uint32_t idx = bp_acquire(pool);

	if (idx == BP_NONE)
		return -1;
	*out = idx;
	return 0;
}

/* Put idx into the loaded magazine, then stop naming it in own[]. */
static BP_ALWAYS_INLINE void bp_mag_put(struct bufpool *pool,
					struct bufpool_mag *m, uint32_t c,
					uint32_t idx)
{
	m->idx[c] = idx;
	bp_store_release_u32(&m->count, c + 1);
	bp_store_release_u32(&pool->own[idx], BUFPOOL_OWN_FREE);
}

/*
 * Give idx to the loose list.  Once pushed, it is someone else's to take
 * and record: own[] must be cleared before, so the slot names it
 * instead until the push is done.
 */
static void bp_give_loose(struct bufpool *pool, struct bp_tc *tc,
			  uint32_t idx)
{
	bp_store_relaxed_u32(&tc->slot->pend_buf, idx);
	bp_store_release_u32(&pool->own[idx], BUFPOOL_OWN_FREE);
	bp_fl_push(pool->shm.free_head, pool->shm.next, idx);
	bp_unannounce(&tc->slot->pend_buf);
}

static int bp_release_slow(struct bufpool *pool, uint32_t idx)
{
	struct bp_tc *tc = bp_tc_get(pool);

	if (!tc)
		return -1;
	bp_count(&tc->slot->releases);
	if (!tc->fill) {
		bp_give_loose(pool, tc, idx);
		return 0;
	}
	if (tc->loaded->count > tc->fill)
		bp_store_relaxed_u32(&tc->loaded->count, 0);	/* garbage */
	if (tc->loaded->count == tc->fill)
		bp_tc_spill(pool, tc);
	bp_mag_put(pool, tc->loaded, tc->loaded->count, idx);
	return 0;
}

/* Give back idx, which the caller holds, to this thread's cache. */
static BP_ALWAYS_INLINE int bp_release_cache(struct bufpool *pool,
					    uint32_t idx)
{
	struct bp_tc *tc = bp_tc_fast(pool);

	if (__builtin_expect(tc != NULL, 1)) {
		struct bufpool_mag *m = tc->loaded;
		uint32_t c = m->count;

		if (__builtin_expect(c < tc->fill, 1)) {
			bp_mag_put(pool, m, c, idx);
			bp_count(&tc->slot->releases);
			return 0;
		}
	}
	return bp_release_slow(pool, idx);
}

static int bp_release_wake(struct bufpool *pool, uint32_t idx);

static inline _Atomic __u32 *bp_waiters(const struct bufpool *pool)
{
	return (_Atomic __u32 *)&((struct bufpool_ctrl *)pool->ctrl)->waiters;
}

/* Give back idx, which the caller holds: to a sleeper, else the cache. */
static int bp_release_now(struct bufpool *pool, uint32_t idx)
{
	/* Someone sleeps for a buffer: this one goes to it. */
	if (atomic_load_explicit(bp_waiters(pool), memory_order_relaxed))
		return bp_release_wake(pool, idx);
	return bp_release_cache(pool, idx);
}

/*
 * Debug mode (BUFPOOL_DEBUG=1 at open): a released buffer is not given
 * back at once but queued, still recorded as ours but marked, and given
 * back only after qcap later releases.  Without it, LIFO reuse hands the
 * same buffer straight back to the same client, and a second release of
 * it through a stale pointer passes the ownership check; with it, that
 * release finds the buffer quarantined and fails with EINVAL.  A mutex
 * guards the ring: debug mode trades the lock-free release for this.
 */
static int bp_release_debug(struct bufpool *pool, uint32_t idx)
{
	uint32_t out = BUFPOOL_IDX_NIL;

	pthread_mutex_lock(&pool->qlock);
	if (bp_load_relaxed_u32(&pool->own[idx]) != pool->me) {
		pthread_mutex_unlock(&pool->qlock);
		errno = EINVAL;		/* released by another thread just now */
		return -1;
	}
	bp_store_release_u32(&pool->own[idx],
			     BUFPOOL_OWN_QUARANTINE | pool->me);
	if (pool->qlen == pool->qcap) {
		out = pool->quar[pool->qhead];
		pool->quar[pool->qhead] = idx;
		pool->qhead = (pool->qhead + 1) % pool->qcap;
	} else {
		pool->quar[(pool->qhead + pool->qlen++) % pool->qcap] = idx;
	}
	pthread_mutex_unlock(&pool->qlock);
	if (out == BUFPOOL_IDX_NIL)
		return 0;
	/* The oldest one goes back for real. */
	bp_store_release_u32(&pool->own[out], pool->me);
	return bp_release_now(pool, out);
}

/* In debug mode, pool->slow points here: every release leaves the path. */
static _Atomic __u32 bp_always_slow = 1;

static int bp_release_unusual(struct bufpool *pool, uint32_t idx)
{
	if (pool->debug)
		return bp_release_debug(pool, idx);
	return bp_release_now(pool, idx);
}

/*
 * Give idx (< buf_count) back: it must be ours (own[] says so), which
 * catches a double release, a buffer of another client and a buffer
 * handed off.  One load decides between the cache and the rest (a
 * sleeper to wake, debug mode).
 */
static BP_ALWAYS_INLINE int bp_release_held(struct bufpool *pool,
					   uint32_t idx)
{
	if (__builtin_expect(bp_load_relaxed_u32(&pool->own[idx]) != pool->me,
			     0)) {
		errno = EINVAL;
		return -1;
	}
	if (__builtin_expect(atomic_load_explicit(pool->slow,
						  memory_order_relaxed) != 0, 0))
		return bp_release_unusual(pool, idx);
	return bp_release_cache(pool, idx);
}

static inline int bp_release(struct bufpool *pool, uint32_t idx)
{
	if (__builtin_expect(idx >= pool->buf_count, 0)) {
		errno = EINVAL;
		return -1;
	}
	return bp_release_held(pool, idx);
}

/* A buffer's start to its index; its bounds check covers buf_count. */
static BP_ALWAYS_INLINE int bp_ptr_to_idx(const struct bufpool *pool,
					 const void *buf, uint32_t *idx)
{
	uint64_t off = (uintptr_t)buf - (uintptr_t)pool->bufs;

	/* One unsigned compare catches pointers below and above the pool. */
	if (__builtin_expect(off >= pool->bufs_len || (off & pool->buf_mask), 0))
		return -1;
	*idx = (uint32_t)(off >> pool->buf_shift);
	return 0;
}

void *bufpool_acquire(struct bufpool *pool)
{
	uint32_t idx = bp_acquire(pool);

	if (idx == BP_NONE)
		return NULL;
	return bp_buf(pool, idx);
}

int bufpool_release(struct bufpool *pool, void *buf)
{
	uint32_t idx;

	if (bp_ptr_to_idx(pool, buf, &idx)) {
		errno = EINVAL;
		return -1;
	}
	return bp_release_held(pool, idx);
}

int bufpool_acquire_index(struct bufpool *pool, uint32_t *idx)
{
	return bp_acquire_to(pool, idx);
}

int bufpool_release_index(struct bufpool *pool, uint32_t idx)
{
	return bp_release(pool, idx);
}

int bufpool_handoff(struct bufpool *pool, uint32_t idx)
{
	if (idx >= pool->buf_count ||
	    bp_load_relaxed_u32(&pool->own[idx]) != pool->me) {
		errno = EINVAL;
		return -1;
	}
	bp_store_release_u32(&pool->own[idx], BUFPOOL_OWN_TRANSIT | pool->me);
	return 0;
}

int bufpool_adopt(struct bufpool *pool, uint32_t idx)
{
	__u32 o;

	if (idx >= pool->buf_count) {
		errno = EINVAL;
		return -1;
	}
	o = bp_load_relaxed_u32(&pool->own[idx]);
	/* One adopter wins; any other finds it no longer in transit. */
	if (!(o & BUFPOOL_OWN_TRANSIT) ||
	    !atomic_compare_exchange_strong_explicit(
			(_Atomic __u32 *)&pool->own[idx], &o, pool->me,
			memory_order_acquire, memory_order_relaxed)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int bufpool_audit(struct bufpool *pool, struct bufpool_audit *audit)
{
	if (!pool || !audit) {
		errno = EINVAL;
		return -1;
	}
	if (pool->info.flags & BUFPOOL_INFO_F_MEMFD) {
		errno = ENOTTY;	/* no kernel to audit a module-free pool */
		return -1;
	}
	return ioctl(pool->fd, BUFPOOL_IOC_AUDIT, audit) < 0 ? -1 : 0;
}

uint32_t bufpool_client_id(const struct bufpool *pool)
{
	return pool->me;
}

int bufpool_stats(struct bufpool *pool, struct bufpool_stats *st)
{
	struct bufpool_ctrl *c;
	struct bp_stats sum;
	__u64 hwm;

	if (!pool || !st) {
		errno = EINVAL;
		return -1;
	}
	c = pool->ctrl;
	bp_stats_sum(&pool->shm, c, &sum);
	/* The high watermark moves up when a reader sees more in use. */
	hwm = bp_stats_high_watermark(c, sum.in_use);
	memset(st, 0, sizeof(*st));
	st->total = pool->buf_count;
	st->in_use = sum.in_use;
	st->free = pool->buf_count - sum.in_use;
	st->high_watermark = hwm;
	st->acquires = sum.acquires;
	st->releases = sum.releases;
	st->exhausted = sum.exhausted;
	st->reclaimed = bp_load_relaxed_u64(&c->kernel_released);
	st->waiters = bp_load_relaxed_u32(&c->waiters);
	return 0;
}

/*
 * The bulk forms work on the loaded magazine directly: the count stays
 * in a register between buffers (it is still stored after each one, so
 * that the magazine and own[] follow the same order as for one buffer
 * and a crash between two buffers leaves nothing unnamed), and the
 * thread's cache is looked up and the statistics counted once per
 * magazine rather than per buffer.  The single-buffer paths take over
 * for refills, spills, garbage, sleepers and debug mode.
 */
unsigned int bufpool_acquire_bulk(struct bufpool *pool, void **bufs,
				  unsigned int n)
{
	unsigned int i = 0, k;
	struct bp_tc *tc;
	uint32_t c, idx;

	while (i < n) {
		tc = bp_tc_fast(pool);
		if (tc && tc->loaded->count - 1 < tc->fill) {
			struct bufpool_mag *m = tc->loaded;

			c = m->count;
			for (k = 0; c && i < n; k++, i++) {
				idx = bp_mag_take(pool, m, c);
				if (idx == BP_NONE)
					break;
				c--;
				bufs[i] = bp_buf(pool, idx);
			}
			bp_count_n(&tc->slot->acquires, k);
			if (i == n)
				break;
		}
		idx = bp_acquire(pool);	/* refill, garbage, no cache */
		if (idx == BP_NONE)
			break;
		bufs[i++] = bp_buf(pool, idx);
	}
	return i;
}

int bufpool_release_bulk(struct bufpool *pool, void *const *bufs,
			 unsigned int n)
{
	unsigned int i = 0, k;
	struct bp_tc *tc;
	uint32_t c, idx;

	while (i < n) {
		tc = bp_tc_fast(pool);
		if (tc && tc->loaded->count < tc->fill &&
		    !atomic_load_explicit(pool->slow, memory_order_relaxed)) {
			struct bufpool_mag *m = tc->loaded;

			c = m->count;
			for (k = 0; c < tc->fill && i < n; k++, i++, c++) {
				if (bp_ptr_to_idx(pool, bufs[i], &idx) ||
				    bp_load_relaxed_u32(&pool->own[idx]) !=
				    pool->me)
					break;
				bp_mag_put(pool, m, c, idx);
			}
			bp_count_n(&tc->slot->releases, k);
			if (i == n)
				break;
		}
		/* A spill, a sleeper, debug mode, or a bad pointer. */
		if (bp_ptr_to_idx(pool, bufs[i], &idx)) {
			errno = EINVAL;
			return -1;
		}
		if (bp_release_held(pool, idx))
			return -1;
		i++;
	}
	return 0;
}

void bufpool_flush_cache(struct bufpool *pool)
{
	struct bp_tc *tc;
	int i;

	if (!pool)
		return;
	for (i = 0; i < BP_TLS_MAX; i++) {
		tc = bp_tc_mine[i];
		if (tc && atomic_load_explicit(&tc->serial,
				memory_order_relaxed) == pool->serial)
			bp_tc_flush(tc);
	}
}

void *bufpool_addr(const struct bufpool *pool, uint32_t idx)
{
	if (idx >= pool->buf_count) {
		errno = EINVAL;
		return NULL;
	}
	return bp_buf(pool, idx);
}

int64_t bufpool_index(const struct bufpool *pool, const void *ptr)
{
	uint64_t off = (uintptr_t)ptr - (uintptr_t)pool->bufs;

	if (off >= pool->bufs_len) {
		errno = EINVAL;
		return -1;
	}
	return (int64_t)(off >> pool->buf_shift);
}

size_t bufpool_buf_size(const struct bufpool *pool)
{
	return (size_t)1 << pool->buf_shift;
}

uint32_t bufpool_buf_count(const struct bufpool *pool)
{
	return pool->buf_count;
}

/*
 * struct bufpool_info grows with the ABI, so a program built against an
 * older header has a smaller one: programs linked before 1.2 bind to
 * bufpool_get_info@BUFPOOL_1.0, which copies the 1.0 size only.
 */
int bp_get_info_v12(const struct bufpool *pool, struct bufpool_info *info);
int bp_get_info_v10(const struct bufpool *pool, struct bufpool_info *info);
__asm__(".symver bp_get_info_v12, bufpool_get_info@@BUFPOOL_1.2");
__asm__(".symver bp_get_info_v10, bufpool_get_info@BUFPOOL_1.0");

__attribute__((used)) int bp_get_info_v12(const struct bufpool *pool,
					    struct bufpool_info *info)
{
	if (!pool || !info) {
		errno = EINVAL;
		return -1;
	}
	memcpy(info, &pool->info, sizeof(*info));
	return 0;
}

__attribute__((used)) int bp_get_info_v10(const struct bufpool *pool,
					    struct bufpool_info *info)
{
	if (!pool || !info) {
		errno = EINVAL;
		return -1;
	}
	memcpy(info, &pool->info, BUFPOOL_INFO_SIZE_VER0);
	return 0;
}

int bufpool_fd(const struct bufpool *pool)
{
	if (!pool) {
		errno = EINVAL;
		return -1;
	}
	return pool->fd;
}

/* ------------------------------------------------------------------ */
/* Opening and closing                                                */

static struct bufpool *bp_alloc(void)
{
	struct bufpool *pool;

	pthread_once(&bp_once, bp_init_once);
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return NULL;
	pool->fd = -1;
	pool->ctrl = MAP_FAILED;
	pool->bufs = MAP_FAILED;
	pthread_mutex_init(&pool->qlock, NULL);
	return pool;
}

/* A handle around fd, which it owns from here on (closed on failure). */
static struct bufpool *bp_alloc_fd(int fd)
{
	struct bufpool *pool = bp_alloc();
	int saved;

	if (!pool) {
		saved = errno;
		close(fd);
		errno = saved;
		return NULL;
	}
	pool->fd = fd;
	return pool;
}

/* The info of a device pool is the kernel's: check it is sane anyway. */
static int bp_check_info(const struct bufpool_info *in)
{
	/*
	 * The ownership records of ABI 1.2 are what lets the kernel give
	 * back what a dead client held: an older module has none, and this
	 * library does not run a pool without them (bp_info_ok()).
	 */
	if (!bp_info_ok(in) || in->ctrl_size > SIZE_MAX ||
	    in->bufs_size > SIZE_MAX)
		return -1;
	return 0;
}

/* The info of a module-free pool: what the kernel's would say. */
static void bp_info_from_layout(struct bufpool_info *in,
				const struct bp_layout *l, uint32_t flags)
{
	memset(in, 0, sizeof(*in));
	in->size = sizeof(*in);
	in->flags = flags;
	in->numa_node = -1;
	in->generation = 1;
	bp_layout_to_info(in, l);
}

/* Map both areas of pool->fd as l describes; huge: hugetlbfs lengths. */
static int bp_map(struct bufpool *pool, const struct bp_layout *l, int huge)
{
	pool->ctrl_map_len = huge ? bp_align(l->ctrl_size, BP_HUGE) :
				    l->ctrl_size;
	pool->ctrl = mmap(NULL, pool->ctrl_map_len, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_POPULATE, pool->fd, 0);
	if (pool->ctrl == MAP_FAILED)
		return -1;
	pool->bufs_map_len = l->bufs_size;
	pool->bufs = mmap(NULL, pool->bufs_map_len, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_POPULATE, pool->fd,
			  (off_t)l->bufs_offset);
	if (pool->bufs == MAP_FAILED)
		return -1;
	return 0;
}

static struct bufpool *bp_fail(struct bufpool *pool);

/*
 * BUFPOOL_DEBUG set (and not "0") when the pool is opened: releases go
 * through a quarantine of a quarter of the pool, at most 4096 buffers.
 */
static int bp_debug_setup(struct bufpool *pool)
{
	const char *env = getenv("BUFPOOL_DEBUG");

	if (!env || !*env || !strcmp(env, "0") || pool->buf_count < 4)
		return 0;
	pool->qcap = pool->buf_count / 4 < 4096 ? pool->buf_count / 4 : 4096;
	pool->quar = calloc(pool->qcap, sizeof(*pool->quar));
	if (!pool->quar)
		return -1;
	pool->debug = 1;
	pool->slow = &bp_always_slow;
	return 0;
}

/* Debug mode: what waits in the quarantine goes back now. */
static void bp_debug_drain(struct bufpool *pool)
{
	uint32_t idx;

	while (pool->qlen) {
		idx = pool->quar[pool->qhead];
		pool->qhead = (pool->qhead + 1) % pool->qcap;
		pool->qlen--;
		bp_store_release_u32(&pool->own[idx], pool->me);
		bp_release_now(pool, idx);
	}
}

static struct bufpool *bp_finish(struct bufpool *pool,
				 const struct bp_layout *l)
{
	bp_shm_bind(&pool->shm, pool->ctrl, l);
	pool->own = pool->shm.own;
	pool->buf_shift = l->buf_shift;
	pool->buf_count = l->buf_count;
	pool->bufs_len = (uint64_t)l->buf_count << l->buf_shift;
	pool->buf_mask = ((uint64_t)1 << l->buf_shift) - 1;
	pool->mag_fill = l->mag_fill;
	pool->slow = bp_waiters(pool);
	pool->serial = atomic_fetch_add_explicit(&bp_serial_next, 1,
						 memory_order_relaxed);
	if (bp_debug_setup(pool))
		return bp_fail(pool);
	return pool;
}

static void bp_unmap(struct bufpool *pool)
{
	if (pool->bufs != MAP_FAILED)
		munmap(pool->bufs, pool->bufs_map_len);
	if (pool->ctrl != MAP_FAILED)
		munmap(pool->ctrl, pool->ctrl_map_len);
	pool->bufs = MAP_FAILED;
	pool->ctrl = MAP_FAILED;
}

static struct bufpool *bp_fail(struct bufpool *pool)
{
	int saved = errno;

	bp_unmap(pool);
	if (pool->fd >= 0)
		close(pool->fd);
	pthread_mutex_destroy(&pool->qlock);
	free(pool->quar);
	free(pool);
	errno = saved;
	return NULL;
}

/*
 * A module-free pool has no kernel to give ids: each open takes the next
 * from the header.  Nobody reclaims for a dead client there; the ids
 * only let the library tell its buffers from others'.
 */
static void bp_memfd_client(struct bufpool *pool)
{
	_Atomic __u32 *next = (_Atomic __u32 *)
		&((struct bufpool_ctrl *)pool->ctrl)->next_client;
	uint32_t id = atomic_fetch_add_explicit(next, 1, memory_order_relaxed);

	pool->me = id % BUFPOOL_CLIENT_MAX + 1;
	pool->info.client_id = pool->me;
}

/* A device pool; pool->fd is open. */
static struct bufpool *bp_open_device(struct bufpool *pool)
{
	struct bp_layout l;

	__u32 abi = BUFPOOL_ABI_VERSION;
	int id;

	if (ioctl(pool->fd, BUFPOOL_IOC_INFO, &pool->info) < 0)
		return bp_fail(pool);
	if (bp_check_info(&pool->info)) {
		errno = EPROTO;
		return bp_fail(pool);
	}
	/* Say we keep the ownership records, before mapping anything. */
	id = ioctl(pool->fd, BUFPOOL_IOC_ATTACH, &abi);
	if (id < 0)
		return bp_fail(pool);
	if ((uint32_t)id != pool->info.client_id) {
		errno = EPROTO;
		return bp_fail(pool);
	}
	pool->me = (uint32_t)id;
	bp_layout_from_info(&l, &pool->info);
	if (bp_map(pool, &l, 0))
		return bp_fail(pool);
	return bp_finish(pool, &l);
}

/*
 * A memfd pool made by another process: its header says what it is; the
 * layout must be what bp_layout_compute() makes of that, and fit the file.
 */
static struct bufpool *bp_open_memfd(struct bufpool *pool)
{
	struct bufpool_ctrl hdr;
	struct bp_layout l;
	struct statfs sfs;
	struct stat st;
	int huge;

	if (pread(pool->fd, &hdr, sizeof(hdr), 0) != sizeof(hdr) ||
	    fstat(pool->fd, &st) || fstatfs(pool->fd, &sfs))
		goto not_a_pool;
	/* Ownership came in ABI 1.2: bp_layout_from_ctrl() wants it. */
	if (!bp_layout_from_ctrl(&l, &hdr, (uint64_t)sysconf(_SC_PAGESIZE)) ||
	    (uint64_t)st.st_size < l.bufs_offset + l.bufs_size)
		goto not_a_pool;
	huge = (unsigned long)sfs.f_type == HUGETLBFS_MAGIC;
	bp_info_from_layout(&pool->info, &l, BUFPOOL_INFO_F_MEMFD |
			    (huge ? BUFPOOL_INFO_F_HUGETLB : 0));
	pool->info.generation = hdr.generation;
	if (bp_map(pool, &l, huge))
		return bp_fail(pool);
	bp_memfd_client(pool);
	return bp_finish(pool, &l);

not_a_pool:
	errno = ENOTTY;
	return bp_fail(pool);
}

struct bufpool *bufpool_open_fd(int fd)
{
	struct bufpool *pool;
	int dup_fd;

	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0)
		return NULL;
	pool = bp_alloc_fd(dup_fd);
	if (!pool)
		return NULL;
	if (ioctl(pool->fd, BUFPOOL_IOC_INFO, &pool->info) == 0 ||
	    errno != ENOTTY)
		return bp_open_device(pool);
	return bp_open_memfd(pool);
}

struct bufpool *bufpool_create(const struct bufpool_params *params)
{
	struct bufpool_params p = { 0 };
	struct bufpool *pool;
	struct bp_layout l;
	uint32_t shift;
	int huge;

	if (params)
		p = *params;
	if (!p.buf_size)
		p.buf_size = BP_DEFAULT_BUF_SIZE;
	if (!p.buf_count)
		p.buf_count = BP_DEFAULT_BUF_COUNT;
	if (!p.caches)
		p.caches = BP_DEFAULT_CACHES;
	if (p.flags & BUFPOOL_F_NO_CACHE)
		p.caches = 0;
	if (p.buf_size < BUFPOOL_MIN_BUF_SIZE || p.buf_size > BUFPOOL_MAX_BUF_SIZE ||
	    (p.buf_size & (p.buf_size - 1)) || p.buf_count > BUFPOOL_MAX_BUFS ||
	    p.caches > BUFPOOL_MAX_CACHES ||
	    (p.flags & ~(BUFPOOL_F_NO_HUGETLB | BUFPOOL_F_NO_CACHE))) {
		errno = EINVAL;
		return NULL;
	}
	shift = (uint32_t)__builtin_ctzl(p.buf_size);
	bp_layout_compute(&l, p.buf_count, shift, p.caches,
			  (uint64_t)sysconf(_SC_PAGESIZE));

	for (huge = !(p.flags & BUFPOOL_F_NO_HUGETLB); huge >= 0; huge--) {
		pool = bp_alloc();
		if (!pool)
			return NULL;
		pool->fd = memfd_create("bufpool", MFD_CLOEXEC |
					(huge ? MFD_HUGETLB : 0));
		if (pool->fd < 0 ||
		    ftruncate(pool->fd, (off_t)(l.bufs_offset + l.bufs_size)) ||
		    bp_map(pool, &l, huge)) {
			/* No hugetlb pages reserved: ordinary shared memory. */
			bp_fail(pool);
			continue;
		}
		if (!huge)
			madvise(pool->bufs, pool->bufs_map_len, MADV_HUGEPAGE);
		bp_shm_init(pool->ctrl, &l, 1);	/* the memfd is zeroed */
		bp_info_from_layout(&pool->info, &l, BUFPOOL_INFO_F_MEMFD |
				    (huge ? BUFPOOL_INFO_F_HUGETLB : 0));
		bp_memfd_client(pool);
		return bp_finish(pool, &l);
	}
	return NULL;
}

struct bufpool *bufpool_open(const char *path)
{
	struct bufpool *pool;
	int fd;

	fd = open(path ? path : BUFPOOL_DEV_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (!path && errno == ENOENT)
			return bufpool_create(NULL);
		return NULL;
	}
	pool = bp_alloc_fd(fd);
	return pool ? bp_open_device(pool) : NULL;
}

int bufpool_close(struct bufpool *pool)
{
	uint64_t s;
	int i;

	if (!pool) {
		errno = EINVAL;
		return -1;
	}
	if (pool->debug)
		bp_debug_drain(pool);
	/*
	 * Every cache of this process for the pool goes back to the depot;
	 * one a thread is flushing at its exit right now is waited for.
	 */
	for (i = 0; i < BP_ARENA; i++) {
		struct bp_tc *tc = &bp_arena[i];

		for (;;) {
			s = atomic_load_explicit(&tc->serial,
						 memory_order_acquire);
			if (s != BP_SERIAL_BUSY)
				break;
			caa_cpu_relax();
		}
		if (s == pool->serial && pool->serial != BP_SERIAL_NONE)
			bp_tc_flush(tc);
	}
	bp_unmap(pool);
	if (pool->fd >= 0)
		close(pool->fd);
	pthread_mutex_destroy(&pool->qlock);
	free(pool->quar);
	free(pool);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Size classes                                                       */

#define BP_MAX_CLASSES	16

struct bufpool_classes {
	unsigned int n;
	struct bufpool *pool[BP_MAX_CLASSES];	/* ascending buffer size */
};

static int bp_class_cmp(const void *a, const void *b)
{
	const struct bufpool *x = *(struct bufpool *const *)a;
	const struct bufpool *y = *(struct bufpool *const *)b;

	return (x->buf_shift > y->buf_shift) - (x->buf_shift < y->buf_shift);
}

/* Every /dev/bufpool-cSIZE, into names[]; returns how many or -1. */
static int bp_class_nodes(char names[BP_MAX_CLASSES][64])
{
	struct dirent *e;
	unsigned int n = 0;
	DIR *d = opendir("/dev");
	const char *p;

	if (!d)
		return -1;
	while ((e = readdir(d)) && n < BP_MAX_CLASSES) {
		if (strncmp(e->d_name, "bufpool-c", 9) || !e->d_name[9])
			continue;
		for (p = e->d_name + 9; *p >= '0' && *p <= '9'; p++)
			;
		if (*p || strlen(e->d_name) > 48)
			continue;
		snprintf(names[n++], 64, "/dev/%s", e->d_name);
	}
	closedir(d);
	return (int)n;
}

void bufpool_classes_close(struct bufpool_classes *cls)
{
	unsigned int i;

	if (!cls)
		return;
	for (i = 0; i < cls->n; i++)
		bufpool_close(cls->pool[i]);
	free(cls);
}

struct bufpool_classes *bufpool_classes_open(const char *const *paths,
					     unsigned int n)
{
	char found[BP_MAX_CLASSES][64];
	struct bufpool_classes *cls;
	unsigned int i;
	int saved, k;

	if (!paths) {
		k = bp_class_nodes(found);
		if (k < 0)
			return NULL;
		n = (unsigned int)k;
	}
	if (n == 0 || n > BP_MAX_CLASSES) {
		errno = n ? EINVAL : ENOENT;
		return NULL;
	}
	cls = calloc(1, sizeof(*cls));
	if (!cls)
		return NULL;
	for (i = 0; i < n; i++) {
		cls->pool[i] = bufpool_open(paths ? paths[i] : found[i]);
		if (!cls->pool[i])
			goto fail;
		cls->n++;
	}
	qsort(cls->pool, cls->n, sizeof(cls->pool[0]), bp_class_cmp);
	for (i = 1; i < cls->n; i++)
		if (cls->pool[i]->buf_shift == cls->pool[i - 1]->buf_shift) {
			errno = EINVAL;
			goto fail;
		}
	return cls;

fail:
	saved = errno;
	bufpool_classes_close(cls);
	errno = saved;
	return NULL;
}

void *bufpool_classes_acquire(struct bufpool_classes *cls, size_t size)
{
	unsigned int i;
	void *buf;

	if (!cls) {
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < cls->n; i++) {
		if (((size_t)1 << cls->pool[i]->buf_shift) < size)
			continue;
		/* The smallest that fits; a larger one when it is empty. */
		for (; i < cls->n; i++) {
			buf = bufpool_acquire(cls->pool[i]);
			if (buf || errno != ENOBUFS)
				return buf;
		}
		errno = ENOBUFS;
		return NULL;
	}
	errno = EINVAL;
	return NULL;
}

int bufpool_classes_release(struct bufpool_classes *cls, void *buf)
{
	unsigned int i;
	uint64_t off;

	if (!cls) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < cls->n; i++) {
		off = (uintptr_t)buf - (uintptr_t)cls->pool[i]->bufs;
		if (off < cls->pool[i]->bufs_len)
			return bufpool_release(cls->pool[i], buf);
	}
	errno = EINVAL;
	return -1;
}

struct bufpool *bufpool_classes_pool(const struct bufpool_classes *cls,
				     unsigned int i)
{
	return cls && i < cls->n ? cls->pool[i] : NULL;
}

/* ------------------------------------------------------------------ */
/* Blocking acquire                                                   */

/*
 * A waiter counts itself in the control area's waiters, reads
 * wake_seq, tries once more, and sleeps until wake_seq moves.  A release
 * that sees waiters gives its buffer to the shared loose list (not its
 * cache, where a waiter could not reach it), moves wake_seq and wakes
 * the sleepers.  Either the waiter's retry finds the buffer, or the
 * release's move of wake_seq comes after the waiter read it, and the
 * sleep returns at once: no wakeup is lost.  A release makes a system
 * call only when someone waits.
 *
 * Device pools sleep in the kernel (BUFPOOL_IOC_WAIT): the control
 * area's pages are not page-cache pages, and a futex shared between
 * processes needs those.  Module-free pools (shmem) use a futex, with
 * liburcu's futex_async().
 */
static int bp_release_wake(struct bufpool *pool, uint32_t idx)
{
	_Atomic __u32 *seq = (_Atomic __u32 *)
		&((struct bufpool_ctrl *)pool->ctrl)->wake_seq;
	struct bp_tc *tc = bp_tc_get(pool);

	if (!tc)
		return -1;
	bp_count(&tc->slot->releases);
	bp_give_loose(pool, tc, idx);
	atomic_fetch_add_explicit(seq, 1, memory_order_seq_cst);
	if (pool->info.flags & BUFPOOL_INFO_F_MEMFD)
		futex_async((int32_t *)seq, FUTEX_WAKE, INT32_MAX, NULL,
			    NULL, 0);
	else
		ioctl(pool->fd, BUFPOOL_IOC_WAKE);
	return 0;
}

static int bp_sleep(struct bufpool *pool, uint32_t seen, int64_t ns)
{
	struct bufpool_wait w = { .seq = seen, .timeout_ns = ns };
	struct timespec ts = { ns / 1000000000, ns % 1000000000 };
	__u32 *seq = &((struct bufpool_ctrl *)pool->ctrl)->wake_seq;
	int r;

	if (!(pool->info.flags & BUFPOOL_INFO_F_MEMFD))
		return ioctl(pool->fd, BUFPOOL_IOC_WAIT, &w) < 0 ? -1 : 0;
	r = futex_async((int32_t *)seq, FUTEX_WAIT, (int32_t)seen,
			ns < 0 ? NULL : &ts, NULL, 0);
	if (r < 0 && errno == EAGAIN)
		return 0;	/* it had moved already */
	return r < 0 ? -1 : 0;
}

static int64_t bp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int bufpool_acquire_index_timeout(struct bufpool *pool, uint32_t *idx,
				  int64_t timeout_ns)
{
	_Atomic __u32 *seq = (_Atomic __u32 *)
		&((struct bufpool_ctrl *)pool->ctrl)->wake_seq;
	int64_t deadline = bp_now_ns() + (timeout_ns > 0 ? timeout_ns : 0);
	int64_t left = -1;
	uint32_t seen;
	int r, saved;

	if (bp_acquire_to(pool, idx) == 0)
		return 0;
	if (errno != ENOBUFS || timeout_ns == 0)
		return -1;
	for (;;) {
		atomic_fetch_add_explicit(bp_waiters(pool), 1,
					  memory_order_seq_cst);
		seen = atomic_load_explicit(seq, memory_order_seq_cst);
		r = bp_acquire_to(pool, idx);
		saved = errno;
		if (r && saved == ENOBUFS) {
			if (timeout_ns > 0)
				left = deadline - bp_now_ns();
			if (timeout_ns > 0 && left <= 0) {
				saved = ETIMEDOUT;
			} else {
				r = bp_sleep(pool, seen, left);
				saved = r ? errno : ENOBUFS;
				r = -1;
			}
		}
		atomic_fetch_sub_explicit(bp_waiters(pool), 1,
					  memory_order_seq_cst);
		if (r == 0)
			return 0;
		if (saved != ENOBUFS && saved != ETIMEDOUT)
			break;		/* EINTR, or worse */
		if (saved == ETIMEDOUT) {
			if (bp_acquire_to(pool, idx) == 0)
				return 0;
			break;
		}
	}
	errno = saved;
	return -1;
}

void *bufpool_acquire_timeout(struct bufpool *pool, int64_t timeout_ns)
{
	uint32_t idx;

	if (bufpool_acquire_index_timeout(pool, &idx, timeout_ns))
		return NULL;
	return bp_buf(pool, idx);
}
