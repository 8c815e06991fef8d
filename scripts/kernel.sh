#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: kernel.sh NAME
# Make ready one of the Debian kernels the module is tested under, and
# print what building against it and booting it takes, as shell
# assignments for eval:
#   KNAME    NAME
#   KREL     its release (uname -r)
#   KDIR     its headers' build tree, as seen where the build runs
#   KIMAGE   the bootable image, a host path
#   KROOT    host dir with lib/modules/KREL/{modules.dep,kernel/} (vm-run.sh -r)
#   KCHROOT  '' to build on this machine, else the chroot holding KDIR
#            (build there with scripts/kenv-run.sh "$KCHROOT" DIR CMD...)
# NAME is one of
#   6.1   Debian 12's own: the newest installed /usr/src/linux-headers-
#         6.1.*-amd64 (linux-headers-amd64 is installed if none is)
#   6.12  the newest linux-headers-6.12.*-amd64 of bookworm-backports,
#         installed on this machine (gcc-12 builds, like Debian 12's)
#   sid   the newest kernel of sid, its headers installed in a cached sid
#         chroot, $BUFPOOL_CACHE/sid-chroot (debootstrap --variant=
#         minbase, then gcc make libc6-dev dwarves kmod dkms), because
#         sid's kbuild programs need a newer glibc than Debian 12's
# The release is the newest the suite has at run time (sort -V); the
# image and modules come from scripts/fetch-kernel.sh into
# $BUFPOOL_CACHE/kernel/KREL; suites other than this machine's own go
# through scripts/apt-suite.sh.  Progress goes to stderr.
# Exit status: 0 ready; 3 the kernel's suite cannot be reached at all,
# with "SKIP: WHY" on stdout; 1 anything else (the suite answers, but
# something is broken), with the reason on stderr.
# Installing (headers, the chroot) needs root; others go through sudo.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
name=${1:?usage: kernel.sh 6.1|6.12|sid}
cache=${BUFPOOL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/bufpool}
export BUFPOOL_CACHE="$cache"

say() { echo "kernel.sh: $*" >&2; }
die() { echo "kernel.sh: $name: $*" >&2; exit 1; }
# stdout stays on fd 8 for SKIP, whatever a function's output is redirected to
exec 8>&1
skip() { echo "SKIP: $*" >&8; exit 3; }

# shellcheck disable=SC1091
release=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
sudo=
[ "$(id -u)" = 0 ] || sudo="sudo env BUFPOOL_CACHE=$cache"

case $name in
6.1) suite= ;;
6.12) suite=bookworm-backports ;;
sid) suite=sid ;;
*) echo "kernel.sh: unknown kernel $name (6.1, 6.12 or sid)" >&2; exit 2 ;;
esac

