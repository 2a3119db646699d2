//! Reading an image's files: names, metadata and data, from Rock Ridge when the image has it
//! (names, modes, owners, times, links, devices), else from Joliet, else from plain ISO 9660.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use tamis_core::{FileKind, Timestamp};

use crate::date;
use crate::error::{Error, Parse, Result, corrupt};
use crate::iso9660::{self, Record, Volume, both32, kind};
use crate::source::{Source, read};

/// How many entries an image may list (a bound against loops through relocations).
const MAX_ENTRIES: usize = 10_000_000;

/// One file of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoEntry {
    /// Its path, from the root: `/live/vmlinuz` (raw bytes of Rock Ridge names; UTF-8 for
    /// Joliet and plain names).
    pub path: Vec<u8>,
    /// Its type.
    pub kind: FileKind,
    /// Permission, set-id and sticky bits (Rock Ridge `PX`; 0o555 / 0o444 without it).
    pub mode: u32,
    /// Owner (0 without Rock Ridge).
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes (files: the data; links: the target's length; directories: 0).
    pub size: u64,
    /// Modification time (Rock Ridge `TF`, else the record's date).
    pub mtime: Timestamp,
    /// A symbolic link's target.
    pub target: Option<Vec<u8>>,
    /// A device's number (Rock Ridge `PN`), encoded as Linux's `makedev`.
    pub rdev: Option<u64>,
    /// Where the data lies: (absolute byte offset, length) per extent.
    pub extents: Vec<(u64, u64)>,
}

/// Which names and metadata a reader uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Names {
    /// Rock Ridge in the primary tree, with the `SP` skip count.
    RockRidge(usize),
    /// The Joliet tree's UCS-2 names.
    Joliet,
    /// Plain ISO 9660 identifiers, without the `;1` version.
    Plain,
}

/// A reader of one image's files. See the [module documentation](self).
#[derive(Debug)]
pub struct Reader<S: Source> {
    src: S,
    name: PathBuf,
    volume: Volume,
    root: Record,
    names: Names,
}

impl Reader<std::fs::File> {
    /// Opens the image at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let file = tamis_core::open_regular_file(path).map_err(|source| Error::io(path, "open", source))?;
        Self::new(file, path)
    }
}

impl<S: Source> Reader<S> {
    /// A reader of the image in `src`; `name` is for messages.
    pub fn new(src: S, name: &Path) -> Result<Self> {
        Self::parse(&src, name).map(|(volume, root, names)| Self { src, name: name.to_owned(), volume, root, names })
    }

    fn parse(src: &S, name: &Path) -> Result<(Volume, Record, Names)> {
        let at = |f: crate::error::Fault| Error::from(f.at(name));
        if !crate::normalize::has_volume(src, 0) {
            return Err(at(corrupt("not an ISO 9660 image (no CD001 at byte 32769)")));
        }
        let volume = Volume::read(src, 0).map_err(at)?;
        let primary = volume.descriptors.iter().find(|d| d.kind == kind::PRIMARY).expect("Volume::read checks it");
        let root = primary.root().map_err(at)?;
        let dot = iso9660::read_directory(src, &volume, root.extent, root.size).map_err(at)?.swap_remove(0);
        if let Some(skip) = iso9660::susp_skip(&dot) {
            return Ok((volume, root, Names::RockRidge(skip)));
        }
        if let Some(joliet) = volume.descriptors.iter().find(|d| d.is_joliet()) {
            let root = joliet.root().map_err(at)?;
            return Ok((volume, root, Names::Joliet));
        }
        Ok((volume, root, Names::Plain))
    }

    /// Whether names and metadata come from Rock Ridge.
    pub fn has_rock_ridge(&self) -> bool {
        matches!(self.names, Names::RockRidge(_))
    }

    /// Every entry below the root (the root itself first, as `/`), depth first in record order.
    pub fn entries(&self) -> Result<Vec<IsoEntry>> {
        self.list().map_err(|f| f.at(&self.name).into())
    }

