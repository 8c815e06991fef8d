/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the tests of the shared path (issue 17: any number of
 * threads and pools), used on device pools by bufpool_shared_test and
 * on memfd pools by the host's shared_test: the pool's shared-path
 * counters and cache owners read from the control area; many threads
 * holding buffers at once; threads starting and exiting in a loop while
 * long-lived workers go on; a thread's first acquire and its page
 * faults.  The helpers run threads and count what went wrong; the tests
 * assert on the counts (the harness's asserts belong to its own thread).
 */
#ifndef BUFPOOL_SHARED_HELPERS_H
#define BUFPOOL_SHARED_HELPERS_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <bufpool.h>

/* Small stacks, so that a thousand threads fit a small VM. */
#ifdef __SANITIZE_THREAD__
#define BPS_STACK	(256 << 10)	/* TSan's runtime wants more */
#else
#define BPS_STACK	(64 << 10)
#endif

/* What the control area says of the shared path and the caches. */
struct bps_ctrl {
	uint64_t shared_acquires, shared_releases, shared_exhausted;
	uint32_t caches_free;	/* the hint */
	uint32_t caches_owned;	/* caches whose owner is not 0 */
	uint32_t nr_caches;
};

/* Read them through a mapping of our own; 0, or -1 with errno. */
static inline int bps_ctrl_read(struct bufpool *pool, struct bps_ctrl *c)
{
	const struct bufpool_cache *caches;
	const struct bufpool_ctrl *ctrl;
	struct bufpool_info info;
	uint32_t i;
	void *m;

	if (bufpool_get_info(pool, &info))
		return -1;
	m = mmap(NULL, info.ctrl_size, PROT_READ, MAP_SHARED,
		 bufpool_fd(pool), (off_t)info.ctrl_offset);
	if (m == MAP_FAILED)
		m = mmap(NULL, info.ctrl_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, bufpool_fd(pool), (off_t)info.ctrl_offset);
	if (m == MAP_FAILED)
		return -1;
	ctrl = m;
	c->shared_acquires = __atomic_load_n(&ctrl->shared_acquires,
					     __ATOMIC_RELAXED);
	c->shared_releases = __atomic_load_n(&ctrl->shared_releases,
					     __ATOMIC_RELAXED);
	c->shared_exhausted = __atomic_load_n(&ctrl->shared_exhausted,
					      __ATOMIC_RELAXED);
	c->caches_free = __atomic_load_n(&ctrl->caches_free, __ATOMIC_RELAXED);
	caches = (const struct bufpool_cache *)((const char *)m +
						info.caches_offset);
	c->nr_caches = info.nr_caches;
	c->caches_owned = 0;
	for (i = 0; i < info.nr_caches; i++)
		c->caches_owned += __atomic_load_n(&caches[i].owner,
						   __ATOMIC_RELAXED) != 0;
	munmap(m, info.ctrl_size);
	return 0;
}

/* The first error a thread met, for the test's log. */
struct bps_err {
	_Atomic long count;
	_Atomic int first_errno;
	const char *_Atomic first_what;
};

static inline void bps_fail(struct bps_err *e, const char *what)
{
	int saved = errno;

	if (atomic_fetch_add(&e->count, 1) == 0) {
		atomic_store(&e->first_errno, saved);
		atomic_store(&e->first_what, what);
	}
	errno = saved;
}

/*
 * A per-buffer flag of the test's own: set on acquire, cleared before
 * release; finding it set is a buffer handed out twice.
 */
static inline void bps_mark(struct bps_err *dup, _Atomic uint8_t *owner,
			    struct bufpool *pool, void *buf)
{
	int64_t idx = bufpool_index(pool, buf);
	uint8_t expect = 0;

	if (idx < 0 || !atomic_compare_exchange_strong(&owner[idx], &expect, 1))
		bps_fail(dup, "a buffer handed out twice");
}

static inline void bps_unmark(struct bps_err *dup, _Atomic uint8_t *owner,
			      struct bufpool *pool, void *buf)
{
	int64_t idx = bufpool_index(pool, buf);
	uint8_t expect = 1;

	if (idx < 0 || !atomic_compare_exchange_strong(&owner[idx], &expect, 0))
		bps_fail(dup, "a held buffer's flag cleared by another");
}

static inline int bps_spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int err;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, BPS_STACK);
	err = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return err;
}

