//! [`Root`]: a handle on a tree that never resolves a path outside it.
//!
//! Every path is resolved one name at a time, from an open directory descriptor, with
//! `O_NOFOLLOW`: a symbolic link met anywhere but at the last name is an error, and at the last
//! name it is the link itself that is read, timed or replaced — never its target. `..` is refused
//! before any system call. Nothing here depends on `openat2`, so the same guarantees hold on
//! kernels and sandboxes that lack it.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd, AsRawFd as _, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{self as rfs, AtFlags, OFlags, ResolveFlags, Timespec, Timestamps};
use rustix::io::Errno;

use crate::mount::Mount;
use crate::path::split;
use crate::temp;
use crate::walk::Metadata;
use crate::{Error, FileKind, Links, Result, Timestamp};

/// A handle on the tree being normalized. See the documentation of its module (`src/root.rs`).
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
    mount: Mount,
    use_openat2: bool,
}

/// A directory descriptor that is either the root's own or one opened beneath it.
pub(crate) enum DirFd<'a> {
    Borrowed(BorrowedFd<'a>),
    Owned(OwnedFd),
}

impl AsFd for DirFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Borrowed(fd) => *fd,
            Self::Owned(fd) => fd.as_fd(),
        }
    }
}

const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);
/// `NONBLOCK` so that opening a FIFO by mistake cannot hang a run; the type is checked after.
const READ_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC).union(OFlags::NONBLOCK);

/// Whether `openat2` works here; cleared at the first sign that it does not.
static OPENAT2: AtomicBool = AtomicBool::new(true);

