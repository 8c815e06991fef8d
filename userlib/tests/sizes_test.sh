#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# bufpool-sizes: good definitions, in its line format and in YAML, give
# the expected classes and module parameters; each kind of bad input is
# refused with exit 1 and an error naming the line; --help, --version
# and usage errors.  KTAP.
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

# expect_pools NAME EXPECTED-POOLS INPUT [FILE]: the pools parameter
# and the modprobe.d line, from INPUT on stdin or written to FILE, the
# tool run with $flags (none unless set); its output stays in $out.
flags=
expect_pools() {
	if [ -n "${4:-}" ]; then
		printf '%b' "$3" > "$4"
		out=$("$tool" $flags "$4" 2>&1)
	else
		out=$(printf '%b' "$3" | "$tool" $flags - 2>&1)
	fi
	st=$?
	if [ $st = 0 ] && printf '%s\n' "$out" | grep -qx "pools=$2" &&
	   printf '%s\n' "$out" | grep -qx "options bufpool pools=$2"; then
		ok "$1"
	else
		nok "$1 (exit $st)"
		printf '%s\n' "$out" | sed 's/^/# /'
		echo "#   expected: pools=$2"
	fi
}

echo "TAP version 13"
echo "1..62"

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

# --- YAML ------------------------------------------------------------
# The design's example: pool_address (Address, 20 B), amount_in and
# amount_out (uint256, 32 B each) make 84 B, class 128; 200000/s held
# 50 us: 20 buffers, at least 64.
expect_pools "YAML: Address + 2 x uint256 = 84 B, class 128" \
	"c128:buf_size=128,buf_count=64" \
	'messages:\n  swap_event:\n    fields:\n      pool_address: Address\n      amount_in: uint256\n      amount_out: uint256\n    rate: 200000\n    hold_us: 50\n'
out=$(printf 'messages:\n  swap_event:\n    fields: {pool_address: Address, amount_in: uint256, amount_out: uint256}\n    count: 1\n' |
	"$tool" -)
if printf '%s\n' "$out" | grep -qx '# message swap_event: 84 B, class 128 B, 1 buffers'; then
	ok "YAML: each message's size and class printed"
else
	nok "YAML: each message's size and class printed"
	printf '%s\n' "$out" | sed 's/^/# /'
fi
# Every type: 1+2+4+8+16+32+3 (int24) + 1+2+4+8+16+32+20 (uint160)
# = 149; bool 1, Address 20, address 20, bytes1 1, bytes32 32, i8 1,
# u256 32: 107; arrays: bytes[10] 10, u16[3] 6, Address[2] 40, bool[4]
# 4, bytes4[2] 8: 68.  149 + 107 + 68 = 324 B: class 512.
expect_pools "YAML: every type, arrays, flow style, comments" \
	"c512:buf_size=512,buf_count=7" \
	'# comment\n---\nmessages:  # all of them\n  all_types:\n    fields: {a: int8, b: int16, c: int32, d: int64, e: int128, f: int256, g: int24,\n      h: uint8, i: uint16, j: uint32, k: uint64, l: uint128, m: uint256, n: uint160,\n      o: bool, p: Address, q: address, r: bytes1, s: bytes32, t: i8, u: u256,\n      v: "bytes[10]", w: "u16[3]", x: "Address[2]", y: "bool[4]", z: "bytes4[2]"}\n    count: 7\n...\n'
expect_pools "YAML: classes summed, sorted; count, rate, hold_us" \
	"c128:buf_size=128,buf_count=100;c256:buf_size=256,buf_count=200;c2097152:buf_size=2097152,buf_count=1" \
	'messages:\n  big:\n    fields:\n      body: bytes[2097152]\n    count: 1\n  b:\n    fields: {x: "bytes[129]"}\n    rate: 100000\n  a:\n    fields: {x: u8}\n    count: 36\n  c:\n    fields:\n      x: bytes[128]\n    count: 64\n'
tmp=$(mktemp -d)
expect_pools "YAML: a .yaml file whatever its first line" \
	"c128:buf_size=128,buf_count=9" \
	'{messages: {m: {fields: {x: u64}, count: 9}}}\n' "$tmp/defs.yaml"
