// SPDX-License-Identifier: MIT
/*
 * libbufpool-user: timed waits for a buffer (bufpool_acquire_timeout),
 * and the release that wakes the sleepers.
 *
 * A waiter counts itself in the control area's waiters, reads wake_seq,
 * tries once more, and sleeps until wake_seq moves.  A release that sees
 * waiters (pool->divert_releases is that count) gives its buffer to the
 * shared free list (not its cache, where a waiter could not reach it),
 * moves wake_seq and wakes the sleepers.  Either the waiter's retry
 * finds the buffer, or the release's move of wake_seq comes after the
 * waiter read it, and the sleep returns at once: no wakeup is lost.  A
 * release makes a system call only when someone waits.
 *
 * How a sleeper sleeps and is woken is the backend's (backend.c): in
 * the kernel for a device pool, on a futex for a memfd pool.
 */
#include <errno.h>
#include <time.h>

#include "fastpath.h"

/* Give idx, which the caller holds, to the sleepers, and wake them. */
int bp_release_to_sleeper(struct bufpool *pool, uint32_t idx)
{
	struct bp_thread_cache *cache = bp_thread_cache_get(pool);

	if (cache) {
		bp_count(&cache->shared->releases);
		bp_release_to_free_list(pool, cache, idx);
	} else {
		bp_shared_release(pool, idx);	/* no cache: the shared path */
	}
	atomic_fetch_add_explicit(bp_wake_seq(pool), 1, memory_order_seq_cst);
	pool->backend->wake(pool);
	return 0;
}

static int64_t bp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int bufpool_acquire_index_timeout(struct bufpool *pool, uint32_t *idx,
				  int64_t timeout_ns)
{
	int64_t deadline, left = -1;
	uint32_t seen;
	int r, saved;

	if (!pool || !idx) {
		errno = EINVAL;
		return -1;
	}
	deadline = bp_now_ns() + (timeout_ns > 0 ? timeout_ns : 0);
	if (bp_acquire_index(pool, idx) == 0)
		return 0;
	if (errno != ENOBUFS || timeout_ns == 0)
		return -1;
	for (;;) {
		atomic_fetch_add_explicit(bp_waiters(pool), 1,
					  memory_order_seq_cst);
		seen = atomic_load_explicit(bp_wake_seq(pool),
					    memory_order_seq_cst);
		r = bp_acquire_index(pool, idx);
		saved = errno;
		if (r && saved == ENOBUFS) {
			if (timeout_ns > 0)
				left = deadline - bp_now_ns();
			if (timeout_ns > 0 && left <= 0) {
				saved = ETIMEDOUT;
			} else {
				r = pool->backend->sleep(pool, seen, left);
				saved = r ? errno : ENOBUFS;
				r = -1;
			}
		}
		atomic_fetch_sub_explicit(bp_waiters(pool), 1,
					  memory_order_seq_cst);
		if (r == 0)
			return 0;
		if (saved != ENOBUFS && saved != ETIMEDOUT)
			break;		/* EINTR, or worse */
		if (saved == ETIMEDOUT) {
			if (bp_acquire_index(pool, idx) == 0)
				return 0;
			break;
		}
	}
	errno = saved;
	return -1;
}

void *bufpool_acquire_timeout(struct bufpool *pool, int64_t timeout_ns)
{
	uint32_t idx;

	if (bufpool_acquire_index_timeout(pool, &idx, timeout_ns))
		return NULL;
	return bp_buf_addr(pool, idx);
}
