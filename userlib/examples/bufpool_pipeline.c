// SPDX-License-Identifier: MIT
/*
 * bufpool-pipeline: a producer process and consumer processes sharing
 * one pool.  The producer takes a buffer, writes a message into it and
 * hands the buffer's index to a consumer through a pipe; the consumer
 * checks the message and gives the buffer back.  At the end the pool is
 * audited: every buffer must be free again.
 *
 * usage: bufpool-pipeline [--path DEV] [--messages N] [--consumers C]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bufpool.h>

#define MAX_CONSUMERS	16
#define BATCH		64
#define END_OF_STREAM	UINT32_MAX

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

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * A consumer process, forked with the producer's open pool: the mapping
 * and descriptor are inherited (a module-free pool can only be shared
 * that way or through its fd).  Returns the exit status: 0 when every
 * message checked out.
 */
static int consume(struct bufpool *pool, int fd, int id)
{
	uint64_t msgs = 0, bad = 0, bytes = 0;
	uint32_t idx[BATCH];
	ssize_t n;
	int i;

	for (;;) {
		n = read(fd, idx, sizeof(idx));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || n % sizeof(uint32_t))
			break;
		for (i = 0; i < n / (ssize_t)sizeof(uint32_t); i++) {
			struct msg_hdr *h;

			if (idx[i] == END_OF_STREAM)
				goto done;
			h = bufpool_addr(pool, idx[i]);
			if (!h || h->len > bufpool_buf_size(pool) - sizeof(*h) ||
			    checksum((unsigned char *)(h + 1), h->len) != h->sum)
				bad++;
			else
				bytes += h->len;
			msgs++;
			if (bufpool_release_index(pool, idx[i]))
				bad++;
		}
	}
	fprintf(stderr, "consumer %d: stream ended early\n", id);
	bad++;
done:
	printf("consumer %d (pid %d): %" PRIu64 " messages checked, %" PRIu64
	       " bad, %.1f MiB of payload\n", id, (int)getpid(), msgs, bad,
	       bytes / 1048576.0);
	fflush(stdout);
	/* Gives this process's caches back before it exits. */
	bufpool_close(pool);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "path", required_argument, NULL, 'p' },
		{ "messages", required_argument, NULL, 'n' },
		{ "consumers", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	uint32_t batch[MAX_CONSUMERS][BATCH], fill_n[MAX_CONSUMERS] = { 0 };
	uint64_t messages = 100000, seq, exhausted = 0;
	int nconsumers = 2, pipes[MAX_CONSUMERS][2], opt, c, status, failed = 0;
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
	printf("producer (pid %d) -> %d consumer processes, %" PRIu64 " messages\n",
	       (int)getpid(), nconsumers, messages);
	fflush(stdout);

	for (c = 0; c < nconsumers; c++) {
		if (pipe(pipes[c])) {
			perror("pipe");
			return 1;
		}
		pids[c] = fork();
		if (pids[c] < 0) {
			perror("fork");
			return 1;
		}
		if (pids[c] == 0) {
			int k;

			for (k = 0; k <= c; k++)
				close(pipes[k][1]);
			_exit(consume(pool, pipes[c][0], c + 1));
		}
		close(pipes[c][0]);
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
			/* Everything is in flight: flush batches, let consumers run. */
			exhausted++;
			for (c = 0; c < nconsumers; c++) {
				if (fill_n[c] && write_all(pipes[c][1], batch[c],
							   fill_n[c] * sizeof(uint32_t)))
					return 1;
				fill_n[c] = 0;
			}
			sched_yield();
		}
		h = bufpool_addr(pool, idx);
		len = 16 + (uint32_t)(seq * 40503u % (bufpool_buf_size(pool) - sizeof(*h) - 16));
		h->seq = seq;
		h->len = len;
		h->sum = fill((unsigned char *)(h + 1), len, seq);

		c = (int)(seq % (uint64_t)nconsumers);
		batch[c][fill_n[c]++] = idx;
		if (fill_n[c] == BATCH) {
			if (write_all(pipes[c][1], batch[c], sizeof(batch[c])))
				return 1;
			fill_n[c] = 0;
		}
	}
	for (c = 0; c < nconsumers; c++) {
		batch[c][fill_n[c]++] = END_OF_STREAM;
		if (write_all(pipes[c][1], batch[c], fill_n[c] * sizeof(uint32_t)))
			return 1;
		close(pipes[c][1]);
	}
	for (c = 0; c < nconsumers; c++) {
		if (waitpid(pids[c], &status, 0) != pids[c] ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			failed++;
	}
	t1 = now();
	printf("producer: %" PRIu64 " messages in %.2f s (%.0f msg/s), pool exhausted %"
	       PRIu64 " times\n", messages, t1 - t0, messages / (t1 - t0), exhausted);

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
