//! FAT12, FAT16 and FAT32 file systems (as `mkfs.fat`, `mformat` and the kernel make them):
//! the boot sector, the `FSInfo` sector, the table, and every directory entry of every directory
//! with its offset, its long name and its cluster chain.
//!
//! `mkfs.fat` (without `--invariant`) and `mformat` draw the volume serial from the clock,
//! `mcopy`, `mlabel` and the kernel stamp each entry with the time of the copy, and the `FSInfo`
//! hints depend on the order clusters were allocated in: those are the fields
//! [`crate::normalize`] rewrites. Every chain is followed and checked (in range, no loop, long
//! enough for the file's size) before anything is written.

use std::collections::BTreeSet;

use tamis_core::{civil_from_days, days_from_civil};

use crate::error::{Parse, corrupt};
use crate::source::{Source, le16, le32, read};

/// Attribute bit: a directory.
pub const ATTR_DIRECTORY: u8 = 0x10;
/// Attribute bit: the volume label.
pub const ATTR_VOLUME: u8 = 0x08;
/// The `FSInfo` value meaning "not known".
pub const UNKNOWN: u32 = 0xFFFF_FFFF;

/// A directory entry, where it lies and what it holds.
#[derive(Debug, Clone)]
pub struct DirEntry {
    /// Absolute byte offset of the 32-byte entry.
    pub offset: u64,
    /// The entry.
    pub bytes: [u8; 32],
    /// The path of the directory holding it and the 8.3 name, for messages: `/EFI/BOOT`.
    pub path: String,
    /// The path with long names where the entry has one: `/live/vmlinuz`.
    pub long_path: String,
}

impl DirEntry {
    /// The attribute byte.
    pub fn attributes(&self) -> u8 {
        self.bytes[11]
    }

    /// Whether the entry was deleted (first byte 0xE5).
    pub fn is_deleted(&self) -> bool {
        self.bytes[0] == 0xE5
    }

    /// Whether it is `.` or `..`.
    pub fn is_dot(&self) -> bool {
        self.bytes[0] == b'.'
    }

    /// Whether it is the volume label entry.
    pub fn is_volume_label(&self) -> bool {
        self.attributes() & ATTR_VOLUME != 0 && self.attributes() & ATTR_DIRECTORY == 0
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.attributes() & ATTR_DIRECTORY != 0
    }

    /// Whether it names a file or directory in use (not deleted, not `.`/`..`, not the label).
    pub fn is_live(&self) -> bool {
        !self.is_deleted() && !self.is_dot() && !self.is_volume_label()
    }

    /// The first cluster (high half from FAT32's field at 20).
    pub fn first_cluster(&self) -> u32 {
        (u32::from(le16(&self.bytes, 20)) << 16) | u32::from(le16(&self.bytes, 26))
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u32 {
        le32(&self.bytes, 28)
    }

    /// The modification time, seconds since 1970 (read as UTC), when set.
    pub fn modified(&self) -> Option<i64> {
        decode_fat(le16(&self.bytes, 24), Some(le16(&self.bytes, 22)))
    }
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
    /// Bytes per sector.
    pub bytes_per_sector: u64,
    sectors_per_cluster: u64,
    reserved: u64,
    first_data_sector: u64,
    root_dir_sector: u64,
    root_entries: u64,
    root_cluster: u32,
    clusters: u32,
    table: Vec<u8>,
}

/// The `FSInfo` sector of a FAT32 file system: where it is and its two hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsInfo {
    /// Absolute byte offset of the sector.
    pub offset: u64,
    /// The free cluster count it holds (`UNKNOWN` when not known).
    pub free_count: u32,
    /// The next free cluster hint it holds (`UNKNOWN` when not known).
    pub next_free: u32,
}

