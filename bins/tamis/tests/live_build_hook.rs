//! The live-build hook (`packaging/live-build/hooks/9990-tamis.hook.binary`) run the way
//! `lb binary` runs it: from `binary/`, with live-build's squashfs (made by mksquashfs from the
//! tree) in `binary/live/`, `SOURCE_DATE_EPOCH` exported; the hook takes the tree from it. On the two builds of the
//! rootfs-pair fixture (mmdebstrap, a host name and 3 days apart) the hook leaves byte-identical
//! squashfs images, which `unsquashfs` reads back as the normalized tree.

mod common;

use std::path::Path;
use std::process::Command;

fn hook() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/live-build/hooks/9990-tamis.hook.binary")
}

/// A live-build directory around a copy of `tree`: `chroot/chroot` and `binary/live/` with a
/// squashfs written by mksquashfs (live-build's own, replaced by the hook). Runs the hook.
fn run_hook(tree: &Path) -> (tempfile::TempDir, Vec<u8>) {
    let dir = common::copy(tree);
    let build = dir.path();
    std::fs::create_dir_all(build.join("chroot")).unwrap();
    std::fs::rename(build.join("root"), build.join("chroot/chroot")).unwrap();
    let live = build.join("binary/live");
    std::fs::create_dir_all(&live).unwrap();
    let made = Command::new("mksquashfs")
        .arg(build.join("chroot/chroot"))
        .arg(live.join("filesystem.squashfs"))
        .args(["-comp", "lz4", "-no-progress", "-quiet"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_tamis")).parent().unwrap().to_owned();
    #[allow(clippy::disallowed_methods, reason = "the test's own PATH")]
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(hook())
        .current_dir(build.join("binary"))
        .env("PATH", path)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        // lz4: the test checks the hook, not xz's speed.
        .env("TAMIS_SQUASHFS_OPTIONS", "--comp lz4")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "hook failed: {stderr}");
    // fontconfig caches record their directory's mtime to the nanosecond, which live-build's
    // squashfs (whole seconds) has already dropped: the fontconfig stage recognises them as
    // written for their directories and records the clamped time, rather than leaving them stale.
    assert!(!stderr.contains("stale before normalization"), "{stderr}");
    let image = std::fs::read(live.join("filesystem.squashfs")).unwrap();
    (dir, image)
}

/// The files whose contents or metadata differ between two squashfs images (unsquashfs, then
/// tamis diff on the trees).
fn differing(a: &Path, b: &Path) -> String {
    let tmp = tempfile::tempdir().unwrap();
    for (image, name) in [(a, "a"), (b, "b")] {
        let out =
            Command::new("unsquashfs").args(["-q", "-n", "-d"]).arg(tmp.path().join(name)).arg(image).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_tamis"))
        .arg("diff")
        .arg(tmp.path().join("a"))
        .arg(tmp.path().join("b"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn two_builds_through_the_hook_give_one_squashfs() {
    let Some(pair) = common::fixture("rootfs-pair") else { return };
    if !common::have(&["mksquashfs", "unsquashfs"]) {
        return;
    }
    let (dir_a, a) = run_hook(&pair.join("a"));
    let (dir_b, b) = run_hook(&pair.join("b"));
    if a != b {
        let image = |d: &tempfile::TempDir| d.path().join("binary/live/filesystem.squashfs");
        panic!("the two images differ:\n{}", differing(&image(&dir_a), &image(&dir_b)));
    }
    // The image is the normalized tree: unsquashfs reads it back, and no file is newer than the epoch.
    let listed = Command::new("unsquashfs")
        .env("TZ", "UTC")
        .args(["-lln"])
        .arg(dir_a.path().join("binary/live/filesystem.squashfs"))
        .output()
        .unwrap();
    assert!(listed.status.success());
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains("squashfs-root/etc/os-release"), "{}", &text[..text.len().min(2000)]);
    // `unsquashfs -lln` (UTC here): MODE OWNER SIZE-or-DEVICE DATE TIME PATH; the epoch is
    // 2023-11-14 22:13.
    let is_date = |w: &&str| w.len() == 10 && w.as_bytes()[0].is_ascii_digit() && w.as_bytes()[4] == b'-';
    let late: Vec<&str> = text
        .lines()
        .filter(|l| l.split_whitespace().find(is_date).is_some_and(|date| date > "2023-11-14"))
        .take(5)
        .collect();
    assert!(late.is_empty(), "entries newer than the epoch remain: {late:?}");
    // The image holds the normalized tree: an empty machine-id (it held the build's).
    let machine_id = text.lines().find(|l| l.ends_with("squashfs-root/etc/machine-id")).unwrap();
    assert_eq!(machine_id.split_whitespace().nth(2), Some("0"), "{machine_id}");
}
