#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: ktap-tag.sh TAG < KTAP > KTAP
# Append " [TAG]" to the description of every result line, top-level
# ("ok 3 vm: ...") and nested ("# ok 12 counters.plain..."), before a
# "# SKIP"/"# TODO" directive if there is one, so that a stage's results
# say which kernel they were taken on.  Everything else passes through.
set -eu
tag=${1:?usage: ktap-tag.sh TAG}
awk -v tag="$tag" '
	{ sub(/\r$/, "") }
	match($0, /^(# )*(not )?ok [0-9]+/) {
		head = substr($0, 1, RLENGTH)
		rest = substr($0, RLENGTH + 1)
		n = index(rest, " # ")
		if (n)
			print head substr(rest, 1, n - 1) " [" tag "]" substr(rest, n)
		else
			print $0 " [" tag "]"
		fflush()
		next
	}
	{ print; fflush() }
'
