//! Modification times: the most common difference between two builds of an image.
//!
//! Every file, directory and link that a build writes gets the time of the build as its mtime:
//! two builds of the same packages made a few minutes apart differ in thousands of entries
//! (about 4,300 of 25,000 in a Debian image with systemd, Python and fonts) and in nothing else.
//! Image writers copy those times into squashfs inodes, cpio headers and ISO directory records.
//!
//! [`ClampMtimes`] removes that difference. By default it *clamps*: an entry newer than
//! `SOURCE_DATE_EPOCH` gets the epoch, an older one (a file shipped in a package, which carries
//! the package's own date) keeps its time in whole seconds: nanoseconds are dropped, as every
//! image format drops them ([`Timestamp::clamped`]), so that the tree is the one its image
//! will hold. With [`TimePolicy::Set`] every entry gets the epoch.
//! Entries of every type are handled without following links: regular files, directories,
//! links themselves, devices, FIFOs and sockets. Directories are done after their contents.
//! An entry whose mtime changes gets the same value as its access time.
//!
//! An entry with several hard links is handled once for its inode, under its first name (its
//! other names are reported too: they show the same time). An inode that is also linked from
//! outside the tree is never re-dated: its names in the tree get a copy of their own with the new
//! time, reported as a [`Detach`](Action::Detach) (see [`tamis_core::Links`]).
//!
//! Access times alone are not a reason to touch an entry: a read of the tree changes them, no
//! image format tamis writes records them, and a stage that depended on them could never be
//! idempotent.
//!
//! Proof of validity: after a run, no entry is newer than the epoch (tests walk the tree), a
//! second run changes nothing, and files outside the root behind links, symbolic or hard, keep
//! their times.
//!
//! ```
//! use tamis_core::{Context, Epoch, Mode, Normalizer, Root, TimePolicy};
//! use tamis_mtime::{ClampMtimes, MtimeOptions};
//!
//! let chroot = tempfile::tempdir()?;
//! std::fs::write(chroot.path().join("file"), "made now, after the epoch")?;
//! let epoch = Epoch::from_secs(1_700_000_000).expect("a valid epoch");
//! let stage = ClampMtimes::new(MtimeOptions::new(TimePolicy::Clamp));
//! stage.run(&Root::open(chroot.path())?, &Context::new(epoch, Mode::Apply))?;
//! let mtime = std::fs::metadata(chroot.path().join("file"))?.modified()?;
//! assert_eq!(mtime, std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;
use tamis_core::{
    Action, Change, Context, Entry, FileKind, Mode, Normalizer, Problem, Report, Result, Root, TimePolicy, Timestamp,
    Tree,
};

/// Options of the mtime stage, as written in a profile (`[[stage]] name = "mtime"`, `policy = "set"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MtimeOptions {
    /// Clamp (default) or set.
    #[serde(default)]
    pub policy: TimePolicy,
}

impl MtimeOptions {
    /// Options with this policy.
    pub fn new(policy: TimePolicy) -> Self {
        Self { policy }
    }
}

/// The mtime stage. See the [crate documentation](crate).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClampMtimes {
    options: MtimeOptions,
}

impl ClampMtimes {
    /// The stage's name in profiles and on the command line.
    pub const NAME: &'static str = "mtime";
    /// One line for `tamis stages`.
    pub const SUMMARY: &'static str = "clamp (or set) the modification time of every entry to SOURCE_DATE_EPOCH";

    /// A stage with these options.
    pub fn new(options: MtimeOptions) -> Self {
        Self { options }
    }

    /// The time `entry` should have, if it is not the one it has.
    fn target(self, entry: &Entry, epoch: Timestamp) -> Option<Timestamp> {
        // Whole seconds: see `Timestamp::clamped`.
        let wanted = self.options.policy.apply(Timestamp::from_secs(entry.meta.mtime.secs), epoch);
        (entry.meta.mtime != wanted).then_some(wanted)
    }
}

impl Normalizer for ClampMtimes {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report> {
        Ok(self.run_on(root, &root.walk()?, cx))
    }
}

