//! apt's binary caches of a base, built once and shared by every check as an overlay layer.
//!
//! An installation into a fresh copy of the base first parses apt's package lists (about 50 MB
//! for bookworm's main) into `pkgcache.bin` and `srcpkgcache.bin`: the largest part of a small
//! package's installation, done twice per check (side `b` through disorderfs, on one CPU), and
//! tens of megabytes each side writes into its upper directory for the comparison to read. The
//! caches depend only on the base (its lists and dpkg status, by size and modification time),
//! so they are built once per base: `apt-cache gencaches` in an overlay of the base whose upper
//! directory, pruned to the two caches and the directories above them, is then kept as
//! `CACHE/layers/DIGEST` and mounted between the base and each
//! side's upper directory. apt finds a valid cache and does not rebuild it; the installation is
//! the same.
//!
//! Made in a `.new-PID` directory and renamed into place, as a base is: concurrent checks never
//! see half a layer. Never written after that: it is a lower layer. Delete `CACHE/layers` to
//! prune (as `CACHE/bases`).

use std::path::{Path, PathBuf};

use crate::sandbox::{self, Cleanup, Mounts};
use crate::variation::{Conditions, Side};
use crate::{Base, Error, Result};

/// The layer of `base` under `cache`, made if missing; `None` where overlays cannot be mounted
/// (then each installation builds apt's caches itself, as without the layer).
pub(crate) fn apt_caches(cache: &Path, base: &Base, log: &dyn Fn(&str)) -> Result<Option<PathBuf>> {
    if base.digest.is_empty() || !base.digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Invalid(format!("base digest {:?} is not a digest", base.digest)));
    }
    let layers = cache.join("layers");
    let dir = layers.join(&base.digest);
    if dir.is_dir() {
        return Ok(Some(dir));
    }
    std::fs::create_dir_all(&layers).map_err(|e| Error::io(&layers, e))?;
    let cleanup = Cleanup::new();
    let work = layers.join(format!(".{}.new-{}", base.digest, std::process::id()));
    cleanup.dir(&work);
    std::fs::create_dir(&work).map_err(|e| Error::io(&work, e))?;
    log("building apt's package cache of the base once (an overlay layer for every check)");
    let Some(root) = sandbox::overlay(&base.root, None, &work, &work, &cleanup)? else { return Ok(None) };
    let (inputs, debs) = (work.join("inputs"), work.join("archives"));
    for d in [&inputs, &debs] {
        std::fs::create_dir(d).map_err(|e| Error::io(d, e))?;
    }
    let conditions = Conditions::of(Side::A, &[], 1);
    let mounts = Mounts { inputs: &inputs, debs: &debs };
    sandbox::run(
        &mut sandbox::install_command(&root, &conditions, &mounts, &["apt-cache", "gencaches"]),
        "build apt's package cache in the base",
    )?;
    // Unmounted before its upper directory moves; the cleanup's lazy unmount then finds nothing.
    let _ = std::process::Command::new("umount").arg(&root).stdin(std::process::Stdio::null()).status();
    let made = work.join("upper");
    if !keep_only_apt_caches(&made)? {
        log("apt-cache gencaches made no cache: no layer, each installation builds apt's caches");
        return Ok(None);
    }
    match std::fs::rename(&made, &dir) {
        Ok(()) => {}
        // Made meanwhile by another check: use that one (ours is removed by the cleanup).
        Err(_) if dir.is_dir() => {}
        Err(e) => return Err(Error::io(&dir, e)),
    }
    Ok(Some(dir))
}

/// Leaves in the upper directory `upper` apt's two caches and the directories above them,
/// nothing else: what else `gencaches` touched (the copy-up of `/tmp`, dpkg's lock files it
/// opens) must not become part of every check's base. False when there is no cache, or when a
/// directory above it is opaque (it would hide the base's).
fn keep_only_apt_caches(upper: &Path) -> Result<bool> {
    const DIRS: [&str; 4] = ["", "var", "var/cache", "var/cache/apt"];
    const CACHES: [&str; 2] = ["var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin"];
    let root = tamis_core::Root::open(upper)?;
    let tree = root.walk()?;
    for entry in tree.entries() {
        let path = entry.path.to_string_lossy();
        let parent = entry.path.parent().map(|p| p.to_string_lossy().into_owned());
        if DIRS.contains(&path.as_ref()) {
            let opaque = root
                .xattrs(&entry.path)
                .is_ok_and(|x| x.iter().any(|(n, v)| n == b"trusted.overlay.opaque" && v == b"y"));
            if opaque {
                return Ok(false);
            }
        } else if !CACHES.contains(&path.as_ref()) && parent.is_some_and(|p| DIRS.contains(&p.as_str())) {
            // A subtree whose top is not ours: removed whole (never following a symlink).
            let full = upper.join(&entry.path);
            let removed = if entry.meta.kind == tamis_core::FileKind::Dir {
                std::fs::remove_dir_all(&full)
            } else {
                std::fs::remove_file(&full)
            };
            removed.map_err(|e| Error::io(&full, e))?;
        }
    }
    Ok(upper.join(CACHES[0]).is_file())
}
