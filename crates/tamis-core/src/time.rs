//! Timestamps as the file system stores them, and their UTC rendering for reports.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A file time: whole seconds since 1970-01-01 UTC and nanoseconds within that second.
///
/// Ordered as time is, so `min(mtime, epoch)` is a plain comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp {
    /// Seconds since the Unix epoch (negative before 1970).
    pub secs: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub nanos: u32,
}

impl Timestamp {
    /// A whole-second timestamp.
    pub const fn from_secs(secs: i64) -> Self {
        Self { secs, nanos: 0 }
    }

    /// The time an entry with this time has after the clamp: `min(self, epoch)` in whole
    /// seconds. Squashfs, ISO 9660, cpio and tar keep no nanoseconds, so a tree that kept them
    /// would not be the tree its image holds: a cache that records its directory's nanoseconds
    /// (fontconfig) would be valid in the tree and stale in the image. Every stage that computes
    /// "the time after the clamp" uses this one rule.
    ///
    /// ```
    /// # use tamis_core::Timestamp;
    /// let epoch = Timestamp::from_secs(100);
    /// assert_eq!(Timestamp { secs: 100, nanos: 5 }.clamped(epoch), epoch);
    /// assert_eq!(Timestamp { secs: 50, nanos: 5 }.clamped(epoch), Timestamp::from_secs(50));
    /// ```
    #[must_use]
    pub const fn clamped(self, epoch: Timestamp) -> Self {
        Self::from_secs(if self.secs < epoch.secs { self.secs } else { epoch.secs })
    }
}

/// What a stage does with a time found in the tree or inside a file, given the epoch: the one
/// policy of every stage (`mtime`, `formats`, `initramfs`, …), spelled `clamp` and `set` in
/// profiles.
///
/// ```
/// # use tamis_core::TimePolicy;
/// assert_eq!(TimePolicy::Clamp.apply(50, 100), 50);
/// assert_eq!(TimePolicy::Clamp.apply(150, 100), 100);
/// assert_eq!(TimePolicy::Set.apply(50, 100), 100);
/// ```
///
/// Exhaustive on purpose, like [`Mode`](crate::Mode): every stage must decide what each policy
/// means for it, so a new one is a breaking change that the compiler points out in every stage,
/// not a wildcard arm that silently treats it as another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimePolicy {
    /// A time later than the epoch becomes the epoch; an earlier one is kept.
    #[default]
    Clamp,
    /// Every time becomes the epoch.
    Set,
}

impl TimePolicy {
    /// The time that `time` becomes under this policy, `epoch` being the epoch in the same
    /// unit (seconds, ticks, a date written so that its bytes sort as time does).
    pub fn apply<T: Ord>(self, time: T, epoch: T) -> T {
        match self {
            Self::Clamp => time.min(epoch),
            Self::Set => epoch,
        }
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, with nanoseconds only when there are any: `2023-11-14T22:13:20Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.secs.div_euclid(86_400);
        let in_day = self.secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(f, "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", in_day / 3600, in_day / 60 % 60, in_day % 60)?;
        if self.nanos != 0 {
            write!(f, ".{:09}", self.nanos)?;
        }
        f.write_str("Z")
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1–12, day 1–31).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Gregorian (year, month 1–12, day 1–31) of a count of days since 1970-01-01, valid for any
/// `i64` day count a file system can hold (Howard Hinnant's well-known civil calendar
/// arithmetic).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_utc() {
        assert_eq!(Timestamp::from_secs(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp::from_secs(1_700_000_000).to_string(), "2023-11-14T22:13:20Z");
        // A leap day, and nanoseconds.
        let t = Timestamp { secs: 951_782_400, nanos: 5 };
        assert_eq!(t.to_string(), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(Timestamp::from_secs(-1).to_string(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn calendar_round_trips() {
        for days in [-1, 0, 59, 60, 365, 10_957, 19_675, 50_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(19_675), (2023, 11, 14));
    }

    #[test]
    fn orders_by_time() {
        let a = Timestamp { secs: 10, nanos: 999 };
        assert!(a > Timestamp::from_secs(10));
        assert!(a < Timestamp::from_secs(11));
    }
}
