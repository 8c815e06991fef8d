// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool: the sysfs attributes of a pool's device.
 *
 * /sys/class/bufpool/<pool>/info/ (the geometry, as the ioctl gives it)
 * and .../stats/, one number per file, all shown by one routine told
 * which number by its attribute; and .../queues/<k>/ for each queue
 * descriptor k, one value per file, made with the device and removed
 * before it.  bufpoolctl reads them.
 */
#include <linux/device.h>
#include <linux/kobject.h>
#include <linux/math64.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

#include "bufpool-private.h"

/* Every number shown; those from BUFPOOL_SYSFS_TOTAL on need a sum. */
enum bufpool_sysfs_number {
	BUFPOOL_SYSFS_BUF_SIZE,
	BUFPOOL_SYSFS_BUF_COUNT,
	BUFPOOL_SYSFS_BUF_STRIDE,
	BUFPOOL_SYSFS_DEPOT_FLAGS,
	BUFPOOL_SYSFS_NUMA_NODE,
	BUFPOOL_SYSFS_CACHES,
	BUFPOOL_SYSFS_MAG_FILL,
	BUFPOOL_SYSFS_GENERATION,
	BUFPOOL_SYSFS_QUEUES,
	BUFPOOL_SYSFS_QUEUE_LEN,
	BUFPOOL_SYSFS_PMD_FAULTS,
	BUFPOOL_SYSFS_PTE_FAULTS,
	BUFPOOL_SYSFS_RECLAIMS,
	BUFPOOL_SYSFS_RECLAIMED,
	BUFPOOL_SYSFS_REPAIRED,
	BUFPOOL_SYSFS_REBUILDS,
	BUFPOOL_SYSFS_DEFERRED,
	BUFPOOL_SYSFS_CLIENTS,
	BUFPOOL_SYSFS_REPAIR_REQUESTS,
	BUFPOOL_SYSFS_REPAIRS,
	BUFPOOL_SYSFS_REPAIR_WAITS,
	BUFPOOL_SYSFS_REPAIR_STOPPED_US,
	BUFPOOL_SYSFS_UNSETTLED,
	BUFPOOL_SYSFS_SETTLE_PASSES,
	BUFPOOL_SYSFS_TOTAL,
	BUFPOOL_SYSFS_IN_USE,
	BUFPOOL_SYSFS_FREE,
	BUFPOOL_SYSFS_HIGH_WATERMARK,
	BUFPOOL_SYSFS_ACQUIRES,
	BUFPOOL_SYSFS_RELEASES,
	BUFPOOL_SYSFS_EXHAUSTED,
	BUFPOOL_SYSFS_SHARED_ACQUIRES,
	BUFPOOL_SYSFS_SHARED_RELEASES,
};

/* An attribute of either group, and which number it shows. */
struct bufpool_sysfs_attr {
	struct device_attribute attr;
	enum bufpool_sysfs_number number;
};

