// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool selftests of debug mode (BUFPOOL_DEBUG=1 when a pool is
 * opened): released buffers wait in a quarantine, so that a release
 * through a stale pointer is caught.  They run on whatever
 * bufpool_open(NULL) gives: the module's pool in the VM, a module-free
 * memfd pool on a host without the module.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <bufpool.h>
#include <kselftest_harness.h>

#include "bufpool_pool_helpers.h"

FIXTURE(debug) {
	struct bufpool *pool;
	struct bufpool_info info;
	void **held;
};

FIXTURE_SETUP(debug)
{
	ASSERT_EQ(0, bp_pool_open(&self->pool, &self->info, &self->held));
}

FIXTURE_TEARDOWN(debug)
{
	bp_pool_close(self->pool, self->held);
}

/*
 * A release through a stale pointer, after the same handle got the
 * buffer back: LIFO reuse makes it pass the ownership check in normal
 * mode; debug mode's quarantine catches it.
 */
TEST_F(debug, debug_mode_catches_double_release)
{
	struct bufpool *dbg;
	void *x, *y;
	int i;

	x = bufpool_acquire(self->pool);
	ASSERT_NE(NULL, x);
	ASSERT_EQ(0, bufpool_release(self->pool, x));
	y = bufpool_acquire(self->pool);
	ASSERT_EQ(x, y);		/* LIFO: the same buffer */
	EXPECT_EQ(0, bufpool_release(self->pool, x));	/* missed */
	EXPECT_EQ(-1, bufpool_release(self->pool, y));	/* too late */

	ASSERT_EQ(0, setenv("BUFPOOL_DEBUG", "1", 1));
	dbg = bufpool_open_fd(bufpool_fd(self->pool));
	unsetenv("BUFPOOL_DEBUG");
	ASSERT_NE(NULL, dbg);
	x = bufpool_acquire(dbg);
	ASSERT_NE(NULL, x);
	ASSERT_EQ(0, bufpool_release(dbg, x));
	y = bufpool_acquire(dbg);
	ASSERT_NE(NULL, y);
	EXPECT_NE(x, y);		/* x waits in quarantine */
	errno = 0;
	EXPECT_EQ(-1, bufpool_release(dbg, x));		/* caught */
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, bufpool_handoff(dbg, bufpool_index(dbg, x)));
	EXPECT_EQ(0, bufpool_release(dbg, y));
	/* Enough releases push x out of quarantine: it is free again. */
	for (i = 0; i < (int)self->info.buf_count; i++) {
		y = bufpool_acquire(dbg);
		ASSERT_NE(NULL, y);
		ASSERT_EQ(0, bufpool_release(dbg, y));
	}
	EXPECT_EQ(-1, bufpool_release(dbg, x));		/* free: still no */
	bufpool_close(dbg);		/* gives the quarantine back */

	/* Nothing lost, nothing twice. */
	{
		int dup;
		uint32_t got = bp_take_all(self->pool, self->held, &dup);

		EXPECT_FALSE(dup);
		EXPECT_EQ(self->info.buf_count, got);
		bp_give_back(self->pool, self->held, got);
	}
}

TEST_HARNESS_MAIN
