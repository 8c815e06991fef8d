/*
 * SPDX-License-Identifier: GPL-2.0
 *
 * Promela model of bufpool's ownership records and the kernel's
 * reconciliation (docs/DESIGN.md, section 4): the free list's take
 * (bp_fl_pop_rec: announce in the cache's pend_buf, CAS, record own[],
 * clear the announcement) and give (name it in pend_buf, clear own[],
 * push, clear pend_buf), as the library does for a thread without
 * magazines.  Each shared access of the C code is one step.
 *
 * Client 0 may be killed between any two steps; client 1 lives.  When
 * client 0 is gone (killed or done: its file is released either way),
 * the kernel reconciles.  Under the module's freeze no client stores, so
 * the whole reconciliation is one atomic step here, which client 1's
 * steps interleave before and after.  At the end the pool is reconciled
 * once more (an audit, or the next client to go) and checked.
 *
 * Checked, over every interleaving and every death:
 *  - no buffer is ever taken while someone holds it (assert in the
 *    take's CAS): the kernel never gives back what a live client holds,
 *    and a CAS prepared before the reconciliation cannot succeed after;
 *  - what the kernel gives back was not held by the live client;
 *  - at the end each buffer is on the list exactly once or held by the
 *    live client, whose own[] says so: nothing the dead held is lost.
 *
 * ABI 1.4: a live hold in own[] wins over the list: the walk unlinks
 * an entry whose own[] names the live client (it stays held) instead of
 * marking it free.  Correct clients never leave such an entry (own[] is
 * cleared before the give's push and written after the take's CAS), so
 * the rule only changes what corruption does; checked: the walk unlinks
 * only what the live client really holds (the ghost says so).
 *
 * -DANNOUNCE_LATE moves the announcement after the CAS (the window the
 * ordering rule closes); "make model" expects the checker to find that
 * the kernel then gives back a buffer the live client holds.
 * -DCLEAR_LATE clears own[] after the give's push instead of before:
 * the checker must find the kernel unlinking a buffer nobody holds.
 */
#define N	3	/* buffers */
#define OPS	3	/* operations each */
#define NIL	255
#define TAGMOD	64

byte head_idx = 0;
byte head_tag = 0;
byte next[N];
byte own[N];		/* 0: nobody, c + 1: client c */
byte pend[2] = { NIL, NIL };	/* each client's pend_buf */
byte holder[N];		/* ghost: 0 free, c + 1 held by client c */
bool gone[2];
bool reconciled;

#define MAY_DIE	if :: me == 0 -> goto died :: true -> skip fi

/* The kernel's reconciliation with client 1 the only one live. */
inline reconcile()
{
	d_step {
		/* 1. What the list holds is free (the walk, cycle-checked). */
		i = 0;
		do
		:: i < N -> free[i] = false; held[i] = false; i++
		:: else -> break
		od;
		cur = head_idx;
		prev = NIL;
		cnt = 0;
		do
		:: cur == NIL -> break
		:: else ->
			assert(cur < N && !free[cur] && !held[cur]);
			if
			:: own[cur] == 2 ->
				/* A live hold: unlinked, its holder keeps it. */
				assert(holder[cur] == 2);
				held[cur] = true;
				if
				:: prev == NIL -> head_idx = next[cur]
				:: else -> next[prev] = next[cur]
				fi
			:: else ->
				free[cur] = true;
				cnt++;
				prev = cur
			fi;
			cur = next[cur]
		od;
		/* 2. The live client's records; the list wins. */
		if
		:: pend[1] != NIL && !free[pend[1]] -> held[pend[1]] = true
		:: else -> skip
		fi;
		pend[0] = NIL;
		i = 0;
		do
		:: i < N ->
			if
			:: free[i] -> own[i] = 0
			:: !free[i] && own[i] == 2 -> held[i] = true
			:: else -> own[i] = 0
			fi;
			i++
		:: else -> break
		od;
		/* 3. Give back what nobody holds; 4. a new tag. */
		i = 0;
		do
		:: i < N ->
			if
			:: !free[i] && !held[i] ->
				assert(holder[i] != 2);
				holder[i] = 0;
				next[i] = head_idx;
				head_idx = i;
				head_tag = (head_tag + 1) % TAGMOD
			:: else -> skip
			fi;
			i++
		:: else -> break
		od;
		head_tag = (head_tag + 1) % TAGMOD
	}
}

