#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: stage.sh TITLE TAPFILE CMD [ARGS...]
# One stage of make check: its title, CMD's output on stdout and in
# TAPFILE (scripts/ktap-summary.sh reads it), then how long the stage
# took, wall clock, also appended to build/check/times.  Whether the
# stage passed is for the summary to say from TAPFILE: the exit status
# is tee's, as in a plain CMD | tee TAPFILE.
set -u
title=$1 tap=$2
shift 2
echo "=== $title"
start=$(date +%s)
"$@" 2>&1 | tee "$tap"
rc=$?
secs=$(($(date +%s) - start))
echo "=== $title: $secs s"
mkdir -p build/check
printf '%6d s  %s\n' "$secs" "$title" >> build/check/times
exit $rc
