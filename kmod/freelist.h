/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bufpool: kernel atomic shims for the shared free-list algorithm in
 * uapi/linux/bufpool_freelist.h.  The memory they touch is mapped by
 * userspace, so every access is a single READ_ONCE/WRITE_ONCE or atomic.
 */
#ifndef BUFPOOL_FREELIST_H
#define BUFPOOL_FREELIST_H

#include <linux/atomic.h>
#include <linux/compiler.h>
#include <linux/processor.h>
#include <linux/types.h>

static inline __u64 bp_load_acquire_u64(__u64 *p)
{
	/* Pairs with the release CAS of a push: next[head] is visible. */
	return smp_load_acquire(p);
}

static inline __u64 bp_load_relaxed_u64(__u64 *p)
{
	return READ_ONCE(*p);
}

static inline __u32 bp_load_relaxed_u32(__u32 *p)
{
	return READ_ONCE(*p);
}

static inline void bp_store_relaxed_u32(__u32 *p, __u32 v)
{
	WRITE_ONCE(*p, v);
}

static inline void bp_store_relaxed_u64(__u64 *p, __u64 v)
{
	WRITE_ONCE(*p, v);
}

static inline void bp_store_release_u32(__u32 *p, __u32 v)
{
	/* Orders the caller's earlier stores (a record) before this one. */
	smp_store_release(p, v);
}

static inline bool bp_cas_acqrel_u64(__u64 *p, __u64 *old, __u64 new)
{
	return try_cmpxchg64(p, old, new);	/* fully ordered */
}

static inline bool bp_cas_release_u64(__u64 *p, __u64 *old, __u64 new)
{
	return try_cmpxchg64_release(p, old, new);
}

static inline void bp_cpu_relax(void)
{
	cpu_relax();
}

#include <linux/bufpool_freelist.h>

#endif /* BUFPOOL_FREELIST_H */
