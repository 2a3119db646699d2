//! Deterministic squashfs 4.0 images: the same bytes from the same tree, whatever builds them.
//!
//! Live systems ship their root filesystem as a squashfs image. `mksquashfs` makes it
//! reproducible only with care (`-mkfs-time`, `-all-time` or `SOURCE_DATE_EPOCH`, and its
//! output order follows its own scan of the source directory), and a different tool or version
//! gives different bytes. This crate writes images whose bytes depend only on the tree's
//! content and the [`WriteOptions`]: not on the order in which `readdir` returns names, not on
//! the number of threads, not on the time of the build ([`write_image`]; the layout rules are
//! in the `write` module's documentation). It reads images back ([`Image`]): entries with
//! their metadata and extended attributes, and file data, for comparisons.
//!
//! Proof: images are listed by the real `unsquashfs -lln` and extracted by `unsquashfs -d`
//! into trees equal to the input (contents, modes, owners, times, links, hard links, xattrs),
//! for every compressor; 1 and 2 threads, and a tree created in another order, give the same
//! bytes; two real rootfs builds, normalized, give identical images
//! (`bins/tamis/tests/squashfs.rs`). The reader is fuzzed (`fuzz/fuzz_targets/squashfs.rs`).
//!
//! ```
//! use tamis_core::{Epoch, Root};
//! use tamis_squashfs::{Compression, Image, WriteOptions, write_image};
//!
//! let chroot = tempfile::tempdir()?; // an image's root tree, such as /srv/chroot
//! std::fs::write(chroot.path().join("hostname"), "debian\n")?;
//! let root = Root::open(chroot.path())?;
//! let mut options = WriteOptions::new(Epoch::parse("1700000000")?);
//! options.compression = Compression::Xz { dict_size: None, x86: true };
//! options.block_size = 1 << 20;
//! let out = tempfile::tempdir()?;
//! let image_path = out.path().join("filesystem.squashfs");
//! write_image(&root, std::fs::File::create(&image_path)?, &options)?;
//!
//! let image = Image::open(&image_path)?;
//! for entry in image.entries()? {
//!     println!("{} {:o} {}", entry.path.display(), entry.mode, entry.size);
//! }
//! assert!(image.entries()?.iter().any(|e| e.path.ends_with("hostname") && e.size == 7));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod compress;
pub mod format;
mod image_files;
mod metadata;
mod read;
mod stage;
mod write;

pub use compress::Compression;
pub use image_files::ImageFiles;
pub use read::{Image, ImageEntry};
pub use stage::{
    ImageFile, ImageFileError, OptionsError, OutputChange, SquashfsStage, SquashfsStageOptions, StageCompressor, XzBcj,
    write_image_file,
};
pub use write::{StoredFile, StoredTail, TreeEntry, TreeSource, WriteOptions, WriteOutcome, write_image, write_tree};

/// Why an image could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The tree could not be opened or an entry read.
    #[error(transparent)]
    Tree(#[from] tamis_core::Error),
    /// The walk could not list the whole tree; an image without those entries would be wrong.
    #[error("the tree could not be listed completely ({count} problems); first: {first}")]
    Incomplete {
        /// How many entries or directories could not be listed.
        count: usize,
        /// The first of them.
        first: String,
    },
    /// The options do not make a valid image.
    #[error("invalid options: {0}")]
    Options(String),
    /// The tree does not fit in the format.
    #[error("the tree does not fit in squashfs: {0}")]
    Limit(String),
    /// A compressor failed.
    #[error("compressor: {0}")]
    Compress(String),
    /// The image could not be written.
    #[error("cannot write the image")]
    Write(#[source] std::io::Error),
    /// The image could not be read.
    #[error("cannot read the image")]
    Read(#[source] std::io::Error),
    /// The file is not a squashfs 4.0 image.
    #[error("not a squashfs 4.0 image")]
    NotSquashfs,
    /// The image uses something this reader does not have.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The image is damaged.
    #[error("corrupt image: {0}")]
    Corrupt(String),
    /// File data was asked of an entry that is not a regular file.
    #[error("{0}: not a regular file")]
    NotAFile(std::path::PathBuf),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
