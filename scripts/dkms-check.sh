#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: dkms-check.sh VERSION
# make check's dkms stage: install the module's sources as dkms wants
# them (make dkms-install), have dkms build the module against the
# newest installed Debian kernel headers, check what it built, and take
# it all away again.  Needs root (dkms writes /usr/src, /var/lib/dkms).
# Prints KTAP.
set -u
ver=$1
hdr=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1)
krel=${hdr#/usr/src/linux-headers-}
log=build/dkms.log
mkdir -p build
echo "TAP version 13"
echo "1..2"
if [ "$(id -u)" != 0 ] || ! command -v dkms >/dev/null || [ -z "$hdr" ]; then
	echo "ok 1 dkms: build # SKIP needs root, dkms and linux-headers-amd64"
	echo "ok 2 dkms: module for $krel # SKIP"
	exit 0
fi
cleanup() {
	dkms remove "bufpool/$ver" --all >/dev/null 2>&1
	rm -rf "/usr/src/bufpool-$ver"
}
cleanup
fail=0
if make -s dkms-install > "$log" 2>&1 &&
   dkms add "bufpool/$ver" >> "$log" 2>&1 &&
   dkms build "bufpool/$ver" -k "$krel" >> "$log" 2>&1; then
	echo "ok 1 dkms: build of bufpool/$ver for $krel"
else
	echo "not ok 1 dkms: build of bufpool/$ver for $krel (log: $log)"
	tail -n 15 "$log" | sed 's/^/# /'
	fail=1
fi
ko=$(find "/var/lib/dkms/bufpool/$ver/$krel" -name 'bufpool.ko*' 2>/dev/null | head -n 1)
if [ -n "$ko" ] && modinfo -F vermagic "$ko" | grep -q "^$krel "; then
	echo "ok 2 dkms: the module it built is for $krel"
else
	echo "not ok 2 dkms: module for $krel"
	fail=1
fi
cleanup
exit $fail
