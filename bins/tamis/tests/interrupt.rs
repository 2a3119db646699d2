//! Real runs interrupted: the built binary is started on a tree large enough to take a while,
//! the test waits until a `.tamis-*` temporary file appears, then sends a signal. What a user
//! relies on is checked: the exit status (128 + the signal), no temporary file left, every file
//! either its old or its new bytes, and a rerun that ends where an uninterrupted run ends
//! (compared by `tamis manifest`).

#![allow(clippy::disallowed_methods, reason = "tests read directories and the environment")]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};

use rustix::process::{Pid, Signal};

mod common;

use common::tamis_command as tamis;

const EPOCH: &str = "1700000000";

fn run(args: &[&str]) -> Output {
    tamis().args(args).output().unwrap()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Bytes nothing compresses (from the kernel's random source: fast in a debug build).
fn noise(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open("/dev/urandom").unwrap(), len as u64),
        &mut out,
    )
    .unwrap();
    out
}

/// A tree of `count` gzip files of `size` bytes of noise each, compressed by the real gzip
/// (which records the name and a time in the header: the formats stage rewrites every one).
fn gzip_tree(root: &Path, count: usize, size: usize) {
    let doc = root.join("usr/share/doc");
    std::fs::create_dir_all(&doc).unwrap();
    for i in 0..count {
        std::fs::write(doc.join(format!("f{i:03}")), noise(size)).unwrap();
    }
    let status = Command::new("gzip").arg("-1").arg("-r").arg(&doc).status().unwrap();
    assert!(status.success());
}

fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success());
}

/// Every name beneath `dir` that starts with `.tamis-`.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let Ok(listing) = std::fs::read_dir(&d) else { continue };
        for entry in listing.flatten() {
            if entry.file_name().to_string_lossy().starts_with(".tamis-") {
                found.push(entry.path());
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(entry.path());
            }
        }
    }
    found.sort();
    found
}

/// Whether `dir` (not beneath it) holds a `.tamis-` name now.
fn has_temporary(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|l| l.flatten().any(|e| e.file_name().to_string_lossy().starts_with(".tamis-")))
}

/// Waits until `dir` holds a temporary file, then sends `signal`; `None` if the run ended first.
fn signal_when_temporary(child: &mut Child, dir: &Path, signal: Signal) -> Option<ExitStatus> {
    loop {
        if has_temporary(dir) {
            rustix::process::kill_process(Pid::from_child(child), signal).unwrap();
            return Some(child.wait().unwrap());
        }
        if let Some(status) = child.try_wait().unwrap() {
            let _ = status;
            return None;
        }
    }
}

/// Waits until a temporary file in `dir` has several links (the re-pointing of its hard-link
/// group has begun), then sends `signal`; `None` if the run ended first.
fn signal_when_relinking(child: &mut Child, dir: &Path, signal: Signal) -> Option<ExitStatus> {
    loop {
        let relinking = std::fs::read_dir(dir).is_ok_and(|l| {
            l.flatten().any(|e| {
                e.file_name().to_string_lossy().starts_with(".tamis-") && e.metadata().is_ok_and(|m| m.nlink() > 1)
            })
        });
        if relinking {
            rustix::process::kill_process(Pid::from_child(child), signal).unwrap();
            return Some(child.wait().unwrap());
        }
        if child.try_wait().unwrap().is_some() {
            return None;
        }
    }
}

/// The manifest of a tree, as `tamis manifest` writes it.
fn manifest(root: &Path) -> String {
    let out = run(&["manifest", path_str(root)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The bytes of every regular file beneath `root`, by path.
fn contents(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let t = entry.file_type().unwrap();
            if t.is_dir() {
                todo.push(entry.path());
            } else if t.is_file() {
                let rel = entry.path().strip_prefix(root).unwrap().to_owned();
                out.insert(rel, std::fs::read(entry.path()).unwrap());
            }
        }
    }
    out
}

/// Every file of `tree` holds the bytes it had in `old` or has in `new`, never anything else.
fn old_or_new(tree: &Path, old: &BTreeMap<PathBuf, Vec<u8>>, new: &BTreeMap<PathBuf, Vec<u8>>) {
    for (path, bytes) in contents(tree) {
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with(".tamis-")) {
            continue;
        }
        assert!(
            old.get(&path) == Some(&bytes) || new.get(&path) == Some(&bytes),
            "{}: neither its old nor its new bytes",
            path.display()
        );
    }
}

