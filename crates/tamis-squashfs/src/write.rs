//! Writing an image from a tree: a directory ([`write_image`]) or any list of entries whose
//! file contents a [`TreeSource`] gives ([`write_tree`]: an incremental upgrade kit's diff,
//! made of entries read from other images, without a copy on disk).
//!
//! The layout is a function of the tree and the options only:
//!
//! - entries come from [`Root::walk`], in the canonical order, whatever `readdir` said (or are
//!   given in that order to [`write_tree`]);
//! - inode numbers follow that order (the root is 1, a hard-link group takes the number of its
//!   first name); the inode and directory tables are written directories last-first, each
//!   directory's listing after its entries' inodes, as the format needs references to be known;
//! - file data is placed in the order of [`tamis_order::placement_order`] (a sort file's
//!   priorities, then the canonical order); files are read and their blocks compressed in
//!   parallel in batches, then written one after the other in that order, so one thread and
//!   many give the same bytes;
//! - small files are packed into fragment blocks in the same order, each fragment block written
//!   where it fills up;
//! - every time is the entry's, clamped to the epoch (squashfs keeps whole seconds: nanoseconds
//!   are dropped), and the superblock's `mkfs_time` is the epoch;
//! - a file that a [`TreeSource`] has stored already, with the compressor, options and block
//!   size being written ([`TreeSource::stored`]), keeps its stored data blocks, copied as they
//!   are; a fragment block of the source is copied whole where its first file comes when the
//!   tree's files use every byte of it that the source's do; anything else is packed again.
//!   What is copied depends only on the tree and the source's bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Seek, SeekFrom, Write};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tamis_core::{Epoch, FileKind, Problem, Root, display_path};
use tamis_order::SortFile;

use crate::compress::Compression;
use crate::format::{self, DATA_UNCOMPRESSED, NONE_U32, NONE_U64, PAD, PutLe as _, SUPERBLOCK_SIZE, Superblock};
use crate::metadata::{MetadataWriter, table_blocks};
use crate::{Error, Result};

/// How to write an image. [`WriteOptions::new`] gives mksquashfs' defaults.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools, reason = "independent switches, as mksquashfs' options are")]
#[non_exhaustive]
pub struct WriteOptions {
    /// The block compressor and its options (default: zstd level 15).
    pub compression: Compression,
    /// The data block size: a power of two from 4 KiB to 1 MiB (default 128 KiB).
    pub block_size: u32,
    /// Pack files smaller than a block into shared fragment blocks (default: yes).
    pub fragments: bool,
    /// Pack the last partial block of larger files into fragment blocks too (mksquashfs
    /// `-always-use-fragments`, gensquashfs' default; default: no, as mksquashfs).
    pub tail_packing: bool,
    /// Store files with identical contents once (default: yes).
    pub dedup: bool,
    /// Write the export table that NFS needs (default: yes, as mksquashfs).
    pub exportable: bool,
    /// Give every entry owner and group 0 (default: keep them).
    pub all_root: bool,
    /// Keep extended attributes (default: yes).
    pub xattrs: bool,
    /// Drop extended attributes whose name starts with one of these (e.g. `trusted.overlay.`).
    pub xattr_exclude: Vec<String>,
    /// Place file data by these priorities (`mksquashfs -sort`).
    pub sort: Option<SortFile>,
    /// Every time later than this is set to it; `mkfs_time` is it.
    pub epoch: Epoch,
}

impl WriteOptions {
    /// mksquashfs' defaults, with times from `epoch`.
    pub fn new(epoch: Epoch) -> Self {
        Self {
            compression: Compression::default(),
            block_size: 128 * 1024,
            fragments: true,
            tail_packing: false,
            dedup: true,
            exportable: true,
            all_root: false,
            xattrs: true,
            xattr_exclude: Vec::new(),
            sort: None,
            epoch,
        }
    }
}

/// What writing an image did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WriteOutcome {
    /// Entries in the image (every name, the root included).
    pub entries: usize,
    /// Inodes (a hard-link group is one).
    pub inodes: u32,
    /// Regular files (inodes).
    pub files: usize,
    /// Files stored as a copy of an earlier one.
    pub duplicates: usize,
    /// Data blocks copied as a source stored them (not compressed again).
    pub copied_blocks: u64,
    /// Fragment blocks copied as a source stored them.
    pub copied_fragments: u32,
    /// Fragment blocks.
    pub fragments: u32,
    /// Bytes of file data read.
    pub input_bytes: u64,
    /// Bytes of the image, padding included.
    pub image_bytes: u64,
    /// Extended attributes that squashfs cannot hold (only `user.`, `trusted.` and `security.`
    /// exist in it), left out.
    pub dropped_xattrs: Vec<Problem>,
}

/// Where a file's data went.
#[derive(Debug, Clone)]
struct FileLoc {
    size: u64,
    start: u64,
    blocks: Vec<u32>,
    fragment: u32,
    fragment_offset: u32,
    sparse: u64,
}

impl Default for FileLoc {
    fn default() -> Self {
        Self { size: 0, start: 0, blocks: Vec::new(), fragment: NONE_U32, fragment_offset: 0, sparse: 0 }
    }
}

/// One inode to write.
#[derive(Debug)]
struct Inode {
    kind: FileKind,
    mode: u16,
    uid: u32,
    gid: u32,
    mtime: u32,
    /// Names in the tree (for a directory: 2 + subdirectories).
    nlink: u32,
    rdev: u32,
    target: Vec<u8>,
    xattr: u32,
    /// The node of its first name.
    node: usize,
    file: FileLoc,
    /// Its reference once written.
    reference: Option<u64>,
}

/// One name in the tree.
#[derive(Debug)]
struct Node {
    name: Vec<u8>,
    parent: usize,
    inode: usize,
    children: Vec<usize>,
}

type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// One entry of a tree given to [`write_tree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// The path inside the tree, without a leading `/`; empty for the root.
    pub path: PathBuf,
    /// The type.
    pub kind: FileKind,
    /// Permission, set-id and sticky bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time in seconds (clamped to the epoch when written).
    pub mtime: i64,
    /// A regular file's size (the data the source gives is what counts).
    pub size: u64,
    /// The names of one hard-link group share a key; `None` for an entry with one name.
    pub link: Option<(u64, u64)>,
    /// A device's number (glibc `makedev` form).
    pub rdev: u64,
    /// A link's target.
    pub target: Vec<u8>,
    /// Extended attributes, full names.
    pub xattrs: Xattrs,
}

/// Where [`write_tree`] reads the contents of regular files.
///
/// A source whose files are already stored in a squashfs image (such as [`crate::ImageFiles`])
/// can say how ([`TreeSource::stored`]): when that image was written with the compressor,
/// options and block size being written, the writer copies the file's compressed data blocks
/// as they are, and each of the source's fragment blocks whose used bytes all belong to files
/// of the tree, instead of decompressing and compressing them again. It reads with
/// [`TreeSource::open`] what it must pack again: small files of the other fragment blocks.
/// Copied bytes are the source's, so the image still depends only on the tree, the sources'
/// bytes and the options.
pub trait TreeSource: Sync {
    /// The bytes of the regular file at `path` (a path of a [`TreeEntry`]).
    fn open(&self, path: &Path) -> Result<Box<dyn std::io::Read + '_>>;

    /// How the regular file at `path` is already stored, if it is (default: it is not).
    fn stored(&self, _path: &Path) -> Result<Option<StoredFile>> {
        Ok(None)
    }

    /// The stored bytes of the data blocks that [`TreeSource::stored`] lists for `path`, one
    /// after the other.
    fn stored_data(&self, path: &Path) -> Result<Vec<u8>> {
        Err(Error::Unsupported(format!("{}: this source stores no data", display_path(path))))
    }

    /// The stored bytes of the source's fragment block `block` and its stored size (as a
    /// fragment table records it).
    fn stored_fragment(&self, block: u32) -> Result<(Vec<u8>, u32)> {
        Err(Error::Unsupported(format!("fragment block {block}: this source stores no data")))
    }
}

