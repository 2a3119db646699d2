//! Copies of the base chroot, the mounts the check makes, and their removal whatever happens.
//!
//! Everything the check creates on the host is registered here before it exists: mounts
//! (overlays) and directories (copies, a base being built). [`Cleanup`]'s `Drop` undoes them in
//! reverse order (lazy unmount, then `rm -rf --one-file-system`), and [`cleanup_all`] does the
//! same for every registration still alive: the binary calls it from its signal handler, so
//! Ctrl-C cleans up too. Both hold one lock while they work, so a handler that fires during a
//! `Drop` waits for it instead of exiting half-way.
//!
//! Mounts inside a chroot while a package installs (`/proc`, a `/dev/shm` of its own, where
//! libfaketime keeps its state, the inputs on `/mnt`, the apt archive) are made in a mount
//! namespace of the installation's own, in a PID namespace whose processes the kernel kills
//! when it ends: they vanish with it, and nothing started by a maintainer script outlives the
//! installation.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::variation::Conditions;
use crate::{Error, Result};

#[derive(Debug, Default)]
struct Registration {
    mounts: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

static ACTIVE: Mutex<BTreeMap<u64, Registration>> = Mutex::new(BTreeMap::new());
/// Processes started by [`run_tracked`] and still running: killed first by [`cleanup_all`].
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A set of mounts and directories undone when it is dropped (or by [`cleanup_all`]).
#[derive(Debug)]
pub struct Cleanup {
    id: u64,
    keep: bool,
}

impl Cleanup {
    /// An empty set.
    pub fn new() -> Self {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        lock().insert(id, Registration::default());
        Self { id, keep: false }
    }

    /// `dir` (and everything in it) is removed at cleanup. Register before creating it.
    pub fn dir(&self, dir: &Path) {
        if let Some(r) = lock().get_mut(&self.id) {
            r.dirs.push(dir.to_owned());
        }
    }

    /// `target` is unmounted at cleanup, before any directory is removed. Register before
    /// mounting.
    pub fn mount(&self, target: &Path) {
        if let Some(r) = lock().get_mut(&self.id) {
            r.mounts.push(target.to_owned());
        }
    }

    /// Unmounts now, keeping the directories (for `--keep`); what is left for `Drop` is nothing.
    pub fn keep(mut self) {
        self.keep = true;
    }

