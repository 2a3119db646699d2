//! The MBR and the GUID Partition Table of a hybrid image: read, validated (signatures, header
//! and entry-array CRCs, both copies), and the offsets of the identifiers that a tool draws at
//! random (the MBR disk signature, the disk GUID, each partition's unique GUID).

use crate::error::{Parse, corrupt};
use crate::source::{Source, le32, le64, read};

/// The sector size partition tables are written with on a hybrid ISO.
pub const SECTOR: u64 = 512;
/// The type GUID of an EFI System Partition, as stored (mixed-endian).
pub const ESP_TYPE: [u8; 16] =
    [0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b];
/// The type GUID of an HFS+ partition, as stored.
pub const HFS_TYPE: [u8; 16] =
    [0x00, 0x53, 0x46, 0x48, 0x00, 0x00, 0xaa, 0x11, 0xaa, 0x11, 0x00, 0x30, 0x65, 0x43, 0xec, 0xac];

/// An identifier given as text that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Not 32 hexadecimal digits (dashes allowed anywhere).
    #[error("{0:?} is not a GUID (32 hexadecimal digits, dashes allowed)")]
    Guid(String),
    /// Not a hexadecimal 32-bit number (`0x` allowed).
    #[error("{0:?} is not a hexadecimal number of at most 8 digits")]
    Hex32(String),
}

/// A GUID's text form (`01234567-89ab-cdef-0123-456789abcdef`) as GPT stores it: the first
/// three groups little-endian, the last two as written.
///
/// # Errors
/// [`IdError::Guid`] when `text` is not 32 hexadecimal digits once dashes are removed.
pub fn parse_guid(text: &str) -> Result<[u8; 16], IdError> {
    const STORED: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    let digits: Vec<u8> = text.bytes().filter(|b| *b != b'-').collect();
    let bad = || IdError::Guid(text.to_owned());
    if digits.len() != 32 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    let mut bytes = [0u8; 16];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(STORED.map(|i| bytes[i]))
}

/// A 32-bit identifier in hexadecimal (an MBR disk signature, a FAT volume serial), with or
/// without `0x`.
///
/// # Errors
/// [`IdError::Hex32`] when `text` is not one to eight hexadecimal digits.
pub fn parse_hex32(text: &str) -> Result<u32, IdError> {
    let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(IdError::Hex32(text.to_owned()));
    }
    u32::from_str_radix(digits, 16).map_err(|_| IdError::Hex32(text.to_owned()))
}

/// An MBR partition entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MbrPartition {
    /// The partition type byte.
    pub kind: u8,
    /// First sector.
    pub start: u64,
    /// Sectors.
    pub sectors: u64,
}

/// The MBR, when the image has the 0x55AA signature: (disk signature, partitions in use).
pub fn read_mbr(src: &dyn Source) -> Parse<Option<(u32, Vec<MbrPartition>)>> {
    if src.len() < SECTOR {
        return Ok(None);
    }
    let mbr = read(src, 0, SECTOR, "MBR")?;
    if mbr[510..512] != [0x55, 0xAA] {
        return Ok(None);
    }
    let parts = (0..4)
        .map(|i| &mbr[446 + i * 16..462 + i * 16])
        .filter(|e| e[4] != 0)
        .map(|e| MbrPartition { kind: e[4], start: le32(e, 8).into(), sectors: le32(e, 12).into() })
        .collect();
    Ok(Some((le32(&mbr, 440), parts)))
}

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
    /// Its index in the array.
    pub index: usize,
    /// Its type GUID as stored.
    pub type_guid: [u8; 16],
    /// First and last sector.
    pub first: u64,
    /// Last sector (inclusive).
    pub last: u64,
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
        .ok_or_else(|| corrupt(format!("{which} GPT header: bad entry array address")))?;
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
    /// Both copies of the GPT, `None` when sector 1 holds no GPT header.
    pub fn read(src: &dyn Source) -> Parse<Option<Self>> {
        if src.len() < 2 * SECTOR || read(src, SECTOR, 8, "GPT header")? != b"EFI PART" {
            return Ok(None);
        }
        let primary = read_header(src, 1, "primary")?;
        let backup = read_header(src, le64(&primary.bytes, 32), "backup")?;
        if backup.array.len() != primary.array.len() || backup.entry_size != primary.entry_size {
            return Err(corrupt("the backup GPT's entry array differs in shape from the primary's"));
        }
        Ok(Some(Self { primary, backup }))
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
                Partition { index, type_guid, first: le64(e, 32), last: le64(e, 40) }
            })
            .collect()
    }
}

impl Header {
    /// This header with a new disk GUID and partition GUIDs (`guid(index)`), both CRCs
    /// recomputed: (new header bytes, new array bytes).
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

/// A GUID in the usual text form (the first three groups little-endian, as GPT stores them).
pub fn guid_text(g: &[u8]) -> String {
    format!(
        "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guid_is_stored_mixed_endian_and_a_bad_one_refused() {
        let stored = parse_guid("c12a7328-f81f-11d2-ba4b-00a0c93ec93b").unwrap();
        assert_eq!(stored, ESP_TYPE);
        assert_eq!(parse_guid("C12A7328F81F11D2BA4B00A0C93EC93B").unwrap(), ESP_TYPE);
        for bad in [
            "",
            "c12a7328-f81f-11d2-ba4b-00a0c93ec93",
            "g12a7328-f81f-11d2-ba4b-00a0c93ec93b",
            "+12a7328f81f11d2ba4b00a0c93ec93b",
        ] {
            assert_eq!(parse_guid(bad), Err(IdError::Guid(bad.to_owned())), "{bad}");
        }
        assert_eq!(parse_hex32("0x1234abcd"), Ok(0x1234_abcd));
        assert_eq!(parse_hex32("ff"), Ok(0xff));
        for bad in ["", "0x", "123456789", "+ff", "xyz"] {
            assert_eq!(parse_hex32(bad), Err(IdError::Hex32(bad.to_owned())), "{bad}");
        }
    }
}
