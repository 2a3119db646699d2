//! The date encodings an ISO image holds, read and written, and the clamp applied to them.
//!
//! - ISO 9660 directory records and Rock Ridge `TF` short form: 7 bytes, year since 1900,
//!   month, day, hour, minute, second, offset from GMT in 15-minute steps.
//! - Volume descriptors and `TF` long form: 17 bytes, `YYYYMMDDHHMMSScc` in ASCII digits and
//!   the same offset byte; all digits `0` (or all bytes zero) means "not specified".
//! - FAT: a 16-bit date (year since 1980, month, day) and a 16-bit time (hour, minute, two
//!   seconds), in local time of whoever wrote them; read as UTC here.
//!
//! The clamp keeps a date that is not later than the epoch as the same instant (written in UTC,
//! offset 0, so that the time zone of the build host does not show) and makes a later one the
//! epoch. A date that is not specified stays so; one that cannot be decoded is left alone.

use tamis_core::Epoch;

use tamis_core::{civil_from_days, days_from_civil};

/// Seconds since 1970 of a civil date and time in UTC, `None` when a field is out of range.
fn instant(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<i64> {
    let valid = (1..=12).contains(&month) && (1..=31).contains(&day) && hour < 24 && minute < 60 && second < 61;
    valid.then(|| {
        days_from_civil(year, month, day) * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
    })
}

/// `(year, month, day, hour, minute, second)` of an instant in UTC.
fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400) as u32;
    (y, m, d, s / 3600, s / 60 % 60, s % 60)
}

/// The GMT offset byte (signed, 15-minute steps) in seconds, `None` outside -48..=52.
fn offset_secs(byte: u8) -> Option<i64> {
    let quarter = i64::from(byte as i8);
    (-48..=52).contains(&quarter).then_some(quarter * 900)
}

/// A 7-byte date as seconds since 1970; `None` when not specified or not valid.
pub fn decode7(b: [u8; 7]) -> Option<i64> {
    if b == [0; 7] {
        return None;
    }
    let local = instant(1900 + i64::from(b[0]), b[1].into(), b[2].into(), b[3].into(), b[4].into(), b[5].into())?;
    Some(local - offset_secs(b[6])?)
}

/// An instant as a 7-byte date in UTC; `None` outside the years 1900–2155.
pub fn encode7(secs: i64) -> Option<[u8; 7]> {
    let (y, mo, d, h, mi, sec) = civil(secs);
    let year = u8::try_from(y - 1900).ok()?;
    Some([year, mo as u8, d as u8, h as u8, mi as u8, sec as u8, 0])
}

/// The 7-byte date clamped to `epoch` (see the [module documentation](self)).
pub fn clamp7(b: [u8; 7], epoch: Epoch) -> [u8; 7] {
    let epoch = epoch.secs();
    match decode7(b) {
        Some(t) => encode7(t.min(epoch)).unwrap_or(b),
        None => b,
    }
}

/// A 17-byte date as (seconds since 1970, hundredths); `None` when not specified or not valid.
pub fn decode17(b: [u8; 17]) -> Option<(i64, u8)> {
    if b[..16].iter().all(|&c| c == b'0' || c == 0 || c == b' ') {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let text = std::str::from_utf8(&b[r]).ok()?;
        text.bytes().all(|c| c.is_ascii_digit()).then(|| text.parse().ok())?
    };
    let local =
        instant(digits(0..4)?.into(), digits(4..6)?, digits(6..8)?, digits(8..10)?, digits(10..12)?, digits(12..14)?)?;
    let hundredths = digits(14..16)? as u8;
    Some((local - offset_secs(b[16])?, hundredths))
}

/// An instant as a 17-byte date in UTC; `None` outside the years 0–9999.
pub fn encode17(secs: i64, hundredths: u8) -> Option<[u8; 17]> {
    let (y, mo, d, h, mi, sec) = civil(secs);
    if !(0..=9999).contains(&y) || hundredths > 99 {
        return None;
    }
    let text = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{sec:02}{hundredths:02}");
    let mut out = [0u8; 17];
    out[..16].copy_from_slice(text.as_bytes());
    Some(out)
}

/// The 17-byte date clamped to `epoch`: a later date becomes the epoch with no hundredths.
pub fn clamp17(b: [u8; 17], epoch: Epoch) -> [u8; 17] {
    let epoch = epoch.secs();
    match decode17(b) {
        Some((t, _)) if t > epoch => encode17(epoch, 0).unwrap_or(b),
        Some((t, cs)) => encode17(t, cs).unwrap_or(b),
        None => b,
    }
}

/// The 17-byte "not specified" date: sixteen ASCII zeros and offset 0.
pub const UNSPECIFIED17: [u8; 17] = *b"0000000000000000\0";

pub use tamis_disk::fat::{decode_fat, encode_fat};

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH: i64 = 1_700_000_000;

    fn epoch() -> Epoch {
        Epoch::from_secs(EPOCH).unwrap()
    } // 2023-11-14T22:13:20Z

    #[test]
    fn seven_byte_dates_round_trip_and_clamp() {
        let b = encode7(EPOCH).unwrap();
        assert_eq!(b, [123, 11, 14, 22, 13, 20, 0]);
        assert_eq!(decode7(b), Some(EPOCH));
        // One hour later, written at GMT+1 (offset 4): the same instant as EPOCH + 3600.
        let later_plus_one = [123, 11, 14, 23 + 1, 13, 20, 4];
        assert_eq!(decode7(later_plus_one), None, "hour 24 is invalid");
        let later = [123, 11, 15, 0, 13, 20, 4];
        assert_eq!(decode7(later), Some(EPOCH + 3600));
        assert_eq!(clamp7(later, epoch()), b);
        // An earlier date keeps its instant, in UTC.
        let earlier = [100, 1, 1, 1, 0, 0, 4];
        assert_eq!(clamp7(earlier, epoch()), [100, 1, 1, 0, 0, 0, 0]);
        assert_eq!(clamp7([0; 7], epoch()), [0; 7]);
    }

    #[test]
    fn seventeen_byte_dates_round_trip_and_clamp() {
        let mut later = *b"2026112313110042\0";
        later[16] = 0xfc; // GMT-1
        assert_eq!(decode17(later).unwrap().1, 42);
        assert_eq!(&clamp17(later, epoch()), b"2023111422132000\0");
        assert_eq!(clamp17(UNSPECIFIED17, epoch()), UNSPECIFIED17);
        let earlier = *b"2001020304050607\0";
        assert_eq!(clamp17(earlier, epoch()), earlier);
    }

    #[test]
    fn fat_dates_round_trip() {
        let (d, t) = encode_fat(EPOCH).unwrap();
        assert_eq!(decode_fat(d, Some(t)), Some(EPOCH));
        assert_eq!(decode_fat(0, Some(t)), None);
    }
}
