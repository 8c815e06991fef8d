// SPDX-License-Identifier: MIT
//! The Rust twin of userlib/examples/bufpool_pipeline.c: a producer
//! process and consumer processes sharing one pool. The producer takes a
//! buffer, writes a checksummed message into it, hands it off and sends
//! its index to a consumer through a pipe; the consumer, a client of the
//! pool with its own handle, adopts the buffer, checks the message and
//! gives the buffer back. At the end every buffer must be free again.
//!
//! usage: pipeline [--path DEV] [--messages N] [--consumers C]
//!
//! Without --path: /dev/bufpool, or a module-free pool when there is no
//! module (the consumers then open it through its inherited fd).

use std::fs::File;
use std::io::{Read, Write};
use std::os::raw::c_int;
use std::os::unix::io::FromRawFd;
use std::process::exit;
use std::time::Instant;

use bufpool::{errno, Pool, DEV_PATH};

const MAX_CONSUMERS: usize = 16;
const BATCH: usize = 64;
const END_OF_STREAM: u32 = u32::MAX;
/// seq: u64, len: u32, sum: u32, then the payload.
const HDR: usize = 16;

extern "C" {
    fn fork() -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn _exit(status: c_int) -> !;
    fn pipe(fds: *mut c_int) -> c_int;
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

/// A consumer: adopts each buffer it is sent, checks it, gives it back.
/// Returns the exit status: 0 when every message checked out.
fn consume(pool: &Pool, mut input: File, id: usize) -> i32 {
    let (mut msgs, mut bad, mut bytes) = (0u64, 0u64, 0u64);
    let mut raw = [0u8; BATCH * 4];
    let mut ended = false;
    'stream: loop {
        let n = match input.read(&mut raw) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        // Pipe writes of at most PIPE_BUF bytes are atomic: whole indices.
        for chunk in raw[..n - n % 4].chunks(4) {
            let idx = u32_at(chunk, 0);
            if idx == END_OF_STREAM {
                ended = true;
                break 'stream;
            }
            msgs += 1;
            let buf = match pool.adopt(idx) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("consumer {}: adopt {}: {}", id, idx, e);
                    bad += 1;
                    continue;
                }
            };
            let len = u32_at(&buf, 8) as usize;
            if len > buf.len() - HDR || checksum(&buf[HDR..HDR + len]) != u32_at(&buf, 12) {
                bad += 1;
            } else {
                bytes += len as u64;
            }
            // Dropping the guard gives the buffer back.
        }
    }
    if !ended {
        eprintln!("consumer {}: stream ended early", id);
        bad += 1;
    }
    println!(
        "consumer {} (pid {}): {} messages checked, {} bad, {:.1} MiB of payload",
        id,
        std::process::id(),
        msgs,
        bad,
        bytes as f64 / 1048576.0
    );
    let _ = std::io::stdout().flush();
    i32::from(bad != 0)
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
        "producer (pid {}) -> {} consumer processes, {} messages",
        std::process::id(),
        nconsumers,
        messages
    );
    let _ = std::io::stdout().flush();

    let mut pipes: Vec<File> = Vec::new();
    let mut pids = Vec::new();
    for c in 0..nconsumers {
        let mut fds = [0 as c_int; 2];
        // SAFETY: room for two fds.
        if unsafe { pipe(fds.as_mut_ptr()) } != 0 {
            eprintln!("pipe: {}", std::io::Error::last_os_error());
            exit(1);
        }
        // SAFETY: fresh descriptors, owned from here on.
        let (rd, wr) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
        // SAFETY: the child runs consume() and leaves with _exit.
        let pid = unsafe { fork() };
        if pid < 0 {
            eprintln!("fork: {}", std::io::Error::last_os_error());
            exit(1);
        }
        if pid == 0 {
            // Only this consumer's read end: end of stream when the
            // producer closes its write end.
            drop(wr);
            pipes.clear();
            // A client of its own: the device opened again, or the
            // memfd pool through its inherited fd.
            let mine = if info.memfd {
                Pool::open_fd(pool.fd())
            } else {
                Pool::open(path.as_deref().unwrap_or(DEV_PATH))
            };
            let rc = match mine {
                Ok(mine) => consume(&mine, rd, c + 1),
                Err(e) => {
                    eprintln!("consumer {}: open: {}", c + 1, e);
                    1
                }
            };
            // SAFETY: leaves without running the parent's destructors
            // (its pool handle is the parent's); `mine` closed above.
            unsafe { _exit(rc) }
        }
        drop(rd);
        pipes.push(wr);
        pids.push(pid);
    }

    let mut batch = vec![Vec::<u8>::with_capacity(BATCH * 4); nconsumers];
    let mut exhausted = 0u64;
    let t0 = Instant::now();
    for seq in 0..messages {
        let mut buf = loop {
            match pool.acquire() {
                Ok(b) => break b,
                Err(e) if e.errno() == errno::ENOBUFS => {
                    // Everything is in flight: flush batches, let consumers run.
                    exhausted += 1;
                    for (c, b) in batch.iter_mut().enumerate() {
                        if !b.is_empty() {
                            pipes[c].write_all(b).expect("write");
                            b.clear();
                        }
                    }
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
        // From here the buffer is the consumer's to adopt.
        let idx = buf.handoff().expect("handoff");

        let c = (seq % nconsumers as u64) as usize;
        batch[c].extend_from_slice(&idx.to_ne_bytes());
        if batch[c].len() == BATCH * 4 {
            pipes[c].write_all(&batch[c]).expect("write");
            batch[c].clear();
        }
    }
    for (c, mut out) in pipes.into_iter().enumerate() {
        batch[c].extend_from_slice(&END_OF_STREAM.to_ne_bytes());
        out.write_all(&batch[c]).expect("write");
        // Dropping `out` closes the write end.
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
        "producer: {} messages in {:.2} s ({:.0} msg/s), pool exhausted {} times",
        messages,
        secs,
        messages as f64 / secs,
        exhausted
    );

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
