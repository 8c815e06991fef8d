/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * bufpool: pinned hugepage buffer pools shared between processes.
 *
 * This header is the whole contract between bufpool.ko and userspace:
 * the ioctl interface and the layout of the shared control area that
 * /dev/bufpool maps.  Everything in it is fixed-width, has no pointers
 * and carries explicit padding, so that 32-bit and 64-bit userspace see
 * the same layout.
 *
 * ABI versioning rule
 * -------------------
 * BUFPOOL_ABI_MAJOR changes only when an existing field, ioctl or
 * shared-memory layout changes meaning.  A library must refuse a pool
 * whose major differs from the one it was built with.
 *
 * BUFPOOL_ABI_MINOR changes when something is added: a field appended to
 * the end of an ioctl structure, a new ioctl, a new area in the mmap
 * space.  Structures only grow at the end and never reorder.  The kernel
 * answers an ioctl with min(its size, the size encoded in the command)
 * bytes, zero-fills the rest of the caller's buffer, and says in ->size
 * how many bytes it filled, so old binaries keep working against new
 * kernels and new binaries can tell what an old kernel did not fill.
 */
#ifndef _UAPI_LINUX_BUFPOOL_H
#define _UAPI_LINUX_BUFPOOL_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define BUFPOOL_ABI_MAJOR	1
#define BUFPOOL_ABI_MINOR	9
#define BUFPOOL_ABI_VERSION	((BUFPOOL_ABI_MAJOR << 16) | BUFPOOL_ABI_MINOR)
#define BUFPOOL_ABI_VERSION_MAJOR(v)	((v) >> 16)
#define BUFPOOL_ABI_VERSION_MINOR(v)	((v) & 0xffff)

/* Default device node of the default pool. */
#define BUFPOOL_DEV_PATH	"/dev/bufpool"

/* Geometry limits enforced by the module at load time. */
#define BUFPOOL_MIN_BUF_SIZE	64u
#define BUFPOOL_MAX_BUF_SIZE	(2u << 20)	/* one 2 MiB chunk */
#define BUFPOOL_CHUNK_SIZE	(2u << 20)	/* PMD-sized backing pages */

/*
 * Buffer indices are 24 bits wide so that an index and a 40-bit ABA tag
 * fit one 64-bit word (see docs/DESIGN.md, "The free list").  The
 * all-ones index is the list terminator, so a pool holds at most
 * 2^24 - 1 buffers.
 */
#define BUFPOOL_IDX_BITS	24
#define BUFPOOL_IDX_MASK	((1u << BUFPOOL_IDX_BITS) - 1)
#define BUFPOOL_IDX_NIL		BUFPOOL_IDX_MASK
#define BUFPOOL_MAX_BUFS	BUFPOOL_IDX_NIL

/*
 * struct bufpool_info - what BUFPOOL_IOC_INFO returns.
 *
 * All offsets are offsets into the mmap space of the device file, each
 * area starts page-aligned and the buffer area starts 2 MiB-aligned so
 * that it can be mapped with PMD entries.
 */
struct bufpool_info {
	__u32 size;		/* bytes of this struct the kernel filled */
	__u32 abi_version;	/* BUFPOOL_ABI_VERSION of the kernel */
	__u32 flags;		/* BUFPOOL_INFO_F_* */
	__u32 buf_shift;	/* log2(buf_size); 0 if spread (ABI 1.8) */
	__u32 buf_size;		/* bytes per buffer, a power of two */
	__u32 buf_count;	/* buffers in the pool */
	__s32 numa_node;	/* node the memory was taken from, -1 any */
	__u32 buf_stride;	/* ABI 1.8: see bufpool_buf_offset() */
	__u64 pool_bytes;	/* pinned memory backing the buffers */
	__u64 ctrl_offset;	/* control area: struct bufpool_ctrl, */
	__u64 ctrl_size;
	__u64 next_offset;	/*   its next[] at ctrl_offset + this */
	__u64 bufs_offset;	/* buffer area: buffer i at bufs_offset + */
	__u64 bufs_size;	/*   bufpool_buf_offset(i, buf_stride) */
	__u64 generation;	/* changes whenever the pool is rebuilt */
	/* ABI 1.1: magazines and per-thread caches, in the control area */
	__u32 mag_fill;		/* buffers a magazine holds; 0: no caching */
	__u32 nr_mags;		/* magazines */
	__u32 nr_caches;	/* per-thread caches */
	__u32 depot_flags;	/* ABI 1.9: BUFPOOL_DEPOT_* (was padding) */
	__u64 mag_next_offset;	/* __u32 mag_next[nr_mags], in the ctrl area */
	__u64 mags_offset;	/* struct bufpool_mag mags[nr_mags] */
	__u64 caches_offset;	/* struct bufpool_cache caches[nr_caches] */
	/* ABI 1.2: ownership */
	__u64 own_offset;	/* __u32 own[buf_count], in the ctrl area */
	__u32 client_id;	/* this open file's id in own[] and caches */
	__u32 __pad2;
	/* ABI 1.3: queues and the live-client map, in the control area */
	__u32 nr_queues;	/* queue descriptors (0: no queues) */
	__u32 queue_len;	/* slots per queue, a power of two */
	__u64 queues_offset;	/* struct bufpool_qdesc queues[nr_queues] */
	__u64 qslots_offset;	/* __u64 slots[nr_queues][queue_len] */
	__u64 live_offset;	/* __u64 live[BUFPOOL_LIVE_WORDS] */
};

