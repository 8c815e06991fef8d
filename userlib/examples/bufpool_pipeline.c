// SPDX-License-Identifier: MIT
/*
 * bufpool-pipeline: a producer process and consumer processes sharing
 * one pool.  The producer takes a buffer, writes a message into it and
 * moves it to a consumer through one of the pool's queues (one queue per
 * consumer, in the pool's shared memory: no pipe, no system call); the
 * consumer, a client of the pool in its own right, checks the message
 * and gives the buffer back.  A buffer is always the producer's, queued,
 * or the consumer's: whoever dies, nothing is lost.  At the end the
 * queues' statistics are printed and the pool is audited: every buffer
 * must be free again.
 *
 * usage: bufpool-pipeline [--path DEV] [--messages N] [--consumers C]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bufpool.h>

#define MAX_CONSUMERS	16
#define BATCH		64
#define QUEUE_CAP	256
#define END_OF_STREAM	UINT64_MAX	/* the last message's seq */

struct msg_hdr {
	uint64_t seq;
	uint32_t len;		/* payload bytes after the header */
	uint32_t sum;		/* checksum of the payload */
};

static uint32_t fill(unsigned char *p, uint32_t len, uint64_t seq)
{
	uint32_t x = (uint32_t)seq * 2654435761u + 1, sum = 0, i;

	for (i = 0; i < len; i++) {
		x = x * 1664525u + 1013904223u;
		p[i] = (unsigned char)(x >> 24);
		sum = sum * 31 + p[i];
	}
	return sum;
}

