// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool selftests of loading and unloading the module: parameters
 * accepted and refused, unload refused while in use, nothing left behind
 * by a load that failed.
 *
 * Each test unloads the module the VM runner loaded and loads it again
 * with the same parameters at the end.  $BUFPOOL_MODULE names the .ko.
 */
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <bufpool.h>
#include <kselftest_harness.h>

#include "bufpool_selftest.h"

FIXTURE(module) {
	int ready;
	const char *ko;
	char saved[1024];
	int was_loaded;
	int fd;
	void *map;
	size_t map_len;
};

FIXTURE_SETUP(module)
{
	self->fd = -1;
	self->map = MAP_FAILED;
	BP_REQUIRE_MODULE(self);

	self->was_loaded = bp_module_save_unload(self->saved, sizeof(self->saved));
	ASSERT_LE(0, self->was_loaded);
	self->ready = 1;
	ASSERT_FALSE(bp_module_loaded());
}

FIXTURE_TEARDOWN(module)
{
	BP_NEED_READY(self);
	if (self->map != MAP_FAILED)
		munmap(self->map, self->map_len);
	if (self->fd >= 0)
		close(self->fd);
	EXPECT_EQ(0, bp_module_restore(self->ko, self->was_loaded, self->saved));
}

TEST_F(module, load_unload)
{
	struct bufpool_info info;
	struct stat st;

	BP_NEED_READY(self);
	ASSERT_EQ(0, bp_finit_module(self->ko, "buf_size=4096 buf_count=16 mode=0640"));
	ASSERT_TRUE(bp_module_loaded());
	ASSERT_EQ(0, stat(BUFPOOL_DEV_PATH, &st));
	EXPECT_EQ(0640, st.st_mode & 0777);

	self->fd = open(BUFPOOL_DEV_PATH, O_RDWR);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ioctl(self->fd, BUFPOOL_IOC_INFO, &info));
	EXPECT_EQ(4096, info.buf_size);
	EXPECT_EQ(16, info.buf_count);
	EXPECT_EQ(2u << 20, info.pool_bytes);
	close(self->fd);
	self->fd = -1;

	ASSERT_EQ(0, bp_delete_module());
	EXPECT_FALSE(bp_module_loaded());
	EXPECT_EQ(-1, access(BUFPOOL_DEV_PATH, F_OK));

	/* And once more, with the defaults. */
	ASSERT_EQ(0, bp_finit_module(self->ko, ""));
	EXPECT_EQ(2048, bp_param("buf_size"));
	EXPECT_EQ(4096, bp_param("buf_count"));
	EXPECT_EQ(-1, bp_param("numa_node"));
	EXPECT_EQ(0600, bp_param("mode"));
	EXPECT_EQ(64, bp_param("caches"));
	ASSERT_EQ(0, bp_delete_module());
}


#define POOLS "pools=rx:buf_size=4096,buf_count=512,mode=0660,uid=1234,gid=1234;tx:buf_size=65536,buf_count=64,caches=0"

