//! Inputs of a comparison: anything that can give a manifest and, where it has them, the bytes
//! of a file.
//!
//! An input is a directory (a root filesystem), a manifest file written by `tamis manifest`, or
//! an image, recognised by [`open`] from its first bytes: a squashfs image
//! ([`crate::squashfs`], `hsqs`), an ISO 9660 image ([`crate::iso`], `CD001` at 32769), an
//! initramfs or cpio file (`070701`, or a compressed stream holding cpio archives:
//! [`crate::cpio`]), a disk image with FAT partitions or a bare FAT file system ([`crate::disk`],
//! 0x55AA at 510). Further image readers plug in here as implementations of [`Input`].

use std::io::{BufReader, Read as _};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use tamis_core::Root;

use crate::{Cause, Error, Manifest, Result};

/// Something to compare. See the [module documentation](self).
pub trait Input: Send + Sync {
    /// The input as the user named it, for messages.
    fn name(&self) -> &Path;

    /// Its manifest, entries in the canonical order.
    fn manifest(&self) -> Result<Manifest>;

    /// The bytes of the regular file at `path` (as a manifest writes it: `/etc/hostname`), or
    /// `None` when this input only knows the file's hash (a manifest file).
    fn contents(&self, path: &str) -> Result<Option<Vec<u8>>>;

    /// What makes two entries differ in their mtime only, hence which stage removes it: the
    /// `mtime` stage for a tree and for images that copy the tree's times; an archive that
    /// records times of its own says so.
    fn mtime_cause(&self) -> Cause {
        Cause::MtimeOnly
    }

    /// The tree, when this input is a directory: two directories are compared without hashing
    /// the files that differ in size ([`crate::Comparison::of`]).
    fn directory(&self) -> Option<&Root> {
        None
    }
}

/// A directory, read beneath a [`Root`] (no link is ever followed).
#[derive(Debug)]
pub struct DirectoryInput {
    root: Root,
    only: Option<std::sync::Arc<Vec<PathBuf>>>,
}

impl DirectoryInput {
    /// The tree beneath `root`.
    pub fn new(root: Root) -> Self {
        Self { root, only: None }
    }

    /// Only the entries at `paths` (relative, `""` for the root) of the tree beneath `root`:
    /// for two trees known to differ at most there (what overlays' upper directories hold).
    pub fn only(root: Root, paths: std::sync::Arc<Vec<PathBuf>>) -> Self {
        Self { root, only: Some(paths) }
    }
}

impl Input for DirectoryInput {
    fn name(&self) -> &Path {
        self.root.path()
    }

    fn manifest(&self) -> Result<Manifest> {
        match &self.only {
            None => Manifest::of_tree(&self.root),
            Some(paths) => Ok(Manifest::of_paths(&self.root, paths)),
        }
    }

    fn contents(&self, path: &str) -> Result<Option<Vec<u8>>> {
        Ok(Some(self.root.read(&entry_path(path))?))
    }

    /// Only a whole tree: a tree seen through [`DirectoryInput::only`] is compared by the
    /// manifest of those paths (the fast comparison of two directories walks all of them).
    fn directory(&self) -> Option<&Root> {
        self.only.is_none().then_some(&self.root)
    }
}

/// A manifest file: the metadata and hashes of a tree, without its bytes.
#[derive(Debug)]
pub struct ManifestFileInput {
    path: PathBuf,
    manifest: Manifest,
}

impl ManifestFileInput {
    /// Reads the manifest file at `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let file = tamis_core::open_regular_file(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            op: "open",
            source,
        })?;
        let manifest = Manifest::read_json_lines(BufReader::new(file), path)?;
        Ok(Self { path: path.to_owned(), manifest })
    }
}

impl Input for ManifestFileInput {
    fn name(&self) -> &Path {
        &self.path
    }

    fn manifest(&self) -> Result<Manifest> {
        Ok(self.manifest.clone())
    }