#[test]
fn sigint_sigterm_sighup_during_normalize_remove_the_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original");
    gzip_tree(&original, 16, 2 << 20);
    let reference = dir.path().join("reference");
    copy_tree(&original, &reference);
    let out = run(&["normalize", "--epoch", EPOCH, path_str(&reference)]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (old, new) = (contents(&original), contents(&reference));
    let expected = manifest(&reference);

    for signal in [Signal::INT, Signal::TERM, Signal::HUP] {
        let mut landed = false;
        for attempt in 0..10 {
            let tree = dir.path().join(format!("tree-{}-{attempt}", signal.as_raw()));
            copy_tree(&original, &tree);
            let mut child =
                tamis().args(["normalize", "--epoch", EPOCH, path_str(&tree)]).stderr(Stdio::null()).spawn().unwrap();
            let Some(status) = signal_when_temporary(&mut child, &tree.join("usr/share/doc"), signal) else {
                continue;
            };
            landed = true;
            assert_eq!(status.code(), Some(128 + signal.as_raw()), "{signal:?}: {status:?}");
            assert_eq!(temporaries(&tree), Vec::<PathBuf>::new(), "{signal:?} left temporary files");
            old_or_new(&tree, &old, &new);
            let rerun = run(&["normalize", "--epoch", EPOCH, path_str(&tree)]);
            assert_eq!(rerun.status.code(), Some(0), "{}", String::from_utf8_lossy(&rerun.stderr));
            assert_eq!(manifest(&tree), expected, "{signal:?}: the rerun does not converge");
            break;
        }
        assert!(landed, "{signal:?}: no run was caught with a temporary file in 10 tries");
    }
}

#[test]
fn after_sigkill_the_rerun_names_and_removes_the_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original");
    gzip_tree(&original, 16, 2 << 20);
    let reference = dir.path().join("reference");
    copy_tree(&original, &reference);
    assert_eq!(run(&["normalize", "--epoch", EPOCH, path_str(&reference)]).status.code(), Some(0));
    let (old, new) = (contents(&original), contents(&reference));

    for attempt in 0..20 {
        let tree = dir.path().join(format!("tree-{attempt}"));
        copy_tree(&original, &tree);
        let mut child =
            tamis().args(["normalize", "--epoch", EPOCH, path_str(&tree)]).stderr(Stdio::null()).spawn().unwrap();
        let Some(status) = signal_when_temporary(&mut child, &tree.join("usr/share/doc"), Signal::KILL) else {
            continue;
        };
        assert_eq!(status.signal(), Some(9));
        let left = temporaries(&tree);
        if left.is_empty() {
            // Killed just after a rename: nothing to find; try again.
            continue;
        }
        old_or_new(&tree, &old, &new);
        let names: Vec<String> = left.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();

        let check = run(&["normalize", "--check", "--epoch", EPOCH, path_str(&tree)]);
        let stderr = String::from_utf8_lossy(&check.stderr);
        assert_eq!(check.status.code(), Some(1), "{stderr}");
        assert!(!stderr.contains("nothing would change"), "{stderr}");
        for name in &names {
            assert!(stderr.contains(name.as_str()), "--check does not name {name}: {stderr}");
        }
        assert_eq!(temporaries(&tree), left, "--check changed something");

        let rerun = run(&["normalize", "--epoch", EPOCH, path_str(&tree)]);
        let stderr = String::from_utf8_lossy(&rerun.stderr);
        assert_eq!(rerun.status.code(), Some(0), "{stderr}");
        for name in &names {
            assert!(stderr.contains(name.as_str()), "the rerun does not name {name}: {stderr}");
        }
        assert_eq!(temporaries(&tree), Vec::<PathBuf>::new());
        assert_eq!(manifest(&tree), manifest(&reference), "the rerun does not converge");
        return;
    }
    panic!("no SIGKILL left a temporary file in 20 tries");
}

