//! `tamis iso normalize|build|list`: ISO 9660 hybrid images.

use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use tamis_core::{Epoch, Mode, Problem, Report};
use tamis_iso::{BuildOptions, Options, Plan, Reader};
use tamis_pipeline::Outcome;

use crate::args::{EpochArgs, OutputArgs, QuietArgs, RunArgs};
use crate::output;

/// `iso build` has no --check: it writes an image or fails.
const BUILD_EXIT_CODES: &str = exit_help!("0", "2", "3", "129, 130, 143"; "\
Problems (exit 3) are what the normalization of the built image had to leave alone.");

const LIST_EXIT_CODES: &str = exit_help!("0", "2");

#[derive(Debug, Args)]
pub struct IsoArgs {
    #[command(subcommand)]
    command: IsoCommand,
}

#[derive(Debug, Subcommand)]
enum IsoCommand {
    /// Rewrite in place, without moving any data, every date and identifier of ISO images that
    /// depends on when or where they were built: volume descriptor and directory record dates
    /// (primary and Joliet trees), Rock Ridge TF times, the MBR disk signature, the GPT GUIDs
    /// and CRCs, in the EFI FAT image its serial, label and entry times, the dates of an HFS+
    /// partition (grub-mkrescue) and xorriso's MD5 checksum tags. Dates later than
    /// the epoch become the epoch; identifiers derive from it. The image is validated whole
    /// before anything is written: a corrupt one is left untouched.
    #[command(after_help = exit_help!("0", "1", "2", "3", "129, 130, 143"))]
    Normalize(NormalizeArgs),
    /// Build an image from a directory with xorriso and every reproducibility option it has,
    /// then normalize it.
    #[command(after_help = BUILD_EXIT_CODES)]
    Build(BuildArgs),
    /// List an image's files: type, mode, owner, size, mtime, path (Rock Ridge names and
    /// metadata when present, else Joliet, else ISO 9660). With --json, JSON Lines: one entry
    /// per line, with each file's data extents.
    #[command(after_help = LIST_EXIT_CODES)]
    List(ListArgs),
}

#[derive(Debug, Args)]
struct IdArgs {
    /// GPT disk GUID to write (text form); partition GUIDs, the MBR signature and FAT serials
    /// then derive from it instead of from the epoch.
    #[arg(long, value_name = "GUID")]
    disk_guid: Option<String>,
    /// MBR disk signature to write (hex), instead of one derived from the epoch.
    #[arg(long, value_name = "HEX")]
    mbr_id: Option<String>,
    /// FAT volume serial to write (hex), instead of one derived from the epoch.
    #[arg(long, value_name = "HEX")]
    fat_serial: Option<String>,
}

