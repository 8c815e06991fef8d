// SPDX-License-Identifier: GPL-2.0
/*
 * bufpool selftests of clients that never trust shared memory (issue
 * 16): another client of the same pool writes what no correct client
 * writes into the control area, and the well-behaved clients
 *
 *  - get a correct buffer or an error (ENOBUFS, EUCLEAN: corruption
 *    found, EAGAIN: too many lost races), never a buffer a live client
 *    holds and never one they already hold, each call within a bound,
 *    "take until failure" within buf_count + a few calls;
 *  - get the pool back after a repair (bufpool_repair, or the one the
 *    library asks for when it detects), while every client, the
 *    corrupter too, stays open: acquire works, the audit adds up, what
 *    they held is still theirs, and the statistics count the detections
 *    and the repairs;
 *  - share the module with another pool that notices nothing.
 *
 * Each test loads the module itself with two pools (the default one,
 * corrupted, and /dev/bufpool-calm) and loads it back as it was at the
 * end.  The corrupter is a child that opens the device, attaches and
 * maps the control area read-write; a pattern writes once, the storm
 * keeps writing for BUFPOOL_TRUST_SECS seconds (default: a third of
 * BUFPOOL_STORM_SECS, at least 3) while
 * workers take, stamp, hold and give buffers back (BUFPOOL_TRUST_CASES,
 * a mask of storm_write()'s cases 0-8, narrows what it writes).
 *
 * What "held" means is own[]: a pattern that rewrites the records of
 * the buffers a client holds (the whole area zero, ones or random) takes
 * them away from it, as far as any library or kernel can tell; there
 * the tests check what still holds (no buffer twice among the live
 * holders' records, bounded calls, a whole pool after the repair) and
 * log how many of the old holdings came back.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <pthread.h>
#include <time.h>

#include <bufpool.h>
#include <bufpool/layout.h>
#include <kselftest_harness.h>

#include "bufpool_selftest.h"

#define COUNT		2048		/* buffers of the corrupted pool */
#define CALM_COUNT	256
#define PARAMS		"buf_size=2048 buf_count=2048 caches=16 " \
			"pools=calm:buf_size=4096,buf_count=256,caches=4"
#define CALM_DEV	"/dev/bufpool-calm"
#define CALM_STATS	"/sys/class/bufpool/bufpool-calm/stats/"
#define NH		40		/* the victim's holdings, H */
#define CALM_NH		5
#define CALL_NS		(2ull * 1000000000ull)	/* a bound per call */
#define QNAME		"trust.q"
#define STAMP		0x5452555354ull		/* "TRUST" */
#define MAX_SECOND	(2 * COUNT)
#define WPROCS		3		/* the storm's worker processes */
#define WTHREADS	2		/* and their threads */
#define SECOND_MAX	512		/* the second client takes at most */

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec;
}

static int errno_ok(int e)
{
	return e == ENOBUFS || e == EUCLEAN || e == EAGAIN;
}

/* What the parent and its children share (an anonymous mapping). */
struct shared {
	_Atomic int corrupted;		/* corrupter: done writing (once) */
	_Atomic int stop;		/* storm: corrupter, stop */
	_Atomic int go;			/* second client: start taking */
	_Atomic int second_ready, second_done, second_release;
	_Atomic int quit;		/* storm workers: exit */
	uint32_t victim_id;
	uint32_t h[NH];
	uint32_t second_id, classes_id;
	uint32_t sgot[MAX_SECOND];	/* what the second client took */
	uint32_t ns;
	uint32_t s_bad_errno, s_dup, s_calls, s_euclean;
	int s_bad_err;			/* the first unexpected errno */
	uint64_t s_max_ns;
	uint32_t touched;		/* corrupter: entries it rewrote */
	uint64_t rounds;		/* storm: corrupter's rounds */
	uint32_t storm_cases;		/* storm: which writes (bits 0-8) */
	/* Storm workers. */
	_Atomic int errors;
	_Atomic int workers_done;
	_Atomic int workers_started;	/* threads with a cache */
	_Atomic uint64_t w_acquired, w_failed, w_einval;
	_Atomic uint64_t w_max_ns;
	char why[480];
};

enum pattern {
	P_FL_CYCLE, P_FL_HEAD_HELD, P_FL_LINK_HELD, P_MAG_OVER_CAP,
	P_MAG_OVER_FILL, P_DEPOT_HELD, P_LOADED_HELD, P_DEPOT_SELF, P_ZERO,
	P_ONES, P_RANDOM_ALL, P_RANDOM_LISTS, P_QUEUE_HELD, P_DEPOT_LIVE,
	P_STORM, P_LIVE_ONCE,
};

/* Wait until *f reaches want, up to secs seconds: 0, or -1. */
static int wait_for(_Atomic int *f, int want, int secs)
{
	uint64_t end = now_ns() + secs * 1000000000ull;

	while (atomic_load(f) < want) {
		if (now_ns() > end)
			return -1;
		usleep(1000);
	}
	return 0;
}

/* The control area as the corrupter (or the monitor) maps it. */
struct ctl {
	struct bp_raw_client c;
	struct bp_shm s;
};

static int ctl_open(struct ctl *c, const char *path, int prot)
{
	struct bp_layout l;

	/* Attached before it maps: no legacy client, repairs run. */
	if (bp_raw_open(&c->c, path, prot))
		return -1;
	bp_layout_from_info(&l, &c->c.info);
	bp_shm_bind(&c->s, c->c.ctrl, &l);
	return 0;
}

static void ctl_close(struct ctl *c)
{
	bp_raw_close(&c->c);
}

static uint32_t own_of(struct ctl *mon, uint32_t idx)
{
	return atomic_load_explicit((_Atomic uint32_t *)&mon->s.own[idx],
				    memory_order_acquire);
}

/* Up to n buffers of the free list, from its head, into x[]. */
static uint32_t fl_walk(struct bp_shm *s, uint32_t *x, uint32_t n)
{
	uint32_t i = 0, idx = bp_fl_idx(*s->free_head);

	while (i < n && idx < s->buf_count) {
		x[i++] = idx;
		idx = s->next[idx] & BUFPOOL_IDX_MASK;
	}
	return i;
}

/* Magazines of the depot's full stack, from its head, into m[]. */
static uint32_t depot_walk(struct bp_shm *s, uint32_t *m, uint32_t n)
{
	uint32_t i = 0, id = bp_fl_idx(*s->full_head);

	while (i < n && id < s->nr_mags) {
		m[i++] = id;
		id = s->mag_next[id] & BUFPOOL_IDX_MASK;
	}
	return i;
}

static uint64_t rnd64(uint64_t *r)
{
	*r ^= *r << 13;
	*r ^= *r >> 7;
	*r ^= *r << 17;
	return *r;
}

/* Name held buffers at the top of magazine m: the next ones taken. */
static uint32_t mag_name_held(struct shared *sh, struct bp_shm *s, uint32_t m,
			      uint32_t k)
{
	struct bufpool_mag *mag = bp_mag_at(s, m);
	uint32_t c = mag->count, j;

	if (c == 0 || c > s->mag_fill) {
		c = s->mag_fill < 4 ? s->mag_fill : 4;
		mag->count = c;
	}
	for (j = 0; j < c && j < 4; j++)
		mag->idx[c - 1 - j] = sh->h[(k + j) % NH];
	return j;
}

