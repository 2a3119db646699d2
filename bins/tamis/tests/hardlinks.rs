//! Hard links out of the tree, and large hard-link groups.
//!
//! A tree made with `cp -al` (or by a builder that hard-links files from a cache) shares inodes
//! with files outside it: no stage may change those files, neither their contents nor their
//! times, and the names inside the tree still end up normalized, each in-tree group one inode.
//! A group of 20,000 names is handled as one inode, in time linear in its size.

#![allow(clippy::disallowed_methods, reason = "tests look at the trees with std")]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tamis_core::Root;

const EPOCH: &str = "1700000000";
const EPOCH_SECS: i64 = 1_700_000_000;

fn tamis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tamis")).args(args).env_remove("SOURCE_DATE_EPOCH").output().unwrap()
}

fn run(cmd: &str, args: &[&str]) -> Output {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What a user relies on of an entry: its inode, type, mode, owner, mtime and contents (a
/// link's target). Not its link count, which drops when tamis breaks a link.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    ino: u64,
    mode: u32,
    owner: (u32, u32),
    mtime: (i64, i64),
    contents: Vec<u8>,
}

/// Every entry beneath `dir`.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Seen> {
    let tree = Root::open(dir).unwrap().walk().unwrap();
    tree.entries()
        .iter()
        .map(|e| {
            let full = dir.join(&e.path);
            let meta = fs::symlink_metadata(&full).unwrap();
            let contents = if meta.is_file() {
                fs::read(&full).unwrap()
            } else if meta.is_symlink() {
                fs::read_link(&full).unwrap().into_os_string().into_encoded_bytes()
            } else {
                Vec::new()
            };
            let seen = Seen {
                ino: meta.ino(),
                mode: meta.mode(),
                owner: (meta.uid(), meta.gid()),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                contents,
            };
            (e.path.clone(), seen)
        })
        .collect()
}

/// A real gzip file as a build leaves it: its name and a time of the build in its header.
fn gzip_file(at: &Path, text: &str) {
    let plain = at.with_extension("");
    fs::write(&plain, text).unwrap();
    run("gzip", &["-f", path(&plain)]);
}

/// What `gzip -dc` gives, checking the file is valid gzip.
fn gunzip(at: &Path) -> Vec<u8> {
    run("gzip", &["-dc", path(at)]).stdout
}

/// `t/orig`, a small root with a machine ID, a log, a gzip file, an in-tree pair of hard links,
/// a symbolic link and a FIFO, all newer than the epoch; and `t/copy`, made from it with
/// `cp -al`, so that every entry of the copy but its directories shares its inode with `orig`.
fn cp_al_pair() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let orig = t.path().join("orig");
    for dir in ["etc", "var/log", "var/lib", "usr/bin", "usr/share/doc/pkg"] {
        fs::create_dir_all(orig.join(dir)).unwrap();
    }
    fs::write(orig.join("etc/machine-id"), "0123456789abcdef0123456789abcdef\n").unwrap();
    fs::write(orig.join("var/log/dpkg.log"), "build log\n").unwrap();
    gzip_file(&orig.join("usr/share/doc/pkg/changelog.gz"), "pkg (1.0) unstable; urgency=low\n");
    fs::write(orig.join("usr/bin/tool"), "#!/bin/sh\n").unwrap();
    fs::hard_link(orig.join("usr/bin/tool"), orig.join("usr/bin/tool-alias")).unwrap();
    std::os::unix::fs::symlink("../usr/bin/tool", orig.join("etc/tool-link")).unwrap();
    run("mkfifo", &[path(&orig.join("var/lib/initctl"))]);
    let copy = t.path().join("copy");
    run("cp", &["-al", path(&orig), path(&copy)]);
    // The premise: cp -al shared the inodes of files, links and the FIFO.
    for name in ["etc/machine-id", "usr/bin/tool", "etc/tool-link", "var/lib/initctl"] {
        let (a, b) = (fs::symlink_metadata(orig.join(name)).unwrap(), fs::symlink_metadata(copy.join(name)).unwrap());
        assert_eq!(a.ino(), b.ino(), "{name}: cp -al did not hard-link it");
    }
    (t, orig, copy)
}

