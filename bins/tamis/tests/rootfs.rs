//! tamis on real Debian root filesystems, made by `scripts/make-rootfs-pair.sh` with mmdebstrap:
//! two builds of the same packages, at different times under different host names.
//!
//! The fixture takes minutes to build, so it is built once and cached. When it is missing these
//! tests say so and pass, unless `TAMIS_REQUIRE_FIXTURES=1` (set by `scripts/test.sh`, hence by
//! CI), in which case a missing fixture is a failure.

#![allow(clippy::disallowed_methods, clippy::print_stderr, reason = "a test finds its fixture and says what it saw")]

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{copy, tamis};
use tamis_core::Root;
use tamis_manifest::{Difference, Manifest, compare};

fn fixture() -> Option<PathBuf> {
    common::fixture("rootfs-pair")
}

/// An epoch after the packages' own dates and before both builds: one day before the fixture
/// was finished (each build takes minutes).
fn epoch_for(pair: &Path) -> i64 {
    fs::metadata(pair.join("stamp")).unwrap().mtime() - 86_400
}

fn manifest(root: &Path) -> Manifest {
    let m = Manifest::of_tree(&Root::open(root).unwrap()).unwrap();
    assert!(m.problems.is_empty(), "{:?}", m.problems);
    m
}

/// Absolute links in the tree whose targets exist on the host: the files a careless tool would
/// touch on the build machine. Returns (target, (mtime, ctime)).
fn host_targets(m: &Manifest) -> Vec<(PathBuf, (i64, i64))> {
    m.entries
        .iter()
        .filter_map(|e| e.target.as_deref())
        .filter(|t| t.starts_with('/'))
        .filter_map(|t| fs::metadata(t).ok().map(|md| (PathBuf::from(t), (md.mtime(), md.ctime()))))
        .collect()
}

