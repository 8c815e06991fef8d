#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The Python module (userlib/python/) under pytest, on the memfd backend:
# one KTAP line per test case.  Skips, saying why, when Debian's python3,
# its headers (python3-dev: without them the module is not built) or
# pytest (python3-pytest) are missing.  PYTHON= another interpreter.
set -u
py=${PYTHON:-/usr/bin/python3}
skip() { echo "1..0 # SKIP $1"; exit 4; }

# The tree this test was built in (run in place, or installed under
# build/ by the kselftest runner): search upwards.
top=
dir=$(cd "$(dirname "$0")" && pwd)
while [ -z "$top" ] && [ "$dir" != / ]; do
	[ -f "$dir/userlib/python/bufpoolmodule.c" ] && top=$dir
	dir=$(dirname "$dir")
done
[ -n "$top" ] || skip "no userlib/python/ above $0"
[ -x "$py" ] || skip "no $py"
[ -x "$py-config" ] || skip "no $py-config: python3-dev is not installed, the module is not built"
"$py" -c 'import pytest' 2>/dev/null || skip "$py has no pytest: python3-pytest is not installed"
ext=$top/userlib/python/bufpool$("$py-config" --extension-suffix)
if [ ! -f "$ext" ]; then
	echo "TAP version 13"
	echo "1..1"
	echo "not ok 1 python: the module is built ($ext missing: make python)"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bufpool-py.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
PYTHONDONTWRITEBYTECODE=1 "$py" -m pytest -q -p no:cacheprovider \
	--junitxml="$tmp/junit.xml" "$top/userlib/python" > "$tmp/out" 2>&1
rc=$?
# pytest's report, as KTAP: a line per case, its failure as diagnostics.
"$py" - "$tmp/junit.xml" "$tmp/out" "$rc" <<'EOF'
import sys
import xml.etree.ElementTree as ET

junit, out, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
print("TAP version 13")
try:
    cases = list(ET.parse(junit).getroot().iter("testcase"))
except (OSError, ET.ParseError):
    cases = []
if not cases:
    print("1..1")
    print(f"not ok 1 python: pytest ran no test (exit {rc})")
    for line in open(out, errors="replace").read().splitlines()[-30:]:
        print("#", line)
    sys.exit(1)
print(f"1..{len(cases)}")
failed = 0
for n, c in enumerate(cases, 1):
    name = f"python: {c.get('name')}"
    bad = c.find("failure")
    if bad is None:
        bad = c.find("error")
    skipped = c.find("skipped")
    if bad is not None:
        failed += 1
        print(f"not ok {n} {name}")
        for line in (bad.text or bad.get("message", "")).splitlines()[-25:]:
            print("#", line)
    elif skipped is not None:
        print(f"ok {n} {name} # SKIP {skipped.get('message', '')}")
    else:
        print(f"ok {n} {name}")
sys.exit(1 if failed or rc not in (0, 5) else 0)
EOF