static ssize_t bufpool_sysfs_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	enum bufpool_sysfs_number number =
		container_of(attr, struct bufpool_sysfs_attr, attr)->number;
	struct bufpool_pool *pool = bufpool_dev_to_pool(dev);
	struct bufpool_pool_stats stats;
	s64 value;

	if (number >= BUFPOOL_SYSFS_TOTAL)	/* summed over the caches */
		bufpool_pool_stats(pool, &stats);
	switch (number) {
	case BUFPOOL_SYSFS_BUF_SIZE:
		value = 1U << pool->layout.buf_shift;
		break;
	case BUFPOOL_SYSFS_BUF_STRIDE:
		value = pool->layout.buf_stride;
		break;
	case BUFPOOL_SYSFS_DEPOT_FLAGS:
		value = pool->layout.depot_flags;
		break;
	case BUFPOOL_SYSFS_BUF_COUNT:
	case BUFPOOL_SYSFS_TOTAL:
		value = pool->layout.buf_count;
		break;
	case BUFPOOL_SYSFS_NUMA_NODE:
		value = pool->numa_node;
		break;
	case BUFPOOL_SYSFS_CACHES:
		value = pool->layout.nr_caches;
		break;
	case BUFPOOL_SYSFS_MAG_FILL:
		value = pool->layout.mag_fill;
		break;
	case BUFPOOL_SYSFS_GENERATION:
		value = READ_ONCE(pool->generation);
		break;
	case BUFPOOL_SYSFS_QUEUES:
		value = pool->layout.nr_queues;
		break;
	case BUFPOOL_SYSFS_QUEUE_LEN:
		value = pool->layout.queue_len;
		break;
	case BUFPOOL_SYSFS_PMD_FAULTS:
		value = atomic_long_read(&pool->pmd_faults);
		break;
	case BUFPOOL_SYSFS_PTE_FAULTS:
		value = atomic_long_read(&pool->pte_faults);
		break;
	case BUFPOOL_SYSFS_RECLAIMS:
		value = atomic_long_read(&pool->reclaims);
		break;
	case BUFPOOL_SYSFS_RECLAIMED:
		value = atomic_long_read(&pool->reclaimed);
		break;
	case BUFPOOL_SYSFS_REPAIRED:
		value = atomic_long_read(&pool->repaired);
		break;
	case BUFPOOL_SYSFS_REBUILDS:
		value = atomic_long_read(&pool->rebuilds);
		break;
	case BUFPOOL_SYSFS_DEFERRED:
		value = atomic_long_read(&pool->deferred);
		break;
	case BUFPOOL_SYSFS_CLIENTS:
		value = READ_ONCE(pool->nr_clients);
		break;
	case BUFPOOL_SYSFS_REPAIR_REQUESTS:
		value = atomic_long_read(&pool->repair_requests);
		break;
	case BUFPOOL_SYSFS_REPAIRS:
		value = atomic_long_read(&pool->repairs);
		break;
	case BUFPOOL_SYSFS_REPAIR_WAITS:
		value = atomic_long_read(&pool->repair_waits);
		break;
	case BUFPOOL_SYSFS_REPAIR_STOPPED_US:
		value = div_u64(atomic64_read(&pool->repair_stopped_ns),
				NSEC_PER_USEC);
		break;
	case BUFPOOL_SYSFS_UNSETTLED:
		value = READ_ONCE(pool->unsettled);
		break;
	case BUFPOOL_SYSFS_SETTLE_PASSES:
		value = atomic_long_read(&pool->settle_passes);
		break;
	case BUFPOOL_SYSFS_IN_USE:
		value = stats.sum.in_use;
		break;
	case BUFPOOL_SYSFS_FREE:
		value = pool->layout.buf_count - stats.sum.in_use;
		break;
	case BUFPOOL_SYSFS_HIGH_WATERMARK:
		value = stats.high_watermark;
		break;
	case BUFPOOL_SYSFS_ACQUIRES:
		value = stats.sum.acquires;
		break;
	case BUFPOOL_SYSFS_RELEASES:
		value = stats.sum.releases;
		break;
	case BUFPOOL_SYSFS_SHARED_ACQUIRES:
		value = stats.sum.shared_acquires;
		break;
	case BUFPOOL_SYSFS_SHARED_RELEASES:
		value = stats.sum.shared_releases;
		break;
	case BUFPOOL_SYSFS_EXHAUSTED:
	default:
		value = stats.sum.exhausted;
		break;
	}
	return sysfs_emit(buf, "%lld\n", value);
}

#define BUFPOOL_SYSFS_ATTR(_name, _number)				\
	static struct bufpool_sysfs_attr bufpool_sysfs_attr_##_name = {	\
		.attr = __ATTR(_name, 0444, bufpool_sysfs_show, NULL),	\
		.number = (_number),					\
	}

