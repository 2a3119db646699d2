//! `tamis disk normalize`: raw disk images (USB images, cloud and board images) with MBR or
//! GPT partition tables and FAT partitions.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use tamis_core::{Mode, Report, Skipped};
use tamis_disk::{Options, Plan};

use crate::args::{EpochArgs, RunArgs};
use crate::output;

#[derive(Debug, Args)]
pub struct DiskArgs {
    #[command(subcommand)]
    command: DiskCommand,
}

#[derive(Debug, Subcommand)]
enum DiskCommand {
    /// Rewrite in place, without moving any data, every identifier and time of disk images
    /// that depends on when they were built: the MBR disk signature, the GPT disk and
    /// partition GUIDs (both copies) and every CRC, and in each FAT partition the volume
    /// serial, the label's padding, the creation, write and access times of every directory
    /// entry and the FSInfo hints. Times later than the epoch become the epoch; identifiers
    /// derive from it. Partitions that are not FAT are left as they are and listed. The image
    /// is validated whole before anything is written: a corrupt one is left untouched.
    #[command(after_help = exit_help!("0", "1", "2", "3", "129, 130, 143"))]
    Normalize(NormalizeArgs),
}

#[derive(Debug, Args)]
struct NormalizeArgs {
    /// Keep the GPT disk and partition GUIDs as they are (the CRCs are still checked).
    #[arg(long)]
    keep_guids: bool,
    #[command(flatten)]
    epoch: EpochArgs,
    #[command(flatten)]
    run: RunArgs,
    /// Disk images (GPT or MBR).
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<PathBuf>,
}

pub fn run(args: &DiskArgs) -> Result<ExitCode> {
    match &args.command {
        DiskCommand::Normalize(a) => normalize(a),
    }
}

fn report(image: &Path, plan: &Plan, mode: Mode) -> Report {
    let mut report = Report::new("disk", mode);
    report.stage = image.display().to_string();
    report.examined = plan.examined;
    report.changes = plan.patches.iter().map(tamis_disk::Patch::change).collect();
    report.skipped = plan
        .left()
        .map(|p| Skipped {
            path: PathBuf::from(format!("partition {} ({} type {})", p.number, p.table, p.kind)),
            reason: p.left.clone().unwrap_or_default(),
        })
        .collect();
    report
}

fn normalize(args: &NormalizeArgs) -> Result<ExitCode> {
    let epoch = args.epoch.resolve()?;
    args.run.threads.setup()?;
    let options = Options::new(epoch).with_keep_guids(args.keep_guids);
    let mode = args.run.mode();
    output::finish_images(&args.run, "disk", epoch, &args.images, |image| {
        Ok(report(image, &tamis_disk::normalize_file(image, &options, mode)?, mode))
    })
}
