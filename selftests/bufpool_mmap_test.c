// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool selftests of how the pool is mapped: 2 MiB page-table entries
 * where the mapping allows, 4 KiB where it was split, no fault after a
 * populated open, and what fork, madvise, mlock, mremap and NUMA
 * balancing do to a mapping.
 */
#include <sched.h>
#include <sys/prctl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <time.h>
#include <sys/wait.h>

#include <bufpool.h>
#include <kselftest_harness.h>

#include "bufpool_selftest.h"

FIXTURE(map) {
	int fd;
	struct bufpool_info info;
	unsigned long chunks;
	unsigned char *p;	/* the whole buffer area, when mapped */
	size_t len;
};

FIXTURE_SETUP(map)
{
	self->p = MAP_FAILED;
	self->fd = open(BUFPOOL_DEV_PATH, O_RDWR);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ioctl(self->fd, BUFPOOL_IOC_INFO, &self->info));
	self->len = self->info.bufs_size;
	self->chunks = self->len / SZ_2M;
}

FIXTURE_TEARDOWN(map)
{
	if (self->p != MAP_FAILED)
		munmap(self->p, self->len);
	close(self->fd);
}

static unsigned char *map_bufs(FIXTURE_DATA(map) *self, int flags)
{
	self->p = mmap(NULL, self->len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | flags, self->fd, self->info.bufs_offset);
	return self->p;
}

/* Touch one byte in every 4 KiB page of [p, p + len). */
static void touch(unsigned char *p, size_t len, unsigned char v)
{
	size_t off;

	for (off = 0; off < len; off += 4096)
		((volatile unsigned char *)p)[off] = v;
}

TEST_F(map, aligned_by_default)
{
	ASSERT_NE(MAP_FAILED, map_bufs(self, 0));
	EXPECT_EQ(0, (uintptr_t)self->p % SZ_2M);
}

/*
 * Without MAP_POPULATE, touching every 4 KiB page takes one fault per
 * 2 MiB, not one per 4 KiB, and the kernel says the range is PMD-mapped.
 */
TEST_F(map, one_fault_per_2m)
{
	long long pmd0 = bp_stat("pmd_faults"), pte0 = bp_stat("pte_faults");
	long flt0, flt;

	ASSERT_LE(0, pmd0);
	ASSERT_NE(MAP_FAILED, map_bufs(self, 0));
	flt0 = bp_minflt();
	touch(self->p, self->len, 1);
	flt = bp_minflt() - flt0;
	TH_LOG("%zu MiB: %ld faults for %zu pages", self->len >> 20, flt,
	       self->len / 4096);
	EXPECT_LE(self->chunks, flt);
	EXPECT_GE(self->chunks + 2, flt);
	EXPECT_EQ(pmd0 + (long long)self->chunks, bp_stat("pmd_faults"));
	EXPECT_EQ(pte0, bp_stat("pte_faults"));
	EXPECT_EQ((long long)(self->len >> 10), bp_smaps_kib(self->p, "FilePmdMapped"));
}

/*
 * pmd_faults and pte_faults count what the page tables hold after each
 * fault, whatever the kernel decided: on every kernel and in every case
 * below, the PMD faults account for exactly what smaps shows as
 * PMD-mapped, everything touched is mapped, and the counted faults are
 * faults the process took.  A PTE fault maps one page on 6.1 and 6.12;
 * 7.x maps the rest of the folio within the page table at once.  The variants let the kernel refuse the PMD
 * (a VMA advised MADV_NOHUGEPAGE, a process with THP disabled: refused
 * from 6.12 on, mapped by 6.1) or make it impossible (a misaligned
 * address); the plain one holds the product's promise of 2 MiB entries.
 */
FIXTURE(counters) {
	int fd;
	struct bufpool_info info;
	unsigned char *resv;	/* PROT_NONE reservation the mapping sits in */
	size_t resv_len;
};

