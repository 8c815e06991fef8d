# SPDX-License-Identifier: MIT
"""The bufpool module on the memfd backend (no kernel module needed):
pools, buffers through memoryview, release rules, errors with errno,
timed waits and the GIL, bulk calls, statistics, handover between two
handles and two processes, lifetimes after close."""
import ctypes
import errno
import gc
import glob
import os
import signal
import socket
import struct
import threading
import time

import pytest

import bufpool

SIZE = 4096
COUNT = 64


@pytest.fixture
def pool():
    # No hugetlb pages: the machine's reserve is shared with others.
    p = bufpool.Pool.create(buf_size=SIZE, buf_count=COUNT, hugetlb=False)
    yield p
    gc.collect()
    if not p.closed:
        p.close()


def drain(p):
    """Every buffer of p, in a list."""
    bufs = []
    while True:
        try:
            bufs.append(p.acquire())
        except bufpool.Exhausted:
            return bufs


# -------------------------------------------------------------- pools

def test_create_geometry(pool):
    assert pool.buf_size == SIZE
    assert pool.buf_count == COUNT
    assert not pool.closed
    assert pool.fd >= 0
    info = pool.info()
    assert info.flags & bufpool.INFO_F_MEMFD
    assert not info.flags & bufpool.INFO_F_HUGETLB
    assert (info.buf_size, info.buf_count) == (SIZE, COUNT)
    assert info.buf_shift == 12
    assert info.client_id == pool.client_id
    assert info.abi_version >> 16 == 1
    assert repr(pool).startswith("<bufpool.Pool fd=")


def test_create_defaults():
    with bufpool.Pool.create(hugetlb=False) as p:
        assert (p.buf_size, p.buf_count) == (2048, 4096)
        assert p.info().nr_caches == 64
    assert p.closed
    assert repr(p) == "<bufpool.Pool closed>"


def test_create_caches():
    with bufpool.Pool.create(caches=4, hugetlb=False) as p:
        assert (p.info().nr_caches, p.info().mag_fill) == (4, 63)
    # caches=0: no magazines at all (bufpool_create's BUFPOOL_F_NO_CACHE).
    with bufpool.Pool.create(caches=0, hugetlb=False) as p:
        assert p.info().mag_fill == 0
        p.acquire().release()
        assert p.stats().in_use == 0


def test_create_burst_sized_magazines():
    # Library 1.6: magazines of 256, as another handle sees them too;
    # bursts of 256 through them, bulk and single, on this thread's cache.
    geometry = dict(buf_count=8192, caches=8, hugetlb=False)
    with bufpool.Pool.create(mag_size=256, **geometry) as p:
        info = p.info()
        assert (info.mag_fill, info.nr_caches) == (256, 8)
        with bufpool.Pool.open_fd(p.fd) as other:
            assert other.info().mag_fill == 256
        for _ in range(20):
            bufs = p.acquire_bulk(256)
            assert len({b.index for b in bufs}) == 256
            p.release_bulk(bufs)
        for _ in range(20):
            bufs = [p.acquire() for _ in range(256)]
            for b in bufs:
                b.release()
        st = p.stats()
        assert (st.in_use, st.acquires, st.releases) == (0, 40 * 256, 40 * 256)
        assert st.shared_acquires == 0
    # The biggest, within half the pool; None and 0 are the default.
    with bufpool.Pool.create(buf_count=8192, caches=2, hugetlb=False,
                             mag_size=bufpool.MAG_MAX) as p:
        assert p.info().mag_fill == bufpool.MAG_MAX == 1023
    for default in (None, 0):
        with bufpool.Pool.create(mag_size=default, **geometry) as p:
            assert p.info().mag_fill == bufpool.MAG_CAP == 63


@pytest.mark.parametrize("kw", [
    dict(buf_count=4096, caches=4, mag_size=257),   # 4 * 4 * 257 > 4096
    dict(buf_count=1 << 20, caches=1, mag_size=1024),
    dict(caches=0, mag_size=8),
])
def test_create_bad_mag_size(kw):
    with pytest.raises(OSError) as e:
        bufpool.Pool.create(hugetlb=False, **kw)
    assert e.value.errno == errno.EINVAL


def test_create_mag_size_types():
    with pytest.raises(OverflowError):
        bufpool.Pool.create(mag_size=-1)
    with pytest.raises(OverflowError):
        bufpool.Pool.create(mag_size=1 << 32)
    with pytest.raises(TypeError):
        bufpool.Pool.create(mag_size="256")


