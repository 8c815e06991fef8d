#!/bin/sh
# SPDX-License-Identifier: MIT
#
# usage: bench/xcore_states.sh XCORE.txt ROUNDS.csv
#
# In which core-to-core state each cross-core cell of a run was measured
# (bench/RESULTS.md, "Rounds"): XCORE.txt and ROUNDS.csv are a run's
# build/bench/xcore.txt and build/bench/rounds.csv.  Before every such
# cell the benchmark printed one "# xcore: CELL: N ns round trip ..."
# line (bench_xcore_gate()) and then the cell's row, so the k-th line of
# a cell goes with the k-th row of that cell (where, scenario, size,
# threads, burst, peer).  Prints, for each host cell and peer, the row
# bench/run.sh kept (the round with the lowest median), the state its
# gate found (fast or slow, and the round trip), and every round's
# median with its state; then how many kept rows were measured after a
# gate that found the slow state, which a reader should not compare.
set -eu
[ $# = 2 ] || { echo "usage: $0 XCORE.txt ROUNDS.csv" >&2; exit 2; }

awk -F, '
FNR == NR {
	if ($0 !~ /^# xcore: /)
		next
	line = $0
	sub(/^# xcore: /, "", line)
	key = line
	sub(/: .*/, "", key)
	rt = line
	sub(/ ns round trip.*/, "", rt)
	sub(/.*: /, "", rt)
	n = ++gates[key]
	state[key, n] = (line ~ /\), slow,/ ? "slow" : "fast") " " rt " ns"
	next
}
FNR == 1 { next }
$1 == "host" && $2 ~ /^(handoff|pipeline|queue|procs)$/ {
	key = $2 "," $3 "," $4 "," $5 "," $6
	n = ++rows[key]
	s = (key, n) in state ? state[key, n] : "no probe"
	if (!(key in kept) || $7 + 0 < kept[key] + 0) {
		kept[key] = $7
		kstate[key] = s
	}
	every[key] = every[key] (every[key] == "" ? "" : "; ") $7 " (" s ")"
	if (!(key in seen)) {
		seen[key] = 1
		order[++nk] = key
	}
}
END {
	print "cell,peer: kept p50 ns (its state) | every round"
	for (i = 1; i <= nk; i++) {
		key = order[i]
		print key ": " kept[key] " (" kstate[key] ") | " every[key]
		if (kstate[key] ~ /^slow/)
			slow = slow " " key
	}
	printf "kept rows measured after a slow gate: %d%s\n",
		split(slow, dummy, " "), slow
}' "$1" "$2"
