# SPDX-License-Identifier: GPL-2.0
"""The Python module (userlib/python/) against the loaded module,
through /dev/bufpool: buffers through memoryview, the kernel's audit,
timed waits that sleep in the kernel, handover between two processes
that are two clients, what the kernel gives back when a client dies,
size classes, close; queues between processes and what the kernel does
with a queue's buffers when its consumer or last user dies, and the
addressed handoff (ABI 1.3).  KTAP; run by bufpool_python_test.sh with the
interpreter the build put beside it (scripts/python-vm.sh).  Plain
Python, no pytest: the VM carries only the standard library modules
imported here.

--list-files: print the standard library files this imports, for
scripts/python-vm.sh."""
import errno
import gc
import os
import struct
import sys
import threading
import time
import traceback

import bufpool

DEV = "/dev/bufpool"
SYSFS = "/sys/class/bufpool/bufpool"
TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


class Skip(Exception):
    """raise Skip(reason): the test does not apply here (KTAP SKIP)."""


def need_queues(p):
    """Skip unless the device has queues (ABI 1.3 and the queues
    parameter not 0); a device without them refuses with EOPNOTSUPP."""
    info = p.info()
    if info.abi_version & 0xffff < 3:
        raise Skip("the module predates ABI 1.3")
    if info.nr_queues == 0:
        with Raises(OSError, errno.EOPNOTSUPP):
            p.queue("vm-none", create=True, capacity=1)
        raise Skip("the module was loaded with queues=0")


def audit_sums(a):
    return a.free + a.cached + a.held + a.transit + a.queued == a.buf_count


class Raises:
    """with Raises(OSError, errno.EINVAL): ... (pytest.raises, small)."""

    def __init__(self, exc, err=None):
        self.exc, self.err, self.value = exc, err, None

    def __enter__(self):
        return self

    def __exit__(self, typ, value, tb):
        if typ is None:
            raise AssertionError(f"{self.exc.__name__} not raised")
        if not issubclass(typ, self.exc):
            return False
        if self.err is not None and value.errno != self.err:
            raise AssertionError(f"errno {value.errno}, not {self.err}")
        self.value = value
        return True


def sysfs(name):
    for d in ("info", "stats", ""):
        path = os.path.join(SYSFS, d, name)
        if os.path.exists(path):
            with open(path) as f:
                return int(f.read())
    raise FileNotFoundError(name)


def drain(p):
    bufs = []
    while True:
        try:
            bufs += p.acquire_bulk(p.buf_count)
        except bufpool.Exhausted:
            return bufs