/// One gzip file with `links` names: the original in `d/`, the others in `links/`.
fn link_group(root: &Path, links: usize) {
    std::fs::create_dir_all(root.join("d")).unwrap();
    std::fs::create_dir_all(root.join("links")).unwrap();
    std::fs::write(root.join("d/a"), noise(4096)).unwrap();
    assert!(Command::new("gzip").arg(root.join("d/a")).status().unwrap().success());
    for i in 0..links {
        std::fs::hard_link(root.join("d/a.gz"), root.join(format!("links/l{i:05}.gz"))).unwrap();
    }
}

/// The distinct inodes of the regular files beneath `root`.
fn inodes(root: &Path) -> std::collections::BTreeSet<u64> {
    let mut set = std::collections::BTreeSet::new();
    for sub in ["d", "links"] {
        for entry in std::fs::read_dir(root.join(sub)).unwrap().flatten() {
            if !entry.file_name().to_string_lossy().starts_with(".tamis-") {
                set.insert(entry.metadata().unwrap().ino());
            }
        }
    }
    set
}

#[test]
fn a_hard_link_group_split_by_sigkill_is_made_whole_by_the_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original");
    link_group(&original, 3000);
    let reference = dir.path().join("reference");
    copy_tree(&original, &reference);
    let normalize = ["normalize", "--only", "formats,mtime", "--epoch", EPOCH];
    let out = run(&[&normalize[..], &[path_str(&reference)]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(inodes(&reference).len(), 1);
    let expected = manifest(&reference);

    for attempt in 0..8 {
        let tree = dir.path().join(format!("tree-{attempt}"));
        copy_tree(&original, &tree);
        let mut child = tamis().args(normalize).arg(&tree).stderr(Stdio::null()).spawn().unwrap();
        let Some(status) = signal_when_relinking(&mut child, &tree.join("d"), Signal::KILL) else { continue };
        assert_eq!(status.signal(), Some(9));
        if inodes(&tree).len() < 2 {
            continue; // not killed in the middle of the group
        }
        let old = std::fs::read(original.join("d/a.gz")).unwrap();
        let new = std::fs::read(reference.join("d/a.gz")).unwrap();
        for entry in std::fs::read_dir(tree.join("links")).unwrap().flatten() {
            let bytes = std::fs::read(entry.path()).unwrap();
            assert!(bytes == old || bytes == new, "{}: half-written", entry.path().display());
        }

        let rerun = run(&[&normalize[..], &[path_str(&tree)]].concat());
        assert_eq!(rerun.status.code(), Some(0), "{}", String::from_utf8_lossy(&rerun.stderr));
        assert_eq!(inodes(&tree).len(), 1, "the group is still split after the rerun");
        assert_eq!(temporaries(&tree), Vec::<PathBuf>::new());
        assert_eq!(std::fs::metadata(tree.join("d/a.gz")).unwrap().nlink(), 3001);
        assert_eq!(manifest(&tree), expected, "the rerun does not converge");
        return;
    }
    panic!("no SIGKILL landed in the middle of the group in 8 tries");
}

#[test]
fn sigterm_while_a_hard_link_group_is_re_pointed_waits_for_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original");
    link_group(&original, 3000);
    let normalize = ["normalize", "--only", "formats,mtime", "--epoch", EPOCH];
    for attempt in 0..8 {
        let tree = dir.path().join(format!("tree-{attempt}"));
        copy_tree(&original, &tree);
        let mut child = tamis().args(normalize).arg(&tree).stderr(Stdio::null()).spawn().unwrap();
        let Some(status) = signal_when_relinking(&mut child, &tree.join("d"), Signal::TERM) else { continue };
        assert_eq!(status.code(), Some(143), "{status:?}");
        assert_eq!(temporaries(&tree), Vec::<PathBuf>::new());
        // Either the group was replaced whole before the exit, or not at all.
        assert_eq!(inodes(&tree).len(), 1, "a signal split the group");
        assert_eq!(std::fs::metadata(tree.join("d/a.gz")).unwrap().nlink(), 3001);
        return;
    }
    panic!("no SIGTERM landed while the group was re-pointed in 8 tries");
}

