//! Disk images (a USB image of a live system, a raw cloud or board image) and the disk
//! structures inside other images (an ISO's EFI image): the MBR, the GUID Partition Table and
//! FAT12/16/32 file systems read, validated and normalized in place, without moving any data.
//!
//! Two builds of such an image differ in the MBR disk signature, the GPT disk and partition
//! GUIDs (and so the GPT CRCs), the FAT volume serial and the times of its directory entries,
//! and the `FSInfo` hints. [`normalize_file`] rewrites each from the epoch; see
//! [`normalize`] for the list, and `docs/disk.md` for why.
//!
//! - [`Mbr`], [`Gpt`], [`Fat`]: the structures, read from any [`Source`] (a file read at
//!   offsets, or bytes), each validated as it is read; an error names the structure and its
//!   offset.
//! - [`patch::plan_fat`] and [`patch::plan_gpt`]: the field planners, also used by `tamis-iso`
//!   for a hybrid ISO's GPT and EFI image.
//! - [`Fat::entries`] and the files' data: every FAT partition of an image as a tree, for `tamis diff`.
//!
//! A corrupt image is an error naming it, never a panic, and is left untouched.
//!
//! ```
//! use tamis_core::Epoch;
//!
//! // A disk of 1 MiB with only an MBR: its disk signature is what two builds disagree on.
//! let mut image = vec![0u8; 1 << 20];
//! image[440..444].copy_from_slice(&0x1234_5678_u32.to_le_bytes());
//! image[510..512].copy_from_slice(&[0x55, 0xAA]);
//! let epoch = Epoch::from_secs(1_700_000_000).expect("a valid epoch");
//! let plan = tamis_disk::normalize_bytes(&mut image, &tamis_disk::Options::new(epoch))?;
//! for patch in &plan.patches {
//!     println!("{} {}: {} -> {}", patch.location, patch.field, patch.before, patch.after);
//! }
//! let signature = image[440..444].to_vec();
//! assert_ne!(signature, 0x1234_5678_u32.to_le_bytes(), "derived from the epoch instead");
//!
//! // Another build's signature gives the same bytes once normalized.
//! image[440..444].copy_from_slice(&0x9abc_def0_u32.to_le_bytes());
//! tamis_disk::normalize_bytes(&mut image, &tamis_disk::Options::new(epoch))?;
//! assert_eq!(image[440..444], signature[..]);
//! # Ok::<(), tamis_disk::Fault>(())
//! ```

mod error;
pub mod fat;
pub mod gpt;
mod guid;
pub mod mbr;
pub mod normalize;
pub mod patch;
pub mod source;

pub use error::{Error, Fault, Parse, Result, corrupt};
pub use fat::Fat;
pub use gpt::Gpt;
pub use guid::{IdError, guid_text, parse_guid, parse_hex32};
pub use mbr::Mbr;
pub use normalize::{Options, PartitionReport, Plan, normalize_bytes, normalize_file, open_image, write_patches};
pub use patch::Patch;
pub use source::Source;
