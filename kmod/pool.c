// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool: pool memory.
 *
 * A pool is an array of PMD-sized compound pages ("chunks"), zeroed and
 * unmovable, held for the pool's whole life, plus a vmalloc'ed control
 * area that userspace maps and that holds the shared free list.
 *
 * The mmap space of a pool is a file as the core sees it: the pool's
 * anonymous inode has that space's length as i_size and each chunk's
 * folio has its page offset there as index.  Both matter: since the
 * 6.18 change "mm/memory: do not populate page table entries beyond
 * i_size" (also in 6.12.59 and later), finish_fault() maps a folio with
 * one PMD only when folio_next_index() lies within i_size; with i_size
 * 0 every chunk fell back to 4 KiB entries.  See mmap.c.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitops.h>
#include <linux/fs.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/mount.h>
#include <linux/nodemask.h>
#include <linux/pseudo_fs.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

#include "bufpool-private.h"

static_assert(BUFPOOL_ORDER_FITS(BUFPOOL_CHUNK_ORDER));
static_assert((PAGE_SIZE << BUFPOOL_CHUNK_ORDER) == BUFPOOL_CHUNK_SIZE);

/* Slots per queue of a pool of @spec: 0 without queues. */
static u32 bufpool_spec_queue_len(const struct bufpool_pool_spec *spec)
{
	if (!spec->queues)
		return 0;
	return spec->queue_len ? spec->queue_len :
				 bp_default_queue_len(spec->buf_count);
}

/* The queues of @spec: geometry and those declared; reasons logged. */
static int bufpool_spec_queues_check(const struct bufpool_pool_spec *spec)
{
	u32 len = bufpool_spec_queue_len(spec), i, j;

	if (spec->queues > BUFPOOL_MAX_QUEUES) {
		pr_err("%s: queues=%u: must be from 0 to %u\n", spec->name,
		       spec->queues, BUFPOOL_MAX_QUEUES);
		return -EINVAL;
	}
	if (spec->queue_len && (spec->queue_len > BUFPOOL_MAX_QUEUE_LEN ||
				!is_power_of_2(spec->queue_len))) {
		pr_err("%s: queue_len=%u: must be a power of two from 1 to %u (0: by buf_count)\n",
		       spec->name, spec->queue_len, BUFPOOL_MAX_QUEUE_LEN);
		return -EINVAL;
	}
	if (!bp_queue_geometry_ok(spec->buf_count, spec->queues, len)) {
		pr_err("%s: buf_count=%u: a pool with queues has at most %u buffers\n",
		       spec->name, spec->buf_count, BUFPOOL_QUEUE_SKIP);
		return -EINVAL;
	}
	if (spec->nr_declared > spec->queues) {
		pr_err("%s: queue: %u queues declared, queues=%u\n",
		       spec->name, spec->nr_declared, spec->queues);
		return -EINVAL;
	}
	for (i = 0; i < spec->nr_declared; i++) {
		if (!spec->declared[i].capacity ||
		    spec->declared[i].capacity > len) {
			pr_err("%s: queue %s: capacity %u: must be from 1 to queue_len (%u)\n",
			       spec->name, spec->declared[i].name,
			       spec->declared[i].capacity, len);
			return -EINVAL;
		}
		for (j = 0; j < i; j++)
			if (!strcmp(spec->declared[i].name,
				    spec->declared[j].name)) {
				pr_err("%s: queue %s: declared twice\n",
				       spec->name, spec->declared[i].name);
				return -EINVAL;
			}
	}
	return 0;
}

/* The layout of a pool of @spec: its geometry, sizes and offsets. */
static void bufpool_spec_layout(const struct bufpool_pool_spec *spec,
				struct bp_layout *layout)
{
	u32 shift = ilog2(spec->buf_size);

	bp_layout_compute(layout, spec->buf_count, shift,
			  bp_buf_stride(shift, spec->spread), spec->caches,
			  spec->mag_size, spec->queues,
			  bufpool_spec_queue_len(spec), PAGE_SIZE);
	if (spec->rotate)
		layout->depot_flags = BUFPOOL_DEPOT_ROTATE;
}

/**
 * bufpool_pool_spec_check - refuse a geometry the module cannot honour
 * @spec: the requested geometry
 *
 * Return: 0, -EINVAL for a malformed request or -ENOMEM for one larger
 * than the machine; the reason is logged.
 */
