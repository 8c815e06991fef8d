// SPDX-License-Identifier: GPL-2.0
/*
 * 6.18: vma_thp_disabled() gained forced_collapse; do_set_pmd() passes
 * true.
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
						   bool (struct vm_area_struct *,
							 vm_flags_t, bool)));
	return false;
}
