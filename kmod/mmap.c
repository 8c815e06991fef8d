// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool: mapping the control and buffer areas into userspace.
 *
 * The mmap space of a pool's device file has two areas, both described
 * by BUFPOOL_IOC_INFO: the control area at offset 0 and the buffer area
 * at a 2 MiB-aligned offset.  A mapping lies within one area.  Pages are
 * inserted on fault as ordinary refcounted pages, so get_user_pages()
 * works on them and nothing is freed while a mapping remains.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/mm.h>

#include "bufpool.h"

static vm_fault_t bufpool_fault(struct vm_fault *vmf)
{
	struct bufpool_pool *pool = vmf->vma->vm_private_data;
	struct page *page;

	page = bufpool_pool_page(pool, vmf->pgoff);
	if (!page)
		return VM_FAULT_SIGBUS;
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct bufpool_vm_ops = {
	.fault = bufpool_fault,
};

/* Is [pgoff, pgoff + pages) inside [start, start + len)? No overflow. */
static bool bufpool_range_in(pgoff_t pgoff, unsigned long pages,
			     pgoff_t start, pgoff_t len)
{
	return pgoff >= start && pgoff - start < len &&
	       pages <= len - (pgoff - start);
}

int bufpool_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct bufpool_pool *pool = file->private_data;
	pgoff_t ctrl_pages = pool->ctrl_size >> PAGE_SHIFT;
	pgoff_t bufs_pages = (pgoff_t)pool->nr_chunks << BUFPOOL_CHUNK_ORDER;
	unsigned long pages = vma_pages(vma);

	/*
	 * The pool is shared memory: a private (copy-on-write) mapping would
	 * give a process buffers nobody else sees.
	 */
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	if (!bufpool_range_in(vma->vm_pgoff, pages, 0, ctrl_pages) &&
	    !bufpool_range_in(vma->vm_pgoff, pages, pool->bufs_pgoff,
			      bufs_pages))
		return -EINVAL;

	/*
	 * Never executable, never grown by mremap(), not in core dumps.
	 * VM_DONTEXPAND also makes mlock() a no-op: the pages are pinned.
	 */
	bufpool_vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP, VM_MAYEXEC);
	vma->vm_ops = &bufpool_vm_ops;
	vma->vm_private_data = pool;
	return 0;
}
