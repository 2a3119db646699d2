//! Where the bytes of an image come from: a file read at offsets (a 1 GB image is never read
//! whole), or a slice (tests, fuzzing).

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::error::{Fault, Parse, corrupt};

/// Random access to the bytes of an image.
pub trait Source: Send + Sync {
    /// The image's length in bytes.
    fn len(&self) -> u64;

    /// Whether the image is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `buf` from `offset`; an error when the image ends before.
    #[doc(hidden)]
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl Source for File {
    fn len(&self) -> u64 {
        self.metadata().map_or(0, |m| m.len())
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
}

impl Source for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| std::io::ErrorKind::UnexpectedEof)?;
        let bytes = start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

impl Source for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        Source::read_exact_at(&self.as_slice(), offset, buf)
    }
}

/// The largest structure read at once (a directory, a FAT, a GPT entry array): a bound so that
/// a corrupt length cannot make us allocate gigabytes.
pub const MAX_READ: u64 = 64 << 20;

/// Reads `len` bytes at `offset`, `what` naming the structure in the error.
pub fn read(src: &dyn Source, offset: u64, len: u64, what: &str) -> Parse<Vec<u8>> {
    if len > MAX_READ {
        return Err(corrupt(format!("{what}: {len} bytes at offset {offset} is implausibly large")));
    }
    inside(src, offset, len, what)?;
    let mut buf = vec![0u8; len as usize];
    src.read_exact_at(offset, &mut buf).map_err(Fault::Io)?;
    Ok(buf)
}

/// Checks that the `len` bytes at `offset` lie inside the image, `what` naming them in the
/// error: every extent an image declares is checked this way before anything is written, so
/// that a truncated image, or one whose addresses point past its end, is refused whole.
pub fn inside(src: &dyn Source, offset: u64, len: u64, what: &str) -> Parse<()> {
    let end = offset.checked_add(len).ok_or_else(|| corrupt(format!("{what}: offset out of range")))?;
    if end > src.len() {
        return Err(corrupt(format!(
            "{what}: bytes {offset}..{end} lie beyond the end of the image ({} bytes)",
            src.len()
        )));
    }
    Ok(())
}

/// Little-endian u16 at `at` (callers check the length first).
pub fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Little-endian u32 at `at`.
pub fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Little-endian u64 at `at`.
pub fn le64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}
