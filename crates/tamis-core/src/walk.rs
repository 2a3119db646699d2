//! The deterministic walk: every entry of a tree, in the canonical order, whatever the order
//! in which the file system returns names and however many threads list it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rustix::fs::{self as rfs, AtFlags, OFlags};
use serde::Serialize;

use crate::{Error, Problem, Result, Root, Timestamp, display_path};

/// The type of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
}

impl FileKind {
    /// The type encoded in a `st_mode`.
    pub fn from_mode(mode: u32) -> Self {
        match rfs::FileType::from_raw_mode(mode) {
            rfs::FileType::Directory => Self::Dir,
            rfs::FileType::Symlink => Self::Symlink,
            rfs::FileType::CharacterDevice => Self::CharDevice,
            rfs::FileType::BlockDevice => Self::BlockDevice,
            rfs::FileType::Fifo => Self::Fifo,
            rfs::FileType::Socket => Self::Socket,
            // `Unknown` cannot come from a real st_mode; count it as a file rather than panic.
            _ => Self::File,
        }
    }

    /// The type as a noun, for messages: "regular file", "symbolic link".
    pub fn noun(self) -> &'static str {
        match self {
            Self::File => "regular file",
            Self::Dir => "directory",
            Self::Symlink => "symbolic link",
            Self::CharDevice => "character device",
            Self::BlockDevice => "block device",
            Self::Fifo => "named pipe",
            Self::Socket => "socket",
        }
    }
}

/// What `lstat` says of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Metadata {
    /// The type.
    pub kind: FileKind,
    /// Permission bits, set-id and sticky bits included (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes (of the link text, for a link).
    pub size: u64,
    /// Modification time.
    pub mtime: Timestamp,
    /// Access time.
    pub atime: Timestamp,
    /// Number of hard links.
    pub nlink: u64,
    /// Device of the file system holding the entry.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Device number, for device nodes.
    pub rdev: u64,
}

impl Metadata {
    #[allow(clippy::useless_conversion, reason = "st_nlink is u32 on some architectures")]
    pub(crate) fn from_stat(st: &rfs::Stat) -> Self {
        Self {
            kind: FileKind::from_mode(st.st_mode),
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size: st.st_size as u64,
            mtime: Timestamp { secs: st.st_mtime, nanos: st.st_mtime_nsec as u32 },
            atime: Timestamp { secs: st.st_atime, nanos: st.st_atime_nsec as u32 },
            nlink: u64::from(st.st_nlink),
            dev: st.st_dev,
            ino: st.st_ino,
            rdev: st.st_rdev,
        }
    }
}

/// One entry of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path inside the root, without a leading `/`; empty for the root itself.
    pub path: PathBuf,
    /// Its metadata at the time of the walk.
    pub meta: Metadata,
}

/// A tree as walked: entries in the canonical order, and what could not be walked.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    entries: Vec<Entry>,
    problems: Vec<Problem>,
    mount_points: Vec<PathBuf>,
    /// Indexes of the entries of each multiply-linked non-directory inode, by (dev, ino).
    links: BTreeMap<(u64, u64), Vec<usize>>,
}

impl Tree {
    /// Every entry, the root first, in the canonical order ([`canonical_cmp`](crate::canonical_cmp)).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Directories that could not be listed, entries that vanished during the walk, and mount
    /// points (whose contents, and whose own directory in the image, are hidden by the mount).
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Directories on another file system (`/proc`, `/dev` of a chroot in use), listed here and
    /// neither entered nor included in [`entries`](Self::entries).
    pub fn mount_points(&self) -> &[PathBuf] {
        &self.mount_points
    }

    /// The entry at `path`, if the walk saw it.
    pub fn get(&self, path: &Path) -> Option<&Entry> {
        self.entries.binary_search_by(|e| crate::canonical_cmp(&e.path, path)).ok().map(|i| &self.entries[i])
    }

    /// The other names of a hard-linked entry (empty for an entry with one name), in the
    /// canonical order: what [`Root::replace`] needs to keep the link group whole.
    ///
    /// A link from outside the root cannot be listed: such an entry has more links than names
    /// here, and `replace` refuses it rather than split the group.
    pub fn hardlinks(&self, entry: &Entry) -> Vec<&Path> {
        if entry.meta.nlink < 2 || entry.meta.kind == FileKind::Dir {
            return Vec::new();
        }
        self.links
            .get(&(entry.meta.dev, entry.meta.ino))
            .into_iter()
            .flatten()
            .map(|&i| self.entries[i].path.as_path())
            .filter(|p| *p != entry.path)
            .collect()
    }
}

