//! `SOURCE_DATE_EPOCH`: the one date every reproducible output is derived from.
//!
//! The reproducible-builds specification defines the value as the ASCII decimal integer number
//! of seconds since 1970-01-01 00:00:00 UTC, as `date +%s` prints it, and asks consumers to
//! reject a malformed value rather than guess. tamis also rejects, by default, an epoch in the
//! future: clamping to a future date clamps nothing and is almost always a mistake in a script.
//!
//! An epoch is at most [`Epoch::MAX`], 2106-02-07T06:28:15Z: the last second that every format
//! tamis writes can hold. gzip headers, cpio newc headers and squashfs inodes store times as
//! unsigned 32-bit seconds, zip and FAT dates end in 2107, ISO 9660 directory records in 2155; a
//! later epoch would be saturated or wrapped in some of them (and ext4 itself stores
//! 253402300800 as a date in 2446), so the output would no longer say what the epoch said.

use std::fmt;

use crate::Timestamp;

/// Where an epoch value came from, so that an error can say which setting to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EpochSource {
    /// The `--epoch` / `--source-date-epoch` command-line option.
    Option,
    /// The `SOURCE_DATE_EPOCH` environment variable.
    Environment,
}

impl fmt::Display for EpochSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Option => "--epoch",
            Self::Environment => "SOURCE_DATE_EPOCH",
        })
    }
}

/// Why no epoch could be had.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EpochError {
    /// Neither the option nor the environment variable was given.
    #[error(
        "no epoch: set SOURCE_DATE_EPOCH or pass --epoch SECONDS (e.g. the date of the last commit: git log -1 --format=%ct)"
    )]
    Missing,
    /// The value is not a decimal integer number of seconds.
    #[error("{origin} is {value:?}: expected a decimal number of seconds since 1970-01-01 UTC, as `date +%s` prints")]
    Malformed {
        /// The value as given.
        value: String,
        /// Where it came from.
        origin: EpochSource,
    },
    /// The value is later than [`Epoch::MAX`], the last second every format tamis writes holds.
    #[error(
        "{origin} is {value}: later than {max} ({}), the last second that gzip, cpio and squashfs times (unsigned 32-bit) can hold",
        Timestamp::from_secs(*max)
    )]
    TooLate {
        /// The value as given.
        value: String,
        /// Where it came from.
        origin: EpochSource,
        /// [`Epoch::MAX`].
        max: i64,
    },
    /// The value is later than the current time.
    #[error("{origin} {epoch} lies in the future (now is {now}); pass --allow-future-epoch if that is intended")]
    Future {
        /// The epoch given.
        epoch: Timestamp,
        /// The time of the machine.
        now: Timestamp,
        /// Where it came from.
        origin: EpochSource,
    },
}

/// A `SOURCE_DATE_EPOCH`: whole seconds since 1970-01-01 UTC, never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Epoch(i64);

impl Epoch {
    /// The latest epoch: 2106-02-07T06:28:15Z, `u32::MAX` seconds (see the module documentation).
    pub const MAX: i64 = u32::MAX as i64;

    /// An epoch of `secs` seconds; `None` when negative or later than [`Epoch::MAX`].
    pub fn from_secs(secs: i64) -> Option<Self> {
        (0..=Self::MAX).contains(&secs).then_some(Self(secs))
    }

    /// Parses a value of `SOURCE_DATE_EPOCH` as the specification defines it: ASCII digits only
    /// (no sign, no spaces, no fraction).
    pub fn parse(value: &str) -> Result<Self, EpochError> {
        Self::parse_from(value, EpochSource::Environment)
    }

    fn parse_from(value: &str, source: EpochSource) -> Result<Self, EpochError> {
        let malformed = || EpochError::Malformed { value: value.to_owned(), origin: source };
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        let secs = value.parse::<i64>().map_err(|_| malformed())?;
        if secs > Self::MAX {
            return Err(EpochError::TooLate { value: value.to_owned(), origin: source, max: Self::MAX });
        }
        Ok(Self(secs))
    }

