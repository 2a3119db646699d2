//! The delta between two root filesystems, as overlayfs needs it to stack NEW over OLD.
//!
//! Each entry of NEW is compared with OLD's entry at the same path: type, mode, owner, mtime,
//! extended attributes, link target, device number and, for regular files of equal size, the
//! bytes (SHA-256 of both sides, read from the images in parallel). An entry that differs, or
//! is new, goes into the diff with NEW's metadata and contents, and so does every directory
//! above it (overlayfs shows a directory with the metadata of the topmost layer holding it). An
//! entry of OLD that NEW lacks becomes a whiteout (a character device 0/0) unless its
//! directory went too (the directory's whiteout hides it) or became a non-directory (which
//! hides it). A directory that replaces a non-directory is marked opaque
//! (`trusted.overlay.opaque=y`): nothing below it in OLD shows through.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tamis_core::{FileKind, display_path};
use tamis_squashfs::{Image, ImageEntry, TreeEntry};

use crate::{Error, Result};

/// The name and value that mark a directory opaque to overlayfs.
pub const OPAQUE_XATTR: (&[u8], &[u8]) = (b"trusted.overlay.opaque", b"y");

/// Why an entry of NEW is in the diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// A regular file whose bytes changed (its metadata may have changed too).
    Content,
    /// Same bytes (or no bytes: a directory, link, device), other metadata.
    MetadataOnly,
    /// Not in OLD, or of another type there.
    New,
    /// Unchanged, but a directory above a change.
    Parent,
}

/// What one kind of change costs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Cost {
    /// Entries.
    pub entries: usize,
    /// Bytes of regular files' data and links' targets, uncompressed.
    pub bytes: u64,
    /// The largest entries (path, bytes), largest first, at most [`LARGEST`].
    pub largest: Vec<(String, u64)>,
}

/// How many of the largest entries a [`Cost`] names.
pub const LARGEST: usize = 10;

/// What the diff holds and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeltaSummary {
    /// Files whose bytes changed.
    pub content: Cost,
    /// Entries whose metadata only changed (for files: what a `tamis normalize` of both
    /// releases would mostly remove: mtimes).
    pub metadata_only: Cost,
    /// Entries new in NEW (or of another type).
    pub new: Cost,
    /// Unchanged directories carried because something below them changed.
    pub parents: usize,
    /// Whiteouts: entries of OLD that NEW lacks (a deleted directory counts once).
    pub deleted: usize,
    /// Directories marked opaque.
    pub opaque: usize,
    /// For metadata-only changes: how many entries differ in each field.
    pub metadata_fields: BTreeMap<&'static str, usize>,
}

/// The diff: its entries in the canonical order, and where their bytes are in NEW.
#[derive(Debug)]
pub struct Delta {
    /// The entries of the diff squashfs.
    pub entries: Vec<TreeEntry>,
    /// The summary.
    pub summary: DeltaSummary,
}

/// The fields in which two entries of the same type differ (contents aside).
pub fn metadata_differences(old: &ImageEntry, new: &ImageEntry) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if old.mode != new.mode {
        fields.push("mode");
    }
    if (old.uid, old.gid) != (new.uid, new.gid) {
        fields.push("owner");
    }
    if old.mtime != new.mtime {
        fields.push("mtime");
    }
    if old.xattrs != new.xattrs {
        fields.push("xattrs");
    }
    if old.target != new.target {
        fields.push("target");
    }
    if old.rdev != new.rdev {
        fields.push("rdev");
    }
    fields
}

fn file_hash(image: &Image, entry: &ImageEntry, release: &Path) -> Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    image
        .read_file_to(entry, &mut hasher)
        .map_err(|source| Error::Squashfs { path: release.join(&entry.path), source })?;
    Ok(hasher.finalize().into())
}

