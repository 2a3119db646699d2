//! The `shadow` stage.

use std::path::Path;

use serde::Deserialize;
use tamis_core::{Context, Edits, Normalizer, Report, Result, Root};

use crate::database::{self, Rewrite};

/// Options of the `shadow` stage (none yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ShadowOptions {}

/// The `shadow` stage. See the [crate documentation](crate).
#[derive(Debug, Clone, Copy, Default)]
pub struct Shadow;

impl Shadow {
    /// The stage's name.
    pub const NAME: &'static str = "shadow";
    /// One line for `tamis stages`.
    pub const SUMMARY: &'static str =
        "set /etc/shadow's last-change day (field 3) to the epoch's day where it is later";

    /// A stage with these options.
    pub fn new(_options: ShadowOptions) -> Self {
        Self
    }
}

/// A line of a shadow(5) file that is not an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShadowError {
    /// Not the 9 fields of an entry.
    #[error("line {line}: {fields} fields, a shadow entry has 9")]
    Fields {
        /// The line, from 1.
        line: usize,
        /// How many fields it has.
        fields: usize,
    },
    /// Field 3 is neither empty nor a number of days.
    #[error("line {line}: field 3 is not a number of days")]
    LastChange {
        /// The line, from 1.
        line: usize,
    },
}

/// Sets field 3 (`sp_lstchg`, days since 1970-01-01) of every entry of a shadow(5) file to
/// `max_day` where it is later; every other byte stays as it is. An empty field 3 (aging
/// disabled) and `0` (change forced at next login) mean something else and are kept.
///
/// Returns the new contents if anything changed, `Ok(None)` if nothing had to, and an error
/// naming the first line that is not a shadow entry (the file is then left alone).
pub fn clamp_last_change(text: &[u8], max_day: i64) -> std::result::Result<Option<Vec<u8>>, ShadowError> {
    let mut out = Vec::with_capacity(text.len());
    let mut changed = false;
    for (number, line) in text.split_inclusive(|&b| b == b'\n').enumerate() {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        if body.is_empty() {
            out.extend_from_slice(line);
            continue;
        }
        let (fields, day) = parse_entry(number, body)?;
        match day {
            Some(day) if day > max_day => {
                changed = true;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b':');
                    }
                    if i == 2 {
                        out.extend_from_slice(max_day.to_string().as_bytes());
                    } else {
                        out.extend_from_slice(field);
                    }
                }
                if line.ends_with(b"\n") {
                    out.push(b'\n');
                }
            }
            _ => out.extend_from_slice(line),
        }
    }
    Ok(changed.then_some(out))
}

/// The fields of one shadow(5) entry (line `number`, from 0) and its field 3 as a number of
/// days (`None` when empty).
fn parse_entry(number: usize, body: &[u8]) -> std::result::Result<(Vec<&[u8]>, Option<i64>), ShadowError> {
    let fields: Vec<&[u8]> = body.split(|&b| b == b':').collect();
    if fields.len() != 9 {
        return Err(ShadowError::Fields { line: number + 1, fields: fields.len() });
    }
    let last_change = fields[2];
    let day = if last_change.is_empty() {
        None
    } else {
        let digits = std::str::from_utf8(last_change).ok().filter(|s| s.bytes().all(|b| b.is_ascii_digit()));
        let day = digits.and_then(|s| s.parse::<i64>().ok());
        Some(day.ok_or(ShadowError::LastChange { line: number + 1 })?)
    };
    Ok((fields, day))
}

/// Field 3 (`sp_lstchg`) of every entry of a shadow(5) file, in order (`None` where empty);
/// empty lines are not entries. An error names the first line that is not a shadow entry.
pub fn last_change_days(text: &[u8]) -> std::result::Result<Vec<Option<i64>>, ShadowError> {
    text.split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(number, line)| parse_entry(number, line).map(|(_, day)| day))
        .collect()
}

impl Normalizer for Shadow {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report> {
        let mut edits = Edits::new(root, cx, Self::NAME);
        let day = cx.epoch.days();
        let rewrite = Rewrite {
            change: |text: &[u8]| clamp_last_change(text, day),
            reason: "last password change dated on the day of the build",
            values: ("days after the epoch".to_owned(), format!("day {day}")),
        };
        for path in ["etc/shadow", "etc/shadow-"] {
            database::rewrite(root, &mut edits, Path::new(path), &rewrite);
        }
        Ok(edits.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_later_days_change_and_nothing_else_does() {
        let text = b"root:*:20780:0:99999:7:::\nnobody:*:19000:0:99999:7:::\nx:!::0:99999:7:::\ny:$6$abc:0::::::\n";
        let new = clamp_last_change(text, 19675).unwrap().unwrap();
        assert_eq!(
            new,
            b"root:*:19675:0:99999:7:::\nnobody:*:19000:0:99999:7:::\nx:!::0:99999:7:::\ny:$6$abc:0::::::\n"
        );
        assert_eq!(clamp_last_change(&new, 19675).unwrap(), None, "idempotent");
    }

    #[test]
    fn malformed_lines_are_refused_with_their_number() {
        assert_eq!(
            clamp_last_change(b"root:*:1:0:99999:7:::\nbroken\n", 5).unwrap_err().to_string(),
            "line 2: 1 fields, a shadow entry has 9"
        );
        assert_eq!(
            clamp_last_change(b"root:*:soon:0:99999:7:::\n", 5).unwrap_err(),
            ShadowError::LastChange { line: 1 }
        );
    }

    #[test]
    fn keeps_a_missing_final_newline() {
        assert_eq!(clamp_last_change(b"a:*:9:0:99999:7:::", 5).unwrap().unwrap(), b"a:*:5:0:99999:7:::");
    }
}