    fn list(&self) -> Parse<Vec<IsoEntry>> {
        let src: &dyn Source = &self.src;
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut root = self.describe(&self.root, true)?.unwrap_or_else(unreachable_root);
        root.path = b"/".to_vec();
        root.kind = FileKind::Dir;
        // The root's own metadata is in its "." record.
        let dot = iso9660::read_directory(src, &self.volume, self.root.extent, self.root.size)?.swap_remove(0);
        if let Some(mut described) = self.describe(&dot, true)? {
            described.path = b"/".to_vec();
            described.kind = FileKind::Dir;
            described.extents.clear();
            root = described;
        }
        out.push(root);
        let mut stack = vec![(Vec::new(), self.root.extent, self.root.size)];
        while let Some((dir, extent, size)) = stack.pop() {
            if !seen.insert(extent) {
                return Err(corrupt(format!("directory at block {extent} is reached twice")));
            }
            let records = iso9660::read_directory(src, &self.volume, extent, size)?;
            let mut children = Vec::new();
            let mut i = 2;
            while i < records.len() {
                // A file of several extents has one record per extent, all but the last flagged.
                let first = i;
                while records[i].is_multi_extent() && i + 1 < records.len() {
                    i += 1;
                }
                let group = &records[first..=i];
                i += 1;
                let Some(mut entry) = self.describe(&group[0], false)? else { continue };
                if entry.kind == FileKind::File {
                    entry.extents = group.iter().map(|r| (self.volume.at(r.extent), u64::from(r.size))).collect();
                    entry.size = entry.extents.iter().map(|e| e.1).sum();
                }
                let mut path = dir.clone();
                path.push(b'/');
                path.extend_from_slice(&entry.path);
                entry.path = path;
                let descend = (entry.kind == FileKind::Dir).then(|| entry.extents.first().copied()).flatten();
                if entry.kind == FileKind::Dir {
                    entry.extents.clear();
                }
                if let Some((offset, len)) = descend {
                    let block = ((offset - self.volume.base) / iso9660::BLOCK) as u32;
                    children.push((entry.path.clone(), block, len as u32));
                }
                out.push(entry);
                if out.len() > MAX_ENTRIES {
                    return Err(corrupt("too many entries"));
                }
            }
            stack.extend(children.into_iter().rev());
        }
        Ok(out)
    }

