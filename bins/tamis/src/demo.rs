//! `tamis demo`: two small trees that differ the way two real builds do, made identical.
//!
//! The trees hold the same files, created in a different order (so `readdir` lists them
//! differently) and at different times (so every mtime differs, as it does between two builds
//! a few minutes or days apart), with the kinds of entries a root filesystem has: directories,
//! files, a hard link, symbolic links (one pointing outside the tree, which must not be
//! followed), a FIFO. Files shipped by packages keep an older time of their own.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use tamis_core::{Context, Epoch, FileKind, Mode, Root, Timestamp};
use tamis_manifest::{Manifest, compare};
use tamis_pipeline::{Pipeline, Profile, Selection};

/// The demo's epoch: 2023-11-14T22:13:20Z, older than the build times and newer than the
/// package times below.
const EPOCH: i64 = 1_700_000_000;
/// When the packages' files were made (they keep this time).
const PACKAGE_TIME: i64 = 1_650_000_000;

const FILES: &[(&str, &str)] = &[
    ("etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
    ("etc/motd", "Welcome.\n"),
    ("usr/bin/tool", "#!/bin/sh\necho tool\n"),
    ("usr/share/doc/tool/README", "A tool.\n"),
    ("usr/lib/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
    ("var/lib/dpkg/status", "Package: tool\nStatus: install ok installed\n"),
];

pub fn run(dir: Option<&Path>) -> Result<ExitCode> {
    let temp;
    let base = if let Some(dir) = dir {
        fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
        dir.to_owned()
    } else {
        temp = tempfile::tempdir().context("cannot create a temporary directory")?;
        temp.path().to_owned()
    };
    let (first, second) = (base.join("build-1"), base.join("build-2"));
    for tree in [&first, &second] {
        if tree.exists() {
            fs::remove_dir_all(tree).with_context(|| format!("{}: cannot remove the old demo tree", tree.display()))?;
        }
    }
    // Two builds: one "today", one three days later, creating the files in opposite orders.
    let today = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    build(&first, false, today)?;
    build(&second, true, today + Duration::from_secs(3 * 86_400 + 137))?;

    let mut out = std::io::stdout().lock();
    writeln!(out, "Two builds of the same tree, made three days apart, in {}:", base.display())?;
    let before = differences(&first, &second)?;
    writeln!(out, "  before: {} of {} entries differ", before.0, before.1)?;

    let epoch = Epoch::from_secs(EPOCH).expect("positive");
    let profile = Profile::builtin("debian-image").expect("built in");
    let pipeline = Pipeline::new(&profile, &Selection::default())?;
    for tree in [&first, &second] {
        let outcome = pipeline.run(&Root::open(tree)?, &Context::new(epoch, Mode::Apply))?;
        writeln!(
            out,
            "  tamis normalize --epoch {EPOCH} {}: {} changes",
            tree.file_name().unwrap_or_default().to_string_lossy(),
            outcome.change_count()
        )?;
    }
    let after = differences(&first, &second)?;
    let (a, b) = (manifest(&first)?, manifest(&second)?);
    writeln!(out, "  after:  {} of {} entries differ", after.0, after.1)?;
    writeln!(out, "  build-1 sha256:{}", a.digest())?;
    writeln!(out, "  build-2 sha256:{}", b.digest())?;
    if after.0 == 0 && a.digest() == b.digest() {
        writeln!(out, "The two builds are now identical.")?;
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(out, "The two builds still differ.")?;
        Ok(ExitCode::from(1))
    }
}

fn build(root: &Path, reverse: bool, built_at: std::time::SystemTime) -> Result<()> {
    let mut files: Vec<_> = FILES.to_vec();
    if reverse {
        files.reverse();
    }
    for (path, contents) in &files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().expect("files are in directories"))?;
        fs::write(&path, contents)?;
    }
    fs::hard_link(root.join("usr/bin/tool"), root.join("usr/bin/tool-alias"))?;
    symlink("../usr/lib/os-release", root.join("etc/os-release-link"))?;
    symlink("/etc/machine-id", root.join("var/lib/dbus-machine-id"))?;
    let status = std::process::Command::new("mkfifo").arg(root.join("var/lib/initctl")).status();
    anyhow::ensure!(status.is_ok_and(|s| s.success()), "mkfifo failed");

    // What the build wrote has the build's time; files from packages keep the package's time.
    let tree = Root::open(root)?;
    let built = timestamp(built_at);
    let shipped = Timestamp::from_secs(PACKAGE_TIME);
    let walk = tree.walk()?;
    for entry in walk.entries().iter().rev() {
        let from_package = entry.path.starts_with("usr") && entry.meta.kind == FileKind::File;
        let time = if from_package { shipped } else { built };
        tree.set_times_linked(&entry.path, &walk.links(entry), time, time)?;
    }
    Ok(())
}

fn timestamp(time: std::time::SystemTime) -> Timestamp {
    let since = time.duration_since(UNIX_EPOCH).expect("demo times are after 1970");
    Timestamp::from_secs(i64::try_from(since.as_secs()).expect("demo times fit"))
}

fn manifest(tree: &Path) -> Result<Manifest> {
    Ok(Manifest::of_tree(&Root::open(tree)?)?)
}

/// (entries that differ, entries in all).
fn differences(a: &Path, b: &Path) -> Result<(usize, usize)> {
    let (ma, mb) = (manifest(a)?, manifest(b)?);
    Ok((compare(&ma, &mb).len(), ma.entries.len().max(mb.entries.len())))
}
