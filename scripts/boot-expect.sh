#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: boot-expect.sh MODPROBE_CONF > script
# Writes the guest's check for make check-boot: the module was loaded by
# modprobe with the options of MODPROBE_CONF, and every pool its pools
# option names is there with its geometry.  The script prints KTAP.
set -eu
pools=$(sed -n 's/^options bufpool .*pools=\([^ ]*\).*/\1/p' "$1")
[ -n "$pools" ] || { echo "boot-expect: no pools option in $1" >&2; exit 1; }
count=$(printf '%s\n' "$pools" | tr ';' '\n' | grep -c .)

cat <<'HEAD'
#!/bin/sh
n=0
fail=0
t() { # description, then a command
	d=$1
	shift
	n=$((n + 1))
	if "$@"; then echo "ok $n boot: $d"; else echo "not ok $n boot: $d"; fail=1; fi
}
is() { [ "$(cat "$1" 2>/dev/null)" = "$2" ]; }
echo "TAP version 13"
HEAD
echo "echo 1..$((count + 2))"
echo "t 'loaded by modprobe, listed in modules-load.d' grep -q '^bufpool ' /proc/modules"
printf '%s\n' "$pools" | tr ';' '\n' | while IFS= read -r spec; do
	name=${spec%%:*}
	size=$(printf '%s\n' "$spec" | sed -n 's/.*buf_size=\([0-9]*\).*/\1/p')
	bufs=$(printf '%s\n' "$spec" | sed -n 's/.*buf_count=\([0-9]*\).*/\1/p')
	# A spread pool's buffers are a cache line more than their size
	# apart (ABI 1.8); a packed pool's exactly their size.
	stride=$size
	case ",${spec#*:}," in
	*,spread=[y1],*) stride=$((size + 64)) ;;
	esac
	d=/sys/class/bufpool/bufpool-$name/info
	echo "t '/dev/bufpool-$name: $bufs x $size B, $stride apart' sh -c '[ -c /dev/bufpool-$name ] && [ \"\$(cat $d/buf_size)\" = $size ] && [ \"\$(cat $d/buf_count)\" = $bufs ] && [ \"\$(cat $d/buf_stride)\" = $stride ]'"
done
echo "t 'bufpoolctl lists them all' sh -c '[ \"\$(bufpoolctl list | grep -c \"^bufpool-\")\" = $count ]'"
echo 'exit $fail'
