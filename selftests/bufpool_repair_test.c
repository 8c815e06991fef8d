// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool selftests of BUFPOOL_IOC_REPAIR (ABI 1.4) and of the rate
 * limit on the reconciliations clients ask for (REPAIR and AUDIT): raw
 * ioctls and a raw mapping of the control area for the kernel's side,
 * the library for a well-behaved worker whose acquire latency is
 * measured while another client loops on AUDIT.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>

#include <linux/bufpool.h>
#include <bufpool/freelist.h>
#include <bufpool.h>
#include <kselftest_harness.h>

#include "bufpool_selftest.h"

/* One client: bp_raw_open() of the default pool, read-write. */
static int client_open(struct bp_raw_client *c)
{
	return bp_raw_open(c, BUFPOOL_DEV_PATH, PROT_READ | PROT_WRITE);
}

static struct bufpool_ctrl *hdr(struct bp_raw_client *c)
{
	return (struct bufpool_ctrl *)c->ctrl;
}

static __u32 *own(struct bp_raw_client *c)
{
	return (__u32 *)(c->ctrl + c->info.own_offset);
}

static __u32 *next(struct bp_raw_client *c)
{
	return (__u32 *)(c->ctrl + c->info.next_offset);
}

/* Take a buffer off the free list and record it as c's. */
static __u32 take(struct bp_raw_client *c)
{
	__u32 x = bp_fl_pop(&hdr(c)->free_head, next(c), c->info.buf_count);

	if (x < c->info.buf_count)
		own(c)[x] = c->id;
	return x;
}

/* Corruption: link x into the free list at its head. */
static void link_head(struct bp_raw_client *c, __u32 x)
{
	__u64 h = hdr(c)->free_head;

	next(c)[x] = bp_fl_idx(h);
	hdr(c)->free_head = bp_fl_pack(x, bp_fl_next_tag(h));
}

/* Corruption: link x into the free list after its k-th entry. */
static int link_after(struct bp_raw_client *c, __u32 x, unsigned int k)
{
	__u32 idx = bp_fl_idx(hdr(c)->free_head);

	while (k-- && idx < c->info.buf_count)
		idx = next(c)[idx];
	if (idx >= c->info.buf_count)
		return -1;
	next(c)[x] = next(c)[idx];
	next(c)[idx] = x;
	return 0;
}

/* Is x on the free list?  A bounded walk: the list may be corrupt. */
static int on_free_list(struct bp_raw_client *c, __u32 x)
{
	__u32 idx = bp_fl_idx(hdr(c)->free_head), n;

	for (n = 0; idx < c->info.buf_count && n <= c->info.buf_count; n++) {
		if (idx == x)
			return 1;
		idx = next(c)[idx];
	}
	return 0;
}

static int repair(struct bp_raw_client *c, __u32 flags)
{
	return ioctl(c->fd, BUFPOOL_IOC_REPAIR, &flags);
}

static int audit(struct bp_raw_client *c, struct bufpool_audit *a)
{
	memset(a, 0, sizeof(*a));
	return ioctl(c->fd, BUFPOOL_IOC_AUDIT, a);
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The audit adds up and nothing was left to repair. */
#define EXPECT_AUDIT_WHOLE(a) do {					\
	EXPECT_EQ((a).buf_count, (a).free + (a).cached + (a).held +	\
		  (a).transit + (a).queued);				\
	EXPECT_EQ(0, (a).repaired);					\
} while (0)

FIXTURE(rp) {
	struct bp_raw_client a, b;
};

FIXTURE_SETUP(rp)
{
	self->a.fd = self->b.fd = -1;
	self->a.ctrl = self->b.ctrl = MAP_FAILED;
	if (access(BUFPOOL_DEV_PATH, F_OK))
		SKIP(return, "needs " BUFPOOL_DEV_PATH);
	if (bp_stat("repairs") < 0)
		SKIP(return, "the module has no BUFPOOL_IOC_REPAIR (ABI < 1.4)");
	ASSERT_EQ(0, client_open(&self->a));
	ASSERT_EQ(0, client_open(&self->b));
}

