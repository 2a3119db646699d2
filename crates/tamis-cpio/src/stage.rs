//! The `initramfs` stage.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tamis_core::{Action, Context, Edits, Entry, Epoch, FileKind, Links, Normalizer, Report, Result, Root};

use crate::CpioError;
use crate::archive::ArchiveOptions;
use crate::initramfs::{self, Compression};

/// Options of the `initramfs` stage: those of every archive it normalizes (`times`,
/// `root_owner`).
pub type InitramfsOptions = ArchiveOptions;

/// The `initramfs` stage. See the [crate documentation](crate).
#[derive(Debug, Clone, Copy, Default)]
pub struct Initramfs {
    options: InitramfsOptions,
}

/// Normalizes the initramfs file `bytes` (see [`initramfs::normalize`]); `None` if it is
/// canonical already.
pub fn normalize_file(
    bytes: &[u8],
    epoch: Epoch,
    options: InitramfsOptions,
) -> std::result::Result<Option<Vec<u8>>, CpioError> {
    // cpio keeps 32-bit times; an epoch past 2106 cannot be written and is held at the maximum.
    let epoch = u32::try_from(epoch.secs()).unwrap_or(u32::MAX);
    initramfs::normalize(bytes, epoch, options)
}

impl Initramfs {
    /// The stage's name.
    pub const NAME: &'static str = "initramfs";
    /// One line for `tamis stages`.
    pub const SUMMARY: &'static str =
        "rewrite initrds canonically: member order, inode numbers, times, devices; same compression";

    /// A stage with these options.
    pub fn new(options: InitramfsOptions) -> Self {
        Self { options }
    }
}

/// Whether an entry may be an initramfs: everything under `/boot`, and files named `initrd*` or
/// `initramfs*` anywhere (live systems keep theirs in `/live` or `/casper`). Its contents decide.
fn is_candidate(entry: &Entry) -> bool {
    let name = entry.path.file_name().unwrap_or_default().to_string_lossy();
    entry.meta.kind == FileKind::File
        && (entry.path.starts_with("boot") || name.starts_with("initrd") || name.starts_with("initramfs"))
}

fn named_initrd(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.starts_with("initrd") || name.starts_with("initramfs")
}

enum Outcome {
    NotInitramfs,
    Canonical,
    Rewrite(Vec<u8>),
    Failed(String),
}

