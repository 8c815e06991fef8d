// SPDX-License-Identifier: MIT
/*
 * rseq_bench: would per-CPU caches, kept with the kernel's restartable
 * sequences (rseq, as tcmalloc and librseq use them), serve bufpool
 * better than its per-thread cache slots?  Issue 17 asked to measure
 * before choosing.  Three ways to keep a stack of 32-bit buffer indices,
 * each timed per pop+push pair (an acquire and its release):
 *
 *   percpu-rseq   one stack per CPU in shared memory (MAP_SHARED, as a
 *                 pool's control area is), each pop and each push an
 *                 rseq critical section: read the CPU number the kernel
 *                 keeps in the thread's struct rseq, read the stack's
 *                 count, load or store the slot, and commit with one
 *                 plain store of the count; preemption, migration or a
 *                 signal inside the section sends the thread to the
 *                 abort handler, which retries (counted: aborts)
 *   thread-mag    a thread-local magazine, plain loads and stores: what
 *                 bufpool's fast path does with a thread's cache
 *   treiber-cas   a tagged Treiber stack in shared memory, one CAS to
 *                 pop and one to push: what the shared path does
 *
 * at 1 and 2 threads (pinned one per core) and 64 threads (unpinned, on
 * the 2 cores).  Figures: ns per pair over batches of 1000 (p50, p99 of
 * the batches of all threads), Mpairs/s over the cell's wall time,
 * rseq aborts (and per million pairs), and misses: a pop that found its
 * CPU's stack empty because a thread migrated between a pop and its push
 * and left an index on another CPU's stack.  After each cell the
 * indices are counted: none may be lost or doubled (exit 1 otherwise).
 *
 * The sections are this file's own code, after the kernel's
 * include/uapi/linux/rseq.h: struct rseq_cs descriptors in section
 * __rseq_cs, the abort handler preceded by the signature glibc
 * registered (RSEQ_SIG).  glibc 2.35+ registers rseq for every thread
 * (__rseq_offset, __rseq_size); when it did not (__rseq_size 0, e.g.
 * GLIBC_TUNABLES=glibc.pthread.rseq=0, or a kernel without rseq) the
 * rseq cells are skipped and the bench says so.  x86-64 only.
 *
 * usage: rseq_bench [--quick] [--secs S]
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "bench_common.h"

#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#define HAVE_RSEQ 1
#endif
#endif

#define BATCH		1000
#define MAX_THREADS	64
#define MAX_BATCHES	(1 << 16)	/* per thread */

static double secs = 0.25;
static _Atomic int stop;

