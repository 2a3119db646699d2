//! Reading an image: its entries with their metadata, and the bytes of its files.
//!
//! Every offset, size and count read from the image is checked before use; a truncated or
//! corrupt image gives [`Error::Corrupt`], never a panic, and no allocation is sized from a
//! field of the image (buffers grow with the bytes actually read). Each directory is listed
//! once, so a listing that refers back to a directory above it cannot loop.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};
use tamis_core::FileKind;

use crate::compress::{Compression, decompress};
use crate::format::{
    self, DATA_UNCOMPRESSED, Le, METADATA_SIZE, METADATA_UNCOMPRESSED, NONE_U32, NONE_U64, Superblock,
};
use crate::write::xattr_prefix;
use crate::write::{StoredFile, StoredTail};
use crate::{Error, Result};

fn corrupt(what: impl Into<String>) -> Error {
    Error::Corrupt(what.into())
}

/// Where the image's bytes are: a file (from a byte offset: an image inside an ISO), or memory.
#[derive(Debug)]
enum Source {
    File { file: std::fs::File, base: u64, len: u64 },
    Bytes(Vec<u8>),
}

impl Source {
    fn len(&self) -> u64 {
        match self {
            Self::File { len, .. } => *len,
            Self::Bytes(b) => b.len() as u64,
        }
    }

    fn read_at(&self, pos: u64, len: usize) -> Result<Vec<u8>> {
        let end = pos.checked_add(len as u64).filter(|&e| e <= self.len());
        let Some(end) = end else {
            return Err(corrupt(format!("{len} bytes at offset {pos} lie past the end of the image")));
        };
        match self {
            Self::Bytes(b) => Ok(b[pos as usize..end as usize].to_vec()),
            Self::File { file, base, .. } => {
                let mut buf = vec![0u8; len];
                let at = base.checked_add(pos).ok_or_else(|| corrupt("offset out of range"))?;
                file.read_exact_at(&mut buf, at).map_err(Error::Read)?;
                Ok(buf)
            }
        }
    }
}

/// A squashfs 4.0 image opened for reading.
#[derive(Debug)]
pub struct Image {
    source: Source,
    sb: Superblock,
    ids: Vec<u32>,
    fragments: Vec<(u64, u32)>,
    /// The compressor and options the image records (`None`: options this crate cannot describe).
    compression: Option<Compression>,
    /// (start of the key/value blocks, positions of the id table's blocks, number of ids).
    xattrs: Option<(u64, Vec<u64>, u32)>,
    cache: Mutex<BTreeMap<u64, MetadataBlock>>,
    /// The fragment blocks read last (files are placed in order, so neighbours share them).
    fragment_cache: Mutex<Vec<(u64, Arc<Vec<u8>>)>>,
    /// SHA-256 of fragment blocks' stored bytes (with their stored size), as computed.
    fragment_digests: Mutex<BTreeMap<u32, [u8; 32]>>,
}

/// A metadata block's bytes and the position of the next block.
type MetadataBlock = Arc<(Vec<u8>, u64)>;

/// Where a regular file's data is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileData {
    start: u64,
    blocks: Vec<u32>,
    fragment: u32,
    fragment_offset: u32,
}

/// One entry of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    /// The path inside the image, without a leading `/`; empty for the root.
    pub path: PathBuf,
    /// The type.
    pub kind: FileKind,
    /// Permission, set-id and sticky bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, in seconds.
    pub mtime: u32,
    /// Size of a file's data or of a link's target; 0 for others.
    pub size: u64,
    /// The link count the image records.
    pub nlink: u32,
    /// The inode number (equal for the names of one hard-link group).
    pub inode: u32,
    /// A link's target.
    pub target: Option<Vec<u8>>,
    /// A device's number (glibc `makedev` form).
    pub rdev: Option<u64>,
    /// Extended attributes, full names (`security.capability`), sorted by name.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    data: Option<FileData>,
}

