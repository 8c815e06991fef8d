// SPDX-License-Identifier: MIT
// The example of README.md's section "Rust"; tests/pool.rs runs it and
// checks that the README shows it as it is here.
use std::time::Duration;

use bufpool::{Pool, Result};

fn main() -> Result<()> {
    // /dev/bufpool when the module is loaded, else a module-free pool
    let pool = Pool::open_default()?;
    let mut buf = pool.acquire()?; // Err(ENOBUFS) when the pool is empty
    buf[..5].copy_from_slice(b"hello");
    println!("buffer {}: {} bytes", buf.index(), buf.len());

    // To another process by index (here: to this one): hand off, send, adopt.
    let idx = buf.handoff()?;
    let buf = pool.adopt(idx)?;
    assert_eq!(&buf[..5], b"hello");
    drop(buf); // given back

    // Wait up to 10 ms for a buffer when none is free.
    let buf = pool.acquire_timeout(Duration::from_millis(10))?;
    println!("{:?}, {:?}", buf, pool.stats()?);
    Ok(())
}
