#!/bin/sh
# SPDX-License-Identifier: MIT
#
# usage: bench/table.sh RUN1.csv RUN2.csv [BUFPOOL_PEER [PEERS_RE [SCEN_RE]]]
#
# The leading table of bench/RESULTS.md from two runs of make bench
# (build/bench/results.csv of each): for every host cell in which
# bufpool and some DPDK peer both ran, bufpool's figure, the best DPDK
# figure of the cell (either release, either cache: the peer whose name
# starts with "dpdk"), and their ratio, best DPDK / bufpool (above 1:
# bufpool ahead), at the median and at p99, run 1 / run 2.  A "<" marks
# a ratio below 1.  BUFPOOL_PEER: the row to judge (default bufpool, the
# shared library; bufpool-lto is the same code inlined); PEERS_RE: the
# peers it is judged against (default ^dpdk; ^rte_ring for the queues,
# ^dpdk-mp between processes); SCEN_RE: the scenarios (default all).
set -eu
[ $# -ge 2 ] || { echo "usage: $0 RUN1.csv RUN2.csv [PEER [PEERS_RE [SCEN_RE]]]" >&2; exit 2; }
peer=${3:-bufpool}
them=${4:-^dpdk}
scen=${5:-.}

awk -F, -v me="$peer" -v them="$them" -v scen="$scen" '
FNR == 1 { run++; next }
$1 != "host" || $2 !~ scen { next }
{
	cell = $2 "," $3 "," $4 "," $5
	if (!(cell in seen)) { seen[cell] = 1; order[++n] = cell }
	if ($6 == me) { b50[run, cell] = $7; b99[run, cell] = $8 }
	else if ($6 ~ them && $12 == 0) {
		if (!((run, cell) in d50) || $7 + 0 < d50[run, cell] + 0) {
			d50[run, cell] = $7; d50p[run, cell] = $6
		}
		if (!((run, cell) in d99) || $8 + 0 < d99[run, cell] + 0)
			d99[run, cell] = $8
	}
}
function r(a, b) { return b > 0 ? a / b : 0 }
function mark(x) { return sprintf("%s%.2f", x < 1 ? "<" : "", x) }
END {
	print "| scenario | size | threads | burst | " me " p50 ns | best peer p50 ns (which) | p50 ratio | " me " p99 ns | best peer p99 ns | p99 ratio |"
	print "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"
	for (i = 1; i <= n; i++) {
		c = order[i]
		if (!((1, c) in b50) || !((1, c) in d50) ||
		    !((2, c) in b50) || !((2, c) in d50))
			continue
		split(c, k, ",")
		p1 = r(d50[1, c], b50[1, c]); p2 = r(d50[2, c], b50[2, c])
		q1 = r(d99[1, c], b99[1, c]); q2 = r(d99[2, c], b99[2, c])
		total++
		if (p1 >= 1 && p2 >= 1) ok50++
		if (q1 >= 1 && q2 >= 1) ok99++
		printf "| %s | %s | %s | %s | %s / %s | %s / %s (%s / %s) | %s / %s | %s / %s | %s / %s | %s / %s |\n",
			k[1], k[2], k[3], k[4], b50[1, c], b50[2, c],
			d50[1, c], d50[2, c], d50p[1, c], d50p[2, c],
			mark(p1), mark(p2), b99[1, c], b99[2, c],
			d99[1, c], d99[2, c], mark(q1), mark(q2)
	}
	printf "\n%s at least 1.0x the best of %s in both runs: %d of %d cells at p50, %d of %d at p99.\n",
		me, them, ok50, total, ok99, total
}' "$1" "$2"
