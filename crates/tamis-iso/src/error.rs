//! What can stop reading or normalizing an image.

/// An error of this crate; each names the image it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The image is damaged (nothing was written to it), or could not be read or written: the
    /// error of the disk-image layer, one vocabulary for every image tamis reads.
    #[error(transparent)]
    Image(#[from] tamis_disk::Error),
    /// The image would be written inside the tree it is made of, or where cannot be told.
    #[error(transparent)]
    Place(#[from] tamis_core::OutputPlaceError),
    /// A tool the build drives failed or is missing.
    #[error("{tool}: {reason}")]
    Tool {
        /// The tool (`xorriso`).
        tool: &'static str,
        /// What happened, with the tool's own last lines.
        reason: String,
    },
}

impl Error {
    /// The image at `path` is damaged: `reason` says what and where.
    pub fn corrupt(path: &std::path::Path, reason: impl Into<String>) -> Self {
        Self::Image(tamis_disk::Error::Corrupt { path: path.to_owned(), reason: reason.into() })
    }

    /// `op` on the image at `path` failed.
    pub(crate) fn io(path: &std::path::Path, op: &'static str, source: std::io::Error) -> Self {
        Self::Image(tamis_disk::Error::Io { path: path.to_owned(), op, source })
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

// The parsers' faults are the disk layer's: a structure that is not valid, or a failed read.
pub(crate) use tamis_disk::{Fault, Parse, corrupt};
