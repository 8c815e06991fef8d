#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian packages bufpool needs to build, test and run, if
# any is missing (with "bench": the benchmarks' peers too).  Root runs apt-get directly, others through sudo.
set -eu

pkgs="make gcc libc6-dev pkg-config xz-utils cpio gzip kmod perl file rsync
	linux-headers-amd64 linux-source-6.1 sparse liburcu-dev liburing-dev
	qemu-system-x86 busybox-static cppcheck spin
	flex bison bc libelf-dev clang libclang-rt-14-dev dkms debootstrap
	python3-dev python3-pytest cargo rustc libyaml-dev"
# usage: deps.sh [bench]: the benchmarks' peers on top
case "${1:-}" in
bench) pkgs="$pkgs libdpdk-dev libjemalloc-dev libgoogle-perftools-dev
	libmimalloc-dev gnuplot-nox" ;;
esac

# DPDK 25.11 goes into the sid chroot (scripts/dpdk25.sh), when there
# is one: make check's VM stage under sid makes it, and the bench's
# build of bench/matrix-dpdk25 installs it then if this could not.
dpdk25() {
	case "${1:-}" in
	bench) why=$("$(dirname "$0")/dpdk25.sh" install) ||
		echo "deps: DPDK 25.11 (sid chroot): $why" >&2 ;;
	esac
}

missing=
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	dpdk25 "${1:-}"
	exit 0
fi

sudo=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || {
		echo "deps: missing Debian packages:$missing; install them as root" >&2
		exit 1
	}
	sudo=sudo
fi
echo "deps: installing$missing"
$sudo apt-get update -q
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
	--no-install-recommends $missing
dpdk25 "${1:-}"
