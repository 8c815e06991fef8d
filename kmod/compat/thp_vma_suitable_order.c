// SPDX-License-Identifier: GPL-2.0
/* 6.8: transhuge_vma_suitable() became thp_vma_suitable_order(). */
#include <linux/mm.h>
#include <linux/huge_mm.h>

bool bufpool_compat_test(struct vm_area_struct *vma, unsigned long addr);
bool bufpool_compat_test(struct vm_area_struct *vma, unsigned long addr)
{
	return thp_vma_suitable_order(vma, addr, PMD_ORDER);
}
