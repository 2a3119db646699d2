//! The kit: Tails' IUK format v2, an all-root squashfs holding `FORMAT`, `control.yml` and
//! `overlay/` (the diff squashfs under `overlay/live/`, NEW's changed kernels and initrds, and
//! NEW's boot directories, `isolinux/` renamed `syslinux/` as the installed system boots with
//! syslinux).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Cursor, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use tamis_core::{Epoch, FileKind};
use tamis_iso::IsoEntry;
use tamis_squashfs::format::DATA_UNCOMPRESSED;
use tamis_squashfs::{Compression, ImageFiles, StoredFile, TreeEntry, TreeSource, WriteOptions, write_tree};

use crate::delta::{self, DeltaSummary};
use crate::release::Release;
use crate::{Error, Result};

/// Where things go in the kit and where they come from in the ISO. [`Layout::tails`] is
/// `tails-create-iuk`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Layout {
    /// The root filesystem's squashfs inside a release ISO.
    pub squashfs_in_iso: String,
    /// The directory of the kit that holds the diff squashfs (`overlay/live`).
    pub diff_dir: String,
    /// The diff squashfs's file name (Tails: `Tails_amd64_<from>_to_<to>.squashfs`).
    pub diff_name: String,
    /// The ISO directory of kernels and initrds (`vmlinuz[N]`, `initrd[N].img`) copied when
    /// new or changed, to the same directory under `overlay/`.
    pub kernel_dir: String,
    /// ISO directories copied whole under `overlay/`: (from, to).
    pub boot_dirs: Vec<(String, String)>,
    /// Rename `isolinux.cfg` to `syslinux.cfg` and rewrite `/isolinux/` to `/syslinux/` in the
    /// files of the boot directory copied to `syslinux`.
    pub syslinux: bool,
    /// ISO directories whose names gone from NEW are listed in `control.yml`'s `delete_files`.
    pub delete_dirs: Vec<String>,
}

impl Layout {
    /// `tails-create-iuk`'s layout, with the diff squashfs named `diff_name`.
    pub fn tails(diff_name: &str) -> Self {
        let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        Self {
            squashfs_in_iso: "live/filesystem.squashfs".into(),
            diff_dir: "overlay/live".into(),
            diff_name: diff_name.into(),
            kernel_dir: "live".into(),
            boot_dirs: [("EFI", "EFI"), ("isolinux", "syslinux"), ("utils", "utils")]
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect(),
            syslinux: true,
            delete_dirs: owned(&[
                "EFI",
                "EFI/BOOT",
                "EFI/BOOT/grub",
                "EFI/BOOT/grub/i386-efi",
                "EFI/BOOT/grub/x86_64-efi",
                "EFI/debian",
                "EFI/debian/grub",
                "EFI/debian/grub/i386-efi",
                "EFI/debian/grub/x86_64-efi",
                "isolinux",
                "live",
                "syslinux",
                "tails",
                "utils",
                "utils/mbr",
                "utils/linux",
            ]),
        }
    }

    /// The diff squashfs's path in the kit.
    pub fn diff_path(&self) -> PathBuf {
        Path::new(&self.diff_dir).join(&self.diff_name)
    }
}

/// How to make a kit.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IukOptions {
    /// Every time in the kit (the kit's own entries, `mkfs_time`); NEW's entries must not be
    /// later.
    pub epoch: Epoch,
    /// The diff squashfs's compressor (Tails: xz, x86 BCJ, 1 MiB dictionary).
    pub diff_compression: Compression,
    /// The diff squashfs's block size (Tails: 1 MiB).
    pub diff_block_size: u32,
    /// The kit's compressor (Tails: gensquashfs' default, xz).
    pub kit_compression: Compression,
    /// The kit's block size (Tails: gensquashfs' default, 128 KiB).
    pub kit_block_size: u32,
    /// Where things go.
    pub layout: Layout,
    /// Make a kit even when NEW's filesystem was made before OLD's.
    pub allow_older: bool,
}

