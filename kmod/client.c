// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool: clients, ownership and recovery.
 *
 * Every open file of a pool is a client with an id.  Clients record in
 * the shared control area what they hold (own[], caches), by the
 * rules in uapi/bufpool/reconcile.h.  When a client's file is
 * released, its process is gone or done with the pool, and whatever
 * only its records name goes back to the pool; when the last client
 * goes, the control area is rebuilt from scratch.
 *
 * The kernel reads the control area only with every mapping of it
 * stopped: it locks the area's pages, which every fault must lock to
 * map one, and unmaps them from every process.  A client thread that
 * touches the area meanwhile waits in a page fault; a thread that was
 * between two stores goes on afterwards as if nothing had happened,
 * except that a compare-and-swap it prepared before fails and is
 * retried.  So the kernel sees one consistent state, and the lists and
 * records it rewrites are never written under it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/workqueue.h>

#include "bufpool-private.h"

/* Stop every mapping of the control area: see the top of this file. */
static void bufpool_stop_mappings(struct bufpool_pool *pool)
{
	pgoff_t i, n = bufpool_ctrl_pages(pool);

	lockdep_assert_held(&pool->lock);
	for (i = 0; i < n; i++)
		lock_page(bufpool_pool_page(pool, i));
	unmap_mapping_range(pool->inode->i_mapping, 0,
			    pool->layout.ctrl_size, 1);
}

/* Let the faults that bufpool_stop_mappings() held map the pages again. */
static void bufpool_resume_mappings(struct bufpool_pool *pool)
{
	pgoff_t i, n = bufpool_ctrl_pages(pool);

	for (i = 0; i < n; i++)
		unlock_page(bufpool_pool_page(pool, i));
}

/**
 * bufpool_reconcile - reconcile the pool now, draining the queues to drain
 * @pool: the pool, whose lock the caller holds
 *
 * Return: how long the pool was stopped, in nanoseconds.
 */
u64 bufpool_reconcile(struct bufpool_pool *pool)
{
	struct bp_recon *recon = &pool->recon;
	struct bp_shm shm;
	ktime_t start;
	u64 stopped;

	lockdep_assert_held(&pool->lock);
	memset(recon->free_bm, 0, bufpool_recon_words(pool) * sizeof(u64));
	recon->free = 0;
	recon->cached = 0;
	recon->held = 0;
	recon->transit = 0;
	recon->queued = 0;
	recon->reclaimed = 0;
	recon->repaired = 0;
	recon->dropped = 0;
	recon->nr_queues = bufpool_queues_recon_setup(pool);
	bp_shm_bind(&shm, pool->ctrl, &pool->layout);
	start = ktime_get();
	bufpool_stop_mappings(pool);
	bp_reconcile(&shm, recon);
	/* What the drained queues held went back: reset them, still stopped. */
	bufpool_queues_drained(pool);
	/* What the gone held counts as released, for the statistics. */
	WRITE_ONCE(pool->ctrl->kernel_released,
		   READ_ONCE(pool->ctrl->kernel_released) + recon->dropped);
	bufpool_resume_mappings(pool);
	stopped = ktime_to_ns(ktime_sub(ktime_get(), start));
	bufpool_pool_stats(pool, NULL);	/* samples the high watermark */
	atomic_long_add(recon->reclaimed, &pool->reclaimed);
	atomic_long_add(recon->repaired, &pool->repaired);
	return stopped;
}

/**
 * bufpool_pool_stats - the pool's statistics, summed over the caches
 * @pool: the pool
 * @stats: filled in, or NULL just to sample the high watermark
 *
 * The counters are read without stopping anyone: each is read once and
 * is monotonic, so the sums are a recent view.  The high watermark is
 * the most in use any reader has seen.
 */
void bufpool_pool_stats(struct bufpool_pool *pool,
			struct bufpool_pool_stats *stats)
{
	struct bufpool_ctrl *ctrl = pool->ctrl;
	struct bp_stats sum;
	struct bp_shm shm;
	u64 high_watermark;

