// SPDX-License-Identifier: MIT
//! Safe Rust bindings of `libbufpool-user`: pinned buffer pools shared
//! between threads and processes, taken and given back without system
//! calls or locks (see `userlib/bufpool.h` and `docs/DESIGN.md`).
//!
//! ```
//! use bufpool::{Params, Pool};
//!
//! fn main() -> Result<(), bufpool::Error> {
//!     // /dev/bufpool when the module is loaded: Pool::open("/dev/bufpool")
//!     let pool = Pool::create(&Params::default())?; // a module-free pool
//!     let mut buf = pool.acquire()?; // Err(ENOBUFS) when the pool is empty
//!     buf[..5].copy_from_slice(b"hello");
//!     let idx = buf.index(); // the same in every process mapping the pool
//!     assert_eq!(pool.stats()?.in_use, 1);
//!     drop(buf); // given back
//!     assert_eq!(pool.stats()?.in_use, 0);
//!     println!("buffer {} is free again", idx);
//!     Ok(())
//! }
//! ```
//!
//! # Ownership and lifetimes
//!
//! A [`Pool`] is one open handle (`struct bufpool *`); the library
//! records which handle holds each buffer, and only that handle may give
//! it back. A [`Buf`] therefore borrows the `Pool` it came from
//! (`Buf<'p>` holds `&'p Pool`): it cannot outlive the handle, dropping
//! it gives the buffer back through that handle, and the handle cannot
//! be closed (dropped) while any of its buffers is alive. A borrow costs
//! nothing on the fast path, where an `Arc` would add a reference count
//! per buffer; a program that wants an owned, `'static` pool puts it in
//! a `static`, leaks it (`Box::leak`) or scopes its threads
//! (`std::thread::scope`).
//!
//! ```compile_fail
//! let buf = {
//!     let pool = bufpool::Pool::create(&Default::default()).unwrap();
//!     pool.acquire().unwrap()
//! }; // error: `pool` does not live long enough
//! ```
//!
//! To pass a buffer on to another process (or another handle), call
//! [`Buf::handoff`], which consumes the guard and returns the index;
//! the receiver calls [`Pool::adopt`] and gets its own `Buf`.
//! [`Buf::into_index`] forgets the guard without giving the buffer back;
//! [`Pool::from_index`] (unsafe) makes a guard again.
//!
//! # Threads: `Send` and `Sync`
//!
//! The C library lets any thread call any function on an open pool
//! concurrently, except `bufpool_close`, which needs every other thread
//! to be done with the pool; each thread takes and gives through its own
//! cache (`docs/DESIGN.md`, sections 3 and 12). Ownership is per handle,
//! not per thread: a thread may give back a buffer another thread of the
//! same handle took (it goes into the releasing thread's cache). Hence:
//!
//! * [`Pool`] is `Send` and `Sync`: share `&Pool` between threads.
//!   `Drop` (`bufpool_close`) takes the pool by value, so no other
//!   thread can be inside a call or hold a buffer when it runs.
//! * [`Buf`] is `Send` (give it back from another thread) and `Sync`
//!   (shared `&Buf` only read the bytes).
//! * [`Classes`] and [`ClassBuf`] likewise.
//! * [`Queue`] is `Send` and `Sync`: any number of threads enqueue
//!   through one `&Queue`. The C library allows one dequeue at a time
//!   per queue, so a dequeue that meets another thread's fails with
//!   `EBUSY` rather than wait.
//!
//! A pool has a fixed number of caches; a thread that finds none free
//! works on the pool's shared path (still lock-free and without a system
//! call), so any number of threads can use a pool. A thread's cache goes
//! back to the pool when the thread exits, or with [`Pool::flush_cache`],
//! and then to the next thread that wants one.
//!
//! # Memory
//!
//! A buffer's bytes are shared memory: the library guarantees that one
//! handle holds a buffer at a time, and a `Buf` is the only way this
//! crate gives out its bytes, so `&mut [u8]` through [`Buf`] is
//! exclusive as long as every process follows the protocol (as with any
//! shared memory, a process that writes buffers it does not hold can
//! change them under the holder). Nothing here passes a NULL handle to C.
//!
//! # Queues and addressed handoff
//!
//! A [`Queue`] ([`Pool::queue`]) is a named FIFO of buffers in the
//! pool's shared memory: producers [`Queue::enqueue`] a `Buf` (the
//! guard is consumed; on error it comes back in a [`BufError`]), the
//! queue's one consumer [`Queue::dequeue`]s a `Buf` of its own handle.
//! No system call, no lock; nothing in a queue is lost when a process
//! dies. A `Queue` borrows its `Pool` and closes on drop.
//! `examples/pipeline.rs` moves buffers from a producer process to
//! consumer processes that way.
//!
//! ```
//! use bufpool::{Params, Pool, QueueOptions};
//!
//! fn main() -> Result<(), bufpool::Error> {
//!     let pool = Pool::create(&Params::default())?;
//!     let q = pool.queue("jobs", &QueueOptions {
//!         create: true,
//!         capacity: 64,
//!         produce: true,
//!         consume: true,
//!         ..QueueOptions::default()
//!     })?;
//!     let mut buf = pool.acquire()?;
//!     buf[..3].copy_from_slice(b"job");
//!     q.enqueue(buf)?; // ENOBUFS when the queue is full
//!     let got = q.dequeue()?; // EAGAIN when it is empty
//!     assert_eq!(&got[..3], b"job");
//!     Ok(())
//! }
//! ```
//!
//! [`Buf::handoff_to`] (or [`Pool::handoff_to`]) hands a buffer to one
//! receiving client by its [`Pool::client_id`]: only it may adopt the
//! buffer, and the buffer goes back to the pool if the receiver dies
//! first; `ESRCH`, with the buffer given back, when the receiver is not
//! a live client. [`Buf::handoff`] and [`Pool::adopt`] pass a buffer to
//! whoever adopts it first, over any channel (a pipe, a socket).

