/*
 * SPDX-License-Identifier: GPL-2.0
 *
 * Promela model of bufpool's magazine protocol (userlib/cache.c and
 * userlib/fastpath.h over uapi/bufpool/magazine.h and freelist.h) with
 * its ownership records, a client killed at any step, and the kernel's
 * reconciliation (docs/DESIGN.md, sections 3 and 4).
 *
 * Two clients, each a thread whose cache names two magazines (the cache
 * words A and B; which one is "loaded" is the thread's private business).
 * Magazines hold at most FILL buffers.  The depot is two Treiber stacks
 * of magazine ids (full, empty) with tags.  Modelled steps, as in C:
 *  - take from the loaded magazine: load own[x]; ABI 1.7: if it is
 *    the thread's own cache mark CACHED(me), a plain store own[x] = me
 *    (only this thread writes that mark); if it is 0 (a magazine off the
 *    depot), a compare-and-swap 0 -> me (one atomic step); anything
 *    else is refused (bp_mag_take's EUCLEAN: asserted never to happen);
 *    then count - 1;
 *  - give to it: idx[count] = x, count + 1, then own[x] = CACHED(me);
 *  - refill when both are empty: announce the full stack's head in
 *    pending, CAS it off, push the empty one on the empty stack (CAS),
 *    name the new one in the cache word, clear pending; library 1.9.1:
 *    then mark its buffer the cache's (a CAS 0 -> CACHED(me): MARK_IN);
 *  - spill when both are full: announce the empty stack's head, CAS it
 *    off, clear the marks of the full one (own[x] == CACHED(me) -> 0,
 *    a load then a plain store), push it on the full stack (CAS), name
 *    the new one, clear pending.
 *  - ABI 1.7, client 0's thread exits when its operations are done
 *    (bp_cache_flush): each magazine, its marks cleared, is pushed on
 *    the full stack (or the empty one), then its word is cleared.
 * -DSPILL starts from a state where client 0 holds a third buffer with
 * both its magazines full (of buffers it marked), so that its first
 * give spills; without it, the first moves are refills from the depot.
 * Client 0 may stop forever between any two steps; when it is gone the
 * kernel reconciles in one atomic step (the freeze makes it one) while
 * client 1 runs before and after; at the end a second reconciliation
 * and an audit.
 *
 * Checked over every interleaving and death: no buffer is taken while
 * another client holds it; the kernel never gives back what the live
 * client holds or caches; at the end every buffer is in a depot
 * magazine, in the live client's magazines, or held by it (own[] says
 * so), exactly once; ABI 1.7: a correct client needs no repair of its
 * marks (the kernel asserts it), no mark of the gone client survives,
 * and a mark that does is client 1's on a buffer its magazine names.
 *
 * -DMARK_EARLY marks the buffer of the magazine on top of the full stack
 * before the pop that takes it: the checker must find a take refused
 * (the other client pops the magazine first and finds a mark not its
 * own).
 * -DMARK_LATE pushes a magazine (spilled, with -DSPILL; flushed) before
 * it clears its marks: the checker must find a take refused (another
 * thread pops the magazine and finds a mark not its own).
 * -DKEEP_GONE_MARKS: the kernel keeps the marks of the gone client's
 * cache: the checker must find a take refused (the buffer goes back to
 * the depot still marked).
 * -DPENDING_REWRITE: the kernel rewrites other caches' marks in a
 * magazine that only the live client's pending names: the checker must
 * find it repairing what a correct client wrote (a stale announcement
 * of the magazine the gone client took first).
 */
#ifndef SPILL
#define NB	2	/* buffers */
#else
#define NB	3
#endif
#define NM	6	/* magazines */
#define FILL	1	/* buffers a magazine holds */
#define OPS	3
#define NIL	255
#define TAGMOD	32

byte full_head = 4, full_tag = 0;	/* 4 -> 5 -> NIL, one buffer each */
byte empty_head = NIL, empty_tag = 0;
byte mnext[NM];
byte mcount[NM];
byte midx[NM];		/* FILL == 1: the one entry */
byte own[NB];		/* 0, client + 1, or CACHED(cache) */
#define CACHED(c)	(4 + (c))	/* ABI 1.7: client c's cache is c */
byte cacheA[2], cacheB[2], pending[2];
byte holder[NB];	/* ghost: 0 not held by a client's code, c + 1 held */
bool gone[2];

#define MAY_DIE	if :: me == 0 -> goto died :: true -> skip fi

