#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make bench: bufpool against what users would pick instead, in one run.
#
# Runs every build of bench/matrix that is here (glibc, with bufpool, the
# seeds' designs and DPDK 22.11; jemalloc; tcmalloc; mimalloc; DPDK 25.11
# in the sid chroot, scripts/dpdk25.sh), and, when
# BENCH_VM names the VM runner, bufpool through /dev/bufpool in the VM
# (relative figures only: the VM is emulated; its pool of 2 KiB buffers
# is spread, as the host's bufpool pools of 1 KiB and more are:
# bench_common.h, BENCH_SPREAD).  Then:
#   - a table on stdout, each bufpool row with its ratio to the best
#     other peer of the same scenario in this run;
#   - build/bench/results.csv, the same with the ratios;
#   - build/bench/*.png: latency percentiles per peer, throughput against
#     threads, the message pipeline against message size (gnuplot);
#   - freelist_bench, rseq_bench, stride_bench and pagesize_bench.
#
# usage: run.sh [--quick]   (--quick: short measurements, for CI smoke)
# BENCH_SCENARIOS=a,b,...: only these scenarios of bench/matrix (default:
# all of them; matrix --help lists them).
# BENCH_ROUNDS=R (1 to 9; default 3, 2 with --quick): how many times the
# cells whose threads hand memory from core to core (handoff, pipeline,
# queue, procs) are measured, in rounds over every build, each keeping
# the round with the lowest median for every peer alike (every round's
# rows in build/bench/rounds.csv), because those cells move with the
# machine's core-to-core latency (bench/xcore_probe, printed before each
# round, and into build/bench/xcore.txt), which on a VM changes as the
# hypervisor moves the vCPUs.  Before each such cell the benchmark also
# waits, up to 3 s (0.2 s quick; BENCH_XCORE_WAIT=S; at most 120 s in all
# per program), for the fast state
# (bench_common.h, bench_xcore_gate()), and says what it found, which
# goes into xcore.txt too.  A BENCH_XCORE_WAIT that is not a number from
# 0 to 1e9 is said and ignored.
# BENCH_THREADS=1,2,4,...: the burst and bulk cells' thread counts
# (default 1, 2 and 8; up to 8 counts, each 1 to 32): a scaling run on
# a larger machine, threads pinned one per CPU while there are CPUs
# enough.  Above 8, every scenario's pools of bench/matrix have 1024
# objects and a cache per thread (8192 and 8 otherwise), so compare
# such a run's other rows with runs of the same BENCH_THREADS only.
set -eu
cd "$(dirname "$0")"
out=../build/bench
mkdir -p "$out"

tlist=${BENCH_THREADS:-1,2,8}
# One line of counts of at most two digits: no newline for grep to read
# past, no number too large for the shell's test.
if [ "$(printf '%s' "$tlist" | wc -l | tr -d ' ')" != 0 ] ||
   ! printf '%s\n' "$tlist" | grep -Eq '^[0-9]{1,2}(,[0-9]{1,2}){0,7}$'; then
	echo "BENCH_THREADS=$tlist: up to 8 thread counts of 1 to 32, comma-separated" >&2
	exit 2
fi
tmax=$(echo "$tlist" | tr , '\n' | sort -n | tail -n 1)
tmin=$(echo "$tlist" | tr , '\n' | sort -n | head -n 1)
if [ "$tmin" -lt 1 ] || [ "$tmax" -gt 32 ]; then
	echo "BENCH_THREADS=$tlist: each count from 1 to 32" >&2
	exit 2
fi
# Pools grow with the threads beyond 8 (above): so do the hugetlb pages.
[ "$tmax" -gt 8 ] && tscale=$tmax || tscale=8

quick=
secs=0.25
rounds=${BENCH_ROUNDS:-3}
if [ "${1:-}" = --quick ]; then
	quick=--quick
	secs=0.03
	rounds=${BENCH_ROUNDS:-2}
fi
case $rounds in
[1-9]) ;;
*)	echo "BENCH_ROUNDS=$rounds: a count of rounds from 1 to 9" >&2
	exit 2 ;;
esac

# The scenarios measured in every round: those of BENCH_SCENARIOS (all
# by default) whose threads hand memory to each other.
xscen=
for s in handoff pipeline procs queue; do
	case ,${BENCH_SCENARIOS:-$s}, in
	*,$s,*) xscen=${xscen:+$xscen,}$s ;;
	esac
