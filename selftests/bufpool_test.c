// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool selftests against the loaded module: the device, its ioctl and
 * mmap interface, and the library's acquire/release over the shared free
 * list, alone and under concurrency.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <bufpool.h>
#include <kselftest_harness.h>

#include "bufpool_selftest.h"

static void get_info(struct __test_metadata *_metadata, int fd,
		     struct bufpool_info *info)
{
	memset(info, 0, sizeof(*info));
	ASSERT_EQ(0, ioctl(fd, BUFPOOL_IOC_INFO, info));
}

TEST(open_close)
{
	struct stat st;
	int fd;

	fd = open(BUFPOOL_DEV_PATH, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	/* The node carries the mode the module was loaded with. */
	EXPECT_EQ(bp_param("mode"), st.st_mode & 0777);
	EXPECT_EQ(0, close(fd));
}

TEST(info_ioctl)
{
	struct bufpool_info info;
	int fd;

	fd = open(BUFPOOL_DEV_PATH, O_RDWR);
	ASSERT_LE(0, fd);
	get_info(_metadata, fd, &info);
	EXPECT_EQ(BUFPOOL_INFO_SIZE_VER3, info.size);
	EXPECT_EQ(BUFPOOL_ABI_VERSION, info.abi_version);
	EXPECT_EQ(bp_param("buf_size"), info.buf_size);
	EXPECT_EQ(bp_param("buf_count"), info.buf_count);
	EXPECT_EQ(bp_param("numa_node"), info.numa_node);
	EXPECT_EQ(1u << info.buf_shift, info.buf_size);
	EXPECT_EQ(0, info.ctrl_offset);
	EXPECT_LE(sizeof(struct bufpool_ctrl), info.next_offset);
	EXPECT_LE(info.next_offset + 4ull * info.buf_count, info.ctrl_size);
	EXPECT_EQ(0, info.bufs_offset % SZ_2M);
	EXPECT_LE(info.ctrl_offset + info.ctrl_size, info.bufs_offset);
	EXPECT_LE((uint64_t)info.buf_count * info.buf_size, info.bufs_size);
	EXPECT_EQ(0, info.bufs_size % SZ_2M);
	EXPECT_EQ(info.bufs_size, info.pool_bytes);
	EXPECT_NE(0, info.generation);
	/* ABI 1.1: caches bounded to half the pool. */
	EXPECT_EQ(bp_param("caches"), info.nr_caches);
	EXPECT_GE(BUFPOOL_MAG_CAP, info.mag_fill);
	EXPECT_GE(info.buf_count / 2, 2ull * info.nr_caches * info.mag_fill);
	EXPECT_LE(info.caches_offset + 64ull * info.nr_caches, info.ctrl_size);
	EXPECT_LE(info.mags_offset + 256ull * info.nr_mags, info.caches_offset);
	close(fd);
}

/* An ABI 1.0 binary's shorter struct gets the 1.0 prefix, nothing more. */
TEST(info_ioctl_old_binary)
{
	union {
		struct bufpool_info info;
		unsigned char raw[sizeof(struct bufpool_info)];
	} u;
	size_t i;
	int fd;

	fd = open(BUFPOOL_DEV_PATH, O_RDONLY);
	ASSERT_LE(0, fd);
	memset(&u, 0xa5, sizeof(u));
	ASSERT_EQ(0, ioctl(fd, _IOR(BUFPOOL_IOC_MAGIC, 0x00,
				    char[BUFPOOL_INFO_SIZE_VER0]), &u));
	EXPECT_EQ(BUFPOOL_INFO_SIZE_VER0, u.info.size);
	EXPECT_EQ(bp_param("buf_count"), u.info.buf_count);
	/* Not a byte past what the caller said it has. */
	for (i = BUFPOOL_INFO_SIZE_VER0; i < sizeof(u); i++)
		ASSERT_EQ(0xa5, u.raw[i]);
	close(fd);
}

/* A newer binary with a larger struct: the tail comes back zeroed. */
TEST(info_ioctl_extensible)
{
	unsigned char big[BUFPOOL_INFO_SIZE_VER3 + 40];
	struct bufpool_info *info = (struct bufpool_info *)big;
	size_t i;
	int fd;

	fd = open(BUFPOOL_DEV_PATH, O_RDONLY);
	ASSERT_LE(0, fd);
	memset(big, 0xa5, sizeof(big));
	ASSERT_EQ(0, ioctl(fd, _IOR(BUFPOOL_IOC_MAGIC, 0x00, big), big));
	EXPECT_EQ(BUFPOOL_INFO_SIZE_VER3, info->size);
	EXPECT_EQ(bp_param("buf_count"), info->buf_count);
	for (i = BUFPOOL_INFO_SIZE_VER3; i < sizeof(big); i++)
		ASSERT_EQ(0, big[i]);

	/* Smaller than any ABI ever had: refused. */
	EXPECT_EQ(-1, ioctl(fd, _IOR(BUFPOOL_IOC_MAGIC, 0x00, char[64]), big));
	EXPECT_EQ(EINVAL, errno);
	close(fd);
}

TEST(bad_ioctl)
{
	struct bufpool_info info;
	int fd;

	fd = open(BUFPOOL_DEV_PATH, O_RDWR);
	ASSERT_LE(0, fd);
	/* Unknown number, wrong type, wrong direction. */
	EXPECT_EQ(-1, ioctl(fd, _IO(BUFPOOL_IOC_MAGIC, 0x7f)));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(fd, _IOR('x', 0x00, struct bufpool_info), &info));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(fd, _IOW(BUFPOOL_IOC_MAGIC, 0x00, struct bufpool_info), &info));
	EXPECT_EQ(ENOTTY, errno);
	/* Bad user pointers. */
	EXPECT_EQ(-1, ioctl(fd, BUFPOOL_IOC_INFO, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(fd, BUFPOOL_IOC_INFO, (void *)-4096L));
	EXPECT_EQ(EFAULT, errno);
	close(fd);
}

