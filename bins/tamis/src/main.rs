//! `tamis`: the command line. It parses arguments, calls the libraries and prints their
//! reports; it holds no normalization logic of its own.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "the binary is where output is printed")]
#![allow(clippy::doc_markdown, reason = "doc comments here are --help text, read without Markdown")]

/// `eprintln!` that does not panic when standard error is closed (`tamis … 2>&1 | head -1`):
/// a message nobody can read is dropped.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// `print!` of one text on standard error, without a panic when it is closed.
macro_rules! note_text {
    ($text:expr) => {{
        use std::io::Write as _;
        let _ = std::io::stderr().lock().write_all($text.as_bytes());
    }};
}

mod clidoc;
mod compare;
mod demo;
mod image_out;
mod initramfs;
mod interrupt;
mod iso;
mod output;
mod postinst_check;
mod squashfs;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};
use tamis_core::{Context, Epoch, Mode, Normalizer, Root, Timestamp};
use tamis_formats::{Format, FormatsOptions, StripFormats, TimePolicy};
use tamis_mtime::{ClampMtimes, MtimeOptions, Policy};
use tamis_pipeline::{Outcome, Pipeline, Profile, Selection};

macro_rules! exit_codes {
    () => {
        "\
Exit status:
  0  done; with --check: nothing would change
  1  with --check: something would change (listed on stderr, all of it in --json)
  2  error: bad arguments, no epoch, unreadable root, invalid profile
  3  done, but some entries could not be handled (listed; the run went on without them)
  129, 130, 143  interrupted by SIGHUP, SIGINT, SIGTERM: its temporary files removed, every
     file left old or new (a rerun finishes the work)"
    };
}

const EXIT_CODES: &str = exit_codes!();

/// The help of the commands that change a tree.
const TREE_EXIT_CODES: &str = concat!(
    exit_codes!(),
    "

Temporary files (.tamis-*.tmp) that a killed run left in the tree are named (report
`temporaries`) and removed before anything else, or the hard-link group that run was
re-pointing is finished; with --check they are listed as changes. Those of a tamis process
still running are left and listed as problems."
);

/// Make OS images build bit-for-bit reproducibly.
///
/// tamis removes the nondeterminism that image builds leave in a root filesystem (mtimes,
/// machine identity, caches keyed on build time, timestamps inside files) so that two builds
/// of the same packages, made at different times on different hosts, give the same bytes.
/// It never follows a symbolic link out of the tree it works on.
#[derive(Debug, Parser)]
#[command(name = "tamis", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a profile's stages on a root filesystem (every stage, ending with the mtime clamp).
    #[command(after_help = TREE_EXIT_CODES)]
    Normalize(NormalizeArgs),
    /// Clamp (or --set) the modification time of every entry of a tree to the epoch.
    #[command(after_help = TREE_EXIT_CODES)]
    Mtime(MtimeArgs),
    /// Rewrite initramfs files canonically (member order, inode numbers, times, devices, the
    /// compressor's header), keeping their compression. For initrds outside a root filesystem.
    #[command(after_help = TREE_EXIT_CODES)]
    Initramfs(initramfs::InitramfsArgs),
    /// Remove times, names and owners embedded in gzip, zip/jar, ar/deb, png and gettext files, the way
    /// strip-nondeterminism does in a package build: each FILE, or every file beneath each DIR,
    /// recognised by its content whatever its name.
    #[command(after_help = TREE_EXIT_CODES)]
    Strip(StripArgs),
    /// List the stages a profile can name, with what each does.
    Stages(StagesArgs),
    /// Build two small trees that differ the way two real builds do, normalize both, show
    /// that they are then identical. Needs neither root nor network.
    Demo(DemoArgs),
    /// Write the manifest of a tree (path, type, mode, owner, size, mtime, link target,
    /// device, xattrs, SHA-256) as JSON Lines, in the canonical order.
    Manifest(compare::ManifestArgs),
    /// Compare two trees or manifests: differences grouped, and with --explain the cause of
    /// each and the stage that removes it.
    Diff(compare::DiffArgs),
    /// ISO 9660 hybrid images: normalize one in place, build one reproducibly, list one.
    Iso(iso::IsoArgs),
    /// Install Debian packages twice, under different clock, host name, umask, time zone,
    /// locale, environment, build path and CPU count, and say what their maintainer scripts
    /// leave differently: what tamis removes, and what remains the package's. Needs root.
    PostinstCheck(postinst_check::PostinstCheckArgs),
    /// Write a squashfs image of a tree whose bytes depend only on the tree and the options
    /// (not on thread count, readdir order or build time); or --list an image.
    Squashfs(squashfs::SquashfsArgs),
    /// Write the man pages and shell completions of tamis (for packaging).
    #[command(hide = true)]
    GenerateDocs(clidoc::GenerateDocsArgs),
}

