/* SPDX-License-Identifier: MIT */
/*
 * libbufpool-user: take and give buffers of a bufpool without system
 * calls or locks.
 *
 * A pool is opened once per process (bufpool_open), which maps the
 * device's control and buffer areas.  After that, acquire and release
 * (and their index and bulk forms, handoff and adopt) are a few
 * instructions on lock-free lists in shared memory: no system call, no
 * lock, no allocation.  A thread preempted or killed in the middle of
 * one blocks nobody.  Two exceptions: while a thread sleeps in
 * bufpool_acquire_timeout, a release makes one system call to wake it
 * (an ioctl on a device pool, a futex wake on a module-free pool); in
 * debug mode (BUFPOOL_DEBUG), a release takes a mutex.
 *
 * Memory is allocated only when a pool is opened (bufpool_open,
 * bufpool_open_fd, bufpool_create: the handle, and debug mode's
 * quarantine) and by bufpool_classes_open.  System calls are made by
 * those, by bufpool_close, by bufpool_audit and bufpool_repair, by a
 * timed acquire that sleeps, and by a call that finds the shared area
 * corrupted (EUCLEAN below: it asks the kernel for a repair).
 *
 * Trust: every client of a pool can write its shared control area, and
 * the library trusts none of it (docs/DESIGN.md, "Trust").  A call that
 * finds there what no correct client writes fails with EUCLEAN, leaves
 * what it found alone (it never hands out a buffer the records say
 * another client holds, never the same buffer twice), counts it in the
 * pool's statistics (bufpool_stats' detected) and asks the kernel to
 * repair the pool while every client stays open; the next calls serve
 * again.  Every call ends within a bound whatever another client wrote;
 * EAGAIN when another client kept rewriting a shared word under it.
 *
 * Any thread may call any function below on an open pool concurrently,
 * except bufpool_close, which needs every other thread of the process
 * to be done with the pool.
 *
 * Each thread keeps a small cache of buffers (two magazines); a cache
 * miss moves a whole magazine to or from the pool's shared depot with
 * one compare-and-swap.  At most half of a pool can sit in caches.  A
 * pool has a fixed number of caches (64 by default); a thread that finds
 * none free, or that uses more than 16 pools, works on the shared path
 * (the pool's free list, still without a lock or a system call) until a
 * cache is freed by a thread that exits or calls bufpool_flush_cache.
 * So any number of threads can use a pool; caches only make them faster.
 *
 * Buffers can be named by index, which is the same in every process
 * that maps the pool: hand an index to another process and it can reach
 * the same buffer with bufpool_addr().
 *
 * Errors: functions return NULL or -1 and set errno; the library never
 * prints and never aborts.  Every function given a NULL handle fails
 * with EINVAL (bufpool_acquire_bulk, bufpool_buf_size, bufpool_buf_count
 * and bufpool_client_id return 0); bufpool_flush_cache and
 * bufpool_classes_close then do nothing.
 */
#ifndef BUFPOOL_USER_H
#define BUFPOOL_USER_H

#include <stddef.h>
#include <stdint.h>
#include <linux/bufpool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bufpool;

/*
 * bufpool_open - map a pool.  path: its device node, or NULL for
 * /dev/bufpool; when path is NULL and there is no /dev/bufpool (no
 * module), a new module-free pool with the default geometry, as
 * bufpool_create(NULL) makes.  Buffers and the control area are
 * prefaulted.
 * Errors: those of open(2) and mmap(2); ENOTTY when path is not a
 * bufpool device; EPROTO when the module speaks another ABI major.
 */
struct bufpool *bufpool_open(const char *path);

/* Geometry of a module-free pool (bufpool_create). */
struct bufpool_params {
	size_t buf_size;	/* a power of two, 64 to 2 MiB; 0: 2048 */
	uint32_t buf_count;	/* 0: 4096 */
	uint32_t caches;	/* per-thread caches; 0: 64 */
	unsigned int flags;	/* BUFPOOL_F_* */
	/*
	 * 1.6, read only with BUFPOOL_F_MAG_SIZE: buffers per magazine, 1
	 * to 1023 and at most buf_count / (4 * caches); a thread's cache
	 * holds two, so size it to the bursts.  Without the flag:
	 * buf_count / (4 * caches), at most 63.
	 */
	uint32_t mag_size;
};

