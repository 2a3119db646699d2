//! Timestamps, names, owners and orderings embedded *inside* files.
//!
//! Tools write the time of the build into the files they make: `gzip` stores the input's mtime
//! and name in its header (`mkinitramfs` leaks a random temporary name such as
//! `mkinitramfs-MAIN_x3Fq9a` into `/boot/initrd.img-*`), `zip` and `jar` store each entry's
//! time three ways (DOS fields, the `UT` and NTFS extra fields) and the builder's uid/gid and
//! umask, `ar` (static libraries, `.deb`) stores member times, owners and modes, PNG writers add
//! a `tIME` chunk and `date:create`/`date:modify` text, and `msgfmt` copies the header dates
//! of a translation (regenerated at build time) into its `.mo` catalog. In a Debian image these
//! are found in `/usr/share/java/*.jar`, `/usr/share/doc/**/*.gz`, `/usr/lib/*/*.a`,
//! `/usr/share/**/*.png`, `/usr/share/locale/**/*.mo` and the initrd. Debian's
//! `strip-nondeterminism` and Fedora's `add-determinism` remove them from package builds; this
//! crate does the same and more (see `docs/formats.md` for the handler table).
//!
//! Each format is a [`Handler`]: it recognises a file by its **content** (magic bytes; the name
//! is only a hint, so a gzip named `initrd.img-6.1.0-28-amd64` and a zip named `omni.ja` are
//! found) and returns new bytes, or `None` when the file is already normal. The driver,
//! [`StripFormats`], reads each regular file once — the first bytes, and the rest only if a
//! handler wants it — offers it to every matching handler, and rewrites it through
//! [`Root::replace`], which keeps owner, mode, times, extended attributes and hard links.
//! Handlers change only what varies and copy every other byte: no compressed data is ever
//! recompressed. Times follow the mtime stage's rule: by default a time newer than the epoch
//! becomes the epoch ([`TimePolicy::Clamp`]); [`TimePolicy::Set`] gives every time the epoch.
//!
//! A file a handler cannot parse (truncated, corrupt, or a variant that cannot be normalized
//! without breaking it, such as an encrypted zip) is left byte-for-byte as it was and reported as a
//! problem naming the path and the reason; the run goes on.
//!
//! Proof of validity: the tests build real inputs with the real tools at two different times
//! (`gzip`, `zip`, `jar`, `ar`, `dpkg-deb`, `msgfmt`, Python's zlib for PNG), check that tamis makes them identical and
//! that the consumers still accept them (`gzip -t` and the decompressed bytes, `unzip -t`,
//! `jar tf`, `ar t`/`ar p`, `dpkg-deb -I`, `pngcheck`, `msgunfmt`), that a second run
//! changes nothing, and that `strip-nondeterminism` finds nothing left to change. Every parser
//! has a fuzz target asserting it never panics and that its output is a fixed point.
//!
//! ```
//! use tamis_core::Epoch;
//! use tamis_formats::{Handler, Settings, gzip::Gzip};
//!
//! // A gzip header with mtime 2026-11-23, the name "x" and OS 0, then an empty deflate stream.
//! let mut file = vec![0x1f, 0x8b, 8, 0x08, 0x00, 0x20, 0x23, 0x6b, 0, 0, b'x', 0, 3, 0];
//! file.extend_from_slice(&[0; 8]);
//! let settings = Settings::new(Epoch::from_secs(1_700_000_000).expect("positive"));
//! assert!(Gzip.matches("x.gz".as_ref(), &file));
//! let fixed = Gzip.normalize(&file, &settings)?.expect("the header changes");
//! assert_eq!(&fixed[..10], &[0x1f, 0x8b, 8, 0, 0x00, 0xf1, 0x53, 0x65, 0, 3]);
//! assert_eq!(Gzip.normalize(&fixed, &settings)?, None);
//! # Ok::<(), tamis_formats::FormatError>(())
//! ```

