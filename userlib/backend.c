// SPDX-License-Identifier: MIT
/*
 * libbufpool-user: the two backends a pool lives on, and everything that
 * differs between them.  A handle's backend is decided once, at open
 * (pool->backend); the rest of the library asks it, never the pool's
 * flags.
 *
 * - A device pool (/dev/bufpool*, the module): the kernel says what the
 *   pool is (BUFPOOL_IOC_INFO) and gives this handle its client id
 *   (BUFPOOL_IOC_ATTACH); sleepers sleep in the kernel
 *   (BUFPOOL_IOC_WAIT, BUFPOOL_IOC_WAKE), because the control area's
 *   pages are not page-cache pages and a futex shared between processes
 *   needs those; the kernel audits (BUFPOOL_IOC_AUDIT).
 * - A memfd pool (bufpool_create, no module): the same layout in a
 *   memfd, its header describing it; client ids are taken from the
 *   header's counter; sleepers use a futex on wake_seq (shmem pages;
 *   liburcu's futex_async()); there is no kernel to audit it.
 *
 * Every system call the library makes on a pool, but for mapping and
 * unmapping it and closing its file (setup.c), is here.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <urcu/futex.h>	/* futex_async(): the futex of module-free pools */

#include "internal.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC		0x958458f6
#endif

/*
 * The backend of the pool behind fd: a device answers BUFPOOL_IOC_INFO
 * (or fails it otherwise than ENOTTY, which its attach then reports); a
 * file that does not know the ioctl may be a pool's memfd.
 */
const struct bp_backend *bp_backend_of(int fd)
{
	struct bufpool_info info = { 0 };

	if (ioctl(fd, BUFPOOL_IOC_INFO, &info) == 0 || errno != ENOTTY)
		return &bp_device_backend;
	return &bp_memfd_backend;
}

/* ------------------------------------------------------------------ */
/* Device pools                                                       */

static int bp_device_attach(struct bufpool *pool, struct bp_layout *l)
{
	const struct bufpool_info *in = &pool->info;
	__u32 abi = BUFPOOL_ABI_VERSION;
	int id;

	if (ioctl(pool->fd, BUFPOOL_IOC_INFO, &pool->info) < 0)
		return -1;
	/*
	 * The kernel's info, checked anyway.  The ownership records of ABI
	 * 1.2 are what lets the kernel give back what a dead client held:
	 * an older module has none, and this library does not run a pool
	 * without them (bp_info_ok()).
	 */
	if (!bp_info_ok(in) || in->ctrl_size > SIZE_MAX ||
	    in->bufs_size > SIZE_MAX) {
		errno = EPROTO;
		return -1;
	}
	/* Say we keep the ownership records, before mapping anything. */
	id = ioctl(pool->fd, BUFPOOL_IOC_ATTACH, &abi);
	if (id < 0)
		return -1;
	if ((uint32_t)id != in->client_id) {
		errno = EPROTO;
		return -1;
	}
	pool->client_id = (uint32_t)id;
	bp_layout_from_info(l, in);
	return bp_map(pool, l, 0);
}

static int bp_device_sleep(struct bufpool *pool, uint32_t seen, int64_t ns)
{
	struct bufpool_wait w = { .seq = seen, .timeout_ns = ns };

	return ioctl(pool->fd, BUFPOOL_IOC_WAIT, &w) < 0 ? -1 : 0;
}

static void bp_device_wake(struct bufpool *pool)
{
	ioctl(pool->fd, BUFPOOL_IOC_WAKE);
}

static int bp_device_audit(struct bufpool *pool, struct bufpool_audit *audit)
{
	return ioctl(pool->fd, BUFPOOL_IOC_AUDIT, audit) < 0 ? -1 : 0;
}

static int bp_device_repair(struct bufpool *pool, unsigned int flags)
{
	__u32 f = flags;

	return ioctl(pool->fd, BUFPOOL_IOC_REPAIR, &f) < 0 ? -1 : 0;
}

static void bp_device_queue_close_id(struct bufpool *pool, uint32_t id)
{
	struct bufpool_queue_req req;

	memset(&req, 0, sizeof(req));
	req.size = sizeof(req);
	req.op = BUFPOOL_QOP_CLOSE;
	req.id = id;
	ioctl(pool->fd, BUFPOOL_IOC_QUEUE, &req);
}

/*
 * The kernel opens the queue, takes the roles and says where it is; its
 * answer is checked anyway, and the geometry comes from it only, never
 * from the shared descriptor.
 */
