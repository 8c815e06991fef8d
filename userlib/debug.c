// SPDX-License-Identifier: MIT
/*
 * libbufpool-user: debug mode, all of it.  With BUFPOOL_DEBUG set (and
 * not "0") when a pool is opened, a released buffer is not given back at
 * once but queued in a quarantine, still recorded as ours but marked
 * (BUFPOOL_OWN_QUARANTINE), and given back only after cap later
 * releases.  Without it, LIFO reuse hands the same buffer straight back
 * to the same client, and a second release of it through a stale
 * pointer passes the ownership check; with it, that release finds the
 * buffer quarantined and fails with EINVAL.
 *
 * The quarantine is a ring of a quarter of the pool, at most 4096
 * buffers, allocated at open.  A mutex guards it: debug mode trades the
 * lock-free release for this.  Every release of a debug handle leaves
 * the fast path, because its divert_releases word is never 0.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* In debug mode, pool->divert_releases points here. */
static _Atomic __u32 bp_always_divert = 1;

/* At open: debug mode if BUFPOOL_DEBUG asks for it.  0, or -1 (ENOMEM). */
int bp_debug_init(struct bufpool *pool)
{
	struct bp_quarantine *q = &pool->quarantine;
	const char *env = getenv("BUFPOOL_DEBUG");

	if (!env || !*env || !strcmp(env, "0") || pool->buf_count < 4)
		return 0;
	q->cap = pool->buf_count / 4 < 4096 ? pool->buf_count / 4 : 4096;
	q->ring = calloc(q->cap, sizeof(*q->ring));
	if (!q->ring)
		return -1;
	pthread_mutex_init(&q->lock, NULL);
	pool->debug = 1;
	pool->divert_releases = &bp_always_divert;
	return 0;
}

/* idx leaves the quarantine: ours again, and given back for real. */
static int bp_quarantine_give_back(struct bufpool *pool, uint32_t idx)
{
	bp_store_release_u32(&pool->own[idx], pool->client_id);
	return bp_release_to_sleeper_or_cache(pool, idx);
}

/* A release in debug mode: idx waits, and the oldest one goes back. */
int bp_quarantine_release(struct bufpool *pool, uint32_t idx)
{
	struct bp_quarantine *q = &pool->quarantine;
	uint32_t oldest = BUFPOOL_IDX_NIL;

	pthread_mutex_lock(&q->lock);
	if (bp_load_relaxed_u32(&pool->own[idx]) != pool->client_id) {
		pthread_mutex_unlock(&q->lock);
		errno = EINVAL;		/* released by another thread just now */
		return -1;
	}
	bp_store_release_u32(&pool->own[idx],
			     BUFPOOL_OWN_QUARANTINE | pool->client_id);
	if (q->len == q->cap) {
		oldest = q->ring[q->head];
		q->ring[q->head] = idx;
		q->head = (q->head + 1) % q->cap;
	} else {
		q->ring[(q->head + q->len++) % q->cap] = idx;
	}
	pthread_mutex_unlock(&q->lock);
	if (oldest == BUFPOOL_IDX_NIL)
		return 0;
	return bp_quarantine_give_back(pool, oldest);
}

/* At close: what waits in the quarantine goes back now. */
void bp_quarantine_drain(struct bufpool *pool)
{
	struct bp_quarantine *q = &pool->quarantine;
	uint32_t idx;

	if (!pool->debug)
		return;
	while (q->len) {
		idx = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
		bp_quarantine_give_back(pool, idx);
	}
}

/* At close, or when an open fails: debug mode's memory and mutex. */
void bp_debug_free(struct bufpool *pool)
{
	if (!pool->debug)
		return;
	pthread_mutex_destroy(&pool->quarantine.lock);
	free(pool->quarantine.ring);
}
