// SPDX-License-Identifier: MIT
//! Tests of the bindings. On the host they run on module-free (memfd)
//! pools; with BUFPOOL_TEST_PATH set to a device node (the VM's
//! selftest, selftests/bufpool_rust_test.sh, sets /dev/bufpool) the
//! same tests run on that device pool, one at a time, and leave it as
//! they found it.

use std::collections::HashSet;
use std::io;
use std::os::raw::c_int;
use std::os::unix::io::AsRawFd;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bufpool::{errno, Buf, ClassBuf, Classes, Error, Params, Pool, Queue, QueueOptions};

/// The device under test, if any.
fn device() -> Option<String> {
    std::env::var("BUFPOOL_TEST_PATH")
        .ok()
        .filter(|p| !p.is_empty())
}

/// Tests on one device pool take turns; memfd pools are each test's own.
static DEVICE_TURN: Mutex<()> = Mutex::new(());

/// A pool for one test, its device turn held until it is dropped
/// (fields drop in order: the pool first).
struct TestPool {
    pool: Pool,
    _turn: Option<MutexGuard<'static, ()>>,
}

impl std::ops::Deref for TestPool {
    type Target = Pool;
    fn deref(&self) -> &Pool {
        &self.pool
    }
}

fn test_pool() -> TestPool {
    match device() {
        Some(path) => {
            let turn = DEVICE_TURN.lock().unwrap_or_else(|e| e.into_inner());
            let pool = Pool::open(&path).unwrap_or_else(|e| panic!("open {}: {}", path, e));
            assert_eq!(pool.stats().unwrap().in_use, 0, "{} is not idle", path);
            TestPool {
                pool,
                _turn: Some(turn),
            }
        }
        None => TestPool {
            pool: Pool::create(&Params {
                buf_count: 1024,
                ..Params::default()
            })
            .unwrap(),
            _turn: None,
        },
    }
}

/// A second client of the same pool: the device opened again, or the
/// memfd pool opened through its fd.
fn second_handle(pool: &Pool) -> Pool {
    match device() {
        Some(path) => Pool::open(path).unwrap(),
        None => Pool::open_fd(pool.fd()).unwrap(),
    }
}

fn take_all(pool: &Pool) -> Vec<Buf<'_>> {
    let mut held = Vec::with_capacity(pool.buf_count() as usize);
    loop {
        match pool.acquire() {
            Ok(b) => held.push(b),
            Err(e) => {
                assert_eq!(e.errno(), errno::ENOBUFS, "{}", e);
                break;
            }
        }
    }
    held
}

#[test]
fn acquire_write_drop_gives_back() {
    let pool = test_pool();
    let mut buf = pool.acquire().unwrap();
    assert_eq!(buf.len(), pool.buf_size());
    buf.fill(0xa5);
    buf[..5].copy_from_slice(b"hello");
    assert_eq!(&buf[..5], b"hello");
    assert!(buf[5..].iter().all(|&b| b == 0xa5));
    assert_eq!(pool.stats().unwrap().in_use, 1);
    drop(buf);
    let st = pool.stats().unwrap();
    assert_eq!(st.in_use, 0);
    assert!(st.acquires >= 1 && st.releases >= 1);
}

#[test]
fn explicit_release() {
    let pool = test_pool();
    pool.acquire().unwrap().release().unwrap();
    assert_eq!(pool.stats().unwrap().in_use, 0);
}

#[test]
fn index_forms() {
    let pool = test_pool();
    let mut buf = pool.acquire().unwrap();
    let idx = buf.index();
    assert!(idx < pool.buf_count());
    assert_eq!(pool.index_of(buf.as_ptr()), Some(idx));
    assert_eq!(
        pool.index_of(buf.as_ptr().wrapping_add(pool.buf_size() - 1)),
        Some(idx)
    );
    assert_eq!(pool.index_of(std::ptr::null::<u8>()), None);
    buf[0] = 42;
    let ptr = buf.as_ptr();
    assert_eq!(buf.into_index(), idx);
    assert_eq!(pool.stats().unwrap().in_use, 1, "into_index keeps it taken");
    // SAFETY: this handle holds idx and its guard is gone.
    let buf = unsafe { pool.from_index(idx) }.unwrap();
    assert_eq!(buf.as_ptr(), ptr);
    assert_eq!(buf[0], 42);
    drop(buf);
    assert_eq!(pool.stats().unwrap().in_use, 0);
    // SAFETY: out of range: refused before anything is made.
    let e = unsafe { pool.from_index(pool.buf_count()) }.unwrap_err();
    assert_eq!(e.errno(), errno::EINVAL);
    // The raw release refuses an index this handle does not hold.
    // SAFETY: no guard exists for it.
    let e = unsafe { pool.release_index(idx) }.unwrap_err();
    assert_eq!(e.errno(), errno::EINVAL);
}

#[test]
fn exhausted_pool_says_enobufs() {
    let pool = test_pool();
    let held = take_all(&pool);
    assert_eq!(held.len(), pool.buf_count() as usize);
    let distinct: HashSet<u32> = held.iter().map(|b| b.index()).collect();
    assert_eq!(distinct.len(), held.len(), "a buffer given twice");
    let before = pool.stats().unwrap();
    assert_eq!(before.in_use, u64::from(pool.buf_count()));
    let e = pool.acquire().unwrap_err();
    assert!(e.is_exhausted());
    assert_eq!(e.errno(), errno::ENOBUFS);
    assert!(pool.stats().unwrap().exhausted > before.exhausted);
    drop(held);
    assert_eq!(pool.stats().unwrap().in_use, 0);
}

#[test]
fn timed_acquire_times_out_on_exhausted_pool() {
    let pool = test_pool();
    let held = take_all(&pool);
    let t0 = Instant::now();
    let e = pool.acquire_timeout(Duration::from_millis(50)).unwrap_err();
    let waited = t0.elapsed();
    assert_eq!(e.errno(), errno::ETIMEDOUT, "{}", e);
    assert!(e.is_timeout());
    assert!(
        waited >= Duration::from_millis(45),
        "returned after {:?}",
        waited
    );
    // A zero timeout does not sleep: ENOBUFS, as acquire.
    let e = pool.acquire_timeout(Duration::ZERO).unwrap_err();
    assert_eq!(e.errno(), errno::ENOBUFS);
    drop(held);
}

#[test]
fn timed_acquire_woken_by_a_release() {
    let pool = test_pool();
    let mut held = take_all(&pool);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            pool.acquire_timeout(Duration::from_secs(20))
                .map(|b| b.index())
        });
        // Let it fall asleep, then give one buffer back.
        let t0 = Instant::now();
        while pool.stats().unwrap().waiters == 0 && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let last = held.pop().unwrap();
        let idx = last.index();
        drop(last);
        assert_eq!(waiter.join().unwrap().unwrap(), idx);
    });
    drop(held);
    assert_eq!(pool.stats().unwrap().in_use, 0);
}

#[test]
fn buffers_move_between_threads() {
    let pool = test_pool();
    let bufs: Vec<Buf<'_>> = (0..100).map(|_| pool.acquire().unwrap()).collect();
    std::thread::scope(|s| {
        // Given back by another thread than the one that took them.
        s.spawn(move || drop(bufs)).join().unwrap();
    });
    assert_eq!(pool.stats().unwrap().in_use, 0);
}