/// How a regular file is already stored in a squashfs image: what [`TreeSource::stored`]
/// gives so that [`write_tree`] can copy the compressed data rather than compress it again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredFile {
    /// The compressor and options the blocks were compressed with.
    pub compression: Compression,
    /// The block size.
    pub block_size: u32,
    /// The file's length.
    pub len: u64,
    /// Each data block's stored size as squashfs records it: the bytes it takes, with bit 24
    /// ([`format::DATA_UNCOMPRESSED`]) set for a block stored uncompressed, 0 for a block of
    /// zeros. Each holds `block_size` bytes of the file, but the last one when there is no
    /// tail.
    pub blocks: Vec<u32>,
    /// Where the bytes after the last whole block are, when a fragment block holds them.
    pub tail: Option<StoredTail>,
}

impl StoredFile {
    /// A file of `len` bytes stored in `blocks`, its tail in `tail`.
    pub fn new(
        compression: Compression,
        block_size: u32,
        len: u64,
        blocks: Vec<u32>,
        tail: Option<StoredTail>,
    ) -> Self {
        Self { compression, block_size, len, blocks, tail }
    }

    /// `len` bytes stored as they are, in blocks of `block_size`: for contents that are
    /// compressed data already (no compressor makes them smaller), valid whatever the
    /// compressor written with (an uncompressed block needs none).
    pub fn uncompressed(compression: Compression, block_size: u32, len: u64) -> Self {
        let bs = u64::from(block_size);
        let blocks = (0..len.div_ceil(bs)).map(|i| (len - i * bs).min(bs) as u32 | DATA_UNCOMPRESSED).collect();
        Self { compression, block_size, len, blocks, tail: None }
    }

    /// Whether the writer can copy this file's blocks into an image written with `options`:
    /// the same block size, and the same compressor and options or nothing compressed; and a
    /// layout that adds up to the length.
    fn fits(&self, options: &WriteOptions) -> bool {
        let bs = self.block_size;
        let raw = |word: u32| word == 0 || word & DATA_UNCOMPRESSED != 0;
        let same = self.compression.normalized(bs) == options.compression.normalized(bs)
            || (self.blocks.iter().all(|&w| raw(w)) && self.tail.is_none_or(|t| raw(t.stored)));
        let bs = u64::from(bs);
        let count = self.blocks.len() as u64;
        let shape = match self.tail {
            None => count == self.len.div_ceil(bs),
            Some(_) => count == self.len / bs && self.len % bs != 0,
        };
        bs == u64::from(options.block_size)
            && same
            && shape
            && self.blocks.iter().all(|&w| u64::from(w & !DATA_UNCOMPRESSED) <= bs)
    }
}

/// Where a stored file's tail is: a place in one of the source's fragment blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredTail {
    /// The fragment block's number in the source.
    pub block: u32,
    /// The block's stored size, as a fragment table records it.
    pub stored: u32,
    /// Where the tail starts in the block, uncompressed.
    pub offset: u32,
    /// How many bytes from the block's start the source's files use: the block is copied when
    /// the tree's files use all of them.
    pub used: u32,
}

impl StoredTail {
    /// The tail at `offset` of fragment block `block` (stored size `stored`), whose first
    /// `used` bytes the source's files use.
    pub fn new(block: u32, stored: u32, offset: u32, used: u32) -> Self {
        Self { block, stored, offset, used }
    }
}

impl TreeSource for Root {
    fn open(&self, path: &Path) -> Result<Box<dyn std::io::Read + '_>> {
        Ok(Box::new(self.open_regular(path)?))
    }
}

/// Writes the image of the tree beneath `root` to `out` (which must be empty, at position 0).
///
/// Fails on any entry that cannot be read (an image without it would be wrong without
/// saying so), on a tree that the walk could not list completely, and on limits of the format.
///
/// # Panics
/// Never: the references it expects are written before they are used.
pub fn write_image<W: Write + Seek + Send>(root: &Root, out: W, options: &WriteOptions) -> Result<WriteOutcome> {
    check_options(options)?;
    let entries = walk(root, options)?;
    write_tree(&entries, root, out, options)
}

/// Writes the image of `entries` (in the canonical order, the root first, every entry's
/// directory before it), reading files' contents from `source`, to `out` (which must be
/// empty, at position 0). The bytes depend on the entries, the contents and the options only.
///
/// # Panics
/// Never: the references it expects are written before they are used.
pub fn write_tree<W: Write + Seek + Send>(
    entries: &[TreeEntry],
    source: &dyn TreeSource,
    out: W,
    options: &WriteOptions,
) -> Result<WriteOutcome> {
    check_options(options)?;
    let mut outcome = WriteOutcome::default();
    let Collected { nodes, mut inodes, xattr_sets, ids } = collect(entries, options, &mut outcome)?;
    let epoch = options.epoch.secs();

    let mut out = Positioned { out: std::io::BufWriter::with_capacity(1 << 20, out), pos: 0 };
    out.write(&[0u8; SUPERBLOCK_SIZE])?;
    let compression = options.compression;
    let options_block = compression.options_block(options.block_size);
    if let Some(block) = &options_block {
        let mut header = Vec::new();
        header.u16(block.len() as u16 | format::METADATA_UNCOMPRESSED);
        out.write(&header)?;
        out.write(block)?;
    }

    let fragment_table = write_data(source, &nodes, &mut inodes, options, &mut out, &mut outcome)?;

    let (inode_table, dir_table) = write_inodes_and_dirs(&nodes, &mut inodes, &ids, compression)?;
    let compress_error = Error::Compress;
    let root_inode = inodes[0].reference.expect("the root is written last");

    let mut sb = Superblock {
        inode_count: inodes.len() as u32,
        mkfs_time: epoch.clamp(0, i64::from(u32::MAX)) as u32,
        block_size: options.block_size,
        fragment_count: fragment_table.len() as u32,
        compression: compression.id(),
        block_log: options.block_size.trailing_zeros() as u16,
        flags: 0,
        id_count: 0,
        root_inode,
        ..Superblock::default()
    };
    if options_block.is_some() {
        sb.flags |= format::flags::COMPRESSOR_OPTIONS;
    }
    if !options.fragments {
        sb.flags |= format::flags::NO_FRAGMENTS;
    }
    if options.dedup {
        sb.flags |= format::flags::DUPLICATES;
    }

    let (inode_bytes_all, _) = inode_table.finish().map_err(compress_error)?;
    sb.inode_table = out.pos;
    out.write(&inode_bytes_all)?;
    let (dir_bytes, _) = dir_table.finish().map_err(compress_error)?;
    sb.directory_table = out.pos;
    out.write(&dir_bytes)?;

    sb.fragment_table = NONE_U64;
    if !fragment_table.is_empty() {
        let mut entries = Vec::with_capacity(fragment_table.len() * 16);
        for &(start, size) in &fragment_table {
            entries.u64(start);
            entries.u32(size);
            entries.u32(0);
        }
        sb.fragment_table = out.lookup_table(compression, &entries)?;
    }
    sb.export_table = NONE_U64;
    if options.exportable {
        sb.flags |= format::flags::EXPORTABLE;
        let mut entries = Vec::with_capacity(inodes.len() * 8);
        for inode in &inodes {
            entries.u64(inode.reference.expect("every inode is written"));
        }
        sb.export_table = out.lookup_table(compression, &entries)?;
    }
    let mut entries = Vec::with_capacity(ids.len() * 4);
    for &id in &ids {
        entries.u32(id);
    }
    sb.id_count = ids.len() as u16;
    sb.id_table = out.lookup_table(compression, &entries)?;
    sb.xattr_id_table =
        if xattr_sets.is_empty() { NONE_U64 } else { write_xattrs(&xattr_sets, compression, &mut out)? };

    sb.bytes_used = out.pos;
    let padded = out.pos.div_ceil(PAD) * PAD;
    out.write(&vec![0u8; (padded - out.pos) as usize])?;
    let mut inner = out.out.into_inner().map_err(|e| Error::Write(e.into_error()))?;
    inner.seek(SeekFrom::Start(0)).map_err(Error::Write)?;
    inner.write_all(&sb.to_bytes()).map_err(Error::Write)?;
    inner.flush().map_err(Error::Write)?;

    outcome.inodes = inodes.len() as u32;
    outcome.fragments = fragment_table.len() as u32;
    outcome.image_bytes = padded;
    Ok(outcome)
}

