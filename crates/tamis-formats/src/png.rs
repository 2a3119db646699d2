//! PNG: the `tIME` chunk and text chunks that hold dates.
//!
//! Writers record the time of the last change in `tIME`, and ImageMagick and GIMP add
//! `tEXt`/`zTXt`/`iTXt` chunks keyed `date:create`, `date:modify`, `date:timestamp` or
//! `Creation Time`. Those chunks are removed (a PNG needs none of them); every other chunk is
//! copied byte for byte, so the CRCs of what is kept are the ones the writer computed. Every
//! chunk's CRC is checked first: a damaged image is reported, not rewritten. Bytes after `IEND`
//! are kept.

use std::path::Path;

use crate::{Format, FormatError, Handler, Settings};

/// The PNG handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct Png;

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

impl Handler for Png {
    fn format(&self) -> Format {
        Format::Png
    }

    fn what(&self) -> &'static str {
        "png: tIME and date text chunks"
    }

    fn matches(&self, _path: &Path, head: &[u8]) -> bool {
        head.starts_with(SIGNATURE)
    }

    fn normalize(&self, bytes: &[u8], _settings: &Settings) -> Result<Option<Vec<u8>>, FormatError> {
        if !bytes.starts_with(SIGNATURE) {
            return Err(FormatError::Malformed { what: "png signature", offset: 0 });
        }
        let mut out = Vec::with_capacity(bytes.len());
        out.extend_from_slice(SIGNATURE);
        let mut pos = SIGNATURE.len();
        let mut dropped = false;
        loop {
            let head =
                bytes.get(pos..pos + 8).ok_or(FormatError::Truncated { what: "png chunk header", offset: pos })?;
            let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
            if len > 0x7fff_ffff {
                return Err(FormatError::Malformed { what: "png chunk length", offset: pos });
            }
            let kind = &head[4..8];
            let end = (pos + 12).checked_add(len as usize).filter(|&e| e <= bytes.len());
            let end = end.ok_or(FormatError::Truncated { what: "png chunk", offset: pos })?;
            let data = &bytes[pos + 8..end - 4];
            let stored = u32::from_be_bytes([bytes[end - 4], bytes[end - 3], bytes[end - 2], bytes[end - 1]]);
            if stored != crc32fast::hash(&bytes[pos + 4..end - 4]) {
                return Err(FormatError::Malformed { what: "png chunk CRC", offset: end - 4 });
            }
            if is_date(kind, data) {
                dropped = true;
            } else {
                out.extend_from_slice(&bytes[pos..end]);
            }
            pos = end;
            if kind == b"IEND" {
                break;
            }
        }
        if !dropped {
            return Ok(None);
        }
        out.extend_from_slice(&bytes[pos..]);
        Ok(Some(out))
    }
}

/// Whether a chunk records a date: `tIME`, or a text chunk with a date keyword.
fn is_date(kind: &[u8], data: &[u8]) -> bool {
    if kind == b"tIME" {
        return true;
    }
    if !matches!(kind, b"tEXt" | b"zTXt" | b"iTXt") {
        return false;
    }
    let keyword = data.split(|&b| b == 0).next().unwrap_or_default();
    keyword.starts_with(b"date:") || keyword == b"Creation Time"
}

#[cfg(test)]
mod tests {
    use super::*;
    use tamis_core::Epoch;

    fn chunk(kind: [u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(&kind);
        c.extend_from_slice(data);
        let crc = crc32fast::hash(&c[4..]);
        c.extend_from_slice(&crc.to_be_bytes());
        c
    }

    fn settings() -> Settings {
        Settings::new(Epoch::from_secs(1_700_000_000).unwrap())
    }

    #[test]
    fn drops_date_chunks_only() {
        let ihdr = chunk(*b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
        let idat = chunk(*b"IDAT", b"x\x9cc\x00\x00\x00\x01\x00\x01");
        let keep = chunk(*b"tEXt", b"Software\0tamis");
        let mut png = SIGNATURE.to_vec();
        for c in [&ihdr, &chunk(*b"tIME", &[7, 234, 11, 23, 1, 2, 3]), &keep, &chunk(*b"tEXt", b"date:create\x002026")]
        {
            png.extend_from_slice(c);
        }
        png.extend(chunk(*b"iTXt", b"Creation Time\0\0\0\0\0now"));
        png.extend_from_slice(&idat);
        png.extend(chunk(*b"IEND", b""));
        let out = Png.normalize(&png, &settings()).unwrap().unwrap();
        let mut expected = SIGNATURE.to_vec();
        for c in [&ihdr, &keep, &idat, &chunk(*b"IEND", b"")] {
            expected.extend_from_slice(c);
        }
        assert_eq!(out, expected);
        assert_eq!(Png.normalize(&out, &settings()).unwrap(), None);
        let mut bad = out.clone();
        bad[SIGNATURE.len() + 10] ^= 1;
        assert!(Png.normalize(&bad, &settings()).is_err(), "CRC");
        assert!(Png.normalize(&out[..out.len() - 1], &settings()).is_err(), "cut");
    }
}
