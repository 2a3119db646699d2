//! Manifests: what a tree holds, entry by entry; where two trees differ, and why.
//!
//! A [`Manifest`] lists every entry of a tree in the canonical order with its type, mode,
//! owner, size, mtime, link target, device number, extended attributes and the SHA-256 of a
//! regular file's bytes. Its [`digest`](Manifest::digest) is one hash for the whole tree: two
//! builds are reproducible when their digests are equal. It is written and read as JSON Lines
//! (a header line with the format version, then one entry per line), so a build can publish it
//! next to its image and a rebuilder compare against it without the image.
//!
//! [`compare`] says, entry by entry, how two manifests differ; each [`Difference`] falls in one
//! [`Group`] (only in one tree, content, metadata, mtime only). [`Comparison::of`] compares two
//! [`Input`]s (a directory, a manifest file, an initramfs or cpio file; further image readers plug in there) and, when
//! asked, explains each difference: the [`Cause`] recognised from the path and the bytes of both
//! sides, and the tamis stage that removes it ([`explain`]).
//!
//! Files are hashed in parallel, each read once (SHA-256 with the CPU's SHA extensions where
//! it has them); the manifest does not depend on the number of threads. Access times, inode
//! numbers and link counts are left out: they differ between two copies of the same tree and no
//! image format keeps them. Proven by the unit tests here and, on two real mmdebstrap builds, by
//! `bins/tamis/tests/rootfs.rs` (every content difference attributed to its stage; none left
//! after `tamis normalize`).
//!
//! ```
//! use tamis_manifest::{Comparison, input};
//!
//! // Two builds of one tree (a directory, a manifest `.jsonl`, a squashfs or an ISO image each).
//! let (build_a, build_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
//! for (build, id) in [(&build_a, "0123"), (&build_b, "4567")] {
//!     std::fs::create_dir(build.path().join("etc"))?;
//!     std::fs::write(build.path().join("etc/machine-id"), id)?;
//! }
//! let (a, b) = (input::open(build_a.path())?, input::open(build_b.path())?);
//! let comparison = Comparison::of(a.as_ref(), b.as_ref(), true)?;
//! for d in &comparison.differences {
//!     println!("{} {:?} {:?}", d.path, d.group, d.explanation.as_ref().map(|e| e.stage));
//! }
//! let id = comparison.differences.iter().find(|d| d.path == "/etc/machine-id").expect("differs");
//! assert_eq!(id.explanation.as_ref().and_then(|e| e.stage), Some("machine-id"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod compare;
pub mod cpio;
pub mod disk;
mod error;
pub mod explain;
pub mod input;
pub mod iso;
mod manifest;
pub mod squashfs;

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;
use tamis_core::Problem;

pub use compare::{Difference, Group, compare};
pub use error::{Error, Result};
pub use explain::{Cause, Explanation};
pub use input::Input;
pub use manifest::{FORMAT_VERSION, Manifest, ManifestEntry};

/// One entry that differs, its group and, if asked, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryDifference {
    /// The path, as the image sees it.
    pub path: String,
    /// The group.
    pub group: Group,
    /// The fields that differ (empty when the entry is on one side only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<&'static str>,
    /// The cause and the stage that removes it (with explanations asked for).
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub explanation: Option<Explanation>,
    /// When both sides are images tamis reads (an initrd in a tree, a squashfs in an ISO),
    /// the comparison of their insides (with explanations asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inside: Option<Box<Comparison>>,
}

/// Two inputs compared: every difference in the canonical order, and counts per group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Entries in the first and the second input.
    pub entries: [usize; 2],
    /// Differences per group name (every group listed, zeros too).
    pub counts: BTreeMap<&'static str, usize>,
    /// Every difference, in the canonical order.
    pub differences: Vec<EntryDifference>,
    /// Entries of either input that could not be read (path prefixed `a:` or `b:`).
    pub problems: Vec<Problem>,
}

impl Comparison {
    /// Compares two inputs; with `explain`, gives each difference its cause, reading the bytes
    /// of both sides only for content differences (in parallel).
    ///
    /// With `explain`, a file that is an image on both sides (see [`input::is_image`]) is
    /// compared inside too, to a depth of [`NESTED_DEPTH`] images.
    pub fn of(first: &dyn Input, second: &dyn Input, explain: bool) -> Result<Self> {
        Self::nested(first, second, explain, NESTED_DEPTH)
    }

