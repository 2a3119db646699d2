//! The SVR4 cpio formats the Linux kernel reads: `newc` (magic `070701`) and `crc` (`070702`,
//! the same with a checksum of each file's bytes).
//!
//! A member is a 110-byte header of thirteen 8-digit hexadecimal fields, the name (with its
//! NUL) padded so that header and name end on a 4-byte boundary, then the data padded to a
//! 4-byte boundary. An archive ends with a member named `TRAILER!!!`. Hard links share an inode
//! number; the data is stored once, with one of the names (GNU cpio: the last one).

use std::io::Write;

use crate::{CpioError, Format};

const HEADER_LEN: usize = 110;
pub(crate) const TRAILER: &[u8] = b"TRAILER!!!";

/// A member's header, as numbers: of the newc and crc formats, and of odc ([`crate::odc`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// The format the member was read in and is written in.
    pub format: Format,
    /// Inode number: only meaningful for telling hard links apart.
    pub ino: u32,
    /// Type and permission bits, as in `st_mode`.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Number of links.
    pub nlink: u32,
    /// Modification time, seconds since 1970.
    pub mtime: u32,
    /// Size of the data that follows.
    pub filesize: u32,
    /// Device of the file system the member was read from (major).
    pub devmajor: u32,
    /// Device of the file system the member was read from (minor).
    pub devminor: u32,
    /// Device number of a device node (major).
    pub rdevmajor: u32,
    /// Device number of a device node (minor).
    pub rdevminor: u32,
    /// With `crc`: the sum of the data's bytes, modulo 2³²; otherwise 0.
    pub check: u32,
}

/// One member of an archive, borrowing its name and data from the archive's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member<'a> {
    /// The header.
    pub header: Header,
    /// The name, without its NUL.
    pub name: &'a [u8],
    /// The data: file contents, or a link's target.
    pub data: &'a [u8],
}

/// File type bits of `mode`.
pub const S_IFMT: u32 = 0o170_000;
/// Directory.
pub const S_IFDIR: u32 = 0o040_000;
/// Regular file.
pub const S_IFREG: u32 = 0o100_000;

impl Member<'_> {
    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.header.mode & S_IFMT == S_IFREG
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.header.mode & S_IFMT == S_IFDIR
    }
}

fn align4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

fn hex_field(field: &[u8], at: usize) -> Result<u32, CpioError> {
    let text = std::str::from_utf8(field).map_err(|_| CpioError::Header { at, why: "a field is not ASCII" })?;
    u32::from_str_radix(text, 16).map_err(|_| CpioError::Header { at, why: "a field is not hexadecimal" })
}

/// The `crc` format's checksum: the sum of the bytes, modulo 2³².
fn checksum(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |sum, &b| sum.wrapping_add(u32::from(b)))
}

/// Whether `bytes` starts with a newc or crc member.
pub fn is_newc(bytes: &[u8]) -> bool {
    bytes.starts_with(b"070701") || bytes.starts_with(b"070702")
}

/// Parses one archive starting at `bytes[0]`, up to and including its trailer. Returns the
/// members (without the trailer) and the offset just after the trailer's padding.
pub fn parse(bytes: &[u8]) -> Result<(Vec<Member<'_>>, usize), CpioError> {
    let mut members = Vec::new();
    let mut at = 0;
    loop {
        let head = bytes.get(at..at + HEADER_LEN).ok_or(CpioError::Truncated { at, what: "member header" })?;
        let format = match &head[..6] {
            b"070701" => Format::Newc,
            b"070702" => Format::Crc,
            _ => return Err(CpioError::Header { at, why: "no newc or crc magic (070701, 070702)" }),
        };
        let mut fields = [0u32; 13];
        for (i, field) in fields.iter_mut().enumerate() {
            *field = hex_field(&head[6 + 8 * i..14 + 8 * i], at)?;
        }
        let [ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check] =
            fields;
        let crc = format == Format::Crc;
        let header = Header {
            format,
            ino,
            mode,
            uid,
            gid,
            nlink,
            mtime,
            filesize,
            devmajor,
            devminor,
            rdevmajor,
            rdevminor,
            check,
        };
        let namesize = namesize as usize;
        let name_at = at + HEADER_LEN;
        let name = crate::member_name(bytes, at, name_at, namesize)?;
        let data_at = align4(name_at + namesize);
        let data = bytes.get(data_at..data_at + filesize as usize).ok_or(CpioError::Truncated { at, what: "data" })?;
        // The checksum is a regular file's (GNU cpio writes 0 for a link's target, and the
        // kernel checks files only); GNU cpio stores a hard-link group's data with one name and
        // gives every name's header its checksum: a member without data has nothing to check.
        let checked = mode & S_IFMT == S_IFREG && !data.is_empty();
        if crc && checked && checksum(data) != check {
            return Err(CpioError::Header { at, why: "data does not match its crc checksum" });
        }
        at = align4(data_at + data.len());
        if name == TRAILER {
            return Ok((members, at));
        }
        members.push(Member { header, name, data });
    }
}