#[derive(Debug, Args)]
struct NormalizeArgs {
    #[command(flatten)]
    ids: IdArgs,
    #[command(flatten)]
    epoch: EpochArgs,
    #[command(flatten)]
    run: RunArgs,
    /// ISO images (hybrid or not).
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct BuildArgs {
    /// Volume label (ISO 9660 volume ID).
    #[arg(long, default_value = "TAMIS", value_name = "LABEL")]
    label: String,
    /// EFI FAT image inside DIR (boot/grub/efi.img): El Torito EFI entry and GPT partition.
    #[arg(long, value_name = "PATH")]
    efi: Option<PathBuf>,
    /// BIOS El Torito image inside DIR (isolinux/isolinux.bin), with a boot info table.
    #[arg(long, value_name = "PATH")]
    bios: Option<PathBuf>,
    /// Boot catalog path inside DIR (default: next to the BIOS image).
    #[arg(long, value_name = "PATH")]
    catalog: Option<PathBuf>,
    /// isohybrid MBR file for the system area (isohdpfx.bin).
    #[arg(long, value_name = "FILE")]
    mbr: Option<PathBuf>,
    /// The xorriso program.
    #[arg(long, default_value = "xorriso", value_name = "PROGRAM")]
    xorriso: PathBuf,
    #[command(flatten)]
    epoch: EpochArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    quiet: QuietArgs,
    /// The tree to put in the image.
    dir: PathBuf,
    /// The image to write.
    out: PathBuf,
}

#[derive(Debug, Args)]
struct ListArgs {
    #[command(flatten)]
    output: OutputArgs,
    /// The image.
    image: PathBuf,
}

pub fn run(args: &IsoArgs) -> Result<ExitCode> {
    match &args.command {
        IsoCommand::Normalize(a) => normalize(a),
        IsoCommand::Build(a) => build(a),
        IsoCommand::List(a) => list(a),
    }
}

fn options(epoch: Epoch, ids: &IdArgs) -> Result<Options> {
    let hex32 = |text: &Option<String>, what: &str| {
        text.as_deref().map(tamis_disk::parse_hex32).transpose().with_context(|| format!("--{what}"))
    };
    let mut options = Options::new(epoch);
    options.disk_guid = ids.disk_guid.as_deref().map(tamis_disk::parse_guid).transpose().context("--disk-guid")?;
    options.mbr_signature = hex32(&ids.mbr_id, "mbr-id")?;
    options.fat_serial = hex32(&ids.fat_serial, "fat-serial")?;
    Ok(options)
}

fn report(image: &Path, plan: &Plan, mode: Mode) -> Report {
    let mut report = Report::new("iso", mode);
    report.stage = image.display().to_string();
    report.examined = plan.examined;
    report.changes = plan.patches.iter().map(tamis_disk::Patch::change).collect();
    report.problems = plan.notes.iter().map(|n| Problem { path: image.to_owned(), reason: n.clone() }).collect();
    report
}

fn normalize(args: &NormalizeArgs) -> Result<ExitCode> {
    let epoch = args.epoch.resolve()?;
    args.run.threads.setup()?;
    let options = options(epoch, &args.ids)?;
    let mode = args.run.mode();
    output::finish_images(&args.run, "iso", epoch, &args.images, |image| {
        Ok(report(image, &tamis_iso::normalize_file(image, &options, mode)?, mode))
    })
}

fn build(args: &BuildArgs) -> Result<ExitCode> {
    let epoch = args.epoch.resolve()?;
    let mut options = BuildOptions::new(epoch);
    options.label.clone_from(&args.label);
    options.efi.clone_from(&args.efi);
    options.bios.clone_from(&args.bios);
    options.catalog.clone_from(&args.catalog);
    options.mbr.clone_from(&args.mbr);
    options.xorriso.clone_from(&args.xorriso);
    let started = std::time::Instant::now();
    crate::interrupt::warn_stale_beside(&args.out, "iso");
    let built = tamis_iso::build(&args.dir, &args.out, &options)?;
    let outcome = Outcome {
        profile: "iso-build".into(),
        epoch,
        mode: Mode::Apply,
        stages: vec![report(&args.out, &built.plan, Mode::Apply)],
    };
    if !args.quiet.quiet {
        note!("tamis: {}", built.command.join(" "));
    }
    output::finish(&args.output, &args.quiet, &args.out, &outcome, started.elapsed())
}

/// A path read from the image as every tamis listing writes it ([`tamis_core::display_path`]):
/// bytes that are not UTF-8 as `\xNN`, so that two names never show as one.
fn image_path(bytes: &[u8]) -> String {
    tamis_core::display_path(Path::new(std::ffi::OsStr::from_bytes(bytes)))
}

fn list(args: &ListArgs) -> Result<ExitCode> {
    let reader = Reader::open(&args.image)?;
    let entries = reader.entries()?;
    let output = &args.output;
    output.write_lines(entries.iter().map(|e| {
        serde_json::json!({
            "path": image_path(&e.path),
            "kind": e.kind,
            "mode": e.mode,
            "uid": e.uid,
            "gid": e.gid,
            "size": e.size,
            "mtime": e.mtime,
            "target": e.target.as_ref().map(|t| String::from_utf8_lossy(t).into_owned()),
            "rdev": e.rdev,
            "extents": e.extents,
        })
    }))?;
    if output.to_stdout() {
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for e in &entries {
        let path = image_path(&e.path);
        let target = e.target.as_ref().map(|t| format!(" -> {}", String::from_utf8_lossy(t))).unwrap_or_default();
        let line = format!(
            "{:<9} {:04o} {:>5} {:>5} {:>12} {} {path}{target}",
            format!("{:?}", e.kind).to_lowercase(),
            e.mode,
            e.uid,
            e.gid,
            e.size,
            e.mtime
        );
        std::io::Write::write_all(&mut out, line.as_bytes())?;
        std::io::Write::write_all(&mut out, b"\n")?;
    }
    std::io::Write::flush(&mut out)?;
    Ok(ExitCode::SUCCESS)
}
