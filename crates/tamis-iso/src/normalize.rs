//! The normalizer: every field of a hybrid image that depends on when or where it was built,
//! rewritten in place from the epoch. No data moves and no length changes: the image is
//! validated whole and the patches planned first; only then are they written, each a few bytes
//! at an offset the validation read.
//!
//! Fields (see `docs/iso.md` for why each varies):
//! - every volume descriptor's (primary, Joliet, enhanced) creation, modification and
//!   effective dates, clamped to the epoch; the expiration date made "not specified";
//! - the recording date of every directory record of every tree (primary, Joliet, enhanced;
//!   also the trees of a second volume written for `-partition_offset`), clamped;
//! - every Rock Ridge `TF` time (creation, modification, access, attributes, backup,
//!   expiration, effective), following `CE` continuation areas, clamped;
//! - the MBR disk signature, the GPT disk GUID and partition GUIDs in both GPT copies, and the
//!   CRCs of both headers and both entry arrays: derived from the epoch (or given);
//! - in every EFI FAT image (found through the El Torito catalog's EFI entries, MBR partitions
//!   of type 0xEF and GPT EFI System partitions): the volume serial (derived), the label's
//!   padding (spaces), and the creation, modification and access times of every directory
//!   entry, clamped;
//! - in an HFS+ file system (`grub-mkrescue` adds one for Macs): the dates of both volume
//!   headers and of every catalog record, clamped;
//! - last, the MD5 checksum tags xorriso writes with `-md5 on`, recomputed over the image as
//!   patched.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tamis_core::{Epoch, Mode, Timestamp};

use crate::date;
use crate::eltorito::{self, PLATFORM_EFI};
use crate::error::{Parse, Result, corrupt};
use crate::hfsplus;
use crate::iso9660::{self, Descriptor, Record, Volume, kind};
use crate::md5tags;
use crate::source::{Source, inside, le32, read};
use tamis_disk::gpt::{ESP_TYPE, HFS_TYPE};
use tamis_disk::mbr::SECTOR;
use tamis_disk::patch::{Sink, plan_fat, plan_gpt, show_hex};
use tamis_disk::{Fat, Gpt, Mbr};

/// What the normalizer does with identifiers and dates.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Dates later than it become it; identifiers derive from it.
    pub epoch: Epoch,
    /// The GPT disk GUID to write (as stored), instead of one derived from the epoch; partition
    /// GUIDs, the MBR signature and FAT serials then derive from it.
    pub disk_guid: Option<[u8; 16]>,
    /// The MBR disk signature to write instead of a derived one.
    pub mbr_signature: Option<u32>,
    /// The FAT volume serial to write instead of a derived one.
    pub fat_serial: Option<u32>,
}

impl Options {
    /// Options for `epoch`: every identifier derived from it.
    pub fn new(epoch: Epoch) -> Self {
        Self { epoch, disk_guid: None, mbr_signature: None, fat_serial: None }
    }
}

pub use tamis_disk::Patch;

/// What the normalizer found and what it changes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// Fields looked at.
    pub examined: u64,
    /// ISO 9660 volumes (2 when xorriso wrote a second superblock for a partition offset).
    pub volumes: usize,
    /// Directory trees walked (primary, Joliet, enhanced, per volume).
    pub trees: usize,
    /// Directory records seen.
    pub records: u64,
    /// EFI FAT file systems normalized.
    pub fat_images: usize,
    /// HFS+ file systems normalized (`grub-mkrescue` adds one for Macs).
    pub hfs_volumes: usize,
    /// Whether a GPT was found (and both its copies normalized).
    pub gpt: bool,
    /// The fields that differ from their normalized value, by offset.
    pub patches: Vec<Patch>,
    /// Things found and left alone, for people (an EFI boot entry that is not a FAT image).
    pub notes: Vec<String>,
}

