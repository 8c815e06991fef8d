// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool: pinned hugepage buffer pools shared between processes.
 *
 * At load the module reserves zeroed, unmovable 2 MiB compound pages,
 * carves them into fixed-size buffers, links every buffer into a
 * lock-free free list in a shared control area, and registers
 * /dev/bufpool.  Userspace maps the device and takes and gives buffers
 * through the free list without system calls (libbufpool-user).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/device.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/sysfs.h>
#include <linux/module.h>
#include <linux/uaccess.h>

#include "bufpool.h"

static unsigned int param_buf_size = 2048;
module_param_named(buf_size, param_buf_size, uint, 0444);
MODULE_PARM_DESC(buf_size,
		 "Bytes per buffer: a power of two from 64 to 2097152 (default 2048)");

static unsigned int param_buf_count = 4096;
module_param_named(buf_count, param_buf_count, uint, 0444);
MODULE_PARM_DESC(buf_count,
		 "Number of buffers, 1 to 16777215 (default 4096)");

static int param_numa_node = NUMA_NO_NODE;
module_param_named(numa_node, param_numa_node, int, 0444);
MODULE_PARM_DESC(numa_node,
		 "NUMA node to take the memory from, -1 for any (default -1)");

static unsigned int param_caches = 64;
module_param_named(caches, param_caches, uint, 0444);
MODULE_PARM_DESC(caches,
		 "Per-thread cache slots, 0 to 4096; 0 disables caching (default 64)");

static unsigned int param_mode = 0600;
module_param_named(mode, param_mode, uint, 0444);
MODULE_PARM_DESC(mode,
		 "Permission bits of the device node (default 0600)");

static struct bufpool_pool *bufpool_default;

static int bufpool_open(struct inode *inode, struct file *file)
{
	/* misc_open() left our struct miscdevice in ->private_data. */
	struct bufpool_pool *pool = container_of(file->private_data,
						 struct bufpool_pool, misc);
	struct bufpool_client *client;

	client = bufpool_client_open(pool);
	if (IS_ERR(client))
		return PTR_ERR(client);
	file->private_data = client;
	/* Every mapping of the pool in one place: see bufpool_freeze(). */
	file->f_mapping = pool->inode->i_mapping;
	return 0;
}

static int bufpool_release(struct inode *inode, struct file *file)
{
	bufpool_client_close(file->private_data);
	return 0;
}

/* Extensible struct out: fill what both sides know, zero the rest. */
static long bufpool_copy_out(void __user *uarg, size_t usize, void *kbuf,
			     size_t ksize, size_t min_size)
{
	u32 filled;

	if (usize < min_size)
		return -EINVAL;
	filled = min(usize, ksize);
	memcpy(kbuf, &filled, sizeof(filled));	/* ->size comes first */
	if (copy_to_user(uarg, kbuf, filled))
		return -EFAULT;
	if (usize > ksize && clear_user(uarg + ksize, usize - ksize))
		return -EFAULT;
	return 0;
}

static long bufpool_ioctl_info(struct bufpool_client *client,
			       void __user *uarg, size_t usize)
{
	struct bufpool_pool *pool = client->pool;
	struct bufpool_info info = {
		.abi_version = BUFPOOL_ABI_VERSION,
		.buf_shift = pool->buf_shift,
		.buf_size = 1U << pool->buf_shift,
		.buf_count = pool->buf_count,
		.numa_node = pool->numa_node,
		.pool_bytes = bufpool_bufs_size(pool),
		.ctrl_offset = 0,
		.ctrl_size = pool->ctrl_size,
		.next_offset = pool->layout.next_offset,
		.bufs_offset = (u64)pool->bufs_pgoff << PAGE_SHIFT,
		.bufs_size = bufpool_bufs_size(pool),
		.generation = pool->generation,
		.mag_fill = pool->layout.mag_fill,
		.nr_mags = pool->layout.nr_mags,
		.nr_caches = pool->layout.nr_caches,
		.mag_next_offset = pool->layout.mag_next_offset,
		.mags_offset = pool->layout.mags_offset,
		.caches_offset = pool->layout.caches_offset,
		.own_offset = pool->layout.own_offset,
		.client_id = client->id,
	};

	return bufpool_copy_out(uarg, usize, &info, sizeof(info),
				BUFPOOL_INFO_SIZE_VER0);
}

static long bufpool_ioctl_audit(struct bufpool_client *client,
				void __user *uarg, size_t usize)
{
	struct bufpool_audit audit = { 0 };
	int err;

	if (usize < BUFPOOL_AUDIT_SIZE_VER0)
		return -EINVAL;
	err = bufpool_audit(client->pool, &audit);
	if (err)
		return err;
	return bufpool_copy_out(uarg, usize, &audit, sizeof(audit),
				BUFPOOL_AUDIT_SIZE_VER0);
}

static long bufpool_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct bufpool_client *client = file->private_data;
	void __user *uarg = (void __user *)arg;
	u32 abi;

	/* The size in the command may grow with the ABI: match the rest. */
	if (_IOC_TYPE(cmd) != BUFPOOL_IOC_MAGIC)
		return -ENOTTY;

	switch (_IOC_NR(cmd)) {
	case _IOC_NR(BUFPOOL_IOC_INFO):
		if (_IOC_DIR(cmd) != _IOC_READ)
			return -ENOTTY;
		return bufpool_ioctl_info(client, uarg, _IOC_SIZE(cmd));
	case _IOC_NR(BUFPOOL_IOC_ATTACH):
		if (cmd != BUFPOOL_IOC_ATTACH)
			return -ENOTTY;
		if (get_user(abi, (u32 __user *)uarg))
			return -EFAULT;
		return bufpool_client_attach(client, abi);
	case _IOC_NR(BUFPOOL_IOC_AUDIT):
		if (_IOC_DIR(cmd) != _IOC_READ)
			return -ENOTTY;
		return bufpool_ioctl_audit(client, uarg, _IOC_SIZE(cmd));
	default:
		return -ENOTTY;
	}
}