#[test]
fn threads_share_a_pool() {
    let pool = test_pool();
    std::thread::scope(|s| {
        for t in 0..8u8 {
            let pool = &*pool;
            s.spawn(move || {
                for _ in 0..20_000 {
                    let mut b = pool.acquire().unwrap();
                    b[0] = t;
                    b[1] = t;
                    assert_eq!(b[0], b[1]);
                }
                pool.flush_cache();
            });
        }
    });
    let st = pool.stats().unwrap();
    assert_eq!(st.in_use, 0);
    assert!(st.acquires >= 160_000);
}

#[test]
fn bulk() {
    let pool = test_pool();
    let mut v = Vec::new();
    assert_eq!(pool.acquire_bulk(100, &mut v).unwrap(), 100);
    assert_eq!(v.len(), 100);
    let distinct: HashSet<u32> = v.iter().map(|b| b.index()).collect();
    assert_eq!(distinct.len(), 100);
    assert_eq!(pool.stats().unwrap().in_use, 100);
    pool.release_bulk(v.drain(..)).unwrap();
    assert_eq!(pool.stats().unwrap().in_use, 0);

    // Asking for more than there is gives what there is, then ENOBUFS.
    let n = pool.buf_count() as usize;
    assert_eq!(pool.acquire_bulk(n + 10, &mut v).unwrap(), n);
    let e = pool.acquire_bulk(1, &mut v).unwrap_err();
    assert_eq!(e.errno(), errno::ENOBUFS);
    assert_eq!(v.len(), n);
    pool.release_bulk(v).unwrap();
    assert_eq!(pool.stats().unwrap().in_use, 0);
}

#[test]
fn bulk_release_gives_foreign_buffers_to_their_handle() {
    let pool = test_pool();
    let other = second_handle(&pool);
    let bufs = vec![
        pool.acquire().unwrap(),
        other.acquire().unwrap(),
        pool.acquire().unwrap(),
    ];
    pool.release_bulk(bufs).unwrap();
    assert_eq!(pool.stats().unwrap().in_use, 0);
}

#[test]
fn handoff_and_adopt_between_handles() {
    let pool = test_pool();
    let other = second_handle(&pool);
    if device().is_none() {
        assert_ne!(pool.client_id(), other.client_id());
    }
    let mut buf = pool.acquire().unwrap();
    buf[..4].copy_from_slice(b"ping");
    // Not handed off yet: nobody may adopt it.
    assert_eq!(other.adopt(buf.index()).unwrap_err().errno(), errno::EINVAL);
    let idx = buf.handoff().unwrap();
    assert_eq!(
        pool.stats().unwrap().in_use,
        1,
        "in transit counts as in use"
    );
    let got = other.adopt(idx).unwrap();
    assert_eq!(got.index(), idx);
    assert_eq!(&got[..4], b"ping");
    // One adopter wins.
    assert_eq!(pool.adopt(idx).unwrap_err().errno(), errno::EINVAL);
    drop(got);
    assert_eq!(pool.stats().unwrap().in_use, 0);
    assert_eq!(
        other.adopt(pool.buf_count()).unwrap_err().errno(),
        errno::EINVAL
    );
}

extern "C" {
    fn fork() -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn _exit(status: c_int) -> !;
    fn pipe(fds: *mut c_int) -> c_int;
    fn read(fd: c_int, buf: *mut u8, n: usize) -> isize;
    fn write(fd: c_int, buf: *const u8, n: usize) -> isize;
    fn close(fd: c_int) -> c_int;
}

/// Runs `child` in a forked process, which exits with what it returns
/// (a panic: 100); returns that exit status.
fn in_child<F: FnOnce() -> i32>(child: F) -> i32 {
    // SAFETY: the child only runs `child` and leaves with _exit, never
    // returning into the test harness.
    let pid = unsafe { fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        let rc = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(100);
        unsafe { _exit(rc) }
    }
    let mut status = 0;
    // SAFETY: our child, a valid out pointer.
    assert_eq!(unsafe { waitpid(pid, &mut status, 0) }, pid);
    assert_eq!(status & 0x7f, 0, "child killed by signal {}", status & 0x7f);
    (status >> 8) & 0xff
}

#[test]
fn handoff_to_another_process() {
    let pool = test_pool();
    let mut fds = [0 as c_int; 2];
    // SAFETY: room for two fds.
    assert_eq!(unsafe { pipe(fds.as_mut_ptr()) }, 0);
    let mut sent = Vec::new();
    for i in 0..10u8 {
        let mut b = pool.acquire().unwrap();
        b.fill(i);
        sent.push(b.handoff().unwrap());
    }
    let bytes: Vec<u8> = sent.iter().flat_map(|i| i.to_ne_bytes()).collect();
    // SAFETY: a pipe we own; 40 bytes fit its buffer.
    assert_eq!(
        unsafe { write(fds[1], bytes.as_ptr(), bytes.len()) },
        bytes.len() as isize
    );
    unsafe { close(fds[1]) };
    let rc = in_child(|| {
        // The child's own client: the device again, or the memfd's fd.
        let mine = second_handle(&pool);
        let mut raw = [0u8; 40];
        // SAFETY: the pipe's read end, inherited.
        if unsafe { read(fds[0], raw.as_mut_ptr(), raw.len()) } != 40 {
            return 2;
        }
        for (i, chunk) in raw.chunks(4).enumerate() {
            let idx = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let buf = match mine.adopt(idx) {
                Ok(b) => b,
                Err(_) => return 3,
            };
            if buf.iter().any(|&b| b != i as u8) {
                return 4;
            }
        }
        drop(mine);
        0
    });
    unsafe { close(fds[0]) };
    assert_eq!(rc, 0, "the child failed");
    assert_eq!(pool.stats().unwrap().in_use, 0, "the child gave them back");
}

#[test]
fn info_and_stats() {
    let pool = test_pool();
    let info = pool.info().unwrap();
    assert_eq!(info.abi_major, 1);
    assert!(info.abi_minor >= 2);
    assert_eq!(info.buf_size as usize, pool.buf_size());
    assert_eq!(info.buf_count, pool.buf_count());
    assert_eq!(info.buf_stride as usize, pool.buf_stride());
    assert_eq!(info.raw.buf_stride, info.buf_stride);
    // A spread pool says buf_shift 0 (ABI 1.8), a packed one its log2.
    assert_eq!(pool.is_spread(), info.raw.buf_shift == 0);
    if pool.is_spread() {
        assert_eq!(pool.buf_stride(), pool.buf_size() + 64);
    } else {
        assert_eq!(pool.buf_stride(), pool.buf_size());
        assert_eq!(1usize << info.raw.buf_shift, pool.buf_size());
    }
    assert_eq!(info.memfd, device().is_none());
    assert_eq!(info.client_id, pool.client_id());
    assert!(info.pool_bytes >= (pool.buf_size() * pool.buf_count() as usize) as u64);
    let st = pool.stats().unwrap();
    assert_eq!(st.total, u64::from(pool.buf_count()));
    assert_eq!(st.free + st.in_use, st.total);
    assert_eq!(st.waiters, 0);
    assert!(pool.fd().as_raw_fd() >= 0);
    assert_eq!(pool.as_raw_fd(), pool.fd().as_raw_fd());
}

#[test]
fn audit() {
    let pool = test_pool();
    let held = pool.acquire().unwrap();
    let idx = pool.acquire().unwrap().handoff().unwrap();
    match device() {
        None => assert_eq!(pool.audit().unwrap_err().errno(), errno::ENOTTY),
        Some(_) => {
            let a = pool.audit().unwrap();
            assert_eq!(a.buf_count, pool.buf_count());
            assert_eq!(a.free + a.cached + a.held + a.transit, a.buf_count);
            assert!(a.held >= 1);
            assert_eq!(a.transit, 1);
            assert_eq!(a.repaired, 0);
        }
    }
    drop(held);
    drop(pool.adopt(idx).unwrap());
}

