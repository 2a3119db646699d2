//! Applying a kit in memory and proving the result is NEW: what a rebuilder runs.
//!
//! OLD's entries are laid out, then the kit's diff squashfs on top as overlayfs stacks a
//! lower layer over another: a whiteout removes the entry (and all below it), a non-directory
//! or an opaque directory replaces the entry and all below it, a directory over a directory
//! gives its metadata and keeps the names below. `trusted.overlay.*` attributes are hidden, as
//! overlayfs hides them. The tree obtained is compared with NEW's by `tamis-manifest` (types,
//! modes, owners, mtimes, targets, devices, attributes, SHA-256 of contents). `FORMAT` must be
//! `2`, `control.yml` must list what [`crate::kit::delete_files`] finds, and each kernel or
//! initrd of NEW's ISO that changed must be in the kit with NEW's bytes.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use tamis_core::FileKind;
use tamis_manifest::{Comparison, Input, Manifest};
use tamis_squashfs::{Image, ImageEntry};

use crate::delta::{OPAQUE_XATTR, is_whiteout};
use crate::kit::{Layout, control_yml, delete_files};
use crate::release::Release;
use crate::{Error, Result};

/// What verifying a kit found.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// OLD with the kit applied, compared with NEW.
    pub comparison: Comparison,
    /// What is wrong with the kit's own files (`FORMAT`, `control.yml`, kernels).
    pub kit_problems: Vec<String>,
}

impl Verification {
    /// Whether the kit turns OLD into NEW exactly.
    pub fn passed(&self) -> bool {
        self.comparison.identical() && self.kit_problems.is_empty()
    }
}

/// An image and some of its entries: one layer of a stacked tree.
struct Layered<'a> {
    name: PathBuf,
    layers: [&'a Image; 2],
    entries: Vec<(usize, ImageEntry)>,
}

impl Input for Layered<'_> {
    fn name(&self) -> &Path {
        &self.name
    }

    fn manifest(&self) -> tamis_manifest::Result<Manifest> {
        let described: Vec<_> = self
            .entries
            .par_iter()
            .map(|(layer, e)| tamis_manifest::squashfs::describe(self.layers[*layer], e))
            .collect();
        let mut manifest = Manifest::default();
        for item in described {
            match item {
                Ok(entry) => manifest.entries.push(entry),
                Err(problem) => manifest.problems.push(problem),
            }
        }
        Ok(manifest)
    }

    fn contents(&self, path: &str) -> tamis_manifest::Result<Option<Vec<u8>>> {
        let Some((layer, entry)) = self.entries.iter().find(|(_, e)| tamis_core::display_path(&e.path) == path) else {
            return Ok(None);
        };
        let bytes = self.layers[*layer]
            .read_file(entry)
            .map_err(|source| tamis_manifest::Error::Squashfs { path: self.name.clone(), source })?;
        Ok(Some(bytes))
    }
}

/// OLD's tree with `diff` stacked on top, as overlayfs shows it: (layer, entry), layer 0 is
/// OLD, 1 the diff, in the canonical order.
pub fn stack(old: &[ImageEntry], diff: &[ImageEntry]) -> Vec<(usize, ImageEntry)> {
    let mut tree: BTreeMap<PathBuf, (usize, ImageEntry)> =
        old.iter().map(|e| (e.path.clone(), (0, e.clone()))).collect();
    for d in diff {
        let opaque = d.xattrs.iter().any(|(n, v)| n.as_slice() == OPAQUE_XATTR.0 && v.as_slice() == OPAQUE_XATTR.1);
        let merges = d.kind == FileKind::Dir
            && !opaque
            && tree.get(&d.path).is_some_and(|(_, below)| below.kind == FileKind::Dir);
        if !merges {
            let below: Vec<PathBuf> = tree
                .range::<PathBuf, _>((Bound::Excluded(&d.path), Bound::Unbounded))
                .map(|(p, _)| p)
                .take_while(|p| p.starts_with(&d.path))
                .cloned()
                .collect();
            for p in below {
                tree.remove(&p);
            }
        }
        if is_whiteout(d) {
            tree.remove(&d.path);
            continue;
        }
        let mut shown = d.clone();
        shown.xattrs.retain(|(n, _)| !n.starts_with(b"trusted.overlay."));
        tree.insert(d.path.clone(), (1, shown));
    }
    let mut out: Vec<(usize, ImageEntry)> = tree.into_values().collect();
    out.sort_by(|a, b| tamis_core::canonical_cmp(&a.1.path, &b.1.path));
    out
}

/// The NEW release's tree as an input.
struct Whole<'a> {
    release: &'a Release,
}

