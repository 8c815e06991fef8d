// SPDX-License-Identifier: GPL-2.0
/*
 * A bounded fuzzer of everything a process can do to bufpool.ko: random
 * ioctls (numbers, directions, sizes, pointers good and bad), random
 * mmaps (offsets, lengths, protections, flags) followed by random
 * munmap/mprotect/mremap/madvise/touches, random bytes written over the
 * shared control area, library calls on whatever the pool has become,
 * sysfs reads, forks; while a driver SIGKILLs random workers and
 * starts new ones.  The kernel must survive with a clean log (the VM
 * runner checks; under the debug kernel, KASAN, lockdep and kmemleak
 * watch), and the device must still answer afterwards.
 *
 * It corrupts the pool on purpose, so it runs last in the suite; the
 * runner's rmmod (and the next load) start afresh.
 * BUFPOOL_FUZZ_SECS: how long (default 20), BUFPOOL_FUZZ_SEED: the seed.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include <bufpool.h>
#include <kselftest_harness.h>

#include "bufpool_selftest.h"

#define WORKERS		4
#define MAX_FDS		4
#define MAX_MAPS	8
#define FUZZ_GUARD	(32u << 10)	/* > the largest ioctl size below */

static uint64_t rng;
static sigjmp_buf recover;

/* A worker touching what it just unmapped or protected carries on. */
static void on_fault(int sig)
{
	(void)sig;
	siglongjmp(recover, 1);
}

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t pick(const uint64_t *v, int n)
{
	return v[rnd() % n];
}

struct map {
	unsigned char *p;
	size_t len;
};

/* A pointer argument: good, short, read-only, unmapped or kernel. */
static void *fuzz_ptr(void *good, void *ro)
{
	static const uintptr_t bad[] = {
		0, 1, 4095, 0xffffffff81000000ull, (uintptr_t)-1,
		(uintptr_t)-4096, 0x7ffffffff000ull,
	};

	switch (rnd() % 4) {
	case 0:
		return good;
	case 1:
		return ro;
	case 2:
		return (char *)good + 4096 - (rnd() % 128);	/* runs off */
	default:
		return (void *)bad[rnd() % (sizeof(bad) / sizeof(bad[0]))];
	}
}