mkdir -p "$cache"
exec 9> "$cache/.kernel-$name.lock"
flock 9
tmp=$(mktemp -d "$cache/.kernel-sh.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# suite ARGS...: scripts/apt-suite.sh for this kernel's suite; its
# "unreachable" (status 3) becomes our SKIP
suite_cmd() {
	rc=0
	"$here/apt-suite.sh" "$suite" "$@" 2> "$tmp/suite.err" || rc=$?
	grep -v '^apt-suite: refreshing' "$tmp/suite.err" >&2 || true
	if [ $rc = 3 ]; then
		why=$(sed -n 's/^apt-suite: .* unreachable: //p' "$tmp/suite.err" | head -n 1)
		skip "Debian $suite cannot be reached: ${why:-apt-get update failed}"
	fi
	return $rc
}
# hide: mask the mirror's host name in output that may end up in a log
hide() { "$here/apt-suite.sh" "${suite:-$release}" filter; }

installed() { # [admindir] package
	if [ $# = 2 ]; then
		dpkg-query --admindir="$1/var/lib/dpkg" -W -f='${Status}\n' "$2" 2>/dev/null
	else
		dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null
	fi | grep -q 'install ok installed'
}

# newest PATTERN: set krel to the newest release R of the suite with a
# package linux-headers-R, R matching the sed BRE PATTERN ('' if none)
newest() {
	krel=
	suite_cmd apt-cache pkgnames linux-headers- > "$tmp/names"
	sed -n "s/^linux-headers-\\($1\\)\$/\\1/p" "$tmp/names" | sort -rV > "$tmp/rels"
	[ -s "$tmp/rels" ] || return 0
	# pkgnames lists Debian 12's own packages too (bookworm-security has
	# linux-6.12 builds): only those of the suite count
	# shellcheck disable=SC2046
	suite_cmd apt-cache madison $(sed 's/^/linux-headers-/' "$tmp/rels") > "$tmp/madison"
	while read -r r; do
		if awk -v p="linux-headers-$r" -v s=" $suite/main " \
			'$1 == p && index($0, s) { f = 1 } END { exit !f }' "$tmp/madison"; then
			krel=$r
			return 0
		fi
	done < "$tmp/rels"
}

# fetch REL [SUITE]: the image and modules into the cache
fetch() {
	rc=0
	"$here/fetch-kernel.sh" "$@" > /dev/null 2> "$tmp/fetch.err" || rc=$?
	hide < "$tmp/fetch.err" > "$tmp/fetch.log"
	cat "$tmp/fetch.log" >&2
	if [ $rc = 3 ]; then
		skip "Debian ${2:-$release} cannot be reached:" \
			"$(sed -n 's/.*unreachable: //p' "$tmp/fetch.log" | head -n 1)"
	fi
	[ $rc = 0 ] || die "scripts/fetch-kernel.sh $* failed"
	kimage=$cache/kernel/$1/boot/vmlinuz-$1
	kroot=$cache/kernel/$1
	[ -r "$kimage" ] || die "no $kimage"
}

# apt-get on this machine with its own sources
host_apt_install() { # package...
	log=$tmp/apt.log
	if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "$@" > "$log" 2>&1; then
		# apt-get update exits 0 when no host answers: the log decides
		if ! $sudo apt-get update -q > "$log" 2>&1 ||
		   grep -q '^W: Failed to fetch' "$log"; then
			hide < "$log" | grep '^[EW]:' | head -n 5 >&2
			skip "Debian $release cannot be reached:" \
				"$(hide < "$log" | sed -n 's/^[EW]: Failed to fetch //p' | head -n 1)"
		fi
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends "$@" > "$log" 2>&1 || {
			hide < "$log" | tail -n 15 >&2
			die "apt-get install $* failed"
		}
	fi
}

kchroot=
case $name in
6.1)
	newest_61() {
		for d in /usr/src/linux-headers-6.1.*-amd64; do
			[ -f "$d/Makefile" ] && echo "${d#/usr/src/linux-headers-}"
		done | grep -E '^6\.1\.[0-9]+-[0-9]+-amd64$' | sort -V | tail -n 1
	}
	krel=$(newest_61)
	if [ -z "$krel" ]; then
		say "no Debian 12 kernel headers here: installing linux-headers-amd64"
		host_apt_install linux-headers-amd64
		krel=$(newest_61)
		[ -n "$krel" ] || die "linux-headers-amd64 brought no /usr/src/linux-headers-6.1.*-amd64"
	fi
	kdir=/usr/src/linux-headers-$krel
	fetch "$krel"
	;;
6.12)
	newest '6\.12\.[^-]*-amd64'
	[ -n "$krel" ] || die "$suite has no linux-headers-6.12.*-amd64"
	kdir=/usr/src/linux-headers-$krel
	if ! installed "linux-headers-$krel" || [ ! -f "$kdir/Makefile" ]; then
		say "installing linux-headers-$krel from $suite on this machine"
		rc=0
		# INITRD=No: the headers pull in the image; this machine never boots
		# it, so no initramfs (a minute of mkinitramfs) is made for it.
		$sudo env DEBIAN_FRONTEND=noninteractive INITRD=No "$here/apt-suite.sh" "$suite" \
			apt-get install -y -q --no-install-recommends "linux-headers-$krel" \
			> "$tmp/apt.log" 2>&1 || rc=$?
		[ $rc = 3 ] && skip "Debian $suite cannot be reached: $(sed -n 's/.*unreachable: //p' "$tmp/apt.log" | head -n 1)"
		[ $rc = 0 ] || { tail -n 15 "$tmp/apt.log" >&2; die "linux-headers-$krel did not install"; }
		[ -f "$kdir/Makefile" ] || die "linux-headers-$krel installed no $kdir"
	fi
	fetch "$krel" "$suite"
	;;
