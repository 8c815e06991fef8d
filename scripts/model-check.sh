#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Model-check the shared free list (selftests/model/freelist.pml), the
# ownership records with the kernel's reconciliation (ownership.pml) and
# the magazine protocol with both (magazine.pml), a queue with its
# ownership protocol (queue.pml) and the addressed handoff with the
# live-client map (handoff.pml), and the shared path of threads without
# a cache with its in-flight counts (shared.pml) with Spin: each must
# hold under every interleaving and every process death, and the checker
# must find the bug in each planted mutation (a tag too narrow; an
# announcement after the CAS; a magazine named after its announcement is
# cleared; a slot consumed before its record, an announcement cleared
# before the CAS, a slot CAS without its lap, the kernel clearing a
# dequeue in flight, an unmoved tail behind a consumed slot called
# corrupt; a receiver's live bit read before the handoff's store; own[]
# cleared after a give's push; a shared-path thread not counted in flight, the kernel ignoring
# a busy client, own[] cleared after a shared give's push, a gone
# client's pend_buf trusted; ABI 1.7 cache marks: a spill or a flush
# that pushes before it clears its marks, the kernel keeping a gone
# cache's marks, the kernel rewriting the marks in a magazine a stale
# pending names; library 1.9.1: a refill that marks a magazine's buffers
# before its pop takes it).
# Prints KTAP; exits 1 on any failure.
set -eu

models=$(cd "$(dirname "$0")/../selftests/model" && pwd)
model=$models/freelist.pml
work=$(mktemp -d "${TMPDIR:-/tmp}/bufpool-model.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
cd "$work"
fail=0

run() { # tagmod
	spin -a -DTAGMOD="$1" "$model" >/dev/null
	gcc -O2 -w -DSAFETY -DCOLLAPSE -o pan pan.c
	./pan -m200000 2>&1 || true
}

run_model() { # model spin-flags...
	m=$1
	shift
	spin -a "$@" "$models/$m" >/dev/null
	gcc -O2 -w -DSAFETY -DCOLLAPSE -o pan pan.c
	./pan -m400000 2>&1 || true
}

# ok when the run found no error and explored states; else its report.
holds() { # number description output
	errors=$(printf '%s\n' "$3" | sed -n 's/.*errors: \([0-9]*\).*/\1/p')
	states=$(printf '%s\n' "$3" | sed -n 's/^ *\([0-9e+.]*\) states, stored.*/\1/p')
	if [ "$errors" = 0 ] && [ -n "$states" ]; then
		echo "ok $1 model: $2 ($states states)"
	else
		echo "not ok $1 model: $2"
		printf '%s\n' "$3" | sed 's/^/# /' | head -n 20
		fail=1
	fi
}

# ok when the run found the planted bug.
finds() { # number description output
	errors=$(printf '%s\n' "$3" | sed -n 's/.*errors: \([0-9]*\).*/\1/p')
	if [ -n "$errors" ] && [ "$errors" -gt 0 ]; then
		echo "ok $1 model: $2"
	else
		echo "not ok $1 model: $2"
		fail=1
	fi
}

echo "TAP version 13"
echo "1..26"
holds 1 "free list safe under every interleaving and death" "$(run 256)"
finds 2 "a 1-bit tag's ABA is found (the check can fail)" "$(run 2)"
holds 3 "ownership records and reconciliation exact under every interleaving and death" \
	"$(run_model ownership.pml)"
finds 4 "an announcement after the CAS is found (the check can fail)" \
	"$(run_model ownership.pml -DANNOUNCE_LATE)"
holds 5 "magazine moves, records and reconciliation exact under every interleaving and death" \
	"$(run_model magazine.pml)"
finds 6 "a magazine named after its announcement is cleared is found (the check can fail)" \
	"$(run_model magazine.pml -DLATE_RECORD)"
holds 7 "queue put/get, records and reconciliation exact and FIFO under every interleaving and death" \
	"$(run_model queue.pml)"
finds 8 "a slot consumed before own[] is written is found (the check can fail)" \
	"$(run_model queue.pml -DCONSUME_FIRST)"
finds 9 "pend_buf cleared before the slot CAS is found (the check can fail)" \
	"$(run_model queue.pml -DPEND_EARLY)"
finds 10 "a slot CAS without its lap (ABA) is found (the check can fail)" \
	"$(run_model queue.pml -DNO_LAP)"
finds 11 "the kernel clearing a dequeue in flight is found (the check can fail)" \
	"$(run_model queue.pml -DKEEP_ALL_OWN)"
finds 12 "a consumed slot at an unmoved tail called corrupt is found (the check can fail)" \
	"$(run_model queue.pml -DAHEAD_CORRUPT)"
holds 13 "addressed handoff, adoption and reconciliation exact under every interleaving and death" \
	"$(run_model handoff.pml)"
finds 14 "a live bit read before the handoff's store is found (the check can fail)" \
	"$(run_model handoff.pml -DCHECK_FIRST)"
finds 15 "own[] cleared after the give's push is found by the record-wins rule (the check can fail)" \
	"$(run_model ownership.pml -DCLEAR_LATE)"
holds 16 "shared path, in-flight counts and reconciliation exact under every interleaving and death" \
	"$(run_model shared.pml)"
# The kernel's own checks off (-DNO_KASSERT): each bug must show in
# what the threads see.
finds 17 "a thread without a cache not counted in flight is found (the check can fail)" \
	"$(run_model shared.pml -DNO_INFLIGHT -DNO_KASSERT)"
finds 18 "the kernel giving back what nobody names while busy is found (the check can fail)" \
	"$(run_model shared.pml -DIGNORE_BUSY -DNO_KASSERT)"
finds 19 "own[] cleared after a shared give's push is found (the check can fail)" \
	"$(run_model shared.pml -DCLEAR_LATE -DNO_KASSERT)"
finds 20 "a gone client's pend_buf taken for its record is found (the check can fail)" \
	"$(run_model shared.pml -DTRUST_GONE_PEND -DNO_KASSERT)"
holds 21 "magazine spills from full magazines with cache marks exact under every interleaving and death" \
	"$(run_model magazine.pml -DSPILL)"
finds 22 "a spill that pushes before it clears its marks is found (the check can fail)" \
	"$(run_model magazine.pml -DSPILL -DMARK_LATE)"
finds 23 "the kernel keeping a gone cache's marks is found (the check can fail)" \
	"$(run_model magazine.pml -DKEEP_GONE_MARKS)"
finds 24 "the kernel rewriting marks in a magazine a stale pending names is found (the check can fail)" \
	"$(run_model magazine.pml -DPENDING_REWRITE)"
finds 25 "a flush that pushes before it clears its marks is found (the check can fail)" \
	"$(run_model magazine.pml -DMARK_LATE)"
finds 26 "a refill that marks a magazine before its pop takes it is found (the check can fail)" \
	"$(run_model magazine.pml -DMARK_EARLY)"
exit $fail
