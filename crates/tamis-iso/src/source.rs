//! Where the bytes of an image come from: the [`Source`] of `tamis-disk` (a file read at
//! offsets, a 1 GB image is never read whole, or a slice), and its readers with this crate's
//! faults.

pub use tamis_disk::Source;
pub(crate) use tamis_disk::source::{le16, le32};

use crate::error::Parse;

/// Reads `len` bytes at `offset`, `what` naming the structure in the error.
pub(crate) fn read(src: &dyn Source, offset: u64, len: u64, what: &str) -> Parse<Vec<u8>> {
    Ok(tamis_disk::source::read(src, offset, len, what)?)
}

/// Checks that the `len` bytes at `offset` lie inside the image, `what` naming them in the
/// error: every extent an image declares is checked this way before anything is written, so
/// that a truncated image, or one whose addresses point past its end, is refused whole.
pub(crate) fn inside(src: &dyn Source, offset: u64, len: u64, what: &str) -> Parse<()> {
    Ok(tamis_disk::source::inside(src, offset, len, what)?)
}