    /// Chooses the epoch as a command-line tool should: the option wins over the environment
    /// variable; a value later than `now` is refused unless `allow_future`.
    ///
    /// `now` is passed in (only binaries read the clock), in seconds since 1970.
    pub fn resolve(
        option: Option<&str>,
        environment: Option<&str>,
        now: Timestamp,
        allow_future: bool,
    ) -> Result<Self, EpochError> {
        let (value, source) = match (option, environment) {
            (Some(value), _) => (value, EpochSource::Option),
            (None, Some(value)) => (value, EpochSource::Environment),
            (None, None) => return Err(EpochError::Missing),
        };
        let epoch = Self::parse_from(value, source)?;
        if !allow_future && epoch.timestamp() > now {
            return Err(EpochError::Future { epoch: epoch.timestamp(), now, origin: source });
        }
        Ok(epoch)
    }

    /// Seconds since 1970-01-01 UTC.
    pub const fn secs(self) -> i64 {
        self.0
    }

    /// Whole days since 1970-01-01 UTC: the unit of `/etc/shadow`'s date fields.
    pub const fn days(self) -> i64 {
        self.0 / 86_400
    }

    /// The epoch as a file time.
    pub const fn timestamp(self) -> Timestamp {
        Timestamp::from_secs(self.0)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

    #[test]
    fn parses_decimal_seconds() {
        assert_eq!(Epoch::parse("0").unwrap().secs(), 0);
        assert_eq!(Epoch::parse("1700000000").unwrap().secs(), 1_700_000_000);
        assert_eq!(Epoch::parse("1700000000").unwrap().days(), 19_675);
    }

    #[test]
    fn rejects_what_date_would_not_print() {
        for bad in ["", " 1", "1 ", "+1", "-1", "1.5", "0x10", "1e9", "١٢", "99999999999999999999999"] {
            assert!(matches!(Epoch::parse(bad), Err(EpochError::Malformed { .. })), "{bad:?} should be refused");
        }
    }

    #[test]
    fn an_epoch_no_format_can_hold_is_refused() {
        assert_eq!(Epoch::parse("4294967295").unwrap().secs(), Epoch::MAX);
        assert_eq!(Epoch::from_secs(Epoch::MAX + 1), None);
        for late in ["4294967296", "253402300800", "9223372036854775807"] {
            let err = Epoch::resolve(Some(late), None, NOW, true).unwrap_err();
            assert!(matches!(err, EpochError::TooLate { .. }), "{late}: {err}");
            assert!(err.to_string().contains("2106-02-07T06:28:15Z"), "{err}");
        }
    }

    #[test]
    fn option_wins_over_environment() {
        let e = Epoch::resolve(Some("5"), Some("7"), NOW, false).unwrap();
        assert_eq!(e.secs(), 5);
        let e = Epoch::resolve(None, Some("7"), NOW, false).unwrap();
        assert_eq!(e.secs(), 7);
    }

    #[test]
    fn errors_name_their_source() {
        let err = Epoch::resolve(Some("x"), Some("7"), NOW, false).unwrap_err();
        assert!(err.to_string().starts_with("--epoch is \"x\""), "{err}");
        let err = Epoch::resolve(None, Some("7 "), NOW, false).unwrap_err();
        assert!(err.to_string().starts_with("SOURCE_DATE_EPOCH is \"7 \""), "{err}");
        assert_eq!(Epoch::resolve(None, None, NOW, false), Err(EpochError::Missing));
    }

    #[test]
    fn future_needs_consent() {
        let later = "1800000001";
        assert!(matches!(Epoch::resolve(Some(later), None, NOW, false), Err(EpochError::Future { .. })));
        assert_eq!(Epoch::resolve(Some(later), None, NOW, true).unwrap().secs(), 1_800_000_001);
        // Exactly now is not the future.
        assert!(Epoch::resolve(Some("1800000000"), None, NOW, false).is_ok());
    }
}
