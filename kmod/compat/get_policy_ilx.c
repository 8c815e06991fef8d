// SPDX-License-Identifier: GPL-2.0
/* 6.7: vm_operations_struct.get_policy gained a pgoff_t *ilx argument. */
#include <linux/mm.h>
#include <linux/mempolicy.h>

static struct mempolicy *bufpool_compat_get_policy(struct vm_area_struct *vma,
						   unsigned long addr,
						   pgoff_t *ilx)
{
	return NULL;
}

const struct vm_operations_struct bufpool_compat_ops = {
	.get_policy = bufpool_compat_get_policy,
};