/// Waits until `dir` holds a temporary of at least `min` bytes, then sends `signal`.
fn signal_when_written(child: &mut Child, dir: &Path, min: u64, signal: Signal) -> ExitStatus {
    loop {
        let big = std::fs::read_dir(dir).unwrap().flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with(".tamis-") && e.metadata().is_ok_and(|m| m.len() >= min)
        });
        if big {
            rustix::process::kill_process(Pid::from_child(child), signal).unwrap();
            return child.wait().unwrap();
        }
        assert!(child.try_wait().unwrap().is_none(), "the image was written before any signal");
    }
}

/// A tree of `files` files of 4 MiB of noise, and an output directory holding a previous image
/// `name`: (the temporary directory, the tree, the output directory, the image).
fn tree_and_previous_image(files: usize, name: &str) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    for i in 0..files {
        std::fs::write(tree.join(format!("f{i:02}")), noise(4 << 20)).unwrap();
    }
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let image = out_dir.join(name);
    std::fs::write(&image, b"the previous image").unwrap();
    (dir, tree, out_dir, image)
}

#[test]
fn an_interrupted_squashfs_removes_its_temporary_and_a_killed_one_is_named_next_time() {
    let (dir, tree, out_dir, image) = tree_and_previous_image(25, "root.squashfs");
    let squashfs = |tree: &Path| {
        let mut command = tamis();
        // gzip level 1: a few seconds for the whole image, a signal lands while it is written.
        command.args(["squashfs", "--comp", "gzip", "--level", "1", "--epoch", EPOCH]).arg(tree).arg(&image);
        command
    };

    for signal in [Signal::INT, Signal::TERM, Signal::HUP] {
        let mut child = squashfs(&tree).stderr(Stdio::null()).spawn().unwrap();
        let status = signal_when_written(&mut child, &out_dir, 1 << 20, signal);
        assert_eq!(status.code(), Some(128 + signal.as_raw()), "{signal:?}: {status:?}");
        assert_eq!(temporaries(&out_dir), Vec::<PathBuf>::new(), "{signal:?} left the temporary image");
        assert!(std::fs::read(&image).unwrap() == b"the previous image", "the previous image was changed");
    }

    let mut child = squashfs(&tree).stderr(Stdio::null()).spawn().unwrap();
    let status = signal_when_written(&mut child, &out_dir, 1 << 20, Signal::KILL);
    assert_eq!(status.signal(), Some(9));
    let left = temporaries(&out_dir);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(std::fs::read(&image).unwrap() == b"the previous image", "the previous image was changed");
    // The next run (of a small tree, into the same OUT) names it, and leaves it: it could be
    // another run's.
    let small = dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    std::fs::write(small.join("a"), b"a").unwrap();
    let rerun = squashfs(&small).output().unwrap();
    let stderr = String::from_utf8_lossy(&rerun.stderr);
    assert_eq!(rerun.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&*left[0].file_name().unwrap().to_string_lossy()), "not named: {stderr}");
    assert_eq!(temporaries(&out_dir), left);
    let listed = Command::new("unsquashfs").arg("-lln").arg(&image).output().unwrap();
    assert!(listed.status.success() && String::from_utf8_lossy(&listed.stdout).contains("squashfs-root/a"));
}

