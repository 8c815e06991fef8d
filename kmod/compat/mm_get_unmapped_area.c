// SPDX-License-Identifier: GPL-2.0
/*
 * Up to 6.9: struct mm_struct has a get_unmapped_area method, the
 * default allocator a driver pads and aligns.  6.10 removed it; there
 * thp_get_unmapped_area() aligns any file's mapping to the PMD size.
 */
#include <linux/mm.h>
#include <linux/sched.h>

unsigned long bufpool_compat_test(struct file *file);
unsigned long bufpool_compat_test(struct file *file)
{
	return current->mm->get_unmapped_area(file, 0, PAGE_SIZE, 0, 0);
}
