//! `tamis`: the command line. It parses arguments, calls the libraries and prints their
//! reports; it holds no normalization logic of its own.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "the binary is where output is printed")]
#![allow(clippy::doc_markdown, reason = "doc comments here are --help text, read without Markdown")]
#![allow(unreachable_pub, reason = "a binary has no API: its modules' `pub` items are its own")]

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

#[macro_use]
mod exit;

mod args;
#[cfg(test)]
mod cli_help;
mod clidoc;
mod compare;
mod demo;
mod disk;
mod initramfs;
mod interrupt;
mod iso;
mod iuk;
mod output;
mod postinst_check;
mod squashfs;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use args::{EpochArgs, OutputArgs, RunArgs};
use clap::{Args, Parser, Subcommand};
use tamis_core::{Context, Root, TimePolicy, Timestamp};
use tamis_formats::{Format, FormatsOptions, StripFormats};
use tamis_mtime::{ClampMtimes, MtimeOptions};
use tamis_pipeline::{Outcome, Pipeline, Profile, Selection};

/// The exit status of the commands that change a tree.
const TREE_EXIT_CODES: &str = exit_help!("0", "1", "2", "3", "129, 130, 143"; "\
Temporary files (.tamis-*.tmp) that a killed run left in the tree are named (report
`temporaries`) and removed before anything else, or the hard-link group that run was
re-pointing is finished; with --check they are listed as changes. Those of a tamis process
still running are left and listed as problems.");

