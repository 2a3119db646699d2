//! An ISO 9660 image as an input: its files as the reader of `tamis-iso` lists them (Rock Ridge
//! names, modes, owners, times and links when the image has them), hashed from the image.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tamis_core::{FileKind, display_path};
use tamis_iso::{IsoEntry, Reader};

use crate::input::Input;
use crate::manifest::hex;
use crate::{Manifest, ManifestEntry, Result};

/// Whether `first_bytes` (at least 32774 bytes of a file's start) are those of an ISO image.
pub fn sniff(first_bytes: &[u8]) -> bool {
    first_bytes.get(32769..32774) == Some(b"CD001".as_slice())
}

/// An ISO 9660 image.
#[derive(Debug)]
pub struct IsoInput {
    path: PathBuf,
    reader: Reader<std::fs::File>,
}

impl IsoInput {
    /// Opens the image at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self { path: path.to_owned(), reader: Reader::open(path)? })
    }

    fn describe(&self, e: &IsoEntry) -> Result<ManifestEntry> {
        let sha256 = if e.kind == FileKind::File {
            let mut hasher = HashWriter(Sha256::new());
            self.reader.copy_to(e, &mut hasher)?;
            Some(hex(&hasher.0.finalize()))
        } else {
            None
        };
        Ok(ManifestEntry {
            path: display_path(Path::new(OsStr::from_bytes(&e.path))),
            kind: e.kind,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            size: e.size,
            mtime: e.mtime,
            target: e.target.as_ref().map(|t| tamis_core::display_bytes(t)),
            rdev: e.rdev,
            xattrs: std::collections::BTreeMap::new(),
            sha256,
        })
    }
}

struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Input for IsoInput {
    fn name(&self) -> &Path {
        &self.path
    }

    fn manifest(&self) -> Result<Manifest> {
        let entries = self.reader.entries()?;
        let described: Vec<Result<ManifestEntry>> = entries.par_iter().map(|e| self.describe(e)).collect();
        let mut manifest = Manifest::default();
        for entry in described {
            manifest.entries.push(entry?);
        }
        manifest.entries.sort_by(|a, b| tamis_core::canonical_cmp(Path::new(&a.path), Path::new(&b.path)));
        Ok(manifest)
    }

    fn contents(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let entries = self.reader.entries()?;
        let Some(entry) = entries
            .iter()
            .find(|e| e.kind == FileKind::File && display_path(Path::new(OsStr::from_bytes(&e.path))) == path)
        else {
            return Ok(None);
        };
        Ok(Some(self.reader.read(entry)?))
    }
}