int bufpool_pool_spec_check(const struct bufpool_pool_spec *spec)
{
	struct bp_layout layout;
	u64 bytes, ram;

	if (!bp_buf_size_ok(spec->buf_size)) {
		pr_err("%s: buf_size=%u: must be a power of two from %u to %u\n",
		       spec->name, spec->buf_size, BUFPOOL_MIN_BUF_SIZE,
		       BUFPOOL_MAX_BUF_SIZE);
		return -EINVAL;
	}
	if (!bp_buf_count_ok(spec->buf_count)) {
		pr_err("%s: buf_count=%u: must be from 1 to %u\n",
		       spec->name, spec->buf_count, BUFPOOL_MAX_BUFS);
		return -EINVAL;
	}
	if (spec->numa_node != NUMA_NO_NODE &&
	    (spec->numa_node < 0 || spec->numa_node >= MAX_NUMNODES ||
	     !node_online(spec->numa_node))) {
		pr_err("%s: numa_node=%d: not an online node (-1 for any)\n",
		       spec->name, spec->numa_node);
		return -EINVAL;
	}
	if (!bp_nr_caches_ok(spec->caches)) {
		pr_err("%s: caches=%u: must be from 0 to %u\n", spec->name,
		       spec->caches, BUFPOOL_MAX_CACHES);
		return -EINVAL;
	}
	if (!bp_mag_fill_ok(spec->buf_count, spec->caches, spec->mag_size)) {
		pr_err("%s: mag_size=%u: must be from 1 to %u, with caches, and at most buf_count / (4 * caches) = %u\n",
		       spec->name, spec->mag_size, BUFPOOL_MAG_MAX,
		       spec->caches ? spec->buf_count / (4 * spec->caches) : 0);
		return -EINVAL;
	}
	if (bufpool_spec_queues_check(spec))
		return -EINVAL;
	if (spec->repair_interval_ms > BUFPOOL_MAX_REPAIR_INTERVAL_MS) {
		pr_err("%s: repair_interval_ms=%u: must be from 0 to %u\n",
		       spec->name, spec->repair_interval_ms,
		       BUFPOOL_MAX_REPAIR_INTERVAL_MS);
		return -EINVAL;
	}
	if (spec->mode & ~0777) {
		pr_err("%s: mode=%#o: only permission bits (0 to 0777) allowed\n",
		       spec->name, spec->mode);
		return -EINVAL;
	}
	if (!uid_valid(make_kuid(&init_user_ns, spec->uid)) ||
	    !gid_valid(make_kgid(&init_user_ns, spec->gid))) {
		pr_err("%s: uid=%u gid=%u: not a valid owner\n", spec->name,
		       spec->uid, spec->gid);
		return -EINVAL;
	}

	/* Fail fast what can never fit: no reclaim can help. */
	bufpool_spec_layout(spec, &layout);
	bytes = layout.bufs_size;
	if (spec->numa_node == NUMA_NO_NODE)
		ram = (u64)totalram_pages() << PAGE_SHIFT;
	else
		ram = (u64)node_present_pages(spec->numa_node) << PAGE_SHIFT;
	if (bytes > ram) {
		pr_err("%s: %u x %u B needs %llu MiB, %s has %llu MiB\n",
		       spec->name, spec->buf_count, spec->buf_size, bytes >> 20,
		       spec->numa_node == NUMA_NO_NODE ? "the machine" :
							 "the node",
		       ram >> 20);
		return -ENOMEM;
	}
	return 0;
}

static void bufpool_free_chunks(struct bufpool_pool *pool)
{
	unsigned int i;

	/*
	 * put_page(), not __free_pages(): a chunk that something still
	 * holds (a get_user_pages() pin, say) is freed by its last holder.
	 */
	for (i = 0; i < pool->nr_chunks; i++)
		if (pool->chunks[i])
			put_page(pool->chunks[i]);
	kvfree(pool->chunks);
}

