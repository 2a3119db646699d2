//! The help walk: every command of the clap tree, found by walking it (so a command added later
//! is walked too), is checked against the CLI conventions of `docs/ARCHITECTURE.md`: the shared
//! argument groups it takes are there, flattened (the same names, short forms, values and help
//! as the group's own definition), the groups it does not take are not imitated, its exit status
//! section uses the words of the one table, its help names only options it has, and `strip` and
//! `normalize` name every format of tamis-formats.

use clap::{Args as _, CommandFactory as _, Parser as _};

use crate::Cli;
use crate::args::{CheckArgs, EpochArgs, LimitArgs, OutputArgs, OwnerArgs, QuietArgs, ThreadsArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Epoch,
    Output,
    Threads,
    Quiet,
    Check,
    Owner,
    Limit,
}

use Group::{Check, Epoch, Limit, Output, Owner, Quiet, Threads};

const ALL_GROUPS: [Group; 7] = [Epoch, Output, Threads, Quiet, Check, Owner, Limit];

/// A command that changes files: every group of a run.
const TREE: &[Group] = &[Epoch, Output, Threads, Quiet, Check];

/// Which shared groups each command takes, by its path in the tree ("iso normalize"). Every
/// command must be here: a new one is added with the groups its kind needs (docs/ARCHITECTURE.md,
/// *CLI conventions*).
const GROUPS: &[(&str, &[Group])] = &[
    ("normalize", TREE),
    ("mtime", TREE),
    ("initramfs", &[Epoch, Output, Threads, Quiet, Check, Owner]),
    ("strip", TREE),
    ("stages", &[Output]),
    ("demo", &[]),
    ("manifest", &[Threads, Quiet]),
    ("diff", &[Output, Threads, Quiet, Limit]),
    ("iso normalize", TREE),
    ("disk normalize", TREE),
    ("iuk", &[Epoch, Output, Threads, Quiet]),
    ("iso build", &[Epoch, Output, Quiet]),
    ("iso list", &[Output]),
    ("postinst-check", &[Epoch, Output, Quiet, Limit]),
    ("squashfs", &[Epoch, Output, Threads, Quiet, Check, Owner]),
];

/// Commands that answer a question, and so exit 1 for "no" without having `--check`.
const QUESTIONS: &[&str] = &["diff", "postinst-check", "demo", "iuk"];

/// The arguments a group defines, as clap builds them.
fn group_args(group: Group) -> Vec<clap::Arg> {
    let empty = clap::Command::new("group");
    let mut command = match group {
        Epoch => EpochArgs::augment_args(empty),
        Output => OutputArgs::augment_args(empty),
        Threads => ThreadsArgs::augment_args(empty),
        Quiet => QuietArgs::augment_args(empty),
        Check => CheckArgs::augment_args(empty),
        Owner => OwnerArgs::augment_args(empty),
        Limit => LimitArgs::augment_args(empty),
    };
    command.build();
    command.get_arguments().filter(|a| a.get_id() != "help").cloned().collect()
}

/// Every command that has no subcommand, with its path ("iso list"). Hidden commands (the
/// packaging's `generate-docs`) are no user's interface: they are not walked.
fn leaves() -> Vec<(String, clap::Command)> {
    fn walk(path: &str, command: &clap::Command, out: &mut Vec<(String, clap::Command)>) {
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help" && !s.is_hide_set()) {
            let name = if path.is_empty() { sub.get_name().to_owned() } else { format!("{path} {}", sub.get_name()) };
            if sub.has_subcommands() {
                walk(&name, sub, out);
            } else {
                out.push((name, sub.clone()));
            }
        }
    }
    let mut command = Cli::command();
    command.build();
    let mut out = Vec::new();
    walk("", &command, &mut out);
    out
}

/// What must be the same for an argument to be the group's: its names, values and help.
fn shape(arg: &clap::Arg) -> String {
    format!(
        "--{:?} -{:?} aliases {:?} values {:?} takes {:?} help {:?} default {:?}",
        arg.get_long(),
        arg.get_short(),
        arg.get_all_aliases(),
        arg.get_value_names(),
        arg.get_num_args(),
        arg.get_help().map(ToString::to_string),
        arg.get_default_values()
    )
}

fn long_names(arg: &clap::Arg) -> Vec<String> {
    arg.get_long().into_iter().chain(arg.get_visible_aliases().unwrap_or_default()).map(str::to_owned).collect()
}

#[test]
fn the_tree_is_valid_for_clap() {
    // Two definitions of one option (a group flattened next to a copy of it) panic here.
    Cli::command().debug_assert();
}

