// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of libbufpool-user's entry points that need no pool:
 * what a program sees when there is no bufpool device.
 */
#include <errno.h>
#include <stdint.h>

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

TEST_HARNESS_MAIN
