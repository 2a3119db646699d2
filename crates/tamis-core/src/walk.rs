//! The deterministic walk: every entry of a tree, in the canonical order, whatever the order
//! in which the file system returns names and however many threads list it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rustix::fs::{self as rfs, OFlags};
use serde::{Deserialize, Serialize};

use crate::mount::Mount;
use crate::{Error, Links, Problem, Result, Root, Timestamp, display_path};

/// The type of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

/// The device number Linux's `stat` gives for a major and a minor number (glibc's `makedev`):
/// image formats store the two numbers, a tree's manifest the `st_rdev` they make.
pub const fn makedev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (major as u64, minor as u64);
    ((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff)
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

    pub(crate) fn from_statx(stx: &rfs::Statx) -> Self {
        Self {
            kind: FileKind::from_mode(u32::from(stx.stx_mode)),
            mode: u32::from(stx.stx_mode) & 0o7777,
            uid: stx.stx_uid,
            gid: stx.stx_gid,
            size: stx.stx_size,
            mtime: Timestamp { secs: stx.stx_mtime.tv_sec, nanos: stx.stx_mtime.tv_nsec },
            atime: Timestamp { secs: stx.stx_atime.tv_sec, nanos: stx.stx_atime.tv_nsec },
            nlink: u64::from(stx.stx_nlink),
            dev: makedev(stx.stx_dev_major, stx.stx_dev_minor),
            ino: stx.stx_ino,
            rdev: makedev(stx.stx_rdev_major, stx.stx_rdev_minor),
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
    /// Whether this is a walk of the whole root that listed every directory, so that the names
    /// it found for an inode are all the names the tree has.
    whole: bool,
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
    /// canonical order. A list as long as the group: call it once per group, not once per name.
    ///
    /// A link from outside the root cannot be listed: such an entry has more links than names
    /// here.
    pub fn hardlinks(&self, entry: &Entry) -> Vec<&Path> {
        self.group(entry).iter().map(|&i| self.entries[i].path.as_path()).filter(|p| *p != entry.path).collect()
    }

    /// What an operation changing `entry`'s inode needs to know of its other names
    /// ([`Links`]): the names listed by [`hardlinks`](Self::hardlinks) and, for a walk of the
    /// whole root that listed every directory, the knowledge that they are all the tree's — so
    /// that links beyond them are links from outside, which [`Root`]'s operations never change
    /// (they give the tree's names an inode of their own). A walk of a subtree
    /// ([`Root::walk_under`]) gives names that may not be all of them: an operation refuses an
    /// inode with more links than those names rather than split its group.
    ///
    /// As long as the group: call it once per group ([`is_first_name`](Self::is_first_name)).
    pub fn links(&self, entry: &Entry) -> Links {
        if entry.meta.kind == FileKind::Dir {
            return Links::unknown();
        }
        let others = self.hardlinks(entry).into_iter().map(Path::to_owned).collect();
        if self.whole { Links::whole(others, entry.meta.nlink) } else { Links::of_part(others) }
    }

    /// Whether `entry` is the first name of its inode in the canonical order (always so for a
    /// directory or an entry with one name): the one name under which a stage handles a group,
    /// so that a group of N names costs N, not N². Constant time.
    pub fn is_first_name(&self, entry: &Entry) -> bool {
        self.group(entry).first().is_none_or(|&i| self.entries[i].path == entry.path)
    }

    /// Whether the walk was of the whole root and listed every directory: then the names of an
    /// inode it found are all the names that inode has in the tree.
    pub fn is_whole(&self) -> bool {
        self.whole
    }

    /// The indexes of the names of `entry`'s inode (empty for one not hard-linked).
    fn group(&self, entry: &Entry) -> &[usize] {
        if entry.meta.nlink < 2 || entry.meta.kind == FileKind::Dir {
            return &[];
        }
        self.links.get(&(entry.meta.dev, entry.meta.ino)).map_or(&[], Vec::as_slice)
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
        self.walk_under(Path::new(""))
    }

    /// Walks the subtree at `rel` (a directory beneath the root) as [`walk`](Self::walk) walks
    /// the whole tree: `rel` first, then everything beneath it, with paths inside the root.
    /// Hard links are grouped only among the entries of the subtree: [`Tree::links`] of such a
    /// walk never lets an operation take a name elsewhere in the tree for a link from outside.
    pub fn walk_under(&self, rel: &Path) -> Result<Tree> {
        let rel: PathBuf = crate::path::split(rel)?.into_iter().collect();
        let dir = self.open_dir(&rel)?;
        let st = rfs::fstat(&dir).map_err(|e| Error::io(&rel, "stat", e))?;
        let mut tree =
            Tree { entries: vec![Entry { path: rel.clone(), meta: Metadata::from_stat(&st) }], ..Tree::default() };
        let top = open_for_listing(dir.as_fd(), std::ffi::OsStr::new(".")).map_err(|e| Error::io(&rel, "open", e))?;
        let listing = walk_dir(top, &rel, self.mount());
        let mut found = Vec::with_capacity(listing.len());
        listing.flatten_into(&mut found);
        tree.entries.reserve(found.len());
        tree.whole = rel.as_os_str().is_empty();
        for found in found {
            match found {
                Found::Entry(entry) => tree.entries.push(entry),
                Found::Problem(problem) => {
                    // A directory not listed, an entry not stat'ed: names of an inode may hide there.
                    tree.whole = false;
                    tree.problems.push(problem);
                }
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

/// Flags of a directory opened for listing. `NOATIME` where the system allows it (owner or
/// root), so that walking a tree leaves its access times as they were.
const LIST_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

fn open_for_listing(dir: BorrowedFd<'_>, name: &std::ffi::OsStr) -> rustix::io::Result<OwnedFd> {
    match rfs::openat(dir, name, LIST_FLAGS | OFlags::NOATIME, rfs::Mode::empty()) {
        Err(rustix::io::Errno::PERM) => rfs::openat(dir, name, LIST_FLAGS, rfs::Mode::empty()),
        other => other,
    }
}

/// The names in a directory, sorted by their bytes; the directory is consumed.
fn sorted_names(dir: &mut rfs::Dir) -> std::io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for item in dir {
        let item = item?;
        let name = item.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsString::from(std::ffi::OsStr::from_bytes(name)));
        }
    }
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// What one directory holds: its entries in order, and the listing of each subdirectory with
/// the position in `here` after which it belongs. Flattened once at the end, so that each entry
/// is moved once whatever the depth of the tree.
struct Listing {
    here: Vec<Found>,
    subdirs: Vec<(usize, Listing)>,
}

impl Listing {
    fn problem(path: &Path, op: &'static str, e: impl Into<std::io::Error>) -> Self {
        let problem = Problem::from_error(path, &Error::io(path, op, e));
        Self { here: vec![Found::Problem(problem)], subdirs: Vec::new() }
    }

    fn len(&self) -> usize {
        self.here.len() + self.subdirs.iter().map(|(_, sub)| sub.len()).sum::<usize>()
    }

    fn flatten_into(self, out: &mut Vec<Found>) {
        let mut here = self.here.into_iter();
        let mut taken = 0;
        for (at, sub) in self.subdirs {
            out.extend(here.by_ref().take(at - taken));
            taken = at;
            sub.flatten_into(out);
        }
        out.extend(here);
    }
}

/// Lists the directory open as `fd` (at `path`) and everything beneath it.
fn walk_dir(fd: OwnedFd, path: &Path, mount: Mount) -> Listing {
    let listed = rfs::Dir::new(fd).map_err(std::io::Error::from).and_then(|mut dir| Ok((sorted_names(&mut dir)?, dir)));
    let (names, dir) = match listed {
        Ok(listed) => listed,
        Err(e) => return Listing::problem(path, "list directory", e),
    };
    let dir = match dir.fd() {
        Ok(fd) => fd,
        Err(e) => return Listing::problem(path, "list directory", e),
    };
    // Stat every name here in order (one allocation for the directory, not one per entry),
    // then walk the subdirectories in parallel and splice their results in after their entries.
    let mut here: Vec<Found> = Vec::with_capacity(names.len());
    let mut subdirs: Vec<(usize, OwnedFd, PathBuf)> = Vec::new();
    for name in &names {
        let child = path.join(name);
        let (meta, on_mount) = match mount.lstat_at(dir, name) {
            Ok(found) => found,
            Err(e) => {
                here.push(Found::Problem(Problem::from_error(&child, &Error::io(&child, "stat", e))));
                continue;
            }
        };
        // A file or directory mounted over this name (another file system, or a bind mount of
        // the host's files into a chroot) is not the tree's: not entered, not changed.
        if !on_mount {
            here.push(Found::MountPoint(child));
            continue;
        }
        if meta.kind != FileKind::Dir {
            here.push(Found::Entry(Entry { path: child, meta }));
            continue;
        }
        let opened = open_for_listing(dir, name).map_err(std::io::Error::from).and_then(|fd| {
            // The name must still be the directory that was stat'ed, not a replacement.
            let again = rfs::fstat(&fd)?;
            if (again.st_dev, again.st_ino) == (meta.dev, meta.ino) {
                Ok(fd)
            } else {
                Err(std::io::Error::other("replaced while being walked"))
            }
        });
        here.push(Found::Entry(Entry { path: child.clone(), meta }));
        match opened {
            Ok(fd) => subdirs.push((here.len(), fd, child)),
            Err(e) => here.push(Found::Problem(Problem::from_error(&child, &Error::io(&child, "open directory", e)))),
        }
    }
    let subdirs = subdirs.into_par_iter().map(|(at, fd, child)| (at, walk_dir(fd, &child, mount))).collect();
    Listing { here, subdirs }
}
