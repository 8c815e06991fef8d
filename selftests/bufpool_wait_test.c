// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool selftests of timed waits (bufpool_acquire_timeout): a sleeper
 * on an empty pool is woken by another process's release and gets the
 * buffer; with nobody releasing, it times out.  They run on whatever
 * bufpool_open(NULL) gives: the module's pool in the VM (the sleep is
 * the module's BUFPOOL_IOC_WAIT), a module-free memfd pool on a host
 * without the module (a futex).
 */
#include <errno.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bufpool.h>
#include <kselftest_harness.h>

#include "bufpool_pool_helpers.h"

FIXTURE(wait) {
	struct bufpool *pool;
	struct bufpool_info info;
	void **held;
};

FIXTURE_SETUP(wait)
{
	ASSERT_EQ(0, bp_pool_open(&self->pool, &self->info, &self->held));
}

FIXTURE_TEARDOWN(wait)
{
	bp_pool_close(self->pool, self->held);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Blocking acquire across processes: with the pool empty, a process
 * sleeps in bufpool_acquire_timeout until another releases a buffer,
 * and gets it; with nobody releasing, it times out.
 */
TEST_F(wait, blocking_acquire_across_processes)
{
	struct bufpool_stats st;
	uint32_t got, i;
	int dup, status;
	pid_t pid;

	got = bp_take_all(self->pool, self->held, &dup);
	ASSERT_EQ(self->info.buf_count, got);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct bufpool *other = bufpool_open_fd(bufpool_fd(self->pool));
		int64_t t0;
		void *b;

		if (!other)
			_exit(1);
		t0 = mono_ns();
		b = bufpool_acquire_timeout(other, 10000000000ll);
		if (!b)
			_exit(2);
		if (mono_ns() - t0 < 50000000)
			_exit(3);		/* it did not sleep */
		t0 = mono_ns();
		errno = 0;
		if (bufpool_acquire_timeout(other, 200000000) ||
		    errno != ETIMEDOUT)
			_exit(4);
		if (mono_ns() - t0 < 190000000)
			_exit(5);
		if (bufpool_release(other, b))
			_exit(6);
		bufpool_close(other);
		_exit(0);
	}
	/* Once it sleeps, give one buffer back. */
	for (i = 0; i < 10000; i++) {
		ASSERT_EQ(0, bufpool_stats(self->pool, &st));
		if (st.waiters)
			break;
		usleep(1000);
	}
	EXPECT_EQ(1, st.waiters);
	usleep(100000);
	EXPECT_EQ(0, bufpool_release(self->pool, self->held[got - 1]));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WIFEXITED(status) ? WEXITSTATUS(status) : 128);
	ASSERT_EQ(0, bufpool_stats(self->pool, &st));
	EXPECT_EQ(0, st.waiters);
	bp_give_back(self->pool, self->held, got - 1);
}

TEST_HARNESS_MAIN