static void worker(unsigned int id)
{
	static const uint64_t lens[] = {
		0, 1, 4096, 8192, 1u << 20, 2u << 20, 4u << 20, 8u << 20,
		64u << 20, (uint64_t)1 << 40,
	};
	static const int advice[] = {
		MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED,
		MADV_DONTNEED, MADV_FREE, MADV_REMOVE, MADV_DONTFORK,
		MADV_DOFORK, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_DONTDUMP,
		MADV_DODUMP, MADV_COLD, MADV_PAGEOUT, MADV_POPULATE_READ,
		MADV_POPULATE_WRITE, MADV_HWPOISON + 1000,
	};
	/* Static: it lives across siglongjmp (each worker is a process). */
	static struct bufpool_info info;
	static int fds[MAX_FDS], nfd;
	static struct map maps[MAX_MAPS];
	static unsigned char *page, *ro;
	static struct bufpool *pool;
	static uint64_t offs[8];
	static char buf[256];
	static int i;

	rng = rng * 0x9e3779b97f4a7c15ull + id + 1;
	/*
	 * One writable page, then a guard no other mapping can take: the
	 * ioctls below pass sizes up to 16 KiB at pointers into the page,
	 * and must fault on the guard.  An unmapped hole would not do: a
	 * later mmap of this worker can land in it, and the kernel would
	 * then write through it into whatever lies beyond (the worker's
	 * TLS, its stack canary included).
	 */
	page = mmap(NULL, 4096 + FUZZ_GUARD, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mprotect(page, 4096, PROT_READ | PROT_WRITE);
	ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	signal(SIGSEGV, on_fault);
	signal(SIGBUS, on_fault);
	sigsetjmp(recover, 1);

	for (;;) {
		int fd = nfd ? fds[rnd() % nfd] : -1;
		struct map *m = &maps[rnd() % MAX_MAPS];

		switch (rnd() % 12) {
		case 0:		/* open or close */
			if (nfd < MAX_FDS && rnd() % 2) {
				fd = open(BUFPOOL_DEV_PATH, rnd() % 3 ?
					  O_RDWR : O_RDONLY);
				if (fd >= 0) {
					fds[nfd++] = fd;
					ioctl(fd, BUFPOOL_IOC_INFO, &info);
					/*
					 * Half attach: their garbage is then
					 * reconciled whenever a client goes.
					 */
					if (rnd() % 2)
						ioctl(fd, BUFPOOL_IOC_ATTACH,
						      &(__u32){ BUFPOOL_ABI_VERSION });
				}
			} else if (nfd) {
				i = rnd() % nfd;
				close(fds[i]);
				fds[i] = fds[--nfd];
			}
			break;
		case 1:		/* ioctl: any number, direction, size */
			ioctl(fd, _IOC(rnd() % 4, rnd() % 4 ? BUFPOOL_IOC_MAGIC :
				       rnd() % 256, rnd() % 8, rnd() % 16384),
			      fuzz_ptr(page, ro));
			break;
		case 2:		/* info, attach or audit: any size, any pointer */
			ioctl(fd, _IOC(rnd() % 3 ? _IOC_READ : _IOC_WRITE,
				       BUFPOOL_IOC_MAGIC, rnd() % 3,
				       rnd() % 512), fuzz_ptr(page, ro));
			/*
			 * Wait (any seq, any timeout: a worker that sleeps
			 * for ever is killed like any other) and wake.
			 */
			if (rnd() % 4 == 0) {
				struct bufpool_wait w = {
					.seq = (uint32_t)rnd(),
					.__pad = rnd() % 8 ? 0 : (uint32_t)rnd(),
					.timeout_ns = rnd() % 16 ? (int64_t)
						(rnd() % 20000000) : -1,
				};

				ioctl(fd, BUFPOOL_IOC_WAIT, rnd() % 4 ? &w :
				      fuzz_ptr(page, ro));
			} else if (rnd() % 4 == 0) {
				ioctl(fd, BUFPOOL_IOC_WAKE);
			}
			break;
		case 3:		/* mmap anything */
			offs[0] = 0;
			offs[1] = info.bufs_offset;
			offs[2] = info.bufs_offset + 4096;
			offs[3] = info.bufs_offset + info.bufs_size;
			offs[4] = info.ctrl_size;
			offs[5] = info.ctrl_size - 4096;
			offs[6] = (rnd() % 4096) * 4096;
			offs[7] = (uint64_t)1 << 46;
			if (m->p)
				munmap(m->p, m->len);
			m->len = pick(lens, sizeof(lens) / sizeof(lens[0]));
			m->p = mmap(NULL, m->len, (int)(rnd() % 8),
				    rnd() % 4 ? MAP_SHARED : MAP_PRIVATE |
				    (rnd() % 4 ? 0 : MAP_POPULATE),
				    fd, (off_t)pick(offs, 8));
			if (m->p == MAP_FAILED)
				m->p = NULL;
			break;
		case 4:		/* do something to a mapping */
			if (!m->p || !m->len)
				break;
			switch (rnd() % 6) {
			case 0: {
				/*
				 * Punch a hole inside the mapping only: past
				 * its end lie this worker's other mappings
				 * (its TLS and stack canary among them).
				 */
				uint64_t pages = (m->len + 4095) / 4096;
				uint64_t at = rnd() % pages;
				uint64_t n = 1 + rnd() % 4;

				if (n > pages - at)
					n = pages - at;
				munmap(m->p + at * 4096, n * 4096);
				break;
			}
			case 1:
				mprotect(m->p, m->len, (int)(rnd() % 8));
				break;
			case 2: {
				uint64_t len = pick(lens, 8);
				void *q = mremap(m->p, m->len, len,
						 MREMAP_MAYMOVE);

				/*
				 * Keep the length true: scribbling past a
				 * shrunk mapping would hit whatever lies
				 * beyond, this worker's own stack included.
				 */
				if (q != MAP_FAILED) {
					m->p = q;
					m->len = len;
				}
				break;
			}
			case 3:
				madvise(m->p, m->len, advice[rnd() %
					(sizeof(advice) / sizeof(advice[0]))]);
				break;
			default:
				mlock(m->p, m->len);
				munlock(m->p, m->len);
				break;
			}
			break;
		case 5:		/* scribble over a mapping, maybe the control area */
			if (m->p && m->len) {
				/* May fault: the handler brings us back. */
				for (i = 0; i < 64; i++)
					m->p[rnd() % m->len] = (unsigned char)rnd();
			}
			break;
		case 6:		/* the library, on whatever the pool has become */
			if (!pool)
				pool = bufpool_open(BUFPOOL_DEV_PATH);
			if (pool) {
				void *bufs[8];
				unsigned int got = bufpool_acquire_bulk(pool, bufs, 8);

				bufpool_release_bulk(pool, bufs, got);
				bufpool_release_index(pool, (uint32_t)rnd());
				if (rnd() % 8 == 0) {
					bufpool_close(pool);
					pool = NULL;
				}
			}
			break;
		case 7:		/* sysfs */
			bp_read_file(STATS_DIR "pmd_faults", buf, sizeof(buf));
			bp_read_file(STATS_DIR "pte_faults", buf, sizeof(buf));
			bp_read_file(PARAM_DIR "buf_count", buf, sizeof(buf));
			break;
		case 8:		/* a short-lived child that inherits it all */
			if (rnd() % 8 == 0 && fork() == 0) {
				/* A fault ends the child; it must not become a worker. */
				signal(SIGSEGV, SIG_DFL);
				signal(SIGBUS, SIG_DFL);
				for (i = 0; i < MAX_MAPS; i++)
					if (maps[i].p && maps[i].len)
						maps[i].p[0] ^= 1;
				_exit(0);
			}
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			break;
		default:	/* the plain path, as a client would */
			if (fd >= 0) {
				void *p = mmap(NULL, info.bufs_size,
					       PROT_READ | PROT_WRITE,
					       MAP_SHARED, fd, info.bufs_offset);

				if (p != MAP_FAILED) {
					memset(p, (int)rnd(), 4096);
					munmap(p, info.bufs_size);
				}
			}
			break;
		}
	}
}

static pid_t spawn(unsigned int id)
{
	pid_t pid = fork();

	if (pid == 0) {
		worker(id);
		_exit(0);
	}
	return pid;
}

/* 6.1's harness has timeouts for fixture tests only. */
FIXTURE(fuzz) {
	int unused;
};

FIXTURE_SETUP(fuzz)
{
}

FIXTURE_TEARDOWN(fuzz)
{
}

TEST_F_TIMEOUT(fuzz, with_kills, 600)
{
	const char *env = getenv("BUFPOOL_FUZZ_SECS");
	int secs = env ? atoi(env) : 20, i, status, fd;
	unsigned long kills = 0, crashes = 0;
	struct bufpool_audit audit;
	struct bufpool_info info;
	pid_t pids[WORKERS];
	time_t end;

	env = getenv("BUFPOOL_FUZZ_SEED");
	rng = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) | 1;
	TH_LOG("seed %llu, %d s, %d workers", (unsigned long long)rng, secs,
	       WORKERS);
	for (i = 0; i < WORKERS; i++)
		pids[i] = spawn(i);
	end = time(NULL) + secs;
	while (time(NULL) < end) {
		usleep(20000 + rnd() % 200000);
		i = rnd() % WORKERS;
		kill(pids[i], SIGKILL);
		waitpid(pids[i], &status, 0);
		kills++;
		pids[i] = spawn(kills + WORKERS);
		/* Reap workers that ended by themselves (a fault they caused). */
		for (i = 0; i < WORKERS; i++) {
			if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				crashes++;
				pids[i] = spawn(kills + WORKERS + crashes);
			}
		}
	}
	for (i = 0; i < WORKERS; i++) {
		kill(pids[i], SIGKILL);
		waitpid(pids[i], &status, 0);
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	TH_LOG("%lu kills, %lu workers ended by their own faults", kills, crashes);

	/* The device still answers. */
	fd = open(BUFPOOL_DEV_PATH, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, BUFPOOL_IOC_INFO, &info));
	EXPECT_EQ(bp_param("buf_count"), info.buf_count);
	/*
	 * And adds up: whatever was written and whoever died, a reconciled
	 * pool is free + cached + held + transit.  (EBUSY: a straggler that
	 * mapped without attaching is still exiting.)
	 */
	ASSERT_EQ(0, ioctl(fd, BUFPOOL_IOC_ATTACH,
			   &(__u32){ BUFPOOL_ABI_VERSION }) <= 0);
	memset(&audit, 0, sizeof(audit));
	if (ioctl(fd, BUFPOOL_IOC_AUDIT, &audit) == 0) {
		EXPECT_EQ(audit.buf_count, audit.free + audit.cached +
			  audit.held + audit.transit);
		TH_LOG("after: %u free, %u cached, %u held, %u in transit; %lld reclaimed, %lld repaired in all",
		       audit.free, audit.cached, audit.held, audit.transit,
		       bp_stat("reclaimed"), bp_stat("repaired"));
	} else {
		EXPECT_EQ(EBUSY, errno);
	}
	close(fd);
}

int main(int argc, char **argv)
{
	if (access(BUFPOOL_DEV_PATH, F_OK)) {
		ksft_print_header();
		ksft_exit_skip("no " BUFPOOL_DEV_PATH ": load bufpool.ko first\n");
	}
	return test_harness_run(argc, argv);
}
