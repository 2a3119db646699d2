//! The HFS+ file system `grub-mkrescue` (through xorriso's `-hfsplus`) adds to an image so that
//! Macs can boot it: its volume header (and the alternate copy at its end) and the folder and
//! file records of its catalog B-tree, each with five dates. Dates are seconds since
//! 1904-01-01; libisofs writes the build time into them.
//!
//! Only what the normalizer needs is read: the header's catalog fork (its extents, which must
//! hold the whole catalog: an image made by xorriso never needs the overflow file), the B-tree
//! header node, and the chain of leaf nodes.

use std::collections::BTreeSet;

use crate::error::{Parse, corrupt};
use crate::source::{Source, read};

/// Seconds between 1904-01-01 and 1970-01-01.
pub(crate) const HFS_EPOCH_OFFSET: i64 = 2_082_844_800;

/// A date field: where it lies and its value.
#[derive(Debug, Clone)]
pub(crate) struct DateField {
    /// Absolute byte offset of the big-endian `u32`.
    pub offset: u64,
    /// Its value (seconds since 1904, 0 for "not set").
    pub value: u32,
    /// What it is, for messages: "volume header modification", "catalog /boot creation".
    pub what: String,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Whether an HFS+ (or HFSX) volume header lies 1024 bytes past `offset`.
pub(crate) fn is_hfs_plus(src: &dyn Source, offset: u64) -> bool {
    offset.checked_add(1026).is_some_and(|end| end <= src.len())
        && read(src, offset + 1024, 2, "HFS+ volume header").is_ok_and(|s| s == b"H+" || s == b"HX")
}

/// Every date of the HFS+ volume at `offset`: both volume headers and every catalog record.
pub(crate) fn dates(src: &dyn Source, offset: u64) -> Parse<Vec<DateField>> {
    let bad = |what: &str| corrupt(format!("HFS+ volume at offset {offset}: {what}"));
    let header = read(src, offset + 1024, 512, "HFS+ volume header")?;
    let block = u64::from(be32(&header, 40).unwrap_or(0));
    let total = u64::from(be32(&header, 44).unwrap_or(0));
    if !(512..=65536).contains(&block) || !block.is_power_of_two() || total == 0 {
        return Err(bad("bad block size or count"));
    }
    let end = total.checked_mul(block).and_then(|n| n.checked_add(offset)).ok_or_else(|| bad("too large"))?;
    if end > src.len() || end - offset < 2048 {
        return Err(bad("it extends beyond the image, or is too small for its two headers"));
    }
    let mut out = Vec::new();
    let header_dates = |out: &mut Vec<DateField>, at: u64, bytes: &[u8], copy: &str| {
        for (i, name) in ["creation", "modification", "backup", "checked"].iter().enumerate() {
            let value = be32(bytes, 16 + i * 4).unwrap_or(0);
            out.push(DateField { offset: at + 16 + i as u64 * 4, value, what: format!("{copy} {name}") });
        }
    };
    header_dates(&mut out, offset + 1024, &header, "volume header");
    let alternate_at = end - 1024;
    let alternate = read(src, alternate_at, 512, "HFS+ alternate volume header")?;
    if alternate.starts_with(b"H+") || alternate.starts_with(b"HX") {
        header_dates(&mut out, alternate_at, &alternate, "alternate volume header");
    }

    // The catalog fork: logical size at 0x110, eight extents (start block, block count) at 0x120.
    let size = be64(&header, 0x110).unwrap_or(0);
    let mut extents = Vec::new();
    let mut covered = 0u64;
    for i in 0..8 {
        let start = u64::from(be32(&header, 0x120 + i * 8).unwrap_or(0));
        let count = u64::from(be32(&header, 0x124 + i * 8).unwrap_or(0));
        if count == 0 {
            break;
        }
        if start + count > total {
            return Err(bad("a catalog extent lies beyond the volume"));
        }
        extents.push((offset + start * block, count * block));
        covered += count * block;
    }
    if covered < size || size == 0 {
        return Err(bad("the catalog does not fit in its header's extents"));
    }
    let catalog: Vec<u8> =
        extents.iter().map(|&(at, len)| read(src, at, len, "HFS+ catalog")).collect::<Parse<Vec<_>>>()?.concat();
    let catalog = &catalog[..size as usize];
    // Where byte `i` of the catalog lies in the image.
    let absolute = |mut i: u64| -> u64 {
        for &(at, len) in &extents {
            if i < len {
                return at + i;
            }
            i -= len;
        }
        unreachable!("callers stay within the catalog's size")
    };

    catalog_dates(catalog, offset, &absolute, &mut out)?;
    Ok(out)
}

/// The dates of every folder and file record in the leaf nodes of `catalog`.
fn catalog_dates(catalog: &[u8], offset: u64, absolute: &dyn Fn(u64) -> u64, out: &mut Vec<DateField>) -> Parse<()> {
    let bad = |what: &str| corrupt(format!("HFS+ volume at offset {offset}: {what}"));
    // The B-tree header record follows the 14-byte descriptor of node 0.
    let node_size = usize::from(be16(catalog, 14 + 18).unwrap_or(0));
    let first_leaf = be32(catalog, 14 + 10).unwrap_or(0);
    if !(512..=32768).contains(&node_size) || !node_size.is_power_of_two() {
        return Err(bad("bad catalog node size"));
    }
    let nodes = catalog.len() / node_size;
    let mut seen = BTreeSet::new();
    let mut node = first_leaf as usize;
    while node != 0 {
        if node >= nodes || !seen.insert(node) {
            return Err(bad("the catalog's leaf chain leaves the catalog or loops"));
        }
        let n = &catalog[node * node_size..(node + 1) * node_size];
        if n[8] != 0xFF {
            return Err(bad("a catalog leaf node is not a leaf"));
        }
        let records = usize::from(be16(n, 10).unwrap_or(0));
        if 14 + 2 * records > node_size {
            return Err(bad("a catalog node claims more records than it holds"));
        }
        for r in 0..records {
            let at = usize::from(be16(n, node_size - 2 * (r + 1)).ok_or_else(|| bad("bad record offset"))?);
            let key_len = usize::from(be16(n, at).ok_or_else(|| bad("bad record"))?);
            let data = at + 2 + key_len;
            let kind = be16(n, data).ok_or_else(|| bad("record beyond its node"))?;
            if kind != 1 && kind != 2 {
                continue; // thread records have no dates
            }
            if data + 32 > node_size {
                return Err(bad("record beyond its node"));
            }
            let name = be16(n, at + 6)
                .map(|len| {
                    let units: Vec<u16> = (0..usize::from(len)).filter_map(|i| be16(n, at + 8 + i * 2)).collect();
                    String::from_utf16_lossy(&units)
                })
                .unwrap_or_default();
            let what = if kind == 1 { "folder" } else { "file" };
            for (i, date) in
                ["creation", "content modification", "attribute modification", "access", "backup"].iter().enumerate()
            {
                let field = data + 12 + i * 4;
                out.push(DateField {
                    offset: absolute((node * node_size + field) as u64),
                    value: be32(n, field).unwrap_or(0),
                    what: format!("{what} {name:?} {date}"),
                });
            }
        }
        node = be32(n, 0).unwrap_or(0) as usize;
    }
    Ok(())
}
