/*
 * SPDX-License-Identifier: GPL-2.0
 *
 * Promela model of a bufpool queue (uapi/bufpool/queue.h: bp_q_put()
 * multi-producer, bp_q_get()) with the ownership protocol around it
 * (docs/DESIGN.md, "Queues"), processes killed at any step, and the
 * kernel's reconciliation.  Each shared access of the C code is one step.
 *
 * A queue of CAP = 2 slots, 3 buffers.  A slot is {lap, idx}, one word
 * (two arrays written together); position p lives in slot p % CAP with
 * lap p / CAP.  The free list is a set here (free[]): taking from it and
 * giving to it are single steps that record own[] (ownership.pml and
 * magazine.pml check how the real ones keep the records exact).
 *
 * Processes (client ids): producers 1 and 2, consumer 3 and, when 3
 * dies, its restart 4 (it opens the queue once the kernel has dropped
 * 3's role, and continues from head).  Producer 1 and consumer 3 may be
 * killed between any two steps; 2 and 4 live.
 *  - enqueue of a buffer x the producer holds: pend_buf = x; own[x] = 0;
 *    then bp_q_put: load tail; load the slot at tail; {lap(t), EMPTY}:
 *    CAS it to {lap(t), x}, then CAS tail t -> t + 1; {lap(t), buffer}:
 *    help (CAS tail on); the previous lap's buffer: full; a later lap:
 *    reload the tail, and when it has not moved and the slot is one lap
 *    ahead (position t filled and consumed before its producer's tail
 *    CAS), help it on too.  Then pend_buf = NIL; when full:
 *    own[x] = me, then pend_buf = NIL, and the producer keeps x.
 *  - dequeue: load head; load the slot at head; one lap ahead (consumed
 *    by a consumer that died before moving head): head + 1, again;
 *    {lap(h), EMPTY}: empty; {lap(h), x}: own[x] = me, the slot to
 *    {lap(h) + 1, EMPTY}, head + 1.  The consumer keeps what it took
 *    until its next operation, then gives it back to the free set.
 * Producer 1 enqueues twice, producer 2 once (three enqueues: enough to
 * fill the queue and find it full), each consumer tries two dequeues.
 * Laps are not reduced: with three positions a lap is at most 2 and
 * never wraps, so the lap check is exact (the C code's 40 bits wrap
 * after 2^40 laps, beyond any stalled producer).
 *
 * The kernel reconciles, in one atomic step (the module's freeze), after
 * each death, interleaved anywhere in the others' runs, and once more at
 * the end, then audits:
 *  1. the free set is free; the queue is walked from head as a consumer
 *     would, CAP + 1 positions at most: a slot one lap ahead at head is
 *     passed whatever it names (position head + CAP may be filled
 *     already), a slot of the position's lap naming a buffer makes it
 *     queued (the queue wins), {lap, EMPTY} or the previous lap ends
 *     it.  The tail is not used: it may lag behind head (a producer
 *     between its slot CAS and its tail CAS, or dead there);
 *  2. pend_buf of a live client names a held buffer unless it is free
 *     or queued; a gone client's pend_buf is cleared;
 *  3. own[x]: free -> cleared; queued -> left when it names the queue's
 *     live consumer (a dequeue in flight), else cleared; otherwise a
 *     live client's record holds it, a gone one's is cleared;
 *  4. what is neither free, queued nor held goes back to the free set;
 *     the consumer role of a gone client is dropped.
 *
 * Checked over every interleaving and death:
 *  - no buffer is taken from the free set, enqueued or dequeued while
 *    another party holds it (the ghost holder[]);
 *  - the kernel never gives back what a live client holds or what is
 *    queued, and finds each queued buffer once;
 *  - the consumers receive buffers in the order they were enqueued (a
 *    ghost sequence number per enqueue);
 *  - no enqueue or dequeue meets a state it would call corrupt;
 *  - at each reconciliation head - 1 <= tail <= head + CAP + 1 (what a
 *    kernel may accept before it calls a tail corrupt);
 *  - at the end every buffer is exactly once free, queued, or held by a
 *    live client whose own[] says so.
 *
 * Mutations "make model" expects the checker to catch:
 *  -DCONSUME_FIRST  the consumer marks the slot consumed before own[x];
 *  -DPEND_EARLY     the producer clears pend_buf before its slot CAS;
 *  -DNO_LAP         the slot CAS checks EMPTY but not the lap (ABA);
 *  -DKEEP_ALL_OWN   the kernel clears the consumer's own[] of a queued
 *                   buffer too (the dequeue-in-flight rule removed);
 *  -DAHEAD_CORRUPT  a slot one lap ahead at an unmoved tail is called
 *                   corrupt instead of being helped past.  Position t
 *                   filled, consumed, and its producer not yet (or
 *                   never: it died) past its tail CAS is a correct
 *                   state, reached without any death; the put must move
 *                   the tail on as for a filled slot.
 */