impl Root {
    /// Opens the directory at `path` as the root of a tree.
    ///
    /// `path` itself is resolved as the caller wrote it (it is the caller's choice of tree);
    /// everything beneath it is resolved without following links.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let open_error = |source: Errno| Error::OpenRoot { path: path.to_owned(), source: source.into() };
        let fd = rfs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, rfs::Mode::empty())
            .map_err(open_error)?;
        let dev = rfs::fstat(&fd).map_err(open_error)?.st_dev;
        let mount = Mount::of(&fd, dev);
        Ok(Self { fd, path: path.to_owned(), mount, use_openat2: true })
    }

    /// The path the root was opened at, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The mount of the root; the walk does not descend into other ones.
    pub(crate) fn mount(&self) -> Mount {
        self.mount
    }

    /// Opens the directory at `rel` beneath the root, following no link and crossing no mount.
    ///
    /// One `openat2` call with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV` where
    /// the kernel has it; otherwise, and to name the exact reason of a refusal, one `openat` per
    /// name. Both give the same answer.
    pub(crate) fn open_dir(&self, rel: &Path) -> Result<DirFd<'_>> {
        let names = split(rel)?;
        if names.is_empty() {
            return Ok(DirFd::Borrowed(self.fd.as_fd()));
        }
        if self.use_openat2 && OPENAT2.load(Ordering::Relaxed) {
            let joined: PathBuf = names.iter().collect();
            let resolve =
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV;
            match rfs::openat2(&self.fd, &joined, DIR_FLAGS, rfs::Mode::empty(), resolve) {
                Ok(fd) => return Ok(DirFd::Owned(fd)),
                // Not on this kernel, or filtered by a sandbox: use the portable walk from now on.
                Err(Errno::NOSYS | Errno::PERM | Errno::INVAL) => OPENAT2.store(false, Ordering::Relaxed),
                // A refusal or a missing entry: the walk below says precisely which.
                Err(_) => {}
            }
        }
        self.open_dir_by_names(rel, &names)
    }

    fn open_dir_by_names(&self, rel: &Path, names: &[&OsStr]) -> Result<DirFd<'_>> {
        let mut dir = DirFd::Borrowed(self.fd.as_fd());
        for &name in names {
            let next = rfs::openat(&dir, name, DIR_FLAGS, rfs::Mode::empty()).map_err(|errno| match errno {
                // O_DIRECTORY | O_NOFOLLOW on a link fails with ENOTDIR (or ELOOP): say which.
                Errno::LOOP | Errno::NOTDIR => match rfs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileKind::from_mode(st.st_mode) == FileKind::Symlink => {
                        Error::SymlinkInPath { path: rel.to_owned() }
                    }
                    Ok(st) => Error::WrongType {
                        path: rel.to_owned(),
                        expected: "directory",
                        found: FileKind::from_mode(st.st_mode).noun(),
                    },
                    Err(e) => Error::io(rel, "stat", e),
                },
                other => Error::io(rel, "open directory", other),
            })?;
            let dev = rfs::fstat(&next).map_err(|e| Error::io(rel, "stat", e))?.st_dev;
            if !self.mount.holds_fd(&next, Some(dev)) {
                return Err(Error::WrongType {
                    path: rel.to_owned(),
                    expected: "directory of the root's file system",
                    found: "mount point",
                });
            }
            dir = DirFd::Owned(next);
        }
        Ok(dir)
    }

    /// This root, resolving every path one name at a time as on kernels without `openat2`
    /// (before Linux 5.6, or sandboxes that filter it). For tests of that path: the results are
    /// the same.
    #[doc(hidden)]
    #[must_use]
    pub fn without_openat2(self) -> Self {
        Self { use_openat2: false, ..self }
    }

    /// The directory at `rel` beneath the root, opened once for many operations on its entries
    /// (a stage that changes many entries of one directory resolves its path once).
    pub fn directory(&self, rel: &Path) -> Result<Directory<'_>> {
        Ok(Directory { fd: self.open_dir(rel)?, path: rel.to_owned(), mount: self.mount })
    }

    /// The directory holding `rel`, and `rel`'s last name; `None` for the root itself.
    fn parent<'p>(&self, rel: &'p Path) -> Result<Option<(DirFd<'_>, &'p OsStr)>> {
        let names = split(rel)?;
        let Some((name, dirs)) = names.split_last() else {
            return Ok(None);
        };
        let dir_path: PathBuf = dirs.iter().collect();
        let dir = self.open_dir(&dir_path).map_err(|e| match e {
            // Say which path the caller asked for, not only its directory.
            Error::SymlinkInPath { .. } => Error::SymlinkInPath { path: rel.to_owned() },
            other => other,
        })?;
        Ok(Some((dir, name)))
    }

    /// The metadata of the entry at `rel`, without following a link; `None` if there is none.
    pub fn try_lstat(&self, rel: &Path) -> Result<Option<Metadata>> {
        let parent = match self.parent(rel) {
            // A missing directory on the way means there is no such entry either.
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            other => other?,
        };
        let stat = match parent {
            None => rfs::fstat(&self.fd),
            Some((dir, name)) => rfs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW),
        };
        match stat {
            Ok(st) => Ok(Some(Metadata::from_stat(&st))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(Error::io(rel, "stat", e)),
        }
    }

    /// Whether `rel` is a directory (not a link to one) beneath the root.
    pub fn is_dir(&self, rel: &Path) -> bool {
        matches!(self.try_lstat(rel), Ok(Some(meta)) if meta.kind == FileKind::Dir)
    }

    /// The metadata of the entry at `rel`, without following a link.
    pub fn lstat(&self, rel: &Path) -> Result<Metadata> {
        self.try_lstat(rel)?.ok_or_else(|| Error::io(rel, "stat", Errno::NOENT))
    }

    /// Where `rel` leads *inside the image*, following links as a process chrooted into the
    /// root would: an absolute target starts again from the root, `..` never climbs above it.
    /// Each step is an `lstat` or `readlink` beneath the root, so nothing outside is ever
    /// touched. Returns the final path (without links) and its metadata, or `None` if the path
    /// leads nowhere (a dangling link, a missing entry, a loop of more than 40 links).
    pub fn resolve_in_image(&self, rel: &Path) -> Result<Option<(PathBuf, Metadata)>> {
        let mut todo: Vec<OsString> = split(rel)?.into_iter().rev().map(OsStr::to_os_string).collect();
        let mut done = PathBuf::new();
        let mut links = 0;
        while let Some(name) = todo.pop() {
            if name == ".." {
                done.pop();
                continue;
            }
            if name == "." {
                continue;
            }
            let next = done.join(&name);
            let Some(meta) = self.try_lstat(&next)? else {
                return Ok(None);
            };
            if meta.kind != FileKind::Symlink {
                done = next;
                continue;
            }
            links += 1;
            if links > 40 {
                return Ok(None);
            }
            let target = self.read_link(&next)?;
            if target.is_absolute() {
                done = PathBuf::new();
            }
            for part in target.components().rev() {
                match part {
                    std::path::Component::Normal(n) => todo.push(n.to_os_string()),
                    std::path::Component::ParentDir => todo.push(OsString::from("..")),
                    _ => {}
                }
            }
        }
        let meta = self.lstat(&done)?;
        Ok(Some((done, meta)))
    }

    /// The contents of the regular file at `rel` (a link there is an error, not followed).
    pub fn read(&self, rel: &Path) -> Result<Vec<u8>> {
        let file = self.open_regular(rel)?;
        let mut bytes = Vec::new();
        (&file).read_to_end(&mut bytes).map_err(|e| Error::io(rel, "read", e))?;
        Ok(bytes)
    }

    /// Opens the regular file at `rel` for reading, without updating its access time where the
    /// system allows it.
    pub fn open_regular(&self, rel: &Path) -> Result<File> {
        let (dir, name) = self.parent(rel)?.ok_or(Error::WrongType {
            path: rel.to_owned(),
            expected: "regular file",
            found: "directory",
        })?;
        let opened = match rfs::openat(&dir, name, READ_FLAGS | OFlags::NOATIME, rfs::Mode::empty()) {
            // O_NOATIME is only for the file's owner (or CAP_FOWNER); fall back without it.
            Err(Errno::PERM) => rfs::openat(&dir, name, READ_FLAGS, rfs::Mode::empty()),
            other => other,
        };
        Ok(File::from(regular_file(rel, opened, self.mount)?.0))
    }

    /// The target of the symbolic link at `rel`, as stored (never resolved).
    pub fn read_link(&self, rel: &Path) -> Result<PathBuf> {
        let (dir, name) = self.parent(rel)?.ok_or(Error::WrongType {
            path: rel.to_owned(),
            expected: "symbolic link",
            found: "directory",
        })?;
        let target = rfs::readlinkat(&dir, name, Vec::new()).map_err(|errno| match errno {
            Errno::INVAL => Error::WrongType { path: rel.to_owned(), expected: "symbolic link", found: "non-link" },
            other => Error::io(rel, "read link", other),
        })?;
        Ok(PathBuf::from(OsString::from(std::ffi::OsStr::from_bytes(target.as_bytes()))))
    }

    /// The extended attributes of the entry at `rel` itself (a link's own, never its target's),
    /// as (name, value) pairs sorted by name, so that two copies of a tree list them alike.
    ///
    /// A regular file or a directory is opened beneath the root without following links and
    /// read through its descriptor. A link, device, pipe or socket cannot be opened that way
    /// without following it or triggering a device's open, and `fgetxattr` refuses an `O_PATH`
    /// descriptor; so for those this calls `llistxattr`/`lgetxattr` on `/proc/self/fd/N/NAME`,
    /// where `N` is the entry's directory, itself opened beneath the root: the kernel resolves
    /// `N` to that very directory and does not follow `NAME`. Without `/proc` that is an error
    /// for such entries (never a silent empty list).
    pub fn xattrs(&self, rel: &Path) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let meta = self.lstat(rel)?;
        let mut list = match meta.kind {
            FileKind::File => fd_xattrs(&self.open_regular(rel)?),
            FileKind::Dir => fd_xattrs(&self.open_dir(rel)?),
            _ => {
                let (dir, name) = self.parent(rel)?.ok_or(Error::WrongType {
                    path: rel.to_owned(),
                    expected: "non-directory",
                    found: "directory",
                })?;
                let mut proc_path = format!("/proc/self/fd/{}/", dir.as_fd().as_raw_fd()).into_bytes();
                proc_path.extend_from_slice(name.as_bytes());
                link_xattrs(OsStr::from_bytes(&proc_path))
            }
        }
        .map_err(|e| Error::io(rel, "read extended attributes of", e))?;
        list.sort();
        Ok(list)
    }

    /// Sets the access and modification times of the entry at `rel` — of a link itself, never of
    /// its target. A non-directory with several hard links is refused
    /// ([`Error::HardlinkGroup`]): without its other names, a link from outside the tree cannot
    /// be told from one inside ([`set_times_linked`](Self::set_times_linked) takes them).
    pub fn set_times(&self, rel: &Path, atime: Timestamp, mtime: Timestamp) -> Result<()> {
        self.set_times_linked(rel, &Links::unknown(), atime, mtime)
    }

    /// Sets the access and modification times of the entry at `rel` (a link itself, never its
    /// target), whose other names in the tree are `links`. An inode that only the tree's names
    /// link to gets the times in place, all its names together. An inode also linked from outside
    /// the tree is left as it is: its names in the tree are given a copy with the new times (see
    /// [`Links`]; the copy of a regular file is made by the kernel, `copy_file_range`).
    pub fn set_times_linked(&self, rel: &Path, links: &Links, atime: Timestamp, mtime: Timestamp) -> Result<()> {
        let times = Timestamps { last_access: timespec(atime), last_modification: timespec(mtime) };
        let Some((dir, name)) = self.parent(rel)? else {
            return rfs::futimens(&self.fd, &times).map_err(|e| Error::io(rel, "set times of", e));
        };
        let st = rfs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| Error::io(rel, "stat", e))?;
        let dir_dev = (FileKind::from_mode(st.st_mode) == FileKind::Dir).then_some(st.st_dev);
        if !self.mount.holds_at(&dir, name, dir_dev) {
            return Err(mounted_here(rel));
        }
        match FileKind::from_mode(st.st_mode) {
            FileKind::Dir => {}
            kind => {
                if links.outside_now(rel, Metadata::from_stat(&st).nlink)? > 0 {
                    return if kind == FileKind::File {
                        self.replace_with(rel, links, Some(&times), |temp, original| {
                            copy_all(original, temp, original.metadata()?.len())
                        })
                    } else {
                        self.detach_node(rel, &dir, name, &st, links, &times)
                    };
                }
                self.check_names(rel, &st, links)?;
            }
        }
        rfs::utimensat(&dir, name, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| Error::io(rel, "set times of", e))
    }

    /// Removes the non-directory entry at `rel` (a link is removed, not its target).
    pub fn remove_file(&self, rel: &Path) -> Result<()> {
        let (dir, name) = self.parent(rel)?.ok_or(Error::WrongType {
            path: rel.to_owned(),
            expected: "non-directory",
            found: "directory",
        })?;
        rfs::unlinkat(&dir, name, AtFlags::empty()).map_err(|e| Error::io(rel, "remove", e))
    }

    /// Empties the regular file at `rel`, whose other names in the tree are `links`, keeping its
    /// owner, mode, extended attributes and times. An inode that only the tree's names link to
    /// is emptied in place, all its names together. An inode also linked from outside the tree
    /// is left as it is: its names in the tree are given a new, empty file (see [`Links`]).
    pub fn truncate(&self, rel: &Path, links: &Links) -> Result<()> {
        let (dir, name) = self.parent(rel)?.ok_or(Error::WrongType {
            path: rel.to_owned(),
            expected: "regular file",
            found: "directory",
        })?;
        let flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let opened = rfs::openat(&dir, name, flags, rfs::Mode::empty());
        if matches!(opened, Err(Errno::PERM)) {
            // An immutable or append-only file cannot be opened to be emptied: say which flag.
            refuse_protected(&self.open_regular(rel)?, rel, "the file")?;
        }
        let (fd, st) = regular_file(rel, opened, self.mount)?;
        if links.outside_now(rel, Metadata::from_stat(&st).nlink)? > 0 {
            drop(fd);
            return self.replace_with(rel, links, None, |_, _| Ok(()));
        }
        self.check_names(rel, &st, links)?;
        rfs::ftruncate(&fd, 0).map_err(|e| Error::io(rel, "truncate", e))?;
        let times = Timestamps {
            last_access: Timespec { tv_sec: st.st_atime, tv_nsec: st.st_atime_nsec as i64 },
            last_modification: Timespec { tv_sec: st.st_mtime, tv_nsec: st.st_mtime_nsec as i64 },
        };
        rfs::futimens(&fd, &times).map_err(|e| Error::io(rel, "set times of", e))
    }

    /// Creates a symbolic link at `rel` pointing to `target` (stored as given, never resolved).
    /// Fails if something is already there.
    pub fn create_symlink(&self, rel: &Path, target: &Path) -> Result<()> {
        let (dir, name) = self.parent(rel)?.ok_or(Error::WrongType {
            path: rel.to_owned(),
            expected: "new name",
            found: "directory",
        })?;
        rfs::symlinkat(target, &dir, name).map_err(|e| Error::io(rel, "create link", e))
    }

    /// Creates a new regular file at `rel` with these contents and permission bits, owned by
    /// the caller (root, for an image). Fails if something is already there.
    pub fn create_file(&self, rel: &Path, contents: &[u8], mode: u32) -> Result<()> {
        let (dir, name) = self.parent(rel)?.ok_or(Error::WrongType {
            path: rel.to_owned(),
            expected: "new name",
            found: "directory",
        })?;
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rfs::openat(&dir, name, flags, rfs::Mode::from_raw_mode(mode & 0o7777))
            .map_err(|e| Error::io(rel, "create", e))?;
        // The umask must not decide the mode of a file in an image.
        rfs::fchmod(&fd, rfs::Mode::from_raw_mode(mode & 0o7777)).map_err(|e| Error::io(rel, "set the mode of", e))?;
        File::from(fd).write_all(contents).map_err(|e| Error::io(rel, "write", e))
    }

    /// Creates a directory at `rel` with these permission bits; nothing if one is there already.
    pub fn create_dir(&self, rel: &Path, mode: u32) -> Result<()> {
        let (dir, name) = self.parent(rel)?.ok_or(Error::WrongType {
            path: rel.to_owned(),
            expected: "new name",
            found: "directory",
        })?;
        match rfs::mkdirat(&dir, name, rfs::Mode::from_raw_mode(mode & 0o7777)) {
            Ok(()) => {}
            Err(Errno::EXIST) => return self.open_dir(rel).map(|_| ()),
            Err(e) => return Err(Error::io(rel, "create directory", e)),
        }
        let created = self.open_dir(rel)?;
        rfs::fchmod(&created, rfs::Mode::from_raw_mode(mode & 0o7777)).map_err(|e| Error::io(rel, "set the mode of", e))
    }

    /// Points the name `name` at the inode of `target` (a hard link made under a temporary name
    /// beside `name`, renamed onto it), for finishing the re-pointing of a hard-link group that
    /// replaced the inode `replaced`: `name` must still be that inode.
    pub(crate) fn repoint(&self, target: &Path, name: &Path, replaced: u64) -> Result<()> {
        let not_file =
            |path: &Path| Error::WrongType { path: path.to_owned(), expected: "regular file", found: "directory" };
        let (target_dir, target_name) = self.parent(target)?.ok_or_else(|| not_file(target))?;
        let (dir, last) = self.parent(name)?.ok_or_else(|| not_file(name))?;
        let st = rfs::statat(&dir, last, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| Error::io(name, "stat", e))?;
        if st.st_ino != replaced || FileKind::from_mode(st.st_mode) != FileKind::File {
            return Err(Error::io(name, "re-link", std::io::Error::other("changed since the walk")));
        }
        refuse_protected(&dir, name, "its directory")?;
        temp::commit(|| {
            let link = temp::create_temp_link(&target_dir, target_name, &dir, replaced)?;
            rfs::renameat(&dir, link.name(), &dir, last)?;
            link.forget();
            Ok(())
        })
        .map_err(|e| Error::io(name, "re-link the new contents of a hard-linked file to", e))
    }

    /// Replaces the contents of the regular file at `rel` atomically: a reader sees either the
    /// old or the new contents, never a mix, and a failure leaves the old file in place.
    ///
    /// The new file keeps the old one's owner, group, mode (set-id bits included), access and
    /// modification times and extended attributes (`security.capability`, ACLs, `SELinux` labels).
    /// If the file has several hard links, `links` must give all its other names in the tree
    /// (see [`Tree::links`](crate::Tree::links)); each is re-pointed at the new inode so that the
    /// group stays one inode. Links from outside the tree keep the old inode and contents (see
    /// [`Links`]). The directories holding the names get a new modification time, as with any
    /// rename: a pipeline ends with the mtime clamp for that reason.
    pub fn replace(&self, rel: &Path, contents: &[u8], links: &Links) -> Result<()> {
        self.replace_with(rel, links, None, |temp, _| (&*temp).write_all(contents))
    }

    /// What [`replace`](Self::replace) of `rel` would refuse for `chattr` flags (the file, or its
    /// directory, immutable or append-only), found without changing anything: so that `--check`
    /// reports the problem the run would meet, not a change it cannot make.
    pub fn check_replace(&self, rel: &Path) -> Result<()> {
        let (dir, _) = self.parent(rel)?.ok_or(Error::WrongType {
            path: rel.to_owned(),
            expected: "regular file",
            found: "directory",
        })?;
        refuse_protected(&dir, rel, "its directory")?;
        refuse_protected(&self.open_regular(rel)?, rel, "the file")
    }

    /// What [`truncate`](Self::truncate) of `rel` would refuse for `chattr` flags (an immutable or
    /// append-only file), found without changing anything, for `--check`.
    pub fn check_truncate(&self, rel: &Path) -> Result<()> {
        refuse_protected(&self.open_regular(rel)?, rel, "the file")
    }

    /// What would make setting the times of `rel` fail for `chattr` flags (an immutable or
    /// append-only file or directory), found without changing anything, for `--check`. Only
    /// files and directories are looked at: a link, a device or a pipe is never opened.
    pub fn check_set_times(&self, rel: &Path) -> Result<()> {
        let Some(meta) = self.try_lstat(rel)? else { return Ok(()) };
        match meta.kind {
            FileKind::Dir => refuse_protected(&self.open_dir(rel)?, rel, "the directory"),
            FileKind::File => refuse_protected(&self.open_regular(rel)?, rel, "the file"),
            _ => Ok(()),
        }
    }

    /// Like [`replace`](Self::replace), for a change of a few bytes in a large file: the new
    /// file is the old one's bytes, copied by the kernel (`copy_file_range`, no pass through
    /// this process), with each `(offset, bytes)` of `patches` written over them. The length
    /// does not change; a patch past the end is an error and leaves the file as it was.
    pub fn patch(&self, rel: &Path, patches: &[(u64, Vec<u8>)], links: &Links) -> Result<()> {
        self.replace_with(rel, links, None, |temp, original| {
            let len = original.metadata()?.len();
            if patches.iter().any(|(at, bytes)| at.checked_add(bytes.len() as u64).is_none_or(|end| end > len)) {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "a patch runs past the end"));
            }
            copy_all(original, temp, len)?;
            for (at, bytes) in patches {
                std::os::unix::fs::FileExt::write_all_at(temp, bytes, *at)?;
            }
            Ok(())
        })
    }

    /// The atomic replacement of `rel` by a temporary file that `fill` writes, given the original,
    /// with the original's metadata and its times or `times`; the names of `links` are re-pointed
    /// to it.
    fn replace_with(
        &self,
        rel: &Path,
        links: &Links,
        times: Option<&Timestamps>,
        fill: impl FnOnce(&File, &File) -> std::io::Result<()>,
    ) -> Result<()> {
        let (dir, name) = self.parent(rel)?.ok_or(Error::WrongType {
            path: rel.to_owned(),
            expected: "regular file",
            found: "directory",
        })?;
        let original = self.open_regular(rel)?;
        let st = rfs::fstat(&original).map_err(|e| Error::io(rel, "stat", e))?;
        // Links from outside the tree (if `links` knows them to be so) keep the original.
        links.outside_now(rel, Metadata::from_stat(&st).nlink)?;
        self.check_names(rel, &st, links)?;

        refuse_protected(&dir, rel, "its directory")?;
        refuse_protected(&original, rel, "the file")?;
        let (temp, copy) =
            temp::create_temp(&dir, st.st_ino).map_err(|e| Error::io(rel, "create a temporary file beside", e))?;
        let written = fill(&copy, &original).and_then(|()| copy_metadata(&copy, &original, &st, times));
        if let Err(e) = written {
            return Err(discard(temp, &dir, rel, "write a copy of", e));
        }
        self.finish_replacement(rel, &dir, name, temp, st.st_ino, links)
    }

    /// Re-points the names of `links`, then `name` in `dir` (the name at `rel`, the inode
    /// `replaced`), to the new inode `temp` in `dir`. Other names first: until the last rename
    /// the temporary name keeps the new inode alive, and every name always shows a complete file,
    /// old or new. The whole group is one step an interruption waits for (`temp::commit`); after
    /// SIGKILL the temporary's name, which carries `replaced`, lets the next run finish the group
    /// (`crate::stale`). A failure half-way puts the moved names back.
    fn finish_replacement(
        &self,
        rel: &Path,
        dir: &DirFd<'_>,
        name: &OsStr,
        temp: temp::TempName,
        replaced: u64,
        links: &Links,
    ) -> Result<()> {
        let mut groups = Vec::new();
        for (dir_path, names) in by_directory(links.others())? {
            let other_dir = match self.names_dir(&dir_path, names[0].0) {
                Ok(d) => d,
                Err(e) => return Err(discard_error(temp, dir, rel, e)),
            };
            if let Err(e) = refuse_protected(&other_dir, names[0].0, "its directory") {
                return Err(discard_error(temp, dir, rel, e));
            }
            groups.push((other_dir, names));
        }
        let mut failed_at = rel;
        // Inside one commit: the moves and the last rename, and on a failure half-way the moves
        // undone.
        let committed = temp::commit(|| {
            let mut moved: Vec<(&DirFd<'_>, &OsStr)> = Vec::new();
            let mut move_all = || -> std::io::Result<()> {
                for (other_dir, names) in &groups {
                    for (other, other_name) in names {
                        failed_at = other;
                        let link = temp::create_temp_link(dir, temp.name(), other_dir, replaced)?;
                        // On failure the link's registration removes it when dropped.
                        rfs::renameat(other_dir, link.name(), other_dir, *other_name)?;
                        link.forget();
                        moved.push((other_dir, other_name));
                    }
                }
                // The last rename in the same commit: a signal waits for the whole group.
                failed_at = rel;
                rfs::renameat(dir, temp.name(), dir, name)?;
                Ok(())
            };
            Ok(move_all().err().map(|e| (e, undo_repoint(dir, name, &moved, replaced).is_ok())))
        });
        let failure = match committed {
            Ok(None) => None,
            Ok(Some(failure)) => Some(failure),
            // Refused before anything moved: the process is being interrupted.
            Err(e) => Some((e, true)),
        };
        if let Some((e, undone)) = failure {
            if !undone {
                // The group is split and cannot be put back: keep the temporary name, whose name
                // lets the next run finish the replacement, and say so.
                let temp_path = rel.parent().unwrap_or(Path::new("")).join(temp.name());
                temp.forget();
                return Err(Error::TemporaryLeft {
                    path: failed_at.to_owned(),
                    op: "re-link the new contents of a hard-linked file to",
                    temp: temp_path,
                    source: e,
                    cleanup: std::io::Error::other("names already re-linked could not be put back"),
                });
            }
            return Err(discard(temp, dir, failed_at, "re-link the new contents of a hard-linked file to", e));
        }
        temp.forget();
        Ok(())
    }

    /// Checks that every name of `links` is still the inode `st` describes: the names a walk
    /// found may be stale, and an operation that trusted them could change a file it was not
    /// meant to or split a group. Each directory is opened once, whatever the number of names.
    fn check_names(&self, rel: &Path, st: &rfs::Stat, links: &Links) -> Result<()> {
        for (dir_path, names) in by_directory(links.others())? {
            let dir = self.names_dir(&dir_path, names[0].0)?;
            for (other, name) in names {
                let ost =
                    rfs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| Error::io(other, "stat", e))?;
                if (ost.st_dev, ost.st_ino) != (st.st_dev, st.st_ino) {
                    let nlink = Metadata::from_stat(st).nlink;
                    return Err(Error::HardlinkGroup { path: rel.to_owned(), nlink, given: links.others().len() });
                }
            }
        }
        Ok(())
    }

    /// The directory `dir_path` holding the name `other`, an error naming `other`.
    fn names_dir(&self, dir_path: &Path, other: &Path) -> Result<DirFd<'_>> {
        self.open_dir(dir_path).map_err(|e| match e {
            Error::SymlinkInPath { .. } => Error::SymlinkInPath { path: other.to_owned() },
            other => other,
        })
    }

    /// Gives the names in the tree of the link, device, pipe or socket `name` in `dir` (at `rel`,
    /// described by `st`, also linked from outside the tree) a new inode of the same type, target
    /// or device number, owner, mode and extended attributes, with `times`.
    fn detach_node(
        &self,
        rel: &Path,
        dir: &DirFd<'_>,
        name: &OsStr,
        st: &rfs::Stat,
        links: &Links,
        times: &Timestamps,
    ) -> Result<()> {
        self.check_names(rel, st, links)?;
        let xattrs = self.xattrs(rel)?;
        let kind = FileKind::from_mode(st.st_mode);
        let target = match kind {
            FileKind::Symlink => {
                Some(rfs::readlinkat(dir, name, Vec::new()).map_err(|e| Error::io(rel, "read link", e))?)
            }
            _ => None,
        };
        let temp = temp::create_temp_node(dir, st.st_ino, |candidate| match &target {
            Some(target) => rfs::symlinkat(target.as_c_str(), dir, candidate),
            None => rfs::mknodat(
                dir,
                candidate,
                rfs::FileType::from_raw_mode(st.st_mode),
                rfs::Mode::from_raw_mode(0o600),
                st.st_rdev,
            ),
        })
        .map_err(|e| Error::io(rel, "create a copy beside", e))?;
        let temp_name = temp.name().to_owned();
        let copied = || -> std::io::Result<()> {
            let (uid, gid) = (rfs::Uid::from_raw(st.st_uid), rfs::Gid::from_raw(st.st_gid));
            rfs::chownat(dir, &temp_name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?;
            // After the owner: a change of owner clears set-id bits. A link has no mode of its own.
            if target.is_none() {
                rfs::chmodat(dir, &temp_name, rfs::Mode::from_raw_mode(st.st_mode & 0o7777), AtFlags::empty())?;
            }
            if !xattrs.is_empty() {
                // As `xattrs` reads them: the new entry itself, through its directory in /proc.
                let mut proc_path = format!("/proc/self/fd/{}/", dir.as_fd().as_raw_fd()).into_bytes();
                proc_path.extend_from_slice(temp_name.as_bytes());
                for (attr, value) in &xattrs {
                    rfs::lsetxattr(OsStr::from_bytes(&proc_path), attr.as_slice(), value, rfs::XattrFlags::empty())?;
                }
            }
            rfs::utimensat(dir, &temp_name, times, AtFlags::SYMLINK_NOFOLLOW)?;
            Ok(())
        };
        if let Err(e) = copied() {
            return Err(discard(temp, dir, rel, "copy the metadata of", e));
        }
        self.finish_replacement(rel, dir, name, temp, st.st_ino, links)
    }
}