/// The tree as the image will hold it.
struct Collected {
    nodes: Vec<Node>,
    inodes: Vec<Inode>,
    xattr_sets: Vec<Xattrs>,
    ids: Vec<u32>,
}

/// Walks the tree: every entry with its link target and attributes.
fn walk(root: &Root, options: &WriteOptions) -> Result<Vec<TreeEntry>> {
    let tree = root.walk()?;
    if let Some(problem) = tree.problems().first() {
        return Err(Error::Incomplete { count: tree.problems().len(), first: problem.reason.clone() });
    }
    tree.entries()
        .par_iter()
        .map(|e| {
            let meta = &e.meta;
            let target = if meta.kind == FileKind::Symlink {
                root.read_link(&e.path)?.into_os_string().into_vec()
            } else {
                Vec::new()
            };
            let xattrs = if options.xattrs { root.xattrs(&e.path)? } else { Vec::new() };
            Ok(TreeEntry {
                path: e.path.clone(),
                kind: meta.kind,
                mode: meta.mode,
                uid: meta.uid,
                gid: meta.gid,
                mtime: meta.mtime.secs,
                size: meta.size,
                link: (meta.kind != FileKind::Dir && meta.nlink > 1).then_some((meta.dev, meta.ino)),
                rdev: meta.rdev,
                target,
                xattrs,
            })
        })
        .collect()
}

/// Gathers every name and inode of the entries.
fn collect(entries: &[TreeEntry], options: &WriteOptions, outcome: &mut WriteOutcome) -> Result<Collected> {
    outcome.entries = entries.len();
    let mut nodes: Vec<Node> = Vec::with_capacity(entries.len());
    let mut inodes: Vec<Inode> = Vec::with_capacity(entries.len());
    let mut dirs: BTreeMap<&Path, usize> = BTreeMap::new();
    let mut links: BTreeMap<(u64, u64), usize> = BTreeMap::new();
    let mut xattr_ids: BTreeMap<Xattrs, u32> = BTreeMap::new();
    let mut xattr_sets: Vec<Xattrs> = Vec::new();
    let epoch = options.epoch.secs();
    for (i, entry) in entries.iter().enumerate() {
        if (i == 0) != entry.path.as_os_str().is_empty() {
            return Err(Error::Options(format!("{}: the root must come first, once", display_path(&entry.path))));
        }
        let (target, xattrs) = (entry.target.clone(), if options.xattrs { entry.xattrs.clone() } else { Vec::new() });
        let parent = match entry.path.parent() {
            None => 0,
            Some(dir) => *dirs.get(dir).ok_or_else(|| Error::Incomplete {
                count: 1,
                first: format!("{}: its directory was not walked", display_path(&entry.path)),
            })?,
        };
        let name = entry.path.file_name().map(|n| n.as_bytes().to_vec()).unwrap_or_default();
        if name.len() > 256 {
            return Err(Error::Limit(format!("{}: a name longer than 256 bytes", display_path(&entry.path))));
        }
        if i > 0 {
            nodes[parent].children.push(i);
        }
        let meta = entry;
        if meta.kind == FileKind::Dir {
            dirs.insert(&entry.path, i);
        }
        let shared = meta.link.filter(|_| meta.kind != FileKind::Dir);
        if let Some(&inode) = shared.and_then(|key| links.get(&key)) {
            inodes[inode].nlink += 1;
            nodes.push(Node { name, parent, inode, children: Vec::new() });
            continue;
        }
        let xattrs = filter_xattrs(&entry.path, xattrs, options, &mut outcome.dropped_xattrs);
        let xattr = if xattrs.is_empty() {
            NONE_U32
        } else {
            let next = xattr_sets.len() as u32;
            *xattr_ids.entry(xattrs).or_insert_with_key(|set| {
                xattr_sets.push(set.clone());
                next
            })
        };
        let (uid, gid) = if options.all_root { (0, 0) } else { (meta.uid, meta.gid) };
        let inode = inodes.len();
        if let Some(key) = shared {
            links.insert(key, inode);
        }
        inodes.push(Inode {
            kind: meta.kind,
            mode: (meta.mode & 0o7777) as u16,
            uid,
            gid,
            mtime: meta.mtime.clamp(0, epoch) as u32,
            nlink: 1,
            rdev: format::encode_dev(meta.rdev),
            target,
            xattr,
            node: i,
            file: FileLoc { size: meta.size, ..FileLoc::default() },
            reference: None,
        });
        nodes.push(Node { name, parent, inode, children: Vec::new() });
    }
    if inodes.len() > u32::MAX as usize - 2 {
        return Err(Error::Limit("more than 2^32 - 2 inodes".into()));
    }
    for node in &nodes {
        if inodes[node.inode].kind == FileKind::Dir {
            let subdirs = node.children.iter().filter(|&&c| inodes[nodes[c].inode].kind == FileKind::Dir).count();
            inodes[node.inode].nlink = 2 + subdirs as u32;
        }
    }

    let ids: BTreeSet<u32> = inodes.iter().flat_map(|i| [i.uid, i.gid]).collect();
    if ids.len() > 65_535 {
        return Err(Error::Limit(format!("{} distinct owners and groups; squashfs holds 65535", ids.len())));
    }
    let ids: Vec<u32> = ids.into_iter().collect();
    Ok(Collected { nodes, inodes, xattr_sets, ids })
}

/// The inode and directory tables, directories last-first so that every reference is known
/// when it is written.
fn write_inodes_and_dirs(
    nodes: &[Node],
    inodes: &mut [Inode],
    ids: &[u32],
    compression: Compression,
) -> Result<(MetadataWriter, MetadataWriter)> {
    let number = |inode: usize| inode as u32 + 1;
    let id_index = |id: u32| ids.binary_search(&id).expect("every owner is in the id table") as u16;
    let mut inode_table = MetadataWriter::new(compression);
    let mut dir_table = MetadataWriter::new(compression);
    let compress_error = Error::Compress;
    for d in (0..nodes.len()).rev() {
        let dir_inode = nodes[d].inode;
        if inodes[dir_inode].kind != FileKind::Dir {
            continue;
        }
        for &c in &nodes[d].children {
            let inode = nodes[c].inode;
            if inodes[inode].reference.is_none() {
                let bytes = inode_bytes(&inodes[inode], number(inode), &id_index, None);
                inodes[inode].reference = Some(inode_table.reference());
                inode_table.push(&bytes).map_err(compress_error)?;
            }
        }
        let listing = DirListing::of(&nodes[d].children, nodes, inodes, &dir_table);
        let (block, offset) = dir_table.position();
        dir_table.push(&listing.bytes).map_err(compress_error)?;
        let index: Vec<(u32, u32, &[u8])> = listing
            .index
            .iter()
            .map(|&(at, absolute, name)| (at, dir_table.block_start_of(absolute) as u32, name))
            .collect();
        let parent = if d == 0 { inodes.len() as u32 + 1 } else { number(nodes[nodes[d].parent].inode) };
        let placement = DirPlacement {
            block: block as u32,
            offset,
            file_size: listing.bytes.len() as u64 + 3,
            parent,
            index: &index,
        };
        let bytes = inode_bytes(&inodes[dir_inode], number(dir_inode), &id_index, Some(&placement));
        inodes[dir_inode].reference = Some(inode_table.reference());
        inode_table.push(&bytes).map_err(compress_error)?;
    }
    Ok((inode_table, dir_table))
}