#![warn(missing_docs)]

mod classes;
mod error;
mod queue;
pub mod sys;

pub use classes::{ClassBuf, Classes};
pub use error::{errno, Error, Result};
pub use queue::{BufError, Queue, QueueOptions, QueueStats};

use std::ffi::CString;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ops::{Deref, DerefMut};
use std::os::raw::{c_uint, c_void};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::Path;
use std::ptr::NonNull;
use std::time::Duration;
use std::{fmt, ptr, slice};

/// The module's default pool, `/dev/bufpool`.
pub const DEV_PATH: &str = sys::BUFPOOL_DEV_PATH;

/// How many buffers one C bulk call moves at most (a stack array of
/// 2 KiB): a burst of 256, the size magazines are made for, is one call.
const BULK_CHUNK: usize = 256;

/// The geometry of a module-free pool ([`Pool::create`]). Zero fields
/// take the library's defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Params {
    /// Bytes per buffer: a power of two from 64 to 2 MiB; 0: 2048.
    pub buf_size: usize,
    /// Buffers; 0: 4096.
    pub buf_count: u32,
    /// Per-thread caches, the threads the pool serves at once; 0: 64.
    pub caches: u32,
    /// Never take hugetlb pages (`BUFPOOL_F_NO_HUGETLB`).
    pub no_hugetlb: bool,
    /// No per-thread caches at all (`BUFPOOL_F_NO_CACHE`).
    pub no_cache: bool,
    /// Buffers per magazine (library 1.6, `BUFPOOL_F_MAG_SIZE`): a
    /// thread's cache holds two magazines, so size them to the bursts a
    /// thread takes and gives (256 for bursts of 256). 1 to
    /// [`sys::BUFPOOL_MAG_MAX`] (1023), and the caches may hold at most
    /// half the pool: `4 * caches * mag_size <= buf_count` (with the
    /// defaults filled in), else `EINVAL`; `EINVAL` with `no_cache` too.
    /// 0: the library's default, `buf_count / (4 * caches)` and at most
    /// [`sys::BUFPOOL_MAG_CAP`] (63). [`Info::mag_fill`] tells what the
    /// pool has. A client older than 1.6 cannot open a pool with
    /// magazines above 63.
    pub mag_size: u32,
    /// Spread the buffers (library 1.8, `BUFPOOL_F_SPREAD`): each starts
    /// a cache line (64 bytes) after the end of the one before, so that
    /// bursts touching the first lines of many buffers find them in
    /// different CPU cache sets ([`Pool::buf_stride`]). The pool takes
    /// 64 bytes more per buffer, and a buffer may cross from one 2 MiB
    /// page to the next. Only clients of 1.8 or later open such a pool.
    pub spread: bool,
    /// Rotate the depot (library 1.9, `BUFPOOL_F_ROTATE`): full
    /// magazines come back about a round of the depot after a thread
    /// gave them, where by default the one given last is taken first.
    /// For pools whose buffers go from a producer's core to a
    /// consumer's: the producer then writes buffers whose lines the
    /// consumer's core has long let go of. Only clients of 1.9 or
    /// later open such a pool ([`Info::rotating_depot`]).
    pub rotate: bool,
}

