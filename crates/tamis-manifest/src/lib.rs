//! Manifests: what a tree holds, entry by entry, and where two trees differ.
//!
//! A [`Manifest`] lists every entry of a tree in the canonical order with its type, mode,
//! owner, size, mtime, link target, device number and the SHA-256 of a regular file's bytes.
//! Its [`digest`](Manifest::digest) is one hash for the whole tree: two builds are reproducible
//! when their digests are equal. [`compare`] says, entry by entry, how two manifests differ, so
//! that a test (or a person) sees what a build left nondeterministic.
//!
//! Files are hashed in parallel, each read once; the manifest does not depend on the number of
//! threads. Access times, inode numbers and link counts are left out: they differ between two
//! copies of the same tree and no image format keeps them.

use std::io::{Read as _, Write};
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tamis_core::{FileKind, Problem, Result, Root, Timestamp, canonical_cmp, display_path};

/// One entry of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestEntry {
    /// The path inside the tree, as the image sees it (`/etc/hostname`).
    pub path: String,
    /// The type.
    pub kind: FileKind,
    /// Permission, set-id and sticky bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes (files and links).
    pub size: u64,
    /// Modification time.
    pub mtime: Timestamp,
    /// A link's target, as stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A device node's number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rdev: Option<u64>,
    /// SHA-256 of a regular file's contents, in hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Every entry of a tree, in the canonical order, and the entries that could not be read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Manifest {
    /// The entries.
    pub entries: Vec<ManifestEntry>,
    /// Entries that could not be read (they are missing from `entries`).
    pub problems: Vec<Problem>,
}

impl Manifest {
    /// The manifest of the tree beneath `root`.
    pub fn of_tree(root: &Root) -> Result<Self> {
        let tree = root.walk()?;
        let described: Vec<std::result::Result<ManifestEntry, Problem>> =
            tree.entries().par_iter().map(|entry| describe(root, &entry.path, entry)).collect();
        let mut manifest = Self { entries: Vec::new(), problems: tree.problems().to_vec() };
        for item in described {
            match item {
                Ok(entry) => manifest.entries.push(entry),
                Err(problem) => manifest.problems.push(problem),
            }
        }
        Ok(manifest)
    }

    /// One SHA-256 for the whole manifest: equal digests mean equal trees.
    ///
    /// # Panics
    /// Never: an entry is plain data that always serialises.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for entry in &self.entries {
            let line = serde_json::to_vec(entry).expect("a manifest entry always serialises");
            hasher.update(&line);
            hasher.update(b"\n");
        }
        hex(&hasher.finalize())
    }

    /// Writes the manifest as JSON Lines: one entry per line, in the canonical order.
    pub fn write_json_lines(&self, mut out: impl Write) -> std::io::Result<()> {
        for entry in &self.entries {
            serde_json::to_writer(&mut out, entry)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

fn describe(root: &Root, path: &Path, entry: &tamis_core::Entry) -> std::result::Result<ManifestEntry, Problem> {
    let meta = &entry.meta;
    let problem = |e: &dyn std::error::Error| Problem::from_error(path, e);
    let target = match meta.kind {
        FileKind::Symlink => Some(root.read_link(path).map_err(|e| problem(&e))?.display().to_string()),
        _ => None,
    };
    let sha256 = match meta.kind {
        FileKind::File => Some(hash_file(root, path).map_err(|e| problem(&e))?),
        _ => None,
    };
    let rdev = matches!(meta.kind, FileKind::CharDevice | FileKind::BlockDevice).then_some(meta.rdev);
    Ok(ManifestEntry {
        path: display_path(path),
        kind: meta.kind,
        mode: meta.mode,
        uid: meta.uid,
        gid: meta.gid,
        size: if meta.kind == FileKind::Dir { 0 } else { meta.size },
        mtime: meta.mtime,
        target,
        rdev,
        sha256,
    })
}

fn hash_file(root: &Root, path: &Path) -> Result<String> {
    let mut file = root.open_regular(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n =
            file.read(&mut buf).map_err(|e| tamis_core::Error::Io { path: path.to_owned(), op: "read", source: e })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        write!(s, "{b:02x}").expect("writing to a String cannot fail");
        s
    })
}

/// How one entry differs between two manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Difference {
    /// Only the first tree has it.
    OnlyInFirst,
    /// Only the second tree has it.
    OnlyInSecond,
    /// Both have it; these fields differ (`sha256` for contents, `mtime`, `mode`, …).
    Fields(Vec<&'static str>),
}

/// The entries that differ between two manifests, in the canonical order.
pub fn compare(first: &Manifest, second: &Manifest) -> Vec<(String, Difference)> {
    use std::cmp::Ordering;
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
        ("sha256", x.sha256 != y.sha256),
    ];
    checks.iter().filter(|(_, differs)| *differs).map(|(name, _)| *name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

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
        assert_eq!(String::from_utf8(lines).unwrap().lines().count(), ma.entries.len());
    }
}
