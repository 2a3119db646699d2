//! Standalone cpio archives (`.cpio`, or any file that is one): member times, inode numbers,
//! devices, link counts and order.
//!
//! GNU `cpio -o` stores each member's mtime, the inode and device numbers of the build host's
//! disk, and members in the order its input listed them (`find`'s, hence the directory's). The
//! archives are rewritten by [`tamis_cpio::archive::normalize`], as the `initramfs` stage does
//! for an initrd: members in the canonical order of their names, inode numbers from 1 in that
//! order (hard links sharing theirs), link counts of the members present, devices zeroed (device
//! nodes keep theirs), times by the [policy](crate::TimePolicy), each archive padded to a
//! 512-byte block as GNU cpio pads it. Names, modes, owners, link targets and contents are kept,
//! and the `newc`, `crc` or `odc` format with them (an odc hard link keeps its data with every
//! name, as GNU cpio writes it).
//!
//! Recognised by content: the magic `070701` (newc), `070702` (crc) or `070707` (odc) followed
//! by digits, or the old binary format's 16-bit magic with a well-formed first name. The binary
//! format is left as it is, with that reason in the report. An odc archive whose renumbered
//! inodes or link counts would not fit its 6-digit octal fields (more than 262 143 members) is
//! not normalized, also with its reason. A plain archive followed by compressed data is an
//! initramfs (early microcode, then the compressed main archive) and is left to the `initramfs`
//! stage and `tamis initramfs`, also with that reason.
//!
//! Proof: archives made by GNU `cpio -o -H newc`, `-H crc` and `-H odc` from the same files on
//! two days, listed in another order, are identical after the handler, and `cpio -t -v` lists
//! and `cpio -i` extracts the same names, modes, contents and links
//! (`bins/tamis/tests/formats_safety.rs`).

use std::path::Path;

use tamis_cpio::archive::ArchiveOptions;
use tamis_cpio::initramfs::normalize_archives;

use crate::{Format, FormatError, Handler, Settings};

/// The magic of the old binary format (`cpio -H bin`), octal 070707 as a 16-bit word, in
/// either byte order.
const BINARY_LE: [u8; 2] = [0xc7, 0x71];
const BINARY_BE: [u8; 2] = [0x71, 0xc7];

/// Whether `bytes` start with a binary cpio member: a 26-byte header whose name size (bytes
/// 20–21, in the magic's byte order) counts a name that ends with its only NUL.
fn is_binary_archive(bytes: &[u8]) -> bool {
    let Some(size) = bytes.get(20..22) else { return false };
    let size = usize::from(if bytes.starts_with(&BINARY_LE) {
        u16::from_le_bytes([size[0], size[1]])
    } else {
        u16::from_be_bytes([size[0], size[1]])
    });
    size > 1 && bytes.get(26..26 + size).is_some_and(|name| name[size - 1] == 0 && !name[..size - 1].contains(&0))
}

/// The cpio handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpio;

impl Handler for Cpio {
    fn format(&self) -> Format {
        Format::Cpio
    }

    fn what(&self) -> &'static str {
        "cpio members: times, inode numbers, devices, order"
    }

    fn matches(&self, _path: &Path, head: &[u8]) -> bool {
        let digits = |radix: u32| head.get(6..8).is_some_and(|d| d.iter().all(|&b| char::from(b).is_digit(radix)));
        ((head.starts_with(b"070701") || head.starts_with(b"070702")) && digits(16))
            || (head.starts_with(b"070707") && digits(8))
            || head.starts_with(&BINARY_LE)
            || head.starts_with(&BINARY_BE)
    }

    fn normalize(&self, bytes: &[u8], settings: &Settings) -> Result<Option<Vec<u8>>, FormatError> {
        if bytes.starts_with(&BINARY_LE) || bytes.starts_with(&BINARY_BE) {
            // Two bytes are a weak sign: a file is taken for an archive only if its first
            // member's name is where the header says, ended by its NUL.
            return if is_binary_archive(bytes) {
                Err(FormatError::LeftAlone(
                    "an old binary cpio archive (cpio -H bin): tamis writes the newc, crc and odc formats only",
                ))
            } else {
                Ok(None)
            };
        }
        let times = settings.policy;
        // cpio keeps 32-bit times: an epoch past 2106 is held at the largest one.
        let epoch = u32::try_from(settings.epoch.secs().max(0)).unwrap_or(u32::MAX);
        let out = normalize_archives(bytes, epoch, ArchiveOptions::new(times)).map_err(|e| match e {
            tamis_cpio::CpioError::UnknownData { .. } => FormatError::LeftAlone(
                "cpio archives followed by other data, such as an initramfs with a compressed archive: normalized by the initramfs stage",
            ),
            tamis_cpio::CpioError::Truncated { at, .. } => FormatError::Truncated { what: "cpio member", offset: at },
            tamis_cpio::CpioError::Header { at, why } => FormatError::Malformed { what: why, offset: at },
            tamis_cpio::CpioError::Overflow { .. } => FormatError::Unsupported(
                "an odc (070707) cpio archive whose renumbered inodes or link counts overflow its 6-digit octal fields",
            ),
            _ => FormatError::Malformed { what: "cpio archive", offset: 0 },
        })?;
        Ok((out != bytes).then_some(out))
    }
}

