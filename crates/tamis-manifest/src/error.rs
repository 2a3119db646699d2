//! What can stop building, reading or comparing a manifest.

use std::path::PathBuf;

/// An error of this crate; each names the file it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The tree could not be walked or opened.
    #[error(transparent)]
    Tree(#[from] tamis_core::Error),
    /// A file could not be read or written.
    #[error("{path}: cannot {op}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done: "read", "write".
        op: &'static str,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A manifest file has a line that is not a manifest entry.
    #[error("{path}:{line}: not a tamis manifest entry")]
    Parse {
        /// The manifest file.
        path: PathBuf,
        /// The line, counting from 1.
        line: usize,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
    /// A manifest file has an entry no tree can have: a path that is not absolute and normal
    /// (`..`, `.`, doubled or trailing slashes, NUL), a path given twice, nanoseconds or a mode
    /// out of range.
    #[error("{path}:{line}: {reason}")]
    Entry {
        /// The manifest file.
        path: PathBuf,
        /// The line, counting from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A manifest file of a format version this build does not know.
    #[error("{path}: manifest format version {found}, this tamis reads version {expected}")]
    Version {
        /// The manifest file.
        path: PathBuf,
        /// The version in its header.
        found: u32,
        /// The version this crate reads and writes.
        expected: u32,
    },
    /// An image file that cannot be read.
    #[error("{path}: not a valid {format} image: {why}")]
    Image {
        /// The image.
        path: PathBuf,
        /// What it was read as: "initramfs".
        format: &'static str,
        /// What is wrong.
        why: String,
    },
    /// A file that looked like an image by its first bytes (a compressor's magic number, as an
    /// initramfs starts) and holds none: a plain compressed file. Compared inside a tree, it is a
    /// plain content difference.
    #[error("{path}: not a valid {format} image: {why}")]
    NotAnImage {
        /// The file.
        path: PathBuf,
        /// What it was read as: "initramfs".
        format: &'static str,
        /// What it holds instead.
        why: String,
    },
    /// An ISO image could not be read.
    #[error(transparent)]
    Iso(#[from] tamis_iso::Error),
    /// A squashfs image could not be read.
    #[error("{path}: cannot read the image")]
    Squashfs {
        /// The image.
        path: PathBuf,
        /// What the image's reader said.
        #[source]
        source: tamis_squashfs::Error,
    },
    /// An input that is neither a directory nor a manifest file nor a known image.
    #[error("{path}: not a directory, a tamis manifest, nor an image tamis reads (squashfs, ISO 9660, initramfs/cpio)")]
    UnknownInput {
        /// The input.
        path: PathBuf,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
