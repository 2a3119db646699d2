//! gzip (RFC 1952): the header of every member.
//!
//! A header carries the input's mtime (bytes 4–7), optionally its name (`FNAME`: `mkinitramfs`
//! leaks `mkinitramfs-MAIN_XXXXXX`), and the OS of the compressing machine (byte 9). Only the
//! headers are rewritten: mtime by the [policy](crate::TimePolicy) (0, "no time", stays 0), the
//! name dropped unless [`Settings::gzip_keep_name`], the OS set to 3 (Unix), and the header CRC
//! (`FHCRC`) recomputed. Compressed data and trailers are copied byte for byte.
//!
//! No header is changed before the member it heads is proven whole: its deflate stream is
//! inflated (output discarded, 64 KiB at a time) and the CRC-32 and length (`ISIZE`) of the
//! trailer are checked against what came out. A truncated or corrupt member is an error, and the
//! file is left as it was and named. Inflating is also how the end of a member, hence the start
//! of the next, is found. Bytes after the last member that are not a gzip member (zero padding)
//! are kept as they are.
//!
//! Most gzip files of a system need nothing (Debian compresses with `gzip -n`: no time, no
//! name). A file whose first header is already normal and in which a member's first three
//! bytes (`1f 8b 08`) occur nowhere after that header has no other member, so nothing to change:
//! it is left as it is without being inflated, and a corruption of its data is not looked for
//! (the file is not touched, as a corrupt file would not be). The search runs at memory speed;
//! inflating was a third of `tamis strip`'s time on a Debian root file system.
//!
//! A file too large to be read whole ([`crate::READ_WHOLE_LIMIT`]) is checked by
//! [`header_patches`], streamed from the file and always inflated (on a corrupt one, inflating
//! stops early where a search would read it to its end), and patched in place; its headers must
//! then keep their length (a file name to drop is refused with a reason).

use std::io::BufRead;
use std::path::Path;

use flate2::{Decompress, FlushDecompress, Status};

use crate::{Format, FormatError, Handler, Settings, le16, le32};

/// The gzip handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gzip;

const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;
const RESERVED: u8 = 0xe0;
/// The first three bytes of every member: ID1, ID2, and CM 8 (deflate, the only method).
const MEMBER_START: [u8; 3] = [0x1f, 0x8b, 8];
/// The OS byte of a member made on Unix.
const OS_UNIX: u8 = 3;

/// One member's header, as parsed.
struct Header<'a> {
    flags: u8,
    mtime: u32,
    xfl: u8,
    extra: Option<&'a [u8]>,
    name: Option<&'a [u8]>,
    comment: Option<&'a [u8]>,
    /// Header length in bytes.
    len: usize,
}

impl Handler for Gzip {
    fn format(&self) -> Format {
        Format::Gzip
    }

    fn what(&self) -> &'static str {
        "gzip header: mtime, file name, OS"
    }

    fn matches(&self, _path: &Path, head: &[u8]) -> bool {
        head.starts_with(&[0x1f, 0x8b, 8])
    }

    fn normalize(&self, bytes: &[u8], settings: &Settings) -> Result<Option<Vec<u8>>, FormatError> {
        if !bytes.starts_with(&[0x1f, 0x8b]) {
            return Err(FormatError::Malformed { what: "gzip magic", offset: 0 });
        }
        let first = parse_header(bytes)?;
        if is_normal(&first, bytes, settings) && memchr::memmem::find(&bytes[first.len..], &MEMBER_START).is_none() {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut pos = 0;
        let mut inflater = Decompress::new(false);
        while pos < bytes.len() {
            let rest = &bytes[pos..];
            if !rest.starts_with(&[0x1f, 0x8b]) {
                // Padding after the last member: gzip ignores it, so do we.
                break;
            }
            let header = parse_header(rest).map_err(|e| shift(e, pos))?;
            let body = pos + header.len;
            let mut data = &bytes[body..];
            let end = body + to_usize(check_member(&mut inflater, &mut data, body as u64)?);
            write_header(&mut out, &header, settings);
            out.extend_from_slice(&bytes[body..end]);
            pos = end;
        }
        out.extend_from_slice(&bytes[pos..]);
        Ok((out != bytes).then_some(out))
    }
}

/// The most a member header may take: 10 fixed bytes, an extra field of up to 64 KiB, and a name
/// and a comment; a longer one is refused when streaming.
const HEADER_MAX: usize = 1 << 18;

