/*
 * SPDX-License-Identifier: GPL-2.0
 *
 * Promela model of bufpool's shared path (ABI 1.5, docs/DESIGN.md, "The
 * shared path"): threads without a cache take and give buffers on the
 * free list with no record of their own, counted in flight in their
 * client's inflight[] word, beside a thread with a cache that announces
 * in its pend_buf as ownership.pml does; and the kernel's
 * reconciliation with the ABI 1.5 rule.  Each shared access of the C
 * code is one step.
 *
 * Three buffers, three threads, two clients: thread 0 (client 1) and
 * thread 2 (client 2) have no cache; thread 1 (client 1) has one.
 * Thread 0 starts holding buffer 2 (recorded), so two are on the list
 * and a take can find it empty.  Each thread takes one and gives back
 * what it took (thread 0, when the list was empty, gives buffer 2).
 * A thread without a cache:
 *   take: inflight[me] += 1; Treiber pop (load head and next[head],
 *         CAS); CAS own[x] FREE -> me; inflight[me] -= 1;
 *   give: inflight[me] += 1; own[x] = FREE; push (load head and store
 *         next[x], CAS); inflight[me] -= 1.
 * The thread with a cache:
 *   take: pend_buf = x before the CAS, CAS, own[x] = me, pend_buf = NIL;
 *   give: pend_buf = x, own[x] = FREE, push, pend_buf = NIL.
 * (A take that finds the list empty counts itself in flight and out
 * again; the shared path's break-up of a depot magazine is not here.)
 *
 * The kernel, at any step of the threads: kills a client, at most one
 * (every thread of it stops forever at the instruction it is at: the
 * "unless" below), or reconciles, at most RECON times (a death's file release, a follow-up, or a REPAIR or an
 * AUDIT by another client).  Under the module's freeze no client
 * stores, so a reconciliation is one atomic step:
 *   1. the free list walk: what it holds is free, but an entry whose
 *      own[] names a live client is unlinked and held (the record wins);
 *   2. a live cache's pend_buf names a held buffer unless it is free; a
 *      gone client's caches are cleared;
 *   3. own[]: free buffer -> cleared; a live client's -> held; a gone
 *      client's -> cleared, and the buffer goes back in step 4 even
 *      when busy (its holder is gone and no take of it is in flight);
 *   4. busy = some live client's inflight[] is not 0.  What nobody
 *      names goes back unless busy; when busy it stays (unsettled) for
 *      a later pass.  A gone client's inflight[] is zeroed; heads get
 *      a new tag, so that a CAS prepared before the stop fails.
 * A gone client's pend_buf names nothing: it may announce a take whose
 * CAS another thread won.
 *
 * Checked, over every interleaving, every death and every
 * reconciliation point:
 *  - no buffer is taken while a thread holds it (assert in the take's
 *    CAS), and a thread's own[] CAS always finds FREE;
 *  - a buffer a live thread holds is not on the free list when the
 *    thread uses it (at the start of its give);
 *  - the kernel never gives back, nor unlinks as another's, what a
 *    live thread holds;
 *  - at the end (all threads done or dead), a final reconciliation
 *    finds nobody busy, and then every buffer is on the list exactly
 *    once or held by a live thread whose client own[] names: nothing
 *    is lost.
 *
 * Mutations that "make model" expects the checker to catch, with the
 * kernel's own checks off (-DNO_KASSERT), so that each must show in
 * what the threads see or in the list the kernel walks:
 * -DNO_INFLIGHT: a thread without a cache does not count itself in
 *   flight: an audit gives back its take in flight, and the thread
 *   finds its buffer on the free list;
 * -DIGNORE_BUSY: the kernel gives back what nobody names even when a
 *   live client is busy: the same;
 * -DCLEAR_LATE: a give clears own[] after its push: another thread's
 *   own[] CAS finds the record still there;
 * -DTRUST_GONE_PEND: the kernel takes a gone client's pend_buf for a
 *   record of the gone, given back even when busy: a live thread's take
 *   in flight goes back and the list gets it twice.
 */
#define N	3	/* buffers */
#define T	3	/* threads */
#define RECON	2	/* reconciliations while the threads run */
#define NIL	255
#define TAGMOD	64

#define CL(t)		((t) == 2 -> 2 : 1)	/* a thread's client */
#define CACHED(t)	((t) == 1)		/* has a cache */
#define LIVE(c)		((c) != 0 && !dead[c])

