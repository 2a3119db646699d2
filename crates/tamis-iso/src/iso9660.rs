//! ISO 9660 structures: volume descriptors, directory records, the System Use Sharing Protocol
//! (SUSP) areas that carry Rock Ridge, and the walk of a directory hierarchy.
//!
//! Every structure keeps the absolute byte offset it was read from, so that the normalizer can
//! patch a field where it lies. Addresses in a volume are 2048-byte blocks counted from the
//! volume's start (`base`): 0 for the image, or a partition's start when xorriso wrote a second
//! superblock and tree for `-partition_offset`.

use std::collections::BTreeSet;

use crate::error::{Parse, corrupt};
use crate::source::{Source, le32, read};

/// The ISO 9660 logical block size (the only one in practice).
pub(crate) const BLOCK: u64 = 2048;
/// Where the volume descriptors start: block 16.
pub(crate) const DESCRIPTORS: u64 = 16 * BLOCK;
/// How many descriptors are read before giving up on a terminator.
const MAX_DESCRIPTORS: u64 = 64;
/// How many directories a hierarchy may have before it is called a loop.
const MAX_DIRECTORIES: usize = 1 << 20;
/// How many continuation areas one record may chain.
const MAX_CONTINUATIONS: usize = 64;

/// Volume descriptor types.
pub(crate) mod kind {
    /// A boot record (El Torito).
    pub(crate) const BOOT: u8 = 0;
    /// The primary volume descriptor.
    pub(crate) const PRIMARY: u8 = 1;
    /// A supplementary (Joliet) or, with version 2, enhanced volume descriptor.
    pub(crate) const SUPPLEMENTARY: u8 = 2;
    /// The set terminator.
    pub(crate) const TERMINATOR: u8 = 255;
}

/// One volume descriptor.
#[derive(Debug, Clone)]
pub(crate) struct Descriptor {
    /// Its type (see [`kind`]).
    pub kind: u8,
    /// Its version byte (2 for an ISO 9660:1999 enhanced descriptor).
    pub version: u8,
    /// Absolute byte offset of the descriptor.
    pub offset: u64,
    /// The 2048 bytes.
    pub bytes: Vec<u8>,
}

impl Descriptor {
    /// Whether this is a Joliet descriptor (escape sequence `%/@`, `%/C` or `%/E`).
    pub(crate) fn is_joliet(&self) -> bool {
        self.kind == kind::SUPPLEMENTARY && matches!(&self.bytes[88..91], b"%/@" | b"%/C" | b"%/E")
    }

    /// The root directory record held at offset 156 (primary and supplementary descriptors).
    pub(crate) fn root(&self) -> Parse<Record> {
        Record::parse(&self.bytes[156..190], self.offset + 156)
            .ok_or_else(|| corrupt(format!("volume descriptor at {}: bad root directory record", self.offset)))
    }

    /// A name for messages: "primary volume descriptor".
    pub(crate) fn name(&self) -> &'static str {
        match (self.kind, self.version) {
            (kind::PRIMARY, _) => "primary volume descriptor",
            (kind::SUPPLEMENTARY, 2) => "enhanced volume descriptor",
            (kind::SUPPLEMENTARY, _) if self.is_joliet() => "Joliet volume descriptor",
            (kind::SUPPLEMENTARY, _) => "supplementary volume descriptor",
            (kind::BOOT, _) => "boot record",
            _ => "volume descriptor",
        }
    }
}

/// The volume descriptor set of one ISO 9660 volume.
#[derive(Debug, Clone)]
pub(crate) struct Volume {
    /// Absolute byte offset of the volume's block 0.
    pub base: u64,
    /// Descriptors in order, the terminator excluded.
    pub descriptors: Vec<Descriptor>,
}

impl Volume {
    /// Reads the descriptor set of the volume starting at `base`.
    pub(crate) fn read(src: &dyn Source, base: u64) -> Parse<Self> {
        let mut descriptors = Vec::new();
        for i in 0..MAX_DESCRIPTORS {
            let offset = base + DESCRIPTORS + i * BLOCK;
            let bytes = read(src, offset, BLOCK, "volume descriptor")?;
            if &bytes[1..6] != b"CD001" {
                return Err(corrupt(format!("no CD001 volume descriptor at offset {offset}")));
            }
            if bytes[0] == kind::TERMINATOR {
                let Some(primary) = descriptors.iter().find(|d: &&Descriptor| d.kind == kind::PRIMARY) else {
                    return Err(corrupt(format!("volume at offset {base} has no primary volume descriptor")));
                };
                if both32(&primary.bytes, 80).is_none() {
                    return Err(corrupt("primary volume descriptor: volume size fields disagree"));
                }
                let block_size = u16::from_le_bytes([primary.bytes[128], primary.bytes[129]]);
                if u64::from(block_size) != BLOCK {
                    return Err(corrupt(format!("primary volume descriptor: block size {block_size}, not 2048")));
                }
                return Ok(Self { base, descriptors });
            }
            descriptors.push(Descriptor { kind: bytes[0], version: bytes[6], offset, bytes });
        }
        Err(corrupt(format!("volume at offset {base}: no descriptor set terminator in {MAX_DESCRIPTORS} blocks")))
    }

