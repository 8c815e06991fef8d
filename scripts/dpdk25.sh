#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# DPDK 25.11 (Debian sid's libdpdk-dev) as a peer of the benchmarks:
# bench/matrix.c built and run a second time inside the sid chroot that
# scripts/kernel.sh sid makes ($BUFPOOL_CACHE/sid-chroot), where sid's
# DPDK links against sid's glibc.  Its DPDK rows are named after the
# release (dpdk25-c256, dpdk25-uc256, ..., rte_ring25: bench/matrix.c,
# DP_TAG).
#
# usage: dpdk25.sh status          exit 0 when the chroot and libdpdk-dev
#                                  in it are there; else "skipped: WHY"
#                                  on stdout and exit 3
#        dpdk25.sh install         install libdpdk-dev (and pkgconf,
#                                  liburcu-dev) in the chroot if missing;
#                                  exit 3 with "skipped: WHY" when the
#                                  chroot is not there or apt fails
#        dpdk25.sh build OUT SRC...
#                                  install if needed, then build OUT
#                                  (bench/matrix-dpdk25) from the tree's
#                                  bench/matrix.c and the library's
#                                  sources SRC (the Makefile's LIB_SRCS)
#                                  with the chroot's gcc; when that
#                                  cannot be, print "# dpdk25: skipped:
#                                  WHY" on stderr, remove OUT, exit 0;
#                                  a compile error exits 1
#        dpdk25.sh peers           the peer names its rows carry, a
#                                  comma-separated list for --peers
#        dpdk25.sh run BIN ARGS... run BIN in the chroot, in the tree
# The tree is bind-mounted into the chroot at its own path, with /proc
# and /sys (DPDK's EAL reads the CPUs from /sys), in a mount namespace
# of the command's own (unshare -m): nothing stays mounted.  The chroot
# needs root; others go through sudo (never asked for a password: no
# sudo without one is a reason to skip), and the command then runs with
# their uid and gid.  Progress and apt's log ($BUFPOOL_CACHE/dpdk25-
# apt.log, mirror host names masked) stay off stdout.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd -P)
cache=${BUFPOOL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/bufpool}
root=$cache/sid-chroot
pkgs="libdpdk-dev pkgconf liburcu-dev"

usage() { echo "usage: dpdk25.sh status|install|build OUT SRC...|peers|run BIN [ARGS...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
cmd=$1
shift

skip() { echo "skipped: $*"; exit 3; }

# as_root CMD...: CMD as root, through sudo -n for others
as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	else
		sudo -n env BUFPOOL_CACHE="$cache" BUFPOOL_DPDK25_USER="$(id -u):$(id -g)" "$@"
	fi
}

have_chroot() { [ -f "$root/.bufpool-debootstrap" ] && [ -x "$root/bin/sh" ]; }
chroot_has() { # package: installed in the chroot
	dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}\n' "$1" \
		2>/dev/null | grep -q 'install ok installed'
}

status() {
	have_chroot || skip "no sid chroot (run scripts/kernel.sh sid first, as make check's VM stage under sid does)"
	if [ "$(id -u)" != 0 ] && ! sudo -n true 2>/dev/null; then
		skip "the sid chroot needs root (no sudo without a password)"
	fi
	for p in $pkgs; do
		chroot_has "$p" || skip "$p not installed in the sid chroot (scripts/dpdk25.sh install)"
	done
}

# The DPDK release the chroot's libdpdk-dev is, as its rows name it.
year() {
	dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Version}' libdpdk-dev |
		sed 's/^[0-9]*://; s/\..*//'
}