	bp_shm_bind(&shm, ctrl, &pool->layout);
	bp_stats_sum(&shm, ctrl, &sum);
	high_watermark = bp_stats_high_watermark(ctrl, sum.in_use);
	if (!stats)
		return;
	stats->sum = sum;
	stats->high_watermark = high_watermark;
}

/* Nobody has the pool open, so nobody maps it: start it afresh. */
static void bufpool_rebuild(struct bufpool_pool *pool)
{
	memset(pool->ctrl, 0, pool->layout.ctrl_size);
	pool->generation++;
	bp_shm_init(pool->ctrl, &pool->layout, pool->generation);
	bufpool_queues_rebuild(pool);
	atomic_long_inc(&pool->rebuilds);
}

/**
 * bufpool_client_open - a new client of @pool
 * @pool: the pool
 *
 * Return: the client, or an ERR_PTR: -EUSERS when every client id is
 * taken, -ENOMEM.
 */
struct bufpool_client *bufpool_client_open(struct bufpool_pool *pool)
{
	struct bufpool_client *client;
	u32 i, id = 0;

	client = kzalloc(sizeof(*client), GFP_KERNEL);
	if (!client)
		return ERR_PTR(-ENOMEM);

	mutex_lock(&pool->lock);
	/* Cycle through ids, so that a dead client's id is not reused soon. */
	for (i = 0; i < BUFPOOL_CLIENT_MAX; i++) {
		id = (pool->last_id + i) % BUFPOOL_CLIENT_MAX + 1;
		if (!bp_bm_test_set(pool->live, id))
			break;
	}
	if (i == BUFPOOL_CLIENT_MAX) {
		mutex_unlock(&pool->lock);
		kfree(client);
		return ERR_PTR(-EUSERS);
	}
	pool->last_id = id;
	pool->nr_clients++;
	bufpool_live_set(pool, id, true);
	mutex_unlock(&pool->lock);

	bufpool_pool_get(pool);
	client->pool = pool;
	client->id = id;
	return client;
}

/**
 * bufpool_client_close - a client is gone: give back what it held
 * @client: the client, freed here
 */
void bufpool_client_close(struct bufpool_client *client)
{
	struct bufpool_pool *pool = client->pool;

	mutex_lock(&pool->lock);
	pool->live[client->id / 64] &= ~(1ULL << (client->id % 64));
	bufpool_live_set(pool, client->id, false);
	/*
	 * Gone from the shared map before anything it was addressed is given
	 * back: a giver that stores own[x] = TO | id and then finds the bit
	 * set knows the reconciliation below will see its store.
	 */
	smp_mb();
	pool->nr_clients--;
	if (client->legacy)
		pool->nr_legacy--;
	bufpool_queues_client_gone(client);
	if (!pool->nr_clients) {
		bufpool_rebuild(pool);
	} else if (pool->nr_legacy) {
		/* A legacy client's holdings look lost: wait for the last. */
		atomic_long_inc(&pool->deferred);
	} else {
		atomic_long_inc(&pool->reclaims);
		bufpool_reconcile(pool);
	}
	mutex_unlock(&pool->lock);

	bufpool_pool_put(pool);
	kfree(client);
}

/**
 * bufpool_client_mapped - a client mapped the control area
 * @client: the client
 *
 * Without BUFPOOL_IOC_ATTACH first, its records cannot be trusted: it
 * counts as a legacy client, and reconciliation waits for the last
 * client to go.
 */
void bufpool_client_mapped(struct bufpool_client *client)
{
	struct bufpool_pool *pool = client->pool;

	mutex_lock(&pool->lock);
	if (!client->attached && !client->legacy) {
		client->legacy = true;
		pool->nr_legacy++;
	}
	mutex_unlock(&pool->lock);
}

/**
 * bufpool_client_attach - a client says it keeps ABI 1.2 records
 * @client: the client
 * @abi: the ABI version the client speaks
 *
 * Return: the client's id, or -EPROTO for an ABI without the records.
 */