#[test]
fn repair() {
    let pool = test_pool();
    let held = pool.acquire().unwrap();
    let before = pool.stats().unwrap();
    match device() {
        None => {
            assert_eq!(pool.repair().unwrap_err().errno(), errno::ENOTTY);
            assert_eq!((before.detected, before.repairs), (0, 0));
        }
        Some(_) => {
            pool.repair().unwrap();
            let after = pool.stats().unwrap();
            assert!(after.repairs > before.repairs);
            assert_eq!(after.detected, before.detected);
            let a = pool.audit().unwrap();
            assert!(a.held >= 1);
            assert_eq!(a.repaired, 0);
        }
    }
    drop(held);
}

/// Library 1.6: magazines sized for bursts (`Params::mag_size`). A pool
/// made with magazines of 256, as another handle sees it too; bursts of
/// 256 through it; sizes out of range refused; 0 is the default.
#[test]
fn burst_sized_magazines() {
    let params = Params {
        buf_count: 8192,
        caches: 8,
        no_hugetlb: true,
        mag_size: 256,
        ..Params::default()
    };
    let pool = Pool::create(&params).unwrap();
    let info = pool.info().unwrap();
    assert_eq!(info.mag_fill, 256);
    assert_eq!(info.nr_caches, 8);
    assert_eq!(info.raw.mag_fill, 256);
    let other = Pool::open_fd(pool.fd()).unwrap();
    assert_eq!(other.info().unwrap().mag_fill, 256);
    drop(other);

    {
        let mut held = Vec::with_capacity(256);
        for _ in 0..20 {
            assert_eq!(pool.acquire_bulk(256, &mut held).unwrap(), 256);
            let idx: HashSet<u32> = held.iter().map(|b| b.index()).collect();
            assert_eq!(idx.len(), 256);
            pool.release_bulk(held.drain(..)).unwrap();
        }
        for _ in 0..20 {
            held.extend((0..256).map(|_| pool.acquire().unwrap()));
            held.drain(..).for_each(drop);
        }
    }
    let st = pool.stats().unwrap();
    assert_eq!(st.in_use, 0);
    assert_eq!(st.acquires, 40 * 256);
    assert_eq!(st.releases, 40 * 256);
    assert_eq!(st.shared_acquires, 0);
    drop(pool);

    // The biggest magazines, within half the pool.
    let pool = Pool::create(&Params {
        caches: 2,
        mag_size: bufpool::sys::BUFPOOL_MAG_MAX,
        ..params
    })
    .unwrap();
    assert_eq!(pool.info().unwrap().mag_fill, 1023);
    drop(pool);

    // 0: the library's default, buf_count / (4 * caches) up to 63.
    let pool = Pool::create(&Params {
        mag_size: 0,
        ..params
    })
    .unwrap();
    assert_eq!(pool.info().unwrap().mag_fill, bufpool::sys::BUFPOOL_MAG_CAP);
    drop(pool);

    for p in [
        // 4 * 4 * 257 > 4096: the caches would hold more than half.
        Params {
            buf_count: 4096,
            caches: 4,
            mag_size: 257,
            ..params
        },
        Params {
            buf_count: 1 << 20,
            caches: 1,
            mag_size: bufpool::sys::BUFPOOL_MAG_MAX + 1,
            ..params
        },
        Params {
            no_cache: true,
            mag_size: 8,
            ..params
        },
    ] {
        assert_eq!(
            Pool::create(&p).unwrap_err().errno(),
            errno::EINVAL,
            "{:?}",
            p
        );
    }
}

#[test]
fn threads_without_a_cache_take_the_shared_path() {
    let pool = Pool::create(&Params {
        caches: 1,
        ..Params::default()
    })
    .unwrap();
    drop(pool.acquire().unwrap()); // this thread takes the one cache
    let before = pool.stats().unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let held: Vec<_> = (0..8).map(|_| pool.acquire().unwrap()).collect();
                drop(held);
            });
        }
    });
    let after = pool.stats().unwrap();
    assert_eq!(after.shared_acquires - before.shared_acquires, 32);
    assert_eq!(after.shared_releases - before.shared_releases, 32);
    assert_eq!(after.in_use, 0);
}

#[test]
fn open_default_gives_a_pool() {
    let _turn = device().map(|_| DEVICE_TURN.lock().unwrap_or_else(|e| e.into_inner()));
    let pool = Pool::open_default().unwrap();
    let has_device = std::path::Path::new(bufpool::DEV_PATH).exists();
    assert_eq!(pool.info().unwrap().memfd, !has_device);
    drop(pool.acquire().unwrap());
}

#[test]
fn errors() {
    let e = Pool::open("/nonexistent/bufpool").unwrap_err();
    assert_eq!(e.errno(), errno::ENOENT);
    assert_eq!(Pool::open("/dev/null").unwrap_err().errno(), errno::ENOTTY);
    assert_eq!(Pool::open("bad\0path").unwrap_err().errno(), errno::EINVAL);
    for p in [
        Params {
            buf_size: 100,
            ..Params::default()
        },
        Params {
            buf_size: 32,
            ..Params::default()
        },
        Params {
            buf_size: 4 << 20,
            ..Params::default()
        },
    ] {
        assert_eq!(
            Pool::create(&p).unwrap_err().errno(),
            errno::EINVAL,
            "{:?}",
            p
        );
    }
    let not_a_pool = std::fs::File::open("/dev/null").unwrap();
    assert_eq!(
        Pool::open_fd(&not_a_pool).unwrap_err().errno(),
        errno::ENOTTY
    );

    // Display says what the C API says, io::Error keeps the errno.
    let e = Error::from_errno(errno::ENOBUFS);
    assert_eq!(
        e.to_string(),
        "no free buffer in the pool, or no room in the queue (ENOBUFS)"
    );
    assert_eq!(
        format!("{:?}", e),
        "Error { errno: 105, name: \"ENOBUFS\" }"
    );
    let io: io::Error = e.into();
    assert_eq!(io.raw_os_error(), Some(errno::ENOBUFS));
    assert!(Error::from_errno(errno::EUSERS)
        .to_string()
        .contains("EUSERS"));
    assert!(Error::from_errno(errno::EPROTO).to_string().contains("ABI"));
    // Others print as the system does.
    assert!(Error::from_errno(errno::EACCES)
        .to_string()
        .contains("Permission denied"));
}

