#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: kernel-check.sh vm|debug|build NAME [-- VM_RUN_ARGS...]
# One stage of make check for one kernel (NAME: 6.1, 6.12 or sid; see
# scripts/kernel.sh; or "local": the kernel tree in $KDIR booted from
# $BUFPOOL_KERNEL, with its modules under $BUFPOOL_KROOT if set):
#   build  build bufpool.ko against NAME's own headers, from a copy of
#          the module's sources in build/k/NAME (for sid, in the cached
#          sid chroot), feature tests included; print its path
#   vm     build it, boot NAME's Debian kernel in QEMU and run the
#          kselftest suite (build/ksft) with the module loaded
#   debug  the same under a debug kernel (KASAN, lockdep, kmemleak,
#          DEBUG_VM, UBSAN) built from NAME's linux-source
# vm and debug print KTAP whose every result line names the kernel
# release; when NAME's Debian suite cannot be reached at all the stage
# is one SKIP with the reason.  Anything else that goes wrong (the suite
# answers but the module does not build, load or pass) fails the stage.
# Environment: VM_PARAMS, FUZZ_SECS, STORM_SECS, KSFT_ARGS as in the
# Makefile.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
mode=${1:?usage: kernel-check.sh vm|debug|build NAME}
name=${2:?usage: kernel-check.sh vm|debug|build NAME}
shift 2
[ "${1:-}" = -- ] && shift

stage=$mode
[ "$mode" = vm ] || [ "$mode" = debug ] || [ "$mode" = build ] ||
	{ echo "kernel-check: unknown mode $mode" >&2; exit 2; }

skip() { # reason
	echo "TAP version 13"
	echo "1..1"
	echo "ok 1 $stage: kernel $name [$name] # SKIP $1"
	exit 0
}
fail() { # description [log]
	echo "TAP version 13"
	echo "1..1"
	echo "not ok 1 $stage: $1 [${krel:-$name}]"
	[ -z "${2:-}" ] || tail -n 25 "$2" | sed 's/^/# /'
	exit 1
}

# Which kernel: its release, headers, image and modules.
set +e
if [ "$name" = local ]; then
	rel=$(sed -n 's/.*UTS_RELEASE "\(.*\)"/\1/p' \
		"${KDIR:-}/include/generated/utsrelease.h" 2>/dev/null)
	if [ -z "$rel" ] || [ ! -r "${BUFPOOL_KERNEL:-}" ]; then
		echo "kernel-check: local needs KDIR=<build tree> and BUFPOOL_KERNEL=<image>" >&2
		kenv= rc=1
	else
		kenv="KREL='$rel' KDIR='$KDIR' KIMAGE='$BUFPOOL_KERNEL' KROOT='${BUFPOOL_KROOT:-}' KCHROOT=''"
		rc=0
	fi
else
	kenv=$("$here/kernel.sh" "$name")
	rc=$?
fi
set -e
if [ $rc = 3 ]; then
	skip "$(printf '%s\n' "$kenv" | sed -n 's/^SKIP: //p' | head -n 1)"
fi
[ $rc = 0 ] || fail "kernel $name could not be prepared (scripts/kernel.sh $name: exit $rc)"
KREL= KDIR= KIMAGE= KROOT= KCHROOT=
eval "$kenv"
krel=$KREL

# The module's sources, copied so that each kernel's objects stay apart.
build_module() { # kdir chroot dest
	rm -rf "$3"
	mkdir -p "$3/kmod/compat" "$3/scripts"
	cp "$top/Kbuild" "$3/"
	cp -r "$top/uapi" "$3/"
	cp "$top"/kmod/*.c "$top"/kmod/*.h "$3/kmod/"
	rm -f "$3/kmod/compat_gen.h" "$3"/kmod/*.mod.c
	cp "$top"/kmod/compat/*.c "$3/kmod/compat/"
	cp "$top/scripts/kcompat.sh" "$3/scripts/"
	"$here/kenv-run.sh" "$2" "$3" \
		sh scripts/kcompat.sh "$1" kmod/compat kmod/compat_gen.h &&
	"$here/kenv-run.sh" "$2" "$3" \
		make -s -C "$1" M="$3" W=1 modules
}

dest=$top/build/k/$name
log=$top/build/k/$name.log
mkdir -p "$top/build/k"
if [ "$mode" = debug ]; then
	dest=$top/build/k/$name-debug
	log=$top/build/k/$name-debug.log
	src=$("$here/kernel-source.sh" "$name") ||
		fail "linux-source for $name could not be had"
	dkdir=$("$here/debug-kernel.sh" "$src") ||
		fail "debug kernel from $(basename "$src") did not build"
	krel=$(cat "$dkdir/include/config/kernel.release")
	KDIR=$dkdir KCHROOT= KIMAGE=$dkdir/arch/x86/boot/bzImage KROOT=
fi
if ! build_module "$KDIR" "$KCHROOT" "$dest" > "$log" 2>&1; then
	fail "bufpool.ko built against $krel's headers" "$log"
fi
# Our sources, not the kernel's headers: those are each kernel's own.
if grep -q "^$dest/.*warning:" "$log"; then
	fail "bufpool.ko built against $krel's headers without warnings (W=1)" "$log"
fi
ko=$dest/kmod/bufpool.ko
if [ "$mode" = build ]; then
	echo "$ko"
	exit 0
fi

: "${VM_PARAMS:=buf_size=2048 buf_count=4096}"
: "${FUZZ_SECS:=30}" "${STORM_SECS:=30}" "${KSFT_ARGS:=}"
kmods= timeout=900
if [ "$mode" = debug ]; then
	# brd is built in; the checkers make everything slower.
	timeout=1500
elif [ -n "$KROOT" ]; then
	kmods="-r $KROOT -K brd"
fi
echo "# kernel-check: $mode suite under $krel (module: $ko)"
rcfile=$(mktemp "${TMPDIR:-/tmp}/bufpool-kcheck.XXXXXX")
trap 'rm -f "$rcfile"' EXIT INT TERM
# shellcheck disable=SC2086
{
	set +e
	"$here/vm-run.sh" -k "$KIMAGE" -M "$ko" $kmods \
		-o "$top/build/vm/$mode-$name" -t $timeout -p "$VM_PARAMS" \
		-d "$top/build/ksft:/ksft" -N 2 "$@" \
		-c "cd /ksft && BUFPOOL_FUZZ_SECS=$FUZZ_SECS BUFPOOL_STORM_SECS=$STORM_SECS ./run_kselftest.sh $KSFT_ARGS"
	echo $? > "$rcfile"
} | "$here/ktap-tag.sh" "$krel"
exit "$(cat "$rcfile")"
