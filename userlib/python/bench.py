# SPDX-License-Identifier: MIT
"""ns per acquire+release from Python, beside the C library's in the
same run.

    make python bench/matrix bench/matrix-lto
    PYTHONPATH=userlib/python /usr/bin/python3 userlib/python/bench.py [--spread]

Each Python figure is the median of RUNS timed loops of N iterations
(timeit-style: a local-variable loop, the loop's own cost included and
also shown alone), one thread, on a memfd pool of the geometry
bench/matrix uses (8192 x 2 KiB, 16 caches).  The C figures are
bench/matrix's (the library's own benchmark, burst 1, one thread, p50
of batches; it writes a byte of each buffer): through the shared
library as the module calls it, and inlined (-flto), when built.
--spread: the Python figures on a spread pool (library 1.8), whose
Buffers the module places through the library, not by a shift.
"""
import csv
import io
import os
import statistics
import struct
import subprocess
import sys
import time

import bufpool

N = 200_000
RUNS = 9
TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def loop_empty(pool, n):
    for _ in range(n):
        pass


def acquire_release(pool, n):
    acquire = pool.acquire
    for _ in range(n):
        acquire().release()


def index_forms(pool, n):
    acquire, release = pool.acquire_index, pool.release_index
    for _ in range(n):
        release(acquire())


def with_block(pool, n):
    acquire = pool.acquire
    for _ in range(n):
        with acquire():
            pass


def write_a_byte(pool, n):
    acquire = pool.acquire
    for _ in range(n):
        b = acquire()
        memoryview(b)[0] = 1
        b.release()


def pack_into(pool, n):
    acquire, pack = pool.acquire, struct.pack_into
    for _ in range(n):
        b = acquire()
        pack("<Q", b, 0, 1)
        b.release()


def bulk_32(pool, n):
    acquire, release = pool.acquire_bulk, pool.release_bulk
    for _ in range(n // 32):
        release(acquire(32))


CASES = [
    ("loop alone (for _ in range(n): pass)", loop_empty),
    ("acquire().release()", acquire_release),
    ("release_index(acquire_index())", index_forms),
    ("with acquire(): pass", with_block),
    ("b = acquire(); memoryview(b)[0] = 1; b.release()", write_a_byte),
    ("b = acquire(); struct.pack_into('<Q', b, 0, 1); b.release()",
     pack_into),
    ("release_bulk(acquire_bulk(32)), per buffer", bulk_32),
]


def python_figures(spread=False):
    pool = bufpool.Pool.create(buf_size=2048, buf_count=8192, caches=16,
                               spread=spread)
    out = []
    for name, fn in CASES:
        fn(pool, N // 10)                        # warm up
        runs = []
        for _ in range(RUNS):
            t0 = time.perf_counter_ns()
            fn(pool, N)
            runs.append((time.perf_counter_ns() - t0) / N)
        out.append((name, statistics.median(runs), min(runs)))
    assert pool.stats().in_use == 0
    pool.close()
    return out


def c_figure(prog, peer):
    """bench/matrix's burst 1, one thread, 2 KiB: p50 ns per pair."""
    path = os.path.join(TOP, "bench", prog)
    if not os.access(path, os.X_OK):
        return None
    r = subprocess.run([path, "--peers", peer, "--scenarios", "burst",
                        "--sizes", "2048"], capture_output=True, text=True,
                       check=True)
    header = ("scenario,size,threads,burst,peer,p50_ns,p99_ns,p999_ns,"
              "max_ns,mops,failed\n")
    rows = [row for row in csv.DictReader(io.StringIO(header + r.stdout))
            if row["threads"] == "1" and row["burst"] == "1"]
    if not rows:
        raise RuntimeError(f"{prog} printed no burst 1 row for {peer}")
    return float(rows[0]["p50_ns"])


def main():
    spread = "--spread" in sys.argv[1:]
    print(f"Python {sys.version.split()[0]}, bufpool {bufpool.__version__}; "
          f"median of {RUNS} runs of {N} iterations; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
          f"{'; a spread pool' if spread else ''}")
    for name, med, best in python_figures(spread):
        print(f"  {med:8.1f} ns  (best {best:6.1f})  {name}")
    for prog, peer, what in (
            ("matrix", "bufpool", "C, shared library (bench/matrix)"),
            ("matrix-lto", "bufpool-lto",
             "C, inlined with -flto (bench/matrix-lto)")):
        ns = c_figure(prog, peer)
        if ns is None:
            print(f"  {'-':>8}     {what}: not built (make benches)")
        else:
            print(f"  {ns:8.1f} ns  {what}, p50")
    print("  the seeds' Cython pool: 440 ns per operation (their figure, "
          "their machine)")


if __name__ == "__main__":
    main()