#define N	3	/* buffers */
#define CAP	2	/* slots */
#ifndef OPS1
#define OPS1	2	/* enqueues of producer 1 */
#endif
#ifndef OPS2
#define OPS2	1	/* enqueues of producer 2 */
#endif
#ifndef COPS
#define COPS	2	/* dequeues per consumer */
#endif
#define NIL	255
#define EMPTY	255	/* BUFPOOL_QUEUE_EMPTY */
#define QUEUED	9	/* ghost holder: in the queue */
#define LAP(p)	((p) / CAP)
#define SLOT(p)	((p) % CAP)

byte tail, head;
byte slap[CAP];
byte sidx[CAP] = EMPTY;
bool free[N] = true;
byte own[N];			/* 0, or a client id */
byte pend[5] = NIL;		/* each client's pend_buf */
byte qconsumer = 3;		/* the queue's consumer role */
bool gone[5], done[5];
byte holder[N];			/* ghost: 0 free, QUEUED, or a client id */
byte qseq[N];			/* ghost: order of each buffer's enqueue */
byte gseq = 1, lastseq;		/* ghost: next enqueue, last dequeued */

/*
 * "if DIE :: s fi": the process dies here, or does s.  Where a process
 * cannot die this is s alone, with no extra state.  An if that begins s
 * has no else: Spin would make that else the outer if's (taken only
 * when the process cannot die).
 */
#define DIE	:: mortal -> goto died

