//! What packages' maintainer scripts and the package manager leave behind in an image.
//!
//! Installing packages writes logs with the time of every step, backups of the databases it
//! changed, account dates in `/etc/shadow`, and caches keyed on inode numbers or modification
//! times. Two builds of the same packages differ in all of them. The stages here make them
//! equal *while the system keeps working*: a cache the system relies on is kept and made valid
//! for the image's clamped times; deleting is the fallback, and the report says so.
//!
//! - [`Logs`] (`logs`): `/var/log` files emptied (or removed); compressed and rotated ones and
//!   binary journals removed.
//! - [`Backups`] (`backups`): `-old` databases of dpkg and debconf, `/etc/passwd-` and its
//!   siblings, ucf's numbered copies, `*.dpkg-old`/`*.dpkg-bak`, apt's binary package caches.
//! - [`Shadow`] (`shadow`): `sp_lstchg` (days since 1970 of the last password change) no later
//!   than the epoch's day, in `/etc/shadow` and `/etc/shadow-`.
//! - [`DocBase`] (`doc-base`): the status-change times doc-base's registry records for each
//!   documentation control file (`CT` in `/var/lib/doc-base/info/files.yml`: the time of
//!   installation) no later than the epoch.
//! - [`Ldconfig`] (`ldconfig`): `/var/cache/ldconfig/aux-cache`, keyed on inode numbers and
//!   times, removed (`ldconfig` rebuilds it; `/etc/ld.so.cache` itself is deterministic).
//! - [`ManDb`] (`man-db`): man-db's `index.db` files, whose gdbm layout depends on the order of
//!   insertion, removed (man-db's daily timer rebuilds them).
//! - [`Pyc`] (`pyc`): the source mtime recorded in each `__pycache__/*.pyc` set to the source's
//!   clamped mtime, so Python still finds the byte code fresh after the clamp.
//! - [`Fontconfig`] (`fontconfig`): each cache's record of its font directory's mtime set to the
//!   directory's clamped mtime, so fontconfig still finds the cache valid after the clamp; also
//!   in a tree taken back from a squashfs image, whose directories lost the nanoseconds their
//!   caches recorded ([`FontconfigCache::is_valid_but_for_dropped_nanoseconds`]).
//!
//! The last two compute against `min(mtime, epoch)`, so they and the final mtime clamp give the
//! same result in either order. Proof: on two real mmdebstrap builds, no file differs after
//! `tamis normalize`; in the normalized chroot `python3` imports without rewriting a `.pyc`,
//! `fc-cache` finds every cache valid, `getent` and `pwck` read the account databases
//! (`bins/tamis/tests/rootfs.rs`).
//!
//! ```
//! // /etc/shadow as useradd wrote it on the day of the build (day 20780), and an account made
//! // long before; the stage keeps every byte but field 3 of the later one.
//! let shadow = b"root:*:20780:0:99999:7:::\nold:*:19000:0:99999:7:::\n";
//! let epoch = tamis_core::Epoch::from_secs(1_700_000_000).expect("a valid epoch"); // day 19675
//! let fixed = tamis_postinst::clamp_last_change(shadow, epoch.days())?.expect("a later day");
//! assert_eq!(fixed, b"root:*:19675:0:99999:7:::\nold:*:19000:0:99999:7:::\n");
//! assert_eq!(tamis_postinst::clamp_last_change(&fixed, epoch.days())?, None);
//! # Ok::<(), tamis_postinst::ShadowError>(())
//! ```

mod backups;
mod database;
mod docbase;
mod fontconfig;
mod logs;
mod pyc;
mod shadow;
mod simple;

pub use backups::{
    ACCOUNTS as ACCOUNT_BACKUPS, Backups, BackupsOptions, FIXED as PACKAGE_TOOL_BACKUPS,
    OLD_CONFFILE as OLD_CONFFILE_SUFFIXES,
};
pub use docbase::{DOC_BASE_REGISTRY, DocBase, DocBaseError, DocBaseOptions, clamp_registered_ctimes};
pub use fontconfig::{Fontconfig, FontconfigCache, FontconfigCacheError, FontconfigOptions, is_le64_cache};
pub use logs::{LogPolicy, Logs, LogsOptions};
pub use pyc::{Pyc, PycHeader, PycHeaderError, PycOptions};
pub use shadow::{Shadow, ShadowError, ShadowOptions, clamp_last_change, last_change_days};
pub use simple::{Ldconfig, ManDb, NoOptions};