static void node_is(struct __test_metadata *_metadata, const char *path,
		    unsigned int mode, unsigned int uid, unsigned int gid)
{
	struct stat st;

	ASSERT_EQ(0, stat(path, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(mode, st.st_mode & 0777);
	EXPECT_EQ(uid, st.st_uid);
	EXPECT_EQ(gid, st.st_gid);
}

static void geometry_is(struct __test_metadata *_metadata, const char *path,
			unsigned int size, unsigned int count)
{
	struct bufpool *pool = bufpool_open(path);
	struct bufpool_info info;

	ASSERT_NE(NULL, pool);
	ASSERT_EQ(0, bufpool_get_info(pool, &info));
	EXPECT_EQ(size, info.buf_size);
	EXPECT_EQ(count, info.buf_count);
	bufpool_close(pool);
}

/* Pools named at load: a node each, with its own geometry and owner. */
TEST_F(module, several_pools)
{
	BP_NEED_READY(self);
	ASSERT_EQ(0, bp_finit_module(self->ko, "uid=7 gid=8 mode=0640 " POOLS));
	node_is(_metadata, BUFPOOL_DEV_PATH, 0640, 7, 8);
	node_is(_metadata, "/dev/bufpool-rx", 0660, 1234, 1234);
	/* Unset keys come from the default pool's parameters. */
	node_is(_metadata, "/dev/bufpool-tx", 0640, 7, 8);
	geometry_is(_metadata, BUFPOOL_DEV_PATH, 2048, 4096);
	geometry_is(_metadata, "/dev/bufpool-rx", 4096, 512);
	geometry_is(_metadata, "/dev/bufpool-tx", 65536, 64);
	EXPECT_EQ(0, access("/sys/class/bufpool/bufpool-rx/stats/reclaimed",
			    R_OK));
	ASSERT_EQ(0, bp_delete_module());
	EXPECT_EQ(-1, access("/dev/bufpool-rx", F_OK));
}

/* The text of a sysfs file, without its newline. */
static void sysfs_is(struct __test_metadata *_metadata, const char *path,
		     const char *want)
{
	char buf[64];

	ASSERT_LE(0, bp_read_file(path, buf, sizeof(buf)));
	buf[strcspn(buf, "\n")] = '\0';
	EXPECT_STREQ(want, buf);
}

/* One round: take n buffers one by one, write each, give them back. */
static int burst_round(struct bufpool *pool, void **held, unsigned int n)
{
	unsigned int i, got = 0;
	int bad = 0;

	for (i = 0; i < n; i++) {
		held[i] = bufpool_acquire(pool);
		if (!held[i])
			break;
		*(volatile char *)held[i] = (char)i;
		got++;
	}
	for (i = 0; i < got; i++)
		bad |= bufpool_release(pool, held[i]);
	return got == n && !bad ? 0 : -1;
}

/* An audit of pool finds all count buffers free or cached, none held. */
static void all_back(struct __test_metadata *_metadata, struct bufpool *pool,
		     uint32_t count)
{
	struct bufpool_audit a;

	memset(&a, 0, sizeof(a));
	ASSERT_EQ(0, bufpool_audit(pool, &a));
	EXPECT_EQ(count, a.free + a.cached);
	EXPECT_EQ(0, a.held);
	EXPECT_EQ(0, a.repaired);
}

/*
 * A child process that opens the default pool, runs rounds bursts of
 * 256 through it, takes 100 more buffers and is killed holding them,
 * with magazines in its cache.
 */
static void killed_holding(struct __test_metadata *_metadata,
			   unsigned int rounds)
{
	void *held[256];
	unsigned int r;
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct bufpool *p = bufpool_open(NULL);

		for (r = 0; r < rounds; r++)
			if (!p || burst_round(p, held, 256))
				_exit(1);
		for (r = 0; r < 100; r++)
			if (!bufpool_acquire(p))
				_exit(1);
		raise(SIGKILL);
		_exit(1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status));
}

/*
 * ATTACH on the pool at path: refused (EPROTO) for the minor before
 * minor (unless minor is the first with records, 2), accepted for minor
 * and for this ABI.
 */
static void attach_needs(struct __test_metadata *_metadata, const char *path,
			 unsigned int minor)
{
	uint32_t abi;
	int fd = open(path, O_RDWR);

	ASSERT_LE(0, fd);
	if (minor > 2) {
		abi = (1u << 16) | (minor - 1);
		errno = 0;
		EXPECT_EQ(-1, ioctl(fd, BUFPOOL_IOC_ATTACH, &abi));
		EXPECT_EQ(EPROTO, errno);
	}
	abi = (1u << 16) | minor;
	EXPECT_LT(0, ioctl(fd, BUFPOOL_IOC_ATTACH, &abi));
	abi = BUFPOOL_ABI_VERSION;
	EXPECT_LT(0, ioctl(fd, BUFPOOL_IOC_ATTACH, &abi));
	close(fd);
}

/*
 * ABI 1.6, mag_size: magazines of 256 and 512 buffers, which bursts of
 * 256 fill and empty without the depot or the free list (their heads,
 * read through a second mapping of the control area, do not move once
 * the thread's two magazines are warm); a process killed holding 100
 * buffers, with 156 more in its cache, gives it all back; a client that speaks an
 * ABI older than 1.6 is refused such a pool (EPROTO), a 1.6 one is not.
 */
TEST_F(module, burst_sized_magazines)
{
	struct bufpool_info info;
	struct bufpool *pool;
	const struct bufpool_ctrl *c;
	uint64_t heads[3];
	void *held[512];
	unsigned int r;

	BP_NEED_READY(self);
	ASSERT_EQ(0, bp_finit_module(self->ko,
		"buf_count=4096 caches=4 mag_size=256 pools=big:caches=2,mag_size=512"));
	EXPECT_EQ(256, bp_param("mag_size"));
	sysfs_is(_metadata, "/sys/class/bufpool/bufpool/info/mag_fill", "256");
	sysfs_is(_metadata, "/sys/class/bufpool/bufpool-big/info/mag_fill", "512");

	pool = bufpool_open(NULL);
	ASSERT_NE(NULL, pool);
	ASSERT_EQ(0, bufpool_get_info(pool, &info));
	EXPECT_EQ(256, info.mag_fill);
	EXPECT_EQ(4, info.nr_caches);
	EXPECT_LE(info.mags_offset + (uint64_t)info.nr_mags *
		  BUFPOOL_MAG_STRIDE(256), info.caches_offset);
	c = mmap(NULL, info.ctrl_size, PROT_READ, MAP_SHARED, bufpool_fd(pool),
		 info.ctrl_offset);
	ASSERT_NE(MAP_FAILED, c);
	for (r = 0; r < 3; r++)
		ASSERT_EQ(0, burst_round(pool, held, 256));
	heads[0] = c->free_head;
	heads[1] = c->full_head;
	heads[2] = c->empty_head;
	for (r = 0; r < 100; r++)
		ASSERT_EQ(0, burst_round(pool, held, 256));
	EXPECT_EQ(heads[0], c->free_head);
	EXPECT_EQ(heads[1], c->full_head);
	EXPECT_EQ(heads[2], c->empty_head);
	munmap((void *)c, info.ctrl_size);

	/* Killed holding a burst, with a full magazine cached: all back. */
	killed_holding(_metadata, 1);
	all_back(_metadata, pool, 4096);
	bufpool_close(pool);

	pool = bufpool_open("/dev/bufpool-big");
	ASSERT_NE(NULL, pool);
	ASSERT_EQ(0, bufpool_get_info(pool, &info));
	EXPECT_EQ(512, info.mag_fill);
	for (r = 0; r < 5; r++)
		ASSERT_EQ(0, burst_round(pool, held, 512));
	bufpool_close(pool);

	attach_needs(_metadata, BUFPOOL_DEV_PATH, 6);
	ASSERT_EQ(0, bp_delete_module());
}


/*
 * ABI 1.9, the rotating depot: a consumer thread gives back what a
 * producer thread takes, 20000 buffers through a pipe, so that the
 * consumer's cache sends full magazines to the depot and the
 * producer's takes them back.  In a rotating pool both full stacks see
 * traffic (the second one's head, read through a second mapping of the
 * control area, moves); in a pool without the parameter it is never
 * touched.  A process killed with buffers and magazines in its cache
 * loses none; a client older than 1.9 may not attach to a rotating pool.
 */
struct rot_pipe {
	struct bufpool *pool;
	int fd;
	int bad;
};

static void *rot_consumer(void *arg)
{
	struct rot_pipe *rp = arg;
	void *b;

	while (read(rp->fd, &b, sizeof(b)) == sizeof(b))
		if (*(volatile unsigned char *)b != 0xa5 ||
		    bufpool_release(rp->pool, b))
			rp->bad++;
	return NULL;
}

static void rot_pool_runs(struct __test_metadata *_metadata,
			  const char *path, uint32_t flags)
{
	struct bufpool *pool = bufpool_open(path);
	const struct bufpool_ctrl *c;
	struct bufpool_info info;
	struct rot_pipe rp;
	pthread_t t;
	int fds[2], i;
	void *b;

	ASSERT_NE(NULL, pool);
	ASSERT_EQ(0, bufpool_get_info(pool, &info));
	EXPECT_EQ(flags, info.depot_flags);
	EXPECT_EQ(16, info.mag_fill);
	c = mmap(NULL, info.ctrl_size, PROT_READ, MAP_SHARED, bufpool_fd(pool),
		 info.ctrl_offset);
	ASSERT_NE(MAP_FAILED, c);
	EXPECT_EQ(flags, c->depot_flags);
	EXPECT_EQ(BUFPOOL_IDX_NIL, c->full2_head);	/* empty, tag 0 */
	ASSERT_EQ(0, pipe(fds));
	rp = (struct rot_pipe){ .pool = pool, .fd = fds[0] };
	ASSERT_EQ(0, pthread_create(&t, NULL, rot_consumer, &rp));
	for (i = 0; i < 20000; i++) {
		b = bufpool_acquire(pool);
		if (!b) {		/* the consumer is behind: let it run */
			usleep(100);
			i--;
			continue;
		}
		*(volatile unsigned char *)b = 0xa5;
		ASSERT_EQ(sizeof(b), write(fds[1], &b, sizeof(b)));
	}
	close(fds[1]);
	ASSERT_EQ(0, pthread_join(t, NULL));
	close(fds[0]);
	EXPECT_EQ(0, rp.bad);
	if (flags & BUFPOOL_DEPOT_ROTATE) {
		EXPECT_NE(0, c->full2_head >> 24);	/* pushed and popped */
		EXPECT_NE(0, c->depot_turn);		/* turned */
	} else {
		EXPECT_EQ(BUFPOOL_IDX_NIL, c->full2_head);
		EXPECT_EQ(0, c->depot_turn);
	}
	munmap((void *)c, info.ctrl_size);
	all_back(_metadata, pool, info.buf_count);
	bufpool_close(pool);
}

TEST_F(module, rotating_depot)
{
	char buf[8];
	struct bufpool *pool;

	BP_NEED_READY(self);
	ASSERT_EQ(0, bp_finit_module(self->ko,
		"buf_count=1024 caches=4 mag_size=16 rotate=1 pools=plain:buf_count=1024,caches=4,mag_size=16,rotate=n;rot:buf_count=1024,caches=4,mag_size=16,rotate=y"));
	EXPECT_LT(0, bp_read_file(PARAM_DIR "rotate", buf, sizeof(buf)));
	EXPECT_STREQ("Y\n", buf);
	sysfs_is(_metadata, "/sys/class/bufpool/bufpool/info/depot_flags", "1");
	sysfs_is(_metadata, "/sys/class/bufpool/bufpool-rot/info/depot_flags",
		 "1");
	sysfs_is(_metadata, "/sys/class/bufpool/bufpool-plain/info/depot_flags",
		 "0");
	rot_pool_runs(_metadata, BUFPOOL_DEV_PATH, BUFPOOL_DEPOT_ROTATE);
	rot_pool_runs(_metadata, "/dev/bufpool-rot", BUFPOOL_DEPOT_ROTATE);
	rot_pool_runs(_metadata, "/dev/bufpool-plain", 0);

	/* Killed holding buffers, with magazines in its cache: all back. */
	killed_holding(_metadata, 20);
	pool = bufpool_open(NULL);
	ASSERT_NE(NULL, pool);
	all_back(_metadata, pool, 1024);
	bufpool_close(pool);

	attach_needs(_metadata, BUFPOOL_DEV_PATH, 9);
	attach_needs(_metadata, "/dev/bufpool-plain", 2);
	ASSERT_EQ(0, bp_delete_module());
}

/*
 * ABI 1.8: spread pools, by parameter and by pools= key: their info and
 * sysfs say the stride; every buffer is where the layout puts it (buffer
 * i at i * stride, across the 2 MiB chunks), whole and apart from the
 * next; a client older than 1.8 may not attach to one.
 */
static void spread_pool_is(struct __test_metadata *_metadata,
			   const char *path, const char *sysfs,
			   uint32_t size, uint32_t count, uint32_t stride)
{
	struct bufpool *pool = bufpool_open(path);
	uint32_t k, idx;
	struct bufpool_info info;
	unsigned char *base, *b;
	int64_t got;

	ASSERT_NE(NULL, pool);
	ASSERT_EQ(0, bufpool_get_info(pool, &info));
	EXPECT_EQ(size, info.buf_size);
	EXPECT_EQ(stride, info.buf_stride);
	EXPECT_EQ(stride == size ? (uint32_t)__builtin_ctz(size) : 0,
		  info.buf_shift);
	EXPECT_EQ(((uint64_t)count * stride + (2u << 20) - 1) >> 21 << 21,
		  info.bufs_size);
	EXPECT_EQ(stride, bp_read_number(sysfs, "buf_stride"));
	base = bufpool_addr(pool, 0);
	for (k = 0; k < count; k++) {
		b = bufpool_acquire(pool);
		ASSERT_NE(NULL, b);
		got = bufpool_index(pool, b);
		ASSERT_LE(0, got);
		idx = (uint32_t)got;
		ASSERT_EQ((uint64_t)idx * stride, (uint64_t)(b - base));
		memset(b, idx & 0xff, size);
	}
	EXPECT_EQ(NULL, bufpool_acquire(pool));
	for (idx = 0; idx < count; idx++) {
		b = bufpool_addr(pool, idx);
		ASSERT_EQ(idx & 0xff, b[0]);
		ASSERT_EQ(idx & 0xff, b[size - 1]);
		ASSERT_EQ(0, bufpool_release(pool, b));
	}
	bufpool_close(pool);
}

TEST_F(module, spread_pools)
{
	char buf[8];

	BP_NEED_READY(self);
	ASSERT_EQ(0, bp_finit_module(self->ko,
		"buf_size=2048 buf_count=2100 spread=1 pools=big:buf_size=65536,buf_count=70,spread=y;packed:buf_size=4096,buf_count=64,spread=n;huge:buf_size=2097152,buf_count=3"));
	EXPECT_LT(0, bp_read_file(PARAM_DIR "spread", buf, sizeof(buf)));
	EXPECT_STREQ("Y\n", buf);
	spread_pool_is(_metadata, BUFPOOL_DEV_PATH,
		       "/sys/class/bufpool/bufpool/info/", 2048, 2100, 2112);
	spread_pool_is(_metadata, "/dev/bufpool-big",
		       "/sys/class/bufpool/bufpool-big/info/", 65536, 70,
		       65600);
	spread_pool_is(_metadata, "/dev/bufpool-huge",
		       "/sys/class/bufpool/bufpool-huge/info/", 2u << 20, 3,
		       (2u << 20) + 64);
	spread_pool_is(_metadata, "/dev/bufpool-packed",
		       "/sys/class/bufpool/bufpool-packed/info/", 4096, 64,
		       4096);

	attach_needs(_metadata, BUFPOOL_DEV_PATH, 8);
	attach_needs(_metadata, "/dev/bufpool-packed", 2);
	ASSERT_EQ(0, bp_delete_module());
}


#define QDIR "/sys/class/bufpool/bufpool/queues/"

/* Queues declared at load are there, and stay when their users go. */
TEST_F(module, declared_queues)
{
	struct bufpool_queue_req req = {
		.op = BUFPOOL_QOP_OPEN, .name = "orders",
	};

	BP_NEED_READY(self);
	ASSERT_EQ(0, bp_finit_module(self->ko,
		"buf_count=64 queues=3 queue_len=16 queue=orders/10+md/4/sp "
		"pools=p:queues=0;r:queue=x/2"));
	sysfs_is(_metadata, "/sys/class/bufpool/bufpool/info/queues", "3");
	sysfs_is(_metadata, "/sys/class/bufpool/bufpool/info/queue_len", "16");
	sysfs_is(_metadata, QDIR "0/name", "orders");
	sysfs_is(_metadata, QDIR "0/capacity", "16");
	sysfs_is(_metadata, QDIR "0/flags", "2");
	sysfs_is(_metadata, QDIR "1/name", "md");
	sysfs_is(_metadata, QDIR "1/capacity", "4");
	sysfs_is(_metadata, QDIR "1/flags", "3");
	sysfs_is(_metadata, QDIR "2/name", "");
	sysfs_is(_metadata, QDIR "2/depth", "0");
	EXPECT_EQ(-1, access(QDIR "3", F_OK));
	/* No queues: no directory; a pool's own declared queues. */
	sysfs_is(_metadata, "/sys/class/bufpool/bufpool-p/info/queues", "0");
	EXPECT_EQ(-1, access("/sys/class/bufpool/bufpool-p/queues", F_OK));
	sysfs_is(_metadata, "/sys/class/bufpool/bufpool-r/queues/0/name", "x");

	self->fd = open(BUFPOOL_DEV_PATH, O_RDWR);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ioctl(self->fd, BUFPOOL_IOC_QUEUE, &req));
	EXPECT_EQ(0, req.id);
	EXPECT_EQ(BUFPOOL_QUEUE_DECLARED, req.queue_flags);
	sysfs_is(_metadata, QDIR "0/users", "1");
	req.op = BUFPOOL_QOP_CLOSE;
	req.flags = 0;
	ASSERT_EQ(0, ioctl(self->fd, BUFPOOL_IOC_QUEUE, &req));
	sysfs_is(_metadata, QDIR "0/users", "0");
	sysfs_is(_metadata, QDIR "0/name", "orders");
	close(self->fd);
	self->fd = -1;
	sysfs_is(_metadata, QDIR "0/name", "orders");
	ASSERT_EQ(0, bp_delete_module());
}