static int bp_device_queue_open(struct bufpool *pool, const char *name,
				unsigned int flags, uint32_t capacity,
				struct bufpool_queue *q)
{
	struct bufpool_queue_req req;
	uint32_t cap;

	memset(&req, 0, sizeof(req));
	req.size = sizeof(req);
	req.op = BUFPOOL_QOP_OPEN;
	req.flags = flags;
	req.capacity = capacity;
	strncpy(req.name, name, sizeof(req.name) - 1);	/* checked: fits */
	if (ioctl(pool->fd, BUFPOOL_IOC_QUEUE, &req) < 0)
		return -1;
	cap = req.capacity;
	if (req.size < BUFPOOL_QUEUE_REQ_SIZE_VER0 ||
	    req.id >= pool->shm.nr_queues || !cap ||
	    cap > pool->shm.queue_len || (cap & (cap - 1))) {
		if (req.id < pool->shm.nr_queues)
			bp_device_queue_close_id(pool, req.id);
		errno = EPROTO;
		return -1;
	}
	bp_queue_bind(pool, q, req.id, cap);
	q->generation = req.generation;
	q->queue_flags = req.queue_flags;
	q->produce = !!(flags & BUFPOOL_QUEUE_PRODUCE);
	q->consume = !!(flags & BUFPOOL_QUEUE_CONSUME);
	q->sp = q->produce && (req.queue_flags & BUFPOOL_QUEUE_SP);
	return 0;
}

/* The kernel drops the roles, and empties the queue for its last user. */
static void bp_device_queue_close(struct bufpool *pool,
				  struct bufpool_queue *q)
{
	bp_device_queue_close_id(pool, q->id);
}

/* The kernel clears this client's live bit when its file is released. */
static void bp_device_detach(struct bufpool *pool)
{
	(void)pool;
}

const struct bp_backend bp_device_backend = {
	.attach = bp_device_attach,
	.sleep = bp_device_sleep,
	.wake = bp_device_wake,
	.audit = bp_device_audit,
	.repair = bp_device_repair,
	.queue_open = bp_device_queue_open,
	.queue_close = bp_device_queue_close,
	.detach = bp_device_detach,
};

/* ------------------------------------------------------------------ */
/* Memfd pools                                                        */

/* A memfd pool's info: what the kernel's would say of a device pool. */
static void bp_memfd_info(struct bufpool *pool, const struct bp_layout *l,
			  int huge)
{
	struct bufpool_info *in = &pool->info;

	memset(in, 0, sizeof(*in));
	in->size = sizeof(*in);
	in->flags = BUFPOOL_INFO_F_MEMFD | (huge ? BUFPOOL_INFO_F_HUGETLB : 0);
	in->numa_node = -1;
	in->generation = 1;
	bp_layout_to_info(in, l);
}

/* This handle's word of the live-client map, and its bit in it. */
static _Atomic __u64 *bp_live_word(struct bufpool *pool, uint64_t live_offset)
{
	return (_Atomic __u64 *)((char *)pool->ctrl + live_offset) +
	       pool->client_id / 64;
}

/*
 * A memfd pool has no kernel to give ids: each open takes the next from
 * the header, and marks itself live in the live-client map (cleared at
 * bufpool_close).  Nobody reclaims for a dead client there, and a dead
 * client stays marked live; the ids only let the library tell its
 * buffers from others'.
 */
static void bp_memfd_client(struct bufpool *pool, const struct bp_layout *l)
{
	_Atomic __u32 *next = (_Atomic __u32 *)&pool->ctrl->next_client;
	uint32_t id = atomic_fetch_add_explicit(next, 1, memory_order_relaxed);

	pool->client_id = id % BUFPOOL_CLIENT_MAX + 1;
	pool->info.client_id = pool->client_id;
	atomic_fetch_or_explicit(bp_live_word(pool, l->live_offset),
				 1ULL << (pool->client_id % 64),
				 memory_order_seq_cst);
}

/*
 * bufpool_create: a new memfd pool laid out as l, in hugetlb pages if
 * huge, mapped and initialised, into pool->fd.
 */
int bp_memfd_build(struct bufpool *pool, const struct bp_layout *l, int huge)
{
	pool->fd = memfd_create("bufpool", MFD_CLOEXEC |
				(huge ? MFD_HUGETLB : 0));
	if (pool->fd < 0 ||
	    ftruncate(pool->fd, (off_t)(l->bufs_offset + l->bufs_size)) ||
	    bp_map(pool, l, huge))
		return -1;
	if (!huge)
		madvise(pool->bufs, pool->bufs_map_len, MADV_HUGEPAGE);
	bp_shm_init(pool->ctrl, l, 1);	/* the memfd is zeroed */
	bp_memfd_info(pool, l, huge);
	bp_memfd_client(pool, l);
	return 0;
}