/// The names `others` grouped by the directory holding them, with each name's last component.
fn by_directory(others: &[PathBuf]) -> Result<BTreeMap<PathBuf, Vec<(&Path, &OsStr)>>> {
    let mut by_dir: BTreeMap<PathBuf, Vec<(&Path, &OsStr)>> = BTreeMap::new();
    for other in others {
        let names = split(other)?;
        let Some((name, dirs)) = names.split_last() else {
            return Err(Error::WrongType { path: other.clone(), expected: "non-directory", found: "directory" });
        };
        by_dir.entry(dirs.iter().collect()).or_default().push((other.as_path(), *name));
    }
    Ok(by_dir)
}

/// Refuses to replace `rel` when `fd` (the file, or a directory holding one of its names) is
/// immutable or append-only: the rename would fail, and in an append-only directory the
/// temporary file could not even be removed afterwards.
fn refuse_protected(fd: &impl AsFd, rel: &Path, what: &str) -> Result<()> {
    // A file system without these flags (or without the ioctl) cannot have them set.
    let Ok(flags) = rfs::ioctl_getflags(fd) else { return Ok(()) };
    let reason = if flags.contains(rfs::IFlags::IMMUTABLE) {
        "immutable (chattr +i)"
    } else if flags.contains(rfs::IFlags::APPEND) {
        "append-only (chattr +a)"
    } else {
        return Ok(());
    };
    Err(Error::Protected { path: rel.to_owned(), reason: format!("{what} is {reason}") })
}

