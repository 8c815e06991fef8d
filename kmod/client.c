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

/* Client @id's in-flight count on the shared path (ABI 1.5). */
static u32 *bufpool_inflight(struct bufpool_pool *pool, u32 id)
{
	return (u32 *)((char *)pool->ctrl + pool->layout.inflight_offset) + id;
}

static void bufpool_settle_note(struct bufpool_pool *pool,
				enum bufpool_recon_why why);

/**
 * bufpool_reconcile - reconcile the pool now, draining the queues to drain
 * @pool: the pool, whose lock the caller holds
 * @why: what it runs for: a client-asked pass or a follow-up counts for
 *	the rate limit (see bufpool_asked_next())
 *
 * A pass that leaves something unnamed for later (a live client was
 * busy on the shared path) may leave the pool owing a follow-up: see
 * bufpool_settle_note().
 *
 * Return: how long the pool was stopped, in nanoseconds.
 */
u64 bufpool_reconcile(struct bufpool_pool *pool, enum bufpool_recon_why why)
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
	/* The hint of free caches, exact again (a client may scribble it). */
	WRITE_ONCE(pool->ctrl->caches_free, recon->caches_free);
	bufpool_resume_mappings(pool);
	stopped = ktime_to_ns(ktime_sub(ktime_get(), start));
	bufpool_pool_stats(pool, NULL);	/* samples the high watermark */
	atomic_long_add(recon->reclaimed, &pool->reclaimed);
	atomic_long_add(recon->repaired, &pool->repaired);
	if (why == BUFPOOL_RECON_ASKED || why == BUFPOOL_RECON_SETTLE) {
		pool->asked_end = ktime_get();
		pool->asked_ns = stopped;
	}
	bufpool_settle_note(pool, why);
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
	/* Nothing is left to settle: a pending follow-up runs no pass. */
	pool->settle_owed = false;
	WRITE_ONCE(pool->unsettled, 0);
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
	/* Nothing in flight yet, before the id is live (or can map). */
	WRITE_ONCE(*bufpool_inflight(pool, id), 0);
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
		/*
		 * Its in-flight count (not 0: it died amid a shared-path
		 * operation) makes nothing busy: only live clients' do.
		 * What its thread left unnamed goes back now, or, with a
		 * live client busy, in a follow-up (bufpool_settle_note()).
		 */
		bufpool_reconcile(pool, BUFPOOL_RECON_GONE);
	}
	/* Its id may be given again: nothing of its is in flight. */
	WRITE_ONCE(*bufpool_inflight(pool, client->id), 0);
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
 * Return: the client's id, or -EPROTO for an ABI without the records, or
 * one older than 1.6 on a pool whose magazines it cannot read, or older
 * than 1.8 on a pool whose buffers it cannot find (spread), or older
 * than 1.9 on a pool whose depot it knows half of (rotating).
 */
