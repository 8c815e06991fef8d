/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bufpool: the kernel module's private definitions, shared by its files
 * and by nothing else (the ABI is uapi/linux/bufpool.h).
 */
#ifndef BUFPOOL_PRIVATE_H
#define BUFPOOL_PRIVATE_H

#include <linux/atomic.h>
#include <linux/bitops.h>
#include <linux/bits.h>
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/kobject.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <linux/bufpool.h>
#include <bufpool/reconcile.h>
#include <bufpool/stats.h>

#include "compat.h"

#define BUFPOOL_CHUNK_ORDER	(PMD_SHIFT - PAGE_SHIFT)
#define BUFPOOL_CHUNK_PAGES	BIT(BUFPOOL_CHUNK_ORDER)

/* Limit of the repair_interval_ms module parameter (and pools= key). */
#define BUFPOOL_MAX_REPAIR_INTERVAL_MS	60000

/* Pools named at load: /dev/bufpool-NAME, NAME of [a-z0-9_]. */
#define BUFPOOL_MAX_POOLS	16
#define BUFPOOL_NR_MINORS	(BUFPOOL_MAX_POOLS + 1)	/* and /dev/bufpool */
#define BUFPOOL_NAME_MAX	24
#define BUFPOOL_DEV_NAME_MAX	(sizeof("bufpool-") + BUFPOOL_NAME_MAX)

/*
 * What a pool is asked to be at load: the module parameters for
 * /dev/bufpool, an entry of pools= for the others.
 */
struct bufpool_pool_spec {
	char name[BUFPOOL_DEV_NAME_MAX];	/* device name */
	u32 buf_size;
	u32 buf_count;
	int numa_node;
	unsigned int mode;	/* checked before it becomes a umode_t */
	u32 caches;
	u32 mag_size;		/* buffers per magazine; 0: the default */
	bool spread;		/* ABI 1.8: buffers a cache line apart */
	bool rotate;		/* ABI 1.9: BUFPOOL_DEPOT_ROTATE */
	u32 uid;		/* owner and group of the device node */
	u32 gid;
	u32 queues;		/* queue descriptors */
	u32 queue_len;		/* slots per queue; 0: by buf_count */
	u32 nr_declared;	/* queues declared at load, in declared[] */
	u32 repair_interval_ms;	/* least gap between asked reconciliations */
	struct bufpool_queue_decl {
		char name[BUFPOOL_QUEUE_NAME_MAX];
		u32 capacity;
		u32 flags;	/* BUFPOOL_QUEUE_SP */
	} declared[BUFPOOL_MAX_QUEUES];
};

/**
 * struct bufpool_kqueue - the kernel's own, authoritative copy of a queue
 * descriptor (the shared one's info line is written from it, for
 * information, and never read back)
 * @name:	the queue's name, empty when free
 * @state:	BUFPOOL_QSTATE_FREE or _LIVE
 * @flags:	BUFPOOL_QUEUE_SP, _DECLARED
 * @capacity:	slots used, a power of two <= queue_len
 * @users:	clients that have it open
 * @consumer:	client holding the consumer role, 0 none
 * @producer:	SP: client holding the producer role, 0 none
 * @drain:	its last user went: give back what it holds at the next
 *		reconciliation
 * @generation:	bumped each time a queue is made here
 */
struct bufpool_kqueue {
	char name[BUFPOOL_QUEUE_NAME_MAX];
	u32 state;
	u32 flags;
	u32 capacity;
	u32 users;
	u32 consumer;
	u32 producer;
	bool drain;
	u64 generation;
};

/* A queue's sysfs directory, queues/<k>/ of the pool's device. */
struct bufpool_queue_kobj {
	struct kobject kobj;
	struct bufpool_pool *pool;
	u32 k;
};

