//! Why an entry differs, and which tamis stage removes the difference.
//!
//! A content difference is recognised by its path (machine identity, host keys, logs,
//! backups: files that are nondeterministic by nature, wherever their bytes differ) and, for
//! formats with time inside, by the bytes of both sides: a fontconfig cache differing only in
//! its checksum fields, a pyc only in its header's source mtime, `/etc/shadow` only in field 3,
//! a gzip member only in its header, a zip only in its entries' times. What nothing recognises
//! is [`Cause::Unknown`] with a byte-level hint: the first differing offset and a few bytes of
//! each side. The tests run this on two real builds and check each attribution
//! (`bins/tamis/tests/rootfs.rs`).

use std::fmt::Write as _;

use serde::Serialize;

/// The cause of a difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Cause {
    /// A fontconfig cache records its font directory's mtime (bytes 48–63 on le64).
    FontconfigChecksum,
    /// A pyc header records its source's mtime (bytes 8–11).
    PycMtime,
    /// `/etc/shadow` field 3, `sp_lstchg`: the day each account was made.
    ShadowLastChange,
    /// The machine id, its D-Bus copy, a random seed: made at install.
    MachineIdentity,
    /// SSH host keys, the snakeoil TLS pair, root's GnuPG trust database: made at install.
    HostKey,
    /// The build host's name, hosts, resolver, mail name, clock drift.
    HostConfig,
    /// A log file under `/var/log`.
    LogFile,
    /// A backup kept by dpkg, debconf, ucf or the account tools (`*-old`, `/etc/shadow-`, …).
    Backup,
    /// ldconfig's `aux-cache`: inode numbers and times.
    LdconfigCache,
    /// man-db's `index.db`: its gdbm layout depends on insertion order.
    ManDbIndex,
    /// An initramfs (`/boot/initrd.img-*`): member order, times, inode numbers and the
    /// compressor's header of the build.
    Initramfs,
    /// A gzip header: its mtime, or the original file name (mkinitramfs's random temp name).
    GzipHeader,
    /// A zip or jar whose entries differ only in their times.
    ZipEntryTimes,
    /// An ISO 9660 image whose bytes differ only in dates and identifiers (volume and record
    /// dates, Rock Ridge times, GPT GUIDs, the EFI FAT image's serial and times).
    IsoImage,
    /// A disk image (GPT/MBR with FAT partitions) whose bytes differ only in identifiers and
    /// times (MBR signature, GPT GUIDs and CRCs, FAT serials, entry times, `FSInfo` hints), or
    /// a file in one whose FAT entry times differ: removed by `tamis disk normalize`, a
    /// command and not (yet) a stage.
    DiskImage,
    /// Only the modification time differs.
    MtimeOnly,
    /// An image (squashfs, initramfs, ISO) whose insides differ: each difference inside has its
    /// own cause and stage.
    NestedImage,
    /// Not recognised; the detail says where the bytes first differ.
    Unknown,
}

impl Cause {
    /// The tamis stage that removes this cause (`tamis stages`); `None` for unknown causes.
    /// `formats` is the stage for timestamps inside file formats (gzip, zip, …).
    pub fn stage(self) -> Option<&'static str> {
        Some(match self {
            Self::FontconfigChecksum => "fontconfig",
            Self::PycMtime => "pyc",
            Self::ShadowLastChange => "shadow",
            Self::MachineIdentity => "machine-id",
            Self::HostKey => "host-keys",
            Self::HostConfig => "host-config",
            Self::LogFile => "logs",
            Self::Backup => "backups",
            Self::LdconfigCache => "ldconfig",
            Self::ManDbIndex => "man-db",
            Self::Initramfs => "initramfs",
            Self::GzipHeader | Self::ZipEntryTimes => "formats",
            Self::IsoImage => "iso",
            Self::MtimeOnly => "mtime",
            Self::Unknown | Self::NestedImage | Self::DiskImage => return None,
        })
    }

    /// Every cause, for tests and documentation.
    pub const ALL: [Self; 18] = [
        Self::FontconfigChecksum,
        Self::PycMtime,
        Self::ShadowLastChange,
        Self::MachineIdentity,
        Self::HostKey,
        Self::HostConfig,
        Self::LogFile,
        Self::Backup,
        Self::LdconfigCache,
        Self::ManDbIndex,
        Self::Initramfs,
        Self::GzipHeader,
        Self::ZipEntryTimes,
        Self::IsoImage,
        Self::DiskImage,
        Self::MtimeOnly,
        Self::NestedImage,
        Self::Unknown,
    ];
}