    /// Absolute byte offset of block `lba` of this volume.
    pub(crate) fn at(&self, lba: u32) -> u64 {
        self.base + u64::from(lba) * BLOCK
    }

    /// The El Torito boot catalog's block, when the volume has an El Torito boot record.
    pub(crate) fn boot_catalog(&self) -> Option<u32> {
        self.descriptors
            .iter()
            .find(|d| d.kind == kind::BOOT && d.bytes[7..30] == *b"EL TORITO SPECIFICATION")
            .map(|d| le32(&d.bytes, 71))
    }
}

/// A both-endian 32-bit field (little-endian then big-endian copy); `None` when they differ.
pub(crate) fn both32(b: &[u8], at: usize) -> Option<u32> {
    let le = le32(b, at);
    let be = u32::from_be_bytes([b[at + 4], b[at + 5], b[at + 6], b[at + 7]]);
    (le == be).then_some(le)
}

/// One directory record.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// Absolute byte offset of the record.
    pub offset: u64,
    /// The record's first block (relative to the volume).
    pub extent: u32,
    /// The data length in bytes.
    pub size: u32,
    /// The 7-byte recording date.
    pub date: [u8; 7],
    /// File flags (bit 1 directory, bit 7 multi-extent).
    pub flags: u8,
    /// The identifier as stored (`\0` for ".", `\x01` for "..").
    pub name: Vec<u8>,
    /// The System Use area.
    pub system_use: Vec<u8>,
    /// Absolute byte offset of the System Use area.
    pub system_use_offset: u64,
}

impl Record {
    /// Parses the record at the start of `b`, `offset` being where `b` starts in the image;
    /// `None` when it is not a valid record.
    fn parse(b: &[u8], offset: u64) -> Option<Self> {
        let len = usize::from(*b.first()?);
        if len < 34 || len > b.len() {
            return None;
        }
        let b = &b[..len];
        let name_len = usize::from(b[32]);
        if 33 + name_len > len || name_len == 0 {
            return None;
        }
        let su_start = 33 + name_len + usize::from(name_len % 2 == 0);
        let mut date = [0u8; 7];
        date.copy_from_slice(&b[18..25]);
        Some(Self {
            offset,
            extent: both32(b, 2).unwrap_or_else(|| le32(b, 2)),
            size: both32(b, 10).unwrap_or_else(|| le32(b, 10)),
            date,
            flags: b[25],
            name: b[33..33 + name_len].to_vec(),
            system_use: b.get(su_start..).unwrap_or_default().to_vec(),
            system_use_offset: offset + su_start.min(len) as u64,
        })
    }

    /// Whether it is a directory.
    pub(crate) fn is_dir(&self) -> bool {
        self.flags & 2 != 0
    }

    /// Whether more extents of the same file follow in the next record.
    pub(crate) fn is_multi_extent(&self) -> bool {
        self.flags & 0x80 != 0
    }

    /// Absolute byte offset of the recording date.
    pub(crate) fn date_offset(&self) -> u64 {
        self.offset + 18
    }
}

/// Reads every record of the directory at `extent`, `size` bytes long.
pub(crate) fn read_directory(src: &dyn Source, volume: &Volume, extent: u32, size: u32) -> Parse<Vec<Record>> {
    let start = volume.at(extent);
    let bytes = read(src, start, u64::from(size), "directory")?;
    let mut records = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let len = usize::from(bytes[pos]);
        if len == 0 {
            // Records never cross a block: the rest of this block is padding.
            pos = (pos / BLOCK as usize + 1) * BLOCK as usize;
            continue;
        }
        let block_end = ((pos / BLOCK as usize + 1) * BLOCK as usize).min(bytes.len());
        let record = Record::parse(&bytes[pos..block_end], start + pos as u64).ok_or_else(|| {
            corrupt(format!("directory at block {extent}: bad record at offset {}", start + pos as u64))
        })?;
        records.push(record);
        pos += len;
    }
    if records.len() < 2 || records[0].name != [0] || records[1].name != [1] {
        return Err(corrupt(format!("directory at block {extent}: does not start with its \".\" and \"..\" records")));
    }
    Ok(records)
}