fn check_options(options: &WriteOptions) -> Result<()> {
    let bs = options.block_size;
    if !bs.is_power_of_two() || !(4096..=1 << 20).contains(&bs) {
        return Err(Error::Options(format!("block size {bs} is not a power of two from 4096 to 1048576")));
    }
    options.compression.check(bs).map_err(Error::Options)?;
    if options.epoch.secs() > i64::from(u32::MAX) {
        return Err(Error::Options("squashfs times end in 2106: the epoch is later".into()));
    }
    Ok(())
}

/// The attributes squashfs can hold, without the excluded ones, sorted by name.
fn filter_xattrs(path: &Path, xattrs: Xattrs, options: &WriteOptions, dropped: &mut Vec<Problem>) -> Xattrs {
    let mut kept: Xattrs = xattrs
        .into_iter()
        .filter(|(name, _)| !options.xattr_exclude.iter().any(|p| name.starts_with(p.as_bytes())))
        .filter(|(name, _)| {
            let ok = xattr_prefix(name).is_some();
            if !ok {
                dropped.push(Problem {
                    path: path.to_owned(),
                    reason: format!(
                        "{}: extended attribute {} left out: squashfs holds only user., trusted. and security. attributes",
                        display_path(path),
                        String::from_utf8_lossy(name)
                    ),
                });
            }
            ok
        })
        .collect();
    kept.sort();
    kept
}

/// The type code and the name without its prefix, for the prefixes squashfs has.
pub(crate) fn xattr_prefix(name: &[u8]) -> Option<(u16, &[u8])> {
    [(b"user.".as_slice(), 0u16), (b"trusted.", 1), (b"security.", 2)]
        .into_iter()
        .find_map(|(prefix, code)| name.strip_prefix(prefix).filter(|rest| !rest.is_empty()).map(|rest| (code, rest)))
}

/// An output that knows its position.
struct Positioned<W: Write> {
    out: std::io::BufWriter<W>,
    pos: u64,
}

impl<W: Write> Positioned<W> {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(Error::Write)?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Writes a lookup table (its metadata blocks, then the list of their positions); returns
    /// the position of the list, which the superblock records.
    fn lookup_table(&mut self, compression: Compression, entries: &[u8]) -> Result<u64> {
        let (bytes, starts) = table_blocks(compression, entries, self.pos).map_err(Error::Compress)?;
        self.write(&bytes)?;
        let list = self.pos;
        for start in starts {
            self.write(&start.to_le_bytes())?;
        }
        Ok(list)
    }
}

/// One piece of work of a batch: a data block of a file, or a full fragment block; `stored`
/// when the bytes are a source's stored block (its stored size), to copy as they are.
struct Work {
    bytes: Vec<u8>,
    fragment: bool,
    stored: Option<u32>,
}

/// A block of a file as read: its bytes, its stored bytes (with their stored size) to copy,
/// or only the length of a run of zeros (a hole, stored as a block of size 0), so that a huge
/// sparse file takes no memory.
enum Block {
    Data(Vec<u8>),
    Stored(Vec<u8>, u32),
    Zeros(usize),
}

/// A file as read: its blocks, length and hash (for duplicates: of the contents, or of the
/// stored form when `stored`), and for a tail in a copied fragment block, (the source's block,
/// the tail's offset, the block's stored bytes and size when this file is the first in it).
struct ReadFile {
    blocks: Vec<Block>,
    len: u64,
    hash: [u8; 32],
    stored: bool,
    tail: Option<CopiedTail>,
}

/// A tail in a copied fragment block: the source's block, the tail's offset in it, and the
/// block's stored bytes and size when this file is the first in it.
type CopiedTail = (u32, u32, Option<(Vec<u8>, u32)>);

/// How the writer gets one file's data.
enum Via {
    /// Read with [`TreeSource::open`] and compressed here.
    Read,
    /// Its stored blocks copied, its tail in a source fragment block copied whole; `fetch`
    /// when it is the first file of that block in placement order (it brings the block). With
    /// `raw_tail`, only its whole blocks are copied; the bytes after them are read with
    /// [`TreeSource::open`] and packed again.
    Stored { file: StoredFile, fetch: bool, raw_tail: bool },
}

/// Decides, for each file (`paths`, placed in `order`), whether its stored form is copied:
/// when the source has it in the options' format, and for a tail in a fragment block, when
/// the tree's files use every byte the source's files use of that block (copying it then
/// wastes nothing). Every other file is read and compressed.
fn choose(source: &dyn TreeSource, paths: &[PathBuf], order: &[usize], options: &WriteOptions) -> Result<Vec<Via>> {
    let bs = u64::from(options.block_size);
    let mut stored: Vec<Option<StoredFile>> =
        paths.par_iter().map(|path| Ok(source.stored(path)?.filter(|s| s.fits(options)))).collect::<Result<_>>()?;
    let mut ranges: BTreeMap<u32, (u32, Vec<(u64, u64)>)> = BTreeMap::new();
    for s in stored.iter().flatten() {
        if let Some(t) = s.tail.filter(|_| options.fragments) {
            let start = u64::from(t.offset);
            ranges.entry(t.block).or_insert((t.used, Vec::new())).1.push((start, start + s.len % bs));
        }
    }
    let whole: BTreeSet<u32> = ranges
        .into_iter()
        .filter_map(|(block, (used, mut spans))| {
            spans.sort_unstable();
            let mut end = 0;
            for (from, to) in spans {
                if from > end {
                    return None;
                }
                end = end.max(to);
            }
            (used > 0 && end == u64::from(used)).then_some(block)
        })
        .collect();
    let mut via: Vec<Via> = paths.iter().map(|_| Via::Read).collect();
    let mut fetched: BTreeSet<u32> = BTreeSet::new();
    let packing = options.fragments && options.tail_packing;
    for &k in order {
        let Some(file) = stored[k].take() else { continue };
        let small = file.len < bs;
        via[k] = match file.tail {
            Some(t) if whole.contains(&t.block) => {
                Via::Stored { file, fetch: fetched.insert(t.block), raw_tail: false }
            }
            // Packed again, in a fragment block of this image.
            Some(_) | None if small && options.fragments => continue,
            // Its whole blocks copied, its tail packed again.
            Some(_) => Via::Stored { file, fetch: false, raw_tail: true },
            None if packing && file.len % bs != 0 => Via::Stored { file, fetch: false, raw_tail: true },
            None => Via::Stored { file, fetch: false, raw_tail: false },
        };
    }
    Ok(via)
}

/// Reads the stored form of the file at `path`: with `fetch`, the fragment block holding its
/// tail too; with `raw_tail`, only its whole blocks, then the bytes after them from
/// [`TreeSource::open`]. The hash covers the stored sizes and bytes and the tail (its place,
/// or its bytes): equal for files stored alike in one source.
fn read_stored(
    source: &dyn TreeSource,
    path: &Path,
    file: &StoredFile,
    (fetch, raw_tail): (bool, bool),
    dedup: bool,
) -> Result<ReadFile> {
    let corrupt = |what: &str| Error::Corrupt(format!("{}: the stored data {what}", display_path(path)));
    let data = source.stored_data(path)?;
    let bs = u64::from(file.block_size);
    let copied = if raw_tail { (file.len / bs) as usize } else { file.blocks.len() };
    let mut hasher = Sha256::new();
    let mut blocks = Vec::with_capacity(file.blocks.len());
    let mut at = 0;
    for (i, &word) in file.blocks.iter().enumerate() {
        let size = (word & !DATA_UNCOMPRESSED) as usize;
        let bytes = data.get(at..at + size).ok_or_else(|| corrupt("ends before its blocks"))?;
        at += size;
        if i >= copied {
            continue;
        }
        if dedup {
            hasher.update(word.to_le_bytes());
            hasher.update(bytes);
        }
        blocks.push(if size == 0 {
            Block::Zeros((file.len - i as u64 * bs).min(bs) as usize)
        } else {
            Block::Stored(bytes.to_vec(), word)
        });
    }
    if at != data.len() {
        return Err(corrupt("is longer than its blocks"));
    }
    let mut tail = None;
    if raw_tail {
        let skip = copied as u64 * bs;
        let mut reader = source.open(path)?;
        let io = |e| tamis_core::Error::Io { path: path.to_owned(), op: "read", source: e };
        std::io::copy(&mut reader.by_ref().take(skip), &mut std::io::sink()).map_err(io)?;
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).map_err(io)?;
        if rest.len() as u64 != file.len - skip {
            return Err(corrupt("and the contents differ in length"));
        }
        if dedup {
            hasher.update(b"tail");
            hasher.update(&rest);
        }
        blocks.push(if rest.iter().all(|&b| b == 0) { Block::Zeros(rest.len()) } else { Block::Data(rest) });
    } else if let Some(t) = file.tail {
        if dedup {
            hasher.update(t.block.to_le_bytes());
            hasher.update(t.offset.to_le_bytes());
        }
        let bytes = if fetch {
            let (bytes, word) = source.stored_fragment(t.block)?;
            if bytes.len() != (word & !DATA_UNCOMPRESSED) as usize || word & !DATA_UNCOMPRESSED == 0 {
                return Err(corrupt("of its fragment block does not match its stored size"));
            }
            Some((bytes, word))
        } else {
            None
        };
        tail = Some((t.block, t.offset, bytes));
    }
    hasher.update(file.len.to_le_bytes());
    Ok(ReadFile {
        blocks,
        len: file.len,
        hash: if dedup { hasher.finalize().into() } else { [0; 32] },
        stored: true,
        tail,
    })
}

