# SPDX-License-Identifier: GPL-2.0
#
# bufpool: kernel module, userspace library, selftests, benchmarks.
#
#   make            build everything
#   make run        boot a VM with the module loaded and run a client
#   make check      host tests, lint, model check, kselftests in a VM under
#                   each kernel of KERNELS and under debug kernels
#                   (make check KERNELS=6.1 for a quick loop)
#   make bench      run the benchmarks
#   make lint       checkpatch --strict, sparse, W=1; cppcheck on userspace
#   make model      Spin model checks (free list, ownership, magazines, queues, handoff, shared path)
#   make install / modules_install   (DESTDIR, PREFIX honoured)
#
# scripts/dev installs the Debian packages all of this needs.

.DEFAULT_GOAL := all
SHELL := /bin/sh

# ---------------------------------------------------------------- kernel
# The running kernel's build tree if it has one, else the headers that
# Debian's linux-headers-amd64 stands for (the distribution's kernel:
# 6.1 on Debian 12), else the newest linux-headers-*-amd64; override
# with KDIR=...  Other kernels' headers (make check installs 6.12's)
# do not change it.
KDIR ?= $(or $(wildcard /lib/modules/$(shell uname -r)/build),$(wildcard \
	$(addprefix /usr/src/,$(firstword $(shell dpkg-query -W \
	-f='$${Depends}' linux-headers-amd64 2>/dev/null | tr ',' ' ')))),$(lastword \
	$(shell ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V)))
KREL = $(shell sed -n 's/.*UTS_RELEASE "\(.*\)"/\1/p' \
	$(KDIR)/include/generated/utsrelease.h 2>/dev/null)

BUFPOOL_CACHE ?= $(or $(XDG_CACHE_HOME),$(or $(HOME),/tmp)/.cache)/bufpool
export BUFPOOL_CACHE

