/*
 * SPDX-License-Identifier: GPL-2.0
 *
 * Promela model of bufpool's shared free list (bp_fl_pop/bp_fl_push in
 * uapi/bufpool/freelist.h), the algorithm under the free list and under
 * both depot stacks.  Each shared access of the C code is one
 * step here; a process may stop forever between any two steps (killed).
 *
 * Checked, over every interleaving and every death:
 *  - no buffer is ever held by two processes (assert in pop);
 *  - when everyone is done or dead, every buffer is in the list or held
 *    by exactly one process, so reclaiming what the dead held (as the
 *    kernel does for a dead client) leaves a list holding each buffer
 *    exactly once: nothing lost, nothing twice, no cycle.
 *
 * TAGMOD is the tag's range; it must not wrap within a run (the real tag
 * has 40 bits).  "make model" also runs it with TAGMOD=2 and expects the
 * checker to find the ABA double hand-out.
 */
#ifndef TAGMOD
#define TAGMOD	256
#endif
#define N	3	/* buffers */
#define P	3	/* processes */
#define OPS	2	/* operations each */
#define NIL	255

byte head_idx = 0;
byte head_tag = 0;
byte next[N];
byte owner[N];		/* ghost: 0 in the list, p + 1 held by p */
bool gone[P];		/* finished or dead */

/* A process may be killed here: it stops forever, holding what it held. */
#define MAY_DIE		if :: skip :: goto died fi

proctype worker(byte me)
{
	byte h_idx, h_tag, nxt, i, ops, mine;

	for (ops : 1 .. OPS) {
		if
		:: true ->	/* pop */
			do
			:: atomic { h_idx = head_idx; h_tag = head_tag }
			   MAY_DIE;
			   if
			   :: h_idx == NIL -> break
			   :: else -> skip
			   fi;
			   nxt = next[h_idx];
			   MAY_DIE;
			   if
			   :: atomic {
				head_idx == h_idx && head_tag == h_tag ->
				head_idx = nxt;
				head_tag = (head_tag + 1) % TAGMOD;
				assert(owner[h_idx] == 0);
				owner[h_idx] = me + 1
			      };
			      break
			   :: else -> skip
			   fi
			od
		:: true ->	/* push one buffer this process holds */
			mine = NIL;
			for (i : 0 .. N - 1) {
				if
				:: owner[i] == me + 1 -> mine = i
				:: else -> skip
				fi
			}
			if
			:: mine == NIL -> skip
			:: else ->
				do
				:: atomic { h_idx = head_idx; h_tag = head_tag }
				   MAY_DIE;
				   next[mine] = h_idx;
				   MAY_DIE;
				   if
				   :: atomic {
					head_idx == h_idx && head_tag == h_tag ->
					head_idx = mine;
					head_tag = (head_tag + 1) % TAGMOD;
					owner[mine] = 0
				      };
				      break
				   :: else -> skip
				   fi
				od
			fi
		fi;
		MAY_DIE
	}
died:
	gone[me] = true
}

/* When all are gone: give back what they held, then audit the list. */
active proctype reclaim()
{
	byte i, cur, count;
	bool seen[N];

	(gone[0] && gone[1] && gone[2]);
	for (i : 0 .. N - 1) {
		if
		:: owner[i] != 0 ->	/* single-threaded now */
			next[i] = head_idx;
			head_idx = i;
			owner[i] = 0
		:: else -> skip
		fi
	}
	cur = head_idx;
	count = 0;
	do
	:: cur == NIL -> break
	:: else ->
		assert(cur < N);
		assert(!seen[cur]);	/* no cycle, nothing twice */
		seen[cur] = true;
		count++;
		cur = next[cur]
	od;
	assert(count == N)		/* nothing lost */
}

init {
	atomic {
		next[0] = 1;
		next[1] = 2;
		next[2] = NIL;
		run worker(0);
		run worker(1);
		run worker(2)
	}
}
