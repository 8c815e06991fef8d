// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool selftests of get_user_pages() on pool memory: the kernel pins
 * pool pages for O_DIRECT I/O, io_uring and vmsplice, and the data
 * arrives where it should.  O_DIRECT needs a block device: brd's
 * /dev/ram0 (tmpfs refuses O_DIRECT).
 */
#include <liburing.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include <bufpool.h>
#include <kselftest_harness.h>

#include "bufpool_selftest.h"

#define IO_LEN		(1UL << 20)	/* one I/O: 1 MiB of pool memory */
#define RAMDISK		"/dev/ram0"

/*
 * The test takes every buffer of the pool (it owns them all, as a client
 * must before touching them) and uses the contiguous buffer area as two
 * 1 MiB regions, src and dst.
 */
FIXTURE(gup) {
	struct bufpool *pool;
	uint32_t n;
	unsigned char *src, *dst;
	int disk;
};

FIXTURE_SETUP(gup)
{
	uint32_t i, idx;

	self->disk = -1;
	self->pool = bufpool_open(NULL);
	ASSERT_NE(NULL, self->pool);
	if ((uint64_t)bufpool_buf_count(self->pool) * bufpool_buf_size(self->pool) <
	    2 * IO_LEN)
		SKIP(return, "pool smaller than 2 MiB");
	for (i = 0; ; i++) {
		if (bufpool_acquire_index(self->pool, &idx))
			break;
	}
	self->n = i;
	ASSERT_EQ(bufpool_buf_count(self->pool), self->n);
	self->src = bufpool_addr(self->pool, 0);
	self->dst = self->src + IO_LEN;
	for (i = 0; i < IO_LEN; i++) {
		self->src[i] = (unsigned char)(i * 31 + 7);
		self->dst[i] = 0;
	}

	if (access(RAMDISK, F_OK) &&
	    system("modprobe brd rd_nr=1 rd_size=65536 2>/dev/null") != 0)
		return;	/* tests that need the disk skip */
	self->disk = open(RAMDISK, O_RDWR | O_DIRECT | O_CLOEXEC);
}

FIXTURE_TEARDOWN(gup)
{
	uint32_t i;

	if (self->disk >= 0)
		close(self->disk);
	if (!self->pool)
		return;
	for (i = 0; i < self->n; i++)
		bufpool_release_index(self->pool, i);
	bufpool_close(self->pool);
}

TEST_F(gup, o_direct_write_then_read)
{
	if (self->disk < 0)
		SKIP(return, "no %s for O_DIRECT", RAMDISK);
	ASSERT_EQ(IO_LEN, pwrite(self->disk, self->src, IO_LEN, 0));
	ASSERT_EQ(IO_LEN, pread(self->disk, self->dst, IO_LEN, 0));
	EXPECT_EQ(0, memcmp(self->src, self->dst, IO_LEN));
}

/* An I/O that spans the 2 MiB boundary between two chunks. */
TEST_F(gup, o_direct_across_chunks)
{
	unsigned char *a, *b;
	size_t i;

	if (self->disk < 0)
		SKIP(return, "no %s for O_DIRECT", RAMDISK);
	if ((uint64_t)self->n * bufpool_buf_size(self->pool) < 3 * SZ_2M)
		SKIP(return, "pool smaller than 6 MiB");
	a = self->src + SZ_2M - IO_LEN / 2;
	b = self->src + 2 * SZ_2M - IO_LEN / 2;
	for (i = 0; i < IO_LEN; i++)
		a[i] = (unsigned char)(i ^ 0xa5);
	ASSERT_EQ(IO_LEN, pwrite(self->disk, a, IO_LEN, 4 * IO_LEN));
	ASSERT_EQ(IO_LEN, pread(self->disk, b, IO_LEN, 4 * IO_LEN));
	EXPECT_EQ(0, memcmp(a, b, IO_LEN));
}