#[test]
fn errno_values_are_the_systems() {
    // strerror of each number, as the C library would set it.
    for (n, text) in [
        (errno::EINVAL, "Invalid argument"),
        (errno::ENOBUFS, "No buffer space available"),
        (errno::EUSERS, "Too many users"),
        (errno::EPROTO, "Protocol error"),
        (errno::ETIMEDOUT, "timed out"),
        (errno::EUCLEAN, "Structure needs cleaning"),
        (errno::ENOTTY, "Inappropriate ioctl"),
        (errno::EINTR, "Interrupted system call"),
        (errno::EBUSY, "busy"),
        (errno::ENOENT, "No such file or directory"),
        (errno::EBADF, "Bad file descriptor"),
        (errno::EACCES, "Permission denied"),
        (errno::ENOMEM, "Cannot allocate memory"),
        (errno::ESRCH, "No such process"),
        (errno::EAGAIN, "temporarily unavailable"),
        (errno::EPERM, "Operation not permitted"),
        (errno::EEXIST, "File exists"),
        (errno::ENOSPC, "No space left on device"),
        (errno::EALREADY, "already in progress"),
        (errno::EOPNOTSUPP, "not supported"),
    ] {
        let s = io::Error::from_raw_os_error(n).to_string();
        assert!(s.contains(text), "errno {}: {}", n, s);
    }
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn thread_traits() {
    assert_send_sync::<Pool>();
    assert_send_sync::<Buf<'static>>();
    assert_send_sync::<Classes>();
    assert_send_sync::<ClassBuf<'static>>();
    assert_send_sync::<Error>();
    assert_send_sync::<Queue<'static>>();
}

#[test]
fn classes() {
    assert_eq!(
        Classes::open(&["/nonexistent/bufpool-c64"])
            .unwrap_err()
            .errno(),
        errno::ENOENT
    );
    assert_eq!(
        Classes::open::<&str>(&[]).unwrap_err().errno(),
        errno::ENOENT
    );
    assert_eq!(
        Classes::open(&["/dev/null"]).unwrap_err().errno(),
        errno::ENOTTY
    );
    let path = match device() {
        Some(p) => p,
        None => return, // class pools are device pools
    };
    let _turn = DEVICE_TURN.lock().unwrap_or_else(|e| e.into_inner());
    // The device's one pool as a set of one class.
    let set = Classes::open(&[&path]).unwrap();
    assert_eq!(set.len(), 1);
    let size = set.pool(0).unwrap().buf_size();
    assert!(set.pool(1).is_none());
    let mut b = set.acquire(size / 2).unwrap();
    assert_eq!(b.class(), 0);
    assert_eq!(b.len(), size);
    b.fill(7);
    assert_eq!(set.pool(0).unwrap().stats().unwrap().in_use, 1);
    assert_eq!(set.acquire(size + 1).unwrap_err().errno(), errno::EINVAL);
    drop(b);
    assert_eq!(set.pool(0).unwrap().stats().unwrap().in_use, 0);
    // A class buffer handed off as any buffer.
    let idx = set.acquire(1).unwrap().into_buf().handoff().unwrap();
    drop(set.pool(0).unwrap().adopt(idx).unwrap());
    assert_eq!(set.pool(0).unwrap().stats().unwrap().in_use, 0);
}

/// The README's example, run as it is written.
mod quickstart {
    include!("../examples/quickstart.rs");

    #[test]
    fn quickstart_example_runs() {
        let _turn =
            super::device().map(|_| super::DEVICE_TURN.lock().unwrap_or_else(|e| e.into_inner()));
        main().unwrap();
    }
}

/// README.md (in the tree, not in the VM) shows examples/quickstart.rs.
#[test]
fn readme_shows_the_quickstart_example() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = match std::fs::read_to_string(dir.join("../../README.md")) {
        Ok(r) => r,
        Err(_) => return, // an installed test, away from the tree
    };
    let example = std::fs::read_to_string(dir.join("examples/quickstart.rs")).unwrap();
    let body: String = example
        .lines()
        .skip_while(|l| l.starts_with("//"))
        .map(|l| l.to_string() + "\n")
        .collect();
    let shown = readme
        .split("```rust\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("README.md has no rust block");
    assert_eq!(
        shown, body,
        "README.md's Rust example differs from examples/quickstart.rs"
    );
}

// ---------------------------------------------------------------- queues

/// Whether the pool under test has queues. A memfd pool always has; a
/// device whose module was loaded without any must refuse them with
/// EOPNOTSUPP (the queue tests then end there).
fn has_queues(pool: &Pool) -> bool {
    if pool.info().unwrap().nr_queues > 0 {
        return true;
    }
    assert!(device().is_some(), "a memfd pool without queues");
    let e = pool.queue("rt-none", &create(1, true, true)).unwrap_err();
    assert_eq!(e.errno(), errno::EOPNOTSUPP, "{}", e);
    false
}

/// Whether the pool under test has the live-client map that an
/// addressed handoff needs: a memfd pool, or a device of ABI 1.3.
fn has_live_map(pool: &Pool) -> bool {
    device().is_none() || pool.info().unwrap().abi_minor >= 3
}

/// Create (if missing) a queue of `capacity`, in the roles given.
fn create(capacity: u32, produce: bool, consume: bool) -> QueueOptions {
    QueueOptions {
        create: true,
        capacity,
        produce,
        consume,
        ..QueueOptions::default()
    }
}

fn role(produce: bool, consume: bool) -> QueueOptions {
    QueueOptions {
        produce,
        consume,
        ..QueueOptions::default()
    }
}

/// A buffer of `pool` whose bytes all say `tag`.
fn tagged(pool: &Pool, tag: u8) -> Buf<'_> {
    let mut b = pool.acquire().unwrap();
    b.fill(tag);
    b
}

#[test]
fn queue_is_fifo() {
    let pool = test_pool();
    if !has_queues(&pool) {
        return;
    }
    let q = pool.queue("rt-fifo", &create(8, true, true)).unwrap();
    assert_eq!(q.name(), "rt-fifo");
    assert!(std::ptr::eq(q.pool(), &*pool));
    let mut sent = Vec::new();
    for i in 0..5u8 {
        let b = tagged(&pool, i);
        sent.push(b.index());
        q.enqueue(b).unwrap();
    }
    assert_eq!(pool.stats().unwrap().in_use, 5, "queued counts as in use");
    for (i, &idx) in sent.iter().enumerate() {
        let b = q.dequeue().unwrap();
        assert_eq!(b.index(), idx, "out of order");
        assert!(b.iter().all(|&x| x == i as u8), "buffer {} changed", idx);
    }
    assert_eq!(q.dequeue().unwrap_err().errno(), errno::EAGAIN);
    let st = q.stats().unwrap();
    assert_eq!((st.capacity, st.depth), (8, 0));
    assert_eq!((st.enqueued, st.dequeued, st.full), (5, 5, 0));
    assert_eq!(st.consumer, Some(pool.client_id()));
    // Round and round: positions past the capacity reuse the slots.
    for round in 0..40u8 {
        q.enqueue(tagged(&pool, round)).unwrap();
        q.enqueue(tagged(&pool, round ^ 0xff)).unwrap();
        assert_eq!(q.dequeue().unwrap()[0], round);
        assert_eq!(q.dequeue().unwrap()[0], round ^ 0xff);
    }
    assert_eq!(q.stats().unwrap().dequeued, 85);
    q.close().unwrap();
    assert_eq!(pool.stats().unwrap().in_use, 0);
}

#[test]
fn queue_full_and_empty() {
    let pool = test_pool();
    if !has_queues(&pool) {
        return;
    }
    let q = pool.queue("rt-full", &create(4, true, true)).unwrap();
    let e = q.dequeue().unwrap_err();
    assert_eq!(e.errno(), errno::EAGAIN);
    assert_eq!(io::Error::from(e).kind(), io::ErrorKind::WouldBlock);
    for i in 0..4 {
        q.enqueue(tagged(&pool, i)).unwrap();
    }
    // Full: the buffer comes back, still ours.
    let e = q.enqueue(tagged(&pool, 9)).unwrap_err();
    assert_eq!(e.error().errno(), errno::ENOBUFS, "{}", e);
    assert!(e.error().is_exhausted());
    let mut back = e.into_buf();
    back[0] = 1;
    assert_eq!(pool.stats().unwrap().in_use, 5);
    let st = q.stats().unwrap();
    assert_eq!((st.depth, st.enqueued, st.full), (4, 4, 1));
    assert!(
        (3..=4).contains(&st.high_watermark),
        "{}",
        st.high_watermark
    );
    // `?` on the error gives the buffer back to the pool.
    let r: Result<(), Error> = (|| {
        q.enqueue(back)?;
        Ok(())
    })();
    assert_eq!(r.unwrap_err().errno(), errno::ENOBUFS);
    assert_eq!(pool.stats().unwrap().in_use, 4);
    assert_eq!(q.dequeue().unwrap()[0], 0);
    q.enqueue(tagged(&pool, 4)).unwrap();
    for i in 1..5 {
        assert_eq!(q.dequeue().unwrap()[0], i);
    }
    assert_eq!(q.dequeue().unwrap_err().errno(), errno::EAGAIN);
    drop(q);
    assert_eq!(pool.stats().unwrap().in_use, 0);
}