/*
 * Buffer i starts at byte i * buf_stride of the buffer area, which is
 * made of 2 MiB chunks (BUFPOOL_CHUNK_SIZE).  A packed pool's stride is
 * its buffer size, a power of two no larger than a chunk, so buffer i is
 * at (i << buf_shift) and never crosses a chunk, as before ABI 1.8.  From
 * ABI 1.8 a pool may be made spread: its stride is the buffer size plus
 * BUFPOOL_SPREAD_PAD, one cache line, so that the first lines of
 * consecutive buffers fall in different sets of the CPU caches, where a
 * power-of-two stride puts them all in a few (docs/DESIGN.md, section
 * 1).  A spread pool's buffers are contiguous in the mapping; a buffer
 * may cross from one chunk to the next, so it is physically contiguous
 * only within each chunk.  Its info.buf_shift is 0, which every older
 * client refuses.
 */
#define BUFPOOL_SPREAD_PAD	64u

/* Where buffer i starts in the buffer area, for a stride of stride. */
static inline __u64 bufpool_buf_offset(__u32 i, __u32 stride)
{
	return (__u64)i * stride;
}

/*
 * info.depot_flags (ABI 1.9).  BUFPOOL_DEPOT_ROTATE: the depot keeps its
 * full magazines on two stacks that take turns (docs/DESIGN.md, "The
 * rotating depot"): threads give full magazines to one while they take
 * from the other, and switch when that one is empty, so that a magazine
 * comes back about a round of the depot after it was given, where one
 * stack gives back the magazine given last.  For pools whose buffers go
 * from one core to another (a producer and a consumer): the producer
 * then writes buffers whose lines the consumer's core has long let go
 * of.  A client older than 1.9 knows one stack only and is refused
 * (BUFPOOL_IOC_ATTACH: EPROTO).
 */
#define BUFPOOL_DEPOT_ROTATE	0x1u
#define BUFPOOL_DEPOT_FLAGS	BUFPOOL_DEPOT_ROTATE	/* all known */

/* info.flags: what libbufpool-user reports of a module-free pool. */
#define BUFPOOL_INFO_F_MEMFD	0x1u	/* no module: a memfd */
#define BUFPOOL_INFO_F_HUGETLB	0x2u	/* in hugetlb pages */

#define BUFPOOL_INFO_SIZE_VER0	88	/* ABI 1.0 */
#define BUFPOOL_INFO_SIZE_VER1	128	/* ABI 1.1 */
#define BUFPOOL_INFO_SIZE_VER2	144	/* ABI 1.2 */
#define BUFPOOL_INFO_SIZE_VER3	176	/* ABI 1.3 */

/* ioctl type 0xBA, unused in Documentation/userspace-api/ioctl. */
#define BUFPOOL_IOC_MAGIC	0xBA
#define BUFPOOL_IOC_INFO	_IOR(BUFPOOL_IOC_MAGIC, 0x00, struct bufpool_info)

/*
 * ABI 1.2: BUFPOOL_IOC_ATTACH - declare that this open file keeps the
 * ownership records of ABI 1.2 (own[], the caches' pending words), passing the
 * BUFPOOL_ABI_VERSION the client was built with.  Returns the client id
 * (> 0).  EPROTO for another major.  The kernel reclaims what a dead
 * client held only while every client that maps the pool has attached:
 * an older client's holdings cannot be told from lost buffers.
 */
#define BUFPOOL_IOC_ATTACH	_IOW(BUFPOOL_IOC_MAGIC, 0x01, __u32)

/*
 * ABI 1.2: BUFPOOL_IOC_AUDIT - reconcile the pool now and report.  The
 * kernel stops every mapping of the control area for the duration (a
 * thread touching it waits in a page fault), checks every list and
 * record, repairs what no correct client could have written, and gives
 * back to the pool what nobody holds.  Afterwards
 *   free + cached + held + transit == buf_count.
 * Extensible like BUFPOOL_IOC_INFO.
 */
struct bufpool_audit {
	__u32 size;		/* bytes of this struct the kernel filled */
	__u32 clients;		/* open files of the pool */
	__u32 buf_count;
	__u32 free;		/* on the free list or in depot magazines */
	__u32 cached;		/* in magazines of live threads' caches */
	__u32 held;		/* held by live clients (own[], in flight) */
	__u32 transit;		/* handed off, not adopted yet */
				/* (ABI 1.3: and queued, see ->queued) */
	__u32 reclaimed;	/* nobody held them: given back by this audit */
	__u32 repaired;		/* corrupt links, entries or records fixed */
	__u32 legacy;		/* clients mapping without ATTACH */
	__u64 generation;
	/* ABI 1.3 */
	__u32 queued;		/* in queues (not counted in transit) */
	__u32 queues;		/* live queues */
};

#define BUFPOOL_AUDIT_SIZE_VER0	48
#define BUFPOOL_AUDIT_SIZE_VER1	56	/* ABI 1.3 */
#define BUFPOOL_IOC_AUDIT	_IOR(BUFPOOL_IOC_MAGIC, 0x02, struct bufpool_audit)

/*
 * ABI 1.2: BUFPOOL_IOC_WAIT - sleep until the control area's wake_seq
 * differs from seq, or timeout_ns passes (< 0: no limit).  0 when it
 * moved, ETIMEDOUT, EINTR on a signal.  BUFPOOL_IOC_WAKE - wake every
 * waiter of the pool (after moving wake_seq).
 */
struct bufpool_wait {
	__u32 seq;
	__u32 __pad;
	__s64 timeout_ns;
};

#define BUFPOOL_IOC_WAIT	_IOW(BUFPOOL_IOC_MAGIC, 0x03, struct bufpool_wait)
#define BUFPOOL_IOC_WAKE	_IO(BUFPOOL_IOC_MAGIC, 0x04)

/*
 * ABI 1.4: BUFPOOL_IOC_REPAIR - a client found in the control area what
 * no correct client writes (its library answered EUCLEAN): reconcile
 * the pool as BUFPOOL_IOC_AUDIT does, while every client stays open.
 * Counted in the pool's repair_requests.  Without flags the caller
 * waits for a reconciliation that starts after its call (EINTR on a
 * signal); with BUFPOOL_REPAIR_ASYNC the kernel schedules one and the
 * call returns at once.  EBUSY while a client maps the pool without
 * ATTACH, EINVAL for unknown flags.
 *
 * Rate limit: reconciliations that clients ask for (REPAIR and AUDIT)
 * stop every client of the pool, so the kernel spaces them: one starts
 * at least repair_interval_ms (module parameter) after the last one
 * ended, and at least 100 times its duration after it, so that a client
 * asking in a loop stops the others for at most 1% of the time.  A
 * caller that comes early waits (AUDIT too); an early ASYNC request is
 * run when its time comes.
 */
#define BUFPOOL_REPAIR_ASYNC	0x1u

#define BUFPOOL_IOC_REPAIR	_IOW(BUFPOOL_IOC_MAGIC, 0x06, __u32)

/*
 * Shared control area, at info.ctrl_offset, writable by every client.
 *
 * The kernel fills it when the pool is built and never trusts it
 * afterwards: anything it reads back is bounds-checked.  The geometry
 * words are a copy for self-describing memory; a library takes geometry
 * and offsets from BUFPOOL_IOC_INFO, never from here.  The free-list head sits on its own cache
 * line; next[] starts at ->next_offset from the start of the area and
 * holds one 32-bit link per buffer.
 */
