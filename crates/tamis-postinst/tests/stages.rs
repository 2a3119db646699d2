//! Each postinst stage on files made by the real tools (`useradd`, `python3 -m compileall`,
//! fc-cache), malformed input included: a file a stage cannot read is left as it was and the
//! report names it.

#![allow(clippy::disallowed_methods, clippy::print_stderr, reason = "tests find their fixture and say what they skip")]

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use tamis_core::{Context, Epoch, Mode, Normalizer, Report, Root, Timestamp};
use tamis_mtime::{ClampMtimes, MtimeOptions};
use tamis_postinst::{
    Backups, BackupsOptions, Fontconfig, FontconfigCache, FontconfigOptions, Ldconfig, Logs, LogsOptions, ManDb, Pyc,
    PycHeader, PycOptions, Shadow, ShadowOptions,
};

const EPOCH: i64 = 1_700_000_000;

fn run(stage: &dyn Normalizer, root: &Path, mode: Mode) -> Report {
    let cx = Context::new(Epoch::from_secs(EPOCH).unwrap(), mode);
    stage.run(&Root::open(root).unwrap(), &cx).unwrap()
}

fn sh(cmd: &str, args: &[&str]) -> std::process::Output {
    // SOURCE_DATE_EPOCH would make py_compile write hash-based pycs; the other two would stop
    // Python from writing a pyc it finds stale, or make it write elsewhere.
    let out = Command::new(cmd)
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("PYTHONDONTWRITEBYTECODE")
        .env_remove("PYTHONPYCACHEPREFIX")
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

// ---------------------------------------------------------------------------------------------
// shadow

#[test]
fn shadow_written_by_useradd_gets_the_epoch_day_and_stays_valid() {
    if !is_root() {
        tamis_test_support::skip("useradd --prefix needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    fs::create_dir(&etc).unwrap();
    fs::write(etc.join("passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    fs::write(etc.join("group"), "root:x:0:\n").unwrap();
    fs::write(etc.join("shadow"), "root:*:19000:0:99999:7:::\n").unwrap();
    fs::write(etc.join("gshadow"), "root:*::\n").unwrap();
    fs::set_permissions(etc.join("shadow"), fs::Permissions::from_mode(0o640)).unwrap();
    sh("useradd", &["--prefix", p(dir.path()), "--no-create-home", "alice"]);
    let before = fs::read_to_string(etc.join("shadow")).unwrap();
    let today: i64 =
        before.lines().find(|l| l.starts_with("alice:")).unwrap().split(':').nth(2).unwrap().parse().unwrap();
    assert!(today > EPOCH / 86_400, "useradd dates the account today");

    let report = run(&Shadow::new(ShadowOptions::default()), dir.path(), Mode::Apply);
    assert_eq!(report.changes.len(), 1, "{report:?}");
    let after = fs::read_to_string(etc.join("shadow")).unwrap();
    assert!(after.contains("\nalice:!:19675:"), "{after}");
    assert!(after.contains("root:*:19000:"), "an older day is kept: {after}");
    assert_eq!(fs::metadata(etc.join("shadow")).unwrap().mode() & 0o7777, 0o640);
    let pwck = Command::new("pwck").args(["-r", "-q", "--root", p(dir.path())]).output().unwrap();
    let said = String::from_utf8_lossy(&pwck.stdout).into_owned() + &String::from_utf8_lossy(&pwck.stderr);
    assert!(!said.contains("future"), "pwck: {said}");
    assert!(run(&Shadow::new(ShadowOptions::default()), dir.path(), Mode::Check).is_clean());
}

#[test]
fn malformed_shadow_is_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("etc")).unwrap();
    let text = "root:*:20000:0:99999:7:::\nnot a shadow line\n";
    fs::write(dir.path().join("etc/shadow"), text).unwrap();
    let report = run(&Shadow::new(ShadowOptions::default()), dir.path(), Mode::Apply);
    assert!(report.changes.is_empty());
    assert_eq!(report.problems.len(), 1);
    assert!(report.problems[0].reason.contains("/etc/shadow: line 2"), "{:?}", report.problems);
    assert_eq!(fs::read_to_string(dir.path().join("etc/shadow")).unwrap(), text);
}

// ---------------------------------------------------------------------------------------------
// pyc

/// A module compiled by the real `python3 -m py_compile` while its source is newer than the epoch.
fn compiled_module(dir: &Path, mode: &str) -> (PathBuf, PathBuf) {
    let pkg = dir.join("usr/lib/python3/dist-packages");
    fs::create_dir_all(&pkg).unwrap();
    let source = pkg.join("tamis_probe.py");
    fs::write(&source, "VALUE = 42\n").unwrap();
    sh("touch", &["-d", "@1800000000.25", p(&source)]);
    sh("python3", &["-m", "compileall", "-q", "--invalidation-mode", mode, p(&source)]);
    let cache = pkg.join("__pycache__");
    let pyc = fs::read_dir(&cache).unwrap().next().unwrap().unwrap().path();
    (pkg, pyc)
}

/// Imports the module with the real interpreter, which says (`-v`) whether it found the pyc
/// fresh; returns that, and the pyc's (bytes, mtime, inode) after the import.
fn import(pkg: &Path, pyc: &Path) -> (bool, (Vec<u8>, i64, u64)) {
    let code =
        format!("import sys; sys.path.insert(0, {:?}); import tamis_probe; assert tamis_probe.VALUE == 42", p(pkg));
    let out = sh("python3", &["-v", "-c", &code]);
    let said = String::from_utf8_lossy(&out.stderr);
    let fresh = said.lines().any(|l| l.contains("tamis_probe") && l.contains(" matches "));
    let stale = said.lines().any(|l| l.contains("bytecode is stale for 'tamis_probe'"));
    assert!(fresh != stale, "python said neither or both: {said}");
    let meta = fs::metadata(pyc).unwrap();
    (fresh, (fs::read(pyc).unwrap(), meta.mtime(), meta.ino()))
}

fn clamp(root: &Path) {
    run(&ClampMtimes::new(MtimeOptions::default()), root, Mode::Apply);
}

#[test]
fn pyc_stays_fresh_for_python_after_the_clamp() {
    let dir = tempfile::tempdir().unwrap();
    let (pkg, pyc) = compiled_module(dir.path(), "timestamp");
    assert_eq!(PycHeader::parse(&fs::read(&pyc).unwrap()).unwrap().source_mtime, 1_800_000_000);

    let report = run(&Pyc::new(PycOptions::default()), dir.path(), Mode::Apply);
    assert_eq!(report.changes.len(), 1, "{report:?}");
    clamp(dir.path());
    let before = (fs::read(&pyc).unwrap(), fs::metadata(&pyc).unwrap().mtime(), fs::metadata(&pyc).unwrap().ino());
    assert_eq!(PycHeader::parse(&before.0).unwrap().source_mtime, EPOCH as u32);
    let (fresh, after) = import(&pkg, &pyc);
    assert!(fresh, "python found the pyc stale");
    assert_eq!(after, before, "python rewrote the pyc");
    assert!(run(&Pyc::new(PycOptions::default()), dir.path(), Mode::Check).is_clean(), "idempotent");
}

#[test]
fn without_the_pyc_stage_the_clamp_makes_python_recompile() {
    // The control for the test above: the same steps without the stage fail its assertion.
    let dir = tempfile::tempdir().unwrap();
    let (pkg, pyc) = compiled_module(dir.path(), "timestamp");
    clamp(dir.path());
    let before = fs::read(&pyc).unwrap();
    let (fresh, after) = import(&pkg, &pyc);
    assert!(!fresh, "python should find the pyc stale");
    assert_ne!(after.0, before, "python should have recompiled the stale pyc");
}

#[test]
fn hash_based_and_malformed_pycs_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (_, pyc) = compiled_module(dir.path(), "checked-hash");
    let hashed = fs::read(&pyc).unwrap();
    assert!(run(&Pyc::new(PycOptions::default()), dir.path(), Mode::Apply).is_clean());
    assert_eq!(fs::read(&pyc).unwrap(), hashed);

    fs::write(&pyc, b"\xa7\x0d\x0d").unwrap();
    let report = run(&Pyc::new(PycOptions::default()), dir.path(), Mode::Apply);
    assert!(report.changes.is_empty());
    assert!(report.problems[0].reason.contains("shorter than a pyc header"), "{:?}", report.problems);
    assert_eq!(fs::read(&pyc).unwrap(), b"\xa7\x0d\x0d");
}

// ---------------------------------------------------------------------------------------------
// fontconfig

/// A cache written by the real fc-cache in the real rootfs fixture, if it was built.
fn real_fontconfig_cache() -> Option<(Vec<u8>, FontconfigCache)> {
    let caches = tamis_test_support::fixture("rootfs-pair")?.join("a/var/cache/fontconfig");
    let entries = fs::read_dir(&caches).unwrap_or_else(|e| panic!("{}: {e}", caches.display()));
    let mut found: Vec<_> =
        entries.map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().ends_with(".cache-8")).collect();
    found.sort();
    found.into_iter().find_map(|path| {
        let bytes = fs::read(path).unwrap();
        let cache = FontconfigCache::parse(&bytes).unwrap();
        cache.dir.ends_with("dejavu").then_some((bytes, cache))
    })
}

/// A tree holding the cache and its font directory, with the mtime the cache was made for.
fn fontconfig_tree(bytes: &[u8], cache: &FontconfigCache, dir: &Path) -> PathBuf {
    let font_dir = dir.join(cache.dir.strip_prefix("/").unwrap());
    fs::create_dir_all(&font_dir).unwrap();
    fs::create_dir_all(dir.join("var/cache/fontconfig")).unwrap();
    let file = dir.join("var/cache/fontconfig/cache-le64.cache-8");
    fs::write(&file, bytes).unwrap();
    let t = Timestamp { secs: i64::from(cache.checksum), nanos: cache.checksum_nano as u32 };
    Root::open(dir).unwrap().set_times(cache.dir.strip_prefix("/").unwrap(), t, t).unwrap();
    file
}

#[test]
fn real_fontconfig_cache_is_patched_to_the_clamped_directory_time() {
    let Some((bytes, cache)) = real_fontconfig_cache() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = fontconfig_tree(&bytes, &cache, dir.path());
    assert!(i64::from(cache.checksum) > EPOCH, "the fixture was built after the epoch");

    let report = run(&Fontconfig::new(FontconfigOptions::default()), dir.path(), Mode::Apply);
    assert_eq!(report.changes.len(), 1, "{report:?}");
    let patched = fs::read(&file).unwrap();
    let after = FontconfigCache::parse(&patched).unwrap();
    assert_eq!((after.checksum, after.checksum_nano), (EPOCH as i32, 0));
    let differing: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] != patched[i]).collect();
    assert!(differing.iter().all(|&i| (48..64).contains(&i)), "only the two checksum fields change: {differing:?}");

    clamp(dir.path());
    let font_dir = Root::open(dir.path()).unwrap().lstat(cache.dir.strip_prefix("/").unwrap()).unwrap();
    assert!(after.is_valid_for(font_dir.mtime), "valid for the clamped directory");
    assert!(run(&Fontconfig::new(FontconfigOptions::default()), dir.path(), Mode::Check).is_clean());
}