# in_chroot CMD...: CMD in the chroot, in the tree, as the caller
in_chroot() {
	if [ "$(id -u)" != 0 ]; then
		as_root "$here/dpdk25.sh" run "$@"
		return
	fi
	r=$(cd "$root" && pwd -P)
	mkdir -p "$r$top"
	[ "$(cd "$r$top" && pwd -P)" = "$r$top" ] ||
		{ echo "dpdk25: $top leads through a symbolic link inside $r" >&2; return 125; }
	# shellcheck disable=SC2016
	unshare -m sh -c '
		r=$1 dir=$2 user=$3
		shift 3
		mount --bind "$dir" "$r$dir" &&
		mount -t proc proc "$r/proc" &&
		mount -t sysfs sysfs "$r/sys" || exit 125
		exec chroot ${user:+--userspec="$user"} "$r" /bin/sh -c "
			[ -d \"\${TMPDIR:-/tmp}\" ] || unset TMPDIR
			cd \"\$0\" && exec \"\$@\"" "$dir" "$@"
	' dpdk25 "$r" "$top" "${BUFPOOL_DPDK25_USER:-}" \
		env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# apt-get in the chroot, as root, /proc mounted
chroot_apt() {
	cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
	# shellcheck disable=SC2016
	unshare -m sh -c 'mount -t proc proc "$1/proc" && exec chroot "$@"' sh "$root" \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 "$@"
}

install() {
	have_chroot || skip "no sid chroot (run scripts/kernel.sh sid first, as make check's VM stage under sid does)"
	need=
	for p in $pkgs; do
		chroot_has "$p" || need="$need $p"
	done
	[ -n "$need" ] || return 0
	if [ "$(id -u)" != 0 ]; then
		sudo -n true 2>/dev/null || skip "installing$need in the sid chroot needs root (no sudo without a password)"
		rc=0
		as_root "$here/dpdk25.sh" install || rc=$?
		[ $rc = 0 ] || exit $rc
		return 0
	fi
	echo "dpdk25: installing$need in the sid chroot" >&2
	log=$cache/dpdk25-apt.log
	tmp=$(mktemp)
	rc=0
	# The chroot's lists may be older than its mirror: refresh them and
	# try again when the first try fails.
	# shellcheck disable=SC2086
	{ chroot_apt install -y --no-install-recommends $need ||
	  { chroot_apt update && chroot_apt install -y --no-install-recommends $need; }; } \
		> "$tmp" 2>&1 || rc=$?
	"$here/apt-suite.sh" sid filter < "$tmp" > "$log" 2>/dev/null || sed 's#://[^/]*#://<mirror>#g' "$tmp" > "$log"
	rm -f "$tmp"
	if [ $rc != 0 ]; then
		why=$(grep -E '^E: ' "$log" | head -n 1 | sed 's/^E: *//')
		skip "libdpdk-dev not installable in the sid chroot: ${why:-apt-get exit $rc} (log: $log)"
	fi
}

build() {
	out=$1
	shift
	rc=0
	why=$(install) || rc=$?
	[ $rc = 0 ] || [ $rc = 3 ] || exit $rc
	[ $rc = 0 ] && { why=$(status) || rc=$?; }
	if [ $rc != 0 ]; then
		echo "# dpdk25: skipped: ${why#skipped: }" >&2
		rm -f "$out"
		return 0
	fi
	case $out in /*) ;; *) out=$top/$out ;; esac
	objs=$top/build/dpdk25
	mkdir -p "$objs"
	echo "dpdk25: building $out against DPDK $(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Version}' libdpdk-dev) in the sid chroot" >&2
	# The library's sources with its own flags (Makefile: BP_CFLAGS),
	# then bench/matrix.c with bench/matrix's (MATRIX_CFLAGS, HAVE_DPDK).
	# shellcheck disable=SC2016
	in_chroot sh -c '
		set -e
		out=$1 objs=$2
		shift 2
		f="-D_GNU_SOURCE -Wall -Wextra -Werror -pthread -Iuapi -Iuserlib -O2 -g"
		o=
		for s in "$@"; do
			b=${s##*/}
			gcc -std=c11 $f -c -o "$objs/${b%.c}.o" "$s"
			o="$o $objs/${b%.c}.o"
		done
		gcc -std=gnu11 $f -DHAVE_DPDK $(pkg-config --cflags libdpdk) \
			-Wno-error=cast-qual -o "$out.tmp" bench/matrix.c $o \
			-lurcu-common $(pkg-config --libs libdpdk) -pthread
		mv "$out.tmp" "$out"
	' sh "$out" "$objs" "$@"
}

case $cmd in
status)
	status
	;;
install)
	install
	;;
build)
	[ $# -ge 2 ] || usage
	build "$@"
	;;
peers)
	y=$(year)
	echo "dpdk$y-c256,dpdk$y-uc256,dpdk$y-c256-lfs,dpdk$y-c0,dpdk$y-c0-lfs,rte_ring$y"
	;;
run)
	[ $# -ge 1 ] || usage
	have_chroot || { echo "dpdk25: no sid chroot at $root" >&2; exit 125; }
	in_chroot "$@"
	;;
*)
	usage
	;;
esac
