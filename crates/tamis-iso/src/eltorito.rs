//! The El Torito boot catalog: validated, and read for the images it points at (the EFI FAT
//! image in particular).
//!
//! Nothing in a catalog that xorriso writes depends on the time or on chance (the images' block
//! addresses and sizes follow from the tree; the ID strings are empty), so the normalizer only
//! validates it. A catalog that fails validation makes the image corrupt.

use crate::error::{Parse, corrupt};
use crate::iso9660::{BLOCK, Volume};
use crate::source::{Source, le16, le32, read};

/// The platform ID of EFI boot entries.
pub(crate) const PLATFORM_EFI: u8 = 0xEF;

/// One bootable image named by the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BootImage {
    /// The platform of its section (0 x86 BIOS, 0xEF EFI).
    pub platform: u8,
    /// Absolute byte offset of the image.
    pub offset: u64,
    /// Its length as the catalog gives it (512-byte sectors; 0 or 1 often means "unknown").
    pub sectors: u16,
}

/// Reads and validates the catalog at block `lba` of `volume`.
pub(crate) fn read_catalog(src: &dyn Source, volume: &Volume, lba: u32) -> Parse<Vec<BootImage>> {
    let at = volume.at(lba);
    let cat = read(src, at, BLOCK, "El Torito boot catalog")?;
    let sum = (0..16).fold(0u16, |s, i| s.wrapping_add(le16(&cat, i * 2)));
    if cat[0] != 1 || cat[30] != 0x55 || cat[31] != 0xAA || sum != 0 {
        return Err(corrupt(format!("El Torito boot catalog at offset {at}: bad validation entry")));
    }
    let mut images = Vec::new();
    let entry = |e: &[u8], platform| BootImage { platform, offset: volume.at(le32(e, 8)), sectors: le16(e, 6) };
    if matches!(cat[32], 0x88 | 0x00) {
        images.push(entry(&cat[32..64], cat[1]));
    }
    let mut pos = 64;
    while pos + 32 <= cat.len() {
        let header = &cat[pos..pos + 32];
        if !matches!(header[0], 0x90 | 0x91) {
            break;
        }
        let platform = header[1];
        let count = usize::from(le16(header, 2));
        pos += 32;
        let mut taken = 0;
        while taken < count && pos + 32 <= cat.len() {
            let e = &cat[pos..pos + 32];
            pos += 32;
            if e[0] == 0x44 {
                continue; // an extension of the previous entry
            }
            if !matches!(e[0], 0x88 | 0x00) {
                return Err(corrupt(format!("El Torito boot catalog at offset {at}: bad section entry")));
            }
            images.push(entry(e, platform));
            taken += 1;
        }
        if header[0] == 0x91 {
            break;
        }
    }
    Ok(images)
}
