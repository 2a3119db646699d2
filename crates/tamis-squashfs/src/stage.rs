//! The `squashfs` stage: the image of the normalized tree, written after every other stage.

use std::path::{Path, PathBuf};

use tamis_core::{Action, Change, Context, Mode, Normalizer, Problem, Report, Result, Root};

use crate::{Compression, WriteOptions, write_image};

/// A compressor as a profile names it.
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

/// Options of the `squashfs` stage (`[[stage]] name = "squashfs"` in a profile).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SquashfsStageOptions {
    /// Where to write the image: outside the tree. Required (a run without it reports a
    /// problem and writes nothing).
    #[serde(default)]
    pub output: Option<PathBuf>,
    /// The compressor (default zstd).
    #[serde(default)]
    pub comp: StageCompressor,
    /// Compression level for gzip (1-9) and zstd (1-22); mksquashfs' defaults otherwise.
    #[serde(default)]
    pub level: Option<i32>,
    /// Data block size (default 131072).
    #[serde(default = "default_block_size")]
    pub block_size: u32,
    /// xz: `"x86"` to try the x86 BCJ filter on every block.
    #[serde(default)]
    pub xz_bcj: Option<String>,
    /// xz: dictionary size (default: the block size).
    #[serde(default)]
    pub xz_dict_size: Option<u32>,
    /// Pack small files into fragments (default true).
    #[serde(default = "yes")]
    pub fragments: bool,
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

fn default_block_size() -> u32 {
    128 * 1024
}

fn yes() -> bool {
    true
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

    fn write_options(&self, cx: &Context<'_>) -> std::result::Result<WriteOptions, String> {
        let o = &self.options;
        let mut w = WriteOptions::new(cx.epoch);
        w.block_size = o.block_size;
        w.compression = match o.comp {
            StageCompressor::Xz => {
                let x86 = match o.xz_bcj.as_deref() {
                    None => false,
                    Some("x86") => true,
                    Some(other) => return Err(format!("xz_bcj {other:?}: only \"x86\" is supported")),
                };
                Compression::Xz { dict_size: o.xz_dict_size, x86 }
            }
            StageCompressor::Zstd => Compression::Zstd { level: o.level.unwrap_or(15) },
            StageCompressor::Gzip => Compression::Gzip { level: o.level.map_or(9, |l| l.clamp(0, 99) as u32) },
            StageCompressor::Lz4 => Compression::Lz4,
        };
        w.fragments = o.fragments;
        w.all_root = o.all_root;
        w.xattr_exclude.clone_from(&o.xattr_exclude);
        if let Some(sort) = &o.sort {
            let bytes = std::fs::read(sort).map_err(|e| format!("{}: {e}", sort.display()))?;
            w.sort = Some(tamis_order::SortFile::parse_bytes(&bytes).map_err(|e| format!("{}: {e}", sort.display()))?);
        }
        Ok(w)
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
        let fail = |report: &mut Report, reason: String| {
            report.problems.push(Problem { path: output.clone(), reason: format!("{}: {reason}", output.display()) });
        };
        let options = match self.write_options(cx) {
            Ok(options) => options,
            Err(reason) => {
                fail(&mut report, reason);
                return Ok(report);
            }
        };
        let dir = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        // By device and inode, not by path: a bind mount of the tree has a path outside it.
        let inside = tamis_core::directory_in_tree(root, &dir).map_or(true, |found| found.is_some());
        if inside {
            fail(&mut report, "the image must be written outside the tree, to an existing directory".into());
            return Ok(report);
        }
        let written =
            tempfile::Builder::new().prefix(".tamis-squashfs-").tempfile_in(&dir).map_err(|e| e.to_string()).and_then(
                |temp| {
                    let outcome = write_image(root, temp.as_file(), &options).map_err(|e| error_chain(&e))?;
                    Ok((temp, outcome))
                },
            );
        let (temp, outcome) = match written {
            Ok(done) => done,
            Err(reason) => {
                fail(&mut report, reason);
                return Ok(report);
            }
        };
        report.examined = outcome.entries as u64;
        report.problems.extend(outcome.dropped_xattrs);
        if same_bytes(temp.path(), output) {
            return Ok(report);
        }
        let existed = output.exists();
        if cx.mode == Mode::Apply {
            let persisted = std::fs::set_permissions(temp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644))
                .map_err(|e| e.to_string())
                .and_then(|()| temp.persist(output).map(drop).map_err(|e| e.error.to_string()));
            if let Err(reason) = persisted {
                fail(&mut report, reason);
                return Ok(report);
            }
        }
        report.changes.push(Change {
            path: output.clone(),
            action: if existed { Action::Rewrite } else { Action::Create },
            reason: "squashfs image of the tree".into(),
            before: None,
            after: Some(format!("{} bytes", outcome.image_bytes)),
        });
        Ok(report)
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut reason = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    match (std::fs::read(a), std::fs::read(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
