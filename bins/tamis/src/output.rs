//! What the binary prints: a summary for people on stderr, the whole report as JSON where asked,
//! and a progress bar while a stage works on a terminal.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tamis_core::{Mode, Progress, display_path};
use tamis_pipeline::Outcome;

use crate::args::{OutputArgs, QuietArgs, RunArgs};

/// How many changes a check lists on stderr before pointing at `--json`.
const LISTED_CHANGES: usize = 20;
/// How many problems are listed on stderr.
const LISTED_PROBLEMS: usize = 50;

/// A progress bar on stderr, drawn only when stderr is a terminal and not `--quiet`.
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new(quiet: bool) -> Self {
        let target = if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta})")
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        Self { bar }
    }
}

impl Progress for Bar {
    fn start(&self, stage: &str, total: u64) {
        self.bar.reset();
        self.bar.set_length(total);
        self.bar.set_message(stage.to_owned());
    }

    fn advance(&self, done: u64) {
        self.bar.inc(done);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Prints the summary, writes the JSON report, and chooses the exit status.
pub fn finish(
    output: &OutputArgs,
    quiet: &QuietArgs,
    root: &Path,
    outcome: &Outcome,
    elapsed: Duration,
) -> Result<ExitCode> {
    output.write(outcome)?;
    if !quiet.quiet {
        note_text!(summary(root, outcome, elapsed));
    } else if let Some(line) = quiet_problems(root, outcome.problem_count(), output.json.as_deref()) {
        note_text!(format!("{line}\n"));
    }
    let changes = outcome.mode == Mode::Check && outcome.change_count() > 0;
    Ok(ExitCode::from(crate::exit::status(changes, outcome.problem_count())))
}

/// Runs `each` on every image in turn (one report each, as the stages of a profile) and
/// finishes as [`finish`] does: the commands that patch image files (`iso normalize`,
/// `disk normalize`) share it. An image that fails (corrupt, unreadable; left untouched) is
/// named on stderr at once and, as a problem of its own report, in the summary and the JSON;
/// the next images are still done, and the exit status is then [`crate::exit::ERROR`].
pub fn finish_images(
    run: &RunArgs,
    profile: &str,
    epoch: tamis_core::Epoch,
    images: &[PathBuf],
    mut each: impl FnMut(&Path) -> Result<tamis_core::Report>,
) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let mut failed = false;
    let stages = images
        .iter()
        .map(|image| {
            each(image).unwrap_or_else(|error| {
                failed = true;
                note!("tamis: error: {error:#}");
                let mut report = tamis_core::Report::new(profile, run.mode());
                report.stage = image.display().to_string();
                report.problems.push(tamis_core::Problem { path: image.clone(), reason: format!("{error:#}") });
                report
            })
        })
        .collect();
    let outcome = Outcome { profile: profile.into(), epoch, mode: run.mode(), stages };
    let shown = match images {
        [one] => one.clone(),
        many => PathBuf::from(format!("{} images", many.len())),
    };
    let status = finish(&run.output, &run.quiet, &shown, &outcome, started.elapsed())?;
    Ok(if failed { ExitCode::from(crate::exit::ERROR) } else { status })
}

/// What `--quiet` still says when entries were left alone (exit 3): how many, and where they are
/// listed. Hiding them entirely would leave a script with an exit status and nothing to read.
pub fn quiet_problems(root: &Path, problems: usize, json: Option<&Path>) -> Option<String> {
    if problems == 0 {
        return None;
    }
    let listed = match json {
        Some(file) if file == Path::new("-") => "listed in the JSON report on standard output".to_owned(),
        Some(file) => format!("listed in {}", file.display()),
        None => "run without --quiet, or with --json FILE, to list them".to_owned(),
    };
    let noun = if problems == 1 { "problem" } else { "problems" };
    Some(format!("tamis: {}: {problems} {noun} (entries left alone); {listed}", root.display()))
}

/// Writes `bytes` to `file` atomically: a temporary file beside it (`.tamis-LABEL-….tmp`),
/// renamed onto it once complete, so that a full disk or an interruption leaves the previous
/// file as it was. A temporary left by a killed run is named first.
pub fn write_file(file: &Path, bytes: &[u8], label: &str) -> std::io::Result<()> {
    crate::interrupt::warn_stale_beside(file, label);
    tamis_core::temp::write_atomic(file, bytes, label)
}

/// The summary for people. Changes are counted by stage, action and reason; a check also lists
/// the first changes, and every run lists its problems.
pub fn summary(root: &Path, outcome: &Outcome, elapsed: Duration) -> String {
    let check = outcome.mode == Mode::Check;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "tamis: {}: profile {}, epoch {}{}",
        root.display(),
        outcome.profile,
        outcome.epoch,
        if check { ", check only" } else { "" }
    );
    let width = outcome.stages.iter().map(|r| r.stage.len()).max().unwrap_or(0);
    for report in &outcome.stages {
        let mut groups: BTreeMap<(String, &str), usize> = BTreeMap::new();
        for change in &report.changes {
            let action = serde_json::to_value(change.action).ok().and_then(|v| v.as_str().map(str::to_owned));
            *groups.entry((action.unwrap_or_default(), change.reason.as_str())).or_default() += 1;
        }
        let verb = if check { "would change" } else { "changed" };
        let _ = writeln!(
            out,
            "  {:width$}  {} of {} entries {verb}",
            report.stage,
            report.changed_entries(),
            report.examined
        );
        for ((action, reason), count) in &groups {
            let _ = writeln!(out, "  {:width$}    {count} {action}: {reason}", "");
        }
        // Temporaries left by an interrupted run are named even when they were removed.
        if check || report.stage == tamis_core::StaleTemporaries::NAME {
            let lines = report.changes.iter().map(|change| {
                let values = match (&change.before, &change.after) {
                    (Some(b), Some(a)) => format!(" {b} -> {a}"),
                    _ => String::new(),
                };
                format!("{}{values}", display_path(&change.path))
            });
            listed(&mut out, width, lines, LISTED_CHANGES, "more (--json FILE lists all)");
        }
        let problems = report.problems.iter().map(|p| format!("problem: {}", p.reason));
        listed(&mut out, width, problems, LISTED_PROBLEMS, "more problems");
        let skipped = report.skipped.iter().map(|s| format!("left as it is: {}", s.reason));
        listed(&mut out, width, skipped, LISTED_PROBLEMS, "more left as they are (--json FILE lists all)");
    }
    let (changes, problems) = (outcome.change_count(), outcome.problem_count());
    let verdict = match (check, changes) {
        (true, 0) => "nothing would change".to_owned(),
        (true, n) => format!("{n} changes needed"),
        (false, n) => format!("{n} changes"),
    };
    let _ = writeln!(out, "{verdict}, {problems} problems, in {:.2} s", elapsed.as_secs_f64());
    out
}

/// Writes the first `most` of `lines` under a report's line, then how many more there are.
fn listed(out: &mut String, width: usize, lines: impl ExactSizeIterator<Item = String>, most: usize, more: &str) {
    let total = lines.len();
    for line in lines.take(most) {
        let _ = writeln!(out, "  {:width$}    {line}", "");
    }
    if total > most {
        let _ = writeln!(out, "  {:width$}    ... and {} {more}", "", total - most);
    }
}
