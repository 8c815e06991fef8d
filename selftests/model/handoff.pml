/*
 * SPDX-License-Identifier: GPL-2.0
 *
 * Promela model of bufpool's addressed handoff (bufpool_handoff_to(),
 * bufpool_adopt(), <linux/bufpool.h> BUFPOOL_OWN_TO and the live-client
 * map) with the kernel's reconciliation, giver and receiver killed at
 * any step.  Each shared access of the C code is one step.
 *
 * Client 1 (the giver) takes a buffer from the free set (a set here, as
 * in queue.pml) and hands it to client 2, twice:
 *   own[x] = TO|2 (seq_cst); load live[2] (seq_cst); when clear, CAS
 *   own[x] from TO|2 back to 1: success, ESRCH and the giver still holds
 *   x (it gives it back to the free set); failure, the kernel already
 *   gave it back: 0.
 * Client 2 (the receiver) tries to adopt a buffer twice: load own[x];
 * when it is TO|2, CAS it to 2.  It keeps what it adopted.
 * Both may die between any two steps.  When one is gone the kernel
 * clears its live bit (a full barrier follows), and later, the others
 * running in between, reconciles in one atomic step: own[x] of a free
 * buffer is cleared; TO|r counts as in transit while r is not gone and
 * is cleared (the buffer goes back) once it is; a live client's own
 * record holds, a gone one's is cleared; the rest goes back to the free
 * set.  (A seq_cst store then load on each side, and the kernel's clear
 * then full barrier then reconciliation, make the model's interleaving
 * of whole steps the only orders to consider.)
 *
 * Checked over every interleaving and death:
 *  - no buffer is handed out twice: taken from the free set only when
 *    nobody holds it, adopted only when in transit to the adopter, taken
 *    back by the giver only when in transit and not yet given back;
 *  - the kernel never gives back what a live client holds or what is in
 *    transit to a live receiver;
 *  - once everyone is done and every death is reconciled, no record
 *    names a gone receiver (nothing sent to a dead receiver is lost),
 *    and after a final reconciliation every buffer is free, held by a
 *    live client whose own[] says so, or in transit to a live one.
 *
 * -DCHECK_FIRST has the giver load the receiver's live bit before its
 * store: "make model" expects the checker to find a buffer left
 * addressed to a receiver whose death was already reconciled.
 */
#define N	2	/* buffers */
#define OPS	3	/* handoffs, and adoption tries */
#define NIL	255
#define TO	16	/* own[] and holder[]: TO + r, in transit to r */

bool free[N] = true;
byte own[N];		/* 0, a client id, or TO + receiver */
bool live[3] = true;	/* the live-client map */
bool gone[3], done[3];
byte holder[N];		/* ghost: 0 free, c held by c, TO + r in transit */

/* "if DIE :: s fi": die here or do s (no else in an if that begins s). */
#define DIE	:: mortal -> goto died

proctype giver(byte me; byte r)
{
	byte x, ops;
	bool mortal = true, ok;

	for (ops : 1 .. OPS) {
		x = NIL;
		if
		DIE
		:: atomic {
			if
			:: free[0] -> x = 0
			:: !free[0] && free[1] -> x = 1
			:: !free[0] && !free[1] -> skip
			fi;
			if
			:: x != NIL ->
				free[x] = false;
				assert(holder[x] == 0);
				holder[x] = me;
				own[x] = me
			:: else -> goto next
			fi
		   }
		fi;
#ifndef CHECK_FIRST
		if
		DIE
		:: atomic {
			assert(holder[x] == me && own[x] == me);
			own[x] = TO + r;
			holder[x] = TO + r
		   }
		fi;
		if DIE :: ok = live[r] fi;
		if
		:: !ok ->
			if
			DIE
			:: atomic {
				own[x] == TO + r ->
				assert(holder[x] == TO + r);
				own[x] = me;
				holder[x] = me;
				ok = false	/* ESRCH: still ours */
			   }
			:: atomic {
				own[x] != TO + r ->
				assert(holder[x] != TO + r);
				ok = true	/* the kernel gave it back */
			   }
			fi
		:: else -> skip
		fi;
#else
		if DIE :: ok = live[r] fi;
		if
		:: ok ->
			if
			DIE
			:: atomic {
				assert(holder[x] == me && own[x] == me);
				own[x] = TO + r;
				holder[x] = TO + r
			   }
			fi
		:: else -> skip
		fi;
#endif
		if
		:: !ok ->	/* ESRCH: give it back */
			if
			DIE
			:: atomic {
				assert(holder[x] == me && own[x] == me);
				own[x] = 0; free[x] = true; holder[x] = 0
			   }
			fi
		:: else -> skip
		fi;
next:
		skip
	}
	if
	DIE
	:: done[me] = true
	fi;
	goto end;
died:
	gone[me] = true;
end:
	skip
}