use std::io::Read as _;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tamis_core::{Action, Context, Edits, Epoch, FileKind, Links, Mode, Normalizer, Report, Result, Root, Tree};

pub mod ar;
pub mod cpio;
pub mod gettext;
pub mod gzip;
mod jar;
pub mod javadoc;
pub mod png;
pub mod pyc;
mod time;
pub mod uimage;
pub mod zip;

/// How many bytes every handler needs to recognise its format.
pub const HEAD_LEN: usize = 8;

/// Why a handler could not normalize a file. The file is then left as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The file ends before a structure that its headers announce.
    #[error("truncated: {what} at byte {offset} runs past the end of the file")]
    Truncated {
        /// The structure.
        what: &'static str,
        /// Where it starts.
        offset: usize,
    },
    /// A structure holds a value the format does not allow.
    #[error("malformed: {what} at byte {offset}")]
    Malformed {
        /// What is wrong.
        what: &'static str,
        /// Where.
        offset: usize,
    },
    /// A valid file that this handler does not rewrite, because doing so would break it or
    /// needs a feature not written yet.
    #[error("not normalized: {0}")]
    Unsupported(&'static str),
    /// A version of the format this handler does not know, named by the number that the file
    /// gives it (a pyc's magic number): left as it was rather than guessed at.
    #[error("not normalized: {what} {number} is not one tamis knows ({known})")]
    UnknownVersion {
        /// What the number is.
        what: &'static str,
        /// The number.
        number: u32,
        /// The versions the handler knows.
        known: &'static str,
    },
    /// A valid file of the format that is left as it is on purpose, because a change would
    /// break what the file is used for (an Android package's signature). Reported as skipped,
    /// not as a problem.
    #[error("left as it is: {0}")]
    LeftAlone(&'static str),
}

/// What to do with a timestamp found inside a file: the workspace's one time policy.
pub use tamis_core::TimePolicy;

/// What handlers are given besides the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// `SOURCE_DATE_EPOCH`.
    pub epoch: Epoch,
    /// Clamp or set.
    pub policy: TimePolicy,
    /// Keep the file name of a gzip header (dropped by default: it names the build's input,
    /// often a temporary file).
    pub gzip_keep_name: bool,
}

impl Settings {
    /// Default settings for `epoch`: clamp, drop gzip names.
    pub fn new(epoch: Epoch) -> Self {
        Self { epoch, policy: TimePolicy::Clamp, gzip_keep_name: false }
    }

    /// These settings with times clamped or set.
    #[must_use]
    pub fn with_policy(mut self, policy: TimePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// These settings keeping (or dropping) gzip file names.
    #[must_use]
    pub fn with_gzip_keep_name(mut self, keep: bool) -> Self {
        self.gzip_keep_name = keep;
        self
    }

    /// The time (seconds since 1970) that `secs` should become.
    pub(crate) fn fix_time(&self, secs: i64) -> i64 {
        self.policy.apply(secs, self.epoch.secs())
    }
}

/// One file format. Implementations are stateless and shared by all threads.
pub trait Handler: Send + Sync {
    /// The format, as `--type` and profiles spell it.
    fn format(&self) -> Format;
    /// What the handler normalizes, in a few words, for reports.
    fn what(&self) -> &'static str;
    /// Whether the file is of this format. `head` is the first [`HEAD_LEN`] bytes (fewer for a
    /// shorter file); `path` is a hint only and must not be needed to recognise the format.
    fn matches(&self, path: &Path, head: &[u8]) -> bool;
    /// The normalized contents, or `None` if `bytes` are already normal. Never panics, whatever
    /// the bytes; the output normalized again gives `None`.
    fn normalize(&self, bytes: &[u8], settings: &Settings) -> Result<Option<Vec<u8>>, FormatError>;
}

/// The formats tamis normalizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Format {
    /// gzip streams (`.gz`, `.tgz`, an initrd), every member.
    Gzip,
    /// zip archives: `.zip`, `.jar`, `.war`, `omni.ja`, ….
    Zip,
    /// `ar` archives: static libraries (`.a`) and Debian packages (`.deb`).
    Ar,
    /// PNG images.
    Png,
    /// GNU gettext message catalogs (`.mo`).
    Gettext,
    /// Python byte code (`.pyc`): marshal reference flags.
    Pyc,
    /// HTML pages made by `javadoc`: the generation date.
    Javadoc,
    /// U-Boot legacy images (`mkimage`): the header time.
    Uimage,
    /// Standalone cpio archives (newc, crc and odc): member times, inode numbers, order.
    Cpio,
}

