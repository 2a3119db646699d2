//! The disk normalizer: a raw disk image (a USB image, a cloud or board image) patched in
//! place so that two builds of the same content give the same bytes, whatever tools made it.
//!
//! Fields rewritten (see `docs/disk.md` for why each varies):
//! - the MBR disk signature (when one is set), derived from the epoch;
//! - the GPT disk GUID and each partition's unique GUID in both copies, derived from the epoch
//!   and the partition's index and type (kept with [`Options::keep_guids`]), and the CRCs of
//!   both headers and both entry arrays;
//! - in every FAT partition: see [`crate::patch::plan_fat`] (serial, label padding, entry times,
//!   `FSInfo` hints).
//!
//! Partitions of other kinds are left as they are and named in the plan. The whole image is
//! validated before the first byte is written; only the planned fields (all in metadata
//! sectors) are written, each after checking it still holds the bytes the plan read.

use std::fs::File;
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tamis_core::{Epoch, Mode};

use crate::error::{Error, Fault, Parse, Result, corrupt};
use crate::fat::Fat;
use crate::gpt::Gpt;
use crate::guid::guid_text;
use crate::mbr::{self, Mbr, SECTOR};
use crate::patch::{Patch, Patches, Sink as _, plan_fat, plan_gpt, show_hex};
use crate::source::{Source, inside, read};

/// What the normalizer does with identifiers and dates.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Options {
    /// Times later than it become it; identifiers derive from it.
    pub epoch: Epoch,
    /// Leave the GPT disk and partition GUIDs as they are (the CRCs are still checked).
    pub keep_guids: bool,
}

impl Options {
    /// Options for `epoch`: every identifier derived from it.
    pub fn new(epoch: Epoch) -> Self {
        Self { epoch, keep_guids: false }
    }

    /// Leave (`true`) or derive (`false`) the GPT disk and partition GUIDs.
    #[must_use]
    pub fn with_keep_guids(mut self, keep: bool) -> Self {
        self.keep_guids = keep;
        self
    }
}

/// A partition found, and what was done with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionReport {
    /// Its number (1-based), in the table it comes from.
    pub number: usize,
    /// `gpt` or `mbr`.
    pub table: &'static str,
    /// Absolute byte offset.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// The type: a GUID for GPT, `0xNN` for MBR.
    pub kind: String,
    /// The GPT partition name (empty for MBR).
    pub name: String,
    /// `FAT12`, `FAT16`, `FAT32` when it holds one that was normalized.
    pub file_system: Option<String>,
    /// Directory entries seen in its FAT file system.
    pub entries: usize,
    /// Why it was left as it is, when it was.
    pub left: Option<String>,
}

/// What the normalizer found and what it changes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// The image's length in bytes.
    pub length: u64,
    /// Fields looked at.
    pub examined: u64,
    /// Whether a GPT was found (and both its copies validated).
    pub gpt: bool,
    /// The partitions, in table order.
    pub partitions: Vec<PartitionReport>,
    /// The fields that differ from their normalized value, by offset.
    pub patches: Vec<Patch>,
}

impl Plan {
    /// The partitions left as they are.
    pub fn left(&self) -> impl Iterator<Item = &PartitionReport> {
        self.partitions.iter().filter(|p| p.left.is_some())
    }
}

/// 32 bytes derived from the epoch and a role: the same epoch always gives the same.
fn derive(epoch: Epoch, role: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"tamis-disk\0");
    h.update(epoch.secs().to_string().as_bytes());
    h.update(b"\0");
    h.update(role.as_bytes());
    h.finalize().into()
}

/// A version-4 GUID (as GPT stores it) derived from the epoch and a role.
pub fn derived_guid(epoch: Epoch, role: &str) -> [u8; 16] {
    let mut g = [0u8; 16];
    g.copy_from_slice(&derive(epoch, role)[..16]);
    g[7] = (g[7] & 0x0F) | 0x40; // version 4 (stored little-endian: high byte of the third group)
    g[8] = (g[8] & 0x3F) | 0x80; // RFC 4122 variant
    g
}

fn derived_u32(epoch: Epoch, role: &str) -> u32 {
    let d = derive(epoch, role);
    u32::from_le_bytes([d[0], d[1], d[2], d[3]])
}

/// A partition to look into: where, and how to name it.
struct Slot {
    report: PartitionReport,
}

