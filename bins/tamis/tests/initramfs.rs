//! Initrds made by the real mkinitramfs in two real rootfs builds (the fixture with a kernel and
//! initramfs-tools): identical after tamis, holding what they held, and still booting.

#![allow(clippy::print_stderr, reason = "a test says what it skipped")]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{copy, tamis};
use tamis_core::Root;
use tamis_manifest::{Manifest, compare};

const EPOCH: &str = "1700000000";

fn initrd_of(root: &Path) -> PathBuf {
    let boot = Root::open(root.join("boot")).unwrap().walk().unwrap();
    let name = boot
        .entries()
        .iter()
        .map(|e| e.path.display().to_string())
        .find(|n| n.starts_with("initrd.img-"))
        .expect("the fixture has an initrd");
    root.join("boot").join(name)
}

/// What GNU cpio lists of every archive in an initramfs (type, mode, owner, size, name, link
/// target), without dates, sorted; and the files it extracts, as a manifest without times.
fn contents(initrd: &Path) -> (Vec<String>, Vec<String>) {
    let bytes = fs::read(initrd).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut listing = Vec::new();
    for (i, segment) in tamis_cpio::initramfs::split(&bytes).unwrap().iter().enumerate() {
        let cpio = dir.path().join(format!("{i}.cpio"));
        fs::write(&cpio, &segment.cpio).unwrap();
        let out =
            Command::new("cpio").args(["--quiet", "-t", "-v", "--numeric-uid-gid", "-F"]).arg(&cpio).output().unwrap();
        assert!(out.status.success(), "cpio -t: {}", String::from_utf8_lossy(&out.stderr));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let mut kept = vec![f[0], f[2], f[3], f[4]];
            kept.extend(&f[8..]);
            listing.push(kept.join(" "));
        }
        let into = dir.path().join(format!("x{i}"));
        fs::create_dir(&into).unwrap();
        let out = Command::new("cpio")
            .args(["--quiet", "-i", "-d", "--no-absolute-filenames", "-F"])
            .arg(&cpio)
            .current_dir(&into)
            .output()
            .unwrap();
        assert!(out.status.success(), "cpio -i: {}", String::from_utf8_lossy(&out.stderr));
    }
    listing.sort();
    let manifest = Manifest::of_tree(&Root::open(dir.path()).unwrap()).unwrap();
    let files = manifest
        .entries
        .iter()
        .filter(|e| e.path.starts_with("/x"))
        .map(|e| format!("{} {:?} {:o} {:?} {:?}", e.path, e.kind, e.mode, e.target, e.sha256))
        .collect();
    (listing, files)
}

