//! The POSIX.1 portable cpio format, `odc` (magic `070707`, `cpio -H odc`).
//!
//! A member is a 76-byte header of octal fields — magic 6, dev 6, ino 6, mode 6, uid 6, gid 6,
//! nlink 6, rdev 6, mtime 11, namesize 6, filesize 11 digits — then the name with its NUL, then
//! the data, without padding. An archive ends with a member named `TRAILER!!!`. Hard links share
//! device and inode numbers, and each name carries the data (GNU cpio writes it with every
//! name, and extracts the first and links the others to it).
//!
//! A device number (`dev`, `rdev`) is one field: major × 256 + minor, as Linux encodes a small
//! device number; it is read into the [`Header`]'s major and minor. Values are read into the
//! same [`Header`] as newc's: a time or size past 32 bits is refused. A value too large for its
//! field is refused when written ([`CpioError::Overflow`]), never cut.

use std::fmt::Write as _;

use crate::newc::{Header, Member, TRAILER};
use crate::{CpioError, Format};

const HEADER_LEN: usize = 76;
/// The widths of the fields after the magic, in the order of the header.
const WIDTHS: [usize; 10] = [6, 6, 6, 6, 6, 6, 6, 11, 6, 11];

/// Whether `bytes` starts with an odc member.
pub fn is_odc(bytes: &[u8]) -> bool {
    bytes.starts_with(b"070707")
}

fn octal_field(field: &[u8], at: usize) -> Result<u64, CpioError> {
    if !field.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return Err(CpioError::Header { at, why: "a field is not octal" });
    }
    Ok(field.iter().fold(0, |n, &b| n * 8 + u64::from(b - b'0')))
}