/* Pop a magazine off a stack, announcing it in pending[me]. */
#define POP(head, tag, got)						\
	do								\
	:: atomic { h = head; t = tag }				\
	   MAY_DIE;							\
	   if								\
	   :: h == NIL -> got = NIL; break				\
	   :: else -> skip						\
	   fi;								\
	   nx = mnext[h];						\
	   MAY_DIE;							\
	   pending[me] = h;						\
	   MAY_DIE;							\
	   if								\
	   :: atomic { head == h && tag == t ->				\
		head = nx; tag = (tag + 1) % TAGMOD }; got = h; break	\
	   :: else -> skip						\
	   fi								\
	od

/* Push magazine m the caller owns. */
#define PUSH(head, tag, m)						\
	do								\
	:: atomic { h = head; t = tag }				\
	   MAY_DIE;							\
	   mnext[m] = h;						\
	   MAY_DIE;							\
	   if								\
	   :: atomic { head == h && tag == t ->				\
		head = m; tag = (tag + 1) % TAGMOD }; break		\
	   :: else -> skip						\
	   fi								\
	od

/*
 * Name the magazine just taken in the cache word that named the one given
 * away, then clear the announcement.  -DLATE_RECORD does it the other
 * way round, the window the ordering rule closes: "make model" expects
 * the checker to find the kernel giving back a live client's magazine.
 */
#ifndef LATE_RECORD
#define NAME_IT(m)							\
	if								\
	:: loadedA -> cacheB[me] = m					\
	:: else -> cacheA[me] = m					\
	fi;								\
	MAY_DIE;							\
	pending[me] = NIL
#else
#define NAME_IT(m)							\
	pending[me] = NIL;						\
	MAY_DIE;							\
	if								\
	:: loadedA -> cacheB[me] = m					\
	:: else -> cacheA[me] = m					\
	fi
#endif

/*
 * ABI 1.7: before magazine m leaves the cache, its marks are cleared:
 * each entry's record is loaded and, if it is this thread's mark, set
 * to 0 with a plain store (FILL == 1: the one entry).
 */
#define CLEAR_MARKS(m)							\
	if								\
	:: mcount[m] > 0 ->						\
		y = midx[m];						\
		o = own[y];						\
		MAY_DIE;						\
		if							\
		:: o == CACHED(me) ->					\
			atomic { assert(own[y] == o); own[y] = 0 }	\
		:: else -> skip						\
		fi							\
	:: else -> skip							\
	fi

/*
 * Library 1.9.1: a full magazine m the cache took from the depot, named
 * by the cache word, has its buffer marked the cache's: a CAS from 0 to
 * CACHED(me), so that the take is a plain store (bp_mag_mark).  Anything
 * but 0 is left alone, and in a correct run it is always 0.
 */
#define MARK_IN(m)							\
	if								\
	:: mcount[m] > 0 ->						\
		y = midx[m];						\
		atomic {						\
			assert(own[y] == 0);				\
			own[y] = CACHED(me)				\
		}							\
	:: else -> skip							\
	fi

/* Flush magazine m, named by cacheA when inA, else by cacheB. */
#ifndef MARK_LATE
#define FLUSH_PUSH(m)							\
	CLEAR_MARKS(m);							\
	MAY_DIE;							\
	if								\
	:: mcount[m] > 0 -> PUSH(full_head, full_tag, m)		\
	:: else -> PUSH(empty_head, empty_tag, m)			\
	fi
#else
#define FLUSH_PUSH(m)							\
	if								\
	:: mcount[m] > 0 -> PUSH(full_head, full_tag, m)		\
	:: else -> PUSH(empty_head, empty_tag, m)			\
	fi;								\
	MAY_DIE;							\
	CLEAR_MARKS(m)
#endif
#define FLUSH_ONE(m, inA)						\
	FLUSH_PUSH(m);							\
	MAY_DIE;							\
	if								\
	:: inA -> cacheA[me] = NIL					\
	:: else -> cacheB[me] = NIL					\
	fi;								\
	MAY_DIE

