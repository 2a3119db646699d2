//! `tamis iuk OLD NEW OUT`: an incremental upgrade kit (Tails' IUK format v2) from two release
//! images; `tamis iuk --verify OLD NEW IUK`: the kit applied in memory and compared with NEW.
//! The work is in `tamis-iuk`; this parses arguments and prints.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Args, ValueEnum};
use tamis_core::temp::OutputFile;
use tamis_iuk::delta::Cost;
use tamis_iuk::{IukOptions, Kit, Release, verify, write_kit};
use tamis_squashfs::Compression;

use crate::args::{EpochArgs, OutputArgs, QuietArgs, ThreadsArgs};
use crate::interrupt;

const EXIT_CODES: &str = exit_help!("0", "1", "2", "129, 130, 143"; "\
With --verify, 0 answers that the kit turns OLD into NEW exactly, 1 that it does not (the
differences are listed). Exit 2 also covers a corrupt image and OLD and NEW swapped.

OLD and NEW are hybrid ISO images holding live/filesystem.squashfs (and the kernels, initrds and
boot directories), or squashfs images. The kit is written beside OUT as .tamis-iuk-PID-N.tmp,
then renamed onto OUT: on any error or interruption nothing is left at OUT.");

/// Arguments of `tamis iuk`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct IukArgs {
    /// Apply the kit IUK to OLD in memory and check that the result is NEW (files, metadata,
    /// FORMAT, control.yml, kernels).
    #[arg(long)]
    verify: bool,
    /// The diff squashfs's file name in the kit (default: OUT's name with .squashfs for its
    /// extension, as Tails names them: Tails_amd64_1.0_to_1.1.squashfs).
    #[arg(long, value_name = "NAME")]
    diff_name: Option<String>,
    /// The kit's directory that holds the diff squashfs.
    #[arg(long, value_name = "DIR", default_value = "overlay/live")]
    diff_dir: String,
    /// The root filesystem's path inside a release ISO.
    #[arg(long, value_name = "PATH", default_value = "live/filesystem.squashfs")]
    squashfs_in_iso: String,
    /// The diff squashfs's compressor (Tails: xz with the x86 filter and a 1 MiB dictionary).
    #[arg(long, value_enum, default_value_t = DiffComp::Xz)]
    diff_comp: DiffComp,
    /// The diff squashfs's block size in KiB (Tails: 1024).
    #[arg(long, value_name = "KIB", default_value_t = 1024)]
    diff_block_kib: u32,
    /// Make the kit even though NEW's filesystem was made before OLD's.
    #[arg(long)]
    allow_older: bool,
    #[command(flatten)]
    epoch: EpochArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    threads: ThreadsArgs,
    #[command(flatten)]
    quiet: QuietArgs,
    /// The release upgraded from.
    old: PathBuf,
    /// The release upgraded to.
    new: PathBuf,
    /// The kit to write (with --verify: to check).
    out: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DiffComp {
    Xz,
    Zstd,
    Gzip,
    Lz4,
}

fn options(args: &IukArgs, epoch: tamis_core::Epoch) -> Result<IukOptions> {
    let diff_name = if let Some(name) = &args.diff_name {
        name.clone()
    } else {
        let stem = args.out.file_stem().context("OUT has no file name")?;
        format!("{}.squashfs", stem.to_string_lossy())
    };
    let mut options = IukOptions::new(epoch, &diff_name);
    options.diff_compression = match args.diff_comp {
        DiffComp::Xz => options.diff_compression,
        DiffComp::Zstd => Compression::Zstd { level: 15 },
        DiffComp::Gzip => Compression::Gzip { level: 9 },
        DiffComp::Lz4 => Compression::Lz4,
    };
    options.diff_block_size = args.diff_block_kib.checked_mul(1024).context("--diff-block-kib is too large")?;
    options.layout.diff_dir.clone_from(&args.diff_dir);
    options.layout.squashfs_in_iso.clone_from(&args.squashfs_in_iso);
    options.allow_older = args.allow_older;
    Ok(options)
}