int bufpool_client_attach(struct bufpool_client *client, u32 abi)
{
	struct bufpool_pool *pool = client->pool;

	if (!bp_abi_usable(abi) ||
	    (pool->layout.mag_fill > BUFPOOL_MAG_CAP &&
	     BUFPOOL_ABI_VERSION_MINOR(abi) < 6) ||
	    (!bp_layout_shift_abi(&pool->layout) &&
	     BUFPOOL_ABI_VERSION_MINOR(abi) < 8) ||
	    ((pool->layout.depot_flags & BUFPOOL_DEPOT_ROTATE) &&
	     BUFPOOL_ABI_VERSION_MINOR(abi) < 9))
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
 * giving back what the departed client held.  The follow-ups a
 * departure may leave owed (ABI 1.5, below) are spaced as client-asked
 * ones are, and count for the limit.
 */

/* When the next client-asked reconciliation may start; under pool->lock. */
static ktime_t bufpool_asked_next(struct bufpool_pool *pool)
{
	u64 gap = max_t(u64, (u64)pool->repair_interval_ms * NSEC_PER_MSEC,
			100 * pool->asked_ns);

	if (!pool->asked_end)
		return 0;	/* none yet (asked, or a follow-up) */
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

	stopped = bufpool_reconcile(pool, BUFPOOL_RECON_ASKED);
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

/*
 * Follow-ups (ABI 1.5).  While a live client has shared-path operations
 * in flight, reconciliation leaves what nobody names where it is (it may
 * be that client's take in flight; uapi/bufpool/reconcile.h); what a
 * gone client held and only its caches name is among it.  So a pass
 * after a departure that leaves something so owes a follow-up, and so
 * does every pass while one is owed, until a pass leaves nothing
 * unnamed (no live client was busy, or nothing was unnamed).  The
 * follow-ups run from @repair_work, after repair_interval_ms (at least
 * 1 ms), doubled after each pass that still leaves something, up to
 * BUFPOOL_SETTLE_MAX_MS (or repair_interval_ms if larger), and no
 * earlier than the rate limit of client-asked reconciliations allows:
 * they stop the pool as those do, and count for it.
 */
#define BUFPOOL_SETTLE_MAX_MS	1000

/* When the next follow-up may run: the later of its due time and the limit. */
static ktime_t bufpool_settle_next(struct bufpool_pool *pool)
{
	ktime_t next = bufpool_asked_next(pool);

	return ktime_after(pool->settle_due, next) ? pool->settle_due : next;
}

/*
 * After a pass: note what it left for later, and owe (or clear) a
 * follow-up; pool->lock held.
 */
static void bufpool_settle_note(struct bufpool_pool *pool,
				enum bufpool_recon_why why)
{
	u32 first = max_t(u32, pool->repair_interval_ms, 1);
	u32 unsettled = pool->recon.unsettled;

	WRITE_ONCE(pool->unsettled, unsettled);
	if (!unsettled) {
		pool->settle_owed = false;
		return;
	}
	if (pool->settle_owed)
		pool->settle_delay_ms =
			min_t(u32, 2 * pool->settle_delay_ms,
			      max_t(u32, first, BUFPOOL_SETTLE_MAX_MS));
	else if (why == BUFPOOL_RECON_GONE)
		pool->settle_delay_ms = first;
	else
		return;	/* nobody's leftovers: a live thread's, in flight */
	pool->settle_owed = true;
	pool->settle_due = ktime_add_ms(ktime_get(), pool->settle_delay_ms);
	/* Pending already: that run looks again, and waits if early. */
	queue_delayed_work(system_unbound_wq, &pool->repair_work,
			   bufpool_jiffies_until(bufpool_settle_next(pool)));
}

/**
 * bufpool_repair_work - what an ASYNC REPAIR asked for, and follow-ups
 * @work: the pool's repair_work
 *
 * Runs the asked reconciliation when the rate limit allows, unless one
 * ran since the last request; and the follow-up owed, when due.  What
 * is not yet allowed waits again.  Nothing runs when the pool has no
 * client (the last close rebuilt it) or a legacy client maps it.
 */
void bufpool_repair_work(struct work_struct *work)
{
	struct bufpool_pool *pool = container_of(to_delayed_work(work),
						 struct bufpool_pool,
						 repair_work);
	unsigned long delay = 0, d;
	bool asked;

	mutex_lock(&pool->lock);
	if (!pool->nr_clients || pool->nr_legacy) {
		/* Reconciled (or rebuilt) when the legacy client goes. */
		pool->settle_owed = false;
		goto out;
	}
	asked = atomic_long_read(&pool->repairs) == pool->async_seq;
	if (asked) {
		delay = bufpool_jiffies_until(bufpool_asked_next(pool));
		if (!delay)
			bufpool_reconcile_asked(pool);
	}
	if (pool->settle_owed) {
		d = bufpool_jiffies_until(bufpool_settle_next(pool));
		if (!d) {
			atomic_long_inc(&pool->settle_passes);
			bufpool_reconcile(pool, BUFPOOL_RECON_SETTLE);
		} else if (!delay || d < delay) {
			delay = d;
		}
	}
	/* Requeued by a pass (a follow-up owed): that run looks again. */
	if (delay)
		queue_delayed_work(system_unbound_wq, &pool->repair_work, delay);
out:
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
	/*
	 * Already pending: that run serves this request too; one due
	 * later (a follow-up, never due before the limit) runs earlier.
	 */
	mod_delayed_work(system_unbound_wq, &pool->repair_work, delay);
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
