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
 *
 * This file: the module parameters, the pools= parser, and load and
 * unload, which create and remove the pools (pool.c) and their devices
 * (device.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ctype.h>
#include <linux/kstrtox.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/numa.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "bufpool-private.h"

/*
 * The default pool, /dev/bufpool.  The module parameters are its spec,
 * and each pool named in pools= starts from a copy of it.
 */
static struct bufpool_pool_spec bufpool_default_spec = {
	.name = "bufpool",
	.buf_size = 2048,
	.buf_count = 4096,
	.numa_node = NUMA_NO_NODE,
	.caches = 64,
	.mode = 0600,
	.queues = BP_DEFAULT_QUEUES,
	.repair_interval_ms = 10,
};

module_param_named(buf_size, bufpool_default_spec.buf_size, uint, 0444);
MODULE_PARM_DESC(buf_size,
		 "Bytes per buffer: a power of two from 64 to 2097152 (default 2048)");

module_param_named(buf_count, bufpool_default_spec.buf_count, uint, 0444);
MODULE_PARM_DESC(buf_count,
		 "Number of buffers, 1 to 16777215 (default 4096)");

module_param_named(numa_node, bufpool_default_spec.numa_node, int, 0444);
MODULE_PARM_DESC(numa_node,
		 "NUMA node to take the memory from, -1 for any (default -1)");

module_param_named(caches, bufpool_default_spec.caches, uint, 0444);
MODULE_PARM_DESC(caches,
		 "Cache slots, 0 to 4096: threads beyond them use the shared path; 0: 64 slots without magazines (default 64)");

module_param_named(mag_size, bufpool_default_spec.mag_size, uint, 0444);
MODULE_PARM_DESC(mag_size,
		 "Buffers per magazine of a thread's cache, 1 to 1023 and at most buf_count / (4 * caches), so that the caches hold at most half the pool; size it to the bursts (a cache holds two magazines); above 63 only clients of ABI 1.6 or later can use the pool; 0: buf_count / (4 * caches), at most 63 (default 0)");

module_param_named(spread, bufpool_default_spec.spread, bool, 0444);
MODULE_PARM_DESC(spread,
		 "Spread the buffers: each starts a cache line (64 bytes) after the previous one ends, so that the first lines of many buffers do not crowd a few sets of the CPU caches as a power-of-two stride makes them; a buffer may then cross from one 2 MiB page to the next, and only clients of ABI 1.8 or later can use the pool (default n)");

module_param_named(rotate, bufpool_default_spec.rotate, bool, 0444);
MODULE_PARM_DESC(rotate,
		 "Rotate the depot: keep full magazines on two stacks that take turns, so that a magazine comes back about a round of the depot after a thread gave it, where one stack gives back the one given last; for pools whose buffers go from a producer's core to a consumer's; only clients of ABI 1.9 or later can use the pool (default n)");

module_param_named(mode, bufpool_default_spec.mode, uint, 0444);
MODULE_PARM_DESC(mode,
		 "Permission bits of the device node (default 0600)");

module_param_named(uid, bufpool_default_spec.uid, uint, 0444);
MODULE_PARM_DESC(uid, "Owner of the device node (default 0)");

module_param_named(gid, bufpool_default_spec.gid, uint, 0444);
MODULE_PARM_DESC(gid, "Group of the device node (default 0)");

module_param_named(queues, bufpool_default_spec.queues, uint, 0444);
MODULE_PARM_DESC(queues,
		 "Queue descriptors per pool, 0 to 64; 0: no queues (default 8)");

module_param_named(queue_len, bufpool_default_spec.queue_len, uint, 0444);
MODULE_PARM_DESC(queue_len,
		 "Slots per queue: a power of two from 1 to 1048576, 0 for buf_count rounded up to a power of two, at most 65536 (default 0)");

module_param_named(repair_interval_ms, bufpool_default_spec.repair_interval_ms,
		   uint, 0444);
MODULE_PARM_DESC(repair_interval_ms,
		 "Least time in ms from the end of a reconciliation a client asked for (AUDIT, REPAIR) to the start of the next, 0 to 60000; each also waits 100 times the last one's duration (default 10)");

static char *param_queue;
module_param_named(queue, param_queue, charp, 0444);
MODULE_PARM_DESC(queue,
		 "Queues of /dev/bufpool made at load, which stay: NAME/CAPACITY[/sp] joined by + (NAME: 1 to 31 of A-Z, a-z, 0-9, _ . -)");

static char *param_pools;
module_param_named(pools, param_pools, charp, 0444);
MODULE_PARM_DESC(pools,
		 "More pools, /dev/bufpool-NAME each: NAME:key=value,...;NAME:... with keys buf_size, buf_count, numa_node, caches, mag_size, spread, rotate, mode, uid, gid, queues, queue_len, repair_interval_ms (defaults: those of the default pool) and queue (as the queue parameter; none by default)");

static struct bufpool_pool *bufpool_pools[BUFPOOL_NR_MINORS];
static unsigned int bufpool_nr_pools;

/* A pool's name in pools=: 1 to BUFPOOL_NAME_MAX of [a-z0-9_]. */
static bool bufpool_pool_name_ok(const char *name)
{
	size_t i, len = strlen(name);

	if (!len || len > BUFPOOL_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!islower(name[i]) && !isdigit(name[i]) && name[i] != '_')
			return false;
	return true;
}

/*
 * The declared queues of @spec from "NAME/CAPACITY[/sp]+...", into
 * spec->declared[]; their limits are checked with the pool's geometry
 * (bufpool_pool_spec_check()).  Returns 0 or -EINVAL, the reason logged.
 */
static int bufpool_parse_queues(struct bufpool_pool_spec *spec,
				const char *param)
{
	char *buf, *rest, *entry, *name, *cap, *mode;
	struct bufpool_queue_decl *q;
	int err = 0;

	spec->nr_declared = 0;
	if (!param || !*param)
		return 0;
	buf = kstrdup(param, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	rest = buf;
	while (!err && (entry = strsep(&rest, "+")) != NULL) {
		name = strsep(&entry, "/");
		cap = strsep(&entry, "/");
		mode = strsep(&entry, "/");
		if (spec->nr_declared == BUFPOOL_MAX_QUEUES) {
			pr_err("%s: queue: more than %u queues\n", spec->name,
			       BUFPOOL_MAX_QUEUES);
			err = -EINVAL;
			break;
		}
		q = &spec->declared[spec->nr_declared];
		if (!bufpool_queue_name_ok(name, sizeof(q->name))) {
			pr_err("%s: queue: \"%s\": a name is 1 to %u of A-Z, a-z, 0-9, _ . -\n",
			       spec->name, name, BUFPOOL_QUEUE_NAME_MAX - 1);
			err = -EINVAL;
		} else if (!cap || kstrtou32(cap, 0, &q->capacity) || entry ||
			   (mode && strcmp(mode, "sp"))) {
			pr_err("%s: queue %s: not NAME/CAPACITY or NAME/CAPACITY/sp\n",
			       spec->name, name);
			err = -EINVAL;
		} else {
			strscpy_pad(q->name, name, sizeof(q->name));
			q->flags = mode ? BUFPOOL_QUEUE_SP : 0;
			spec->nr_declared++;
		}
	}
	kfree(buf);
	return err;
}

/* One "key=value" of a pool in pools= into @spec; a clear error if not. */
static int bufpool_parse_key_value(struct bufpool_pool_spec *spec,
				   char *pair)
{
	char *key = pair, *val = strchr(pair, '=');
	bool *flag;
	int err;

	if (!val) {
		pr_err("pools: %s: \"%s\" is not key=value\n", spec->name,
		       pair);
		return -EINVAL;
	}
	*val++ = '\0';
	if (!strcmp(key, "queue"))	/* not a number: its own messages */
		return bufpool_parse_queues(spec, val);
	if (!strcmp(key, "spread") || !strcmp(key, "rotate")) {
		flag = !strcmp(key, "spread") ? &spec->spread : &spec->rotate;
		if (!kstrtobool(val, flag))
			return 0;
		pr_err("pools: %s: %s=\"%s\" is not y, n, 1 or 0\n",
		       spec->name, key, val);
		return -EINVAL;
	}
	if (!strcmp(key, "buf_size"))
		err = kstrtou32(val, 0, &spec->buf_size);
	else if (!strcmp(key, "buf_count"))
		err = kstrtou32(val, 0, &spec->buf_count);
	else if (!strcmp(key, "numa_node"))
		err = kstrtoint(val, 0, &spec->numa_node);
	else if (!strcmp(key, "caches"))
		err = kstrtou32(val, 0, &spec->caches);
	else if (!strcmp(key, "mag_size"))
		err = kstrtou32(val, 0, &spec->mag_size);
	else if (!strcmp(key, "mode"))
		err = kstrtouint(val, 8, &spec->mode);
	else if (!strcmp(key, "uid"))
		err = kstrtou32(val, 0, &spec->uid);
	else if (!strcmp(key, "gid"))
		err = kstrtou32(val, 0, &spec->gid);
	else if (!strcmp(key, "queues"))
		err = kstrtou32(val, 0, &spec->queues);
	else if (!strcmp(key, "queue_len"))
		err = kstrtou32(val, 0, &spec->queue_len);
	else if (!strcmp(key, "repair_interval_ms"))
		err = kstrtou32(val, 0, &spec->repair_interval_ms);
	else
		err = -ENOENT;
	if (err == -ENOENT)
		pr_err("pools: %s: unknown key \"%s\"\n", spec->name, key);
	else if (err)
		pr_err("pools: %s: %s=\"%s\" is not a number\n", spec->name,
		       key, val);
	return err ? -EINVAL : 0;
}

/*
 * Parse the pools parameter, "NAME:key=value,...;NAME:...", into
 * specs[], each starting from the default pool's spec and checked.
 * Returns how many, or a negative errno with the reason logged.
 */
static int bufpool_parse_pools(const char *param,
			       struct bufpool_pool_spec *specs, int max)
{
	struct bufpool_pool_spec *spec;
	char *buf, *rest, *entry, *pair, *name;
	int nr = 0, i, err = 0;

	if (!param || !*param)
		return 0;
	buf = kstrdup(param, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	rest = buf;
	while (!err && (entry = strsep(&rest, ";")) != NULL) {
		if (!*entry)
			continue;
		name = strsep(&entry, ":");
		if (!bufpool_pool_name_ok(name)) {
			pr_err("pools: \"%s\": a name is 1 to %d of a-z, 0-9, _\n",
			       name, BUFPOOL_NAME_MAX);
			err = -EINVAL;
			break;
		}
		if (nr == max) {
			pr_err("pools: more than %d pools\n", max);
			err = -EINVAL;
			break;
		}
		spec = &specs[nr];
		*spec = bufpool_default_spec;
		spec->nr_declared = 0;	/* queue= is the default pool's */
		snprintf(spec->name, sizeof(spec->name), "bufpool-%s", name);
		for (i = 0; i < nr; i++)
			if (!strcmp(specs[i].name, spec->name)) {
				pr_err("pools: \"%s\" named twice\n", name);
				err = -EINVAL;
			}
		while (!err && entry && (pair = strsep(&entry, ",")) != NULL)
			if (*pair)
				err = bufpool_parse_key_value(spec, pair);
		if (!err)
			err = bufpool_pool_spec_check(spec);
		nr++;
	}
	kfree(buf);
	return err ? err : nr;
}

/* Create a pool and its device, /dev/NAME at minor @minor. */
static int bufpool_add_pool(const struct bufpool_pool_spec *spec,
			    unsigned int minor)
{
	struct bufpool_pool *pool;
	int err;

	pool = bufpool_pool_create(spec);
	if (IS_ERR(pool))
		return PTR_ERR(pool);
	err = bufpool_device_add(pool, minor);
	if (err) {
		bufpool_pool_put(pool);
		return err;
	}
	bufpool_pools[bufpool_nr_pools++] = pool;
	pr_info("/dev/%s: %u buffers of %u B, %u B apart, in %u x 2 MiB chunks, node %d\n",
		pool->name, pool->layout.buf_count,
		1U << pool->layout.buf_shift, pool->layout.buf_stride,
		pool->nr_chunks, pool->numa_node);
	return 0;
}

/*
 * Remove every pool's device and drop the module's reference on each,
 * then give back the class and the device numbers: the one teardown, on
 * a failed load and at unload.
 */
static void bufpool_remove_pools(void)
{
	while (bufpool_nr_pools) {
		struct bufpool_pool *pool = bufpool_pools[--bufpool_nr_pools];

		bufpool_device_del(pool);
		bufpool_pool_put(pool);
	}
	bufpool_devices_exit();
}

static int __init bufpool_init(void)
{
	struct bufpool_pool_spec *specs;
	int nr_named, i, err;

	/* The default pool first, then those of pools=, by minor. */
	specs = kcalloc(BUFPOOL_NR_MINORS, sizeof(*specs), GFP_KERNEL);
	if (!specs)
		return -ENOMEM;
	/* Check every pool's spec before taking any memory. */
	specs[0] = bufpool_default_spec;
	err = bufpool_parse_queues(&specs[0], param_queue);
	if (!err)
		err = bufpool_pool_spec_check(&specs[0]);
	nr_named = err ? err : bufpool_parse_pools(param_pools, specs + 1,
						   BUFPOOL_MAX_POOLS);
	if (nr_named < 0) {
		kfree(specs);
		return nr_named;
	}

	err = bufpool_devices_init();
	if (err)
		goto out;
	for (i = 0; i <= nr_named; i++) {
		err = bufpool_add_pool(&specs[i], i);
		if (err) {
			bufpool_remove_pools();
			goto out;
		}
	}
out:
	kfree(specs);
	return err;
}

static void __exit bufpool_exit(void)
{
	/*
	 * Every open file and every mapping holds a module reference
	 * (fops.owner), so none is left here: these puts free the pools.
	 */
	bufpool_remove_pools();
}

module_init(bufpool_init);
module_exit(bufpool_exit);

MODULE_DESCRIPTION("Pinned hugepage buffer pools shared with userspace");
MODULE_AUTHOR("bufpool developers");
MODULE_LICENSE("GPL");
