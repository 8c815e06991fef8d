/* SPDX-License-Identifier: MIT */
/*
 * libbufpool-user's internals: the process-local structures (an open
 * pool's handle, a thread's cache), the constants and thread-local
 * variables that several files share, and the internal functions,
 * grouped by the file that defines them.  None of it is ABI: a minor
 * version may change any of it (docs/DESIGN.md, "No header-inline fast
 * path").
 *
 * The library's files, in the order a reader meets them:
 *   fastpath.h  the always-inline fast path: take from and give to the
 *               loaded magazine of this thread's cache
 *   buffer.c    the per-buffer calls: acquire and release by pointer and
 *               by index, bulk, handoff and adopt, addresses and indices
 *   cache.c     thread caches: claim, refill, spill, flush, thread exit,
 *               fork; the free list for a thread without magazines
 *   wait.c      timed waits: the sleeper's side and the waking release
 *   debug.c     debug mode (BUFPOOL_DEBUG): the quarantine
 *   backend.c   what differs between a device pool and a memfd pool
 *   setup.c     open, create, close
 *   queue.c     queues: open, close, enqueue, dequeue, statistics
 *   info.c      statistics, audit, info, client id, fd
 *   classes.c   size classes, over the public API only
 */
#ifndef BUFPOOL_INTERNAL_H
#define BUFPOOL_INTERNAL_H

#include <pthread.h>
#include <sys/types.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

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

/*
 * The queue's loops over every state of a slot (bp_q_put_slow,
 * bp_q_get_slow in <bufpool/queue.h>): out of line and cold here, so
 * that the common case inlined around them is laid out without them
 * (docs/DESIGN.md, "Queues").
 */
#define BP_Q_SLOW	__attribute__((cold, noinline, unused))

#include <bufpool/magazine.h>

/* Nothing below is exported: calls and accesses bind inside the library. */
#pragma GCC visibility push(hidden)

/* A cache's open-serial when it serves no pool, and while it is flushed. */
#define BP_SERIAL_NONE		0
#define BP_SERIAL_BUSY		UINT64_MAX

/*
 * What the acquire paths return when they take nothing (errno says
 * why).  They return the index taken rather than 0 or -1: the index
 * stays in a register on the fast path, where an out parameter would
 * make it a store and a reload on the way to the buffer's address.
 */
#define BP_NONE			UINT32_MAX

/* The fast path, inlined even where it has several callers. */
#define BP_ALWAYS_INLINE	inline __attribute__((always_inline))

/*
 * Initial-exec TLS: a fixed offset from the thread pointer, one load,
 * where the default model for a shared library calls __tls_get_addr on
 * every access (that call was most of the fast path's cost).  The
 * library is linked by programs, not dlopen()ed; glibc keeps static TLS
 * room for the few bytes when it is.
 */
#define BP_TLS	__thread __attribute__((tls_model("initial-exec")))

struct bp_backend;

/* Debug mode's quarantine: a FIFO ring of released buffers (debug.c). */
struct bp_quarantine {
	pthread_mutex_t lock;
	uint32_t *ring;
	uint32_t cap;
	uint32_t head;
	uint32_t len;
};

/* An open pool: what bufpool_open, _open_fd and _create return. */
struct bufpool {
	/* The fast path reads only this line. */
	uint64_t serial;	/* unique per open in this process */
	char *bufs;
	uint64_t bufs_len;	/* to the end of the last buffer */
	__u32 *own;		/* own[buf_count] in the control area */
	/*
	 * Non-zero when a release must leave the fast path
	 * (bp_release_diverted): the control area's waiters count, or, in
	 * debug mode, a word that is never 0.
	 */
	_Atomic __u32 *divert_releases;
	uint32_t buf_count;
	uint32_t client_id;	/* what own[] says of this handle's buffers */
	uint32_t mag_fill;
	int debug;		/* BUFPOOL_DEBUG: released buffers wait */
	struct bp_bufmap map;	/* buffer index to address and back */

	struct bp_shm shm;
	struct bp_quarantine quarantine;
	const struct bp_backend *backend;	/* chosen once, at open */
	int fd;
	struct bufpool_ctrl *ctrl;
	size_t ctrl_map_len;
	size_t bufs_map_len;
	struct bufpool_info info;
	/* When this handle last asked for a repair (bp_corrupt), in ns. */
	_Atomic uint64_t repair_asked;
	/* Queues this handle has open (queue.c), under queue_lock. */
	pthread_mutex_t queue_lock;
	struct bufpool_queue *queues;
};

/*
 * An open queue (queue.c): what bufpool_queue_open returns, opaque in
 * the public API (the shared descriptor is the ABI's struct
 * bufpool_qdesc).  Its
 * geometry (q) comes from a trusted source: the kernel's answer to
 * BUFPOOL_IOC_QUEUE, or, on a module-free pool, the descriptor as its
 * creator wrote it, read once and checked.
 */
struct bufpool_queue {
	struct bp_q q;
	struct bufpool *pool;
	uint32_t id;		/* the descriptor, < nr_queues */
	uint32_t queue_flags;	/* BUFPOOL_QUEUE_SP, _DECLARED */
	uint64_t generation;	/* of the descriptor, when opened */
	int produce;		/* opened with BUFPOOL_QUEUE_PRODUCE */
	int consume;		/* holds the consumer role */
	int sp;			/* holds the single-producer role */
	pid_t opener;		/* the process that opened it */
	struct bufpool_queue *next;	/* the pool's list */
};

/*
 * One thread's cache for one pool, process-local (cache.c): the two
 * magazines it holds, and its shared cache (struct bufpool_cache, in the
 * control area) whose loaded and prev words name them for the kernel.
 * Which of the two the thread uses as its loaded magazine is private
 * (loaded_word), so that swapping them is no store to shared memory and
 * no instant where a magazine is named by nothing.
 */