FIXTURE_TEARDOWN(rp)
{
	bp_raw_close(&self->a);
	bp_raw_close(&self->b);
}

/* Unknown flags: EINVAL; every call counts in repair_requests. */
TEST_F(rp, bad_flags)
{
	long long req = bp_stat("repair_requests");
	__u32 bad[] = { 0x2, 0x80000000u, 0xffffffffu };
	unsigned int i;

	for (i = 0; i < 3; i++) {
		EXPECT_EQ(-1, repair(&self->a, bad[i]));
		EXPECT_EQ(EINVAL, errno);
	}
	EXPECT_EQ(req + 3, bp_stat("repair_requests"));
	/* The command with another size is not REPAIR. */
	EXPECT_EQ(-1, ioctl(self->a.fd, _IOW(BUFPOOL_IOC_MAGIC, 0x06, __u64),
			    &bad[0]));
	EXPECT_EQ(ENOTTY, errno);
}

/*
 * Another client links buffers a holds into the free list (at the head
 * and in the middle): a synchronous REPAIR takes them off the list and
 * leaves them to a.
 */
TEST_F(rp, sync_repair_keeps_the_holder)
{
	long long repairs = bp_stat("repairs");
	long long repaired = bp_stat("repaired");
	long long req = bp_stat("repair_requests");
	struct bufpool_audit au;
	__u32 x, y;

	x = take(&self->a);
	y = take(&self->a);
	ASSERT_GT(self->a.info.buf_count, x);
	ASSERT_GT(self->a.info.buf_count, y);
	link_head(&self->b, x);
	if (link_after(&self->b, y, 5))
		SKIP(return, "a pool of fewer than 7 buffers");
	ASSERT_EQ(1, on_free_list(&self->b, x));
	ASSERT_EQ(1, on_free_list(&self->b, y));

	ASSERT_EQ(0, repair(&self->b, 0));
	EXPECT_EQ(self->a.id, own(&self->a)[x]);
	EXPECT_EQ(self->a.id, own(&self->a)[y]);
	EXPECT_EQ(0, on_free_list(&self->a, x));
	EXPECT_EQ(0, on_free_list(&self->a, y));
	EXPECT_EQ(req + 1, bp_stat("repair_requests"));
	EXPECT_EQ(repairs + 1, bp_stat("repairs"));
	EXPECT_EQ(repaired + 2, bp_stat("repaired"));
	EXPECT_EQ((__u64)bp_stat("repairs"), hdr(&self->a)->repairs);

	ASSERT_EQ(0, audit(&self->b, &au));
	EXPECT_AUDIT_WHOLE(au);
	EXPECT_EQ(2, au.held);
	EXPECT_EQ(0, au.reclaimed);
	EXPECT_EQ(repairs + 2, bp_stat("repairs"));
}

/* ASYNC returns at once; the repair happens when the limit allows. */
TEST_F(rp, async_repair_happens)
{
	long long repairs = bp_stat("repairs"), t0, t;
	struct bufpool_audit au;
	__u32 x;

	x = take(&self->a);
	ASSERT_GT(self->a.info.buf_count, x);
	link_head(&self->b, x);
	/* A reconciliation just now: the request comes early, is deferred. */
	ASSERT_EQ(0, audit(&self->b, &au));
	EXPECT_EQ(1, au.repaired);	/* that one took x off already */
	link_head(&self->b, x);
	repairs = bp_stat("repairs");

	t0 = now_ns();
	ASSERT_EQ(0, repair(&self->b, BUFPOOL_REPAIR_ASYNC));
	t = now_ns() - t0;
	TH_LOG("ASYNC returned in %lld us", t / 1000);
	/* Two requests coalesce: one run serves both. */
	ASSERT_EQ(0, repair(&self->b, BUFPOOL_REPAIR_ASYNC));
	for (t0 = now_ns(); bp_stat("repairs") == repairs &&
	     now_ns() - t0 < 20000000000LL;)
		usleep(1000);
	EXPECT_EQ(repairs + 1, bp_stat("repairs"));
	EXPECT_EQ(self->a.id, own(&self->a)[x]);
	EXPECT_EQ(0, on_free_list(&self->a, x));
	usleep(200000);		/* no second run for the second request */
	EXPECT_EQ(repairs + 1, bp_stat("repairs"));
}

