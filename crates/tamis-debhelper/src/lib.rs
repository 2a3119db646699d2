//! The staged trees of a Debian package build, normalized inside debhelper.
//!
//! A package build stages each binary package's files in `debian/<package>/` before
//! `dh_builddeb` packs them. Files made at build time carry the build's clock inside them: a
//! gzip header's time, the times of every member of a zip or jar, the dates of an `ar` archive,
//! a PNG's `tIME` chunk, a `.mo` file's creation date, a `.pyc`'s source time, javadoc's
//! generated-on comments. `dpkg-deb` clamps the times of the files themselves to
//! `SOURCE_DATE_EPOCH`, not the times inside them. This crate runs tamis' formats stage
//! ([`tamis_formats::StripFormats`], every format it knows, recognised by content) on each
//! staged tree, the job `dh_strip_nondeterminism` does, with the same safety as every tamis
//! stage: no link is followed out of the tree, files are replaced atomically, a file tamis cannot
//! read is left byte for byte as it was and reported.
//!
//! Which packages: [`packages`] asks debhelper's own `dh_listpackages` with the selection options
//! the command got (`-p`, `-N`, `-a`, `-i`) and the environment `dh` sets
//! (`DH_INTERNAL_OPTIONS`, `DH_OPTIONS`), so the list is the one every other `dh_*` command of
//! the build acts on, Build-Profiles and architecture included. Which files: all of a package's
//! tree but those whose path (`debian/<package>/…`) contains one of the `-X` items, as
//! debhelper's `excludefile` decides.
//!
//! Proof of validity: `bins/dh_tamis/tests/debhelper.rs` builds a real source package twice
//! with `dpkg-buildpackage` under different clocks, umasks and host names; with the add-on the
//! two `.deb` files are byte-identical, without it they differ.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use tamis_core::{Context, Edits, FileKind, Report, Root};
use tamis_formats::{FileJob, FormatsOptions, StripFormats};

/// A failure that stops the command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `dh_listpackages` could not be run or failed.
    #[error("dh_listpackages: {0}")]
    ListPackages(String),
    /// The package's staged tree cannot be opened or walked.
    #[error("{}: cannot normalize the staged tree", path.display())]
    Tree {
        /// The tree (`debian/<package>`).
        path: PathBuf,
        /// The cause.
        source: tamis_core::Error,
    },
}

/// The `-X` items: a file whose path contains one of them is left alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions(Vec<String>);

impl Exclusions {
    /// Files whose path contains any of `items` (debhelper's `-X`, `--exclude`).
    pub fn new(items: Vec<String>) -> Self {
        Self(items.into_iter().filter(|item| !item.is_empty()).collect())
    }

    /// Whether `path` (as debhelper names it: `debian/<package>/usr/…`) is excluded.
    pub fn excludes(&self, path: &str) -> bool {
        self.0.iter().any(|item| path.contains(item.as_str()))
    }
}

/// The binary packages to act on, in `debian/control`'s order: `dh_listpackages` run with
/// `selection` (the `-p`, `-N`, `-a`, `-i` options given) in the directory `source` (the
/// unpacked source package), with the environment `dh` set.
pub fn packages(source: &Path, selection: &[OsString]) -> Result<Vec<String>, Error> {
    let out = Command::new("dh_listpackages")
        .args(selection)
        .current_dir(source)
        .output()
        .map_err(|e| Error::ListPackages(format!("cannot run it: {e} (is debhelper installed?)")))?;
    if !out.status.success() {
        return Err(Error::ListPackages(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect())
}

/// Normalizes every file of the staged tree `tree` (`debian/<package>`) but the excluded ones,
/// with every format tamis knows, clamping embedded times to the context's epoch. The report's
/// paths are inside `tree`; a tree that does not exist (a package with nothing staged) gives an
/// empty report.
pub fn normalize_tree(tree: &Path, exclusions: &Exclusions, cx: &Context<'_>) -> Result<Report, Error> {
    let stage = StripFormats::new(&FormatsOptions::default());
    if !tree.exists() {
        return Ok(Report::new(StripFormats::NAME, cx.mode));
    }
    let fail = |source| Error::Tree { path: tree.to_owned(), source };
    let root = Root::open(tree).map_err(fail)?;
    let walk = root.walk().map_err(fail)?;
    let shown = tree.to_string_lossy();
    let jobs: Vec<FileJob<'_>> = walk
        .entries()
        .iter()
        .filter(|e| e.meta.kind == FileKind::File && e.meta.size > 0 && walk.is_first_name(e))
        .filter(|e| !exclusions.excludes(&format!("{}/{}", shown.trim_end_matches('/'), e.path.display())))
        .map(|e| FileJob { path: &e.path, links: walk.links(e) })
        .collect();
    let mut edits = Edits::new(&root, cx, StripFormats::NAME);
    stage.strip(&root, &jobs, &mut edits, cx);
    for problem in walk.problems() {
        edits.problem(&problem.path, problem.reason.clone());
    }
    Ok(edits.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusions_match_substrings_of_the_path() {
        let x = Exclusions::new(vec![".jar".into(), String::new()]);
        assert!(x.excludes("debian/foo/usr/share/java/foo.jar"));
        assert!(!x.excludes("debian/foo/usr/share/doc/foo/changelog.gz"));
        assert!(!Exclusions::default().excludes("debian/foo/x"));
    }
}