KMOD_SRCS := $(wildcard kmod/*.c kmod/*.h uapi/linux/*.h uapi/bufpool/*.h) Kbuild
KBUILD := $(MAKE) -C $(KDIR) M=$(CURDIR)

# ------------------------------------------------------------- userspace
CC ?= cc
CFLAGS ?= -O2 -g
BP_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread \
	-Iuapi -Iuserlib $(CFLAGS)
BP_LDFLAGS := -pthread $(LDFLAGS)

LIB_MAJOR := 1
LIB_VERSION := 1.9.3
LIB_A := userlib/libbufpool-user.a
GCC_AR ?= gcc-ar
LIB_SO := userlib/libbufpool-user.so
LIB_SONAME := libbufpool-user.so.$(LIB_MAJOR)
LIB_SO_REAL := userlib/libbufpool-user.so.$(LIB_VERSION)
LIB_PC := userlib/libbufpool-user.pc
# The library's sources, the fast path's first (userlib/internal.h says
# what each holds); its public and shared headers, then its own.
LIB_SRCS := userlib/buffer.c userlib/cache.c userlib/wait.c userlib/debug.c \
	userlib/queue.c userlib/backend.c userlib/setup.c userlib/info.c \
	userlib/classes.c
LIB_OBJS := $(LIB_SRCS:.c=.o)
LIB_HDRS := userlib/bufpool.h uapi/linux/bufpool.h $(wildcard uapi/bufpool/*.h)
LIB_INTERNAL_HDRS := userlib/internal.h userlib/fastpath.h

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
# The manual: a page per function or family, a link page (.so) for each
# other name of a family (scripts/man-check.sh checks them); install
# puts each page in the directory of its section.
MAN_PAGES := $(wildcard docs/man/*.[1-8])

EXAMPLES := userlib/examples/bufpool-pipeline
TOOLS := scripts/tools/bufpool-sizes scripts/tools/bufpoolctl
TOOL_FUZZ_SECS ?= 20
BENCHES := bench/freelist_bench bench/pagesize_bench bench/rseq_bench \
	bench/stride_bench bench/xcore_probe

# The Python module (userlib/python/; README.md, section Python): a
# CPython extension over the shared library, for Debian's python3 (not
# whatever python3 comes first in PATH), built when its headers
# (python3-dev) are there; import it with PYTHONPATH=userlib/python.
PYTHON ?= /usr/bin/python3
PYTHON_CONFIG ?= $(PYTHON)-config
PY_INCLUDES := $(shell $(PYTHON_CONFIG) --includes 2>/dev/null)
PY_EXT_SUFFIX := $(shell $(PYTHON_CONFIG) --extension-suffix 2>/dev/null)
PY_EXT := $(if $(PY_EXT_SUFFIX),userlib/python/bufpool$(PY_EXT_SUFFIX))
# Installed for that python: Debian's dist-packages under PREFIX.
PY_VERSION = $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PY_SITEDIR ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/python3/dist-packages,$(PREFIX)/lib/python$(PY_VERSION)/dist-packages)

# kselftest headers, lib.mk and runner from Debian's linux-source-6.1.
KSFT_DIR = $(shell BUFPOOL_CACHE=$(BUFPOOL_CACHE) scripts/ksft-fetch.sh)

.PHONY: all module lib python python-missing install-python selftests examples benches tools fuzz-tool run check check-host \
	rust check-rust \
	dkms-install check-dkms check-boot \
	check-vm check-debug model bench lint install modules_install clean \
	kernel-image FORCE $(addprefix check-vm-,$(KERNELS)) \
	$(addprefix check-debug-,$(DEBUG_KERNELS))

all: module lib selftests examples benches tools $(PY_EXT)

# ---------------------------------------------------------------- module
kmod/compat_gen.h: $(wildcard kmod/compat/*.c) scripts/kcompat.sh
	@test -n "$(KDIR)" || { echo "no kernel headers: run scripts/dev deps" >&2; exit 1; }
	scripts/kcompat.sh $(KDIR) kmod/compat $@

module: kmod/bufpool.ko
kmod/bufpool.ko: $(KMOD_SRCS) kmod/compat_gen.h
	$(KBUILD) modules

# Debian's headers do not ship the distribution's signing key: install
# unsigned (the kernel loads it and taints E) unless a key is given with
# MODULE_SIG_KEY=/path/to/key.pem (and its certificate enrolled).
MODULE_SIG_KEY ?=
modules_install: kmod/bufpool.ko
	$(KBUILD) INSTALL_MOD_PATH=$(DESTDIR) INSTALL_MOD_DIR=extra \
		$(if $(MODULE_SIG_KEY),CONFIG_MODULE_SIG_KEY=$(MODULE_SIG_KEY),CONFIG_MODULE_SIG_ALL=) \
		modules_install

# The module's sources for dkms, which rebuilds it for every new kernel
# (scripts/packaging/dkms.conf).  Generated files stay behind.
DKMS_SRC = $(DESTDIR)/usr/src/bufpool-$(LIB_VERSION)
DKMS_FILES := Kbuild scripts/kcompat.sh \
	$(filter-out kmod/compat_gen.h kmod/%.mod.c,$(wildcard kmod/*.c kmod/*.h)) \
	$(wildcard kmod/compat/*.c uapi/linux/*.h uapi/bufpool/*.h)
dkms-install:
	rm -rf $(DKMS_SRC)
	for f in $(DKMS_FILES); do \
		install -D -m 0644 $$f $(DKMS_SRC)/$$f || exit 1; \
	done
	sed 's/@VERSION@/$(LIB_VERSION)/' scripts/packaging/dkms.conf \
		> $(DKMS_SRC)/dkms.conf

# CI: dkms builds the module from those sources against the headers of
# each kernel of KERNELS (sid's inside its chroot, where dkms runs).
check-dkms:
	scripts/dkms-check.sh $(LIB_VERSION) $(KERNELS)

# The VM boots as a production machine would: bufpool-sizes turns
# message definitions into a modprobe.d line (--spread: its classes of
# 1 KiB and up spread, ABI 1.8); modules-load.d names the module; init
# loads it with modprobe; the pools must be there, spread as asked.
BOOT_DEFS ?= scripts/tools/fuzz/corpus/trading.txt
BOOT_SIZES_FLAGS ?= --spread
check-boot: all kernel-image
	@mkdir -p build/boot
	scripts/tools/bufpool-sizes $(BOOT_SIZES_FLAGS) $(BOOT_DEFS) | \
		grep '^options bufpool ' \
		> build/boot/bufpool.conf
	scripts/boot-expect.sh build/boot/bufpool.conf > build/boot/expect.sh
	$(VM_RUN) -o $(VM_OUT)/boot -B build/boot/bufpool.conf \
		-f scripts/tools/bufpoolctl:/usr/bin/bufpoolctl \
		-f build/boot/expect.sh:/usr/bin/boot-expect \
		-c "sh /usr/bin/boot-expect"

model:
	scripts/model-check.sh | scripts/ktap-summary.sh /dev/stdin

lint: kmod/compat_gen.h $(LIB_SO)
	scripts/lint.sh $(KDIR) | scripts/ktap-summary.sh /dev/stdin

# --------------------------------------------------------------- library
lib: $(LIB_A) $(LIB_SO) $(LIB_PC)

userlib/%.o: userlib/%.c $(LIB_HDRS) $(LIB_INTERNAL_HDRS)
	$(CC) $(BP_CFLAGS) -fPIC -c -o $@ $<

# Built with GCC, the static library carries GCC's intermediate code
# beside the machine code (fat LTO objects): a program linked with it and
# -flto gets the fast path inlined into its own code; without -flto, or
# with another compiler, it links as usual.  Other compilers build a
# plain archive (clang has no fat objects: its -flto archive would link
# only with -flto).
CC_IS_GCC := $(shell $(CC) --version 2>/dev/null | grep -qi clang || echo y)
LIB_LTO_CFLAGS := $(if $(CC_IS_GCC),-flto -ffat-lto-objects)
LIB_AR := $(if $(CC_IS_GCC),$(GCC_AR),$(AR))

userlib/%.lto.o: userlib/%.c $(LIB_HDRS) $(LIB_INTERNAL_HDRS)
	$(CC) $(BP_CFLAGS) -fPIC $(LIB_LTO_CFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJS:.o=.lto.o)
	rm -f $@
	$(LIB_AR) rcs $@ $^

$(LIB_SO_REAL): $(LIB_OBJS) userlib/libbufpool-user.map
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) \
		-Wl,--version-script=userlib/libbufpool-user.map \
		-Wl,-z,defs -o $@ $(LIB_OBJS) -lurcu-common $(BP_LDFLAGS)

$(LIB_SO): $(LIB_SO_REAL)
	ln -sf $(notdir $<) userlib/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $@

# The library once more for the tests, as archives that test programs
# link instead of compiling library sources: with the shared free list's
# test hook (-DBP_TEST_HOOK: the test defines bp_test_hook()), under
# ThreadSanitizer, or both.
TESTLIB := build/testlib
TESTLIBS := $(foreach v,hook tsan hook-tsan,$(TESTLIB)/libbufpool-user-$(v).a)
define testlib_variant
$(TESTLIB)/$(1)/%.o: userlib/%.c $$(LIB_HDRS) $$(LIB_INTERNAL_HDRS)
	@mkdir -p $$(@D)
	$$(CC) $$(BP_CFLAGS) -fPIC $(2) -c -o $$@ $$<
$(TESTLIB)/libbufpool-user-$(1).a: $$(patsubst userlib/%,$(TESTLIB)/$(1)/%,$$(LIB_OBJS))
	rm -f $$@
	$$(AR) rcs $$@ $$^
endef
$(eval $(call testlib_variant,hook,-DBP_TEST_HOOK))
$(eval $(call testlib_variant,tsan,-fsanitize=thread))
$(eval $(call testlib_variant,hook-tsan,-DBP_TEST_HOOK -fsanitize=thread))

PC_SUBST = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(LIB_VERSION)|'

$(LIB_PC): userlib/libbufpool-user.pc.in Makefile
	$(PC_SUBST) $< > $@

# Programs link the shared library, as users' programs would.
LINK_LIB := -Luserlib -lbufpool-user -Wl,-rpath,$(CURDIR)/userlib

examples: $(EXAMPLES)
userlib/examples/bufpool-pipeline: userlib/examples/bufpool_pipeline.c $(LIB_SO) $(LIB_HDRS)
	$(CC) $(BP_CFLAGS) -o $@ $< $(LINK_LIB) $(BP_LDFLAGS)

# The Python module: in the tree, it finds the tree's library; the
# installed copy, the installed one.
python: $(or $(PY_EXT),python-missing)
python-missing:
	@echo "make python: no $(PYTHON_CONFIG): install python3-dev (scripts/deps.sh)" >&2; exit 1
ifneq ($(PY_EXT),)
PY_BUILD = $(CC) $(BP_CFLAGS) $(PY_INCLUDES) -fPIC -shared \
	-DBUFPOOL_VERSION='"$(LIB_VERSION)"' -o $@ $< -Luserlib -lbufpool-user
$(PY_EXT): userlib/python/bufpoolmodule.c $(LIB_SO) $(LIB_HDRS)
	$(PY_BUILD) -Wl,-rpath,$(CURDIR)/userlib $(BP_LDFLAGS)
PY_INSTALL_RPATH = -Wl,-rpath,$(LIBDIR)
build/python/bufpool$(PY_EXT_SUFFIX): userlib/python/bufpoolmodule.c $(LIB_SO) $(LIB_HDRS) FORCE
	@mkdir -p $(@D)
	$(PY_BUILD) $(if $(filter-out /usr/lib /lib,$(LIBDIR)),$(PY_INSTALL_RPATH)) $(BP_LDFLAGS)
install-python: build/python/bufpool$(PY_EXT_SUFFIX)
	install -D -m 0644 $< $(DESTDIR)$(PY_SITEDIR)/bufpool$(PY_EXT_SUFFIX)
endif

# bufpool-sizes: pool sizes from message definitions, in its line
# format or in YAML (libyaml).  Its parsers are fuzzed with libFuzzer
# (clang, ASan, UBSan) for TOOL_FUZZ_SECS.  It prints LIB_VERSION for
# --version.
tools: $(TOOLS)
scripts/tools/bufpool-sizes: scripts/tools/bufpool-sizes.c uapi/linux/bufpool.h Makefile
	$(CC) $(BP_CFLAGS) -DBPS_VERSION='"$(LIB_VERSION)"' -o $@ $< -lyaml
# bufpoolctl (sh): its source with @VERSION@ replaced.
scripts/tools/bufpoolctl: scripts/tools/bufpoolctl.in Makefile
	sed 's/@VERSION@/$(LIB_VERSION)/' $< > $@.tmp
	chmod 0755 $@.tmp
	mv $@.tmp $@
scripts/tools/fuzz/bufpool_sizes_fuzz: scripts/tools/fuzz/bufpool_sizes_fuzz.c scripts/tools/bufpool-sizes.c \
		uapi/linux/bufpool.h
	clang -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -Iuapi -o $@ $< -lyaml
fuzz-tool: scripts/tools/fuzz/bufpool_sizes_fuzz
	scripts/fuzz-tool.sh $< $(TOOL_FUZZ_SECS)

# The comparison matrix (bench/matrix.c), built once per allocator that
# replaces malloc process-wide; each peer that is installed takes part.
# scripts/dev bench installs them all from Debian.
DPDK_CFLAGS := $(shell pkg-config --cflags libdpdk 2>/dev/null)
DPDK_LIBS := $(shell pkg-config --libs libdpdk 2>/dev/null)
JEMALLOC_LIBS := $(shell pkg-config --libs jemalloc 2>/dev/null)
TCMALLOC_LIBS := $(shell pkg-config --libs libtcmalloc_minimal 2>/dev/null)
MIMALLOC_LIBS := $(if $(wildcard /usr/include/mimalloc.h),-lmimalloc)
MATRIX_CFLAGS := $(filter-out -std=c11,$(BP_CFLAGS)) -std=gnu11
MATRIX := bench/matrix bench/matrix-lto $(if $(JEMALLOC_LIBS),bench/matrix-jemalloc) \
	$(if $(TCMALLOC_LIBS),bench/matrix-tcmalloc) \
	$(if $(MIMALLOC_LIBS),bench/matrix-mimalloc) bench/matrix-dpdk25

benches: $(BENCHES) $(MATRIX) bench/mp_bench
bench/%: bench/%.c bench/bench_common.h $(LIB_HDRS)
	$(CC) $(BP_CFLAGS) -o $@ $< $(BP_LDFLAGS)

bench/matrix: bench/matrix.c bench/bench_common.h $(LIB_SO) $(LIB_HDRS)
	$(CC) $(MATRIX_CFLAGS) \
		$(if $(DPDK_LIBS),-DHAVE_DPDK $(DPDK_CFLAGS) -Wno-error=cast-qual) \
		-o $@ $< $(LINK_LIB) $(DPDK_LIBS) $(BP_LDFLAGS)
# Without DPDK: what the VM carries (bench-vm).
bench/matrix-vm: bench/matrix.c bench/bench_common.h $(LIB_SO) $(LIB_HDRS)
	$(CC) $(MATRIX_CFLAGS) -o $@ $< $(LINK_LIB) $(BP_LDFLAGS)
# bufpool linked statically with -flto: its fast path inlined.
bench/matrix-lto: bench/matrix.c bench/bench_common.h $(LIB_A) $(LIB_HDRS)
	$(CC) $(MATRIX_CFLAGS) -flto -DBP_PEER='"bufpool-lto"' -o $@ $< \
		$(LIB_A) -lurcu-common $(BP_LDFLAGS)
# Messages between processes: bufpool's queues against DPDK's
# multi-process mode, and the crash cell (bench/mp_bench.c).
bench/mp_bench: bench/mp_bench.c bench/bench_common.h $(LIB_SO) $(LIB_HDRS)
	$(CC) $(MATRIX_CFLAGS) \
		$(if $(DPDK_LIBS),-DHAVE_DPDK $(DPDK_CFLAGS) -Wno-error=cast-qual) \
		-o $@ $< $(LINK_LIB) $(DPDK_LIBS) $(BP_LDFLAGS)
# Without DPDK: bufpool's cells through /dev/bufpool in the VM.
bench/mp_bench-vm: bench/mp_bench.c bench/bench_common.h $(LIB_SO) $(LIB_HDRS)
	$(CC) $(MATRIX_CFLAGS) -o $@ $< $(LINK_LIB) $(BP_LDFLAGS)
bench/matrix-jemalloc: bench/matrix.c bench/bench_common.h
	$(CC) $(MATRIX_CFLAGS) -DPEER_JEMALLOC -o $@ $< $(JEMALLOC_LIBS) $(BP_LDFLAGS)
bench/matrix-tcmalloc: bench/matrix.c bench/bench_common.h
	$(CC) $(MATRIX_CFLAGS) -DPEER_TCMALLOC -o $@ $< $(TCMALLOC_LIBS) $(BP_LDFLAGS)
bench/matrix-mimalloc: bench/matrix.c bench/bench_common.h
	$(CC) $(MATRIX_CFLAGS) -DPEER_MIMALLOC -o $@ $< $(MIMALLOC_LIBS) $(BP_LDFLAGS)
# DPDK 25.11 (Debian sid's libdpdk-dev): the same source and the
# library's sources built again with the sid chroot's gcc, inside that
# chroot (scripts/dpdk25.sh, which installs libdpdk-dev there first);
# its rows are dpdk25-*.  Without the chroot (scripts/kernel.sh sid makes
# it), root or the package it prints "# dpdk25: skipped: WHY" and builds
# nothing, and make bench goes on without it.
bench/matrix-dpdk25: bench/matrix.c bench/bench_common.h $(LIB_SRCS) $(LIB_HDRS) $(LIB_INTERNAL_HDRS) \
		scripts/dpdk25.sh
	scripts/dpdk25.sh build $@ $(LIB_SRCS)

# ------------------------------------------------------------------ Rust
# The Rust bindings (userlib/rust, crate bufpool), built with Debian's
# cargo and rustc (1.63), not with a toolchain that comes first in PATH.
# make selftests builds their tests (when cargo is installed); check-host
# runs them through userlib/tests/rust_test.sh, the VM on /dev/bufpool.
CARGO ?= /usr/bin/cargo
RUSTC ?= /usr/bin/rustc
RUSTDOC ?= /usr/bin/rustdoc
RUST_ENV = CARGO=$(CARGO) RUSTC=$(RUSTC) RUSTDOC=$(RUSTDOC)

rust: $(LIB_SO)
	cd userlib/rust && $(RUST_ENV) CARGO_INCREMENTAL=0 $(CARGO) build --offline \
		--release --examples

check-rust: $(LIB_SO)
	@mkdir -p build/check
	$(RUST_ENV) userlib/tests/rust_test.sh | tee build/check/rust.tap; \
	scripts/ktap-summary.sh build/check/rust.tap

# ------------------------------------------------------------- selftests
KSFT_MAKE = $(MAKE) -C selftests KSFT_DIR=$(KSFT_DIR) $(RUST_ENV)
HOSTTEST_MAKE = $(MAKE) -C userlib/tests KSFT_DIR=$(KSFT_DIR)

# The tools too: bufpoolctl_test.sh and sizes_test.sh run them.
selftests: $(LIB_SO) $(TESTLIBS) $(TOOLS)
	$(KSFT_MAKE)
	$(HOSTTEST_MAKE)

# ------------------------------------------------------------------ VM
# The kernels the kselftest suite runs under (scripts/kernel.sh): Debian
# 12's 6.1, the newest 6.12 of bookworm-backports, the newest kernel of
# sid.  Each is its own stage of make check, with the module built
# against that kernel's own headers; DEBUG_KERNELS get a second stage
# under a KASAN/lockdep/kmemleak/UBSAN kernel built from their source.
KERNELS ?= 6.1 6.12 sid
DEBUG_KERNELS ?= $(filter 6.1 6.12,$(KERNELS))
VM_PARAMS ?= buf_size=2048 buf_count=4096
# Seconds of fuzzing (selftests/bufpool_fuzz.c) in each VM run.
FUZZ_SECS ?= 30
STORM_SECS ?= 30
VM_OUT := build/vm
# The kernel whose headers built the module; a debug kernel goes here.
BUFPOOL_KERNEL ?= $(BUFPOOL_CACHE)/kernel/$(KREL)/boot/vmlinuz-$(KREL)
VM_RUN = scripts/vm-run.sh -k $(BUFPOOL_KERNEL) -M kmod/bufpool.ko \
	-r $(BUFPOOL_CACHE)/kernel/$(KREL)

kernel-image:
	scripts/fetch-kernel.sh $(KREL)

# A kselftest install tree: the kernel's runner, the list, the programs.
define ksft_install
	rm -rf $(3)
	mkdir -p $(3)
	cp $(KSFT_DIR)/run_kselftest.sh $(3)/
	cp -r $(KSFT_DIR)/kselftest $(3)/
	$(MAKE) -C $(1) KSFT_DIR=$(KSFT_DIR) $(RUST_ENV) -s install \
		INSTALL_PATH=$(CURDIR)/$(3)/$(2)
	$(MAKE) -C $(1) KSFT_DIR=$(KSFT_DIR) -s --no-print-directory \
		emit_tests COLLECTION=$(2) > $(3)/kselftest-list.txt
endef

# With the Python module built, a Python for its test in the VM.
build/ksft: selftests $(PY_EXT) FORCE
	$(call ksft_install,selftests,bufpool,$@)
	$(if $(PY_EXT),scripts/python-vm.sh $(PYTHON) $(PY_EXT) \
		selftests/bufpool_python_test.py $@/bufpool/python)

build/ksft-host: selftests $(PY_EXT) FORCE
	$(call ksft_install,userlib/tests,bufpool-host,$@)

run: all kernel-image
	$(VM_RUN) -o $(VM_OUT)/run -p "$(VM_PARAMS)" \
		-f userlib/examples/bufpool-pipeline:/usr/bin/bufpool-pipeline \
		-c "bufpool-pipeline --messages 200000 --consumers 2"

# One stage of make check for one kernel: scripts/kernel-check.sh.
# check-vm-local runs the suite under any kernel: KDIR= its build tree,
# BUFPOOL_KERNEL= its image (BUFPOOL_KROOT= a tree with its modules).
KCHECK = env VM_PARAMS='$(VM_PARAMS)' FUZZ_SECS='$(FUZZ_SECS)' \
	STORM_SECS='$(STORM_SECS)' KSFT_ARGS='$(KSFT_ARGS)' \
	KDIR='$(KDIR)' BUFPOOL_KERNEL='$(BUFPOOL_KERNEL)' scripts/kernel-check.sh

STAGE = scripts/stage.sh
check: all build/ksft
	@mkdir -p build/check
	@rm -f build/check/*.tap build/check/times
	@$(STAGE) "host unit tests" build/check/host.tap \
		$(MAKE) -s --no-print-directory check-host
	@$(STAGE) "lint" build/check/lint.tap scripts/lint.sh $(KDIR)
	@$(STAGE) "model check (Spin)" build/check/model.tap scripts/model-check.sh
	@$(STAGE) "libFuzzer on the configuration tool's parser" build/check/fuzz.tap \
		$(MAKE) -s --no-print-directory fuzz-tool
	@for k in $(KERNELS); do \
		$(STAGE) "VM selftests under $$k (kselftests in QEMU, module built against its headers)" \
			build/check/vm-$$k.tap $(KCHECK) vm $$k; \
	done
	@for k in $(DEBUG_KERNELS); do \
		$(STAGE) "the same under a debug kernel from linux-source-$$k (KASAN, lockdep, kmemleak, DEBUG_VM, UBSAN)" \
			build/check/debug-$$k.tap $(KCHECK) debug $$k; \
	done
	@$(STAGE) "boot: modprobe.d from bufpool-sizes, modules-load.d, modprobe at init" \
		build/check/boot.tap $(MAKE) -s --no-print-directory check-boot
	@$(STAGE) "dkms builds of the module against each kernel's headers" \
		build/check/dkms.tap $(MAKE) -s --no-print-directory check-dkms
	@$(STAGE) "benchmark smoke (make bench QUICK=1: every peer, CSV, plots; numbers not judged)" \
		build/check/bench.tap scripts/bench-smoke.sh
	@echo "=== time per stage (wall clock)"; cat build/check/times
	@scripts/ktap-summary.sh build/check/host.tap build/check/lint.tap \
		build/check/model.tap build/check/fuzz.tap \
		$(foreach k,$(KERNELS),build/check/vm-$(k).tap) \
		$(foreach k,$(DEBUG_KERNELS),build/check/debug-$(k).tap) \
		build/check/boot.tap build/check/dkms.tap build/check/bench.tap

check-host: build/ksft-host
	cd build/ksft-host && $(RUST_ENV) ./run_kselftest.sh

# The suite under every kernel of KERNELS, or under one (check-vm-6.12);
# KSFT_ARGS="-t bufpool:bufpool_test" runs a part of it.
check-vm: $(addprefix check-vm-,$(KERNELS))
check-vm-%: all build/ksft
	@mkdir -p build/check
	$(KCHECK) vm $* | tee build/check/vm-$*.tap; \
	scripts/ktap-summary.sh build/check/vm-$*.tap

# The same under debug kernels (scripts/debug-kernel.config: KASAN,
# lockdep, kmemleak, DEBUG_VM, UBSAN) built once from each kernel's
# linux-source and cached; the module is built for each from a copy of
# its sources, so that the normal build's objects stay as they are.
check-debug: $(addprefix check-debug-,$(DEBUG_KERNELS))
check-debug-%: selftests build/ksft
	@mkdir -p build/check
	$(KCHECK) debug $* | tee build/check/debug-$*.tap; \
	scripts/ktap-summary.sh build/check/debug-$*.tap

bench: benches bench/matrix-vm bench/mp_bench-vm module kernel-image
	BENCH_VM='$(VM_RUN) -o $(VM_OUT)/bench' bench/run.sh $(if $(QUICK),--quick)

# --------------------------------------------------------------- install
install: lib tools $(if $(PY_EXT),install-python)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/linux \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(BINDIR)
	install -m 0755 $(TOOLS) $(DESTDIR)$(BINDIR)/
	for p in $(MAN_PAGES); do \
		install -D -m 0644 $$p $(DESTDIR)$(MANDIR)/man$${p##*.}/$${p##*/} || exit 1; \
	done
	install -D -m 0644 scripts/packaging/bufpool.modprobe.conf \
		$(DESTDIR)$(SYSCONFDIR)/modprobe.d/bufpool.conf.example
	install -D -m 0644 scripts/packaging/bufpool.modules-load.conf \
		$(DESTDIR)$(SYSCONFDIR)/modules-load.d/bufpool.conf.example
	install -D -m 0644 scripts/packaging/60-bufpool.rules \
		$(DESTDIR)$(SYSCONFDIR)/udev/rules.d/60-bufpool.rules.example
	install -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 0755 $(LIB_SO_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf libbufpool-user.so.$(LIB_VERSION) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libbufpool-user.so
	install -m 0644 userlib/bufpool.h $(DESTDIR)$(INCLUDEDIR)/bufpool.h
	install -m 0644 uapi/linux/bufpool.h $(DESTDIR)$(INCLUDEDIR)/linux/bufpool.h
	$(PC_SUBST) userlib/libbufpool-user.pc.in > \
		$(DESTDIR)$(PKGCONFIGDIR)/libbufpool-user.pc

clean:
	-test -z "$(KDIR)" || $(KBUILD) clean
	rm -f kmod/compat_gen.h userlib/*.o userlib/*.a userlib/*.so* \
		$(LIB_PC) $(EXAMPLES) $(BENCHES) userlib/python/*.so
	rm -rf userlib/python/__pycache__ userlib/python/tests/__pycache__
	rm -rf build userlib/rust/target
	-$(MAKE) -C selftests clean KSFT_DIR=$(KSFT_DIR)
	-$(MAKE) -C userlib/tests clean KSFT_DIR=$(KSFT_DIR)

FORCE:
