// SPDX-License-Identifier: MIT
//! ns per acquire+release pair through the safe bindings against the C
//! calls themselves (bufpool_acquire/bufpool_release through `sys`, as a
//! C program linked with libbufpool-user.so makes them), in the same
//! process on the same pool, runs interleaved; each pair writes one byte
//! of the buffer. Single buffers, and bulk calls of 32. Prints the median
//! and the best of the runs.
//!
//! usage: bench [--path DEV] [--pairs N] [--runs R] [--case K (0-3: one only)]
//! (`cargo run --release --example bench`)

use std::os::raw::{c_uint, c_void};
use std::time::Instant;

use bufpool::{sys, Buf, Params, Pool};

const BULK: usize = 32;

fn c_single(pool: &Pool, n: u64) {
    let raw = pool.as_ptr();
    for i in 0..n {
        // SAFETY: an open handle; the buffer is ours between the calls.
        unsafe {
            let p = sys::bufpool_acquire(raw) as *mut u8;
            assert!(!p.is_null());
            p.write_volatile(i as u8);
            sys::bufpool_release(raw, p as *mut c_void);
        }
    }
}

fn rust_single(pool: &Pool, n: u64) {
    for i in 0..n {
        let mut b = pool.acquire().unwrap();
        // SAFETY: within the buffer; volatile so that the store stays.
        unsafe { b.as_mut_ptr().write_volatile(i as u8) };
    }
}

fn c_bulk(pool: &Pool, n: u64) {
    let raw = pool.as_ptr();
    let mut ptrs = [std::ptr::null_mut::<c_void>(); BULK];
    for i in 0..n / BULK as u64 {
        // SAFETY: room for BULK pointers; all of them ours between calls.
        unsafe {
            let k = sys::bufpool_acquire_bulk(raw, ptrs.as_mut_ptr(), BULK as c_uint);
            assert_eq!(k as usize, BULK);
            for p in &ptrs {
                (*p as *mut u8).write_volatile(i as u8);
            }
            sys::bufpool_release_bulk(raw, ptrs.as_ptr(), BULK as c_uint);
        }
    }
}

fn rust_bulk(pool: &Pool, n: u64) {
    let mut v: Vec<Buf<'_>> = Vec::with_capacity(BULK);
    for i in 0..n / BULK as u64 {
        assert_eq!(pool.acquire_bulk(BULK, &mut v).unwrap(), BULK);
        for b in v.iter_mut() {
            // SAFETY: within the buffer.
            unsafe { b.as_mut_ptr().write_volatile(i as u8) };
        }
        pool.release_bulk(v.drain(..)).unwrap();
    }
}

/// One way of taking and giving `n` buffers.
type Case = fn(&Pool, u64);

fn ns_per_pair(f: Case, pool: &Pool, n: u64) -> f64 {
    let t0 = Instant::now();
    f(pool, n);
    t0.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mut path, mut pairs, mut runs, mut only) = (None, 5_000_000u64, 7usize, None);
    let mut i = 1;
    while i + 1 < args.len() {
        match args[i].as_str() {
            "--path" => path = Some(args[i + 1].clone()),
            "--pairs" => pairs = args[i + 1].parse().expect("--pairs N"),
            "--runs" => runs = args[i + 1].parse().expect("--runs R"),
            "--case" => only = Some(args[i + 1].parse::<usize>().expect("--case K")),
            a => panic!("unknown argument {}", a),
        }
        i += 2;
    }
    let pool = match &path {
        Some(p) => Pool::open(p),
        None => Pool::create(&Params::default()),
    }
    .expect("pool");
    let info = pool.info().unwrap();
    println!(
        "pool: {} x {} B, {}; {} pairs per run, {} runs, interleaved",
        info.buf_count,
        info.buf_size,
        if info.memfd { "memfd" } else { "device" },
        pairs,
        runs
    );
    let cases: [(&str, Case); 4] = [
        ("C calls, single", c_single),
        ("Rust Pool::acquire + drop", rust_single),
        ("C calls, bulk 32", c_bulk),
        ("Rust acquire_bulk/release_bulk 32", rust_bulk),
    ];
    let chosen = |k: usize| only.map_or(true, |o| o == k);
    for (k, (_, f)) in cases.iter().enumerate().filter(|(k, _)| chosen(*k)) {
        let _ = k;
        f(&pool, pairs / 10); // warm the cache and the code
    }
    let mut results = vec![Vec::new(); cases.len()];
    for _ in 0..runs {
        for (k, (_, f)) in cases.iter().enumerate().filter(|(k, _)| chosen(*k)) {
            results[k].push(ns_per_pair(*f, &pool, pairs));
        }
    }
    println!(
        "{:<36} {:>12} {:>10}",
        "ns per acquire+release pair", "median", "best"
    );
    for (k, (name, _)) in cases.iter().enumerate().filter(|(k, _)| chosen(*k)) {
        let r = &mut results[k];
        r.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("{:<36} {:>12.2} {:>10.2}", name, r[r.len() / 2], r[0]);
    }
    assert_eq!(pool.stats().unwrap().in_use, 0);
}