/* ---- many threads holding buffers at once ------------------------- */

#define BPS_MANY_MAX_HOLD	4

struct bps_many {
	struct bufpool *pool;
	uint32_t nthreads;
	size_t buf_size;
	_Atomic uint8_t *owner;		/* buf_count flags */
	pthread_barrier_t all_hold;
	_Atomic long taken;		/* buffers acquired, all threads */
	struct bps_err err;		/* calls that failed */
	struct bps_err dup;		/* buffers held twice */
	struct bps_err bad;		/* a pattern overwritten */
};

struct bps_many_arg {
	struct bps_many *m;
	uint32_t id;
};

/* Thread i holds 1 buffer, every 10th 3, every 50th 4. */
static inline uint32_t bps_many_hold(uint32_t i)
{
	return i % 50 == 0 ? 4 : i % 10 == 0 ? 3 : 1;
}

static void *bps_many_fn(void *arg)
{
	struct bps_many_arg *a = arg;
	struct bps_many *m = a->m;
	unsigned char *held[BPS_MANY_MAX_HOLD];
	uint32_t n = bps_many_hold(a->id), k, got = 0;
	size_t b;

	for (k = 0; k < n; k++) {
		held[k] = bufpool_acquire(m->pool);
		if (!held[k]) {
			bps_fail(&m->err, "acquire");
			break;
		}
		bps_mark(&m->dup, m->owner, m->pool, held[k]);
		memset(held[k], (int)(a->id * 7 + k + 1), m->buf_size);
		got++;
	}
	atomic_fetch_add(&m->taken, got);
	/* Every thread holds what it took, at the same time. */
	pthread_barrier_wait(&m->all_hold);
	for (k = 0; k < got; k++) {
		for (b = 0; b < m->buf_size; b++)
			if (held[k][b] != (unsigned char)(a->id * 7 + k + 1)) {
				bps_fail(&m->bad, "pattern");
				break;
			}
		bps_unmark(&m->dup, m->owner, m->pool, held[k]);
		if (bufpool_release(m->pool, held[k]))
			bps_fail(&m->err, "release");
	}
	return NULL;
}

/* Run nthreads threads through it; 0, or the error of a create. */
static inline int bps_many_run(struct bps_many *m, struct bufpool *pool,
			       uint32_t nthreads)
{
	struct bps_many_arg *args;
	pthread_t *t;
	uint32_t i, started;
	int err = 0;

	memset(m, 0, sizeof(*m));
	m->pool = pool;
	m->nthreads = nthreads;
	m->buf_size = bufpool_buf_size(pool);
	m->owner = calloc(bufpool_buf_count(pool), 1);
	t = calloc(nthreads, sizeof(*t));
	args = calloc(nthreads, sizeof(*args));
	if (!m->owner || !t || !args) {
		err = ENOMEM;
		goto out;
	}
	pthread_barrier_init(&m->all_hold, NULL, nthreads);
	for (started = 0; started < nthreads; started++) {
		args[started] = (struct bps_many_arg){ m, started };
		err = bps_spawn(&t[started], bps_many_fn, &args[started]);
		if (err)
			break;
	}
	/* Should a create fail, the barrier must still open: abort. */
	if (err)
		abort();
	for (i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&m->all_hold);
out:
	free(args);
	free(t);
	free(m->owner);
	m->owner = NULL;
	return err;
}

/* What bps_many_run's threads should have taken. */
static inline uint64_t bps_many_expected(uint32_t nthreads)
{
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < nthreads; i++)
		n += bps_many_hold(i);
	return n;
}

/* ---- threads starting and exiting while workers go on ------------- */

#define BPS_WORKERS	4
#define BPS_WORKER_HOLD	16

struct bps_churn {
	struct bufpool *pool;
	_Atomic uint8_t *owner;
	_Atomic int stop, pause, parked;
	_Atomic long held[BPS_WORKERS];	/* what each holds when parked */
	_Atomic long worker_ops, short_ops;
	pthread_barrier_t batch;	/* a batch's threads, all holding */
	struct bps_err err, dup;
};

struct bps_churn_arg {
	struct bps_churn *c;
	uint32_t id;
};

