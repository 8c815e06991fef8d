#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The Rust bindings' tests on the host: cargo test in userlib/rust, on
# module-free pools, with Debian's toolchain (CARGO, RUSTC, RUSTDOC:
# /usr/bin's by default).  KTAP, through scripts/rust-test-ktap.sh.
set -u
: "${CARGO:=/usr/bin/cargo}" "${RUSTC:=/usr/bin/rustc}" "${RUSTDOC:=/usr/bin/rustdoc}"
# The tree this test was built in (run in place, or installed under
# build/ by the kselftest runner): search upwards.
top=
dir=$(cd "$(dirname "$0")" && pwd)
while [ -z "$top" ] && [ "$dir" != / ]; do
	[ -f "$dir/userlib/rust/Cargo.toml" ] && top=$dir
	dir=$(dirname "$dir")
done
if [ -z "$top" ]; then
	echo "1..0 # SKIP userlib/rust not found above $(dirname "$0")"
	exit 4
fi
if [ ! -x "$CARGO" ] || [ ! -x "$RUSTC" ]; then
	echo "1..0 # SKIP no $CARGO or $RUSTC (apt-get install cargo rustc)"
	exit 4
fi
cd "$top/userlib/rust" &&
exec env RUSTC="$RUSTC" RUSTDOC="$RUSTDOC" CARGO_INCREMENTAL=0 \
	"$top/scripts/rust-test-ktap.sh" "$CARGO" test --offline
