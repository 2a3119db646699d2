//! The FAT file system of an EFI boot image (FAT12, FAT16 or FAT32, as `mformat`/`mkfs.fat`
//! make them): its boot sector, and every directory entry of every directory, with offsets.
//!
//! `mformat` and `mkfs.fat` draw the volume serial from the clock or at random, and `mcopy`
//! stamps each entry with the time of the copy: those are the fields the normalizer rewrites.

use std::collections::BTreeSet;

use crate::error::{Parse, corrupt};
use crate::source::{Source, le16, le32, read};

/// A directory entry, where it lies and what it holds.
#[derive(Debug, Clone)]
pub struct DirEntry {
    /// Absolute byte offset of the 32-byte entry.
    pub offset: u64,
    /// The entry.
    pub bytes: [u8; 32],
    /// The path of the directory holding it and the 8.3 name, for messages.
    pub path: String,
}

/// A FAT file system inside an image.
#[derive(Debug, Clone)]
pub struct Fat {
    /// Absolute byte offset of its boot sector.
    pub offset: u64,
    /// The boot sector.
    pub boot: Vec<u8>,
    /// 12, 16 or 32.
    pub bits: u8,
    bytes_per_sector: u64,
    sectors_per_cluster: u64,
    first_data_sector: u64,
    root_dir_sector: u64,
    root_entries: u64,
    root_cluster: u32,
    clusters: u32,
    table: Vec<u8>,
}

impl Fat {
    /// The FAT file system at `offset`, `None` when the bytes there are not a FAT boot sector.
    /// A boot sector that is a FAT one but whose geometry does not fit makes the image corrupt.
    pub fn open(src: &dyn Source, offset: u64) -> Parse<Option<Self>> {
        if offset.saturating_add(512) > src.len() {
            return Ok(None);
        }
        let boot = read(src, offset, 512, "FAT boot sector")?;
        let bps = u64::from(le16(&boot, 11));
        let spc = u64::from(boot[13]);
        if boot[510..512] != [0x55, 0xAA]
            || !matches!(bps, 512 | 1024 | 2048 | 4096)
            || !spc.is_power_of_two()
            || !matches!(boot[0], 0xEB | 0xE9)
        {
            return Ok(None);
        }
        let bad = |what: &str| corrupt(format!("FAT file system at offset {offset}: {what}"));
        let reserved = u64::from(le16(&boot, 14));
        let fats = u64::from(boot[16]);
        let root_entries = u64::from(le16(&boot, 17));
        let total = match le16(&boot, 19) {
            0 => u64::from(le32(&boot, 32)),
            n => u64::from(n),
        };
        let fat_size = match le16(&boot, 22) {
            0 => u64::from(le32(&boot, 36)),
            n => u64::from(n),
        };
        if reserved == 0 || fats == 0 || fats > 4 || fat_size == 0 || total == 0 {
            return Err(bad("bad BIOS parameter block"));
        }
        let root_dir_sectors = (root_entries * 32).div_ceil(bps);
        let root_dir_sector = reserved + fats * fat_size;
        let first_data_sector = root_dir_sector + root_dir_sectors;
        if first_data_sector >= total || offset + total * bps > src.len() {
            return Err(bad("its sectors lie beyond the image"));
        }
        let clusters = (total - first_data_sector) / spc;
        let bits = if clusters < 4085 {
            12
        } else if clusters < 65525 {
            16
        } else {
            32
        };
        let root_cluster = if bits == 32 { le32(&boot, 44) } else { 0 };
        let fat_bytes = (u64::from(clusters as u32) + 2) * u64::from(bits) / 8 + 2;
        if fat_bytes > fat_size * bps {
            return Err(bad("the FAT is too small for its clusters"));
        }
        let fat = read(src, offset + reserved * bps, fat_bytes, "FAT")?;
        Ok(Some(Self {
            offset,
            boot,
            bits,
            bytes_per_sector: bps,
            sectors_per_cluster: spc,
            first_data_sector,
            root_dir_sector,
            root_entries,
            root_cluster,
            clusters: clusters as u32,
            table: fat,
        }))
    }

