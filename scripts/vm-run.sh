#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Boot a kernel in QEMU with a busybox initramfs, load bufpool.ko, run a
# command, unload the module, and judge the run by what the guest said
# and by the kernel log.
#
# usage: vm-run.sh -k VMLINUZ -M BUFPOOL_KO [options]
#   -k PATH    kernel image (swap in a debug kernel here)
#   -M PATH    bufpool.ko, installed as /lib/modules/$(uname -r)/extra/
#   -r DIR     root of the kernel's package tree (holding lib/modules/
#              RELEASE with modules.dep), for -K
#   -K MODS    kernel modules to carry, with their dependencies, for the
#              command to modprobe (for example "brd")
#   -p PARAMS  module parameters for insmod ("buf_size=2048 buf_count=64")
#   -B FILE    boot as a production machine would instead: FILE becomes
#              /etc/modprobe.d/bufpool.conf, /etc/modules-load.d/
#              bufpool.conf names the module, and init loads what
#              modules-load.d lists with modprobe (-p is ignored)
#   -f SRC:DST add a file (DST absolute); ELF programs and libraries
#              bring their shared libraries along.  Repeatable.
#   -d SRC:DST add a directory tree, likewise.  Repeatable.
#   -c CMD     command the guest runs (sh -c) with the module loaded
#   -o DIR     where logs go (default: build/vm)
#   -t SECS    wall-clock limit for the whole boot (default 600)
#   -m MIB     guest memory (default 1024)
#   -s CPUS    guest CPUs (default 2)
#   -N NODES   NUMA nodes (default 1); memory and CPUs split evenly
#   -A ACCEL   tcg, kvm or auto (default: $BUFPOOL_VM_ACCEL or auto: use
#              KVM only if a quick probe boots under it, else TCG)
#
# Output: the guest's stdout streamed, then a KTAP block of the runner's
# own checks (module loaded, command passed, module unloaded, taint,
# kernel log clean).  Exit status 0 only when every check passed.
set -eu

die() { echo "vm-run: $*" >&2; exit 2; }

kernel= module= kmods= kload= params= cmd=true outdir=build/vm timeout=600
bootconf=
mem=1024 smp=2 nodes=1 accel=${BUFPOOL_VM_ACCEL:-auto}
files= dirs=
nl='
'
while getopts k:M:r:K:p:B:f:d:c:o:t:m:s:N:A: opt; do
	case $opt in
	k) kernel=$OPTARG ;;
	M) module=$OPTARG ;;
	r) kmods=$OPTARG ;;
	K) kload=$OPTARG ;;
	p) params=$OPTARG ;;
	B) bootconf=$OPTARG ;;
	f) files=$files$OPTARG$nl ;;
	d) dirs=$dirs$OPTARG$nl ;;
	c) cmd=$OPTARG ;;
	o) outdir=$OPTARG ;;
	t) timeout=$OPTARG ;;
	m) mem=$OPTARG ;;
	s) smp=$OPTARG ;;
	N) nodes=$OPTARG ;;
	A) accel=$OPTARG ;;
	*) die "bad option; see the header of $0" ;;
	esac
done
[ -n "$kernel" ] && [ -r "$kernel" ] || die "no readable kernel image (-k)"
[ -n "$module" ] && [ -r "$module" ] || die "no readable module (-M)"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing"
busybox=$(command -v busybox) || die "busybox missing"
case $(file -b "$busybox" 2>/dev/null || echo static) in
*dynamically*) die "$busybox is dynamically linked: install busybox-static" ;;
esac

release=$(modinfo -F vermagic "$module" | cut -d' ' -f1)
[ -n "$release" ] || die "cannot read vermagic of $module"

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/bufpool-vm.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
root=$work/root
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" \
	"$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/etc" \
	"$root/lib/modules/$release/extra"
cp "$busybox" "$root/bin/busybox"

