#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: kernel-source.sh NAME
# Print the path of the linux-source tarball of kernel NAME (see
# scripts/kernel.sh), for the debug kernel:
#   6.1   Debian 12's linux-source-6.1, installed by scripts/deps.sh
#   6.12  the newest linux-source-6.12 of bookworm-backports, downloaded
#         through the private apt configuration (scripts/apt-suite.sh)
#         and kept under $BUFPOOL_CACHE/src; never installed, so that
#         /usr/src keeps only 6.1's tarball (the kselftest harness and
#         checkpatch come from there)
# Exit 3 when the suite cannot be reached.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
name=${1:?usage: kernel-source.sh NAME}
cache=${BUFPOOL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/bufpool}

case $name in
6.1)
	t=/usr/src/linux-source-6.1.tar.xz
	[ -f "$t" ] || { echo "kernel-source: no $t: run scripts/deps.sh" >&2; exit 1; }
	echo "$t"
	exit 0 ;;
6.12) suite=bookworm-backports pkg=linux-source-6.12 ;;
*) echo "kernel-source: no debug kernel source for $name" >&2; exit 1 ;;
esac

# This suite's own version (bookworm-security may carry another).
ver=$("$here/apt-suite.sh" "$suite" apt-cache madison "$pkg" 2>/dev/null |
	awk -F' *[|] *' -v s=" $suite/" 'index($3, s) { print $2 }' |
	sort -V | tail -n 1) || true
if [ -z "$ver" ]; then
	echo "kernel-source: $suite has no $pkg" >&2
	exit 3
fi
dest=$cache/src/$pkg-$ver.tar.xz
if [ ! -f "$dest" ]; then
	mkdir -p "$cache/src"
	tmp=$(mktemp -d "$cache/src/.dl.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT INT TERM
	echo "kernel-source: downloading $pkg $ver from $suite" >&2
	(cd "$tmp" && "$here/apt-suite.sh" "$suite" apt-get download "$pkg=$ver" >&2)
	dpkg-deb --fsys-tarfile "$tmp"/"$pkg"_*.deb |
		tar -C "$tmp" -x "./usr/src/$pkg.tar.xz"
	mv "$tmp/usr/src/$pkg.tar.xz" "$dest"
fi
echo "$dest"