/*
 * Open path in a child running as uid/gid, with no supplementary groups
 * and no capabilities.  Returns 0 when refused with EACCES, 1 when it
 * opened, something else on any other outcome.
 */
static int open_as(const char *path, uid_t uid, gid_t gid)
{
	int status, fd;
	pid_t pid = fork();

	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(gid, gid, gid) ||
		    setresuid(uid, uid, uid))
			_exit(2);
		fd = open(path, O_RDWR);
		if (fd >= 0)
			_exit(1);
		_exit(errno == EACCES ? 0 : 3);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* A process that cannot open a pool's node cannot touch that pool. */
TEST_F(module, permissions)
{
	BP_NEED_READY(self);
	ASSERT_EQ(0, bp_finit_module(self->ko, POOLS));
	EXPECT_EQ(1, open_as("/dev/bufpool-rx", 1234, 1234));	/* owner */
	EXPECT_EQ(1, open_as("/dev/bufpool-rx", 4321, 1234));	/* group */
	EXPECT_EQ(0, open_as("/dev/bufpool-rx", 4321, 4321));	/* other */
	EXPECT_EQ(0, open_as("/dev/bufpool-tx", 1234, 1234));	/* 0600 root */
	EXPECT_EQ(0, open_as(BUFPOOL_DEV_PATH, 1234, 1234));
	ASSERT_EQ(0, bp_delete_module());
}

