//! Times `Root::walk` in-process: `cargo run --release --example walk_time -p tamis-core ROOT [THREADS]`.
#![allow(clippy::print_stdout, clippy::disallowed_methods, reason = "an example prints")]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads = args.get(2).map_or(0, |t| t.parse().expect("a number"));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
    let root = tamis_core::Root::open(&args[1]).expect("a root");
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let tree = pool.install(|| root.walk()).expect("a walk");
        println!("{} entries in {:.1} ms", tree.entries().len(), t.elapsed().as_secs_f64() * 1000.0);
    }
}