proctype client(byte me)
{
	byte h_idx, h_tag, nxt, x, i, ops;

	for (ops : 1 .. OPS) {
		if
		:: true ->	/* take one */
			x = NIL;
			do
			:: atomic { h_idx = head_idx; h_tag = head_tag }
			   MAY_DIE;
			   if
			   :: h_idx == NIL -> break
			   :: else -> skip
			   fi;
			   nxt = next[h_idx];
			   MAY_DIE;
#ifndef ANNOUNCE_LATE
			   pend[me] = h_idx;
			   MAY_DIE;
#endif
			   if
			   :: atomic {
				head_idx == h_idx && head_tag == h_tag ->
				head_idx = nxt;
				head_tag = (head_tag + 1) % TAGMOD;
				assert(holder[h_idx] == 0);
				holder[h_idx] = me + 1
			      };
			      x = h_idx;
			      break
			   :: else -> skip
			   fi
			od;
			MAY_DIE;
#ifdef ANNOUNCE_LATE
			if
			:: x != NIL -> pend[me] = x; MAY_DIE
			:: else -> skip
			fi;
#endif
			if
			:: x != NIL -> own[x] = me + 1; MAY_DIE
			:: else -> skip
			fi;
			pend[me] = NIL
		:: true ->	/* give one back */
			x = NIL;
			for (i : 0 .. N - 1) {
				if
				:: holder[i] == me + 1 -> x = i
				:: else -> skip
				fi
			}
			if
			:: x == NIL -> skip
			:: else ->
				pend[me] = x;
				MAY_DIE;
#ifndef CLEAR_LATE
				own[x] = 0;
				MAY_DIE;
#endif
				do
				:: atomic { h_idx = head_idx; h_tag = head_tag }
				   MAY_DIE;
				   next[x] = h_idx;
				   MAY_DIE;
				   if
				   :: atomic {
					head_idx == h_idx && head_tag == h_tag ->
					head_idx = x;
					head_tag = (head_tag + 1) % TAGMOD;
					holder[x] = 0
				      };
				      break
				   :: else -> skip
				   fi
				od;
				MAY_DIE;
#ifdef CLEAR_LATE
				own[x] = 0;
				MAY_DIE;
#endif
				pend[me] = NIL
			fi
		fi;
		MAY_DIE
	}
died:
	gone[me] = true
}

/* Client 0's file is released: reconcile while client 1 runs. */
active proctype kernel()
{
	byte i, cur, prev, cnt;
	bool free[N], held[N];

	gone[0];
	reconcile();
	reconciled = true;

	/* The end: reconcile again, then every buffer is accounted for. */
	(reconciled && gone[1]);
	pend[1] = NIL;		/* client 1 is done, not dead: none left */
	reconcile();
	i = 0;
	do
	:: i < N ->
		assert(holder[i] != 1);			/* the dead's: back */
		assert(holder[i] != 2 || own[i] == 2);	/* live: recorded */
		i++
	:: else -> break
	od;
	/* Each buffer on the list once (asserted in the walk) or held. */
	cnt = 0;
	cur = head_idx;
	do
	:: cur == NIL -> break
	:: else -> cnt++; cur = next[cur]
	od;
	i = 0;
	do
	:: i < N -> if :: holder[i] == 2 -> cnt++ :: else -> skip fi; i++
	:: else -> break
	od;
	assert(cnt == N)
}

init {
	atomic {
		next[0] = 1;
		next[1] = 2;
		next[2] = NIL;
		run client(0);
		run client(1)
	}
}
