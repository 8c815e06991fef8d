# SPDX-License-Identifier: MIT
"""pytest setup for the bufpool module's tests (tests/): import the
module built in this directory (make python), whatever the current
directory, and say what to do when it is not built."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

try:
    import bufpool  # noqa: F401
except ImportError as e:
    raise pytest.UsageError(
        f"the bufpool module is not built ({e}): run make python "
        "(Debian's python3-dev), and run pytest with /usr/bin/python3")
