// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool: the character device, end to end.
 *
 * Registration (the chrdev region, the class, one device and cdev per
 * pool and the node devtmpfs makes for it) and the file operations:
 * open and release make and end a client (client.c), mmap and
 * get_unmapped_area hand over to mmap.c, and the ioctls of
 * uapi/linux/bufpool.h are handled here.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/kdev_t.h>
#include <linux/module.h>
#include <linux/uaccess.h>

#include "bufpool-private.h"

static dev_t bufpool_devt;
static struct class *bufpool_class;

static int bufpool_fop_open(struct inode *inode, struct file *file)
{
	struct bufpool_pool *pool = container_of(inode->i_cdev,
						 struct bufpool_pool, cdev);
	struct bufpool_client *client;

	client = bufpool_client_open(pool);
	if (IS_ERR(client))
		return PTR_ERR(client);
	file->private_data = client;
	/* Every mapping of the pool in one place: bufpool_stop_mappings(). */
	file->f_mapping = pool->inode->i_mapping;
	return 0;
}

static int bufpool_fop_release(struct inode *inode, struct file *file)
{
	bufpool_client_close(file->private_data);
	return 0;
}

static int bufpool_fop_mmap(struct file *file, struct vm_area_struct *vma)
{
	return bufpool_mmap_setup(file->private_data, vma);
}

static unsigned long bufpool_fop_get_unmapped_area(struct file *file,
						   unsigned long addr,
						   unsigned long len,
						   unsigned long pgoff,
						   unsigned long flags)
{
	struct bufpool_client *client = file->private_data;

	return bufpool_mmap_unmapped_area(file, client->pool, addr, len,
					  pgoff, flags);
}

/*
 * An extensible struct out, as the ioctl's size says the caller knows
 * it: fill what both sides know, zero the rest; ->size, which comes
 * first, says how much was filled.
 */
static long bufpool_copy_struct_to_user(void __user *uarg, size_t user_size,
					void *kbuf, size_t kernel_size,
					size_t min_size)
{
	u32 filled;

	if (user_size < min_size)
		return -EINVAL;
	filled = min(user_size, kernel_size);
	memcpy(kbuf, &filled, sizeof(filled));
	if (copy_to_user(uarg, kbuf, filled))
		return -EFAULT;
	if (user_size > kernel_size &&
	    clear_user(uarg + kernel_size, user_size - kernel_size))
		return -EFAULT;
	return 0;
}

static long bufpool_ioctl_info(struct bufpool_client *client,
			       void __user *uarg, size_t usize)
{
	struct bufpool_pool *pool = client->pool;
	struct bufpool_info info = {
		.numa_node = pool->numa_node,
		.generation = pool->generation,
		.client_id = client->id,
	};

	bp_layout_to_info(&info, &pool->layout);
	return bufpool_copy_struct_to_user(uarg, usize, &info, sizeof(info),
					   BUFPOOL_INFO_SIZE_VER0);
}

static long bufpool_ioctl_audit(struct bufpool_client *client,
				void __user *uarg, size_t usize)
{
	struct bufpool_audit audit = { 0 };
	int err;

	if (usize < BUFPOOL_AUDIT_SIZE_VER0)
		return -EINVAL;
	err = bufpool_pool_audit(client->pool, &audit);
	if (err)
		return err;
	return bufpool_copy_struct_to_user(uarg, usize, &audit, sizeof(audit),
					   BUFPOOL_AUDIT_SIZE_VER0);
}

/*
 * Sleep until a release moves wake_seq.  The word is in shared memory:
 * any value is fine, the condition is only "it changed".
 */
static long bufpool_ioctl_wait(struct bufpool_client *client,
			       void __user *uarg)
{
	struct bufpool_pool *pool = client->pool;
	u32 *seq = &pool->ctrl->wake_seq;
	struct bufpool_wait req;
	ktime_t timeout;
	u32 old;
	long ret;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.__pad)
		return -EINVAL;
	old = req.seq;		/* the value the caller last read */
	timeout = ns_to_ktime(req.timeout_ns);
	if (req.timeout_ns < 0)
		ret = wait_event_interruptible(pool->waitq,
					       READ_ONCE(*seq) != old);
	else
		ret = wait_event_interruptible_hrtimeout(pool->waitq,
							 READ_ONCE(*seq) != old,
							 timeout);
	if (ret == -ETIME)
		return -ETIMEDOUT;
	return ret == -ERESTARTSYS ? -EINTR : ret;
}

