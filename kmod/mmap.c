// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool: mapping the control and buffer areas into userspace.
 *
 * The mmap space of a pool's device file has two areas, both described
 * by BUFPOOL_IOC_INFO: the control area at offset 0 and the buffer area
 * at a 2 MiB-aligned offset.  A mapping lies within one area.
 *
 * Pages are handed to the core on fault as ordinary refcounted pages.
 * A buffer-area page is a subpage of a PMD-order compound page, so when
 * the faulting range is 2 MiB-aligned in both address and file offset
 * (bufpool_mmap_unmapped_area arranges it) and the chunk lies within the
 * pool inode's i_size (pool.c), the core maps the whole chunk with one
 * PMD entry (finish_fault -> do_set_pmd), taking a reference and an rmap
 * count as for any file THP; elsewhere, and for ranges split by a
 * partial munmap or mprotect, it maps 4 KiB PTEs.  The same path serves
 * every kernel from 6.1 on: no kernel before 6.15 has an exported way
 * for a driver to install a refcounted folio PMD itself.  Either way
 * get_user_pages() works and every mapping holds a page reference, so
 * nothing is freed while a mapping or a pin remains.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/mempolicy.h>
#include <linux/mm.h>
#include <linux/mman.h>

#include "bufpool-private.h"

/*
 * Does the core map this fault with one PMD?  The handler returns a page
 * and the core installs the entry after it returns, in finish_fault():
 * it calls do_set_pmd() when the PMD is empty and the folio lies within
 * i_size (pool.c makes that true), and do_set_pmd() installs the PMD
 * unless THP is off for the VMA, the process or the hardware, the range
 * is not aligned in the VMA, or the folio is poisoned.  These are the
 * same tests, made with the core's own helpers where the kernel has them
 * (bufpool_core_pmd_refused() in compat.h; the hardware test alone is
 * left out: modules cannot read its flags, and no x86 machine sets
 * it), so the counters record what
 * the page tables hold after the fault.  A fault that loses a race with
 * another thread for the same empty PMD installs nothing and is counted
 * at the level of the entry the winner installed, the level that serves
 * its address; the mmap selftest checks the counters against smaps and
 * the process's fault count on every kernel the suite runs.
 */
static bool bufpool_fault_maps_pmd(struct vm_fault *vmf, struct page *page)
{
	struct vm_area_struct *vma = vmf->vma;
	struct folio *folio = page_folio(page);
	struct inode *host = vma->vm_file->f_mapping->host;

	if (!IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE) ||
	    !pmd_none(READ_ONCE(*vmf->pmd)))
		return false;
	if (DIV_ROUND_UP(i_size_read(host), PAGE_SIZE) <
	    folio->index + folio_nr_pages(folio))
		return false;
	if (bufpool_core_pmd_refused(vma, vmf->address & PMD_MASK))
		return false;
	return folio_order(folio) == BUFPOOL_CHUNK_ORDER &&
	       !folio_test_has_hwpoisoned(folio);
}

static vm_fault_t bufpool_fault(struct vm_fault *vmf)
{
	struct bufpool_pool *pool = vmf->vma->vm_private_data;
	struct page *page;

	page = bufpool_pool_page(pool, vmf->pgoff);
	if (!page)
		return VM_FAULT_SIGBUS;
	if (vmf->pgoff >= pool->bufs_pgoff) {
		if (bufpool_fault_maps_pmd(vmf, page))
			atomic_long_inc(&pool->pmd_faults);
		else
			atomic_long_inc(&pool->pte_faults);
	}
	get_page(page);
	vmf->page = page;
	return 0;
}

#ifdef CONFIG_NUMA
/*
 * Pool memory is placed at load and never migrates.  Answering "no
 * policy" leaves MPOL_F_MOF unset, so automatic NUMA balancing skips the
 * mapping (task_numa_work checks vma_policy_mof()) instead of unmapping
 * it now and then to sample accesses: each sample would be a page fault
 * on the hot path, and the pages cannot move anyway.
 */