/* ABI 1.5: client id's in-flight count on the shared path. */
static volatile __u32 *inflight(struct bp_raw_client *c, __u32 id)
{
	return (volatile __u32 *)(c->ctrl + c->info.live_offset +
				  BUFPOOL_INFLIGHT_GAP) + id;
}

/* A take by hand on the shared path, stopped before its record. */
static __u32 take_unnamed(struct bp_raw_client *c)
{
	return bp_fl_pop(&hdr(c)->free_head, next(c), c->info.buf_count);
}

/*
 * ABI 1.5: a takes a buffer off the free list with its in-flight count
 * up and no record yet (a thread without a cache between its CAS and
 * its own[] record).  Another client's departure reconciles: the
 * buffer stays a's, counted held and unsettled, given to nobody.  Once
 * a's count is 0 (it gave up: no record), a REPAIR gives it back.
 */
TEST_F(rp, busy_client_keeps_its_take)
{
	struct bp_raw_client c = { .fd = -1, .ctrl = MAP_FAILED };
	struct bufpool_audit au;
	__u32 x;

	if (bp_stat("unsettled") < 0)
		SKIP(return, "the module has no shared path (ABI < 1.5)");
	ASSERT_EQ(0, audit(&self->b, &au));
	ASSERT_EQ(au.buf_count, au.free);	/* nobody else holds any */
	*inflight(&self->a, self->a.id) = 1;
	x = take_unnamed(&self->a);
	ASSERT_GT(self->a.info.buf_count, x);

	ASSERT_EQ(0, client_open(&c));
	bp_raw_close(&c);			/* a departure reconciles */
	EXPECT_LE(1, bp_stat("unsettled"));
	EXPECT_EQ(0, on_free_list(&self->b, x));
	ASSERT_EQ(0, audit(&self->b, &au));
	EXPECT_AUDIT_WHOLE(au);
	EXPECT_EQ(1, au.held);
	EXPECT_EQ(au.buf_count - 1, au.free);
	EXPECT_EQ(0, au.reclaimed);
	EXPECT_EQ(0, on_free_list(&self->b, x));
	EXPECT_EQ(BUFPOOL_OWN_FREE, own(&self->a)[x]);
	EXPECT_LE(1, bp_stat("unsettled"));

	*inflight(&self->a, self->a.id) = 0;
	ASSERT_EQ(0, repair(&self->b, 0));
	EXPECT_EQ(1, on_free_list(&self->b, x));
	EXPECT_EQ(0, bp_stat("unsettled"));
	ASSERT_EQ(0, audit(&self->b, &au));
	EXPECT_AUDIT_WHOLE(au);
	EXPECT_EQ(au.buf_count, au.free);
	EXPECT_EQ(0, au.reclaimed);		/* given back once */
}

/*
 * ABI 1.5: c dies amid a shared-path take (its count up, a buffer off
 * the free list, no record) while a is busy: c's departure leaves the
 * buffer, and the pool owes a follow-up, which runs by itself (spaced,
 * backing off while a stays busy) and gives the buffer back once a's
 * count is 0.  A new client's count starts at 0 whatever the word held;
 * a gone client's is 0 again.  The kernel recounts the free caches.
 */