#[test]
fn font_directory_older_than_the_epoch_loses_its_nanoseconds_in_cache_and_tree_alike() {
    // Squashfs and ISO 9660 keep whole seconds: a cache recording nanoseconds would be stale
    // in the image although valid in the tree.
    let Some((bytes, _)) = real_fontconfig_cache() else { return };
    let old = Timestamp { secs: EPOCH - 86_400, nanos: 123_456_789 };
    let bytes = FontconfigCache::patched(&bytes, old);
    let cache = FontconfigCache::parse(&bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = fontconfig_tree(&bytes, &cache, dir.path());

    let report = run(&Fontconfig::new(FontconfigOptions::default()), dir.path(), Mode::Apply);
    assert_eq!(report.changes.len(), 1, "{report:?}");
    let after = FontconfigCache::parse(&fs::read(&file).unwrap()).unwrap();
    assert_eq!((i64::from(after.checksum), after.checksum_nano), (old.secs, 0));

    clamp(dir.path());
    let font_dir = Root::open(dir.path()).unwrap().lstat(cache.dir.strip_prefix("/").unwrap()).unwrap();
    assert_eq!(font_dir.mtime, Timestamp::from_secs(old.secs), "the clamp drops the nanoseconds too");
    assert!(after.is_valid_for(font_dir.mtime));
}

#[test]
fn stale_or_broken_fontconfig_caches_are_reported_and_left_alone() {
    let Some((bytes, cache)) = real_fontconfig_cache() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = fontconfig_tree(&bytes, &cache, dir.path());
    // The directory changed after fc-cache ran: the cache is stale, patching would hide it.
    let later = Timestamp::from_secs(i64::from(cache.checksum) + 60);
    Root::open(dir.path()).unwrap().set_times(cache.dir.strip_prefix("/").unwrap(), later, later).unwrap();
    let report = run(&Fontconfig::new(FontconfigOptions::default()), dir.path(), Mode::Apply);
    assert!(report.changes.is_empty());
    assert!(report.problems[0].reason.contains("stale before normalization"), "{:?}", report.problems);
    assert_eq!(fs::read(&file).unwrap(), bytes);

    fs::write(&file, &bytes[..40]).unwrap();
    let report = run(&Fontconfig::new(FontconfigOptions::default()), dir.path(), Mode::Apply);
    assert!(report.problems[0].reason.contains("shorter than a cache header"), "{:?}", report.problems);
    assert_eq!(fs::read(&file).unwrap(), &bytes[..40]);
}

// ---------------------------------------------------------------------------------------------
// logs, backups, ldconfig, man-db

#[test]
fn logs_are_emptied_keeping_owner_and_mode_and_rotated_ones_removed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("var/log");
    fs::create_dir_all(log.join("apt")).unwrap();
    fs::write(log.join("dpkg.log"), "2026-11-23 10:57:01 install tamis\n").unwrap();
    fs::write(log.join("btmp"), b"\x01\x02").unwrap();
    fs::set_permissions(log.join("btmp"), fs::Permissions::from_mode(0o660)).unwrap();
    sh("xz", &["-k", p(&log.join("dpkg.log"))]);
    fs::rename(log.join("dpkg.log.xz"), log.join("apt/eipp.log.xz")).unwrap();
    let report = run(&Logs::new(LogsOptions::default()), dir.path(), Mode::Apply);
    assert_eq!(report.changes.len(), 3, "{report:?}");
    assert_eq!(fs::metadata(log.join("dpkg.log")).unwrap().len(), 0);
    assert_eq!(fs::metadata(log.join("btmp")).unwrap().mode() & 0o777, 0o660);
    assert!(!log.join("apt/eipp.log.xz").exists());
    assert!(run(&Logs::new(LogsOptions::default()), dir.path(), Mode::Check).is_clean());
}