    fn nested(first: &dyn Input, second: &dyn Input, explain: bool, depth: usize) -> Result<Self> {
        let (ma, mb) = if let (Some(a), Some(b)) = (first.directory(), second.directory()) {
            directories(a, b)?
        } else {
            let (ma, mb) = rayon::join(|| first.manifest(), || second.manifest());
            (ma?, mb?)
        };
        let raw = compare(&ma, &mb);
        let explained: Vec<Result<EntryDifference>> = raw
            .into_par_iter()
            .map(|(path, difference)| {
                let group = difference.group();
                let (explanation, inside) =
                    if explain { explain_one(first, second, &path, group, depth)? } else { (None, None) };
                let fields = match difference {
                    Difference::Fields(fields) => fields,
                    _ => Vec::new(),
                };
                Ok(EntryDifference { path, group, fields, explanation, inside })
            })
            .collect();
        let differences = explained.into_iter().collect::<Result<Vec<_>>>()?;
        let mut counts: BTreeMap<&'static str, usize> = Group::ALL.iter().map(|g| (g.name(), 0)).collect();
        for d in &differences {
            *counts.entry(d.group.name()).or_default() += 1;
        }
        let tagged = |tag: &str, m: &Manifest| -> Vec<Problem> {
            m.problems
                .iter()
                .map(|p| Problem { path: Path::new(tag).join(&p.path), reason: p.reason.clone() })
                .collect()
        };
        let mut problems = tagged("a:", &ma);
        problems.extend(tagged("b:", &mb));
        Ok(Self { entries: [ma.entries.len(), mb.entries.len()], counts, differences, problems })
    }

    /// Whether the two inputs are identical (no difference, nothing unreadable).
    pub fn identical(&self) -> bool {
        self.differences.is_empty() && self.problems.is_empty()
    }
}

/// The manifests of two directories for their comparison: both walked, then described with
/// every core, hashing only the regular files whose contents the comparison cannot tell
/// otherwise — those at the same path in both, of the same size. A file of another size, or a
/// regular file on one side only, differs in contents without being read ([`compare`] says so).
fn directories(first: &tamis_core::Root, second: &tamis_core::Root) -> Result<(Manifest, Manifest)> {
    let (ta, tb) = rayon::join(|| first.walk(), || second.walk());
    let (ta, tb) = (ta?, tb?);
    let (ea, eb) = (ta.entries(), tb.entries());
    let (mut hash_a, mut hash_b) = (vec![false; ea.len()], vec![false; eb.len()]);
    let (mut at_a, mut at_b) = (0, 0);
    while at_a < ea.len() && at_b < eb.len() {
        match tamis_core::canonical_cmp(&ea[at_a].path, &eb[at_b].path) {
            std::cmp::Ordering::Less => at_a += 1,
            std::cmp::Ordering::Greater => at_b += 1,
            std::cmp::Ordering::Equal => {
                let (left, right) = (&ea[at_a].meta, &eb[at_b].meta);
                let same =
                    left.kind == tamis_core::FileKind::File && right.kind == left.kind && left.size == right.size;
                (hash_a[at_a], hash_b[at_b]) = (same, same);
                at_a += 1;
                at_b += 1;
            }
        }
    }
    Ok(rayon::join(|| Manifest::of_walk(first, &ta, |k| hash_a[k]), || Manifest::of_walk(second, &tb, |k| hash_b[k])))
}

/// How many images deep [`Comparison::of`] looks: an ISO, the squashfs in it, the initrd in that.
pub const NESTED_DEPTH: usize = 3;

type Explained = (Option<Explanation>, Option<Box<Comparison>>);