#define BUFPOOL_F_NO_HUGETLB	(1u << 0)	/* never hugetlb pages */
#define BUFPOOL_F_NO_CACHE	(1u << 1)	/* no per-thread caches */
#define BUFPOOL_F_MAG_SIZE	(1u << 2)	/* mag_size is set (1.6) */
/*
 * 1.8: spread the buffers, each a cache line (64 bytes) after the end of
 * the one before, so that bursts that touch the first lines of many
 * buffers find them in different sets of the CPU caches, where a
 * power-of-two stride puts them all in a few.  The pool takes 64 bytes
 * more per buffer, and a buffer may cross from one 2 MiB page to the
 * next.  Only clients of 1.8 or later open such a pool.
 */
#define BUFPOOL_F_SPREAD	(1u << 3)
/*
 * 1.9: rotate the depot (BUFPOOL_DEPOT_ROTATE, <linux/bufpool.h>): full
 * magazines come back about a round of the depot after they were given,
 * where by default the magazine given last is the first taken.  For
 * pools whose buffers go from one core to another (a producer and its
 * consumers): the producer then writes buffers whose lines the
 * consumer's core has long let go of.  From library 1.9.3 a thread
 * that loads a magazine from such a depot takes its buffers in the
 * order they were given (oldest first), where a thread that takes back
 * its own takes the last given first.  A thread that takes back its own
 * buffers is better served by the default.  Only clients of 1.9 or later
 * open such a pool.
 */
#define BUFPOOL_F_ROTATE	(1u << 4)

/*
 * bufpool_create - a pool without the module: the same layout over a
 * memfd, in 2 MiB hugetlb pages when the system has them reserved, else
 * in ordinary shared memory advised for transparent huge pages.  params
 * NULL: all defaults.  Share it with other processes by passing
 * bufpool_fd() (fork, SCM_RIGHTS) to bufpool_open_fd().
 */
struct bufpool *bufpool_create(const struct bufpool_params *params);

/* bufpool_open_fd - map the pool behind fd (a device or a pool memfd). */
struct bufpool *bufpool_open_fd(int fd);

/* bufpool_fd - the pool's file descriptor, to hand to another process. */
int bufpool_fd(const struct bufpool *pool);

/* bufpool_close - unmap and free.  Buffers still held stay taken. */
int bufpool_close(struct bufpool *pool);

/*
 * bufpool_acquire - take a free buffer.
 * Returns its address, or NULL with errno ENOBUFS when none is free,
 * EUCLEAN when it found the pool's shared area corrupted (see Trust
 * above: the next call serves again, once repaired), EAGAIN when
 * another client kept rewriting a shared word under it.
 */
void *bufpool_acquire(struct bufpool *pool);

/*
 * bufpool_release - give a buffer back.  buf must be the start of a
 * buffer of this pool that this handle holds: acquired through it, or
 * adopted.  EINVAL otherwise, which catches a foreign pointer, a double
 * release, and a release of a buffer handed off or held by another
 * process.  One double release escapes that check: when this handle
 * acquired the same buffer again in between (LIFO reuse makes that
 * likely), the second release frees the new holder's buffer.  Debug
 * mode catches it: with BUFPOOL_DEBUG=1 in the environment when the pool
 * is opened, released buffers wait in a quarantine (a quarter of the
 * pool, at most 4096, still held by this handle) before they can be
 * acquired again, so a release through a stale pointer within that many
 * later releases fails with EINVAL.  Debug mode takes a mutex on release.
 */
int bufpool_release(struct bufpool *pool, void *buf);

/*
 * bufpool_acquire_timeout - take a free buffer, sleeping until one is
 * released when none is free: up to timeout_ns nanoseconds (negative: no
 * limit; 0: do not sleep, as bufpool_acquire).  NULL with ETIMEDOUT when
 * the time passed, EINTR on a signal, or the errors of bufpool_acquire.
 * Released buffers reach sleepers in any process of the pool.  While
 * someone sleeps, releases make one system call to wake them; otherwise
 * nothing changes on the fast path.  Buffers idle in other threads'
 * caches (at most half the pool) are not given to sleepers: have idle
 * threads call bufpool_flush_cache.
 */
void *bufpool_acquire_timeout(struct bufpool *pool, int64_t timeout_ns);
int bufpool_acquire_index_timeout(struct bufpool *pool, uint32_t *idx,
				  int64_t timeout_ns);

