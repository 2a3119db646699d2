//! Incremental upgrade kits (IUKs): what takes an installed live system from one release to
//! the next, in Tails' format v2, computed by reading both releases' images.
//!
//! Tails makes a kit by loop-mounting both ISOs and both squashfs images, laying an overlayfs
//! over the old one, `rsync --checksum`-ing the new tree onto it and packing the upper
//! directory with gensquashfs: root and mounts needed, minutes per kit, and bytes that
//! depended on the builder's CPU and squashfs-tools version. This crate reads both squashfs
//! images with `tamis-squashfs`'s reader (inside the ISOs, in place), computes the delta in
//! memory ([`delta`]: changed and new entries, overlayfs whiteouts for deleted ones, opaque
//! directories where a directory replaced a non-directory) and writes the diff squashfs and
//! the kit with `tamis-squashfs`'s deterministic writer ([`kit`]): the kit's bytes depend only
//! on OLD, NEW and the [`IukOptions`], not on the thread count, the clock or the host.
//! [`verify()`] applies a kit in memory and proves that the result is NEW.
//!
//! Proof: `bins/tamis/tests/iuk.rs` builds two releases from a real mmdebstrap tree that differ
//! as releases do, makes the kit with 1 and 2 threads under another clock (same bytes), checks
//! it with `--verify`, and applies it for real (loop mounts stacked with overlayfs as live-boot
//! stacks them) into a tree that `tamis diff` finds identical to NEW.
//!
//! ```
//! use tamis_core::{Epoch, Root};
//! use tamis_iuk::{IukOptions, Kit, Release, verify, write_kit};
//! use tamis_squashfs::{WriteOptions, write_image};
//!
//! let epoch = Epoch::from_secs(1_700_000_000).expect("a valid epoch");
//! let dir = tempfile::tempdir()?;
//! // Two releases' root filesystems: a file changed, one deleted, one added.
//! for (name, files) in [("old", &[("etc/motd", "1.0\n"), ("etc/gone", "x\n")]), ("new", &[("etc/motd", "1.1\n"), ("etc/new", "y\n")])] {
//!     std::fs::create_dir_all(dir.path().join(name).join("etc"))?;
//!     for (path, text) in files {
//!         std::fs::write(dir.path().join(name).join(path), text)?;
//!     }
//!     let image = std::fs::File::create(dir.path().join(format!("{name}.squashfs")))?;
//!     write_image(&Root::open(&dir.path().join(name))?, image, &WriteOptions::new(epoch))?;
//! }
//! let options = IukOptions::new(epoch, "Tails_amd64_1.0_to_1.1.squashfs");
//! let old = Release::open(&dir.path().join("old.squashfs"), &options.layout.squashfs_in_iso)?;
//! let new = Release::open(&dir.path().join("new.squashfs"), &options.layout.squashfs_in_iso)?;
//! let kit_path = dir.path().join("kit.iuk");
//! let outcome = write_kit(&old, &new, std::fs::File::create(&kit_path)?, &options)?;
//! assert_eq!(outcome.delta.deleted, 1, "etc/gone becomes a whiteout");
//!
//! // What a rebuilder runs: the kit applied to OLD in memory is NEW.
//! let kit = Kit::open(&kit_path, &options.layout.diff_dir)?;
//! assert!(verify(&old, &new, &kit, &options.layout)?.passed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod delta;
pub mod kit;
mod release;
pub mod verify;

use std::path::PathBuf;

pub use kit::{IukOptions, IukOutcome, Layout, write_kit};
pub use release::Release;
pub use verify::{Kit, Verification, verify};

/// Why a kit could not be made or checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: cannot {op}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        op: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Neither an ISO 9660 image nor a squashfs image.
    #[error("{path}: not a release image (neither an ISO 9660 image nor a squashfs image)")]
    NotARelease {
        /// The file.
        path: PathBuf,
    },
    /// A squashfs image (a release's root filesystem, a kit, its diff) is unreadable. (The
    /// reason is the source, not repeated here: a report shows the chain.)
    #[error("{path}")]
    Squashfs {
        /// The image.
        path: PathBuf,
        /// Why.
        #[source]
        source: tamis_squashfs::Error,
    },
    /// An ISO image is unreadable. (The source names the image and says why.)
    #[error("cannot read the ISO image")]
    Iso {
        /// The image.
        path: PathBuf,
        /// Why (boxed: the ISO error is large, and every result of this crate carries it).
        #[source]
        source: Box<tamis_iso::Error>,
    },
    /// The ISO lacks the root filesystem.
    #[error("{path}: no {member} in this ISO image")]
    MissingInIso {
        /// The ISO.
        path: PathBuf,
        /// The path looked for.
        member: String,
    },
    /// NEW was made before OLD: most likely the two were given the wrong way round.
    #[error(
        "{new} (made at {new_made}) is older than {old} (made at {old_made}): OLD and NEW swapped? \
         (--allow-older makes a kit that goes back)"
    )]
    Swapped {
        /// OLD.
        old: PathBuf,
        /// NEW.
        new: PathBuf,
        /// OLD's squashfs `mkfs_time`.
        old_made: u32,
        /// NEW's.
        new_made: u32,
    },
    /// An entry of NEW is later than the epoch: the kit would not reproduce it.
    #[error("{path}: dated {mtime}, later than the epoch {epoch}; give NEW's epoch (--epoch)")]
    LaterThanEpoch {
        /// The entry.
        path: PathBuf,
        /// Its mtime.
        mtime: i64,
        /// The epoch.
        epoch: i64,
    },
    /// A kit is not laid out as the format says.
    #[error("{path}: not an upgrade kit: {reason}")]
    Kit {
        /// The kit.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The options do not make a kit.
    #[error("invalid options: {0}")]
    Options(String),
    /// Comparing the stacked tree with NEW failed.
    #[error(transparent)]
    Manifest(#[from] tamis_manifest::Error),
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
