#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: rust-test-ktap.sh [-p PREFIX] CMD [ARGS...]
# Run Rust tests (cargo test, or a test program cargo built) and print
# their results as KTAP, one "ok N PREFIX: TEST" line per test, PREFIX
# the test program's name as cargo announces it ("pool", "lib", "doc"
# for doc tests), else -p's.  When anything failed, CMD's output
# follows as "# " lines.  Exit 0 when every test passed and CMD exited 0.
set -u
prefix=rust
if [ "${1:-}" = -p ]; then
	prefix=$2
	shift 2
fi
out=$(mktemp "${TMPDIR:-/tmp}/rust-test.XXXXXX")
trap 'rm -f "$out"' EXIT INT TERM
"$@" >"$out" 2>&1
rc=$?
echo "TAP version 13"
awk -v rc="$rc" -v prefix="$prefix" -v cmd="$*" '
	{ sub(/\r$/, "") }
	/^ *Running / {
		prefix = ($2 == "unittests") ? $3 : $2
		sub(/.*\//, "", prefix)
		sub(/\.rs$/, "", prefix)
		next
	}
	/^ *Doc-tests / { prefix = "doc"; next }
	/^test .* \.\.\. (ok|FAILED|ignored)/ {
		name = $0
		sub(/^test /, "", name)
		result = name
		sub(/ \.\.\. [^.]*$/, "", name)
		sub(/.* \.\.\. /, "", result)
		n++
		if (result == "ok")
			line[n] = "ok " n " " prefix ": " name
		else if (result ~ /^ignored/)
			line[n] = "ok " n " " prefix ": " name " # SKIP ignored"
		else {
			line[n] = "not ok " n " " prefix ": " name
			failed++
		}
	}
	END {
		if (rc != 0 && !failed) {
			n++
			line[n] = "not ok " n " " prefix ": " cmd " exited with status " rc
			failed++
		}
		print "1.." n
		for (i = 1; i <= n; i++)
			print line[i]
		exit failed ? 1 : 0
	}
' "$out"
st=$?
if [ $st != 0 ]; then
	tail -n 200 "$out" | sed 's/^/# /'
fi
exit $st