BUFPOOL_SYSFS_ATTR(buf_size, BUFPOOL_SYSFS_BUF_SIZE);
BUFPOOL_SYSFS_ATTR(buf_count, BUFPOOL_SYSFS_BUF_COUNT);
BUFPOOL_SYSFS_ATTR(buf_stride, BUFPOOL_SYSFS_BUF_STRIDE);
BUFPOOL_SYSFS_ATTR(depot_flags, BUFPOOL_SYSFS_DEPOT_FLAGS);
BUFPOOL_SYSFS_ATTR(numa_node, BUFPOOL_SYSFS_NUMA_NODE);
BUFPOOL_SYSFS_ATTR(caches, BUFPOOL_SYSFS_CACHES);
BUFPOOL_SYSFS_ATTR(mag_fill, BUFPOOL_SYSFS_MAG_FILL);
BUFPOOL_SYSFS_ATTR(generation, BUFPOOL_SYSFS_GENERATION);
BUFPOOL_SYSFS_ATTR(queues, BUFPOOL_SYSFS_QUEUES);
BUFPOOL_SYSFS_ATTR(queue_len, BUFPOOL_SYSFS_QUEUE_LEN);
BUFPOOL_SYSFS_ATTR(pmd_faults, BUFPOOL_SYSFS_PMD_FAULTS);
BUFPOOL_SYSFS_ATTR(pte_faults, BUFPOOL_SYSFS_PTE_FAULTS);
BUFPOOL_SYSFS_ATTR(reclaims, BUFPOOL_SYSFS_RECLAIMS);
BUFPOOL_SYSFS_ATTR(reclaimed, BUFPOOL_SYSFS_RECLAIMED);
BUFPOOL_SYSFS_ATTR(repaired, BUFPOOL_SYSFS_REPAIRED);
BUFPOOL_SYSFS_ATTR(rebuilds, BUFPOOL_SYSFS_REBUILDS);
BUFPOOL_SYSFS_ATTR(deferred, BUFPOOL_SYSFS_DEFERRED);
BUFPOOL_SYSFS_ATTR(clients, BUFPOOL_SYSFS_CLIENTS);
BUFPOOL_SYSFS_ATTR(repair_requests, BUFPOOL_SYSFS_REPAIR_REQUESTS);
BUFPOOL_SYSFS_ATTR(repairs, BUFPOOL_SYSFS_REPAIRS);
BUFPOOL_SYSFS_ATTR(repair_waits, BUFPOOL_SYSFS_REPAIR_WAITS);
BUFPOOL_SYSFS_ATTR(repair_stopped_us, BUFPOOL_SYSFS_REPAIR_STOPPED_US);
BUFPOOL_SYSFS_ATTR(unsettled, BUFPOOL_SYSFS_UNSETTLED);
BUFPOOL_SYSFS_ATTR(settle_passes, BUFPOOL_SYSFS_SETTLE_PASSES);
BUFPOOL_SYSFS_ATTR(total, BUFPOOL_SYSFS_TOTAL);
BUFPOOL_SYSFS_ATTR(in_use, BUFPOOL_SYSFS_IN_USE);
BUFPOOL_SYSFS_ATTR(free, BUFPOOL_SYSFS_FREE);
BUFPOOL_SYSFS_ATTR(high_watermark, BUFPOOL_SYSFS_HIGH_WATERMARK);
BUFPOOL_SYSFS_ATTR(acquires, BUFPOOL_SYSFS_ACQUIRES);
BUFPOOL_SYSFS_ATTR(releases, BUFPOOL_SYSFS_RELEASES);
BUFPOOL_SYSFS_ATTR(exhausted, BUFPOOL_SYSFS_EXHAUSTED);
BUFPOOL_SYSFS_ATTR(shared_acquires, BUFPOOL_SYSFS_SHARED_ACQUIRES);
BUFPOOL_SYSFS_ATTR(shared_releases, BUFPOOL_SYSFS_SHARED_RELEASES);

static struct attribute *bufpool_info_attrs[] = {
	&bufpool_sysfs_attr_buf_size.attr.attr,
	&bufpool_sysfs_attr_buf_count.attr.attr,
	&bufpool_sysfs_attr_buf_stride.attr.attr,
	&bufpool_sysfs_attr_depot_flags.attr.attr,
	&bufpool_sysfs_attr_numa_node.attr.attr,
	&bufpool_sysfs_attr_caches.attr.attr,
	&bufpool_sysfs_attr_mag_fill.attr.attr,
	&bufpool_sysfs_attr_generation.attr.attr,
	&bufpool_sysfs_attr_queues.attr.attr,
	&bufpool_sysfs_attr_queue_len.attr.attr,
	NULL,
};

static const struct attribute_group bufpool_info_group = {
	.name = "info",
	.attrs = bufpool_info_attrs,
};

static struct attribute *bufpool_stats_attrs[] = {
	&bufpool_sysfs_attr_pmd_faults.attr.attr,
	&bufpool_sysfs_attr_pte_faults.attr.attr,
	&bufpool_sysfs_attr_reclaims.attr.attr,
	&bufpool_sysfs_attr_reclaimed.attr.attr,
	&bufpool_sysfs_attr_repaired.attr.attr,
	&bufpool_sysfs_attr_rebuilds.attr.attr,
	&bufpool_sysfs_attr_deferred.attr.attr,
	&bufpool_sysfs_attr_clients.attr.attr,
	&bufpool_sysfs_attr_repair_requests.attr.attr,
	&bufpool_sysfs_attr_repairs.attr.attr,
	&bufpool_sysfs_attr_repair_waits.attr.attr,
	&bufpool_sysfs_attr_repair_stopped_us.attr.attr,
	&bufpool_sysfs_attr_unsettled.attr.attr,
	&bufpool_sysfs_attr_settle_passes.attr.attr,
	&bufpool_sysfs_attr_total.attr.attr,
	&bufpool_sysfs_attr_in_use.attr.attr,
	&bufpool_sysfs_attr_free.attr.attr,
	&bufpool_sysfs_attr_high_watermark.attr.attr,
	&bufpool_sysfs_attr_acquires.attr.attr,
	&bufpool_sysfs_attr_releases.attr.attr,
	&bufpool_sysfs_attr_exhausted.attr.attr,
	&bufpool_sysfs_attr_shared_acquires.attr.attr,
	&bufpool_sysfs_attr_shared_releases.attr.attr,
	NULL,
};

