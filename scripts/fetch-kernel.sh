#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: fetch-kernel.sh RELEASE
# Put Debian's linux-image-RELEASE (the kernel matching the headers the
# module was built against) under $BUFPOOL_CACHE/kernel/RELEASE, without
# installing it on this machine: the VM boots it, the host never does.
set -eu

rel=${1:?usage: fetch-kernel.sh RELEASE}
cache=${BUFPOOL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/bufpool}
dest=$cache/kernel/$rel
[ -f "$dest/lib/modules/$rel/modules.dep" ] && exit 0

sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
mkdir -p "$cache/debs"
tmp=$(mktemp -d "$cache/.kernel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

download() {
	(cd "$tmp" && apt-get download "linux-image-$rel" >/dev/null 2>&1) ||
	(cd "$tmp" && apt-get download "linux-image-$rel-unsigned" >/dev/null 2>&1)
}
if ! download; then
	$sudo apt-get update >/dev/null
	download || {
		echo "fetch-kernel: Debian has no linux-image-$rel any more;" \
		     "upgrade the headers (apt-get install linux-headers-amd64)" \
		     "or pass KDIR= and BUFPOOL_KERNEL=" >&2
		exit 1
	}
fi
dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/x"
# The package's postinst would run depmod; the VM runner needs modules.dep
# to pick modules and their dependencies.
depmod -b "$tmp/x" "$rel"
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$tmp/x" "$dest"
echo "fetch-kernel: $dest/boot/vmlinuz-$rel"
