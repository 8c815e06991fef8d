/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * bufpool: the layout of a pool, computed, described and checked in one
 * place for the module and the library's module-free (memfd) backend.
 *
 * The mmap space of a pool is its control area (struct bufpool_ctrl, then
 * next[], own[], mag_next[], mags[], caches[], and from ABI 1.3 queues[],
 * their slots and the live-client map, each cache-line aligned),
 * then, 2 MiB-aligned, the buffer area: buffer i at bufs_offset +
 * bufpool_buf_offset(i, buf_stride), which is (i << buf_shift) in a
 * packed pool (struct bp_bufmap computes it).
 *
 * Caches are bounded so that idle threads cannot starve a pool: each
 * thread's cache holds at most two magazines of mag_fill buffers, and
 * mag_fill is chosen so that all nr_caches caches together hold at most
 * half the pool: by default the most that allows up to BUFPOOL_MAG_CAP,
 * or (ABI 1.6) what the pool was made with, up to BUFPOOL_MAG_MAX, for
 * bursts (bp_mag_fill_ok()).  A pool too small for that, or asked for
 * none (nr_caches 0), has no magazines (mag_fill 0); it still has caches,
 * because a cache is where a thread announces what it is taking, for
 * threads that have one: BP_DEFAULT_CACHES when none were asked for.
 * A thread without a cache works on the shared path (ABI 1.5), counted
 * in flight in its client's inflight[] word after the live-client map.
 */
#ifndef _BUFPOOL_LAYOUT_H
#define _BUFPOOL_LAYOUT_H

#ifdef __KERNEL__
#include <linux/build_bug.h>
#else
#include <assert.h>
#endif
#include <linux/bufpool.h>
#include <bufpool/atomic.h>
#include <bufpool/freelist.h>
#include <bufpool/queue.h>

/* The ABI's sizes and offsets, checked once for both sides. */
static_assert(sizeof(struct bufpool_info) == BUFPOOL_INFO_SIZE_VER3,
	      "struct bufpool_info is ABI");
static_assert(__builtin_offsetof(struct bufpool_info, nr_queues) ==
	      BUFPOOL_INFO_SIZE_VER2, "ABI 1.3 appends to bufpool_info");
static_assert(sizeof(struct bufpool_audit) == BUFPOOL_AUDIT_SIZE_VER1,
	      "struct bufpool_audit is ABI");
static_assert(__builtin_offsetof(struct bufpool_audit, queued) ==
	      BUFPOOL_AUDIT_SIZE_VER0, "ABI 1.3 appends to bufpool_audit");
static_assert(sizeof(struct bufpool_ctrl) == BUFPOOL_CTRL_SIZE_VER9,
	      "struct bufpool_ctrl is ABI");
static_assert(__builtin_offsetof(struct bufpool_ctrl, full2_head) ==
	      BUFPOOL_CTRL_SIZE_VER6, "ABI 1.9 appends to bufpool_ctrl");
static_assert(__builtin_offsetof(struct bufpool_ctrl, depot_turn) ==
	      BUFPOOL_CTRL_SIZE_VER6 + BUFPOOL_CACHELINE,
	      "the second full stack and the turn have their own lines");
static_assert(__builtin_offsetof(struct bufpool_ctrl, nr_queues) ==
	      BUFPOOL_CTRL_SIZE_VER2, "ABI 1.3 appends to bufpool_ctrl");
static_assert(__builtin_offsetof(struct bufpool_ctrl, caches_free) ==
	      BUFPOOL_CTRL_SIZE_VER4, "ABI 1.5 appends to bufpool_ctrl");
static_assert(__builtin_offsetof(struct bufpool_ctrl, shared_acquires) ==
	      BUFPOOL_CTRL_SIZE_VER4 + BUFPOOL_CACHELINE,
	      "the shared path's counters have their own line");
static_assert(sizeof(struct bufpool_qdesc) == BUFPOOL_QUEUE_DESC_SIZE,
	      "struct bufpool_qdesc is ABI");
static_assert(__builtin_offsetof(struct bufpool_qdesc, head) ==
	      BUFPOOL_CACHELINE &&
	      __builtin_offsetof(struct bufpool_qdesc, state) ==
	      2 * BUFPOOL_CACHELINE, "a queue's sides have their own lines");
