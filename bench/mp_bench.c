// SPDX-License-Identifier: MIT
/*
 * mp_bench: messages between two processes over a shared pool and a
 * queue, bufpool against DPDK's multi-process mode, and what each loses
 * when the consumer process is killed mid-stream.
 *
 * Peers (rows in bench/matrix.c's CSV format, so bench/run.sh appends
 * them to the same table):
 *   bufpool-queue  a pool (memfd over 2 MiB hugetlb pages when some are
 *                  reserved, or /dev/bufpool with --device) and a
 *                  single-producer queue of 64 entries: the producer
 *                  process acquires a buffer, writes the message,
 *                  enqueues it; the consumer process dequeues, reads,
 *                  releases.  Burst 32: the bulk forms.
 *   dpdk-mp        (built with HAVE_DPDK) a primary process creates a
 *   dpdk-mp-c0     mempool (lcore cache 256, or none) and an SP/SC
 *                  rte_ring of 64 over hugepages (its own hugetlbfs
 *                  mount); a secondary process looks both up.  The
 *                  primary gets an object, writes, enqueues; the
 *                  secondary dequeues, reads, puts.  Burst 32:
 *                  get_bulk/enqueue_burst, dequeue_burst/put_bulk.
 *
 * Scenarios:
 *   procs        the message pipeline (the whole message written and
 *                read) at 2 KiB and 64 KiB, 64 messages in flight at
 *                most (the queue's capacity); ns per message over the
 *                producer's batches of 1000 (p50, p99, p99.9, worst),
 *                Mops/s over the run.  failed: times the producer found
 *                no free object.
 *   procs-crash  the same stream, 2 KiB; the consumer keeps the last 8
 *                messages in hand (read, not yet given back) and is
 *                SIGKILLed at once after every KILL_EVERY messages, 5
 *                times, a new consumer started after each kill; the
 *                last one drains to the end.  Then the free objects are
 *                counted: failed = objects lost (pool size - free).  The
 *                timing columns are those of the whole crashed stream.
 *                bufpool counts by taking every buffer it can; DPDK by
 *                rte_mempool_avail_count() in the primary.  A restarted
 *                secondary takes lcore 1 again, so what the dead one's
 *                lcore cache held (in the shared mempool) is not lost;
 *                what it had in hand is.  On a memfd pool (the host)
 *                nobody reconciles a dead client: the dead consumer
 *                keeps the queue's consumer role, the restarted one is
 *                refused (EBUSY), the stream stops there and what the
 *                queue, the dead consumer's hands and its cache held
 *                is counted lost.  Through /dev/bufpool (--device, in
 *                the VM) the kernel gives all of it back.
 *
 * Each DPDK cell runs its own primary and secondary (forked from this
 * process, which never initialises DPDK itself) with a file prefix of
 * its own.  Everything the cells mount or create lives in a private
 * mount namespace: a tmpfs over /var/run/dpdk for DPDK's runtime files
 * and a hugetlbfs mount (on a temporary directory) for its hugepages;
 * both go away with the last process of the run however it ends (the
 * cells' processes die with this one: PR_SET_PDEATHSIG), leaving at
 * worst the empty directory when this process is killed.
 *
 * usage: mp_bench [--quick] [--device] [--secs S] [--sizes 2048,65536]
 *                 [--peers a,b] [--scenarios procs,procs-crash]
 *                 [--kills N]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bufpool.h>
#include "bench_common.h"

#ifdef HAVE_DPDK
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#endif

#define COUNT		8192	/* objects in every pool */
#define INFLIGHT	64	/* queue / ring capacity */
#define MAX_BURST	32
#define BATCH		1000	/* messages per timed batch */
#define MAX_BATCHES	(1 << 18)
#define HOLD		8	/* crash cell: messages the consumer holds */
#define KILL_EVERY	20000	/* crash cell: messages between kills */
#define QNAME		"mpbench"

static double secs = 0.25;
static int device;
static int kills = 5;
/* The longest wait for the fast core-to-core state (bench_xcore_gate()). */
static double xcore_cap = 3;

/* ------------------------------------------------------------------ */
/* Shared between the processes of a cell                             */