int bufpool_client_attach(struct bufpool_client *client, u32 abi)
{
	struct bufpool_pool *pool = client->pool;

	if (!bp_abi_usable(abi))
		return -EPROTO;
	mutex_lock(&pool->lock);
	client->attached = true;
	if (client->legacy) {
		client->legacy = false;
		pool->nr_legacy--;
	}
	mutex_unlock(&pool->lock);
	return client->id;
}

/*
 * Reconciliations that clients ask for (BUFPOOL_IOC_AUDIT, _REPAIR)
 * stop every client of the pool, so they are spaced (the contract above
 * BUFPOOL_IOC_REPAIR): one starts no earlier than the end of the last
 * one plus the larger of repair_interval_ms and 100 times its duration,
 * so that a client asking in a loop stops the others at most 1% of the
 * time (and at most one reconciliation per interval).  A synchronous
 * caller that comes early sleeps, without the pool's lock, until then;
 * if meanwhile another client-asked reconciliation started (after its
 * call, since it held the lock to look) and ended, that one serves it
 * and it runs none.  An ASYNC request arms the pool's delayed work for
 * the allowed time; requests coalesce.  Reconciliations for a client's
 * departure stay immediate and outside this budget: nobody asks for
 * them, each costs an open and a close, and delaying them would delay
 * giving back what the departed client held.
 */

/* When the next client-asked reconciliation may start; under pool->lock. */
static ktime_t bufpool_asked_next(struct bufpool_pool *pool)
{
	u64 gap = max_t(u64, (u64)pool->repair_interval_ms * NSEC_PER_MSEC,
			100 * pool->asked_ns);

	if (!atomic_long_read(&pool->repairs))
		return 0;	/* none yet */
	return ktime_add_ns(pool->asked_end, gap);
}

/* Jiffies from now to @t, rounded up; 0 when @t has come. */
static unsigned long bufpool_jiffies_until(ktime_t t)
{
	s64 ns = ktime_to_ns(ktime_sub(t, ktime_get()));

	if (ns <= 0)
		return 0;
	return usecs_to_jiffies(min_t(u64, div_u64(ns, NSEC_PER_USEC) + 1,
				      U32_MAX));
}

/* A client-asked reconciliation, now: pool->lock held, no legacy client. */
static void bufpool_reconcile_asked(struct bufpool_pool *pool)
{
	struct bp_recon *recon = &pool->recon;
	struct bufpool_audit *out = &pool->asked_audit;
	u64 stopped;

	stopped = bufpool_reconcile(pool);
	pool->asked_end = ktime_get();
	pool->asked_ns = stopped;
	atomic64_add(stopped, &pool->repair_stopped_ns);
	atomic_long_inc(&pool->repairs);
	/* Statistics only: clients may read (and write) the copy. */
	WRITE_ONCE(pool->ctrl->repairs, atomic_long_read(&pool->repairs));

	memset(out, 0, sizeof(*out));
	out->clients = pool->nr_clients;
	out->legacy = pool->nr_legacy;
	out->buf_count = pool->layout.buf_count;
	out->free = recon->free;
	out->cached = recon->cached;
	out->held = recon->held;
	out->transit = recon->transit;
	out->reclaimed = recon->reclaimed;
	out->repaired = recon->repaired;
	out->generation = pool->generation;
	out->queued = recon->queued;
	out->queues = recon->nr_queues;
}

/* Sleep, interruptibly, until @t (CLOCK_MONOTONIC): 0, or -EINTR. */
static int bufpool_sleep_until(ktime_t t)
{
	set_current_state(TASK_INTERRUPTIBLE);
	schedule_hrtimeout_range(&t, 100 * NSEC_PER_USEC, HRTIMER_MODE_ABS);
	__set_current_state(TASK_RUNNING);
	return signal_pending(current) ? -EINTR : 0;
}

/*
 * A synchronous client-asked reconciliation, rate-limited: one that
 * starts after the call has ended when this returns 0; its report in
 * @out if not NULL.  -EBUSY while a legacy client maps the pool, -EINTR
 * on a signal while waiting.
 */