/// A pool's statistics ([`Pool::stats`]), summed over every client's
/// thread caches; see `bufpool_stats` in `userlib/bufpool.h`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Buffers in the pool.
    pub total: u64,
    /// `total - in_use`.
    pub free: u64,
    /// Taken and not given back (buffers idle in thread caches are not).
    pub in_use: u64,
    /// The most in use any reader or the kernel's reclaim has seen.
    pub high_watermark: u64,
    /// Successful acquires.
    pub acquires: u64,
    /// Releases.
    pub releases: u64,
    /// Acquires that found the pool empty.
    pub exhausted: u64,
    /// Buffers dead clients held, given back by the kernel.
    pub reclaimed: u64,
    /// Threads sleeping in a timed acquire now.
    pub waiters: u64,
    /// Corruption clients found in the shared area (each `EUCLEAN`).
    pub detected: u64,
    /// Repairs the kernel ran while clients stayed open.
    pub repairs: u64,
    /// Of `acquires`, those by threads without a cache of their own
    /// (the shared path: every cache of the pool was taken).
    pub shared_acquires: u64,
    /// Of `releases`, those by threads without a cache of their own.
    pub shared_releases: u64,
}

/// What the kernel (or, for a module-free pool, the library) said about
/// a pool when it was opened ([`Pool::info`]; `struct bufpool_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    /// ABI major of the module (or the library for a memfd pool).
    pub abi_major: u32,
    /// ABI minor.
    pub abi_minor: u32,
    /// A module-free pool over a memfd (`BUFPOOL_INFO_F_MEMFD`).
    pub memfd: bool,
    /// A memfd pool in hugetlb pages (`BUFPOOL_INFO_F_HUGETLB`).
    pub hugetlb: bool,
    /// Bytes per buffer.
    pub buf_size: u32,
    /// Bytes from one buffer's start to the next one's: `buf_size`, or
    /// `buf_size + 64` for a spread pool (ABI 1.8).
    pub buf_stride: u32,
    /// Buffers.
    pub buf_count: u32,
    /// NUMA node of the memory, `None` for any.
    pub numa_node: Option<u32>,
    /// Pinned memory behind the buffers.
    pub pool_bytes: u64,
    /// Changes whenever the pool is rebuilt.
    pub generation: u64,
    /// Buffers a magazine holds; 0: no per-thread caching.
    pub mag_fill: u32,
    /// Per-thread caches.
    pub nr_caches: u32,
    /// This handle's id in the pool's ownership records.
    pub client_id: u32,
    /// Queues the pool can have at once (0: none, or an older module).
    pub nr_queues: u32,
    /// Buffers a queue of the pool holds at most.
    pub queue_len: u32,
    /// The depot rotates ([`Params::rotate`], ABI 1.9).
    pub rotating_depot: bool,
    /// The raw structure, with the layout's offsets.
    pub raw: sys::bufpool_info,
}

/// The kernel's reconciliation of a device pool ([`Pool::audit`];
/// `struct bufpool_audit`): afterwards every buffer is counted once, as
/// free, cached, held, in transit or queued.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Audit {
    /// Open files of the pool.
    pub clients: u32,
    /// Buffers in the pool.
    pub buf_count: u32,
    /// On the free list or in depot magazines.
    pub free: u32,
    /// In magazines of live threads' caches.
    pub cached: u32,
    /// Held by live clients.
    pub held: u32,
    /// Handed off, not adopted yet.
    pub transit: u32,
    /// Nobody held them: given back by this audit.
    pub reclaimed: u32,
    /// Corrupt links, entries or records fixed.
    pub repaired: u32,
    /// Clients mapping without attaching (older ABI).
    pub legacy: u32,
    /// The pool's generation.
    pub generation: u64,
    /// In queues (ABI 1.3; 0 from an older module).
    pub queued: u32,
    /// Live queues (ABI 1.3).
    pub queues: u32,
}

/// An open pool: one handle of the C library (`struct bufpool *`),
/// closed on drop (`bufpool_close`). `Send + Sync`; see the crate
/// documentation for the thread rules.
pub struct Pool {
    raw: NonNull<sys::bufpool>,
    /// Buffer 0; in a packed pool buffer i is at `base + (i << shift)`.
    base: NonNull<u8>,
    /// log2(buf_size) for a packed pool; 0 for a spread one (as
    /// `bufpool_info.buf_shift`), whose addresses and indices come from
    /// the C library: see [`Pool::addr`].
    shift: u32,
    /// Bytes per buffer.
    size: usize,
    /// Bytes from a buffer's start to the next one's.
    stride: usize,
    count: u32,
}

// SAFETY: the C library allows any thread to call any function on an
// open pool concurrently, except bufpool_close, which Drop runs only
// when no borrow (and so no other thread's call, no Buf) is left.
unsafe impl Send for Pool {}
// SAFETY: as above; every method takes &self and maps to a C call that
// is safe to make concurrently from several threads.
unsafe impl Sync for Pool {}

impl Pool {
    /// Wraps a handle the library returned, or fails with its errno.
    fn from_raw(raw: *mut sys::bufpool) -> Result<Pool> {
        let raw = NonNull::new(raw).ok_or_else(Error::last)?;
        // SAFETY: raw is an open handle, not NULL.
        unsafe { Pool::from_handle(raw) }.map_err(|e| {
            // SAFETY: ours, open, and nothing borrowed it.
            unsafe { sys::bufpool_close(raw.as_ptr()) };
            e
        })
    }