impl IukOptions {
    /// Tails' options and layout.
    pub fn new(epoch: Epoch, diff_name: &str) -> Self {
        Self {
            epoch,
            diff_compression: Compression::Xz { dict_size: Some(1 << 20), x86: true },
            diff_block_size: 1 << 20,
            kit_compression: Compression::Xz { dict_size: None, x86: false },
            kit_block_size: 128 << 10,
            layout: Layout::tails(diff_name),
            allow_older: false,
        }
    }

    fn write_options(&self, compression: Compression, block_size: u32, all_root: bool) -> WriteOptions {
        let mut options = WriteOptions::new(self.epoch);
        options.compression = compression;
        options.block_size = block_size;
        // gensquashfs' defaults: no export table, the tails of files larger than a block
        // packed into fragment blocks.
        options.exportable = false;
        options.tail_packing = true;
        options.all_root = all_root;
        options
    }
}

/// What making a kit did.
#[derive(Debug, Clone, Serialize)]
pub struct IukOutcome {
    /// What the diff holds and why.
    pub delta: DeltaSummary,
    /// Entries of the diff squashfs.
    pub diff_entries: usize,
    /// Bytes of the diff squashfs.
    pub diff_bytes: u64,
    /// Data blocks of NEW's files copied into the diff as NEW stores them (NEW's squashfs
    /// written with the diff's compressor, options and block size), not compressed again.
    pub diff_copied_blocks: u64,
    /// Fragment blocks of NEW copied whole into the diff (every file in them is in the diff).
    pub diff_copied_fragments: u32,
    /// Bytes of the kit.
    pub kit_bytes: u64,
    /// `control.yml`'s `delete_files`.
    pub delete_files: Vec<String>,
    /// Kernels and initrds copied (paths in the kit).
    pub kernels: Vec<String>,
    /// Files of the boot directories copied.
    pub boot_files: usize,
}

/// Where the bytes of the kit's files are.
enum Content<'a> {
    Bytes(Vec<u8>),
    Iso(&'a IsoEntry),
    Diff,
}

struct KitFiles<'a> {
    files: BTreeMap<PathBuf, Content<'a>>,
    new: &'a Release,
    /// The diff squashfs.
    diff: Vec<u8>,
    /// How the kit stores it, and the stored bytes of its last block.
    diff_stored: Option<(StoredFile, Vec<u8>)>,
}

/// The diff squashfs as the kit stores it, when it fills a block at least: each block as it is
/// (compressed data, which no compressor makes smaller: trying would cost as long as making
/// the diff did), but the last, which ends with the image's padding of zeros: compressed, as
/// any block.
fn stored_diff(diff: &[u8], compression: Compression, block_size: u32) -> Result<Option<(StoredFile, Vec<u8>)>> {
    let bs = block_size as usize;
    if diff.len() < bs {
        return Ok(None);
    }
    let last_start = (diff.len() - 1) / bs * bs;
    let last = &diff[last_start..];
    let packed = compression.compress_block(last, block_size).map_err(|reason| Error::Squashfs {
        path: PathBuf::from("the kit"),
        source: tamis_squashfs::Error::Compress(reason),
    })?;
    let mut blocks: Vec<u32> = diff[..last_start].chunks(bs).map(|c| c.len() as u32 | DATA_UNCOMPRESSED).collect();
    let last = if let Some(packed) = packed {
        blocks.push(packed.len() as u32);
        packed
    } else {
        blocks.push(last.len() as u32 | DATA_UNCOMPRESSED);
        last.to_vec()
    };
    Ok(Some((StoredFile::new(compression, block_size, diff.len() as u64, blocks, None), last)))
}

