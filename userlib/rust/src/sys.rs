// SPDX-License-Identifier: MIT
//! The C API of `libbufpool-user`, as `userlib/bufpool.h` and
//! `uapi/linux/bufpool.h` declare it: raw declarations for the safe
//! wrappers of this crate, and for programs that want the C calls as
//! they are (the benchmark compares both).
//!
//! Every function here is `unsafe`: a handle must be one that
//! `bufpool_open`, `bufpool_open_fd` or `bufpool_create` returned and
//! that is not closed (several of them dereference it without a NULL
//! check), and pointers must be valid for what the C header says.
#![allow(non_camel_case_types, missing_docs)]

use std::os::raw::{c_char, c_int, c_uint, c_void};

/// `struct bufpool`: opaque, private to the library.
#[repr(C)]
pub struct bufpool {
    _private: [u8; 0],
}

/// `struct bufpool_classes`: opaque, private to the library.
#[repr(C)]
pub struct bufpool_classes {
    _private: [u8; 0],
}

/// `struct bufpool_params`: the geometry of a module-free pool.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct bufpool_params {
    pub buf_size: usize,
    pub buf_count: u32,
    pub caches: u32,
    pub flags: c_uint,
    /// ABI 1.6, in what was padding: buffers per magazine, read only
    /// when `flags` has `BUFPOOL_F_MAG_SIZE`.
    pub mag_size: u32,
}

pub const BUFPOOL_F_NO_HUGETLB: c_uint = 1 << 0;
pub const BUFPOOL_F_NO_CACHE: c_uint = 1 << 1;
/// `mag_size` is set (library 1.6).
pub const BUFPOOL_F_MAG_SIZE: c_uint = 1 << 2;
/// Spread the buffers (library 1.8): each starts a cache line
/// (`BUFPOOL_SPREAD_PAD`) after the end of the one before.
pub const BUFPOOL_F_SPREAD: c_uint = 1 << 3;
/// Rotate the depot (library 1.9): full magazines come back about a
/// round of the depot after they were given.
pub const BUFPOOL_F_ROTATE: c_uint = 1 << 4;
/// `info.depot_flags`: the pool's depot rotates (ABI 1.9).
pub const BUFPOOL_DEPOT_ROTATE: u32 = 1;

/// `BUFPOOL_CHUNK_SIZE`: the buffer area is made of chunks this size;
/// a packed pool's buffers never cross one.
pub const BUFPOOL_CHUNK_SIZE: u32 = 2 << 20;
/// `BUFPOOL_SPREAD_PAD`: a spread pool's stride is `buf_size` plus this.
pub const BUFPOOL_SPREAD_PAD: u32 = 64;

/// `BUFPOOL_MAG_CAP`: the most buffers a magazine holds by default, and
/// at all for a client older than ABI 1.6.
pub const BUFPOOL_MAG_CAP: u32 = 63;
/// `BUFPOOL_MAG_MAX`: the most buffers a magazine may hold (ABI 1.6).
pub const BUFPOOL_MAG_MAX: u32 = 1023;

/// `struct bufpool_stats`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct bufpool_stats {
    pub total: u64,
    pub free: u64,
    pub in_use: u64,
    pub high_watermark: u64,
    pub acquires: u64,
    pub releases: u64,
    pub exhausted: u64,
    pub reclaimed: u64,
    pub waiters: u64,
    pub detected: u64,
    pub repairs: u64,
    pub shared_acquires: u64,
    pub shared_releases: u64,
    pub __reserved: [u64; 3],
}