static const struct attribute_group bufpool_stats_group = {
	.name = "stats",
	.attrs = bufpool_stats_attrs,
};

const struct attribute_group *bufpool_sysfs_groups[] = {
	&bufpool_info_group,
	&bufpool_stats_group,
	NULL,
};

/* What a file of queues/<k>/ shows. */
enum bufpool_queue_number {
	BUFPOOL_QSYSFS_NAME,
	BUFPOOL_QSYSFS_CAPACITY,
	BUFPOOL_QSYSFS_DEPTH,
	BUFPOOL_QSYSFS_ENQUEUED,
	BUFPOOL_QSYSFS_DEQUEUED,
	BUFPOOL_QSYSFS_FULL,
	BUFPOOL_QSYSFS_HIGH_WATERMARK,
	BUFPOOL_QSYSFS_CONSUMER,
	BUFPOOL_QSYSFS_USERS,
	BUFPOOL_QSYSFS_FLAGS,
};

struct bufpool_queue_attr {
	struct kobj_attribute attr;
	enum bufpool_queue_number number;
};

/*
 * The kernel's copy says what the queue is (under the pool's lock); the
 * counters are the shared descriptor's, read once each: informational,
 * whatever a client wrote there.
 */
static ssize_t bufpool_queue_show(struct kobject *kobj,
				  struct kobj_attribute *attr, char *buf)
{
	enum bufpool_queue_number number =
		container_of(attr, struct bufpool_queue_attr, attr)->number;
	struct bufpool_queue_kobj *qk =
		container_of(kobj, struct bufpool_queue_kobj, kobj);
	struct bufpool_pool *pool = qk->pool;
	struct bufpool_qdesc *d;
	struct bufpool_kqueue kq;
	u64 value, head;

	mutex_lock(&pool->lock);
	kq = pool->queues[qk->k];
	mutex_unlock(&pool->lock);
	if (number == BUFPOOL_QSYSFS_NAME)
		return sysfs_emit(buf, "%s\n", kq.name);

	d = (struct bufpool_qdesc *)((char *)pool->ctrl +
				     pool->layout.queues_offset) + qk->k;
	switch (number) {
	case BUFPOOL_QSYSFS_CAPACITY:
		value = kq.capacity;
		break;
	case BUFPOOL_QSYSFS_DEPTH:
		value = READ_ONCE(d->tail);
		head = READ_ONCE(d->head);
		if ((s64)(value - head) <= 0 ||
		    kq.state != BUFPOOL_QSTATE_LIVE)
			value = 0;
		else
			value = min_t(u64, value - head, kq.capacity);
		break;
	case BUFPOOL_QSYSFS_ENQUEUED:
		value = READ_ONCE(d->tail);
		break;
	case BUFPOOL_QSYSFS_DEQUEUED:
		value = READ_ONCE(d->head);
		break;
	case BUFPOOL_QSYSFS_FULL:
		value = READ_ONCE(d->full);
		break;
	case BUFPOOL_QSYSFS_HIGH_WATERMARK:
		value = READ_ONCE(d->high_watermark);
		break;
	case BUFPOOL_QSYSFS_CONSUMER:
		value = kq.consumer;
		break;
	case BUFPOOL_QSYSFS_USERS:
		value = kq.users;
		break;
	case BUFPOOL_QSYSFS_FLAGS:
	default:
		value = kq.flags;
		break;
	}
	return sysfs_emit(buf, "%llu\n", value);
}

#define BUFPOOL_QUEUE_ATTR(_name, _number)				\
	static struct bufpool_queue_attr bufpool_queue_attr_##_name = {	\
		.attr = __ATTR(_name, 0444, bufpool_queue_show, NULL),	\
		.number = (_number),					\
	}