struct shared {
	_Atomic int ready;	/* the producer's side is set up */
	_Atomic int cons_ready;	/* a consumer is set up */
	_Atomic int end;	/* crash cell: the producer stops */
	_Atomic int stop;	/* producer: stop now (crash cell, errors) */
	_Atomic int prod_done;	/* producer: everything is enqueued */
	_Atomic int cons_done;	/* consumer: drained */
	_Atomic int count_req;	/* producer (DPDK): count the free now */
	_Atomic int counted;
	_Atomic uint64_t consumed;	/* messages read, every consumer */
	_Atomic uint64_t sum;
	_Atomic long avail;	/* DPDK: free objects at the end */
	_Atomic int err;	/* errno of the first failure */
	char errwhere[64];
	uint64_t t0, t1;
	long failed;
	long n;
	double ns[MAX_BATCHES];
};

static struct shared *sh;

/* The CPUs this process may use, read at start (bench_cpus()). */
static cpu_set_t all_cpus;

/* Pins the calling process to the n-th CPU of all_cpus. */
static void pin(int n)
{
	bench_pin(&all_cpus, n);
}

static void nap(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void fail(const char *where, int e)
{
	int zero = 0;

	if (atomic_compare_exchange_strong(&sh->err, &zero, e ? e : EIO))
		snprintf(sh->errwhere, sizeof(sh->errwhere), "%s", where);
	atomic_store(&sh->stop, 1);
}

/* ------------------------------------------------------------------ */
/* Results: bench/matrix.c's row format                               */

static void report(const char *scenario, size_t size, int burst,
		   const char *peer, long failed, uint64_t ops)
{
	long n = sh->n;

	qsort(sh->ns, n, sizeof(double), cmp_double);
	printf("%s,%zu,%d,%d,%s,%.2f,%.2f,%.2f,%.2f,%.2f,%ld\n", scenario,
	       size, 2, burst, peer, pct(sh->ns, n, 0.5), pct(sh->ns, n, 0.99),
	       pct(sh->ns, n, 0.999), n ? sh->ns[n - 1] : 0,
	       sh->t1 > sh->t0 ? ops / ((sh->t1 - sh->t0) / 1e3) : 0, failed);
	fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* The two sides, over any peer                                       */

/*
 * A peer's operations, in the process that uses them, on objects that
 * are what the peer's calls pass (an address, or bufpool's index for its
 * single calls).  get: up to n objects (0 when none is free); enq: up to
 * n (how many went; 0 when full); deq: up to n (0 when empty); put: all
 * n; addr: an object's memory.
 */
struct ops {
	unsigned int (*get)(void *ctx, void **o, unsigned int n);
	unsigned int (*enq)(void *ctx, void **o, unsigned int n);
	unsigned int (*deq)(void *ctx, void **o, unsigned int n);
	void (*put)(void *ctx, void **o, unsigned int n);
	void *(*addr)(void *ctx, void *o);
	void *ctx;
};

/* What the producer held when it was stopped in an enqueue. */
static void *leftover[MAX_BURST];
static unsigned int leftover_n;

static int stopped(void)
{
	return atomic_load_explicit(&sh->stop, memory_order_relaxed);
}

/*
 * The producer: timed batches of BATCH messages until the time is up
 * (the crash cell: until told to end).  Returns the messages sent.
 */
static uint64_t produce(const struct ops *op, size_t size, unsigned int burst,
			int crash)
{
	uint64_t seq = 0, deadline;
	void *o[MAX_BURST];
	unsigned int k, got, j;

	while (!atomic_load(&sh->cons_ready) && !stopped())
		nap(0.0002);
	sh->n = 0;
	sh->failed = 0;
	sh->t0 = now_ns();
	deadline = sh->t0 + (uint64_t)(secs * 1e9);
	while (!stopped() && !atomic_load_explicit(&sh->end,
						   memory_order_relaxed)) {
		uint64_t t0 = now_ns(), t1;
		long m = 0;

		while (m < BATCH) {
			while (!(got = op->get(op->ctx, o, burst))) {
				sh->failed++;	/* the consumer gives back */
				if (stopped())
					goto out;
				sched_yield();
			}
			for (j = 0; j < got; j++)
				fill(op->addr(op->ctx, o[j]), size, seq++);
			for (j = 0; j < got; j += k) {
				k = op->enq(op->ctx, o + j, got - j);
				if (k)
					continue;
				if (stopped()) {
					/*
					 * Not given back here: a put can
					 * hang on a ring a killed process
					 * left half done.  The caller does.
					 */
					leftover_n = got - j;
					memcpy(leftover, o + j,
					       leftover_n * sizeof(o[0]));
					seq -= got - j;
					goto out;
				}
				sched_yield();	/* full */
			}
			m += got;
		}
		t1 = now_ns();
		if (sh->n < MAX_BATCHES)
			sh->ns[sh->n++] = (double)(t1 - t0) / m;
		if (!crash && t1 > deadline)
			break;
	}
out:
	atomic_store_explicit(&sh->prod_done, 1, memory_order_release);
	/* The clock stops when the consumer has read everything. */
	while (!atomic_load(&sh->cons_done) && !stopped())
		nap(0.0001);
	sh->t1 = now_ns();
	return seq;
}

/*
 * The consumer: until the producer is done and the queue empty.  hold:
 * keep the last hold messages in hand (read, not given back) until the
 * next ones come (the crash cell: what a killed consumer holds).
 */
static void consume(const struct ops *op, size_t size, unsigned int burst,
		    unsigned int hold)
{
	void *o[MAX_BURST], *held[HOLD];
	unsigned int k, j, nh = 0, hh = 0;
	uint64_t sum = 0;
	int done;

	atomic_store(&sh->cons_ready, 1);
	for (;;) {
		done = atomic_load_explicit(&sh->prod_done,
					    memory_order_acquire);
		k = op->deq(op->ctx, o, burst);
		if (!k) {
			if (done || stopped())
				break;
			sched_yield();	/* empty */
			continue;
		}
		for (j = 0; j < k; j++)
			sum += drain_msg(op->addr(op->ctx, o[j]), size);
		if (!hold) {
			op->put(op->ctx, o, k);
		} else {
			for (j = 0; j < k; j++) {
				if (nh == hold) {	/* the oldest goes back */
					op->put(op->ctx, &held[hh], 1);
					hh = (hh + 1) % hold;
					nh--;
				}
				held[(hh + nh) % hold] = o[j];
				nh++;
			}
		}
		atomic_fetch_add_explicit(&sh->consumed, k,
					  memory_order_relaxed);
	}
	/* What is still in hand goes back at the end of the stream. */
	for (; nh; nh--, hh = (hh + 1) % hold)
		op->put(op->ctx, &held[hh], 1);
	atomic_fetch_add(&sh->sum, sum);
	atomic_store(&sh->cons_done, 1);
}

/* Producer: after its stream, wait until the parent has had its count. */
static void wait_count_req(void)
{
	while (!atomic_load(&sh->count_req))
		nap(0.0005);
}

/* ------------------------------------------------------------------ */
/* bufpool: a pool and a queue                                        */

/* bulk: objects are addresses and go through the bulk calls. */
struct bp_ctx {
	struct bufpool *pool;
	struct bufpool_queue *q;
	int bulk;
};

static struct bufpool *bp_parent;	/* the cell's pool, in the parent */

static unsigned int bp_get(void *ctx, void **o, unsigned int n)
{
	struct bp_ctx *c = ctx;
	uint32_t idx;

	if (c->bulk)
		return bufpool_acquire_bulk(c->pool, o, n);
	if (bufpool_acquire_index(c->pool, &idx))
		return 0;
	o[0] = (void *)(uintptr_t)idx;
	return 1;
}

static unsigned int bp_enq(void *ctx, void **o, unsigned int n)
{
	struct bp_ctx *c = ctx;
	unsigned int k;

	if (c->bulk)
		k = bufpool_enqueue_bulk(c->q, o, n);
	else
		k = !bufpool_enqueue_index(c->q, (uint32_t)(uintptr_t)o[0]);
	if (!k && errno != ENOBUFS && errno != EAGAIN)
		fail("bufpool enqueue", errno);
	return k;
}

static unsigned int bp_deq(void *ctx, void **o, unsigned int n)
{
	struct bp_ctx *c = ctx;
	unsigned int k;
	uint32_t idx;

	if (c->bulk) {
		k = bufpool_dequeue_bulk(c->q, o, n);
	} else {
		k = !bufpool_dequeue_index(c->q, &idx);
		o[0] = (void *)(uintptr_t)idx;
	}
	if (!k && errno != EAGAIN)
		fail("bufpool dequeue", errno);
	return k;
}

static void bp_put(void *ctx, void **o, unsigned int n)
{
	struct bp_ctx *c = ctx;
	int r;

	if (c->bulk)
		r = n ? bufpool_release_bulk(c->pool, o, n) : 0;
	else
		r = n ? bufpool_release_index(c->pool,
					      (uint32_t)(uintptr_t)o[0]) : 0;
	if (r)
		fail("bufpool release", errno);
}

static void *bp_addr_idx(void *ctx, void *o)
{
	struct bp_ctx *c = ctx;

	return bufpool_addr(c->pool, (uint32_t)(uintptr_t)o);
}

static void *addr_self(void *ctx, void *o)
{
	(void)ctx;
	return o;
}

/* This process's own handle on the parent's pool. */
static struct bufpool *bp_open_mine(void)
{
	if (device)
		return bufpool_open(BUFPOOL_DEV_PATH);
	return bufpool_open_fd(bufpool_fd(bp_parent));
}

static void bp_ops(struct ops *op, struct bp_ctx *c, unsigned int burst)
{
	c->bulk = burst > 1;
	*op = (struct ops){ bp_get, bp_enq, bp_deq, bp_put,
			    burst > 1 ? addr_self : bp_addr_idx, c };
}

static void __attribute__((noreturn))
bp_producer(size_t size, unsigned int burst, int crash)
{
	struct bp_ctx c = { 0 };
	struct ops op;

	pin(0);
	c.pool = bp_open_mine();
	if (!c.pool) {
		fail("producer: open the pool", errno);
		_exit(1);
	}
	c.q = bufpool_queue_open(c.pool, QNAME, BUFPOOL_QUEUE_PRODUCE, 0);
	if (!c.q) {
		fail("producer: open the queue", errno);
		_exit(1);
	}
	bp_ops(&op, &c, burst);
	atomic_store(&sh->ready, 1);
	produce(&op, size, burst, crash);
	op.put(op.ctx, leftover, leftover_n);
	bufpool_queue_close(c.q);
	bufpool_close(c.pool);
	wait_count_req();
	_exit(0);
}

static void __attribute__((noreturn))
bp_consumer(size_t size, unsigned int burst, unsigned int hold)
{
	struct bp_ctx c = { 0 };
	struct ops op;

	pin(1);
	c.pool = bp_open_mine();
	if (!c.pool) {
		fail("consumer: open the pool", errno);
		_exit(1);
	}
	c.q = bufpool_queue_open(c.pool, QNAME, BUFPOOL_QUEUE_CONSUME, 0);
	if (!c.q) {
		fail("consumer: open the queue", errno);
		_exit(1);
	}
	bp_ops(&op, &c, burst);
	consume(&op, size, burst, hold);
	bufpool_queue_close(c.q);
	bufpool_close(c.pool);
	_exit(0);
}

/* Free buffers of the parent's pool: take all it gives, give them back. */
static long bp_count_free(void)
{
	uint32_t n = bufpool_buf_count(bp_parent), *idx, k = 0;

	idx = malloc(n * sizeof(*idx));
	if (!idx)
		return -1;
	while (k < n && !bufpool_acquire_index(bp_parent, &idx[k]))
		k++;
	for (uint32_t i = 0; i < k; i++)
		bufpool_release_index(bp_parent, idx[i]);
	free(idx);
	return k;
}

/* ------------------------------------------------------------------ */
/* DPDK multi-process: a primary and a secondary                      */

#ifdef HAVE_DPDK
static char prog[] = "mp_bench";
static char hugedir[64];	/* our hugetlbfs mount */
static int made_rundir;		/* we made /var/run/dpdk */
static int dpdk_ok;
#define RUNDIR	"/var/run/dpdk"

/* bulk: the bulk and burst calls, whatever n. */
struct dp_ctx {
	struct rte_mempool *mp;
	struct rte_ring *r;
	int bulk;
};

static unsigned int dp_get(void *ctx, void **o, unsigned int n)
{
	struct dp_ctx *c = ctx;

	if (c->bulk)
		return rte_mempool_get_bulk(c->mp, o, n) ? 0 : n;
	return !rte_mempool_get(c->mp, o);
}

static unsigned int dp_enq(void *ctx, void **o, unsigned int n)
{
	struct dp_ctx *c = ctx;

	if (c->bulk)
		return rte_ring_sp_enqueue_burst(c->r, o, n, NULL);
	return !rte_ring_sp_enqueue(c->r, o[0]);
}

static unsigned int dp_deq(void *ctx, void **o, unsigned int n)
{
	struct dp_ctx *c = ctx;

	if (c->bulk)
		return rte_ring_sc_dequeue_burst(c->r, o, n, NULL);
	return !rte_ring_sc_dequeue(c->r, o);
}

static void dp_put(void *ctx, void **o, unsigned int n)
{
	struct dp_ctx *c = ctx;

	if (c->bulk)
		rte_mempool_put_bulk(c->mp, o, n);
	else if (n)
		rte_mempool_put(c->mp, o[0]);
}

static int dp_eal(int primary, const char *prefix)
{
	char fp[64], lc[32], *argv[16];
	int argc = 0;

	snprintf(fp, sizeof(fp), "--file-prefix=%s", prefix);
	/* lcore 0 or 1 on the CPU pin(0) or pin(1) would choose. */
	snprintf(lc, sizeof(lc), "--lcores=%d@%d", !primary,
		 bench_nth_cpu(&all_cpus, !primary));
	argv[argc++] = prog;
	argv[argc++] = lc;
	argv[argc++] = primary ? "--proc-type=primary" :
				 "--proc-type=secondary";
	argv[argc++] = fp;
	argv[argc++] = "--huge-dir";
	argv[argc++] = hugedir;
	argv[argc++] = "--no-pci";
	argv[argc++] = "--no-telemetry";
	argv[argc++] = "--iova-mode=va";
	argv[argc++] = "--log-level=3";
	argv[argc] = NULL;
	return rte_eal_init(argc, argv);
}

/* A ring left with an operation half done (a process killed in it). */
static void dp_ring_state(const char *what, const struct rte_ring *r)
{
	uint32_t ph = r->prod.head, pt = r->prod.tail;
	uint32_t ch = r->cons.head, ct = r->cons.tail;

	if (ph != pt || ch != ct)
		fprintf(stderr, "# %s: producer head %u tail %u, consumer head %u tail %u: an operation left half done\n",
			what, ph, pt, ch, ct);
}

static void __attribute__((noreturn))
dp_primary(const char *prefix, size_t size, unsigned int cache,
	   unsigned int burst, int crash)
{
	struct dp_ctx c;
	struct ops op;

	if (dp_eal(1, prefix) < 0) {
		fail("primary: rte_eal_init", rte_errno);
		_exit(1);
	}
	c.mp = rte_mempool_create("mpbench_pool", COUNT, size, cache, 0,
				  NULL, NULL, NULL, NULL, SOCKET_ID_ANY, 0);
	c.r = rte_ring_create("mpbench_ring", INFLIGHT, SOCKET_ID_ANY,
			      RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
	if (!c.mp || !c.r) {
		fail(c.mp ? "primary: rte_ring_create" :
			    "primary: rte_mempool_create", rte_errno);
		rte_eal_cleanup();
		_exit(1);
	}
	c.bulk = burst > 1;
	op = (struct ops){ dp_get, dp_enq, dp_deq, dp_put, addr_self, &c };
	atomic_store(&sh->ready, 1);
	produce(&op, size, burst, crash);
	wait_count_req();	/* every secondary is gone */
	/* What it still holds is not lost (and a put could hang). */
	atomic_store(&sh->avail, (long)(rte_mempool_avail_count(c.mp) +
					 leftover_n));
	dp_ring_state("the mempool's ring", c.mp->pool_data);
	dp_ring_state("the message ring", c.r);
	atomic_store(&sh->counted, 1);
	rte_ring_free(c.r);
	rte_mempool_free(c.mp);
	rte_eal_cleanup();
	_exit(0);
}

static void __attribute__((noreturn))
dp_secondary(const char *prefix, size_t size, unsigned int burst,
	     unsigned int hold)
{
	struct dp_ctx c;
	struct ops op;

	if (dp_eal(0, prefix) < 0) {
		fail("secondary: rte_eal_init", rte_errno);
		_exit(1);
	}
	c.mp = rte_mempool_lookup("mpbench_pool");
	c.r = rte_ring_lookup("mpbench_ring");
	if (!c.mp || !c.r) {
		fail("secondary: lookup", rte_errno);
		rte_eal_cleanup();
		_exit(1);
	}
	c.bulk = burst > 1;
	op = (struct ops){ dp_get, dp_enq, dp_deq, dp_put, addr_self, &c };
	consume(&op, size, burst, hold);
	rte_eal_cleanup();
	_exit(0);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (ftw->level)		/* not the top */
		remove(path);
	return 0;
}

/* Remove what is under dir (not dir). */
static void empty_dir(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static long meminfo(const char *key)
{
	char line[128];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = atol(line + kl + 1);
			break;
		}
	fclose(f);
	return v;
}

/*
 * A private mount namespace with a hugetlbfs mount and a tmpfs over
 * /var/run/dpdk: NULL, or why DPDK cannot run here.
 */
static const char *dpdk_setup(void)
{
	static char why[160];
	struct stat st;

	if (geteuid())
		return "not root (a hugetlbfs mount and /var/run/dpdk)";
	if (meminfo("Hugepagesize") != 2048)
		return "2 MiB hugepages are not the default size";
	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
		snprintf(why, sizeof(why), "no private mount namespace: %s",
			 strerror(errno));
		return why;
	}
	if (stat(RUNDIR, &st)) {
		if (mkdir(RUNDIR, 0700)) {
			snprintf(why, sizeof(why), "mkdir %s: %s", RUNDIR,
				 strerror(errno));
			return why;
		}
		made_rundir = 1;
	}
	if (mount("tmpfs", RUNDIR, "tmpfs", 0, "mode=0700")) {
		snprintf(why, sizeof(why), "cannot mount a tmpfs on %s: %s",
			 RUNDIR, strerror(errno));
		return why;
	}
	dpdk_ok = 1;
	/*
	 * The hugetlbfs mount on a directory of its own in /tmp (DPDK does
	 * not take one inside the tmpfs above): only that empty directory
	 * is left if this process is killed.
	 */
	snprintf(hugedir, sizeof(hugedir), "/tmp/mp_bench.XXXXXX");
	if (!mkdtemp(hugedir)) {
		snprintf(why, sizeof(why), "mkdtemp: %s", strerror(errno));
		hugedir[0] = 0;
		return why;
	}
	if (mount("nodev", hugedir, "hugetlbfs", 0, "pagesize=2M")) {
		snprintf(why, sizeof(why), "cannot mount hugetlbfs: %s",
			 strerror(errno));
		rmdir(hugedir);
		hugedir[0] = 0;
		return why;
	}
	return NULL;
}

static void dpdk_teardown(void)
{
	if (hugedir[0]) {
		empty_dir(hugedir);
		umount2(hugedir, MNT_DETACH);
		rmdir(hugedir);
	}
	if (dpdk_ok) {
		empty_dir(RUNDIR);
		umount2(RUNDIR, MNT_DETACH);
	}
	if (made_rundir)
		rmdir(RUNDIR);
	dpdk_ok = 0;
	made_rundir = 0;
	hugedir[0] = 0;
}
#endif

/* ------------------------------------------------------------------ */
/* A cell                                                             */

enum kind { BP, DP256, DP0 };

static const char *const kind_name[] = { "bufpool-queue", "dpdk-mp",
					 "dpdk-mp-c0" };

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

/* Wait for pid until deadline; kill it then.  Its status, -1 if killed. */
static int reap(pid_t pid, uint64_t deadline)
{
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0)
			return -1;
		if (now_ns() > deadline || got_signal) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		nap(0.001);
	}
}

