//! The on-disk layout of squashfs 4.0 (little-endian): constants and the superblock.

/// `hsqs`, the first four bytes of every squashfs image.
pub const MAGIC: u32 = 0x7371_7368;
/// The size of the superblock.
pub const SUPERBLOCK_SIZE: usize = 96;
/// The uncompressed size of a metadata block (inode, directory and lookup tables).
pub const METADATA_SIZE: usize = 8192;
/// In a metadata block header: the block is stored uncompressed.
pub const METADATA_UNCOMPRESSED: u16 = 0x8000;
/// In a data block size: the block is stored uncompressed.
pub const DATA_UNCOMPRESSED: u32 = 1 << 24;
/// A missing table, fragment or xattr.
pub const NONE_U64: u64 = u64::MAX;
/// A missing fragment or xattr index.
pub const NONE_U32: u32 = u32::MAX;
/// Image sizes are padded to this (not counted in `bytes_used`), as mksquashfs does, so that
/// a loop device sees whole sectors.
pub const PAD: u64 = 4096;

/// Superblock flags.
pub mod flags {
    /// No fragments are used.
    pub const NO_FRAGMENTS: u16 = 0x0010;
    /// Identical files were stored once.
    pub const DUPLICATES: u16 = 0x0040;
    /// The image has an export (NFS) table.
    pub const EXPORTABLE: u16 = 0x0080;
    /// The compressor options follow the superblock.
    pub const COMPRESSOR_OPTIONS: u16 = 0x0400;
}

/// Inode types (basic; the extended type is basic + 7).
pub mod kind {
    /// Directory.
    pub const DIR: u16 = 1;
    /// Regular file.
    pub const FILE: u16 = 2;
    /// Symbolic link.
    pub const SYMLINK: u16 = 3;
    /// Block device.
    pub const BLOCK: u16 = 4;
    /// Character device.
    pub const CHAR: u16 = 5;
    /// Named pipe.
    pub const FIFO: u16 = 6;
    /// Socket.
    pub const SOCKET: u16 = 7;
    /// Extended types are the basic ones plus this.
    pub const EXTENDED: u16 = 7;
}

/// The superblock, field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs, reason = "the fields are named as in the format's documentation")]
pub struct Superblock {
    pub inode_count: u32,
    pub mkfs_time: u32,
    pub block_size: u32,
    pub fragment_count: u32,
    pub compression: u16,
    pub block_log: u16,
    pub flags: u16,
    pub id_count: u16,
    pub root_inode: u64,
    pub bytes_used: u64,
    pub id_table: u64,
    pub xattr_id_table: u64,
    pub inode_table: u64,
    pub directory_table: u64,
    pub fragment_table: u64,
    pub export_table: u64,
}

impl Superblock {
    /// The 96 bytes of the superblock.
    ///
    /// # Panics
    /// Never: the fields add up to 96 bytes.
    pub fn to_bytes(&self) -> [u8; SUPERBLOCK_SIZE] {
        let mut b = Vec::with_capacity(SUPERBLOCK_SIZE);
        b.extend_from_slice(&MAGIC.to_le_bytes());
        b.extend_from_slice(&self.inode_count.to_le_bytes());
        b.extend_from_slice(&self.mkfs_time.to_le_bytes());
        b.extend_from_slice(&self.block_size.to_le_bytes());
        b.extend_from_slice(&self.fragment_count.to_le_bytes());
        b.extend_from_slice(&self.compression.to_le_bytes());
        b.extend_from_slice(&self.block_log.to_le_bytes());
        b.extend_from_slice(&self.flags.to_le_bytes());
        b.extend_from_slice(&self.id_count.to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        for v in [
            self.root_inode,
            self.bytes_used,
            self.id_table,
            self.xattr_id_table,
            self.inode_table,
            self.directory_table,
            self.fragment_table,
            self.export_table,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.try_into().expect("the superblock has 96 bytes")
    }

    /// Parses a superblock; `None` unless it has the magic and version 4.0.
    pub fn parse(b: &[u8]) -> Option<Self> {
        let mut r = Le(b.get(..SUPERBLOCK_SIZE)?);
        if r.u32()? != MAGIC {
            return None;
        }
        let mut sb = Self {
            inode_count: r.u32()?,
            mkfs_time: r.u32()?,
            block_size: r.u32()?,
            fragment_count: r.u32()?,
            compression: r.u16()?,
            block_log: r.u16()?,
            flags: r.u16()?,
            id_count: r.u16()?,
            ..Self::default()
        };
        if (r.u16()?, r.u16()?) != (4, 0) {
            return None;
        }
        sb.root_inode = r.u64()?;
        sb.bytes_used = r.u64()?;
        sb.id_table = r.u64()?;
        sb.xattr_id_table = r.u64()?;
        sb.inode_table = r.u64()?;
        sb.directory_table = r.u64()?;
        sb.fragment_table = r.u64()?;
        sb.export_table = r.u64()?;
        Some(sb)
    }
}

/// A little-endian cursor over bytes; every read is checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Le<'a>(pub &'a [u8]);

impl<'a> Le<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    pub(crate) fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// Appends little-endian values to a buffer.
pub(crate) trait PutLe {
    fn u16(&mut self, v: u16);
    fn u32(&mut self, v: u32);
    fn u64(&mut self, v: u64);
}

impl PutLe for Vec<u8> {
    fn u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
}

/// A device number as squashfs stores it (Linux's `new_encode_dev`: 12-bit major, 20-bit minor).
pub fn encode_dev(rdev: u64) -> u32 {
    let (major, minor) = (dev_major(rdev), dev_minor(rdev));
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

/// The device number (glibc's `makedev`) of a stored one.
pub fn decode_dev(stored: u32) -> u64 {
    let major = u64::from((stored & 0xfff00) >> 8);
    let minor = u64::from((stored & 0xff) | ((stored >> 12) & 0xfff00));
    ((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff)
}

/// The major number of a glibc device number.
pub fn dev_major(rdev: u64) -> u32 {
    (((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0xfff)) as u32
}

/// The minor number of a glibc device number.
pub fn dev_minor(rdev: u64) -> u32 {
    (((rdev >> 12) & 0xffff_ff00) | (rdev & 0xff)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superblock_round_trips() {
        let sb = Superblock {
            inode_count: 3,
            block_size: 131_072,
            block_log: 17,
            root_inode: 0x20_0004,
            ..Default::default()
        };
        assert_eq!(Superblock::parse(&sb.to_bytes()), Some(sb));
    }

    #[test]
    fn device_numbers_round_trip() {
        for (major, minor) in [(1u64, 3u64), (8, 0), (259, 70_000), (4095, 0xfffff)] {
            let rdev = ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & !0xff) << 12);
            assert_eq!(decode_dev(encode_dev(rdev)), rdev);
            assert_eq!((u64::from(dev_major(rdev)), u64::from(dev_minor(rdev))), (major, minor));
        }
    }
}
