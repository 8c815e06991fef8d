// SPDX-License-Identifier: MIT
//! The error of every fallible call: the `errno` the C library set.

use std::fmt;
use std::io;

/// The `errno` values the C API documents (`userlib/bufpool.h`), as
/// Linux numbers them on x86-64 and the other architectures of
/// `asm-generic/errno.h`.
pub mod errno {
    /// An argument is wrong, or the buffer is not held by this handle.
    pub const EINVAL: i32 = 22;
    /// No free buffer: the pool is exhausted.
    pub const ENOBUFS: i32 = 105;
    /// Every per-thread cache of the pool is taken by other threads.
    pub const EUSERS: i32 = 87;
    /// The library and the module speak different ABI majors.
    pub const EPROTO: i32 = 71;
    /// A timed acquire found no buffer in time.
    pub const ETIMEDOUT: i32 = 110;
    /// The shared free list was found corrupted.
    pub const EUCLEAN: i32 = 117;
    /// The file is not a bufpool device, or (audit) the pool has no module.
    pub const ENOTTY: i32 = 25;
    /// A timed acquire was interrupted by a signal.
    pub const EINTR: i32 = 4;
    /// Audit: a client of an older ABI maps the pool.
    pub const EBUSY: i32 = 16;
    /// No such file; size classes: no class pool.
    pub const ENOENT: i32 = 2;
    /// Not an open file descriptor.
    pub const EBADF: i32 = 9;
    /// The pool's node may not be opened by this process.
    pub const EACCES: i32 = 13;
    /// Out of memory.
    pub const ENOMEM: i32 = 12;
    /// Handoff to a receiver that is not a live client of the pool.
    pub const ESRCH: i32 = 3;
    /// Queues: empty (dequeue), or an enqueue lost a race with other
    /// producers many times over (nothing moved: try again).
    pub const EAGAIN: i32 = 11;
    /// Queues: the handle did not open the queue for that role.
    pub const EPERM: i32 = 1;
    /// Queues: exclusive create of a queue that exists.
    pub const EEXIST: i32 = 17;
    /// Queues: every queue of the pool is in use.
    pub const ENOSPC: i32 = 28;
    /// Queues: this handle has the queue open already.
    pub const EALREADY: i32 = 114;
    /// Queues: the pool has none.
    pub const EOPNOTSUPP: i32 = 95;
}

#[cfg(not(target_os = "linux"))]
compile_error!("bufpool is a Linux library");
#[cfg(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc",
    target_arch = "sparc64"
))]
compile_error!("the errno values of bufpool::errno are those of asm-generic");

/// What went wrong: the `errno` of the failed C call.
///
/// Converts into [`std::io::Error`] (`?` in a function returning
/// `io::Result`), and prints what the C API says the number means.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error {
    errno: i32,
}

/// `Result<T, bufpool::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The error for `errno`.
    pub const fn from_errno(errno: i32) -> Error {
        Error { errno }
    }

    /// The calling thread's `errno`, right after a C call failed.
    pub(crate) fn last() -> Error {
        // A C call that fails always sets errno; 0 would be a bug there,
        // reported as EIO rather than as success.
        let e = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        Error {
            errno: if e > 0 { e } else { 5 },
        }
    }

    /// The `errno` value.
    pub const fn errno(&self) -> i32 {
        self.errno
    }

    /// `ENOBUFS`: the pool had no free buffer (or, enqueue: the queue
    /// was full).
    pub const fn is_exhausted(&self) -> bool {
        self.errno == errno::ENOBUFS
    }

    /// `ETIMEDOUT`: a timed acquire found no buffer in time.
    pub const fn is_timeout(&self) -> bool {
        self.errno == errno::ETIMEDOUT
    }

    /// The symbolic name of the documented errnos (`"ENOBUFS"`), else `None`.
    pub fn name(&self) -> Option<&'static str> {
        Some(match self.errno {
            errno::EINVAL => "EINVAL",
            errno::ENOBUFS => "ENOBUFS",
            errno::EUSERS => "EUSERS",
            errno::EPROTO => "EPROTO",
            errno::ETIMEDOUT => "ETIMEDOUT",
            errno::EUCLEAN => "EUCLEAN",
            errno::ENOTTY => "ENOTTY",
            errno::EINTR => "EINTR",
            errno::EBUSY => "EBUSY",
            errno::ENOENT => "ENOENT",
            errno::EBADF => "EBADF",
            errno::EACCES => "EACCES",
            errno::ENOMEM => "ENOMEM",
            errno::ESRCH => "ESRCH",
            errno::EAGAIN => "EAGAIN",
            errno::EPERM => "EPERM",
            errno::EEXIST => "EEXIST",
            errno::ENOSPC => "ENOSPC",
            errno::EALREADY => "EALREADY",
            errno::EOPNOTSUPP => "EOPNOTSUPP",
            _ => return None,
        })
    }

    /// What the C API says this errno means for a pool, if it says so.
    fn meaning(&self) -> Option<&'static str> {
        Some(match self.errno {
            errno::ENOBUFS => "no free buffer in the pool, or no room in the queue",
            errno::EUSERS => {
                "every per-thread cache of the pool is taken (raise the pool's caches)"
            }
            errno::EPROTO => "the library and the module speak different ABI majors",
            errno::ETIMEDOUT => "no buffer was released in time",
            errno::EUCLEAN => "the pool's shared free list or queue was found corrupted",
            errno::EINVAL => "invalid argument, or a buffer this handle does not hold",
            errno::ENOTTY => "not a bufpool device (or no module behind the pool)",
            errno::ESRCH => "the receiver is not a live client of the pool",
            errno::EAGAIN => "the queue is empty, or the enqueue lost too many races (try again)",
            errno::EPERM => "the queue was not opened for that role",
            errno::EOPNOTSUPP => "the pool has no queues",
            _ => return None,
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.meaning(), self.name()) {
            (Some(m), Some(n)) => write!(f, "{} ({})", m, n),
            _ => write!(f, "{}", io::Error::from_raw_os_error(self.errno)),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("errno", &self.errno);
        if let Some(n) = self.name() {
            d.field("name", &n);
        }
        d.finish()
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::from_raw_os_error(e.errno)
    }
}