# Copy a file and, for a dynamic ELF object, the libraries it needs.
add_file() {
	mkdir -p "$root$(dirname "$2")"
	cp -L "$1" "$root$2"
	if [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; then
		ldd "$1" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p' |
		while read -r lib; do
			[ -e "$root$lib" ] && continue
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
	fi
}

printf '%s' "$files" | while IFS= read -r spec; do
	[ -n "$spec" ] || continue
	add_file "${spec%%:*}" "${spec#*:}"
done
printf '%s' "$dirs" | while IFS= read -r spec; do
	[ -n "$spec" ] || continue
	src=${spec%%:*} dst=${spec#*:}
	(cd "$src" && find . -type f) | while IFS= read -r f; do
		add_file "$src/$f" "$dst/${f#./}"
		if [ -x "$src/$f" ]; then
			chmod +x "$root$dst/${f#./}"
		fi
	done
done
cp "$module" "$root/lib/modules/$release/extra/bufpool.ko"
if [ -n "$kmods" ] && [ -d "$kmods/lib/modules/$release" ]; then
	# The kernel's own index files: depmod and modprobe want them.
	cp "$kmods/lib/modules/$release"/modules.builtin* \
		"$kmods/lib/modules/$release"/modules.order \
		"$root/lib/modules/$release/" 2>/dev/null || true
fi
if [ -n "$kload" ]; then
	[ -f "$kmods/lib/modules/$release/modules.dep" ] ||
		die "-K needs -r: no $kmods/lib/modules/$release/modules.dep"
	for m in $kload; do
		modprobe -d "$kmods" -S "$release" --show-depends "$m" ||
			die "no module $m for $release"
	done | sed -n 's/^insmod \([^ ]*\).*/\1/p' | sort -u | while read -r ko; do
		rel_path=${ko#"$kmods"}
		mkdir -p "$root$(dirname "$rel_path")"
		cp "$ko" "$root$rel_path"
	done
fi
# depmod wants the kernel's index files; a kernel tree built here has none.
for f in modules.order modules.builtin modules.builtin.modinfo; do
	[ -e "$root/lib/modules/$release/$f" ] || : > "$root/lib/modules/$release/$f"
done
depmod -b "$root" "$release"

# kselftest's runner calls "timeout --foreground"; busybox lacks the flag.
cat > "$root/etc/timeout" <<'EOF'
#!/bin/sh
[ "${1:-}" = --foreground ] && shift
exec /bin/busybox timeout "$@"
EOF
chmod +x "$root/etc/timeout"

if [ -n "$bootconf" ]; then
	[ -r "$bootconf" ] || die "no readable modprobe.d file (-B)"
	mkdir -p "$root/etc/modprobe.d" "$root/etc/modules-load.d"
	cp "$bootconf" "$root/etc/modprobe.d/bufpool.conf"
	echo bufpool > "$root/etc/modules-load.d/bufpool.conf"
	params="modprobe: $(grep -v '^#' "$bootconf" | tr '\n' ' ')"
fi

{
	printf 'PARAMS=%s\n' "'$(printf '%s' "$params" | sed "s/'/'\\\\''/g")'"
	printf 'CMD=%s\n' "'$(printf '%s' "$cmd" | sed "s/'/'\\\\''/g")'"
} > "$root/etc/bufpool-vm.conf"

cat > "$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s
mv /etc/timeout /usr/bin/timeout
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# No tmpfs on /tmp: the initramfs root is writable already, and files
# copied in at their host paths (libraries found through an rpath into
# a build tree, which may be under /tmp) must stay visible.
mkdir -p /root
# What udev would make: kselftest's runner writes to /dev/stdout.
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
# ttyS0 carries the kernel console; this side talks on ttyS1.
exec >/dev/ttyS1 2>&1 </dev/null
. /etc/bufpool-vm.conf
rel=$(uname -r)
export BUFPOOL_MODULE=/lib/modules/$rel/extra/bufpool.ko
echo "BUFPOOL-VM: booted $rel, $(nproc) cpus"
rc=skipped
# As systemd-modules-load would: modprobe what modules-load.d lists,
# with the options of modprobe.d.  Else insmod with the given PARAMS.
load() {
	if [ -s /etc/modules-load.d/bufpool.conf ]; then
		for m in $(grep -hv '^#' /etc/modules-load.d/*.conf); do
			modprobe "$m" || return 1
		done
	else
		# shellcheck disable=SC2086
		insmod "$BUFPOOL_MODULE" $PARAMS
	fi
}
if load; then
	echo "BUFPOOL-VM: insmod ok $PARAMS"
	sh -c "$CMD"
	rc=$?
	echo "BUFPOOL-VM: payload rc=$rc"
	if rmmod bufpool; then
		echo "BUFPOOL-VM: rmmod ok"
	else
		echo "BUFPOOL-VM: rmmod failed"
	fi
else
	echo "BUFPOOL-VM: insmod failed"
fi
# A kernel with kmemleak: scan now that the module is gone.  Objects
# younger than 5 s are not reported, hence the wait.
mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
if [ -w /sys/kernel/debug/kmemleak ]; then
	sleep 6
	echo scan > /sys/kernel/debug/kmemleak
	echo scan > /sys/kernel/debug/kmemleak
	leaks=$(grep -c 'unreferenced object' /sys/kernel/debug/kmemleak)
	echo "BUFPOOL-VM: kmemleak=$leaks"
	cat /sys/kernel/debug/kmemleak | head -n 60
fi
echo "BUFPOOL-VM: tainted=$(cat /proc/sys/kernel/tainted)"
echo "BUFPOOL-VM: done"
poweroff -f
EOF
chmod +x "$root/init"

(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 > "$work/initrd.gz"

# NUMA topology: nodes share memory and CPUs evenly, one socket each
# (CPUs of one socket share a cache; split across nodes, the guest WARNs).
smp_spec=$smp
numa=
if [ "$nodes" -gt 1 ]; then
	[ $((smp % nodes)) -eq 0 ] && [ $((mem % nodes)) -eq 0 ] ||
		die "-N $nodes must divide both -s $smp and -m $mem"
	per_cpu=$((smp / nodes)) per_mem=$((mem / nodes)) i=0
	smp_spec="$smp,sockets=$nodes,cores=$per_cpu,threads=1"
	while [ $i -lt "$nodes" ]; do
		numa="$numa -object memory-backend-ram,id=mem$i,size=${per_mem}M"
		numa="$numa -numa node,nodeid=$i,cpus=$((i * per_cpu))-$((i * per_cpu + per_cpu - 1)),memdev=mem$i"
		i=$((i + 1))
	done
fi

klog=$outdir/kernel.log
ulog=$outdir/guest.log

boot() { # accel secs klog ulog
	timeout --foreground -k 5 "$2" qemu-system-x86_64 \
		-accel "$1" -cpu max -smp "$smp_spec" -m "$mem" $numa \
		-kernel "$kernel" -initrd "$work/initrd.gz" \
		-append "console=ttyS0 loglevel=7 panic=-1 oops=panic" \
		-display none -monitor none -no-reboot \
		-serial "file:$3" -serial stdio </dev/null |
		tr -d '\r' | tee "$4"
}

# KVM: a quick probe, cached per host kernel and guest kernel, because
# some hosts expose /dev/kvm but hang a stock guest under it.
if [ "$accel" = auto ]; then
	accel=tcg
	if [ -w /dev/kvm ]; then
		cache=${BUFPOOL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/bufpool}
		key=$(printf '%s %s' "$(uname -r)" "$(cksum < "$kernel")" | cksum | cut -d' ' -f1)
		probe=$cache/kvm-probe-$key
		if [ ! -f "$probe" ]; then
			mkdir -p "$cache"
			if boot kvm 20 "$work/probe.klog" "$work/probe.ulog" >/dev/null 2>&1 &&
			   grep -q 'BUFPOOL-VM: done' "$work/probe.ulog"; then
				echo kvm > "$probe"
			else
				echo tcg > "$probe"
			fi
		fi
		accel=$(cat "$probe")
	fi
fi
echo "vm-run: booting $release under $accel ($smp cpus, $mem MiB, $nodes NUMA node(s))"

set +e
boot "$accel" "$timeout" "$klog" "$ulog"
qrc=$?
set -e

# The runner's own checks, as KTAP.
n=0 fail=0
check() { # ok? description [diagnostic]
	n=$((n + 1))
	if [ "$1" = 1 ]; then
		echo "ok $n vm: $2"
	else
		echo "not ok $n vm: $2"
		fail=1
		[ -z "${3:-}" ] || printf '%s\n' "$3" | sed 's/^/# /'
	fi
}
has() { grep -q "^BUFPOOL-VM: $1" "$ulog"; }

kml=$(sed -n 's/^BUFPOOL-VM: kmemleak=//p' "$ulog")
echo "TAP version 13"
if [ -n "$kml" ]; then echo "1..7"; else echo "1..6"; fi
has 'insmod ok' && r=1 || r=0
check "$r" "module loaded ($params)" "$(grep -E 'bufpool' "$klog" | tail -n 5)"
rcline=$(sed -n 's/^BUFPOOL-VM: payload rc=//p' "$ulog")
[ "$rcline" = 0 ] && r=1 || r=0
check "$r" "guest command exited 0 (rc=${rcline:-none}, qemu rc=$qrc)"
# The command's own KTAP (run_kselftest.sh exits 0 whatever happened).
nfail=$(grep -c '^not ok ' "$ulog" || true)
nok=$(grep -c '^ok ' "$ulog" || true)
[ "$nfail" = 0 ] && r=1 || r=0
check "$r" "guest KTAP results: $nok ok, $nfail not ok"
has 'rmmod ok' && r=1 || r=0
check "$r" "module unloaded"
taint=$(sed -n 's/^BUFPOOL-VM: tainted=//p' "$ulog")
# Allowed: O (out-of-tree module, 4096) and E (unsigned module, 8192).
if [ -n "$taint" ] && [ $((taint & ~(4096 | 8192))) -eq 0 ]; then r=1; else r=0; fi
check "$r" "kernel taint only O/E (tainted=${taint:-unknown})"
# Reports, not banners: "RCU lockdep checking is enabled" and the
# kmemleak start-up line are not findings.
bad='WARNING:|BUG:|Oops|Call Trace:|general protection|Kernel panic|suspected memory leak|lockdep is turned off|possible (circular|recursive) locking|inconsistent lock state|possible deadlock|UBSAN:|KASAN:|INFO: task .* blocked|page allocation failure|RCU stall|rcu_.*detected stalls'
if grep -Eq "$bad" "$klog"; then
	check 0 "kernel log clean" "$(grep -E -m 20 "$bad" "$klog")"
else
	check 1 "kernel log clean"
fi
if [ -n "$kml" ]; then
	[ "$kml" = 0 ] && r=1 || r=0
	check "$r" "kmemleak found no leak ($kml suspected)"
fi
echo "# vm-run: logs in $klog and $ulog"
# The guest's results, counted as make check counts them.
if [ $((nok + nfail)) -gt 0 ]; then
	echo "# vm-run: $("$(dirname "$0")/ktap-summary.sh" "$ulog" 2>/dev/null | tail -n 1) in the guest"
fi
exit $fail