/* One random write of the storm over the lists, magazines and own[]. */
static void storm_write(struct shared *sh, struct bp_shm *s, uint64_t *r)
{
	uint64_t v = rnd64(r);
	uint32_t x = (uint32_t)(v >> 8) % s->buf_count;
	uint32_t m = s->nr_mags ? (uint32_t)(v >> 32) % s->nr_mags : 0;
	uint32_t any = (uint32_t)rnd64(r);
	uint32_t pick = v % 4 ? x : sh->h[(v >> 40) % NH];
	_Atomic uint32_t *o;
	uint32_t cur, what = (v >> 56) % 9;

	if (!(sh->storm_cases & 1u << what))
		return;
	switch (what) {
	case 0:		/* the free list's head: a buffer, held or not */
		*s->free_head = bp_fl_pack(v & 1 ? pick : any,
					   bp_fl_next_tag(*s->free_head));
		break;
	case 1:		/* a link: a buffer, itself, garbage */
		s->next[x] = v & 2 ? pick : v & 4 ? x : any;
		break;
	case 2:		/* a magazine's count */
		if (s->nr_mags)
			bp_mag_at(s, m)->count = v & 1 ? any % 128 : any;
		break;
	case 3:		/* a magazine's entry */
		if (s->nr_mags)
			bp_mag_at(s, m)->idx[any % s->mag_cap] =
				v & 1 ? pick : any;
		break;
	case 4:		/* a magazine link: itself, another, garbage */
		if (s->nr_mags)
			s->mag_next[m] = v & 2 ? m : v & 4 ? any % s->nr_mags :
				any;
		break;
	case 5:		/* the depot's heads */
		if (s->nr_mags)
			*(v & 1 ? s->full_head : s->empty_head) =
				bp_fl_pack(v & 2 ? m : any,
					   bp_fl_next_tag(*s->full_head));
		break;
	case 6:
	case 7:
	case 8:
		/*
		 * own[]: a free buffer's record becomes garbage (no take may
		 * trust it); a held one's becomes a handoff from its holder
		 * (its release fails, nobody else may take it).  Never a
		 * live holder's record made free or a dead client's: that
		 * takes the buffer away from its holder, which no library
		 * can tell from a release.
		 */
		o = (_Atomic uint32_t *)&s->own[x];
		cur = BUFPOOL_OWN_FREE;
		if (!atomic_compare_exchange_strong(o, &cur, any | 1)) {
			if (cur && !(cur & BUFPOOL_OWN_KIND))
				atomic_compare_exchange_strong(o, &cur,
					BUFPOOL_OWN_TRANSIT | cur);
		}
		break;
	}
}

/* The corrupting client: writes its pattern, stays open until killed. */
static void corrupter(struct shared *sh, enum pattern p)
{
	uint32_t x[16], m[64], n, i, k = 0, cap;
	uint64_t r = 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
	struct bp_shm *s;
	struct ctl c;
	uint32_t *w;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (ctl_open(&c, BUFPOOL_DEV_PATH, PROT_READ | PROT_WRITE))
		_exit(1);
	s = &c.s;
	w = (uint32_t *)c.c.ctrl;
	switch (p) {
	case P_FL_CYCLE:	/* x11 -> x4: x4..x11 come round for ever */
		if (fl_walk(s, x, 12) == 12) {
			s->next[x[11]] = x[4];
			sh->touched = 1;
		}
		break;
	case P_FL_HEAD_HELD:	/* head -> h0 -> h1 -> h2 -> the old head */
		n = fl_walk(s, x, 1);
		s->next[sh->h[0]] = sh->h[1];
		s->next[sh->h[1]] = sh->h[2];
		s->next[sh->h[2]] = n ? x[0] : BUFPOOL_IDX_NIL;
		*s->free_head = bp_fl_pack(sh->h[0],
					   bp_fl_next_tag(*s->free_head));
		sh->touched = 3;
		break;
	case P_FL_LINK_HELD:	/* x5 -> h0 -> h1 -> x6 */
		if (fl_walk(s, x, 7) == 7) {
			s->next[x[5]] = sh->h[0];
			s->next[sh->h[0]] = sh->h[1];
			s->next[sh->h[1]] = x[6];
			sh->touched = 2;
		}
		break;
	case P_MAG_OVER_CAP:	/* every magazine, count > its room */
		for (i = 0; i < s->nr_mags; i++)
			bp_mag_at(s, i)->count = i % 3 == 0 ? s->mag_cap + 1 :
				i % 3 == 1 ? 1000 : UINT32_MAX;
		sh->touched = s->nr_mags;
		break;
	case P_MAG_OVER_FILL:	/* mag_fill < count <= CAP, held beyond */
		cap = s->mag_cap;
		for (i = 0; i < s->nr_mags && s->mag_fill < cap; i++) {
			bp_mag_at(s, i)->count = s->mag_fill + 1 +
					   i % (cap - s->mag_fill);
			for (n = s->mag_fill; n < cap; n++)
				bp_mag_at(s, i)->idx[n] = sh->h[(k++) % NH];
		}
		sh->touched = i;
		break;
	case P_DEPOT_HELD:	/* the full stack's magazines name H */
		n = depot_walk(s, m, 64);
		for (i = 0; i < n; i++)
			k += mag_name_held(sh, s, m[i], k);
		sh->touched = n;
		break;
	case P_LOADED_HELD:	/* the victim's own magazines name H */
		for (i = 0; i < s->nr_caches; i++) {
			struct bufpool_cache *cc = &s->caches[i];

			if (cc->owner != sh->victim_id)
				continue;
			if (cc->loaded < s->nr_mags) {
				k += mag_name_held(sh, s, cc->loaded, k);
				sh->touched++;
			}
			if (cc->prev < s->nr_mags) {
				k += mag_name_held(sh, s, cc->prev, k);
				sh->touched++;
			}
		}
		break;
	case P_DEPOT_SELF:	/* full_head -> m -> m -> ... */
		if (depot_walk(s, m, 1) == 1) {
			s->mag_next[m[0]] = m[0];
			sh->touched = 1;
		}
		break;
	case P_DEPOT_LIVE:	/* the victim's magazines, on the stacks */
		for (i = 0; i < s->nr_caches; i++) {
			struct bufpool_cache *cc = &s->caches[i];

			if (cc->owner != sh->victim_id ||
			    cc->loaded >= s->nr_mags || cc->prev >= s->nr_mags)
				continue;
			s->mag_next[cc->loaded] = bp_fl_idx(*s->full_head);
			*s->full_head = bp_fl_pack(cc->loaded,
					bp_fl_next_tag(*s->full_head));
			s->mag_next[cc->prev] = bp_fl_idx(*s->empty_head);
			*s->empty_head = bp_fl_pack(cc->prev,
					bp_fl_next_tag(*s->empty_head));
			sh->touched = 2;
			break;
		}
		break;
	case P_ZERO:
		memset(c.c.ctrl, 0, c.c.info.ctrl_size);
		sh->touched = c.c.info.ctrl_size / 4;
		break;
	case P_ONES:
		memset(c.c.ctrl, 0xff, c.c.info.ctrl_size);
		sh->touched = c.c.info.ctrl_size / 4;
		break;
	case P_RANDOM_ALL:	/* as the hostile test: a third zero */
		for (i = 0; i < c.c.info.ctrl_size / 4; i++)
			w[i] = rnd64(&r) % 3 ? (uint32_t)rnd64(&r) : 0;
		sh->touched = c.c.info.ctrl_size / 4;
		break;
	case P_RANDOM_LISTS:	/* every list word and magazine, not own[] */
		*s->free_head = bp_fl_pack(sh->h[0], 1);
		for (i = 0; i < s->buf_count; i++) {
			uint64_t v = rnd64(&r);

			s->next[i] = v % 4 == 0 ? sh->h[(v >> 8) % NH] :
				     v % 4 == 1 ? (uint32_t)(v >> 32) :
				     (uint32_t)(v >> 32) % s->buf_count;
		}
		for (i = 0; i < s->nr_mags; i++) {
			uint64_t v = rnd64(&r);

			s->mag_next[i] = (uint32_t)(v >> 32) % (s->nr_mags + 1);
			bp_mag_at(s, i)->count = (uint32_t)v % (s->mag_cap + 2);
			for (n = 0; n < s->mag_cap; n++) {
				v = rnd64(&r);
				bp_mag_at(s, i)->idx[n] = v % 2 ?
					sh->h[(v >> 8) % NH] :
					(uint32_t)(v >> 32) % (s->buf_count + 1);
			}
		}
		*s->full_head = bp_fl_pack(0, rnd64(&r));
		*s->empty_head = bp_fl_pack(1, rnd64(&r));
		sh->touched = s->buf_count + s->nr_mags;
		break;
	case P_QUEUE_HELD:	/* the slots at the queue's head name h0, h1 */
		for (i = 0; i < s->nr_queues; i++) {
			struct bufpool_qdesc *d = &s->queues[i];
			__u64 *slots = s->qslots + (__u64)i * s->queue_len;
			__u64 h = d->head, cap64 = d->capacity;
			__u32 shift = __builtin_ctzll(cap64);

			if (d->state != BUFPOOL_QSTATE_LIVE ||
			    strcmp(d->name, QNAME) || !cap64 ||
			    cap64 > s->queue_len)
				continue;
			slots[h & (cap64 - 1)] = bp_q_slot(h >> shift,
							   sh->h[0]);
			slots[(h + 1) & (cap64 - 1)] =
				bp_q_slot((h + 1) >> shift, sh->h[1]);
			d->tail = h + 2;
			sh->touched = 2;
		}
		break;
	case P_LIVE_ONCE:
		/*
		 * Once every worker thread has its cache: each live cache's
		 * loaded magazine pushed onto the full stack, its prev onto
		 * the empty one, while the threads go on using them.
		 */
		atomic_store(&sh->corrupted, 1);
		if (wait_for(&sh->workers_started, WPROCS * WTHREADS, 60))
			break;
		usleep(100000);
		for (i = 0; i < s->nr_caches; i++) {
			struct bufpool_cache *cc = &s->caches[i];
			uint32_t ld = cc->loaded, pv = cc->prev;

			if (!cc->owner || ld >= s->nr_mags || pv >= s->nr_mags)
				continue;
			s->mag_next[ld] = bp_fl_idx(*s->full_head);
			*s->full_head = bp_fl_pack(ld,
					bp_fl_next_tag(*s->full_head));
			s->mag_next[pv] = bp_fl_idx(*s->empty_head);
			*s->empty_head = bp_fl_pack(pv,
					bp_fl_next_tag(*s->empty_head));
			sh->touched++;
		}
		break;
	case P_STORM:
		atomic_store(&sh->corrupted, 1);
		while (!atomic_load(&sh->stop)) {
			for (i = 0; i < 8; i++)
				storm_write(sh, s, &r);
			sh->rounds++;
			usleep(rnd64(&r) % 2000);
		}
		break;
	}
	atomic_store(&sh->corrupted, 2);
	for (;;)
		pause();
}