static int bufpool_pool_asked(struct bufpool_pool *pool,
			      struct bufpool_audit *out)
{
	bool waited = false;
	ktime_t next;
	long seq;
	int err;

	mutex_lock(&pool->lock);
	seq = atomic_long_read(&pool->repairs);
	for (;;) {
		err = pool->nr_legacy ? -EBUSY : 0;
		/* Ran since the call (after it: the call held the lock). */
		if (err || atomic_long_read(&pool->repairs) != seq)
			break;
		next = bufpool_asked_next(pool);
		if (ktime_compare(ktime_get(), next) >= 0) {
			bufpool_reconcile_asked(pool);
			break;
		}
		if (!waited) {
			waited = true;
			atomic_long_inc(&pool->repair_waits);
		}
		mutex_unlock(&pool->lock);
		err = bufpool_sleep_until(next);
		mutex_lock(&pool->lock);
		if (err)
			break;
	}
	if (!err && out)
		*out = pool->asked_audit;
	mutex_unlock(&pool->lock);
	return err;
}

/**
 * bufpool_repair_work - the reconciliation an ASYNC REPAIR asked for
 * @work: the pool's repair_work
 *
 * Runs it when the rate limit allows (else waits again), unless one ran
 * since the last request, the pool has no client (the last close
 * rebuilt it) or a legacy client maps it.
 */
void bufpool_repair_work(struct work_struct *work)
{
	struct bufpool_pool *pool = container_of(to_delayed_work(work),
						 struct bufpool_pool,
						 repair_work);
	unsigned long delay;

	mutex_lock(&pool->lock);
	if (pool->nr_clients && !pool->nr_legacy &&
	    atomic_long_read(&pool->repairs) == pool->async_seq) {
		delay = bufpool_jiffies_until(bufpool_asked_next(pool));
		if (delay)
			queue_delayed_work(system_unbound_wq, &pool->repair_work,
					   delay);
		else
			bufpool_reconcile_asked(pool);
	}
	mutex_unlock(&pool->lock);
}

/**
 * bufpool_pool_repair - BUFPOOL_IOC_REPAIR
 * @pool: the pool
 * @flags: 0 (wait for a reconciliation that starts after the call) or
 *	   BUFPOOL_REPAIR_ASYNC (schedule one)
 *
 * Return: 0, -EINVAL for unknown flags, -EBUSY while a legacy client
 * maps the pool, -EINTR on a signal while waiting.
 */
int bufpool_pool_repair(struct bufpool_pool *pool, u32 flags)
{
	unsigned long delay;

	atomic_long_inc(&pool->repair_requests);
	if (flags & ~BUFPOOL_REPAIR_ASYNC)
		return -EINVAL;
	if (!(flags & BUFPOOL_REPAIR_ASYNC))
		return bufpool_pool_asked(pool, NULL);

	mutex_lock(&pool->lock);
	if (pool->nr_legacy) {
		mutex_unlock(&pool->lock);
		return -EBUSY;
	}
	pool->async_seq = atomic_long_read(&pool->repairs);
	delay = bufpool_jiffies_until(bufpool_asked_next(pool));
	if (delay)
		atomic_long_inc(&pool->repair_waits);
	/* Already pending: that run serves this request too. */
	queue_delayed_work(system_unbound_wq, &pool->repair_work, delay);
	mutex_unlock(&pool->lock);
	return 0;
}

/**
 * bufpool_pool_audit - reconcile @pool and say what it holds
 * @pool: the pool
 * @out: filled in; ->size is left to the caller
 *
 * Rate-limited like every client-asked reconciliation: see above.
 *
 * Return: 0, -EBUSY while a client maps the pool without ATTACH, -EINTR
 * on a signal while waiting for the rate limit.
 */
int bufpool_pool_audit(struct bufpool_pool *pool, struct bufpool_audit *out)
{
	return bufpool_pool_asked(pool, out);
}