#[test]
fn mtime_clamp_on_a_real_rootfs() {
    let Some(pair) = fixture() else { return };
    let epoch = epoch_for(&pair);
    let e = epoch.to_string();
    let dir = copy(&pair.join("a"));
    let root = dir.path().join("root");
    let before = manifest(&root);
    let host_before = host_targets(&before);
    assert!(host_before.len() > 10, "the fixture should have absolute links to common paths");
    let newer = before.entries.iter().filter(|x| x.mtime.secs >= epoch).count();
    assert!(newer > 1000, "a fresh build has thousands of entries newer than the epoch, found {newer}");

    let check = tamis(&["mtime", "--epoch", &e, "--check", root.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(1), "{}", String::from_utf8_lossy(&check.stderr));

    let apply = tamis(&["mtime", "--epoch", &e, root.to_str().unwrap()]);
    assert_eq!(apply.status.code(), Some(0), "{}", String::from_utf8_lossy(&apply.stderr));

    // The real tool agrees: nothing is newer than the epoch.
    let find = Command::new("find").arg(&root).args(["-newermt", &format!("@{epoch}")]).output().unwrap();
    assert!(find.status.success());
    assert_eq!(String::from_utf8_lossy(&find.stdout), "", "find -newermt lists entries newer than the epoch");

    // Exactly min(mtime, epoch) for every entry; contents, modes, owners and link targets as they were.
    let after = manifest(&root);
    assert_eq!(before.entries.len(), after.entries.len());
    for (b, a) in before.entries.iter().zip(&after.entries) {
        assert_eq!(a.path, b.path);
        let expected = if b.mtime.secs >= epoch { tamis_core::Timestamp::from_secs(epoch) } else { b.mtime };
        assert_eq!(a.mtime, expected, "{}", a.path);
        assert_eq!(
            (&a.sha256, &a.target, a.mode, a.uid, a.gid),
            (&b.sha256, &b.target, b.mode, b.uid, b.gid),
            "{}",
            a.path
        );
    }
    // Nothing outside the root was touched through an absolute link.
    assert_eq!(host_targets(&before), host_before);

    let again = tamis(&["mtime", "--epoch", &e, "--check", root.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));
}

/// Runs a command in the chroot at `root` with a clean environment; returns (success, stdout + stderr).
fn in_chroot(root: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("chroot")
        .arg(root)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

/// sha256 of every file whose path ends with `suffix`.
fn hashes(m: &Manifest, suffix: &str) -> Vec<(String, Option<String>)> {
    m.entries.iter().filter(|e| e.path.ends_with(suffix)).map(|e| (e.path.clone(), e.sha256.clone())).collect()
}

#[test]
fn two_builds_are_identical_after_normalize_and_still_work() {
    let Some(pair) = fixture() else { return };
    // Older than the packages' own files (python3.11's sources among them): the clamp moves
    // them too, which is the case where pyc and fontconfig caches must be kept valid.
    let e = "1700000000";
    let (a, b) = (copy(&pair.join("a")), copy(&pair.join("b")));
    let (ra, rb) = (a.path().join("root"), b.path().join("root"));
    let raw = compare(&manifest(&ra), &manifest(&rb));
    let contents = raw.iter().filter(|(_, d)| matches!(d, Difference::Fields(f) if f.contains(&"sha256"))).count();
    assert!(contents >= 20, "the two builds differ in at least 20 files, found {contents}");
    let (_, pwck_before) = in_chroot(&ra, &["pwck", "-r"]);

    for root in [&ra, &rb] {
        let out = tamis(&["normalize", "--epoch", e, root.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let (ma, mb) = (manifest(&ra), manifest(&rb));
    let left = compare(&ma, &mb);
    assert!(left.is_empty(), "after normalize the builds still differ: {left:?}");
    let diff = tamis(&["diff", ra.to_str().unwrap(), rb.to_str().unwrap()]);
    assert_eq!(diff.status.code(), Some(0), "{}", String::from_utf8_lossy(&diff.stdout));

    // Idempotent: a second run has nothing to do.
    let again = tamis(&["normalize", "--check", "--epoch", e, ra.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));

    // Python finds its byte code fresh and rewrites none of it.
    let (ok, said) = in_chroot(&ra, &["python3", "-v", "-c", "import json, email.mime.text, http.client"]);
    assert!(ok, "{said}");
    let stale: Vec<&str> = said.lines().filter(|l| l.contains("stale")).collect();
    assert!(stale.is_empty(), "python found stale byte code: {stale:?}");
    assert!(said.lines().filter(|l| l.contains(".pyc matches ")).count() > 20, "{said}");
    assert_eq!(hashes(&manifest(&ra), ".pyc"), hashes(&ma, ".pyc"), "python rewrote byte code");

    // fontconfig finds every cache valid and rewrites none.
    let (ok, said) = in_chroot(&ra, &["fc-cache", "-v"]);
    assert!(ok, "{said}");
    assert!(said.contains("existing cache is valid"), "{said}");
    assert!(!said.contains("caching,"), "fc-cache rebuilt a cache:\n{said}");
    assert_eq!(hashes(&manifest(&ra), ".cache-8"), hashes(&ma, ".cache-8"), "fc-cache rewrote a cache");

    // GTK uses an icon cache only if it is not older than its directory.
    let icon_caches: Vec<_> = ma.entries.iter().filter(|x| x.path.ends_with("/icon-theme.cache")).collect();
    assert!(!icon_caches.is_empty(), "the fixture has icon caches");
    for cache in icon_caches {
        let dir = Path::new(&cache.path).parent().unwrap().to_str().unwrap();
        let dir = ma.entries.iter().find(|x| x.path == dir).unwrap();
        assert!(cache.mtime >= dir.mtime, "{} is older than its directory", cache.path);
    }

    // The account databases still read, and say what they said before (nothing "in the future").
    let (ok, said) = in_chroot(&ra, &["getent", "passwd", "tamis"]);
    assert!(ok && said.starts_with("tamis:x:1000:1000:"), "{said}");
    let (_, pwck_after) = in_chroot(&ra, &["pwck", "-r"]);
    assert_eq!(pwck_after, pwck_before);
    assert!(!pwck_after.contains("future"), "{pwck_after}");
}

/// The stage each content difference of the fixture pair must be attributed to.
fn expected_stage(path: &str) -> Option<&'static str> {
    Some(match path {
        "/etc/hostname" => "host-config",
        "/etc/machine-id" | "/var/lib/dbus/machine-id" => "machine-id",
        "/etc/shadow" => "shadow",
        "/etc/shadow-" => "backups",
        "/var/cache/ldconfig/aux-cache" => "ldconfig",
        p if p.starts_with("/etc/ssh/ssh_host_") => "host-keys",
        p if p.starts_with("/var/cache/fontconfig/") && p.ends_with(".cache-8") => "fontconfig",
        p if p.starts_with("/var/log/") => "logs",
        p if p.starts_with("/var/cache/man/") && p.ends_with("/index.db") => "man-db",
        _ => return None,
    })
}

#[test]
fn diff_explains_every_difference_of_two_real_builds() {
    let Some(pair) = fixture() else { return };
    // Both trees are only read: no copies.
    let (a, b) = (pair.join("a"), pair.join("b"));
    let out = tamis(&["diff", "--json", "-", "--explain", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let differences = report["differences"].as_array().unwrap();
    let content: Vec<(&str, &str)> = differences
        .iter()
        .filter(|d| d["group"] == "content")
        .map(|d| (d["path"].as_str().unwrap(), d["stage"].as_str().unwrap_or("none")))
        .collect();
    // man-db's index.db differs in some build pairs and not in others.
    let man = content.iter().filter(|(p, _)| p.ends_with("/index.db")).count();
    assert_eq!(content.len() - man, 20, "{content:#?}");
    for (path, stage) in &content {
        assert_eq!(Some(*stage), expected_stage(path), "{path} attributed to {stage}");
    }
    let ssh = content.iter().filter(|(p, _)| p.starts_with("/etc/ssh/ssh_host_")).count();
    let fonts = content.iter().filter(|(_, s)| *s == "fontconfig").count();
    let logs = content.iter().filter(|(_, s)| *s == "logs").count();
    assert_eq!((ssh, fonts, logs), (6, 4, 4), "{content:#?}");
    // Every other difference is an mtime, removed by the clamp.
    for d in differences.iter().filter(|d| d["group"] != "content") {
        assert_eq!((&d["group"], &d["stage"]), (&"mtime-only".into(), &"mtime".into()), "{d}");
    }
    assert!(report["counts"]["mtime-only"].as_u64().unwrap() > 1000, "{}", report["counts"]);

    // The manifest keeps what an image must keep: ping's capability (cap_net_raw+ep, as setcap
    // writes it) and the journal directory's ACLs.
    let out = tamis(&["manifest", a.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let entry = |path: &str| -> serde_json::Value {
        let line = text.lines().find(|l| l.starts_with(&format!("{{\"path\":\"{path}\","))).unwrap();
        serde_json::from_str(line).unwrap()
    };
    let cap = "0100000200200000000000000000000000000000";
    assert_eq!(entry("/usr/bin/ping")["xattrs"]["security.capability"], cap);
    assert!(entry("/var/log/journal")["xattrs"]["system.posix_acl_default"].is_string());
}