pub fn run(args: &IukArgs) -> Result<ExitCode> {
    args.threads.setup()?;
    if args.verify {
        return run_verify(args);
    }
    let options = options(args, args.epoch.resolve()?)?;
    let started = std::time::Instant::now();
    let old = Release::open(&args.old, &options.layout.squashfs_in_iso)?;
    let new = Release::open(&args.new, &options.layout.squashfs_in_iso)?;
    let out = &args.out;
    for input in [&args.old, &args.new] {
        if std::fs::canonicalize(input).ok().is_some_and(|p| Some(p) == std::fs::canonicalize(out).ok()) {
            bail!("{}: OUT is one of the releases", out.display());
        }
    }
    interrupt::warn_stale_beside(out, "iuk");
    let temp = OutputFile::create(out, "iuk")
        .with_context(|| format!("{}: cannot create a temporary file for the kit", out.display()))?;
    let outcome = write_kit(&old, &new, temp.file(), &options).with_context(|| {
        format!("{}: cannot make the kit from {} to {}", out.display(), args.old.display(), args.new.display())
    })?;
    temp.persist(0o644).with_context(|| format!("{}: cannot write the kit", out.display()))?;
    let report = serde_json::json!({"kit": out, "old": args.old, "new": args.new, "epoch": options.epoch,
        "diff": options.layout.diff_path(), "outcome": outcome});
    args.output.write(&report)?;
    if !args.quiet.quiet {
        let d = &outcome.delta;
        let mut s = format!(
            "tamis: {}: written: {:.1} MB kit, diff {:.1} MB ({} entries), {:.1} s\n",
            out.display(),
            mb(outcome.kit_bytes),
            mb(outcome.diff_bytes),
            outcome.diff_entries,
            started.elapsed().as_secs_f64()
        );
        if outcome.diff_copied_blocks > 0 || outcome.diff_copied_fragments > 0 {
            let _ = writeln!(
                s,
                "  copied as NEW stores them: {} data blocks, {} fragment blocks",
                outcome.diff_copied_blocks, outcome.diff_copied_fragments
            );
        }
        cost(&mut s, "content changes", &d.content);
        cost(&mut s, "metadata-only changes", &d.metadata_only);
        if !d.metadata_fields.is_empty() {
            let fields: Vec<String> = d.metadata_fields.iter().map(|(f, n)| format!("{f} {n}")).collect();
            let _ = writeln!(s, "    fields: {}", fields.join(", "));
        }
        cost(&mut s, "new files", &d.new);
        let _ = writeln!(
            s,
            "  {} deleted (whiteouts), {} opaque directories, {} directories above changes",
            d.deleted, d.opaque, d.parents
        );
        if !outcome.kernels.is_empty() || !outcome.delete_files.is_empty() {
            let _ = writeln!(
                s,
                "  boot: {} changed kernels/initrds ({}), {} boot files, delete_files: {}",
                outcome.kernels.len(),
                outcome.kernels.join(", "),
                outcome.boot_files,
                if outcome.delete_files.is_empty() { "none".into() } else { outcome.delete_files.join(", ") }
            );
        }
        note_text!(s);
    }
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::cast_precision_loss, reason = "sizes shown in MB")]
fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn cost(s: &mut String, what: &str, c: &Cost) {
    let _ = writeln!(s, "  {what}: {} entries, {:.1} MB", c.entries, mb(c.bytes));
    for (path, bytes) in c.largest.iter().take(3) {
        let _ = writeln!(s, "    {path} ({:.1} MB)", mb(*bytes));
    }
}

fn run_verify(args: &IukArgs) -> Result<ExitCode> {
    let layout = options(args, tamis_core::Epoch::from_secs(0).context("epoch 0")?)?.layout;
    let old = Release::open(&args.old, &layout.squashfs_in_iso)?;
    let new = Release::open(&args.new, &layout.squashfs_in_iso)?;
    let kit = Kit::open(&args.out, &layout.diff_dir)?;
    let verification = verify(&old, &new, &kit, &layout)?;
    args.output.write(&verification)?;
    if args.output.to_stdout() {
        return Ok(ExitCode::from(u8::from(!verification.passed())));
    }
    let mut s = String::new();
    if verification.passed() {
        let _ = writeln!(
            s,
            "tamis: {}: verified: {} with the kit applied is {} ({} entries)",
            args.out.display(),
            args.old.display(),
            args.new.display(),
            verification.comparison.entries[1]
        );
    } else {
        let _ = writeln!(
            s,
            "tamis: {}: does not turn {} into {}",
            args.out.display(),
            args.old.display(),
            args.new.display()
        );
        for d in &verification.comparison.differences {
            let fields = if d.fields.is_empty() { String::new() } else { format!(" ({})", d.fields.join(", ")) };
            let _ = writeln!(s, "  {} {}{fields}", d.group.name(), d.path);
        }
        for p in &verification.comparison.problems {
            let _ = writeln!(s, "  unreadable {}: {}", p.path.display(), p.reason);
        }
        for p in &verification.kit_problems {
            let _ = writeln!(s, "  {p}");
        }
    }
    match std::io::stdout().lock().write_all(s.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(e).context("cannot write to standard output");
        }
        _ => {}
    }
    Ok(ExitCode::from(u8::from(!verification.passed())))
}
