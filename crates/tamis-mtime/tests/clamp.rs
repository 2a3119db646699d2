//! The mtime stage on trees with every type of entry, links to the outside included.

use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;

use tamis_core::{Context, Epoch, Mode, Normalizer, Report, Root, TimePolicy};
use tamis_mtime::{ClampMtimes, MtimeOptions};

const EPOCH: i64 = 1_700_000_000;
const OLD: i64 = 1_600_000_000;
const FUTURE: i64 = 1_800_000_000;

fn touch(path: &Path, secs: i64) {
    let status =
        Command::new("touch").args(["-h", "-d", &format!("@{secs}.5"), path.to_str().unwrap()]).status().unwrap();
    assert!(status.success());
}

/// Every type of entry, some newer than the epoch and some older, created in `order`; the
/// times are set last so that two trees built in different orders have equal metadata.
fn build(dir: &Path, reverse: bool) {
    let mut names = vec!["a", "b", "c", "d"];
    if reverse {
        names.reverse();
    }
    fs::create_dir_all(dir.join("root/etc/sub")).unwrap();
    for n in &names {
        fs::write(dir.join("root/etc").join(n), n).unwrap();
    }
    fs::write(dir.join("outside"), b"outside").unwrap();
    symlink(dir.join("outside"), dir.join("root/etc/link-out")).unwrap();
    symlink("../..", dir.join("root/etc/sub/up")).unwrap();
    assert!(Command::new("mkfifo").arg(dir.join("root/fifo")).status().unwrap().success());
    let _socket = UnixListener::bind(dir.join("root/socket")).unwrap();
    if rustix::process::geteuid().is_root() {
        assert!(
            Command::new("mknod")
                .args([dir.join("root/null").to_str().unwrap(), "c", "1", "3"])
                .status()
                .unwrap()
                .success()
        );
    }
    for n in &names {
        touch(&dir.join("root/etc").join(n), if *n == "a" { OLD } else { FUTURE });
    }
    touch(&dir.join("outside"), FUTURE);
    for p in ["root/etc/link-out", "root/etc/sub/up", "root/fifo", "root/socket", "root/etc/sub", "root/etc", "root"] {
        touch(&dir.join(p), FUTURE);
    }
    if dir.join("root/null").exists() {
        touch(&dir.join("root/null"), FUTURE);
    }
}

fn run(root: &Path, policy: TimePolicy, mode: Mode) -> Report {
    let stage = ClampMtimes::new(MtimeOptions::new(policy));
    let cx = Context::new(Epoch::from_secs(EPOCH).unwrap(), mode);
    stage.run(&Root::open(root).unwrap(), &cx).unwrap()
}

fn mtimes(root: &Path) -> Vec<(String, i64, i64)> {
    let tree = Root::open(root).unwrap().walk().unwrap();
    tree.entries()
        .iter()
        .map(|e| (e.path.display().to_string(), e.meta.mtime.secs, i64::from(e.meta.mtime.nanos)))
        .collect()
}

#[test]
fn clamps_every_type_of_entry_and_nothing_outside() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), false);
    let root = dir.path().join("root");

    let report = run(&root, TimePolicy::Clamp, Mode::Apply);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let changed = report.changes.len();
    assert_eq!(changed, mtimes(&root).len(), "all were newer but etc/a, which had nanoseconds");

    for (path, secs, nanos) in mtimes(&root) {
        if path == "etc/a" {
            assert_eq!((secs, nanos), (OLD, 0), "an older entry keeps its time, in whole seconds");
        } else {
            assert_eq!((secs, nanos), (EPOCH, 0), "{path}");
        }
    }
    // The link's target outside the root kept its time.
    assert_eq!(fs::metadata(dir.path().join("outside")).unwrap().mtime(), FUTURE);
    // Access time follows the new mtime.
    assert_eq!(fs::symlink_metadata(root.join("etc/b")).unwrap().atime(), EPOCH);

    // A second run has nothing to do.
    let again = run(&root, TimePolicy::Clamp, Mode::Apply);
    assert!(again.is_clean(), "{:?}", again.changes);
}

#[test]
fn check_mode_reports_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), false);
    let root = dir.path().join("root");
    let before = mtimes(&root);
    let report = run(&root, TimePolicy::Clamp, Mode::Check);
    assert_eq!(report.mode, Mode::Check);
    assert!(!report.changes.is_empty());
    assert_eq!(report.changes[0].after.as_deref(), Some("2023-11-14T22:13:20Z"));
    assert_eq!(mtimes(&root), before);
}

#[test]
fn set_policy_moves_older_entries_too() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), false);
    let root = dir.path().join("root");
    run(&root, TimePolicy::Set, Mode::Apply);
    assert!(mtimes(&root).iter().all(|(_, secs, nanos)| (*secs, *nanos) == (EPOCH, 0)));
    assert!(run(&root, TimePolicy::Set, Mode::Check).is_clean());
}

#[test]
fn reports_do_not_depend_on_creation_order_or_threads() {
    let mut reports = Vec::new();
    for (reverse, threads) in [(false, 1), (true, 1), (false, 4), (true, 4)] {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), reverse);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let report = pool.install(|| run(&dir.path().join("root"), TimePolicy::Clamp, Mode::Apply));
        reports.push(report);
    }
    for r in &reports[1..] {
        assert_eq!(r, &reports[0]);
    }
}
