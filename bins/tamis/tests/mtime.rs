//! `tamis mtime` walks the tree once for the temporaries of interrupted runs and the clamp; when
//! clearing a temporary changed a directory, that directory is clamped too.

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::Command;

const EPOCH: i64 = 1_700_000_000;

fn set_mtime(path: &Path, secs: u64) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    fs::File::open(path).unwrap().set_modified(t).unwrap();
}

#[test]
fn a_directory_changed_by_clearing_a_temporary_is_clamped_too() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("etc/sub")).unwrap();
    fs::write(root.join("etc/hostname"), b"debian\n").unwrap();
    // What a run killed by SIGKILL leaves: a temporary with one link (its original intact), made
    // by a process that no longer runs.
    fs::write(root.join("etc/sub/.tamis-999999999-1-i12345.tmp"), b"half").unwrap();
    for p in ["etc/hostname", "etc/sub", "etc", ""] {
        set_mtime(&root.join(p), 1_500_000_000);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_tamis"))
        .args(["mtime", "--quiet", "--epoch", &EPOCH.to_string()])
        .arg(root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!root.join("etc/sub/.tamis-999999999-1-i12345.tmp").exists(), "the temporary is left");
    // Removing the temporary made etc/sub newer than the epoch; the clamp saw it.
    for p in ["etc/hostname", "etc/sub", "etc", ""] {
        let mtime = fs::symlink_metadata(root.join(p)).unwrap().mtime();
        assert!(mtime <= EPOCH, "/{p} left at {mtime}, after the epoch");
    }
    assert_eq!(fs::symlink_metadata(root.join("etc/hostname")).unwrap().mtime(), 1_500_000_000);
}
