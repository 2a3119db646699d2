//! zip archives: `.zip`, `.jar`, `.war`, `omni.ja`, Python wheels, ….
//!
//! Every entry stores its time up to four ways — the MS-DOS date and time of its local header
//! and of its central directory record, and the extra fields `UT` (0x5455, Unix seconds), `UX`
//! (0x5855, the old Info-ZIP Unix field) and NTFS (0x000a, 100 ns since 1601) — plus the
//! builder's uid/gid (`ux`, 0x7875) and umask (the Unix mode in the external attributes), and
//! the order in which the builder's file system listed the files. This handler:
//!
//! - applies the [policy](crate::TimePolicy) to every time (MS-DOS times read as UTC), in the
//!   local header and the central directory alike;
//! - sets `ux` uid and gid to 0, and Unix modes to 644, or 755 if the owner may execute (as
//!   `strip-nondeterminism` does), keeping the file type bits;
//! - puts entries in a canonical order: `mimetype` first (OpenDocument and EPUB need it
//!   there), then `META-INF/` and `META-INF/MANIFEST.MF` (where `java.util.jar.JarInputStream`
//!   looks for the manifest), then every other name by its bytes;
//! - moves each entry's local record (header, compressed data, data descriptor) as a block and
//!   rewrites the central directory's offsets. Nothing is decompressed or recompressed, and the
//!   archive's size does not change.
//!
//! Bytes before the first entry are kept as they are: the `#!` line of a Python zip application
//! (`python3 -m zipapp`, recognised when a script ends as a zip does) and the 4-byte header of a
//! jmod file (`jmod create`), whose offsets count from after that header; both conventions are
//! read from the end record and kept.
//!
//! Left as they are on purpose, and said so in the report (not a problem): Android packages
//! (`.apk`, whatever their name), recognised by an APK Signing Block or by their entries (see
//! `android_package`), and signed jars (a `META-INF/NAME.SF` signature file, as
//! strip-nondeterminism recognises them); rewriting one breaks its signature or its alignment.
//!
//! Not rewritten (the file is reported and left as it is): zip64 archives, archives split over
//! disks, data between the central directory and its end record, and encrypted entries
//! (traditional encryption checks the password against the MS-DOS time).

use std::path::Path;

use crate::time::{from_dos, to_dos};
use crate::{Format, FormatError, Handler, Settings, le16, le32};

/// The zip handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct Zip;

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const END_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const LOCAL_LEN: usize = 30;
/// General purpose flag: sizes and CRC follow the data instead of being in the header.
const DATA_DESCRIPTOR: u16 = 1 << 3;
/// A jmod file (`jmod create`) is a zip after these 4 bytes, its offsets counted after them.
const JMOD_MAGIC: &[u8] = b"JM\x01\x00";
const CENTRAL_LEN: usize = 46;
const END_LEN: usize = 22;
/// The last 16 bytes of an APK Signing Block, which ends where the central directory starts.
const APK_SIG_BLOCK_MAGIC: &[u8; 16] = b"APK Sig Block 42";
/// Seconds from 1601-01-01 (NTFS times) to 1970-01-01.
const NTFS_TO_UNIX: i64 = 11_644_473_600;

/// One entry: its central directory record and its local record.
#[derive(Debug, Clone)]
struct Entry {
    /// The central directory record: offset and length in the file.
    central: (usize, usize),
    /// The local record (header, data, descriptor): offset and length.
    local: (usize, usize),
    name: (usize, usize),
    /// The least length the local record must have: header, name, extra field, data.
    needed: usize,
}

/// The parsed layout of an archive. Every offset here is a position in the file.
struct Layout {
    entries: Vec<Entry>,
    /// Where the archive's offsets count from: 0, or the length of a prefix that the offsets
    /// do not count (a jmod's `JM` header).
    base: usize,
    /// Where the first entry starts: what comes before (a `#!` line, a jmod header) is kept.
    start: usize,
    /// Where the central directory starts.
    cd_offset: usize,
    end: usize,
}

