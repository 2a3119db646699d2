//! The image of a tree written to a file: the one driver behind the `squashfs` stage and
//! `tamis squashfs`. [`SquashfsStageOptions`] is what both are given (a profile's table, or
//! the command's arguments), [`SquashfsStageOptions::write_options`] the one mapping from it to
//! [`WriteOptions`], and [`write_image_file`] writes, checks or keeps the output file.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use tamis_core::temp::OutputFile;
use tamis_core::{Action, Change, Context, Epoch, Mode, Normalizer, Problem, Report, Result, Root, Skipped};

use crate::{Compression, WriteOptions, WriteOutcome, write_image};

/// A compressor as a profile or the command line names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageCompressor {
    /// xz (with `xz_bcj = "x86"` and `xz_dict_size` as mksquashfs' `-Xbcj`, `-Xdict-size`).
    Xz,
    /// zstd (default).
    #[default]
    Zstd,
    /// gzip (zlib).
    Gzip,
    /// lz4.
    Lz4,
}

impl StageCompressor {
    /// The compressor's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Xz => "xz",
            Self::Zstd => "zstd",
            Self::Gzip => "gzip",
            Self::Lz4 => "lz4",
        }
    }
}

/// A BCJ filter xz may try on every block (mksquashfs' `-Xbcj`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XzBcj {
    /// The x86 filter (executables compress better).
    X86,
}

/// Options of an image: the `[[stage]] name = "squashfs"` table of a profile, and what the
/// arguments of `tamis squashfs` say.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(clippy::struct_excessive_bools, reason = "a profile's switches, as mksquashfs has them")]
pub struct SquashfsStageOptions {
    /// Where to write the image: outside the tree. Required by the stage (a run without it
    /// reports a problem and writes nothing).
    #[serde(default)]
    pub output: Option<PathBuf>,
    /// The compressor (default zstd).
    #[serde(default)]
    pub comp: StageCompressor,
    /// Compression level, for gzip (1-9, default 9) and zstd (1-22, default 15) only: a level
    /// given with xz or lz4 is refused, since neither has one here.
    #[serde(default)]
    pub level: Option<i32>,
    /// Data block size (default 131072).
    #[serde(default = "default_block_size")]
    pub block_size: u32,
    /// xz: `"x86"` to try the x86 BCJ filter on every block.
    #[serde(default)]
    pub xz_bcj: Option<XzBcj>,
    /// xz: dictionary size (default: the block size).
    #[serde(default)]
    pub xz_dict_size: Option<u32>,
    /// Pack small files into fragments (default true).
    #[serde(default = "yes")]
    pub fragments: bool,
    /// Pack the last partial block of larger files into fragments too (mksquashfs
    /// `-always-use-fragments`; default false, as mksquashfs). Needs `fragments`.
    #[serde(default)]
    pub tail_packing: bool,
    /// Store a file whose contents equal an earlier one's as a reference to it (default true).
    #[serde(default = "yes")]
    pub dedup: bool,
    /// Write the export table, for NFS (default true).
    #[serde(default = "yes")]
    pub exports: bool,
    /// Keep extended attributes (default true).
    #[serde(default = "yes")]
    pub xattrs: bool,
    /// Give every entry owner and group 0.
    #[serde(default)]
    pub all_root: bool,
    /// Leave out extended attributes whose name starts with one of these.
    #[serde(default)]
    pub xattr_exclude: Vec<String>,
    /// A mksquashfs sort file placing file data.
    #[serde(default)]
    pub sort: Option<PathBuf>,
}

impl Default for SquashfsStageOptions {
    fn default() -> Self {
        Self {
            output: None,
            comp: StageCompressor::default(),
            level: None,
            block_size: default_block_size(),
            xz_bcj: None,
            xz_dict_size: None,
            fragments: true,
            tail_packing: false,
            dedup: true,
            exports: true,
            xattrs: true,
            all_root: false,
            xattr_exclude: Vec::new(),
            sort: None,
        }
    }
}

fn default_block_size() -> u32 {
    128 * 1024
}

