// SPDX-License-Identifier: MIT
/*
 * matrix: bufpool against what users would pick instead, scenario by
 * scenario, in one run.  Prints CSV rows; bench/run.sh runs every build
 * of it and makes the table, the ratios and the plots.
 *
 * One source, several builds, because a general allocator replaces
 * malloc for the whole process:
 *   matrix           glibc malloc; bufpool (memfd, or the device with
 *                    --device); the seeds' two designs; DPDK 22.11
 *                    rte_mempool (cache 0 and 256, ring_mp_mc and
 *                    lf_stack; a cache of 256 the thread owns,
 *                    dpdk-uc256) when built with HAVE_DPDK; copy-ring
 *   matrix-dpdk25    the same source against DPDK 25.11, built and run
 *                    in the sid chroot (scripts/dpdk25.sh), for its
 *                    DPDK rows only: dpdk25-*, rte_ring25
 *   matrix-jemalloc  linked with -ljemalloc
 *   matrix-tcmalloc  linked with -ltcmalloc_minimal (gperftools)
 *   matrix-mimalloc  linked with -lmimalloc, called as mi_malloc/mi_free
 *   matrix-lto       bufpool only, linked with the static library and
 *                    -flto, its rows named bufpool-lto
 * Two floors, which are not peers, run the burst scenario too:
 * floor-lifo (a bare thread-local stack of pointers) and floor-cas (a
 * bare tagged Treiber stack): the least a per-thread cache and a shared
 * lock-free list can cost on this machine.
 *
 * Scenarios (each for buffer sizes 64 B, 2 KiB, 64 KiB):
 *   burst     every thread takes B objects, writes a byte of each, gives
 *             them back; threads 1, 2 and 8, or those --threads names
 *             (a scaling run on a larger machine), pinned one per CPU
 *             of the process's affinity while there are CPUs enough,
 *             else not pinned (on this project's 2-CPU machines the 8
 *             are oversubscribed); B = 1, 32, 256.  With --threads
 *             above 8, every scenario's pools have 1024 objects and a
 *             cache per thread (8192 and 8 otherwise)
 *   bulk      the same with B = 32 and 256 taken in one call and given
 *             in one call, for the peers that have such calls (bufpool,
 *             DPDK)
 *   handoff   one thread takes and writes a 64 B header, a second reads
 *             it and gives the object back, through an SPSC ring of 256
 *             pointers (a cross-thread free for the allocators)
 *   pipeline  the same, but the producer fills the whole buffer and the
 *             consumer reads all of it: a message pipeline.  bufpool's
 *             pool of these two and of procs rotates its depot
 *             (bp_xmake), its burst and bulk cells' does not
 *   procs     the pipeline across two processes, 64 messages in flight
 *             at most: bufpool hands buffers over by index
 *             (handoff/adopt) through a shared ring; copy-ring copies
 *             each message into and out of a shared ring of 64 slots,
 *             which is what two processes do without a shared pool.
 *             Private heaps cannot take part.
 *   queue     (2 KiB only) bufpool's queues of buffers (bufpool-queue)
 *             beside DPDK's rte_ring: one thread enqueueing and
 *             dequeueing, SP/SC across two threads, MP/SC with two
 *             producers; one entry per call and bursts of 32 (see
 *             run_queue)
 *   shared    (2 KiB only) bufpool's shared path, the one a thread
 *             without a cache takes (bufpool-shared), beside its cached
 *             path, a bare Treiber stack and DPDK without (ring and
 *             lock-free stack) and with its lcore cache; 1, 2 and 64
 *             threads (see run_shared)
 *
 * Figures: ns per operation (a take+give pair; a message for the
 * handoff scenarios) over batches of about 1000, timed with
 * CLOCK_MONOTONIC: p50, p99, p99.9 and the worst batch; Mops/s over the
 * run's wall time; objects a peer failed to give (pool empty).
 *
 * usage: matrix [--quick] [--device] [--peers a,b,...] [--scenarios a,b]
 *               [--sizes 64,2048,...] [--threads 1,2,8] [--secs S]
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if !defined(PEER_JEMALLOC) && !defined(PEER_TCMALLOC) && \
	!defined(PEER_MIMALLOC)
#define PEER_MAIN 1
#include <bufpool.h>
#endif
#include "bench_common.h"
#ifdef PEER_MIMALLOC
#include <mimalloc.h>
#endif
#if defined(PEER_MAIN) && defined(HAVE_DPDK)
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_version.h>
/*
 * DPDK's rows are named after its release: dpdk-* and rte_ring for
 * Debian 12's 22.11, dpdk25-* and rte_ring25 for 25.11 (the build in the
 * sid chroot, scripts/dpdk25.sh), so that one CSV holds both.  DP_TAG
 * overrides it ("" for no version).
 */
#ifndef DP_TAG
#if RTE_VER_YEAR == 22
#define DP_TAG		""
#else
#define DP_TAG_(y)	#y
#define DP_TAG_S(y)	DP_TAG_(y)
#define DP_TAG		DP_TAG_S(RTE_VER_YEAR)
#endif
#endif
#define DP_NAME(s)	"dpdk" DP_TAG "-" s
#define DP_RING_NAME	"rte_ring" DP_TAG
#else
#define DP_RING_NAME	"rte_ring"
#endif

#define COUNT		8192	/* objects in every pool, up to 8 threads */
#define MAX_THREADS	32	/* most threads of a burst cell (--threads) */
#define MAX_BURST	256
#define RING		256	/* SPSC ring of the handoff scenarios */
#define MAX_BATCHES	(1 << 18)

static double secs = 0.25;	/* per measurement */
static int device;		/* bufpool through /dev/bufpool */
/*
 * The burst and bulk cells' thread counts (--threads; 1, 2 and 8 by
 * default) and the most of them: a pool has a cache, a floor's chunk
 * and 1024 objects for each of that many threads, 8192 at least.
 */
static int cell_threads[8] = { 1, 2, 8 }, ncell_threads = 3;
static int threads_max = 8;

static uint32_t pool_count(void)
{
	return threads_max <= 8 ? COUNT : 1024u * (uint32_t)threads_max;
}
/*
 * Set by the main thread when a measurement's time is up; workers check
 * it between rounds, so that a peer whose operations stall (a ring whose
 * preempted producer blocks every other thread) ends its run after one
 * stalled operation, not after a whole batch of them.
 */
static _Atomic int stop;

/* The main thread's affinity, given back after it pinned itself. */
static cpu_set_t all_cpus;
static int ncpus = 2;		/* CPUs in it */

/*
 * The longest wait for the machine's fast core-to-core state before a
 * cell whose threads hand memory across cores (bench_xcore_gate()).
 */
static double xcore_cap = 3;

/* Waits for it before the cell scen, size, peer (bench_xcore_gate()). */
static void xcore_gate(const char *scen, size_t size, int threads,
		       int burst, const char *peer)
{
	char what[128];

	if (device)
		return;	/* the VM: emulated, its rows relative only */
	snprintf(what, sizeof(what), "%s,%zu,%d,%d,%s", scen, size, threads,
		 burst, peer);
	bench_xcore_gate(&all_cpus, what, xcore_cap);
}

/* Pins the calling thread to the n-th CPU of all_cpus (modulo ncpus). */
static void pin(int n)
{
	bench_pin(&all_cpus, n);
}

static void unpin(void)
{
	pthread_setaffinity_np(pthread_self(), sizeof(all_cpus), &all_cpus);
}

