#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: lint.sh KDIR
# The kernel side must pass checkpatch --strict, sparse and a W=1 build,
# and userspace cppcheck, with no finding at all; the manual pages must
# cover every exported function and format without a warning
# (man-check.sh).  Prints KTAP; exits 1 on any finding.
set -eu

kdir=${1:?usage: lint.sh KDIR}
ksft=$(scripts/ksft-fetch.sh)
fail=0

echo "TAP version 13"
echo "1..5"

files=$(ls kmod/*.c kmod/*.h kmod/compat/*.c uapi/linux/*.h uapi/bufpool/*.h |
	grep -v -e compat_gen.h -e uapi/bufpool/atomic.h -e '\.mod\.c$')
# shellcheck disable=SC2086
# uapi/bufpool/atomic.h also holds the library's C11 shims, whose
# _Atomic keyword checkpatch takes for a CamelCase identifier.
if out=$(scripts/checkpatch.sh --no-tree --strict --terse --show-types -f $files 2>&1;
	 scripts/checkpatch.sh --no-tree --strict --terse --show-types \
		--ignore CAMELCASE -f uapi/bufpool/atomic.h 2>&1) &&
   ! printf '%s\n' "$out" | grep -Eq 'ERROR|WARNING|CHECK'; then
	echo "ok 1 lint: checkpatch --strict on kmod/ and uapi/"
else
	echo "not ok 1 lint: checkpatch --strict on kmod/ and uapi/"
	printf '%s\n' "$out" | grep -E 'ERROR|WARNING|CHECK' | sed 's/^/# /'
	fail=1
fi

# A clean rebuild so that every file is compiled and checked.
log=$(mktemp)
MAKEFLAGS= make -C "$kdir" M="$(pwd)" clean >/dev/null
if MAKEFLAGS= make -C "$kdir" M="$(pwd)" C=2 W=1 modules >"$log" 2>&1 &&
   ! grep -Eq 'warning:|error:' "$log" && grep -q 'CHECK' "$log"; then
	echo "ok 2 lint: sparse (C=2) and W=1 build of the module"
else
	echo "not ok 2 lint: sparse (C=2) and W=1 build of the module"
	grep -E 'warning:|error:' "$log" | sed 's/^/# /' || true
	grep -q 'CHECK' "$log" || echo "# sparse did not run"
	fail=1
fi
rm -f "$log"

# Userspace: cppcheck over the library, examples, benches, tools and
# tests; and over the Python module with cppcheck's model of Python's C
# API (--library=python: Python's own headers stop cppcheck's
# preprocessor, which has no system headers).
ksft_inc=$ksft
# shellcheck disable=SC2046
if out=$(cppcheck --quiet --enable=warning,portability,performance \
	--inline-suppr --std=c11 -D_GNU_SOURCE -Iuapi -Iuserlib \
	-I"$ksft_inc" --suppress=missingIncludeSystem \
	--suppress="*:$ksft_inc/*" --error-exitcode=1 \
	userlib/*.c userlib/examples/*.c userlib/tests/*.c bench/*.c \
	scripts/tools/*.c scripts/tools/fuzz/*.c \
	selftests/*.c 2>&1) &&
   out=$(cppcheck --quiet --enable=warning,portability,performance \
	--library=python --inline-suppr --std=c11 -D_GNU_SOURCE -Iuapi \
	-Iuserlib --suppress=missingIncludeSystem --error-exitcode=1 \
	userlib/python/*.c 2>&1); then
	echo "ok 3 lint: cppcheck on userspace code"
else
	echo "not ok 3 lint: cppcheck on userspace code"
	printf '%s\n' "$out" | grep -E '(error|warning|portability|performance):' | sed 's/^/# /'
	fail=1
fi

# The manual: tests 4 and 5.
scripts/man-check.sh 4 || fail=1
exit $fail
