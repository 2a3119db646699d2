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
pub use normalize::{Options, Patch, Plan, Write, normalize_bytes, normalize_file};
pub use reader::{IsoEntry, Reader};
pub use source::Source;
pub use stage::IsoImages;