/*
 * Bulk forms: take up to n buffers into bufs[] (returns how many, 0 with
 * errno ENOBUFS when none), give n back (-1 with EINVAL at the first
 * pointer that is not a buffer start; those before it were given back).
 */
unsigned int bufpool_acquire_bulk(struct bufpool *pool, void **bufs,
				  unsigned int n);
int bufpool_release_bulk(struct bufpool *pool, void *const *bufs,
			 unsigned int n);

/*
 * bufpool_flush_cache - give what this thread's cache holds back to the
 * pool, for a thread about to go idle.  A thread's cache is also given
 * back when it exits, and every cache of the process at bufpool_close.
 * The cache goes to the next thread that wants one.
 */
void bufpool_flush_cache(struct bufpool *pool);

/* Index forms of the two above: idx is in [0, bufpool_buf_count()). */
int bufpool_acquire_index(struct bufpool *pool, uint32_t *idx);
int bufpool_release_index(struct bufpool *pool, uint32_t idx);

/*
 * Handing a buffer to another process.  Ownership is per handle (per
 * open of the pool): what a handle holds when its process dies goes back
 * to the pool.  To pass buffer idx to another process, the giver calls
 * bufpool_handoff(idx) before it sends idx by any channel; from then on
 * the buffer belongs to nobody's process, survives the giver's death,
 * and the giver may no longer release it.  The receiver calls
 * bufpool_adopt(idx), after which it holds the buffer like one it
 * acquired.  A buffer handed off and never adopted stays out of the pool
 * until the pool's last client closes (see bufpool_audit's transit).
 * Both return -1 with EINVAL for an index this handle may not pass or
 * take (not ours; not in transit; adopted by another first).
 */
int bufpool_handoff(struct bufpool *pool, uint32_t idx);
int bufpool_adopt(struct bufpool *pool, uint32_t idx);

/*
 * bufpool_handoff_to - hand buffer idx to one receiver, the client whose
 * bufpool_client_id() is receiver: only it can adopt the buffer, and if
 * it is gone before it adopts (or goes while the buffer waits), the
 * buffer goes back to the pool (within the kernel's reconciliation of
 * its departure) instead of staying out until the pool's last close.
 * Returns 0 when the buffer is handed (the giver may no longer release
 * it; it is the receiver's to adopt, or the pool's if the receiver died
 * meanwhile).  -1 with ESRCH when the receiver is not a live client of
 * the pool: the caller still holds the buffer.  EINVAL as for
 * bufpool_handoff, and for receiver 0, above BUFPOOL_CLIENT_MAX or the
 * caller itself.  A receiver id reused by a new client after the
 * receiver's death (ids cycle through 65535) names the new client.
 */
int bufpool_handoff_to(struct bufpool *pool, uint32_t idx, uint32_t receiver);

/*
 * Queues: named FIFOs of buffers in the pool's shared memory, through
 * which processes pass buffers to each other with no system call, no
 * lock and no other channel.  Enqueue moves a buffer this handle holds
 * into the queue; dequeue moves the oldest one to the queue's consumer,
 * which then holds it like one it acquired.  Nothing in a queue is lost
 * when a process dies: what a queue holds stays there for the next
 * consumer (a restarted consumer continues where the dead one stopped),
 * a buffer being enqueued or dequeued by a process that dies ends up
 * queued or back in the pool, and when the last user of a queue closes
 * it (or dies), what it holds goes back to the pool.
 *
 * bufpool_queue_open - open the queue called name (1 to 31 of
 * [A-Za-z0-9_.-]) in pool, with flags:
 *   BUFPOOL_QUEUE_CREATE   create it if there is none, of capacity
 *                          buffers (rounded up to a power of two, at
 *                          most the pool's queue_len); otherwise
 *                          capacity is ignored (0 is fine)
 *   BUFPOOL_QUEUE_EXCL     with CREATE: fail with EEXIST if it exists
 *   BUFPOOL_QUEUE_SINGLE_PRODUCER  when creating: one producer at a
 *                          time (the role is taken at open, like the
 *                          consumer's), so enqueue needs no CAS
 *   BUFPOOL_QUEUE_PRODUCE  this handle enqueues
 *   BUFPOOL_QUEUE_CONSUME  this handle is the queue's consumer: one
 *                          client at a time (EBUSY while a live one is)
 * A queue made by a client lives while some client has it open; one
 * declared by the module's queue parameter lives with the pool.
 * Errors: EINVAL (a bad name, flags or capacity: 0 or above queue_len;
 * EXCL without CREATE), ENOENT (no such queue and no CREATE), EEXIST,
 * ENOSPC (every queue of the pool in use), EBUSY (the consumer or
 * single-producer role is taken), EALREADY (this handle has it open),
 * EOPNOTSUPP (a pool without queues), ENOMEM; on a module-free pool,
 * EAGAIN (lost races with other openers many times over).
 * bufpool_queue_close - stop using it; drops this handle's roles.  Also
 * done for every queue still open at bufpool_close.
 * The handle is opaque (the shared descriptor is struct bufpool_qdesc
 * of <linux/bufpool.h>).  A process forked while the handle was open
 * must not close it: the child's bufpool_queue_close (and
 * bufpool_close) only forgets it there; the opener keeps it.
 */
