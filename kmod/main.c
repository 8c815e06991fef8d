// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool: pinned hugepage buffer pools shared between processes.
 *
 * At load the module reserves zeroed, unmovable 2 MiB compound pages,
 * carves them into fixed-size buffers, links every buffer into a
 * lock-free free list in a shared control area, and registers
 * /dev/bufpool, and /dev/bufpool-NAME for each pool named in the pools
 * parameter.  Userspace maps a device and takes and gives buffers
 * through the free list without system calls (libbufpool-user).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cdev.h>
#include <linux/ctype.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/kdev_t.h>
#include <linux/kstrtox.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/uaccess.h>

#include "bufpool-private.h"

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

static unsigned int param_uid;
module_param_named(uid, param_uid, uint, 0444);
MODULE_PARM_DESC(uid, "Owner of the device node (default 0)");

static unsigned int param_gid;
module_param_named(gid, param_gid, uint, 0444);
MODULE_PARM_DESC(gid, "Group of the device node (default 0)");

static char *param_pools;
module_param_named(pools, param_pools, charp, 0444);
MODULE_PARM_DESC(pools,
		 "More pools, /dev/bufpool-NAME each: NAME:key=value,...;NAME:... with keys buf_size, buf_count, numa_node, caches, mode, uid, gid (defaults: those of the default pool)");

static dev_t bufpool_devt;
static struct class *bufpool_class;
static struct bufpool_pool *bufpool_pools[BUFPOOL_MAX_POOLS + 1];
static unsigned int bufpool_nr_pools;

static int bufpool_fop_open(struct inode *inode, struct file *file)
{
	struct bufpool_pool *pool = container_of(inode->i_cdev,
						 struct bufpool_pool, cdev);
	struct bufpool_client *client;

	client = bufpool_client_open(pool);
	if (IS_ERR(client))
		return PTR_ERR(client);
	file->private_data = client;
	/* Every mapping of the pool in one place: see bufpool_freeze(). */
	file->f_mapping = pool->inode->i_mapping;
	return 0;
}

static int bufpool_fop_release(struct inode *inode, struct file *file)
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
		.numa_node = pool->numa_node,
		.generation = pool->generation,
		.client_id = client->id,
	};

	bp_layout_to_info(&info, &pool->layout);
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
	err = bufpool_pool_audit(client->pool, &audit);
	if (err)
		return err;
	return bufpool_copy_out(uarg, usize, &audit, sizeof(audit),
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
	struct bufpool_wait w;
	ktime_t timeout;
	long ret;

	if (copy_from_user(&w, uarg, sizeof(w)))
		return -EFAULT;
	if (w.__pad)
		return -EINVAL;
	timeout = ns_to_ktime(w.timeout_ns);
	if (w.timeout_ns < 0)
		ret = wait_event_interruptible(pool->waitq,
					       READ_ONCE(*seq) != w.seq);
	else
		ret = wait_event_interruptible_hrtimeout(pool->waitq,
							 READ_ONCE(*seq) != w.seq,
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
	case _IOC_NR(BUFPOOL_IOC_WAIT):
		if (cmd != BUFPOOL_IOC_WAIT)
			return -ENOTTY;
		return bufpool_ioctl_wait(client, uarg);
	case _IOC_NR(BUFPOOL_IOC_WAKE):
		if (cmd != BUFPOOL_IOC_WAKE)
			return -ENOTTY;
		wake_up_all(&client->pool->waitq);
		return 0;
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
	.mmap = bufpool_mmap,
	.get_unmapped_area = bufpool_get_unmapped_area,
	.llseek = noop_llseek,
};

static struct bufpool_pool *bufpool_from_dev(struct device *dev)
{
	return container_of(dev, struct bufpool_pool, dev);
}

/*
 * sysfs: /sys/class/bufpool/<pool>/info/ (the geometry, as the ioctl
 * gives it) and .../stats/, one number per file, all shown by one
 * routine told which number by its attribute.
 */
enum bufpool_number {
	BP_BUF_SIZE, BP_BUF_COUNT, BP_NUMA_NODE, BP_THREAD_SLOTS, BP_MAG_FILL,
	BP_GENERATION, BP_PMD_FAULTS, BP_PTE_FAULTS, BP_RECLAIMS,
	BP_RECLAIMED, BP_REPAIRED, BP_REBUILDS, BP_DEFERRED, BP_CLIENTS,
	BP_TOTAL, BP_IN_USE, BP_FREE, BP_HIGH_WATERMARK, BP_ACQUIRES,
	BP_RELEASES, BP_EXHAUSTED,
};

struct bufpool_attr {
	struct device_attribute attr;
	enum bufpool_number what;
};

static ssize_t bufpool_attr_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	enum bufpool_number what =
		container_of(attr, struct bufpool_attr, attr)->what;
	struct bufpool_pool *pool = bufpool_from_dev(dev);
	struct bufpool_pool_stats st;
	s64 v;

	if (what >= BP_TOTAL)	/* summed over the thread slots */
		bufpool_pool_stats(pool, &st);
	switch (what) {
	case BP_BUF_SIZE:
		v = 1U << pool->buf_shift;
		break;
	case BP_BUF_COUNT:
	case BP_TOTAL:
		v = pool->buf_count;
		break;
	case BP_NUMA_NODE:
		v = pool->numa_node;
		break;
	case BP_THREAD_SLOTS:
		v = pool->layout.nr_caches;
		break;
	case BP_MAG_FILL:
		v = pool->layout.mag_fill;
		break;
	case BP_GENERATION:
		v = READ_ONCE(pool->generation);
		break;
	case BP_PMD_FAULTS:
		v = atomic_long_read(&pool->pmd_faults);
		break;
	case BP_PTE_FAULTS:
		v = atomic_long_read(&pool->pte_faults);
		break;
	case BP_RECLAIMS:
		v = atomic_long_read(&pool->reclaims);
		break;
	case BP_RECLAIMED:
		v = atomic_long_read(&pool->reclaimed);
		break;
	case BP_REPAIRED:
		v = atomic_long_read(&pool->repaired);
		break;
	case BP_REBUILDS:
		v = atomic_long_read(&pool->rebuilds);
		break;
	case BP_DEFERRED:
		v = atomic_long_read(&pool->deferred);
		break;
	case BP_CLIENTS:
		v = READ_ONCE(pool->nr_clients);
		break;
	case BP_IN_USE:
		v = st.sum.in_use;
		break;
	case BP_FREE:
		v = pool->buf_count - st.sum.in_use;
		break;
	case BP_HIGH_WATERMARK:
		v = st.high_watermark;
		break;
	case BP_ACQUIRES:
		v = st.sum.acquires;
		break;
	case BP_RELEASES:
		v = st.sum.releases;
		break;
	default:
		v = st.sum.exhausted;
		break;
	}
	return sysfs_emit(buf, "%lld\n", v);
}

