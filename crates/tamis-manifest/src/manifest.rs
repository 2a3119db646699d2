//! The manifest of a tree: building it in parallel, its digest, JSON Lines out and in.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, Read as _, Write};
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tamis_core::{Directory, Entry, FileKind, Problem, Root, Timestamp, Tree, display_path};

use crate::{Error, Result};

/// The version of the JSON Lines format written by [`Manifest::write_json_lines`]. A reader
/// refuses any other: a manifest compared under the wrong rules would give a wrong answer.
pub const FORMAT_VERSION: u32 = 1;

/// One entry of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// The path inside the tree, as the image sees it (`/etc/hostname`).
    pub path: String,
    /// The type.
    pub kind: FileKind,
    /// Permission, set-id and sticky bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes (files and links).
    pub size: u64,
    /// Modification time.
    pub mtime: Timestamp,
    /// A link's target, as stored, its bytes written the way a path is (`tamis_core::display_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A device node's number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdev: Option<u64>,
    /// Extended attributes of the entry itself (`security.capability`, ACLs, `SELinux` labels):
    /// name → value in lowercase hex, sorted by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub xattrs: BTreeMap<String, String>,
    /// SHA-256 of a regular file's contents, in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl ManifestEntry {
    /// What makes this entry impossible in a tree, if anything: the path must be `/` or
    /// absolute with no empty, `.` or `..` name and no NUL; nanoseconds below 10^9; the mode
    /// only permission, set-id and sticky bits.
    fn check(&self) -> std::result::Result<(), String> {
        let path = &self.path;
        if path != "/" {
            let Some(names) = path.strip_prefix('/') else {
                return Err(format!("path {path:?} is not absolute"));
            };
            if let Some(bad) = names.split('/').find(|n| n.is_empty() || *n == "." || *n == "..") {
                let what = if bad.is_empty() { "a doubled or trailing slash" } else { "a . or .. name" };
                return Err(format!("path {path:?} has {what}"));
            }
        }
        if path.contains('\0') {
            return Err(format!("path {path:?} holds a NUL byte"));
        }
        if self.mtime.nanos >= 1_000_000_000 {
            return Err(format!("{path}: mtime nanoseconds {} out of range (0 to 999999999)", self.mtime.nanos));
        }
        if self.mode > 0o7777 {
            return Err(format!(
                "{path}: mode {:o} out of range (permission, set-id and sticky bits: 0 to 7777)",
                self.mode
            ));
        }
        Ok(())
    }
}

/// The first line of a manifest file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    #[serde(rename = "tamis-manifest")]
    version: u32,
}

/// Every entry of a tree, in the canonical order, and the entries that could not be read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Manifest {
    /// The entries.
    pub entries: Vec<ManifestEntry>,
    /// Entries that could not be read (they are missing from `entries`).
    pub problems: Vec<Problem>,
}

impl Manifest {
    /// The manifest of the tree beneath `root`.
    ///
    /// The walk gives the canonical order; entries are then described in parallel (rayon's
    /// indexed collect keeps that order), so the result does not depend on the thread count.
    pub fn of_tree(root: &Root) -> Result<Self> {
        Ok(Self::of_walk(root, &root.walk()?, |_| true))
    }

    /// The manifest of `tree`, a walk of `root`, hashing only the regular files at the indexes
    /// for which `hash` says so (the others have no `sha256`): a comparison that already knows
    /// two files differ (their sizes do) need not read them.
    ///
    /// Each directory is opened once for all of its entries, which are then described in
    /// parallel; each file is opened once, for its attributes and its bytes.
    pub(crate) fn of_walk(root: &Root, tree: &Tree, hash: impl Fn(usize) -> bool + Sync) -> Self {
        let entries = tree.entries();
        let mut by_parent: BTreeMap<&Path, Vec<usize>> = BTreeMap::new();
        for (i, entry) in entries.iter().enumerate().skip(1) {
            by_parent.entry(entry.path.parent().unwrap_or(Path::new(""))).or_default().push(i);
        }
        let mut described: Vec<(usize, std::result::Result<ManifestEntry, Problem>)> = by_parent
            .into_par_iter()
            .flat_map(|(parent, items)| match root.directory(parent) {
                Ok(dir) => items.into_par_iter().map(|i| (i, describe(&dir, &entries[i], hash(i)))).collect::<Vec<_>>(),
                Err(e) => items.into_iter().map(|i| (i, Err(Problem::from_error(&entries[i].path, &e)))).collect(),
            })
            .collect();
        if let Some(top) = entries.first() {
            described.push((0, describe_root(root, top)));
        }
        // Back in the walk's order, whatever the threads did.
        described.sort_unstable_by_key(|(i, _)| *i);
        let mut manifest = Self { entries: Vec::with_capacity(entries.len()), problems: tree.problems().to_vec() };
        for (_, item) in described {
            match item {
                Ok(entry) => manifest.entries.push(entry),
                Err(problem) => manifest.problems.push(problem),
            }
        }
        manifest
    }

