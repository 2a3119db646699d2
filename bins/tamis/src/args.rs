//! The argument groups shared by the commands, each defined once with one meaning and
//! flattened (`#[command(flatten)]`) into every command it applies to. Which command takes
//! which group is in `docs/ARCHITECTURE.md` (*CLI conventions*); the help walk in
//! `cli_help.rs` checks it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Args;
use tamis_core::{Epoch, Mode};

/// `--epoch SECONDS` (alias `--source-date-epoch`), falling back on `SOURCE_DATE_EPOCH`.
#[derive(Debug, Args)]
pub struct EpochArgs {
    /// The date every output is derived from, in seconds since 1970-01-01 UTC, at most
    /// 4294967295 (2106-02-07, the last second gzip, cpio and squashfs times can hold).
    /// Defaults to the SOURCE_DATE_EPOCH environment variable.
    #[arg(long, visible_alias = "source-date-epoch", value_name = "SECONDS")]
    pub epoch: Option<String>,
    /// Accept an epoch later than the current time.
    #[arg(long)]
    pub allow_future_epoch: bool,
}

impl EpochArgs {
    /// The epoch: `--epoch`, else `SOURCE_DATE_EPOCH`; an error without either.
    pub fn resolve(&self) -> Result<Epoch> {
        Ok(Epoch::resolve(
            self.epoch.as_deref(),
            source_date_epoch().as_deref(),
            crate::now(),
            self.allow_future_epoch,
        )?)
    }

    /// The epoch when one is given (`--epoch`, else `SOURCE_DATE_EPOCH`), for a command that
    /// has a default of its own.
    pub fn given(&self) -> Result<Option<Epoch>> {
        if self.epoch.is_none() && source_date_epoch().is_none() {
            return Ok(None);
        }
        self.resolve().map(Some)
    }
}

fn source_date_epoch() -> Option<String> {
    #[allow(clippy::disallowed_methods, reason = "the binary is where configuration is read")]
    std::env::var("SOURCE_DATE_EPOCH").ok()
}

/// `--json FILE`: the whole result as JSON, to FILE or with `-` to standard output.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Write the full result as JSON to FILE ('-' for standard output).
    #[arg(long, value_name = "FILE", value_parser = report_path())]
    pub json: Option<PathBuf>,
}

/// `--json FILE` checked as the command line is read: `-`, or a file [`OutputFile`] can write
/// (its directory exists; not a directory, device node or pipe). Checked at the end only, a
/// report that cannot be written would be lost after the run had changed the tree.
///
/// [`OutputFile`]: tamis_core::temp::OutputFile
fn report_path() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser as _;
    clap::builder::OsStringValueParser::new().try_map(|s| {
        let path = PathBuf::from(s);
        if path.as_os_str() != "-" {
            tamis_core::temp::check_output(&path).map_err(|e| format!("cannot write the report there: {e}"))?;
        }
        Ok::<_, String>(path)
    })
}

impl OutputArgs {
    /// Whether the JSON goes to standard output (which then carries nothing else).
    pub fn to_stdout(&self) -> bool {
        self.json.as_deref() == Some(Path::new("-"))
    }

    /// Writes `value` where `--json` says (nothing without it). On standard output a reader
    /// that went away (`--json - | head`) is not an error: the exit status still answers.
    pub fn write(&self, value: &impl serde::Serialize) -> Result<()> {
        let Some(file) = &self.json else { return Ok(()) };
        let mut json = serde_json::to_vec_pretty(value)?;
        json.push(b'\n');
        self.write_bytes(file, &json)
    }

    /// Writes JSON Lines (one value per line) where `--json` says.
    pub fn write_lines<T: serde::Serialize>(&self, values: impl IntoIterator<Item = T>) -> Result<()> {
        let Some(file) = &self.json else { return Ok(()) };
        let mut json = Vec::new();
        for value in values {
            serde_json::to_writer(&mut json, &value)?;
            json.push(b'\n');
        }
        self.write_bytes(file, &json)
    }

    fn write_bytes(&self, file: &Path, json: &[u8]) -> Result<()> {
        if self.to_stdout() {
            match std::io::stdout().lock().write_all(json) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.context("cannot write the JSON to standard output"),
            }
        } else {
            crate::output::write_file(file, json, "report")
                .with_context(|| format!("{}: cannot write the report", file.display()))
        }
    }
}

/// `--threads N`.
#[derive(Debug, Args)]
pub struct ThreadsArgs {
    /// Worker threads (default: one per CPU). The result does not depend on it.
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
}

/// The most `--threads` may ask for. Rayon starts every thread of its pool at once: a mistyped
/// `-j 100000` spent more than ten minutes creating threads (13,000 of them, 440 MB) before
/// doing anything, and a larger number never got further.
const MAX_THREADS: usize = 1024;

impl ThreadsArgs {
    /// Starts the worker threads (rayon's global pool) when a number is given.
    pub fn setup(&self) -> Result<()> {
        if let Some(n) = self.threads {
            anyhow::ensure!(n > 0, "--threads must be at least 1");
            anyhow::ensure!(n <= MAX_THREADS, "--threads must be at most {MAX_THREADS} (got {n})");
            rayon::ThreadPoolBuilder::new().num_threads(n).build_global().context("cannot start worker threads")?;
        }
        Ok(())
    }
}

/// `--quiet`.
#[derive(Debug, Args)]
pub struct QuietArgs {
    /// Print nothing on stderr but errors and, when entries were left alone (exit 3), one line
    /// saying how many and where they are listed.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `--check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Write nothing: report what would change, and exit 1 if anything would.
    #[arg(long)]
    pub check: bool,
}

impl CheckArgs {
    /// Check or apply.
    pub fn mode(&self) -> Mode {
        if self.check { Mode::Check } else { Mode::Apply }
    }
}

/// `--all-root`.
#[derive(Debug, Args)]
pub struct OwnerArgs {
    /// Give every entry owner and group 0 (root).
    #[arg(long, alias = "root-owner")]
    pub all_root: bool,
}

/// `--limit N`: how much a summary lists.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// How many paths the summary lists per group (--json FILE lists all).
    #[arg(long, alias = "list", default_value_t = 10, value_name = "N")]
    pub limit: usize,
}

/// What a command that changes files takes: `--check`, `--json FILE`, `--threads N`, `--quiet`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub check: CheckArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub threads: ThreadsArgs,
    #[command(flatten)]
    pub quiet: QuietArgs,
}

impl RunArgs {
    /// Check or apply.
    pub fn mode(&self) -> Mode {
        self.check.mode()
    }
}
