// SPDX-License-Identifier: MIT
/*
 * libbufpool-user: mapping a pool and the fast path over its free list.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bufpool.h"
#include "freelist.h"

_Static_assert(sizeof(struct bufpool_info) == BUFPOOL_INFO_SIZE_VER0,
	       "struct bufpool_info changed size: ABI break");
_Static_assert(sizeof(struct bufpool_ctrl) == BUFPOOL_CTRL_HDR_SIZE,
	       "struct bufpool_ctrl changed size: ABI break");
_Static_assert(offsetof(struct bufpool_ctrl, free_head) == BUFPOOL_CACHELINE,
	       "free_head must start its own cache line");

struct bufpool {
	/* Read on every operation: keep together. */
	__u64 *free_head;
	__u32 *next;
	char *bufs;
	uint32_t buf_shift;
	uint32_t buf_count;

	int fd;
	void *ctrl;
	size_t ctrl_size;
	size_t bufs_size;
	struct bufpool_info info;
};

static int bufpool_check_info(const struct bufpool_info *in)
{
	uint64_t next_end;

	if (in->size < BUFPOOL_INFO_SIZE_VER0 ||
	    BUFPOOL_ABI_VERSION_MAJOR(in->abi_version) != BUFPOOL_ABI_MAJOR)
		return -1;
	if (in->buf_shift < 6 || in->buf_shift > 21 ||
	    in->buf_size != 1u << in->buf_shift ||
	    in->buf_count == 0 || in->buf_count > BUFPOOL_MAX_BUFS)
		return -1;
	next_end = in->next_offset + (uint64_t)in->buf_count * sizeof(__u32);
	if (in->ctrl_size < sizeof(struct bufpool_ctrl) ||
	    in->next_offset < sizeof(struct bufpool_ctrl) ||
	    in->next_offset % sizeof(__u32) || next_end > in->ctrl_size)
		return -1;
	if (in->bufs_size < (uint64_t)in->buf_count << in->buf_shift ||
	    in->bufs_size > SIZE_MAX || in->ctrl_size > SIZE_MAX)
		return -1;
	return 0;
}

struct bufpool *bufpool_open(const char *path)
{
	struct bufpool *pool;
	int saved;

	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return NULL;
	pool->ctrl = MAP_FAILED;
	pool->bufs = MAP_FAILED;

	pool->fd = open(path ? path : BUFPOOL_DEV_PATH, O_RDWR | O_CLOEXEC);
	if (pool->fd < 0)
		goto fail;
	if (ioctl(pool->fd, BUFPOOL_IOC_INFO, &pool->info) < 0)
		goto fail;
	if (bufpool_check_info(&pool->info)) {
		errno = EPROTO;
		goto fail;
	}

	pool->ctrl_size = pool->info.ctrl_size;
	pool->ctrl = mmap(NULL, pool->ctrl_size, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_POPULATE, pool->fd,
			  (off_t)pool->info.ctrl_offset);
	if (pool->ctrl == MAP_FAILED)
		goto fail;
	pool->bufs_size = pool->info.bufs_size;
	pool->bufs = mmap(NULL, pool->bufs_size, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_POPULATE, pool->fd,
			  (off_t)pool->info.bufs_offset);
	if (pool->bufs == MAP_FAILED)
		goto fail;

	pool->free_head = &((struct bufpool_ctrl *)pool->ctrl)->free_head;
	pool->next = (__u32 *)((char *)pool->ctrl + pool->info.next_offset);
	pool->buf_shift = pool->info.buf_shift;
	pool->buf_count = pool->info.buf_count;
	return pool;

fail:
	saved = errno;
	bufpool_close(pool);
	errno = saved;
	return NULL;
}

int bufpool_close(struct bufpool *pool)
{
	if (!pool) {
		errno = EINVAL;
		return -1;
	}
	if (pool->bufs != MAP_FAILED)
		munmap(pool->bufs, pool->bufs_size);
	if (pool->ctrl != MAP_FAILED)
		munmap(pool->ctrl, pool->ctrl_size);
	if (pool->fd >= 0)
		close(pool->fd);
	free(pool);
	return 0;
}

int bufpool_acquire_index(struct bufpool *pool, uint32_t *idx)
{
	uint32_t i;

	i = bp_fl_pop(pool->free_head, pool->next, pool->buf_count);
	if (__builtin_expect(i >= pool->buf_count, 0)) {
		errno = i == BUFPOOL_IDX_NIL ? ENOBUFS : EUCLEAN;
		return -1;
	}
	*idx = i;
	return 0;
}

void *bufpool_acquire(struct bufpool *pool)
{
	uint32_t idx;

	if (bufpool_acquire_index(pool, &idx))
		return NULL;
	return pool->bufs + ((size_t)idx << pool->buf_shift);
}

int bufpool_release_index(struct bufpool *pool, uint32_t idx)
{
	if (__builtin_expect(idx >= pool->buf_count, 0)) {
		errno = EINVAL;
		return -1;
	}
	bp_fl_push(pool->free_head, pool->next, idx);
	return 0;
}

int bufpool_release(struct bufpool *pool, void *buf)
{
	uintptr_t off = (uintptr_t)buf - (uintptr_t)pool->bufs;

	/* One unsigned compare catches pointers below and above the pool. */
	if (__builtin_expect(off >= (uintptr_t)pool->buf_count << pool->buf_shift ||
			     (off & (((uintptr_t)1 << pool->buf_shift) - 1)), 0)) {
		errno = EINVAL;
		return -1;
	}
	bp_fl_push(pool->free_head, pool->next, (uint32_t)(off >> pool->buf_shift));
	return 0;
}

void *bufpool_addr(const struct bufpool *pool, uint32_t idx)
{
	if (idx >= pool->buf_count) {
		errno = EINVAL;
		return NULL;
	}
	return pool->bufs + ((size_t)idx << pool->buf_shift);
}

int64_t bufpool_index(const struct bufpool *pool, const void *ptr)
{
	uintptr_t off = (uintptr_t)ptr - (uintptr_t)pool->bufs;

	if (off >= (uintptr_t)pool->buf_count << pool->buf_shift) {
		errno = EINVAL;
		return -1;
	}
	return (int64_t)(off >> pool->buf_shift);
}

size_t bufpool_buf_size(const struct bufpool *pool)
{
	return (size_t)1 << pool->buf_shift;
}

uint32_t bufpool_buf_count(const struct bufpool *pool)
{
	return pool->buf_count;
}

int bufpool_get_info(const struct bufpool *pool, struct bufpool_info *info)
{
	if (!pool || !info) {
		errno = EINVAL;
		return -1;
	}
	memcpy(info, &pool->info, sizeof(*info));
	return 0;
}