static_assert(sizeof(struct bufpool_queue_req) ==
	      BUFPOOL_QUEUE_REQ_SIZE_VER0, "struct bufpool_queue_req is ABI");
static_assert(BUFPOOL_LIVE_WORDS * 64 == BUFPOOL_CLIENT_MAX + 1,
	      "the live map has a bit for every client id");
static_assert(__builtin_offsetof(struct bufpool_ctrl, free_head) ==
	      BUFPOOL_CACHELINE, "free_head has its own line");
static_assert(__builtin_offsetof(struct bufpool_ctrl, full_head) ==
	      2 * BUFPOOL_CACHELINE, "full_head has its own line");
static_assert(__builtin_offsetof(struct bufpool_ctrl, empty_head) ==
	      3 * BUFPOOL_CACHELINE, "empty_head has its own line");
static_assert(sizeof(struct bufpool_mag) == 4 &&
	      BUFPOOL_MAG_STRIDE(0) == 256 &&
	      BUFPOOL_MAG_STRIDE(BUFPOOL_MAG_CAP) == 256 &&
	      BUFPOOL_MAG_STRIDE(BUFPOOL_MAG_CAP + 1) == 512 &&
	      BUFPOOL_MAG_STRIDE(256) == 1280 &&
	      BUFPOOL_MAG_STRIDE(BUFPOOL_MAG_MAX) == 4096,
	      "a magazine of up to 63 buffers is 256 bytes, as before 1.6");
static_assert(sizeof(struct bufpool_cache) == BUFPOOL_CACHELINE,
	      "a cache is one line");
static_assert(BUFPOOL_MAX_BUF_SIZE <= BUFPOOL_CHUNK_SIZE,
	      "a buffer fits a chunk");

#define BP_MIN_BUF_SHIFT	6	/* BUFPOOL_MIN_BUF_SIZE */
#define BP_MAX_BUF_SHIFT	21	/* BUFPOOL_MAX_BUF_SIZE */
static_assert((1u << BP_MIN_BUF_SHIFT) == BUFPOOL_MIN_BUF_SIZE &&
	      (1u << BP_MAX_BUF_SHIFT) == BUFPOOL_MAX_BUF_SIZE,
	      "buffer size limits");

#define BP_DEFAULT_CACHES	64
#define BP_DEFAULT_QUEUES	8
#define BP_DEFAULT_QUEUE_LEN_MAX	65536u

/* Geometry a pool may have; every side checks what it is given. */
static inline int bp_buf_size_ok(__u64 size)
{
	return size >= BUFPOOL_MIN_BUF_SIZE && size <= BUFPOOL_MAX_BUF_SIZE &&
	       !(size & (size - 1));
}

static inline int bp_buf_count_ok(__u64 count)
{
	return count && count <= BUFPOOL_MAX_BUFS;
}

static inline int bp_nr_caches_ok(__u64 nr_caches)
{
	return nr_caches <= BUFPOOL_MAX_CACHES;
}

static inline int bp_geometry_ok(__u32 buf_shift, __u32 buf_count,
				 __u32 nr_caches)
{
	return buf_shift >= BP_MIN_BUF_SHIFT && buf_shift <= BP_MAX_BUF_SHIFT &&
	       bp_buf_count_ok(buf_count) && bp_nr_caches_ok(nr_caches);
}

/*
 * ABI 1.8: the stride of a pool of 1 << buf_shift byte buffers, packed
 * (spread 0) or spread.
 */
static inline __u32 bp_buf_stride(__u32 buf_shift, int spread)
{
	return (1u << buf_shift) + (spread ? BUFPOOL_SPREAD_PAD : 0);
}

/*
 * The shift and stride a header or an info reports (buf_shift 0: spread)
 * for buffers of buf_size: the log2 of the size, 0 when they are not
 * one of the two layouts above.
 */
static inline __u32 bp_stride_shift(__u32 buf_shift, __u32 buf_size,
				    __u32 stride)
{
	__u32 s;

	if (!bp_buf_size_ok(buf_size))
		return 0;
	for (s = BP_MIN_BUF_SHIFT; (1u << s) != buf_size; s++)
		;
	if (stride != bp_buf_stride(s, !buf_shift) ||
	    (buf_shift && buf_shift != s))
		return 0;
	return s;
}

