#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# CI's smoke test of the benchmarks: make bench QUICK=1 must run, and
# produce the table, the CSV with every peer and the ratios, and the
# plots.  Never judges the numbers.  Prints KTAP; exits 1 on a failure.
set -u
cd "$(dirname "$0")/.." || exit 1
out=build/bench
log=$out/smoke.log
mkdir -p "$out"
rm -f "$out"/*.png "$out"/results.csv
fail=0
n=0

t() { # ok-condition-status description
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n bench: $2"
	else
		echo "not ok $n bench: $2"
		fail=1
	fi
}

echo "TAP version 13"
echo "1..10"
# The defaults of bench/run.sh (rounds, waits), whatever the caller set.
env -u BENCH_ROUNDS -u BENCH_XCORE_WAIT -u BENCH_XCORE_FASTEST \
	make -s bench QUICK=1 > "$log" 2>&1
st=$?
t $st "make bench QUICK=1 ran (log: $log)"
[ $st = 0 ] || tail -n 20 "$log" | sed 's/^/# /'

missing=
for p in bufpool bufpool-nocache bufpool-lto floor-lifo floor-cas dpdk-c256 dpdk-uc256 \
	dpdk-c256-lfs dpdk-c0 dpdk-c0-lfs seed-mutexmap seed-boundedq glibc jemalloc tcmalloc \
	mimalloc copy-ring bufpool-queue rte_ring; do
	grep -q "^host,[a-z]*,[0-9]*,[0-9]*,[0-9]*,$p," "$out/results.csv" \
		2>/dev/null || missing="$missing $p"
done
[ -z "$missing" ]
t $? "every peer in the CSV${missing:+ (missing:$missing)}"

grep -q '^host,bulk,2048,.*,bufpool,' "$out/results.csv" 2>/dev/null &&
	grep -q '^host,bulk,2048,.*,dpdk-c256,' "$out/results.csv" &&
	grep -q '^host,bulk,2048,.*,dpdk-uc256,' "$out/results.csv"
t $? "the bulk calls of bufpool and DPDK (lcore and user-owned cache)"

# DPDK 25.11 (bench/run.sh, scripts/dpdk25.sh): its peers in every
# scenario that has 22.11's, unless the run said why it skipped them.
# shellcheck disable=SC2086
why=$(sed -n 's/^# dpdk25: skipped: //p' "$log" | head -n 1)
if [ -n "$why" ]; then
	n=$((n + 1))
	echo "ok $n bench: DPDK 25.11 peers # SKIP $why"
else
	# Named after the chroot's release (dpdk25-c256, ..., rte_ring25).
	peers=$(scripts/dpdk25.sh peers 2>/dev/null | tr , ' ')
	y=${peers%%-*}
	missing=
	for s in burst bulk handoff pipeline; do
		for p in "${y:-dpdk25}-c256" "${y:-dpdk25}-uc256"; do
			grep -q "^host,$s,[0-9]*,[0-9]*,[0-9]*,$p," "$out/results.csv" \
				2>/dev/null || missing="$missing $s/$p"
		done
	done
	for p in ${peers:-dpdk25-c256-lfs dpdk25-c0 dpdk25-c0-lfs rte_ring25}; do
		grep -q "^host,[a-z]*,[0-9]*,[0-9]*,[0-9]*,$p," "$out/results.csv" \
			2>/dev/null || missing="$missing $p"
	done
	[ -z "$missing" ]
	t $? "DPDK 25.11 peers in the CSV${missing:+ (missing:$missing)}"
fi

grep -q '^vm,burst,2048,.*,bufpool,' "$out/results.csv" 2>/dev/null
t $? "bufpool through /dev/bufpool in the VM"

# Between processes (bench/mp_bench.c): bufpool's queues, DPDK's
# multi-process mode (unless the run said why not), and the crash cell
# of each (its failed column: buffers lost), on the host and in the VM.
missing=
for c in procs,2048,2,1,bufpool-queue procs,65536,2,1,bufpool-queue \
	procs-crash,2048,2,1,bufpool-queue; do
	grep -q "^host,$c," "$out/results.csv" 2>/dev/null ||
		missing="$missing host:$c"
done
grep -q '^vm,procs-crash,2048,2,1,bufpool-queue,' "$out/results.csv" \
	2>/dev/null || missing="$missing vm:procs-crash/bufpool-queue"
why=$(sed -n 's/^# dpdk-mp: skipped: //p' "$log" | head -n 1)
if [ -z "$why" ]; then
	for c in procs,2048,2,1,dpdk-mp procs-crash,2048,2,1,dpdk-mp; do
		grep -q "^host,$c," "$out/results.csv" 2>/dev/null ||
			missing="$missing host:$c"
	done
fi
[ -z "$missing" ]
t $? "between processes: bufpool's queues${why:- and DPDK multi-process}, crash cells${missing:+ (missing:$missing)}${why:+ (dpdk-mp skipped: $why)}"

# Each host bufpool row carries its ratio to the best other peer.
awk -F, 'NR > 1 && $1 == "host" && $6 == "bufpool" && $14 == "" { bad = 1 }
	END { exit bad }' "$out/results.csv" 2>/dev/null &&
	grep -q '^host,.*,bufpool,' "$out/results.csv"
t $? "a ratio to the best peer on every bufpool row"

# Scaling runs (bench/matrix --threads, BENCH_THREADS): every count
# named, for bufpool, DPDK and a floor, burst and bulk, 12 threads
# beyond the default pools' 8 caches (a pool and a cache for each); a
# count out of 1..32, or an empty or signed one, refused, by the
# matrix and by bench/run.sh.
m=$out/threads-smoke.csv
bench/matrix --quick --scenarios burst,bulk --sizes 2048 --threads 1,12 \
	--peers bufpool,dpdk-c256,floor-lifo > "$m" 2>> "$log"
st=$?
missing=
for c in burst,2048,1,1,bufpool burst,2048,12,32,bufpool bulk,2048,12,256,bufpool \
	burst,2048,12,1,dpdk-c256 bulk,2048,12,32,dpdk-c256 \
	burst,2048,12,256,floor-lifo; do
	grep -q "^$c," "$m" 2>/dev/null || missing="$missing $c"
done
for bad in 0 33 1,x 1,,2 ,1 "1," +2; do
	bench/matrix --quick --threads "$bad" --peers none > /dev/null 2>&1
	[ $? = 2 ] || missing="$missing (--threads $bad accepted)"
done
# bench/run.sh refuses such a BENCH_THREADS before it runs anything.
for bad in 0 33 1,,2 99999999999999999999 "$(printf '1\n2')"; do
	BENCH_THREADS=$bad sh bench/run.sh --quick > /dev/null 2>&1
	[ $? = 2 ] || missing="$missing (BENCH_THREADS=$bad accepted)"
done
[ $st = 0 ] && [ -z "$missing" ]
t $? "bench/matrix --threads 1,12: every cell, bad counts refused${missing:+ (missing:$missing)}"

# Rounds (bench/run.sh, BENCH_ROUNDS; 2 in a quick run): the cells whose
# threads hand memory across cores measured in each round over every
# build (rounds.csv), one row a cell and peer kept, the lowest median,
# with the core-to-core probe before each round and the state before
# each such cell (xcore.txt); a count out of 1..9 refused before
# anything runs.  One CPU has no cross-core state to probe.
if [ "$(nproc 2>/dev/null || echo 1)" -lt 2 ]; then
	n=$((n + 1))
	echo "ok $n bench: rounds # SKIP one CPU: no core-to-core state"
else
	missing=
	for c in handoff,2048,2,1,bufpool pipeline,2048,2,1,dpdk-c256 \
		queue,2048,2,1,bufpool-queue procs,2048,2,1,bufpool-queue \
		procs,2048,2,1,copy-ring; do
		k=$(grep -c "^host,$c," "$out/rounds.csv" 2>/dev/null)
		[ "${k:-0}" -ge 2 ] || missing="$missing $c:rounds=${k:-0}"
		k=$(grep -c "^host,$c," "$out/results.csv" 2>/dev/null)
		[ "${k:-0}" = 1 ] || missing="$missing $c:kept=${k:-0}"
	done
	awk -F, 'NR > 1 && $2 ~ /^(handoff|pipeline|queue|procs)$/ {
			k = $1 "," $2 "," $3 "," $4 "," $5 "," $6
			if (!(k in lo) || $7 + 0 < lo[k]) lo[k] = $7 + 0
		}
		END { while ((getline < f) > 0) {
			split($0, c, ",")
			k = c[1] "," c[2] "," c[3] "," c[4] "," c[5] "," c[6]
			if ((k in lo) && c[7] + 0 != lo[k]) bad = 1
		} exit bad }' f="$out/results.csv" "$out/rounds.csv" 2>/dev/null ||
		missing="$missing (a kept row not the lowest median)"
	for p in "round 1" "round 2" "mp_bench round 1" "mp_bench round 2"; do
		grep -q "^== ${p}[ :].*xcore_probe: [0-9]* ns round trip" \
			"$out/xcore.txt" 2>/dev/null ||
			missing="$missing (no probe line for $p)"
	done
	# ... the state each kept row was measured in (xcore_states.sh) ...
	grep -q '^handoff,2048,2,1,bufpool: [0-9.]* ([fs][a-z]* [0-9]* ns) | ' \
		"$out/xcore-kept.txt" 2>/dev/null &&
		grep -q '^kept rows measured after a slow gate: [0-9]' \
		"$out/xcore-kept.txt" ||
		missing="$missing (no state of the kept rows)"
	# ... and the state before each such cell, for every peer of it.
	for c in handoff,2048,2,1,bufpool handoff,2048,2,1,dpdk-uc256 \
		queue,2048,2,32,rte_ring procs,2048,2,1,bufpool-queue; do
		grep -q "^# xcore: $c: [0-9]* ns round trip" "$out/xcore.txt" \
			2>/dev/null || missing="$missing (no state before $c)"
	done
	# A wait or a floor that is not a number: said, and the default.
	for v in BENCH_XCORE_WAIT BENCH_XCORE_FASTEST; do
		env "$v=x1" bench/matrix --quick --peers bufpool \
			--scenarios handoff --sizes 64 2>&1 >/dev/null |
			grep -q "^# $v=x1: not a number" ||
			missing="$missing ($v=x1 not refused)"
	done
	for bad in 0 10 x 1,2 " "; do
		BENCH_ROUNDS=$bad sh bench/run.sh --quick > /dev/null 2>&1
		[ $? = 2 ] || missing="$missing (BENCH_ROUNDS='$bad' accepted)"
	done
	[ -z "$missing" ]
	t $? "rounds: cross-core cells measured in each round, the lowest median kept${missing:+ (missing:$missing)}"
fi

ok=0
for f in latency threads pipeline; do
	[ -s "$out/$f.png" ] || ok=1
done
t $ok "plots: latency.png threads.png pipeline.png"
exit $fail
