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

use bufpool::{errno, Buf, ClassBuf, Classes, Error, Params, Pool};

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
fn too_many_threads_say_eusers() {
    let pool = Pool::create(&Params {
        caches: 1,
        ..Params::default()
    })
    .unwrap();
    drop(pool.acquire().unwrap()); // this thread takes the one cache
    std::thread::scope(|s| {
        let e = s
            .spawn(|| pool.acquire().map(|_| ()).unwrap_err())
            .join()
            .unwrap();
        assert_eq!(e.errno(), errno::EUSERS);
    });
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
    assert_eq!(e.to_string(), "no free buffer in the pool (ENOBUFS)");
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