#[test]
fn queue_open_errors_and_roles() {
    let pool = test_pool();
    if !has_queues(&pool) {
        return;
    }
    let other = second_handle(&pool);
    let info = pool.info().unwrap();
    let none = QueueOptions::default();
    assert_eq!(
        pool.queue("rt-missing", &none).unwrap_err().errno(),
        errno::ENOENT
    );
    for bad in ["", "bad name", "bad/name", "nul\0", &"x".repeat(32)] {
        let e = pool.queue(bad, &create(4, true, true)).unwrap_err();
        assert_eq!(e.errno(), errno::EINVAL, "{:?}", bad);
    }
    let excl_alone = QueueOptions {
        exclusive: true,
        ..QueueOptions::default()
    };
    let e = pool.queue("rt-excl", &excl_alone).unwrap_err();
    assert_eq!(e.errno(), errno::EINVAL);
    let e = pool.queue("rt-cap0", &create(0, true, false)).unwrap_err();
    assert_eq!(e.errno(), errno::EINVAL);
    let e = pool
        .queue("rt-cap", &create(info.queue_len + 1, true, false))
        .unwrap_err();
    assert_eq!(e.errno(), errno::EINVAL);

    // A capacity is rounded up to a power of two; 31 characters is a name.
    let name = "rt-roles.0123456789_abcdefghijk";
    assert_eq!(name.len(), 31);
    let q = pool.queue(name, &create(5, false, true)).unwrap();
    assert_eq!(q.stats().unwrap().capacity, 8);
    let excl = QueueOptions {
        exclusive: true,
        ..create(8, true, false)
    };
    assert_eq!(pool.queue(name, &excl).unwrap_err().errno(), errno::EEXIST);
    assert_eq!(other.queue(name, &excl).unwrap_err().errno(), errno::EEXIST);
    // Once per handle; one consumer at a time.
    assert_eq!(
        pool.queue(name, &none).unwrap_err().errno(),
        errno::EALREADY
    );
    let busy = other.queue(name, &role(true, true)).unwrap_err();
    assert_eq!(busy.errno(), errno::EBUSY);
    // The other handle produces; this one may not.
    let p = other.queue(name, &create(64, true, false)).unwrap();
    assert_eq!(
        p.stats().unwrap().capacity,
        8,
        "capacity ignored: it exists"
    );
    assert_eq!(p.stats().unwrap().consumer, Some(pool.client_id()));
    let e = q.enqueue(pool.acquire().unwrap()).unwrap_err();
    assert_eq!(e.error().errno(), errno::EPERM);
    drop(e); // gives the buffer back
    assert_eq!(p.dequeue().unwrap_err().errno(), errno::EPERM);
    // A buffer of another handle is refused, and comes back.
    let mine = tagged(&pool, 3);
    let e = p.enqueue(mine).unwrap_err();
    assert_eq!(e.error().errno(), errno::EINVAL);
    assert_eq!(e.into_buf()[0], 3);
    p.enqueue(tagged(&other, 7)).unwrap();
    let got = q.dequeue().unwrap();
    assert_eq!(got[0], 7);
    assert!(std::ptr::eq(got.pool(), &*pool), "the consumer holds it");
    drop(got);
    // The consumer goes: the role is free, the queue lives on.
    drop(q);
    assert_eq!(p.stats().unwrap().consumer, None);
    let q = other.queue(name, &role(false, true));
    assert_eq!(q.unwrap_err().errno(), errno::EALREADY);
    drop(p);
    // The last user closed it: a client-made queue is gone.
    assert_eq!(pool.queue(name, &none).unwrap_err().errno(), errno::ENOENT);
    assert_eq!(pool.stats().unwrap().in_use, 0);
}

#[test]
fn queue_single_producer() {
    let pool = test_pool();
    if !has_queues(&pool) {
        return;
    }
    let other = second_handle(&pool);
    let sp = QueueOptions {
        single_producer: true,
        ..create(16, true, true)
    };
    let q = pool.queue("rt-sp", &sp).unwrap();
    let e = other.queue("rt-sp", &role(true, false)).unwrap_err();
    assert_eq!(e.errno(), errno::EBUSY, "a second producer");
    let watcher = other.queue("rt-sp", &role(false, false)).unwrap();
    for i in 0..10 {
        q.enqueue(tagged(&pool, i)).unwrap();
    }
    assert_eq!(watcher.stats().unwrap().depth, 10);
    for i in 0..10 {
        assert_eq!(q.dequeue().unwrap()[0], i);
    }
}

#[test]
fn queue_bulk() {
    let pool = test_pool();
    if !has_queues(&pool) {
        return;
    }
    let q = pool.queue("rt-bulk", &create(8, true, true)).unwrap();
    let mut bufs: Vec<Buf<'_>> = (0..10u8).map(|i| tagged(&pool, i)).collect();
    let order: Vec<u32> = bufs.iter().map(|b| b.index()).collect();
    // Eight go, the two that do not fit stay.
    assert_eq!(q.enqueue_bulk(&mut bufs).unwrap(), 8);
    assert_eq!(bufs.len(), 2);
    assert_eq!((bufs[0][0], bufs[1][0]), (8, 9));
    assert_eq!(
        q.enqueue_bulk(&mut bufs).unwrap_err().errno(),
        errno::ENOBUFS
    );
    assert_eq!(bufs.len(), 2);
    assert!(q.stats().unwrap().full >= 1);
    let mut out = Vec::new();
    assert_eq!(q.dequeue_bulk(3, &mut out).unwrap(), 3);
    assert_eq!(q.enqueue_bulk(&mut bufs).unwrap(), 2);
    assert!(bufs.is_empty());
    assert_eq!(q.enqueue_bulk(&mut bufs).unwrap(), 0, "nothing to move");
    assert_eq!(q.dequeue_bulk(100, &mut out).unwrap(), 7);
    let got: Vec<u32> = out.iter().map(|b| b.index()).collect();
    assert_eq!(got, order, "bulk keeps the order");
    assert_eq!(
        q.dequeue_bulk(1, &mut out).unwrap_err().errno(),
        errno::EAGAIN
    );
    // Many chunks of the bulk calls' stack arrays.
    let cap = q.stats().unwrap().capacity;
    drop(q);
    drop(out);
    let q = pool.queue("rt-bulk2", &create(256, true, true)).unwrap();
    let n = 200.min(pool.buf_count() as usize / 2);
    let mut bufs = Vec::new();
    assert_eq!(pool.acquire_bulk(n, &mut bufs).unwrap(), n);
    let order: Vec<u32> = bufs.iter().map(|b| b.index()).collect();
    assert_eq!(q.enqueue_bulk(&mut bufs).unwrap(), n);
    let mut out = Vec::new();
    assert_eq!(q.dequeue_bulk(n + 1, &mut out).unwrap(), n);
    assert_eq!(out.iter().map(|b| b.index()).collect::<Vec<_>>(), order);
    assert_eq!(cap, 8);
    // A buffer of another handle stops a bulk enqueue there.
    let other = second_handle(&pool);
    let mut mixed = vec![tagged(&pool, 1), tagged(&other, 2), tagged(&pool, 3)];
    assert_eq!(q.enqueue_bulk(&mut mixed).unwrap(), 1);
    assert_eq!(mixed.len(), 2);
    assert_eq!(
        q.enqueue_bulk(&mut mixed).unwrap_err().errno(),
        errno::EINVAL
    );
    drop((mixed, out, q));
    assert_eq!(pool.stats().unwrap().in_use, 0);
}