/// A cause, the stage that removes it, and what was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The cause.
    pub cause: Cause,
    /// The stage that removes it (see [`Cause::stage`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<&'static str>,
    /// What was seen, for people: the differing values, or the first differing bytes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl Explanation {
    pub(crate) fn new(cause: Cause, detail: impl Into<String>) -> Self {
        Self { cause, stage: cause.stage(), detail: detail.into() }
    }
}

const ACCOUNT_BACKUPS: &[&str] =
    &["/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-", "/etc/subuid-", "/etc/subgid-"];
const BACKUP_SUFFIXES: &[&str] = &["-old", ".dpkg-old", ".dpkg-bak", ".ucf-old"];
const RANDOM_SEEDS: &[&str] = &["/var/lib/systemd/random-seed", "/var/lib/urandom/random-seed"];
const SNAKEOIL: &[&str] =
    &["/etc/ssl/certs/ssl-cert-snakeoil.pem", "/etc/ssl/private/ssl-cert-snakeoil.key", "/root/.gnupg/trustdb.gpg"];
const HOST_CONFIG: &[&str] = &["/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/etc/mailname", "/etc/adjtime"];

/// The cause of an entry that differs, or exists on one side only, recognised by its path
/// alone: files that are nondeterministic by nature.
pub fn explain_path(path: &str) -> Option<Explanation> {
    let e = Explanation::new;
    Some(if path == "/etc/machine-id" || path == "/var/lib/dbus/machine-id" {
        e(Cause::MachineIdentity, "machine id made at install")
    } else if RANDOM_SEEDS.contains(&path) {
        e(Cause::MachineIdentity, "random seed")
    } else if path.starts_with("/etc/ssh/ssh_host_") {
        e(Cause::HostKey, "SSH host key made at install")
    } else if SNAKEOIL.contains(&path) {
        e(Cause::HostKey, "made at install")
    } else if path.rsplit('/').next().is_some_and(|n| n.starts_with("initrd.img") || n.starts_with("initramfs-"))
        && path.starts_with("/boot/")
    {
        e(Cause::Initramfs, "initramfs: member order, times, inode numbers, compressor header")
    } else if HOST_CONFIG.contains(&path) {
        e(Cause::HostConfig, "copied from or written for the build host")
    } else if path.starts_with("/var/log/") {
        e(Cause::LogFile, "log of the build")
    } else if ACCOUNT_BACKUPS.contains(&path) {
        e(Cause::Backup, "previous copy kept by the account tools")
    } else if BACKUP_SUFFIXES.iter().any(|s| path.ends_with(s))
        || path == "/var/cache/apt/pkgcache.bin"
        || path == "/var/cache/apt/srcpkgcache.bin"
    {
        e(Cause::Backup, "backup or cache kept by the package tools")
    } else if path == "/var/cache/ldconfig/aux-cache" {
        e(Cause::LdconfigCache, "inode numbers and times of the libraries")
    } else if path.starts_with("/var/cache/man/") && path.ends_with("/index.db") {
        e(Cause::ManDbIndex, "gdbm layout depends on insertion order")
    } else {
        return None;
    })
}

/// The cause of a content difference at `path`, from the path and, when the inputs have them,
/// the bytes of both sides.
pub fn explain_content(path: &str, first: Option<&[u8]>, second: Option<&[u8]>) -> Explanation {
    if let Some(by_path) = explain_path(path) {
        return by_path;
    }
    let (Some(a), Some(b)) = (first, second) else {
        if path == "/etc/shadow" {
            return Explanation::new(Cause::ShadowLastChange, "by path (contents not available)");
        }
        return Explanation::new(Cause::Unknown, "contents not available (an input is a manifest)");
    };
    if path == "/etc/shadow" {
        if let Some(e) = shadow(a, b) {
            return e;
        }
    }
    #[allow(clippy::case_sensitive_file_extension_comparisons, reason = "Python looks for `.pyc` exactly")]
    if path.ends_with(".pyc") {
        if let Some(e) = pyc(a, b) {
            return e;
        }
    }
    if path.contains(".cache-") {
        if let Some(e) = fontconfig(a, b) {
            return e;
        }
    }
    if let Some(e) = iso(a, b) {
        return e;
    }
    if let Some(e) = disk(a, b) {
        return e;
    }
    if let Some(e) = gzip(a, b) {
        return e;
    }
    if let Some(e) = zip(a, b) {
        return e;
    }
    Explanation::new(Cause::Unknown, byte_hint(a, b))
}