impl Handler for Zip {
    fn format(&self) -> Format {
        Format::Zip
    }

    fn what(&self) -> &'static str {
        "zip entries: times, owners, modes, order"
    }

    fn matches(&self, _path: &Path, head: &[u8]) -> bool {
        let local = LOCAL_SIG.to_le_bytes();
        head.starts_with(&local)
            || head.starts_with(JMOD_MAGIC) && head[JMOD_MAGIC.len()..].starts_with(&local)
            || head.starts_with(b"#!")
    }

    fn normalize(&self, bytes: &[u8], settings: &Settings) -> Result<Option<Vec<u8>>, FormatError> {
        // A script is looked at only if it ends as a zip does (a Python zip application).
        if bytes.starts_with(b"#!") && find_end(bytes).is_err() {
            return Ok(None);
        }
        let layout = parse(bytes)?;
        if let Some(why) = android_package(bytes, &layout) {
            return Err(FormatError::LeftAlone(why));
        }
        if layout.entries.iter().any(|e| is_signature_file(&bytes[e.name.0..e.name.1])) {
            return Err(FormatError::LeftAlone(
                "a signed jar (META-INF/*.SF): its signature digests the manifest and every entry, as strip-nondeterminism leaves it",
            ));
        }
        let mut order: Vec<&Entry> = layout.entries.iter().collect();
        order.sort_by(|a, b| sort_key(&bytes[a.name.0..a.name.1]).cmp(&sort_key(&bytes[b.name.0..b.name.1])));
        let mut out = Vec::with_capacity(bytes.len());
        out.extend_from_slice(&bytes[..layout.start]);
        let mut offsets = Vec::with_capacity(order.len());
        let mut rewritten = Vec::with_capacity(order.len());
        for entry in &order {
            offsets.push(out.len() - layout.base);
            let start = out.len();
            let record = &bytes[entry.local.0..entry.local.0 + entry.local.1];
            let text = rewrite_text(bytes, entry, record)?;
            match &text {
                Some(new) => out.extend_from_slice(&new.local),
                None => out.extend_from_slice(record),
            }
            normalize_local(&mut out[start..], settings);
            rewritten.push(text);
        }
        let cd_offset = out.len();
        for ((entry, offset), text) in order.iter().zip(offsets).zip(&rewritten) {
            let start = out.len();
            out.extend_from_slice(&bytes[entry.central.0..entry.central.0 + entry.central.1]);
            if let Some(new) = text {
                new.patch_central(&mut out[start..]);
            }
            normalize_central(&mut out[start..], settings, offset);
        }
        let end = out.len();
        out.extend_from_slice(&bytes[layout.end..]);
        if end != layout.end {
            // A rewritten entry changed the sizes: the end record says where the directory is now.
            let cd_size = (end - cd_offset) as u32;
            out[end + 12..end + 16].copy_from_slice(&cd_size.to_le_bytes());
            out[end + 16..end + 20].copy_from_slice(&((cd_offset - layout.base) as u32).to_le_bytes());
        }
        Ok((out != bytes).then_some(out))
    }
}

/// Why the archive is an Android package, which this handler leaves as it is: an APK Signing
/// Block (schemes v2 and v3: the 16-byte magic `APK Sig Block 42` ends it, just before the
/// central directory) signs the bytes of the entries and of the central directory, so any change
/// breaks it; and Android requires stored entries aligned as `zipalign` placed them, which a
/// reordering loses. An unsigned or v1-only package is recognised by its entries:
/// `AndroidManifest.xml` with `classes.dex` (code) or `resources.arsc` (resources only).
fn android_package(bytes: &[u8], layout: &Layout) -> Option<&'static str> {
    let before_directory =
        layout.cd_offset.checked_sub(APK_SIG_BLOCK_MAGIC.len()).map(|at| &bytes[at..layout.cd_offset]);
    if before_directory == Some(&APK_SIG_BLOCK_MAGIC[..]) {
        return Some("an Android package signed with an APK Signing Block (v2/v3), which signs the archive's bytes");
    }
    let has = |name: &[u8]| layout.entries.iter().any(|e| &bytes[e.name.0..e.name.1] == name);
    (has(b"AndroidManifest.xml") && (has(b"classes.dex") || has(b"resources.arsc"))).then_some(
        "an Android package (AndroidManifest.xml with classes.dex or resources.arsc), whose entries zipalign placed and whose signatures cover its bytes",
    )
}