/*
 * A hostile client of one pool writes garbage over its control area and
 * dies: the other pools do not notice, and the pool itself is whole
 * again once its last client is gone.
 */
TEST_F(module, hostile_client_hurts_only_its_pool)
{
	struct bufpool_audit a;
	struct bufpool *rx, *tx;
	int status;
	pid_t pid;

	BP_NEED_READY(self);
	ASSERT_EQ(0, bp_finit_module(self->ko, POOLS));
	tx = bufpool_open("/dev/bufpool-tx");
	rx = bufpool_open("/dev/bufpool-rx");
	ASSERT_NE(NULL, tx);
	ASSERT_NE(NULL, rx);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct bufpool_info info;
		int fd = open("/dev/bufpool-rx", O_RDWR);
		uint64_t *w;
		size_t i;

		if (fd < 0 || ioctl(fd, BUFPOOL_IOC_INFO, &info))
			_exit(1);
		ioctl(fd, BUFPOOL_IOC_ATTACH, &(__u32){ BUFPOOL_ABI_VERSION });
		w = mmap(NULL, info.ctrl_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, fd, 0);
		if (w == MAP_FAILED)
			_exit(2);
		for (i = 0; i < info.ctrl_size / 8; i++)
			w[i] = i * 0x9E3779B97F4A7C15ull;
		raise(SIGKILL);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status));

	memset(&a, 0, sizeof(a));
	ASSERT_EQ(0, bufpool_audit(tx, &a));
	EXPECT_EQ(a.buf_count, a.free);
	EXPECT_EQ(0, a.repaired);
	EXPECT_EQ(0, bp_read_number("/sys/class/bufpool/bufpool-tx/stats/",
				    "repaired"));
	EXPECT_LT(0, bp_read_number("/sys/class/bufpool/bufpool-rx/stats/",
				    "repaired"));
	memset(&a, 0, sizeof(a));
	ASSERT_EQ(0, bufpool_audit(rx, &a));
	EXPECT_EQ(a.buf_count, a.free + a.cached + a.held + a.transit);

	bufpool_close(rx);	/* its last client: rebuilt */
	rx = bufpool_open("/dev/bufpool-rx");
	ASSERT_NE(NULL, rx);
	memset(&a, 0, sizeof(a));
	ASSERT_EQ(0, bufpool_audit(rx, &a));
	EXPECT_EQ(a.buf_count, a.free);
	EXPECT_EQ(0, a.repaired);
	bufpool_close(rx);
	bufpool_close(tx);
	ASSERT_EQ(0, bp_delete_module());
}