proctype client(byte me)
{
	byte loaded, prev, h, t, nx, got, x, ops, c, i, o, y;
	byte mine[2];
	bool loadedA = true;

	loaded = cacheA[me];
	prev = cacheB[me];
	mine[0] = NIL;
	mine[1] = NIL;
#ifdef SPILL
	if
	:: me == 0 -> mine[0] = 2	/* held from the start */
	:: else -> skip
	fi;
#endif
	for (ops : 1 .. OPS) {
		if
		:: true ->	/* take one */
			if
			:: mcount[loaded] == 0 && mcount[prev] > 0 ->
				/* swap: private */
				c = loaded; loaded = prev; prev = c;
				loadedA = !loadedA
			:: mcount[loaded] == 0 && mcount[prev] == 0 ->
#ifdef MARK_EARLY
				/* the bug: the top magazine marked, not taken */
				atomic {
					h = full_head;
					if
					:: h != NIL && mcount[h] > 0 &&
					   own[midx[h]] == 0 ->
						own[midx[h]] = CACHED(me)
					:: else -> skip
					fi
				};
				MAY_DIE;
#endif
				POP(full_head, full_tag, got);
				if
				:: got == NIL -> pending[me] = NIL; goto next
				:: else -> skip
				fi;
				MAY_DIE;
				PUSH(empty_head, empty_tag, prev);
				MAY_DIE;
				NAME_IT(got);
				prev = loaded; loaded = got;
				loadedA = !loadedA;
#ifndef MARK_EARLY
				MAY_DIE;
				MARK_IN(loaded)
#endif
			:: else -> skip
			fi;
			MAY_DIE;
			c = mcount[loaded];
			x = midx[loaded];
			o = own[x];
			MAY_DIE;
			/* bp_mag_take's check: no correct run gets EUCLEAN. */
			if
			:: o == CACHED(me) ->
				/* a plain store: nobody wrote it since */
				atomic { assert(own[x] == o); own[x] = me + 1 }
			:: o == 0 ->
				atomic { assert(own[x] == 0); own[x] = me + 1 }
			:: else -> assert(false)
			fi;
			MAY_DIE;
			atomic {
				mcount[loaded] = c - 1;
				assert(holder[x] == 0);
				holder[x] = me + 1
			};
			if
			:: mine[0] == NIL -> mine[0] = x
			:: else -> mine[1] = x
			fi
		:: true ->	/* give one back */
			if
			:: mine[0] != NIL -> x = mine[0]; mine[0] = NIL
			:: mine[0] == NIL && mine[1] != NIL -> x = mine[1]; mine[1] = NIL
			:: else -> goto next
			fi;
			if
			:: mcount[loaded] == FILL && mcount[prev] < FILL ->
				c = loaded; loaded = prev; prev = c;
				loadedA = !loadedA
			:: mcount[loaded] == FILL && mcount[prev] == FILL ->
				POP(empty_head, empty_tag, got);
				assert(got != NIL);	/* enough magazines */
				MAY_DIE;
#ifndef MARK_LATE
				CLEAR_MARKS(prev);
				MAY_DIE;
				PUSH(full_head, full_tag, prev);
#else
				PUSH(full_head, full_tag, prev);
				MAY_DIE;
				CLEAR_MARKS(prev);
#endif
				MAY_DIE;
				NAME_IT(got);
				prev = loaded; loaded = got;
				loadedA = !loadedA
			:: else -> skip
			fi;
			MAY_DIE;
			midx[loaded] = x;
			MAY_DIE;
			atomic {
				mcount[loaded] = mcount[loaded] + 1;
				holder[x] = 0
			};
			MAY_DIE;
			own[x] = CACHED(me)
		fi;
next:
		MAY_DIE
	};
	/*
	 * Client 0's thread exits (bp_cache_flush): each magazine, its
	 * marks cleared, goes to the depot (full or empty stack), then its
	 * word is cleared.
	 */
	if
	:: me == 0 ->
		FLUSH_ONE(loaded, loadedA);
		FLUSH_ONE(prev, !loadedA)
	:: else -> skip
	fi;
died:
	gone[me] = true
}

