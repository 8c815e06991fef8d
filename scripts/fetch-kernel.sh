#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: fetch-kernel.sh RELEASE [SUITE]
# Put Debian's kernel RELEASE (the kernel matching the headers the module
# was built against) under $BUFPOOL_CACHE/kernel/RELEASE, without
# installing it on this machine: the VM boots it, the host never does.
# Without SUITE the packages come from this machine's own apt sources;
# with SUITE (bookworm-backports, sid, ...) through scripts/apt-suite.sh.
#
# Packages: linux-image-RELEASE, else linux-image-RELEASE-unsigned.  When
# that holds no kernel (sid's linux-image-RELEASE is a metapackage), the
# split layout: linux-binary-RELEASE (else linux-binary-unsigned-
# RELEASE) for /usr/lib/modules/RELEASE/vmlinuz and linux-modules-
# RELEASE for the modules, with linux-base-RELEASE for modules.order,
# modules.builtin* and config.  Either way the tree ends up with
#   boot/vmlinuz-RELEASE                 the image (a link in the split
#                                        layout)
#   lib/modules/RELEASE/modules.dep      depmod's, for the VM runner's -r
# (lib/modules/RELEASE links to usr/lib/modules/RELEASE where the
# packages put the modules there).
# Exit status: 0 done (the image's path on stdout after a download), 3
# SUITE cannot be reached, 1 anything else.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
rel=${1:?usage: fetch-kernel.sh RELEASE [SUITE]}
suite=${2:-}
cache=${BUFPOOL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/bufpool}
dest=$cache/kernel/$rel
[ -f "$dest/lib/modules/$rel/modules.dep" ] && [ -e "$dest/boot/vmlinuz-$rel" ] && exit 0

sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
mkdir -p "$cache/debs" "$cache/kernel"
tmp=$(mktemp -d "$cache/.kernel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# get PACKAGE: download it into $tmp/debs; status 3 when SUITE is out of
# reach
get() {
	mkdir -p "$tmp/debs"
	if [ -n "$suite" ]; then
		(cd "$tmp/debs" && "$here/apt-suite.sh" "$suite" apt-get download "$1" >/dev/null 2>"$tmp/err")
	else
		(cd "$tmp/debs" && apt-get download "$1" >/dev/null 2>"$tmp/err")
	fi
}
# get_one PACKAGE...: the first of them that can be had
get_one() {
	for p in "$@"; do
		rc=0
		get "$p" || rc=$?
		[ $rc = 0 ] && return 0
		if [ $rc = 3 ] && [ -n "$suite" ]; then
			sed -n 's/^apt-suite: /fetch-kernel: /p' "$tmp/err" >&2
			exit 3
		fi
	done
	return 1
}
refresh() {
	if [ -n "$suite" ]; then
		"$here/apt-suite.sh" "$suite" update >/dev/null || exit $?
	else
		# apt-get update exits 0 when no host answers: the log decides
		if ! $sudo apt-get update > "$tmp/update.log" 2>&1 ||
		   grep -q '^W: Failed to fetch' "$tmp/update.log"; then
			echo "fetch-kernel: this machine's Debian unreachable:" \
				"$(grep -m 1 '^[EW]:' "$tmp/update.log" | sed 's/^[EW]: //')" >&2
			exit 3
		fi
	fi
}

if ! get_one "linux-image-$rel" "linux-image-$rel-unsigned"; then
	refresh
	get_one "linux-image-$rel" "linux-image-$rel-unsigned" || {
		echo "fetch-kernel: Debian${suite:+ $suite} has no linux-image-$rel any more;" \
		     "upgrade the headers (apt-get install linux-headers-amd64)" \
		     "or pass KDIR= and BUFPOOL_KERNEL=" >&2
		exit 1
	}
fi
x=$tmp/x
for d in "$tmp"/debs/*.deb; do dpkg-deb -x "$d" "$x"; done
image=
find_image() {
	for i in "$x/boot/vmlinuz-$rel" "$x/usr/lib/modules/$rel/vmlinuz" \
		 "$x/lib/modules/$rel/vmlinuz"; do
		if [ -f "$i" ]; then image=$i; return 0; fi
	done
	return 1
}
if ! find_image; then
	# The split layout: the image package only depends on these.
	rm -f "$tmp"/debs/*.deb
	if ! get_one "linux-binary-$rel" "linux-binary-unsigned-$rel" ||
	   ! get_one "linux-modules-$rel"; then
		echo "fetch-kernel: linux-image-$rel holds no kernel, and" \
		     "linux-binary-$rel or linux-modules-$rel cannot be had" >&2
		exit 1
	fi
	# modules.order, modules.builtin*, config, System.map
	get_one "linux-base-$rel" || true
	for d in "$tmp"/debs/*.deb; do dpkg-deb -x "$d" "$x"; done
	find_image || {
		echo "fetch-kernel: no vmlinuz for $rel in $(cd "$tmp/debs" && echo *.deb)" >&2
		exit 1
	}
fi
# The VM runner and depmod look under lib/modules.
if [ ! -d "$x/lib/modules/$rel" ] && [ -d "$x/usr/lib/modules/$rel" ]; then
	if [ ! -e "$x/lib" ] && [ ! -L "$x/lib" ]; then
		ln -s usr/lib "$x/lib"
	else
		mkdir -p "$x/lib/modules"
		ln -s "../../usr/lib/modules/$rel" "$x/lib/modules/$rel"
	fi
fi
[ -d "$x/lib/modules/$rel/kernel" ] || {
	echo "fetch-kernel: no modules for $rel in the packages" >&2
	exit 1
}
if [ "$image" != "$x/boot/vmlinuz-$rel" ]; then
	mkdir -p "$x/boot"
	ln -s "../${image#"$x"/}" "$x/boot/vmlinuz-$rel"
fi
# The package's postinst would run depmod; the VM runner needs modules.dep
# to pick modules and their dependencies.
depmod -b "$x" "$rel"
rm -rf "$dest"
mv "$x" "$dest"
echo "fetch-kernel: $dest/boot/vmlinuz-$rel"