expect_pools "YAML: the fuzz corpus' trading.yaml" \
	"c128:buf_size=128,buf_count=64;c256:buf_size=256,buf_count=64;c4096:buf_size=4096,buf_count=4096;c65536:buf_size=65536,buf_count=32" \
	"$(cat "$(dirname "$0")/../../scripts/tools/fuzz/corpus/trading.yaml" 2>/dev/null ||
	     cat "$top/scripts/tools/fuzz/corpus/trading.yaml")"
rm -rf "$tmp"

y='messages:\n  a:\n    fields:\n'
expect_error "YAML: unknown type" '<stdin>:4: field "x": "uint7": unknown type' \
	"$y      x: uint7\n    count: 1\n"
expect_error "YAML: a type of no fixed size" \
	'<stdin>:4: field "x": "string": has no fixed size (give one: bytes[N])' \
	"$y      x: string\n    count: 1\n"
expect_error "YAML: bytes without a length" \
	'<stdin>:5: field "y": "bytes": has no fixed size (give one: bytes[N])' \
	"$y      x: u8\n      y: bytes\n    count: 1\n"
expect_error "YAML: an array of 0" \
	'<stdin>:4: field "x": "bytes[0]": an array has 1 to 2097152 elements' \
	"$y      x: bytes[0]\n    count: 1\n"
expect_error "YAML: bytes33" '<stdin>:4: field "x": "bytes33": unknown type' \
	"$y      x: bytes33\n    count: 1\n"
expect_error "YAML: an integer not of whole bytes" \
	'<stdin>:4: field "x": "int12": unknown type' \
	"$y      x: int12\n    count: 1\n"
expect_error "YAML: above the largest class" \
	'<stdin>:5: message "a" is above the largest class (2097152 B) at field "y"' \
	"$y      x: bytes[2097152]\n      y: bool\n    count: 1\n"
expect_error "YAML: a field twice" '<stdin>:5: field "x" twice in "a"' \
	"$y      x: u8\n      x: u16\n    count: 1\n"
expect_error "YAML: a bad field name" \
	'<stdin>:4: field "x-y": a name is 1 to 64 of A-Z a-z 0-9 _' \
	"$y      x-y: u8\n    count: 1\n"
expect_error "YAML: a type that is a list" \
	"<stdin>:4: a field's type is a single value, not a list" \
	"$y      x: [u8]\n    count: 1\n"
expect_error "YAML: no fields" '<stdin>:2: message "a" needs fields (at least one)' \
	'messages:\n  a:\n    count: 1\n'
expect_error "YAML: empty fields" '<stdin>:2: message "a" needs fields (at least one)' \
	'messages:\n  a:\n    fields: {}\n    count: 1\n'
expect_error "YAML: neither count nor rate" \
	'<stdin>:2: message "a" needs count or rate (one of them)' \
	"$y      x: u8\n"
expect_error "YAML: count and rate" \
	'<stdin>:2: message "a" needs count or rate (one of them)' \
	"$y      x: u8\n    count: 1\n    rate: 5\n"
expect_error "YAML: hold_us without rate" '<stdin>:2: hold_us without rate in "a"' \
	"$y      x: u8\n    count: 1\n    hold_us: 9\n"
expect_error "YAML: negative count" '<stdin>:5: count is negative' \
	"$y      x: u8\n    count: -3\n"
expect_error "YAML: count not a number" '<stdin>:5: count: not a whole number' \
	"$y      x: u8\n    count: 0x10\n"
expect_error "YAML: count 0" '<stdin>:2: count is 0 in "a"' \
	"$y      x: u8\n    count: 0\n"
expect_error "YAML: count given twice" '<stdin>:6: count given twice in "a"' \
	"$y      x: u8\n    count: 1\n    count: 2\n"
expect_error "YAML: an unknown key" \
	'<stdin>:5: unknown key "colour" in "a" (fields, count, rate, hold_us)' \
	"$y      x: u8\n    colour: red\n"
expect_error "YAML: a message twice" '<stdin>:5: message "a" defined twice' \
	'messages:\n  a:\n    fields: {x: u8}\n    count: 1\n  a:\n    fields: {x: u8}\n    count: 1\n'