done

# The machine's core-to-core round trip now (bench/xcore_probe).
probe() {
	if [ -x ./xcore_probe ]; then
		echo "== $1: $(./xcore_probe)" | tee -a "$out/xcore.txt" >&2
		xcore_floor
	fi
}
: > "$out/xcore.txt"

# The fastest round trip xcore.txt has seen so far, for the programs
# that follow (BENCH_XCORE_FASTEST: a program that starts in the slow
# state knows what fast is).
xcore_floor() {
	f=$(awk '{ for (i = 2; i < NF; i++) if ($i == "ns" && $(i + 1) == "round") {
			v = $(i - 1) + 0; if (v > 0 && (!m || v < m)) m = v } }
		END { if (m) print m }' "$out/xcore.txt")
	if [ -n "$f" ]; then
		BENCH_XCORE_FASTEST=$f
		export BENCH_XCORE_FASTEST
	fi
}

# Runs "$@", its "# xcore:" lines on stderr (bench_xcore_gate(): the
# core-to-core state before each cross-core cell) into xcore.txt and the
# rest of its stderr to ours when it ends.
xc() {
	xst=0
	"$@" 2> "$out/stderr.tmp" || xst=$?
	grep -a '^# xcore:' "$out/stderr.tmp" >> "$out/xcore.txt" || true
	grep -av '^# xcore:' "$out/stderr.tmp" >&2 || true
	rm -f "$out/stderr.tmp"
	return $xst
}

# bufpool's memfd backend takes 2 MiB hugetlb pages when some are
# reserved: reserve enough for its largest pool (8192 x 64 KiB), as
# root, and give them back afterwards.
nr=/proc/sys/vm/nr_hugepages
old_nr=$(cat "$nr" 2>/dev/null || echo 0)
if [ -w "$nr" ]; then
	echo $((old_nr + 600 * tscale / 8)) > "$nr" 2>/dev/null || true
fi
echo "== hugetlb pages reserved: $(cat "$nr" 2>/dev/null || echo 0)" >&2

raw=$out/raw.csv
echo "where,scenario,size,threads,burst,peer,p50_ns,p99_ns,p999_ns,max_ns,mops,failed" > "$raw"

# One round over every build of the matrix: round 1 runs every scenario,
# the later ones only those of xscen.
matrices() {
	round=$1
	for m in matrix matrix-lto matrix-jemalloc matrix-tcmalloc matrix-mimalloc; do
		if [ ! -x "./$m" ]; then
			if [ "$round" = 1 ]; then
				echo "== $m: not built (its allocator is not installed)" >&2
			fi
			continue
		fi
		# later: what this build has of the scenarios of later rounds.
		later=$xscen
		case $m in
		# Only bufpool's rows: the rest is the same as in matrix.
		matrix-lto) sc=burst,bulk,handoff,pipeline
			later=handoff,pipeline
			set -- --peers bufpool-lto ;;
		matrix-*) sc=${BENCH_SCENARIOS:-}
			later=handoff,pipeline
			set -- ;;
		*)	sc=${BENCH_SCENARIOS:-}
			set -- ;;
		esac
		if [ "$round" != 1 ]; then
			sc=$(only_x "${sc:-$xscen}" "$later")
			[ -n "$sc" ] || continue
		fi
		set -- "$@" ${sc:+--scenarios "$sc"} \
			${BENCH_THREADS:+--threads "$BENCH_THREADS"}
		echo "== $m $quick (round $round${sc:+: $sc})" >&2
		xc "./$m" $quick --secs "$secs" "$@" | sed 's/^/host,/' >> "$raw"
		xcore_floor
	done

	# DPDK 25.11: the same matrix built against sid's DPDK and run in
	# the sid chroot (scripts/dpdk25.sh), for its DPDK rows only
	# (dpdk25-*, rte_ring25) of the scenarios issue 18 compares (not
	# the shared path's 64 threads, where 25.11's run was sometimes
	# killed: see RESULTS.md); skipped, with the reason, where it
	# cannot be had.
	sc=burst,bulk,handoff,pipeline,queue
	[ "$round" = 1 ] || sc=$(only_x handoff,pipeline,queue)
	if ! why=$(../scripts/dpdk25.sh status); then
		if [ "$round" = 1 ]; then
			echo "# dpdk25: skipped: ${why#skipped: }" >&2
		fi
	elif [ ! -x ./matrix-dpdk25 ]; then
		if [ "$round" = 1 ]; then
			echo "# dpdk25: skipped: not built (make bench/matrix-dpdk25)" >&2
		fi
	elif [ -n "$sc" ]; then
		peers=$(../scripts/dpdk25.sh peers)
		echo "== matrix-dpdk25 (${peers%%-*}, in the sid chroot) $quick (round $round: $sc)" >&2
		st=0
		# env: sudo (dpdk25.sh, when not root) passes no variable.
		xc ../scripts/dpdk25.sh run env \
			${BENCH_XCORE_FASTEST:+BENCH_XCORE_FASTEST="$BENCH_XCORE_FASTEST"} \
			${BENCH_XCORE_WAIT:+BENCH_XCORE_WAIT="$BENCH_XCORE_WAIT"} \
			bench/matrix-dpdk25 $quick --secs "$secs" \
			--scenarios "$sc" \
			${BENCH_THREADS:+--threads "$BENCH_THREADS"} \
			--peers "$peers" > "$out/dpdk25.csv" || st=$?
		[ "$st" = 0 ] || echo "== matrix-dpdk25 failed (exit $st): its rows are partial" >&2
		sed 's/^/host,/' "$out/dpdk25.csv" >> "$raw"
		xcore_floor
	fi
}

