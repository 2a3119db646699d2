//! U-Boot legacy images (`uImage`, `uInitrd`, boot scripts made by `mkimage`).
//!
//! The 64-byte header, all fields big-endian, holds the time `mkimage` ran (`ih_time`, byte 8)
//! and a CRC-32 of the header itself (`ih_hcrc`, byte 4, computed with that field zero). This
//! handler applies the [policy](crate::TimePolicy) to the time and recomputes the header CRC;
//! the payload and its CRC (`ih_dcrc`) are left as they are. A header whose CRC does not match
//! is reported, not rewritten: U-Boot would refuse the image already. FIT images (a device
//! tree, magic `d00dfeed`) are a different format and not matched.

use std::path::Path;

use crate::{Format, FormatError, Handler, Settings};

/// The U-Boot legacy image handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct Uimage;

const MAGIC: [u8; 4] = 0x2705_1956_u32.to_be_bytes();
const HEADER_LEN: usize = 64;
const HCRC_AT: usize = 4;
const TIME_AT: usize = 8;
const SIZE_AT: usize = 12;

impl Handler for Uimage {
    fn format(&self) -> Format {
        Format::Uimage
    }

    fn what(&self) -> &'static str {
        "U-Boot image header: creation time and header CRC"
    }

    fn matches(&self, _path: &Path, head: &[u8]) -> bool {
        head.starts_with(&MAGIC)
    }

    fn normalize(&self, bytes: &[u8], settings: &Settings) -> Result<Option<Vec<u8>>, FormatError> {
        let header =
            bytes.get(..HEADER_LEN).ok_or(FormatError::Truncated { what: "U-Boot image header", offset: 0 })?;
        if header[..4] != MAGIC {
            return Err(FormatError::Malformed { what: "U-Boot image magic", offset: 0 });
        }
        if header_crc(header) != be32(header, HCRC_AT) {
            return Err(FormatError::Malformed { what: "U-Boot image header CRC", offset: HCRC_AT });
        }
        let size = be32(header, SIZE_AT) as usize;
        if HEADER_LEN.checked_add(size).is_none_or(|end| end > bytes.len()) {
            return Err(FormatError::Truncated { what: "U-Boot image payload", offset: HEADER_LEN });
        }
        let time = i64::from(be32(header, TIME_AT));
        // The field is an unsigned 32-bit count of seconds: an epoch past 2106 cannot be stored.
        let fixed = u32::try_from(settings.fix_time(time))
            .map_err(|_| FormatError::Unsupported("the epoch does not fit the 32-bit time field"))?;
        if i64::from(fixed) == time {
            return Ok(None);
        }
        let mut out = bytes.to_vec();
        out[TIME_AT..TIME_AT + 4].copy_from_slice(&fixed.to_be_bytes());
        let crc = header_crc(&out[..HEADER_LEN]);
        out[HCRC_AT..HCRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        Ok(Some(out))
    }
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The CRC-32 of a 64-byte header with its CRC field counted as zero.
fn header_crc(header: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[..HCRC_AT]);
    hasher.update(&[0; 4]);
    hasher.update(&header[HCRC_AT + 4..HEADER_LEN]);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tamis_core::Epoch;

    /// A header as `mkimage` writes it for a 6-byte kernel, made at `time`.
    fn image(time: u32) -> Vec<u8> {
        let mut out = vec![0u8; HEADER_LEN];
        out[..4].copy_from_slice(&MAGIC);
        out[TIME_AT..TIME_AT + 4].copy_from_slice(&time.to_be_bytes());
        out[SIZE_AT..SIZE_AT + 4].copy_from_slice(&6u32.to_be_bytes());
        out[28..32].copy_from_slice(&[5, 3, 2, 0]);
        out[32..36].copy_from_slice(b"test");
        let crc = header_crc(&out);
        out[HCRC_AT..HCRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        out.extend_from_slice(b"hello\n");
        out
    }

    fn settings() -> Settings {
        Settings::new(Epoch::from_secs(1_700_000_000).unwrap())
    }

    #[test]
    fn time_clamped_and_header_crc_recomputed() {
        let fixed = Uimage.normalize(&image(1_800_000_000), &settings()).unwrap().unwrap();
        assert_eq!(fixed, image(1_700_000_000));
        assert_eq!(Uimage.normalize(&fixed, &settings()).unwrap(), None);
        assert_eq!(Uimage.normalize(&image(1_600_000_000), &settings()).unwrap(), None, "older times are kept");
    }

    #[test]
    fn damaged_headers_are_refused() {
        let mut bad = image(1_800_000_000);
        bad[40] ^= 1;
        assert!(matches!(Uimage.normalize(&bad, &settings()), Err(FormatError::Malformed { .. })));
        let short = image(1_800_000_000);
        assert!(matches!(Uimage.normalize(&short[..66], &settings()), Err(FormatError::Truncated { .. })));
        assert!(matches!(Uimage.normalize(&short[..20], &settings()), Err(FormatError::Truncated { .. })));
    }
}