#[cfg(test)]
mod tests {
    use tamis_core::Epoch;
    use tamis_cpio::newc::{self, Header};
    use tamis_cpio::{Format, odc};

    use super::*;

    fn settings() -> Settings {
        Settings::new(Epoch::from_secs(1_700_000_000).unwrap())
    }

    fn archive(members: &[(&str, u32, u32)]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(name, ino, mtime) in members {
            let header =
                Header { ino, mode: 0o100_644, nlink: 1, mtime, filesize: 2, devminor: 3, ..Header::default() };
            newc::write_member(&mut out, &header, name.as_bytes(), b"x\n").unwrap();
        }
        newc::write_trailer(&mut out, false).unwrap();
        out
    }

    #[test]
    fn members_are_ordered_renumbered_and_clamped() {
        let built = archive(&[("b", 77, 1_800_000_000), ("a", 12, 1_600_000_000)]);
        assert!(Cpio.matches("x".as_ref(), &built[..crate::HEAD_LEN]));
        let out = Cpio.normalize(&built, &settings()).unwrap().unwrap();
        let (members, _) = newc::parse(&out).unwrap();
        let seen: Vec<(&[u8], u32, u32, u32)> =
            members.iter().map(|m| (m.name, m.header.ino, m.header.mtime, m.header.devminor)).collect();
        assert_eq!(seen, [(&b"a"[..], 1, 1_600_000_000, 0), (&b"b"[..], 2, 1_700_000_000, 0)]);
        assert_eq!(out.len() % 512, 0);
        assert_eq!(Cpio.normalize(&out, &settings()).unwrap(), None);
    }

    /// A member as name, inode, links, mtime, device major, data.
    type Seen<'a> = (&'a [u8], u32, u32, u32, u32, &'a [u8]);

    #[test]
    fn odc_archives_are_normalized_and_stay_odc() {
        assert!(Cpio.matches("x".as_ref(), b"07070700"));
        let mut built = Vec::new();
        let file = Header { format: Format::Odc, mode: 0o100_644, nlink: 2, devmajor: 254, ..Header::default() };
        for (name, ino, mtime) in [("c", 40, 1_800_000_000), ("a", 40, 1_600_000_000), ("b", 9, 1)] {
            let nlink = if ino == 40 { 2 } else { 1 };
            odc::write_member(&mut built, &Header { ino, mtime, nlink, ..file }, name.as_bytes(), b"x\n").unwrap();
        }
        odc::write_trailer(&mut built);
        let out = Cpio.normalize(&built, &settings()).unwrap().unwrap();
        assert!(out.starts_with(b"070707") && out.len() % 512 == 0, "odc, padded to a block");
        let (members, _) = odc::parse(&out).unwrap();
        let seen: Vec<Seen<'_>> = members
            .iter()
            .map(|m| (m.name, m.header.ino, m.header.nlink, m.header.mtime, m.header.devmajor, m.data))
            .collect();
        // The hard link's data stays with both names, as GNU cpio writes odc.
        let expected: [Seen<'_>; 3] = [
            (b"a", 1, 2, 1_600_000_000, 0, b"x\n"),
            (b"b", 2, 1, 1, 0, b"x\n"),
            (b"c", 1, 2, 1_700_000_000, 0, b"x\n"),
        ];
        assert_eq!(seen, expected);
        assert_eq!(Cpio.normalize(&out, &settings()).unwrap(), None);
    }

    #[test]
    fn an_odc_archive_too_large_for_its_inode_field_is_left_with_a_reason() {
        // 2^18 members: the last one's inode number would need 7 octal digits.
        let mut built = Vec::new();
        let file = Header { format: Format::Odc, mode: 0o100_644, nlink: 1, ..Header::default() };
        for i in 0..1u32 << 18 {
            odc::write_member(&mut built, &file, format!("{i}").as_bytes(), b"").unwrap();
        }
        odc::write_trailer(&mut built);
        let e = Cpio.normalize(&built, &settings()).unwrap_err();
        assert!(matches!(e, FormatError::Unsupported(why) if why.contains("6-digit octal")), "{e}");
    }

    #[test]
    fn binary_and_initramfs_files_are_left_with_a_reason() {
        assert!(!Cpio.matches("x".as_ref(), b"070701 dates"), "text that starts with the digits");
        // A binary member named "test" (name size 5), little-endian.
        let mut binary = vec![0xc7, 0x71];
        binary.extend_from_slice(&[0; 18]);
        binary.extend_from_slice(&[5, 0, 0, 0, 0, 0]);
        binary.extend_from_slice(b"test\0");
        let e = Cpio.normalize(&binary, &settings()).unwrap_err();
        assert!(matches!(e, FormatError::LeftAlone(why) if why.contains("binary")), "{e}");
        binary[30] = b'x'; // the NUL is gone: not an archive
        assert_eq!(Cpio.normalize(&binary, &settings()), Ok(None));
        let mut early = archive(&[("kernel/x86/microcode/GenuineIntel.bin", 1, 0)]);
        early.extend_from_slice(&[0x1f, 0x8b, 8, 0]);
        let e = Cpio.normalize(&early, &settings()).unwrap_err();
        assert!(matches!(e, FormatError::LeftAlone(why) if why.contains("initramfs")), "{e}");
    }
}