/*
 * struct bp_bufmap - buffer index to offset in the buffer area
 * (bufpool_buf_offset()) and back, without a division: the one copy of
 * that arithmetic, for the library and the bindings.  A packed pool
 * shifts.  A spread one multiplies by the stride, and back divides by
 * multiplying: stride = odd << odd_shift with odd_inv * odd == 1 modulo
 * 2^64, so for an offset off whose low odd_shift bits are 0,
 * (off >> odd_shift) * odd_inv modulo 2^64 is off / stride when stride
 * divides off, and above (2^64 - 1) / odd > 2^48 when it does not
 * (Granlund and Montgomery, "Division by invariant integers using
 * multiplication", section 9): one multiplication tells a buffer's
 * start from any other byte.
 */
struct bp_bufmap {
	__u64 odd_inv;
	__u32 shift;		/* log2(size) when packed, else 0 */
	__u32 size;
	__u32 stride;
	__u32 odd_shift;
};

/* For a geometry bp_stride_shift() accepted: size 1 << shift. */
static inline void bp_bufmap_init(struct bp_bufmap *m, __u32 shift,
				  __u32 stride)
{
	__u64 odd, inv;
	int i;

	m->size = 1u << shift;
	m->stride = stride;
	m->shift = stride == m->size ? shift : 0;
	for (m->odd_shift = 0; !((stride >> m->odd_shift) & 1); m->odd_shift++)
		;
	odd = stride >> m->odd_shift;
	inv = odd;		/* right in 3 bits: each step doubles them */
	for (i = 0; i < 5; i++)
		inv *= 2 - odd * inv;
	m->odd_inv = inv;
}

/* The offset of buffer idx in the buffer area. */
static inline __u64 bp_bufmap_off(const struct bp_bufmap *m, __u32 idx)
{
	if (m->shift)
		return (__u64)idx << m->shift;
	return (__u64)idx * m->stride;
}

/*
 * The buffer that starts at off in the buffer area: 0 and its index in
 * *idx (not checked against the pool's count: the caller bounds off),
 * -1 when off is not a buffer's start.
 */
static inline int bp_bufmap_idx(const struct bp_bufmap *m, __u64 off,
				__u32 *idx)
{
	__u64 r;

	if (m->shift) {
		if (off & (m->size - 1))
			return -1;
		*idx = (__u32)(off >> m->shift);
		return 0;
	}
	r = (off >> m->odd_shift) * m->odd_inv;
	if ((off & ((1u << m->odd_shift) - 1)) || r > BUFPOOL_IDX_MASK)
		return -1;
	*idx = (__u32)r;
	return 0;
}

/*
 * The buffer that holds the byte at off: 0 and its index in *idx, -1
 * when off falls between two (a spread pool's pad).
 */
static inline int bp_bufmap_containing(const struct bp_bufmap *m, __u64 off,
				       __u32 *idx)
{
	__u64 r;

	if (m->shift) {
		*idx = (__u32)(off >> m->shift);
		return 0;
	}
	r = off / m->stride;
	if (off - r * m->stride >= m->size || r > BUFPOOL_IDX_MASK)
		return -1;
	*idx = (__u32)r;
	return 0;
}

/*
 * Queue geometry: up to BUFPOOL_MAX_QUEUES queues of queue_len slots, a
 * power of two up to BUFPOOL_MAX_QUEUE_LEN; none at all is fine.  A pool
 * of BUFPOOL_MAX_BUFS buffers has none: its last index would read as
 * BUFPOOL_QUEUE_SKIP.
 */
static inline int bp_queue_geometry_ok(__u32 buf_count, __u32 nr_queues,
				       __u32 queue_len)
{
	if (!nr_queues)
		return !queue_len;
	return nr_queues <= BUFPOOL_MAX_QUEUES && queue_len &&
	       queue_len <= BUFPOOL_MAX_QUEUE_LEN &&
	       !(queue_len & (queue_len - 1)) &&
	       buf_count <= BUFPOOL_QUEUE_SKIP;
}