static long bufpool_fop_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	struct bufpool_client *client = file->private_data;
	void __user *uarg = (void __user *)arg;
	u32 abi, flags;

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
	case _IOC_NR(BUFPOOL_IOC_WAIT):
		if (cmd != BUFPOOL_IOC_WAIT)
			return -ENOTTY;
		return bufpool_ioctl_wait(client, uarg);
	case _IOC_NR(BUFPOOL_IOC_WAKE):
		if (cmd != BUFPOOL_IOC_WAKE)
			return -ENOTTY;
		wake_up_all(&client->pool->waitq);
		return 0;
	case _IOC_NR(BUFPOOL_IOC_QUEUE):
		if (_IOC_DIR(cmd) != (_IOC_READ | _IOC_WRITE))
			return -ENOTTY;
		return bufpool_queue_ioctl(client, uarg, _IOC_SIZE(cmd));
	case _IOC_NR(BUFPOOL_IOC_REPAIR):
		if (cmd != BUFPOOL_IOC_REPAIR)
			return -ENOTTY;
		if (get_user(flags, (u32 __user *)uarg))
			return -EFAULT;
		return bufpool_pool_repair(client->pool, flags);
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
	.open = bufpool_fop_open,
	.release = bufpool_fop_release,
	.unlocked_ioctl = bufpool_fop_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = bufpool_fop_mmap,
	.get_unmapped_area = bufpool_fop_get_unmapped_area,
	.llseek = noop_llseek,
};

/* devtmpfs makes the node with the pool's owner, group and mode. */
static char *bufpool_devnode(BUFPOOL_DEVNODE_DEV *dev, umode_t *mode,
			     kuid_t *uid, kgid_t *gid)
{
	const struct bufpool_pool *pool =
		container_of(dev, struct bufpool_pool, dev);

	if (mode)
		*mode = pool->mode;
	if (uid)
		*uid = pool->uid;
	if (gid)
		*gid = pool->gid;
	return NULL;
}

static const struct device_type bufpool_dev_type = {
	.name = "bufpool",
	.devnode = bufpool_devnode,
};

/* The device's last reference is gone: so is its hold on the pool. */
static void bufpool_dev_release(struct device *dev)
{
	bufpool_pool_put(bufpool_dev_to_pool(dev));
}

/**
 * bufpool_device_add - give a pool its device, node and sysfs directory
 * @pool: the pool
 * @minor: its minor number, below BUFPOOL_NR_MINORS
 *
 * The cdev's parent is the device and the device holds a pool reference
 * that its release drops: an open file (which holds the cdev) keeps the
 * memory they are embedded in alive, whatever the order of the puts.
 *
 * Return: 0, or a negative errno (logged) with nothing registered and
 * the caller's reference on @pool untouched.
 */
int bufpool_device_add(struct bufpool_pool *pool, unsigned int minor)
{
	int err;

	cdev_init(&pool->cdev, &bufpool_fops);
	pool->cdev.owner = THIS_MODULE;
	device_initialize(&pool->dev);
	pool->dev.class = bufpool_class;
	pool->dev.type = &bufpool_dev_type;
	pool->dev.devt = MKDEV(MAJOR(bufpool_devt), minor);
	pool->dev.groups = bufpool_sysfs_groups;
	pool->dev.release = bufpool_dev_release;
	bufpool_pool_get(pool);
	err = dev_set_name(&pool->dev, "%s", pool->name);
	if (!err)
		err = cdev_device_add(&pool->cdev, &pool->dev);
	if (err) {
		pr_err("cannot register /dev/%s: %d\n", pool->name, err);
		put_device(&pool->dev);
		return err;
	}
	err = bufpool_sysfs_queues_add(pool);
	if (err) {
		pr_err("cannot add the queues of /dev/%s to sysfs: %d\n",
		       pool->name, err);
		bufpool_device_del(pool);
	}
	return err;
}

/**
 * bufpool_device_del - take away a pool's node; open files keep working
 * @pool: a pool bufpool_device_add() registered
 */
void bufpool_device_del(struct bufpool_pool *pool)
{
	bufpool_sysfs_queues_del(pool);
	cdev_device_del(&pool->cdev, &pool->dev);
	put_device(&pool->dev);
}

/**
 * bufpool_devices_init - reserve the device numbers and the class
 *
 * Return: 0, or a negative errno with nothing reserved.
 */
int bufpool_devices_init(void)
{
	int err;

	err = alloc_chrdev_region(&bufpool_devt, 0, BUFPOOL_NR_MINORS,
				  "bufpool");
	if (err)
		return err;
	bufpool_class = bufpool_class_create("bufpool");
	if (IS_ERR(bufpool_class)) {
		err = PTR_ERR(bufpool_class);
		unregister_chrdev_region(bufpool_devt, BUFPOOL_NR_MINORS);
		return err;
	}
	return 0;
}

/**
 * bufpool_devices_exit - give back the class and the device numbers
 *
 * Every device must have been deleted.
 */
void bufpool_devices_exit(void)
{
	class_destroy(bufpool_class);
	unregister_chrdev_region(bufpool_devt, BUFPOOL_NR_MINORS);
}
