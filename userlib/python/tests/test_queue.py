# SPDX-License-Identifier: MIT
"""Queues and the addressed handoff of the bufpool module, on the memfd
backend: FIFO order, full and empty, roles and open errors, bulk and
index forms, statistics, close and lifetimes, a consumer in another
process, producers in threads, handoff_to."""
import ctypes
import errno
import gc
import os
import struct
import threading

import pytest

import bufpool

SIZE = 4096
COUNT = 256


@pytest.fixture
def pool():
    p = bufpool.Pool.create(buf_size=SIZE, buf_count=COUNT, hugetlb=False)
    yield p
    gc.collect()
    if not p.closed:
        p.close()


def tagged(p, tag):
    """A Buffer of p whose first bytes say tag."""
    b = p.acquire()
    struct.pack_into("<I", b, 0, tag)
    return b


def tag(b):
    return struct.unpack_from("<I", b, 0)[0]


def test_queue_is_fifo(pool):
    assert pool.info().nr_queues > 0 and pool.info().queue_len > 0
    with pool.queue("py-fifo", create=True, capacity=8, produce=True,
                    consume=True) as q:
        assert q.name == "py-fifo" and q.pool is pool and not q.closed
        assert repr(q) == "<bufpool.Queue 'py-fifo'>"
        sent = []
        for i in range(5):
            b = tagged(pool, i)
            sent.append(b.index)
            assert q.enqueue(b) is None
            assert not b.held                   # it went: detached
            with pytest.raises(ValueError, match="enqueued"):
                b.release()
        assert pool.stats().in_use == 5         # queued is in use
        for i, idx in enumerate(sent):
            b = q.dequeue()
            assert b.held and b.index == idx and tag(b) == i
            b.release()
        with pytest.raises(BlockingIOError) as e:
            q.dequeue()
        assert e.value.errno == errno.EAGAIN
        st = q.stats()
        assert isinstance(st, bufpool.QueueStats)
        assert (st.capacity, st.depth, st.enqueued, st.dequeued, st.full) \
            == (8, 0, 5, 5, 0)
        assert st.consumer == pool.client_id
        # Round and round the slots.
        for r in range(40):
            q.enqueue(tagged(pool, r))
            q.enqueue(tagged(pool, r + 1000))
            assert tag(q.dequeue()) == r
            assert tag(q.dequeue()) == r + 1000
        assert q.stats().dequeued == 85
    assert q.closed and repr(q) == "<bufpool.Queue 'py-fifo' closed>"
    gc.collect()
    assert pool.stats().in_use == 0


def test_queue_full_and_empty(pool):
    q = pool.queue("py-full", create=True, capacity=4, produce=True,
                   consume=True)
    with pytest.raises(BlockingIOError):
        q.dequeue()
    for i in range(4):
        q.enqueue(tagged(pool, i))
    b = tagged(pool, 9)
    with pytest.raises(bufpool.Exhausted) as e:
        q.enqueue(b)
    assert e.value.errno == errno.ENOBUFS
    assert b.held and tag(b) == 9               # still ours
    st = q.stats()
    assert (st.depth, st.enqueued, st.full) == (4, 4, 1)
    assert 3 <= st.high_watermark <= 4
    assert tag(q.dequeue()) == 0
    q.enqueue(b)
    assert [tag(q.dequeue()) for _ in range(4)] == [1, 2, 3, 9]
    q.close()
    q.close()                                   # twice is fine
    with pytest.raises(ValueError, match="closed queue"):
        q.dequeue()
    gc.collect()
    assert pool.stats().in_use == 0


