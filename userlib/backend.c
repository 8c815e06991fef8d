// SPDX-License-Identifier: MIT
/*
 * libbufpool-user: the two backends a pool lives on, and everything that
 * differs between them.  A handle's backend is decided once, at open
 * (pool->backend); the rest of the library asks it, never the pool's
 * flags.
 *
 * - A device pool (/dev/bufpool*, the module): the kernel says what the
 *   pool is (BUFPOOL_IOC_INFO) and gives this handle its client id
 *   (BUFPOOL_IOC_ATTACH); sleepers sleep in the kernel
 *   (BUFPOOL_IOC_WAIT, BUFPOOL_IOC_WAKE), because the control area's
 *   pages are not page-cache pages and a futex shared between processes
 *   needs those; the kernel audits (BUFPOOL_IOC_AUDIT).
 * - A memfd pool (bufpool_create, no module): the same layout in a
 *   memfd, its header describing it; client ids are taken from the
 *   header's counter; sleepers use a futex on wake_seq (shmem pages;
 *   liburcu's futex_async()); there is no kernel to audit it.
 *
 * Every system call the library makes on a pool, but for mapping and
 * unmapping it and closing its file (setup.c), is here.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <urcu/futex.h>	/* futex_async(): the futex of module-free pools */

#include "internal.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC		0x958458f6
#endif

/*
 * The backend of the pool behind fd: a device answers BUFPOOL_IOC_INFO
 * (or fails it otherwise than ENOTTY, which its attach then reports); a
 * file that does not know the ioctl may be a pool's memfd.
 */
const struct bp_backend *bp_backend_of(int fd)
{
	struct bufpool_info info = { 0 };

	if (ioctl(fd, BUFPOOL_IOC_INFO, &info) == 0 || errno != ENOTTY)
		return &bp_device_backend;
	return &bp_memfd_backend;
}

/* ------------------------------------------------------------------ */
/* Device pools                                                       */

static int bp_device_attach(struct bufpool *pool, struct bp_layout *l)
{
	const struct bufpool_info *in = &pool->info;
	__u32 abi = BUFPOOL_ABI_VERSION;
	int id;

	if (ioctl(pool->fd, BUFPOOL_IOC_INFO, &pool->info) < 0)
		return -1;
	/*
	 * The kernel's info, checked anyway.  The ownership records of ABI
	 * 1.2 are what lets the kernel give back what a dead client held:
	 * an older module has none, and this library does not run a pool
	 * without them (bp_info_ok()).
	 */
	if (!bp_info_ok(in) || in->ctrl_size > SIZE_MAX ||
	    in->bufs_size > SIZE_MAX) {
		errno = EPROTO;
		return -1;
	}
	/* Say we keep the ownership records, before mapping anything. */
	id = ioctl(pool->fd, BUFPOOL_IOC_ATTACH, &abi);
	if (id < 0)
		return -1;
	if ((uint32_t)id != in->client_id) {
		errno = EPROTO;
		return -1;
	}
	pool->client_id = (uint32_t)id;
	bp_layout_from_info(l, in);
	return bp_map(pool, l, 0);
}

static int bp_device_sleep(struct bufpool *pool, uint32_t seen, int64_t ns)
{
	struct bufpool_wait w = { .seq = seen, .timeout_ns = ns };

	return ioctl(pool->fd, BUFPOOL_IOC_WAIT, &w) < 0 ? -1 : 0;
}

static void bp_device_wake(struct bufpool *pool)
{
	ioctl(pool->fd, BUFPOOL_IOC_WAKE);
}

static int bp_device_audit(struct bufpool *pool, struct bufpool_audit *audit)
{
	return ioctl(pool->fd, BUFPOOL_IOC_AUDIT, audit) < 0 ? -1 : 0;
}

const struct bp_backend bp_device_backend = {
	.attach = bp_device_attach,
	.sleep = bp_device_sleep,
	.wake = bp_device_wake,
	.audit = bp_device_audit,
};

/* ------------------------------------------------------------------ */
/* Memfd pools                                                        */