static struct mempolicy *bufpool_get_policy(BUFPOOL_GET_POLICY_ARGS)
{
	return NULL;
}
#endif

static const struct vm_operations_struct bufpool_vm_ops = {
	.fault = bufpool_fault,
#ifdef CONFIG_NUMA
	.get_policy = bufpool_get_policy,
#endif
};

/* Is [pgoff, pgoff + pages) inside [start, start + len)? No overflow. */
static bool bufpool_range_within(pgoff_t pgoff, unsigned long pages,
				 pgoff_t start, pgoff_t len)
{
	return pgoff >= start && pgoff - start < len &&
	       pages <= len - (pgoff - start);
}

/**
 * bufpool_mmap_setup - check and set up a new mapping of a pool
 * @client: the client whose file is mapped
 * @vma: the new mapping
 *
 * A mapping is shared, not executable, and lies within one area.
 *
 * Return: 0, or -EINVAL or -EPERM for a mapping the pool refuses.
 */
int bufpool_mmap_setup(struct bufpool_client *client,
		       struct vm_area_struct *vma)
{
	struct bufpool_pool *pool = client->pool;
	pgoff_t ctrl_pages = bufpool_ctrl_pages(pool);
	unsigned long pages = vma_pages(vma);

	/*
	 * The pool is shared memory: a private (copy-on-write) mapping would
	 * give a process buffers nobody else sees.
	 */
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	if (!bufpool_range_within(vma->vm_pgoff, pages, 0, ctrl_pages) &&
	    !bufpool_range_within(vma->vm_pgoff, pages, pool->bufs_pgoff,
				  bufpool_bufs_pages(pool)))
		return -EINVAL;

	/*
	 * Never executable, never grown by mremap(), not in core dumps.
	 * VM_DONTEXPAND also makes mlock() a no-op: the pages are pinned.
	 */
	bufpool_vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP, VM_MAYEXEC);
	if (vma->vm_pgoff < ctrl_pages)
		bufpool_client_mapped(client);
	vma->vm_ops = &bufpool_vm_ops;
	vma->vm_private_data = pool;
	return 0;
}

/**
 * bufpool_mmap_unmapped_area - place buffer-area mappings 2 MiB-aligned
 * @file: the pool's file
 * @pool: its pool
 * @addr: hint, or the address for MAP_FIXED
 * @len: length
 * @pgoff: page offset in the mmap space
 * @flags: MAP_* flags
 *
 * A mapping of the buffer area is PMD-mapped only where its address is
 * congruent with its file offset modulo 2 MiB.  Ask for 2 MiB more than
 * needed and move up to the first such address, as THP does for DAX
 * files.  MAP_FIXED, a granted hint, the control area and short mappings
 * are left as the default allocator places them.
 *
 * Return: the address, or a negative errno.
 */
unsigned long bufpool_mmap_unmapped_area(struct file *file,
					 struct bufpool_pool *pool,
					 unsigned long addr, unsigned long len,
					 unsigned long pgoff,
					 unsigned long flags)
{
#ifdef BUFPOOL_OWN_PMD_ALIGNMENT
	unsigned long off = pgoff << PAGE_SHIFT;
	unsigned long padded = len + PMD_SIZE;
	unsigned long ret;

	if ((flags & MAP_FIXED) || pgoff < pool->bufs_pgoff ||
	    len < PMD_SIZE || padded < len)
		return bufpool_default_unmapped_area(file, addr, len, pgoff,
						     flags);

	ret = bufpool_default_unmapped_area(file, addr, padded, pgoff, flags);
	if (IS_ERR_VALUE(ret))	/* no room for the padding: unaligned */
		return bufpool_default_unmapped_area(file, addr, len, pgoff,
						     flags);
	if (addr && ret == addr)
		return ret;
	return ret + ((off - ret) & (PMD_SIZE - 1));
#else
	return thp_get_unmapped_area(file, addr, len, pgoff, flags);
#endif
}