/// The headers to rewrite, as (offset, new bytes), of a gzip file of `len` bytes streamed from
/// `file`: every member is inflated and checked against its trailer before any header is
/// listed, so a corrupt file gives an error and no patch. Memory stays bounded (a header, a
/// read buffer and the inflater's window) whatever the file's size.
pub fn header_patches(file: &std::fs::File, len: u64, settings: &Settings) -> Result<Vec<(u64, Vec<u8>)>, FormatError> {
    use std::io::{Seek as _, SeekFrom};
    use std::os::unix::fs::FileExt as _;

    let unreadable = |offset: u64| FormatError::Malformed { what: "unreadable bytes", offset: to_usize(offset) };
    let mut patches = Vec::new();
    let mut inflater = Decompress::new(false);
    let mut head = vec![0u8; HEADER_MAX];
    let mut pos = 0u64;
    while pos < len {
        let want = usize::try_from(len - pos).unwrap_or(HEADER_MAX).min(HEADER_MAX);
        file.read_exact_at(&mut head[..want], pos).map_err(|_| unreadable(pos))?;
        let rest = &head[..want];
        if !rest.starts_with(&[0x1f, 0x8b]) {
            if pos == 0 {
                return Err(FormatError::Malformed { what: "gzip magic", offset: 0 });
            }
            break;
        }
        let header = parse_header(rest).map_err(|e| shift(e, to_usize(pos)))?;
        let mut new = Vec::new();
        write_header(&mut new, &header, settings);
        let body = pos + header.len as u64;
        let mut reader = file;
        reader.seek(SeekFrom::Start(body)).map_err(|_| unreadable(body))?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, reader);
        let end = body + check_member(&mut inflater, &mut reader, body)?;
        if new != rest[..header.len] {
            if new.len() != header.len {
                return Err(FormatError::Unsupported(
                    "a gzip file too large to read whole whose header changes length (a file name to drop)",
                ));
            }
            patches.push((pos, new));
        }
        pos = end;
    }
    Ok(patches)
}

/// Whether `header`, parsed from the start of `bytes`, is already what [`write_header`] makes.
fn is_normal(header: &Header<'_>, bytes: &[u8], settings: &Settings) -> bool {
    let mut new = Vec::with_capacity(header.len);
    write_header(&mut new, header, settings);
    new == bytes[..header.len]
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn shift(e: FormatError, by: usize) -> FormatError {
    match e {
        FormatError::Truncated { what, offset } => FormatError::Truncated { what, offset: offset + by },
        FormatError::Malformed { what, offset } => FormatError::Malformed { what, offset: offset + by },
        other => other,
    }
}

/// The mtime and file name recorded in the header of the gzip member that starts `bytes`:
/// what differs between two compressions of the same data at different times.
pub fn header_mtime_and_name(bytes: &[u8]) -> Result<(u32, Option<&[u8]>), FormatError> {
    parse_header(bytes).map(|h| (h.mtime, h.name))
}

fn parse_header(bytes: &[u8]) -> Result<Header<'_>, FormatError> {
    let fixed = bytes.get(..10).ok_or(FormatError::Truncated { what: "gzip header", offset: 0 })?;
    if fixed[2] != 8 {
        return Err(FormatError::Malformed { what: "gzip compression method (not deflate)", offset: 2 });
    }
    let flags = fixed[3];
    if flags & RESERVED != 0 {
        return Err(FormatError::Malformed { what: "gzip reserved flag bits set", offset: 3 });
    }
    let mtime = le32(bytes, 4, "gzip mtime")?;
    let mut pos = 10;
    let mut extra = None;
    if flags & FEXTRA != 0 {
        let len = usize::from(le16(bytes, pos, "gzip extra field length")?);
        extra = Some(
            bytes
                .get(pos + 2..pos + 2 + len)
                .ok_or(FormatError::Truncated { what: "gzip extra field", offset: pos })?,
        );
        pos += 2 + len;
    }
    let mut zero_terminated = |what: &'static str| -> Result<&[u8], FormatError> {
        let field = bytes.get(pos..).unwrap_or_default();
        let nul = field.iter().position(|&b| b == 0).ok_or(FormatError::Truncated { what, offset: pos })?;
        pos += nul + 1;
        Ok(&field[..nul])
    };
    let name = if flags & FNAME != 0 { Some(zero_terminated("gzip file name")?) } else { None };
    let comment = if flags & FCOMMENT != 0 { Some(zero_terminated("gzip comment")?) } else { None };
    if flags & FHCRC != 0 {
        let stored = le16(bytes, pos, "gzip header CRC")?;
        if u32::from(stored) != crc32fast::hash(&bytes[..pos]) & 0xffff {
            return Err(FormatError::Malformed { what: "gzip header CRC", offset: pos });
        }
        pos += 2;
    }
    Ok(Header { flags, mtime, xfl: fixed[8], extra, name, comment, len: pos })
}

