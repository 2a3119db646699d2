//! `dh_tamis`: the debhelper command. It reads debhelper's options and environment, asks
//! `tamis-debhelper` to normalize each package's staged tree, and prints what it did; it holds
//! no normalization logic of its own.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "the binary is where output is printed")]
#![allow(clippy::doc_markdown, reason = "doc comments here are --help text, read without Markdown")]
#![allow(
    rustdoc::invalid_html_tags,
    reason = "doc comments here are --help text: debian/<package>/ is what a user types"
)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{CommandFactory, Parser};
use tamis_core::{Context, Epoch, Mode, Timestamp};
use tamis_debhelper::Exclusions;

const AFTER_HELP: &str = "\
When to use it:
  dh_strip_nondeterminism normalizes the same kinds of files (gzip, zip/jar, ar, png, .mo,
  javadoc, .pyc) with Perl handlers that read each file whole. dh_tamis does it with tamis'
  handlers: recognised by content whatever the name, in parallel, never following a link out of
  debian/<package>/, each file rewritten atomically and left byte for byte as it was when it
  cannot be read (it is then named in a warning; the build goes on). It also handles U-Boot
  images and cpio archives, which dh_strip_nondeterminism does not.

  Instead of dh_strip_nondeterminism: add dh-sequence-tamis to Build-Depends and override
  dh_strip_nondeterminism to do nothing (override_dh_strip_nondeterminism: with no command).
  After it: keep both; the add-on runs dh_tamis right after dh_strip_nondeterminism (before
  dh_compress, whose gzip -n output is already reproducible), so tamis sees the files as
  dh_strip_nondeterminism left them and normalizes what it left (more formats, later times).
  A file tamis finds already normal is not rewritten.

  Use the formats tamis normalizes, not a package's own fix, only for files made at build
  time: a file whose embedded times come from upstream keeps them if they are older than
  SOURCE_DATE_EPOCH (they are clamped, as dh_strip_nondeterminism clamps).

Environment:
  SOURCE_DATE_EPOCH  the date embedded times are clamped to; dpkg-buildpackage exports it
                     (from debian/changelog). When unset, the date of debian/changelog's
                     latest entry (dpkg-parsechangelog -STimestamp).
  DH_VERBOSE         when set (not 0), every changed file is named.
  DH_NO_ACT          when set (not 0), nothing is changed: what would change is named.
  DH_OPTIONS, DH_INTERNAL_OPTIONS  debhelper's, read as debhelper reads them.

Exit status: 0 done (files left alone are warnings), 2 error (no package list, no epoch).";

/// Normalize the files a package build staged in debian/<package>/ with tamis.
///
/// dh_tamis removes the times, names and owners that build tools embed inside files (gzip
/// headers, zip and jar members, ar archives, PNG tIME chunks, gettext .mo dates, .pyc source
/// times, javadoc dates, U-Boot images, cpio archives), recognising each file by its content,
/// so that two builds of a package at different times give byte-identical .deb files. It is
/// run by dh when the package Build-Depends on dh-sequence-tamis (or uses dh $@ --with tamis),
/// after dh_strip_nondeterminism.
#[allow(clippy::struct_excessive_bools, reason = "debhelper's flags, one field each")]
#[derive(Debug, Parser, Default)]
#[command(name = "dh_tamis", version, after_long_help = AFTER_HELP)]
struct Args {
    /// Act on this package (repeatable).
    #[arg(short = 'p', long = "package", value_name = "PACKAGE")]
    package: Vec<String>,
    /// Do not act on this package (repeatable).
    #[arg(short = 'N', long = "no-package", value_name = "PACKAGE")]
    no_package: Vec<String>,
    /// Act on the architecture-dependent packages.
    #[arg(short = 'a', long = "arch", visible_alias = "same-arch", short_alias = 's')]
    arch: bool,
    /// Act on the architecture-independent packages.
    #[arg(short = 'i', long = "indep")]
    indep: bool,
    /// Leave alone the files whose path (debian/<package>/...) contains ITEM (repeatable).
    #[arg(short = 'X', long = "exclude", value_name = "ITEM")]
    exclude: Vec<String>,
    /// Name every file changed (also: DH_VERBOSE).
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// Change nothing; name what would change (also: DH_NO_ACT).
    #[arg(long = "no-act")]
    no_act: bool,
    /// An option dh passes to every command; used if dh_tamis knows it, ignored otherwise.
    #[arg(short = 'O', value_name = "OPTION", allow_hyphen_values = true)]
    dh_option: Vec<String>,
    /// Write dh_tamis' man page beneath DIR/man/man1 (for packaging).
    #[arg(long, hide = true, value_name = "DIR")]
    generate_docs: Option<PathBuf>,
}