/*
 * Size classes, as bufpool-sizes configures them: the smallest class
 * that holds the size, the next larger when it is empty, releases found
 * by address.
 */
TEST_F(module, size_classes)
{
	struct bufpool_classes *cls;
	void *small[64], *big, *b, *c;
	int i;

	BP_NEED_READY(self);
	ASSERT_EQ(0, bp_finit_module(self->ko,
		"pools=c65536:buf_size=65536,buf_count=8;c128:buf_size=128,buf_count=64;c2048:buf_size=2048,buf_count=64;other:buf_size=128,buf_count=8"));
	cls = bufpool_classes_open(NULL, 0);
	ASSERT_NE(NULL, cls);
	/* Ascending, and only the class pools. */
	EXPECT_EQ(128, bufpool_buf_size(bufpool_classes_pool(cls, 0)));
	EXPECT_EQ(2048, bufpool_buf_size(bufpool_classes_pool(cls, 1)));
	EXPECT_EQ(65536, bufpool_buf_size(bufpool_classes_pool(cls, 2)));
	EXPECT_EQ(NULL, bufpool_classes_pool(cls, 3));

	big = bufpool_classes_acquire(cls, 2049);
	ASSERT_NE(NULL, big);
	EXPECT_LE(0, bufpool_index(bufpool_classes_pool(cls, 2), big));
	c = bufpool_classes_acquire(cls, 129);
	ASSERT_NE(NULL, c);
	EXPECT_LE(0, bufpool_index(bufpool_classes_pool(cls, 1), c));
	errno = 0;
	EXPECT_EQ(NULL, bufpool_classes_acquire(cls, 65537));
	EXPECT_EQ(EINVAL, errno);

	/* Class 128 has 64: the 65th small one comes from class 2048. */
	for (i = 0; i < 64; i++) {
		small[i] = bufpool_classes_acquire(cls, 100);
		ASSERT_NE(NULL, small[i]);
		ASSERT_LE(0, bufpool_index(bufpool_classes_pool(cls, 0),
					   small[i]));
	}
	b = bufpool_classes_acquire(cls, 100);
	ASSERT_NE(NULL, b);
	EXPECT_LE(0, bufpool_index(bufpool_classes_pool(cls, 1), b));
	EXPECT_EQ(0, bufpool_classes_release(cls, b));
	EXPECT_EQ(0, bufpool_classes_release(cls, c));
	EXPECT_EQ(0, bufpool_classes_release(cls, big));
	for (i = 0; i < 64; i++)
		EXPECT_EQ(0, bufpool_classes_release(cls, small[i]));
	EXPECT_EQ(-1, bufpool_classes_release(cls, small[0]));	/* twice */
	EXPECT_EQ(-1, bufpool_classes_release(cls, &i));	/* foreign */
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(NULL, bufpool_classes_acquire(NULL, 64));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_classes_release(NULL, small[0]));
	EXPECT_EQ(NULL, bufpool_classes_pool(NULL, 0));
	bufpool_classes_close(cls);
	ASSERT_EQ(0, bp_delete_module());
}