/// How an entry of NEW compares with OLD.
enum Compared {
    Same,
    Changed(Change, Vec<&'static str>),
}

#[allow(clippy::too_many_lines, reason = "compare, classify, whiteouts, parents: one pass each, in order")]
/// Computes the delta from OLD's entries to NEW's. `epoch` is the diff's time limit: an entry
/// of the diff dated later would be clamped, and the stacked tree would not be NEW, so it is
/// an error.
pub fn compute(old: (&Image, &[ImageEntry], &Path), new: (&Image, &[ImageEntry], &Path), epoch: i64) -> Result<Delta> {
    let (old_image, old_entries, old_path) = old;
    let (new_image, new_entries, new_path) = new;
    let old_at: BTreeMap<&Path, &ImageEntry> = old_entries.iter().map(|e| (e.path.as_path(), e)).collect();
    let new_at: BTreeMap<&Path, usize> = new_entries.iter().enumerate().map(|(i, e)| (e.path.as_path(), i)).collect();

    let compared: Vec<Result<Compared>> = new_entries
        .par_iter()
        .map(|n| {
            let Some(o) = old_at.get(n.path.as_path()) else {
                return Ok(Compared::Changed(Change::New, Vec::new()));
            };
            if o.kind != n.kind {
                return Ok(Compared::Changed(Change::New, Vec::new()));
            }
            let fields = metadata_differences(o, n);
            let stored_alike = || {
                old_image
                    .stored_alike(o, new_image, n)
                    .map_err(|source| Error::Squashfs { path: old_path.join(&o.path), source })
            };
            if n.kind == FileKind::File
                && (o.size != n.size
                    || (!stored_alike()? && file_hash(old_image, o, old_path)? != file_hash(new_image, n, new_path)?))
            {
                return Ok(Compared::Changed(Change::Content, fields));
            }
            Ok(if fields.is_empty() { Compared::Same } else { Compared::Changed(Change::MetadataOnly, fields) })
        })
        .collect();

    let mut summary = DeltaSummary::default();
    let mut included: BTreeMap<usize, Change> = BTreeMap::new();
    let mut opaque: BTreeSet<usize> = BTreeSet::new();
    for (i, result) in compared.into_iter().enumerate() {
        let Compared::Changed(change, fields) = result? else { continue };
        let n = &new_entries[i];
        let bytes = match n.kind {
            FileKind::File | FileKind::Symlink => n.size,
            _ => 0,
        };
        let cost = match change {
            Change::Content => &mut summary.content,
            Change::MetadataOnly => {
                for f in &fields {
                    *summary.metadata_fields.entry(f).or_default() += 1;
                }
                &mut summary.metadata_only
            }
            Change::New | Change::Parent => &mut summary.new,
        };
        cost.entries += 1;
        cost.bytes += bytes;
        if bytes > 0 {
            cost.largest.push((display_path(&n.path), bytes));
        }
        if n.kind == FileKind::Dir && old_at.get(n.path.as_path()).is_some_and(|o| o.kind != FileKind::Dir) {
            opaque.insert(i);
        }
        included.insert(i, change);
    }
    for cost in [&mut summary.content, &mut summary.metadata_only, &mut summary.new] {
        cost.largest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        cost.largest.truncate(LARGEST);
    }

    // Whiteouts: an entry of OLD gone from NEW whose directory is a directory in NEW too.
    let mut whiteouts: Vec<&Path> = Vec::new();
    for o in old_entries {
        if new_at.contains_key(o.path.as_path()) {
            continue;
        }
        let Some(parent) = o.path.parent() else { continue };
        let parent_is_dir_in_new = new_at.get(parent).is_some_and(|&p| new_entries[p].kind == FileKind::Dir);
        if parent_is_dir_in_new {
            whiteouts.push(&o.path);
        }
    }
    summary.deleted = whiteouts.len();

    // Every directory above an entry of the diff, with NEW's metadata.
    let mut parents: BTreeSet<usize> = BTreeSet::new();
    let above = |path: &Path, parents: &mut BTreeSet<usize>| {
        for dir in path.ancestors().skip(1) {
            if let Some(&p) = new_at.get(dir) {
                if !parents.insert(p) {
                    break;
                }
            }
        }
    };
    for &i in included.keys() {
        above(&new_entries[i].path, &mut parents);
    }
    for w in &whiteouts {
        above(w, &mut parents);
    }
    parents.insert(0);
    for p in parents {
        if let std::collections::btree_map::Entry::Vacant(slot) = included.entry(p) {
            slot.insert(Change::Parent);
            summary.parents += 1;
        }
    }

    let mut entries: Vec<TreeEntry> = Vec::with_capacity(included.len() + whiteouts.len());
    for &i in included.keys() {
        let n = &new_entries[i];
        if i64::from(n.mtime) > epoch {
            return Err(Error::LaterThanEpoch { path: new_path.join(&n.path), mtime: i64::from(n.mtime), epoch });
        }
        let mut entry = n.tree_entry();
        if opaque.contains(&i) {
            entry.xattrs.retain(|(name, _)| name.as_slice() != OPAQUE_XATTR.0);
            entry.xattrs.push((OPAQUE_XATTR.0.to_vec(), OPAQUE_XATTR.1.to_vec()));
            entry.xattrs.sort();
        }
        entries.push(entry);
    }
    summary.opaque = opaque.len();
    for w in whiteouts {
        entries.push(whiteout(w));
    }
    entries.sort_by(|a, b| tamis_core::canonical_cmp(&a.path, &b.path));
    Ok(Delta { entries, summary })
}

/// An overlayfs whiteout at `path`: a character device 0/0, mode 0, owned by root.
pub fn whiteout(path: &Path) -> TreeEntry {
    TreeEntry {
        path: PathBuf::from(path),
        kind: FileKind::CharDevice,
        mode: 0,
        uid: 0,
        gid: 0,
        mtime: 0,
        size: 0,
        link: None,
        rdev: 0,
        target: Vec::new(),
        xattrs: Vec::new(),
    }
}

/// Whether `entry` is an overlayfs whiteout.
pub fn is_whiteout(entry: &ImageEntry) -> bool {
    entry.kind == FileKind::CharDevice && entry.rdev == Some(0)
}