#define BUFPOOL_ATTR(_name, _what)					\
	static struct bufpool_attr bufpool_attr_##_name = {		\
		.attr = __ATTR(_name, 0444, bufpool_attr_show, NULL),	\
		.what = (_what),					\
	}

BUFPOOL_ATTR(buf_size, BP_BUF_SIZE);
BUFPOOL_ATTR(buf_count, BP_BUF_COUNT);
BUFPOOL_ATTR(numa_node, BP_NUMA_NODE);
BUFPOOL_ATTR(thread_slots, BP_THREAD_SLOTS);
BUFPOOL_ATTR(mag_fill, BP_MAG_FILL);
BUFPOOL_ATTR(generation, BP_GENERATION);
BUFPOOL_ATTR(pmd_faults, BP_PMD_FAULTS);
BUFPOOL_ATTR(pte_faults, BP_PTE_FAULTS);
BUFPOOL_ATTR(reclaims, BP_RECLAIMS);
BUFPOOL_ATTR(reclaimed, BP_RECLAIMED);
BUFPOOL_ATTR(repaired, BP_REPAIRED);
BUFPOOL_ATTR(rebuilds, BP_REBUILDS);
BUFPOOL_ATTR(deferred, BP_DEFERRED);
BUFPOOL_ATTR(clients, BP_CLIENTS);
BUFPOOL_ATTR(total, BP_TOTAL);
BUFPOOL_ATTR(in_use, BP_IN_USE);
BUFPOOL_ATTR(free, BP_FREE);
BUFPOOL_ATTR(high_watermark, BP_HIGH_WATERMARK);
BUFPOOL_ATTR(acquires, BP_ACQUIRES);
BUFPOOL_ATTR(releases, BP_RELEASES);
BUFPOOL_ATTR(exhausted, BP_EXHAUSTED);

static struct attribute *bufpool_info_attrs[] = {
	&bufpool_attr_buf_size.attr.attr,
	&bufpool_attr_buf_count.attr.attr,
	&bufpool_attr_numa_node.attr.attr,
	&bufpool_attr_thread_slots.attr.attr,
	&bufpool_attr_mag_fill.attr.attr,
	&bufpool_attr_generation.attr.attr,
	NULL,
};