def test_threads_without_a_cache():
    # One cache, taken by this thread: the others work on the shared path.
    with bufpool.Pool.create(caches=1, hugetlb=False) as p:
        p.acquire().release()
        before = p.stats()
        errors = []

        def work():
            try:
                held = [p.acquire() for _ in range(8)]
                for b in held:
                    b.release()
            except OSError as e:  # pragma: no cover - the failure shown
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        after = p.stats()
        assert after.shared_acquires - before.shared_acquires == 48
        assert after.shared_releases - before.shared_releases == 48
        assert after.in_use == 0


def test_create_bad_geometry():
    with pytest.raises(OSError) as e:
        bufpool.Pool.create(buf_size=1000, hugetlb=False)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OverflowError):
        bufpool.Pool.create(buf_count=-1)
    with pytest.raises(TypeError):
        bufpool.Pool.create(buf_size="big")
    with pytest.raises(TypeError):
        bufpool.Pool.create(4096)     # keywords only


def test_open_missing_path():
    with pytest.raises(FileNotFoundError) as e:
        bufpool.Pool("/nonexistent/bufpool")
    assert e.value.errno == errno.ENOENT
    assert e.value.filename == "/nonexistent/bufpool"


def test_open_not_a_pool(tmp_path):
    f = tmp_path / "plain"
    f.write_bytes(b"x" * 4096)
    with pytest.raises(OSError) as e:
        bufpool.Pool(str(f))
    assert e.value.errno == errno.ENOTTY


def test_open_fd_is_another_handle(pool):
    with bufpool.Pool.open_fd(pool.fd) as p2:
        assert p2.fd != pool.fd            # duplicated
        assert p2.client_id != pool.client_id
        assert (p2.buf_size, p2.buf_count) == (SIZE, COUNT)
    assert not pool.closed


def test_pool_not_subclassable_buffer_not_instantiable():
    with pytest.raises(TypeError):
        bufpool.Buffer()
    with pytest.raises(TypeError):
        type("P", (bufpool.Pool,), {})


# ---------------------------------------------------------- buffers

def test_acquire_write_read_through_memoryview(pool):
    buf = pool.acquire()
    assert buf.held and buf.pool is pool
    assert 0 <= buf.index < COUNT
    assert len(buf) == SIZE
    with memoryview(buf) as mv:
        assert not mv.readonly
        assert (mv.nbytes, mv.format, mv.itemsize) == (SIZE, "B", 1)
        assert mv.c_contiguous
        mv[:5] = b"hello"
        mv[-3:] = b"end"
    # The same memory, seen again: no copy was made.
    with memoryview(buf) as mv:
        assert bytes(mv[:5]) == b"hello"
        assert bytes(mv[-3:]) == b"end"
    buf.release()
    assert not buf.held


def test_buffer_protocol_users(pool):
    """The buffer goes straight to what takes a writable buffer."""
    buf = pool.acquire()
    struct.pack_into("<IQ", buf, 0, 0xdeadbeef, 42)
    assert struct.unpack_from("<IQ", buf, 0) == (0xdeadbeef, 42)
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"from the socket")
        n = b.recv_into(buf, 15)
    assert n == 15
    assert bytes(memoryview(buf)[:15]) == b"from the socket"
    buf.release()


def test_memory_is_shared_between_handles(pool):
    """Another handle of the pool sees the bytes at the same index."""
    buf = pool.acquire()
    memoryview(buf)[:8] = b"abcdefgh"
    idx = pool.handoff(buf)
    with bufpool.Pool.open_fd(pool.fd) as p2:
        with p2.adopt(idx) as b2, memoryview(b2) as mv:
            assert bytes(mv[:8]) == b"abcdefgh"


def test_context_manager_releases(pool):
    with pool.acquire() as buf, memoryview(buf) as mv:
        mv[0] = 7
        assert pool.stats().in_use == 1
    assert not buf.held
    assert pool.stats().in_use == 0


def test_context_manager_after_explicit_release_or_detach(pool):
    with pool.acquire() as buf:
        buf.release()
    with pool.acquire() as buf:
        idx = buf.detach()
    # Detached: still held by the handle, under its index.
    assert pool.stats().in_use == 1
    pool.release_index(idx)
    assert pool.stats().in_use == 0