/*
 * Wait until the consumers have read target messages: 0; -1 when the
 * consumer exited, the stream stalled (nothing read for STALL_S), the
 * cell's time is up or something failed (sh->err says which).
 */
#define STALL_S	3
static int watch(pid_t cons, uint64_t target, uint64_t deadline, int *gone)
{
	uint64_t seen = atomic_load(&sh->consumed), since = now_ns(), c;
	int st;

	for (;;) {
		c = atomic_load(&sh->consumed);
		if (c >= target)
			return 0;
		if (stopped() || got_signal)
			return -1;
		if (waitpid(cons, &st, WNOHANG) == cons) {
			*gone = 1;
			fail("a consumer exited", ECHILD);
			return -1;
		}
		if (c != seen) {
			seen = c;
			since = now_ns();
		} else if (now_ns() - since > STALL_S * 1000000000ull) {
			fail("the stream stalled (no message read for 3 s)",
			     ETIME);
			return -1;
		}
		if (now_ns() > deadline) {
			fail("the cell's time limit", ETIMEDOUT);
			return -1;
		}
		nap(0.0002);
	}
}

static pid_t spawn(enum kind k, int producer, const char *prefix, size_t size,
		   unsigned int burst, int crash)
{
	pid_t pid, parent = getpid();

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid)
		return pid;
	/* Gone with this process, however it ends (and so is the mounts'
	 * namespace, with the hugepages). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(1);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (k == BP) {
		if (producer)
			bp_producer(size, burst, crash);
		bp_consumer(size, burst, crash ? HOLD : 0);
	}
#ifdef HAVE_DPDK
	if (producer)
		dp_primary(prefix, size, k == DP256 ? 256 : 0, burst, crash);
	dp_secondary(prefix, size, burst, crash ? HOLD : 0);
#else
	(void)prefix;
	_exit(1);
#endif
}

static void run_cell(enum kind k, size_t size, unsigned int burst, int crash,
		     unsigned int kill_every)
{
	const char *peer = kind_name[k];
	const char *scen = crash ? "procs-crash" : "procs";
	int gone = 0;
	uint64_t deadline = now_ns() +
		(uint64_t)((secs + 60 + (crash ? 20 * kills : 0)) * 1e9);
	static unsigned int serial;
	struct bufpool_queue *q = NULL;
	char prefix[32];
	pid_t prod, cons = -1;
	long lost = -1, avail = -1;
	int i, done_kills = 0, st;

	snprintf(prefix, sizeof(prefix), "bpbench%u", serial++);
	memset(sh, 0, offsetof(struct shared, ns));
	if (k == BP) {
		/* As bench/matrix.c's host pools: 8 caches, magazines of 256. */
		struct bufpool_params p = {
			.buf_size = size, .buf_count = COUNT, .caches = 8,
			.flags = BUFPOOL_F_MAG_SIZE |
				 bench_spread_flag(size, BUFPOOL_F_SPREAD) |
				 bench_rotate_flag(BUFPOOL_F_ROTATE),
			.mag_size = 256,
		};

		if (device) {
			bp_parent = bufpool_open(BUFPOOL_DEV_PATH);
			if (bp_parent && bufpool_buf_size(bp_parent) != size) {
				bufpool_close(bp_parent);
				bp_parent = NULL;
				fprintf(stderr, "# %s %s %zu: the device pool has another buffer size\n",
					scen, peer, size);
				return;
			}
		} else {
			bp_parent = bufpool_create(&p);
		}
		if (bp_parent)
			q = bufpool_queue_open(bp_parent, QNAME,
					       BUFPOOL_QUEUE_CREATE |
					       BUFPOOL_QUEUE_SINGLE_PRODUCER,
					       INFLIGHT);
		if (!q) {
			fprintf(stderr, "# %s %s %zu: no pool and queue: %s\n",
				scen, peer, size, strerror(errno));
			if (bp_parent)
				bufpool_close(bp_parent);
			bp_parent = NULL;
			return;
		}
	} else {
#ifdef HAVE_DPDK
		long need = (long)((uint64_t)COUNT * (size + 192) >> 21) + 64;
		long have = meminfo("HugePages_Free");

		if (have < need) {
			fprintf(stderr, "# %s: skipped: %s %zu B x %d: %ld free 2 MiB hugepages, %ld needed (reserve them in /proc/sys/vm/nr_hugepages)\n",
				peer, scen, size, COUNT, have, need);
			return;
		}
#endif
	}

	if (!crash && !device) {	/* the VM: emulated, relative only */
		char what[96];

		snprintf(what, sizeof(what), "%s,%zu,2,%u,%s", scen, size,
			 burst, peer);
		bench_xcore_gate(&all_cpus, what, xcore_cap);
	}
	prod = spawn(k, 1, prefix, size, burst, crash);
	while (!atomic_load(&sh->ready) && !atomic_load(&sh->err) &&
	       now_ns() < deadline && !got_signal &&
	       waitpid(prod, &st, WNOHANG) == 0)
		nap(0.001);
	if (atomic_load(&sh->ready))
		cons = spawn(k, 0, prefix, size, burst, crash);
	else if (got_signal)
		fail("interrupted", EINTR);
	else
		fail("the producer's setup", ETIMEDOUT);

	for (i = 0; crash && cons > 0 && i < kills; i++) {
		if (watch(cons, (uint64_t)(i + 1) * kill_every, deadline,
			  &gone))
			break;
		kill(cons, SIGKILL);
		waitpid(cons, &st, 0);
		done_kills++;
		atomic_store(&sh->cons_ready, 0);
		cons = spawn(k, 0, prefix, size, burst, crash);
	}
	if (crash) {
		/* A while longer after the last restart, then the end. */
		if (!stopped())
			watch(cons, (uint64_t)kills * kill_every +
				    kill_every / 2, deadline, &gone);
		atomic_store(&sh->end, 1);
	}
	/* After a failure, a consumer stuck in a call has 2 s to end. */
	if (cons > 0 && !gone &&
	    reap(cons, stopped() ? now_ns() + 2000000000ull : deadline) != 0)
		fail("the consumer did not end", ECHILD);
	atomic_store(&sh->count_req, 1);
	if (reap(prod, now_ns() + 20000000000ull) != 0)
		fail("the producer did not end", ECHILD);

	if (k == BP) {
		struct bufpool_stats bs;

		if (crash && !bufpool_stats(bp_parent, &bs))
			fprintf(stderr, "# %s %s: reclaimed from dead clients: %lu\n",
				scen, peer, (unsigned long)bs.reclaimed);
		avail = bp_count_free();
		bufpool_queue_close(q);
		bufpool_close(bp_parent);
		bp_parent = NULL;
	} else if (atomic_load(&sh->counted)) {
		avail = atomic_load(&sh->avail);
	}
