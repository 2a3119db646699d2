//! `tamis generate-docs`: one man page per command of `--help`, readable by the real `man`,
//! completions the real bash completes with, and the same bytes on every run.

use std::path::Path;
use std::process::Command;

fn tamis() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tamis"))
}

fn generate(dir: &Path, epoch: &str) {
    let out = tamis().arg("generate-docs").arg(dir).env("SOURCE_DATE_EPOCH", epoch).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The subcommands `tamis --help` lists (and those of `tamis iso --help`, etc.).
fn listed_commands(path: &[&str]) -> Vec<String> {
    let out = tamis().args(path).arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let Some(list) = help.split("Commands:\n").nth(1) else { return Vec::new() };
    list.lines()
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_man_page_per_command_of_help() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "1700000000");
    let man1 = dir.path().join("man/man1");
    let mut expected = vec!["tamis".to_owned()];
    let top = listed_commands(&[]);
    assert!(top.contains(&"normalize".to_owned()), "{top:?}");
    for sub in &top {
        expected.push(format!("tamis-{sub}"));
        expected.extend(listed_commands(&[sub]).iter().map(|s| format!("tamis-{sub}-{s}")));
    }
    #[allow(clippy::disallowed_methods, reason = "the names are sorted below")]
    let mut found: Vec<String> = std::fs::read_dir(&man1)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".1").to_owned())
        .collect();
    found.sort();
    expected.sort();
    assert_eq!(found, expected, "pages and --help disagree");
    assert!(!found.iter().any(|p| p.contains("generate")), "the hidden command has no page");

    // The real man renders it, with every long option --help shows, and the epoch's date.
    let out =
        Command::new("man").arg("-l").arg(man1.join("tamis-normalize.1")).env("MANWIDTH", "200").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout).into_owned();
    let help = String::from_utf8(tamis().args(["normalize", "--help"]).output().unwrap().stdout).unwrap();
    for option in help.split_whitespace().filter(|w| w.starts_with("--")) {
        let option = option.trim_end_matches([',', '.', ')', ']']).split(['=', '<']).next().unwrap();
        assert!(page.contains(option), "{option} of --help missing from the man page:\n{page}");
    }
    assert!(page.contains("2023-11-14"), "{page}");
}

#[test]
fn generation_is_deterministic() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    generate(a.path(), "1700000000");
    generate(b.path(), "1700000000");
    let out = Command::new("diff").arg("-r").arg(a.path()).arg(b.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn bash_completes_subcommands_and_options() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "0");
    let script = dir.path().join("completions/bash/tamis");
    let complete = |words: &str| {
        let cword = words.split(' ').count() - 1;
        let code = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; \
             _tamis tamis \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = Command::new("bash").arg("-c").arg(code).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(complete("tamis nor"), "normalize\n");
    assert!(complete("tamis normalize --pro").contains("--profile"));
    assert_eq!(complete("tamis gen"), "\n", "the hidden command is not offered");
}
