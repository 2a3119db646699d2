//! GNU gettext message catalogs (`.mo`): the dates of the header entry.
//!
//! The header (the translation of the empty message) holds `POT-Creation-Date` and
//! `PO-Revision-Date` as `YYYY-MM-DD HH:MM+ZZZZ`; a build that regenerates the template writes
//! the time of the build there (about 1,400 catalogs in a Debian image with a desktop). Each
//! date follows the [policy](crate::TimePolicy) and is written in UTC, `+0000`, which has the
//! same length, so no string moves and the tables and hash table stay as they are. A date in
//! another form is left alone, as `strip-nondeterminism` does.

use std::path::Path;

use crate::{Format, FormatError, Handler, Settings};
use tamis_core::{civil_from_days, days_from_civil};

/// The gettext handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gettext;

const MAGIC: u32 = 0x9504_12de;
const KEYS: [&[u8]; 2] = [b"POT-Creation-Date: ", b"PO-Revision-Date: "];
/// `YYYY-MM-DD HH:MM+ZZZZ`.
const DATE_LEN: usize = 21;

impl Handler for Gettext {
    fn format(&self) -> Format {
        Format::Gettext
    }

    fn what(&self) -> &'static str {
        "gettext catalog: header dates"
    }

    fn matches(&self, _path: &Path, head: &[u8]) -> bool {
        head.get(..4).is_some_and(|m| m == MAGIC.to_le_bytes() || m == MAGIC.to_be_bytes())
    }

    fn normalize(&self, bytes: &[u8], settings: &Settings) -> Result<Option<Vec<u8>>, FormatError> {
        let big = bytes.get(..4) == Some(&MAGIC.to_be_bytes()[..]);
        let word = |at: usize, what: &'static str| -> Result<usize, FormatError> {
            let b = bytes.get(at..at.saturating_add(4)).ok_or(FormatError::Truncated { what, offset: at })?;
            let b = [b[0], b[1], b[2], b[3]];
            Ok((if big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }) as usize)
        };
        if word(4, "gettext header")? >> 16 > 1 {
            return Err(FormatError::Unsupported("gettext catalog of an unknown major revision"));
        }
        let count = word(8, "gettext header")?;
        let (originals, translations) = (word(12, "gettext header")?, word(16, "gettext header")?);
        let mut out = bytes.to_vec();
        for i in 0..count {
            let entry = i.checked_mul(8).ok_or(FormatError::Malformed { what: "gettext string count", offset: 8 })?;
            if word(originals.saturating_add(entry), "gettext string table")? != 0 {
                continue;
            }
            let at = translations.saturating_add(entry);
            let (len, offset) = (word(at, "gettext translation table")?, word(at + 4, "gettext translation table")?);
            let end = offset.checked_add(len).filter(|&e| e <= bytes.len());
            let end = end.ok_or(FormatError::Truncated { what: "gettext header entry", offset })?;
            fix_dates(&mut out[offset..end], settings);
        }
        Ok((out != bytes).then_some(out))
    }
}

/// Rewrites the dates of one header entry in place.
fn fix_dates(header: &mut [u8], settings: &Settings) {
    let mut line_start = 0;
    while line_start < header.len() {
        let line_end = header[line_start..].iter().position(|&b| b == b'\n').map_or(header.len(), |p| line_start + p);
        for key in KEYS {
            let value = line_start + key.len();
            if header[line_start..line_end].starts_with(key) && line_end - value >= DATE_LEN {
                let field = &mut header[value..value + DATE_LEN];
                if let Some(secs) = parse_date(field) {
                    let fixed = settings.fix_time(secs);
                    if fixed != secs {
                        field.copy_from_slice(format_date(fixed).as_bytes());
                    }
                }
            }
        }
        line_start = line_end + 1;
    }
}

/// `YYYY-MM-DD HH:MM+ZZZZ` as seconds since 1970.
fn parse_date(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<u32>().ok();
    let seps = text.as_bytes();
    if (seps[4], seps[7], seps[10], seps[13]) != (b'-', b'-', b' ', b':') || !matches!(seps[16], b'+' | b'-') {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, zone_h, zone_m) = (num(11..13)?, num(14..16)?, num(17..19)?, num(19..21)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || zone_m > 59 {
        return None;
    }
    let zone = i64::from(zone_h * 3600 + zone_m * 60) * if seps[16] == b'-' { -1 } else { 1 };
    let local = days_from_civil(i64::from(year), month, day) * 86_400 + i64::from(hour * 3600 + minute * 60);
    Some(local - zone)
}

/// Seconds since 1970 as `YYYY-MM-DD HH:MM+0000` (the seconds dropped).
fn format_date(secs: i64) -> String {
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let year = year.clamp(0, 9999);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}+0000", rest / 3600, rest % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tamis_core::Epoch;

    /// A catalog of the header entry only.
    fn catalog(header: &str) -> Vec<u8> {
        let mut mo = Vec::new();
        for word in [MAGIC, 0, 1, 28, 36, 0, 0, 0, 44, header.len() as u32, 45] {
            mo.extend_from_slice(&word.to_le_bytes());
        }
        // Original table (28): "" at 44; translation table (36): the header at 45.
        mo.truncate(44);
        mo.push(0);
        mo.extend_from_slice(header.as_bytes());
        mo.push(0);
        mo
    }

    #[test]
    fn clamps_header_dates_in_place() {
        let settings = Settings::new(Epoch::from_secs(1_700_000_000).unwrap());
        let mo = catalog(
            "Project-Id-Version: x\nPOT-Creation-Date: 2026-11-23 12:30+0100\nPO-Revision-Date: 2001-01-01 00:00+0000\n",
        );
        let out = Gettext.normalize(&mo, &settings).unwrap().unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("POT-Creation-Date: 2023-11-14 22:13+0000\nPO-Revision-Date: 2001-01-01 00:00+0000"),
            "{text}"
        );
        assert_eq!(out.len(), mo.len());
        assert_eq!(Gettext.normalize(&out, &settings).unwrap(), None);
        assert_eq!(parse_date(b"2023-11-14 23:13+0100"), Some(1_699_999_980));
        assert!(Gettext.normalize(&mo[..40], &settings).is_err());
    }
}