impl ClampMtimes {
    /// What `tamis mtime` runs: the temporaries that interrupted runs left are removed first
    /// (their report comes first, when there is anything in it), then the stage runs, over one
    /// walk of the tree for both steps; the tree is walked again only when removing a temporary
    /// changed it.
    ///
    /// # Errors
    /// When `root` cannot be walked.
    pub fn run_after_temporaries(&self, root: &Root, cx: &Context<'_>) -> Result<Vec<Report>> {
        let mut tree = root.walk()?;
        let temporaries = tamis_core::StaleTemporaries.run_on(root, &tree, cx);
        if cx.mode == Mode::Apply && !temporaries.changes.is_empty() {
            tree = root.walk()?;
        }
        let mut reports = if temporaries.is_clean() { Vec::new() } else { vec![temporaries] };
        reports.push(self.run_on(root, &tree, cx));
        Ok(reports)
    }

    /// The stage on `tree`, a fresh walk of the whole of `root` that the caller already has
    /// (`tamis mtime` walks once for this and for the temporaries left by interrupted runs).
    ///
    /// Entries are re-dated in parallel, each directory opened once for all of its entries,
    /// non-directories first, then directories (setting an entry's times never changes its
    /// directory's; a detached copy, renamed into place, does — so directories come last).
    pub fn run_on(&self, root: &Root, tree: &Tree, cx: &Context<'_>) -> Report {
        let epoch = cx.epoch.timestamp();
        let mut report = Report::new(Self::NAME, cx.mode);
        report.examined = tree.entries().len() as u64;
        report.problems.extend(tree.problems().iter().cloned());

        let reason = match self.options.policy {
            TimePolicy::Clamp => "newer than the epoch, or not in whole seconds",
            TimePolicy::Set => "not at the epoch",
        };
        let todo: Vec<(&Entry, Timestamp)> =
            tree.entries().iter().filter_map(|e| self.target(e, epoch).map(|t| (e, t))).collect();
        report.changes = todo
            .iter()
            .map(|(entry, to)| Change {
                path: entry.path.clone(),
                action: Action::SetTimes,
                reason: reason.to_owned(),
                before: Some(entry.meta.mtime.to_string()),
                after: Some(to.to_string()),
            })
            .collect();
        // A hard-link group is one inode: it is handled under its first name, once. An inode
        // also linked from outside the tree gets a copy (a change of its own in the report).
        let linked = |entry: &Entry| entry.meta.kind != FileKind::Dir && entry.meta.nlink > 1;
        let groups: BTreeMap<&Path, tamis_core::Links> = todo
            .iter()
            .filter(|(entry, _)| linked(entry) && tree.is_first_name(entry))
            .map(|(entry, _)| (entry.path.as_path(), tree.links(entry)))
            .collect();
        report.changes.extend(groups.iter().filter_map(|(path, links)| links.detach_change(path)));

        if cx.mode == Mode::Check {
            // An immutable or append-only entry cannot be re-dated: the run would report it as a
            // problem, so checking does too, rather than a change.
            let refused: Vec<Problem> = todo
                .par_iter()
                .filter(|(e, _)| matches!(e.meta.kind, FileKind::File | FileKind::Dir))
                .filter_map(|(e, _)| root.check_set_times(&e.path).err().map(|err| Problem::from_error(&e.path, &err)))
                .collect();
            let refused_paths: BTreeSet<&Path> = refused.iter().map(|p| p.path.as_path()).collect();
            report.changes.retain(|c| !refused_paths.contains(c.path.as_path()));
            report.problems.extend(refused);
        }
        if cx.mode == Mode::Apply {
            cx.progress.start(Self::NAME, todo.len() as u64);
            // Setting an entry's times never changes another entry's, so all non-directories can
            // go at once; then all directories at once.
            let (dirs, others): (Vec<_>, Vec<_>) = todo.into_iter().partition(|(e, _)| e.meta.kind == FileKind::Dir);
            // The other names of a group follow its first.
            let others: Vec<_> = others.into_iter().filter(|(e, _)| !linked(e) || tree.is_first_name(e)).collect();
            let mut failed = set_times_by_directory(root, others, &groups, cx);
            // On an overlay, re-dating a file copies it up into its directory, and copies made at
            // once in one directory can leave it with the time of the copy (the kernel restores
            // a directory's times per copy, from what it saw before): directories are looked at
            // again now, and one moved past what it should be is re-dated with the others. On
            // another file system nothing moved and this finds nothing.
            let planned: BTreeSet<&Path> = dirs.iter().map(|(e, _)| e.path.as_path()).collect();
            let moved: Vec<(Entry, Timestamp)> = tree
                .entries()
                .par_iter()
                .filter(|e| e.meta.kind == FileKind::Dir && !planned.contains(e.path.as_path()))
                .filter_map(|e| {
                    let meta = root.try_lstat(&e.path).ok().flatten()?;
                    let now = Entry { path: e.path.clone(), meta };
                    self.target(&now, epoch).map(|to| (now, to))
                })
                .collect();
            let dirs: Vec<(&Entry, Timestamp)> = dirs.into_iter().chain(moved.iter().map(|(e, to)| (e, *to))).collect();
            let (top, dirs): (Vec<_>, Vec<_>) = dirs.into_iter().partition(|(e, _)| e.path.as_os_str().is_empty());
            // Directories deepest first, a level at a time (those of one depth in parallel), so
            // that a directory is always done after everything inside it, as the design asks of
            // every stage: on an overlay, re-dating a child copies it up into its directory,
            // which would otherwise move the directory's time after it was set.
            let mut by_depth: BTreeMap<usize, Vec<(&Entry, Timestamp)>> = BTreeMap::new();
            for (entry, to) in dirs {
                by_depth.entry(entry.path.components().count()).or_default().push((entry, to));
            }
            for (_, level) in by_depth.into_iter().rev() {
                failed.extend(set_times_by_directory(root, level, &groups, cx));
            }
            // The root last: it has no directory of its own beneath the root.
            for (entry, to) in &top {
                if let Err(e) = root.set_times(&entry.path, *to, *to) {
                    failed.push(refusal(root, &entry.path, &e));
                }
                cx.progress.advance(1);
            }
            cx.progress.finish();
            let mut failed_paths: BTreeSet<&Path> = failed.iter().map(|p| p.path.as_path()).collect();
            // A group that failed under its first name failed under all of them.
            for (path, links) in &groups {
                if failed_paths.contains(path) {
                    failed_paths.extend(links.others().iter().map(PathBuf::as_path));
                }
            }
            report.changes.retain(|c| !failed_paths.contains(c.path.as_path()));
            report.problems.extend(failed);
        }
        report.sort();
        report
    }
}