/// Byte offsets inside the `FSInfo` sector of the free count and the next-free hint.
pub const FSINFO_FREE_COUNT_AT: u64 = 488;
/// See [`FSINFO_FREE_COUNT_AT`].
pub const FSINFO_NEXT_FREE_AT: u64 = 492;

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
            return Err(bad(&format!(
                "its {total} sectors of {bps} bytes lie beyond the end of the image ({} bytes)",
                src.len()
            )));
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
            reserved,
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

    /// Absolute offsets of the copies of the boot sector in the reserved area: sectors with a
    /// jump, the same BIOS parameter block and the 0x55AA signature. `mkfs.fat` writes a
    /// backup at the sector the boot sector names (6); `syslinux --install` on FAT32 keeps
    /// the boot sector it replaced at sector 12. Each holds a volume serial.
    pub fn boot_copies(&self, src: &dyn Source) -> Parse<Vec<u64>> {
        if self.reserved < 2 {
            return Ok(Vec::new());
        }
        let len = (self.reserved - 1) * self.bytes_per_sector;
        let area = read(src, self.offset + self.bytes_per_sector, len, "FAT reserved sectors")?;
        Ok(area
            .chunks_exact(self.bytes_per_sector as usize)
            .enumerate()
            .filter(|(_, s)| {
                matches!(s[0], 0xEB | 0xE9) && s[11..36] == self.boot[11..36] && s[510..512] == [0x55, 0xAA]
            })
            .map(|(i, _)| self.offset + (i as u64 + 1) * self.bytes_per_sector)
            .collect())
    }

    /// The `FSInfo` sector of a FAT32 file system, when it has a valid one.
    pub fn fsinfo(&self, src: &dyn Source) -> Parse<Option<FsInfo>> {
        let sector = u64::from(le16(&self.boot, 48));
        if self.bits != 32 || sector == 0 || sector == 0xFFFF || sector >= self.reserved {
            return Ok(None);
        }
        let offset = self.offset + sector * self.bytes_per_sector;
        let b = read(src, offset, 512, "FAT32 FSInfo sector")?;
        if le32(&b, 0) != 0x4161_5252 || le32(&b, 484) != 0x6141_7272 || b[510..512] != [0x55, 0xAA] {
            return Ok(None);
        }
        Ok(Some(FsInfo { offset, free_count: le32(&b, 488), next_free: le32(&b, 492) }))
    }

    /// The number of data clusters.
    pub fn clusters(&self) -> u32 {
        self.clusters
    }

    /// The bytes of one cluster.
    pub fn cluster_size(&self) -> u64 {
        self.sectors_per_cluster * self.bytes_per_sector
    }

    /// The table's value for `cluster`.
    fn value(&self, cluster: u32) -> u32 {
        let c = cluster as usize;
        let get = |r: std::ops::Range<usize>| self.table.get(r);
        match self.bits {
            12 => {
                let at = c + c / 2;
                let pair = get(at..at + 2).map_or(0, |b| u32::from(le16(b, 0)));
                if c % 2 == 0 { pair & 0xFFF } else { pair >> 4 }
            }
            16 => get(c * 2..c * 2 + 2).map_or(0, |b| u32::from(le16(b, 0))),
            _ => get(c * 4..c * 4 + 4).map_or(0, |b| le32(b, 0) & 0x0FFF_FFFF),
        }
    }

    /// The value from which on a table entry ends a chain.
    fn end_of_chain(&self) -> u32 {
        match self.bits {
            12 => 0xFF8,
            16 => 0xFFF8,
            _ => 0x0FFF_FFF8,
        }
    }

    /// (free clusters, first free cluster) counted in the table.
    pub fn free_clusters(&self) -> (u32, Option<u32>) {
        let mut free = (2..self.clusters + 2).filter(|&c| self.value(c) == 0);
        let first = free.next();
        (u32::from(first.is_some()) + free.count() as u32, first)
    }

    fn in_range(&self, cluster: u32) -> bool {
        (2..self.clusters + 2).contains(&cluster)
    }

    fn cluster_offset(&self, cluster: u32) -> u64 {
        self.offset
            + (self.first_data_sector + u64::from(cluster - 2) * self.sectors_per_cluster) * self.bytes_per_sector
    }

    /// The byte ranges of the cluster chain starting at `first`: every link in range, no loop.
    /// `what` names the owner in the error.
    pub fn chain(&self, first: u32, what: &str) -> Parse<Vec<(u64, u64)>> {
        let bad = |reason: String| corrupt(format!("FAT file system at offset {}: {what}: {reason}", self.offset));
        if !self.in_range(first) {
            return Err(bad(format!("first cluster {first} outside 2..{}", self.clusters + 2)));
        }
        let mut out = Vec::new();
        let mut cluster = first;
        loop {
            // A chain longer than the file system has clusters passes one twice: it loops.
            if out.len() as u64 > u64::from(self.clusters) {
                return Err(bad(format!("cluster chain loops (at cluster {cluster})")));
            }
            out.push((self.cluster_offset(cluster), self.cluster_size()));
            let next = self.value(cluster);
            if next >= self.end_of_chain() {
                return Ok(out);
            }
            if !self.in_range(next) {
                return Err(bad(format!(
                    "cluster chain out of range: cluster {cluster} (table entry at offset {}) points to {next}",
                    self.table_entry_offset(cluster)
                )));
            }
            cluster = next;
        }
    }

    fn table_entry_offset(&self, cluster: u32) -> u64 {
        self.offset + self.reserved * self.bytes_per_sector + u64::from(cluster) * u64::from(self.bits) / 8
    }

    /// The bytes of a file (its chain, cut at its size).
    pub fn file_data(&self, src: &dyn Source, entry: &DirEntry) -> Parse<Vec<u8>> {
        let size = u64::from(entry.size());
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut data = Vec::with_capacity(size as usize);
        for (start, len) in self.chain(entry.first_cluster(), &entry.path)? {
            let take = len.min(size - data.len() as u64);
            data.extend(read(src, start, take, "FAT file data")?);
            if data.len() as u64 == size {
                break;
            }
        }
        Ok(data)
    }

    /// Every directory entry in use or deleted (not long-name parts, not free slots), of every
    /// directory, the root's first. Every chain of a live file or directory is checked: in
    /// range, no loop, long enough for the file's size.
    pub fn entries(&self, src: &dyn Source) -> Parse<Vec<DirEntry>> {
        let root = if self.bits == 32 {
            self.chain(self.root_cluster, "root directory")?
        } else {
            vec![(self.offset + self.root_dir_sector * self.bytes_per_sector, self.root_entries * 32)]
        };
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut stack = vec![(String::new(), String::new(), root)];
        while let Some((path, long_dir, ranges)) = stack.pop() {
            let mut long = LongName::default();
            'dir: for (start, len) in ranges {
                let bytes = read(src, start, len, "FAT directory")?;
                for (i, e) in bytes.chunks_exact(32).enumerate() {
                    if e[0] == 0 {
                        break 'dir;
                    }
                    if e[11] & 0x3F == 0x0F {
                        long.push(e);
                        continue;
                    }
                    let mut bytes = [0u8; 32];
                    bytes.copy_from_slice(e);
                    let short = short_name(e);
                    let name = long.take(e).unwrap_or_else(|| cased_name(e));
                    let entry = DirEntry {
                        offset: start + i as u64 * 32,
                        bytes,
                        path: format!("{path}/{short}"),
                        long_path: format!("{long_dir}/{name}"),
                    };
                    if entry.is_live() {
                        let cluster = entry.first_cluster();
                        if entry.is_dir() {
                            if cluster >= 2 && seen.insert(cluster) {
                                let chain = self.chain(cluster, &entry.path)?;
                                stack.push((entry.path.clone(), entry.long_path.clone(), chain));
                            }
                        } else if entry.size() > 0 {
                            let chain = self.chain(cluster, &entry.path)?;
                            if (chain.len() as u64) < u64::from(entry.size()).div_ceil(self.cluster_size()) {
                                return Err(corrupt(format!(
                                    "FAT file system at offset {}: {}: cluster chain shorter than its size ({} bytes)",
                                    self.offset,
                                    entry.path,
                                    entry.size()
                                )));
                            }
                        }
                    }
                    out.push(entry);
                }
            }
        }
        Ok(out)
    }
}