def test_queue_open_errors_and_roles(pool):
    other = bufpool.Pool.open_fd(pool.fd)
    queue_len = pool.info().queue_len
    with pytest.raises(FileNotFoundError):
        pool.queue("py-missing")
    for bad in ("", "bad name", "bad/name", "nul\0x", "x" * 32, "é"):
        with pytest.raises(OSError) as e:
            pool.queue(bad, create=True, capacity=4)
        assert e.value.errno == errno.EINVAL, bad
    for cap in (0, queue_len + 1):
        with pytest.raises(OSError) as e:
            pool.queue("py-cap", create=True, capacity=cap)
        assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        pool.queue("py-excl", exclusive=True)   # without create
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OverflowError):
        pool.queue("py-cap", create=True, capacity=-1)
    with pytest.raises(TypeError):
        pool.queue(b"py-bytes")
    with pytest.raises(TypeError):
        pool.queue("py-pos", True)              # options are keywords

    name = "py-roles.0123456789_abcdefghijk"
    assert len(name) == 31
    q = pool.queue(name, create=True, capacity=5, consume=True)
    assert q.stats().capacity == 8              # a power of two
    for h in (pool, other):
        with pytest.raises(FileExistsError):
            h.queue(name, create=True, exclusive=True, capacity=8)
    with pytest.raises(OSError) as e:
        pool.queue(name)
    assert e.value.errno == errno.EALREADY
    with pytest.raises(OSError) as e:
        other.queue(name, consume=True)
    assert e.value.errno == errno.EBUSY
    p = other.queue(name, create=True, capacity=64, produce=True)
    assert p.stats().capacity == 8
    b = pool.acquire()
    with pytest.raises(PermissionError):
        q.enqueue(b)                            # not a producer
    assert b.held
    b.release()
    with pytest.raises(PermissionError):
        p.dequeue()                             # not the consumer
    with pytest.raises(ValueError, match="another pool"):
        p.enqueue(tagged(pool, 1))              # another handle's Buffer
    p.enqueue(tagged(other, 7))
    got = q.dequeue()
    assert tag(got) == 7 and got.pool is pool   # the consumer holds it
    got.release()
    q.close()
    assert p.stats().consumer == 0
    p.close()
    with pytest.raises(FileNotFoundError):      # its last user closed it
        pool.queue(name)
    other.close()
    gc.collect()
    assert pool.stats().in_use == 0


def test_queue_single_producer(pool):
    other = bufpool.Pool.open_fd(pool.fd)
    q = pool.queue("py-sp", create=True, capacity=16, single_producer=True,
                   produce=True, consume=True)
    with pytest.raises(OSError) as e:
        other.queue("py-sp", produce=True)
    assert e.value.errno == errno.EBUSY
    for i in range(10):
        q.enqueue(tagged(pool, i))
    assert [tag(b) for b in q.dequeue_bulk(10)] == list(range(10))
    q.close()
    other.close()


def test_queue_bulk(pool):
    q = pool.queue("py-bulk", create=True, capacity=8, produce=True,
                   consume=True)
    bufs = [tagged(pool, i) for i in range(10)]
    assert q.enqueue_bulk(bufs) == 8
    assert [b.held for b in bufs] == [False] * 8 + [True] * 2
    with pytest.raises(bufpool.Exhausted):
        q.enqueue_bulk(bufs[8:])
    assert q.enqueue_bulk([]) == 0
    assert q.dequeue_bulk(0) == []
    got = q.dequeue_bulk(3)
    assert [tag(b) for b in got] == [0, 1, 2]
    # Buffers and indices mixed; checked before anything moves.
    idx = bufs[9].detach()
    with pytest.raises(TypeError):
        q.enqueue_bulk([bufs[8], "x"])
    with pytest.raises(ValueError):
        q.enqueue_bulk([bufs[8], COUNT])
    assert bufs[8].held
    with memoryview(bufs[8]):
        with pytest.raises(BufferError):
            q.enqueue_bulk([bufs[8]])
    assert q.enqueue_bulk([bufs[8], idx]) == 2
    rest = q.dequeue_bulk(100)
    assert [tag(b) for b in rest] == list(range(3, 10))
    with pytest.raises(BlockingIOError):
        q.dequeue_bulk(1)
    for b in got + rest:
        b.release()
    # More than one stack array's worth.
    q.close()
    q = pool.queue("py-bulk2", create=True, capacity=256, produce=True,
                   consume=True)
    bufs = pool.acquire_bulk(200)
    order = [b.index for b in bufs]
    assert q.enqueue_bulk(bufs) == 200
    got = q.dequeue_bulk(300)
    assert [b.index for b in got] == order
    pool.release_bulk(got)
    q.close()
    assert pool.stats().in_use == 0


def test_queue_index_forms(pool):
    q = pool.queue("py-index", create=True, capacity=4, produce=True,
                   consume=True)
    idx = pool.acquire().detach()
    q.enqueue(idx)
    with pytest.raises(OSError) as e:
        pool.release_index(idx)                 # queued: not ours now
    assert e.value.errno == errno.EINVAL
    assert q.dequeue_index() == idx
    with pytest.raises(BlockingIOError):
        q.dequeue_index()
    pool.release_index(idx)
    with pytest.raises(OSError) as e:
        q.enqueue(idx)                          # not held
    assert e.value.errno == errno.EINVAL
    with pytest.raises(ValueError):
        q.enqueue(COUNT)
    with pytest.raises(TypeError):
        q.enqueue("x")
    q.close()
    assert pool.stats().in_use == 0


