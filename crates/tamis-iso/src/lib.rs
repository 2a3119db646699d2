//! ISO 9660 hybrid images (what users download and write to a USB stick): make two builds of
//! the same tree give the same bytes.
//!
//! - [`normalize_file`] rewrites, in place and without moving any data, every field of an
//!   existing image that depends on the time or on chance: volume descriptor dates, directory
//!   record dates of every tree, Rock Ridge `TF` times, the MBR disk signature, the GPT GUIDs
//!   (with both headers' and arrays' CRCs), inside the EFI FAT image its serial, label padding
//!   and entry times, the dates of an HFS+ file system, and xorriso's MD5 checksum tags. See
//!   [`normalize`] for the list, and `docs/iso.md` for why.
//! - [`build()`] drives xorriso with every reproducibility option it has, then normalizes.
//! - [`Reader`] lists an image's files with their metadata (Rock Ridge when present) and reads
//!   their data.
//!
//! - [`IsoImages`] is the `iso` pipeline stage: images inside a tree, found by content.
//!
//! A corrupt image is an error naming it, never a panic, and is left untouched.
//!
//! ```
//! use tamis_core::Epoch;
//!
//! // Dates are clamped to the epoch as ISO 9660 writes them (here a 7-byte directory record
//! // date: years since 1900, month, day, hour, minute, second, offset from UTC in 15 minutes).
//! let epoch = Epoch::from_secs(1_700_000_000).expect("a valid epoch"); // 2023-11-14T22:13:20Z
//! let recorded = [126, 6, 1, 12, 0, 0, 0]; // 2026-06-01 12:00 UTC, after the epoch
//! assert_eq!(tamis_iso::date::clamp7(recorded, epoch), [123, 11, 14, 22, 13, 20, 0]);
//!
//! // A whole image: `normalize_file(path, &Options::new(epoch), Mode::Apply)`; bytes that are no
//! // ISO 9660 image are refused, never patched.
//! let mut not_an_image = vec![0u8; 4096];
//! assert!(tamis_iso::normalize_bytes(&mut not_an_image, &tamis_iso::Options::new(epoch)).is_err());
//! ```

pub mod build;
pub mod date;
mod eltorito;
mod error;
mod hfsplus;
mod iso9660;
mod md5tags;
pub mod normalize;
pub mod reader;
mod source;
mod stage;

pub use build::{BuildOptions, Built, build};
pub use error::{Error, Result};
pub use normalize::{Options, Patch, Plan, normalize_bytes, normalize_file};
pub use reader::{IsoEntry, Reader};
pub use source::Source;
pub use stage::IsoImages;
