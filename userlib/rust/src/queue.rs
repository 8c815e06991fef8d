// SPDX-License-Identifier: MIT
//! Queues: named FIFOs of buffers in the pool's shared memory
//! (`bufpool_queue_*`, `bufpool_enqueue*`, `bufpool_dequeue*`), and the
//! addressed handoff (`bufpool_handoff_to`), which both move a buffer
//! from one handle to another without a system call.

use std::ffi::CString;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop, MaybeUninit};
use std::os::raw::{c_uint, c_void};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::{fmt, io, ptr, slice};

use crate::{errno, sys, Buf, Error, Pool, Result, BULK_CHUNK};

/// How to open a queue ([`Pool::queue`]): the `BUFPOOL_QUEUE_*` flags
/// and the capacity of `bufpool_queue_open`. All `false` and 0 by
/// default: open an existing queue, in no role (its statistics only).
///
/// ```no_run
/// # use bufpool::{Pool, QueueOptions};
/// # let pool = Pool::open_default().unwrap();
/// let q = pool.queue("jobs", &QueueOptions {
///     create: true,
///     capacity: 256,
///     consume: true,
///     ..QueueOptions::default()
/// })?;
/// # Ok::<(), bufpool::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueOptions {
    /// Create the queue if there is none (`BUFPOOL_QUEUE_CREATE`).
    pub create: bool,
    /// With `create`: fail with `EEXIST` if it exists
    /// (`BUFPOOL_QUEUE_EXCL`; without `create`, `EINVAL`).
    pub exclusive: bool,
    /// When creating: buffers it holds, rounded up to a power of two, at
    /// most the pool's `queue_len` ([`Info::queue_len`]); otherwise
    /// ignored.
    ///
    /// [`Info::queue_len`]: crate::Info::queue_len
    pub capacity: u32,
    /// When creating: one producer at a time, a role taken at open like
    /// the consumer's (`BUFPOOL_QUEUE_SINGLE_PRODUCER`).
    pub single_producer: bool,
    /// This handle enqueues (`BUFPOOL_QUEUE_PRODUCE`).
    pub produce: bool,
    /// This handle is the queue's one consumer (`BUFPOOL_QUEUE_CONSUME`;
    /// `EBUSY` while a live client is).
    pub consume: bool,
}

impl QueueOptions {
    /// The `BUFPOOL_QUEUE_*` flags.
    fn flags(&self) -> c_uint {
        let mut f = 0;
        for (on, bit) in [
            (self.create, sys::BUFPOOL_QUEUE_CREATE),
            (self.exclusive, sys::BUFPOOL_QUEUE_EXCL),
            (self.single_producer, sys::BUFPOOL_QUEUE_SINGLE_PRODUCER),
            (self.produce, sys::BUFPOOL_QUEUE_PRODUCE),
            (self.consume, sys::BUFPOOL_QUEUE_CONSUME),
        ] {
            if on {
                f |= bit;
            }
        }
        f
    }
}

/// A queue's statistics ([`Queue::stats`], no system call).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Buffers it holds at most.
    pub capacity: u64,
    /// Buffers in it now.
    pub depth: u64,
    /// Positions filled since it was made.
    pub enqueued: u64,
    /// Positions consumed since it was made.
    pub dequeued: u64,
    /// Enqueues refused because it was full.
    pub full: u64,
    /// The most buffers in it a producer saw.
    pub high_watermark: u64,
    /// The client id holding the consumer role, if any.
    pub consumer: Option<u32>,
}

/// An open queue of a [`Pool`] handle (`struct bufpool_queue *`),
/// closed on drop (`bufpool_queue_close`, which drops this handle's
/// roles; when the last user of a queue closes it, what it holds goes
/// back to the pool).
///
/// It borrows the `Pool` it was opened on, so the pool cannot be closed
/// under it. `Send + Sync`: any number of threads may enqueue through
/// one `&Queue`; dequeues take turns (the C library allows one at a
/// time), a dequeue that finds another thread of the process dequeuing
/// from this queue fails with `EBUSY` instead of waiting.
pub struct Queue<'p> {
    raw: NonNull<sys::bufpool_queue>,
    pool: &'p Pool,
    name: String,
    /// A thread of this process is inside a dequeue.
    dequeuing: AtomicBool,
}

// SAFETY: the C library lets any thread enqueue on an open queue
// concurrently; dequeues are serialised by `dequeuing`; close runs in
// Drop (or `close`, by value) only, when no borrow is left.
unsafe impl Send for Queue<'_> {}
// SAFETY: as above.
unsafe impl Sync for Queue<'_> {}

/// Holds the queue's dequeue turn until dropped.
struct DequeueTurn<'a>(&'a AtomicBool);