#define BUFPOOL_CTRL_MAGIC	0x4C4F4F50465542ULL	/* "BUFPOOL" */
#define BUFPOOL_CTRL_NEXT_OFFSET	4096	/* next[] after the header page */
#define BUFPOOL_CACHELINE	64

struct bufpool_ctrl {
	__u64 magic;
	__u32 abi_version;
	__u32 buf_shift;	/* as in struct bufpool_info */
	__u32 buf_count;
	__u32 buf_stride;	/* ABI 1.8, in what was padding */
	__u64 next_offset;	/* offset of __u32 next[buf_count] */
	__u64 generation;
	/* ABI 1.2 */
	__u64 own_offset;	/* offset of __u32 own[buf_count] */
	__u32 next_client;	/* module-free pools: last client id given */
	__u32 __pad1;
	__u64 kernel_released;	/* held by dead clients, given back */

	/* Free list of buffers: {tag:40, index:24}. */
	__u64 free_head;	/* at offset 64 */
	__u8 __pad2[BUFPOOL_CACHELINE - 8];

	/* ABI 1.1: the depot, stacks of magazine ids, {tag:40, id:24}. */
	__u64 full_head;	/* magazines holding buffers */
	__u8 __pad3[BUFPOOL_CACHELINE - 8];
	__u64 empty_head;	/* empty magazines */
	__u8 __pad4[BUFPOOL_CACHELINE - 8];
	/* Geometry copy, as in struct bufpool_info. */
	__u32 mag_fill;
	__u32 nr_mags;
	__u32 nr_caches;
	__u32 depot_flags;	/* ABI 1.9, as in struct bufpool_info */
	__u64 mag_next_offset;
	__u64 mags_offset;
	__u64 caches_offset;
	/* ABI 1.2: statistics; see struct bufpool_cache */
	__u64 high_watermark;	/* most buffers in use seen by a reader */
	__u8 __pad6[BUFPOOL_CACHELINE - 48];
	/*
	 * ABI 1.2: blocking acquire.  A waiter counts itself in waiters and
	 * sleeps until wake_seq moves (BUFPOOL_IOC_WAIT; a futex on a
	 * module-free pool); a release that sees waiters gives its buffer to
	 * the shared list, moves wake_seq and wakes them.
	 */
	__u32 waiters;
	__u32 wake_seq;
	__u8 __pad8[BUFPOOL_CACHELINE - 8];
	/* ABI 1.3: geometry copy of the queues and the live-client map. */
	__u32 nr_queues;
	__u32 queue_len;
	__u64 queues_offset;
	__u64 qslots_offset;
	__u64 live_offset;
	/*
	 * ABI 1.4 (in what was padding): corruption that clients' libraries
	 * found (each detection adds one), and the reconciliations the
	 * kernel ran while clients stayed open (REPAIR and AUDIT; the
	 * kernel's own count, copied here after each).  Statistics only:
	 * any client can write them; sysfs has the kernel's copy.
	 */
	__u64 detected;
	__u64 repairs;
	__u8 __pad9[BUFPOOL_CACHELINE - 48];
	/*
	 * ABI 1.5: threads without a cache (docs/DESIGN.md, "The shared
	 * path").  caches_free is a hint: the caches whose owner is 0, kept
	 * by the clients that claim and free them and recounted by the
	 * kernel after each reconciliation; a thread working without a
	 * cache claims one when it reads non-zero.  Garbage in it costs
	 * speed, never correctness.
	 */
	__u32 caches_free;
	__u8 __pad10[BUFPOOL_CACHELINE - 4];
	/*
	 * ABI 1.5: statistics of the operations threads made without a
	 * cache (one atomic add each, by any client; included in the sums
	 * of struct bufpool_cache's counters that readers report).
	 */
	__u64 shared_acquires;
	__u64 shared_releases;
	__u64 shared_exhausted;
	__u8 __pad11[BUFPOOL_CACHELINE - 24];
	/*
	 * ABI 1.9: the rotating depot (BUFPOOL_DEPOT_ROTATE).  full2_head
	 * is the second stack of full magazines, {tag:40, id:24} over
	 * mag_next[] as full_head; depot_turn's low bit says which stack
	 * takes full magazines now (0: full_head), the other gives them.
	 * Both are empty or unused in a pool that does not rotate.  The
	 * turn is a hint: garbage in it costs order, never a magazine.
	 */
	__u64 full2_head;
	__u8 __pad12[BUFPOOL_CACHELINE - 8];
	__u32 depot_turn;
	__u8 __pad13[BUFPOOL_CACHELINE - 4];
};