FIXTURE_VARIANT(counters) {
	int advice;		/* madvise() on the mapping, or -1 */
	int thp_disable;	/* prctl(PR_SET_THP_DISABLE) first */
	size_t skew;		/* address offset from a 2 MiB boundary */
	int want_pmd;		/* 1: every chunk PMD-mapped; 0: none; -1: either */
};

FIXTURE_VARIANT_ADD(counters, plain) {
	.advice = -1, .want_pmd = 1,
};

FIXTURE_VARIANT_ADD(counters, nohugepage) {
	.advice = MADV_NOHUGEPAGE, .want_pmd = -1,
};

FIXTURE_VARIANT_ADD(counters, thp_disabled) {
	.advice = -1, .thp_disable = 1, .want_pmd = -1,
};

FIXTURE_VARIANT_ADD(counters, misaligned) {
	.advice = -1, .skew = 4096, .want_pmd = 0,
};

FIXTURE_SETUP(counters)
{
	self->resv = MAP_FAILED;
	self->fd = open(BUFPOOL_DEV_PATH, O_RDWR);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ioctl(self->fd, BUFPOOL_IOC_INFO, &self->info));
	self->resv_len = self->info.bufs_size + 2 * SZ_2M;
	self->resv = mmap(NULL, self->resv_len, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->resv);
}

FIXTURE_TEARDOWN(counters)
{
	if (self->resv != MAP_FAILED)
		munmap(self->resv, self->resv_len);
	close(self->fd);
}

TEST_F(counters, match_page_tables)
{
	size_t len = self->info.bufs_size, chunks = len / SZ_2M;
	long long pmd0, pte0, pmd, pte, pmd_kib;
	unsigned char *p;
	long flt0, flt;

	p = (unsigned char *)(((uintptr_t)self->resv + SZ_2M - 1) &
			      ~(SZ_2M - 1)) + variant->skew;
	ASSERT_EQ(p, mmap(p, len, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_FIXED, self->fd,
			  self->info.bufs_offset));
	if (variant->advice >= 0)
		ASSERT_EQ(0, madvise(p, len, variant->advice));
	if (variant->thp_disable)
		ASSERT_EQ(0, prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0));
	pmd0 = bp_stat("pmd_faults");
	pte0 = bp_stat("pte_faults");
	ASSERT_LE(0, pmd0);
	ASSERT_LE(0, pte0);
	flt0 = bp_minflt();
	touch(p, len, 3);
	flt = bp_minflt() - flt0;
	pmd = bp_stat("pmd_faults") - pmd0;
	pte = bp_stat("pte_faults") - pte0;
	pmd_kib = bp_smaps_kib(p, "FilePmdMapped");
	TH_LOG("%zu MiB: %ld faults, counted %lld PMD + %lld PTE; FilePmdMapped %lld KiB",
	       len >> 20, flt, pmd, pte, pmd_kib);
	EXPECT_EQ(pmd * (long long)(SZ_2M >> 10), pmd_kib);
	/* Everything touched is mapped (7.x maps a whole folio's PTEs at once). */
	EXPECT_EQ((long long)(len >> 10), bp_smaps_kib(p, "Rss"));
	EXPECT_LE((long long)len, pmd * (long long)SZ_2M + pte * (long long)SZ_2M);
	EXPECT_LE(pmd + pte, flt);
	EXPECT_GE(pmd + pte + 8, flt);
	if (variant->want_pmd == 1)
		EXPECT_EQ((long long)chunks, pmd);
	if (variant->want_pmd == 0)
		EXPECT_EQ(0, pmd);
	munmap(p, len);
}