/*
 * A memfd pool made by another process: its header says what it is; the
 * layout must be what bp_layout_compute() makes of that, and fit the
 * file.  ENOTTY when it is not a pool.
 */
static int bp_memfd_attach(struct bufpool *pool, struct bp_layout *l)
{
	struct bufpool_ctrl hdr;
	struct statfs sfs;
	struct stat st;
	int huge;

	if (pread(pool->fd, &hdr, sizeof(hdr), 0) != sizeof(hdr) ||
	    fstat(pool->fd, &st) || fstatfs(pool->fd, &sfs))
		goto not_a_pool;
	/* A pool of another ABI (before queues, 1.3): not one we can use. */
	if (hdr.magic == BUFPOOL_CTRL_MAGIC &&
	    !bp_abi_current(hdr.abi_version)) {
		errno = EPROTO;
		return -1;
	}
	/* Queues came in ABI 1.3: bp_layout_from_ctrl() wants them. */
	if (!bp_layout_from_ctrl(l, &hdr, (uint64_t)sysconf(_SC_PAGESIZE)) ||
	    (uint64_t)st.st_size < l->bufs_offset + l->bufs_size)
		goto not_a_pool;
	huge = (unsigned long)sfs.f_type == HUGETLBFS_MAGIC;
	bp_memfd_info(pool, l, huge);
	pool->info.generation = hdr.generation;
	if (bp_map(pool, l, huge))
		return -1;
	bp_memfd_client(pool, l);
	return 0;

not_a_pool:
	errno = ENOTTY;
	return -1;
}

static int bp_memfd_sleep(struct bufpool *pool, uint32_t seen, int64_t ns)
{
	struct timespec ts = { ns / 1000000000, ns % 1000000000 };
	int r;

	r = futex_async((int32_t *)&pool->ctrl->wake_seq, FUTEX_WAIT,
			(int32_t)seen, ns < 0 ? NULL : &ts, NULL, 0);
	if (r < 0 && errno == EAGAIN)
		return 0;	/* it had moved already */
	return r < 0 ? -1 : 0;
}

static void bp_memfd_wake(struct bufpool *pool)
{
	futex_async((int32_t *)&pool->ctrl->wake_seq, FUTEX_WAKE, INT32_MAX,
		    NULL, NULL, 0);
}

static int bp_memfd_audit(struct bufpool *pool, struct bufpool_audit *audit)
{
	(void)pool;
	(void)audit;
	errno = ENOTTY;	/* no kernel to audit a module-free pool */
	return -1;
}

/*
 * Nobody can stop a module-free pool's clients to repair it: what a
 * library finds corrupted it leaves out of circulation (EUCLEAN), and
 * the pool is whole again only when it is made anew.
 */
static int bp_memfd_repair(struct bufpool *pool, unsigned int flags)
{
	(void)pool;
	(void)flags;
	errno = ENOTTY;
	return -1;
}

/*
 * Queues of a memfd pool: with no kernel, the library keeps the
 * descriptors itself.  A descriptor is FREE, BUSY (being made by a
 * creator, which claimed it with a CAS) or LIVE; users counts the
 * handles that have it open (a CAS from n > 0, so nobody joins a queue
 * whose last user is leaving), and the roles are taken with a CAS from 0
 * to the client id.  The last user to leave gives what the queue holds
 * back to the pool and frees the descriptor.
 *
 * Module-free pools have no death handling, for queues as for buffers:
 * a process that dies with a queue open stays one of its users and
 * keeps its roles, and what it was enqueueing or dequeueing is lost.
 *
 * Names are compared as four 64-bit words read once into a private
 * copy (a name another client scribbled over matches nothing).  Two
 * creators of one name at once: each claims a descriptor and writes the
 * name into it, then (all of it seq_cst, so that at least one sees the
 * other) looks for the name elsewhere.  A LIVE one wins: back off
 * and join it.  Of two BUSY ones the lower descriptor wins: the higher
 * backs off and starts over, the lower waits until the higher has either
 * backed off or become LIVE (when it did not see the lower one).
 */
#define BP_QNAME_WORDS		(BUFPOOL_QUEUE_NAME_MAX / 8)
#define BP_MEMFD_QUEUE_TRIES	64
#define BP_MEMFD_QUEUE_SPINS	(1u << 20)

