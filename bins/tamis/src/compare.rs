//! `tamis manifest` and `tamis diff`: the manifest of a tree, and two trees (or manifests)
//! compared, grouped and explained. The work is in `tamis-manifest`; this prints it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Args;
use tamis_manifest::{Cause, Comparison, Group, input};

use crate::args::{LimitArgs, OutputArgs, QuietArgs, ThreadsArgs};
use crate::exit;

const DIFF_EXIT_CODES: &str = exit_help!("0", "1", "2", "3"; "\
0 means identical, 1 different. An entry that cannot be read on either side (3) is listed on
stderr: with no difference found elsewhere, the inputs cannot be said identical.");

const MANIFEST_EXIT_CODES: &str = exit_help!("0", "2", "3"; "\
An entry that cannot be read (3) is listed on stderr and missing from the manifest.");

/// Arguments of `tamis manifest`.
#[derive(Debug, Args)]
#[command(after_help = MANIFEST_EXIT_CODES)]
pub struct ManifestArgs {
    /// Write the manifest to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    threads: ThreadsArgs,
    #[command(flatten)]
    quiet: QuietArgs,
    /// The tree (a directory), or a manifest file to rewrite in the canonical order.
    root: PathBuf,
}

/// Arguments of `tamis diff`.
#[derive(Debug, Args)]
#[command(after_help = DIFF_EXIT_CODES)]
pub struct DiffArgs {
    #[command(flatten)]
    output: OutputArgs,
    /// Name the cause of each difference and the tamis stage that removes it (reads the bytes
    /// of both sides of each content difference).
    #[arg(long)]
    explain: bool,
    #[command(flatten)]
    limit: LimitArgs,
    #[command(flatten)]
    threads: ThreadsArgs,
    #[command(flatten)]
    quiet: QuietArgs,
    /// The first tree: a directory, an ISO 9660 image or a manifest file (`tamis manifest`).
    first: PathBuf,
    /// The second tree: a directory, an ISO 9660 image or a manifest file.
    second: PathBuf,
}

/// `tamis manifest`: JSON Lines, a header line then one entry per line.
pub fn manifest(args: &ManifestArgs) -> Result<ExitCode> {
    args.threads.setup()?;
    let manifest = input::open(&args.root)?.manifest()?;
    let mut bytes = Vec::new();
    manifest.write_json_lines(&mut bytes).context("cannot serialise the manifest")?;
    match &args.output {
        Some(file) => {
            crate::output::write_file(file, &bytes, "manifest")
                .with_context(|| format!("{}: cannot write the manifest", file.display()))?;
        }
        None => std::io::stdout().lock().write_all(&bytes).context("cannot write the manifest to standard output")?,
    }
    let problems = manifest.problems.iter().map(|p| named(&tamis_core::display_path(&p.path), &p.reason));
    unreadable(&args.root, &args.quiet, &problems.collect::<Vec<_>>(), None);
    Ok(ExitCode::from(exit::status(false, manifest.problems.len())))
}

/// `tamis diff`.
pub fn diff(args: &DiffArgs) -> Result<ExitCode> {
    args.threads.setup()?;
    let (first, second) = (input::open(&args.first)?, input::open(&args.second)?);
    let comparison = Comparison::of(first.as_ref(), second.as_ref(), args.explain)?;
    args.output.write(&comparison)?;
    if !args.output.to_stdout() {
        let (a, b) = (args.first.display().to_string(), args.second.display().to_string());
        let mut out = String::new();
        summary(&mut out, &a, &b, &comparison, args.limit.limit, "");
        match std::io::stdout().lock().write_all(out.as_bytes()) {
            // `tamis diff A B | head`: the reader has seen enough; the exit status still answers.
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                return Err(e).context("cannot write to standard output");
            }
            _ => {}
        }
    }
    let problems = comparison.problems.iter().map(|p| {
        // Tagged `a:/path` or `b:/path` by the comparison: name the input instead.
        let tagged = tamis_core::display_path(&p.path);
        let (input, path) = match tagged.strip_prefix("/a:") {
            Some(path) => (&args.first, path),
            None => (&args.second, tagged.strip_prefix("/b:").unwrap_or(&tagged)),
        };
        format!("cannot read in {}: {}", input.display(), named(path, &p.reason))
    });
    unreadable(&args.first, &args.quiet, &problems.collect::<Vec<_>>(), args.output.json.as_deref());
    let code = exit::status(!comparison.differences.is_empty(), comparison.problems.len());
    Ok(ExitCode::from(code))
}