impl Args {
    /// Takes the options of `words` that change what dh_tamis does to files (`-X`, `-v`,
    /// `--no-act`), as debhelper takes them from `-O`, DH_OPTIONS and DH_INTERNAL_OPTIONS:
    /// options it does not know are ignored.
    fn merge_from(&mut self, words: &[String]) {
        let parse = |words: &[String]| {
            Self::try_parse_from(std::iter::once("dh_tamis").chain(words.iter().map(String::as_str)))
        };
        let parsed: Vec<Self> = match parse(words) {
            Ok(all) => vec![all],
            Err(_) => words.iter().filter_map(|w| parse(std::slice::from_ref(w)).ok()).collect(),
        };
        for other in parsed {
            self.exclude.extend(other.exclude);
            self.verbose |= other.verbose;
            self.no_act |= other.no_act;
        }
    }

    /// The package-selection options, for dh_listpackages.
    fn selection(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = Vec::new();
        out.extend(self.package.iter().map(|p| format!("-p{p}").into()));
        out.extend(self.no_package.iter().map(|p| format!("-N{p}").into()));
        if self.arch {
            out.push("-a".into());
        }
        if self.indep {
            out.push("-i".into());
        }
        out
    }
}

#[allow(clippy::disallowed_methods, reason = "the binary is where configuration is read")]
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// debhelper's truth of an environment variable: set, and neither empty nor 0.
fn env_true(name: &str) -> bool {
    env(name).is_some_and(|v| !v.is_empty() && v != "0")
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    match run(&mut args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("dh_tamis: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &mut Args) -> Result<ExitCode> {
    if let Some(dir) = &args.generate_docs {
        let date = env("SOURCE_DATE_EPOCH").and_then(|s| s.trim().parse().ok()).map(tamis_clidoc::date_of_epoch);
        let pages = tamis_clidoc::man_pages(&Args::command(), date.as_deref());
        for page in pages {
            let path = dir.join("man/man1").join(&page.name);
            std::fs::create_dir_all(dir.join("man/man1"))?;
            std::fs::write(&path, &page.bytes).with_context(|| format!("{}: cannot write", path.display()))?;
            eprintln!("{}", path.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    for words in [
        args.dh_option.clone(),
        env("DH_OPTIONS").map(|s| s.split_whitespace().map(str::to_owned).collect()).unwrap_or_default(),
        env("DH_INTERNAL_OPTIONS").map(|s| s.split('\x1e').map(str::to_owned).collect()).unwrap_or_default(),
    ] {
        args.merge_from(&words);
    }
    args.verbose |= env_true("DH_VERBOSE");
    args.no_act |= env_true("DH_NO_ACT");
    let epoch = epoch()?;
    let mode = if args.no_act { Mode::Check } else { Mode::Apply };
    let cx = Context::new(epoch, mode);
    let exclusions = Exclusions::new(args.exclude.clone());
    let packages = tamis_debhelper::packages(Path::new("."), &args.selection())?;
    for package in packages {
        let tree = PathBuf::from("debian").join(&package);
        if args.verbose {
            eprintln!("\tdh_tamis: normalizing {}", tree.display());
        }
        let report = tamis_debhelper::normalize_tree(&tree, &exclusions, &cx)?;
        let shown = |p: &Path| tree.join(p).display().to_string();
        if args.verbose || args.no_act {
            let verb = if args.no_act { "would rewrite" } else { "rewrote" };
            for change in &report.changes {
                eprintln!("\tdh_tamis: {verb} {}: {}", shown(&change.path), change.reason);
            }
            for skipped in &report.skipped {
                eprintln!("\tdh_tamis: left {} as it is: {}", shown(&skipped.path), skipped.reason);
            }
        }
        for problem in &report.problems {
            eprintln!("dh_tamis: warning: {}: {}", shown(&problem.path), problem.reason);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// SOURCE_DATE_EPOCH, or the date of debian/changelog's latest entry, as debhelper's
/// get_source_date_epoch decides. A date after the current clock is accepted: it is the build's.
fn epoch() -> Result<Epoch> {
    let value = if let Some(v) = env("SOURCE_DATE_EPOCH") {
        v
    } else {
        let out = std::process::Command::new("dpkg-parsechangelog")
            .arg("-STimestamp")
            .output()
            .context("SOURCE_DATE_EPOCH is unset and dpkg-parsechangelog cannot be run")?;
        anyhow::ensure!(out.status.success(), "SOURCE_DATE_EPOCH is unset and debian/changelog has no date");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    Ok(Epoch::resolve(Some(&value), None, Timestamp::from_secs(0), true)?)
}
