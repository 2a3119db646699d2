//! An initramfs file (or any newc/crc cpio archive) as an input: its members as the kernel
//! unpacks them.
//!
//! Every segment is read (an uncompressed early-microcode archive, then the compressed main
//! one, as `tamis-cpio` splits them); a name that appears again replaces the earlier member, as
//! it does when the kernel unpacks. Hard links share the data of their group (newc stores it
//! with one member of the group; GNU cpio and mkinitramfs put it on the last one), so every
//! name of a group gets the same size and hash. The archive's own entry for the root (`.`) is
//! left out, as a directory's manifest leaves its root out.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tamis_core::{FileKind, Timestamp, display_path};
use tamis_cpio::initramfs;
use tamis_cpio::newc::{self, Member};

use crate::manifest::hex;
use crate::{Cause, Error, Input, Manifest, ManifestEntry, Result};

/// An initramfs or cpio file, read whole and decompressed.
#[derive(Debug)]
pub struct CpioInput {
    path: PathBuf,
    manifest: Manifest,
    /// The decompressed archives of each segment.
    segments: Vec<Vec<u8>>,
    /// Where each regular file's bytes are.
    data: BTreeMap<String, Location>,
}

/// Where a file's bytes are: a segment, and a range in it.
type Location = (usize, Range<usize>);

impl CpioInput {
    /// Whether a file starting with `bytes` may be an initramfs: a cpio archive, or a stream
    /// of a compressor the kernel reads (the whole file is checked by [`CpioInput::read`]).
    pub fn sniff(bytes: &[u8]) -> bool {
        initramfs::Compression::detect(bytes).is_some()
    }

    /// Reads the file at `path`, which must hold at least one cpio archive.
    pub fn read(path: &Path) -> Result<Self> {
        let io = |op, source| Error::Io { path: path.to_owned(), op, source };
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut tamis_core::open_regular_file(path).map_err(|e| io("open", e))?, &mut bytes)
            .map_err(|e| io("read", e))?;
        let invalid = |why: String| Error::Image { path: path.to_owned(), format: "initramfs", why };
        let segments = initramfs::split(&bytes).map_err(|e| invalid(e.to_string()))?;
        if !initramfs::holds_cpio(&segments) {
            let why = "no cpio archive in it".to_owned();
            return Err(Error::NotAnImage { path: path.to_owned(), format: "initramfs", why });
        }
        let segments: Vec<Vec<u8>> = segments.into_iter().map(|s| s.cpio).collect();
        let mut latest: BTreeMap<String, (ManifestEntry, Option<Location>)> = BTreeMap::new();
        for (index, cpio) in segments.iter().enumerate() {
            let mut at = 0;
            while at < cpio.len() {
                if cpio[at] == 0 {
                    at += 1;
                    continue;
                }
                let (members, used) = newc::parse(&cpio[at..]).map_err(|e| invalid(format!("segment {index}: {e}")))?;
                for (name, entry, data) in describe(&members, cpio) {
                    latest.insert(name, (entry, data.map(|range| (index, range))));
                }
                at += used;
            }
        }
        let mut entries = Vec::with_capacity(latest.len());
        let mut data = BTreeMap::new();
        for (name, (entry, where_)) in latest {
            if let Some(where_) = where_ {
                data.insert(name, where_);
            }
            entries.push(entry);
        }
        entries.sort_by(|a, b| tamis_core::canonical_cmp(Path::new(&a.path), Path::new(&b.path)));
        Ok(Self { path: path.to_owned(), manifest: Manifest { entries, problems: Vec::new() }, segments, data })
    }
}

/// The members of one archive as manifest entries, with where a file's bytes are in `segment`
/// (the members borrow their data from it).
fn describe(members: &[Member<'_>], segment: &[u8]) -> Vec<(String, ManifestEntry, Option<Range<usize>>)> {
    // The data of a hard-link group: the member of the group that carries it.
    let mut group_data: BTreeMap<(u32, u32, u32), &[u8]> = BTreeMap::new();
    for member in members {
        let h = &member.header;
        if member.is_file() && h.nlink > 1 && !member.data.is_empty() {
            group_data.insert((h.devmajor, h.devminor, h.ino), member.data);
        }
    }
    let start = segment.as_ptr() as usize;
    let mut out = Vec::with_capacity(members.len());
    for member in members {
        let name = member.name.strip_prefix(b"./").unwrap_or(member.name);
        let name = name.strip_prefix(b"/").unwrap_or(name);
        if name.is_empty() || name == b"." {
            continue;
        }
        let path = display_path(Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name)));
        let h = &member.header;
        let kind = FileKind::from_mode(h.mode);
        let mut data = member.data;
        if kind == FileKind::File && h.nlink > 1 && data.is_empty() {
            data = group_data.get(&(h.devmajor, h.devminor, h.ino)).copied().unwrap_or(data);
        }
        let range = (kind == FileKind::File).then(|| {
            let offset = data.as_ptr() as usize - start;
            offset..offset + data.len()
        });
        let entry = ManifestEntry {
            path: path.clone(),
            kind,
            mode: h.mode & 0o7777,
            uid: h.uid,
            gid: h.gid,
            size: if kind == FileKind::Dir { 0 } else { data.len() as u64 },
            mtime: Timestamp::from_secs(i64::from(h.mtime)),
            target: (kind == FileKind::Symlink).then(|| tamis_core::display_bytes(member.data)),
            rdev: matches!(kind, FileKind::CharDevice | FileKind::BlockDevice)
                .then(|| tamis_core::makedev(h.rdevmajor, h.rdevminor)),
            xattrs: BTreeMap::new(),
            sha256: (kind == FileKind::File).then(|| hex(&Sha256::digest(data))),
        };
        out.push((path, entry, range));
    }
    out
}

impl Input for CpioInput {
    fn name(&self) -> &Path {
        &self.path
    }

    fn manifest(&self) -> Result<Manifest> {
        Ok(self.manifest.clone())
    }

    fn contents(&self, path: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.data.get(path).map(|(segment, range)| self.segments[*segment][range.clone()].to_vec()))
    }

    /// mkinitramfs copies the times of the host's files: the `initramfs` stage clamps them.
    fn mtime_cause(&self) -> Cause {
        Cause::Initramfs
    }
}