TEST_F(gup, io_uring_read_write)
{
	struct io_uring_cqe *cqe;
	struct io_uring ring;

	if (self->disk < 0)
		SKIP(return, "no %s for O_DIRECT", RAMDISK);
	ASSERT_EQ(0, io_uring_queue_init(4, &ring, 0));
	io_uring_prep_write(io_uring_get_sqe(&ring), self->disk, self->src,
			    IO_LEN, IO_LEN);
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
	EXPECT_EQ(IO_LEN, cqe->res);
	io_uring_cqe_seen(&ring, cqe);
	io_uring_prep_read(io_uring_get_sqe(&ring), self->disk, self->dst,
			   IO_LEN, IO_LEN);
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
	EXPECT_EQ(IO_LEN, cqe->res);
	io_uring_cqe_seen(&ring, cqe);
	EXPECT_EQ(0, memcmp(self->src, self->dst, IO_LEN));
	io_uring_queue_exit(&ring);
}

/*
 * Registered (fixed) buffers pin pool memory long-term.  Some kernels'
 * io_uring refuses any file-backed memory but shmem and hugetlbfs there
 * (6.1: io_uring/rsrc.c, EOPNOTSUPP); that is the kernel's rule, not the
 * pool's, and the test says so by skipping.
 */
TEST_F(gup, io_uring_registered_buffers)
{
	struct iovec iov[2] = {
		{ .iov_base = self->src, .iov_len = IO_LEN },
		{ .iov_base = self->dst, .iov_len = IO_LEN },
	};
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	int ret;

	if (self->disk < 0)
		SKIP(return, "no %s for O_DIRECT", RAMDISK);
	ASSERT_EQ(0, io_uring_queue_init(4, &ring, 0));
	ret = io_uring_register_buffers(&ring, iov, 2);
	if (ret == -EOPNOTSUPP) {
		io_uring_queue_exit(&ring);
		SKIP(return, "this kernel's io_uring refuses registered buffers in file-backed memory");
	}
	ASSERT_EQ(0, ret);
	io_uring_prep_write_fixed(io_uring_get_sqe(&ring), self->disk,
				  self->src, IO_LEN, 2 * IO_LEN, 0);
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
	EXPECT_EQ(IO_LEN, cqe->res);
	io_uring_cqe_seen(&ring, cqe);
	io_uring_prep_read_fixed(io_uring_get_sqe(&ring), self->disk,
				 self->dst, IO_LEN, 2 * IO_LEN, 1);
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
	EXPECT_EQ(IO_LEN, cqe->res);
	io_uring_cqe_seen(&ring, cqe);
	EXPECT_EQ(0, memcmp(self->src, self->dst, IO_LEN));
	io_uring_unregister_buffers(&ring);
	io_uring_queue_exit(&ring);
}

/* vmsplice takes references on the pool pages themselves. */
TEST_F(gup, vmsplice_references_pool_pages)
{
	struct iovec iov = { .iov_base = self->src, .iov_len = 64 * 1024 };
	unsigned char out[64 * 1024];
	int p[2];

	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(64 * 1024, fcntl(p[1], F_SETPIPE_SZ, 64 * 1024) >= 64 * 1024 ?
		  64 * 1024 : -1);
	ASSERT_EQ((ssize_t)iov.iov_len, vmsplice(p[1], &iov, 1, 0));
	/* The pipe holds the pages, not a copy: a later write shows. */
	self->src[0] ^= 0xff;
	ASSERT_EQ(sizeof(out), read(p[0], out, sizeof(out)));
	EXPECT_EQ(0, memcmp(self->src, out, sizeof(out)));
	close(p[0]);
	close(p[1]);
}

int main(int argc, char **argv)
{
	if (access(BUFPOOL_DEV_PATH, F_OK)) {
		ksft_print_header();
		ksft_exit_skip("no " BUFPOOL_DEV_PATH ": load bufpool.ko first\n");
	}
	return test_harness_run(argc, argv);
}