/// The exit status of every command, in the help of `tamis` itself.
const EXIT_CODES: &str = exit_help!("0", "1", "2", "3", "129, 130, 143"; "\
Each command's --help lists the codes it can return.");

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
    #[command(after_help = TREE_EXIT_CODES, long_about = normalize_about())]
    Normalize(NormalizeArgs),
    /// Clamp (or --set) the modification time of every entry of a tree to the epoch.
    #[command(after_help = TREE_EXIT_CODES)]
    Mtime(MtimeArgs),
    /// Rewrite initramfs files canonically (member order, inode numbers, times, devices, the
    /// compressor's header), keeping their compression. For initrds outside a root filesystem.
    #[command(after_help = TREE_EXIT_CODES)]
    Initramfs(initramfs::InitramfsArgs),
    /// Remove times, names and owners embedded in files, the way strip-nondeterminism does in a
    /// package build.
    #[command(after_help = TREE_EXIT_CODES, long_about = strip_about())]
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
    /// Disk images (USB images, raw GPT/MBR images with FAT partitions): normalize in place.
    Disk(disk::DiskArgs),
    /// Install Debian packages twice, under different clock, host name, umask, time zone,
    /// locale, environment, build path and CPU count, and say what their maintainer scripts
    /// leave differently: what tamis removes, and what remains the package's. Needs root.
    PostinstCheck(postinst_check::PostinstCheckArgs),
    /// Write a squashfs image of a tree whose bytes depend only on the tree and the options
    /// (not on thread count, readdir order or build time); or --list an image.
    Squashfs(squashfs::SquashfsArgs),
    /// Write an incremental upgrade kit (Tails' IUK format v2) from release OLD to NEW, its
    /// bytes the same from any builder; or --verify a kit by applying it in memory.
    Iuk(iuk::IukArgs),
    /// Write the man pages and shell completions of tamis (for packaging).
    #[command(hide = true)]
    GenerateDocs(clidoc::GenerateDocsArgs),
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
    /// Only these formats (default: all of them).
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
#[command(after_help = exit_help!("0", "2"))]
struct StagesArgs {
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
#[command(after_help = exit_help!("0", "1", "2"; "1 here: the two trees still differ after tamis (a bug of tamis)."))]
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
        return ExitCode::from(exit::ERROR);
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
        Command::Disk(args) => disk::run(&args),
        Command::PostinstCheck(args) => postinst_check::run(&args),
        Command::Squashfs(args) => squashfs::run(&args),
        Command::Iuk(args) => iuk::run(&args),
        Command::GenerateDocs(args) => clidoc::run::<Cli>(&args),
    };
    match result {
        Ok(code) => code,
        // The reader of the output went away (`tamis demo | head -1`): stop, quietly, as a
        // pipeline expects.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            note!("tamis: error: {error:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

/// Whether `error` comes from writing to a pipe whose reader has gone.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}

/// The formats `strip` and the `formats` stage handle, as `--type` names them.
fn format_names() -> String {
    Format::ALL.map(Format::name).join(", ")
}

fn strip_about() -> String {
    format!(
        "Remove times, names and owners embedded in files, the way strip-nondeterminism does in a package \
         build: each FILE, or every file beneath each DIR, recognised by its content whatever its name.\n\n\
         Formats: {}.",
        format_names()
    )
}

fn normalize_about() -> String {
    format!(
        "Run a profile's stages on a root filesystem (every stage, ending with the mtime clamp).\n\n\
         Stage `formats` normalizes files of these formats: {}.",
        format_names()
    )
}

/// The current time: only the binary reads the clock, and only to refuse a future epoch.
fn now() -> Timestamp {
    #[allow(clippy::disallowed_methods, reason = "checking that the epoch is not in the future")]
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Timestamp::from_secs(i64::try_from(since.as_secs()).unwrap_or(i64::MAX))
}

fn normalize(args: &NormalizeArgs) -> Result<ExitCode> {
    let epoch = args.epoch.resolve()?;
    args.run.threads.setup()?;
    let profile = Profile::load(&args.profile)?;
    let selection = Selection { only: args.only.clone(), skip: args.skip.clone() };
    let pipeline = Pipeline::new(&profile, &selection)?;
    let root = Root::open(&args.root)?;
    let progress = output::Bar::new(args.run.quiet.quiet);
    let cx = Context::new(epoch, args.run.mode()).with_progress(&progress);
    let started = std::time::Instant::now();
    let outcome = pipeline.run(&root, &cx)?;
    output::finish(&args.run.output, &args.run.quiet, &args.root, &outcome, started.elapsed())
}

fn mtime(args: &MtimeArgs) -> Result<ExitCode> {
    let epoch = args.epoch.resolve()?;
    args.run.threads.setup()?;
    let root = Root::open(&args.root)?;
    let policy = if args.set { TimePolicy::Set } else { TimePolicy::Clamp };
    let stage = ClampMtimes::new(MtimeOptions::new(policy));
    let progress = output::Bar::new(args.run.quiet.quiet);
    let cx = Context::new(epoch, args.run.mode()).with_progress(&progress);
    let started = std::time::Instant::now();
    let stages = stage.run_after_temporaries(&root, &cx)?;
    let outcome = Outcome { profile: ClampMtimes::NAME.into(), epoch, mode: cx.mode, stages };
    output::finish(&args.run.output, &args.run.quiet, &args.root, &outcome, started.elapsed())
}

fn strip(args: &StripArgs) -> Result<ExitCode> {
    let epoch = args.epoch.resolve()?;
    args.run.threads.setup()?;
    let types = if args.types.is_empty() { Format::ALL.to_vec() } else { args.types.clone() };
    let policy = if args.set { TimePolicy::Set } else { TimePolicy::Clamp };
    let stage = StripFormats::new(
        &FormatsOptions::default().with_policy(policy).with_gzip_keep_name(args.keep_gzip_name).with_types(types),
    );
    let progress = output::Bar::new(args.run.quiet.quiet);
    let cx = Context::new(epoch, args.run.mode()).with_progress(&progress);
    let started = std::time::Instant::now();
    let reports = stage.run_on_paths(&args.paths, &cx)?;
    let outcome = Outcome { profile: StripFormats::NAME.into(), epoch, mode: cx.mode, stages: reports };
    let shown = match args.paths.as_slice() {
        [one] => one.clone(),
        many => PathBuf::from(format!("{} paths", many.len())),
    };
    output::finish(&args.run.output, &args.run.quiet, &shown, &outcome, started.elapsed())
}

fn stages(args: &StagesArgs) -> Result<ExitCode> {
    use std::io::Write as _;
    let stages = tamis_pipeline::stages();
    let list: Vec<_> = stages.iter().map(|s| serde_json::json!({"name": s.name, "summary": s.summary})).collect();
    args.output.write(&list)?;
    if args.output.to_stdout() {
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    let width = stages.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in stages {
        writeln!(out, "{:width$}  {}", s.name, s.summary)?;
    }
    writeln!(out)?;
    writeln!(out, "Built-in profiles: {}", Profile::builtin_names().collect::<Vec<_>>().join(", "))?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
