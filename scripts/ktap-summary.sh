#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: ktap-summary.sh FILE...
# Count results in KTAP streams as the kselftest runner writes them, and
# print "N passed, N failed, N skipped".  Exit 1 if anything failed or
# nothing ran.  A FILE without a top-level plan ("1..N") is a stage that
# did not run (its build failed, say): one failure.
#
# Counting: each test case of a kselftest_harness program (the runner's
# "# ok N name" lines) counts once.  A program whose own line is "not ok"
# with no failed case of its own (it crashed, timed out, or failed
# outside a case) adds one failure; one with no cases at all counts as
# one result.  Any other top-level line (the VM runner's checks) counts
# once.
#
# Each failure is listed with the program it came from and the last
# lines its test printed (the harness's failed expectations, a timeout,
# a signal), so that a log's tail says why, not only what.
set -eu

[ $# -gt 0 ] || { echo "usage: $0 FILE..." >&2; exit 2; }

awk '
	{ sub(/\r$/, "") }
	/^1\.\.[0-9]+/ { plan[FILENAME] = 1 }
	function keep(line) {
		ctx[nctx % CTX] = line
		nctx++
	}
	function why(   i, out) {
		out = ""
		for (i = (nctx > CTX ? nctx - CTX : 0); i < nctx; i++)
			out = out "\n      " ctx[i % CTX]
		return out
	}
	BEGIN { CTX = 12 }
	/^# selftests: / {
		inprog = 1; cases = 0; casefail = 0; nctx = 0
		prog = $0; sub(/^# selftests: /, "", prog)
		next
	}
	inprog && /^# # +RUN / { nctx = 0 }
	inprog && /^# / && !/^# (# +(RUN|OK) |# Starting |TAP |1\.\.|(not )?ok )/ {
		line = $0; sub(/^# (# )?/, "", line); keep(line)
	}
	inprog && /^# (not )?ok [0-9]+ / {
		cases++
		if ($0 ~ /^# not ok/) {
			failed++; casefail++
			fails = fails "\n  " substr($0, 3) " (" prog ")" why()
		}
		else if ($0 ~ /# SKIP/) skipped++
		else passed++
		next
	}
	/^(not )?ok [0-9]+ selftests: / {
		if ($0 ~ /^not ok/) {
			if (!casefail) { failed++; fails = fails "\n  " $0 why() }
		} else if (!cases) {
			if ($0 ~ /# SKIP/) skipped++; else passed++
		}
		inprog = 0
		next
	}
	/^(not )?ok [0-9]+ / {
		if ($0 ~ /^not ok/) { failed++; fails = fails "\n  " $0 }
		else if ($0 ~ /# SKIP/) skipped++
		else passed++
	}
	END {
		for (i = 1; i < ARGC; i++)
			if (!(ARGV[i] in plan)) {
				failed++
				fails = fails "\n  " ARGV[i] ": no results (the stage did not run)"
			}
		if (failed) printf "failures:%s\n", fails
		printf "%d passed, %d failed, %d skipped\n", passed, failed, skipped
		exit (failed || passed + 0 == 0) ? 1 : 0
	}
' "$@"