#[test]
fn backups_are_removed_and_configuration_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        "var/lib/dpkg/status-old",
        "var/cache/debconf/config.dat-old",
        "etc/passwd-",
        "etc/shadow-",
        "var/lib/ucf/hashfile.0",
        "etc/default/foo.dpkg-old",
        "etc/default/foo.dpkg-dist",
        "var/lib/ucf/hashfile",
        "var/cache/apt/pkgcache.bin",
    ];
    for f in files {
        let path = dir.path().join(f);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, f).unwrap();
    }
    let report = run(&Backups::new(BackupsOptions::default()), dir.path(), Mode::Apply);
    let removed: Vec<String> = report.changes.iter().map(|c| c.path.display().to_string()).collect();
    assert_eq!(
        removed,
        [
            "etc/default/foo.dpkg-old",
            "etc/passwd-",
            "etc/shadow-",
            "var/cache/apt/pkgcache.bin",
            "var/cache/debconf/config.dat-old",
            "var/lib/dpkg/status-old",
            "var/lib/ucf/hashfile.0"
        ]
    );
    assert!(dir.path().join("etc/default/foo.dpkg-dist").exists(), "configuration an admin may merge is kept");
    assert!(dir.path().join("var/lib/ucf/hashfile").exists());
    let keep = Backups::new(BackupsOptions::default().with_account_backups(false));
    fs::write(dir.path().join("etc/passwd-"), "x").unwrap();
    assert!(run(&keep, dir.path(), Mode::Apply).is_clean());
}

#[test]
fn ldconfig_and_man_db_caches_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "var/cache/ldconfig/aux-cache",
        "var/cache/man/index.db",
        "var/cache/man/fr/index.db",
        "var/cache/man/fr/cat1/x.1.gz",
    ] {
        let path = dir.path().join(f);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, f).unwrap();
    }
    assert_eq!(run(&Ldconfig, dir.path(), Mode::Apply).changes.len(), 1);
    assert_eq!(run(&ManDb, dir.path(), Mode::Apply).changes.len(), 2);
    assert!(dir.path().join("var/cache/man/fr/cat1/x.1.gz").exists());
    assert!(!dir.path().join("var/cache/ldconfig/aux-cache").exists());
}