#ifdef HAVE_DPDK
	if (k != BP) {
		char run[96];

		snprintf(run, sizeof(run), RUNDIR "/%s", prefix);
		empty_dir(run);
		rmdir(run);
		empty_dir(hugedir);
	}
#endif
	if (avail >= 0)
		lost = COUNT - avail;

	if (atomic_load(&sh->err) && !crash) {
		fprintf(stderr, "# %s %s %zu burst %u: failed: %s: %s\n", scen,
			peer, size, burst, sh->errwhere,
			strerror(atomic_load(&sh->err)));
		return;
	}
	if (!crash) {
		if (lost)
			fprintf(stderr, "# %s %s %zu burst %u: %ld objects not back at the end\n",
				scen, peer, size, burst, lost);
		report(scen, size, burst, peer, sh->failed,
		       atomic_load(&sh->consumed));
		return;
	}
	if (atomic_load(&sh->err))
		fprintf(stderr, "# %s %s: the stream broke after %d kills: %s: %s\n",
			scen, peer, done_kills, sh->errwhere,
			strerror(atomic_load(&sh->err)));
	fprintf(stderr, "# %s %s %zu: %d kills, consumer holding %d read messages each time: %ld of %d objects lost (%lu messages read)\n",
		scen, peer, size, done_kills, HOLD, lost, COUNT,
		(unsigned long)atomic_load(&sh->consumed));
	report(scen, size, 1, peer, lost, atomic_load(&sh->consumed));
}