    /// The manifest of the entries at `paths` (relative, `""` for the root) beneath `root`, in
    /// the canonical order: for a tree known to differ from another only there (an overlay's
    /// upper directory lists what was written). A path that does not exist is left out.
    pub fn of_paths(root: &Root, paths: &[std::path::PathBuf]) -> Self {
        let mut paths: Vec<&Path> = paths.iter().map(std::path::PathBuf::as_path).collect();
        paths.sort_by(|a, b| tamis_core::canonical_cmp(a, b));
        paths.dedup();
        let described: Vec<Option<std::result::Result<ManifestEntry, Problem>>> = paths
            .par_iter()
            .map(|path| match root.try_lstat(path) {
                Ok(None) => None,
                Ok(Some(meta)) => {
                    let entry = tamis_core::Entry { path: path.to_path_buf(), meta };
                    Some(match path.parent() {
                        None => describe_root(root, &entry),
                        Some(parent) => match root.directory(parent) {
                            Ok(dir) => describe(&dir, &entry, true),
                            Err(e) => Err(Problem::from_error(path, &e)),
                        },
                    })
                }
                Err(e) => Some(Err(Problem::from_error(path, &e))),
            })
            .collect();
        let mut manifest = Self::default();
        for item in described.into_iter().flatten() {
            match item {
                Ok(entry) => manifest.entries.push(entry),
                Err(problem) => manifest.problems.push(problem),
            }
        }
        manifest
    }