#[test]
fn queue_index_forms() {
    let pool = test_pool();
    if !has_queues(&pool) {
        return;
    }
    let q = pool.queue("rt-index", &create(4, true, true)).unwrap();
    let idx = tagged(&pool, 5).into_index();
    // SAFETY: held without a guard.
    unsafe { q.enqueue_index(idx) }.unwrap();
    // Queued: no longer this handle's to give back.
    // SAFETY: no guard for it.
    let e = unsafe { pool.release_index(idx) }.unwrap_err();
    assert_eq!(e.errno(), errno::EINVAL);
    assert_eq!(q.dequeue_index().unwrap(), idx);
    // SAFETY: dequeued, held without a guard.
    let b = unsafe { pool.from_index(idx) }.unwrap();
    assert_eq!(b[0], 5);
    drop(b);
    assert_eq!(q.dequeue_index().unwrap_err().errno(), errno::EAGAIN);
    // SAFETY: not held: refused.
    let e = unsafe { q.enqueue_index(idx) }.unwrap_err();
    assert_eq!(e.errno(), errno::EINVAL);
    assert_eq!(pool.stats().unwrap().in_use, 0);
}

#[test]
fn queue_last_close_gives_back_its_contents() {
    let pool = test_pool();
    if !has_queues(&pool) {
        return;
    }
    let q = pool.queue("rt-last", &create(16, true, true)).unwrap();
    for i in 0..6 {
        q.enqueue(tagged(&pool, i)).unwrap();
    }
    assert_eq!(pool.stats().unwrap().in_use, 6);
    drop(q);
    assert_eq!(pool.stats().unwrap().in_use, 0, "the queue's went back");
    // A new queue of that name starts empty.
    let q = pool.queue("rt-last", &create(16, false, true)).unwrap();
    assert_eq!(q.stats().unwrap().depth, 0);
    assert_eq!(q.dequeue().unwrap_err().errno(), errno::EAGAIN);
}

#[test]
fn queue_outlives_its_consumer() {
    let pool = test_pool();
    if !has_queues(&pool) {
        return;
    }
    let other = second_handle(&pool);
    let p = pool.queue("rt-keep", &create(16, true, false)).unwrap();
    for i in 0..4 {
        p.enqueue(tagged(&pool, i)).unwrap();
    }
    let c = other.queue("rt-keep", &role(false, true)).unwrap();
    assert_eq!(c.dequeue().unwrap()[0], 0);
    drop(c);
    // The next consumer continues where the last one stopped.
    let c = other.queue("rt-keep", &role(false, true)).unwrap();
    for i in 1..4 {
        assert_eq!(c.dequeue().unwrap()[0], i);
    }
    drop(c);
    drop(p);
    assert_eq!(pool.stats().unwrap().in_use, 0);
}

#[test]
fn queue_to_another_process() {
    let pool = test_pool();
    if !has_queues(&pool) {
        return;
    }
    let q = pool.queue("rt-proc", &create(64, true, false)).unwrap();
    for i in 0..40u8 {
        q.enqueue(tagged(&pool, i)).unwrap();
    }
    let rc = in_child(|| {
        // The child's own client, the queue's consumer.
        let mine = second_handle(&pool);
        let c = match mine.queue("rt-proc", &role(false, true)) {
            Ok(c) => c,
            Err(_) => return 2,
        };
        for i in 0..40u8 {
            match c.dequeue() {
                Ok(b) if b.iter().all(|&x| x == i) => {}
                _ => return 3,
            }
        }
        if c.dequeue().map(|_| ()).unwrap_err().errno() != errno::EAGAIN {
            return 4;
        }
        0
    });
    assert_eq!(rc, 0, "the child failed");
    assert_eq!(q.stats().unwrap().dequeued, 40);
    assert_eq!(pool.stats().unwrap().in_use, 0, "the child gave them back");
}

#[test]
fn queue_mpsc_across_threads() {
    const PER: u32 = 5_000;
    let pool = test_pool();
    if !has_queues(&pool) {
        return;
    }
    // Three producers through the consumer's own queue handle, three
    // through handles of their own.
    let others: Vec<Pool> = (0..3).map(|_| second_handle(&pool)).collect();
    let q = pool.queue("rt-mpsc", &create(64, true, true)).unwrap();
    let producers = 3 + others.len() as u32;
    std::thread::scope(|s| {
        let produce = |q: &Queue<'_>, who: u32| {
            let pool = q.pool();
            for seq in 0..PER {
                let mut b = loop {
                    match pool.acquire() {
                        Ok(b) => break b,
                        Err(e) if e.errno() == errno::ENOBUFS => std::thread::yield_now(),
                        Err(e) => panic!("acquire: {}", e),
                    }
                };
                b[..4].copy_from_slice(&who.to_ne_bytes());
                b[4..8].copy_from_slice(&seq.to_ne_bytes());
                let mut b = b;
                loop {
                    match q.enqueue(b) {
                        Ok(()) => break,
                        Err(e) => {
                            let (e, back) = e.into_parts();
                            assert!(
                                e.errno() == errno::ENOBUFS || e.errno() == errno::EAGAIN,
                                "enqueue: {}",
                                e
                            );
                            b = back;
                            std::thread::yield_now();
                        }
                    }
                }
            }
            pool.flush_cache();
        };
        let q = &q;
        for who in 0..3 {
            s.spawn(move || produce(q, who));
        }
        for (i, other) in others.iter().enumerate() {
            s.spawn(move || {
                let mine = other.queue("rt-mpsc", &role(true, false)).unwrap();
                produce(&mine, 3 + i as u32);
            });
        }
        let consumer = s.spawn(move || {
            let mut next = vec![0u32; producers as usize];
            let mut got = 0;
            let mut out = Vec::new();
            while got < producers * PER {
                match q.dequeue_bulk(16, &mut out) {
                    Ok(_) => {}
                    Err(e) if e.errno() == errno::EAGAIN => std::thread::yield_now(),
                    Err(e) => panic!("dequeue: {}", e),
                }
                for b in out.drain(..) {
                    let who = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
                    let seq = u32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
                    assert_eq!(seq, next[who as usize], "producer {} out of order", who);
                    next[who as usize] += 1;
                    got += 1;
                }
            }
            q.pool().flush_cache();
            next
        });
        let next = consumer.join().unwrap();
        assert!(next.iter().all(|&n| n == PER), "{:?}", next);
    });
    let st = q.stats().unwrap();
    assert_eq!(st.enqueued, u64::from(producers * PER));
    assert_eq!((st.dequeued, st.depth), (st.enqueued, 0));
    assert!(st.high_watermark <= 64);
    drop(q);
    drop(others);
    assert_eq!(pool.stats().unwrap().in_use, 0);
}