static int bufpool_alloc_chunks(struct bufpool_pool *pool)
{
	gfp_t gfp = GFP_KERNEL | __GFP_COMP | __GFP_ZERO | __GFP_NOWARN |
		    __GFP_RETRY_MAYFAIL;
	unsigned int i;

	if (pool->numa_node != NUMA_NO_NODE)
		gfp |= __GFP_THISNODE;

	pool->chunks = kvcalloc(pool->nr_chunks, sizeof(*pool->chunks),
				GFP_KERNEL);
	if (!pool->chunks)
		return -ENOMEM;

	for (i = 0; i < pool->nr_chunks; i++) {
		/* A large pool takes a while to zero: let insmod be killed. */
		if (fatal_signal_pending(current))
			return -EINTR;
		pool->chunks[i] = alloc_pages_node(pool->numa_node, gfp,
						   BUFPOOL_CHUNK_ORDER);
		if (!pool->chunks[i]) {
			pr_err("%s: got %u of %u 2 MiB chunks; memory is short or fragmented\n",
			       pool->name, i, pool->nr_chunks);
			return -ENOMEM;
		}
		/* Where the chunk lies in the mmap space, as for a file. */
		page_folio(pool->chunks[i])->index = pool->bufs_pgoff +
			((pgoff_t)i << BUFPOOL_CHUNK_ORDER);
		cond_resched();
	}
	return 0;
}

static int bufpool_alloc_ctrl(struct bufpool_pool *pool)
{
	void *ctrl;

	ctrl = vmalloc_user(pool->layout.ctrl_size);	/* zeroed */
	if (!ctrl)
		return -ENOMEM;
	bp_shm_init(ctrl, &pool->layout, pool->generation);
	pool->ctrl = ctrl;
	return 0;
}

/*
 * A pseudo filesystem whose only use is to give each pool an anonymous
 * inode: every open file of the pool takes that inode's mapping, so the
 * pool can unmap its control area from every process at once, whichever
 * device node (or copy of one) a process opened.  DRM does the same.
 */
#define BUFPOOL_FS_MAGIC	0x62756670	/* "bufp" */

static struct vfsmount *bufpool_mnt;
static int bufpool_mnt_count;

static int bufpool_fs_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, BUFPOOL_FS_MAGIC) ? 0 : -ENOMEM;
}

/*
 * No .owner: the pools' own mount would pin the module, and it is
 * released in module exit, before the code goes.
 */
static struct file_system_type bufpool_fs_type = {
	.name = "bufpool",
	.init_fs_context = bufpool_fs_init_fs_context,
	.kill_sb = kill_anon_super,
};

static int bufpool_alloc_inode(struct bufpool_pool *pool)
{
	struct inode *inode;
	int err;

	err = simple_pin_fs(&bufpool_fs_type, &bufpool_mnt, &bufpool_mnt_count);
	if (err)
		return err;
	inode = alloc_anon_inode(bufpool_mnt->mnt_sb);
	if (IS_ERR(inode)) {
		simple_release_fs(&bufpool_mnt, &bufpool_mnt_count);
		return PTR_ERR(inode);
	}
	/* The mmap space is the file: both areas lie below i_size. */
	i_size_write(inode, ((loff_t)pool->bufs_pgoff << PAGE_SHIFT) +
			    pool->layout.bufs_size);
	pool->inode = inode;
	return 0;
}

static int bufpool_alloc_recon(struct bufpool_pool *pool)
{
	size_t bufs = BITS_TO_U64(pool->layout.buf_count);
	size_t mags = BITS_TO_U64(pool->layout.nr_mags);

	pool->live = kvcalloc(BITS_TO_U64(BUFPOOL_CLIENT_MAX + 1), sizeof(u64),
			      GFP_KERNEL);
	pool->recon.free_bm = kvcalloc(bufpool_recon_words(pool), sizeof(u64),
				       GFP_KERNEL);
	if (!pool->live || !pool->recon.free_bm)
		return -ENOMEM;
	pool->recon.held_bm = pool->recon.free_bm + bufs;
	pool->recon.mfree_bm = pool->recon.held_bm + bufs;
	pool->recon.mheld_bm = pool->recon.mfree_bm + mags;
	pool->recon.queued_bm = pool->recon.mheld_bm + mags;
	pool->recon.dead_bm = pool->recon.queued_bm + bufs;
	pool->recon.live = pool->live;
	return 0;
}