    /// Reads the geometry of an open handle.
    ///
    /// # Safety
    /// `raw` is an open handle that outlives the result.
    unsafe fn from_handle(raw: NonNull<sys::bufpool>) -> Result<Pool> {
        let base = sys::bufpool_addr(raw.as_ptr(), 0);
        let base = NonNull::new(base as *mut u8).ok_or_else(Error::last)?;
        let size = sys::bufpool_buf_size(raw.as_ptr());
        let mut info = sys::bufpool_info::default();
        if sys::bufpool_get_info(raw.as_ptr(), &mut info) != 0 {
            return Err(Error::last());
        }
        // The library refuses a pool whose stride it does not know; 0
        // (padding before ABI 1.8) would be a packed pool's.
        let stride = match info.buf_stride as usize {
            0 => size,
            s => s,
        };
        Ok(Pool {
            raw,
            base,
            shift: if stride == size {
                size.trailing_zeros()
            } else {
                0
            },
            size,
            stride,
            count: sys::bufpool_buf_count(raw.as_ptr()),
        })
    }

    /// Opens the pool at `path`, a bufpool device node
    /// (`/dev/bufpool`, `/dev/bufpool-NAME`). Errors: those of `open(2)`
    /// and `mmap(2)`; `ENOTTY` when the file is not a bufpool device,
    /// `EPROTO` when the module speaks another ABI major.
    pub fn open<P: AsRef<Path>>(path: P) -> Result<Pool> {
        let path = cstring(path.as_ref())?;
        // SAFETY: path is a NUL-terminated string that outlives the call.
        Pool::from_raw(unsafe { sys::bufpool_open(path.as_ptr()) })
    }

    /// Opens `/dev/bufpool`, or, when there is none (no module), makes a
    /// module-free pool with the default geometry (`bufpool_open(NULL)`).
    pub fn open_default() -> Result<Pool> {
        // SAFETY: NULL is allowed for path.
        Pool::from_raw(unsafe { sys::bufpool_open(ptr::null()) })
    }

    /// Makes a module-free pool over a memfd, in hugetlb pages when the
    /// system has them reserved. Share it with another process through
    /// [`Pool::fd`] (inherited over `fork`, or sent with `SCM_RIGHTS`)
    /// and [`Pool::open_fd`]. `EINVAL` for a geometry out of range.
    ///
    /// ```
    /// use bufpool::{Params, Pool};
    ///
    /// // Threads that move bursts of 256: magazines of 256 (library 1.6).
    /// let pool = Pool::create(&Params {
    ///     buf_count: 8192,
    ///     caches: 8,
    ///     mag_size: 256,
    ///     ..Params::default()
    /// })?;
    /// assert_eq!(pool.info()?.mag_fill, 256);
    /// # Ok::<(), bufpool::Error>(())
    /// ```
    pub fn create(params: &Params) -> Result<Pool> {
        let p = sys::bufpool_params {
            buf_size: params.buf_size,
            buf_count: params.buf_count,
            caches: params.caches,
            flags: if params.no_hugetlb {
                sys::BUFPOOL_F_NO_HUGETLB
            } else {
                0
            } | if params.no_cache {
                sys::BUFPOOL_F_NO_CACHE
            } else {
                0
            } | if params.mag_size != 0 {
                sys::BUFPOOL_F_MAG_SIZE
            } else {
                0
            } | if params.spread {
                sys::BUFPOOL_F_SPREAD
            } else {
                0
            } | if params.rotate {
                sys::BUFPOOL_F_ROTATE
            } else {
                0
            },
            mag_size: params.mag_size,
        };
        // SAFETY: p is valid for the call.
        Pool::from_raw(unsafe { sys::bufpool_create(&p) })
    }

    /// Opens another handle on the pool behind `fd` (a device or a pool
    /// memfd); the library duplicates `fd`, which stays the caller's.
    /// On a memfd pool the new handle is a client of its own; a device
    /// gives one client per open file, so open the device's path again
    /// for a second client there.
    pub fn open_fd<F: AsFd>(fd: F) -> Result<Pool> {
        let fd = fd.as_fd().as_raw_fd();
        // SAFETY: any fd number is allowed (EBADF for a bad one).
        Pool::from_raw(unsafe { sys::bufpool_open_fd(fd) })
    }

