#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: kenv-run.sh KCHROOT DIR CMD [ARGS...]
# Run CMD in DIR where a kernel's headers are (KCHROOT as printed by
# scripts/kernel.sh).  KCHROOT empty: on this machine.  Otherwise inside
# that chroot, with DIR bind-mounted at the same absolute path (created
# there) and /proc mounted.  The mounts are made in a mount namespace of
# the command's own (unshare -m): no other process sees them, they go
# away with the command however it ends, nothing is left mounted under
# the chroot (so it can be removed), and runs on different or the same
# DIRs can go on at once.  The environment passes through, PATH set to
# the system's; TMPDIR is dropped when the chroot has no such folder.
# Needs root for the chroot; others go through sudo, and the command then
# runs with their uid and gid.  Exit status: CMD's.
set -eu

[ $# -ge 3 ] || { echo "usage: kenv-run.sh KCHROOT DIR CMD [ARGS...]" >&2; exit 2; }
root=$1 dir=$2
shift 2
if [ -z "$root" ]; then
	cd "$dir"
	exec "$@"
fi

die() { echo "kenv-run: $*" >&2; exit 125; }
[ -d "$dir" ] || die "no directory $dir"
dir=$(cd "$dir" && pwd -P)
root=$(cd "$root" && pwd -P) || die "no chroot $1"
[ -x "$root/bin/sh" ] || die "$root is not a chroot (no /bin/sh)"
case $dir in
"$root"|"$root"/*) die "$dir lies inside the chroot" ;;
/) die "will not bind / into the chroot" ;;
esac
if [ "$(id -u)" != 0 ]; then
	exec sudo env BUFPOOL_KENV_USER="$(id -u):$(id -g)" "$0" "$root" "$dir" "$@"
fi

mkdir -p "$root$dir"
# Where DIR lands must be inside the chroot: no symlink out of it.
[ "$(cd "$root$dir" && pwd -P)" = "$root$dir" ] ||
	die "$dir leads through a symbolic link inside $root"

# shellcheck disable=SC2016
exec unshare -m sh -c '
	root=$1 dir=$2 user=$3
	shift 3
	mount --bind "$dir" "$root$dir" || exit 125
	mount -t proc proc "$root/proc" || exit 125
	exec chroot ${user:+--userspec="$user"} "$root" /bin/sh -c "
		[ -d \"\${TMPDIR:-/tmp}\" ] || unset TMPDIR
		cd \"\$0\" && exec \"\$@\"" "$dir" "$@"
' kenv-run "$root" "$dir" "${BUFPOOL_KENV_USER:-}" env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