/* The library maps with MAP_POPULATE: then no access faults at all. */
TEST(populated_open_takes_no_fault)
{
	struct bufpool *pool = bufpool_open(NULL);
	uint32_t i, n;
	size_t size;
	long flt0, flt;

	ASSERT_NE(NULL, pool);
	n = bufpool_buf_count(pool);
	size = bufpool_buf_size(pool);
	/* Resolve the PLT entry outside the measurement. */
	ASSERT_NE(NULL, bufpool_addr(pool, 0));
	flt0 = bp_minflt();
	for (i = 0; i < n; i++) {
		unsigned char *b = bufpool_addr(pool, i);
		size_t off;

		for (off = 0; off < size; off += 4096)
			b[off] = (unsigned char)i;
		b[size - 1] = (unsigned char)i;
	}
	flt = bp_minflt() - flt0;
	TH_LOG("%u buffers written, %ld faults", n, flt);
	EXPECT_EQ(0, flt);
	bufpool_close(pool);
}

/* A partial munmap splits the PMD; the rest refaults at 4 KiB, intact. */
TEST_F(map, split_falls_back_to_4k)
{
	long long pte0;
	size_t off;

	ASSERT_NE(MAP_FAILED, map_bufs(self, MAP_POPULATE));
	for (off = 0; off < SZ_2M; off += 4096)
		self->p[off] = (unsigned char)(off >> 12);
	pte0 = bp_stat("pte_faults");
	ASSERT_EQ(0, munmap(self->p, 4096));
	for (off = 4096; off < SZ_2M; off += 4096)
		ASSERT_EQ((unsigned char)(off >> 12), self->p[off]);
	EXPECT_LT(pte0, bp_stat("pte_faults"));
	/* Put the page back so that teardown unmaps one whole range. */
	ASSERT_EQ(self->p, mmap(self->p, 4096, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_FIXED, self->fd,
				self->info.bufs_offset));
	EXPECT_EQ(0, self->p[0]);
}

TEST_F(map, mprotect_split)
{
	ASSERT_NE(MAP_FAILED, map_bufs(self, MAP_POPULATE));
	self->p[SZ_2M - 1] = 7;
	ASSERT_EQ(0, mprotect(self->p + 4096, 4096, PROT_READ));
	self->p[0] = 5;
	EXPECT_EQ(7, self->p[SZ_2M - 1]);
	EXPECT_EQ(5, self->p[0]);
	ASSERT_EQ(0, mprotect(self->p + 4096, 4096, PROT_READ | PROT_WRITE));
	self->p[4096] = 6;
	EXPECT_EQ(6, self->p[4096]);
}

/* A mapping at an address the chunks cannot align with: 4 KiB, same memory. */
TEST_F(map, misaligned_address_uses_4k)
{
	long long pmd0 = bp_stat("pmd_faults");
	unsigned char *q, *hole;

	ASSERT_NE(MAP_FAILED, map_bufs(self, 0));
	hole = mmap(NULL, SZ_2M + 2 * 4096, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, hole);
	q = (unsigned char *)(((uintptr_t)hole + SZ_2M) & ~(SZ_2M - 1)) - 4096;
	ASSERT_EQ(q, mmap(q, SZ_2M, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_FIXED, self->fd,
			  self->info.bufs_offset));
	self->p[12345] = 99;
	EXPECT_EQ(99, q[12345]);
	q[SZ_2M - 1] = 98;
	EXPECT_EQ(98, self->p[SZ_2M - 1]);
	/* The aligned mapping took the only PMD fault. */
	EXPECT_EQ(pmd0 + 1, bp_stat("pmd_faults"));
	EXPECT_EQ(0, bp_smaps_kib(q, "FilePmdMapped"));
	munmap(hole, SZ_2M + 2 * 4096);
}

/* A forked child keeps a working, shared mapping. */
TEST_F(map, fork_child_shares_mapping)
{
	int status;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, map_bufs(self, MAP_POPULATE));
	self->p[100] = 1;
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (self->p[100] != 1)
			_exit(1);
		self->p[101] = 2;
		self->p[self->len - 1] = 3;
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, status);
	EXPECT_EQ(2, self->p[101]);
	EXPECT_EQ(3, self->p[self->len - 1]);
}