static void nap(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % 2, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* A barrier the compiler may not move loads or stores across. */
#define BARRIER(v)	__asm__ __volatile__("" : : "r"(v) : "memory")

/* ------------------------------------------------------------------ */
/* percpu-rseq                                                        */

/* One CPU's stack: its count, then the slots; 4 KiB, a CPU apart. */
#define PCPU_SHIFT	12
#define PCPU_CAP	((1u << PCPU_SHIFT) / 4 - 16)
struct pcpu {
	uint32_t n;
	uint32_t pad[15];
	uint32_t item[PCPU_CAP];
};

_Static_assert(sizeof(struct pcpu) == 1u << PCPU_SHIFT, "a CPU's stack");
_Static_assert(__builtin_offsetof(struct pcpu, item) == 64, "slots at 64");

static struct pcpu *pcpu;	/* MAP_SHARED, ncpus of them */
static long ncpus;

#ifdef HAVE_RSEQ
static int rseq_ok;

/*
 * The critical section's descriptor (struct rseq_cs: version, flags,
 * start_ip, post_commit_offset, abort_ip) and the abort handler, which
 * the kernel requires to follow the 4-byte signature (here inside an
 * ud1 instruction's encoding, as on x86 librseq and glibc place it).
 * Labels: 1 start, 2 the end of the commit, 3 the descriptor, 4 abort.
 * %[off] is __rseq_offset: the thread's struct rseq is at %fs:off
 * (cpu_id at +4, rseq_cs at +8).
 */
#define RSEQ_STR_(x)	#x
#define RSEQ_STR(x)	RSEQ_STR_(x)
#define RSEQ_ENTER							\
	".pushsection __rseq_cs, \"aw\"\n\t"				\
	".balign 32\n\t"						\
	"3:\n\t"							\
	".long 0, 0\n\t"						\
	".quad 1f, (2f - 1f), 4f\n\t"					\
	".popsection\n\t"						\
	"leaq 3b(%%rip), %%rax\n\t"					\
	"movq %%rax, %%fs:8(%[off])\n\t"				\
	"1:\n\t"							\
	"movl %%fs:4(%[off]), %%eax\n\t"				\
	"shlq $" RSEQ_STR(PCPU_SHIFT) ", %%rax\n\t"			\
	"addq %[base], %%rax\n\t"					\
	"movl (%%rax), %%ecx\n\t"
#define RSEQ_LEAVE							\
	"2:\n\t"							\
	"xorl %[ret], %[ret]\n\t"					\
	"jmp 6f\n\t"							\
	"5:\n\t"							\
	"movl $1, %[ret]\n\t"						\
	"jmp 6f\n\t"							\
	".pushsection __rseq_failure, \"ax\"\n\t"			\
	".byte 0x0f, 0xb9, 0x3d\n\t"					\
	".long " RSEQ_STR(RSEQ_SIG) "\n\t"				\
	"4:\n\t"							\
	"movl $-1, %[ret]\n\t"						\
	"jmp 6f\n\t"							\
	".popsection\n\t"						\
	"6:\n\t"

/* 0: popped into *out; 1: this CPU's stack is empty; -1: aborted. */
static inline int pcpu_pop(uint32_t *out)
{
	uint32_t v;
	int ret;

	__asm__ __volatile__(
		RSEQ_ENTER
		"testl %%ecx, %%ecx\n\t"
		"jz 5f\n\t"
		"decl %%ecx\n\t"
		"movl 64(%%rax, %%rcx, 4), %[v]\n\t"
		"movl %%ecx, (%%rax)\n\t"	/* commit */
		RSEQ_LEAVE
		: [ret] "=&r" (ret), [v] "=&r" (v)
		: [off] "r" (__rseq_offset), [base] "r" (pcpu)
		: "rax", "rcx", "memory", "cc");
	*out = v;
	return ret;
}

/* 0: pushed; 1: this CPU's stack is full; -1: aborted. */
static inline int pcpu_push(uint32_t v)
{
	int ret;

	__asm__ __volatile__(
		RSEQ_ENTER
		"cmpl $" RSEQ_STR(PCPU_CAP) ", %%ecx\n\t"
		"jae 5f\n\t"
		"movl %[v], 64(%%rax, %%rcx, 4)\n\t"
		"incl %%ecx\n\t"
		"movl %%ecx, (%%rax)\n\t"	/* commit */
		RSEQ_LEAVE
		: [ret] "=&r" (ret)
		: [off] "r" (__rseq_offset), [base] "r" (pcpu), [v] "r" (v)
		: "rax", "rcx", "memory", "cc");
	return ret;
}

static int rseq_cpu(void)
{
	const struct rseq *rs = (const struct rseq *)
		((char *)__builtin_thread_pointer() + __rseq_offset);

	return (int)(int32_t)__atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);
}
#endif

/* ------------------------------------------------------------------ */
/* thread-mag and treiber-cas                                         */

#define MAG_CAP		512
struct mag {
	uint32_t n;
	uint32_t item[MAG_CAP];
};

static _Thread_local struct mag mag;

#define TS_COUNT	1024
struct treiber {
	_Alignas(64) _Atomic uint64_t head;	/* {tag:32, idx:32} */
	_Alignas(64) uint32_t next[TS_COUNT];
};

static struct treiber *ts;	/* MAP_SHARED */

#define TS_NIL		UINT32_MAX

static inline uint32_t ts_pop(void)
{
	uint64_t old = atomic_load_explicit(&ts->head, memory_order_acquire);
	uint32_t idx;

	do {
		idx = (uint32_t)old;
		if (idx == TS_NIL)
			return TS_NIL;
	} while (!atomic_compare_exchange_weak_explicit(&ts->head, &old,
			((old >> 32) + 1) << 32 |
			__atomic_load_n(&ts->next[idx], __ATOMIC_RELAXED),
			memory_order_acq_rel, memory_order_acquire));
	return idx;
}

static inline void ts_push(uint32_t idx)
{
	uint64_t old = atomic_load_explicit(&ts->head, memory_order_relaxed);

	do {
		__atomic_store_n(&ts->next[idx], (uint32_t)old,
				 __ATOMIC_RELAXED);
	} while (!atomic_compare_exchange_weak_explicit(&ts->head, &old,
			((old >> 32) + 1) << 32 | idx,
			memory_order_release, memory_order_relaxed));
}

