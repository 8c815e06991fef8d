// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool: queues of buffer indices in the control area (ABI 1.3).
 *
 * The kernel keeps each queue descriptor's truth in pool->queues (name,
 * flags, capacity, users and roles) under pool->lock, and writes the
 * shared descriptor's info line from it for information only.  The
 * queue algorithm itself runs in userspace (uapi/bufpool/queue.h); the
 * kernel makes and resets queues, gives roles out, and reconciles what
 * they hold (uapi/bufpool/reconcile.h).
 *
 * When a queue's last user goes (BUFPOOL_QOP_CLOSE, or its file is
 * released), the queue is marked to drain: the next reconciliation does
 * not count its slots, so what it held, named by nothing else, goes
 * back to the pool, and then, with the pool still stopped, its slots and
 * counters are reset and a queue a client made is freed.  A release
 * reconciles anyway, so the drain costs no extra pass; while a legacy
 * client defers reconciliation the queue keeps its contents until the
 * next reconciliation, or the rebuild at last close.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/ctype.h>
#include <linux/log2.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "bufpool-private.h"

/**
 * bufpool_queue_name_ok - is @name a queue's name?
 * @name: a string
 * @max: bytes it may take, with its NUL
 *
 * Return: whether it is 1 to BUFPOOL_QUEUE_NAME_MAX - 1 of [A-Za-z0-9_.-]
 * and ends within @max bytes.
 */
bool bufpool_queue_name_ok(const char *name, size_t max)
{
	size_t len = strnlen(name, max), i;

	if (!len || len >= max || len >= BUFPOOL_QUEUE_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum(name[i]) && name[i] != '_' && name[i] != '.' &&
		    name[i] != '-')
			return false;
	return true;
}

/**
 * bufpool_live_set - set or clear a client's bit in the live-client map
 * @pool: the pool, whose lock the caller holds
 * @id: the client
 * @live: set, or clear
 *
 * Clients may scribble the word: the kernel never reads it for anything
 * but this update.
 */
void bufpool_live_set(struct bufpool_pool *pool, u32 id, bool live)
{
	u64 *w = (u64 *)((char *)pool->ctrl + pool->layout.live_offset) +
		 id / 64;
	u64 bit = BIT_ULL(id % 64);

	lockdep_assert_held(&pool->lock);
	WRITE_ONCE(*w, live ? READ_ONCE(*w) | bit : READ_ONCE(*w) & ~bit);
}

static struct bufpool_qdesc *bufpool_queue_desc(struct bufpool_pool *pool,
						u32 k)
{
	return (struct bufpool_qdesc *)((char *)pool->ctrl +
					pool->layout.queues_offset) + k;
}

static u64 *bufpool_queue_slots(struct bufpool_pool *pool, u32 k)
{
	return (u64 *)((char *)pool->ctrl + pool->layout.qslots_offset) +
	       (u64)k * pool->layout.queue_len;
}

/* Write the shared descriptor's info line from the kernel's copy. */
static void bufpool_queue_publish(struct bufpool_pool *pool, u32 k)
{
	struct bufpool_qdesc *d = bufpool_queue_desc(pool, k);
	struct bufpool_kqueue *kq = &pool->queues[k];
	size_t i;

	WRITE_ONCE(d->flags, kq->flags);
	WRITE_ONCE(d->capacity, kq->capacity);
	WRITE_ONCE(d->consumer, kq->consumer);
	WRITE_ONCE(d->producer, kq->producer);
	WRITE_ONCE(d->users, kq->users);
	WRITE_ONCE(d->generation, kq->generation);
	for (i = 0; i < sizeof(d->name); i++)
		WRITE_ONCE(d->name[i], kq->name[i]);
	/* The rest of the line, and a new queue's slots, before its state. */
	smp_store_release(&d->state, kq->state);
}