/// A 6-digit field as a `u32` (it cannot exceed 2¹⁸).
fn small(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Parses one archive starting at `bytes[0]`, up to and including its trailer. Returns the
/// members (without the trailer) and the offset just after the trailer's name.
pub fn parse(bytes: &[u8]) -> Result<(Vec<Member<'_>>, usize), CpioError> {
    let mut members = Vec::new();
    let mut at = 0;
    loop {
        let head = bytes.get(at..at + HEADER_LEN).ok_or(CpioError::Truncated { at, what: "member header" })?;
        if !is_odc(head) {
            return Err(CpioError::Header { at, why: "no odc magic (070707)" });
        }
        let mut fields = [0u64; 10];
        let mut start = 6;
        for (field, width) in fields.iter_mut().zip(WIDTHS) {
            *field = octal_field(&head[start..start + width], at)?;
            start += width;
        }
        let [dev, ino, mode, uid, gid, nlink, rdev, mtime, namesize, filesize] = fields;
        let wide = |n: u64| u32::try_from(n).map_err(|_| CpioError::Header { at, why: "a time or size past 32 bits" });
        let (mtime, filesize) = (wide(mtime)?, wide(filesize)?);
        let header = Header {
            format: Format::Odc,
            ino: small(ino),
            mode: small(mode),
            uid: small(uid),
            gid: small(gid),
            nlink: small(nlink),
            mtime,
            filesize,
            devmajor: small(dev >> 8),
            devminor: small(dev & 0xff),
            rdevmajor: small(rdev >> 8),
            rdevminor: small(rdev & 0xff),
            check: 0,
        };
        let namesize = usize::try_from(namesize).unwrap_or(usize::MAX);
        let name_at = at + HEADER_LEN;
        let name = crate::member_name(bytes, at, name_at, namesize)?;
        let data_at = name_at + namesize;
        let data = bytes.get(data_at..data_at + filesize as usize).ok_or(CpioError::Truncated { at, what: "data" })?;
        at = data_at + data.len();
        if name == TRAILER {
            return Ok((members, at));
        }
        members.push(Member { header, name, data });
    }
}

/// A device number as odc's one field.
fn device(major: u32, minor: u32) -> u64 {
    if minor > 0xff {
        // Not representable as major × 256 + minor: larger than any 6-digit field.
        return u64::MAX;
    }
    u64::from(major) << 8 | u64::from(minor)
}

/// Writes one member, with `data.len()` as its size. A value too large for its field is
/// [`CpioError::Overflow`], and nothing is written.
///
/// # Errors
/// [`CpioError::Overflow`], naming the member and the field.
///
/// # Panics
/// Never: writing to a `String` cannot fail.
pub fn write_member(out: &mut Vec<u8>, header: &Header, name: &[u8], data: &[u8]) -> Result<(), CpioError> {
    let size = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let values: [(&'static str, u64); 10] = [
        ("device", device(header.devmajor, header.devminor)),
        ("inode number", header.ino.into()),
        ("mode", header.mode.into()),
        ("owner", header.uid.into()),
        ("group", header.gid.into()),
        ("link count", header.nlink.into()),
        ("device number", device(header.rdevmajor, header.rdevminor)),
        ("modification time", header.mtime.into()),
        ("name size", size(name.len() + 1)),
        ("file size", size(data.len())),
    ];
    let mut head = String::with_capacity(HEADER_LEN);
    head.push_str("070707");
    for ((field, value), digits) in values.into_iter().zip(WIDTHS) {
        if value >= 1 << (3 * digits) {
            let name = String::from_utf8_lossy(name).into_owned();
            return Err(CpioError::Overflow { name, field, value, digits });
        }
        write!(head, "{value:0digits$o}").expect("writing to a String cannot fail");
    }
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(name);
    out.push(0);
    out.extend_from_slice(data);
    Ok(())
}

/// Writes the trailer member that ends an archive (mode 0, one link, as GNU cpio writes it).
///
/// # Panics
/// Never: the trailer's fields fit.
pub fn write_trailer(out: &mut Vec<u8>) {
    let trailer = Header { format: Format::Odc, nlink: 1, ..Header::default() };
    write_member(out, &trailer, TRAILER, &[]).expect("the trailer's fields fit");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::newc::{S_IFDIR, S_IFREG};

    #[test]
    fn writes_what_it_parses_in_the_header_gnu_cpio_writes() {
        let mut out = Vec::new();
        let file = Header {
            format: Format::Odc,
            ino: 0o454_454,
            mode: S_IFREG | 0o644,
            uid: 1000,
            gid: 100,
            nlink: 2,
            mtime: 1_700_000_000,
            devmajor: 254,
            devminor: 3,
            rdevmajor: 4,
            rdevminor: 64,
            ..Header::default()
        };
        write_member(&mut out, &file, b"etc/hostname", b"debian\n").unwrap();
        let dir = Header { format: Format::Odc, ino: 8, mode: S_IFDIR | 0o755, nlink: 2, ..Header::default() };
        write_member(&mut out, &dir, b"etc", b"").unwrap();
        write_trailer(&mut out);
        assert_eq!(&out[..HEADER_LEN], b"0707071770034544541006440017500001440000020021001452477040000001500000000007");
        assert_eq!(&out[HEADER_LEN..HEADER_LEN + 20], b"etc/hostname\0debian\n");
        // GNU cpio's trailer, byte for byte.
        let trailer = b"0707070000000000000000000000000000000000010000000000000000000001300000000000TRAILER!!!\0";
        assert!(out.ends_with(trailer));
        let (members, end) = parse(&out).unwrap();
        assert_eq!(end, out.len());
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].header, Header { filesize: 7, ..file });
        assert_eq!(members[0].name, b"etc/hostname");
        assert_eq!(members[0].data, b"debian\n");
        assert!(members[1].is_dir());
        assert_eq!(members[1].header.format, Format::Odc);
    }

    #[test]
    fn values_too_large_for_their_fields_are_refused_not_cut() {
        let fits = Header { format: Format::Odc, ino: 0o777_777, mode: S_IFREG, nlink: 1, ..Header::default() };
        let mut out = Vec::new();
        write_member(&mut out, &fits, b"a", b"").unwrap();
        for (header, field) in [
            (Header { ino: 0o1_000_000, ..fits }, "inode number"),
            (Header { uid: 262_144, ..fits }, "owner"),
            (Header { nlink: u32::MAX, ..fits }, "link count"),
            (Header { rdevmajor: 1024, ..fits }, "device number"),
            (Header { devminor: 256, ..fits }, "device"),
        ] {
            let mut out = Vec::new();
            let e = write_member(&mut out, &header, b"a", b"").unwrap_err();
            assert!(matches!(&e, CpioError::Overflow { field: f, digits: 6, .. } if *f == field), "{e}");
            assert!(out.is_empty(), "nothing written");
        }
        // An mtime has 11 digits: every 32-bit time fits.
        write_member(&mut out, &Header { mtime: u32::MAX, ..fits }, b"a", b"").unwrap();
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        write_member(
            &mut out,
            &Header { format: Format::Odc, mode: S_IFREG, nlink: 1, ..Header::default() },
            b"name",
            b"data",
        )
        .unwrap();
        write_trailer(&mut out);
        for cut in [0, 5, 75, 78, 82, out.len() - 1] {
            assert!(parse(&out[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = out.clone();
        bad[8] = b'8'; // not an octal digit
        assert!(matches!(parse(&bad), Err(CpioError::Header { why: "a field is not octal", .. })));
        let mut long_name = out.clone();
        long_name[59..65].copy_from_slice(b"777777"); // namesize
        assert!(matches!(parse(&long_name), Err(CpioError::Truncated { what: "name", .. })));
        let mut late = out.clone();
        late[48..59].copy_from_slice(b"77777777777"); // mtime past 2106
        assert!(matches!(parse(&late), Err(CpioError::Header { why: "a time or size past 32 bits", .. })));
    }
}
