//! Calendar arithmetic for the times formats store as dates (zip's MS-DOS fields), in UTC:
//! a zip does not say its time zone, and reading it as UTC is what `strip-nondeterminism` and
//! Info-ZIP's `-X`-less readers on a build machine in UTC agree on.

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01: (year, month 1–12, day 1–31).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

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
    fn civil_round_trips() {
        for days in [-1, 0, 59, 60, 365, 10_957, 19_675, 50_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(19_675), (2023, 11, 14));
    }

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
