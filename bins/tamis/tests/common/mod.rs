//! What the tests on real fixtures share: finding a fixture, copying it, running the binary.

#![allow(clippy::disallowed_methods, clippy::print_stderr, dead_code, unreachable_pub, reason = "test support")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The fixture `name` built by `scripts/make-rootfs-pair.sh` (under `TAMIS_FIXTURE_DIR`, or
/// `target/fixtures`). When it is missing: `None` and a line saying the test is skipped, unless
/// `TAMIS_REQUIRE_FIXTURES=1` (set by `scripts/test.sh`, hence by CI), which makes it a failure.
pub fn fixture(name: &str) -> Option<PathBuf> {
    let base = std::env::var_os("TAMIS_FIXTURE_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fixtures"), PathBuf::from);
    let pair = base.join(name);
    if pair.join("stamp").exists() {
        return Some(pair);
    }
    assert!(
        !required(),
        "{}: no fixture; build it with scripts/make-rootfs-pair.sh (see scripts/test.sh)",
        pair.display()
    );
    eprintln!("skipped: no fixture at {}", pair.display());
    None
}

/// A copy of a fixture tree that a test may change.
pub fn copy(tree: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out =
        Command::new("cp").args(["-a", "--reflink=auto"]).arg(tree).arg(dir.path().join("root")).output().unwrap();
    assert!(out.status.success(), "cp: {}", String::from_utf8_lossy(&out.stderr));
    dir
}

/// Runs the tamis binary without `SOURCE_DATE_EPOCH` from the environment.
pub fn tamis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tamis")).args(args).env_remove("SOURCE_DATE_EPOCH").output().unwrap()
}

/// Whether the run requires every fixture and tool (`TAMIS_REQUIRE_FIXTURES=1`, as in CI).
pub fn required() -> bool {
    std::env::var_os("TAMIS_REQUIRE_FIXTURES").is_some_and(|v| v == "1")
}

/// Whether every tool is installed; if not, the test says "skipped" (or fails when required,
/// as in CI, where `scripts/test.sh` installs them all).
pub fn have(tools: &[&str]) -> bool {
    let missing: Vec<&&str> = tools
        .iter()
        .filter(|t| !Command::new("sh").args(["-c", &format!("command -v {t}")]).output().unwrap().status.success())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(!required(), "missing tools {missing:?} (scripts/test.sh installs them)");
    eprintln!("skipped: missing tools {missing:?}");
    false
}
