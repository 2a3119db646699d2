//! Where the bytes of an image come from: the [`Source`] of `tamis-disk` (a file read at
//! offsets, a 1 GB image is never read whole, or a slice), and its readers, whose faults are
//! this crate's too. `inside` checks that an extent lies in the image: every extent an image
//! declares is checked this way before anything is written, so that a truncated image, or one
//! whose addresses point past its end, is refused whole.

pub use tamis_disk::Source;
pub(crate) use tamis_disk::source::{inside, le16, le32, read};
