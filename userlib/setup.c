// SPDX-License-Identifier: MIT
/*
 * libbufpool-user: opening and closing a pool.  bufpool_open,
 * bufpool_open_fd and bufpool_create make a handle (struct bufpool) for
 * a file, have its backend (backend.c) attach the handle to the pool or
 * build a new memfd pool, map both areas, and bind the handle to the
 * mapping; bufpool_close closes its queues, gives back what this
 * process's threads cache and undoes all of it.  These, with debug
 * mode's quarantine, bufpool_queue_open and bufpool_classes_open, are
 * the functions that allocate.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

/* bufpool_create's defaults (and bufpool_open's without the module). */
#define BP_DEFAULT_BUF_SIZE	2048
#define BP_DEFAULT_BUF_COUNT	4096

#define BP_HUGE_PAGE		(2UL << 20)	/* what hugetlbfs maps in */

static _Atomic uint64_t bp_serial_next = 2;

/*
 * A handle for the file fd (-1: none yet), which it owns from here on:
 * closed if the handle cannot be made.
 */
static struct bufpool *bp_handle_new(int fd)
{
	struct bufpool *pool;
	int saved;

	bp_cache_init();
	pool = calloc(1, sizeof(*pool));
	if (!pool) {
		saved = errno;
		if (fd >= 0)
			close(fd);
		errno = saved;
		return NULL;
	}
	pool->fd = fd;
	pool->ctrl = MAP_FAILED;
	pool->bufs = MAP_FAILED;
	pthread_mutex_init(&pool->queue_lock, NULL);
	return pool;
}

/* Map both areas of pool->fd as l describes; huge: hugetlbfs lengths. */
int bp_map(struct bufpool *pool, const struct bp_layout *l, int huge)
{
	pool->ctrl_map_len = huge ? bp_align(l->ctrl_size, BP_HUGE_PAGE) :
				    l->ctrl_size;
	pool->ctrl = mmap(NULL, pool->ctrl_map_len, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_POPULATE, pool->fd, 0);
	if (pool->ctrl == MAP_FAILED)
		return -1;
	pool->bufs_map_len = l->bufs_size;
	pool->bufs = mmap(NULL, pool->bufs_map_len, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_POPULATE, pool->fd,
			  (off_t)l->bufs_offset);
	if (pool->bufs == MAP_FAILED)
		return -1;
	return 0;
}

/*
 * Undo what a handle holds: its mappings, its file, debug mode, itself;
 * for bufpool_close and for an open that failed, whose errno is kept.
 * Returns NULL, what the failed open returns.
 */
static struct bufpool *bp_handle_free(struct bufpool *pool)
{
	int saved = errno;

	/* A module-free pool's client leaves the live map. */
	if (pool->ctrl != MAP_FAILED && pool->client_id)
		pool->backend->detach(pool);
	if (pool->bufs != MAP_FAILED)
		munmap(pool->bufs, pool->bufs_map_len);
	if (pool->ctrl != MAP_FAILED)
		munmap(pool->ctrl, pool->ctrl_map_len);
	if (pool->fd >= 0)
		close(pool->fd);
	bp_debug_free(pool);
	pthread_mutex_destroy(&pool->queue_lock);
	free(pool);
	errno = saved;
	return NULL;
}

/*
 * Bind a mapped handle to its pool, laid out as l: what the fast path
 * reads, a serial for its caches, and debug mode if it is asked for.
 * 0, or -1 with errno.
 */
static int bp_handle_bind(struct bufpool *pool, const struct bp_layout *l)
{
	bp_shm_bind(&pool->shm, pool->ctrl, l);
	pool->own = pool->shm.own;
	bp_bufmap_init(&pool->map, l->buf_shift, l->buf_stride);
	pool->buf_count = l->buf_count;
	pool->bufs_len = bp_bufmap_off(&pool->map, l->buf_count - 1) +
			 pool->map.size;
	pool->mag_fill = l->mag_fill;
	pool->divert_releases = bp_waiters(pool);
	pool->serial = atomic_fetch_add_explicit(&bp_serial_next, 1,
						 memory_order_relaxed);
	return bp_debug_init(pool);
}

