//! `tamis iuk`: incremental upgrade kits between two releases, checked with the real tools:
//! `unsquashfs` lists the kit and its diff, `getfattr` reads the opaque marker, and the kit is
//! applied for real — the old squashfs and the kit's diff loop-mounted read-only and stacked
//! with `mount -t overlay -o lowerdir=DIFF:OLD`, as live-boot stacks them — into a tree that
//! `tamis diff` finds identical to NEW.

#![allow(clippy::disallowed_methods, clippy::print_stderr, reason = "tests")]

mod common;

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const OLD_EPOCH: &str = "1795900000";
const NEW_EPOCH: &str = "1795990000";

use common::run;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn tamis_ok(args: &[&str]) -> Output {
    let out = common::tamis(args);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "tamis {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// Packs `tree` into `dir/NAME.squashfs` and, with a kernel, an initrd and boot directories,
/// into `dir/NAME.iso` (both with tamis' own commands).
fn release(tree: &Path, dir: &Path, name: &str, epoch: &str, initrd: &[u8]) -> (PathBuf, PathBuf) {
    let squashfs = dir.join(format!("{name}.squashfs"));
    tamis_ok(&["squashfs", "--epoch", epoch, "-q", "--comp", "zstd", "--level", "3", s(tree), s(&squashfs)]);
    let iso_tree = dir.join(format!("{name}.isotree"));
    for d in ["live", "isolinux", "EFI/BOOT", "utils/mbr"] {
        std::fs::create_dir_all(iso_tree.join(d)).unwrap();
    }
    std::fs::copy(&squashfs, iso_tree.join("live/filesystem.squashfs")).unwrap();
    std::fs::write(iso_tree.join("live/vmlinuz"), b"the same kernel in both releases\n").unwrap();
    std::fs::write(iso_tree.join("live/initrd.img"), initrd).unwrap();
    std::fs::write(iso_tree.join("isolinux/isolinux.cfg"), format!("include /isolinux/live.cfg\n# release {name}\n"))
        .unwrap();
    std::fs::write(iso_tree.join("isolinux/live.cfg"), b"kernel /live/vmlinuz\nappend initrd=/live/initrd.img\n")
        .unwrap();
    std::fs::write(iso_tree.join("EFI/BOOT/grub.cfg"), format!("menuentry {name}\n")).unwrap();
    std::fs::write(iso_tree.join("utils/mbr/mbr.bin"), [0u8; 440]).unwrap();
    if name == "old" {
        // Only in the old ISO: listed in control.yml's delete_files.
        std::fs::write(iso_tree.join("live/old-only.module"), b"gone in the new release\n").unwrap();
    }
    let iso = dir.join(format!("{name}.iso"));
    tamis_ok(&["iso", "build", "--epoch", epoch, "-q", s(&iso_tree), s(&iso)]);
    std::fs::remove_dir_all(&iso_tree).unwrap();
    (squashfs, iso)
}

/// An initramfs: `cpio -o -H newc` of a few files (the new release's has one more archive
/// appended, as an early microcode archive is).
fn initrd(dir: &Path, extra: bool) -> Vec<u8> {
    let src = dir.join(if extra { "initrd-new" } else { "initrd-old" });
    std::fs::create_dir_all(src.join("scripts")).unwrap();
    std::fs::write(src.join("init"), b"#!/bin/sh\nexec /sbin/init\n").unwrap();
    let out =
        run(Command::new("sh").arg("-c").arg("find . | LC_ALL=C sort | cpio -o -H newc --quiet").current_dir(&src));
    let mut bytes = out.stdout;
    if extra {
        std::fs::write(src.join("microcode"), b"update\n").unwrap();
        let more = run(Command::new("sh").arg("-c").arg("echo microcode | cpio -o -H newc --quiet").current_dir(&src));
        bytes.extend_from_slice(&more.stdout);
    }
    bytes
}

/// The mounts of one application of a kit, undone in reverse order when dropped.
struct Mounts(Vec<PathBuf>);

impl Drop for Mounts {
    fn drop(&mut self) {
        for m in self.0.iter().rev() {
            // The diff's loop device holds its file open in the kit's mount, and the kernel
            // lets the device go a moment after the diff's unmount: until then the kit's
            // unmount fails with "target is busy". Wait for it; detach lazily as a last resort,
            // so that no mount outlives the test's temporary directory.
            let unmounted = (0..50).any(|i| {
                if i > 0 {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Command::new("umount").arg(m).output().is_ok_and(|o| o.status.success())
            });
            if !unmounted {
                let _ = Command::new("umount").arg("--lazy").arg(m).output();
            }
        }
    }
}

/// Applies `kit` to `old` (a squashfs) for real: both loop-mounted read-only, the kit's diff
/// too, stacked by overlayfs; returns the merged directory, or `None` (and says "skipped") when
/// this machine cannot mount.
fn apply_for_real(dir: &Path, old: &Path, kit: &Path, diff_in_kit: &str) -> Option<(Mounts, PathBuf)> {
    let mut mounts = Mounts(Vec::new());
    let point = |name: &str| {
        let p = dir.join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    };
    let (m_old, m_kit, m_diff, m_merged) = (point("m-old"), point("m-kit"), point("m-diff"), point("m-merged"));
    let steps: [(Vec<String>, &PathBuf); 4] = [
        (vec!["-t".into(), "squashfs".into(), "-o".into(), "loop,ro".into(), s(old).into()], &m_old),
        (vec!["-t".into(), "squashfs".into(), "-o".into(), "loop,ro".into(), s(kit).into()], &m_kit),
        (
            vec!["-t".into(), "squashfs".into(), "-o".into(), "loop,ro".into(), s(&m_kit.join(diff_in_kit)).into()],
            &m_diff,
        ),
        (
            vec![
                "-t".into(),
                "overlay".into(),
                "-o".into(),
                format!("ro,lowerdir={}:{}", s(&m_diff), s(&m_old)),
                "overlay".into(),
            ],
            &m_merged,
        ),
    ];
    for (args, point) in steps {
        let out = Command::new("mount").args(&args).arg(point).output().unwrap();
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(!common::required(), "mount {args:?}: {why}");
            eprintln!("skipped: applying the kit for real: mount {args:?} failed: {why}");
            return None;
        }
        mounts.0.push(point.clone());
    }
    Some((mounts, m_merged))
}

/// A small pair of releases, made here (no fixture needed), with every kind of change.
fn small_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let old = dir.join("old");
    let new = dir.join("new");
    for (root, release) in [(&old, 1), (&new, 2)] {
        for d in ["etc", "usr/bin", "usr/share/doc/pkg", "usr/share/doc/gone/sub", "var/lib", "opt/was-dir"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("etc/app.conf"), format!("release = {release}\n")).unwrap();
        std::fs::write(root.join("usr/bin/tool"), vec![release as u8; 300_000]).unwrap();
        std::fs::write(root.join("usr/share/doc/pkg/copyright"), b"same\n").unwrap();
        std::fs::write(root.join("opt/was-dir/inside"), b"old content\n").unwrap();
        std::fs::write(root.join("var/lib/was-file"), b"a file\n").unwrap();
        std::fs::write(root.join("usr/share/doc/gone/sub/f"), b"removed with its package\n").unwrap();
    }
    std::fs::remove_dir_all(new.join("usr/share/doc/gone")).unwrap();
    std::fs::remove_dir_all(new.join("opt/was-dir")).unwrap();
    std::fs::write(new.join("opt/was-dir"), b"now a file\n").unwrap();
    std::fs::remove_file(new.join("var/lib/was-file")).unwrap();
    std::fs::create_dir(new.join("var/lib/was-file")).unwrap();
    std::fs::write(new.join("var/lib/was-file/inside"), b"now a directory\n").unwrap();
    std::fs::write(new.join("usr/bin/new-tool"), b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(new.join("usr/share/doc/pkg/copyright"), std::fs::Permissions::from_mode(0o600)).unwrap();
    for (root, epoch) in [(&old, OLD_EPOCH), (&new, NEW_EPOCH)] {
        run(Command::new("find").arg(root).args(["-exec", "touch", "-h", "-d", "@1700000000", "{}", "+"]));
        tamis_ok(&["normalize", "--epoch", epoch, "-q", s(root)]);
    }
    (old, new)
}

#[test]
fn small_kit_is_laid_out_as_tails_and_applies_for_real() {
    if !common::have(&["unsquashfs", "xorriso", "cpio", "getfattr"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (old_tree, new_tree) = small_pair(dir.path());
    let (old_sq, old_iso) = release(&old_tree, dir.path(), "old", OLD_EPOCH, &initrd(dir.path(), false));
    let (_new_sq, new_iso) = release(&new_tree, dir.path(), "new", NEW_EPOCH, &initrd(dir.path(), true));
    let kit = dir.path().join("Tails_amd64_1_to_2.iuk");
    let json = dir.path().join("kit.json");
    let out = tamis_ok(&["iuk", "--epoch", NEW_EPOCH, "--json", s(&json), s(&old_iso), s(&new_iso), s(&kit)]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("content changes: 2 entries"), "{text}");

    // The kit, as unsquashfs lists it: Tails' layout, all owned by root.
    let list = run(Command::new("unsquashfs").arg("-lln").arg(&kit));
    let list = String::from_utf8_lossy(&list.stdout);
    for path in [
        "squashfs-root/FORMAT",
        "squashfs-root/control.yml",
        "squashfs-root/overlay/live/Tails_amd64_1_to_2.squashfs",
        "squashfs-root/overlay/live/initrd.img",
        "squashfs-root/overlay/syslinux/syslinux.cfg",
        "squashfs-root/overlay/syslinux/live.cfg",
        "squashfs-root/overlay/EFI/BOOT/grub.cfg",
        "squashfs-root/overlay/utils/mbr/mbr.bin",
    ] {
        assert!(list.lines().any(|l| l.ends_with(path)), "{path} not in the kit:\n{list}");
    }
    assert!(!list.contains("overlay/live/vmlinuz"), "an unchanged kernel was copied:\n{list}");
    assert!(list.lines().filter(|l| l.contains("squashfs-root")).all(|l| l.contains(" 0/0 ")), "{list}");
    let x = dir.path().join("x");
    run(Command::new("unsquashfs").arg("-d").arg(&x).arg(&kit));
    assert_eq!(std::fs::read(x.join("FORMAT")).unwrap(), b"2");
    assert_eq!(
        std::fs::read_to_string(x.join("control.yml")).unwrap(),
        "---\ndelete_files:\n  - live/old-only.module\n"
    );
    assert_eq!(
        std::fs::read_to_string(x.join("overlay/syslinux/syslinux.cfg")).unwrap(),
        "include /syslinux/live.cfg\n# release new\n"
    );

    // The diff: whiteouts for what went (a directory once), the opaque marker where a
    // directory replaced a file, nothing for what did not change.
    let diff = x.join("overlay/live/Tails_amd64_1_to_2.squashfs");
    let listed = run(Command::new("unsquashfs").arg("-lln").arg(&diff));
    let listed = String::from_utf8_lossy(&listed.stdout);
    let line = |p: &str| listed.lines().find(|l| l.ends_with(&format!("squashfs-root/{p}"))).map(str::to_owned);
    let gone = line("usr/share/doc/gone").expect("no whiteout for the removed directory");
    assert!(gone.starts_with("c---------") && gone.contains(" 0,  0 "), "{gone}");
    assert!(line("usr/share/doc/gone/sub").is_none(), "{listed}");
    assert!(line("usr/share/doc/pkg/copyright").is_some(), "the mode change is missing:\n{listed}");
    assert!(line("etc/app.conf").is_some() && line("usr/bin/new-tool").is_some(), "{listed}");
    assert!(line("opt/was-dir").unwrap().starts_with('-'), "{listed}");
    assert!(line("var/lib/was-file").unwrap().starts_with('d'), "{listed}");
    let y = dir.path().join("y");
    run(Command::new("unsquashfs").arg("-d").arg(&y).arg(&diff));
    let opaque = run(Command::new("getfattr")
        .args(["--absolute-names", "-n", "trusted.overlay.opaque"])
        .arg(y.join("var/lib/was-file")));
    assert!(String::from_utf8_lossy(&opaque.stdout).contains("trusted.overlay.opaque=\"y\""));

    // --verify passes.
    let verify = common::tamis(&["iuk", "--verify", s(&old_iso), s(&new_iso), s(&kit)]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );

    // For real: the stacked tree is NEW.
    let Some((_mounts, merged)) = apply_for_real(dir.path(), &old_sq, &kit, "overlay/live/Tails_amd64_1_to_2.squashfs")
    else {
        return;
    };
    let diff = common::tamis(&["diff", s(&merged), s(&new_tree)]);
    assert_eq!(diff.status.code(), Some(0), "{}", String::from_utf8_lossy(&diff.stdout));
}

#[test]
fn a_wrong_kit_fails_verification_and_names_the_path() {
    if !common::have(&["xorriso", "cpio"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (old_tree, new_tree) = small_pair(dir.path());
    let (old_sq, _) = release(&old_tree, dir.path(), "old", OLD_EPOCH, &initrd(dir.path(), false));
    let (new_sq, _) = release(&new_tree, dir.path(), "new", NEW_EPOCH, &initrd(dir.path(), true));
    // A kit made for another NEW: one where usr/bin/new-tool was changed again.
    std::fs::write(new_tree.join("usr/bin/new-tool"), b"#!/bin/sh\nexit 1\n").unwrap();
    tamis_ok(&["normalize", "--epoch", NEW_EPOCH, "-q", s(&new_tree)]);
    let other = dir.path().join("other.squashfs");
    tamis_ok(&["squashfs", "--epoch", NEW_EPOCH, "-q", s(&new_tree), s(&other)]);
    let kit = dir.path().join("wrong.iuk");
    tamis_ok(&["iuk", "--epoch", NEW_EPOCH, s(&old_sq), s(&other), s(&kit)]);
    let verify = common::tamis(&["iuk", "--verify", s(&old_sq), s(&new_sq), s(&kit)]);
    let text = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(1), "{text}{}", String::from_utf8_lossy(&verify.stderr));
    assert!(text.contains("content /usr/bin/new-tool"), "{text}");
    assert_eq!(text.lines().count(), 2, "only the one path should be named:\n{text}");

    // `tamis diff --explain` reads kits: the right kit and the wrong one differ inside their
    // diff squashfs, at that path.
    let right = dir.path().join("right.iuk");
    tamis_ok(&["iuk", "--epoch", NEW_EPOCH, "--diff-name", "wrong.squashfs", s(&old_sq), s(&new_sq), s(&right)]);
    let diff = common::tamis(&["diff", "--explain", s(&right), s(&kit)]);
    let text = String::from_utf8_lossy(&diff.stdout);
    assert_eq!(diff.status.code(), Some(1), "{text}");
    assert!(text.contains("/overlay/live/wrong.squashfs  image"), "{text}");
    assert!(text.lines().any(|l| l.trim_start().starts_with("/usr/bin/new-tool")), "{text}");
}

/// OUT after a failed run: absent, and no temporary file beside it.
fn assert_nothing_written(dir: &Path, out: &Path) {
    assert!(!out.exists(), "{} was written", out.display());
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name();
        assert!(!name.to_string_lossy().starts_with(".tamis-"), "{name:?} left behind");
    }
}

#[test]
fn bad_input_is_refused_with_nothing_written() {
    if !common::have(&["xorriso", "cpio"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (old_tree, new_tree) = small_pair(dir.path());
    let (old_sq, old_iso) = release(&old_tree, dir.path(), "old", OLD_EPOCH, &initrd(dir.path(), false));
    let (new_sq, new_iso) = release(&new_tree, dir.path(), "new", NEW_EPOCH, &initrd(dir.path(), true));
    let outdir = dir.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let out = outdir.join("kit.iuk");
    let refused = |old: &Path, new: &Path, says: &str| {
        let r = common::tamis(&["iuk", "--epoch", NEW_EPOCH, s(old), s(new), s(&out)]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{old:?} {new:?}: {err}");
        assert!(err.contains(says), "{says:?} not in: {err}");
        assert!(!err.contains("panicked"), "{err}");
        // Said once: the reason is not repeated by the error that wraps it.
        assert!(err.matches("corrupt image").count() <= 1, "the reason is repeated: {err}");
        assert_nothing_written(&outdir, &out);
    };

    // A truncated ISO: cut inside the squashfs it holds (its directory still readable), and
    // cut before its directory.
    let bytes = std::fs::read(&new_iso).unwrap();
    let at = bytes.windows(4).position(|w| w == b"hsqs").expect("the squashfs in the ISO");
    let truncated = dir.path().join("truncated.iso");
    std::fs::write(&truncated, &bytes[..at + 2048]).unwrap();
    refused(&old_iso, &truncated, "truncated.iso");
    std::fs::write(&truncated, &bytes[..40_000]).unwrap();
    refused(&old_iso, &truncated, "truncated.iso");

    // A squashfs whose id table points past the end.
    let mut bytes = std::fs::read(&new_sq).unwrap();
    let len = bytes.len() as u64;
    bytes[48..56].copy_from_slice(&(len + 4096).to_le_bytes());
    let corrupt = dir.path().join("corrupt.squashfs");
    std::fs::write(&corrupt, &bytes).unwrap();
    refused(&old_sq, &corrupt, "corrupt.squashfs");

    // OLD and NEW swapped: NEW was made before OLD.
    refused(&new_sq, &old_sq, "swapped");
    refused(&new_iso, &old_iso, "swapped");

    // Not a release at all.
    refused(&old_sq, Path::new("/etc/hostname"), "not a release image");
}

#[test]
fn real_releases_give_the_same_kit_from_any_builder_and_it_applies() {
    let Some(pair) = common::fixture("rootfs-pair") else { return };
    if !common::have(&["unsquashfs", "xorriso", "cpio", "faketime", "setfattr"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/iuk/make-release-pair.sh");
    run(Command::new("sh").arg(script).arg(pair.join("a")).arg(pair.join("b")).arg(dir.path()));
    let (old_tree, new_tree) = (dir.path().join("old"), dir.path().join("new"));
    tamis_ok(&["normalize", "--epoch", OLD_EPOCH, "-q", s(&old_tree)]);
    tamis_ok(&["normalize", "--epoch", NEW_EPOCH, "-q", s(&new_tree)]);
    let (old_sq, old_iso) = release(&old_tree, dir.path(), "old", OLD_EPOCH, &initrd(dir.path(), false));
    let (new_sq, new_iso) = release(&new_tree, dir.path(), "new", NEW_EPOCH, &initrd(dir.path(), true));

    // One thread, two threads, and two threads three days later in another time zone.
    let kits: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("kit{i}/Tails_amd64_1_to_2.iuk"))).collect();
    let json = dir.path().join("kit.json");
    for (i, kit) in kits.iter().enumerate() {
        std::fs::create_dir_all(kit.parent().unwrap()).unwrap();
        let threads = if i == 0 { "1" } else { "2" };
        let mut cmd = if i == 2 {
            let mut c = common::faketime("+3d", env!("CARGO_BIN_EXE_tamis"));
            c.env("TZ", "Asia/Tokyo");
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_tamis"))
        };
        cmd.env("SOURCE_DATE_EPOCH", NEW_EPOCH).args(["iuk", "-j", threads, "--json", s(&json)]);
        run(cmd.arg(&old_iso).arg(&new_iso).arg(kit));
    }
    let first = std::fs::read(&kits[0]).unwrap();
    for kit in &kits[1..] {
        assert!(std::fs::read(kit).unwrap() == first, "{} differs from the kit made with one thread", kit.display());
    }

    // What the kit holds, per kind: the release's changes, not mtimes of the whole tree.
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let delta = &report["outcome"]["delta"];
    assert!(delta["content"]["entries"].as_u64().unwrap() >= 3, "{delta}");
    assert!(delta["new"]["entries"].as_u64().unwrap() >= 5, "{delta}");
    assert!(delta["deleted"].as_u64().unwrap() >= 2, "{delta}");
    assert_eq!(delta["opaque"].as_u64(), Some(1), "{delta}");
    let paths = |kind: &str| -> Vec<String> {
        delta[kind]["largest"].as_array().unwrap().iter().map(|p| p[0].as_str().unwrap().to_owned()).collect()
    };
    assert!(paths("content").contains(&"/usr/bin/dpkg".to_owned()), "{delta}");
    assert!(paths("new").contains(&"/usr/share/tamis-new/data.txt".to_owned()), "{delta}");

    // --verify: the kit turns OLD into NEW.
    let verify = common::tamis(&["iuk", "--verify", s(&old_iso), s(&new_iso), s(&kits[0])]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );

    // For real, as live-boot stacks it: the result is NEW.
    let Some((_mounts, merged)) =
        apply_for_real(dir.path(), &old_sq, &kits[0], "overlay/live/Tails_amd64_1_to_2.squashfs")
    else {
        return;
    };
    let diff = common::tamis(&["diff", s(&merged), s(&new_sq)]);
    assert_eq!(diff.status.code(), Some(0), "{}", String::from_utf8_lossy(&diff.stdout));
}

/// Two releases for a kit that copies NEW's blocks: a file of several blocks changed, a run
/// of small files with the same bytes but dated after both epochs (normalized, each release
/// gives them its own date: a fragment block of NEW all in the diff), a file removed.
fn copy_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let old = dir.join("old");
    let new = dir.join("new");
    for (root, release) in [(&old, 1u32), (&new, 2u32)] {
        for d in ["etc", "usr/lib/gen", "usr/share/doc"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let mut big = String::new();
        for i in 0..150_000u32 {
            let _ = writeln!(big, "release {release} line {i} {}", i * 7 % 13);
        }
        assert!(big.len() > 3 << 20 && big.len() < 4 << 20);
        std::fs::write(root.join("usr/lib/big.txt"), big).unwrap();
        for i in 0..150u32 {
            let mut text = String::new();
            for j in 0..2000u32 {
                let _ = writeln!(text, "{i}:{}", j.wrapping_mul(2_654_435_761) >> 20);
            }
            std::fs::write(root.join(format!("usr/lib/gen/f{i:03}")), text).unwrap();
        }
        std::fs::write(root.join("etc/app.conf"), format!("release = {release}\n")).unwrap();
        if release == 1 {
            std::fs::write(root.join("usr/share/doc/gone"), b"removed\n").unwrap();
        }
    }
    for (root, epoch) in [(&old, OLD_EPOCH), (&new, NEW_EPOCH)] {
        run(Command::new("find").arg(root).args(["-exec", "touch", "-h", "-d", "@1700000000", "{}", "+"]));
        run(Command::new("find").arg(root.join("usr/lib/gen")).args([
            "-exec",
            "touch",
            "-d",
            "@1800000000",
            "{}",
            "+",
        ]));
        tamis_ok(&["normalize", "--epoch", epoch, "-q", s(root)]);
    }
    (old, new)
}

/// The stored bytes of `path` (data blocks) in the image at `image`.
fn stored_data(image: &tamis_squashfs::Image, path: &str) -> Vec<u8> {
    let entries = image.entries().unwrap();
    let entry = entries.iter().find(|e| e.path == Path::new(path)).unwrap_or_else(|| panic!("{path} missing"));
    image.stored_data(entry).unwrap()
}

#[test]
fn a_kit_copies_new_blocks_when_new_is_packed_with_the_diff_options() {
    if !common::have(&["mksquashfs", "unsquashfs"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (old_tree, new_tree) = copy_pair(dir.path());
    // mksquashfs packs the releases, as a release team does: with Tails' options for its ISO's
    // root filesystem (the diff's default options), and with gzip (another deflate than
    // tamis' own: blocks compressed again would not be these bytes).
    let tails: &[&str] = &["-comp", "xz", "-Xbcj", "x86", "-b", "1024K", "-Xdict-size", "1024K", "-no-exports"];
    let gzip: &[&str] = &["-comp", "gzip", "-b", "1024K"];
    for (name, pack, kit_args) in [("xz", tails, &[][..]), ("gzip", gzip, &["--diff-comp", "gzip"][..])] {
        let sq = |tree: &Path, side: &str, epoch: &str| {
            let out = dir.path().join(format!("{side}-{name}.squashfs"));
            run(Command::new("mksquashfs")
                .arg(tree)
                .arg(&out)
                .args(["-noappend", "-no-progress", "-quiet", "-mkfs-time", epoch])
                .args(pack));
            out
        };
        let (old_sq, new_sq) = (sq(&old_tree, "old", OLD_EPOCH), sq(&new_tree, "new", NEW_EPOCH));
        let kits: Vec<PathBuf> = (1..=2).map(|j| dir.path().join(format!("{name}-{j}/kit.iuk"))).collect();
        let json = dir.path().join(format!("{name}.json"));
        for (j, kit) in kits.iter().enumerate() {
            std::fs::create_dir_all(kit.parent().unwrap()).unwrap();
            let threads = (j + 1).to_string();
            let mut args = vec!["iuk", "--epoch", NEW_EPOCH, "-j", &threads, "--json", s(&json)];
            args.extend_from_slice(kit_args);
            args.extend_from_slice(&[s(&old_sq), s(&new_sq), s(kit)]);
            tamis_ok(&args);
        }
        assert!(std::fs::read(&kits[0]).unwrap() == std::fs::read(&kits[1]).unwrap(), "{name}: 1 and 2 threads differ");
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let outcome = &report["outcome"];
        // Its 3 whole blocks; its tail is packed in a fragment block (gensquashfs' default).
        assert_eq!(outcome["diff_copied_blocks"].as_u64(), Some(3), "{name}: big.txt's 3 whole blocks: {outcome}");
        assert!(outcome["diff_copied_fragments"].as_u64().unwrap() >= 1, "{name}: {outcome}");

        // The kit holds the diff as it is (compressed data), and the diff holds NEW's blocks.
        let kit = tamis_squashfs::Image::open(&kits[0]).unwrap();
        let entries = kit.entries().unwrap();
        let entry = entries.iter().find(|e| e.path == Path::new("overlay/live/kit.squashfs")).unwrap();
        let diff_bytes = kit.read_file(entry).unwrap();
        // Every 128 KiB block but the last (which ends with the diff's padding of zeros).
        let whole = (diff_bytes.len() - 1) / (128 << 10) * (128 << 10);
        assert!(
            kit.stored_data(entry).unwrap()[..whole] == diff_bytes[..whole],
            "{name}: the diff was compressed again in the kit"
        );
        let diff_path = dir.path().join(format!("{name}-diff.squashfs"));
        std::fs::write(&diff_path, &diff_bytes).unwrap();
        let (diff, new) =
            (tamis_squashfs::Image::open(&diff_path).unwrap(), tamis_squashfs::Image::open(&new_sq).unwrap());
        let (ours, theirs) = (stored_data(&diff, "usr/lib/big.txt"), stored_data(&new, "usr/lib/big.txt"));
        assert!(ours.len() > 3 << 10 && theirs.starts_with(&ours), "{name}: big.txt's blocks are not NEW's");
        let fragments = |image: &tamis_squashfs::Image| -> Vec<Vec<u8>> {
            (0..image.superblock().fragment_count).map(|i| image.stored_fragment(i).unwrap().0).collect()
        };
        let theirs = fragments(&new);
        assert!(fragments(&diff).iter().any(|f| theirs.contains(f)), "{name}: no fragment block of NEW copied");

        let verify = common::tamis(&["iuk", "--verify", s(&old_sq), s(&new_sq), s(&kits[0])]);
        assert_eq!(verify.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&verify.stdout));
        let applied = dir.path().join(format!("apply-{name}"));
        let Some((_mounts, merged)) = apply_for_real(&applied, &old_sq, &kits[0], "overlay/live/kit.squashfs") else {
            return;
        };
        let diff = common::tamis(&["diff", s(&merged), s(&new_tree)]);
        assert_eq!(diff.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&diff.stdout));
    }
}