def test_double_release_raises(pool):
    buf = pool.acquire()
    buf.release()
    with pytest.raises(ValueError, match="already released"):
        buf.release()
    assert pool.stats().releases == 1


def test_released_buffer_refuses_export(pool):
    buf = pool.acquire()
    buf.release()
    with pytest.raises(ValueError):
        memoryview(buf)
    with pytest.raises(ValueError):
        buf.detach()


def test_release_refused_while_exported(pool):
    buf = pool.acquire()
    mv = memoryview(buf)
    with pytest.raises(BufferError, match="exported"):
        buf.release()
    with pytest.raises(BufferError):
        buf.detach()
    with pytest.raises(BufferError):
        pool.handoff(buf)
    part = mv[10:20]                 # a slice shares the export
    mv.release()
    with pytest.raises(BufferError):
        buf.release()
    part.release()
    buf.release()
    assert pool.stats().in_use == 0


def test_with_block_refuses_to_release_under_a_live_view(pool):
    with pytest.raises(BufferError):
        with pool.acquire() as buf:
            mv = memoryview(buf)
    assert buf.held                  # still ours, and mv still valid
    mv[0] = 1
    mv.release()
    buf.release()


def test_dropped_buffer_is_released(pool):
    pool.acquire()
    b = pool.acquire()
    del b
    assert pool.stats().in_use == 0


def test_buffer_keeps_pool_alive():
    def make():
        p = bufpool.Pool.create(buf_size=SIZE, buf_count=COUNT,
                                hugetlb=False)
        return p.acquire()
    buf = make()
    gc.collect()
    assert not buf.pool.closed
    memoryview(buf)[:3] = b"yes"
    buf.release()


def test_dropped_pool_is_closed():
    fds = len(os.listdir("/proc/self/fd"))
    p = bufpool.Pool.create(buf_size=SIZE, buf_count=COUNT, hugetlb=False)
    b = p.acquire()
    del p
    assert len(os.listdir("/proc/self/fd")) == fds + 1   # b holds it
    del b
    assert len(os.listdir("/proc/self/fd")) == fds


def test_repr(pool):
    buf = pool.acquire()
    assert repr(buf) == f"<bufpool.Buffer index={buf.index} size={SIZE} held>"
    buf.release()
    assert "released" in repr(buf)


# ------------------------------------------------------ exhaustion

def test_exhaustion_raises_enobufs(pool):
    bufs = drain(pool)
    assert len(bufs) == COUNT
    assert len({b.index for b in bufs}) == COUNT
    with pytest.raises(bufpool.Exhausted) as e:
        pool.acquire()
    assert isinstance(e.value, OSError)
    assert e.value.errno == errno.ENOBUFS
    with pytest.raises(OSError) as e:
        pool.acquire_index()
    assert e.value.errno == errno.ENOBUFS
    st = pool.stats()
    assert (st.in_use, st.free) == (COUNT, 0)
    assert st.exhausted >= 2
    pool.release_bulk(bufs)
    assert pool.stats().in_use == 0


# ------------------------------------------------------ timed waits

def test_timed_acquire_times_out(pool):
    bufs = drain(pool)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError) as e:
        pool.acquire_timeout(0.05)
    assert e.value.errno == errno.ETIMEDOUT
    assert time.monotonic() - t0 >= 0.04
    with pytest.raises(bufpool.Exhausted):
        pool.acquire_timeout(0)           # 0: do not sleep
    pool.release_bulk(bufs)


def test_timed_acquire_gets_a_free_buffer_at_once(pool):
    with pool.acquire_timeout(5) as buf:
        assert buf.held
    with pool.acquire_timeout(None) as buf:
        assert buf.held


def test_timed_acquire_bad_timeout(pool):
    for bad in (-1, float("nan")):
        with pytest.raises(ValueError):
            pool.acquire_timeout(bad)
    with pytest.raises(TypeError):
        pool.acquire_timeout("1")
    with pytest.raises(OverflowError):
        pool.acquire_timeout(1e300)