/* The default queue length: the pool's count, rounded up, bounded. */
static inline __u32 bp_default_queue_len(__u32 buf_count)
{
	__u32 n = 1;

	while (n < buf_count && n < BP_DEFAULT_QUEUE_LEN_MAX)
		n <<= 1;
	return n;
}

/*
 * Whether a pool of this ABI version keeps ownership records (1.2): the
 * kernel serves clients of any such version.
 */
static inline int bp_abi_usable(__u32 abi_version)
{
	return BUFPOOL_ABI_VERSION_MAJOR(abi_version) == BUFPOOL_ABI_MAJOR &&
	       BUFPOOL_ABI_VERSION_MINOR(abi_version) >= 2;
}

/*
 * Whether a pool has everything this header describes (queues, the live
 * map: 1.3): what the library needs of a module or a memfd pool.
 */
static inline int bp_abi_current(__u32 abi_version)
{
	return BUFPOOL_ABI_VERSION_MAJOR(abi_version) == BUFPOOL_ABI_MAJOR &&
	       BUFPOOL_ABI_VERSION_MINOR(abi_version) >= BUFPOOL_ABI_MINOR;
}

/*
 * Whether a pool of count buffers and nr_caches caches (0: none) can be
 * made with magazines of mag_fill buffers (0: the default): the caches
 * together hold at most half the pool.
 */
static inline int bp_mag_fill_ok(__u32 count, __u32 nr_caches,
				 __u32 mag_fill)
{
	return !mag_fill ||
	       (nr_caches && mag_fill <= BUFPOOL_MAG_MAX &&
		4ULL * nr_caches * mag_fill <= count);
}

/* The bytes from one magazine to the next, for magazines of mag_fill. */
static inline __u64 bp_mag_stride(__u32 mag_fill)
{
	return BUFPOOL_MAG_STRIDE(mag_fill);
}

struct bp_layout {
	__u32 buf_count;
	__u32 buf_shift;	/* log2(buf_size), packed or spread */
	__u32 buf_stride;	/* bp_buf_stride() */
	__u32 nr_caches;
	__u32 mag_fill;
	__u32 nr_mags;
	__u32 nr_queues;
	__u32 queue_len;
	__u32 depot_flags;	/* BUFPOOL_DEPOT_*: the maker sets them */
	__u64 next_offset;	/* offsets within the control area */
	__u64 own_offset;
	__u64 mag_next_offset;
	__u64 mags_offset;
	__u64 caches_offset;
	__u64 queues_offset;
	__u64 qslots_offset;
	__u64 live_offset;
	__u64 inflight_offset;	/* live_offset + BUFPOOL_INFLIGHT_GAP */
	__u64 ctrl_size;
	__u64 bufs_offset;	/* offsets within the mmap space */
	__u64 bufs_size;
};

static inline __u64 bp_align(__u64 v, __u64 a)	/* a: a power of two */
{
	return (v + a - 1) & ~(a - 1);
}

/*
 * bp_layout_compute - place everything.  The geometry must have passed
 * bp_geometry_ok(), bp_queue_geometry_ok() and bp_mag_fill_ok();
 * mag_fill 0 asks for the default.
 */