impl Format {
    /// Every format, in the order handlers are offered a file.
    pub const ALL: [Format; 9] = [
        Format::Gzip,
        Format::Zip,
        Format::Ar,
        Format::Png,
        Format::Gettext,
        Format::Pyc,
        Format::Javadoc,
        Format::Uimage,
        Format::Cpio,
    ];

    /// The name in profiles and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Gzip => "gzip",
            Format::Zip => "zip",
            Format::Ar => "ar",
            Format::Png => "png",
            Format::Gettext => "gettext",
            Format::Pyc => "pyc",
            Format::Javadoc => "javadoc",
            Format::Uimage => "uimage",
            Format::Cpio => "cpio",
        }
    }

    /// The handler of this format.
    pub fn handler(self) -> &'static dyn Handler {
        match self {
            Format::Gzip => &gzip::Gzip,
            Format::Zip => &zip::Zip,
            Format::Ar => &ar::Ar,
            Format::Png => &png::Png,
            Format::Gettext => &gettext::Gettext,
            Format::Pyc => &pyc::Pyc,
            Format::Javadoc => &javadoc::Javadoc,
            Format::Uimage => &uimage::Uimage,
            Format::Cpio => &cpio::Cpio,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is not one of [`Format::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}; known formats: gzip, zip, ar, png, gettext, pyc, javadoc, uimage, cpio")]
pub struct UnknownFormat(pub String);

impl std::str::FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, UnknownFormat> {
        Format::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

impl Format {
    /// The first format (in the order of [`Format::ALL`]) whose handler recognises `bytes`
    /// (its first [`HEAD_LEN`] bytes are enough): the handler that owns this content.
    pub fn of(path: &Path, bytes: &[u8]) -> Option<Format> {
        let head = bytes.get(..HEAD_LEN).unwrap_or(bytes);
        Format::ALL.into_iter().find(|f| f.handler().matches(path, head))
    }
}

/// What [`normalize_bytes`] made of a file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Normalized {
    /// The normalized bytes, or `None` if they were normal already.
    pub bytes: Option<Vec<u8>>,
    /// The formats whose handlers changed something, in the order they ran.
    pub changed_by: Vec<Format>,
}

/// A handler that refused a file's bytes: the file is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {format} handler refused the file")]
pub struct HandlerError {
    /// The handler's format.
    pub format: Format,
    /// Why.
    #[source]
    pub error: FormatError,
}

/// Normalizes a file's bytes in memory, exactly as the formats stage would write them: every
/// handler of `formats` that recognises the bytes runs, in the order given, each on the output
/// of the one before. `path` is a hint only. This is what `tamis diff --explain` asks to learn
/// whether two files differ only in what a handler removes.
pub fn normalize_bytes(
    formats: &[Format],
    path: &Path,
    bytes: &[u8],
    settings: &Settings,
) -> Result<Normalized, HandlerError> {
    let mut current: Option<Vec<u8>> = None;
    let mut changed_by = Vec::new();
    for &format in formats {
        let handler = format.handler();
        let input = current.as_deref().unwrap_or(bytes);
        if !handler.matches(path, input.get(..HEAD_LEN).unwrap_or(input)) {
            continue;
        }
        if let Some(out) = handler.normalize(input, settings).map_err(|error| HandlerError { format, error })? {
            changed_by.push(format);
            current = Some(out);
        }
    }
    Ok(Normalized { bytes: current, changed_by })
}

/// Options of the formats stage, as written in a profile (`[[stage]] name = "formats"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FormatsOptions {
    /// Clamp (default) or set every embedded time.
    #[serde(default)]
    pub policy: TimePolicy,
    /// Keep gzip file names (default: drop them).
    #[serde(default)]
    pub gzip_keep_name: bool,
    /// The formats to normalize (default: all).
    #[serde(default = "all_formats")]
    pub types: Vec<Format>,
}

fn all_formats() -> Vec<Format> {
    Format::ALL.to_vec()
}

impl FormatsOptions {
    /// These options with times clamped or set.
    #[must_use]
    pub fn with_policy(mut self, policy: TimePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// These options keeping (or dropping) gzip file names.
    #[must_use]
    pub fn with_gzip_keep_name(mut self, keep: bool) -> Self {
        self.gzip_keep_name = keep;
        self
    }

    /// These options normalizing only `types`.
    #[must_use]
    pub fn with_types(mut self, types: Vec<Format>) -> Self {
        self.types = types;
        self
    }
}

impl Default for FormatsOptions {
    fn default() -> Self {
        Self { policy: TimePolicy::Clamp, gzip_keep_name: false, types: all_formats() }
    }
}

/// A file to normalize, with the other names of its hard-link group.
#[derive(Debug, Clone)]
pub struct FileJob<'a> {
    /// The file, inside the root.
    pub path: &'a Path,
    /// Its other names in the tree (see [`Tree::links`]).
    pub links: Links,
}

/// The formats stage. See the [crate documentation](crate).
#[derive(Debug, Clone)]
pub struct StripFormats {
    formats: Vec<Format>,
    policy: TimePolicy,
    gzip_keep_name: bool,
}

/// What became of one file.
enum Outcome {
    /// Nothing to do.
    Normal,
    /// Rewritten (or, when checking, to be), with what the handlers changed, or why writing failed.
    Changed(String, Result<()>),
    /// Left alone, with the reason.
    Failed(String),
    /// Left alone on purpose, with the reason.
    Skipped(String),
}

/// How much of a file [`StripFormats::read_if_wanted`] read.
enum Read {
    /// No handler wants it: its first bytes only.
    NotWanted,
    /// All of it; the file is kept open to look for holes if it is to change.
    Whole(std::fs::File),
    /// Its first bytes: an `ar` archive of this length, to be read header by header.
    LargeAr(std::fs::File, u64),
    /// Its first bytes: a gzip file of this length, too large to read whole, to be streamed.
    LargeGzip(std::fs::File, u64),
    /// Its first bytes: a file of this length and format, too large to read whole.
    TooLarge(Format, u64),
}

/// From this size, an `ar` archive is normalized by its headers alone.
const LARGE: u64 = 1 << 20;

/// The largest file read whole into memory (256 MiB). A worker holds a file and its new
/// contents, so memory stays below twice this per worker thread. Larger files are streamed where
/// the format allows it (gzip: every member inflated from the file and checked, headers patched
/// in place; `ar`: headers only) and otherwise left as they are, reported as a problem.
pub const READ_WHOLE_LIMIT: u64 = 256 << 20;

/// A read buffer larger than this is not kept for the next file.
const BUFFER_KEPT: usize = 64 << 20;

/// What reading and normalizing one file found.
enum Verdict {
    /// No handler wants it, or it is normal already.
    Normal,
    /// New contents, and what the handlers changed.
    Changed(Vec<u8>, String),
    /// The same length with these bytes written over, and what the handler changed.
    Patched(Vec<(u64, Vec<u8>)>, String),
    /// Left alone, with the reason.
    Failed(String),
    /// Left alone on purpose, with the reason.
    Skipped(String),
}

/// The most files read through one opening of their directory: enough to save the opening for
/// nearly every file, few enough that a large directory is still shared among the workers.
const RUN_LEN: usize = 32;

/// `files` cut into runs of consecutive files of one directory, each at most [`RUN_LEN`] long.
fn runs_in_one_directory<'f, 'p>(files: &'f [FileJob<'p>]) -> Vec<&'f [FileJob<'p>]> {
    let mut runs = Vec::new();
    let mut rest = files;
    while let Some(first) = rest.first() {
        let parent = parent_of(first.path);
        let len = rest.iter().take(RUN_LEN).take_while(|job| parent_of(job.path) == parent).count();
        let (run, after) = rest.split_at(len);
        runs.push(run);
        rest = after;
    }
    runs
}