    /// An entry from its record (its path: the name alone); `None` for a record that Rock Ridge
    /// says to hide (a relocated directory's original place).
    fn describe(&self, r: &Record, is_root_dot: bool) -> Parse<Option<IsoEntry>> {
        let is_dir = r.is_dir();
        let mut entry = IsoEntry {
            path: self.plain_name(&r.name),
            kind: if is_dir { FileKind::Dir } else { FileKind::File },
            mode: if is_dir { 0o555 } else { 0o444 },
            uid: 0,
            gid: 0,
            size: if is_dir { 0 } else { r.size.into() },
            mtime: Timestamp::from_secs(date::decode7(r.date).unwrap_or(0)),
            target: None,
            rdev: None,
            extents: vec![(self.volume.at(r.extent), r.size.into())],
        };
        let Names::RockRidge(skip) = self.names else { return Ok(Some(entry)) };
        let mut name: Option<Vec<u8>> = None;
        let mut link: Option<Vec<u8>> = None;
        let mut link_continues = false;
        for e in iso9660::su_entries(&self.src, &self.volume, r, if is_root_dot { 0 } else { skip })? {
            let b = &e.bytes;
            match &e.signature {
                b"PX" if b.len() >= 36 => {
                    let mode = both32(b, 4).unwrap_or(0);
                    entry.kind = FileKind::from_mode(mode);
                    entry.mode = mode & 0o7777;
                    entry.uid = both32(b, 20).unwrap_or(0);
                    entry.gid = both32(b, 28).unwrap_or(0);
                }
                b"NM" if b.len() >= 5 && b[4] & 0x06 == 0 => {
                    name.get_or_insert_with(Vec::new).extend_from_slice(&b[5..]);
                }
                b"SL" if b.len() >= 5 => {
                    let target = link.get_or_insert_with(Vec::new);
                    let mut pos = 5;
                    while pos + 2 <= b.len() {
                        let (flags, len) = (b[pos], usize::from(b[pos + 1]));
                        let Some(content) = b.get(pos + 2..pos + 2 + len) else {
                            return Err(corrupt(format!("SL entry at offset {}: component overruns it", e.offset)));
                        };
                        if !target.is_empty() && !link_continues && target != b"/" {
                            target.push(b'/');
                        }
                        match flags & 0x0E {
                            0x02 => target.push(b'.'),
                            0x04 => target.extend_from_slice(b".."),
                            0x08 => target.push(b'/'),
                            _ => target.extend_from_slice(content),
                        }
                        link_continues = flags & 1 != 0;
                        pos += 2 + len;
                    }
                }
                b"PN" if b.len() >= 20 => {
                    let (high, low) = (both32(b, 4).unwrap_or(0), both32(b, 12).unwrap_or(0));
                    entry.rdev = Some(if high == 0 { u64::from(low) } else { makedev(high.into(), low.into()) });
                }
                b"TF" if b.len() >= 5 => {
                    let flags = b[4];
                    let width = if flags & 0x80 != 0 { 17 } else { 7 };
                    let at = 5 + if flags & 1 != 0 { width } else { 0 };
                    if flags & 2 != 0 && b.len() >= at + width {
                        let t = if width == 7 {
                            date::decode7(b[at..at + 7].try_into().expect("7 bytes")).map(Timestamp::from_secs)
                        } else {
                            date::decode17(b[at..at + 17].try_into().expect("17 bytes"))
                                .map(|(s, cs)| Timestamp { secs: s, nanos: u32::from(cs) * 10_000_000 })
                        };
                        entry.mtime = t.unwrap_or(entry.mtime);
                    }
                }
                b"CL" if b.len() >= 12 => {
                    // A relocated directory: this placeholder stands for the directory at CL.
                    let block = both32(b, 4).ok_or_else(|| corrupt(format!("CL entry at offset {}", e.offset)))?;
                    let head = read(&self.src, self.volume.at(block), 256, "relocated directory")?;
                    let size = both32(&head, 10).unwrap_or(0);
                    entry.kind = FileKind::Dir;
                    entry.extents = vec![(self.volume.at(block), size.into())];
                }
                b"RE" => return Ok(None),
                _ => {}
            }
        }
        if let Some(name) = name {
            entry.path = name;
        }
        if entry.kind == FileKind::Symlink {
            entry.size = link.as_ref().map_or(0, |l| l.len() as u64);
            entry.target = link;
            entry.extents.clear();
        } else if entry.kind == FileKind::Dir {
            entry.size = 0;
        } else if entry.kind != FileKind::File {
            entry.size = 0;
            entry.extents.clear();
        }
        Ok(Some(entry))
    }

    fn plain_name(&self, raw: &[u8]) -> Vec<u8> {
        if self.names == Names::Joliet {
            let units: Vec<u16> = raw.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            let name = String::from_utf16_lossy(&units);
            return name.strip_suffix(";1").unwrap_or(&name).as_bytes().to_vec();
        }
        let name = raw.strip_suffix(b";1").unwrap_or(raw);
        name.strip_suffix(b".").unwrap_or(name).to_vec()
    }

    /// Copies a file's data to `out`.
    pub fn copy_to(&self, entry: &IsoEntry, out: &mut dyn Write) -> Result<()> {
        const CHUNK: u64 = 1 << 20;
        for &(offset, len) in &entry.extents {
            let mut done = 0;
            while done < len {
                let n = CHUNK.min(len - done);
                let bytes = read(&self.src, offset + done, n, "file data").map_err(|f| f.at(&self.name))?;
                out.write_all(&bytes).map_err(|source| Error::io(&self.name, "copy", source))?;
                done += n;
            }
        }
        Ok(())
    }

    /// A file's data.
    pub fn read(&self, entry: &IsoEntry) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.copy_to(entry, &mut out)?;
        Ok(out)
    }
}

fn unreachable_root() -> IsoEntry {
    IsoEntry {
        path: b"/".to_vec(),
        kind: FileKind::Dir,
        mode: 0o555,
        uid: 0,
        gid: 0,
        size: 0,
        mtime: Timestamp::from_secs(0),
        target: None,
        rdev: None,
        extents: Vec::new(),
    }
}

/// Linux's `makedev`.
fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff)
}