static void nap(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ */
/* Peers                                                              */

struct peer {
	const char *name;
	void *(*make)(size_t size, uint32_t count);
	void (*destroy)(void *pool);
	/* take burst objects, write a byte of each, give them back */
	long (*round)(void *pool, void **objs, int burst);
	void *(*get)(void *pool);
	void (*put)(void *pool, void *obj);
	void (*thread_init)(void *pool);
	void (*thread_exit)(void *pool);
	void *pool;
	/* take burst objects in one call, write, give them in one call */
	long (*bulk)(void *pool, void **objs, int burst);
	/* a floor, not a peer: in the burst scenarios only */
	int floor;
	/*
	 * The pool of the cells whose buffers go from one thread to
	 * another (handoff, pipeline), when it is not make's: bufpool's
	 * rotates (bp_xmake).
	 */
	void *(*xmake)(size_t size, uint32_t count);
};

/* Direct calls inside the loop, as a user's code would make them. */
#define DEFINE_ROUND(name, GET, PUT)					\
static long name##_round(void *pool, void **objs, int burst)		\
{									\
	long failed = 0;						\
	int i, n = 0;							\
									\
	for (i = 0; i < burst; i++) {					\
		void *o = GET(pool);					\
									\
		if (!o) {						\
			failed++;					\
			continue;					\
		}							\
		*(volatile char *)o = (char)i;				\
		objs[n++] = o;						\
	}								\
	for (i = 0; i < n; i++)						\
		PUT(pool, objs[i]);					\
	return failed;							\
}									\
static void *name##_getf(void *pool)					\
{									\
	return GET(pool);						\
}									\
static void name##_putf(void *pool, void *obj)				\
{									\
	(void)pool;							\
	PUT(pool, obj);							\
}

/* The object size of a malloc-style peer travels in its "pool". */
static void *size_make(size_t size, uint32_t count)
{
	size_t *s = malloc(sizeof(*s));

	(void)count;
	if (s)
		*s = size;
	return s;
}

static void size_destroy(void *pool)
{
	free(pool);
}

#define SZ(pool)	(*(size_t *)(pool))

#if defined(PEER_MIMALLOC)
#define A_GET(pool)	mi_malloc(SZ(pool))
#define A_PUT(pool, o)	mi_free(o)
#define A_NAME		"mimalloc"
#else
#define A_GET(pool)	malloc(SZ(pool))
#define A_PUT(pool, o)	free(o)
#if defined(PEER_JEMALLOC)
#define A_NAME		"jemalloc"
#elif defined(PEER_TCMALLOC)
#define A_NAME		"tcmalloc"
#else
#define A_NAME		"glibc"
#endif
#endif
DEFINE_ROUND(alloc, A_GET, A_PUT)

#ifdef PEER_MAIN
/* ---- bufpool ------------------------------------------------------ */
/*
 * The host pools: 8 caches (the most threads a cell runs; more with
 * --threads, one per thread) with magazines of 256 (ABI 1.6), the most
 * that bound allows for 8192 buffers, or 1024 a thread (the caches hold
 * at most half the pool), sized for bursts of 256 as DPDK's lcore cache
 * of 256 is.  BENCH_MAG_SIZE=N overrides the
 * magazine size (0: the library's default, 63 at most).
 */
#define BP_CACHES	8
#define BP_MAG_SIZE	256

static void *bp_make_flags(size_t size, uint32_t count, unsigned int flags)
{
	const char *env = getenv("BENCH_MAG_SIZE");
	uint32_t mag = env ? (uint32_t)strtoul(env, NULL, 0) : BP_MAG_SIZE;
	struct bufpool_params p = {
		.buf_size = size, .buf_count = count,
		.caches = threads_max > BP_CACHES ? (uint32_t)threads_max :
						    BP_CACHES,
		.flags = flags | bench_spread_flag(size, BUFPOOL_F_SPREAD),
	};
	struct bufpool *pool;

	if (mag && !(flags & BUFPOOL_F_NO_CACHE)) {
		p.flags |= BUFPOOL_F_MAG_SIZE;
		p.mag_size = mag;
	}

	if (!device)
		return bufpool_create(&p);
	if (flags)
		return NULL;	/* the VM's pool is the module's */
	pool = bufpool_open(BUFPOOL_DEV_PATH);
	if (pool && bufpool_buf_size(pool) != size) {
		bufpool_close(pool);	/* the module was loaded for another */
		return NULL;
	}
	return pool;
}

static void *bp_make(size_t size, uint32_t count)
{
	return bp_make_flags(size, count, 0);
}

static void *bp0_make(size_t size, uint32_t count)
{
	return bp_make_flags(size, count, BUFPOOL_F_NO_CACHE);
}

/*
 * The pool of the producer-to-consumer cells (handoff, pipeline, procs):
 * its depot rotates (BUFPOOL_F_ROTATE, as bench/mp_bench's pool between
 * two processes), so that the producer's cache takes back the magazines
 * the consumer gave a round of the depot ago, each oldest first
 * (library 1.9.3), not the buffers the consumer's core read last: what
 * docs/DESIGN.md advises for a pool whose buffers go from one core to
 * another.  BENCH_ROTATE=0: one stack, as the burst and bulk cells'
 * pools, whose threads take back their own buffers.  The VM's pool is
 * the module's, whatever it was loaded with.
 */
static void *bp_xmake(size_t size, uint32_t count)
{
	return bp_make_flags(size, count,
			     device ? 0 : bench_rotate_flag(BUFPOOL_F_ROTATE));
}

static void bp_destroy(void *pool)
{
	bufpool_close(pool);
}

static void bp_thread_exit(void *pool)
{
	bufpool_flush_cache(pool);
}

#define BP_GET(pool)	bufpool_acquire(pool)
#define BP_PUT(pool, o)	bufpool_release(pool, o)
DEFINE_ROUND(bp, BP_GET, BP_PUT)

static long bp_bulk(void *pool, void **objs, int burst)
{
	unsigned int n = bufpool_acquire_bulk(pool, objs, (unsigned int)burst);
	unsigned int i;

	for (i = 0; i < n; i++)
		*(volatile char *)objs[i] = (char)i;
	bufpool_release_bulk(pool, objs, n);
	return burst - (long)n;
}

/*
 * The same source linked with the static library and -flto (make
 * bench/matrix-lto) names its rows bufpool-lto: the fast path inlined
 * into the caller, as a program that links statically gets it.
 */
#ifndef BP_PEER
#define BP_PEER		"bufpool"
#endif

/*
 * ---- floors: what this machine costs at the least ------------------
 * Not peers: designs with nothing a pool needs, to show how far any
 * per-thread cache or shared lock-free list can go here.
 * floor-lifo: a thread-local stack of pointers, inline, nothing shared,
 * no refill, no record of who holds what: the least any per-thread
 * cache does per take and give.
 * floor-cas: a tagged Treiber stack of indices, one CAS to take and one
 * to give, no records: the least any shared lock-free list does.
 */
#define FL_CHUNK	1024
struct fl_stack {		/* one thread's: nothing shared with another */
	_Alignas(64) uint32_t n;
	_Alignas(64) void *o[FL_CHUNK];
};

struct floor_pool {
	char *mem;
	size_t size;
	unsigned int shift;	/* size is a power of two */
	uint32_t count;
	_Atomic uint32_t next_chunk;
	struct fl_stack chunk[MAX_THREADS];
	_Alignas(64) _Atomic uint64_t head;	/* {tag:32, idx:32} */
	uint32_t *next;
};

static __thread struct fl_stack *fl_mine;

static void *floor_make(size_t size, uint32_t count)
{
	struct floor_pool *f = aligned_alloc(64, sizeof(*f));
	uint32_t i;

	if (!f)
		return NULL;
	memset(f, 0, sizeof(*f));
	f->size = size;
	f->shift = (unsigned int)__builtin_ctzl(size);
	f->count = count;
	f->mem = aligned_alloc(4096, (size_t)count * size);
	f->next = calloc(count, sizeof(*f->next));
	if (!f->mem || !f->next || count < (uint32_t)threads_max * FL_CHUNK) {
		free(f->mem);
		free(f->next);
		free(f);
		return NULL;
	}
	memset(f->mem, 0, (size_t)count * size);
	for (i = 0; i < count; i++)
		f->next[i] = i + 1 < count ? i + 1 : UINT32_MAX;
	atomic_init(&f->head, 0);
	return f;
}

static void floor_destroy(void *pool)
{
	struct floor_pool *f = pool;

	free(f->mem);
	free(f->next);
	free(f);
}

/* A thread's own chunk of the pool, full: threads_max at once. */
static void lifo_thread_init(void *pool)
{
	struct floor_pool *f = pool;
	uint32_t c = atomic_fetch_add(&f->next_chunk, 1) %
		     (uint32_t)threads_max, i;
	struct fl_stack *st = &f->chunk[c];

	for (i = 0; i < FL_CHUNK; i++)
		st->o[i] = f->mem + ((size_t)c * FL_CHUNK + i) * f->size;
	st->n = FL_CHUNK;
	fl_mine = st;
}

static inline void *lifo_get(void *pool)
{
	struct fl_stack *st = fl_mine;

	(void)pool;
	return st->n ? st->o[--st->n] : NULL;
}

static inline void lifo_put(void *pool, void *o)
{
	struct fl_stack *st = fl_mine;

	(void)pool;
	st->o[st->n++] = o;
}

#define LF_GET(pool)	lifo_get(pool)
#define LF_PUT(pool, o)	lifo_put(pool, o)
DEFINE_ROUND(lf, LF_GET, LF_PUT)

static inline void *cas_get(void *pool)
{
	struct floor_pool *f = pool;
	uint64_t old = atomic_load_explicit(&f->head, memory_order_acquire);
	uint32_t idx;

	do {
		idx = (uint32_t)old;
		if (idx >= f->count)
			return NULL;
	} while (!atomic_compare_exchange_weak_explicit(&f->head, &old,
			((old >> 32) + 1) << 32 | f->next[idx],
			memory_order_acq_rel, memory_order_acquire));
	return f->mem + ((size_t)idx << f->shift);
}

static inline void cas_put(void *pool, void *o)
{
	struct floor_pool *f = pool;
	uint32_t idx = (uint32_t)(((char *)o - f->mem) >> f->shift);
	uint64_t old = atomic_load_explicit(&f->head, memory_order_relaxed);

	do {
		f->next[idx] = (uint32_t)old;
	} while (!atomic_compare_exchange_weak_explicit(&f->head, &old,
			((old >> 32) + 1) << 32 | idx,
			memory_order_release, memory_order_relaxed));
}

#define CS_GET(pool)	cas_get(pool)
#define CS_PUT(pool, o)	cas_put(pool, o)
DEFINE_ROUND(cs, CS_GET, CS_PUT)

/*
 * ---- seed 1: a mutex-guarded map of size-class free lists ----------
 * From a transport's design (seeds/001): Mutex<HashMap<usize,
 * Vec<Vec<u8>>>>; acquire(size) takes the smallest class >= size (next
 * power of two, at least 128), pops a buffer or allocates one; release
 * pushes it back.  The map is a small open-addressed hash table keyed by
 * class size, the lists are stacks reserved to the pool's count.
 */
#define MM_SLOTS	32
struct mm_list {
	size_t class;		/* 0: empty slot */
	void **bufs;
	uint32_t n, cap;
};

struct mutexmap {
	size_t size;
	pthread_mutex_t lock;
	struct mm_list map[MM_SLOTS];
};

static size_t mm_class(size_t size)
{
	size_t c = 128;

	while (c < size)
		c <<= 1;
	return c;
}

static struct mm_list *mm_lookup(struct mutexmap *m, size_t class)
{
	unsigned int h = (unsigned int)((class * 0x9E3779B97F4A7C15ull) >> 59);

	while (m->map[h].class && m->map[h].class != class)
		h = (h + 1) % MM_SLOTS;
	return &m->map[h];
}

static void *mm_make(size_t size, uint32_t count)
{
	struct mutexmap *m = calloc(1, sizeof(*m));
	struct mm_list *l;

	if (!m)
		return NULL;
	m->size = size;
	pthread_mutex_init(&m->lock, NULL);
	l = mm_lookup(m, mm_class(size));
	l->class = mm_class(size);
	l->cap = count;
	l->bufs = calloc(count, sizeof(void *));
	if (!l->bufs) {
		free(m);
		return NULL;
	}
	return m;
}

static void mm_destroy(void *pool)
{
	struct mutexmap *m = pool;
	int i;

	for (i = 0; i < MM_SLOTS; i++) {
		while (m->map[i].n)
			free(m->map[i].bufs[--m->map[i].n]);
		free(m->map[i].bufs);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static void *mm_get(void *pool)
{
	struct mutexmap *m = pool;
	size_t class = mm_class(m->size);
	struct mm_list *l;
	void *b = NULL;

	pthread_mutex_lock(&m->lock);
	l = mm_lookup(m, class);
	if (l->n)
		b = l->bufs[--l->n];
	pthread_mutex_unlock(&m->lock);
	return b ? b : malloc(class);	/* allocate if needed */
}

static void mm_put(void *pool, void *b)
{
	struct mutexmap *m = pool;
	struct mm_list *l;

	pthread_mutex_lock(&m->lock);
	l = mm_lookup(m, mm_class(m->size));
	if (l->n < l->cap) {
		l->bufs[l->n++] = b;
		b = NULL;
	}
	pthread_mutex_unlock(&m->lock);
	free(b);
}

#define MM_GET(pool)	mm_get(pool)
#define MM_PUT(pool, o)	mm_put(pool, o)
DEFINE_ROUND(mm, MM_GET, MM_PUT)

/*
 * ---- seed 2: a bounded lock-free queue that allocates on exhaustion --
 * From a trading system's design (seeds/000): crossbeam's ArrayQueue
 * (a bounded MPMC queue with a sequence stamp per slot, Vyukov's),
 * pre-filled with every buffer; get pops or allocates a new, untracked
 * buffer; return pushes, or drops (frees) the buffer when full.
 */
struct bq_slot {
	_Atomic uint64_t seq;
	void *buf;
};

struct boundedq {
	_Atomic uint64_t head __attribute__((aligned(64)));
	_Atomic uint64_t tail __attribute__((aligned(64)));
	size_t size __attribute__((aligned(64)));
	uint64_t mask;
	struct bq_slot *slots;
};

static int bq_push(struct boundedq *q, void *buf)
{
	uint64_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);

	for (;;) {
		struct bq_slot *s = &q->slots[pos & q->mask];
		uint64_t seq = atomic_load_explicit(&s->seq,
						    memory_order_acquire);
		int64_t d = (int64_t)(seq - pos);

		if (d == 0) {
			if (atomic_compare_exchange_weak_explicit(&q->tail,
					&pos, pos + 1, memory_order_relaxed,
					memory_order_relaxed)) {
				s->buf = buf;
				atomic_store_explicit(&s->seq, pos + 1,
						      memory_order_release);
				return 0;
			}
		} else if (d < 0) {
			return -1;	/* full */
		} else {
			pos = atomic_load_explicit(&q->tail,
						   memory_order_relaxed);
		}
	}
}

static void *bq_pop(struct boundedq *q)
{
	uint64_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);

	for (;;) {
		struct bq_slot *s = &q->slots[pos & q->mask];
		uint64_t seq = atomic_load_explicit(&s->seq,
						    memory_order_acquire);
		int64_t d = (int64_t)(seq - (pos + 1));

		if (d == 0) {
			if (atomic_compare_exchange_weak_explicit(&q->head,
					&pos, pos + 1, memory_order_relaxed,
					memory_order_relaxed)) {
				void *buf = s->buf;

				atomic_store_explicit(&s->seq,
						      pos + q->mask + 1,
						      memory_order_release);
				return buf;
			}
		} else if (d < 0) {
			return NULL;	/* empty */
		} else {
			pos = atomic_load_explicit(&q->head,
						   memory_order_relaxed);
		}
	}
}

static void *bq_make(size_t size, uint32_t count)
{
	struct boundedq *q = aligned_alloc(64, sizeof(*q));
	uint64_t i, cap = 1;

	if (!q)
		return NULL;
	while (cap < count)
		cap <<= 1;
	memset(q, 0, sizeof(*q));
	q->size = size;
	q->mask = cap - 1;
	q->slots = calloc(cap, sizeof(*q->slots));
	if (!q->slots) {
		free(q);
		return NULL;
	}
	for (i = 0; i < cap; i++)
		atomic_init(&q->slots[i].seq, i);
	for (i = 0; i < count; i++)
		bq_push(q, malloc(size));	/* pre-allocated up front */
	return q;
}

static void bq_destroy(void *pool)
{
	struct boundedq *q = pool;
	void *b;

	while ((b = bq_pop(q)))
		free(b);
	free(q->slots);
	free(q);
}

static void *bq_get(void *pool)
{
	struct boundedq *q = pool;
	void *b = bq_pop(q);

	return b ? b : malloc(q->size);
}

static void bq_put(void *pool, void *b)
{
	if (bq_push(pool, b))
		free(b);
}

#define BQ_GET(pool)	bq_get(pool)
#define BQ_PUT(pool, o)	bq_put(pool, o)
DEFINE_ROUND(bq, BQ_GET, BQ_PUT)

/* ---- DPDK --------------------------------------------------------- */
#ifdef HAVE_DPDK
static void *dp_make_ops(size_t size, uint32_t count, unsigned int cache,
			 const char *ops)
{
	static unsigned int serial;
	struct rte_mempool *mp;
	char name[32];

	snprintf(name, sizeof(name), "mx%u", serial++);
	mp = rte_mempool_create_empty(name, count, size, cache, 0,
				      SOCKET_ID_ANY, 0);
	if (!mp)
		return NULL;
	if (rte_mempool_set_ops_byname(mp, ops, NULL) ||
	    rte_mempool_populate_default(mp) < 0) {
		rte_mempool_free(mp);
		return NULL;
	}
	return mp;
}

static void *dp_c256_make(size_t s, uint32_t n)
{
	return dp_make_ops(s, n, 256, "ring_mp_mc");
}

static void *dp_c256lfs_make(size_t s, uint32_t n)
{
	return dp_make_ops(s, n, 256, "lf_stack");
}

static void *dp_c0_make(size_t s, uint32_t n)
{
	return dp_make_ops(s, n, 0, "ring_mp_mc");
}

static void *dp_c0lfs_make(size_t s, uint32_t n)
{
	return dp_make_ops(s, n, 0, "lf_stack");
}

static void dp_destroy(void *pool)
{
	rte_mempool_free(pool);
}

static void dp_thread_init(void *pool)
{
	(void)pool;
	/* A non-EAL thread has no lcore id, hence no mempool cache. */
	if (rte_lcore_id() == LCORE_ID_ANY)
		rte_thread_register();
}

static void dp_thread_exit(void *pool)
{
	struct rte_mempool_cache *c =
		rte_mempool_default_cache(pool, rte_lcore_id());

	if (c)
		rte_mempool_cache_flush(c, pool);
	rte_thread_unregister();
}

static inline void *dp_get1(void *pool)
{
	void *o;

	return rte_mempool_get(pool, &o) ? NULL : o;
}

#define DP_GET(pool)	dp_get1(pool)
#define DP_PUT(pool, o)	rte_mempool_put(pool, o)
DEFINE_ROUND(dp, DP_GET, DP_PUT)

/* DPDK's bulk calls take all or nothing. */
static long dp_bulk(void *pool, void **objs, int burst)
{
	int i;

	if (rte_mempool_get_bulk(pool, objs, (unsigned int)burst))
		return burst;
	for (i = 0; i < burst; i++)
		*(volatile char *)objs[i] = (char)i;
	rte_mempool_put_bulk(pool, objs, (unsigned int)burst);
	return 0;
}

/*
 * A user-owned cache (dpdk-uc256): the mempool has no lcore cache
 * (cache_size 0); each thread makes a cache of its own with
 * rte_mempool_cache_create(256) and passes it to every
 * rte_mempool_generic_get/put, as a program whose threads are not EAL
 * lcores does.  The thread flushes it into the pool and frees it when
 * it is done.
 */
#define DP_UC_SIZE	256
static __thread struct rte_mempool_cache *dp_uc;

static void *dp_uc256_make(size_t s, uint32_t n)
{
	return dp_make_ops(s, n, 0, "ring_mp_mc");
}

static void dp_uc_thread_init(void *pool)
{
	(void)pool;
	dp_uc = rte_mempool_cache_create(DP_UC_SIZE, SOCKET_ID_ANY);
	if (!dp_uc) {
		fprintf(stderr, "rte_mempool_cache_create failed\n");
		exit(1);
	}
}

static void dp_uc_thread_exit(void *pool)
{
	rte_mempool_cache_flush(dp_uc, pool);
	rte_mempool_cache_free(dp_uc);
	dp_uc = NULL;
}

static inline void *dpu_get1(void *pool)
{
	void *o;

	return rte_mempool_generic_get(pool, &o, 1, dp_uc) ? NULL : o;
}

#define DPU_GET(pool)	dpu_get1(pool)
#define DPU_PUT(pool, o) rte_mempool_generic_put(pool, &(o), 1, dp_uc)
DEFINE_ROUND(dpu, DPU_GET, DPU_PUT)

static long dpu_bulk(void *pool, void **objs, int burst)
{
	int i;

	if (rte_mempool_generic_get(pool, objs, (unsigned int)burst, dp_uc))
		return burst;
	for (i = 0; i < burst; i++)
		*(volatile char *)objs[i] = (char)i;
	rte_mempool_generic_put(pool, objs, (unsigned int)burst, dp_uc);
	return 0;
}
#endif /* HAVE_DPDK */
#endif /* PEER_MAIN */

static struct peer peers[] = {
#ifdef PEER_MAIN
	{ BP_PEER, bp_make, bp_destroy, bp_round, bp_getf, bp_putf, NULL,
	  bp_thread_exit, NULL, bp_bulk, 0, bp_xmake },
	{ BP_PEER "-nocache", bp0_make, bp_destroy, bp_round, bp_getf, bp_putf,
	  NULL, NULL, NULL, bp_bulk, 0, NULL },
	{ "floor-lifo", floor_make, floor_destroy, lf_round, lf_getf, lf_putf,
	  lifo_thread_init, NULL, NULL, NULL, 1, NULL },
	{ "floor-cas", floor_make, floor_destroy, cs_round, cs_getf, cs_putf,
	  NULL, NULL, NULL, NULL, 1, NULL },
#ifdef HAVE_DPDK
	{ DP_NAME("c256"), dp_c256_make, dp_destroy, dp_round, dp_getf,
	  dp_putf, dp_thread_init, dp_thread_exit, NULL, dp_bulk, 0, NULL },
	{ DP_NAME("uc256"), dp_uc256_make, dp_destroy, dpu_round, dpu_getf,
	  dpu_putf, dp_uc_thread_init, dp_uc_thread_exit, NULL, dpu_bulk, 0,
	  NULL },
	{ DP_NAME("c256-lfs"), dp_c256lfs_make, dp_destroy, dp_round, dp_getf,
	  dp_putf, dp_thread_init, dp_thread_exit, NULL, dp_bulk, 0, NULL },
	{ DP_NAME("c0"), dp_c0_make, dp_destroy, dp_round, dp_getf, dp_putf,
	  dp_thread_init, dp_thread_exit, NULL, dp_bulk, 0, NULL },
	{ DP_NAME("c0-lfs"), dp_c0lfs_make, dp_destroy, dp_round, dp_getf,
	  dp_putf, dp_thread_init, dp_thread_exit, NULL, dp_bulk, 0, NULL },
#endif
	{ "seed-mutexmap", mm_make, mm_destroy, mm_round, mm_getf, mm_putf,
	  NULL, NULL, NULL, NULL, 0, NULL },
	{ "seed-boundedq", bq_make, bq_destroy, bq_round, bq_getf, bq_putf,
	  NULL, NULL, NULL, NULL, 0, NULL },
#endif
	{ A_NAME, size_make, size_destroy, alloc_round, alloc_getf, alloc_putf,
	  NULL, NULL, NULL, NULL, 0, NULL },
};

#define NPEERS	((int)(sizeof(peers) / sizeof(peers[0])))

/* ------------------------------------------------------------------ */
/* Results                                                            */

struct series {
	double *ns;		/* ns per operation, per batch */
	long n;
	long ops;
	long failed;
	uint64_t t0, t1;
};

static int series_init(struct series *s)
{
	memset(s, 0, sizeof(*s));
	s->ns = malloc(MAX_BATCHES * sizeof(double));
	return s->ns ? 0 : -1;
}

static void series_add(struct series *s, uint64_t t0, uint64_t t1, long ops)
{
	if (s->n < MAX_BATCHES)
		s->ns[s->n++] = (double)(t1 - t0) / ops;
	s->ops += ops;
}

/* One CSV row from the series of all threads of a measurement. */
static void report(const char *scenario, size_t size, int threads, int burst,
		   const char *peer, struct series *s, int ns)
{
	long n = 0, ops = 0, failed = 0, i;
	uint64_t first = UINT64_MAX, last = 0;
	double *all;

	for (i = 0; i < ns; i++)
		n += s[i].n;
	all = malloc((n ? n : 1) * sizeof(double));
	if (!all)
		return;
	n = 0;
	for (i = 0; i < ns; i++) {
		memcpy(all + n, s[i].ns, s[i].n * sizeof(double));
		n += s[i].n;
		ops += s[i].ops;
		failed += s[i].failed;
		if (s[i].ops && s[i].t0 < first)
			first = s[i].t0;
		if (s[i].t1 > last)
			last = s[i].t1;
	}
	qsort(all, n, sizeof(double), cmp_double);
	printf("%s,%zu,%d,%d,%s,%.2f,%.2f,%.2f,%.2f,%.2f,%ld\n", scenario,
	       size, threads, burst, peer, pct(all, n, 0.5), pct(all, n, 0.99),
	       pct(all, n, 0.999), n ? all[n - 1] : 0,
	       last > first ? ops / ((last - first) / 1e3) : 0, failed);
	fflush(stdout);
	free(all);
}

/* ------------------------------------------------------------------ */
/* burst: every thread takes B, writes, gives B back                  */

struct burst_run {
	struct peer *p;
	long (*round)(void *pool, void **objs, int burst);
	int threads, burst;
	pthread_barrier_t start;
};

/* The most threads of a cell: 64 in the shared scenario. */
#define MAX_RUN_THREADS	64

/* In a boxed cell's child (run_boxed): the peer's round, counted. */
static long (*cell_round)(void *pool, void **objs, int burst);

struct burst_arg {
	struct burst_run *run;
	int id;
	struct series s;
};

static void *burst_thread(void *arg)
{
	struct burst_arg *a = arg;
	struct burst_run *r = a->run;
	struct peer *p = r->p;
	void *objs[MAX_BURST];
	int rounds = r->burst >= 1000 ? 1 : 1000 / r->burst, i;

	if (r->threads <= ncpus)	/* one per CPU; else oversubscribed */
		pin(a->id);
	if (p->thread_init)
		p->thread_init(p->pool);
	for (i = 0; i < 10; i++)	/* warm up: caches bound, memory touched */
		r->round(p->pool, objs, r->burst);
	pthread_barrier_wait(&r->start);
	a->s.t0 = now_ns();
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t t0 = now_ns();

		for (i = 0; i < rounds &&
		     !atomic_load_explicit(&stop, memory_order_relaxed); i++)
			a->s.failed += r->round(p->pool, objs, r->burst);
		if (i)
			series_add(&a->s, t0, now_ns(), (long)i * r->burst);
	}
	a->s.t1 = now_ns();
	if (p->thread_exit)
		p->thread_exit(p->pool);
	return NULL;
}