fn yes() -> bool {
    true
}

/// Why [`SquashfsStageOptions`] do not describe an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// A level was given to a compressor that has none.
    #[error("a compression level is for gzip (1-9) and zstd (1-22), not {0}")]
    LevelNotFor(&'static str),
    /// The level is outside the compressor's range.
    #[error("{comp} level {level} is not {min} to {max}")]
    LevelRange {
        /// The compressor.
        comp: &'static str,
        /// The level given.
        level: i32,
        /// Its lowest level.
        min: u32,
        /// Its highest level.
        max: u32,
    },
    /// Tail packing was asked for without fragments, where the tails would go.
    #[error("tail packing puts the ends of files into fragments: it needs fragments")]
    TailPackingWithoutFragments,
    /// An xz option was given to another compressor.
    #[error("the BCJ filter and the dictionary size are for xz, not {0}")]
    XzOnly(&'static str),
    /// The sort file cannot be read.
    #[error("{}: cannot read the sort file", path.display())]
    SortRead {
        /// The sort file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The sort file is not one.
    #[error("{}: not a sort file", path.display())]
    SortParse {
        /// The sort file.
        path: PathBuf,
        /// Why.
        #[source]
        source: tamis_order::SortFileError,
    },
}

impl SquashfsStageOptions {
    /// The compressor these options describe, with its level: checked without reading any
    /// file, so that a profile is refused when it is loaded.
    ///
    /// # Errors
    /// A level given to xz or lz4, or out of range; an xz option given to another compressor.
    pub fn compression(&self) -> std::result::Result<Compression, OptionsError> {
        let comp = self.comp.name();
        if self.comp != StageCompressor::Xz && (self.xz_bcj.is_some() || self.xz_dict_size.is_some()) {
            return Err(OptionsError::XzOnly(comp));
        }
        let level = |default: u32, min: u32, max: u32| match self.level {
            None => Ok(default),
            Some(level) => match u32::try_from(level) {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(OptionsError::LevelRange { comp, level, min, max }),
            },
        };
        Ok(match self.comp {
            StageCompressor::Xz | StageCompressor::Lz4 if self.level.is_some() => {
                return Err(OptionsError::LevelNotFor(comp));
            }
            StageCompressor::Xz => Compression::Xz { dict_size: self.xz_dict_size, x86: self.xz_bcj.is_some() },
            StageCompressor::Lz4 => Compression::Lz4,
            StageCompressor::Zstd => Compression::Zstd { level: level(15, 1, 22)?.try_into().unwrap_or(15) },
            StageCompressor::Gzip => Compression::Gzip { level: level(9, 1, 9)? },
        })
    }

    /// The [`WriteOptions`] of an image made at `epoch` (reads the sort file, if any).
    ///
    /// # Errors
    /// As [`compression`](Self::compression), and a sort file that cannot be read or parsed.
    pub fn write_options(&self, epoch: Epoch) -> std::result::Result<WriteOptions, OptionsError> {
        let mut w = WriteOptions::new(epoch);
        w.compression = self.compression()?;
        w.block_size = self.block_size;
        w.fragments = self.fragments;
        if self.tail_packing && !self.fragments {
            return Err(OptionsError::TailPackingWithoutFragments);
        }
        w.tail_packing = self.tail_packing;
        w.dedup = self.dedup;
        w.exportable = self.exports;
        w.xattrs = self.xattrs;
        w.all_root = self.all_root;
        w.xattr_exclude.clone_from(&self.xattr_exclude);
        if let Some(path) = &self.sort {
            let bytes = tamis_core::read_regular_file(path, SORT_FILE_LIMIT)
                .map_err(|source| OptionsError::SortRead { path: path.clone(), source })?;
            let sort = tamis_order::SortFile::parse_bytes(&bytes)
                .map_err(|source| OptionsError::SortParse { path: path.clone(), source })?;
            w.sort = Some(sort);
        }
        Ok(w)
    }
}

/// The largest sort file read.
const SORT_FILE_LIMIT: u64 = 64 << 20;

/// What [`write_image_file`] did to the output file (in [`Mode::Check`]: would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum OutputChange {
    /// It already held the image: left as it was (its time too).
    Unchanged,
    /// It did not exist.
    Created,
    /// It held other bytes.
    Rewritten,
}

/// The outcome of [`write_image_file`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ImageFile {
    /// The image written (in check mode: the image compared).
    pub outcome: WriteOutcome,
    /// What happened to the output file.
    pub change: OutputChange,
    /// Temporary files beside the output left by a killed run (`.tamis-squashfs-…`): named,
    /// not removed, since they may be another run's still at work.
    pub stale: Vec<PathBuf>,
}