/*
 * Size classes as bufpool-sizes --spread configures them: the classes
 * of 1 KiB and up spread (ABI 1.8), the smaller packed.  Every buffer
 * of every class is found by address in its own class, whatever the
 * stride; an address inside a buffer or in a spread buffer's pad is
 * refused, and nothing is lost.  64 buffers of 2 KiB: the last ones
 * start beyond 64 x 2048 bytes, where a class sized by buf_size alone
 * would end.
 */
TEST_F(module, size_classes_spread)
{
	static void *held[8 + 64 + 64];
	struct bufpool_classes *cls;
	struct bufpool_info info;
	struct bufpool *p;
	unsigned int i, n = 0, k;
	char *b;

	BP_NEED_READY(self);
	ASSERT_EQ(0, bp_finit_module(self->ko,
		"pools=c128:buf_size=128,buf_count=64;c2048:buf_size=2048,buf_count=64,spread=y;c65536:buf_size=65536,buf_count=8,spread=y"));
	cls = bufpool_classes_open(NULL, 0);
	ASSERT_NE(NULL, cls);
	for (k = 0; k < 3; k++) {
		static const unsigned int stride[] = { 128, 2048 + 64,
						       65536 + 64 };

		p = bufpool_classes_pool(cls, k);
		ASSERT_NE(NULL, p);
		ASSERT_EQ(0, bufpool_get_info(p, &info));
		EXPECT_EQ(stride[k], info.buf_stride);
	}
	/* Every buffer of the two spread classes, then the small ones. */
	for (i = 0; i < 8; i++) {
		held[n] = bufpool_classes_acquire(cls, 60000);
		ASSERT_NE(NULL, held[n]);
		EXPECT_LE(0, bufpool_index(bufpool_classes_pool(cls, 2),
					   held[n]));
		n++;
	}
	for (i = 0; i < 64 + 64; i++) {
		held[n] = bufpool_classes_acquire(cls, i < 64 ? 1500 : 100);
		ASSERT_NE(NULL, held[n]);
		EXPECT_LE(0, bufpool_index(bufpool_classes_pool(cls,
							i < 64 ? 1 : 0),
					   held[n]));
		n++;
	}
	/* All taken: the largest asked for finds none. */
	errno = 0;
	EXPECT_EQ(NULL, bufpool_classes_acquire(cls, 60000));
	EXPECT_EQ(ENOBUFS, errno);
	/* Inside a buffer, and in a spread buffer's pad: not a buffer. */
	b = held[8];
	EXPECT_EQ(-1, bufpool_classes_release(cls, b + 64));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_classes_release(cls, b + 2048));
	EXPECT_EQ(EINVAL, errno);
	b = held[0];
	EXPECT_EQ(-1, bufpool_classes_release(cls, b + 65536));
	EXPECT_EQ(EINVAL, errno);
	for (i = 0; i < n; i++)
		EXPECT_EQ(0, bufpool_classes_release(cls, held[i]));
	EXPECT_EQ(-1, bufpool_classes_release(cls, held[0]));	/* twice */
	/* Each class has all its buffers back, free or in this cache. */
	for (k = 0; k < 3; k++) {
		struct bufpool_audit a;

		memset(&a, 0, sizeof(a));
		p = bufpool_classes_pool(cls, k);
		ASSERT_EQ(0, bufpool_audit(p, &a));
		EXPECT_EQ(0, a.held);
		EXPECT_EQ(a.buf_count, a.free + a.cached);
		EXPECT_EQ(0, a.repaired);
	}
	bufpool_classes_close(cls);
	ASSERT_EQ(0, bp_delete_module());
}

/* A geometry at the limits is accepted: one buffer of 2 MiB, 64 B x 32768. */
TEST_F(module, limits_accepted)
{
	struct bufpool *pool;
	void *p;

	BP_NEED_READY(self);
	ASSERT_EQ(0, bp_finit_module(self->ko, "buf_size=2097152 buf_count=1"));
	pool = bufpool_open(NULL);
	ASSERT_NE(NULL, pool);
	p = bufpool_acquire(pool);
	ASSERT_NE(NULL, p);
	memset(p, 0xff, 2u << 20);
	EXPECT_EQ(NULL, bufpool_acquire(pool));
	EXPECT_EQ(ENOBUFS, errno);
	EXPECT_EQ(0, bufpool_release(pool, p));
	bufpool_close(pool);
	ASSERT_EQ(0, bp_delete_module());

	ASSERT_EQ(0, bp_finit_module(self->ko, "buf_size=64 buf_count=32768"));
	pool = bufpool_open(NULL);
	ASSERT_NE(NULL, pool);
	EXPECT_EQ(64, bufpool_buf_size(pool));
	EXPECT_EQ(32768, bufpool_buf_count(pool));
	bufpool_close(pool);
	ASSERT_EQ(0, bp_delete_module());
}

/* Memory is zeroed at load, even memory a previous load dirtied. */
TEST_F(module, memory_zeroed)
{
	struct bufpool *pool;
	unsigned char *p;
	uint32_t i, n;
	size_t j;

	BP_NEED_READY(self);
	ASSERT_EQ(0, bp_finit_module(self->ko, "buf_size=65536 buf_count=64"));
	pool = bufpool_open(NULL);
	ASSERT_NE(NULL, pool);
	n = bufpool_buf_count(pool);
	for (i = 0; i < n; i++)
		memset(bufpool_addr(pool, i), 0xee, 65536);
	bufpool_close(pool);
	ASSERT_EQ(0, bp_delete_module());

	ASSERT_EQ(0, bp_finit_module(self->ko, "buf_size=65536 buf_count=64"));
	pool = bufpool_open(NULL);
	ASSERT_NE(NULL, pool);
	for (i = 0; i < n; i++) {
		p = bufpool_addr(pool, i);
		for (j = 0; j < 65536; j += 64)
			ASSERT_EQ(0, p[j]);
	}
	bufpool_close(pool);
	ASSERT_EQ(0, bp_delete_module());
}

