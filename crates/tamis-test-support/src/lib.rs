//! What tamis' tests share: where the real-rootfs fixtures are, whether the real tools are
//! installed, and the rule for a test that lacks one: it says "skipped" and passes on a
//! developer's machine, and **fails** when `TAMIS_REQUIRE_FIXTURES=1` (set by `scripts/test.sh`,
//! hence by CI, which builds every fixture and installs every tool), so that a missing fixture
//! can never turn a CI run green by skipping.
//!
//! ```
//! // A tool every machine has: the test goes on.
//! assert!(tamis_test_support::have(&["sh"]));
//! let out = tamis_test_support::sh(std::path::Path::new("."), "printf '%s' \"$TZ\"");
//! assert_eq!(out, "UTC", "scripts run with the build environment pinned");
//! ```

#![allow(
    clippy::disallowed_methods,
    clippy::print_stderr,
    clippy::missing_panics_doc,
    reason = "test support: reads the environment, says what it skipped, panics as a test fails"
)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether the run requires every fixture and tool (`TAMIS_REQUIRE_FIXTURES=1`, as in CI).
pub fn required() -> bool {
    std::env::var_os("TAMIS_REQUIRE_FIXTURES").is_some_and(|v| v == "1")
}

/// Says that a test is skipped, and why; a failure instead when the run is [`required`].
pub fn skip(why: &str) {
    assert!(!required(), "{why} (TAMIS_REQUIRE_FIXTURES=1: scripts/test.sh builds and installs everything)");
    eprintln!("skipped: {why}");
}

/// Where the fixtures are: `TAMIS_FIXTURE_DIR`, or `target/fixtures` of the workspace.
pub fn fixture_dir() -> PathBuf {
    std::env::var_os("TAMIS_FIXTURE_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fixtures"), PathBuf::from)
}

/// The fixture `name` built by `scripts/make-rootfs-pair.sh` (`rootfs-pair`, `initramfs-pair`,
/// …), complete (its `stamp` written last). When it is missing: `None` after [`skip`].
pub fn fixture(name: &str) -> Option<PathBuf> {
    let dir = fixture_dir().join(name);
    if dir.join("stamp").exists() {
        return Some(dir);
    }
    skip(&format!("no fixture at {}; build it with scripts/make-rootfs-pair.sh", dir.display()));
    None
}

/// Whether every tool is on `PATH`; if not, [`skip`] naming the missing ones.
pub fn have(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| !Command::new("sh").args(["-c", &format!("command -v {t}")]).output().unwrap().status.success())
        .collect();
    if missing.is_empty() {
        return true;
    }
    skip(&format!("missing tools {missing:?}"));
    false
}

/// Runs a bash script in `dir` with the build environment pinned (`TZ=UTC`, `LC_ALL=C`, no
/// `SOURCE_DATE_EPOCH`), `-euo pipefail`; returns its stdout, or fails the test with its stderr.
pub fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{script}\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// libfaketime where Debian's `faketime` package installs it (`/usr/lib/<triplet>/faketime`).
/// Tests check for the `faketime` tool with [`have`] first.
pub fn libfaketime() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.ok()?.path().join("faketime/libfaketime.so.1")))
        .chain([PathBuf::from("/usr/lib/faketime/libfaketime.so.1")])
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.into_iter().next().expect("libfaketime.so.1 under /usr/lib (apt-get install faketime)")
}

/// `program` with a shifted clock: libfaketime preloaded, `FAKETIME=spec` (`+3d` for an
/// offset, `2026-06-01 12:34:56` for a fixed time).
///
/// Not the `faketime` wrapper: it names a semaphore in `/dev/shm` after its PID and gives up
/// (`sem_open: File exists`) when one of that name is left over. libfaketime leaves such names
/// behind whenever the process that made them execs or dies of a signal, so on a machine that
/// has run many tests, a reused PID makes the wrapper fail at random. Preloaded directly,
/// libfaketime goes on without the shared clock when the name is taken.
///
/// The first preloaded process is bash, which runs `program` and then exits through `exit`:
/// libfaketime removes its names when the process that made them exits that way, not when it
/// execs (`env`, the last command of `sh -c`) or leaves through `_exit` (dash, python3). The
/// processes below bash share its names.
pub fn faketime(spec: &str, program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("bash");
    cmd.args(["-c", r#""$@"; exit $?"#, "bash"]).arg(program);
    cmd.env("LD_PRELOAD", libfaketime()).env("FAKETIME", spec);
    cmd
}

/// The same for a shell script: `LD_PRELOAD='…' FAKETIME='…' bash -c …`, to put before a
/// command.
pub fn faketime_prefix(spec: &str) -> String {
    format!(r#"LD_PRELOAD='{}' FAKETIME='{spec}' bash -c '"$@"; exit $?' bash"#, libfaketime().display())
}

/// A copy of a fixture tree that a test may change, as `root` in a new temporary directory.
pub fn copy(tree: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out =
        Command::new("cp").args(["-a", "--reflink=auto"]).arg(tree).arg(dir.path().join("root")).output().unwrap();
    assert!(out.status.success(), "cp: {}", String::from_utf8_lossy(&out.stderr));
    dir
}