static const struct attribute_group bufpool_info_group = {
	.name = "info",
	.attrs = bufpool_info_attrs,
};

static struct attribute *bufpool_stats_attrs[] = {
	&bufpool_attr_pmd_faults.attr.attr,
	&bufpool_attr_pte_faults.attr.attr,
	&bufpool_attr_reclaims.attr.attr,
	&bufpool_attr_reclaimed.attr.attr,
	&bufpool_attr_repaired.attr.attr,
	&bufpool_attr_rebuilds.attr.attr,
	&bufpool_attr_deferred.attr.attr,
	&bufpool_attr_clients.attr.attr,
	&bufpool_attr_total.attr.attr,
	&bufpool_attr_in_use.attr.attr,
	&bufpool_attr_free.attr.attr,
	&bufpool_attr_high_watermark.attr.attr,
	&bufpool_attr_acquires.attr.attr,
	&bufpool_attr_releases.attr.attr,
	&bufpool_attr_exhausted.attr.attr,
	NULL,
};

static const struct attribute_group bufpool_stats_group = {
	.name = "stats",
	.attrs = bufpool_stats_attrs,
};

static const struct attribute_group *bufpool_groups[] = {
	&bufpool_info_group,
	&bufpool_stats_group,
	NULL,
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
	bufpool_pool_put(bufpool_from_dev(dev));
}

/*
 * The cdev's parent is the device and the device holds a pool reference
 * that its release drops: an open file (which holds the cdev) keeps the
 * memory they are embedded in alive, whatever the order of the puts.
 */
static int bufpool_register(struct bufpool_pool *pool, unsigned int minor)
{
	int err;

	cdev_init(&pool->cdev, &bufpool_fops);
	pool->cdev.owner = THIS_MODULE;
	device_initialize(&pool->dev);
	pool->dev.class = bufpool_class;
	pool->dev.type = &bufpool_dev_type;
	pool->dev.devt = MKDEV(MAJOR(bufpool_devt), minor);
	pool->dev.groups = bufpool_groups;
	pool->dev.release = bufpool_dev_release;
	bufpool_pool_get(pool);
	err = dev_set_name(&pool->dev, "%s", pool->name);
	if (!err)
		err = cdev_device_add(&pool->cdev, &pool->dev);
	if (err) {
		pr_err("cannot register /dev/%s: %d\n", pool->name, err);
		put_device(&pool->dev);
	}
	return err;
}

static void bufpool_unregister(struct bufpool_pool *pool)
{
	cdev_device_del(&pool->cdev, &pool->dev);
	put_device(&pool->dev);
}

/* The default pool's parameters, which named pools start from. */
static void bufpool_default_spec(struct bufpool_pool_spec *p)
{
	*p = (struct bufpool_pool_spec){
		.name = "bufpool",
		.buf_size = param_buf_size,
		.buf_count = param_buf_count,
		.numa_node = param_numa_node,
		.mode = param_mode,
		.caches = param_caches,
		.uid = param_uid,
		.gid = param_gid,
	};
}

static bool bufpool_name_ok(const char *name)
{
	size_t i, len = strlen(name);

	if (!len || len > BUFPOOL_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!islower(name[i]) && !isdigit(name[i]) && name[i] != '_')
			return false;
	return true;
}

/* One "key=value" of a pool spec into p; a clear error otherwise. */
static int bufpool_parse_kv(struct bufpool_pool_spec *p, char *kv)
{
	char *val = strchr(kv, '=');
	int err;

	if (!val) {
		pr_err("pools: %s: \"%s\" is not key=value\n", p->name, kv);
		return -EINVAL;
	}
	*val++ = '\0';
	if (!strcmp(kv, "buf_size"))
		err = kstrtou32(val, 0, &p->buf_size);
	else if (!strcmp(kv, "buf_count"))
		err = kstrtou32(val, 0, &p->buf_count);
	else if (!strcmp(kv, "numa_node"))
		err = kstrtoint(val, 0, &p->numa_node);
	else if (!strcmp(kv, "caches"))
		err = kstrtou32(val, 0, &p->caches);
	else if (!strcmp(kv, "mode"))
		err = kstrtouint(val, 8, &p->mode);
	else if (!strcmp(kv, "uid"))
		err = kstrtou32(val, 0, &p->uid);
	else if (!strcmp(kv, "gid"))
		err = kstrtou32(val, 0, &p->gid);
	else
		err = -ENOENT;
	if (err == -ENOENT)
		pr_err("pools: %s: unknown key \"%s\"\n", p->name, kv);
	else if (err)
		pr_err("pools: %s: %s=\"%s\" is not a number\n", p->name, kv,
		       val);
	return err ? -EINVAL : 0;
}