/// `struct bufpool_info` of ABI 1.3 (`BUFPOOL_INFO_SIZE_VER3`, 176
/// bytes), what the library's default `bufpool_get_info` fills.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct bufpool_info {
    pub size: u32,
    pub abi_version: u32,
    pub flags: u32,
    /// log2(buf_size); 0 for a spread pool (ABI 1.8).
    pub buf_shift: u32,
    pub buf_size: u32,
    pub buf_count: u32,
    pub numa_node: i32,
    /// ABI 1.8, in what was padding: bytes from one buffer's start to
    /// the next one's; `buf_size`, or `buf_size + 64` for a spread pool
    /// (`bufpool_buf_offset()`).
    pub buf_stride: u32,
    pub pool_bytes: u64,
    pub ctrl_offset: u64,
    pub ctrl_size: u64,
    pub next_offset: u64,
    pub bufs_offset: u64,
    pub bufs_size: u64,
    pub generation: u64,
    pub mag_fill: u32,
    pub nr_mags: u32,
    pub nr_caches: u32,
    /// `BUFPOOL_DEPOT_*` (ABI 1.9; padding before).
    pub depot_flags: u32,
    pub mag_next_offset: u64,
    pub mags_offset: u64,
    pub caches_offset: u64,
    pub own_offset: u64,
    pub client_id: u32,
    pub __pad2: u32,
    // ABI 1.3: queues and the live-client map.
    pub nr_queues: u32,
    pub queue_len: u32,
    pub queues_offset: u64,
    pub qslots_offset: u64,
    pub live_offset: u64,
}

pub const BUFPOOL_INFO_F_MEMFD: u32 = 0x1;
pub const BUFPOOL_INFO_F_HUGETLB: u32 = 0x2;
pub const BUFPOOL_INFO_SIZE_VER2: usize = 144;
pub const BUFPOOL_INFO_SIZE_VER3: usize = 176;

/// `struct bufpool_audit` of ABI 1.3 (`BUFPOOL_AUDIT_SIZE_VER1`, 56
/// bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct bufpool_audit {
    pub size: u32,
    pub clients: u32,
    pub buf_count: u32,
    pub free: u32,
    pub cached: u32,
    pub held: u32,
    pub transit: u32,
    pub reclaimed: u32,
    pub repaired: u32,
    pub legacy: u32,
    pub generation: u64,
    // ABI 1.3
    pub queued: u32,
    pub queues: u32,
}

pub const BUFPOOL_AUDIT_SIZE_VER0: usize = 48;
pub const BUFPOOL_AUDIT_SIZE_VER1: usize = 56;

/// `struct bufpool_queue` of the C library: an open queue, opaque,
/// private to the library (the ABI's shared descriptor is
/// `struct bufpool_qdesc`).
#[repr(C)]
pub struct bufpool_queue {
    _private: [u8; 0],
}

pub const BUFPOOL_QUEUE_CREATE: c_uint = 0x01;
pub const BUFPOOL_QUEUE_EXCL: c_uint = 0x02;
pub const BUFPOOL_QUEUE_SINGLE_PRODUCER: c_uint = 0x04;
pub const BUFPOOL_QUEUE_PRODUCE: c_uint = 0x10;
pub const BUFPOOL_QUEUE_CONSUME: c_uint = 0x20;

/// With the NUL: queue names are 1 to 31 bytes.
pub const BUFPOOL_QUEUE_NAME_MAX: usize = 32;

/// `struct bufpool_queue_stats`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct bufpool_queue_stats {
    pub capacity: u64,
    pub depth: u64,
    pub enqueued: u64,
    pub dequeued: u64,
    pub full: u64,
    pub high_watermark: u64,
    pub consumer: u32,
    pub __reserved0: u32,
    pub __reserved: [u64; 6],
}

/// `BUFPOOL_CLIENT_MAX`: client ids are 1 to this.
pub const BUFPOOL_CLIENT_MAX: u32 = 0xffff;

/// `BUFPOOL_DEV_PATH`.
pub const BUFPOOL_DEV_PATH: &str = "/dev/bufpool";

// The layouts above are the ABI's: a mismatch fails the build.
const _: () = assert!(std::mem::size_of::<bufpool_info>() == BUFPOOL_INFO_SIZE_VER3);
const _: () = assert!(std::mem::size_of::<bufpool_audit>() == BUFPOOL_AUDIT_SIZE_VER1);
const _: () = assert!(std::mem::size_of::<bufpool_stats>() == 16 * 8);
const _: () = assert!(std::mem::size_of::<bufpool_queue_stats>() == 13 * 8);
// On 64-bit, mag_size took the padding after flags: the size is that
// of ABI 1.5, so a 1.5 caller's struct is still whole.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<bufpool_params>() == 24);
#[cfg(target_pointer_width = "32")]
const _: () = assert!(std::mem::size_of::<bufpool_params>() == 20);