# The scenarios of the comma-separated list $1 that are in xscen and in
# the list $2 (default: all of xscen).
only_x() {
	o=
	for s in $(echo "$1" | tr , ' '); do
		case ,$xscen, in
		*,$s,*) ;;
		*) continue ;;
		esac
		case ,${2:-$xscen}, in
		*,$s,*) o=${o:+$o,}$s ;;
		esac
	done
	echo "$o"
}

r=1
while [ "$r" -le "$rounds" ]; do
	if [ "$r" = 1 ] || [ -n "$xscen" ]; then
		probe "round $r: core-to-core"
		matrices "$r"
	fi
	r=$((r + 1))
done

if [ -w "$nr" ]; then
	echo "$old_nr" > "$nr" 2>/dev/null || true
fi

# ---- mp_bench (bench/mp_bench.c): messages between processes, bufpool's
# queues against DPDK's multi-process mode (dpdk-mp: a primary and a
# secondary sharing a mempool and an rte_ring over hugepages), and the
# crash cell (procs-crash: the consumer killed mid-stream 5 times; its
# failed column is the objects lost).  Its own hugepage reservation,
# given back however it ends; DPDK's hugetlbfs mount and runtime files
# live in mp_bench's private mount namespace.  On the host bufpool's
# pool is a memfd, which no kernel reconciles: its crash cell shows what
# that backend loses; the VM runs it on /dev/bufpool.  bufpool's pool
# there rotates its depot (ABI 1.9), as mp_bench's own does.
if [ -x ./mp_bench ]; then
	echo "== mp_bench $quick" >&2
	mp_nr=$(cat "$nr" 2>/dev/null || echo 0)
	mp_give_back() {
		if [ -w "$nr" ]; then echo "$mp_nr" > "$nr" 2>/dev/null || true; fi
	}
	trap 'mp_give_back; rm -f "$out/stderr.tmp"; exit 130' INT TERM
	if [ -w "$nr" ]; then
		echo $((mp_nr + 600)) > "$nr" 2>/dev/null || true
	fi
	probe "mp_bench round 1: core-to-core"
	xc ./mp_bench --secs "$secs" $quick | sed 's/^/host,/' >> "$raw" ||
		echo "== mp_bench failed" >&2
	xcore_floor
	r=2
	while [ "$r" -le "$rounds" ]; do
		probe "mp_bench round $r (procs): core-to-core"
		xc ./mp_bench --secs "$secs" $quick --scenarios procs |
			sed 's/^/host,/' >> "$raw" ||
			echo "== mp_bench failed (round $r)" >&2
		xcore_floor
		r=$((r + 1))
	done
	mp_give_back
	trap - INT TERM
	if [ -n "${BENCH_VM:-}" ] && [ -x ./mp_bench-vm ]; then
		echo "== mp_bench-vm in the VM, through /dev/bufpool" >&2
		# shellcheck disable=SC2086
		(cd .. && $BENCH_VM -p "buf_size=2048 buf_count=8192 spread=1 rotate=1" -m 2048 \
			-f bench/mp_bench-vm:/usr/bin/mp_bench \
			-c "mp_bench --device --sizes 2048 --secs $secs $quick --peers bufpool-queue") \
			> "$out/vm-mp.log" 2>&1 ||
			echo "== the mp_bench VM run failed: $out/vm-mp.log" >&2
		grep -E '^procs(-crash)?,' "$out/vm-mp.log" | tr -d '\r' |
			sed 's/^/vm,/' >> "$raw" || true
		grep '^# procs' "$out/vm-mp.log" | tr -d '\r' >&2 || true
	fi