proctype receiver(byte me)
{
	byte x, v, ops;
	bool mortal = true;

	for (ops : 1 .. OPS) {
		if
		DIE
		:: atomic { x = 0; v = own[0] }
		:: atomic { x = 1; v = own[1] }
		fi;
		if
		:: v == TO + me ->
			if
			DIE
			:: atomic {
				own[x] == TO + me ->
				assert(holder[x] == TO + me);
				own[x] = me;
				holder[x] = me
			   }
			:: atomic { own[x] != TO + me -> skip }
			fi
		:: else -> skip
		fi
	}
	if
	DIE
	:: done[me] = true	/* keeps what it adopted: audited */
	fi;
	goto end;
died:
	gone[me] = true;
end:
	skip
}

/* The kernel's reconciliation; clients not gone are live. */
inline reconcile()
{
	d_step {
		i = 0;
		do
		:: i < N ->
			held = false;
			if
			:: free[i] -> own[i] = 0
			:: !free[i] && own[i] > TO && !gone[own[i] - TO] ->
				held = true	/* in transit */
			:: !free[i] && own[i] != 0 && own[i] < TO &&
			   !gone[own[i]] -> held = true
			:: else -> own[i] = 0
			fi;
			if
			:: !free[i] && !held ->
				assert(holder[i] != 0);
				if
				:: holder[i] > TO ->
					assert(gone[holder[i] - TO])
				:: else -> assert(gone[holder[i]])
				fi;
				holder[i] = 0;
				free[i] = true
			:: else -> skip
			fi;
			i++
		:: else -> break
		od
	}
}

active proctype kernel()
{
	byte i;
	bool held, cl1, cl2, rec1, rec2;

	do
	:: gone[1] && !cl1 -> live[1] = false; cl1 = true
	:: gone[2] && !cl2 -> live[2] = false; cl2 = true
	:: cl1 && !rec1 -> reconcile(); rec1 = true
	:: cl2 && !rec2 -> reconcile(); rec2 = true
	:: (done[1] || rec1) && (done[2] || rec2) -> break
	od;
	/* Nothing addressed to a receiver whose death was reconciled. */
	i = 0;
	do
	:: i < N ->
		assert(!(own[i] > TO && gone[own[i] - TO]));
		i++
	:: else -> break
	od;
	/* The books, after a final reconciliation. */
	reconcile();
	i = 0;
	do
	:: i < N ->
		if
		:: free[i] -> assert(holder[i] == 0 && own[i] == 0)
		:: !free[i] && holder[i] > TO ->	/* not adopted yet */
			assert(!gone[holder[i] - TO] && own[i] == holder[i])
		:: else ->
			assert(holder[i] != 0 && !gone[holder[i]] &&
			       own[i] == holder[i])
		fi;
		i++
	:: else -> break
	od
}

init {
	atomic {
		run giver(1, 2);
		run receiver(2)
	}
}