/// Whether `name` is the signature file of a signed jar (`META-INF/NAME.SF`, as `jarsigner`
/// writes it), whose digests cover the manifest, its main section and every entry's bytes.
fn is_signature_file(name: &[u8]) -> bool {
    name.starts_with(b"META-INF/")
        && name.len() > b"META-INF/.SF".len()
        && name[name.len() - 3..].eq_ignore_ascii_case(b".SF")
        && !name[b"META-INF/".len()..].contains(&b'/')
}

/// A local record rebuilt around new contents, and what its central record must say of it.
struct Rewritten {
    /// Header, name, extra field, data; no data descriptor (sizes and CRC are in the header).
    local: Vec<u8>,
    crc: u32,
    compressed: u32,
    size: u32,
}

impl Rewritten {
    /// Points a central directory record at the new data.
    fn patch_central(&self, record: &mut [u8]) {
        let flags = u16::from_le_bytes([record[8], record[9]]) & !DATA_DESCRIPTOR;
        record[8..10].copy_from_slice(&flags.to_le_bytes());
        record[16..20].copy_from_slice(&self.crc.to_le_bytes());
        record[20..24].copy_from_slice(&self.compressed.to_le_bytes());
        record[24..28].copy_from_slice(&self.size.to_le_bytes());
    }
}

/// The entry's record rebuilt if it is a jar manifest or a properties file whose text records
/// the build (see [`crate::jar`]); `None` for every other entry and for text already normal.
/// Stored entries stay stored; deflated ones are deflated again, the only case where this
/// handler compresses anything.
fn rewrite_text(bytes: &[u8], entry: &Entry, record: &[u8]) -> Result<Option<Rewritten>, FormatError> {
    let name = &bytes[entry.name.0..entry.name.1];
    let transform: fn(&[u8]) -> Option<Vec<u8>> = if name == b"META-INF/MANIFEST.MF" {
        crate::jar::manifest
    } else if name.ends_with(b".properties") {
        crate::jar::properties
    } else {
        return Ok(None);
    };
    let at = entry.local.0;
    let flags = le16(record, 6, "zip local header")?;
    let method = le16(record, 8, "zip local header")?;
    let central = &bytes[entry.central.0..];
    let compressed = le32(central, 20, "zip central directory record")? as usize;
    let size = le32(central, 24, "zip central directory record")? as usize;
    let header_len = LOCAL_LEN + usize::from(le16(record, 26, "")?) + usize::from(le16(record, 28, "")?);
    let data = &record[header_len..header_len + compressed];
    let text = match method {
        0 => data.to_vec(),
        8 => crate::jar::inflate(data, size).ok_or(FormatError::Malformed { what: "zip entry data", offset: at })?,
        _ => return Ok(None),
    };
    if crc32fast::hash(&text) != le32(central, 16, "zip central directory record")? {
        return Err(FormatError::Malformed { what: "zip entry CRC", offset: at });
    }
    let Some(new_text) = transform(&text) else { return Ok(None) };
    let new_data = if method == 0 { new_text.clone() } else { crate::jar::deflate(&new_text) };
    let too_big = |_| FormatError::Unsupported("entry too large");
    let (crc, new_compressed, new_size) = (
        crc32fast::hash(&new_text),
        u32::try_from(new_data.len()).map_err(too_big)?,
        u32::try_from(new_text.len()).map_err(too_big)?,
    );
    let mut local = Vec::with_capacity(header_len + new_data.len());
    local.extend_from_slice(&record[..header_len]);
    local[6..8].copy_from_slice(&(flags & !DATA_DESCRIPTOR).to_le_bytes());
    local[14..18].copy_from_slice(&crc.to_le_bytes());
    local[18..22].copy_from_slice(&new_compressed.to_le_bytes());
    local[22..26].copy_from_slice(&new_size.to_le_bytes());
    local.extend_from_slice(&new_data);
    Ok(Some(Rewritten { local, crc, compressed: new_compressed, size: new_size }))
}