/// Plans the normalization of the disk image in `src`: validates all of it, writes nothing.
pub fn plan(src: &dyn Source, options: &Options) -> Parse<Plan> {
    let Some(mbr) = Mbr::read(src)? else {
        return Err(corrupt(format!(
            "MBR at offset 0: no boot signature 0x55AA at offset 510 (image of {} bytes)",
            src.len()
        )));
    };
    let epoch = options.epoch;
    let mut patches = Patches::default();
    if let Some(slot) = bare_fat(src, &mbr) {
        return plan_slots(src, epoch, vec![slot], patches, false);
    }
    if mbr.signature != 0 {
        let new = derived_u32(epoch, "mbr-signature");
        patches.set(
            mbr::SIGNATURE_AT,
            &mbr.signature.to_le_bytes(),
            &new.to_le_bytes(),
            "MBR",
            "disk signature",
            show_hex,
        );
    }
    // A GPT, when sector 1 holds one, is the table that counts, behind a protective MBR or a
    // hybrid one (an isohybrid image, a Mac's): its partitions are the ones looked into.
    let gpt = Gpt::read(src)?;
    let mut slots = Vec::new();
    if let Some(gpt) = &gpt {
        gpt.check_partitions(src)?;
        let parts = gpt.partitions();
        if !options.keep_guids {
            let disk = derived_guid(epoch, "gpt-disk");
            let types: Vec<[u8; 16]> = (0..gpt.entry_count())
                .map(|i| parts.iter().find(|p| p.index == i).map_or([0; 16], |p| p.type_guid))
                .collect();
            let guid = |i: usize| derived_guid(epoch, &format!("gpt-partition-{}-{}", i + 1, guid_text(&types[i])));
            plan_gpt(gpt, disk, guid, &mut patches);
        }
        for p in parts {
            slots.push(Slot {
                report: PartitionReport {
                    number: p.index + 1,
                    table: "gpt",
                    offset: p.start(),
                    length: p.len(),
                    kind: guid_text(&p.type_guid),
                    name: p.name.clone(),
                    file_system: None,
                    entries: 0,
                    left: None,
                },
            });
        }
    } else {
        for p in &mbr.partitions {
            let number = p.index + 1;
            let what = format!("MBR partition {number} (entry at offset {})", 446 + p.index * 16);
            let offset = p.start * SECTOR;
            inside(src, offset, p.sectors * SECTOR, &what)?;
            let left = (p.kind == mbr::PROTECTIVE || p.is_extended())
                .then(|| "an extended or protective partition: its contents are not read".to_owned());
            slots.push(Slot {
                report: PartitionReport {
                    number,
                    table: "mbr",
                    offset,
                    length: p.sectors * SECTOR,
                    kind: format!("{:#04x}", p.kind),
                    name: String::new(),
                    file_system: None,
                    entries: 0,
                    left,
                },
            });
        }
    }
    plan_slots(src, epoch, slots, patches, gpt.is_some())
}

/// A file system without a partition table (a "superfloppy": `mkfs.fat -C`, an EFI image):
/// sector 0 is a FAT boot sector, whose 0x55AA made it look like an MBR, but whose bytes 440 to
/// 509 are boot code, not a disk signature and partitions. Only when the MBR reading finds no
/// partition that is not empty and fits in the image: a partitioned disk whose first sector
/// happens to parse as a FAT boot sector stays a partitioned disk.
fn bare_fat(src: &dyn Source, mbr: &Mbr) -> Option<Slot> {
    let fits = |p: &mbr::MbrPartition| {
        p.sectors > 0
            && p.start
                .checked_add(p.sectors)
                .and_then(|end| end.checked_mul(SECTOR))
                .is_some_and(|end| end <= src.len())
    };
    if mbr.partitions.iter().any(fits) || Gpt::read(src).ok().flatten().is_some() {
        return None;
    }
    // Not a FAT boot sector, or not a valid one: the image is read as a disk, as before.
    let Ok(Some(_)) = Fat::open(src, 0) else { return None };
    Some(Slot {
        report: PartitionReport {
            number: 1,
            table: "none",
            offset: 0,
            length: src.len(),
            kind: "whole image".to_owned(),
            name: String::new(),
            file_system: None,
            entries: 0,
            left: None,
        },
    })
}

