//! Why an entry differs, and which tamis stage removes the difference.
//!
//! A content difference is recognised by its path (machine identity, host keys, logs,
//! backups: files that are nondeterministic by nature, wherever their bytes differ; the lists
//! are the stages' own) and, for formats with time inside, by the bytes of both sides, which
//! the crate owning the format normalizes in memory: a fontconfig cache or a pyc (the
//! `tamis-postinst` stages), `/etc/shadow`, an ISO image (`tamis-iso`), and every format of a
//! `tamis-formats` handler (gzip, zip, ar, PNG, `.mo`, javadoc, U-Boot, cpio). When the two sides
//! become equal, the difference is that stage's or handler's. What nothing recognises
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
    /// Times, names, owners or order recorded inside a file format other than gzip and zip
    /// (ar members, PNG `tIME` and date text, a `.mo` catalog's header dates, javadoc's
    /// generation date, a U-Boot header's time, cpio members): the `formats` handler named
    /// in [`Explanation::handler`] removes them.
    EmbeddedMetadata,
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
            Self::GzipHeader | Self::ZipEntryTimes | Self::EmbeddedMetadata => "formats",
            Self::IsoImage => "iso",
            Self::MtimeOnly => "mtime",
            Self::Unknown | Self::NestedImage | Self::DiskImage => return None,
        })
    }

    /// Every cause, for tests and documentation.
    pub const ALL: [Self; 19] = [
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
        Self::EmbeddedMetadata,
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
    /// The `formats` handler (its format's name, `tamis strip --type`) that removes it, for
    /// differences inside a file format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<&'static str>,
    /// What was seen, for people: the differing values, or the first differing bytes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl Explanation {
    pub(crate) fn new(cause: Cause, detail: impl Into<String>) -> Self {
        Self { cause, stage: cause.stage(), handler: None, detail: detail.into() }
    }
}

const HOST_CONFIG: &[&str] = &["/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/etc/mailname", "/etc/adjtime"];

/// Whether `path` (absolute, as in a manifest) is one of `list` (relative to the root, as the
/// stages name them).
fn listed(list: &[&str], path: &str) -> bool {
    path.strip_prefix('/').is_some_and(|p| list.contains(&p))
}

