// SPDX-License-Identifier: MIT
//! Size classes: a set of pools of different buffer sizes used as one
//! (`bufpool_classes_*`; the pools `bufpool-sizes` configures,
//! `/dev/bufpool-cSIZE`).

use std::ffi::CString;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::os::raw::{c_char, c_uint, c_void};
use std::path::Path;
use std::ptr::NonNull;
use std::{fmt, ptr, slice};

use crate::{cstring, errno, sys, Buf, Error, Pool, Result};

/// A set of pools, one per buffer size, closed on drop
/// (`bufpool_classes_close`). `Send + Sync`, like [`Pool`].
pub struct Classes {
    raw: NonNull<sys::bufpool_classes>,
    /// The class pools, by ascending size; the set owns their handles.
    pools: Vec<ManuallyDrop<Pool>>,
}

// SAFETY: bufpool_classes_acquire and _release only read the set and
// call the pools' thread-safe functions; close runs in Drop only.
unsafe impl Send for Classes {}
// SAFETY: as above.
unsafe impl Sync for Classes {}

impl Classes {
    /// Opens the pools at `paths` (at most 16, one per buffer size).
    /// Errors: those of [`Pool::open`]; `ENOENT` for no path, `EINVAL`
    /// for more than 16 or two pools of one size.
    pub fn open<P: AsRef<Path>>(paths: &[P]) -> Result<Classes> {
        let paths = paths
            .iter()
            .map(|p| cstring(p.as_ref()))
            .collect::<Result<Vec<CString>>>()?;
        let ptrs: Vec<*const c_char> = paths.iter().map(|p| p.as_ptr()).collect();
        let n = c_uint::try_from(ptrs.len()).map_err(|_| Error::from_errno(errno::EINVAL))?;
        // SAFETY: n NUL-terminated strings that outlive the call.
        Classes::from_raw(unsafe { sys::bufpool_classes_open(ptrs.as_ptr(), n) })
    }

    /// Opens every `/dev/bufpool-cSIZE` there is; `ENOENT` when there is
    /// none.
    pub fn open_all() -> Result<Classes> {
        // SAFETY: NULL paths: the library looks in /dev.
        Classes::from_raw(unsafe { sys::bufpool_classes_open(ptr::null(), 0) })
    }

    fn from_raw(raw: *mut sys::bufpool_classes) -> Result<Classes> {
        let raw = NonNull::new(raw).ok_or_else(Error::last)?;
        let mut set = Classes {
            raw,
            pools: Vec::new(),
        };
        let mut i = 0;
        loop {
            // SAFETY: an open set; NULL past the last class.
            let p = unsafe { sys::bufpool_classes_pool(raw.as_ptr(), i) };
            let p = match NonNull::new(p) {
                Some(p) => p,
                None => break,
            };
            // SAFETY: the set keeps the pool open until it is closed,
            // after the pools' wrappers are gone (never dropped: the set
            // closes them).
            set.pools
                .push(ManuallyDrop::new(unsafe { Pool::from_handle(p) }?));
            i += 1;
        }
        Ok(set)
    }

    /// A buffer of the smallest class that holds `size` bytes, or of the
    /// next larger when that one is empty. `EINVAL` for a size no class
    /// holds, `ENOBUFS` when every class that would do is empty.
    #[inline]
    pub fn acquire(&self, size: usize) -> Result<ClassBuf<'_>> {
        // SAFETY: an open set.
        let p = unsafe { sys::bufpool_classes_acquire(self.raw.as_ptr(), size) };
        let ptr = NonNull::new(p as *mut u8).ok_or_else(Error::last)?;
        let class = self
            .class_of(ptr.as_ptr())
            .expect("a class buffer outside every class");
        Ok(ClassBuf {
            classes: self,
            ptr,
            class,
            _not_copy: PhantomData,
        })
    }

    /// How many classes.
    pub fn len(&self) -> usize {
        self.pools.len()
    }

    /// Whether there is no class (never, for an open set).
    pub fn is_empty(&self) -> bool {
        self.pools.is_empty()
    }

    /// The pool of class `i` (ascending sizes): for statistics, and to
    /// hand buffers off ([`ClassBuf::into_buf`]).
    pub fn pool(&self, i: usize) -> Option<&Pool> {
        self.pools.get(i).map(|p| &**p)
    }

    /// The class whose buffers hold `ptr`, if any.
    pub fn class_of<T>(&self, ptr: *const T) -> Option<usize> {
        self.pools.iter().position(|p| p.index_of(ptr).is_some())
    }
}

impl Drop for Classes {
    fn drop(&mut self) {
        // SAFETY: ours; no ClassBuf or &Pool of it is alive any more.
        unsafe { sys::bufpool_classes_close(self.raw.as_ptr()) };
    }
}

impl fmt::Debug for Classes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sizes: Vec<usize> = self.pools.iter().map(|p| p.buf_size()).collect();
        f.debug_struct("Classes").field("sizes", &sizes).finish()
    }
}

/// A buffer of a size class: derefs to its bytes (the class's whole
/// buffer, at least the size asked), and gives itself back
/// (`bufpool_classes_release`) when dropped.
pub struct ClassBuf<'c> {
    classes: &'c Classes,
    ptr: NonNull<u8>,
    class: usize,
    _not_copy: PhantomData<*mut u8>,
}

// SAFETY: as Buf: ownership is per handle, not per thread.
unsafe impl Send for ClassBuf<'_> {}
// SAFETY: &ClassBuf reads the bytes only.
unsafe impl Sync for ClassBuf<'_> {}

impl<'c> ClassBuf<'c> {
    /// Its class (an index into the set, ascending sizes).
    pub fn class(&self) -> usize {
        self.class
    }

    /// The pool of its class.
    pub fn pool(&self) -> &'c Pool {
        &self.classes.pools[self.class]
    }

    /// Its index in its class's pool.
    pub fn index(&self) -> u32 {
        self.pool()
            .index_of(self.ptr.as_ptr())
            .expect("a class buffer outside its class")
    }

    /// The same buffer as a [`Buf`] of its class's pool, for
    /// [`Buf::handoff`] and the index forms.
    pub fn into_buf(self) -> Buf<'c> {
        let this = ManuallyDrop::new(self);
        Buf {
            pool: this.pool(),
            ptr: this.ptr,
            _not_copy: PhantomData,
        }
    }
}

impl Deref for ClassBuf<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: mapped while the set is open, held by this guard alone.
        unsafe { slice::from_raw_parts(self.ptr.as_ptr(), self.pool().buf_size()) }
    }
}

impl DerefMut for ClassBuf<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as deref; &mut self makes it exclusive in the process.
        unsafe { slice::from_raw_parts_mut(self.ptr.as_ptr(), self.pool().buf_size()) }
    }
}

impl Drop for ClassBuf<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: a buffer of this open set that its class's handle holds.
        unsafe {
            sys::bufpool_classes_release(
                self.classes.raw.as_ptr(),
                self.ptr.as_ptr() as *mut c_void,
            )
        };
    }
}

impl fmt::Debug for ClassBuf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClassBuf")
            .field("class", &self.class)
            .field("index", &self.index())
            .field("len", &self.len())
            .finish()
    }
}