TEST_F(rp, dead_clients_take_settles_by_itself)
{
	struct bp_raw_client c = { .fd = -1, .ctrl = MAP_FAILED };
	long long passes, t0;
	struct bufpool_audit au;
	__u32 y, guess;

	if (bp_stat("settle_passes") < 0)
		SKIP(return, "the module has no shared path (ABI < 1.5)");
	ASSERT_EQ(0, audit(&self->b, &au));
	ASSERT_EQ(au.buf_count, au.free);
	/* Ids cycle: c most likely gets b's + 1.  Scribble it first. */
	guess = self->b.id + 1;
	*inflight(&self->a, guess) = 7;
	hdr(&self->a)->caches_free = 12345;
	ASSERT_EQ(0, client_open(&c));
	if (c.id == guess) {
		EXPECT_EQ(0, *inflight(&self->a, c.id));
	} else {
		TH_LOG("c got id %u, not %u: its zeroing unchecked", c.id,
		       guess);
	}

	*inflight(&self->a, self->a.id) = 1;	/* a busy */
	*inflight(&c, c.id) = 1;
	y = take_unnamed(&c);
	ASSERT_GT(c.info.buf_count, y);
	passes = bp_stat("settle_passes");
	bp_raw_close(&c);			/* c dies */
	EXPECT_EQ(0, *inflight(&self->a, c.id));
	EXPECT_EQ(self->a.info.nr_caches, hdr(&self->a)->caches_free);
	EXPECT_LE(1, bp_stat("unsettled"));
	EXPECT_EQ(0, on_free_list(&self->a, y));

	/* A while busy: follow-ups run and leave y. */
	usleep(100000);
	EXPECT_EQ(0, on_free_list(&self->a, y));

	*inflight(&self->a, self->a.id) = 0;
	for (t0 = now_ns(); (bp_stat("unsettled") != 0 ||
			     !on_free_list(&self->a, y)) &&
	     now_ns() - t0 < 5000000000LL;)
		usleep(1000);
	EXPECT_EQ(0, bp_stat("unsettled"));
	EXPECT_EQ(1, on_free_list(&self->a, y));
	EXPECT_LT(passes, bp_stat("settle_passes"));
	TH_LOG("%lld follow-up passes, settled %lld ms after a was done",
	       bp_stat("settle_passes") - passes, (now_ns() - t0) / 1000000);
	ASSERT_EQ(0, audit(&self->b, &au));
	EXPECT_AUDIT_WHOLE(au);
	EXPECT_EQ(au.buf_count, au.free);
	EXPECT_EQ(0, au.reclaimed);		/* given back once */
}

/*
 * The rate limit, as counts: one client calling AUDIT in a loop for 2 s
 * runs at most 2 s / repair_interval_ms + 2 reconciliations, and the
 * pool is stopped at most 1% of the time plus one reconciliation: each
 * reconciliation of duration d is followed by at least 100 d before the
 * next starts, so over the loop's elapsed time E the stopped time is at
 * most E / 101 + the last one's duration, which is at most the longest
 * AUDIT call.  Both hold whatever the speed of the machine (TCG too).
 */
TEST_F(rp, audit_loop_is_rate_limited)
{
	long long interval = bp_param("repair_interval_ms");
	long long repairs, stopped, waits, t0, t1, c0, c, longest = 0;
	long long elapsed, bound;
	struct bufpool_audit au;
	unsigned int calls = 0;

	ASSERT_LE(0, interval);
	repairs = bp_stat("repairs");
	stopped = bp_stat("repair_stopped_us");
	waits = bp_stat("repair_waits");
	t0 = now_ns();
	do {
		c0 = now_ns();
		ASSERT_EQ(0, audit(&self->b, &au));
		c = now_ns() - c0;
		if (c > longest)
			longest = c;
		calls++;
		EXPECT_EQ(au.buf_count, au.free + au.cached + au.held +
			  au.transit + au.queued);
	} while ((t1 = now_ns()) - t0 < 2000000000LL);
	elapsed = t1 - t0;
	repairs = bp_stat("repairs") - repairs;
	stopped = bp_stat("repair_stopped_us") - stopped;
	waits = bp_stat("repair_waits") - waits;
	TH_LOG("repair_interval_ms=%lld: %u AUDIT calls, %lld reconciliations in %lld ms, %lld waited; stopped %lld us (%.3f%%), longest call %lld us",
	       interval, calls, repairs, elapsed / 1000000, waits, stopped,
	       100.0 * stopped * 1000 / elapsed, longest / 1000);
	EXPECT_LE(1, repairs);
	EXPECT_LE(repairs, calls);
	if (interval) {
		bound = elapsed / (interval * 1000000) + 2;
		EXPECT_LE(repairs, bound);
		if (calls > 2)
			EXPECT_LE(1, waits);
	}
	EXPECT_LE(stopped, elapsed / 1000 / 101 + longest / 1000 + 1);
}