/*
 * One cell of threads doing rounds; its row is named scenario.  check,
 * when there is one, is called after the threads are done with the
 * cell's operation count and returns how many of them were not what the
 * cell claims (added to failed).
 */
static void run_cell(struct peer *p, const char *scenario, size_t size,
		     int threads, int burst, int bulk,
		     long (*check)(struct peer *p, long ops))
{
	struct burst_run r = { .p = p, .threads = threads, .burst = burst,
			       .round = bulk ? p->bulk : p->round };

	if (cell_round)		/* a boxed cell's (run_boxed) */
		r.round = cell_round;
	struct burst_arg a[MAX_RUN_THREADS];
	struct series s[MAX_RUN_THREADS];
	pthread_t t[MAX_RUN_THREADS];
	long ops = 0;
	int i;

	pthread_barrier_init(&r.start, NULL, threads + 1);
	atomic_store(&stop, 0);
	for (i = 0; i < threads; i++) {
		a[i] = (struct burst_arg){ .run = &r, .id = i };
		if (series_init(&a[i].s))
			exit(1);
		pthread_create(&t[i], NULL, burst_thread, &a[i]);
	}
	pthread_barrier_wait(&r.start);
	nap(secs);
	atomic_store(&stop, 1);
	for (i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		s[i] = a[i].s;
		/* warm-up rounds included: the pool's counters see them */
		ops += s[i].ops + 10L * burst - s[i].failed;
	}
	if (check)
		s[0].failed += check(p, ops);
	report(scenario, size, threads, burst, p->name, s, threads);
	for (i = 0; i < threads; i++)
		free(s[i].ns);
	pthread_barrier_destroy(&r.start);
}

