//! Temporary files: the names tamis gives them, and a process-wide registry of those alive, so
//! that an interrupted run (SIGINT, SIGTERM, SIGHUP) leaves none behind.
//!
//! Every temporary file tamis makes — the copy [`Root::replace`](crate::Root::replace) writes
//! beside a file, the extra names of a hard-link group being re-pointed, an image or report
//! written beside its destination ([`OutputFile`]) — is created *and registered* under one lock,
//! as a directory descriptor and a name (never a path, which could be re-resolved through a link
//! swapped in since). The binary's signal handler calls [`interrupt`], which:
//!
//! 1. marks the process as terminating: from then on no temporary can be created (a worker
//!    thread creating one at that moment either finished before, and is registered, or gets an
//!    error);
//! 2. waits for every *commit* in progress ([`commit`]: the renames that put a finished file in
//!    place, and the re-pointing of a whole hard-link group) to end, and lets no new one start,
//!    so a signal never splits a link group nor stops between the renames of one replacement;
//! 3. kills the child processes writing into a temporary (xorriso) and removes every registered
//!    temporary, by its directory descriptor and name.
//!
//! SIGKILL cannot be caught: what it leaves is found by the next run (`StaleTemporaries`, `src/stale.rs`). For
//! that, a temporary's name says what it is: `.tamis-PID-N-iINO.tmp` beside a file being
//! replaced, where `INO` is the inode number of the file it replaces (so that an interrupted
//! re-pointing of a hard-link group can be finished), and `.tamis-LABEL-PID-N.tmp` beside an
//! output file (`LABEL`: `squashfs`, `iso`, `manifest`, `report`).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};

use rustix::fs::{self as rfs, AtFlags, OFlags};
use rustix::io::Errno;

/// Every temporary name starts with this.
pub const PREFIX: &str = ".tamis-";
/// Every temporary name ends with this.
pub const SUFFIX: &str = ".tmp";

struct Live {
    dir: OwnedFd,
    name: OsString,
}

struct Registry {
    terminating: bool,
    next: u64,
    live: BTreeMap<u64, Live>,
    children: BTreeMap<u64, u32>,
}

static REGISTRY: Mutex<Registry> =
    Mutex::new(Registry { terminating: false, next: 0, live: BTreeMap::new(), children: BTreeMap::new() });
/// Held shared by every commit in progress, exclusively by [`interrupt`] once it starts.
static COMMITS: RwLock<()> = RwLock::new(());

thread_local! {
    /// Whether this thread is inside [`commit`]: it may still create the temporary links it
    /// needs to finish, even once the process is terminating.
    static IN_COMMIT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn registry() -> MutexGuard<'static, Registry> {
    // A panic elsewhere while holding the lock must not stop the cleaning up.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

fn interrupted() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::Interrupted, "tamis is being interrupted")
}

/// A registered temporary name. Removing it or committing it ends the registration; dropping
/// it without either removes the file.
#[derive(Debug)]
pub(crate) struct TempName {
    id: u64,
    name: OsString,
    done: bool,
}

impl TempName {
    /// The name, in the directory it was created in.
    pub(crate) fn name(&self) -> &OsStr {
        &self.name
    }

