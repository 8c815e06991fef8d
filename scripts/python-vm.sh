#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: python-vm.sh PYTHON EXT SCRIPT DEST
# A Python for the VM's busybox initramfs, which has none: under DEST,
# the interpreter PYTHON (bin/python3), the files of its standard
# library that SCRIPT imports, as the interpreter itself lists them
# (SCRIPT --list-files, run here), and the bufpool module EXT, all under
# lib/pythonX.Y as in PYTHON's own prefix.  The guest runs it with
# PYTHONHOME=DEST and -S.  vm-run.sh brings the shared libraries of the
# interpreter and of the module along (ldd), as for any program.
set -eu
py=${1:?usage: python-vm.sh PYTHON EXT SCRIPT DEST} ext=${2:?} script=${3:?}
dest=${4:?}

lib=$("$py" -S -c 'import os; print(os.path.dirname(os.__file__))')
ver=$("$py" -S -c 'import sys; print("%d.%d" % sys.version_info[:2])')
files=$(PYTHONPATH=$(dirname "$ext") "$py" -S "$script" --list-files)
rm -rf "$dest"
mkdir -p "$dest/bin" "$dest/lib/python$ver/lib-dynload"
cp -L "$py" "$dest/bin/python3"
cp "$ext" "$dest/lib/python$ver/lib-dynload/"
for f in $files; do
	mkdir -p "$dest/lib/python$ver/$(dirname "$f")"
	cp "$lib/$f" "$dest/lib/python$ver/$f"
done
echo "python-vm: $(echo "$files" | wc -l) files of $lib, $(du -sh "$dest" | cut -f1) in $dest"