byte head_idx = 0;
byte head_tag = 0;
byte next[N];
byte own[N];		/* 0: FREE, else the client id */
byte pend[T] = NIL;	/* pend_buf of a thread's cache (thread 1 only) */
byte inflight[3];	/* by client id */
bool dead[3];		/* by client id: killed, its file released */
bool stopped[T];	/* finished or killed */
byte holder[N];		/* ghost: 0 nobody, t + 1 thread t */
bool onlist[N] = true;	/* ghost: on the free list */

/*
 * The kernel's own checks; -DNO_KASSERT leaves them out, so that a
 * mutation must show in what the threads see or in the list itself.
 */
#ifdef NO_KASSERT
#define KASSERT(e)	skip
#else
#define KASSERT(e)	assert(e)
#endif

/* Is x held by a thread of a live client? (ghost) */
#define LIVE_HELD(x)	(holder[x] != 0 && LIVE(CL(holder[x] - 1)))

inline reconcile(keep)
{
	d_step {
		i = 0;
		do
		:: i < N -> free[i] = false; held[i] = false; gnamed[i] = false;
			i++
		:: else -> break
		od;
		/* 1. The walk (cycle-checked); a live hold is unlinked. */
		cur = head_idx;
		prev = NIL;
		do
		:: cur == NIL -> break
		:: else ->
			assert(cur < N && !free[cur] && !held[cur]);
			assert(onlist[cur]);
			if
			:: LIVE(own[cur]) ->
				/* The record wins: its holder must hold it. */
				KASSERT(LIVE_HELD(cur) &&
					CL(holder[cur] - 1) == own[cur]);
				held[cur] = true;
				onlist[cur] = false;
				if
				:: prev == NIL -> head_idx = next[cur]
				:: else -> next[prev] = next[cur]
				fi
			:: else ->
				free[cur] = true;
				prev = cur
			fi;
			cur = next[cur]
		od;
		/* 2. Caches: a live pend_buf holds unless the list has it. */
		i = 0;
		do
		:: i < T ->
			if
			:: pend[i] == NIL -> skip
			:: LIVE(CL(i)) && !free[pend[i]] -> held[pend[i]] = true
			:: LIVE(CL(i)) && free[pend[i]] -> skip
			:: !LIVE(CL(i)) ->
#ifdef TRUST_GONE_PEND
				gnamed[pend[i]] = true;
#endif
				pend[i] = NIL
			fi;
			i++
		:: else -> break
		od;
		/* 3. own[]: live holds; a gone client's given back below. */
		i = 0;
		do
		:: i < N ->
			if
			:: own[i] == 0 -> skip
			:: own[i] != 0 && free[i] -> own[i] = 0
			:: own[i] != 0 && !free[i] && LIVE(own[i]) ->
				held[i] = true
			:: own[i] != 0 && !free[i] && !LIVE(own[i]) ->
				gnamed[i] = true;
				own[i] = 0
			fi;
			i++
		:: else -> break
		od;
		/* 4. busy; what nobody names goes back unless busy. */
		busy = (LIVE(1) && inflight[1] != 0) ||
		       (LIVE(2) && inflight[2] != 0);
#ifdef IGNORE_BUSY
		busy = false;
#endif
		unsettled = 0;
		i = 0;
		do
		:: i < N ->
			if
			:: !free[i] && !held[i] && (gnamed[i] || !busy) ->
				/* Never under a live thread's take. */
				KASSERT(!LIVE_HELD(i));
				if
				:: !LIVE_HELD(i) -> holder[i] = 0
				:: else -> skip	/* the ghost keeps its holder */
				fi;
				onlist[i] = true;
				next[i] = head_idx;
				head_idx = i
			:: !free[i] && !held[i] && !gnamed[i] && busy ->
				unsettled++
			:: else -> skip
			fi;
			i++
		:: else -> break
		od;
		/* A gone client's count is zeroed; 5. a new tag. */
		if :: dead[1] -> inflight[1] = 0 :: else -> skip fi;
		if :: dead[2] -> inflight[2] = 0 :: else -> skip fi;
		head_tag = (head_tag + 1) % TAGMOD;
		/* The kernel's scratch is not state. */
		i = 0;
		do
		:: i < N -> free[i] = false; held[i] = false; gnamed[i] = false;
			i++
		:: else -> break
		od;
		i = 0;
		cur = 0;
		prev = 0;
		if
		:: !keep -> busy = false; unsettled = 0
		:: else -> skip
		fi
	}
}

#ifndef NO_INFLIGHT
#define INFLIGHT_ADD	inflight[c]++
#define INFLIGHT_SUB	inflight[c]--
#else
#define INFLIGHT_ADD	skip
#define INFLIGHT_SUB	skip
#endif

/*
 * The holder uses x (at the start of its give): it must be its own and
 * not on the free list.
 */