    /// The pool's file descriptor, to hand to another process; it stays
    /// the pool's and is closed with it.
    pub fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the handle's fd is open until bufpool_close, which
        // cannot run while the borrow lives.
        unsafe { BorrowedFd::borrow_raw(sys::bufpool_fd(self.raw.as_ptr())) }
    }

    /// The raw handle, for the calls of [`sys`]; it stays owned by this
    /// `Pool`.
    #[inline]
    pub fn as_ptr(&self) -> *mut sys::bufpool {
        self.raw.as_ptr()
    }

    /// Takes a free buffer, without waiting. Errors: `ENOBUFS` when none
    /// is free, `EUCLEAN` when the free list was found corrupted.
    #[inline]
    pub fn acquire(&self) -> Result<Buf<'_>> {
        // SAFETY: an open handle.
        let p = unsafe { sys::bufpool_acquire(self.raw.as_ptr()) };
        match NonNull::new(p as *mut u8) {
            Some(ptr) => Ok(Buf {
                pool: self,
                ptr,
                _not_copy: PhantomData,
            }),
            None => Err(Error::last()),
        }
    }

    /// Takes a free buffer, sleeping until another thread or process
    /// releases one when none is free, for up to `timeout`.
    /// `ETIMEDOUT` when the time passed, `EINTR` on a signal, or the
    /// errors of [`Pool::acquire`]. A zero timeout does not sleep (then
    /// `ENOBUFS`, as [`Pool::acquire`]); a timeout above a century waits
    /// without limit. Buffers idle in other threads' caches are not
    /// given to sleepers: have idle threads call [`Pool::flush_cache`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<Buf<'_>> {
        const CENTURY_NS: u128 = 100 * 365 * 86_400 * 1_000_000_000;
        let ns = timeout.as_nanos();
        // The C library adds the timeout to the clock: keep it far from
        // overflowing.
        let ns = if ns > CENTURY_NS { -1 } else { ns as i64 };
        self.acquire_timeout_ns(ns)
    }

    /// Takes a free buffer, sleeping as long as it takes for one to be
    /// released (`EINTR` on a signal).
    pub fn acquire_wait(&self) -> Result<Buf<'_>> {
        self.acquire_timeout_ns(-1)
    }

    fn acquire_timeout_ns(&self, ns: i64) -> Result<Buf<'_>> {
        // SAFETY: an open handle.
        let p = unsafe { sys::bufpool_acquire_timeout(self.raw.as_ptr(), ns) };
        match NonNull::new(p as *mut u8) {
            Some(ptr) => Ok(Buf {
                pool: self,
                ptr,
                _not_copy: PhantomData,
            }),
            None => Err(Error::last()),
        }
    }

    /// Takes up to `n` buffers into `out` (appended) and returns how many
    /// it took: fewer when the pool ran short, `ENOBUFS` when it had
    /// none. Moves whole runs of the thread's magazine per C call; it
    /// allocates only if `out` lacks the capacity.
    pub fn acquire_bulk<'p>(&'p self, n: usize, out: &mut Vec<Buf<'p>>) -> Result<usize> {
        let mut got = 0;
        let mut ptrs = MaybeUninit::<[*mut c_void; BULK_CHUNK]>::uninit();
        let ptrs = ptrs.as_mut_ptr() as *mut *mut c_void;
        out.reserve(n);
        while got < n {
            let want = (n - got).min(BULK_CHUNK);
            // SAFETY: ptrs has room for want pointers.
            let k = unsafe { sys::bufpool_acquire_bulk(self.raw.as_ptr(), ptrs, want as c_uint) };
            let k = k as usize;
            let err = if k < want { Some(Error::last()) } else { None };
            // SAFETY: the library wrote k buffer addresses (never NULL),
            // each a buffer this handle holds now.
            let taken = unsafe { slice::from_raw_parts(ptrs, k) };
            out.extend(taken.iter().map(|&p| Buf {
                pool: self,
                ptr: unsafe { NonNull::new_unchecked(p as *mut u8) },
                _not_copy: PhantomData,
            }));
            got += k;
            if let Some(e) = err {
                return if got == 0 { Err(e) } else { Ok(got) };
            }
        }
        Ok(got)
    }

    /// Gives back many buffers, whole runs of the thread's magazine per C
    /// call. A buffer of another handle goes back through its own handle.
    /// Should the library refuse one (only a corrupted pool makes it),
    /// the buffers of that call are left taken rather than risk giving
    /// one back twice, and the error is returned.
    pub fn release_bulk<'a, I>(&self, bufs: I) -> Result<()>
    where
        I: IntoIterator<Item = Buf<'a>>,
    {
        let mut ptrs = MaybeUninit::<[*mut c_void; BULK_CHUNK]>::uninit();
        let ptrs = ptrs.as_mut_ptr() as *mut *mut c_void;
        let mut n = 0;
        let mut result = Ok(());
        for buf in bufs {
            if !ptr::eq(buf.pool, self) && buf.pool.raw != self.raw {
                drop(buf);
                continue;
            }
            // SAFETY: n < BULK_CHUNK.
            unsafe { *ptrs.add(n) = ManuallyDrop::new(buf).ptr.as_ptr() as *mut c_void };
            n += 1;
            if n == BULK_CHUNK {
                result = result.and(self.release_ptrs(ptrs, n));
                n = 0;
            }
        }
        result.and(self.release_ptrs(ptrs, n))
    }

    /// Gives back the n buffers at ptrs, whose guards are forgotten.
    fn release_ptrs(&self, ptrs: *const *mut c_void, n: usize) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        // SAFETY: n buffers this handle holds, their guards forgotten.
        let rc = unsafe { sys::bufpool_release_bulk(self.raw.as_ptr(), ptrs, n as c_uint) };
        if rc == 0 {
            Ok(())
        } else {
            Err(Error::last())
        }
    }

    /// Gives what this thread's cache holds back to the pool, for a
    /// thread about to go idle (the cache is also given back when the
    /// thread exits).
    pub fn flush_cache(&self) {
        // SAFETY: an open handle.
        unsafe { sys::bufpool_flush_cache(self.raw.as_ptr()) }
    }

    /// Takes buffer `idx` that a process handed off
    /// ([`Buf::handoff`]): this handle holds it from now on. `EINVAL`
    /// when it is not in transit (never handed off, or adopted first by
    /// someone else) or out of range.
    #[inline]
    pub fn adopt(&self, idx: u32) -> Result<Buf<'_>> {
        // SAFETY: an open handle; the library checks idx.
        if unsafe { sys::bufpool_adopt(self.raw.as_ptr(), idx) } != 0 {
            return Err(Error::last());
        }
        // After a successful adopt this handle alone holds idx.
        Ok(Buf {
            pool: self,
            ptr: self.addr(idx),
            _not_copy: PhantomData,
        })
    }

    /// Hands buffer `idx`, which this handle holds, to whoever will
    /// adopt it: the raw form of [`Buf::handoff`], for an index kept
    /// with [`Buf::into_index`]. `EINVAL` when this handle does not hold
    /// it.
    ///
    /// # Safety
    /// No [`Buf`] for `idx` may be alive in this process: once handed
    /// off, another handle may adopt it and write it.
    #[inline]
    pub unsafe fn handoff_index(&self, idx: u32) -> Result<()> {
        if sys::bufpool_handoff(self.raw.as_ptr(), idx) == 0 {
            Ok(())
        } else {
            Err(Error::last())
        }
    }

    /// The guard of buffer `idx`, which this handle holds without one
    /// (kept with [`Buf::into_index`], or taken through [`sys`]).
    /// `EINVAL` when `idx` is out of range.
    ///
    /// # Safety
    /// This handle holds `idx` and no other [`Buf`] or [`ClassBuf`] for
    /// it is alive: the guard gives it back when dropped and hands out
    /// `&mut [u8]` over it.
    pub unsafe fn from_index(&self, idx: u32) -> Result<Buf<'_>> {
        if idx >= self.count {
            return Err(Error::from_errno(errno::EINVAL));
        }
        Ok(Buf {
            pool: self,
            ptr: self.addr(idx),
            _not_copy: PhantomData,
        })
    }

    /// Gives back buffer `idx`, held by this handle without a guard: the
    /// raw `bufpool_release_index`. `EINVAL` when this handle does not
    /// hold it.
    ///
    /// # Safety
    /// No [`Buf`] for `idx` may be alive: once given back, any thread
    /// may take it again.
    pub unsafe fn release_index(&self, idx: u32) -> Result<()> {
        if sys::bufpool_release_index(self.raw.as_ptr(), idx) == 0 {
            Ok(())
        } else {
            Err(Error::last())
        }
    }

    /// The address of buffer `idx` (< `buf_count`).
    ///
    /// A packed pool shifts, as the C fast path does. A spread pool asks
    /// the C library (`bufpool_addr`): the arithmetic of a spread
    /// stride lives in one place, `struct bp_bufmap` in
    /// `uapi/bufpool/layout.h`, and is not copied here where it could
    /// drift from it.
    #[inline]
    fn addr(&self, idx: u32) -> NonNull<u8> {
        debug_assert!(idx < self.count);
        if self.shift != 0 {
            // SAFETY: within the buffer area, which is mapped while the
            // pool is open; never NULL.
            return unsafe {
                NonNull::new_unchecked(self.base.as_ptr().add((idx as usize) << self.shift))
            };
        }
        // SAFETY: an open handle; NULL only for idx out of range.
        let p = unsafe { sys::bufpool_addr(self.raw.as_ptr(), idx) };
        NonNull::new(p as *mut u8).expect("bufpool_addr of an index in range")
    }

    /// The index of the buffer that contains `ptr` (any byte of it), or
    /// `None` for an address outside the pool's buffers (in a spread
    /// pool, also for the 64 bytes between two buffers).
    #[inline]
    pub fn index_of<T>(&self, ptr: *const T) -> Option<u32> {
        if self.shift != 0 {
            let off = (ptr as usize).wrapping_sub(self.base.as_ptr() as usize);
            return if off < (self.count as usize) << self.shift {
                Some((off >> self.shift) as u32)
            } else {
                None
            };
        }
        // A spread pool: the C library's bp_bufmap, as in addr().
        // SAFETY: an open handle; ptr is only compared, never read.
        let idx = unsafe { sys::bufpool_index(self.raw.as_ptr(), ptr as *const c_void) };
        u32::try_from(idx).ok()
    }

    /// Bytes per buffer.
    #[inline]
    pub fn buf_size(&self) -> usize {
        self.size
    }

    /// Bytes from one buffer's start to the next one's:
    /// [`Pool::buf_size`] for a packed pool, `buf_size + 64` for a
    /// spread one ([`Params::spread`]). Use [`Pool::index_of`] and the
    /// indices rather than arithmetic of your own.
    #[inline]
    pub fn buf_stride(&self) -> usize {
        self.stride
    }

    /// Whether the pool is spread ([`Params::spread`]).
    #[inline]
    pub fn is_spread(&self) -> bool {
        self.stride != self.size
    }

    /// Buffers in the pool.
    #[inline]
    pub fn buf_count(&self) -> u32 {
        self.count
    }

    /// This handle's id in the pool's ownership records.
    pub fn client_id(&self) -> u32 {
        // SAFETY: an open handle.
        unsafe { sys::bufpool_client_id(self.raw.as_ptr()) }
    }

    /// The pool's statistics (no system call).
    pub fn stats(&self) -> Result<Stats> {
        let mut st = sys::bufpool_stats::default();
        // SAFETY: an open handle and a valid out pointer.
        if unsafe { sys::bufpool_stats(self.raw.as_ptr(), &mut st) } != 0 {
            return Err(Error::last());
        }
        Ok(Stats {
            total: st.total,
            free: st.free,
            in_use: st.in_use,
            high_watermark: st.high_watermark,
            acquires: st.acquires,
            releases: st.releases,
            exhausted: st.exhausted,
            reclaimed: st.reclaimed,
            waiters: st.waiters,
            detected: st.detected,
            repairs: st.repairs,
            shared_acquires: st.shared_acquires,
            shared_releases: st.shared_releases,
        })
    }

    /// What was said about the pool when it was opened.
    pub fn info(&self) -> Result<Info> {
        let mut i = sys::bufpool_info::default();
        // SAFETY: an open handle and a valid out pointer of the 1.3 size.
        if unsafe { sys::bufpool_get_info(self.raw.as_ptr(), &mut i) } != 0 {
            return Err(Error::last());
        }
        Ok(Info {
            abi_major: i.abi_version >> 16,
            abi_minor: i.abi_version & 0xffff,
            memfd: i.flags & sys::BUFPOOL_INFO_F_MEMFD != 0,
            hugetlb: i.flags & sys::BUFPOOL_INFO_F_HUGETLB != 0,
            buf_size: i.buf_size,
            buf_stride: if i.buf_stride == 0 {
                i.buf_size
            } else {
                i.buf_stride
            },
            buf_count: i.buf_count,
            numa_node: u32::try_from(i.numa_node).ok(),
            pool_bytes: i.pool_bytes,
            generation: i.generation,
            mag_fill: i.mag_fill,
            nr_caches: i.nr_caches,
            client_id: i.client_id,
            nr_queues: i.nr_queues,
            queue_len: i.queue_len,
            rotating_depot: i.depot_flags & sys::BUFPOOL_DEPOT_ROTATE != 0,
            raw: i,
        })
    }

    /// Has the kernel reconcile the pool now and report. `ENOTTY` for a
    /// module-free pool, `EBUSY` while a client of an older ABI maps it.
    pub fn audit(&self) -> Result<Audit> {
        let mut a = sys::bufpool_audit::default();
        // SAFETY: an open handle and a valid out pointer.
        if unsafe { sys::bufpool_audit(self.raw.as_ptr(), &mut a) } != 0 {
            return Err(Error::last());
        }
        Ok(Audit {
            clients: a.clients,
            buf_count: a.buf_count,
            free: a.free,
            cached: a.cached,
            held: a.held,
            transit: a.transit,
            reclaimed: a.reclaimed,
            repaired: a.repaired,
            legacy: a.legacy,
            generation: a.generation,
            queued: a.queued,
            queues: a.queues,
        })
    }
}

