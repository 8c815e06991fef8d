// SPDX-License-Identifier: MIT
/*
 * libbufpool-user: queues of buffers in the pool's control area
 * (<bufpool/queue.h> is the algorithm, docs/DESIGN.md "Queues" the
 * design).  Opening and closing a queue is the backend's (backend.c: an
 * ioctl on a device pool, the library itself on a module-free pool);
 * here are the checks of the arguments, the handle and the pool's list
 * of open queues, and the calls that move buffers, which make no system
 * call, take no lock and allocate nothing.
 *
 * The ownership protocol, which lets the kernel's reconciliation tell
 * at every instruction where a buffer is:
 *   enqueue: own[x] is ours; the thread's shared cache announces x
 *            (pend_buf; a thread without a cache counts itself in
 *            flight instead); own[x] = FREE (release); bp_q_put(); on
 *            failure own[x] = ours again; pend_buf = NIL (release).
 *   dequeue: bp_q_get() records own[x] = ours before it marks the slot
 *            consumed.
 * A buffer is then queued (a slot names it: the queue wins over every
 * record) or named by a record of the client that holds it.
 */
#include <errno.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "fastpath.h"

/* The public API's opaque handle is a struct bufpool_queue. */

#define BP_QUEUE_OPEN_FLAGS	(BUFPOOL_QUEUE_CREATE | BUFPOOL_QUEUE_EXCL | \
				 BUFPOOL_QUEUE_SINGLE_PRODUCER |	 \
				 BUFPOOL_QUEUE_PRODUCE | BUFPOOL_QUEUE_CONSUME)

/* The library's flags are the kernel's: passed through as they are. */
_Static_assert(BUFPOOL_QUEUE_CREATE == BUFPOOL_QOPEN_CREATE &&
	       BUFPOOL_QUEUE_EXCL == BUFPOOL_QOPEN_EXCL &&
	       BUFPOOL_QUEUE_SINGLE_PRODUCER == BUFPOOL_QOPEN_SP &&
	       BUFPOOL_QUEUE_PRODUCE == BUFPOOL_QOPEN_PRODUCE &&
	       BUFPOOL_QUEUE_CONSUME == BUFPOOL_QOPEN_CONSUME,
	       "queue open flags are BUFPOOL_QOPEN_*");

/* A queue's name: 1 to 31 of [A-Za-z0-9_.-]. */
static int bp_queue_name_ok(const char *name)
{
	size_t i;
	char c;

	if (!name)
		return 0;
	for (i = 0; name[i]; i++) {
		if (i >= BUFPOOL_QUEUE_NAME_MAX - 1)
			return 0;
		c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return 0;
	}
	return i > 0;
}

/*
 * Bind q->q to descriptor id of pool, of capacity slots (a power of two
 * <= queue_len, id < nr_queues: the caller checked both).
 */
void bp_queue_bind(struct bufpool *pool, struct bufpool_queue *q,
		   uint32_t id, uint32_t capacity)
{
	q->pool = pool;
	q->id = id;
	q->q.d = &pool->shm.queues[id];
	q->q.slots = pool->shm.qslots + (uint64_t)id * pool->shm.queue_len;
	q->q.mask = capacity - 1;
	q->q.shift = (uint32_t)__builtin_ctz(capacity);
	q->q.buf_count = pool->buf_count;
}

/*
 * Give back to the pool every buffer the queue holds, for the last user
 * of a module-free pool's queue: each is dequeued (recorded as ours)
 * and released as any buffer this handle holds.
 */
void bp_queue_drain(struct bufpool *pool, struct bufpool_queue *q)
{
	uint64_t n;
	uint32_t idx;

	for (n = 0; n <= q->q.mask; n++) {
		idx = bp_q_get(&q->q, pool->own, pool->client_id);
		if (idx >= pool->buf_count)
			break;		/* empty, or garbage */
		if (bp_release_if_ours(pool, idx)) {
			/* No cache for this thread: straight to the list. */
			bp_store_release_u32(&pool->own[idx], BUFPOOL_OWN_FREE);
			bp_fl_push(pool->shm.free_head, pool->shm.next, idx);
		}
	}
}