/// The first and one past the last differing offset; `None` if equal.
fn differing_range(a: &[u8], b: &[u8]) -> Option<(usize, usize)> {
    let first =
        a.iter().zip(b).position(|(x, y)| x != y).or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))?;
    let last = if a.len() == b.len() {
        a.len() - a.iter().rev().zip(b.iter().rev()).position(|(x, y)| x != y).unwrap_or(0)
    } else {
        a.len().max(b.len())
    };
    Some((first, last))
}

/// "first difference at offset N: 00 01 02 … | 00 07 02 …", sizes when they differ.
fn byte_hint(a: &[u8], b: &[u8]) -> String {
    let Some((first, _)) = differing_range(a, b) else {
        return "same bytes".to_owned();
    };
    let show = |x: &[u8]| {
        let end = (first + 8).min(x.len());
        let mut s = String::new();
        for byte in x.get(first..end).unwrap_or_default() {
            write!(s, "{byte:02x} ").expect("writing to a String cannot fail");
        }
        if s.is_empty() { "(end)".to_owned() } else { s.trim_end().to_owned() }
    };
    let mut hint = format!("first difference at offset {first}: {} | {}", show(a), show(b));
    if a.len() != b.len() {
        write!(hint, "; sizes {} and {}", a.len(), b.len()).expect("writing to a String cannot fail");
    }
    hint
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn le_u16(bytes: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?)))
}