impl TreeSource for KitFiles<'_> {
    fn open(&self, path: &Path) -> tamis_squashfs::Result<Box<dyn Read + '_>> {
        let missing = || tamis_squashfs::Error::Corrupt(format!("{}: no contents", path.display()));
        let bytes = match self.files.get(path).ok_or_else(missing)? {
            Content::Bytes(b) => b.clone(),
            Content::Iso(entry) => {
                self.new.iso_read(entry).map_err(|e| tamis_squashfs::Error::Read(std::io::Error::other(e)))?
            }
            Content::Diff => self.diff.clone(),
        };
        Ok(Box::new(Cursor::new(bytes)))
    }

    fn stored(&self, path: &Path) -> tamis_squashfs::Result<Option<StoredFile>> {
        let Some(Content::Diff) = self.files.get(path) else { return Ok(None) };
        Ok(self.diff_stored.as_ref().map(|(file, _)| file.clone()))
    }

    fn stored_data(&self, path: &Path) -> tamis_squashfs::Result<Vec<u8>> {
        let (Some(Content::Diff), Some((file, last))) = (self.files.get(path), &self.diff_stored) else {
            return Err(tamis_squashfs::Error::Corrupt(format!("{}: not stored", path.display())));
        };
        let whole = (file.blocks.len() - 1) * file.block_size as usize;
        let mut data = Vec::with_capacity(whole + last.len());
        data.extend_from_slice(&self.diff[..whole]);
        data.extend_from_slice(last);
        Ok(data)
    }
}

/// `control.yml` as Tails writes it (`YAML::Dump({delete_files => [...]})`).
pub fn control_yml(delete_files: &[String]) -> String {
    if delete_files.is_empty() {
        return "---\ndelete_files: []\n".into();
    }
    let mut out = String::from("---\ndelete_files:\n");
    for f in delete_files {
        let plain = !f.is_empty()
            && f.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/-+".contains(&b))
            && !f.starts_with(['-', '.']);
        if plain {
            let _ = writeln!(out, "  - {f}");
        } else {
            let _ = writeln!(out, "  - '{}'", f.replace('\'', "''"));
        }
    }
    out
}

/// The names in OLD's `dir`s that NEW's lack (`live/filesystem2.squashfs`).
pub fn delete_files(old: &Release, new: &Release, layout: &Layout) -> Vec<String> {
    let mut out = Vec::new();
    for dir in &layout.delete_dirs {
        let names = |r: &Release| -> Vec<Vec<u8>> {
            r.iso_children(dir)
                .iter()
                .map(|e| e.path.rsplit(|&b| b == b'/').next().unwrap_or_default().to_vec())
                .collect()
        };
        let theirs = names(new);
        for name in names(old) {
            if !theirs.contains(&name) {
                out.push(format!("{}/{}", dir.trim_matches('/'), String::from_utf8_lossy(&name)));
            }
        }
    }
    out
}

fn is_kernel(name: &[u8]) -> bool {
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    name.strip_prefix(b"vmlinuz").is_some_and(digits)
        || name.strip_prefix(b"initrd").and_then(|r| r.strip_suffix(b".img")).is_some_and(digits)
}