int main(int argc, char **argv)
{
	const char *peers = NULL, *scens = NULL;
	size_t sizes[8] = { 2048, 65536 };
	unsigned int kill_every = KILL_EVERY;
	int nsizes = 2, i, si;
	enum kind k;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			secs = 0.03;
			kill_every = KILL_EVERY / 4;
			xcore_cap = 0.2;
		} else if (!strcmp(argv[i], "--device")) {
			device = 1;
		} else if (!strcmp(argv[i], "--secs") && i + 1 < argc) {
			secs = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--kills") && i + 1 < argc) {
			kills = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--peers") && i + 1 < argc) {
			peers = argv[++i];
		} else if (!strcmp(argv[i], "--scenarios") && i + 1 < argc) {
			scens = argv[++i];
		} else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
			char *dup = strdup(argv[++i]), *tok, *save = NULL;

			nsizes = 0;
			for (tok = strtok_r(dup, ",", &save); tok && nsizes < 8;
			     tok = strtok_r(NULL, ",", &save))
				sizes[nsizes++] = strtoul(tok, NULL, 0);
			free(dup);
		} else {
			fprintf(stderr, "usage: %s [--quick] [--device] [--secs S] [--sizes 2048,65536] [--peers bufpool-queue,dpdk-mp,dpdk-mp-c0] [--scenarios procs,procs-crash] [--kills N]\n",
				argv[0]);
			return 2;
		}
	}
	if (kills < 0 || kills > 100 || secs <= 0)
		return 2;
	bench_cpus(&all_cpus);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	int want_dp = listed(peers, kind_name[DP256]) ||
		      listed(peers, kind_name[DP0]);