def test_queue_last_close_gives_back(pool):
    q = pool.queue("py-last", create=True, capacity=16, produce=True,
                   consume=True)
    for i in range(6):
        q.enqueue(tagged(pool, i))
    assert pool.stats().in_use == 6
    del q                                       # dropped: closed
    gc.collect()
    assert pool.stats().in_use == 0
    with pytest.raises(FileNotFoundError):
        pool.queue("py-last")


def test_queue_outlives_its_consumer(pool):
    other = bufpool.Pool.open_fd(pool.fd)
    p = pool.queue("py-keep", create=True, capacity=16, produce=True)
    for i in range(4):
        p.enqueue(tagged(pool, i))
    with other.queue("py-keep", consume=True) as c:
        assert tag(c.dequeue()) == 0
    with other.queue("py-keep", consume=True) as c:
        assert [tag(b) for b in c.dequeue_bulk(10)] == [1, 2, 3]
    p.close()
    other.close()
    gc.collect()
    assert pool.stats().in_use == 0


def test_queue_closed_with_its_pool():
    p = bufpool.Pool.create(buf_size=SIZE, buf_count=COUNT, hugetlb=False)
    q = p.queue("py-pool", create=True, capacity=4, produce=True,
                consume=True)
    b = p.acquire()
    q.enqueue(b)
    p.close()
    assert q.closed
    for call in (q.dequeue, q.dequeue_index, q.stats,
                 lambda: q.enqueue(0), lambda: q.dequeue_bulk(1),
                 lambda: q.enqueue_bulk([0])):
        with pytest.raises(ValueError, match="closed pool"):
            call()
    with pytest.raises(ValueError):
        q.__enter__()
    q.close()                                   # the pool closed it
    with pytest.raises(ValueError):
        p.queue("py-pool")
    del q
    gc.collect()


def test_queue_keeps_its_pool_alive():
    p = bufpool.Pool.create(buf_size=SIZE, buf_count=COUNT, hugetlb=False)
    q = p.queue("py-alive", create=True, capacity=4, produce=True,
                consume=True)
    del p
    gc.collect()
    q.enqueue(q.pool.acquire())
    q.dequeue().release()
    assert not q.pool.closed
    q.close()


def test_queue_to_a_child_process(pool):
    q = pool.queue("py-proc", create=True, capacity=64, produce=True)
    for i in range(40):
        q.enqueue(tagged(pool, i))
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            mine = bufpool.Pool.open_fd(pool.fd)
            with mine.queue("py-proc", consume=True) as c:
                ok = [tag(c.dequeue()) for _ in range(40)] == list(range(40))
                try:
                    c.dequeue()
                    ok = False
                except BlockingIOError:
                    pass
            gc.collect()
            mine.close()
            code = 0 if ok else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert q.stats().dequeued == 40
    assert pool.stats().in_use == 0             # the child gave them back
    q.close()


def test_queue_producers_in_threads(pool):
    per, threads = 300, 4
    q = pool.queue("py-mpsc", create=True, capacity=32, produce=True,
                   consume=True)
    errors = []

    def produce(who):
        try:
            for seq in range(per):
                while True:
                    try:
                        b = pool.acquire()
                        break
                    except bufpool.Exhausted:
                        pass
                struct.pack_into("<II", b, 0, who, seq)
                while True:
                    try:
                        q.enqueue(b)
                        break
                    except (bufpool.Exhausted, BlockingIOError):
                        pass
            pool.flush_cache()
        except Exception as e:                  # pragma: no cover
            errors.append(e)

    ts = [threading.Thread(target=produce, args=(w,)) for w in range(threads)]
    for t in ts:
        t.start()
    nxt = [0] * threads
    got = 0
    while got < per * threads:
        try:
            bufs = q.dequeue_bulk(16)
        except BlockingIOError:
            continue
        for b in bufs:
            who, seq = struct.unpack_from("<II", b, 0)
            assert seq == nxt[who], f"producer {who} out of order"
            nxt[who] += 1
            got += 1
            b.release()
    for t in ts:
        t.join()
    assert not errors and nxt == [per] * threads
    st = q.stats()
    assert st.enqueued == st.dequeued == per * threads and st.depth == 0
    q.close()
    pool.flush_cache()
    assert pool.stats().in_use == 0