/// Writes the kit that upgrades OLD to NEW to `out` (empty, at position 0).
pub fn write_kit<W: Write + Seek + Send>(
    old: &Release,
    new: &Release,
    out: W,
    options: &IukOptions,
) -> Result<IukOutcome> {
    if new.made() < old.made() && !options.allow_older {
        return Err(Error::Swapped {
            old: old.path.clone(),
            new: new.path.clone(),
            old_made: old.made(),
            new_made: new.made(),
        });
    }
    let layout = &options.layout;
    if layout.diff_name.is_empty() || layout.diff_name.contains('/') {
        return Err(Error::Options(format!("{:?} is not a file name for the diff squashfs", layout.diff_name)));
    }
    let delta = delta::compute(
        (&old.image, &old.entries, &old.path),
        (&new.image, &new.entries, &new.path),
        options.epoch.secs(),
    )?;
    let source = ImageFiles::new(&new.image, &new.entries);
    let write_error = |source| Error::Squashfs { path: PathBuf::from(&layout.diff_name), source };
    // In memory: the kit holds it whole, and reads it back at once.
    let mut diff_out = Cursor::new(Vec::new());
    let diff_options = options.write_options(options.diff_compression, options.diff_block_size, false);
    let written = write_tree(&delta.entries, &source, &mut diff_out, &diff_options).map_err(write_error)?;
    let diff = diff_out.into_inner();

    // The kit's tree.
    let epoch = options.epoch.secs();
    let mut tree =
        KitTree { entries: Vec::new(), dirs: std::collections::BTreeSet::new(), files: BTreeMap::new(), epoch };
    let delete_files = delete_files(old, new, layout);
    tree.file("FORMAT".into(), 0o644, Content::Bytes(b"2".to_vec()), 1);
    let control = control_yml(&delete_files).into_bytes();
    let len = control.len() as u64;
    tree.file("control.yml".into(), 0o644, Content::Bytes(control), len);
    tree.file(layout.diff_path(), 0o644, Content::Diff, written.image_bytes);
    // `overlay/` itself exists even for a bare squashfs release.
    tree.dir(Path::new("overlay"));

    let mut kernels = Vec::new();
    for n in new.iso_children(&layout.kernel_dir) {
        let name = n.path.rsplit(|&b| b == b'/').next().unwrap_or_default();
        if n.kind != FileKind::File || !is_kernel(name) {
            continue;
        }
        let same = match old.iso_entry(&n.path) {
            Some(o) if o.kind == FileKind::File && o.size == n.size => old.iso_read(o)? == new.iso_read(n)?,
            _ => false,
        };
        if same {
            continue;
        }
        let path = Path::new("overlay").join(&layout.kernel_dir).join(String::from_utf8_lossy(name).as_ref());
        kernels.push(path.display().to_string());
        tree.file(path, go_rx(n.mode, false), Content::Iso(n), n.size);
    }

    let boot_files = add_boot_dirs(&mut tree, new, layout)?;
    let KitTree { mut entries, files, .. } = tree;
    entries.sort_by(|a, b| tamis_core::canonical_cmp(&a.path, &b.path));
    entries.dedup_by(|a, b| a.path == b.path);

    let diff_stored = stored_diff(&diff, options.kit_compression, options.kit_block_size)?;
    let kit_source = KitFiles { files, new, diff, diff_stored };
    let kit_options = options.write_options(options.kit_compression, options.kit_block_size, true);
    let kit = write_tree(&entries, &kit_source, out, &kit_options)
        .map_err(|source| Error::Squashfs { path: PathBuf::from("the kit"), source })?;
    Ok(IukOutcome {
        delta: delta.summary,
        diff_entries: delta.entries.len(),
        diff_bytes: written.image_bytes,
        diff_copied_blocks: written.copied_blocks,
        diff_copied_fragments: written.copied_fragments,
        kit_bytes: kit.image_bytes,
        delete_files,
        kernels,
        boot_files,
    })
}

