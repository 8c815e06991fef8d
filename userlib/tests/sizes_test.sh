#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# bufpool-sizes: good definitions give the expected classes and module
# parameters; each kind of bad input is refused with exit 1 and an error
# naming the line; --help, --version and usage errors.  KTAP.
set -u
# The tool of the tree this test was built in (run in place, or
# installed under build/ by the kselftest runner): search upwards.
tool=${BUFPOOL_SIZES:-}
top=
dir=$(cd "$(dirname "$0")" && pwd)
while [ -z "$tool" ] && [ "$dir" != / ]; do
	if [ -x "$dir/scripts/tools/bufpool-sizes" ]; then
		tool=$dir/scripts/tools/bufpool-sizes
		top=$dir
	fi
	dir=$(dirname "$dir")
done
if [ -z "$tool" ]; then
	echo "1..0 # SKIP scripts/tools/bufpool-sizes not built"
	exit 4
fi
n=0
fail=0

ok() { n=$((n + 1)); echo "ok $n $1"; }
nok() { n=$((n + 1)); echo "not ok $n $1"; fail=1; }

# expect_error NAME EXPECTED-STDERR INPUT
expect_error() {
	err=$(printf '%b' "$3" | "$tool" - 2>&1 >/dev/null)
	st=$?
	if [ $st = 1 ] && [ "$err" = "$2" ]; then
		ok "refused: $1"
	else
		nok "refused: $1 (exit $st: $err)"
		echo "#   expected: $2"
	fi
}

echo "TAP version 13"
echo "1..22"

out=$(printf 'message swap_event size=84 rate=200000 hold_us=50 # comment\n\nmessage pool_state size=200 rate=10000\n  message book size=1500 count=4096\nmessage snap size=65536 count=32\nmessage tick size=128 count=100\n' |
	"$tool" -)
# swap_event: 84 B -> class 128; 200000/s held 50 us = 10 in flight,
# twice is 20, at least 64.  tick: 128 B -> 128, 100.  pool_state:
# 200 B -> 256; 10000/s for the default 1000 us = 10, 20, at least 64.
want="pools=c128:buf_size=128,buf_count=164;c256:buf_size=256,buf_count=64;c2048:buf_size=2048,buf_count=4096;c65536:buf_size=65536,buf_count=32"
if printf '%s\n' "$out" | grep -qx "$want" &&
   printf '%s\n' "$out" | grep -qx "options bufpool $want"; then
	ok "classes, counts, pools parameter and modprobe.d line"
else
	nok "classes, counts, pools parameter and modprobe.d line"
	printf '%s\n' "$out" | sed 's/^/# /'
	echo "# expected: $want"
fi

expect_error "unknown field" '<stdin>:2: unknown field "colour"' \
	'message a size=64 count=8\nmessage b size=64 colour=red count=1\n'
expect_error "size above the largest class" \
	'<stdin>:1: size is above the largest class (2097152 B) in "big"' \
	'message big size=2097153 count=1\n'
expect_error "negative count" '<stdin>:3: count is negative' \
	'# x\nmessage a size=64 count=8\nmessage b size=64 count=-5\n'
expect_error "not a number" \
	'<stdin>:1: rate: not a whole number, or given twice' \
	'message a size=64 rate=fast\n'
expect_error "a field twice" \
	'<stdin>:1: size: not a whole number, or given twice' \
	'message a size=64 size=128 count=1\n'
expect_error "count and rate both" \
	'<stdin>:1: message "a" needs count= or rate= (one of them)' \
	'message a size=64 count=1 rate=5\n'
expect_error "no size" '<stdin>:1: message "a" needs size=BYTES (> 0)' \
	'message a count=1\n'
expect_error "name twice" '<stdin>:2: message "a" defined twice' \
	'message a size=64 count=1\nmessage a size=64 count=1\n'
expect_error "bad name" \
	'<stdin>:1: "a-b": a name is 1 to 64 of A-Z a-z 0-9 _' \
	'message a-b size=64 count=1\n'
expect_error "not a message line" \
	'<stdin>:1: "msg": a line starts with "message"' 'msg a size=1\n'
expect_error "not key=value" '<stdin>:1: "count": fields are key=value' \
	'message a size=64 count\n'
expect_error "count 0" '<stdin>:1: count is 0 in "a"' \
	'message a size=64 count=0\n'
expect_error "nothing defined" '<stdin>:2: no message defined' \
	'# only a comment\n\n'
expect_error "hold_us without rate" \
	'<stdin>:1: hold_us without rate in "a"' \
	'message a size=64 count=3 hold_us=9\n'
expect_error "a line too long" '<stdin>:2: line too long' \
	"message a size=64 count=1\\n#$(printf '%01100d' 0)\\n"

# --- usage ------------------------------------------------------------
for h in --help -h; do
	out=$("$tool" $h 2>/dev/null); st=$?
	err=$("$tool" $h 2>&1 >/dev/null)
	if [ $st = 0 ] && [ -z "$err" ] &&
	   printf '%s\n' "$out" | grep -q '^usage: bufpool-sizes FILE' &&
	   printf '%s\n' "$out" | grep -q 'count=BUFFERS'; then
		ok "$h: the usage on stdout, exit 0"
	else
		nok "$h: the usage on stdout, exit 0 (exit $st)"
	fi
done
# The version is the library's: LIB_VERSION in the Makefile (of the
# tree the tool was found in; any version for BUFPOOL_SIZES=).
want=$(sed -n 's/^LIB_VERSION := //p' "$top/Makefile" 2>/dev/null)
out=$("$tool" --version); st=$?
if [ $st = 0 ] && { [ "$out" = "bufpool-sizes $want" ] || { [ -z "$top" ] &&
   printf '%s\n' "$out" | grep -Eqx 'bufpool-sizes [0-9]+\.[0-9]+\.[0-9]+'; }; }; then
	ok "--version: the Makefile's LIB_VERSION ($want), exit 0"
else
	nok "--version: the Makefile's LIB_VERSION (exit $st: $out, want ${want:-?})"
fi
for args in "" "--bogus" "a b"; do
	# shellcheck disable=SC2086
	out=$("$tool" $args 2>/dev/null); st=$?
	# shellcheck disable=SC2086
	err=$("$tool" $args 2>&1 >/dev/null)
	if [ $st = 2 ] && [ -z "$out" ] &&
	   printf '%s\n' "$err" | grep -q '^usage: bufpool-sizes FILE'; then
		ok "usage error \"$args\": the usage on stderr, exit 2"
	else
		nok "usage error \"$args\": the usage on stderr, exit 2 (exit $st)"
	fi
done
exit $fail
