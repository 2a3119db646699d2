//! `tamis initramfs FILE…`: the initramfs stage on files named on the command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Args;
use tamis_core::{Context, Mode, Report, Root};
use tamis_cpio::{Initramfs, InitramfsOptions, TimePolicy};
use tamis_pipeline::Outcome;

use crate::{EpochArgs, RunArgs, epoch, output, setup_threads};

#[derive(Debug, Args)]
pub struct InitramfsArgs {
    /// Give every member the epoch as its time, older ones too (default: only later ones).
    #[arg(long)]
    set: bool,
    /// Give every member owner and group 0.
    #[arg(long)]
    root_owner: bool,
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
    let epoch = epoch(&args.epoch)?;
    setup_threads(&args.run)?;
    let times = if args.set { TimePolicy::Set } else { TimePolicy::Clamp };
    let stage = Initramfs::new(InitramfsOptions::new(times).with_root_owner(args.root_owner));
    let mode = if args.run.check { Mode::Check } else { Mode::Apply };
    let cx = Context::new(epoch, mode);

    // Each file is handled inside the directory that holds it, as a root of its own.
    let mut by_dir: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for file in &args.files {
        let absolute = std::path::absolute(file).with_context(|| format!("{}: no such path", file.display()))?;
        let dir = absolute.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
        let name = absolute.file_name().with_context(|| format!("{}: not a file name", file.display()))?;
        by_dir.entry(dir).or_default().push(PathBuf::from(name));
    }
    let started = std::time::Instant::now();
    let mut merged = Report::new(Initramfs::NAME, mode);
    let mut leftovers = Report::new(tamis_core::StaleTemporaries::NAME, mode);
    for (dir, names) in &by_dir {
        let root = Root::open(dir)?;
        // What an interrupted run left beside these files.
        let left = tamis_core::StaleTemporaries.run_in(&root, Path::new(""), &cx)?;
        leftovers.examined += left.examined;
        leftovers.changes.extend(left.changes.into_iter().map(|mut c| {
            c.path = dir.join(&c.path);
            c
        }));
        leftovers.problems.extend(left.problems.into_iter().map(|mut p| {
            p.path = dir.join(&p.path);
            p
        }));
        let names: Vec<&Path> = names.iter().map(PathBuf::as_path).collect();
        let report = stage.run_on(&root, &names, &cx)?;
        merged.examined += report.examined;
        merged.changes.extend(report.changes.into_iter().map(|mut c| {
            c.path = dir.join(&c.path);
            c
        }));
        merged.problems.extend(report.problems.into_iter().map(|mut p| {
            p.reason =
                p.reason.replacen(&tamis_core::display_path(&p.path), &dir.join(&p.path).display().to_string(), 1);
            p.path = dir.join(&p.path);
            p
        }));
    }
    merged.sort();
    let mut stages = if leftovers.is_clean() { Vec::new() } else { vec![leftovers] };
    stages.push(merged);
    let outcome = Outcome { profile: Initramfs::NAME.into(), epoch, mode, stages };
    let shown = if args.files.len() == 1 {
        args.files[0].clone()
    } else {
        PathBuf::from(format!("{} files", args.files.len()))
    };
    output::finish(&args.run, &shown, &outcome, started.elapsed())
}