/// `error`, after removing the temporary file `temp` (or, if that fails, an error saying it is left).
fn discard_error(temp: temp::TempName, dir: &impl AsFd, rel: &Path, error: Error) -> Error {
    let temp_path = rel.parent().unwrap_or(Path::new("")).join(temp.name());
    match temp.remove(dir) {
        Ok(()) => error,
        Err(cleanup) => Error::TemporaryLeft {
            path: rel.to_owned(),
            op: "re-link the new contents of a hard-linked file to",
            temp: temp_path,
            source: std::io::Error::other(error.to_string()),
            cleanup,
        },
    }
}

/// The error of a failed replacement, after removing its temporary file (or saying it is left).
fn discard(temp: temp::TempName, dir: &impl AsFd, rel: &Path, op: &'static str, source: std::io::Error) -> Error {
    let temp_path = rel.parent().unwrap_or(Path::new("")).join(temp.name());
    match temp.remove(dir) {
        Ok(()) => Error::io(rel, op, source),
        Err(cleanup) => Error::TemporaryLeft { path: rel.to_owned(), op, temp: temp_path, source, cleanup },
    }
}

/// Points the names in `moved` back at the original inode, still at `name` in `dir`. Runs
/// inside the caller's commit.
fn undo_repoint(dir: &impl AsFd, name: &OsStr, moved: &[(&DirFd<'_>, &OsStr)], ino: u64) -> std::io::Result<()> {
    for (other_dir, other_name) in moved {
        let link = temp::create_temp_link(dir, name, *other_dir, ino)?;
        rfs::renameat(*other_dir, link.name(), *other_dir, *other_name)?;
        link.forget();
    }
    Ok(())
}

/// A directory beneath a [`Root`], opened without following links; operations take one name
/// of an entry in it (never a path) and act on that entry itself, never on a link's target.
pub struct Directory<'a> {
    fd: DirFd<'a>,
    path: PathBuf,
    mount: Mount,
}

impl std::fmt::Debug for Directory<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Directory<'_> {
    /// The path of the entry `name` in this directory, once `name` is checked to be one name
    /// (not empty, `.`, `..`, nor holding a `/`): an operation on it stays in this directory.
    fn entry(&self, name: &OsStr) -> Result<PathBuf> {
        let path = self.path.join(name);
        if name.is_empty() || name == "." || name == ".." || name.as_bytes().contains(&b'/') {
            return Err(Error::OutsideRoot { path });
        }
        Ok(path)
    }

    /// Opens the regular file `name` in this directory for reading, as [`Root::open_regular`]
    /// does (a link there is an error, not followed; its access time is kept where allowed).
    pub fn open_regular(&self, name: &OsStr) -> Result<File> {
        Ok(self.open_regular_meta(name)?.0)
    }

    /// [`Directory::open_regular`], and the metadata of the file opened (from its descriptor:
    /// the very file that will be read, with no second lookup by name).
    pub fn open_regular_meta(&self, name: &OsStr) -> Result<(File, Metadata)> {
        let path = self.entry(name)?;
        let opened = match rfs::openat(&self.fd, name, READ_FLAGS | OFlags::NOATIME, rfs::Mode::empty()) {
            Err(Errno::PERM) => rfs::openat(&self.fd, name, READ_FLAGS, rfs::Mode::empty()),
            other => other,
        };
        let (fd, st) = regular_file(&path, opened, self.mount)?;
        Ok((File::from(fd), Metadata::from_stat(&st)))
    }

    /// The target of the symbolic link `name` in this directory, as stored (never resolved).
    pub fn read_link(&self, name: &OsStr) -> Result<PathBuf> {
        let path = self.entry(name)?;
        let target = rfs::readlinkat(&self.fd, name, Vec::new()).map_err(|errno| match errno {
            Errno::INVAL => Error::WrongType { path: path.clone(), expected: "symbolic link", found: "non-link" },
            other => Error::io(&path, "read link", other),
        })?;
        Ok(PathBuf::from(OsString::from(std::ffi::OsStr::from_bytes(target.as_bytes()))))
    }

    /// The extended attributes of the entry `name` itself, of type `kind` (as a walk found it),
    /// sorted by name, read as [`Root::xattrs`] reads them: a file or directory through a
    /// descriptor opened without following links, anything else by its name under
    /// `/proc/self/fd/N` of this directory. An entry whose type is no longer `kind` is an error.
    pub fn xattrs(&self, name: &OsStr, kind: FileKind) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let path = self.entry(name)?;
        let mut list = match kind {
            FileKind::File => fd_xattrs(&self.open_regular(name)?),
            FileKind::Dir => {
                let dir = rfs::openat(&self.fd, name, DIR_FLAGS, rfs::Mode::empty())
                    .map_err(|e| Error::io(&path, "open directory", e))?;
                fd_xattrs(&dir)
            }
            _ => {
                let st =
                    rfs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| Error::io(&path, "stat", e))?;
                let found = FileKind::from_mode(st.st_mode);
                if found != kind {
                    return Err(Error::WrongType { path, expected: kind.noun(), found: found.noun() });
                }
                let mut proc_path = format!("/proc/self/fd/{}/", self.fd.as_fd().as_raw_fd()).into_bytes();
                proc_path.extend_from_slice(name.as_bytes());
                link_xattrs(OsStr::from_bytes(&proc_path))
            }
        }
        .map_err(|e| Error::io(&path, "read extended attributes of", e))?;
        list.sort();
        Ok(list)
    }

    /// Sets the access and modification times of the entry `name` in this directory. A
    /// non-directory with several hard links is refused ([`Error::HardlinkGroup`]): its other
    /// names are not known here ([`Root::set_times_linked`] takes them).
    pub fn set_times(&self, name: &OsStr, atime: Timestamp, mtime: Timestamp) -> Result<()> {
        let path = self.entry(name)?;
        // One statx for the type, the link count and the mount: this runs once per entry a
        // clamp re-dates.
        let (meta, on_mount) = self.mount.lstat_at(&self.fd, name).map_err(|e| Error::io(&path, "stat", e))?;
        if !on_mount {
            return Err(mounted_here(&path));
        }
        if meta.kind != FileKind::Dir && meta.nlink > 1 {
            return Err(Error::HardlinkGroup { path, nlink: meta.nlink, given: 0 });
        }
        let times = Timestamps { last_access: timespec(atime), last_modification: timespec(mtime) };
        rfs::utimensat(&self.fd, name, &times, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| Error::io(path, "set times of", e))
    }
}