/*
 * A REPAIR waiting for the rate limit ends on a signal: EINTR.  Right
 * after an AUDIT the next may start repair_interval_ms (or 100 times
 * the AUDIT's duration) later; a timer fires 500 us into the wait.  A
 * caller descheduled past the whole wait finds no wait: tried again.
 */
static void on_alarm(int sig)
{
	(void)sig;
}

TEST_F(rp, sync_wait_is_interruptible)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { .it_value = { .tv_usec = 500 } };
	struct itimerval off = { 0 };
	struct bufpool_audit au;
	int tries, ret, err = 0, eintr = 0;

	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	for (tries = 0; tries < 20 && !eintr; tries++) {
		ASSERT_EQ(0, audit(&self->b, &au));
		ASSERT_EQ(0, setitimer(ITIMER_REAL, &it, NULL));
		ret = repair(&self->b, 0);
		err = errno;
		setitimer(ITIMER_REAL, &off, NULL);
		if (ret)
			EXPECT_EQ(EINTR, err);
		eintr = ret && err == EINTR;
	}
	TH_LOG("EINTR after %d tries", tries);
	EXPECT_EQ(1, eintr);
	signal(SIGALRM, SIG_DFL);
}

/*
 * What one client looping on AUDIT costs the others' acquire latency: a
 * worker (the library, its own client) times acquire+release pairs,
 * alone and then while another client calls AUDIT in a loop.  The
 * numbers are informational (reported, not asserted).
 */
struct lat {
	struct bufpool *pool;
	long long ns;		/* how long to run */
	uint32_t *samples;	/* each pair's latency, ns */
	size_t n, cap;
	long long elapsed;
	volatile int *stop;
};

