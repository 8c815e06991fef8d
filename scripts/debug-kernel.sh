#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Build, once, a debug kernel from Debian's linux-source: allnoconfig plus
# scripts/debug-kernel.config (KASAN, lockdep, kmemleak, DEBUG_VM, ...),
# cached under $BUFPOOL_CACHE keyed by the fragment and the tarball.
# Prints the build tree: KDIR for the module, arch/x86/boot/bzImage to
# boot.  Progress goes to stderr.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
frag=$here/debug-kernel.config
cache=${BUFPOOL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/bufpool}
tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -n 1)
[ -n "$tarball" ] || { echo "debug-kernel: no linux-source tarball" >&2; exit 1; }
top=$(basename "$tarball" .tar.xz)
key=$( { cat "$frag"; stat -c '%s-%Y' "$tarball"; } | cksum | cut -d' ' -f1)
dest=$cache/debug-kernel/$top-$key

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
