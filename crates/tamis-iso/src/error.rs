//! What can stop reading or normalizing an image.

use std::path::PathBuf;

/// An error of this crate; each names the image it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The image is not what it claims to be, or is damaged: nothing was written to it.
    #[error("{path}: corrupt image: {reason}")]
    Corrupt {
        /// The image.
        path: PathBuf,
        /// What is wrong, and where.
        reason: String,
    },
    /// The image could not be read or written.
    #[error("{path}: cannot {op}")]
    Io {
        /// The image.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
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

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failure inside a parser, before the image's name is attached to it.
#[derive(Debug)]
pub(crate) enum Fault {
    /// The bytes are not a valid structure.
    Corrupt(String),
    /// Reading failed.
    Io(std::io::Error),
}

impl Fault {
    /// Attaches the image's name.
    pub(crate) fn at(self, path: &std::path::Path) -> Error {
        match self {
            Self::Corrupt(reason) => Error::Corrupt { path: path.to_owned(), reason },
            Self::Io(source) => Error::Io { path: path.to_owned(), op: "read", source },
        }
    }
}

impl From<tamis_disk::Error> for Error {
    fn from(e: tamis_disk::Error) -> Self {
        match e {
            tamis_disk::Error::Io { path, op, source } => Self::Io { path, op, source },
            tamis_disk::Error::Corrupt { path, reason } => Self::Corrupt { path, reason },
            other => Self::Corrupt { path: std::path::PathBuf::new(), reason: other.to_string() },
        }
    }
}

impl From<tamis_disk::Fault> for Fault {
    fn from(f: tamis_disk::Fault) -> Self {
        match f {
            tamis_disk::Fault::Io(e) => Self::Io(e),
            other => Self::Corrupt(other.to_string()),
        }
    }
}

/// A corrupt-image fault with a message.
pub(crate) fn corrupt(reason: impl Into<String>) -> Fault {
    Fault::Corrupt(reason.into())
}

pub(crate) type Parse<T> = std::result::Result<T, Fault>;
