//! A squashfs image as an input: its entries read by `tamis-squashfs`, files hashed from the
//! image's blocks (in parallel; the manifest does not depend on the thread count).

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest as _, Sha256};
use tamis_core::{FileKind, Problem, Timestamp, display_path};
use tamis_squashfs::{Image, ImageEntry};

use crate::input::Input;
use crate::manifest::{hex, xattr_name};
use crate::{Error, Manifest, ManifestEntry, Result};

/// A squashfs 4.0 image (recognised by its magic `hsqs`).
#[derive(Debug)]
pub struct SquashfsInput {
    path: PathBuf,
    image: Image,
    entries: Vec<ImageEntry>,
}

impl SquashfsInput {
    /// Opens the image at `path` and lists its entries.
    pub fn open(path: &Path) -> Result<Self> {
        let error = |source| Error::Squashfs { path: path.to_owned(), source };
        let image = Image::open(path).map_err(error)?;
        let entries = image.entries().map_err(error)?;
        Ok(Self { path: path.to_owned(), image, entries })
    }

    fn describe(&self, e: &ImageEntry) -> std::result::Result<ManifestEntry, Problem> {
        describe(&self.image, e)
    }
}

/// The manifest entry of `e`, an entry of `image` (its file's bytes hashed from the image): for
/// inputs made of several images, such as an upgrade kit's layers stacked over a release.
pub fn describe(image: &Image, e: &ImageEntry) -> std::result::Result<ManifestEntry, Problem> {
    let sha256 = if e.kind == FileKind::File {
        let mut hasher = Sha256::new();
        image
            .read_file_to(e, &mut hasher)
            .map_err(|err| Problem { path: e.path.clone(), reason: format!("{}: {err}", display_path(&e.path)) })?;
        Some(hex(&hasher.finalize()))
    } else {
        None
    };
    Ok(ManifestEntry {
        path: display_path(&e.path),
        kind: e.kind,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        size: if e.kind == FileKind::Dir { 0 } else { e.size },
        mtime: Timestamp::from_secs(i64::from(e.mtime)),
        target: e.target.as_ref().map(|t| tamis_core::display_bytes(t)),
        rdev: e.rdev,
        xattrs: e.xattrs.iter().map(|(name, value)| (xattr_name(name), hex(value))).collect(),
        sha256,
    })
}

impl Input for SquashfsInput {
    fn name(&self) -> &Path {
        &self.path
    }

    fn manifest(&self) -> Result<Manifest> {
        let described: Vec<_> = self.entries.par_iter().map(|e| self.describe(e)).collect();
        let mut manifest = Manifest::default();
        for item in described {
            match item {
                Ok(entry) => manifest.entries.push(entry),
                Err(problem) => manifest.problems.push(problem),
            }
        }
        Ok(manifest)
    }

    fn contents(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(entry) = self.entries.iter().find(|e| display_path(&e.path) == path) else {
            return Ok(None);
        };
        let bytes =
            self.image.read_file(entry).map_err(|source| Error::Squashfs { path: self.path.clone(), source })?;
        Ok(Some(bytes))
    }
}