/// Where an entry goes: `mimetype`, `META-INF/`, `META-INF/MANIFEST.MF`, then by name.
fn sort_key(name: &[u8]) -> (u8, &[u8]) {
    let rank = match name {
        b"mimetype" => 0,
        b"META-INF/" => 1,
        b"META-INF/MANIFEST.MF" => 2,
        _ => 3,
    };
    (rank, name)
}

fn parse(bytes: &[u8]) -> Result<Layout, FormatError> {
    let end = find_end(bytes)?;
    if le16(bytes, end + 4, "zip end record")? != 0 || le16(bytes, end + 6, "zip end record")? != 0 {
        return Err(FormatError::Unsupported("archive split over several disks"));
    }
    let count = le16(bytes, end + 10, "zip end record")?;
    let cd_size = le32(bytes, end + 12, "zip end record")?;
    let cd_offset_field = le32(bytes, end + 16, "zip end record")?;
    let zip64_locator = end >= 20 && le32(bytes, end - 20, "zip64 locator")? == ZIP64_LOCATOR_SIG;
    if count == 0xffff || cd_size == 0xffff_ffff || cd_offset_field == 0xffff_ffff || zip64_locator {
        return Err(FormatError::Unsupported("zip64 archive"));
    }
    // The central directory ends where the end record starts. Where the offsets say it starts
    // tells what they count from: the file's start, or a prefix they leave out (a jmod header).
    let cd_end = end;
    let cd_offset = end
        .checked_sub(cd_size as usize)
        .ok_or(FormatError::Malformed { what: "zip central directory size", offset: end + 12 })?;
    let base = cd_offset
        .checked_sub(cd_offset_field as usize)
        .ok_or(FormatError::Malformed { what: "zip central directory offset", offset: end + 16 })?;
    let mut entries = Vec::with_capacity(usize::from(count));
    let mut pos = cd_offset;
    for _ in 0..count {
        if le32(bytes, pos, "zip central directory record")? != CENTRAL_SIG {
            return Err(FormatError::Malformed { what: "zip central directory signature", offset: pos });
        }
        let flags = le16(bytes, pos + 8, "zip central directory record")?;
        if flags & 1 != 0 {
            return Err(FormatError::Unsupported("encrypted entries"));
        }
        let name_len = usize::from(le16(bytes, pos + 28, "zip central directory record")?);
        let extra_len = usize::from(le16(bytes, pos + 30, "zip central directory record")?);
        let comment_len = usize::from(le16(bytes, pos + 32, "zip central directory record")?);
        let len = CENTRAL_LEN + name_len + extra_len + comment_len;
        if pos + len > cd_end {
            return Err(FormatError::Truncated { what: "zip central directory record", offset: pos });
        }
        let local = base + le32(bytes, pos + 42, "zip central directory record")? as usize;
        let compressed = le32(bytes, pos + 20, "zip central directory record")? as usize;
        let name = (pos + CENTRAL_LEN, pos + CENTRAL_LEN + name_len);
        let needed = check_local(bytes, local, &bytes[name.0..name.1], compressed, cd_offset)?;
        entries.push(Entry { central: (pos, len), local: (local, 0), name, needed });
        pos += len;
    }
    if pos != cd_end {
        return Err(FormatError::Malformed { what: "zip central directory size", offset: end + 12 });
    }
    // Each local record runs to the next one (or to the central directory).
    let mut by_offset: Vec<usize> = (0..entries.len()).collect();
    by_offset.sort_by_key(|&i| entries[i].local.0);
    let mut next = cd_offset;
    for &i in by_offset.iter().rev() {
        let start = entries[i].local.0;
        if start >= next || next - start < entries[i].needed {
            return Err(FormatError::Malformed { what: "zip entries overlap", offset: entries[i].central.0 + 42 });
        }
        entries[i].local.1 = next - start;
        next = start;
    }
    Ok(Layout { entries, base, start: next, cd_offset, end })
}

