/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bufpool: wrappers over kernel APIs that differ between versions.
 *
 * compat_gen.h is written by scripts/kcompat.sh from the compile tests in
 * kmod/compat/, one per API.  Both sides of each wrapper are built and
 * run in the VM suite: Debian 12's 6.1, 6.12 from bookworm-backports and
 * the newest kernel in sid (docs/DESIGN.md, section 11).
 */
#ifndef BUFPOOL_COMPAT_H
#define BUFPOOL_COMPAT_H

#include <linux/huge_mm.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/sched.h>

#include "compat_gen.h"

/*
 * Would do_set_pmd() refuse a PMD at @haddr for reasons of the VMA, the
 * process or the hardware?  The core's own helpers, as each kernel's
 * do_set_pmd() calls them; a kernel whose do_set_pmd() has no THP-off
 * test (6.1 before the stable backport) gets none here either.
 * thp_disabled_by_hw() is left out: it reads transparent_hugepage_flags,
 * which modules cannot link against, and no x86 hardware sets it.
 */
static inline bool bufpool_core_pmd_refused(struct vm_area_struct *vma,
					    unsigned long haddr)
{
#if defined(BUFPOOL_HAVE_VMA_THP_DISABLED_FORCED)
	if (vma_thp_disabled(vma, true))
		return true;
#elif defined(BUFPOOL_HAVE_VMA_THP_DISABLED_FLAGS_FORCED)
	if (vma_thp_disabled(vma, vma->vm_flags, true))
		return true;
#elif defined(BUFPOOL_HAVE_VMA_THP_DISABLED_FLAGS)
	if (vma_thp_disabled(vma, vma->vm_flags))
		return true;
#endif
#ifdef BUFPOOL_HAVE_THP_VMA_SUITABLE_ORDER
	return !thp_vma_suitable_order(vma, haddr, PMD_ORDER);
#else
	return !transhuge_vma_suitable(vma, haddr);
#endif
}

/* 6.3: vm_flags is read-only outside the mm core. */
static inline void bufpool_vm_flags_mod(struct vm_area_struct *vma,
					vm_flags_t set, vm_flags_t clear)
{
#ifdef BUFPOOL_HAVE_VM_FLAGS_SET
	vm_flags_mod(vma, set, clear);
#else
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
#endif
}

/*
 * The default address-space allocator of the current process, for a
 * driver that pads a request and aligns the result.  6.10 removed
 * mm->get_unmapped_area; from 6.7 on, thp_get_unmapped_area() aligns any
 * file mapping itself, so there it is the whole answer.
 */
#ifdef BUFPOOL_HAVE_MM_GET_UNMAPPED_AREA
#define BUFPOOL_OWN_PMD_ALIGNMENT 1
static inline unsigned long
bufpool_default_unmapped_area(struct file *file, unsigned long addr,
			      unsigned long len, unsigned long pgoff,
			      unsigned long flags)
{
	return current->mm->get_unmapped_area(file, addr, len, pgoff, flags);
}
#endif

/* 6.7: vm_operations_struct.get_policy gained pgoff_t *ilx. */
#ifdef BUFPOOL_HAVE_GET_POLICY_ILX
#define BUFPOOL_GET_POLICY_ARGS \
	struct vm_area_struct *vma, unsigned long addr, pgoff_t *ilx
#else
#define BUFPOOL_GET_POLICY_ARGS struct vm_area_struct *vma, unsigned long addr
#endif

/* 6.4: class_create() lost its owner argument. */
#ifdef BUFPOOL_HAVE_CLASS_CREATE_NAME
#define bufpool_class_create(name)	class_create(name)
#else
#define bufpool_class_create(name)	class_create(THIS_MODULE, name)
#endif

/* 6.2: device_type.devnode takes a const struct device. */
#ifdef BUFPOOL_HAVE_DEVNODE_CONST
#define BUFPOOL_DEVNODE_DEV	const struct device
#else
#define BUFPOOL_DEVNODE_DEV	struct device
#endif

/* 6.8: MAX_ORDER became MAX_PAGE_ORDER, the largest order (inclusive). */
#ifdef MAX_PAGE_ORDER
#define BUFPOOL_ORDER_FITS(order)	((order) <= MAX_PAGE_ORDER)
#else
/* Exclusive until 6.4, inclusive after: "<" is right for both. */
#define BUFPOOL_ORDER_FITS(order)	((order) < MAX_ORDER)
#endif

#endif /* BUFPOOL_COMPAT_H */