/// Entries and the time each is to get.
type ToSet<'a> = Vec<(&'a Entry, Timestamp)>;

/// Sets the times of `todo`, entries other than the root, in parallel: each directory holding
/// some of them is opened once. The entries that failed, as problems.
fn set_times_by_directory(
    root: &Root,
    todo: Vec<(&Entry, Timestamp)>,
    groups: &BTreeMap<&Path, tamis_core::Links>,
    cx: &Context<'_>,
) -> Vec<Problem> {
    // Keyed by the parent's bytes: the order of the directories does not matter (the problems
    // are sorted with the report), and comparing bytes is much cheaper than comparing paths
    // component by component, once per entry.
    let mut by_parent: BTreeMap<&[u8], (&Path, ToSet<'_>)> = BTreeMap::new();
    for (entry, to) in todo {
        let parent = entry.path.parent().unwrap_or(Path::new(""));
        by_parent.entry(parent.as_os_str().as_bytes()).or_insert_with(|| (parent, Vec::new())).1.push((entry, to));
    }
    by_parent
        .into_par_iter()
        .flat_map_iter(|(_, (parent, items))| {
            let set = root.directory(parent).map(|dir| {
                items
                    .iter()
                    .filter_map(|(entry, to)| {
                        // Only a file with other names can be a group's first name.
                        let group = (entry.meta.kind != FileKind::Dir && entry.meta.nlink > 1)
                            .then(|| groups.get(entry.path.as_path()))
                            .flatten();
                        let set = match group {
                            Some(links) => root.set_times_linked(&entry.path, links, *to, *to),
                            None => dir.set_times(entry.path.file_name().unwrap_or_default(), *to, *to),
                        };
                        set.err().map(|e| refusal(root, &entry.path, &e))
                    })
                    .collect::<Vec<Problem>>()
            });
            cx.progress.advance(items.len() as u64);
            match set {
                Ok(failures) => failures,
                Err(e) => items.iter().map(|(entry, _)| Problem::from_error(&entry.path, &e)).collect(),
            }
        })
        .collect()
}

/// The problem of an entry whose times could not be set: for a refusal of the system, the
/// `chattr` flag that caused it where there is one (as `--check` says), else the system's reason.
fn refusal(root: &Root, path: &Path, error: &tamis_core::Error) -> Problem {
    if let tamis_core::Error::Io { source, .. } = error
        && source.kind() == std::io::ErrorKind::PermissionDenied
        && let Err(flag) = root.check_set_times(path)
    {
        return Problem::from_error(path, &flag);
    }
    Problem::from_error(path, error)
}