proctype producer(byte me; byte nops)
{
	byte t, sl, si, x = NIL, ops;
	bool mortal = (me == 1);

	for (ops : 1 .. nops) {
		/* Take one from the free set unless a full queue left one. */
		if
		DIE
		:: atomic {
			if
			:: x == NIL ->
				if
				:: free[0] -> x = 0
				:: !free[0] && free[1] -> x = 1
				:: !free[0] && !free[1] && free[2] -> x = 2
				:: else -> skip
				fi;
				if
				:: x != NIL ->
					free[x] = false;
					assert(holder[x] == 0);
					holder[x] = me;
					own[x] = me
				:: else -> skip
				fi
			:: x != NIL -> skip
			fi;
			if
			:: x == NIL -> goto next
			:: else -> skip
			fi
		   }
		fi;
		/* The announcement, then the record goes. */
		if DIE :: pend[me] = x fi;
		if DIE :: own[x] = 0 fi;
#ifdef PEND_EARLY
		if DIE :: pend[me] = NIL fi;
#endif
		/* bp_q_put */
		if DIE :: t = tail fi;
		do
		:: if
		   DIE
		   :: atomic { sl = slap[SLOT(t)]; si = sidx[SLOT(t)] }
		   fi;
		   if
		   :: sl == LAP(t) && si == EMPTY ->
			if
			DIE
			:: atomic {
#ifndef NO_LAP
				slap[SLOT(t)] == LAP(t) &&
#endif
				sidx[SLOT(t)] == EMPTY ->
				slap[SLOT(t)] = LAP(t);
				sidx[SLOT(t)] = x;
				assert(holder[x] == me);
				holder[x] = QUEUED;
				qseq[x] = gseq;
				gseq++
			   };
			   if
			   DIE
			   :: atomic {
				if
				:: tail == t -> tail = t + 1
				:: tail != t -> skip
				fi;
				x = NIL;	/* enqueued */
			   }
			   fi;
			   break
			:: atomic {
#ifndef NO_LAP
				!(slap[SLOT(t)] == LAP(t) &&
				  sidx[SLOT(t)] == EMPTY) -> skip
#else
				sidx[SLOT(t)] != EMPTY -> skip
#endif
			   }	/* lost the slot: look again */
			fi
		   :: sl == LAP(t) && si != EMPTY ->
			/* Filled, the tail not moved on: move it. */
			if
			DIE
			:: atomic {
				if
				:: tail == t -> tail = t + 1; t++
				:: tail != t -> t = tail
				fi
			   }
			fi
		   :: sl + 1 == LAP(t) ->
			assert(si != EMPTY);	/* else corrupt */
			break			/* full */
		   :: sl > LAP(t) ->
			/* Ahead: the tail moved past, or position t was
			 * filled and consumed before its tail CAS. */
			if
			DIE
#ifndef AHEAD_CORRUPT
			:: atomic {
				if
				:: tail == t && sl == LAP(t) + 1 ->
					tail = t + 1; t++
				:: tail == t && sl != LAP(t) + 1 ->
					assert(false)	/* corrupt */
				:: tail != t -> t = tail
				fi
			   }
#else
			:: atomic {
				assert(tail != t);	/* BP_Q_CORRUPT */
				t = tail
			   }
#endif
			fi
		   :: else -> assert(false)	/* corrupt: two laps behind */
		   fi
		od;
		if
		:: x != NIL ->	/* full: still ours */
			if DIE :: own[x] = me fi
		:: else -> skip
		fi;
		if DIE :: pend[me] = NIL fi;
next:
		skip
	}
	/* Done: what a full queue left goes back to the free set. */
	if
	DIE
	:: atomic {
		if
		:: x != NIL ->
			assert(holder[x] == me);
			own[x] = 0; free[x] = true; holder[x] = 0
		:: x == NIL -> skip
		fi;
		done[me] = true
	   }
	fi;
	goto end;
died:
	gone[me] = true;
end:
	skip
}

proctype consumer(byte me)
{
	byte h, sl, si, x, mine = NIL, ops;
	bool mortal = (me == 3);

	for (ops : 1 .. COPS) {
		if
		:: mine != NIL ->	/* give back the last one */
			if
			DIE
			:: atomic {
				assert(holder[mine] == me && own[mine] == me);
				own[mine] = 0; free[mine] = true;
				holder[mine] = 0; mine = NIL
			   }
			fi
		:: else -> skip
		fi;
		/* bp_q_get */
		if DIE :: h = head fi;
		do
		:: if
		   DIE
		   :: atomic { sl = slap[SLOT(h)]; si = sidx[SLOT(h)] }
		   fi;
		   if
		   :: sl == LAP(h) + 1 ->
			/* Consumed by one that died before moving head. */
			if DIE :: atomic { head = h + 1; h++ } fi
		   :: sl == LAP(h) && si == EMPTY ->
			break		/* empty */
		   :: sl == LAP(h) && si != EMPTY ->
#ifndef CONSUME_FIRST
			/*
			 * The library's check (bp_q_get): a queued buffer's
			 * record says free, so no correct run gets EUCLEAN.
			 */
			if DIE :: atomic { x = si; assert(own[x] == 0); own[x] = me } fi;
#endif
			if
			DIE
			:: atomic {
				x = si;
				slap[SLOT(h)] = LAP(h) + 1;
				sidx[SLOT(h)] = EMPTY;
				assert(holder[x] == QUEUED);
				holder[x] = me;
				assert(qseq[x] > lastseq);	/* FIFO */
				lastseq = qseq[x];
				mine = x
			   }
			fi;
#ifdef CONSUME_FIRST
			if DIE :: own[x] = me fi;
#endif
			if DIE :: head = h + 1 fi;
			break
		   :: else -> assert(false)	/* corrupt */
		   fi
		od
	}
	if
	DIE
	:: done[me] = true	/* keeps mine: audited as held */
	fi;
	goto end;
died:
	gone[me] = true;
end:
	skip
}

