#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Extract, once, what bufpool takes from Debian's linux-source tarball:
# the kselftest harness, lib.mk and runner, and checkpatch.pl.  Prints
# the directory that holds the kselftest files.
set -eu

cache=${BUFPOOL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/bufpool}
# Always 6.1's: the suite is written against its harness, whatever
# other kernels' sources the machine has.
tarball=/usr/src/linux-source-6.1.tar.xz
if [ ! -f "$tarball" ]; then
	echo "ksft-fetch: no $tarball: run scripts/deps.sh" >&2
	exit 1
fi
top=$(basename "$tarball" .tar.xz)
key=$(stat -c '%s-%Y' "$tarball")
dest=$cache/$top-$key

if [ ! -f "$dest/.done" ]; then
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/.extract.XXXXXX")
	tar -C "$tmp" -xf "$tarball" \
		"$top/tools/testing/selftests/kselftest_harness.h" \
		"$top/tools/testing/selftests/kselftest.h" \
		"$top/tools/testing/selftests/lib.mk" \
		"$top/tools/testing/selftests/run_kselftest.sh" \
		"$top/tools/testing/selftests/kselftest" \
		"$top/scripts/checkpatch.pl" \
		"$top/scripts/spelling.txt" \
		"$top/scripts/const_structs.checkpatch"
	rm -rf "$dest"
	mv "$tmp/$top" "$dest"
	rm -rf "$tmp"
	touch "$dest/.done"
fi
echo "$dest/tools/testing/selftests"