fi
# ---- end of mp_bench

if [ -n "${BENCH_VM:-}" ] && [ -x ./matrix-vm ]; then
	echo "== matrix-vm in the VM, through /dev/bufpool" >&2
	# shellcheck disable=SC2086
	(cd .. && $BENCH_VM -p "buf_size=2048 buf_count=8192 spread=1" -m 2048 \
		-f bench/matrix-vm:/usr/bin/matrix \
		-c "matrix --device --sizes 2048 --secs $secs --peers bufpool,glibc,seed-mutexmap,seed-boundedq,copy-ring") \
		> "$out/vm.log" 2>&1 || echo "== the VM run failed: $out/vm.log" >&2
	grep -E '^(burst|handoff|pipeline|procs),' "$out/vm.log" |
		tr -d '\r' | sed 's/^/vm,/' >> "$raw" || true
fi

# The rounds: every row measured in rounds.csv; in raw.csv, for each
# where, scenario, size, threads, burst and peer of the cells measured
# in rounds (handoff, pipeline, queue, procs), the row of the round with
# the lowest median, in the place of the cell's first row.
cp "$raw" "$out/rounds.csv"
awk -F, -v OFS=, '
NR == 1 { print; next }
{
	k = $1 "," $2 "," $3 "," $4 "," $5 "," $6
	if ($2 !~ /^(handoff|pipeline|queue|procs)$/) {
		row[++n] = $0
		next
	}
	if (!(k in at)) {
		at[k] = ++n
		row[n] = $0
		best[k] = $7
	} else if ($7 + 0 < best[k] + 0) {
		row[at[k]] = $0
		best[k] = $7
	}
}
END { for (i = 1; i <= n; i++) print row[i] }' "$out/rounds.csv" > "$raw"
# In which state each kept row was measured (bench/xcore_states.sh).
sh ./xcore_states.sh "$out/xcore.txt" "$out/rounds.csv" > "$out/xcore-kept.txt"
echo "== $(tail -n 1 "$out/xcore-kept.txt") (build/bench/xcore-kept.txt)" >&2

# Ratios: for each bufpool row, the best other peer of the same where,
# scenario, size, threads and burst (bufpool-nocache and bufpool-lto are
# not peers of bufpool, and the floors are not peers at all): p50 ratio
# = best p50 / bufpool p50, throughput ratio = bufpool Mops/s / best
# Mops/s; above 1, bufpool is ahead.
csv=$out/results.csv
awk -F, -v OFS=, '
NR == 1 { print $0, "best_peer_p50", "p50_vs_best", "best_peer_mops", "mops_vs_best"; next }
{
	row[NR] = $0; key[NR] = $1 "," $2 "," $3 "," $4 "," $5; peer[NR] = $6
	p50[NR] = $7; mops[NR] = $11
	k = key[NR]
	if ($6 !~ /^(bufpool|floor-)/) {
		if (!(k in bp50) || $7 < bp50[k]) { bp50[k] = $7; bn50[k] = $6 }
		if (!(k in bmops) || $11 > bmops[k]) { bmops[k] = $11; bnm[k] = $6 }
	}
	n = NR
}
END {
	for (i = 2; i <= n; i++) {
		k = key[i]
		# Mops/s printed as 0.00 (a cell that did almost nothing, as a
		# quick run on a loaded machine can): the p50 ratio alone.
		if (peer[i] ~ /^bufpool/ && (k in bp50) && p50[i] > 0)
			print row[i], bn50[k], sprintf("%.2f", bp50[k] / p50[i]), \
			      (bmops[k] > 0 ? bnm[k] : ""), \
			      (bmops[k] > 0 ? sprintf("%.2f", mops[i] / bmops[k]) : "")
		else
			print row[i], "", "", "", ""
	}
}' "$raw" > "$csv"

