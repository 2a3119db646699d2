//! What a normalizer did, or would do: plain data for the binary to print or serialise.

use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

use crate::display_path;

/// Whether a normalizer changes the tree or only says what it would change.
///
/// Exhaustive on purpose: every stage must honour each mode (a wildcard arm that treated a new
/// mode as `Apply` would change trees it was told not to), so a new mode is a breaking change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Change the tree.
    Apply,
    /// Change nothing; report what would change.
    Check,
}

/// The kind of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Action {
    /// An entry's modification (and access) time was set.
    SetTimes,
    /// A file's contents were rewritten in place of the old ones.
    Rewrite,
    /// A file was emptied.
    Truncate,
    /// An entry was removed.
    Remove,
    /// An entry was created.
    Create,
    /// An entry was replaced by one of another type (a file by a link).
    Replace,
    /// An entry's inode was shared with names outside the tree: its names in the tree were given
    /// an inode of their own, so that the files outside stay as they were.
    Detach,
}

/// One change to one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The entry, inside the root (`/etc/shadow`).
    #[serde(serialize_with = "serialize_path")]
    pub path: PathBuf,
    /// What kind of change.
    pub action: Action,
    /// Why, in a few words a person understands: "newer than the epoch", "host name of the build host".
    pub reason: String,
    /// The value before, where one is meaningful (an mtime, a field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// The value after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// An entry that could not be handled (unreadable, malformed, vanished): it was left as it was
/// and the run went on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The entry, inside the root.
    #[serde(serialize_with = "serialize_path")]
    pub path: PathBuf,
    /// What went wrong, with the system's reason.
    pub reason: String,
}

impl Problem {
    /// A problem from an error, with the error's whole chain of causes as the reason.
    pub fn from_error(path: impl Into<PathBuf>, error: &dyn std::error::Error) -> Self {
        let mut reason = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        Self { path: path.into(), reason }
    }
}

/// An entry a stage recognised and left alone on purpose, because changing it would break it
/// (a signed Android package): not a problem, but said so that nobody wonders why it was not
/// normalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The entry, inside the root.
    #[serde(serialize_with = "serialize_path")]
    pub path: PathBuf,
    /// Why it was left as it is.
    pub reason: String,
}

/// What one normalizer did (in [`Mode::Apply`]) or would do (in [`Mode::Check`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The normalizer's name.
    pub stage: String,
    /// The mode it ran in.
    pub mode: Mode,
    /// Entries looked at.
    pub examined: u64,
    /// Changes, in the canonical order of their paths.
    pub changes: Vec<Change>,
    /// Entries left alone because of an error.
    pub problems: Vec<Problem>,
    /// Entries left alone on purpose, with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

impl Report {
    /// An empty report for `stage`.
    pub fn new(stage: &str, mode: Mode) -> Self {
        Self {
            stage: stage.to_owned(),
            mode,
            examined: 0,
            changes: Vec::new(),
            problems: Vec::new(),
            skipped: Vec::new(),
        }
    }

    /// Puts changes and problems in the canonical order of their paths, so that the report does
    /// not depend on which thread finished first.
    pub fn sort(&mut self) {
        let order = |a: &Change, b: &Change| crate::canonical_cmp(&a.path, &b.path).then(a.action.cmp(&b.action));
        // Most stages report in the walk's order already: one pass to see it.
        if !self.changes.is_sorted_by(|a, b| order(a, b).is_le()) {
            self.changes.sort_by(order);
        }
        self.problems.sort_by(|a, b| crate::canonical_cmp(&a.path, &b.path).then(a.reason.cmp(&b.reason)));
        self.skipped.sort_by(|a, b| crate::canonical_cmp(&a.path, &b.path).then(a.reason.cmp(&b.reason)));
    }

    /// True when nothing changed (or would change) and nothing failed (entries skipped on
    /// purpose do not count).
    pub fn is_clean(&self) -> bool {
        self.changes.is_empty() && self.problems.is_empty()
    }

    /// How many entries changed: an entry may have several changes (new contents on a copy
    /// detached from a link outside the tree, [`Action::Detach`]).
    pub fn changed_entries(&self) -> usize {
        self.changes.iter().map(|c| c.path.as_path()).collect::<std::collections::BTreeSet<_>>().len()
    }
}

fn serialize_path<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&display_path(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_paths_as_the_image_sees_them() {
        let mut report = Report::new("mtime", Mode::Check);
        report.changes.push(Change {
            path: "usr/bin/z".into(),
            action: Action::SetTimes,
            reason: "newer than the epoch".into(),
            before: Some("2026-01-01T00:00:00Z".into()),
            after: None,
        });
        report.changes.push(Change {
            path: "etc".into(),
            action: Action::SetTimes,
            reason: "newer than the epoch".into(),
            before: None,
            after: None,
        });
        report.sort();
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["mode"], "check");
        assert_eq!(json["changes"][0]["path"], "/etc");
        assert_eq!(json["changes"][1]["path"], "/usr/bin/z");
        assert_eq!(json["changes"][1]["action"], "set-times");
        assert!(json["changes"][0].get("before").is_none());
    }

    #[test]
    fn an_entry_with_a_detach_and_a_rewrite_is_one_changed_entry() {
        let mut report = Report::new("formats", Mode::Apply);
        for action in [Action::Rewrite, Action::Detach] {
            let reason = String::new();
            report.changes.push(Change { path: "a.gz".into(), action, reason, before: None, after: None });
        }
        report.changes.push(Change {
            path: "b".into(),
            action: Action::Rewrite,
            reason: String::new(),
            before: None,
            after: None,
        });
        assert_eq!((report.changes.len(), report.changed_entries()), (3, 2));
        assert_eq!(serde_json::to_value(Action::Detach).unwrap(), "detach");
    }

    #[test]
    fn problem_reason_keeps_the_cause() {
        let err = crate::Error::io("etc/x", "read", std::io::Error::from_raw_os_error(13));
        let p = Problem::from_error("etc/x", &err);
        assert!(p.reason.starts_with("/etc/x: cannot read: Permission denied"), "{}", p.reason);
    }
}