/* The kernel's reconciliation, every client not gone is live. */
inline reconcile()
{
	d_step {
		i = 0;
		do
		:: i < N -> fr[i] = free[i]; qd[i] = false; held[i] = false;
			i++
		:: else -> break
		od;
		/* 1. The queue from head, as a consumer walks it.  The tail
		 * a correct queue can show: one behind head (its producer
		 * stopped before the tail CAS, the position consumed since)
		 * to CAP + 1 ahead (the slot at head consumed, head not moved
		 * yet, and CAP positions filled after it). */
		assert(tail + 1 >= head && tail <= head + CAP + 1);
		p = head;
		n = 0;
		do
		:: n > CAP -> break
		:: else ->
			sl = slap[SLOT(p)];
			si = sidx[SLOT(p)];
			if
			:: sl == LAP(p) + 1 ->	/* consumed, head not moved */
				assert(n == 0)
			:: sl == LAP(p) && si == EMPTY -> break
			:: sl == LAP(p) && si != EMPTY ->
				assert(si < N && !fr[si] && !qd[si]);
				qd[si] = true
			:: sl + 1 == LAP(p) -> break	/* full */
			:: else -> assert(false)
			fi;
			p++;
			n++
		od;
		/* 2. Announcements: the free set and the queue win. */
		c = 1;
		do
		:: c < 5 ->
			if
			:: gone[c] -> pend[c] = NIL
			:: !gone[c] && pend[c] != NIL && !fr[pend[c]] &&
			   !qd[pend[c]] -> held[pend[c]] = true
			:: else -> skip
			fi;
			c++
		:: else -> break
		od;
		/* 3. own[] */
		i = 0;
		do
		:: i < N ->
			if
			:: fr[i] -> own[i] = 0
#ifndef KEEP_ALL_OWN
			:: !fr[i] && qd[i] && own[i] != 0 &&
			   own[i] == qconsumer && !gone[own[i]] ->
				skip	/* a dequeue in flight */
#endif
			:: !fr[i] && !qd[i] && own[i] != 0 && !gone[own[i]] ->
				held[i] = true
			:: else -> own[i] = 0
			fi;
			i++
		:: else -> break
		od;
		/* 4. Give back what nobody holds. */
		i = 0;
		do
		:: i < N ->
			if
			:: !fr[i] && !qd[i] && !held[i] ->
				assert(holder[i] != 0 && holder[i] != QUEUED);
				assert(gone[holder[i]]);
				holder[i] = 0;
				free[i] = true;
				fr[i] = true
			:: else -> skip
			fi;
			i++
		:: else -> break
		od;
		if
		:: qconsumer != 0 && gone[qconsumer] -> qconsumer = 0
		:: else -> skip
		fi
	}
}

active proctype kernel()
{
	byte i, c, p, n, sl, si;
	bool fr[N], qd[N], held[N], rec1, rec3;

	do
	:: gone[1] && !rec1 -> reconcile(); rec1 = true
	:: gone[3] && !rec3 ->
		reconcile();
		rec3 = true;
		/* the restarted consumer takes the role */
		atomic { qconsumer = 4; run consumer(4) }
	:: (done[1] || rec1) && done[2] && (done[3] || done[4]) -> break
	od;

	/* The end: an audit (the queue still open), then the books. */
	reconcile();
	i = 0;
	do
	:: i < N ->
		if
		:: fr[i] -> assert(holder[i] == 0 && !qd[i] && !held[i])
		:: qd[i] -> assert(holder[i] == QUEUED && !held[i])
		:: else ->
			assert(held[i] && holder[i] != 0 &&
			       holder[i] != QUEUED && !gone[holder[i]] &&
			       own[i] == holder[i])
		fi;
		assert(holder[i] != QUEUED || qd[i]);
		i++
	:: else -> break
	od
}

init {
	atomic {
		run producer(1, OPS1);
		run producer(2, OPS2);
		run consumer(3)
	}
}