    /// Unmounts everything now and removes the directories.
    pub fn finish(self) {}
}

impl Default for Cleanup {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let mut active = lock();
        if let Some(mut r) = active.remove(&self.id) {
            if self.keep {
                r.dirs.clear();
            }
            undo(&r);
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, BTreeMap<u64, Registration>> {
    // A panic while holding the lock leaves the map usable: cleaning up must still happen.
    ACTIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Undoes every registration still alive, newest first. For a signal handler: call it, then
/// exit. Returns the number of registrations undone.
pub fn cleanup_all() -> usize {
    // An installation still writing into a copy would refill it while it is removed: kill it
    // first (unshare --kill-child takes its whole PID namespace along).
    let running = std::mem::take(&mut *RUNNING.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    for pid in running {
        kill_group(pid);
    }
    let mut active = lock();
    let all = std::mem::take(&mut *active);
    let n = all.len();
    for r in all.values().rev() {
        undo(r);
    }
    // The lock stays held until here: a Drop running concurrently has finished or waits.
    drop(active);
    n
}

fn undo(r: &Registration) {
    for target in r.mounts.iter().rev() {
        // Lazy: a process still inside (an installation being killed) does not keep it busy.
        let _ = Command::new("umount").arg("--lazy").arg(target).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
    for dir in r.dirs.iter().rev() {
        // Processes being killed may still write for a moment: try again for up to 10 s.
        for _ in 0..100 {
            if dir.symlink_metadata().is_err() {
                break;
            }
            // --one-file-system: never into a mount that could not be undone.
            let _ = Command::new("rm")
                .args(["-rf", "--one-file-system", "--"])
                .arg(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if dir.symlink_metadata().is_ok() {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

/// Runs `cmd` like `Command::output`, its process id known to [`cleanup_all`] meanwhile.
pub(crate) fn run_tracked(cmd: &mut Command) -> std::io::Result<Output> {
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let pid = child.id();
    RUNNING.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(pid);
    let out = child.wait_with_output();
    RUNNING.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|p| *p != pid);
    out
}

/// How a command run by [`run_limited`] ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ended {
    /// It exited (or was killed by a signal not ours).
    Exited(std::process::ExitStatus),
    /// It ran past its time limit: its process group was killed.
    TimedOut,
}

/// Runs `cmd` with its standard output and error written to `log`, in a process group of its
/// own, known to [`cleanup_all`] meanwhile. Past `limit` the whole group is killed (SIGKILL):
/// with `unshare --kill-child` in it, the installation's PID namespace, and every process a
/// maintainer script started there, goes with it.
pub(crate) fn run_limited(cmd: &mut Command, log: &Path, limit: Duration) -> Result<Ended> {
    use std::os::unix::process::CommandExt as _;
    let out = std::fs::File::create(log).map_err(|e| Error::io(log, e))?;
    let err = out.try_clone().map_err(|e| Error::io(log, e))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::Command { what: format!("start {:?}", cmd.get_program()), detail: e.to_string() })?;
    let pid = child.id();
    RUNNING.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(pid);
    let started = Instant::now();
    let ended = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(Ended::Exited(status)),
            Ok(None) if started.elapsed() >= limit => {
                kill_group(pid);
                let _ = child.wait();
                break Ok(Ended::TimedOut);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(25)),
            Err(e) => {
                kill_group(pid);
                let _ = child.wait();
                break Err(Error::Command { what: "wait for an installation".into(), detail: e.to_string() });
            }
        }
    };
    RUNNING.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|p| *p != pid);
    ended
}

/// Kills the process group `pid` leads, and `pid` itself should it have left it.
fn kill_group(pid: u32) {
    let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else { return };
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
}

/// The last `lines` lines of the file at `path` (lossy UTF-8).
pub(crate) fn tail_of(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs `cmd`, capturing its output; an error names `what` and carries the end of stderr.
pub(crate) fn run(cmd: &mut Command, what: &str) -> Result<Output> {
    let out = run_tracked(cmd).map_err(|e| Error::Command {
        what: what.to_owned(),
        detail: format!("cannot start {:?}: {e}", cmd.get_program()),
    })?;
    if !out.status.success() {
        return Err(Error::Command { what: what.to_owned(), detail: tail(&out, 30) });
    }
    Ok(out)
}

/// The last `lines` lines of a command's stdout and stderr, and its status.
pub(crate) fn tail(out: &Output, lines: usize) -> String {
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    format!("{}\n{}", out.status, all[start..].join("\n"))
}

/// How a copy of the base is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CopyMode {
    /// An overlay mount on the base (instant; needs root and overlayfs).
    Overlay,
    /// `cp -a --reflink=auto` (a full copy, or a reflink on btrfs and XFS).
    Copy,
}

use serde::Serialize;

/// A writable copy of the base at `dir/root`, made by overlay when it can (and `mode` allows),
/// else by copying. An overlay has `layer` (apt's caches, see `layer.rs`) between the base and
/// its upper directory, and its upper and work directories in `dir`; a copy does without.
/// Registers what it makes with `cleanup`.
pub(crate) fn make_copy(
    base: &Path,
    layer: Option<&Path>,
    dir: &Path,
    prefer: CopyMode,
    cleanup: &Cleanup,
) -> Result<(PathBuf, CopyMode)> {
    if prefer == CopyMode::Overlay
        && let Some(root) = overlay(base, layer, dir, dir, cleanup)?
    {
        return Ok((root, CopyMode::Overlay));
    }
    let root = dir.join("root");
    run(Command::new("cp").args(["-a", "--reflink=auto", "--"]).arg(base).arg(&root), "copy the base chroot")?;
    Ok((root, CopyMode::Copy))
}

/// An overlay mount at `dir/root` of `base` (and `layer` above it), upper and work directories
/// in `upper_in` (`dir`, or a file system of their own there); `None` where overlayfs is
/// refused (or a path cannot be said in its options).
pub(crate) fn overlay(
    base: &Path,
    layer: Option<&Path>,
    dir: &Path,
    upper_in: &Path,
    cleanup: &Cleanup,
) -> Result<Option<PathBuf>> {
    let plain = |p: &Path| !p.as_os_str().as_encoded_bytes().iter().any(|b| matches!(b, b',' | b':' | b'\\'));
    if !(plain(base) && plain(dir) && plain(upper_in) && layer.is_none_or(plain)) {
        return Ok(None);
    }
    let (root, upper, work) = (dir.join("root"), upper_in.join("upper"), upper_in.join("work"));
    for d in [&upper, &work, &root] {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    // The leftmost lower directory is the top one.
    let mut options = OsString::from("lowerdir=");
    if let Some(layer) = layer {
        options.push(layer);
        options.push(":");
    }
    options.push(base);
    options.push(",upperdir=");
    options.push(&upper);
    options.push(",workdir=");
    options.push(&work);
    cleanup.mount(&root);
    // volatile (Linux 5.10): the upper file system is not synced when the overlay goes away.
    // Without it the last close of a copy synced the whole file system the cache is on, seconds
    // under load, for files thrown away a moment later. Older kernels refuse it: then without.
    let mut volatile = options.clone();
    volatile.push(",volatile");
    for options in [volatile, options] {
        let mounted = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o"])
            .arg(&options)
            .arg(&root)
            .stdin(Stdio::null())
            .output();
        if mounted.is_ok_and(|o| o.status.success()) {
            return Ok(Some(root));
        }
    }
    // No overlayfs here (or not as this user).
    for d in [&upper, &work, &root] {
        let _ = std::fs::remove_dir(d);
    }
    Ok(None)
}

/// A tmpfs of its own mounted on `dir` (made here), registered with `cleanup` to be unmounted:
/// where side `b`'s overlay keeps what the installation writes, so that new directory entries
/// list in another order than on the cache's file system. False (and `dir` removed) where the
/// mount is refused.
pub(crate) fn tmpfs(dir: &Path, cleanup: &Cleanup) -> Result<bool> {
    std::fs::create_dir(dir).map_err(|e| Error::io(dir, e))?;
    cleanup.mount(dir);
    // Neither nosuid nor nodev: side a's upper directory has neither, and the two installations
    // must differ only in what is varied.
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "mode=0755", "tmpfs"])
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        let _ = std::fs::remove_dir(dir);
    }
    Ok(mounted)
}

/// Unmounts what [`tmpfs`] mounted on `dir` (a side that could not use it) and removes `dir`.
pub(crate) fn drop_tmpfs(dir: &Path) {
    let _ = Command::new("umount").arg(dir).stdout(Stdio::null()).stderr(Stdio::null()).status();
    let _ = std::fs::remove_dir(dir);
}

/// Whether `path` is on a tmpfs.
pub(crate) fn on_tmpfs(path: &Path) -> bool {
    // TMPFS_MAGIC (linux/magic.h).
    const TMPFS_MAGIC: u64 = 0x0102_1994;
    rustix::fs::statfs(path).is_ok_and(|s| u64::try_from(s.f_type).is_ok_and(|t| t == TMPFS_MAGIC))
}

/// What an installation needs from the host besides the chroot.
#[derive(Debug)]
pub(crate) struct Mounts<'a> {
    /// Mounted read-only on the chroot's `/mnt`: the `.deb` files given and libfaketime.
    pub inputs: &'a Path,
    /// Bound on `/var/cache/apt/archives`: the run's own, seeded from the shared cache.
    pub debs: &'a Path,
}

/// Where `b`'s libfaketime is inside the chroot (the inputs are on `/mnt`).
pub(crate) const FAKETIME_IN_CHROOT: &str = "/mnt/libfaketime.so.1";

const WRAPPER: &str = r#"set -e
root=$1 host=$2 inputs=$3 debs=$4 dir=$5 mask=$6 view=$7
shift 7
hostname "$host"
if [ -n "$view" ]; then
    # The FUSE daemon lives in this PID namespace: it ends, and its mount with it, when the
    # installation does. dev and suid: the chroot's /dev/null, and setuid programs, must work.
    disorderfs --quiet --multi-user=yes --reverse-dirents=yes -o dev,suid "$root" "$view" >/dev/null
    root=$view
fi
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
mount --bind "$inputs" "$root/mnt"
mount -o remount,bind,ro "$root/mnt"
mount --bind "$debs" "$root/var/cache/apt/archives"
umask "$mask"
exec chroot "$root" /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$dir" "$@"
"#;

/// The command that runs `argv` inside `root` under `conditions`: own mount, UTS and PID
/// namespaces (`setpriv --pdeathsig` and `unshare --kill-child`: if the check dies, every
/// process of the installation is killed and its mounts dropped), `taskset` for the CPU count,
/// a clean environment.
pub(crate) fn install_command(root: &Path, conditions: &Conditions, mounts: &Mounts<'_>, argv: &[&str]) -> Command {
    // setpriv --pdeathsig: if the check dies, unshare is killed, and with it (--kill-child)
    // the PID namespace of the installation.
    let mut cmd = Command::new("setpriv");
    cmd.args(["--pdeathsig", "KILL", "--"]);
    if let Some(n) = conditions.cpus {
        cmd.args(["taskset", "--cpu-list", &format!("0-{}", n.saturating_sub(1))]);
    }
    cmd.arg("unshare");
    cmd.args(["--mount", "--uts", "--pid", "--fork", "--kill-child", "--propagation", "private", "--"]);
    cmd.args(["sh", "-c", WRAPPER, "sh"]).arg(root).arg(&conditions.hostname).arg(mounts.inputs).arg(mounts.debs);
    cmd.arg(&conditions.cwd).arg(&conditions.umask);
    if conditions.disorderfs {
        cmd.arg(root.with_file_name("disordered"));
    } else {
        cmd.arg("");
    }
    cmd.args(["env", "-i"]);
    cmd.args([
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/root",
        "DEBIAN_FRONTEND=noninteractive",
        "DEBCONF_NONINTERACTIVE_SEEN=true",
    ]);
    cmd.arg(format!("TZ={}", conditions.tz));
    cmd.arg(format!("LANG={}", conditions.locale)).arg(format!("LC_ALL={}", conditions.locale));
    for (k, v) in &conditions.extra_env {
        cmd.arg(format!("{k}={v}"));
    }
    if let Some(shift) = &conditions.clock_shift {
        cmd.arg(format!("LD_PRELOAD={FAKETIME_IN_CHROOT}"));
        cmd.arg(format!("FAKETIME={shift}"));
        // Timeouts and sleeps keep real time; stat() reports real mtimes so that caches keyed
        // on them stay consistent with the files, as in a real later installation.
        cmd.args(["FAKETIME_DONT_FAKE_MONOTONIC=1", "NO_FAKE_STAT=1"]);
    }
    cmd.args(argv);
    cmd.env_remove("SOURCE_DATE_EPOCH");
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounted_under(dir: &Path) -> Vec<String> {
        let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        table.lines().filter(|l| l.contains(dir.to_str().unwrap())).map(str::to_owned).collect()
    }

    /// Side `b`'s copy for the directory order: its overlay writes to a tmpfs of its own, which
    /// the cleanup unmounts (after the overlay) and removes with the run.
    #[test]
    fn an_overlay_writes_to_its_own_tmpfs_and_the_cleanup_undoes_both() {
        assert!(rustix::process::geteuid().is_root(), "the test needs root (mounts)");
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base");
        std::fs::create_dir_all(base.join("etc")).unwrap();
        std::fs::write(base.join("etc/base-file"), "x").unwrap();
        let dir = tmp.path().join("run/b");
        let cleanup = Cleanup::new();
        cleanup.dir(&tmp.path().join("run"));
        std::fs::create_dir_all(&dir).unwrap();
        let tmpfs_dir = dir.join("tmpfs");
        assert!(tmpfs(&tmpfs_dir, &cleanup).unwrap(), "tmpfs refused");
        let root = overlay(&base, None, &dir, &tmpfs_dir, &cleanup).unwrap().expect("overlayfs refused a tmpfs upper");
        assert_eq!(root, dir.join("root"));
        std::fs::create_dir(root.join("etc/new")).unwrap();
        std::fs::write(root.join("etc/new/a"), "a").unwrap();
        // The base is seen, what is written lands on the tmpfs, the base is left alone.
        assert_eq!(std::fs::read(root.join("etc/base-file")).unwrap(), b"x");
        assert!(on_tmpfs(&tmpfs_dir.join("upper/etc/new")));
        assert_eq!(std::fs::read(tmpfs_dir.join("upper/etc/new/a")).unwrap(), b"a");
        assert!(!on_tmpfs(&base) && !base.join("etc/new").exists());
        assert_eq!(mounted_under(&dir).len(), 2, "{:?}", mounted_under(&dir));
        drop(cleanup);
        assert_eq!(mounted_under(&dir), Vec::<String>::new());
        assert!(!tmp.path().join("run").exists());
        assert_eq!(std::fs::read(base.join("etc/base-file")).unwrap(), b"x");
    }

    #[test]
    fn a_tmpfs_that_is_not_used_is_unmounted_and_removed_at_once() {
        assert!(rustix::process::geteuid().is_root(), "the test needs root (mounts)");
        let tmp = tempfile::tempdir().unwrap();
        let cleanup = Cleanup::new();
        let dir = tmp.path().join("tmpfs");
        assert!(tmpfs(&dir, &cleanup).unwrap());
        assert!(on_tmpfs(&dir));
        assert_eq!(mounted_under(&dir).len(), 1);
        drop_tmpfs(&dir);
        assert_eq!(mounted_under(&dir), Vec::<String>::new());
        assert!(!dir.exists());
    }
}
