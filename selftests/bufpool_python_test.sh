#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The Python module against the loaded module: bufpool_python_test.py,
# run by the interpreter the build put beside it (python/, made by
# scripts/python-vm.sh from Debian's python3, the standard library files
# the test imports and the bufpool module).  KTAP.
dir=$(cd "$(dirname "$0")" && pwd)
py=$dir/python/bin/python3
if [ ! -x "$py" ]; then
	echo "1..0 # SKIP no python/ beside this test: the build host had no python3-dev"
	exit 4
fi
PYTHONHOME=$dir/python PYTHONUTF8=1 PYTHONDONTWRITEBYTECODE=1 \
	exec "$py" -S "$dir/bufpool_python_test.py"
