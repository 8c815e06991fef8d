/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * bufpool: the tagged free list, the one implementation that bufpool.ko
 * and libbufpool-user both compile.  It holds the pool's free buffers
 * (free_head over next[]) and the depot's magazines (full_head and
 * empty_head over mag_next[]).
 *
 * A Treiber stack of 32-bit buffer indices in shared memory.  The head is
 * one 64-bit word holding {tag:40, index:24}; every successful update
 * increments the tag, so a thread that read the head, was descheduled
 * and retries its compare-and-swap cannot succeed against a head that
 * went A -> B -> A meanwhile (ABA).  A 40-bit tag at one update per
 * nanosecond wraps after 18 minutes of continuous operations between one
 * thread's load and its CAS; a 32-bit tag would wrap in 4 seconds.
 *
 * Links live in next[], one word per buffer, outside the buffers, so a
 * client scribbling over a buffer it holds cannot corrupt the list.
 *
 * Progress: lock-free.  A CAS fails only because another operation
 * succeeded.  A thread that stops or dies anywhere in an operation
 * leaves the list consistent: before its CAS nothing shared was changed
 * except next[] of a buffer it owns; after it, the operation is complete.
 * At worst the buffer it was taking or giving is lost to the free list,
 * and that buffer was attributable to it.
 *
 * Shared words are touched only through the shims of <bufpool/atomic.h>.
 * Memory ordering: a pusher writes next[i] (relaxed), then publishes i
 * with a release CAS; a popper loads the head with acquire before
 * reading next[head].  Every change of the head is a read-modify-write,
 * so each push heads a release sequence that all later updates continue.
 *
 * Every value read from shared memory may be garbage (another client may
 * be buggy or hostile): indices are masked and bounds-checked, no
 * function loops over list contents, and no function retries a CAS more
 * than BP_FL_TRIES times.  Correct clients never come near that bound
 * (each failed CAS is another operation that succeeded within the few
 * instructions between a load and a CAS); a client that rewrites a head
 * in a loop could otherwise keep the others retrying for ever.
 */
#ifndef _BUFPOOL_FREELIST_H
#define _BUFPOOL_FREELIST_H

#include <linux/bufpool.h>
#include <bufpool/atomic.h>

/*
 * A test can stop a thread between its read of a head and its CAS, to
 * show that nobody else waits for it.  Empty everywhere else.
 */
#ifndef BP_FL_TEST_HOOK
#define BP_FL_TEST_HOOK(head)	do { } while (0)
#endif

#define BP_FL_TAG_SHIFT		BUFPOOL_IDX_BITS
#define BP_FL_CORRUPT		0xffffffffu	/* not a valid index */
#define BP_FL_BUSY		0xfffffffeu	/* gave up: BP_FL_TRIES races */
#define BP_FL_TRIES		65536

static inline __u64 bp_fl_pack(__u32 idx, __u64 tag)
{
	return (tag << BP_FL_TAG_SHIFT) | (idx & BUFPOOL_IDX_MASK);
}

static inline __u32 bp_fl_idx(__u64 head)
{
	return (__u32)head & BUFPOOL_IDX_MASK;
}

static inline __u64 bp_fl_next_tag(__u64 head)
{
	return (head >> BP_FL_TAG_SHIFT) + 1;
}

/*
 * bp_fl_init_range - link entries first..end-1 in order into the list
 * at head (empty when first == end).  Only for a list nobody else can
 * see yet.
 */
static inline void bp_fl_init_range(__u64 *head, __u32 *next, __u32 first,
				    __u32 end)
{
	__u32 i;

	for (i = first; i + 1 < end; i++)
		bp_store_relaxed_u32(&next[i], i + 1);
	if (first < end)
		bp_store_relaxed_u32(&next[end - 1], BUFPOOL_IDX_NIL);
	bp_store_relaxed_u64(head, bp_fl_pack(first < end ? first :
					      BUFPOOL_IDX_NIL, 0));
}

/* bp_fl_init - link buffers 0..count-1 in order. */
static inline void bp_fl_init(__u64 *head, __u32 *next, __u32 count)
{
	bp_fl_init_range(head, next, 0, count);
}