#[derive(Debug, Args)]
struct EpochArgs {
    /// The date every output is derived from, in seconds since 1970-01-01 UTC, at most
    /// 4294967295 (2106-02-07, the last second gzip, cpio and squashfs times can hold).
    /// Defaults to the SOURCE_DATE_EPOCH environment variable.
    #[arg(long, visible_alias = "source-date-epoch", value_name = "SECONDS")]
    epoch: Option<String>,
    /// Accept an epoch later than the current time.
    #[arg(long)]
    allow_future_epoch: bool,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Change nothing; list what would change and exit 1 if anything would.
    #[arg(long)]
    check: bool,
    /// Write the full report as JSON to FILE ('-' for standard output).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Worker threads (default: one per CPU). The result does not depend on it.
    #[arg(long, short = 'j', value_name = "N")]
    threads: Option<usize>,
    /// Print nothing on stderr but errors and, when entries were left alone (exit 3), one line
    /// saying how many and where they are listed.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(Debug, Args)]
struct NormalizeArgs {
    /// A built-in profile name (see `tamis stages`) or a profile TOML file.
    #[arg(long, default_value = "debian-image", value_name = "PROFILE")]
    profile: String,
    /// Run only these stages of the profile, in the profile's order.
    #[arg(long, value_delimiter = ',', value_name = "STAGE,..")]
    only: Vec<String>,
    /// Do not run these stages.
    #[arg(long, value_delimiter = ',', value_name = "STAGE,..")]
    skip: Vec<String>,
    #[command(flatten)]
    epoch: EpochArgs,
    #[command(flatten)]
    run: RunArgs,
    /// The root filesystem (a directory: a chroot made by mmdebstrap, debootstrap, live-build).
    root: PathBuf,
}

#[derive(Debug, Args)]
struct MtimeArgs {
    /// Give every entry the epoch, older ones too (default: only entries newer than the epoch).
    #[arg(long)]
    set: bool,
    #[command(flatten)]
    epoch: EpochArgs,
    #[command(flatten)]
    run: RunArgs,
    /// The tree.
    root: PathBuf,
}

#[derive(Debug, Args)]
struct StripArgs {
    /// Give every embedded time the epoch, older ones too (default: only times newer than it).
    #[arg(long)]
    set: bool,
    /// Only these formats (default: all of gzip, zip, ar, png, gettext, pyc, javadoc, uimage, cpio).
    #[arg(long = "type", short = 't', value_delimiter = ',', value_name = "TYPE,..")]
    types: Vec<Format>,
    /// Keep the file names recorded in gzip headers (default: drop them).
    #[arg(long)]
    keep_gzip_name: bool,
    #[command(flatten)]
    epoch: EpochArgs,
    #[command(flatten)]
    run: RunArgs,
    /// Files, or directories to walk.
    #[arg(required = true, value_name = "FILE|DIR")]
    paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct StagesArgs {
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Build the two trees here (kept afterwards) instead of in a temporary directory.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // postinst-check has a handler of its own, which also undoes its mounts.
    if !matches!(cli.command, Command::PostinstCheck(_))
        && let Err(error) = interrupt::install()
    {
        note!("tamis: error: cannot handle signals: {error:#}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Normalize(args) => normalize(&args),
        Command::Mtime(args) => mtime(&args),
        Command::Initramfs(args) => initramfs::run(&args),
        Command::Strip(args) => strip(&args),
        Command::Stages(args) => stages(&args),
        Command::Demo(args) => demo::run(args.dir.as_deref()),
        Command::Manifest(args) => compare::manifest(&args),
        Command::Diff(args) => compare::diff(&args),
        Command::Iso(args) => iso::run(&args),
        Command::PostinstCheck(args) => postinst_check::run(&args),
        Command::Squashfs(args) => squashfs::run(&args),
        Command::GenerateDocs(args) => clidoc::run::<Cli>(&args),
    };
    match result {
        Ok(code) => code,
        // The reader of the output went away (`tamis demo | head -1`): stop, quietly, as a
        // pipeline expects.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            note!("tamis: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether `error` comes from writing to a pipe whose reader has gone.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}

/// The current time: only the binary reads the clock, and only to refuse a future epoch.
fn now() -> Timestamp {
    #[allow(clippy::disallowed_methods, reason = "checking that the epoch is not in the future")]
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Timestamp::from_secs(i64::try_from(since.as_secs()).unwrap_or(i64::MAX))
}

fn epoch(args: &EpochArgs) -> Result<Epoch> {
    #[allow(clippy::disallowed_methods, reason = "the binary is where configuration is read")]
    let env = std::env::var("SOURCE_DATE_EPOCH").ok();
    Ok(Epoch::resolve(args.epoch.as_deref(), env.as_deref(), now(), args.allow_future_epoch)?)
}

fn setup_threads(run: &RunArgs) -> Result<()> {
    if let Some(n) = run.threads {
        anyhow::ensure!(n > 0, "--threads must be at least 1");
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().context("cannot start worker threads")?;
    }
    Ok(())
}

fn mode(run: &RunArgs) -> Mode {
    if run.check { Mode::Check } else { Mode::Apply }
}

fn normalize(args: &NormalizeArgs) -> Result<ExitCode> {
    let epoch = epoch(&args.epoch)?;
    setup_threads(&args.run)?;
    let profile = Profile::load(&args.profile)?;
    let selection = Selection { only: args.only.clone(), skip: args.skip.clone() };
    let pipeline = Pipeline::new(&profile, &selection)?;
    let root = Root::open(&args.root)?;
    let progress = output::Bar::new(args.run.quiet);
    let cx = Context::new(epoch, mode(&args.run)).with_progress(&progress);
    let started = std::time::Instant::now();
    let outcome = pipeline.run(&root, &cx)?;
    output::finish(&args.run, &args.root, &outcome, started.elapsed())
}

fn mtime(args: &MtimeArgs) -> Result<ExitCode> {
    let epoch = epoch(&args.epoch)?;
    setup_threads(&args.run)?;
    let root = Root::open(&args.root)?;
    let policy = if args.set { Policy::Set } else { Policy::Clamp };
    let stage = ClampMtimes::new(MtimeOptions { policy });
    let progress = output::Bar::new(args.run.quiet);
    let cx = Context::new(epoch, mode(&args.run)).with_progress(&progress);
    let started = std::time::Instant::now();
    let mut stages = stale_report(&root, None, &cx)?;
    stages.push(stage.run(&root, &cx)?);
    let outcome = Outcome { profile: ClampMtimes::NAME.into(), epoch, mode: cx.mode, stages };
    output::finish(&args.run, &args.root, &outcome, started.elapsed())
}

fn strip(args: &StripArgs) -> Result<ExitCode> {
    let epoch = epoch(&args.epoch)?;
    setup_threads(&args.run)?;
    let types = if args.types.is_empty() { Format::ALL.to_vec() } else { args.types.clone() };
    let policy = if args.set { TimePolicy::Set } else { TimePolicy::Clamp };
    let stage = StripFormats::new(&FormatsOptions { policy, gzip_keep_name: args.keep_gzip_name, types });
    let progress = output::Bar::new(args.run.quiet);
    let cx = Context::new(epoch, mode(&args.run)).with_progress(&progress);
    let started = std::time::Instant::now();
    let mut reports = Vec::new();
    for path in &args.paths {
        let meta = std::fs::symlink_metadata(path).with_context(|| format!("{}: cannot stat", path.display()))?;
        let mut report = if meta.is_dir() {
            let root = Root::open(path)?;
            reports.extend(stale_report(&root, None, &cx)?);
            stage.run(&root, &cx)?
        } else {
            // A file is handled through a root on its directory, so that it is rewritten the
            // same safe way as a file of a tree.
            let name = path.file_name().with_context(|| format!("{}: names no file", path.display()))?;
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => std::path::Path::new("."),
            };
            let root = Root::open(parent)?;
            reports.extend(stale_report(&root, Some(std::path::Path::new("")), &cx)?);
            stage.strip_file(&root, std::path::Path::new(name), &cx)
        };
        report.stage = path.display().to_string();
        reports.push(report);
    }
    let outcome = Outcome { profile: StripFormats::NAME.into(), epoch, mode: cx.mode, stages: reports };
    let shown = match args.paths.as_slice() {
        [one] => one.clone(),
        many => PathBuf::from(format!("{} paths", many.len())),
    };
    output::finish(&args.run, &shown, &outcome, started.elapsed())
}

/// The report of what interrupted runs left in the tree (or only in the directory `dir` of
/// it), when they left anything: run before any stage.
fn stale_report(root: &Root, dir: Option<&std::path::Path>, cx: &Context<'_>) -> Result<Vec<tamis_core::Report>> {
    let stale = tamis_core::StaleTemporaries;
    let report = match dir {
        None => stale.run(root, cx)?,
        Some(dir) => stale.run_in(root, dir, cx)?,
    };
    Ok(if report.is_clean() { Vec::new() } else { vec![report] })
}

fn stages(args: &StagesArgs) -> Result<ExitCode> {
    use std::io::Write as _;
    let stages = tamis_pipeline::stages();
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = stages.iter().map(|s| serde_json::json!({"name": s.name, "summary": s.summary})).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
    } else {
        let width = stages.iter().map(|s| s.name.len()).max().unwrap_or(0);
        for s in stages {
            writeln!(out, "{:width$}  {}", s.name, s.summary)?;
        }
        writeln!(out)?;
        writeln!(out, "Built-in profiles: {}", Profile::builtin_names().collect::<Vec<_>>().join(", "))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