fn explain_one(first: &dyn Input, second: &dyn Input, path: &str, group: Group, depth: usize) -> Result<Explained> {
    Ok(match group {
        Group::Content => match (first.contents(path), second.contents(path)) {
            (Ok(a), Ok(b)) => {
                let mut explanation = explain::explain_content(path, a.as_deref(), b.as_deref());
                let inside = match (a, b) {
                    (Some(a), Some(b)) if depth > 0 && input::is_image(&a) && input::is_image(&b) => {
                        match compare_images(path, &a, &b, depth - 1) {
                            Ok(inside) => Some(Box::new(inside)),
                            // A compressed file that is no initramfs: a plain content difference.
                            Err(Error::NotAnImage { .. }) => None,
                            // An image one side of which cannot be read: its bytes differ, and
                            // the rest of the comparison goes on.
                            Err(e @ (Error::Image { .. } | Error::Squashfs { .. } | Error::Iso(_))) => {
                                if explanation.cause == Cause::Unknown {
                                    explanation.detail =
                                        format!("{} (not compared inside: {})", explanation.detail, why(&e));
                                }
                                None
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    _ => None,
                };
                if let Some(inside) = inside.as_deref().filter(|_| explanation.cause == Cause::Unknown) {
                    let counts: Vec<String> =
                        inside.counts.iter().filter(|(_, n)| **n > 0).map(|(g, n)| format!("{n} {g}")).collect();
                    let detail = format!("an image whose insides differ: {}", counts.join(", "));
                    explanation = Explanation::new(Cause::NestedImage, detail);
                }
                (Some(explanation), inside)
            }
            // Not a regular file on one side (a link, a type change): the path alone must do.
            (Err(e), _) | (_, Err(e)) => {
                let mut by_path = explain::explain_content(path, None, None);
                by_path.detail = if by_path.cause == Cause::Unknown {
                    // The entry has no bytes (a device, a pipe, a link): that, not a manifest, is why.
                    format!("no bytes to compare: {e}")
                } else {
                    format!("{} (no bytes to compare: {e})", by_path.detail)
                };
                (Some(by_path), None)
            }
        },
        Group::MtimeOnly => (Some(Explanation::new(first.mtime_cause(), "")), None),
        Group::OnlyInFirst | Group::OnlyInSecond => (explain::explain_path(path), None),
        Group::Metadata => (None, None),
    })
}

/// What an image reader said (of a temporary copy: its path is left out where it can be).
fn why(error: &Error) -> String {
    match error {
        Error::Image { why, .. } => why.clone(),
        Error::Squashfs { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

/// Two images found at `path` in both inputs, compared inside. The readers open files, so each
/// side is written to a temporary file first.
fn compare_images(path: &str, a: &[u8], b: &[u8], depth: usize) -> Result<Comparison> {
    let io = |source| Error::Io { path: path.into(), op: "write a temporary copy of", source };
    let dir = tempfile::tempdir().map_err(io)?;
    let open = |name: &str, bytes: &[u8]| -> Result<Box<dyn Input>> {
        let file = dir.path().join(name);
        std::fs::write(&file, bytes).map_err(io)?;
        input::open(&file)
    };
    let (first, second) = (open("a", a)?, open("b", b)?);
    Comparison::nested(first.as_ref(), second.as_ref(), true, depth)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use tamis_core::{Root, Timestamp};

    #[test]
    fn equal_trees_have_equal_digests_and_differences_are_named() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for dir in [a.path(), b.path()] {
            fs::create_dir(dir.join("etc")).unwrap();
            fs::write(dir.join("etc/hostname"), b"debian\n").unwrap();
            std::os::unix::fs::symlink("/run/x", dir.join("etc/link")).unwrap();
        }
        let t = Timestamp::from_secs(1_000_000);
        for dir in [a.path(), b.path()] {
            let root = Root::open(dir).unwrap();
            for p in ["etc/link", "etc/hostname", "etc", ""] {
                root.set_times(Path::new(p), t, t).unwrap();
            }
        }
        let ma = Manifest::of_tree(&Root::open(a.path()).unwrap()).unwrap();
        let mb = Manifest::of_tree(&Root::open(b.path()).unwrap()).unwrap();
        assert_eq!(ma.digest(), mb.digest());
        assert!(compare(&ma, &mb).is_empty());
        assert_eq!(ma.entries[1].path, "/etc");
        assert_eq!(ma.entries[3].target.as_deref(), Some("/run/x"));

        fs::write(b.path().join("etc/hostname"), b"other\n").unwrap();
        fs::write(b.path().join("etc/new"), b"").unwrap();
        let mb = Manifest::of_tree(&Root::open(b.path()).unwrap()).unwrap();
        assert_ne!(ma.digest(), mb.digest());
        let diff = compare(&ma, &mb);
        assert_eq!(diff[0], ("/etc".to_owned(), Difference::Fields(vec!["mtime"])));
        assert_eq!(diff[1], ("/etc/hostname".to_owned(), Difference::Fields(vec!["size", "mtime", "sha256"])));
        assert_eq!(diff[2].1, Difference::OnlyInSecond);

        let mut lines = Vec::new();
        ma.write_json_lines(&mut lines).unwrap();
        assert_eq!(String::from_utf8(lines.clone()).unwrap().lines().count(), ma.entries.len() + 1);
        let back = Manifest::read_json_lines(&lines[..], Path::new("m.jsonl")).unwrap();
        assert_eq!(back.entries, ma.entries);
        assert_eq!(back.digest(), ma.digest());
    }
}