static void bufpool_pool_free(struct bufpool_pool *pool)
{
	/* No client is left to ask: what was asked runs no more. */
	cancel_delayed_work_sync(&pool->repair_work);
	if (pool->inode) {
		iput(pool->inode);
		simple_release_fs(&bufpool_mnt, &bufpool_mnt_count);
	}
	kvfree(pool->recon.free_bm);
	kvfree(pool->live);
	kfree(pool->queues);
	kfree(pool->rqueues);
	mutex_destroy(&pool->lock);
	vfree(pool->ctrl);
	if (pool->chunks)
		bufpool_free_chunks(pool);
	kfree(pool);
}

/**
 * bufpool_pool_create - reserve and carve a pool
 * @spec: name and geometry, already checked by bufpool_pool_spec_check()
 *
 * Return: the pool with one reference, or an ERR_PTR.  Nothing is left
 * allocated on failure.
 */
struct bufpool_pool *bufpool_pool_create(const struct bufpool_pool_spec *spec)
{
	struct bufpool_pool *pool;
	int err;

	pool = kzalloc(sizeof(*pool), GFP_KERNEL);
	if (!pool)
		return ERR_PTR(-ENOMEM);

	refcount_set(&pool->ref, 1);
	mutex_init(&pool->lock);
	init_waitqueue_head(&pool->waitq);
	INIT_DELAYED_WORK(&pool->repair_work, bufpool_repair_work);
	pool->async_seq = -1;	/* no ASYNC request yet */
	pool->repair_interval_ms = spec->repair_interval_ms;
	strscpy(pool->name, spec->name, sizeof(pool->name));
	pool->mode = spec->mode;
	pool->uid = make_kuid(&init_user_ns, spec->uid);
	pool->gid = make_kgid(&init_user_ns, spec->gid);
	pool->numa_node = spec->numa_node;
	pool->generation = 1;
	bufpool_spec_layout(spec, &pool->layout);
	pool->nr_chunks = pool->layout.bufs_size >>
			  (BUFPOOL_CHUNK_ORDER + PAGE_SHIFT);
	/* The buffer area starts on a chunk boundary of the mmap space. */
	pool->bufs_pgoff = pool->layout.bufs_offset >> PAGE_SHIFT;

	err = bufpool_alloc_chunks(pool);
	if (err)
		goto fail;
	err = bufpool_alloc_ctrl(pool);
	if (err)
		goto fail;
	err = bufpool_alloc_recon(pool);
	if (err)
		goto fail;
	err = bufpool_queues_init(pool, spec);
	if (err)
		goto fail;
	err = bufpool_alloc_inode(pool);
	if (err)
		goto fail;
	return pool;

fail:
	bufpool_pool_free(pool);
	return ERR_PTR(err);
}

/**
 * bufpool_pool_get - take a reference on a pool
 * @pool: the pool
 */
void bufpool_pool_get(struct bufpool_pool *pool)
{
	refcount_inc(&pool->ref);
}

/**
 * bufpool_pool_put - drop a reference on a pool; the last frees it
 * @pool: the pool
 */
void bufpool_pool_put(struct bufpool_pool *pool)
{
	if (refcount_dec_and_test(&pool->ref))
		bufpool_pool_free(pool);
}

/**
 * bufpool_pool_page - the page behind a page offset of the mmap space
 * @pool: the pool
 * @pgoff: page offset into the device's mmap space
 *
 * Return: the page, or NULL for an offset outside both areas.
 */
struct page *bufpool_pool_page(struct bufpool_pool *pool, pgoff_t pgoff)
{
	if (pgoff < bufpool_ctrl_pages(pool))
		return vmalloc_to_page((char *)pool->ctrl +
				       (pgoff << PAGE_SHIFT));
	if (pgoff >= pool->bufs_pgoff &&
	    pgoff - pool->bufs_pgoff < bufpool_bufs_pages(pool)) {
		pgoff -= pool->bufs_pgoff;
		/*
		 * folio_page(), not nth_page() (gone in 6.18): a PMD-order
		 * folio never crosses a memory section, so its pages are
		 * contiguous in the memmap on every kernel.
		 */
		return folio_page(page_folio(pool->chunks[pgoff >>
							  BUFPOOL_CHUNK_ORDER]),
				  pgoff & (BUFPOOL_CHUNK_PAGES - 1));
	}
	return NULL;
}
