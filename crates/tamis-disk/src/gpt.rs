//! The GUID Partition Table: both headers and both entry arrays read and validated (signature,
//! header and array CRCs, where each copy says the other lies, partitions inside the usable
//! area), and rewritten with new GUIDs and recomputed CRCs. Partitioning tools (`sgdisk`,
//! `parted`, udisks, `xorriso`) draw the disk GUID and every partition's unique GUID at random.

use crate::error::{Parse, corrupt};
use crate::mbr::SECTOR;
use crate::source::{Source, inside, le32, le64, read};

/// The type GUID of an EFI System Partition, as stored (mixed-endian).
pub const ESP_TYPE: [u8; 16] =
    [0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b];
/// The type GUID of an HFS+ partition, as stored.
pub const HFS_TYPE: [u8; 16] =
    [0x00, 0x53, 0x46, 0x48, 0x00, 0x00, 0xaa, 0x11, 0xaa, 0x11, 0x00, 0x30, 0x65, 0x43, 0xec, 0xac];

/// One GPT header and its entry array.
#[derive(Debug, Clone)]
pub struct Header {
    /// Absolute byte offset of the header.
    pub offset: u64,
    /// The header's bytes (its declared size).
    pub bytes: Vec<u8>,
    /// Absolute byte offset of the entry array.
    pub array_offset: u64,
    /// The entry array's bytes.
    pub array: Vec<u8>,
    /// The size of one entry.
    pub entry_size: usize,
}

/// A GPT partition entry in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Its index in the array (partition number − 1).
    pub index: usize,
    /// Its type GUID as stored.
    pub type_guid: [u8; 16],
    /// Its unique GUID as stored.
    pub unique_guid: [u8; 16],
    /// First sector.
    pub first: u64,
    /// Last sector (inclusive).
    pub last: u64,
    /// Attribute bits (0 required, 2 legacy BIOS bootable, 60–63 Microsoft's).
    pub attributes: u64,
    /// Its name (UTF-16LE in the entry).
    pub name: String,
}

impl Partition {
    /// Absolute byte offset of its first sector.
    pub fn start(&self) -> u64 {
        self.first.saturating_mul(SECTOR)
    }

    /// Its length in bytes (saturating; [`Gpt::check_partitions`] refuses what overflows).
    pub fn len(&self) -> u64 {
        self.last.saturating_sub(self.first).saturating_add(1).saturating_mul(SECTOR)
    }

    /// Whether it holds no sector (never for a partition [`Gpt::read`] accepted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Both copies of a GPT.
#[derive(Debug, Clone)]
pub struct Gpt {
    /// The header at sector 1 and its array.
    pub primary: Header,
    /// The header at the primary's alternate sector and its array.
    pub backup: Header,
}

fn read_header(src: &dyn Source, lba: u64, which: &str) -> Parse<Header> {
    let offset = lba.checked_mul(SECTOR).ok_or_else(|| corrupt(format!("{which} GPT header: bad address")))?;
    let sector = read(src, offset, SECTOR, &format!("{which} GPT header"))?;
    if &sector[..8] != b"EFI PART" {
        return Err(corrupt(format!("{which} GPT header at offset {offset}: no EFI PART signature")));
    }
    let size = le32(&sector, 12) as usize;
    if !(92..=SECTOR as usize).contains(&size) {
        return Err(corrupt(format!("{which} GPT header at offset {offset}: bad header size {size}")));
    }
    let bytes = sector[..size].to_vec();
    if header_crc(&bytes) != le32(&bytes, 16) {
        return Err(corrupt(format!("{which} GPT header at offset {offset}: CRC mismatch")));
    }
    let count = u64::from(le32(&bytes, 80));
    let entry_size = le32(&bytes, 84) as usize;
    if count > 4096 || entry_size < 128 || entry_size % 8 != 0 || entry_size > 4096 {
        return Err(corrupt(format!("{which} GPT header at offset {offset}: bad entry array geometry")));
    }
    let array_offset = le64(&bytes, 72)
        .checked_mul(SECTOR)
        .ok_or_else(|| corrupt(format!("{which} GPT header at offset {offset}: bad entry array address")))?;
    let array = read(src, array_offset, count * entry_size as u64, &format!("{which} GPT entry array"))?;
    if crc32fast::hash(&array) != le32(&bytes, 88) {
        return Err(corrupt(format!("{which} GPT entry array at offset {array_offset}: CRC mismatch")));
    }
    Ok(Header { offset, bytes, array_offset, array, entry_size })
}

/// The CRC-32 of a header with its CRC field taken as zero.
pub fn header_crc(bytes: &[u8]) -> u32 {
    let mut copy = bytes.to_vec();
    copy[16..20].fill(0);
    crc32fast::hash(&copy)
}

impl Gpt {
    /// Both copies of the GPT, `None` when sector 1 holds no GPT header. Each header's CRC,
    /// each array's CRC, and that the copies point at each other and agree in shape are
    /// checked; [`Gpt::check_partitions`] checks the entries.
    pub fn read(src: &dyn Source) -> Parse<Option<Self>> {
        if src.len() < 2 * SECTOR || read(src, SECTOR, 8, "GPT header")? != b"EFI PART" {
            return Ok(None);
        }
        let primary = read_header(src, 1, "primary")?;
        let backup = read_header(src, le64(&primary.bytes, 32), "backup")?;
        if backup.array.len() != primary.array.len() || backup.entry_size != primary.entry_size {
            return Err(corrupt(format!(
                "backup GPT header at offset {}: its entry array differs in shape from the primary's",
                backup.offset
            )));
        }
        Ok(Some(Self { primary, backup }))
    }

