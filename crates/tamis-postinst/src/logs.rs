//! The `logs` stage.

use std::path::Path;

use serde::Deserialize;
use tamis_core::{Context, Edits, FileKind, Normalizer, Report, Result, Root};

/// What to do with a log file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LogPolicy {
    /// Emptied in place: owner, group and mode stay, which some programs need
    /// (`/var/log/btmp` is `root:utmp 0660`).
    #[default]
    Truncate,
    /// Removed.
    Remove,
}

/// Options of the `logs` stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LogsOptions {
    /// Truncate (default) or remove plain log files.
    #[serde(default)]
    pub policy: LogPolicy,
}

impl LogsOptions {
    /// Empty or remove logs.
    #[must_use]
    pub fn with_policy(mut self, policy: LogPolicy) -> Self {
        self.policy = policy;
        self
    }
}

/// The `logs` stage. See the [crate documentation](crate).
#[derive(Debug, Clone, Copy, Default)]
pub struct Logs {
    options: LogsOptions,
}

impl Logs {
    /// The stage's name.
    pub const NAME: &'static str = "logs";
    /// One line for `tamis stages`.
    pub const SUMMARY: &'static str =
        "empty the files under /var/log (dpkg, apt, alternatives, …); remove rotated ones";

    /// A stage with these options.
    pub fn new(options: LogsOptions) -> Self {
        Self { options }
    }
}

/// A file that emptying would not turn into a valid empty log: compressed, rotated, or a
/// binary journal. Such files are removed.
fn must_remove(name: &str) -> bool {
    let rotated = name.rsplit_once('.').is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let compressed = [".gz", ".xz", ".bz2", ".zst", ".lz4", ".old"].iter().any(|s| name.ends_with(s));
    let journal = name.ends_with(".journal") || name.ends_with(".journal~");
    rotated || compressed || journal
}

impl Normalizer for Logs {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report> {
        let mut edits = Edits::new(root, cx, Self::NAME);
        let logs = Path::new("var/log");
        if !root.is_dir(logs) {
            return Ok(edits.finish());
        }
        let tree = root.walk_under(logs)?;
        for problem in tree.problems() {
            edits.problem(&problem.path, problem.reason.clone());
        }
        for entry in tree.entries().iter().filter(|e| e.meta.kind == FileKind::File) {
            edits.examined(1);
            let name = entry.path.file_name().unwrap_or_default().to_string_lossy();
            if must_remove(&name) {
                edits.remove(&entry.path, "rotated, compressed or binary log of the build");
            } else {
                match self.options.policy {
                    LogPolicy::Truncate => edits.truncate(&entry.path, "log of the build"),
                    LogPolicy::Remove => edits.remove(&entry.path, "log of the build"),
                };
            }
        }
        Ok(edits.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::must_remove;

    #[test]
    fn rotated_and_compressed_logs_are_recognised() {
        for name in ["dpkg.log.1", "eipp.log.xz", "syslog.2.gz", "system@x.journal", "user-1000.journal~", "x.old"] {
            assert!(must_remove(name), "{name}");
        }
        for name in ["dpkg.log", "btmp", "history.log", "fontconfig.log", "README"] {
            assert!(!must_remove(name), "{name}");
        }
    }
}
