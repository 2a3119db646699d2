//! `tamis manifest` and `tamis diff`: the manifest of a tree, and two trees (or manifests)
//! compared, grouped and explained. The work is in `tamis-manifest`; this prints it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Args;
use tamis_manifest::{Cause, Comparison, Group, input};

const DIFF_EXIT_CODES: &str = "\
Exit status:
  0  identical
  1  different
  2  error: an input cannot be read (or some of its entries cannot)";

const MANIFEST_EXIT_CODES: &str = "\
Exit status:
  0  done
  2  error: the input cannot be read
  3  done, but some entries could not be read (listed; they are missing from the manifest)";

/// Arguments of `tamis manifest`.
#[derive(Debug, Args)]
#[command(after_help = MANIFEST_EXIT_CODES)]
pub struct ManifestArgs {
    /// Write the manifest to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Worker threads (default: one per CPU). The manifest does not depend on it.
    #[arg(long, short = 'j', value_name = "N")]
    threads: Option<usize>,
    /// The tree (a directory), or a manifest file to rewrite in the canonical order.
    root: PathBuf,
}

/// Arguments of `tamis diff`.
#[derive(Debug, Args)]
#[command(after_help = DIFF_EXIT_CODES)]
pub struct DiffArgs {
    /// Print every difference as JSON on standard output.
    #[arg(long)]
    json: bool,
    /// Name the cause of each difference and the tamis stage that removes it (reads the bytes
    /// of both sides of each content difference).
    #[arg(long)]
    explain: bool,
    /// How many paths to list per group in the summary (--json lists all).
    #[arg(long, default_value_t = 10, value_name = "N")]
    list: usize,
    /// Worker threads (default: one per CPU). The output does not depend on it.
    #[arg(long, short = 'j', value_name = "N")]
    threads: Option<usize>,
    /// The first tree: a directory, an ISO 9660 image or a manifest file (`tamis manifest`).
    first: PathBuf,
    /// The second tree: a directory, an ISO 9660 image or a manifest file.
    second: PathBuf,
}

/// `tamis manifest`: JSON Lines, a header line then one entry per line.
pub fn manifest(args: &ManifestArgs) -> Result<ExitCode> {
    crate::start_threads(args.threads)?;
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
    for problem in &manifest.problems {
        note!("tamis: {}: {}", tamis_core::display_path(&problem.path), problem.reason);
    }
    Ok(ExitCode::from(if manifest.problems.is_empty() { 0 } else { 3 }))
}

/// `tamis diff`.
pub fn diff(args: &DiffArgs) -> Result<ExitCode> {
    crate::start_threads(args.threads)?;
    let (first, second) = (input::open(&args.first)?, input::open(&args.second)?);
    let comparison = Comparison::of(first.as_ref(), second.as_ref(), args.explain)?;
    let text = if args.json {
        let mut json = serde_json::to_vec_pretty(&comparison)?;
        json.push(b'\n');
        json
    } else {
        let (a, b) = (args.first.display().to_string(), args.second.display().to_string());
        let mut out = String::new();
        summary(&mut out, &a, &b, &comparison, args.list, "");
        out.into_bytes()
    };
    match std::io::stdout().lock().write_all(&text) {
        // `tamis diff A B | head`: the reader has seen enough; the exit status still answers.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(e).context("cannot write to standard output");
        }
        _ => {}
    }
    for problem in &comparison.problems {
        note!("tamis: cannot read {}: {}", problem.path.display(), problem.reason);
    }
    Ok(ExitCode::from(if comparison.problems.is_empty() { u8::from(!comparison.differences.is_empty()) } else { 2 }))
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
