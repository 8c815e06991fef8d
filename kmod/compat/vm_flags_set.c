// SPDX-License-Identifier: GPL-2.0
/* Linux 6.3: vma->vm_flags became read-only; vm_flags_set/clear/mod. */
#include <linux/mm.h>

void bufpool_compat_test(struct vm_area_struct *vma);
void bufpool_compat_test(struct vm_area_struct *vma)
{
	vm_flags_mod(vma, VM_DONTEXPAND, VM_MAYEXEC);
}