/*
 * bp_fl_pop_rec - take one entry, announcing it first.
 * Returns its index, BUFPOOL_IDX_NIL when the list is empty,
 * BP_FL_CORRUPT when the shared words hold something no correct client
 * could have written, or BP_FL_BUSY after BP_FL_TRIES lost races.
 *
 * rec, when not NULL, is the caller's in-flight record (a thread's cache's
 * pend_buf or pending word): the index about to be taken is stored there
 * before the CAS that takes it, and stays there on success, so that at
 * every instruction what a client took is named by a record of its own.
 * The caller moves it to its final record and then clears rec.  An
 * announced index still on the list is not taken (the list wins).
 */
static inline __u32 bp_fl_pop_rec(__u64 *head, __u32 *next, __u32 count,
				  __u32 *rec)
{
	__u64 old = bp_load_acquire_u64(head);
	__u64 again;
	__u32 idx, nxt, tries;

	for (tries = 0; tries < BP_FL_TRIES; tries++) {
		idx = bp_fl_idx(old);
		if (idx == BUFPOOL_IDX_NIL)
			return BUFPOOL_IDX_NIL;
		if (idx >= count)
			return BP_FL_CORRUPT;
		/*
		 * next[idx] may change under us if another thread pops idx
		 * and pushes it back; then the head's tag has moved and the
		 * CAS below fails.  A bad link with an unchanged head is
		 * corruption, not a race.  A link to itself is bad too: no
		 * correct client ever writes one (a push links an entry to
		 * the head it is not), and taking it would leave the entry
		 * at the head, for the next taker to take a second time.
		 */
		nxt = bp_load_relaxed_u32(&next[idx]) & BUFPOOL_IDX_MASK;
		if ((nxt >= count && nxt != BUFPOOL_IDX_NIL) || nxt == idx) {
			again = bp_load_acquire_u64(head);
			if (again == old)
				return BP_FL_CORRUPT;
			old = again;
			continue;
		}
		if (rec)
			bp_store_relaxed_u32(rec, idx);
		BP_FL_TEST_HOOK(head);
		/* acq_rel: the announcement is visible before the take. */
		if (bp_cas_acqrel_u64(head, &old,
				      bp_fl_pack(nxt, bp_fl_next_tag(old))))
			return idx;
		bp_cpu_relax();
	}
	return BP_FL_BUSY;
}

static inline __u32 bp_fl_pop(__u64 *head, __u32 *next, __u32 count)
{
	return bp_fl_pop_rec(head, next, count, (__u32 *)0);
}

/*
 * bp_fl_push_chain - give back buffers already linked first -> ... -> last
 * through next[].  The caller owns them and has checked both indices.
 * Returns 0, or -1 after BP_FL_TRIES lost races: then the entries are on
 * no list, and the caller's records name them or nothing does (lost
 * until the kernel next reconciles the pool, which gives them back).
 */
static inline int bp_fl_push_chain(__u64 *head, __u32 *next,
				   __u32 first, __u32 last)
{
	__u64 old = bp_load_relaxed_u64(head);
	__u32 tries;

	for (tries = 0; tries < BP_FL_TRIES; tries++) {
		bp_store_relaxed_u32(&next[last], bp_fl_idx(old));
		BP_FL_TEST_HOOK(head);
		if (bp_cas_release_u64(head, &old,
				       bp_fl_pack(first, bp_fl_next_tag(old))))
			return 0;
		bp_cpu_relax();
	}
	return -1;
}

static inline int bp_fl_push(__u64 *head, __u32 *next, __u32 idx)
{
	return bp_fl_push_chain(head, next, idx, idx);
}

/* Append idx to a chain first -> ... -> last being built through next[]. */
static inline void bp_fl_chain_add(__u32 *next, __u32 *first, __u32 *last,
				   __u32 idx)
{
	if (*first == BUFPOOL_IDX_NIL)
		*first = idx;
	else
		bp_store_relaxed_u32(&next[*last], idx);
	*last = idx;
}

#endif /* _BUFPOOL_FREELIST_H */
