//! `ar` archives: static libraries (`.a`) and Debian packages (`.deb`).
//!
//! Each member's 60-byte header holds its mtime, uid, gid and mode as ASCII. GNU `ar` without
//! `D`, and `dpkg-deb` builds, store the builder's values. As `strip-nondeterminism` does: the
//! mtime follows the [policy](crate::TimePolicy), uid and gid become 0, and the mode 644, or
//! 755 if the owner may execute (a Debian package's members keep `dpkg-deb`'s form, `100644`,
//! so that a package built reproducibly is left byte for byte); the symbol table (`/`, `/SYM64/`) keeps its mode, the long
//! name table (`//`) has none of these fields and is left as it is. Member data is not touched.
//! Thin archives (`!<thin>`) hold no data and are not matched.

use std::path::Path;

use crate::{Format, FormatError, Handler, Settings};

/// The ar handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ar;

const MAGIC: &[u8; 8] = b"!<arch>\n";
const HEADER: usize = 60;

impl Handler for Ar {
    fn format(&self) -> Format {
        Format::Ar
    }

    fn what(&self) -> &'static str {
        "ar members: mtime, owner, mode"
    }

    fn matches(&self, _path: &Path, head: &[u8]) -> bool {
        head.starts_with(MAGIC)
    }

    fn normalize(&self, bytes: &[u8], settings: &Settings) -> Result<Option<Vec<u8>>, FormatError> {
        let patches = header_patches(bytes.len() as u64, settings, |at, header| {
            let at = at as usize;
            header.copy_from_slice(bytes.get(at..at + header.len()).ok_or(())?);
            Ok(())
        })?;
        if patches.is_empty() {
            // Copied only when something changes: archives are often large and normal.
            return Ok(None);
        }
        let mut out = bytes.to_vec();
        for (at, field) in patches {
            out[at as usize..at as usize + field.len()].copy_from_slice(&field);
        }
        Ok(Some(out))
    }
}

/// The header fields to rewrite, as (offset in the file, new 32 bytes), for an archive of `len`
/// bytes whose bytes at an offset `read` gives (`Err` past the end): the members' headers are
/// all it reads, so a large package is normalized without reading its data.
pub(crate) fn header_patches(
    len: u64,
    settings: &Settings,
    mut read: impl FnMut(u64, &mut [u8]) -> Result<(), ()>,
) -> Result<Vec<(u64, [u8; 32])>, FormatError> {
    let mut start = [0u8; MAGIC.len() + 13];
    let short = read(0, &mut start[..MAGIC.len()]);
    if short.is_err() || start[..MAGIC.len()] != MAGIC[..] {
        return Err(FormatError::Malformed { what: "ar magic", offset: 0 });
    }
    let deb = read(0, &mut start).is_ok() && start[MAGIC.len()..].starts_with(b"debian-binary");
    let mut patches = Vec::new();
    let mut pos = MAGIC.len() as u64;
    let mut header = [0u8; HEADER];
    while pos < len {
        let offset = pos as usize;
        read(pos, &mut header).map_err(|()| FormatError::Truncated { what: "ar member header", offset })?;
        if &header[58..60] != b"`\n" {
            return Err(FormatError::Malformed { what: "ar member header magic", offset: offset + 58 });
        }
        let size =
            decimal(&header[48..58]).ok_or(FormatError::Malformed { what: "ar member size", offset: offset + 48 })?;
        let name = &header[..16];
        let data = pos + HEADER as u64;
        let end = data
            .checked_add(size)
            .filter(|&e| e <= len)
            .ok_or(FormatError::Truncated { what: "ar member data", offset: offset + HEADER })?;
        if !name.starts_with(b"// ") {
            let mut field: [u8; 32] = header[16..48].try_into().expect("a 60-byte header");
            normalize_fields(&mut field, name, settings, offset, deb)?;
            if field[..] != header[16..48] {
                patches.push((pos + 16, field));
            }
        }
        // Members start at even offsets; the padding byte may be missing after the last one.
        pos = end + (end % 2);
    }
    Ok(patches)
}