/* ------------------------------------------------------------------ */
/* Cells                                                              */

enum method { M_RSEQ, M_MAG, M_CAS, NMETHODS };
static const char *const method_name[] = {
	"percpu-rseq", "thread-mag", "treiber-cas",
};

struct worker {
	pthread_t t;
	int id, threads;
	enum method m;
	pthread_barrier_t *start;
	double *ns;		/* per batch */
	long n, pairs, aborts, misses;
	uint64_t t0, t1;
};

static void *worker(void *arg)
{
	struct worker *w = arg;
	long aborts = 0, misses = 0, pairs = 0;
	uint32_t v = 0;
	int i, r;

	if (w->threads <= 2)
		pin(w->id);
	if (w->m == M_MAG) {
		for (i = 0; i < MAG_CAP / 2; i++)
			mag.item[i] = (uint32_t)i;
		mag.n = MAG_CAP / 2;
	}
	pthread_barrier_wait(w->start);
	w->t0 = now_ns();
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t t0 = now_ns();

		switch (w->m) {
#ifdef HAVE_RSEQ
		case M_RSEQ:
			for (i = 0; i < BATCH; i++) {
				while ((r = pcpu_pop(&v)) < 0)
					aborts++;
				if (r) {		/* empty here */
					misses++;
					continue;
				}
				BARRIER(v);
				while ((r = pcpu_push(v)) < 0)
					aborts++;
				if (r)			/* full: lost */
					misses++;
			}
			break;
#endif
		case M_MAG:
			for (i = 0; i < BATCH; i++) {
				struct mag *mg = &mag;

				BARRIER(mg);
				v = mg->item[--mg->n];
				BARRIER(v);
				mg->item[mg->n++] = v;
			}
			break;
		case M_CAS:
			for (i = 0; i < BATCH; i++) {
				v = ts_pop();
				if (v == TS_NIL) {
					misses++;
					continue;
				}
				BARRIER(v);
				ts_push(v);
			}
			break;
		default:
			break;
		}
		pairs += BATCH;
		if (w->n < MAX_BATCHES)
			w->ns[w->n++] = (double)(now_ns() - t0) / BATCH;
	}
	w->t1 = now_ns();
	w->pairs = pairs;
	w->aborts = aborts;
	w->misses = misses;
	return NULL;
}

/* Indices are neither lost nor doubled: 0, or -1 with a message. */
static int count_check(enum method m)
{
	static unsigned char seen[PCPU_CAP > TS_COUNT ? PCPU_CAP : TS_COUNT];
	uint32_t want = 0, got = 0, i, k, idx;
	long c;

	memset(seen, 0, sizeof(seen));
	if (m == M_RSEQ) {
		want = PCPU_CAP;
		for (c = 0; c < ncpus; c++)
			for (k = 0; k < pcpu[c].n && k < PCPU_CAP; k++) {
				idx = pcpu[c].item[k];
				if (idx >= want || seen[idx]++)
					goto bad;
				got++;
			}
	} else if (m == M_CAS) {
		want = TS_COUNT;
		idx = (uint32_t)atomic_load(&ts->head);
		for (i = 0; idx != TS_NIL && i <= TS_COUNT; i++) {
			if (idx >= want || seen[idx]++)
				goto bad;
			got++;
			idx = ts->next[idx];
		}
	} else {
		return 0;	/* thread-local: nothing shared to count */
	}
	if (got == want)
		return 0;
bad:
	fprintf(stderr, "rseq_bench: %s: %u of %u indices found, or one twice\n",
		method_name[m], got, want);
	return -1;
}

static void reset(enum method m)
{
	uint32_t i;
	long c;

	if (m == M_RSEQ) {
		/* PCPU_CAP indices over all CPUs: no stack can overflow. */
		memset(pcpu, 0, sizeof(*pcpu) * (size_t)ncpus);
		for (i = 0; i < PCPU_CAP; i++) {
			c = i % ncpus;
			pcpu[c].item[pcpu[c].n++] = i;
		}
	} else if (m == M_CAS) {
		for (i = 0; i < TS_COUNT; i++)
			ts->next[i] = i + 1 < TS_COUNT ? i + 1 : TS_NIL;
		atomic_store(&ts->head, 0);
	}
}