static void *bps_worker_fn(void *arg)
{
	struct bps_churn_arg *a = arg;
	struct bps_churn *c = a->c;
	void *held[BPS_WORKER_HOLD];
	unsigned int seed = a->id * 7919 + 1, n = 0, k;

	while (!atomic_load(&c->stop)) {
		if (atomic_load(&c->pause)) {
			atomic_store(&c->held[a->id], n);
			atomic_fetch_add(&c->parked, 1);
			while (atomic_load(&c->pause) && !atomic_load(&c->stop))
				usleep(100);
			atomic_fetch_sub(&c->parked, 1);
			continue;
		}
		if (n < BPS_WORKER_HOLD && (n == 0 || rand_r(&seed) % 2)) {
			held[n] = bufpool_acquire(c->pool);
			if (!held[n]) {
				/* Empty for an instant: fine, anything else not. */
				if (errno != ENOBUFS)
					bps_fail(&c->err, "worker acquire");
				continue;
			}
			bps_mark(&c->dup, c->owner, c->pool, held[n]);
			n++;
		} else {
			k = rand_r(&seed) % n;
			bps_unmark(&c->dup, c->owner, c->pool, held[k]);
			if (bufpool_release(c->pool, held[k]))
				bps_fail(&c->err, "worker release");
			held[k] = held[--n];
		}
		atomic_fetch_add_explicit(&c->worker_ops, 1,
					  memory_order_relaxed);
	}
	while (n--) {
		bps_unmark(&c->dup, c->owner, c->pool, held[n]);
		if (bufpool_release(c->pool, held[n]))
			bps_fail(&c->err, "worker release");
	}
	atomic_store(&c->held[a->id], 0);
	return NULL;
}

/*
 * A short-lived thread: takes one to three buffers, waits until its
 * whole batch holds, gives them back, does a few more pairs (by then
 * others have exited: it may get a cache), sometimes flushes, exits.
 */
static void *bps_short_fn(void *arg)
{
	struct bps_churn_arg *a = arg;
	struct bps_churn *c = a->c;
	void *held[3];
	uint32_t n = 1 + a->id % 3, k, got = 0;
	long ops = 0;

	for (k = 0; k < n; k++) {
		held[k] = bufpool_acquire(c->pool);
		if (!held[k]) {
			bps_fail(&c->err, "acquire");
			break;
		}
		bps_mark(&c->dup, c->owner, c->pool, held[k]);
		got++;
	}
	pthread_barrier_wait(&c->batch);
	for (k = 0; k < got; k++) {
		bps_unmark(&c->dup, c->owner, c->pool, held[k]);
		if (bufpool_release(c->pool, held[k]))
			bps_fail(&c->err, "release");
	}
	ops += got;
	for (k = 0; k < a->id % 5; k++) {
		held[0] = bufpool_acquire(c->pool);
		if (!held[0]) {
			bps_fail(&c->err, "acquire after the batch");
			break;
		}
		bps_mark(&c->dup, c->owner, c->pool, held[0]);
		bps_unmark(&c->dup, c->owner, c->pool, held[0]);
		if (bufpool_release(c->pool, held[0]))
			bps_fail(&c->err, "release after the batch");
		ops++;
	}
	if (a->id % 4 == 0)
		bufpool_flush_cache(c->pool);
	atomic_fetch_add_explicit(&c->short_ops, ops, memory_order_relaxed);
	return NULL;
}

static inline double bps_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Seconds from env, else dflt (the default scaled by the caller). */
static inline int bps_secs(const char *env, int dflt)
{
	const char *v = getenv(env);

	return v && atoi(v) > 0 ? atoi(v) : dflt;
}

struct bps_churn_result {
	long batches, threads, checkpoints;
	long mismatches;	/* checkpoints whose counts were not exact */
	long long first_diff;	/* acquires - releases - held, first one */
	uint32_t owned_max;	/* caches owned at a checkpoint, the most */
	uint32_t owned_end;	/* caches owned once every thread is gone */
	uint64_t acquires, releases, shared_acquires, shared_releases;
};

/*
 * BPS_WORKERS long-lived workers acquire and release (holding up to
 * BPS_WORKER_HOLD) for secs seconds while batches of batch_n
 * short-lived threads start, all hold at once, and exit.  Every fourth
 * batch, and after the last, a checkpoint: the workers park, and the
 * pool's acquires minus releases since the start must be what they
 * hold.  0, or an errno.
 */
