//! `StripFormats::run_on_paths`: files and trees named by their paths, as `tamis strip` gives
//! them, each handled beneath a root and reported under the path as given.

use std::fs;

use tamis_core::{Context, Epoch, Mode};
use tamis_formats::{FormatsOptions, StripFormats};

/// An empty gzip stream whose header holds the time `mtime`.
fn gzip(mtime: u32) -> Vec<u8> {
    let mut bytes = vec![0x1f, 0x8b, 8, 0];
    bytes.extend(mtime.to_le_bytes());
    bytes.extend([0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    bytes
}

#[test]
fn a_file_and_a_tree_are_stripped_and_reported_under_their_paths() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alone.gz");
    let tree = dir.path().join("tree");
    fs::create_dir_all(tree.join("doc")).unwrap();
    fs::write(&file, gzip(1_800_000_000)).unwrap();
    fs::write(tree.join("doc/in-tree.gz"), gzip(1_800_000_000)).unwrap();
    let stage = StripFormats::new(&FormatsOptions::default());
    let epoch = Epoch::parse("1700000000").unwrap();
    let paths = [file.clone(), tree.clone()];

    let check = stage.run_on_paths(&paths, &Context::new(epoch, Mode::Check)).unwrap();
    let names: Vec<&str> = check.iter().map(|r| r.stage.as_str()).collect();
    assert_eq!(names, [file.to_str().unwrap(), tree.to_str().unwrap()]);
    assert!(check.iter().all(|r| r.changes.len() == 1), "{check:?}");
    assert_eq!(fs::read(&file).unwrap(), gzip(1_800_000_000), "--check changed the file");

    let apply = stage.run_on_paths(&paths, &Context::new(epoch, Mode::Apply)).unwrap();
    assert!(apply.iter().all(|r| r.changes.len() == 1 && r.problems.is_empty()), "{apply:?}");
    assert_eq!(fs::read(&file).unwrap(), gzip(1_700_000_000));
    assert_eq!(fs::read(tree.join("doc/in-tree.gz")).unwrap(), gzip(1_700_000_000));

    let missing = stage.run_on_paths(&[dir.path().join("missing.gz")], &Context::new(epoch, Mode::Check));
    assert!(missing.unwrap_err().to_string().contains("missing.gz"));
}
