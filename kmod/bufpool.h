/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bufpool: internal definitions of the kernel module.
 */
#ifndef BUFPOOL_H
#define BUFPOOL_H

#include <linux/bits.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/atomic.h>
#include <linux/refcount.h>
#include <linux/types.h>
#include <linux/bufpool.h>

#include "compat.h"
#include "freelist.h"

#define BUFPOOL_CHUNK_ORDER	(PMD_SHIFT - PAGE_SHIFT)
#define BUFPOOL_CHUNK_PAGES	BIT(BUFPOOL_CHUNK_ORDER)

struct bufpool_params {
	u32 buf_size;
	u32 buf_count;
	int numa_node;
	unsigned int mode;	/* checked before it becomes a umode_t */
	u32 caches;
};

/**
 * struct bufpool_pool - one pool and its device node
 * @ref:	one for the module, one per open file; the last put frees
 * @misc:	the pool's character device
 * @name:	device node name
 * @buf_shift:	log2 of the buffer size
 * @buf_count:	number of buffers
 * @numa_node:	node the chunks were taken from, or NUMA_NO_NODE
 * @nr_chunks:	number of PMD-sized compound pages backing the buffers
 * @chunks:	their head pages; the pool holds one reference on each
 * @ctrl:	the shared control area (vmalloc_user memory)
 * @ctrl_size:	its size in bytes, page-aligned
 * @layout:	where everything is, as bp_layout_compute() placed it
 * @bufs_pgoff:	page offset of the buffer area in the mmap space
 * @generation:	reported to userspace; changes when the pool is rebuilt
 * @pmd_faults:	faults in the buffer area mapped with one PMD (2 MiB)
 * @pte_faults:	faults in the buffer area mapped with one PTE (4 KiB)
 */
struct bufpool_pool {
	refcount_t ref;
	struct miscdevice misc;
	const char *name;
	u32 buf_shift;
	u32 buf_count;
	int numa_node;
	unsigned int nr_chunks;
	struct page **chunks;
	struct bufpool_ctrl *ctrl;
	size_t ctrl_size;
	struct bp_layout layout;
	pgoff_t bufs_pgoff;
	u64 generation;
	atomic_long_t pmd_faults;
	atomic_long_t pte_faults;
};

static inline u64 bufpool_bufs_size(const struct bufpool_pool *pool)
{
	return (u64)pool->nr_chunks << (BUFPOOL_CHUNK_ORDER + PAGE_SHIFT);
}

/* pool.c */
int bufpool_check_params(const struct bufpool_params *p);
struct bufpool_pool *bufpool_pool_create(const char *name,
					 const struct bufpool_params *p);
void bufpool_pool_get(struct bufpool_pool *pool);
void bufpool_pool_put(struct bufpool_pool *pool);
struct page *bufpool_pool_page(struct bufpool_pool *pool, pgoff_t pgoff);

/* mmap.c */
int bufpool_mmap(struct file *file, struct vm_area_struct *vma);
unsigned long bufpool_get_unmapped_area(struct file *file, unsigned long addr,
					unsigned long len, unsigned long pgoff,
					unsigned long flags);

#endif /* BUFPOOL_H */
