//! `tamis generate-docs DIR` (hidden): the man pages and completions of tamis, written from
//! the clap definitions of this very binary, so that they list the commands and options
//! `--help` lists. The work is `tamis_clidoc`'s; packaging (scripts/build-deb.sh) calls it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, CommandFactory};

#[derive(Debug, Args)]
pub(crate) struct GenerateDocsArgs {
    /// Write man/man1/*.1 and completions/{bash,zsh,fish}/* beneath this directory.
    dir: PathBuf,
}

pub(crate) fn run<C: CommandFactory>(args: &GenerateDocsArgs) -> Result<ExitCode> {
    let written = tamis_clidoc::write_all(&C::command(), &args.dir, source_date()?.as_deref())?;
    for path in written {
        note!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The date of the pages' footers: `SOURCE_DATE_EPOCH`'s day, or none (never the clock's).
pub(crate) fn source_date() -> Result<Option<String>> {
    #[allow(clippy::disallowed_methods, reason = "the binary is where configuration is read")]
    let Ok(value) = std::env::var("SOURCE_DATE_EPOCH") else { return Ok(None) };
    let secs: i64 =
        value.trim().parse().with_context(|| format!("SOURCE_DATE_EPOCH={value:?} is not a number of seconds"))?;
    Ok(Some(tamis_clidoc::date_of_epoch(secs)))
}