static void second_err(struct shared *sh, int err)
{
	if (!errno_ok(err) && !sh->s_bad_errno++)
		sh->s_bad_err = err;
	sh->s_euclean += err == EUCLEAN;
}

/*
 * The second well-behaved client: takes, once told to, what it can
 * through the bulk and index calls and a size class, checking that
 * nothing comes twice, and holds it all until told to give it back.
 */
static void second_client(struct shared *sh)
{
	const char *paths[] = { BUFPOOL_DEV_PATH };
	struct bufpool_classes *cls;
	unsigned char *seen = calloc(COUNT, 1);
	struct bufpool *pool, *cp;
	void *bufs[8], *got[MAX_SECOND];
	uint32_t ngot = 0, i, n, calls, idx;
	uint64_t t;
	int64_t x;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	pool = bufpool_open(NULL);
	cls = bufpool_classes_open(paths, 1);
	if (!pool || !cls || !seen)
		_exit(1);
	cp = bufpool_classes_pool(cls, 0);
	sh->second_id = bufpool_client_id(pool);
	sh->classes_id = bufpool_client_id(cp);
	atomic_store(&sh->second_ready, 1);
	if (wait_for(&sh->go, 1, 60))
		_exit(2);

#define SECOND_GOT(b, p) do {						\
	x = bufpool_index((p), (b));					\
	if (x < 0 || x >= COUNT || seen[x])				\
		sh->s_dup++;						\
	else								\
		seen[x] = 1;						\
	if (ngot < MAX_SECOND) {					\
		got[ngot] = (b);					\
		sh->sgot[ngot++] = (uint32_t)x;				\
	}								\
} while (0)
#define SECOND_TIMED(expr) ({						\
	uint64_t t0 = now_ns();						\
	__typeof__(expr) r_ = (expr);					\
	t = now_ns() - t0;						\
	if (t > sh->s_max_ns)						\
		sh->s_max_ns = t;					\
	calls++;							\
	r_;								\
})

	calls = 0;
	/* Take until failure (or a quarter of the pool), 8 at a time. */
	while (calls < COUNT + 8 && ngot < SECOND_MAX) {
		n = SECOND_TIMED(bufpool_acquire_bulk(pool, bufs, 8));
		if (!n) {
			second_err(sh, errno);
			break;
		}
		for (i = 0; i < n; i++)
			SECOND_GOT(bufs[i], pool);
	}
	/* Then a few more, by index and through the class. */
	for (i = 0; i < 8; i++) {
		if (SECOND_TIMED(bufpool_acquire_index(pool, &idx)) == 0)
			SECOND_GOT(bufpool_addr(pool, idx), pool);
		else
			second_err(sh, errno);
	}
	for (i = 0; i < 8; i++) {
		void *b = SECOND_TIMED(bufpool_classes_acquire(cls, 100));

		if (b)
			SECOND_GOT(b, cp);
		else
			second_err(sh, errno);
	}
	sh->ns = ngot;
	sh->s_calls = calls;
	atomic_store(&sh->second_done, 1);
	if (wait_for(&sh->second_release, 1, 300))
		_exit(3);
	for (i = 0; i < ngot; i++)
		bufpool_classes_release(cls, got[i]);
	bufpool_classes_close(cls);
	bufpool_close(pool);
	_exit(0);
}

/* A stamp in each buffer of H: who holds it, which it is. */
struct stamp {
	uint64_t magic;
	uint32_t idx;
	uint32_t owner;
};

struct env {
	int ready;
	const char *ko;
	char saved[1024];
	int was_loaded;
	struct shared *sh;
	struct bufpool *victim, *calm;
	struct ctl mon;			/* read-only view of the victim's pool */
	uint32_t calm_h[CALM_NH];
	pid_t corrupter, second, workers[4];
	unsigned int nworkers;
	long long interval_ms;
};

