//! The walk's result depends only on the tree: not on the order the entries were created in
//! (which is what `readdir` returns on most file systems), nor on the number of threads.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use tamis_core::{FileKind, Root, Tree, canonical_cmp};

/// Creates the same tree, entry by entry, in the order given by `order`.
fn build(dir: &Path, order: &[usize]) {
    let dirs = ["a", "a/b", "a-b", "z", "z/deep", "z/deep/er", "B"];
    for d in dirs {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    let files: Vec<String> = (0..60).map(|i| format!("{}/f{i:02}", dirs[i % dirs.len()])).collect();
    for &i in order {
        fs::write(dir.join(&files[i]), files[i].as_bytes()).unwrap();
    }
    symlink("/etc/passwd", dir.join("a/link")).unwrap();
    fs::hard_link(dir.join(&files[0]), dir.join("z/hard")).unwrap();
}

fn listing(tree: &Tree) -> Vec<(String, FileKind, u64)> {
    tree.entries().iter().map(|e| (e.path.to_string_lossy().into_owned(), e.meta.kind, e.meta.size)).collect()
}

fn walk_with_threads(root: &Path, threads: usize) -> Tree {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| Root::open(root).unwrap().walk().unwrap())
}

#[test]
fn same_tree_in_any_creation_order_walks_the_same() {
    let forward: Vec<usize> = (0..60).collect();
    let backward: Vec<usize> = (0..60).rev().collect();
    let shuffled: Vec<usize> = (0..60).map(|i| (i * 37) % 60).collect();
    let mut listings = Vec::new();
    for order in [&forward, &backward, &shuffled] {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), order);
        listings.push(listing(&walk_with_threads(dir.path(), 4)));
    }
    assert_eq!(listings[0], listings[1]);
    assert_eq!(listings[0], listings[2]);
    assert_eq!(listings[0].len(), 1 + 7 + 60 + 2);
}

#[test]
fn one_thread_and_many_give_the_same_walk() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), &(0..60).collect::<Vec<_>>());
    let one = walk_with_threads(dir.path(), 1);
    let many = walk_with_threads(dir.path(), 8);
    assert_eq!(one.entries(), many.entries());
}

#[test]
fn entries_come_in_canonical_order_with_directories_before_contents() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), &(0..60).collect::<Vec<_>>());
    let tree = Root::open(dir.path()).unwrap().walk().unwrap();
    let paths: Vec<&Path> = tree.entries().iter().map(|e| e.path.as_path()).collect();
    assert!(paths.windows(2).all(|w| canonical_cmp(w[0], w[1]).is_lt()));
    let pos = |p: &str| paths.iter().position(|x| *x == Path::new(p)).unwrap();
    // "a/b" (inside a) comes before "a-b", although '-' < '/' in ASCII.
    assert!(pos("a/b/f01") < pos("a-b"));
    assert_eq!(tree.get(Path::new("z/deep/er")).unwrap().meta.kind, FileKind::Dir);
    assert!(tree.get(Path::new("nope")).is_none());
}

#[test]
fn hard_links_are_grouped() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), &(0..60).collect::<Vec<_>>());
    let tree = Root::open(dir.path()).unwrap().walk().unwrap();
    let first = tree.get(Path::new("a/f00")).unwrap();
    assert_eq!(tree.hardlinks(first), [Path::new("z/hard")]);
    let single = tree.get(Path::new("a/f07")).unwrap();
    assert!(tree.hardlinks(single).is_empty());
}
