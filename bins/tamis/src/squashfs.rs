//! `tamis squashfs ROOT OUT`: a squashfs image of a tree, the same bytes from any builder;
//! `tamis squashfs --list IMAGE`: what an image holds.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail, ensure};
use clap::{Args, ValueEnum};
use tamis_core::temp::OutputFile;
use tamis_core::{FileKind, Root, Timestamp, display_path};
use tamis_squashfs::{Compression, Image, WriteOptions, write_image};

use crate::{EpochArgs, epoch, interrupt};

const EXIT_CODES: &str = "\
Exit status:
  0  image written; with --check: OUT is what tamis would write; with --list: listed
  1  with --check: OUT differs from what tamis would write (or is missing)
  2  error: bad arguments, no epoch, unreadable tree or image
  3  image written, but some extended attributes could not be kept (listed)
  129, 130, 143  interrupted by SIGHUP, SIGINT, SIGTERM: the temporary image removed, OUT as it was

The image is written beside OUT as .tamis-squashfs-PID-N.tmp, then renamed onto OUT. Such a
file left by a killed run is named at the next run (not removed: it may be another run's).";

/// Arguments of `tamis squashfs`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
#[allow(clippy::struct_excessive_bools, reason = "command-line switches")]
pub struct SquashfsArgs {
    /// Block compressor.
    #[arg(long, value_enum, default_value_t = Comp::Zstd)]
    comp: Comp,
    /// Compression level: gzip 1-9 (default 9), zstd 1-22 (default 15).
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
    /// Give every entry owner and group 0.
    #[arg(long)]
    all_root: bool,
    #[command(flatten)]
    epoch: EpochArgs,
    /// Write nothing: exit 0 if OUT already holds the image tamis would write, 1 if not.
    #[arg(long)]
    check: bool,
    /// List the entries of IMAGE (a squashfs image) instead of writing one.
    #[arg(long, conflicts_with_all = ["check", "sort"])]
    list: bool,
    /// Write the outcome (or with --list the entries) as JSON to FILE ('-' for standard output).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Worker threads (default: one per CPU). The image does not depend on it.
    #[arg(long, short = 'j', value_name = "N")]
    threads: Option<usize>,
    /// Print nothing on stderr but errors and, when entries were left alone (exit 3), one line
    /// saying how many and where they are listed.
    #[arg(long, short = 'q')]
    quiet: bool,
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

/// The write options the arguments describe.
fn options(args: &SquashfsArgs) -> Result<WriteOptions> {
    let mut options = WriteOptions::new(epoch(&args.epoch)?);
    options.block_size = args.block_size;
    options.compression = match args.comp {
        Comp::Xz => {
            ensure!(args.level.is_none(), "--level is for gzip and zstd");
            Compression::Xz { dict_size: args.xz_dict_size, x86: args.xz_bcj.is_some() }
        }
        Comp::Zstd => Compression::Zstd { level: args.level.unwrap_or(15) },
        Comp::Gzip => Compression::Gzip { level: u32::try_from(args.level.unwrap_or(9)).unwrap_or(0) },
        Comp::Lz4 => {
            ensure!(args.level.is_none(), "--level is for gzip and zstd");
            Compression::Lz4
        }
    };
    ensure!(
        matches!(args.comp, Comp::Xz) || (args.xz_bcj.is_none() && args.xz_dict_size.is_none()),
        "--xz-bcj and --xz-dict-size are for --comp xz"
    );
    options.fragments = !args.no_fragments;
    options.dedup = !args.no_duplicates;
    options.exportable = !args.no_exports;
    options.xattrs = !args.no_xattrs;
    options.xattr_exclude.clone_from(&args.xattr_exclude);
    options.all_root = args.all_root;
    if let Some(file) = &args.sort {
        let bytes = tamis_core::read_regular_file(file, 64 << 20)
            .with_context(|| format!("{}: cannot read the sort file", file.display()))?;
        options.sort = Some(
            tamis_order::SortFile::parse_bytes(&bytes)
                .with_context(|| format!("{}: not a sort file", file.display()))?,
        );
    }
    Ok(options)
}

pub fn run(args: &SquashfsArgs) -> Result<ExitCode> {
    if let Some(n) = args.threads {
        ensure!(n > 0, "--threads must be at least 1");
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().context("cannot start worker threads")?;
    }
    if args.list {
        let [image] = args.paths.as_slice() else { bail!("--list takes one IMAGE") };
        return list(args, image);
    }
    let [root_path, out] = args.paths.as_slice() else { bail!("give ROOT and OUT (or --list IMAGE)") };
    let options = options(args)?;
    let root = Root::open(root_path)?;
    let out_dir = crate::image_out::directory_of(out);
    crate::image_out::refuse_inside(&root, out)?;
    let started = std::time::Instant::now();
    interrupt::warn_stale_beside(out, "squashfs");
    let temp = OutputFile::create(out, "squashfs")
        .with_context(|| format!("{}: cannot create a temporary file", out_dir.display()))?;
    let outcome = write_image(&root, temp.file(), &options)
        .with_context(|| format!("{}: cannot make the image of {}", out.display(), root_path.display()))?;
    let elapsed = started.elapsed();
    #[allow(clippy::cast_precision_loss, reason = "sizes shown in MB")]
    let (mb_in, mb_out) = (outcome.input_bytes as f64 / 1e6, outcome.image_bytes as f64 / 1e6);
    let mut code = if outcome.dropped_xattrs.is_empty() { 0 } else { 3 };
    let verdict = if args.check {
        let same = files_equal(&temp.path(), out)?;
        code = u8::from(!same);
        if same { "identical to the image tamis writes" } else { "differs from the image tamis writes" }
    } else {
        // 0644 rather than the temporary file's 0600: an image is meant to be published.
        temp.persist(0o644).with_context(|| format!("{}: cannot write the image", out.display()))?;
        "written"
    };
    if let Some(file) = &args.json {
        let report = serde_json::json!({"image": out, "options": {
            "compression": options.compression, "block_size": options.block_size, "fragments": options.fragments,
            "dedup": options.dedup, "exportable": options.exportable, "all_root": options.all_root,
            "epoch": options.epoch }, "outcome": outcome, "verdict": verdict, "exit": code});
        write_json(file, &report)?;
    }
    if !args.quiet {
        let mut s = format!(
            "tamis: {}: {verdict}: {} ({}, block {} KiB, epoch {}), {} entries, {} files ({} duplicates), {} fragment blocks, {:.1} MB in, {:.1} MB image, {:.1} s\n",
            out.display(),
            root_path.display(),
            options.compression.name(),
            options.block_size / 1024,
            options.epoch,
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
    } else if let Some(line) = crate::output::quiet_problems(out, outcome.dropped_xattrs.len(), args.json.as_deref()) {
        note_text!(format!("{line}\n"));
    }
    Ok(ExitCode::from(code))
}

fn files_equal(a: &Path, b: &Path) -> Result<bool> {
    let Ok(b_bytes) = std::fs::read(b) else { return Ok(false) };
    let a_bytes = std::fs::read(a).with_context(|| format!("{}: cannot read", a.display()))?;
    Ok(a_bytes == b_bytes)
}

fn write_json(file: &Path, value: &serde_json::Value) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(value)?;
    json.push(b'\n');
    if file == Path::new("-") {
        std::io::stdout().lock().write_all(&json).context("cannot write to standard output")
    } else {
        crate::output::write_file(file, &json, "report")
            .with_context(|| format!("{}: cannot write the report", file.display()))
    }
}

/// `--list`: one line per entry as `unsquashfs -lln` prints it (mode, uid/gid, size or device,
/// mtime in UTC, path, link target), or JSON.
fn list(args: &SquashfsArgs, path: &Path) -> Result<ExitCode> {
    let image = Image::open(path).with_context(|| path.display().to_string())?;
    let entries = image.entries().with_context(|| format!("{}: cannot list the image", path.display()))?;
    if let Some(file) = &args.json {
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
        write_json(file, &serde_json::Value::Array(list))?;
        return Ok(ExitCode::SUCCESS);
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