/// Looks into each of `slots` (normalizing its FAT file system, or saying why it is left) and
/// makes the plan.
fn plan_slots(src: &dyn Source, epoch: Epoch, mut slots: Vec<Slot>, mut patches: Patches, gpt: bool) -> Parse<Plan> {
    for slot in &mut slots {
        let r = &mut slot.report;
        if r.left.is_some() {
            continue;
        }
        match Fat::open(src, r.offset)? {
            Some(fat) => {
                if fat.offset + 512 > r.offset + r.length {
                    return Err(corrupt(format!("partition {}: too small for its FAT file system", r.number)));
                }
                let location = format!("partition {} FAT@{}", r.number, r.offset);
                let serial = derived_u32(epoch, &format!("fat-serial-{}", r.number));
                let summary = plan_fat(src, &fat, epoch, serial, &location, &mut patches)?;
                r.file_system = Some(format!("FAT{}", summary.bits));
                r.entries = summary.entries;
            }
            None => r.left = Some(not_fat(src, r.offset)),
        }
    }
    let mut list = patches.list;
    list.sort_by_key(|p| p.offset);
    Ok(Plan {
        length: src.len(),
        examined: patches.examined,
        gpt,
        partitions: slots.into_iter().map(|s| s.report).collect(),
        patches: list,
    })
}

/// Why a partition that is not FAT is left: what it appears to hold.
fn not_fat(src: &dyn Source, offset: u64) -> String {
    let magic = |at: u64, len: u64| read(src, offset + at, len, "superblock").ok();
    let kind = if magic(1080, 2).is_some_and(|m| m == [0x53, 0xEF]) {
        "an ext2/3/4 file system"
    } else if magic(0, 4).is_some_and(|m| m == b"hsqs") {
        "a squashfs image"
    } else if magic(32769, 5).is_some_and(|m| m == b"CD001") {
        "an ISO 9660 volume"
    } else {
        "not a FAT file system"
    };
    format!("{kind}: not normalized (only FAT is)")
}

/// Normalizes the disk image at `path` in place (or, with [`Mode::Check`], only says what
/// would change). The whole image is validated before the first byte is written: a corrupt
/// image is an error and is left untouched.
pub fn normalize_file(path: &Path, options: &Options, mode: Mode) -> Result<Plan> {
    let file = open_image(path, mode)?;
    let plan = plan(&file, options).map_err(|f| f.at(path))?;
    if mode == Mode::Apply {
        write_patches(path, &file, &plan.patches)?;
    }
    Ok(plan)
}

/// Opens the image at `path` to be patched in place (read only with [`Mode::Check`]): a
/// regular file, never a FIFO or a device (which could hang the open or be a whole disk).
///
/// # Errors
/// When it cannot be opened, or is not a regular file.
pub fn open_image(path: &Path, mode: Mode) -> Result<File> {
    let io = |op, source| Error::Io { path: path.to_owned(), op, source };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(mode == Mode::Apply)
        // A FIFO named as an image must not hang the open (it is then refused: not a file).
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| io("open", e))?;
    if !file.metadata().map_err(|e| io("stat", e))?.is_file() {
        return Err(Error::Corrupt { path: path.to_owned(), reason: "not a regular file".into() });
    }
    Ok(file)
}

/// Writes `patches` into `file` (the image at `path`, opened by [`open_image`]) in place,
/// whole or not at all when interrupted (a signal handler waits for the write to end), after
/// checking once more that every field still holds the bytes the plan was made from (another
/// writer would make the plan stale); then syncs it.
///
/// # Errors
/// When a field changed since the plan (nothing is written), or writing fails.
pub fn write_patches(path: &Path, file: &File, patches: &[Patch]) -> Result<()> {
    if patches.is_empty() {
        return Ok(());
    }
    let io = |op, source| Error::Io { path: path.to_owned(), op, source };
    let mut applied = Ok(());
    tamis_core::temp::commit(|| {
        applied = apply(file, patches);
        Ok(())
    })
    .map_err(|e| io("patch", e))?;
    applied.map_err(|f| f.at(path))?;
    file.sync_data().map_err(|e| io("sync", e))
}

fn apply(file: &File, patches: &[Patch]) -> Parse<()> {
    for patch in patches {
        let now = read(file, patch.offset, patch.old.len() as u64, "patched field")?;
        if now != patch.old {
            return Err(corrupt(format!("offset {}: changed while being normalized", patch.offset)));
        }
    }
    for patch in patches {
        file.write_all_at(&patch.new, patch.offset).map_err(Fault::Io)?;
    }
    Ok(())
}

/// Normalizes an image held in memory (tests, fuzzing, explanations): the plan, and the bytes
/// patched.
///
/// # Errors
/// [`Fault::Corrupt`] naming the structure and offset when the image is not valid; the bytes
/// are then left as they were.
pub fn normalize_bytes(image: &mut [u8], options: &Options) -> Parse<Plan> {
    let src: &[u8] = image;
    let plan = plan(&src, options)?;
    for patch in &plan.patches {
        let at = patch.offset as usize;
        image[at..at + patch.new.len()].copy_from_slice(&patch.new);
    }
    Ok(plan)
}