def test_timed_acquire_sleeps_without_the_gil(pool):
    """A thread sleeps in acquire_timeout; this one goes on running
    Python, cannot close the pool under it, and wakes it by releasing."""
    bufs = drain(pool)
    got = []

    def sleeper():
        got.append(pool.acquire_timeout(10))
    t = threading.Thread(target=sleeper)
    t0 = time.monotonic()
    t.start()
    while pool.stats().waiters == 0:
        assert time.monotonic() - t0 < 5, "the sleeper never slept"
        time.sleep(0.001)
    # Python runs here while the other thread sleeps.
    with pytest.raises(OSError) as e:
        pool.close()
    assert e.value.errno == errno.EBUSY
    bufs.pop().release()
    t.join(10)
    assert not t.is_alive()
    assert len(got) == 1 and got[0].held
    assert time.monotonic() - t0 < 5
    got[0].release()
    pool.release_bulk(bufs)
    pool.close()


def test_timed_acquire_and_signals(pool):
    """A signal wakes the sleeper: a handler that raises ends the wait
    with its exception; one that does not lets it sleep on (PEP 475)."""
    bufs = drain(pool)
    seen = []

    class Stop(Exception):
        pass

    def raising(signum, frame):
        raise Stop()

    def quiet(signum, frame):
        seen.append(signum)
    old = signal.signal(signal.SIGALRM, raising)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        t0 = time.monotonic()
        with pytest.raises(Stop):
            pool.acquire_timeout(5)
        assert time.monotonic() - t0 < 2
        signal.signal(signal.SIGALRM, quiet)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            pool.acquire_timeout(0.3)
        assert seen == [signal.SIGALRM]
        assert time.monotonic() - t0 >= 0.28
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert pool.stats().waiters == 0
    pool.release_bulk(bufs)


# ------------------------------------------------------------ bulk

def test_bulk(pool):
    bufs = pool.acquire_bulk(10)
    assert len(bufs) == 10 and all(b.held for b in bufs)
    assert len({b.index for b in bufs}) == 10
    assert pool.stats().in_use == 10
    pool.release_bulk(bufs)
    assert not any(b.held for b in bufs)
    assert pool.stats().in_use == 0
    assert pool.acquire_bulk(0) == []
    many = pool.acquire_bulk(1000)        # more than there are
    assert len(many) == COUNT
    with pytest.raises(bufpool.Exhausted):
        pool.acquire_bulk(1)
    pool.release_bulk(tuple(many))        # any sequence
    with pytest.raises(ValueError):
        pool.acquire_bulk(-1)


def test_release_bulk_checks_everything_first(pool, tmp_path):
    a, b, c = pool.acquire_bulk(3)
    c.release()
    with pytest.raises(ValueError, match="already released"):
        pool.release_bulk([a, b, c])
    assert a.held and b.held
    with pytest.raises(TypeError):
        pool.release_bulk([a, 5])
    with pytest.raises(TypeError):
        pool.release_bulk(a)
    with bufpool.Pool.create(buf_size=SIZE, buf_count=COUNT,
                             hugetlb=False) as other:
        o = other.acquire()
        with pytest.raises(ValueError, match="another pool"):
            pool.release_bulk([a, o])
        o.release()
    mv = memoryview(b)
    with pytest.raises(BufferError):
        pool.release_bulk([a, b])
    mv.release()
    assert a.held and b.held
    pool.release_bulk([a, b])
    assert pool.stats().in_use == 0


def test_release_bulk_of_a_buffer_not_held(pool):
    """One Buffer of the list is no longer the handle's (given back by
    index): EINVAL, and every other one is still given back."""
    bufs = pool.acquire_bulk(5)
    pool.release_index(bufs[2].index)
    with pytest.raises(OSError) as e:
        pool.release_bulk(bufs)
    assert e.value.errno == errno.EINVAL
    assert not any(b.held for b in bufs)
    assert pool.stats().in_use == 0


# ---------------------------------------------------- index forms

def test_index_forms(pool):
    i = pool.acquire_index()
    assert isinstance(i, int) and 0 <= i < COUNT
    assert pool.stats().in_use == 1
    pool.release_index(i)
    with pytest.raises(OSError) as e:
        pool.release_index(i)             # the library's double release
    assert e.value.errno == errno.EINVAL
    for bad in (-1, COUNT, 2**40):
        with pytest.raises(ValueError):
            pool.release_index(bad)
        with pytest.raises(ValueError):
            pool.buffer_at(bad)
    with pytest.raises(TypeError):
        pool.release_index("1")