TEST_F(module, unload_refused_while_in_use)
{
	struct bufpool_info info;

	BP_NEED_READY(self);
	ASSERT_EQ(0, bp_finit_module(self->ko, "buf_count=1024"));
	self->fd = open(BUFPOOL_DEV_PATH, O_RDWR);
	ASSERT_LE(0, self->fd);
	EXPECT_EQ(-1, bp_delete_module());
	EXPECT_EQ(EWOULDBLOCK, errno);

	/* A mapping alone, with its file closed, still holds the module. */
	ASSERT_EQ(0, ioctl(self->fd, BUFPOOL_IOC_INFO, &info));
	self->map_len = info.bufs_size;
	self->map = mmap(NULL, self->map_len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_POPULATE, self->fd, info.bufs_offset);
	ASSERT_NE(MAP_FAILED, self->map);
	close(self->fd);
	self->fd = -1;
	EXPECT_EQ(-1, bp_delete_module());
	EXPECT_EQ(EWOULDBLOCK, errno);
	EXPECT_TRUE(bp_module_loaded());
	memset(self->map, 1, self->map_len);

	ASSERT_EQ(0, munmap(self->map, self->map_len));
	self->map = MAP_FAILED;
	EXPECT_EQ(0, bp_delete_module());
	EXPECT_FALSE(bp_module_loaded());
}

/* numa_node=N: every chunk of the pool lives on node N. */
TEST_F(module, numa_node_honoured)
{
	int node, want, status[8];
	void *pages[8];
	struct bufpool *pool;
	char params[96];
	unsigned int i;

	BP_NEED_READY(self);
	if (access("/sys/devices/system/node/node1", F_OK))
		SKIP(return, "needs two NUMA nodes");
	for (want = 1; want >= 0; want--) {
		snprintf(params, sizeof(params),
			 "buf_size=2097152 buf_count=8 numa_node=%d", want);
		ASSERT_EQ(0, bp_finit_module(self->ko, params));
		pool = bufpool_open(NULL);
		ASSERT_NE(NULL, pool);
		for (i = 0; i < 8; i++)
			pages[i] = bufpool_addr(pool, i);
		ASSERT_EQ(0, syscall(SYS_move_pages, 0, 8, pages, NULL, status, 0));
		for (i = 0; i < 8; i++) {
			node = status[i];
			EXPECT_EQ(want, node);
		}
		bufpool_close(pool);
		ASSERT_EQ(0, bp_delete_module());
	}
}

/*
 * A page pinned by get_user_pages() outlives its mapping, its file and
 * the module itself: rmmod frees the pool, the pinned chunk lives on
 * until the pipe that holds it lets go.
 */
TEST_F(module, pin_outlives_module)
{
	unsigned char *buf, out[65536];
	struct bufpool *pool;
	struct iovec iov;
	int p[2];
	size_t i;

	BP_NEED_READY(self);
	ASSERT_EQ(0, bp_finit_module(self->ko, "buf_size=65536 buf_count=32"));
	pool = bufpool_open(NULL);
	ASSERT_NE(NULL, pool);
	buf = bufpool_acquire(pool);
	ASSERT_NE(NULL, buf);
	for (i = 0; i < sizeof(out); i++)
		buf[i] = (unsigned char)(i * 13);
	ASSERT_EQ(0, pipe(p));
	ASSERT_LE((int)sizeof(out), fcntl(p[1], F_SETPIPE_SZ, sizeof(out)));
	iov = (struct iovec){ .iov_base = buf, .iov_len = sizeof(out) };
	ASSERT_EQ((ssize_t)sizeof(out), vmsplice(p[1], &iov, 1, 0));
	bufpool_close(pool);

	/* Nothing maps or opens the pool: the module goes. */
	ASSERT_EQ(0, bp_delete_module());
	ASSERT_FALSE(bp_module_loaded());
	ASSERT_EQ((ssize_t)sizeof(out), read(p[0], out, sizeof(out)));
	for (i = 0; i < sizeof(out); i++)
		ASSERT_EQ((unsigned char)(i * 13), out[i]);
	close(p[0]);
	close(p[1]);
}

/*
 * A load that fails halfway through reserving memory gives back what it
 * had taken: ask for more than is available but less than the machine
 * has, so that the pre-check passes and the allocation itself fails.
 */
TEST_F(module, failed_load_leaks_nothing)
{
	long long total = bp_meminfo_kib("MemTotal");
	long long avail = bp_meminfo_kib("MemAvailable");
	long long free_before, free_after, want_kib, chunks;
	char params[128];

	BP_NEED_READY(self);
	ASSERT_LT(0, total);
	ASSERT_LT(0, avail);
	want_kib = avail + (total - avail) / 2;
	if (want_kib - avail < 16 * 1024)
		SKIP(return, "no room between MemAvailable and MemTotal");
	chunks = want_kib / 2048;
	snprintf(params, sizeof(params), "buf_size=2097152 buf_count=%lld", chunks);

	free_before = bp_meminfo_kib("MemFree");
	EXPECT_EQ(-1, bp_finit_module(self->ko, params));
	EXPECT_EQ(ENOMEM, errno);
	EXPECT_FALSE(bp_module_loaded());
	free_after = bp_meminfo_kib("MemFree");
	TH_LOG("asked %lld MiB; MemFree %lld -> %lld MiB", want_kib >> 10,
	       free_before >> 10, free_after >> 10);
	/*
	 * Everything it took came back.  A leak here would lose nearly all
	 * it had taken (hundreds of MiB); the margin is for freed 2 MiB pages
	 * that sit on per-CPU free lists, which MemFree does not count (tens
	 * of MiB seen in a two-node guest).
	 */
	EXPECT_LT(free_before - want_kib / 8, free_after);
}