fn le_i64(bytes: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// `/etc/shadow` lines that differ only in field 3.
fn shadow(a: &[u8], b: &[u8]) -> Option<Explanation> {
    let (a, b) = (std::str::from_utf8(a).ok()?, std::str::from_utf8(b).ok()?);
    if a.lines().count() != b.lines().count() {
        return None;
    }
    let mut days = Vec::new();
    for (x, y) in a.lines().zip(b.lines()) {
        let (fx, fy): (Vec<&str>, Vec<&str>) = (x.split(':').collect(), y.split(':').collect());
        if fx.len() != fy.len() || fx.len() < 3 {
            return None;
        }
        for (i, (p, q)) in fx.iter().zip(&fy).enumerate() {
            if p != q && i != 2 {
                return None;
            }
        }
        if fx[2] != fy[2] {
            days.push((fx[2], fy[2]));
        }
    }
    let (da, db) = days.first()?;
    Some(Explanation::new(
        Cause::ShadowLastChange,
        format!("sp_lstchg of {} accounts, e.g. day {da} and day {db}", days.len()),
    ))
}

/// Disk images that are the same once both are normalized by `tamis disk normalize` with one
/// epoch (1980-01-01, as for ISO images): only identifiers, CRCs and times differ.
fn disk(a: &[u8], b: &[u8]) -> Option<Explanation> {
    if a.len() != b.len() || !crate::disk::sniff(a) || !crate::disk::sniff(b) {
        return None;
    }
    let options = tamis_disk::Options { epoch: 315_532_800, keep_guids: false };
    let (mut x, mut y) = (a.to_vec(), b.to_vec());
    let first = tamis_disk::normalize_bytes(&mut x, &options).ok()?;
    tamis_disk::normalize_bytes(&mut y, &options).ok()?;
    if x != y {
        return None;
    }
    let mut fields: Vec<&str> = first.patches.iter().map(|p| p.field.as_str()).collect();
    fields.sort_unstable();
    fields.dedup();
    let detail = format!("only identifiers and times (tamis disk normalize): {}", fields.join(", "));
    Some(Explanation::new(Cause::DiskImage, detail))
}

/// ISO 9660 images that are the same once both are normalized with one epoch: only dates and
/// identifiers differ. An early epoch (1980-01-01, the first date FAT can hold) makes every
/// date of a build the same and derives the same identifiers.
fn iso(a: &[u8], b: &[u8]) -> Option<Explanation> {
    if a.len() != b.len() || !crate::iso::sniff(a) || !crate::iso::sniff(b) {
        return None;
    }
    let options = tamis_iso::Options { epoch: 315_532_800, ..tamis_iso::Options::default() };
    let (mut x, mut y) = (a.to_vec(), b.to_vec());
    let first = tamis_iso::normalize_bytes(&mut x, &options).ok()?;
    tamis_iso::normalize_bytes(&mut y, &options).ok()?;
    if x != y {
        return None;
    }
    let mut fields: Vec<&str> = first.patches.iter().map(|p| p.field.as_str()).collect();
    fields.sort_unstable();
    fields.dedup();
    let more = fields.len().saturating_sub(6);
    fields.truncate(6);
    let mut detail = format!("only dates and identifiers: {}", fields.join(", "));
    if more > 0 {
        write!(detail, " and {more} more").expect("writing to a String cannot fail");
    }
    Some(Explanation::new(Cause::IsoImage, detail))
}

/// A pyc whose header differs only in the recorded source mtime (or size), flags 0.
fn pyc(a: &[u8], b: &[u8]) -> Option<Explanation> {
    if a.len() < 16 || a.len() != b.len() || a[..8] != b[..8] || le_u32(a, 4)? != 0 {
        return None;
    }
    let (first, last) = differing_range(a, b)?;
    if first < 8 || last > 16 {
        return None;
    }
    Some(Explanation::new(
        Cause::PycMtime,
        format!("source mtime {} and {} in the header", le_u32(a, 8)?, le_u32(b, 8)?),
    ))
}

/// A fontconfig cache whose bytes differ only in the checksum fields (offsets 48–63, le64).
fn fontconfig(a: &[u8], b: &[u8]) -> Option<Explanation> {
    const MAGICS: [u32; 2] = [0xFC02_FC04, 0xFC02_FC05];
    if a.len() != b.len() || !MAGICS.contains(&le_u32(a, 0)?) || le_u32(a, 0) != le_u32(b, 0) {
        return None;
    }
    let (first, last) = differing_range(a, b)?;
    if first < 48 || last > 64 {
        return None;
    }
    Some(Explanation::new(
        Cause::FontconfigChecksum,
        format!(
            "font directory mtime {}.{:09} and {}.{:09}",
            le_i64(a, 48)?,
            le_i64(a, 56)?,
            le_i64(b, 48)?,
            le_i64(b, 56)?
        ),
    ))
}

/// The length of a gzip member's header, its mtime and its file name.
fn gzip_header(x: &[u8]) -> Option<(usize, u32, &[u8])> {
    if !x.starts_with(&[0x1f, 0x8b, 8]) {
        return None;
    }
    let flags = *x.get(3)?;
    let mut at = 10;
    if flags & 4 != 0 {
        at += 2 + le_u16(x, at)?;
    }
    let mut name: &[u8] = &[];
    for (bit, is_name) in [(8, true), (16, false)] {
        if flags & bit != 0 {
            let len = x.get(at..)?.iter().position(|&c| c == 0)?;
            if is_name {
                name = &x[at..at + len];
            }
            at += len + 1;
        }
    }
    if flags & 2 != 0 {
        at += 2;
    }
    (at <= x.len()).then_some((at, le_u32(x, 4)?, name))
}

/// Two gzip files whose compressed data are equal and whose headers differ.
fn gzip(a: &[u8], b: &[u8]) -> Option<Explanation> {
    let ((ha, ma, na), (hb, mb, nb)) = (gzip_header(a)?, gzip_header(b)?);
    if a[ha..] != b[hb..] {
        let hint = byte_hint(&a[ha..], &b[hb..]);
        return Some(Explanation::new(Cause::Unknown, format!("gzip data differ, not only the header: {hint}")));
    }
    let mut detail = Vec::new();
    if ma != mb {
        detail.push(format!("mtime {ma} and {mb}"));
    }
    if na != nb {
        detail.push(format!("file name {:?} and {:?}", String::from_utf8_lossy(na), String::from_utf8_lossy(nb)));
    }
    if detail.is_empty() {
        detail.push("header flags or OS byte".to_owned());
    }
    Some(Explanation::new(Cause::GzipHeader, format!("gzip header: {}", detail.join(", "))))
}

/// The byte ranges of a zip that hold entry times: the DOS time and date of every local and
/// central header, and their extended-timestamp (`UT`) extra fields. `None` if not a zip.
fn zip_time_ranges(x: &[u8]) -> Option<Vec<(usize, usize)>> {
    let tail = x.len().saturating_sub(65_557);
    let eocd = (tail..x.len().saturating_sub(21)).rev().find(|&i| x[i..].starts_with(b"PK\x05\x06"))?;
    let count = le_u16(x, eocd + 10)?;
    let mut at = le_u32(x, eocd + 16)? as usize;
    let mut ranges = Vec::new();
    let extra_times = |start: usize, len: usize, ranges: &mut Vec<(usize, usize)>| -> Option<()> {
        let mut i = start;
        while i + 4 <= start + len {
            let (id, size) = (le_u16(x, i)?, le_u16(x, i + 2)?);
            if id == 0x5455 {
                ranges.push((i + 4, i + 4 + size));
            }
            i += 4 + size;
        }
        Some(())
    };
    for _ in 0..count {
        if !x.get(at..)?.starts_with(b"PK\x01\x02") {
            return None;
        }
        ranges.push((at + 12, at + 16));
        let (name, extra, comment) = (le_u16(x, at + 28)?, le_u16(x, at + 30)?, le_u16(x, at + 32)?);
        extra_times(at + 46 + name, extra, &mut ranges)?;
        let local = le_u32(x, at + 42)? as usize;
        if !x.get(local..)?.starts_with(b"PK\x03\x04") {
            return None;
        }
        ranges.push((local + 10, local + 14));
        extra_times(local + 30 + le_u16(x, local + 26)?, le_u16(x, local + 28)?, &mut ranges)?;
        at += 46 + name + extra + comment;
    }
    Some(ranges)
}

/// Two zip files of the same layout that differ only in entry times.
fn zip(a: &[u8], b: &[u8]) -> Option<Explanation> {
    if !a.starts_with(b"PK\x03\x04") || a.len() != b.len() {
        return None;
    }
    let ranges = zip_time_ranges(a)?;
    if zip_time_ranges(b)? != ranges {
        return None;
    }
    let mut differing = 0usize;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x != y {
            if !ranges.iter().any(|&(s, e)| (s..e).contains(&i)) {
                return None;
            }
            differing += 1;
        }
    }
    Some(Explanation::new(Cause::ZipEntryTimes, format!("{differing} bytes of entry times differ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_have_stages_except_unknown() {
        for cause in Cause::ALL {
            let none = matches!(cause, Cause::Unknown | Cause::NestedImage | Cause::DiskImage);
            assert_eq!(cause.stage().is_none(), none, "{cause:?}");
        }
    }

    #[test]
    fn shadow_lastchg_only() {
        let a = b"root:*:19000:0:99999:7:::\ntamis:!:19000:0:99999:7:::\n";
        let b = b"root:*:19003:0:99999:7:::\ntamis:!:19003:0:99999:7:::\n";
        let e = explain_content("/etc/shadow", Some(a), Some(b));
        assert_eq!(e.cause, Cause::ShadowLastChange);
        assert_eq!(e.stage, Some("shadow"));
        let c = b"root:*:19000:1:99999:7:::\ntamis:!:19000:0:99999:7:::\n";
        assert_eq!(explain_content("/etc/shadow", Some(a), Some(c)).cause, Cause::Unknown);
    }

    #[test]
    fn pyc_header_mtime() {
        let mut a = vec![0xa7, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0];
        a.extend_from_slice(b"\xe3marshal");
        let mut b = a.clone();
        b[8] = 2;
        assert_eq!(explain_content("/usr/x.pyc", Some(&a), Some(&b)).cause, Cause::PycMtime);
        b[17] = 0;
        let e = explain_content("/usr/x.pyc", Some(&a), Some(&b));
        assert_eq!(e.cause, Cause::Unknown);
        assert!(e.detail.starts_with("first difference at offset 8: 01 00"), "{}", e.detail);
    }

    #[test]
    fn fontconfig_checksum() {
        let mut a = vec![0u8; 96];
        a[..4].copy_from_slice(&0xFC02_FC04u32.to_le_bytes());
        let mut b = a.clone();
        a[48..56].copy_from_slice(&1_700_000_000i64.to_le_bytes());
        b[56..64].copy_from_slice(&5i64.to_le_bytes());
        let e = explain_content("/var/cache/fontconfig/x-le64.cache-8", Some(&a), Some(&b));
        assert_eq!((e.cause, e.stage), (Cause::FontconfigChecksum, Some("fontconfig")));
        assert_eq!(e.detail, "font directory mtime 1700000000.000000000 and 0.000000005");
    }

    #[test]
    fn gzip_header_mtime_and_name() {
        let member = |mtime: u8, name: &[u8]| {
            let mut x = vec![0x1f, 0x8b, 8, 8, mtime, 0, 0, 0, 0, 3];
            x.extend_from_slice(name);
            x.push(0);
            x.extend_from_slice(b"deflate data");
            x
        };
        let initrd = explain_content("/boot/initrd.img-6.1.0-amd64", Some(&member(1, b"x")), Some(&member(2, b"y")));
        assert_eq!((initrd.cause, initrd.stage), (Cause::Initramfs, Some("initramfs")));
        let e = explain_content(
            "/usr/share/doc/tamis/changelog.gz",
            Some(&member(1, b"mkinitramfs-MAIN_a")),
            Some(&member(2, b"b")),
        );
        assert_eq!((e.cause, e.stage), (Cause::GzipHeader, Some("formats")));
        assert!(e.detail.contains("mtime 1 and 2"), "{}", e.detail);
        let mut other = member(1, b"b");
        *other.last_mut().unwrap() = b'X';
        assert_eq!(explain_content("/x.gz", Some(&member(1, b"b")), Some(&other)).cause, Cause::Unknown);
    }

    #[test]
    fn zip_entry_times() {
        // One stored entry "a" holding "x", then the central directory and its end record.
        let build = |time: u8| {
            let mut z = b"PK\x03\x04\x0a\x00\x00\x00\x00\x00".to_vec();
            z.extend_from_slice(&[time, 0, 0x21, 0]); // time, date
            z.extend_from_slice(&[0; 12]); // crc, sizes (not checked here)
            z.extend_from_slice(&[1, 0, 0, 0]); // name length 1, extra 0
            z.extend_from_slice(b"ax");
            let central = z.len();
            z.extend_from_slice(b"PK\x01\x02\x14\x00\x0a\x00\x00\x00\x00\x00");
            z.extend_from_slice(&[time, 0, 0x21, 0]);
            z.extend_from_slice(&[0; 12]);
            z.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            z.extend_from_slice(b"a");
            let size = z.len() - central;
            z.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00");
            z.extend_from_slice(&(size as u32).to_le_bytes());
            z.extend_from_slice(&(central as u32).to_le_bytes());
            z.extend_from_slice(&[0, 0]);
            z
        };
        let e = explain_content("/usr/share/java/x.jar", Some(&build(1)), Some(&build(2)));
        assert_eq!((e.cause, e.stage), (Cause::ZipEntryTimes, Some("formats")), "{}", e.detail);
        let mut other = build(1);
        other[31] = b'y';
        assert_eq!(explain_content("/usr/share/java/x.jar", Some(&build(1)), Some(&other)).cause, Cause::Unknown);
    }

    #[test]
    fn identity_files_by_path() {
        for (path, stage) in [
            ("/etc/machine-id", "machine-id"),
            ("/var/lib/dbus/machine-id", "machine-id"),
            ("/etc/ssh/ssh_host_ed25519_key.pub", "host-keys"),
            ("/etc/hostname", "host-config"),
            ("/etc/shadow-", "backups"),
            ("/var/lib/dpkg/status-old", "backups"),
            ("/var/log/apt/term.log", "logs"),
            ("/var/cache/ldconfig/aux-cache", "ldconfig"),
            ("/var/cache/man/de/index.db", "man-db"),
        ] {
            assert_eq!(explain_content(path, None, None).stage, Some(stage), "{path}");
        }
        assert_eq!(explain_content("/etc/shadow", None, None).stage, Some("shadow"));
        assert_eq!(
            explain_content("/usr/bin/x", Some(b"ab"), Some(b"ac")).detail,
            "first difference at offset 1: 62 | 63"
        );
    }
}
