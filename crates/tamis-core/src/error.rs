//! The errors of tree access. Each names the path it concerns, as seen inside the image
//! (`/etc/shadow`), so that a message read in a build log says which file to look at.

use std::io;
use std::path::PathBuf;

/// An error of access to the tree beneath a [`Root`](crate::Root).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed.
    #[error("{}: cannot {op}", crate::display_path(path))]
    Io {
        /// The path inside the root.
        path: PathBuf,
        /// What was being done, as a verb phrase: "read", "set times of".
        op: &'static str,
        /// The system's reason.
        #[source]
        source: io::Error,
    },
    /// The path is absolute-with-`..`, or otherwise names something outside the root.
    #[error("{}: has a '..' component; paths inside the root must not climb out of it", crate::display_path(path))]
    OutsideRoot {
        /// The path as given.
        path: PathBuf,
    },
    /// A component of the path (not its last) is a symbolic link, which tamis never follows.
    #[error("{}: a directory in this path is a symbolic link, which tamis does not follow", crate::display_path(path))]
    SymlinkInPath {
        /// The path as given.
        path: PathBuf,
    },
    /// The entry is not of the type the operation needs.
    #[error("{}: is a {found}, expected a {expected}", crate::display_path(path))]
    WrongType {
        /// The path inside the root.
        path: PathBuf,
        /// What the operation needs.
        expected: &'static str,
        /// What is there.
        found: &'static str,
    },
    /// A rewrite of a hard-linked file was not given all of its names.
    #[error(
        "{}: has {nlink} hard links but {given} names were given; rewriting it would split the link group",
        crate::display_path(path)
    )]
    HardlinkGroup {
        /// The path inside the root.
        path: PathBuf,
        /// Links the inode has.
        nlink: u64,
        /// Names the caller passed.
        given: usize,
    },
    /// The file, or the directory holding it, is immutable or append-only (`chattr +i`/`+a`):
    /// it cannot be replaced, and a temporary file made beside it could not be removed.
    #[error("{}: left as it is: {reason}", crate::display_path(path))]
    Protected {
        /// The path inside the root.
        path: PathBuf,
        /// Which flag, on what.
        reason: String,
    },
    /// An operation failed and the temporary file made for it could not be removed either.
    #[error(
        "{}: cannot {op}; the temporary file {} is left ({cleanup})",
        crate::display_path(path),
        crate::display_path(temp)
    )]
    TemporaryLeft {
        /// The path inside the root.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The temporary file left, inside the root.
        temp: PathBuf,
        /// Why the operation failed.
        #[source]
        source: io::Error,
        /// Why the temporary file could not be removed.
        cleanup: io::Error,
    },
    /// The root given is not a directory that can be opened.
    #[error("{path}: cannot open as the root of a tree")]
    OpenRoot {
        /// The path given on the command line.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: impl Into<io::Error>) -> Self {
        Self::Io { path: path.into(), op, source: source.into() }
    }
}
