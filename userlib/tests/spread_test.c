// SPDX-License-Identifier: GPL-2.0
/*
 * ABI 1.8 spread pools: struct bp_bufmap's index <-> offset arithmetic
 * against plain division, for every buffer size and both layouts, every
 * index and every byte of a chunk; then pools made spread through the
 * library's calls (memfd backend): where their buffers are, what the
 * calls accept, and what a second handle and a corrupted header see.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/types.h>
#include <bufpool/layout.h>

#include <bufpool.h>
#include <kselftest_harness.h>

#define CHUNK	((uint64_t)BUFPOOL_CHUNK_SIZE)

/*
 * For every buffer size, packed and spread: every index below 2^24 to its
 * offset, and every byte of two 4 MiB windows (the start of the area and
 * around the last possible buffer) back to the buffer that starts there
 * and the buffer that holds it, against plain division.
 */
TEST(bufmap_matches_division)
{
	uint32_t shift, spread, i, idx, stride, size;
	uint64_t off, r, w, bad = 0, win[2];
	struct bp_bufmap m;
	int got;

	for (shift = BP_MIN_BUF_SHIFT; shift <= BP_MAX_BUF_SHIFT; shift++) {
		for (spread = 0; spread < 2; spread++) {
			stride = bp_buf_stride(shift, (int)spread);
			size = 1u << shift;
			EXPECT_EQ(spread ? size + 64 : size, stride);
			EXPECT_EQ(shift, bp_stride_shift(spread ? 0 : shift,
							 size, stride));
			bp_bufmap_init(&m, shift, stride);
			for (i = 0; i < BUFPOOL_MAX_BUFS; i++)
				bad += bp_bufmap_off(&m, i) != (uint64_t)i * stride;
			EXPECT_EQ(0, bad) {
				TH_LOG("shift %u spread %u", shift, spread);
			}
			win[0] = 0;
			win[1] = (uint64_t)(BUFPOOL_MAX_BUFS - 1) * stride -
				 2 * CHUNK;
			for (w = 0; w < 2; w++) {
				for (off = win[w]; off < win[w] + 2 * CHUNK; off++) {
					r = off / stride;
					got = bp_bufmap_idx(&m, off, &idx);
					if (off % stride == 0)
						bad += got || idx != r;
					else
						bad += got != -1;
					got = bp_bufmap_containing(&m, off, &idx);
					if (off % stride < size)
						bad += got || idx != r;
					else
						bad += got != -1;
				}
			}
			EXPECT_EQ(0, bad) {
				TH_LOG("shift %u spread %u", shift, spread);
			}
		}
	}
}

/* Only the two layouts a pool is made with pass a header's check. */
TEST(stride_shift_refuses_other_layouts)
{
	EXPECT_EQ(11, bp_stride_shift(11, 2048, 2048));
	EXPECT_EQ(11, bp_stride_shift(0, 2048, 2048 + 64));
	EXPECT_EQ(0, bp_stride_shift(0, 2048, 2048));	/* spread, no pad */
	EXPECT_EQ(0, bp_stride_shift(11, 2048, 2048 + 64));
	EXPECT_EQ(0, bp_stride_shift(0, 2048, 2048 + 128));
	EXPECT_EQ(0, bp_stride_shift(12, 2048, 2048));
	EXPECT_EQ(0, bp_stride_shift(0, 3000, 3064));
	EXPECT_EQ(21, bp_stride_shift(0, 2u << 20, (2u << 20) + 64));
	EXPECT_EQ(0, bp_stride_shift(0, 32, 96));
}

FIXTURE(spread)
{
	struct bufpool *pool;
	struct bufpool_info info;
	char *base;
};

FIXTURE_VARIANT(spread)
{
	uint32_t size;
	uint32_t count;
};

/* Two chunks and a part of a third. */
FIXTURE_VARIANT_ADD(spread, kib2)
{
	.size = 2048, .count = 2 * 992 + 100,
};

FIXTURE_VARIANT_ADD(spread, kib64)
{
	.size = 65536, .count = 2 * 31 + 5,
};

