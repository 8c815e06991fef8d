#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Model-check the shared free list (selftests/model/freelist.pml) and the
# ownership records with the kernel's reconciliation (ownership.pml)
# with Spin: both must hold under every interleaving and every process
# death, and the checker must find the bug in each planted mutation (a
# tag too narrow; an announcement after the CAS).  Prints KTAP; exits 1
# on any failure.
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

run_own() { # extra spin flags
	spin -a "$@" "$models/ownership.pml" >/dev/null
	gcc -O2 -w -DSAFETY -DCOLLAPSE -o pan pan.c
	./pan -m400000 2>&1 || true
}

echo "TAP version 13"
echo "1..4"
out=$(run 256)
errors=$(printf '%s\n' "$out" | sed -n 's/.*errors: \([0-9]*\).*/\1/p')
states=$(printf '%s\n' "$out" | sed -n 's/^ *\([0-9e+.]*\) states, stored.*/\1/p')
if [ "$errors" = 0 ] && [ -n "$states" ]; then
	echo "ok 1 model: free list safe under every interleaving and death ($states states)"
else
	echo "not ok 1 model: free list safe under every interleaving and death"
	printf '%s\n' "$out" | sed 's/^/# /' | head -n 20
	fail=1
fi
out=$(run 2)
errors=$(printf '%s\n' "$out" | sed -n 's/.*errors: \([0-9]*\).*/\1/p')
if [ -n "$errors" ] && [ "$errors" -gt 0 ]; then
	echo "ok 2 model: a 1-bit tag's ABA is found (the check can fail)"
else
	echo "not ok 2 model: a 1-bit tag's ABA is found (the check can fail)"
	fail=1
fi
out=$(run_own)
errors=$(printf '%s\n' "$out" | sed -n 's/.*errors: \([0-9]*\).*/\1/p')
states=$(printf '%s\n' "$out" | sed -n 's/^ *\([0-9e+.]*\) states, stored.*/\1/p')
if [ "$errors" = 0 ] && [ -n "$states" ]; then
	echo "ok 3 model: ownership records and reconciliation exact under every interleaving and death ($states states)"
else
	echo "not ok 3 model: ownership records and reconciliation exact under every interleaving and death"
	printf '%s\n' "$out" | sed 's/^/# /' | head -n 20
	fail=1
fi
out=$(run_own -DANNOUNCE_LATE)
errors=$(printf '%s\n' "$out" | sed -n 's/.*errors: \([0-9]*\).*/\1/p')
if [ -n "$errors" ] && [ "$errors" -gt 0 ]; then
	echo "ok 4 model: an announcement after the CAS is found (the check can fail)"
else
	echo "not ok 4 model: an announcement after the CAS is found (the check can fail)"
	fail=1
fi
exit $fail