#define USE(x)	assert(holder[x] == me + 1 && !onlist[x])

/*
 * Take one: x = NIL when the list is empty.  The load of the head and
 * of next[head] are one step: a pop in between moves the tag, so the
 * CAS fails (freelist.pml checks the list itself).
 */
inline take()
{
	if
	:: CACHED(me) -> skip
	:: else -> INFLIGHT_ADD
	fi;
	do
	:: atomic {
		h_idx = head_idx;
		h_tag = head_tag;
		nxt = (h_idx == NIL -> NIL : next[h_idx])
	   }
	   if
	   :: h_idx == NIL -> h_tag = 0; break
	   :: h_idx != NIL && CACHED(me) -> pend[me] = h_idx	/* announce */
	   :: h_idx != NIL && !CACHED(me) -> skip
	   fi;
	   if
	   :: atomic {
		head_idx == h_idx && head_tag == h_tag ->
		head_idx = nxt;
		head_tag = (head_tag + 1) % TAGMOD;
		assert(holder[h_idx] == 0);	/* never two holders */
		holder[h_idx] = me + 1;
		onlist[h_idx] = false;
		x = h_idx;
		h_idx = 0;
		h_tag = 0;
		nxt = 0
	      };
	      break
	   :: else -> skip
	   fi
	od;
	if
	:: CACHED(me) ->
		if
		:: x != NIL -> own[x] = c
		:: else -> skip
		fi;
		pend[me] = NIL
	:: else ->
		if
		:: x != NIL ->
			atomic {	/* CAS own[x] FREE -> me */
				assert(own[x] == 0);
				own[x] = c
			}
		:: else -> skip
		fi;
		INFLIGHT_SUB
	fi
}

/* Give x back. */
inline give()
{
	atomic {
		USE(x);
		if
		:: CACHED(me) -> pend[me] = x
		:: else -> INFLIGHT_ADD
		fi
	}
#ifndef CLEAR_LATE
	own[x] = 0;
#endif
	do
	:: atomic { h_idx = head_idx; h_tag = head_tag; next[x] = h_idx }
	   if
	   :: atomic {
		head_idx == h_idx && head_tag == h_tag ->
		head_idx = x;
		head_tag = (head_tag + 1) % TAGMOD;
		holder[x] = 0;
		onlist[x] = true;
		h_idx = 0;
		h_tag = 0
	      };
	      break
	   :: else -> skip
	   fi
	od;
#ifdef CLEAR_LATE
	own[x] = 0;
#endif
	if
	:: CACHED(me) -> pend[me] = NIL
	:: else -> INFLIGHT_SUB
	fi;
	x = NIL
}

/*
 * Each thread takes one buffer and gives it back, then takes one more
 * (thread 0 only) and keeps it; all of it unless its client dies first.
 */
proctype thread(byte me)
{
	byte c = CL(me);
	byte h_idx, h_tag, nxt, x = NIL;

	{
		take();
		if
		:: x != NIL -> skip
		:: x == NIL && me == 0 -> x = 2
		:: else -> goto out	/* nothing to give */
		fi;
		give();
out:		skip
	} unless { dead[c] };
	stopped[me] = true
}

/* Kills and reconciles at any step; at the end, checks. */
proctype kernel()
{
	byte i, cur, prev, cnt, unsettled, nrecon;
	bool free[N], held[N], gnamed[N], busy;

	do
	:: !dead[1] && !dead[2] -> dead[1] = true
	:: !dead[1] && !dead[2] -> dead[2] = true
	:: nrecon < RECON -> reconcile(false); nrecon++
	:: stopped[0] && stopped[1] && stopped[2] -> break
	od;

	/* The end: nobody is busy, nothing is unsettled or lost. */
	reconcile(true);
	assert(!busy && unsettled == 0);
	cnt = 0;
	cur = head_idx;
	do
	:: cur == NIL -> break
	:: else -> assert(holder[cur] == 0); cnt++; cur = next[cur]
	od;
	i = 0;
	do
	:: i < N ->
		if
		:: holder[i] == 0 -> assert(onlist[i])
		:: else ->	/* a live thread's, recorded */
			assert(LIVE_HELD(i) && own[i] == CL(holder[i] - 1));
			cnt++
		fi;
		i++
	:: else -> break
	od;
	assert(cnt == N)
}

init {
	atomic {
		next[0] = 1;
		next[1] = NIL;
		next[2] = NIL;
		/* Thread 0 holds buffer 2 from an earlier take. */
		own[2] = 1;
		holder[2] = 1;
		onlist[2] = false;
		run thread(0);
		run thread(1);
		run thread(2);
		run kernel()
	}
}
