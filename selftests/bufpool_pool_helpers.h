/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the selftests of the library's calls on one open pool
 * (bufpool_cache_test, bufpool_wait_test, bufpool_debug_test): open the
 * pool bufpool_open(NULL) gives, take every buffer, give them back.
 */
#ifndef BUFPOOL_POOL_HELPERS_H
#define BUFPOOL_POOL_HELPERS_H

#include <stdint.h>
#include <stdlib.h>

#include <bufpool.h>

/*
 * Open the default pool: the module's in the VM, a module-free memfd
 * pool on a host without the module; its info in *info, and in *held
 * room for every buffer.  0, or -1 (*pool then NULL or open).
 */
static inline int bp_pool_open(struct bufpool **pool, struct bufpool_info *info,
			       void ***held)
{
	*held = NULL;
	*pool = bufpool_open(NULL);
	if (!*pool || bufpool_get_info(*pool, info))
		return -1;
	*held = calloc(info->buf_count, sizeof(void *));
	return *held ? 0 : -1;
}

static inline void bp_pool_close(struct bufpool *pool, void **held)
{
	free(held);
	if (pool)
		bufpool_close(pool);
}

/*
 * Take every buffer into held[], checking that each comes once (*dup
 * set otherwise); returns how many were taken.
 */
static inline uint32_t bp_take_all(struct bufpool *pool, void **held, int *dup)
{
	uint32_t count = bufpool_buf_count(pool), n = 0;
	unsigned char *seen = calloc(count, 1);
	int64_t idx;

	*dup = !seen;
	while (seen && n < count) {
		held[n] = bufpool_acquire(pool);
		if (!held[n])
			break;
		idx = bufpool_index(pool, held[n]);
		if (idx < 0 || seen[idx])
			*dup = 1;
		else
			seen[idx] = 1;
		n++;
	}
	free(seen);
	return n;
}

/* Give back held[0..n), last first. */
static inline void bp_give_back(struct bufpool *pool, void **held, uint32_t n)
{
	while (n--)
		bufpool_release(pool, held[n]);
}

#endif /* BUFPOOL_POOL_HELPERS_H */
