//! SIGINT, SIGTERM and SIGHUP: remove every temporary file this run made, then exit with the
//! conventional status, 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM). The
//! registry of temporaries is `tamis_core::temp`; this only waits for the signal.

use std::io::Write as _;

use anyhow::Result;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// Starts the thread that waits for the signals.
pub fn install() -> Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let removed = tamis_core::temp::interrupt();
            // A closed stderr must not stop the exit.
            let _ = writeln!(
                std::io::stderr().lock(),
                "tamis: interrupted by signal {signal}; {removed} temporary files removed"
            );
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}

/// Warns about temporaries named `.tamis-LABEL-…` beside `out`, left by a run of the same
/// command that was killed (they may be another run's, still at work: only named).
pub fn warn_stale_beside(out: &std::path::Path, label: &str) {
    for stale in tamis_core::temp::stale_beside(out, label) {
        warn_stale(&stale, label);
    }
}

/// Warns about one temporary file left by a killed `tamis LABEL` run.
pub fn warn_stale(stale: &std::path::Path, label: &str) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "tamis: warning: {}: temporary file left by an interrupted tamis {label} run; remove it unless another \
         tamis run is writing it",
        stale.display()
    );
}
