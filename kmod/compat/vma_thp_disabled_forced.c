// SPDX-License-Identifier: GPL-2.0
/*
 * After 6.18: vma_thp_disabled(vma, forced_collapse) reads the VMA's
 * flags itself.
 * The type, not a call, is tested: a call would convert between
 * vm_flags_t and bool silently.
 */
#include <linux/mm.h>
#include <linux/build_bug.h>
#include <linux/huge_mm.h>

bool bufpool_compat_test(void);
bool bufpool_compat_test(void)
{
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(vma_thp_disabled),
						   bool (struct vm_area_struct *, bool)));
	return false;
}