#define BUFPOOL_CTRL_SIZE_VER0	128	/* ABI 1.0 */
#define BUFPOOL_CTRL_SIZE_VER1	320	/* ABI 1.1 */
#define BUFPOOL_CTRL_SIZE_VER2	384	/* ABI 1.2 */
#define BUFPOOL_CTRL_SIZE_VER3	448	/* ABI 1.3 */
#define BUFPOOL_CTRL_SIZE_VER4	448	/* ABI 1.4: same size */
#define BUFPOOL_CTRL_SIZE_VER5	576	/* ABI 1.5 */
#define BUFPOOL_CTRL_SIZE_VER6	576	/* ABI 1.6: same size */
#define BUFPOOL_CTRL_SIZE_VER9	704	/* ABI 1.9 */

/*
 * A magazine (Bonwick): an array of buffer indices moved as a whole
 * between a thread's cache and the depot.  idx[0..count) are buffers,
 * count <= the pool's mag_fill.
 *
 * Magazine id i starts at mags_offset + i * BUFPOOL_MAG_STRIDE(mag_fill).
 * Up to ABI 1.5 mag_fill was at most BUFPOOL_MAG_CAP and a magazine
 * took 256 bytes, which is still the stride of every such pool, so that
 * those clients map them as before.  From ABI 1.6 a pool may be made
 * with magazines of up to BUFPOOL_MAG_MAX buffers (sized for bursts):
 * a magazine has room for mag_fill rounded up to 64 k - 1 indices, and
 * with its count takes 256 k bytes.  A client older than 1.6 refuses a
 * pool whose mag_fill is above the BUFPOOL_MAG_CAP it knows.
 */
#define BUFPOOL_MAG_CAP		63
#define BUFPOOL_MAG_MAX		1023
#define BUFPOOL_MAG_ROOM(fill)	((fill) | BUFPOOL_MAG_CAP)
#define BUFPOOL_MAG_STRIDE(fill)	(4u * (BUFPOOL_MAG_ROOM(fill) + 1))
struct bufpool_mag {
	__u32 count;
	__u32 idx[];		/* mag_fill entries */
};

/*
 * One thread's cache, claimed by a client: the two magazines the
 * thread holds (Bonwick's loaded and previous), by id, BUFPOOL_IDX_NIL
 * for none, and the magazine it is moving to or from the depot.  Written
 * by its thread only; what a dead client's caches name is its to reclaim.
 */
struct bufpool_cache {
	__u32 owner;		/* client that claimed it, 0: free */
	__u32 loaded;
	__u32 prev;
	__u32 pending;		/* magazine being taken from the depot */
	__u32 pend_buf;		/* ABI 1.2: buffer being taken, free list */
	/*
	 * ABI 1.2: statistics of the threads that used this cache, written
	 * by the cache's thread only (no shared line on the fast path),
	 * summed by readers, never reset while the pool lives.
	 */
	__u32 exhausted;	/* acquires that found the pool empty */
	__u64 acquires;
	__u64 releases;
	__u8 __pad[BUFPOOL_CACHELINE - 40];
};

/* Limits of the caches module parameter. */
#define BUFPOOL_MAX_CACHES	4096

/*
 * ABI 1.2: ownership records.  own[i] says who holds buffer i outside
 * the free structures: BUFPOOL_OWN_FREE (nobody: it is on the free list
 * or in a magazine), a client id, BUFPOOL_OWN_TRANSIT | giver for a
 * buffer handed to another process and not adopted yet, or
 * BUFPOOL_OWN_QUARANTINE | client for one the client released in debug
 * mode and will make reusable later (it is still the client's).  The
 * rules that make every buffer attributable at every instruction are in
 * docs/DESIGN.md, "Ownership and recovery".
 */
#define BUFPOOL_OWN_FREE	0u
#define BUFPOOL_OWN_TRANSIT	0x80000000u
#define BUFPOOL_OWN_QUARANTINE	0x40000000u	/* released in debug mode */
#define BUFPOOL_CLIENT_MAX	0xffffu		/* client ids 1..this */
/*
 * ABI 1.3: an addressed handoff, BUFPOOL_OWN_TO | receiver: only that
 * client may adopt it, and it goes back to the pool when the receiver
 * is gone (where an unaddressed handoff outlives everyone).
 */
