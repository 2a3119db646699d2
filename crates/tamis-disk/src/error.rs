//! What can stop reading or normalizing a disk image.

use std::path::{Path, PathBuf};

/// An error of this crate; each names the image it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The image is not what it claims to be, or is damaged: nothing was written to it.
    #[error("{path}: corrupt image: {reason}")]
    Corrupt {
        /// The image.
        path: PathBuf,
        /// What is wrong: the structure and its offset.
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
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failure inside a parser, before the image's name is attached to it. Public so that a
/// crate reading a disk structure inside another format (an ISO's EFI image) can carry it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Fault {
    /// The bytes are not a valid structure: which one, and at what offset.
    Corrupt(String),
    /// Reading failed.
    Io(std::io::Error),
}

impl Fault {
    /// Attaches the image's name.
    pub fn at(self, path: &Path) -> Error {
        match self {
            Self::Corrupt(reason) => Error::Corrupt { path: path.to_owned(), reason },
            Self::Io(source) => Error::Io { path: path.to_owned(), op: "read", source },
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Corrupt(reason) => f.write_str(reason),
            Self::Io(e) => write!(f, "read error: {e}"),
        }
    }
}

/// A corrupt-structure fault with a message.
pub fn corrupt(reason: impl Into<String>) -> Fault {
    Fault::Corrupt(reason.into())
}

/// The result of a parser.
pub type Parse<T> = std::result::Result<T, Fault>;