/// A tmpfs of 1 MiB mounted for a test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m", "tamis-test"]).arg(dir.path()).output();
        let out = out.unwrap();
        assert!(out.status.success(), "mount (the test needs root): {}", String::from_utf8_lossy(&out.stderr));
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills what is left of the disk.
    fn fill(&self) {
        let filler = std::fs::File::create(self.path().join("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        let mut writer = std::io::BufWriter::new(filler);
        while std::io::Write::write_all(&mut writer, &chunk).is_ok() {}
        let _ = std::io::Write::flush(&mut writer);
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_leaves_the_previous_manifest_and_report_intact() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    for i in 0..200 {
        std::fs::write(tree.join(format!("file-with-a-long-name-{i:04}")), b"x").unwrap();
    }
    let disk = SmallDisk::mount();
    let (manifest_file, report_file) = (disk.path().join("tree.manifest"), disk.path().join("report.json"));
    std::fs::write(&manifest_file, b"previous manifest\n").unwrap();
    std::fs::write(&report_file, b"previous report\n").unwrap();
    disk.fill();

    let out = run(&["manifest", "-o", path_str(&manifest_file), path_str(&tree)]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&manifest_file).unwrap(), "previous manifest\n");
    let out = run(&["mtime", "--epoch", EPOCH, "--json", path_str(&report_file), path_str(&tree)]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&report_file).unwrap(), "previous report\n");
    assert_eq!(temporaries(disk.path()), Vec::<PathBuf>::new());

    // With room again, both are written whole.
    std::fs::remove_file(disk.path().join("filler")).unwrap();
    assert_eq!(run(&["manifest", "-o", path_str(&manifest_file), path_str(&tree)]).status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&manifest_file).unwrap(), manifest(&tree));
}

#[test]
fn a_closed_output_pipe_ends_a_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    for i in 0..3000 {
        std::fs::write(tree.join(format!("{i:05}")), b"x").unwrap();
    }
    let commands: [&[&str]; 3] = [&["demo"], &["manifest", path_str(&tree)], &["stages"]];
    for args in commands {
        let mut child = tamis().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // `| head -0`: the reader is gone before the first line.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

/// Takes the append-only flag off a directory when dropped (a test that fails must not leave a
/// directory that cannot be removed).
struct Unflag<'a>(&'a Path);

impl Drop for Unflag<'_> {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-a").arg(self.0).status();
    }
}

#[test]
fn an_append_only_directory_is_named_and_left_without_a_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    gzip_tree(&tree, 2, 1000);
    let doc = tree.join("usr/share/doc");
    let before = contents(&tree);
    let status = Command::new("chattr").arg("+a").arg(&doc).status().unwrap();
    assert!(status.success(), "chattr +a (root and a file system with flags needed)");
    let _unflag = Unflag(&doc);

    let out = run(&["strip", "--epoch", EPOCH, path_str(&tree)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("/usr/share/doc/f000.gz") && stderr.contains("append-only"), "{stderr}");
    assert_eq!(temporaries(&tree), Vec::<PathBuf>::new());
    assert_eq!(contents(&tree), before);
}

/// Removes the `chattr` flags of these entries when dropped, so that the tree can be removed.
struct Unflags(Vec<PathBuf>);

impl Drop for Unflags {
    fn drop(&mut self) {
        for entry in &self.0 {
            let _ = Command::new("chattr").arg("-i").arg("-a").arg(entry).status();
        }
    }
}

/// What each stage of a `normalize --json -` run reports: its problems, and the paths it
/// changed (or would change).
fn problems_and_changes(out: &Output) -> Vec<(String, serde_json::Value, Vec<serde_json::Value>)> {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stages = v["stages"].as_array().unwrap();
    stages
        .iter()
        .map(|s| {
            let changes = s["changes"].as_array().unwrap().iter().map(|c| c["path"].clone()).collect();
            (s["stage"].to_string(), s["problems"].clone(), changes)
        })
        .collect()
}

