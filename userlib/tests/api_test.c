// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of libbufpool-user's entry points that need no pool:
 * what a program sees when there is no bufpool device.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <linux/types.h>
#include <linux/bufpool.h>

#include <bufpool.h>
#include <kselftest_harness.h>

TEST(open_missing_device)
{
	errno = 0;
	EXPECT_EQ(NULL, bufpool_open("/nonexistent/bufpool"));
	EXPECT_EQ(ENOENT, errno);
}

/* A file that answers no bufpool ioctl is not a pool. */
TEST(open_not_a_pool)
{
	errno = 0;
	EXPECT_EQ(NULL, bufpool_open("/dev/null"));
	EXPECT_EQ(ENOTTY, errno);
	errno = 0;
	EXPECT_EQ(NULL, bufpool_open("/dev/zero"));
	EXPECT_EQ(ENOTTY, errno);
}

TEST(open_directory)
{
	errno = 0;
	EXPECT_EQ(NULL, bufpool_open("/"));
	EXPECT_EQ(EISDIR, errno);
}

TEST(null_arguments)
{
	struct bufpool_info info;

	EXPECT_EQ(-1, bufpool_close(NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_get_info(NULL, &info));
	EXPECT_EQ(EINVAL, errno);
}

/*
 * Every call of the library given a NULL handle: EINVAL and its failure
 * value, never a crash.  (bufpool_open(NULL), bufpool_create(NULL) and
 * bufpool_classes_open(NULL, 0) take NULL to mean a default, and
 * bufpool_open_fd takes no handle: tested elsewhere.)
 */
#define EXPECT_EINVAL(want, call) do {		\
		errno = 0;			\
		EXPECT_EQ(want, call);		\
		EXPECT_EQ(EINVAL, errno);	\
	} while (0)

TEST(null_handle_every_call)
{
	struct bufpool_stats st;
	struct bufpool_audit audit;
	struct bufpool_info info;
	char byte = 0, *bufs[2] = { &byte, &byte };
	uint32_t idx = 7;

	EXPECT_EINVAL(-1, bufpool_fd(NULL));
	EXPECT_EINVAL(-1, bufpool_close(NULL));
	EXPECT_EINVAL(NULL, bufpool_acquire(NULL));
	EXPECT_EINVAL(-1, bufpool_release(NULL, &byte));
	EXPECT_EINVAL(-1, bufpool_release(NULL, NULL));
	EXPECT_EINVAL(-1, bufpool_acquire_index(NULL, &idx));
	EXPECT_EQ(7, idx);
	EXPECT_EINVAL(-1, bufpool_release_index(NULL, 0));
	EXPECT_EINVAL(NULL, bufpool_acquire_timeout(NULL, 0));
	EXPECT_EINVAL(NULL, bufpool_acquire_timeout(NULL, 1000));
	EXPECT_EINVAL(NULL, bufpool_acquire_timeout(NULL, -1));
	EXPECT_EINVAL(-1, bufpool_acquire_index_timeout(NULL, &idx, 0));
	EXPECT_EINVAL(-1, bufpool_acquire_index_timeout(NULL, &idx, -1));
	EXPECT_EINVAL(0, bufpool_acquire_bulk(NULL, (void **)bufs, 2));
	EXPECT_EINVAL(-1, bufpool_release_bulk(NULL, (void *const *)bufs, 2));
	bufpool_flush_cache(NULL);		/* does nothing */
	EXPECT_EINVAL(-1, bufpool_handoff(NULL, 0));
	EXPECT_EINVAL(-1, bufpool_adopt(NULL, 0));
	EXPECT_EINVAL(-1, bufpool_audit(NULL, &audit));
	EXPECT_EINVAL(-1, bufpool_stats(NULL, &st));
	EXPECT_EINVAL(0, bufpool_client_id(NULL));
	EXPECT_EINVAL(NULL, bufpool_addr(NULL, 0));
	EXPECT_EINVAL(-1, bufpool_index(NULL, &byte));
	EXPECT_EINVAL(0, bufpool_buf_size(NULL));
	EXPECT_EINVAL(0, bufpool_buf_count(NULL));
	EXPECT_EINVAL(-1, bufpool_get_info(NULL, &info));
	EXPECT_EINVAL(NULL, bufpool_classes_acquire(NULL, 64));
	EXPECT_EINVAL(-1, bufpool_classes_release(NULL, &byte));
	EXPECT_EINVAL(NULL, bufpool_classes_pool(NULL, 0));
	bufpool_classes_close(NULL);		/* does nothing */
	EXPECT_EINVAL(-1, bufpool_handoff_to(NULL, 0, 1));
	EXPECT_EINVAL(NULL, bufpool_queue_open(NULL, "q", BUFPOOL_QUEUE_CREATE, 8));
	EXPECT_EINVAL(-1, bufpool_queue_close(NULL));
	EXPECT_EINVAL(-1, bufpool_enqueue(NULL, &byte));
	EXPECT_EINVAL(-1, bufpool_enqueue_index(NULL, 0));
	EXPECT_EINVAL(NULL, bufpool_dequeue(NULL));
	EXPECT_EINVAL(-1, bufpool_dequeue_index(NULL, &idx));
	EXPECT_EINVAL(0, bufpool_enqueue_bulk(NULL, (void *const *)bufs, 2));
	EXPECT_EINVAL(0, bufpool_dequeue_bulk(NULL, (void **)bufs, 2));
	EXPECT_EINVAL(-1, bufpool_queue_stats(NULL, NULL));
}

