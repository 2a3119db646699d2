//! Calendar arithmetic for the times formats store as dates (zip's MS-DOS fields), in UTC:
//! a zip does not say its time zone, and reading it as UTC is what `strip-nondeterminism` and
//! Info-ZIP's `-X`-less readers on a build machine in UTC agree on.

use tamis_core::{civil_from_days, days_from_civil};

/// The earliest time an MS-DOS date can hold: 1980-01-01 00:00:00.
pub(crate) const DOS_MIN: i64 = 315_532_800;
/// The latest: 2107-12-31 23:59:58.
pub(crate) const DOS_MAX: i64 = 4_354_819_198;

/// An MS-DOS (time, date) pair as seconds since 1970, or `None` for fields that name no date
/// (month 0 or 13, second 60…): such a time is left alone.
pub(crate) fn from_dos(time: u16, date: u16) -> Option<i64> {
    let (year, month, day) = (1980 + i64::from(date >> 9), u32::from((date >> 5) & 0xf), u32::from(date & 0x1f));
    let (hour, minute, second) = (i64::from(time >> 11), i64::from((time >> 5) & 0x3f), i64::from(time & 0x1f) * 2);
    if !(1..=12).contains(&month) || day == 0 || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// The MS-DOS (time, date) of `secs`, rounded down to even seconds and held to the range the
/// fields can store.
pub(crate) fn to_dos(secs: i64) -> (u16, u16) {
    let secs = secs.clamp(DOS_MIN, DOS_MAX);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let time = (((rest / 3600) << 11) | ((rest % 3600 / 60) << 5) | ((rest % 60) / 2)) as u16;
    let date = (((year - 1980) << 9) | (i64::from(month) << 5) | i64::from(day)) as u16;
    (time, date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_times() {
        // 2023-11-14 22:13:20 UTC.
        let (t, d) = to_dos(1_700_000_000);
        assert_eq!(from_dos(t, d), Some(1_700_000_000));
        assert_eq!(from_dos(to_dos(1_700_000_001).0, to_dos(1_700_000_001).1), Some(1_700_000_000));
        assert_eq!(to_dos(0), to_dos(DOS_MIN));
        assert_eq!(from_dos(0, 0), None, "month 0");
        assert_eq!(from_dos(0, 0x21), Some(DOS_MIN));
    }
}