/// Reads the file at `path` block by block. The hash covers the length and each non-zero
/// block with its index: equal for equal contents, without hashing the zeros of a hole.
fn read_file(source: &dyn TreeSource, path: &Path, bs: usize, dedup: bool) -> Result<ReadFile> {
    let mut file = source.open(path)?;
    let io = |e| tamis_core::Error::Io { path: path.to_owned(), op: "read", source: e };
    let mut hasher = Sha256::new();
    let mut read = ReadFile { blocks: Vec::new(), len: 0, hash: [0; 32], stored: false, tail: None };
    let mut buf = vec![0u8; bs];
    loop {
        let mut filled = 0;
        while filled < bs {
            match file.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io(e).into()),
            }
        }
        if filled == 0 {
            break;
        }
        let chunk = &buf[..filled];
        if chunk.iter().all(|&b| b == 0) {
            read.blocks.push(Block::Zeros(filled));
        } else {
            if dedup {
                hasher.update((read.blocks.len() as u64).to_le_bytes());
                hasher.update(chunk);
            }
            read.blocks.push(Block::Data(chunk.to_vec()));
        }
        read.len += filled as u64;
        if filled < bs {
            break;
        }
    }
    if dedup {
        hasher.update(read.len.to_le_bytes());
        read.hash = hasher.finalize().into();
    }
    Ok(read)
}

/// A file as planned: its data blocks (index of the work item, or `None` for a block of zeros),
/// its place in a fragment block (the block's slot, the offset), or the earlier file it
/// duplicates.
struct Planned {
    inode: usize,
    blocks: Vec<Option<usize>>,
    fragment: Option<(usize, u32)>,
    duplicate_of: Option<usize>,
}

/// Input bytes read per batch: enough to keep every thread busy, little enough to bound memory.
const BATCH_BYTES: u64 = 64 << 20;

/// A compressed work item, back from its worker: its number, whether it is a fragment block,
/// its uncompressed length, and the bytes to store with whether they are compressed.
type Packed = (usize, bool, u64, std::result::Result<(Vec<u8>, bool), String>);

/// Where a block went: its position in the image and its stored size (with the flag of an
/// uncompressed block).
type Stored = (u64, u32);

/// Writes every file's data; returns the fragment table (position, stored size).
///
/// Three things go on at once, so that no core waits while there is work: this thread reads
/// files (in parallel) and plans where their blocks go, in placement order, numbering each
/// data or fragment block it makes; every block is compressed as soon as it is planned, by
/// whichever worker is free; a writer thread puts the compressed blocks in the image in their
/// numbers' order as they arrive. The bytes depend only on that order, never on which thread
/// compressed what, or when. At most about two batches of blocks wait to be written.
fn write_data<W: Write + Send>(
    source: &dyn TreeSource,
    nodes: &[Node],
    inodes: &mut [Inode],
    options: &WriteOptions,
    out: &mut Positioned<W>,
    outcome: &mut WriteOutcome,
) -> Result<Vec<(u64, u32)>> {
    let files: Vec<usize> = (0..inodes.len()).filter(|&i| inodes[i].kind == FileKind::File).collect();
    outcome.files = files.len();
    let paths: Vec<PathBuf> = files.iter().map(|&i| node_path(nodes, inodes[i].node)).collect();
    let order = tamis_order::placement_order(&paths, options.sort.as_ref());
    let via = choose(source, &paths, &order, options)?;
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut size = 0;
    for &k in &order {
        if batches.is_empty() || size >= BATCH_BYTES {
            batches.push(Vec::new());
            size = 0;
        }
        size += inodes[files[k]].file.size.max(1);
        batches.last_mut().expect("pushed above").push(k);
    }

    let pending = std::sync::atomic::AtomicU64::new(0);
    let (sender, receiver) = std::sync::mpsc::channel::<Packed>();
    let (planned, written) = std::thread::scope(|scope| {
        let waiting = &pending;
        let writer = scope.spawn(move || write_in_order(receiver, out, waiting));
        let planned: Result<(Vec<Planned>, Vec<Option<u32>>)> = rayon::scope(|tasks| {
            let mut planner = Planner::new(options);
            for batch in &batches {
                // Wait (helping with the compression) until at most one batch is still to be
                // written, then read the next one while the workers compress.
                while pending.load(std::sync::atomic::Ordering::Acquire) > BATCH_BYTES && !writer.is_finished() {
                    if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    }
                }
                if writer.is_finished() {
                    // It stopped at an error, which it returns: nothing more to read.
                    break;
                }
                let contents: Vec<Result<ReadFile>> = batch
                    .par_iter()
                    .map(|&k| match &via[k] {
                        Via::Read => read_file(source, &paths[k], options.block_size as usize, options.dedup),
                        Via::Stored { file, fetch, raw_tail } => {
                            read_stored(source, &paths[k], file, (*fetch, *raw_tail), options.dedup)
                        }
                    })
                    .collect();
                for (&k, file) in batch.iter().zip(contents) {
                    let file = file?;
                    let inode = files[k];
                    inodes[inode].file.size = file.len;
                    outcome.input_bytes += file.len;
                    for work in planner.plan(inode, file, outcome) {
                        spawn_compression(tasks, work, options, &pending, sender.clone());
                    }
                }
            }
            if let Some(last) = planner.last_fragment() {
                spawn_compression(tasks, last, options, &pending, sender.clone());
            }
            Ok((planner.planned, planner.slots))
        });
        // The writer ends when every block is written, or at the first that cannot be.
        drop(sender);
        let written = writer.join().expect("the image writer does not panic");
        (planned, written)
    });
    let (placed, fragment_table) = written?;
    let (planned, slots) = planned?;
    for plan in planned {
        let loc = if let Some(first) = plan.duplicate_of {
            inodes[first].file.clone()
        } else {
            let mut loc = FileLoc { size: inodes[plan.inode].file.size, ..FileLoc::default() };
            loc.start = plan.blocks.iter().flatten().next().map_or(0, |&w| placed[w].0);
            loc.blocks = plan.blocks.iter().map(|w| w.map_or(0, |w| placed[w].1)).collect();
            loc.sparse = plan.blocks.iter().filter(|w| w.is_none()).count() as u64 * u64::from(options.block_size);
            (loc.fragment, loc.fragment_offset) = plan.fragment.map_or((NONE_U32, 0), |(slot, offset)| {
                (slots[slot].expect("every fragment block is numbered"), offset)
            });
            loc
        };
        inodes[plan.inode].file = loc;
    }
    Ok(fragment_table)
}