def test_detach_and_buffer_at(pool):
    buf = pool.acquire()
    memoryview(buf)[:4] = b"keep"
    idx = buf.detach()
    assert idx == buf.index and not buf.held
    assert "detached" in repr(buf)
    with pytest.raises(ValueError, match="detached"):
        buf.release()
    del buf                               # detached: not released
    assert pool.stats().in_use == 1
    again = pool.buffer_at(idx)
    assert bytes(memoryview(again)[:4]) == b"keep"
    again.release()
    assert pool.stats().in_use == 0


def test_release_of_a_buffer_given_back_by_index(pool):
    buf = pool.acquire()
    pool.release_index(buf.index)
    with pytest.raises(OSError) as e:
        buf.release()
    assert e.value.errno == errno.EINVAL
    assert not buf.held


# ------------------------------------------------------- handover

def test_handoff_adopt_between_two_handles(pool):
    with bufpool.Pool.open_fd(pool.fd) as p2:
        buf = pool.acquire()
        memoryview(buf)[:5] = b"order"
        idx = pool.handoff(buf)
        assert idx == buf.index and not buf.held
        with pytest.raises(OSError) as e:
            pool.release_index(idx)        # in transit: not ours
        assert e.value.errno == errno.EINVAL
        got = p2.adopt(idx)
        assert bytes(memoryview(got)[:5]) == b"order"
        with pytest.raises(OSError) as e:
            pool.adopt(idx)                # adopted once only
        assert e.value.errno == errno.EINVAL
        # And back again, by index this time.
        assert p2.handoff(got) == idx
        mine = pool.adopt(idx)
        mine.release()
        assert pool.stats().in_use == 0


def test_handoff_index_form(pool):
    i = pool.acquire_index()
    assert pool.handoff(i) == i
    with pytest.raises(OSError) as e:
        pool.handoff(i)                     # no longer held
    assert e.value.errno == errno.EINVAL
    pool.adopt(i).release()


def test_handoff_adopt_across_fork(pool):
    """A parent hands a buffer to a child, which opens its own handle
    from the inherited fd (open_fd), adopts it, answers in the same
    buffer and hands it back."""
    buf = pool.acquire()
    memoryview(buf)[:12] = b"from parent\0"
    idx = pool.handoff(buf)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            with bufpool.Pool.open_fd(pool.fd) as mine:
                b = mine.adopt(idx)
                with memoryview(b) as mv:
                    ok = bytes(mv[:12]) == b"from parent\0"
                    mv[:12] = b"from child!\0"
                os.write(w, struct.pack("<I", mine.handoff(b)))
                code = 0 if ok else 2
        finally:
            os._exit(code)
    os.close(w)
    data = os.read(r, 4)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    (back,) = struct.unpack("<I", data)
    assert back == idx
    with pool.adopt(back) as b, memoryview(b) as mv:
        assert bytes(mv[:12]) == b"from child!\0"
    assert pool.stats().in_use == 0


def test_child_dropping_an_inherited_buffer_does_not_release_it(pool):
    buf = pool.acquire()
    pid = os.fork()
    if pid == 0:
        try:
            global _inherited
            _inherited = None
            del buf                       # the parent's: must stay held
            gc.collect()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert pool.stats().in_use == 1
    assert buf.held
    buf.release()


# ---------------------------------------------------------- stats

def test_stats_values(pool):
    st = pool.stats()
    assert isinstance(st, tuple) and isinstance(st, bufpool.Stats)
    assert st._fields if hasattr(st, "_fields") else True
    assert (st.total, st.free, st.in_use) == (COUNT, COUNT, 0)
    assert (st.acquires, st.releases, st.exhausted) == (0, 0, 0)
    assert (st.reclaimed, st.waiters) == (0, 0)
    bufs = [pool.acquire() for _ in range(3)]
    st = pool.stats()
    assert (st.in_use, st.free, st.acquires) == (3, COUNT - 3, 3)
    assert st.high_watermark >= 3
    bufs[0].release()
    pool.release_bulk(bufs[1:])
    st = pool.stats()
    assert (st.in_use, st.releases, st.acquires) == (0, 3, 3)
    assert st.high_watermark == 3


def test_flush_cache(pool):
    for b in pool.acquire_bulk(20):
        b.release()
    pool.flush_cache()
    assert pool.stats().in_use == 0


def test_audit_needs_the_module(pool):
    with pytest.raises(OSError) as e:
        pool.audit()
    assert e.value.errno == errno.ENOTTY