/**
 * struct bufpool_pool - one pool and its device node
 * @ref:	one for the module, one for its device, one per open file;
 *		the last put frees
 * @cdev:	the pool's character device
 * @dev:	its device: /dev/NAME, /sys/class/bufpool/NAME
 * @mode:	permission bits of the node
 * @uid:	owner of the node
 * @gid:	group of the node
 * @name:	device name
 * @numa_node:	node the chunks were taken from, or NUMA_NO_NODE
 * @nr_chunks:	number of PMD-sized compound pages backing the buffers
 * @chunks:	their head pages; the pool holds one reference on each
 * @ctrl:	the shared control area (vmalloc_user memory)
 * @layout:	the geometry (buf_shift, buf_count, nr_caches...) and where
 *		everything is, as bp_layout_compute() placed it: the one
 *		copy of each size and offset
 * @bufs_pgoff:	page offset of the buffer area in the mmap space
 * @generation:	reported to userspace; changes when the pool is rebuilt
 * @pmd_faults:	faults in the buffer area mapped with one PMD (2 MiB)
 * @pte_faults:	faults in the buffer area mapped with one PTE (4 KiB)
 * @inode:	anonymous inode whose mapping every open file of the pool
 *		uses, so that one unmap_mapping_range() reaches every
 *		mapping of the control area, whatever node was opened
 * @lock:	serialises clients coming and going, and reconciliation
 * @live:	bitmap of live client ids (1..BUFPOOL_CLIENT_MAX)
 * @last_id:	last client id given, to cycle through ids
 * @nr_clients:	open files
 * @nr_legacy:	open files that mapped the pool without BUFPOOL_IOC_ATTACH
 * @recon:	scratch bitmaps for reconciliation, allocated at load
 * @reclaims:	reconciliations after a client was gone
 * @reclaimed:	buffers given back that nobody held
 * @repaired:	corrupt entries cut or dropped
 * @rebuilds:	rebuilds from scratch at last close
 * @deferred:	reconciliations skipped because a legacy client maps the pool
 * @waitq:	clients sleeping in BUFPOOL_IOC_WAIT for a release
 * @queues:	the kernel's copy of each queue descriptor (under @lock)
 * @rqueues:	scratch: the queues as reconciliation walks them
 * @queues_kobj: the device's queues/ directory
 * @queue_kobjs: queues/<k>/, one per descriptor
 * @repair_interval_ms: least time from the end of a client-asked
 *		reconciliation (AUDIT, REPAIR) to the start of the next
 * @repair_work: runs the reconciliation BUFPOOL_REPAIR_ASYNC asked for,
 *		when the rate limit allows; cancelled before the pool is freed
 * @asked_end:	when the last client-asked reconciliation ended (under @lock)
 * @asked_ns:	how long it stopped the pool (under @lock)
 * @async_seq:	@repairs when the last ASYNC request came (under @lock): the
 *		work skips its run when one ran since
 * @asked_audit: the report of the last client-asked reconciliation, for
 *		the AUDIT callers that it served (under @lock)
 * @repair_requests: BUFPOOL_IOC_REPAIR calls
 * @repairs:	client-asked reconciliations run (changes under @lock only)
 * @repair_waits: calls that waited, ASYNC requests deferred, by the limit
 * @repair_stopped_ns: time the pool was stopped by those reconciliations
 * @settle_owed: a pass left unnamed buffers or magazines for later, with
 *		a live client busy on the shared path: @repair_work runs
 *		follow-up passes until one leaves nothing (under @lock)
 * @settle_delay_ms: the wait before the next follow-up, doubled after
 *		each that still finds a live client busy (under @lock)
 * @settle_due:	when the next follow-up may run (under @lock)
 * @unsettled:	what the last reconciliation left unnamed, for later
 * @settle_passes: follow-up passes run
 */
struct bufpool_pool {
	refcount_t ref;
	struct cdev cdev;
	struct device dev;
	umode_t mode;
	kuid_t uid;
	kgid_t gid;
	char name[BUFPOOL_DEV_NAME_MAX];
	int numa_node;
	unsigned int nr_chunks;
	struct page **chunks;
	struct bufpool_ctrl *ctrl;
	struct bp_layout layout;
	pgoff_t bufs_pgoff;
	u64 generation;
	atomic_long_t pmd_faults;
	atomic_long_t pte_faults;
	struct inode *inode;
	struct mutex lock;	/* clients, reconciliation */
	u64 *live;
	u32 last_id;
	u32 nr_clients;
	u32 nr_legacy;
	struct bp_recon recon;
	atomic_long_t reclaims;
	atomic_long_t reclaimed;
	atomic_long_t repaired;
	atomic_long_t rebuilds;
	atomic_long_t deferred;
	wait_queue_head_t waitq;
	struct bufpool_kqueue *queues;
	struct bp_recon_queue *rqueues;
	struct kobject *queues_kobj;
	struct bufpool_queue_kobj **queue_kobjs;
	u32 repair_interval_ms;
	struct delayed_work repair_work;
	ktime_t asked_end;
	u64 asked_ns;
	long async_seq;
	struct bufpool_audit asked_audit;
	atomic_long_t repair_requests;
	atomic_long_t repairs;
	atomic_long_t repair_waits;
	atomic64_t repair_stopped_ns;
	bool settle_owed;
	u32 settle_delay_ms;
	ktime_t settle_due;
	u32 unsettled;
	atomic_long_t settle_passes;
};

/**
 * struct bufpool_client - one open file of a pool
 * @pool:	the pool
 * @id:		client id, as own[] and the caches record it
 * @attached:	said BUFPOOL_IOC_ATTACH: keeps ABI 1.2 ownership records
 * @legacy:	mapped the pool without attaching (counted in nr_legacy)
 * @queues:	the queues it has open, by descriptor (under pool->lock)
 */
