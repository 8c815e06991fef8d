#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: lint.sh KDIR
# The kernel side must pass checkpatch --strict, sparse and a W=1 build
# with no finding at all.
set -eu

kdir=${1:?usage: lint.sh KDIR}
ksft=$(scripts/ksft-fetch.sh)
checkpatch=$ksft/../../../scripts/checkpatch.pl
fail=0

echo "lint: checkpatch --strict"
# shellcheck disable=SC2046
if ! perl "$checkpatch" --no-tree --strict --terse --show-types \
	-f $(ls kmod/*.c kmod/*.h kmod/compat/*.c uapi/linux/*.h | grep -v -e compat_gen.h -e '\.mod\.c$'); then
	fail=1
fi

echo "lint: sparse (C=2) and W=1"
log=$(mktemp)
make -C "$kdir" M="$(pwd)" clean >/dev/null
make -C "$kdir" M="$(pwd)" C=2 W=1 modules >"$log" 2>&1 || fail=1
if grep -E 'warning:|error:' "$log"; then
	fail=1
fi
rm -f "$log"

[ $fail = 0 ] && echo "lint: clean" || echo "lint: findings above"
exit $fail
