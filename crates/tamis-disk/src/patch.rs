//! Fields to rewrite: what a normalizer plans before it writes anything, and the planners of
//! the disk structures shared by every image that holds them (a USB image's partitions, an
//! ISO's EFI image): the FAT fields and the GPT identifiers.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;
use tamis_core::Epoch;

use crate::error::Parse;
use crate::fat::{FSINFO_FREE_COUNT_AT, FSINFO_NEXT_FREE_AT, Fat, UNKNOWN, decode_fat, encode_fat};
use crate::gpt::Gpt;
use crate::guid::guid_text;
use crate::source::{Source, le16, read};

/// One field rewritten (or to be rewritten with `--check`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Patch {
    /// Absolute byte offset of the field.
    pub offset: u64,
    /// Where in the image, for people: `GPT`, `FAT@1048576:/EFI`.
    pub location: String,
    /// Which field: "volume serial", "disk GUID".
    pub field: String,
    /// The value before, readable.
    pub before: String,
    /// The value after, readable.
    pub after: String,
    /// The bytes before.
    #[serde(skip)]
    pub old: Vec<u8>,
    /// The bytes after.
    #[serde(skip)]
    pub new: Vec<u8>,
}

impl Patch {
    /// The patch as a report's change: its location as the path, the field as the reason.
    pub fn change(&self) -> tamis_core::Change {
        tamis_core::Change {
            path: std::path::PathBuf::from(&self.location),
            action: tamis_core::Action::Rewrite,
            reason: self.field.clone(),
            before: Some(self.before.clone()),
            after: Some(self.after.clone()),
        }
    }
}

/// Where planners put the fields they looked at.
pub trait Sink {
    /// Records that the bytes at `offset` (now `old`) should be `new`; `show` makes them
    /// readable for the report.
    fn set(&mut self, offset: u64, old: &[u8], new: &[u8], location: &str, field: &str, show: fn(&[u8]) -> String);

    /// Records a field looked at that needs no change.
    fn examined(&mut self);
}

/// A [`Sink`] that collects patches, one per offset, and counts the fields looked at.
#[derive(Debug, Default)]
pub struct Patches {
    /// Fields looked at.
    pub examined: u64,
    /// The fields that differ from their normalized value.
    pub list: Vec<Patch>,
    patched: BTreeSet<u64>,
}

impl Sink for Patches {
    fn set(&mut self, offset: u64, old: &[u8], new: &[u8], location: &str, field: &str, show: fn(&[u8]) -> String) {
        self.examined += 1;
        if old == new || !self.patched.insert(offset) {
            return;
        }
        self.list.push(Patch {
            offset,
            location: location.to_owned(),
            field: field.to_owned(),
            before: show(old),
            after: show(new),
            old: old.to_vec(),
            new: new.to_vec(),
        });
    }

    fn examined(&mut self) {
        self.examined += 1;
    }
}

/// What [`plan_fat`] found in one FAT file system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FatSummary {
    /// 12, 16 or 32.
    pub bits: u8,
    /// Directory entries seen (files, directories, deleted ones, `.` and `..`).
    pub entries: usize,
}