/* NULL where a call writes its answer: EINVAL, and nothing taken. */
TEST(null_out_pointers)
{
	struct bufpool_params p = { .buf_count = 64,
				    .flags = BUFPOOL_F_NO_HUGETLB };
	struct bufpool_stats st;
	struct bufpool *pool;

	pool = bufpool_create(&p);
	ASSERT_NE(NULL, pool);
	EXPECT_EINVAL(-1, bufpool_acquire_index(pool, NULL));
	EXPECT_EINVAL(-1, bufpool_acquire_index_timeout(pool, NULL, 0));
	EXPECT_EINVAL(0, bufpool_acquire_bulk(pool, NULL, 2));
	EXPECT_EINVAL(-1, bufpool_release_bulk(pool, NULL, 2));
	EXPECT_EINVAL(-1, bufpool_release(pool, NULL));
	EXPECT_EINVAL(-1, bufpool_stats(pool, NULL));
	EXPECT_EINVAL(-1, bufpool_audit(pool, NULL));
	EXPECT_EINVAL(-1, bufpool_get_info(pool, NULL));
	EXPECT_EINVAL(0, bufpool_acquire_bulk(pool, NULL, 0));
	EXPECT_EINVAL(-1, bufpool_release_bulk(pool, NULL, 0));
	ASSERT_EQ(0, bufpool_stats(pool, &st));
	EXPECT_EQ(0, st.in_use);
	EXPECT_EQ(0, bufpool_close(pool));
}

TEST(create_refuses_bad_params)
{
	struct bufpool_params p;

	p = (struct bufpool_params){ .buf_size = 100 };
	EXPECT_EQ(NULL, bufpool_create(&p));
	EXPECT_EQ(EINVAL, errno);
	p = (struct bufpool_params){ .buf_size = 32 };
	EXPECT_EQ(NULL, bufpool_create(&p));
	EXPECT_EQ(EINVAL, errno);
	p = (struct bufpool_params){ .buf_size = 4u << 20 };
	EXPECT_EQ(NULL, bufpool_create(&p));
	EXPECT_EQ(EINVAL, errno);
	p = (struct bufpool_params){ .buf_count = BUFPOOL_MAX_BUFS + 1 };
	EXPECT_EQ(NULL, bufpool_create(&p));
	EXPECT_EQ(EINVAL, errno);
	p = (struct bufpool_params){ .caches = BUFPOOL_MAX_CACHES + 1 };
	EXPECT_EQ(NULL, bufpool_create(&p));
	EXPECT_EQ(EINVAL, errno);
	p = (struct bufpool_params){ .flags = 1u << 20 };
	EXPECT_EQ(NULL, bufpool_create(&p));
	EXPECT_EQ(EINVAL, errno);
	/* 1.6: magazines above BUFPOOL_MAG_MAX, above half the pool, none */
	p = (struct bufpool_params){ .buf_count = 1u << 20, .caches = 1,
		.flags = BUFPOOL_F_MAG_SIZE, .mag_size = BUFPOOL_MAG_MAX + 1 };
	EXPECT_EQ(NULL, bufpool_create(&p));
	EXPECT_EQ(EINVAL, errno);
	p = (struct bufpool_params){ .buf_count = 4096, .caches = 4,
		.flags = BUFPOOL_F_MAG_SIZE, .mag_size = 257 };
	EXPECT_EQ(NULL, bufpool_create(&p));
	EXPECT_EQ(EINVAL, errno);
	p = (struct bufpool_params){ .mag_size = 8,
		.flags = BUFPOOL_F_MAG_SIZE | BUFPOOL_F_NO_CACHE };
	EXPECT_EQ(NULL, bufpool_create(&p));
	EXPECT_EQ(EINVAL, errno);
	p = (struct bufpool_params){ .flags = BUFPOOL_F_MAG_SIZE };
	EXPECT_EQ(NULL, bufpool_create(&p));
	EXPECT_EQ(EINVAL, errno);
}