static void env_setup(struct __test_metadata *_metadata, struct env *e)
{
	unsigned int i;
	uint32_t idx;

	e->mon.c.fd = -1;
	e->mon.c.ctrl = MAP_FAILED;
	BP_REQUIRE_MODULE(e);
	e->was_loaded = bp_module_save_unload(e->saved, sizeof(e->saved));
	ASSERT_LE(0, e->was_loaded);
	e->ready = 1;
	ASSERT_EQ(0, bp_finit_module(e->ko, PARAMS)) {
		TH_LOG("load with " PARAMS ": %s", strerror(errno));
	}
	e->interval_ms = bp_param("repair_interval_ms");
	e->sh = mmap(NULL, sizeof(*e->sh), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, e->sh);
	e->victim = bufpool_open(NULL);
	ASSERT_NE(NULL, e->victim);
	e->sh->victim_id = bufpool_client_id(e->victim);
	e->calm = bufpool_open(CALM_DEV);
	ASSERT_NE(NULL, e->calm);
	ASSERT_EQ(0, ctl_open(&e->mon, BUFPOOL_DEV_PATH, PROT_READ));
	ASSERT_EQ(COUNT, e->mon.c.info.buf_count);
	ASSERT_LT(0, e->mon.c.info.mag_fill);
	/* The other pool is in use too: a client holds a few, stamped. */
	for (i = 0; i < CALM_NH; i++) {
		struct stamp *st;

		ASSERT_EQ(0, bufpool_acquire_index(e->calm, &idx));
		e->calm_h[i] = idx;
		st = bufpool_addr(e->calm, idx);
		*st = (struct stamp){ STAMP, idx, bufpool_client_id(e->calm) };
	}
}

static void kill_wait(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}

static void env_teardown(struct __test_metadata *_metadata, struct env *e)
{
	unsigned int i;

	if (!e->ready)
		return;
	kill_wait(&e->corrupter);
	kill_wait(&e->second);
	for (i = 0; i < e->nworkers; i++)
		kill_wait(&e->workers[i]);
	ctl_close(&e->mon);
	if (e->calm)
		bufpool_close(e->calm);
	if (e->victim)
		bufpool_close(e->victim);
	if (e->sh)
		munmap(e->sh, sizeof(*e->sh));
	EXPECT_EQ(0, bp_module_restore(e->ko, e->was_loaded, e->saved));
}

static void audit_whole(struct __test_metadata *_metadata,
			struct bufpool *pool, struct bufpool_audit *a)
{
	memset(a, 0, sizeof(*a));
	ASSERT_EQ(0, bufpool_audit(pool, a)) {
		TH_LOG("audit: %s", strerror(errno));
	}
	EXPECT_EQ(a->buf_count, a->free + a->cached + a->held + a->transit +
		  a->queued) {
		TH_LOG("audit: %u free, %u cached, %u held, %u transit, %u queued of %u",
		       a->free, a->cached, a->held, a->transit, a->queued,
		       a->buf_count);
	}
}

/*
 * What a reconciliation would find wrong with the magazines, seen from
 * the monitor's mapping (a hint for whoever reads a failure): a
 * magazine on a depot stack that a cache also holds, a stack that
 * meets an entry twice, a cache of the victim's naming nothing.
 */
static void mag_doubts(struct __test_metadata *_metadata, struct env *e,
		       const char *when)
{
	struct bp_shm *s = &e->mon.s;
	unsigned char *on = calloc(s->nr_mags + 1, 1);
	uint32_t i, id, n, k, victim_caches = 0;
	__u64 *heads[2] = { s->full_head, s->empty_head };

	if (!on)
		return;
	for (k = 0; k < 2; k++) {
		id = bp_fl_idx(*heads[k]);
		for (n = 0; id < s->nr_mags && n <= s->nr_mags; n++) {
			if (on[id]) {
				TH_LOG("%s: the %s stack meets magazine %u twice",
				       when, k ? "empty" : "full", id);
				break;
			}
			on[id] = 1 + k;
			id = s->mag_next[id] & BUFPOOL_IDX_MASK;
		}
	}
	for (i = 0; i < s->nr_caches; i++) {
		struct bufpool_cache *c = &s->caches[i];
		uint32_t ids[2] = { c->loaded, c->prev };

		if (!c->owner)
			continue;
		victim_caches += c->owner == e->sh->victim_id;
		for (k = 0; k < 2; k++)
			if (ids[k] < s->nr_mags && on[ids[k]])
				TH_LOG("%s: magazine %u, on the %s stack, is the %s of cache %u (client %u)",
				       when, ids[k],
				       on[ids[k]] == 1 ? "full" : "empty",
				       k ? "prev" : "loaded", i, c->owner);
	}
	if (!victim_caches)
		TH_LOG("%s: no cache names the victim (client %u) as its owner",
		       when, e->sh->victim_id);
	free(on);
}

/* The other pool: nothing repaired, its client's buffers still its. */
static void calm_untouched(struct __test_metadata *_metadata, struct env *e)
{
	struct bufpool_audit a;
	unsigned int i;

	audit_whole(_metadata, e->calm, &a);
	EXPECT_EQ(CALM_COUNT, a.buf_count);
	EXPECT_EQ(0, a.repaired);
	EXPECT_EQ(0, a.reclaimed);
	EXPECT_EQ(CALM_NH, a.held);
	EXPECT_EQ(CALM_COUNT - CALM_NH, a.free + a.cached);
	EXPECT_EQ(0, bp_read_number(CALM_STATS, "repaired"));
	EXPECT_EQ(0, bp_read_number(CALM_STATS, "repair_requests"));
	for (i = 0; i < CALM_NH; i++) {
		struct stamp *st = bufpool_addr(e->calm, e->calm_h[i]);

		EXPECT_EQ(STAMP, st->magic);
		EXPECT_EQ(e->calm_h[i], st->idx);
		EXPECT_EQ(0, bufpool_release_index(e->calm, e->calm_h[i]));
	}
	audit_whole(_metadata, e->calm, &a);
	EXPECT_EQ(CALM_COUNT, a.free + a.cached);
	EXPECT_EQ(0, a.repaired);
}

/*
 * The victim takes H (NH buffers, stamped) and gives back a few
 * magazines' worth of others, so that its cache holds magazines and the
 * depot has full ones.
 */
static void victim_prepare(struct __test_metadata *_metadata, struct env *e)
{
	uint32_t fill = e->mon.c.info.mag_fill, n = NH + 6 * fill, i;
	uint32_t *got = calloc(n, sizeof(*got));

	ASSERT_NE(NULL, got);
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, bufpool_acquire_index(e->victim, &got[i]));
	for (i = 0; i < NH; i++) {
		struct stamp *st = bufpool_addr(e->victim, got[i]);

		e->sh->h[i] = got[i];
		*st = (struct stamp){ STAMP, got[i], e->sh->victim_id };
	}
	for (i = n; i-- > NH;)
		ASSERT_EQ(0, bufpool_release_index(e->victim, got[i]));
	free(got);
}

static int in_h(const struct shared *sh, uint32_t idx)
{
	unsigned int i;

	for (i = 0; i < NH; i++)
		if (sh->h[i] == idx)
			return 1;
	return 0;
}

FIXTURE(trust) {
	struct env e;
};

FIXTURE_VARIANT(trust) {
	enum pattern pattern;
	int own_intact;		/* the pattern leaves own[] alone */
	int detects;		/* the victim's takes must find it */
	int auto_repair;	/* wait for the library's request */
};