/// Compresses `work` on a worker; the result goes to the writer.
fn spawn_compression<'s>(
    tasks: &rayon::Scope<'s>,
    work: (usize, Work),
    options: &'s WriteOptions,
    pending: &'s std::sync::atomic::AtomicU64,
    sender: std::sync::mpsc::Sender<Packed>,
) {
    let (number, work) = work;
    let len = work.bytes.len() as u64;
    pending.fetch_add(len, std::sync::atomic::Ordering::AcqRel);
    if let Some(word) = work.stored {
        // Copied as the source stored it: nothing to compress.
        let _ = sender.send((number, work.fragment, len, Ok((work.bytes, word & DATA_UNCOMPRESSED == 0))));
        return;
    }
    tasks.spawn(move |_| {
        let packed = options
            .compression
            .compress(&work.bytes, options.block_size)
            .map(|packed| packed.map_or((work.bytes, false), |p| (p, true)));
        // A closed channel: the writer stopped at an error it reports.
        let _ = sender.send((number, work.fragment, len, packed));
    });
}

/// Writes the compressed blocks in their numbers' order as they arrive. Returns where each
/// went (position, stored size) and the fragment table; stops at the first block, in that
/// order, that could not be compressed or written.
fn write_in_order<W: Write>(
    receiver: std::sync::mpsc::Receiver<Packed>,
    out: &mut Positioned<W>,
    pending: &std::sync::atomic::AtomicU64,
) -> Result<(Vec<Stored>, Vec<Stored>)> {
    let mut waiting: BTreeMap<usize, Packed> = BTreeMap::new();
    let mut placed: Vec<Stored> = Vec::new();
    let mut fragment_table: Vec<Stored> = Vec::new();
    for packed in receiver {
        waiting.insert(packed.0, packed);
        while let Some((_, fragment, len, packed)) = waiting.remove(&placed.len()) {
            let (bytes, compressed) = packed.map_err(Error::Compress)?;
            let size = if compressed { bytes.len() as u32 } else { bytes.len() as u32 | DATA_UNCOMPRESSED };
            placed.push((out.pos, size));
            if fragment {
                fragment_table.push((out.pos, size));
            }
            out.write(&bytes)?;
            pending.fetch_sub(len, std::sync::atomic::Ordering::AcqRel);
        }
    }
    Ok((placed, fragment_table))
}

/// Decides, file after file in placement order, which blocks each file's data makes: its own
/// data blocks, a place in the current fragment block, or nothing (a copy of an earlier file).
/// Blocks are numbered in the order they are made, the order of the image.
///
/// A fragment block gets its number in the fragment table when it is made (the block being
/// filled when it is full, a source's block copied whole where its first file comes), so a
/// file placed in one records the block's slot, numbered then.
struct Planner<'o> {
    options: &'o WriteOptions,
    planned: Vec<Planned>,
    works: usize,
    fragments: u32,
    fragment: Vec<u8>,
    /// The slot of the fragment block being filled.
    open: Option<usize>,
    /// Each slot's number in the fragment table, once its block is made.
    slots: Vec<Option<u32>>,
    /// The slots of the source's fragment blocks copied whole.
    copied: BTreeMap<u32, usize>,
    seen: BTreeMap<(bool, u64, [u8; 32]), usize>,
}

impl<'o> Planner<'o> {
    fn new(options: &'o WriteOptions) -> Self {
        let fragment = Vec::with_capacity(options.block_size as usize);
        Self {
            options,
            planned: Vec::new(),
            works: 0,
            fragments: 0,
            fragment,
            open: None,
            slots: Vec::new(),
            copied: BTreeMap::new(),
            seen: BTreeMap::new(),
        }
    }

    fn slot(&mut self) -> usize {
        self.slots.push(None);
        self.slots.len() - 1
    }

    /// Numbers `work`; a fragment block also gets its number in the fragment table, in `slot`.
    fn number(&mut self, work: Work, slot: Option<usize>) -> (usize, Work) {
        self.works += 1;
        if work.fragment {
            if let Some(slot) = slot {
                self.slots[slot] = Some(self.fragments);
            }
            self.fragments += 1;
        }
        (self.works - 1, work)
    }

    /// Plans `file`, of `inode`; returns the blocks it completes, to compress or copy.
    fn plan(&mut self, inode: usize, mut file: ReadFile, outcome: &mut WriteOutcome) -> Vec<(usize, Work)> {
        let bs = self.options.block_size as usize;
        let mut made = Vec::new();
        if file.len == 0 {
            return made;
        }
        // A source's fragment block copied whole goes where its first file comes (even when
        // that file turns out a duplicate: the next ones in the block need it).
        if let Some((block, _, fetched)) = &mut file.tail {
            if let Some((bytes, word)) = fetched.take() {
                let slot = self.slot();
                self.copied.insert(*block, slot);
                outcome.copied_fragments += 1;
                made.push(self.number(Work { bytes, fragment: true, stored: Some(word) }, Some(slot)));
            }
        }
        if self.options.dedup {
            let key = (file.stored, file.len, file.hash);
            if let Some(&first) = self.seen.get(&key) {
                outcome.duplicates += 1;
                self.planned.push(Planned { inode, blocks: Vec::new(), fragment: None, duplicate_of: Some(first) });
                return made;
            }
            self.seen.insert(key, inode);
        }
        let mut plan = Planned { inode, blocks: Vec::new(), fragment: None, duplicate_of: None };
        if let Some((block, offset, _)) = file.tail {
            let slot = *self.copied.get(&block).expect("the first file of a copied fragment block brings it");
            plan.fragment = Some((slot, offset));
        }
        // Small files, and with tail packing the last partial block of larger ones, go into
        // the fragment block being filled.
        let packing = self.options.fragments && (file.len < bs as u64 || self.options.tail_packing);
        let count = file.blocks.len();
        for (i, block) in file.blocks.into_iter().enumerate() {
            let partial = match &block {
                Block::Data(bytes) => bytes.len() < bs,
                Block::Zeros(n) => *n < bs,
                Block::Stored(..) => false,
            };
            let (bytes, stored) = match block {
                Block::Data(bytes) if packing && partial && i + 1 == count && plan.fragment.is_none() => {
                    plan.fragment = Some(self.pack(&bytes, &mut made));
                    continue;
                }
                Block::Zeros(n) if packing && partial && i + 1 == count && plan.fragment.is_none() => {
                    plan.fragment = Some(self.pack(&vec![0; n], &mut made));
                    continue;
                }
                Block::Zeros(_) => {
                    plan.blocks.push(None);
                    continue;
                }
                Block::Data(bytes) => (bytes, None),
                Block::Stored(bytes, word) => {
                    outcome.copied_blocks += 1;
                    (bytes, Some(word))
                }
            };
            let (number, work) = self.number(Work { bytes, fragment: false, stored }, None);
            plan.blocks.push(Some(number));
            made.push((number, work));
        }
        self.planned.push(plan);
        made
    }

    /// Puts `bytes` in the fragment block being filled (after writing it out when they do not
    /// fit); returns the block's slot and their offset in it.
    fn pack(&mut self, bytes: &[u8], made: &mut Vec<(usize, Work)>) -> (usize, u32) {
        let bs = self.options.block_size as usize;
        if self.fragment.len() + bytes.len() > bs {
            let full = std::mem::replace(&mut self.fragment, Vec::with_capacity(bs));
            let slot = self.open.take();
            made.push(self.number(Work { bytes: full, fragment: true, stored: None }, slot));
        }
        let slot = if let Some(slot) = self.open {
            slot
        } else {
            let slot = self.slot();
            self.open = Some(slot);
            slot
        };
        let offset = self.fragment.len() as u32;
        self.fragment.extend_from_slice(bytes);
        (slot, offset)
    }

    /// The last fragment block, if it holds anything.
    fn last_fragment(&mut self) -> Option<(usize, Work)> {
        (!self.fragment.is_empty()).then(|| {
            let bytes = std::mem::take(&mut self.fragment);
            let slot = self.open.take();
            self.number(Work { bytes, fragment: true, stored: None }, slot)
        })
    }
}