sid)
	newest '[0-9][^-]*-amd64'
	[ -n "$krel" ] || die "$suite has no linux-headers-*-amd64"
	kchroot=$cache/sid-chroot
	kdir=/usr/src/linux-headers-$krel
	suite_cmd mirror > "$tmp/mirror"
	suite_cmd keyring > "$tmp/keyring"
	mirror=$(cat "$tmp/mirror") keyring=$(cat "$tmp/keyring")
	[ "$(id -u)" = 0 ] || die "building the sid chroot needs root (chroot, mount)"

	# chroot_do CMD...: in the chroot, /proc mounted in a mount namespace
	# of its own (gone when the command ends)
	chroot_do() {
		cp -L /etc/resolv.conf "$kchroot/etc/resolv.conf" 2>/dev/null || true
		# shellcheck disable=SC2016
		unshare -m sh -c 'mount -t proc proc "$1/proc" && exec chroot "$@"' sh "$kchroot" \
			env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
			DEBIAN_FRONTEND=noninteractive "$@"
	}
	# Anything still mounted under the chroot: never rm -rf through it.
	unmount_under() {
		awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts |
			sort -r | while read -r m; do umount -l "$m" || true; done
		! awk -v d="$1" '$2 == d || index($2, d "/") == 1 { f = 1 } END { exit !f }' /proc/mounts
	}

	if [ ! -f "$kchroot/.bufpool-debootstrap" ]; then
		command -v debootstrap > /dev/null || {
			say "installing debootstrap"
			host_apt_install debootstrap
		}
		if [ -e "$kchroot" ]; then
			say "removing the unfinished chroot $kchroot"
			unmount_under "$kchroot" || die "cannot unmount what is mounted under $kchroot"
			rm -rf --one-file-system "$kchroot"
		fi
		say "debootstrap sid into $kchroot (minutes)"
		rc=0
		debootstrap --variant=minbase ${keyring:+--keyring="$keyring"} \
			sid "$kchroot" "$mirror" > "$cache/sid-chroot.log" 2>&1 || rc=$?
		hide < "$cache/sid-chroot.log" > "$tmp/log" && mv "$tmp/log" "$cache/sid-chroot.log"
		unmount_under "$kchroot" || true
		if [ $rc != 0 ]; then
			tail -n 15 "$cache/sid-chroot.log" >&2
			die "debootstrap failed (log: $cache/sid-chroot.log)"
		fi
		echo "deb $mirror sid main" > "$kchroot/etc/apt/sources.list"
		cat > "$kchroot/etc/apt/apt.conf.d/99bufpool" <<-EOF
		// scripts/kernel.sh: the mirror may be a snapshot; nothing else wanted
		Acquire::Check-Valid-Until "false";
		Acquire::Languages "none";
		APT::Install-Recommends "false";
		EOF
		printf '#!/bin/sh\nexit 101\n' > "$kchroot/usr/sbin/policy-rc.d"
		chmod +x "$kchroot/usr/sbin/policy-rc.d"
		touch "$kchroot/.bufpool-debootstrap"
	fi
	# debian-archive-keyring goes along each time: the chroot's apt must
	# keep up with sid's signing keys.
	need=
	for p in gcc make libc6-dev dwarves kmod dkms "linux-headers-$krel"; do
		installed "$kchroot" "$p" || need="$need $p"
	done
	if [ -n "$need" ] || [ ! -f "$kchroot$kdir/Makefile" ]; then
		say "installing in the sid chroot:${need:- linux-headers-$krel}"
		log=$cache/sid-chroot-apt.log
		rc=0
		# shellcheck disable=SC2086
		{ chroot_do dpkg --configure -a &&
		  chroot_do apt-get -q update &&
		  chroot_do apt-get install -y -q --no-install-recommends \
			${need:-"linux-headers-$krel"} debian-archive-keyring; } > "$tmp/log" 2>&1 || rc=$?
		hide < "$tmp/log" > "$log"
		if [ $rc != 0 ]; then
			tail -n 15 "$log" >&2
			die "apt-get install in the sid chroot failed (log: $log)"
		fi
		[ -f "$kchroot$kdir/Makefile" ] || die "linux-headers-$krel installed no $kdir in the chroot"
	fi
	fetch "$krel" "$suite"
	;;
esac

q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
echo "KNAME=$(q "$name")"
echo "KREL=$(q "$krel")"
echo "KDIR=$(q "$kdir")"
echo "KIMAGE=$(q "$kimage")"
echo "KROOT=$(q "$kroot")"
echo "KCHROOT=$(q "$kchroot")"