#[test]
fn every_command_is_in_the_table_and_takes_its_groups() {
    let leaves = leaves();
    let names: Vec<&str> = leaves.iter().map(|(name, _)| name.as_str()).collect();
    for (name, _) in GROUPS {
        assert!(names.contains(name), "the table names {name:?}, which is no command");
    }
    for (name, command) in &leaves {
        let Some((_, groups)) = GROUPS.iter().find(|(n, _)| n == name) else {
            panic!("`tamis {name}` is missing from GROUPS in cli_help.rs: say which shared groups it takes")
        };
        let args: Vec<&clap::Arg> = command.get_arguments().collect();
        for group in ALL_GROUPS {
            for wanted in group_args(group) {
                let found = args.iter().find(|a| a.get_long() == wanted.get_long());
                if groups.contains(&group) {
                    let found =
                        found.unwrap_or_else(|| panic!("`tamis {name}` lacks --{:?} ({group:?})", wanted.get_long()));
                    assert_eq!(
                        shape(found),
                        shape(&wanted),
                        "`tamis {name}`: --{:?} is not the {group:?} group's",
                        wanted.get_long()
                    );
                } else {
                    // Not the group, so not its names either: one meaning per option.
                    for long in long_names(&wanted) {
                        let clash = args.iter().find(|a| long_names(a).contains(&long));
                        assert!(clash.is_none(), "`tamis {name}` has --{long} without the {group:?} group: flatten it");
                    }
                }
            }
        }
    }
}

/// The "Exit status:" lines of a help text.
fn exit_lines(after: &str) -> Vec<&str> {
    let start = after.find("Exit status:").map_or(after.len(), |i| i + "Exit status:".len());
    after[start..].trim_start_matches('\n').lines().take_while(|l| !l.is_empty()).collect()
}

#[test]
fn exit_status_sections_use_the_one_table_and_name_only_options_the_command_has() {
    let mut command = Cli::command();
    command.build();
    let mut all = leaves();
    all.push(("(tamis)".to_owned(), command));
    for (name, command) in &all {
        let after = command.get_after_help().map(ToString::to_string).unwrap_or_default();
        let lines = exit_lines(&after);
        assert!(!lines.is_empty(), "`tamis {name} --help` has no exit status section");
        let mut codes = Vec::new();
        for line in &lines {
            let known = crate::exit::TABLE.iter().find(|(code, text)| *line == format!("  {code}  {text}"));
            let (code, _) =
                known.unwrap_or_else(|| panic!("`tamis {name} --help`: {line:?} is not a line of exit::TABLE"));
            codes.push(*code);
        }
        assert!(codes.contains(&"0") && codes.contains(&"2"), "`tamis {name}`: exit 0 and 2 are always possible");
        let checks = command.get_arguments().any(|a| a.get_long() == Some("check"));
        let asks = checks || QUESTIONS.contains(&name.as_str()) || name == "(tamis)";
        assert_eq!(codes.contains(&"1"), asks, "`tamis {name}`: exit 1 is listed if and only if it answers a question");
        // Every --option the help speaks of is one of the command's (iso build once listed
        // --check's exit codes without having --check).
        let help = format!(
            "{}\n{after}",
            command.get_long_about().or(command.get_about()).map(ToString::to_string).unwrap_or_default()
        );
        for word in help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            let Some(long) = word.strip_prefix("--").filter(|l| !l.is_empty()) else { continue };
            let has = long == "help"
                || command
                    .get_arguments()
                    .any(|a| a.get_long() == Some(long) || long_names(a).iter().any(|n| n == long));
            assert!(has, "`tamis {name} --help` speaks of --{long}, which it does not have");
        }
    }
}

#[test]
fn strip_and_normalize_name_every_format_and_strip_accepts_each() {
    let names: Vec<&str> = tamis_formats::Format::ALL.iter().map(|f| f.name()).collect();
    let listed = names.join(", ");
    for (name, command) in leaves().iter_mut().filter(|(n, _)| n == "strip" || n == "normalize") {
        let help = command.render_long_help().to_string();
        let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&listed), "`tamis {name} --help` does not list the formats {listed}:\n{help}");
    }
    for format in names {
        let parsed = Cli::try_parse_from(["tamis", "strip", "--type", format, "x"]);
        assert!(parsed.is_ok(), "strip --type {format}: {parsed:?}");
    }
}

#[test]
fn the_old_spellings_still_parse() {
    for args in [
        &["tamis", "diff", "--list", "5", "a", "b"][..],
        &["tamis", "postinst-check", "--list", "5", "pkg"],
        &["tamis", "initramfs", "--root-owner", "initrd"],
    ] {
        let parsed = Cli::try_parse_from(args);
        assert!(parsed.is_ok(), "{args:?}: {parsed:?}");
    }
}
