// SPDX-License-Identifier: MIT
//! Links libbufpool-user: from BUFPOOL_LIB_DIR when set, else from the
//! tree this crate sits in (userlib/, built by `make lib`) when it has
//! the library, else from the linker's default paths (after `make
//! install`, /usr/local/lib). A directory found here also goes into the
//! programs' rpath, so that tests and examples run in the tree.
use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=BUFPOOL_LIB_DIR");
    println!("cargo:rerun-if-changed=build.rs");
    let dir = match env::var_os("BUFPOOL_LIB_DIR") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => {
            let tree = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("..");
            if tree.join("libbufpool-user.so").exists() {
                tree.canonicalize().ok()
            } else {
                None
            }
        }
    };
    if let Some(dir) = dir {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        println!(
            "cargo:rerun-if-changed={}",
            dir.join("libbufpool-user.so").display()
        );
    }
    println!("cargo:rustc-link-lib=dylib=bufpool-user");
}