fn node_path(nodes: &[Node], mut n: usize) -> PathBuf {
    let mut names = Vec::new();
    while n != 0 {
        names.push(std::ffi::OsStr::from_bytes(&nodes[n].name));
        n = nodes[n].parent;
    }
    names.iter().rev().collect()
}

/// Where a directory's listing is, for its inode.
struct DirPlacement<'a> {
    block: u32,
    offset: u16,
    file_size: u64,
    parent: u32,
    index: &'a [(u32, u32, &'a [u8])],
}

/// The bytes of one inode.
fn inode_bytes(inode: &Inode, number: u32, id_index: &dyn Fn(u32) -> u16, dir: Option<&DirPlacement<'_>>) -> Vec<u8> {
    use format::kind;
    let has_xattr = inode.xattr != NONE_U32;
    let base = match inode.kind {
        FileKind::Dir => kind::DIR,
        FileKind::File => kind::FILE,
        FileKind::Symlink => kind::SYMLINK,
        FileKind::BlockDevice => kind::BLOCK,
        FileKind::CharDevice => kind::CHAR,
        FileKind::Fifo => kind::FIFO,
        FileKind::Socket => kind::SOCKET,
    };
    let f = &inode.file;
    let extended = match inode.kind {
        FileKind::Dir => {
            let d = dir.expect("a directory inode is written with its placement");
            has_xattr || d.file_size > 0xffff || !d.index.is_empty()
        }
        FileKind::File => {
            has_xattr
                || inode.nlink > 1
                || f.start > u64::from(u32::MAX)
                || f.size > u64::from(u32::MAX)
                || f.sparse > 0
        }
        _ => has_xattr,
    };
    let mut b = Vec::with_capacity(64 + inode.target.len() + 4 * f.blocks.len());
    b.u16(if extended { base + kind::EXTENDED } else { base });
    b.u16(inode.mode);
    b.u16(id_index(inode.uid));
    b.u16(id_index(inode.gid));
    b.u32(inode.mtime);
    b.u32(number);
    match (inode.kind, extended) {
        (FileKind::Dir, false) => {
            let d = dir.expect("checked above");
            b.u32(d.block);
            b.u32(inode.nlink);
            b.u16(d.file_size as u16);
            b.u16(d.offset);
            b.u32(d.parent);
        }
        (FileKind::Dir, true) => {
            let d = dir.expect("checked above");
            b.u32(inode.nlink);
            b.u32(d.file_size as u32);
            b.u32(d.block);
            b.u32(d.parent);
            b.u16(d.index.len() as u16);
            b.u16(d.offset);
            b.u32(inode.xattr);
            for &(at, start, name) in d.index {
                b.u32(at);
                b.u32(start);
                b.u32(name.len() as u32 - 1);
                b.extend_from_slice(name);
            }
        }
        (FileKind::File, false) => {
            b.u32(f.start as u32);
            b.u32(f.fragment);
            b.u32(f.fragment_offset);
            b.u32(f.size as u32);
            f.blocks.iter().for_each(|&s| b.u32(s));
        }
        (FileKind::File, true) => {
            b.u64(f.start);
            b.u64(f.size);
            b.u64(f.sparse);
            b.u32(inode.nlink);
            b.u32(f.fragment);
            b.u32(f.fragment_offset);
            b.u32(inode.xattr);
            f.blocks.iter().for_each(|&s| b.u32(s));
        }
        (FileKind::Symlink, _) => {
            b.u32(inode.nlink);
            b.u32(inode.target.len() as u32);
            b.extend_from_slice(&inode.target);
            if extended {
                b.u32(inode.xattr);
            }
        }
        (FileKind::BlockDevice | FileKind::CharDevice, _) => {
            b.u32(inode.nlink);
            b.u32(inode.rdev);
            if extended {
                b.u32(inode.xattr);
            }
        }
        (FileKind::Fifo | FileKind::Socket, _) => {
            b.u32(inode.nlink);
            if extended {
                b.u32(inode.xattr);
            }
        }
    }
    b
}

/// A directory's listing and its index: (offset of a header in the listing, its absolute
/// uncompressed offset in the table, the header's first name).
struct DirListing<'a> {
    bytes: Vec<u8>,
    index: Vec<(u32, u64, &'a [u8])>,
}

impl<'a> DirListing<'a> {
    fn of(children: &[usize], nodes: &'a [Node], inodes: &[Inode], table: &MetadataWriter) -> Self {
        let start = table.uncompressed_len();
        let block_of = |at: u64| at / format::METADATA_SIZE as u64;
        let mut listing = Self { bytes: Vec::new(), index: Vec::new() };
        let mut indexed_block = block_of(start);
        let mut i = 0;
        while i < children.len() {
            let reference = |c: usize| inodes[nodes[c].inode].reference.expect("children are written first");
            let number = |c: usize| nodes[c].inode as i64 + 1;
            let (first, base) = (children[i], number(children[i]));
            let block = reference(first) >> 16;
            let mut j = i;
            while j < children.len()
                && j - i < 256
                && reference(children[j]) >> 16 == block
                && (number(children[j]) - base).abs() <= 32767
            {
                j += 1;
            }
            let at = listing.bytes.len();
            let absolute = start + at as u64;
            if block_of(absolute) != indexed_block {
                indexed_block = block_of(absolute);
                listing.index.push((at as u32, absolute, nodes[first].name.as_slice()));
            }
            listing.bytes.u32((j - i - 1) as u32);
            listing.bytes.u32(block as u32);
            listing.bytes.u32(base as u32);
            for &c in &children[i..j] {
                let inode = &inodes[nodes[c].inode];
                listing.bytes.u16((reference(c) & 0xffff) as u16);
                listing.bytes.u16((number(c) - base) as i16 as u16);
                listing.bytes.u16(match inode.kind {
                    FileKind::Dir => format::kind::DIR,
                    FileKind::File => format::kind::FILE,
                    FileKind::Symlink => format::kind::SYMLINK,
                    FileKind::BlockDevice => format::kind::BLOCK,
                    FileKind::CharDevice => format::kind::CHAR,
                    FileKind::Fifo => format::kind::FIFO,
                    FileKind::Socket => format::kind::SOCKET,
                });
                listing.bytes.u16(nodes[c].name.len() as u16 - 1);
                listing.bytes.extend_from_slice(&nodes[c].name);
            }
            i = j;
        }
        listing
    }
}