static inline void bp_layout_compute(struct bp_layout *l, __u32 count,
				     __u32 shift, __u32 stride,
				     __u32 nr_caches, __u32 mag_fill,
				     __u32 nr_queues, __u32 queue_len,
				     __u64 page_size)
{
	__u64 end;

	l->buf_count = count;
	l->nr_queues = nr_queues;
	l->queue_len = nr_queues ? queue_len : 0;
	l->buf_shift = shift;
	l->buf_stride = stride;
	l->depot_flags = 0;
	l->mag_fill = nr_caches ? count / (4 * nr_caches) : 0;
	if (l->mag_fill > BUFPOOL_MAG_CAP)
		l->mag_fill = BUFPOOL_MAG_CAP;
	if (nr_caches && mag_fill)
		l->mag_fill = mag_fill;
	l->nr_caches = nr_caches ? nr_caches : BP_DEFAULT_CACHES;
	/* Two per cache, enough to hold every buffer, and one spare. */
	l->nr_mags = l->mag_fill ? 2 * l->nr_caches +
			(count + l->mag_fill - 1) / l->mag_fill + 1 : 0;

	l->next_offset = BUFPOOL_CTRL_NEXT_OFFSET;
	l->own_offset = bp_align(l->next_offset + 4ULL * count,
				 BUFPOOL_CACHELINE);
	l->mag_next_offset = bp_align(l->own_offset + 4ULL * count,
				      BUFPOOL_CACHELINE);
	l->mags_offset = bp_align(l->mag_next_offset + 4ULL * l->nr_mags,
				  BUFPOOL_CACHELINE);
	l->caches_offset = bp_align(l->mags_offset + (__u64)l->nr_mags *
				    bp_mag_stride(l->mag_fill),
				    BUFPOOL_CACHELINE);
	l->queues_offset = bp_align(l->caches_offset + (__u64)l->nr_caches *
				    sizeof(struct bufpool_cache),
				    BUFPOOL_CACHELINE);
	l->qslots_offset = l->queues_offset + (__u64)l->nr_queues *
			   sizeof(struct bufpool_qdesc);
	l->live_offset = bp_align(l->qslots_offset + 8ULL * l->nr_queues *
				  l->queue_len, BUFPOOL_CACHELINE);
	l->inflight_offset = l->live_offset + BUFPOOL_INFLIGHT_GAP;
	end = l->inflight_offset + 4ULL * BUFPOOL_INFLIGHT_WORDS;
	l->ctrl_size = bp_align(end, page_size);
	l->bufs_offset = bp_align(l->ctrl_size, BUFPOOL_CHUNK_SIZE);
	l->bufs_size = bp_align((__u64)count * stride, BUFPOOL_CHUNK_SIZE);
}

/* Whether a layout's buffers are packed: buf_shift means i << buf_shift. */
static inline __u32 bp_layout_shift_abi(const struct bp_layout *l)
{
	return l->buf_stride == 1u << l->buf_shift ? l->buf_shift : 0;
}

/*
 * The layout as struct bufpool_info says it, and back: the only copies
 * of its fields.  bp_layout_to_info() fills the geometry and leaves the
 * other fields (size, flags, numa_node, generation, client_id) alone.
 */
static inline void bp_layout_to_info(struct bufpool_info *in,
				     const struct bp_layout *l)
{
	in->abi_version = BUFPOOL_ABI_VERSION;
	in->buf_shift = bp_layout_shift_abi(l);
	in->buf_size = 1u << l->buf_shift;
	in->buf_stride = l->buf_stride;
	in->buf_count = l->buf_count;
	in->pool_bytes = l->bufs_size;
	in->ctrl_offset = 0;
	in->ctrl_size = l->ctrl_size;
	in->next_offset = l->next_offset;
	in->own_offset = l->own_offset;
	in->bufs_offset = l->bufs_offset;
	in->bufs_size = l->bufs_size;
	in->mag_fill = l->mag_fill;
	in->nr_mags = l->nr_mags;
	in->nr_caches = l->nr_caches;
	in->depot_flags = l->depot_flags;
	in->mag_next_offset = l->mag_next_offset;
	in->mags_offset = l->mags_offset;
	in->caches_offset = l->caches_offset;
	in->nr_queues = l->nr_queues;
	in->queue_len = l->queue_len;
	in->queues_offset = l->queues_offset;
	in->qslots_offset = l->qslots_offset;
	in->live_offset = l->live_offset;
}

static inline void bp_layout_from_info(struct bp_layout *l,
				       const struct bufpool_info *in)
{
	l->buf_count = in->buf_count;
	l->buf_shift = bp_stride_shift(in->buf_shift, in->buf_size,
				       in->buf_stride);
	l->buf_stride = in->buf_stride;
	l->nr_caches = in->nr_caches;
	l->mag_fill = in->mag_fill;
	l->nr_mags = in->nr_mags;
	l->depot_flags = in->depot_flags;
	l->next_offset = in->next_offset;
	l->own_offset = in->own_offset;
	l->mag_next_offset = in->mag_next_offset;
	l->mags_offset = in->mags_offset;
	l->caches_offset = in->caches_offset;
	l->nr_queues = in->nr_queues;
	l->queue_len = in->queue_len;
	l->queues_offset = in->queues_offset;
	l->qslots_offset = in->qslots_offset;
	l->live_offset = in->live_offset;
	l->inflight_offset = in->live_offset + BUFPOOL_INFLIGHT_GAP;
	l->ctrl_size = in->ctrl_size;
	l->bufs_offset = in->bufs_offset;
	l->bufs_size = in->bufs_size;
}