static uint32_t checksum(const unsigned char *p, uint32_t len)
{
	uint32_t sum = 0, i;

	for (i = 0; i < len; i++)
		sum = sum * 31 + p[i];
	return sum;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * A consumer process, forked by the producer: it opens the pool as a
 * client of its own (a device pool by its path; a module-free pool
 * through the inherited descriptor) and its queue as the consumer.
 * Returns the exit status: 0 when every message checked out.
 */
static int consume(const char *path, int fd, int memfd, const char *qname,
		   int id)
{
	uint64_t msgs = 0, bad = 0, bytes = 0, idle = 0;
	struct bufpool_queue *q;
	struct bufpool *pool;
	void *bufs[BATCH];
	unsigned int n, i;
	int done = 0;

	pool = memfd ? bufpool_open_fd(fd) : bufpool_open(path);
	if (!pool) {
		fprintf(stderr, "consumer %d: open: %s\n", id, strerror(errno));
		return 1;
	}
	q = bufpool_queue_open(pool, qname, BUFPOOL_QUEUE_CONSUME, 0);
	if (!q) {
		fprintf(stderr, "consumer %d: queue %s: %s\n", id, qname,
			strerror(errno));
		return 1;
	}
	while (!done) {
		n = bufpool_dequeue_bulk(q, bufs, BATCH);
		if (!n) {
			if (errno != EAGAIN) {
				fprintf(stderr, "consumer %d: dequeue: %s\n", id,
					strerror(errno));
				bad++;
				break;
			}
			idle++;
			sched_yield();
			continue;
		}
		for (i = 0; i < n; i++) {
			struct msg_hdr *h = bufs[i];

			if (h->seq == END_OF_STREAM)
				done = 1;
			else if (h->len > bufpool_buf_size(pool) - sizeof(*h) ||
				 checksum((unsigned char *)(h + 1), h->len) !=
				 h->sum)
				bad++;
			else
				bytes += h->len;
			msgs += h->seq != END_OF_STREAM;
			if (bufpool_release(pool, bufs[i]))
				bad++;
		}
	}
	printf("consumer %d (pid %d, client %u): %" PRIu64
	       " messages checked, %" PRIu64 " bad, %.1f MiB of payload, queue empty %" PRIu64 " times\n",
	       id, (int)getpid(), bufpool_client_id(pool), msgs, bad,
	       bytes / 1048576.0, idle);
	fflush(stdout);
	bufpool_queue_close(q);
	/* Gives this process's caches back before it exits. */
	bufpool_close(pool);
	return bad ? 1 : 0;
}

/* Move buf to q, waiting for room while the consumer catches up. */
static int send_msg(struct bufpool_queue *q, void *buf, uint64_t *full)
{
	while (bufpool_enqueue(q, buf)) {
		if (errno != ENOBUFS && errno != EAGAIN) {
			fprintf(stderr, "enqueue: %s\n", strerror(errno));
			return -1;
		}
		(*full)++;
		sched_yield();
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "path", required_argument, NULL, 'p' },
		{ "messages", required_argument, NULL, 'n' },
		{ "consumers", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct bufpool_queue *queues[MAX_CONSUMERS];
	char qnames[MAX_CONSUMERS][BUFPOOL_QUEUE_NAME_MAX];
	uint64_t messages = 100000, seq, exhausted = 0, full = 0;
	int nconsumers = 2, opt, c, status, failed = 0, memfd;
	pid_t pids[MAX_CONSUMERS];
	const char *path = NULL;
	struct bufpool_info info;
	struct bufpool *pool;
	uint32_t free_count, distinct = 0, i, *held;
	unsigned char *seen;
	double t0, t1;

	while ((opt = getopt_long(argc, argv, "p:n:c:", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			path = optarg;
			break;
		case 'n':
			messages = strtoull(optarg, NULL, 0);
			break;
		case 'c':
			nconsumers = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [--path DEV] [--messages N] [--consumers C]\n",
				argv[0]);
			return 2;
		}
	}
	if (nconsumers < 1 || nconsumers > MAX_CONSUMERS || messages == 0) {
		fprintf(stderr, "consumers must be 1..%d, messages > 0\n", MAX_CONSUMERS);
		return 2;
	}

	pool = bufpool_open(path);
	if (!pool) {
		fprintf(stderr, "bufpool_open(%s): %s\n", path ? path : BUFPOOL_DEV_PATH,
			strerror(errno));
		return 1;
	}
	bufpool_get_info(pool, &info);
	printf("pool %s: %u buffers x %u B, %" PRIu64 " MiB, ABI %u.%u, %s\n",
	       info.flags & BUFPOOL_INFO_F_MEMFD ? "(memfd)" :
	       path ? path : BUFPOOL_DEV_PATH, info.buf_count, info.buf_size,
	       (uint64_t)info.pool_bytes >> 20, BUFPOOL_ABI_VERSION_MAJOR(info.abi_version),
	       BUFPOOL_ABI_VERSION_MINOR(info.abi_version),
	       !(info.flags & BUFPOOL_INFO_F_MEMFD) ? "pinned by bufpool.ko" :
	       info.flags & BUFPOOL_INFO_F_HUGETLB ?
	       "no module: memfd in hugetlb pages" : "no module: memfd");
	printf("per-thread caches: %u, magazines of %u buffers\n",
	       info.nr_caches, info.mag_fill);
	printf("producer (pid %d, client %u) -> %d consumer processes through %d queues of %d, %" PRIu64 " messages\n",
	       (int)getpid(), bufpool_client_id(pool), nconsumers, nconsumers,
	       QUEUE_CAP, messages);
	fflush(stdout);
	memfd = !!(info.flags & BUFPOOL_INFO_F_MEMFD);

	/* Every queue first: a consumer must never wait on one not made. */
	for (c = 0; c < nconsumers; c++) {
		snprintf(qnames[c], sizeof(qnames[c]), "pipeline.%d.%d",
			 (int)getpid(), c + 1);
		queues[c] = bufpool_queue_open(pool, qnames[c],
					       BUFPOOL_QUEUE_CREATE |
					       BUFPOOL_QUEUE_EXCL |
					       BUFPOOL_QUEUE_PRODUCE, QUEUE_CAP);
		if (!queues[c]) {
			fprintf(stderr, "queue %s: %s\n", qnames[c],
				strerror(errno));
			return 1;
		}
	}
	fflush(stdout);
	for (c = 0; c < nconsumers; c++) {
		pids[c] = fork();
		if (pids[c] < 0) {
			perror("fork");
			return 1;
		}
		if (pids[c] == 0) {
			/* A consumer outlives no producer that died mid-stream. */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			_exit(consume(path, bufpool_fd(pool), memfd, qnames[c],
				      c + 1));
		}
	}

	t0 = now();
	for (seq = 0; seq < messages; seq++) {
		struct msg_hdr *h;
		uint32_t idx, len;

		while (bufpool_acquire_index(pool, &idx)) {
			if (errno != ENOBUFS) {
				fprintf(stderr, "acquire: %s\n", strerror(errno));
				return 1;
			}
			/* Everything is in flight: let the consumers run. */
			exhausted++;
			sched_yield();
		}
		h = bufpool_addr(pool, idx);
		len = 16 + (uint32_t)(seq * 40503u % (bufpool_buf_size(pool) - sizeof(*h) - 16));
		h->seq = seq;
		h->len = len;
		h->sum = fill((unsigned char *)(h + 1), len, seq);
		if (send_msg(queues[seq % (uint64_t)nconsumers], h, &full))
			return 1;
	}
	for (c = 0; c < nconsumers; c++) {
		struct msg_hdr *h;

		while (!(h = bufpool_acquire(pool)))
			sched_yield();
		h->seq = END_OF_STREAM;
		if (send_msg(queues[c], h, &full))
			return 1;
	}
	for (c = 0; c < nconsumers; c++) {
		if (waitpid(pids[c], &status, 0) != pids[c] ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			failed++;
	}
	t1 = now();
	printf("producer: %" PRIu64 " messages in %.2f s (%.0f msg/s), pool exhausted %"
	       PRIu64 " times, a queue full %" PRIu64 " times\n", messages,
	       t1 - t0, messages / (t1 - t0), exhausted, full);
	for (c = 0; c < nconsumers; c++) {
		struct bufpool_queue_stats qs;

		if (bufpool_queue_stats(queues[c], &qs) == 0)
			printf("queue %s: capacity %" PRIu64 ", %" PRIu64
			       " enqueued, %" PRIu64 " dequeued, %" PRIu64
			       " left, full %" PRIu64 " times, high watermark %"
			       PRIu64 "\n", qnames[c], qs.capacity, qs.enqueued,
			       qs.dequeued, qs.depth, qs.full,
			       qs.high_watermark);
		bufpool_queue_close(queues[c]);
	}

	/* Audit: every buffer is back, each exactly once. */
	held = calloc(info.buf_count, sizeof(*held));
	seen = calloc(info.buf_count, 1);
	if (!held || !seen)
		return 1;
	for (free_count = 0; free_count < info.buf_count; free_count++)
		if (bufpool_acquire_index(pool, &held[free_count]))
			break;
	for (i = 0; i < free_count; i++) {
		distinct += !seen[held[i]];
		seen[held[i]] = 1;
	}
	for (i = 0; i < free_count; i++)
		bufpool_release_index(pool, held[i]);
	free(seen);
	free(held);
	printf("audit: %u of %u buffers free after the run, %u distinct\n",
	       free_count, info.buf_count, distinct);
	bufpool_close(pool);

	if (failed || distinct != info.buf_count) {
		printf("FAILED: %d consumer(s) failed, %u buffer(s) missing\n",
		       failed, info.buf_count - free_count);
		return 1;
	}
	printf("OK\n");
	return 0;
}
