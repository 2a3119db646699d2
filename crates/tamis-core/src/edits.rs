//! [`Edits`]: the one place where a stage's changes are applied (or, in check mode, only
//! recorded), so that every stage honours `--check` and reports every change and every failure
//! the same way.

use std::path::Path;

use crate::{Action, Change, Context, FileKind, Mode, Problem, Report, Result, Root};

/// Applies and records the changes of one stage run. See the [module documentation](self).
#[derive(Debug)]
pub struct Edits<'r> {
    root: &'r Root,
    mode: Mode,
    report: Report,
}

impl<'r> Edits<'r> {
    /// Starts the report of `stage` on `root`.
    pub fn new(root: &'r Root, cx: &Context<'_>, stage: &str) -> Self {
        Self { root, mode: cx.mode, report: Report::new(stage, cx.mode) }
    }

    /// The tree.
    pub fn root(&self) -> &'r Root {
        self.root
    }

    /// Counts `count` more entries looked at.
    pub fn examined(&mut self, count: u64) {
        self.report.examined += count;
    }

    /// Records that `rel` could not be handled and was left as it was.
    pub fn problem(&mut self, rel: &Path, reason: impl Into<String>) {
        self.report.problems.push(Problem { path: rel.to_owned(), reason: reason.into() });
    }

    /// Records that `rel` was left as it is on purpose, and why.
    pub fn skipped(&mut self, rel: &Path, reason: impl Into<String>) {
        self.report.skipped.push(crate::Skipped { path: rel.to_owned(), reason: reason.into() });
    }

    /// Records an error about `rel` as a problem.
    pub fn error(&mut self, rel: &Path, error: &crate::Error) {
        self.report.problems.push(Problem::from_error(rel, error));
    }

    /// Runs `op` (unless checking) and records the change, or the failure as a problem.
    /// Returns whether the change was made (or, when checking, would be).
    pub fn apply(
        &mut self,
        rel: &Path,
        action: Action,
        reason: &str,
        values: Option<(String, String)>,
        op: impl FnOnce(&Root) -> Result<()>,
    ) -> bool {
        if self.mode == Mode::Apply
            && let Err(e) = op(self.root)
        {
            self.error(rel, &e);
            return false;
        }
        let (before, after) = values.map_or((None, None), |(b, a)| (Some(b), Some(a)));
        self.report.changes.push(Change { path: rel.to_owned(), action, reason: reason.to_owned(), before, after });
        true
    }

    /// Removes the non-directory entry at `rel` if there is one (a link itself, not its target).
    pub fn remove(&mut self, rel: &Path, reason: &str) -> bool {
        match self.root.try_lstat(rel) {
            Ok(None) => false,
            Ok(Some(meta)) if meta.kind == FileKind::Dir => {
                self.problem(rel, format!("{}: is a directory; left in place", crate::display_path(rel)));
                false
            }
            Ok(Some(_)) => self.apply(rel, Action::Remove, reason, None, |root| root.remove_file(rel)),
            Err(e) => {
                self.error(rel, &e);
                false
            }
        }
    }

    /// Empties the regular file at `rel` if it has any contents (a link there is left alone
    /// and reported).
    pub fn truncate(&mut self, rel: &Path, reason: &str) -> bool {
        match self.root.try_lstat(rel) {
            Ok(Some(meta)) if meta.kind == FileKind::File && meta.size > 0 => {
                let values = Some((format!("{} bytes", meta.size), "0 bytes".to_owned()));
                self.apply(rel, Action::Truncate, reason, values, |root| root.truncate(rel))
            }
            Ok(Some(meta)) if meta.kind != FileKind::File => {
                self.problem(
                    rel,
                    format!("{}: is a {}, not a file to empty", crate::display_path(rel), meta.kind.noun()),
                );
                false
            }
            Ok(_) => false,
            Err(e) => {
                self.error(rel, &e);
                false
            }
        }
    }

    /// Gives the regular file at `rel` these contents if it has others, keeping its metadata
    /// (see [`Root::replace`]; `other_names` are its other hard links).
    pub fn rewrite(&mut self, rel: &Path, contents: &[u8], other_names: &[&Path], reason: &str) -> bool {
        match self.root.read(rel) {
            Ok(old) if old == contents => false,
            Ok(_) => self.apply(rel, Action::Rewrite, reason, None, |root| root.replace(rel, contents, other_names)),
            Err(e) => {
                self.error(rel, &e);
                false
            }
        }
    }

    /// Makes `rel` a symbolic link to `target`, replacing a non-directory that is there.
    pub fn symlink(&mut self, rel: &Path, target: &Path, reason: &str) -> bool {
        match self.root.try_lstat(rel) {
            Ok(Some(meta)) if meta.kind == FileKind::Symlink && self.root.read_link(rel).is_ok_and(|t| t == target) => {
                false
            }
            Ok(Some(meta)) if meta.kind == FileKind::Dir => {
                self.problem(rel, format!("{}: is a directory; left in place", crate::display_path(rel)));
                false
            }
            Ok(existing) => {
                let values =
                    Some((existing.map_or("absent", |m| m.kind.noun()).to_owned(), format!("-> {}", target.display())));
                self.apply(rel, Action::Replace, reason, values, |root| {
                    if existing.is_some() {
                        root.remove_file(rel)?;
                    }
                    root.create_symlink(rel, target)
                })
            }
            Err(e) => {
                self.error(rel, &e);
                false
            }
        }
    }

    /// The report, in the canonical order.
    pub fn finish(mut self) -> Report {
        self.report.sort();
        self.report
    }
}