impl Pool {
    /// Has the kernel repair the pool while every client stays open, and
    /// waits for it: what a call that failed with `EUCLEAN` (corruption
    /// another client wrote) asked for already, without waiting. The
    /// kernel spaces repairs and audits (`repair_interval_ms`), so this
    /// may sleep that long. `ENOTTY` for a module-free pool, `EBUSY`
    /// while a client of an older ABI maps it, `EINTR` on a signal.
    pub fn repair(&self) -> Result<()> {
        // SAFETY: an open handle.
        if unsafe { sys::bufpool_repair(self.raw.as_ptr()) } != 0 {
            return Err(Error::last());
        }
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // SAFETY: ours; no Buf borrows it any more. Buffers kept with
        // into_index stay taken, as bufpool_close documents.
        unsafe { sys::bufpool_close(self.raw.as_ptr()) };
    }
}

impl AsFd for Pool {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd()
    }
}

impl AsRawFd for Pool {
    fn as_raw_fd(&self) -> RawFd {
        self.fd().as_raw_fd()
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("buf_size", &self.buf_size())
            .field("buf_stride", &self.stride)
            .field("buf_count", &self.count)
            .field("client_id", &self.client_id())
            .finish()
    }
}

/// A buffer this process holds through a [`Pool`] handle: derefs to its
/// bytes, and gives itself back (`bufpool_release`) when dropped.
pub struct Buf<'p> {
    pool: &'p Pool,
    ptr: NonNull<u8>,
    /// Keeps `Buf` out of auto traits' reach; `Send`/`Sync` are below.
    _not_copy: PhantomData<*mut u8>,
}