/* The kernel's reconciliation, client 1 the only one live (d_step). */
inline reconcile()
{
	d_step {
		i = 0;
		do
		:: i < NM -> mfree[i] = false; mheld[i] = false; i++
		:: else -> break
		od;
		i = 0;
		do
		:: i < NB -> bfree[i] = false; bheld[i] = false; i++
		:: else -> break
		od;
		/* 1. The stacks, and what full magazines hold, are free. */
		cur = full_head;
		do
		:: cur == NIL -> break
		:: else ->
			assert(!mfree[cur]);
			mfree[cur] = true;
			if
			:: mcount[cur] > 0 -> assert(!bfree[midx[cur]]);
				bfree[midx[cur]] = true
			:: else -> skip
			fi;
			cur = mnext[cur]
		od;
		cur = empty_head;
		do
		:: cur == NIL -> break
		:: else -> assert(!mfree[cur]); mfree[cur] = true;
			mcount[cur] = 0; cur = mnext[cur]
		od;
		/* 2. Client 1's cache words and pending; the stacks win. */
		i = 0;
		do
		:: i < 3 ->
			if
			:: i == 0 -> cur = cacheA[1]
			:: i == 1 -> cur = cacheB[1]
			:: else -> cur = pending[1]
			fi;
			if
			:: cur != NIL && mfree[cur] && i < 2 ->
				/*
				 * ABI 1.4: a word naming a stacked magazine
				 * (a give in flight) is cleared; the thread
				 * overwrites it next anyway.
				 */
				if
				:: i == 0 -> cacheA[1] = NIL
				:: else -> cacheB[1] = NIL
				fi
			:: cur != NIL && !mfree[cur] && !mheld[cur] ->
				mheld[cur] = true;
				if
				:: mcount[cur] > 0 && !bfree[midx[cur]] ->
					bheld[midx[cur]] = true;
					/*
					 * ABI 1.7: another cache's mark in
					 * this one's magazine: 0, repaired;
					 * but not through pending (i == 2):
					 * a stale announcement may name the
					 * magazine another cache holds.
					 */
					if
#ifndef PENDING_REWRITE
					:: i < 2 && own[midx[cur]] >= CACHED(0) &&
#else
					:: own[midx[cur]] >= CACHED(0) &&
#endif
					   own[midx[cur]] != CACHED(1) ->
						own[midx[cur]] = 0;
						repaired++
					:: else -> skip
					fi
				:: else -> skip
				fi
			:: else -> skip
			fi;
			i++
		:: else -> break
		od;
		cacheA[0] = NIL; cacheB[0] = NIL; pending[0] = NIL;
		/* 3. own[] */
		i = 0;
		do
		:: i < NB ->
			if
			:: bfree[i] -> own[i] = 0
			:: !bfree[i] && own[i] == 2 -> bheld[i] = true
			/* ABI 1.7: the live cache's mark, in its magazine. */
			:: !bfree[i] && own[i] == CACHED(1) && bheld[i] -> skip
#ifdef KEEP_GONE_MARKS
			:: !bfree[i] && own[i] == CACHED(0) -> skip
#endif
			:: else -> own[i] = 0	/* a gone cache's mark too */
			fi;
			i++
		:: else -> break
		od;
		/* 4. Lost buffers into lost magazines, onto the full stack;
		 * the other lost magazines onto the empty stack. */
		i = 0;
		do
		:: i < NM ->
			if
			:: !mfree[i] && !mheld[i] -> mcount[i] = 0;
				mnext[i] = empty_head; empty_head = i
			:: else -> skip
			fi;
			i++
		:: else -> break
		od;
		i = 0;
		do
		:: i < NB ->
			if
			:: !bfree[i] && !bheld[i] ->
				assert(holder[i] != 2);
				holder[i] = 0;
				bfree[i] = true;
				cur = empty_head;	/* a lost magazine */
				assert(cur != NIL);
				empty_head = mnext[cur];
				midx[cur] = i; mcount[cur] = 1;
				mnext[cur] = full_head; full_head = cur
			:: else -> skip
			fi;
			i++
		:: else -> break
		od;
		full_tag = (full_tag + 1) % TAGMOD;
		empty_tag = (empty_tag + 1) % TAGMOD
	}
}

active proctype kernel()
{
	byte i, cur, cnt, repaired = 0;
	bool mfree[NM], mheld[NM], bfree[NB], bheld[NB];

	gone[0];
	reconcile();
	gone[1];
	pending[1] = NIL;
	reconcile();
	/* Audit: each buffer free in the depot, or client 1's. */
	i = 0;
	do
	:: i < NB ->
		assert(holder[i] != 1);
		assert(bfree[i] || bheld[i]);
		assert(holder[i] != 2 || own[i] == 2);
		/* ABI 1.7: no gone cache's mark; a live one's is cached. */
		assert(own[i] != CACHED(0));
		assert(own[i] != CACHED(1) || (bheld[i] && holder[i] == 0));
		i++
	:: else -> break
	od;
	assert(repaired == 0)	/* correct clients need no repair */
}

init {
	atomic {
		mnext[4] = 5; mnext[5] = NIL;
		mcount[4] = 1; midx[4] = 0;
		mcount[5] = 1; midx[5] = 1;
#ifdef SPILL
		/*
		 * Client 0's magazines full of what it marked, a third
		 * buffer in its hand; the depot has two empty magazines.
		 */
		full_head = NIL; empty_head = 4;
		mcount[4] = 0; mcount[5] = 0;
		mcount[0] = 1; midx[0] = 0; own[0] = CACHED(0);
		mcount[1] = 1; midx[1] = 1; own[1] = CACHED(0);
		own[2] = 1; holder[2] = 1;
#endif
		cacheA[0] = 0; cacheB[0] = 1; pending[0] = NIL;
		cacheA[1] = 2; cacheB[1] = 3; pending[1] = NIL;
		run client(0);
		run client(1)
	}
}