/// The result of opening `rel` with `O_NOFOLLOW`, checked to be a regular file: a link there
/// fails the open (`ELOOP`), anything else is refused after `fstat`.
fn regular_file(rel: &Path, opened: rustix::io::Result<OwnedFd>, mount: Mount) -> Result<(OwnedFd, rfs::Stat)> {
    let fd = opened.map_err(|errno| match errno {
        Errno::LOOP => Error::WrongType { path: rel.to_owned(), expected: "regular file", found: "symbolic link" },
        other => Error::io(rel, "open", other),
    })?;
    let st = rfs::fstat(&fd).map_err(|e| Error::io(rel, "stat", e))?;
    let kind = FileKind::from_mode(st.st_mode);
    if kind != FileKind::File {
        return Err(Error::WrongType { path: rel.to_owned(), expected: "regular file", found: kind.noun() });
    }
    if !mount.holds_fd(&fd, None) {
        return Err(mounted_here(rel));
    }
    Ok((fd, st))
}

/// The error for an entry over which something is mounted (a file of the host bind-mounted
/// into a chroot): not the tree's, left alone.
fn mounted_here(rel: &Path) -> Error {
    Error::WrongType { path: rel.to_owned(), expected: "path of the tree's own file system", found: "mount point" }
}

fn timespec(t: Timestamp) -> Timespec {
    Timespec { tv_sec: t.secs, tv_nsec: i64::from(t.nanos) }
}