BUFPOOL_QUEUE_ATTR(name, BUFPOOL_QSYSFS_NAME);
BUFPOOL_QUEUE_ATTR(capacity, BUFPOOL_QSYSFS_CAPACITY);
BUFPOOL_QUEUE_ATTR(depth, BUFPOOL_QSYSFS_DEPTH);
BUFPOOL_QUEUE_ATTR(enqueued, BUFPOOL_QSYSFS_ENQUEUED);
BUFPOOL_QUEUE_ATTR(dequeued, BUFPOOL_QSYSFS_DEQUEUED);
BUFPOOL_QUEUE_ATTR(full, BUFPOOL_QSYSFS_FULL);
BUFPOOL_QUEUE_ATTR(high_watermark, BUFPOOL_QSYSFS_HIGH_WATERMARK);
BUFPOOL_QUEUE_ATTR(consumer, BUFPOOL_QSYSFS_CONSUMER);
BUFPOOL_QUEUE_ATTR(users, BUFPOOL_QSYSFS_USERS);
BUFPOOL_QUEUE_ATTR(flags, BUFPOOL_QSYSFS_FLAGS);

static struct attribute *bufpool_queue_attrs[] = {
	&bufpool_queue_attr_name.attr.attr,
	&bufpool_queue_attr_capacity.attr.attr,
	&bufpool_queue_attr_depth.attr.attr,
	&bufpool_queue_attr_enqueued.attr.attr,
	&bufpool_queue_attr_dequeued.attr.attr,
	&bufpool_queue_attr_full.attr.attr,
	&bufpool_queue_attr_high_watermark.attr.attr,
	&bufpool_queue_attr_consumer.attr.attr,
	&bufpool_queue_attr_users.attr.attr,
	&bufpool_queue_attr_flags.attr.attr,
	NULL,
};
ATTRIBUTE_GROUPS(bufpool_queue);

/* A queue directory holds a pool reference: the last put drops it. */
static void bufpool_queue_kobj_release(struct kobject *kobj)
{
	struct bufpool_queue_kobj *qk =
		container_of(kobj, struct bufpool_queue_kobj, kobj);

	bufpool_pool_put(qk->pool);
	kfree(qk);
}

static const struct kobj_type bufpool_queue_ktype = {
	.release = bufpool_queue_kobj_release,
	.sysfs_ops = &kobj_sysfs_ops,
	.default_groups = bufpool_queue_groups,
};

/**
 * bufpool_sysfs_queues_add - queues/<k>/ for every queue descriptor
 * @pool: a pool whose device was just added
 *
 * Return: 0, or a negative errno with nothing left behind.
 */
int bufpool_sysfs_queues_add(struct bufpool_pool *pool)
{
	struct bufpool_queue_kobj *qk;
	u32 k, n = pool->layout.nr_queues;
	int err;

	if (!n)
		return 0;
	pool->queue_kobjs = kcalloc(n, sizeof(*pool->queue_kobjs), GFP_KERNEL);
	if (!pool->queue_kobjs)
		return -ENOMEM;
	pool->queues_kobj = kobject_create_and_add("queues", &pool->dev.kobj);
	if (!pool->queues_kobj) {
		err = -ENOMEM;
		goto fail;
	}
	for (k = 0; k < n; k++) {
		qk = kzalloc(sizeof(*qk), GFP_KERNEL);
		if (!qk) {
			err = -ENOMEM;
			goto fail;
		}
		bufpool_pool_get(pool);
		qk->pool = pool;
		qk->k = k;
		err = kobject_init_and_add(&qk->kobj, &bufpool_queue_ktype,
					   pool->queues_kobj, "%u", k);
		if (err) {
			kobject_put(&qk->kobj);
			goto fail;
		}
		pool->queue_kobjs[k] = qk;
	}
	return 0;
fail:
	bufpool_sysfs_queues_del(pool);
	return err;
}

/**
 * bufpool_sysfs_queues_del - remove what bufpool_sysfs_queues_add() made
 * @pool: the pool
 *
 * After it no show runs, and each directory's last put drops its pool
 * reference.
 */
void bufpool_sysfs_queues_del(struct bufpool_pool *pool)
{
	u32 k;

	if (pool->queue_kobjs) {
		for (k = 0; k < pool->layout.nr_queues; k++) {
			if (!pool->queue_kobjs[k])
				continue;
			kobject_del(&pool->queue_kobjs[k]->kobj);
			kobject_put(&pool->queue_kobjs[k]->kobj);
		}
		kfree(pool->queue_kobjs);
		pool->queue_kobjs = NULL;
	}
	kobject_put(pool->queues_kobj);
	pool->queues_kobj = NULL;
}