struct bp_thread_cache {
	_Atomic uint64_t serial;	/* pool served; NONE; BUSY: flushing */
	_Atomic(void *) thread;		/* owner thread's marker; NULL: free */
	struct bufpool_mag *loaded;
	struct bufpool_mag *prev;
	uint32_t mag_fill;		/* the pool's; 0: no magazines */
	/* BUFPOOL_OWN_CACHED | the shared cache's index (ABI 1.7). */
	uint32_t mark;
	uint32_t loaded_id;
	uint32_t prev_id;
	__u32 *loaded_word;		/* the shared word naming loaded */
	__u32 *prev_word;
	struct bufpool_cache *shared;
	struct bufpool *pool;
} __attribute__((aligned(64)));

/* The cache this thread used last (cache.c), what the fast path tries. */
extern BP_TLS struct bp_thread_cache *bp_cache_last;

/* A statistics counter of the thread's own shared cache: one writer. */
static inline void bp_count_n(__u64 *c, uint32_t n)
{
	bp_store_relaxed_u64(c, bp_load_relaxed_u64(c) + n);
}

static inline void bp_count(__u64 *c)
{
	bp_count_n(c, 1);
}

/* The control area's count of sleepers, and the word they sleep on. */
static inline _Atomic __u32 *bp_waiters(const struct bufpool *pool)
{
	return (_Atomic __u32 *)&pool->ctrl->waiters;
}

static inline _Atomic __u32 *bp_wake_seq(const struct bufpool *pool)
{
	return (_Atomic __u32 *)&pool->ctrl->wake_seq;
}

/* ---- buffer.c ---------------------------------------------------- */
int bp_release_diverted(struct bufpool *pool, uint32_t idx);
int bp_release_to_sleeper_or_cache(struct bufpool *pool, uint32_t idx);

/* ---- cache.c ----------------------------------------------------- */
void bp_report_corruption(struct bufpool *pool);
uint32_t bp_corrupt(struct bufpool *pool);
void bp_cache_init(void);
struct bp_thread_cache *bp_thread_cache_get(struct bufpool *pool);
uint32_t bp_shared_acquire(struct bufpool *pool);
void bp_shared_release(struct bufpool *pool, uint32_t idx);
__u32 *bp_shared_enqueue_begin(struct bufpool *pool);
void bp_shared_enqueue_end(struct bufpool *pool);
uint32_t bp_acquire_miss(struct bufpool *pool);
int bp_release_miss(struct bufpool *pool, uint32_t idx);
void bp_release_to_free_list(struct bufpool *pool,
			     struct bp_thread_cache *cache, uint32_t idx);
void bp_thread_caches_flush_pool(struct bufpool *pool);

/* ---- wait.c ------------------------------------------------------ */
int bp_release_to_sleeper(struct bufpool *pool, uint32_t idx);

/* ---- debug.c ----------------------------------------------------- */
int bp_debug_init(struct bufpool *pool);
int bp_quarantine_release(struct bufpool *pool, uint32_t idx);
void bp_quarantine_drain(struct bufpool *pool);
void bp_debug_free(struct bufpool *pool);

/* ---- backend.c --------------------------------------------------- */
/*
 * What differs between a pool of the module's device and a module-free
 * memfd pool, one table for each; every call returns 0, or -1 with
 * errno.
 */
struct bp_backend {
	/*
	 * Learn what the pool behind pool->fd is, into pool->info and *l,
	 * take this handle's client id, and map the pool (bp_map).
	 */
	int (*attach)(struct bufpool *pool, struct bp_layout *l);
	/* Sleep until wake_seq is no longer seen, up to ns (< 0: no limit). */
	int (*sleep)(struct bufpool *pool, uint32_t seen, int64_t ns);
	/* Wake every sleeper of the pool, once wake_seq has moved. */
	void (*wake)(struct bufpool *pool);
	/* bufpool_audit. */
	int (*audit)(struct bufpool *pool, struct bufpool_audit *audit);
	/* BUFPOOL_IOC_REPAIR with BUFPOOL_REPAIR_* flags; ENOTTY: none. */
	int (*repair)(struct bufpool *pool, unsigned int flags);
	/*
	 * Open the queue called name (checked) with BUFPOOL_QUEUE_* flags
	 * (checked; capacity a power of two <= queue_len when creating):
	 * fill q's id, generation, flags, roles and bind q->q.  Called
	 * with pool->queue_lock held.
	 */
	int (*queue_open)(struct bufpool *pool, const char *name,
			  unsigned int flags, uint32_t capacity,
			  struct bufpool_queue *q);
	/* Drop q's roles and stop using it; the last user empties it. */
	void (*queue_close)(struct bufpool *pool, struct bufpool_queue *q);
	/* bufpool_close, after everything else: leave the live map. */
	void (*detach)(struct bufpool *pool);
};

extern const struct bp_backend bp_device_backend;
extern const struct bp_backend bp_memfd_backend;
const struct bp_backend *bp_backend_of(int fd);
int bp_memfd_build(struct bufpool *pool, const struct bp_layout *l, int huge);

/* ---- queue.c ----------------------------------------------------- */
void bp_queue_bind(struct bufpool *pool, struct bufpool_queue *q,
		   uint32_t id, uint32_t capacity);
void bp_queue_drain(struct bufpool *pool, struct bufpool_queue *q);
void bp_queues_close(struct bufpool *pool);

/* ---- setup.c ----------------------------------------------------- */
int bp_map(struct bufpool *pool, const struct bp_layout *l, int huge);

#pragma GCC visibility pop

#endif /* BUFPOOL_INTERNAL_H */