/// Inside the tree after a run: every entry at or before the epoch, and the in-tree pair one
/// inode of its own (two names, no longer the inode outside).
fn assert_inside_normalized(orig: &Path, copy: &Path) {
    for (rel, seen) in snapshot(copy) {
        assert!(seen.mtime.0 <= EPOCH_SECS && seen.mtime.1 == 0, "/{}: mtime {:?}", rel.display(), seen.mtime);
    }
    let (tool, alias) =
        (fs::metadata(copy.join("usr/bin/tool")).unwrap(), fs::metadata(copy.join("usr/bin/tool-alias")).unwrap());
    assert_eq!(tool.ino(), alias.ino(), "the in-tree pair is still one inode");
    assert_eq!(tool.nlink(), 2, "and its link to the outside is broken");
    assert_ne!(tool.ino(), fs::metadata(orig.join("usr/bin/tool")).unwrap().ino());
    assert_eq!(fs::read(copy.join("usr/bin/tool")).unwrap(), b"#!/bin/sh\n");
    let link = copy.join("etc/tool-link");
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("../usr/bin/tool"));
    assert!(fs::symlink_metadata(copy.join("var/lib/initctl")).unwrap().file_type().is_fifo());
}

fn actions(json: &serde_json::Value) -> Vec<(String, String)> {
    json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["changes"].as_array().unwrap().iter())
        .map(|c| (c["action"].as_str().unwrap().to_owned(), c["path"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn normalize_of_a_cp_al_copy_changes_nothing_outside() {
    let (t, orig, copy) = cp_al_pair();
    let before = snapshot(&orig);
    let report = t.path().join("report.json");

    let out = tamis(&["normalize", "--epoch", EPOCH, "--json", path(&report), path(&copy)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    assert_eq!(snapshot(&orig), before, "an entry outside the tree changed");
    assert_eq!(fs::read(copy.join("etc/machine-id")).unwrap(), b"");
    assert_eq!(fs::read(copy.join("var/log/dpkg.log")).unwrap(), b"");
    let gz = copy.join("usr/share/doc/pkg/changelog.gz");
    assert_eq!(gunzip(&gz), b"pkg (1.0) unstable; urgency=low\n");
    assert_eq!(fs::read(&gz).unwrap()[3] & 0x08, 0, "the gzip header keeps no file name");
    assert_inside_normalized(&orig, &copy);
    // The report says which links were broken.
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    let actions = actions(&json);
    for detached in ["/etc/machine-id", "/var/log/dpkg.log", "/usr/share/doc/pkg/changelog.gz", "/usr/bin/tool"] {
        assert!(actions.contains(&("detach".to_owned(), detached.to_owned())), "{detached}: {actions:?}");
    }

    let again = tamis(&["normalize", "--epoch", EPOCH, "--check", path(&copy)]);
    assert_eq!(again.status.code(), Some(0), "a second run would change something: {}", stderr(&again));
    assert_eq!(snapshot(&orig), before);
}

#[test]
fn mtime_of_a_cp_al_copy_changes_no_time_outside() {
    let (_t, orig, copy) = cp_al_pair();
    let before = snapshot(&orig);

    let check = tamis(&["mtime", "--epoch", EPOCH, "--check", path(&copy)]);
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    assert_eq!(snapshot(&orig), before, "--check changed something");

    let out = tamis(&["mtime", "--epoch", EPOCH, path(&copy)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(snapshot(&orig), before, "an entry outside the tree changed");
    assert_inside_normalized(&orig, &copy);
    // Only times changed inside: the contents are the outside files' contents.
    assert_eq!(fs::read(copy.join("etc/machine-id")).unwrap(), fs::read(orig.join("etc/machine-id")).unwrap());
    let gz = copy.join("usr/share/doc/pkg/changelog.gz");
    assert_eq!(fs::read(&gz).unwrap(), fs::read(orig.join("usr/share/doc/pkg/changelog.gz")).unwrap());

    let again = tamis(&["mtime", "--epoch", EPOCH, "--check", path(&copy)]);
    assert_eq!(again.status.code(), Some(0), "a second run would change something: {}", stderr(&again));
}

#[test]
fn strip_of_a_gzip_linked_from_outside_leaves_the_outside_file() {
    let t = tempfile::tempdir().unwrap();
    let (outside, tree) = (t.path().join("cache"), t.path().join("tree"));
    fs::create_dir_all(&outside).unwrap();
    fs::create_dir_all(tree.join("doc/a")).unwrap();
    gzip_file(&outside.join("changelog.gz"), "from the cache\n");
    // Two names in the tree, one in the cache.
    fs::hard_link(outside.join("changelog.gz"), tree.join("doc/changelog.gz")).unwrap();
    fs::hard_link(outside.join("changelog.gz"), tree.join("doc/a/changelog.gz")).unwrap();
    let before = snapshot(&outside);

    let check = tamis(&["strip", "--epoch", EPOCH, "--check", path(&tree)]);
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    let out = tamis(&["strip", "--epoch", EPOCH, path(&tree)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    assert_eq!(snapshot(&outside), before, "the file outside the tree changed");
    let (one, two) = (tree.join("doc/changelog.gz"), tree.join("doc/a/changelog.gz"));
    let (m1, m2) = (fs::metadata(&one).unwrap(), fs::metadata(&two).unwrap());
    assert_eq!((m1.ino(), m1.nlink()), (m2.ino(), 2), "the tree's names are one inode of their own");
    assert_ne!(m1.ino(), before[Path::new("changelog.gz")].ino);
    assert_eq!(gunzip(&one), b"from the cache\n");
    assert_eq!(fs::read(&one).unwrap()[3] & 0x08, 0, "the gzip header keeps no file name");

    let again = tamis(&["strip", "--epoch", EPOCH, "--check", path(&tree)]);
    assert_eq!(again.status.code(), Some(0), "a second run would change something: {}", stderr(&again));
}

/// `dir/links/gz-N` for N in 0..count, all one gzip file as a build leaves it.
fn large_group(dir: &Path, count: usize) -> Vec<PathBuf> {
    fs::create_dir_all(dir.join("links")).unwrap();
    let first = dir.join("links/gz-0.gz");
    gzip_file(&first, "x\n");
    let names: Vec<PathBuf> = (0..count).map(|i| dir.join(format!("links/gz-{i}.gz"))).collect();
    for name in &names[1..] {
        fs::hard_link(&first, name).unwrap();
    }
    names
}

fn assert_one_normalized_inode(names: &[PathBuf]) {
    let first = fs::metadata(&names[0]).unwrap();
    assert_eq!(first.nlink(), names.len() as u64);
    assert!(names.iter().all(|n| fs::metadata(n).unwrap().ino() == first.ino()), "the group was split");
    assert_eq!(gunzip(&names[0]), b"x\n");
    assert_eq!(fs::read(&names[0]).unwrap()[3] & 0x08, 0, "the gzip header keeps no file name");
}

#[test]
fn a_group_of_20000_names_is_one_inode_after_strip_and_normalize() {
    const COUNT: usize = 20_000;
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    let names = large_group(&tree, COUNT);
    let report = t.path().join("report.json");

    let check = tamis(&["strip", "--epoch", EPOCH, "--check", "--json", path(&report), path(&tree)]);
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    assert_eq!(actions(&json), [("rewrite".to_owned(), "/links/gz-0.gz".to_owned())], "one change for the group");

    let out = tamis(&["strip", "--epoch", EPOCH, path(&tree)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_one_normalized_inode(&names);
    let again = tamis(&["strip", "--epoch", EPOCH, "--check", path(&tree)]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));

    let other = t.path().join("other");
    let names = large_group(&other, COUNT);
    let out = tamis(&["normalize", "--epoch", EPOCH, path(&other)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_one_normalized_inode(&names);
    assert!(fs::metadata(&names[0]).unwrap().mtime() <= EPOCH_SECS);
    let again = tamis(&["normalize", "--epoch", EPOCH, "--check", path(&other)]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
}
