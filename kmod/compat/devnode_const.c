// SPDX-License-Identifier: GPL-2.0
/* Linux 6.2: device_type.devnode takes a const struct device. */
#include <linux/device.h>

static char *bufpool_compat_devnode(const struct device *dev, umode_t *mode,
				    kuid_t *uid, kgid_t *gid)
{
	return NULL;
}

const struct device_type bufpool_compat_type = {
	.devnode = bufpool_compat_devnode,
};
