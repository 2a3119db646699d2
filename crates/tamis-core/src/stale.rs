//! Temporary files that an earlier run left in a tree because it was killed (SIGKILL, a crash,
//! a power cut): named, and removed or finished, before anything else runs, so that they never
//! end up in an image and a rerun converges on what an uninterrupted run gives.
//!
//! A temporary is any entry named `.tamis-*.tmp` ([`temp::PREFIX`], [`temp::SUFFIX`]).
//! - One with a single link is a copy that was being written, or was written but not yet put
//!   in place: the original is intact beside it. It is removed.
//! - One with several links is the new inode of a hard-link group whose names were being
//!   re-pointed at it: its contents are complete (re-pointing starts only once the copy is
//!   written and has the original's metadata), and its name ends in `-iINO` with the inode
//!   number of the file it replaces. The names still on that old inode are re-pointed at the
//!   new one, as the interrupted run would have done, then the temporary names are removed:
//!   the group is one inode again, with every name. If the old inode has names outside the
//!   tree, nothing is changed and a problem says so.
//! - One whose process id (the number after `.tamis-`) is a running tamis process may be that
//!   process's work: it is left alone and named as a problem.
//!
//! In check mode every one of them is reported as a change, so `--check` never says "nothing
//! would change" while temporaries are in the tree.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags};

use crate::{
    Action, Change, Context, Entry, Error, FileKind, Metadata, Mode, Normalizer, Problem, Report, Result, Root, temp,
};

/// The reason given for each temporary removed.
const LEFT_BY_A_RUN: &str = "temporary file left by an interrupted tamis run";

/// The step that clears what interrupted runs left (see the documentation of its module (`src/stale.rs`)). It
/// is not a stage of a profile: every run that changes a tree runs it first.
#[derive(Debug, Clone, Copy, Default)]
pub struct StaleTemporaries;

impl StaleTemporaries {
    /// The name of its report.
    pub const NAME: &'static str = "temporaries";

    /// Clears what interrupted runs left in the single directory `dir` (not beneath it): for a
    /// command given files rather than a tree.
    pub fn run_in(&self, root: &Root, dir: &Path, cx: &Context<'_>) -> Result<Report> {
        Ok(recover(root, &list_one(root, dir)?, cx.mode))
    }

    /// Clears what interrupted runs left in `tree`, a walk of `root` the caller already has
    /// (a command that walks the tree once for this and for its stage). When the report has
    /// changes and the mode is [`Mode::Apply`], the tree has changed: walk it again.
    pub fn run_on(&self, root: &Root, tree: &crate::Tree, cx: &Context<'_>) -> Report {
        recover(root, tree.entries(), cx.mode)
    }
}

impl Normalizer for StaleTemporaries {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report> {
        let tree = root.walk()?;
        Ok(recover(root, tree.entries(), cx.mode))
    }
}

/// The entries of the directory `dir` (not beneath it), sorted by name.
fn list_one(root: &Root, dir: &Path) -> Result<Vec<Entry>> {
    let fd = root.open_dir(dir)?;
    let listing = rfs::Dir::read_from(&fd).map_err(|e| Error::io(dir, "list directory", e))?;
    let mut entries = Vec::new();
    for item in listing {
        let item = item.map_err(|e| Error::io(dir, "list directory", e))?;
        let name = OsStr::from_bytes(item.file_name().to_bytes());
        if name == "." || name == ".." {
            continue;
        }
        // An entry that vanished since the listing is no longer there to clear.
        if let Ok(st) = rfs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            entries.push(Entry { path: dir.join(name), meta: Metadata::from_stat(&st) });
        }
    }
    entries.sort_by(|a, b| crate::canonical_cmp(&a.path, &b.path));
    Ok(entries)
}

/// Whether `name` is a tamis temporary's.
pub fn is_temporary(name: &OsStr) -> bool {
    let bytes = name.as_bytes();
    bytes.len() > temp::PREFIX.len() + temp::SUFFIX.len()
        && bytes.starts_with(temp::PREFIX.as_bytes())
        && bytes.ends_with(temp::SUFFIX.as_bytes())
}

/// What a temporary's name says: the process that made it, and the inode it replaces.
fn parse(name: &OsStr) -> (Option<i32>, Option<u64>) {
    let bytes = name.as_bytes();
    let middle = &bytes[temp::PREFIX.len()..bytes.len() - temp::SUFFIX.len()];
    let text = String::from_utf8_lossy(middle);
    let mut parts = text.split('-');
    let pid = parts.next().and_then(|p| p.parse().ok());
    let replaced = text.rsplit('-').next().and_then(|last| last.strip_prefix('i')).and_then(|n| n.parse().ok());
    (pid, replaced)
}

