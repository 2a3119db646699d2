//! Stages that remove a cache which cannot be made deterministic and which its program
//! rebuilds: ldconfig's auxiliary cache and man-db's index databases.

use std::path::Path;

use serde::Deserialize;
use tamis_core::{Context, Edits, FileKind, Normalizer, Report, Result, Root};

/// A stage without options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NoOptions {}

/// The `ldconfig` stage: removes `/var/cache/ldconfig/aux-cache`, which records the inode
/// numbers, sizes and times of the libraries `ldconfig` saw; `ldconfig` rebuilds it when it
/// next runs. `/etc/ld.so.cache` is left as it is: its contents depend only on the libraries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ldconfig;

impl Ldconfig {
    /// The stage's name.
    pub const NAME: &'static str = "ldconfig";
    /// One line for `tamis stages`.
    pub const SUMMARY: &'static str = "remove ldconfig's aux-cache (inode numbers and times of the build's libraries)";
}

impl Normalizer for Ldconfig {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report> {
        let mut edits = Edits::new(root, cx, Self::NAME);
        edits.examined(1);
        edits.remove(
            Path::new("var/cache/ldconfig/aux-cache"),
            "keyed on inode numbers and times of the build; ldconfig rebuilds it",
        );
        Ok(edits.finish())
    }
}

/// The `man-db` stage: removes man-db's `index.db` files under `/var/cache/man`. They are gdbm
/// databases whose layout depends on the order of insertion, which differs between builds;
/// man-db's daily timer (`man-db.timer`) rebuilds them, and `man` works without them (only
/// `apropos`/`whatis` wait for the rebuild).
#[derive(Debug, Clone, Copy, Default)]
pub struct ManDb;

impl ManDb {
    /// The stage's name.
    pub const NAME: &'static str = "man-db";
    /// One line for `tamis stages`.
    pub const SUMMARY: &'static str = "remove man-db's index.db files (gdbm layout varies); its timer rebuilds them";
}

impl Normalizer for ManDb {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report> {
        let mut edits = Edits::new(root, cx, Self::NAME);
        let cache = Path::new("var/cache/man");
        if !root.is_dir(cache) {
            return Ok(edits.finish());
        }
        for entry in root.walk_under(cache)?.entries() {
            if entry.meta.kind == FileKind::File && entry.path.file_name() == Some("index.db".as_ref()) {
                edits.examined(1);
                edits.remove(&entry.path, "gdbm layout depends on insertion order; man-db's timer rebuilds it");
            }
        }
        Ok(edits.finish())
    }
}