def test_repair_needs_the_module(pool):
    with pytest.raises(OSError) as e:
        pool.repair()
    assert e.value.errno == errno.ENOTTY
    st = pool.stats()
    assert st.detected == 0 and st.repairs == 0


def test_threads(pool):
    """Threads take and give concurrently, each through its own cache."""
    def work():
        for _ in range(2000):
            with pool.acquire():
                pass
        pool.flush_cache()
    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    st = pool.stats()
    assert st.in_use == 0
    assert st.acquires == st.releases == 8000


# ---------------------------------------------------------- close

def test_closed_pool_raises(pool):
    buf = pool.acquire()
    pool.close()
    assert pool.closed
    assert not buf.held
    assert "pool closed" in repr(buf)
    for call in (pool.acquire, pool.acquire_index, pool.stats, pool.info,
                 pool.flush_cache, lambda: pool.acquire_timeout(0),
                 lambda: pool.acquire_bulk(1), lambda: pool.release_bulk([]),
                 lambda: pool.release_index(0), lambda: pool.buffer_at(0),
                 lambda: pool.adopt(0), lambda: pool.handoff(0),
                 lambda: pool.fd, buf.release, buf.detach,
                 lambda: memoryview(buf)):
        with pytest.raises(ValueError):
            call()
    assert buf.index < COUNT and len(buf) == SIZE   # plain numbers
    pool.close()                      # twice is fine
    with pytest.raises(ValueError):
        with pool:
            pass


def test_close_refused_while_exported(pool):
    buf = pool.acquire()
    mv = memoryview(buf)
    with pytest.raises(BufferError):
        pool.close()
    with pytest.raises(BufferError):
        with pool:
            pass
    assert not pool.closed
    mv[0] = 1                         # still mapped
    mv.release()
    pool.close()
    with pytest.raises(ValueError):
        buf.release()


# ------------------------------------------------- spread pools (1.8)

CHUNK = 2 << 20
# (buf_size, buf_count): both over more than one 2 MiB chunk, so that
# buffers cross from one chunk to the next.
GEOMETRIES = [(2048, 2048), (65536, 64)]


def address(buf):
    """The address of buf's first byte (the export ends on return)."""
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


def buf_offset(i, stride):
    """Where buffer i starts in the buffer area, from first principles:
    stride bytes after buffer i - 1, across the 2 MiB chunks."""
    return i * stride


@pytest.fixture(params=GEOMETRIES, ids=lambda g: f"{g[0]}x{g[1]}")
def spread_pool(request):
    size, count = request.param
    p = bufpool.Pool.create(buf_size=size, buf_count=count, spread=True,
                            hugetlb=False)
    yield p
    gc.collect()
    if not p.closed:
        p.close()


def check_addresses(bufs, stride):
    """Every Buffer of bufs where buf_offset() puts it, from one base."""
    bases = {address(b) - buf_offset(b.index, stride) for b in bufs}
    assert len(bases) == 1
    return bases.pop()


@pytest.mark.parametrize("spread", [False, True], ids=["packed", "spread"])
@pytest.mark.parametrize("size,count", GEOMETRIES,
                         ids=[f"{s}x{c}" for s, c in GEOMETRIES])
def test_buffer_layout(size, count, spread):
    stride = size + 64 if spread else size
    with bufpool.Pool.create(buf_size=size, buf_count=count, spread=spread,
                             hugetlb=False) as p:
        assert (p.buf_size, p.buf_stride) == (size, stride)
        info = p.info()
        assert info.buf_stride == stride and info.buf_size == size
        assert info.buf_shift == (0 if spread else size.bit_length() - 1)
        assert count > CHUNK // stride          # more than one chunk
        bufs = drain(p)
        assert sorted(b.index for b in bufs) == list(range(count))
        base = check_addresses(bufs, stride)
        offs = sorted(address(b) - base for b in bufs)
        assert offs[0] == 0 and offs[-1] + size <= info.bufs_size
        # None overlaps the next.
        assert all(b - a >= stride for a, b in zip(offs, offs[1:]))
        # Index to address and back: a Buffer for a detached index is
        # where the acquired one was.
        for b in bufs:
            i, at = b.index, address(b)
            again = p.buffer_at(b.detach())
            assert again.index == i and address(again) == at
            again.release()
        assert p.stats().in_use == 0


