// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool selftests of the kernel's side of queues (ABI 1.3): raw
 * BUFPOOL_IOC_QUEUE calls and their errors, roles and users, what the
 * reconciliation counts and gives back, addressed handoffs and the
 * live-client map.  No library: the shared algorithm of
 * <bufpool/queue.h> runs on the mapped control area, as a client would.
 */
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/bufpool.h>
#include <bufpool/freelist.h>
#include <bufpool/queue.h>
#include <kselftest_harness.h>

#include "bufpool_selftest.h"

/* One client: bp_raw_open() of the default pool, read-write. */
static int client_open(struct bp_raw_client *c)
{
	return bp_raw_open(c, BUFPOOL_DEV_PATH, PROT_READ | PROT_WRITE);
}

static int qop(struct bp_raw_client *c, __u32 op, __u32 flags, const char *name,
	       __u32 capacity, __u32 id, struct bufpool_queue_req *out)
{
	struct bufpool_queue_req req = {
		.op = op, .flags = flags, .capacity = capacity, .id = id,
	};
	size_t len = strlen(name);
	int ret;

	/* A name of 32 or more: all 32 bytes, no NUL. */
	memcpy(req.name, name, len < sizeof(req.name) ? len : sizeof(req.name));
	ret = ioctl(c->fd, BUFPOOL_IOC_QUEUE, &req);
	if (out)
		*out = req;
	return ret;
}

static int qopen(struct bp_raw_client *c, __u32 flags, const char *name,
		 __u32 capacity, struct bufpool_queue_req *out)
{
	return qop(c, BUFPOOL_QOP_OPEN, flags, name, capacity, 0, out);
}

static int qclose(struct bp_raw_client *c, __u32 id)
{
	return qop(c, BUFPOOL_QOP_CLOSE, 0, "", 0, id, NULL);
}

static __u32 *own(struct bp_raw_client *c)
{
	return (__u32 *)(c->ctrl + c->info.own_offset);
}

static struct bufpool_qdesc *desc(struct bp_raw_client *c, __u32 k)
{
	return (struct bufpool_qdesc *)(c->ctrl + c->info.queues_offset) + k;
}

/* Queue k as the kernel answered, for <bufpool/queue.h>. */
static void qbind(struct bp_raw_client *c, const struct bufpool_queue_req *r,
		  struct bp_q *q)
{
	q->d = desc(c, r->id);
	q->slots = (__u64 *)(c->ctrl + c->info.qslots_offset) +
		   (__u64)r->id * c->info.queue_len;
	q->mask = r->capacity - 1;
	q->shift = __builtin_ctz(r->capacity);
	q->buf_count = c->info.buf_count;
}

/* Take a buffer off the free list and record it as c's. */
static __u32 take(struct bp_raw_client *c)
{
	struct bufpool_ctrl *h = (struct bufpool_ctrl *)c->ctrl;
	__u32 x = bp_fl_pop(&h->free_head,
			    (__u32 *)(c->ctrl + c->info.next_offset),
			    c->info.buf_count);

	if (x < c->info.buf_count)
		own(c)[x] = c->id;
	return x;
}

/* Enqueue a buffer c holds, as the ownership protocol says. */
static int put(struct bp_raw_client *c, struct bp_q *q, __u32 x)
{
	own(c)[x] = BUFPOOL_OWN_FREE;
	return bp_q_put(q, x, 0, NULL);
}

static int audit(struct bp_raw_client *c, struct bufpool_audit *a)
{
	memset(a, 0, sizeof(*a));
	return ioctl(c->fd, BUFPOOL_IOC_AUDIT, a);
}

static int live_bit(struct bp_raw_client *c, __u32 id)
{
	__u64 *live = (__u64 *)(c->ctrl + c->info.live_offset);

	return (live[id / 64] >> (id % 64)) & 1;
}

FIXTURE(q) {
	struct bp_raw_client a, b, c;
};

