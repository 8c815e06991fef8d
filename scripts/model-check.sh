#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Model-check the shared free list (selftests/model/freelist.pml) with
# Spin: it must hold under every interleaving and every process death,
# and the checker must find the bug when the tag is made too narrow.
# Prints KTAP; exits 1 on any failure.
set -eu

model=$(cd "$(dirname "$0")/../selftests/model" && pwd)/freelist.pml
work=$(mktemp -d "${TMPDIR:-/tmp}/bufpool-model.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
cd "$work"
fail=0

run() { # tagmod
	spin -a -DTAGMOD="$1" "$model" >/dev/null
	gcc -O2 -DSAFETY -DCOLLAPSE -o pan pan.c
	./pan -m200000 2>&1 || true
}

echo "TAP version 13"
echo "1..2"
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
exit $fail