/* MADV_DONTNEED drops the entries only: same pages come back, data kept. */
TEST_F(map, madv_dontneed_refaults_same_memory)
{
	long long pmd0, free0, free1;
	size_t off;

	ASSERT_NE(MAP_FAILED, map_bufs(self, MAP_POPULATE));
	for (off = 0; off < self->len; off += 4096)
		self->p[off] = (unsigned char)(off >> 12) ^ 0x5a;
	free0 = bp_meminfo_kib("MemFree");
	ASSERT_EQ(0, madvise(self->p, self->len, MADV_DONTNEED));
	free1 = bp_meminfo_kib("MemFree");
	/*
	 * Frees nothing: the pool's memory is not the process's.  Had it
	 * freed the pages, MemFree would have grown by all of them; the
	 * rest of the system frees memory meanwhile too (3 MiB once on a
	 * debug kernel, between these two reads), so the bound is half the
	 * mapping, and the data read back below is the proof.
	 */
	EXPECT_GT(free0 + (long long)(self->len >> 11), free1);
	EXPECT_EQ(0, bp_smaps_kib(self->p, "Rss"));
	pmd0 = bp_stat("pmd_faults");
	for (off = 0; off < self->len; off += 4096)
		ASSERT_EQ((unsigned char)(off >> 12) ^ 0x5a, self->p[off]);
	EXPECT_EQ(pmd0 + (long long)self->chunks, bp_stat("pmd_faults"));
}

/* mlock is accepted and changes nothing: the pages are pinned already. */
TEST_F(map, mlock_accepted)
{
	ASSERT_NE(MAP_FAILED, map_bufs(self, MAP_POPULATE));
	EXPECT_EQ(0, mlock(self->p, self->len));
	self->p[0] = 1;
	EXPECT_EQ(0, bp_smaps_kib(self->p, "Locked"));
	EXPECT_EQ(0, munlock(self->p, self->len));
}

/* mremap may shrink or move a mapping (the data follows), never grow it. */
TEST_F(map, mremap_moves_not_grows)
{
	unsigned char *dst, *q;

	ASSERT_NE(MAP_FAILED, map_bufs(self, MAP_POPULATE));
	self->p[42] = 42;
	EXPECT_EQ(MAP_FAILED, mremap(self->p, self->len, self->len + SZ_2M,
				     MREMAP_MAYMOVE));
	dst = mmap(NULL, self->len + SZ_2M, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, dst);
	dst = (unsigned char *)(((uintptr_t)dst + SZ_2M - 1) & ~(SZ_2M - 1));
	q = mremap(self->p, self->len, self->len, MREMAP_MAYMOVE | MREMAP_FIXED,
		   dst);
	ASSERT_EQ(dst, q);
	self->p = q;
	EXPECT_EQ(42, q[42]);
	q[43] = 43;
	q = mremap(self->p, self->len, self->len / 2, 0);
	ASSERT_EQ(self->p, q);
	self->len /= 2;
	EXPECT_EQ(43, q[43]);
}

/*
 * Automatic NUMA balancing samples accesses by unmapping entries; each
 * sample is a fault on the next access.  The pool's mapping must be left
 * alone.  Control: first an anonymous region alone, which does take
 * hinting faults, then the pool alone, which must take none.  Scanning
 * is paced by CPU time, so both phases keep the CPU busy.
 */
static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -1;
	ret = write(fd, val, strlen(val)) == (ssize_t)strlen(val) ? 0 : -1;
	close(fd);
	return ret;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Keep touching [p, p + len) for secs seconds; the faults it took. */
static long busy_touch(unsigned char *p, size_t len, double secs)
{
	long flt0 = bp_minflt();
	double end = now_s() + secs;
	unsigned char v = 0;

	while (now_s() < end)
		touch(p, len, v++);
	return bp_minflt() - flt0;
}

/* mempolicy, without libnuma */
#define BP_MPOL_PREFERRED	1
#define BP_MPOL_BIND		2
#define BP_MPOL_F_NUMA_BALANCING (1 << 13)

