//! Which mount an entry is on. The walk and every operation of a [`Root`](crate::Root) stay on
//! the mount of the root: a chroot being built often has the host's files mounted into it
//! (`/etc/resolv.conf`, `/proc`, an apt cache bind-mounted from the host), and those are not
//! the image's.
//!
//! A device number alone does not tell a bind mount of a directory or a file of the same file
//! system from the tree's own entries; the mount ID does (`statx` `STATX_MNT_ID`, Linux 5.8).
//! The device number is compared for directories only: on an overlay, a file reports the device
//! of the layer that holds it, a directory the overlay's. Where the kernel gives no mount ID, the
//! device number of directories is all there is.

use std::ffi::OsStr;
use std::os::fd::AsFd;

use rustix::fs::{self as rfs, AtFlags, StatxFlags};
use rustix::io::Errno;

use crate::FileKind;
use crate::walk::Metadata;

/// The mount the root is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mount {
    dev: u64,
    id: Option<u64>,
}

impl Mount {
    /// The mount of the open directory `fd`, whose device is `dev` (from its `fstat`).
    pub(crate) fn of(fd: impl AsFd, dev: u64) -> Self {
        Self { dev, id: mount_id(&fd, OsStr::new(""), AtFlags::EMPTY_PATH).ok().flatten() }
    }

    /// Whether the open entry `fd` is on this mount; `dir_dev` is its device if it is a
    /// directory (from its `fstat`), `None` otherwise.
    pub(crate) fn holds_fd(&self, fd: impl AsFd, dir_dev: Option<u64>) -> bool {
        self.holds(dir_dev, || mount_id(&fd, OsStr::new(""), AtFlags::EMPTY_PATH))
    }

    /// Whether the entry `name` of the directory `dir` is on this mount: false for a mount point,
    /// where another file system, or a directory or file of this one, is mounted over the name.
    /// `dir_dev` is its device if it is a directory (from an `lstat`), `None` otherwise.
    pub(crate) fn holds_at(&self, dir: impl AsFd, name: &OsStr, dir_dev: Option<u64>) -> bool {
        self.holds(dir_dev, || mount_id(&dir, name, AtFlags::SYMLINK_NOFOLLOW))
    }

    /// `lstat` of `name` in `dir` and whether it is on this mount, in one `statx` where the
    /// kernel has it.
    pub(crate) fn lstat_at(&self, dir: impl AsFd, name: &OsStr) -> rustix::io::Result<(Metadata, bool)> {
        let mask = StatxFlags::BASIC_STATS | StatxFlags::MNT_ID;
        match rfs::statx(&dir, name, AtFlags::SYMLINK_NOFOLLOW, mask) {
            Ok(stx) => {
                let meta = Metadata::from_statx(&stx);
                let id = (stx.stx_mask & StatxFlags::MNT_ID.bits() != 0).then_some(stx.stx_mnt_id);
                let dir_dev = (meta.kind == FileKind::Dir).then_some(meta.dev);
                Ok((meta, self.holds(dir_dev, || Ok(id))))
            }
            // No statx (NOSYS), or a sandbox's seccomp filter refusing it (PERM: statx itself
            // never fails with EPERM): lstat, and the device number of directories.
            Err(Errno::NOSYS | Errno::PERM) => {
                let st = rfs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
                let meta = Metadata::from_stat(&st);
                Ok((meta, meta.kind != FileKind::Dir || meta.dev == self.dev))
            }
            Err(e) => Err(e),
        }
    }

    fn holds(&self, dir_dev: Option<u64>, id: impl FnOnce() -> rustix::io::Result<Option<u64>>) -> bool {
        if dir_dev.is_some_and(|dev| dev != self.dev) {
            return false;
        }
        match (self.id, id()) {
            (Some(root), Ok(Some(entry))) => root == entry,
            // No mount ID from this kernel: the device number is all there is. A failure to
            // ask is not a mount point either; the operation that follows meets the error.
            _ => true,
        }
    }
}

/// The mount ID of `name` in `dir` (or of `dir` itself, with `AT_EMPTY_PATH`), if the kernel
/// gives one.
fn mount_id(dir: impl AsFd, name: &OsStr, flags: AtFlags) -> rustix::io::Result<Option<u64>> {
    match rfs::statx(&dir, name, flags, StatxFlags::MNT_ID) {
        Ok(stx) => Ok((stx.stx_mask & StatxFlags::MNT_ID.bits() != 0).then_some(stx.stx_mnt_id)),
        Err(Errno::NOSYS | Errno::PERM) => Ok(None),
        Err(e) => Err(e),
    }
}
