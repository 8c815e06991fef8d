// SPDX-License-Identifier: GPL-2.0
/* Linux 6.4: class_create() lost its owner argument. */
#include <linux/device.h>

struct class *bufpool_compat_test(void);
struct class *bufpool_compat_test(void)
{
	return class_create("bufpool_compat");
}