static inline int bps_churn_run(struct bps_churn *c,
				struct bps_churn_result *r,
				struct bufpool *pool, int secs,
				uint32_t batch_n)
{
	struct bps_churn_arg wargs[BPS_WORKERS], *args;
	pthread_t wt[BPS_WORKERS], *t;
	struct bufpool_stats s0, s;
	struct bps_ctrl k0, k;
	uint32_t i, w;
	double t0;
	long held;
	int err = 0, last;

	memset(c, 0, sizeof(*c));
	memset(r, 0, sizeof(*r));
	c->pool = pool;
	c->owner = calloc(bufpool_buf_count(pool), 1);
	t = calloc(batch_n, sizeof(*t));
	args = calloc(batch_n, sizeof(*args));
	if (!c->owner || !t || !args || bufpool_stats(pool, &s0) ||
	    bps_ctrl_read(pool, &k0)) {
		err = errno ? errno : ENOMEM;
		goto out;
	}
	for (w = 0; w < BPS_WORKERS; w++) {
		wargs[w] = (struct bps_churn_arg){ c, w };
		if (bps_spawn(&wt[w], bps_worker_fn, &wargs[w]))
			abort();
	}
	t0 = bps_now();
	for (last = 0; !last;) {
		pthread_barrier_init(&c->batch, NULL, batch_n);
		for (i = 0; i < batch_n; i++) {
			args[i] = (struct bps_churn_arg){ c,
				(uint32_t)(r->threads + i) };
			/* The barrier waits for all: a failed create aborts. */
			if (bps_spawn(&t[i], bps_short_fn, &args[i]))
				abort();
		}
		for (i = 0; i < batch_n; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&c->batch);
		r->threads += batch_n;
		last = bps_now() - t0 >= secs;
		if (++r->batches % 4 && !last)
			continue;
		/* A checkpoint: every thread quiet, the counts exact. */
		atomic_store(&c->pause, 1);
		while (atomic_load(&c->parked) < BPS_WORKERS)
			usleep(100);
		if (bufpool_stats(pool, &s) || bps_ctrl_read(pool, &k)) {
			err = errno;
			atomic_store(&c->stop, 1);
			break;
		}
		for (held = 0, w = 0; w < BPS_WORKERS; w++)
			held += atomic_load(&c->held[w]);
		if ((long long)(s.acquires - s0.acquires) -
		    (long long)(s.releases - s0.releases) != held ||
		    s.in_use != s0.in_use + held) {
			if (!r->mismatches++)
				r->first_diff = (long long)(s.acquires -
					s0.acquires) - (long long)(s.releases -
					s0.releases) - held;
		}
		if (k.caches_owned > r->owned_max)
			r->owned_max = k.caches_owned;
		r->checkpoints++;
		atomic_store(&c->pause, 0);
		while (atomic_load(&c->parked) > 0)
			usleep(100);
	}
	atomic_store(&c->stop, 1);
	for (w = 0; w < BPS_WORKERS; w++)
		pthread_join(wt[w], NULL);
	if (!err && (bufpool_stats(pool, &s) || bps_ctrl_read(pool, &k)))
		err = errno;
	if (!err) {
		r->acquires = s.acquires - s0.acquires;
		r->releases = s.releases - s0.releases;
		r->shared_acquires = k.shared_acquires - k0.shared_acquires;
		r->shared_releases = k.shared_releases - k0.shared_releases;
		r->owned_end = k.caches_owned;
	}
out:
	free(args);
	free(t);
	free(c->owner);
	c->owner = NULL;
	return err;
}

/* ---- a thread's first acquire and its page faults ------------------ */

#define BPS_FAULT_POOLS		16
#define BPS_FAULT_THREADS	64

/*
 * threads fresh threads, one after the other, each measuring the minor
 * faults of its first acquire from each of the n pools; each stays
 * alive (holding the library's thread state it took) until the last
 * is done, so that every one starts on state nobody used before: an
 * arena of thread state that was not prefaulted shows within a few.
 */
struct bps_fault {
	struct bufpool *pools[BPS_FAULT_POOLS];
	unsigned int n, threads;
	long faults;			/* all first acquires together */
	long worst;			/* the most one took */
	unsigned int worst_thread, worst_pool;
	long failed;			/* first acquires that failed */
	int first_errno;
	_Atomic int done, release;
};

/* Touch stack below the caller's frame, where the calls will run. */
static __attribute__((noinline)) void bps_warm_stack(void)
{
	volatile char a[16 << 10];
	size_t i;

	for (i = 0; i < sizeof(a); i += 64)
		a[i] = 0;
}

