//! A disk image as an input (a USB image, a raw GPT/MBR image, or a bare FAT file system such
//! as an ISO's EFI image): the entries of each FAT file system as a tree under `/pN` (the
//! partition's number; `/p0` for a bare file system), read by `tamis-disk`. FAT keeps no
//! owners nor modes: directories are 0755, files 0644 (0444 when read-only), owned by 0:0.

use std::path::{Path, PathBuf};

use tamis_core::{FileKind, Timestamp};
use tamis_disk::fat::DirEntry;
use tamis_disk::{Fat, Gpt, Mbr, Source as _};

use crate::explain::Cause;
use crate::input::Input;
use crate::manifest::hex;
use crate::{Error, Manifest, ManifestEntry, Result};

/// Whether `first_bytes` (at least the first 1024 bytes of a file) are those of a disk image
/// or a bare FAT file system: the 0x55AA boot signature, and a GPT header, an MBR partition
/// entry, or a FAT boot sector.
pub fn sniff(first_bytes: &[u8]) -> bool {
    let Some(sector) = first_bytes.get(..1024) else { return false };
    if sector[510..512] != [0x55, 0xAA] {
        return false;
    }
    if &sector[512..520] == b"EFI PART" || matches!(Fat::open(&sector, 0), Ok(Some(_)) | Err(_)) {
        return true;
    }
    matches!(Mbr::read(&sector), Ok(Some(mbr)) if !mbr.partitions.is_empty())
}

/// A disk image.
#[derive(Debug)]
pub struct DiskInput {
    path: PathBuf,
    file: std::fs::File,
    /// (partition number, file system).
    file_systems: Vec<(usize, Fat)>,
}

impl DiskInput {
    /// Opens the image at `path` and finds its FAT file systems.
    pub fn open(path: &Path) -> Result<Self> {
        let bad = |f: tamis_disk::Fault| Error::Image { path: path.to_owned(), format: "disk", why: f.to_string() };
        let file = tamis_core::open_regular_file(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            op: "open",
            source,
        })?;
        let mut file_systems = Vec::new();
        let starts: Vec<(usize, u64)> = if let Some(gpt) = Gpt::read(&file).map_err(bad)? {
            gpt.check_partitions(&file).map_err(bad)?;
            gpt.partitions().iter().map(|p| (p.index + 1, p.start())).collect()
        } else if let Some(fat) = Fat::open(&file, 0).map_err(bad)? {
            file_systems.push((0, fat));
            Vec::new()
        } else if let Some(mbr) = Mbr::read(&file).map_err(bad)? {
            mbr.partitions.iter().filter(|p| !p.is_extended()).map(|p| (p.index + 1, p.start * 512)).collect()
        } else {
            Vec::new()
        };
        for (number, start) in starts {
            if start < file.len()
                && let Some(fat) = Fat::open(&file, start).map_err(bad)?
            {
                file_systems.push((number, fat));
            }
        }
        Ok(Self { path: path.to_owned(), file, file_systems })
    }

    fn entries(&self) -> Result<Vec<(usize, &Fat, DirEntry)>> {
        let mut out = Vec::new();
        for (number, fat) in &self.file_systems {
            let entries = fat.entries(&self.file).map_err(|f| Error::Image {
                path: self.path.clone(),
                format: "disk",
                why: f.to_string(),
            })?;
            out.extend(entries.into_iter().filter(DirEntry::is_live).map(|e| (*number, fat, e)));
        }
        Ok(out)
    }

    fn data(&self, fat: &Fat, e: &DirEntry) -> Result<Vec<u8>> {
        fat.file_data(&self.file, e).map_err(|f| Error::Image {
            path: self.path.clone(),
            format: "disk",
            why: f.to_string(),
        })
    }
}

/// The manifest path of an entry: `/p1/live/vmlinuz`.
fn entry_path(number: usize, e: &DirEntry) -> String {
    format!("/p{number}{}", e.long_path)
}

impl Input for DiskInput {
    fn name(&self) -> &Path {
        &self.path
    }

    fn manifest(&self) -> Result<Manifest> {
        let mut manifest = Manifest::default();
        for (number, _) in &self.file_systems {
            manifest.entries.push(ManifestEntry {
                path: format!("/p{number}"),
                kind: FileKind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                size: 0,
                mtime: Timestamp::from_secs(0),
                target: None,
                rdev: None,
                xattrs: std::collections::BTreeMap::new(),
                sha256: None,
            });
        }
        for (number, fat, e) in self.entries()? {
            let (kind, mode, sha256) = if e.is_dir() {
                (FileKind::Dir, 0o755, None)
            } else {
                use sha2::Digest as _;
                let read_only = e.attributes() & 0x01 != 0;
                let digest = sha2::Sha256::digest(self.data(fat, &e)?);
                (FileKind::File, if read_only { 0o444 } else { 0o644 }, Some(hex(&digest)))
            };
            manifest.entries.push(ManifestEntry {
                path: entry_path(number, &e),
                kind,
                mode,
                uid: 0,
                gid: 0,
                size: if e.is_dir() { 0 } else { e.size().into() },
                mtime: Timestamp::from_secs(e.modified().unwrap_or(0)),
                target: None,
                rdev: None,
                xattrs: std::collections::BTreeMap::new(),
                sha256,
            });
        }
        manifest.entries.sort_by(|a, b| tamis_core::canonical_cmp(Path::new(&a.path), Path::new(&b.path)));
        Ok(manifest)
    }

    fn contents(&self, path: &str) -> Result<Option<Vec<u8>>> {
        for (number, fat, e) in self.entries()? {
            if !e.is_dir() && entry_path(number, &e) == path {
                return self.data(fat, &e).map(Some);
            }
        }
        Ok(None)
    }

    /// FAT directory entries are stamped with the time of the copy (`mcopy`, the kernel):
    /// `tamis disk normalize` clamps them.
    fn mtime_cause(&self) -> Cause {
        Cause::DiskImage
    }
}