struct bufpool_queue;

#define BUFPOOL_QUEUE_CREATE		0x01u
#define BUFPOOL_QUEUE_EXCL		0x02u
#define BUFPOOL_QUEUE_SINGLE_PRODUCER	0x04u
#define BUFPOOL_QUEUE_PRODUCE		0x10u
#define BUFPOOL_QUEUE_CONSUME		0x20u

struct bufpool_queue *bufpool_queue_open(struct bufpool *pool,
					 const char *name, unsigned int flags,
					 uint32_t capacity);
int bufpool_queue_close(struct bufpool_queue *q);

/*
 * bufpool_enqueue - move buffer buf, which this handle holds, to the
 * queue's tail.  -1 with ENOBUFS when the queue is full, EINVAL when buf
 * is not a buffer this handle holds (as bufpool_release), EPERM when the
 * handle did not open the queue with BUFPOOL_QUEUE_PRODUCE, EAGAIN when
 * it lost a race with other producers many times over (nothing moved:
 * try again), EUCLEAN when the queue's shared words were corrupted.
 * On every error the caller still holds buf.
 * bufpool_dequeue - take the buffer at the queue's head: its address,
 * or NULL with EAGAIN when the queue is empty, EPERM when the handle is
 * not the consumer, EUCLEAN.
 * Index forms as for acquire and release.  Bulk forms move up to n and
 * return how many (0 with errno as above when none); enqueue_bulk stops
 * at the first buffer that cannot go (full, not held).
 * No system call, no lock, no allocation.  A handle may enqueue from
 * any number of threads; dequeue from one thread at a time.
 */
int bufpool_enqueue(struct bufpool_queue *q, void *buf);
void *bufpool_dequeue(struct bufpool_queue *q);
int bufpool_enqueue_index(struct bufpool_queue *q, uint32_t idx);
int bufpool_dequeue_index(struct bufpool_queue *q, uint32_t *idx);
unsigned int bufpool_enqueue_bulk(struct bufpool_queue *q,
				  void *const *bufs, unsigned int n);
unsigned int bufpool_dequeue_bulk(struct bufpool_queue *q, void **bufs,
				  unsigned int n);

/*
 * bufpool_queue_stats - a queue's statistics (no system call): capacity;
 * depth, buffers in it now; enqueued and dequeued, positions filled and
 * consumed since it was made; full, enqueues refused because it was
 * full; high_watermark, the most buffers in it a producer saw;
 * consumer, the client id holding the consumer role (0: none).
 */
struct bufpool_queue_stats {
	uint64_t capacity;
	uint64_t depth;
	uint64_t enqueued;
	uint64_t dequeued;
	uint64_t full;
	uint64_t high_watermark;
	uint32_t consumer;
	uint32_t __reserved0;
	uint64_t __reserved[6];
};

int bufpool_queue_stats(struct bufpool_queue *q,
			struct bufpool_queue_stats *st);

/*
 * bufpool_audit - have the kernel reconcile the pool now and report (see
 * struct bufpool_audit).  ENOTTY for a module-free pool, EBUSY while a
 * client of an older ABI maps the pool.
 */
int bufpool_audit(struct bufpool *pool, struct bufpool_audit *audit);