/*
 * 1.6: a pool made with magazines of 256 (and one of 1023), as another
 * process opening its fd sees it too; bursts of 256 run through it; a
 * mag_size without BUFPOOL_F_MAG_SIZE is not read (it was padding); a
 * header whose mag_fill breaks the half-the-pool bound is refused.
 */
TEST(create_burst_sized_magazines)
{
	struct bufpool_params p = { .buf_count = 8192, .caches = 8,
		.flags = BUFPOOL_F_NO_HUGETLB | BUFPOOL_F_MAG_SIZE,
		.mag_size = 256 };
	struct bufpool_info info, info2;
	struct bufpool_stats st;
	struct bufpool *pool, *other;
	void *held[256];
	unsigned int i, r;
	__u32 bad = 512;

	pool = bufpool_create(&p);
	ASSERT_NE(NULL, pool);
	ASSERT_EQ(0, bufpool_get_info(pool, &info));
	EXPECT_EQ(256, info.mag_fill);
	EXPECT_GE(info.buf_count / 2, 2 * info.nr_caches * info.mag_fill);
	EXPECT_LE(info.mags_offset + (uint64_t)info.nr_mags *
		  BUFPOOL_MAG_STRIDE(256), info.caches_offset);
	other = bufpool_open_fd(bufpool_fd(pool));
	ASSERT_NE(NULL, other);
	ASSERT_EQ(0, bufpool_get_info(other, &info2));
	EXPECT_EQ(256, info2.mag_fill);
	EXPECT_EQ(info.caches_offset, info2.caches_offset);
	bufpool_close(other);
	/*
	 * It starts with its buffers in full magazines of consecutive
	 * indices: a thread's first 256 are one run (no own[] line shared
	 * with another thread's).
	 */
	{
		int lo = INT32_MAX, hi = -1, x;

		for (i = 0; i < 256; i++) {
			held[i] = bufpool_acquire(pool);
			ASSERT_NE(NULL, held[i]);
			x = bufpool_index(pool, held[i]);
			lo = x < lo ? x : lo;
			hi = x > hi ? x : hi;
		}
		EXPECT_EQ(255, hi - lo);
		EXPECT_EQ(0, lo % 256);
		for (i = 0; i < 256; i++)
			ASSERT_EQ(0, bufpool_release(pool, held[i]));
	}
	for (r = 0; r < 20; r++) {
		for (i = 0; i < 256; i++) {
			held[i] = bufpool_acquire(pool);
			ASSERT_NE(NULL, held[i]);
		}
		for (i = 0; i < 256; i++)
			ASSERT_EQ(0, bufpool_release(pool, held[i]));
	}
	ASSERT_EQ(0, bufpool_stats(pool, &st));
	EXPECT_EQ(0, st.in_use);
	EXPECT_EQ(21 * 256, st.acquires);
	/* mag_fill, at its place in struct bufpool_ctrl: 512 > 8192 / 32 */
	ASSERT_EQ(sizeof(bad), pwrite(bufpool_fd(pool), &bad, sizeof(bad),
				      offsetof(struct bufpool_ctrl, mag_fill)));
	EXPECT_EQ(NULL, bufpool_open_fd(bufpool_fd(pool)));
	EXPECT_EQ(ENOTTY, errno);
	bufpool_close(pool);

	p = (struct bufpool_params){ .buf_count = 8192, .caches = 2,
		.flags = BUFPOOL_F_NO_HUGETLB | BUFPOOL_F_MAG_SIZE,
		.mag_size = BUFPOOL_MAG_MAX };
	pool = bufpool_create(&p);
	ASSERT_NE(NULL, pool);
	ASSERT_EQ(0, bufpool_get_info(pool, &info));
	EXPECT_EQ(BUFPOOL_MAG_MAX, info.mag_fill);
	bufpool_close(pool);

	p = (struct bufpool_params){ .buf_count = 8192, .caches = 8,
		.flags = BUFPOOL_F_NO_HUGETLB, .mag_size = 256 };
	pool = bufpool_create(&p);
	ASSERT_NE(NULL, pool);
	ASSERT_EQ(0, bufpool_get_info(pool, &info));
	EXPECT_EQ(BUFPOOL_MAG_CAP, info.mag_fill);
	bufpool_close(pool);
}