def test_spread_writes_stay_in_their_buffer(spread_pool):
    p = spread_pool
    size = p.buf_size
    bufs = drain(p)
    for b in bufs:
        with memoryview(b) as m:
            assert m.nbytes == size
            m[:] = bytes([b.index % 251 + 1]) * size
    for b in bufs:
        assert bytes(b) == bytes([b.index % 251 + 1]) * size
        if b.index != p.buf_count - 1:
            # The 64 bytes after it (the pad) untouched.
            assert ctypes.string_at(address(b) + size, 64) == bytes(64)
    p.release_bulk(bufs)
    assert p.stats().in_use == 0


def test_spread_bulk(spread_pool):
    p = spread_pool
    bufs = p.acquire_bulk(p.buf_count)         # off the stack array
    assert sorted(b.index for b in bufs) == list(range(p.buf_count))
    check_addresses(bufs, p.buf_stride)
    # The library takes back only buffers' starts (EINVAL otherwise).
    p.release_bulk(bufs)
    assert p.stats().in_use == 0
    few = p.acquire_bulk(10)
    check_addresses(few, p.buf_stride)
    p.release_bulk(few)
    assert p.stats().in_use == 0


def test_spread_handoff_adopt(spread_pool):
    p = spread_pool
    bufs = p.acquire_bulk(p.buf_count)
    last = max(bufs, key=lambda b: b.index)     # in the last chunk
    bufs.remove(last)
    p.release_bulk(bufs)
    struct.pack_into("<I", last, p.buf_size - 4, 0x5ead)
    with bufpool.Pool.open_fd(p.fd) as p2:
        assert p2.buf_stride == p.buf_stride
        idx = p.handoff(last)
        got = p2.adopt(idx)
        assert got.index == idx
        assert struct.unpack_from("<I", got, p.buf_size - 4)[0] == 0x5ead
        got.release()
    assert p.stats().in_use == 0


def test_spread_2mib_buffers():
    with bufpool.Pool.create(buf_size=CHUNK, buf_count=2, spread=True,
                             hugetlb=False) as p:
        assert p.buf_stride == CHUNK + 64
        bufs = drain(p)
        assert check_addresses(bufs, CHUNK + 64)
        p.release_bulk(bufs)
    with bufpool.Pool.create(buf_size=CHUNK, buf_count=2,
                             hugetlb=False) as p:
        assert p.buf_stride == CHUNK


# ------------------------------------------------ rotating depot (1.9)

@pytest.mark.parametrize("rotate", [False, True], ids=["stack", "rotate"])
def test_rotating_depot(rotate):
    """A producer thread and a consumer thread pass every buffer from one
    cache to the other; info says whether the depot rotates, a second
    handle reads the same; nothing is lost or taken twice."""
    import queue
    import threading
    with bufpool.Pool.create(buf_size=2048, buf_count=512, caches=4,
                             mag_size=16, rotate=rotate,
                             hugetlb=False) as p:
        want = bufpool.DEPOT_ROTATE if rotate else 0
        assert p.info().depot_flags == want
        with bufpool.Pool.open_fd(p.fd) as p2:
            assert p2.info().depot_flags == want
        q = queue.Queue(maxsize=64)
        bad = []

        def consume():
            for i in range(5000):
                b = q.get()
                with memoryview(b) as mv:
                    if mv[0] != i & 0xff:
                        bad.append(i)
                b.release()

        t = threading.Thread(target=consume)
        t.start()
        for i in range(5000):
            b = p.acquire()
            with memoryview(b) as mv:
                mv[0] = i & 0xff
            q.put(b)
        t.join()
        assert not bad
        assert p.stats().acquires >= 5000
        bufs = drain(p)
        assert len(bufs) == 512
        assert len({b.index for b in bufs}) == 512
        p.release_bulk(bufs)


# -------------------------------------------------------- classes

@pytest.mark.skipif(glob.glob("/dev/bufpool-c*"), reason="class pools exist")
def test_classes_without_class_pools():
    with pytest.raises(FileNotFoundError) as e:
        bufpool.Classes()
    assert e.value.errno == errno.ENOENT


def test_classes_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError):
        bufpool.Classes(["/nonexistent/bufpool-c64"])
    with pytest.raises(ValueError):
        bufpool.Classes([])
    with pytest.raises(ValueError):
        bufpool.Classes(["/dev/null"] * 17)
    with pytest.raises(TypeError):
        bufpool.Classes(5)