/* Slots and counters of queue k as for a queue nobody used yet. */
static void bufpool_queue_reset(struct bufpool_pool *pool, u32 k)
{
	bp_q_reset(bufpool_queue_desc(pool, k));
	bp_q_slots_init(bufpool_queue_slots(pool, k), pool->queues[k].capacity);
}

/* Make queue k: a new generation, fresh slots, live. */
static void bufpool_queue_make(struct bufpool_pool *pool, u32 k,
			       const char *name, u32 capacity, u32 flags)
{
	struct bufpool_kqueue *kq = &pool->queues[k];

	strscpy_pad(kq->name, name, sizeof(kq->name));
	kq->flags = flags;
	kq->capacity = capacity;
	kq->users = 0;
	kq->consumer = 0;
	kq->producer = 0;
	kq->drain = false;
	kq->generation++;
	kq->state = BUFPOOL_QSTATE_LIVE;
	bufpool_queue_reset(pool, k);
	bufpool_queue_publish(pool, k);
}

/* Queue k is no more: free, its name cleared, its generation kept. */
static void bufpool_queue_free(struct bufpool_pool *pool, u32 k)
{
	struct bufpool_kqueue *kq = &pool->queues[k];

	memset(kq->name, 0, sizeof(kq->name));
	kq->flags = 0;
	kq->capacity = 0;
	kq->users = 0;
	kq->consumer = 0;
	kq->producer = 0;
	kq->drain = false;
	kq->state = BUFPOOL_QSTATE_FREE;
	bufpool_queue_publish(pool, k);
}

/**
 * bufpool_queues_init - the queues of a new pool: those declared at load
 * @pool: the pool, its control area built
 * @spec: its spec, checked
 *
 * Return: 0 or -ENOMEM.
 */
int bufpool_queues_init(struct bufpool_pool *pool,
			const struct bufpool_pool_spec *spec)
{
	u32 n = pool->layout.nr_queues, k;

	if (!n)
		return 0;
	pool->queues = kcalloc(n, sizeof(*pool->queues), GFP_KERNEL);
	pool->rqueues = kcalloc(n, sizeof(*pool->rqueues), GFP_KERNEL);
	if (!pool->queues || !pool->rqueues)
		return -ENOMEM;
	pool->recon.queues = pool->rqueues;
	for (k = 0; k < spec->nr_declared; k++)
		bufpool_queue_make(pool, k, spec->declared[k].name,
				   roundup_pow_of_two(spec->declared[k].capacity),
				   spec->declared[k].flags |
				   BUFPOOL_QUEUE_DECLARED);
	return 0;
}

/**
 * bufpool_queues_rebuild - the queues of a rebuilt control area
 * @pool: the pool, nobody has it open; its area just rebuilt
 *
 * Declared queues are made again, empty; the others are gone.
 */
void bufpool_queues_rebuild(struct bufpool_pool *pool)
{
	struct bufpool_kqueue *kq;
	u32 k;

	for (k = 0; k < pool->layout.nr_queues; k++) {
		kq = &pool->queues[k];
		if (kq->state != BUFPOOL_QSTATE_LIVE)
			bufpool_queue_publish(pool, k);	/* the generation */
		else if (kq->flags & BUFPOOL_QUEUE_DECLARED)
			bufpool_queue_make(pool, k, kq->name, kq->capacity,
					   kq->flags);
		else
			bufpool_queue_free(pool, k);
	}
}

/**
 * bufpool_queues_recon_setup - the live queues, for reconciliation
 * @pool: the pool, whose lock the caller holds
 *
 * Return: how many entries of pool->rqueues were filled: every live
 * queue, counted unless it is to drain.
 */
