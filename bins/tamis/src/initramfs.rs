//! `tamis initramfs FILE…`: the initramfs stage on files named on the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use tamis_core::Context;
use tamis_cpio::{Initramfs, InitramfsOptions, TimePolicy};
use tamis_pipeline::Outcome;

use crate::args::{EpochArgs, OwnerArgs, RunArgs};
use crate::output;

#[derive(Debug, Args)]
pub struct InitramfsArgs {
    /// Give every member the epoch as its time, older ones too (default: only later ones).
    #[arg(long)]
    set: bool,
    #[command(flatten)]
    owner: OwnerArgs,
    #[command(flatten)]
    epoch: EpochArgs,
    #[command(flatten)]
    run: RunArgs,
    /// Initramfs files (initrd.img-*, initramfs-*.img, live/initrd.img): cpio archives, plain
    /// or compressed with gzip, xz, lzma, zstd, lz4 or bzip2, one after the other.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub fn run(args: &InitramfsArgs) -> Result<ExitCode> {
    let epoch = args.epoch.resolve()?;
    args.run.threads.setup()?;
    let times = if args.set { TimePolicy::Set } else { TimePolicy::Clamp };
    let stage = Initramfs::new(InitramfsOptions::new(times).with_root_owner(args.owner.all_root));
    let cx = Context::new(epoch, args.run.mode());
    let started = std::time::Instant::now();
    let stages = stage.run_on_paths(&args.files, &cx)?;
    let outcome = Outcome { profile: Initramfs::NAME.into(), epoch, mode: cx.mode, stages };
    let shown = match args.files.as_slice() {
        [one] => one.clone(),
        many => PathBuf::from(format!("{} files", many.len())),
    };
    output::finish(&args.run.output, &args.run.quiet, &shown, &outcome, started.elapsed())
}