impl Drop for DequeueTurn<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Pool {
    /// Opens the queue called `name` (1 to 31 of `[A-Za-z0-9_.-]`) on
    /// this handle, creating it with `opts.create`. Errors: `EINVAL` (a
    /// bad name, capacity 0 or above the pool's `queue_len` when
    /// creating, `exclusive` without `create`), `ENOENT` (no such queue
    /// and no `create`), `EEXIST`
    /// (`create` and `exclusive`, and it exists), `ENOSPC` (every queue
    /// of the pool in use), `EBUSY` (the consumer or single-producer
    /// role is taken), `EALREADY` (this handle has it open),
    /// `EOPNOTSUPP` (a pool without queues), `ENOMEM`; on a module-free
    /// pool, `EAGAIN` (it lost races with other openers many times over).
    pub fn queue(&self, name: &str, opts: &QueueOptions) -> Result<Queue<'_>> {
        let cname = CString::new(name).map_err(|_| Error::from_errno(errno::EINVAL))?;
        // SAFETY: an open handle and a NUL-terminated name that outlives
        // the call.
        let raw = unsafe {
            sys::bufpool_queue_open(self.as_ptr(), cname.as_ptr(), opts.flags(), opts.capacity)
        };
        let raw = NonNull::new(raw).ok_or_else(Error::last)?;
        Ok(Queue {
            raw,
            pool: self,
            name: name.to_owned(),
            dequeuing: AtomicBool::new(false),
        })
    }

    /// Hands `buf` to one receiver, the client whose
    /// [`Pool::client_id`] is `receiver`: only it can adopt the buffer
    /// ([`Pool::adopt`]), and if it is gone before it adopts, the buffer
    /// goes back to the pool instead of staying out until the pool's
    /// last close. Returns the index to send the receiver.
    ///
    /// Errors, with the buffer given back to the caller in the
    /// [`BufError`]: `ESRCH` when `receiver` is not a live client of the
    /// pool; `EINVAL` for receiver 0, above `BUFPOOL_CLIENT_MAX`, this
    /// handle's own id, or a buffer of another handle.
    pub fn handoff_to<'b>(
        &self,
        buf: Buf<'b>,
        receiver: u32,
    ) -> std::result::Result<u32, BufError<'b>> {
        if !same_pool(buf.pool, self) {
            return Err(BufError::new(Error::from_errno(errno::EINVAL), buf));
        }
        let buf = ManuallyDrop::new(buf);
        let idx = buf.index();
        // SAFETY: buf's guard is kept from dropping; on success it is
        // forgotten, on failure the caller gets it back.
        match unsafe { self.handoff_index_to(idx, receiver) } {
            Ok(()) => Ok(idx),
            Err(e) => Err(BufError::new(e, ManuallyDrop::into_inner(buf))),
        }
    }

    /// The raw form of [`Pool::handoff_to`], for an index this handle
    /// holds without a guard. On `ESRCH` this handle still holds `idx`.
    ///
    /// # Safety
    /// No [`Buf`] for `idx` may be alive in this process past a success:
    /// the receiver may adopt it and write it.
    #[inline]
    pub unsafe fn handoff_index_to(&self, idx: u32, receiver: u32) -> Result<()> {
        if sys::bufpool_handoff_to(self.as_ptr(), idx, receiver) == 0 {
            Ok(())
        } else {
            Err(Error::last())
        }
    }
}

impl<'p> Buf<'p> {
    /// Hands the buffer to the client `receiver` alone: see
    /// [`Pool::handoff_to`].
    #[inline]
    pub fn handoff_to(self, receiver: u32) -> std::result::Result<u32, BufError<'p>> {
        let pool = self.pool;
        pool.handoff_to(self, receiver)
    }
}

/// The buffer of `pool` at `ptr`, a buffer this handle holds now.
#[inline]
fn guard(pool: &Pool, ptr: *mut c_void) -> Buf<'_> {
    Buf {
        pool,
        // SAFETY: the library returned a buffer address, never NULL.
        ptr: unsafe { NonNull::new_unchecked(ptr as *mut u8) },
        _not_copy: PhantomData,
    }
}

/// The same handle (a `Pool` of a [`crate::Classes`] set is reached
/// through another reference than the caller's).
#[inline]
fn same_pool(a: &Pool, b: &Pool) -> bool {
    ptr::eq(a, b) || a.as_ptr() == b.as_ptr()
}