/// What listing one directory found.
enum Found {
    Entry(Entry),
    Problem(Problem),
    MountPoint(PathBuf),
}

impl Root {
    /// Walks the whole tree: every entry beneath the root, the root first, in the canonical
    /// order. Links are listed, never followed; other file systems mounted inside are not
    /// entered. Directories are listed in parallel (rayon's current pool) and the results merged
    /// in order, so the result is the same for any thread count and any `readdir` order.
    pub fn walk(&self) -> Result<Tree> {
        let st = rfs::fstat(self.fd()).map_err(|e| Error::io("", "stat", e))?;
        let mut tree =
            Tree { entries: vec![Entry { path: PathBuf::new(), meta: Metadata::from_stat(&st) }], ..Tree::default() };
        for found in walk_dir(self.fd(), Path::new(""), self.dev()) {
            match found {
                Found::Entry(entry) => tree.entries.push(entry),
                Found::Problem(problem) => tree.problems.push(problem),
                Found::MountPoint(path) => {
                    let reason = format!("{}: another file system is mounted here; not entered", display_path(&path));
                    tree.problems.push(Problem { path: path.clone(), reason });
                    tree.mount_points.push(path);
                }
            }
        }
        for (i, entry) in tree.entries.iter().enumerate() {
            if entry.meta.nlink > 1 && entry.meta.kind != FileKind::Dir {
                tree.links.entry((entry.meta.dev, entry.meta.ino)).or_default().push(i);
            }
        }
        Ok(tree)
    }
}

/// The names in a directory, sorted by their bytes. The directory is read without updating its
/// access time where the system allows it (owner or root), so that walking a tree leaves it
/// exactly as it was.
fn sorted_names(dir: BorrowedFd<'_>) -> std::io::Result<Vec<OsString>> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = match rfs::openat(dir, ".", flags | OFlags::NOATIME, rfs::Mode::empty()) {
        Err(rustix::io::Errno::PERM) => rfs::openat(dir, ".", flags, rfs::Mode::empty())?,
        other => other?,
    };
    let mut names = Vec::new();
    for item in rfs::Dir::new(fd)? {
        let item = item?;
        let name = item.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsString::from(std::ffi::OsStr::from_bytes(name)));
        }
    }
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

fn walk_dir(dir: BorrowedFd<'_>, path: &Path, dev: u64) -> Vec<Found> {
    let names = match sorted_names(dir) {
        Ok(names) => names,
        Err(e) => return vec![Found::Problem(Problem::from_error(path, &Error::io(path, "list directory", e)))],
    };
    names
        .into_par_iter()
        .flat_map_iter(|name| {
            let child = path.join(&name);
            let st = match rfs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(e) => return vec![Found::Problem(Problem::from_error(&child, &Error::io(&child, "stat", e)))],
            };
            let meta = Metadata::from_stat(&st);
            if meta.kind != FileKind::Dir {
                return vec![Found::Entry(Entry { path: child, meta })];
            }
            if meta.dev != dev {
                return vec![Found::MountPoint(child)];
            }
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let opened =
                rfs::openat(dir, &name, flags, rfs::Mode::empty()).map_err(std::io::Error::from).and_then(|fd| {
                    // The name must still be the directory that was stat'ed, not a replacement.
                    let again = rfs::fstat(&fd)?;
                    if (again.st_dev, again.st_ino) == (st.st_dev, st.st_ino) {
                        Ok(fd)
                    } else {
                        Err(std::io::Error::other("replaced while being walked"))
                    }
                });
            let mut found = vec![Found::Entry(Entry { path: child.clone(), meta })];
            match opened {
                Ok(fd) => found.extend(walk_dir(fd.as_fd(), &child, dev)),
                Err(e) => {
                    found.push(Found::Problem(Problem::from_error(&child, &Error::io(&child, "open directory", e))));
                }
            }
            found
        })
        .collect()
}