def test_fork_child_does_not_close_an_inherited_queue(pool):
    q = pool.queue("py-fork", create=True, capacity=4, produce=True,
                   consume=True)
    pid = os.fork()
    if pid == 0:
        del q                                   # must not drop the roles
        gc.collect()
        os._exit(0)
    os.waitpid(pid, 0)
    assert q.stats().consumer == pool.client_id
    q.enqueue(pool.acquire())
    q.dequeue().release()
    q.close()


def test_handoff_to(pool):
    other = bufpool.Pool.open_fd(pool.fd)
    third = bufpool.Pool.open_fd(pool.fd)
    b = tagged(pool, 0x5a)
    idx = pool.handoff_to(b, other.client_id)
    assert idx == b.index and not b.held
    assert pool.stats().in_use == 1
    for h in (third, pool):                     # only the receiver
        with pytest.raises(OSError) as e:
            h.adopt(idx)
        assert e.value.errno == errno.EINVAL
    got = other.adopt(idx)
    assert tag(got) == 0x5a
    # Index form, and back.
    i2 = got.detach()
    assert other.handoff_to(i2, pool.client_id) == idx
    b = pool.adopt(idx)
    for bad in (0, pool.client_id, 0x10000, -1, 2**64):
        with pytest.raises(OSError) as e:
            pool.handoff_to(b, bad)
        assert e.value.errno == errno.EINVAL, bad
        assert b.held
    with pytest.raises(TypeError):
        pool.handoff_to(b)
    with pytest.raises(TypeError):
        pool.handoff_to(b, "1")
    with pytest.raises(ValueError, match="another pool"):
        pool.handoff_to(tagged(other, 1), third.client_id)
    gone = third.client_id
    third.close()
    with pytest.raises(ProcessLookupError) as e:
        pool.handoff_to(b, gone)                # not a live client
    assert e.value.errno == errno.ESRCH
    assert b.held and tag(b) == 0x5a            # still ours
    b.release()
    other.close()
    gc.collect()
    assert pool.stats().in_use == 0


@pytest.mark.parametrize("size,count", [(2048, 2048), (65536, 64)],
                         ids=["2048x2048", "65536x64"])
def test_queue_on_a_spread_pool(size, count):
    """Queues move indices; the Buffers at both ends must be where a
    spread pool has them (over more than one 2 MiB chunk here)."""
    stride = size + 64

    def where(b):
        """Where b is, less where buffer b.index starts from first
        principles: the same for every Buffer of the pool."""
        at = ctypes.addressof(ctypes.c_char.from_buffer(b))
        return at - b.index * stride

    with bufpool.Pool.create(buf_size=size, buf_count=count, spread=True,
                             hugetlb=False) as p:
        assert p.buf_stride == stride and count * stride > 2 << 20
        q = p.queue("py-spread", create=True, capacity=count, produce=True,
                    consume=True)
        bufs = p.acquire_bulk(count)
        base = {where(b) for b in bufs}
        assert len(base) == 1
        # Tagged at both ends: a Buffer seen at the wrong place shows.
        for b in bufs:
            struct.pack_into("<I", b, 0, b.index)
            struct.pack_into("<I", b, size - 4, ~b.index & 0xffffffff)
        order = [b.index for b in bufs]

        def check(got):
            for b in got:
                assert where(b) in base
                assert tag(b) == b.index
                assert struct.unpack_from("<I", b, size - 4)[0] == \
                    ~b.index & 0xffffffff

        # Bulk both ways, then one by one, then indices.
        assert q.enqueue_bulk(bufs) == count
        got = q.dequeue_bulk(count)
        assert [b.index for b in got] == order
        check(got)
        for b in got:
            q.enqueue(b)
        got = [q.dequeue() for _ in range(count)]
        assert [b.index for b in got] == order
        check(got)
        idxs = [b.detach() for b in got]
        assert q.enqueue_bulk(idxs) == count
        got = [p.buffer_at(q.dequeue_index()) for _ in range(count)]
        check(got)
        p.release_bulk(got)
        q.close()
        assert p.stats().in_use == 0


def test_info_and_audit_fields(pool):
    info = pool.info()
    assert info.nr_queues > 0 and info.queue_len & (info.queue_len - 1) == 0
    assert 0 < info.queues_offset < info.qslots_offset
    assert info.live_offset > 0
    assert hasattr(bufpool.Audit, "queued") and hasattr(bufpool.Audit,
                                                        "queues")
    assert bufpool.Audit.n_fields == 12
    assert bufpool.QueueStats.n_fields == 7