FIXTURE_VARIANT_ADD(spread, mib2)
{
	.size = 2u << 20, .count = 3,
};

FIXTURE_SETUP(spread)
{
	struct bufpool_params p = { .buf_size = variant->size,
		.buf_count = variant->count, .caches = 2,
		.flags = BUFPOOL_F_NO_HUGETLB | BUFPOOL_F_SPREAD };

	self->pool = bufpool_create(&p);
	ASSERT_NE(NULL, self->pool);
	ASSERT_EQ(0, bufpool_get_info(self->pool, &self->info));
	self->base = bufpool_addr(self->pool, 0);
	ASSERT_NE(NULL, self->base);
}

FIXTURE_TEARDOWN(spread)
{
	if (self->pool)
		bufpool_close(self->pool);
}

TEST_F(spread, info_says_spread)
{
	EXPECT_EQ(0, self->info.buf_shift);
	EXPECT_EQ(variant->size, self->info.buf_size);
	EXPECT_EQ(variant->size + BUFPOOL_SPREAD_PAD, self->info.buf_stride);
	EXPECT_EQ(variant->size, bufpool_buf_size(self->pool));
	EXPECT_EQ(((uint64_t)variant->count * (variant->size + 64) + CHUNK - 1) /
		  CHUNK * CHUNK, self->info.bufs_size);
}

/*
 * Every buffer where the layout says, found back from any of its bytes;
 * the pad after it is no buffer's.
 */
TEST_F(spread, addresses_and_indices)
{
	uint32_t i, stride = variant->size + 64;
	char *b;

	for (i = 0; i < variant->count; i++) {
		b = bufpool_addr(self->pool, i);
		ASSERT_EQ(self->base + (uint64_t)i * stride, b);
		ASSERT_EQ(i, bufpool_index(self->pool, b));
		ASSERT_EQ(i, bufpool_index(self->pool, b + variant->size - 1));
		errno = 0;
		ASSERT_EQ(-1, bufpool_index(self->pool, b + variant->size));
		ASSERT_EQ(EINVAL, errno);
		ASSERT_EQ(-1, bufpool_index(self->pool, b + stride - 1));
	}
	EXPECT_EQ(NULL, bufpool_addr(self->pool, variant->count));
	EXPECT_EQ(-1, bufpool_index(self->pool, self->base +
				    (uint64_t)variant->count * stride));
}

/*
 * Take every buffer, one at a time: each a distinct index, at its
 * address; fill each whole and find its neighbours untouched; only a
 * buffer's start goes back.
 */
TEST_F(spread, every_buffer_whole_and_apart)
{
	uint32_t i, n = variant->count, size = variant->size;
	char **b = calloc(n, sizeof(*b));
	uint8_t *seen = calloc(n, 1);
	int64_t idx;

	ASSERT_NE(NULL, b);
	ASSERT_NE(NULL, seen);
	for (i = 0; i < n; i++) {
		b[i] = bufpool_acquire(self->pool);
		ASSERT_NE(NULL, b[i]);
		idx = bufpool_index(self->pool, b[i]);
		ASSERT_LE(0, idx);
		ASSERT_EQ(b[i], bufpool_addr(self->pool, (uint32_t)idx));
		ASSERT_EQ(0, seen[idx]);
		seen[idx] = 1;
		memset(b[i], (int)(i & 0xff), size);
	}
	EXPECT_EQ(NULL, bufpool_acquire(self->pool));
	for (i = 0; i < n; i++) {
		ASSERT_EQ((char)(i & 0xff), b[i][0]);
		ASSERT_EQ((char)(i & 0xff), b[i][size - 1]);
	}
	errno = 0;
	EXPECT_EQ(-1, bufpool_release(self->pool, b[0] + 64));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_release(self->pool, b[0] + size));
	EXPECT_EQ(EINVAL, errno);
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, bufpool_release(self->pool, b[i]));
	free(seen);
	free(b);
}