/// One System Use entry, with where it lies.
#[derive(Debug, Clone)]
pub(crate) struct SuEntry {
    /// The two-letter signature (`PX`, `TF`, `NM`, `SL`, `CE`…).
    pub signature: [u8; 2],
    /// Absolute byte offset of the entry.
    pub offset: u64,
    /// The whole entry, header included.
    pub bytes: Vec<u8>,
}

/// Whether the volume's root directory starts a SUSP area (`SP` entry), and its skip count.
pub(crate) fn susp_skip(root_dot: &Record) -> Option<usize> {
    let su = &root_dot.system_use;
    (su.len() >= 7 && &su[..2] == b"SP" && su[2] >= 7 && su[4] == 0xBE && su[5] == 0xEF).then(|| usize::from(su[6]))
}

/// Every System Use entry of `record`, following continuation areas (`CE`). `skip` is the
/// `SP` entry's skip count, applied to every record but the root's ".".
pub(crate) fn su_entries(src: &dyn Source, volume: &Volume, record: &Record, skip: usize) -> Parse<Vec<SuEntry>> {
    let mut entries = Vec::new();
    let start = skip.min(record.system_use.len());
    let mut area = record.system_use[start..].to_vec();
    let mut area_offset = record.system_use_offset + start as u64;
    let mut seen = BTreeSet::new();
    for _ in 0..=MAX_CONTINUATIONS {
        let mut next = None;
        let mut pos = 0usize;
        while pos + 4 <= area.len() {
            let len = usize::from(area[pos + 2]);
            if area[pos] == 0 {
                break; // padding
            }
            if len < 4 || pos + len > area.len() {
                return Err(corrupt(format!(
                    "System Use entry at offset {}: bad length {len}",
                    area_offset + pos as u64
                )));
            }
            let bytes = area[pos..pos + len].to_vec();
            let signature = [bytes[0], bytes[1]];
            if &signature == b"ST" {
                break;
            }
            if &signature == b"CE" && len >= 28 {
                let block = both32(&bytes, 4);
                let offset = both32(&bytes, 12);
                let length = both32(&bytes, 20);
                match (block, offset, length) {
                    (Some(b), Some(o), Some(l)) => next = Some((b, o, l)),
                    _ => {
                        return Err(corrupt(format!(
                            "CE entry at offset {}: fields disagree",
                            area_offset + pos as u64
                        )));
                    }
                }
            }
            entries.push(SuEntry { signature, offset: area_offset + pos as u64, bytes });
            pos += len;
        }
        let Some((block, offset, length)) = next else {
            return Ok(entries);
        };
        let at = volume.at(block) + u64::from(offset);
        if !seen.insert(at) || u64::from(length) > BLOCK * 16 {
            return Err(corrupt(format!("continuation area at offset {at}: loops or is too long")));
        }
        area = read(src, at, length.into(), "SUSP continuation area")?;
        area_offset = at;
    }
    Err(corrupt(format!("record at offset {}: too many continuation areas", record.offset)))
}

/// A directory met in a walk, with its path.
#[derive(Debug, Clone)]
pub(crate) struct Visit {
    /// The directory's path: its raw ISO identifiers from the root (empty for the root).
    pub path: Vec<Vec<u8>>,
    /// Its records, "." and ".." first.
    pub records: Vec<Record>,
}

/// Walks the hierarchy below `root`, depth first in record order, calling `visit` on each
/// directory. Refuses loops and too many directories.
pub(crate) fn walk(
    src: &dyn Source,
    volume: &Volume,
    root: &Record,
    mut visit: impl FnMut(&Visit) -> Parse<()>,
) -> Parse<()> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![(Vec::new(), root.extent, root.size)];
    while let Some((path, extent, size)) = stack.pop() {
        if !seen.insert(extent) {
            continue; // a directory reached twice (a Rock Ridge relocation): once is enough
        }
        if seen.len() > MAX_DIRECTORIES {
            return Err(corrupt("too many directories"));
        }
        let records = read_directory(src, volume, extent, size)?;
        let visit_now = Visit { path, records };
        visit(&visit_now)?;
        for r in visit_now.records.iter().skip(2).rev() {
            if r.is_dir() {
                let mut child = visit_now.path.clone();
                child.push(r.name.clone());
                stack.push((child, r.extent, r.size));
            }
        }
    }
    Ok(())
}