/// `--check` meets what the run meets: an immutable file, an append-only file and a file in an
/// append-only directory are the same problems in both, not changes that `--check` promises and
/// the run cannot make.
#[test]
fn check_reports_the_protected_entries_the_run_leaves_alone() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    gzip_tree(&tree, 3, 100);
    let doc = tree.join("usr/share/doc");
    let locked = tree.join("usr/share/locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::rename(doc.join("f002.gz"), locked.join("f002.gz")).unwrap();
    // A log the logs stage would empty, kept append-only.
    std::fs::create_dir_all(tree.join("var/log")).unwrap();
    std::fs::write(tree.join("var/log/dpkg.log"), b"2026-12-14 install foo\n").unwrap();
    let flags = [
        ("+i", doc.join("f000.gz")),
        ("+a", doc.join("f001.gz")),
        ("+a", locked.clone()),
        ("+a", tree.join("var/log/dpkg.log")),
    ];
    let _unflags = Unflags(flags.iter().map(|(_, p)| p.clone()).collect());
    for (flag, entry) in &flags {
        let status = Command::new("chattr").arg(flag).arg(entry).status().unwrap();
        assert!(status.success(), "chattr {flag} (root and a file system with flags needed)");
    }

    let check = run(&["normalize", "--check", "--json", "-", "--epoch", EPOCH, path_str(&tree)]);
    let applied = run(&["normalize", "--json", "-", "--epoch", EPOCH, path_str(&tree)]);
    assert_eq!(check.status.code(), Some(1), "{}", String::from_utf8_lossy(&check.stderr));
    assert_eq!(applied.status.code(), Some(3), "{}", String::from_utf8_lossy(&applied.stderr));
    let (check, applied) = (problems_and_changes(&check), problems_and_changes(&applied));
    let formats = check.iter().find(|(stage, ..)| stage == "\"formats\"").unwrap();
    assert_eq!(formats.1.as_array().map(Vec::len), Some(3), "{:?}", formats.1);
    let logs = check.iter().find(|(stage, ..)| stage == "\"logs\"").unwrap();
    assert_eq!(logs.1.as_array().map(Vec::len), Some(1), "{:?}", logs.1);
    assert_eq!(check, applied, "--check and the run differ");
}

#[test]
fn an_interrupted_iso_build_removes_its_temporary_and_keeps_the_previous_image() {
    let (_dir, tree, out_dir, image) = tree_and_previous_image(40, "live.iso");
    let mut child =
        tamis().args(["iso", "build", "--epoch", EPOCH]).arg(&tree).arg(&image).stderr(Stdio::null()).spawn().unwrap();
    let status = signal_when_written(&mut child, &out_dir, 1 << 20, Signal::TERM);
    assert_eq!(status.code(), Some(143), "{status:?}");
    assert_eq!(temporaries(&out_dir), Vec::<PathBuf>::new(), "the temporary image is left");
    assert!(std::fs::read(&image).unwrap() == b"the previous image", "the previous image was changed");
}

#[test]
fn strip_removes_a_killed_runs_temporary_and_strips_the_rest_of_the_tree_in_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    gzip_tree(&tree, 3, 4096);
    // What a rewrite killed before its rename leaves: the new bytes (a gzip file itself) under
    // a temporary name of a process that is gone.
    let doc = tree.join("usr/share/doc");
    let left = doc.join(".tamis-4194303-7-i0.tmp");
    std::fs::copy(doc.join("f000.gz"), &left).unwrap();

    let out = run(&["strip", "--epoch", EPOCH, path_str(&tree)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The temporary is removed before the files are read: it is not stripped, nor missed as
    // a file that vanished.
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(".tamis-4194303-7-i0.tmp"), "the temporary is not named: {stderr}");
    assert_eq!(temporaries(&tree), Vec::<PathBuf>::new());
    for i in 0..3 {
        let bytes = std::fs::read(doc.join(format!("f{i:03}.gz"))).unwrap();
        assert_eq!(bytes[3] & 0x08, 0, "f{i:03}.gz still records its name");
        assert_eq!(&bytes[4..8], &1_700_000_000u32.to_le_bytes(), "f{i:03}.gz keeps its time");
    }
    let check = run(&["strip", "--check", "--epoch", EPOCH, path_str(&tree)]);
    assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stderr));
}