static _Atomic __u32 *bp_q32(__u32 *p)
{
	return (_Atomic __u32 *)p;
}

static int bp_cas_u32(__u32 *p, __u32 old, __u32 new)
{
	return atomic_compare_exchange_strong_explicit(bp_q32(p), &old, new,
			memory_order_acq_rel, memory_order_acquire);
}

static _Atomic __u64 *bp_qname_word(struct bufpool_qdesc *d, int i)
{
	return (_Atomic __u64 *)(void *)(d->name + 8 * i);
}

static void bp_qname_pack(__u64 w[BP_QNAME_WORDS], const char *name)
{
	char buf[BUFPOOL_QUEUE_NAME_MAX] = { 0 };

	strncpy(buf, name, sizeof(buf) - 1);	/* checked: fits */
	memcpy(w, buf, sizeof(buf));
}

static int bp_qname_is(struct bufpool_qdesc *d,
		       const __u64 want[BP_QNAME_WORDS], memory_order mo)
{
	__u64 w[BP_QNAME_WORDS];
	int i;

	for (i = 0; i < BP_QNAME_WORDS; i++)
		w[i] = atomic_load_explicit(bp_qname_word(d, i), mo);
	return !memcmp(w, want, sizeof(w));
}

static void bp_qname_set(struct bufpool_qdesc *d,
			 const __u64 w[BP_QNAME_WORDS], memory_order mo)
{
	int i;

	for (i = 0; i < BP_QNAME_WORDS; i++)
		atomic_store_explicit(bp_qname_word(d, i), w[i], mo);
}

/* The lowest LIVE descriptor called want: 0 and *id, *gen; -1 none. */
static int bp_memfd_queue_find(struct bp_shm *s,
			       const __u64 want[BP_QNAME_WORDS],
			       uint32_t *id, uint64_t *gen)
{
	struct bufpool_qdesc *d;
	uint32_t i;

	for (i = 0; i < s->nr_queues; i++) {
		d = &s->queues[i];
		if (atomic_load_explicit(bp_q32(&d->state),
					 memory_order_acquire) !=
		    BUFPOOL_QSTATE_LIVE)
			continue;
		*gen = bp_load_relaxed_u64(&d->generation);
		if (bp_qname_is(d, want, memory_order_relaxed)) {
			*id = i;
			return 0;
		}
	}
	return -1;
}

/*
 * Bind q to descriptor id as its creator made it: its capacity and
 * flags read once and checked (the creator is another client).
 */
static int bp_memfd_queue_bind(struct bufpool *pool, struct bufpool_queue *q,
			       uint32_t id)
{
	struct bufpool_qdesc *d = &pool->shm.queues[id];
	uint32_t cap = bp_load_relaxed_u32(&d->capacity);

	if (!cap || cap > pool->shm.queue_len || (cap & (cap - 1)))
		return -1;
	bp_queue_bind(pool, q, id, cap);
	q->queue_flags = bp_load_relaxed_u32(&d->flags) &
			 (BUFPOOL_QUEUE_SP | BUFPOOL_QUEUE_DECLARED);
	return 0;
}

/* A descriptor nobody uses any more: nameless, then FREE. */
static void bp_memfd_queue_free(struct bufpool_qdesc *d)
{
	static const __u64 none[BP_QNAME_WORDS];

	bp_qname_set(d, none, memory_order_relaxed);
	atomic_store_explicit(bp_q32(&d->state), BUFPOOL_QSTATE_FREE,
			      memory_order_release);
}

/*
 * Stop being a user of descriptor id; the last user empties the queue
 * (q bound, or NULL for a descriptor whose capacity is garbage) and
 * frees it.
 */
static void bp_memfd_queue_leave(struct bufpool *pool, uint32_t id,
				 struct bufpool_queue *q)
{
	struct bufpool_qdesc *d = &pool->shm.queues[id];
	__u32 n = bp_load_relaxed_u32(&d->users);
	int tries;

	for (tries = 0; tries < BP_MEMFD_QUEUE_TRIES; tries++) {
		if (!n)
			return;		/* garbage: nothing to leave */
		if (atomic_compare_exchange_weak_explicit(bp_q32(&d->users),
				&n, n - 1, memory_order_acq_rel,
				memory_order_relaxed))
			break;
	}
	if (tries == BP_MEMFD_QUEUE_TRIES || n != 1)
		return;
	if (q)
		bp_queue_drain(pool, q);
	bp_memfd_queue_free(d);
}