/* Each bad parameter is refused with a clear errno and leaves nothing. */
FIXTURE(badparam) {
	int ready;
	const char *ko;
	char saved[1024];
	int was_loaded;
};

FIXTURE_VARIANT(badparam) {
	const char *params;
	int err;
};

FIXTURE_VARIANT_ADD(badparam, size_not_power_of_two) {
	.params = "buf_size=100", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, size_below_64) {
	.params = "buf_size=32", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, size_zero) {
	.params = "buf_size=0", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, size_above_2m) {
	.params = "buf_size=4194304", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, size_not_a_number) {
	.params = "buf_size=big", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, spread_not_a_bool) {
	.params = "spread=maybe", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, pools_spread_not_a_bool) {
	.params = "pools=a:spread=maybe", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, rotate_not_a_bool) {
	.params = "rotate=maybe", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, pools_rotate_not_a_bool) {
	.params = "pools=a:rotate=2", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, count_zero) {
	.params = "buf_count=0", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, count_above_index_space) {
	.params = "buf_size=64 buf_count=16777216", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, count_negative) {
	.params = "buf_count=-1", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, more_than_the_machine) {
	.params = "buf_size=2097152 buf_count=8000000", .err = ENOMEM,
};
FIXTURE_VARIANT_ADD(badparam, more_than_the_node) {
	.params = "numa_node=0 buf_size=2097152 buf_count=4000000", .err = ENOMEM,
};
FIXTURE_VARIANT_ADD(badparam, node_offline) {
	.params = "numa_node=7", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, node_huge) {
	.params = "numa_node=100000", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, node_below_minus_one) {
	.params = "numa_node=-2", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, caches_too_many) {
	.params = "caches=4097", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, mode_not_permission_bits) {
	.params = "mode=04755", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, uid_invalid) {
	.params = "uid=4294967295", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, pool_name_bad) {
	.params = "pools=Rx:buf_count=8", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, pool_name_long) {
	.params = "pools=abcdefghijklmnopqrstuvwxyz", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, pool_named_twice) {
	.params = "pools=a;a", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, pool_key_unknown) {
	.params = "pools=a:size=64", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, pool_value_bad) {
	.params = "pools=a:buf_count=lots", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, pool_not_key_value) {
	.params = "pools=a:buf_count", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, pool_geometry_bad) {
	.params = "pools=a:buf_size=100", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, too_many_pools) {
	.params = "pools=a;b;c;d;e;f;g;h;i;j;k;l;m;n;o;p;q", .err = EINVAL,
};

FIXTURE_VARIANT_ADD(badparam, queues_too_many) {
	.params = "queues=65", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, queue_len_not_power_of_two) {
	.params = "queue_len=3", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, queue_len_too_long) {
	.params = "queue_len=2097152", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, queue_name_bad) {
	.params = "queue=a:b/4", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, queue_no_capacity) {
	.params = "queue=a", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, queue_capacity_zero) {
	.params = "queue=a/0", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, queue_capacity_above_len) {
	.params = "queue_len=8 queue=a/9", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, queue_mode_bad) {
	.params = "queue=a/4/mp", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, queue_more_than_queues) {
	.params = "queues=1 queue=a/4+b/4", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, queue_named_twice) {
	.params = "queue=a/4+a/8", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, queue_in_pools_bad) {
	.params = "pools=a:queue=x/0", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, repair_interval_too_long) {
	.params = "repair_interval_ms=60001", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, repair_interval_negative) {
	.params = "repair_interval_ms=-1", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, repair_interval_in_pools_bad) {
	.params = "pools=a:repair_interval_ms=100000", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, mag_size_above_max) {
	.params = "buf_count=1048576 caches=1 mag_size=1024", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, mag_size_above_half_the_pool) {
	.params = "buf_count=4096 caches=4 mag_size=257", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, mag_size_without_caches) {
	.params = "caches=0 mag_size=8", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, mag_size_not_a_number) {
	.params = "mag_size=big", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, mag_size_in_pools_bad) {
	.params = "pools=a:buf_count=4096,caches=64,mag_size=17", .err = EINVAL,
};
FIXTURE_VARIANT_ADD(badparam, queues_with_too_many_buffers) {
	.params = "buf_size=64 buf_count=16777215", .err = EINVAL,
};

FIXTURE_SETUP(badparam)
{
	BP_REQUIRE_MODULE(self);
	self->was_loaded = bp_module_save_unload(self->saved, sizeof(self->saved));
	ASSERT_LE(0, self->was_loaded);
	self->ready = 1;
}

FIXTURE_TEARDOWN(badparam)
{
	BP_NEED_READY(self);
	EXPECT_EQ(0, bp_module_restore(self->ko, self->was_loaded, self->saved));
}

TEST_F(badparam, refused)
{
	BP_NEED_READY(self);
	errno = 0;
	EXPECT_EQ(-1, bp_finit_module(self->ko, variant->params));
	EXPECT_EQ(variant->err, errno);
	EXPECT_FALSE(bp_module_loaded());
	EXPECT_EQ(-1, access(BUFPOOL_DEV_PATH, F_OK));
}

TEST_HARNESS_MAIN