/// The parts of a long name gathered before the 8.3 entry they belong to.
#[derive(Default)]
struct LongName {
    parts: Vec<(u8, u8, Vec<u16>)>,
}

impl LongName {
    fn push(&mut self, e: &[u8]) {
        if e[0] == 0xE5 {
            self.parts.clear();
            return;
        }
        let units = [1..11, 14..26, 28..32]
            .into_iter()
            .flat_map(|r| e[r].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect::<Vec<_>>())
            .collect();
        self.parts.push((e[0] & 0x1F, e[13], units));
    }

    /// The long name, when the gathered parts are complete and their checksum matches `short`.
    fn take(&mut self, short: &[u8]) -> Option<String> {
        let parts = std::mem::take(&mut self.parts);
        let sum = short[..11].iter().fold(0u8, |s, &c| s.rotate_right(1).wrapping_add(c));
        let complete = !parts.is_empty()
            && parts.iter().rev().enumerate().all(|(i, (seq, check, _))| usize::from(*seq) == i + 1 && *check == sum);
        if !complete || short[0] == 0xE5 {
            return None;
        }
        let units: Vec<u16> =
            parts.iter().rev().flat_map(|(_, _, u)| u.iter().copied()).take_while(|&u| u != 0).collect();
        Some(String::from_utf16_lossy(&units))
    }
}

