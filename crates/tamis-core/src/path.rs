//! Paths inside a root: how they are split, ordered and shown.
//!
//! A path inside a root is written the way the image sees it: `/etc/shadow` and `etc/shadow`
//! name the same entry, and the empty path (or `/`) names the root itself.

use std::cmp::Ordering;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use crate::Error;

/// The canonical order of entries in every tamis output: the order of a depth-first walk that
/// visits the names of each directory in byte order.
///
/// It compares paths component by component, each component as raw bytes, so it depends on no
/// locale, and a directory comes right before its contents: `a`, `a/b`, `a-b` (whereas a plain
/// byte comparison of whole paths would put `a-b` before `a/b`, since `-` sorts before `/`).
pub fn canonical_cmp(a: &Path, b: &Path) -> Ordering {
    fn names(p: &Path) -> impl Iterator<Item = &[u8]> {
        p.components().filter_map(|c| match c {
            Component::Normal(n) => Some(n.as_bytes()),
            _ => None,
        })
    }
    names(a).cmp(names(b))
}

/// A path inside the root as the image sees it: `/etc/shadow`. Bytes that are not UTF-8 are
/// written `\xNN`, so that the text is unambiguous and still one line.
pub fn display_path(path: &Path) -> String {
    let mut out = String::from("/");
    let bytes = path.as_os_str().as_bytes();
    let bytes = bytes.strip_prefix(b"/").unwrap_or(bytes);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            write!(out, "\\x{b:02x}").expect("writing to a String cannot fail");
        }
    }
    out
}

/// The names of a path inside the root, refusing any `..`; `.` and leading `/` are dropped.
pub(crate) fn split(path: &Path) -> Result<Vec<&OsStr>, Error> {
    let mut names = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => names.push(name),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::OutsideRoot { path: path.to_owned() });
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn directories_come_before_their_siblings_with_longer_names() {
        let mut paths = vec!["a-b", "a/b", "a", "", "b", "a/b/c", "A"];
        paths.sort_by(|x, y| canonical_cmp(Path::new(x), Path::new(y)));
        assert_eq!(paths, ["", "A", "a", "a/b", "a/b/c", "a-b", "b"]);
    }

    #[test]
    fn leading_slash_does_not_matter() {
        assert_eq!(canonical_cmp(Path::new("/etc/x"), Path::new("etc/x")), Ordering::Equal);
    }

    #[test]
    fn shows_non_utf8_bytes_escaped() {
        let p = Path::new(OsStr::from_bytes(b"etc/caf\xe9"));
        assert_eq!(display_path(p), "/etc/caf\\xe9");
        assert_eq!(display_path(Path::new("")), "/");
        assert_eq!(display_path(Path::new("/etc")), "/etc");
    }

    #[test]
    fn refuses_parent_components() {
        assert!(split(Path::new("etc/../../x")).is_err());
        assert_eq!(split(Path::new("/./etc//shadow")).unwrap(), ["etc", "shadow"]);
    }
}