/* The first CPU of a node, from sysfs; -1 if none. */
static int node_first_cpu(int node)
{
	char path[96], buf[64];

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist",
		 node);
	if (bp_read_file(path, buf, sizeof(buf)) <= 0 || buf[0] < '0' ||
	    buf[0] > '9')
		return -1;
	return atoi(buf);
}

TEST_F_TIMEOUT(map, no_numa_balancing_faults, 120)
{
	const char *knob = "/proc/sys/kernel/numa_balancing";
	const char *dbg = "/sys/kernel/debug/sched/numa_balancing/";
	char old[16] = "0", path[256];
	size_t anon_len = 16UL << 20;
	int pool_node = -1, here, cpu;
	unsigned long here_mask, pool_mask;
	long anon_flt, pool_flt;
	unsigned char *anon;
	void *page;
	cpu_set_t set;

	if (access("/sys/devices/system/node/node1", F_OK))
		SKIP(return, "needs two NUMA nodes");
	if (bp_read_file(knob, old, sizeof(old)) < 0)
		SKIP(return, "no %s", knob);
	ASSERT_NE(MAP_FAILED, map_bufs(self, MAP_POPULATE));
	page = self->p;
	ASSERT_EQ(0, syscall(SYS_move_pages, 0, 1, &page, NULL, &pool_node, 0));
	ASSERT_LE(0, pool_node);
	here = !pool_node;
	cpu = node_first_cpu(here);
	if (cpu < 0)
		SKIP(return, "node %d has no CPU", here);
	here_mask = 1UL << here;
	pool_mask = 1UL << pool_node;

	/*
	 * Only the two regions under test may take hinting faults, and
	 * both must be remote: run on the other node than the pool's memory,
	 * with a task policy that lacks MPOL_F_MOF (so the stack, heap and
	 * text are never scanned); bind the control region and the pool's
	 * mapping to the pool's node with MPOL_F_NUMA_BALANCING.  Then only
	 * the pool VMA's get_policy, which takes precedence over its VMA
	 * policy, can keep balancing away from the pool.
	 */
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(set), &set));
	ASSERT_EQ(0, syscall(SYS_set_mempolicy, BP_MPOL_PREFERRED, &here_mask,
			     sizeof(here_mask) * 8));
	anon = mmap(NULL, anon_len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, anon);
	ASSERT_EQ(0, syscall(SYS_mbind, anon, anon_len,
			     BP_MPOL_BIND | BP_MPOL_F_NUMA_BALANCING, &pool_mask,
			     sizeof(pool_mask) * 8, 0));
	ASSERT_EQ(0, syscall(SYS_mbind, self->p, self->len,
			     BP_MPOL_BIND | BP_MPOL_F_NUMA_BALANCING, &pool_mask,
			     sizeof(pool_mask) * 8, 0));
	touch(anon, anon_len, 1);

	mount("none", "/sys/kernel/debug", "debugfs", 0, NULL);
	snprintf(path, sizeof(path), "%sscan_delay_ms", dbg);
	write_file(path, "0");
	snprintf(path, sizeof(path), "%sscan_period_min_ms", dbg);
	write_file(path, "50");
	ASSERT_EQ(0, write_file(knob, "1"));

	anon_flt = busy_touch(anon, anon_len, 8);
	pool_flt = busy_touch(self->p, self->len, 8);
	write_file(knob, old);
	munmap(anon, anon_len);
	TH_LOG("hinting faults: anonymous control %ld, pool %ld (pool on node %d, running on %d)",
	       anon_flt, pool_flt, pool_node, here);
	if (anon_flt == 0)
		SKIP(return, "NUMA balancing never scanned this process");
	EXPECT_EQ(0, pool_flt);
}

int main(int argc, char **argv)
{
	if (access(BUFPOOL_DEV_PATH, F_OK)) {
		ksft_print_header();
		ksft_exit_skip("no " BUFPOOL_DEV_PATH ": load bufpool.ko first\n");
	}
	return test_harness_run(argc, argv);
}
