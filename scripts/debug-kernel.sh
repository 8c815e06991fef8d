#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: debug-kernel.sh [TARBALL]
# Build, once, a debug kernel from a Debian linux-source tarball (default:
# Debian 12's linux-source-6.1; scripts/kernel-source.sh finds others):
# allnoconfig plus scripts/debug-kernel.config (KASAN, lockdep, kmemleak,
# DEBUG_VM, ...), cached under $BUFPOOL_CACHE keyed by the fragment and
# the tarball.  Prints the build tree: KDIR for the module,
# arch/x86/boot/bzImage to boot.  Progress goes to stderr.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
frag=$here/debug-kernel.config
cache=${BUFPOOL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/bufpool}
tarball=${1:-/usr/src/linux-source-6.1.tar.xz}
[ -f "$tarball" ] || { echo "debug-kernel: no $tarball" >&2; exit 1; }
# The tree inside is named after the package (linux-source-6.12), the
# cache entry after the tarball (which carries the version when it was
# downloaded by kernel-source.sh).
top=$(tar -tJf "$tarball" | head -n 1 | cut -d/ -f1)
key=$( { cat "$frag"; stat -c '%s-%Y' "$tarball"; } | cksum | cut -d' ' -f1)
dest=$cache/debug-kernel/$(basename "$tarball" .tar.xz)-$key

if [ ! -f "$dest/.done" ]; then
	mkdir -p "$cache/debug-kernel"
	rm -rf "$cache"/debug-kernel/.build.*
	tmp=$(mktemp -d "$cache/debug-kernel/.build.XXXXXX")
	echo "debug-kernel: extracting $tarball" >&2
	tar -C "$tmp" -xf "$tarball"
	cd "$tmp/$top"
	make -s allnoconfig KCONFIG_ALLCONFIG="$frag" >&2
	# Every option asked for must have survived (dependencies can drop one).
	missing=
	for opt in $(sed -n 's/^\(CONFIG_[A-Z0-9_]*\)=y$/\1/p' "$frag"); do
		grep -q "^$opt=y" .config || missing="$missing $opt"
	done
	if [ -n "$missing" ]; then
		echo "debug-kernel: options dropped by Kconfig:$missing" >&2
		exit 1
	fi
	echo "debug-kernel: building (make -j$(nproc) bzImage modules)" >&2
	make -s -j"$(nproc)" bzImage modules >&2
	cd - >/dev/null
	rm -rf "$dest"
	mv "$tmp/$top" "$dest"
	rm -rf "$tmp"
	touch "$dest/.done"
fi
echo "$dest"