/// A problem's reason with its path in front, unless the reason already starts with it (as
/// the errors of tamis' libraries do).
fn named(path: &str, reason: &str) -> String {
    if reason.strip_prefix(path).is_some_and(|rest| rest.starts_with(':')) {
        reason.to_owned()
    } else {
        format!("{path}: {reason}")
    }
}

/// Entries that could not be read: each on stderr, or with `--quiet` one line saying how many.
fn unreadable(input: &std::path::Path, quiet: &QuietArgs, lines: &[String], json: Option<&std::path::Path>) {
    if !quiet.quiet {
        for line in lines {
            note!("tamis: {line}");
        }
    } else if let Some(line) = crate::output::quiet_problems(input, lines.len(), json) {
        note!("{line}");
    }
}

/// Counts per group, then the first `list` paths of each group (with their causes); an image
/// compared inside is followed by its own summary, indented.
fn summary(out: &mut String, a: &str, b: &str, comparison: &Comparison, list: usize, indent: &str) {
    if comparison.differences.is_empty() {
        let _ = writeln!(out, "{indent}{a} and {b} are identical ({} entries)", comparison.entries[0]);
        return;
    }
    let counts: Vec<String> = Group::ALL
        .iter()
        .filter_map(|g| comparison.counts.get(g.name()).filter(|n| **n > 0).map(|n| format!("{n} {}", g.name())))
        .collect();
    let _ = writeln!(
        out,
        "{indent}{a} and {b} differ: {} ({} and {} entries)",
        counts.join(", "),
        comparison.entries[0],
        comparison.entries[1]
    );
    let width = comparison.differences.iter().take(200).map(|d| d.path.len()).max().unwrap_or(0).min(60);
    for group in Group::ALL {
        let items: Vec<_> = comparison.differences.iter().filter(|d| d.group == group).collect();
        if items.is_empty() {
            continue;
        }
        let title = match group {
            Group::OnlyInFirst => format!("only in {a}"),
            Group::OnlyInSecond => format!("only in {b}"),
            other => other.name().to_owned(),
        };
        let _ = writeln!(out, "{indent}{title} ({}):", items.len());
        if group == Group::MtimeOnly {
            let stages: std::collections::BTreeSet<_> =
                items.iter().map(|d| d.explanation.as_ref().and_then(|e| e.stage)).collect();
            if let [Some(stage)] = stages.into_iter().collect::<Vec<_>>()[..] {
                let _ = writeln!(out, "{indent}  all removed by stage {stage}");
            }
        }
        for d in items.iter().take(list) {
            let mut line = format!("{indent}  {:width$}", d.path);
            match &d.explanation {
                Some(explanation) if group != Group::MtimeOnly => {
                    let stage = match explanation.stage {
                        Some(s) => format!("stage {s}"),
                        None if explanation.cause == Cause::NestedImage => "image".to_owned(),
                        None if explanation.cause == Cause::DiskImage => "tamis disk normalize".to_owned(),
                        None => "unknown".to_owned(),
                    };
                    let _ = write!(line, "  {stage}: {}", explanation.detail);
                }
                _ if group == Group::Metadata => {
                    let _ = write!(line, "  {}", d.fields.join(", "));
                }
                _ => {}
            }
            let _ = writeln!(out, "{}", line.trim_end());
            if let Some(inside) = &d.inside {
                let deeper = format!("{indent}    ");
                summary(out, &format!("{a}:{}", d.path), &format!("{b}:{}", d.path), inside, list, &deeper);
            }
        }
        if items.len() > list {
            let _ = writeln!(out, "{indent}  ... and {} more (--json lists all)", items.len() - list);
        }
    }
}
