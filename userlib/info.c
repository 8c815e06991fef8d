// SPDX-License-Identifier: MIT
/*
 * libbufpool-user: what a program can ask about an open pool: its
 * statistics (summed from the shared caches, no system call), the
 * kernel's audit, the info given at open (with its two symbol
 * versions), this handle's client id and its file descriptor.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include <bufpool/stats.h>

int bufpool_stats(struct bufpool *pool, struct bufpool_stats *st)
{
	struct bufpool_ctrl *c;
	struct bp_stats sum;
	__u64 hwm;

	if (!pool || !st) {
		errno = EINVAL;
		return -1;
	}
	c = pool->ctrl;
	bp_stats_sum(&pool->shm, c, &sum);
	/* The high watermark moves up when a reader sees more in use. */
	hwm = bp_stats_high_watermark(c, sum.in_use);
	memset(st, 0, sizeof(*st));
	st->total = pool->buf_count;
	st->in_use = sum.in_use;
	st->free = pool->buf_count - sum.in_use;
	st->high_watermark = hwm;
	st->acquires = sum.acquires;
	st->releases = sum.releases;
	st->exhausted = sum.exhausted;
	st->reclaimed = bp_load_relaxed_u64(&c->kernel_released);
	st->waiters = bp_load_relaxed_u32(&c->waiters);
	st->detected = bp_load_relaxed_u64(&c->detected);
	st->repairs = bp_load_relaxed_u64(&c->repairs);
	st->shared_acquires = sum.shared_acquires;
	st->shared_releases = sum.shared_releases;
	return 0;
}

int bufpool_repair(struct bufpool *pool)
{
	if (!pool) {
		errno = EINVAL;
		return -1;
	}
	return pool->backend->repair(pool, 0);
}

/*
 * struct bufpool_audit grew in 1.3 (queued, queues): programs built
 * against 1.2 bind to bufpool_audit@BUFPOOL_1.2, which fills the 1.2
 * size only; the kernel always gets a whole one.
 */
int bp_audit_v13(struct bufpool *pool, struct bufpool_audit *audit);
int bp_audit_v12(struct bufpool *pool, struct bufpool_audit *audit);
__asm__(".symver bp_audit_v13, bufpool_audit@@BUFPOOL_1.3");
__asm__(".symver bp_audit_v12, bufpool_audit@BUFPOOL_1.2");

static int bp_audit(struct bufpool *pool, struct bufpool_audit *audit,
		    size_t size)
{
	struct bufpool_audit a;

	if (!pool || !audit) {
		errno = EINVAL;
		return -1;
	}
	memset(&a, 0, sizeof(a));
	if (pool->backend->audit(pool, &a))
		return -1;
	memcpy(audit, &a, size);
	return 0;
}

__attribute__((used)) int bp_audit_v13(struct bufpool *pool,
					 struct bufpool_audit *audit)
{
	return bp_audit(pool, audit, sizeof(*audit));
}

__attribute__((used)) int bp_audit_v12(struct bufpool *pool,
					 struct bufpool_audit *audit)
{
	return bp_audit(pool, audit, BUFPOOL_AUDIT_SIZE_VER0);
}

/*
 * struct bufpool_info grows with the ABI, so a program built against an
 * older header has a smaller one: programs linked before 1.2 bind to
 * bufpool_get_info@BUFPOOL_1.0, which copies the 1.0 size only, and
 * those linked against 1.2 to @BUFPOOL_1.2, which copies 1.2's.
 */
int bp_get_info_v13(const struct bufpool *pool, struct bufpool_info *info);
int bp_get_info_v12(const struct bufpool *pool, struct bufpool_info *info);
int bp_get_info_v10(const struct bufpool *pool, struct bufpool_info *info);
__asm__(".symver bp_get_info_v13, bufpool_get_info@@BUFPOOL_1.3");
__asm__(".symver bp_get_info_v12, bufpool_get_info@BUFPOOL_1.2");
__asm__(".symver bp_get_info_v10, bufpool_get_info@BUFPOOL_1.0");

static int bp_get_info(const struct bufpool *pool, struct bufpool_info *info,
		       size_t size)
{
	if (!pool || !info) {
		errno = EINVAL;
		return -1;
	}
	memcpy(info, &pool->info, size);
	return 0;
}

__attribute__((used)) int bp_get_info_v13(const struct bufpool *pool,
					    struct bufpool_info *info)
{
	return bp_get_info(pool, info, sizeof(*info));
}

__attribute__((used)) int bp_get_info_v12(const struct bufpool *pool,
					    struct bufpool_info *info)
{
	return bp_get_info(pool, info, BUFPOOL_INFO_SIZE_VER2);
}

__attribute__((used)) int bp_get_info_v10(const struct bufpool *pool,
					    struct bufpool_info *info)
{
	return bp_get_info(pool, info, BUFPOOL_INFO_SIZE_VER0);
}

/* 0 (BUFPOOL_OWN_FREE) is no client's id: the answer for NULL. */
uint32_t bufpool_client_id(const struct bufpool *pool)
{
	if (!pool) {
		errno = EINVAL;
		return 0;
	}
	return pool->client_id;
}

int bufpool_fd(const struct bufpool *pool)
{
	if (!pool) {
		errno = EINVAL;
		return -1;
	}
	return pool->fd;
}
