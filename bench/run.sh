#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make bench: run the benchmarks on this machine.  Reserves 2 MiB
# hugetlb pages for pagesize_bench when it can (root), and gives back
# what it reserved afterwards.
set -eu
cd "$(dirname "$0")"

quick=
[ "${1:-}" = --quick ] && quick=--quick

echo "== cache_bench $quick"
./cache_bench $quick

echo "== freelist_bench"
./freelist_bench

echo "== pagesize_bench"
nr=/proc/sys/vm/nr_hugepages
old=$(cat "$nr" 2>/dev/null || echo 0)
need=$((old + 520))
if [ -w "$nr" ]; then
	echo "$need" > "$nr" || true
fi
status=0
if [ -n "$quick" ]; then
	./pagesize_bench 64 200000 || status=$?
else
	./pagesize_bench || status=$?
fi
if [ -w "$nr" ]; then
	echo "$old" > "$nr" || true
fi
exit $status