/// An 8.3 name for messages: `BOOTX64.EFI`.
fn short_name(e: &[u8]) -> String {
    let part = |b: &[u8]| String::from_utf8_lossy(b).trim_end().to_owned();
    let (base, ext) = (part(&e[..8]), part(&e[8..11]));
    if ext.is_empty() { base } else { format!("{base}.{ext}") }
}

/// The 8.3 name as Windows and mtools show it: the base and the extension in lower case when
/// byte 12 says so (0x08, 0x10), which is how a lower-case name that fits 8.3 is stored
/// without a long name.
fn cased_name(e: &[u8]) -> String {
    let part = |b: &[u8], lower: bool| {
        let text = String::from_utf8_lossy(b).trim_end().to_owned();
        if lower { text.to_ascii_lowercase() } else { text }
    };
    let (base, ext) = (part(&e[..8], e[12] & 0x08 != 0), part(&e[8..11], e[12] & 0x10 != 0));
    if ext.is_empty() { base } else { format!("{base}.{ext}") }
}

/// A FAT date and time (both `u16`, time `None` for the access date) as seconds since 1970,
/// read as UTC; `None` when the date is zero or invalid.
pub fn decode_fat(date: u16, time: Option<u16>) -> Option<i64> {
    if date == 0 {
        return None;
    }
    let t = time.unwrap_or(0);
    let (month, day) = (u32::from((date >> 5) & 0xf), u32::from(date & 0x1f));
    let (hour, minute, second) = (i64::from(t >> 11), i64::from((t >> 5) & 0x3f), i64::from(t & 0x1f) * 2);
    let valid = (1..=12).contains(&month) && (1..=31).contains(&day) && hour < 24 && minute < 60 && second < 61;
    valid
        .then(|| days_from_civil(1980 + i64::from(date >> 9), month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// An instant as a FAT (date, time) in UTC, seconds rounded down to even; `None` outside
/// 1980–2107.
pub fn encode_fat(secs: i64) -> Option<(u16, u16)> {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400) as u32;
    let year = u16::try_from(y - 1980).ok().filter(|&y| y < 128)?;
    let time = ((s / 3600) << 11) | ((s / 60 % 60) << 5) | (s % 60 / 2);
    Some(((year << 9) | ((mo as u16) << 5) | d as u16, time as u16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat_dates_round_trip() {
        let epoch = 1_700_000_000; // 2023-11-14T22:13:20Z
        let (d, t) = encode_fat(epoch).unwrap();
        assert_eq!(decode_fat(d, Some(t)), Some(epoch));
        assert_eq!(decode_fat(0, Some(t)), None);
        assert_eq!(encode_fat(0), None);
    }
}