#define BUFPOOL_OWN_TO		(BUFPOOL_OWN_TRANSIT | BUFPOOL_OWN_QUARANTINE)
#define BUFPOOL_OWN_KIND	BUFPOOL_OWN_TO	/* the kind bits of own[i] */
/*
 * ABI 1.7: BUFPOOL_OWN_CACHED | c for a free buffer in a magazine of
 * cache c (< nr_caches), written by the thread that uses cache c when it
 * gives the buffer to its magazine, or (library 1.9.1) when cache c,
 * its record naming the magazine, loads it from the depot: one pass of
 * compare-and-swaps from BUFPOOL_OWN_FREE, one per buffer.  Only that
 * thread takes a buffer so marked, so its take needs no atomic
 * read-modify-write; a buffer whose record is BUFPOOL_OWN_FREE (in a
 * magazine filled from the free list, or one a client older than 1.9.1
 * took from the depot) is taken with a compare-and-swap as before.  The
 * thread clears its marks before a magazine leaves the cache, so that
 * the depot and the free list hold only BUFPOOL_OWN_FREE buffers.
 * Never a client id (above BUFPOOL_CLIENT_MAX) nor a hold: the kernel
 * keeps the mark of a buffer that a live cache's magazine names and
 * clears every other.
 */
#define BUFPOOL_OWN_CACHED	0x20000000u
#define BUFPOOL_OWN_CACHE_MASK	0x0000ffffu	/* c, below BUFPOOL_MAX_CACHES */

/*
 * ABI 1.3: the live-client map, at info.live_offset: bit c of
 * live[c / 64] is set while client c has the pool open.  The module
 * sets a client's bit at open and clears it (followed by a full
 * barrier) before it reconciles the pool for the client's departure;
 * a module-free pool's library sets and clears its own.  It is a
 * hint for clients (an addressed handoff checks that its receiver still
 * lives); the module never reads it.
 */
#define BUFPOOL_LIVE_WORDS	((BUFPOOL_CLIENT_MAX + 1) / 64)

/*
 * ABI 1.5: the in-flight counts, right after the live-client map (at
 * info.live_offset + BUFPOOL_INFLIGHT_GAP): __u32 inflight[c] counts
 * the operations client c's threads have in flight on the shared path,
 * the one a thread takes when it has no cache (docs/DESIGN.md, "The
 * shared path").  A thread adds one before the take or give that no
 * record of its own names for an instant, and takes it back (release)
 * after.  While a live client's count is not 0, the kernel's
 * reconciliation leaves what nobody names where it is (it may be that
 * thread's take in flight) and gives it back later; the kernel zeroes
 * a client's count when it is gone.
 */
#define BUFPOOL_INFLIGHT_GAP	(8 * BUFPOOL_LIVE_WORDS)
#define BUFPOOL_INFLIGHT_WORDS	(BUFPOOL_CLIENT_MAX + 1)

/*
 * ABI 1.3: queues.  A pool has nr_queues queue descriptors and, for
 * each, queue_len slots; a queue is a bounded FIFO of buffer indices
 * (docs/DESIGN.md, "Queues").  Enqueue moves a buffer from its holder to
 * the queue, dequeue from the queue to the one consumer; the kernel's
 * reconciliation counts what a queue holds as queued, neither free nor
 * lost, and gives it back to the pool when the queue's last user goes.
 *
 * A slot is one 64-bit word {lap:40, idx:24}: position p of the queue
 * lives in slot p % size with lap p / size (mod 2^40); idx is a buffer,
 * BUFPOOL_QUEUE_EMPTY, or BUFPOOL_QUEUE_SKIP (a position the kernel
 * voided while repairing; consumers pass over it).
 */
#define BUFPOOL_QUEUE_NAME_MAX	32	/* with the NUL: names of 1..31 */
#define BUFPOOL_QUEUE_EMPTY	BUFPOOL_IDX_NIL
#define BUFPOOL_QUEUE_SKIP	(BUFPOOL_IDX_NIL - 1)
#define BUFPOOL_MAX_QUEUES	64
#define BUFPOOL_MAX_QUEUE_LEN	0x100000u	/* 2^20 */

