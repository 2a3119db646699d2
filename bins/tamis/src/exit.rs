//! The exit status of every command: one table, the same meaning everywhere (`docs/ARCHITECTURE.md`,
//! *CLI conventions*). A command lists in its `--help` the codes it can return, in these words;
//! the help walk in `cli_help.rs` checks that each listed code is one of these.

/// The "Exit status:" section of a command's help: the lines of `TABLE` for `codes`.
macro_rules! exit_help {
    ($($code:tt),+ $(; $after:expr)?) => {
        concat!("Exit status:", $( "\n  ", $code, "  ", exit_text!($code) ),+ $(, "\n\n", $after)?)
    };
}

/// The words of one code of `TABLE` (a macro, so that help texts are `&'static str`).
macro_rules! exit_text {
    ("0") => {
        "done; or the answer is yes: nothing would change, identical, deterministic"
    };
    ("1") => {
        "the answer is no: something would change, different, not deterministic"
    };
    ("2") => {
        "error: bad arguments, an input that cannot be read, no epoch; nothing (more) done"
    };
    ("3") => {
        "done, but some entries could not be handled or read (listed; the run went on)"
    };
    ("129, 130, 143") => {
        "interrupted (SIGHUP, SIGINT, SIGTERM): temporaries removed"
    };
}

/// Done; or the answer to the question asked (`--check`, `diff`, `postinst-check`) is "nothing
/// would change", "identical", "deterministic".
pub const DONE: u8 = 0;
/// The answer is the other one: something would change (`--check`), the inputs differ
/// (`diff`), not deterministic (`postinst-check`). It wins over [`LEFT_ALONE`]: the answer is
/// known even when some entries could not be handled.
pub const CHANGES: u8 = 1;
/// Error: bad arguments, an input or root that cannot be read, no epoch: nothing (more) done.
pub const ERROR: u8 = 2;
/// Done, but some entries could not be handled or read: listed, the run went on without them
/// (so a `--check` or a comparison that found nothing else cannot say "nothing").
pub const LEFT_ALONE: u8 = 3;

/// The codes, with the words every `--help` uses for them.
#[cfg(test)]
pub const TABLE: &[(&str, &str)] = &[
    ("0", exit_text!("0")),
    ("1", exit_text!("1")),
    ("2", exit_text!("2")),
    ("3", exit_text!("3")),
    ("129, 130, 143", exit_text!("129, 130, 143")),
];

/// The status of a run: [`CHANGES`] when a question's answer is "something changes",
/// else [`LEFT_ALONE`] when entries were left alone, else [`DONE`].
pub fn status(changes: bool, left_alone: usize) -> u8 {
    if changes {
        CHANGES
    } else if left_alone > 0 {
        LEFT_ALONE
    } else {
        DONE
    }
}