#ifdef HAVE_DPDK
	if (want_dp && device) {
		fprintf(stderr, "# dpdk-mp: skipped: --device (bufpool only)\n");
		want_dp = 0;
	} else if (want_dp) {
		const char *why = dpdk_setup();

		if (why) {
			fprintf(stderr, "# dpdk-mp: skipped: %s\n", why);
			dpdk_teardown();
			want_dp = 0;
		}
	}
#else
	if (want_dp)
		fprintf(stderr, "# dpdk-mp: skipped: built without DPDK (libdpdk-dev)\n");
	want_dp = 0;
#endif
	for (si = 0; si < nsizes && !got_signal; si++)
		for (unsigned int b = 1; b <= MAX_BURST && !got_signal; b *= 32)
			for (k = BP; k <= DP0 && !got_signal; k++) {
				if (!listed(peers, kind_name[k]) ||
				    (k != BP && !want_dp) ||
				    !listed(scens, "procs"))
					continue;
				run_cell(k, sizes[si], b, 0, 0);
			}
	/* The crash cell: 2 KiB (or the first size), one at a time. */
	for (k = BP; k <= DP0 && !got_signal; k++)
		if (listed(peers, kind_name[k]) && (k == BP || want_dp) &&
		    listed(scens, "procs-crash"))
			run_cell(k, sizes[0], 1, 1, kill_every);
#ifdef HAVE_DPDK
	dpdk_teardown();
#endif
	return got_signal ? 128 + got_signal : 0;
}