struct bufpool_queue *bufpool_queue_open(struct bufpool *pool,
					 const char *name, unsigned int flags,
					 uint32_t capacity)
{
	struct bufpool_queue *q, *it;
	uint32_t cap = 0;

	if (!pool || !bp_queue_name_ok(name) ||
	    (flags & ~BP_QUEUE_OPEN_FLAGS) ||
	    ((flags & BUFPOOL_QUEUE_EXCL) && !(flags & BUFPOOL_QUEUE_CREATE))) {
		errno = EINVAL;
		return NULL;
	}
	if (!pool->shm.nr_queues) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (flags & BUFPOOL_QUEUE_CREATE) {
		if (!capacity || capacity > pool->shm.queue_len) {
			errno = EINVAL;
			return NULL;
		}
		/* Rounded up; queue_len is a power of two, so it fits. */
		for (cap = 1; cap < capacity; cap <<= 1)
			;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	pthread_mutex_lock(&pool->queue_lock);
	if (pool->backend->queue_open(pool, name, flags, cap, q)) {
		pthread_mutex_unlock(&pool->queue_lock);
		free(q);
		return NULL;
	}
	for (it = pool->queues; it; it = it->next)
		if (it->id == q->id && it->generation == q->generation)
			break;
	if (it) {
		/* A kernel that let this handle open it twice. */
		pool->backend->queue_close(pool, q);
		pthread_mutex_unlock(&pool->queue_lock);
		free(q);
		errno = EALREADY;
		return NULL;
	}
	q->opener = getpid();
	q->next = pool->queues;
	pool->queues = q;
	pthread_mutex_unlock(&pool->queue_lock);
	return q;
}

/* Unlink q from its pool's list; the caller holds queue_lock. */
static int bp_queue_unlink(struct bufpool *pool, struct bufpool_queue *q)
{
	struct bufpool_queue **p;

	for (p = &pool->queues; *p; p = &(*p)->next) {
		if (*p == q) {
			*p = q->next;
			return 0;
		}
	}
	return -1;
}

int bufpool_queue_close(struct bufpool_queue *h)
{
	struct bufpool_queue *q = h;
	struct bufpool *pool;

	if (!q) {
		errno = EINVAL;
		return -1;
	}
	pool = q->pool;
	pthread_mutex_lock(&pool->queue_lock);
	if (bp_queue_unlink(pool, q)) {
		pthread_mutex_unlock(&pool->queue_lock);
		errno = EINVAL;
		return -1;
	}
	/* Inherited across fork: the opener's, not this process's, to close. */
	if (q->opener == getpid())
		pool->backend->queue_close(pool, q);
	pthread_mutex_unlock(&pool->queue_lock);
	free(q);
	return 0;
}

/* bufpool_close: every queue still open. */
void bp_queues_close(struct bufpool *pool)
{
	struct bufpool_queue *q;

	pthread_mutex_lock(&pool->queue_lock);
	while ((q = pool->queues) != NULL) {
		pool->queues = q->next;
		if (q->opener == getpid())
			pool->backend->queue_close(pool, q);
		free(q);
	}
	pthread_mutex_unlock(&pool->queue_lock);
}

/* ------------------------------------------------------------------ */
/* Moving buffers                                                     */

/*
 * The errno of a put that did not go in (r != 0): -1.  A queue holding
 * what no client could write asks for a repair.
 */
static int bp_enqueue_failed(struct bufpool *pool, int r)
{
	switch (r) {
	case BP_Q_FULL:
		errno = ENOBUFS;
		break;
	case BP_Q_BUSY:
		errno = EAGAIN;
		break;
	default:
		bp_corrupt(pool);
		break;
	}
	return -1;
}

/*
 * The word that announces a buffer in flight to a queue: the thread's
 * cache's pend_buf, or for a thread without a cache its client's
 * in-flight count (then *cachep is NULL, and bp_shared_enqueue_end()
 * must follow).
 */
static BP_ALWAYS_INLINE __u32 *bp_enqueue_begin(struct bufpool *pool,
						struct bp_thread_cache **cachep)
{
	struct bp_thread_cache *cache = bp_thread_cache_current(pool);

	if (__builtin_expect(!cache, 0))
		cache = bp_thread_cache_get(pool);
	*cachep = cache;
	return cache ? &cache->shared->pend_buf : bp_shared_enqueue_begin(pool);
}

/*
 * One buffer idx (< buf_count, own[idx] checked ours) into the queue from
 * position *tp on, announced in *pend: 0, or what bp_q_put_from()
 * returned, with own[idx] ours again.  pend_buf is left naming idx: the
 * next buffer's announcement replaces it (a release store, so it cannot
 * be seen before this buffer's slot names it), or the caller clears it.
 */
static BP_ALWAYS_INLINE int bp_enqueue_one(struct bufpool_queue *q,
					   __u32 *pend, uint32_t idx,
					   uint32_t me, __u64 *tp)
{
	struct bufpool *pool = q->pool;
	int r;

	/* Orders the slot naming the last buffer before this goes. */
	bp_store_release_u32(pend, idx);
	/* Orders the announcement before the record lets go. */
	bp_store_release_u32(&pool->own[idx], BUFPOOL_OWN_FREE);
	r = bp_q_put_from(&q->q, idx, q->sp, tp);
	if (__builtin_expect(r != 0, 0))
		bp_store_relaxed_u32(&pool->own[idx], me);
	return r;
}

/* Enqueue idx (< buf_count), following the ownership protocol. */
static BP_ALWAYS_INLINE int bp_enqueue(struct bufpool_queue *q, uint32_t idx)
{
	struct bufpool *pool = q->pool;
	uint32_t me = pool->client_id;
	struct bp_thread_cache *cache;
	__u32 *pend;
	__u64 t;
	int r;

	if (__builtin_expect(!q->produce, 0)) {
		errno = EPERM;
		return -1;
	}
	if (__builtin_expect(bp_load_relaxed_u32(&pool->own[idx]) != me, 0)) {
		errno = EINVAL;
		return -1;
	}
	pend = bp_enqueue_begin(pool, &cache);
	t = bp_load_acquire_u64(&q->q.d->tail);
	r = bp_enqueue_one(q, pend, idx, me, &t);
	/* Orders the record (on failure) before the announcement goes. */
	bp_store_release_u32(pend, BUFPOOL_IDX_NIL);
	if (!cache)
		bp_shared_enqueue_end(pool);
	if (__builtin_expect(r != 0, 0))
		return bp_enqueue_failed(pool, r);
	bp_q_note_depth(&q->q, t);
	return 0;
}

/* Dequeue: the index taken (recorded as ours), or BP_NONE with errno. */
static BP_ALWAYS_INLINE uint32_t bp_dequeue(struct bufpool_queue *q)
{
	struct bufpool *pool = q->pool;
	uint32_t idx;

	if (__builtin_expect(!q->consume, 0)) {
		errno = EPERM;
		return BP_NONE;
	}
	idx = bp_q_get(&q->q, pool->own, pool->client_id);
	if (__builtin_expect(idx < pool->buf_count, 1))
		return idx;
	if (idx != BUFPOOL_IDX_NIL)
		return bp_corrupt(pool);
	errno = EAGAIN;
	return BP_NONE;
}

int bufpool_enqueue(struct bufpool_queue *h, void *buf)
{
	struct bufpool_queue *q = h;
	uint32_t idx;

	if (!q || bp_ptr_to_idx(q->pool, buf, &idx)) {
		errno = EINVAL;
		return -1;
	}
	return bp_enqueue(q, idx);
}

int bufpool_enqueue_index(struct bufpool_queue *h, uint32_t idx)
{
	struct bufpool_queue *q = h;
	if (!q || idx >= q->pool->buf_count) {
		errno = EINVAL;
		return -1;
	}
	return bp_enqueue(q, idx);
}

void *bufpool_dequeue(struct bufpool_queue *h)
{
	struct bufpool_queue *q = h;
	uint32_t idx;

	if (!q) {
		errno = EINVAL;
		return NULL;
	}
	idx = bp_dequeue(q);
	return idx == BP_NONE ? NULL : bp_buf_addr(q->pool, idx);
}

int bufpool_dequeue_index(struct bufpool_queue *h, uint32_t *idx)
{
	struct bufpool_queue *q = h;
	uint32_t taken;

	if (!q || !idx) {
		errno = EINVAL;
		return -1;
	}
	taken = bp_dequeue(q);
	if (taken == BP_NONE)
		return -1;
	*idx = taken;
	return 0;
}

/*
 * bufpool_enqueue_bulk()'s loop, made twice: sp a constant in each
 * (single-producer queues store, the others CAS), so that neither copy
 * tests it per buffer or keeps its CAS's expected value in memory.
 * Returns how many went in; *tp the position after the last, *rp what
 * bp_q_put_slow() returned for the one that did not (0: a bad buffer).
 */
static BP_ALWAYS_INLINE unsigned int
bp_enqueue_run(struct bufpool_queue *q, void *const *bufs, unsigned int n,
	       __u32 *pend, const int sp, __u64 *tp, int *rp)
{
	struct bufpool *pool = q->pool;
	uint64_t base = (uintptr_t)pool->bufs, len = pool->bufs_len, off;
	__u64 t = *tp, lapw, s, pos, *slot, *slots = q->q.slots;
	__u64 qmask = q->q.mask, *tail = &q->q.d->tail;
	unsigned int i, qshift = q->q.shift;
	struct bp_bufmap map = pool->map;
	uint32_t idx, me = pool->client_id;
	__u32 *own = pool->own;
	int r = 0;

	for (i = 0; i < n; i++, t++) {
		off = (uintptr_t)bufs[i] - base;
		if (__builtin_expect(off >= len ||
				     bp_bufmap_idx(&map, off, &idx), 0))
			break;
		if (__builtin_expect(bp_load_relaxed_u32(&own[idx]) != me, 0))
			break;
		/* Orders the slot naming the last buffer before this goes. */
		bp_store_release_u32(pend, idx);
		/* Orders the announcement before the record lets go. */
		bp_store_release_u32(&own[idx], BUFPOOL_OWN_FREE);
		slot = &slots[t & qmask];
		lapw = ((t >> qshift) & BP_Q_LAP_MASK) << BUFPOOL_IDX_BITS;
		s = bp_load_acquire_u64(slot);
		if (__builtin_expect(s == (lapw | BUFPOOL_QUEUE_EMPTY), 1)) {
			if (sp) {
				bp_store_release_u64(slot, lapw | idx);
				bp_store_release_u64(tail, t + 1);
				continue;
			}
			if (bp_cas_release_u64(slot, &s, lapw | idx)) {
				s = t;
				bp_cas_release_u64(tail, &s, t + 1);
				continue;
			}
		}
		/*
		 * A copy of its own: neither t nor s (the CAS's expected
		 * value) has its address taken, so both stay in registers.
		 */
		pos = t;
		r = bp_q_put_slow(&q->q, idx, sp, &pos);
		t = pos;
		if (__builtin_expect(r != 0, 0)) {
			bp_store_relaxed_u32(&own[idx], me);
			break;
		}
	}
	*tp = t;
	*rp = r;
	return i;
}

/*
 * Each buffer goes as bufpool_enqueue sends one, the same steps on the
 * same shared words (docs/DESIGN.md, "Queues"), with what is per call
 * done once: the checks of the handle, the thread's cache, the tail read
 * (each put continues from the last one's position), the depth noted
 * after the last.  pend_buf goes from one buffer to the next: at every
 * instruction each buffer is named by a slot, by pend_buf or by own[].
 * The common case (the slot at the tail free at its lap) is
 * bp_enqueue_run()'s loop, over copies of the geometry (the atomic
 * stores to own[] and the slots could alias the handle); anything else
 * is bp_q_put_slow()'s.  Stops at the first buffer that does not go in.
 */
unsigned int bufpool_enqueue_bulk(struct bufpool_queue *h, void *const *bufs,
				  unsigned int n)
{
	struct bufpool_queue *q = h;
	struct bp_thread_cache *cache;
	struct bufpool *pool;
	unsigned int i;
	__u32 *pend;
	int r;
	__u64 t;

	if (!q || !bufs) {
		errno = EINVAL;
		return 0;
	}
	if (!n)
		return 0;
	if (__builtin_expect(!q->produce, 0)) {
		errno = EPERM;
		return 0;
	}
	pool = q->pool;
	pend = bp_enqueue_begin(pool, &cache);
	t = bp_load_acquire_u64(&q->q.d->tail);
	if (q->sp)
		i = bp_enqueue_run(q, bufs, n, pend, 1, &t, &r);
	else
		i = bp_enqueue_run(q, bufs, n, pend, 0, &t, &r);
	bp_store_release_u32(pend, BUFPOOL_IDX_NIL);
	if (!cache)
		bp_shared_enqueue_end(pool);
	if (r)
		bp_enqueue_failed(pool, r);
	else if (i < n)
		errno = EINVAL;	/* not a buffer's start, or not ours */
	if (i)
		bp_q_note_depth(&q->q, t - 1);
	return i;
}

/*
 * Each buffer taken as bufpool_dequeue takes one (own[] recorded before
 * its slot lets go of it, the head moved on after each), the head read
 * once.  The common case (a buffer at the head's lap, own[] saying it is
 * free) is the loop here over copies of the geometry, anything else
 * bp_q_get_from()'s.
 */
unsigned int bufpool_dequeue_bulk(struct bufpool_queue *h, void **bufs,
				  unsigned int n)
{
	struct bufpool_queue *q = h;
	struct bufpool *pool;
	__u64 head, lapw, s, pos, qmask, *slots, *slot, *headp;
	struct bp_bufmap map;
	unsigned int i, qshift;
	uint32_t idx, me, o, count;
	char *base;
	__u32 *own;

	if (!q || !bufs) {
		errno = EINVAL;
		return 0;
	}
	if (!n)
		return 0;
	if (__builtin_expect(!q->consume, 0)) {
		errno = EPERM;
		return 0;
	}
	pool = q->pool;
	me = pool->client_id;
	own = pool->own;
	base = pool->bufs;
	map = pool->map;
	count = q->q.buf_count;
	slots = q->q.slots;
	qmask = q->q.mask;
	qshift = q->q.shift;
	headp = &q->q.d->head;
	head = bp_load_acquire_u64(headp);
	for (i = 0; i < n; i++) {
		slot = &slots[head & qmask];
		lapw = ((head >> qshift) & BP_Q_LAP_MASK) << BUFPOOL_IDX_BITS;
		s = bp_load_acquire_u64(slot);
		idx = bp_q_slot_idx(s);
		o = BUFPOOL_OWN_FREE;
		if (__builtin_expect((s & ~(__u64)BUFPOOL_IDX_MASK) == lapw &&
				     idx < count &&
				     bp_cas_relaxed_u32(&own[idx], &o, me), 1)) {
			/*
			 * {lap + 1, EMPTY}: the lap wraps at 2^40 as the
			 * word's top bits do.  Orders the record before the
			 * slot lets go of the buffer.
			 */
			lapw += 1ULL << BUFPOOL_IDX_BITS;
			bp_store_release_u64(slot, lapw | BUFPOOL_QUEUE_EMPTY);
			bp_store_release_u64(headp, ++head);
		} else {
			/* A copy of its own: head and s stay in registers. */
			pos = head;
			idx = bp_q_get_slow(&q->q, own, me, &pos);
			head = pos;
			if (__builtin_expect(idx >= pool->buf_count, 0)) {
				if (idx != BUFPOOL_IDX_NIL)
					bp_corrupt(pool);
				else
					errno = EAGAIN;
				break;
			}
		}
		bufs[i] = base + bp_bufmap_off(&map, idx);
	}
	return i;
}

int bufpool_queue_stats(struct bufpool_queue *h,
			struct bufpool_queue_stats *st)
{
	struct bufpool_queue *q = h;

	if (!q || !st) {
		errno = EINVAL;
		return -1;
	}
	memset(st, 0, sizeof(*st));
	st->capacity = q->q.mask + 1;
	/* Head first: the tail read after it is rarely behind it. */
	st->dequeued = bp_load_relaxed_u64(&q->q.d->head);
	st->enqueued = bp_load_relaxed_u64(&q->q.d->tail);
	/* Each word read once: the depth from the two just read. */
	st->depth = st->enqueued - st->dequeued <= st->capacity ?
		    st->enqueued - st->dequeued : 0;
	st->full = bp_load_relaxed_u64(&q->q.d->full);
	st->high_watermark = bp_load_relaxed_u64(&q->q.d->high_watermark);
	st->consumer = bp_load_relaxed_u32(&q->q.d->consumer);
	return 0;
}
