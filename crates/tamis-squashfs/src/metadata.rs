//! Metadata blocks: the inode, directory and lookup tables are cut into blocks of 8 KiB, each
//! compressed on its own behind a two-byte header.

use crate::compress::Compression;
use crate::format::{METADATA_SIZE, METADATA_UNCOMPRESSED};

/// A table being written, compressed block by block as it fills.
///
/// A place in the table is referred to as (start of its block in the compressed table, offset
/// in the uncompressed block). Blocks are compressed in order as they fill, so the start of the
/// block being filled is always known: it is the compressed length so far. That is what lets
/// a directory refer to inodes written before it, and its inode to its listing.
#[derive(Debug)]
pub(crate) struct MetadataWriter {
    compression: Compression,
    out: Vec<u8>,
    pending: Vec<u8>,
    /// Start of each block written, relative to the table's start.
    starts: Vec<u64>,
}

impl MetadataWriter {
    pub(crate) fn new(compression: Compression) -> Self {
        Self { compression, out: Vec::new(), pending: Vec::with_capacity(METADATA_SIZE), starts: Vec::new() }
    }

    /// Where the next byte goes: (block start, offset in the block).
    pub(crate) fn position(&self) -> (u64, u16) {
        (self.out.len() as u64, self.pending.len() as u16)
    }

    /// The position as an inode reference: block start << 16 | offset.
    pub(crate) fn reference(&self) -> u64 {
        let (start, offset) = self.position();
        (start << 16) | u64::from(offset)
    }

    /// The uncompressed length written so far.
    pub(crate) fn uncompressed_len(&self) -> u64 {
        (self.starts.len() * METADATA_SIZE + self.pending.len()) as u64
    }

    /// The start of the block holding uncompressed offset `at` (written or being filled).
    pub(crate) fn block_start_of(&self, at: u64) -> u64 {
        let block = (at / METADATA_SIZE as u64) as usize;
        self.starts.get(block).copied().unwrap_or(self.out.len() as u64)
    }

    pub(crate) fn push(&mut self, mut bytes: &[u8]) -> Result<(), String> {
        while !bytes.is_empty() {
            let room = METADATA_SIZE - self.pending.len();
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            self.pending.extend_from_slice(now);
            bytes = later;
            if self.pending.len() == METADATA_SIZE {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), String> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.starts.push(self.out.len() as u64);
        if let Some(packed) = self.compression.compress(&self.pending, METADATA_SIZE as u32)? {
            self.out.extend_from_slice(&(packed.len() as u16).to_le_bytes());
            self.out.extend_from_slice(&packed);
        } else {
            self.out.extend_from_slice(&(self.pending.len() as u16 | METADATA_UNCOMPRESSED).to_le_bytes());
            self.out.extend_from_slice(&self.pending);
        }
        self.pending.clear();
        Ok(())
    }

    /// The compressed table and the start of each of its blocks.
    pub(crate) fn finish(mut self) -> Result<(Vec<u8>, Vec<u64>), String> {
        self.flush()?;
        Ok((self.out, self.starts))
    }
}

/// The metadata blocks of a table's `entries` placed at absolute position `at`: their bytes and
/// the absolute position of each block, the list a lookup table's superblock pointer leads to.
pub(crate) fn table_blocks(compression: Compression, entries: &[u8], at: u64) -> Result<(Vec<u8>, Vec<u64>), String> {
    let mut w = MetadataWriter::new(compression);
    w.push(entries)?;
    let (bytes, starts) = w.finish()?;
    Ok((bytes, starts.into_iter().map(|s| at + s).collect()))
}