fn write_header(out: &mut Vec<u8>, header: &Header<'_>, settings: &Settings) {
    let start = out.len();
    let name = header.name.filter(|_| settings.gzip_keep_name);
    let flags = if name.is_some() { header.flags } else { header.flags & !FNAME };
    let mtime = if header.mtime == 0 {
        0
    } else {
        u32::try_from(settings.fix_time(i64::from(header.mtime)).max(0)).unwrap_or(u32::MAX)
    };
    out.extend_from_slice(&[0x1f, 0x8b, 8, flags]);
    out.extend_from_slice(&mtime.to_le_bytes());
    out.extend_from_slice(&[header.xfl, OS_UNIX]);
    if let Some(extra) = header.extra {
        // The length fitted in 16 bits when it was read.
        out.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        out.extend_from_slice(extra);
    }
    for field in [name, header.comment].into_iter().flatten() {
        out.extend_from_slice(field);
        out.push(0);
    }
    if flags & FHCRC != 0 {
        let crc = (crc32fast::hash(&out[start..]) & 0xffff) as u16;
        out.extend_from_slice(&crc.to_le_bytes());
    }
}

/// Inflates the deflate stream `input` starts with (output discarded, its CRC-32 and length
/// checked against the 8-byte trailer that follows) and returns the length of the stream and
/// trailer. `body` is where `input` starts in the file, for errors.
fn check_member(inflater: &mut Decompress, input: &mut impl BufRead, body: u64) -> Result<u64, FormatError> {
    inflater.reset(false);
    let mut scratch = vec![0u8; 1 << 16];
    let mut crc = crc32fast::Hasher::new();
    let at = |inflater: &Decompress| to_usize(body.saturating_add(inflater.total_in()));
    loop {
        let chunk =
            input.fill_buf().map_err(|_| FormatError::Malformed { what: "unreadable bytes", offset: at(inflater) })?;
        let (before_in, before_out) = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress(chunk, &mut scratch, FlushDecompress::None)
            .map_err(|_| FormatError::Malformed { what: "deflate data", offset: at(inflater) })?;
        let used = to_usize(inflater.total_in() - before_in);
        let produced = to_usize(inflater.total_out() - before_out);
        crc.update(&scratch[..produced]);
        input.consume(used);
        match status {
            Status::StreamEnd => break,
            Status::Ok | Status::BufError if used == 0 && produced == 0 => {
                return Err(FormatError::Truncated { what: "deflate data", offset: at(inflater) });
            }
            Status::Ok | Status::BufError => {}
        }
    }
    let data_end = at(inflater);
    let mut trailer = [0u8; 8];
    input.read_exact(&mut trailer).map_err(|_| FormatError::Truncated { what: "gzip trailer", offset: data_end })?;
    let stored_crc = le32(&trailer, 0, "gzip trailer")?;
    let stored_len = le32(&trailer, 4, "gzip trailer")?;
    if stored_crc != crc.finalize() {
        return Err(FormatError::Malformed { what: "gzip CRC-32 of the data", offset: data_end });
    }
    // ISIZE is the length modulo 2^32.
    if stored_len != inflater.total_out() as u32 {
        return Err(FormatError::Malformed { what: "gzip length of the data", offset: data_end + 4 });
    }
    Ok(inflater.total_in() + 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tamis_core::Epoch;

    const EPOCH: i64 = 1_700_000_000;

    fn settings() -> Settings {
        Settings::new(Epoch::from_secs(EPOCH).unwrap())
    }

    /// A member holding nothing: header, an empty final static block, a zero trailer.
    fn member(flags: u8, mtime: u32, os: u8, fields: &[u8]) -> Vec<u8> {
        let mut m = vec![0x1f, 0x8b, 8, flags];
        m.extend_from_slice(&mtime.to_le_bytes());
        m.extend_from_slice(&[0, os]);
        m.extend_from_slice(fields);
        m.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        m
    }

    #[test]
    fn rewrites_every_member_header_only() {
        let mut file = member(FNAME, 1_800_000_000, 0, b"mkinitramfs-MAIN_x3Fq9a\0");
        file.extend(member(0, 1_600_000_000, 3, b""));
        file.extend([0, 0, 0]);
        let out = Gzip.normalize(&file, &settings()).unwrap().unwrap();
        let mut expected = member(0, EPOCH as u32, 3, b"");
        expected.extend(member(0, 1_600_000_000, 3, b""));
        expected.extend([0, 0, 0]);
        assert_eq!(out, expected);
        assert_eq!(Gzip.normalize(&out, &settings()).unwrap(), None);
    }

    #[test]
    fn keeps_zero_and_names_on_request_and_recomputes_the_header_crc() {
        let mut s = settings();
        s.gzip_keep_name = true;
        s.policy = crate::TimePolicy::Set;
        assert_eq!(Gzip.normalize(&member(0, 0, 3, b""), &s).unwrap(), None, "mtime 0 means none");
        let mut fields = b"a.txt\0".to_vec();
        let mut header = vec![0x1f, 0x8b, 8, FNAME | FHCRC, 1, 0, 0, 0, 0, 0];
        header.extend_from_slice(&fields);
        let crc = (crc32fast::hash(&header) & 0xffff) as u16;
        fields.extend_from_slice(&crc.to_le_bytes());
        let out = Gzip.normalize(&member(FNAME | FHCRC, 1, 0, &fields), &s).unwrap().unwrap();
        assert_eq!(&out[4..8], &(EPOCH as u32).to_le_bytes());
        assert_eq!(&out[10..16], b"a.txt\0");
        assert_eq!(Gzip.normalize(&out, &s).unwrap(), None);
    }

    #[test]
    fn corrupt_input_is_an_error() {
        let good = member(0, 1_800_000_000, 0, b"");
        for cut in [3, 9] {
            assert!(Gzip.normalize(&good[..cut], &settings()).is_err(), "header cut at {cut}");
        }
        let mut reserved = good.clone();
        reserved[3] = 0x20;
        assert!(Gzip.normalize(&reserved, &settings()).is_err());
        // With a second member, the first is inflated and checked.
        let mut two = good.clone();
        two.extend_from_slice(&good);
        two[13] = 1;
        assert!(Gzip.normalize(&two, &settings()).is_err(), "CRC of the first member");
        let mut cut = good.clone();
        cut.extend_from_slice(&good[..8]);
        assert!(Gzip.normalize(&cut, &settings()).is_err(), "second member header cut");
    }

    #[test]
    fn a_normal_only_member_is_left_without_inflating_and_a_later_member_is_still_found() {
        let normal = member(0, 0, OS_UNIX, b"");
        let mut bad_trailer = normal.clone();
        let at = bad_trailer.len() - 8;
        bad_trailer[at] = 1;
        assert_eq!(Gzip.normalize(&bad_trailer, &settings()).unwrap(), None, "nothing to change, nothing read");
        // A second member behind a normal first one: found by its first bytes, then both are
        // inflated as before (the bad trailer is seen), and a sound pair gets its second header.
        let mut two = normal.clone();
        two.extend(member(0, 1_800_000_000, 0, b""));
        let out = Gzip.normalize(&two, &settings()).unwrap().unwrap();
        assert_eq!(out[normal.len()..], member(0, EPOCH as u32, OS_UNIX, b""));
        bad_trailer.extend(member(0, 1_800_000_000, 0, b""));
        assert!(Gzip.normalize(&bad_trailer, &settings()).is_err());

        // A file too large to read whole is inflated whatever its headers (a search through
        // gigabytes of a corrupt file would take longer than inflating stops on it).
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("one.gz");
        std::fs::write(&path, &bad_trailer[..normal.len()]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        assert!(header_patches(&file, normal.len() as u64, &settings()).is_err());
    }

    #[test]
    fn a_single_member_is_checked_before_its_header_changes() {
        let good = member(FNAME, 1_800_000_000, 0, b"name\0");
        assert!(Gzip.normalize(&good, &settings()).unwrap().is_some());
        let at = good.len() - 8;
        for (i, what) in [(at, "CRC-32"), (at + 4, "length")] {
            let mut bad = good.clone();
            bad[i] = 1;
            let e = Gzip.normalize(&bad, &settings()).unwrap_err();
            assert!(e.to_string().contains(what), "{e}");
        }
        let e = Gzip.normalize(&good[..good.len() - 3], &settings()).unwrap_err();
        assert!(matches!(e, FormatError::Truncated { what: "gzip trailer", .. }), "{e}");
        let e = Gzip.normalize(&good[..good.len() - 9], &settings()).unwrap_err();
        assert!(matches!(e, FormatError::Truncated { what: "deflate data", .. }), "{e}");
    }
}