TEST(mmap_munmap)
{
	struct bufpool_info info;
	struct bufpool_ctrl *ctrl;
	unsigned char *bufs, *bufs2;
	uint32_t i;
	int fd, fd2;

	fd = open(BUFPOOL_DEV_PATH, O_RDWR);
	ASSERT_LE(0, fd);
	get_info(_metadata, fd, &info);

	ctrl = mmap(NULL, info.ctrl_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, info.ctrl_offset);
	ASSERT_NE(MAP_FAILED, ctrl);
	EXPECT_EQ(BUFPOOL_CTRL_MAGIC, ctrl->magic);
	EXPECT_EQ(BUFPOOL_ABI_VERSION, ctrl->abi_version);
	EXPECT_EQ(info.buf_count, ctrl->buf_count);
	EXPECT_EQ(info.buf_shift, ctrl->buf_shift);
	EXPECT_EQ(info.next_offset, ctrl->next_offset);
	EXPECT_EQ(info.generation, ctrl->generation);

	bufs = mmap(NULL, info.bufs_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, info.bufs_offset);
	ASSERT_NE(MAP_FAILED, bufs);

	/* A second open file maps the same memory. */
	fd2 = open(BUFPOOL_DEV_PATH, O_RDWR);
	ASSERT_LE(0, fd2);
	bufs2 = mmap(NULL, info.bufs_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		     fd2, info.bufs_offset);
	ASSERT_NE(MAP_FAILED, bufs2);
	for (i = 0; i < info.buf_count; i++) {
		size_t off = (size_t)i << info.buf_shift;

		bufs[off] = (unsigned char)(i * 7 + 1);
		bufs[off + info.buf_size - 1] = (unsigned char)i;
	}
	for (i = 0; i < info.buf_count; i++) {
		size_t off = (size_t)i << info.buf_shift;

		ASSERT_EQ((unsigned char)(i * 7 + 1), bufs2[off]);
		ASSERT_EQ((unsigned char)i, bufs2[off + info.buf_size - 1]);
	}
	/* Partial munmap leaves the rest working. */
	EXPECT_EQ(0, munmap(bufs2, SZ_2M));
	if (info.bufs_size > SZ_2M)
		EXPECT_EQ(bufs[SZ_2M], bufs2[SZ_2M]);
	EXPECT_EQ(0, munmap(bufs2 + SZ_2M, info.bufs_size - SZ_2M));
	EXPECT_EQ(0, munmap(bufs, info.bufs_size));
	EXPECT_EQ(0, munmap(ctrl, info.ctrl_size));
	close(fd2);
	close(fd);
}

