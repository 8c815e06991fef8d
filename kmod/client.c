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
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/string.h>

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
 */
void bufpool_reconcile(struct bufpool_pool *pool)
{
	struct bp_recon *recon = &pool->recon;
	struct bp_shm shm;

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
	bufpool_stop_mappings(pool);
	bp_reconcile(&shm, recon);
	/* What the drained queues held went back: reset them, still stopped. */
	bufpool_queues_drained(pool);
	/* What the gone held counts as released, for the statistics. */
	WRITE_ONCE(pool->ctrl->kernel_released,
		   READ_ONCE(pool->ctrl->kernel_released) + recon->dropped);
	bufpool_resume_mappings(pool);
	bufpool_pool_stats(pool, NULL);	/* samples the high watermark */
	atomic_long_add(recon->reclaimed, &pool->reclaimed);
	atomic_long_add(recon->repaired, &pool->repaired);
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

/**
 * bufpool_pool_audit - reconcile @pool now and say what it holds
 * @pool: the pool
 * @out: filled in; ->size is left to the caller
 *
 * Return: 0, or -EBUSY while a client maps the pool without ATTACH.
 */
int bufpool_pool_audit(struct bufpool_pool *pool, struct bufpool_audit *out)
{
	struct bp_recon *recon = &pool->recon;

	mutex_lock(&pool->lock);
	if (pool->nr_legacy) {
		mutex_unlock(&pool->lock);
		return -EBUSY;
	}
	bufpool_reconcile(pool);
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
	mutex_unlock(&pool->lock);
	return 0;
}