#[test]
fn handoff_to_a_receiver() {
    let pool = test_pool();
    if !has_live_map(&pool) {
        return;
    }
    let other = second_handle(&pool);
    let third = second_handle(&pool);
    let id = other.client_id();
    let b = tagged(&pool, 0x5a);
    let idx = pool.handoff_to(b, id).unwrap();
    assert_eq!(
        pool.stats().unwrap().in_use,
        1,
        "in transit counts as in use"
    );
    // Only the receiver adopts it.
    assert_eq!(third.adopt(idx).unwrap_err().errno(), errno::EINVAL);
    assert_eq!(pool.adopt(idx).unwrap_err().errno(), errno::EINVAL);
    let got = other.adopt(idx).unwrap();
    assert!(got.iter().all(|&x| x == 0x5a));
    // And back, by the guard's method.
    let idx = got.handoff_to(pool.client_id()).unwrap();
    let b = pool.adopt(idx).unwrap();
    assert_eq!(b[0], 0x5a);

    // Bad receivers: the buffer comes back.
    for bad in [0, pool.client_id(), bufpool::sys::BUFPOOL_CLIENT_MAX + 1] {
        let e = pool.handoff_to(tagged(&pool, 1), bad).unwrap_err();
        assert_eq!(e.error().errno(), errno::EINVAL, "receiver {}", bad);
    }
    // A buffer of another handle.
    let e = pool.handoff_to(tagged(&other, 1), id).unwrap_err();
    assert_eq!(e.error().errno(), errno::EINVAL);
    drop(e);
    // A receiver that is gone: ESRCH, still ours.
    let gone = third.client_id();
    drop(third);
    let e = b.handoff_to(gone).unwrap_err();
    assert_eq!(e.error().errno(), errno::ESRCH, "{}", e);
    let b = e.into_buf();
    assert_eq!(b[0], 0x5a);
    // SAFETY: b's guard is gone before the raw call.
    let idx = b.into_index();
    let e = unsafe { pool.handoff_index_to(idx, gone) }.unwrap_err();
    assert_eq!(e.errno(), errno::ESRCH);
    // SAFETY: still held, no guard.
    drop(unsafe { pool.from_index(idx) }.unwrap());
    drop(other);
    assert_eq!(pool.stats().unwrap().in_use, 0);
}

#[test]
fn handoff_to_a_receiver_that_goes() {
    let pool = test_pool();
    if !has_live_map(&pool) {
        return;
    }
    let other = second_handle(&pool);
    let before = pool.stats().unwrap();
    let id = other.client_id();
    for i in 0..3 {
        pool.handoff_to(tagged(&pool, i), id).unwrap();
    }
    assert_eq!(pool.stats().unwrap().in_use, before.in_use + 3);
    // It closes without adopting them.
    drop(other);
    if device().is_some() {
        // The kernel gives them back to the pool (a memfd pool has
        // nobody to do it).
        assert_eq!(pool.stats().unwrap().in_use, before.in_use);
    }
    // And it is no longer a receiver.
    let e = pool.handoff_to(tagged(&pool, 4), id).unwrap_err();
    assert_eq!(e.error().errno(), errno::ESRCH);
}

// ---------------------------------------------------------- spread pools

/// `BUFPOOL_CHUNK_SIZE`, written out: the test's own arithmetic.
const CHUNK: usize = 2 << 20;

/// `bufpool_buf_offset(i, stride)` from first principles: `stride`
/// bytes after buffer `i - 1`, across the chunks.
fn expected_offset(i: usize, stride: usize) -> usize {
    i * stride
}

/// A tag per buffer that differs between neighbours (and never 0).
fn tag_of(i: u32) -> u8 {
    (i % 251) as u8 + 1
}

/// Buffer 0's address, from the C library rather than the binding.
fn base_of(pool: &Pool) -> usize {
    // SAFETY: an open handle; index 0 is always in range.
    let p = unsafe { bufpool::sys::bufpool_addr(pool.as_ptr(), 0) };
    assert!(!p.is_null());
    p as usize
}

