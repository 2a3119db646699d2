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

/// A path inside the root as the image sees it: `/etc/shadow`. Bytes that are not UTF-8 and
/// control characters (a newline in a name) are written `\xNN`, and so is a backslash that
/// would otherwise read as such an escape (the `\x2d` of a systemd unit name is written
/// `\x5cx2d`), so that the text is unambiguous — two names never show alike, and the name is
/// found again from the text — and still one line.
pub fn display_path(path: &Path) -> String {
    let bytes = path.as_os_str().as_bytes();
    let bytes = bytes.strip_prefix(b"/").unwrap_or(bytes);
    let mut out = String::from("/");
    out.push_str(&display_bytes(bytes));
    out
}

/// Bytes (a name, a link's target) as text the way [`display_path`] writes a path, without
/// adding a leading `/`.
pub fn display_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let escape = |out: &mut String, b: u8| write!(out, "\\x{b:02x}").expect("writing to a String cannot fail");
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid();
        for (i, c) in valid.char_indices() {
            let looks_escaped = || c == '\\' && valid.as_bytes().get(i + 1..i + 4).is_some_and(is_escape_tail);
            if c.is_ascii_control() || looks_escaped() {
                escape(&mut out, c as u8);
            } else {
                out.push(c);
            }
        }
        for &b in chunk.invalid() {
            escape(&mut out, b);
        }
    }
    out
}

/// Whether `tail` is what follows the backslash of an escape: `x` and two hex digits.
fn is_escape_tail(tail: &[u8]) -> bool {
    matches!(tail, [b'x', h, l] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit())
}

/// The bytes a text written by [`display_bytes`] (or [`display_path`]) stands for: each `\xNN`
/// is the byte `NN`, everything else is itself.
pub fn parse_display_bytes(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i..i + 4)
            .filter(|b| b[0] == b'\\' && is_escape_tail(&b[1..]))
            .and_then(|b| std::str::from_utf8(&b[2..]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()));
        if let Some(byte) = escaped {
            out.push(byte);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
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
    fn names_that_only_look_alike_show_differently_and_are_found_again() {
        let names: [&[u8]; 9] = [
            b"x\xff",
            b"x\\xff",
            b"dev-disk-by\\x2dlabel",
            b"dev-disk-by-label",
            b"new\nline",
            b"new\\x0aline",
            b"a\\x+1",
            b"tail\\",
            b"\\\xff\\x41",
        ];
        let shown: Vec<String> = names.iter().map(|n| display_path(Path::new(OsStr::from_bytes(n)))).collect();
        for (name, text) in names.iter().zip(&shown) {
            assert!(!text.contains('\n'), "{text:?} is not one line");
            assert_eq!(parse_display_bytes(&text[1..]), *name, "{text:?}");
            assert_eq!(shown.iter().filter(|t| *t == text).count(), 1, "{text:?} shows two names");
        }
        assert_eq!(shown[2], "/dev-disk-by\\x5cx2dlabel");
        assert_eq!(shown[4], "/new\\x0aline");
        assert_eq!(display_bytes(b"../t\xfe"), "../t\\xfe");
    }

    #[test]
    fn refuses_parent_components() {
        assert!(split(Path::new("etc/../../x")).is_err());
        assert_eq!(split(Path::new("/./etc//shadow")).unwrap(), ["etc", "shadow"]);
    }
}