/*
 * Join the LIVE descriptor id of generation gen: 0 (q bound), 1 when it
 * went away meanwhile (look again), -1 with errno.
 */
static int bp_memfd_queue_join(struct bufpool *pool, uint32_t id,
			       uint64_t gen, struct bufpool_queue *q)
{
	struct bufpool_qdesc *d = &pool->shm.queues[id];
	struct bufpool_queue *it;
	__u32 n = bp_load_relaxed_u32(&d->users);
	int tries;

	for (it = pool->queues; it; it = it->next) {
		if (it->id == id && it->generation == gen) {
			errno = EALREADY;
			return -1;
		}
	}
	for (tries = 0; tries < BP_MEMFD_QUEUE_TRIES; tries++) {
		if (!n)
			return 1;	/* its last user is leaving */
		if (atomic_compare_exchange_weak_explicit(bp_q32(&d->users),
				&n, n + 1, memory_order_acq_rel,
				memory_order_relaxed))
			break;
	}
	if (tries == BP_MEMFD_QUEUE_TRIES) {
		errno = EAGAIN;
		return -1;
	}
	/* Counted in the queue we looked up, not a later one made here? */
	if (atomic_load_explicit(bp_q32(&d->state), memory_order_acquire) !=
	    BUFPOOL_QSTATE_LIVE || bp_load_relaxed_u64(&d->generation) != gen) {
		bp_memfd_queue_leave(pool, id,
				     bp_memfd_queue_bind(pool, q, id) ? NULL : q);
		return 1;
	}
	if (bp_memfd_queue_bind(pool, q, id)) {
		bp_memfd_queue_leave(pool, id, NULL);
		errno = EUCLEAN;
		return -1;
	}
	q->generation = gen;
	return 0;
}

/*
 * After claiming descriptor mine and naming it want: 0 when it may go
 * LIVE, 1 when it must back off (the name is LIVE, or claimed in a lower
 * descriptor, elsewhere).
 */
static int bp_memfd_queue_conflict(struct bp_shm *s, uint32_t mine,
				   const __u64 want[BP_QNAME_WORDS])
{
	struct bufpool_qdesc *d;
	uint32_t i, spins, st;

	for (i = 0; i < s->nr_queues; i++) {
		if (i == mine)
			continue;
		d = &s->queues[i];
		for (spins = 0; ; spins++) {
			st = atomic_load_explicit(bp_q32(&d->state),
						  memory_order_seq_cst);
			if ((st != BUFPOOL_QSTATE_LIVE &&
			     st != BUFPOOL_QSTATE_BUSY) ||
			    !bp_qname_is(d, want, memory_order_seq_cst))
				break;
			if (st == BUFPOOL_QSTATE_LIVE || i < mine ||
			    spins == BP_MEMFD_QUEUE_SPINS)
				return 1;
			bp_cpu_relax();	/* a higher claim: let it settle */
		}
	}
	return 0;
}

/*
 * Make a queue called want: 0 and *id (this handle its one user), 1 to
 * look again (someone else made it meanwhile), -1 with errno.
 */
static int bp_memfd_queue_create(struct bufpool *pool,
				 const __u64 want[BP_QNAME_WORDS],
				 unsigned int flags, uint32_t capacity,
				 uint32_t *id, uint64_t *gen)
{
	struct bp_shm *s = &pool->shm;
	struct bufpool_qdesc *d = NULL;
	uint32_t i, st;

	for (i = 0; i < s->nr_queues; i++) {
		d = &s->queues[i];
		st = BUFPOOL_QSTATE_FREE;
		/* seq_cst: with the name, a claim the others' scans see. */
		if (bp_load_relaxed_u32(&d->state) == BUFPOOL_QSTATE_FREE &&
		    atomic_compare_exchange_strong_explicit(bp_q32(&d->state),
				&st, BUFPOOL_QSTATE_BUSY, memory_order_seq_cst,
				memory_order_relaxed))
			break;
	}
	if (i == s->nr_queues) {
		errno = ENOSPC;
		return -1;
	}
	*gen = bp_load_relaxed_u64(&d->generation) + 1;
	bp_store_relaxed_u64(&d->generation, *gen);
	/*
	 * The claim and the name seq_cst, and the others' states and names
	 * read seq_cst after them (bp_memfd_queue_conflict()): of two
	 * claimants, at least one sees the other's claim and name (Dekker).
	 */
	bp_qname_set(d, want, memory_order_seq_cst);
	bp_store_relaxed_u32(&d->flags, flags & BUFPOOL_QUEUE_SINGLE_PRODUCER ?
			     BUFPOOL_QUEUE_SP : 0);
	bp_store_relaxed_u32(&d->capacity, capacity);
	bp_store_relaxed_u32(&d->consumer, 0);
	bp_store_relaxed_u32(&d->producer, 0);
	bp_store_relaxed_u32(&d->users, 1);
	bp_q_reset(d);
	bp_q_slots_init(s->qslots + (uint64_t)i * s->queue_len, capacity);
	if (bp_memfd_queue_conflict(s, i, want)) {
		bp_memfd_queue_free(d);
		return 1;
	}
	atomic_store_explicit(bp_q32(&d->state), BUFPOOL_QSTATE_LIVE,
			      memory_order_release);
	*id = i;
	return 0;
}

