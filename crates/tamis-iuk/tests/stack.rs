//! The delta and the stacking, on images made in memory: OLD with the diff stacked on top is
//! NEW, entry for entry, for every kind of change; and the diff holds only what changed.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use tamis_core::{Epoch, FileKind};
use tamis_iuk::delta;
use tamis_iuk::verify::stack;
use tamis_squashfs::{Image, ImageEntry, TreeEntry, TreeSource, WriteOptions, write_tree};

struct Files(BTreeMap<PathBuf, Vec<u8>>);

impl TreeSource for Files {
    fn open(&self, path: &Path) -> tamis_squashfs::Result<Box<dyn Read + '_>> {
        Ok(Box::new(Cursor::new(self.0.get(path).cloned().unwrap_or_default())))
    }
}

fn entry(path: &str, kind: FileKind, mode: u32, mtime: i64, size: u64) -> TreeEntry {
    TreeEntry {
        path: PathBuf::from(path),
        kind,
        mode,
        uid: 0,
        gid: 0,
        mtime,
        size,
        link: None,
        rdev: 0,
        target: Vec::new(),
        xattrs: Vec::new(),
    }
}

/// An image of `spec`: (path, "dir" | file contents, mode, mtime).
fn image(spec: &[(&str, Option<&[u8]>, u32, i64)]) -> Image {
    let mut entries = vec![entry("", FileKind::Dir, 0o755, 100, 0)];
    let mut files = BTreeMap::new();
    for &(path, contents, mode, mtime) in spec {
        match contents {
            None => entries.push(entry(path, FileKind::Dir, mode, mtime, 0)),
            Some(bytes) => {
                entries.push(entry(path, FileKind::File, mode, mtime, bytes.len() as u64));
                files.insert(PathBuf::from(path), bytes.to_vec());
            }
        }
    }
    entries.sort_by(|a, b| tamis_core::canonical_cmp(&a.path, &b.path));
    let mut out = Cursor::new(Vec::new());
    write_tree(&entries, &Files(files), &mut out, &WriteOptions::new(Epoch::parse("1000").unwrap())).unwrap();
    Image::from_bytes(out.into_inner()).unwrap()
}

fn view(image: &Image, entries: &[ImageEntry]) -> Vec<(PathBuf, FileKind, u32, u32, Vec<u8>)> {
    entries
        .iter()
        .map(|e| {
            let bytes = if e.kind == FileKind::File { image.read_file(e).unwrap() } else { Vec::new() };
            (e.path.clone(), e.kind, e.mode, e.mtime, bytes)
        })
        .collect()
}

#[test]
fn old_with_the_diff_stacked_is_new() {
    let big = vec![7u8; 300_000];
    let old = image(&[
        ("etc", None, 0o755, 100),
        ("etc/conf", Some(b"one"), 0o644, 100),
        ("etc/same", Some(b"same"), 0o644, 100),
        ("etc/mode", Some(b"mode"), 0o644, 100),
        ("gone", None, 0o755, 100),
        ("gone/a", Some(b"a"), 0o644, 100),
        ("gone/sub", None, 0o755, 100),
        ("gone/sub/b", Some(b"b"), 0o644, 100),
        ("was-dir", None, 0o755, 100),
        ("was-dir/x", Some(b"x"), 0o644, 100),
        ("was-file", Some(b"file"), 0o644, 100),
        ("big", Some(&big), 0o644, 100),
        ("usr", None, 0o755, 100),
        ("usr/untouched", Some(b"u"), 0o644, 100),
    ]);
    let mut big2 = big.clone();
    big2[150_000] = 8;
    let new = image(&[
        ("etc", None, 0o755, 100),
        ("etc/conf", Some(b"two"), 0o644, 100),
        ("etc/same", Some(b"same"), 0o644, 100),
        ("etc/mode", Some(b"mode"), 0o600, 100),
        ("etc/new", Some(b"new"), 0o644, 200),
        ("was-dir", Some(b"now a file"), 0o644, 100),
        ("was-file", None, 0o755, 100),
        ("was-file/inside", Some(b"in"), 0o644, 100),
        ("big", Some(&big2), 0o644, 100),
        ("usr", None, 0o755, 100),
        ("usr/untouched", Some(b"u"), 0o644, 100),
    ]);
    let (old_entries, new_entries) = (old.entries().unwrap(), new.entries().unwrap());
    let d =
        delta::compute((&old, &old_entries, Path::new("old")), (&new, &new_entries, Path::new("new")), 1000).unwrap();

    let paths: Vec<String> = d.entries.iter().map(|e| e.path.display().to_string()).collect();
    assert_eq!(
        paths,
        ["", "big", "etc", "etc/conf", "etc/mode", "etc/new", "gone", "was-dir", "was-file", "was-file/inside"],
        "unchanged entries in the diff, or changes missing"
    );
    let by_path = |p: &str| d.entries.iter().find(|e| e.path == Path::new(p)).unwrap();
    assert_eq!((by_path("gone").kind, by_path("gone").rdev), (FileKind::CharDevice, 0), "a whiteout");
    assert!(by_path("was-file").xattrs.contains(&(b"trusted.overlay.opaque".to_vec(), b"y".to_vec())));
    assert!(by_path("etc").xattrs.is_empty(), "only a directory that replaced a file is opaque");
    assert_eq!((d.summary.content.entries, d.summary.metadata_only.entries, d.summary.new.entries), (2, 1, 4));
    assert_eq!((d.summary.deleted, d.summary.opaque), (1, 1));
    assert_eq!(d.summary.content.bytes, 300_003);

    // The diff written, read back, stacked over OLD: NEW.
    let mut out = Cursor::new(Vec::new());
    let by: BTreeMap<&Path, &ImageEntry> = new_entries.iter().map(|e| (e.path.as_path(), e)).collect();
    let files: BTreeMap<PathBuf, Vec<u8>> = d
        .entries
        .iter()
        .filter(|e| e.kind == FileKind::File)
        .map(|e| (e.path.clone(), new.read_file(by[e.path.as_path()]).unwrap()))
        .collect();
    write_tree(&d.entries, &Files(files), &mut out, &WriteOptions::new(Epoch::parse("1000").unwrap())).unwrap();
    let diff = Image::from_bytes(out.into_inner()).unwrap();
    let diff_entries = diff.entries().unwrap();
    let stacked = stack(&old_entries, &diff_entries);
    let layers = [&old, &diff];
    let got: Vec<_> = stacked
        .iter()
        .map(|(layer, e)| {
            let bytes = if e.kind == FileKind::File { layers[*layer].read_file(e).unwrap() } else { Vec::new() };
            (e.path.clone(), e.kind, e.mode, e.mtime, bytes)
        })
        .collect();
    assert_eq!(got, view(&new, &new_entries));
    assert!(stacked.iter().all(|(_, e)| e.xattrs.is_empty()), "trusted.overlay.* must be hidden");
}

#[test]
fn files_stored_alike_are_known_equal_and_others_are_not() {
    let ones = vec![1u8; 200_000];
    let a = image(&[("f", Some(&ones), 0o644, 1), ("g", Some(b"tail"), 0o644, 1)]);
    let b = image(&[("f", Some(&ones), 0o644, 1), ("g", Some(b"tall"), 0o644, 1)]);
    let (ea, eb) = (a.entries().unwrap(), b.entries().unwrap());
    assert!(a.stored_alike(&ea[1], &b, &eb[1]).unwrap(), "same blocks and tail");
    assert!(!a.stored_alike(&ea[2], &b, &eb[2]).unwrap(), "another tail");
}