FIXTURE_VARIANT_ADD(trust, free_list_cycle) {
	.pattern = P_FL_CYCLE, .own_intact = 1, .detects = 1,
};
FIXTURE_VARIANT_ADD(trust, free_list_cycle_auto) {
	.pattern = P_FL_CYCLE, .own_intact = 1, .detects = 1,
	.auto_repair = 1,
};
FIXTURE_VARIANT_ADD(trust, free_head_names_held) {
	.pattern = P_FL_HEAD_HELD, .own_intact = 1, .detects = 1,
};
FIXTURE_VARIANT_ADD(trust, free_head_names_held_auto) {
	.pattern = P_FL_HEAD_HELD, .own_intact = 1, .detects = 1,
	.auto_repair = 1,
};
FIXTURE_VARIANT_ADD(trust, free_link_names_held) {
	.pattern = P_FL_LINK_HELD, .own_intact = 1, .detects = 1,
};
FIXTURE_VARIANT_ADD(trust, mag_count_beyond_cap) {
	.pattern = P_MAG_OVER_CAP, .own_intact = 1, .detects = 1,
};
FIXTURE_VARIANT_ADD(trust, mag_count_beyond_fill) {
	.pattern = P_MAG_OVER_FILL, .own_intact = 1, .detects = 1,
};
FIXTURE_VARIANT_ADD(trust, depot_mags_name_held) {
	.pattern = P_DEPOT_HELD, .own_intact = 1, .detects = 1,
};
FIXTURE_VARIANT_ADD(trust, loaded_mag_names_held) {
	.pattern = P_LOADED_HELD, .own_intact = 1, .detects = 1,
};
FIXTURE_VARIANT_ADD(trust, depot_points_at_itself) {
	.pattern = P_DEPOT_SELF, .own_intact = 1, .detects = 1,
};
/* The victim's loaded magazine on the full stack, its prev on the empty. */
FIXTURE_VARIANT_ADD(trust, depot_names_live_mags) {
	.pattern = P_DEPOT_LIVE, .own_intact = 1,
};
FIXTURE_VARIANT_ADD(trust, all_zero) {
	.pattern = P_ZERO,
};
FIXTURE_VARIANT_ADD(trust, all_ones) {
	.pattern = P_ONES, .detects = 1,
};
FIXTURE_VARIANT_ADD(trust, random_words) {
	.pattern = P_RANDOM_ALL,
};
FIXTURE_VARIANT_ADD(trust, random_lists) {
	.pattern = P_RANDOM_LISTS, .own_intact = 1, .detects = 1,
};
FIXTURE_VARIANT_ADD(trust, queue_slot_names_held) {
	.pattern = P_QUEUE_HELD, .own_intact = 1, .detects = 1,
};

FIXTURE_SETUP(trust)
{
	env_setup(_metadata, &self->e);
}

FIXTURE_TEARDOWN(trust)
{
	env_teardown(_metadata, &self->e);
}

/* What the victim took after the corruption. */
struct taken {
	uint32_t idx[COUNT + 64];
	void *buf[COUNT + 64];
	unsigned char seen[COUNT];
	uint32_t n, in_h, euclean, eagain, enobufs, bad_errno, dup, calls;
	uint32_t not_recorded;
	int bad_err;
	uint64_t max_ns;
};

static void took(struct env *e, struct taken *t, uint32_t idx, void *buf)
{
	if (idx >= COUNT || t->seen[idx]) {
		t->dup++;
		return;
	}
	t->seen[idx] = 1;
	t->in_h += in_h(e->sh, idx);
	if (own_of(&e->mon, idx) != e->sh->victim_id)
		t->not_recorded++;
	t->idx[t->n] = idx;
	t->buf[t->n++] = buf;
}

static void failed(struct taken *t, int err)
{
	if (err == EUCLEAN)
		t->euclean++;
	else if (err == EAGAIN)
		t->eagain++;
	else if (err == ENOBUFS)
		t->enobufs++;
	else if (!t->bad_errno++)
		t->bad_err = err;
}

#define TIMED(t, expr) ({						\
	uint64_t t0_ = now_ns();					\
	__typeof__(expr) r_ = (expr);					\
	uint64_t d_ = now_ns() - t0_;					\
	if (d_ > (t)->max_ns)						\
		(t)->max_ns = d_;					\
	(t)->calls++;							\
	r_;								\
})

/* The victim takes after the corruption, by every call. */
static uint32_t victim_takes(struct env *e, struct taken *t,
			     struct bufpool_queue *q)
{
	uint32_t i, j, n, idx, first_fail = 0;
	void *b, *bufs[8];

	/* Take until failure: within buf_count + a few calls. */
	for (i = 0; i < COUNT + 8; i++) {
		b = TIMED(t, bufpool_acquire(e->victim));
		if (!b) {
			failed(t, errno);
			first_fail = i + 1;
			break;
		}
		took(e, t, (uint32_t)bufpool_index(e->victim, b), b);
	}
	/* Then a few more of each kind, whatever the errors. */
	for (i = 0; i < 16; i++) {
		if (TIMED(t, bufpool_acquire_index(e->victim, &idx)) == 0)
			took(e, t, idx, bufpool_addr(e->victim, idx));
		else
			failed(t, errno);
	}
	for (i = 0; i < 4; i++) {
		n = TIMED(t, bufpool_acquire_bulk(e->victim, bufs, 8));
		if (!n)
			failed(t, errno);
		for (j = 0; j < n; j++)
			took(e, t, (uint32_t)bufpool_index(e->victim, bufs[j]),
			     bufs[j]);
	}
	for (i = 0; i < 4; i++) {
		b = TIMED(t, bufpool_acquire_timeout(e->victim, 1000000));
		if (b)
			took(e, t, (uint32_t)bufpool_index(e->victim, b), b);
		else if (errno != ETIMEDOUT)
			failed(t, errno);
	}
	for (i = 0; q && i < 8; i++) {
		b = TIMED(t, bufpool_dequeue(q));
		if (b)
			took(e, t, (uint32_t)bufpool_index(e->victim, b), b);
		else
			failed(t, errno == EAGAIN ? ENOBUFS : errno);
	}
	return first_fail;
}

/*
 * After a repair the pool serves: want buffers into more[].  The kernel
 * leaves a live thread's two magazines alone (the thread may be between
 * its read of the count and of the entry), so what garbage they still
 * name costs this thread one EUCLEAN each (the library drops the
 * magazine): at most STALE_MAX of them.  Returns how many it got.
 */
#define STALE_MAX	4

static uint32_t serve(struct env *e, void **more, uint32_t want,
		      uint32_t *stale, int *err)
{
	uint32_t n = 0;

	*stale = 0;
	*err = 0;
	while (n < want) {
		more[n] = bufpool_acquire(e->victim);
		if (more[n]) {
			n++;
			continue;
		}
		*err = errno;
		if (errno != EUCLEAN || ++*stale > STALE_MAX)
			break;
	}
	return n;
}

/* Poll sysfs stats/NAME until it exceeds before: up to 2 s + interval. */
static long long poll_stat(struct env *e, const char *name, long long before)
{
	uint64_t end = now_ns() + CALL_NS +
		       (e->interval_ms > 0 ? e->interval_ms : 0) * 2000000ull;
	long long v;

	do {
		v = bp_stat(name);
		if (v > before)
			break;
		usleep(10000);
	} while (now_ns() < end);
	return v;
}