static void run_burst(struct peer *p, size_t size, int threads, int burst,
		      int bulk)
{
	run_cell(p, bulk ? "bulk" : "burst", size, threads, burst, bulk, NULL);
}

/* ------------------------------------------------------------------ */
/* handoff and pipeline: producer -> SPSC ring -> consumer            */

struct spsc {
	_Atomic uint64_t head __attribute__((aligned(64)));	/* consumer */
	_Atomic uint64_t tail __attribute__((aligned(64)));	/* producer */
	_Atomic uint64_t slot[RING] __attribute__((aligned(64)));
};

static void spsc_push(struct spsc *q, uint64_t v)
{
	uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);

	while (t - atomic_load_explicit(&q->head, memory_order_acquire) ==
	       RING)
		sched_yield();
	atomic_store_explicit(&q->slot[t % RING], v, memory_order_relaxed);
	atomic_store_explicit(&q->tail, t + 1, memory_order_release);
}

static uint64_t spsc_pop(struct spsc *q)
{
	uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed), v;

	while (atomic_load_explicit(&q->tail, memory_order_acquire) == h)
		sched_yield();
	v = atomic_load_explicit(&q->slot[h % RING], memory_order_relaxed);
	atomic_store_explicit(&q->head, h + 1, memory_order_release);
	return v;
}

