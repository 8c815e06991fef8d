/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * bufpool: the atomic accesses of the shared algorithm, for both sides.
 *
 * Every word of a control area is mapped by userspace, so it is touched
 * only through these shims: a single READ_ONCE/WRITE_ONCE or atomic in
 * the kernel, a C11 atomic with an explicit order in the library.  The
 * shared words are plain __u64/__u32 in the ABI structures; the library
 * casts them to _Atomic of the same size, which GCC and Clang define for
 * naturally aligned objects.
 *
 * The CAS shims update *old with the current value when they fail; the
 * failure order of bp_cas_acqrel_u64() is at least acquire.
 */
#ifndef _BUFPOOL_ATOMIC_H
#define _BUFPOOL_ATOMIC_H

#ifdef __KERNEL__

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

static inline void bp_store_release_u64(__u64 *p, __u64 v)
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

static inline bool bp_cas_relaxed_u32(__u32 *p, __u32 *old, __u32 new)
{
	return try_cmpxchg_relaxed(p, old, new);
}

static inline void bp_cpu_relax(void)
{
	cpu_relax();
}

#else /* !__KERNEL__ */

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

static inline void bp_store_release_u64(__u64 *p, __u64 v)
{
	atomic_store_explicit((_Atomic __u64 *)p, v, memory_order_release);
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

/* A strong CAS: fails only when *p differs from *old. */
static inline bool bp_cas_relaxed_u32(__u32 *p, __u32 *old, __u32 new)
{
	return atomic_compare_exchange_strong_explicit((_Atomic __u32 *)p,
						       old, new,
						       memory_order_relaxed,
						       memory_order_relaxed);
}

static inline void bp_cpu_relax(void)
{
	caa_cpu_relax();
}

#endif /* __KERNEL__ */

#endif /* _BUFPOOL_ATOMIC_H */
