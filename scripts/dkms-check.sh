#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: dkms-check.sh VERSION NAME...
# make check's dkms stage: for each kernel NAME (6.1, 6.12, sid: see
# scripts/kernel.sh), install the module's sources as dkms wants them
# (make dkms-install), have dkms build the module against that kernel's
# headers (sid's inside its chroot, where its headers and dkms live),
# check what it built, and take it all away again.  Needs root (dkms
# writes /usr/src and /var/lib/dkms).  Prints KTAP, two lines a kernel.
set -u
here=$(cd "$(dirname "$0")" && pwd)
ver=$1
shift
mkdir -p build
echo "TAP version 13"
echo "1..$(($# * 2))"
n=0 fail=0
line() { # ok|not-ok description
	n=$((n + 1))
	if [ "$1" = ok ]; then echo "ok $n dkms: $2"; else echo "not ok $n dkms: $2"; fail=1; fi
}
for name in "$@"; do
	log=build/dkms-$name.log
	kenv=$("$here/kernel.sh" "$name" 2>"$log")
	rc=$?
	if [ $rc = 3 ] || [ "$(id -u)" != 0 ]; then
		why=$(printf '%s\n' "$kenv" | sed -n 's/^SKIP: //p' | head -n 1)
		[ "$(id -u)" = 0 ] || why="needs root"
		line ok "build for $name # SKIP $why"
		line ok "module for $name # SKIP $why"
		continue
	fi
	if [ $rc != 0 ]; then
		line not-ok "build for $name: kernel not prepared (log: $log)"
		line not-ok "module for $name"
		continue
	fi
	KREL='' KCHROOT=''
	eval "$kenv"
	root=${KCHROOT:-}
	run() { # command... (in the kernel's build environment)
		if [ -z "$root" ]; then
			"$@"
			return
		fi
		# /proc mounted in a mount namespace of the command's own:
		# objtool reads it, and nothing stays mounted in the chroot.
		# shellcheck disable=SC2016
		unshare -m sh -c 'mount -t proc proc "$1/proc" && exec chroot "$@"' \
			sh "$root" "$@"
	}
	cleanup() {
		run dkms remove "bufpool/$ver" --all >/dev/null 2>&1
		rm -rf "$root/usr/src/bufpool-$ver"
	}
	if ! run sh -c 'command -v dkms' >/dev/null 2>&1; then
		line not-ok "build for $name: no dkms where its headers are"
		line not-ok "module for $name"
		continue
	fi
	cleanup
	if make -s dkms-install DESTDIR="$root" >> "$log" 2>&1 &&
	   run dkms add "bufpool/$ver" >> "$log" 2>&1 &&
	   run dkms build "bufpool/$ver" -k "$KREL" >> "$log" 2>&1; then
		line ok "build of bufpool/$ver for $KREL"
	else
		line not-ok "build of bufpool/$ver for $KREL (log: $log)"
		tail -n 15 "$log" | sed 's/^/# /'
	fi
	ko=$(find "$root/var/lib/dkms/bufpool/$ver/$KREL" -name 'bufpool.ko*' 2>/dev/null | head -n 1)
	if [ -n "$ko" ] && modinfo -F vermagic "$ko" | grep -q "^$KREL "; then
		line ok "the module dkms built is for $KREL"
	else
		line not-ok "module for $KREL"
	fi
	cleanup
done
exit $fail
