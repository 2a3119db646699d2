//! `tamis squashfs ROOT OUT`: a squashfs image of a tree, the same bytes from any builder;
//! `tamis squashfs --list IMAGE`: what an image holds.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Args, ValueEnum};
use tamis_core::{FileKind, Mode, Root, Timestamp, display_path};
use tamis_squashfs::{Image, OutputChange, SquashfsStageOptions, StageCompressor, XzBcj, write_image_file};

use crate::args::{CheckArgs, EpochArgs, OutputArgs, OwnerArgs, QuietArgs, ThreadsArgs};
use crate::exit;

const EXIT_CODES: &str = exit_help!("0", "1", "2", "3", "129, 130, 143"; "\
With --check, 1: OUT is missing or differs from the image tamis would write (nothing is
written). OUT is left as it is when it already holds the image. 3: some extended attributes
could not be kept (listed).

The image is written beside OUT as .tamis-squashfs-PID-N.tmp, then renamed onto OUT. Such a
file left by a killed run is named at the next run (not removed: it may be another run's).");

/// Arguments of `tamis squashfs`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
#[allow(clippy::struct_excessive_bools, reason = "command-line switches")]
pub struct SquashfsArgs {
    /// Block compressor.
    #[arg(long, value_enum, default_value_t = Comp::Zstd)]
    comp: Comp,
    /// Compression level: gzip 1-9 (default 9), zstd 1-22 (default 15); xz and lz4 have none.
    #[arg(long, value_name = "N")]
    level: Option<i32>,
    /// Data block size, a power of two from 4K to 1M (suffix K or M allowed).
    #[arg(long, short = 'b', value_name = "SIZE", value_parser = parse_size, default_value = "128K")]
    block_size: u32,
    /// xz: try every block behind this BCJ filter too and keep the smaller (as mksquashfs -Xbcj).
    #[arg(long, value_enum, value_name = "FILTER")]
    xz_bcj: Option<Bcj>,
    /// xz: dictionary size (default: the block size; suffix K or M allowed).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    xz_dict_size: Option<u32>,
    /// Store files smaller than a block in their own block rather than in shared fragments.
    #[arg(long)]
    no_fragments: bool,
    /// Pack the last partial block of larger files into shared fragments too, as small files
    /// are (mksquashfs -always-use-fragments, gensquashfs' default): a smaller image, its
    /// small tails read together.
    #[arg(long, conflicts_with = "no_fragments")]
    tail_packing: bool,
    /// Store every file, even when its contents equal an earlier one's.
    #[arg(long)]
    no_duplicates: bool,
    /// Leave out the export table (NFS).
    #[arg(long)]
    no_exports: bool,
    /// Leave out extended attributes.
    #[arg(long)]
    no_xattrs: bool,
    /// Leave out extended attributes whose name starts with PREFIX (repeatable), e.g.
    /// trusted.overlay.
    #[arg(long, value_name = "PREFIX")]
    xattr_exclude: Vec<String>,
    /// Place file data by the priorities of a mksquashfs sort file (lines `PATH PRIORITY`,
    /// higher first).
    #[arg(long, value_name = "FILE")]
    sort: Option<PathBuf>,
    #[command(flatten)]
    owner: OwnerArgs,
    #[command(flatten)]
    epoch: EpochArgs,
    #[command(flatten)]
    check: CheckArgs,
    /// List the entries of IMAGE (a squashfs image) instead of writing one.
    #[arg(long, conflicts_with_all = ["check", "sort"])]
    list: bool,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    threads: ThreadsArgs,
    #[command(flatten)]
    quiet: QuietArgs,
    /// ROOT OUT: the tree and the image to write; with --list: IMAGE.
    #[arg(required = true, num_args = 1..=2, value_name = "ROOT OUT | IMAGE")]
    paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Comp {
    Xz,
    Zstd,
    Gzip,
    Lz4,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Bcj {
    X86,
}

fn parse_size(text: &str) -> Result<u32, String> {
    let (digits, unit) = match text.strip_suffix(['K', 'k']) {
        Some(d) => (d, 1024),
        None => match text.strip_suffix(['M', 'm']) {
            Some(d) => (d, 1 << 20),
            None => (text, 1),
        },
    };
    digits
        .parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("{text:?} is not a size (bytes, or a number with K or M)"))
}

/// The image options the arguments name: the same options a profile's `squashfs` stage takes,
/// mapped to an image by the library, so that both agree.
fn options(args: &SquashfsArgs, out: &Path) -> SquashfsStageOptions {
    SquashfsStageOptions {
        output: Some(out.to_owned()),
        comp: match args.comp {
            Comp::Xz => StageCompressor::Xz,
            Comp::Zstd => StageCompressor::Zstd,
            Comp::Gzip => StageCompressor::Gzip,
            Comp::Lz4 => StageCompressor::Lz4,
        },
        level: args.level,
        block_size: args.block_size,
        xz_bcj: args.xz_bcj.map(|Bcj::X86| XzBcj::X86),
        xz_dict_size: args.xz_dict_size,
        fragments: !args.no_fragments,
        tail_packing: args.tail_packing,
        dedup: !args.no_duplicates,
        exports: !args.no_exports,
        xattrs: !args.no_xattrs,
        all_root: args.owner.all_root,
        xattr_exclude: args.xattr_exclude.clone(),
        sort: args.sort.clone(),
    }
}

pub fn run(args: &SquashfsArgs) -> Result<ExitCode> {
    args.threads.setup()?;
    if args.list {
        let [image] = args.paths.as_slice() else { bail!("--list takes one IMAGE") };
        return list(args, image);
    }
    let [root_path, out] = args.paths.as_slice() else { bail!("give ROOT and OUT (or --list IMAGE)") };
    let epoch = args.epoch.resolve()?;
    let options = options(args, out);
    let write_options = options.write_options(epoch)?;
    let root = Root::open(root_path)?;
    let started = std::time::Instant::now();
    let mode = args.check.mode();
    let image = write_image_file(&root, out, &write_options, mode)?;
    for stale in &image.stale {
        crate::interrupt::warn_stale(stale, "squashfs");
    }
    let (outcome, elapsed) = (&image.outcome, started.elapsed());
    #[allow(clippy::cast_precision_loss, reason = "sizes shown in MB")]
    let (mb_in, mb_out) = (outcome.input_bytes as f64 / 1e6, outcome.image_bytes as f64 / 1e6);
    let verdict = match (mode, image.change) {
        (_, OutputChange::Unchanged) => "unchanged: it holds the image tamis writes",
        (Mode::Check, OutputChange::Created) => "would be created",
        (Mode::Check, _) => "would be rewritten: it differs from the image tamis writes",
        (_, OutputChange::Created) => "written",
        (_, _) => "rewritten",
    };
    let code =
        exit::status(mode == Mode::Check && image.change != OutputChange::Unchanged, outcome.dropped_xattrs.len());
    if args.output.json.is_some() {
        let report = serde_json::json!({"image": out, "options": {
            "compression": write_options.compression, "block_size": write_options.block_size,
            "fragments": write_options.fragments, "tail_packing": write_options.tail_packing, "dedup": write_options.dedup, "exportable": write_options.exportable,
            "all_root": write_options.all_root, "epoch": write_options.epoch }, "outcome": outcome,
            "change": image.change, "verdict": verdict, "exit": code});
        args.output.write(&report)?;
    }
    if !args.quiet.quiet {
        let mut s = format!(
            "tamis: {}: {verdict}: {} ({}, block {} KiB, epoch {}), {} entries, {} files ({} duplicates), {} fragment blocks, {:.1} MB in, {:.1} MB image, {:.1} s\n",
            out.display(),
            root_path.display(),
            write_options.compression.name(),
            write_options.block_size / 1024,
            write_options.epoch,
            outcome.entries,
            outcome.files,
            outcome.duplicates,
            outcome.fragments,
            mb_in,
            mb_out,
            elapsed.as_secs_f64()
        );
        for problem in &outcome.dropped_xattrs {
            let _ = writeln!(s, "  {}", problem.reason);
        }
        note_text!(s);
    } else if let Some(line) =
        crate::output::quiet_problems(out, outcome.dropped_xattrs.len(), args.output.json.as_deref())
    {
        note_text!(format!("{line}\n"));
    }
    Ok(ExitCode::from(code))
}

/// `--list`: one line per entry as `unsquashfs -lln` prints it (mode, uid/gid, size or device,
/// mtime in UTC, path, link target), or JSON.
fn list(args: &SquashfsArgs, path: &Path) -> Result<ExitCode> {
    let image = Image::open(path).with_context(|| path.display().to_string())?;
    let entries = image.entries().with_context(|| format!("{}: cannot list the image", path.display()))?;
    if args.output.json.is_some() {
        let list: Vec<_> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "path": display_path(&e.path), "kind": e.kind, "mode": e.mode, "uid": e.uid, "gid": e.gid,
                    "size": e.size, "mtime": e.mtime, "nlink": e.nlink, "inode": e.inode,
                    "target": e.target.as_ref().map(|t| String::from_utf8_lossy(t).into_owned()),
                    "rdev": e.rdev,
                    "xattrs": e.xattrs.iter().map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), hex(v))).collect::<std::collections::BTreeMap<_, _>>(),
                })
            })
            .collect();
        args.output.write(&list)?;
        if args.output.to_stdout() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for e in &entries {
        let size = match e.rdev {
            Some(rdev) => {
                format!("{},{}", tamis_squashfs::format::dev_major(rdev), tamis_squashfs::format::dev_minor(rdev))
            }
            None => e.size.to_string(),
        };
        let t = Timestamp::from_secs(i64::from(e.mtime));
        let (y, mo, d) = tamis_core::civil_from_days(t.secs.div_euclid(86_400));
        let secs = t.secs.rem_euclid(86_400);
        let mut line = format!(
            "{}{} {}/{} {size} {y:04}-{mo:02}-{d:02} {:02}:{:02} {}",
            type_char(e.kind),
            mode_string(e.mode),
            e.uid,
            e.gid,
            secs / 3600,
            secs % 3600 / 60,
            display_path(&e.path)
        );
        if let Some(target) = &e.target {
            let _ = write!(line, " -> {}", String::from_utf8_lossy(target));
        }
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn type_char(kind: FileKind) -> char {
    match kind {
        FileKind::Dir => 'd',
        FileKind::Symlink => 'l',
        FileKind::CharDevice => 'c',
        FileKind::BlockDevice => 'b',
        FileKind::Fifo => 'p',
        FileKind::Socket => 's',
        FileKind::File => '-',
    }
}

fn mode_string(mode: u32) -> String {
    let mut s = String::with_capacity(9);
    for (shift, special, lower, upper) in [(6, 0o4000, 's', 'S'), (3, 0o2000, 's', 'S'), (0, 0o1000, 't', 'T')] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (bits & 1 != 0, mode & special != 0) {
            (true, true) => lower,
            (false, true) => upper,
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