/* The bulk calls and a queue move spread buffers by their addresses. */
TEST_F(spread, bulk_and_queue)
{
	struct bufpool_queue *q;
	void *got[64], *out[64], *bad[2];
	unsigned int n, i;

	if (variant->count < 64)
		SKIP(return, "a pool of %u buffers", variant->count);
	n = bufpool_acquire_bulk(self->pool, got, 64);
	ASSERT_EQ(64, n);
	for (i = 0; i < n; i++)
		ASSERT_LE(0, bufpool_index(self->pool, got[i]));
	q = bufpool_queue_open(self->pool, "spread", BUFPOOL_QUEUE_CREATE |
			       BUFPOOL_QUEUE_PRODUCE | BUFPOOL_QUEUE_CONSUME,
			       64);
	ASSERT_NE(NULL, q);
	ASSERT_EQ(64, bufpool_enqueue_bulk(q, got, 64));
	ASSERT_EQ(64, bufpool_dequeue_bulk(q, out, 64));
	for (i = 0; i < n; i++)
		ASSERT_EQ(got[i], out[i]);
	/* A pointer into a buffer is refused, the buffer before it goes in. */
	bad[0] = out[0];
	bad[1] = (char *)out[1] + 64;
	errno = 0;
	EXPECT_EQ(1, bufpool_enqueue_bulk(q, bad, 2));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(1, bufpool_dequeue_bulk(q, out, 1));
	ASSERT_EQ(0, bufpool_queue_close(q));
	errno = 0;
	EXPECT_EQ(-1, bufpool_release_bulk(self->pool, bad, 2));
	EXPECT_EQ(EINVAL, errno);
	/* out[0] went back before the refusal; the rest go back now. */
	EXPECT_EQ(0, bufpool_release_bulk(self->pool, out + 1, 63));
}

/* A second handle on the pool's fd finds every buffer where the first does. */
TEST_F(spread, second_handle_agrees)
{
	struct bufpool *other = bufpool_open_fd(bufpool_fd(self->pool));
	char *b, *base2;
	uint32_t idx;

	ASSERT_NE(NULL, other);
	base2 = bufpool_addr(other, 0);
	EXPECT_EQ(bufpool_buf_size(self->pool), bufpool_buf_size(other));
	idx = variant->count - 1;
	EXPECT_EQ((char *)bufpool_addr(self->pool, idx) - self->base,
		  (char *)bufpool_addr(other, idx) - base2);
	b = bufpool_acquire(self->pool);
	ASSERT_NE(NULL, b);
	idx = (uint32_t)bufpool_index(self->pool, b);
	strcpy(b + variant->size - 6, "hello");
	ASSERT_EQ(0, bufpool_handoff(self->pool, idx));
	ASSERT_EQ(0, bufpool_adopt(other, idx));
	EXPECT_STREQ("hello", (char *)bufpool_addr(other, idx) +
		     variant->size - 6);
	EXPECT_EQ(0, bufpool_release(other, bufpool_addr(other, idx)));
	bufpool_close(other);
}

/*
 * A header whose stride is not the one its geometry makes (another pad,
 * a packed shift beside a padded stride) is refused, not trusted.
 */
TEST_F(spread, corrupted_stride_refused)
{
	__u32 stride = variant->size + 128, shift = 11;
	int fd = bufpool_fd(self->pool);
	struct bufpool *other;

	/* buf_stride, at offset 20 of struct bufpool_ctrl */
	ASSERT_EQ(sizeof(stride), pwrite(fd, &stride, sizeof(stride), 20));
	EXPECT_EQ(NULL, bufpool_open_fd(fd));
	EXPECT_EQ(ENOTTY, errno);
	stride = variant->size + 64;
	ASSERT_EQ(sizeof(stride), pwrite(fd, &stride, sizeof(stride), 20));
	/* buf_shift, at offset 12 */
	ASSERT_EQ(sizeof(shift), pwrite(fd, &shift, sizeof(shift), 12));
	EXPECT_EQ(NULL, bufpool_open_fd(fd));
	EXPECT_EQ(ENOTTY, errno);
	shift = 0;
	ASSERT_EQ(sizeof(shift), pwrite(fd, &shift, sizeof(shift), 12));
	other = bufpool_open_fd(fd);
	EXPECT_NE(NULL, other);
	bufpool_close(other);
}

TEST_HARNESS_MAIN
