//! cpio archives and initramfs files, rewritten so that two builds give the same bytes.
//!
//! `mkinitramfs` (initramfs-tools), dracut and live-build pack the early userspace as cpio
//! archives in the `newc` format, usually compressed, sometimes behind an uncompressed
//! early-microcode archive. Two builds of the same packages give different initrds: member
//! times are the build's, inode numbers and the device come from the build host's disk, the
//! order follows the build host's directory listing, and the compressor's header records a time
//! and a temporary file name (`mkinitramfs-MAIN_XXXXXX`).
//!
//! - [`newc`]: read and write the `newc` and `crc` formats.
//! - [`odc`]: read and write the POSIX.1 portable format (`odc`, `cpio -H odc`), which
//!   standalone archives use; the kernel does not read it.
//! - [`archive::normalize`]: one archive made canonical (order, inode numbers, link counts,
//!   times, devices).
//! - [`initramfs::normalize`]: a whole initramfs file: split into its segments, each archive
//!   normalized, each segment stored again with its format.
//! - [`Initramfs`]: the pipeline stage (`initramfs`).
//!
//! Proof: the initrds of two real rootfs builds are byte-identical after the stage, and hold
//! the same members with the same contents, modes, owners and link targets as before, as GNU
//! cpio lists and extracts them (`bins/tamis/tests/initramfs.rs`).
//!
//! The normalizer holds a decompressed segment in memory (sorting needs every member; a Debian
//! initrd is 30 to 150 MB decompressed); a file that decompresses to more than
//! [`initramfs::DECOMPRESSED_LIMIT`] (1 GiB) is refused and left as it is. gzip is decompressed and compressed in process
//! (`flate2`); the other formats by the same tools mkinitramfs uses (`xz`, `zstd`, `lz4`,
//! `bzip2`, `lzma`), whose output is the same for the same version and options but can change
//! between versions of the tool — as for any image, pin the tools to reproduce the bytes.
//!
//! ```
//! use tamis_core::Epoch;
//! use tamis_cpio::newc::{Header, write_member, write_trailer};
//! use tamis_cpio::{InitramfsOptions, normalize_file};
//!
//! // An archive as a build writes it: members in directory order, with the build's times.
//! let mut archive = Vec::new();
//! for (name, mtime, ino) in [("init", 1_800_000_000, 7), ("bin", 1_800_000_100, 3)] {
//!     let mode = if name == "bin" { 0o40755 } else { 0o100755 };
//!     let data: &[u8] = if name == "init" { b"#!/bin/sh\n" } else { b"" };
//!     let header = Header { mode, ino, nlink: 1, mtime, filesize: data.len() as u32, ..Header::default() };
//!     write_member(&mut archive, &header, name.as_bytes(), data)?;
//! }
//! write_trailer(&mut archive, false)?;
//!
//! let epoch = Epoch::from_secs(1_700_000_000).expect("a valid epoch");
//! let canonical = normalize_file(&archive, epoch, InitramfsOptions::default())?.expect("order and times change");
//! assert_eq!(normalize_file(&canonical, epoch, InitramfsOptions::default())?, None, "idempotent");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod archive;
pub mod initramfs;
pub mod newc;
pub mod odc;
mod stage;

pub use archive::{ArchiveOptions, TimePolicy};
pub use initramfs::{Compression, Segment};
pub use stage::{Initramfs, InitramfsOptions, normalize_file};

/// The format of a member, and of the archive that holds it, kept when the archive is written
/// again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Format {
    /// SVR4 without checksums, magic `070701` (`cpio -H newc`).
    #[default]
    Newc,
    /// SVR4 with a checksum of each file, magic `070702` (`cpio -H crc`).
    Crc,
    /// POSIX.1 portable format, magic `070707` (`cpio -H odc`).
    Odc,
}

impl Format {
    /// The format of the archive starting with `bytes`, by its magic.
    pub fn detect(bytes: &[u8]) -> Option<Self> {
        match bytes.get(..6)? {
            b"070701" => Some(Self::Newc),
            b"070702" => Some(Self::Crc),
            b"070707" => Some(Self::Odc),
            _ => None,
        }
    }
}

/// Why an archive or initramfs could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CpioError {
    /// The data ends inside a member.
    #[error("truncated {what} of the member at byte {at}")]
    Truncated {
        /// Offset of the member.
        at: usize,
        /// Which part is missing.
        what: &'static str,
    },
    /// A member header is not valid.
    #[error("member at byte {at}: {why}")]
    Header {
        /// Offset of the member.
        at: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// Neither a cpio archive nor a compressed stream starts here.
    #[error("byte {at}: neither a cpio archive nor a known compressed stream")]
    UnknownData {
        /// Offset.
        at: usize,
    },
    /// A compressed segment could not be decompressed.
    #[error("segment at byte {at}: {tool} cannot decompress it: {why}")]
    Decompress {
        /// Offset of the segment.
        at: usize,
        /// The format's tool.
        tool: &'static str,
        /// Its reason.
        why: String,
    },
    /// The file decompresses to more than [`initramfs::DECOMPRESSED_LIMIT`].
    #[error("segment at byte {at}: decompresses to more than {limit} MiB, the most an initramfs may hold here")]
    TooLarge {
        /// Offset of the segment.
        at: usize,
        /// The limit, in MiB.
        limit: usize,
    },
    /// A segment could not be compressed again.
    #[error("{tool} failed: {why}")]
    Compress {
        /// The format's tool.
        tool: &'static str,
        /// Its reason.
        why: String,
    },
    /// A value does not fit the field of the format that must hold it (odc's octal fields): the
    /// archive is not written.
    #[error("member {name}: {field} {value} does not fit the {digits} octal digits of the odc format")]
    Overflow {
        /// The member's name.
        name: String,
        /// The field.
        field: &'static str,
        /// The value.
        value: u64,
        /// The field's width.
        digits: usize,
    },
    /// An error inside the decompressed data of a segment.
    #[error("in the segment at byte {segment}: {source}")]
    InSegment {
        /// Offset of the segment in the file.
        segment: usize,
        /// The error, with offsets in the decompressed data.
        source: Box<CpioError>,
    },
}

impl CpioError {
    /// The same error with its offsets moved by `by` bytes.
    fn shifted(self, by: usize) -> Self {
        match self {
            Self::Truncated { at, what } => Self::Truncated { at: at + by, what },
            Self::Header { at, why } => Self::Header { at: at + by, why },
            Self::UnknownData { at } => Self::UnknownData { at: at + by },
            other => other,
        }
    }

    fn in_segment(self, segment: usize) -> Self {
        Self::InSegment { segment, source: Box::new(self) }
    }
}

/// The name of the member whose header starts at `at` and whose name (`namesize` bytes, its NUL
/// included) starts at `name_at`: a single NUL-terminated string, or the reason it is not.
pub(crate) fn member_name(bytes: &[u8], at: usize, name_at: usize, namesize: usize) -> Result<&[u8], CpioError> {
    if namesize == 0 {
        return Err(CpioError::Header { at, why: "empty name" });
    }
    let name = name_at
        .checked_add(namesize)
        .and_then(|end| bytes.get(name_at..end))
        .ok_or(CpioError::Truncated { at, what: "name" })?;
    let (name, nul) = name.split_at(namesize - 1);
    if nul != [0] || name.contains(&0) {
        return Err(CpioError::Header { at, why: "name is not a single NUL-terminated string" });
    }
    Ok(name)
}