TEST(mmap_refused)
{
	struct bufpool_info info;
	void *p;
	int fd;

	fd = open(BUFPOOL_DEV_PATH, O_RDWR);
	ASSERT_LE(0, fd);
	get_info(_metadata, fd, &info);

	/* Private mappings would not be shared. */
	p = mmap(NULL, info.ctrl_size, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		 fd, info.ctrl_offset);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* Never executable, not even later. */
	p = mmap(NULL, SZ_2M, PROT_READ | PROT_EXEC, MAP_SHARED, fd,
		 info.bufs_offset);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EPERM, errno);
	/* Running over the end of an area, or straddling two. */
	p = mmap(NULL, info.ctrl_size + 4096, PROT_READ, MAP_SHARED, fd,
		 info.ctrl_offset);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, info.bufs_size + 4096, PROT_READ, MAP_SHARED, fd,
		 info.bufs_offset);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd,
		 info.bufs_offset + info.bufs_size);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	if (info.bufs_offset > info.ctrl_offset + info.ctrl_size) {
		/* The gap between the areas. */
		p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd,
			 info.ctrl_offset + info.ctrl_size);
		EXPECT_EQ(MAP_FAILED, p);
		EXPECT_EQ(EINVAL, errno);
	}
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd,
		 (off_t)0x7ffffffffffff000LL);
	EXPECT_EQ(MAP_FAILED, p);

	/* A good mapping can neither gain PROT_EXEC nor grow. */
	p = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 info.bufs_offset);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, mprotect(p, 4096, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(MAP_FAILED, mremap(p, SZ_2M, 2 * SZ_2M, MREMAP_MAYMOVE));
	EXPECT_EQ(0, munmap(p, SZ_2M));
	close(fd);
}

TEST(mapping_outlives_fd)
{
	struct bufpool_info info;
	volatile unsigned char *p;
	int fd;

	fd = open(BUFPOOL_DEV_PATH, O_RDWR);
	ASSERT_LE(0, fd);
	get_info(_metadata, fd, &info);
	p = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 info.bufs_offset);
	ASSERT_NE(MAP_FAILED, p);
	close(fd);
	p[123] = 42;
	EXPECT_EQ(42, p[123]);
	/* The module is pinned while the mapping exists. */
	EXPECT_EQ(-1, bp_delete_module());
	EXPECT_EQ(EWOULDBLOCK, errno);
	EXPECT_EQ(0, munmap((void *)p, SZ_2M));
}

TEST(library_open_errors)
{
	errno = 0;
	EXPECT_EQ(NULL, bufpool_open("/nonexistent/bufpool"));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(NULL, bufpool_open("/dev/null"));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, bufpool_close(NULL));
	EXPECT_EQ(EINVAL, errno);
}

FIXTURE(pool) {
	struct bufpool *pool;
	uint32_t count;
	size_t size;
	unsigned char *seen;
	void **held;
};

FIXTURE_SETUP(pool)
{
	self->pool = bufpool_open(NULL);
	ASSERT_NE(NULL, self->pool);
	self->count = bufpool_buf_count(self->pool);
	self->size = bufpool_buf_size(self->pool);
	ASSERT_EQ(bp_param("buf_count"), self->count);
	ASSERT_EQ(bp_param("buf_size"), self->size);
	self->seen = calloc(self->count, 1);
	self->held = calloc(self->count, sizeof(void *));
	ASSERT_NE(NULL, self->seen);
	ASSERT_NE(NULL, self->held);
}

FIXTURE_TEARDOWN(pool)
{
	free(self->held);
	free(self->seen);
	if (self->pool)
		bufpool_close(self->pool);
}

/* Take every buffer, each exactly once, then the next take fails. */
static void drain(struct __test_metadata *_metadata,
		  FIXTURE_DATA(pool) *self)
{
	uint32_t i;
	int64_t idx;

	memset(self->seen, 0, self->count);
	for (i = 0; i < self->count; i++) {
		self->held[i] = bufpool_acquire(self->pool);
		ASSERT_NE(NULL, self->held[i]);
		idx = bufpool_index(self->pool, self->held[i]);
		ASSERT_LE(0, idx);
		ASSERT_GT(self->count, idx);
		ASSERT_EQ(0, self->seen[idx]);
		self->seen[idx] = 1;
		ASSERT_EQ(self->held[i], bufpool_addr(self->pool, (uint32_t)idx));
		/* Writable to its last byte. */
		((unsigned char *)self->held[i])[self->size - 1] = 0x5a;
	}
	errno = 0;
	EXPECT_EQ(NULL, bufpool_acquire(self->pool));
	EXPECT_EQ(ENOBUFS, errno);
}