def child(fn):
    """Run fn() in a child process; its exit status (0: it returned
    true)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if fn() else 2
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@test
def device_pool_opens_and_maps():
    with bufpool.Pool() as p:          # path None: /dev/bufpool
        info = p.info()
        assert not info.flags & bufpool.INFO_F_MEMFD
        assert p.buf_size == info.buf_size == sysfs("buf_size")
        assert p.buf_count == info.buf_count == sysfs("buf_count")
        assert info.client_id == p.client_id > 0
    with bufpool.Pool(DEV) as p:
        assert p.stats().total == p.buf_count


@test
def write_and_read_through_memoryview():
    with bufpool.Pool(DEV) as p:
        with p.acquire() as buf, memoryview(buf) as mv:
            assert mv.nbytes == p.buf_size and not mv.readonly
            mv[:6] = b"kernel"
            mv[-4:] = b"tail"
            struct.pack_into("<Q", buf, 8, 0x1122334455667788)
            assert bytes(mv[:6]) == b"kernel"
            assert struct.unpack_from("<Q", buf, 8)[0] == 0x1122334455667788
        assert not buf.held


@test
def stats_match_sysfs():
    with bufpool.Pool(DEV) as p:
        before = p.stats().in_use
        bufs = p.acquire_bulk(3)
        st = p.stats()
        assert st.in_use == before + 3 == sysfs("in_use")
        assert st.total == sysfs("total")
        p.release_bulk(bufs)
        assert p.stats().in_use == before


@test
def audit_counts_held_and_transit():
    with bufpool.Pool(DEV) as p:
        bufs = p.acquire_bulk(4)
        idx = p.handoff(bufs.pop())
        a = p.audit()
        assert isinstance(a, bufpool.Audit)
        assert a.buf_count == p.buf_count and a.clients >= 1
        assert a.held >= 3 and a.transit >= 1
        assert a.repaired == 0
        p.adopt(idx).release()
        p.release_bulk(bufs)
        a = p.audit()
        assert a.transit == 0


@test
def repair_with_clients_open():
    with bufpool.Pool(DEV) as p:
        held = p.acquire()
        before = p.stats()
        assert p.repair() is None
        after = p.stats()
        assert after.repairs > before.repairs
        assert after.detected == before.detected
        a = p.audit()
        assert a.held >= 1 and a.repaired == 0
        held.release()


@test
def exhaustion_and_timed_wait_in_the_kernel():
    with bufpool.Pool(DEV) as p:
        bufs = drain(p)
        assert len(bufs) == p.buf_count
        with Raises(bufpool.Exhausted, errno.ENOBUFS):
            p.acquire()
        t0 = time.monotonic()
        with Raises(TimeoutError, errno.ETIMEDOUT):
            p.acquire_timeout(0.1)
        assert time.monotonic() - t0 >= 0.09
        # A sleeper in another thread, woken by a release here.
        got = []
        t = threading.Thread(target=lambda: got.append(p.acquire_timeout(30)))
        t.start()
        t0 = time.monotonic()
        while p.stats().waiters == 0:
            assert time.monotonic() - t0 < 20, "the sleeper never slept"
            time.sleep(0.01)
        with Raises(OSError, errno.EBUSY):
            p.close()
        bufs.pop().release()
        t.join(30)
        assert not t.is_alive() and got and got[0].held
        got[0].release()
        p.release_bulk(bufs)
        assert p.stats().in_use == 0


@test
def handoff_between_two_processes():
    """Two opens of the device are two clients: the parent hands a
    buffer to a child, which adopts it, answers and hands it back."""
    with bufpool.Pool(DEV) as p:
        buf = p.acquire()
        memoryview(buf)[:6] = b"ping\0\0"
        idx = p.handoff(buf)
        r, w = os.pipe()

        def run():
            os.close(r)
            with bufpool.Pool(DEV) as mine:
                assert mine.client_id != p.client_id
                b = mine.adopt(idx)
                with memoryview(b) as mv:
                    ok = bytes(mv[:6]) == b"ping\0\0"
                    mv[:6] = b"pong\0\0"
                os.write(w, struct.pack("<I", mine.handoff(b)))
            return ok
        assert child(run) == 0
        os.close(w)
        (back,) = struct.unpack("<I", os.read(r, 4))
        os.close(r)
        assert back == idx
        with p.adopt(back) as b, memoryview(b) as mv:
            assert bytes(mv[:6]) == b"pong\0\0"


@test
def a_dead_clients_buffers_come_back():
    with bufpool.Pool(DEV) as p:
        before = p.stats()

        def run():
            mine = bufpool.Pool(DEV)
            held = mine.acquire_bulk(5)
            assert mine.stats().in_use == before.in_use + len(held) == \
                before.in_use + 5
            os._exit(0)                # dies holding them
        assert child(run) == 0
        st = p.stats()
        assert st.in_use == before.in_use
        assert st.reclaimed >= before.reclaimed + 5


@test
def size_classes_over_the_device():
    with bufpool.Classes([DEV]) as cls:
        assert len(cls) == 1
        (pool,) = cls.pools
        b = cls.acquire(100)
        assert b.pool is pool and len(b) == pool.buf_size
        with Raises(OSError, errno.EINVAL):
            cls.acquire(pool.buf_size + 1)
        mv = memoryview(b)
        with Raises(BufferError):
            cls.close()
        with Raises(ValueError):
            pool.close()               # the set's
        mv.release()
        cls.release(b)
        assert not b.held
        kept = cls.acquire(1)
    assert cls.closed and pool.closed
    with Raises(ValueError):
        kept.release()


@test
def classes_dropped_without_close_are_collected():
    fds = len(os.listdir("/proc/self/fd"))
    cls = bufpool.Classes([DEV])
    b = cls.acquire(64)
    del cls
    gc.collect()
    assert b.held                      # its pool keeps the set alive
    b.release()
    pool = b.pool
    del b
    gc.collect()
    assert pool.stats().in_use == 0
    del pool
    gc.collect()                       # the cycle set <-> pools goes
    assert len(os.listdir("/proc/self/fd")) == fds


@test
def closed_pool_raises():
    p = bufpool.Pool(DEV)
    buf = p.acquire()
    mv = memoryview(buf)
    with Raises(BufferError):
        p.close()
    mv.release()
    p.close()
    for call in (p.acquire, p.stats, p.audit, buf.release,
                 lambda: memoryview(buf)):
        with Raises(ValueError):
            call()


@test
def queue_between_two_processes():
    """The parent produces, a child (another client) consumes; the
    kernel's audit counts what waits in the queue as queued."""
    with bufpool.Pool(DEV) as p:
        need_queues(p)
        q = p.queue("vm-proc", create=True, capacity=16, produce=True)
        for i in range(10):
            b = p.acquire()
            struct.pack_into("<I", b, 0, i)
            q.enqueue(b)
        a = p.audit()
        assert a.queued == 10 and a.queues >= 1, a
        assert audit_sums(a), a
        assert p.stats().in_use == 10

        def run():
            with bufpool.Pool(DEV) as mine, \
                    mine.queue("vm-proc", consume=True) as c:
                got = [struct.unpack_from("<I", b, 0)[0]
                       for b in c.dequeue_bulk(16)]
                gc.collect()
                return got == list(range(10))
        assert child(run) == 0
        st = q.stats()
        assert (st.enqueued, st.dequeued, st.depth) == (10, 10, 0)
        assert p.stats().in_use == 0
        a = p.audit()
        assert a.queued == 0 and a.reclaimed == 0 and audit_sums(a), a
        q.close()