/* Take the roles flags ask for; EBUSY when one is taken. */
static int bp_memfd_queue_roles(struct bufpool *pool, struct bufpool_queue *q,
				unsigned int flags)
{
	struct bufpool_qdesc *d = q->q.d;
	uint32_t me = pool->client_id;

	q->produce = !!(flags & BUFPOOL_QUEUE_PRODUCE);
	if (flags & BUFPOOL_QUEUE_CONSUME) {
		if (!bp_cas_u32(&d->consumer, 0, me))
			goto busy;
		q->consume = 1;
	}
	if (q->produce && (q->queue_flags & BUFPOOL_QUEUE_SP)) {
		if (!bp_cas_u32(&d->producer, 0, me)) {
			if (q->consume)
				bp_cas_u32(&d->consumer, me, 0);
			q->consume = 0;
			goto busy;
		}
		q->sp = 1;
	}
	return 0;

busy:
	errno = EBUSY;
	return -1;
}

static int bp_memfd_queue_open(struct bufpool *pool, const char *name,
			       unsigned int flags, uint32_t capacity,
			       struct bufpool_queue *q)
{
	__u64 want[BP_QNAME_WORDS];
	uint64_t gen;
	uint32_t id;
	int tries, r;

	bp_qname_pack(want, name);
	for (tries = 0; tries < BP_MEMFD_QUEUE_TRIES; tries++) {
		if (bp_memfd_queue_find(&pool->shm, want, &id, &gen) == 0) {
			if ((flags & BUFPOOL_QUEUE_CREATE) &&
			    (flags & BUFPOOL_QUEUE_EXCL)) {
				errno = EEXIST;
				return -1;
			}
			r = bp_memfd_queue_join(pool, id, gen, q);
		} else if (!(flags & BUFPOOL_QUEUE_CREATE)) {
			errno = ENOENT;
			return -1;
		} else {
			r = bp_memfd_queue_create(pool, want, flags, capacity,
						  &id, &gen);
			if (r == 0) {
				bp_queue_bind(pool, q, id, capacity);
				q->generation = gen;
				q->queue_flags = flags &
					BUFPOOL_QUEUE_SINGLE_PRODUCER ?
					BUFPOOL_QUEUE_SP : 0;
			}
		}
		if (r < 0)
			return -1;
		if (r == 0)
			break;
	}
	if (tries == BP_MEMFD_QUEUE_TRIES) {
		errno = EAGAIN;
		return -1;
	}
	if (bp_memfd_queue_roles(pool, q, flags)) {
		bp_memfd_queue_leave(pool, id, q);
		return -1;
	}
	return 0;
}

static void bp_memfd_queue_close(struct bufpool *pool, struct bufpool_queue *q)
{
	uint32_t me = pool->client_id;

	if (q->consume)
		bp_cas_u32(&q->q.d->consumer, me, 0);
	if (q->sp)
		bp_cas_u32(&q->q.d->producer, me, 0);
	bp_memfd_queue_leave(pool, q->id, q);
}

static void bp_memfd_detach(struct bufpool *pool)
{
	atomic_fetch_and_explicit(bp_live_word(pool, pool->info.live_offset),
				  ~(1ULL << (pool->client_id % 64)),
				  memory_order_seq_cst);
}

const struct bp_backend bp_memfd_backend = {
	.attach = bp_memfd_attach,
	.sleep = bp_memfd_sleep,
	.wake = bp_memfd_wake,
	.audit = bp_memfd_audit,
	.repair = bp_memfd_repair,
	.queue_open = bp_memfd_queue_open,
	.queue_close = bp_memfd_queue_close,
	.detach = bp_memfd_detach,
};
