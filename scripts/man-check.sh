#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The manual pages in docs/man: every function the shared library
# exports is named in a page's NAME section and has a page of its own
# name (the page, or a link page: ".so man3/PAGE.3"), so that "man
# FUNCTION" finds it; every link page points at a page that names it;
# and groff formats every page without a warning and within 80 columns.
# Two KTAP test lines.
#   usage: man-check.sh [FIRST]   FIRST: the first test's number, for a
#          caller that prints the plan (lint.sh); alone: a whole KTAP run
set -u

lib=${BUFPOOL_LIB:-userlib/libbufpool-user.so}
dir=docs/man
first=${1:-}
if [ -z "$first" ]; then
	echo "TAP version 13"
	echo "1..2"
	first=1
fi
fail=0

# The names in the NAME section of page $1, one a line.
names_of() {
	awk '/^\.SH / { on = ($2 == "NAME"); next }
	     on { print }' "$1" |
		sed -e 's/ *\\-.*//' -e 's/[ ,][ ,]*/\n/g' | grep -v '^$'
}

# The page a link page $1 points at ("" when it is not one).
link_target() {
	sed -n '1s|^\.so man[1-8]/\([^ ]*\)$|\1|p' "$1"
}

# 1: every exported function has a page that names it.
errs=
if [ ! -f "$lib" ]; then
	errs="no $lib (make lib)"
else
	syms=$(nm -D --defined-only "$lib" |
		awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort -u)
	named=$(for p in "$dir"/*.[1-8]; do
			[ -n "$(link_target "$p")" ] || names_of "$p"
		done | sort -u)
	nsyms=0
	for s in $syms; do
		nsyms=$((nsyms + 1))
		printf '%s\n' "$named" | grep -qx "$s" ||
			errs="$errs
$s: named in no page's NAME section"
		[ -f "$dir/$s.3" ] ||
			errs="$errs
$s: no page $dir/$s.3 (a link page: .so man3/PAGE.3)"
	done
	[ "$nsyms" -gt 0 ] || errs="no function exported by $lib"
	for p in "$dir"/*.[1-8]; do
		t=$(link_target "$p")
		[ -n "$t" ] || continue
		n=${p##*/}
		if [ ! -f "$dir/$t" ] || [ -n "$(link_target "$dir/$t")" ]; then
			errs="$errs
$n: links to $t, which is not a page"
		elif ! names_of "$dir/$t" | grep -qx "${n%.*}"; then
			errs="$errs
$n: $t does not name ${n%.*}"
		fi
	done
fi
if [ -z "$errs" ]; then
	echo "ok $first man: each of the $nsyms functions of $lib has a page naming it"
else
	echo "not ok $first man: each function of $lib has a page naming it"
	printf '%s\n' "$errs" | grep -v '^$' | sed 's/^/# /'
	fail=1
fi

# 2: groff is silent with every warning on (-ww), and no line of the
# formatted page is longer than 80 columns (what man prints on an
# 80-column terminal: a line length of 78 en and an indent).
errs=
for p in "$dir"/*.[1-8]; do
	[ -z "$(link_target "$p")" ] || continue
	out=$(LC_ALL=C groff -man -ww -z "$p" 2>&1)
	[ -z "$out" ] || errs="$errs
$(printf '%s\n' "$out" | sed "s|^|${p##*/}: |")"
	long=$(LC_ALL=C groff -man -Tascii -rLL=78n -P-cbou "$p" 2>/dev/null |
		awk 'length > 80 { print length ": " $0 }' | head -3)
	[ -z "$long" ] || errs="$errs
$(printf '%s\n' "$long" | sed "s|^|${p##*/}: wider than 80: |")"
done
if [ -z "$errs" ]; then
	echo "ok $((first + 1)) man: groff -man -ww silent, pages within 80 columns"
else
	echo "not ok $((first + 1)) man: groff -man -ww silent, pages within 80 columns"
	printf '%s\n' "$errs" | grep -v '^$' | sed 's/^/# /'
	fail=1
fi
exit $fail
