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
    assert_ne!(cache.checksum_nano, 0, "fc-cache recorded nanoseconds");
    // The directory changed after fc-cache ran: the cache is stale, patching would hide it.
    // Whole seconds a minute or one second later (as a tree that went through squashfs would
    // show such a change), or the same second with other nanoseconds.
    let secs = i64::from(cache.checksum);
    let other_nanos = (cache.checksum_nano as u32 + 1) % 1_000_000_000;
    for later in
        [Timestamp::from_secs(secs + 60), Timestamp::from_secs(secs + 1), Timestamp { secs, nanos: other_nanos }]
    {
        Root::open(dir.path()).unwrap().set_times(cache.dir.strip_prefix("/").unwrap(), later, later).unwrap();
        let report = run(&Fontconfig::new(FontconfigOptions::default()), dir.path(), Mode::Apply);
        assert!(report.changes.is_empty(), "{later}: {report:?}");
        assert!(report.problems[0].reason.contains("stale before normalization"), "{:?}", report.problems);
        assert_eq!(fs::read(&file).unwrap(), bytes);
    }

    fs::write(&file, &bytes[..40]).unwrap();
    let report = run(&Fontconfig::new(FontconfigOptions::default()), dir.path(), Mode::Apply);
    assert!(report.problems[0].reason.contains("shorter than a cache header"), "{:?}", report.problems);
    assert_eq!(fs::read(&file).unwrap(), &bytes[..40]);
}

/// The caches of a tree (file name → bytes).
fn fontconfig_caches(tree: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let dir = tree.join("var/cache/fontconfig");
    fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().contains(".cache-"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), fs::read(e.path()).unwrap()))
        .collect()
}

/// Runs the real fc-cache on `tree` as the system root (the tree's own fonts.conf), with its
/// cache debugging on (`FC_DEBUG=16`): whether it found every cache valid for its directory
/// (each `FcCacheTimeValid` line shows one time for the cache and the directory). A cache it
/// finds stale it rewrites, silently (`fc-cache -v` then calls the new one valid).
fn fc_cache_finds_valid(tree: &Path) -> bool {
    let out = Command::new("fc-cache")
        .arg("--sysroot")
        .arg(tree)
        .env("FC_DEBUG", "16")
        .env_remove("FONTCONFIG_FILE")
        .env_remove("FONTCONFIG_PATH")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fc-cache: {said}");
    let checks: Vec<(&str, &str)> = said
        .lines()
        .filter_map(|l| {
            l.strip_prefix("FcCacheTimeValid dir ")?.split_once(" cache checksum ")?.1.split_once(" dir checksum ")
        })
        .collect();
    assert!(!checks.is_empty(), "fc-cache checked no cache: {said}");
    checks.iter().all(|(cache, dir)| cache == dir)
}

/// A tree as a build makes it at `when` (`SECS.NANOS`): a font directory holding a font of the
/// host, a fonts.conf naming it, the real fc-cache's caches; then taken through a squashfs
/// image (mksquashfs, unsquashfs into `work/name`), which keeps whole seconds, as live-build's
/// image does before its hook takes the tree back.
fn fontconfig_tree_through_squashfs(work: &Path, font: &Path, when: &str, name: &str) -> PathBuf {
    fs::create_dir_all(work.join("tree/etc/fonts")).unwrap();
    fs::create_dir_all(work.join("tree/usr/share/fonts/truetype/dejavu")).unwrap();
    fs::create_dir_all(work.join("tree/var/cache/fontconfig")).unwrap();
    fs::copy(font, work.join("tree/usr/share/fonts/truetype/dejavu").join(font.file_name().unwrap())).unwrap();
    fs::write(
        work.join("tree/etc/fonts/fonts.conf"),
        "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"urn:fontconfig:fonts.dtd\">\n\
         <fontconfig><dir>/usr/share/fonts</dir><cachedir>/var/cache/fontconfig</cachedir></fontconfig>\n",
    )
    .unwrap();
    tamis_test_support::sh(
        work,
        &format!(
            "touch -d @{when} tree/usr/share/fonts tree/usr/share/fonts/truetype tree/usr/share/fonts/truetype/dejavu"
        ),
    );
    // The first run writes the caches, for the directories as they are.
    assert!(fc_cache_finds_valid(&work.join("tree")));
    assert!(!fontconfig_caches(&work.join("tree")).is_empty());
    tamis_test_support::sh(
        work,
        &format!(
            "mksquashfs tree {name}.img -noappend -no-progress -quiet >/dev/null && unsquashfs -q -d {name} {name}.img >/dev/null && rm -r tree {name}.img"
        ),
    );
    work.join(name)
}

#[test]
fn fontconfig_caches_of_a_tree_that_lost_its_nanoseconds_are_made_valid_and_equal() {
    let font = Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
    if !tamis_test_support::have(&["fc-cache", "mksquashfs", "unsquashfs"]) {
        return;
    }
    if !font.exists() {
        return tamis_test_support::skip(&format!("no {} (fonts-dejavu-core)", font.display()));
    }
    let work = tempfile::tempdir().unwrap();
    // Two builds three days apart, both after the epoch; every directory time has nanoseconds.
    let a = fontconfig_tree_through_squashfs(work.path(), font, "1786000000.123456789", "a");
    let b = fontconfig_tree_through_squashfs(work.path(), font, "1786259200.987654321", "b");
    let before = fontconfig_caches(&a);
    assert!(before.len() >= 3, "a cache per directory: {:?}", before.keys());
    assert_ne!(before, fontconfig_caches(&b));
    // As squashfs left them, fontconfig finds the caches stale, and rebuilds them.
    let plain = tamis_test_support::copy(&b);
    assert!(!fc_cache_finds_valid(&plain.path().join("root")), "stale after the round trip");
    assert_ne!(fontconfig_caches(&plain.path().join("root")), fontconfig_caches(&b));

    for tree in [&a, &b] {
        let report = run(&Fontconfig::new(FontconfigOptions::default()), tree, Mode::Apply);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.changes.len(), before.len(), "{report:?}");
        clamp(tree);
    }
    let after = fontconfig_caches(&a);
    assert_eq!(after, fontconfig_caches(&b), "the two builds' caches are byte-identical");
    for (name, bytes) in &after {
        let cache = FontconfigCache::parse(bytes).unwrap();
        assert_eq!((cache.checksum, cache.checksum_nano), (EPOCH as i32, 0), "{name}");
        let old = &before[name];
        assert!((0..old.len()).filter(|&i| old[i] != bytes[i]).all(|i| (48..64).contains(&i)), "{name}");
    }
    // fontconfig finds every cache valid in the normalized tree, and rewrites none.
    assert!(fc_cache_finds_valid(&a));
    assert_eq!(fontconfig_caches(&a), after);
    assert!(run(&Fontconfig::new(FontconfigOptions::default()), &a, Mode::Check).is_clean());
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