fn examine(root: &Root, entry: &Entry, epoch: i64, options: InitramfsOptions, explicit: bool) -> Outcome {
    let mut head = [0u8; 8];
    let read_head = root.open_regular(&entry.path).and_then(|file| {
        let mut n = 0;
        let mut file = file.take(8);
        loop {
            match file.read(&mut head[n..]) {
                Ok(0) => break Ok(n),
                Ok(k) => n += k,
                Err(e) => break Err(tamis_core::Error::Io { path: entry.path.clone(), op: "read", source: e }),
            }
        }
    });
    let n = match read_head {
        Ok(n) => n,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let compression = Compression::detect(&head[..n]);
    // A compressed file is an initramfs only if it is named one; plain cpio is one anywhere here.
    let plausible =
        compression == Some(Compression::None) || (compression.is_some() && (explicit || named_initrd(&entry.path)));
    if explicit && !plausible {
        let why = "neither a cpio archive nor a known compressed stream";
        return Outcome::Failed(format!("{}: {why}; left as it is", tamis_core::display_path(&entry.path)));
    }
    if !plausible {
        return Outcome::NotInitramfs;
    }
    if entry.meta.size > initramfs::DECOMPRESSED_LIMIT as u64 {
        let limit = initramfs::DECOMPRESSED_LIMIT >> 20;
        return Outcome::Failed(format!(
            "{}: {} bytes, more than the {limit} MiB an initramfs may hold here; left as it is",
            tamis_core::display_path(&entry.path),
            entry.meta.size
        ));
    }
    let bytes = match root.read(&entry.path) {
        Ok(bytes) => bytes,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let failed =
        |e: CpioError| Outcome::Failed(format!("{}: {e}; left as it is", tamis_core::display_path(&entry.path)));
    let segments = match initramfs::split(&bytes) {
        Ok(segments) => segments,
        Err(e) => return failed(e),
    };
    // Found by its name only: the decompressed contents decide whether it is an initramfs.
    if !explicit && compression != Some(Compression::None) && !initramfs::holds_cpio(&segments) {
        return Outcome::NotInitramfs;
    }
    let epoch = u32::try_from(epoch).unwrap_or(u32::MAX);
    match initramfs::normalize_segments(&bytes, segments, epoch, options) {
        Ok(None) => Outcome::Canonical,
        Ok(Some(new)) => Outcome::Rewrite(new),
        Err(e) => failed(e),
    }
}

impl Initramfs {
    /// Normalizes the given files of `root`, each of which must be an initramfs (named so or
    /// not): what `tamis initramfs FILE…` runs.
    pub fn run_on(&self, root: &Root, files: &[&Path], cx: &Context<'_>) -> Result<Report> {
        let mut entries = Vec::new();
        let mut edits = Edits::new(root, cx, Self::NAME);
        for file in files {
            match root.lstat(file) {
                Ok(meta) if meta.kind == FileKind::File => entries.push(Entry { path: file.to_path_buf(), meta }),
                Ok(meta) => {
                    let shown = tamis_core::display_path(file);
                    edits.problem(file, format!("{shown}: is a {}, not a file", meta.kind.noun()));
                }
                Err(e) => edits.error(file, &e),
            }
        }
        let outcomes: Vec<(&Entry, Outcome)> =
            entries.par_iter().map(|e| (e, examine(root, e, cx.epoch.secs(), self.options, true))).collect();
        // Names given on the command line have no other links this run knows of.
        Ok(apply(edits, outcomes, |_| Links::unknown()))
    }
}

impl Initramfs {
    /// Normalizes initramfs files named by their paths (as `tamis initramfs FILE…` is given
    /// them): each is handled beneath the directory that holds it, opened as a root of its own,
    /// after what an interrupted run left beside it ([`tamis_core::StaleTemporaries`]). The
    /// reports name each file by its path, in paths and in reasons: the temporaries' report
    /// first when it is not clean, then this stage's.
    ///
    /// # Errors
    /// A path that names no file, a directory that cannot be opened.
    pub fn run_on_paths(&self, files: &[PathBuf], cx: &Context<'_>) -> Result<Vec<Report>> {
        let mut by_dir: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
        for file in files {
            let not_found = |source| tamis_core::Error::Io { path: file.clone(), op: "find", source };
            let absolute = std::path::absolute(file).map_err(not_found)?;
            let dir = absolute.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
            let name = absolute.file_name().ok_or_else(|| not_found(std::io::ErrorKind::InvalidInput.into()))?;
            by_dir.entry(dir).or_default().push(PathBuf::from(name));
        }
        let mut merged = Report::new(Self::NAME, cx.mode);
        let mut leftovers = Report::new(tamis_core::StaleTemporaries::NAME, cx.mode);
        for (dir, names) in &by_dir {
            let root = Root::open(dir)?;
            let left = tamis_core::StaleTemporaries.run_in(&root, Path::new(""), cx)?;
            absorb(&mut leftovers, left, dir);
            let names: Vec<&Path> = names.iter().map(PathBuf::as_path).collect();
            absorb(&mut merged, self.run_on(&root, &names, cx)?, dir);
        }
        merged.sort();
        let mut reports = if leftovers.is_clean() { Vec::new() } else { vec![leftovers] };
        reports.push(merged);
        Ok(reports)
    }
}

/// Adds the report of a root on `dir` to `into`, its paths made paths of `dir`. A reason names
/// its entry first, as the root saw it (`/initrd.img: …`, the convention of every reason): that
/// name becomes the path in `dir`.
fn absorb(into: &mut Report, report: Report, dir: &Path) {
    into.examined += report.examined;
    into.changes.extend(report.changes.into_iter().map(|mut c| {
        c.path = dir.join(&c.path);
        c
    }));
    into.problems.extend(report.problems.into_iter().map(|mut p| {
        let shown = tamis_core::display_path(&p.path);
        p.path = dir.join(&p.path);
        if let Some(rest) = p.reason.strip_prefix(shown.as_str()) {
            p.reason = format!("{}{rest}", p.path.display());
        }
        p
    }));
    into.skipped.extend(report.skipped.into_iter().map(|mut s| {
        s.path = dir.join(&s.path);
        s
    }));
}

fn apply<'t>(mut edits: Edits<'_>, outcomes: Vec<(&'t Entry, Outcome)>, links: impl Fn(&'t Entry) -> Links) -> Report {
    for (entry, outcome) in outcomes {
        match outcome {
            Outcome::NotInitramfs => {}
            Outcome::Canonical => edits.examined(1),
            Outcome::Failed(why) => {
                edits.examined(1);
                edits.problem(&entry.path, why);
            }
            Outcome::Rewrite(new) => {
                edits.examined(1);
                let links = links(entry);
                let values = Some((format!("{} bytes", entry.meta.size), format!("{} bytes", new.len())));
                let reason = "member order, times, inode numbers and compressor header of the build";
                edits.apply_linked(&entry.path, &links, Action::Rewrite, reason, values, |root| {
                    root.replace(&entry.path, &new, &links)
                });
            }
        }
    }
    edits.finish()
}

impl Normalizer for Initramfs {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report> {
        let tree = root.walk()?;
        let edits = Edits::new(root, cx, Self::NAME);
        // A hard-link group once, under its first name: its other names follow the rewrite.
        let candidates: Vec<&Entry> =
            tree.entries().iter().filter(|e| is_candidate(e) && tree.is_first_name(e)).collect();
        let epoch = cx.epoch.secs();
        let outcomes: Vec<(&Entry, Outcome)> =
            candidates.par_iter().map(|e| (*e, examine(root, e, epoch, self.options, false))).collect();
        Ok(apply(edits, outcomes, |entry| tree.links(entry)))
    }
}