impl Input for Whole<'_> {
    fn name(&self) -> &Path {
        &self.release.path
    }

    fn manifest(&self) -> tamis_manifest::Result<Manifest> {
        let described: Vec<_> = self
            .release
            .entries
            .par_iter()
            .map(|e| tamis_manifest::squashfs::describe(&self.release.image, e))
            .collect();
        let mut manifest = Manifest::default();
        for item in described {
            match item {
                Ok(entry) => manifest.entries.push(entry),
                Err(problem) => manifest.problems.push(problem),
            }
        }
        Ok(manifest)
    }

    fn contents(&self, path: &str) -> tamis_manifest::Result<Option<Vec<u8>>> {
        let Some(entry) = self.release.entries.iter().find(|e| tamis_core::display_path(&e.path) == path) else {
            return Ok(None);
        };
        let bytes = self
            .release
            .image
            .read_file(entry)
            .map_err(|source| tamis_manifest::Error::Squashfs { path: self.release.path.clone(), source })?;
        Ok(Some(bytes))
    }
}

/// A kit opened: its entries, and its diff squashfs read from it.
pub struct Kit {
    /// The kit file.
    pub path: PathBuf,
    /// The kit's image.
    pub image: Image,
    /// Its entries.
    pub entries: Vec<ImageEntry>,
    /// The diff squashfs (the only `*.squashfs` in the layout's diff directory).
    pub diff: Image,
    /// The diff's path in the kit.
    pub diff_path: PathBuf,
}

impl Kit {
    /// Opens the kit at `path`; the diff squashfs is the one file `*.squashfs` in `diff_dir`.
    pub fn open(path: &Path, diff_dir: &str) -> Result<Self> {
        let squashfs = |source| Error::Squashfs { path: path.to_owned(), source };
        let image = Image::open(path).map_err(squashfs)?;
        let entries = image.entries().map_err(squashfs)?;
        let dir = Path::new(diff_dir);
        let diffs: Vec<&ImageEntry> = entries
            .iter()
            .filter(|e| {
                e.kind == FileKind::File
                    && e.path.parent() == Some(dir)
                    && e.path.extension().is_some_and(|x| x == "squashfs")
            })
            .collect();
        let [diff] = diffs[..] else {
            return Err(Error::Kit {
                path: path.to_owned(),
                reason: format!("{} files *.squashfs in {diff_dir}/ where one was due", diffs.len()),
            });
        };
        let bytes = image.read_file(diff).map_err(squashfs)?;
        let diff_path = diff.path.clone();
        let diff =
            Image::from_bytes(bytes).map_err(|source| Error::Squashfs { path: path.join(&diff_path), source })?;
        Ok(Self { path: path.to_owned(), image, entries, diff, diff_path })
    }

    fn file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(entry) = self.entries.iter().find(|e| e.path == Path::new(path) && e.kind == FileKind::File) else {
            return Ok(None);
        };
        self.image.read_file(entry).map(Some).map_err(|source| Error::Squashfs { path: self.path.join(path), source })
    }
}

/// Applies `kit` to OLD in memory and compares the result with NEW.
pub fn verify(old: &Release, new: &Release, kit: &Kit, layout: &Layout) -> Result<Verification> {
    let diff_entries =
        kit.diff.entries().map_err(|source| Error::Squashfs { path: kit.path.join(&kit.diff_path), source })?;
    let stacked = Layered {
        name: PathBuf::from(format!("{} + {}", old.path.display(), kit.path.display())),
        layers: [&old.image, &kit.diff],
        entries: stack(&old.entries, &diff_entries),
    };
    let comparison = Comparison::of(&stacked, &Whole { release: new }, false)?;

    let mut kit_problems = Vec::new();
    match kit.file("FORMAT")? {
        Some(b) if b == b"2" => {}
        Some(b) => kit_problems.push(format!("FORMAT holds {:?}, not \"2\"", String::from_utf8_lossy(&b))),
        None => kit_problems.push("no FORMAT".into()),
    }
    let expected = control_yml(&delete_files(old, new, layout));
    match kit.file("control.yml")? {
        Some(b) if b == expected.as_bytes() => {}
        Some(_) => kit_problems.push(format!("control.yml differs from the expected:\n{expected}")),
        None => kit_problems.push("no control.yml".into()),
    }
    for n in new.iso_children(&layout.kernel_dir) {
        let name = String::from_utf8_lossy(n.path.rsplit(|&b| b == b'/').next().unwrap_or_default()).into_owned();
        let in_kit = format!("overlay/{}/{name}", layout.kernel_dir.trim_matches('/'));
        let changed = match old.iso_entry(&n.path) {
            Some(o) => o.kind != n.kind || old.iso_read(o)? != new.iso_read(n)?,
            None => true,
        };
        let kernel = name.starts_with("vmlinuz") || name.starts_with("initrd");
        match kit.file(&in_kit)? {
            Some(bytes) if bytes != new.iso_read(n)? => kit_problems.push(format!("{in_kit}: not NEW's bytes")),
            None if changed && kernel && n.kind == FileKind::File => {
                kit_problems.push(format!("{in_kit}: changed in NEW, missing from the kit"));
            }
            _ => {}
        }
    }
    Ok(Verification { comparison, kit_problems })
}