/// The offset of the end of central directory record: the last one whose comment runs exactly
/// to the end of the file.
fn find_end(bytes: &[u8]) -> Result<usize, FormatError> {
    let last = bytes.len().checked_sub(END_LEN).ok_or(FormatError::Truncated { what: "zip end record", offset: 0 })?;
    let first = last.saturating_sub(0xffff);
    (first..=last)
        .rev()
        .find(|&pos| {
            bytes[pos..pos + 4] == END_SIG.to_le_bytes()
                && le16(bytes, pos + 20, "").is_ok_and(|c| pos + END_LEN + usize::from(c) == bytes.len())
        })
        .ok_or(FormatError::Malformed { what: "no zip end of central directory record", offset: last })
}

/// Checks that a local header is where the central directory says, with the same name, and
/// that its data fits before the central directory; returns the length header and data need.
fn check_local(
    bytes: &[u8],
    pos: usize,
    name: &[u8],
    compressed: usize,
    cd_offset: usize,
) -> Result<usize, FormatError> {
    if pos >= cd_offset || le32(bytes, pos, "zip local header")? != LOCAL_SIG {
        return Err(FormatError::Malformed { what: "zip local header offset", offset: pos });
    }
    let name_len = usize::from(le16(bytes, pos + 26, "zip local header")?);
    let extra_len = usize::from(le16(bytes, pos + 28, "zip local header")?);
    if bytes.get(pos + LOCAL_LEN..pos + LOCAL_LEN + name_len) != Some(name) {
        return Err(FormatError::Malformed { what: "zip local header name differs from the central one", offset: pos });
    }
    let needed = LOCAL_LEN + name_len + extra_len + compressed;
    if pos + needed > cd_offset {
        return Err(FormatError::Truncated { what: "zip entry data", offset: pos });
    }
    Ok(needed)
}

/// Normalizes a local record in place (its header was checked by [`check_local`]).
fn normalize_local(record: &mut [u8], settings: &Settings) {
    fix_dos(record, 10, settings);
    let name_len = usize::from(u16::from_le_bytes([record[26], record[27]]));
    let extra_len = usize::from(u16::from_le_bytes([record[28], record[29]]));
    let start = LOCAL_LEN + name_len;
    normalize_extra(&mut record[start..start + extra_len], settings);
}

/// Normalizes a central directory record in place and points it at `offset`.
fn normalize_central(record: &mut [u8], settings: &Settings, offset: usize) {
    fix_dos(record, 12, settings);
    let name_len = usize::from(u16::from_le_bytes([record[28], record[29]]));
    let extra_len = usize::from(u16::from_le_bytes([record[30], record[31]]));
    let start = CENTRAL_LEN + name_len;
    normalize_extra(&mut record[start..start + extra_len], settings);
    // Made on Unix: the high 16 bits of the external attributes are st_mode.
    if record[5] == 3 {
        let attrs = u32::from_le_bytes([record[38], record[39], record[40], record[41]]);
        let mode = attrs >> 16;
        if mode & 0o7777 != 0 {
            let perms = if mode & 0o100 != 0 { 0o755 } else { 0o644 };
            let attrs = ((mode & 0o170_000 | perms) << 16) | (attrs & 0xffff);
            record[38..42].copy_from_slice(&attrs.to_le_bytes());
        }
    }
    // The offset came from a u32 field and records only move within the same total size.
    record[42..46].copy_from_slice(&(offset as u32).to_le_bytes());
}