/* Descriptor states. */
#define BUFPOOL_QSTATE_FREE	0u
#define BUFPOOL_QSTATE_LIVE	1u
#define BUFPOOL_QSTATE_BUSY	2u	/* module-free: being created */

/* Queue flags, fixed at creation (and BUFPOOL_IOC_QUEUE's flags). */
#define BUFPOOL_QUEUE_SP	0x1u	/* one producer at a time */
#define BUFPOOL_QUEUE_DECLARED	0x2u	/* made by a module parameter */

struct bufpool_qdesc {
	/* Producers' line. */
	__u64 tail;		/* positions taken by producers */
	__u64 full;		/* enqueues refused: full */
	__u64 high_watermark;	/* most buffers queued a producer saw */
	__u8 __pad0[BUFPOOL_CACHELINE - 24];
	/* The consumer's line. */
	__u64 head;		/* positions consumed */
	__u8 __pad1[BUFPOOL_CACHELINE - 8];
	/* What it is, written when it is created; the kernel's copy rules. */
	__u32 state;		/* BUFPOOL_QSTATE_* */
	__u32 flags;		/* BUFPOOL_QUEUE_SP, _DECLARED */
	__u32 capacity;		/* = size, a power of two <= queue_len */
	__u32 consumer;		/* client holding the consumer role, 0 none */
	__u32 producer;		/* SP: client holding the producer role */
	__u32 users;		/* clients that have it open */
	__u64 generation;	/* changes each time a queue is made here */
	char name[BUFPOOL_QUEUE_NAME_MAX];
	__u8 __pad2[BUFPOOL_CACHELINE];
};

#define BUFPOOL_QUEUE_DESC_SIZE	256

/*
 * ABI 1.3: BUFPOOL_IOC_QUEUE - open (and perhaps create) a queue by
 * name, or close one.  op BUFPOOL_QOP_OPEN: in name, flags
 * (BUFPOOL_QOPEN_*), capacity when creating; out id (the descriptor),
 * capacity, generation.  The opener becomes one of the queue's users;
 * with BUFPOOL_QOPEN_CONSUME it takes the consumer role (EBUSY while a
 * live client has it), with BUFPOOL_QOPEN_PRODUCE on an SP queue the
 * producer role (EBUSY likewise).  op BUFPOOL_QOP_CLOSE: in id; the
 * caller stops being a user and drops its roles; when the last user
 * goes, what the queue holds goes back to the pool and a queue a client
 * made disappears (one declared by a module parameter stays, empty).
 * Errors: ENOENT (no such queue, no CREATE), EEXIST (CREATE|EXCL and
 * it exists), EINVAL (bad name, capacity 0 or above queue_len, unknown
 * flags or op, an id this client has not open), ENOSPC (every
 * descriptor in use), EBUSY (a role is taken), EALREADY (this client
 * has it open already).  Extensible like BUFPOOL_IOC_INFO.
 */
#define BUFPOOL_QOP_OPEN	1u
#define BUFPOOL_QOP_CLOSE	2u

#define BUFPOOL_QOPEN_CREATE	0x01u	/* create it when missing */
#define BUFPOOL_QOPEN_EXCL	0x02u	/* with CREATE: EEXIST if it exists */
#define BUFPOOL_QOPEN_SP	0x04u	/* when creating: single producer */
#define BUFPOOL_QOPEN_PRODUCE	0x10u	/* this client enqueues */
#define BUFPOOL_QOPEN_CONSUME	0x20u	/* this client is the consumer */

struct bufpool_queue_req {
	__u32 size;		/* bytes of this struct the kernel filled */
	__u32 op;		/* BUFPOOL_QOP_* */
	__u32 flags;		/* BUFPOOL_QOPEN_* */
	__u32 capacity;		/* in: when creating; out: the queue's */
	__u32 id;		/* out (OPEN), in (CLOSE): descriptor index */
	__u32 queue_flags;	/* out: BUFPOOL_QUEUE_* */
	__u64 generation;	/* out */
	char name[BUFPOOL_QUEUE_NAME_MAX];
};

#define BUFPOOL_QUEUE_REQ_SIZE_VER0	64
#define BUFPOOL_IOC_QUEUE	_IOWR(BUFPOOL_IOC_MAGIC, 0x05, \
				      struct bufpool_queue_req)

#endif /* _UAPI_LINUX_BUFPOOL_H */