/// Where the normalizer's state lives while it plans.
struct Planner<'a> {
    src: &'a dyn Source,
    options: &'a Options,
    seed: Vec<u8>,
    plan: Plan,
    patched: BTreeSet<u64>,
}

impl Planner<'_> {
    /// Records that the bytes at `offset` (now `old`) should be `new`.
    fn set(&mut self, offset: u64, old: &[u8], new: &[u8], location: &str, field: &str, show: fn(&[u8]) -> String) {
        self.plan.examined += 1;
        if old == new || !self.patched.insert(offset) {
            return;
        }
        self.plan.patches.push(Patch {
            offset,
            location: location.to_owned(),
            field: field.to_owned(),
            before: show(old),
            after: show(new),
            old: old.to_vec(),
            new: new.to_vec(),
        });
    }

    /// 32 bytes derived from the seed and a role: the same image and epoch always give the same.
    fn derive(&self, role: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"tamis-iso\0");
        h.update(&self.seed);
        h.update(b"\0");
        h.update(role.as_bytes());
        h.finalize().into()
    }

    fn guid(&self, role: &str) -> [u8; 16] {
        let mut g = [0u8; 16];
        g.copy_from_slice(&self.derive(role)[..16]);
        g[7] = (g[7] & 0x0F) | 0x40; // version 4 (stored little-endian: high byte of the third group)
        g[8] = (g[8] & 0x3F) | 0x80; // RFC 4122 variant
        g
    }

    fn date7(&mut self, offset: u64, old: [u8; 7], location: &str, field: &str) {
        let new = date::clamp7(old, self.options.epoch);
        self.set(offset, &old, &new, location, field, show7);
    }

    fn date17(&mut self, offset: u64, old: [u8; 17], location: &str, field: &str) {
        let new = date::clamp17(old, self.options.epoch);
        self.set(offset, &old, &new, location, field, show17);
    }

    fn descriptor(&mut self, d: &Descriptor) {
        let location = d.name();
        for (at, field) in [(813, "creation date"), (830, "modification date"), (864, "effective date")] {
            self.date17(d.offset + at, bytes17(&d.bytes[at as usize..]), location, field);
        }
        let expiration = bytes17(&d.bytes[847..]);
        let new = if date::decode17(expiration).is_some() { date::UNSPECIFIED17 } else { expiration };
        self.set(d.offset + 847, &expiration, &new, location, "expiration date", show17);
    }

    fn tree(&mut self, volume: &Volume, d: &Descriptor) -> Parse<()> {
        let root = d.root()?;
        let tree = if d.is_joliet() {
            "joliet"
        } else if d.kind == kind::PRIMARY {
            "primary"
        } else {
            "enhanced"
        };
        self.plan.trees += 1;
        self.date7(root.date_offset(), root.date, d.name(), "root directory record date");
        let root_dot = iso9660::read_directory(self.src, volume, root.extent, root.size)?.swap_remove(0);
        let skip = iso9660::susp_skip(&root_dot);
        let joliet = d.is_joliet();
        iso9660::walk(self.src, volume, &root, |visit| {
            for (i, r) in visit.records.iter().enumerate() {
                self.plan.records += 1;
                let location = format!("{tree}:{}", record_path(&visit.path, r, joliet));
                if !r.is_dir() && r.size > 0 {
                    inside(self.src, volume.at(r.extent), r.size.into(), &format!("{location}: file data"))?;
                }
                self.date7(r.date_offset(), r.date, &location, "recording date");
                if let Some(skip) = skip {
                    let is_root_dot = visit.path.is_empty() && i == 0;
                    self.rock_ridge(volume, r, if is_root_dot { 0 } else { skip }, &location)?;
                }
            }
            Ok(())
        })
    }

    fn rock_ridge(&mut self, volume: &Volume, r: &Record, skip: usize, location: &str) -> Parse<()> {
        const NAMES: [&str; 7] =
            ["creation", "modification", "access", "attributes", "backup", "expiration", "effective"];
        for e in iso9660::su_entries(self.src, volume, r, skip)? {
            if &e.signature != b"TF" || e.bytes.len() < 5 {
                continue;
            }
            let flags = e.bytes[4];
            let width = if flags & 0x80 != 0 { 17 } else { 7 };
            let mut pos = 5;
            for (bit, name) in NAMES.iter().enumerate() {
                if flags & (1 << bit) == 0 {
                    continue;
                }
                let Some(field) = e.bytes.get(pos..pos + width) else {
                    return Err(corrupt(format!("TF entry at offset {}: shorter than its flags say", e.offset)));
                };
                let field_name = format!("Rock Ridge TF {name} time");
                if width == 7 {
                    self.date7(e.offset + pos as u64, bytes7(field), location, &field_name);
                } else {
                    self.date17(e.offset + pos as u64, bytes17(field), location, &field_name);
                }
                pos += width;
            }
        }
        Ok(())
    }

    /// Checks that what a primary or supplementary descriptor declares lies inside the image:
    /// the volume (its space size) and the path tables. The directories are checked as they are
    /// read, the file data as the trees are walked.
    fn extents(&self, volume: &Volume, d: &Descriptor) -> Parse<()> {
        let name = d.name();
        let blocks = iso9660::both32(&d.bytes, 80)
            .ok_or_else(|| corrupt(format!("{name}: volume space size fields disagree")))?;
        inside(
            self.src,
            volume.base,
            u64::from(blocks) * iso9660::BLOCK,
            &format!("{name}: the volume ({blocks} blocks)"),
        )?;
        let size = iso9660::both32(&d.bytes, 132)
            .ok_or_else(|| corrupt(format!("{name}: path table size fields disagree")))?;
        let be32 = |at: usize| u32::from_be_bytes([d.bytes[at], d.bytes[at + 1], d.bytes[at + 2], d.bytes[at + 3]]);
        let tables = [
            (le32(&d.bytes, 140), "type L path table"),
            (le32(&d.bytes, 144), "optional type L path table"),
            (be32(148), "type M path table"),
            (be32(152), "optional type M path table"),
        ];
        for (lba, what) in tables {
            if lba != 0 {
                inside(self.src, volume.at(lba), size.into(), &format!("{name}: {what}"))?;
            }
        }
        Ok(())
    }

    fn mbr(&mut self, signature: u32) {
        if signature == 0 {
            return; // none was written: there is nothing that varies
        }
        let derived = self.derive("mbr-signature");
        let new =
            self.options.mbr_signature.unwrap_or(u32::from_le_bytes([derived[0], derived[1], derived[2], derived[3]]));
        self.set(440, &signature.to_le_bytes(), &new.to_le_bytes(), "MBR", "disk signature", show_hex);
    }

    fn gpt(&mut self, gpt: &Gpt) {
        self.plan.gpt = true;
        let disk = self.options.disk_guid.unwrap_or_else(|| self.guid("gpt-disk"));
        let guids: Vec<[u8; 16]> =
            (0..gpt.entry_count()).map(|index| self.guid(&format!("gpt-partition-{index}"))).collect();
        plan_gpt(gpt, disk, |index| guids[index], self);
    }

    fn hfs_plus(&mut self, offset: u64) -> Parse<()> {
        self.plan.hfs_volumes += 1;
        let location = format!("HFS+@{offset}");
        let epoch = u32::try_from(self.options.epoch.secs() + hfsplus::HFS_EPOCH_OFFSET).unwrap_or(u32::MAX);
        for date in hfsplus::dates(self.src, offset)? {
            let new = if date.value > epoch { epoch } else { date.value };
            self.set(
                date.offset,
                &date.value.to_be_bytes(),
                &new.to_be_bytes(),
                &location,
                &format!("HFS+ {}", date.what),
                show_hfs,
            );
        }
        Ok(())
    }

    fn fat(&mut self, fat: &Fat, number: usize) -> Parse<()> {
        self.plan.fat_images += 1;
        let location = format!("EFI FAT@{}", fat.offset);
        let derived = self.derive(&format!("fat-serial-{number}"));
        let serial =
            self.options.fat_serial.unwrap_or(u32::from_le_bytes([derived[0], derived[1], derived[2], derived[3]]));
        plan_fat(self.src, fat, self.options.epoch, serial, &location, self)?;
        Ok(())
    }
}

