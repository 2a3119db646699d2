//! [`Edits`]: the one place where a stage's changes are applied (or, in check mode, only
//! recorded), so that every stage honours `--check` and reports every change and every failure
//! the same way.
//!
//! Its file operations keep hard-link groups whole and never change an inode that is also linked
//! from outside the tree ([`Links`]): the first time a stage changes a file with several links,
//! `Edits` walks the whole tree once (cached for the rest of the run) to learn the file's other
//! names, so that a stage that only looks at one path (`/etc/machine-id`) or one subtree
//! (`/var/log`) needs no walk of its own.

use std::path::Path;

use crate::{Action, Change, Context, FileKind, Links, Metadata, Mode, Problem, Report, Result, Root, Tree};

/// Applies and records the changes of one stage run. See the documentation of its module (`src/edits.rs`).
#[derive(Debug)]
pub struct Edits<'r> {
    root: &'r Root,
    mode: Mode,
    report: Report,
    /// A walk of the whole tree, made at the first file with several links.
    tree: Option<Tree>,
}

impl<'r> Edits<'r> {
    /// Starts the report of `stage` on `root`.
    pub fn new(root: &'r Root, cx: &Context<'_>, stage: &str) -> Self {
        Self { root, mode: cx.mode, report: Report::new(stage, cx.mode), tree: None }
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

    /// Like [`apply`](Self::apply), for `op` changing the inode at `rel`, whose other names in the
    /// tree are `links`: if the inode is also linked from outside the tree, the change made to
    /// a copy of it is recorded as well ([`Action::Detach`]).
    pub fn apply_linked(
        &mut self,
        rel: &Path,
        links: &Links,
        action: Action,
        reason: &str,
        values: Option<(String, String)>,
        op: impl FnOnce(&Root) -> Result<()>,
    ) -> bool {
        let done = self.apply(rel, action, reason, values, op);
        if done && let Some(change) = links.detach_change(rel) {
            self.report.changes.push(change);
        }
        done
    }

    /// The other names in the tree of the entry at `rel`, whose metadata is now `meta`: from a
    /// walk of the whole tree made at the first call for a file with several links and kept for
    /// the rest of the run. The names are checked again by the operation that uses them
    /// (a name changed since the walk makes it refuse, never split a group).
    pub fn links(&mut self, rel: &Path, meta: &Metadata) -> Links {
        if meta.nlink < 2 || meta.kind == FileKind::Dir {
            return Links::unknown();
        }
        if self.tree.is_none() {
            match self.root.walk() {
                Ok(tree) => self.tree = Some(tree),
                // The operation refuses the file, and says why.
                Err(_) => return Links::unknown(),
            }
        }
        let Some(tree) = &self.tree else { return Links::unknown() };
        match tree.get(rel) {
            Some(entry) if tree.is_whole() => {
                Links::whole(tree.hardlinks(entry).into_iter().map(Path::to_owned).collect(), meta.nlink)
            }
            Some(entry) => tree.links(entry),
            None => Links::unknown(),
        }
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
                let links = self.links(rel, &meta);
                // Checking: an immutable or append-only file cannot be emptied, as the run would find.
                if self.mode == Mode::Check
                    && let Err(e) = self.root.check_truncate(rel)
                {
                    self.error(rel, &e);
                    return false;
                }
                self.apply_linked(rel, &links, Action::Truncate, reason, values, |root| root.truncate(rel, &links))
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
    /// and its hard-link group (see [`Root::replace`] and [`write`](Self::write)).
    pub fn rewrite(&mut self, rel: &Path, contents: &[u8], reason: &str) -> bool {
        match self.root.read(rel) {
            Ok(old) if old == contents => false,
            Ok(_) => self.write(rel, contents, reason, None),
            Err(e) => {
                self.error(rel, &e);
                false
            }
        }
    }

    /// Gives the regular file at `rel` these contents (a [`Action::Rewrite`] with these values),
    /// keeping its metadata: atomically, with its other names in the tree re-pointed to the new
    /// file (found by [`links`](Self::links)) and links from outside the tree left on the old one.
    pub fn write(&mut self, rel: &Path, contents: &[u8], reason: &str, values: Option<(String, String)>) -> bool {
        let links = match self.root.lstat(rel) {
            Ok(meta) => self.links(rel, &meta),
            Err(e) => {
                self.error(rel, &e);
                return false;
            }
        };
        // Checking: the file or its directory may be protected, as the run would find.
        if self.mode == Mode::Check
            && let Err(e) = self.root.check_replace(rel)
        {
            self.error(rel, &e);
            return false;
        }
        self.apply_linked(rel, &links, Action::Rewrite, reason, values, |root| root.replace(rel, contents, &links))
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