/// NEW's boot directories under `overlay/`; returns how many files.
fn add_boot_dirs<'a>(tree: &mut KitTree<'a>, new: &'a Release, layout: &Layout) -> Result<usize> {
    let mut boot_files = 0;
    let epoch = tree.epoch;
    if let Some((_, iso_entries)) = &new.iso {
        for (from, to) in &layout.boot_dirs {
            let prefix = format!("/{}/", from.trim_matches('/'));
            let top = prefix.trim_end_matches('/');
            for e in iso_entries {
                let rest =
                    if e.path == top.as_bytes() { Some(&b""[..]) } else { e.path.strip_prefix(prefix.as_bytes()) };
                let Some(rest) = rest else { continue };
                let mut rel = String::from_utf8_lossy(rest).into_owned();
                let renaming = layout.syslinux && to == "syslinux";
                if renaming && rel == "isolinux.cfg" {
                    rel = "syslinux.cfg".into();
                }
                let path = if rel.is_empty() {
                    Path::new("overlay").join(to)
                } else {
                    Path::new("overlay").join(to).join(&rel)
                };
                match e.kind {
                    FileKind::Dir => tree.dir(&path),
                    FileKind::File => {
                        let mut content = Content::Iso(e);
                        let mut size = e.size;
                        if renaming && !rel.contains('/') {
                            let bytes = replace_all(&new.iso_read(e)?, b"/isolinux/", b"/syslinux/");
                            size = bytes.len() as u64;
                            content = Content::Bytes(bytes);
                        }
                        boot_files += 1;
                        tree.file(path, go_rx(e.mode, false), content, size);
                    }
                    FileKind::Symlink => {
                        tree.above(&path);
                        let mut entry = kit_entry(&path, FileKind::Symlink, 0o777, 0, epoch);
                        entry.target = e.target.clone().unwrap_or_default();
                        entry.size = entry.target.len() as u64;
                        tree.entries.push(entry);
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(boot_files)
}

/// The kit's entries as they are added, each directory once.
struct KitTree<'a> {
    entries: Vec<TreeEntry>,
    dirs: std::collections::BTreeSet<PathBuf>,
    files: BTreeMap<PathBuf, Content<'a>>,
    epoch: i64,
}

impl<'a> KitTree<'a> {
    /// The directories above `path`.
    fn above(&mut self, path: &Path) {
        for dir in path.ancestors().skip(1) {
            if self.dirs.insert(dir.to_owned()) {
                self.entries.push(kit_entry(dir, FileKind::Dir, 0o755, 0, self.epoch));
            }
        }
    }

    fn dir(&mut self, path: &Path) {
        self.above(&path.join("x"));
    }

    fn file(&mut self, path: PathBuf, mode: u32, content: Content<'a>, size: u64) {
        self.above(&path);
        self.entries.push(kit_entry(&path, FileKind::File, mode, size, self.epoch));
        self.files.insert(path, content);
    }
}

/// `chmod go+rX`: read for group and others, and search where anyone may execute or a directory.
fn go_rx(mode: u32, dir: bool) -> u32 {
    let x = dir || mode & 0o111 != 0;
    (mode & 0o7777) | 0o044 | if x { 0o011 } else { 0 }
}

fn kit_entry(path: &Path, kind: FileKind, mode: u32, size: u64, epoch: i64) -> TreeEntry {
    TreeEntry {
        path: path.to_owned(),
        kind,
        mode,
        uid: 0,
        gid: 0,
        mtime: epoch,
        size,
        link: None,
        rdev: 0,
        target: Vec::new(),
        xattrs: Vec::new(),
    }
}

fn replace_all(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_yml_is_what_yaml_dump_writes() {
        assert_eq!(control_yml(&[]), "---\ndelete_files: []\n");
        assert_eq!(
            control_yml(&["live/a.squashfs".into(), "EFI/it's".into()]),
            "---\ndelete_files:\n  - live/a.squashfs\n  - 'EFI/it''s'\n"
        );
    }

    #[test]
    fn kernels_are_named_as_tails_matches_them() {
        for yes in ["vmlinuz", "vmlinuz2", "initrd.img", "initrd2.img"] {
            assert!(is_kernel(yes.as_bytes()), "{yes}");
        }
        for no in ["vmlinuz.old", "initrd.img.bak", "initrdx.img", "filesystem.squashfs"] {
            assert!(!is_kernel(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn syslinux_paths_are_rewritten() {
        assert_eq!(
            replace_all(b"KERNEL /isolinux/vesamenu.c32 /isolinux/", b"/isolinux/", b"/syslinux/"),
            b"KERNEL /syslinux/vesamenu.c32 /syslinux/".to_vec()
        );
        assert_eq!(go_rx(0o600, false), 0o644);
        assert_eq!(go_rx(0o700, false), 0o755);
    }
}
