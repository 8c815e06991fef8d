// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool: the sysfs attributes of a pool's device.
 *
 * /sys/class/bufpool/<pool>/info/ (the geometry, as the ioctl gives it)
 * and .../stats/, one number per file, all shown by one routine told
 * which number by its attribute.  bufpoolctl reads them.
 */
#include <linux/device.h>
#include <linux/sysfs.h>

#include "bufpool-private.h"

/* Every number shown; those from BUFPOOL_SYSFS_TOTAL on need a sum. */
enum bufpool_sysfs_number {
	BUFPOOL_SYSFS_BUF_SIZE,
	BUFPOOL_SYSFS_BUF_COUNT,
	BUFPOOL_SYSFS_NUMA_NODE,
	BUFPOOL_SYSFS_CACHES,
	BUFPOOL_SYSFS_MAG_FILL,
	BUFPOOL_SYSFS_GENERATION,
	BUFPOOL_SYSFS_PMD_FAULTS,
	BUFPOOL_SYSFS_PTE_FAULTS,
	BUFPOOL_SYSFS_RECLAIMS,
	BUFPOOL_SYSFS_RECLAIMED,
	BUFPOOL_SYSFS_REPAIRED,
	BUFPOOL_SYSFS_REBUILDS,
	BUFPOOL_SYSFS_DEFERRED,
	BUFPOOL_SYSFS_CLIENTS,
	BUFPOOL_SYSFS_TOTAL,
	BUFPOOL_SYSFS_IN_USE,
	BUFPOOL_SYSFS_FREE,
	BUFPOOL_SYSFS_HIGH_WATERMARK,
	BUFPOOL_SYSFS_ACQUIRES,
	BUFPOOL_SYSFS_RELEASES,
	BUFPOOL_SYSFS_EXHAUSTED,
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
BUFPOOL_SYSFS_ATTR(numa_node, BUFPOOL_SYSFS_NUMA_NODE);
BUFPOOL_SYSFS_ATTR(caches, BUFPOOL_SYSFS_CACHES);
BUFPOOL_SYSFS_ATTR(mag_fill, BUFPOOL_SYSFS_MAG_FILL);
BUFPOOL_SYSFS_ATTR(generation, BUFPOOL_SYSFS_GENERATION);
BUFPOOL_SYSFS_ATTR(pmd_faults, BUFPOOL_SYSFS_PMD_FAULTS);
BUFPOOL_SYSFS_ATTR(pte_faults, BUFPOOL_SYSFS_PTE_FAULTS);
BUFPOOL_SYSFS_ATTR(reclaims, BUFPOOL_SYSFS_RECLAIMS);
BUFPOOL_SYSFS_ATTR(reclaimed, BUFPOOL_SYSFS_RECLAIMED);
BUFPOOL_SYSFS_ATTR(repaired, BUFPOOL_SYSFS_REPAIRED);
BUFPOOL_SYSFS_ATTR(rebuilds, BUFPOOL_SYSFS_REBUILDS);
BUFPOOL_SYSFS_ATTR(deferred, BUFPOOL_SYSFS_DEFERRED);
BUFPOOL_SYSFS_ATTR(clients, BUFPOOL_SYSFS_CLIENTS);
BUFPOOL_SYSFS_ATTR(total, BUFPOOL_SYSFS_TOTAL);
BUFPOOL_SYSFS_ATTR(in_use, BUFPOOL_SYSFS_IN_USE);
BUFPOOL_SYSFS_ATTR(free, BUFPOOL_SYSFS_FREE);
BUFPOOL_SYSFS_ATTR(high_watermark, BUFPOOL_SYSFS_HIGH_WATERMARK);
BUFPOOL_SYSFS_ATTR(acquires, BUFPOOL_SYSFS_ACQUIRES);
BUFPOOL_SYSFS_ATTR(releases, BUFPOOL_SYSFS_RELEASES);
BUFPOOL_SYSFS_ATTR(exhausted, BUFPOOL_SYSFS_EXHAUSTED);

static struct attribute *bufpool_info_attrs[] = {
	&bufpool_sysfs_attr_buf_size.attr.attr,
	&bufpool_sysfs_attr_buf_count.attr.attr,
	&bufpool_sysfs_attr_numa_node.attr.attr,
	&bufpool_sysfs_attr_caches.attr.attr,
	&bufpool_sysfs_attr_mag_fill.attr.attr,
	&bufpool_sysfs_attr_generation.attr.attr,
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
	&bufpool_sysfs_attr_total.attr.attr,
	&bufpool_sysfs_attr_in_use.attr.attr,
	&bufpool_sysfs_attr_free.attr.attr,
	&bufpool_sysfs_attr_high_watermark.attr.attr,
	&bufpool_sysfs_attr_acquires.attr.attr,
	&bufpool_sysfs_attr_releases.attr.attr,
	&bufpool_sysfs_attr_exhausted.attr.attr,
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