u32 bufpool_queues_recon_setup(struct bufpool_pool *pool)
{
	struct bp_recon_queue *rq;
	struct bufpool_kqueue *kq;
	u32 k, n = 0;

	lockdep_assert_held(&pool->lock);
	for (k = 0; k < pool->layout.nr_queues; k++) {
		kq = &pool->queues[k];
		if (kq->state != BUFPOOL_QSTATE_LIVE)
			continue;
		rq = &pool->rqueues[n++];
		rq->q.d = bufpool_queue_desc(pool, k);
		rq->q.slots = bufpool_queue_slots(pool, k);
		rq->q.mask = kq->capacity - 1;
		rq->q.shift = ilog2(kq->capacity);
		rq->q.buf_count = pool->layout.buf_count;
		rq->consumer = kq->consumer;
		rq->count = !kq->drain;
	}
	return n;
}

/**
 * bufpool_queues_drained - finish the drains of a reconciliation
 * @pool: the pool, stopped, whose lock the caller holds
 *
 * What a queue to drain held went back: reset it, and free it unless it
 * was declared at load.
 */
void bufpool_queues_drained(struct bufpool_pool *pool)
{
	struct bufpool_kqueue *kq;
	u32 k;

	lockdep_assert_held(&pool->lock);
	for (k = 0; k < pool->layout.nr_queues; k++) {
		kq = &pool->queues[k];
		if (kq->state != BUFPOOL_QSTATE_LIVE || !kq->drain)
			continue;
		bufpool_queue_reset(pool, k);
		kq->drain = false;
		if (kq->flags & BUFPOOL_QUEUE_DECLARED)
			bufpool_queue_publish(pool, k);
		else
			bufpool_queue_free(pool, k);
	}
}

/* @client stops using queue k: its roles go; the last user drains it. */
static void bufpool_queue_leave(struct bufpool_client *client, u32 k)
{
	struct bufpool_pool *pool = client->pool;
	struct bufpool_kqueue *kq = &pool->queues[k];

	clear_bit(k, client->queues);
	if (kq->consumer == client->id)
		kq->consumer = 0;
	if (kq->producer == client->id)
		kq->producer = 0;
	if (!--kq->users)
		kq->drain = true;
	bufpool_queue_publish(pool, k);
}

/**
 * bufpool_queues_client_gone - a client's file is released
 * @client: the client, whose pool's lock the caller holds
 *
 * Its roles and uses end; the reconciliation that follows drains the
 * queues it was the last user of.
 */
void bufpool_queues_client_gone(struct bufpool_client *client)
{
	u32 k;

	lockdep_assert_held(&client->pool->lock);
	for_each_set_bit(k, client->queues, BUFPOOL_MAX_QUEUES)
		bufpool_queue_leave(client, k);
}

#define BUFPOOL_QOPEN_ALL	(BUFPOOL_QOPEN_CREATE | BUFPOOL_QOPEN_EXCL | \
				 BUFPOOL_QOPEN_SP | BUFPOOL_QOPEN_PRODUCE | \
				 BUFPOOL_QOPEN_CONSUME)

static int bufpool_queue_open(struct bufpool_client *client,
			      struct bufpool_queue_req *req)
{
	struct bufpool_pool *pool = client->pool;
	u32 n = pool->layout.nr_queues, k, found = n, free = n, capacity = 0;
	struct bufpool_kqueue *kq;

	if (req->flags & ~BUFPOOL_QOPEN_ALL ||
	    ((req->flags & (BUFPOOL_QOPEN_EXCL | BUFPOOL_QOPEN_SP)) &&
	     !(req->flags & BUFPOOL_QOPEN_CREATE)) ||
	    !bufpool_queue_name_ok(req->name, sizeof(req->name)))
		return -EINVAL;
	if (req->flags & BUFPOOL_QOPEN_CREATE) {
		if (!req->capacity || req->capacity > pool->layout.queue_len)
			return -EINVAL;
		capacity = roundup_pow_of_two(req->capacity);
	}