#define STOP	UINT64_MAX

struct ho_run {
	struct peer *p;
	size_t len;		/* bytes written and read per message */
	struct spsc *q;
	pthread_barrier_t start;
	uint64_t deadline;
	struct series prod;
	uint64_t sum;
};

static void *ho_consumer(void *arg)
{
	struct ho_run *r = arg;
	struct peer *p = r->p;
	uint64_t v, sum = 0;

	pin(1);
	if (p->thread_init)
		p->thread_init(p->pool);
	pthread_barrier_wait(&r->start);
	while ((v = spsc_pop(r->q)) != STOP) {
		void *obj = (void *)(uintptr_t)v;

		sum += drain_msg(obj, r->len);
		p->put(p->pool, obj);
	}
	r->sum = sum;
	if (p->thread_exit)
		p->thread_exit(p->pool);
	return NULL;
}

static void run_handoff(struct peer *p, size_t size, int whole)
{
	struct ho_run r = { .p = p, .len = whole ? size : 64 };
	struct peer *pp = p;
	pthread_t t;
	uint64_t seq = 0;
	void *obj;
	int i;

	if (r.len > size)
		r.len = size;
	xcore_gate(whole ? "pipeline" : "handoff", size, 2, 1, p->name);
	r.q = aligned_alloc(64, sizeof(*r.q));
	if (!r.q || series_init(&r.prod))
		exit(1);
	memset(r.q, 0, sizeof(*r.q));
	pthread_barrier_init(&r.start, NULL, 2);
	pthread_create(&t, NULL, ho_consumer, &r);
	pin(0);
	if (pp->thread_init)
		pp->thread_init(pp->pool);
	pthread_barrier_wait(&r.start);
	r.deadline = now_ns() + (uint64_t)(secs * 1e9);
	r.prod.t0 = now_ns();
	for (;;) {
		uint64_t t0 = now_ns(), t1;

		for (i = 0; i < 1000; i++) {
			while (!(obj = pp->get(pp->pool))) {
				r.prod.failed++;	/* the consumer frees */
				sched_yield();
			}
			fill(obj, r.len, seq++);
			spsc_push(r.q, (uint64_t)(uintptr_t)obj);
		}
		t1 = now_ns();
		series_add(&r.prod, t0, t1, 1000);
		if (t1 > r.deadline)
			break;
	}
	spsc_push(r.q, STOP);
	pthread_join(t, NULL);
	r.prod.t1 = now_ns();	/* the consumer is done too */
	if (pp->thread_exit)
		pp->thread_exit(pp->pool);
	unpin();
	report(whole ? "pipeline" : "handoff", size, 2, 1, p->name, &r.prod, 1);
	free(r.prod.ns);
	free(r.q);
	pthread_barrier_destroy(&r.start);
}

#ifdef PEER_MAIN
/* ------------------------------------------------------------------ */
/* procs: the pipeline across two processes                           */

/*
 * copy-ring: COPY_SLOTS slots of the message size in shared memory; the
 * producer builds each message in its own buffer and copies it in, the
 * consumer copies it out and reads it; a second ring returns free slots.
 */
#define COPY_SLOTS	64

