//! What the tests of the binary share: the fixture and tool logic of `tamis-test-support`, and
//! running the binary.

#![allow(
    clippy::disallowed_methods,
    clippy::print_stderr,
    dead_code,
    unused_imports,
    unreachable_pub,
    reason = "test support: each test uses a part"
)]

use std::process::{Command, Output};

pub use tamis_test_support::{copy, faketime, faketime_prefix, fixture, have, required, sh, skip};

/// The tamis binary, without `SOURCE_DATE_EPOCH` from the environment.
pub fn tamis_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tamis"));
    command.env_remove("SOURCE_DATE_EPOCH");
    command
}

/// Runs the tamis binary without `SOURCE_DATE_EPOCH` from the environment.
pub fn tamis(args: &[&str]) -> Output {
    tamis_command().args(args).output().unwrap()
}

/// Runs `cmd` (a real tool, or tamis) and fails the test, with its output, unless it succeeds.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}