/// Writes the xattr tables; returns the position of the xattr id table's header.
fn write_xattrs<W: Write>(sets: &[Xattrs], compression: Compression, out: &mut Positioned<W>) -> Result<u64> {
    let mut kv = MetadataWriter::new(compression);
    let mut ids = Vec::with_capacity(sets.len() * 16);
    for set in sets {
        let reference = kv.reference();
        let before = kv.uncompressed_len();
        for (name, value) in set {
            let (code, rest) = xattr_prefix(name).expect("only known prefixes are kept");
            let mut b = Vec::with_capacity(8 + rest.len() + value.len());
            b.u16(code);
            b.u16(rest.len() as u16);
            b.extend_from_slice(rest);
            b.u32(value.len() as u32);
            b.extend_from_slice(value);
            kv.push(&b).map_err(Error::Compress)?;
        }
        ids.u64(reference);
        ids.u32(set.len() as u32);
        ids.u32((kv.uncompressed_len() - before) as u32);
    }
    let (kv_bytes, _) = kv.finish().map_err(Error::Compress)?;
    let kv_start = out.pos;
    out.write(&kv_bytes)?;
    let (id_bytes, starts) = table_blocks(compression, &ids, out.pos).map_err(Error::Compress)?;
    out.write(&id_bytes)?;
    let header_at = out.pos;
    let mut header = Vec::with_capacity(16 + 8 * starts.len());
    header.u64(kv_start);
    header.u32(sets.len() as u32);
    header.u32(0);
    for &s in &starts {
        header.u64(s);
    }
    out.write(&header)?;
    Ok(header_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files of every shape a writer places: empty, small (fragments, several fragment blocks),
    /// several blocks, a block of zeros, duplicates, more than one batch in all.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        for i in 0..300u32 {
            let bytes: Vec<u8> = (0..i * 97).map(|j| (j.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
            std::fs::write(dir.path().join(format!("a/f{i}")), &bytes).unwrap();
            std::fs::write(dir.path().join(format!("a/b/copy{}", i % 7)), &bytes).unwrap();
        }
        let mut big: Vec<u8> = (0..(5u32 << 20)).map(|j| (j % 251) as u8 ^ (j >> 16) as u8).collect();
        big[(1 << 20)..(2 << 20)].fill(0);
        std::fs::write(dir.path().join("big"), &big).unwrap();
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        dir
    }

    fn options(compression: Compression) -> WriteOptions {
        let mut options = WriteOptions::new(Epoch::from_secs(1_700_000_000).unwrap());
        options.compression = compression;
        options.block_size = 64 * 1024;
        options
    }

    fn image(root: &Root, threads: usize, compression: Compression) -> Vec<u8> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut out = std::io::Cursor::new(Vec::new());
        // Inside a pool, as a caller that runs on rayon's workers would: a pool of one thread
        // must not wait for itself.
        pool.install(|| write_image(root, &mut out, &options(compression))).unwrap();
        out.into_inner()
    }

    /// `entries` of `image` written again from it, with `threads` threads.
    fn rewritten(
        image: &crate::read::Image,
        all: &[crate::read::ImageEntry],
        entries: &[TreeEntry],
        threads: usize,
        options: &WriteOptions,
    ) -> (Vec<u8>, WriteOutcome) {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let source = crate::ImageFiles::new(image, all);
        let mut out = std::io::Cursor::new(Vec::new());
        let outcome = pool.install(|| write_tree(entries, &source, &mut out, options)).unwrap();
        (out.into_inner(), outcome)
    }

    #[test]
    fn tail_packing_puts_the_tails_of_larger_files_in_fragments_and_copies_their_whole_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..200_000u32).map(|j| (j % 251) as u8 ^ (j >> 11) as u8).collect();
        std::fs::write(dir.path().join("big"), &big).unwrap();
        std::fs::write(dir.path().join("small"), b"small file\n").unwrap();
        let root = Root::open(dir.path()).unwrap();
        let compression = Compression::Zstd { level: 3 };
        let first = crate::read::Image::from_bytes(image(&root, 1, compression)).unwrap();
        let all = first.entries().unwrap();
        let entries: Vec<TreeEntry> = all.iter().map(crate::read::ImageEntry::tree_entry).collect();
        let mut packed = options(compression);
        packed.tail_packing = true;
        let (bytes, outcome) = rewritten(&first, &all, &entries, 1, &packed);
        assert!(rewritten(&first, &all, &entries, 2, &packed).0 == bytes, "2 threads differ from 1");
        let second = crate::read::Image::from_bytes(bytes).unwrap();
        let read = second.entries().unwrap();
        let at = |image: &crate::read::Image, entries: &[crate::read::ImageEntry]| {
            let entry = entries.iter().find(|e| e.path == Path::new("big")).unwrap().clone();
            (image.stored_file(&entry, 0).unwrap().unwrap(), image.read_file(&entry).unwrap())
        };
        let ((before, _), (after, contents)) = (at(&first, &all), at(&second, &read));
        assert!(contents == big);
        assert_eq!((before.blocks.len(), before.tail), (4, None), "mksquashfs' default: a last partial block");
        assert_eq!(after.blocks[..], before.blocks[..3], "the whole blocks, copied");
        assert!(after.tail.is_some(), "the tail in a fragment block");
        assert_eq!(outcome.copied_blocks, 3);
    }

    #[test]
    fn an_image_written_from_an_image_copies_its_blocks_when_the_options_match() {
        let dir = tree();
        let root = Root::open(dir.path()).unwrap();
        for compression in [Compression::Zstd { level: 3 }, Compression::Xz { dict_size: None, x86: true }] {
            let first = crate::read::Image::from_bytes(image(&root, 1, compression)).unwrap();
            let all = first.entries().unwrap();
            // One small file left out: the fragment block that held it is packed again.
            let entries: Vec<TreeEntry> =
                all.iter().filter(|e| e.path != Path::new("a/f150")).map(crate::read::ImageEntry::tree_entry).collect();
            let (bytes, outcome) = rewritten(&first, &all, &entries, 1, &options(compression));
            let (two, _) = rewritten(&first, &all, &entries, 2, &options(compression));
            assert!(two == bytes, "{compression:?}: 2 threads differ from 1");
            let second = crate::read::Image::from_bytes(bytes).unwrap();
            let read = second.entries().unwrap();
            assert_eq!(read.len(), all.len() - 1);
            for entry in read.iter().filter(|e| e.kind == FileKind::File) {
                let on_disk = std::fs::read(dir.path().join(&entry.path)).unwrap();
                assert!(second.read_file(entry).unwrap() == on_disk, "{compression:?}: {}", entry.path.display());
            }
            // The data blocks are the first image's, byte for byte (no compressor ran on them).
            let big = |image: &crate::read::Image, entries: &[crate::read::ImageEntry]| {
                image.stored_data(entries.iter().find(|e| e.path == Path::new("big")).unwrap()).unwrap()
            };
            assert!(big(&second, &read) == big(&first, &all), "{compression:?}: big was compressed again");
            assert_eq!(outcome.copied_blocks, 64, "{compression:?}: 80 blocks of 64 KiB, 16 of them zeros");
            // Every fragment block but the one that held a/f150 is copied whole, as stored.
            let fragments = |image: &crate::read::Image| -> Vec<Vec<u8>> {
                (0..image.superblock().fragment_count).map(|i| image.stored_fragment(i).unwrap().0).collect()
            };
            let (before, after) = (fragments(&first), fragments(&second));
            let same = after.iter().filter(|f| before.contains(f)).count();
            assert_eq!(outcome.copied_fragments as usize, same, "{compression:?}");
            assert_eq!(same, before.len() - 1, "{compression:?}: {} fragment blocks", before.len());

            // Other options: everything compressed again, with them.
            let other = options(Compression::Gzip { level: 6 });
            let (bytes, outcome) = rewritten(&first, &all, &entries, 2, &other);
            assert_eq!((outcome.copied_blocks, outcome.copied_fragments), (0, 0), "{compression:?}");
            let third = crate::read::Image::from_bytes(bytes).unwrap();
            assert_eq!(third.compression(), Some(Compression::Gzip { level: 6 }));
            let read = third.entries().unwrap();
            for entry in read.iter().filter(|e| e.kind == FileKind::File) {
                let on_disk = std::fs::read(dir.path().join(&entry.path)).unwrap();
                assert!(
                    third.read_file(entry).unwrap() == on_disk,
                    "gzip from {compression:?}: {}",
                    entry.path.display()
                );
            }
        }
    }

    #[test]
    fn the_pipeline_gives_the_same_bytes_with_one_thread_or_many() {
        let dir = tree();
        let root = Root::open(dir.path()).unwrap();
        for compression in [Compression::Zstd { level: 3 }, Compression::Xz { dict_size: None, x86: true }] {
            let one = image(&root, 1, compression);
            let read = crate::read::Image::from_bytes(one.clone()).unwrap();
            let mut files = 0;
            for entry in read.entries().unwrap().iter().filter(|e| e.kind == FileKind::File) {
                let on_disk = std::fs::read(dir.path().join(&entry.path)).unwrap();
                assert!(
                    read.read_file(entry).unwrap() == on_disk,
                    "{compression:?}: {} read back",
                    entry.path.display()
                );
                files += 1;
            }
            assert_eq!(files, 300 + 7 + 2);
            for threads in [2, 5] {
                assert!(image(&root, threads, compression) == one, "{compression:?}: {threads} threads differ from 1");
            }
        }
    }
}