extern "C" {
    pub fn bufpool_open(path: *const c_char) -> *mut bufpool;
    pub fn bufpool_create(params: *const bufpool_params) -> *mut bufpool;
    pub fn bufpool_open_fd(fd: c_int) -> *mut bufpool;
    pub fn bufpool_fd(pool: *const bufpool) -> c_int;
    pub fn bufpool_close(pool: *mut bufpool) -> c_int;

    pub fn bufpool_acquire(pool: *mut bufpool) -> *mut c_void;
    pub fn bufpool_release(pool: *mut bufpool, buf: *mut c_void) -> c_int;
    pub fn bufpool_acquire_timeout(pool: *mut bufpool, timeout_ns: i64) -> *mut c_void;
    pub fn bufpool_acquire_index_timeout(
        pool: *mut bufpool,
        idx: *mut u32,
        timeout_ns: i64,
    ) -> c_int;
    pub fn bufpool_acquire_bulk(pool: *mut bufpool, bufs: *mut *mut c_void, n: c_uint) -> c_uint;
    pub fn bufpool_release_bulk(pool: *mut bufpool, bufs: *const *mut c_void, n: c_uint) -> c_int;
    pub fn bufpool_flush_cache(pool: *mut bufpool);
    pub fn bufpool_acquire_index(pool: *mut bufpool, idx: *mut u32) -> c_int;
    pub fn bufpool_release_index(pool: *mut bufpool, idx: u32) -> c_int;

    pub fn bufpool_handoff(pool: *mut bufpool, idx: u32) -> c_int;
    pub fn bufpool_adopt(pool: *mut bufpool, idx: u32) -> c_int;
    pub fn bufpool_handoff_to(pool: *mut bufpool, idx: u32, receiver: u32) -> c_int;

    pub fn bufpool_queue_open(
        pool: *mut bufpool,
        name: *const c_char,
        flags: c_uint,
        capacity: u32,
    ) -> *mut bufpool_queue;
    pub fn bufpool_queue_close(q: *mut bufpool_queue) -> c_int;
    pub fn bufpool_enqueue(q: *mut bufpool_queue, buf: *mut c_void) -> c_int;
    pub fn bufpool_dequeue(q: *mut bufpool_queue) -> *mut c_void;
    pub fn bufpool_enqueue_index(q: *mut bufpool_queue, idx: u32) -> c_int;
    pub fn bufpool_dequeue_index(q: *mut bufpool_queue, idx: *mut u32) -> c_int;
    pub fn bufpool_enqueue_bulk(
        q: *mut bufpool_queue,
        bufs: *const *mut c_void,
        n: c_uint,
    ) -> c_uint;
    pub fn bufpool_dequeue_bulk(q: *mut bufpool_queue, bufs: *mut *mut c_void, n: c_uint)
        -> c_uint;
    pub fn bufpool_queue_stats(q: *mut bufpool_queue, st: *mut bufpool_queue_stats) -> c_int;

    pub fn bufpool_audit(pool: *mut bufpool, audit: *mut bufpool_audit) -> c_int;
    pub fn bufpool_repair(pool: *mut bufpool) -> c_int;
    pub fn bufpool_stats(pool: *mut bufpool, st: *mut bufpool_stats) -> c_int;

    pub fn bufpool_classes_open(paths: *const *const c_char, n: c_uint) -> *mut bufpool_classes;
    pub fn bufpool_classes_acquire(cls: *mut bufpool_classes, size: usize) -> *mut c_void;
    pub fn bufpool_classes_release(cls: *mut bufpool_classes, buf: *mut c_void) -> c_int;
    pub fn bufpool_classes_pool(cls: *const bufpool_classes, i: c_uint) -> *mut bufpool;
    pub fn bufpool_classes_close(cls: *mut bufpool_classes);

    pub fn bufpool_client_id(pool: *const bufpool) -> u32;
    pub fn bufpool_addr(pool: *const bufpool, idx: u32) -> *mut c_void;
    pub fn bufpool_index(pool: *const bufpool, ptr: *const c_void) -> i64;
    pub fn bufpool_buf_size(pool: *const bufpool) -> usize;
    pub fn bufpool_buf_count(pool: *const bufpool) -> u32;
    pub fn bufpool_get_info(pool: *const bufpool, info: *mut bufpool_info) -> c_int;
}