struct bps_fault_arg {
	struct bps_fault *f;
	unsigned int id;
};

static void *bps_fault_fn(void *arg)
{
	struct bps_fault_arg *a = arg;
	struct bps_fault *f = a->f;
	void *held[BPS_FAULT_POOLS];
	struct rusage r0, r1;
	unsigned int i;
	long d;

	bps_warm_stack();
	getrusage(RUSAGE_THREAD, &r0);	/* its own first call, warm */
	for (i = 0; i < f->n; i++) {
		getrusage(RUSAGE_THREAD, &r0);
		held[i] = bufpool_acquire(f->pools[i]);
		if (!held[i] && !f->failed++)
			f->first_errno = errno;
		getrusage(RUSAGE_THREAD, &r1);
		d = r1.ru_minflt - r0.ru_minflt;
		f->faults += d;
		if (d > f->worst) {
			f->worst = d;
			f->worst_thread = a->id;
			f->worst_pool = i;
		}
	}
	for (i = 0; i < f->n; i++)
		if (held[i])
			bufpool_release(f->pools[i], held[i]);
	atomic_store(&f->done, 1);
	while (!atomic_load(&f->release))
		usleep(100);
	return NULL;
}

/*
 * What the library calls from a new thread, resolved beforehand without
 * touching any thread state (lazy binding is the dynamic linker's
 * making, not the library's).
 */
static inline void bps_resolve_calls(void)
{
	int saved = errno;

	bufpool_acquire(NULL);
	bufpool_release(NULL, NULL);
	errno = saved;
}

/* Run f->threads measuring threads over f->pools[0..f->n). */
static inline int bps_fault_run(struct bps_fault *f)
{
	struct bps_fault_arg args[BPS_FAULT_THREADS];
	pthread_t t[BPS_FAULT_THREADS];
	unsigned int i, started;
	int err = 0;

	if (f->threads > BPS_FAULT_THREADS || f->n > BPS_FAULT_POOLS)
		return EINVAL;
	f->faults = f->worst = f->failed = 0;
	atomic_store(&f->release, 0);
	bps_resolve_calls();
	for (started = 0; started < f->threads; started++) {
		atomic_store(&f->done, 0);
		args[started] = (struct bps_fault_arg){ f, started };
		err = bps_spawn(&t[started], bps_fault_fn, &args[started]);
		if (err)
			break;
		while (!atomic_load(&f->done))
			usleep(50);
	}
	atomic_store(&f->release, 1);
	for (i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	return err;
}

/* ---- a thread without a cache: its calls, counted exactly ---------- */

/*
 * Park threads on every cache of the pool: each takes one buffer (which
 * claims a cache) and gives it back, then waits until released.
 */
struct bps_parking {
	struct bufpool *pool;
	uint32_t n;
	pthread_t *t;
	pthread_barrier_t parked, go;
	struct bps_err err;
};

static void *bps_park_fn(void *arg)
{
	struct bps_parking *p = arg;
	void *b = bufpool_acquire(p->pool);

	if (!b || bufpool_release(p->pool, b))
		bps_fail(&p->err, "parking thread's pair");
	pthread_barrier_wait(&p->parked);
	pthread_barrier_wait(&p->go);
	return NULL;
}

static inline int bps_park(struct bps_parking *p, struct bufpool *pool,
			   uint32_t n)
{
	uint32_t i;

	memset(p, 0, sizeof(*p));
	p->pool = pool;
	p->n = n;
	p->t = calloc(n, sizeof(*p->t));
	if (!p->t)
		return ENOMEM;
	pthread_barrier_init(&p->parked, NULL, n + 1);
	pthread_barrier_init(&p->go, NULL, n + 1);
	for (i = 0; i < n; i++)
		if (bps_spawn(&p->t[i], bps_park_fn, p))
			abort();
	pthread_barrier_wait(&p->parked);
	return 0;
}

static inline void bps_unpark(struct bps_parking *p)
{
	uint32_t i;

	pthread_barrier_wait(&p->go);
	for (i = 0; i < p->n; i++)
		pthread_join(p->t[i], NULL);
	pthread_barrier_destroy(&p->parked);
	pthread_barrier_destroy(&p->go);
	free(p->t);
}

#endif /* BUFPOOL_SHARED_HELPERS_H */
