//! A release image: a hybrid ISO holding the root filesystem's squashfs (read in place, from its
//! extent of the ISO) and the boot files, or a bare squashfs image.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use tamis_core::FileKind;
use tamis_iso::{IsoEntry, Reader};
use tamis_squashfs::{Image, ImageEntry};

use crate::{Error, Result};

/// One release, OLD or NEW.
#[derive(Debug)]
pub struct Release {
    /// The file as the user named it.
    pub path: PathBuf,
    /// The root filesystem.
    pub image: Image,
    /// Its entries, the root first, in the canonical order.
    pub entries: Vec<ImageEntry>,
    /// The ISO around it, with its entries (`None` for a bare squashfs image).
    pub iso: Option<(Reader<std::fs::File>, Vec<IsoEntry>)>,
}

impl Release {
    /// Opens the release at `path`: an ISO 9660 image (its squashfs at `squashfs_in_iso`, e.g.
    /// `live/filesystem.squashfs`) or a squashfs image, recognised by their first bytes.
    pub fn open(path: &Path, squashfs_in_iso: &str) -> Result<Self> {
        let io = |op, source| Error::Io { path: path.to_owned(), op, source };
        let mut file = tamis_core::open_regular_file(path).map_err(|e| io("open", e))?;
        let mut head = vec![0u8; 32774];
        let mut len = 0;
        while len < head.len() {
            match file.read(&mut head[len..]).map_err(|e| io("read", e))? {
                0 => break,
                n => len += n,
            }
        }
        let squashfs = |source| Error::Squashfs { path: path.to_owned(), source };
        if head[..len].starts_with(b"hsqs") {
            let image = Image::open(path).map_err(squashfs)?;
            let entries = image.entries().map_err(squashfs)?;
            return Ok(Self { path: path.to_owned(), image, entries, iso: None });
        }
        if head.get(32769..32774) != Some(b"CD001".as_slice()) || len < 32774 {
            return Err(Error::NotARelease { path: path.to_owned() });
        }
        let reader =
            Reader::open(path).map_err(|source| Error::Iso { path: path.to_owned(), source: Box::new(source) })?;
        let iso_entries =
            reader.entries().map_err(|source| Error::Iso { path: path.to_owned(), source: Box::new(source) })?;
        let wanted = format!("/{}", squashfs_in_iso.trim_start_matches('/'));
        let member = iso_entries
            .iter()
            .find(|e| e.path == wanted.as_bytes() && e.kind == FileKind::File)
            .ok_or_else(|| Error::MissingInIso { path: path.to_owned(), member: wanted.clone() })?;
        let (offset, size) = contiguous(member).ok_or_else(|| Error::Iso {
            path: path.to_owned(),
            source: Box::new(tamis_iso::Error::corrupt(path, format!("{wanted} is not stored in one run of blocks"))),
        })?;
        let image = Image::open_region(path, offset, size)
            .map_err(|source| Error::Squashfs { path: path.join(squashfs_in_iso.trim_start_matches('/')), source })?;
        let entries = image
            .entries()
            .map_err(|source| Error::Squashfs { path: path.join(squashfs_in_iso.trim_start_matches('/')), source })?;
        Ok(Self { path: path.to_owned(), image, entries, iso: Some((reader, iso_entries)) })
    }

    /// When the root filesystem was made (the squashfs superblock's `mkfs_time`).
    pub fn made(&self) -> u32 {
        self.image.superblock().mkfs_time
    }

    /// The ISO's entry at `path` (`/live/vmlinuz`), if this release is an ISO and has it.
    pub fn iso_entry(&self, path: &[u8]) -> Option<&IsoEntry> {
        self.iso.as_ref().and_then(|(_, entries)| entries.iter().find(|e| e.path == path))
    }

    /// The bytes of an ISO file.
    pub fn iso_read(&self, entry: &IsoEntry) -> Result<Vec<u8>> {
        let (reader, _) = self.iso.as_ref().ok_or_else(|| Error::NotARelease { path: self.path.clone() })?;
        reader.read(entry).map_err(|source| Error::Iso { path: self.path.clone(), source: Box::new(source) })
    }

    /// The names directly inside the ISO directory `dir` (`live`), sorted; empty when absent.
    pub fn iso_children(&self, dir: &str) -> Vec<&IsoEntry> {
        let Some((_, entries)) = &self.iso else { return Vec::new() };
        let prefix = format!("/{}/", dir.trim_matches('/'));
        let mut out: Vec<&IsoEntry> = entries
            .iter()
            .filter(|e| {
                e.path.strip_prefix(prefix.as_bytes()).is_some_and(|rest| !rest.is_empty() && !rest.contains(&b'/'))
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }
}

/// (offset, length) of a file whose extents follow one another.
fn contiguous(entry: &IsoEntry) -> Option<(u64, u64)> {
    let (&(first, _), rest) = entry.extents.split_first()?;
    let mut end = first;
    for &(offset, len) in std::iter::once(&entry.extents[0]).chain(rest) {
        if offset != end {
            return None;
        }
        end = offset.checked_add(len)?;
    }
    Some((first, end - first))
}