    /// Removes the temporary name from `dir`; the error, if any, says it is still there.
    pub(crate) fn remove(mut self, dir: &impl AsFd) -> std::io::Result<()> {
        self.done = true;
        let mut reg = registry();
        reg.live.remove(&self.id);
        match rfs::unlinkat(dir, &self.name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The name is gone (renamed onto its destination): forget it.
    pub(crate) fn forget(mut self) {
        self.done = true;
        registry().live.remove(&self.id);
    }
}

impl Drop for TempName {
    fn drop(&mut self) {
        if !self.done
            && let Some(live) = registry().live.remove(&self.id)
        {
            let _ = rfs::unlinkat(&live.dir, &live.name, AtFlags::empty());
        }
    }
}

/// Runs `create(name)` under the registry lock for fresh names until one does not exist yet,
/// and registers it in `dir`.
fn create_registered(
    dir: &impl AsFd,
    mut name_for: impl FnMut(u64) -> OsString,
    mut create: impl FnMut(&OsStr) -> rustix::io::Result<()>,
) -> std::io::Result<TempName> {
    let dir = rustix::io::fcntl_dupfd_cloexec(dir, 0)?;
    let mut reg = registry();
    if reg.terminating && !IN_COMMIT.get() {
        return Err(interrupted());
    }
    loop {
        let id = reg.next;
        reg.next += 1;
        let name = name_for(id);
        match create(&name) {
            Ok(()) => {
                reg.live.insert(id, Live { dir, name: name.clone() });
                return Ok(TempName { id, name, done: false });
            }
            Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

fn pid() -> i32 {
    rustix::process::getpid().as_raw_nonzero().get()
}

/// The name of a temporary replacing the inode `replaced` in the same directory.
fn replacement_name(id: u64, replaced: u64) -> OsString {
    OsString::from(format!("{PREFIX}{}-{id}-i{replaced}{SUFFIX}", pid()))
}

/// A new, empty file readable and writable only by its owner in `dir`, registered, whose name
/// says it replaces the inode `replaced`.
pub(crate) fn create_temp(dir: &impl AsFd, replaced: u64) -> std::io::Result<(TempName, File)> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut file = None;
    let name = create_registered(
        dir,
        |id| replacement_name(id, replaced),
        |name| {
            file = Some(rfs::openat(dir, name, flags, rfs::Mode::from_raw_mode(0o600))?);
            Ok(())
        },
    )?;
    let file = file.map(File::from).ok_or_else(|| std::io::Error::other("no file created"))?;
    Ok((name, file))
}

/// A new entry in `dir` that `create(name)` makes (a symbolic link, a device node, a FIFO)
/// under a registered temporary name that says it replaces the inode `replaced`.
pub(crate) fn create_temp_node(
    dir: &impl AsFd,
    replaced: u64,
    create: impl FnMut(&OsStr) -> rustix::io::Result<()>,
) -> std::io::Result<TempName> {
    create_registered(dir, |id| replacement_name(id, replaced), create)
}

/// A new hard link in `to_dir` to `name` in `from_dir`, under a registered temporary name that
/// says it replaces the inode `replaced`.
pub(crate) fn create_temp_link(
    from_dir: &impl AsFd,
    name: &OsStr,
    to_dir: &impl AsFd,
    replaced: u64,
) -> std::io::Result<TempName> {
    create_registered(
        to_dir,
        |id| replacement_name(id, replaced),
        |link_name| rfs::linkat(from_dir, name, to_dir, link_name, AtFlags::empty()),
    )
}

/// Runs `f`, a step that must not be cut in two by an interruption (renames that put a file
/// in place, the re-pointing of a hard-link group, patches written in place): [`interrupt`]
/// waits for it to end. Fails without running `f` if the process is already terminating.
pub fn commit<T>(f: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    let _shared = COMMITS.read().unwrap_or_else(PoisonError::into_inner);
    if registry().terminating {
        return Err(interrupted());
    }
    let outer = IN_COMMIT.replace(true);
    let result = f();
    IN_COMMIT.set(outer);
    result
}

/// A child process writing into a temporary file (xorriso): killed by [`interrupt`] before the
/// file is removed. The registration ends when this is dropped.
#[derive(Debug)]
pub struct ChildGuard {
    id: u64,
}

impl ChildGuard {
    /// Registers the running process `pid`.
    pub fn new(pid: u32) -> Self {
        let mut reg = registry();
        let id = reg.next;
        reg.next += 1;
        reg.children.insert(id, pid);
        Self { id }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        registry().children.remove(&self.id);
    }
}

/// For a signal handler: stops new temporaries and commits, waits for the commits in progress,
/// kills registered children, removes every registered temporary. Returns how many were
/// removed. The caller then exits (128 + the signal's number).
pub fn interrupt() -> usize {
    registry().terminating = true;
    // Every commit that started before has ended when this is granted; later ones fail.
    let _exclusive = COMMITS.write().unwrap_or_else(PoisonError::into_inner);
    let mut reg = registry();
    for pid in reg.children.values() {
        if let Some(pid) = rustix::process::Pid::from_raw(*pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
    let live = std::mem::take(&mut reg.live);
    let mut removed = 0;
    for entry in live.values() {
        if rfs::unlinkat(&entry.dir, &entry.name, AtFlags::empty()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// An output file (an image, a manifest, a report) written under a temporary name beside its
/// destination, then renamed onto it: a reader never sees a half-written file, a failure (a full
/// disk) or an interruption leaves the previous file as it was and removes the temporary.
#[derive(Debug)]
pub struct OutputFile {
    dir: OwnedFd,
    temp: Option<TempName>,
    file: File,
    target: OsString,
    dir_path: PathBuf,
}

impl OutputFile {
    /// Creates `.tamis-LABEL-PID-N.tmp` beside `path` (the directory is resolved as the caller
    /// wrote it: the destination is the user's choice).
    ///
    /// A destination that exists and is not a regular file (seen through a symbolic link) is
    /// refused: the rename would put a file in place of a device node (`/dev/null`), a named
    /// pipe or `/dev/stdout`, and a directory cannot be replaced at all; refused here, before
    /// the caller's work rather than after it.
    pub fn create(path: &Path, label: &str) -> std::io::Result<Self> {
        let (dir, dir_path, target) = output_place(path)?;
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut file = None;
        let temp = create_registered(
            &dir,
            |id| OsString::from(format!("{PREFIX}{label}-{}-{id}{SUFFIX}", pid())),
            |name| {
                file = Some(rfs::openat(&dir, name, flags, rfs::Mode::from_raw_mode(0o600))?);
                Ok(())
            },
        )?;
        let file = file.map(File::from).ok_or_else(|| std::io::Error::other("no file created"))?;
        Ok(Self { dir, temp: Some(temp), file, target, dir_path })
    }

    /// The open temporary file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The temporary file's path, for a program that writes it by name.
    pub fn path(&self) -> PathBuf {
        self.dir_path.join(self.temp.as_ref().map_or(OsStr::new(""), TempName::name))
    }

    /// Gives the file the permission bits `mode`, flushes it and renames it onto the destination.
    pub fn persist(mut self, mode: u32) -> std::io::Result<()> {
        rfs::fchmod(&self.file, rfs::Mode::from_raw_mode(mode & 0o7777))?;
        self.file.sync_data()?;
        let temp = self.temp.take().ok_or_else(|| std::io::Error::other("already persisted"))?;
        let renamed = commit(|| Ok(rfs::renameat(&self.dir, temp.name(), &self.dir, &self.target)?));
        match renamed {
            Ok(()) => {
                temp.forget();
                Ok(())
            }
            Err(e) => {
                let _ = temp.remove(&self.dir);
                Err(e)
            }
        }
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = temp.remove(&self.dir);
        }
    }
}

/// Writes `bytes` to `path` atomically (an [`OutputFile`] persisted with mode 0644).
pub fn write_atomic(path: &Path, bytes: &[u8], label: &str) -> std::io::Result<()> {
    let out = OutputFile::create(path, label)?;
    std::io::Write::write_all(&mut out.file(), bytes)?;
    out.persist(0o644)
}

/// Whether a file could be written at `path` the way [`OutputFile`] writes one: its directory
/// exists, and `path` is not a directory, device node, named pipe or socket (a path ending with
/// `/` included). For a command to check its output paths before its work, so that a run is
/// never made whose result cannot be written.
///
/// # Errors
/// Why not, as [`OutputFile::create`] would say it.
pub fn check_output(path: &Path) -> std::io::Result<()> {
    output_place(path).map(drop)
}

/// The directory holding `path`, opened, its path and `path`'s last name; the checks of
/// [`check_output`].
fn output_place(path: &Path) -> std::io::Result<(OwnedFd, PathBuf, OsString)> {
    let (dir_path, target) = split_output(path)?;
    let dir = rfs::open(&dir_path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, rfs::Mode::empty())?;
    if let Ok(st) = rfs::statat(&dir, &target, AtFlags::empty()) {
        let kind = crate::FileKind::from_mode(st.st_mode);
        if kind != crate::FileKind::File {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("exists and is a {}, not a regular file: not replaced", kind.noun()),
            ));
        }
    }
    Ok((dir, dir_path, target))
}

/// The directory holding `path` and its last name. A path ending with `/` (or `/.`) names a
/// directory, whether or not one is there: it is refused, where `Path::file_name` would drop the
/// slash and the file would be written under the directory's name (`out/` as a file `out`).
fn split_output(path: &Path) -> std::io::Result<(PathBuf, OsString)> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.ends_with(b"/") || bytes.ends_with(b"/.") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "names a directory (ends with /), not a file",
        ));
    }
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "names no file"))?
        .to_os_string();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name))
}

/// Temporaries named `.tamis-LABEL-…` left beside `path` by an earlier run of the command
/// that writes such files (after SIGKILL, or a crash): their paths, sorted. They may belong to
/// a run still going on, so they are only named, never removed.
pub fn stale_beside(path: &Path, label: &str) -> Vec<PathBuf> {
    let Ok((dir_path, _)) = split_output(path) else { return Vec::new() };
    let prefix = format!("{PREFIX}{label}-");
    let Ok(dir) = rfs::open(&dir_path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, rfs::Mode::empty()) else {
        return Vec::new();
    };
    let Ok(mut listing) = rfs::Dir::read_from(&dir) else { return Vec::new() };
    let own = registry().live.values().map(|l| l.name.clone()).collect::<Vec<_>>();
    let mut found = Vec::new();
    while let Some(Ok(entry)) = listing.next() {
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if name.as_encoded_bytes().starts_with(prefix.as_bytes()) && !own.iter().any(|o| o == name) {
            found.push(dir_path.join(name));
        }
    }
    found.sort();
    found
}