impl<'p> Queue<'p> {
    /// The name it was opened by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pool handle it was opened on.
    pub fn pool(&self) -> &'p Pool {
        self.pool
    }

    /// The raw queue, for the calls of [`sys`]; it stays owned by this
    /// `Queue`.
    pub fn as_ptr(&self) -> *mut sys::bufpool_queue {
        self.raw.as_ptr()
    }

    /// Moves `buf`, which this handle holds, to the queue's tail; the
    /// consumer will hold it next. On error the buffer comes back in the
    /// [`BufError`] (`?` gives it back to the pool): `ENOBUFS` when the
    /// queue is full, `EPERM` when this handle did not open it with
    /// `produce`, `EAGAIN` when it lost a race with other producers many
    /// times over (try again), `EINVAL` for a buffer of another handle,
    /// `EUCLEAN` when the queue's shared words were corrupted.
    #[inline]
    pub fn enqueue<'b>(&self, buf: Buf<'b>) -> std::result::Result<(), BufError<'b>> {
        if !same_pool(buf.pool, self.pool) {
            return Err(BufError::new(Error::from_errno(errno::EINVAL), buf));
        }
        let buf = ManuallyDrop::new(buf);
        // SAFETY: an open queue and a buffer of its handle, whose guard
        // is forgotten if it goes.
        if unsafe { sys::bufpool_enqueue(self.raw.as_ptr(), buf.ptr.as_ptr() as *mut c_void) } == 0
        {
            Ok(())
        } else {
            Err(BufError::new(Error::last(), ManuallyDrop::into_inner(buf)))
        }
    }

    /// Moves buffer `idx`, which this handle holds without a guard, to
    /// the queue's tail. Errors as [`Queue::enqueue`]; on error this
    /// handle still holds `idx`.
    ///
    /// # Safety
    /// No [`Buf`] for `idx` may be alive: once queued, the consumer may
    /// take it and write it.
    #[inline]
    pub unsafe fn enqueue_index(&self, idx: u32) -> Result<()> {
        if sys::bufpool_enqueue_index(self.raw.as_ptr(), idx) == 0 {
            Ok(())
        } else {
            Err(Error::last())
        }
    }

    /// Moves the buffers at the front of `bufs` to the queue, in order,
    /// removing from `bufs` those that went, and returns how many went.
    /// It stops at the first one that cannot go (the queue is full, a
    /// buffer of another handle), which stays in `bufs` with those after
    /// it. `Err` (as [`Queue::enqueue`]) only when none went.
    pub fn enqueue_bulk(&self, bufs: &mut Vec<Buf<'_>>) -> Result<usize> {
        let mut ptrs = MaybeUninit::<[*mut c_void; BULK_CHUNK]>::uninit();
        let ptrs = ptrs.as_mut_ptr() as *mut *mut c_void;
        let mut done = 0;
        let mut err = None;
        while done < bufs.len() {
            let mut want = 0;
            for b in bufs[done..].iter().take(BULK_CHUNK) {
                if !same_pool(b.pool, self.pool) {
                    break;
                }
                // SAFETY: want < BULK_CHUNK.
                unsafe { *ptrs.add(want) = b.ptr.as_ptr() as *mut c_void };
                want += 1;
            }
            if want == 0 {
                err = Some(Error::from_errno(errno::EINVAL));
                break;
            }
            // SAFETY: an open queue and want buffers of its handle.
            let k = unsafe { sys::bufpool_enqueue_bulk(self.raw.as_ptr(), ptrs, want as c_uint) };
            let k = (k as usize).min(want);
            done += k;
            if k < want {
                err = Some(Error::last());
                break;
            }
        }
        // The first `done` went: their guards must not give them back.
        for b in bufs.drain(..done) {
            mem::forget(b);
        }
        match err {
            Some(e) if done == 0 => Err(e),
            _ => Ok(done),
        }
    }

    /// Takes this process's dequeue turn, or `EBUSY`.
    #[inline]
    fn turn(&self) -> Result<DequeueTurn<'_>> {
        if self.dequeuing.swap(true, Ordering::Acquire) {
            return Err(Error::from_errno(errno::EBUSY));
        }
        Ok(DequeueTurn(&self.dequeuing))
    }

    /// Takes the buffer at the queue's head: this handle holds it now.
    /// `EAGAIN` when the queue is empty, `EPERM` when this handle is not
    /// its consumer, `EBUSY` when another thread of this process is
    /// dequeuing from it, `EUCLEAN` when its shared words were
    /// corrupted.
    #[inline]
    pub fn dequeue(&self) -> Result<Buf<'p>> {
        let _turn = self.turn()?;
        // SAFETY: an open queue; the turn makes this the one dequeue.
        let p = unsafe { sys::bufpool_dequeue(self.raw.as_ptr()) };
        if p.is_null() {
            Err(Error::last())
        } else {
            Ok(guard(self.pool, p))
        }
    }

    /// Takes the buffer at the queue's head and returns its index,
    /// without a guard: give it back with [`Pool::release_index`], or
    /// make a guard with [`Pool::from_index`]. Errors as
    /// [`Queue::dequeue`].
    #[inline]
    pub fn dequeue_index(&self) -> Result<u32> {
        let _turn = self.turn()?;
        let mut idx = 0;
        // SAFETY: an open queue and a valid out pointer.
        if unsafe { sys::bufpool_dequeue_index(self.raw.as_ptr(), &mut idx) } == 0 {
            Ok(idx)
        } else {
            Err(Error::last())
        }
    }

    /// Takes up to `n` buffers from the queue's head into `out`
    /// (appended), oldest first, and returns how many: fewer when the
    /// queue ran short, `Err` (as [`Queue::dequeue`]) when it had none.
    pub fn dequeue_bulk(&self, n: usize, out: &mut Vec<Buf<'p>>) -> Result<usize> {
        let _turn = self.turn()?;
        let mut got = 0;
        let mut ptrs = MaybeUninit::<[*mut c_void; BULK_CHUNK]>::uninit();
        let ptrs = ptrs.as_mut_ptr() as *mut *mut c_void;
        out.reserve(n);
        while got < n {
            let want = (n - got).min(BULK_CHUNK);
            // SAFETY: ptrs has room for want pointers.
            let k = unsafe { sys::bufpool_dequeue_bulk(self.raw.as_ptr(), ptrs, want as c_uint) };
            let k = (k as usize).min(want);
            let err = if k < want { Some(Error::last()) } else { None };
            // SAFETY: the library wrote k buffer addresses, each a buffer
            // this handle holds now.
            let taken = unsafe { slice::from_raw_parts(ptrs, k) };
            out.extend(taken.iter().map(|&p| guard(self.pool, p)));
            got += k;
            if let Some(e) = err {
                return if got == 0 { Err(e) } else { Ok(got) };
            }
        }
        Ok(got)
    }

    /// The queue's statistics (no system call).
    pub fn stats(&self) -> Result<QueueStats> {
        let mut st = sys::bufpool_queue_stats::default();
        // SAFETY: an open queue and a valid out pointer.
        if unsafe { sys::bufpool_queue_stats(self.raw.as_ptr(), &mut st) } != 0 {
            return Err(Error::last());
        }
        Ok(QueueStats {
            capacity: st.capacity,
            depth: st.depth,
            enqueued: st.enqueued,
            dequeued: st.dequeued,
            full: st.full,
            high_watermark: st.high_watermark,
            consumer: if st.consumer == 0 {
                None
            } else {
                Some(st.consumer)
            },
        })
    }

    /// Closes it now, reporting an error that `drop` would ignore.
    pub fn close(self) -> Result<()> {
        let this = ManuallyDrop::new(self);
        // SAFETY: ours, open; the wrapper is gone. Its name is freed here.
        let rc = unsafe { sys::bufpool_queue_close(this.raw.as_ptr()) };
        let err = if rc == 0 { None } else { Some(Error::last()) };
        // SAFETY: read once, never used again.
        drop(unsafe { ptr::read(&this.name) });
        match err {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

impl Drop for Queue<'_> {
    fn drop(&mut self) {
        // SAFETY: ours, open, and no borrow of it is left.
        unsafe { sys::bufpool_queue_close(self.raw.as_ptr()) };
    }
}

impl fmt::Debug for Queue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue").field("name", &self.name).finish()
    }
}