@test
def a_dead_consumers_queue_keeps_its_buffers():
    """A consumer that dies: what it dequeued comes back to the pool,
    what it left stays queued, and the next consumer continues there."""
    with bufpool.Pool(DEV) as p, bufpool.Pool(DEV) as other:
        need_queues(p)
        before = p.stats()
        q = p.queue("vm-dead", create=True, capacity=16, produce=True)
        for i in range(6):
            b = p.acquire()
            struct.pack_into("<I", b, 0, i)
            q.enqueue(b)

        def run():
            mine = bufpool.Pool(DEV)
            c = mine.queue("vm-dead", consume=True)
            held = [c.dequeue(), c.dequeue()]
            assert [struct.unpack_from("<I", b, 0)[0] for b in held] == [0, 1]
            os._exit(0)                # dies holding two, as the consumer
        assert child(run) == 0
        st = p.stats()
        assert st.in_use == before.in_use + 4, st
        assert st.reclaimed >= before.reclaimed + 2, st
        a = p.audit()
        assert a.queued == 4 and audit_sums(a), a
        with other.queue("vm-dead", consume=True) as c:
            got = [struct.unpack_from("<I", b, 0)[0]
                   for b in c.dequeue_bulk(16)]
        assert got == [2, 3, 4, 5], got
        gc.collect()
        q.close()
        assert p.stats().in_use == before.in_use


@test
def a_queues_last_user_dying_gives_back_its_contents():
    with bufpool.Pool(DEV) as p:
        need_queues(p)
        before = p.stats()

        def run():
            mine = bufpool.Pool(DEV)
            q = mine.queue("vm-last", create=True, capacity=16, produce=True,
                           consume=True)
            for _ in range(5):
                q.enqueue(mine.acquire())
            os._exit(0)                # dies, the queue's only user
        assert child(run) == 0
        st = p.stats()
        assert st.in_use == before.in_use, st
        a = p.audit()
        assert a.queued == 0 and audit_sums(a), a
        with Raises(FileNotFoundError):
            p.queue("vm-last")         # a client-made queue is gone


@test
def handoff_to_a_receiver_that_dies():
    with bufpool.Pool(DEV) as p:
        need_queues(p)
        r, w = os.pipe()
        r2, w2 = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(r)
                os.close(w2)
                mine = bufpool.Pool(DEV)
                os.write(w, struct.pack("<I", mine.client_id))
                os.read(r2, 1)         # the parent handed them: die
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        os.close(r2)
        (rid,) = struct.unpack("<I", os.read(r, 4))
        before = p.stats().in_use
        bufs = p.acquire_bulk(3)
        for b in bufs:
            p.handoff_to(b, rid)
        a = p.audit()
        assert a.transit >= 3 and audit_sums(a), a
        os.write(w2, b"x")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        os.close(r)
        os.close(w2)
        # The receiver died without adopting: back to the pool.
        assert p.stats().in_use == before, p.stats()
        with Raises(ProcessLookupError):
            p.handoff_to(p.acquire(), rid)


def list_files():
    lib = os.path.dirname(os.__file__)
    for m in list(sys.modules.values()):
        f = getattr(getattr(m, "__spec__", None), "origin", None)
        if f and f.startswith(lib + os.sep) and os.path.isfile(f):
            print(os.path.relpath(f, lib))


def main():
    if sys.argv[1:] == ["--list-files"]:
        list_files()
        return 0
    print("TAP version 13")
    if not os.path.exists(DEV):
        print(f"1..0 # SKIP no {DEV}: the module is not loaded")
        return 4
    print(f"1..{len(TESTS)}")
    failed = 0
    for n, fn in enumerate(TESTS, 1):
        name = "python: " + fn.__name__
        try:
            fn()
            gc.collect()
        except Skip as e:
            print(f"ok {n} {name} # SKIP {e}")
        except Exception:
            failed += 1
            print(f"not ok {n} {name}")
            for line in traceback.format_exc().splitlines():
                print("#", line)
        else:
            print(f"ok {n} {name}")
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
