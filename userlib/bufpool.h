/* SPDX-License-Identifier: MIT */
/*
 * libbufpool-user: take and give buffers of a bufpool without system
 * calls or locks.
 *
 * A pool is opened once per process (bufpool_open), which maps the
 * device's control and buffer areas.  After that, acquire and release
 * are a few instructions on a lock-free list in shared memory: no system
 * call, no lock, no allocation.  A thread preempted or killed in the
 * middle of one blocks nobody.  Any thread may call any function below
 * on an open pool concurrently, except bufpool_close.
 *
 * Buffers can be named by index, which is the same in every process
 * that maps the pool: hand an index to another process and it can reach
 * the same buffer with bufpool_addr().
 *
 * Errors: functions return NULL or -1 and set errno; the library never
 * prints and never aborts.
 */
#ifndef BUFPOOL_USER_H
#define BUFPOOL_USER_H

#include <stddef.h>
#include <stdint.h>
#include <linux/bufpool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bufpool;

/*
 * bufpool_open - map a pool.  path: its device node, NULL for
 * /dev/bufpool.  Buffers and the control area are prefaulted.
 * Errors: those of open(2) and mmap(2); ENOTTY when path is not a
 * bufpool device; EPROTO when the module speaks another ABI major.
 */
struct bufpool *bufpool_open(const char *path);

/* bufpool_close - unmap and free.  Buffers still held stay taken. */
int bufpool_close(struct bufpool *pool);

/*
 * bufpool_acquire - take a free buffer.
 * Returns its address, or NULL with errno ENOBUFS when none is free, or
 * EUCLEAN when the shared free list was found corrupted.
 */
void *bufpool_acquire(struct bufpool *pool);

/*
 * bufpool_release - give a buffer back.  buf must be the start of a
 * buffer of this pool (EINVAL otherwise).
 */
int bufpool_release(struct bufpool *pool, void *buf);

/* Index forms of the two above: idx is in [0, bufpool_buf_count()). */
int bufpool_acquire_index(struct bufpool *pool, uint32_t *idx);
int bufpool_release_index(struct bufpool *pool, uint32_t idx);

/* bufpool_addr - address of buffer idx, or NULL with EINVAL. */
void *bufpool_addr(const struct bufpool *pool, uint32_t idx);

/*
 * bufpool_index - index of the buffer that contains ptr (any byte of
 * it), or -1 with EINVAL for a pointer outside the pool's buffers.
 */
int64_t bufpool_index(const struct bufpool *pool, const void *ptr);

size_t bufpool_buf_size(const struct bufpool *pool);
uint32_t bufpool_buf_count(const struct bufpool *pool);

/* bufpool_get_info - what the kernel said about the pool at open. */
int bufpool_get_info(const struct bufpool *pool, struct bufpool_info *info);

#ifdef __cplusplus
}
#endif

#endif /* BUFPOOL_USER_H */