/// The directory holding `path` ("" for an entry of the root itself).
fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new(""))
}

/// Whether `file` has a hole: a rewrite (even a copy by the kernel) would allocate it, turning
/// a sparse file into a dense one.
fn has_holes(file: &std::fs::File, len: u64) -> bool {
    rustix::fs::seek(file, rustix::fs::SeekFrom::Hole(0)).is_ok_and(|hole| hole < len)
}

impl StripFormats {
    /// The stage's name in profiles and on the command line.
    pub const NAME: &'static str = "formats";
    /// One line for `tamis stages`.
    pub const SUMMARY: &'static str = "remove times, names and owners embedded in gzip, zip/jar, ar/deb, png, gettext, pyc, javadoc, U-Boot and cpio files (by content, not name)";

    /// A stage with these options.
    pub fn new(options: &FormatsOptions) -> Self {
        let mut formats = options.types.clone();
        // Offered in the order of `Format::ALL`, whatever the order of the option.
        formats.sort_unstable();
        formats.dedup();
        Self { formats, policy: options.policy, gzip_keep_name: options.gzip_keep_name }
    }

    fn settings(&self, epoch: Epoch) -> Settings {
        Settings { epoch, policy: self.policy, gzip_keep_name: self.gzip_keep_name }
    }

    /// Normalizes `files` beneath `root`: each file is read, normalized and rewritten by one
    /// worker, so a worker holds one file at a time. Workers take short runs of files of one
    /// directory, opened once for the run (not once per file), and no run is long enough to
    /// keep the others waiting on it; the report follows the order given (give them in the canonical order for a
    /// canonical report). Each hard-link group must be given once (its other names in
    /// [`FileJob::links`]); a file also linked from outside the tree gets a new inode for its
    /// names in the tree, and the report says so.
    pub fn strip(&self, root: &Root, files: &[FileJob<'_>], edits: &mut Edits<'_>, cx: &Context<'_>) {
        let settings = self.settings(cx.epoch);
        cx.progress.start(Self::NAME, files.len() as u64);
        let outcomes: Vec<Outcome> = runs_in_one_directory(files)
            .par_iter()
            .map(|run| {
                // The directory is opened once for the run, each file then by its name in it.
                let dir = root.directory(parent_of(run[0].path));
                run.iter().map(|job| self.outcome(root, dir.as_ref(), job, &settings, cx)).collect::<Vec<_>>()
            })
            .flatten_iter()
            .collect();
        for (job, outcome) in files.iter().zip(outcomes) {
            edits.examined(1);
            match outcome {
                Outcome::Normal => {}
                Outcome::Failed(why) => edits.problem(job.path, why),
                Outcome::Skipped(why) => edits.skipped(job.path, why),
                // Checking: a file the run could not rewrite (immutable, in an append-only
                // directory) is the problem the run would report, not a change.
                Outcome::Changed(_, Err(e)) if cx.mode == Mode::Check => edits.error(job.path, &e),
                Outcome::Changed(what, written) => {
                    edits.apply_linked(job.path, &job.links, Action::Rewrite, &what, None, |_| written);
                }
            }
        }
        cx.progress.finish();
    }

    /// What becomes of one file, read through `dir`, the directory holding it (or the error
    /// opening that directory gave).
    fn outcome(
        &self,
        root: &Root,
        dir: std::result::Result<&tamis_core::Directory<'_>, &tamis_core::Error>,
        job: &FileJob<'_>,
        settings: &Settings,
        cx: &Context<'_>,
    ) -> Outcome {
        let outcome = match self.verdict(dir, job.path, settings) {
            Verdict::Normal => Outcome::Normal,
            Verdict::Failed(why) => Outcome::Failed(why),
            Verdict::Skipped(why) => Outcome::Skipped(why),
            Verdict::Changed(new, what) => {
                let written = if cx.mode == Mode::Apply {
                    root.replace(job.path, &new, &job.links)
                } else {
                    root.check_replace(job.path)
                };
                Outcome::Changed(what, written)
            }
            Verdict::Patched(patches, what) => {
                let written = if cx.mode == Mode::Apply {
                    root.patch(job.path, &patches, &job.links)
                } else {
                    root.check_replace(job.path)
                };
                Outcome::Changed(what, written)
            }
        };
        cx.progress.advance(1);
        outcome
    }

    /// Normalizes one file of `root` (given alone, as on the command line `tamis strip FILE`).
    /// A file with other hard links is reported, not rewritten: its other names are unknown.
    pub fn strip_file(&self, root: &Root, path: &Path, cx: &Context<'_>) -> Report {
        let mut edits = Edits::new(root, cx, Self::NAME);
        match root.lstat(path) {
            Ok(meta) if meta.kind == FileKind::File => {
                self.strip(root, &[FileJob { path, links: Links::unknown() }], &mut edits, cx);
            }
            Ok(meta) => edits.problem(
                path,
                format!("{}: is a {}, not a regular file", tamis_core::display_path(path), meta.kind.noun()),
            ),
            Err(e) => edits.error(path, &e),
        }
        edits.finish()
    }

    /// Normalizes files and trees named by their paths, as `tamis strip FILE|DIR…` is given
    /// them: a directory is walked as a root; a file is handled through a root on the directory
    /// that holds it, so that it is rewritten the same safe way as a file of a tree. Before
    /// each, what an interrupted run left there is cleaned ([`tamis_core::StaleTemporaries`],
    /// a report of its own when it found anything). Each path's report is named by the path.
    ///
    /// # Errors
    /// A path that cannot be examined or names no file; a root that cannot be opened.
    pub fn run_on_paths(&self, paths: &[std::path::PathBuf], cx: &Context<'_>) -> Result<Vec<Report>> {
        let stale = tamis_core::StaleTemporaries;
        let mut reports = Vec::new();
        let keep = |reports: &mut Vec<Report>, report: Report| {
            if !report.is_clean() {
                reports.push(report);
            }
        };
        for path in paths {
            let meta = std::fs::symlink_metadata(path).map_err(|source| tamis_core::Error::Io {
                path: path.clone(),
                op: "stat",
                source,
            })?;
            let mut report = if meta.is_dir() {
                // One walk for both, walked again only when removing a temporary changed the tree.
                let root = Root::open(path)?;
                let mut tree = root.walk()?;
                let temporaries = stale.run_on(&root, &tree, cx);
                if cx.mode == Mode::Apply && !temporaries.changes.is_empty() {
                    tree = root.walk()?;
                }
                keep(&mut reports, temporaries);
                self.strip_tree(&root, &tree, cx)
            } else {
                let name = path.file_name().ok_or_else(|| tamis_core::Error::Io {
                    path: path.clone(),
                    op: "name",
                    source: std::io::ErrorKind::InvalidInput.into(),
                })?;
                let parent = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                let root = Root::open(parent)?;
                keep(&mut reports, stale.run_in(&root, Path::new(""), cx)?);
                self.strip_file(&root, Path::new(name), cx)
            };
            report.stage = path.display().to_string();
            reports.push(report);
        }
        Ok(reports)
    }

    /// Reads the file (only its first bytes if no handler wants it) and runs every matching
    /// handler on it, each on the output of the one before.
    fn verdict(
        &self,
        dir: std::result::Result<&tamis_core::Directory<'_>, &tamis_core::Error>,
        path: &Path,
        settings: &Settings,
    ) -> Verdict {
        thread_local! {
            /// The bytes of the file being read, kept between files: a large file read into a
            /// fresh allocation costs a page fault per page, more than the read itself.
            static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUFFER.with_borrow_mut(|buffer| {
            let verdict = self.verdict_in(dir, path, settings, buffer);
            if buffer.capacity() > BUFFER_KEPT {
                *buffer = Vec::new();
            }
            verdict
        })
    }

    fn verdict_in(
        &self,
        dir: std::result::Result<&tamis_core::Directory<'_>, &tamis_core::Error>,
        path: &Path,
        settings: &Settings,
        buffer: &mut Vec<u8>,
    ) -> Verdict {
        let shown = tamis_core::display_path(path);
        let sparse = |what: String| {
            Verdict::Failed(format!(
                "{shown}: {what}: has holes (a sparse file), which a rewrite would fill; left as it was"
            ))
        };
        let dir = match dir {
            Ok(dir) => dir,
            Err(e) => return Verdict::Failed(tamis_core::Problem::from_error(path, e).reason),
        };
        let file = match self.read_if_wanted(dir, path, buffer) {
            Ok(Read::Whole(file)) => file,
            Ok(Read::NotWanted) => return Verdict::Normal,
            Ok(Read::LargeAr(file, len)) => {
                let read = |at: u64, into: &mut [u8]| std::os::unix::fs::FileExt::read_exact_at(&file, into, at);
                return match ar::header_patches(len, settings, |at, into| read(at, into).map_err(|_| ())) {
                    Ok(patches) if patches.is_empty() => Verdict::Normal,
                    Ok(_) if has_holes(&file, len) => sparse(ar::Ar.what().to_owned()),
                    Ok(patches) => Verdict::Patched(
                        patches.into_iter().map(|(at, field)| (at, field.to_vec())).collect(),
                        ar::Ar.what().to_owned(),
                    ),
                    Err(e) => Verdict::Failed(format!("{shown}: {}: {e}; left as it was", Format::Ar)),
                };
            }
            Ok(Read::LargeGzip(file, len)) => {
                return match gzip::header_patches(&file, len, settings) {
                    Ok(patches) if patches.is_empty() => Verdict::Normal,
                    Ok(_) if has_holes(&file, len) => sparse(gzip::Gzip.what().to_owned()),
                    Ok(patches) => Verdict::Patched(patches, gzip::Gzip.what().to_owned()),
                    Err(e) => Verdict::Failed(format!("{shown}: {}: {e}; left as it was", Format::Gzip)),
                };
            }
            Ok(Read::TooLarge(format, len)) => {
                return Verdict::Failed(format!(
                    "{shown}: {format}: {len} bytes, more than the {} MiB a {format} file is read into memory for; left as it was",
                    READ_WHOLE_LIMIT >> 20
                ));
            }
            Err(e) => return Verdict::Failed(tamis_core::Problem::from_error(path, &e).reason),
        };
        let bytes: &[u8] = buffer;
        let normalized = match normalize_bytes(&self.formats, path, bytes, settings) {
            Ok(normalized) => normalized,
            Err(HandlerError { format, error: FormatError::LeftAlone(why) }) => {
                return Verdict::Skipped(format!("{shown}: {format}: {why}"));
            }
            // A version tamis does not know is not a fault of the file: said, with its number.
            Err(HandlerError { format, error: e @ FormatError::UnknownVersion { .. } }) => {
                return Verdict::Skipped(format!("{shown}: {format}: {e}"));
            }
            Err(HandlerError { format, error }) => {
                return Verdict::Failed(format!("{shown}: {format}: {error}; left as it was"));
            }
        };
        let what = normalized.changed_by.iter().map(|f| f.handler().what()).collect::<Vec<_>>().join("; ");
        match normalized.bytes {
            // Looked for only now: most files read whole need nothing.
            Some(_) if has_holes(&file, bytes.len() as u64) => sparse(what),
            Some(new) if new != bytes => Verdict::Changed(new, what),
            _ => Verdict::Normal,
        }
    }

    /// Reads the file's first bytes into `bytes` and, if some handler matches them, the rest:
    /// one open, and no more than [`HEAD_LEN`] bytes read from a file no handler wants. A large
    /// `ar` archive (a `.deb`) is not read whole: its member headers are all the handler needs.
    fn read_if_wanted(&self, dir: &tamis_core::Directory<'_>, path: &Path, bytes: &mut Vec<u8>) -> Result<Read> {
        let name = path.file_name().ok_or_else(|| tamis_core::Error::WrongType {
            path: path.to_owned(),
            expected: "regular file",
            found: "directory",
        })?;
        let (file, meta) = dir.open_regular_meta(name)?;
        let io = |e| tamis_core::Error::Io { path: path.to_owned(), op: "read", source: e };
        bytes.clear();
        (&file).take(HEAD_LEN as u64).read_to_end(bytes).map_err(io)?;
        let mut matching = self.formats.iter().filter(|f| f.handler().matches(path, bytes));
        let (first, more) = (matching.next(), matching.next());
        let size = meta.size;
        match (first, more) {
            (None, _) => return Ok(Read::NotWanted),
            (Some(Format::Ar), None) if size >= LARGE => return Ok(Read::LargeAr(file, size)),
            (Some(Format::Gzip), None) if size > READ_WHOLE_LIMIT => return Ok(Read::LargeGzip(file, size)),
            (Some(&format), _) if size > READ_WHOLE_LIMIT => return Ok(Read::TooLarge(format, size)),
            _ => {}
        }
        bytes.reserve(usize::try_from(size).unwrap_or(0).saturating_sub(bytes.len()));
        // A file that grew since its size was read is still read no further than the limit.
        (&file).take(READ_WHOLE_LIMIT + 1 - HEAD_LEN as u64).read_to_end(bytes).map_err(io)?;
        if bytes.len() as u64 > READ_WHOLE_LIMIT {
            let format = *first.expect("a handler matched");
            return Ok(Read::TooLarge(format, bytes.len() as u64));
        }
        Ok(Read::Whole(file))
    }

    /// Normalizes every regular file of `tree` (a walk of `root`).
    pub fn strip_tree(&self, root: &Root, tree: &Tree, cx: &Context<'_>) -> Report {
        let mut edits = Edits::new(root, cx, Self::NAME);
        // A hard-link group once, under its first name: its other names follow the rewrite.
        let jobs: Vec<FileJob<'_>> = tree
            .entries()
            .iter()
            .filter(|e| e.meta.kind == FileKind::File && e.meta.size > 0 && tree.is_first_name(e))
            .map(|e| FileJob { path: &e.path, links: tree.links(e) })
            .collect();
        self.strip(root, &jobs, &mut edits, cx);
        for problem in tree.problems() {
            edits.problem(&problem.path, problem.reason.clone());
        }
        edits.finish()
    }
}

impl Normalizer for StripFormats {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report> {
        let tree = root.walk()?;
        Ok(self.strip_tree(root, &tree, cx))
    }
}

/// Reads a little-endian `u16` at `offset`, or says what is missing.
pub(crate) fn le16(bytes: &[u8], offset: usize, what: &'static str) -> Result<u16, FormatError> {
    bytes
        .get(offset..offset.saturating_add(2))
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or(FormatError::Truncated { what, offset })
}

/// Reads a little-endian `u32` at `offset`, or says what is missing.
pub(crate) fn le32(bytes: &[u8], offset: usize, what: &'static str) -> Result<u32, FormatError> {
    bytes
        .get(offset..offset.saturating_add(4))
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(FormatError::Truncated { what, offset })
}