	lockdep_assert_held(&pool->lock);
	for (k = 0; k < n; k++) {
		kq = &pool->queues[k];
		if (kq->state != BUFPOOL_QSTATE_LIVE) {
			if (free == n)
				free = k;
		} else if (!strcmp(kq->name, req->name)) {
			found = k;
			break;
		}
	}
	if (found == n) {
		if (!(req->flags & BUFPOOL_QOPEN_CREATE))
			return -ENOENT;
		if (free == n)
			return -ENOSPC;
		found = free;
		bufpool_queue_make(pool, found, req->name, capacity,
				   req->flags & BUFPOOL_QOPEN_SP ?
				   BUFPOOL_QUEUE_SP : 0);
	} else if (req->flags & BUFPOOL_QOPEN_EXCL) {
		return -EEXIST;
	}
	kq = &pool->queues[found];
	if (test_bit(found, client->queues))
		return -EALREADY;
	if (((req->flags & BUFPOOL_QOPEN_CONSUME) && kq->consumer) ||
	    ((req->flags & BUFPOOL_QOPEN_PRODUCE) &&
	     (kq->flags & BUFPOOL_QUEUE_SP) && kq->producer)) {
		/* A queue made by this very call has neither role taken. */
		return -EBUSY;
	}
	if (req->flags & BUFPOOL_QOPEN_CONSUME)
		kq->consumer = client->id;
	if ((req->flags & BUFPOOL_QOPEN_PRODUCE) &&
	    (kq->flags & BUFPOOL_QUEUE_SP))
		kq->producer = client->id;
	kq->users++;
	kq->drain = false;
	set_bit(found, client->queues);
	bufpool_queue_publish(pool, found);

	req->id = found;
	req->capacity = kq->capacity;
	req->queue_flags = kq->flags;
	req->generation = kq->generation;
	return 0;
}

static int bufpool_queue_close(struct bufpool_client *client,
			       struct bufpool_queue_req *req)
{
	struct bufpool_pool *pool = client->pool;
	struct bufpool_kqueue *kq;

	lockdep_assert_held(&pool->lock);
	if (req->flags || req->id >= pool->layout.nr_queues ||
	    !test_bit(req->id, client->queues))
		return -EINVAL;
	kq = &pool->queues[req->id];
	req->capacity = kq->capacity;
	req->queue_flags = kq->flags;
	req->generation = kq->generation;
	bufpool_queue_leave(client, req->id);
	if (kq->drain) {
		if (pool->nr_legacy)
			atomic_long_inc(&pool->deferred);
		else
			bufpool_reconcile(pool, BUFPOOL_RECON_DRAIN);
	}
	return 0;
}

/**
 * bufpool_queue_ioctl - BUFPOOL_IOC_QUEUE
 * @client: the caller
 * @uarg: its struct bufpool_queue_req
 * @usize: the size the command says, at least BUFPOOL_QUEUE_REQ_SIZE_VER0
 *
 * Return: 0 or a negative errno (see uapi/linux/bufpool.h); a refused
 * call changes nothing.
 */
long bufpool_queue_ioctl(struct bufpool_client *client, void __user *uarg,
			 size_t usize)
{
	struct bufpool_pool *pool = client->pool;
	struct bufpool_queue_req req;
	u32 filled;
	int err;

	if (usize < BUFPOOL_QUEUE_REQ_SIZE_VER0)
		return -EINVAL;
	err = copy_struct_from_user(&req, sizeof(req), uarg, usize);
	if (err)
		return err;

	mutex_lock(&pool->lock);
	switch (req.op) {
	case BUFPOOL_QOP_OPEN:
		err = bufpool_queue_open(client, &req);
		break;
	case BUFPOOL_QOP_CLOSE:
		err = bufpool_queue_close(client, &req);
		break;
	default:
		err = -EINVAL;
		break;
	}
	mutex_unlock(&pool->lock);
	if (err)
		return err;

	filled = min(usize, sizeof(req));
	req.size = filled;
	if (copy_to_user(uarg, &req, filled))
		return -EFAULT;
	if (usize > sizeof(req) &&
	    clear_user(uarg + sizeof(req), usize - sizeof(req)))
		return -EFAULT;
	return 0;
}
