//! Man pages and shell completions of a command, written from its clap definition.
//!
//! A man page written by hand drifts from `--help` the first time an option changes. This crate
//! walks a [`clap::Command`] tree — whatever subcommands and arguments it has today — and writes
//! one man page per command and subcommand (`tamis.1`, `tamis-normalize.1`,
//! `tamis-iso-build.1`…) with `clap_mangen`, and the bash, zsh and fish completions with
//! `clap_complete`. Hidden commands and arguments are left out of both, as `--help` leaves them
//! out.
//!
//! The output is deterministic: the only date in it is the one the caller gives (from
//! `SOURCE_DATE_EPOCH`, see [`date_of_epoch`]), files are written in a fixed order, and the
//! bytes depend on nothing but the command tree and that date.
//!
//! ```
//! let cmd = clap::Command::new("demo").about("A demo").subcommand(clap::Command::new("run").about("Run it"));
//! let pages = tamis_clidoc::man_pages(&cmd, Some("2024-01-01"));
//! let names: Vec<_> = pages.iter().map(|p| p.name.as_str()).collect();
//! assert_eq!(names, ["demo.1", "demo-run.1"]);
//! ```

#![forbid(unsafe_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Command;
use clap_complete::Shell;

/// A failure to write a generated file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Writing the file (or making its directory) failed.
    #[error("{}: cannot write", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// One generated file: its name and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The file name (`tamis-normalize.1`, `_tamis`, `tamis.fish`).
    pub name: String,
    /// Its contents.
    pub bytes: Vec<u8>,
}

/// The man pages (section 1) of `cmd` and of every visible subcommand beneath it, the top
/// command first and then depth first in the order the command lists them. A subcommand's page
/// is named after its path (`tamis-iso-build.1`) and says how it is called (`tamis iso build`);
/// every page ends with a SEE ALSO section naming its parent and its subcommands. `date`
/// (`YYYY-MM-DD`) goes in the page footer; none when `None`.
pub fn man_pages(cmd: &Command, date: Option<&str>) -> Vec<Generated> {
    let mut cmd = cmd.clone();
    // Propagates help and version flags, and bin names, to every subcommand.
    cmd.build();
    let mut pages = Vec::new();
    let name = cmd.get_name().to_owned();
    // Every page's footer names the program and its version ("tamis 0.1.0").
    let source = match cmd.get_version() {
        Some(version) => format!("{name} {version}"),
        None => name.clone(),
    };
    collect_pages(&cmd, &name, None, &source, date, &mut pages);
    pages
}

fn collect_pages(
    cmd: &Command,
    page: &str,
    parent: Option<&str>,
    source: &str,
    date: Option<&str>,
    pages: &mut Vec<Generated>,
) {
    let subs: Vec<&Command> = visible_subcommands(cmd).collect();
    let shown = with_aliases_in_help(cmd.clone().name(page.to_owned()));
    let mut man = clap_mangen::Man::new(shown).section("1").source(source.to_owned());
    if let Some(date) = date {
        man = man.date(date.to_owned());
    }
    let mut bytes = Vec::new();
    man.render(&mut bytes).expect("rendering into a Vec cannot fail");
    let mut see_also: Vec<String> = parent.map(str::to_owned).into_iter().collect();
    see_also.extend(subs.iter().map(|s| format!("{page}-{}", s.get_name())));
    if !see_also.is_empty() {
        bytes.extend_from_slice(b".SH \"SEE ALSO\"\n");
        let last = see_also.len() - 1;
        for (i, name) in see_also.iter().enumerate() {
            let sep = if i == last { "" } else { "," };
            // `\-` keeps the hyphen a hyphen (man-db and groff would make it a minus otherwise).
            let _ = writeln!(bytes, ".BR {} (1){sep}", name.replace('-', "\\-"));
        }
    }
    pages.push(Generated { name: format!("{page}.1"), bytes });
    for sub in subs {
        let sub_page = format!("{page}-{}", sub.get_name());
        collect_pages(sub, &sub_page, Some(page), source, date, pages);
    }
}

/// `clap_mangen` leaves an option's visible aliases out (`--source-date-epoch` for `--epoch`),
/// which `--help` shows: they are added to the option's text as `--help` writes them.
fn with_aliases_in_help(cmd: Command) -> Command {
    cmd.mut_args(|arg| {
        let mut aliases: Vec<String> = Vec::new();
        aliases.extend(arg.get_visible_aliases().unwrap_or_default().iter().map(|a| format!("--{a}")));
        aliases.extend(arg.get_visible_short_aliases().unwrap_or_default().iter().map(|a| format!("-{a}")));
        if aliases.is_empty() {
            return arg;
        }
        let help = arg.get_long_help().or(arg.get_help()).map(ToString::to_string).unwrap_or_default();
        arg.long_help(format!("{help} [aliases: {}]", aliases.join(", ")))
    })
}