static void give_back(struct __test_metadata *_metadata,
		      FIXTURE_DATA(pool) *self)
{
	uint32_t i;

	for (i = 0; i < self->count; i++)
		ASSERT_EQ(0, bufpool_release(self->pool, self->held[i]));
}

TEST_F(pool, acquire_all_then_enobufs)
{
	drain(_metadata, self);
	give_back(_metadata, self);
	/* Everything came back: the whole pool can be taken again. */
	drain(_metadata, self);
	give_back(_metadata, self);
}

TEST_F(pool, reuse_is_lifo)
{
	void *a, *b;

	a = bufpool_acquire(self->pool);
	ASSERT_NE(NULL, a);
	ASSERT_EQ(0, bufpool_release(self->pool, a));
	b = bufpool_acquire(self->pool);
	EXPECT_EQ(a, b);
	ASSERT_EQ(0, bufpool_release(self->pool, b));
}

TEST_F(pool, index_api)
{
	uint32_t idx, again;
	unsigned char *p;

	ASSERT_EQ(0, bufpool_acquire_index(self->pool, &idx));
	ASSERT_GT(self->count, idx);
	p = bufpool_addr(self->pool, idx);
	ASSERT_NE(NULL, p);
	/* Any byte of a buffer names it. */
	EXPECT_EQ(idx, bufpool_index(self->pool, p + self->size - 1));
	EXPECT_EQ(0, bufpool_release_index(self->pool, idx));
	ASSERT_EQ(0, bufpool_acquire_index(self->pool, &again));
	EXPECT_EQ(idx, again);
	EXPECT_EQ(0, bufpool_release(self->pool, p));
}

TEST_F(pool, bad_release_refused)
{
	unsigned char *p, local;

	p = bufpool_acquire(self->pool);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(-1, bufpool_release(self->pool, &local));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_release(self->pool, p + 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_release(self->pool, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_release_index(self->pool, self->count));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_release_index(self->pool, UINT32_MAX));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(NULL, bufpool_addr(self->pool, self->count));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_index(self->pool, &local));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, bufpool_release(self->pool, p));
}

/*
 * Threads acquire and release bursts concurrently.  Each buffer's first
 * word is a marker: a thread that gets a buffer swaps its own id into a
 * zero marker and zeroes it again before giving the buffer back, so a
 * buffer handed to two holders at once is caught at the second swap.
 */
#define NTHREADS	4
#define ITERS		20000
#define MAXBURST	8

struct worker {
	struct bufpool *pool;
	uint32_t id;
	uint64_t ops;
	uint64_t double_held;
	uint64_t enobufs;
	uint64_t errors;
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	_Atomic uint32_t *held[MAXBURST];
	uint32_t seed = w->id * 2654435761u + 1;
	int it, k, n, burst;

	for (it = 0; it < ITERS; it++) {
		seed = seed * 1103515245u + 12345u;
		burst = 1 + (seed >> 16) % MAXBURST;
		for (n = 0; n < burst; n++) {
			uint32_t expect = 0;

			held[n] = bufpool_acquire(w->pool);
			if (!held[n]) {
				if (errno == ENOBUFS)
					w->enobufs++;
				else
					w->errors++;
				break;
			}
			if (!atomic_compare_exchange_strong_explicit(held[n],
					&expect, w->id, memory_order_relaxed,
					memory_order_relaxed))
				w->double_held++;
			w->ops++;
		}
		for (k = 0; k < n; k++) {
			uint32_t expect = w->id;

			if (!atomic_compare_exchange_strong_explicit(held[k],
					&expect, 0, memory_order_relaxed,
					memory_order_relaxed))
				w->double_held++;
			if (bufpool_release(w->pool, (void *)held[k]))
				w->errors++;
		}
	}
	return NULL;
}

