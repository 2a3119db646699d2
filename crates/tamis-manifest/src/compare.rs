//! Where two manifests differ, entry by entry, and in which group each difference falls.

use std::cmp::Ordering;
use std::path::Path;

use serde::Serialize;
use tamis_core::canonical_cmp;

use crate::{Manifest, ManifestEntry};

/// How one entry differs between two manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Difference {
    /// Only the first tree has it.
    OnlyInFirst,
    /// Only the second tree has it.
    OnlyInSecond,
    /// Both have it; these fields differ (`sha256` for contents, `mtime`, `mode`, `xattrs`, …).
    Fields(Vec<&'static str>),
}

/// The groups a difference falls in, in the order a report lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Group {
    /// Only the first tree has the entry.
    OnlyInFirst,
    /// Only the second tree has the entry.
    OnlyInSecond,
    /// What the entry holds differs: bytes, link target, type or device number.
    Content,
    /// Same contents; mode, owner or extended attributes differ (the mtime may too).
    Metadata,
    /// Only the modification time differs.
    MtimeOnly,
}

impl Group {
    /// Every group, in report order.
    pub const ALL: [Self; 5] = [Self::OnlyInFirst, Self::OnlyInSecond, Self::Content, Self::Metadata, Self::MtimeOnly];

    /// The group's name in reports: `only-in-first`, `content`, `mtime-only`, …
    pub fn name(self) -> &'static str {
        match self {
            Self::OnlyInFirst => "only-in-first",
            Self::OnlyInSecond => "only-in-second",
            Self::Content => "content",
            Self::Metadata => "metadata",
            Self::MtimeOnly => "mtime-only",
        }
    }
}

/// Fields that say what an entry holds; the others are metadata.
const CONTENT_FIELDS: &[&str] = &["kind", "size", "sha256", "target", "rdev"];

impl Difference {
    /// The group this difference falls in.
    pub fn group(&self) -> Group {
        match self {
            Self::OnlyInFirst => Group::OnlyInFirst,
            Self::OnlyInSecond => Group::OnlyInSecond,
            Self::Fields(fields) if fields.iter().any(|f| CONTENT_FIELDS.contains(f)) => Group::Content,
            Self::Fields(fields) if fields.iter().any(|f| *f != "mtime") => Group::Metadata,
            Self::Fields(_) => Group::MtimeOnly,
        }
    }
}

/// The entries that differ between two manifests, in the canonical order.
pub fn compare(first: &Manifest, second: &Manifest) -> Vec<(String, Difference)> {
    let mut out = Vec::new();
    let mut left = first.entries.iter().peekable();
    let mut right = second.entries.iter().peekable();
    loop {
        match (left.peek().copied(), right.peek().copied()) {
            (None, None) => return out,
            (Some(x), None) => {
                out.push((x.path.clone(), Difference::OnlyInFirst));
                left.next();
            }
            (None, Some(y)) => {
                out.push((y.path.clone(), Difference::OnlyInSecond));
                right.next();
            }
            (Some(x), Some(y)) => match canonical_cmp(Path::new(&x.path), Path::new(&y.path)) {
                Ordering::Less => {
                    out.push((x.path.clone(), Difference::OnlyInFirst));
                    left.next();
                }
                Ordering::Greater => {
                    out.push((y.path.clone(), Difference::OnlyInSecond));
                    right.next();
                }
                Ordering::Equal => {
                    let fields = differing_fields(x, y);
                    if !fields.is_empty() {
                        out.push((x.path.clone(), Difference::Fields(fields)));
                    }
                    left.next();
                    right.next();
                }
            },
        }
    }
}

fn differing_fields(x: &ManifestEntry, y: &ManifestEntry) -> Vec<&'static str> {
    let checks = [
        ("kind", x.kind != y.kind),
        ("mode", x.mode != y.mode),
        ("uid", x.uid != y.uid),
        ("gid", x.gid != y.gid),
        ("size", x.size != y.size),
        ("mtime", x.mtime != y.mtime),
        ("target", x.target != y.target),
        ("rdev", x.rdev != y.rdev),
        ("xattrs", x.xattrs != y.xattrs),
        // A regular file on one side only, or of another size, has other contents: said so
        // whether or not it was hashed (a comparison of two trees does not read such files).
        ("sha256", x.sha256 != y.sha256 || (is_file(x) || is_file(y)) && (x.kind != y.kind || x.size != y.size)),
    ];
    checks.iter().filter(|(_, differs)| *differs).map(|(name, _)| *name).collect()
}

fn is_file(entry: &ManifestEntry) -> bool {
    entry.kind == tamis_core::FileKind::File
}