struct bufpool_client {
	struct bufpool_pool *pool;
	u32 id;
	bool attached;
	bool legacy;
	DECLARE_BITMAP(queues, BUFPOOL_MAX_QUEUES);
};

/* Pages of the control area, from page offset 0 of the mmap space. */
static inline pgoff_t bufpool_ctrl_pages(const struct bufpool_pool *pool)
{
	return pool->layout.ctrl_size >> PAGE_SHIFT;
}

/* Pages of the buffer area, from page offset bufs_pgoff. */
static inline pgoff_t bufpool_bufs_pages(const struct bufpool_pool *pool)
{
	return (pgoff_t)pool->nr_chunks << BUFPOOL_CHUNK_ORDER;
}

/* Words of the reconciliation bitmaps, all in one allocation. */
static inline size_t bufpool_recon_words(const struct bufpool_pool *pool)
{
	return 4 * BITS_TO_U64(pool->layout.buf_count) +
	       2 * BITS_TO_U64(pool->layout.nr_mags) + 1;
}

/* The pool whose device @dev is. */
static inline struct bufpool_pool *bufpool_dev_to_pool(struct device *dev)
{
	return container_of(dev, struct bufpool_pool, dev);
}

/* device.c */
int bufpool_devices_init(void);
void bufpool_devices_exit(void);
int bufpool_device_add(struct bufpool_pool *pool, unsigned int minor);
void bufpool_device_del(struct bufpool_pool *pool);

/* sysfs.c */
extern const struct attribute_group *bufpool_sysfs_groups[];
int bufpool_sysfs_queues_add(struct bufpool_pool *pool);
void bufpool_sysfs_queues_del(struct bufpool_pool *pool);

/* pool.c */
int bufpool_pool_spec_check(const struct bufpool_pool_spec *spec);
struct bufpool_pool *bufpool_pool_create(const struct bufpool_pool_spec *spec);
void bufpool_pool_get(struct bufpool_pool *pool);
void bufpool_pool_put(struct bufpool_pool *pool);
struct page *bufpool_pool_page(struct bufpool_pool *pool, pgoff_t pgoff);

/* client.c */
/* What bufpool_pool_stats() reads: sums over the caches, and the peak. */
struct bufpool_pool_stats {
	struct bp_stats sum;
	u64 high_watermark;
};

void bufpool_pool_stats(struct bufpool_pool *pool,
			struct bufpool_pool_stats *stats);
struct bufpool_client *bufpool_client_open(struct bufpool_pool *pool);
void bufpool_client_close(struct bufpool_client *client);
void bufpool_client_mapped(struct bufpool_client *client);
int bufpool_client_attach(struct bufpool_client *client, u32 abi);
int bufpool_pool_audit(struct bufpool_pool *pool, struct bufpool_audit *out);
int bufpool_pool_repair(struct bufpool_pool *pool, u32 flags);
void bufpool_repair_work(struct work_struct *work);

/* client.c: the caller holds pool->lock */
/* Why a reconciliation runs. */
enum bufpool_recon_why {
	BUFPOOL_RECON_GONE,	/* a client is gone */
	BUFPOOL_RECON_DRAIN,	/* a queue's last user left it */
	BUFPOOL_RECON_ASKED,	/* AUDIT, REPAIR (rate-limited) */
	BUFPOOL_RECON_SETTLE,	/* a follow-up (rate-limited) */
};

u64 bufpool_reconcile(struct bufpool_pool *pool, enum bufpool_recon_why why);

/* queue.c */
bool bufpool_queue_name_ok(const char *name, size_t max);
int bufpool_queues_init(struct bufpool_pool *pool,
			const struct bufpool_pool_spec *spec);
void bufpool_queues_rebuild(struct bufpool_pool *pool);
u32 bufpool_queues_recon_setup(struct bufpool_pool *pool);
void bufpool_queues_drained(struct bufpool_pool *pool);
void bufpool_queues_client_gone(struct bufpool_client *client);
long bufpool_queue_ioctl(struct bufpool_client *client, void __user *uarg,
			 size_t usize);
void bufpool_live_set(struct bufpool_pool *pool, u32 id, bool live);

/* mmap.c */
int bufpool_mmap_setup(struct bufpool_client *client,
		       struct vm_area_struct *vma);
unsigned long bufpool_mmap_unmapped_area(struct file *file,
					 struct bufpool_pool *pool,
					 unsigned long addr, unsigned long len,
					 unsigned long pgoff,
					 unsigned long flags);

#endif /* BUFPOOL_PRIVATE_H */
