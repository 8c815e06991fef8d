#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: bench/compare.sh BEFORE_TREE AFTER_TREE [RUNS]
# The fast path of two builds side by side: bench/matrix (the shared
# library) and bench/matrix-lto (-flto, the fast path inlined into the
# caller) of each tree, run interleaved RUNS times (default 7) so that
# the machine's drift hits both alike; one thread, 2 KiB buffers,
# bursts of 1, 32 and 256.  Prints the median p50 in ns per pair of each
# cell and side.  Build both trees first (make benches).
set -eu
before=$1 after=$2 runs=${3:-7}
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
i=0
while [ "$i" -lt "$runs" ]; do
	for side in before after; do
		if [ "$side" = before ]; then dir=$before; else dir=$after; fi
		for bin in matrix matrix-lto; do
			peer=bufpool
			[ "$bin" = matrix-lto ] && peer=bufpool-lto
			(cd "$dir" && "bench/$bin" --peers "$peer" --scenarios burst \
				--sizes 2048 --secs 0.2 2>/dev/null) |
			awk -F, -v s="$side" -v b="$bin" '$3 == 1 { print s, b, $4, $6 }'
		done
	done
	i=$((i + 1))
done > "$raw"
echo "build       burst  before  after   (median p50, ns per acquire+release, $runs runs)"
for bin in matrix matrix-lto; do
	for burst in 1 32 256; do
		med() {
			awk -v s="$1" -v b="$bin" -v n="$burst" \
				'$1 == s && $2 == b && $3 == n { print $4 }' "$raw" |
			sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
		}
		printf '%-11s %5s  %6s  %6s\n' "$bin" "$burst" "$(med before)" "$(med after)"
	done
done