/// A cursor over a metadata table: (block position, offset in the uncompressed block).
struct Cursor<'a> {
    image: &'a Image,
    block: u64,
    offset: usize,
}

impl Cursor<'_> {
    fn read(&mut self, len: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len.min(METADATA_SIZE));
        while out.len() < len {
            let block = self.image.metadata_block(self.block)?;
            let (bytes, next) = (&block.0, block.1);
            if self.offset > bytes.len() {
                return Err(corrupt(format!("offset {} past a metadata block of {} bytes", self.offset, bytes.len())));
            }
            let take = (len - out.len()).min(bytes.len() - self.offset);
            out.extend_from_slice(&bytes[self.offset..self.offset + take]);
            self.offset += take;
            if self.offset == bytes.len() && out.len() < len {
                self.block = next;
                self.offset = 0;
            }
        }
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.read(2)?.try_into().map_err(|_| corrupt("short read"))?))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.read(4)?.try_into().map_err(|_| corrupt("short read"))?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.read(8)?.try_into().map_err(|_| corrupt("short read"))?))
    }
}

/// An inode as read, before it gets a path.
struct Inode {
    kind: FileKind,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u32,
    number: u32,
    nlink: u32,
    size: u64,
    target: Option<Vec<u8>>,
    rdev: Option<u64>,
    xattr: u32,
    data: Option<FileData>,
    /// For a directory: (block, offset, listing size without the 3 bytes of `.` and `..`).
    listing: Option<(u64, usize, usize)>,
}