/// Rewrites mtime (12), uid (6), gid (6) and mode (8) of one header.
fn normalize_fields(
    field: &mut [u8],
    name: &[u8],
    settings: &Settings,
    pos: usize,
    deb: bool,
) -> Result<(), FormatError> {
    let symbols = name.starts_with(b"/ ") || name.starts_with(b"/SYM64/ ");
    let mtime = decimal(&field[..12]).ok_or(FormatError::Malformed { what: "ar member mtime", offset: pos + 16 })?;
    let mtime = settings.fix_time(i64::try_from(mtime).unwrap_or(i64::MAX)).max(0);
    put(&mut field[..12], &mtime.to_string());
    put(&mut field[12..18], "0");
    put(&mut field[18..24], "0");
    if !symbols {
        let mode = octal(&field[24..32]).ok_or(FormatError::Malformed { what: "ar member mode", offset: pos + 40 })?;
        let text = match (deb, mode & 0o100 != 0) {
            (false, false) => "644",
            (false, true) => "755",
            (true, false) => "100644",
            (true, true) => "100755",
        };
        put(&mut field[24..32], text);
    }
    Ok(())
}

/// Writes `text` left-aligned and padded with spaces, as `ar` does.
fn put(field: &mut [u8], text: &str) {
    field.fill(b' ');
    let n = text.len().min(field.len());
    field[..n].copy_from_slice(&text.as_bytes()[..n]);
}

/// A space-padded number in `radix`; all spaces is 0 (some writers leave fields blank).
fn number(field: &[u8], radix: u32) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?.trim_end_matches(' ');
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, radix).ok()
}

fn decimal(field: &[u8]) -> Option<u64> {
    number(field, 10)
}

fn octal(field: &[u8]) -> Option<u64> {
    number(field, 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tamis_core::Epoch;

    fn member(name: &str, mtime: &str, uid: &str, mode: &str, data: &[u8]) -> Vec<u8> {
        let mut h = format!("{name:<16}{mtime:<12}{uid:<6}{uid:<6}{mode:<8}{:<10}`\n", data.len()).into_bytes();
        h.extend_from_slice(data);
        if data.len() % 2 == 1 {
            h.push(b'\n');
        }
        h
    }

    fn settings() -> Settings {
        Settings::new(Epoch::from_secs(1_700_000_000).unwrap())
    }

    #[test]
    fn normalizes_like_strip_nondeterminism() {
        let mut a = MAGIC.to_vec();
        a.extend(member("/", "1800000000", "1000", "0", b"\0\0\0\0"));
        a.extend(member("//", "", "", "", b"a-very-long-member-name.o/\n"));
        a.extend(member("x.o/", "1800000000", "1000", "100750", b"xyz"));
        a.extend(member("y.o/", "1600000000", "0", "100640", b"ab"));
        let out = Ar.normalize(&a, &settings()).unwrap().unwrap();
        let mut expected = MAGIC.to_vec();
        expected.extend(member("/", "1700000000", "0", "0", b"\0\0\0\0"));
        expected.extend(member("//", "", "", "", b"a-very-long-member-name.o/\n"));
        expected.extend(member("x.o/", "1700000000", "0", "755", b"xyz"));
        expected.extend(member("y.o/", "1600000000", "0", "644", b"ab"));
        assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&expected));
        assert_eq!(Ar.normalize(&out, &settings()).unwrap(), None);
    }

    #[test]
    fn a_reproducible_deb_is_left_as_dpkg_deb_wrote_it() {
        let mut deb = MAGIC.to_vec();
        deb.extend(member("debian-binary", "1685030075", "0", "100644", b"2.0\n"));
        deb.extend(member("control.tar.xz", "1685030075", "0", "100644", b"x"));
        assert_eq!(Ar.normalize(&deb, &settings()).unwrap(), None);
        let mut newer = MAGIC.to_vec();
        newer.extend(member("debian-binary", "1800000000", "0", "100664", b"2.0\n"));
        newer.extend(member("control.tar.xz", "1800000000", "0", "100644", b"x"));
        let out = Ar.normalize(&newer, &settings()).unwrap().unwrap();
        assert!(String::from_utf8_lossy(&out).contains("debian-binary   1700000000  0     0     100644  4 "));
    }

    #[test]
    fn bad_headers_are_errors() {
        let mut a = MAGIC.to_vec();
        a.extend(member("x.o/", "1800000000", "1000", "100644", b"xyz"));
        assert!(Ar.normalize(&a[..a.len() - 2], &settings()).is_err(), "data cut short");
        let mut bad = a.clone();
        bad[8 + 58] = b'!';
        assert!(Ar.normalize(&bad, &settings()).is_err(), "header magic");
        let mut bad = a;
        bad[8 + 48] = b'x';
        assert!(Ar.normalize(&bad, &settings()).is_err(), "size");
    }
}