static void run_procs(const char *peer, size_t size)
{
	int is_bp = !strcmp(peer, "bufpool");
	size_t shm_len = sizeof(struct spsc) * 2 +
			 (is_bp ? 0 : COPY_SLOTS * size);
	struct spsc *q, *back;
	struct bufpool *bp = NULL;
	struct series s;
	char *slots, *local;
	uint64_t seq = 0, v;
	pid_t pid;
	int i, status;

	q = mmap(NULL, shm_len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (q == MAP_FAILED)
		return;
	xcore_gate("procs", size, 2, 1, peer);
	back = q + 1;		/* free slot numbers, consumer -> producer */
	slots = (char *)(q + 2);
	local = malloc(size);
	if (!local || series_init(&s))
		exit(1);
	if (is_bp) {
		bp = bp_xmake(size, pool_count());
		if (!bp) {
			munmap(q, shm_len);
			free(local);
			free(s.ns);
			return;
		}
	}
	/*
	 * As many messages in flight for both: bufpool takes a credit from
	 * the return ring per message, copy-ring a free slot.
	 */
	for (i = 0; i < COPY_SLOTS; i++)
		spsc_push(back, (uint64_t)i);

	pid = fork();
	if (pid == 0) {
		struct bufpool *mine = NULL;
		uint64_t sum = 0;

		pin(1);
		if (is_bp) {
			mine = bufpool_open_fd(bufpool_fd(bp));
			if (!mine)
				_exit(1);
		}
		while ((v = spsc_pop(q)) != STOP) {
			if (is_bp) {
				if (bufpool_adopt(mine, (uint32_t)v))
					_exit(2);
				sum += drain_msg(bufpool_addr(mine, (uint32_t)v),
						 size);
				bufpool_release_index(mine, (uint32_t)v);
				spsc_push(back, 0);	/* a credit */
			} else {
				memcpy(local, slots + v * size, size);
				spsc_push(back, v);
				sum += drain_msg(local, size);
			}
		}
		_exit(sum == 1);	/* 0, but the reads happened */
	}
	pin(0);
	s.t0 = now_ns();
	for (uint64_t deadline = s.t0 + (uint64_t)(secs * 1e9);;) {
		uint64_t t0 = now_ns(), t1;

		for (i = 0; i < 1000; i++) {
			if (is_bp) {
				uint32_t idx;

				spsc_pop(back);		/* a credit */
				while (bufpool_acquire_index(bp, &idx)) {
					s.failed++;
					sched_yield();
				}
				fill(bufpool_addr(bp, idx), size, seq++);
				bufpool_handoff(bp, idx);
				spsc_push(q, idx);
			} else {
				fill(local, size, seq++);
				v = spsc_pop(back);
				memcpy(slots + v * size, local, size);
				spsc_push(q, v);
			}
		}
		t1 = now_ns();
		series_add(&s, t0, t1, 1000);
		if (t1 > deadline)
			break;
	}
	spsc_push(q, STOP);
	waitpid(pid, &status, 0);
	s.t1 = now_ns();
	unpin();
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		report("procs", size, 2, 1, is_bp ? "bufpool" : "copy-ring",
		       &s, 1);
	if (bp)
		bufpool_close(bp);
	free(local);
	free(s.ns);
	munmap(q, shm_len);
}
#endif

#ifdef PEER_MAIN
/* ------------------------------------------------------------------ */
/* queue: bufpool's queues of indices beside DPDK's rte_ring          */

/*
 * One queue of QCAP entries, a 2 KiB pool.  Cells (threads, burst):
 *   1 thread    enqueue then dequeue, in the same thread: the pair's
 *               latency, nothing crosses a core (SP/SC)
 *   2 threads   a producer and the consumer (SP/SC)
 *   3 threads   two producers and the consumer: on 2 cores,
 *               oversubscribed (MP/SC)
 * The threads of a cell are not pinned: on a shared 2-core machine a
 * thread pinned behind another process's on its core stalls its peer for
 * whole time slices, and such cells swung tenfold from run to run.
 * burst 1: one entry per call; burst 32: the bulk (bufpool) and burst
 * (rte_ring) calls of up to 32.  Figures are ns per entry that went
 * through (the consumer's batches of about 1000 for the threaded
 * cells); failed counts entries out of order or refused for a reason
 * other than full/empty (0 unless something is wrong).
 *
 * Both carry the same entries: each producer owns QHELD buffers of the
 * pool (acquired before the clock starts) and enqueues them round robin;
 * with QHELD > QCAP, the one it enqueues now was dequeued before its
 * last enqueue went in, so bufpool's producer still holds it again (the
 * consumer is the same client).  bufpool's single calls carry indices,
 * its bulk calls and every rte_ring call carry the buffers' addresses.
 */
#define QCAP		1024
#define QHELD		(2 * QCAP)
#define QBURST		32

struct qcell;

struct qfns {
	void (*single)(struct qcell *c);
	void *(*prod)(void *arg);
	void (*cons)(struct qcell *c);
};

struct qparg {
	struct qcell *c;
	int p;
};

struct qcell {
	struct bufpool *pool;
	struct bufpool_queue *bq;
#ifdef HAVE_DPDK
	struct rte_ring *ring;
#endif
	int nprod, burst;
	uint32_t idx[2][QHELD];
	void *ptr[2][QHELD];
	pthread_barrier_t start;
	_Atomic long produced;	/* entries enqueued by the producers done */
	_Atomic int done;	/* producers done */
	_Atomic long failed_prod;
	long failed;
	const struct qfns *fns;
	struct series s;
};

/* Waiting on a full or empty queue: pause, and now and then yield. */
static inline void qwait(unsigned int *tries)
{
	if (++*tries % 64)
		__builtin_ia32_pause();
	else
		sched_yield();
}

/*
 * The operations: PUT1 0 (went in), 1 (full, try again), -1 (refused);
 * GET1 0 with the entry's token, 1 (empty), -1; PUTN and GETN how many.
 */
static inline int bpq_put1(struct qcell *c, int p, long n)
{
	if (!bufpool_enqueue_index(c->bq, c->idx[p][n % QHELD]))
		return 0;
	return errno == ENOBUFS || errno == EAGAIN ? 1 : -1;
}

static inline int bpq_get1(struct qcell *c, uint64_t *tok)
{
	uint32_t idx;

	if (!bufpool_dequeue_index(c->bq, &idx)) {
		*tok = idx;
		return 0;
	}
	return errno == EAGAIN ? 1 : -1;
}

#define BPQ_TOKEN(c, n)		((uint64_t)(c)->idx[0][(n) % QHELD])
#define BPQ_PUTN(c, objs, k)	bufpool_enqueue_bulk((c)->bq, objs, k)
#define BPQ_GETN(c, objs, k)	bufpool_dequeue_bulk((c)->bq, objs, k)

#ifdef HAVE_DPDK
#define DEFINE_RING_PUT1(name, ENQ)					\
static inline int name(struct qcell *c, int p, long n)			\
{									\
	return ENQ(c->ring, c->ptr[p][n % QHELD]) ? 1 : 0;		\
}
DEFINE_RING_PUT1(rsp_put1, rte_ring_sp_enqueue)
DEFINE_RING_PUT1(rmp_put1, rte_ring_mp_enqueue)

static inline int ring_get1(struct qcell *c, uint64_t *tok)
{
	void *o;

	if (rte_ring_sc_dequeue(c->ring, &o))
		return 1;
	*tok = (uint64_t)(uintptr_t)o;
	return 0;
}

#define RING_TOKEN(c, n)	((uint64_t)(uintptr_t)(c)->ptr[0][(n) % QHELD])
#define RSP_PUTN(c, objs, k)	\
	rte_ring_sp_enqueue_burst((c)->ring, objs, k, NULL)
#define RMP_PUTN(c, objs, k)	\
	rte_ring_mp_enqueue_burst((c)->ring, objs, k, NULL)
#define RING_GETN(c, objs, k)	\
	rte_ring_sc_dequeue_burst((c)->ring, objs, k, NULL)
#endif

/*
 * The cells of one peer and mode, with direct calls in the loops:
 * name_single (1 thread), name_prod and name_cons (thread bodies).
 */
#define DEFINE_QCELLS(name, PUT1, GET1, TOKEN, PUTN, GETN)		\
static void name##_single(struct qcell *c)				\
{									\
	int b = c->burst, rounds = 1000 / b, i, j, w;			\
	void *out[QBURST];						\
	uint64_t tok;							\
									\
	for (w = -10; !atomic_load_explicit(&stop, memory_order_relaxed);\
	     w++) {							\
		uint64_t t0 = now_ns();					\
									\
		for (i = 0; i < rounds; i++) {				\
			if (b == 1) {					\
				if (PUT1(c, 0, 0) ||			\
				    GET1(c, &tok) || tok != TOKEN(c, 0))\
					c->failed++;			\
				continue;				\
			}						\
			if (PUTN(c, c->ptr[0], b) != (unsigned int)b ||	\
			    GETN(c, out, b) != (unsigned int)b)		\
				c->failed++;				\
			for (j = 0; j < b; j++)				\
				if (out[j] != c->ptr[0][j])		\
					c->failed++;			\
		}							\
		if (w == 0)		/* warmed up: the clock starts */\
			c->s.t0 = t0;					\
		if (w >= 0)						\
			series_add(&c->s, t0, now_ns(), (long)rounds * b);\
	}								\
	c->s.t1 = now_ns();						\
}									\
									\
static void *name##_prod(void *arg)					\
{									\
	struct qparg *a = arg;						\
	struct qcell *c = a->c;						\
	unsigned int tries = 0, k;					\
	long n = 0, failed = 0;						\
	int r;								\
									\
	pthread_barrier_wait(&c->start);				\
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {	\
		if (c->burst == 1) {					\
			r = PUT1(c, a->p, n);				\
			if (!r) {					\
				n++;					\
				tries = 0;				\
				continue;				\
			}						\
			failed += r < 0;				\
			qwait(&tries);					\
			continue;					\
		}							\
		/* Up to 32, not past the end of the held set. */	\
		k = QHELD - n % QHELD;					\
		k = PUTN(c, &c->ptr[a->p][n % QHELD],			\
			 k < QBURST ? k : QBURST);			\
		if (k) {						\
			n += k;						\
			tries = 0;					\
		} else {						\
			qwait(&tries);					\
		}							\
	}								\
	atomic_fetch_add(&c->produced, n);				\
	atomic_fetch_add_explicit(&c->failed_prod, failed,		\
				  memory_order_relaxed);		\
	atomic_fetch_add_explicit(&c->done, 1, memory_order_release);	\
	return NULL;							\
}									\
									\
static void name##_cons(struct qcell *c)				\
{									\
	unsigned int tries = 0, k, j;					\
	long n = 0, mark = 0;						\
	void *out[QBURST];						\
	uint64_t tok, t0;						\
	int r;								\
									\
	pthread_barrier_wait(&c->start);				\
	c->s.t0 = t0 = now_ns();					\
	for (;;) {							\
		if (c->burst == 1) {					\
			r = GET1(c, &tok);				\
			if (!r) {					\
				if (c->nprod == 1 && tok != TOKEN(c, n))\
					c->failed++;			\
				n++;					\
			}						\
			c->failed += r < 0;				\
			k = !r;						\
		} else {						\
			k = GETN(c, out, QBURST);			\
			if (c->nprod == 1)				\
				for (j = 0; j < k; j++)			\
					if (out[j] != c->ptr[0][(n + j) % QHELD])\
						c->failed++;		\
			n += k;						\
		}							\
		if (k) {						\
			tries = 0;					\
			if (n - mark >= 1000) {				\
				uint64_t t1 = now_ns();			\
									\
				series_add(&c->s, t0, t1, n - mark);	\
				t0 = t1;				\
				mark = n;				\
			}						\
			continue;					\
		}							\
		if (atomic_load_explicit(&c->done, memory_order_acquire) ==\
		    c->nprod &&						\
		    atomic_load(&c->produced) == n)			\
			break;						\
		qwait(&tries);						\
	}								\
	c->s.t1 = now_ns();						\
}

DEFINE_QCELLS(bpq, bpq_put1, bpq_get1, BPQ_TOKEN, BPQ_PUTN, BPQ_GETN)
static const struct qfns bpq_fns = { bpq_single, bpq_prod, bpq_cons };
#ifdef HAVE_DPDK
DEFINE_QCELLS(rsp, rsp_put1, ring_get1, RING_TOKEN, RSP_PUTN, RING_GETN)
DEFINE_QCELLS(rmp, rmp_put1, ring_get1, RING_TOKEN, RMP_PUTN, RING_GETN)
static const struct qfns rsp_fns = { rsp_single, rsp_prod, rsp_cons };
static const struct qfns rmp_fns = { rmp_single, rmp_prod, rmp_cons };
#endif

static void *q_single_thread(void *arg)
{
	struct qcell *c = arg;

	pin(0);
	c->fns->single(c);
	return NULL;
}

static void *q_cons_thread(void *arg)
{
	struct qcell *c = arg;

	c->fns->cons(c);
	return NULL;
}

/* One cell: nprod 0 is the single thread, else producers + consumer. */
static void q_cell(struct qcell *c, const char *peer, const struct qfns *f,
		   int nprod, int burst)
{
	struct qparg pa[2];
	pthread_t t[3];
	int i;

	c->fns = f;
	c->nprod = nprod;
	c->burst = burst;
	c->failed = 0;
	atomic_store(&c->failed_prod, 0);
	atomic_store(&c->produced, 0);
	atomic_store(&c->done, 0);
	atomic_store(&stop, 0);
	if (nprod)
		xcore_gate("queue", bufpool_buf_size(c->pool), nprod + 1, burst,
			   peer);
	if (series_init(&c->s))
		exit(1);
	if (!nprod) {
		pthread_create(&t[0], NULL, q_single_thread, c);
		nap(secs);
		atomic_store(&stop, 1);
		pthread_join(t[0], NULL);
	} else {
		pthread_barrier_init(&c->start, NULL, nprod + 2);
		for (i = 0; i < nprod; i++) {
			pa[i] = (struct qparg){ c, i };
			pthread_create(&t[i], NULL, f->prod, &pa[i]);
		}
		pthread_create(&t[nprod], NULL, q_cons_thread, c);
		pthread_barrier_wait(&c->start);
		nap(secs);
		atomic_store(&stop, 1);
		for (i = 0; i <= nprod; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&c->start);
	}
	c->s.failed = c->failed + atomic_load(&c->failed_prod);
	report("queue", bufpool_buf_size(c->pool), nprod ? nprod + 1 : 1,
	       burst, peer, &c->s, 1);
	free(c->s.ns);
}

static void run_queue(int want_bp, int want_ring)
{
	struct bufpool_queue *sp = NULL, *mp = NULL;
	struct qcell *c = calloc(1, sizeof(*c));
#ifdef HAVE_DPDK
	struct rte_ring *rsp = NULL, *rmp = NULL;
#endif
	int i, p, b;

	if (!c)
		exit(1);
	c->pool = bp_make(2048, pool_count());
	if (!c->pool) {
		fprintf(stderr, "# queue: no pool of 2048 B buffers\n");
		free(c);
		return;
	}
	for (p = 0; p < 2; p++)
		for (i = 0; i < QHELD; i++) {
			if (bufpool_acquire_index(c->pool, &c->idx[p][i])) {
				fprintf(stderr, "# queue: %d buffers to hold: %s\n",
					2 * QHELD, strerror(errno));
				goto out;
			}
			c->ptr[p][i] = bufpool_addr(c->pool, c->idx[p][i]);
		}
	if (want_bp) {
		sp = bufpool_queue_open(c->pool, "bench-sp",
					BUFPOOL_QUEUE_CREATE |
					BUFPOOL_QUEUE_SINGLE_PRODUCER |
					BUFPOOL_QUEUE_PRODUCE |
					BUFPOOL_QUEUE_CONSUME, QCAP);
		mp = bufpool_queue_open(c->pool, "bench-mp",
					BUFPOOL_QUEUE_CREATE |
					BUFPOOL_QUEUE_PRODUCE |
					BUFPOOL_QUEUE_CONSUME, QCAP);
		if (!sp || !mp)
			fprintf(stderr, "# bufpool-queue: no queue: %s\n",
				strerror(errno));
	}
#ifdef HAVE_DPDK
	if (want_ring) {
		rsp = rte_ring_create("bench_sp", QCAP, SOCKET_ID_ANY,
				      RING_F_SP_ENQ | RING_F_SC_DEQ |
				      RING_F_EXACT_SZ);
		rmp = rte_ring_create("bench_mp", QCAP, SOCKET_ID_ANY,
				      RING_F_SC_DEQ | RING_F_EXACT_SZ);
		if (!rsp || !rmp)
			fprintf(stderr, "# rte_ring: no ring\n");
	}
#else
	(void)want_ring;
#endif
	for (i = 0; i < 3; i++)		/* 1 thread, SP/SC, MP/SC */
		for (b = 1; b <= QBURST; b += QBURST - 1) {
			if (sp && mp) {
				c->bq = i == 2 ? mp : sp;
				q_cell(c, "bufpool-queue", &bpq_fns, i, b);
			}
#ifdef HAVE_DPDK
			if (rsp && rmp) {
				c->ring = i == 2 ? rmp : rsp;
				q_cell(c, DP_RING_NAME, i == 2 ? &rmp_fns :
				       &rsp_fns, i, b);
			}
#endif
		}
	unpin();
#ifdef HAVE_DPDK
	rte_ring_free(rsp);
	rte_ring_free(rmp);
#endif
out:
	bufpool_close(c->pool);	/* the queues and the held buffers with it */
	free(c);
}
#endif

#ifdef PEER_MAIN
/* ------------------------------------------------------------------ */
/* shared: bufpool's shared path (issue 17) beside its cached path    */

/*
 * ns per acquire+release pair, 2 KiB objects, bursts of 1 and 32 (take
 * B, write a byte of each, give them back), at 1 and 2 threads (pinned
 * one per core) and 64 threads (on the 2 cores), one pool of
 * SHARED_COUNT objects per peer:
 *   bufpool         every thread has a cache (the pool has SHARED_CACHES)
 *   bufpool-shared  no worker has one: the pool has one cache, which the
 *                   main thread claims (an acquire and a release, and it
 *                   keeps the cache) before the workers start, so that
 *                   every worker works on the shared path
 *   floor-cas       not a peer: a bare tagged Treiber stack, the least a
 *                   shared path's pop and push cost here
 *   dpdk-c0         rte_mempool without a cache: each get and put on its
 *                   shared ring (ring_mp_mc); its 64-thread cells run
 *                   boxed (run_boxed): the ring stalls there
 *   dpdk-c0-lfs     the same on DPDK's lock-free stack (lf_stack)
 *   dpdk-c256       rte_mempool with its lcore cache (256), for reference
 *   dpdk-uc256      rte_mempool without one, through a cache of 256 each
 *                   thread owns (rte_mempool_cache_create)
 * bufpool_stats checks each bufpool cell: its failed column counts the
 * acquires that did not take the path the row names (shared_acquires
 * must move by the cell's acquires for bufpool-shared, not at all for
 * bufpool), besides acquires that found the pool empty.  SHARED_COUNT is
 * large enough that 64 DPDK lcore caches (up to 1.5 x 256 each) leave
 * the ring objects to give.  memfd pools only: a device pool's caches
 * are the module's.
 */
#define SHARED_COUNT	32768
#define SHARED_CACHES	72
#define SHARED_SIZE	2048

static struct bufpool_stats shared_base;


static void *sh_make(size_t size, uint32_t count, uint32_t caches)
{
	struct bufpool_params p = {
		.buf_size = size, .buf_count = count, .caches = caches,
		.flags = bench_spread_flag(size, BUFPOOL_F_SPREAD),
	};

	return bufpool_create(&p);
}

static void *sh_cached_make(size_t size, uint32_t count)
{
	return sh_make(size, count, SHARED_CACHES);
}

static void *sh_shared_make(size_t size, uint32_t count)
{
	struct bufpool *pool = sh_make(size, count, 1);
	void *b;

	if (!pool)
		return NULL;
	/* The pool's one cache, to this thread, which keeps it. */
	b = bufpool_acquire(pool);
	if (!b) {
		fprintf(stderr, "# shared: the main thread's acquire: %s\n",
			strerror(errno));
		bufpool_close(pool);
		return NULL;
	}
	bufpool_release(pool, b);
	return pool;
}

/* Acquires (of ops) that did not take the path the row names. */
static long sh_check(struct peer *p, long ops)
{
	int want_shared = !strcmp(p->name, "bufpool-shared");
	struct bufpool_stats st;
	long shared, off;

	if (bufpool_stats(p->pool, &st)) {
		fprintf(stderr, "# shared: %s: bufpool_stats: %s\n", p->name,
			strerror(errno));
		return ops;
	}
	shared = (long)(st.shared_acquires - shared_base.shared_acquires);
	off = want_shared ? (ops > shared ? ops - shared : 0) : shared;
	if (off)
		fprintf(stderr, "# shared: %s: %ld of %ld acquires %s the shared path\n",
			p->name, off, ops, want_shared ? "did not take" : "took");
	return off;
}

/*
 * A cell that may not end: an rte_ring (the mempool without a cache)
 * with 64 threads on 2 cores.  A thread preempted between its ring
 * reservation and its tail update holds up every later one, which spins
 * until it runs again; with 64 threads each pair then takes up to
 * seconds.  The cell runs in a child process, killed after its time and
 * BOX_GRACE_S more; if it had to be killed, the row is the cell's
 * average over what it did (ns per pair per thread, p50 = p99 = p99.9 =
 * max = that average) and says so on stderr.
 */
#ifdef HAVE_DPDK
#define BOX_GRACE_S	2.0

struct box {
	_Atomic long pairs;
	_Atomic uint64_t t0;
};

static struct box *box;
static long (*box_round)(void *pool, void **objs, int burst);

static long boxed_round(void *pool, void **objs, int burst)
{
	long failed = box_round(pool, objs, burst);
	uint64_t none = 0;

	if (!atomic_load_explicit(&box->t0, memory_order_relaxed))
		atomic_compare_exchange_strong(&box->t0, &none, now_ns());
	atomic_fetch_add_explicit(&box->pairs, burst - failed,
				  memory_order_relaxed);
	return failed;
}

static void run_boxed(struct peer *p, const char *scenario, size_t size,
		      int threads, int burst)
{
	uint64_t start, deadline, end, t0;
	struct series s;
	double avg, secs_run;
	long pairs;
	int status;
	pid_t pid;

	box = mmap(NULL, sizeof(*box), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (box == MAP_FAILED)
		return;
	memset(box, 0, sizeof(*box));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		box_round = p->round;
		cell_round = boxed_round;
		run_cell(p, scenario, size, threads, burst, 0, NULL);
		fflush(stdout);
		_exit(0);
	}
	start = now_ns();
	deadline = start + (uint64_t)((secs + BOX_GRACE_S) * 1e9);
	while (pid > 0 && waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			end = now_ns();
			pairs = atomic_load(&box->pairs);
			t0 = atomic_load(&box->t0);
			secs_run = (end - (t0 ? t0 : start)) / 1e9;
			/* none done: at least the whole time for one */
			avg = pairs ? secs_run * 1e9 * threads / pairs :
				      secs_run * 1e9;
			fprintf(stderr, "# %s: %s, %d threads, burst %d: killed after %.1f s, %ld pairs done; the row is their average%s\n",
				scenario, p->name, threads, burst, secs_run,
				pairs, pairs ? "" : " (none: a lower bound)");
			memset(&s, 0, sizeof(s));
			s.ns = &avg;
			s.n = 1;
			s.ops = pairs;
			s.t0 = end - (uint64_t)(secs_run * 1e9);
			s.t1 = end;
			report(scenario, size, threads, burst, p->name, &s, 1);
			break;
		}
		nap(0.01);
	}
	munmap(box, sizeof(*box));
	box = NULL;
}
#endif

