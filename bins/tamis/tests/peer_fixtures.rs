//! strip-nondeterminism's own fixture suite through `tamis strip --set`, at the suite's
//! canonical time: every output equals the suite's expected output except the fixtures
//! `docs/formats.md` lists as deliberate differences, and every file strip-nondeterminism
//! leaves as it is (an expected output equal to its input, or a file of `t/failures/`) comes
//! out byte for byte as it went in.
//!
//! The suite is the unpacked Debian source package (`scripts/test.sh` fetches it with `apt-get
//! source` into `target/peer-suite/strip-nondeterminism`, or `TAMIS_PEER_SUITE=DIR`). Without it
//! the test says "skipped", unless `TAMIS_REQUIRE_PEER_SUITE=1`.

#![allow(clippy::disallowed_methods, clippy::print_stderr, reason = "a test finds its suite and says what it skipped")]

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use common::tamis;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The unpacked source tree, or `None` (and a line saying so) when it is not there.
fn suite() -> Option<PathBuf> {
    let dir = std::env::var_os("TAMIS_PEER_SUITE")
        .map_or_else(|| workspace().join("target/peer-suite/strip-nondeterminism"), PathBuf::from);
    if dir.join("t/fixtures.t").is_file() {
        return Some(dir);
    }
    let required = std::env::var_os("TAMIS_REQUIRE_PEER_SUITE").is_some_and(|v| v == "1");
    assert!(!required, "{}: no strip-nondeterminism source tree (scripts/test.sh fetches it)", dir.display());
    eprintln!("skipped: no strip-nondeterminism source tree at {}", dir.display());
    None
}

/// The canonical time the suite's own test script sets (`$…::canonical_time = N;`).
fn canonical_time(suite: &Path) -> String {
    let script = fs::read_to_string(suite.join("t/fixtures.t")).unwrap();
    let line = script
        .lines()
        .find(|l| l.contains("canonical_time =") && !l.trim_start().starts_with('#'))
        .expect("t/fixtures.t sets a canonical time");
    let value = line.split('=').nth(1).unwrap().trim().trim_end_matches(';').trim();
    assert!(!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()), "{line}");
    value.to_owned()
}

/// The fixtures `docs/formats.md` documents as deliberate differences: the first column of the
/// table in its section on strip-nondeterminism's fixture suite.
fn documented() -> BTreeSet<String> {
    let doc = fs::read_to_string(workspace().join("docs/formats.md")).unwrap();
    let section = doc.split("\n## strip-nondeterminism's own fixture suite").nth(1).expect("the section exists");
    let section = section.split("\n## ").next().unwrap();
    let listed: BTreeSet<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect();
    assert!(!listed.is_empty(), "no fixture listed in docs/formats.md");
    listed
}

/// Files of `dir` matching `*/*` (one level of subdirectories), sorted.
fn two_levels(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(groups) = fs::read_dir(dir) else { return files };
    for group in groups {
        let group = group.unwrap().path();
        if group.is_dir() {
            files.extend(fs::read_dir(&group).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()));
        }
    }
    files.sort();
    files
}

/// Runs `tamis strip --set --epoch T` on a copy of `input` named `name` in a fresh directory;
/// returns the copy's bytes after it, or why tamis failed.
fn strip_copy(input: &Path, name: &str, time: &str) -> Result<Vec<u8>, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    fs::copy(input, &file).unwrap();
    let before = fs::symlink_metadata(&file).unwrap();
    let out = tamis(&["strip", "--set", "--epoch", time, "--quiet", file.to_str().unwrap()]);
    // 3: the file was reported and left alone (an encrypted zip); 2 would be an error.
    if !matches!(out.status.code(), Some(0 | 3)) {
        return Err(format!("exit {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr)));
    }
    let after = fs::symlink_metadata(&file).unwrap();
    if (before.mode(), before.uid(), before.gid(), before.nlink())
        != (after.mode(), after.uid(), after.gid(), after.nlink())
    {
        return Err(format!("mode, owner or link count changed: {:o} -> {:o}", before.mode(), after.mode()));
    }
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    if left.len() != 1 {
        return Err(format!("files left beside it: {left:?}"));
    }
    Ok(fs::read(&file).unwrap())
}

#[test]
fn strip_nondeterminism_fixtures_give_its_expected_outputs() {
    let Some(suite) = suite() else { return };
    let time = canonical_time(&suite);
    let documented = documented();
    let fixtures: Vec<PathBuf> = two_levels(&suite.join("t/fixtures"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "in"))
        .collect();
    assert!(fixtures.len() >= 10, "only {} fixtures in {}", fixtures.len(), suite.display());

    let mut failures = Vec::new();
    let mut matched_documented = Vec::new();
    for input in &fixtures {
        let group = input.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
        let name = input.file_stem().unwrap().to_string_lossy().into_owned();
        let id = format!("{group}/{name}");
        let expected = fs::read(input.with_extension("out")).unwrap();
        let original = fs::read(input).unwrap();
        let got = match strip_copy(input, &name, &time) {
            Ok(got) => got,
            Err(why) => {
                failures.push(format!("{id}: {why}"));
                continue;
            }
        };
        if expected == original && got != original {
            failures.push(format!("{id}: strip-nondeterminism leaves it as it is, tamis rewrote it"));
        } else if got == expected {
            if documented.contains(&id) {
                matched_documented.push(id);
            }
        } else if !documented.contains(&id) {
            let same_as_input = if got == original { " (tamis left it as it was)" } else { "" };
            failures.push(format!("{id}: tamis' output differs from the expected output{same_as_input}"));
        }
    }
    // What strip-nondeterminism refuses, tamis leaves as it is too.
    for input in two_levels(&suite.join("t/failures")) {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let id = format!("failures/{}/{name}", input.parent().unwrap().file_name().unwrap().to_string_lossy());
        match strip_copy(&input, &name, &time) {
            Ok(got) if got == fs::read(&input).unwrap() => {}
            Ok(_) => failures.push(format!("{id}: strip-nondeterminism refuses it, tamis rewrote it")),
            Err(why) => failures.push(format!("{id}: {why}")),
        }
    }
    for id in matched_documented {
        failures.push(format!("{id}: listed in docs/formats.md as a difference, but tamis now matches: remove it"));
    }
    assert!(failures.is_empty(), "{} of {} fixtures:\n{}", failures.len(), fixtures.len(), failures.join("\n"));
}
