#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The kernel's checkpatch.pl, from Debian's linux-source (extracted once
# by ksft-fetch.sh).  Arguments pass through, e.g.:
#   scripts/checkpatch.sh --no-tree --strict -f kmod/module.c
set -eu
ksft=$("$(dirname "$0")/ksft-fetch.sh")
exec perl "$ksft/../../../scripts/checkpatch.pl" "$@"