/// Applies the policy to the MS-DOS time and date at `at` (time) and `at + 2` (date).
fn fix_dos(record: &mut [u8], at: usize, settings: &Settings) {
    let time = u16::from_le_bytes([record[at], record[at + 1]]);
    let date = u16::from_le_bytes([record[at + 2], record[at + 3]]);
    let Some(secs) = from_dos(time, date) else { return };
    let fixed = settings.fix_time(secs);
    if fixed != secs {
        let (time, date) = to_dos(fixed);
        record[at..at + 2].copy_from_slice(&time.to_le_bytes());
        record[at + 2..at + 4].copy_from_slice(&date.to_le_bytes());
    }
}

/// Normalizes the extra fields of a header in place. A malformed tail (some aligners pad with
/// bytes that are not fields) is left as it is.
fn normalize_extra(extra: &mut [u8], settings: &Settings) {
    let mut pos = 0;
    while pos + 4 <= extra.len() {
        let id = u16::from_le_bytes([extra[pos], extra[pos + 1]]);
        let len = usize::from(u16::from_le_bytes([extra[pos + 2], extra[pos + 3]]));
        let Some(data) = extra.get_mut(pos + 4..pos + 4 + len) else { return };
        match id {
            // UT: flags, then up to three 32-bit signed Unix times.
            0x5455 if !data.is_empty() => {
                for time in data[1..].chunks_exact_mut(4) {
                    fix_unix32(time, settings);
                }
            }
            // UX: atime, mtime, then optionally 16-bit uid and gid.
            0x5855 => {
                for time in data.chunks_exact_mut(4).take(2) {
                    fix_unix32(time, settings);
                }
                if let Some(ids) = data.get_mut(8..12) {
                    ids.fill(0);
                }
            }
            // ux: version 1, uid size, uid, gid size, gid.
            0x7875 if data.first() == Some(&1) => zero_ux_ids(data),
            // NTFS: 4 reserved bytes, then tags; tag 1 holds mtime, atime, ctime.
            0x000a => {
                let mut at = 4;
                while at + 4 <= data.len() {
                    let tag = u16::from_le_bytes([data[at], data[at + 1]]);
                    let size = usize::from(u16::from_le_bytes([data[at + 2], data[at + 3]]));
                    let Some(value) = data.get_mut(at + 4..at + 4 + size) else { break };
                    if tag == 1 && size == 24 {
                        for time in value.chunks_exact_mut(8) {
                            fix_ntfs(time, settings);
                        }
                    }
                    at += 4 + size;
                }
            }
            _ => {}
        }
        pos += 4 + len;
    }
}

fn fix_unix32(field: &mut [u8], settings: &Settings) {
    let secs = i64::from(i32::from_le_bytes([field[0], field[1], field[2], field[3]]));
    let fixed = settings.fix_time(secs);
    if fixed != secs {
        let stored = i32::try_from(fixed).unwrap_or(i32::MAX);
        field.copy_from_slice(&stored.to_le_bytes());
    }
}

fn fix_ntfs(field: &mut [u8], settings: &Settings) {
    let ticks = u64::from_le_bytes(field.try_into().expect("chunks of 8"));
    let secs = i64::try_from(ticks / 10_000_000).unwrap_or(i64::MAX) - NTFS_TO_UNIX;
    let fixed = settings.fix_time(secs);
    // Compared in ticks, so that a clamped time keeps its sub-second part only if not newer.
    let fixed_ticks = u64::try_from(fixed.saturating_add(NTFS_TO_UNIX)).unwrap_or(0).saturating_mul(10_000_000);
    let new = settings.policy.apply(ticks, fixed_ticks);
    field.copy_from_slice(&new.to_le_bytes());
}

