#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# libFuzzer on bufpool-sizes' parsers (its line format and YAML), for a
# bounded time, with ASan and UBSan (make fuzz-tool; part of make
# check).  Starts from the seed corpus in scripts/tools/fuzz/corpus; a
# crash, a leak, a sanitizer report or a broken invariant (see the
# harness) fails.  Prints KTAP.
#   usage: fuzz-tool.sh FUZZER SECONDS
set -u
fuzzer=$1
secs=$2
work=build/fuzz-tool
rm -rf "$work"
mkdir -p "$work/corpus"
cp scripts/tools/fuzz/corpus/* "$work/corpus/"
echo "TAP version 13"
echo "1..1"
if "$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
	-max_len=4096 -len_control=0 \
	-artifact_prefix="$work/" "$work/corpus" > "$work/log" 2>&1; then
	runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$work/log")
	echo "ok 1 fuzz: bufpool-sizes parsers (lines, YAML), ${runs:-?} inputs in $secs s, no report"
else
	echo "not ok 1 fuzz: bufpool-sizes parsers (lines, YAML) (log: $work/log)"
	grep -E "ERROR|SUMMARY|runtime error|deadly" "$work/log" | head -5 |
		sed 's/^/# /'
	exit 1
fi