/* A memfd pool's info: what the kernel's would say of a device pool. */
static void bp_memfd_info(struct bufpool *pool, const struct bp_layout *l,
			  int huge)
{
	struct bufpool_info *in = &pool->info;

	memset(in, 0, sizeof(*in));
	in->size = sizeof(*in);
	in->flags = BUFPOOL_INFO_F_MEMFD | (huge ? BUFPOOL_INFO_F_HUGETLB : 0);
	in->numa_node = -1;
	in->generation = 1;
	bp_layout_to_info(in, l);
}

/*
 * A memfd pool has no kernel to give ids: each open takes the next from
 * the header.  Nobody reclaims for a dead client there; the ids only let
 * the library tell its buffers from others'.
 */
static void bp_memfd_client(struct bufpool *pool)
{
	_Atomic __u32 *next = (_Atomic __u32 *)&pool->ctrl->next_client;
	uint32_t id = atomic_fetch_add_explicit(next, 1, memory_order_relaxed);

	pool->client_id = id % BUFPOOL_CLIENT_MAX + 1;
	pool->info.client_id = pool->client_id;
}

/*
 * bufpool_create: a new memfd pool laid out as l, in hugetlb pages if
 * huge, mapped and initialised, into pool->fd.
 */
int bp_memfd_build(struct bufpool *pool, const struct bp_layout *l, int huge)
{
	pool->fd = memfd_create("bufpool", MFD_CLOEXEC |
				(huge ? MFD_HUGETLB : 0));
	if (pool->fd < 0 ||
	    ftruncate(pool->fd, (off_t)(l->bufs_offset + l->bufs_size)) ||
	    bp_map(pool, l, huge))
		return -1;
	if (!huge)
		madvise(pool->bufs, pool->bufs_map_len, MADV_HUGEPAGE);
	bp_shm_init(pool->ctrl, l, 1);	/* the memfd is zeroed */
	bp_memfd_info(pool, l, huge);
	bp_memfd_client(pool);
	return 0;
}

/*
 * A memfd pool made by another process: its header says what it is; the
 * layout must be what bp_layout_compute() makes of that, and fit the
 * file.  ENOTTY when it is not a pool.
 */
static int bp_memfd_attach(struct bufpool *pool, struct bp_layout *l)
{
	struct bufpool_ctrl hdr;
	struct statfs sfs;
	struct stat st;
	int huge;

	if (pread(pool->fd, &hdr, sizeof(hdr), 0) != sizeof(hdr) ||
	    fstat(pool->fd, &st) || fstatfs(pool->fd, &sfs))
		goto not_a_pool;
	/* Ownership came in ABI 1.2: bp_layout_from_ctrl() wants it. */
	if (!bp_layout_from_ctrl(l, &hdr, (uint64_t)sysconf(_SC_PAGESIZE)) ||
	    (uint64_t)st.st_size < l->bufs_offset + l->bufs_size)
		goto not_a_pool;
	huge = (unsigned long)sfs.f_type == HUGETLBFS_MAGIC;
	bp_memfd_info(pool, l, huge);
	pool->info.generation = hdr.generation;
	if (bp_map(pool, l, huge))
		return -1;
	bp_memfd_client(pool);
	return 0;

not_a_pool:
	errno = ENOTTY;
	return -1;
}

static int bp_memfd_sleep(struct bufpool *pool, uint32_t seen, int64_t ns)
{
	struct timespec ts = { ns / 1000000000, ns % 1000000000 };
	int r;

	r = futex_async((int32_t *)&pool->ctrl->wake_seq, FUTEX_WAIT,
			(int32_t)seen, ns < 0 ? NULL : &ts, NULL, 0);
	if (r < 0 && errno == EAGAIN)
		return 0;	/* it had moved already */
	return r < 0 ? -1 : 0;
}

static void bp_memfd_wake(struct bufpool *pool)
{
	futex_async((int32_t *)&pool->ctrl->wake_seq, FUTEX_WAKE, INT32_MAX,
		    NULL, NULL, 0);
}

static int bp_memfd_audit(struct bufpool *pool, struct bufpool_audit *audit)
{
	(void)pool;
	(void)audit;
	errno = ENOTTY;	/* no kernel to audit a module-free pool */
	return -1;
}

const struct bp_backend bp_memfd_backend = {
	.attach = bp_memfd_attach,
	.sleep = bp_memfd_sleep,
	.wake = bp_memfd_wake,
	.audit = bp_memfd_audit,
};