TEST_F_TIMEOUT(trust, pattern, 240)
{
	struct env *e = &self->e;
	struct shared *sh = e->sh;
	struct bufpool_queue *q = NULL;
	struct bufpool_stats st0, st;
	struct bufpool_audit a;
	struct taken *t;
	long long req0, rep0, v;
	uint32_t first_fail, i, idx, o, sid_bad = 0, n_more = 0;
	uint32_t h_back = 0, h_stamp_bad = 0, want, stale;
	int err;
	uint64_t t0;
	void *more[128];
	int status;

	BP_NEED_READY(e);
	t = calloc(1, sizeof(*t));
	ASSERT_NE(NULL, t);
	if (variant->pattern == P_QUEUE_HELD) {
		q = bufpool_queue_open(e->victim, QNAME, BUFPOOL_QUEUE_CREATE |
				       BUFPOOL_QUEUE_PRODUCE |
				       BUFPOOL_QUEUE_CONSUME, 16);
		ASSERT_NE(NULL, q) {
			TH_LOG("queue: %s", strerror(errno));
		}
	}
	victim_prepare(_metadata, e);
	ASSERT_EQ(0, bufpool_stats(e->victim, &st0));
	req0 = bp_stat("repair_requests");
	rep0 = bp_stat("repairs");
	ASSERT_LE(0, req0) TH_LOG("no stats/repair_requests");
	ASSERT_LE(0, rep0) TH_LOG("no stats/repairs");

	e->second = fork();
	ASSERT_LE(0, e->second);
	if (e->second == 0)
		second_client(sh);
	ASSERT_EQ(0, wait_for(&sh->second_ready, 1, 30));
	e->corrupter = fork();
	ASSERT_LE(0, e->corrupter);
	if (e->corrupter == 0)
		corrupter(sh, variant->pattern);
	ASSERT_EQ(0, wait_for(&sh->corrupted, 2, 30));
	if (variant->own_intact)
		ASSERT_LT(0, sh->touched) TH_LOG("nothing to corrupt");

	/* Both well-behaved clients take at once. */
	atomic_store(&sh->go, 1);
	first_fail = victim_takes(e, t, q);
	ASSERT_EQ(0, wait_for(&sh->second_done, 1, 120));
	TH_LOG("victim: %u taken in %u calls (first failure at call %u), %u EUCLEAN, %u EAGAIN, %u ENOBUFS, slowest %llu us; second: %u taken in %u calls, slowest %llu us",
	       t->n, t->calls, first_fail, t->euclean, t->eagain, t->enobufs,
	       (unsigned long long)t->max_ns / 1000, sh->ns, sh->s_calls,
	       (unsigned long long)sh->s_max_ns / 1000);

	/* Bounded: take until failure ended, every call in time. */
	EXPECT_LT(0, first_fail);
	EXPECT_GT(COUNT + 8, first_fail);
	EXPECT_GT(CALL_NS, t->max_ns);
	EXPECT_GT(CALL_NS, sh->s_max_ns);
	EXPECT_GT(COUNT + 8, sh->s_calls);
	/* Correct buffers or the errors of the contract. */
	EXPECT_EQ(0, t->bad_errno) TH_LOG("victim: %s", strerror(t->bad_err));
	EXPECT_EQ(0, sh->s_bad_errno) {
		TH_LOG("second client: %s", strerror(sh->s_bad_err));
	}
	EXPECT_EQ(0, t->dup);
	EXPECT_EQ(0, sh->s_dup);
	EXPECT_EQ(0, t->not_recorded);
	if (variant->own_intact) {
		EXPECT_EQ(0, t->in_h);
	} else {
		TH_LOG("%u of H (whose records the pattern rewrote) taken again",
		       t->in_h);
	}
	if (variant->detects)
		EXPECT_LT(0, t->euclean + sh->s_euclean) {
			TH_LOG("no client saw EUCLEAN");
		}
	/* The two clients never share a buffer, nor take H. */
	for (i = 0; i < sh->ns; i++) {
		idx = sh->sgot[i];
		if (idx >= COUNT)
			continue;
		EXPECT_EQ(0, t->seen[idx]) TH_LOG("buffer %u taken by both", idx);
		if (variant->own_intact)
			EXPECT_FALSE(in_h(sh, idx)) TH_LOG("held %u taken", idx);
		o = own_of(&e->mon, idx);
		if (o != sh->second_id && o != sh->classes_id)
			sid_bad++;
	}
	EXPECT_EQ(0, sid_bad);
	if (variant->own_intact)
		for (i = 0; i < NH; i++)
			EXPECT_EQ(sh->victim_id, own_of(&e->mon, sh->h[i]));

	/* The repair: the library's own request, or ours. */
	if (variant->auto_repair) {
		v = poll_stat(e, "repairs", rep0);
		EXPECT_LT(rep0, v) TH_LOG("no repair after the detection");
	} else {
		t0 = now_ns();
		ASSERT_EQ(0, bufpool_repair(e->victim)) {
			TH_LOG("bufpool_repair: %s", strerror(errno));
		}
		t0 = now_ns() - t0;
		TH_LOG("bufpool_repair took %llu us",
		       (unsigned long long)t0 / 1000);
		EXPECT_GT(5 * CALL_NS, t0);	/* the rate limit's wait too */
	}
	EXPECT_LT(req0, bp_stat("repair_requests"));
	EXPECT_LT(rep0, bp_stat("repairs"));
	ASSERT_EQ(0, bufpool_stats(e->victim, &st));
	EXPECT_LT(st0.repairs, st.repairs);
	/* Patterns over the header rewrite the counter itself. */
	if (variant->detects && variant->own_intact)
		EXPECT_LT(st0.detected, st.detected);
	TH_LOG("stats: %llu detected, %llu repairs; sysfs %lld repair requests, %lld repairs, %lld entries repaired",
	       (unsigned long long)st.detected, (unsigned long long)st.repairs,
	       bp_stat("repair_requests"), bp_stat("repairs"),
	       bp_stat("repaired"));

	/* Healed, every client still open: the audit adds up... */
	mag_doubts(_metadata, e, "at the repair");
	audit_whole(_metadata, e->victim, &a);
	TH_LOG("after the repair: %u free, %u cached, %u held, %u transit, %u queued, %u reclaimed, %u repaired",
	       a.free, a.cached, a.held, a.transit, a.queued, a.reclaimed,
	       a.repaired);
	EXPECT_EQ(0, a.repaired);	/* the repair left nothing to do */
	/* ... what was taken is still its takers', H the victim's ... */
	for (i = 0; i < t->n; i++)
		EXPECT_EQ(sh->victim_id, own_of(&e->mon, t->idx[i]));
	for (i = 0, sid_bad = 0; i < sh->ns; i++) {
		o = own_of(&e->mon, sh->sgot[i]);
		sid_bad += o != sh->second_id && o != sh->classes_id;
	}
	EXPECT_EQ(0, sid_bad);
	if (variant->own_intact) {
		EXPECT_LE(NH + t->n + sh->ns, a.held);
		for (i = 0; i < NH; i++)
			EXPECT_EQ(sh->victim_id, own_of(&e->mon, sh->h[i]));
	}
	/* ... and the pool serves, never a held buffer. */
	for (i = 0; i < t->n; i++)
		EXPECT_EQ(0, bufpool_release(e->victim, t->buf[i]));
	want = 2 * e->mon.c.info.mag_fill + 8;
	n_more = serve(e, more, want, &stale, &err);
	ASSERT_EQ(want, n_more) {
		TH_LOG("acquire after the repair: %s (%u EUCLEAN)",
		       strerror(err), stale);
	}
	if (stale)
		TH_LOG("%u EUCLEAN from the thread's own stale magazines after the repair",
		       stale);
	for (i = 0; i < n_more; i++) {
		idx = (uint32_t)bufpool_index(e->victim, more[i]);
		EXPECT_EQ(sh->victim_id, own_of(&e->mon, idx));
		if (variant->own_intact)
			EXPECT_FALSE(in_h(sh, idx));
	}
	/* Not one the second client holds (t->seen: now theirs). */
	memset(t->seen, 0, sizeof(t->seen));
	for (i = 0; i < sh->ns; i++)
		if (sh->sgot[i] < COUNT)
			t->seen[sh->sgot[i]] = 1;
	for (i = 0; i < n_more; i++) {
		idx = (uint32_t)bufpool_index(e->victim, more[i]);
		EXPECT_EQ(0, t->seen[idx]) TH_LOG("buffer %u, the second's", idx);
	}
	for (i = 0; i < n_more; i++)
		EXPECT_EQ(0, bufpool_release(e->victim, more[i]));
	/* Correct calls since the repair: nothing for an audit to repair. */
	mag_doubts(_metadata, e, "after the victim's calls");
	audit_whole(_metadata, e->victim, &a);
	EXPECT_EQ(0, a.repaired);
	if (q) {	/* the queue works again */
		void *b = bufpool_acquire(e->victim);

		ASSERT_NE(NULL, b);
		EXPECT_EQ(0, bufpool_enqueue(q, b));
		EXPECT_EQ(b, bufpool_dequeue(q));
		EXPECT_EQ(0, bufpool_release(e->victim, b));
	}

	/* The second client gives back and goes. */
	atomic_store(&sh->second_release, 1);
	ASSERT_EQ(e->second, waitpid(e->second, &status, 0));
	e->second = 0;
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	audit_whole(_metadata, e->victim, &a);
	EXPECT_EQ(0, a.repaired);

	/* H: stamped as it was, given back by its holder. */
	for (i = 0; i < NH; i++) {
		struct stamp *s = bufpool_addr(e->victim, sh->h[i]);

		h_stamp_bad += s->magic != STAMP || s->idx != sh->h[i];
		if (bufpool_release_index(e->victim, sh->h[i]) == 0)
			h_back++;
		else
			EXPECT_EQ(EINVAL, errno);
	}
	if (variant->own_intact) {
		EXPECT_EQ(0, h_stamp_bad);
		EXPECT_EQ(NH, h_back);
	} else {
		TH_LOG("%u of H released by their holder, %u stamps overwritten",
		       h_back, h_stamp_bad);
	}
	bufpool_flush_cache(e->victim);
	audit_whole(_metadata, e->victim, &a);
	EXPECT_EQ(0, a.repaired);
	EXPECT_EQ(0, a.held);
	if (variant->own_intact)
		EXPECT_EQ(COUNT, a.free);
	calm_untouched(_metadata, e);
	if (q)
		EXPECT_EQ(0, bufpool_queue_close(q));
	free(t);
}