    fn contents(&self, _path: &str) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

/// Whether a file starting with `bytes` is an image an [`Input`] reads (not a manifest file).
/// `bytes` must hold the file's first 32774 bytes (or all of a shorter file) for an ISO image
/// to be recognised.
pub fn is_image(bytes: &[u8]) -> bool {
    bytes.starts_with(b"hsqs")
        || crate::iso::sniff(bytes)
        || crate::cpio::CpioInput::sniff(bytes)
        || crate::disk::sniff(bytes)
}

/// The input at `path`: a directory, or a file recognised by its first bytes.
pub fn open(path: &Path) -> Result<Box<dyn Input>> {
    let io = |op, source| Error::Io { path: path.to_owned(), op, source };
    let meta = std::fs::metadata(path).map_err(|e| io("stat", e))?;
    if meta.is_dir() {
        return Ok(Box::new(DirectoryInput::new(Root::open(path)?)));
    }
    // 32774 bytes: enough for an ISO 9660 image's `CD001` at byte 32769.
    let mut start = vec![0u8; 32774];
    // Not a directory: a regular file, never a FIFO (whose open would block) nor a device.
    let mut file = tamis_core::open_regular_file(path).map_err(|e| io("open", e))?;
    let mut len = 0;
    while len < start.len() {
        match file.read(&mut start[len..]).map_err(|e| io("read", e))? {
            0 => break,
            n => len += n,
        }
    }
    if Manifest::sniff(&start[..len]) {
        return Ok(Box::new(ManifestFileInput::read(path)?));
    }
    if start[..len].starts_with(b"hsqs") {
        return Ok(Box::new(crate::squashfs::SquashfsInput::open(path)?));
    }
    if crate::iso::sniff(&start[..len]) {
        return Ok(Box::new(crate::iso::IsoInput::open(path)?));
    }
    if crate::cpio::CpioInput::sniff(&start[..len]) {
        return Ok(Box::new(crate::cpio::CpioInput::read(path)?));
    }
    if crate::disk::sniff(&start[..len]) {
        return Ok(Box::new(crate::disk::DiskInput::open(path)?));
    }
    Err(Error::UnknownInput { path: path.to_owned() })
}

/// A manifest path (`/etc/x`, written by [`tamis_core::display_path`]) as a path inside a root.
fn entry_path(path: &str) -> PathBuf {
    PathBuf::from(std::ffi::OsStr::from_bytes(&tamis_core::parse_display_bytes(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_paths_map_back_to_names() {
        assert_eq!(entry_path("/etc/hostname"), Path::new("/etc/hostname"));
        let raw = PathBuf::from(std::ffi::OsStr::from_bytes(b"/a\xff"));
        assert_eq!(entry_path(&tamis_core::display_path(&raw)), raw);
    }

    #[test]
    fn only_some_paths_give_those_entries_of_the_whole_manifest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/sub")).unwrap();
        std::fs::write(dir.path().join("etc/a"), "a").unwrap();
        std::fs::write(dir.path().join("etc/sub/b"), "b").unwrap();
        std::fs::write(dir.path().join("z"), "z").unwrap();
        let whole = DirectoryInput::new(Root::open(dir.path()).unwrap()).manifest().unwrap();
        // Given out of order, with a duplicate and a path that does not exist (removed).
        let paths = ["z", "etc/sub/b", "", "etc/gone", "etc/sub/b"].map(PathBuf::from).to_vec();
        let only = DirectoryInput::only(Root::open(dir.path()).unwrap(), std::sync::Arc::new(paths));
        let some = only.manifest().unwrap();
        let expected: Vec<_> =
            whole.entries.iter().filter(|e| ["/", "/etc/sub/b", "/z"].contains(&e.path.as_str())).cloned().collect();
        assert_eq!(some.entries, expected);
        assert!(some.problems.is_empty());
    }

    #[test]
    fn two_trees_seen_through_some_paths_compare_only_there() {
        let dir = tempfile::tempdir().unwrap();
        for side in ["a", "b"] {
            std::fs::create_dir_all(dir.path().join(side).join("etc")).unwrap();
            let same = dir.path().join(side).join("etc/same");
            std::fs::write(&same, "same").unwrap();
            // Written a moment apart, the two files could differ by the second they were
            // written in: one fixed time for both.
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(2_000_000_000);
            std::fs::File::options().write(true).open(&same).unwrap().set_modified(t).unwrap();
            // Differs, but outside the paths given: not part of the comparison.
            std::fs::write(dir.path().join(side).join(format!("outside-{side}")), side).unwrap();
        }
        let paths = std::sync::Arc::new(["etc/same"].map(PathBuf::from).to_vec());
        let only = |side: &str| DirectoryInput::only(Root::open(dir.path().join(side)).unwrap(), paths.clone());
        let comparison = crate::Comparison::of(&only("a"), &only("b"), false).unwrap();
        assert!(comparison.identical(), "{:?}", comparison.differences);
    }
}
