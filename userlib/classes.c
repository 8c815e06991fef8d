// SPDX-License-Identifier: MIT
/*
 * libbufpool-user: size classes, a set of pools of different buffer
 * sizes, one per class (/dev/bufpool-cSIZE, as bufpool-sizes configures
 * them).  Built on the public API alone: a class is an ordinary pool,
 * with its own caches, ownership and statistics.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bufpool.h>

#define BP_MAX_CLASSES	16

/* A class: its pool, and what finding it by size or by address needs. */
struct bp_class {
	struct bufpool *pool;
	size_t buf_size;
	uintptr_t first;	/* the address of its buffer 0 */
	uint64_t span;		/* to the end of the last buffer */
};

struct bufpool_classes {
	unsigned int n;
	struct bp_class by_size[BP_MAX_CLASSES];	/* ascending */
};

static int bp_class_cmp(const void *a, const void *b)
{
	const struct bp_class *x = a, *y = b;

	return (x->buf_size > y->buf_size) - (x->buf_size < y->buf_size);
}

/* Every /dev/bufpool-cSIZE, into names[]; returns how many or -1. */
static int bp_class_nodes(char names[BP_MAX_CLASSES][64])
{
	struct dirent *e;
	unsigned int n = 0;
	DIR *d = opendir("/dev");
	const char *p;

	if (!d)
		return -1;
	while ((e = readdir(d)) && n < BP_MAX_CLASSES) {
		if (strncmp(e->d_name, "bufpool-c", 9) || !e->d_name[9])
			continue;
		for (p = e->d_name + 9; *p >= '0' && *p <= '9'; p++)
			;
		if (*p || strlen(e->d_name) > 48)
			continue;
		snprintf(names[n++], 64, "/dev/%s", e->d_name);
	}
	closedir(d);
	return (int)n;
}

void bufpool_classes_close(struct bufpool_classes *set)
{
	unsigned int i;

	if (!set)
		return;
	for (i = 0; i < set->n; i++)
		bufpool_close(set->by_size[i].pool);
	free(set);
}

struct bufpool_classes *bufpool_classes_open(const char *const *paths,
					     unsigned int n)
{
	char found[BP_MAX_CLASSES][64];
	struct bufpool_classes *set;
	struct bp_class *c;
	unsigned int i;
	int saved, k;

	if (!paths) {
		k = bp_class_nodes(found);
		if (k < 0)
			return NULL;
		n = (unsigned int)k;
	}
	if (n == 0 || n > BP_MAX_CLASSES) {
		errno = n ? EINVAL : ENOENT;
		return NULL;
	}
	set = calloc(1, sizeof(*set));
	if (!set)
		return NULL;
	for (i = 0; i < n; i++) {
		c = &set->by_size[i];
		c->pool = bufpool_open(paths ? paths[i] : found[i]);
		if (!c->pool)
			goto fail;
		set->n++;
		c->buf_size = bufpool_buf_size(c->pool);
		c->first = (uintptr_t)bufpool_addr(c->pool, 0);
		/* To the last buffer's end (1.8: a spread pool's stride). */
		c->span = (uintptr_t)bufpool_addr(c->pool,
				bufpool_buf_count(c->pool) - 1) +
			  c->buf_size - c->first;
	}
	qsort(set->by_size, set->n, sizeof(set->by_size[0]), bp_class_cmp);
	for (i = 1; i < set->n; i++)
		if (set->by_size[i].buf_size == set->by_size[i - 1].buf_size) {
			errno = EINVAL;
			goto fail;
		}
	return set;

fail:
	saved = errno;
	bufpool_classes_close(set);
	errno = saved;
	return NULL;
}

void *bufpool_classes_acquire(struct bufpool_classes *set, size_t size)
{
	unsigned int i;
	void *buf;

	if (!set) {
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < set->n; i++) {
		if (set->by_size[i].buf_size < size)
			continue;
		/* The smallest that fits; a larger one when it is empty. */
		for (; i < set->n; i++) {
			buf = bufpool_acquire(set->by_size[i].pool);
			if (buf || errno != ENOBUFS)
				return buf;
		}
		errno = ENOBUFS;
		return NULL;
	}
	errno = EINVAL;
	return NULL;
}

int bufpool_classes_release(struct bufpool_classes *set, void *buf)
{
	unsigned int i;
	uint64_t off;

	if (!set) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < set->n; i++) {
		off = (uintptr_t)buf - set->by_size[i].first;
		if (off < set->by_size[i].span)
			return bufpool_release(set->by_size[i].pool, buf);
	}
	errno = EINVAL;
	return -1;
}

struct bufpool *bufpool_classes_pool(const struct bufpool_classes *set,
				     unsigned int i)
{
	if (!set || i >= set->n) {
		errno = EINVAL;
		return NULL;
	}
	return set->by_size[i].pool;
}