/// The cause of an entry that differs, or exists on one side only, recognised by its path
/// alone: files that are nondeterministic by nature.
pub fn explain_path(path: &str) -> Option<Explanation> {
    let e = Explanation::new;
    Some(if path == "/etc/machine-id" || path == "/var/lib/dbus/machine-id" {
        e(Cause::MachineIdentity, "machine id made at install")
    } else if listed(tamis_identity::RANDOM_SEEDS, path) {
        e(Cause::MachineIdentity, "random seed")
    } else if path.starts_with("/etc/ssh/ssh_host_") {
        e(Cause::HostKey, "SSH host key made at install")
    } else if listed(tamis_identity::BUILD_SECRETS, path) {
        e(Cause::HostKey, "made at install")
    } else if path.rsplit('/').next().is_some_and(|n| n.starts_with("initrd.img") || n.starts_with("initramfs-"))
        && path.starts_with("/boot/")
    {
        e(Cause::Initramfs, "initramfs: member order, times, inode numbers, compressor header")
    } else if HOST_CONFIG.contains(&path) {
        e(Cause::HostConfig, "copied from or written for the build host")
    } else if path.starts_with("/var/log/") {
        e(Cause::LogFile, "log of the build")
    } else if listed(tamis_postinst::ACCOUNT_BACKUPS, path) {
        e(Cause::Backup, "previous copy kept by the account tools")
    } else if path.ends_with("-old")
        || tamis_postinst::OLD_CONFFILE_SUFFIXES.iter().any(|s| path.ends_with(s))
        || listed(tamis_postinst::PACKAGE_TOOL_BACKUPS, path)
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
/// the bytes of both sides. The bytes are never parsed here: the crate that owns the path or the
/// format normalizes both sides in memory (a stage of `tamis-postinst`, a handler of
/// `tamis-formats`, `tamis-iso`), and a difference that disappears is that stage's.
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
    if a == b {
        return Explanation::new(Cause::Unknown, byte_hint(a, b));
    }
    let owned = if path == "/etc/shadow" {
        shadow(a, b)
    } else if std::path::Path::new(path).extension().is_some_and(|e| e == "pyc") {
        pyc(a, b)
    } else if path.rsplit('/').next().is_some_and(tamis_postinst::is_le64_cache) {
        fontconfig(a, b)
    } else {
        None
    };
    owned
        .or_else(|| iso(a, b))
        .or_else(|| disk(a, b))
        .or_else(|| formats(path, a, b))
        .unwrap_or_else(|| Explanation::new(Cause::Unknown, byte_hint(a, b)))
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

/// `/etc/shadow` files that the `shadow` stage makes equal: only field 3 differs.
fn shadow(a: &[u8], b: &[u8]) -> Option<Explanation> {
    let same_day = |x: &[u8]| tamis_postinst::clamp_last_change(x, 0).ok().map(|new| new.unwrap_or_else(|| x.to_vec()));
    if same_day(a)? != same_day(b)? {
        return None;
    }
    let (da, db) = (tamis_postinst::last_change_days(a).ok()?, tamis_postinst::last_change_days(b).ok()?);
    let days: Vec<_> = da.iter().zip(&db).filter(|(x, y)| x != y).collect();
    let show = |d: &Option<i64>| d.map_or_else(|| "(empty)".to_owned(), |d| d.to_string());
    let (x, y) = days.first()?;
    Some(Explanation::new(
        Cause::ShadowLastChange,
        format!("sp_lstchg of {} accounts, e.g. day {} and day {}", days.len(), show(x), show(y)),
    ))
}

/// Disk images that are the same once both are normalized by `tamis disk normalize` with one
/// epoch (1980-01-01, as for ISO images): only identifiers, CRCs and times differ.
fn disk(a: &[u8], b: &[u8]) -> Option<Explanation> {
    if a.len() != b.len() || !crate::disk::sniff(a) || !crate::disk::sniff(b) {
        return None;
    }
    let options = tamis_disk::Options::new(tamis_core::Epoch::from_secs(315_532_800).expect("1980 is a valid epoch"));
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
    let options = tamis_iso::Options::new(early_epoch());
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

/// 1980-01-01: earlier than any build, so that normalizing with it makes every time of both
/// sides the same (and the first date FAT and zip can hold).
fn early_epoch() -> tamis_core::Epoch {
    tamis_core::Epoch::from_secs(315_532_800).expect("1980 is a valid epoch")
}

/// A pyc whose header differs only in the recorded source mtime: what the `pyc` stage sets.
fn pyc(a: &[u8], b: &[u8]) -> Option<Explanation> {
    use tamis_postinst::PycHeader;
    let (ha, hb) = (PycHeader::parse(a).ok()?, PycHeader::parse(b).ok()?);
    if !ha.is_timestamp_based() || PycHeader::with_source_mtime(a, 0)? != PycHeader::with_source_mtime(b, 0)? {
        return None;
    }
    Some(Explanation::new(
        Cause::PycMtime,
        format!("source mtime {} and {} in the header", ha.source_mtime, hb.source_mtime),
    ))
}

/// A fontconfig cache whose bytes differ only in its record of the font directory's mtime:
/// what the `fontconfig` stage sets.
fn fontconfig(a: &[u8], b: &[u8]) -> Option<Explanation> {
    use tamis_postinst::FontconfigCache;
    let (ca, cb) = (FontconfigCache::parse(a).ok()?, FontconfigCache::parse(b).ok()?);
    let zero = tamis_core::Timestamp::from_secs(0);
    if FontconfigCache::patched(a, zero) != FontconfigCache::patched(b, zero) {
        return None;
    }
    Some(Explanation::new(
        Cause::FontconfigChecksum,
        format!(
            "font directory mtime {}.{:09} and {}.{:09}",
            ca.checksum, ca.checksum_nano, cb.checksum, cb.checksum_nano
        ),
    ))
}

/// Two files that the handlers of `tamis-formats` make equal: the difference is in what a
/// handler removes (times, names, owners, order inside the format). Both sides are normalized
/// in memory with every time set to one early epoch.
fn formats(path: &str, a: &[u8], b: &[u8]) -> Option<Explanation> {
    use tamis_formats::{Format, Settings, TimePolicy};
    let settings = Settings::new(early_epoch()).with_policy(TimePolicy::Set);
    let normalize = |x: &[u8]| tamis_formats::normalize_bytes(&Format::ALL, path.as_ref(), x, &settings).ok();
    let (na, nb) = (normalize(a)?, normalize(b)?);
    if na.bytes.as_deref().unwrap_or(a) != nb.bytes.as_deref().unwrap_or(b) {
        return None;
    }
    let mut changed: Vec<Format> = na.changed_by.into_iter().chain(nb.changed_by).collect();
    changed.sort_unstable();
    changed.dedup();
    let format = *changed.first()?;
    let cause = match format {
        Format::Gzip => Cause::GzipHeader,
        Format::Zip => Cause::ZipEntryTimes,
        _ => Cause::EmbeddedMetadata,
    };
    let handlers: Vec<String> = changed.iter().map(|f| format!("the {f} handler ({})", f.handler().what())).collect();
    let mut detail = format!("removed by {}", handlers.join(" and "));
    if format == Format::Gzip {
        if let Some(header) = gzip_header_detail(a, b) {
            write!(detail, ": {header}").expect("writing to a String cannot fail");
        }
    }
    Some(Explanation { handler: Some(format.name()), ..Explanation::new(cause, detail) })
}

/// What differs in the headers of two gzip files: their mtimes and file names, as the gzip
/// handler reads them.
fn gzip_header_detail(a: &[u8], b: &[u8]) -> Option<String> {
    let (ma, na) = tamis_formats::gzip::header_mtime_and_name(a).ok()?;
    let (mb, nb) = tamis_formats::gzip::header_mtime_and_name(b).ok()?;
    let mut detail = Vec::new();
    if ma != mb {
        detail.push(format!("mtime {ma} and {mb}"));
    }
    if na != nb {
        let show = |n: Option<&[u8]>| String::from_utf8_lossy(n.unwrap_or_default()).into_owned();
        detail.push(format!("file name {:?} and {:?}", show(na), show(nb)));
    }
    Some(detail.join(", "))
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
        // A le64 cache header: magic, version, size, offset of the directory name, ….
        let mut a = vec![0u8; 96];
        a[..4].copy_from_slice(&0xFC02_FC04u32.to_le_bytes());
        a[8..16].copy_from_slice(&96i64.to_le_bytes());
        a[16..24].copy_from_slice(&64i64.to_le_bytes());
        a[64..81].copy_from_slice(b"/usr/share/fonts\0");
        let mut b = a.clone();
        a[48..56].copy_from_slice(&1_700_000_000i64.to_le_bytes());
        b[56..64].copy_from_slice(&5i64.to_le_bytes());
        let path = "/var/cache/fontconfig/x-le64.cache-8";
        let e = explain_content(path, Some(&a), Some(&b));
        assert_eq!((e.cause, e.stage), (Cause::FontconfigChecksum, Some("fontconfig")));
        assert_eq!(e.detail, "font directory mtime 1700000000.000000000 and 0.000000005");
        // A magic the stage does not read is not its difference (the old copy accepted 0xFC02FC05).
        let (mut other_a, mut other_b) = (a.clone(), b.clone());
        other_a[..4].copy_from_slice(&0xFC02_FC05u32.to_le_bytes());
        other_b[..4].copy_from_slice(&0xFC02_FC05u32.to_le_bytes());
        assert_eq!(explain_content(path, Some(&other_a), Some(&other_b)).cause, Cause::Unknown);
    }

    #[test]
    fn gzip_header_mtime_and_name() {
        // A gzip member of empty data: header, an empty final stored block, CRC and size 0.
        let member = |mtime: u8, name: &[u8]| {
            let mut x = vec![0x1f, 0x8b, 8, 8, mtime, 0, 0, 0, 0, 3];
            x.extend_from_slice(name);
            x.push(0);
            x.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            x
        };
        let initrd = explain_content("/boot/initrd.img-6.1.0-amd64", Some(&member(1, b"x")), Some(&member(2, b"y")));
        assert_eq!((initrd.cause, initrd.stage), (Cause::Initramfs, Some("initramfs")));
        let e = explain_content(
            "/usr/share/doc/tamis/changelog.gz",
            Some(&member(1, b"mkinitramfs-MAIN_a")),
            Some(&member(2, b"b")),
        );
        assert_eq!((e.cause, e.stage, e.handler), (Cause::GzipHeader, Some("formats"), Some("gzip")));
        assert!(e.detail.contains("mtime 1 and 2"), "{}", e.detail);
        let mut other = member(1, b"b");
        *other.last_mut().unwrap() = 1;
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