/// Plans the normalization of a FAT file system: the volume serial (`serial`) and the label's
/// padding in the boot sector and its copies in the reserved area, the volume label entry's padding, the
/// creation, access and modification times of every directory entry clamped to `epoch`, and
/// the `FSInfo` hints: the free count recomputed from the table and the next-free hint made the
/// first free cluster (or "unknown" when none is). The whole file system is validated (every
/// chain) while planning.
pub fn plan_fat(
    src: &dyn Source,
    fat: &Fat,
    epoch: Epoch,
    serial: u32,
    location: &str,
    sink: &mut dyn Sink,
) -> Parse<FatSummary> {
    let epoch = epoch.secs();
    if let Some(ext) = fat.extended_signature_at() {
        let label = &fat.boot[ext + 5..ext + 16];
        let new_label = pad_label(label);
        let mut sectors = vec![fat.offset];
        sectors.extend(fat.boot_copies(src)?);
        for (i, sector) in sectors.into_iter().enumerate() {
            let boot = if i == 0 { fat.boot.clone() } else { read(src, sector, 512, "FAT backup boot sector")? };
            if i > 0 && boot[ext] != 0x29 {
                continue;
            }
            let at = sector + ext as u64;
            sink.set(at + 1, &boot[ext + 1..ext + 5], &serial.to_le_bytes(), location, "volume serial", show_hex);
            sink.set(at + 5, &boot[ext + 5..ext + 16], &new_label, location, "volume label", show_text);
        }
    }
    let entries = fat.entries(src)?;
    for e in &entries {
        let b = &e.bytes;
        let location = format!("{location}:{}", e.path);
        if e.is_volume_label() && !e.is_deleted() {
            sink.set(e.offset, &b[..11], &pad_label(&b[..11]), &location, "volume label", show_text);
        }
        // Creation: hundredths (13), time (14), date (16).
        let created = decode_fat(le16(b, 16), Some(le16(b, 14)));
        if created.is_some_and(|t| t > epoch) {
            let (d, t) = encode_fat(epoch).unwrap_or((le16(b, 16), le16(b, 14)));
            let mut new = b[13..18].to_vec();
            new[0] = 0;
            new[1..3].copy_from_slice(&t.to_le_bytes());
            new[3..5].copy_from_slice(&d.to_le_bytes());
            sink.set(e.offset + 13, &b[13..18], &new, &location, "creation time", show_hex);
        } else {
            sink.examined();
        }
        // Access date (18).
        if decode_fat(le16(b, 18), None).is_some_and(|t| t > epoch - epoch.rem_euclid(86_400)) {
            let d = encode_fat(epoch).map_or(le16(b, 18), |(d, _)| d);
            sink.set(e.offset + 18, &b[18..20], &d.to_le_bytes(), &location, "access date", show_hex);
        } else {
            sink.examined();
        }
        // Modification: time (22), date (24).
        if decode_fat(le16(b, 24), Some(le16(b, 22))).is_some_and(|t| t > epoch) {
            let (d, t) = encode_fat(epoch).unwrap_or((le16(b, 24), le16(b, 22)));
            let new = [t.to_le_bytes(), d.to_le_bytes()].concat();
            sink.set(e.offset + 22, &b[22..26], &new, &location, "modification time", show_hex);
        } else {
            sink.examined();
        }
    }
    if let Some(info) = fat.fsinfo(src)? {
        let (free, first_free) = fat.free_clusters();
        let next = first_free.unwrap_or(UNKNOWN);
        let at = info.offset;
        sink.set(
            at + FSINFO_FREE_COUNT_AT,
            &info.free_count.to_le_bytes(),
            &free.to_le_bytes(),
            location,
            "FSInfo free cluster count",
            show_u32,
        );
        sink.set(
            at + FSINFO_NEXT_FREE_AT,
            &info.next_free.to_le_bytes(),
            &next.to_le_bytes(),
            location,
            "FSInfo next free cluster",
            show_u32,
        );
    }
    Ok(FatSummary { bits: fat.bits, entries: entries.len() })
}

/// Plans new GUIDs for both copies of a GPT — the disk GUID `disk`, the partition in use at
/// index `i` gets `guid(i)` — and the CRCs of both headers and both arrays recomputed.
pub fn plan_gpt(gpt: &Gpt, disk: [u8; 16], guid: impl Fn(usize) -> [u8; 16], sink: &mut dyn Sink) {
    for (header, which) in [(&gpt.primary, "primary GPT"), (&gpt.backup, "backup GPT")] {
        let (new_header, new_array) = header.rewritten(disk, &guid);
        for (at, len, field) in [(56, 16, "disk GUID"), (88, 4, "entry array CRC"), (16, 4, "header CRC")] {
            let r = at..at + len;
            let show = if len == 16 { show_guid } else { show_hex };
            sink.set(header.offset + at as u64, &header.bytes[r.clone()], &new_header[r], which, field, show);
        }
        for (index, (old, new)) in
            header.array.chunks_exact(header.entry_size).zip(new_array.chunks_exact(header.entry_size)).enumerate()
        {
            let at = header.array_offset + (index * header.entry_size) as u64 + 16;
            sink.set(at, &old[16..32], &new[16..32], which, &format!("partition {} GUID", index + 1), show_guid);
        }
    }
}

/// A label with everything after its last character made spaces (`NO NAME` when empty).
pub fn pad_label(label: &[u8]) -> Vec<u8> {
    let end = label.iter().rposition(|&c| c != b' ' && c != 0).map_or(0, |i| i + 1);
    if end == 0 {
        return b"NO NAME    ".to_vec();
    }
    let mut out = label.to_vec();
    out[end..].fill(b' ');
    out
}

/// Bytes in hexadecimal, for reports.
pub fn show_hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// Bytes as quoted text, for reports.
pub fn show_text(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

/// A stored GUID in text form, for reports.
pub fn show_guid(b: &[u8]) -> String {
    let mut g = [0u8; 16];
    g.copy_from_slice(&b[..16]);
    guid_text(&g)
}

fn show_u32(b: &[u8]) -> String {
    match u32::from_le_bytes([b[0], b[1], b[2], b[3]]) {
        UNKNOWN => "unknown".to_owned(),
        n => n.to_string(),
    }
}
