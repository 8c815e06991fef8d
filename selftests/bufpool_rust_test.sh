#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The Rust bindings' tests (userlib/rust/tests/pool.rs) on the device
# pool: the test program cargo built, installed beside this script as
# bufpool_rust_tests, run one test at a time with BUFPOOL_TEST_PATH set
# to /dev/bufpool.  KTAP, through rust-test-ktap.sh (also beside it).
set -u
here=$(cd "$(dirname "$0")" && pwd)
dev=${BUFPOOL_TEST_PATH:-/dev/bufpool}
if [ ! -x "$here/bufpool_rust_tests" ]; then
	echo "1..0 # SKIP bufpool_rust_tests not built (no cargo and rustc: apt-get install cargo rustc)"
	exit 4
fi
if [ ! -c "$dev" ]; then
	echo "1..0 # SKIP no $dev: bufpool.ko is not loaded"
	exit 4
fi
exec env BUFPOOL_TEST_PATH="$dev" "$here/rust-test-ktap.sh" -p rust \
	"$here/bufpool_rust_tests" --test-threads=1
