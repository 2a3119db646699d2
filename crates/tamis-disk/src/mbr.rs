//! The master boot record: its disk signature (drawn at random or from the clock by `fdisk`,
//! `parted` and friends) and its four primary partition entries.

use crate::error::Parse;
use crate::source::{Source, le32, read};

/// The sector size partition tables are addressed in.
pub const SECTOR: u64 = 512;
/// The offset of the disk signature in the MBR.
pub const SIGNATURE_AT: u64 = 440;
/// The type byte of a protective MBR partition (the disk has a GPT).
pub const PROTECTIVE: u8 = 0xEE;
/// The type byte of an EFI System partition.
pub const EFI_SYSTEM: u8 = 0xEF;

/// An MBR partition entry in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MbrPartition {
    /// Its index, 0–3.
    pub index: usize,
    /// The partition type byte.
    pub kind: u8,
    /// First sector.
    pub start: u64,
    /// Sectors.
    pub sectors: u64,
}

impl MbrPartition {
    /// Whether it is an extended partition (holding logical ones).
    pub fn is_extended(&self) -> bool {
        matches!(self.kind, 0x05 | 0x0F | 0x85)
    }
}

/// A master boot record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mbr {
    /// The disk signature at byte 440.
    pub signature: u32,
    /// The entries in use (type byte not zero).
    pub partitions: Vec<MbrPartition>,
}

impl Mbr {
    /// The MBR, `None` when the image is shorter than a sector or lacks the 0x55AA signature.
    pub fn read(src: &dyn Source) -> Parse<Option<Self>> {
        if src.len() < SECTOR {
            return Ok(None);
        }
        let mbr = read(src, 0, SECTOR, "MBR")?;
        if mbr[510..512] != [0x55, 0xAA] {
            return Ok(None);
        }
        let partitions = (0..4)
            .map(|i| (i, &mbr[446 + i * 16..462 + i * 16]))
            .filter(|(_, e)| e[4] != 0)
            .map(|(index, e)| MbrPartition { index, kind: e[4], start: le32(e, 8).into(), sectors: le32(e, 12).into() })
            .collect();
        Ok(Some(Self { signature: le32(&mbr, 440), partitions }))
    }

    /// Whether the MBR only protects a GPT (one partition of type 0xEE).
    pub fn is_protective(&self) -> bool {
        self.partitions.iter().any(|p| p.kind == PROTECTIVE)
    }
}