/*
 * Whether an info (from a kernel, or read back) describes a pool of this
 * ABI (bp_abi_current()) whose every area fits: geometry in range, areas
 * inside the control area and aligned, a client id.
 */
static inline int bp_info_ok(const struct bufpool_info *in)
{
	__u32 shift = bp_stride_shift(in->buf_shift, in->buf_size,
				      in->buf_stride);
	__u64 c = in->ctrl_size;

	if (in->size < BUFPOOL_INFO_SIZE_VER3 ||
	    !bp_abi_current(in->abi_version) ||
	    !bp_queue_geometry_ok(in->buf_count, in->nr_queues,
				  in->queue_len) ||
	    !bp_geometry_ok(shift, in->buf_count, in->nr_caches) ||
	    in->mag_fill > BUFPOOL_MAG_MAX || in->nr_mags >= BUFPOOL_IDX_NIL ||
	    (in->mag_fill && !in->nr_mags) ||
	    (in->depot_flags & ~BUFPOOL_DEPOT_FLAGS))
		return 0;
	/* The last buffer ends inside the buffer area. */
	if (c < sizeof(struct bufpool_ctrl) ||
	    in->bufs_size < bufpool_buf_offset(in->buf_count - 1,
					       in->buf_stride) + in->buf_size)
		return 0;
	if (in->next_offset < sizeof(struct bufpool_ctrl) ||
	    in->next_offset + 4ULL * in->buf_count > c ||
	    in->own_offset < sizeof(struct bufpool_ctrl) ||
	    in->own_offset + 4ULL * in->buf_count > c ||
	    in->mag_next_offset + 4ULL * in->nr_mags > c ||
	    in->mags_offset + (__u64)in->nr_mags *
	    bp_mag_stride(in->mag_fill) > c ||
	    in->caches_offset + (__u64)in->nr_caches *
	    sizeof(struct bufpool_cache) > c ||
	    in->queues_offset + (__u64)in->nr_queues *
	    sizeof(struct bufpool_qdesc) > c ||
	    in->qslots_offset + 8ULL * in->nr_queues * in->queue_len > c ||
	    in->live_offset + BUFPOOL_INFLIGHT_GAP +
	    4ULL * BUFPOOL_INFLIGHT_WORDS > c ||
	    (in->own_offset | in->mags_offset | in->caches_offset |
	     in->mag_next_offset | in->next_offset) % 4 ||
	    (in->queues_offset | in->qslots_offset | in->live_offset) % 8)
		return 0;
	return in->client_id && in->client_id <= BUFPOOL_CLIENT_MAX;
}

/* The geometry copy a control area carries (self-describing memory). */
static inline void bp_layout_to_ctrl(struct bufpool_ctrl *c,
				     const struct bp_layout *l,
				     __u64 generation)
{
	c->magic = BUFPOOL_CTRL_MAGIC;
	c->abi_version = BUFPOOL_ABI_VERSION;
	c->buf_shift = bp_layout_shift_abi(l);
	c->buf_stride = l->buf_stride;
	c->buf_count = l->buf_count;
	c->next_offset = l->next_offset;
	c->own_offset = l->own_offset;
	c->generation = generation;
	c->mag_fill = l->mag_fill;
	c->nr_mags = l->nr_mags;
	c->nr_caches = l->nr_caches;
	c->depot_flags = l->depot_flags;
	c->mag_next_offset = l->mag_next_offset;
	c->mags_offset = l->mags_offset;
	c->caches_offset = l->caches_offset;
	c->nr_queues = l->nr_queues;
	c->queue_len = l->queue_len;
	c->queues_offset = l->queues_offset;
	c->qslots_offset = l->qslots_offset;
	c->live_offset = l->live_offset;
}

/*
 * bp_layout_from_ctrl - the layout a control area's header describes, if
 * it is a pool's and is exactly what bp_layout_compute() makes of its
 * geometry.  hdr is a private copy (it may have been garbage).
 */
