//! A hostile tree: what the outside checks threw at tamis, in one cheap test. Links to files and
//! directories outside the tree, files hard-linked from outside (`cp -al` from a cache), a
//! directory swapped with an outside link while the run goes on, FIFOs, a device node, a file
//! of mode 000, an immutable file and an append-only directory. After `normalize`, `strip` and
//! `mtime`: nothing outside the tree has changed (content, mtime, inode, mode), no run hung, and
//! no `.tamis-*` temporary is left anywhere in the tree.

#![allow(clippy::disallowed_methods, reason = "test support: std::fs is fine outside the tree's handle")]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::{CWD, RenameFlags, renameat_with};

const EPOCH: &str = "1700000000";

/// What a file outside the tree must keep: its bytes, mtime, inode, mode and owner.
#[derive(Debug, PartialEq, Eq)]
struct Kept {
    bytes: Option<Vec<u8>>,
    link: Option<PathBuf>,
    mtime: (i64, i64),
    ino: u64,
    mode: u32,
    owner: (u32, u32),
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Kept> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for item in fs::read_dir(&d).unwrap() {
            let path = item.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let kind = meta.file_type();
            if kind.is_dir() {
                todo.push(path.clone());
            }
            let kept = Kept {
                bytes: kind.is_file().then(|| fs::read(&path).unwrap()),
                link: kind.is_symlink().then(|| fs::read_link(&path).unwrap()),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                ino: meta.ino(),
                mode: meta.mode(),
                owner: (meta.uid(), meta.gid()),
            };
            out.insert(path, kept);
        }
    }
    out
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn gzip_with_name_and_time(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    // gzip records the name and the mtime: the formats stage has something to change.
    run(Command::new("touch").args(["-d", "2030-01-01"]).arg(path));
    run(Command::new("gzip").arg("-f").arg(path));
}

/// The tree and, beside it, the outside world it must not touch.
struct Hostile {
    _dir: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

impl Hostile {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        let cache = outside.join("cache");
        for d in ["cache/etc", "cache/var/log", "cache/usr/share/doc", "victim", "secret"] {
            fs::create_dir_all(outside.join(d)).unwrap();
        }
        fs::write(cache.join("etc/machine-id"), "0123456789abcdef0123456789abcdef\n").unwrap();
        fs::write(cache.join("var/log/dpkg.log"), "build log\n").unwrap();
        fs::write(cache.join("etc/hostname"), "builder\n").unwrap();
        gzip_with_name_and_time(&cache.join("usr/share/doc/changelog"), "a changelog\n");
        gzip_with_name_and_time(&outside.join("victim/news"), "outside news\n");
        fs::write(outside.join("secret/passwd"), "outside:x:0:0::/:/bin/sh\n").unwrap();
        run(Command::new("touch").args(["-d", "2030-01-01"]).arg(outside.join("secret/passwd")));
        // The tree shares inodes with the cache, as a builder that hard-links from a cache makes it.
        run(Command::new("cp").arg("-al").arg(&cache).arg(&root));

        // Links out of the tree, absolute and relative, to files and to directories.
        std::os::unix::fs::symlink(outside.join("secret/passwd"), root.join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("../../outside/secret", root.join("etc/secret")).unwrap();
        std::os::unix::fs::symlink(outside.join("victim"), root.join("var/log/apt")).unwrap();
        std::os::unix::fs::symlink(outside.join("victim"), root.join("usr/share/swap")).unwrap();
        // Special files where stages look for logs and archives.
        run(Command::new("mkfifo").arg(root.join("var/log/fifo.log")).arg(root.join("usr/share/doc/pipe.gz")));
        run(Command::new("mknod").arg(root.join("var/log/null.log")).args(["c", "1", "3"]));
        gzip_with_name_and_time(&root.join("usr/share/doc/locked"), "mode 000\n");
        fs::set_permissions(root.join("usr/share/doc/locked.gz"), fs::Permissions::from_mode(0o000)).unwrap();
        gzip_with_name_and_time(&root.join("usr/share/doc/immutable"), "chattr +i\n");
        fs::create_dir(root.join("usr/share/appendonly")).unwrap();
        gzip_with_name_and_time(&root.join("usr/share/appendonly/readme"), "chattr +a\n");
        run(Command::new("chattr").arg("+i").arg(root.join("usr/share/doc/immutable.gz")));
        run(Command::new("chattr").arg("+a").arg(root.join("usr/share/appendonly")));
        Self { _dir: dir, root, outside }
    }