impl Image {
    /// Opens the image in the file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let file = tamis_core::open_regular_file(path).map_err(Error::Read)?;
        let len = file.metadata().map_err(Error::Read)?.len();
        Self::new(Source::File { file, base: 0, len })
    }

    /// Opens the image held in `len` bytes from byte `offset` of the file at `path` (a
    /// squashfs stored in one extent of an ISO image), without copying it.
    pub fn open_region(path: &Path, offset: u64, len: u64) -> Result<Self> {
        let file = tamis_core::open_regular_file(path).map_err(Error::Read)?;
        let size = file.metadata().map_err(Error::Read)?.len();
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(corrupt(format!("{len} bytes at offset {offset} lie past the end of a file of {size}")));
        }
        Self::new(Source::File { file, base: offset, len })
    }

    /// An image held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        Self::new(Source::Bytes(bytes))
    }

    fn new(source: Source) -> Result<Self> {
        let head = source.read_at(0, format::SUPERBLOCK_SIZE).map_err(|_| Error::NotSquashfs)?;
        let sb = Superblock::parse(&head).ok_or(Error::NotSquashfs)?;
        let bs = sb.block_size;
        if !bs.is_power_of_two() || !(4096..=1 << 20).contains(&bs) || u32::from(sb.block_log) != bs.trailing_zeros() {
            return Err(corrupt(format!("block size {bs} with block_log {}", sb.block_log)));
        }
        if !matches!(sb.compression, 1 | 4 | 5 | 6) {
            return Err(Error::Unsupported(format!(
                "compressor id {} (tamis reads gzip, xz, lz4, zstd)",
                sb.compression
            )));
        }
        let mut image = Self {
            source,
            sb,
            ids: Vec::new(),
            fragments: Vec::new(),
            compression: None,
            xattrs: None,
            cache: Mutex::default(),
            fragment_cache: Mutex::default(),
            fragment_digests: Mutex::default(),
        };
        // Unreadable options leave the compressor unknown (nothing is then copied as stored):
        // reading needs only the compressor's id.
        let options = if sb.flags & format::flags::COMPRESSOR_OPTIONS != 0 {
            image.metadata_block(format::SUPERBLOCK_SIZE as u64).ok()
        } else {
            None
        };
        image.compression = Compression::from_image(sb.compression, options.as_ref().map(|b| b.0.as_slice()), bs);
        let ids = image.lookup_table(sb.id_table, usize::from(sb.id_count), 4)?;
        image.ids = ids.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        if sb.fragment_count > 0 && sb.fragment_table != NONE_U64 {
            let table = image.lookup_table(sb.fragment_table, sb.fragment_count as usize, 16)?;
            image.fragments = table
                .chunks_exact(16)
                .map(|c| {
                    let mut r = Le(c);
                    (r.u64().unwrap_or(0), r.u32().unwrap_or(0))
                })
                .collect();
        }
        if sb.xattr_id_table != NONE_U64 {
            let header = image.source.read_at(sb.xattr_id_table, 16)?;
            let mut r = Le(&header);
            let (kv_start, count) = (r.u64().unwrap_or(0), r.u32().unwrap_or(0));
            let blocks = (count as usize * 16).div_ceil(METADATA_SIZE);
            let list = image.source.read_at(sb.xattr_id_table + 16, blocks * 8)?;
            let list = list.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
            image.xattrs = Some((kv_start, list, count));
        }
        Ok(image)
    }

    /// The superblock.
    pub fn superblock(&self) -> &Superblock {
        &self.sb
    }

    /// The compressor and options the image was written with (`None` for options this crate
    /// cannot describe, such as an xz filter other than x86).
    pub fn compression(&self) -> Option<Compression> {
        self.compression
    }

    /// How the regular file `entry` is stored: its data blocks' stored sizes and its tail's
    /// place in a fragment block, whose first `used` bytes the image's files use (for
    /// [`crate::TreeSource::stored`]). `None` when the image's compressor options cannot be
    /// described.
    pub fn stored_file(&self, entry: &ImageEntry, used: u32) -> Result<Option<StoredFile>> {
        let Some(data) = &entry.data else {
            return Err(Error::NotAFile(entry.path.clone()));
        };
        let Some(compression) = self.compression else { return Ok(None) };
        let fragment = if data.fragment == NONE_U32 {
            None
        } else {
            let &(_, stored) = self.fragments.get(data.fragment as usize).ok_or_else(|| {
                corrupt(format!("{}: fragment {} out of the table", entry.path.display(), data.fragment))
            })?;
            Some(StoredTail::new(data.fragment, stored, data.fragment_offset, used))
        };
        Ok(Some(StoredFile::new(compression, self.sb.block_size, entry.size, data.blocks.clone(), fragment)))
    }

    /// The stored bytes of the data blocks of the regular file `entry`, one after the other.
    pub fn stored_data(&self, entry: &ImageEntry) -> Result<Vec<u8>> {
        let Some(data) = &entry.data else {
            return Err(Error::NotAFile(entry.path.clone()));
        };
        let mut len: u64 = 0;
        for &stored in &data.blocks {
            let size = stored & !DATA_UNCOMPRESSED;
            if size > self.sb.block_size {
                return Err(corrupt(format!("{}: a data block of {size} bytes", entry.path.display())));
            }
            len += u64::from(size);
        }
        self.source.read_at(data.start, usize::try_from(len).map_err(|_| corrupt("file too large"))?)
    }

    /// The stored bytes of fragment block `index`, and its stored size as the fragment table
    /// records it (with the flag of a block stored uncompressed).
    pub fn stored_fragment(&self, index: u32) -> Result<(Vec<u8>, u32)> {
        let &(start, stored) =
            self.fragments.get(index as usize).ok_or_else(|| corrupt(format!("fragment {index} out of the table")))?;
        let size = stored & !DATA_UNCOMPRESSED;
        if size > self.sb.block_size {
            return Err(corrupt(format!("a fragment block of {size} bytes")));
        }
        Ok((self.source.read_at(start, size as usize)?, stored))
    }

    /// For each fragment block, how many bytes from its start the files among `entries` use
    /// (the end of the furthest tail).
    pub fn fragments_used(&self, entries: &[ImageEntry]) -> BTreeMap<u32, u32> {
        let bs = u64::from(self.sb.block_size);
        let mut used: BTreeMap<u32, u32> = BTreeMap::new();
        for entry in entries {
            let Some(data) = entry.data.as_ref().filter(|d| d.fragment != NONE_U32) else { continue };
            let end = u64::from(data.fragment_offset) + entry.size % bs;
            let end = u32::try_from(end).unwrap_or(u32::MAX);
            let slot = used.entry(data.fragment).or_default();
            *slot = (*slot).max(end);
        }
        used
    }

    /// `count` entries of `size` bytes of the lookup table whose block list is at `at`.
    fn lookup_table(&self, at: u64, count: usize, size: usize) -> Result<Vec<u8>> {
        let total = count * size;
        let blocks = total.div_ceil(METADATA_SIZE);
        let list = self.source.read_at(at, blocks * 8)?;
        let mut out = Vec::with_capacity(total.min(1 << 20));
        for c in list.chunks_exact(8) {
            let start = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            let want = (total - out.len()).min(METADATA_SIZE);
            let mut cursor = Cursor { image: self, block: start, offset: 0 };
            out.extend_from_slice(&cursor.read(want)?);
        }
        Ok(out)
    }

    /// The metadata block at `pos`: its bytes and the position of the next block.
    fn metadata_block(&self, pos: u64) -> Result<MetadataBlock> {
        if let Some(hit) = self.cache.lock().map_err(|_| corrupt("poisoned cache"))?.get(&pos) {
            return Ok(Arc::clone(hit));
        }
        let header = self.source.read_at(pos, 2)?;
        let header = u16::from_le_bytes([header[0], header[1]]);
        let size = usize::from(header & !METADATA_UNCOMPRESSED);
        if size == 0 {
            return Err(corrupt(format!("empty metadata block at {pos}")));
        }
        let raw = self.source.read_at(pos + 2, size)?;
        let bytes = if header & METADATA_UNCOMPRESSED != 0 {
            raw
        } else {
            decompress(self.sb.compression, &raw, METADATA_SIZE)
                .map_err(|e| corrupt(format!("metadata block at {pos}: {e}")))?
        };
        let block = Arc::new((bytes, pos + 2 + size as u64));
        self.cache.lock().map_err(|_| corrupt("poisoned cache"))?.insert(pos, Arc::clone(&block));
        Ok(block)
    }

    fn cursor(&self, table: u64, reference: u64) -> Result<Cursor<'_>> {
        let block = table.checked_add(reference >> 16).ok_or_else(|| corrupt("reference out of range"))?;
        Ok(Cursor { image: self, block, offset: (reference & 0xffff) as usize })
    }

    fn id(&self, index: u16) -> Result<u32> {
        self.ids.get(usize::from(index)).copied().ok_or_else(|| corrupt(format!("id index {index} out of the table")))
    }

    #[allow(clippy::too_many_lines, reason = "one arm per inode type, each a list of fields")]
    fn inode(&self, reference: u64) -> Result<Inode> {
        use format::kind;
        let mut c = self.cursor(self.sb.inode_table, reference)?;
        let ty = c.u16()?;
        let mode = u32::from(c.u16()?);
        let uid = self.id(c.u16()?)?;
        let gid = self.id(c.u16()?)?;
        let mtime = c.u32()?;
        let number = c.u32()?;
        let mut inode = Inode {
            kind: FileKind::File,
            mode: mode & 0o7777,
            uid,
            gid,
            mtime,
            number,
            nlink: 1,
            size: 0,
            target: None,
            rdev: None,
            xattr: NONE_U32,
            data: None,
            listing: None,
        };
        let extended = ty > kind::EXTENDED;
        let base = if extended { ty - kind::EXTENDED } else { ty };
        match base {
            kind::DIR => {
                inode.kind = FileKind::Dir;
                let (block, nlink, size, offset);
                if extended {
                    nlink = c.u32()?;
                    size = c.u32()? as usize;
                    block = c.u32()?;
                    let _parent = c.u32()?;
                    let _index_count = c.u16()?;
                    offset = usize::from(c.u16()?);
                    inode.xattr = c.u32()?;
                } else {
                    block = c.u32()?;
                    nlink = c.u32()?;
                    size = usize::from(c.u16()?);
                    offset = usize::from(c.u16()?);
                    let _parent = c.u32()?;
                }
                inode.nlink = nlink;
                let size = size.checked_sub(3).ok_or_else(|| corrupt("directory size below 3"))?;
                inode.listing = Some((self.sb.directory_table + u64::from(block), offset, size));
            }
            kind::FILE => {
                let (start, size, fragment, fragment_offset);
                if extended {
                    start = c.u64()?;
                    size = c.u64()?;
                    let _sparse = c.u64()?;
                    inode.nlink = c.u32()?;
                    fragment = c.u32()?;
                    fragment_offset = c.u32()?;
                    inode.xattr = c.u32()?;
                } else {
                    start = u64::from(c.u32()?);
                    fragment = c.u32()?;
                    fragment_offset = c.u32()?;
                    size = u64::from(c.u32()?);
                }
                let bs = u64::from(self.sb.block_size);
                let count = if fragment == NONE_U32 { size.div_ceil(bs) } else { size / bs };
                let count = usize::try_from(count).map_err(|_| corrupt("file too large"))?;
                let bytes = c.read(count.checked_mul(4).ok_or_else(|| corrupt("file too large"))?)?;
                let blocks =
                    bytes.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
                inode.size = size;
                inode.data = Some(FileData { start, blocks, fragment, fragment_offset });
            }
            kind::SYMLINK => {
                inode.kind = FileKind::Symlink;
                inode.nlink = c.u32()?;
                let len = c.u32()? as usize;
                let target = c.read(len)?;
                inode.size = target.len() as u64;
                inode.target = Some(target);
                if extended {
                    inode.xattr = c.u32()?;
                }
            }
            kind::BLOCK | kind::CHAR => {
                inode.kind = if base == kind::BLOCK { FileKind::BlockDevice } else { FileKind::CharDevice };
                inode.nlink = c.u32()?;
                inode.rdev = Some(format::decode_dev(c.u32()?));
                if extended {
                    inode.xattr = c.u32()?;
                }
            }
            kind::FIFO | kind::SOCKET => {
                inode.kind = if base == kind::FIFO { FileKind::Fifo } else { FileKind::Socket };
                inode.nlink = c.u32()?;
                if extended {
                    inode.xattr = c.u32()?;
                }
            }
            other => return Err(corrupt(format!("inode type {other}"))),
        }
        Ok(inode)
    }

    /// A directory's entries: (name, inode reference).
    fn listing(&self, block: u64, offset: usize, size: usize) -> Result<Vec<(Vec<u8>, u64)>> {
        let mut c = Cursor { image: self, block, offset };
        let bytes = c.read(size)?;
        let mut r = Le(&bytes);
        let mut out = Vec::new();
        let short = || corrupt("directory listing ends inside an entry");
        while !r.0.is_empty() {
            let count = r.u32().ok_or_else(short)? as usize + 1;
            let start = r.u32().ok_or_else(short)?;
            let _base = r.u32().ok_or_else(short)?;
            if count > 256 {
                return Err(corrupt(format!("directory header with {count} entries")));
            }
            for _ in 0..count {
                let offset = r.u16().ok_or_else(short)?;
                let _delta = r.u16().ok_or_else(short)?;
                let _ty = r.u16().ok_or_else(short)?;
                let len = usize::from(r.u16().ok_or_else(short)?) + 1;
                let name = r.take(len).ok_or_else(short)?;
                if name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0) {
                    return Err(corrupt(format!("directory entry named {:?}", String::from_utf8_lossy(name))));
                }
                out.push((name.to_vec(), (u64::from(start) << 16) | u64::from(offset)));
            }
        }
        Ok(out)
    }

    fn xattrs(&self, index: u32) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if index == NONE_U32 {
            return Ok(Vec::new());
        }
        let Some((kv_start, list, count)) = &self.xattrs else {
            return Err(corrupt("an inode has extended attributes but the image has no table"));
        };
        if index >= *count {
            return Err(corrupt(format!("xattr index {index} out of the table")));
        }
        let at = index as usize * 16;
        let block = list.get(at / METADATA_SIZE).ok_or_else(|| corrupt("xattr id table too short"))?;
        let mut c = Cursor { image: self, block: *block, offset: at % METADATA_SIZE };
        let (reference, pairs) = (c.u64()?, c.u32()?);
        let _size = c.u32()?;
        let mut c = self.cursor(*kv_start, reference)?;
        let mut out = Vec::new();
        for _ in 0..pairs {
            let ty = c.u16()?;
            let len = usize::from(c.u16()?);
            let name = c.read(len)?;
            let prefix: &[u8] = match ty & 0xff {
                0 => b"user.",
                1 => b"trusted.",
                2 => b"security.",
                other => return Err(corrupt(format!("xattr type {other}"))),
            };
            let mut full = prefix.to_vec();
            full.extend_from_slice(&name);
            let vlen = c.u32()? as usize;
            let value = if ty & 0x100 != 0 {
                // Stored elsewhere: the value here is a reference to it.
                let reference = c.u64()?;
                let mut v = self.cursor(*kv_start, reference)?;
                let len = v.u32()? as usize;
                v.read(len)?
            } else {
                c.read(vlen)?
            };
            debug_assert!(xattr_prefix(&full).is_some() || name.is_empty());
            out.push((full, value));
        }
        out.sort();
        Ok(out)
    }

    /// Every entry, the root first, in the canonical order.
    pub fn entries(&self) -> Result<Vec<ImageEntry>> {
        let mut out = Vec::new();
        let mut seen: BTreeSet<u64> = BTreeSet::new();
        let mut todo: Vec<(PathBuf, u64)> = vec![(PathBuf::new(), self.sb.root_inode)];
        seen.insert(self.sb.root_inode);
        while let Some((path, reference)) = todo.pop() {
            let inode = self.inode(reference)?;
            if let Some((block, offset, size)) = inode.listing {
                for (name, child) in self.listing(block, offset, size)? {
                    let child_path = path.join(OsStr::from_bytes(&name));
                    if seen.contains(&child) {
                        // A second name of a hard-linked file, or a corrupt loop back to a directory.
                        let again = self.inode(child)?;
                        if again.kind == FileKind::Dir {
                            return Err(corrupt(format!("{}: a directory listed twice", child_path.display())));
                        }
                        out.push(self.entry(child_path, again)?);
                        continue;
                    }
                    seen.insert(child);
                    todo.push((child_path, child));
                }
            }
            out.push(self.entry(path, inode)?);
        }
        out.sort_by(|a, b| tamis_core::canonical_cmp(&a.path, &b.path));
        if out.windows(2).any(|w| w[0].path == w[1].path) {
            return Err(corrupt("two entries with the same path"));
        }
        Ok(out)
    }

    fn entry(&self, path: PathBuf, inode: Inode) -> Result<ImageEntry> {
        Ok(ImageEntry {
            path,
            kind: inode.kind,
            mode: inode.mode,
            uid: inode.uid,
            gid: inode.gid,
            mtime: inode.mtime,
            size: inode.size,
            nlink: inode.nlink,
            inode: inode.number,
            target: inode.target,
            rdev: inode.rdev,
            xattrs: self.xattrs(inode.xattr)?,
            data: inode.data,
        })
    }

    /// Writes the data of the regular file `entry` to `out`, block by block.
    pub fn read_file_to(&self, entry: &ImageEntry, out: &mut impl Write) -> Result<()> {
        let Some(data) = &entry.data else {
            return Err(Error::NotAFile(entry.path.clone()));
        };
        let bs = u64::from(self.sb.block_size);
        let mut pos = data.start;
        let mut remaining = entry.size;
        let write = |out: &mut dyn Write, bytes: &[u8]| out.write_all(bytes).map_err(Error::Write);
        for &stored in &data.blocks {
            let len = remaining.min(bs) as usize;
            let size = stored & !DATA_UNCOMPRESSED;
            if size == 0 {
                write(out, &vec![0u8; len])?;
            } else {
                if size > self.sb.block_size {
                    return Err(corrupt(format!("{}: a data block of {size} bytes", entry.path.display())));
                }
                let raw = self.source.read_at(pos, size as usize)?;
                pos += u64::from(size);
                let bytes = if stored & DATA_UNCOMPRESSED != 0 {
                    raw
                } else {
                    decompress(self.sb.compression, &raw, bs as usize)
                        .map_err(|e| corrupt(format!("{}: {e}", entry.path.display())))?
                };
                if bytes.len() != len {
                    return Err(corrupt(format!(
                        "{}: a block of {} bytes where {len} were due",
                        entry.path.display(),
                        bytes.len()
                    )));
                }
                write(out, &bytes)?;
            }
            remaining -= len as u64;
        }
        if data.fragment != NONE_U32 {
            let &(start, stored) = self.fragments.get(data.fragment as usize).ok_or_else(|| {
                corrupt(format!("{}: fragment {} out of the table", entry.path.display(), data.fragment))
            })?;
            let block = self.fragment_block(start, stored)?;
            let from = data.fragment_offset as usize;
            let tail = block.get(from..from.saturating_add(remaining as usize)).filter(|_| remaining < bs).ok_or_else(
                || corrupt(format!("{}: the tail lies outside its fragment block", entry.path.display())),
            )?;
            write(out, tail)?;
        } else if remaining != 0 {
            return Err(corrupt(format!("{}: the blocks hold less than the size", entry.path.display())));
        }
        Ok(())
    }

    /// SHA-256 of fragment block `index`'s stored size and stored bytes.
    fn fragment_digest(&self, index: u32) -> Result<[u8; 32]> {
        if let Some(digest) = self.fragment_digests.lock().map_err(|_| corrupt("poisoned cache"))?.get(&index) {
            return Ok(*digest);
        }
        let (bytes, stored) = self.stored_fragment(index)?;
        let mut hasher = Sha256::new();
        hasher.update(stored.to_le_bytes());
        hasher.update(&bytes);
        let digest: [u8; 32] = hasher.finalize().into();
        self.fragment_digests.lock().map_err(|_| corrupt("poisoned cache"))?.insert(index, digest);
        Ok(digest)
    }

    fn fragment_block(&self, start: u64, stored: u32) -> Result<Arc<Vec<u8>>> {
        let cached = self.fragment_cache.lock().map_err(|_| corrupt("poisoned cache"))?;
        if let Some((_, block)) = cached.iter().find(|(at, _)| *at == start) {
            return Ok(Arc::clone(block));
        }
        drop(cached);
        let block = Arc::new(self.read_fragment_block(start, stored)?);
        let mut cached = self.fragment_cache.lock().map_err(|_| corrupt("poisoned cache"))?;
        if cached.len() >= 16 {
            cached.remove(0);
        }
        cached.push((start, Arc::clone(&block)));
        Ok(block)
    }

    fn read_fragment_block(&self, start: u64, stored: u32) -> Result<Vec<u8>> {
        let size = stored & !DATA_UNCOMPRESSED;
        if size > self.sb.block_size {
            return Err(corrupt(format!("a fragment block of {size} bytes")));
        }
        let raw = self.source.read_at(start, size as usize)?;
        if stored & DATA_UNCOMPRESSED != 0 {
            return Ok(raw);
        }
        decompress(self.sb.compression, &raw, self.sb.block_size as usize)
            .map_err(|e| corrupt(format!("fragment: {e}")))
    }

    /// Whether the regular files `entry` of this image and `theirs` of `other` surely hold the
    /// same bytes because they are stored the same way: same compressor and block size, same
    /// stored block sizes and stored bytes (equal compressed bytes decompress to equal bytes),
    /// and the same tail in their fragment blocks. `false` means "not known": compare the
    /// contents. Much cheaper than decompressing both when two releases share most files.
    pub fn stored_alike(&self, entry: &ImageEntry, other: &Self, theirs: &ImageEntry) -> Result<bool> {
        let (Some(a), Some(b)) = (&entry.data, &theirs.data) else { return Ok(false) };
        if entry.size != theirs.size
            || self.sb.compression != other.sb.compression
            || self.sb.block_size != other.sb.block_size
            || a.blocks != b.blocks
            || (a.fragment == NONE_U32) != (b.fragment == NONE_U32)
        {
            return Ok(false);
        }
        let (mut pa, mut pb) = (a.start, b.start);
        for &stored in &a.blocks {
            let size = stored & !DATA_UNCOMPRESSED;
            if size == 0 {
                continue;
            }
            if size > self.sb.block_size
                || self.source.read_at(pa, size as usize)? != other.source.read_at(pb, size as usize)?
            {
                return Ok(false);
            }
            pa += u64::from(size);
            pb += u64::from(size);
        }
        if a.fragment == NONE_U32 {
            return Ok(true);
        }
        // Two releases written alike share most fragment blocks byte for byte (the packing
        // falls back into step after a change): a tail at the same place of equal blocks is
        // equal, without decompressing either.
        if a.fragment_offset == b.fragment_offset
            && self.fragment_digest(a.fragment)? == other.fragment_digest(b.fragment)?
        {
            return Ok(true);
        }
        let bs = u64::from(self.sb.block_size);
        let tail = (entry.size % bs) as usize;
        let piece = |image: &Self, data: &FileData| -> Result<Option<Vec<u8>>> {
            let Some(&(start, stored)) = image.fragments.get(data.fragment as usize) else { return Ok(None) };
            let block = image.fragment_block(start, stored)?;
            let from = data.fragment_offset as usize;
            Ok(block.get(from..from.saturating_add(tail)).map(<[u8]>::to_vec))
        };
        Ok(matches!((piece(self, a)?, piece(other, b)?), (Some(x), Some(y)) if x == y))
    }

    /// The data of the regular file `entry`.
    pub fn read_file(&self, entry: &ImageEntry) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_file_to(entry, &mut out)?;
        Ok(out)
    }
}