fn zero_ux_ids(data: &mut [u8]) {
    let Some(&uid_len) = data.get(1) else { return };
    let uid_end = 2 + usize::from(uid_len);
    let Some(&gid_len) = data.get(uid_end) else { return };
    let gid_end = uid_end + 1 + usize::from(gid_len);
    if gid_end > data.len() {
        return;
    }
    data[2..uid_end].fill(0);
    data[uid_end + 1..gid_end].fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tamis_core::Epoch;

    fn settings() -> Settings {
        Settings::new(Epoch::from_secs(1_700_000_000).unwrap())
    }

    /// A stored (uncompressed) archive of `(name, data, unix time)` in this order.
    fn archive(files: &[(&str, &[u8], i64)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data, time) in files {
            let (t, d) = to_dos(*time);
            let mut ut = vec![0x55, 0x54, 5, 0, 1];
            ut.extend_from_slice(&(*time as i32).to_le_bytes());
            let crc = crc32fast::hash(data);
            let offset = out.len() as u32;
            out.extend_from_slice(&LOCAL_SIG.to_le_bytes());
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&t.to_le_bytes());
            out.extend_from_slice(&d.to_le_bytes());
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&(ut.len() as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&ut);
            out.extend_from_slice(data);
            central.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
            central.extend_from_slice(&[30, 3, 20, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&t.to_le_bytes());
            central.extend_from_slice(&d.to_le_bytes());
            central.extend_from_slice(&crc.to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&(ut.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&((0o100_664u32) << 16).to_le_bytes());
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
            central.extend_from_slice(&ut);
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&END_SIG.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    #[test]
    fn android_packages_are_left_alone() {
        let late = 1_800_000_000;
        let unsigned = archive(&[("classes.dex", b"dex", late), ("AndroidManifest.xml", b"m", late)]);
        let e = Zip.normalize(&unsigned, &settings()).unwrap_err();
        assert!(matches!(e, FormatError::LeftAlone(why) if why.contains("AndroidManifest.xml")), "{e}");
        // A signing block between the last entry and the central directory (its size fields
        // and pairs do not matter here: the magic that ends it is what is looked for).
        let plain = archive(&[("b", b"bb", late), ("a", b"a", late)]);
        assert!(Zip.normalize(&plain, &settings()).unwrap().is_some());
        let cd_offset = le32(&plain, plain.len() - 6, "").unwrap() as usize;
        let mut block = vec![0u8; 8];
        block.extend_from_slice(APK_SIG_BLOCK_MAGIC);
        let mut signed = plain[..cd_offset].to_vec();
        signed.extend_from_slice(&block);
        signed.extend_from_slice(&plain[cd_offset..]);
        let end = signed.len() - 6;
        signed[end..end + 4].copy_from_slice(&((cd_offset + block.len()) as u32).to_le_bytes());
        let e = Zip.normalize(&signed, &settings()).unwrap_err();
        assert!(matches!(e, FormatError::LeftAlone(why) if why.contains("APK Signing Block")), "{e}");
    }

    #[test]
    fn clamps_times_and_sorts_entries() {
        let late = 1_800_000_000;
        let zip = archive(&[("b", b"bb", late), ("META-INF/MANIFEST.MF", b"M", late), ("a", b"a", 1_600_000_000)]);
        let out = Zip.normalize(&zip, &settings()).unwrap().unwrap();
        assert_eq!(out.len(), zip.len());
        let mut expected = archive(&[
            ("META-INF/MANIFEST.MF", b"M", 1_700_000_000),
            ("a", b"a", 1_600_000_000),
            ("b", b"bb", 1_700_000_000),
        ]);
        // Modes: 664 becomes 644.
        let normal = Zip.normalize(&expected, &settings()).unwrap().unwrap();
        expected = normal;
        assert_eq!(out, expected);
        assert_eq!(Zip.normalize(&out, &settings()).unwrap(), None);
    }

    #[test]
    fn malformed_archives_are_errors() {
        let zip = archive(&[("a", b"a", 1_600_000_000)]);
        let end = zip.len() - END_LEN;
        let mut bad = zip.clone();
        bad[end + 16] = 0xff;
        assert!(Zip.normalize(&bad, &settings()).is_err(), "central directory offset");
        assert!(Zip.normalize(&zip[..zip.len() - 1], &settings()).is_err(), "cut");
        let mut bad = zip;
        bad[end + 10] = 2;
        assert!(Zip.normalize(&bad, &settings()).is_err(), "entry count");
    }
}