static const struct file_operations bufpool_fops = {
	.owner = THIS_MODULE,
	.open = bufpool_open,
	.release = bufpool_release,
	.unlocked_ioctl = bufpool_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = bufpool_mmap,
	.get_unmapped_area = bufpool_get_unmapped_area,
	.llseek = noop_llseek,
};

static struct bufpool_pool *bufpool_from_dev(struct device *dev)
{
	/* misc_register() made the miscdevice the device's drvdata. */
	struct miscdevice *misc = dev_get_drvdata(dev);

	return container_of(misc, struct bufpool_pool, misc);
}

static ssize_t pmd_faults_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%ld\n",
			  atomic_long_read(&bufpool_from_dev(dev)->pmd_faults));
}
static DEVICE_ATTR_RO(pmd_faults);

static ssize_t pte_faults_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%ld\n",
			  atomic_long_read(&bufpool_from_dev(dev)->pte_faults));
}
static DEVICE_ATTR_RO(pte_faults);

/* Recovery statistics: one show routine, told apart by attribute. */
static ssize_t bufpool_recovery_show(struct device *dev,
				     struct device_attribute *attr, char *buf);

static struct device_attribute dev_attr_reclaims =
	__ATTR(reclaims, 0444, bufpool_recovery_show, NULL);
static struct device_attribute dev_attr_reclaimed =
	__ATTR(reclaimed, 0444, bufpool_recovery_show, NULL);
static struct device_attribute dev_attr_repaired =
	__ATTR(repaired, 0444, bufpool_recovery_show, NULL);
static struct device_attribute dev_attr_rebuilds =
	__ATTR(rebuilds, 0444, bufpool_recovery_show, NULL);
static struct device_attribute dev_attr_deferred =
	__ATTR(deferred, 0444, bufpool_recovery_show, NULL);

static ssize_t bufpool_recovery_show(struct device *dev,
				     struct device_attribute *attr, char *buf)
{
	struct bufpool_pool *pool = bufpool_from_dev(dev);
	atomic_long_t *v;

	if (attr == &dev_attr_reclaims)
		v = &pool->reclaims;
	else if (attr == &dev_attr_reclaimed)
		v = &pool->reclaimed;
	else if (attr == &dev_attr_repaired)
		v = &pool->repaired;
	else if (attr == &dev_attr_rebuilds)
		v = &pool->rebuilds;
	else
		v = &pool->deferred;
	return sysfs_emit(buf, "%ld\n", atomic_long_read(v));
}

static ssize_t clients_show(struct device *dev,
			    struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n",
			  READ_ONCE(bufpool_from_dev(dev)->nr_clients));
}
static DEVICE_ATTR_RO(clients);

/* /sys/class/misc/<pool>/stats/ */
static struct attribute *bufpool_stats_attrs[] = {
	&dev_attr_pmd_faults.attr,
	&dev_attr_pte_faults.attr,
	&dev_attr_reclaims.attr,
	&dev_attr_reclaimed.attr,
	&dev_attr_repaired.attr,
	&dev_attr_rebuilds.attr,
	&dev_attr_deferred.attr,
	&dev_attr_clients.attr,
	NULL,
};

static const struct attribute_group bufpool_stats_group = {
	.name = "stats",
	.attrs = bufpool_stats_attrs,
};

static const struct attribute_group *bufpool_groups[] = {
	&bufpool_stats_group,
	NULL,
};

static int __init bufpool_init(void)
{
	struct bufpool_params p = {
		.buf_size = param_buf_size,
		.buf_count = param_buf_count,
		.numa_node = param_numa_node,
		.mode = param_mode,
		.caches = param_caches,
	};
	struct bufpool_pool *pool;
	int err;

	err = bufpool_check_params(&p);
	if (err)
		return err;

	pool = bufpool_pool_create("bufpool", &p);
	if (IS_ERR(pool))
		return PTR_ERR(pool);

	pool->misc.minor = MISC_DYNAMIC_MINOR;
	pool->misc.name = pool->name;
	pool->misc.fops = &bufpool_fops;
	pool->misc.mode = p.mode;
	pool->misc.groups = bufpool_groups;
	err = misc_register(&pool->misc);
	if (err) {
		pr_err("cannot register /dev/%s: %d\n", pool->name, err);
		bufpool_pool_put(pool);
		return err;
	}
	bufpool_default = pool;

	pr_info("/dev/%s: %u buffers of %u B in %u x 2 MiB chunks, node %d\n",
		pool->name, pool->buf_count, 1U << pool->buf_shift,
		pool->nr_chunks, pool->numa_node);
	return 0;
}

static void __exit bufpool_exit(void)
{
	/*
	 * Every open file and every mapping holds a module reference
	 * (fops.owner), so none is left here: this put frees the pool.
	 */
	misc_deregister(&bufpool_default->misc);
	bufpool_pool_put(bufpool_default);
}

module_init(bufpool_init);
module_exit(bufpool_exit);

MODULE_DESCRIPTION("Pinned hugepage buffer pools shared with userspace");
MODULE_AUTHOR("bufpool developers");
MODULE_LICENSE("GPL");
