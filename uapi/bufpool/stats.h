/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * bufpool: the pool's statistics, kept in the shared caches by the
 * threads that act (in the control area's shared_* words by threads
 * without a cache) and summed by whoever reads them (the module's sysfs
 * and BUFPOOL_IOC_AUDIT, the library's bufpool_stats()).
 */
#ifndef _BUFPOOL_STATS_H
#define _BUFPOOL_STATS_H

#include <bufpool/layout.h>

/*
 * Statistics, summed over the caches; racy but each word is read
 * once and is monotonic, so a reader sees each counter at some recent
 * value.  in_use counts what clients took and have not given back, less
 * what the kernel gave back for clients that died holding it; buffers
 * in thread caches are not in use.
 */
struct bp_stats {
	__u64 acquires;
	__u64 releases;
	__u64 exhausted;
	__u64 in_use;
	__u64 shared_acquires;	/* of acquires: without a cache (1.5) */
	__u64 shared_releases;	/* of releases: without a cache (1.5) */
};

static inline void bp_stats_sum(struct bp_shm *s, struct bufpool_ctrl *c,
				struct bp_stats *st)
{
	__u64 acq = 0, rel = 0, exh = 0, freed;
	__u32 i;

	for (i = 0; i < s->nr_caches; i++) {
		acq += bp_load_relaxed_u64(&s->caches[i].acquires);
		rel += bp_load_relaxed_u64(&s->caches[i].releases);
		exh += bp_load_relaxed_u32(&s->caches[i].exhausted);
	}
	/* ABI 1.5: what threads without a cache did. */
	st->shared_acquires = bp_load_relaxed_u64(&c->shared_acquires);
	st->shared_releases = bp_load_relaxed_u64(&c->shared_releases);
	acq += st->shared_acquires;
	rel += st->shared_releases;
	exh += bp_load_relaxed_u64(&c->shared_exhausted);
	freed = bp_load_relaxed_u64(&c->kernel_released);
	st->acquires = acq;
	st->releases = rel;
	st->exhausted = exh;
	/* Garbage or a reader racing the counters: clamp to the pool. */
	st->in_use = acq > rel + freed ? acq - rel - freed : 0;
	if (st->in_use > s->buf_count)
		st->in_use = s->buf_count;
}

/*
 * bp_stats_high_watermark - raise the pool's high watermark to in_use if
 * it is lower, and return the watermark a reader reports.  Any client
 * can rewrite the word, so the CAS is tried a few times only: the
 * watermark is a statistic, and a reader that keeps losing the race
 * gives up (the kernel runs this too, and must not spin on a word a
 * client controls).
 */
#define BP_STATS_HWM_TRIES	4

static inline __u64 bp_stats_high_watermark(struct bufpool_ctrl *c,
					    __u64 in_use)
{
	__u64 hwm = bp_load_relaxed_u64(&c->high_watermark);
	int tries = BP_STATS_HWM_TRIES;

	while (hwm < in_use && tries-- > 0 &&
	       !bp_cas_acqrel_u64(&c->high_watermark, &hwm, in_use))
		;
	return hwm > in_use ? hwm : in_use;
}

#endif /* _BUFPOOL_STATS_H */