/*
 * The storm: a client keeps corrupting the lists, magazines and own[]
 * for BUFPOOL_TRUST_SECS seconds (or, live_mags_pushed_once, pushes
 * every live thread's two magazines onto the depot's stacks once) while
 * three processes of two threads take (by every call), stamp, hold a
 * while and give back.  A stamp found live in a buffer just taken is a
 * buffer two live holders hold.
 */

struct wstamp {
	_Atomic uint64_t mark;	/* the holder's slot + 1, 0: none */
	uint64_t seq;
};

struct worker {
	struct shared *sh;
	struct bufpool *pool;
	unsigned int slot;
};

static void wfail(struct shared *sh, const char *what, uint32_t idx, int err)
{
	int n = atomic_fetch_add(&sh->errors, 1);
	size_t len;

	if (n >= 3)
		return;
	/* The first three, one after the other (racy but bounded). */
	len = strnlen(sh->why, sizeof(sh->why));
	snprintf(sh->why + len, sizeof(sh->why) - len,
		 "%s%s (buffer %u, errno %d)", len ? "; " : "", what, idx,
		 err);
}

static void wtime(struct shared *sh, uint64_t t0)
{
	uint64_t d = now_ns() - t0, m = atomic_load(&sh->w_max_ns);

	while (d > m && !atomic_compare_exchange_weak(&sh->w_max_ns, &m, d))
		;
}

static void *worker_thread(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	unsigned int seed = w->slot * 7919, i, j, n, k;
	uint32_t held[32];
	uint64_t seq = 0, t0;
	void *bufs[8];
	int started = 0;

	while (!atomic_load(&sh->quit) && !atomic_load(&sh->stop)) {
		n = 1 + rand_r(&seed) % 24;
		for (k = 0; k < n;) {
			t0 = now_ns();
			if (rand_r(&seed) % 3 == 0) {
				j = bufpool_acquire_bulk(w->pool, bufs,
					n - k < 8 ? n - k : 8);
				wtime(sh, t0);
				if (!j)
					goto fail;
				for (i = 0; i < j; i++)
					held[k++] = (uint32_t)bufpool_index(
						w->pool, bufs[i]);
				continue;
			}
			if (bufpool_acquire_index(w->pool, &held[k]) == 0) {
				wtime(sh, t0);
				k++;
				continue;
			}
			wtime(sh, t0);
fail:
			if (!errno_ok(errno))
				wfail(sh, "acquire", 0, errno);
			atomic_fetch_add(&sh->w_failed, 1);
			break;
		}
		n = k;
		if (n && !started++)
			atomic_fetch_add(&sh->workers_started, 1);
		atomic_fetch_add(&sh->w_acquired, n);
		for (i = 0; i < n; i++) {
			struct wstamp *s = bufpool_addr(w->pool, held[i]);
			uint64_t old = atomic_exchange(&s->mark, w->slot + 1);

			if (old) {
				char what[96];

				snprintf(what, sizeof(what),
					 "a buffer held by two live holders, slots %u and %u%s",
					 (unsigned int)old - 1, w->slot,
					 old == 1 ? " (the victim's H)" : "");
				wfail(sh, what, held[i], 0);
			}
			s->seq = ++seq;
		}
		usleep(rand_r(&seed) % 500);
		for (i = 0; i < n; i++) {
			struct wstamp *s = bufpool_addr(w->pool, held[i]);
			uint64_t old = w->slot + 1;

			if (s->seq != seq - n + 1 + i)
				wfail(sh, "a held buffer written by another",
				      held[i], 0);
			if (!atomic_compare_exchange_strong(&s->mark, &old, 0))
				wfail(sh, "a held buffer marked by another",
				      held[i], 0);
			if (bufpool_release_index(w->pool, held[i])) {
				/* The corrupter made it a handoff. */
				if (errno != EINVAL)
					wfail(sh, "release", held[i], errno);
				atomic_fetch_add(&sh->w_einval, 1);
			}
		}
	}
	return NULL;
}