/// Makes a module-free pool of `count` buffers of `size` bytes, spread
/// or packed, in hugetlb pages or not, and checks every buffer's place
/// and every form that turns an address into an index or back.
fn check_layout(size: usize, count: u32, spread: bool, no_hugetlb: bool) {
    let what = format!(
        "{} x {} B, spread {}, no_hugetlb {}",
        count, size, spread, no_hugetlb
    );
    let pool = Pool::create(&Params {
        buf_size: size,
        buf_count: count,
        no_hugetlb,
        spread,
        ..Params::default()
    })
    .unwrap_or_else(|e| panic!("{}: {}", what, e));
    let stride = if spread { size + 64 } else { size };
    let n = count as usize;
    assert_eq!(pool.buf_size(), size, "{}", what);
    assert_eq!(pool.buf_stride(), stride, "{}", what);
    assert_eq!(pool.is_spread(), spread, "{}", what);
    assert_eq!(pool.buf_count(), count, "{}", what);
    let info = pool.info().unwrap();
    assert_eq!(info.buf_size as usize, size, "{}", what);
    assert_eq!(info.buf_stride as usize, stride, "{}", what);
    assert_eq!(info.raw.buf_shift == 0, spread, "{}", what);
    let base = base_of(&pool);

    // Every buffer, taken in bulk.
    let mut held = Vec::new();
    assert_eq!(pool.acquire_bulk(n, &mut held).unwrap(), n, "{}", what);
    assert_eq!(pool.acquire().unwrap_err().errno(), errno::ENOBUFS);
    let mut seen = vec![false; n];
    for b in &held {
        let i = b.index();
        assert!((i as usize) < n, "{}: index {}", what, i);
        assert!(!seen[i as usize], "{}: index {} twice", what, i);
        seen[i as usize] = true;
        let p = b.as_ptr();
        let off = p as usize - base;
        assert_eq!(
            off,
            expected_offset(i as usize, stride),
            "{}: buffer {}",
            what,
            i
        );
        assert_eq!(b.len(), size, "{}", what);
        // A packed pool's buffer stays inside its chunk.
        if !spread {
            assert_eq!(off / CHUNK, (off + size - 1) / CHUNK, "{}: {}", what, i);
        }
        // Any byte of it maps back to it.
        assert_eq!(pool.index_of(p), Some(i), "{}", what);
        assert_eq!(pool.index_of(p.wrapping_add(size / 2)), Some(i), "{}", what);
        assert_eq!(pool.index_of(p.wrapping_add(size - 1)), Some(i), "{}", what);
        if spread {
            // The pad after it is nobody's.
            assert_eq!(pool.index_of(p.wrapping_add(size)), None, "{}: {}", what, i);
            assert_eq!(pool.index_of(p.wrapping_add(stride - 1)), None, "{}", what);
        }
    }
    // No two overlap.
    let mut addrs: Vec<usize> = held.iter().map(|b| b.as_ptr() as usize).collect();
    addrs.sort_unstable();
    for w in addrs.windows(2) {
        assert!(
            w[1] - w[0] >= stride,
            "{}: {:#x} and {:#x}",
            what,
            w[0],
            w[1]
        );
    }
    // The second chunk's first byte is a byte of the buffer there.
    if n * stride > CHUNK {
        let next = (base + CHUNK) as *const u8;
        let want = CHUNK / stride;
        let got = if CHUNK % stride < size {
            Some(want as u32)
        } else {
            None
        };
        assert_eq!(pool.index_of(next), got, "{}", what);
    }
    let end = base + expected_offset(n - 1, stride) + size;
    assert_eq!(
        pool.index_of(end as *const u8),
        None,
        "{}: past the end",
        what
    );
    assert_eq!(pool.index_of((base - 1) as *const u8), None, "{}", what);

    // Each buffer's whole length written: none changes another.
    for b in held.iter_mut() {
        let t = tag_of(b.index());
        b.fill(t);
    }
    for b in &held {
        let t = tag_of(b.index());
        assert!(
            b.iter().all(|&x| x == t),
            "{}: buffer {} changed",
            what,
            b.index()
        );
    }

    // Every index back to its buffer's address.
    let held: Vec<Buf<'_>> = held
        .into_iter()
        .map(|b| {
            let p = b.as_ptr();
            let i = b.into_index();
            // SAFETY: held, its guard gone.
            let b = unsafe { pool.from_index(i) }.unwrap();
            assert_eq!(b.as_ptr(), p, "{}: from_index({})", what, i);
            b
        })
        .collect();
    let mut held = held;

    // The index forms: into_index/from_index, handoff/adopt, on this
    // handle and on a second one (another mapping, another base).
    let b = held.pop().unwrap();
    let p = b.as_ptr();
    let i = b.into_index();
    // SAFETY: held, its guard gone.
    let b = unsafe { pool.from_index(i) }.unwrap();
    assert_eq!(b.as_ptr(), p, "{}", what);
    let i = b.handoff().unwrap();
    let b = pool.adopt(i).unwrap();
    assert_eq!(b.as_ptr(), p, "{}", what);
    assert_eq!(b[size - 1], tag_of(i), "{}", what);
    let other = Pool::open_fd(pool.fd()).unwrap();
    assert_eq!(other.buf_stride(), stride, "{}", what);
    assert_eq!(other.buf_size(), size, "{}", what);
    let i = b.handoff().unwrap();
    let ob = other.adopt(i).unwrap();
    let obase = base_of(&other);
    assert_eq!(
        ob.as_ptr() as usize - obase,
        expected_offset(i as usize, stride)
    );
    assert_eq!(ob.index(), i, "{}", what);
    assert_eq!(ob[0], tag_of(i), "{}", what);
    assert_eq!(ob[size - 1], tag_of(i), "{}", what);
    drop(ob);
    drop(other);

    // Bulk release of the rest.
    pool.release_bulk(held.drain(..)).unwrap();
    assert_eq!(pool.stats().unwrap().in_use, 0, "{}", what);

    // Queues: single and bulk, by buffer and by index.
    let qn = 64.min(n);
    let q = pool
        .queue(
            "rt-spread",
            &create(qn.next_power_of_two() as u32, true, true),
        )
        .unwrap();
    let mut bufs = Vec::new();
    assert_eq!(pool.acquire_bulk(qn, &mut bufs).unwrap(), qn);
    for b in bufs.iter_mut() {
        let t = tag_of(b.index());
        b.fill(t);
    }
    let order: Vec<u32> = bufs.iter().map(|b| b.index()).collect();
    assert_eq!(q.enqueue_bulk(&mut bufs).unwrap(), qn, "{}", what);
    let mut out = Vec::new();
    assert_eq!(q.dequeue_bulk(qn, &mut out).unwrap(), qn, "{}", what);
    assert_eq!(out.iter().map(|b| b.index()).collect::<Vec<_>>(), order);
    for b in &out {
        let i = b.index();
        assert_eq!(
            b.as_ptr() as usize - base,
            expected_offset(i as usize, stride)
        );
        assert!(
            b.iter().all(|&x| x == tag_of(i)),
            "{}: {} via queue",
            what,
            i
        );
    }
    let b = out.pop().unwrap();
    let i = b.index();
    q.enqueue(b).unwrap();
    let b = q.dequeue().unwrap();
    assert_eq!(b.index(), i, "{}", what);
    assert_eq!(
        b.as_ptr() as usize - base,
        expected_offset(i as usize, stride)
    );
    let i = b.into_index();
    // SAFETY: held without a guard.
    unsafe { q.enqueue_index(i) }.unwrap();
    assert_eq!(q.dequeue_index().unwrap(), i);
    // SAFETY: dequeued, held without a guard.
    let b = unsafe { pool.from_index(i) }.unwrap();
    assert_eq!(
        b.as_ptr() as usize - base,
        expected_offset(i as usize, stride)
    );
    assert_eq!(b[size - 1], tag_of(i), "{}", what);
    // And the addressed handoff.
    let other = Pool::open_fd(pool.fd()).unwrap();
    let i = b.handoff_to(other.client_id()).unwrap();
    let ob = other.adopt(i).unwrap();
    assert_eq!(
        ob.as_ptr() as usize - base_of(&other),
        expected_offset(i as usize, stride)
    );
    drop(ob);
    drop((other, out, q));
    assert_eq!(pool.stats().unwrap().in_use, 0, "{}", what);
}

/// The pool under test (on the VM, the device, packed or spread as the
/// module was loaded): every buffer where its stride puts it.
#[test]
fn every_buffer_where_the_stride_puts_it() {
    let pool = test_pool();
    let base = base_of(&pool);
    let stride = pool.info().unwrap().buf_stride as usize;
    let held = take_all(&pool);
    assert_eq!(held.len(), pool.buf_count() as usize);
    for b in &held {
        let i = b.index();
        let off = b.as_ptr() as usize - base;
        assert_eq!(off, expected_offset(i as usize, stride), "buffer {}", i);
        assert_eq!(pool.index_of(b.as_ptr()), Some(i));
        assert_eq!(
            pool.index_of(b.as_ptr().wrapping_add(pool.buf_size() - 1)),
            Some(i)
        );
    }
}

#[test]
fn spread_pool_of_2k_buffers() {
    // 2112-byte stride: 1200 buffers reach into a second chunk.
    for &no_hugetlb in &[true, false] {
        check_layout(2048, 1200, true, no_hugetlb);
    }
}

#[test]
fn spread_pool_of_64k_buffers() {
    // 65600-byte stride: 64 buffers take three chunks.
    for &no_hugetlb in &[true, false] {
        check_layout(64 << 10, 64, true, no_hugetlb);
    }
}

#[test]
fn packed_pool_layout() {
    check_layout(2048, 1200, false, true);
    check_layout(64 << 10, 64, false, false);
}

#[test]
fn spread_pool_of_2m_buffers() {
    // Each buffer crosses into the next chunk: 2 MiB + 64 apart.
    check_layout(2 << 20, 3, true, true);
    check_layout(2 << 20, 3, false, true);
}

#[test]
fn rotating_depot_producer_to_consumer() {
    // A producer thread and a consumer thread pass every buffer from
    // one cache to the other: nothing lost, nothing taken twice, and
    // info says whether the depot rotates.
    for &rotate in &[false, true] {
        let pool = Pool::create(&Params {
            buf_size: 2048,
            buf_count: 512,
            caches: 4,
            mag_size: 16,
            no_hugetlb: true,
            rotate,
            ..Params::default()
        })
        .unwrap();
        assert_eq!(pool.info().unwrap().rotating_depot, rotate);
        let (tx, rx) = std::sync::mpsc::sync_channel(64);
        std::thread::scope(|s| {
            let pool = &pool;
            s.spawn(move || {
                for i in 0..20_000u32 {
                    let b: Buf<'_> = rx.recv().unwrap();
                    assert_eq!(b[0], i as u8);
                }
                pool.flush_cache();
            });
            for i in 0..20_000u32 {
                let mut b = loop {
                    match pool.acquire() {
                        Ok(b) => break b,
                        Err(_) => std::thread::yield_now(),
                    }
                };
                b[0] = i as u8;
                tx.send(b).unwrap();
            }
            pool.flush_cache();
        });
        let mut v = Vec::new();
        assert_eq!(pool.acquire_bulk(512, &mut v).unwrap(), 512);
        let distinct: HashSet<u32> = v.iter().map(|b| b.index()).collect();
        assert_eq!(distinct.len(), 512);
        pool.release_bulk(v).unwrap();
        assert_eq!(pool.stats().unwrap().in_use, 0);
    }
}