/// The error of a call that takes a [`Buf`] ([`Queue::enqueue`],
/// [`Pool::handoff_to`]) and failed: the errno, and the buffer, which
/// the caller still holds. Dropping it gives the buffer back to the
/// pool; `?` converts it into [`Error`] or [`std::io::Error`] that way.
pub struct BufError<'b> {
    error: Error,
    buf: Buf<'b>,
}

impl<'b> BufError<'b> {
    fn new(error: Error, buf: Buf<'b>) -> BufError<'b> {
        BufError { error, buf }
    }

    /// What went wrong.
    pub fn error(&self) -> Error {
        self.error
    }

    /// The buffer, still held.
    pub fn buf(&self) -> &Buf<'b> {
        &self.buf
    }

    /// Takes the buffer back.
    pub fn into_buf(self) -> Buf<'b> {
        self.buf
    }

    /// The error and the buffer.
    pub fn into_parts(self) -> (Error, Buf<'b>) {
        (self.error, self.buf)
    }
}

impl fmt::Display for BufError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl fmt::Debug for BufError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufError")
            .field("error", &self.error)
            .field("buf", &self.buf.index())
            .finish()
    }
}

impl std::error::Error for BufError<'_> {}

impl From<BufError<'_>> for Error {
    fn from(e: BufError<'_>) -> Error {
        e.error
    }
}

impl From<BufError<'_>> for io::Error {
    fn from(e: BufError<'_>) -> io::Error {
        e.error.into()
    }
}