static void worker_proc(struct shared *sh, unsigned int p)
{
	struct worker w[WTHREADS];
	pthread_t th[WTHREADS];
	struct bufpool *pool;
	unsigned int i;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	pool = bufpool_open(NULL);
	if (!pool) {
		wfail(sh, "open", 0, errno);
		_exit(1);
	}
	for (i = 0; i < WTHREADS; i++) {
		w[i] = (struct worker){ sh, pool, 1 + p * WTHREADS + i };
		if (pthread_create(&th[i], NULL, worker_thread, &w[i]))
			_exit(2);
	}
	for (i = 0; i < WTHREADS; i++)
		pthread_join(th[i], NULL);
	/* Everything given back; open until told to go. */
	atomic_fetch_add(&sh->workers_done, 1);
	while (!atomic_load(&sh->quit))
		usleep(1000);
	bufpool_close(pool);
	_exit(0);
}

FIXTURE(trust_storm) {
	struct env e;
};

FIXTURE_VARIANT(trust_storm) {
	enum pattern pattern;
};
FIXTURE_VARIANT_ADD(trust_storm, corrupter_keeps_writing) {
	.pattern = P_STORM,
};
FIXTURE_VARIANT_ADD(trust_storm, live_mags_pushed_once) {
	.pattern = P_LIVE_ONCE,
};

FIXTURE_SETUP(trust_storm)
{
	env_setup(_metadata, &self->e);
}

FIXTURE_TEARDOWN(trust_storm)
{
	env_teardown(_metadata, &self->e);
}

TEST_F_TIMEOUT(trust_storm, workers, 300)
{
	const char *env = getenv("BUFPOOL_TRUST_SECS");
	const char *storm = getenv("BUFPOOL_STORM_SECS");
	const char *cases = getenv("BUFPOOL_TRUST_CASES");
	/* A third of the crash storms' time (make check: 10 s), or as set. */
	int secs = env ? atoi(env) : storm && atoi(storm) / 3 > 3 ?
		   atoi(storm) / 3 : 3;
	struct env *e = &self->e;
	struct shared *sh = e->sh;
	struct bufpool_stats st0, st;
	struct bufpool_audit a;
	uint32_t i, idx, o, h_back = 0, want, n, stale;
	int err;
	unsigned char seen[COUNT] = { 0 };
	long long req0, rep0;
	void *more[128];
	int status;

	BP_NEED_READY(e);
	sh->storm_cases = cases ? strtoul(cases, NULL, 0) : 0x1ff;
	victim_prepare(_metadata, e);
	for (i = 0; i < NH; i++) {	/* H, marked as slot 0's */
		struct wstamp *s = bufpool_addr(e->victim, sh->h[i]);

		atomic_store(&s->mark, 1);
		s->seq = sh->h[i];
	}
	ASSERT_EQ(0, bufpool_stats(e->victim, &st0));
	req0 = bp_stat("repair_requests");
	rep0 = bp_stat("repairs");

	e->corrupter = fork();
	ASSERT_LE(0, e->corrupter);
	if (e->corrupter == 0)
		corrupter(sh, variant->pattern);
	ASSERT_EQ(0, wait_for(&sh->corrupted, 1, 30));
	for (i = 0; i < WPROCS; i++) {
		e->workers[i] = fork();
		ASSERT_LE(0, e->workers[i]);
		if (e->workers[i] == 0)
			worker_proc(sh, i);
		e->nworkers++;
	}
	sleep(secs);
	atomic_store(&sh->stop, 1);	/* the corrupter and the workers */
	ASSERT_EQ(0, wait_for(&sh->corrupted, 2, 30));
	ASSERT_EQ(0, wait_for(&sh->workers_done, WPROCS, 60));
	if (variant->pattern == P_LIVE_ONCE)
		EXPECT_LT(0, sh->touched) TH_LOG("no live magazine to push");
	TH_LOG("%llu rounds of corruption in %d s; workers took %llu, failed %llu takes, %llu releases refused; slowest call %llu us",
	       (unsigned long long)sh->rounds, secs,
	       (unsigned long long)atomic_load(&sh->w_acquired),
	       (unsigned long long)atomic_load(&sh->w_failed),
	       (unsigned long long)atomic_load(&sh->w_einval),
	       (unsigned long long)atomic_load(&sh->w_max_ns) / 1000);
	EXPECT_EQ(0, atomic_load(&sh->errors)) TH_LOG("%s", sh->why);
	EXPECT_GT(CALL_NS, atomic_load(&sh->w_max_ns));
	EXPECT_LT(0, atomic_load(&sh->w_acquired));

	/* The corrupter is quiet but open; so are the workers. */
	ASSERT_EQ(0, bufpool_repair(e->victim)) {
		TH_LOG("bufpool_repair: %s", strerror(errno));
	}
	EXPECT_LT(req0, bp_stat("repair_requests"));
	EXPECT_LT(rep0, bp_stat("repairs"));
	ASSERT_EQ(0, bufpool_stats(e->victim, &st));
	if (variant->pattern == P_STORM && !cases)	/* some are found */
		EXPECT_LT(st0.detected, st.detected);
	EXPECT_LT(st0.repairs, st.repairs);
	audit_whole(_metadata, e->victim, &a);
	EXPECT_EQ(0, a.repaired);
	TH_LOG("after the repair: %u free, %u cached, %u held, %u transit; %llu detected, %llu repairs",
	       a.free, a.cached, a.held, a.transit,
	       (unsigned long long)st.detected,
	       (unsigned long long)st.repairs);
	/* H: never taken by a worker (its mark), still the victim's. */
	for (i = 0; i < NH; i++) {
		struct wstamp *s = bufpool_addr(e->victim, sh->h[i]);

		EXPECT_EQ(1, atomic_load(&s->mark));
		EXPECT_EQ(sh->h[i], s->seq);
		o = own_of(&e->mon, sh->h[i]);
		/* Or made a handoff from it, which only refuses the release. */
		EXPECT_TRUE(o == sh->victim_id ||
			    o == (BUFPOOL_OWN_TRANSIT | sh->victim_id));
	}
	/* The pool serves: nothing held, nothing twice. */
	want = 2 * e->mon.c.info.mag_fill + 8;
	n = serve(e, more, want, &stale, &err);
	ASSERT_EQ(want, n) {
		TH_LOG("acquire after the repair: %s (%u EUCLEAN)",
		       strerror(err), stale);
	}
	if (stale)
		TH_LOG("%u EUCLEAN from the thread's own stale magazines after the repair",
		       stale);
	for (i = 0; i < n; i++) {
		idx = (uint32_t)bufpool_index(e->victim, more[i]);
		EXPECT_FALSE(in_h(sh, idx));
		EXPECT_EQ(0, seen[idx]);
		seen[idx] = 1;
		EXPECT_EQ(sh->victim_id, own_of(&e->mon, idx));
		EXPECT_EQ(0, atomic_load(&((struct wstamp *)more[i])->mark));
	}
	while (i--)
		EXPECT_EQ(0, bufpool_release(e->victim, more[i]));
	for (i = 0; i < NH; i++)
		h_back += bufpool_release_index(e->victim, sh->h[i]) == 0;
	TH_LOG("%u of H released (the rest made handoffs)", h_back);

	atomic_store(&sh->quit, 1);
	for (i = 0; i < e->nworkers; i++) {
		ASSERT_EQ(e->workers[i], waitpid(e->workers[i], &status, 0));
		e->workers[i] = 0;
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	bufpool_flush_cache(e->victim);
	audit_whole(_metadata, e->victim, &a);
	EXPECT_EQ(0, a.repaired);
	EXPECT_EQ(0, a.held);
	calm_untouched(_metadata, e);
}

TEST_HARNESS_MAIN