#[test]
fn initrds_of_two_builds_become_identical_and_hold_what_they_held() {
    let Some(pair) = common::fixture("initramfs-pair") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.img"), dir.path().join("b.img"));
    fs::copy(initrd_of(&pair.join("a")), &a).unwrap();
    fs::copy(initrd_of(&pair.join("b")), &b).unwrap();
    assert_ne!(fs::read(&a).unwrap(), fs::read(&b).unwrap(), "two builds give different initrds");
    let before = contents(&a);

    let check = tamis(&["initramfs", "--check", "--epoch", EPOCH, a.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(1), "{}", String::from_utf8_lossy(&check.stderr));
    let out = tamis(&["initramfs", "--epoch", EPOCH, a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(fs::read(&a).unwrap() == fs::read(&b).unwrap(), "normalized initrds differ");
    assert_eq!(contents(&a), before, "members, modes, owners, targets or contents changed");
    let again = tamis(&["initramfs", "--check", "--epoch", EPOCH, a.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));
    let gzip = Command::new("gzip").arg("-t").arg(&a).status().unwrap();
    assert!(gzip.success());
}

#[test]
fn two_kernel_builds_are_identical_after_normalize() {
    let Some(pair) = common::fixture("initramfs-pair") else { return };
    let (a, b) = (copy(&pair.join("a")), copy(&pair.join("b")));
    let (ra, rb) = (a.path().join("root"), b.path().join("root"));
    for root in [&ra, &rb] {
        let out = tamis(&["normalize", "--epoch", EPOCH, root.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let (ma, mb) =
        (Manifest::of_tree(&Root::open(&ra).unwrap()).unwrap(), Manifest::of_tree(&Root::open(&rb).unwrap()).unwrap());
    let left = compare(&ma, &mb);
    assert!(left.is_empty(), "the builds still differ: {left:?}");
}

#[test]
fn the_normalized_initrd_boots_to_its_init() {
    let Some(pair) = common::fixture("initramfs-pair") else { return };
    let qemu = Path::new("/usr/bin/qemu-system-x86_64");
    if !qemu.exists() {
        assert!(!common::required(), "qemu-system-x86_64 is missing (scripts/test.sh installs qemu-system-x86)");
        eprintln!("skipped: no qemu-system-x86_64");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let initrd = dir.path().join("initrd.img");
    fs::copy(initrd_of(&pair.join("a")), &initrd).unwrap();
    let out = tamis(&["initramfs", "--epoch", EPOCH, initrd.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let kernel = initrd_of(&pair.join("a")).to_string_lossy().replace("initrd.img-", "vmlinuz-");
    // initramfs-tools' /init stops at "break=top" and starts a shell, which reads the end of
    // its input and exits; /init then finds no root and the kernel panics (no reboot).
    let out = Command::new("timeout")
        .args(["300", qemu.to_str().unwrap(), "-m", "768", "-nographic", "-no-reboot", "-kernel", &kernel, "-initrd"])
        .arg(&initrd)
        .args(["-append", "console=ttyS0 panic=-1 break=top quiet"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let console = String::from_utf8_lossy(&out.stdout);
    assert!(console.contains("Spawning shell within the initramfs"), "no initramfs shell on the console:\n{console}");
}

#[test]
fn diff_and_manifest_read_an_initrd_as_the_kernel_unpacks_it() {
    let Some(pair) = common::fixture("initramfs-pair") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.img"), dir.path().join("b.img"));
    fs::copy(initrd_of(&pair.join("a")), &a).unwrap();
    fs::copy(initrd_of(&pair.join("b")), &b).unwrap();
    let (a_str, b_str) = (a.to_str().unwrap(), b.to_str().unwrap());

    // The members with their bytes: what GNU cpio extracts, a later segment's file replacing
    // an earlier one's of the same name, as in the kernel.
    let out = tamis(&["manifest", a_str]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let ours: std::collections::BTreeMap<String, String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let path = v["path"].as_str().unwrap().to_owned();
            (
                path,
                format!(
                    "{} {} {:o} {} {}",
                    v["path"],
                    v["kind"],
                    v["mode"].as_u64().unwrap(),
                    v["target"],
                    v["sha256"]
                ),
            )
        })
        .collect();
    let mut extracted = std::collections::BTreeMap::new();
    for line in contents(&a).1 {
        // "/x{segment}/path Kind mode target sha256", segments in order.
        let (segment_dir, fields) = line.split_once(' ').unwrap();
        let Some(path) = segment_dir.splitn(3, '/').nth(2) else { continue };
        let mut f = fields.split(' ');
        let (kind, mode, target, sha) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        let kind = kind.to_lowercase();
        let target = target.strip_prefix("Some(").map_or("null".to_owned(), |t| t.trim_end_matches(')').to_owned());
        let sha = sha.strip_prefix("Some(").map_or("null".to_owned(), |t| t.trim_end_matches(')').to_owned());
        extracted.insert(format!("/{path}"), format!("\"/{path}\" \"{kind}\" {mode} {target} {sha}"));
    }
    assert_eq!(ours.len(), extracted.len());
    for (path, line) in &extracted {
        assert_eq!(ours.get(path), Some(line), "{path}");
    }

    // Two builds: the members differ in their times only; after tamis, not at all.
    let out = tamis(&["diff", "--json", "-", "--explain", a_str, b_str]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let differences = v["differences"].as_array().unwrap();
    assert!(differences.len() > 100, "{v}");
    assert!(differences.iter().all(|d| d["group"] == "mtime-only" && d["stage"] == "initramfs"), "{v}");
    let out = tamis(&["initramfs", "--epoch", EPOCH, a_str, b_str]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = tamis(&["diff", a_str, b_str]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));

    // Not an initrd: a clear error, exit 2.
    let gz = dir.path().join("x.gz");
    fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
    let out = tamis(&["diff", gz.to_str().unwrap(), a_str]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid initramfs image"), "{out:?}");
}

#[test]
fn tree_diff_compares_the_initrds_inside() {
    let Some(pair) = common::fixture("initramfs-pair") else { return };
    let (a, b) = (pair.join("a"), pair.join("b"));
    let out = tamis(&["diff", "--json", "-", "--explain", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let initrd = v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"].as_str().unwrap().starts_with("/boot/initrd.img-"))
        .expect("the initrds differ");
    assert_eq!(initrd["stage"], "initramfs");
    let inside = initrd["inside"]["differences"].as_array().expect("compared inside");
    assert!(!inside.is_empty());
    assert!(inside.iter().all(|d| d["group"] == "mtime-only" && d["stage"] == "initramfs"), "{inside:?}");
    assert!(inside.iter().any(|d| d["path"] == "/conf/arch.conf"), "member paths, as in the initrd");
}