# The table: one block per scenario, peers by median.
awk -F, '
NR == 1 { next }
{
	k = $1 " " $2 " " $3 " B, " $4 " thr, burst " $5
	if (!(k in seen)) { seen[k] = ++nk; order[nk] = k }
	vs = ""
	if ($14 != "" && $16 != "")
		vs = sprintf("%sx p50, %sx Mops vs %s", $14, $16, $13)
	else if ($14 != "")
		vs = sprintf("%sx p50 vs %s", $14, $13)
	line[k] = line[k] sprintf("  %-16s %10.2f %10.2f %10.2f %12.2f %9.2f %6s %s\n",
		$6, $7, $8, $9, $10, $11, $12 == 0 ? "" : $12, vs)
}
END {
	printf "  %-16s %10s %10s %10s %12s %9s %6s %s\n", "peer", "p50 ns",
		"p99 ns", "p99.9 ns", "max ns", "Mops/s", "failed", "bufpool vs best peer"
	for (i = 1; i <= nk; i++)
		printf "%s\n%s", order[i], line[order[i]]
}' "$csv"
echo
echo "CSV: build/bench/results.csv"

# Plots.
if command -v gnuplot >/dev/null; then
	cpus=$(nproc 2>/dev/null || echo '?')
	awk -F, '$1 == "host" && $2 == "burst" && $3 == 2048 && $4 == 1 && $5 == 32 {
		print $6, $7, $8, $9 }' "$csv" > "$out/latency.dat"
	awk -F, '$1 == "host" && $2 == "burst" && $3 == 2048 && $5 == 32 {
		print $6, $4, $11 }' "$csv" | sort -k1,1 -k2,2n > "$out/threads.dat"
	awk -F, '$1 == "host" && ($2 == "pipeline" || $2 == "procs") {
		print ($2 == "procs" ? $6 "-procs" : $6), $3, $11 }' "$csv" |
		sort -k1,1 -k2,2n > "$out/pipeline.dat"
	gnuplot <<-EOF
	set terminal pngcairo size 1000,520 noenhanced font ",10"
	set datafile separator " "
	set output "$out/latency.png"
	set title "take+give pairs, 2 KiB, 1 thread, bursts of 32: ns per pair (log scale)"
	set style data histograms
	set style histogram clustered gap 1
	set style fill solid 0.8 border -1
	set logscale y
	set ylabel "ns"
	set xtics rotate by -30
	set rmargin 8
	plot "$out/latency.dat" using 2:xtic(1) title "p50", \
	     "" using 3 title "p99", "" using 4 title "p99.9"
	set rmargin
	set output "$out/threads.png"
	set title "take+give pairs, 2 KiB, bursts of 32: throughput against threads ($cpus CPUs)"
	unset style
	set style data linespoints
	set logscale y
	set xtics ($tlist) norotate
	set logscale x 2
	set xrange [0.8:$tmax * 1.25]
	set xlabel "threads"
	set ylabel "Mpairs/s"
	set key outside right
	plot for [p in system("cut -d' ' -f1 $out/threads.dat | uniq")] \
	     "< grep '^".p." ' $out/threads.dat" using 2:3 title p
	set output "$out/pipeline.png"
	set title "message pipeline (writes and reads the whole message): throughput against size"
	set xlabel "message bytes"
	set ylabel "Mmsgs/s"
	set xtics (64, 2048, 65536)
	set xrange [40:110000]
	plot for [p in system("cut -d' ' -f1 $out/pipeline.dat | uniq")] \
	     "< grep '^".p." ' $out/pipeline.dat" using 2:3 title p
	EOF
	echo "plots: build/bench/latency.png threads.png pipeline.png"
else
	echo "plots: gnuplot not installed"
fi

echo
echo "== freelist_bench"
./freelist_bench

# Per-CPU stacks kept with rseq against a thread's magazine and a
# Treiber stack (issue 17); skips its rseq cells where rseq is not
# registered.
echo "== rseq_bench"
./rseq_bench $quick

# What a power-of-two stride costs a burst that writes each buffer's
# first line (the cache-set conflicts of bufpool's layout; issue 18).
echo "== stride_bench"
nr=/proc/sys/vm/nr_hugepages
old=$(cat "$nr" 2>/dev/null || echo 0)
if [ -w "$nr" ]; then
	echo $((old + 20)) > "$nr" || true
fi
./stride_bench ${quick:+2000} || true
if [ -w "$nr" ]; then
	echo "$old" > "$nr" || true
fi

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