    fn temporaries(&self) -> Vec<PathBuf> {
        let out = run(Command::new("find").arg(&self.root).args(["-name", ".tamis-*"]));
        String::from_utf8_lossy(&out.stdout).lines().map(PathBuf::from).collect()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        // Let the temporary directory be removed.
        let _ = Command::new("chattr").arg("-i").arg(self.root.join("usr/share/doc/immutable.gz")).status();
        let _ = Command::new("chattr").arg("-a").arg(self.root.join("usr/share/appendonly")).status();
    }
}

/// Runs tamis with `args` while another thread keeps exchanging the tree's `usr/share/doc`
/// directory with `usr/share/swap`, a link to a directory outside. Fails if the run hangs.
fn run_while_swapping(hostile: &Hostile, args: &[&str]) -> std::process::Output {
    let stop = Arc::new(AtomicBool::new(false));
    let (a, b) = (hostile.root.join("usr/share/doc"), hostile.root.join("usr/share/swap"));
    let swapper = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) || swaps % 2 == 1 {
                renameat_with(CWD, &a, CWD, &b, RenameFlags::EXCHANGE).unwrap();
                swaps += 1;
            }
            swaps
        })
    };
    let out = run_tamis(hostile, args, Some(&stop));
    let swaps = swapper.join().unwrap();
    assert!(swaps > 0, "the swap race did not run");
    out
}

/// Runs tamis with `args` on the tree; fails if it hangs. Raises `stop` when it ends.
fn run_tamis(hostile: &Hostile, args: &[&str], stop: Option<&AtomicBool>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tamis"))
        .args(args)
        .arg(&hostile.root)
        .env_remove("SOURCE_DATE_EPOCH")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let stop_all = || stop.inspect(|s| s.store(true, Ordering::Relaxed));
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(300) {
            child.kill().unwrap();
            stop_all();
            panic!("tamis {args:?} hung on the hostile tree");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop_all();
    child.wait_with_output().unwrap()
}

#[test]
fn a_hostile_tree_changes_nothing_outside_and_keeps_no_temporary() {
    let hostile = Hostile::new();
    let before = snapshot(&hostile.outside);
    for args in [
        &["normalize", "--epoch", EPOCH][..],
        &["strip", "--epoch", EPOCH][..],
        &["mtime", "--set", "--epoch", EPOCH][..],
        &["normalize", "--epoch", EPOCH, "--check"][..],
    ] {
        let out = run_while_swapping(&hostile, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Done, done with problems (the immutable file, the FIFOs…), or "would change": never an
        // error that stops the run, never a crash.
        assert!(matches!(out.status.code(), Some(0 | 1 | 3)), "tamis {args:?}: {:?}\n{stderr}", out.status);
        assert!(!stderr.contains("panicked"), "tamis {args:?}: {stderr}");
        assert_eq!(hostile.temporaries(), Vec::<PathBuf>::new(), "tamis {args:?} left temporaries\n{stderr}");
        let after = snapshot(&hostile.outside);
        for (path, kept) in &before {
            assert_eq!(after.get(path), Some(kept), "tamis {args:?} changed {} outside the tree", path.display());
        }
    }
    // Without the race (a walk that met the swap cannot know every name of a hard-linked file,
    // and leaves it), the files linked from outside are normalized all the same: emptied, clamped,
    // and the outside still keeps everything.
    let out = run_tamis(&hostile, &["normalize", "--epoch", EPOCH], None);
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(snapshot(&hostile.outside), before, "a run without the race changed something outside");
    let machine_id = hostile.root.join("etc/machine-id");
    assert_eq!(fs::read(&machine_id).unwrap(), b"", "machine-id inside the tree is emptied");
    assert!(fs::symlink_metadata(&machine_id).unwrap().mtime() <= EPOCH.parse().unwrap());
}