/*
 * bufpool_repair - have the kernel reconcile the pool while every client
 * stays open, repairing what no correct client writes and giving back
 * what nobody holds, and wait for it (a call that gets EUCLEAN has asked
 * for one already, without waiting).  The kernel spaces the repairs and
 * audits clients ask for (the repair_interval_ms module parameter), so
 * this may sleep that long.  ENOTTY for a module-free pool (nobody can
 * stop its clients: it is whole again when it is made anew), EBUSY
 * while a client of an older ABI maps the pool, EINTR on a signal.
 */
int bufpool_repair(struct bufpool *pool);

/*
 * bufpool_stats - the pool's statistics, summed over the caches of
 * every client's threads (no system call; each thread counts in its own
 * cache, so counting writes no shared cache line).  Counted since the
 * pool was last rebuilt (its last client closed).  in_use: taken and
 * not given back (buffers in thread caches are not in use); free =
 * total - in_use; high_watermark: the most in use any reader of the
 * statistics (this function, the sysfs files, bufpoolctl) or the
 * kernel's reclaim has seen; reclaimed: buffers clients held when they
 * died, given back by the kernel.
 */
struct bufpool_stats {
	uint64_t total;
	uint64_t free;
	uint64_t in_use;
	uint64_t high_watermark;
	uint64_t acquires;
	uint64_t releases;
	uint64_t exhausted;	/* acquires that found the pool empty */
	uint64_t reclaimed;
	uint64_t waiters;	/* threads sleeping in a timed acquire now */
	/*
	 * 1.4: corruption clients found in the shared area (each EUCLEAN
	 * counts one), and repairs the kernel ran while clients stayed
	 * open (bufpool_repair, bufpool_audit, and what EUCLEAN asked for).
	 */
	uint64_t detected;
	uint64_t repairs;
	/*
	 * 1.5: of acquires and releases, those made by threads without a
	 * cache of their own (the shared path: every cache was taken).
	 */
	uint64_t shared_acquires;
	uint64_t shared_releases;
	uint64_t __reserved[3];
};

int bufpool_stats(struct bufpool *pool, struct bufpool_stats *st);

/*
 * Size classes: a set of pools of different buffer sizes, one per class,
 * as bufpool-sizes configures them (/dev/bufpool-c128, -c2048, ...).
 * bufpool_classes_open - open the pools at paths[0..n), or, with paths
 * NULL, every /dev/bufpool-cSIZE there is; at most 16.  Errors: those
 * of bufpool_open; ENOENT when there is no class pool; EINVAL for two
 * pools of one size.
 * bufpool_classes_acquire - a buffer of the smallest class that holds
 * size bytes, or of the next larger class when that one is empty; NULL
 * with EINVAL for a size no class holds, ENOBUFS when every class that
 * would do is empty.  No system call, no lock.
 * bufpool_classes_release - give back a buffer of any class (found by
 * address); EINVAL as bufpool_release.
 * bufpool_classes_pool - the pool of class i (ascending sizes), NULL
 * past the last: for the index forms, handoff and statistics.
 */
struct bufpool_classes;

struct bufpool_classes *bufpool_classes_open(const char *const *paths,
					     unsigned int n);
void *bufpool_classes_acquire(struct bufpool_classes *cls, size_t size);
int bufpool_classes_release(struct bufpool_classes *cls, void *buf);
struct bufpool *bufpool_classes_pool(const struct bufpool_classes *cls,
				     unsigned int i);
void bufpool_classes_close(struct bufpool_classes *cls);

/* bufpool_client_id - this handle's id in the pool's ownership records. */
uint32_t bufpool_client_id(const struct bufpool *pool);

/* bufpool_addr - address of buffer idx, or NULL with EINVAL. */
void *bufpool_addr(const struct bufpool *pool, uint32_t idx);

/*
 * bufpool_index - index of the buffer that contains ptr (any byte of
 * it), or -1 with EINVAL for a pointer outside the pool's buffers.
 */
int64_t bufpool_index(const struct bufpool *pool, const void *ptr);

size_t bufpool_buf_size(const struct bufpool *pool);
uint32_t bufpool_buf_count(const struct bufpool *pool);

/* bufpool_get_info - what the kernel said about the pool at open. */
int bufpool_get_info(const struct bufpool *pool, struct bufpool_info *info);

#ifdef __cplusplus
}
#endif

#endif /* BUFPOOL_USER_H */