// SAFETY: ownership is per handle, not per thread: any thread may give
// a buffer of the handle back (the C library's rule), and &Pool is Send
// because Pool is Sync.
unsafe impl Send for Buf<'_> {}
// SAFETY: &Buf reads the bytes only; the buffer is held exclusively.
unsafe impl Sync for Buf<'_> {}

impl<'p> Buf<'p> {
    /// Its index, the same in every process that maps the pool.
    #[inline]
    pub fn index(&self) -> u32 {
        let pool = self.pool;
        if pool.shift != 0 {
            return ((self.ptr.as_ptr() as usize - pool.base.as_ptr() as usize) >> pool.shift)
                as u32;
        }
        // A spread pool: see Pool::addr.
        pool.index_of(self.ptr.as_ptr())
            .expect("a buffer outside its pool")
    }

    /// The pool handle it belongs to.
    #[inline]
    pub fn pool(&self) -> &'p Pool {
        self.pool
    }

    /// Forgets the guard without giving the buffer back; the handle
    /// still holds it. Get a guard again with [`Pool::from_index`], or
    /// give it back with [`Pool::release_index`]; else it stays taken
    /// until the process (device) or every process (memfd) closes the
    /// pool.
    #[inline]
    pub fn into_index(self) -> u32 {
        let idx = self.index();
        std::mem::forget(self);
        idx
    }

    /// Hands the buffer to whoever will adopt it ([`Pool::adopt`]), in
    /// this process or another, and returns its index to send them. It
    /// then belongs to no process, survives this one's death, and stays
    /// out of the pool until adopted. Fails (`EINVAL`) only when the
    /// handle no longer holds the buffer (the pool's records were
    /// changed behind its back); the buffer is then left alone.
    #[inline]
    pub fn handoff(self) -> Result<u32> {
        let pool = self.pool;
        let idx = self.into_index();
        // SAFETY: the guard is gone, and it was the only one for idx.
        unsafe { pool.handoff_index(idx) }.map(|()| idx)
    }

    /// Gives the buffer back now, reporting an error that `drop` would
    /// ignore (`EINVAL`: the handle no longer holds it).
    pub fn release(self) -> Result<()> {
        let this = ManuallyDrop::new(self);
        // SAFETY: a buffer of this open handle; the guard is gone.
        let rc = unsafe {
            sys::bufpool_release(this.pool.raw.as_ptr(), this.ptr.as_ptr() as *mut c_void)
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(Error::last())
        }
    }

    /// A raw pointer to its first byte.
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// A raw mutable pointer to its first byte.
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Deref for Buf<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: the buffer is mapped while the pool is open, which the
        // borrow guarantees, and held by this guard alone.
        unsafe { slice::from_raw_parts(self.ptr.as_ptr(), self.pool.buf_size()) }
    }
}

impl DerefMut for Buf<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as deref; &mut self makes it exclusive in the process.
        unsafe { slice::from_raw_parts_mut(self.ptr.as_ptr(), self.pool.buf_size()) }
    }
}

impl Drop for Buf<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: a buffer this open handle holds. The only error is
        // EINVAL for a buffer the handle no longer holds, which only a
        // corrupted pool makes; there is nothing to do about it here.
        unsafe { sys::bufpool_release(self.pool.raw.as_ptr(), self.ptr.as_ptr() as *mut c_void) };
    }
}

impl fmt::Debug for Buf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buf")
            .field("index", &self.index())
            .field("len", &self.len())
            .finish()
    }
}

/// A Rust path as the C string `bufpool_open` wants (`EINVAL` for one
/// with a NUL byte).
pub(crate) fn cstring(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::from_errno(errno::EINVAL))
}