    /// Offset in the boot sector of the extended boot signature (0x29), whose volume serial
    /// follows at +1 and label at +5.
    pub fn extended_signature_at(&self) -> Option<usize> {
        let at = if self.bits == 32 { 66 } else { 38 };
        (self.boot[at] == 0x29).then_some(at)
    }

    /// Absolute offset of the FAT32 backup boot sector, when there is one.
    pub fn backup_boot_offset(&self) -> Option<u64> {
        let sector = u64::from(le16(&self.boot, 50));
        (self.bits == 32 && sector != 0 && sector != 0xFFFF).then(|| self.offset + sector * self.bytes_per_sector)
    }

    fn next(&self, cluster: u32) -> Option<u32> {
        let c = cluster as usize;
        let value = match self.bits {
            12 => {
                let at = c + c / 2;
                let pair = u32::from(le16(self.table.get(at..at + 2)?, 0));
                if c % 2 == 0 { pair & 0xFFF } else { pair >> 4 }
            }
            16 => u32::from(le16(self.table.get(c * 2..c * 2 + 2)?, 0)),
            _ => le32(self.table.get(c * 4..c * 4 + 4)?, 0) & 0x0FFF_FFFF,
        };
        (2..self.clusters + 2).contains(&value).then_some(value)
    }

    fn cluster_offset(&self, cluster: u32) -> u64 {
        self.offset
            + (self.first_data_sector + u64::from(cluster - 2) * self.sectors_per_cluster) * self.bytes_per_sector
    }

    /// The byte ranges of a cluster chain starting at `first`.
    fn chain(&self, first: u32) -> Parse<Vec<(u64, u64)>> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut cluster = Some(first).filter(|c| (2..self.clusters + 2).contains(c));
        while let Some(c) = cluster {
            if !seen.insert(c) {
                return Err(corrupt(format!("FAT file system at offset {}: cluster chain loops", self.offset)));
            }
            out.push((self.cluster_offset(c), self.sectors_per_cluster * self.bytes_per_sector));
            cluster = self.next(c);
        }
        Ok(out)
    }

    /// Every directory entry in use or deleted (not long-name parts, not free slots), of every
    /// directory, the root's first.
    pub fn entries(&self, src: &dyn Source) -> Parse<Vec<DirEntry>> {
        let root = if self.bits == 32 {
            self.chain(self.root_cluster)?
        } else {
            vec![(self.offset + self.root_dir_sector * self.bytes_per_sector, self.root_entries * 32)]
        };
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut stack = vec![(String::new(), root)];
        while let Some((path, ranges)) = stack.pop() {
            'dir: for (start, len) in ranges {
                let bytes = read(src, start, len, "FAT directory")?;
                for (i, e) in bytes.chunks_exact(32).enumerate() {
                    if e[0] == 0 {
                        break 'dir;
                    }
                    if e[11] & 0x3F == 0x0F {
                        continue; // a long-name part: no times
                    }
                    let mut entry = [0u8; 32];
                    entry.copy_from_slice(e);
                    let name = short_name(e);
                    let child = format!("{path}/{name}");
                    let is_dot = e[0] == b'.';
                    if e[11] & 0x10 != 0 && !is_dot && e[0] != 0xE5 {
                        let cluster = (u32::from(le16(e, 20)) << 16) | u32::from(le16(e, 26));
                        if cluster >= 2 && seen.insert(cluster) {
                            stack.push((child.clone(), self.chain(cluster)?));
                        }
                    }
                    out.push(DirEntry { offset: start + i as u64 * 32, bytes: entry, path: child });
                }
            }
        }
        Ok(out)
    }
}

/// An 8.3 name for messages: `BOOTX64.EFI`.
fn short_name(e: &[u8]) -> String {
    let part = |b: &[u8]| String::from_utf8_lossy(b).trim_end().to_owned();
    let (base, ext) = (part(&e[..8]), part(&e[8..11]));
    if ext.is_empty() { base } else { format!("{base}.{ext}") }
}
