/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the bufpool selftests.
 */
#ifndef BUFPOOL_SELFTEST_H
#define BUFPOOL_SELFTEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SZ_2M		(2UL << 20)
#define PARAM_DIR	"/sys/module/bufpool/parameters/"
#define STATS_DIR	"/sys/class/bufpool/bufpool/stats/"

/* Read a whole small file into buf; returns bytes read or -1. */
static inline ssize_t bp_read_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* The number in dir/name; -1 with errno when unreadable. */
static inline long long bp_read_number(const char *dir, const char *name)
{
	char path[256], buf[64];

	snprintf(path, sizeof(path), "%s%s", dir, name);
	if (bp_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	return strtoll(buf, NULL, 0);
}

/* A module parameter as a number; -1 with errno when unreadable. */
static inline long long bp_param(const char *name)
{
	return bp_read_number(PARAM_DIR, name);
}

/* A pool statistic (pmd_faults, pte_faults, ...); -1 when unreadable. */
static inline long long bp_stat(const char *name)
{
	return bp_read_number(STATS_DIR, name);
}

/* Minor faults this process has taken so far. */
static inline long bp_minflt(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return -1;
	return ru.ru_minflt;
}

/*
 * A field ("FilePmdMapped", "Rss", ...) of the /proc/self/smaps entry of
 * the mapping that starts at addr, in KiB; -1 if there is none.
 */
static inline long long bp_smaps_kib(const void *addr, const char *field)
{
	char line[512], want[32];
	size_t flen = strlen(field);
	long long kib = -1;
	int in = 0;
	FILE *f;

	f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -1;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)addr);
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' ') &&
		    line[0] != ' ')
			in = !strncmp(line, want, strlen(want));
		else if (in && !strncmp(line, field, flen) && line[flen] == ':') {
			kib = strtoll(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kib;
}

/* A field of /proc/meminfo, in KiB, or -1. */
static inline long long bp_meminfo_kib(const char *field)
{
	char buf[8192], *p;
	size_t flen = strlen(field);

	if (bp_read_file("/proc/meminfo", buf, sizeof(buf)) < 0)
		return -1;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, field, flen) && p[flen] == ':')
			return strtoll(p + flen + 1, NULL, 10);
	return -1;
}

static inline int bp_finit_module(const char *path, const char *params)
{
	int fd, ret, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ret = syscall(SYS_finit_module, fd, params, 0);
	saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

static inline int bp_delete_module(void)
{
	return syscall(SYS_delete_module, "bufpool", O_NONBLOCK);
}

static inline int bp_module_loaded(void)
{
	return access("/sys/module/bufpool", F_OK) == 0;
}

/*
 * In a fixture setup: skip unless this can load modules and knows which
 * (self->ko from $BUFPOOL_MODULE).
 */
#define BP_REQUIRE_MODULE(self) do {					\
	if (geteuid() != 0)						\
		SKIP(return, "loading modules needs root");		\
	(self)->ko = getenv("BUFPOOL_MODULE");				\
	if (!(self)->ko || access((self)->ko, R_OK))			\
		SKIP(return, "set BUFPOOL_MODULE to the path of bufpool.ko"); \
} while (0)

/*
 * The 6.1 harness runs a test's body, and its teardown, even when the
 * fixture's setup SKIPped.  Fixtures that load and unload the module set
 * self->ready at the end of setup; bodies and teardowns start with this.
 */
#define BP_NEED_READY(self) do { if (!(self)->ready) return; } while (0)

/*
 * Unload the module, if loaded, remembering its parameters in saved so
 * that bp_module_restore() can load it again as it was.
 * Returns 1 if it was loaded, 0 if not, -1 if it would not unload.
 */
static inline int bp_module_save_unload(char *saved, size_t len)
{
	if (!bp_module_loaded())
		return 0;
	char pools[512] = "";

	if (bp_read_file(PARAM_DIR "pools", pools, sizeof(pools)) > 0)
		pools[strcspn(pools, "\n")] = '\0';
	if (!strcmp(pools, "(null)"))
		pools[0] = '\0';
	snprintf(saved, len,
		 "buf_size=%lld buf_count=%lld numa_node=%lld mode=%lld caches=%lld uid=%lld gid=%lld%s%s",
		 bp_param("buf_size"), bp_param("buf_count"),
		 bp_param("numa_node"), bp_param("mode"), bp_param("caches"),
		 bp_param("uid"), bp_param("gid"), pools[0] ? " pools=" : "",
		 pools);
	return bp_delete_module() ? -1 : 1;
}

/* Undo a test's loads; reload as saved. Returns 0 or -1. */
static inline int bp_module_restore(const char *ko, int was_loaded,
				    const char *saved)
{
	if (bp_module_loaded() && bp_delete_module())
		return -1;
	if (was_loaded && bp_finit_module(ko, saved))
		return -1;
	return 0;
}

/*
 * A raw client of a pool, for the tests that speak the ABI without the
 * library: an open file of path, attached (its records are reconciled,
 * not deferred), and its mapping of the control area with prot.
 * bp_raw_open: 0, or -1 (bp_raw_close it all the same).
 */
struct bp_raw_client {
	int fd;
	__u32 id;
	struct bufpool_info info;
	char *ctrl;
};

static inline int bp_raw_open(struct bp_raw_client *c, const char *path,
			      int prot)
{
	__u32 abi = BUFPOOL_ABI_VERSION;
	int id;

	c->ctrl = MAP_FAILED;
	c->fd = open(path, O_RDWR | O_CLOEXEC);
	if (c->fd < 0)
		return -1;
	id = ioctl(c->fd, BUFPOOL_IOC_ATTACH, &abi);
	memset(&c->info, 0, sizeof(c->info));
	if (id <= 0 || ioctl(c->fd, BUFPOOL_IOC_INFO, &c->info))
		return -1;
	c->id = id;
	c->ctrl = mmap(NULL, c->info.ctrl_size, prot, MAP_SHARED, c->fd,
		       (off_t)c->info.ctrl_offset);
	return c->ctrl == MAP_FAILED ? -1 : 0;
}

static inline void bp_raw_close(struct bp_raw_client *c)
{
	if (c->ctrl != MAP_FAILED)
		munmap(c->ctrl, c->info.ctrl_size);
	c->ctrl = MAP_FAILED;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

#endif /* BUFPOOL_SELFTEST_H */
