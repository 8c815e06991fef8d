// SPDX-License-Identifier: MIT
//! The Rust twin of userlib/examples/bufpool_pipeline.c: a producer
//! process and consumer processes sharing one pool. The producer takes a
//! buffer, writes a checksummed message into it and moves it to a
//! consumer through one of the pool's queues (one queue per consumer, in
//! the pool's shared memory: no pipe, no system call); the consumer, a
//! client of the pool in its own right, checks the message and gives the
//! buffer back. A buffer is always the producer's, queued, or the
//! consumer's: whoever dies, nothing is lost. At the end the queues'
//! statistics are printed and the pool is audited: every buffer must be
//! free again.
//!
//! usage: pipeline [--path DEV] [--messages N] [--consumers C]
//!
//! Without --path: /dev/bufpool, or a module-free pool when there is no
//! module (the consumers then open it through its inherited fd).

use std::io::Write;
use std::os::raw::c_int;
use std::process::exit;
use std::time::Instant;

use bufpool::{errno, Buf, Error, Pool, Queue, QueueOptions, DEV_PATH};

const MAX_CONSUMERS: usize = 16;
const BATCH: usize = 64;
const QUEUE_CAP: u32 = 256;
/// The last message's seq.
const END_OF_STREAM: u64 = u64::MAX;
/// seq: u64, len: u32, sum: u32, then the payload.
const HDR: usize = 16;

extern "C" {
    fn fork() -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn _exit(status: c_int) -> !;
}

fn fill(p: &mut [u8], seq: u64) -> u32 {
    let mut x = (seq as u32).wrapping_mul(2654435761).wrapping_add(1);
    let mut sum = 0u32;
    for b in p {
        x = x.wrapping_mul(1664525).wrapping_add(1013904223);
        *b = (x >> 24) as u8;
        sum = sum.wrapping_mul(31).wrapping_add(u32::from(*b));
    }
    sum
}

fn checksum(p: &[u8]) -> u32 {
    p.iter()
        .fold(0u32, |s, &b| s.wrapping_mul(31).wrapping_add(u32::from(b)))
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[off..off + 8]);
    u64::from_ne_bytes(w)
}

/// A consumer process, forked by the producer: it opens the pool as a
/// client of its own (a device pool by its path; a module-free pool
/// through the inherited descriptor) and its queue as the consumer.
/// Returns the exit status: 0 when every message checked out.
fn consume(pool: &Pool, qname: &str, id: usize) -> i32 {
    let (mut msgs, mut bad, mut bytes, mut idle) = (0u64, 0u64, 0u64, 0u64);
    let opts = QueueOptions {
        consume: true,
        ..QueueOptions::default()
    };
    let q = match pool.queue(qname, &opts) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("consumer {}: queue {}: {}", id, qname, e);
            return 1;
        }
    };
    let mut bufs: Vec<Buf<'_>> = Vec::with_capacity(BATCH);
    let mut done = false;
    while !done {
        match q.dequeue_bulk(BATCH, &mut bufs) {
            Ok(_) => {}
            Err(e) if e.errno() == errno::EAGAIN => {
                idle += 1;
                std::thread::yield_now();
                continue;
            }
            Err(e) => {
                eprintln!("consumer {}: dequeue: {}", id, e);
                bad += 1;
                break;
            }
        }
        for buf in bufs.drain(..) {
            let seq = u64_at(&buf, 0);
            let len = u32_at(&buf, 8) as usize;
            if seq == END_OF_STREAM {
                done = true;
            } else if len > buf.len() - HDR || checksum(&buf[HDR..HDR + len]) != u32_at(&buf, 12) {
                bad += 1;
            } else {
                bytes += len as u64;
            }
            msgs += u64::from(seq != END_OF_STREAM);
            if buf.release().is_err() {
                bad += 1;
            }
        }
    }
    println!(
        "consumer {} (pid {}, client {}): {} messages checked, {} bad, {:.1} MiB of payload, queue empty {} times",
        id,
        std::process::id(),
        pool.client_id(),
        msgs,
        bad,
        bytes as f64 / 1048576.0,
        idle
    );
    let _ = std::io::stdout().flush();
    drop(q);
    i32::from(bad != 0)
}