impl ImageEntry {
    /// The fragment block holding a regular file's tail, if one does.
    pub(crate) fn fragment(&self) -> Option<u32> {
        self.data.as_ref().map(|d| d.fragment).filter(|&f| f != NONE_U32)
    }

    /// Where a regular file's first data block is in the image (`None` for other entries, or
    /// a file whose data is all in a fragment or all zeros).
    pub fn data_start(&self) -> Option<u64> {
        self.data.as_ref().filter(|d| d.blocks.iter().any(|&b| b & !DATA_UNCOMPRESSED != 0)).map(|d| d.start)
    }

    /// The entry as [`crate::write_tree`] takes it (names of one inode share a link key).
    pub fn tree_entry(&self) -> crate::TreeEntry {
        crate::TreeEntry {
            path: self.path.clone(),
            kind: self.kind,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            mtime: i64::from(self.mtime),
            size: self.size,
            link: (self.kind != FileKind::Dir && self.nlink > 1).then_some((0, u64::from(self.inode))),
            rdev: self.rdev.unwrap_or(0),
            target: self.target.clone().unwrap_or_default(),
            xattrs: self.xattrs.clone(),
        }
    }

    /// Whether two entries are names of one inode (a hard-link group).
    pub fn same_inode(&self, other: &Self) -> bool {
        self.inode == other.inode && self.kind != FileKind::Dir
    }
}