expect_error "YAML: a bad message name" \
	'<stdin>:2: "a b": a name is 1 to 64 of A-Z a-z 0-9 _' \
	'messages:\n  a b:\n    fields: {x: u8}\n    count: 1\n'
expect_error "YAML: an unknown top-level key" \
	'<stdin>:2: unknown key "mesages" (the top level has messages)' \
	'---\nmesages: {}\n'
expect_error "YAML: no message" '<stdin>:2: no message defined' \
	'messages: {}\n'
expect_error "YAML: a syntax error, with libyaml's reason" \
	'<stdin>:6: YAML: did not find expected key (while parsing a block mapping)' \
	"$y      x: u8\n    count: 1\n   count: 2\n"
expect_error "YAML: anchors and aliases refused" '<stdin>:2: YAML anchors (&name) are not taken' \
	'messages:\n  a: &m\n    fields: {x: u8}\n    count: 1\n  b: *m\n'
expect_error "YAML: two documents" '<stdin>:5: one YAML document only' \
	'messages:\n  a:\n    fields: {x: u8}\n    count: 1\n---\nmessages: {}\n'

# --- --spread ---------------------------------------------------------
# Classes of 1 KiB and up are spread (ABI 1.8), the smaller packed;
# 1024 is the first spread class, 512 the last packed one.
defs='message a size=84 count=100\nmessage b size=512 count=64\nmessage c size=1000 count=64\nmessage d size=1500 count=4096\nmessage e size=65536 count=32\n'
flags=--spread
expect_pools "--spread: spread=y on the classes of 1 KiB and up, not below" \
	"c128:buf_size=128,buf_count=100;c512:buf_size=512,buf_count=64;c1024:buf_size=1024,buf_count=64,spread=y;c2048:buf_size=2048,buf_count=4096,spread=y;c65536:buf_size=65536,buf_count=32,spread=y" \
	"$defs"
flags=
# Each spread class's stride and memory: 4096 x 2112 B is 9 MiB (8
# packed), 32 x 65600 B just over 2 MiB.
if printf '%s\n' "$out" | grep -qx '# class 2048 B: 4096 buffers, 9 MiB, for d; /dev/bufpool-c2048, spread (buf_stride 2112)' &&
   printf '%s\n' "$out" | grep -qx '# class 65536 B: 32 buffers, 3 MiB, for e; /dev/bufpool-c65536, spread (buf_stride 65600)' &&
   printf '%s\n' "$out" | grep -qx '# class 512 B: 64 buffers, 1 MiB, for b; /dev/bufpool-c512'; then
	ok "--spread: each spread class's buf_stride and memory in its comment"
else
	nok "--spread: each spread class's buf_stride and memory in its comment"
	printf '%s\n' "$out" | sed 's/^/# /'
fi
# Without it, the same definitions give packed pools only.
out=$(printf '%b' "$defs" | "$tool" - 2>&1); st=$?
if [ $st = 0 ] && printf '%s\n' "$out" | grep -q '^pools=' &&
   ! printf '%s\n' "$out" | grep -q 'spread'; then
	ok "without --spread: no spread pool"
else
	nok "without --spread: no spread pool (exit $st)"
	printf '%s\n' "$out" | sed 's/^/# /'
fi
err=$(printf 'message a size=0 count=1\n' | "$tool" --spread - 2>&1 >/dev/null); st=$?
if [ $st = 1 ] && [ -n "$err" ]; then
	ok "--spread: bad definitions still refused with exit 1"
else
	nok "--spread: bad definitions still refused with exit 1 (exit $st: $err)"
fi

# --- usage ------------------------------------------------------------
for h in --help -h; do
	out=$("$tool" $h 2>/dev/null); st=$?
	err=$("$tool" $h 2>&1 >/dev/null)
	if [ $st = 0 ] && [ -z "$err" ] &&
	   printf '%s\n' "$out" | grep -q '^usage: bufpool-sizes FILE' &&
	   printf '%s\n' "$out" | grep -q 'Address'; then
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
for args in "" "--bogus" "a b" "--spread" "--spread a b" "- --spread"; do
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
