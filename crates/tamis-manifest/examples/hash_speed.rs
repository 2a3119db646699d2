//! Measures hashing: SHA-256 of a buffer in memory on one core (the CPU's limit), then whole
//! manifests of a tree (walk, read, hash, xattrs), warm cache, with 1 thread and with all.
//!
//! `cargo run --release --example hash_speed -p tamis-manifest ROOT`
#![allow(
    clippy::print_stdout,
    clippy::disallowed_methods,
    clippy::cast_precision_loss,
    reason = "an example prints rates"
)]

use sha2::{Digest, Sha256};

fn main() {
    let root = std::env::args().nth(1).expect("usage: hash_speed ROOT");
    let buf = vec![0x5au8; 256 << 20];
    let t = std::time::Instant::now();
    let digest = Sha256::digest(&buf);
    let secs = t.elapsed().as_secs_f64();
    println!("sha256 in memory, 1 core: {:.2} GB/s ({:02x}…)", buf.len() as f64 / secs / 1e9, digest[0]);

    let root = tamis_core::Root::open(&root).expect("a root");
    for threads in [1, 0] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
        for run in 0..3 {
            let t = std::time::Instant::now();
            let m = pool.install(|| tamis_manifest::Manifest::of_tree(&root)).expect("a manifest");
            let secs = t.elapsed().as_secs_f64();
            let bytes: u64 = m.entries.iter().filter(|e| e.kind == tamis_core::FileKind::File).map(|e| e.size).sum();
            println!(
                "manifest, {} threads, run {run}: {} entries, {:.0} MB in {secs:.2} s = {:.2} GB/s",
                pool.current_num_threads(),
                m.entries.len(),
                bytes as f64 / 1e6,
                bytes as f64 / secs / 1e9
            );
        }
    }
}