FIXTURE_SETUP(q)
{
	self->a.fd = self->b.fd = self->c.fd = -1;
	self->a.ctrl = self->b.ctrl = self->c.ctrl = MAP_FAILED;
	if (access(BUFPOOL_DEV_PATH, F_OK))
		SKIP(return, "needs " BUFPOOL_DEV_PATH);
	ASSERT_EQ(0, client_open(&self->a));
	ASSERT_EQ(0, client_open(&self->b));
	ASSERT_EQ(0, client_open(&self->c));
	if (!self->a.info.nr_queues)
		SKIP(return, "the pool has no queues (queues=0)");
}

FIXTURE_TEARDOWN(q)
{
	bp_raw_close(&self->a);
	bp_raw_close(&self->b);
	bp_raw_close(&self->c);
}

/* The audit adds up, with queued, and nothing was repaired. */
#define EXPECT_AUDIT_WHOLE(a) do {					\
	EXPECT_EQ((a).buf_count, (a).free + (a).cached + (a).held +	\
		  (a).transit + (a).queued);				\
	EXPECT_EQ(BUFPOOL_AUDIT_SIZE_VER1, (a).size);			\
	EXPECT_EQ(0, (a).repaired);					\
} while (0)

TEST_F(q, open_close_errors)
{
	struct bufpool_queue_req r, r2;
	char longname[40];
	__u32 len = self->a.info.queue_len;

	memset(longname, 'x', sizeof(longname));
	longname[BUFPOOL_QUEUE_NAME_MAX] = 0;	/* 32: one too many */

	EXPECT_EQ(-1, qopen(&self->a, 0, "kt-nosuch", 0, NULL));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, qopen(&self->a, BUFPOOL_QOPEN_CREATE, longname, 4, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, qopen(&self->a, BUFPOOL_QOPEN_CREATE, "a b", 4, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, qopen(&self->a, BUFPOOL_QOPEN_CREATE, "a/b", 4, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, qopen(&self->a, BUFPOOL_QOPEN_CREATE, "", 4, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, qopen(&self->a, BUFPOOL_QOPEN_CREATE, "kt-q", 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, qopen(&self->a, BUFPOOL_QOPEN_CREATE, "kt-q", len + 1,
			    NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, qopen(&self->a, BUFPOOL_QOPEN_CREATE | 0x100, "kt-q", 4,
			    NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, qop(&self->a, 7, 0, "kt-q", 4, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	/* None of that made a queue. */
	EXPECT_EQ(-1, qopen(&self->a, 0, "kt-q", 0, NULL));
	EXPECT_EQ(ENOENT, errno);

	/* Made, capacity rounded up to a power of two. */
	ASSERT_EQ(0, qopen(&self->a, BUFPOOL_QOPEN_CREATE |
			   BUFPOOL_QOPEN_CONSUME, "kt-q", 3, &r));
	EXPECT_EQ(BUFPOOL_QUEUE_REQ_SIZE_VER0, r.size);
	EXPECT_EQ(4, r.capacity);
	EXPECT_EQ(0, r.queue_flags);
	EXPECT_GT(self->a.info.nr_queues, r.id);
	EXPECT_EQ(BUFPOOL_QSTATE_LIVE, desc(&self->a, r.id)->state);
	EXPECT_EQ(self->a.id, desc(&self->a, r.id)->consumer);
	EXPECT_EQ(1, desc(&self->a, r.id)->users);
	EXPECT_STREQ("kt-q", desc(&self->a, r.id)->name);

	EXPECT_EQ(-1, qopen(&self->b, BUFPOOL_QOPEN_CREATE | BUFPOOL_QOPEN_EXCL,
			    "kt-q", 4, NULL));
	EXPECT_EQ(EEXIST, errno);
	EXPECT_EQ(-1, qopen(&self->a, 0, "kt-q", 0, NULL));
	EXPECT_EQ(EALREADY, errno);
	EXPECT_EQ(-1, qopen(&self->b, BUFPOOL_QOPEN_CONSUME, "kt-q", 0, NULL));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(-1, qclose(&self->b, r.id));		/* b has not it open */
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, qclose(&self->b, 1000));
	EXPECT_EQ(EINVAL, errno);
	/* The refused calls changed nothing. */
	EXPECT_EQ(1, desc(&self->a, r.id)->users);
	EXPECT_EQ(self->a.id, desc(&self->a, r.id)->consumer);

	/* b opens it as a plain user, then the consumer's file goes. */
	ASSERT_EQ(0, qopen(&self->b, 0, "kt-q", 0, &r2));
	EXPECT_EQ(r.id, r2.id);
	EXPECT_EQ(r.generation, r2.generation);
	EXPECT_EQ(2, desc(&self->b, r.id)->users);
	bp_raw_close(&self->a);
	EXPECT_EQ(1, desc(&self->b, r.id)->users);
	EXPECT_EQ(0, desc(&self->b, r.id)->consumer);
	ASSERT_EQ(0, qopen(&self->c, BUFPOOL_QOPEN_CONSUME, "kt-q", 0, NULL));
	EXPECT_EQ(self->c.id, desc(&self->b, r.id)->consumer);

	/* Last users go: the queue is gone. */
	EXPECT_EQ(0, qclose(&self->c, r.id));
	EXPECT_EQ(-1, qclose(&self->c, r.id));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, qclose(&self->b, r.id));
	EXPECT_EQ(BUFPOOL_QSTATE_FREE, desc(&self->b, r.id)->state);
	EXPECT_EQ(-1, qopen(&self->b, 0, "kt-q", 0, NULL));
	EXPECT_EQ(ENOENT, errno);
}

/* A single-producer queue: one producer at a time. */
TEST_F(q, sp_producer_role)
{
	struct bufpool_queue_req r;

	ASSERT_EQ(0, qopen(&self->a, BUFPOOL_QOPEN_CREATE | BUFPOOL_QOPEN_SP |
			   BUFPOOL_QOPEN_PRODUCE, "kt-sp", 2, &r));
	EXPECT_EQ(BUFPOOL_QUEUE_SP, r.queue_flags);
	EXPECT_EQ(-1, qopen(&self->b, BUFPOOL_QOPEN_PRODUCE, "kt-sp", 0, NULL));
	EXPECT_EQ(EBUSY, errno);
	ASSERT_EQ(0, qopen(&self->b, BUFPOOL_QOPEN_CONSUME, "kt-sp", 0, NULL));
	EXPECT_EQ(0, qclose(&self->a, r.id));
	EXPECT_EQ(0, qopen(&self->c, BUFPOOL_QOPEN_PRODUCE, "kt-sp", 0, NULL));
	EXPECT_EQ(self->c.id, desc(&self->a, r.id)->producer);
}

/* Every descriptor in use: ENOSPC, and nothing made. */
TEST_F(q, no_space)
{
	__u32 n = self->a.info.nr_queues, i, made = 0;
	char name[32];

	for (i = 0; i <= n; i++) {
		snprintf(name, sizeof(name), "kt-full-%u", i);
		if (qopen(&self->a, BUFPOOL_QOPEN_CREATE, name, 1, NULL)) {
			EXPECT_EQ(ENOSPC, errno);
			break;
		}
		made++;
	}
	EXPECT_GE(n, made);
	EXPECT_GT(n + 1, i);
	EXPECT_EQ(-1, qopen(&self->a, 0, name, 0, NULL));
	EXPECT_EQ(ENOENT, errno);
}

/*
 * A consumer that dies leaves the contents queued for the next one,
 * while another user keeps the queue open; when the last user goes they
 * come back to the pool.
 */
TEST_F(q, contents_outlive_consumer_then_come_back)
{
	struct bufpool_queue_req r;
	struct bufpool_audit au;
	__u32 x[3], i;
	struct bp_q qa, qc;

	ASSERT_EQ(0, qopen(&self->a, BUFPOOL_QOPEN_CREATE |
			   BUFPOOL_QOPEN_PRODUCE, "kt-keep", 8, &r));
	ASSERT_EQ(0, qopen(&self->b, BUFPOOL_QOPEN_CONSUME, "kt-keep", 0, NULL));
	qbind(&self->a, &r, &qa);
	for (i = 0; i < 3; i++) {
		x[i] = take(&self->a);
		ASSERT_GT(self->a.info.buf_count, x[i]);
		ASSERT_EQ(0, put(&self->a, &qa, x[i]));
	}
	ASSERT_EQ(0, audit(&self->c, &au));
	EXPECT_AUDIT_WHOLE(au);
	EXPECT_EQ(3, au.queued);
	EXPECT_LE(1, au.queues);

	bp_raw_close(&self->b);		/* the consumer dies */
	ASSERT_EQ(0, audit(&self->c, &au));
	EXPECT_AUDIT_WHOLE(au);
	EXPECT_EQ(3, au.queued);
	EXPECT_EQ(0, au.reclaimed);

	ASSERT_EQ(0, qopen(&self->c, BUFPOOL_QOPEN_CONSUME, "kt-keep", 0, &r));
	qbind(&self->c, &r, &qc);
	EXPECT_EQ(x[0], bp_q_get(&qc, own(&self->c), self->c.id));
	EXPECT_EQ(self->c.id, own(&self->c)[x[0]]);
	ASSERT_EQ(0, audit(&self->c, &au));
	EXPECT_AUDIT_WHOLE(au);
	EXPECT_EQ(2, au.queued);
	EXPECT_EQ(1, au.held);

	/* The last users go: the two still queued come back. */
	EXPECT_EQ(0, qclose(&self->a, r.id));
	EXPECT_EQ(0, qclose(&self->c, r.id));
	ASSERT_EQ(0, audit(&self->c, &au));
	EXPECT_AUDIT_WHOLE(au);
	EXPECT_EQ(0, au.queued);
	EXPECT_EQ(1, au.held);
	EXPECT_EQ(au.buf_count - 1, au.free);
	EXPECT_EQ(BUFPOOL_QSTATE_FREE, desc(&self->c, r.id)->state);
	EXPECT_EQ(0, bp_load_relaxed_u64(&desc(&self->c, r.id)->tail));
}

/* A file released holding the last use: drained in the same pass. */
TEST_F(q, release_drains)
{
	struct bufpool_queue_req r;
	struct bufpool_audit au;
	struct bp_q qa;
	__u32 i;

	ASSERT_EQ(0, qopen(&self->a, BUFPOOL_QOPEN_CREATE, "kt-rel", 4, &r));
	qbind(&self->a, &r, &qa);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, put(&self->a, &qa, take(&self->a)));
	EXPECT_EQ(BP_Q_FULL, put(&self->a, &qa, take(&self->a)));
	bp_raw_close(&self->a);
	ASSERT_EQ(0, audit(&self->b, &au));
	EXPECT_AUDIT_WHOLE(au);
	EXPECT_EQ(0, au.queued);
	EXPECT_EQ(au.buf_count, au.free);
	EXPECT_EQ(BUFPOOL_QSTATE_FREE, desc(&self->b, r.id)->state);
}

/*
 * A live consumer's dequeue in flight (own[x] = consumer, the slot still
 * names x) survives an audit exactly; then it completes.
 */
TEST_F(q, dequeue_in_flight_survives_audit)
{
	struct bufpool_queue_req r;
	struct bufpool_audit au;
	struct bp_q qa, qb;
	__u32 x, y;

	ASSERT_EQ(0, qopen(&self->a, BUFPOOL_QOPEN_CREATE, "kt-fly", 4, &r));
	ASSERT_EQ(0, qopen(&self->b, BUFPOOL_QOPEN_CONSUME, "kt-fly", 0, NULL));
	qbind(&self->a, &r, &qa);
	qbind(&self->b, &r, &qb);
	x = take(&self->a);
	y = take(&self->a);
	ASSERT_EQ(0, put(&self->a, &qa, x));
	ASSERT_EQ(0, put(&self->a, &qa, y));
	own(&self->b)[x] = self->b.id;		/* the consumer's first step */
	ASSERT_EQ(0, audit(&self->c, &au));
	EXPECT_AUDIT_WHOLE(au);
	EXPECT_EQ(2, au.queued);
	EXPECT_EQ(0, au.held);
	EXPECT_EQ(self->b.id, own(&self->b)[x]);
	/* The consumer goes on: the slot consumed, head moved; x is its. */
	{
		__u64 h = qb.d->head;

		qb.slots[h & qb.mask] = bp_q_slot(bp_q_lap(&qb, h) + 1,
						  BUFPOOL_QUEUE_EMPTY);
		qb.d->head = h + 1;
	}
	ASSERT_EQ(0, audit(&self->c, &au));
	EXPECT_AUDIT_WHOLE(au);
	EXPECT_EQ(1, au.queued);
	EXPECT_EQ(1, au.held);

	/*
	 * A live non-consumer's record of a queued buffer (no correct
	 * producer leaves one): the record wins, the slot is voided (ABI
	 * 1.4), and the consumer passes over it.
	 */
	own(&self->b)[y] = self->c.id;
	ASSERT_EQ(0, audit(&self->c, &au));
	EXPECT_EQ(au.buf_count, au.free + au.cached + au.held + au.transit +
		  au.queued);
	EXPECT_EQ(1, au.repaired);
	EXPECT_EQ(0, au.queued);
	EXPECT_EQ(2, au.held);
	EXPECT_EQ(self->c.id, own(&self->b)[y]);
	EXPECT_EQ(BUFPOOL_IDX_NIL, bp_q_get(&qb, own(&self->b), self->b.id));
}

/* Addressed handoff: held while the receiver lives, back when it goes. */
TEST_F(q, addressed_handoff)
{
	struct bufpool_audit au;
	__u32 x, y;

	x = take(&self->a);
	y = take(&self->a);
	ASSERT_GT(self->a.info.buf_count, y);
	own(&self->a)[x] = BUFPOOL_OWN_TO | self->b.id;
	own(&self->a)[y] = BUFPOOL_OWN_TO | self->c.id;
	ASSERT_EQ(0, audit(&self->a, &au));
	EXPECT_AUDIT_WHOLE(au);
	EXPECT_EQ(2, au.transit);

	/* c adopts y: the kernel counts it as c's. */
	own(&self->c)[y] = self->c.id;
	/* b goes before adopting x: x is free again after that close. */
	bp_raw_close(&self->b);
	EXPECT_EQ(BUFPOOL_OWN_FREE, own(&self->a)[x]);
	ASSERT_EQ(0, audit(&self->a, &au));
	EXPECT_AUDIT_WHOLE(au);
	EXPECT_EQ(0, au.transit);
	EXPECT_EQ(1, au.held);
	EXPECT_EQ(au.buf_count - 1, au.free);
	bp_raw_close(&self->c);
	ASSERT_EQ(0, audit(&self->a, &au));
	EXPECT_EQ(au.buf_count, au.free);
}

/* The live-client map: a bit while the file is open. */
TEST_F(q, live_map)
{
	__u32 id = self->b.id;

	EXPECT_EQ(1, live_bit(&self->a, self->a.id));
	EXPECT_EQ(1, live_bit(&self->a, id));
	EXPECT_EQ(1, live_bit(&self->a, self->c.id));
	bp_raw_close(&self->b);
	EXPECT_EQ(0, live_bit(&self->a, id));
	EXPECT_EQ(1, live_bit(&self->a, self->c.id));
}

/* An old binary's 48-byte audit still works. */
TEST_F(q, audit_old_size)
{
	unsigned char raw[BUFPOOL_AUDIT_SIZE_VER1 + 8];
	struct bufpool_audit *au = (struct bufpool_audit *)raw;

	memset(raw, 0xa5, sizeof(raw));
	ASSERT_EQ(0, ioctl(self->a.fd, _IOR(BUFPOOL_IOC_MAGIC, 0x02,
					    char[BUFPOOL_AUDIT_SIZE_VER0]), raw));
	EXPECT_EQ(BUFPOOL_AUDIT_SIZE_VER0, au->size);
	EXPECT_EQ(0xa5, raw[BUFPOOL_AUDIT_SIZE_VER0]);
}

TEST_HARNESS_MAIN