    /// Checks that every partition in use ends after it starts and lies inside the image; the
    /// error names the entry and its offset. A partition outside the usable area the header
    /// declares is accepted (`sgdisk -v` says so): xorriso's hybrid ISOs start one at sector 0.
    pub fn check_partitions(&self, src: &dyn Source) -> Parse<()> {
        for part in self.partitions() {
            let at = self.primary.array_offset + (part.index * self.primary.entry_size) as u64;
            let what = format!("GPT partition {} (entry at offset {at})", part.index + 1);
            if part.last < part.first {
                return Err(corrupt(format!("{what}: ends (sector {}) before it starts ({})", part.last, part.first)));
            }
            let start = part.first.checked_mul(SECTOR).ok_or_else(|| corrupt(format!("{what}: bad address")))?;
            let len = (part.last - part.first)
                .checked_add(1)
                .and_then(|n| n.checked_mul(SECTOR))
                .ok_or_else(|| corrupt(format!("{what}: bad length")))?;
            inside(src, start, len, &what)?;
        }
        Ok(())
    }

    /// The partitions in use (non-zero type GUID).
    pub fn partitions(&self) -> Vec<Partition> {
        self.primary
            .array
            .chunks_exact(self.primary.entry_size)
            .enumerate()
            .filter(|(_, e)| e[..16].iter().any(|&b| b != 0))
            .map(|(index, e)| {
                let mut type_guid = [0u8; 16];
                type_guid.copy_from_slice(&e[..16]);
                let mut unique_guid = [0u8; 16];
                unique_guid.copy_from_slice(&e[16..32]);
                let units: Vec<u16> = e[56..128]
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .take_while(|&u| u != 0)
                    .collect();
                Partition {
                    index,
                    type_guid,
                    unique_guid,
                    first: le64(e, 32),
                    last: le64(e, 40),
                    attributes: le64(e, 48),
                    name: String::from_utf16_lossy(&units),
                }
            })
            .collect()
    }

    /// The number of entries of the array (in use or not).
    pub fn entry_count(&self) -> usize {
        self.primary.array.len() / self.primary.entry_size
    }

    /// The disk GUID, as stored.
    pub fn disk_guid(&self) -> [u8; 16] {
        let mut g = [0u8; 16];
        g.copy_from_slice(&self.primary.bytes[56..72]);
        g
    }
}

impl Header {
    /// This header with a new disk GUID and partition GUIDs (`guid(index)`, for the entries in
    /// use), both CRCs recomputed: (new header bytes, new array bytes).
    pub fn rewritten(&self, disk: [u8; 16], guid: impl Fn(usize) -> [u8; 16]) -> (Vec<u8>, Vec<u8>) {
        let mut array = self.array.clone();
        for (index, e) in array.chunks_exact_mut(self.entry_size).enumerate() {
            if e[..16].iter().any(|&b| b != 0) {
                e[16..32].copy_from_slice(&guid(index));
            }
        }
        let mut header = self.bytes.clone();
        header[56..72].copy_from_slice(&disk);
        header[88..92].copy_from_slice(&crc32fast::hash(&array).to_le_bytes());
        let crc = header_crc(&header);
        header[16..20].copy_from_slice(&crc.to_le_bytes());
        (header, array)
    }
}
