//! The `doc-base` stage.

use std::path::Path;

use serde::Deserialize;
use tamis_core::{Context, Edits, Normalizer, Report, Result, Root};

use crate::database::{self, Rewrite};

/// Options of the `doc-base` stage (none yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DocBaseOptions {}

/// The `doc-base` stage.
///
/// doc-base's `install-docs` keeps a registry of the documentation control files it has
/// registered, `/var/lib/doc-base/info/files.yml`: for each, its document ID and `CT`, the
/// file's status-change time (`st_ctime`) when it was registered, in seconds. The next
/// `install-docs` run re-registers a control file whose `st_ctime` is not its `CT` any more.
/// A status-change time is the kernel's clock at installation: it differs between any two builds,
/// and no one can set it back, so no copy of the tree (unpacked from an image, a tarball, a
/// squashfs) has the times the registry holds anyway. The stage sets every `CT` later than the
/// epoch to the epoch; on the installed system `install-docs` then re-registers the documents
/// once, as it would have for any copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct DocBase;

/// The registry `install-docs` writes.
pub const DOC_BASE_REGISTRY: &str = "var/lib/doc-base/info/files.yml";

impl DocBase {
    /// The stage's name.
    pub const NAME: &'static str = "doc-base";
    /// One line for `tamis stages`.
    pub const SUMMARY: &'static str =
        "set the status-change times doc-base's registry records (CT in files.yml) to the epoch where later";

    /// A stage with these options.
    pub fn new(_options: DocBaseOptions) -> Self {
        Self
    }
}

/// A line of doc-base's registry that is not what `install-docs` writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocBaseError {
    /// The file does not start with the YAML document marker `---`.
    #[error("no YAML document marker (---) on line 1")]
    NoMarker,
    /// A `CT:` field whose value is not a number of seconds.
    #[error("line {line}: CT is not a number of seconds")]
    Ctime {
        /// The line, from 1.
        line: usize,
    },
}

/// The field of a control file's entry that holds its status-change time.
const CT: &[u8] = b"  CT: ";

/// Sets every `CT` field (seconds) of doc-base's registry to `max` where it is later; every
/// other byte stays as it is. Returns the new contents if anything changed, `Ok(None)` if
/// nothing had to, and an error naming the first line that is not what `install-docs` writes
/// (the file is then left alone).
pub fn clamp_registered_ctimes(text: &[u8], max: i64) -> std::result::Result<Option<Vec<u8>>, DocBaseError> {
    if !text.starts_with(b"---\n") && text != b"---" {
        return Err(DocBaseError::NoMarker);
    }
    let mut out = Vec::with_capacity(text.len());
    let mut changed = false;
    for (number, line) in text.split_inclusive(|&b| b == b'\n').enumerate() {
        let Some(value) = line.strip_prefix(CT) else {
            out.extend_from_slice(line);
            continue;
        };
        let digits = value.strip_suffix(b"\n").unwrap_or(value);
        let seconds = std::str::from_utf8(digits)
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or(DocBaseError::Ctime { line: number + 1 })?;
        if seconds > max {
            changed = true;
            out.extend_from_slice(CT);
            out.extend_from_slice(max.to_string().as_bytes());
            if line.ends_with(b"\n") {
                out.push(b'\n');
            }
        } else {
            out.extend_from_slice(line);
        }
    }
    Ok(changed.then_some(out))
}

impl Normalizer for DocBase {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report> {
        let mut edits = Edits::new(root, cx, Self::NAME);
        let epoch = cx.epoch.secs();
        let rewrite = Rewrite {
            change: |text: &[u8]| clamp_registered_ctimes(text, epoch),
            reason: "status-change times of doc-base control files, taken at installation",
            values: ("times of installation".to_owned(), epoch.to_string()),
        };
        database::rewrite(root, &mut edits, Path::new(DOC_BASE_REGISTRY), &rewrite);
        Ok(edits.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start of a registry as doc-base 0.11 (bookworm) wrote it in a check's chroot.
    const REGISTRY: &[u8] = b"---\n'~1/base-passwd.users-and-groups':\n  CT: 1796123206\n  ID: users-and-groups\n'~1/doc-base':\n  CT: 1700000000\n  ID: doc-base\n";

    #[test]
    fn only_later_times_change_and_nothing_else_does() {
        let new = clamp_registered_ctimes(REGISTRY, 1_700_000_000).unwrap().unwrap();
        assert_eq!(
            new,
            b"---\n'~1/base-passwd.users-and-groups':\n  CT: 1700000000\n  ID: users-and-groups\n'~1/doc-base':\n  CT: 1700000000\n  ID: doc-base\n"
        );
        assert_eq!(clamp_registered_ctimes(&new, 1_700_000_000).unwrap(), None, "idempotent");
    }

    #[test]
    fn what_install_docs_does_not_write_is_refused_with_its_line() {
        assert_eq!(clamp_registered_ctimes(b"'x':\n  CT: 5\n", 1), Err(DocBaseError::NoMarker));
        assert_eq!(
            clamp_registered_ctimes(b"---\n'x':\n  CT: soon\n", 1).unwrap_err().to_string(),
            "line 3: CT is not a number of seconds"
        );
        assert_eq!(clamp_registered_ctimes(b"---\n'x':\n  CT: \n", 1), Err(DocBaseError::Ctime { line: 3 }));
    }
}
