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

enum bufpool_number {
	BP_BUF_SIZE, BP_BUF_COUNT, BP_NUMA_NODE, BP_CACHES, BP_MAG_FILL,
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
	struct bufpool_pool *pool = bufpool_dev_to_pool(dev);
	struct bufpool_pool_stats st;
	s64 v;

	if (what >= BP_TOTAL)	/* summed over the caches */
		bufpool_pool_stats(pool, &st);
	switch (what) {
	case BP_BUF_SIZE:
		v = 1U << pool->layout.buf_shift;
		break;
	case BP_BUF_COUNT:
	case BP_TOTAL:
		v = pool->layout.buf_count;
		break;
	case BP_NUMA_NODE:
		v = pool->numa_node;
		break;
	case BP_CACHES:
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
		v = pool->layout.buf_count - st.sum.in_use;
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
BUFPOOL_ATTR(caches, BP_CACHES);
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
	&bufpool_attr_caches.attr.attr,
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

const struct attribute_group *bufpool_sysfs_groups[] = {
	&bufpool_info_group,
	&bufpool_stats_group,
	NULL,
};