static inline int bp_layout_from_ctrl(struct bp_layout *l,
				      const struct bufpool_ctrl *hdr,
				      __u64 page_size)
{
	struct bufpool_ctrl want = { 0 };
	__u32 shift = 0;

	/* The header has no size: a packed pool's shift, or the stride. */
	if (hdr->buf_shift <= BP_MAX_BUF_SHIFT)
		shift = bp_stride_shift(hdr->buf_shift, hdr->buf_shift ?
					1u << hdr->buf_shift :
					hdr->buf_stride - BUFPOOL_SPREAD_PAD,
					hdr->buf_stride);
	if (hdr->magic != BUFPOOL_CTRL_MAGIC ||
	    !bp_abi_current(hdr->abi_version) ||
	    !bp_geometry_ok(shift, hdr->buf_count, hdr->nr_caches) ||
	    !bp_queue_geometry_ok(hdr->buf_count, hdr->nr_queues,
				  hdr->queue_len) ||
	    !bp_mag_fill_ok(hdr->buf_count, hdr->nr_caches, hdr->mag_fill) ||
	    (hdr->depot_flags & ~BUFPOOL_DEPOT_FLAGS))
		return 0;
	/*
	 * The magazine size is the pool's maker's choice (checked above):
	 * the rest follows from it.  A pool made without caches
	 * (nr_caches 0: no magazines) records the default number of
	 * caches: try that geometry too.
	 */
	bp_layout_compute(l, hdr->buf_count, shift, hdr->buf_stride,
			  hdr->nr_caches, hdr->mag_fill, hdr->nr_queues,
			  hdr->queue_len, page_size);
	if (!hdr->mag_fill && l->mag_fill)
		bp_layout_compute(l, hdr->buf_count, shift, hdr->buf_stride,
				  0, 0, hdr->nr_queues, hdr->queue_len,
				  page_size);
	l->depot_flags = hdr->depot_flags;
	bp_layout_to_ctrl(&want, l, hdr->generation);
	return want.mag_fill == hdr->mag_fill &&
	       want.nr_mags == hdr->nr_mags &&
	       want.nr_caches == hdr->nr_caches &&
	       want.next_offset == hdr->next_offset &&
	       want.own_offset == hdr->own_offset &&
	       want.mag_next_offset == hdr->mag_next_offset &&
	       want.mags_offset == hdr->mags_offset &&
	       want.caches_offset == hdr->caches_offset &&
	       want.queues_offset == hdr->queues_offset &&
	       want.qslots_offset == hdr->qslots_offset &&
	       want.live_offset == hdr->live_offset;
}

/* Pointers into one mapping of a control area, and its geometry. */
struct bp_shm {
	__u64 *free_head;
	__u64 *full_head;
	__u64 *empty_head;
	__u64 *full2_head;	/* ABI 1.9: the rotating depot's second */
	__u32 *depot_turn;
	__u32 *next;
	__u32 *own;
	__u32 *mag_next;
	char *mags;		/* magazine id i at mags + i * mag_stride */
	struct bufpool_cache *caches;
	struct bufpool_qdesc *queues;
	__u64 *qslots;
	__u64 *live;
	__u32 *inflight;	/* ABI 1.5: inflight[client id] */
	__u32 buf_count;
	__u32 nr_mags;
	__u32 nr_caches;
	__u32 mag_fill;
	__u32 nr_queues;
	__u32 queue_len;
	__u32 mag_stride;
	__u32 mag_cap;		/* the entries a magazine's stride has room for */
	__u32 rotate;		/* BUFPOOL_DEPOT_ROTATE: two full stacks */
};

/* Magazine id (< nr_mags, checked by the caller). */
static inline struct bufpool_mag *bp_mag_at(const struct bp_shm *s, __u32 id)
{
	return (struct bufpool_mag *)(s->mags + (__u64)id * s->mag_stride);
}

