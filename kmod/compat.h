/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bufpool: wrappers over kernel APIs that differ between versions.
 *
 * compat_gen.h is written by scripts/kcompat.sh from the compile tests in
 * kmod/compat/, one per API.  The 6.1 side of each wrapper is tested
 * here; the other side follows upstream and is compile-untested here.
 */
#ifndef BUFPOOL_COMPAT_H
#define BUFPOOL_COMPAT_H

#include <linux/mm.h>

#include "compat_gen.h"

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

#endif /* BUFPOOL_COMPAT_H */
