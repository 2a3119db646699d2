//! The order in which tamis writes entries into an image, whatever order the build left them in.
//!
//! Two builds of the same tree list their directories in different orders (`readdir` follows the
//! file system's hash and its history), and a writer that follows `readdir` puts files at
//! different offsets. Every tamis writer uses one order instead:
//!
//! - the **canonical order** ([`canonical_cmp`]): paths compared name by name, each name as raw
//!   bytes, so a directory comes right before its contents and no locale is involved. It is the
//!   order of [`tamis_core::Root::walk`], which is where it is implemented; this crate re-exports
//!   it so that a writer names one crate for "order".
//! - an optional **placement** of file data from a sort file in the format of `mksquashfs -sort`
//!   ([`SortFile`]): lines `PATH PRIORITY`, files of higher priority first, the canonical order
//!   among equals ([`placement_order`]). A directory's priority applies to everything beneath it
//!   that has none of its own.
//!
//! ```
//! use std::path::Path;
//! use tamis_order::{SortFile, placement_order};
//!
//! let sort = SortFile::parse("usr/lib/modules 10\nboot/vmlinuz 20\n")?;
//! let paths = [Path::new("boot/vmlinuz"), Path::new("etc/hostname"), Path::new("usr/lib/modules/x.ko")];
//! let order = placement_order(&paths, Some(&sort));
//! assert_eq!(order, vec![0, 2, 1]);
//! # Ok::<(), tamis_order::SortFileError>(())
//! ```

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Component, Path, PathBuf};

pub use tamis_core::canonical_cmp;

/// Sorts paths in the canonical order, in place.
pub fn sort_canonical<P: AsRef<Path>>(paths: &mut [P]) {
    paths.sort_by(|a, b| canonical_cmp(a.as_ref(), b.as_ref()));
}

/// A line of a sort file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sort file line {line}: {reason}")]
pub struct SortFileError {
    /// The line, counting from 1.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// A sort file as `mksquashfs -sort` reads it: one `PATH PRIORITY` per line, the priority an
/// integer from -32768 to 32767 (higher is placed first, 0 is the default). The path is relative
/// to the root of the tree (a leading `/` is accepted); the last word of the line is the
/// priority, so a path may contain spaces. Blank lines and lines starting with `#` are skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortFile {
    /// Priority by path (names only, no leading `/`).
    priorities: BTreeMap<PathBuf, i16>,
}

impl SortFile {
    /// Parses the text of a sort file.
    pub fn parse(text: &str) -> Result<Self, SortFileError> {
        Self::parse_bytes(text.as_bytes())
    }

    /// Parses a sort file's bytes (paths need not be UTF-8).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, SortFileError> {
        let mut priorities = BTreeMap::new();
        for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line).trim_ascii();
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            let error = |reason: &str| SortFileError { line: n + 1, reason: reason.to_owned() };
            let split =
                line.iter().rposition(u8::is_ascii_whitespace).ok_or_else(|| error("expected PATH PRIORITY"))?;
            let (path, priority) = (line[..split].trim_ascii(), &line[split + 1..]);
            let priority = std::str::from_utf8(priority)
                .ok()
                .and_then(|p| p.parse::<i16>().ok())
                .ok_or_else(|| error("the priority must be an integer from -32768 to 32767"))?;
            let path =
                normalize(Path::new(OsStr::from_bytes(path))).ok_or_else(|| error("a path may not hold `..`"))?;
            priorities.insert(path, priority);
        }
        Ok(Self { priorities })
    }

    /// The priority of the entry at `path` (relative to the root): its own, else that of the
    /// nearest directory above it that has one, else 0.
    pub fn priority(&self, path: &Path) -> i16 {
        let Some(mut path) = normalize(path) else { return 0 };
        loop {
            if let Some(&p) = self.priorities.get(&path) {
                return p;
            }
            if !path.pop() {
                return 0;
            }
        }
    }

    /// Whether the file names no path.
    pub fn is_empty(&self) -> bool {
        self.priorities.is_empty()
    }
}

/// The names of `path` without a leading `/` or `.`; `None` if it holds `..`.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => return None,
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

/// The order in which to place the data of `paths`: indexes into `paths`, higher priority first
/// (from `sort`, if given), the canonical order among equal priorities.
pub fn placement_order<P: AsRef<Path>>(paths: &[P], sort: Option<&SortFile>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..paths.len()).collect();
    let priority: Vec<i16> = match sort {
        Some(sort) if !sort.is_empty() => paths.iter().map(|p| sort.priority(p.as_ref())).collect(),
        _ => vec![0; paths.len()],
    };
    order.sort_by(|&a, &b| {
        priority[b].cmp(&priority[a]).then_with(|| canonical_cmp(paths[a].as_ref(), paths[b].as_ref()))
    });
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_order_puts_a_directory_before_its_contents() {
        let mut paths = vec!["a-b", "a/b", "a", "B", "a/a"];
        sort_canonical(&mut paths);
        assert_eq!(paths, ["B", "a", "a/a", "a/b", "a-b"]);
    }

    #[test]
    fn sort_file_priorities_inherit_from_directories() {
        let sort = SortFile::parse("# comment\n/usr/lib 5\nusr/lib/x -3\n\nname with space 7\r\n").unwrap();
        assert_eq!(sort.priority(Path::new("usr/lib/y/z")), 5);
        assert_eq!(sort.priority(Path::new("/usr/lib/x")), -3);
        assert_eq!(sort.priority(Path::new("usr")), 0);
        assert_eq!(sort.priority(Path::new("name with space")), 7);
    }

    #[test]
    fn sort_file_errors_name_the_line() {
        assert_eq!(SortFile::parse("a 1\nb\n").unwrap_err().line, 2);
        assert_eq!(SortFile::parse("a 40000\n").unwrap_err().line, 1);
        assert_eq!(SortFile::parse("../x 1\n").unwrap_err().line, 1);
    }

    #[test]
    fn placement_is_priority_then_canonical() {
        let sort = SortFile::parse("z 1\n").unwrap();
        let paths = ["b", "z", "a", "a/c"];
        assert_eq!(placement_order(&paths, Some(&sort)), vec![1, 2, 3, 0]);
        assert_eq!(placement_order(&paths, None), vec![2, 3, 0, 1]);
    }
}