/// Writes one member: in the crc format if `header.format` is [`Format::Crc`], in newc
/// otherwise (an odc member is written by [`crate::odc::write_member`]).
pub fn write_member(out: &mut impl Write, header: &Header, name: &[u8], data: &[u8]) -> std::io::Result<()> {
    let crc = header.format == Format::Crc;
    let magic = if crc { "070702" } else { "070701" };
    // Only a regular file's data has a checksum, as GNU cpio writes it.
    let check = if crc && header.mode & S_IFMT == S_IFREG { checksum(data) } else { 0 };
    let namesize = name.len() + 1;
    write!(
        out,
        "{magic}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
        header.ino,
        header.mode,
        header.uid,
        header.gid,
        header.nlink,
        header.mtime,
        data.len(),
        header.devmajor,
        header.devminor,
        header.rdevmajor,
        header.rdevminor,
        namesize,
        check
    )?;
    out.write_all(name)?;
    let name_end = HEADER_LEN + namesize;
    out.write_all(&[0u8; 4][..1 + align4(name_end) - name_end])?;
    out.write_all(data)?;
    out.write_all(&[0u8; 3][..align4(data.len()) - data.len()])
}

/// Writes the trailer member that ends an archive.
pub fn write_trailer(out: &mut impl Write, crc: bool) -> std::io::Result<()> {
    let format = if crc { Format::Crc } else { Format::Newc };
    write_member(out, &Header { format, nlink: 1, ..Header::default() }, TRAILER, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_it_parses() {
        let mut out = Vec::new();
        let file = Header { ino: 7, mode: S_IFREG | 0o644, nlink: 1, mtime: 1_700_000_000, ..Header::default() };
        write_member(&mut out, &file, b"etc/hostname", b"debian\n").unwrap();
        let dir = Header { ino: 8, mode: S_IFDIR | 0o755, nlink: 2, ..Header::default() };
        write_member(&mut out, &dir, b"etc", b"").unwrap();
        write_trailer(&mut out, false).unwrap();
        assert_eq!(out.len() % 4, 0);
        let (members, end) = parse(&out).unwrap();
        assert_eq!(end, out.len());
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].name, b"etc/hostname");
        assert_eq!(members[0].data, b"debian\n");
        assert_eq!(members[0].header.filesize, 7);
        assert!(members[1].is_dir());
    }

    #[test]
    fn crc_archives_carry_and_check_sums() {
        let mut out = Vec::new();
        let file = Header { format: Format::Crc, mode: S_IFREG | 0o644, nlink: 1, ..Header::default() };
        write_member(&mut out, &file, b"x", b"\x01\x02\xff").unwrap();
        write_trailer(&mut out, true).unwrap();
        let (members, _) = parse(&out).unwrap();
        assert_eq!(members[0].header.check, 0x102);
        out[110 + 4] ^= 1; // flip a data bit
        assert!(matches!(parse(&out), Err(CpioError::Header { why: "data does not match its crc checksum", .. })));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        write_member(&mut out, &Header { mode: S_IFREG, nlink: 1, ..Header::default() }, b"name", b"data").unwrap();
        write_trailer(&mut out, false).unwrap();
        for cut in [0, 5, 109, 112, 118, out.len() - 1] {
            assert!(parse(&out[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = out.clone();
        bad[0] = b'1';
        assert!(parse(&bad).is_err());
        let mut long_name = out.clone();
        long_name[94..102].copy_from_slice(b"FFFFFFFF"); // namesize
        assert!(matches!(parse(&long_name), Err(CpioError::Truncated { what: "name", .. })));
    }
}
