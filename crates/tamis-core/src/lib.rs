//! The safe core every tamis normalizer is built on.
//!
//! tamis runs as root over a chroot that belongs to an image being built. Such a tree is full of
//! absolute symbolic links (`/etc/resolv.conf -> /run/…`, `/lib -> usr/lib`) that, followed from
//! the host, point *outside* it. This crate makes it impossible for the rest of tamis to follow
//! one by accident:
//!
//! - [`Root`] is a handle on the tree. Every access resolves one path component at a time from
//!   an open directory descriptor with `O_NOFOLLOW`; a symbolic link inside a path, a `..`
//!   component or a mount point is an error, never a way out.
//! - [`Root::walk`] lists the tree in the canonical order ([`canonical_cmp`]), whatever the
//!   order of `readdir`, using several threads and merging their results in that order.
//! - [`Root::replace`] rewrites a file atomically (temporary file + rename in the same directory),
//!   keeping owner, mode, times, extended attributes (`security.capability` included) and the
//!   hard-link group.
//! - No operation changes an inode that is also linked from outside the tree: the tree's names
//!   get an inode of their own instead ([`Links`]).
//! - [`Epoch`] is `SOURCE_DATE_EPOCH`, parsed as the reproducible-builds specification defines it.
//! - [`Report`], [`Change`] and [`Problem`] are what every normalizer returns: plain data that the
//!   binary prints for people or serialises as JSON.
//!
//! ```
//! use tamis_core::{Epoch, Root};
//!
//! let chroot = tempfile::tempdir()?; // an image's root tree, such as /srv/chroot
//! std::fs::write(chroot.path().join("hostname"), "debian\n")?;
//! let root = Root::open(chroot.path())?;
//! let epoch = Epoch::parse("1700000000")?;
//! let tree = root.walk()?;
//! let newer = tree.entries().iter().filter(|e| e.meta.mtime.secs > epoch.secs()).count();
//! assert_eq!(newer, 2, "the root directory and the file were made just now");
//! println!("{newer} entries are newer than {epoch}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod edits;
mod epoch;
mod error;
mod input_file;
mod links;
mod mount;
mod normalizer;
mod output_dir;
mod path;
mod report;
mod root;
mod stale;
pub mod temp;
mod time;
mod walk;

pub use edits::Edits;
pub use epoch::{Epoch, EpochError, EpochSource};
pub use error::Error;
pub use input_file::{open_regular_file, read_regular_file};
pub use links::Links;
pub use normalizer::{Context, NoProgress, Normalizer, Progress};
pub use output_dir::{OutputPlaceError, directory_in_tree, ensure_output_outside};
pub use path::{canonical_cmp, display_bytes, display_path, parse_display_bytes};
pub use report::{Action, Change, Mode, Problem, Report, Skipped};
pub use root::{Directory, Root, fd_xattrs};
pub use stale::{StaleTemporaries, is_temporary};
pub use time::{TimePolicy, Timestamp, civil_from_days, days_from_civil};
pub use walk::{Entry, FileKind, Metadata, Tree, makedev};

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