/// Moves `buf` to `q`, waiting for room while the consumer catches up.
fn send(q: &Queue<'_>, mut buf: Buf<'_>, full: &mut u64) -> Result<(), Error> {
    loop {
        match q.enqueue(buf) {
            Ok(()) => return Ok(()),
            Err(e) if matches!(e.error().errno(), errno::ENOBUFS | errno::EAGAIN) => {
                *full += 1;
                buf = e.into_buf();
                std::thread::yield_now();
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn usage(prog: &str) -> ! {
    eprintln!(
        "usage: {} [--path DEV] [--messages N] [--consumers C]",
        prog
    );
    exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mut path, mut messages, mut nconsumers) = (None, 100_000u64, 2usize);
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).unwrap_or_else(|| usage(&args[0]));
        match args[i].as_str() {
            "--path" | "-p" => path = Some(value.clone()),
            "--messages" | "-n" => messages = value.parse().unwrap_or_else(|_| usage(&args[0])),
            "--consumers" | "-c" => nconsumers = value.parse().unwrap_or_else(|_| usage(&args[0])),
            _ => usage(&args[0]),
        }
        i += 2;
    }
    if !(1..=MAX_CONSUMERS).contains(&nconsumers) || messages == 0 {
        eprintln!("consumers must be 1..{}, messages > 0", MAX_CONSUMERS);
        exit(2);
    }

    let opened = match &path {
        Some(p) => Pool::open(p),
        None => Pool::open_default(),
    };
    let pool = opened.unwrap_or_else(|e| {
        eprintln!("open {}: {}", path.as_deref().unwrap_or(DEV_PATH), e);
        exit(1)
    });
    let info = pool.info().expect("info");
    println!(
        "pool {}: {} buffers x {} B, {} MiB, ABI {}.{}, {}",
        if info.memfd {
            "(memfd)"
        } else {
            path.as_deref().unwrap_or(DEV_PATH)
        },
        info.buf_count,
        info.buf_size,
        info.pool_bytes >> 20,
        info.abi_major,
        info.abi_minor,
        match (info.memfd, info.hugetlb) {
            (false, _) => "pinned by bufpool.ko",
            (true, true) => "no module: memfd in hugetlb pages",
            (true, false) => "no module: memfd",
        }
    );
    println!(
        "per-thread caches: {}, magazines of {} buffers",
        info.nr_caches, info.mag_fill
    );
    println!(
        "producer (pid {}, client {}) -> {} consumer processes through {} queues of {}, {} messages",
        std::process::id(),
        pool.client_id(),
        nconsumers,
        nconsumers,
        QUEUE_CAP,
        messages
    );
    let _ = std::io::stdout().flush();

    let produce = QueueOptions {
        create: true,
        exclusive: true,
        capacity: QUEUE_CAP,
        produce: true,
        ..QueueOptions::default()
    };
    // Every queue first: a consumer is only forked once all of them
    // are there, so none is left waiting on a stream that never comes.
    let mut queues: Vec<Queue<'_>> = Vec::with_capacity(nconsumers);
    for c in 0..nconsumers {
        let qname = format!("pipeline.{}.{}", std::process::id(), c + 1);
        let q = pool.queue(&qname, &produce).unwrap_or_else(|e| {
            eprintln!("queue {}: {}", qname, e);
            exit(1)
        });
        queues.push(q);
    }
    let mut pids = Vec::with_capacity(nconsumers);
    for (c, q) in queues.iter().enumerate() {
        let qname = q.name();
        let _ = std::io::stdout().flush();
        // SAFETY: the child runs consume() and leaves with _exit.
        let pid = unsafe { fork() };
        if pid < 0 {
            eprintln!("fork: {}", std::io::Error::last_os_error());
            exit(1);
        }
        if pid == 0 {
            // A client of its own: the device opened again, or the
            // memfd pool through its inherited fd.
            let mine = if info.memfd {
                Pool::open_fd(pool.fd())
            } else {
                Pool::open(path.as_deref().unwrap_or(DEV_PATH))
            };
            let rc = match mine {
                Ok(mine) => consume(&mine, &qname, c + 1),
                Err(e) => {
                    eprintln!("consumer {}: open: {}", c + 1, e);
                    1
                }
            };
            // SAFETY: leaves without running the parent's destructors
            // (its pool and queue handles are the parent's); `mine`,
            // which gives this process's caches back, closed above.
            unsafe { _exit(rc) }
        }
        pids.push(pid);
    }

    let (mut exhausted, mut full) = (0u64, 0u64);
    let t0 = Instant::now();
    for seq in 0..messages {
        let mut buf = loop {
            match pool.acquire() {
                Ok(b) => break b,
                Err(e) if e.errno() == errno::ENOBUFS => {
                    // Everything is in flight: let the consumers run.
                    exhausted += 1;
                    std::thread::yield_now();
                }
                Err(e) => {
                    eprintln!("acquire: {}", e);
                    exit(1);
                }
            }
        };
        let room = (pool.buf_size() - HDR - 16) as u64;
        let len = 16 + (seq.wrapping_mul(40503) % room) as usize;
        let sum = fill(&mut buf[HDR..HDR + len], seq);
        buf[..8].copy_from_slice(&seq.to_ne_bytes());
        buf[8..12].copy_from_slice(&(len as u32).to_ne_bytes());
        buf[12..16].copy_from_slice(&sum.to_ne_bytes());
        let q = &queues[(seq % nconsumers as u64) as usize];
        if let Err(e) = send(q, buf, &mut full) {
            eprintln!("enqueue: {}", e);
            exit(1);
        }
    }
    for q in &queues {
        let mut buf = loop {
            match pool.acquire() {
                Ok(b) => break b,
                Err(_) => std::thread::yield_now(),
            }
        };
        buf[..8].copy_from_slice(&END_OF_STREAM.to_ne_bytes());
        if let Err(e) = send(q, buf, &mut full) {
            eprintln!("enqueue: {}", e);
            exit(1);
        }
    }
    let mut failed = 0;
    for pid in pids {
        let mut status = 0;
        // SAFETY: our child, a valid out pointer.
        if unsafe { waitpid(pid, &mut status, 0) } != pid || status != 0 {
            failed += 1;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "producer: {} messages in {:.2} s ({:.0} msg/s), pool exhausted {} times, a queue full {} times",
        messages,
        secs,
        messages as f64 / secs,
        exhausted,
        full
    );
    for q in queues {
        if let Ok(qs) = q.stats() {
            println!(
                "queue {}: capacity {}, {} enqueued, {} dequeued, {} left, full {} times, high watermark {}",
                q.name(),
                qs.capacity,
                qs.enqueued,
                qs.dequeued,
                qs.depth,
                qs.full,
                qs.high_watermark
            );
        }
        // Dropping it closes it.
    }

    // Every buffer is back, each exactly once.
    let mut held = Vec::with_capacity(info.buf_count as usize);
    while let Ok(b) = pool.acquire() {
        held.push(b);
    }
    let mut seen = vec![false; info.buf_count as usize];
    let distinct = held
        .iter()
        .filter(|b| !std::mem::replace(&mut seen[b.index() as usize], true))
        .count();
    let free = held.len();
    drop(held);
    println!(
        "audit: {} of {} buffers free after the run, {} distinct",
        free, info.buf_count, distinct
    );
    if !info.memfd {
        match pool.audit() {
            Ok(a) => println!(
                "kernel audit: {} free, {} cached, {} held, {} in transit, {} repaired",
                a.free, a.cached, a.held, a.transit, a.repaired
            ),
            Err(e) => println!("kernel audit: {}", e),
        }
    }
    drop(pool);

    if failed != 0 || distinct != info.buf_count as usize {
        println!(
            "FAILED: {} consumer(s) failed, {} buffer(s) missing",
            failed,
            info.buf_count as usize - free
        );
        exit(1);
    }
    println!("OK");
}