static void *worker(void *arg)
{
	struct lat *l = arg;
	long long t0 = now_ns(), a, b;
	void *buf;

	l->n = 0;
	for (;;) {
		a = now_ns();
		buf = bufpool_acquire(l->pool);
		if (buf)
			bufpool_release(l->pool, buf);
		b = now_ns();
		if (l->n < l->cap)
			l->samples[l->n++] = b - a > UINT32_MAX ? UINT32_MAX :
					     (uint32_t)(b - a);
		if (b - t0 >= l->ns)
			break;
	}
	l->elapsed = now_ns() - t0;
	*l->stop = 1;
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void report(struct __test_metadata *_metadata, const char *what,
		   struct lat *l)
{
	size_t n = l->n;

	if (!n)
		return;
	qsort(l->samples, n, sizeof(*l->samples), cmp_u32);
	TH_LOG("%s: %zu pairs, %.0f pairs/s; ns p50 %u p99 %u p99.9 %u max %u",
	       what, n, n * 1e9 / l->elapsed, l->samples[n / 2],
	       l->samples[n * 99 / 100], l->samples[n * 999 / 1000],
	       l->samples[n - 1]);
}

TEST_F(rp, latency_under_an_audit_loop)
{
	volatile int stop = 0;
	struct lat l = { .ns = 1000000000LL, .cap = 4u << 20, .stop = &stop };
	long long repairs, stopped;
	struct bufpool_audit au;
	unsigned int audits = 0;
	pthread_t t;

	l.samples = malloc(l.cap * sizeof(*l.samples));
	ASSERT_NE(NULL, l.samples);
	l.pool = bufpool_open(NULL);
	ASSERT_NE(NULL, l.pool);

	ASSERT_EQ(0, pthread_create(&t, NULL, worker, &l));
	pthread_join(t, NULL);
	report(_metadata, "alone", &l);

	stop = 0;
	repairs = bp_stat("repairs");
	stopped = bp_stat("repair_stopped_us");
	ASSERT_EQ(0, pthread_create(&t, NULL, worker, &l));
	while (!stop) {
		ASSERT_EQ(0, audit(&self->b, &au));
		audits++;
	}
	pthread_join(t, NULL);
	report(_metadata, "with an AUDIT loop", &l);
	TH_LOG("meanwhile %u AUDIT calls ran %lld reconciliations, pool stopped %lld us",
	       audits, bp_stat("repairs") - repairs,
	       bp_stat("repair_stopped_us") - stopped);
	bufpool_close(l.pool);
	free(l.samples);
}

/*
 * The module reloaded with a long interval for the default pool and none
 * for pool rx (the pools= key): an ASYNC request waits there, a sync
 * one is interrupted, and unloading with the request pending cancels it
 * (no work runs after the module is gone: the debug kernels' KASAN and
 * lockdep would say).
 */
FIXTURE(reload) {
	int ready;
	const char *ko;
	char saved[1024];
	int was_loaded;
};

FIXTURE_SETUP(reload)
{
	BP_REQUIRE_MODULE(self);
	self->was_loaded = bp_module_save_unload(self->saved,
						 sizeof(self->saved));
	ASSERT_LE(0, self->was_loaded);
	self->ready = 1;
	ASSERT_EQ(0, bp_finit_module(self->ko,
		"buf_count=256 repair_interval_ms=60000 pools=rx:repair_interval_ms=0"));
}

FIXTURE_TEARDOWN(reload)
{
	BP_NEED_READY(self);
	EXPECT_EQ(0, bp_module_restore(self->ko, self->was_loaded,
				       self->saved));
}

TEST_F(reload, pending_request_at_unload)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { .it_value = { .tv_usec = 50000 } };
	struct bufpool_audit au;
	struct bp_raw_client c = { .fd = -1 }, rx = { .fd = -1 };
	long long t0, waits;
	int i, ret, err;

	BP_NEED_READY(self);
	ASSERT_EQ(60000, bp_param("repair_interval_ms"));
	ASSERT_EQ(0, client_open(&c));
	ASSERT_EQ(0, audit(&c, &au));
	waits = bp_stat("repair_waits");
	ASSERT_EQ(0, repair(&c, BUFPOOL_REPAIR_ASYNC));
	EXPECT_EQ(waits + 1, bp_stat("repair_waits"));
	usleep(100000);
	EXPECT_EQ(1, bp_stat("repairs"));	/* still waiting */
	EXPECT_EQ(1, hdr(&c)->repairs);

	/* A synchronous caller waits the minute out, or a signal. */
	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &it, NULL));
	t0 = now_ns();
	ret = repair(&c, 0);
	err = errno;
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EINTR, err);
	EXPECT_GT(10000000000LL, now_ns() - t0);
	EXPECT_EQ(1, bp_stat("repairs"));
	signal(SIGALRM, SIG_DFL);

	/* Pool rx, repair_interval_ms=0: only the 100x rule spaces them. */
	rx.ctrl = MAP_FAILED;
	rx.fd = open("/dev/bufpool-rx", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, rx.fd);
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, ioctl(rx.fd, BUFPOOL_IOC_AUDIT, &au));
	EXPECT_EQ(3, bp_read_number("/sys/class/bufpool/bufpool-rx/stats/",
				    "repairs"));
	close(rx.fd);

	/* The last close with the request pending; then unload at once. */
	bp_raw_close(&c);
	t0 = now_ns();
	EXPECT_EQ(0, bp_delete_module());
	EXPECT_GT(10000000000LL, now_ns() - t0);
	EXPECT_FALSE(bp_module_loaded());
}

TEST_HARNESS_MAIN
