/* SPDX-License-Identifier: MIT */
/*
 * Userspace atomic shims for the shared free-list algorithm in
 * uapi/linux/bufpool_freelist.h: C11 atomics with explicit orders.
 * The shared words are plain __u64/__u32 in the ABI structures; they are
 * accessed only through these casts, which GCC and Clang define for
 * naturally aligned objects of the same size.
 */
#ifndef BUFPOOL_USER_FREELIST_H
#define BUFPOOL_USER_FREELIST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <linux/types.h>
#include <urcu/arch.h>	/* caa_cpu_relax(): the CPU's spin-wait hint */

static inline __u64 bp_load_acquire_u64(__u64 *p)
{
	return atomic_load_explicit((_Atomic __u64 *)p, memory_order_acquire);
}

static inline __u64 bp_load_relaxed_u64(__u64 *p)
{
	return atomic_load_explicit((_Atomic __u64 *)p, memory_order_relaxed);
}

static inline __u32 bp_load_relaxed_u32(__u32 *p)
{
	return atomic_load_explicit((_Atomic __u32 *)p, memory_order_relaxed);
}

static inline void bp_store_relaxed_u32(__u32 *p, __u32 v)
{
	atomic_store_explicit((_Atomic __u32 *)p, v, memory_order_relaxed);
}

static inline void bp_store_relaxed_u64(__u64 *p, __u64 v)
{
	atomic_store_explicit((_Atomic __u64 *)p, v, memory_order_relaxed);
}

static inline void bp_store_release_u32(__u32 *p, __u32 v)
{
	atomic_store_explicit((_Atomic __u32 *)p, v, memory_order_release);
}

static inline bool bp_cas_acqrel_u64(__u64 *p, __u64 *old, __u64 new)
{
	return atomic_compare_exchange_weak_explicit((_Atomic __u64 *)p,
						     old, new,
						     memory_order_acq_rel,
						     memory_order_acquire);
}

static inline bool bp_cas_release_u64(__u64 *p, __u64 *old, __u64 new)
{
	return atomic_compare_exchange_weak_explicit((_Atomic __u64 *)p,
						     old, new,
						     memory_order_release,
						     memory_order_relaxed);
}

static inline void bp_cpu_relax(void)
{
	caa_cpu_relax();
}

#include <linux/bufpool_freelist.h>

#endif /* BUFPOOL_USER_FREELIST_H */