/// Writes `contents` to `temp`, then gives it `original`'s metadata. The order matters: a change
/// of owner clears set-id bits and `security.capability`, and writing changes the times.
/// Copies `len` bytes of `from` (from its start) to the end of `to`, in the kernel where it can.
fn copy_all(from: &File, to: &File, len: u64) -> std::io::Result<()> {
    let (mut from_at, mut to_at) = (0u64, 0u64);
    while from_at < len {
        let chunk = usize::try_from(len - from_at).unwrap_or(usize::MAX).min(1 << 30);
        match rfs::copy_file_range(from, Some(&mut from_at), to, Some(&mut to_at), chunk) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            // Not between these file systems: copy through this process.
            Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP) if from_at == 0 => {
                let mut reader = std::io::Read::take(from, len);
                let mut writer = to;
                std::io::copy(&mut reader, &mut writer)?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Gives `temp`, once written, `original`'s metadata and its times (or `times`). The order
/// matters: a change of owner clears set-id bits and `security.capability`, and writing changes
/// the times.
fn copy_metadata(temp: &File, original: &File, st: &rfs::Stat, times: Option<&Timestamps>) -> std::io::Result<()> {
    let own = rfs::fstat(temp)?;
    if (own.st_uid, own.st_gid) != (st.st_uid, st.st_gid) {
        rfs::fchown(temp, Some(rfs::Uid::from_raw(st.st_uid)), Some(rfs::Gid::from_raw(st.st_gid)))?;
    }
    rfs::fchmod(temp, rfs::Mode::from_raw_mode(st.st_mode & 0o7777))?;
    for (name, value) in fd_xattrs(original)? {
        rfs::fsetxattr(temp, name.as_slice(), &value, rfs::XattrFlags::empty())?;
    }
    let kept = Timestamps {
        last_access: Timespec { tv_sec: st.st_atime, tv_nsec: st.st_atime_nsec as i64 },
        last_modification: Timespec { tv_sec: st.st_mtime, tv_nsec: st.st_mtime_nsec as i64 },
    };
    rfs::futimens(temp, times.unwrap_or(&kept))?;
    Ok(())
}

/// Every extended attribute of an open file or directory the caller may read, as (name, value)
/// pairs in the order the file system lists them.
pub fn fd_xattrs(file: &impl AsFd) -> std::io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    collect_xattrs(
        || rfs::flistxattr_query(file),
        |buf| rfs::flistxattr(file, buf),
        |name| rfs::fgetxattr_query(file, name),
        |name, buf| rfs::fgetxattr(file, name, buf),
    )
}

/// The extended attributes of the entry at `path` itself, not following a last-name link.
fn link_xattrs(path: &OsStr) -> std::io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    collect_xattrs(
        || rfs::llistxattr_query(path),
        |buf| rfs::llistxattr(path, buf),
        |name| rfs::lgetxattr_query(path, name),
        |name, buf| rfs::lgetxattr(path, name, buf),
    )
}

/// Lists names, then reads each value, with the calls of one flavour (by descriptor, by path).
fn collect_xattrs(
    list_size: impl Fn() -> rustix::io::Result<usize>,
    list: impl Fn(&mut [u8]) -> rustix::io::Result<usize>,
    value_size: impl Fn(&[u8]) -> rustix::io::Result<usize>,
    value: impl Fn(&[u8], &mut [u8]) -> rustix::io::Result<usize>,
) -> std::io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let size = match list_size() {
        // Most entries have none: no second call.
        Ok(0) | Err(Errno::NOTSUP) => return Ok(Vec::new()),
        Ok(size) => size,
        Err(e) => return Err(e.into()),
    };
    let mut names = vec![0u8; size];
    let len = list(&mut names[..])?;
    names.truncate(len);
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let mut bytes = vec![0u8; value_size(name)?];
        let len = value(name, &mut bytes[..])?;
        bytes.truncate(len);
        out.push((name.to_vec(), bytes));
    }
    Ok(out)
}