impl Sink for Planner<'_> {
    fn set(&mut self, offset: u64, old: &[u8], new: &[u8], location: &str, field: &str, show: fn(&[u8]) -> String) {
        Planner::set(self, offset, old, new, location, field, show);
    }

    fn examined(&mut self) {
        self.plan.examined += 1;
    }
}

fn bytes7(b: &[u8]) -> [u8; 7] {
    let mut out = [0u8; 7];
    out.copy_from_slice(&b[..7]);
    out
}

fn bytes17(b: &[u8]) -> [u8; 17] {
    let mut out = [0u8; 17];
    out.copy_from_slice(&b[..17]);
    out
}

fn show7(b: &[u8]) -> String {
    date::decode7(bytes7(b)).map_or_else(|| show_hex(b), |t| Timestamp::from_secs(t).to_string())
}

fn show17(b: &[u8]) -> String {
    date::decode17(bytes17(b)).map_or_else(|| "not specified".to_owned(), |(t, _)| Timestamp::from_secs(t).to_string())
}

fn show_hfs(b: &[u8]) -> String {
    let secs = i64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    if secs == 0 { "not set".to_owned() } else { Timestamp::from_secs(secs - hfsplus::HFS_EPOCH_OFFSET).to_string() }
}

/// A record's path for messages: the directory's path and the identifier, without `;1`.
fn record_path(dir: &[Vec<u8>], r: &Record, joliet: bool) -> String {
    let text = |n: &[u8]| match n {
        [0] => ".".to_owned(),
        [1] => "..".to_owned(),
        n if joliet => {
            String::from_utf16_lossy(&n.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect::<Vec<_>>())
        }
        n => String::from_utf8_lossy(n).into_owned(),
    };
    let mut out = String::new();
    for component in dir.iter().map(Vec::as_slice).chain([r.name.as_slice()]) {
        let name = text(component);
        out.push('/');
        out.push_str(name.strip_suffix(";1").unwrap_or(&name));
    }
    out
}