static void run_shared(const char *only)
{
	struct peer sp[] = {
		{ "bufpool", sh_cached_make, bp_destroy, bp_round, bp_getf,
		  bp_putf, NULL, bp_thread_exit, NULL, NULL, 0, NULL },
		{ "bufpool-shared", sh_shared_make, bp_destroy, bp_round,
		  bp_getf, bp_putf, NULL, NULL, NULL, NULL, 0, NULL },
		{ "floor-cas", floor_make, floor_destroy, cs_round, cs_getf,
		  cs_putf, NULL, NULL, NULL, NULL, 1, NULL },
#ifdef HAVE_DPDK
		{ DP_NAME("c0"), dp_c0_make, dp_destroy, dp_round, dp_getf,
		  dp_putf, dp_thread_init, dp_thread_exit, NULL, NULL, 0,
		  NULL },
		{ DP_NAME("c256"), dp_c256_make, dp_destroy, dp_round, dp_getf,
		  dp_putf, dp_thread_init, dp_thread_exit, NULL, NULL, 0,
		  NULL },
		{ DP_NAME("uc256"), dp_uc256_make, dp_destroy, dpu_round,
		  dpu_getf, dpu_putf, dp_uc_thread_init, dp_uc_thread_exit,
		  NULL, NULL, 0, NULL },
		{ DP_NAME("c0-lfs"), dp_c0lfs_make, dp_destroy, dp_round,
		  dp_getf, dp_putf, dp_thread_init, dp_thread_exit, NULL, NULL,
		  0, NULL },
#endif
	};
	int threads[] = { 1, 2, 64 }, bursts[] = { 1, 32 };
	int i, j, k, is_bp;

	if (device) {
		fprintf(stderr, "# shared: memfd pools only, not with --device\n");
		return;
	}
	for (k = 0; k < (int)(sizeof(sp) / sizeof(sp[0])); k++) {
		struct peer *p = &sp[k];
		int boxed = 0;

		if (!listed(only, p->name))
			continue;
		p->pool = p->make(SHARED_SIZE, SHARED_COUNT);
		if (!p->pool) {
			fprintf(stderr, "# shared: %s: no pool of %d B objects\n",
				p->name, SHARED_SIZE);
			continue;
		}
		is_bp = p->make == sh_cached_make || p->make == sh_shared_make;
		for (i = 0; i < 3; i++)
			for (j = 0; j < 2; j++) {
				if (is_bp && bufpool_stats(p->pool, &shared_base))
					memset(&shared_base, 0,
					       sizeof(shared_base));
#ifdef HAVE_DPDK
				if (p->make == dp_c0_make && threads[i] > 2) {
					run_boxed(p, "shared", SHARED_SIZE,
						  threads[i], bursts[j]);
					boxed = 1;
					continue;
				}
#endif
				run_cell(p, "shared", SHARED_SIZE, threads[i],
					 bursts[j], 0, is_bp ? sh_check : NULL);
			}
		/*
		 * A boxed cell's child was killed in the middle of the ring's
		 * operations, in memory the pool shares with it: the ring's
		 * head and tail may never meet again, and rte_mempool_free()
		 * then spins forever (it did, in 22.11 and 25.11).  The pool
		 * stays, until the program exits.
		 */
		if (!boxed)
			p->destroy(p->pool);
		p->pool = NULL;
	}
}
#endif