/// Whether `pid` is another tamis process, still running.
fn running_tamis(pid: i32) -> bool {
    if pid == rustix::process::getpid().as_raw_nonzero().get() {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.starts_with(b"tamis"))
}

fn recover(root: &Root, entries: &[Entry], mode: Mode) -> Report {
    let mut report = Report::new(StaleTemporaries::NAME, mode);
    let is_temp = |e: &Entry| e.path.file_name().is_some_and(is_temporary);
    let temps: Vec<&Entry> = entries.iter().filter(|e| is_temp(e)).collect();
    report.examined = entries.len() as u64;
    if temps.is_empty() {
        return report;
    }
    // Names of each multiply-linked file, by inode.
    let mut by_inode: BTreeMap<(u64, u64), Vec<&Entry>> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.meta.kind == FileKind::File && e.meta.nlink > 1) {
        by_inode.entry((e.meta.dev, e.meta.ino)).or_default().push(e);
    }
    let mut finished: Vec<(u64, u64)> = Vec::new();
    for entry in temps {
        let name = entry.path.file_name().unwrap_or_default();
        let (pid, replaced) = parse(name);
        if pid.is_some_and(running_tamis) {
            let reason = format!(
                "{}: temporary file of tamis process {}, still running: left as it is",
                crate::display_path(&entry.path),
                pid.unwrap_or_default()
            );
            report.problems.push(Problem { path: entry.path.clone(), reason });
            continue;
        }
        let key = (entry.meta.dev, entry.meta.ino);
        if entry.meta.kind == FileKind::File
            && entry.meta.nlink > 1
            && let Some(replaced) = replaced
        {
            // All the temporary names of the new inode are handled with its group, once.
            if !finished.contains(&key) {
                finished.push(key);
                finish_group(root, entries, &by_inode, entry, replaced, &mut report);
            }
            continue;
        }
        remove(root, &entry.path, mode, &mut report);
    }
    report.sort();
    report
}

/// Removes the temporary `path` (unless checking) and reports it.
fn remove(root: &Root, path: &Path, mode: Mode, report: &mut Report) {
    if mode == Mode::Apply
        && let Err(e) = root.remove_file(path)
    {
        report.problems.push(Problem::from_error(path, &e));
        return;
    }
    report.changes.push(Change {
        path: path.to_owned(),
        action: Action::Remove,
        reason: LEFT_BY_A_RUN.to_owned(),
        before: None,
        after: None,
    });
}

/// Re-points every name still on the inode `replaced` at the new inode that the temporary
/// `entry` holds, then removes the new inode's temporary names.
fn finish_group(
    root: &Root,
    entries: &[Entry],
    by_inode: &BTreeMap<(u64, u64), Vec<&Entry>>,
    entry: &Entry,
    replaced: u64,
    report: &mut Report,
) {
    let new_names = by_inode.get(&(entry.meta.dev, entry.meta.ino)).cloned().unwrap_or_default();
    let (temp_names, _): (Vec<&Entry>, Vec<&Entry>) =
        new_names.iter().partition(|e| e.path.file_name().is_some_and(is_temporary));
    let old_names: Vec<&Entry> = entries
        .iter()
        .filter(|e| {
            e.meta.kind == FileKind::File
                && (e.meta.dev, e.meta.ino) == (entry.meta.dev, replaced)
                && !e.path.file_name().is_some_and(is_temporary)
        })
        .collect();
    let outside = old_names.first().is_some_and(|o| o.meta.nlink != old_names.len() as u64)
        || entry.meta.nlink != new_names.len() as u64;
    if outside {
        let reason = format!(
            "{}: temporary file of an interrupted rewrite of a hard-linked file that also has names \
             outside the tree: left as it is",
            crate::display_path(&entry.path)
        );
        report.problems.push(Problem { path: entry.path.clone(), reason });
        return;
    }
    for old in &old_names {
        if report.mode == Mode::Apply
            && let Err(e) = root.repoint(&entry.path, &old.path, replaced)
        {
            report.problems.push(Problem::from_error(&old.path, &e));
            return;
        }
        report.changes.push(Change {
            path: old.path.clone(),
            action: Action::Rewrite,
            reason: "new contents an interrupted tamis run had written for its hard-link group".to_owned(),
            before: None,
            after: None,
        });
    }
    let mode = report.mode;
    for temp in temp_names {
        remove(root, &temp.path, mode, report);
    }
}