static inline void bp_shm_bind(struct bp_shm *s, void *ctrl,
			       const struct bp_layout *l)
{
	struct bufpool_ctrl *c = (struct bufpool_ctrl *)ctrl;

	s->free_head = &c->free_head;
	s->full_head = &c->full_head;
	s->empty_head = &c->empty_head;
	s->full2_head = &c->full2_head;
	s->depot_turn = &c->depot_turn;
	s->next = (__u32 *)((char *)ctrl + l->next_offset);
	s->own = (__u32 *)((char *)ctrl + l->own_offset);
	s->mag_next = (__u32 *)((char *)ctrl + l->mag_next_offset);
	s->mags = (char *)ctrl + l->mags_offset;
	s->caches = (struct bufpool_cache *)((char *)ctrl + l->caches_offset);
	s->queues = (struct bufpool_qdesc *)((char *)ctrl + l->queues_offset);
	s->qslots = (__u64 *)((char *)ctrl + l->qslots_offset);
	s->live = (__u64 *)((char *)ctrl + l->live_offset);
	s->inflight = (__u32 *)((char *)ctrl + l->inflight_offset);
	s->buf_count = l->buf_count;
	s->nr_mags = l->nr_mags;
	s->nr_caches = l->nr_caches;
	s->mag_fill = l->mag_fill;
	s->nr_queues = l->nr_queues;
	s->queue_len = l->queue_len;
	s->mag_stride = (__u32)bp_mag_stride(l->mag_fill);
	s->mag_cap = BUFPOOL_MAG_ROOM(l->mag_fill);
	s->rotate = l->depot_flags & BUFPOOL_DEPOT_ROTATE;
}

/* bp_cache_reset - a cache that names nothing and announces nothing. */
static inline void bp_cache_reset(struct bufpool_cache *c)
{
	bp_store_relaxed_u32(&c->loaded, BUFPOOL_IDX_NIL);
	bp_store_relaxed_u32(&c->prev, BUFPOOL_IDX_NIL);
	bp_store_relaxed_u32(&c->pending, BUFPOOL_IDX_NIL);
	bp_store_relaxed_u32(&c->pend_buf, BUFPOOL_IDX_NIL);
}

/*
 * bp_shm_init - build a pool's control area in zeroed memory nobody else
 * sees yet: every buffer on the free list (so that an ABI 1.0 client,
 * which knows only that list, finds them all), every magazine empty in
 * the depot, every cache free, every queue descriptor free (zero) and
 * every slot empty (bp_q_slots_init()), nobody live.
 *
 * A pool with magazines larger than BUFPOOL_MAG_CAP (ABI 1.6, which no
 * older client opens) starts with its buffers in full magazines of
 * consecutive indices on the depot's full stack instead, the rest on
 * the free list: a thread's first refill is then one pop and a run of
 * buffers whose own[] words share lines with no other thread's, where
 * threads refilling at once from the free list would take interleaved
 * buffers and write the same own[] lines on every take and give.
 */
static inline void bp_shm_init(void *ctrl, const struct bp_layout *l,
			       __u64 generation)
{
	__u32 i, k, nfull = 0;
	struct bp_shm s;

	bp_layout_to_ctrl((struct bufpool_ctrl *)ctrl, l, generation);
	bp_shm_bind(&s, ctrl, l);
	if (l->mag_fill > BUFPOOL_MAG_CAP)
		nfull = l->buf_count / l->mag_fill;
	for (k = 0; k < nfull; k++) {
		struct bufpool_mag *m = bp_mag_at(&s, k);

		for (i = 0; i < l->mag_fill; i++)
			bp_store_relaxed_u32(&m->idx[i], k * l->mag_fill + i);
		bp_store_relaxed_u32(&m->count, l->mag_fill);
	}
	bp_fl_init_range(s.full_head, s.mag_next, 0, nfull);
	bp_fl_init_range(s.empty_head, s.mag_next, nfull, l->nr_mags);
	bp_fl_init_range(s.full2_head, s.mag_next, 0, 0);
	bp_fl_init_range(s.free_head, s.next, nfull * l->mag_fill,
			 l->buf_count);
	for (i = 0; i < l->nr_caches; i++)
		bp_cache_reset(&s.caches[i]);
	bp_store_relaxed_u32(&((struct bufpool_ctrl *)ctrl)->caches_free,
			     l->nr_caches);
	for (i = 0; i < l->nr_queues; i++)
		bp_q_slots_init(s.qslots + (__u64)i * l->queue_len,
				l->queue_len);
}

#endif /* _BUFPOOL_LAYOUT_H */