/// Whether an ISO 9660 volume starts at `base` (`CD001` at byte 32769 past it).
pub(crate) fn has_volume(src: &dyn Source, base: u64) -> bool {
    base.checked_add(DESCRIPTOR_MAGIC_AT + 5).is_some_and(|end| end <= src.len())
        && read(src, base + DESCRIPTOR_MAGIC_AT, 5, "volume descriptor").is_ok_and(|m| m == b"CD001")
}

const DESCRIPTOR_MAGIC_AT: u64 = iso9660::DESCRIPTORS + 1;

/// Plans the normalization of the image in `src`: validates all of it, writes nothing.
pub(crate) fn plan(src: &dyn Source, options: &Options) -> Parse<Plan> {
    if !has_volume(src, 0) {
        return Err(corrupt("not an ISO 9660 image (no CD001 at byte 32769)"));
    }
    let seed = options.disk_guid.map_or_else(|| options.epoch.secs().to_string().into_bytes(), |g| g.to_vec());
    let mut p = Planner { src, options, seed, plan: Plan::default(), patched: BTreeSet::new() };

    // The partition tables first: they name where further volumes and the EFI images are.
    let mut bases = vec![0u64];
    let mut fat_candidates = BTreeSet::new();
    let mut hfs_volumes = BTreeSet::new();
    if let Some(mbr) = Mbr::read(src)? {
        p.mbr(mbr.signature);
        for (number, part) in mbr.partitions.into_iter().enumerate() {
            let start = part.start * SECTOR;
            inside(src, start, part.sectors * SECTOR, &format!("MBR partition {}", number + 1))?;
            if part.kind == 0xEF {
                fat_candidates.insert(start);
            } else if start != 0 && has_volume(src, start) {
                bases.push(start);
            }
        }
    }
    if let Some(table) = Gpt::read(src)? {
        p.gpt(&table);
        for part in table.partitions() {
            let Some(start) = part.first.checked_mul(SECTOR) else { continue };
            let sectors = part.last.checked_add(1).and_then(|end| end.checked_sub(part.first));
            let what = format!("GPT partition {}", part.index + 1);
            let Some(sectors) = sectors else { return Err(corrupt(format!("{what}: ends before it starts"))) };
            inside(src, start, sectors.saturating_mul(SECTOR), &what)?;
            if part.type_guid == ESP_TYPE {
                fat_candidates.insert(start);
            } else if part.type_guid == HFS_TYPE && hfsplus::is_hfs_plus(src, start) {
                hfs_volumes.insert(start);
            } else if start != 0 && has_volume(src, start) {
                bases.push(start);
            }
        }
    }
    bases.sort_unstable();
    bases.dedup();

    for &base in &bases {
        let volume = Volume::read(src, base)?;
        p.plan.volumes += 1;
        if let Some(lba) = volume.boot_catalog() {
            for image in eltorito::read_catalog(src, &volume, lba)? {
                let what = format!("El Torito boot image at block {}", (image.offset - volume.base) / iso9660::BLOCK);
                inside(src, image.offset, u64::from(image.sectors.max(1)) * 512, &what)?;
                if image.platform == PLATFORM_EFI {
                    fat_candidates.insert(image.offset);
                }
            }
        }
        for d in &volume.descriptors {
            if matches!(d.kind, kind::PRIMARY | kind::SUPPLEMENTARY) {
                p.extents(&volume, d)?;
                p.descriptor(d);
                p.tree(&volume, d)?;
            }
        }
    }

    for (number, &offset) in fat_candidates.iter().enumerate() {
        match Fat::open(src, offset)? {
            Some(fat) => p.fat(&fat, number)?,
            None => p.plan.notes.push(format!("the EFI boot image at offset {offset} is not a FAT file system")),
        }
    }
    for &offset in &hfs_volumes {
        p.hfs_plus(offset)?;
    }
    p.plan.patches.sort_by_key(|patch| patch.offset);
    // Last: the MD5 tags over the blocks as patched (nothing to do when xorriso wrote none).
    for &base in &bases {
        let tags = md5tags::find(src, base)?;
        p.plan.examined += tags.len() as u64;
        md5tags::recompute(src, base, &tags, &mut p.plan.patches)?;
    }
    Ok(p.plan)
}

/// Normalizes the image at `path` in place (or, with [`Mode::Check`], only says what would
/// change). The whole image is validated before the first byte is written: a corrupt image is
/// an error and is left untouched.
pub fn normalize_file(path: &Path, options: &Options, mode: Mode) -> Result<Plan> {
    let file = tamis_disk::open_image(path, mode)?;
    let plan = plan(&file, options).map_err(|f| f.at(path))?;
    if mode == Mode::Apply {
        tamis_disk::write_patches(path, &file, &plan.patches)?;
    }
    Ok(plan)
}

/// Normalizes an image held in memory (tests, fuzzing): the plan, and the bytes patched.
pub fn normalize_bytes(image: &mut [u8], options: &Options) -> Result<Plan> {
    let src: &[u8] = image;
    let plan = plan(&src, options).map_err(|f| f.at(Path::new("image")))?;
    for patch in &plan.patches {
        let at = patch.offset as usize;
        image[at..at + patch.new.len()].copy_from_slice(&patch.new);
    }
    Ok(plan)
}