/* ------------------------------------------------------------------ */

/* --threads a,b,...: each 1 to MAX_THREADS; 0 when the list is not. */
static int parse_threads(const char *arg)
{
	const char *p = arg;
	int n = 0, max = 1;
	char *end;
	long t;

	/* Counts of digits between commas; an empty one is refused. */
	for (;;) {
		if (*p < '0' || *p > '9' || n == 8)
			return 0;
		t = strtol(p, &end, 10);
		if ((*end && *end != ',') || t < 1 || t > MAX_THREADS)
			return 0;
		cell_threads[n++] = (int)t;
		if (t > max)
			max = (int)t;
		if (!*end)
			break;
		p = end + 1;
	}
	ncell_threads = n;
	threads_max = max > 8 ? max : 8;
	return 1;
}

int main(int argc, char **argv)
{
	const char *only = NULL, *scen = NULL, *sizes_arg = NULL;
	size_t sizes[8] = { 64, 2048, 65536 };
	int nsizes = 3, bursts[] = { 1, 32, 256 };
	int i, j, k, si;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			secs = 0.03;
			xcore_cap = 0.2;
		} else if (!strcmp(argv[i], "--device"))
			device = 1;
		else if (!strcmp(argv[i], "--peers") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--scenarios") && i + 1 < argc)
			scen = argv[++i];
		else if (!strcmp(argv[i], "--sizes") && i + 1 < argc)
			sizes_arg = argv[++i];
		else if (!strcmp(argv[i], "--secs") && i + 1 < argc)
			secs = atof(argv[++i]);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc &&
			 parse_threads(argv[i + 1]))
			i++;
		else {
			fprintf(stderr, "usage: %s [--quick] [--device] [--peers a,b] [--scenarios burst,bulk,handoff,pipeline,procs,queue,shared] [--sizes 64,2048] [--threads 1,2,8 (up to 8 counts, each at most %d)] [--secs S]\n",
				argv[0], MAX_THREADS);
			return 2;
		}
	}
	ncpus = bench_cpus(&all_cpus);
	if (sizes_arg) {
		char *dup = strdup(sizes_arg), *tok, *save = NULL;

		nsizes = 0;
		for (tok = strtok_r(dup, ",", &save); tok && nsizes < 8;
		     tok = strtok_r(NULL, ",", &save))
			sizes[nsizes++] = strtoul(tok, NULL, 0);
		free(dup);
	}
#if defined(PEER_MAIN) && defined(HAVE_DPDK)
	{
		char *eal[] = { argv[0], "--no-huge", "--no-pci", "-m", "3072",
				"--no-shconf", "--log-level=3", "-l", "0" };

		if (rte_eal_init(sizeof(eal) / sizeof(eal[0]), eal) < 0) {
			fprintf(stderr, "rte_eal_init failed\n");
			return 1;
		}
		/*
		 * EAL pinned this thread to lcore 0's CPU, and the threads
		 * it creates inherit that: give it every CPU back, or the
		 * cells with more threads than CPUs (not pinned) would run
		 * on one CPU until a cell that pins this thread (handoff,
		 * queue, procs) gave it back.
		 */
		unpin();
	}
#endif
	for (si = 0; si < nsizes; si++) {
		size_t size = sizes[si];

		for (k = 0; k < NPEERS; k++) {
			struct peer *p = &peers[k];

			if (!listed(only, p->name))
				continue;
			p->pool = p->make(size, pool_count());
			if (!p->pool) {
				fprintf(stderr, "# %s: no pool of %zu B objects\n",
					p->name, size);
				continue;
			}
			if (listed(scen, "burst"))
				for (i = 0; i < ncell_threads; i++)
					for (j = 0; j < 3; j++)
						run_burst(p, size,
							  cell_threads[i],
							  bursts[j], 0);
			if (listed(scen, "bulk") && p->bulk)
				for (i = 0; i < ncell_threads; i++)
					for (j = 1; j < 3; j++)
						run_burst(p, size,
							  cell_threads[i],
							  bursts[j], 1);
			if (p->floor) {
				p->destroy(p->pool);
				p->pool = NULL;
				continue;
			}
			if (p->xmake && (listed(scen, "handoff") ||
					 listed(scen, "pipeline"))) {
				p->destroy(p->pool);
				p->pool = p->xmake(size, pool_count());
				if (!p->pool) {
					fprintf(stderr, "# %s: no rotating pool of %zu B objects\n",
						p->name, size);
					continue;
				}
			}
			if (listed(scen, "handoff"))
				run_handoff(p, size, 0);
			if (listed(scen, "pipeline"))
				run_handoff(p, size, 1);
			p->destroy(p->pool);
			p->pool = NULL;
		}
#ifdef PEER_MAIN
		if (listed(scen, "procs")) {
			if (listed(only, "bufpool"))
				run_procs("bufpool", size);
			if (listed(only, "copy-ring"))
				run_procs("copy-ring", size);
		}
#endif
	}
#ifdef PEER_MAIN
	/* Indices, not bytes: one pool, of 2 KiB buffers, whatever --sizes. */
	if (listed(scen, "queue") &&
	    (listed(only, "bufpool-queue") || listed(only, DP_RING_NAME)))
		run_queue(listed(only, "bufpool-queue"),
			  listed(only, DP_RING_NAME));
	/* One pool per peer, of 2 KiB buffers, whatever --sizes. */
	if (listed(scen, "shared"))
		run_shared(only);
#endif
	return 0;
}