/// Why [`write_image_file`] wrote nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageFileError {
    /// The output is inside the tree (by any path: a bind mount of the tree counts), or where it
    /// is cannot be told.
    #[error(transparent)]
    Place(#[from] tamis_core::OutputPlaceError),
    /// Writing the image, comparing it or putting it in place failed.
    #[error("{}: cannot {op} the image", output.display())]
    Io {
        /// The output file.
        output: PathBuf,
        /// What was being done.
        op: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The image could not be made.
    #[error("{}: cannot make the image", output.display())]
    Image {
        /// The output file.
        output: PathBuf,
        /// Why.
        #[source]
        source: crate::Error,
    },
}

/// Writes the image of `root` to `output`, atomically: into a temporary file beside it
/// (`.tamis-squashfs-PID-N.tmp`, removed on failure and on an interruption), then renamed onto
/// it with mode 0644, unless `output` already holds these bytes (then it is left as it was). In
/// [`Mode::Check`] nothing is put in place: the change says what would happen.
///
/// # Errors
/// `output` inside the tree or in a missing directory, an image that cannot be made, an I/O
/// error on the temporary or the output. The output is then as it was.
pub fn write_image_file(
    root: &Root,
    output: &Path,
    options: &WriteOptions,
    mode: Mode,
) -> std::result::Result<ImageFile, ImageFileError> {
    tamis_core::ensure_output_outside(root, output)?;
    let io = |op| move |source| ImageFileError::Io { output: output.to_owned(), op, source };
    let stale = tamis_core::temp::stale_beside(output, "squashfs");
    let temp = OutputFile::create(output, "squashfs").map_err(io("create a temporary file for"))?;
    let outcome = write_image(root, temp.file(), options)
        .map_err(|source| ImageFileError::Image { output: output.to_owned(), source })?;
    let change = match File::open(output) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => OutputChange::Created,
        Err(e) => return Err(io("read")(e)),
        Ok(old) if same_contents(temp.file(), &old).map_err(io("compare"))? => OutputChange::Unchanged,
        Ok(_) => OutputChange::Rewritten,
    };
    if mode == Mode::Apply && change != OutputChange::Unchanged {
        // 0644 rather than the temporary file's 0600: an image is meant to be published.
        temp.persist(0o644).map_err(io("write"))?;
    }
    Ok(ImageFile { outcome, change, stale })
}

/// Whether two files hold the same bytes, read a block at a time (images are large).
fn same_contents(new: &File, old: &File) -> std::io::Result<bool> {
    if new.metadata()?.len() != old.metadata()?.len() {
        return Ok(false);
    }
    let (mut new_block, mut old_block) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut offset = 0;
    loop {
        let read = new.read_at(&mut new_block, offset)?;
        if read == 0 {
            return Ok(true);
        }
        old.read_exact_at(&mut old_block[..read], offset)?;
        if new_block[..read] != old_block[..read] {
            return Ok(false);
        }
        offset += read as u64;
    }
}

/// The `squashfs` stage. It changes nothing in the tree: it writes `output` when the image
/// there differs from the tree's (and in check mode says whether it would), so a second run
/// reports no change. Put it last in a profile, after the mtime clamp.
#[derive(Debug, Clone)]
pub struct SquashfsStage {
    options: SquashfsStageOptions,
}