TEST_F_TIMEOUT(pool, concurrent_no_double_hold, 240)
{
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	uint64_t ops = 0, enobufs = 0;
	uint32_t b;
	int i;

	/* Buffers keep old contents across release: clear every marker. */
	drain(_metadata, self);
	for (b = 0; b < self->count; b++)
		atomic_store((_Atomic uint32_t *)self->held[b], 0);
	give_back(_metadata, self);

	for (i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .pool = self->pool, .id = i + 1 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, worker_fn, &w[i]));
	}
	for (i = 0; i < NTHREADS; i++) {
		ASSERT_EQ(0, pthread_join(t[i], NULL));
		EXPECT_EQ(0, w[i].double_held);
		EXPECT_EQ(0, w[i].errors);
		ops += w[i].ops;
		enobufs += w[i].enobufs;
	}
	TH_LOG("%llu acquires by %d threads, %llu ENOBUFS",
	       (unsigned long long)ops, NTHREADS, (unsigned long long)enobufs);
	EXPECT_LE(NTHREADS * ITERS, ops);
	/* Nothing lost, nothing duplicated. */
	drain(_metadata, self);
	give_back(_metadata, self);
}

/*
 * Two processes share the pool: a buffer written by one is handed off,
 * read by index and adopted by the other.  The giver has exited (its
 * file released, its holdings reclaimed) before the receiver adopts.
 */
TEST_F(pool, handoff_between_processes)
{
	int pipefd[2], status;
	char want[32], *p;
	uint32_t idx;
	pid_t pid;

	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct bufpool *mine = bufpool_open(NULL);

		if (!mine || bufpool_acquire_index(mine, &idx))
			_exit(1);
		snprintf(bufpool_addr(mine, idx), self->size, "hello %u", idx);
		if (bufpool_handoff(mine, idx) ||
		    write(pipefd[1], &idx, sizeof(idx)) != sizeof(idx))
			_exit(2);
		bufpool_close(mine);
		_exit(0);
	}
	ASSERT_EQ(sizeof(idx), read(pipefd[0], &idx, sizeof(idx)));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, status);
	p = bufpool_addr(self->pool, idx);
	ASSERT_NE(NULL, p);
	snprintf(want, sizeof(want), "hello %u", idx);
	EXPECT_STREQ(want, p);
	EXPECT_EQ(-1, bufpool_release_index(self->pool, idx));	/* not yet */
	EXPECT_EQ(0, bufpool_adopt(self->pool, idx));
	EXPECT_EQ(0, bufpool_release_index(self->pool, idx));
	close(pipefd[0]);
	close(pipefd[1]);
}

/*
 * A release must be of a buffer this handle holds: a double release, a
 * never-acquired index, another handle's buffer and a foreign pointer
 * are refused with EINVAL and change nothing.
 */
TEST_F(pool, release_checks_ownership)
{
	struct bufpool *other = bufpool_open(NULL);
	uint32_t idx, theirs;
	void *buf;

	ASSERT_NE(NULL, other);
	ASSERT_NE(bufpool_client_id(self->pool), bufpool_client_id(other));
	ASSERT_EQ(0, bufpool_acquire_index(self->pool, &idx));
	EXPECT_EQ(0, bufpool_release_index(self->pool, idx));
	errno = 0;
	EXPECT_EQ(-1, bufpool_release_index(self->pool, idx));
	EXPECT_EQ(EINVAL, errno);

	ASSERT_EQ(0, bufpool_acquire_index(other, &theirs));
	errno = 0;
	EXPECT_EQ(-1, bufpool_release_index(self->pool, theirs));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_handoff(self->pool, theirs));
	EXPECT_EQ(-1, bufpool_adopt(self->pool, theirs));
	EXPECT_EQ(0, bufpool_release_index(other, theirs));

	buf = bufpool_acquire(self->pool);
	ASSERT_NE(NULL, buf);
	EXPECT_EQ(-1, bufpool_release(self->pool, (char *)buf + 1));
	EXPECT_EQ(-1, bufpool_release(self->pool, &idx));
	EXPECT_EQ(-1, bufpool_release_index(self->pool, self->count));
	EXPECT_EQ(0, bufpool_release(self->pool, buf));
	EXPECT_EQ(-1, bufpool_release(self->pool, buf));
	bufpool_close(other);
}

int main(int argc, char **argv)
{
	if (access(BUFPOOL_DEV_PATH, F_OK)) {
		ksft_print_header();
		ksft_exit_skip("no " BUFPOOL_DEV_PATH ": load bufpool.ko first\n");
	}
	return test_harness_run(argc, argv);
}