fn visible_subcommands(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// The completions of `cmd` for bash, zsh and fish, with the file names each shell looks for
/// (`NAME`, `_NAME`, `NAME.fish`), keyed by the shell's name.
pub fn completions(cmd: &Command) -> Vec<(&'static str, Generated)> {
    let name = cmd.get_name().to_owned();
    let mut built = cmd.clone();
    built.build();
    let cmd = &visible(&built);
    [(Shell::Bash, name.clone()), (Shell::Zsh, format!("_{name}")), (Shell::Fish, format!("{name}.fish"))]
        .into_iter()
        .map(|(shell, file)| {
            let mut bytes = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), name.clone(), &mut bytes);
            let shell_name = match shell {
                Shell::Bash => "bash",
                Shell::Zsh => "zsh",
                _ => "fish",
            };
            (shell_name, Generated { name: file, bytes })
        })
        .collect()
}

/// A copy of the built command `cmd` without its hidden arguments and subcommands, at every
/// level: `clap_complete` offers hidden ones too, which `--help` does not show.
fn visible(cmd: &Command) -> Command {
    let mut copy = Command::new(cmd.get_name().to_owned())
        // The built command lists its help and version flags and help subcommand itself.
        .disable_help_flag(true)
        .disable_version_flag(true)
        .disable_help_subcommand(true)
        .args(cmd.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .subcommands(cmd.get_subcommands().filter(|s| !s.is_hide_set()).map(visible))
        .visible_aliases(cmd.get_visible_aliases().map(str::to_owned).collect::<Vec<_>>());
    if let Some(about) = cmd.get_about() {
        copy = copy.about(about.clone());
    }
    if let Some(version) = cmd.get_version() {
        copy = copy.version(version.to_owned());
    }
    copy
}

/// Writes the man pages into `DIR/man/man1/` and the completions into
/// `DIR/completions/{bash,zsh,fish}/`, and returns the paths written, in that order.
pub fn write_all(cmd: &Command, dir: &Path, date: Option<&str>) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    let man_dir = dir.join("man").join("man1");
    for page in man_pages(cmd, date) {
        written.push(write(&man_dir, &page)?);
    }
    for (shell, file) in completions(cmd) {
        written.push(write(&dir.join("completions").join(shell), &file)?);
    }
    Ok(written)
}

fn write(dir: &Path, file: &Generated) -> Result<PathBuf, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write { path: dir.to_owned(), source })?;
    let path = dir.join(&file.name);
    std::fs::write(&path, &file.bytes).map_err(|source| Error::Write { path: path.clone(), source })?;
    Ok(path)
}

/// The UTC date `YYYY-MM-DD` of `epoch` seconds since 1970-01-01 (the proleptic Gregorian
/// calendar), for a man page footer from `SOURCE_DATE_EPOCH`.
pub fn date_of_epoch(epoch: i64) -> String {
    let (year, month, day) = tamis_core::civil_from_days(epoch.div_euclid(86_400));
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_of_epochs() {
        assert_eq!(date_of_epoch(0), "1970-01-01");
        assert_eq!(date_of_epoch(951_782_400), "2000-02-29");
        assert_eq!(date_of_epoch(1_700_000_000), "2023-11-14");
        assert_eq!(date_of_epoch(4_294_967_295), "2106-02-07");
        assert_eq!(date_of_epoch(-1), "1969-12-31");
    }

    fn tree() -> Command {
        Command::new("t")
            .about("Top")
            .subcommand(
                Command::new("iso")
                    .about("Images")
                    .subcommand(Command::new("build").about("Build one").arg(clap::arg!(--fast "Quickly"))),
            )
            .subcommand(Command::new("secret").hide(true))
    }

    #[test]
    fn one_page_per_visible_command_with_see_also() {
        let pages = man_pages(&tree(), Some("2024-05-06"));
        let names: Vec<_> = pages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["t.1", "t-iso.1", "t-iso-build.1"]);
        let build = String::from_utf8(pages[2].bytes.clone()).unwrap();
        assert!(build.contains("2024-05-06"), "{build}");
        assert!(build.contains("\\-\\-fast"), "{build}");
        assert!(build.contains(".BR t\\-iso (1)"), "{build}");
        let top = String::from_utf8(pages[0].bytes.clone()).unwrap();
        assert!(!top.contains("secret"), "hidden commands stay hidden: {top}");
    }

    #[test]
    fn output_depends_only_on_the_tree_and_date() {
        let a = man_pages(&tree(), None);
        assert_eq!(a, man_pages(&tree(), None));
        assert!(a.iter().all(|p| !String::from_utf8_lossy(&p.bytes).contains("20")), "no date without one given");
        assert_eq!(completions(&tree()), completions(&tree()));
    }

    #[test]
    fn completions_leave_hidden_commands_out() {
        let tree = tree().arg(clap::arg!(--internal "Hidden").hide(true));
        for (shell, file) in completions(&tree) {
            let text = String::from_utf8(file.bytes).unwrap();
            assert!(text.contains("build"), "{shell}: {text}");
            assert!(!text.contains("secret") && !text.contains("internal"), "{shell}: {text}");
        }
    }
}