impl SquashfsStage {
    /// The stage's name.
    pub const NAME: &'static str = "squashfs";
    /// One line for `tamis stages`.
    pub const SUMMARY: &'static str =
        "write the tree's squashfs image (option output = PATH): the same bytes from any builder; last in a profile";

    /// A stage with these options.
    pub fn new(options: SquashfsStageOptions) -> Self {
        Self { options }
    }
}

impl Normalizer for SquashfsStage {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report> {
        let mut report = Report::new(Self::NAME, cx.mode);
        let Some(output) = &self.options.output else {
            let reason = "the squashfs stage needs the option output = \"PATH\" (outside the tree)".to_owned();
            report.problems.push(Problem { path: PathBuf::new(), reason });
            return Ok(report);
        };
        let written =
            self.options.write_options(cx.epoch).map_err(|e| Problem::from_error(output, &e)).and_then(|options| {
                write_image_file(root, output, &options, cx.mode).map_err(|e| Problem::from_error(output, &e))
            });
        let image = match written {
            Ok(image) => image,
            Err(problem) => {
                report.problems.push(problem);
                return Ok(report);
            }
        };
        report.examined = image.outcome.entries as u64;
        report.problems.extend(image.outcome.dropped_xattrs);
        report.skipped.extend(image.stale.into_iter().map(|path| Skipped {
            reason: format!(
                "{}: temporary file left by an interrupted run; remove it unless another tamis run is writing it",
                path.display()
            ),
            path,
        }));
        let action = match image.change {
            OutputChange::Unchanged => return Ok(report),
            OutputChange::Created => Action::Create,
            OutputChange::Rewritten => Action::Rewrite,
        };
        report.changes.push(Change {
            path: output.clone(),
            action,
            reason: "squashfs image of the tree".into(),
            before: None,
            after: Some(format!("{} bytes", image.outcome.image_bytes)),
        });
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(table: &str) -> SquashfsStageOptions {
        toml::from_str(table).expect("a valid table")
    }

    #[test]
    fn tail_packing_is_asked_for_by_name_and_needs_fragments() {
        let epoch = Epoch::from_secs(1_700_000_000).unwrap();
        assert!(!profile("").write_options(epoch).unwrap().tail_packing, "off unless asked for, as mksquashfs");
        assert!(profile("tail_packing = true").write_options(epoch).unwrap().tail_packing);
        let refused = profile("tail_packing = true\nfragments = false").write_options(epoch).unwrap_err();
        assert!(matches!(refused, OptionsError::TailPackingWithoutFragments), "{refused}");
    }

    #[test]
    fn a_level_is_refused_for_xz_and_lz4_and_checked_for_the_others() {
        for comp in ["xz", "lz4"] {
            let error = profile(&format!("comp = \"{comp}\"\nlevel = 5")).compression().unwrap_err();
            assert_eq!(error.to_string(), format!("a compression level is for gzip (1-9) and zstd (1-22), not {comp}"));
        }
        assert!(matches!(profile("comp = \"gzip\"\nlevel = 0").compression(), Err(OptionsError::LevelRange { .. })));
        assert!(matches!(profile("level = 23").compression(), Err(OptionsError::LevelRange { .. })));
        assert_eq!(profile("comp = \"gzip\"").compression().unwrap(), Compression::Gzip { level: 9 });
        assert_eq!(profile("").compression().unwrap(), Compression::Zstd { level: 15 });
        let xz = profile("comp = \"xz\"\nxz_bcj = \"x86\"\nxz_dict_size = 65536").compression().unwrap();
        assert_eq!(xz, Compression::Xz { dict_size: Some(65536), x86: true });
        assert!(matches!(profile("xz_dict_size = 65536").compression(), Err(OptionsError::XzOnly("zstd"))));
        assert!(toml::from_str::<SquashfsStageOptions>("comp = \"xz\"\nxz_bcj = \"arm\"").is_err());
    }

    #[test]
    fn the_default_options_are_the_profile_defaults() {
        assert_eq!(profile(""), SquashfsStageOptions::default());
    }
}
