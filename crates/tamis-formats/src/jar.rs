//! Text inside jars that records the build: the zip handler rewrites these entries.
//!
//! - `META-INF/MANIFEST.MF`: `Bnd-LastModified` (the bnd tool's build time, in milliseconds)
//!   and `Built-By` (the builder's user name), with their continuation lines. `Created-By` and
//!   `Build-Jdk` name the tools, which are inputs of the build, and stay.
//! - `*.properties` (Maven's `pom.properties`, or any file `java.util.Properties.store` wrote):
//!   the date comment `store` puts first, `#Mon Nov 23 13:13:27 UTC 2026`, in the builder's time
//!   zone. Only the comments before the first property are looked at.
//!
//! Removed, not clamped, as `strip-nondeterminism` does: they carry nothing a reader uses.

use std::io::{Read as _, Write as _};

/// The manifest without its build-time and builder headers, or `None` if it has none.
pub(crate) fn manifest(text: &[u8]) -> Option<Vec<u8>> {
    const DROPPED: [&[u8]; 2] = [b"Bnd-LastModified:", b"Built-By:"];
    let mut out = Vec::with_capacity(text.len());
    let mut dropping = false;
    for line in lines(text) {
        if line.starts_with(b" ") {
            // A continuation belongs to the header before it.
        } else {
            dropping = DROPPED.iter().any(|h| line.len() >= h.len() && line[..h.len()].eq_ignore_ascii_case(h));
        }
        if !dropping {
            out.extend_from_slice(line);
        }
    }
    (out.len() != text.len()).then_some(out)
}

/// The properties without the date comment of `Properties.store`, or `None` if there is none.
pub(crate) fn properties(text: &[u8]) -> Option<Vec<u8>> {
    let mut at = 0;
    for line in lines(text) {
        match line.first() {
            Some(b'#' | b'!') if is_store_date(trim_end(line)) => {
                let mut out = Vec::with_capacity(text.len());
                out.extend_from_slice(&text[..at]);
                out.extend_from_slice(&text[at + line.len()..]);
                return Some(out);
            }
            Some(b'#' | b'!') => {}
            _ if trim_end(line).is_empty() => {}
            _ => return None,
        }
        at += line.len();
    }
    None
}

/// The lines of `text`, each with its end (`\n` or `\r\n`).
fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split_inclusive(|&b| b == b'\n')
}

fn trim_end(line: &[u8]) -> &[u8] {
    let end = line.iter().rposition(|b| !b"\r\n".contains(b)).map_or(0, |p| p + 1);
    &line[..end]
}

/// `#Mon Nov 23 13:13:27 UTC 2026`: `#`, then what `java.util.Date.toString` writes.
fn is_store_date(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"#") else { return false };
    let words: Vec<&[u8]> = rest.split(|&b| b == b' ').collect();
    let [day, month, date, time, zone, year] = words.as_slice() else { return false };
    let alpha = |w: &[u8], n: usize| w.len() == n && w.iter().all(u8::is_ascii_alphabetic);
    let digits = |w: &[u8], n: usize| w.len() == n && w.iter().all(u8::is_ascii_digit);
    alpha(day, 3)
        && alpha(month, 3)
        && digits(date, 2)
        && time.len() == 8
        && time.split(|&b| b == b':').all(|part| digits(part, 2))
        && !zone.is_empty()
        && digits(year, 4)
}

/// Raw deflate data of an entry whose uncompressed size is `size`; `None` if it is not that.
pub(crate) fn inflate(data: &[u8], size: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(size);
    let mut decoder = flate2::read::DeflateDecoder::new(data).take(size as u64 + 1);
    decoder.read_to_end(&mut out).ok()?;
    (out.len() == size).then_some(out)
}

/// Raw deflate at the default level: the same bytes for the same text on every host (one
/// version of the zlib-rs backend).
pub(crate) fn deflate(text: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text).expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_loses_builder_and_build_time_with_continuations() {
        let text = b"Manifest-Version: 1.0\r\nBuilt-By: a-very-long-user-name-that-continues\r\n  -here\r\nBnd-LastModified: 1790000000000\r\nCreated-By: 17\r\n\r\n";
        assert_eq!(manifest(text).unwrap(), b"Manifest-Version: 1.0\r\nCreated-By: 17\r\n\r\n");
        assert_eq!(manifest(b"Manifest-Version: 1.0\r\nCreated-By: 17\r\n\r\n"), None);
    }

    #[test]
    fn properties_lose_the_store_date_only() {
        let text = b"#Created by Apache Maven 3.9.6\n#Mon Nov 23 13:13:27 CET 2026\ngroupId=g\n#Tue Nov 24 13:13:27 CET 2026\n";
        assert_eq!(
            properties(text).unwrap(),
            b"#Created by Apache Maven 3.9.6\ngroupId=g\n#Tue Nov 24 13:13:27 CET 2026\n".to_vec(),
            "a comment after the first property is someone's text"
        );
        assert_eq!(properties(b"#Generated\nkey=value\n"), None);
        assert_eq!(properties(b"#Mon Nov 23 13:13 CET 2026\nkey=value\n"), None);
    }

    #[test]
    fn deflate_round_trips() {
        let text = b"groupId=g\nartifactId=a\n".repeat(20);
        assert_eq!(inflate(&deflate(&text), text.len()).unwrap(), text);
        assert_eq!(inflate(&deflate(&text), text.len() - 1), None);
    }
}