static int run_cell(enum method m, int threads)
{
	static struct worker w[MAX_THREADS];
	pthread_barrier_t start;
	long n = 0, pairs = 0, aborts = 0, misses = 0;
	uint64_t first = UINT64_MAX, last = 0;
	double *all;
	int i;

	reset(m);
	pthread_barrier_init(&start, NULL, (unsigned int)threads + 1);
	atomic_store(&stop, 0);
	for (i = 0; i < threads; i++) {
		w[i] = (struct worker){ .id = i, .threads = threads, .m = m,
					.start = &start };
		w[i].ns = malloc(MAX_BATCHES * sizeof(double));
		if (!w[i].ns ||
		    pthread_create(&w[i].t, NULL, worker, &w[i])) {
			fprintf(stderr, "rseq_bench: no thread %d\n", i);
			exit(1);
		}
	}
	pthread_barrier_wait(&start);
	nap(secs);
	atomic_store(&stop, 1);
	for (i = 0; i < threads; i++) {
		pthread_join(w[i].t, NULL);
		n += w[i].n;
	}
	all = malloc((size_t)(n ? n : 1) * sizeof(double));
	if (!all)
		exit(1);
	n = 0;
	for (i = 0; i < threads; i++) {
		memcpy(all + n, w[i].ns, (size_t)w[i].n * sizeof(double));
		n += w[i].n;
		pairs += w[i].pairs;
		aborts += w[i].aborts;
		misses += w[i].misses;
		if (w[i].t0 < first)
			first = w[i].t0;
		if (w[i].t1 > last)
			last = w[i].t1;
		free(w[i].ns);
	}
	qsort(all, (size_t)n, sizeof(double), cmp_double);
	printf("%-12s %7d %9.2f %11.2f %9.2f %10ld %12.1f %7ld\n",
	       method_name[m], threads, pct(all, n, 0.5), pct(all, n, 0.99),
	       last > first ? pairs / ((last - first) / 1e3) : 0, aborts,
	       pairs ? aborts * 1e6 / pairs : 0, misses);
	fflush(stdout);
	free(all);
	pthread_barrier_destroy(&start);
	return count_check(m);
}

int main(int argc, char **argv)
{
	int threads[] = { 1, 2, 64 }, i, status = 0;
	enum method m;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			secs = 0.03;
		else if (!strcmp(argv[i], "--secs") && i + 1 < argc)
			secs = atof(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--quick] [--secs S]\n",
				argv[0]);
			return 2;
		}
	}
	ncpus = sysconf(_SC_NPROCESSORS_CONF);
	if (ncpus < 1)
		ncpus = 1;
	pcpu = mmap(NULL, sizeof(*pcpu) * (size_t)ncpus + sizeof(*ts),
		    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pcpu == MAP_FAILED) {
		perror("rseq_bench: mmap");
		return 1;
	}
	ts = (struct treiber *)(pcpu + ncpus);
#ifdef HAVE_RSEQ
	rseq_ok = __rseq_size > 0 && rseq_cpu() >= 0 && rseq_cpu() < ncpus;
	if (!rseq_ok)
		printf("# rseq is not registered (__rseq_size %u): the percpu-rseq cells are skipped\n",
		       __rseq_size);
	else
		printf("# rseq registered by glibc: __rseq_size %u, __rseq_offset %td\n",
		       __rseq_size, __rseq_offset);
#else
	printf("# no rseq here (x86-64 with glibc 2.35+ only): the percpu-rseq cells are skipped\n");
#endif
	printf("# %ld CPUs configured, %ld online; %.2f s per cell; ns per pop+push pair\n",
	       ncpus, sysconf(_SC_NPROCESSORS_ONLN), secs);
	printf("%-12s %7s %9s %11s %9s %10s %12s %7s\n", "method", "threads",
	       "p50_ns", "p99_ns", "Mpairs/s", "aborts", "aborts/Mpair",
	       "misses");
	for (i = 0; i < 3; i++)
		for (m = 0; m < NMETHODS; m++) {
#ifdef HAVE_RSEQ
			if (m == M_RSEQ && !rseq_ok)
				continue;
#else
			if (m == M_RSEQ)
				continue;
#endif
			if (run_cell(m, threads[i]))
				status = 1;
		}
	return status;
}