TEST(create_defaults_and_info)
{
	struct bufpool_params p = { .flags = BUFPOOL_F_NO_HUGETLB };
	struct bufpool_info info;
	struct bufpool *pool;

	pool = bufpool_create(&p);
	ASSERT_NE(NULL, pool);
	ASSERT_EQ(0, bufpool_get_info(pool, &info));
	EXPECT_EQ(2048, info.buf_size);
	EXPECT_EQ(4096, info.buf_count);
	EXPECT_EQ(BUFPOOL_INFO_F_MEMFD, info.flags);
	EXPECT_EQ(64, info.nr_caches);
	EXPECT_GE(info.buf_count / 2, 2 * info.nr_caches * info.mag_fill);
	EXPECT_LE(0, bufpool_fd(pool));
	EXPECT_EQ(0, bufpool_close(pool));
}

/* Whatever an fd is, if it is not a pool the answer is a clean error. */
TEST(open_fd_not_a_pool)
{
	char path[] = "/tmp/bufpool-api-XXXXXX";
	int fd, p[2];

	EXPECT_EQ(NULL, bufpool_open_fd(-1));
	EXPECT_EQ(EBADF, errno);
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	unlink(path);
	ASSERT_EQ(4096, ftruncate(fd, 4096) == 0 ? 4096 : -1);
	EXPECT_EQ(NULL, bufpool_open_fd(fd));	/* zeroes, no header */
	EXPECT_EQ(ENOTTY, errno);
	close(fd);
	ASSERT_EQ(0, pipe(p));
	EXPECT_EQ(NULL, bufpool_open_fd(p[0]));
	EXPECT_EQ(ENOTTY, errno);
	close(p[0]);
	close(p[1]);
}

/* A memfd pool whose header was scribbled over is refused, not trusted. */
TEST(open_fd_corrupted_header)
{
	struct bufpool_params params = { .flags = BUFPOOL_F_NO_HUGETLB };
	struct bufpool *pool = bufpool_create(&params);
	__u32 bad = 0x7fffffff;

	ASSERT_NE(NULL, pool);
	/* buf_count, at offset 16 of struct bufpool_ctrl */
	ASSERT_EQ(sizeof(bad), pwrite(bufpool_fd(pool), &bad, sizeof(bad), 16));
	EXPECT_EQ(NULL, bufpool_open_fd(bufpool_fd(pool)));
	EXPECT_EQ(ENOTTY, errno);
	bufpool_close(pool);
}

/* A memfd pool of ABI 1.2 (no queues, no live map): EPROTO, cleanly. */
TEST(open_fd_older_abi)
{
	struct bufpool_params params = { .flags = BUFPOOL_F_NO_HUGETLB };
	struct bufpool *pool = bufpool_create(&params);
	__u32 v12 = (BUFPOOL_ABI_MAJOR << 16) | 2, v20 = 2 << 16;

	ASSERT_NE(NULL, pool);
	/* abi_version, at offset 8 of struct bufpool_ctrl */
	ASSERT_EQ(sizeof(v12), pwrite(bufpool_fd(pool), &v12, sizeof(v12), 8));
	errno = 0;
	EXPECT_EQ(NULL, bufpool_open_fd(bufpool_fd(pool)));
	EXPECT_EQ(EPROTO, errno);
	ASSERT_EQ(sizeof(v20), pwrite(bufpool_fd(pool), &v20, sizeof(v20), 8));
	EXPECT_EQ(NULL, bufpool_open_fd(bufpool_fd(pool)));
	EXPECT_EQ(EPROTO, errno);
	bufpool_close(pool);
}

/* Queue handles and their NULL out pointers on an open pool. */
TEST(queue_null_out_pointers)
{
	struct bufpool_params p = { .buf_count = 64,
				    .flags = BUFPOOL_F_NO_HUGETLB };
	struct bufpool_queue *q;
	struct bufpool *pool;

	pool = bufpool_create(&p);
	ASSERT_NE(NULL, pool);
	q = bufpool_queue_open(pool, "q", BUFPOOL_QUEUE_CREATE |
			       BUFPOOL_QUEUE_PRODUCE | BUFPOOL_QUEUE_CONSUME, 8);
	ASSERT_NE(NULL, q);
	EXPECT_EINVAL(-1, bufpool_dequeue_index(q, NULL));
	EXPECT_EINVAL(0, bufpool_enqueue_bulk(q, NULL, 2));
	EXPECT_EINVAL(0, bufpool_dequeue_bulk(q, NULL, 2));
	EXPECT_EINVAL(-1, bufpool_queue_stats(q, NULL));
	EXPECT_EQ(0, bufpool_queue_close(q));
	EXPECT_EQ(0, bufpool_close(pool));
}

TEST_HARNESS_MAIN
