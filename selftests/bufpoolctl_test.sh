#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# bufpoolctl against the loaded module: list, show, stats, JSON, watch,
# the exit statuses a script relies on, --help and --version.  KTAP.
set -u
dir=$(cd "$(dirname "$0")" && pwd)
ctl=
for c in "$dir/bufpoolctl" "$dir/../scripts/tools/bufpoolctl"; do
	[ -x "$c" ] && ctl=$c && break
done
if [ -z "$ctl" ] || [ ! -d /sys/class/bufpool/bufpool ]; then
	echo "1..0 # SKIP needs bufpoolctl and the module"
	exit 4
fi
n=0
fail=0
t() { # status description
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n $2"; else echo "not ok $n $2"; fail=1; fi
}

echo "TAP version 13"
echo "1..15"
out=$("$ctl" list); st=$?
printf '%s\n' "$out" | grep -q '^bufpool  *2048 ' && [ $st = 0 ]
t $? "list shows the default pool with its buffer size"

out=$("$ctl" --json list)
case $out in
'[{"pool":"bufpool","buf_size":'*'}]') t 0 "list --json is an array of objects" ;;
*) t 1 "list --json is an array of objects: $out" ;;
esac

out=$("$ctl" --json stats bufpool)
in_use=$(cat /sys/class/bufpool/bufpool/stats/in_use)
case $out in
'{"pool":"bufpool","total":'*"\"in_use\":$in_use,"*'}') t 0 "stats --json matches sysfs" ;;
*) t 1 "stats --json matches sysfs: $out" ;;
esac

out=$("$ctl" show bufpool)
printf '%s\n' "$out" | grep -q '^  buf_count  *[0-9]' &&
	printf '%s\n' "$out" | grep -q '^  buf_stride  *[0-9]' &&
	printf '%s\n' "$out" | grep -q '^  depot_flags  *[0-9]' &&
	printf '%s\n' "$out" | grep -q '^  caches  *[0-9]' &&
	printf '%s\n' "$out" | grep -q '^  high_watermark  *[0-9]'
t $? "show: geometry and statistics"

# ABI 1.4: the repair counters, as sysfs has them.
out=$("$ctl" --json show bufpool)
repairs=$(cat /sys/class/bufpool/bufpool/stats/repairs)
case $out in
*"\"repair_requests\":"*"\"repairs\":$repairs,"*"\"repair_waits\":"*"\"repair_stopped_us\":"*) t 0 "show --json: the repair counters" ;;
*) t 1 "show --json: the repair counters: $out" ;;
esac

# ABI 1.5: follow-ups and the shared path's counters, as sysfs has them.
out=$("$ctl" --json stats bufpool)
passes=$(cat /sys/class/bufpool/bufpool/stats/settle_passes)
case $out in
*"\"unsettled\":"*"\"settle_passes\":$passes,"*"\"shared_acquires\":"*"\"shared_releases\":"*) t 0 "stats --json: the follow-up and shared-path counters" ;;
*) t 1 "stats --json: the follow-up and shared-path counters: $out" ;;
esac

# Queues: one object per live descriptor (a name in queues/<k>/name).
out=$("$ctl" --json show bufpool)
live=0
for q in /sys/class/bufpool/bufpool/queues/*/name; do
	[ -s "$q" ] && [ -n "$(cat "$q")" ] && live=$((live + 1))
done
nq=$(printf "%s\n" "$out" | grep -o "{\"name\":" | wc -l)
case $out in
*',"queues":['*']}') [ "$nq" = "$live" ] ;;
*) false ;;
esac
t $? "show --json: the live queues ($live), as sysfs has them"

"$ctl" stats nosuchpool > /dev/null 2>&1
[ $? = 1 ]
t $? "an unknown pool: exit 1"

out=$("$ctl" frobnicate 2>/dev/null); st=$?
err=$("$ctl" frobnicate 2>&1 >/dev/null)
[ $st = 2 ] && [ -z "$out" ] && printf '%s\n' "$err" | grep -q '^usage: '
t $? "bad usage: the usage on stderr, exit 2"

BUFPOOL_SYSFS=/nonexistent "$ctl" list > /dev/null 2>&1
[ $? = 3 ]
t $? "module not loaded: exit 3"

"$ctl" --watch 1 stats bufpool > /tmp/bufpoolctl.watch 2>&1 &
pid=$!
# Wait for a second report, however slow the machine (a debug kernel
# under emulation takes seconds for one), up to a minute.
i=0
while [ "$(grep -c '^bufpool:' /tmp/bufpoolctl.watch)" -lt 2 ] && [ $i -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
[ "$(grep -c '^bufpool:' /tmp/bufpoolctl.watch)" -ge 2 ]
t $? "--watch repeats"

"$ctl" --watch 0 stats bufpool > /dev/null 2>&1
[ $? = 2 ]
t $? "--watch 0 refused: exit 2"

for h in --help -h; do
	out=$("$ctl" $h 2>/tmp/bufpoolctl.err); st=$?
	[ $st = 0 ] && [ ! -s /tmp/bufpoolctl.err ] &&
		printf '%s\n' "$out" | grep -q '^usage: bufpoolctl ' &&
		printf '%s\n' "$out" | grep -q -- '--watch SECS'
	t $? "$h: the usage on stdout, exit 0"
done

# The library's version, put in when make builds the script.
out=$("$ctl" --version); st=$?
printf '%s\n' "$out" | grep -Eqx 'bufpoolctl [0-9]+\.[0-9]+\.[0-9]+' && [ $st = 0 ]
t $? "--version: bufpoolctl and the library's version, exit 0 ($out)"
exit $fail