/*
 * Parse the pools parameter: "NAME:key=value,...;NAME:..." into ps[],
 * each starting from the default pool's parameters.  Returns how many,
 * or a negative errno with the reason logged.
 */
static int bufpool_parse_pools(const char *spec,
			       struct bufpool_pool_spec *ps, int max)
{
	char *buf, *cur, *one, *kv, *name;
	int n = 0, i, err = 0;

	if (!spec || !*spec)
		return 0;
	buf = kstrdup(spec, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	cur = buf;
	while (!err && (one = strsep(&cur, ";")) != NULL) {
		if (!*one)
			continue;
		name = strsep(&one, ":");
		if (!bufpool_name_ok(name)) {
			pr_err("pools: \"%s\": a name is 1 to %d of a-z, 0-9, _\n",
			       name, BUFPOOL_NAME_MAX);
			err = -EINVAL;
			break;
		}
		if (n == max) {
			pr_err("pools: more than %d pools\n", max);
			err = -EINVAL;
			break;
		}
		bufpool_default_spec(&ps[n]);
		snprintf(ps[n].name, sizeof(ps[n].name), "bufpool-%s", name);
		for (i = 0; i < n; i++)
			if (!strcmp(ps[i].name, ps[n].name)) {
				pr_err("pools: \"%s\" named twice\n", name);
				err = -EINVAL;
			}
		while (!err && one && (kv = strsep(&one, ",")) != NULL)
			if (*kv)
				err = bufpool_parse_kv(&ps[n], kv);
		if (!err)
			err = bufpool_pool_spec_check(&ps[n]);
		n++;
	}
	kfree(buf);
	return err ? err : n;
}

static void bufpool_destroy_all(void)
{
	while (bufpool_nr_pools) {
		struct bufpool_pool *pool = bufpool_pools[--bufpool_nr_pools];

		bufpool_unregister(pool);
		bufpool_pool_put(pool);
	}
	if (bufpool_class)
		class_destroy(bufpool_class);
	if (bufpool_devt)
		unregister_chrdev_region(bufpool_devt, BUFPOOL_MAX_POOLS + 1);
}

static int __init bufpool_init(void)
{
	struct bufpool_pool_spec *ps;
	struct bufpool_pool *pool;
	int n, i, err;

	ps = kcalloc(BUFPOOL_MAX_POOLS + 1, sizeof(*ps), GFP_KERNEL);
	if (!ps)
		return -ENOMEM;
	/* Check every pool's parameters before taking any memory. */
	bufpool_default_spec(&ps[0]);
	err = bufpool_pool_spec_check(&ps[0]);
	n = err ? err : bufpool_parse_pools(param_pools, ps + 1,
					    BUFPOOL_MAX_POOLS);
	if (n < 0) {
		kfree(ps);
		return n;
	}

	err = alloc_chrdev_region(&bufpool_devt, 0, BUFPOOL_MAX_POOLS + 1,
				  "bufpool");
	if (err) {
		bufpool_devt = 0;
		goto out;
	}
	bufpool_class = bufpool_class_create("bufpool");
	if (IS_ERR(bufpool_class)) {
		err = PTR_ERR(bufpool_class);
		bufpool_class = NULL;
		goto out;
	}
	for (i = 0; i <= n; i++) {
		pool = bufpool_pool_create(&ps[i]);
		if (IS_ERR(pool)) {
			err = PTR_ERR(pool);
			goto out;
		}
		err = bufpool_register(pool, i);
		if (err) {
			bufpool_pool_put(pool);
			goto out;
		}
		bufpool_pools[bufpool_nr_pools++] = pool;
		pr_info("/dev/%s: %u buffers of %u B in %u x 2 MiB chunks, node %d\n",
			pool->name, pool->buf_count, 1U << pool->buf_shift,
			pool->nr_chunks, pool->numa_node);
	}
	kfree(ps);
	return 0;

out:
	kfree(ps);
	bufpool_destroy_all();
	return err;
}

static void __exit bufpool_exit(void)
{
	/*
	 * Every open file and every mapping holds a module reference
	 * (fops.owner), so none is left here: these puts free the pools.
	 */
	bufpool_destroy_all();
}

module_init(bufpool_init);
module_exit(bufpool_exit);

MODULE_DESCRIPTION("Pinned hugepage buffer pools shared with userspace");
MODULE_AUTHOR("bufpool developers");
MODULE_LICENSE("GPL");