/* A handle for the existing pool behind fd (owned from here on). */
static struct bufpool *bp_open_on(int fd, const struct bp_backend *backend)
{
	struct bufpool *pool = bp_handle_new(fd);
	struct bp_layout l;

	if (!pool)
		return NULL;
	pool->backend = backend;
	if (backend->attach(pool, &l) || bp_handle_bind(pool, &l))
		return bp_handle_free(pool);
	return pool;
}

struct bufpool *bufpool_open(const char *path)
{
	int fd;

	fd = open(path ? path : BUFPOOL_DEV_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (!path && errno == ENOENT)
			return bufpool_create(NULL);
		return NULL;
	}
	return bp_open_on(fd, &bp_device_backend);
}

struct bufpool *bufpool_open_fd(int fd)
{
	int dup_fd;

	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0)
		return NULL;
	return bp_open_on(dup_fd, bp_backend_of(dup_fd));
}

struct bufpool *bufpool_create(const struct bufpool_params *params)
{
	struct bufpool_params p = { 0 };
	uint32_t mag_size = 0;
	struct bufpool *pool;
	struct bp_layout l;
	uint32_t shift, stride;
	int huge;

	if (params)
		p = *params;
	if (!p.buf_size)
		p.buf_size = BP_DEFAULT_BUF_SIZE;
	if (!p.buf_count)
		p.buf_count = BP_DEFAULT_BUF_COUNT;
	if (!p.caches)
		p.caches = BP_DEFAULT_CACHES;
	if (p.flags & BUFPOOL_F_NO_CACHE)
		p.caches = 0;
	/* Read only when the caller says it set it (1.6: it was padding). */
	if (p.flags & BUFPOOL_F_MAG_SIZE)
		mag_size = p.mag_size;
	if (!bp_buf_size_ok(p.buf_size) || !bp_buf_count_ok(p.buf_count) ||
	    !bp_nr_caches_ok(p.caches) ||
	    ((p.flags & BUFPOOL_F_MAG_SIZE) && !mag_size) ||
	    !bp_mag_fill_ok(p.buf_count, p.caches, mag_size) ||
	    (p.flags & ~(BUFPOOL_F_NO_HUGETLB | BUFPOOL_F_NO_CACHE |
			 BUFPOOL_F_MAG_SIZE | BUFPOOL_F_SPREAD |
			 BUFPOOL_F_ROTATE))) {
		errno = EINVAL;
		return NULL;
	}
	shift = (uint32_t)__builtin_ctzl(p.buf_size);
	stride = bp_buf_stride(shift, !!(p.flags & BUFPOOL_F_SPREAD));
	bp_layout_compute(&l, p.buf_count, shift, stride, p.caches, mag_size,
			  p.buf_count <= BUFPOOL_QUEUE_SKIP ? BP_DEFAULT_QUEUES : 0,
			  p.buf_count <= BUFPOOL_QUEUE_SKIP ?
			  bp_default_queue_len(p.buf_count) : 0,
			  (uint64_t)sysconf(_SC_PAGESIZE));
	if (p.flags & BUFPOOL_F_ROTATE)
		l.depot_flags = BUFPOOL_DEPOT_ROTATE;

	for (huge = !(p.flags & BUFPOOL_F_NO_HUGETLB); huge >= 0; huge--) {
		pool = bp_handle_new(-1);
		if (!pool)
			return NULL;
		pool->backend = &bp_memfd_backend;
		if (bp_memfd_build(pool, &l, huge) == 0)
			return bp_handle_bind(pool, &l) ? bp_handle_free(pool) :
							  pool;
		/* No hugetlb pages reserved: ordinary shared memory. */
		bp_handle_free(pool);
	}
	return NULL;
}

int bufpool_close(struct bufpool *pool)
{
	if (!pool) {
		errno = EINVAL;
		return -1;
	}
	/* Queues first: a last user's drain gives buffers to the caches. */
	bp_queues_close(pool);
	bp_quarantine_drain(pool);
	bp_thread_caches_flush_pool(pool);
	bp_handle_free(pool);
	return 0;
}