    /// One SHA-256 for the whole manifest: equal digests mean equal trees.
    ///
    /// # Panics
    /// Never: an entry is plain data that always serialises.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for entry in &self.entries {
            let line = serde_json::to_vec(entry).expect("a manifest entry always serialises");
            hasher.update(&line);
            hasher.update(b"\n");
        }
        hex(&hasher.finalize())
    }

    /// Writes the manifest as JSON Lines: a header line `{"tamis-manifest":1}`, then one entry
    /// per line, in the canonical order.
    pub fn write_json_lines(&self, mut out: impl Write) -> std::io::Result<()> {
        serde_json::to_writer(&mut out, &Header { version: FORMAT_VERSION })?;
        out.write_all(b"\n")?;
        for entry in &self.entries {
            serde_json::to_writer(&mut out, entry)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Reads a manifest written by [`write_json_lines`](Self::write_json_lines); `path` is for
    /// messages. Entries are put back in the canonical order whatever the file's order.
    pub fn read_json_lines(input: impl BufRead, path: &Path) -> Result<Self> {
        let mut entries = Vec::new();
        let mut lines = input.lines().enumerate();
        let io = |source| Error::Io { path: path.to_owned(), op: "read", source };
        let parse = |line: usize, source| Error::Parse { path: path.to_owned(), line: line + 1, source };
        let Some((n, header)) = lines.next() else {
            return Err(Error::UnknownInput { path: path.to_owned() });
        };
        let header: Header = serde_json::from_str(&header.map_err(io)?).map_err(|e| parse(n, e))?;
        if header.version != FORMAT_VERSION {
            return Err(Error::Version { path: path.to_owned(), found: header.version, expected: FORMAT_VERSION });
        }
        for (n, line) in lines {
            let line = line.map_err(io)?;
            if line.is_empty() {
                continue;
            }
            let entry = serde_json::from_str::<ManifestEntry>(&line).map_err(|e| parse(n, e))?;
            entry.check().map_err(|reason| Error::Entry { path: path.to_owned(), line: n + 1, reason })?;
            entries.push((n + 1, entry));
        }
        entries.sort_by(|(_, a), (_, b)| tamis_core::canonical_cmp(Path::new(&a.path), Path::new(&b.path)));
        if let Some([(a, entry), (b, _)]) = entries.windows(2).find(|w| w[0].1.path == w[1].1.path) {
            return Err(Error::Entry {
                path: path.to_owned(),
                line: *a.max(b),
                reason: format!("{} is listed twice (also on line {})", entry.path, a.min(b)),
            });
        }
        Ok(Self { entries: entries.into_iter().map(|(_, e)| e).collect(), problems: Vec::new() })
    }

    /// Whether `first_bytes` (the start of a file) look like a manifest file.
    pub fn sniff(first_bytes: &[u8]) -> bool {
        first_bytes.starts_with(b"{\"tamis-manifest\":")
    }
}

/// The entry of the tree's top directory (the root itself, or a subtree's top).
fn describe_root(root: &Root, entry: &Entry) -> std::result::Result<ManifestEntry, Problem> {
    let xattrs = root.xattrs(&entry.path).map_err(|e| Problem::from_error(&entry.path, &e))?;
    Ok(manifest_entry(entry, None, xattrs, None))
}

/// The entry `entry` of the directory `dir`, its file hashed if `hash`.
fn describe(dir: &Directory<'_>, entry: &Entry, hash: bool) -> std::result::Result<ManifestEntry, Problem> {
    let path = &entry.path;
    let problem = |e: &dyn std::error::Error| Problem::from_error(path, e);
    let name = path.file_name().unwrap_or_default();
    let kind = entry.meta.kind;
    let target = match kind {
        FileKind::Symlink => {
            Some(tamis_core::display_bytes(dir.read_link(name).map_err(|e| problem(&e))?.as_os_str().as_bytes()))
        }
        _ => None,
    };
    let (sha256, xattrs) = if kind == FileKind::File {
        // One open for both: the bytes and the attributes come from the same inode.
        let file = dir.open_regular(name).map_err(|e| problem(&e))?;
        let attrs = tamis_core::fd_xattrs(&file).map_err(|e| {
            problem(&tamis_core::Error::Io { path: path.clone(), op: "read extended attributes of", source: e })
        })?;
        let sha256 = if hash { Some(hash_file(file, path).map_err(|e| problem(&e))?) } else { None };
        (sha256, attrs)
    } else {
        (None, dir.xattrs(name, kind).map_err(|e| problem(&e))?)
    };
    Ok(manifest_entry(entry, target, xattrs, sha256))
}

fn manifest_entry(
    entry: &Entry,
    target: Option<String>,
    raw_xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    sha256: Option<String>,
) -> ManifestEntry {
    let meta = &entry.meta;
    let rdev = matches!(meta.kind, FileKind::CharDevice | FileKind::BlockDevice).then_some(meta.rdev);
    ManifestEntry {
        path: display_path(&entry.path),
        kind: meta.kind,
        mode: meta.mode,
        uid: meta.uid,
        gid: meta.gid,
        size: if meta.kind == FileKind::Dir { 0 } else { meta.size },
        mtime: meta.mtime,
        target,
        rdev,
        xattrs: raw_xattrs.into_iter().map(|(name, value)| (xattr_name(&name), hex(&value))).collect(),
        sha256,
    }
}

/// An attribute name as text: UTF-8 as is (they always are in practice), other bytes `\xNN`.
pub(crate) fn xattr_name(name: &[u8]) -> String {
    display_path(Path::new(std::ffi::OsStr::from_bytes(name))).split_off(1)
}

fn hash_file(mut file: std::fs::File, path: &Path) -> tamis_core::Result<String> {
    thread_local! {
        // One buffer per worker: a fresh 256 KiB buffer per file costs more than hashing the
        // many small files of a root filesystem.
        static BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 256 * 1024]);
    }
    BUFFER.with_borrow_mut(|buf| {
        let mut hasher = Sha256::new();
        loop {
            let n =
                file.read(buf).map_err(|e| tamis_core::Error::Io { path: path.to_owned(), op: "read", source: e })?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hex(&hasher.finalize()))
    })
}

/// Bytes in lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        write!(s, "{b:02x}").expect("writing to a String cannot fail");
        s
    })
}
